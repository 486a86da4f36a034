"""--metrics: the Prometheus text format on GET /metrics, scraped by
Debian's real prometheus server, whose HTTP API must return the numbers
the database holds; hostile requests to the metrics port; confinement;
bad values exit 2."""
import json
import os
import re
import resource
import select
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest

from conftest import (FLYPAPER, connect_from, free_port, query, read_until_close,
                      send_and_close, send_from, wait_for)
from test_privileges import service_user  # noqa: F401 (the fixture)



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
                      "--max-conns-per-source", "1", "--idle-timeout", "5s",
                      "--ident", "always", "--ident-port", str(ident_port),
                      "--ident-timeout", "2s"))
    port = metrics_port(d)
    # each from its own address: the client sees the close a moment before
    # the daemon's per-source count drops, so a next one from the same
    # address could be refused
    for i in range(5):
        send_from(d.port, "127.0.0.%d" % (20 + i), b"GET /%d HTTP/1.0\r\n\r\n" % i)
    # one held open from 127.0.0.7 (longer than a rendering of /metrics
    # lives: the idle timeout is 5 s), then a second from it is refused;
    # accepted counts it in (an earlier session may still look open a moment)
    held = connect_from(d.port, "127.0.0.7")
    wait_for(lambda: (lambda s: s[("flypaper_accepted_total", frozenset())] >= 6 and
                      s[("flypaper_open_sessions", frozenset())] >= 1)(samples(get(port)[2])),
             what="the held session")
    extra = connect_from(d.port, "127.0.0.7")
    # held stays open until the refusal is seen: the other worker may take
    # extra from its backlog only after held's close otherwise
    wait_for(lambda: samples(get(port)[2])[("flypaper_refused_total", frozenset(
        {("limit", "max_conns_per_source")}))] >= 1, what="the second refused")
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


class Holder(threading.Thread):
    """The review's slowloris (M1): per_source idle connections from each
    address in sources, each reopened as soon as the server cuts it, until
    stop() (or 120 s). reopened counts the cuts seen."""

    def __init__(self, port, sources, per_source):
        super().__init__(daemon=True)
        self.port, self.sources, self.per_source = port, sources, per_source
        self.conns = {}
        self.reopened = 0
        self.done = threading.Event()

    def open_one(self, src):
        c = socket.socket()
        c.setblocking(False)
        c.bind((src, 0))
        c.connect_ex(("127.0.0.1", self.port))
        self.conns[c] = src

    def run(self):
        for src in self.sources:
            for _ in range(self.per_source):
                self.open_one(src)
        t0 = time.monotonic()
        while not self.done.is_set() and time.monotonic() - t0 < 120:
            readable, _, _ = select.select(list(self.conns), [], [], 0.01)
            for c in readable:
                try:
                    data = c.recv(1)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data == b"":
                    src = self.conns.pop(c)
                    c.close()
                    self.open_one(src)
                    self.reopened += 1
        for c in self.conns:
            c.close()

    def stop(self):
        self.done.set()
        self.join(timeout=30)


def scrape_from(port, src):
    """One GET /metrics from src; True when it was answered 200."""
    try:
        s = connect_from(port, src, timeout=5)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        got = read_until_close(s)
        s.close()
    except OSError:
        return False
    return got.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("sources,per_source", [
    (["127.0.0.2"], 10),                                    # one address
    (["127.0.0.%d" % i for i in range(2, 8)], 3),           # six, 18 > the 8 slots
], ids=["one-address", "six-addresses"])
def test_idle_reconnecting_connections_do_not_keep_a_scraper_out(daemons, sources, per_source):
    d = daemons(args=("--metrics", "127.0.0.1:0"))
    port = metrics_port(d)
    holder = Holder(port, sources, per_source)
    holder.start()
    try:
        # the table is full and the server is cutting them (more than fit)
        wait_for(lambda: holder.reopened >= 20, timeout=30, what="the holder to be cut and reconnect")
        answered = 0
        for _ in range(40):
            answered += scrape_from(port, "127.0.0.9")
            time.sleep(0.05)
    finally:
        holder.stop()
    assert answered >= 35, f"{answered} of 40 scrapes answered"
    s = samples(get(port)[2])
    assert s[("flypaper_metrics_refused_total", frozenset())] >= 20


