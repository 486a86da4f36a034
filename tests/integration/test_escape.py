"""Hostile bytes on the way out: IDENT replies that are not UTF-8 or carry
terminal escapes, JSON lines cut by a full disk, and databases (merged from
another sensor, or forged) whose every string is hostile, read back by
report and yield in every format."""
import html.parser
import json
import os
import re
import sqlite3
import subprocess

import pytest

from conftest import (FLYPAPER, SANITIZER_MARKS, connect, query, render_dom,
                      send_and_close, wait_for)
from test_lifecycle import fill_disk, small_disk
from test_reactions import Identd


def read_lines(path):
    with open(path, "rb") as f:
        return f.read().splitlines()


# ---- IDENT fields --------------------------------------------------------

@pytest.mark.parametrize("answer,status", [
    (lambda p, l: p + b" , " + l + b" : USERID : UNIX\x1b]0;owned\x07,\xff\xfe : "
     b"\x1b[2Jroot\xc3\x28\\x\r\n", "userid"),
    (lambda p, l: p + b" , " + l + b" : ERROR : \x1b[2J\x9b\xff\r\n", "error"),
])
def test_escape_hostile_ident_reply_reaches_json_lines_and_is_stored_escaped(
        daemons, tmp_path, answer, status):
    identd = Identd(answer=answer)
    jl = tmp_path / "ev.jsonl"
    try:
        d = daemons(args=["--ident", "always", "--ident-port", str(identd.port),
                          "--idle-timeout", "1s", "--jsonl", str(jl)])
        s = connect(d.port)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        (row,) = d.wait_sessions(1)
        s.close()
    finally:
        identd.close()
    assert row["ident_status"] == status
    for col in ("ident_reply", "ident_opsys", "ident_charset", "ident_userid", "ident_error"):
        raw = query(d.db, f"SELECT CAST({col} AS BLOB) FROM sessions")[0][0]
        assert raw is None or all(0x20 <= b < 0x7f for b in raw), (col, raw)
    if status == "userid":
        assert row["ident_opsys"] == "UNIX\\x1b]0;owned\\x07"
        assert row["ident_charset"] == "\\xff\\xfe"
        assert row["ident_userid"] == "\\x1b[2Jroot\\xc3(\\x5cx"
    else:
        assert row["ident_error"] == "\\x1b[2J\\x9b\\xff"
    events = wait_for(lambda: (lambda e: e if len(e) >= 3 else None)(
        [json.loads(l) for l in read_lines(jl)]), what="3 events")
    closed = [e for e in events if e["eventid"] == "flypaper.session.closed"]
    assert len(closed) == 1, events
    e = closed[0]
    assert e["ident_status"] == status
    for col in ("ident_reply", "ident_opsys", "ident_charset", "ident_userid", "ident_error"):
        assert e[col] == (row[col] or ""), (col, e[col], row[col])
        assert all(0x20 <= ord(c) < 0x7f for c in e[col]), (col, e[col])
    assert "escaped_fields" not in e
    assert d.stop() == 0
    (run,) = query(d.db, "SELECT jsonl_errors, jsonl_escaped FROM runs")
    assert run == (0, 0)


# ---- JSON lines on a full disk ------------------------------------------

def test_escape_json_lines_cut_by_a_full_disk_leave_no_half_line(daemons, tmp_path):
    with small_disk(tmp_path, "1m") as mnt:
        jl = mnt / "ev.jsonl"
        # No rules: each session is two lines (connect, closed), with no
        # verdict events between them.
        d = daemons(db=str(tmp_path / "fp.db"), args=["--jsonl", str(jl), "--rules", "none"])
        send_and_close(d.port, b"first")
        wait_for(lambda: len(read_lines(jl)) >= 2, what="the first events")
        fill_disk(mnt / "filler")
        # Each closed event carries its payload in base64: the first one
        # that does not fit in the file's last page is cut.
        for i in range(6):
            send_and_close(d.port, bytes([0x41 + i]) * 3000)
        d.wait_sessions(7)
        wait_for(lambda: "jsonl:" in d.text(), what="a JSON-lines error")
        os.unlink(mnt / "filler")            # the operator frees space
        for i in range(3):
            send_and_close(d.port, f"after {i}".encode())
        d.wait_sessions(10)
        assert d.stop() == 0
        lines = read_lines(jl)
        events = []
        for line in lines:
            events.append(json.loads(line))    # every line parses: no torn half
        (run,) = query(d.db, "SELECT jsonl_errors FROM runs")
        # each line is either in the file, whole, or counted as an error
        assert len(events) + run[0] == 20, (len(events), run)
        assert run[0] >= 1
        after = [e for e in events if e["eventid"] == "flypaper.session.closed"][-3:]
        assert [e["bytes_in"] for e in after] == [7, 7, 7]


# ---- hostile databases ----------------------------------------------------

