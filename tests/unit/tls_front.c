/* tls_front.c - unit tests of the TLS front (src/capture/tls_front.c):
 * the alert and error names; and, with libssl loaded (as root, like CI),
 * a whole handshake against an OpenSSL client in memory, its bytes fed
 * to the front one at a time; the first byte deciding plain or TLS; and
 * a broken handshake. Run from unit.c's main through test_tls_front. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "record.h"
#include "ssl_api.h"
#include "tls_front.h"
#include "tlshello.h"

void test_tls_front(int *passed, int *failed);

static int *tf_passed, *tf_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*tf_passed)++;                                    \
		} else {                                                   \
			(*tf_failed)++;                                    \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

static void tf_names(void)
{
	static const struct { unsigned code; const char *name; } alerts[] = {
		{0, "close_notify"}, {40, "handshake_failure"}, {42, "bad_certificate"},
		{46, "certificate_unknown"}, {48, "unknown_ca"}, {70, "protocol_version"},
		{112, "unrecognized_name"}, {120, "no_application_protocol"},
		{255, "alert_255"}, {7, "alert_7"},
	};
	static const char *const errors[TLS_ERR_COUNT] = {
		NULL, "not_tls", "peer_closed", "peer_reset", "peer_alert", "timeout",
		"protocol",
	};
	char buf[RECORD_TLS_ALERT];

	for (size_t i = 0; i < sizeof(alerts) / sizeof(alerts[0]); i++) {
		const char *got = tls_front_alert_name(alerts[i].code, buf, sizeof(buf));
		CHECK(strcmp(got, alerts[i].name) == 0, "alert %u: %s", alerts[i].code, got);
	}
	for (int e = 0; e < TLS_ERR_COUNT; e++) {
		const char *got = record_tls_error_name((enum record_tls_error)e);
		CHECK(errors[e] ? got && strcmp(got, errors[e]) == 0 : got == NULL,
		    "error %d: %s", e, got ? got : "(null)");
	}
	CHECK(record_tls_error_name(TLS_ERR_COUNT) == NULL, "out of range");
}

/* Moves the client's output to the front, one byte a feed when
 * bytewise, and the front's output back. Returns the last status. */
static enum tls_front_status tf_pump(struct tls_front *t, BIO *to_server, BIO *to_client,
    bool bytewise)
{
	enum tls_front_status st = TLS_FRONT_MORE;
	char buf[4096];
	int n;
	size_t m;

	while ((n = BIO_read(to_server, buf, sizeof(buf))) > 0)
		for (int i = 0; i < n; i += bytewise ? 1 : n)
			st = tls_front_feed(t, buf + i, bytewise ? 1 : (size_t)n, 1000000);
	while ((m = tls_front_output(t, buf, sizeof(buf))) > 0) {
		BIO_write(to_client, buf, (int)m);
		tls_front_count_out(t, m);   /* as the session does once sent */
	}
	return st;
}

static void tf_handshake(bool bytewise)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_method());
	SSL *c = SSL_new(cctx);
	BIO *to_server = BIO_new(BIO_s_mem()), *to_client = BIO_new(BIO_s_mem());
	struct tls_front *t = tls_front_new();
	enum tls_front_status st = TLS_FRONT_MORE;
	static const char req[] = "GET / HTTP/1.1\r\n\r\n";
	char buf[256];
	long got = 0;

	BIO_set_mem_eof_return(to_client, -1);
	SSL_set_bio(c, to_client, to_server);
	SSL_set_connect_state(c);
	for (int round = 0; round < 10 && st != TLS_FRONT_READY; round++) {
		SSL_do_handshake(c);
		st = tf_pump(t, to_server, to_client, bytewise);
	}
	CHECK(st == TLS_FRONT_READY, "bytewise %d: status %d", bytewise, st);
	/* the handshake's charge goes back once, the idle cost stays */
	size_t back = tls_front_settle(t);
	CHECK(back > 0 && back + tls_front_charged(t) == tls_front_size() &&
	    tls_front_charged(t) <= 16 * 1024 + TLSHELLO_MAX && tls_front_settle(t) == 0,
	    "bytewise %d: charge given back %zu, still %zu", bytewise, back,
	    tls_front_charged(t));
	CHECK(SSL_do_handshake(c) == 1, "the client completes");
	CHECK(SSL_write(c, req, sizeof(req) - 1) == (int)sizeof(req) - 1, "client write");
	tf_pump(t, to_server, to_client, bytewise);
	for (long n; (n = tls_front_read(t, buf + got, sizeof(buf) - (size_t)got)) > 0; )
		got += n;
	CHECK(got == (long)sizeof(req) - 1 && memcmp(buf, req, (size_t)got) == 0,
	    "plaintext %ld bytes", got);
	CHECK(tls_front_write(t, "HTTP/1.0 200 OK\r\n\r\n", 19) == 0, "front write");
	tf_pump(t, to_server, to_client, bytewise);
	CHECK(SSL_read(c, buf, sizeof(buf)) == 19, "the client reads the answer");
	struct record_tls_front *r = tls_front_record(t, 0);
	CHECK(r && r->error == TLS_ERR_NONE && strcmp(r->version, "TLSv1.3") == 0 &&
	    r->cipher[0] && r->hello_len > 0 && r->hello[0] == 0x16 && r->raw_in > 19 &&
	    r->raw_out > 19, "record");
	free(r);
	tls_front_free(t);
	SSL_free(c);
	SSL_CTX_free(cctx);
}

