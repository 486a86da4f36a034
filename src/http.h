/* http.h - a tolerant, zero-copy HTTP/1.x request-head parser. Peers are
 * hostile: any byte may arrive anywhere, so the parser never reads past
 * len, never allocates, and says "invalid" rather than guessing. */
#ifndef FLYPAPER_HTTP_H
#define FLYPAPER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_INCOMPLETE (-2)         /* need more bytes */
#define HTTP_INVALID (-1)            /* not an HTTP request head */
#define HTTP_METHOD_MAX 32           /* longer "methods" are not HTTP */
#define HTTP_LEADING_MAX 16          /* empty-line bytes tolerated before a request */

/* A slice of the parsed buffer. */
struct http_span {
	size_t off;                  /* from the start of the buffer */
	size_t len;
};

struct http_request {
	struct http_span method;
	struct http_span target;
	struct http_span version;    /* "HTTP/1.1"; empty for HTTP/0.9 */
	struct http_span headers;    /* raw header lines, without the blank line */
	struct http_span host;       /* value of Host, or empty */
	struct http_span user_agent; /* value of User-Agent, or empty */
	int64_t content_length;      /* -1 when absent or unreadable */
	bool chunked;                /* Transfer-Encoding: chunked */
	bool keep_alive;             /* the connection may carry another request */
	bool head_only;              /* method HEAD: answer without a body */
};

/* Parses one request head at the start of buf[0..len). Leading empty lines
 * are skipped. Bare LF is accepted for CRLF, a line starting with a space
 * continues the previous header, and the target may hold any byte but
 * space, CR and LF. Returns the head's length including its blank line
 * (bytes consumed, > 0), HTTP_INCOMPLETE, or HTTP_INVALID. On success req's
 * spans point into buf. */
int64_t http_parse_request(const char *buf, size_t len, struct http_request *req);

/* Checks only the start of a request: at most HTTP_LEADING_MAX CR/LF bytes,
 * then a method token and a space, in O(1) however long buf is. Returns 1
 * when it looks like a request, 0 when more bytes are needed, HTTP_INVALID
 * when it cannot be one. */
int http_check_start(const char *buf, size_t len);

/* Looks for the end of a request head (an empty line) in buf[0..len),
 * starting the search at *hint, which it advances so that a growing buffer
 * is never rescanned. Returns the head's length, or 0 when not found. */
size_t http_find_head_end(const char *buf, size_t len, size_t *hint);

#endif
