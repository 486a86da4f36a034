/* refserver.c - the simplest possible single-thread epoll server, the
 * benchmark's yardstick: accept, read until the peer closes, log one line,
 * close. It keeps no payload, no timeouts, no database.
 *
 *   refserver PORT LOGFILE      (listens on 127.0.0.1:PORT; PORT 0 picks one
 *                                and prints "port=N")
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct peer {
	struct sockaddr_in addr;
	uint64_t bytes;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	struct epoll_event ev[256];
	struct rlimit rl;
	static char buf[65536];
	int one = 1;

	if (argc != 3)
		return 2;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	FILE *log = fopen(argv[2], "a");
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!log || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 4096) < 0)
		return 1;
	getsockname(lfd, (struct sockaddr *)&sa, &len);
	printf("port=%u\n", ntohs(sa.sin_port));
	fflush(stdout);
	int ep = epoll_create1(0);
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e);
	while (!stop) {
		int n = epoll_wait(ep, ev, 256, 200);
		for (int i = 0; i < n; i++) {
			struct peer *p = ev[i].data.ptr;
			if (!p) {
				for (;;) {
					struct peer *np = malloc(sizeof(*np));
					socklen_t al = sizeof(np->addr);
					int fd = accept4(lfd, (struct sockaddr *)&np->addr, &al,
					    SOCK_NONBLOCK);
					if (fd < 0) {
						free(np);
						break;
					}
					np->bytes = (uint64_t)fd << 40;  /* fd in the top bits */
					struct epoll_event ce = {.events = EPOLLIN, .data.ptr = np};
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ce);
				}
				continue;
			}
			int fd = (int)(p->bytes >> 40);
			for (;;) {
				ssize_t r = read(fd, buf, sizeof(buf));
				if (r > 0) {
					p->bytes += (uint64_t)r;
					continue;
				}
				if (r < 0 && errno == EAGAIN)
					break;
				fprintf(log, "%s %u %llu\n", inet_ntoa(p->addr.sin_addr),
				    ntohs(p->addr.sin_port),
				    (unsigned long long)(p->bytes & ((1ULL << 40) - 1)));
				close(fd);
				free(p);
				break;
			}
		}
	}
	fclose(log);
	return 0;
}
