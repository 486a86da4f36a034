/* sandbox.c - confinement after start-up. Once serve or inetd has bound,
 * dropped privileges and opened its state files, the process gives up
 * what a parser bug could otherwise use: every system call outside an
 * allow-list (seccomp: raw BPF generated at build time by
 * tools/sandbox_gen.c with libseccomp) and every file outside the state
 * folders (Landlock, raw system calls: Debian has no library for it; on a
 * kernel without it, serve chroots into the database's folder instead,
 * as root just before its privilege drop). */
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <linux/landlock.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sandbox_bpf.h"
#include "scanner_lists.h"
#include "state.h"

/* Rights newer than Debian 12's <linux/landlock.h> (ABI 2). */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)   /* ABI 3 */
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)   /* ABI 6 */
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)                 /* ABI 6 */
#endif

/* The ruleset attributes as ABI 6 has them (Debian 12's header stops at
 * handled_access_fs); the kernel is given only the part its ABI knows. */
struct sandbox_landlock_attr {
	__u64 handled_access_fs;
	__u64 handled_access_net;    /* ABI 4; 0: TCP bind/connect not handled */
	__u64 scoped;                /* ABI 6: what stays inside the domain */
};

#define SANDBOX_PATH_LEN 4096

static int sandbox_log_fd = -1;         /* /dev/log datagram socket, or -1 */
static char sandbox_root[SANDBOX_PATH_LEN];   /* the chroot's folder; "": none */
/* Why there is no chroot, for the warning of a kernel without Landlock. */
static const char *sandbox_no_chroot = "a chroot needs serve started as root "
    "with --user";
static char sandbox_chroot_error[128];        /* sandbox_no_chroot, when chroot failed */

/* Appends the decimal v to buf at *n; async-signal-safe. */
static void sandbox_put_number(char *buf, size_t *n, size_t cap, long v)
{
	char digits[24];
	size_t k = 0;
	unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;

	if (v < 0 && *n < cap)
		buf[(*n)++] = '-';
	do
		digits[k++] = (char)('0' + u % 10);
	while ((u /= 10) && k < sizeof(digits));
	while (k && *n < cap)
		buf[(*n)++] = digits[--k];
}

static void sandbox_put_text(char *buf, size_t *n, size_t cap, const char *s)
{
	while (*s && *n < cap)
		buf[(*n)++] = *s++;
}

/* SIGSYS from the filter: one line naming the call, then death by SIGSYS.
 * Only async-signal-safe calls, all of them on the allow-list. */
