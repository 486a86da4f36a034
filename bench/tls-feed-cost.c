/* tls-feed-cost.c - the CPU a slow hello costs the TLS front
 * (src/capture/tls_front.c): a ClientHello of the largest size kept
 * (TLSHELLO_MAX), sent as one-byte records, fed a byte at a time (a
 * byte a segment), and, for comparison, the same bytes in one feed.
 * Prints seconds per connection; asserts nothing. As root (libssl is
 * loaded from a root-owned path); a self-signed certificate is made in
 * a temporary folder.
 *
 *   make build/bench/tls-feed-cost && build/bench/tls-feed-cost */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "tls_front.h"
#include "tlshello.h"

static uint8_t stream[TLSHELLO_MAX];

/* Records of one byte each: the hello's header announcing a body that
 * fills TLSHELLO_MAX, then body bytes, until the stream is full. */
static size_t slow_hello(void)
{
	size_t n = 0, body = TLSHELLO_MAX / 6 - 4;
	uint8_t hs[4] = {1, (uint8_t)(body >> 16), (uint8_t)(body >> 8), (uint8_t)body};

	for (int i = 0; n + 6 <= sizeof(stream); i++) {
		uint8_t rec[6] = {0x16, 3, 1, 0, 1, i < 4 ? hs[i] : 0x41};
		memcpy(stream + n, rec, 6);
		n += 6;
	}
	return n;
}

static double run(size_t n, size_t step)
{
	struct timespec a, b;
	struct tls_front *t = tls_front_new();
	enum tls_front_status st = TLS_FRONT_MORE;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (size_t at = 0; at < n && st == TLS_FRONT_MORE; at += step)
		st = tls_front_feed(t, (const char *)stream + at, n - at < step ? n - at : step, 1);
	clock_gettime(CLOCK_MONOTONIC, &b);
	tls_front_free(t);
	return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

int main(void)
{
	char dir[] = "/tmp/flypaper-bench-tls.XXXXXX", db[64], pem[96], err[512];
	struct config cfg;
	size_t n = slow_hello();

	if (!mkdtemp(dir))
		return 1;
	snprintf(db, sizeof(db), "%s/f.db", dir);
	snprintf(pem, sizeof(pem), "%s/%s", dir, TLS_FRONT_SELF_SIGNED);
	config_defaults(&cfg);
	cfg.tls = true;
	if (config_set(&cfg, "db", db, err, sizeof(err)) < 0 ||
	    tls_front_setup(&cfg, err, sizeof(err)) < 0 ||
	    tls_front_self_signed(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "tls-feed-cost: %s\n", err);
		return 1;
	}
	printf("a %zu-byte hello of one-byte records: a byte a feed %.3f s, one feed %.6f s\n",
	    n, run(n, 1), run(n, n));
	unlink(pem);
	rmdir(dir);
	config_free(&cfg);
	return 0;
}
