"""Capacity: per-source connection limit, fairness at the fd limit, the
global budget on buffered bytes, the backlog at shutdown, and limit_hit
in the database (schema 4) and JSON lines."""
import json
import os
import select
import shutil
import signal
import socket
import sqlite3
import time

from conftest import (connect, connect_from, flood_past_fd_limit, make_schema_6, payload_of, query,
                      read_until_close, send_from, session_rows, wait_for)


def rows_with_payload(d, data):
    return [r for r in session_rows(d.db)
            if r["payload_sha256"] and payload_of(d.db, r["payload_sha256"]) == data]


def test_one_source_cannot_take_every_slot(daemons):
    # The default per-source limit (64) is below max-conns: one host
    # holding connections open leaves room for the others.
    d = daemons(args=["--max-conns", "80"], workers=2)
    held = []
    for _ in range(80):
        held.append(connect_from(d.port, "127.0.0.2"))
    refused = wait_for(lambda: (lambda rows: rows if len(rows) >= 16 else None)(
        [r for r in session_rows(d.db) if r["close_reason"] == "capacity"]),
        what="16 refusals")
    assert len(refused) == 16
    assert {r["limit_hit"] for r in refused} == {"max_conns_per_source"}
    assert {r["src_ip"] for r in refused} == {"127.0.0.2"}
    assert all(r["payload_sha256"] is None and r["bytes_in"] == 0 for r in refused)
    send_from(d.port, "127.0.0.3", b"GET /other-host HTTP/1.0\r\n\r\n")
    (row,) = wait_for(lambda: rows_with_payload(d, b"GET /other-host HTTP/1.0\r\n\r\n"),
                      what="the other host's session")
    assert row["close_reason"] == "peer_fin" and row["limit_hit"] is None
    # The count goes down as sessions end: the source may connect again.
    for s in held:
        s.close()
    wait_for(lambda: len(session_rows(d.db)) >= 81, what="every session recorded")
    send_from(d.port, "127.0.0.2", b"back again")
    wait_for(lambda: rows_with_payload(d, b"back again"), what="the host's new session")
    assert d.stop() == 0
    (run,) = query(d.db, "SELECT refused FROM runs")
    assert run == (16,)


def test_per_source_limit_setting(daemons):
    d = daemons(args=["--max-conns-per-source", "2"], workers=2)
    # Three connections from one host: the kernel may hand them to the two
    # workers in any order, so whichever is accepted third is the refused one.
    conns = [connect_from(d.port, "127.0.0.2") for _ in range(3)]
    refused = wait_for(lambda: [c for c in conns
                                if select.select([c], [], [], 0)[0] and c.recv(10) == b""],
                       what="one connection refused at once")
    assert len(refused) == 1
    time.sleep(0.3)                         # and only one
    assert not select.select([c for c in conns if c not in refused], [], [], 0)[0]
    other = connect_from(d.port, "127.0.0.4")
    other.sendall(b"hi")
    other.close()
    rows = wait_for(lambda: (lambda r: r if len(r) >= 2 else None)(session_rows(d.db)),
                    what="the refusal and the other host's session")
    by_ip = {r["src_ip"]: r for r in rows}
    assert by_ip["127.0.0.2"]["limit_hit"] == "max_conns_per_source"
    assert by_ip["127.0.0.4"]["close_reason"] != "capacity"
    for s in conns:
        s.close()
    assert d.stop() == 0


def test_at_the_fd_limit_the_busiest_source_makes_room(daemons):
    prlimit = shutil.which("prlimit")
    assert prlimit
    d = daemons(prefix=[prlimit, "--nofile=48:48"], workers=1)
    held = []
    for _ in range(60):                     # more than the fd table holds
        try:
            held.append(connect_from(d.port, "127.0.0.2", timeout=2))
        except OSError:
            break
    time.sleep(0.5)
    s = connect_from(d.port, "127.0.0.3", timeout=20)
    s.sendall(b"waiting host")
    s.shutdown(socket.SHUT_WR)
    assert read_until_close(s) == b""
    s.close()
    (row,) = wait_for(lambda: rows_with_payload(d, b"waiting host"), timeout=20,
                      what="the waiting host's session")
    assert row["close_reason"] == "peer_fin", row
    evicted = [r for r in session_rows(d.db)
               if r["close_reason"] == "capacity" and r["limit_hit"] == "fd_limit"]
    assert evicted and {r["src_ip"] for r in evicted} == {"127.0.0.2"}
    for h in held:
        h.close()
    assert d.stop() == 0