static void sandbox_on_sigsys(int sig, siginfo_t *si, void *uctx)
{
	char line[160];
	size_t n = 0, start;
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t set;

	(void)uctx;
	sandbox_put_text(line, &n, sizeof(line), "<27>");  /* daemon.err */
	start = n;
	sandbox_put_text(line, &n, sizeof(line), "flypaper[");
	sandbox_put_number(line, &n, sizeof(line), (long)getpid());
	sandbox_put_text(line, &n, sizeof(line),
	    "]: error: sandbox: forbidden system call ");
	sandbox_put_number(line, &n, sizeof(line), (long)si->si_syscall);
	sandbox_put_text(line, &n, sizeof(line), ", killed\n");
	if (write(STDERR_FILENO, line + start, n - start) < 0) {
		/* nowhere else to say it */
	}
	if (sandbox_log_fd >= 0 && send(sandbox_log_fd, line, n - 1, 0) < 0) {
		/* syslog is gone: stderr had the line */
	}
	sigaction(sig, &dfl, NULL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	_exit(128 + sig);            /* not reached */
}

/* The kernel's Landlock ABI, 0 if it has none (or the hidden test switch
 * says to pretend so: CI's kernels have it, the chroot fallback is tested
 * with it). */
static int sandbox_landlock_abi(void)
{
	const char *pretend = getenv(SANDBOX_PRETEND_ENV);
	long abi;

	if (pretend && strcmp(pretend, "1") == 0)
		return 0;
	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	return abi > 0 ? (int)abi : 0;
}

/* Allows access beneath path (a folder) or to it (a file). Missing paths
 * are skipped: a JSON-lines folder may come later, a rule path is checked
 * when the rules compile. */
static int sandbox_landlock_allow(int ruleset, const char *path, __u64 access,
    __u64 handled, char *err, size_t errlen)
{
	const __u64 file_rights = LANDLOCK_ACCESS_FS_EXECUTE |
	    LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
	    LANDLOCK_ACCESS_FS_TRUNCATE;
	struct landlock_path_beneath_attr rule = {0};
	struct stat sb;
	int fd = open(path, O_PATH | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "sandbox: %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == 0 && !S_ISDIR(sb.st_mode))
		access &= file_rights;
	rule.allowed_access = access & handled;
	rule.parent_fd = fd;
	if (rule.allowed_access &&
	    syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH,
	        &rule, 0) < 0) {
		snprintf(err, errlen, "sandbox: landlock rule for %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Restricts the filesystem to spec's paths. Returns the ABI in force (0:
 * the kernel has no Landlock), or -1. */
static int sandbox_landlock(const struct sandbox_spec *spec, char *err,
    size_t errlen)
{
	const __u64 rw = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |
	    LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
	    LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_TRUNCATE;
	const __u64 ro = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
	struct sandbox_landlock_attr attr = {0};
	size_t attr_size = offsetof(struct sandbox_landlock_attr, handled_access_net);
	int abi = sandbox_landlock_abi(), ruleset, rc = 0;

	if (abi == 0)
		return 0;
	/* Everything ABI 1 knows, plus renames across folders (2) and
	 * truncation (3). */
	attr.handled_access_fs = LANDLOCK_ACCESS_FS_EXECUTE |
	    LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
	    LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR |
	    LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
	    LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
	    LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
	    LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
	if (abi >= 2)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	/* No connecting to abstract Unix sockets (D-Bus, X11, containers'
	 * agents) nor signalling processes outside the sandbox (6). Pathname
	 * Unix sockets are seccomp's: no AF_UNIX socket at all. */
	if (abi >= 6) {
		attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
		attr_size = sizeof(attr);
	}
	ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
	if (ruleset < 0) {
		snprintf(err, errlen, "sandbox: landlock: %s", strerror(errno));
		return -1;
	}
	for (int i = 0; rc == 0 && i < SANDBOX_MAX_PATHS && spec->rw_dirs[i]; i++)
		rc = sandbox_landlock_allow(ruleset, spec->rw_dirs[i], rw,
		    attr.handled_access_fs, err, errlen);
	for (int i = 0; rc == 0 && i < SANDBOX_MAX_PATHS && spec->ro_paths[i]; i++)
		rc = sandbox_landlock_allow(ruleset, spec->ro_paths[i], ro,
		    attr.handled_access_fs, err, errlen);
	if (rc == 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0) {
		snprintf(err, errlen, "sandbox: landlock: %s", strerror(errno));
		rc = -1;
	}
	close(ruleset);
	return rc < 0 ? -1 : abi;
}

/* Loads the allow-list built at build time (tools/sandbox_gen.c, raw BPF
 * in build/gen/sandbox_bpf.h) with tgkill's pid placeholder patched to
 * this process's pid; anything else traps into sandbox_on_sigsys. Fails
 * closed if the placeholder is not where the generator counted it. */
static int sandbox_seccomp(char *err, size_t errlen)
{
	struct sock_filter insns[sizeof(sandbox_bpf) / sizeof(sandbox_bpf[0])];
	struct sock_fprog prog = {.len = sizeof(insns) / sizeof(insns[0]),
	    .filter = insns};
	uint32_t pid = (uint32_t)getpid();
	int slots = 0;
	long rc;

	memcpy(insns, sandbox_bpf, sizeof(insns));
	for (size_t i = 0; i < prog.len; i++) {
		if (insns[i].k != SANDBOX_BPF_PID)
			continue;
		if (insns[i].code != (BPF_JMP | BPF_JEQ | BPF_K))
			break;       /* slots stays short: refused below */
		insns[i].k = pid;
		slots++;
	}
	if (slots != SANDBOX_BPF_PID_SLOTS) {
		snprintf(err, errlen, "sandbox: seccomp: the filter's pid "
		    "placeholder is not where expected");
		return -1;
	}
	/* Threads only: no fork, no exec (the filter). TSYNC: every thread
	 * gets the filter or none does; a positive return names a thread
	 * that could not be synchronised. */
	rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
	    SECCOMP_FILTER_FLAG_TSYNC, &prog);
	if (rc < 0) {
		snprintf(err, errlen, "sandbox: seccomp: %s", strerror(errno));
		return -1;
	}
	if (rc > 0) {
		snprintf(err, errlen, "sandbox: seccomp: thread %ld could not "
		    "take the filter", rc);
		return -1;
	}
	return 0;
}

/* 1 if another thread runs already: Landlock would not bind it. */
static int sandbox_threads_running(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;            /* no /proc: cannot tell */
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n > 1;
}

int sandbox_enter(const struct sandbox_spec *spec, struct sandbox_state *st,
    char *err, size_t errlen)
{
	struct sigaction sa = {.sa_sigaction = sandbox_on_sigsys, .sa_flags = SA_SIGINFO};
	int abi;

	memset(st, 0, sizeof(*st));
	if (sandbox_threads_running()) {
		snprintf(err, errlen, "sandbox: entered after a thread started");
		return -1;
	}
	if (spec->syslog && sandbox_log_fd < 0) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX, .sun_path = "/dev/log"};
		sandbox_log_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (sandbox_log_fd >= 0 &&
		    connect(sandbox_log_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			close(sandbox_log_fd);
			sandbox_log_fd = -1;
		}
	}
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, errlen, "sandbox: %s", strerror(errno));
		return -1;
	}
	if ((abi = sandbox_landlock(spec, err, errlen)) < 0)
		return -1;
	st->landlock_abi = abi;
	if (sandbox_seccomp(err, errlen) < 0)
		return -1;
	st->seccomp = 1;
	return 0;
}

