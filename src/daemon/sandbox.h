/* sandbox.h - confinement after start-up: a seccomp allow-list of system
 * calls and a Landlock filesystem restriction, or on a kernel without
 * Landlock a chroot into the state folder. */
#ifndef FLYPAPER_SANDBOX_H
#define FLYPAPER_SANDBOX_H

#include <stddef.h>

#include "config.h"

/* Sanitizer builds: the runtimes need more at a report and at exit (LSan
 * stops the world with a ptrace-ing clone and reads /proc). */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZERS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SANDBOX_SANITIZERS 1
#endif
#endif
#ifndef SANDBOX_SANITIZERS
#define SANDBOX_SANITIZERS 0
#endif

#define SANDBOX_MAX_PATHS 17        /* size of each list, its NULL included */

/* What a confined process may still reach on the filesystem. Paths that do
 * not exist are skipped; NULL entries end each list. */
struct sandbox_spec {
	const char *rw_dirs[SANDBOX_MAX_PATHS];  /* create, write, unlink, rename inside */
	const char *ro_paths[SANDBOX_MAX_PATHS]; /* files or folders, read only */
	int syslog;                  /* the SIGSYS line also goes to /dev/log */
};

/* What sandbox_enter put in force, for the log line. */
struct sandbox_state {
	int seccomp;                 /* 1: the allow-list is loaded */
	int landlock_abi;            /* Landlock ABI in force; 0: none (old kernel) */
};

/* The hidden test switches, read from the environment. */
#define SANDBOX_PRETEND_ENV "FLYPAPER_SANDBOX_PRETEND_NO_LANDLOCK"
#define SANDBOX_SELFTEST_ENV "FLYPAPER_SANDBOX_SELFTEST"


/* Confines the calling process for good: no new privileges, Landlock (when
 * the kernel has it) limited to spec's paths, then the seccomp allow-list,
 * whose violation logs "sandbox: forbidden system call N" and kills the
 * process with SIGSYS. Must be called before any thread starts (Landlock
 * binds only the calling thread and its future children). Returns 0 and
 * fills st, or -1 with the reason in err. */
int sandbox_enter(const struct sandbox_spec *spec, struct sandbox_state *st,
    char *err, size_t errlen);

/* serve, before its privilege drop: 1 if it should chroot into the
 * database's folder (sandbox_chroot) because the kernel has no Landlock
 * and serve runs as root with --user (the drop follows the chroot; a
 * chroot needs root and only holds against a process that is not root).
 * 0 otherwise, and always in sanitizer builds (they read /proc). With
 * FLYPAPER_SANDBOX_PRETEND_NO_LANDLOCK=1 in the environment (a hidden test
 * switch) the kernel is taken to have no Landlock. */
int sandbox_chroot_wanted(const struct config *cfg);

/* serve, with the effective uid the service user's and root kept as real
 * and saved uid: makes and checks the database files and the JSON-lines
 * file's folder as the user (state.c), then chroots into the database's
 * folder by the fd that was checked, and rebases cfg's db_path and
 * jsonl_path inside it ("/flypaper.db"). SQLite's seed and the time zone
 * are taken first. Returns 1 with the effective uid the user's again; 0,
 * not chrooted, when the JSON-lines file is outside that folder, a check
 * fails (the open that follows reports it, as without a chroot) or the
 * kernel refuses the chroot (the reason goes in the confinement warning).
 * Exits 2 if the effective uid cannot be switched. */
int sandbox_chroot(struct config *cfg);

/* serve and inetd: derives the spec from cfg (the database's folder and the
 * JSON-lines file's folder read-write; read only: /dev/urandom, /dev/null,
 * /usr/share/file and /etc/magic, with read_rules the rule files, for a
 * process that compiles them later, and in sanitizer builds / and, read-
 * write, the sanitizers' log folder), enters the sandbox (the SIGSYS line
 * also to syslog when log_is_syslog()) and logs what is in force. Exits 2
 * if confinement cannot be set up. With FLYPAPER_SANDBOX_SELFTEST in the
 * environment (a hidden test switch), then makes a forbidden system call
 * ("syscall": acct; "chroot": chroot), or ("open:PATH") tries to open
 * PATH and logs what happened. */
void sandbox_confine(const struct config *cfg, int read_rules);

#endif
