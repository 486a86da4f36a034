/* fuzz_ident.c - libFuzzer target for the RFC 1413 reply framing and
 * parser, as the probe runs them: the line framed, else the whole input
 * parsed. The first four bytes choose the ports the reply must echo. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ident.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ident_reply r;
	unsigned peer = 6191, local = 23;
	char *buf;

	if (size >= 4) {
		peer = (unsigned)(data[0] << 8 | data[1]);
		local = (unsigned)(data[2] << 8 | data[3]);
		data += 4;
		size -= 4;
	}
	buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	ssize_t n = ident_reply_frame(buf, size);
	if (n < -2 || n > (ssize_t)size)
		__builtin_trap();
	enum ident_status st = ident_parse_reply(buf, n >= 0 ? (size_t)n : size, peer,
	    local, &r);
	if (st != IDENT_USERID && st != IDENT_ERROR && st != IDENT_MALFORMED)
		__builtin_trap();
	if (strlen(r.opsys) >= sizeof(r.opsys) || strlen(r.userid) >= sizeof(r.userid))
		__builtin_trap();
	free(buf);
	return 0;
}
