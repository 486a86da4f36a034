/* shape.h - how a client talks, as a stable fingerprint of its payload:
 * method, version, line endings, header names in order with their case and
 * colon spacing, the path with numbers, hex and UUIDs collapsed, the query's
 * parameter names; for other bytes, what kind of bytes they are. Values are
 * never part of it, so one tool's sessions share a shape. Pure: the writer
 * computes it at insert, rescan for old rows, the report for its example. */
#ifndef FLYPAPER_SHAPE_H
#define FLYPAPER_SHAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHAPE_VERSION "s1"           /* bumped when the definition changes */
#define SHAPE_TEXT_MAX 1024          /* the long form, NUL included; a longer one
                                      * ends in "{cut}" */
#define SHAPE_ID_LEN 29              /* "s1:" 16 hex "." 8 hex, and a NUL */
#define SHAPE_GROUP_LEN 19           /* "s1:" 16 hex: the order-free part of an id */
#define SHAPE_SCAN_MAX 16384         /* payload bytes read; a longer head is cut */
#define SHAPE_HEADERS_MAX 24         /* header names listed, then "+N" */
#define SHAPE_NAME_MAX 32            /* bytes of a header name kept */
#define SHAPE_PATH_MAX 64            /* bytes of the path template, then "{cut}" */
#define SHAPE_QUERY_MAX 8            /* query parameter names listed, then "+N" */

struct shape {
	char text[SHAPE_TEXT_MAX];   /* the long form, headers in the order sent;
	                              * printable ASCII without peer values */
	char id[SHAPE_ID_LEN];       /* "s1:" + 16 hex of SHA-256 of the long form
	                              * with the headers sorted, "." + 8 hex of
	                              * SHA-256 of the long form as sent */
};

/* Fills out with the shape of the len bytes at p, a session's payload that
 * held nrequests HTTP requests (the parser's count; pipelining shows as
 * x2-9 or x10+). Reads at most SHAPE_SCAN_MAX bytes. Returns false, with
 * out emptied, when len is 0: a session with no payload has no shape. */
bool shape_of(const uint8_t *p, size_t len, uint64_t nrequests, struct shape *out);

/* The last shapes computed, by payload digest: the same bytes come again
 * and again (a botnet sends one request everywhere), and a shape seen again
 * then costs one compare. Direct-mapped; one cache per thread. */
#define SHAPE_CACHE_SLOTS 64
struct shape_cache_slot {
	unsigned char sha256[32];
	uint64_t nrequests;
	bool used, ok;
	struct shape shape;
};
struct shape_cache {
	struct shape_cache_slot slot[SHAPE_CACHE_SLOTS];
};

/* shape_of through c, for a payload whose SHA-256 is sha256. Returns the
 * shape, valid until the next call with c, or NULL when the payload has
 * none. */
const struct shape *shape_of_cached(struct shape_cache *c, const unsigned char sha256[32],
    const uint8_t *p, size_t len, uint64_t nrequests);

#endif
