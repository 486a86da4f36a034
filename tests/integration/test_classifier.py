"""Classification off the writer thread: sessions are committed first
('pending'), a classifier thread scans each payload within
--classify-budget and its verdict (family, tags, class_state, matches, a
flypaper.session.classified JSON line) follows in a later transaction.
Recording never waits on a scan, however crafted the payloads; inetd
children load libyara only when given --rules; rescan finishes the rest."""
import hashlib
import json
import os
import sqlite3
import subprocess
import threading
import time

from conftest import FLYPAPER, ROOT, make_schema_6, query, send_and_close, session_rows, wait_for
from test_inetd import inetd  # noqa: F401 (the fixture)

# A rule that is slow on purpose: each hit of its atom starts a regex run
# to the end of the line (up to 4 KiB), so a payload of `User-Agent: `
# repeated without a line ending costs about 340 regex steps per byte
# (0.4 s per 16 KiB; issue 9).
SLOW_RULE = r"""rule slow_user_agent
{
    strings:
        $a = /User-Agent: [^\r\n]*x/
    condition:
        $a
}
"""
NORMAL_RULE = """rule normal_probe : probe
{
    meta:
        family = "probe"
    strings:
        $a = "GET /normal/"
    condition:
        $a
}
"""
FLOOD_PAYLOADS = 200         # crafted payloads at most (50 MB)
FLOOD_SECONDS = 8            # and for at most this long, while the normal peers run
NORMAL_PEERS = 3
NORMAL_EACH = 15
BAR_S = 2.0                  # issue 9: in the database within 2 s of ending
# ... and, tighter, what tells a writer that never scans from one that does:
# when the writer scanned inline, each crafted payload held it for the scan
# timeout (2 s), and normal sessions measured up to 1.9 s late, just inside
# the bar; off the writer's thread they take well under 0.1 s.
NO_SCAN_WAIT_S = 1.0


def rules_folder(tmp_path, *texts):
    folder = tmp_path / "rules"
    folder.mkdir()
    for i, text in enumerate(texts):
        (folder / f"r{i}.yar").write_text(text)
    return str(folder)


