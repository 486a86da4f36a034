"""The TLS front (tls = yes, --tls): real clients (curl, openssl s_client,
Python's ssl) on loopback to a TLS listener; what the sessions table and
the runs row say; the self-signed certificate kept in the database's
folder; bad certificate options; a confined run as a service user; libssl
mapped only when a listener has TLS. A TLS peer on a plain listener is the
ClientHello parser's test (test_tlshello)."""
import hashlib
import os
import socket
import ssl
import stat
import struct
import subprocess

import pytest

import time

from conftest import FLYPAPER, connect, payload_of, query, read_until_close, wait_for
from test_libraries import mapped
import test_privileges
from test_privileges import serve

service_user = test_privileges.service_user   # the fixture

IIS = ("--respond", "http-iis5", "--rules", "none")


def tls_daemon(daemons, *extra, **kwargs):
    return daemons(args=("--tls", *IIS, *extra), **kwargs)


def curl(port, *args, path="/x"):
    r = subprocess.run(["curl", "-sS", "-i", "--max-time", "10", *args,
                        f"https://127.0.0.1:{port}{path}"],
                       capture_output=True, text=True, timeout=30)
    return r


def client_hello(server_hostname="www.example.com", alpn=None):
    """The bytes of a ClientHello Python's ssl would send."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=server_hostname)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return out.read()


def one_session(d, n=1):
    rows = d.wait_sessions(n)
    return rows[-1]


def requests_of(d, session):
    return query(d.db, "SELECT method, target FROM requests WHERE session = ? ORDER BY seq",
                 (session,))


@pytest.mark.parametrize("tls_max,want", [
    ("1.0", "TLSv1"), ("1.1", "TLSv1.1"), ("1.2", "TLSv1.2"), ("1.3", "TLSv1.3")])
def test_curl_gets_the_personality_over_each_version(daemons, tls_max, want):
    d = tls_daemon(daemons)
    r = curl(d.port, "-k", "--http1.1", "--tls-max", tls_max, "--tlsv1.0",
             "--ciphers", "DEFAULT@SECLEVEL=0", path="/iis-" + tls_max)
    assert r.returncode == 0, r.stderr
    assert "Server: Microsoft-IIS/5.0" in r.stdout, r.stdout
    row = one_session(d)
    assert row["tls_front"] == 1
    assert row["tls_version"] == want, row
    assert row["tls_cipher"], row
    assert row["tls_error"] is None and row["tls_alert"] is None, row
    assert requests_of(d, row["session"]) == [("GET", "/iis-" + tls_max)]
    assert row["http"] == "ok"
    # bytes_in is the plaintext request; the wire carried more
    assert 0 < row["bytes_in"] < row["tls_raw_in"], row
    assert 0 < row["bytes_out"] < row["tls_raw_out"], row
    assert 0 <= row["tls_hello_ms"] <= row["tls_done_ms"], row
    assert row["tls_hello"] and row["tls_hello"][0] == 0x16, row
    # the writer parsed the kept hello (tlshello.c): JA3/JA4 of a TLS front session
    assert row["tls"] == "hello" and row["ja3_md5"] and row["ja4"], row
    assert d.stop() == 0
    assert query(d.db, "SELECT tls_handshakes, tls_failed FROM runs") == [(1, 0)]


@pytest.mark.parametrize("sni,alpn", [(None, None), ("www.example.org", "http/1.1"),
                                      ("x.test", "h2,http/1.1")])
def test_openssl_s_client_with_and_without_sni_and_alpn(daemons, sni, alpn):
    d = tls_daemon(daemons)
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{d.port}", "-ign_eof"]
    cmd += ["-servername", sni] if sni else ["-noservername"]
    if alpn:
        cmd += ["-alpn", alpn]
    r = subprocess.run(cmd, input=b"GET /s_client HTTP/1.0\r\n\r\n",
                       capture_output=True, timeout=30)
    out = r.stdout.decode("utf-8", "replace")
    assert "Microsoft-IIS/5.0" in out, out
    if alpn:
        assert "ALPN protocol: http/1.1" in out, out
    else:
        assert "No ALPN negotiated" in out, out
    row = one_session(d)
    assert row["tls_sni"] == sni and row["tls_alpn"] == alpn, row
    assert row["tls_version"] and row["tls_error"] is None, row
    assert requests_of(d, row["session"]) == [("GET", "/s_client")]


def test_python_ssl_client_and_its_plaintext_payload(daemons):
    d = tls_daemon(daemons)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    req = b"GET /python HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    with ctx.wrap_socket(connect(d.port), server_hostname="h") as s:
        s.sendall(req)
        got = read_until_close(s)
    assert b"Microsoft-IIS/5.0" in got
    row = one_session(d)
    assert row["bytes_in"] == len(req), row
    assert row["bytes_out"] == len(got), row
    sha = row["payload_sha256"]
    assert query(d.db, "SELECT data FROM payloads WHERE sha256 = ?", (sha,))[0][0] == req


def test_plain_http_on_a_tls_listener_is_not_tls_and_answered(daemons):
    d = tls_daemon(daemons)
    s = connect(d.port)
    s.sendall(b"GET /plain HTTP/1.0\r\n\r\n")
    got = read_until_close(s)
    s.close()
    assert b"Microsoft-IIS/5.0" in got
    row = one_session(d)
    assert row["tls_front"] == 1 and row["tls_error"] == "not_tls", row
    assert row["tls_version"] is None and row["tls_hello"] is None, row
    assert requests_of(d, row["session"]) == [("GET", "/plain")]
    assert d.stop() == 0
    assert query(d.db, "SELECT tls_handshakes, tls_failed FROM runs") == [(0, 1)]


@pytest.mark.parametrize("reset", [False, True])
def test_a_client_gone_after_its_hello(daemons, reset):
    d = tls_daemon(daemons)
    hello = client_hello()
    s = connect(d.port)
    s.sendall(hello)
    # wait for our ServerHello and certificate, then leave
    wait_for(lambda: s.recv(65536), what="the server's handshake")
    if reset:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    row = one_session(d)
    assert row["tls_error"] == ("peer_reset" if reset else "peer_closed"), row
    assert row["tls_version"] is None, row
    assert bytes(row["tls_hello"]) == hello, row
    assert row["tls_raw_in"] == len(hello) and row["tls_raw_out"] > 0, row
    assert row["bytes_in"] == 0 and row["payload_sha256"] is None, row


def test_a_client_that_rejects_the_certificate_is_a_peer_alert(daemons):
    d = tls_daemon(daemons)
    r = curl(d.port)                          # no -k: our certificate is unknown
    assert r.returncode != 0
    row = one_session(d)
    assert row["tls_error"] == "peer_alert", row
    assert row["tls_alert"] in ("unknown_ca", "bad_certificate"), row
    assert row["tls_hello"], row
    assert d.stop() == 0
    assert query(d.db, "SELECT tls_handshakes, tls_failed FROM runs") == [(0, 1)]


def test_no_shared_version_is_a_protocol_error_with_our_alert(daemons):
    d = tls_daemon(daemons)
    hello = bytearray(client_hello())
    hello[9:11] = b"\x02\x00"                 # legacy_version SSL 2.0, nothing else offered
    s = connect(d.port)
    s.sendall(bytes(hello))
    read_until_close(s)
    s.close()
    row = one_session(d)
    assert row["tls_error"] in ("protocol", "peer_closed"), row
    if row["tls_error"] == "protocol":
        assert row["tls_alert"], row


def test_a_silent_client_times_out(daemons):
    d = tls_daemon(daemons, "--idle-timeout", "300ms")
    s = connect(d.port)
    read_until_close(s)
    s.close()
    row = one_session(d)
    assert row["tls_error"] == "timeout" and row["close_reason"] == "idle_timeout", row


def test_banner_greets_only_after_the_handshake(daemons):
    d = daemons(args=("--tls", "--respond", "banner", "--banner-text", "HELLO-TLS\r\n",
                      "--rules", "none"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with ctx.wrap_socket(connect(d.port), server_hostname="h") as s:
        assert s.recv(100) == b"HELLO-TLS\r\n"


def test_a_listener_section_turns_tls_on_for_its_listener_only(daemons, tmp_path):
    conf = tmp_path / "f.conf"
    conf.write_text("[listener secure]\nlisten = 127.0.0.1:0\ntls = yes\n"
                    "[listener plain]\nlisten = 127.0.0.1:0\n")
    d = daemons(args=("-c", str(conf), *IIS), listen=())
    assert len(d.ports) == 2, d.text()
    assert curl(d.ports[0], "-k").returncode == 0
    s = connect(d.ports[1])
    s.sendall(b"GET /p HTTP/1.0\r\n\r\n")
    read_until_close(s)
    s.close()
    rows = d.wait_sessions(2)
    fronts = sorted((r["tls_front"] or 0, r["tls_error"] or "") for r in rows)
    assert fronts == [(0, ""), (1, "")], rows


def fingerprint(port):
    pem = ssl.get_server_certificate(("127.0.0.1", port))
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def test_self_signed_made_once_kept_0600_by_the_user_and_reused(daemons, service_user):
    pw, state = service_user
    db = str(state / "fp.db")
    args = ("--tls", "--user", pw.pw_name, *IIS)
    d = daemons(args=args, db=db)
    first = fingerprint(d.port)
    # confined (seccomp, Landlock), as the user: a whole handshake
    assert curl(d.port, "-k").returncode == 0
    assert "sandbox" in d.text(), d.text()
    assert d.stop() == 0
    pem = state / "flypaper-tls.pem"
    st = os.stat(pem)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == pw.pw_uid, st
    d = daemons(args=args, db=db)
    assert fingerprint(d.port) == first
    d.stop()
    pem.write_text("garbage\n")               # unreadable: made again
    d = daemons(args=args, db=db)
    assert fingerprint(d.port) != first
    d.stop()
    assert b"BEGIN CERTIFICATE" in pem.read_bytes()


def test_a_planted_link_is_replaced_not_followed(daemons, service_user, tmp_path):
    pw, state = service_user
    victim = tmp_path / "victim"
    victim.write_bytes(b"root's\n")
    os.symlink(victim, state / "flypaper-tls.pem")
    d = daemons(args=("--tls", "--user", pw.pw_name, *IIS), db=str(state / "fp.db"))
    d.stop()
    assert victim.read_bytes() == b"root's\n"
    assert not os.path.islink(state / "flypaper-tls.pem")


def served_names(port):
    """The served certificate's subject CN and subjectAltName DNS names."""
    pem = ssl.get_server_certificate(("127.0.0.1", port))
    r = subprocess.run(["openssl", "x509", "-noout", "-subject", "-ext", "subjectAltName"],
                       input=pem, capture_output=True, text=True, check=True)
    return r.stdout