HOSTILE = [
    "<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "\x1b]0;owned\x07",
    "\x1b[2J\x1b[H", b"\xff\xfe\xc3\x28", b"a\x00b<script>", "", "2", "x", "9" * 13,
    "2026-11-27T05", "2026-11-27T05:00:00.123456Z\x1b[31m", "\u009b31m", "\u2028\u2029",
    "'&<>\"", "A" * 200000, 42, -7, 1.5, 2 ** 62, b"\x00\x9b\x1b", None,
    "-2147483648-01-01T00:00:00.0Z", "2147483647-12-31T23:59:59.999999Z",
    "0000-00-00T99:99:99.-1Z",
]

TEXT_COLUMNS = ("session", "sensor", "start_ts", "end_ts", "src_ip", "dst_ip",
                "close_reason", "payload_sha256", "mode", "strategy", "closed_by",
                "ident_status", "ident_reply", "ident_opsys", "ident_charset",
                "ident_userid", "ident_error", "http")


def make_normal_db(daemons, tmp_path):
    d = daemons(db=str(tmp_path / "normal.db"), args=["--respond", "http-nginx"])
    send_and_close(d.port, b"GET /index.html HTTP/1.1\r\nHost: h\r\nUser-Agent: ok/1\r\n\r\n")
    send_and_close(d.port, b"hello")
    d.wait_sessions(2)
    assert d.stop() == 0
    return d.db


def make_hostile_db(normal, path):
    """A database with flypaper's tables and columns but no types or
    constraints (as a forged or foreign one may have), filled with hostile
    values of every type in every column."""
    src = sqlite3.connect(normal)
    tables = {}
    for (name,) in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        tables[name] = [r[1] for r in src.execute(f"PRAGMA table_info({name})")]
    src.close()
    con = sqlite3.connect(path)
    for name, cols in tables.items():
        con.execute(f"CREATE TABLE {name} ({', '.join(cols)})")
    con.execute("INSERT INTO meta VALUES ('schema_version', '3')")

    def put(table, values):
        cols = tables[table]
        marks = ", ".join("CAST(? AS TEXT)" if isinstance(values.get(c), bytes) else "?"
                          for c in cols)
        con.execute(f"INSERT INTO {table} VALUES ({marks})", [values.get(c) for c in cols])

    n = 0
    for i, v in enumerate(HOSTILE):
        for j, w in enumerate((v, HOSTILE[(i + 5) % len(HOSTILE)])):
            n += 1
            row = {c: w for c in tables["sessions"]}
            row["session"] = f"h{n}"
            row["start_ts"] = v              # every start_ts is hostile
            # numbers that are strings, NULLs, huge, negative
            for c, x in (("bytes_in", [w, None, 2 ** 63 - 1, -1][n % 4]),
                         ("first_byte_ms", [None, w, -2 ** 63, 5][n % 4]),
                         ("first_out_ms", [w, 3, None, 2 ** 63 - 1][n % 4]),
                         ("peer_close_after_out_ms", [-1, w, 0, None][n % 4]),
                         ("peer_close_after_ident_ms", [None, 0, w, -5][n % 4]),
                         ("duration_ms", [w, 1, None, -2 ** 63][n % 4])):
                row[c] = x
            row["close_reason"] = [w, "capacity", "idle_timeout", None][n % 4]
            row["closed_by"] = [w, "peer", "server", None][n % 4]
            put("sessions", row)
            put("matches", {"session": row["session"], "rule": w, "tags": w})
            put("matches", {"session": row["session"], "rule": "r2", "tags": v})
            put("requests", {"session": row["session"], "seq": w, "at_ms": w, "method": w,
                             "target": w, "version": w, "host": w, "user_agent": v,
                             "headers": w, "body_bytes": w})
    # more families than the report keeps, one of them named like its
    # "other" bucket
    for k in range(60):
        sid = f"fam{k}"
        put("sessions", {"session": sid, "src_ip": "10.0.0.1", "start_ts": "2026-11-27T06:00:00Z",
                         "close_reason": "peer_fin", "bytes_in": 1, "strategy": "silent"})
        put("matches", {"session": sid, "rule": "r", "tags": "other" if k == 3 else f"fam{k}"})
    # a row with NULL everywhere
    con.execute("INSERT INTO sessions DEFAULT VALUES")
    con.execute("INSERT INTO requests DEFAULT VALUES")
    con.execute("INSERT INTO matches DEFAULT VALUES")
    con.commit()
    con.close()
    return path


def run_cli(*args):
    r = subprocess.run([FLYPAPER, *args], capture_output=True, timeout=120)
    for mark in SANITIZER_MARKS:
        assert mark.encode() not in r.stderr, r.stderr.decode("utf-8", "replace")[-4000:]
    assert r.returncode == 0, (args, r.stderr.decode("utf-8", "replace")[-2000:])
    return r.stdout


def assert_terminal_safe(out, what):
    bad = sorted({b for b in out if not (0x20 <= b < 0x7f or b == 0x0a)})
    assert not bad, (what, bad, out[:2000])


