/* keyhash.h - a keyed hash for tables whose keys a peer chooses (the
 * report's SNI, JA3, JA4 and alert tables): SipHash-2-4 (Aumasson and
 * Bernstein, "SipHash: a fast short-input PRF", 2012), written from the
 * paper, with a random key drawn per run, so that a peer who knows the
 * code still cannot pick values that land in one slot. Nettle 3.8
 * (Debian 12) has no SipHash and its keyed MACs (HMAC, UMAC) cost several
 * times more per short value. A keyed hash only makes collisions
 * unlikely; a table fed by peers still bounds its probing. */
#ifndef FLYPAPER_KEYHASH_H
#define FLYPAPER_KEYHASH_H

#include <stddef.h>
#include <stdint.h>

/* A SipHash key: 128 bits. */
struct keyhash_key {
	uint64_t k0, k1;
};

/* A fresh random key from getrandom(2). Should the kernel refuse (a
 * seccomp filter, a kernel without it), the key is made from the clocks
 * and the pid: weaker against a peer who can guess those, which is why
 * every table using it also bounds its probing. Returns 0, or -1 when the
 * fallback was used. */
int keyhash_key_random(struct keyhash_key *k);

/* SipHash-2-4 of the len bytes at p (NULL only with len 0) under k. */
uint64_t keyhash(const struct keyhash_key *k, const void *p, size_t len);

#endif
