/* tlsload.c - the TLS benchmark's load generator (OpenSSL client, one
 * thread, epoll): the same client for flypaper's TLS front and for the
 * bare OpenSSL server (reftls.c).
 *
 *   tlsload run  HOST PORT COUNT CONCURRENCY SECONDS [OPTIONS]
 *       COUNT handshakes, CONCURRENCY at a time, stopping at SECONDS. Each
 *       connects, completes the handshake (no session resumption), sends
 *       close_notify, shuts down its write side and reads until the server
 *       closes. Prints "ok=N failed=N seconds=S hps=R version=V cipher=C"
 *       (the last handshake's protocol and cipher).
 *   tlsload hold HOST PORT COUNT SECONDS [OPTIONS]
 *       opens COUNT connections (32 handshakes at a time), completes every
 *       handshake, prints
 *       "open=N" (handshakes done) and holds them, idle, for SECONDS, until
 *       SIGTERM or until the server has closed them all; then "held=N":
 *       how many the server still held.
 *   OPTIONS: --max 1.2|1.3 (highest version offered), --ciphers LIST (TLS
 *       1.2 and lower), --suites LIST (TLS 1.3), --sni NAME.
 *
 * Source addresses cycle through 127.0.0.1-127.0.0.250 so that TIME_WAIT
 * never exhausts the ports of one address. Loopback only: HOST must be in
 * 127.0.0.0/8. Every loop is bounded in count and in time. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
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
#define MAX_CONC 65536
#define HOLD_INFLIGHT 32             /* handshakes at once while hold opens */

enum conn_state { C_FREE, C_CONNECTING, C_HANDSHAKE, C_DRAIN, C_HELD };

struct conn {
	int fd;
	SSL *ssl;
	enum conn_state state;
};

static volatile sig_atomic_t stop;
static SSL_CTX *ctx;
static struct sockaddr_in dst;
static const char *sni;
static int ep;
static long src_next;
static char version[32] = "-", cipher[96] = "-";

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

static void conn_close(struct conn *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
	c->state = C_FREE;
}

/* Starts a non-blocking connect from the next source address; false when
 * it failed at once. */
static bool conn_open(struct conn *c, long idx)
{
	struct sockaddr_in src = {.sin_family = AF_INET};
	struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = (uint64_t)idx};

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		return false;
	src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(src_next++ % SOURCES));
	if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
	    (connect(c->fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS) ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		conn_close(c);
		return false;
	}
	c->state = C_CONNECTING;
	return true;
}

static void conn_want(struct conn *c, long idx, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)idx};
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Moves c on after an event. Returns 1 when its handshake just completed,
 * -1 when it failed (closed), 0 otherwise. In run mode (hold false) a
 * completed handshake goes on to close_notify and the drain; the drain's
 * end closes c and returns 2. */
