"""The TLS benchmark's tools build and run a tiny round (bench/reftls.c,
bench/tlsload.c, bench/tls): the load generator completes its handshakes
against the bare OpenSSL server and against flypaper's TLS front (whose
database then holds every session with its tls_version), fails them
against a plain listener, holds handshaken sessions idle (the bare server
too, in its hold mode), and bench/tls --quick prints its figures. Nothing about speed is asserted."""
import os
import re
import signal
import subprocess
import time

from conftest import ROOT, query

BENCH = os.path.join(ROOT, "build", "bench")


def build():
    subprocess.run(["make", "-s", "-C", ROOT, "build/bench/reftls", "build/bench/tlsload",
                    "build/bench/loadgen"], check=True, timeout=300)


def make_cert(tmp_path):
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=test"], check=True, capture_output=True)
    return cert, key


def tlsload(*args):
    r = subprocess.run([os.path.join(BENCH, "tlsload"), *map(str, args)],
                       capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr
    m = re.search(r"ok=(\d+) failed=(\d+) seconds=[\d.]+ hps=\d+ version=(\S+) cipher=(\S+)",
                  r.stdout)
    assert m, r.stdout
    return int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)


def test_tlsload_against_the_bare_server(tmp_path):
    build()
    cert, key = make_cert(tmp_path)
    ref = subprocess.Popen([os.path.join(BENCH, "reftls"), "0", cert, key, "4", "0"],
                           stdout=subprocess.PIPE, text=True)
    try:
        port = int(ref.stdout.readline().split("=")[1])
        assert tlsload("run", "127.0.0.1", port, 40, 8, 60) == (40, 0, "TLSv1.3",
                                                                "TLS_AES_256_GCM_SHA384")
        ok, failed, ver, cipher = tlsload("run", "127.0.0.1", port, 20, 4, 60, "--max", "1.2",
                                          "--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256")
        assert (ok, failed, ver, cipher) == (20, 0, "TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256")
    finally:
        ref.send_signal(signal.SIGTERM)
        out = ref.communicate(timeout=30)[0]
    assert "handshakes=60 failed=0" in out, out
    # hold mode keeps the handshaken sessions open until the server exits
    ref = subprocess.Popen([os.path.join(BENCH, "reftls"), "0", cert, key, "2", "0", "hold"],
                           stdout=subprocess.PIPE, text=True)
    try:
        port = int(ref.stdout.readline().split("=")[1])
        hold = subprocess.Popen([os.path.join(BENCH, "tlsload"), "hold", "127.0.0.1",
                                 str(port), "5", "60"], stdout=subprocess.PIPE, text=True)
        assert hold.stdout.readline() == "open=5\n"
        time.sleep(1)                 # the server's side of the last handshake
    finally:
        ref.send_signal(signal.SIGTERM)
        out = ref.communicate(timeout=30)[0]
    assert hold.wait(30) == 0 and hold.stdout.read() == "held=0\n"
    assert "handshakes=5 failed=0" in out, out
    # a bad argument is refused, and a host off loopback too
    r = subprocess.run([os.path.join(BENCH, "tlsload"), "run", "192.0.2.1", "1", "1", "1", "1"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "127.0.0.0/8" in r.stderr


def test_tlsload_against_flypaper(daemons, tmp_path):
    build()
    cert, key = make_cert(tmp_path)
    d = daemons(listen=("127.0.0.1:0", "127.0.0.1:0"),
                args=["--tls", "--tls-cert", cert, "--tls-key", key])
    plain = daemons(db=str(tmp_path / "plain.db"))
    assert tlsload("run", "127.0.0.1", d.port, 30, 6, 60, "--sni", "bench.example")[:3] == \
        (30, 0, "TLSv1.3")
    # held: every handshake done, then idle until the daemon stops
    hold = subprocess.Popen([os.path.join(BENCH, "tlsload"), "hold", "127.0.0.1", str(d.ports[1]),
                             "12", "60"], stdout=subprocess.PIPE, text=True)
    assert hold.stdout.readline() == "open=12\n"
    d.wait_sessions(30)
    assert d.stop() == 0
    assert hold.wait(30) == 0 and hold.stdout.read() == "held=0\n"   # the daemon closed them
    rows = query(d.db, "SELECT tls_version, tls_error, close_reason FROM sessions")
    assert len(rows) == 42, rows
    assert all(v == "TLSv1.3" and e is None for v, e, _ in rows), rows
    assert sum(r == "shutdown" for _, _, r in rows) == 12, rows
    # a plain listener: no handshake completes, each is counted failed
    assert tlsload("run", "127.0.0.1", plain.port, 5, 5, 30)[:2] == (0, 5)


def test_bench_tls_quick_prints_its_figures():
    build()
    subprocess.run(["make", "-s", "-C", ROOT, "all"], check=True, timeout=600)
    r = subprocess.run([os.path.join(ROOT, "bench", "tls"), "--quick", "--key", "ec"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    for version in ("TLS 1.3", "TLS 1.2"):
        block = out.split(f"   {version}:\n", 1)[1]
        assert re.match(r"     bare OpenSSL \(\d+ threads\) +\d+ hps  ratio  1.00", block), out
        assert re.search(r"\n     flypaper --tls \(\d+ workers\) +\d+ hps  ratio +\d+\.\d\d", block)
    assert "verified: 1000 flypaper sessions, each with its tls_version" in out, out
    assert re.search(r"flypaper --tls, handshaken +400 open \(\d+ established\)  RSS \d+ -> \d+ KiB over the second 200: +-?\d+ bytes "
                     r"per session", out), out
    assert "400 held sessions recorded as 'shutdown' with their tls_version" in out, out
    assert re.search(r"bare OpenSSL, handshaken +400 open \(\d+ established\)  RSS", out), out
