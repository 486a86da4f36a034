"""Half-open handshakes (--half-open): real raw-packet clients on loopback
(nmap -sS and -O, hping3), an nft rule that drops the peer's RST for a
syn_only, a bounded hping3 flood from one spoofed loopback source, and the
start-up errors. Root is needed (CI runs as root): the capture needs
CAP_NET_RAW, and nmap/hping3 send raw SYNs."""
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time

import pytest

from conftest import FLYPAPER, SANITIZER_MARKS, query, send_and_close, wait_for

WAIT = "3s"          # --half-open-wait: SYN to syn_only, short for the tests
HALF_OPEN = ("syn_only", "rst_after_synack")


def need(tool):
    path = shutil.which(tool)
    assert path, f"{tool} is needed (scripts/deps installs it)"
    return path


def half_open_daemon(daemons, *extra, listen=("127.0.0.1:0",)):
    assert os.geteuid() == 0, "this test needs root, as CI runs it"
    return daemons(args=("--half-open", "--half-open-wait", WAIT, "--rules", "none",
                         *extra), listen=listen)


def rows(d, where="1", args=()):
    con_rows = query(d.db, "SELECT session, src_ip, src_port, dst_port, close_reason, "
                     "syn_ttl, syn_win, syn_mss, syn_olayout, syn_ts, syn_ipid, syn_df, os, "
                     "hops, syn_sig, syn_retries, handshakes, summary, bytes_in, start_ts "
                     f"FROM sessions WHERE {where}", args)
    keys = ("session", "src_ip", "src_port", "dst_port", "close_reason", "syn_ttl",
            "syn_win", "syn_mss", "syn_olayout", "syn_ts", "syn_ipid", "syn_df", "os",
            "hops", "syn_sig", "syn_retries", "handshakes", "summary", "bytes_in", "start_ts")
    return [dict(zip(keys, r)) for r in con_rows]


def wait_rows(d, n, where, args=(), timeout=20):
    return wait_for(lambda: (lambda r: r if len(r) >= n else None)(rows(d, where, args)),
                    timeout=timeout, what=f"{n} rows where {where}")


def assert_no_double_count(d):
    """No 4-tuple is both an accepted session and a half-open row, and no
    SYN makes two half-open rows (single rows; summaries stand for many).
    One 4-tuple may carry several handshakes: nmap -O sends probes with new
    sequence numbers from one source port, each a handshake of its own
    (with its own first-SYN time)."""
    accepted, half_open = {}, {}
    for r in rows(d, "summary IS NULL"):
        key = (r["src_ip"], r["src_port"], r["dst_port"])
        if r["close_reason"] in ("syn_only", "rst_after_synack"):
            syn = key + (r["start_ts"],)
            assert syn not in half_open, f"{syn} recorded twice: {half_open[syn]} and {r}"
            half_open[syn] = r
        else:
            assert key not in accepted, f"{key} accepted twice: {accepted[key]} and {r}"
            accepted[key] = r
    both = set(accepted) & {syn[:3] for syn in half_open}
    assert not both, f"accepted and half-open: {both}"


