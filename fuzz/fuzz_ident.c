/* fuzz_ident.c - libFuzzer target for the RFC 1413 reply parser. The first
 * four bytes choose the ports the reply must echo. */
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
	enum ident_status st = ident_parse_reply(buf, size, peer, local, &r);
	if (st != IDENT_USERID && st != IDENT_ERROR && st != IDENT_MALFORMED)
		__builtin_trap();
	if (strlen(r.opsys) >= sizeof(r.opsys) || strlen(r.userid) >= sizeof(r.userid))
		__builtin_trap();
	free(buf);
	return 0;
}
