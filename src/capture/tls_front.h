/* tls_front.h - the TLS front of a listener with tls = yes: OpenSSL
 * (ssl_api.h) between the socket's bytes and the session's payload, over
 * memory BIOs (the session keeps its own socket I/O through libuv). Set up
 * once at start, as root and then as the service user, before
 * confinement; each session of a TLS listener then owns one front. */
#ifndef FLYPAPER_TLS_FRONT_H
#define FLYPAPER_TLS_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

struct config;
struct tls_front;

/* The self-signed certificate's file, in the database's folder. */
#define TLS_FRONT_SELF_SIGNED "flypaper-tls.pem"

/* What a session's front says after bytes came. */
enum tls_front_status {
	TLS_FRONT_MORE,              /* the handshake goes on: wait for bytes */
	TLS_FRONT_READY,             /* the handshake is done: plaintext may follow */
	TLS_FRONT_PLAIN,             /* the first bytes are no TLS: they are plaintext */
	TLS_FRONT_FAILED,            /* the handshake failed (tls_alert says how) */
};

/* As root, when cfg has a TLS listener: loads libssl (ssl_api_load), makes
 * the context (no openssl.cnf; TLS 1.0-1.3, security level 0, every
 * cipher, ALPN http/1.1, no renegotiation, no tickets, no session cache)
 * and, with --tls-cert/--tls-key, reads them (as root: they may be root's
 * only, like /etc/ssl/private) and checks that they match. Returns 0, or
 * -1 with a message naming the file and the problem in err. */
int tls_front_setup(const struct config *cfg, char *err, size_t errlen);

/* As the service user, after tls_front_setup, without --tls-cert: reads
 * the self-signed certificate and key in the database's folder
 * (TLS_FRONT_SELF_SIGNED, opened with state_openat: no link, the user's
 * own), or makes a new one (RSA-2048, CN and subjectAltName --tls-name,
 * default CONFIG_TLS_NAME, ten years) when it is missing, unreadable,
 * expired, its key does not match or its CN is not that name, and writes
 * it 0600. Returns 0, or -1 with err. */
int tls_front_self_signed(const struct config *cfg, char *err, size_t errlen);

/* True once the context is set up with a certificate. */
bool tls_front_ready(void);

/* A new session's front; NULL when out of memory. */
struct tls_front *tls_front_new(void);

/* What a new front is charged to the --max-buffered budget at accept:
 * an idle front, a handshake's worth of OpenSSL's buffers and the kept
 * hello at its cap (estimates measured in tls_front.c: OpenSSL's buffers
 * are its own). Charged until the handshake ends (tls_front_settle). */
size_t tls_front_size(void);

/* Once the handshake is no longer under way (established, failed, plain):
 * the bytes of the charge to give back now (the front then holds its idle
 * cost and the kept hello); 0 before, and after the first time. */
size_t tls_front_settle(struct tls_front *t);

/* What the budget still holds for t: given back when it is freed. */
size_t tls_front_charged(const struct tls_front *t);

void tls_front_free(struct tls_front *t);

/* Feeds n bytes from the wire (n > 0) at now_ns. Holds the first bytes
 * until tlshello_extent decides (OpenSSL sees none of them before): not
 * TLS is TLS_FRONT_PLAIN, a hello malformed or announced past
 * TLSHELLO_MAX fails (protocol, our alert) without OpenSSL, a whole one
 * is the kept hello (the raw records up to its end) and OpenSSL gets it.
 * On TLS_FRONT_PLAIN the held bytes (tls_front_held) and the same bytes
 * are the session's plaintext and the front is done with them; on TLS_FRONT_READY or when already established, plaintext is
 * ready for tls_front_read; output (the handshake's, an alert) waits for
 * tls_front_output. */
enum tls_front_status tls_front_feed(struct tls_front *t, const char *data, size_t n,
    uint64_t now_ns);

/* After TLS_FRONT_PLAIN: the bytes of earlier feeds that the front held
 * while it could not yet tell (a high-bit first byte may begin an SSLv2
 * hello or a binary protocol), which come before the bytes of the feed
 * that said PLAIN; *len 0 when none. Valid until tls_front_free. */
const char *tls_front_held(const struct tls_front *t, size_t *len);

/* Copies up to cap bytes of decrypted plaintext to buf. Returns the
 * bytes, 0 when there are none (for now), or -1 when the peer ended the
 * TLS stream (close_notify) or broke it. */
long tls_front_read(struct tls_front *t, char *buf, size_t cap);

/* Encrypts len bytes of plaintext (established only). Returns 0, or -1. */
int tls_front_write(struct tls_front *t, const char *data, size_t len);

/* Moves up to cap bytes of TLS output (to send as they are) to buf.
 * Returns the bytes, 0 when none is waiting. */
size_t tls_front_output(struct tls_front *t, char *buf, size_t cap);

/* Whether the handshake completed. */
bool tls_front_established(const struct tls_front *t);

/* Whether the front is still in its handshake (neither established,
 * plain, nor failed). */
bool tls_front_handshaking(const struct tls_front *t);

/* The handshake ended without completing: error (peer closed, reset,
 * timeout), unless an earlier failure already named it. */
void tls_front_abort(struct tls_front *t, enum record_tls_error error);

/* Counts n TLS bytes written to the wire. */
void tls_front_count_out(struct tls_front *t, size_t n);

/* What the front saw, for the record (times from start_ns): one
 * allocation, the kept hello at its end. NULL when out of memory. */
struct record_tls_front *tls_front_record(const struct tls_front *t, uint64_t start_ns);

/* The name of TLS alert description code (RFC 8446 6.2, 5246 7.2:
 * "unknown_ca"); "alert_N" (in buf) for others. */
const char *tls_front_alert_name(unsigned code, char *buf, size_t len);

#endif