def test_the_self_signed_name_is_generic_not_the_hosts(daemons, tmp_path):
    # gethostname() told every scanner what the machine is called inside
    host = socket.gethostname()
    d = daemons(args=("--tls", *IIS), db=str(tmp_path / "a.db"))
    names = served_names(d.port)
    assert "CN = localhost" in names and "DNS:localhost" in names, names
    assert host == "localhost" or host not in names, names
    d.stop()
    # --tls-name: the certificate is made again with it, then reused
    args = ("--tls", "--tls-name", "www.example.net", *IIS)
    d = daemons(args=args, db=str(tmp_path / "a.db"))
    names = served_names(d.port)
    assert "CN = www.example.net" in names and "DNS:www.example.net" in names, names
    first = fingerprint(d.port)
    d.stop()
    d = daemons(args=args, db=str(tmp_path / "a.db"))
    assert fingerprint(d.port) == first


@pytest.mark.parametrize("args,needle", [
    (["--tls", "--tls-name", "bad_name"], "tls-name: 'bad_name' is not a host name"),
    (["--tls", "--tls-name", "a..b"], "is not a host name"),
    (["--tls", "--tls-name", "-a.b"], "is not a host name"),
    (["--tls-name", "x.example"], "tls-name without a TLS listener"),
    (["--tls", "--tls-name", "a" * 60 + ".example"], "the most a certificate's commonName"),
    (["--tls", "--tls-name", "x.example", "--tls-cert", "CRT", "--tls-key", "KEY"],
     "not with tls-cert"),
])
def test_bad_tls_name_exits_2(tmp_path, args, needle):
    crt, key = make_cert(tmp_path, "n")
    args = [str(crt) if a == "CRT" else str(key) if a == "KEY" else a for a in args]
    r = serve(["--db", str(tmp_path / "f.db"), "--rules", "none", *args])
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr, r.stderr
    conf = tmp_path / "f.conf"
    conf.write_text("tls = yes\ntls-name = bad_name\n")
    r = serve(["-c", str(conf), "--db", str(tmp_path / "g.db"), "--rules", "none"])
    assert r.returncode == 2 and "is not a host name" in r.stderr, r.stderr


