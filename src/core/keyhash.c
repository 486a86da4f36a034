/* keyhash.c - SipHash-2-4 and a random key per run (keyhash.h). The
 * algorithm as the paper specifies it: four 64-bit words of state from the
 * key and four constants, each 8-byte little-endian word of the message
 * mixed in with two rounds, the last word holding the tail and the length
 * mod 256 in its top byte, then four rounds. */
#include "keyhash.h"

#include <errno.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define KEYHASH_ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

struct keyhash_state {
	uint64_t v0, v1, v2, v3;
};

static void keyhash_round(struct keyhash_state *s)
{
	s->v0 += s->v1;
	s->v1 = KEYHASH_ROTL(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = KEYHASH_ROTL(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = KEYHASH_ROTL(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = KEYHASH_ROTL(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = KEYHASH_ROTL(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = KEYHASH_ROTL(s->v2, 32);
}

/* Mixes one message word in: the "2" of SipHash-2-4. */
static void keyhash_word(struct keyhash_state *s, uint64_t m)
{
	s->v3 ^= m;
	keyhash_round(s);
	keyhash_round(s);
	s->v0 ^= m;
}

uint64_t keyhash(const struct keyhash_key *k, const void *p, size_t len)
{
	const unsigned char *b = p;
	struct keyhash_state s = {
		k->k0 ^ 0x736f6d6570736575ULL, k->k1 ^ 0x646f72616e646f6dULL,
		k->k0 ^ 0x6c7967656e657261ULL, k->k1 ^ 0x7465646279746573ULL,
	};
	size_t whole = len - len % 8;
	uint64_t last = (uint64_t)(len & 0xff) << 56;

	for (size_t i = 0; i < whole; i += 8) {
		uint64_t m = 0;
		for (int j = 7; j >= 0; j--)
			m = (m << 8) | b[i + (size_t)j];
		keyhash_word(&s, m);
	}
	for (size_t j = 0; j < len % 8; j++)
		last |= (uint64_t)b[whole + j] << (8 * j);
	keyhash_word(&s, last);
	s.v2 ^= 0xff;
	for (int r = 0; r < 4; r++)          /* the "4" */
		keyhash_round(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

int keyhash_key_random(struct keyhash_key *k)
{
	unsigned char b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got == sizeof(b)) {
		k->k0 = k->k1 = 0;
		for (int i = 0; i < 8; i++) {
			k->k0 = (k->k0 << 8) | b[i];
			k->k1 = (k->k1 << 8) | b[8 + i];
		}
		return 0;
	}
	struct timespec m, r;
	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &r);
	struct keyhash_key seed = {(uint64_t)m.tv_sec * 1000000000ULL + (uint64_t)m.tv_nsec,
	    (uint64_t)r.tv_sec * 1000000000ULL + (uint64_t)r.tv_nsec};
	uint64_t pid = (uint64_t)getpid();
	k->k0 = keyhash(&seed, &pid, sizeof(pid));
	k->k1 = keyhash(&seed, k, sizeof(k->k0));
	return -1;
}
