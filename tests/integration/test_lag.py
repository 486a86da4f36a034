"""The writer's lag bounded in time (--max-lag): while the writer is behind
and the store is healthy, workers stop accepting, so new peers wait in the
kernel's listen backlog; once it catches up they are all accepted and
recorded, and the pause is counted (log, runs table)."""
import os
import re
import select
import signal
import socket
import subprocess
import time

from conftest import FLYPAPER, connect, make_schema_6, query, session_rows, wait_for

# A rule whose scan is quadratic in the payload: a 20 KB payload runs into
# the scan budget (--classify-budget, 50 ms by default) every time.
SLOW_RULE = """rule slow_quadratic
{
    condition:
        for any i in (0..filesize - 1) : (
            for any j in (0..filesize - 1) : (uint8(i) + uint8(j) == 600)
        )
}
"""
SLOW_PAYLOADS = 2        # distinct payloads, each over the budget
WAITING = 5              # peers that connect while the writer is stuck


def slow_rules(tmp_path):
    folder = tmp_path / "slow-rules"
    folder.mkdir()
    (folder / "slow.yar").write_text(SLOW_RULE)
    return str(folder)


def got_banner(s, timeout):
    s.settimeout(timeout)
    try:
        return s.recv(64)
    except socket.timeout:
        return None


def hold_lock_briefly(db):
    """Takes the database's write lock from another connection. The
    writer's next transaction then waits in SQLite's busy handler (up to
    1 s) without failing: a healthy store that is simply slow."""
    import sqlite3
    con = sqlite3.connect(db, timeout=10)
    con.execute("BEGIN EXCLUSIVE")
    return con


def test_writer_behind_pauses_accepts_and_catches_up(daemons):
    d = daemons(args=["--rules", "none", "--max-lag", "100ms",
                      "--respond", "banner", "--banner-text", "hi\\r\\n",
                      "--idle-timeout", "60s"], workers=2)
    s = connect(d.port)
    assert got_banner(s, 10) == b"hi\r\n"
    s.close()
    d.wait_sessions(1)                      # the schema exists now
    con = hold_lock_briefly(d.db)
    try:
        s = connect(d.port)                 # its record waits for the lock
        assert got_banner(s, 10) == b"hi\r\n"
        s.sendall(b"behind a slow store")
        s.close()
        # Past 100 ms of lag the workers stop accepting. A connect still
        # completes (the kernel's backlog) but no banner comes.
        time.sleep(0.25)
        waiting = [connect(d.port) for _ in range(WAITING)]
        readable, _, _ = select.select(waiting, [], [], 0.2)
        assert readable == [], "accepted while the writer was behind"
    finally:
        con.rollback()                      # within the writer's 1 s busy wait
        con.close()
    # Once the writer has committed, accepting resumes: every peer that
    # waited gets its banner and is recorded.
    for s in waiting:
        assert got_banner(s, 30) == b"hi\r\n"
        s.close()
    wait_for(lambda: len(session_rows(d.db)) >= 2 + WAITING, timeout=30,
             what="every session recorded")
    assert d.stop() == 0
    assert "pausing accepts" in d.text()
    assert len(session_rows(d.db)) == 2 + WAITING
    ((pauses, paused_ms, lost, errors),) = query(
        d.db, "SELECT lag_pauses, lag_paused_ms, records_lost, store_errors FROM runs")
    assert pauses >= 1 and paused_ms > 0 and lost == 0 and errors == 0
    m = re.search(r"accepts paused (\d+) time\(s\) for the writer's lag", d.text())
    assert m and int(m.group(1)) == pauses


def test_sigterm_during_a_lag_pause_records_the_backlog(daemons):
    # A paused worker still stops at once, and takes what waits in the
    # backlog as every shutdown does.
    d = daemons(args=["--rules", "none", "--max-lag", "100ms",
                      "--respond", "banner", "--banner-text", "hi\\r\\n"], workers=2)
    s = connect(d.port)
    assert got_banner(s, 10) == b"hi\r\n"
    s.close()
    d.wait_sessions(1)
    con = hold_lock_briefly(d.db)
    try:
        s = connect(d.port)
        assert got_banner(s, 10) == b"hi\r\n"
        s.close()
        time.sleep(0.25)
        waiting = [connect(d.port) for _ in range(WAITING)]
        readable, _, _ = select.select(waiting, [], [], 0.2)
        assert readable == [], "accepted while the writer was behind"
        d.proc.send_signal(signal.SIGTERM)
        time.sleep(0.1)
    finally:
        con.rollback()
        con.close()
    assert d.stop() == 0
    rows = session_rows(d.db)
    assert len(rows) == 2 + WAITING
    assert sum(1 for r in rows if r["close_reason"] == "shutdown") == WAITING
    # Each worker logs what its own listening socket held.
    assert sum(int(n) for n in re.findall(r"recorded (\d+) connection\(s\) from the accept backlog",
                                          d.text())) == WAITING
    for s in waiting:
        s.close()


