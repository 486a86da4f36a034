/* rfc5424.h - one closed session as an RFC 5424 syslog message: header,
 * one SD-ELEMENT of the session's main fields, and a short MSG. Pure: no
 * socket, no clock, no allocation. */
#ifndef FLYPAPER_RFC5424_H
#define FLYPAPER_RFC5424_H

#include <stdbool.h>
#include <stddef.h>

#include "record.h"

/* The longest message, framing not included: RFC 5426 says receivers
 * should take 2048 octets over UDP, and rsyslog's default is 8k. Peer
 * values that would not fit are left out (and cut="yes" says so). */
#define RFC5424_MSG_MAX 2048
/* The longest SD-PARAM value from a peer (an SNI, an IDENT user id),
 * escaped: longer ones are cut at an escape's boundary (cut="yes"). */
#define RFC5424_VALUE_MAX 256
/* The SD-ID: 32473 is the private enterprise number RFC 5612 reserves
 * for documentation; a site with its own number can change it here. */
#define RFC5424_SD_ID "flypaper@32473"
#define RFC5424_SEVERITY_INFO 6
#define RFC5424_HOSTNAME_MAX 255     /* RFC 5424's HOSTNAME, 1*255PRINTUSASCII */
#define RFC5424_APP_MAX 48           /* RFC 5424's APP-NAME, 1*48PRINTUSASCII */

/* What the message says of its sender (the sink fills it at open). */
struct rfc5424_sender {
	int facility;                /* 0..23 (RFC 5424 6.2.1) */
	char hostname[RFC5424_HOSTNAME_MAX + 1]; /* rfc5424_token */
	char app[RFC5424_APP_MAX + 1];           /* rfc5424_token */
	long procid;                 /* the daemon's pid */
};

/* What rfc5424_format did beyond formatting. */
struct rfc5424_result {
	bool escaped;                /* a value had bytes escaped (\xNN) */
	bool cut;                    /* a value was cut or left out for length */
};

/* The PRI value: facility * 8 + severity (RFC 5424 6.2.1). */
int rfc5424_pri(int facility, int severity);

/* Copies s into out (size outlen, at least 2) as a header token: bytes
 * outside 33..126 (space, controls, non-ASCII) become '_', at most
 * outlen - 1 bytes; "" becomes "-" (NILVALUE). Returns out. */
char *rfc5424_token(const char *s, char *out, size_t outlen);

/* Writes len bytes of data as an SD-PARAM value into out (size outlen):
 * with raw, bytes outside printable ASCII and the backslash become \xNN
 * first (text.h's escaping, as the database and JSON lines hold them);
 * without, data is text that is escaped already (tlshello_text). Then
 * '"', '\' and ']' are escaped with a backslash (RFC 5424 6.3.3). At most
 * RFC5424_VALUE_MAX bytes of escaped text, never splitting an escape.
 * Sets res's flags; returns the length written (NUL-terminated). */
size_t rfc5424_sd_value(const void *data, size_t len, bool raw, char *out,
    size_t outlen, struct rfc5424_result *res);

/* Formats r as one message from sender into out, which holds
 * RFC5424_MSG_MAX + 1 bytes: printable ASCII only, no newline, never
 * longer than RFC5424_MSG_MAX. A RECORD_CLOSED is MSGID "session" with the
 * session's fields; a RECORD_CLASSIFIED (the verdict on a session sent
 * before) MSGID "classified" with its id, source, digest, class state,
 * family and tags. Returns its length. */
size_t rfc5424_format(const struct record *r, const struct rfc5424_sender *sender,
    char *out, struct rfc5424_result *res);

#endif
