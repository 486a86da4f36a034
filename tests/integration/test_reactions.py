"""How peers react: response strategies on the wire, HTTP request records,
IDENT probes against real responders, experiments and the yield table."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import (FLYPAPER, ROOT, connect, connect_from, payload_of, query, read_until_close,
                      send_and_close, session_rows, wait_for)


def requests_of(db, session):
    con_rows = query(db, "SELECT seq, method, target, version, host, user_agent, "
                         "headers, body_bytes FROM requests WHERE session = ? ORDER BY seq",
                     (session,))
    keys = ["seq", "method", "target", "version", "host", "user_agent", "headers",
            "body_bytes"]
    return [dict(zip(keys, r)) for r in con_rows]


# ---- strategies on the wire ----------------------------------------------

def test_banner_and_a_peer_that_drops_at_the_first_server_byte(daemons):
    d = daemons(args=["--respond", "banner", "--banner-text", "220 hello\\r\\n"])
    s = connect(d.port)
    assert s.recv(100) == b"220 hello\r\n"
    s.close()                                # leaves at once, like the 2001 worms
    (row,) = d.wait_sessions(1)
    assert row["strategy"] == "banner" and row["bytes_out"] == 11
    assert row["first_out_ms"] is not None and row["closed_by"] == "peer"
    assert row["peer_close_after_out_ms"] is not None
    assert row["peer_close_after_out_ms"] < 1000
    assert row["peer_close_after_ident_ms"] is None and row["ident_status"] == "none"


def test_silent_never_sends_and_has_no_reaction_times(daemons):
    d = daemons(args=["--idle-timeout", "200ms"])
    s = connect(d.port)
    assert read_until_close(s) == b""
    s.close()
    (row,) = d.wait_sessions(1)
    assert row["strategy"] == "silent" and row["first_out_ms"] is None
    assert row["closed_by"] == "server" and row["peer_close_after_out_ms"] is None


def test_tarpit_drips_one_byte_per_interval_and_ignores_the_idle_timeout(daemons):
    d = daemons(args=["--respond", "tarpit", "--tarpit-interval", "100ms",
                      "--idle-timeout", "200ms", "--session-timeout", "1500ms"])
    s = connect(d.port)
    t0 = time.monotonic()
    got = b""
    times = []
    while True:
        chunk = s.recv(100)
        if not chunk:
            break
        got += chunk
        times.append(time.monotonic() - t0)
    s.close()
    assert got.startswith(b"HTTP/1.1 200 OK\r\nX-Pad"[:len(got)]) and len(got) >= 8
    assert times[-1] > 1.0                   # held past the idle timeout
    assert all(b - a > 0.05 for a, b in zip(times, times[1:])), times
    (row,) = d.wait_sessions(1)
    assert row["close_reason"] == "session_timeout" and row["bytes_out"] == len(got)


def test_http_iis5_with_curl_keep_alive(daemons):
    d = daemons(args=["--respond", "http-iis5"])
    r = subprocess.run(["curl", "-sv", "-A", "curl-test/1",
                        f"http://127.0.0.1:{d.port}/", f"http://127.0.0.1:{d.port}/missing"],
                       capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert b"Under Construction" in r.stdout and b"No web site is configured" in r.stdout
    assert b"Server: Microsoft-IIS/5.0" in r.stderr
    assert re.search(rb"Re-using existing connection|Reusing existing connection", r.stderr)
    (row,) = d.wait_sessions(1)                # one connection, two requests
    assert row["requests"] == 2 and row["http"] == "ok"
    reqs = requests_of(d.db, row["session"])
    assert [(q["seq"], q["method"], q["target"]) for q in reqs] == \
        [(1, "GET", "/"), (2, "GET", "/missing")]
    assert reqs[0]["user_agent"] == "curl-test/1" and reqs[0]["host"] == f"127.0.0.1:{d.port}"
    assert reqs[0]["version"] == "HTTP/1.1" and b"Accept: */*" in reqs[0]["headers"]


@pytest.mark.parametrize("strategy,server", [("http-apache", b"Apache/2.4.57"),
                                             ("http-nginx", b"nginx/1.22.1")])
def test_http_personalities(daemons, strategy, server):
    d = daemons(args=["--respond", strategy])
    r = subprocess.run(["curl", "-si", f"http://127.0.0.1:{d.port}/nope"],
                       capture_output=True, timeout=20)
    assert r.stdout.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"Server: " + server in r.stdout
    head, body = r.stdout.split(b"\r\n\r\n", 1)
    m = re.search(rb"Content-Length: (\d+)", head)
    assert m and int(m.group(1)) == len(body)


def write_personality(templates, name):
    """A personality made of files alone: a folder with routes and templates."""
    folder = templates / name
    folder.mkdir(parents=True)
    (folder / "routes").write_text("# a test personality\n/  index.http\n"
                                   "@timeout  index.http\n*  404.http\n")
    (folder / "index.http").write_text("HTTP/1.1 200 OK\nServer: Caddy\n"
                                       "Content-Type: text/html\n\n<p>caddy works</p>\n")
    (folder / "404.http").write_text("HTTP/1.1 404 Not Found\nServer: Caddy\n\ngone\n")


def test_a_new_personality_is_a_folder_of_templates(daemons, tmp_path):
    templates = tmp_path / "templates"
    write_personality(templates, "caddy")
    d = daemons(args=["--respond", "http-caddy", "--templates", str(templates),
                      "--respond-delay", "200ms"])
    reply = send_and_close(d.port, b"GET / HTTP/1.0\r\n\r\n")
    head, body = reply.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK\r\nServer: Caddy\r\nContent-Type: text/html\r\n")
    assert b"\r\nContent-Length: 19\r\n" in head and body == b"<p>caddy works</p>\n"
    assert send_and_close(d.port, b"GET /x HTTP/1.0\r\n\r\n").endswith(b"\r\n\r\ngone\n")
    s = connect(d.port)                       # silent: the @timeout page
    assert s.recv(100).startswith(b"HTTP/1.1 200 OK\r\nServer: Caddy\r\n")
    s.close()
    rows = d.wait_sessions(3)
    assert {r["strategy"] for r in rows} == {"http-caddy"}


@pytest.mark.parametrize("name,why", [("http-lighttpd", "lighttpd/routes"),
                                      ("http-../templates/caddy", "a personality's name"),
                                      ("http-Caddy", "a personality's name")])
def test_an_unknown_personality_is_refused_naming_it(tmp_path, name, why):
    templates = tmp_path / "templates"
    write_personality(templates, "caddy")
    (templates / "empty").mkdir()            # no routes: not a personality
    r = subprocess.run([FLYPAPER, "serve", "--respond", name, "--templates", str(templates),
                        "--check"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and f"unknown strategy '{name}'" in r.stderr, r.stderr
    assert why in r.stderr and "(silent, banner, tarpit, http-caddy)" in r.stderr, r.stderr


def test_a_nimda_like_peer_gets_a_vulnerable_looking_dir(daemons):
    d = daemons(args=["--respond", "http-iis5"])
    reply = send_and_close(d.port, b"GET /scripts/root.exe?/c+dir HTTP/1.0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and b"Directory of c:\\inetpub" in reply
    reply2 = send_and_close(d.port, b"GET /scripts/..%%35%63../winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n\r\n")
    assert b" 200 OK" in reply2.split(b"\r\n")[0]
    rows = d.wait_sessions(2)
    assert {r["http"] for r in rows} == {"ok"}
    targets = {requests_of(d.db, r["session"])[0]["target"] for r in rows}
    assert "/scripts/..%%35%63../winnt/system32/cmd.exe?/c+dir" in targets


def test_http_1_0_without_keep_alive_is_closed_by_the_server(daemons):
    d = daemons(args=["--respond", "http-iis5"])
    s = connect(d.port)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")       # no FIN: the server closes
    reply = read_until_close(s)
    s.close()
    assert reply.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in reply
    (row,) = d.wait_sessions(1)
    assert row["close_reason"] == "server_close" and row["closed_by"] == "server"


def test_respond_delay_answers_a_silent_peer_and_sees_it_leave(daemons):
    d = daemons(args=["--respond", "http-iis5", "--respond-delay", "300ms"])
    s = connect(d.port)
    t0 = time.monotonic()
    data = s.recv(100)
    waited = time.monotonic() - t0
    s.close()                                 # drops at the first byte
    assert data.startswith(b"HTTP/1.1 200 OK") and waited >= 0.28
    (row,) = d.wait_sessions(1)
    assert row["bytes_in"] == 0 and 280 <= row["first_out_ms"] < 2000
    assert row["closed_by"] == "peer" and row["peer_close_after_out_ms"] < 1000


# ---- HTTP request records -------------------------------------------------

def test_unparsable_and_partial_data_stay_in_the_payload(daemons):
    d = daemons()
    tls = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(100)
    send_and_close(d.port, tls)
    send_and_close(d.port, b"GET /half HTTP/1.1\r\nHost: x\r\n")
    send_and_close(d.port, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01binary after")
    rows = d.wait_sessions(3)
    by_http = {}
    for r in rows:
        by_http.setdefault(r["http"], []).append(r)
    assert payload_of(d.db, by_http["unparsed"][0]["payload_sha256"]) in (tls,
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01binary after")
    assert len(by_http["unparsed"]) == 2 and len(by_http["partial"]) == 1
    partial = by_http["partial"][0]
    assert partial["requests"] == 0
    assert payload_of(d.db, partial["payload_sha256"]) == b"GET /half HTTP/1.1\r\nHost: x\r\n"
    mixed = [r for r in by_http["unparsed"] if r["requests"] == 1]
    assert len(mixed) == 1 and requests_of(d.db, mixed[0]["session"])[0]["target"] == "/a"


def test_huge_header_lines_nuls_and_bodies(daemons):
    d = daemons()
    big = b"GET /big HTTP/1.1\r\nX-Long: " + b"A" * 65536 + b"\r\n\r\n"
    nul = b"GET /n\x00ul HTTP/1.0\r\nUser-Agent: a\x00b\xff\r\n\r\n"
    post = (b"POST /GponForm/diag_Form?images/ HTTP/1.1\r\nHost: x\r\nUser-Agent: Hello, World\r\n"
            b"Content-Length: 10\r\n\r\n0123456789GET /next HTTP/1.0\r\n\r\n")
    for data in (big, nul, post):
        send_and_close(d.port, data)
    rows = d.wait_sessions(3)
    got = {}
    for r in rows:
        for q in requests_of(d.db, r["session"]):
            got[q["target"]] = (q, r)
    assert len(got["/big"][0]["headers"]) == len(big) - len(b"GET /big HTTP/1.1\r\n") - 2
    assert got["/n\\x00ul"][0]["user_agent"] == "a\\x00b\\xff"
    post_q, post_row = got["/GponForm/diag_Form?images/"]
    assert post_q["body_bytes"] == 10 and post_q["user_agent"] == "Hello, World"
    assert "/next" in got and post_row["requests"] == 2 and post_row["http"] == "ok"


def test_http_request_events_in_json_lines(daemons, tmp_path):
    jl = tmp_path / "ev.jsonl"
    d = daemons(args=["--jsonl", str(jl), "--respond", "http-nginx"])
    send_and_close(d.port, b"GET /.env HTTP/1.1\r\nHost: h\r\nUser-Agent: l9explore/1.2\r\n\r\n")
    d.wait_sessions(1)
    # With the default rules the payload's verdict comes last.
    events = wait_for(lambda: (lambda e: e if len(e) >= 4 else None)(
        [json.loads(l) for l in jl.read_bytes().splitlines()]), what="4 events")
    kinds = [e["eventid"] for e in events]
    assert kinds == ["flypaper.session.connect", "flypaper.http.request",
                     "flypaper.session.closed", "flypaper.session.classified"]
    req = events[1]
    assert req["target"] == "/.env" and req["user_agent"] == "l9explore/1.2"
    assert isinstance(req["seq"], int) and isinstance(req["body_bytes"], int)
    assert req["headers"].startswith("Host: h\r\n")
    closed = events[2]
    assert closed["strategy"] == "http-nginx" and isinstance(closed["first_out_ms"], int)
    assert closed["closed_by"] in ("peer", "server") and closed["requests"] == 1
    assert closed["ident_status"] == "none" and closed["ident_sent_ms"] is None


# ---- IDENT ----------------------------------------------------------------

class Identd:
    """A real identd-style responder on loopback: accepts each probe,
    records the query, and answers as told (a line, nothing, or a close)."""

    def __init__(self, host="127.0.0.1", answer=None, on_probe=None, silent=False):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.answer = answer
        self.on_probe = on_probe
        self.silent = silent
        self.queries = []
        self.peers = []
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.peers.append(peer)
            if self.on_probe:
                self.on_probe()
            c.settimeout(5)
            try:
                q = c.recv(1024)
                self.queries.append(q)
                if self.silent:
                    time.sleep(2)
                elif self.answer is not None:
                    m = re.match(rb"(\d+) , (\d+)\r\n", q)
                    c.sendall(self.answer(m.group(1), m.group(2)) if m else b"?\r\n")
            except OSError:
                pass
            c.close()

    def close(self):
        self.stop = True
        self.sock.close()
        self.thread.join(5)


@pytest.mark.parametrize("answer,status,fields", [
    (lambda p, l: p + b" , " + l + b" : USERID : UNIX,US-ASCII : alice\r\n", "userid",
     {"ident_opsys": "UNIX", "ident_charset": "US-ASCII", "ident_userid": "alice"}),
    (lambda p, l: p + b" , " + l + b" : ERROR : NO-USER\r\n", "error",
     {"ident_error": "NO-USER"}),
    (lambda p, l: b"\x00\xffgarbage\r\n", "malformed", {"ident_reply": "\\x00\\xffgarbage"}),
])
def test_ident_replies_are_parsed(daemons, answer, status, fields):
    identd = Identd(answer=answer)
    try:
        d = daemons(args=["--ident", "always", "--ident-port", str(identd.port),
                          "--idle-timeout", "1s"])
        s = connect(d.port)
        client_port = s.getsockname()[1]
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        (row,) = d.wait_sessions(1)
        s.close()
    finally:
        identd.close()
    # the probe went to the peer's address, from the address it connected to
    assert identd.queries == [f"{client_port} , {d.port}\r\n".encode()]
    assert identd.peers[0][0] == "127.0.0.1"
    assert row["ident_status"] == status
    for k, v in fields.items():
        assert row[k] == v, (k, row)
    assert row["ident_sent_ms"] is not None and row["ident_sent_ms"] < 500
    assert row["ident_reply_ms"] is not None and row["ident_reply_ms"] >= row["ident_sent_ms"]


def test_no_ident_probe_for_the_backlog_taken_at_shutdown(daemons):
    # Peers waiting in the backlog at SIGTERM are recorded, but a probe
    # started then would be aborted at once and read as a silent identd.
    # The identd listens on every address, so that a probe of a 127.0.4.x
    # peer reaches it and waits (on 127.0.0.1 alone the kernel refused it
    # at once, and a peer the loop took just before it heard of the stop
    # read "refused": a flaky test, most often under ASan).
    identd = Identd(host="0.0.0.0", silent=True)
    try:
        d = daemons(args=["--ident", "always", "--ident-port", str(identd.port)],
                    workers=1)
        os.kill(d.proc.pid, signal.SIGSTOP)
        socks = []
        try:
            for i in range(5):
                s = socket.socket()
                s.settimeout(10)
                s.bind((f"127.0.4.{i + 1}", 0))
                s.connect(("127.0.0.1", d.port))
                s.sendall(b"backlog %d" % i)
                socks.append(s)
            os.kill(d.proc.pid, signal.SIGTERM)
        finally:
            os.kill(d.proc.pid, signal.SIGCONT)
        assert d.stop() == 0
        for s in socks:
            s.close()
    finally:
        identd.close()
    rows = session_rows(d.db)
    assert len(rows) == 5
    assert all(r["close_reason"] == "shutdown" for r in rows), rows
    # Taken in the drain: never probed. Taken by the loop just before it
    # heard of the stop: probed, and the probe cut short says so (none,
    # with the time it was sent), not "timeout" (an identd too slow).
    assert [r["ident_status"] for r in rows] == ["none"] * 5, rows


def test_ident_timeout_refused_and_rate_limit(daemons):
    identd = Identd(silent=True)
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    refused_port = free.getsockname()[1]
    free.close()
    try:
        d = daemons(args=["--ident", "always", "--ident-port", str(identd.port),
                          "--ident-timeout", "300ms", "--idle-timeout", "1500ms"])
        s = connect(d.port)
        (row,) = d.wait_sessions(1, timeout=20)
        s.close()
        assert row["ident_status"] == "timeout" and row["ident_reply_ms"] is None
        # the same source again within --ident-interval: not probed
        s = connect(d.port)
        rows = d.wait_sessions(2, timeout=20)
        s.close()
        assert rows[1]["ident_status"] == "none"
    finally:
        identd.close()
    d2 = daemons(args=["--ident", "always", "--ident-port", str(refused_port),
                       "--idle-timeout", "500ms"], db=str(d.tmp / "refused.db"))
    s = connect(d2.port)
    (row,) = d2.wait_sessions(1)
    s.close()
    assert row["ident_status"] == "refused"


def test_a_peer_that_drops_when_probed(daemons):
    probed = threading.Event()
    identd = Identd(on_probe=probed.set, answer=lambda p, l: b"")
    try:
        d = daemons(args=["--ident", "always", "--ident-port", str(identd.port)])
        s = connect(d.port)
        assert probed.wait(10), "no probe arrived"
        s.close()                                # the probe arrives: leave at once
        (row,) = d.wait_sessions(1, timeout=20)
    finally:
        identd.close()
    assert row["closed_by"] == "peer" and row["close_reason"] in ("peer_fin", "peer_rst")
    assert row["peer_close_after_ident_ms"] is not None
    assert row["peer_close_after_ident_ms"] < 1000
    assert row["ident_status"] == "malformed"  # it closed without a reply


def test_the_seed_observations_from_one_query(daemons, tmp_path):
    """The README's query shows both 2001 observations: peers that leave at
    flypaper's first byte, and peers that leave when probed."""
    readme = open(os.path.join(ROOT, "README.md")).read()
    sql = re.search(r"```sql\n(-- the 2001 observations.*?)```", readme, re.S).group(1)
    d = daemons(args=["--respond", "banner"])
    for i in range(3):                          # banner, then leave at once
        s = connect_from(d.port, f"127.0.0.{10 + i}")
        s.recv(100)
        s.close()
    d.wait_sessions(3)
    assert d.stop() == 0
    probed = threading.Event()
    identd = Identd(host="127.0.0.20", on_probe=probed.set, answer=lambda p, l: b"")
    try:
        d2 = daemons(db=d.db, args=["--ident", "always", "--ident-port", str(identd.port)])
        s = connect_from(d2.port, "127.0.0.20")
        assert probed.wait(10), "no probe arrived"
        s.close()
        d2.wait_sessions(4, timeout=20)
    finally:
        identd.close()
    rows = {r[0]: r for r in query(d.db, sql)}
    assert rows["banner"][1:] == (3, 3, 0), rows
    assert rows["silent"][1:] == (1, 0, 1), rows