/* Copies path's folder into dir ("." for a bare file name). */
static void sandbox_dir_of(const char *path, char *dir, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(dir, len, ".");
	else if (slash == path)
		snprintf(dir, len, "/");
	else
		snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

/* The folder of a sanitizer's log_path=..., from its options variable. */
static int sandbox_sanitizer_dir(const char *var, char *dir, size_t len)
{
	const char *opts = getenv(var), *p, *end;
	char path[SANDBOX_PATH_LEN];

	if (!opts || !(p = strstr(opts, "log_path=")))
		return 0;
	p += strlen("log_path=");
	end = strchr(p, ':');
	snprintf(path, sizeof(path), "%.*s", (int)(end ? end - p : (long)strlen(p)), p);
	if (path[0] == '\0' || strcmp(path, "stderr") == 0 || strcmp(path, "stdout") == 0)
		return 0;
	sandbox_dir_of(path, dir, len);
	return 1;
}

/* The hidden FLYPAPER_SANDBOX_SELFTEST switch, once confined: "syscall"
 * and "chroot" make a forbidden call (SIGSYS), "open:PATH" logs whether
 * PATH can be opened. */
static void sandbox_selftest(const char *what)
{
	int fd;

	if (!what)
		return;
	if (strcmp(what, "syscall") == 0)
		syscall(SYS_acct, NULL);
	else if (strcmp(what, "chroot") == 0)
		syscall(SYS_chroot, "/");
	else if (strncmp(what, "open:", 5) == 0) {
		fd = open(what + 5, O_RDONLY | O_CLOEXEC);
		log_info("sandbox: selftest: open %s: %s", what + 5,
		    fd >= 0 ? "opened" : strerror(errno));
		if (fd >= 0)
			close(fd);
	}
}

/* The folder of the state file at path as state_open_dir reached and
 * checked it (links resolved), into dir: Landlock then grants exactly that
 * folder, not wherever a link on path points by now. Exits 2 if refused. */
static void sandbox_state_dir(const char *path, char *dir, size_t len)
{
	char real[STATE_PATH_MAX], err[512];
	int fd = state_open_dir(path, 0, real, sizeof(real), err, sizeof(err));

	if (fd < 0)
		log_fatal("sandbox: %s", err);
	close(fd);
	sandbox_dir_of(real, dir, len);
}

/* The trace folder (--pcap) as state_open_folder reached and checked it,
 * into dir. Exits 2 if refused. */
static void sandbox_trace_dir(const char *path, char *dir, size_t len)
{
	char err[512];
	int fd = state_open_folder(path, dir, len, err, sizeof(err));

	if (fd < 0)
		log_fatal("sandbox: %s", err);
	close(fd);
}

int sandbox_chroot_wanted(const struct config *cfg)
{
	if (sandbox_landlock_abi() > 0)
		return 0;
	if (SANDBOX_SANITIZERS) {
		sandbox_no_chroot = "sanitizer build: no chroot, the sanitizers "
		    "read /proc";
		return 0;
	}
	return cfg->user && geteuid() == 0 && getuid() == 0;
}

/* Checks and creates the JSON-lines file as the effective user, as
 * jsonl_open will, and fills real with its symlink-free path. Returns 0,
 * or -1 (the open after the chroot would fail the same way). */
static int sandbox_check_jsonl(const char *path, char *real, size_t len)
{
	char err[512];
	int dirfd = state_open_dir(path, 0, real, len, err, sizeof(err)), fd;

	if (dirfd < 0)
		return -1;
	fd = state_openat(dirfd, strrchr(real, '/') + 1, path,
	    O_WRONLY | O_APPEND | O_CREAT, 0, err, sizeof(err));
	close(dirfd);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* Checks (and makes) the trace folder as the effective user, as
 * pcap_trace_open will, and fills real with its symlink-free path.
 * Returns 0, or -1 (the open after the chroot would fail the same way). */
static int sandbox_check_trace(const char *path, char *real, size_t len)
{
	char err[512];
	int fd = state_open_folder(path, real, len, err, sizeof(err));

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* Replaces *field with a copy of value. Exits 2 out of memory. */
static void sandbox_rebase(char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		log_fatal("out of memory");
	free(*field);
	*field = copy;
}

int sandbox_chroot(struct config *cfg)
{
	char db[STATE_PATH_MAX], jl[STATE_PATH_MAX], tr[STATE_PATH_MAX], err[512];
	int jsonl = cfg->jsonl_path && strcmp(cfg->jsonl_path, "-") != 0;
	uid_t user = geteuid();
	unsigned char seed;
	size_t dirlen;
	int dirfd, cwd;

	/* As the user, with the checks store_open and jsonl_open make, so
	 * that a problem is reported by them as without a chroot, naming the
	 * path the operator gave. */
	if (state_prepare_db(cfg->db_path, db, sizeof(db), err, sizeof(err)) < 0 ||
	    (jsonl && sandbox_check_jsonl(cfg->jsonl_path, jl, sizeof(jl)) < 0) ||
	    (cfg->pcap_dir && sandbox_check_trace(cfg->pcap_dir, tr, sizeof(tr)) < 0)) {
		sandbox_no_chroot = "a state file was refused";
		return 0;
	}
	/* The folder chrooted into is the one this walk reached and checked,
	 * held by its fd: whatever its path leads to by now does not matter. */
	dirfd = state_open_dir(cfg->db_path, STATE_NO_STICKY, db, sizeof(db), err,
	    sizeof(err));
	if (dirfd < 0) {
		sandbox_no_chroot = "a state file was refused";
		return 0;
	}
	dirlen = (size_t)(strrchr(db, '/') - db);   /* 0: the database is in / */
	if (jsonl && (strncmp(jl, db, dirlen) != 0 || jl[dirlen] != '/')) {
		close(dirfd);
		sandbox_no_chroot = "the JSON-lines file is outside the database's "
		    "folder (keep both in one folder to have it)";
		return 0;
	}
	/* The trace's folder fd stays open while the daemon runs: only one
	 * inside the chroot may (it is no way out). */
	if (cfg->pcap_dir && (strncmp(tr, db, dirlen) != 0 || tr[dirlen] != '/')) {
		close(dirfd);
		sandbox_no_chroot = "the --pcap folder is not beneath the database's "
		    "folder (make it a subfolder there to have it)";
		return 0;
	}
	/* Out of reach once inside: SQLite seeds its generator from
	 * /dev/urandom on first use (it would fall back to the time and pid),
	 * the time zone comes from /etc/localtime. The syslog socket, the
	 * rules and the templates are open or read already; NSS was loaded by
	 * getpwnam and is not reloaded in a chroot. */
	sqlite3_randomness(sizeof(seed), &seed);
	tzset();
	/* A chroot refused (a system call filter of the service manager's, a
	 * container without CAP_SYS_CHROOT) leaves things as they were, with
	 * the reason in the warning: the process starts as it would have. */
	cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0 || seteuid(0) < 0)
		log_fatal("sandbox: chroot: %s", strerror(errno));
	if (fchdir(dirfd) < 0 || chroot(".") < 0) {
		snprintf(sandbox_chroot_error, sizeof(sandbox_chroot_error),
		    "chroot: %s", strerror(errno));
		sandbox_no_chroot = sandbox_chroot_error;
		if (fchdir(cwd) < 0 || seteuid(user) < 0)
			log_fatal("sandbox: chroot: %s", strerror(errno));
		close(cwd);
		close(dirfd);
		return 0;
	}
	if (chdir("/") < 0 || seteuid(user) < 0)
		log_fatal("sandbox: chroot: %s", strerror(errno));
	close(cwd);
	close(dirfd);
	if (dirlen)
		snprintf(sandbox_root, sizeof(sandbox_root), "%.*s", (int)dirlen, db);
	else
		snprintf(sandbox_root, sizeof(sandbox_root), "/");
	sandbox_rebase(&cfg->db_path, db + dirlen);
	if (jsonl)
		sandbox_rebase(&cfg->jsonl_path, jl + dirlen);
	if (cfg->pcap_dir)
		sandbox_rebase(&cfg->pcap_dir, tr + dirlen);
	log_info("sandbox: chroot into %s: the database is %s inside", sandbox_root,
	    cfg->db_path);
	return 1;
}

void sandbox_confine(const struct config *cfg, int read_rules)
{
	static char dirs[5][SANDBOX_PATH_LEN], rules[SANDBOX_PATH_LEN];
	struct sandbox_spec spec = {.syslog = log_is_syslog()};
	struct sandbox_state st;
	char err[512], *save = NULL;
	int nrw = 0, nro = 0, nfixed;

	sandbox_state_dir(cfg->db_path, dirs[0], sizeof(dirs[0]));
	spec.rw_dirs[nrw++] = dirs[0];
	if (cfg->jsonl_path && strcmp(cfg->jsonl_path, "-") != 0) {
		sandbox_state_dir(cfg->jsonl_path, dirs[1], sizeof(dirs[1]));
		spec.rw_dirs[nrw++] = dirs[1];
	}
	if (cfg->pcap_dir) {
		/* The trace files: begun, written and the oldest unlinked. */
		sandbox_trace_dir(cfg->pcap_dir, dirs[4], sizeof(dirs[4]));
		spec.rw_dirs[nrw++] = dirs[4];
	}
	/* SQLite seeds its generator from /dev/urandom; workers hold a
	 * spare /dev/null for the fd limit; libyara's magic module. */
	spec.ro_paths[nro++] = "/dev/urandom";
	spec.ro_paths[nro++] = "/dev/null";
	spec.ro_paths[nro++] = "/usr/share/file";
	spec.ro_paths[nro++] = "/etc/magic";
	if (cfg->nats_urls) {
		/* The NATS client reads the credentials file at every
		 * (re)connect, from its own threads. It resolves nothing: the
		 * servers' names were resolved at start (sink_nats.c), so no
		 * resolver file is opened to it. */
		if (cfg->nats_creds)
			spec.ro_paths[nro++] = cfg->nats_creds;
	}
	if (read_rules && cfg->rules && strcmp(cfg->rules, "none") != 0)
		spec.ro_paths[nro++] = FLYPAPER_CRS_DIR;  /* the lists rules come from */
	nfixed = nro;
	if (read_rules && cfg->rules && strcmp(cfg->rules, "none") != 0) {
		snprintf(rules, sizeof(rules), "%s", cfg->rules);
		for (char *p = strtok_r(rules, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
			/* Two slots stay free: the sanitizers' "/" and the NULL. */
			if (nro >= SANDBOX_MAX_PATHS - 2)
				log_fatal("sandbox: more than %d rule paths",
				    SANDBOX_MAX_PATHS - 2 - nfixed);
			spec.ro_paths[nro++] = p;
		}
	}
	if (SANDBOX_SANITIZERS) {
		/* Symbolising a report reads the binary and its libraries,
		 * LSan reads /proc; the reports go to log_path's folder. */
		spec.ro_paths[nro++] = "/";
		if (sandbox_sanitizer_dir("ASAN_OPTIONS", dirs[2], sizeof(dirs[2])))
			spec.rw_dirs[nrw++] = dirs[2];
		if (sandbox_sanitizer_dir("UBSAN_OPTIONS", dirs[3], sizeof(dirs[3])) &&
		    strcmp(dirs[3], spec.rw_dirs[nrw - 1]) != 0)
			spec.rw_dirs[nrw++] = dirs[3];
	}
	if (!sandbox_root[0])        /* a chroot took it before; it would fall */
		tzset();             /* back to UTC without /etc/localtime */
	/* A core file would hold what peers sent (and a SIGSYS dumps core by
	 * default): none, whatever the system's settings. */
	if (setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0}) < 0)
		log_fatal("sandbox: cannot disable core files: %s", strerror(errno));
	if (sandbox_enter(&spec, &st, err, sizeof(err)) < 0)
		log_fatal("%s", err);
	if (st.landlock_abi) {
		char where[1024];
		size_t n = 0;
		for (int i = 0; i < nrw && n < sizeof(where); i++)
			n += (size_t)snprintf(where + n, sizeof(where) - n, "%s%s",
			    i ? ", " : "", spec.rw_dirs[i]);
		log_info("sandbox: seccomp allow-list and landlock ABI %d: "
		    "writes only in %s%s", st.landlock_abi, where,
		    SANDBOX_SANITIZERS ? " (sanitizer build: / readable)" : "");
	} else if (sandbox_root[0]) {
		log_warn("sandbox: seccomp allow-list and chroot into %s: this "
		    "kernel has no landlock, files are confined to that folder",
		    sandbox_root);
	} else {
		log_warn("sandbox: seccomp allow-list only: this kernel has no "
		    "landlock, files are not confined (%s)", sandbox_no_chroot);
	}
	sandbox_selftest(getenv(SANDBOX_SELFTEST_ENV));
}