static int conn_step(struct conn *c, long idx, bool hold)
{
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
			conn_close(c);
			return -1;
		}
		c->ssl = SSL_new(ctx);
		if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
			conn_close(c);
			return -1;
		}
		if (sni)
			SSL_set_tlsext_host_name(c->ssl, sni);
		SSL_set_connect_state(c->ssl);
		c->state = C_HANDSHAKE;
	}
	if (c->state == C_HANDSHAKE) {
		int rc = SSL_do_handshake(c->ssl);
		if (rc != 1) {
			int e = SSL_get_error(c->ssl, rc);
			if (e == SSL_ERROR_WANT_READ) {
				conn_want(c, idx, EPOLLIN);
				return 0;
			}
			if (e == SSL_ERROR_WANT_WRITE) {
				conn_want(c, idx, EPOLLOUT);
				return 0;
			}
			ERR_clear_error();
			conn_close(c);
			return -1;
		}
		snprintf(version, sizeof(version), "%s", SSL_get_version(c->ssl));
		snprintf(cipher, sizeof(cipher), "%s", SSL_get_cipher_name(c->ssl));
		if (hold) {
			c->state = C_HELD;
			conn_want(c, idx, EPOLLIN);
			return 1;
		}
		SSL_shutdown(c->ssl);        /* our close_notify; theirs is not awaited */
		shutdown(c->fd, SHUT_WR);
		c->state = C_DRAIN;
		conn_want(c, idx, EPOLLIN);
		return 1;
	}
	/* C_DRAIN and C_HELD: read raw bytes (tickets, close_notify) until EOF */
	char buf[16384];
	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		bool drained = c->state == C_DRAIN;
		conn_close(c);
		return drained ? 2 : -1;
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: tlsload run HOST PORT COUNT CONCURRENCY SECONDS [OPTIONS]\n"
	    "       tlsload hold HOST PORT COUNT SECONDS [OPTIONS]\n"
	    "OPTIONS: --max 1.2|1.3  --ciphers LIST  --suites LIST  --sni NAME\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct rlimit rl;
	struct epoll_event evs[512];
	bool hold;
	long count, conc;
	double limit;
	int first_opt;

	if (argc < 6)
		return usage();
	hold = strcmp(argv[1], "hold") == 0;
	if (!hold && strcmp(argv[1], "run") != 0)
		return usage();
	if (!hold && argc < 7)
		return usage();
	count = atol(argv[4]);
	conc = hold ? count : atol(argv[5]);
	limit = atof(argv[hold ? 5 : 6]);
	first_opt = hold ? 6 : 7;
	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)atoi(argv[3]));
	if (inet_pton(AF_INET, argv[2], &dst.sin_addr) != 1 ||
	    (ntohl(dst.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "tlsload: HOST must be in 127.0.0.0/8\n");
		return 2;
	}
	if (count < 1 || conc < 1 || conc > MAX_CONC || limit <= 0)
		return usage();
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return 2;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	for (int i = first_opt; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!val)
			return usage();
		i++;
		if (!strcmp(opt, "--max") && !strcmp(val, "1.2"))
			SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
		else if (!strcmp(opt, "--max") && !strcmp(val, "1.3"))
			SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
		else if (!strcmp(opt, "--ciphers") && SSL_CTX_set_cipher_list(ctx, val) == 1)
			;
		else if (!strcmp(opt, "--suites") && SSL_CTX_set_ciphersuites(ctx, val) == 1)
			;
		else if (!strcmp(opt, "--sni"))
			sni = val;
		else
			return usage();
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	ep = epoll_create1(0);
	struct conn *conns = calloc((size_t)conc, sizeof(*conns));
	if (ep < 0 || !conns)
		return 2;
	for (long i = 0; i < conc; i++)
		conns[i].fd = -1;

	long started = 0, ok = 0, fail = 0, active = 0, handshaken = 0;
	double t0 = now_s(), deadline = t0 + limit;
	bool announced = false;
	/* run: conc at a time, each slot taking the next when it ends; hold:
	 * every slot kept, HOLD_INFLIGHT handshakes at a time, so that the
	 * server's memory is its idle sessions', not a burst of handshakes' */
	long first = hold ? HOLD_INFLIGHT : conc;
	for (long i = 0; i < first && started < count; i++) {
		started++;
		if (conn_open(&conns[i], i))
			active++;
		else
			fail++;
	}
	/* hold ends early when the server has closed every connection */
	while (!stop && now_s() < deadline && active > 0) {
		while (hold && started < count && started - handshaken - fail < HOLD_INFLIGHT) {
			if (conn_open(&conns[started], started))
				active++;
			else
				fail++;
			started++;
		}
		if (hold && !announced && handshaken + fail >= count) {
			printf("open=%ld\n", handshaken);
			fflush(stdout);
			announced = true;
		}
		int n = epoll_wait(ep, evs, 512, 100);
		for (int k = 0; k < n; k++) {
			long idx = (long)evs[k].data.u64;
			struct conn *c = &conns[idx];
			if (c->state == C_FREE)
				continue;
			int r = conn_step(c, idx, hold);
			if (r == 1)
				handshaken++;
			if (r == -1 || r == 2) {
				active--;
				if (r == 2)
					ok++;
				else
					fail++;
				/* in run mode the slot takes the next connection */
				if (!hold && started < count && now_s() < deadline) {
					started++;
					if (conn_open(c, idx))
						active++;
					else
						fail++;
				}
			}
		}
	}
	double secs = now_s() - t0;
	if (hold) {
		long held = 0;
		for (long i = 0; i < conc; i++)
			held += conns[i].state == C_HELD;
		if (!announced)
			printf("open=%ld\n", handshaken);
		printf("held=%ld\n", held);
	} else {
		printf("ok=%ld failed=%ld seconds=%.3f hps=%.0f version=%s cipher=%s\n", ok,
		    fail + active, secs, secs > 0 ? (double)ok / secs : 0.0, version, cipher);
	}
	for (long i = 0; i < conc; i++)
		if (conns[i].state != C_FREE)
			conn_close(&conns[i]);
	free(conns);
	SSL_CTX_free(ctx);
	return 0;
}
