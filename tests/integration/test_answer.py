"""The answer does not depend on how, or how fast, the peer sends: a peer
that pipelines many requests in one write (often read at accept, before the
session is in the loop) and half-closes gets every answer it is owed, as
one that sends them one by one does.

The daemon runs in a network namespace of its own whose TCP send buffers
are capped small (net.ipv4.tcp_wmem), so "more answer than the socket
takes" is the same few hundred KiB on every machine and stays under the
256 KiB a session may queue."""
import ctypes
import os
import re
import shutil
import signal
import socket
import threading
import time

import pytest

from conftest import read_until_close

CLONE_NEWNET = 0x40000000
WMEM = "4096 16384 32768"        # the namespace's send buffer: at most 32 KiB
REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
LAST = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
N = 420                          # ~240 KiB of http-iis5 answers: over what
                                 # the sockets take, under the 256 KiB a
                                 # session may queue
PAUSE = 0.5                      # the burst's client waits before reading, so
                                 # the daemon meets a full socket (the test
                                 # passes with any pause; without one, the
                                 # bug could hide behind a fast reader)


def netns_daemon(daemons, args):
    """Starts flypaper in a new network namespace with loopback up and
    small send buffers."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    assert unshare and ip, "unshare (util-linux) and ip (iproute2) are needed"
    setup = (f"{ip} link set lo up && echo '{WMEM}' > /proc/sys/net/ipv4/tcp_wmem"
             ' && exec "$0" "$@"')
    return daemons(prefix=[unshare, "-n", "sh", "-c", setup], args=args, workers=1)


def netns_socket(pid):
    """A TCP socket made in the network namespace of process pid (made by
    a thread of its own, so the test's own threads stay where they are)."""
    libc = ctypes.CDLL(None, use_errno=True)
    out = {}

    def make():
        fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                out["error"] = os.strerror(ctypes.get_errno())
                return
        finally:
            os.close(fd)
        out["sock"] = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    t = threading.Thread(target=make)
    t.start()
    t.join()
    assert "sock" in out, f"setns: {out.get('error')}"
    return out["sock"]


def undated(answer):
    return re.sub(rb"Date: [^\r\n]*\r\n", b"", answer)


def answers(data):
    return data.count(b"HTTP/1.1 200 ")


def netns_connect(d, rcvbuf=None):
    s = netns_socket(d.proc.pid)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)   # before connect
    s.settimeout(20)
    s.connect(("127.0.0.1", d.port))
    return s


def read_at_least(s, got, n):
    """Reads from s until got holds n bytes; returns got."""
    while len(got) < n:
        chunk = s.recv(65536)
        assert chunk, f"closed after {answers(got)} answers"
        got += chunk
    return got


@pytest.mark.parametrize("ending", ["half_close", "connection_close", "half_close_in_loop"])
def test_pipelined_burst_gets_every_answer(daemons, ending):
    d = netns_daemon(daemons, ["--respond", "http-iis5", "--respond-delay", "30s"])
    last = LAST if ending == "connection_close" else REQUEST
    requests = [REQUEST] * (N - 1) + [last]

    # One keep-alive answer's size, to read the slow run answer by answer.
    s = netns_connect(d)
    s.sendall(REQUEST)
    got = read_at_least(s, b"", 1)
    while b"\r\n\r\n" not in got:
        got = read_at_least(s, got, len(got) + 1)
    head = got[:got.index(b"\r\n\r\n") + 4]
    size = len(head) + int(re.search(rb"Content-Length: (\d+)", head).group(1))
    s.close()

    if ending == "half_close_in_loop":
        # One request answered first, so the session is in the loop when
        # the rest and the FIN come.
        s = netns_connect(d, rcvbuf=4096)
        s.sendall(requests[0])
        burst = read_at_least(s, b"", size)
        s.sendall(b"".join(requests[1:]))
        s.shutdown(socket.SHUT_WR)
        time.sleep(PAUSE)
        burst += read_until_close(s)
        s.close()
    else:
        # All requests in one write, then (half_close) FIN at once, all
        # before the daemon accepts (it is stopped meanwhile: the kernel
        # completes the handshake and queues the bytes), so read-ahead
        # finds them at accept; nothing is read until all is sent.
        d.proc.send_signal(signal.SIGSTOP)
        try:
            s = netns_connect(d, rcvbuf=4096)
            s.sendall(b"".join(requests))
            if ending == "half_close":
                s.shutdown(socket.SHUT_WR)
        finally:
            d.proc.send_signal(signal.SIGCONT)
        time.sleep(PAUSE)
        burst = read_until_close(s)
        s.close()

    # The same requests one at a time, each answer read before the next.
    s = netns_connect(d)
    slow = b""
    for i, req in enumerate(requests[:-1]):
        s.sendall(req)
        slow = read_at_least(s, slow, (i + 1) * size)
    s.sendall(requests[-1])
    if ending != "connection_close":
        s.shutdown(socket.SHUT_WR)
    slow += read_until_close(s)
    s.close()

    assert answers(slow) == N
    assert answers(burst) == N, f"{answers(burst)} of {N} answers, {len(burst)} bytes"
    assert undated(burst) == undated(slow)
    rows = d.wait_sessions(3)
    one, two = rows[1], rows[2]
    assert one["bytes_out"] == len(burst) and two["bytes_out"] == len(slow)
    assert one["requests"] == two["requests"] == N
    want = "server_close" if ending == "connection_close" else "peer_fin"
    assert one["close_reason"] == two["close_reason"] == want
    assert 0 <= one["first_out_ms"] <= one["duration_ms"]
    if want == "peer_fin":
        # Counted to the FIN, not to the end of the flush, which waited for
        # the client's pause (the FIN came before it, or during its first
        # moments while the daemon woke up).
        after_fin = one["duration_ms"] - one["first_out_ms"] - one["peer_close_after_out_ms"]
        assert after_fin >= PAUSE * 1000 / 5, (after_fin, one)


def test_connection_close_answer_then_fin_closes_as_server_close(daemons):
    """After a Connection: close answer the session closes and what the
    peer sends later is not seen: a FIN that came with the request (read
    at accept) does not make it peer_fin, as it does not when the request
    comes alone."""
    d = netns_daemon(daemons, ["--respond", "http-iis5", "--respond-delay", "30s"])
    s = netns_connect(d)
    s.sendall(LAST)
    alone = read_until_close(s)
    s.close()

    d.proc.send_signal(signal.SIGSTOP)
    try:
        s = netns_connect(d)
        s.sendall(LAST)
        s.shutdown(socket.SHUT_WR)
    finally:
        d.proc.send_signal(signal.SIGCONT)
    with_fin = read_until_close(s)
    s.close()

    assert answers(alone) == answers(with_fin) == 1
    one, two = d.wait_sessions(2)
    assert one["close_reason"] == two["close_reason"] == "server_close"
    assert one["bytes_out"] == len(alone) and two["bytes_out"] == len(with_fin)
