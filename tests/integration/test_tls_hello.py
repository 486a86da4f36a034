"""ClientHello facts, JA3 and JA4 (issue 11, part 1) on a PLAIN listener:
real TLS clients (curl, openssl s_client, Python's ssl, nmap's
ssl-enum-ciphers) send their ClientHello to flypaper, which keeps it as the
payload and reads it in the writer. tshark watches the same handshakes on
loopback and is the oracle for JA3 (string and MD5) on every one; SNI and
ALPN must be what was sent. Hellos split byte by byte over TCP and over
many TLS records must give the same row; truncated, malformed, oversized,
SSLv2 and hostile-SNI hellos are recorded as such, their peer strings
escaped in the database and the JSON lines."""
import collections
import json
import socket
import ssl
import struct
import subprocess
import time

from conftest import TsharkCapture, tool

IDLE = ["--idle-timeout", "800ms"]
HELLO_COLUMNS = ["tls", "tls_record_ver", "tls_hello_ver", "tls_versions", "tls_ciphers",
                 "tls_extensions", "tls_groups", "tls_point_formats", "tls_sig_algs",
                 "tls_alpn", "tls_sni", "ja3", "ja3_md5", "ja4", "ja4_r"]


def tshark_hellos(pcap, port):
    """Each ClientHello tshark decoded, by client port: JA3, SNI, ALPN."""
    fields = ["tcp.srcport", "tls.handshake.ja3_full", "tls.handshake.ja3",
              "tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str"]
    cmd = [tool("tshark"), "-r", pcap, "-d", f"tcp.port=={port},tls",
           "-Y", "tls.handshake.type == 1", "-T", "fields", "-E", "separator=/t",
           "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in fields:
        cmd += ["-e", f]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    hellos = {}
    for line in r.stdout.splitlines():
        v = dict(zip(fields, line.split("\t")))
        hellos.setdefault(int(v["tcp.srcport"]), v)
    return hellos


def run(cmd, timeout=20):
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=timeout)


def hello_rows(d):
    return [r for r in d.sessions() if r["tls"] is not None]


# --- crafted hellos ---------------------------------------------------------

def u16(v):
    return struct.pack(">H", v)


def vec16(b):
    return u16(len(b)) + b


def ext(t, data):
    return u16(t) + vec16(data)


def sni_ext(name):
    return ext(0, vec16(b"\x00" + vec16(name)))


def alpn_ext(names):
    return ext(16, vec16(b"".join(bytes([len(n)]) + n for n in names)))


def client_hello(ciphers, exts, version=0x0303, with_ext_block=True):
    """A ClientHello handshake message (header included)."""
    body = u16(version) + bytes(range(32)) + b"\x00"
    body += vec16(b"".join(u16(c) for c in ciphers)) + b"\x01\x00"
    if with_ext_block:
        body += vec16(b"".join(exts))
    return b"\x01" + struct.pack(">I", len(body))[1:] + body


def records(msg, sizes=None, version=0x0301):
    """msg in TLS handshake records of the given sizes (the rest in one)."""
    out, at = b"", 0
    for n in (sizes or []):
        out += b"\x16" + u16(version) + u16(len(msg[at:at + n])) + msg[at:at + n]
        at += n
    while at < len(msg):
        part = msg[at:at + 16384]
        out += b"\x16" + u16(version) + u16(len(part)) + part
        at += len(part)
    return out


GREASE_HELLO = client_hello(
    [0x1a1a, 0x1301, 0x1302, 0xc02b, 0x002f, 0x00ff],
    [ext(0x2a2a, b""), sni_ext(b"grease.test"), ext(10, vec16(u16(0x3a3a) + u16(29) + u16(23))),
     ext(11, b"\x01\x00"), ext(13, vec16(u16(0x0403) + u16(0x0804))), alpn_ext([b"h2", b"http/1.1"]),
     ext(43, b"\x04" + u16(0x4a4a) + u16(0x0304)), ext(21, b"\x00" * 40), ext(0x5a5a, b"\x00")])


