"""The chroot fallback: on a kernel without Landlock, `serve` started as
root with --user chroots into the database's folder before the drop. CI's
kernels have Landlock, so these tests pretend they do not with the hidden
switch FLYPAPER_SANDBOX_PRETEND_NO_LANDLOCK=1. Sanitizer builds never
chroot (the sanitizers read /proc): there the tests check the note that
says so and that sessions are still recorded."""
import json
import os
import re
import shutil
import signal

from conftest import flood_past_fd_limit, payload_of, send_and_close, session_rows, wait_for
from test_privileges import service_user  # noqa: F401 (the fixture)
from test_sandbox import FORBIDDEN, SELFTEST, run_inetd

PRETEND = "FLYPAPER_SANDBOX_PRETEND_NO_LANDLOCK"
SANITIZER_NOTE = "sanitizer build: no chroot"


def env_without_landlock(**extra):
    env = {k: v for k, v in os.environ.items() if k != SELFTEST}
    env[PRETEND] = "1"
    env.update(extra)
    return env


def chrooted(d, state):
    """True if d logged a chroot into state; False in a sanitizer build,
    after checking that it said why not."""
    text = d.text()
    if SANITIZER_NOTE in text:
        assert "seccomp allow-list only" in text, text
        return False
    assert re.search(r"warning: sandbox: seccomp allow-list and chroot into "
                     + re.escape(str(state)) + r": this kernel has no landlock", text), text
    return True


def closed_sessions(path):
    """The session ids of the session.closed events in a JSON-lines file."""
    if not path.exists():
        return []
    return [e["session"] for e in map(json.loads, path.read_text().splitlines())
            if e["eventid"] == "flypaper.session.closed"]


def test_serve_chroots_records_and_reopens_its_jsonl(service_user, daemons):  # noqa: F811
    pw, state = service_user
    jdir = state / "j"
    jdir.mkdir(mode=0o750)
    os.chown(jdir, pw.pw_uid, pw.pw_gid)
    jsonl = jdir / "events.jsonl"
    db = state / "fp.db"
    d = daemons(db=str(db), args=["--user", pw.pw_name, "--jsonl", str(jsonl)],
                env=env_without_landlock(**{SELFTEST: "open:/etc/passwd"}))
    if chrooted(d, state):
        assert os.readlink(f"/proc/{d.proc.pid}/root") == str(state)
        assert f"chroot into {state}: the database is /fp.db inside" in d.text()
        # nothing outside the folder can be named any more
        assert "sandbox: selftest: open /etc/passwd: No such file or directory" in d.text()
    send_and_close(d.port, b"first, in the chroot")
    rows = d.wait_sessions(1)
    assert payload_of(str(db), rows[0]["payload_sha256"]) == b"first, in the chroot"
    # /etc/p0f was read before the chroot hid it: Linux's SYN has its label
    assert (rows[0]["os"] or "").startswith("Linux"), (rows[0]["os"], d.text())
    first = rows[0]["session"]
    wait_for(lambda: closed_sessions(jsonl) == [first], what="the first session.closed event")
    # rotation: the old file moved aside, SIGHUP makes a new one inside
    os.rename(jsonl, jdir / "events.jsonl.1")
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "jsonl: reopened" in d.text(), what="the reopen")
    send_and_close(d.port, b"second, after the reopen")
    second = [r["session"] for r in d.wait_sessions(2) if r["session"] != first]
    wait_for(lambda: closed_sessions(jsonl) == second, what="the second session.closed event")
    assert closed_sessions(jdir / "events.jsonl.1") == [first]
    assert os.stat(jsonl).st_uid == pw.pw_uid
    assert d.stop() == 0, d.text()
    # nothing was made outside the folder, and the files are the user's
    for f in ("fp.db", "fp.db-wal", "fp.db-shm"):
        assert os.stat(state / f).st_uid == pw.pw_uid, f
    assert sorted(p.name for p in state.parent.iterdir()) == ["state"]


def test_no_chroot_when_the_jsonl_is_outside_the_folder(service_user, daemons):  # noqa: F811
    pw, state = service_user
    other = state.parent / "elsewhere"
    other.mkdir(mode=0o750)
    os.chown(other, pw.pw_uid, pw.pw_gid)
    jsonl = other / "events.jsonl"
    d = daemons(db=str(state / "fp.db"), args=["--user", pw.pw_name, "--jsonl", str(jsonl)],
                env=env_without_landlock())
    text = d.text()
    assert "chroot into" not in text, text
    if SANITIZER_NOTE not in text:
        assert ("warning: sandbox: seccomp allow-list only: this kernel has no landlock, "
                "files are not confined (the JSON-lines file is outside the database's "
                "folder") in text, text
    assert os.readlink(f"/proc/{d.proc.pid}/root") == "/"
    send_and_close(d.port, b"recorded without a chroot")
    d.wait_sessions(1)
    wait_for(lambda: closed_sessions(jsonl), what="the session.closed event")


