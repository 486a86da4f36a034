"""The HTTP tracking does not depend on how the peer splits its bytes, and
the settings around it (--max-payload's ceiling, the IDENT limiter's notion
of a source) hold with the real daemon."""
import re
import socket
import subprocess
import time

import pytest

from conftest import FLYPAPER, connect, query, read_until_close


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