class TagCollector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = set()
        self.attrs = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs.update(a for a, _ in attrs)


PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "span", "i",
             "svg", "line", "text", "rect", "table", "tr", "th", "td", "section", "ul", "li"}
PAGE_ATTRS = {"lang", "charset", "id", "role", "xmlns", "width", "height", "viewbox", "x", "y",
              "x1", "y1", "x2", "y2", "stroke", "fill", "class", "style", "colspan",
              "stroke-width", "font-weight"}


def assert_html_safe(out):
    text = out.decode("utf-8")           # valid UTF-8, as its meta says
    assert not re.search(r"<\s*script", text, re.I)
    assert_terminal_safe(out, "html")    # no control bytes at all either
    p = TagCollector()
    p.feed(text)
    p.close()
    assert p.tags <= PAGE_TAGS, p.tags - PAGE_TAGS
    assert p.attrs <= PAGE_ATTRS, p.attrs - PAGE_ATTRS
    assert "&lt;script&gt;" in text      # the data is there, as text


def test_escape_hostile_and_merged_databases_in_every_format(daemons, tmp_path):
    normal = make_normal_db(daemons, tmp_path)
    hostile = make_hostile_db(normal, str(tmp_path / "hostile.db"))
    # --until Z lets in the start_ts that sort after digits ("<script>", "A"...)
    for dbs, extra in (([hostile], []), ([hostile, normal], []), ([normal, hostile], []),
                       ([hostile, normal], ["--until", "ZZZZ"])):
        db_args = [a for db in dbs for a in ("--db", db)] + extra
        text = run_cli("report", *db_args, "--format", "text")
        assert_terminal_safe(text, "report text")
        assert b"flypaper report:" in text
        r = json.loads(run_cli("report", *db_args, "--format", "json"))
        # nothing a string made unencodable went missing
        assert sum(s["sessions"] for s in r["strategies"]) == r["sessions"]
        assert sum(r["families"].values()) == r["sessions"]
        assert sum(h["sessions"] for h in r["timeline"]) == r["sessions"]
        assert sum(r["classes"]["sessions"].values()) == r["sessions"]
        assert r["sessions"] > 10
        # every hostile value was a session's tags too: counted, escaped
        tags = {t["tag"] for t in r["techniques"]["top"]}
        assert "<script>alert(1)</script>" in tags and "\\x1b]0;owned\\x07" in tags, tags
        assert all(len(t) <= 256 and t.isprintable() for t in tags)
        page = tmp_path / "r.html"
        run_cli("report", *db_args, "--format", "html", "-o", str(page))
        assert_html_safe(page.read_bytes())
    for fmt in ("text", "json"):
        out = run_cli("yield", "--db", hostile, "--format", fmt)
        assert_terminal_safe(out, "yield " + fmt)
    y = json.loads(run_cli("yield", "--db", hostile, "--format", "json"))
    assert len(y["strategies"]) > 10
    counted = query(hostile, "SELECT count(*) FROM sessions WHERE start_ts >= '' "
                             "AND close_reason IS NOT 'capacity'")[0][0]
    assert sum(s["sessions"] for s in y["strategies"]) == counted


def test_escape_hostile_html_report_renders_without_script(daemons, tmp_path):
    normal = make_normal_db(daemons, tmp_path)
    hostile = make_hostile_db(normal, str(tmp_path / "hostile.db"))
    page = tmp_path / "r.html"
    run_cli("report", "--db", normal, "--db", hostile, "--format", "html", "-o", str(page))
    dom = render_dom(page, tmp_path / "profile")
    assert not re.search(r"<(script|img)\b", dom, re.I)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom


def test_escape_error_messages_from_a_hostile_database(tmp_path):
    """SQLite's own error messages quote names from the database: a table
    named with escape sequences reaches stderr escaped, and report opens
    what it reads read-only (a forged database cannot be written)."""
    evil = str(tmp_path / "evil.db")
    name = "\x1b]0;PWNED\x07\x1b[2J"
    con = sqlite3.connect(evil)
    con.execute(f'CREATE TABLE "{name}" (x)')
    con.execute(f'CREATE VIEW sessions AS SELECT * FROM "{name}"')
    con.execute(f'CREATE VIEW requests AS SELECT * FROM "{name}"')
    con.execute(f'DROP TABLE "{name}"')
    con.commit()
    con.close()
    before = open(evil, "rb").read()
    for args in (["report", "--db", evil], ["report", "--db", evil, "--format", "json"],
                 ["yield", "--db", evil]):
        r = subprocess.run([FLYPAPER, *args], capture_output=True, timeout=60)
        assert r.returncode != 0, args
        assert b"PWNED" in r.stderr, (args, r.stderr)       # the message is there...
        assert_terminal_safe(r.stderr, args)                  # ...escaped
        for mark in SANITIZER_MARKS:
            assert mark.encode() not in r.stderr
    assert open(evil, "rb").read() == before
