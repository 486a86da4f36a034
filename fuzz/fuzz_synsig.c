/* fuzz_synsig.c - libFuzzer target for the SYN parser and its formatters,
 * as the accept path (TCP_SAVED_SYN) and the packet capture run them on
 * a peer's header bytes: parse, then format every string, whose lengths
 * must stay under their caps. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "synsig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct record_syn s;
	char sig[SYNSIG_SIG_MAX], olayout[SYNSIG_OLAYOUT_MAX], quirks[SYNSIG_QUIRKS_MAX];
	uint8_t *buf = malloc(size ? size : 1);
	int rc;

	memcpy(buf, data, size);
	rc = synsig_parse(buf, size, &s);
	if ((rc == 0) != (s.present == SYN_PARSED) || (rc != 0 && rc != -1))
		__builtin_trap();
	synsig_format(&s, sig);
	synsig_olayout(&s, olayout);
	synsig_quirks(s.quirks, quirks);
	if (strlen(sig) >= sizeof(sig) || strlen(olayout) >= sizeof(olayout) ||
	    strlen(quirks) >= sizeof(quirks) || (rc == 0) != (sig[0] != '\0') ||
	    s.nopts > RECORD_SYN_OPTS)
		__builtin_trap();
	free(buf);
	return 0;
}
