/* fuzz_shape.c - libFuzzer target for the shape of a payload (shape.c),
 * which reads a peer's bytes: the first byte chooses the request count.
 * The input is copied to exactly its size, so a read past it is caught;
 * the long form must be printable ASCII under its cap, and the id
 * "s1:" 16 hex "." 8 hex. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shape sh;
	uint64_t nrequests = 1;
	uint8_t *buf;

	if (size >= 1) {
		nrequests = data[0];
		data++;
		size--;
	}
	buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	bool got = shape_of(buf, size, nrequests, &sh);
	if (got != (size > 0))
		__builtin_trap();
	size_t len = strlen(sh.text);
	if (len >= sizeof(sh.text) || (got && len == 0))
		__builtin_trap();
	for (size_t i = 0; i < len; i++) {
		if (sh.text[i] < 0x20 || sh.text[i] > 0x7e)
			__builtin_trap();
	}
	if (got && (strlen(sh.id) != SHAPE_ID_LEN - 1 || memcmp(sh.id, SHAPE_VERSION ":", 3) != 0 ||
	        sh.id[SHAPE_GROUP_LEN] != '.'))
		__builtin_trap();
	free(buf);
	return 0;
}
