"""Shared helpers: start the real flypaper binary on loopback, talk to it
with real sockets, read its real SQLite database."""
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLYPAPER = os.environ.get("FLYPAPER", os.path.join(ROOT, "build", "flypaper"))
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Polls predicate until it returns a true value; fails the test after
    timeout seconds. Returns the value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def tool(name):
    """The path of a program the tests need (scripts/deps installs it)."""
    for d in ("/usr/bin", "/usr/sbin", "/bin", "/sbin"):
        if os.path.exists(os.path.join(d, name)):
            return os.path.join(d, name)
    raise AssertionError(f"{name} is needed (scripts/deps installs it)")


class TsharkCapture:
    """tshark on lo for some TCP ports, written to tmp_path/NAME.pcap for at
    most `seconds`; stop() returns the file."""

    def __init__(self, tmp_path, ports, name, seconds):
        self.path = str(tmp_path / f"{name}.pcap")
        self.err = open(str(tmp_path / "tshark.log"), "wb")
        bpf = " or ".join(f"tcp port {p}" for p in ports)
        self.proc = subprocess.Popen(
            [tool("tshark"), "-q", "-i", "lo", "-f", bpf, "-w", self.path,
             "-a", f"duration:{seconds}"], stdout=subprocess.DEVNULL, stderr=self.err)
        wait_for(lambda: b"Capturing on" in open(self.err.name, "rb").read()
                 or self.proc.poll() is not None, timeout=30, what="tshark to capture")
        assert self.proc.poll() is None, open(self.err.name, "rb").read()
        time.sleep(0.3)

    def stop(self):
        time.sleep(0.5)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)
        self.err.close()
        return self.path


def free_port(family=socket.AF_INET, kind=socket.SOCK_STREAM, host="127.0.0.1"):
    """A port nothing is bound to on host now (for a server a test starts)."""
    s = socket.socket(family, kind)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def query(db, sql, args=()):
    """Runs one query on a fresh read-only connection (the daemon writes
    in WAL mode, so readers never block it)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def session_rows(db):
    if not os.path.exists(db):
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        con.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in con.execute(
                "SELECT * FROM sessions ORDER BY start_ts, session")]
        finally:
            con.close()
    except sqlite3.OperationalError:
        return []        # schema not created yet


def payload_of(db, sha):
    rows = query(db, "SELECT data FROM payloads WHERE sha256 = ?", (sha,))
    return bytes(rows[0][0]) if rows else None


class Daemon:
    """One `flypaper serve` process with its own database and log."""

    def __init__(self, tmp_path, args=(), listen=("127.0.0.1:0",), db=None,
                 workers=2, env=None, check_ready=True, prefix=()):
        self.tmp = tmp_path
        self.db = db or str(tmp_path / "flypaper.db")
        self.log_path = str(tmp_path / f"serve-{time.monotonic_ns()}.log")
        cmd = list(prefix) + [FLYPAPER, "serve", "--db", self.db,
                              "--workers", str(workers)]
        for addr in listen:
            cmd += ["--listen", addr]
        cmd += list(args)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env)
        self.ports = []
        if check_ready:
            wait_for(lambda: "ready:" in self.text() or self.proc.poll() is not None,
                     what="the daemon to be ready")
            assert self.proc.poll() is None, f"daemon exited early:\n{self.text()}"
            self.ports = [int(p) for p in re.findall(r"listening on \S+:(\d+)", self.text())]

    @property
    def port(self):
        return self.ports[0]

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signals the daemon and returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.log.close()
        return rc

    def sessions(self):
        return session_rows(self.db)

    def wait_sessions(self, n, timeout=15):
        return wait_for(lambda: (lambda rows: rows if len(rows) >= n else None)(self.sessions()),
                        timeout=timeout, what=f"{n} session rows")


@pytest.fixture
def daemons(tmp_path):
    """Starts daemons on demand and, at the end, stops them and fails the
    test if a sanitizer reported anything."""
    started = []

    def start(*args, **kwargs):
        d = Daemon(tmp_path, *args, **kwargs)
        started.append(d)
        return d

    yield start
    for d in started:
        if d.proc.poll() is None:
            d.stop()
        text = d.text()
        for mark in SANITIZER_MARKS:
            assert mark not in text, f"sanitizer report in the daemon's log:\n{text}"


def connect(port, host="127.0.0.1", family=socket.AF_INET, timeout=10):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def read_until_close(s):
    """Reads until the server closes; returns all it sent."""
    got = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return got
        got += chunk


def send_and_close(port, data, host="127.0.0.1", family=socket.AF_INET):
    """Sends data, half-closes, waits for the server to close; returns the
    bytes the server sent."""
    s = connect(port, host, family)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = read_until_close(s)
    s.close()
    return got


def connect_from(port, src_ip, timeout=10):
    """Connects to 127.0.0.1:port from another loopback address."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src_ip, 0))
    s.connect(("127.0.0.1", port))
    return s


