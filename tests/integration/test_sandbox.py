"""Confinement after start-up (seccomp allow-list, Landlock) in serve and
inetd, and the hardening of the systemd units in etc/systemd."""
import glob
import os
import re
import shutil
import signal
import socket
import subprocess

from conftest import FLYPAPER, ROOT, payload_of, send_and_close, session_rows, wait_for

SELFTEST = "FLYPAPER_SANDBOX_SELFTEST"      # hidden switch: make a forbidden call
FORBIDDEN = re.compile(r"flypaper\[\d+\]: error: sandbox: forbidden system call \d+, killed")


def test_serve_logs_its_confinement(daemons, tmp_path):
    (tmp_path / "j").mkdir()
    d = daemons(args=("--jsonl", str(tmp_path / "j" / "events.jsonl")))
    assert re.search(r"sandbox: seccomp allow-list and landlock ABI \d+: writes only in "
                     + re.escape(str(tmp_path)), d.text()), d.text()
    send_and_close(d.port, b"still recorded under the sandbox")
    rows = d.wait_sessions(1)
    assert payload_of(d.db, rows[0]["payload_sha256"]) == b"still recorded under the sandbox"


def test_no_core_files_whatever_the_limit_was(daemons):
    """A core file would hold what peers sent (and SIGSYS dumps core)."""
    d = daemons(prefix=["prlimit", "--core=unlimited:unlimited"])
    limits = open(f"/proc/{d.proc.pid}/limits").read()
    assert re.search(r"^Max core file size\s+0\s+0\s", limits, re.M), limits


def test_serve_killed_with_a_clear_line_on_a_forbidden_call(daemons):
    env = dict(os.environ, **{SELFTEST: "syscall"})
    d = daemons(env=env, check_ready=False)
    rc = d.proc.wait(timeout=30)
    assert rc == -signal.SIGSYS, d.text()
    assert FORBIDDEN.search(d.text()), d.text()
    assert "ready:" not in d.text()    # killed before any worker started