# ---- experiments and the yield table -------------------------------------

def test_experiment_is_sticky_per_source_and_yield_reports_it(daemons):
    d = daemons(args=["--experiment", "silent:1,banner:1,http-iis5:1",
                      "--experiment-salt", "test-salt", "--idle-timeout", "300ms"])
    for i in range(24):
        for _ in range(3):
            s = connect_from(d.port, f"127.0.1.{i + 1}")
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            s.shutdown(socket.SHUT_WR)
            read_until_close(s)
            s.close()
    rows = d.wait_sessions(72)
    per_source = {}
    for r in rows:
        per_source.setdefault(r["src_ip"], set()).add(r["strategy"])
    assert all(len(v) == 1 for v in per_source.values()), per_source
    used = {next(iter(v)) for v in per_source.values()}
    assert used == {"silent", "banner", "http-iis5"}
    out = subprocess.run([FLYPAPER, "yield", "--db", d.db, "--format", "json"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    table = {t["strategy"]: t for t in json.loads(out.stdout)["strategies"]}
    assert sum(t["sessions"] for t in table.values()) == 72
    assert sum(t["sources"] for t in table.values()) == 24
    for name, t in table.items():
        assert t["payload_share"] == 1.0 and isinstance(t["median_first_byte_ms"], float)
    assert table["silent"]["answered"] == 0 and table["silent"]["dropped_share"] is None
    assert table["http-iis5"]["answered"] == table["http-iis5"]["sessions"]
    text = subprocess.run([FLYPAPER, "yield", "--db", d.db], capture_output=True,
                          text=True, timeout=20).stdout
    assert re.search(r"^http-iis5\s+\d+\s+\d+\s+100\.0%", text, re.M), text


def test_yield_usage_errors():
    r = subprocess.run([FLYPAPER, "yield", "--format", "xml"], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 2 and "format: 'xml'" in r.stderr


def test_listener_sections_choose_strategies(daemons, tmp_path):
    conf = tmp_path / "fp.conf"
    conf.write_text("[flypaper]\nidle-timeout = 300ms\n"
                    "[listener web]\nrespond = http-apache\nlisten = 127.0.0.1:0\n"
                    "[listener quiet]\nlisten = 127.0.0.1:0\n"
                    "[listener chatty]\nlisten = 127.0.0.1:0\nrespond = banner\n")
    d = daemons(listen=(), args=["-c", str(conf)])
    assert len(d.ports) == 3
    web = send_and_close(d.ports[0], b"GET / HTTP/1.0\r\n\r\n")
    quiet = send_and_close(d.ports[1], b"GET / HTTP/1.0\r\n\r\n")
    chatty = send_and_close(d.ports[2], b"x")
    assert b"Apache" in web and quiet == b"" and chatty == b"220 Welcome\r\n"
    rows = d.wait_sessions(3)
    assert {r["dst_port"]: r["strategy"] for r in rows} == {
        d.ports[0]: "http-apache", d.ports[1]: "silent", d.ports[2]: "banner"}


def test_bad_strategy_configuration_is_a_clear_error(tmp_path):
    r = subprocess.run([FLYPAPER, "serve", "--respond", "http-lighttpd", "--check"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "unknown strategy 'http-lighttpd'" in r.stderr
    r = subprocess.run([FLYPAPER, "serve", "--respond", "http-iis5", "--templates",
                        str(tmp_path), "--check"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and f"{tmp_path}/iis5/routes" in r.stderr
    r = subprocess.run([FLYPAPER, "serve", "--ident", "sometimes", "--check"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "ident: 'sometimes'" in r.stderr


# ---- a real scanner -------------------------------------------------------

def test_nmap_service_scan_completes_and_is_recorded(daemons):
    nmap = shutil.which("nmap")
    assert nmap, "nmap is needed (Debian package nmap)"
    d = daemons(args=["--respond", "http-iis5", "--idle-timeout", "10s"])
    r = subprocess.run([nmap, "-sV", "-Pn", "-n", "-p", str(d.port), "127.0.0.1"],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert re.search(rf"{d.port}/tcp\s+open\s+http\s+Microsoft IIS", r.stdout), r.stdout
    rows = d.wait_sessions(2, timeout=30)
    targets = [q["target"] for row in rows for q in requests_of(d.db, row["session"])]
    assert "/" in targets, targets
    uas = {q["user_agent"] for row in rows for q in requests_of(d.db, row["session"])}
    assert any(ua and "Nmap Scripting Engine" in ua for ua in uas), uas
    # nmap's first probe waits about 6 s for a banner before it speaks
    assert any(r["first_byte_ms"] is not None and r["first_byte_ms"] >= 5000 for r in rows)
