"""flypaper serve records every connection byte-exact, with its timing and
how it ended."""
import hashlib
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import time

from conftest import connect, payload_of, query, read_until_close, send_and_close

# Code Red II's request as the field notes describe it: 224 x 'X', the
# 138-byte %u tail, its headers, then a binary body to 3,818 bytes in all.
CODERED_TAIL = (b"%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090%u6858"
                b"%ucbd3%u7801%u9090%u9090%u8190%u00c3%u0003%u8b00%u531b%u53ff"
                b"%u0078%u0000%u00=a")


def codered2():
    head = (b"GET /default.ida?" + b"X" * 224 + CODERED_TAIL + b" HTTP/1.0\r\n"
            b"Content-type: text/xml\r\nContent-length: 3379 \r\n\r\n")
    body = bytes((i * 7 + 3) % 256 for i in range(3818 - len(head)))
    return head + body


def test_codered_sized_binary_payload_is_byte_exact(daemons):
    d = daemons()
    data = codered2()
    assert len(data) == 3818 and b"\x00" in data
    send_and_close(d.port, data)
    (row,) = d.wait_sessions(1)
    assert row["bytes_in"] == 3818
    assert row["close_reason"] == "peer_fin"
    assert row["truncated"] == 0
    assert row["first_byte_ms"] is not None and row["first_byte_ms"] >= 0
    assert row["payload_sha256"] == hashlib.sha256(data).hexdigest()
    assert payload_of(d.db, row["payload_sha256"]) == data
    assert row["src_ip"] == "127.0.0.1" and row["dst_port"] == d.port
    assert re.fullmatch(r"[0-9a-f]{16}", row["session"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", row["start_ts"])
    assert row["end_ts"] >= row["start_ts"]
    assert row["mode"] == "serve"


def test_every_byte_value_and_nul_survive(daemons):
    d = daemons()
    data = bytes(range(256)) * 64 + b"\x00" * 1000 + os.urandom(5000)
    send_and_close(d.port, data)
    (row,) = d.wait_sessions(1)
    assert payload_of(d.db, row["payload_sha256"]) == data


def test_identical_payloads_are_stored_once(daemons):
    d = daemons()
    for _ in range(5):
        send_and_close(d.port, b"GET / HTTP/1.0\r\n\r\n")
    rows = d.wait_sessions(5)
    assert len({r["payload_sha256"] for r in rows}) == 1
    assert len({r["session"] for r in rows}) == 5
    assert query(d.db, "SELECT count(*) FROM payloads")[0][0] == 1


def test_five_megabytes_are_counted_and_the_first_mebibyte_kept(daemons):
    d = daemons()
    data = os.urandom(5 * 1024 * 1024)
    send_and_close(d.port, data)
    (row,) = d.wait_sessions(1)
    assert row["bytes_in"] == len(data)
    assert row["truncated"] == 1
    kept = payload_of(d.db, row["payload_sha256"])
    assert kept == data[:1024 * 1024]
    assert row["payload_sha256"] == hashlib.sha256(data[:1024 * 1024]).hexdigest()


def test_max_payload_setting(daemons):
    d = daemons(args=["--max-payload", "10"])
    send_and_close(d.port, b"0123456789abcdef")
    (row,) = d.wait_sessions(1)
    assert row["bytes_in"] == 16 and row["truncated"] == 1
    assert payload_of(d.db, row["payload_sha256"]) == b"0123456789"


def test_silent_peer_hits_the_idle_timeout(daemons):
    d = daemons(args=["--idle-timeout", "300ms"])
    s = connect(d.port)
    t0 = time.monotonic()
    assert s.recv(100) == b""          # the server closes, quietly
    waited = time.monotonic() - t0
    s.close()
    (row,) = d.wait_sessions(1)
    assert row["close_reason"] == "idle_timeout"
    assert row["first_byte_ms"] is None
    assert row["bytes_in"] == 0 and row["bytes_out"] == 0
    assert row["payload_sha256"] is None
    assert 300 <= row["duration_ms"] < 2000
    assert waited >= 0.29


def test_goaway_text_is_sent_on_timeout(daemons):
    d = daemons(args=["--idle-timeout", "200ms", "--on-timeout", "goaway",
                      "--goaway-text", "go away\\r\\n"])
    s = connect(d.port)
    s.sendall(b"GET / HTTP/1.0\r\n")   # half a request, then silence
    got = read_until_close(s)
    s.close()
    assert got == b"go away\r\n"
    (row,) = d.wait_sessions(1)
    assert row["close_reason"] == "idle_timeout"
    assert row["bytes_out"] == len(got)
    assert payload_of(d.db, row["payload_sha256"]) == b"GET / HTTP/1.0\r\n"


def test_reset_on_timeout(daemons):
    d = daemons(args=["--idle-timeout", "200ms", "--on-timeout", "reset"])
    s = connect(d.port)
    try:
        s.recv(100)
        reset = False
    except ConnectionResetError:
        reset = True
    s.close()
    assert reset, "the peer should see a reset"
    (row,) = d.wait_sessions(1)
    assert row["close_reason"] == "idle_timeout"


def test_session_timeout_caps_a_talkative_peer(daemons):
    d = daemons(args=["--idle-timeout", "300ms", "--session-timeout", "700ms"])
    s = connect(d.port)
    sent = 0
    try:
        for _ in range(40):             # at most 4 s
            s.sendall(b"x")
            sent += 1
            time.sleep(0.1)
    except (BrokenPipeError, ConnectionResetError):
        pass
    s.close()
    (row,) = d.wait_sessions(1)
    assert row["close_reason"] == "session_timeout"
    assert 700 <= row["duration_ms"] < 2500
    assert 1 <= row["bytes_in"] <= sent


def test_peer_reset_is_recorded(daemons):
    d = daemons()
    s = connect(d.port)
    s.sendall(b"HEAD / HTTP/1.0\r\n")
    time.sleep(0.2)                     # let the server read it first
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()                           # RST
    (row,) = d.wait_sessions(1)
    assert row["close_reason"] == "peer_rst"
    assert payload_of(d.db, row["payload_sha256"]) == b"HEAD / HTTP/1.0\r\n"


def test_handshake_then_immediate_close_has_no_payload(daemons):
    d = daemons()
    s = connect(d.port)
    s.close()
    (row,) = d.wait_sessions(1)
    assert row["close_reason"] == "peer_fin"
    assert row["first_byte_ms"] is None and row["payload_sha256"] is None


def test_ipv6_and_several_ports(daemons):
    d = daemons(listen=["[::1]:0", "127.0.0.1:0"])
    assert len(d.ports) == 2
    send_and_close(d.ports[0], b"six", host="::1", family=socket.AF_INET6)
    send_and_close(d.ports[1], b"four")
    rows = d.wait_sessions(2)
    by_ip = {r["src_ip"]: r for r in rows}
    assert by_ip["::1"]["dst_ip"] == "::1" and by_ip["::1"]["dst_port"] == d.ports[0]
    assert by_ip["127.0.0.1"]["dst_port"] == d.ports[1]
    assert payload_of(d.db, by_ip["::1"]["payload_sha256"]) == b"six"


def test_wildcard_listener_records_the_real_local_address(daemons):
    d = daemons(listen=["0.0.0.0:0"])
    send_and_close(d.port, b"x", host="127.0.0.3")
    (row,) = d.wait_sessions(1)
    assert row["dst_ip"] == "127.0.0.3"


def test_many_concurrent_sessions_all_recorded(daemons):
    # 220 at once from one address: past the default per-source limit.
    d = daemons(args=["--max-conns-per-source", "1000"])
    n_threads, per_thread = 20, 25
    errors = []

    def client(k):
        try:
            for i in range(per_thread):
                payload = f"client {k} request {i}\n".encode() * (i + 1)
                send_and_close(d.port, payload)
        except OSError as e:
            errors.append(e)

    # hold 200 silent connections open at the same time as the traffic
    held = [connect(d.port) for _ in range(200)]
    threads = [threading.Thread(target=client, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    for s in held:
        s.close()
    total = n_threads * per_thread + len(held)
    rows = d.wait_sessions(total, timeout=30)
    assert len(rows) == total
    assert len({r["session"] for r in rows}) == total
    sent = {f"client {k} request {i}\n".encode() * (i + 1)
            for k in range(n_threads) for i in range(per_thread)}
    got = {payload_of(d.db, r["payload_sha256"]) for r in rows if r["payload_sha256"]}
    assert got == sent
    assert sum(1 for r in rows if r["payload_sha256"] is None) == len(held)


def test_max_conns_refuses_and_records(daemons):
    d = daemons(args=["--max-conns", "3"], workers=1)
    held = [connect(d.port) for _ in range(3)]
    time.sleep(0.3)                     # let the worker accept them
    extra = [connect(d.port) for _ in range(2)]
    for s in extra:
        assert s.recv(10) == b""       # closed at once
    rows = d.wait_sessions(2)
    assert [r["close_reason"] for r in rows] == ["capacity", "capacity"]
    for s in held + extra:
        s.close()
    rows = d.wait_sessions(5)
    assert sorted(r["close_reason"] for r in rows).count("capacity") == 2
    assert d.stop() == 0
    (run,) = query(d.db, "SELECT sessions, refused FROM runs")
    assert run == (5, 2)


def test_curl_request_is_recorded_while_flypaper_stays_silent(daemons):
    curl = shutil.which("curl")
    assert curl, "curl is needed"
    d = daemons()
    r = subprocess.run([curl, "-s", "-m", "1", "-A", "flypaper-test/1.0",
                        f"http://127.0.0.1:{d.port}/probe?x=1"],
                       capture_output=True, timeout=20)
    assert r.returncode == 28          # curl timed out: flypaper said nothing
    (row,) = d.wait_sessions(1)
    data = payload_of(d.db, row["payload_sha256"])
    assert data.startswith(b"GET /probe?x=1 HTTP/1.1\r\n")
    assert b"\r\nUser-Agent: flypaper-test/1.0\r\n" in data and data.endswith(b"\r\n\r\n")
    assert row["bytes_out"] == 0 and row["close_reason"] == "peer_fin"
    assert 900 <= row["duration_ms"] < 5000


def test_curl_sees_the_goaway_text(daemons):
    d = daemons(args=["--idle-timeout", "200ms", "--on-timeout", "goaway",
                      "--goaway-text", "HTTP/1.0 403 Forbidden\\r\\n\\r\\nno\\n"])
    r = subprocess.run(["curl", "-s", "-m", "5", "-i", f"http://127.0.0.1:{d.port}/"],
                       capture_output=True, timeout=20)
    assert r.returncode == 0
    assert r.stdout.startswith(b"HTTP/1.0 403 Forbidden") and r.stdout.endswith(b"no\n")
    (row,) = d.wait_sessions(1)
    assert row["bytes_out"] == len(b"HTTP/1.0 403 Forbidden\r\n\r\nno\n")
