/* reftls.c - the TLS benchmark's yardstick: the simplest possible OpenSSL
 * server. THREADS threads (as many as flypaper has workers) each run an
 * epoll loop on one shared non-blocking listening socket: accept,
 * SSL_accept until it completes, close_notify, close. No reads after the
 * handshake, no timeouts (the only client is the benchmark's), no records,
 * no database: what a handshake costs in the library and the kernel alone,
 * with as many threads as flypaper runs (a thread each per concurrent
 * client would take a larger share of a shared machine's cores).
 *
 *   reftls PORT CERT KEY [THREADS] [NUM_TICKETS] [hold]
 *       listens on 127.0.0.1:PORT (0 picks one and prints "port=N"); on
 *       SIGTERM prints "handshakes=N failed=N" and exits. NUM_TICKETS
 *       sets how many TLS 1.3 session tickets follow a handshake
 *       (OpenSSL's default, 2, when not given), to match the server
 *       measured against it. With "hold", a handshaken connection is
 *       kept open and idle (its SSL object with it, at most
 *       REFTLS_MAX_HELD) instead of closed: what an idle TLS session
 *       costs in the library alone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <unistd.h>

#define REFTLS_MAX_THREADS 64
#define REFTLS_MAX_HELD 65536        /* idle sessions kept in hold mode */

static SSL_CTX *ctx;
static int lfd;
static atomic_long handshakes, failed;
static bool hold;
static SSL *held[REFTLS_MAX_HELD];
static atomic_long nheld;

/* One connection in a loop's epoll set. */
struct reftls_conn {
	int fd;
	SSL *ssl;
};

static void reftls_end(int ep, struct reftls_conn *c, bool ok)
{
	long slot = ok && hold ? atomic_fetch_add(&nheld, 1) : REFTLS_MAX_HELD;

	atomic_fetch_add(ok ? &handshakes : &failed, 1);
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (slot < REFTLS_MAX_HELD) {
		held[slot] = c->ssl;         /* kept, with its fd, until exit */
		free(c);
		return;
	}
	if (ok)
		SSL_shutdown(c->ssl);        /* close_notify, not waiting for the peer's */
	ERR_clear_error();
	SSL_free(c->ssl);
	close(c->fd);
	free(c);
}

/* Moves c's handshake on; ends c when it is done or failed. */
static void reftls_step(int ep, struct reftls_conn *c)
{
	int rc = SSL_do_handshake(c->ssl);
	struct epoll_event ev = {.data.ptr = c};

	if (rc == 1) {
		reftls_end(ep, c, true);
		return;
	}
	switch (SSL_get_error(c->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		ev.events = EPOLLIN;
		break;
	case SSL_ERROR_WANT_WRITE:
		ev.events = EPOLLOUT;
		break;
	default:
		reftls_end(ep, c, false);
		return;
	}
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void reftls_accept(int ep)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
		if (fd < 0)
			return;              /* EAGAIN: another thread took it, or none left */
		struct reftls_conn *c = malloc(sizeof(*c));
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (!c || !(c->ssl = SSL_new(ctx)) || SSL_set_fd(c->ssl, fd) != 1 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			if (c && c->ssl)
				SSL_free(c->ssl);
			free(c);
			close(fd);
			atomic_fetch_add(&failed, 1);
			continue;
		}
		c->fd = fd;
		SSL_set_accept_state(c->ssl);
		reftls_step(ep, c);
	}
}

static void *reftls_loop(void *arg)
{
	struct epoll_event evs[256], lev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};
	int ep = epoll_create1(0);

	(void)arg;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0)
		return NULL;
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr)
				reftls_step(ep, evs[i].data.ptr);
			else
				reftls_accept(ep);
		}
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	pthread_t threads[REFTLS_MAX_THREADS];
	struct rlimit rl;
	sigset_t set;
	int one = 1, sig, nthreads = argc > 4 ? atoi(argv[4]) : 1;

	hold = argc > 6 && strcmp(argv[6], "hold") == 0;
	if (argc < 4 || argc > 7 || (argc > 6 && !hold) || nthreads < 1 ||
	    nthreads > REFTLS_MAX_THREADS) {
		fprintf(stderr, "usage: reftls PORT CERT KEY [THREADS] [NUM_TICKETS] [hold]\n");
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* SIGTERM is taken by sigwait in main; the threads never see it */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, argv[2]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, argv[3], SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		return 2;
	}
	if (argc > 5)
		SSL_CTX_set_num_tickets(ctx, (size_t)atoi(argv[5]));
	/* as flypaper's front: no session cache, idle buffers given back */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0) {
		perror("reftls: listen");
		return 2;
	}
	getsockname(lfd, (struct sockaddr *)&sa, &len);
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&threads[i], NULL, reftls_loop, NULL) != 0)
			return 2;
	}
	printf("port=%u\n", ntohs(sa.sin_port));
	fflush(stdout);
	sigwait(&set, &sig);
	printf("handshakes=%ld failed=%ld\n", atomic_load(&handshakes), atomic_load(&failed));
	fflush(stdout);
	_exit(0);                    /* the threads are blocked in accept */
}
