/* sandbox_gen.c - builds the seccomp allow-list with libseccomp at build
 * time and prints it as raw BPF, a C header (build/gen/sandbox_bpf.h) that
 * sandbox.c loads with one seccomp() call: no libseccomp in the daemon, no
 * filter to build in each inetd child. Two programs: sandbox_bpf_plain and
 * sandbox_bpf_sanitizers (the ASan/UBSan runtimes' wider list, see
 * SANDBOX_SANITIZERS in sandbox.h).
 *
 * tgkill is allowed for the process's own pid only, which is not known
 * here: the rule names SANDBOX_BPF_PID, a value above PID_MAX_LIMIT (2^22)
 * that no process id can be, and sandbox.c patches each instruction that
 * compares with it to getpid(). The generator checks that the plain
 * program has exactly SANDBOX_BPF_PID_SLOTS such instructions, each a
 * "jeq #SANDBOX_BPF_PID" right after loading the low half of tgkill's
 * first argument (the high half is compared with 0, as for any pid), and
 * fails otherwise.
 *
 * Usage: sandbox_gen > build/gen/sandbox_bpf.h. Exit status 2 on error
 * (the Makefile then removes the half-written header). */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <termios.h>

#define SANDBOX_BPF_PID 0x7ffff1d5u   /* > PID_MAX_LIMIT: never a pid */
#define SANDBOX_BPF_MAX 4096          /* BPF_MAXINSNS: the kernel's cap */

/* Everything a running serve or inetd process calls, grouped by who needs
 * it. Names unknown on this architecture are skipped. ioctl, socket,
 * clone, mmap, mprotect, prctl, prlimit64 and tgkill are added with
 * argument checks in gen_filter. arch_prctl is not here: glibc uses
 * it only while starting (TLS), never once confined (strace). */
static const char *const sandbox_allowed[] = {
	/* memory (malloc, thread stacks, SQLite's -shm) */
	"brk", "munmap", "mremap", "madvise", "mincore",
	/* files: SQLite (WAL, locks, sync), the JSON-lines sink and its
	 * SIGHUP reopen, the rules cache */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv",
	"pwritev", "preadv2", "pwritev2", "open", "openat", "close",
	"close_range", "fstat", "stat", "lstat", "newfstatat", "statx",
	"lseek", "fcntl", "flock", "fsync", "fdatasync", "ftruncate",
	"fallocate", "unlink", "unlinkat", "rename", "renameat", "renameat2",
	"access", "faccessat", "faccessat2", "getcwd", "readlink",
	"readlinkat", "getdents64", "fchmod", "fchown", "umask", "dup",
	"dup2", "dup3", "pipe", "pipe2",
	/* sockets: accept, IDENT probes, syslog */
	"accept", "accept4", "connect", "bind", "listen", "getsockname",
	"getpeername", "setsockopt", "getsockopt", "shutdown", "sendto",
	"sendmsg", "sendmmsg", "recvfrom", "recvmsg", "recvmmsg",
	/* libuv's loop */
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
	"epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "poll", "ppoll",
	"select", "pselect6",
	/* threads, signals, time, exit */
	"futex", "futex_waitv", "set_robust_list", "get_robust_list", "rseq",
	"set_tid_address", "sched_yield", "sched_getaffinity", "gettid",
	"getpid", "getppid", "exit", "exit_group", "rt_sigaction",
	"rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "rt_sigpending",
	"sigaltstack", "restart_syscall", "nanosleep", "clock_nanosleep",
	"clock_gettime", "clock_getres", "gettimeofday", "time", "getrandom",
	"uname", "getrlimit", "getrusage", "sysinfo",
	"getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
};

/* Only what the sanitizer runtimes add, in ASan/UBSan builds. */
static const char *const sandbox_allowed_sanitizers[] = {
	"ptrace", "wait4", "waitid", "kill", "process_vm_readv", "getdents",
	"sched_setaffinity", "setrlimit", "personality", "mkdir", "arch_prctl",
};

static int gen_rule(scmp_filter_ctx ctx, const char *name, unsigned n,
    const struct scmp_arg_cmp *args, uint32_t action)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return 0;            /* not on this architecture */
	return seccomp_rule_add_array(ctx, action, nr, n, args);
}

