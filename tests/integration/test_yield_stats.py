"""Issue 13: the experiment's cohorts, counted by source, with intervals,
tests and conclusions, in `yield` (text and JSON) and `report` (text, JSON,
HTML). A live experiment (silent against banner) on loopback from many
127.x sources: one cohort waits for a server byte before delivering (bursts
of 2), one delivers at once half the time whatever the strategy (bursts of
1), one leaves at the first server byte and never delivers (bursts of 3).
Databases a live run cannot produce (hostile strings, too few sources, a
source under two strategies, peers that delivered and then left) are made
by running flypaper and then inserting rows with sqlite3."""
import json
import re
import socket
import sqlite3
import subprocess
import threading

import pytest

from conftest import FLYPAPER, connect_from, render_dom

NIMDA = b"GET /scripts/root.exe?/c+dir HTTP/1.0\r\nHost: x\r\n\r\n"
PLAIN = b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n"
EVIL = "<script>alert(1)</script>\x1b[31m"
ESCAPED = "<script>alert(1)</script>\\x1b[31m"   # as text_display_into shows it


def waiter(port, ip):
    """Delivers only once the server has said something."""
    s = connect_from(port, ip)
    s.settimeout(0.6)
    try:
        if s.recv(64):
            s.sendall(NIMDA)
    except socket.timeout:
        pass
    s.close()


def at_once(port, ip, deliver):
    s = connect_from(port, ip)
    if deliver:
        s.sendall(PLAIN)
    s.close()


def leaver(port, ip):
    """Leaves at the first server byte; never delivers."""
    s = connect_from(port, ip)
    s.settimeout(0.6)
    try:
        s.recv(64)
    except socket.timeout:
        pass
    s.close()


def run_all(jobs, threads=12):
    """Runs (function, args) jobs on a bounded pool of threads."""
    lock = threading.Lock()
    errors = []

    def work():
        while True:
            with lock:
                if not jobs:
                    return
                fn, args = jobs.pop()
            try:
                fn(*args)
            except OSError as e:
                errors.append(e)
    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    assert not errors, errors[:3]