def test_chroot_with_the_jsonl_on_stdout(service_user, daemons):  # noqa: F811
    """stdout is an fd: it needs no path inside the chroot."""
    pw, state = service_user
    d = daemons(db=str(state / "fp.db"), args=["--user", pw.pw_name, "--jsonl", "-"],
                env=env_without_landlock())
    if chrooted(d, state):
        assert os.readlink(f"/proc/{d.proc.pid}/root") == str(state)
    send_and_close(d.port, b"to stdout from the chroot")
    d.wait_sessions(1)
    wait_for(lambda: '"eventid":"flypaper.session.closed"' in d.text(),
             what="the session.closed event on stdout")


def test_no_chroot_without_user_says_why(daemons, tmp_path):
    d = daemons(env=env_without_landlock())
    assert ("sandbox: seccomp allow-list only: this kernel has no landlock, files are "
            "not confined (") in d.text(), d.text()
    if SANITIZER_NOTE not in d.text():
        assert "needs serve started as root with --user" in d.text(), d.text()
    send_and_close(d.port, b"no chroot as plain root")
    d.wait_sessions(1)


def test_chroot_is_forbidden_once_confined(service_user, daemons):  # noqa: F811
    """chroot is made before the allow-list loads; the list has no chroot."""
    pw, state = service_user
    d = daemons(db=str(state / "fp.db"), args=["--user", pw.pw_name],
                env=env_without_landlock(**{SELFTEST: "chroot"}), check_ready=False)
    rc = d.proc.wait(timeout=30)
    assert rc == -signal.SIGSYS, d.text()
    assert FORBIDDEN.search(d.text()), d.text()
    assert "ready:" not in d.text()


def test_landlock_keeps_etc_out_of_reach(daemons):
    """The same probe with Landlock: the path exists, opening it is denied."""
    env = {k: v for k, v in os.environ.items() if k not in (SELFTEST, PRETEND)}
    env[SELFTEST] = "open:/etc/passwd"
    d = daemons(env=env)
    if "landlock ABI" not in d.text():
        return                           # a kernel without Landlock: nothing to check
    if "sanitizer build: / readable" in d.text():
        assert "sandbox: selftest: open /etc/passwd: opened" in d.text(), d.text()
    else:
        assert "sandbox: selftest: open /etc/passwd: Permission denied" in d.text(), d.text()


def test_inetd_child_never_chroots(tmp_path):
    rc, text, db = run_inetd(tmp_path, env_without_landlock())
    assert rc == 0, text
    assert "sandbox: seccomp allow-list only: this kernel has no landlock" in text, text
    assert "chroot into" not in text, text
    rows = wait_for(lambda: session_rows(db), what="the inetd session")
    assert payload_of(db, rows[0]["payload_sha256"]) == b"inetd child under the sandbox"


def spare_fds(pid):
    return sum(os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[eventfd]"
               for fd in os.listdir(f"/proc/{pid}/fd"))


def test_in_the_chroot_the_fd_limit_still_refuses_and_records(service_user, daemons):  # noqa: F811
    """The workers' spare fd is an eventfd, not /dev/null, which the chroot
    lacks: at the fd limit the excess is still refused and recorded, in
    more than one flood."""
    pw, state = service_user
    prlimit = shutil.which("prlimit")
    assert prlimit
    d = daemons(db=str(state / "fp.db"), prefix=[prlimit, "--nofile=48:48"], workers=2,
                args=["--user", pw.pw_name], env=env_without_landlock())
    if chrooted(d, state):
        assert not os.path.lexists(f"/proc/{d.proc.pid}/root/dev/null")
    spares = spare_fds(d.proc.pid)
    for r in range(2):
        flood_past_fd_limit(d, f"127.{40 + r}.", 200, 100, f"flood {r}")
    wait_for(lambda: spare_fds(d.proc.pid) >= spares, timeout=10, what="the spare fds back")
    assert d.stop() == 0, d.text()


def test_a_refused_chroot_leaves_serve_as_it_was(service_user, daemons, tmp_path):  # noqa: F811
    """Without CAP_SYS_CHROOT (a container, a service manager's filter) the
    chroot fails: serve starts as without one, with a relative --db still
    found where it was, and says why."""
    pw, state = service_user
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv is needed (package util-linux)"
    d = daemons(db="fp.db", prefix=[setpriv, "--bounding-set=-sys_chroot", "--",
                                    "env", "-C", str(state)],
                args=["--user", pw.pw_name], env=env_without_landlock())
    text = d.text()
    assert "chroot into" not in text, text
    if SANITIZER_NOTE not in text:
        assert ("files are not confined (chroot: Operation not permitted)") in text, text
    assert os.readlink(f"/proc/{d.proc.pid}/root") == "/"
    send_and_close(d.port, b"recorded after a refused chroot")
    d.db = str(state / "fp.db")
    rows = d.wait_sessions(1)
    assert payload_of(d.db, rows[0]["payload_sha256"]) == b"recorded after a refused chroot"
