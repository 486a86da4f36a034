/* fuzz_tlshello.c - libFuzzer target for the ClientHello parser
 * (src/core/tlshello.c). The input is read twice: as a stream (the
 * record layer fuzzed too), and, past its first byte, as a handshake
 * message framed in whole records and in records of 1 + data[0] % 64
 * bytes, which must give the same facts. On every stream, extent and
 * parse agree: the same state (parse may find an OK hello malformed
 * inside; it gives no hello for a prefix too short to be sure of), an
 * end that is final (the stream cut there gives the same
 * answer, one byte shorter is partial), the same facts from the stream
 * cut at the end, and only printable ASCII in every text. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlshello.h"

#define STREAM_MAX (TLSHELLO_MAX + 1024)

static bool printable(const char *s)
{
	for (; *s; s++) {
		if (*s < 0x20 || *s > 0x7e)
			return false;
	}
	return true;
}

/* Whether a and b hold the same facts. */
static bool same(const struct tlshello *a, const struct tlshello *b)
{
	if (tlshello_state(a) != tlshello_state(b) ||
	    tlshello_hello_version(a) != tlshello_hello_version(b))
		return false;
	for (int f = 0; f < TLSHELLO_F_COUNT; f++) {
		char *x = tlshello_text(a, (enum tlshello_field)f);
		char *y = tlshello_text(b, (enum tlshello_field)f);
		bool eq = (!x && !y) || (x && y && strcmp(x, y) == 0);
		if (x && !printable(x))
			__builtin_trap();
		free(x);
		free(y);
		if (!eq)
			return false;
	}
	return true;
}

static void check_stream(const uint8_t *b, size_t n)
{
	size_t end, end2;
	enum tlshello_state st = tlshello_extent(b, n, &end);
	struct tlshello *h = tlshello_parse(b, n);
	enum tlshello_state ps = tlshello_state(h);

	if ((h == NULL) != (ps == TLSHELLO_NONE))
		__builtin_trap();
	/* a prefix too short to say is partial to the extent, no TLS to parse */
	bool unsure = st == TLSHELLO_PARTIAL && n < (n && b[0] == 0x16 ? 3u : 5u);
	if (st == TLSHELLO_OK ? ps != TLSHELLO_OK && ps != TLSHELLO_MALFORMED
	    : st != ps && !(unsure && !h))
		__builtin_trap();
	if (st != TLSHELLO_NONE && st != TLSHELLO_PARTIAL) {
		if (end == 0 || end > n || end > TLSHELLO_MAX)
			__builtin_trap();
		if (tlshello_extent(b, end, &end2) != st || end2 != end)
			__builtin_trap();
		if (tlshello_extent(b, end - 1, &end2) != TLSHELLO_PARTIAL)
			__builtin_trap();
		struct tlshello *cut = tlshello_parse(b, end);
		if (!same(h, cut))
			__builtin_trap();
		tlshello_free(cut);
	} else if (end != 0) {
		__builtin_trap();
	}
	if (h && tlshello_size(h) > sizeof(size_t) * 64 + 2 * TLSHELLO_MAX)
		__builtin_trap();
	same(h, h);
	tlshello_free(h);
}

/* msg in records of step bytes; 0 when that would not fit out. */
static size_t frame(const uint8_t *msg, size_t n, size_t step, uint8_t *out)
{
	size_t w = 0;

	for (size_t at = 0; at < n; at += step) {
		size_t k = n - at < step ? n - at : step;
		if (w + 5 + k > STREAM_MAX)
			return 0;
		out[w++] = 0x16;
		out[w++] = 0x03;
		out[w++] = 0x01;
		out[w++] = (uint8_t)(k >> 8);
		out[w++] = (uint8_t)k;
		memcpy(out + w, msg + at, k);
		w += k;
	}
	return w;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t whole[STREAM_MAX], split[STREAM_MAX];
	uint8_t *buf = malloc(size ? size : 1);

	memcpy(buf, data, size);
	check_stream(buf, size);
	if (size > 1) {
		size_t wn = frame(buf + 1, size - 1, 16384, whole);
		size_t sn = frame(buf + 1, size - 1, 1 + buf[0] % 64, split);
		if (wn && sn) {
			struct tlshello *a = tlshello_parse(whole, wn);
			struct tlshello *b = tlshello_parse(split, sn);
			/* the same message, however framed, unless the
			 * smaller records took it past the cap */
			if (tlshello_state(b) != TLSHELLO_OVERSIZED &&
			    tlshello_state(a) != TLSHELLO_OVERSIZED && !same(a, b))
				__builtin_trap();
			tlshello_free(a);
			tlshello_free(b);
			check_stream(split, sn);
		}
	}
	free(buf);
	return 0;
}
