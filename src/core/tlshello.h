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

/* The text columns of a hello (sessions' names, JSON lines' too), in
 * the schema's order. */
enum tlshello_field {
	TLSHELLO_F_VERSIONS,         /* supported_versions, 4-hex comma list */
	TLSHELLO_F_CIPHERS,          /* cipher suites (SSLv2: 6-hex specs) */
	TLSHELLO_F_EXTENSIONS,       /* extension types in order */
	TLSHELLO_F_GROUPS,           /* supported_groups */
	TLSHELLO_F_POINT_FORMATS,    /* ec_point_formats, 2-hex */
	TLSHELLO_F_SIG_ALGS,         /* signature_algorithms */
	TLSHELLO_F_ALPN,             /* ALPN names, escaped, comma-joined */
	TLSHELLO_F_SNI,              /* the first host_name, escaped */
	TLSHELLO_F_JA3,              /* the JA3 string */
	TLSHELLO_F_JA3_MD5,
	TLSHELLO_F_JA4,
	TLSHELLO_F_JA4_R,            /* JA4's raw (sorted, unhashed) form */
	TLSHELLO_F_COUNT
};

struct tlshello;

/* How far the first n bytes of a stream go towards a ClientHello:
 * TLSHELLO_NONE when they are not one, TLSHELLO_PARTIAL when more bytes
 * are needed, else the hello's state and, in *end, the stream offset just
 * past its last byte (for OVERSIZED and MALFORMED: just past the byte
 * that decided it). Cheap: the TLS front calls it as bytes arrive. Every
 * answer but PARTIAL is final: more bytes never change it, nor *end.
 * It judges the records and the handshake header; a hello it calls OK
 * may still be MALFORMED inside (its lists), which only tlshello_parse
 * reads. *end is 0 for NONE and PARTIAL. */
enum tlshello_state tlshello_extent(const uint8_t *b, size_t n, size_t *end);

/* Parses the ClientHello at the start of b (n bytes of stream); NULL when
 * the bytes are no TLS handshake at all, too few to say (under 3 bytes
 * of a record, 5 of an SSLv2 header: where tlshello_extent says PARTIAL),
 * or out of memory. One
 * allocation; tlshello_size counts it. Looks at most at TLSHELLO_MAX
 * bytes. Facts read before a hello broke off (partial, malformed,
 * oversized) are kept; JA3 and JA4 need the whole hello with its lists
 * intact. */
struct tlshello *tlshello_parse(const uint8_t *b, size_t n);

/* The bytes h holds (0 for NULL). */
size_t tlshello_size(const struct tlshello *h);

void tlshello_free(struct tlshello *h);

/* h's state (TLSHELLO_NONE for NULL). */
enum tlshello_state tlshello_state(const struct tlshello *h);

/* A state's schema name ("hello", "sslv2", "partial", "malformed",
 * "oversized"); NULL for TLSHELLO_NONE. */
const char *tlshello_state_name(enum tlshello_state s);

/* The first record's version (0x0301 = 769) and the hello's
 * legacy_version (SSLv2: its version field); -1 when not seen (an SSLv2
 * hello has no record version). */
int tlshello_record_version(const struct tlshello *h);
int tlshello_hello_version(const struct tlshello *h);

/* The field's schema name (tls_versions ... ja4_r). */
const char *tlshello_field_name(enum tlshello_field f);

/* Field f of h as text in a new string the caller frees; NULL when h
 * has no such fact (no such extension, no fingerprint) or memory ran
 * out. Peer strings (SNI, ALPN) come escaped as text.h does (an ALPN
 * name's comma as \x2c too), so the result is printable ASCII. */
char *tlshello_text(const struct tlshello *h, enum tlshello_field f);

#endif
