"""The fleet over NATS JetStream (issue 12): real nats-server processes on
loopback (one node, or a three-node cluster with a replicated stream), real
sensors (serve --nats) and a real collector (flypaper collect). The central
database must hold every session exactly once, rows and payloads byte for
byte as the sensors stored them."""
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import sqlite3
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import (FLYPAPER, ROOT, SANITIZER_MARKS, Daemon, free_port, query,
                      send_and_close, wait_for)
from test_metrics import get, metrics_port, samples
from test_chroot import chrooted, env_without_landlock
from test_privileges import service_user  # noqa: F401 (the fixture)

NATS_SERVER = "/usr/sbin/nats-server"
TABLES = {
    "sessions": "session",
    "requests": "session, seq",
    "matches": "session, rule",
    "payloads": "sha256",
}



class Node:
    def __init__(self, tmp, name, routes_of):
        self.name = name
        self.port, self.cport, self.mport = free_port(), free_port(), free_port()
        self.dir = tmp / name
        self.dir.mkdir(exist_ok=True)
        self.conf = self.dir / "nats.conf"
        self.log = self.dir / "nats.log"
        self.routes_of = routes_of
        self.proc = None

    def write_conf(self, peers, tls=None):
        lines = [f"server_name: {self.name}", f"listen: 127.0.0.1:{self.port}",
                 f"http: 127.0.0.1:{self.mport}",
                 "jetstream { store_dir: \"%s\" }" % (self.dir / "js")]
        if tls:
            lines.append("tls { cert_file: \"%s\", key_file: \"%s\" }" % tls)
        if peers:
            routes = ", ".join(f"nats-route://127.0.0.1:{p.cport}" for p in peers)
            lines.append("cluster { name: fp, listen: 127.0.0.1:%d, routes: [%s] }"
                         % (self.cport, routes))
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self):
        self.proc = subprocess.Popen([NATS_SERVER, "-c", str(self.conf)],
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def healthy(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
            with urllib.request.urlopen(f"http://127.0.0.1:{self.mport}/healthz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False


class Cluster:
    def __init__(self, tmp, n):
        self.nodes = [Node(tmp, f"n{i + 1}", None) for i in range(n)]
        for node in self.nodes:
            node.write_conf([p for p in self.nodes if p is not node] if n > 1 else [])

    @property
    def urls(self):
        return ",".join(f"nats://127.0.0.1:{n.port}" for n in self.nodes)

    def start(self):
        for n in self.nodes:
            n.start()
        wait_for(lambda: all(n.healthy() for n in self.nodes), timeout=60,
                 interval=0.2, what="the NATS nodes to be healthy")

    def kill(self):
        for n in self.nodes:
            n.kill()


@pytest.fixture
def cluster(tmp_path):
    made = []

    def make(n):
        c = Cluster(tmp_path, n)
        c.start()
        made.append(c)
        return c
    yield make
    for c in made:
        c.kill()


COLLECTORS = []                     # killed by the sensors fixture, even when a test fails


class Collector:
    def __init__(self, tmp, urls, db, args=()):
        self.log = tmp / f"collect-{time.monotonic_ns()}.log"
        self.proc = subprocess.Popen([FLYPAPER, "collect", "--nats", urls, "--db", str(db),
                                      *args], stdout=open(self.log, "wb"),
                                     stderr=subprocess.STDOUT)
        COLLECTORS.append(self.proc)
        wait_for(lambda: "consumer" in self.text() or self.proc.poll() is not None,
                 timeout=30, what="the collector to subscribe")
        assert self.proc.poll() is None, self.text()

    def text(self):
        return self.log.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


def rows(db, table):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return set(tuple(r) for r in con.execute(f"SELECT * FROM {table}"))
    finally:
        con.close()


def assert_same_rows(sensor_dbs, central):
    """Every row of every sensor is in the central database as it is in
    the sensor's, and the central one holds nothing else."""
    for table in TABLES:
        want = set()
        for db in sensor_dbs:
            want |= rows(db, table)
        got = rows(central, table)
        assert got == want, f"{table}: {len(want - got)} missing, {len(got - want)} extra"


def drive(port, tag, n, extra=b""):
    for i in range(n):
        send_and_close(port, b"GET /%s/%d HTTP/1.0\r\nHost: x\r\n\r\n" % (tag.encode(), i) + extra)


def sensor(daemons_list, tmp, name, urls, db=None, args=()):
    d = Daemon(tmp, db=str(db or tmp / f"{name}.db"),
               args=["--sensor", name, "--nats", urls, *args])
    daemons_list.append(d)
    return d


@pytest.fixture
def sensors(tmp_path):
    """Sensors the test starts; at the end, stopped, and no sanitizer
    report in theirs or the collectors' logs."""
    started = []
    yield started
    for d in started:
        if d.proc.poll() is None:
            d.stop()
    while COLLECTORS:
        p = COLLECTORS.pop()
        if p.poll() is None:
            p.kill()
            p.wait()
    logs = [d.text() for d in started]
    logs += [p.read_text(errors="replace") for p in tmp_path.glob("collect-*.log")]
    for text in logs:
        for mark in SANITIZER_MARKS:
            assert mark not in text, f"sanitizer report:\n{text}"


def central_count(db):
    try:
        return query(str(db), "SELECT count(*) FROM sessions")[0][0]
    except sqlite3.OperationalError:
        return 0


def test_bad_nats_options_exit_2(tmp_path):
    for args in (["--nats", ""], ["--nats", "nats://127.0.0.1:1", "--nats-subject", "a.*"],
                 ["--nats", "nats://127.0.0.1:1", "--nats-subject", "a..b"],
                 ["--nats", "nats://127.0.0.1:1", "--nats-rate", "0"],
                 ["--nats", "nats://127.0.0.1:1", "--nats-tls-ca", str(tmp_path / "none.pem")],
                 ["--nats", "nats://127.0.0.1:1", "--nats-creds", str(tmp_path / "none.creds")]):
        p = subprocess.run([FLYPAPER, "serve", "--db", str(tmp_path / "x.db"),
                            "--listen", "127.0.0.1:0", *args],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (args, p.stderr)
        assert "nats" in p.stderr, (args, p.stderr)
    for args in ([], ["--nats", "nats://127.0.0.1:1", "--replicas", "9"],
                 ["--nats", "nats://127.0.0.1:1", "--batch", "0"],
                 ["--nats", "nats://127.0.0.1:1"]):           # nothing listens there
        p = subprocess.run([FLYPAPER, "collect", "--db", str(tmp_path / "c.db"), *args],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2, (args, p.stderr)


# --- the sensor side of the attacker review's fixes (issue 12, review-nats.md) ---

class RawNats:
    """A plain core-NATS client on a socket (Debian has no NATS client for
    Python): CONNECT with headers, requests to the JetStream API, and a
    subscription whose messages (with their headers) a thread collects."""

    def __init__(self, port, ca=None, name=None):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.lock = threading.Lock()
        self.got = []                        # (subject, headers, data)
        self.replies = {}
        self.sid = 0
        self.closed = threading.Event()
        self._line()                         # INFO, in clear; TLS after it
        if ca:
            self.s = ssl.create_default_context(cafile=ca).wrap_socket(
                self.s, server_hostname=name)
        self.s.sendall(b'CONNECT {"verbose":false,"pedantic":false,'
                       b'"headers":true,"protocol":1}\r\n')
        self.s.settimeout(None)
        # An SSL socket must not be read and written from two threads at
        # once (OpenSSL's state is one): over TLS the requests read their
        # replies themselves, with no reader thread.
        self.reader = None
        if not ca:
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()

    def _fill(self):
        data = self.s.recv(1 << 20)
        if not data:
            raise EOFError
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _read_one(self):
        line = self._line()
        if line == b"PING":
            self.s.sendall(b"PONG\r\n")
            return
        if line.startswith(b"MSG ") or line.startswith(b"HMSG "):
            parts = line.split()
            total = int(parts[-1])
            hlen = int(parts[-2]) if parts[0] == b"HMSG" else 0
            raw = self._take(total)
            headers = {}
            for h in raw[:hlen].split(b"\r\n")[1:]:
                if b":" in h:
                    k, v = h.split(b":", 1)
                    headers[k.decode(errors="replace")] = v.strip().decode(errors="replace")
            subject = parts[1].decode()
            with self.lock:
                if subject.startswith("_INBOX."):
                    self.replies[subject] = raw[hlen:]
                else:
                    self.got.append((subject, headers, raw[hlen:]))

    def _read(self):
        try:
            while not self.closed.is_set():
                self._read_one()
        except (OSError, EOFError):
            pass

    def request(self, subject, body):
        self.sid += 1
        inbox = f"_INBOX.t{self.sid}"
        self.s.sendall(b"SUB %s %d\r\nPUB %s %s %d\r\n%s\r\n"
                       % (inbox.encode(), self.sid, subject.encode(), inbox.encode(),
                          len(body), body))
        if self.reader:
            wait_for(lambda: inbox in self.replies, timeout=30, what=f"a reply to {subject}")
        else:
            self.s.settimeout(30)
            while inbox not in self.replies:
                self._read_one()
            self.s.settimeout(None)
        self.s.sendall(b"UNSUB %d\r\n" % self.sid)
        return json.loads(self.replies.pop(inbox))

    def subscribe(self, subject):
        self.sid += 1
        self.s.sendall(b"SUB %s %d\r\n" % (subject.encode(), self.sid))

    def make_stream(self):
        """The stream collect makes, made here so that these tests need no
        collector: every message the sensors publish stays in it."""
        r = self.request("$JS.API.STREAM.CREATE.FLYPAPER", json.dumps(
            {"name": "FLYPAPER", "subjects": ["flypaper.>"], "storage": "file",
             "duplicate_window": 3600 * 10**9}).encode())
        assert "error" not in r, r

    def stream_count(self):
        r = self.request("$JS.API.STREAM.INFO.FLYPAPER", b"")
        assert "error" not in r, r
        return r["state"]["messages"]

    def messages(self):
        with self.lock:
            return list(self.got)

    def close(self):
        self.closed.set()
        self.s.close()


@pytest.fixture
def raw_nats(cluster):
    """A one-node cluster with the FLYPAPER stream and a plain subscriber
    on flypaper.>."""
    c = cluster(1)
    r = RawNats(c.nodes[0].port)
    r.make_stream()
    r.subscribe("flypaper.>")
    yield c, r
    r.close()


def test_one_peer_session_over_max_payload_goes_in_chunks(raw_nats, sensors, tmp_path):
    """H1: one keep-alive connection with ~900 KB of request heads (inside
    the default --max-payload) makes a session whose JSON is past the
    server's 1 MB max_payload. It goes in session-chunk messages with the
    contract's headers (whole JSON's SHA-256 and size), the watermark moves
    past it and every later session ships, each Msg-Id prefixed with the
    subject (contract item 1)."""
    c, r = raw_nats
    d = sensor(sensors, tmp_path, "big", c.urls)
    send_and_close(d.port, b"GET /before HTTP/1.0\r\n\r\n")
    big = b"".join(b"GET /r%d HTTP/1.1\r\nHost: h\r\nX-Pad: %s\r\n\r\n" % (i, b"A" * 180000)
                   for i in range(5))
    send_and_close(d.port, big)
    d.wait_sessions(2)
    for i in range(5):
        send_and_close(d.port, b"GET /after/%d HTTP/1.0\r\n\r\n" % i)
    d.wait_sessions(7)
    ids = [row[0] for row in query(d.db, "SELECT session FROM sessions ORDER BY rowid")]
    big_id = query(d.db, "SELECT session FROM requests GROUP BY session "
                   "ORDER BY count(*) DESC LIMIT 1")[0][0]
    subject = "flypaper.big.sessions"

    def session_ids():
        got = set()
        for subj, h, _ in r.messages():
            if subj == subject and h.get("Flypaper-Kind") == "session":
                got.add(h.get("Nats-Msg-Id"))
        return got
    want = {f"{subject}:{i}" for i in ids if i != big_id}
    wait_for(lambda: session_ids() >= want, timeout=60, what="the later sessions' messages")
    wait_for(lambda: query(d.db, "SELECT last_rowid FROM nats_shipped") ==
             query(d.db, "SELECT max(rowid) FROM sessions"), timeout=30,
             what="the watermark past every session")
    chunks = sorted(((h, data) for subj, h, data in r.messages()
                     if subj == subject and h.get("Flypaper-Kind") == "session-chunk"),
                    key=lambda m: int(m[0]["Flypaper-Chunk"]))
    assert len(chunks) >= 2, [m[0] for m in chunks]
    n = int(chunks[0][0]["Flypaper-Chunks"])
    assert [int(h["Flypaper-Chunk"]) for h, _ in chunks] == list(range(n))
    whole = b"".join(data for _, data in chunks)
    for h, data in chunks:
        assert h["Flypaper-Session"] == big_id
        assert h["Flypaper-Sha256"] == hashlib.sha256(whole).hexdigest()
        assert int(h["Flypaper-Size"]) == len(whole)
        assert h["Nats-Msg-Id"] == \
            f"{subject}:{big_id}.{h['Flypaper-Sha256'][:16]}.{h['Flypaper-Chunk']}"
        assert len(data) < 1024 * 1024
    doc = json.loads(whole)
    assert doc["session"]["session"] == big_id and len(doc["requests"]) == 5
    # the stream kept each message seen once, payloads too (<psubject>:<sha>)
    seen = {h["Nats-Msg-Id"] for _, h, _ in r.messages()}
    assert r.stream_count() == len(seen)
    assert all(m.startswith(f"{subject}:") or m.startswith(f"{subject}.payloads:")
               for m in seen), seen
    assert d.stop() == 0
    shipped, failures, backlog = query(d.db, "SELECT nats_shipped, nats_failures, "
                                       "nats_backlog FROM runs")[-1]
    assert (shipped, failures, backlog) == (len(ids), 0, 0)


@pytest.fixture
def hosts_name():
    """A name of its own for 127.0.0.1 in /etc/hosts, removed after."""
    name = f"fp-nats-{os.getpid()}-{time.monotonic_ns()}.test"
    with open("/etc/hosts", "a") as f:
        f.write(f"127.0.0.1 {name}\n")
    yield name
    with open("/etc/hosts") as f:
        keep = [line for line in f if name not in line]
    with open("/etc/hosts", "w") as f:          # in place: it may be a bind mount
        f.writelines(keep)


def session_msgs(r, subject):
    return {h.get("Nats-Msg-Id") for subj, h, _ in r.messages()
            if subj == subject and h.get("Flypaper-Kind") == "session"}


def test_confined_sensor_resolves_names_once_at_start(raw_nats, sensors, service_user,  # noqa: F811
                                                      hosts_name, tmp_path):
    """H2: a name in --nats is resolved at start, before a chroot and
    confinement (glibc's DNS lookup in libnats's threads was a forbidden
    UDP socket: SIGSYS): localhost, a name from /etc/hosts, the same under
    the chroot fallback; a name that does not resolve is exit 2 naming it."""
    pw, state = service_user
    c, r = raw_nats
    port = c.nodes[0].port
    for name, url, env in (("local", f"nats://localhost:{port}", None),
                           ("hosts", f"nats://{hosts_name}:{port}", None),
                           ("jail", f"nats://{hosts_name}:{port}", env_without_landlock())):
        d = Daemon(tmp_path, db=str(state / f"{name}.db"), env=env,
                   args=["--sensor", name, "--nats", url, "--user", pw.pw_name])
        sensors.append(d)
        assert "sandbox:" in d.text()
        if env:
            chrooted(d, state)
        drive(d.port, name, 3)
        wait_for(lambda: len(session_msgs(r, f"flypaper.{name}.sessions")) >= 3, timeout=60,
                 what=f"{name}: 3 sessions in the stream")
        assert d.proc.poll() is None, d.text()
        assert d.stop() == 0, d.text()
        assert "forbidden system call" not in d.text()
        assert f"nats://127.0.0.1:{port}" in d.text()          # what libnats was given
    p = subprocess.run([FLYPAPER, "serve", "--db", str(tmp_path / "x.db"),
                        "--listen", "127.0.0.1:0", "--nats",
                        f"nats://127.0.0.1:{port},nats://nats.example.invalid:4222"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    assert "cannot resolve nats.example.invalid" in p.stderr, p.stderr


def test_sigterm_with_a_server_that_never_speaks(sensors, tmp_path):
    """M3: a server that accepts TCP and never says a word (a load
    balancer, a wrong port): SIGTERM still ends the daemon within the
    drain (5 s) and a margin, the sessions waiting in the database."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    ls.settimeout(0.5)
    held, stop = [], threading.Event()

    def acceptor():
        while not stop.is_set():
            try:
                held.append(ls.accept()[0])
            except OSError:
                pass
    t = threading.Thread(target=acceptor)
    t.start()
    try:
        d = sensor(sensors, tmp_path, "silent", "nats://127.0.0.1:%d" % ls.getsockname()[1])
        drive(d.port, "s", 5)
        d.wait_sessions(5)
        wait_for(lambda: held, timeout=30, what="the sensor to connect")
        time.sleep(2)                            # inside a connect attempt, likely
        t0 = time.monotonic()
        assert d.stop(timeout=60) == 0
        took = time.monotonic() - t0
        assert took < 20, f"SIGTERM took {took:.1f}s"
        assert query(d.db, "SELECT nats_shipped, nats_backlog FROM runs")[-1] == (0, 5)
    finally:
        stop.set()
        t.join()
        for s in held:
            s.close()
        ls.close()


def test_nats_rate_holds_whatever_wakes_the_shipper(raw_nats, sensors, tmp_path):
    """M4: --nats-rate 5 with a backlog of 60 and a steady light load
    (every commit wakes the shipper): the stream gets about 5 messages a
    second, not a new second's worth at every wake-up (it was 177 in 6 s).
    Identical requests: one payload message in all."""
    c, r = raw_nats
    d = sensor(sensors, tmp_path, "rate", c.urls, args=["--nats-rate", "5"])
    stop = threading.Event()

    def kicker():
        for _ in range(200):                     # bounded: 10 s at most
            if stop.is_set():
                return
            send_and_close(d.port, b"GET /same HTTP/1.0\r\n\r\n")
            time.sleep(0.05)
    t0 = time.monotonic()
    for _ in range(60):
        send_and_close(d.port, b"GET /same HTTP/1.0\r\n\r\n")
    t = threading.Thread(target=kicker)
    t.start()
    try:
        time.sleep(4)
        n = r.stream_count()
        took = time.monotonic() - t0
    finally:
        stop.set()
        t.join()
    assert 5 <= n <= 5 * (took + 2), f"{n} messages in {took:.1f}s at --nats-rate 5"
    d.stop()


def test_default_subjects_never_fold(sensors, tmp_path):
    """Low: the default subject escapes '_' and what a subject token
    cannot hold, one to one: sensors a.b and a_b never share a subject."""
    for name, subject in (("a.b", "flypaper.a_2eb.sessions"),
                          ("a_b", "flypaper.a_5fb.sessions"),
                          ("x y*>", "flypaper.x_20y_2a_3e.sessions"),
                          ("plain-1", "flypaper.plain-1.sessions")):
        d = Daemon(tmp_path, db=str(tmp_path / f"s{len(sensors)}.db"),
                   args=["--sensor", name, "--nats", "nats://127.0.0.1:1"])
        sensors.append(d)
        assert f"subject {subject}," in d.text(), d.text()
        assert d.stop() == 0


def test_tls_by_name_checks_the_certificate_against_the_name(sensors, service_user,  # noqa: F811
                                                             hosts_name, tmp_path):
    """H2 with TLS: libnats is given the address, the certificate is
    checked against the name given (its only name: no IP in it): a name
    it holds ships, another name for the same address (localhost) ships
    nothing."""
    pw, state = service_user
    ca, cert, key = make_tls(tmp_path, san=f"DNS:{hosts_name}")
    node = Node(tmp_path, "tn", None)
    node.write_conf([], tls=(cert, key))
    node.start()
    try:
        wait_for(node.healthy, timeout=30, interval=0.2, what="the TLS node")
        r = RawNats(node.port, ca=ca, name=hosts_name)
        r.make_stream()
        r.close()
        user_ca = state.parent / "ca.pem"
        shutil.copy(ca, user_ca)
        os.chmod(user_ca, 0o644)
        for name, host in (("named", hosts_name), ("other", "localhost")):
            d = sensor(sensors, tmp_path, name, f"tls://{host}:{node.port}",
                       db=state / f"{name}.db",
                       args=["--user", pw.pw_name, "--nats-tls-ca", str(user_ca)])
            drive(d.port, name, 2)
            if name == "named":
                wait_for(lambda: query(d.db, "SELECT count(*) FROM nats_shipped") == [(1,)],
                         timeout=60, what="the sessions shipped over TLS")
            else:
                time.sleep(3)
            assert d.stop() == 0, d.text()
            shipped, failures = query(d.db, "SELECT nats_shipped, nats_failures FROM runs")[-1]
            if name == "named":
                assert (shipped, failures) == (2, 0), d.text()
            else:
                assert shipped == 0 and failures >= 1, d.text()
            assert f"certificate must be valid for {host}" in d.text()
    finally:
        node.kill()


def test_bad_nats_urls_exit_2(tmp_path):
    """Each --nats server is taken apart at start: a bad one is exit 2
    naming it (it used to be logged from the shipper's thread, and
    nothing shipped)."""
    for url, says in (("nats://127.0.0.1:0", "port"), ("nats://127.0.0.1:4222/x", "path"),
                      ("nats://[::1:4222", "']'"), ("nats://:4222", "no host")):
        p = subprocess.run([FLYPAPER, "serve", "--db", str(tmp_path / "x.db"),
                            "--listen", "127.0.0.1:0", "--nats", url],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (url, p.stderr)
        assert "nats:" in p.stderr and says in p.stderr, (url, p.stderr)


def test_confined_sensor_ships_rows_byte_exact(cluster, sensors, service_user, tmp_path):  # noqa: F811
    pw, state = service_user
    c = cluster(1)
    central = tmp_path / "fleet.db"
    col = Collector(tmp_path, c.urls, central)
    # the default stream: a work queue with no limit but the disk (a byte
    # limit may evict on nats-server 2.9: DESIGN.md, Fleet)
    config = jsz(c.nodes[0])["config"]
    assert (config["retention"], config["max_bytes"]) == ("workqueue", -1), config
    d = sensor(sensors, tmp_path, "alpha", c.urls, db=state / "alpha.db",
               args=["--user", pw.pw_name, "--max-payload", "3M"])
    assert "sandbox:" in d.text()
    drive(d.port, "a", 20)
    # a payload over the server's 1 MB max_payload travels in chunks;
    # bytes that are not UTF-8 travel as hex
    big = bytes((i * 7 + 3) % 256 for i in range(2_500_000))
    send_and_close(d.port, b"POST /big HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % len(big) + big)
    send_and_close(d.port, b"GET /\xff\xfe\x80 HTTP/1.0\r\nUser-Agent: \xc3\x28\r\n\r\n")
    d.wait_sessions(22)
    wait_for(lambda: central_count(central) >= 22, timeout=60, what="22 sessions centrally")
    assert d.stop() == 0
    assert col.stop() == 0
    assert_same_rows([d.db], central)
    assert query(str(central), "SELECT max(size) FROM payloads")[0][0] > 2_000_000
    assert query(str(central), "SELECT count(*) FROM nats_chunks")[0][0] == 0
    shipped, failures, backlog = query(d.db, "SELECT nats_shipped, nats_failures, "
                                       "nats_backlog FROM runs")[-1]
    assert (shipped, backlog) == (22, 0)
    assert "forbidden system call" not in d.text()


def test_backlog_waits_on_disk_and_resumes_after_kill_9(cluster, sensors, tmp_path):
    c = cluster(1)
    node = c.nodes[0]
    node.kill()                                  # the stream is away from the start
    d = sensor(sensors, tmp_path, "beta", c.urls, args=["--metrics", "127.0.0.1:0"])
    drive(d.port, "b", 30)
    d.wait_sessions(30)
    time.sleep(2)
    assert query(d.db, "SELECT count(*) FROM nats_shipped")[0][0] == 0

    def nats_series(daemon):
        got = samples(get(metrics_port(daemon))[2])
        return {name: got.get((name, frozenset({("sink", "nats")})))
                for name in ("flypaper_sink_backlog", "flypaper_sink_lag_seconds",
                             "flypaper_sink_failures_total", "flypaper_sink_shipped_total")}
    # the shipper's own gauges: 30 waiting on disk, the oldest over a second old
    wait_for(lambda: nats_series(d)["flypaper_sink_backlog"] == 30, timeout=10,
             what="the nats backlog in /metrics")
    m = nats_series(d)
    assert m["flypaper_sink_lag_seconds"] >= 1.0, m
    assert m["flypaper_sink_failures_total"] >= 1 and m["flypaper_sink_shipped_total"] == 0, m
    d.stop(signal.SIGKILL)                       # no run row, nothing acknowledged
    node.start()
    wait_for(node.healthy, timeout=30, interval=0.2, what="the node back")
    central = tmp_path / "fleet.db"
    col = Collector(tmp_path, c.urls, central)
    d2 = sensor(sensors, tmp_path, "beta", c.urls, db=d.db, args=["--metrics", "127.0.0.1:0"])
    drive(d2.port, "b2", 5)
    wait_for(lambda: central_count(central) >= 35, timeout=60, what="35 sessions centrally")
    wait_for(lambda: nats_series(d2)["flypaper_sink_shipped_total"] == 35, timeout=10,
             what="35 shipped in /metrics")
    wait_for(lambda: nats_series(d2)["flypaper_sink_backlog"] == 0, timeout=10,
             what="no nats backlog in /metrics")
    assert d2.stop() == 0
    assert col.stop() == 0
    assert_same_rows([d.db], central)
    assert query(d.db, "SELECT nats_failures FROM runs")[-1][0] == 0


def test_a_password_in_the_url_stays_out_of_the_log(sensors, tmp_path):
    d = sensor(sensors, tmp_path, "delta", "nats://flyuser:s3cret-pw@127.0.0.1:1")
    text = d.text()
    assert "nats: shipping to nats://***@127.0.0.1:1" in text, text
    assert "s3cret" not in text and "flyuser" not in text, text
    assert d.stop(timeout=20) == 0
    assert "s3cret" not in d.text()
    # nor in the errors that name a URL: a bad CA, a URL with a path, a port
    # out of range, and collect's failed connect
    ca = tmp_path / "bad.pem"
    ca.write_text("not a certificate\n")
    bad = sensor(sensors, tmp_path, "epsilon", "nats://flyuser:s3cret-pw@127.0.0.1:1",
                 args=["--nats-tls-ca", str(ca)])
    wait_for(lambda: "nothing is shipped this run" in bad.text(), timeout=10,
             what="the shipper's error")
    assert bad.stop(timeout=20) == 0
    assert "s3cret" not in bad.text() and "flyuser" not in bad.text(), bad.text()
    for args in (["--nats", "nats://flyuser:s3cret/pw@127.0.0.1:1"],
                 ["--nats", "nats://flyuser:s3cret-pw@127.0.0.1:99999"]):
        p = subprocess.run([FLYPAPER, "serve", "--db", str(tmp_path / "e.db"),
                            "--listen", "127.0.0.1:0", *args],
                           capture_output=True, text=True, timeout=30)
        assert "s3cret" not in p.stdout + p.stderr and "flyuser" not in p.stderr, (args, p.stderr)
    p = subprocess.run([FLYPAPER, "collect", "--db", str(tmp_path / "c.db"),
                        "--nats", "nats://flyuser:s3cret-pw@127.0.0.1:1"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "s3cret" not in p.stderr and "***@127.0.0.1:1" in p.stderr, \
        p.stderr


def test_sigterm_with_the_stream_away_stops_and_records_the_backlog(cluster, sensors, tmp_path):
    """No server ever answers: the shipper must not hold the daemon's exit
    (a connect that retries inside the call would), and the runs row
    counts exactly what waits in the database for the next run."""
    c = cluster(1)
    c.nodes[0].kill()
    d = sensor(sensors, tmp_path, "gamma", c.urls)
    drive(d.port, "g", 12)
    d.wait_sessions(12)
    t0 = time.monotonic()
    assert d.stop(timeout=20) == 0
    assert time.monotonic() - t0 < 15           # the drain is bounded (5 s), not the retries
    shipped, failures, backlog = query(d.db, "SELECT nats_shipped, nats_failures, "
                                       "nats_backlog FROM runs")[-1]
    assert (shipped, backlog) == (0, 12) and failures >= 1, (shipped, failures, backlog)


def test_cluster_chaos_every_session_exactly_once(cluster, sensors, tmp_path):
    c = cluster(3)
    central = tmp_path / "fleet.db"
    col = Collector(tmp_path, c.urls, central, args=["--replicas", "3"])
    a = sensor(sensors, tmp_path, "alpha", c.urls)
    b = sensor(sensors, tmp_path, "bravo", c.urls)
    stop = threading.Event()
    sent = {"a": 0, "b": 0}

    def load(who, port_of):
        # bounded: at most 2000 sessions, about 50 a second
        while not stop.is_set() and sent[who] < 2000:
            try:
                send_and_close(port_of(), b"GET /%s/%d HTTP/1.0\r\n\r\n"
                               % (who.encode(), sent[who]))
                sent[who] += 1
            except OSError:
                time.sleep(0.1)              # the sensor is being restarted
            time.sleep(0.02)
    ports = {"a": a.port, "b": b.port}
    threads = [threading.Thread(target=load, args=(w, lambda w=w: ports[w]))
               for w in ("a", "b")]
    for t in threads:
        t.start()
    try:
        time.sleep(2)
        c.nodes[1].kill()                    # one node down mid-stream
        time.sleep(2)
        c.nodes[1].start()
        time.sleep(2)
        c.kill()                             # the whole cluster away
        time.sleep(5)
        c.start()
        a.stop(signal.SIGKILL)               # kill -9 a sensor, restart it
        a = sensor(sensors, tmp_path, "alpha", c.urls, db=a.db)
        ports["a"] = a.port
        time.sleep(2)
        col.proc.kill()                      # kill -9 the collector, restart it
        col.proc.wait()
        col = Collector(tmp_path, c.urls, central, args=["--replicas", "3"])
        time.sleep(2)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)

    def total():
        return sum(query(db, "SELECT count(*) FROM sessions")[0][0] for db in (a.db, b.db))
    want = total()
    assert want >= 100
    wait_for(lambda: central_count(central) >= want, timeout=120, interval=0.5,
             what=f"{want} sessions centrally")
    assert a.stop() == 0 and b.stop() == 0
    # a connection still open when the load stopped is recorded at the
    # sensor's exit and shipped by its drain: wait for those too
    want = total()
    wait_for(lambda: central_count(central) >= want, timeout=60, interval=0.5,
             what=f"{want} sessions centrally after the sensors stopped")
    assert col.stop() == 0
    assert_same_rows([a.db, b.db], central)
    per_sensor = dict(query(str(central), "SELECT sensor, count(*) FROM sessions GROUP BY 1"))
    for db, name in ((a.db, "alpha"), (b.db, "bravo")):
        assert per_sensor[name] == query(db, "SELECT count(*) FROM sessions")[0][0]
        assert query(db, "SELECT nats_backlog FROM runs")[-1][0] == 0
    # bravo ran once, never killed: each session acknowledged once, counted once
    assert query(b.db, "SELECT nats_shipped FROM runs") == [(per_sensor["bravo"],)]
    assert query(b.db, "SELECT nats_failures FROM runs")[0][0] > 0     # the outage
    # report works on the central database unchanged, per sensor too
    r = subprocess.run([FLYPAPER, "report", "--db", str(central), "--format", "json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert sorted(map(tuple, json.loads(r.stdout)["sensors"])) == sorted(per_sensor.items())


def make_tls(tmp, san="IP:127.0.0.1"):
    """A CA and a server certificate for 127.0.0.1 (or san), made with openssl."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)
    ca_key, ca, key, csr, cert = (str(tmp / n) for n in
                                  ("ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem"))
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
        "-days", "2", "-subj", "/CN=flypaper test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
        "-subj", "/CN=127.0.0.1")
    ext = tmp / "ext.cnf"
    ext.write_text(f"subjectAltName = {san}\n")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "2", "-extfile", str(ext))
    return ca, cert, key


def test_tls_to_the_stream_trusting_the_given_ca(sensors, service_user, tmp_path):  # noqa: F811
    pw, state = service_user
    ca, cert, key = make_tls(tmp_path)
    node = Node(tmp_path, "t1", None)
    node.write_conf([], tls=(cert, key))
    node.start()
    try:
        wait_for(node.healthy, timeout=30, interval=0.2, what="the TLS node")
        url = f"tls://127.0.0.1:{node.port}"
        central = tmp_path / "fleet.db"
        col = Collector(tmp_path, url, central, args=["--nats-tls-ca", ca])
        # the CA file is read at start, as the service user, before
        # confinement: readable by it, but outside anything Landlock allows
        user_ca = state.parent / "ca.pem"
        shutil.copy(ca, user_ca)
        os.chmod(user_ca, 0o644)
        d = sensor(sensors, tmp_path, "tls", url, db=state / "tls.db",
                   args=["--user", pw.pw_name, "--nats-tls-ca", str(user_ca)])
        drive(d.port, "t", 5)
        wait_for(lambda: central_count(central) >= 5, timeout=60, what="5 sessions over TLS")
        assert d.stop() == 0
        assert col.stop() == 0
        assert_same_rows([d.db], central)
        # without the CA the server's certificate is not trusted: nothing goes
        other = tmp_path / "other.db"
        p = subprocess.run([FLYPAPER, "collect", "--nats", url, "--db", str(other)],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2, p.stderr
    finally:
        node.kill()


def test_verdicts_travel_with_their_sessions(cluster, sensors, tmp_path):
    """A session waits for its payload's verdict (pending -> done) and is
    shipped once, final: family, tags and the matches rows arrive."""
    c = cluster(1)
    central = tmp_path / "fleet.db"
    col = Collector(tmp_path, c.urls, central)
    d = sensor(sensors, tmp_path, "rules", c.urls, args=["--rules", f"{ROOT}/rules"])
    for _ in range(3):
        send_and_close(d.port, b"GET /.git/config HTTP/1.1\r\nHost: h\r\n\r\n")
    send_and_close(d.port, b"nothing to see")
    wait_for(lambda: central_count(central) >= 4, timeout=60, what="4 sessions centrally")
    assert d.stop() == 0
    assert col.stop() == 0
    assert_same_rows([d.db], central)
    got = query(str(central), "SELECT family, class_state FROM sessions ORDER BY 1")
    assert got == [(None, "done"), ("secrets", "done"), ("secrets", "done"),
                   ("secrets", "done")], got
    assert query(str(central), "SELECT count(*) FROM matches") == [(3,)]


# ---- the collector's input is hostile (review of issue 12: H3, M1, M2, M5, L1, L2) ----

def jspub(port, subject, headers, data):
    """Publishes like any client with rights on subject, in the core NATS
    text protocol (HPUB), and returns the stream's acknowledgment as a dict
    (with "error" when the stream refused it)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.recv(65536)
        s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"protocol":1}\r\n'
                  b"SUB _INBOX.t 1\r\n")
        hdr = b"NATS/1.0\r\n" + b"".join(b"%s: %s\r\n" % (k.encode(), str(v).encode())
                                         for k, v in headers.items()) + b"\r\n"
        s.sendall(b"HPUB %s _INBOX.t %d %d\r\n" % (subject.encode(), len(hdr), len(hdr) + len(data))
                  + hdr + data + b"\r\n")
        buf = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if b"-ERR" in buf:
                raise AssertionError(buf)
            at = buf.find(b"MSG _INBOX.t 1 ")
            if at >= 0 and b"\r\n" in buf[at:]:
                line, rest = buf[at:].split(b"\r\n", 1)
                n = int(line.split()[-1])
                if len(rest) >= n:
                    return json.loads(rest[:n])
            if b"PING" in buf:
                s.sendall(b"PONG\r\n")
                buf = buf.replace(b"PING", b"")
            buf += s.recv(65536)
        raise AssertionError(f"no acknowledgment: {buf!r}")
    finally:
        s.close()


def session_msg(sid, sensor, requests=(), matches=(), **extra):
    row = {"session": sid, "sensor": sensor, "start_ts": "2026-01-01T00:00:00.000Z",
           "end_ts": "2026-01-01T00:00:01.000Z", "src_ip": "192.0.2.1", "src_port": 1234,
           "dst_ip": "127.0.0.1", "dst_port": 80, "bytes_in": 10, "bytes_out": 0,
           "duration_ms": 1000, "close_reason": "peer_fin", "truncated": 0, "mode": "serve"}
    row.update(extra)
    return json.dumps({"v": 1, "session": row, "requests": list(requests),
                       "matches": list(matches)}).encode()


def request_row(sid, seq, target):
    return {"session": sid, "seq": seq, "at_ms": 0, "method": "GET", "target": target,
            "headers": {"x": ""}, "body_bytes": 0}


def jsz(node):
    with urllib.request.urlopen(f"http://127.0.0.1:{node.mport}/jsz?streams=1&consumers=1"
                                "&config=1", timeout=10) as r:
        got = json.load(r)
    return got["account_details"][0]["stream_detail"][0]


def publish_chunks(port, subject, kind, whole, n, sha=None, size=None, extra=None, msgid=""):
    """Publishes whole in n chunks, as sink_nats.c does for a message larger
    than the server's max_payload; returns the acknowledgments."""
    sha = sha or hashlib.sha256(whole).hexdigest()
    step = -(-len(whole) // n)
    acks = []
    for i in range(n):
        h = {"Flypaper-Kind": kind, "Flypaper-Sha256": sha,
             "Flypaper-Size": len(whole) if size is None else size,
             "Flypaper-Chunk": i, "Flypaper-Chunks": n,
             "Nats-Msg-Id": f"{subject}:{msgid or sha}.{i}", **(extra or {})}
        acks.append(jspub(port, subject, h, whole[i * step:(i + 1) * step]))
    return acks


def test_collect_terminates_poison_and_oversized_messages_and_goes_on(cluster, sensors, tmp_path):
    """H3/L2: messages that can never be applied are rolled back alone,
    terminated and counted; the batch around them commits, nothing is
    redelivered, and a real sensor's sessions arrive."""
    c = cluster(1)
    node = c.nodes[0]
    central = tmp_path / "fleet.db"
    col = Collector(tmp_path, c.urls, central, args=["--max-payload", "4k", "--batch", "8"])
    subj = "flypaper.evil.sessions"
    # a chunked payload that claims more than --max-payload: 1 GB in 1000 chunks
    big = b"B" * 3000
    for i in range(3):
        jspub(node.port, subj + ".payloads",
              {"Flypaper-Kind": "payload", "Flypaper-Sha256": "ab" * 32,
               "Flypaper-Size": 10**9, "Flypaper-First-Seen": "2026-01-01T00:00:00Z",
               "Flypaper-Chunk": i, "Flypaper-Chunks": 1000}, big)
    # chunks whose bytes outgrow the size their set claims (4000)
    publish_chunks(node.port, subj + ".payloads", "payload", b"C" * 6000, 2, sha="cd" * 32,
                   size=4000, extra={"Flypaper-First-Seen": "2026-01-01T00:00:00Z"})
    # poison JSON, an unknown kind, a payload whose size is not its length
    jspub(node.port, subj, {"Flypaper-Kind": "session"}, b'{"v":1,"session":')
    jspub(node.port, subj, {"Flypaper-Kind": "nonsense"}, b"x")
    data = b"payload bytes"
    jspub(node.port, subj + ".payloads",
          {"Flypaper-Kind": "payload", "Flypaper-Sha256": hashlib.sha256(data).hexdigest(),
           "Flypaper-Size": 2**62, "Flypaper-First-Seen": "2026-01-01T00:00:00Z",
           "Flypaper-Chunk": 0, "Flypaper-Chunks": 1}, data)
    # a session whose 2nd request has a value of no known form: nothing of it stays
    half = session_msg("0000000000000ba1", "evil",
                       [request_row("0000000000000ba1", 1, "/ok"),
                        dict(request_row("0000000000000ba1", 2, "/bad"), target={"x": "zz"})])
    jspub(node.port, subj, {"Flypaper-Kind": "session"}, half)
    d = sensor(sensors, tmp_path, "alpha", c.urls)
    drive(d.port, "a", 10)
    d.wait_sessions(10)
    wait_for(lambda: central_count(central) >= 10, timeout=60, what="10 sessions centrally")
    time.sleep(1)
    assert d.stop() == 0
    assert col.stop() == 0
    assert_same_rows([d.db], central)
    assert query(str(central), "SELECT count(*) FROM nats_chunks") == [(0,)]
    assert query(str(central), "SELECT count(*) FROM requests WHERE session = '0000000000000ba1'") \
        == [(0,)]
    text = col.text()
    assert "refused (size): 5" in text, text          # 3 over the cap, a set, a size
    assert "refused (form): 3" in text, text          # JSON, kind, the bad value
    consumer = jsz(node)["consumer_detail"][0]
    assert consumer["num_redelivered"] == 0, consumer
    assert consumer["num_ack_pending"] == 0, consumer


def test_collect_binds_each_sensor_to_its_subject(cluster, sensors, tmp_path):
    """M1: a sensor's sessions come only on the subject it was first seen
    on; a message writes only into its own session; a session id of
    another sensor is a conflict, neither stored nor overwritten."""
    c = cluster(1)
    port = c.nodes[0].port
    central = tmp_path / "fleet.db"
    col = Collector(tmp_path, c.urls, central)
    d = sensor(sensors, tmp_path, "alpha", c.urls)
    drive(d.port, "real", 1)
    wait_for(lambda: central_count(central) >= 1, timeout=60, what="alpha's session")
    victim = query(str(central), "SELECT session FROM sessions")[0][0]
    # a forged alpha session on another subject
    ack = jspub(port, "flypaper.rogue.sessions", {"Flypaper-Kind": "session"},
                session_msg("f00f00f00f00f00f", "alpha", src_ip="<script>"))
    assert "error" not in ack, ack
    # rogue's own session carrying a request and a match for alpha's session
    jspub(port, "flypaper.rogue.sessions", {"Flypaper-Kind": "session"},
          session_msg("00000000000000e1", "rogue", [request_row(victim, 99, "/planted")]))
    jspub(port, "flypaper.rogue.sessions", {"Flypaper-Kind": "session"},
          session_msg("00000000000000e2", "rogue",
                      matches=[{"session": victim, "rule": "planted", "tags": "apt"}]))
    # rogue claims alpha's session id as its own, with a new request
    jspub(port, "flypaper.rogue.sessions", {"Flypaper-Kind": "session"},
          session_msg(victim, "rogue", [request_row(victim, 98, "/planted")]))
    # rogue's own honest session is stored (its subject is now bound to it)
    jspub(port, "flypaper.rogue.sessions", {"Flypaper-Kind": "session"},
          session_msg("00000000000000e3", "rogue", [request_row("00000000000000e3", 1, "/r")]))
    wait_for(lambda: central_count(central) >= 2, timeout=30, what="rogue's own session")
    drive(d.port, "after", 2)
    wait_for(lambda: central_count(central) >= 4, timeout=60, what="alpha's later sessions")
    assert d.stop() == 0
    assert col.stop() == 0
    got = query(str(central), "SELECT session, sensor FROM sessions WHERE sensor = 'rogue'")
    assert got == [("00000000000000e3", "rogue")], got
    assert query(str(central), "SELECT count(*) FROM sessions WHERE session = 'f00f00f00f00f00f'"
                 " OR src_ip = '<script>'") == [(0,)]
    assert query(str(central), "SELECT count(*) FROM requests WHERE target = '/planted'") == [(0,)]
    assert query(str(central), "SELECT count(*) FROM matches") == [(0,)]
    assert query(str(central), "SELECT sensor, subject FROM nats_sensors ORDER BY 1") == [
        ("alpha", "flypaper.alpha.sessions"), ("rogue", "flypaper.rogue.sessions")]
    # alpha's own rows are all there, as the sensor has them
    for table in ("sessions", "requests"):
        assert rows(d.db, table) <= rows(central, table)
    text = col.text()
    assert "refused (subject): 1" in text, text
    assert "refused (child row): 2" in text, text
    assert "refused (conflict): 1" in text, text


def test_collect_joins_chunks_per_sender_and_expires_what_never_completes(cluster, sensors,
                                                                          tmp_path):
    """Contract item 2 and M2: a session message in chunks is joined,
    checked and applied; a rogue's planted chunk does not spoil another
    subject's set; a set that does not hash to its SHA-256 is deleted; an
    incomplete set is deleted after --chunk-max-age; a chunk of a payload
    already joined is dropped; a payload keeps the earliest first_seen and
    its own size."""
    c = cluster(1)
    port = c.nodes[0].port
    central = tmp_path / "fleet.db"
    col = Collector(tmp_path, c.urls, central, args=["--chunk-max-age", "2s"])
    subj = "flypaper.delta.sessions"
    sid = "00000000000de1a0"
    whole = session_msg(sid, "delta", [request_row(sid, i, "/r%d" % i) for i in range(50)])
    acks = publish_chunks(port, subj, "session-chunk", whole, 3,
                          extra={"Flypaper-Session": sid}, msgid=sid)
    assert all("error" not in a for a in acks), acks
    wait_for(lambda: central_count(central) >= 1, timeout=30, what="the chunked session")
    assert query(str(central), "SELECT count(*) FROM requests WHERE session = ?", (sid,)) \
        == [(50,)]
    # a rogue plants chunk 0 of delta's payload first, on its own subject
    data = bytes((i * 13 + 5) % 256 for i in range(9000))
    sha = hashlib.sha256(data).hexdigest()
    seen = {"Flypaper-First-Seen": "2026-05-05T00:00:00.000Z"}
    jspub(port, "flypaper.rogue.sessions.payloads",
          {"Flypaper-Kind": "payload", "Flypaper-Sha256": sha, "Flypaper-Size": 9000,
           "Flypaper-Chunk": 0, "Flypaper-Chunks": 3, **seen}, b"garbage")
    publish_chunks(port, subj + ".payloads", "payload", data, 3, extra=seen)
    wait_for(lambda: query(str(central), "SELECT count(*) FROM payloads")[0][0] == 1,
             timeout=30, what="delta's payload")
    # the same payload again, whole, earlier and later: only the earlier counts
    for when in ("2026-01-01T00:00:00.000Z", "2026-09-09T00:00:00.000Z"):
        jspub(port, subj + ".payloads",
              {"Flypaper-Kind": "payload", "Flypaper-Sha256": sha, "Flypaper-Size": 9000,
               "Flypaper-First-Seen": when, "Flypaper-Chunk": 0, "Flypaper-Chunks": 1,
               "Nats-Msg-Id": when}, data)
    # a late chunk of it (a resend after the duplicate window): dropped, not kept
    jspub(port, subj + ".payloads",
          {"Flypaper-Kind": "payload", "Flypaper-Sha256": sha, "Flypaper-Size": 9000,
           "Flypaper-Chunk": 1, "Flypaper-Chunks": 3, "Nats-Msg-Id": "late", **seen},
          data[3000:6000])
    # a whole set whose bytes do not hash to its SHA-256
    publish_chunks(port, subj + ".payloads", "payload", b"D" * 5000, 2, sha="ee" * 32,
                   extra=seen)
    # a set that never completes
    jspub(port, subj + ".payloads",
          {"Flypaper-Kind": "payload", "Flypaper-Sha256": "ff" * 32, "Flypaper-Size": 9000,
           "Flypaper-Chunk": 0, "Flypaper-Chunks": 3, **seen}, b"F" * 3000)
    wait_for(lambda: "incomplete chunk set(s) older than" in col.text() and query(
        str(central), "SELECT count(*) FROM nats_chunks")[0][0] == 0, timeout=30,
        what="the incomplete sets expired")
    assert col.stop() == 0
    assert query(str(central), "SELECT sha256, size, data, first_seen FROM payloads") == [
        (sha, 9000, data, "2026-01-01T00:00:00.000Z")]
    text = col.text()
    assert "refused (sha256): 1" in text, text
    assert "2 incomplete chunk set(s) expired" in text, text     # the rogue's and the last


def fill_stream(node, max_bytes):
    """Fills the stream to exactly max_bytes with messages collect refuses
    (an unknown kind). Exactly: nats-server before 2.10 checks a new
    message against the room left without its subject and per-record
    overhead, then drops the OLDEST messages when it went over
    (nats-server#4771, #4775): a stream filled by the sensors themselves
    can lose a message at the limit. Room 0 makes every publish fail."""
    subj = "flypaper.filler.sessions"

    def put(n, i):
        ack = jspub(node.port, subj, {"Flypaper-Kind": "filler", "Nats-Msg-Id": "f%04d" % i},
                    b"f" * n)
        return "error" not in ack
    before = jsz(node)["state"]["bytes"]
    assert put(100, 0)
    overhead = jsz(node)["state"]["bytes"] - before - 100     # subject, headers, record
    for i in range(1, 1000):
        room = max_bytes - jsz(node)["state"]["bytes"]
        if room - overhead <= 1000:
            break
        assert put(1000, i)
    assert put(room - overhead, 9998)
    assert jsz(node)["state"]["bytes"] == max_bytes, (jsz(node)["state"], room, overhead)
    assert not put(1, 9999)


def test_full_stream_refuses_publishes_and_sensors_keep_their_backlog(cluster, sensors, tmp_path):
    """M5: the stream is a work queue (acknowledged messages leave it) of
    --stream-max-bytes that refuses new messages when full: the sensor
    keeps them on its disk and counts failures; once the collector drained
    the stream, everything arrives."""
    c = cluster(1)
    node = c.nodes[0]
    central = tmp_path / "fleet.db"
    col = Collector(tmp_path, c.urls, central, args=["--stream-max-bytes", "16k"])
    config = jsz(node)["config"]
    assert (config["retention"], config["max_bytes"], config["discard"]) == \
        ("workqueue", 16384, "new"), config
    assert col.stop() == 0
    fill_stream(node, 16384)
    d = sensor(sensors, tmp_path, "full", c.urls)
    drive(d.port, "f", 20)
    d.wait_sessions(20)
    time.sleep(3)                                  # the shipper tries, and fails, again
    assert d.stop() == 0
    shipped, failures, backlog = query(d.db, "SELECT nats_shipped, nats_failures, "
                                       "nats_backlog FROM runs")[-1]
    assert (shipped, backlog) == (0, 20) and failures > 0, (shipped, failures, backlog)
    col = Collector(tmp_path, c.urls, central, args=["--stream-max-bytes", "16k"])
    d = sensor(sensors, tmp_path, "full", c.urls, db=d.db)
    wait_for(lambda: central_count(central) >= 20, timeout=90, what="20 sessions centrally")
    assert d.stop() == 0
    assert col.stop() == 0
    assert_same_rows([d.db], central)
    assert query(d.db, "SELECT nats_backlog FROM runs")[-1][0] == 0
    assert "refused (form)" in col.text()          # the filler, terminated
    wait_for(lambda: jsz(node)["state"]["messages"] == 0, timeout=10,
             what="the work queue emptied by the acknowledgments")
