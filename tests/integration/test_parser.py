"""The HTTP tracking does not depend on how the peer splits its bytes, and
the settings around it (--max-payload's ceiling, the IDENT limiter's notion
of a source) hold with the real daemon."""
import re
import socket
import subprocess
import sys
import time

import pytest

from conftest import (FLYPAPER, SANITIZER_MARKS, connect, query, read_until_close,
                      session_rows, wait_for)


def requests_of(db, session):
    return query(db, "SELECT seq, method, target, version, host, user_agent, headers, "
                     "body_bytes FROM requests WHERE session = ? ORDER BY seq", (session,))


def undated(answer):
    """The answer without its Date headers (the clock moves between runs)."""
    return re.sub(rb"Date: [^\r\n]*\r\n", b"", answer)


def exchange(port, parts, gap):
    """Sends parts gap seconds apart, half-closes, returns what came back."""
    s = connect(port)
    for i, part in enumerate(parts):
        if i:
            time.sleep(gap)
        s.sendall(part)
    s.shutdown(socket.SHUT_WR)
    got = read_until_close(s)
    s.close()
    return got


# (the example, then blank lines before a keep-alive request and a
# split inside "HTTP/1.", and a body with a pipelined request behind it)
SPLITS = [
    [b"\n", b"\n\nGET /split HTTP/1.0\r\n\r\n"],
    [b"\r\n\r", b"\nGET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTT", b"P/1.0\r\n\r\n"],
    [b"POST /p HTTP/1.1\r\nContent-Le", b"ngth: 4\r\n\r\nab", b"cdGET /q HTTP/1.0\r\n\r\n"],
]


@pytest.mark.parametrize("parts", SPLITS)
def test_split_writes_record_and_answer_like_one_write(daemons, parts):
    d = daemons(args=["--respond", "http-iis5", "--respond-delay", "10s"])
    whole = exchange(d.port, [b"".join(parts)], 0)
    split = exchange(d.port, parts, 0.2)
    one, two = d.wait_sessions(2)
    assert whole.startswith(b"HTTP/1.1 ")          # answered at all
    assert undated(split) == undated(whole)
    assert (two["http"], two["requests"], two["bytes_in"]) == \
        (one["http"], one["requests"], one["bytes_in"]) and one["http"] == "ok"
    assert requests_of(d.db, two["session"]) == requests_of(d.db, one["session"])


# ---- --max-payload's ceiling --------------------------------------------

def run_flypaper(*args, timeout=20):
    return subprocess.run([FLYPAPER, *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("value", ["2G", "1000000001", "1024G"])
def test_max_payload_over_sqlites_limit_is_a_config_error(tmp_path, value):
    r = run_flypaper("serve", "--max-payload", value, "--check")
    assert r.returncode == 2, r
    assert f"max-payload: '{value}' is over 1000000000" in r.stderr, r.stderr
    conf = tmp_path / "flypaper.conf"
    conf.write_text(f"[flypaper]\nmax-payload = {value}\n")
    r = run_flypaper("serve", "-c", str(conf), "--check")
    assert r.returncode == 2 and f"{conf}:2: max-payload" in r.stderr, r.stderr


def test_max_payload_at_sqlites_limit_is_accepted():
    r = run_flypaper("serve", "--max-payload", "1000000000", "--check")
    assert r.returncode == 0, r


# ---- the IDENT limiter's sources ----------------------------------------

def test_ipv4_and_its_v4_mapped_form_are_one_ident_source(tmp_path):
    """systemd (BindIPv6Only=both) may hand flypaper a dual-stack socket, on
    which IPv4 peers arrive as ::ffff:a.b.c.d; next to a plain IPv4
    listener, the same host must not be probed twice per --ident-interval."""
    from test_reactions import Identd
    dual = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    dual.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    dual.bind(("::", 0))
    dual.listen(16)
    v4 = socket.socket()
    v4.bind(("127.0.0.1", 0))
    v4.listen(16)
    ports = (dual.getsockname()[1], v4.getsockname()[1])
    identd = Identd(answer=lambda p, l: p + b" , " + l + b" : USERID : UNIX : alice\r\n")
    db = str(tmp_path / "flypaper.db")
    log_path = tmp_path / "serve.log"
    # a tiny launcher puts the sockets at fds 3 and 4, as systemd does
    launcher = ("import os, sys\n"
                f"os.dup2({dual.fileno()}, 3); os.dup2({v4.fileno()}, 4)\n"
                "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='2')\n"
                "os.execv(sys.argv[1], sys.argv[1:])\n")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", launcher, FLYPAPER, "serve", "--db", db, "--workers", "1",
             "--ident", "always", "--ident-port", str(identd.port),
             "--ident-interval", "1h", "--idle-timeout", "300ms"],
            stdout=log, stderr=subprocess.STDOUT, pass_fds=(dual.fileno(), v4.fileno()))
    dual.close()
    v4.close()
    try:
        wait_for(lambda: "ready:" in log_path.read_text() or proc.poll() is not None,
                 what="the daemon to be ready")
        assert proc.poll() is None, log_path.read_text()
        for port in ports:           # first as ::ffff:127.0.0.1, then as 127.0.0.1
            s = connect(port)
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            wait_for(lambda: len(session_rows(db)) >= (1 if port == ports[0] else 2),
                     what="the session's record")
            s.close()
        rows = session_rows(db)
    finally:
        identd.close()
        proc.terminate()
        proc.wait(30)
    text = log_path.read_text()
    for mark in SANITIZER_MARKS:
        assert mark not in text, text
    assert [r["src_ip"] for r in rows] == ["127.0.0.1", "127.0.0.1"]
    assert [r["ident_status"] for r in rows] == ["userid", "none"], rows
    assert len(identd.queries) == 1