def test_nmap_syn_scan_is_one_rst_after_synack_with_nmaps_label_and_curl_is_accepted_only(
        daemons, tmp_path):
    need("nmap")
    jsonl = tmp_path / "out.jsonl"
    d = half_open_daemon(daemons, "--jsonl", str(jsonl))
    r = subprocess.run(["nmap", "-sS", "-Pn", "-n", "-p", str(d.port), "--max-retries", "0",
                        "127.0.0.1"], capture_output=True, text=True, timeout=60)
    assert f"{d.port}/tcp open" in r.stdout, r.stdout + r.stderr
    assert send_and_close(d.port, b"GET / HTTP/1.0\r\n\r\n") == b""
    scan = wait_rows(d, 1, "close_reason = 'rst_after_synack'")
    accepted = wait_rows(d, 1, "close_reason NOT IN ('syn_only', 'rst_after_synack')")
    time.sleep(3.5)      # past the grace and the wait: the curl's SYN is settled too
    assert d.stop() == 0
    scan = rows(d, "close_reason IN ('syn_only', 'rst_after_synack')")
    assert len(scan) == 1, scan
    s = scan[0]
    assert s["os"] == "NMap SYN scan", s
    assert s["syn_retries"] == 0 and s["handshakes"] is None and s["summary"] is None
    assert s["bytes_in"] == 0 and s["dst_port"] == d.port
    # the accepted session is only that: no half-open row for its 4-tuple
    accepted = rows(d, "close_reason NOT IN ('syn_only', 'rst_after_synack')")
    assert len(accepted) == 1 and accepted[0]["syn_retries"] is None
    assert (accepted[0]["src_port"]) != s["src_port"]
    assert_no_double_count(d)
    runs = query(d.db, "SELECT halfopen_rows, halfopen_summarised, pcap_dropped, "
                       "capture_failed FROM runs")
    assert runs == [(1, 0, 0, 0)], runs
    # JSON lines: the same fields, in the closed event
    closed = [json.loads(line) for line in jsonl.read_text().splitlines()]
    closed = [e for e in closed if e.get("eventid") == "flypaper.session.closed"]
    ho = [e for e in closed if e["close_reason"] == "rst_after_synack"]
    assert len(ho) == 1 and ho[0]["syn_retries"] == 0 and ho[0]["handshakes"] is None \
        and ho[0]["summary"] is None and ho[0]["os"] == "NMap SYN scan", ho
    other = [e for e in closed if e["close_reason"] != "rst_after_synack"]
    assert other and all(e["syn_retries"] is None for e in other)