def send(port, data, per_byte=False, close=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if per_byte:
        for i in range(len(data)):
            s.send(data[i:i + 1])
            time.sleep(0.001)
    else:
        s.sendall(data)
    if close:
        s.shutdown(socket.SHUT_WR)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    s.close()
    return s


def local_port_of(data, port, **kw):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    mine = s.getsockname()[1]
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if kw.get("per_byte"):
        for i in range(len(data)):
            s.send(data[i:i + 1])
            time.sleep(0.001)
    else:
        s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    s.close()
    return mine


# --- the tests --------------------------------------------------------------

def real_clients(port):
    """Real TLS clients, each sending one or more ClientHellos (the server
    never answers, so each gives up at the idle timeout). Returns what was
    sent by client port where the client lets us know it: (sni, alpn)."""
    url = f"https://127.0.0.1:{port}/"
    named = ["--resolve", f"flypaper.test:{port}:127.0.0.1", f"https://flypaper.test:{port}/"]
    for args in (["--tls-max", "1.2", url], ["--tlsv1.3", url], ["--tls-max", "1.1", "--tlsv1.1", url],
                 ["--tls-max", "1.2", "--ciphers", "ECDHE-RSA-AES128-GCM-SHA256:AES256-SHA", url],
                 ["--http1.1"] + named, ["--http2"] + named):
        run([tool("curl"), "-sk", "--max-time", "5"] + args)
    for args in ([], ["-servername", "example.com"], ["-alpn", "h2,http/1.1"],
                 ["-servername", "a.example", "-alpn", "x-odd", "-tls1_2"], ["-noservername"]):
        run([tool("openssl"), "s_client", "-connect", f"127.0.0.1:{port}"] + args)
    sent = {}
    for sni, alpn in (("py.example", ["h2", "http/1.1"]), (None, None)):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if alpn:
            ctx.set_alpn_protocols(alpn)
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        mine = s.getsockname()[1]
        try:
            ctx.wrap_socket(s, server_hostname=sni)
        except OSError:
            pass
        s.close()
        sent[mine] = (sni, alpn)
    return sent


def test_real_clients_ja3_equals_tshark(daemons, tmp_path):
    jsonl = tmp_path / "fp.jsonl"
    d = daemons(IDLE + ["--jsonl", str(jsonl)])
    cap = TsharkCapture(tmp_path, [d.port], "hello", 240)
    sent = real_clients(d.port)
    run([tool("nmap"), "-Pn", "-n", "--script", "ssl-enum-ciphers", "-p", str(d.port),
         "127.0.0.1"], timeout=180)
    # crafted ones tshark must agree on too: GREASE everywhere, no
    # extension block at all, an empty one, an empty padding extension,
    # empty groups and point formats (which break the specification: the
    # row says malformed, the fingerprints are still those of the lists
    # sent), and SSLv2 hellos, which have no JA3
    crafted = {local_port_of(records(h), d.port) for h in (
        GREASE_HELLO,
        client_hello([0x002f, 0x0035], [], with_ext_block=False),
        client_hello([0x002f], []),
        client_hello([0x002f], [ext(21, b"")]),
        client_hello([0x002f], [ext(10, vec16(b"")), ext(11, b"\x00")]))}
    # the same hello in records of 1 to 50 bytes, and a byte per segment
    crafted.add(local_port_of(records(GREASE_HELLO, sizes=[1, 1, 1, 1, 3, 50, 1]), d.port))
    crafted.add(local_port_of(records(GREASE_HELLO), d.port, per_byte=True))
    v2 = {local_port_of(h, d.port) for h in (sslv2_hello(), sslv2_hello(0x0301))}
    pcap = cap.stop()
    time.sleep(1.5)
    assert d.stop() == 0
    oracle = tshark_hellos(pcap, d.port)
    # A client port the kernel gave out twice in the run (the first
    # connection closed) names two hellos: which is which is ambiguous by
    # port, so those are left out of the comparison (rare; seen once in CI).
    all_rows = hello_rows(d)
    ports = collections.Counter(r["src_port"] for r in all_rows)
    reused = {p for p, n in ports.items() if n > 1}
    rows = {r["src_port"]: r for r in all_rows if r["src_port"] not in reused}
    assert len(set(oracle) - reused) >= 20, f"too few handshakes seen by tshark: {len(oracle)}"
    assert crafted | v2 <= set(oracle)
    for port, t in oracle.items():
        if port in reused:
            continue
        r = rows.get(port)
        assert r is not None, f"no session for the hello from port {port}: {t}"
        if port in v2:
            assert t["tls.handshake.ja3_full"] == "" and r["ja3"] is None, (r, t)
            assert r["tls"] == "sslv2"
            continue
        assert r["tls"] == "hello" or (port in crafted and r["tls"] == "malformed"), (r, t)
        assert r["ja3"] == t["tls.handshake.ja3_full"], (port, r["ja3"], t)
        assert r["ja3_md5"] == t["tls.handshake.ja3"], (port, r["ja3_md5"], t)
        assert (r["tls_sni"] or "") == t["tls.handshake.extensions_server_name"], (r, t)
        assert (r["tls_alpn"] or "") == t["tls.handshake.extensions_alpn_str"], (r, t)
        assert r["ja4"] and r["ja4"].startswith("t") and len(r["ja4"]) == 36, r["ja4"]
        assert r["ja4_r"].startswith(r["ja4"][:10]), r
    # every session that holds a hello was seen by tshark too
    assert set(rows) <= set(oracle)
    # what the clients sent, as they sent it
    for port, (sni, alpn) in sent.items():
        if port in reused:
            continue
        assert rows[port]["tls_sni"] == sni
        assert rows[port]["tls_alpn"] == (",".join(alpn) if alpn else None)
    named = [r for r in rows.values() if r["tls_sni"] == "flypaper.test"]
    assert {r["tls_alpn"] for r in named} >= {"http/1.1", "h2,http/1.1"}
    # the JSON lines say the same
    events = {e["src_port"]: e for e in map(json.loads, open(jsonl))
              if e["eventid"] == "flypaper.session.closed"}
    for port, r in rows.items():
        for c in HELLO_COLUMNS:
            assert events[port][c] == r[c], (c, events[port][c], r[c])


def test_splits_parse_the_same(daemons):
    d = daemons(IDLE)
    whole = local_port_of(records(GREASE_HELLO), d.port)
    by_byte = local_port_of(records(GREASE_HELLO), d.port, per_byte=True)
    by_record = local_port_of(records(GREASE_HELLO, sizes=[1, 1, 1, 1, 3, 50, 1]), d.port)
    d.wait_sessions(3)
    assert d.stop() == 0
    rows = {r["src_port"]: r for r in d.sessions()}
    want = {c: rows[whole][c] for c in HELLO_COLUMNS}
    assert want["tls"] == "hello"
    assert want["tls_sni"] == "grease.test"
    # GREASE kept in the lists, left out of JA3 and JA4
    assert want["tls_ciphers"] == "1a1a,1301,1302,c02b,002f,00ff"
    assert want["tls_versions"] == "4a4a,0304"
    assert want["tls_extensions"] == "2a2a,0000,000a,000b,000d,0010,002b,0015,5a5a"
    assert want["ja3"] == "771,4865-4866-49195-47-255,0-10-11-13-16-43-21,29-23,0"
    assert want["ja4"].startswith("t13d0507h2_")
    for port in (by_byte, by_record):
        assert {c: rows[port][c] for c in HELLO_COLUMNS} == want, rows[port]


def sslv2_hello(version=0x0002):
    """An SSLv2 CLIENT-HELLO (the SSLv2-compatible form with version 0x0301)."""
    specs = bytes.fromhex("0700c0" "050080" "030080" "010080" "000004")
    challenge = bytes(range(16))
    msg = b"\x01" + u16(version) + u16(len(specs)) + u16(0) + u16(len(challenge)) + specs + challenge
    return u16(0x8000 | len(msg)) + msg


def test_broken_hellos_recorded_as_such(daemons, tmp_path):
    jsonl = tmp_path / "fp.jsonl"
    d = daemons(IDLE + ["--jsonl", str(jsonl)])
    full = records(GREASE_HELLO)
    bad_ciphers = bytearray(GREASE_HELLO)
    bad_ciphers[4 + 2 + 32 + 1 + 1] ^= 1       # an odd cipher-suite length
    hostile = client_hello([0x002f], [sni_ext(b"a\x00<b>\x1b[31m\xff,\\"), alpn_ext([b"h,2", b"\xc3\x28"])])
    ports = {
        "partial": local_port_of(full[:120], d.port),
        "malformed_len": local_port_of(records(bytes(bad_ciphers)), d.port),
        # an alert record where the rest of the hello should be
        "malformed_rec": local_port_of(records(GREASE_HELLO, sizes=[40])[:45]
                                       + b"\x15\x03\x01\x00\x02\x02\x28", d.port),
        "oversized": local_port_of(records(client_hello(list(range(1, 20000)), [])), d.port),
        "sslv2": local_port_of(sslv2_hello(), d.port),
        "hostile": local_port_of(records(hostile), d.port),
        "http": local_port_of(b"GET / HTTP/1.0\r\n\r\n", d.port),
    }
    d.wait_sessions(len(ports))
    assert d.stop() == 0
    rows = {r["src_port"]: r for r in d.sessions()}
    got = {k: rows[p] for k, p in ports.items()}
    assert got["partial"]["tls"] == "partial"
    assert got["partial"]["tls_ciphers"] == "1a1a,1301,1302,c02b,002f,00ff"
    assert got["partial"]["ja3"] is None and got["partial"]["ja4"] is None
    assert got["malformed_len"]["tls"] == "malformed"
    assert got["malformed_rec"]["tls"] == "malformed"
    assert got["oversized"]["tls"] == "oversized"
    assert got["oversized"]["ja3_md5"] is None
    assert got["sslv2"]["tls"] == "sslv2"
    assert got["sslv2"]["tls_hello_ver"] == 2 and got["sslv2"]["tls_record_ver"] is None
    assert got["sslv2"]["tls_ciphers"] == "0700c0,050080,030080,010080,000004"
    assert got["sslv2"]["ja3"] is None and got["sslv2"]["ja4"] is None
    assert got["http"]["tls"] is None and got["http"]["ja3"] is None
    h = got["hostile"]
    assert h["tls"] == "hello"
    assert h["tls_sni"] == "a\\x00<b>\\x1b[31m\\xff,\\x5c"
    assert h["tls_alpn"] == "h\\x2c2,\\xc3("
    assert h["ja4"].startswith("t12d0102h2_"), h["ja4"]
    events = {e["src_port"]: e for e in map(json.loads, open(jsonl))
              if e["eventid"] == "flypaper.session.closed"}
    e = events[ports["hostile"]]
    assert e["tls_sni"] == h["tls_sni"] and e["tls_alpn"] == h["tls_alpn"]
    assert "escaped_fields" not in e
    for k in ("partial", "sslv2", "oversized"):
        assert events[ports[k]]["tls"] == got[k]["tls"]
    assert events[ports["http"]]["tls"] is None


def test_nmap_sslv2_hello(daemons):
    """nmap's sslv2 script sends a real SSLv2 CLIENT-HELLO (it runs only
    on a port nmap takes for TLS, hence 443, on an address of our own)."""
    d = daemons(IDLE, listen=("127.11.0.43:443",))
    run([tool("nmap"), "-Pn", "-n", "--script", "sslv2", "-p", "443", "127.11.0.43"], timeout=120)
    d.wait_sessions(1)
    assert d.stop() == 0
    rows = hello_rows(d)
    assert rows and all(r["tls"] == "sslv2" for r in rows), rows
    r = rows[0]
    assert r["tls_hello_ver"] == 2 and r["tls_record_ver"] is None
    specs = r["tls_ciphers"].split(",")
    assert len(specs) >= 5 and all(len(s) == 6 for s in specs), specs
    assert "010080" in specs          # SSL_CK_RC4_128_WITH_MD5
    assert r["ja3"] is None and r["ja4"] is None
