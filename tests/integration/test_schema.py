"""Schema upgrades that rebuild a table: version 7 rebuilt sessions for
its new close reasons (SQLite cannot change a CHECK in place)."""
import sqlite3

from conftest import query, send_and_close, session_rows

# Version 6's sessions table, column for column, with its CHECK.
V6_SESSIONS = """CREATE TABLE sessions (
  session TEXT PRIMARY KEY, sensor TEXT NOT NULL, start_ts TEXT NOT NULL,
  end_ts TEXT NOT NULL, src_ip TEXT NOT NULL, src_port INTEGER NOT NULL,
  dst_ip TEXT NOT NULL, dst_port INTEGER NOT NULL, bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL, first_byte_ms INTEGER, duration_ms INTEGER NOT NULL,
  close_reason TEXT NOT NULL CHECK (close_reason IN ('peer_fin','peer_rst',
    'idle_timeout','session_timeout','server_close','capacity','shutdown')),
  payload_sha256 TEXT, truncated INTEGER NOT NULL, payload_lost INTEGER NOT NULL DEFAULT 0,
  mode TEXT NOT NULL, strategy TEXT, first_out_ms INTEGER, closed_by TEXT,
  peer_close_after_out_ms INTEGER, peer_close_after_ident_ms INTEGER,
  ident_status TEXT NOT NULL DEFAULT 'none', ident_reply TEXT, ident_opsys TEXT,
  ident_charset TEXT, ident_userid TEXT, ident_error TEXT, ident_sent_ms INTEGER,
  ident_reply_ms INTEGER, http TEXT, requests INTEGER NOT NULL DEFAULT 0,
  limit_hit TEXT, family TEXT, tags TEXT, class_state TEXT NOT NULL DEFAULT 'none',
  shape TEXT)"""
V6_RUNS = ("sensor", "mode", "started", "ended", "sessions", "refused", "accept_errors",
           "payloads_dropped", "records_dropped", "store_errors", "records_lost",
           "jsonl_errors", "lag_pauses", "lag_paused_ms", "unclassified", "evicted",
           "jsonl_escaped", "classify_skipped")


def make_v6(db):
    """Turns a current database into a version 6 one with the same rows."""
    con = sqlite3.connect(db)
    mem = sqlite3.connect(":memory:")
    mem.execute(V6_SESSIONS)
    cols = [r[1] for r in mem.execute("PRAGMA table_info(sessions)")]
    con.execute("ALTER TABLE sessions RENAME TO sessions_now")
    con.execute(V6_SESSIONS)
    names = ", ".join(cols)
    con.execute(f"INSERT INTO sessions({names}) SELECT {names} FROM sessions_now")
    con.execute("DROP TABLE sessions_now")
    con.execute("CREATE INDEX sessions_start ON sessions(start_ts)")
    con.execute("CREATE INDEX sessions_shape ON sessions(shape) WHERE shape IS NOT NULL")
    for (column,) in con.execute("SELECT name FROM pragma_table_info('runs')").fetchall():
        if column not in V6_RUNS:
            con.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    con.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    con.commit()
    con.close()


def test_a_version_6_database_is_rebuilt_with_its_rows(daemons):
    d = daemons()
    send_and_close(d.port, b"GET /old HTTP/1.0\r\n\r\n")
    d.wait_sessions(1)
    assert d.stop() == 0
    make_v6(d.db)
    before = session_rows(d.db)
    # The old CHECK refuses the new reasons: the rebuild is what allows them.
    con = sqlite3.connect(d.db)
    try:
        con.execute("UPDATE sessions SET close_reason = 'syn_only'")
        raise AssertionError("the version 6 CHECK took a new reason")
    except sqlite3.IntegrityError:
        pass
    con.close()

    d = daemons(db=d.db)
    send_and_close(d.port, b"GET /new HTTP/1.0\r\n\r\n")
    d.wait_sessions(2)
    assert d.stop() == 0
    assert query(d.db, "SELECT value FROM meta WHERE key = 'schema_version'") == [("7",)]
    after = session_rows(d.db)
    assert len(after) == 2
    old = next(r for r in after if r["session"] == before[0]["session"])
    for key, value in before[0].items():
        assert old[key] == value, key
    indexes = {n for (n,) in query(d.db, "SELECT name FROM sqlite_master WHERE type = 'index'"
                                         " AND tbl_name = 'sessions'")}
    assert {"sessions_start", "sessions_shape"} <= indexes
    for reason in ("syn_only", "rst_after_synack", "proxy_error"):
        con = sqlite3.connect(d.db)
        con.execute("UPDATE sessions SET close_reason = ? WHERE session = ?",
                    (reason, old["session"]))
        con.commit()
        con.close()
    try:
        con = sqlite3.connect(d.db)
        con.execute("UPDATE sessions SET close_reason = 'nonsense'")
        raise AssertionError("the version 7 CHECK took any reason")
    except sqlite3.IntegrityError:
        pass
    finally:
        con.close()
