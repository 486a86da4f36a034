"""--pcap DIR keeps the listened ports' packets in rotating pcap files, each
session row names the file holding its start, and `flypaper pcap ID -o F`
writes a session's packets to a file tshark reads: a handshake-only
session's trace shows by itself that the peer sent nothing. Needs root
(the capture takes CAP_NET_RAW) and tshark."""
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import time

import pytest

from conftest import FLYPAPER, connect, query, wait_for
from test_chroot import SANITIZER_NOTE, chrooted, env_without_landlock
from test_privileges import service_user  # noqa: F401 (the fixture)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the capture needs root"),
    pytest.mark.skipif(not shutil.which("tshark"), reason="tshark (scripts/deps)"),
]


def trace_dir(tmp_path, name="tr"):
    d = tmp_path / name
    d.mkdir(mode=0o750)
    os.chmod(d, 0o750)
    return d


def pcap_cmd(db, tr, *args):
    return subprocess.run([FLYPAPER, "pcap", "--db", str(db), "--pcap", str(tr), *args],
                          capture_output=True, timeout=60)


def tshark(path, *args):
    r = subprocess.run(["tshark", "-r", str(path), *args], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def conversations(path):
    return [line for line in tshark(path, "-q", "-z", "conv,tcp").splitlines()
            if "<->" in line]


def flags_of(path, port):
    """(from the peer?, tcp.flags as an int, tcp.len) for each packet."""
    out = tshark(path, "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.flags",
                 "-e", "tcp.len")
    rows = []
    for line in out.splitlines():
        sport, flags, length = line.split("\t")
        rows.append((int(sport) != port, int(flags, 16), int(length)))
    return rows


def traced_daemon(daemons, tmp_path, *args, tr=None):
    tr = tr or trace_dir(tmp_path)
    d = daemons(args=("--pcap", str(tr), *args))
    assert "pcap: packet traces in" in d.text()
    return d, tr


def stop(d):
    """Stops the daemon once the capture has the last packets: the kernel
    hands them over in blocks retired every 100 ms (--pcap's ring)."""
    time.sleep(0.5)
    assert d.stop() == 0


def test_handshake_only_trace_shows_the_peer_sent_nothing(daemons, tmp_path):
    jl = tmp_path / "events.jsonl"
    d, tr = traced_daemon(daemons, tmp_path, "--jsonl", str(jl))
    s = connect(d.port)
    time.sleep(1.0)
    s.close()
    (row,) = d.wait_sessions(1)
    stop(d)
    assert row["bytes_in"] == 0
    files = sorted(os.listdir(tr))
    assert row["pcap_file"] in files, (row["pcap_file"], files)
    assert re.fullmatch(r"flypaper-\d{8}T\d{6}Z-\d+\.pcap", row["pcap_file"])
    assert oct(os.stat(tr / row["pcap_file"]).st_mode & 0o777) == "0o640"
    closed = [json.loads(line) for line in jl.read_text().splitlines()
              if '"flypaper.session.closed"' in line]
    assert closed and closed[0]["pcap_file"] == row["pcap_file"]

    out = tmp_path / "s.pcap"
    r = pcap_cmd(d.db, tr, row["session"], "-o", str(out))
    assert r.returncode == 0, r.stderr
    # The peer's segments carry no data: the trace says so by itself.
    assert tshark(out, "-Y", f"tcp.len>0 && tcp.srcport!={d.port}").strip() == ""
    assert len(conversations(out)) == 1, conversations(out)
    pk = flags_of(out, d.port)
    syn, synack, ack = 0x002, 0x012, 0x010
    assert pk[0] == (True, syn, 0), pk
    assert pk[1] == (False, synack, 0), pk
    assert pk[2] == (True, ack, 0), pk
    assert any(peer and f & 0x001 for peer, f, _ in pk), "the peer's FIN"
    # Standard output too.
    r2 = subprocess.run([FLYPAPER, "pcap", "--db", d.db, "--pcap", str(tr),
                         row["session"], "-o", "-"], capture_output=True, timeout=60)
    assert r2.returncode == 0 and r2.stdout == out.read_bytes()


def test_payload_bytes_in_the_trace_are_the_recorded_ones(daemons, tmp_path):
    d, tr = traced_daemon(daemons, tmp_path, "--pcap-snaplen", "100")
    data = bytes((i * 37 + 11) % 256 for i in range(300))
    s = connect(d.port)
    s.sendall(data)
    time.sleep(0.3)
    s.close()
    (row,) = d.wait_sessions(1)
    stop(d)
    stored = bytes(query(d.db, "SELECT data FROM payloads WHERE sha256 = ?",
                         (row["payload_sha256"],))[0][0])
    assert stored == data
    out = tmp_path / "p.pcap"
    r = pcap_cmd(d.db, tr, row["session"], "-o", str(out))
    assert r.returncode == 0, r.stderr
    seen = tshark(out, "-Y", f"tcp.len>0 && tcp.srcport!={d.port}", "-T", "fields",
                  "-e", "tcp.len", "-e", "tcp.payload", "-e", "frame.len",
                  "-e", "frame.cap_len").split()
    length, payload, wire, cap = seen
    assert int(length) == len(data)                   # the wire length survives the cut
    assert bytes.fromhex(payload) == stored[:100]     # --pcap-snaplen bytes kept
    assert int(wire) - int(cap) == len(data) - 100


def test_two_sessions_merged_in_time_order(daemons, tmp_path):
    d, tr = traced_daemon(daemons, tmp_path)
    a = connect(d.port)
    time.sleep(0.3)
    b = connect(d.port)
    b.sendall(b"GET / HTTP/1.0\r\n\r\n")
    time.sleep(0.3)
    a.close()
    time.sleep(0.2)
    b.close()
    rows = d.wait_sessions(2)
    stop(d)
    out = tmp_path / "two.pcap"
    r = pcap_cmd(d.db, tr, *[row["session"] for row in rows], "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert len(conversations(out)) == 2, conversations(out)
    times = [float(t) for t in tshark(out, "-T", "fields", "-e",
                                      "frame.time_epoch").split()]
    assert len(times) >= 12 and times == sorted(times)
    ports = [p for p, _, _ in flags_of(out, d.port)]
    assert ports.count(True) >= 6 and ports.count(False) >= 4
    # The peer ports of both sessions interleave: a merge, not two runs.
    peers = [int(x) for x in tshark(out, "-T", "fields", "-e", "tcp.srcport").split()
             if int(x) != d.port]
    assert peers.index(rows[1]["src_port"]) < len(peers) - 1 - peers[::-1].index(
        rows[0]["src_port"])


def test_rotation_keeps_at_most_pcap_files(daemons, tmp_path):
    d, tr = traced_daemon(daemons, tmp_path, "--pcap-file-size", "16k",
                          "--pcap-files", "3", "--pcap-snaplen", "1400")
    for i in range(40):
        s = connect(d.port)
        s.sendall(bytes([65 + i % 26]) * 6000)
        time.sleep(0.05)
        s.close()
        time.sleep(0.05)
    rows = d.wait_sessions(40)
    time.sleep(1.5)          # one more tick flushes and rotates
    assert len(os.listdir(tr)) <= 3, os.listdir(tr)
    stop(d)
    files = sorted(os.listdir(tr))
    assert 1 <= len(files) <= 3, files
    assert all(os.path.getsize(tr / f) <= 16 * 1024 + 1600 for f in files)
    (rotated, lost), = query(d.db, "SELECT pcap_files_rotated, pcap_lost FROM runs")
    assert rotated >= 4 and lost == 0, (rotated, lost)  # about 2.3k a session
    # The last session is still there, the first was rotated away.
    last, first = rows[-1]["session"], rows[0]["session"]
    assert rows[0]["pcap_file"] not in files
    r = pcap_cmd(d.db, tr, last, "-o", str(tmp_path / "last.pcap"))
    assert r.returncode == 0, r.stderr
    r = pcap_cmd(d.db, tr, first, last, "-o", str(tmp_path / "first.pcap"))
    assert r.returncode == 1, r.stderr
    assert first.encode() in r.stderr and last.encode() not in r.stderr
    assert b"rotated away" in r.stderr


def test_a_linked_trace_file_is_not_followed(daemons, tmp_path):
    """The trace folder is the service user's, and `flypaper pcap` may run
    as root: a trace file replaced by a link (here to its own packets,
    moved elsewhere) is skipped, not read."""
    d, tr = traced_daemon(daemons, tmp_path)
    s = connect(d.port)
    s.sendall(b"linked")
    s.close()
    (row,) = d.wait_sessions(1)
    stop(d)
    moved = tmp_path / "elsewhere.pcap"
    os.rename(tr / row["pcap_file"], moved)
    os.symlink(moved, tr / row["pcap_file"])
    r = pcap_cmd(d.db, tr, row["session"], "-o", str(tmp_path / "out.pcap"))
    assert r.returncode == 1, r.stderr
    assert b"skipped" in r.stderr and row["session"].encode() in r.stderr, r.stderr
    # the same file, not a link, is read
    os.unlink(tr / row["pcap_file"])
    os.rename(moved, tr / row["pcap_file"])
    r = pcap_cmd(d.db, tr, row["session"], "-o", str(tmp_path / "out.pcap"))
    assert r.returncode == 0, r.stderr


def test_unknown_session_and_bad_arguments_exit_2(daemons, tmp_path):
    d, tr = traced_daemon(daemons, tmp_path)
    send = connect(d.port)
    send.close()
    (row,) = d.wait_sessions(1)
    stop(d)
    out = str(tmp_path / "x.pcap")
    r = pcap_cmd(d.db, tr, "0123456789abcdef", "-o", out)
    assert r.returncode == 2 and b"no such session" in r.stderr, r.stderr
    r = pcap_cmd(d.db, tr, "not-an-id", "-o", out)
    assert r.returncode == 2 and b"not a session id" in r.stderr, r.stderr
    r = pcap_cmd(d.db, tr, row["session"])
    assert r.returncode == 2 and b"-o FILE" in r.stderr, r.stderr
    r = pcap_cmd(d.db, tr, "-o", out)
    assert r.returncode == 2 and b"no session" in r.stderr, r.stderr
    r = subprocess.run([FLYPAPER, "pcap", "--db", d.db, row["session"], "-o", out],
                       capture_output=True, timeout=60)
    assert r.returncode == 2 and b"--pcap DIR" in r.stderr, r.stderr
    # The folder from serve's configuration file.
    conf = tmp_path / "fp.conf"
    conf.write_text(f"[flypaper]\ndb = {d.db}\npcap = {tr}\n")
    r = subprocess.run([FLYPAPER, "pcap", "-c", str(conf), row["session"], "-o", out],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr


def start_fails(tmp_path, *args):
    r = subprocess.run([FLYPAPER, "serve", "--db", str(tmp_path / "fp.db"),
                        "--listen", "127.0.0.1:0", *args],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stderr


def test_unsafe_folder_or_bad_values_refused_at_start(tmp_path):
    real = trace_dir(tmp_path, "real")
    link = tmp_path / "link"
    link.symlink_to(real)
    rc, err = start_fails(tmp_path, "--pcap", str(link))
    assert rc == 2 and "symbolic link" in err, err
    os.chmod(real, 0o770)
    rc, err = start_fails(tmp_path, "--pcap", str(real))
    assert rc == 2 and "writable by its group" in err, err
    os.chmod(real, 0o750)
    for flag, value, words in (("--pcap-files", "0", "pcap-files"),
                               ("--pcap-file-size", "1k", "16k..64G"),
                               ("--pcap-snaplen", "70000", "pcap-snaplen")):
        rc, err = start_fails(tmp_path, "--pcap", str(real), flag, value)
        assert rc == 2 and words in err, (flag, err)
    assert os.listdir(real) == []


def test_a_session_from_before_tracing_has_no_pcap_file(daemons, tmp_path):
    d = daemons()
    s = connect(d.port)
    s.close()
    (row,) = d.wait_sessions(1)
    assert row["pcap_file"] is None
    stop(d)
    tr = trace_dir(tmp_path)
    r = pcap_cmd(d.db, tr, row["session"], "-o", str(tmp_path / "n.pcap"))
    assert r.returncode == 1 and b"tracing was off" in r.stderr, r.stderr


def test_ipv6_session_is_found(daemons, tmp_path):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    tr = trace_dir(tmp_path)
    d = daemons(args=("--pcap", str(tr)), listen=("[::1]:0",))
    s = connect(d.port, host="::1", family=socket.AF_INET6)
    s.sendall(b"v6")
    time.sleep(0.2)
    s.close()
    (row,) = d.wait_sessions(1)
    stop(d)
    out = tmp_path / "v6.pcap"
    r = pcap_cmd(d.db, tr, row["session"], "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert len(conversations(out)) == 1
    assert wait_for(lambda: tshark(out, "-Y", "ipv6 && tcp.len==2").strip(),
                    timeout=1, what="the v6 data segment")


def test_chroot_fallback_traces_beneath_the_database_folder(service_user, daemons):  # noqa: F811
    """Without Landlock (pretended), serve as root with --user chroots into
    the database's folder: a trace folder beneath it is rebased inside and
    written by the user; one outside keeps the chroot out, and says why."""
    pw, state = service_user
    db = state / "fp.db"
    d = daemons(db=str(db), args=["--user", pw.pw_name, "--pcap", str(state / "tr")],
                env=env_without_landlock())
    if chrooted(d, state):
        assert "pcap: packet traces in /tr" in d.text(), d.text()
    s = connect(d.port)
    s.close()
    (row,) = d.wait_sessions(1)
    stop(d)
    files = os.listdir(state / "tr")
    assert row["pcap_file"] in files
    assert all(os.stat(state / "tr" / f).st_uid == pw.pw_uid for f in files)
    r = pcap_cmd(db, state / "tr", row["session"], "-o", str(state.parent / "c.pcap"))
    assert r.returncode == 0, r.stderr
    assert len(conversations(state.parent / "c.pcap")) == 1

    outside = state.parent / "tr-outside"
    outside.mkdir(mode=0o750)
    os.chown(outside, pw.pw_uid, pw.pw_gid)
    d = daemons(db=str(db), args=["--user", pw.pw_name, "--pcap", str(outside)],
                env=env_without_landlock())
    text = d.text()
    assert "chroot into" not in text
    assert SANITIZER_NOTE in text or "not beneath the database's folder" in text, text
    stop(d)
    assert os.listdir(outside)


def test_proxy_session_is_found_by_its_transport_addresses(daemons, tmp_path):
    """A PROXY session's src/dst are the header's; the wire carried the
    transport addresses (via_*), which `flypaper pcap` matches."""
    d, tr = traced_daemon(daemons, tmp_path)
    s = connect(d.port)
    s.sendall(b"behind a proxy")
    time.sleep(0.2)
    s.close()
    (row,) = d.wait_sessions(1)
    stop(d)
    con = sqlite3.connect(d.db)
    have = {r[1] for r in con.execute("PRAGMA table_info(sessions)")}
    for col, kind in (("via_ip", "TEXT"), ("via_port", "INTEGER"),
                      ("via_dst_ip", "TEXT"), ("via_dst_port", "INTEGER")):
        if col not in have:
            con.execute(f"ALTER TABLE sessions ADD COLUMN {col} {kind}")
    # What the header said; the real peer becomes the transport address.
    con.execute("UPDATE sessions SET via_ip = src_ip, via_port = src_port, "
                "via_dst_ip = dst_ip, via_dst_port = dst_port, src_ip = '203.0.113.9', "
                "src_port = 4444, dst_ip = '198.51.100.1', dst_port = 80")
    con.commit()
    con.close()
    out = tmp_path / "proxy.pcap"
    r = pcap_cmd(d.db, tr, row["session"], "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert len(conversations(out)) == 1
    assert tshark(out, "-Y", "tcp.len==14").strip()


@pytest.mark.skipif(not shutil.which("hping3"), reason="hping3 (scripts/deps)")
def test_half_open_row_names_its_file_and_its_trace_shows_the_reset(daemons, tmp_path):
    d, tr = traced_daemon(daemons, tmp_path, "--half-open", "--half-open-wait", "3s")
    r = subprocess.run(["hping3", "-S", "-p", str(d.port), "-c", "1", "127.0.0.1"],
                       capture_output=True, timeout=30)
    assert r.returncode in (0, 1), r.stderr
    (row,) = d.wait_sessions(1, timeout=20)
    assert row["close_reason"] == "rst_after_synack", row
    assert row["pcap_file"] in os.listdir(tr)
    stop(d)
    out = tmp_path / "h.pcap"
    r = pcap_cmd(d.db, tr, row["session"], "-o", str(out))
    assert r.returncode == 0, r.stderr
    flags = [f for _, f, _ in flags_of(out, d.port)]
    assert flags[:2] == [0x002, 0x012] and flags[2] & 0x004, flags   # SYN, SYN-ACK, RST


def test_a_forbidden_proxy_stranger_names_its_file(daemons, tmp_path):
    """A source not in --proxy-from is refused before reading (close reason
    proxy_error, forbidden): its row names the trace file as any other's,
    and `flypaper pcap` finds its packets."""
    d, tr = traced_daemon(daemons, tmp_path, "--proxy-protocol",
                          "--proxy-from", "127.0.0.1/32")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.bind(("127.0.0.9", 0))
    s.connect(("127.0.0.1", d.port))
    assert s.recv(100) == b""            # closed by the daemon, unread
    s.close()
    (row,) = d.wait_sessions(1)
    stop(d)
    assert (row["close_reason"], row["proxy_error"]) == ("proxy_error", "forbidden"), row
    assert row["pcap_file"] in os.listdir(tr), (row["pcap_file"], os.listdir(tr))
    out = tmp_path / "f.pcap"
    r = pcap_cmd(d.db, tr, row["session"], "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert flags_of(out, d.port)[0] == (True, 0x002, 0), "the stranger's SYN first"


def test_packets_right_before_the_stop_are_in_the_trace(daemons, tmp_path):
    """The peer's FIN sent right before SIGTERM, with no pause: the kernel
    holds it in a partly filled block until its 100 ms timer, and the
    capture thread drains the ring at the stop, so the trace has it."""
    d, tr = traced_daemon(daemons, tmp_path)
    s = connect(d.port)
    s.sendall(b"last words")
    port = s.getsockname()[1]
    s.close()                            # our FIN, then at once:
    assert d.stop() == 0
    fins = []
    for name in sorted(os.listdir(tr)):
        out = tshark(tr / name, "-Y", f"tcp.srcport=={port} && tcp.flags.fin==1",
                     "-T", "fields", "-e", "tcp.srcport")
        fins += out.split()
    assert fins, f"the peer's FIN (port {port}) is not in {os.listdir(tr)}"
