/* fuzz_p0fdb.c - libFuzzer target for the p0f database reader and the
 * matcher: the input is a database (read through fmemopen, as the file
 * would be); when it loads, each SYN of a fixed set is matched against it
 * and its label must stay within its caps. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p0fdb.h"
#include "synsig.h"

/* Linux, an IPv6 Linux, nmap's SYN scan, a SYN with EOL padding */
static const char *const fuzz_syns[] = {
	"4500003c12344000400600007f0000017f0000029c401f900000303900000000a002ffd7000000000204ffd70402080a000003e8000000000103030a",
	"60012345002806400000000000000000000000000000000100000000000000000000000000000002b33c1f900000303900000000a002ffc4000000000204ffc40402080a000000010000000001030307",
	"4500002c0d0500002c0600007f0000017f0000029c631f9000003039000000006002040000000000020405b4",
	"4500003012344000400600007f0000017f0000029c461f9000003039000000007002040000000000020405b40300000000000000",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct p0fdb *db;
	FILE *f;

	if (size == 0)
		return 0;
	f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	if (p0fdb_read_stream(f, "fuzz", &db, err, sizeof(err)) == 0) {
		struct p0fdb_cache *c = p0fdb_cache_new(db);
		for (size_t i = 0; i < sizeof(fuzz_syns) / sizeof(fuzz_syns[0]); i++) {
			uint8_t b[256];
			size_t n = strlen(fuzz_syns[i]) / 2;
			struct record_syn s;
			struct record_os os, cached;
			char label[P0FDB_OS_TEXT_MAX];

			for (size_t k = 0; k < n; k++) {
				unsigned v;
				sscanf(fuzz_syns[i] + 2 * k, "%2x", &v);
				b[k] = (uint8_t)v;
			}
			synsig_parse(b, n, &s);
			p0fdb_match(db, &s, &os);
			p0fdb_os_text(&os, label);
			if (c) {
				p0fdb_cache_match(c, &s, &cached);
				if (memcmp(&os, &cached, sizeof(os)))
					__builtin_trap();
			}
			if (strlen(label) >= sizeof(label) || os.match > OS_MATCH_FUZZY_GENERIC ||
			    strlen(os.name) >= sizeof(os.name) || strlen(os.flavor) >= sizeof(os.flavor))
				__builtin_trap();
		}
		p0fdb_cache_free(c);
		p0fdb_free(db);
	} else if (db || !err[0]) {
		__builtin_trap();
	}
	fclose(f);
	return 0;
}
