/* sandbox.h - confinement after start-up: a seccomp allow-list of system
 * calls and a Landlock filesystem restriction. */
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

#define SANDBOX_MAX_PATHS 16        /* size of each list, its NULL included */

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

/* Confines the calling process for good: no new privileges, Landlock (when
 * the kernel has it) limited to spec's paths, then the seccomp allow-list,
 * whose violation logs "sandbox: forbidden system call N" and kills the
 * process with SIGSYS. Must be called before any thread starts (Landlock
 * binds only the calling thread and its future children). Returns 0 and
 * fills st, or -1 with the reason in err. */
int sandbox_enter(const struct sandbox_spec *spec, struct sandbox_state *st,
    char *err, size_t errlen);

/* serve and inetd: derives the spec from cfg (the database's folder and the
 * JSON-lines file's folder read-write; read only: /dev/urandom, /dev/null,
 * /usr/share/file and /etc/magic, with read_rules the rule files, for a
 * process that compiles them later, and in sanitizer builds / and, read-
 * write, the sanitizers' log folder), enters the sandbox (the SIGSYS line
 * also to syslog when log_is_syslog()) and logs what is in force. Exits 2
 * if confinement cannot be set up. With FLYPAPER_SANDBOX_SELFTEST=syscall
 * in the environment (a hidden test switch), then makes a forbidden system
 * call. */
void sandbox_confine(const struct config *cfg, int read_rules);

#endif