def dev_null_fds(pid):
    """The spare fds: libuv's are /dev/null, flypaper's workers' eventfds
    (a chroot has no /dev/null); each loop's own eventfd counts as well,
    open from the start."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}") in ("/dev/null", "anon_inode:[eventfd]")
        except OSError:
            pass                            # closed meanwhile
    return n


def test_the_spare_fd_survives_repeated_floods_at_the_fd_limit(daemons):
    # Two workers share one fd table: a worker that gives its spare fd up
    # to refuse a peer may find the slot taken by the other when it wants
    # it back. The spare is taken again later, so every flood, not only
    # the first, has its excess refused and recorded instead of left
    # waiting in the backlog. Every source holds one connection: nobody
    # is evicted, so refusal is the only way to record the excess.
    prlimit = shutil.which("prlimit")
    assert prlimit
    d = daemons(prefix=[prlimit, "--nofile=48:48"], workers=2,
                args=["--ident", "always", "--ident-timeout", "2s"])
    spares = dev_null_fds(d.proc.pid)       # one per worker, open at start
    for r in range(6):
        # The flood's peers have all gone (recorded) before the next one.
        flood_past_fd_limit(d, f"127.{30 + r}.", 400, 200, f"flood {r}")
    # Both spares are held again once the floods are over (and libuv's own
    # spare of each loop, open since its first connection).
    wait_for(lambda: dev_null_fds(d.proc.pid) >= spares + 2, timeout=10,
             what=f"the spare fds back (had {spares} at start, "
                  f"{dev_null_fds(d.proc.pid)} now)")
    assert d.stop() == 0
    # Nothing listens on loopback's IDENT port: a probe is refused. One
    # that could not get an fd was never sent: not probed, not a peer
    # "unreachable".
    statuses = {(r["ident_status"], r["ident_sent_ms"] is None)
                for r in session_rows(d.db) if r["limit_hit"] is None}
    assert statuses <= {("refused", False), ("none", True)}, statuses


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_max_buffered_counts_but_does_not_keep(daemons):
    d = daemons(args=["--max-buffered", "256k", "--max-payload", "1M",
                      "--idle-timeout", "60s"], workers=2)
    send_from(d.port, "127.0.0.2", b"warm-up")
    wait_for(lambda: session_rows(d.db), what="the warm-up session")
    before = rss_kib(d.proc.pid)
    chunk = os.urandom(64 * 1024)
    peers = [connect_from(d.port, f"127.0.1.{i + 1}") for i in range(24)]
    for s in peers:
        for _ in range(8):                  # 512 KiB each, 12 MiB in all
            s.sendall(chunk)
    time.sleep(1.0)
    grown = rss_kib(d.proc.pid) - before
    for s in peers:
        s.shutdown(socket.SHUT_WR)
        read_until_close(s)
        s.close()
    rows = wait_for(lambda: (lambda r: r if len(r) >= 25 else None)(session_rows(d.db)),
                    what="every session")
    rows = [r for r in rows if r["src_ip"].startswith("127.0.1.")]
    assert all(r["bytes_in"] == 8 * len(chunk) for r in rows)
    kept = sum(len(payload_of(d.db, r["payload_sha256"]) or b"")
               for r in rows if r["payload_sha256"])
    # The budget, and each session's own first 16 KiB (its reserve).
    assert kept <= 256 * 1024 + len(rows) * 16 * 1024
    cut = [r for r in rows if r["limit_hit"] == "max_buffered"]
    assert len(cut) >= 20, [r["limit_hit"] for r in rows]
    assert all(r["truncated"] == 1 for r in cut)
    # 12 MiB arrived; no more than the budget, the reserves and the read
    # buffers stayed.
    assert grown < 6 * 1024, f"RSS grew by {grown} KiB"
    assert d.stop() == 0


def test_a_few_hosts_cannot_spend_everyone_elses_first_bytes(daemons):
    # Five connections of one host spend the whole --max-buffered; every
    # session still keeps its first bytes from its own reserve, so other
    # hosts' requests are captured, parsed and answered.
    d = daemons(args=["--respond", "http-nginx", "--max-buffered", "4M",
                      "--max-payload", "1M", "--idle-timeout", "60s"], workers=2)
    hogs = [connect_from(d.port, "127.0.0.2") for _ in range(5)]
    chunk = os.urandom(1024 * 1024)
    for s in hogs:
        s.sendall(chunk)
    time.sleep(1.0)                         # the daemon reads them all
    request = b"GET /victim HTTP/1.0\r\n\r\n"
    answers = {}
    for ip in ("127.0.0.3", "127.0.0.4"):
        s = connect_from(d.port, ip)
        s.sendall(request)
        answers[ip] = read_until_close(s)
        s.close()
    for s in hogs:
        s.close()
    rows = wait_for(lambda: (lambda r: r if len(r) >= 7 else None)(session_rows(d.db)),
                    what="every session")
    for ip in ("127.0.0.3", "127.0.0.4"):
        (row,) = [r for r in rows if r["src_ip"] == ip]
        assert row["bytes_in"] == len(request), row
        assert payload_of(d.db, row["payload_sha256"]) == request, row
        assert row["limit_hit"] is None and row["truncated"] == 0, row
        assert row["http"] == "ok", row
        assert answers[ip].startswith(b"HTTP/1."), answers[ip][:80]
    # The hogs were cut by the budget, and their records say so.
    hog_rows = [r for r in rows if r["src_ip"] == "127.0.0.2"]
    assert len(hog_rows) == 5
    assert sum(r["limit_hit"] == "max_buffered" for r in hog_rows) >= 1, hog_rows
    assert d.stop() == 0


def test_sigterm_records_the_accept_backlog(daemons):
    d = daemons(workers=1)
    os.kill(d.proc.pid, signal.SIGSTOP)
    socks = []
    try:
        for i in range(40):
            s = connect(d.port)
            s.sendall(b"backlog %d" % i)
            socks.append(s)
        os.kill(d.proc.pid, signal.SIGTERM)
    finally:
        os.kill(d.proc.pid, signal.SIGCONT)
    assert d.stop() == 0
    rows = session_rows(d.db)
    got = sorted(payload_of(d.db, r["payload_sha256"]) for r in rows if r["payload_sha256"])
    assert got == sorted(b"backlog %d" % i for i in range(40))
    assert all(r["close_reason"] == "shutdown" for r in rows), \
        [r["close_reason"] for r in rows]
    for s in socks:
        s.close()


def test_sigterm_during_an_fd_limit_pause_records_the_backlog(daemons):
    # Every source holds one connection, so nobody is evicted: accepting
    # pauses, and peers wait in the backlog when SIGTERM comes.
    prlimit = shutil.which("prlimit")
    assert prlimit
    d = daemons(prefix=[prlimit, "--nofile=48:48"], workers=1)
    held = []
    for i in range(40):
        held.append(connect_from(d.port, f"127.0.2.{i + 1}", timeout=2))
    wait_for(lambda: "pausing accepts" in d.text(), what="the fd-limit pause")
    waiting = []
    for i in range(10):
        s = connect_from(d.port, f"127.0.3.{i + 1}")
        s.sendall(b"waiting %d" % i)
        waiting.append(s)
    assert d.stop() == 0
    rows = [r for r in session_rows(d.db) if r["src_ip"].startswith("127.0.3.")]
    assert sorted(r["src_ip"] for r in rows) == sorted(f"127.0.3.{i + 1}" for i in range(10))
    drained = [r for r in rows if r["close_reason"] == "shutdown"]
    assert drained, "every waiting peer was refused before the shutdown"
    for r in drained:
        assert payload_of(d.db, r["payload_sha256"]) == b"waiting %d" % (
            int(r["src_ip"].rsplit(".", 1)[1]) - 1)
    for s in held + waiting:
        s.close()


def test_output_for_a_peer_that_does_not_read_counts_against_max_buffered(daemons):
    # A peer pipelines requests and never reads: the answers fill the
    # kernel's buffers, then libuv's queue, which takes from the budget
    # (what the payload left of it is less than the 256 KiB per-session
    # cap). Whether the budget stops the output or the payload's growth
    # first depends on scheduling; either way the record names it.
    d = daemons(args=["--respond", "http-nginx", "--max-payload", "256k",
                      "--max-buffered", "320k", "--idle-timeout", "1s"], workers=1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(20)
    s.connect(("127.0.0.1", d.port))
    # Let the session enter the loop first: answers written during the
    # read-ahead at accept are never queued (what the socket refuses is
    # dropped), so they would not test the queue.
    time.sleep(0.3)
    requests = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 12000
    try:
        s.sendall(requests)                 # never read what comes back
    except OSError:
        pass                                # closed by the server: fine
    (row,) = d.wait_sessions(1, timeout=20)
    s.close()
    assert row["close_reason"] in ("server_close", "idle_timeout"), row
    assert row["limit_hit"] == "max_buffered", row
    assert d.stop() == 0


def test_limit_in_json_lines_and_a_version_3_database_is_upgraded(daemons, tmp_path):
    d = daemons(args=["--max-conns-per-source", "1"], workers=1)
    send_from(d.port, "127.0.0.2", b"first")
    d.wait_sessions(1)
    assert d.stop() == 0
    # Make it a version 3 database: no limit_hit column (nor schema 5's
    # lag counters in runs, nor schema 6's classification and shape).
    make_schema_6(d.db)
    con = sqlite3.connect(d.db)
    con.execute("DROP INDEX sessions_shape")
    for column in ("shape", "limit_hit", "family", "tags", "class_state"):
        con.execute(f"ALTER TABLE sessions DROP COLUMN {column}")
    for column in ("lag_pauses", "lag_paused_ms", "unclassified", "evicted", "jsonl_escaped",
                   "classify_skipped"):
        con.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    jl = tmp_path / "events.jsonl"
    d = daemons(args=["--max-conns-per-source", "1", "--jsonl", str(jl)], workers=1,
                db=d.db)
    held = connect_from(d.port, "127.0.0.2")
    extra = connect_from(d.port, "127.0.0.2")
    assert extra.recv(10) == b""
    rows = wait_for(lambda: [r for r in session_rows(d.db) if r["close_reason"] == "capacity"],
                    what="the refusal")
    held.close()
    extra.close()
    assert d.stop() == 0
    assert query(d.db, "SELECT value FROM meta WHERE key = 'schema_version'") == [("9",)]
    assert rows[0]["limit_hit"] == "max_conns_per_source"
    assert len(session_rows(d.db)) == 3       # the old row survived the upgrade
    # The old session had a payload: it waits for rescan.
    assert query(d.db, "SELECT class_state FROM sessions WHERE payload_sha256 IS NOT NULL "
                       "AND close_reason != 'capacity'") == [("pending",)]
    # The old row has no shape until rescan; the refused ones sent nothing.
    assert [r["shape"] for r in session_rows(d.db)] == [None, None, None]
    assert query(d.db, "SELECT name FROM sqlite_master WHERE name = 'sessions_shape'")
    events = [json.loads(line) for line in jl.read_text().splitlines()]
    closed = [e for e in events if e.get("close_reason") == "capacity"]
    assert [e["limit"] for e in closed] == ["max_conns_per_source"]
    assert all(e["limit"] is None for e in events
               if e.get("close_reason") == "peer_fin")
