"""PROXY protocol v1 and v2 listeners: behind a real haproxy (send-proxy,
send-proxy-v2 with TLVs, LOCAL health checks) the recorded source is the
client's and the header is not payload; hand-made bad headers, strangers
and slow headers are recorded as proxy_error and closed."""
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import time

import pytest

from conftest import FLYPAPER, free_port, payload_of, read_until_close, wait_for

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
CLIENT = "127.0.0.7"             # the client behind haproxy (curl --interface)
STRANGER = "127.0.0.9"           # not among --proxy-from


def haproxy_bin():
    path = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists(
        "/usr/sbin/haproxy") else None)
    assert path, "haproxy is needed (Debian package haproxy; scripts/deps)"
    return path



class Haproxy:
    """haproxy in the foreground (-db) with its own config, in front of a
    flypaper port: frontend v1 (send-proxy) and v2 (send-proxy-v2 with the
    crc32c and unique-id TLVs), each on 127.0.0.1 and [::1]."""

    def __init__(self, tmp_path, backend_port, check=False):
        self.v1 = free_port()
        self.v2 = free_port()
        check_opts = " check check-send-proxy inter 300ms" if check else ""
        cfg = f"""global
    maxconn 256
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend v1
    bind 127.0.0.1:{self.v1}
    bind [::1]:{self.v1}
    default_backend to_fp_v1
frontend v2
    bind 127.0.0.1:{self.v2}
    bind [::1]:{self.v2}
    unique-id-format %{{+X}}o%ci:%cp
    default_backend to_fp_v2
backend to_fp_v1
    server fp 127.0.0.1:{backend_port} send-proxy
backend to_fp_v2
    server fp 127.0.0.1:{backend_port} send-proxy-v2 proxy-v2-options crc32c,unique-id{check_opts}
"""
        self.cfg = tmp_path / "haproxy.cfg"
        self.cfg.write_text(cfg)
        r = subprocess.run([haproxy_bin(), "-c", "-f", str(self.cfg)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        self.log = open(tmp_path / "haproxy.log", "wb")
        self.proc = subprocess.Popen([haproxy_bin(), "-f", str(self.cfg), "-db"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        for port in (self.v1, self.v2):
            wait_for(lambda: self._up(port), what=f"haproxy on {port}")

    def _up(self, port):
        assert self.proc.poll() is None, "haproxy exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def haproxies():
    started = []

    def start(*args, **kwargs):
        h = Haproxy(*args, **kwargs)
        started.append(h)
        return h

    yield start
    for h in started:
        h.stop()


def proxy_daemon(daemons, *extra, allowed=("127.0.0.1/32", "::1/128")):
    args = ["--proxy-protocol"]
    for cidr in allowed:
        args += ["--proxy-from", cidr]
    return daemons(args=args + list(extra))


def client_send(host, port, data, src=None, family=socket.AF_INET):
    """Sends data through haproxy from src, half-closes, reads to the end."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(15)
    if src:
        s.bind((src, 0))
    s.connect((host, port))
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = read_until_close(s)
    s.close()
    return got


def rows_where(d, pred, n=1, timeout=15):
    return wait_for(lambda: (lambda rs: rs if len(rs) >= n else None)(
        [r for r in d.sessions() if pred(r)]), timeout=timeout, what=f"{n} matching rows")


def sent_and_closed(port, data, src="127.0.0.1", timeout=10):
    """Sends data from src without closing our side; returns what came back
    once the daemon closed (it must close by itself)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    if data:
        s.sendall(data)
    got = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        pass
    s.close()
    return got


def send_half_closed(port, data):
    """Sends data and half-closes (a silent daemon then closes as peer_fin)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = read_until_close(s)
    s.close()
    return got


def v2_header(src, dst, sport, dport, tlvs=b"", cmd=0x21):
    block = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    body = block + tlvs
    return V2_SIG + bytes([cmd, 0x11]) + struct.pack("!H", len(body)) + body


# ---- behind haproxy -------------------------------------------------------

@pytest.mark.parametrize("frontend,version", [("v1", "v1"), ("v2", "v2")])
def test_haproxy_records_the_client_and_not_the_header(daemons, haproxies, tmp_path,
                                                       frontend, version):
    d = proxy_daemon(daemons, "--jsonl", str(tmp_path / "fp.jsonl"))
    h = haproxies(tmp_path, d.port)
    port = getattr(h, frontend)
    request = f"GET /through-{frontend} HTTP/1.0\r\nHost: x\r\n\r\n".encode()
    client_send("127.0.0.1", port, request, src=CLIENT)
    (row,) = rows_where(d, lambda r: r["src_ip"] == CLIENT)
    assert row["proxy"] == version and row["proxy_error"] is None
    assert row["dst_ip"] == "127.0.0.1" and row["dst_port"] == port
    assert row["via_ip"] == "127.0.0.1" and row["via_dst_port"] == d.port
    assert row["via_port"] and row["via_dst_ip"] == "127.0.0.1"
    assert row["close_reason"] == "peer_fin"
    # the header is neither payload nor counted
    assert row["bytes_in"] == len(request)
    assert row["payload_sha256"] == hashlib.sha256(request).hexdigest()
    assert payload_of(d.db, row["payload_sha256"]) == request
    assert row["http"] == "ok" and row["requests"] == 1
    assert row["ident_status"] == "none"
    # the SYN the kernel saved is haproxy's: kept, but marked so no
    # report counts it as the client's operating system
    assert row["syn_of"] == "proxy" and row["syn_sig"]
    d.stop()
    events = [json.loads(line) for line in open(tmp_path / "fp.jsonl")]
    (closed,) = [e for e in events if e["eventid"] == "flypaper.session.closed"
                 and e["session"] == row["session"]]
    assert closed["src_ip"] == CLIENT and closed["proxy"] == version
    assert closed["via_ip"] == "127.0.0.1" and closed["via_dst_port"] == d.port
    assert closed["proxy_error"] is None


def test_curl_behind_haproxy_over_ipv4_and_ipv6(daemons, haproxies, tmp_path):
    d = proxy_daemon(daemons, "--respond", "http-nginx")
    h = haproxies(tmp_path, d.port)
    for url, iface in ((f"http://127.0.0.1:{h.v1}/curl-v1", ["--interface", CLIENT]),
                       (f"http://[::1]:{h.v2}/curl-v2", [])):
        r = subprocess.run(["curl", "-sS", "-g", "-m", "10", "-o", "/dev/null",
                            "-w", "%{http_code}", *iface, url],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout != "000", r.stderr
    v4 = rows_where(d, lambda r: r["src_ip"] == CLIENT)[0]
    v6 = rows_where(d, lambda r: r["src_ip"] == "::1")[0]
    assert (v4["proxy"], v4["dst_port"]) == ("v1", h.v1)
    # a TCP6 (0x21) header reaching an IPv4 backend
    assert (v6["proxy"], v6["dst_ip"], v6["dst_port"]) == ("v2", "::1", h.v2)
    for row, path in ((v4, b"/curl-v1"), (v6, b"/curl-v2")):
        data = payload_of(d.db, row["payload_sha256"])
        assert data.startswith(b"GET " + path + b" HTTP/1.1\r\n"), data[:64]
        assert row["bytes_in"] == len(data)
        assert row["via_ip"] == "127.0.0.1" and row["via_dst_port"] == d.port
        assert row["bytes_out"] > 0      # the personality answered the real client


def test_haproxy_health_checks_send_v2_local(daemons, haproxies, tmp_path):
    d = proxy_daemon(daemons)
    haproxies(tmp_path, d.port, check=True)
    row = rows_where(d, lambda r: r["proxy"] == "v2_local")[0]
    # LOCAL: the proxy speaks for itself, so the transport addresses stay
    assert row["src_ip"] == "127.0.0.1" and row["dst_port"] == d.port
    assert row["via_ip"] is None and row["proxy_error"] is None
    assert row["close_reason"] != "proxy_error"
    assert row["syn_of"] in ("peer", None)    # no header replaced the peer


# ---- by hand ----------------------------------------------------------------

BAD = [
    ("lf_without_cr", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "v1", "malformed"),
    ("wrong_family", b"PROXY TCP4 ::1 ::1 1 2\r\n", "v1", "malformed"),
    ("leading_zeros", b"PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n", "v1", "malformed"),
    ("port_leading_zero", b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", "v1", "malformed"),
    ("v1_no_crlf", b"PROXY UNKNOWN " + b"x" * 120, "v1", "too_long"),
    ("v2_tlv_overrun", V2_SIG + b"\x21\x11\x00\x13" + bytes(12) + b"\x04\x00\x09abcd",
     "v2", "malformed"),
    ("v2_block_overrun", V2_SIG + b"\x21\x21\x00\x0c" + bytes(12), "v2", "malformed"),
    ("v2_too_long", V2_SIG + b"\x21\x11\x04\x01" + bytes(64), "v2", "too_long"),
    ("v2_bad_version", V2_SIG + b"\x31\x11\x00\x0c" + bytes(12), "v2", "malformed"),
    ("missing", b"GET / HTTP/1.0\r\n\r\n", None, "missing"),
]


@pytest.mark.parametrize("name,data,version,error", BAD, ids=[b[0] for b in BAD])
def test_bad_headers_are_recorded_and_closed(daemons, name, data, version, error):
    d = proxy_daemon(daemons, "--respond", "http-nginx")
    # the daemon closes (we never half-close), and answers nothing
    assert sent_and_closed(d.port, data) == b""
    (row,) = d.wait_sessions(1)
    assert row["bytes_out"] == 0
    assert row["close_reason"] == "proxy_error"
    assert row["proxy_error"] == error and row["proxy"] == version
    assert row["src_ip"] == "127.0.0.1" and row["via_ip"] is None
    assert row["closed_by"] == "server"
    # what it sent is kept, for the record
    got = payload_of(d.db, row["payload_sha256"])
    assert got and data.startswith(got)
    if error == "missing":               # plain HTTP to a proxy listener shows as such
        assert (row["http"], row["requests"]) == ("ok", 1)
    # the daemon is fine: a good header right after is recorded as such
    good = b"PROXY TCP4 192.0.2.1 192.0.2.2 1234 80\r\nGET / HTTP/1.0\r\n\r\n"
    send_half_closed(d.port, good)
    rows_where(d, lambda r: r["src_ip"] == "192.0.2.1" and r["proxy"] == "v1")


def test_v2_length_beyond_what_came_then_close(daemons):
    d = proxy_daemon(daemons)
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    s.sendall(V2_SIG + b"\x21\x11\x00\x40" + bytes(12))   # 64 promised, 12 sent
    s.shutdown(socket.SHUT_WR)
    assert s.recv(100) == b""
    s.close()
    (row,) = d.wait_sessions(1)
    assert (row["close_reason"], row["proxy"], row["proxy_error"]) == \
        ("proxy_error", "v2", "malformed")


@pytest.mark.parametrize("header", [
    b"PROXY TCP4 198.51.100.7 203.0.113.1 51000 8080\r\n",
    v2_header("198.51.100.7", "203.0.113.1", 51000, 8080,
              tlvs=b"\x03\x00\x04\x01\x02\x03\x04" + b"\x05\x00\x05hello"),
], ids=["v1", "v2"])
def test_a_header_split_byte_by_byte_parses_the_same(daemons, header):
    d = proxy_daemon(daemons)
    body = b"GET /split HTTP/1.0\r\n\r\n"
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(len(header)):
        s.send(header[i:i + 1])
        time.sleep(0.003)
    s.sendall(body)
    s.shutdown(socket.SHUT_WR)
    assert s.recv(100) == b""
    s.close()
    (row,) = d.wait_sessions(1)
    assert (row["src_ip"], row["src_port"]) == ("198.51.100.7", 51000)
    assert (row["dst_ip"], row["dst_port"]) == ("203.0.113.1", 8080)
    assert row["via_dst_port"] == d.port and row["proxy_error"] is None
    assert row["bytes_in"] == len(body)
    assert payload_of(d.db, row["payload_sha256"]) == body


def test_a_source_not_listed_is_forbidden_before_reading(daemons):
    d = proxy_daemon(daemons, allowed=("127.0.0.1/32",))
    got = sent_and_closed(d.port, b"PROXY TCP4 1.1.1.1 2.2.2.2 1 2\r\nGET / HTTP/1.0\r\n\r\n",
                          src=STRANGER)
    assert got == b""
    (row,) = d.wait_sessions(1)
    assert (row["close_reason"], row["proxy_error"]) == ("proxy_error", "forbidden")
    assert row["src_ip"] == STRANGER and row["bytes_in"] == 0
    assert row["payload_sha256"] is None and row["proxy"] is None
    assert row["syn_of"] == "peer" and row["syn_ttl"] == 64  # the stranger's own SYN


def test_a_slow_header_times_out(daemons):
    d = proxy_daemon(daemons, "--proxy-timeout", "500ms")
    start = time.monotonic()
    sent_and_closed(d.port, b"PROXY TCP4 1.2.3.4", timeout=20)
    assert time.monotonic() - start < 15       # closed by the daemon, not by us
    (row,) = d.wait_sessions(1)
    assert (row["close_reason"], row["proxy"], row["proxy_error"]) == \
        ("proxy_error", "v1", "timeout")
    assert payload_of(d.db, row["payload_sha256"]) == b"PROXY TCP4 1.2.3.4"


def test_a_silent_connection_times_out_as_missing_header(daemons):
    d = proxy_daemon(daemons, "--proxy-timeout", "300ms")
    sent_and_closed(d.port, b"", timeout=20)
    (row,) = d.wait_sessions(1)
    assert (row["close_reason"], row["proxy"], row["proxy_error"]) == \
        ("proxy_error", None, "timeout")


def test_the_banner_waits_for_the_header(daemons):
    d = proxy_daemon(daemons, "--respond", "banner", "--banner-text", "220 hi\\r\\n")
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    s.settimeout(0.5)
    with pytest.raises(socket.timeout):
        s.recv(100)                      # nothing goes to the proxy
    s.settimeout(10)
    s.sendall(b"PROXY TCP4 192.0.2.5 192.0.2.6 1000 25\r\n")
    assert s.recv(100) == b"220 hi\r\n"
    s.close()
    (row,) = d.wait_sessions(1)
    assert row["src_ip"] == "192.0.2.5" and row["bytes_out"] == 8
    assert row["bytes_in"] == 0 and row["first_out_ms"] >= 400


def test_no_ident_probe_for_proxied_sessions(daemons):
    d = proxy_daemon(daemons, "--ident", "always", "--ident-timeout", "500ms")
    send_half_closed(d.port, b"PROXY TCP4 127.0.0.7 127.0.0.1 1000 80\r\nGET / HTTP/1.0\r\n\r\n")
    (row,) = d.wait_sessions(1)
    assert row["src_ip"] == CLIENT and row["ident_status"] == "none"
    assert row["ident_sent_ms"] is None


def test_per_source_limit_counts_the_real_source(daemons):
    d = proxy_daemon(daemons, "--max-conns-per-source", "1")
    held = []
    for src in ("192.0.2.1", "192.0.2.2", "192.0.2.1"):
        s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        s.sendall(f"PROXY TCP4 {src} 192.0.2.100 1000 80\r\n".encode())
        held.append(s)
        time.sleep(0.2)
    # the third repeats the first's real source: refused once its header named it
    refused = rows_where(d, lambda r: r["close_reason"] == "capacity")
    assert refused[0]["src_ip"] == "192.0.2.1"
    assert refused[0]["limit_hit"] == "max_conns_per_source"
    for s in held:
        s.close()
    rows = rows_where(d, lambda r: True, n=3)
    assert sorted(r["src_ip"] for r in rows) == ["192.0.2.1", "192.0.2.1", "192.0.2.2"]


# ---- configuration --------------------------------------------------------

@pytest.mark.parametrize("args,conf,message", [
    (["--proxy-protocol"], None, "proxy-protocol without proxy-from"),
    (["--proxy-protocol", "--proxy-from", "10.0.0.1/8"], None, "is not a network"),
    (["--proxy-protocol", "--proxy-from", "example.org"], None, "is not a network"),
    (["--proxy-timeout", "10ms"], None, "proxy-timeout"),
    ([], "[listener a]\nlisten = 127.0.0.1:0\nproxy = yes\n", "proxy = yes without proxy_from"),
    ([], "[listener a]\nlisten = 127.0.0.1:0\nproxy = perhaps\n", "is not yes or no"),
    ([], "[listener a]\nlisten = 127.0.0.1:0\nproxy = yes\nproxy_from = 10.0.0.0/99\n",
     "is not a network"),
])
def test_bad_proxy_settings_exit_2(tmp_path, args, conf, message):
    cmd = [FLYPAPER, "serve", "--check", "--db", str(tmp_path / "x.db")] + args
    if conf is not None:
        (tmp_path / "fp.conf").write_text(conf)
        cmd += ["-c", str(tmp_path / "fp.conf")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr


def test_listener_sections_choose_which_listener_takes_a_header(daemons, tmp_path):
    plain, proxied = free_port(), free_port()
    conf = tmp_path / "fp.conf"
    conf.write_text(f"[listener plain]\nlisten = 127.0.0.1:{plain}\n"
                    f"[listener behind]\nproxy = yes\nproxy_from = 127.0.0.1/32\n"
                    f"listen = 127.0.0.1:{proxied}\n")
    d = daemons(args=["-c", str(conf)], listen=())
    send_half_closed(plain, b"GET /plain HTTP/1.0\r\n\r\n")
    send_half_closed(proxied, b"PROXY TCP4 192.0.2.8 192.0.2.9 7 80\r\nGET /p HTTP/1.0\r\n\r\n")
    rows = rows_where(d, lambda r: True, n=2)
    by_port = {r["via_dst_port"] or r["dst_port"]: r for r in rows}
    assert by_port[plain]["proxy"] is None and by_port[plain]["src_ip"] == "127.0.0.1"
    assert by_port[proxied]["proxy"] == "v1" and by_port[proxied]["src_ip"] == "192.0.2.8"