def test_a_slow_scan_never_pauses_accepting_and_is_skipped(daemons, tmp_path):
    # Scans run on the classifier's thread, after the commit: a payload that
    # takes YARA past --classify-budget neither delays recording nor stops
    # accepting; it is marked 'skipped' (counted), for `rescan` to finish.
    d = daemons(args=["--rules", slow_rules(tmp_path), "--max-lag", "100ms",
                      "--respond", "banner", "--banner-text", "hi\\r\\n",
                      "--idle-timeout", "60s"], workers=2)
    for i in range(SLOW_PAYLOADS):
        s = connect(d.port)
        assert got_banner(s, 10) == b"hi\r\n"
        s.sendall(os.urandom(20000))
        s.close()
    time.sleep(0.5)
    for i in range(WAITING):
        s = connect(d.port)
        assert got_banner(s, 1) == b"hi\r\n", "accepting paused for a slow scan"
        s.sendall(b"during the scan %d" % i)
        s.close()
    wait_for(lambda: len(session_rows(d.db)) >= SLOW_PAYLOADS + WAITING, timeout=30,
             what="every session recorded")
    assert d.stop() == 0
    assert "pausing accepts" not in d.text()
    ((pauses, skipped, lost),) = query(
        d.db, "SELECT lag_pauses, classify_skipped, records_lost FROM runs")
    assert pauses == 0 and lost == 0
    assert skipped == SLOW_PAYLOADS, d.text()
    assert "ran over --classify-budget" in d.text()
    states = sorted(r[0] for r in query(d.db, "SELECT class_state FROM sessions"))
    assert states == ["done"] * WAITING + ["skipped"] * SLOW_PAYLOADS


def test_a_failing_store_does_not_pause(daemons):
    # Behind a locked database the writer is not slow but failing: records
    # wait in memory (up to the queue's caps) and peers are still taken.
    import sqlite3
    d = daemons(args=["--rules", "none", "--max-lag", "100ms",
                      "--respond", "banner", "--banner-text", "hi\\r\\n"], workers=2)
    s = connect(d.port)
    assert got_banner(s, 10) == b"hi\r\n"
    s.close()
    d.wait_sessions(1)                      # the schema exists now
    con = sqlite3.connect(d.db, timeout=10)
    con.execute("BEGIN EXCLUSIVE")          # another process holds the lock
    try:
        s = connect(d.port)
        assert got_banner(s, 10) == b"hi\r\n"
        s.sendall(b"while locked")
        s.close()
        wait_for(lambda: "write failed, will retry" in d.text(), what="a busy report")
        # The first failure is reported: the lag no longer pauses.
        waiting = [connect(d.port) for _ in range(WAITING)]
        for s in waiting:
            assert got_banner(s, 5) == b"hi\r\n", "not accepted behind a failing store"
            s.close()
    finally:
        con.rollback()
        con.close()
    wait_for(lambda: len(session_rows(d.db)) >= 2 + WAITING, timeout=30,
             what="every session recorded once the lock is gone")
    assert d.stop() == 0
    ((errors, lost),) = query(d.db, "SELECT store_errors, records_lost FROM runs")
    assert errors >= 1 and lost == 0


def test_without_max_lag_the_writer_being_behind_does_not_pause(daemons, tmp_path):
    d = daemons(args=["--rules", slow_rules(tmp_path), "--max-lag", "0",
                      "--respond", "banner", "--banner-text", "hi\\r\\n"], workers=1)
    s = connect(d.port)
    assert got_banner(s, 10) == b"hi\r\n"
    s.sendall(os.urandom(20000))
    s.close()
    # The writer is scanning; a new peer is still answered at once.
    time.sleep(0.5)
    s = connect(d.port)
    assert got_banner(s, 10) == b"hi\r\n"
    s.close()
    assert d.stop() == 0
    ((pauses,),) = query(d.db, "SELECT lag_pauses FROM runs")
    assert pauses == 0
    assert "pausing accepts" not in d.text()


def test_max_lag_is_checked():
    for bad in ("50ms", "61s", "soon", "-1"):
        r = subprocess.run([FLYPAPER, "serve", "--max-lag", bad, "--check",
                            "--rules", "none"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and "max-lag" in r.stderr, (bad, r.stderr)
    r = subprocess.run([FLYPAPER, "serve", "--max-lag", "250ms", "--check", "--rules", "none"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_a_version_4_database_is_upgraded_with_its_runs(daemons):
    import sqlite3
    d = daemons(args=["--rules", "none"], workers=1)
    assert d.stop() == 0
    # Make it a version 4 database: runs without the lag counters, sessions
    # without their shape (nor schema 6's classification).
    make_schema_6(d.db)
    con = sqlite3.connect(d.db)
    con.execute("DROP INDEX sessions_shape")
    con.execute("ALTER TABLE sessions DROP COLUMN shape")
    for column in ("lag_pauses", "lag_paused_ms", "unclassified", "evicted", "jsonl_escaped",
                   "classify_skipped"):
        con.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    for column in ("family", "tags", "class_state"):
        con.execute(f"ALTER TABLE sessions DROP COLUMN {column}")
    con.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    d = daemons(args=["--rules", "none"], workers=1, db=d.db)
    assert d.stop() == 0
    assert query(d.db, "SELECT value FROM meta WHERE key = 'schema_version'") == [("9",)]
    assert query(d.db, "SELECT count(*) FROM pragma_table_info('sessions') WHERE name = 'shape'") \
        == [(1,)]
    # The old run reads 0 pauses; the new one wrote its own (none here).
    assert query(d.db, "SELECT lag_pauses, lag_paused_ms, unclassified, evicted, "
                       "jsonl_escaped, classify_skipped FROM runs") == [(0, 0, 0, 0, 0, 0)] * 2