def run_inetd(tmp_path, env, timeout=30, args=()):
    """Runs `flypaper inetd` on one accepted loopback connection; stderr is a
    file, so the child logs there instead of syslog."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    cli = socket.create_connection(lst.getsockname(), timeout=10)
    srv, _ = lst.accept()
    lst.close()
    db = str(tmp_path / "inetd.db")
    log = tmp_path / "inetd.log"
    with open(log, "wb") as err:
        p = subprocess.Popen([FLYPAPER, "inetd", "--db", db, "--idle-timeout", "1s", *args],
                             stdin=srv, stdout=subprocess.DEVNULL, stderr=err, env=env)
    srv.close()
    cli.sendall(b"inetd child under the sandbox")
    cli.shutdown(socket.SHUT_WR)
    rc = p.wait(timeout=timeout)
    cli.close()
    return rc, log.read_text(errors="replace"), db


def test_inetd_child_confined_and_killed_on_a_forbidden_call(tmp_path):
    rc, text, db = run_inetd(tmp_path, dict(os.environ, **{SELFTEST: "syscall"}))
    assert rc == -signal.SIGSYS, text
    assert FORBIDDEN.search(text), text
    assert session_rows(db) == []      # died before reading a byte


def test_inetd_child_records_under_the_sandbox(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != SELFTEST}
    rc, text, db = run_inetd(tmp_path, env)
    assert rc == 0, text
    assert "sandbox: seccomp allow-list and landlock ABI" in text, text
    rows = wait_for(lambda: session_rows(db), what="the inetd session")
    assert payload_of(db, rows[0]["payload_sha256"]) == b"inetd child under the sandbox"


def test_inetd_child_names_the_real_limit_on_rule_paths(tmp_path):
    # An inetd child compiles its rules once confined, so each rule path is
    # granted: ten fit beside the fixed entries, an eleventh is refused at
    # start-up with the limit it broke.
    env = {k: v for k, v in os.environ.items() if k != SELFTEST}
    paths = []
    for i in range(11):
        f = tmp_path / f"r{i}.yar"
        f.write_text(f'rule r{i} : t {{ strings: $a = "never-{i}" condition: $a }}\n')
        paths.append(str(f))
    for run in ("ten", "eleven"):
        (tmp_path / run).mkdir()
    rc, text, _ = run_inetd(tmp_path / "ten", env, args=("--rules", ":".join(paths[:10])))
    assert rc == 0, text
    rc, text, _ = run_inetd(tmp_path / "eleven", env, args=("--rules", ":".join(paths)))
    assert rc == 2 and "sandbox: more than 10 rule paths" in text, text


def test_systemd_units_score_2_or_lower():
    """systemd-analyze's exposure score of every unit we ship: 2.0 at most
    (systemd-timesyncd scores 2.3)."""
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze is needed (package systemd)"
    units = sorted(glob.glob(os.path.join(ROOT, "etc", "systemd", "*.service")))
    assert len(units) == 2, units
    for unit in units:
        r = subprocess.run([tool, "security", "--offline=yes", "--threshold=20", unit],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d)", r.stdout)
        assert m, r.stdout + r.stderr
        assert float(m.group(1)) <= 2.0, f"{unit}: {m.group(1)}\n{r.stdout}"
        assert r.returncode == 0, r.stdout + r.stderr
        # flypaper's own confinement must survive the unit's filter
        text = open(unit).read()
        for call in ("seccomp", "landlock_create_ruleset", "landlock_add_rule",
                     "landlock_restrict_self"):
            assert re.search(rf"^SystemCallFilter=[^~].*\b{call}\b", text, re.M), \
                f"{unit}: {call} not allowed"


SYSLOG_CHILD = r"""
import os, socket, subprocess, sys
# in a private mount namespace: a fresh /dev with a /dev/log we read
subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/dev"], check=True)
os.mknod("/dev/null", 0o20666, os.makedev(1, 3))
os.mknod("/dev/urandom", 0o20666, os.makedev(1, 9))
log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
log.bind("/dev/log")
log.settimeout(20)
lst = socket.socket()
lst.bind(("127.0.0.1", 0))
lst.listen(1)
cli = socket.create_connection(lst.getsockname(), timeout=10)
srv, _ = lst.accept()
# as inetd does: the connection is stdin, stdout and stderr
p = subprocess.Popen([sys.argv[1], "inetd", "--db", sys.argv[2]],
                     stdin=srv, stdout=srv, stderr=srv)
srv.close()
rc = p.wait(timeout=30)
lines = []
try:
    while True:
        lines.append(log.recv(4096).decode(errors="replace"))
        log.settimeout(0.5)
except socket.timeout:
    pass
cli.settimeout(2)
leaked = cli.recv(4096)
print("rc", rc)
print("leaked", leaked)
print("\n".join(lines))
"""


def test_inetd_child_on_a_socket_reports_to_syslog(tmp_path):
    """An inetd child's stderr is the peer: the SIGSYS line goes to syslog,
    never to the peer."""
    unshare = shutil.which("unshare")
    assert unshare, "unshare is needed (package util-linux)"
    env = dict(os.environ, **{SELFTEST: "syscall"})
    r = subprocess.run([unshare, "-m", "--propagation", "private", "/usr/bin/python3",
                        "-c", SYSLOG_CHILD, FLYPAPER, str(tmp_path / "s.db")],
                       capture_output=True, text=True, timeout=60, env=env)
    assert f"rc {-signal.SIGSYS}" in r.stdout, r.stdout + r.stderr
    assert "leaked b''" in r.stdout, r.stdout
    assert re.search(r"<27>flypaper\[\d+\]: error: sandbox: forbidden system call \d+, killed",
                     r.stdout), r.stdout


def test_daemon_does_not_load_libseccomp():
    """The allow-list is raw BPF generated at build time (tools/sandbox_gen.c):
    an inetd child neither loads libseccomp nor builds a filter."""
    r = subprocess.run(["readelf", "-d", FLYPAPER], capture_output=True, text=True,
                       timeout=30, check=True)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout)
    assert needed, r.stdout
    assert not [lib for lib in needed if "seccomp" in lib], needed
