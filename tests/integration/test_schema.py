"""Schema upgrades: version 7 rebuilt sessions for its new close reasons
(SQLite cannot change a CHECK in place); version 8 added the TLS columns
to a version 7 database's rows."""
import sqlite3

from conftest import (V8_SESSION_COLUMNS, make_schema_6, make_schema_7, query,
                      send_and_close, session_rows)

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
    assert query(d.db, "SELECT value FROM meta WHERE key = 'schema_version'") == [("9",)]
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


def test_a_version_7_database_gets_the_tls_columns_and_keeps_its_rows(daemons):
    d = daemons()
    send_and_close(d.port, b"GET /old HTTP/1.0\r\n\r\n")
    d.wait_sessions(1)
    assert d.stop() == 0
    make_schema_7(d.db)
    before = session_rows(d.db)
    assert "ja3" not in before[0]

    d = daemons(db=d.db, args=["--idle-timeout", "500ms"])
    # a TLS 1.0 ClientHello with one cipher and no extensions
    body = b"\x03\x01" + bytes(32) + b"\x00" + b"\x00\x02\x00\x2f" + b"\x01\x00"
    msg = b"\x01\x00\x00" + bytes([len(body)]) + body
    send_and_close(d.port, b"\x16\x03\x01\x00" + bytes([len(msg)]) + msg)
    d.wait_sessions(2)
    assert d.stop() == 0
    assert query(d.db, "SELECT value FROM meta WHERE key = 'schema_version'") == [("9",)]
    after = session_rows(d.db)
    old = next(r for r in after if r["session"] == before[0]["session"])
    for key, value in before[0].items():
        assert old[key] == value, key
    for column in V8_SESSION_COLUMNS:
        assert old[column] is None, column
    new = next(r for r in after if r["session"] != before[0]["session"])
    assert (new["tls"], new["ja3"]) == ("hello", "769,47,,,")
    assert query(d.db, "SELECT tls_handshakes, tls_failed FROM runs ORDER BY rowid DESC"
                       " LIMIT 1") == [(0, 0)]
