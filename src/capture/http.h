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

/* Where the tracking of one peer's stream of requests stands. Zero it to
 * start. The caller keeps every byte of the stream in one buffer that only
 * grows, and passes all of it each time. */
struct http_stream {
	size_t off;                  /* start of the bytes not yet used */
	uint64_t body_left;          /* body bytes of the last request still due;
	                              * UINT64_MAX (chunked): the rest of the stream */
	size_t line_end;             /* current head: just past its request line's
	                              * LF; 0 until that LF has been seen */
	size_t scan;                 /* current head: where the next search for a
	                              * LF (or, past the request line, for the
	                              * blank line) resumes, relative to off */
	bool invalid;                /* bytes that are not HTTP: tracking stopped */
};

/* Advances st over buf[0..len), the whole stream so far, skipping the body
 * of the last request (*body: the body bytes skipped by this call, all of
 * them the previous request's). Returns the length of the next complete
 * request head (> 0), with req filled as by http_parse_request and its
 * spans relative to buf + *at; HTTP_INCOMPLETE when every byte so far is
 * used or the head is unfinished; HTTP_INVALID when the bytes are not HTTP
 * or a head would be longer than head_max (then on every later call too).
 * The answers never depend on how the bytes were split between calls: the
 * answer on a prefix is HTTP_INCOMPLETE or the answer on the whole. Each
 * byte is searched a bounded number of times over all calls, so a slow
 * drip costs O(n) in all. */
int64_t http_stream_next(struct http_stream *st, const char *buf, size_t len,
    size_t head_max, struct http_request *req, size_t *at, uint64_t *body);

/* True when every byte of buf[0..len) belongs to a complete request head
 * or to its body. A chunked body is not parsed: a stream with one is
 * complete only while none of it has come. */
bool http_stream_complete(const struct http_stream *st, size_t len);

#endif