/* The allow-list; anything else traps (SIGSYS, sandbox_on_sigsys). */
static int gen_filter(scmp_filter_ctx ctx, int sanitizers)
{
	/* SIOCOUTQ: the syslog sink's unacknowledged bytes (a read) */
	static const unsigned long ioctls[] = {FIONBIO, FIOCLEX, FIONCLEX,
	    FIONREAD, TCGETS, TIOCGWINSZ, SIOCOUTQ};
	static const int families[] = {AF_INET, AF_INET6};
	static const int prctls[] = {PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE};
	struct scmp_arg_cmp noexec = SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
	struct scmp_arg_cmp thread = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD,
	    CLONE_THREAD);
	struct scmp_arg_cmp self = SCMP_A0(SCMP_CMP_EQ, SANDBOX_BPF_PID);
	/* glibc's getrlimit and setrlimit: prlimit64(0, ...), this process. */
	struct scmp_arg_cmp own_limits = SCMP_A0(SCMP_CMP_EQ, 0);
	struct scmp_arg_cmp unix_socket = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);
	int rc = 0;

	/* A binary tree of syscall numbers, not a list: the kernel runs the
	 * filter for every number when it installs it (its cache of always-
	 * allowed calls), so a short path per number makes installing cheap. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	/* Threads only: no fork, no exec. glibc tries clone3 first, whose
	 * flags a filter cannot see, and falls back to clone on ENOSYS. */
	if (rc == 0)
		rc = gen_rule(ctx, "clone3", 0, NULL, SCMP_ACT_ERRNO(ENOSYS));
	if (rc == 0)
		rc = gen_rule(ctx, "clone", sanitizers ? 0 : 1, &thread, SCMP_ACT_ALLOW);
	/* No executable mappings once start-up is over. */
	if (rc == 0)
		rc = gen_rule(ctx, "mmap", 1, &noexec, SCMP_ACT_ALLOW);
	if (rc == 0)
		rc = gen_rule(ctx, "mprotect", 1, &noexec, SCMP_ACT_ALLOW);
	if (rc == 0)
		rc = gen_rule(ctx, "tgkill", sanitizers ? 0 : 1, &self, SCMP_ACT_ALLOW);
	for (size_t i = 0; rc == 0 && i < sizeof(ioctls) / sizeof(ioctls[0]); i++) {
		struct scmp_arg_cmp a = SCMP_A1(SCMP_CMP_EQ, ioctls[i]);
		rc = gen_rule(ctx, "ioctl", 1, &a, SCMP_ACT_ALLOW);
	}
	if (rc == 0)
		rc = gen_rule(ctx, "prlimit64", 1, &own_limits, SCMP_ACT_ALLOW);
	/* TCP only (accepting, IDENT probes, the NATS client, which names
	 * IPPROTO_TCP, and is given IP addresses: sink_nats.c resolves at
	 * start): no raw sockets, no UDP (nothing resolves names once
	 * confined), no other protocol. */
	static const int protocols[] = {0, IPPROTO_TCP};
	for (size_t i = 0; rc == 0 && i < sizeof(families) / sizeof(families[0]); i++) {
		for (size_t p = 0; rc == 0 && p < sizeof(protocols) / sizeof(protocols[0]); p++) {
			struct scmp_arg_cmp a[] = {
				SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i]),
				SCMP_A1(SCMP_CMP_MASKED_EQ,
				    (scmp_datum_t)(uint32_t)~(SOCK_NONBLOCK | SOCK_CLOEXEC),
				    SOCK_STREAM),
				SCMP_A2(SCMP_CMP_EQ, (scmp_datum_t)protocols[p]),
			};
			rc = gen_rule(ctx, "socket", 3, a, SCMP_ACT_ALLOW);
		}
	}
	/* No Unix sockets: connect would reach any on the host (systemd's,
	 * docker's, D-Bus), and Landlock does not cover them. The syslog
	 * socket is opened before (log.c, LOG_NDELAY; the SIGSYS line's own).
	 * An error, not a kill: glibc reopens /dev/log after journald
	 * restarts, and NSS may try nscd's socket; both must just fail. */
	if (rc == 0)
		rc = gen_rule(ctx, "socket", 1, &unix_socket, SCMP_ACT_ERRNO(EACCES));
	for (size_t i = 0; rc == 0 && i < sizeof(prctls) / sizeof(prctls[0]) &&
	         !sanitizers; i++) {
		struct scmp_arg_cmp a = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)prctls[i]);
		rc = gen_rule(ctx, "prctl", 1, &a, SCMP_ACT_ALLOW);
	}
	if (rc == 0 && sanitizers)
		rc = gen_rule(ctx, "prctl", 0, NULL, SCMP_ACT_ALLOW);
	for (size_t i = 0; rc == 0 && i < sizeof(sandbox_allowed) / sizeof(sandbox_allowed[0]); i++)
		rc = gen_rule(ctx, sandbox_allowed[i], 0, NULL, SCMP_ACT_ALLOW);
	for (size_t i = 0; rc == 0 && sanitizers &&
	         i < sizeof(sandbox_allowed_sanitizers) / sizeof(sandbox_allowed_sanitizers[0]); i++)
		rc = gen_rule(ctx, sandbox_allowed_sanitizers[i], 0, NULL, SCMP_ACT_ALLOW);
	return rc;
}

