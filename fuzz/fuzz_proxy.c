/* fuzz_proxy.c - libFuzzer target for the PROXY protocol header parser
 * (src/capture/proxy.c): the input fed whole, then again split at a point
 * the first byte chooses, and one byte at a time. The three must agree:
 * a header parses the same however the stream is cut. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

/* Feeds data in pieces of step bytes (0: whole, then the rest). */
static enum proxy_status feed(const uint8_t *data, size_t size, size_t first,
    size_t step, size_t *consumed, struct proxy_result *res)
{
	static struct proxy_parser p;
	enum proxy_status st = PROXY_MORE;
	size_t at = 0;

	proxy_init(&p);
	while (at < size && st == PROXY_MORE) {
		size_t n = at == 0 && first ? first : step ? step : size - at;
		size_t used = 0;
		if (n > size - at)
			n = size - at;
		st = proxy_feed(&p, data + at, n, &used, res);
		if (used > n || (st == PROXY_MORE && used != n) || p.len > PROXY_V2_MAX)
			__builtin_trap();
		at += used;
	}
	*consumed = at;
	/* what a timeout or a close would record from the same bytes */
	if (proxy_version_seen(&p) >= RECORD_PROXY_COUNT)
		__builtin_trap();
	return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_result a, b, c;
	size_t ua, ub, uc;
	uint8_t *buf = malloc(size ? size : 1);

	memcpy(buf, data, size);
	enum proxy_status sa = feed(buf, size, 0, 0, &ua, &a);
	enum proxy_status sb = feed(buf, size, size ? 1 + buf[0] % size : 0, 0, &ub, &b);
	enum proxy_status sc = feed(buf, size, 0, 1, &uc, &c);
	if (sa != sb || sa != sc || ua != ub || ua != uc)
		__builtin_trap();
	if (sa != PROXY_MORE && (a.version != c.version || a.error != c.error ||
	    a.addrs != c.addrs || memcmp(&a.src, &c.src, sizeof(a.src)) != 0))
		__builtin_trap();
	if (sa == PROXY_DONE && a.error != PROXY_ERR_NONE)
		__builtin_trap();
	if (sa == PROXY_FAIL && a.error == PROXY_ERR_NONE)
		__builtin_trap();
	free(buf);
	return 0;
}
