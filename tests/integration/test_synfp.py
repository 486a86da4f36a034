"""The SYN fingerprint and TCP_INFO of accepted connections (issue 10,
items 1 and 2), against two oracles that watch the same handshakes on the
wire: tshark decodes each SYN's fields, and p0f itself (Debian's p0f, read
from the same capture with -r) prints its raw_sig, OS label and distance.
Real clients: Python sockets with a chosen TTL, MSS and receive buffer over
IPv4 and IPv6, and curl. TCP_INFO: a client that never reads a large answer
shows a zero window; a plain curl shows none."""
import json
import signal
import socket
import subprocess

import pytest

from conftest import FLYPAPER, TsharkCapture, read_until_close, session_rows, tool, wait_for

OPTION_NAMES = {2: "mss", 4: "sok", 8: "ts", 1: "nop", 3: "ws"}


def tshark_syns(pcap):
    """The SYNs (no ACK) of the capture, by client port: tshark's fields."""
    fields = ["tcp.srcport", "ip.ttl", "ipv6.hlim", "ip.flags.df", "ip.id",
              "tcp.window_size_value", "tcp.option_kind", "tcp.options.mss_val",
              "tcp.options.wscale.shift", "ipv6.flow"]
    cmd = [tool("tshark"), "-r", pcap, "-Y", "tcp.flags.syn==1 && tcp.flags.ack==0",
           "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in fields:
        cmd += ["-e", f]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    syns = {}
    for line in r.stdout.splitlines():
        v = dict(zip(fields, line.split("\t")))
        syns[int(v["tcp.srcport"])] = v
    return syns


def p0f_says(tmp_path, pcap):
    """p0f's verdict on each SYN of the capture, by client port."""
    log = str(tmp_path / "p0f.log")
    r = subprocess.run([tool("p0f"), "-r", pcap, "-f", "/etc/p0f/p0f.fp", "-o", log],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr + r.stdout
    says = {}
    for line in open(log):
        if " mod=syn|" not in line:
            continue
        kv = dict(p.split("=", 1) for p in line.strip().split("] ", 1)[1].split("|"))
        port = int(kv["cli"].rsplit("/", 1)[1])
        label = kv.get("os", kv.get("app"))
        says[port] = {"raw_sig": kv["raw_sig"], "os": None if label == "???" else label,
                      "dist": kv["dist"]}
    return says


def hex_id(value):
    return int(value, 16) if value.startswith("0x") else int(value)


def python_client(host, port, family, ttl, mss, rcvbuf, send=b""):
    s = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    else:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect((host, port))
    local = s.getsockname()[1]
    if send:
        s.sendall(send)
    s.shutdown(socket.SHUT_WR)
    read_until_close(s)
    s.close()
    return local


def curl(port, host="127.0.0.1"):
    r = subprocess.run([tool("curl"), "-s", "-o", "/dev/null", "-w", "%{local_port}",
                        f"http://{host}:{port}/"], capture_output=True, text=True, timeout=30)
    return int(r.stdout)


def by_port(rows):
    return {r["src_port"]: r for r in rows}


def test_syn_fields_equal_tshark_and_p0f(daemons, tmp_path):
    d = daemons(listen=("127.0.0.1:0", "[::1]:0"), args=["--respond", "http"])
    port4, port6 = d.ports
    cap = TsharkCapture(tmp_path, [port4, port6], "synfp", 60)
    clients = {
        python_client("127.0.0.1", port4, socket.AF_INET, 37, 1200, 8192,
                      b"GET / HTTP/1.0\r\n\r\n"): "v4 ttl 37",
        python_client("::1", port6, socket.AF_INET6, 50, 1200, 8192): "v6 hops 50",
        curl(port4): "curl",
    }
    rows = by_port(d.wait_sessions(3))
    pcap = cap.stop()
    syns, says = tshark_syns(pcap), p0f_says(tmp_path, pcap)
    assert set(clients) <= set(rows), (clients, rows.keys())
    for cport, what in clients.items():
        row, wire, p0f = rows[cport], syns[cport], says[cport]
        v6 = row["syn_ver"] == 6
        assert row["syn_ver"] == (6 if "v6" in what else 4), what
        assert row["syn_ttl"] == int(wire["ipv6.hlim"] if v6 else wire["ip.ttl"]), what
        if not v6:
            assert row["syn_df"] == int(wire["ip.flags.df"] in ("1", "True")), what
            assert row["syn_ipid"] == hex_id(wire["ip.id"]), what
        else:
            assert row["syn_df"] is None and row["syn_ipid"] is None, what
        assert row["syn_win"] == int(wire["tcp.window_size_value"]), what
        assert row["syn_mss"] == int(wire["tcp.options.mss_val"]), what
        assert row["syn_wscale"] == int(wire["tcp.options.wscale.shift"]), what
        layout = ",".join(OPTION_NAMES.get(int(k), f"?{k}")
                          for k in wire["tcp.option_kind"].split(","))
        assert row["syn_olayout"] == layout, (what, row["syn_olayout"], layout)
        assert row["syn_ts"] == int("ts" in layout.split(",")), what
        # p0f, reading the same packets
        assert row["syn_sig"] == p0f["raw_sig"], (what, row["syn_sig"], p0f["raw_sig"])
        assert row["os"] == p0f["os"], (what, row["os"], p0f["os"])
        assert row["hops"] == int(p0f["dist"]), (what, row["hops"], p0f["dist"])
        assert row["syn_of"] == "peer", what
    v4 = next(p for p, w in clients.items() if w == "v4 ttl 37")
    row = rows[v4]
    assert (row["syn_ttl"], row["syn_ittl"], row["hops"], row["syn_mss"]) == (37, 64, 27, 1200)
    assert row["syn_quirks"] == "df,id+"
    assert row["os"].startswith("Linux") and row["os_class"] == "unix", row["os"]
    assert row["os_match"] == "generic"
    # Linux over IPv6 carries a flow label: no p0f signature lists it
    v6row = rows[next(p for p, w in clients.items() if w == "v6 hops 50")]
    assert v6row["syn_quirks"] == "flow" and v6row["os"] is None and v6row["hops"] == 14
    # TCP_INFO of a plain curl
    c = rows[next(p for p, w in clients.items() if w == "curl")]
    assert c["zero_window"] == 0 and c["retrans"] == 0 and c["rtt_us"] > 0, c
    assert c["peer_mss"] > 0 and c["peer_window"] > 0 and c["rwnd_limited_ms"] == 0, c


def test_a_peer_that_stops_reading_shows_a_zero_window(daemons, tmp_path):
    # a personality whose every answer is 60 KB: three pipelined requests
    # are far more than a 4 KiB receive buffer takes
    tdir = tmp_path / "templates" / "big"
    tdir.mkdir(parents=True)
    (tdir / "routes").write_text("@timeout index.http\n* index.http\n")
    (tdir / "index.http").write_text("HTTP/1.1 200 OK\nContent-Type: text/plain\n\n"
                                     + "x" * 60000)
    d = daemons(args=["--respond", "http-big", "--templates", str(tmp_path / "templates"),
                      "--idle-timeout", "2s"])
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", d.port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" * 3)
    rows = d.wait_sessions(1, timeout=30)   # closed by idle_timeout; never read
    s.close()
    row = rows[0]
    assert row["close_reason"] == "idle_timeout", row
    assert row["zero_window"] == 1, row
    assert row["rwnd_limited_ms"] > 0, row
    assert row["peer_window"] == 0, row
    assert row["syn_sig"] is not None


def test_syn_fingerprint_no_records_nothing(daemons):
    d = daemons(args=["--syn-fingerprint", "no", "--respond", "http"])
    curl(d.port)
    row = d.wait_sessions(1)[0]
    for col in ("syn_sig", "syn_ttl", "hops", "os", "syn_of", "rtt_us", "zero_window",
                "peer_window"):
        assert row[col] is None, (col, row)


def test_p0f_db_none_keeps_the_sig_not_the_os(daemons):
    d = daemons(args=["--p0f-db", "none", "--respond", "http"])
    curl(d.port)
    row = d.wait_sessions(1)[0]
    assert row["syn_sig"].startswith("4:64+0:0:") and row["os"] is None
    assert row["syn_ittl"] == 64 and row["hops"] == 0


@pytest.mark.parametrize("args,message", [
    (["--p0f-db", "/nonexistent/p0f.fp"], "p0f-db: /nonexistent/p0f.fp: No such file"),
    (["--syn-fingerprint", "maybe"], "syn-fingerprint"),
    (["--p0f-db", ""], "p0f-db"),
])
def test_bad_p0f_options_exit_2(tmp_path, args, message):
    r = subprocess.run([FLYPAPER, "serve", "--db", str(tmp_path / "f.db"), "--listen",
                        "127.0.0.1:0"] + args, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and message in r.stderr, (r.returncode, r.stderr)


def test_a_malformed_p0f_db_line_exits_2_naming_it(tmp_path):
    bad = tmp_path / "p0f.fp"
    bad.write_text("[tcp:request]\nlabel = s:unix:Linux:x\nsig = 4:64:0:*:mss*20\n")
    for cmd in (["serve", "--db", str(tmp_path / "f.db"), "--listen", "127.0.0.1:0"],
                ["serve", "--check"]):
        r = subprocess.run([FLYPAPER] + cmd + ["--p0f-db", str(bad)], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 2 and f"{bad}:3: a sig is" in r.stderr, (cmd, r.stderr)


def test_inetd_children_have_tcp_info_but_no_saved_syn(tmp_path):
    """Under openbsd-inetd the listening socket is inetd's, without
    TCP_SAVE_SYN: the kernel saved no SYN, so the SYN columns are NULL
    (honestly unknown), while TCP_INFO, read on the child's own socket, is
    there."""
    inetd = tool("inetd")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    db = str(tmp_path / "inetd.db")
    conf = tmp_path / "inetd.conf"
    conf.write_text(f"127.0.0.1:{port} stream tcp nowait root {FLYPAPER} flypaper inetd "
                    f"--db {db} --respond http\n")
    log = open(tmp_path / "inetd.log", "wb")
    p = subprocess.Popen([inetd, "-d", "-E", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        def listening():
            with open("/proc/net/tcp") as f:
                return any(line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A"
                           for line in f.readlines()[1:])
        wait_for(listening, what="inetd to listen")
        curl(port)
        row = wait_for(lambda: (lambda r: r[0] if r else None)(session_rows(db)),
                       what="the inetd session")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)
        log.close()
    assert row["mode"] == "inetd"
    assert row["syn_sig"] is None and row["os"] is None and row["syn_of"] is None, row
    assert row["rtt_us"] is not None and row["zero_window"] == 0, row


def test_a_refused_connection_keeps_its_syn_and_json_lines_agree(daemons, tmp_path):
    """A connection refused over --max-conns-per-source had its fd open at
    accept: its SYN is read before the close (TCP_INFO is not: NULL). The
    JSON lines carry the same fields as the row."""
    jsonl = tmp_path / "f.jsonl"
    d = daemons(workers=1, args=["--max-conns-per-source", "1", "--jsonl", str(jsonl)])
    held = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    here = held.getsockname()[1]
    wait_for(lambda: jsonl.exists() and f'"src_port":{here},' in jsonl.read_text(),
             what="the held session to start")
    port = python_client("127.0.0.1", d.port, socket.AF_INET, 41, 1300, 8192)
    refused = wait_for(lambda: [r for r in d.sessions() if r["close_reason"] == "capacity"],
                       what="the refusal")[0]
    held.close()
    d.wait_sessions(2)
    assert d.stop() == 0
    assert refused["src_port"] == port and refused["limit_hit"] == "max_conns_per_source"
    assert refused["syn_ttl"] == 41 and refused["syn_mss"] == 1300 and refused["hops"] == 23
    assert refused["syn_sig"].startswith("4:41+23:0:1300:") and refused["os"].startswith("Linux")
    assert refused["rtt_us"] is None and refused["zero_window"] is None
    events = {}
    for line in jsonl.read_text().splitlines():
        e = json.loads(line)
        if e.get("eventid") == "flypaper.session.closed":
            events[e["src_port"]] = e
    for row in d.sessions():
        e = events[row["src_port"]]
        for col in ("syn_sig", "syn_ver", "syn_ttl", "syn_ittl", "hops", "syn_df", "syn_ipid",
                    "syn_win", "syn_mss", "syn_wscale", "syn_olayout", "syn_ts", "syn_quirks",
                    "os", "os_class", "os_match", "syn_of", "rtt_us", "rttvar_us", "retrans",
                    "peer_mss", "peer_window", "zero_window", "rwnd_limited_ms"):
            assert e[col] == row[col], (col, e[col], row[col])
