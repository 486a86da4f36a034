/* fuzz_frame.c - libFuzzer target for the headers of a captured segment
 * (frame.c), as the packet trace and `flypaper pcap` read them, and for
 * trace file names (pcapname.c). The first byte picks the link type and
 * the payload bytes kept. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "pcapname.h"

static const int fuzz_links[] = {
	FRAME_DLT_EN10MB, FRAME_DLT_RAW, FRAME_DLT_LINUX_SLL, FRAME_DLT_LINUX_SLL2,
	FRAME_DLT_IPV4, FRAME_DLT_IPV6, 0,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame f;
	int linktype;
	size_t payload, keep;
	uint8_t *buf;
	char name[PCAPNAME_MAX + 8];
	int64_t start;
	uint32_t seq;

	if (size < 1)
		return 0;
	linktype = fuzz_links[data[0] % (sizeof(fuzz_links) / sizeof(fuzz_links[0]))];
	payload = (size_t)(data[0] >> 3) * 8;
	data++;
	size--;
	/* An exact copy: ASan sees any read past the captured bytes. */
	buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	if (frame_parse(linktype, buf, size, &f) == 0) {
		if (f.headers > size || (f.family != 4 && f.family != 6))
			__builtin_trap();
	}
	keep = frame_keep(linktype, buf, size, payload);
	if (keep > size)
		__builtin_trap();
	free(buf);
	/* The input as a file name. */
	size_t n = size < sizeof(name) - 1 ? size : sizeof(name) - 1;
	memcpy(name, data, n);
	name[n] = '\0';
	if (pcapname_parse(name, &start, &seq) == 0) {
		char again[PCAPNAME_MAX];
		if (strcmp(pcapname_format((time_t)start, seq, again), name) != 0)
			__builtin_trap();
	}
	return 0;
}