/* The number of instructions comparing with the pid placeholder; -1 if one
 * is not a jeq right after loading the low half of the first argument. */
static int gen_pid_slots(const struct sock_filter *prog, size_t n)
{
	const uint32_t low = offsetof(struct seccomp_data, args[0]) +
	    (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 0 : 4);
	int slots = 0;

	for (size_t i = 0; i < n; i++) {
		if (prog[i].k != SANDBOX_BPF_PID)
			continue;
		if (prog[i].code != (BPF_JMP | BPF_JEQ | BPF_K) || i == 0 ||
		    prog[i - 1].code != (BPF_LD | BPF_W | BPF_ABS) ||
		    prog[i - 1].k != low)
			return -1;
		slots++;
	}
	return slots;
}

/* Builds one program and prints it as the array sandbox_bpf, with
 * SANDBOX_BPF_PID_SLOTS. */
static int gen_program(const char *name, int sanitizers)
{
	static struct sock_filter prog[SANDBOX_BPF_MAX];
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	FILE *tmp = tmpfile();
	long size;
	size_t n;
	int slots, rc = ctx && tmp ? 0 : -ENOMEM;

	if (rc == 0)
		rc = gen_filter(ctx, sanitizers);
	if (rc == 0)
		rc = seccomp_export_bpf(ctx, fileno(tmp));
	if (ctx)
		seccomp_release(ctx);
	if (rc < 0) {
		fprintf(stderr, "sandbox_gen: %s: libseccomp: %s\n", name, strerror(-rc));
		return -1;
	}
	if (fseek(tmp, 0, SEEK_END) < 0 || (size = ftell(tmp)) <= 0 ||
	    size % (long)sizeof(prog[0]) != 0 || size > (long)sizeof(prog)) {
		fprintf(stderr, "sandbox_gen: %s: unexpected program size\n", name);
		return -1;
	}
	rewind(tmp);
	n = (size_t)size / sizeof(prog[0]);
	if (fread(prog, sizeof(prog[0]), n, tmp) != n) {
		fprintf(stderr, "sandbox_gen: %s: cannot read the program back\n", name);
		return -1;
	}
	fclose(tmp);
	if ((slots = gen_pid_slots(prog, n)) < 0 || (slots == 0) != !!sanitizers) {
		fprintf(stderr, "sandbox_gen: %s: the pid placeholder is not where "
		    "expected\n", name);
		return -1;
	}
	printf("/* %s */\n#define SANDBOX_BPF_PID_SLOTS %d\n"
	    "static const struct sock_filter sandbox_bpf[%zu] = {\n", name, slots, n);
	for (size_t i = 0; i < n; i++)
		printf("\t{0x%04x, %u, %u, 0x%08x},\n", prog[i].code, prog[i].jt,
		    prog[i].jf, prog[i].k);
	printf("};\n");
	return 0;
}

int main(void)
{
	printf("/* Generated by tools/sandbox_gen.c with libseccomp: do not edit.\n"
	    " * Include after sandbox.h (SANDBOX_SANITIZERS picks the program). */\n"
	    "#ifndef FLYPAPER_SANDBOX_BPF_H\n#define FLYPAPER_SANDBOX_BPF_H\n\n"
	    "#include <linux/filter.h>\n\n"
	    "/* tgkill's own-pid placeholder, patched to getpid() at load. */\n"
	    "#define SANDBOX_BPF_PID 0x%08xu\n\n#if !SANDBOX_SANITIZERS\n",
	    SANDBOX_BPF_PID);
	if (gen_program("the plain build's allow-list", 0) < 0)
		return 2;
	printf("#else\n");
	if (gen_program("sanitizer builds: the runtimes' wider list", 1) < 0)
		return 2;
	printf("#endif\n\n#endif\n");
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "sandbox_gen: cannot write the header\n");
		return 2;
	}
	return 0;
}