def send_from(port, src_ip, data):
    s = connect_from(port, src_ip)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    read_until_close(s)
    s.close()


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError("chromium is needed (Debian package chromium)")


def headless(profile, *args):
    """Runs headless Chromium with args (a fresh profile folder, no network
    chatter); fails the test unless it exits 0. Returns its stdout."""
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def render_dom(page, profile):
    """The DOM headless Chromium builds from the local HTML file page."""
    return headless(profile, "--dump-dom", f"file://{page}")


def flood_past_fd_limit(d, prefix, count, per_octet, what):
    """Connects count sockets from prefix.X.Y without waiting (per_octet
    addresses per third octet), as a flood past the daemon's fd limit
    would; checks that the sessions refused at the limit are recorded as
    capacity, then closes them all and waits until every one is recorded."""
    import socket
    held = []
    try:
        for i in range(count):
            h = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(h)
            h.setblocking(False)
            h.bind((f"{prefix}{i // per_octet}.{i % per_octet + 1}", 0))
            try:
                h.connect(("127.0.0.1", d.port))
            except BlockingIOError:
                pass
        refused = wait_for(lambda: [
            x for x in session_rows(d.db)
            if x["src_ip"].startswith(prefix) and x["limit_hit"] == "fd_limit"],
            timeout=20, what=f"fd-limit refusals in {what}")
        assert all(x["close_reason"] == "capacity" for x in refused)
    finally:
        for h in held:
            h.close()
    wait_for(lambda: len([x for x in session_rows(d.db)
                          if x["src_ip"].startswith(prefix)]) >= len(held),
             timeout=30, what=f"{what} recorded")


# Version 6's sessions table, column for column, with its CHECK.
V6_SESSIONS = """CREATE TABLE sessions (
  session TEXT PRIMARY KEY, sensor TEXT NOT NULL, start_ts TEXT NOT NULL,
  end_ts TEXT NOT NULL, src_ip TEXT NOT NULL, src_port INTEGER NOT NULL,
  dst_ip TEXT NOT NULL, dst_port INTEGER NOT NULL, bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL, first_byte_ms INTEGER, duration_ms INTEGER NOT NULL,
  close_reason TEXT NOT NULL CHECK (close_reason IN ('peer_fin','peer_rst',
    'idle_timeout','session_timeout','server_close','capacity','shutdown')),
  payload_sha256 TEXT, truncated INTEGER NOT NULL, payload_lost INTEGER NOT NULL DEFAULT 0,
  mode TEXT NOT NULL, strategy TEXT, first_out_ms INTEGER, closed_by TEXT,
  peer_close_after_out_ms INTEGER, peer_close_after_ident_ms INTEGER,
  ident_status TEXT NOT NULL DEFAULT 'none', ident_reply TEXT, ident_opsys TEXT,
  ident_charset TEXT, ident_userid TEXT, ident_error TEXT, ident_sent_ms INTEGER,
  ident_reply_ms INTEGER, http TEXT, requests INTEGER NOT NULL DEFAULT 0,
  limit_hit TEXT, family TEXT, tags TEXT, class_state TEXT NOT NULL DEFAULT 'none',
  shape TEXT)"""
