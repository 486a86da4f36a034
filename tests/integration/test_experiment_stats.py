"""Issue 13's bar, end to end: flypaper serve runs an experiment (banner,
which speaks at once, against silent, which never speaks) while the
ground-truth sim scenarios connect, each from its own loopback sources and
with its own burst size (its cohort); then `flypaper yield --format json`
must find the effects the scenarios have and no effect where they have
none. First the scenarios themselves are checked against the database:
the truth the verdicts are compared with."""
import json
import os
import re
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import FLYPAPER, ROOT, query

# scenario, connections per source (its burst: the cohort), its range
# (127.0.B.x), and whether a source delivers under each strategy: True,
# False, or None for "half the sources, whatever the strategy".
SCENARIOS = {
    "waits-for-server": (16, 80, {"banner": True, "silent": False}),
    "at-once": (1, 81, {"banner": True, "silent": True}),
    "leaves-on-byte": (4, 82, {"banner": False, "silent": True}),
    "coin": (8, 83, {"banner": None, "silent": None}),
}
HOLD = "600ms"          # how long a gated peer waits; far below --idle-timeout
SERVE = ["--experiment", "banner:1,silent:1", "--experiment-salt", "issue13",
         "--idle-timeout", "5s"]


def sim(scenario, port, sources, *args):
    burst, b, _ = SCENARIOS[scenario]
    r = subprocess.run([FLYPAPER, "sim", scenario, "--target", f"127.0.0.1:{port}",
                        "--sources", str(sources), "--concurrency", "40",
                        "--hold", HOLD, "--reply-timeout", "300ms", "--duration", "90s",
                        "--bind-range", f"127.0.{b}.1-127.0.{b}.{sources}", *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    out = dict(kv.split("=", 1) for kv in r.stdout.split() if "=" in kv)
    assert int(out["connections"]) == burst * sources, out
    return out


def run_all(d, sources, seed="1"):
    """Every scenario at once (they wait on the server, not on the CPU),
    then every session recorded and the daemon stopped."""
    with ThreadPoolExecutor(len(SCENARIOS)) as pool:
        outs = dict(zip(SCENARIOS, pool.map(
            lambda s: sim(s, d.port, sources, "--seed", seed), SCENARIOS)))
    d.wait_sessions(sum(burst * sources for burst, _, _ in SCENARIOS.values()), timeout=60)
    assert d.stop() == 0
    return outs


def per_source(db):
    """{scenario: {src_ip: (strategy, sessions, sessions with payload)}}."""
    rows = query(db, "SELECT src_ip, min(strategy), max(strategy), count(*), "
                     "sum(bytes_in > 0) FROM sessions GROUP BY src_ip")
    by = {s: {} for s in SCENARIOS}
    for ip, strategy, strategy_max, n, delivered in rows:
        assert strategy == strategy_max, (ip, "a source's sessions under two strategies")
        b = int(ip.split(".")[2])
        scenario = next(s for s, (_, sb, _) in SCENARIOS.items() if sb == b)
        by[scenario][ip] = (strategy, n, delivered)
    return by


def test_the_scenarios_deliver_as_their_ground_truth_says(daemons):
    d = daemons(args=SERVE)
    outs = run_all(d, 12)
    by = per_source(d.db)
    for scenario, (burst, _, truth) in SCENARIOS.items():
        assert len(by[scenario]) == 12, (scenario, by[scenario])
        for ip, (strategy, n, delivered) in by[scenario].items():
            # The burst is the same whatever the strategy: a pre-treatment cohort.
            assert n == burst, (scenario, ip, n)
            # A source delivers on all its connections or on none.
            assert delivered in (0, n), (scenario, ip, strategy, delivered)
            if truth[strategy] is not None:
                assert bool(delivered) == truth[strategy], (scenario, ip, strategy)
        assert {s for s, _, _ in by[scenario].values()} == {"banner", "silent"}, scenario
    # leaves-on-byte left at banner's first byte and said so.
    banner = sum(1 for s, _, _ in by["leaves-on-byte"].values() if s == "banner")
    assert int(outs["leaves-on-byte"]["dropped_on_data"]) == 4 * banner
    coin = {ip for ip, (_, _, delivered) in by["coin"].items() if delivered}
    assert 0 < len(coin) < 12, coin


def test_coin_is_reproducible_and_set_by_the_seed(daemons, tmp_path):
    """The same seed picks the same sources whatever the run; another
    seed picks others."""
    picked = []
    for i, seed in enumerate(("1", "1", "2")):
        d = daemons(args=SERVE, db=str(tmp_path / f"coin{i}.db"))
        out = sim("coin", d.port, 24, "--seed", seed)
        d.wait_sessions(8 * 24, timeout=30)
        assert d.stop() == 0
        rows = query(d.db, "SELECT src_ip FROM sessions WHERE bytes_in > 0 "
                           "GROUP BY src_ip")
        assert int(out["payloads"]) == 8 * len(rows)
        picked.append({r[0] for r in rows})
    assert picked[0] == picked[1] and 0 < len(picked[0]) < 24
    assert picked[2] != picked[0]


def test_gated_scenarios_stop_at_duration_against_a_server_that_never_speaks():
    """A listener that accepts and never sends nor closes: --hold 10m must
    not outlive --duration 2s (each wait is bounded by the run's time)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    try:
        for scenario in ("waits-for-server", "leaves-on-byte"):
            t0 = time.monotonic()
            r = subprocess.run([FLYPAPER, "sim", scenario, "--target",
                                f"127.0.0.1:{srv.getsockname()[1]}", "--hold", "10m",
                                "--duration", "2s", "--bind-range", "127.0.84.1-127.0.84.2",
                                "--sources", "2"], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
            assert time.monotonic() - t0 < 30, scenario
            assert "payloads=0 " in r.stdout and "(stopped at --duration)" in r.stdout, r.stdout
    finally:
        srv.close()


def test_the_statistics_benchmark_builds_and_prints_its_figures():
    """Run tiny: the figures mean nothing at 50 experiments; the lines must
    be there, and a bad argument must be refused with status 2."""
    r = subprocess.run(["make", "-s", "build/bench/stats"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    bench = os.path.join(ROOT, "build", "bench", "stats")
    r = subprocess.run([bench, "--experiments", "50"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    rates = re.findall(r"tested experiments: false-positive rate +([0-9.]+)%", r.stdout)
    assert len(rates) == 1 and 0 <= float(rates[0]) <= 100, r.stdout
    assert re.search(r"0\.30 vs 0\.50 +[0-9.]+%", r.stdout), r.stdout
    assert re.search(r"5 null cohorts +with Holm +[0-9.]+% .* raw +[0-9.]+%", r.stdout), r.stdout
    r = subprocess.run([bench, "--experiments", "0"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--experiments" in r.stderr, (r.returncode, r.stderr)


def yield_json(db):
    r = subprocess.run([FLYPAPER, "yield", "--db", db, "--format", "json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def burst_of(cohort):
    """The burst size a cohort's label names ("bursts of 16", 16, ...)."""
    m = re.search(r"\d+", str(cohort))
    return int(m.group()) if m else None


SOURCES = 80            # per scenario: about 40 per arm


def test_the_experiment_finds_the_real_effects_and_not_the_null_one(daemons):
    d = daemons(args=SERVE)
    run_all(d, SOURCES)
    by = per_source(d.db)
    cohorts = {burst_of(c["cohort"]): c for c in yield_json(d.db)["cohorts"]}
    for scenario, (burst, _, truth) in SCENARIOS.items():
        c = cohorts[burst]
        arms = {a["strategy"]: a for a in c["arms"]}
        assert set(arms) == {"banner", "silent"}, (scenario, c)
        # Counted by source, as the database says (the arm is the hash's).
        for strategy, arm in arms.items():
            mine = [v for v in by[scenario].values() if v[0] == strategy]
            assert arm["sources"] == len(mine), (scenario, strategy, arm)
            assert arm["delivered"] == sum(1 for v in mine if v[2]), (scenario, strategy, arm)
            assert arm["sessions"] == burst * len(mine), (scenario, strategy, arm)
            assert arm["ci_low"] <= arm["rate"] <= arm["ci_high"], arm
        effect = truth["banner"] != truth["silent"]
        assert c["significant"] is effect, (scenario, c)
        assert (c["p_adjusted"] < 0.05) is effect, (scenario, c)
        assert ("no difference" in c["conclusion"]) is not effect, (scenario, c["conclusion"])
        if effect:
            better = "banner" if truth["banner"] else "silent"
            assert arms[better]["rate"] > 0.9 and arms[better]["ci_low"] > 0.5, (scenario, c)
            assert better in c["conclusion"], c["conclusion"]
    # What the sources that delivered turned out to be: the outcome.
    assert "nimda" in json.dumps(cohorts[16]["families"]), cohorts[16]
    assert "log4shell" in json.dumps(cohorts[8]["families"]), cohorts[8]
    # The report's experiment section reaches the same verdicts, in the same words.
    r = subprocess.run([FLYPAPER, "report", "--db", d.db, "--format", "json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    reported = {burst_of(c["cohort"]): c for c in json.loads(r.stdout)["experiment"]["cohorts"]}
    assert {b: (c["significant"], c["conclusion"]) for b, c in reported.items()} == \
        {b: (c["significant"], c["conclusion"]) for b, c in cohorts.items()}
