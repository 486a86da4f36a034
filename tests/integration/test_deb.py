"""The Debian package (issue 14), as root: `make deb` in a copy of the tree,
lintian, `apt install ./flypaper_*.deb`, the packaged binary serving a real
curl connection with no path flags, then `apt remove` and `apt purge`, after
which nothing is left but what Debian policy keeps (the system user).

systemd is not PID 1 where this runs (a container), so socket activation
itself is not exercised: the installed units are checked with
`systemd-analyze verify` and `systemctl is-enabled` instead.

The module installs the package once and purges it in a finalizer, even on
failure, so that no /usr/bin/flypaper outlives it (every other test runs
build/flypaper by its path)."""
import glob
import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess

import pytest

from conftest import ROOT, tool, wait_for

UNITS = ("flypaper.socket", "flypaper.service", "flypaper-inetd.socket",
         "flypaper-inetd@.service")
UNIT_DIR = "/lib/systemd/system"
STATE_DIRS = ("/var/lib/flypaper", "/var/log/flypaper")
# What the file lists before and after are compared over (issue 14).
WATCHED = ("/usr", "/etc", "/var/lib")
# Changed by apt and dpkg themselves on any install, whatever the package
# (their own records of flypaper are not churn), and the account files'
# backups that adding the user may make.
CHURN = re.compile(r"^/var/lib/(apt|dpkg)/(?!.*flypaper)|^/etc/(passwd|group|shadow|gshadow)-$")
APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
APT_LOCK = ["-o", "DPkg::Lock::Timeout=120"]


def run(cmd, timeout=300, **kwargs):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)


def installed():
    r = run(["dpkg-query", "-W", "-f", "${db:Status-Status}", "flypaper"])
    return r.returncode == 0 and r.stdout.strip() not in ("", "not-installed")


def listing():
    """Every path under WATCHED, links not followed."""
    paths = set()
    for top in WATCHED:
        for d, dirs, files in os.walk(top):
            for name in dirs + files:
                paths.add(os.path.join(d, name))
    return paths


def purge():
    if installed():
        run(["dpkg", "--purge", "flypaper"], env=APT_ENV)


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """Builds the package with `make deb` in a copy of the tree (the
    checkout's build/ is left alone): the path of flypaper_*.deb."""
    assert os.geteuid() == 0, "the package test installs a package: run it as root (CI does)"
    for t in ("dpkg-buildpackage", "dh", "lintian", "apt"):
        assert shutil.which(t), f"{t} is needed (scripts/deps installs it)"
    src = tmp_path_factory.mktemp("deb") / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(
        "build", ".git", "__pycache__", ".pytest_cache", "*.db", "*.db-wal",
        "*.db-shm", "*.yarc", "*.yarc.key"))
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck parallel=2")
    r = run(["make", "-s", "deb"], cwd=src, env=env, timeout=1800)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    debs = glob.glob(str(src / "build" / "deb" / "flypaper_*.deb"))
    assert len(debs) == 1, (debs, r.stdout[-2000:])
    return debs[0]


