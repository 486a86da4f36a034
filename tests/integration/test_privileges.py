"""Privileges: files opened as root, symlinks planted by the service user,
the compiled-rules cache, file modes, the root-without---user warning.
CI runs as root; each test that needs a service user gets a throwaway
system user of its own (fp-test-PID-N), removed at the end."""
import os
import pathlib
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile

import pytest

from conftest import FLYPAPER, SANITIZER_MARKS, Daemon, query, send_and_close, wait_for
from test_inetd import inetd  # noqa: F401 (the fixture)

VICTIM_TEXT = b"root:secret:victim\n"


@pytest.fixture
def service_user(request):
    """A throwaway system user with a state directory of its own (0750,
    under a root-owned 0755 folder). Returns (pwd entry, state dir)."""
    assert os.geteuid() == 0, "this test needs root, as CI runs it"
    name = f"fp-test-{os.getpid()}-{request.node.name[-6:].strip('[]_-') or 'x'}"[:31]
    subprocess.run(["userdel", name], capture_output=True)
    subprocess.run(["useradd", "--system", "--no-create-home", "--home", "/nonexistent",
                    "--shell", "/usr/sbin/nologin", name], check=True)
    top = pathlib.Path(tempfile.mkdtemp(prefix="flypaper-priv-"))
    os.chmod(top, 0o755)
    state = top / "state"
    state.mkdir(mode=0o750)
    pw = pwd.getpwnam(name)
    os.chown(state, pw.pw_uid, pw.pw_gid)

    def cleanup():
        shutil.rmtree(top, ignore_errors=True)
        subprocess.run(["userdel", name], capture_output=True)
    request.addfinalizer(cleanup)
    return pw, state


@pytest.fixture
def victim(tmp_path):
    """A root-owned 0600 file standing in for /etc/shadow."""
    v = tmp_path / "victim"
    v.write_bytes(VICTIM_TEXT)
    os.chmod(v, 0o600)
    return v


def assert_untouched(victim):
    st = os.stat(victim)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o600)
    assert victim.read_bytes() == VICTIM_TEXT


def serve(args, tmp=None):
    """Runs `flypaper serve` expected to refuse at start-up. One that
    starts instead is stopped once ready, so the test fails on what it
    did, not on a timeout."""
    log = tempfile.TemporaryFile()
    p = subprocess.Popen([FLYPAPER, "serve", "--listen", "127.0.0.1:0", *args],
                         stdout=log, stderr=subprocess.STDOUT)

    def text():
        log.seek(0)
        return log.read().decode("utf-8", "replace")
    try:
        wait_for(lambda: p.poll() is not None or "ready:" in text(), timeout=20,
                 what="the daemon to refuse or start")
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        p.wait(20)
    out = text()
    for mark in SANITIZER_MARKS:
        assert mark not in out, out
    return subprocess.CompletedProcess(p.args, p.returncode, "", out)


def test_jsonl_symlink_planted_by_the_user_is_refused_not_followed(service_user, victim):
    pw, state = service_user
    link = state / "flypaper.jsonl"
    os.symlink(victim, link)
    os.lchown(link, pw.pw_uid, pw.pw_gid)
    r = serve(["--db", str(state / "fp.db"), "--user", pw.pw_name, "--jsonl", str(link)])
    assert_untouched(victim)
    assert r.returncode == 2, r.stderr
    assert "jsonl" in r.stderr and "symbolic link" in r.stderr, r.stderr
    assert_untouched(victim)


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_database_symlinks_planted_by_the_user_are_refused(service_user, victim, suffix):
    pw, state = service_user
    link = state / f"fp.db{suffix}"
    os.symlink(victim, link)
    os.lchown(link, pw.pw_uid, pw.pw_gid)
    r = serve(["--db", str(state / "fp.db"), "--user", pw.pw_name])
    assert_untouched(victim)
    assert r.returncode == 2, r.stderr
    assert "symbolic link" in r.stderr and f"fp.db{suffix}" in r.stderr, r.stderr
    assert_untouched(victim)


def test_a_state_file_owned_by_someone_else_is_refused(service_user):
    pw, state = service_user
    db = state / "fp.db"
    db.write_bytes(b"")                     # root's, in the user's folder
    r = serve(["--db", str(db), "--user", pw.pw_name])
    assert r.returncode == 2, r.stderr
    assert "owned by root" in r.stderr and pw.pw_name in r.stderr, r.stderr
    assert os.stat(db).st_uid == 0


