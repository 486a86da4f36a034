/* http.c - request-head parsing. */
#include "http.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 tchar. */
static bool http_is_token(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* The end of the line starting at p (the LF), or NULL when no LF yet. */
static const char *http_eol(const char *p, const char *end)
{
	return memchr(p, '\n', (size_t)(end - p));
}

/* Length of a line without its CR LF or LF. */
static size_t http_line_len(const char *line, const char *lf)
{
	size_t n = (size_t)(lf - line);
	return n > 0 && line[n - 1] == '\r' ? n - 1 : n;
}

static bool http_span_eq(const char *buf, struct http_span s, const char *word)
{
	size_t n = strlen(word);
	return s.len == n && strncasecmp(buf + s.off, word, n) == 0;
}

/* Trims spaces and tabs around a slice. */
static struct http_span http_trim(const char *buf, size_t off, size_t len)
{
	while (len && (buf[off] == ' ' || buf[off] == '\t')) {
		off++;
		len--;
	}
	while (len && (buf[off + len - 1] == ' ' || buf[off + len - 1] == '\t'))
		len--;
	return (struct http_span){off, len};
}

static bool http_has_token(const char *buf, struct http_span v, const char *tok)
{
	size_t n = strlen(tok);

	for (size_t i = 0; i + n <= v.len; i++) {
		if (strncasecmp(buf + v.off + i, tok, n) == 0 &&
		    (i == 0 || buf[v.off + i - 1] == ',' || buf[v.off + i - 1] == ' ') &&
		    (i + n == v.len || buf[v.off + i + n] == ',' || buf[v.off + i + n] == ' '))
			return true;
	}
	return false;
}

static int64_t http_parse_length(const char *buf, struct http_span v)
{
	int64_t n = 0;

	if (v.len == 0 || v.len > 18)
		return -1;
	for (size_t i = 0; i < v.len; i++) {
		char c = buf[v.off + i];
		if (c < '0' || c > '9')
			return -1;
		n = n * 10 + (c - '0');
	}
	return n;
}

/* Interprets one header line (name: value) for the fields flypaper keeps.
 * Lines without a colon are kept in the raw block but not interpreted. */
static void http_header(const char *buf, size_t off, size_t len,
    struct http_request *req, struct http_span *connection)
{
	const char *colon = memchr(buf + off, ':', len);
	struct http_span name, value;

	if (!colon)
		return;
	name = http_trim(buf, off, (size_t)(colon - (buf + off)));
	value = http_trim(buf, (size_t)(colon - buf) + 1,
	    len - (size_t)(colon - (buf + off)) - 1);
	if (http_span_eq(buf, name, "host"))
		req->host = value;
	else if (http_span_eq(buf, name, "user-agent"))
		req->user_agent = value;
	else if (http_span_eq(buf, name, "content-length"))
		req->content_length = http_parse_length(buf, value);
	else if (http_span_eq(buf, name, "transfer-encoding"))
		req->chunked = http_has_token(buf, value, "chunked");
	else if (http_span_eq(buf, name, "connection"))
		*connection = value;
}

int64_t http_parse_request(const char *buf, size_t len, struct http_request *req)
{
	const char *end = buf + len;
	const char *p = buf;
	const char *lf;
	struct http_span connection = {0, 0};
	size_t i;

	memset(req, 0, sizeof(*req));
	req->content_length = -1;

	/* Tolerate a few empty lines before the request (RFC 9112 2.2). */
	while (p < end && (*p == '\r' || *p == '\n')) {
		if (p - buf >= HTTP_LEADING_MAX)
			return HTTP_INVALID;
		p++;
	}
	if (p == end)
		return HTTP_INCOMPLETE;

	/* Method: a token, then whitespace. */
	for (i = 0; p + i < end && http_is_token((unsigned char)p[i]); i++) {
		if (i >= HTTP_METHOD_MAX)
			return HTTP_INVALID;
	}
	if (p + i == end)
		return HTTP_INCOMPLETE;
	if (i == 0 || (p[i] != ' ' && p[i] != '\t'))
		return HTTP_INVALID;
	req->method = (struct http_span){(size_t)(p - buf), i};
	p += i;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;

	/* The rest of the request line: target [SP version]. The version is
	 * the last word when it starts with "HTTP/", so a target with spaces
	 * in it (Nimda's second stage sends one) is still a target. */
	lf = http_eol(p, end);
	if (!lf)
		return HTTP_INCOMPLETE;
	size_t rest = http_line_len(p, lf);
	while (rest && (p[rest - 1] == ' ' || p[rest - 1] == '\t'))
		rest--;
	if (rest == 0)
		return HTTP_INVALID;
	const char *sp = NULL;
	for (i = rest; i > 0; i--) {
		if (p[i - 1] == ' ' || p[i - 1] == '\t') {
			sp = p + i - 1;
			break;
		}
	}
	if (!sp) {
		/* HTTP/0.9: "GET /path", no version, no headers. */
		req->target = (struct http_span){(size_t)(p - buf), rest};
		return (int64_t)(lf + 1 - buf);
	}
	req->version = (struct http_span){(size_t)(sp + 1 - buf), rest - (size_t)(sp + 1 - p)};
	if (req->version.len < 6 || strncmp(buf + req->version.off, "HTTP/", 5) != 0)
		return HTTP_INVALID;
	while (sp > p && (sp[-1] == ' ' || sp[-1] == '\t'))
		sp--;
	req->target = (struct http_span){(size_t)(p - buf), (size_t)(sp - p)};
	p = lf + 1;

	/* Header lines until an empty line. */
	size_t headers_start = (size_t)(p - buf);
	for (;;) {
		lf = http_eol(p, end);
		if (!lf)
			return HTTP_INCOMPLETE;
		size_t n = http_line_len(p, lf);
		if (n == 0)
			break;
		if (p[0] != ' ' && p[0] != '\t')   /* else: a continuation line */
			http_header(buf, (size_t)(p - buf), n, req, &connection);
		p = lf + 1;
	}
	req->headers = (struct http_span){headers_start, (size_t)(p - buf) - headers_start};
	p = lf + 1;

	bool http11 = http_span_eq(buf, req->version, "HTTP/1.1");
	if (connection.len)
		req->keep_alive = http_has_token(buf, connection, "keep-alive") ||
		    (http11 && !http_has_token(buf, connection, "close"));
	else
		req->keep_alive = http11;
	req->head_only = http_span_eq(buf, req->method, "HEAD");
	return (int64_t)(p - buf);
}

/* Checks only the start of a request: at most HTTP_LEADING_MAX CR/LF bytes,
 * then a method token and a space, in O(1) however long buf is. Returns 1
 * when it looks like a request, 0 when more bytes are needed, HTTP_INVALID
 * when it cannot be one. */
static int http_check_start(const char *buf, size_t len)
{
	size_t i = 0, m = 0;

	while (i < len && (buf[i] == '\r' || buf[i] == '\n')) {
		if (i >= HTTP_LEADING_MAX)
			return HTTP_INVALID;
		i++;
	}
	for (; i < len && m <= HTTP_METHOD_MAX; i++, m++) {
		if (buf[i] == ' ' || buf[i] == '\t')
			return m ? 1 : HTTP_INVALID;
		if (!http_is_token((unsigned char)buf[i]))
			return HTTP_INVALID;
	}
	return m > HTTP_METHOD_MAX ? HTTP_INVALID : 0;
}

/* Looks for the end of a request head, the first empty line after the
 * request line, in buf[0..len). The search starts at *hint, which is first
 * the request line's LF and is advanced so that a growing buffer is never
 * rescanned. Returns the head's length, or 0 when not found. */
static size_t http_find_head_end(const char *buf, size_t len, size_t *hint)
{
	size_t i = *hint;

	/* A head ends at LF (CR)? LF. */
	while (i < len) {
		const char *lf = memchr(buf + i, '\n', len - i);
		if (!lf)
			break;
		size_t at = (size_t)(lf - buf) + 1;
		if (at < len && buf[at] == '\n')
			return at + 1;
		if (at + 1 < len && buf[at] == '\r' && buf[at + 1] == '\n')
			return at + 2;
		if (at >= len || (at + 1 >= len && buf[at] == '\r')) {
			/* the next bytes decide: look here again */
			*hint = at - 1;
			return 0;
		}
		i = at;
	}
	*hint = len;
	return 0;
}

/* Decides on the head at the start of buf[0..len), resuming from st. The
 * request line is found first (so HTTP/0.9 ends there and leading empty
 * lines are never taken for the blank line that ends a head), then the
 * blank line after it. A head is invalid when it would be longer than
 * head_max: without an end in len >= head_max bytes, any end is too far. */
static int64_t http_head_next(struct http_stream *st, const char *buf, size_t len,
    size_t head_max, struct http_request *req)
{
	size_t end;
	int64_t rc;

	if (!st->line_end) {
		int start = http_check_start(buf, len);
		if (start != 1)
			return start == 0 ? HTTP_INCOMPLETE : HTTP_INVALID;
		/* The method is there, so the leading empty lines (at most
		 * HTTP_LEADING_MAX bytes) end before the search starts. */
		if (st->scan == 0) {
			while (st->scan < len &&
			    (buf[st->scan] == '\r' || buf[st->scan] == '\n'))
				st->scan++;
		}
		const char *lf = memchr(buf + st->scan, '\n', len - st->scan);
		if (!lf) {
			st->scan = len;
			return len >= head_max ? HTTP_INVALID : HTTP_INCOMPLETE;
		}
		st->line_end = (size_t)(lf - buf) + 1;
		if (st->line_end > head_max)
			return HTTP_INVALID;
		/* With a version, the line alone is incomplete; without one it
		 * is a whole HTTP/0.9 request. */
		rc = http_parse_request(buf, st->line_end, req);
		if (rc != HTTP_INCOMPLETE)
			return rc;
		st->scan = st->line_end - 1;
	}
	end = http_find_head_end(buf, len, &st->scan);
	if (!end)
		return len >= head_max ? HTTP_INVALID : HTTP_INCOMPLETE;
	if (end > head_max)
		return HTTP_INVALID;
	rc = http_parse_request(buf, end, req);
	return rc > 0 ? rc : HTTP_INVALID;
}

int64_t http_stream_next(struct http_stream *st, const char *buf, size_t len,
    size_t head_max, struct http_request *req, size_t *at, uint64_t *body)
{
	int64_t rc;

	*body = 0;
	if (st->invalid)
		return HTTP_INVALID;
	if (st->body_left) {
		size_t avail = len - st->off;
		size_t take = avail < st->body_left ? avail : (size_t)st->body_left;
		st->off += take;
		st->body_left -= take;
		*body = take;
		if (st->body_left)
			return HTTP_INCOMPLETE;
	}
	rc = http_head_next(st, buf + st->off, len - st->off, head_max, req);
	if (rc == HTTP_INVALID)
		st->invalid = true;
	if (rc <= 0)
		return rc;
	*at = st->off;
	st->off += (size_t)rc;
	st->line_end = 0;
	st->scan = 0;
	if (req->chunked)
		st->body_left = UINT64_MAX;  /* the rest of the stream */
	else if (req->content_length > 0)
		st->body_left = (uint64_t)req->content_length;
	return rc;
}

bool http_stream_complete(const struct http_stream *st, size_t len)
{
	return !st->invalid && st->off >= len &&
	    (st->body_left == 0 || st->body_left == UINT64_MAX);
}
