"""Libraries loaded on demand: libpcap (like libyara) is not linked but
loaded with dlopen, and only by what captures or reads packets (serve with
--half-open or --pcap, the pcap command). A serve without them never maps
it; one with them does; when the library cannot be loaded, start-up exits 2
naming the package. Root is needed (CI runs as root): the capture needs
CAP_NET_RAW, and the broken library is an empty file bind-mounted over the
real one in a private mount namespace (unshare -m)."""
import os
import shutil
import subprocess

import pytest

from conftest import FLYPAPER, SANITIZER_MARKS

LIBPCAP = "/usr/lib/x86_64-linux-gnu/libpcap.so.0.8"


def mapped(pid):
    """The file names of the libraries the process has mapped."""
    with open(f"/proc/{pid}/maps") as f:
        return {os.path.basename(line.split()[-1]).split(".so")[0]
                for line in f if ".so" in line}


def test_serve_maps_libpcap_only_for_a_capture(daemons, tmp_path):
    assert os.geteuid() == 0, "this test needs root, as CI runs it"
    plain = daemons(args=("--rules", "none"))
    maps = mapped(plain.proc.pid)
    for lib in ("libpcap", "libdbus", "libsystemd"):
        assert not any(m.startswith(lib) for m in maps), f"{lib} mapped without a capture: {maps}"
    capture = daemons(args=("--rules", "none", "--half-open"), db=str(tmp_path / "c.db"))
    assert "libpcap" in mapped(capture.proc.pid)
    assert "libuv" in maps, maps


@pytest.mark.parametrize("command", [
    ("serve", "--listen", "127.0.0.1:0", "--rules", "none", "--half-open"),
    ("serve", "--listen", "127.0.0.1:0", "--rules", "none", "--pcap", "{dir}/trace"),
    ("pcap", "--pcap", "{dir}/trace", "-o", "{dir}/out.pcap", "0123456789abcdef"),
])
def test_libpcap_that_cannot_load_is_a_start_up_error_naming_the_package(tmp_path, command):
    assert os.geteuid() == 0, "this test needs root, as CI runs it"
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) is needed"
    real = os.path.realpath(LIBPCAP)
    assert os.path.exists(real), f"{LIBPCAP}: libpcap0.8 is needed"
    # An empty file of root's, in a folder of root's: it passes the
    # ownership check and dlopen itself refuses it.
    empty = "/run/flypaper-test-libpcap-empty"
    open(empty, "w").close()
    os.makedirs(tmp_path / "trace", mode=0o700, exist_ok=True)
    args = [a.replace("{dir}", str(tmp_path)) for a in command]
    try:
        r = subprocess.run([unshare, "-m", "--", "sh", "-c",
                            'mount --bind "$0" "$1" && shift && exec "$@"', empty, real,
                            FLYPAPER, args[0], "--db", str(tmp_path / "f.db"), *args[1:]],
                           capture_output=True, text=True, timeout=30)
    finally:
        os.unlink(empty)
    for mark in SANITIZER_MARKS:
        assert mark not in r.stderr
    assert r.returncode == 2, r.stderr
    assert "cannot load libpcap" in r.stderr and "install libpcap0.8" in r.stderr, r.stderr