def crafted(i):
    """256 KiB of `User-Agent: ` without a line ending, each one distinct
    (so no verdict is cached) and without an `x` (so the regex runs to the
    end every time)."""
    body = b"User-Agent: " * (256 * 1024 // 12)
    return b"GET / HTTP/1.1\r\n" + body + os.urandom(8).hex().replace("x", "y").encode() + \
        b"%d" % i


def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_recording_under_a_classification_flood(daemons, tmp_path):
    d = daemons(args=["--rules", rules_folder(tmp_path, SLOW_RULE, NORMAL_RULE),
                      "--idle-timeout", "5s"], workers=2)
    stop = threading.Event()
    flood_stop = threading.Event()
    ended = {}                               # digest -> when the client saw the close
    seen = {}                                # digest -> when the database had it
    flood_sent = []

    def flood():
        t0 = time.monotonic()
        for i in range(FLOOD_PAYLOADS):
            if flood_stop.is_set() or time.monotonic() - t0 > FLOOD_SECONDS:
                break
            data = crafted(i)
            send_and_close(d.port, data)
            flood_sent.append(sha(data))

    def normal(peer):
        for i in range(NORMAL_EACH):
            data = b"GET /normal/%d/%d HTTP/1.0\r\nHost: h\r\n\r\n" % (peer, i)
            send_and_close(d.port, data)
            ended[sha(data)] = time.monotonic()
            time.sleep(0.1)

    def poll():
        while not stop.is_set():
            now = time.monotonic()
            try:
                for (digest,) in query(d.db, "SELECT payload_sha256 FROM sessions"):
                    seen.setdefault(digest, now)
            except sqlite3.OperationalError:
                pass                         # the schema is not there yet
            time.sleep(0.02)

    poller = threading.Thread(target=poll)
    flooder = threading.Thread(target=flood)
    poller.start()
    flooder.start()
    time.sleep(0.3)                          # the flood is under way
    peers = [threading.Thread(target=normal, args=(p,)) for p in range(NORMAL_PEERS)]
    for t in peers:
        t.start()
    for t in peers:
        t.join(60)
    flood_stop.set()
    wait_for(lambda: all(h in seen for h in ended), timeout=30,
             what="every normal session in the database")
    stop.set()
    flooder.join(60)
    poller.join(10)
    delays = sorted(round(seen[h] - ended[h], 3) for h in ended)
    assert len(ended) == NORMAL_PEERS * NORMAL_EACH
    assert delays[-1] <= BAR_S, f"normal sessions later than {BAR_S}s: {delays}"
    assert delays[-1] <= NO_SCAN_WAIT_S, f"recording waited on scans: {delays}"
    assert len(flood_sent) >= 5, "the flood did not get going"
    wait_for(lambda: len(session_rows(d.db)) >= len(ended) + len(flood_sent), timeout=30,
             what="the flood's sessions")
    assert d.stop() == 0
    # The crafted payloads were skipped (over the budget), the normal ones
    # classified; nothing was lost.
    states = dict(query(d.db, "SELECT payload_sha256, class_state FROM sessions"))
    assert all(states[h] in ("skipped", "shed", "pending") for h in flood_sent), states
    assert sum(states[h] == "skipped" for h in flood_sent) >= 1
    assert all(states[h] in ("done", "shed", "pending") for h in ended)
    ((lost, skipped),) = query(d.db, "SELECT records_lost, classify_skipped FROM runs")
    assert lost == 0 and skipped >= 1


def test_verdicts_reach_the_database_and_json_lines(daemons, tmp_path):
    jl = tmp_path / "events.jsonl"
    d = daemons(args=["--rules", f"{ROOT}/rules", "--jsonl", str(jl)], workers=1)
    probe = b"GET /.git/config HTTP/1.1\r\nHost: h\r\n\r\n"
    send_and_close(d.port, probe)
    rows = wait_for(lambda: [r for r in session_rows(d.db) if r["class_state"] == "done"],
                    what="the verdict")
    assert rows[0]["family"] == "secrets"
    # The same payload again: its verdict is known when it is committed,
    # so its session event carries it and no second scan is needed.
    send_and_close(d.port, probe)
    send_and_close(d.port, b"nothing to see")
    d.wait_sessions(3)
    assert d.stop() == 0
    rows = session_rows(d.db)
    assert sorted((r["family"] or "", r["class_state"]) for r in rows) == \
        [("", "done"), ("secrets", "done"), ("secrets", "done")]
    assert query(d.db, "SELECT count(*) FROM matches") == [(2,)]
    events = [json.loads(line) for line in jl.read_text().splitlines()]
    closed = [e for e in events if e["eventid"] == "flypaper.session.closed"]
    verdicts = [e for e in events if e["eventid"] == "flypaper.session.classified"]
    assert [e["class_state"] for e in closed] == ["pending", "done", "pending"]
    assert closed[1]["family"] == "secrets" and closed[1]["rules"] == ["secrets_probe"]
    assert closed[0]["family"] is None and closed[0]["tags"] == []
    assert len(verdicts) == 2
    v = next(e for e in verdicts if e["session"] == closed[0]["session"])
    assert v["family"] == "secrets" and v["rules"] == ["secrets_probe"]
    assert v["tags"] == [] and v["class_state"] == "done"
    assert v["payload_sha256"] == sha(probe) and v["src_ip"] == "127.0.0.1"
    other = next(e for e in verdicts if e["session"] == closed[2]["session"])
    assert other["family"] is None and other["rules"] == []


def test_the_classify_budget_is_checked():
    for bad in ("0", "11s", "soon"):
        r = subprocess.run([FLYPAPER, "serve", "--classify-budget", bad, "--check",
                            "--rules", "none"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and "classify-budget" in r.stderr, (bad, r.stderr)
    r = subprocess.run([FLYPAPER, "serve", "--classify-budget", "5ms", "--check",
                        "--rules", f"{ROOT}/rules"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_the_daemon_does_not_link_libraries_loaded_on_demand():
    # libyara and what it pulls in (libcrypto, libmagic) and libpcap and
    # what it pulls in (libdbus, libsystemd, liblzma) cost every exec,
    # inetd children's too: they are loaded with dlopen, and only when rules
    # or a capture are asked for (test_libraries.py).
    r = subprocess.run(["ldd", FLYPAPER], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    for lib in ("libyara", "libcrypto", "libmagic", "liblzma",
                "libpcap", "libdbus", "libsystemd"):
        assert lib not in r.stdout, r.stdout


def test_inetd_stores_pending_without_rules_and_rescan_finishes(inetd, tmp_path):  # noqa: F811
    port, db = inetd()
    probe = b"GET /.git/config HTTP/1.1\r\nHost: h\r\n\r\n"
    send_and_close(port, probe)
    send_and_close(port, b"")
    rows = wait_for(lambda: len(session_rows(db)) >= 2 and session_rows(db),
                    what="two sessions")
    assert sorted(r["class_state"] for r in rows) == ["none", "pending"]
    assert query(db, "SELECT count(*) FROM matches") == [(0,)]
    # The child never mapped libyara: no rules cache was written either.
    assert not os.path.exists(db + "-rules.yarc")
    r = subprocess.run([FLYPAPER, "rescan", "--db", db, "--rules", f"{ROOT}/rules"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert sorted((r["family"] or "", r["class_state"]) for r in session_rows(db)) == \
        [("", "none"), ("secrets", "done")]


def test_inetd_with_rules_classifies_after_the_commit(inetd, tmp_path):  # noqa: F811
    port, db = inetd("--rules", f"{ROOT}/rules")
    send_and_close(port, b"GET /.git/config HTTP/1.1\r\nHost: h\r\n\r\n")
    rows = wait_for(lambda: [r for r in session_rows(db) if r["class_state"] == "done"],
                    what="the verdict")
    assert rows[0]["family"] == "secrets"
    assert query(db, "SELECT rule FROM matches") == [("secrets_probe",)]


def test_rescan_marks_what_runs_over_its_budget(daemons, tmp_path):
    d = daemons(args=["--rules", "none", "--max-payload", "2M"], workers=1)
    # 1 MiB of the crafted line: far past rescan's 2 s even on a fast box.
    send_and_close(d.port, b"GET / HTTP/1.1\r\n" + b"User-Agent: " * (1024 * 1024 // 12))
    send_and_close(d.port, b"GET /normal/1 HTTP/1.0\r\n\r\n")
    d.wait_sessions(2)
    assert d.stop() == 0
    assert sorted(r["class_state"] for r in session_rows(d.db)) == ["none", "none"]
    slow = tmp_path / "slow.yar"
    slow.write_text(SLOW_RULE + NORMAL_RULE)
    r = subprocess.run([FLYPAPER, "rescan", "--db", d.db, "--rules", str(slow)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "were skipped" in r.stdout
    states = sorted((r["family"] or "", r["class_state"]) for r in session_rows(d.db))
    assert states == [("", "skipped"), ("probe", "done")]


def test_a_version_5_database_is_upgraded_to_6(daemons):
    d = daemons(args=["--rules", "none"], workers=1)
    send_and_close(d.port, b"GET /.env HTTP/1.0\r\n\r\n")
    send_and_close(d.port, b"")
    d.wait_sessions(2)
    assert d.stop() == 0
    make_schema_6(d.db)
    con = sqlite3.connect(d.db)
    con.execute("DROP INDEX sessions_shape")
    for column in ("family", "tags", "class_state", "shape"):     # schema 6's
        con.execute(f"ALTER TABLE sessions DROP COLUMN {column}")
    con.execute("ALTER TABLE runs DROP COLUMN classify_skipped")
    con.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    d = daemons(args=["--rules", f"{ROOT}/rules"], workers=1, db=d.db)
    assert d.stop() == 0
    assert query(d.db, "SELECT value FROM meta WHERE key = 'schema_version'") == [("9",)]
    # Stored before: the payload waits for rescan, the silent peer has none.
    assert sorted(r["class_state"] for r in session_rows(d.db)) == ["none", "pending"]
    assert query(d.db, "SELECT classify_skipped FROM runs") == [(0,), (0,)]


def test_rescan_pending_leaves_classified_sessions_alone(inetd, daemons, tmp_path):  # noqa: F811
    port, db = inetd()
    d = daemons(args=["--rules", f"{ROOT}/rules"], workers=1, db=db)
    send_and_close(d.port, b"GET /.git/config HTTP/1.1\r\nHost: h\r\n\r\n")
    wait_for(lambda: [r for r in session_rows(db) if r["class_state"] == "done"],
             what="the daemon's verdict")
    assert d.stop() == 0
    send_and_close(port, b"GET /.env HTTP/1.1\r\nHost: h\r\n\r\n")     # an inetd child
    wait_for(lambda: [r for r in session_rows(db) if r["class_state"] == "pending"],
             what="the child's pending session")
    mine = tmp_path / "mine.yar"
    mine.write_text('rule any_get : anything { strings: $a = "GET /" condition: $a }\n')
    r = subprocess.run([FLYPAPER, "rescan", "--db", db, "--rules", str(mine), "--pending"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "rescanned 1 payloads" in r.stdout
    rows = {r["payload_sha256"]: r for r in session_rows(db)}
    done = rows[sha(b"GET /.git/config HTTP/1.1\r\nHost: h\r\n\r\n")]
    child = rows[sha(b"GET /.env HTTP/1.1\r\nHost: h\r\n\r\n")]
    assert (done["family"], done["class_state"]) == ("secrets", "done")
    assert (child["family"], child["class_state"]) == ("anything", "done")
    matches = sorted(query(db, "SELECT session, rule FROM matches"))
    assert matches == sorted([(done["session"], "secrets_probe"), (child["session"], "any_get")])


def test_the_report_counts_the_sessions_family_column(daemons, tmp_path):
    d = daemons(args=["--rules", "none"], workers=1)
    send_and_close(d.port, b"GET /one HTTP/1.0\r\n\r\n")
    send_and_close(d.port, b"GET /two HTTP/1.0\r\n\r\n")
    d.wait_sessions(2)
    assert d.stop() == 0
    # One session whose chosen family is not its first match's first tag
    # (the precedence picked another rule), one with matches only.
    con = sqlite3.connect(d.db)
    (a, b) = [r[0] for r in con.execute("SELECT session FROM sessions ORDER BY start_ts")]
    con.execute("UPDATE sessions SET family = 'chosen', class_state = 'done' WHERE session = ?",
                (a,))
    con.execute("INSERT INTO matches VALUES (?, 'aaa_first', 'other')", (a,))
    con.execute("INSERT INTO matches VALUES (?, 'bbb', 'unchosen')", (b,))
    con.commit()
    con.close()

    def families(db):
        r = subprocess.run([FLYPAPER, "report", "--db", db, "--format", "json"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return {k: v for k, v in json.loads(r.stdout)["families"].items() if v}

    fam = families(d.db)
    assert fam.get("chosen") == 1 and "other" not in fam and "unchosen" not in fam, fam
    # A database from before the column: the first match's first tag.
    old = tmp_path / "old.db"
    con = sqlite3.connect(d.db)
    con.execute("VACUUM INTO ?", (str(old),))
    con.close()
    make_schema_6(old)
    con = sqlite3.connect(old)
    con.execute("DROP INDEX sessions_shape")
    for column in ("family", "tags", "class_state", "shape"):
        con.execute(f"ALTER TABLE sessions DROP COLUMN {column}")
    con.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    fam = families(str(old))
    assert fam.get("other") == 1 and fam.get("unchosen") == 1, fam