V6_RUNS = ("sensor", "mode", "started", "ended", "sessions", "refused", "accept_errors",
           "payloads_dropped", "records_dropped", "store_errors", "records_lost",
           "jsonl_errors", "lag_pauses", "lag_paused_ms", "unclassified", "evicted",
           "jsonl_escaped", "classify_skipped")


def make_schema_6(db):
    """Turns a current database into a version 6 one with the same rows
    (what a test of an older version starts from: schema 7 rebuilt
    sessions, so dropping columns alone cannot undo it)."""
    con = sqlite3.connect(db)
    undo_schema_9(con)
    mem = sqlite3.connect(":memory:")
    mem.execute(V6_SESSIONS)
    cols = [r[1] for r in mem.execute("PRAGMA table_info(sessions)")]
    con.execute("ALTER TABLE sessions RENAME TO sessions_now")
    con.execute(V6_SESSIONS)
    names = ", ".join(cols)
    con.execute(f"INSERT INTO sessions({names}) SELECT {names} FROM sessions_now")
    con.execute("DROP TABLE sessions_now")
    con.execute("CREATE INDEX sessions_start ON sessions(start_ts)")
    con.execute("CREATE INDEX sessions_shape ON sessions(shape) WHERE shape IS NOT NULL")
    for (column,) in con.execute("SELECT name FROM pragma_table_info('runs')").fetchall():
        if column not in V6_RUNS:
            con.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    con.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    con.commit()
    con.close()


V8_SESSION_COLUMNS = (
    "tls", "tls_record_ver", "tls_hello_ver", "tls_versions", "tls_ciphers", "tls_extensions",
    "tls_groups", "tls_point_formats", "tls_sig_algs", "tls_alpn", "tls_sni", "ja3", "ja3_md5",
    "ja4", "ja4_r", "tls_front", "tls_version", "tls_cipher", "tls_error", "tls_alert",
    "tls_hello_ms", "tls_done_ms", "tls_raw_in", "tls_raw_out", "tls_hello",
    "experiment", "experiment_id")
V8_RUN_COLUMNS = ("tls_handshakes", "tls_failed")
# Schema 9 (the fleet, issue 12): each part's tables and run columns.
V9_TABLES = ("nats_shipped", "nats_payloads", "nats_chunks", "nats_sensors")
V9_RUN_COLUMNS = (
    "nats_shipped", "nats_failures", "nats_backlog", "nats_lag_ms",  # v9 nats
    "metrics_scrapes", "metrics_refused",  # v9 metrics
    "syslog_sent", "syslog_lost", "syslog_escaped",  # v9 syslog
)


def undo_schema_9(con):
    """Drops what schema 9 added (tables, run columns), so that an older
    version's database can be made from a current one."""
    for table in V9_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {table}")
    have = {r[0] for r in con.execute("SELECT name FROM pragma_table_info('runs')")}
    for column in V9_RUN_COLUMNS:
        if column in have:
            con.execute(f"ALTER TABLE runs DROP COLUMN {column}")


def make_schema_7(db):
    """Turns a current database into a version 7 one with the same rows:
    schema 8 only added columns (and two indexes), so dropping them undoes it
    (and schema 9's run columns)."""
    con = sqlite3.connect(db)
    undo_schema_9(con)
    con.execute("DROP INDEX IF EXISTS sessions_ja3")
    con.execute("DROP INDEX IF EXISTS sessions_experiment")
    for column in V8_SESSION_COLUMNS:
        con.execute(f"ALTER TABLE sessions DROP COLUMN {column}")
    for column in V8_RUN_COLUMNS:
        con.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    con.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    con.commit()
    con.close()
