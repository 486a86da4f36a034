/* fuzz_http.c - libFuzzer target for the HTTP request-head parser and the
 * stream tracker. The input is copied to a buffer of exactly its size, so
 * ASan catches any read past the end; spans must stay inside what the
 * parser consumed; and the stream tracker must find the same requests when
 * the input arrives in two parts (split where the first byte says) as when
 * it arrives at once. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define FUZZ_KEEP 64                 /* requests compared per input */

struct fuzz_track {
	size_t n;                    /* requests found */
	size_t at[FUZZ_KEEP];        /* where each starts */
	int64_t len[FUZZ_KEEP];      /* its head's length */
	uint64_t body[FUZZ_KEEP];    /* its body bytes */
	int state;                   /* 0 complete, 1 partial, 2 invalid */
};

static void check_span(struct http_span s, int64_t n)
{
	if (s.off + s.len > (size_t)n)
		__builtin_trap();
}

static void check_request(const struct http_request *req, int64_t n)
{
	check_span(req->method, n);
	check_span(req->target, n);
	check_span(req->version, n);
	check_span(req->headers, n);
	check_span(req->host, n);
	check_span(req->user_agent, n);
}

/* Asks the tracker for every request in buf[0..len). */
static void fuzz_feed(struct http_stream *st, const char *buf, size_t len,
    size_t head_max, struct fuzz_track *t)
{
	for (;;) {
		struct http_request req;
		size_t at = 0;
		uint64_t body = 0;
		int64_t rc = http_stream_next(st, buf, len, head_max, &req, &at, &body);
		if (body && t->n && t->n <= FUZZ_KEEP)
			t->body[t->n - 1] += body;
		if (rc <= 0)
			return;
		if (at + (size_t)rc > len || (size_t)rc > head_max)
			__builtin_trap();
		check_request(&req, rc);
		if (t->n < FUZZ_KEEP) {
			t->at[t->n] = at;
			t->len[t->n] = rc;
		}
		t->n++;
	}
}

/* Tracks data[0..size) given in two parts, the first of `split` bytes,
 * each in a buffer of exactly the bytes received so far. */
static void fuzz_track(const uint8_t *data, size_t size, size_t split,
    size_t head_max, struct fuzz_track *t)
{
	struct http_stream st = {0};
	char *buf = malloc(split ? split : 1);

	memset(t, 0, sizeof(*t));
	memcpy(buf, data, split);
	fuzz_feed(&st, buf, split, head_max, t);
	buf = realloc(buf, size ? size : 1);
	memcpy(buf + split, data + split, size - split);
	fuzz_feed(&st, buf, size, head_max, t);
	t->state = st.invalid ? 2 : http_stream_complete(&st, size) ? 0 : 1;
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	struct http_request req;
	struct fuzz_track whole, parts;

	memcpy(buf, data, size);
	int64_t n = http_parse_request(buf, size, &req);
	if (n > (int64_t)size || n == 0 || n < HTTP_INCOMPLETE)
		__builtin_trap();
	if (n > 0)
		check_request(&req, n);
	free(buf);

	/* Split invariance, with the session's head cap or, when the second
	 * byte is odd, a small one that inputs can reach. */
	size_t split = size ? data[0] * size / 256 : 0;
	size_t head_max = size > 1 && (data[1] & 1) ? 16 + data[1] : 256 * 1024;
	fuzz_track(data, size, size, head_max, &whole);
	fuzz_track(data, size, split, head_max, &parts);
	if (whole.n != parts.n || whole.state != parts.state ||
	    memcmp(whole.at, parts.at, sizeof(whole.at)) != 0 ||
	    memcmp(whole.len, parts.len, sizeof(whole.len)) != 0 ||
	    memcmp(whole.body, parts.body, sizeof(whole.body)) != 0)
		abort();
	return 0;
}