def test_nmap_os_detection_rows_none_double_counted(daemons):
    need("nmap")
    d = half_open_daemon(daemons)
    closed = d.port + 1 if d.port < 65535 else d.port - 1
    r = subprocess.run(["nmap", "-O", "-Pn", "-n", "-p", f"{d.port},{closed}",
                        "--max-os-tries", "1", "127.0.0.1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    time.sleep(3.5)
    assert d.stop() == 0
    ho = rows(d, "close_reason IN ('syn_only', 'rst_after_synack')")
    # nmap -O sends several raw SYNs to the open port (plus the port scan's)
    assert len(ho) >= 2, ho
    assert all(h["dst_port"] == d.port for h in ho), ho   # the closed port is not ours
    assert any(h["os"] and h["os"].startswith("NMap") for h in ho), ho
    assert_no_double_count(d)


OPTION_NAMES = {2: "mss", 4: "sok", 8: "ts", 1: "nop", 3: "ws", 0: "eol"}


def test_hping3_syn_fields_equal_the_chosen_ones_and_tsharks(daemons, tmp_path):
    need("hping3")
    need("tshark")
    d = half_open_daemon(daemons)
    trace = tmp_path / "syn.pcap"
    tshark = subprocess.Popen(["tshark", "-i", "lo", "-f", f"tcp dst port {d.port}",
                               "-w", str(trace), "-a", "duration:30"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # tshark says "Capturing on" once its filter is in place
        line = ""
        deadline = time.monotonic() + 20
        while "Capturing on" not in line and time.monotonic() < deadline:
            line = tshark.stderr.readline()
        assert "Capturing on" in line, line
        time.sleep(1.5)  # dumpcap says so a little before its filter is in place
        r = subprocess.run(["hping3", "-S", "-p", str(d.port), "-c", "3", "-i", "u200000",
                            "-s", "2600", "-t", "37", "-w", "4321", "--tcp-mss", "1200",
                            "--tcp-timestamp", "-N", "4660", "127.0.0.1"],
                           capture_output=True, text=True, timeout=30)
        assert "3 packets transmitted" in r.stdout + r.stderr, r.stdout + r.stderr
        time.sleep(1)
    finally:
        tshark.send_signal(signal.SIGINT)
        tshark.wait(timeout=20)
    got = wait_rows(d, 3, "close_reason = 'rst_after_synack'")
    assert d.stop() == 0
    out = subprocess.run(["tshark", "-r", str(trace), "-Y", "tcp.flags.syn==1 && tcp.flags.ack==0",
                          "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
                          "-E", "aggregator=,", "-e", "tcp.srcport", "-e", "ip.ttl",
                          "-e", "tcp.window_size_value", "-e", "tcp.options.mss_val",
                          "-e", "tcp.option_kind", "-e", "ip.id", "-e", "ip.flags.df"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    wire = {}
    for line in out.splitlines():
        sport, ttl, win, mss, kinds, ipid, df = line.split("\t")
        wire[int(sport)] = dict(
            syn_ttl=int(ttl), syn_win=int(win), syn_mss=int(mss),
            syn_olayout=",".join(OPTION_NAMES.get(int(k), f"?{k}") for k in kinds.split(",")),
            syn_ts=int("8" in kinds.split(",")), syn_ipid=int(ipid, 0),
            syn_df=int(df in ("1", "True")))
    assert len(wire) == 3, out
    got = rows(d, "close_reason = 'rst_after_synack'")
    assert len(got) == 3, got
    for g in got:
        # the fields chosen on hping3's command line...
        assert (g["syn_ttl"], g["syn_win"], g["syn_mss"], g["syn_ts"], g["syn_ipid"]) == \
            (37, 4321, 1200, 1, 4660), g
        assert g["hops"] == 27, g
        # ...and everything as tshark decodes the same packets
        w = wire[g["src_port"]]
        assert {k: g[k] for k in w} == w, (g, w)
        assert g["syn_sig"].startswith("4:37+27:0:1200:4321,"), g


@pytest.fixture
def nft_drop_rst():
    """An nft table dropping RSTs this host sends from one source port (so
    our SYN-ACK goes unanswered); deleted afterwards, even on failure."""
    need("nft")
    sport = 40000 + os.getpid() % 5000
    table = f"flypaper_ho_{os.getpid()}"
    subprocess.run(["nft", "add", "table", "inet", table], check=True)
    try:
        subprocess.run(["nft", "add", "chain", "inet", table, "o",
                        "{ type filter hook output priority 0; }"], check=True)
        subprocess.run(["nft", "add", "rule", "inet", table, "o", "tcp", "sport", str(sport),
                        "tcp", "flags", "rst", "drop"], check=True)
        yield sport
    finally:
        subprocess.run(["nft", "delete", "table", "inet", table], check=True)


def test_syn_left_unanswered_is_syn_only(daemons, nft_drop_rst):
    need("hping3")
    d = half_open_daemon(daemons)
    sport = nft_drop_rst
    r = subprocess.run(["hping3", "-S", "-p", str(d.port), "-s", str(sport), "-k", "-c", "1",
                        "127.0.0.1"], capture_output=True, text=True, timeout=30)
    assert "1 packets transmitted" in r.stdout + r.stderr, r.stdout + r.stderr
    got = wait_rows(d, 1, "close_reason = 'syn_only'", timeout=15)
    assert d.stop() == 0
    got = rows(d, "close_reason IN ('syn_only', 'rst_after_synack')")
    assert len(got) == 1 and got[0]["close_reason"] == "syn_only", got
    g = got[0]
    assert g["src_port"] == sport and g["syn_retries"] == 0 and g["summary"] is None
    dur = query(d.db, "SELECT duration_ms FROM sessions WHERE session = ?", (g["session"],))
    assert dur[0][0] >= 3000, dur


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def test_syn_flood_is_summarised_memory_flat_and_accepted_sessions_recorded(daemons):
    need("hping3")
    per_source = 20
    d = half_open_daemon(daemons, "--half-open-per-source", str(per_source),
                         "--respond", "http-apache")
    tables = int(re.search(r"tables (\d+) bytes", d.text()).group(1))
    ring = 4 * 1024 * 1024
    base = rss_kib(d.proc.pid)
    flood = subprocess.Popen(["timeout", "10", "hping3", "-S", "--flood", "-a", "127.0.0.2",
                              "-p", str(d.port), "127.0.0.1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples, served = [], 0
    try:
        t0 = time.monotonic()
        for _ in range(40):                      # bounded: 40 requests, about 10 s
            if flood.poll() is not None:
                break
            r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                "-m", "5", f"http://127.0.0.1:{d.port}/flood"],
                               capture_output=True, text=True, timeout=30)
            if r.returncode == 0 and r.stdout.startswith(("2", "3", "4")):
                served += 1
            samples.append(rss_kib(d.proc.pid))
            time.sleep(max(0, 0.25 - (time.monotonic() - t0) % 0.25))
    finally:
        flood.wait(timeout=30)
    assert served >= 10, served
    # what was accepted during the flood is recorded, all of it
    wait_for(lambda: len(rows(d, "src_ip = '127.0.0.1' AND close_reason NOT IN "
                              "('syn_only', 'rst_after_synack')")) >= served,
             timeout=30, what="the accepted sessions")
    time.sleep(3.5)
    samples.append(rss_kib(d.proc.pid))
    assert d.stop() == 0
    # memory flat: growth within the tables, the ring and some slack
    growth = (max(samples) - base) * 1024
    assert growth <= tables + ring + 32 * 1024 * 1024, (base, samples, tables)
    flood_rows = rows(d, "src_ip = '127.0.0.2'")
    single = [r for r in flood_rows if r["summary"] is None]
    summaries = [r for r in flood_rows if r["summary"] == "source_minute"]
    started = query(d.db, "SELECT started, ended FROM runs")[0]
    minutes = 2 + int((time.mktime(time.strptime(started[1][:19], "%Y-%m-%dT%H:%M:%S")) -
                       time.mktime(time.strptime(started[0][:19], "%Y-%m-%dT%H:%M:%S"))) // 60)
    assert 0 < len(single) <= per_source * minutes, (len(single), minutes)
    assert summaries and all(s["handshakes"] > 0 for s in summaries), summaries
    assert all(s["close_reason"] in HALF_OPEN for s in flood_rows)
    # the curls were accepted sessions only, never also half-open rows
    assert rows(d, "src_ip = '127.0.0.1' AND close_reason IN ('syn_only', "
                "'rst_after_synack')") == []
    hs = sum(s["handshakes"] for s in summaries)
    run = query(d.db, "SELECT halfopen_rows, halfopen_summarised, pcap_dropped FROM runs")[0]
    assert run[0] == len(single) and run[1] == hs, (run, len(single), hs)
    assert_no_double_count(d)


def start_fails(args, prefix=()):
    d = tempfile.mkdtemp(prefix="flypaper-ho-")
    try:
        r = subprocess.run([*prefix, FLYPAPER, "serve", "--db", os.path.join(d, "f.db"),
                            "--listen", "127.0.0.1:0", "--rules", "none", *args],
                           capture_output=True, text=True, timeout=30)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    for mark in SANITIZER_MARKS:
        assert mark not in r.stderr
    return r


@pytest.mark.parametrize("args,message", [
    (("--half-open-per-source", "0"), "half-open-per-source"),
    (("--half-open-rows", "0"), "half-open-rows: '0' is not a number from 1 to 1000000"),
    (("--half-open-rows", "1000001"), "half-open-rows: '1000001' is not a number from 1 to 1000000"),
    (("--half-open-wait", "500ms"), "half-open-wait: '500ms' is not 0 or within 1s..10m"),
    (("--half-open-wait", "11m"), "half-open-wait: '11m' is not 0 or within 1s..10m"),
    (("--pcap-buffer", "100k"), "pcap-buffer: '100k' is outside 1M..256M"),
    (("--pcap-buffer", "1G"), "pcap-buffer: '1G' is outside 1M..256M"),
    (("--half-open", "--pcap-iface", "nosuchif0"), "pcap-iface: cannot capture on 'nosuchif0'"),
])
def test_bad_options_exit_2_naming_the_problem(args, message):
    r = start_fails(args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr, r.stderr


def test_half_open_without_cap_net_raw_exits_2_with_a_clear_message():
    need("setpriv")
    r = start_fails(("--half-open",),
                    prefix=("setpriv", "--inh-caps=-all", "--bounding-set=-net_raw"))
    assert r.returncode == 2, r.stderr
    assert "needs root or CAP_NET_RAW" in r.stderr, r.stderr


def test_non_root_start_with_cap_net_raw_gives_it_up_after_opening(tmp_path):
    """As systemd's drop-in starts it: a plain user with CAP_NET_RAW as
    an ambient capability. After the capture is open, no capability is
    left, and the capture still records."""
    need("setpriv")
    need("nmap")
    state = tempfile.mkdtemp(prefix="flypaper-ho-nobody-")
    os.chmod(state, 0o755)
    os.chown(state, 65534, 65534)
    log = tmp_path / "serve.log"
    db = os.path.join(state, "f.db")
    with open(log, "wb") as out:
        p = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                              "--inh-caps=+net_raw", "--ambient-caps=+net_raw", FLYPAPER,
                              "serve", "--db", db, "--listen", "127.0.0.1:0", "--rules",
                              "none", "--half-open", "--half-open-wait", WAIT],
                             stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "ready:" in log.read_text() or p.poll() is not None,
                 what="the daemon to be ready")
        text = log.read_text()
        assert p.poll() is None, text
        assert "capabilities given up" in text, text
        with open(f"/proc/{p.pid}/status") as f:
            caps = dict(re.findall(r"(Cap\w+):\s+([0-9a-f]+)", f.read()))
        assert all(int(caps[k], 16) == 0 for k in ("CapInh", "CapPrm", "CapEff", "CapAmb")), caps
        port = int(re.search(r"listening on \S+:(\d+)", text).group(1))
        subprocess.run(["nmap", "-sS", "-Pn", "-n", "-p", str(port), "--max-retries", "0",
                        "127.0.0.1"], capture_output=True, timeout=60, check=True)
        wait_for(lambda: os.path.exists(db) and query(
            db, "SELECT count(*) FROM sessions WHERE close_reason = 'rst_after_synack'")[0][0],
            timeout=15, what="the scan's row")
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
        shutil.rmtree(state, ignore_errors=True)
    assert rc == 0, log.read_text()
    for mark in SANITIZER_MARKS:
        assert mark not in log.read_text()


def test_report_counts_half_open_handshakes_as_their_own_class_and_nowhere_else(daemons):
    """One nmap SYN (a row), then three hping3 SYNs from the same source
    past --half-open-per-source 1 (one summary row of 3), and two accepted
    sessions: the report says 4 half-open handshakes in a class of their
    own, and its sessions, sources, bursts and strategy yield hold only the
    two accepted ones, as without --half-open."""
    need("nmap")
    need("hping3")
    d = half_open_daemon(daemons, "--half-open-per-source", "1")
    subprocess.run(["nmap", "-sS", "-Pn", "-n", "-p", str(d.port), "--max-retries", "0",
                    "127.0.0.1"], capture_output=True, timeout=60, check=True)
    wait_rows(d, 1, "close_reason = 'rst_after_synack'")
    r = subprocess.run(["hping3", "-S", "-p", str(d.port), "-c", "3", "-i", "u100000",
                        "127.0.0.1"], capture_output=True, text=True, timeout=30)
    assert "3 packets transmitted" in r.stdout + r.stderr, r.stdout + r.stderr
    for _ in range(2):
        send_and_close(d.port, b"GET /r HTTP/1.0\r\n\r\n")
    time.sleep(3.5)      # past the grace: the RSTs are settled before the stop
    assert d.stop() == 0
    (hs,) = query(d.db, "SELECT SUM(COALESCE(handshakes, 1)) FROM sessions "
                  "WHERE close_reason IN ('syn_only', 'rst_after_synack')")[0]
    summary = rows(d, "summary = 'source_minute'")
    assert hs == 4 and len(summary) == 1 and summary[0]["handshakes"] == 3, (hs, summary)
    out = subprocess.run([FLYPAPER, "report", "--db", d.db, "--format", "json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["half_open"] == 4 and rep["sessions"] == 2 and rep["sources"] == 1, rep
    # a class of handshakes, apart from the sessions' classes and shares
    assert "half-open" not in rep["classes"]["sessions"], rep["classes"]
    assert rep["classes"]["sessions"]["payload"] == 2, rep["classes"]
    assert "half-open" not in rep["classes"]["sources"], rep["classes"]
    assert sum(s["sessions"] for s in rep["strategies"]) == 2, rep["strategies"]
    assert rep["bursts"]["count"] == 1, rep["bursts"]
    text = subprocess.run([FLYPAPER, "report", "--db", d.db], capture_output=True, text=True,
                          timeout=60).stdout
    assert re.match(r"flypaper report: 2 sessions from 1 sources, 0 refused, "
                    r"4 half-open handshakes", text), text
    assert re.search(r"\nbehaviour \(handshakes never accepted, --half-open\)\n"
                     r"  half-open\s+4\n", text), text
    # the sessions' shares are of sessions: the half-open count is apart
    assert re.search(r"\n  payload\s+2\s+100\.0%", text), text
    html = subprocess.run([FLYPAPER, "report", "--db", d.db, "--format", "html"],
                          capture_output=True, text=True, timeout=60).stdout
    assert "<p>4 half-open handshakes" in html
    yld = subprocess.run([FLYPAPER, "yield", "--db", d.db, "--format", "json"],
                         capture_output=True, text=True, timeout=60)
    assert yld.returncode == 0, yld.stderr
    assert sum(s["sessions"] for s in json.loads(yld.stdout)["strategies"]) == 2


def test_report_saturates_a_doctored_databases_handshakes(daemons):
    """Summary rows whose handshakes add past 2^63 (a doctored database):
    the report's half-open count stops at the largest it can hold instead
    of wrapping negative."""
    d = daemons(args=("--rules", "none"))
    for _ in range(3):
        send_and_close(d.port, b"GET / HTTP/1.0\r\n\r\n")
    wait_for(lambda: len(query(d.db, "SELECT session FROM sessions")) >= 3, timeout=20,
             what="3 sessions")
    assert d.stop() == 0
    con = sqlite3.connect(d.db)
    con.execute("UPDATE sessions SET close_reason = 'syn_only', summary = 'source_minute', "
                "handshakes = 9223372036854775807, bytes_in = 0")
    con.commit()
    con.close()
    out = subprocess.run([FLYPAPER, "report", "--db", d.db, "--format", "json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for mark in SANITIZER_MARKS:
        assert mark not in out.stderr, out.stderr
    rep = json.loads(out.stdout)
    assert rep["half_open"] == 9223372036854775807 and rep["sessions"] == 0, rep


def test_capture_interface_gone_is_logged_once_and_the_daemon_goes_on(daemons):
    """The capture's interface (a veth made for the test, no address)
    disappears under the real sandbox: no new handle can be opened, so the
    failure is logged once, and accepted sessions are recorded as before
    (no forbidden system call on libpcap's error path)."""
    need("ip")
    name = f"fpho{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "add", f"{name}a", "type", "veth", "peer", "name",
                    f"{name}b"], check=True)
    try:
        subprocess.run(["ip", "link", "set", f"{name}a", "up"], check=True)
        d = half_open_daemon(daemons, "--pcap-iface", f"{name}a")
        assert "sandbox: seccomp allow-list" in d.text(), d.text()
        subprocess.run(["ip", "link", "del", f"{name}a"], check=True)
        wait_for(lambda: "the capture on" in d.text(), timeout=10, what="the failure logged")
        assert d.proc.poll() is None, d.text()
        assert send_and_close(d.port, b"GET /after HTTP/1.0\r\n\r\n") == b""
        d.wait_sessions(1)
        assert d.stop() == 0, d.text()
        assert d.text().count("the capture on") == 1, d.text()
        assert "forbidden system call" not in d.text()
        # counted in the run, not only logged
        assert query(d.db, "SELECT capture_failed FROM runs") == [(1,)]
    finally:
        subprocess.run(["ip", "link", "del", f"{name}a"], capture_output=True)


def test_systemd_drop_in_gives_only_what_the_capture_needs(tmp_path):
    """etc/systemd/flypaper-pcap.conf over the shipped unit (a drop-in is
    read as a later [Service] section of the same unit): systemd parses it,
    the exposure stays 2.0 at most, and it adds CAP_NET_RAW (ambient and
    bounding), AF_PACKET, capset and PrivateUsers=no, and --half-open."""
    tool = need("systemd-analyze")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    unit = open(os.path.join(root, "etc", "systemd", "flypaper.service")).read()
    dropin = open(os.path.join(root, "etc", "systemd", "flypaper-pcap.conf")).read()
    combined = tmp_path / "flypaper.service"
    combined.write_text(unit + "\n" + dropin)
    r = subprocess.run([tool, "security", "--offline=yes", "--threshold=20", str(combined)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d)", r.stdout)
    assert m and float(m.group(1)) <= 2.0, r.stdout
    assert re.search(r"✗ RestrictAddressFamilies=~AF_PACKET", r.stdout), r.stdout
    assert re.search(r"✗ CapabilityBoundingSet=~CAP_NET_\(BIND_SERVICE\|BROADCAST\|RAW\)",
                     r.stdout), r.stdout
    settings = dict(re.findall(r"^(\w+)=(.*)$", dropin, re.M))
    assert settings["AmbientCapabilities"] == "CAP_NET_RAW"
    assert settings["CapabilityBoundingSet"] == "CAP_NET_RAW"
    assert settings["PrivateUsers"] == "no"
    assert settings["SystemCallFilter"] == "capset"
    assert "--half-open" in settings["ExecStart"]


@pytest.fixture
def veth_peer():
    """A network namespace joined to this one by a veth pair: this side
    10.213.N.1, the peer 10.213.N.2. On loopback every segment is seen as
    received (libpcap drops lo's outgoing copy), so telling the host's own
    SYNs apart needs a real link. Deleted afterwards, even on failure."""
    need("ip")
    n = os.getpid() % 200 + 20
    ns, here, there = f"fpfix{os.getpid()}", f"vfx{os.getpid()}a", f"vfx{os.getpid()}b"

    def ip(*args, netns=None):
        cmd = ["ip", *(("-n", netns) if netns else ()), *args]
        subprocess.run(cmd, check=True, capture_output=True, timeout=10)

    try:
        ip("netns", "add", ns)
        ip("link", "add", here, "type", "veth", "peer", "name", there)
        ip("link", "set", there, "netns", ns)
        ip("addr", "add", f"10.213.{n}.1/24", "dev", here)
        ip("link", "set", here, "up")
        ip("addr", "add", f"10.213.{n}.2/24", "dev", there, netns=ns)
        ip("link", "set", there, "up", netns=ns)
        ip("link", "set", "lo", "up", netns=ns)
        yield ns, f"10.213.{n}.1", f"10.213.{n}.2"
    finally:
        subprocess.run(["ip", "link", "del", here], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def test_the_hosts_own_connection_to_a_listened_port_is_no_row_and_not_traced(
        daemons, tmp_path, veth_peer):
    """A wildcard listener on port P, and the host connecting out to a
    server on port P elsewhere (in the namespace): its SYN is outgoing
    (PACKET_OUTGOING in the cooked header), so it is no half-open row and
    its segments are not in the trace; a raw SYN from the namespace to us
    is a row and is traced."""
    need("hping3")
    need("tshark")
    ns, here, there = veth_peer
    tr = tmp_path / "tr"
    tr.mkdir(mode=0o750)
    os.chmod(tr, 0o750)
    d = half_open_daemon(daemons, "--pcap", str(tr), listen=("0.0.0.0:0",))
    port = d.port
    server = subprocess.Popen(
        ["ip", "netns", "exec", ns, "/usr/bin/python3", "-c",
         "import socket, sys\n"
         "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
         f"s.bind(('{there}', {port})); s.listen(); print('up', flush=True)\n"
         "c, _ = s.accept(); c.recv(100); c.sendall(b'hello'); c.close()\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "up"
        out = socket.create_connection((there, port), timeout=10)
        mine = out.getsockname()[1]
        out.sendall(b"from the host")
        assert out.recv(100) == b"hello"
        out.close()
        server.wait(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    r = subprocess.run(["ip", "netns", "exec", ns, "hping3", "-S", "-c", "1", "-s", "33333",
                        "-p", str(port), here], capture_output=True, text=True, timeout=30)
    assert "1 packets transmitted" in r.stdout + r.stderr, r.stdout + r.stderr
    wait_rows(d, 1, "close_reason = 'rst_after_synack'")
    time.sleep(float(WAIT[:-1]) + 3)     # past the grace and the wait
    assert d.stop() == 0
    ho = rows(d, "close_reason IN ('syn_only', 'rst_after_synack')")
    assert [(h["src_ip"], h["close_reason"]) for h in ho] == [(there, "rst_after_synack")], ho
    # The trace: the peer's SYN to us, none of the host's own connection.
    got = []
    for name in sorted(os.listdir(tr)):
        out = subprocess.run(["tshark", "-r", str(tr / name), "-T", "fields",
                              "-e", "tcp.srcport", "-e", "tcp.dstport"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        got += [tuple(map(int, line.split("\t"))) for line in out.stdout.split("\n") if line]
    assert (33333, port) in got, got
    assert not [g for g in got if mine in g], (mine, got)
