/* syslog_target.h - where --syslog sends: the option's value parsed, with
 * no name resolved (config.c checks the syntax, the sink resolves). */
#ifndef FLYPAPER_SYSLOG_TARGET_H
#define FLYPAPER_SYSLOG_TARGET_H

#include <stddef.h>

#define SYSLOG_TARGET_HOST_MAX 256   /* a DNS name (255) or an address, and a NUL */
#define SYSLOG_TARGET_PATH_MAX 108   /* sun_path's size, the NUL included */
#define SYSLOG_LOCAL_PATH "/dev/log"

enum syslog_transport {
	SYSLOG_UNIX,                 /* a Unix datagram socket: "local" or "unix:PATH" */
	SYSLOG_UDP,                  /* "udp://HOST:PORT": RFC 5426, one message a datagram */
	SYSLOG_TCP,                  /* "tcp://HOST:PORT": RFC 6587 octet counting */
};

struct syslog_target {
	enum syslog_transport transport;
	char host[SYSLOG_TARGET_HOST_MAX];  /* UDP and TCP: a name or an address ([v6] unbracketed) */
	char port[6];                /* UDP and TCP: 1..65535, as text for getaddrinfo */
	char path[SYSLOG_TARGET_PATH_MAX];  /* Unix: the socket's path */
};

/* Parses "local", "unix:PATH" (an absolute path), "udp://HOST:PORT" or
 * "tcp://HOST:PORT" (HOST a name, an IPv4 address or [IPv6]) into t.
 * Returns 0, or -1 with a message naming the problem in err. */
int syslog_target_parse(const char *text, struct syslog_target *t, char *err,
    size_t errlen);

#endif
