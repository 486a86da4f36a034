"""End to end: start serve, run each sim scenario over real TCP, then check
what report finds (bursts, classes, families) against what was sent; the
YARA rules each match their own scenario and no other; rescan and classify;
the HTML report rendered in headless Chromium."""
import json
import re
import subprocess
from html import unescape

from conftest import FLYPAPER, ROOT, headless, query, render_dom


def sim(scenario, port, *args, timeout=120):
    r = subprocess.run([FLYPAPER, "sim", scenario, "--target", f"127.0.0.1:{port}", *args],
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return dict(kv.split("=", 1) for kv in r.stdout.split() if "=" in kv)


def report(*dbs, fmt="json", extra=()):
    args = [FLYPAPER, "report", "--format", fmt, *extra]
    for db in dbs:
        args += ["--db", db]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout) if fmt == "json" else r.stdout


def sessions_settled(d, n):
    d.wait_sessions(n, timeout=60)
    assert d.stop() == 0


# Each scenario, the family its sessions must be (None: no family), and how
# many connections one source makes against an http-iis5 flypaper.
SCENARIOS = [
    ("codered1", "codered", 1), ("codered2", "codered", 1),
    ("nimda", "nimda", 3),                 # root.exe gets a 200: then tftp, Admin.dll
    ("masscan-banner", "masscan", 1), ("zgrab", "zgrab", 1), ("spider", "spider", 3),
    ("mozi-netgear", "mirai", 1), ("gpon", "mirai", 1), ("thinkphp", "thinkphp", 1),
    ("phpunit", "phpunit", 3), ("log4shell", "log4shell", 1), ("env-probe", "secrets", 3),
]


def test_each_scenario_gets_its_family_and_no_other(daemons):
    d = daemons(args=["--respond", "http-iis5", "--idle-timeout", "2s"])
    for i, (scenario, _, _) in enumerate(SCENARIOS):
        out = sim(scenario, d.port, "--sources", "2", "--reply-timeout", "300ms",
                  "--bind-range", f"127.0.{30 + i}.1-127.0.{30 + i}.2")
        assert int(out["failed"]) == 0
    total = sum(2 * n for _, _, n in SCENARIOS)
    sessions_settled(d, total)
    rows = query(d.db, "SELECT s.src_ip, group_concat(m.tags, '|') FROM sessions s "
                       "LEFT JOIN matches m ON m.session = s.session GROUP BY s.session")
    for i, (scenario, family, per_source) in enumerate(SCENARIOS):
        mine = [tags for ip, tags in rows if ip.startswith(f"127.0.{30 + i}.")]
        assert len(mine) == 2 * per_source, (scenario, mine)
        for tags in mine:
            families = {t.split()[0] for t in (tags or "").split("|") if t}
            assert families == {family}, (scenario, tags)
    stages = {r[0] for r in query(d.db, "SELECT rule FROM matches WHERE tags LIKE 'nimda%'")}
    assert stages == {"nimda_scan", "nimda_tftp", "nimda_admin"}


def test_nimda_bursts_and_the_filtered_variant(daemons):
    d = daemons(args=["--idle-timeout", "3s"])       # silent: no 200, the whole burst
    sim("nimda", d.port, "--sources", "3", "--reply-timeout", "200ms",
        "--bind-range", "127.0.60.1-127.0.60.3")
    sim("nimda14", d.port, "--sources", "1", "--reply-timeout", "200ms",
        "--bind-range", "127.0.61.1-127.0.61.1")
    sim("filtered-nimda", d.port, "--sources", "2", "--reply-timeout", "200ms",
        "--bind-range", "127.0.62.1-127.0.62.2")
    sessions_settled(d, 3 * 16 + 14 + 2 * 16)
    r = report(d.db)
    assert r["bursts"]["size_histogram"] == {"16": 5, "14": 1}
    by_src = {s["src_ip"]: s for s in r["bursts"]["top_sources"]}
    for ip in ("127.0.60.1", "127.0.60.2", "127.0.60.3"):
        assert by_src[ip]["burst_sizes"] == [16] and by_src[ip]["class"] == "payload"
    for ip in ("127.0.62.1", "127.0.62.2"):
        assert by_src[ip]["burst_sizes"] == [16] and by_src[ip]["class"] == "handshake-only"
    assert r["families"]["nimda"] == 3 * 16 + 14
    assert r["classes"]["sessions"]["handshake-only"] == 32
    assert r["sessions"] == 94 and r["sources"] == 6


