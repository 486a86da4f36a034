/* promtext.h - the pure half of --metrics: the one request the metrics
 * server understands (GET /metrics) and the Prometheus text exposition
 * format (version 0.0.4) it answers in. No sockets, no threads. */
#ifndef FLYPAPER_PROMTEXT_H
#define FLYPAPER_PROMTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROMTEXT_HEAD_MAX 4096       /* a request head longer than this is refused */
#define PROMTEXT_INCOMPLETE (-2)     /* promtext_request: read more */
#define PROMTEXT_INVALID (-1)        /* promtext_request: not HTTP, or too long */

/* What promtext_request found in a complete head. */
enum promtext_answer {
	PROMTEXT_METRICS,            /* GET /metrics: 200 and the series */
	PROMTEXT_HEAD_ONLY,          /* HEAD /metrics: 200, no body */
	PROMTEXT_NOT_FOUND,          /* another path: 404 */
	PROMTEXT_BAD_METHOD,         /* /metrics with another method: 405 */
};

/* Reads the request head in buf[0..len) (hostile bytes). Returns the
 * bytes the head takes (through its blank line) and sets *answer;
 * PROMTEXT_INCOMPLETE when no blank line came yet and len is under
 * PROMTEXT_HEAD_MAX; PROMTEXT_INVALID for a head that is not
 * "METHOD TARGET HTTP/1.x", holds a NUL or control byte in its request
 * line, or would pass PROMTEXT_HEAD_MAX. */
int promtext_request(const char *buf, size_t len, enum promtext_answer *answer);

/* An output buffer of fixed capacity (caller-owned bytes). Writes past the
 * end are dropped and remembered in overflow, so a caller checks once. */
struct promtext {
	char *buf;
	size_t len, cap;
	bool overflow;               /* something did not fit: the text is cut */
};

/* Starts out over buf[0..cap). */
void promtext_init(struct promtext *out, char *buf, size_t cap);

/* Writes a family's "# HELP" and "# TYPE" lines; type is "counter",
 * "gauge" or "untyped"; help is escaped (backslash, newline). */
void promtext_family(struct promtext *out, const char *name, const char *type,
    const char *help);

/* Writes one sample: name{k1="v1",...} value. labels holds nlabels
 * key/value pairs (keys trusted, values escaped: backslash, double quote,
 * newline); value is printed as an integer when it is one. */
void promtext_sample(struct promtext *out, const char *name,
    const char *const *labels, int nlabels, double value);

/* Escapes a label value into dst (dst_len > 0, always terminated).
 * Returns the length it needed, like snprintf. */
size_t promtext_escape_label(const char *src, char *dst, size_t dst_len);

#endif
