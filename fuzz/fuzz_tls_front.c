/* fuzz_tls_front.c - libFuzzer target for the TLS front
 * (src/capture/tls_front.c) with OpenSSL behind it: the input is a
 * peer's wire bytes, fed in pieces whose size the first byte chooses,
 * with plaintext read and output drained after each as the session does.
 * The front must never keep more of the hello than TLSHELLO_MAX, never
 * report plaintext before the handshake, give a record whose counts add
 * up and whose kept hello is the stream's first bytes, hand back as
 * plaintext exactly the bytes it held when they were no TLS, and charge
 * the budget no more than a handshake's worth, an idle front's once the
 * handshake is over. Needs libssl loadable (dlopen, a root-owned path) and a
 * writable /tmp for the self-signed certificate. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "record.h"
#include "tls_front.h"
#include "tlshello.h"

static char buf[65536];
static char dir[] = "/tmp/flypaper-fuzz-tls.XXXXXX";

static void cleanup(void)
{
	char pem[96];

	snprintf(pem, sizeof(pem), "%s/%s", dir, TLS_FRONT_SELF_SIGNED);
	unlink(pem);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static struct config cfg;
	char db[64], err[512];

	(void)argc; (void)argv;
	if (!mkdtemp(dir))
		abort();
	atexit(cleanup);
	snprintf(db, sizeof(db), "%s/f.db", dir);
	config_defaults(&cfg);
	cfg.tls = true;
	if (config_set(&cfg, "db", db, err, sizeof(err)) < 0 ||
	    tls_front_setup(&cfg, err, sizeof(err)) < 0 ||
	    tls_front_self_signed(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_tls_front: %s\n", err);
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_front *t;
	size_t step, at = 0, fed = 0;
	bool plain = false;

	if (size < 2)
		return 0;
	step = (size_t)data[0] % 64 + 1;   /* 1..64 bytes a read */
	data++;
	size--;
	if (!(t = tls_front_new()))
		return 0;
	while (at < size) {
		size_t n = size - at < step ? size - at : step;
		enum tls_front_status st = tls_front_feed(t, (const char *)data + at, n, at + 1);
		at += n;
		if (st == TLS_FRONT_PLAIN) {
			size_t held;
			const char *early = tls_front_held(t, &held);
			plain = true;
			/* what it held is what came before, to the byte */
			if (held != fed || (held && memcmp(early, data, held)))
				__builtin_trap();
			fed = 0;         /* no TLS bytes after all */
			break;           /* the session takes it from here */
		}
		fed += n;
		long got;
		while ((got = tls_front_read(t, buf, sizeof(buf))) > 0)
			if (st != TLS_FRONT_READY)
				__builtin_trap();  /* plaintext before the handshake */
		size_t out;
		while ((out = tls_front_output(t, buf, sizeof(buf))) > 0)
			tls_front_count_out(t, out);
		if (st == TLS_FRONT_FAILED)
			break;
	}
	size_t back = tls_front_settle(t);
	if (tls_front_charged(t) + back != tls_front_size() ||
	    (!tls_front_handshaking(t) && tls_front_charged(t) > tls_front_size() / 2))
		__builtin_trap();
	tls_front_abort(t, TLS_ERR_PEER_CLOSED);
	struct record_tls_front *r = tls_front_record(t, 0);
	if (r) {
		if (r->hello_len > TLSHELLO_MAX || r->hello_len > r->raw_in ||
		    (r->hello_len && memcmp(r->hello, data, r->hello_len)) ||
		    r->raw_in != fed || (plain && r->error != TLS_ERR_NOT_TLS) ||
		    (!plain && r->error == TLS_ERR_NOT_TLS) ||
		    (r->error == TLS_ERR_NONE) != (r->version[0] != '\0'))
			__builtin_trap();
		free(r);
	}
	tls_front_free(t);
	return 0;
}
