/* loadgen.c - the benchmark's load generator: the same client for flypaper
 * and for the reference server.
 *
 *   loadgen run  HOST PORT CONNS CONCURRENCY PAYLOAD [SECONDS]
 *       CONNS connections, CONCURRENCY at a time; each connects, sends the
 *       payload, shuts down its write side and reads until the server
 *       closes. PAYLOAD is a byte count (bytes 'A'..'Z' repeated) or "http"
 *       for "GET / HTTP/1.0\r\n\r\n". Prints "ok=N failed=N seconds=S
 *       cps=R in=BYTES" (in: bytes the server sent, all connections).
 *   loadgen hold HOST PORT CONNS SECONDS
 *       opens CONNS silent connections and holds them for SECONDS (or
 *       until SIGTERM). Prints "open=N" once all are open, and at the end
 *       "established=N": how many completed the handshake.
 *   loadgen trace HOST PORT CONNS CONCURRENCY SIZE SILENT_EVERY SECONDS LOG [RATE]
 *       like run, but every connection's payload starts with a unique
 *       token line "fptok-RUNID-N\n" (padded to SIZE bytes when SIZE is
 *       larger), and every SILENT_EVERY-th connection (0: none) sends
 *       nothing at all. Appends one line per connection to LOG when it
 *       ends: "WALL STATUS SRC_IP SRC_PORT TOKEN", WALL the CLOCK_REALTIME
 *       seconds at which the client saw the end, STATUS "ok" (all sent,
 *       then the server's orderly close) or "fail", TOKEN "-" for silent
 *       ones. RATE, when given and not 0, caps the connections started per
 *       second. SIGTERM stops it; the log is complete up to then. The
 *       durability benchmark matches these lines to the database.
 *
 * Source addresses cycle through 127.0.0.1-127.0.0.250 so that TIME_WAIT
 * never exhausts the ports of one address. Loopback only: HOST must be in
 * 127.0.0.0/8. Every loop is bounded in count and in time. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SOURCES 250

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct conn {
	int fd;
	size_t sent;
	long id;        /* trace: the connection's number, in its token */
	bool silent;    /* trace: sends nothing */
	char src[INET_ADDRSTRLEN];
	unsigned port;  /* trace: the source port */
};

/* trace mode's settings: NULL log means plain run mode */
static FILE *trace_log;
static long silent_every;
static unsigned long run_id;
static double max_rate;     /* connections started per second; 0: no cap */

static struct sockaddr_in target;
static unsigned next_source;

static int open_conn(struct conn *c)
{
	struct sockaddr_in src = {.sin_family = AF_INET};
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	src.sin_addr.s_addr = htonl(0x7f000001u + (next_source++ % SOURCES));
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
	    (connect(fd, (struct sockaddr *)&target, sizeof(target)) < 0 &&
	     errno != EINPROGRESS)) {
		close(fd);
		return -1;
	}
	if (c) {
		struct sockaddr_in me;
		socklen_t len = sizeof(me);
		inet_ntop(AF_INET, &src.sin_addr, c->src, sizeof(c->src));
		c->port = getsockname(fd, (struct sockaddr *)&me, &len) == 0 ?
		    ntohs(me.sin_port) : 0;
	}
	return fd;
}

static void trace_end(const struct conn *c, bool ok)
{
	struct timespec ts;

	if (!trace_log)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (c->silent)
		fprintf(trace_log, "%lld.%06ld %s %s %u -\n", (long long)ts.tv_sec,
		    ts.tv_nsec / 1000, ok ? "ok" : "fail", c->src, c->port);
	else
		fprintf(trace_log, "%lld.%06ld %s %s %u fptok-%lu-%ld\n",
		    (long long)ts.tv_sec, ts.tv_nsec / 1000, ok ? "ok" : "fail", c->src,
		    c->port, run_id, c->id);
}

/* The bytes connection c sends: in trace mode its token line, padded with
 * 'A'..'Z' up to the payload size. Returns the length. */
