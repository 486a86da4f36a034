/* normalize.h - what an HTTP payload means, for rules: each request's
 * fields with the encodings attackers hide behind undone (%XX, %uXXXX,
 * double and triple encoding, overlong UTF-8, Basic auth, form bodies)
 * and Log4Shell lookups resolved. classify passes them to YARA as the
 * http_* external variables. Pure: no allocation, every field capped. */
#ifndef FLYPAPER_NORMALIZE_H
#define FLYPAPER_NORMALIZE_H

#include <stddef.h>
#include <stdint.h>

#define NORMALIZE_FIELD_MAX 4096     /* bytes per field, NUL included */
#define NORMALIZE_REQUESTS_MAX 64    /* requests read per payload */
#define NORMALIZE_PASSES 3           /* URL-decoding passes: triple encoding */
#define NORMALIZE_LOOKUP_DEPTH 16    /* nested ${...} resolved */
#define NORMALIZE_LOOKUPS_MAX 256    /* lookups resolved per value */
#define NORMALIZE_AUTH_MAX 1024      /* base64 bytes of Basic decoded */

/* The fields, in the order of normalize_names. Each holds the values of
 * every request of the payload joined by "\n", and is "" when the payload
 * is not HTTP. NUL bytes are written "%00" (YARA strings are C strings). */
enum normalize_field {
	NORMALIZE_METHOD,    /* request-line method */
	NORMALIZE_TARGET,    /* target decoded, '+' as space in the query */
	NORMALIZE_PATH,      /* decoded target without query, '\' as '/', "/./" as "/" */
	NORMALIZE_VERSION,   /* "HTTP/1.1"; "" for HTTP/0.9 */
	NORMALIZE_UA,        /* first User-Agent of each request, decoded */
	NORMALIZE_HEADERS,   /* "Name: value\n" per header line, values decoded */
	NORMALIZE_AUTH,      /* Authorization: Basic decoded, "user:pass" */
	NORMALIZE_BODY,      /* forms URL-decoded, JSON and XML escapes undone, others raw */
	NORMALIZE_LOG4J,     /* each outermost ${...} of any field, resolved */
	NORMALIZE_FIELDS
};

/* The YARA external variable of each field: "http_method", ... */
extern const char *const normalize_names[NORMALIZE_FIELDS];

struct normalize {
	int nrequests;                           /* requests read (http_nrequests) */
	size_t len[NORMALIZE_FIELDS];            /* bytes in each field */
	char field[NORMALIZE_FIELDS][NORMALIZE_FIELD_MAX];
	char scratch[3][NORMALIZE_FIELD_MAX];    /* decoding passes, lookups */
};

/* Fills z from the HTTP requests at the start of data[0..len): up to
 * NORMALIZE_REQUESTS_MAX, each field capped at NORMALIZE_FIELD_MAX (a
 * cut value is kept up to the cap). Returns the number of requests read;
 * 0 (all fields "") when data does not start with a request line. */
int normalize_payload(struct normalize *z, const uint8_t *data, size_t len);

/* URL-decodes in[0..n) into out (cap bytes, no NUL added): %XX, %uXXXX
 * as UTF-8, '+' as a space from offset plus_from on, repeated while a
 * pass decoded something and '%' remains (at most NORMALIZE_PASSES), then
 * overlong UTF-8 folded to ASCII. scratch holds cap bytes. Returns the
 * length, never more than n or cap. */
size_t normalize_url(const char *in, size_t n, size_t plus_from, char *out,
    size_t cap, char *scratch);

/* Resolves Log4Shell lookups in in[0..n) into out (cap bytes, no NUL
 * added) like log4j would, without looking anything up: ${lower:x},
 * ${upper:x}, ${date:'x'}, ${any:key:-default}, nested; ${jndi:...}
 * becomes "jndi:..."; a lookup it cannot resolve and with no default
 * stays as written. scratch holds cap bytes. Returns the length. */
size_t normalize_log4j(const char *in, size_t n, char *out, size_t cap,
    char *scratch);

#endif