def test_root_opens_nothing_in_a_folder_the_user_controls(service_user):
    pw, state = service_user
    r = serve(["--db", str(state / "fp.db")])          # root, no --user
    assert r.returncode == 2, r.stderr
    assert pw.pw_name in r.stderr and "--user" in r.stderr, r.stderr
    assert not os.path.exists(state / "fp.db")


def test_a_state_folder_writable_by_others_is_refused(tmp_path):
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    os.chmod(open_dir, 0o777)
    r = serve(["--db", str(open_dir / "fp.db")])
    assert r.returncode == 2, r.stderr
    assert "writable by" in r.stderr and str(open_dir) in r.stderr, r.stderr
    assert not os.path.exists(open_dir / "fp.db")


RULE = 'rule %s : %s { strings: $a = "flypaper-cache-probe" condition: $a }\n'


def plant_cache(tmp_path, rules, target_db, owner):
    """Compiles rules text 'aaaa/evil' into a cache whose key matches
    `rules` (same path, size and time), then gives it to owner as the
    cache of target_db. Returns nothing; the caller checks which rule
    matches."""
    good = rules.read_bytes()
    st = os.stat(rules)
    rules.write_bytes((RULE % ("aaaa", "evil")).encode())
    os.utime(rules, ns=(st.st_atime_ns, st.st_mtime_ns))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    # compile the evil rules into a cache the way flypaper itself does
    d = Daemon(scratch, args=["--rules", str(rules)], db=str(scratch / "s.db"))
    send_and_close(d.port, b"flypaper-cache-probe")
    d.wait_sessions(1)
    assert d.stop() == 0
    assert query(str(scratch / "s.db"), "SELECT rule FROM matches") == [("aaaa",)]
    rules.write_bytes(good)
    os.utime(rules, ns=(st.st_atime_ns, st.st_mtime_ns))
    planted = []
    for f in scratch.iterdir():
        if f.name.startswith("s.db-rules.yarc"):
            dest = pathlib.Path(str(target_db) + f.name[len("s.db"):])
            shutil.copyfile(f, dest)
            os.chown(dest, owner.pw_uid, owner.pw_gid)
            planted.append(dest)
    assert planted


def rules_file(tmp_path):
    rules = tmp_path / "probe.yar"
    rules.write_text(RULE % ("bbbb", "good"))
    os.chmod(rules, 0o644)
    os.chmod(tmp_path, 0o755)            # the user must reach nothing here, but root must
    return rules


def test_root_never_loads_a_rules_cache_from_the_users_folder(service_user, tmp_path, daemons):
    pw, state = service_user
    rules = rules_file(tmp_path)
    db = state / "fp.db"
    plant_cache(tmp_path, rules, db, pw)
    d = daemons(db=str(db), args=["--user", pw.pw_name, "--rules", str(rules)])
    send_and_close(d.port, b"flypaper-cache-probe")
    d.wait_sessions(1)
    assert d.stop() == 0
    assert query(str(db), "SELECT rule, tags FROM matches") == [("bbbb", "good")]


def test_a_rules_cache_owned_by_another_user_is_not_loaded(service_user, tmp_path, daemons):
    pw, _ = service_user
    rules = rules_file(tmp_path)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    db = home / "fp.db"
    plant_cache(tmp_path, rules, db, pw)                # root's folder, the user's file
    d = daemons(db=str(db), args=["--rules", str(rules)])
    send_and_close(d.port, b"flypaper-cache-probe")
    d.wait_sessions(1)
    assert d.stop() == 0
    assert query(str(db), "SELECT rule, tags FROM matches") == [("bbbb", "good")]
    cache = os.stat(str(db) + "-rules.yarc")           # replaced by root's own
    assert cache.st_uid == 0 and stat.S_IMODE(cache.st_mode) == 0o640


def test_a_group_writable_rules_cache_is_not_loaded(tmp_path, daemons):
    # The loading user's own file, but others could have written it until
    # now: refused (checked on the fd), not narrowed to 0640 and loaded.
    rules = rules_file(tmp_path)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    db = home / "fp.db"
    plant_cache(tmp_path, rules, db, pwd.getpwuid(0))
    os.chmod(str(db) + "-rules.yarc", 0o664)
    d = daemons(db=str(db), args=["--rules", str(rules)])
    send_and_close(d.port, b"flypaper-cache-probe")
    d.wait_sessions(1)
    assert d.stop() == 0
    assert query(str(db), "SELECT rule, tags FROM matches") == [("bbbb", "good")]


