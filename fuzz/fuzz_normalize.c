/* fuzz_normalize.c - libFuzzer target for the fields rules see: the
 * payload's requests decoded (normalize_payload), and the URL and Log4Shell
 * decoders alone with a small output cap. The input is copied to a buffer
 * of exactly its size, so ASan catches any read past the end; every field
 * must stay under its cap, NUL-terminated where its length says, and no
 * decoder may write more than it was given room for. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "normalize.h"

static struct normalize z;
static char out[NORMALIZE_FIELD_MAX + 16], scratch[NORMALIZE_FIELD_MAX + 16];

/* Checks that a decoder wrote nothing past cap: the guard bytes after it
 * keep their value. */
static void check_guard(size_t len, size_t cap)
{
	if (len > cap)
		__builtin_trap();
	for (size_t i = cap; i < cap + 16; i++) {
		if (out[i] != 0x5a)
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	size_t cap, len;

	memcpy(buf, data, size);
	int n = normalize_payload(&z, (const uint8_t *)buf, size);
	if (n < 0 || n > NORMALIZE_REQUESTS_MAX || (n == 0 && z.len[NORMALIZE_METHOD]))
		__builtin_trap();
	for (int f = 0; f < NORMALIZE_FIELDS; f++) {
		if (z.len[f] >= NORMALIZE_FIELD_MAX || strlen(z.field[f]) != z.len[f])
			__builtin_trap();
	}

	/* The decoders alone, with a cap the first byte picks. */
	cap = size ? 1 + data[0] % 64 * 64 : NORMALIZE_FIELD_MAX;
	memset(out, 0x5a, sizeof(out));
	len = normalize_url(buf, size, size / 2, out, cap, scratch);
	check_guard(len, cap);
	if (len > size)
		__builtin_trap();
	memset(out, 0x5a, sizeof(out));
	len = normalize_log4j(buf, size, out, cap, scratch);
	check_guard(len, cap);
	free(buf);
	return 0;
}