@pytest.fixture(scope="module")
def system(package, request):
    """Installs the package with apt; purges it at the end, whatever
    happened. Returns what the machine looked like before."""
    assert not installed(), "flypaper is installed already: dpkg --purge flypaper first"
    assert shutil.which("flypaper") is None, \
        f"a flypaper on PATH ({shutil.which('flypaper')}) would mask the package's"
    for d in STATE_DIRS + ("/etc/flypaper",):
        assert not os.path.exists(d), f"{d} exists before the package is installed"
    try:
        pwd.getpwnam("flypaper")
        user_before = True
    except KeyError:
        user_before = False
    before = listing()

    def cleanup():
        purge()
        # What a faulty purge would leave (test_remove_... says so); none
        # of it existed before.
        for d in STATE_DIRS + ("/etc/flypaper",):
            shutil.rmtree(d, ignore_errors=True)
        # Policy keeps the system user on purge; the test gives the machine
        # back as it found it.
        if not user_before:
            run(["userdel", "flypaper"])
    request.addfinalizer(cleanup)
    r = run(["apt", "install", "-y", "--no-install-recommends", *APT_LOCK, package],
            env=APT_ENV, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return {"before": before, "user_before": user_before, "apt": r.stdout + r.stderr}


def test_lintian_reports_no_errors_and_no_unjustified_warnings(package):
    changes = glob.glob(os.path.join(os.path.dirname(package), "flypaper_*.changes"))
    assert len(changes) == 1, changes
    r = run(["lintian", "--pedantic", "-I", changes[0]], timeout=600)
    tags = [line for line in r.stdout.splitlines() if re.match(r"^[EWIPX]: ", line)]
    bad = [line for line in tags if line[0] in "EW"]
    assert not bad, r.stdout
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_package_depends_on_what_it_links_and_recommends_what_it_loads(package):
    fields = {f: run(["dpkg-deb", "-f", package, f]).stdout for f in
              ("Depends", "Recommends", "Suggests")}
    for lib in ("libuv1", "libsqlite3-0", "libnettle8", "libjansson4", "libinih1",
                "libyara9"):
        assert lib in fields["Depends"], fields
    assert "libgsl27" in fields["Recommends"], fields
    for lib in ("libpcap0.8", "libssl3", "libnats3.4", "modsecurity-crs", "p0f"):
        assert lib in fields["Suggests"], fields
    # dlopen: the binary itself links none of them
    extract = os.path.join(os.path.dirname(package), "x")
    run(["dpkg-deb", "-x", package, extract])
    needed = run(["objdump", "-p", os.path.join(extract, "usr/bin/flypaper")]).stdout
    needed = re.findall(r"NEEDED\s+(\S+)", needed)
    assert needed and not [n for n in needed if re.match(r"lib(yara|pcap|gsl|ssl|crypto)", n)], needed


def test_files_user_and_state_folder_are_where_debian_puts_them(system):
    assert os.access("/usr/bin/flypaper", os.X_OK)
    assert shutil.which("flypaper") == "/usr/bin/flypaper"
    # the copy it was built in is gone for a user: no path may point there
    with open("/usr/bin/flypaper", "rb") as f:
        baked = b"/build/deb/src" in f.read()
    assert not baked, "/usr/bin/flypaper names a folder of the tree it was built in"
    assert glob.glob("/usr/share/flypaper/rules/*.yar")
    assert os.path.isdir("/usr/share/flypaper/templates/apache")
    conffiles = run(["dpkg-query", "-W", "-f", "${Conffiles}", "flypaper"]).stdout
    assert "/etc/flypaper/flypaper.conf" in conffiles, conffiles
    for page in ("flypaper", "flypaper.conf"):
        r = run(["man", "-w", page])
        assert r.returncode == 0 and r.stdout.startswith("/usr/share/man/"), r.stdout + r.stderr
    assert os.path.exists("/usr/lib/sysusers.d/flypaper.conf")
    examples = "/usr/share/doc/flypaper/examples"
    assert "/usr/bin/flypaper" in open(f"{examples}/inetd.conf").read()
    assert "/usr/bin/flypaper" in open(f"{examples}/flypaper-pcap.conf").read()
    for unit in UNITS:
        text = open(os.path.join(UNIT_DIR, unit)).read()
        assert "/usr/local" not in text, unit
        if unit.endswith(".service"):
            assert re.search(r"^ExecStart=/usr/bin/flypaper ", text, re.M), text
            assert re.search(r"^User=flypaper$", text, re.M), text
    user = pwd.getpwnam("flypaper")
    assert user.pw_uid < 1000 and user.pw_shell == "/usr/sbin/nologin", user
    assert user.pw_dir == "/var/lib/flypaper", user
    for d in STATE_DIRS:
        st = os.stat(d)
        assert stat.S_IMODE(st.st_mode) == 0o750, (d, oct(st.st_mode))
        assert (st.st_uid, st.st_gid) == (user.pw_uid, user.pw_gid), d
    # the packaged example configuration is valid as installed
    r = run(["/usr/bin/flypaper", "serve", "-c", "/etc/flypaper/flypaper.conf", "--check"])
    assert r.returncode == 0, r.stderr


def test_nothing_is_enabled_or_started(system):
    for unit in ("flypaper.socket", "flypaper.service", "flypaper-inetd.socket"):
        r = run(["systemctl", "is-enabled", unit])
        assert r.stdout.strip() == "disabled", (unit, r.stdout, r.stderr)
    links = [p for p in glob.glob("/etc/systemd/system/**", recursive=True) if "flypaper" in p]
    assert not links, links
    running = []
    for exe in glob.glob("/proc/[0-9]*/exe"):
        try:
            if os.readlink(exe).startswith("/usr/bin/flypaper"):
                running.append(exe)
        except OSError:
            pass
    assert not running, running


def test_the_installed_units_verify(system):
    """Socket activation needs systemd as PID 1, which this container does
    not run: systemd-analyze checks the units (and that the binary they
    start exists) instead."""
    r = run(["systemd-analyze", "verify", *(os.path.join(UNIT_DIR, u) for u in UNITS)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "flypaper" not in r.stderr, r.stderr


def test_the_packaged_binary_serves_and_records_with_no_path_flags(system, tmp_path):
    """The packaged configuration as installed, only moved to a loopback
    port: root binds, drops to the package's user, writes the database in
    /var/lib/flypaper. The answer comes from the packaged templates and the
    family from the packaged rules, found without --templates or --rules."""
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(["/usr/bin/flypaper", "serve", "-c", "/etc/flypaper/flypaper.conf",
                                 "--listen", "127.0.0.1:0", "--respond", "http-apache"],
                                stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        text = wait_for(lambda: (lambda t: t if "ready:" in t or proc.poll() is not None else None)(
            log_path.read_text(errors="replace")), timeout=30, what="the packaged daemon")
        assert proc.poll() is None, text
        assert "running as flypaper" in text, text
        port = re.search(r"listening on 127\.0\.0\.1:(\d+)", text).group(1)
        r = run([tool("curl"), "-s", "-i", "-m", "10", "-A", "sqlmap/1.7.2#stable (https://sqlmap.org)",
                 f"http://127.0.0.1:{port}/index.php?id=1"], timeout=30)
        assert r.returncode == 0, r.stderr
        assert re.search(r"^Server: Apache/", r.stdout, re.M), r.stdout
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    text = log_path.read_text(errors="replace")
    assert rc == 0, text
    db = "/var/lib/flypaper/flypaper.db"
    st = os.stat(db)
    assert st.st_uid == pwd.getpwnam("flypaper").pw_uid and stat.S_IMODE(st.st_mode) == 0o640, st
    r = run([tool("sqlite3"), "-separator", "|", db,
             "SELECT src_ip, bytes_in > 0, close_reason, family, class_state FROM sessions"])
    assert r.returncode == 0, r.stderr
    rows = [line.split("|") for line in r.stdout.splitlines()]
    assert rows == [["127.0.0.1", "1", "peer_fin", "sqlmap", "done"]], (rows, text)
    events = [json.loads(line) for line in open("/var/log/flypaper/flypaper.jsonl")]
    assert {e.get("src_ip") for e in events} == {"127.0.0.1"}, events
    assert [e.get("family") for e in events
            if e.get("eventid") == "flypaper.session.classified"] == ["sqlmap"], events


def test_remove_keeps_configuration_and_data_and_purge_leaves_nothing(system):
    r = run(["apt", "remove", "-y", *APT_LOCK, "flypaper"], env=APT_ENV, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not os.path.exists("/usr/bin/flypaper")
    assert shutil.which("flypaper") is None
    assert os.path.exists("/etc/flypaper/flypaper.conf"), "remove must keep the conffile"
    for d in STATE_DIRS:
        assert os.path.isdir(d), f"remove must keep {d}"

    r = run(["apt", "purge", "-y", *APT_LOCK, "flypaper"], env=APT_ENV, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not installed()
    after = listing()
    left = sorted(p for p in after - system["before"] if not CHURN.match(p))
    gone = sorted(p for p in system["before"] - after if not CHURN.match(p))
    assert not left, f"left behind by the package: {left[:40]}"
    assert not gone, f"removed by the package, though it was there before: {gone[:40]}"
    # Debian keeps system users on purge (files elsewhere may be theirs)
    assert pwd.getpwnam("flypaper").pw_dir == "/var/lib/flypaper"
