/* listener.c - listening sockets. */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTENER_FIRST_FD 3          /* SD_LISTEN_FDS_START */

/* SO_REUSEPORT would let a second flypaper (or anything else run by the
 * same user) silently share the port and take half the connections. A
 * plain bind first tells whether anyone holds the address. */
static int listener_probe(const struct addr *a)
{
	int one = 1;
	int fd = socket(a->u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc;

	if (fd < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->u.sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	rc = bind(fd, &a->u.sa, addr_len(a)) < 0 && errno == EADDRINUSE ? -1 : 0;
	close(fd);
	return rc;
}

int listener_open(const struct addr *a, bool first, struct addr *bound,
    char *err, size_t errlen)
{
	char text[ADDR_TEXT_LEN];
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int one = 1;
	int fd = socket(a->u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	addr_format(a, text, sizeof(text));
	if (first && addr_port(a) != 0 && listener_probe(a) < 0) {
		snprintf(err, errlen, "cannot listen on %s: already in use", text);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (fd < 0) {
		snprintf(err, errlen, "%s: socket: %s", text, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		snprintf(err, errlen, "%s: SO_REUSEPORT: %s", text, strerror(errno));
		goto err;
	}
	/* [::]:80 means IPv6 only, so *:80 (IPv4) can be listened beside it. */
	if (a->u.sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, &a->u.sa, addr_len(a)) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", text, strerror(errno));
		goto err;
	}
	if (listen(fd, LISTENER_BACKLOG) < 0) {
		snprintf(err, errlen, "%s: listen: %s", text, strerror(errno));
		goto err;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    addr_from_sockaddr(bound, (struct sockaddr *)&ss, len) < 0) {
		snprintf(err, errlen, "%s: getsockname: %s", text, strerror(errno));
		goto err;
	}
	return fd;
err:
	close(fd);
	return -1;
}

int listener_save_syn(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_SAVE_SYN, &one, sizeof(one));
}

int listener_from_systemd(int *first)
{
	const char *pid = getenv("LISTEN_PID");
	const char *fds = getenv("LISTEN_FDS");
	long n;

	*first = LISTENER_FIRST_FD;
	if (!pid || !fds || strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	n = strtol(fds, NULL, 10);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n <= 0 || n > 1024)
		return 0;
	for (int fd = LISTENER_FIRST_FD; fd < LISTENER_FIRST_FD + n; fd++) {
		int flags = fcntl(fd, F_GETFL);
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	return (int)n;
}
