"""--metrics: the Prometheus text format on GET /metrics, scraped by
Debian's real prometheus server, whose HTTP API must return the numbers
the database holds; hostile requests to the metrics port; confinement;
bad values exit 2."""
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import FLYPAPER, connect_from, query, send_and_close, wait_for
from test_privileges import service_user  # noqa: F401 (the fixture)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def metrics_port(d):
    m = re.search(r"metrics: serving http://127\.0\.0\.1:(\d+)/metrics", d.text())
    assert m, d.text()
    return int(m.group(1))


def get(port, path="/metrics", method="GET"):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def samples(text):
    """{(name, frozenset(labels)): value} of a /metrics answer."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)', line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def test_format_and_answers(daemons):
    d = daemons(args=("--metrics", "127.0.0.1:0", "--respond", "banner"))
    port = metrics_port(d)
    send_and_close(d.port, b"hello")
    d.wait_sessions(1)
    status, headers, body = get(port)
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    # every family has HELP and TYPE before its samples; counters end _total
    families = re.findall(r"^# TYPE (\S+) (\S+)$", body, re.M)
    assert len(families) == len(set(f for f, _ in families)) > 20
    for name, kind in families:
        assert f"# HELP {name} " in body
        if kind == "counter":
            assert name.endswith("_total"), name
    s = samples(body)
    wait_for(lambda: samples(get(port)[2])[("flypaper_sessions_total", frozenset(
        {("close_reason", "peer_fin"), ("strategy", "banner")}))] == 1, what="one session")
    assert s[("flypaper_build_info", frozenset({("version", "0.1.0")}))] == 1
    assert get(port, "/")[0] == 404
    assert get(port, "/metrics", "POST")[0] == 405
    status, _, body = get(port, "/metrics", "HEAD")
    assert status == 200 and body == ""


def test_prometheus_scrapes_the_database_counts(daemons, tmp_path):
    prom = shutil.which("prometheus")
    assert prom, "prometheus is a test dependency (scripts/deps)"
    ident_port = free_port()          # nothing listens: probes are refused
    d = daemons(args=("--metrics", "127.0.0.1:0", "--respond", "http-iis5",
                      "--max-conns-per-source", "1", "--idle-timeout", "300ms",
                      "--ident", "always", "--ident-port", str(ident_port),
                      "--ident-timeout", "2s"))
    port = metrics_port(d)
    for i in range(5):
        send_and_close(d.port, b"GET /%d HTTP/1.0\r\n\r\n" % i)
    # one held open from 127.0.0.7, then a second from it is refused
    held = connect_from(d.port, "127.0.0.7")
    wait_for(lambda: samples(get(port)[2])[("flypaper_open_sessions", frozenset())] >= 1,
             what="the held session")
    extra = connect_from(d.port, "127.0.0.7")
    extra.close()
    held.close()
    d.wait_sessions(7)
    # one probe per source a minute (--ident-interval): at least one outcome
    wait_for(lambda: any(r["ident_status"] != "none" for r in d.sessions()),
             what="an IDENT outcome")

    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                   "scrape_configs:\n  - job_name: flypaper\n    static_configs:\n"
                   f"      - targets: ['127.0.0.1:{port}']\n")
    web = free_port()
    log = open(tmp_path / "prometheus.log", "wb")
    p = subprocess.Popen([prom, f"--config.file={cfg}",
                          f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                          f"--web.listen-address=127.0.0.1:{web}"],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        def api(q):
            url = (f"http://127.0.0.1:{web}/api/v1/query?"
                   + urllib.parse.urlencode({"query": q}))
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    data = json.load(r)
            except OSError:
                return None
            assert data["status"] == "success", data
            return data["data"]["result"]

        def by(q, label):
            res = api(q)
            return {x["metric"].get(label, ""): float(x["value"][1]) for x in res or []}

        rows = d.sessions()
        want_reason = {}
        for r in rows:
            want_reason[r["close_reason"]] = want_reason.get(r["close_reason"], 0) + 1
        want_total = len(rows)
        got = wait_for(lambda: (lambda v: v if v.get("", -1) == want_total else None)(
            by("sum(flypaper_sessions_total)", "")), timeout=60,
            what="prometheus to scrape every session")
        assert got[""] == want_total
        reasons = {k: v for k, v in by("sum by (close_reason) (flypaper_sessions_total)",
                                      "close_reason").items() if v}
        assert reasons == want_reason, (reasons, want_reason)
        strategies = by("sum by (strategy) (flypaper_sessions_total)", "strategy")
        db_strategies = dict(query(d.db, "SELECT strategy, count(*) FROM sessions "
                                         "GROUP BY strategy"))
        assert {k: v for k, v in strategies.items() if v} == db_strategies
        refused = by("flypaper_refused_total", "limit")
        assert refused["max_conns_per_source"] == query(
            d.db, "SELECT count(*) FROM sessions WHERE limit_hit = 'max_conns_per_source'")[0][0] == 1
        idents = {k: v for k, v in by("flypaper_ident_probes_total", "outcome").items() if v}
        db_idents = dict(query(d.db, "SELECT ident_status, count(*) FROM sessions "
                                     "WHERE ident_status != 'none' GROUP BY 1"))
        assert idents == db_idents and db_idents, (idents, db_idents)
        bytes_in = by("flypaper_bytes_received_total", "")[""]
        assert bytes_in == query(d.db, "SELECT sum(bytes_in) FROM sessions")[0][0]
        assert by("flypaper_sink_lost_total", "sink") == {"store": 0}
    finally:
        p.terminate()
        p.wait(timeout=30)
        log.close()
    d.stop()
    run = query(d.db, "SELECT metrics_scrapes FROM runs")[0][0]
    assert run >= 2


def test_hostile_requests_neither_hang_nor_grow(daemons):
    d = daemons(args=("--metrics", "127.0.0.1:0"))
    port = metrics_port(d)
    rss0 = int(open(f"/proc/{d.proc.pid}/statm").read().split()[1])
    # a head past the cap: 400, then closed
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /metrics HTTP/1.1\r\n" + b"X: " + b"a" * 8000 + b"\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 400")
    s.close()
    # binary
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(bytes(range(256)) * 4 + b"\n\n")
    assert s.recv(100).startswith(b"HTTP/1.1 400")
    s.close()
    # slowloris: more than the connection cap, each sending a byte now and then;
    # scrapes still answer, and the slow ones are cut at their deadline
    slow = []
    for _ in range(12):
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.sendall(b"G")
        slow.append(c)
    cut = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 20 and cut < len(slow):
        cut = 0
        for c in slow:
            try:
                c.settimeout(0.05)
                c.sendall(b"E")
                if c.recv(1) == b"":
                    cut += 1
            except socket.timeout:
                pass
            except OSError:
                cut += 1
        time.sleep(0.2)
    assert cut == len(slow), "slow connections outlived their deadline"
    for c in slow:
        c.close()
    status, _, body = get(port)
    assert status == 200
    assert samples(body)[("flypaper_metrics_refused_total", frozenset())] >= len(slow) + 2
    for _ in range(200):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /metrics HTTP/1.1\r\n" + os.urandom(3000))
        s.close()
    assert get(port)[0] == 200
    rss1 = int(open(f"/proc/{d.proc.pid}/statm").read().split()[1])
    assert (rss1 - rss0) * 4096 < 8 << 20, (rss0, rss1)


def test_confined_as_the_service_user(service_user, daemons):  # noqa: F811
    pw, state = service_user
    d = daemons(db=str(state / "fp.db"), args=["--user", pw.pw_name, "--metrics", "127.0.0.1:0"])
    assert "sandbox: seccomp allow-list" in d.text()
    port = metrics_port(d)
    send_and_close(d.port, b"confined")
    d.wait_sessions(1)
    wait_for(lambda: sum(v for (n, _), v in samples(get(port)[2]).items()
                         if n == "flypaper_sessions_total") == 1, what="the count, confined")
    assert d.proc.poll() is None, d.text()


def test_tls_handshakes_are_counted(daemons):
    d = daemons(args=("--metrics", "127.0.0.1:0", "--tls", "--respond", "http-iis5",
                      "--idle-timeout", "500ms"))
    port = metrics_port(d)
    r = subprocess.run(["curl", "-sk", "--max-time", "10", "-o", "/dev/null",
                        f"https://127.0.0.1:{d.port}/tls"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    send_and_close(d.port, b"GET / HTTP/1.0\r\n\r\n")      # not TLS: a failure
    d.wait_sessions(2)
    s = wait_for(lambda: (lambda v: v if v[("flypaper_tls_failures_total", frozenset())] else None)(
        samples(get(port)[2])), what="the failed handshake")
    assert s[("flypaper_tls_handshakes_total", frozenset())] == 1
    assert s[("flypaper_tls_failures_total", frozenset())] == 1
    d.stop()
    assert query(d.db, "SELECT tls_handshakes, tls_failed FROM runs") == [(1, 1)]


@pytest.mark.parametrize("value", ["nowhere", "127.0.0.1", "127.0.0.1:99999", "", "[::1]"])
def test_bad_metrics_values_exit_2(value, tmp_path):
    r = subprocess.run([FLYPAPER, "serve", "--db", str(tmp_path / "x.db"), "--metrics", value],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stderr
    assert "metrics" in r.stderr, r.stderr


def test_metrics_port_in_use_exits_2(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    r = subprocess.run([FLYPAPER, "serve", "--db", str(tmp_path / "x.db"), "--listen",
                        "127.0.0.1:0", "--metrics", f"127.0.0.1:{port}"],
                       capture_output=True, text=True, timeout=30)
    s.close()
    assert r.returncode == 2, r.stderr
    assert "metrics: cannot bind" in r.stderr, r.stderr
