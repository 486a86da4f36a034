"""Signals, JSON lines, configuration errors, socket activation, privilege
dropping, and the bounded-resource paths (fd limit, locked database, full
disk)."""
import base64
import contextlib
import hashlib
import json
import os
import pathlib
import pwd
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time

import pytest

from conftest import (FLYPAPER, connect, payload_of, query, send_and_close,
                      session_rows, wait_for)


def test_sigterm_closes_open_sessions_and_loses_nothing(daemons):
    d = daemons(args=["--idle-timeout", "10m"])
    for i in range(30):
        send_and_close(d.port, f"done {i}".encode())
    held = [connect(d.port) for _ in range(40)]
    for i, s in enumerate(held[:20]):
        s.sendall(f"partial {i}".encode())
    time.sleep(0.3)
    assert d.stop() == 0
    rows = session_rows(d.db)
    assert len(rows) == 70
    reasons = [r["close_reason"] for r in rows]
    assert reasons.count("shutdown") == 40 and reasons.count("peer_fin") == 30
    partial = {payload_of(d.db, r["payload_sha256"]) for r in rows
               if r["close_reason"] == "shutdown" and r["payload_sha256"]}
    assert partial == {f"partial {i}".encode() for i in range(20)}
    for s in held:
        assert s.recv(10) == b""
        s.close()
    assert "70 sessions recorded" in d.text()
    assert query(d.db, "SELECT sessions, records_lost FROM runs") == [(70, 0)]


def test_sigint_also_stops_cleanly(daemons):
    d = daemons()
    send_and_close(d.port, b"x")
    assert d.stop(signal.SIGINT) == 0
    assert len(session_rows(d.db)) == 1


def read_events(path):
    with open(path, "rb") as f:
        return [json.loads(line) for line in f.read().splitlines()]


def test_json_lines_events_have_stable_types(daemons, tmp_path):
    jl = tmp_path / "events.jsonl"
    d = daemons(args=["--jsonl", str(jl), "--sensor", "lab-1"])
    data = b"\x00\x01binary\xff" * 10
    send_and_close(d.port, data)
    s = connect(d.port)
    s.close()
    d.wait_sessions(2)
    # With the default rules the payload's verdict follows its closed event.
    events = wait_for(lambda: (lambda e: e if len(e) >= 5 else None)(read_events(jl)),
                      what="5 events")
    by_id = {}
    for e in events:
        by_id.setdefault(e["session"], []).append(e["eventid"])
        for field, kind in [("eventid", str), ("timestamp", str), ("sensor", str),
                            ("session", str), ("src_ip", str), ("src_port", int),
                            ("dst_ip", str), ("dst_port", int)]:
            assert isinstance(e[field], kind), (field, e)
        assert e["sensor"] == "lab-1"
    assert sorted(by_id.values()) == [
        ["flypaper.session.connect", "flypaper.session.closed"],
        ["flypaper.session.connect", "flypaper.session.closed", "flypaper.session.classified"]]
    closed = [e for e in events if e["eventid"] == "flypaper.session.closed"]
    for e in closed:
        for field, kind in [("bytes_in", int), ("bytes_out", int), ("duration_ms", int),
                            ("truncated", bool), ("payload", str),
                            ("close_reason", str), ("payload_sha256", str)]:
            assert isinstance(e[field], kind), (field, e)
    with_data = [e for e in closed if e["bytes_in"]][0]
    assert base64.b64decode(with_data["payload"]) == data
    assert with_data["payload_sha256"] == hashlib.sha256(data).hexdigest()
    empty = [e for e in closed if not e["bytes_in"]][0]
    assert empty["first_byte_ms"] is None and empty["payload"] == ""


def test_sighup_reopens_the_json_lines_file(daemons, tmp_path):
    jl = tmp_path / "events.jsonl"
    d = daemons(args=["--jsonl", str(jl)])
    send_and_close(d.port, b"before rotation")
    wait_for(lambda: len(read_events(jl)) >= 2, what="first events")
    os.rename(jl, tmp_path / "events.jsonl.1")
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "jsonl: reopened" in d.text(), what="the reopen")
    send_and_close(d.port, b"after rotation")
    wait_for(lambda: jl.exists() and len(read_events(jl)) >= 2, what="new file events")
    old = read_events(tmp_path / "events.jsonl.1")
    new = read_events(jl)
    assert [base64.b64decode(e["payload"]) for e in old if "payload" in e] == [b"before rotation"]
    assert [base64.b64decode(e["payload"]) for e in new if "payload" in e] == [b"after rotation"]


