/* tlshello.h - a TLS ClientHello read from the bytes a peer sent: its
 * facts (versions, cipher suites, extensions, groups, ALPN, SNI) and the
 * JA3 and JA4 fingerprints. Pure: bytes in, facts out. The bytes are the
 * stream as sent (TLS records, a hello split over any number of them or
 * of reads), so the same parser serves a plain listener's payload and
 * the raw bytes the TLS front kept. */
#ifndef FLYPAPER_TLSHELLO_H
#define FLYPAPER_TLSHELLO_H

#include <stddef.h>
#include <stdint.h>

/* The most stream bytes a ClientHello may take (record headers
 * included): a larger one is recorded as oversized. */
#define TLSHELLO_MAX (32 * 1024)

/* What the first bytes of a stream are. The names are part of the
 * schema (sessions.tls). */
enum tlshello_state {
	TLSHELLO_NONE,               /* not a TLS handshake */
	TLSHELLO_OK,                 /* a whole ClientHello: every fact holds */
	TLSHELLO_SSLV2,              /* an SSLv2-compatible hello (no JA3/JA4) */
	TLSHELLO_PARTIAL,            /* the stream ended inside the hello */
	TLSHELLO_MALFORMED,          /* a handshake that breaks the specification */
	TLSHELLO_OVERSIZED,          /* a hello over TLSHELLO_MAX */
};

struct tlshello;

/* How far the first n bytes of a stream go towards a ClientHello:
 * TLSHELLO_NONE when they are not one, TLSHELLO_PARTIAL when more bytes
 * are needed, else the hello's state and, in *end, the stream offset just
 * past its last byte. Cheap: the TLS front calls it as bytes arrive. */
enum tlshello_state tlshello_extent(const uint8_t *b, size_t n, size_t *end);

/* Parses the ClientHello at the start of b (n bytes of stream); NULL when
 * the bytes are no TLS handshake at all, or out of memory. One
 * allocation; tlshello_size counts it. */
struct tlshello *tlshello_parse(const uint8_t *b, size_t n);

/* The bytes h holds (0 for NULL). */
size_t tlshello_size(const struct tlshello *h);

void tlshello_free(struct tlshello *h);

#endif