def test_the_seed_nimda_observation_with_a_speaking_server(daemons):
    """The filtered burst facing a server that speaks: drop-on-data."""
    d = daemons(args=["--respond", "http-iis5", "--respond-delay", "100ms"])
    sim("filtered-nimda", d.port, "--sources", "2", "--reply-timeout", "2s",
        "--bind-range", "127.0.63.1-127.0.63.2")
    sessions_settled(d, 32)
    r = report(d.db)
    assert r["bursts"]["size_histogram"] == {"16": 2}
    assert r["classes"]["sessions"]["drop-on-data"] == 32
    assert r["classes"]["sources"]["drop-on-data"] == 2


def test_ident_shy_drops_on_ident(daemons):
    d = daemons(args=["--ident", "always", "--ident-port", "11300",
                      "--ident-interval", "10ms", "--idle-timeout", "5s"])
    out = sim("ident-shy", d.port, "--sources", "3", "--ident-port", "11300",
              "--hold", "3s", "--bind-range", "127.0.64.1-127.0.64.3")
    assert int(out["dropped_on_ident"]) == 3
    sessions_settled(d, 3)
    r = report(d.db)
    assert r["classes"]["sessions"]["drop-on-ident"] == 3


def test_ident_shy_that_is_never_probed_ends_within_its_hold(daemons):
    """A flypaper that does not probe: ident-shy waits --hold, then leaves;
    it must not wait on its ident port for ever (a blocking accept did)."""
    d = daemons(args=["--ident", "never", "--idle-timeout", "5s"])
    try:
        out = sim("ident-shy", d.port, "--sources", "2", "--ident-port", "11301",
                  "--hold", "500ms", "--duration", "10s",
                  "--bind-range", "127.0.68.1-127.0.68.2", timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError("sim ident-shy still ran 60 s after its 10 s --duration")
    assert out["connections"] == "2" and out["dropped_on_ident"] == "0"
    sessions_settled(d, 2)


def test_silent_waits_forever_and_late_payload(daemons):
    d = daemons(args=["--idle-timeout", "500ms"])
    sim("silent", d.port, "--hold", "3s", "--bind-range", "127.0.65.1-127.0.65.1")
    sim("nmap-like", d.port, "--banner-wait", "2500ms", "--reply-timeout", "200ms",
        "--bind-range", "127.0.66.1-127.0.66.1")
    sessions_settled(d, 3)
    r = report(d.db)
    classes = r["classes"]["sessions"]
    # silent is held until flypaper's timeout; so is nmap's banner wait,
    # which here outlasts the idle timeout; its scripts' request is a payload
    assert classes["waits-forever"] == 2 and classes["payload"] == 1
    d2 = daemons(args=["--idle-timeout", "5s"], db=str(d.tmp / "late.db"))
    sim("nmap-like", d2.port, "--banner-wait", "2500ms", "--reply-timeout", "200ms",
        "--bind-range", "127.0.67.1-127.0.67.1")
    sessions_settled(d2, 2)
    r2 = report(d2.db)
    assert r2["classes"]["sessions"]["late-payload"] == 1
    assert r2["families"]["nmap"] == 1


def test_reports_merge_sensors_and_filter_by_time(daemons, tmp_path):
    a = daemons(db=str(tmp_path / "a.db"), args=["--sensor", "a"])
    sim("masscan-banner", a.port, "--sources", "3", "--reply-timeout", "100ms")
    sessions_settled(a, 3)
    b = daemons(db=str(tmp_path / "b.db"), args=["--sensor", "b"])
    sim("zgrab", b.port, "--sources", "2", "--reply-timeout", "100ms")
    sessions_settled(b, 2)
    r = report(a.db, b.db)
    assert r["sessions"] == 5 and r["families"] == {"masscan": 3, "zgrab": 2}
    assert report(a.db, b.db, extra=["--since", "2999"])["sessions"] == 0
    assert report(a.db, b.db, extra=["--until", "2000"])["sessions"] == 0
    text = report(a.db, b.db, fmt="text")
    assert "5 sessions" in text and re.search(r"masscan\s+3", text)
    r = subprocess.run([FLYPAPER, "report", "--db", str(tmp_path / "missing.db")],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "missing.db" in r.stderr
    r = subprocess.run([FLYPAPER, "report", "--db", a.db, "--since", "x'; DROP"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2


def test_rescan_applies_new_rules_and_classify_reads_files(daemons, tmp_path):
    d = daemons(args=["--rules", "none"])
    sim("log4shell", d.port, "--reply-timeout", "100ms")
    sim("flood", d.port, "--count", "3", "--payload-size", "64")
    sessions_settled(d, 4)
    assert query(d.db, "SELECT count(*) FROM matches") == [(0,)]
    extra = tmp_path / "mine.yar"
    extra.write_text('rule letters : filler { strings: $a = "ABCDEFGHIJ" condition: $a }\n')
    r = subprocess.run([FLYPAPER, "rescan", "--db", d.db, "--rules",
                        f"{ROOT}/rules:{extra}"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rules = sorted(r[0] for r in query(d.db, "SELECT rule FROM matches"))
    assert rules == ["letters"] * 3 + ["log4shell"]
    sample = tmp_path / "req.bin"
    sample.write_bytes(b"GET /.env HTTP/1.1\r\nHost: x\r\n\r\n")
    r = subprocess.run([FLYPAPER, "classify", str(sample)], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 0 and r.stdout.split("\t")[1] == "secrets_probe"
    bad = tmp_path / "bad.yar"
    bad.write_text("rule broken { condition: nope }\n")
    r = subprocess.run([FLYPAPER, "classify", "--rules", str(bad), str(sample)],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and f"{bad}:1:" in r.stderr


def test_sim_refuses_non_loopback_targets():
    r = subprocess.run([FLYPAPER, "sim", "nimda", "--target", "192.0.2.1:80"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "loopback" in r.stderr
    r = subprocess.run([FLYPAPER, "sim", "nope", "--target", "127.0.0.1:1"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "unknown scenario" in r.stderr


def test_html_report_renders_in_headless_chromium(daemons, tmp_path):
    d = daemons(args=["--respond", "http-iis5", "--idle-timeout", "1s"])
    sim("nimda", d.port, "--sources", "2", "--reply-timeout", "200ms")
    sim("gpon", d.port, "--reply-timeout", "200ms")
    sim("silent", d.port, "--hold", "2s")
    sessions_settled(d, 8)
    html = tmp_path / "report.html"
    r = subprocess.run([FLYPAPER, "report", "--db", d.db, "--format", "html", "-o", str(html)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    text = html.read_text()
    assert "<script" not in text and "http://" not in text.split("<body>")[0]
    dom = render_dom(html, tmp_path / "profile")
    for chart in ("chart-timeline", "chart-bursts", "chart-classes", "chart-families",
                  "chart-strategies"):
        m = re.search(rf'<svg id="{chart}".*?</svg>', dom, re.S)
        assert m, f"{chart} missing from the rendered page"
        assert m.group(0).count("<rect") >= 1, chart
    png = tmp_path / "report.png"
    headless(tmp_path / "profile", f"--screenshot={png}", "--window-size=900,1600",
             f"file://{html}")
    assert png.exists() and png.stat().st_size > 10000


def _text_sections(text):
    """The text report's sections: {title: [lines]}, the first line's
    section under "head"."""
    sections = {}
    for block in text.strip("\n").split("\n\n"):
        lines = block.split("\n")
        sections["head" if lines[0].startswith("flypaper report:") else lines[0]] = lines[1:]
    return sections


def _svg_titles(html, chart):
    """{label: value} of one bar chart of the HTML report."""
    svg = re.search(r'<svg id="%s".*?</svg>' % chart, html, re.S).group(0)
    return {k: int(float(v)) for k, v in re.findall(r"<title>([^<]*): ([0-9.e+]+)</title>", svg)}


def test_report_formats_agree_on_the_numbers(daemons):
    """text, JSON and HTML are three renderings of one model: every number
    one of them shows, the others show the same."""
    d = daemons(args=["--idle-timeout", "3s"])
    sim("nimda", d.port, "--sources", "2", "--reply-timeout", "200ms",
        "--bind-range", "127.0.69.1-127.0.69.2")
    sim("filtered-nimda", d.port, "--sources", "1", "--reply-timeout", "200ms",
        "--bind-range", "127.0.69.3-127.0.69.3")
    sim("masscan-banner", d.port, "--sources", "2", "--reply-timeout", "100ms",
        "--bind-range", "127.0.69.4-127.0.69.5")
    sessions_settled(d, 2 * 16 + 16 + 2)
    r = report(d.db)
    text = report(d.db, fmt="text")
    html = report(d.db, fmt="html")
    assert r["sessions"] == 50 and len(r["families"]) >= 2

    sec = _text_sections(text)
    m = re.match(r"flypaper report: (\d+) sessions from (\d+) sources, (\d+) refused", text)
    assert [int(x) for x in m.groups()] == [r["sessions"], r["sources"], r["refused"]]
    m = re.search(r"<p>(\d+) sessions from (\d+) sources; (\d+) bursts; (\d+) refused\.</p>", html)
    assert [int(x) for x in m.groups()] == [r["sessions"], r["sources"], r["bursts"]["count"],
                                            r["refused"]]
    bursts_title = next(k for k in sec if k.startswith("bursts"))
    assert bursts_title == "bursts (gap 60s): %d" % r["bursts"]["count"]
    hist = dict(line.split() for line in sec[bursts_title][1:])
    assert {k: int(v) for k, v in hist.items()} == r["bursts"]["size_histogram"]
    assert _svg_titles(html, "chart-bursts") == r["bursts"]["size_histogram"]

    def counts(lines):
        return {line.split()[0]: int(line.split()[1]) for line in lines}
    assert counts(sec["behaviour (sessions)"]) == r["classes"]["sessions"]
    assert _svg_titles(html, "chart-classes") == r["classes"]["sessions"]
    assert counts(sec["families (sessions)"]) == r["families"]
    assert _svg_titles(html, "chart-families") == r["families"]

    top = [line.split() for line in sec["top sources"]]
    assert [(t[0], int(t[1]), t[3]) for t in top] == \
        [(s["src_ip"], s["sessions"], s["class"]) for s in r["bursts"]["top_sources"]]
    assert [[int(x) for x in t[5:]] for t in top] == \
        [s["burst_sizes"] for s in r["bursts"]["top_sources"]]
    rows = re.findall(r"<tr><td>([^<]*)</td><td>(\d+)</td><td>(\d+)</td><td>([^<]*)</td></tr>", html)
    assert [(ip, int(n), int(b), c) for ip, n, b, c in rows] == \
        [(s["src_ip"], s["sessions"], s["bursts"], s["class"]) for s in r["bursts"]["top_sources"]]

    yields = [line.split() for line in sec["strategy yield"]]
    assert [(y[0], int(y[1]), y[3]) for y in yields] == \
        [(s["strategy"], s["sessions"], "%.1f%%" % (100 * s["payload_share"]))
         for s in r["strategies"]]
    pays = re.findall(r"<title>sent a payload: ([0-9.]+)%</title>", html)
    assert pays == ["%.1f" % (100 * s["payload_share"]) for s in r["strategies"]]

    timeline = [line.split() for line in sec["timeline (sessions per hour, UTC)"]]
    assert [(h, int(n)) for h, n in timeline] == [(t["hour"], t["sessions"]) for t in r["timeline"]]
    for t in r["timeline"]:
        for c, n in t["by_class"].items():
            assert "<title>%s %s: %d</title>" % (t["hour"], c, n) in html

    for key, title, h2 in (("paths", "top paths", "Top paths"),
                           ("user_agents", "top user agents", "Top user agents")):
        want = [[v[:100], n] for v, n in r["top"][key]]       # text shows 100 bytes
        assert [[line.split(None, 1)[1], int(line.split(None, 1)[0])]
                for line in sec[title]] == want
        table = re.search(r"<h2>%s</h2>\n<table>\n(.*?)</table>" % h2, html, re.S).group(1)
        cells = re.findall(r'<tr><td>(\d+)</td><td style="text-align:left">(.*?)</td></tr>', table)
        assert [[unescape(v), int(n)] for n, v in cells] == r["top"][key]
    assert r["top"]["paths"]

    # techniques: nimda's traversals carry tags, in every format alike
    from test_report_techniques import html_techniques, json_techniques, text_techniques
    assert r["techniques"]["top"]
    head, rows = text_techniques(text)
    assert head.startswith("%d sessions with a technique tag, %d distinct tags"
                           % (r["techniques"]["sessions"], r["techniques"]["distinct"]))
    assert rows == json_techniques(r) == html_techniques(html)
