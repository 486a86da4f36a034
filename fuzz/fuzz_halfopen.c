/* fuzz_halfopen.c - libFuzzer target for the capture's frame decoder and
 * what the capture thread does with a decoded segment: the first byte
 * picks the link type, the rest is the frame; a decoded frame's IP span
 * must lie inside it, and goes through the SYN parser as the half-open
 * table does, and the trace's direction check. */
#include <arpa/inet.h>
#include <pcap/dlt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "halfopen.h"
#include "synsig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int links[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW,
	    DLT_IPV4, DLT_IPV6, DLT_NULL};
	struct halfopen_pkt p;
	struct record_syn syn;

	if (size < 1)
		return 0;
	int link = links[data[0] % (sizeof(links) / sizeof(links[0]))];
	size_t n = size - 1;
	uint8_t *buf = malloc(n ? n : 1);
	memcpy(buf, data + 1, n);
	if (halfopen_decode(link, buf, n, &p) == 0) {
		if (p.ip < buf || p.ip + p.iplen != buf + n || p.iplen < 40)
			__builtin_trap();
		synsig_parse(p.ip, p.iplen, &syn);
		if (p.way > HALFOPEN_WAY_LOOP)
			__builtin_trap();
		/* which way it went decides whether the traces keep it */
		struct addr l;
		memset(&l, 0, sizeof(l));
		l.u.v4.sin_family = AF_INET;
		l.u.v4.sin_port = htons(80);
		(void)halfopen_is_ours(&l, 1, &p);
	}
	free(buf);
	return 0;
}