static size_t conn_payload(const struct conn *c, char *payload, size_t payload_len,
    char *own, size_t own_size)
{
	if (!trace_log)
		return payload_len;
	if (c->silent)
		return 0;
	int n = snprintf(own, own_size, "fptok-%lu-%ld\n", run_id, c->id);
	size_t len = (size_t)n;
	if (payload_len > len) {
		memcpy(own + len, payload + len, payload_len - len);
		len = payload_len;
	}
	return len;
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int run(long conns, int concurrency, const char *spec, double limit)
{
	static const char http_get[] = "GET / HTTP/1.0\r\n\r\n";
	bool http = strcmp(spec, "http") == 0;
	size_t payload_len = http ? sizeof(http_get) - 1 : (size_t)atol(spec);
	char *payload = malloc(payload_len ? payload_len : 1);
	unsigned long long in = 0;
	struct conn *c = calloc((size_t)concurrency, sizeof(*c));
	struct epoll_event ev[256];
	long started = 0, ok = 0, failed = 0;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	double t0 = now_s();
	char buf[4096];
	size_t own_size = payload_len + 64;
	char *own = malloc(own_size);

	for (size_t i = 0; i < payload_len; i++)
		payload[i] = http ? http_get[i] : (char)('A' + i % 26);
	for (int i = 0; i < concurrency; i++)
		c[i].fd = -1;
	while ((ok + failed < conns) && !stop && now_s() - t0 < limit) {
		long allowed = max_rate > 0 ? (long)((now_s() - t0) * max_rate) + 1 : conns;
		for (int i = 0; i < concurrency && started < conns && started < allowed; i++) {
			if (c[i].fd >= 0)
				continue;
			struct conn nc = {.id = started,
			    .silent = silent_every > 0 && started % silent_every == 0};
			int fd = open_conn(&nc);
			started++;
			if (fd < 0) {
				failed++;
				trace_end(&nc, false);
				continue;
			}
			nc.fd = fd;
			c[i] = nc;
			struct epoll_event e = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP,
			    .data.u32 = (uint32_t)i};
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
		}
		int n = epoll_wait(ep, ev, 256, max_rate > 0 ? 1 : 100);
		for (int k = 0; k < n; k++) {
			struct conn *cc = &c[ev[k].data.u32];
			if (cc->fd < 0)
				continue;
			size_t len = conn_payload(cc, payload, payload_len, own, own_size);
			const char *bytes = trace_log ? own : payload;
			if ((ev[k].events & EPOLLOUT) && cc->sent <= len) {
				while (cc->sent < len) {
					ssize_t w = send(cc->fd, bytes + cc->sent,
					    len - cc->sent, MSG_NOSIGNAL);
					if (w <= 0)
						break;
					cc->sent += (size_t)w;
				}
				if (cc->sent == len) {
					shutdown(cc->fd, SHUT_WR);
					cc->sent++;  /* done sending */
					struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP,
					    .data.u32 = ev[k].data.u32};
					epoll_ctl(ep, EPOLL_CTL_MOD, cc->fd, &e);
				}
			}
			if (ev[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
				ssize_t r = recv(cc->fd, buf, sizeof(buf), 0);
				if (r > 0) {
					in += (unsigned long long)r;
					continue;
				}
				if (r < 0 && errno == EAGAIN)
					continue;
				if (r == 0 && cc->sent > len)
					ok++;
				else
					failed++;
				trace_end(cc, r == 0 && cc->sent > len);
				close(cc->fd);
				cc->fd = -1;
			}
		}
	}
	for (int i = 0; i < concurrency; i++)
		if (c[i].fd >= 0) {
			trace_end(&c[i], false);   /* cut short by SIGTERM or the time limit */
			close(c[i].fd);
		}
	double secs = now_s() - t0;
	printf("ok=%ld failed=%ld seconds=%.3f cps=%.0f in=%llu\n", ok, failed, secs,
	    (double)ok / secs, in);
	return failed || ok < conns ? 1 : 0;
}

static int hold(long conns, double limit)
{
	int *fds = calloc((size_t)conns, sizeof(int));
	long open_n = 0;
	double t0 = now_s();

	for (long i = 0; i < conns && !stop; i++) {
		fds[i] = open_conn(NULL);
		if (fds[i] >= 0)
			open_n++;
	}
	printf("open=%ld\n", open_n);
	fflush(stdout);
	while (!stop && now_s() - t0 < limit)
		usleep(50000);
	long established = 0;
	for (long i = 0; i < conns; i++) {
		if (fds[i] < 0)
			continue;
		/* the handshake completed (the server holds it, in its backlog
		 * at least) if there is a peer, or if it was reset since */
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);
		int err = 0;
		socklen_t elen = sizeof(err);
		getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &elen);
		if (getpeername(fds[i], (struct sockaddr *)&peer, &len) == 0 ||
		    err == ECONNRESET || err == EPIPE)
			established++;
		close(fds[i]);
	}
	printf("established=%ld\n", established);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: loadgen run HOST PORT CONNS CONC PAYLOAD [SECS]\n"
		                "       loadgen hold HOST PORT CONNS SECS\n"
		                "       loadgen trace HOST PORT CONNS CONC SIZE SILENT_EVERY SECS LOG [RATE]\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	target.sin_family = AF_INET;
	target.sin_port = htons((uint16_t)atoi(argv[3]));
	if (inet_pton(AF_INET, argv[2], &target.sin_addr) != 1 ||
	    (ntohl(target.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "loadgen: %s is not a loopback address\n", argv[2]);
		return 2;
	}
	if (strcmp(argv[1], "hold") == 0)
		return hold(atol(argv[4]), atof(argv[5]));
	if (strcmp(argv[1], "trace") == 0) {
		if (argc < 10) {
			fprintf(stderr, "loadgen trace: too few arguments\n");
			return 2;
		}
		trace_log = fopen(argv[9], "a");
		if (!trace_log) {
			perror(argv[9]);
			return 2;
		}
		silent_every = atol(argv[7]);
		max_rate = argc > 10 ? atof(argv[10]) : 0;
		run_id = (unsigned long)getpid() ^ (unsigned long)time(NULL) << 16;
		int rc = run(atol(argv[4]), atoi(argv[5]), argv[6], atof(argv[8]));
		return fclose(trace_log) == 0 ? rc : 1;
	}
	return run(atol(argv[4]), atoi(argv[5]), argv[6], argc > 7 ? atof(argv[7]) : 60.0);
}
