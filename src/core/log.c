/* log.c - one-line log messages on standard error. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static const char *log_name = "flypaper";
static int log_syslog;

void log_use_syslog(void)
{
	openlog("flypaper", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_syslog = 1;
}

int log_is_syslog(void)
{
	return log_syslog;
}

void log_set_name(const char *name)
{
	log_name = name;
}

static void log_write(const char *level, const char *fmt, va_list ap)
{
	char line[1024];

	if (log_syslog) {
		vsnprintf(line, sizeof(line), fmt, ap);
		syslog(level[0] == 'e' ? LOG_ERR : level[0] == 'w' ? LOG_WARNING
		                                                    : LOG_INFO,
		    "%s: %s", level, line);
		return;
	}

	int n = snprintf(line, sizeof(line), "%s[%ld]: %s: ", log_name,
	    (long)getpid(), level);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;              /* nowhere left to report it */
}

#define LOG_FN(fn, level)                                   \
	void fn(const char *fmt, ...)                       \
	{                                                   \
		va_list ap;                                 \
		va_start(ap, fmt);                          \
		log_write(level, fmt, ap);                  \
		va_end(ap);                                 \
	}

LOG_FN(log_info, "info")
LOG_FN(log_warn, "warning")
LOG_FN(log_error, "error")

void log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write("error", fmt, ap);
	va_end(ap);
	exit(2);
}
