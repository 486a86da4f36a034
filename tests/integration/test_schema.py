"""Schema upgrades that rebuild a table: version 7 rebuilt sessions for
its new close reasons (SQLite cannot change a CHECK in place)."""
import sqlite3

from conftest import make_schema_6, query, send_and_close, session_rows

def test_a_version_6_database_is_rebuilt_with_its_rows(daemons):
    d = daemons()
    send_and_close(d.port, b"GET /old HTTP/1.0\r\n\r\n")
    d.wait_sessions(1)
    assert d.stop() == 0
    make_schema_6(d.db)
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
    assert query(d.db, "SELECT value FROM meta WHERE key = 'schema_version'") == [("8",)]
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