/* What OpenSSL never sees: a hello announced past TLSHELLO_MAX (9 bytes
 * that made it allocate the whole announced message), a malformed one;
 * and binary clients whose first byte has the high bit (not an SSLv2
 * hello), given back whole as plaintext however they were split. */
static void tf_held(void)
{
	/* split: the bytes of each feed (0: one feed), or of the first one
	 * only when its value has 100 added (the rest then comes at once) */
	static const struct { const char *name, *in; size_t len, split;
	    enum tls_front_status st; const char *alert; size_t kept; } cases[] = {
		{"hello announced at 131000 bytes", "\x16\x03\x01\x00\x04\x01\x01\xff\xb8",
		    9, 0, TLS_FRONT_FAILED, "illegal_parameter", 9},
		{"its record announced at 16384", "\x16\x03\x01\x40\x00\x01\x01\xff\xb8",
		    9, 0, TLS_FRONT_FAILED, "illegal_parameter", 9},
		{"the same, a byte a feed", "\x16\x03\x01\x00\x04\x01\x01\xff\xb8",
		    9, 1, TLS_FRONT_FAILED, "illegal_parameter", 9},
		{"a record of 0 bytes", "\x16\x03\x01\x00\x00", 5, 0, TLS_FRONT_FAILED,
		    "decode_error", 5},
		{"memcached binary", "\x80\x01\x00\x03\x00\x00\x00\x00keyx", 12, 1,
		    TLS_FRONT_PLAIN, NULL, 0},
		{"bitcoin magic", "\xf9\xbe\xb4\xd9version\0\0\0\0\0", 17, 2,
		    TLS_FRONT_PLAIN, NULL, 0},
		{"bitcoin magic, 2 bytes then the rest",
		    "\xf9\xbe\xb4\xd9version\0\0\0\0\0", 17, 102, TLS_FRONT_PLAIN, NULL, 0},
		{"a record version of 4.0", "\x16\x04\x00\x00\x01\x01", 6, 0,
		    TLS_FRONT_PLAIN, NULL, 0},
		{"an SSLv2 hello's start", "\x80\x2e\x01\x03\x01\x00\x15", 7, 0,
		    TLS_FRONT_MORE, NULL, 7},
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tls_front *t = tls_front_new();
		size_t split = cases[i].split % 100 ? cases[i].split % 100 : cases[i].len;
		size_t at = 0, held = 0;
		enum tls_front_status st = TLS_FRONT_MORE;
		const char *early = NULL;

		while (at < cases[i].len && st == TLS_FRONT_MORE) {
			size_t n = cases[i].len - at < split ? cases[i].len - at : split;
			st = tls_front_feed(t, cases[i].in + at, n, 1);
			if (st == TLS_FRONT_PLAIN) {
				early = tls_front_held(t, &held);
				/* the earlier feeds, then this one: the whole stream */
				CHECK(held == at && (!held || memcmp(early, cases[i].in, held) == 0),
				    "%s: %zu bytes held", cases[i].name, held);
			}
			at += n;
			if (cases[i].split > 100)
				split = cases[i].len;
		}
		CHECK(st == cases[i].st && (st == TLS_FRONT_PLAIN || at == cases[i].len),
		    "%s: status %d after %zu",
		    cases[i].name, st, at);
		size_t out = tls_front_output(t, buf, sizeof(buf));
		struct record_tls_front *r = tls_front_record(t, 0);
		CHECK(r && r->hello_len == cases[i].kept, "%s: kept %u", cases[i].name,
		    r ? r->hello_len : 0);
		if (cases[i].alert) {
			/* our fatal alert, as OpenSSL would have sent it */
			CHECK(r && r->error == TLS_ERR_PROTOCOL &&
			    strcmp(r->alert, cases[i].alert) == 0 && out == 7 &&
			    buf[0] == 21 && buf[5] == 2, "%s: error %d alert %s, %zu out",
			    cases[i].name, r ? (int)r->error : -1, r ? r->alert : "", out);
			CHECK(tls_front_settle(t) > 0, "%s: the charge goes back",
			    cases[i].name);
		}
		if (cases[i].st == TLS_FRONT_PLAIN)
			CHECK(r && r->error == TLS_ERR_NOT_TLS && r->raw_in == 0 && out == 0,
			    "%s: plain", cases[i].name);
		free(r);
		tls_front_free(t);
	}
}

