"""Families measured on samples: the corpus of real client streams
(../shared/corpus, never committed) and our own (bench/samples). Each
sample is replayed over one TCP connection from its own loopback address
to a real `flypaper serve`, the database is rescanned, and each session's
family is read back and judged against the sample's manifest. Shared by
tests/integration/test_corpus.py and bench/families."""
import collections
import csv
import hashlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORMS = ("codered", "nimda")

Sample = collections.namedtuple("Sample", "id set path data expected also_ok sha256")
Result = collections.namedtuple("Result", "sample family rules stored_exact")


def corpus_places():
    """Where the corpus is looked for, in order."""
    places = []
    if os.environ.get("FLYPAPER_CORPUS"):
        places.append(os.environ["FLYPAPER_CORPUS"])
    places.append(os.path.join(ROOT, "..", "shared", "corpus"))
    places.append("/work/shared/corpus")
    return places


def corpus_dir():
    """The first place that holds a corpus (manifest.csv), or None."""
    for place in corpus_places():
        if os.path.isfile(os.path.join(place, "manifest.csv")):
            return os.path.abspath(place)
    return None


def load_samples(folder, set_name):
    """The samples a manifest.csv lists (columns id, expected_family,
    also_ok ';'-separated, sha256), with their bytes from ID.bin."""
    samples = []
    base = os.path.join(folder, "samples") if os.path.isdir(os.path.join(folder, "samples")) \
        else folder
    with open(os.path.join(folder, "manifest.csv"), newline="") as f:
        for row in csv.DictReader(f):
            path = os.path.join(base, row["id"] + ".bin")
            with open(path, "rb") as b:
                data = b.read()
            also = tuple(a for a in (row.get("also_ok") or "").split(";") if a)
            samples.append(Sample(row["id"], set_name, path, data,
                                  row.get("expected_family") or "", also,
                                  row.get("sha256") or hashlib.sha256(data).hexdigest()))
    return samples


def source_of(i):
    """The loopback address sample i is sent from: one each, so nothing a
    rule may know about a source's other sessions mixes samples."""
    return f"127.{10 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}"


def _serve(flypaper, tmp, rules):
    db = os.path.join(tmp, "corpus.db")
    log_path = os.path.join(tmp, "serve.log")
    cmd = [flypaper, "serve", "--db", db, "--listen", "127.0.0.1:0", "--workers", "1",
           "--idle-timeout", "5s"]
    if rules:
        cmd += ["--rules", rules]
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        text = open(log_path, "rb").read().decode("utf-8", "replace")
        m = re.search(r"listening on \S+:(\d+)", text)
        if m and "ready:" in text:
            return proc, log, db, int(m.group(1))
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("flypaper serve did not start:\n" + text)
        time.sleep(0.05)


def _replay(port, src, data):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(20)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    s.close()


def classify(flypaper, samples, tmp, rules=None):
    """Replays samples into a serve, stops it, runs rescan, and returns a
    Result per sample (family None when the session has none)."""
    proc, log, db, port = _serve(flypaper, tmp, rules)
    try:
        for i, smp in enumerate(samples):
            _replay(port, source_of(i), smp.data)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
    cmd = [flypaper, "rescan", "--db", db] + (["--rules", rules] if rules else [])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("flypaper rescan failed: " + r.stderr)
    con = sqlite3.connect(db)
    try:
        columns = {row[1] for row in con.execute("PRAGMA table_info(sessions)")}
        # The stored family (schema 6); before it, the first tag of the
        # first match, as the report read it.
        family = "s.family" if "family" in columns else (
            "(SELECT substr(m.tags, 1, instr(m.tags || ' ', ' ') - 1) FROM matches m "
            "WHERE m.session = s.session ORDER BY m.rule LIMIT 1)")
        rows = con.execute(
            f"SELECT s.src_ip, {family}, (SELECT group_concat(m.rule || ':' || m.tags, ', ') "
            "FROM matches m WHERE m.session = s.session), p.data FROM sessions s "
            "LEFT JOIN payloads p ON p.sha256 = s.payload_sha256").fetchall()
    finally:
        con.close()
    by_src = {src: (fam or None, rules_, bytes(data) if data is not None else None)
              for src, fam, rules_, data in rows}
    results = []
    for i, smp in enumerate(samples):
        fam, rules_, data = by_src.get(source_of(i), (None, None, None))
        results.append(Result(smp, fam, rules_ or "", data == smp.data))
    return results


def right(res):
    """Whether the family is the expected one (or one of also_ok); an
    empty expected family wants none."""
    smp = res.sample
    if not smp.expected:
        return res.family is None
    return res.family == smp.expected or res.family in smp.also_ok


def worm_label(res):
    """A worm family on a sample that is not that worm: the family, or a
    worm rule among the matches."""
    if res.sample.expected in WORMS:
        return False
    tags = [t.split(":", 1)[1].split()[0] for t in res.rules.split(", ") if ":" in t and
            t.split(":", 1)[1].split()]
    return res.family in WORMS or any(t in WORMS or t == "worm" for t in tags)


def per_family(results):
    """{family: (precision, recall, expected count, predicted count)}: for
    each family a sample expects or a session got."""
    names = {r.sample.expected for r in results if r.sample.expected} | \
        {r.family for r in results if r.family}
    table = {}
    for f in sorted(names):
        expected = [r for r in results if r.sample.expected == f]
        predicted = [r for r in results if r.family == f]
        recall = sum(right(r) for r in expected) / len(expected) if expected else None
        precision = sum(right(r) for r in predicted) / len(predicted) if predicted else None
        table[f] = (precision, recall, len(expected), len(predicted))
    return table
