/* syslog_target.c - the --syslog value: transport, host and port, or a
 * socket path. Only the syntax: names are resolved by the sink, before
 * confinement. */
#include "syslog_target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A host as the URL holds it: letters, digits, '-', '.', or an IPv6
 * address in brackets (stored without them). */
static int syslog_target_host(const char *s, size_t len, struct syslog_target *t)
{
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
		for (size_t i = 0; i < len; i++)
			if (!strchr("0123456789abcdefABCDEF:.", s[i]))
				return -1;
	} else {
		for (size_t i = 0; i < len; i++)
			if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			        "0123456789-.", s[i]))
				return -1;
	}
	if (len == 0 || len >= sizeof(t->host))
		return -1;
	memcpy(t->host, s, len);
	t->host[len] = '\0';
	return 0;
}

static int syslog_target_port(const char *s, struct syslog_target *t)
{
	size_t len = strlen(s);
	unsigned long port = 0;

	if (len == 0 || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		port = port * 10 + (unsigned long)(s[i] - '0');
	}
	if (port < 1 || port > 65535)
		return -1;
	snprintf(t->port, sizeof(t->port), "%lu", port);
	return 0;
}

int syslog_target_parse(const char *text, struct syslog_target *t, char *err,
    size_t errlen)
{
	const char *rest, *colon;

	memset(t, 0, sizeof(*t));
	if (strcmp(text, "local") == 0) {
		t->transport = SYSLOG_UNIX;
		strcpy(t->path, SYSLOG_LOCAL_PATH);
		return 0;
	}
	if (strncmp(text, "unix:", 5) == 0) {
		rest = text + 5;
		if (rest[0] != '/' || strlen(rest) >= sizeof(t->path)) {
			snprintf(err, errlen, "syslog: '%s': unix:PATH needs an absolute "
			    "path of at most %zu bytes", text, sizeof(t->path) - 1);
			return -1;
		}
		t->transport = SYSLOG_UNIX;
		strcpy(t->path, rest);
		return 0;
	}
	if (strncmp(text, "udp://", 6) == 0)
		t->transport = SYSLOG_UDP;
	else if (strncmp(text, "tcp://", 6) == 0)
		t->transport = SYSLOG_TCP;
	else {
		snprintf(err, errlen, "syslog: '%s' is not local, unix:PATH, "
		    "udp://HOST:PORT or tcp://HOST:PORT", text);
		return -1;
	}
	rest = text + 6;
	colon = strrchr(rest, ':');
	/* "[::1]" alone: the last colon is inside the brackets */
	if (colon && strchr(rest, ']') > colon)
		colon = NULL;
	if (!colon || syslog_target_host(rest, (size_t)(colon - rest), t) < 0 ||
	    syslog_target_port(colon + 1, t) < 0) {
		snprintf(err, errlen, "syslog: '%s': needs HOST:PORT (a host name, an "
		    "IPv4 address or [IPv6], and a port 1..65535)", text);
		return -1;
	}
	return 0;
}
