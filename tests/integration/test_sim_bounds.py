"""Every sim scenario stops at its --duration, whatever the target does:
a flypaper whose IDENT rate limit skips the source, a peer that never
reads, a listener whose accept queue is full."""
import socket
import subprocess
import time

from conftest import FLYPAPER

BOUND = 30           # seconds: far above --duration 3s, far below "never"


def sim_within_bound(scenario, port, *args):
    """Runs sim with --duration 3s; fails the test if it is still running
    BOUND seconds later. Returns (seconds taken, key=value output)."""
    t0 = time.monotonic()
    try:
        r = subprocess.run([FLYPAPER, "sim", scenario, "--target", f"127.0.0.1:{port}",
                            "--duration", "3s", *args],
                           capture_output=True, text=True, timeout=BOUND)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"sim {scenario} --duration 3s still ran after {BOUND} s")
    took = time.monotonic() - t0
    assert r.returncode in (0, 1), r.stderr
    return took, dict(kv.split("=", 1) for kv in r.stdout.split() if "=" in kv)


def test_ident_shy_skipped_by_the_ident_rate_limit_stops_at_duration(daemons):
    # One probe per source per hour: the first run is probed, every later
    # run from the same source is skipped and waits out its --hold.
    d = daemons(args=["--ident", "always", "--ident-port", "11310",
                      "--ident-interval", "1h", "--idle-timeout", "60s"])
    took, out = sim_within_bound("ident-shy", d.port, "--ident-port", "11310",
                                 "--bind-range", "127.0.69.1-127.0.69.1")
    assert out["dropped_on_ident"] == "1", out
    took, out = sim_within_bound("ident-shy", d.port, "--ident-port", "11310",
                                 "--hold", "10m", "--count", "5",
                                 "--bind-range", "127.0.69.1-127.0.69.1")
    assert out["dropped_on_ident"] == "0", out
    assert 2.5 < took < 10, took
    assert d.stop() == 0


def test_flood_into_a_peer_that_never_reads_stops_at_duration():
    # Loopback buffers hold a few MB: 64M blocks in send for ever unless
    # the socket's own timeout ends it at the run's deadline.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    try:
        port = srv.getsockname()[1]
        took, out = sim_within_bound("flood", port, "--payload-size", "64M",
                                     "--concurrency", "2")
        assert took < 10, took
        assert int(out["bytes_out"]) < 64 * 1024 * 1024, out
    finally:
        srv.close()


def test_connect_to_a_full_accept_queue_stops_at_duration():
    # A listener that never accepts: once its queue is full the kernel
    # drops further SYNs and a blocking connect retries for minutes.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            fillers.append(c)
        time.sleep(0.2)
        took, out = sim_within_bound("silent", port, "--hold", "10m")
        assert took < 10, took
    finally:
        for c in fillers:
            c.close()
        srv.close()