def make_cert(tmp_path, name, key_type="rsa:2048"):
    key, crt = tmp_path / f"{name}.key", tmp_path / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", key_type, "-nodes", "-days", "2",
                    "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True)
    return crt, key


def test_given_certificate_is_served(daemons, tmp_path):
    crt, key = make_cert(tmp_path, "given.example")
    d = daemons(args=("--tls", "--tls-cert", str(crt), "--tls-key", str(key), *IIS))
    pem = ssl.get_server_certificate(("127.0.0.1", d.port))
    assert ssl.PEM_cert_to_DER_cert(pem) == ssl.PEM_cert_to_DER_cert(crt.read_text())
    assert not os.path.exists(os.path.join(os.path.dirname(d.db), "flypaper-tls.pem"))


@pytest.mark.parametrize("case,needle", [
    ("missing", "cannot read"),
    ("mismatched", "is not the key of the certificate"),
    ("not_pem", "no PEM certificate"),
    ("cert_only", "tls-cert without tls-key"),
    ("without_tls", "without a TLS listener"),
])
def test_bad_certificate_options_exit_2_naming_the_problem(tmp_path, case, needle):
    crt, key = make_cert(tmp_path, "a")
    crt2, key2 = make_cert(tmp_path, "b")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    args = {
        "missing": ["--tls", "--tls-cert", str(tmp_path / "nope.crt"), "--tls-key", str(key)],
        "mismatched": ["--tls", "--tls-cert", str(crt), "--tls-key", str(key2)],
        "not_pem": ["--tls", "--tls-cert", str(junk), "--tls-key", str(key)],
        "cert_only": ["--tls", "--tls-cert", str(crt)],
        "without_tls": ["--tls-cert", str(crt), "--tls-key", str(key)],
    }[case]
    r = serve(["--db", str(tmp_path / "f.db"), "--rules", "none", *args])
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr, r.stderr