def test_a_request_head_has_a_second(daemons):
    """A trickled head (a byte every 0.2 s) is cut at its head deadline (1 s),
    long before the 5 s a connection has in all; the bound is generous."""
    d = daemons(args=("--metrics", "127.0.0.1:0"))
    port = metrics_port(d)
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.settimeout(0.2)
    t0 = time.monotonic()
    cut = False
    for b in b"GET /metrics HTTP/1.1\r\nX-Slow: " + b"a" * 100:
        try:
            c.send(bytes([b]))
            if c.recv(1) == b"":
                cut = True
                break
        except socket.timeout:
            continue
        except OSError:
            cut = True
            break
    elapsed = time.monotonic() - t0
    c.close()
    assert cut and elapsed < 3.5, (cut, elapsed)


def test_answers_come_from_a_rendering_at_most_a_second_old(daemons):
    """A scrape flood costs one rendering a second (L2): back-to-back scrapes
    get the same bytes (process_cpu_seconds_total alone would differ between
    two renderings), at most one new rendering per second that passed; and
    the numbers do move on."""
    d = daemons(args=("--metrics", "127.0.0.1:0"))
    port = metrics_port(d)
    t0 = time.monotonic()
    bodies = [get(port)[2] for _ in range(30)]
    elapsed = time.monotonic() - t0
    assert len(set(bodies)) <= int(elapsed) + 2, (len(set(bodies)), elapsed)
    send_and_close(d.port, b"fresh")
    d.wait_sessions(1)
    wait_for(lambda: sum(v for (n, _), v in samples(get(port)[2]).items()
                         if n == "flypaper_sessions_total") == 1, what="the session, a second later")


def thread_cpu(pid):
    """{thread id: CPU ticks used} of pid."""
    out = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            st = open(f"/proc/{pid}/task/{t}/stat").read()
        except OSError:
            continue
        f = st[st.rindex(")") + 2:].split()
        out[t] = int(f[11]) + int(f[12])
    return out


def test_an_accept_error_pauses_the_metrics_port(daemons):
    """With no fd left (the soft RLIMIT_NOFILE lowered under the daemon), a
    connection waiting on the metrics port makes accept fail with EMFILE:
    the thread stops polling the port for 100 ms each time instead of
    spinning (L6), logs it once, counts it, and answers once fds are back."""
    d = daemons(args=("--metrics", "127.0.0.1:0"))
    port = metrics_port(d)
    pid = d.proc.pid
    used = {int(x) for x in os.listdir(f"/proc/{pid}/fd")}
    lowest_free = min(i for i in range(len(used) + 1) if i not in used)
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    hz = os.sysconf("SC_CLK_TCK")
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (lowest_free, hard))
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
        t0 = time.monotonic()
        before = thread_cpu(pid)
        wait_for(lambda: time.monotonic() - t0 > 3, what="3 s with the fds used up")
        after, window = thread_cpu(pid), time.monotonic() - t0
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    paused = time.monotonic() - t0
    busiest = max(after[t] - before.get(t, 0) for t in after) / hz
    # a spinning thread takes most of a core; a paused one next to nothing
    assert busiest < 0.3 * window, (busiest, window)
    assert "metrics: accept: Too many open files" in d.text(), d.text()
    got = read_until_close(c)
    c.close()
    assert got.startswith(b"HTTP/1.1 200"), got[:100]
    errors = samples(got.split(b"\r\n\r\n", 1)[1].decode())[
        ("flypaper_metrics_accept_errors_total", frozenset())]
    assert 1 <= errors <= 20 * paused + 5, (errors, paused)
    assert d.text().count("metrics: accept:") == 1, d.text()


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
