"""flypaper inetd under real super-servers: Debian's openbsd-inetd, and
systemd's Accept=yes model through systemd-socket-activate."""
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

from conftest import (FLYPAPER, connect, free_port, payload_of, read_until_close,
                      send_and_close, session_rows, wait_for)

INETD = "/usr/sbin/inetd"



@pytest.fixture
def inetd(tmp_path):
    """Starts openbsd-inetd in the foreground with a flypaper line. -E keeps
    the environment, so sanitizer options reach the children."""
    assert os.path.exists(INETD), "openbsd-inetd is needed"
    procs = []

    def start(*flypaper_args, db=None):
        port = free_port()
        db = db or str(tmp_path / "inetd.db")
        conf = tmp_path / f"inetd-{port}.conf"
        args = " ".join(["flypaper", "inetd", "--db", db, *flypaper_args])
        conf.write_text(f"127.0.0.1:{port} stream tcp nowait.2000 root {FLYPAPER} {args}\n")
        log = open(tmp_path / f"inetd-{port}.log", "wb")
        p = subprocess.Popen([INETD, "-d", "-E", "-R", "100000", str(conf)],
                             stdout=log, stderr=subprocess.STDOUT)
        procs.append((p, log))
        wait_for(lambda: listening(port), what="inetd to listen")
        return port, db

    yield start
    for p, log in procs:
        p.send_signal(signal.SIGTERM)
        p.wait(10)
        log.close()


def listening(port):
    """True once a socket listens on 127.0.0.1:port. Probing with a
    connection would itself become a session, so read /proc instead."""
    with open("/proc/net/tcp") as f:
        return any(line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A"
                   for line in f.readlines()[1:])


def test_each_connection_is_recorded_byte_exact(inetd):
    port, db = inetd("--idle-timeout", "2s")
    payloads = [os.urandom(100 + i * 37) + b"\x00" for i in range(10)]
    for data in payloads:
        send_and_close(port, data)
    rows = wait_for(lambda: (lambda r: r if len(r) >= 10 else None)(session_rows(db)),
                    what="10 inetd sessions")
    assert {r["mode"] for r in rows} == {"inetd"}
    assert {r["close_reason"] for r in rows} == {"peer_fin"}
    assert sorted(payload_of(db, r["payload_sha256"]) for r in rows) == sorted(payloads)
    assert len({r["session"] for r in rows}) == 10
    assert all(r["dst_port"] == port and r["src_ip"] == "127.0.0.1" for r in rows)


def test_many_children_and_a_daemon_share_one_database(inetd, daemons):
    port, db = inetd("--idle-timeout", "5s")
    d = daemons(db=db)
    errors = []

    def client(k):
        try:
            for i in range(4):
                send_and_close(port, f"inetd {k} {i}".encode())
                send_and_close(d.port, f"serve {k} {i}".encode())
        except OSError as e:
            errors.append(e)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    rows = wait_for(lambda: (lambda r: r if len(r) >= 128 else None)(session_rows(db)),
                    timeout=60, what="128 sessions")
    got = {payload_of(db, r["payload_sha256"]) for r in rows}
    want = {f"{m} {k} {i}".encode() for m in ("inetd", "serve")
            for k in range(16) for i in range(4)}
    assert got == want
    modes = [r["mode"] for r in rows]
    assert modes.count("inetd") == 64 and modes.count("serve") == 64


def test_silent_peer_times_out_and_goaway_is_sent(inetd):
    port, db = inetd("--idle-timeout", "300ms", "--on-timeout", "goaway",
                     "--goaway-text", "nothing_here\\r\\n")   # inetd.conf splits on spaces
    s = connect(port)
    got = read_until_close(s)
    s.close()
    assert got == b"nothing_here\r\n"
    (row,) = wait_for(lambda: session_rows(db), what="the session")
    assert row["close_reason"] == "idle_timeout"
    assert row["first_byte_ms"] is None and row["bytes_out"] == len(got)


def test_an_error_never_leaks_to_the_peer(inetd, tmp_path):
    # a database path that cannot be opened: the child fails, and the peer
    # must see a plain close, not an error message on its socket
    port, _ = inetd(db="/nonexistent-dir/x.db")
    s = connect(port)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    try:
        got = s.recv(100)
    except ConnectionResetError:     # exited with our request unread
        got = b""
    s.close()
    assert got == b""


def test_not_a_socket_is_a_clear_error():
    r = subprocess.run([FLYPAPER, "inetd", "--db", "/tmp/unused.db"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
    assert r.returncode == 2
    assert "standard input is not a connected TCP socket" in r.stderr


def test_systemd_accept_yes_model(tmp_path):
    tool = shutil.which("systemd-socket-activate")
    assert tool, "systemd-socket-activate is needed (package systemd)"
    port = free_port()
    db = str(tmp_path / "accept.db")
    log = open(tmp_path / "sa.log", "wb")
    p = subprocess.Popen([tool, "-l", f"127.0.0.1:{port}", "--accept", "--inetd",
                          "-E", "ASAN_OPTIONS", "-E", "UBSAN_OPTIONS",
                          FLYPAPER, "inetd", "--db", db],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: listening(port), what="systemd-socket-activate")
        for i in range(3):
            send_and_close(port, f"accept=yes {i}".encode())
        rows = wait_for(lambda: (lambda r: r if len(r) >= 3 else None)(session_rows(db)),
                        what="3 sessions")
        assert sorted(payload_of(db, r["payload_sha256"]) for r in rows) == \
            [f"accept=yes {i}".encode() for i in range(3)]
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)
        log.close()


def test_sigterm_to_a_child_records_its_session_as_shutdown(inetd):
    port, db = inetd("--idle-timeout", "10m")
    s = connect(port)
    s.sendall(b"partial request")

    def child():
        out = subprocess.run(["pgrep", "-f", f"flypaper inetd --db {db}"],
                             capture_output=True, text=True).stdout.split()
        return out[0] if out else None

    pid = wait_for(child, what="the inetd child")
    time.sleep(0.3)                     # let it read what was sent
    os.kill(int(pid), signal.SIGTERM)
    assert read_until_close(s) == b""
    s.close()
    (row,) = wait_for(lambda: session_rows(db), what="the session")
    assert row["close_reason"] == "shutdown"
    assert payload_of(db, row["payload_sha256"]) == b"partial request"