def yield_json(db, *extra):
    r = subprocess.run([FLYPAPER, "yield", "--db", db, "--format", "json", *extra],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """The live experiment's database, run once for the module's tests."""
    from conftest import Daemon
    tmp = tmp_path_factory.mktemp("experiment")
    d = Daemon(tmp, args=["--experiment", "silent:1,banner:1", "--experiment-salt",
                          "stats-salt", "--idle-timeout", "3s"])
    try:
        # one job per source: a source's connections go one after another
        jobs = []
        for i in range(40):
            ip = f"127.0.21.{i + 1}"
            jobs.append((lambda ip=ip: [waiter(d.port, ip) for _ in range(2)], ()))
        for i in range(40):
            jobs.append((at_once, (d.port, f"127.0.22.{i + 1}", i % 2 == 0)))
        for i in range(24):
            ip = f"127.0.23.{i + 1}"
            jobs.append((lambda ip=ip: [leaver(d.port, ip) for _ in range(3)], ()))
        run_all(jobs)
        d.wait_sessions(80 + 40 + 72, timeout=60)
    finally:
        assert d.stop() == 0, d.text()
    return d.db


def by_burst(out):
    """The cohorts by their burst part ("bursts of 2, os Linux..."): one each."""
    cohorts = {}
    for c in out["cohorts"]:
        key = c["cohort"].split(", os ")[0]
        assert key not in cohorts, out["cohorts"]
        cohorts[key] = c
    return cohorts


def arms_of(cohort):
    return {a["strategy"]: a for a in cohort["arms"]}


def test_the_waiting_cohort_is_significant_and_the_half_cohort_is_not(experiment):
    out = yield_json(experiment)
    assert out["cohort_by"] == "burst,os" and out["sources"] == 104
    # the SYN's label is whatever p0f calls this kernel: one per burst size
    cohorts = by_burst(out)
    assert set(cohorts) == {"bursts of 1", "bursts of 2", "bursts of 3"}, cohorts.keys()
    wait = cohorts["bursts of 2"]
    arms = arms_of(wait)
    assert set(arms) == {"banner", "silent"}
    assert arms["banner"]["delivered"] == arms["banner"]["sources"] >= 10
    assert arms["silent"]["delivered"] == 0 and arms["silent"]["sources"] >= 10
    assert arms["banner"]["sessions"] == 2 * arms["banner"]["sources"]
    assert wait["method"] == "fisher" and wait["significant"] is True
    assert wait["p_adjusted"] < 0.001 and wait["p_value"] <= wait["p_adjusted"]
    assert "these peers wait for the server to speak" in wait["conclusion"]
    assert wait["families"] == {"nimda": arms["banner"]["sources"]}, wait["families"]
    assert arms["banner"]["ci_low"] > 0.7 and arms["banner"]["ci_high"] == 1.0
    assert arms["silent"]["ci_low"] == 0.0 and 0 < arms["silent"]["ci_high"] < 0.3
    assert isinstance(arms["banner"]["median_first_byte_ms"], float)
    assert arms["silent"]["median_first_byte_ms"] is None

    half = cohorts["bursts of 1"]
    assert sum(a["delivered"] for a in half["arms"]) == 20
    assert half["significant"] is False and half["p_value"] > 0.05
    assert "no difference shown" in half["conclusion"], half["conclusion"]
    # Holm over the three tested: no adjusted p below its own p
    for c in out["cohorts"]:
        if c["p_value"] is not None:
            assert c["p_adjusted"] >= c["p_value"]


def test_leaving_without_delivering_is_counted_by_source(experiment):
    out = yield_json(experiment)
    cohorts = by_burst(out)
    leave = cohorts["bursts of 3"]
    arms = arms_of(leave)
    # under banner every source left at the first server byte; under
    # silent there was no server byte to leave at
    assert arms["banner"]["left_at_first_byte"] == arms["banner"]["sources"] > 0
    assert arms["silent"]["left_at_first_byte"] == 0
    assert all(a["delivered"] == 0 for a in leave["arms"])
    assert "no difference shown" in leave["conclusion"]
    # the half cohort's sources that sent nothing closed at once: under
    # banner, that is at its first byte too
    half = arms_of(cohorts["bursts of 1"])["banner"]
    assert half["left_at_first_byte"] == half["sources"] - half["delivered"] > 0
    # the per-strategy table: the waiters and the half cohort's deliverers
    # under banner delivered and then closed: not "dropped" (issue 13)
    table = {t["strategy"]: t for t in out["strategies"]}
    assert table["banner"]["dropped_at_first_byte"] == (
        3 * arms["banner"]["sources"] + half["sources"] - half["delivered"])


def test_yield_text_prints_the_cohorts_and_conclusions(experiment):
    r = subprocess.run([FLYPAPER, "yield", "--db", experiment], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^bursts of 2, os [^:]+: \d+/\d+ sources delivered under banner "
                     r"\(100%, \d+-100%\), 0/\d+ under silent \(0%, 0-\d+%\), p < 0\.001: "
                     r"these peers wait for the server to speak; what they delivered: "
                     r"nimda \d+$", r.stdout.replace("  bursts", "bursts"), re.M), r.stdout
    assert "By cohort (burst,os), counted by source: 104 sources" in r.stdout


def test_cohort_by_picks_other_keys_and_refuses_unknown_ones(experiment):
    out = yield_json(experiment, "--cohort-by", "none")
    assert [c["cohort"] for c in out["cohorts"]] == ["all sources"]
    assert sum(a["sources"] for a in out["cohorts"][0]["arms"]) == 104
    out = yield_json(experiment, "--cohort-by", "port,burst")
    assert sorted(c["cohort"].split(",")[0] for c in out["cohorts"]) == [
        "bursts of 1", "bursts of 2", "bursts of 3"], out["cohorts"]
    assert all(re.fullmatch(r"bursts of [123], port \d+", c["cohort"]) for c in out["cohorts"])
    r = subprocess.run([FLYPAPER, "yield", "--db", experiment, "--cohort-by", "burst,colour"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "cohort-by: 'colour' is not a key" in r.stderr, r.stderr


EXPERIMENT = ("e1", "banner:1,silent:1")


def make_db(tmp_path, rows, name="made.db"):
    """A real database (created by flypaper) with rows inserted: (src_ip,
    start_ts, strategy, bytes_in, family, os, close_reason[, experiment_id,
    dst_port]); experiment_id "e1" unless given (None: not randomised)."""
    db = str(tmp_path / name)
    from conftest import Daemon
    d = Daemon(tmp_path, db=db)
    assert d.stop() == 0
    con = sqlite3.connect(db)
    info = list(con.execute("PRAGMA table_info(sessions)"))
    cols = [r[1] for r in info]
    required = {r[1]: ("x" if "TEXT" in r[2].upper() else 0) for r in info
                if r[3] and r[4] is None}
    for n, row in enumerate(rows):
        ip, ts, strategy, bytes_in, family, os_, reason = row[:7]
        exp_id = row[7] if len(row) > 7 else EXPERIMENT[0]
        port = row[8] if len(row) > 8 else 80
        values = {"session": f"s{n:06d}", "src_ip": ip, "src_port": 1000 + n % 60000,
                  "dst_ip": "127.0.0.1", "dst_port": port, "start_ts": ts, "end_ts": ts,
                  "duration_ms": 1, "bytes_in": bytes_in, "bytes_out": 0,
                  "strategy": strategy, "family": family, "os": os_,
                  "syn_of": "peer" if os_ else None,
                  "close_reason": reason or "peer_fin", "closed_by": "peer",
                  "first_byte_ms": 5 if bytes_in else None, "experiment_id": exp_id,
                  "experiment": EXPERIMENT[1] if exp_id else None}
        values = {**required, **{k: v for k, v in values.items() if k in cols}}
        con.execute(f"INSERT INTO sessions ({','.join(values)}) VALUES "
                    f"({','.join('?' * len(values))})", list(values.values()))
    con.commit()
    con.close()
    return db


def test_too_few_sources_hostile_strings_and_mixed_sources(tmp_path):
    evil = EVIL
    rows = []
    for i in range(4):           # 4 sources per arm: too few to tell
        rows.append((f"10.0.0.{i}", "2026-11-27T05:00:00.000Z", evil, 10, evil, evil, None))
        rows.append((f"10.0.1.{i}", "2026-11-27T05:00:00.000Z", "silent", 0, None, evil, None))
    # a source under two strategies: the arm of its first session only
    rows.append(("10.0.2.1", "2026-11-27T05:00:00.000Z", "silent", 0, None, evil, None))
    rows.append(("10.0.2.1", "2026-11-27T05:00:30.000Z", evil, 10, "nimda", evil, None))
    # 10 s apart: one burst of 2 with the default gap, two of 1 with --gap 5s
    rows.append(("10.0.4.1", "2026-11-27T05:00:00.000Z", "silent", 0, None, None, None))
    rows.append(("10.0.4.1", "2026-11-27T05:00:10.000Z", "silent", 0, None, None, None))
    # left out: refused, half-open and proxy errors
    for reason in ("capacity", "syn_only", "rst_after_synack", "proxy_error"):
        rows.append(("10.0.3.1", "2026-11-27T05:00:00.000Z", "silent", 10, None, None, reason))
    db = make_db(tmp_path, rows)
    bursts = {c["cohort"] for c in yield_json(db, "--cohort-by", "burst")["cohorts"]}
    assert bursts == {"bursts of 1", "bursts of 2"}, bursts
    bursts = {c["cohort"] for c in yield_json(db, "--cohort-by", "burst", "--gap", "5s")["cohorts"]}
    assert bursts == {"bursts of 1"}, bursts
    out = yield_json(db, "--cohort-by", "os")
    assert out["sources"] == 10 and out["mixed_sources"] == 1
    assert {c["cohort"] for c in out["cohorts"]} == {"os unknown", "os " + ESCAPED}
    c = next(c for c in out["cohorts"] if c["cohort"] != "os unknown")
    assert "\x1b" not in c["cohort"] and "<script>" in c["cohort"]   # escaped as text
    assert c["families"] == {ESCAPED: 4}
    arms = arms_of(c)
    silent = arms["silent"]
    assert silent["sources"] == 5 and silent["delivered"] == 0 and silent["sessions"] == 5
    assert c["enough"] is False and c["significant"] is False and c["p_value"] is None
    assert c["method"] == "untested"
    assert re.search(r"too few sources to tell \(need ~\d+ more per arm\)", c["conclusion"])
    r = subprocess.run([FLYPAPER, "yield", "--db", db, "--cohort-by", "os"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and "\x1b" not in r.stdout and "too few sources" in r.stdout
    for fmt in ("html", "json", "text"):
        rep = subprocess.run([FLYPAPER, "report", "--db", db, "--format", fmt],
                             capture_output=True, text=True, timeout=60)
        assert rep.returncode == 0, rep.stderr
        assert "\x1b" not in rep.stdout
        if fmt == "html":
            assert "<script>alert" not in rep.stdout


def test_report_has_the_experiment_in_every_format(experiment, tmp_path):
    text = subprocess.run([FLYPAPER, "report", "--db", experiment], capture_output=True,
                          text=True, timeout=60)
    assert text.returncode == 0, text.stderr
    assert "these peers wait for the server to speak" in text.stdout
    js = subprocess.run([FLYPAPER, "report", "--db", experiment, "--format", "json"],
                        capture_output=True, text=True, timeout=60)
    model = json.loads(js.stdout)
    exp = model["experiment"]
    assert exp["cohort_by"] == "burst,os"
    assert {c["cohort"] for c in exp["cohorts"]} == {c["cohort"] for c in
                                                     yield_json(experiment)["cohorts"]}
    page = tmp_path / "report.html"
    r = subprocess.run([FLYPAPER, "report", "--db", experiment, "--format", "html", "-o",
                        str(page)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # the chart as Chromium builds it: one bar with an interval line per
    # cohort and arm (3 cohorts x 2 arms), the interval around the bar's end
    dom = render_dom(page, tmp_path / "profile")
    m = re.search(r'<section id="experiment">.*?</section>', dom, re.S)
    assert m, "the experiment section is missing from the rendered page"
    chart = m.group(0)
    bars = re.findall(r'class="arm-rate" x="([\d.]+)" y="\d+" width="([\d.]+)"', chart)
    cis = re.findall(r'class="arm-ci" x1="([\d.]+)" y1="\d+" x2="([\d.]+)"', chart)
    assert len(bars) == 6 and len(cis) == 6, (bars, cis)
    for (x, w), (lo, hi) in zip(bars, cis):
        end = float(x) + float(w)
        assert float(lo) - 1 <= end <= float(hi) + 1, (x, w, lo, hi)
    assert "these peers wait for the server to speak" in chart


def test_yield_without_gsl_is_a_clear_error(tmp_path):
    """stats_load names the library and the package when GSL cannot load:
    run in a mount namespace where an empty file stands for libgsl."""
    import os
    import shutil
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) is needed")
    lib = os.path.realpath("/usr/lib/x86_64-linux-gnu/libgsl.so.27")
    assert os.path.exists(lib)
    empty = tmp_path / "empty.so"      # root's, 0644: trusted, but not a library
    empty.write_bytes(b"")
    empty.chmod(0o644)
    cmd = f"mount --bind {empty} {lib} && exec {FLYPAPER} yield --db /nonexistent.db"
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", cmd],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stderr
    assert "cannot load libgsl" in r.stderr and "install libgsl27" in r.stderr, r.stderr


def test_the_daemon_does_not_link_gsl():
    """GSL is loaded with dlopen by yield and report only: linked, libgsl
    and libgslcblas would be mapped by every exec, inetd children's too."""
    r = subprocess.run(["readelf", "-d", FLYPAPER], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout)
    assert needed and not [n for n in needed if "gsl" in n], needed


def test_sessions_record_the_experiment_that_assigned_their_strategy(experiment, tmp_path):
    con = sqlite3.connect(experiment)
    rows = con.execute("SELECT experiment, experiment_id, count(*) FROM sessions "
                       "GROUP BY 1, 2").fetchall()
    con.close()
    assert len(rows) == 1 and rows[0][0] == "silent:1,banner:1", rows
    assert re.fullmatch(r"[0-9a-f]{16}", rows[0][1]) and rows[0][2] == 192, rows
    out = yield_json(experiment)
    assert out["experiment_id"] == rows[0][1] and out["experiment"] == "silent:1,banner:1"
    assert out["not_randomised_sessions"] == 0 and out["other_experiment_sessions"] == 0
    # without --experiment the strategy is the listener's: nothing recorded
    # (database and JSON lines alike)
    from conftest import Daemon
    jl = tmp_path / "events.jsonl"
    d = Daemon(tmp_path, args=["--respond", "banner", "--jsonl", str(jl)])
    at_once(d.port, "127.0.24.1", True)
    d.wait_sessions(1)
    assert d.stop() == 0
    con = sqlite3.connect(d.db)
    assert con.execute("SELECT experiment, experiment_id FROM sessions").fetchall() == \
        [(None, None)]
    con.close()
    closed = [json.loads(line) for line in jl.read_text().splitlines()
              if 'session.closed' in line]
    assert closed and all(e["experiment"] is None and e["experiment_id"] is None
                          for e in closed), closed


def test_sessions_not_randomised_are_never_tested(tmp_path):
    """Port 80 answered by banner, port 81 by silent (--respond per
    listener): confounded by the port, never a test; and of two
    experiments only one (the latest, or --experiment's) is tested."""
    rows = []
    for i in range(20):
        rows.append((f"10.1.0.{i}", "2026-11-27T05:00:00.000Z", "banner", 10, "nimda",
                     None, None, None, 80))
        rows.append((f"10.1.1.{i}", "2026-11-27T05:00:00.000Z", "silent", 0, None,
                     None, None, None, 81))
    db = make_db(tmp_path, rows)
    out = yield_json(db, "--cohort-by", "none")
    assert out["cohorts"] == [] and out["experiment"] is None, out["cohorts"]
    assert out["not_randomised_sessions"] == 40
    r = subprocess.run([FLYPAPER, "yield", "--db", db], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 0 and "not randomised, nothing tested" in r.stdout, r.stdout
    assert "wait for the server" not in r.stdout
    rep = subprocess.run([FLYPAPER, "report", "--db", db, "--format", "json"],
                         capture_output=True, text=True, timeout=60)
    exp = json.loads(rep.stdout)["experiment"]
    assert exp["cohorts"] == [] and exp["not_randomised_sessions"] == 40, exp
    # two experiments: e1 earlier (a real effect), e2 later (none)
    rows = [r[:7] + ("e1",) for r in rows]
    for i in range(20):
        for arm in ("banner", "silent"):
            rows.append((f"10.2.{arm == 'banner'}.{i}", "2026-11-27T06:00:00.000Z", arm,
                         10 * (i % 2), "nimda" if i % 2 else None, None, None, "e2"))
    db = make_db(tmp_path, rows, "two.db")
    out = yield_json(db, "--cohort-by", "none")
    assert out["experiment_id"] == "e2" and out["other_experiment_sessions"] == 40, out
    assert [c["significant"] for c in out["cohorts"]] == [False], out["cohorts"]
    out = yield_json(db, "--cohort-by", "none", "--experiment", "e1")
    assert out["experiment_id"] == "e1" and out["other_experiment_sessions"] == 40
    assert [c["significant"] for c in out["cohorts"]] == [True], out["cohorts"]
    rep = subprocess.run([FLYPAPER, "report", "--db", db, "--format", "json",
                          "--cohort-by", "none", "--experiment", "e1"],
                         capture_output=True, text=True, timeout=60)
    assert rep.returncode == 0, rep.stderr
    exp = json.loads(rep.stdout)["experiment"]
    assert exp["experiment_id"] == "e1" and exp["cohorts"][0]["significant"], exp


def test_the_burst_key_is_the_first_burst(tmp_path):
    """A source's later bursts came after it saw flypaper's answer (a
    scanner retries, or stops, by it): only its first burst, and the OS of
    its SYN in it, make its cohort."""
    rows = []
    for i in range(3):
        ip = f"10.3.0.{i}"
        rows.append((ip, "2026-11-27T05:00:00.000Z", "silent", 0, None, None, None))
        for hour in ("06", "07"):     # retries: two bursts of 3
            for s in range(3):
                rows.append((ip, f"2026-11-27T{hour}:00:0{s}.000Z", "silent", 0, None,
                             "Linux 9", None))
    db = make_db(tmp_path, rows)
    out = yield_json(db)
    assert [c["cohort"] for c in out["cohorts"]] == ["bursts of 1, os unknown"], \
        out["cohorts"]


def test_an_unbalanced_key_is_flagged(tmp_path):
    """Every banner source in bursts of 1, every silent one in bursts of 2:
    under a random draw a pre-treatment key cannot split the arms so."""
    rows = []
    for i in range(20):
        rows.append((f"10.4.0.{i}", "2026-11-27T05:00:00.000Z", "banner", 10, "x", None, None))
        for s in range(2):
            rows.append((f"10.4.1.{i}", f"2026-11-27T05:00:0{s}.000Z", "silent", 0, None,
                         None, None))
    db = make_db(tmp_path, rows)
    out = yield_json(db, "--cohort-by", "burst")
    assert out["unbalanced"] is True and out["balance_p"] < 0.001, out
    r = subprocess.run([FLYPAPER, "yield", "--db", db, "--cohort-by", "burst"],
                       capture_output=True, text=True, timeout=20)
    assert "a key may depend on the strategy" in r.stdout, r.stdout
    assert "try --cohort-by os,port" in r.stdout, r.stdout     # what to do
    out = yield_json(db, "--cohort-by", "none")
    assert out["unbalanced"] is False and out["balance_p"] is None


def test_three_arms_name_silent_only_when_it_differs_from_each(tmp_path):
    """silent 0/20 and tarpit 1/20 against banner 12/20: the arms differ
    (the test across all three), but silent is not shown to differ from
    tarpit: no "wait for the server" verdict. The method is printed per
    cohort in the report."""
    rows = []
    for arm, k in (("silent", 0), ("tarpit", 1), ("banner", 12)):
        for i in range(20):
            rows.append((f"10.5.{len(rows) // 20}.{i}", "2026-11-27T05:00:00.000Z", arm,
                         10 if i < k else 0, "x" if i < k else None, None, None))
    db = make_db(tmp_path, rows)
    out = yield_json(db, "--cohort-by", "none")
    c = out["cohorts"][0]
    assert c["significant"] and c["method"] == "fisher", c
    assert "wait for the server" not in c["conclusion"], c["conclusion"]
    assert "the arms differ" in c["conclusion"], c["conclusion"]
    page = subprocess.run([FLYPAPER, "report", "--db", db, "--format", "html",
                           "--cohort-by", "none"], capture_output=True, text=True, timeout=60)
    assert page.returncode == 0, page.stderr
    assert "all sources (fisher, p &lt; 0.001)" in page.stdout or \
        "all sources (fisher, p < 0.001)" in page.stdout, page.stdout[-3000:]
    assert "chisq: Pearson&#39;s chi-square" in page.stdout or \
        "chisq: Pearson's chi-square" in page.stdout
