/* fuzz_promtext.c - libFuzzer target for the metrics server's request
 * parser (src/core/promtext.c): the input parsed whole and at every
 * prefix. A complete head must stay complete, with the same length and
 * answer, however many bytes follow it; a prefix of a head never ends it
 * early; nothing reads past len (the copy is exactly its size). The label
 * escaper gets the same bytes as a C string. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "promtext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);
	enum promtext_answer a, first = 0;
	int whole, done = 0;

	memcpy(copy, data, size);
	/* every prefix of a short input, a sample of a long input */
	for (size_t len = 0; len <= size; len += size > 512 ? 61 : 1) {
		int rc = promtext_request(copy, len, &a);
		if (rc > (int)len || rc == 0 || rc > PROMTEXT_HEAD_MAX)
			__builtin_trap();
		if (rc > 0 && !done) {
			done = rc;
			first = a;
		} else if (done && (rc != done || a != first)) {
			__builtin_trap();
		}
		if (done && rc < 0 && rc != PROMTEXT_INVALID)
			__builtin_trap();
	}
	whole = promtext_request(copy, size, &a);
	if (done && (whole != done || a != first))
		__builtin_trap();
	free(copy);

	char *str = malloc(size + 1), out[256];
	memcpy(str, data, size);
	str[size] = '\0';
	size_t need = promtext_escape_label(str, out, sizeof(out));
	if (need < sizeof(out) && strlen(out) != need)
		__builtin_trap();
	free(str);
	return 0;
}
