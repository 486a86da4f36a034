/* fuzz_http.c - libFuzzer target for the HTTP request-head parser. The
 * input is copied to a buffer of exactly its size, so ASan catches any
 * read past the end; spans must stay inside what the parser consumed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static void check_span(struct http_span s, int64_t n)
{
	if (s.off + s.len > (size_t)n)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	struct http_request req;
	size_t hint = 0, end = 0;

	memcpy(buf, data, size);
	int64_t n = http_parse_request(buf, size, &req);
	if (n > (int64_t)size || n == 0 || n < HTTP_INCOMPLETE)
		__builtin_trap();
	if (n > 0) {
		check_span(req.method, n);
		check_span(req.target, n);
		check_span(req.version, n);
		check_span(req.headers, n);
		check_span(req.host, n);
		check_span(req.user_agent, n);
	}
	/* Feed the head finder a growing buffer, as a session does. */
	for (size_t k = 1; k <= size && !end; k += 1 + k / 8)
		end = http_find_head_end(buf, k, &hint);
	if (end > size)
		__builtin_trap();
	(void)http_check_start(buf, size);
	free(buf);
	return 0;
}