def test_bad_listener_tls_value_exits_2(tmp_path):
    conf = tmp_path / "f.conf"
    conf.write_text("[listener x]\nlisten = 127.0.0.1:0\ntls = maybe\n")
    r = subprocess.run([FLYPAPER, "serve", "-c", str(conf), "--db", str(tmp_path / "f.db")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "tls: 'maybe' is not yes or no" in r.stderr, r.stderr


def test_libssl_mapped_only_with_a_tls_listener(daemons, tmp_path):
    plain = daemons(args=("--rules", "none"))
    assert not any(m.startswith(("libssl", "libcrypto")) for m in mapped(plain.proc.pid))
    tls = daemons(args=("--rules", "none", "--tls"), db=str(tmp_path / "t.db"))
    maps = mapped(tls.proc.pid)
    assert "libssl" in maps and "libcrypto" in maps, maps


def test_proxy_header_then_tls(daemons):
    d = daemons(args=("--tls", "--proxy-protocol", "--proxy-from", "127.0.0.1/32", *IIS))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = connect(d.port)
    raw.sendall(b"PROXY TCP4 198.51.100.7 127.0.0.1 4242 443\r\n")
    with ctx.wrap_socket(raw, server_hostname="h") as s:
        s.sendall(b"GET /behind HTTP/1.0\r\n\r\n")
        got = read_until_close(s)
    assert b"Microsoft-IIS/5.0" in got
    row = one_session(d)
    assert row["src_ip"] == "198.51.100.7" and row["proxy"] == "v1", row
    assert row["tls_version"] and row["tls_error"] is None, row
    assert requests_of(d, row["session"]) == [("GET", "/behind")]


def test_a_handshake_is_charged_its_size_and_gives_it_back(daemons):
    # a handshake under way holds 16 + 18 + 64 + 32 KiB of the budget (an
    # idle front, a record's read buffer, OpenSSL's buffers, the hello at
    # its cap): 240k holds one, not two; once done, only the idle front,
    # its read buffer and the kept hello stay held (35 KiB)
    d = tls_daemon(daemons, "--max-buffered", "240k", "--idle-timeout", "5s")
    first = connect(d.port)
    first.sendall(client_hello()[:20])              # a hello still coming
    time.sleep(0.3)
    second = connect(d.port)
    assert read_until_close(second) == b""
    second.close()
    row = one_session(d)
    assert row["close_reason"] == "capacity" and row["limit_hit"] == "max_buffered", row
    first.close()
    d.wait_sessions(2)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    # one at a time each handshake fits, and its charge goes back: four
    # idle TLS sessions then fit where two handshakes did not
    held = []
    for _ in range(4):
        held.append(ctx.wrap_socket(connect(d.port), server_hostname="h"))
        time.sleep(0.3)                             # the server reads our Finished
    for s in held:
        s.close()
    rows = d.wait_sessions(6)
    assert [r["close_reason"] for r in rows].count("capacity") == 1, rows
    assert sum(1 for r in rows if r["tls_version"]) == 4, rows


@pytest.mark.parametrize("announced", [0x0004, 0x4000])
def test_a_hello_announced_past_the_cap_is_refused_unread(daemons, announced):
    # 9 bytes announcing a 131000-byte hello: refused at once with our
    # alert (illegal_parameter), never handed to OpenSSL (which would
    # allocate the announced size and wait for it)
    d = tls_daemon(daemons, "--idle-timeout", "20s")
    peer = b"\x16\x03\x01" + struct.pack(">H", announced) + b"\x01\x01\xff\xb8"
    s = connect(d.port)
    s.sendall(peer)
    got = read_until_close(s)
    s.close()
    assert got == b"\x15\x03\x01\x00\x02\x02\x2f", got
    row = one_session(d)
    assert row["tls_error"] == "protocol" and row["tls_alert"] == "illegal_parameter", row
    assert row["tls"] == "oversized" and bytes(row["tls_hello"]) == peer, row
    assert row["close_reason"] != "idle_timeout", row
    assert d.stop() == 0
    assert query(d.db, "SELECT tls_handshakes, tls_failed FROM runs") == [(0, 1)]


def hello_13_empty_key_share(share=b""):
    """A TLS 1.3 ClientHello whose key_share is empty: the server must answer
    with a HelloRetryRequest and wait for a second hello (the same hello
    with an X25519 share)."""
    ks = struct.pack(">H", len(share)) + share
    ext = (bytes.fromhex("002b0003020304" + "000a00040002001d")
           + b"\x00\x33" + struct.pack(">H", len(ks)) + ks + bytes.fromhex("000d000400020804"))
    body = (b"\x03\x03" + bytes(32) + b"\x20" + bytes(32) + b"\x00\x02\x13\x01"
            + b"\x01\x00" + struct.pack(">H", len(ext)) + ext)
    hs = b"\x01" + struct.pack(">I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


def test_a_second_hello_announced_past_the_cap_is_refused_unread(daemons):
    # after the HelloRetryRequest, a record announcing a 131000-byte second
    # hello: refused with our alert like a first one, never handed to
    # OpenSSL (which would grow its buffer to the announced size)
    d = tls_daemon(daemons, "--idle-timeout", "5s")
    s = connect(d.port)
    s.sendall(hello_13_empty_key_share())
    s.settimeout(10)
    hrr = s.recv(65536)
    assert hrr[:1] == b"\x16" and hrr[5] == 2, hrr           # a ServerHello (HRR)
    s.sendall(b"\x14\x03\x03\x00\x01\x01" + b"\x16\x03\x03\x00\x04\x01\x01\xff\xb8")
    got = read_until_close(s)
    s.close()
    assert got.endswith(b"\x15\x03\x01\x00\x02\x02\x2f"), got
    row = one_session(d)
    assert row["tls_error"] == "protocol" and row["tls_alert"] == "illegal_parameter", row
    assert row["close_reason"] != "idle_timeout", row
    assert d.stop() == 0


def test_a_second_hello_after_a_retry_request_goes_on(daemons):
    # the walk of the records after the first hello lets an honest second
    # hello through (after the compatibility change_cipher_spec): the
    # server answers it with its ServerHello, no alert
    d = tls_daemon(daemons, "--idle-timeout", "3s")
    s = connect(d.port)
    s.sendall(hello_13_empty_key_share())
    s.settimeout(10)
    hrr = s.recv(65536)
    assert hrr[:1] == b"\x16" and hrr[5] == 2, hrr
    share = b"\x00\x1d\x00\x20" + bytes(range(1, 33))
    s.sendall(b"\x14\x03\x03\x00\x01\x01" + hello_13_empty_key_share(share)[:3].replace(
        b"\x03\x01", b"\x03\x03") + hello_13_empty_key_share(share)[3:])
    got = read_until_close(s)
    s.close()
    assert got[:1] == b"\x16" and got[5] == 2 and b"\x15\x03" not in got[:7], got
    row = one_session(d)
    assert row["tls_alert"] is None and row["tls_error"] == "timeout", row
    assert d.stop() == 0


@pytest.mark.parametrize("name,first,rest", [
    ("memcached", b"\x80", b"\x01\x00\x03\x00\x00\x00\x00\x00\x00\x00\x03"
     b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00keyGET / HTTP/1.0\r\n\r\n"),
    ("bitcoin", b"\xf9\xbe", b"\xb4\xd9version\x00\x00\x00\x00\x00"),
])
def test_a_binary_client_with_a_high_first_byte_is_plaintext(daemons, name, first, rest):
    # a high-bit first byte may begin an SSLv2 hello: held until it is
    # clear it does not, then all of it is the payload, not a TLS failure
    d = tls_daemon(daemons, "--idle-timeout", "1s")
    s = connect(d.port)
    s.sendall(first)
    time.sleep(0.2)                               # its own segment
    s.sendall(rest)
    read_until_close(s)
    s.close()
    row = one_session(d)
    assert row["tls_error"] == "not_tls" and row["tls_raw_in"] == 0, row
    assert row["bytes_in"] == len(first + rest), row
    assert payload_of(d.db, row["payload_sha256"]) == first + rest
    assert row["tls_hello"] is None, row


def test_tls_in_the_chroot_fallback(daemons, service_user):
    # a kernel without Landlock: chroot into the database's folder, where
    # the self-signed certificate was made just before
    from test_chroot import chrooted, env_without_landlock
    pw, state = service_user
    env = env_without_landlock()
    d = daemons(db=str(state / "fp.db"), args=("--tls", "--user", pw.pw_name, *IIS), env=env)
    was_chrooted = chrooted(d, state)
    r = curl(d.port, "-k", path="/jail")
    assert r.returncode == 0 and "Microsoft-IIS/5.0" in r.stdout, r.stderr
    row = one_session(d)
    assert row["tls_version"] and requests_of(d, row["session"]) == [("GET", "/jail")]
    assert was_chrooted or "sanitizer build" in d.text()


def test_a_key_the_service_user_could_swap_is_refused(service_user, tmp_path):
    pw, state = service_user
    crt, key = make_cert(tmp_path, "swap")
    mine = state / "k.pem"                       # root's file, the user's folder
    mine.write_bytes(key.read_bytes())
    r = serve(["--db", str(tmp_path / "f.db"), "--rules", "none", "--tls",
               "--tls-cert", str(crt), "--tls-key", str(mine)])
    assert r.returncode == 2, r.stderr
    assert "not root's, or writable by others" in r.stderr and str(state) in r.stderr, r.stderr


@pytest.mark.parametrize("whose", ["folder", "link"])
def test_a_link_the_service_user_could_swap_to_a_root_key_is_refused(service_user,
                                                                    tmp_path, whose):
    # a link to root's own key (root's folders, 0600), but in the user's
    # folder, or itself the user's in root's folder: the user could point
    # it at any root-only key for root to read and serve
    pw, state = service_user
    crt, key = make_cert(tmp_path, "swap")
    os.chmod(key, 0o600)
    where = state if whose == "folder" else tmp_path
    link = where / "k.pem"
    os.symlink(key, link)
    if whose == "link":
        os.lchown(link, pw.pw_uid, pw.pw_gid)
    r = serve(["--db", str(tmp_path / "f.db"), "--rules", "none", "--tls",
               "--tls-cert", str(crt), "--tls-key", str(link)])
    assert r.returncode == 2, r.stderr
    assert "not root's, or writable by others" in r.stderr and str(link) in r.stderr, r.stderr


def test_a_hard_link_in_a_sticky_folder_is_refused(tmp_path):
    # root's, 0600, in a sticky folder anyone may write (like /tmp): with
    # fs.protected_hardlinks=0 the service user could have made the
    # configured name a hard link to another root-only key
    crt, key = make_cert(tmp_path, "hard")
    os.chmod(key, 0o600)
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    link = sticky / "k.pem"
    os.link(key, link)
    r = serve(["--db", str(tmp_path / "f.db"), "--rules", "none", "--tls",
               "--tls-cert", str(crt), "--tls-key", str(link)])
    assert r.returncode == 2, r.stderr
    assert "a hard link in a folder others may write" in r.stderr, r.stderr
    # one name only (no other link): read as before
    os.unlink(key)
    d = serve(["--db", str(tmp_path / "g.db"), "--rules", "none", "--tls",
               "--tls-cert", str(crt), "--tls-key", str(link)])
    assert "ready:" in d.stderr, d.stderr


def test_root_links_as_letsencrypt_keeps_them_are_followed(daemons, tmp_path):
    # live/NAME/*.pem -> ../../archive/NAME/*1.pem, all root's
    crt, key = make_cert(tmp_path, "le.example")
    live, archive = tmp_path / "live" / "le", tmp_path / "archive" / "le"
    live.mkdir(parents=True)
    archive.mkdir(parents=True)
    os.rename(crt, archive / "cert1.pem")
    os.rename(key, archive / "privkey1.pem")
    os.symlink("../../archive/le/cert1.pem", live / "cert.pem")
    os.symlink("../../archive/le/privkey1.pem", live / "privkey.pem")
    d = daemons(args=("--tls", "--tls-cert", str(live / "cert.pem"),
                      "--tls-key", str(tmp_path / "live" / "." / "le" / "privkey.pem"), *IIS))
    pem = ssl.get_server_certificate(("127.0.0.1", d.port))
    assert ssl.PEM_cert_to_DER_cert(pem) == ssl.PEM_cert_to_DER_cert(
        (archive / "cert1.pem").read_text())


def test_a_failed_proxy_header_on_a_tls_listener_records_no_tls(daemons):
    d = daemons(args=("--tls", "--proxy-protocol", "--proxy-from", "127.0.0.1/32", *IIS))
    s = connect(d.port)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")          # no header at all
    read_until_close(s)
    s.close()
    row = one_session(d)
    assert row["proxy_error"] == "missing" and row["tls_front"] is None, row


def test_stopping_mid_handshake_is_a_timeout(daemons):
    d = tls_daemon(daemons)
    s = connect(d.port)
    s.sendall(client_hello()[:20])               # part of a hello
    d.stop()
    s.close()
    rows = d.sessions()
    assert len(rows) == 1 and rows[0]["tls_error"] == "timeout", rows
    assert rows[0]["close_reason"] == "shutdown", rows
