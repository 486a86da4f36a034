"""The report's "Operating systems" section: the p0f labels of the peers'
own SYNs per behaviour class, in text, JSON and HTML with the same counts.
Sessions recorded by a real serve (curl: Linux; an IPv6 client: no match;
silent clients: handshake-only), then labels planted in a copy of the
database: a proxy's SYN (syn_of 'proxy') is not counted, and hostile labels
(markup, terminal escapes, bytes that are not UTF-8) come out escaped in
every format."""
import json
import re
import shutil
import socket
import sqlite3
import subprocess

from conftest import FLYPAPER, read_until_close
from test_escape import assert_html_safe, assert_terminal_safe


def report(db, fmt):
    r = subprocess.run([FLYPAPER, "report", "--db", db, "--format", fmt],
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def text_os(text):
    """{class: (sessions, [(label, percent)...])} and the heading line."""
    block = text.split("\noperating systems (", 1)[1].split("\n\n", 1)[0].split("\n")
    rows = {}
    for line in block[1:]:
        m = re.match(r"  (\S+) +(\d+): (.*)$", line)
        assert m, line
        labels = [(x.rsplit(" ", 1)[0], float(x.rsplit(" ", 1)[1].rstrip("%")))
                  for x in m.group(3).split(", ")]
        rows[m.group(1)] = (int(m.group(2)), labels)
    return block[0], rows


def html_os(html):
    table = re.search(r'<table id="os">.*?</table>', html, re.S).group(0)
    heads = re.findall(r"<th>([^<]*)</th>", table)[1:]
    rows = {}
    for label, cells in re.findall(r"<tr><td>([^<]*)</td>((?:<td>[^<]*</td>)*)</tr>", table):
        counts = [int(c.split(" ")[0]) if c else 0 for c in re.findall(r"<td>([^<]*)</td>", cells)]
        rows[label] = dict(zip(heads, counts))
    return rows


def silent(port, host="127.0.0.1", family=socket.AF_INET):
    s = socket.socket(family)
    s.settimeout(10)
    s.connect((host, port))
    s.shutdown(socket.SHUT_WR)
    read_until_close(s)
    s.close()


def test_operating_systems_per_class_in_every_format(daemons, tmp_path):
    assert shutil.which("curl"), "curl is needed"
    d = daemons(listen=("127.0.0.1:0", "[::1]:0"), args=["--respond", "http"])
    for _ in range(2):
        subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{d.ports[0]}/"],
                       timeout=30, check=True)
    for _ in range(3):
        silent(d.ports[0])
    silent(d.ports[1], "::1", socket.AF_INET6)
    d.wait_sessions(6)
    assert d.stop() == 0

    r = json.loads(report(d.db, "json"))["operating_systems"]
    assert r["sessions_with_syn"] == 6 and r["without_syn"] == 0 and r["proxy_syn"] == 0
    assert r["by_class"]["payload"] == {"sessions": 2, "labels": [["Linux 2.2.x-3.x", 2]]}
    # a silent peer that half-closes at once: handshake-only, Linux over
    # IPv4 and no match over IPv6 (its flow label)
    assert r["by_class"]["handshake-only"] == {
        "sessions": 4, "labels": [["Linux 2.2.x-3.x", 3], ["(no match)", 1]]}

    # planted: a proxy's SYN, hostile labels, a session without a SYN
    db = str(tmp_path / "planted.db")
    src, con = sqlite3.connect(d.db), sqlite3.connect(db)
    src.backup(con)
    src.close()
    ids = [row[0] for row in con.execute(
        "SELECT session FROM sessions WHERE bytes_in = 0 AND syn_ver = 4 ORDER BY session")]
    con.execute("UPDATE sessions SET syn_of = 'proxy' WHERE session = ?", (ids[0],))
    con.execute("UPDATE sessions SET os = ? WHERE session = ?",
                ("<script>alert(1)</script> \x1b[31mred", ids[1]))
    con.execute("UPDATE sessions SET os = CAST(? AS TEXT) WHERE session = ?",
                (b"Win\xff\xfe\x00dows", ids[2]))
    con.execute("UPDATE sessions SET syn_sig = NULL, syn_of = NULL, os = NULL "
                "WHERE syn_ver = 6")
    con.commit()
    con.close()

    r = json.loads(report(db, "json"))["operating_systems"]
    assert (r["sessions_with_syn"], r["without_syn"], r["proxy_syn"]) == (4, 1, 1), r
    hs = r["by_class"]["handshake-only"]
    assert hs["sessions"] == 2, hs
    labels = dict(hs["labels"])
    assert set(labels.values()) == {1} and len(labels) == 2, labels
    assert all(all(0x20 <= ord(ch) < 0x7f for ch in lab) for lab in labels), labels
    assert any(lab.startswith("<script>") and "\\x1b" in lab for lab in labels), labels
    assert any(lab.startswith("Win\\xff\\xfe") for lab in labels), labels

    text = report(db, "text")
    assert_terminal_safe(text, "text")
    head, rows = text_os(text.decode())
    assert "4 sessions with one, 1 without a SYN, 1 behind a proxy not counted" in head
    assert rows["payload"] == (2, [("Linux 2.2.x-3.x", 100.0)])
    assert rows["handshake-only"][0] == 2
    assert sorted(p for _, p in rows["handshake-only"][1]) == [50.0, 50.0]

    html = report(db, "html")
    assert_html_safe(html)
    table = html_os(html.decode())
    assert table["Linux 2.2.x-3.x"]["payload"] == 2, table
    assert sum(row["handshake-only"] for row in table.values()) == 2, table
    assert "(no match)" not in table, table      # the IPv6 row lost its SYN
