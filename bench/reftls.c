/* reftls.c - the TLS benchmark's yardstick: the simplest possible OpenSSL
 * server. THREADS threads each loop on one shared listening socket:
 * blocking accept, SSL_accept, close_notify, close. No event loop, no
 * reads after the handshake, no records, no database: what a handshake
 * costs in the library and the kernel alone.
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define REFTLS_MAX_THREADS 64
#define REFTLS_TIMEOUT_S 5           /* a stuck peer holds a thread this long at most */
#define REFTLS_MAX_HELD 65536        /* idle sessions kept in hold mode */

static SSL_CTX *ctx;
static int lfd;
static atomic_long handshakes, failed;
static int hold;
static SSL *held[REFTLS_MAX_HELD];
static atomic_long nheld;

static void *reftls_loop(void *arg)
{
	struct timeval tv = {.tv_sec = REFTLS_TIMEOUT_S};

	(void)arg;
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
				continue;
			return NULL;
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		SSL *ssl = SSL_new(ctx);
		if (ssl && SSL_set_fd(ssl, fd) == 1 && SSL_accept(ssl) == 1) {
			atomic_fetch_add(&handshakes, 1);
			long slot = hold ? atomic_fetch_add(&nheld, 1) : REFTLS_MAX_HELD;
			if (slot < REFTLS_MAX_HELD) {
				held[slot] = ssl;    /* kept, with its fd, until exit */
				continue;
			}
			SSL_shutdown(ssl);           /* close_notify, not waiting for the peer's */
		} else {
			atomic_fetch_add(&failed, 1);
			ERR_clear_error();
		}
		SSL_free(ssl);
		close(fd);
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
	lfd = socket(AF_INET, SOCK_STREAM, 0);
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