/* First bytes: a plaintext client, a broken handshake record. */
static void tf_first_bytes(void)
{
	static const struct { const char *name, *in; size_t len;
	    enum tls_front_status st; enum record_tls_error err; } cases[] = {
		{"http", "GET / HTTP/1.0\r\n\r\n", 18, TLS_FRONT_PLAIN, TLS_ERR_NOT_TLS},
		{"ssh", "SSH-2.0-x\r\n", 11, TLS_FRONT_PLAIN, TLS_ERR_NOT_TLS},
		{"nul", "\0\0\0\0", 4, TLS_FRONT_PLAIN, TLS_ERR_NOT_TLS},
		{"a record's start", "\x16\x03\x01", 3, TLS_FRONT_MORE, TLS_ERR_NONE},
		{"not a hello", "\x16\x03\x01\x00\x04\x63\x00\x00\x00", 9, TLS_FRONT_FAILED,
		    TLS_ERR_PROTOCOL},
		/* only a handshake record (or an SSLv2 hello) starts TLS */
		{"an alert first", "\x15\x03\x01\x00\x02\x02\x28", 7, TLS_FRONT_PLAIN,
		    TLS_ERR_NOT_TLS},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tls_front *t = tls_front_new();
		enum tls_front_status st = tls_front_feed(t, cases[i].in, cases[i].len, 1);
		struct record_tls_front *r = tls_front_record(t, 0);
		CHECK(st == cases[i].st, "%s: status %d", cases[i].name, st);
		CHECK(r && r->error == cases[i].err, "%s: error %d", cases[i].name,
		    r ? (int)r->error : -1);
		if (cases[i].st == TLS_FRONT_PLAIN)
			CHECK(r && r->hello_len == 0 && r->raw_in == 0, "%s: nothing kept",
			    cases[i].name);
		if (cases[i].st == TLS_FRONT_MORE) {
			tls_front_abort(t, TLS_ERR_PEER_CLOSED);
			free(r);
			r = tls_front_record(t, 0);
			CHECK(r && r->error == TLS_ERR_PEER_CLOSED && r->hello_len == cases[i].len,
			    "%s: cut", cases[i].name);
		}
		free(r);
		tls_front_free(t);
	}
}

void test_tls_front(int *passed, int *failed)
{
	char dir[] = "/tmp/flypaper-unit-tls.XXXXXX", db[64], pem[96], err[512];
	struct config cfg;

	tf_passed = passed;
	tf_failed = failed;
	tf_names();
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp");
		return;
	}
	snprintf(db, sizeof(db), "%s/f.db", dir);
	snprintf(pem, sizeof(pem), "%s/%s", dir, TLS_FRONT_SELF_SIGNED);
	config_defaults(&cfg);
	cfg.tls = true;
	int rc = config_set(&cfg, "db", db, err, sizeof(err));
	CHECK(rc == 0, "db: %s", err);
	if (rc == 0)
		rc = tls_front_setup(&cfg, err, sizeof(err));
	CHECK(rc == 0, "setup: %s", err);
	if (rc == 0) {
		rc = tls_front_self_signed(&cfg, err, sizeof(err));
		CHECK(rc == 0 && tls_front_ready(), "self-signed: %s", err);
	}
	if (rc == 0) {
		tf_handshake(false);
		tf_handshake(true);
		tf_first_bytes();
		tf_held();
	}
	config_free(&cfg);
	unlink(pem);
	rmdir(dir);
}