def test_state_files_are_created_0640(daemons, tmp_path):
    old = os.umask(0o022)                # what a shell usually has
    try:
        d = daemons(args=["--jsonl", str(tmp_path / "events.jsonl")])
    finally:
        os.umask(old)
    send_and_close(d.port, b"GET /scripts/root.exe?/c+dir HTTP/1.0\r\n\r\n")
    d.wait_sessions(1)
    names = ["flypaper.db", "flypaper.db-wal", "flypaper.db-shm", "events.jsonl",
             "flypaper.db-rules.yarc"]
    wait_for(lambda: all((tmp_path / n).exists() for n in names), what="the state files")
    modes = {n: oct(stat.S_IMODE(os.stat(tmp_path / n).st_mode)) for n in names}
    assert modes == {n: "0o640" for n in names}
    assert d.stop() == 0


def test_serving_as_root_without_user_warns(daemons):
    d = daemons()
    assert "warning" in d.text() and "as root" in d.text() and "--user" in d.text(), d.text()
    assert d.stop() == 0


def test_serving_with_user_does_not_warn(service_user, daemons):
    pw, state = service_user
    d = daemons(db=str(state / "fp.db"), args=["--user", pw.pw_name])
    assert "without --user" not in d.text()
    assert os.stat(state / "fp.db").st_uid == pw.pw_uid
    os.kill(d.proc.pid, signal.SIGHUP)
    assert d.stop() == 0


def test_a_root_inetd_child_ignores_a_cache_owned_by_another_user(service_user, tmp_path,
                                                                 inetd):
    pw, _ = service_user
    rules = rules_file(tmp_path)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    db = home / "fp.db"
    plant_cache(tmp_path, rules, db, pw)
    port, _ = inetd("--rules", str(rules), db=str(db))     # children run as root
    send_and_close(port, b"flypaper-cache-probe")
    rows = wait_for(lambda: os.path.exists(db) and query(str(db), "SELECT rule, tags FROM matches"),
                    what="the child's match")
    assert rows == [("bbbb", "good")]


def test_sighup_does_not_follow_a_symlink_put_in_place_of_the_jsonl(service_user, daemons):
    pw, state = service_user
    victim = state.parent / "victim"     # one the user can reach, and even write
    victim.write_bytes(VICTIM_TEXT)
    os.chmod(victim, 0o666)
    jl = state / "events.jsonl"
    d = daemons(db=str(state / "fp.db"), args=["--user", pw.pw_name, "--jsonl", str(jl)])
    os.rename(jl, state / "events.jsonl.1")
    os.symlink(victim, jl)
    os.lchown(jl, pw.pw_uid, pw.pw_gid)
    d.proc.send_signal(signal.SIGHUP)
    send_and_close(d.port, b"still recorded")
    d.wait_sessions(1)
    assert d.stop() == 0
    assert victim.read_bytes() == VICTIM_TEXT
    assert "cannot reopen" in d.text() and "symbolic link" in d.text(), d.text()
    assert (state / "events.jsonl.1").read_bytes().count(b"flypaper.session.closed") == 1


@pytest.fixture
def unprotected_symlinks():
    """fs.protected_symlinks=0 for the test (as on a system without it):
    the kernel then follows any link in a sticky folder, so only flypaper's
    own walk stands between a planted link and root. Restored after."""
    knob = "/proc/sys/fs/protected_symlinks"
    with open(knob) as f:
        old = f.read().strip()
    try:
        with open(knob, "w") as f:
            f.write("0")
        yield
    finally:
        with open(knob, "w") as f:
            f.write(old)


def test_a_folder_link_planted_by_a_user_is_not_followed(service_user, unprotected_symlinks):
    pw, state = service_user
    top = state.parent                      # root's, 0755
    shared = top / "tmp"
    shared.mkdir()
    os.chmod(shared, 0o1777)                # like /tmp
    target = top / "target"                 # stands for /root/target
    target.mkdir(mode=0o755)
    link = shared / "fp"                    # not there yet: the user makes it
    os.symlink(target, link)
    os.lchown(link, pw.pw_uid, pw.pw_gid)
    r = serve(["--db", str(top / "fp.db"), "--jsonl", str(link / "events.jsonl")])
    assert r.returncode == 2, r.stderr
    assert f"{link} is a symbolic link owned by {pw.pw_name}" in r.stderr, r.stderr
    assert os.listdir(target) == []


def test_a_folder_link_root_made_is_followed(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o755)
    via = tmp_path / "via"
    os.symlink("real", via)                 # relative, like /var/run -> ../run
    r = serve(["--db", str(via / "fp.db"), "--jsonl", str(via / "events.jsonl")])
    assert "ready:" in r.stderr, r.stderr
    if "landlock ABI" in r.stderr:          # it grants the folder checked, not the link
        assert f"writes only in {real}, {real}" in r.stderr, r.stderr
    assert (real / "fp.db").is_file() and (real / "events.jsonl").is_file()