def test_json_lines_to_stdout(tmp_path):
    db = str(tmp_path / "x.db")
    p = subprocess.Popen([FLYPAPER, "serve", "--listen", "127.0.0.1:0", "--db", db,
                          "--jsonl", "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = b""
    while b"ready:" not in line:
        line = p.stderr.readline()
        assert line, "daemon died"
        m = re.search(rb"listening on 127.0.0.1:(\d+)", line)
        if m:
            port = int(m.group(1))
    send_and_close(port, b"to stdout")
    first = json.loads(p.stdout.readline())
    second = json.loads(p.stdout.readline())
    p.send_signal(signal.SIGTERM)
    assert p.wait(20) == 0
    assert first["eventid"] == "flypaper.session.connect"
    assert base64.b64decode(second["payload"]) == b"to stdout"


def run_flypaper(*args, timeout=20):
    return subprocess.run([FLYPAPER, *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("args,message", [
    (["serve", "--idle-timeout", "5 minutes"], "idle-timeout: '5 minutes' is not a duration"),
    (["serve", "--idle-timeout", "10ms"], "outside 100ms..24h"),
    (["serve", "--listen", "localhost:80"], "listen: 'localhost:80' is not ADDR:PORT"),
    (["serve", "--on-timeout", "explode"], "not drop, goaway or reset"),
    (["serve", "--bogus"], "unknown option '--bogus'"),
    (["serve", "--workers"], "needs a value"),
    (["serve", "extra"], "unexpected argument 'extra'"),
    (["serve", "--max-payload", "lots"], "max-payload: 'lots' is not a size"),
    (["serve", "--queue-bytes", "1k"], "queue-bytes: '1k' is under 64k"),
    (["serve", "--max-conns-per-source", "0"], "max-conns-per-source: '0' is not a number"),
    (["serve", "--max-buffered", "lots"], "max-buffered: 'lots' is not a size"),
    (["serve", "--user", "no-such-user-here"], "no such user"),
    (["serve", "-c", "/nonexistent/flypaper.conf"], "/nonexistent/flypaper.conf: cannot open"),
    (["inetd", "--listen", "127.0.0.1:1"], "unknown option '--listen'"),
    (["frobnicate"], "unknown command 'frobnicate'"),
])
def test_bad_command_lines_exit_2_with_a_clear_message(args, message):
    r = run_flypaper(*args)
    assert r.returncode == 2, r
    assert message in r.stderr, r.stderr


def test_config_file_errors_name_file_and_line(tmp_path):
    conf = tmp_path / "flypaper.conf"
    conf.write_text("; a honeypot\n[flypaper]\nlisten = 127.0.0.1:8081\n"
                    "idle-timeout = 30s\non-timeout = sometimes\n")
    r = run_flypaper("serve", "-c", str(conf), "--check")
    assert r.returncode == 2
    assert f"{conf}:5: on-timeout: 'sometimes'" in r.stderr


def test_check_accepts_a_good_file_and_flags_win(tmp_path):
    conf = tmp_path / "flypaper.conf"
    conf.write_text("[flypaper]\nlisten = 127.0.0.1:8081\nidle-timeout = 30s\n"
                    "session-timeout = 1m\n")
    r = run_flypaper("serve", "-c", str(conf), "--check")
    assert r.returncode == 0 and "configuration OK" in r.stdout
    r = run_flypaper("serve", "-c", str(conf), "--session-timeout", "10s", "--check")
    assert r.returncode == 2 and "shorter than idle-timeout" in r.stderr


def test_config_file_drives_the_daemon(daemons, tmp_path):
    conf = tmp_path / "flypaper.conf"
    conf.write_text("[flypaper]\nidle-timeout = 200ms\non-timeout = goaway\n"
                    "goaway-text = from the file\\n\nsensor = conf-sensor\n")
    d = daemons(args=["-c", str(conf)])
    s = connect(d.port)
    assert s.recv(100) == b"from the file\n"
    s.close()
    (row,) = d.wait_sessions(1)
    assert row["sensor"] == "conf-sensor"


def test_cannot_bind_is_a_startup_error(daemons):
    d = daemons()
    # SO_REUSEPORT must not let a second flypaper share the port silently
    r = run_flypaper("serve", "--listen", f"127.0.0.1:{d.port}", "--db",
                     str(d.tmp / "other.db"), "--workers", "1")
    assert r.returncode == 2, r
    assert f"cannot listen on 127.0.0.1:{d.port}: already in use" in r.stderr
    r = run_flypaper("serve", "--listen", "192.0.2.1:8080", "--db", str(d.tmp / "o.db"))
    assert r.returncode == 2 and "cannot listen on 192.0.2.1:8080" in r.stderr


def test_newer_schema_is_refused(tmp_path):
    db = tmp_path / "future.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    con.execute("INSERT INTO meta VALUES ('schema_version', '99')")
    con.commit()
    con.close()
    r = run_flypaper("serve", "--listen", "127.0.0.1:0", "--db", str(db))
    assert r.returncode == 2 and "schema version 99 is newer" in r.stderr


def test_systemd_socket_activation(tmp_path):
    tool = shutil.which("systemd-socket-activate")
    assert tool, "systemd-socket-activate is needed (package systemd)"
    db = str(tmp_path / "sa.db")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    log = open(tmp_path / "sa.log", "wb")
    p = subprocess.Popen([tool, "-l", f"127.0.0.1:{port}", FLYPAPER, "serve",
                          "--db", db], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: b"Listening on" in (tmp_path / "sa.log").read_bytes(),
                 what="systemd-socket-activate to listen")
        # the first connection makes it exec flypaper with the socket as fd 3
        send_and_close(port, b"activated")
        wait_for(lambda: b"ready:" in (tmp_path / "sa.log").read_bytes(),
                 what="socket-activated daemon")
        assert b"(from systemd)" in (tmp_path / "sa.log").read_bytes()
        rows = wait_for(lambda: session_rows(db), what="a session")
        assert payload_of(db, rows[0]["payload_sha256"]) == b"activated"
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 0
        log.close()


def free_privileged_port():
    for port in range(700, 1000):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise AssertionError("no free port below 1024")


def test_binds_a_privileged_port_then_drops_root(daemons, request):
    assert os.geteuid() == 0, "this test needs root, as CI runs it"
    nobody = pwd.getpwnam("nobody")
    # pytest's own folders are 0700 root; nobody needs a path it can walk
    home = pathlib.Path(tempfile.mkdtemp(prefix="flypaper-user-"))
    os.chmod(home, 0o755)
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    request.addfinalizer(lambda: shutil.rmtree(home, ignore_errors=True))
    port = free_privileged_port()
    jl = home / "events.jsonl"
    d = daemons(listen=[f"127.0.0.1:{port}"], db=str(home / "fp.db"),
                args=["--user", "nobody", "--jsonl", str(jl)])
    assert d.port == port
    status = open(f"/proc/{d.proc.pid}/status").read()
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    assert uids == [str(nobody.pw_uid)] * 4, uids
    send_and_close(port, b"as nobody")
    (row,) = d.wait_sessions(1)
    assert payload_of(d.db, row["payload_sha256"]) == b"as nobody"
    os.rename(jl, home / "events.jsonl.1")
    d.proc.send_signal(signal.SIGHUP)       # reopen as nobody in a dir it owns
    wait_for(lambda: "jsonl: reopened" in d.text(), what="reopen")
    assert d.stop() == 0


def test_fd_exhaustion_pauses_accepting_and_counts(daemons):
    prlimit = shutil.which("prlimit")
    assert prlimit
    d = daemons(prefix=[prlimit, "--nofile=40:40"], workers=1,
                args=["--idle-timeout", "2s"])
    held = []
    for i in range(80):
        # One connection per source: nobody holds more than one, so
        # nobody is evicted and accepting pauses.
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(2)
            s.bind((f"127.0.4.{i + 1}", 0))
            s.connect(("127.0.0.1", d.port))
            held.append(s)
        except OSError:
            break
    wait_for(lambda: "pausing accepts" in d.text(), what="the fd-limit warning")
    time.sleep(0.5)
    for s in held:
        s.close()
    # the daemon is still alive and serving once fds are free again
    assert d.proc.poll() is None
    time.sleep(0.5)
    send_and_close(d.port, b"still here")
    rows = wait_for(lambda: [r for r in session_rows(d.db)
                             if r["payload_sha256"] and
                             payload_of(d.db, r["payload_sha256"]) == b"still here"],
                    timeout=20, what="a session after the flood")
    assert rows
    assert d.stop() == 0
    (run,) = query(d.db, "SELECT refused, accept_errors FROM runs")
    assert run[0] >= 1 and run[1] >= 1, run
    refused = [r for r in session_rows(d.db) if r["close_reason"] == "capacity"]
    assert len(refused) == run[0]


def test_locked_database_is_retried_and_a_full_queue_drops_payloads_not_sessions(daemons):
    d = daemons(args=["--queue-bytes", "64k"])
    send_and_close(d.port, b"warm-up")       # the schema exists now
    d.wait_sessions(1)
    con = sqlite3.connect(d.db, timeout=10)
    con.execute("BEGIN EXCLUSIVE")          # a reader/writer holds the lock
    try:
        for i in range(20):
            send_and_close(d.port, bytes([65 + i]) * 8000)
        wait_for(lambda: "write failed, will retry" in d.text(), what="a busy report")
    finally:
        time.sleep(1.5)
        con.rollback()
        con.close()
    rows = d.wait_sessions(21)
    assert len(rows) == 21
    lost = [r for r in rows if r["payload_lost"]]
    kept = [r for r in rows if r["payload_sha256"] and not r["payload_lost"]]
    assert lost, "a 64 KiB queue cannot hold 20 payloads of 8000 bytes"
    for r in lost:
        assert r["bytes_in"] == 8000 and r["payload_sha256"] is not None
    for r in kept:
        assert payload_of(d.db, r["payload_sha256"]) is not None
    assert d.stop() == 0
    (run,) = query(d.db, "SELECT payloads_dropped, store_errors, records_lost FROM runs")
    assert run[0] == len(lost) and run[1] >= 1 and run[2] == 0
    assert f"{len(lost)} payloads dropped" in d.text()


def fill_disk(path):
    """Writes zeros to path until the file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def small_disk(tmp_path, size):
    """A tmpfs of the given size, mounted for the test (needs root, as CI
    runs it). Mode 0755: flypaper refuses a database folder others can
    write, and a tmpfs is 1777 by default."""
    assert os.geteuid() == 0, "this test mounts a tmpfs, as CI runs it as root"
    mnt = tmp_path / f"disk-{size}"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mnt)],
                   check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_is_reported_counted_and_recovered_from(daemons, tmp_path):
    with small_disk(tmp_path, "2m") as mnt:
        d = daemons(db=str(mnt / "fp.db"))
        for i in range(5):
            send_and_close(d.port, f"before {i}".encode())
        d.wait_sessions(5)
        fill_disk(mnt / "filler")
        sent = [os.urandom(16 * 1024) for _ in range(30)]
        for data in sent:
            send_and_close(d.port, data)
        wait_for(lambda: "database or disk is full" in d.text(), timeout=20,
                 what="a disk-full report")
        assert len(d.sessions()) < 35
        os.unlink(mnt / "filler")            # the operator frees space
        rows = d.wait_sessions(35, timeout=30)
        assert len(rows) == 35
        later = rows[5:]
        for r in later:
            assert r["bytes_in"] == 16 * 1024 and r["payload_sha256"]
            if not r["payload_lost"]:
                assert payload_of(d.db, r["payload_sha256"]) in sent
        assert d.stop() == 0
        text = d.text()
        dropped = sum(1 for r in later if r["payload_lost"])
        assert f"{dropped} payloads dropped" in text, text
        (run,) = query(d.db, "SELECT sessions, payloads_dropped, records_lost FROM runs")
        assert run == (35, dropped, 0)


def test_records_are_lost_loudly_when_the_disk_stays_full(daemons, tmp_path):
    with small_disk(tmp_path, "200k") as mnt:
        d = daemons(db=str(mnt / "fp.db"), args=["--flush-timeout", "1s"])
        fill_disk(mnt / "filler")
        for i in range(200):
            send_and_close(d.port, f"session {i} ".encode() * 20)
        wait_for(lambda: "database or disk is full" in d.text(), timeout=20,
                 what="a disk-full report")
        rc = d.stop()
        text = d.text()
        m = re.search(r"(\d+) session record\(s\) lost", text)
        assert rc == 1 and m, text           # lost, and it says so at exit
        saved = len(session_rows(d.db))
        assert saved + int(m.group(1)) == 200, (saved, text)
        assert re.search(rf"{m.group(1)} records lost", text), text


def test_the_shipped_example_configuration_checks(request):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        pwd.getpwnam("flypaper")
    except KeyError:
        # its user = flypaper, made here from the shipped sysusers.d entry
        assert os.geteuid() == 0, "this test creates a system user, as CI runs it as root"
        subprocess.run(["systemd-sysusers",
                        os.path.join(root, "etc", "sysusers.d", "flypaper.conf")],
                       check=True, capture_output=True)
        request.addfinalizer(lambda: subprocess.run(["userdel", "flypaper"]))
        assert pwd.getpwnam("flypaper").pw_shell == "/usr/sbin/nologin"
    r = run_flypaper("serve", "-c", os.path.join(root, "etc", "flypaper.conf"), "--check")
    assert r.returncode == 0, r.stderr
