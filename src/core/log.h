/* log.h - the daemon's own log on standard error. */
#ifndef FLYPAPER_LOG_H
#define FLYPAPER_LOG_H

#include <stddef.h>

/* Writes "flypaper[pid]: LEVEL: message" to stderr as one write(2), so lines
 * from threads and inetd children never interleave. Never pass peer bytes
 * as the format; escape them with text_escape first. */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Logs a startup error (bad configuration, cannot bind) and exits 2. */
void log_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* Sends messages to syslog from now on: for inetd children, whose stderr
 * is the peer's socket. */
void log_use_syslog(void);

/* 1 after log_use_syslog. */
int log_is_syslog(void);

/* Sets the prefix's program name, e.g. "flypaper inetd". */
void log_set_name(const char *name);

#endif
