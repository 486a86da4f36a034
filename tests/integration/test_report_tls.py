"""The report's TLS section: top JA3, JA4, SNI and alert values with their
sources, families and behaviour classes; the ClientHello states and the TLS
front's outcomes; the TLS versions per day. Rows planted in a real flypaper
database (created by a serve run): the same counts in text, JSON and HTML;
hostile SNI and JA3 strings (markup, NULs, control bytes, terminal escapes,
bytes that are not UTF-8) escaped in every format; the cap on distinct
values; merged databases, one from before schema 8. Then real handshakes
(curl, openssl s_client) to a TLS front and a plain listener, two sensors
merged, and the JSON lines carrying the same facts."""
import json
import re
import sqlite3
import subprocess

from conftest import FLYPAPER, connect as socket_to, make_schema_6
from test_escape import assert_html_safe, assert_terminal_safe

JA3_A = "771,4865-4866-4867-49195-49199,0-23-65281-10-11-35-16-5-13-18-51-45-43,29-23-24,0"
MD5_A = "a" * 32
JA3_B = "771,49195-49199-52393,0-10-11-13,23-24,0"
MD5_B = "b" * 32
JA4_X = "t13d1516h2_8daaf6152771_e5627efa2ab1"


def report(dbs, fmt, *extra):
    args = [FLYPAPER, "report", "--format", fmt, *extra]
    for db in dbs if isinstance(dbs, list) else [dbs]:
        args += ["--db", db]
    r = subprocess.run(args, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def new_db(daemons, tmp_path, name="flypaper.db"):
    """A real, empty flypaper database of the current schema."""
    d = daemons(db=str(tmp_path / name))
    assert d.stop() == 0
    return d.db


SEQ = [0]


def plant(con, src, day="2026-11-27", hour=5, payload=True, **tls):
    """One session from src with the TLS columns given."""
    SEQ[0] += 1
    ts = f"{day}T{hour:02d}:00:{SEQ[0] % 60:02d}.000000Z"
    row = dict(session=f"s{SEQ[0]:06d}", sensor="t", start_ts=ts, end_ts=ts, src_ip=src,
               src_port=40000 + SEQ[0] % 20000, dst_ip="127.0.0.1", dst_port=443,
               bytes_in=18 if payload else 0, bytes_out=0,
               first_byte_ms=5 if payload else None, duration_ms=10,
               close_reason="peer_fin", closed_by="peer", truncated=0, mode="serve",
               class_state="done")
    row.update(tls)
    names = ", ".join(row)
    con.execute(f"INSERT INTO sessions({names}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()))


def plant_mix(db):
    con = sqlite3.connect(db)
    # 10.0.0.1: three hellos of JA3 A (TLS 1.3 offered), a family, payloads
    for _ in range(3):
        plant(con, "10.0.0.1", tls="hello", tls_hello_ver=0x0303, tls_versions="0a0a,0304,0303",
              ja3=JA3_A, ja3_md5=MD5_A, ja4=JA4_X, tls_sni="example.com", family="zgrab")
    # 10.0.0.2: JA3 A again, no SNI, no supported_versions: TLS 1.2 by its
    # legacy_version; handshake-only, the next day
    plant(con, "10.0.0.2", day="2026-11-28", payload=False, tls="hello", tls_hello_ver=0x0303,
          ja3=JA3_A, ja3_md5=MD5_A, ja4=JA4_X)
    # 10.0.0.3 on a TLS front: completed (negotiated 1.2 though 1.3 was
    # offered), a peer that left after the certificate, a plain-HTTP peer
    plant(con, "10.0.0.3", tls="hello", tls_versions="0304,0303", ja3=JA3_B, ja3_md5=MD5_B,
          tls_sni="www.example.org", tls_front=1, tls_version="TLSv1.2", tls_error=None)
    plant(con, "10.0.0.3", payload=False, tls="hello", tls_versions="0304", ja3=JA3_B,
          ja3_md5=MD5_B, tls_sni="www.example.org", tls_front=1, tls_error="peer_alert",
          tls_alert="unknown_ca")
    plant(con, "10.0.0.3", tls_front=1, tls_error="not_tls")
    # odd hellos, and a session with no TLS at all (not counted)
    plant(con, "10.0.0.4", payload=False, tls="sslv2", tls_hello_ver=2)
    plant(con, "10.0.0.4", payload=False, tls="malformed", tls_record_ver=0x0301)
    plant(con, "10.0.0.5")
    con.commit()
    con.close()


def text_tls(text):
    """The TLS section's lines of the text report."""
    return text.split("\ntls (", 1)[1].split("\n\n", 1)[0]


def html_table(html, tid):
    table = re.search(rf'<table id="{tid}">.*?</table>', html, re.S).group(0)
    return re.findall(r"<tr><td[^>]*>(.*?)</td><td>(\d+)</td>", table)


def test_tls_counts_agree_in_every_format(daemons, tmp_path):
    db = new_db(daemons, tmp_path)
    plant_mix(db)

    t = json.loads(report(db, "json"))["tls"]
    assert (t["sessions"], t["hellos"]) == (9, 8), t
    assert t["states"] == {"hello": 6, "sslv2": 1, "partial": 0, "malformed": 1,
                           "oversized": 0, "other": 0}, t["states"]
    assert t["front"]["sessions"] == 3
    assert t["front"]["outcomes"] == {"completed": 1, "not_tls": 1, "peer_closed": 0,
                                      "peer_reset": 0, "peer_alert": 1, "timeout": 0,
                                      "protocol": 0, "other": 0}, t["front"]
    # negotiated wins over offered; the malformed hello tells no version
    assert t["versions"] == {"SSLv2": 1, "SSLv3": 0, "TLSv1.0": 0, "TLSv1.1": 0,
                             "TLSv1.2": 2, "TLSv1.3": 4, "unknown": 1}, t["versions"]
    assert t["versions_by_day"] == [
        {"day": "2026-11-27", "versions": {"SSLv2": 1, "TLSv1.2": 1, "TLSv1.3": 4,
                                           "unknown": 1}},
        {"day": "2026-11-28", "versions": {"TLSv1.2": 1}}], t["versions_by_day"]
    ja3 = t["ja3"]
    assert (ja3["distinct"], ja3["without"], ja3["over_cap"]) == (2, 2, 0), ja3
    a, b = ja3["top"]
    assert a == {"ja3_md5": MD5_A, "sessions": 4, "sources": 2,
                 "families": [["zgrab", 3], ["none", 1]],
                 "classes": {"payload": 3, "handshake-only": 1},
                 "ja3": JA3_A[:64], "ja3_cut": True}, a
    assert (b["ja3_md5"], b["sessions"], b["sources"], b["ja3"], b["ja3_cut"]) == \
        (MD5_B, 2, 1, JA3_B, False), b
    assert [(r["ja4"], r["sessions"], r["sources"]) for r in t["ja4"]["top"]] == \
        [(JA4_X, 4, 2)], t["ja4"]
    assert [(r["sni"], r["sessions"]) for r in t["sni"]["top"]] == \
        [("example.com", 3), ("www.example.org", 2)], t["sni"]
    assert t["sni"]["without"] == 3
    assert [(r["alert"], r["sessions"], r["classes"]) for r in t["alerts"]["top"]] == \
        [("unknown_ca", 1, {"handshake-only": 1})], t["alerts"]

    text = report(db, "text").decode()
    sec = text_tls(text)
    assert sec.startswith("9 sessions began with a TLS handshake"), sec
    assert "hello states: hello 6, sslv2 1, malformed 1\n" in sec, sec
    assert "TLS front: 3 sessions: completed 1, not_tls 1, peer_alert 1\n" in sec, sec
    assert "versions: SSLv2 1, TLSv1.2 2, TLSv1.3 4, unknown 1\n" in sec, sec
    assert re.search(rf"      4 sessions     2 sources  {MD5_A}  {re.escape(JA3_A[:64])}\.\.\.\n"
                     r"      families: zgrab 3, none 1; classes: payload 3, handshake-only 1",
                     sec), sec
    assert "    2026-11-28  TLSv1.2 1" in sec.split("\n"), sec
    assert "  top SNI: 2 distinct; 3 hellos without one\n" in sec, sec

    html = report(db, "html").decode()
    assert html_table(html, "tls-states") == [("hello", "6"), ("sslv2", "1"),
                                               ("malformed", "1")]
    assert html_table(html, "tls-outcomes") == [("completed", "1"), ("not_tls", "1"),
                                                 ("peer_alert", "1")]
    rows = html_table(html, "tls-ja3")
    assert [(r[0].split(" ")[0], r[1]) for r in rows] == [(MD5_A, "4"), (MD5_B, "2")], rows
    assert html_table(html, "tls-sni") == [("example.com", "3"), ("www.example.org", "2")]
    svg = re.search(r'<svg id="chart-tls-versions".*?</svg>', html, re.S).group(0)
    assert sorted(re.findall(r"<title>([^<]*)</title>", svg)) == [
        "2026-11-27 SSLv2: 1", "2026-11-27 TLSv1.2: 1", "2026-11-27 TLSv1.3: 4",
        "2026-11-27 unknown: 1", "2026-11-28 TLSv1.2: 1"], svg


def test_tls_hostile_strings_escaped_in_every_format(daemons, tmp_path):
    db = new_db(daemons, tmp_path)
    con = sqlite3.connect(db)
    sni = b"<script>alert(1)</script>\x00\x07\x1b[2J\x1b]0;owned\x07\xff\xfe\r\nx"
    plant(con, "10.0.0.9", tls="hello", ja3="771,\x1b[31m<b>", ja3_md5="<i>\x00\x9b",
          ja4="t13\x1b[0m</td>")
    con.execute("UPDATE sessions SET tls_sni = CAST(? AS TEXT), "
                "tls_alert = CAST(? AS TEXT), tls_front = 1, tls_error = CAST(? AS TEXT), "
                "tls_version = CAST(? AS TEXT), start_ts = CAST(? AS TEXT)",
                (sni, b"\x1b[5m<blink>", b"\x00peer", b"TLSv1.3\x00", b"2026-11-2\x1b<"))
    con.commit()
    con.close()

    t = json.loads(report(db, "json", "--until", "Z"))["tls"]
    (row,) = t["sni"]["top"]
    assert row["sni"].startswith("<script>alert(1)</script>\\x00\\x07\\x1b[2J"), row
    assert "\\xff\\xfe\\x0d\\x0a" in row["sni"], row
    assert t["front"]["outcomes"]["other"] == 1        # "\0peer" is no error name
    assert t["versions"]["unknown"] == 1               # "TLSv1.3\0" is no version
    assert t["alerts"]["top"][0]["alert"] == "\\x1b[5m<blink>"
    strings = []

    def walk(v):
        if isinstance(v, str):
            strings.append(v)
        elif isinstance(v, dict):
            strings.extend(v)
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(t)
    assert all(0x20 <= ord(c) < 0x7f for s in strings for c in s), strings

    text = report(db, "text", "--until", "Z")
    assert_terminal_safe(text, "text")
    assert b"<script>alert(1)</script>\\x00\\x07\\x1b[2J" in text
    html = report(db, "html", "--until", "Z")
    assert_html_safe(html)
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;\\x00" in html
    assert b"t13\\x1b[0m&lt;/td&gt;" in html


def test_tls_tables_are_capped(daemons, tmp_path):
    db = new_db(daemons, tmp_path)
    con = sqlite3.connect(db)
    n = 5000                                # past REPORT_TLS_KEYS (4096)
    rows = [(f"c{i:06d}", "t", f"2026-11-27T05:{i % 60:02d}:00Z", f"2026-11-27T05:{i % 60:02d}:00Z",
             f"10.1.{i // 250}.{i % 250}", 1, "127.0.0.1", 443, 0, 0, 1, "peer_fin", 0, "serve",
             "hello", f"{i:032x}", f"sni-{i}.example", "x" * 300)
            for i in range(n)]
    con.executemany("INSERT INTO sessions(session, sensor, start_ts, end_ts, src_ip, src_port, "
                    "dst_ip, dst_port, bytes_in, bytes_out, duration_ms, close_reason, "
                    "truncated, mode, tls, ja3_md5, tls_sni, ja4) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    # one JA3 counted many times, met first: it leads the table
    con.execute("UPDATE sessions SET ja3_md5 = ? WHERE session < 'c000100'", (MD5_A,))
    con.commit()
    con.close()
    t = json.loads(report(db, "json"))["tls"]
    ja3 = t["ja3"]
    assert ja3["distinct"] == 4096 and ja3["over_cap"] == n - 100 - 4095, ja3
    assert len(ja3["top"]) == 10 and ja3["top"][0]["ja3_md5"] == MD5_A
    assert ja3["top"][0]["sessions"] == 100 and ja3["top"][0]["sources"] == 100
    assert t["sni"]["distinct"] == 4096 and t["sni"]["over_cap"] == n - 4096
    # a 300-byte value is kept cut to 128 bytes: all one JA4
    assert t["ja4"]["distinct"] == 1 and t["ja4"]["top"][0]["ja4"] == "x" * 128
    text = report(db, "text").decode()
    assert f"{n - 100 - 4095} sessions past the first 4096 values not counted" in text


def test_tls_merged_databases_one_before_schema_8(daemons, tmp_path):
    a = new_db(daemons, tmp_path, "a.db")
    b = new_db(daemons, tmp_path, "b.db")
    old = new_db(daemons, tmp_path, "old.db")
    plant_mix(a)
    plant_mix(b)
    con = sqlite3.connect(old)
    plant(con, "10.9.9.9")
    con.commit()
    con.close()
    make_schema_6(old)
    one = json.loads(report(a, "json"))["tls"]
    both = json.loads(report([a, b, old], "json"))
    t = both["tls"]
    assert both["sessions"] == 2 * 10 + 1
    assert t["sessions"] == 2 * one["sessions"] and t["hellos"] == 2 * one["hellos"]
    assert t["states"] == {k: 2 * v for k, v in one["states"].items()}
    assert t["versions"] == {k: 2 * v for k, v in one["versions"].items()}
    assert [(r["ja3_md5"], r["sessions"], r["sources"]) for r in t["ja3"]["top"]] == \
        [(MD5_A, 8, 2), (MD5_B, 4, 1)]


def curl(port, *args, host="bench.example", path="/"):
    return subprocess.run(["curl", "-sS", "-o", "/dev/null", "--max-time", "10", "--http1.1",
                           "--resolve", f"{host}:{port}:127.0.0.1", *args,
                           f"https://{host}:{port}{path}"], capture_output=True, timeout=30)


def s_client(port, sni, *args):
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                           "-servername", sni, "-ign_eof", *args],
                          input=b"GET /s HTTP/1.0\r\n\r\n", capture_output=True, timeout=30)


def test_tls_report_from_real_handshakes(daemons, tmp_path):
    """curl and openssl s_client to a TLS front and to a plain listener,
    two sensors merged: the report's counts are what the databases hold
    and what was sent; the JSON lines carry the same facts."""
    jsonl = tmp_path / "front.jsonl"
    front = daemons(db=str(tmp_path / "front.db"),
                    args=["--tls", "--respond", "http-iis5", "--rules", "none",
                          "--jsonl", str(jsonl)])
    plain = daemons(db=str(tmp_path / "plain.db"), args=["--rules", "none", "--idle-timeout", "2s"])
    p = front.port
    for _ in range(2):
        assert curl(p, "-k").returncode == 0
    assert curl(p, "-k", "--tls-max", "1.2").returncode == 0
    assert curl(p).returncode != 0                 # our certificate refused: an alert
    s_client(p, "other.example", "-alpn", "h2,http/1.1")   # exits 1: no close_notify
    with socket_to(p) as s:                        # plain HTTP on the TLS listener
        s.sendall(b"GET /plain HTTP/1.0\r\n\r\n")
        s.recv(4096)
    s_client(plain.port, "plain.example")          # a TLS peer on a plain listener
    front.wait_sessions(6)
    plain.wait_sessions(1)
    assert front.stop() == 0 and plain.stop() == 0

    t = json.loads(report([front.db, plain.db], "json"))["tls"]
    assert (t["sessions"], t["hellos"], t["front"]["sessions"]) == (7, 6, 6), t
    out = t["front"]["outcomes"]
    assert (out["completed"], out["peer_alert"], out["not_tls"]) == (4, 1, 1), out
    assert t["versions"]["TLSv1.2"] == 1 and t["versions"]["TLSv1.3"] == 5, t["versions"]
    assert [(r["sni"], r["sessions"]) for r in t["sni"]["top"]] == \
        [("bench.example", 4), ("other.example", 1), ("plain.example", 1)], t["sni"]
    (alert,) = t["alerts"]["top"]
    assert alert["alert"] in ("unknown_ca", "bad_certificate"), alert
    # JA3 and JA4 rows: what the two databases hold, grouped
    want = {}
    for db in (front.db, plain.db):
        for md5, n in sqlite3.connect(db).execute(
                "SELECT ja3_md5, count(*) FROM sessions WHERE ja3_md5 IS NOT NULL GROUP BY 1"):
            want[md5] = want.get(md5, 0) + n
    assert sum(want.values()) == 6 and len(want) >= 2, want   # curl's 1.2-only hello differs
    assert {r["ja3_md5"]: r["sessions"] for r in t["ja3"]["top"]} == want, t["ja3"]
    assert all(re.fullmatch(r"[0-9a-f]{32}", m) for m in want)
    assert sum(r["sessions"] for r in t["ja4"]["top"]) == 6, t["ja4"]
    assert all(r["ja4"].startswith(("t13", "t12")) for r in t["ja4"]["top"]), t["ja4"]

    text = report([front.db, plain.db], "text").decode()
    assert "  TLS front: 6 sessions: completed 4, not_tls 1, peer_alert 1\n" in text, text
    html = report([front.db, plain.db], "html").decode()
    assert ("bench.example", "4") in html_table(html, "tls-sni")

    # the JSON lines of the front's sensor carry the facts the report read
    events = [e for e in map(json.loads, open(jsonl))
              if e["eventid"] == "flypaper.session.closed"]
    assert len(events) == 6
    rows = {r[0]: r[1:] for r in sqlite3.connect(front.db).execute(
        "SELECT src_port, ja3_md5, ja4, tls_sni, tls_version, tls_error FROM sessions")}
    for e in events:
        assert (e["ja3_md5"], e["ja4"], e["tls_sni"], e["tls_version"], e["tls_error"]) == \
            rows[e["src_port"]], e
