/* frame.h - where the headers of a captured TCP segment are: the link
 * layer, IPv4 or IPv6, TCP. Pure and bounded, for bytes a peer chose: the
 * packet trace keeps the headers whole and cuts the payload, and
 * `flypaper pcap` picks a session's segments by their addresses. */
#ifndef FLYPAPER_FRAME_H
#define FLYPAPER_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* Link types, as libpcap numbers them (DLT_*; pcap/dlt.h), so that this
 * pure file needs no libpcap. */
#define FRAME_DLT_EN10MB 1           /* Ethernet, also what Linux gives for lo */
#define FRAME_DLT_RAW 12             /* no link header: IPv4 or IPv6 */
#define FRAME_DLT_LINUX_SLL 113      /* Linux "cooked" header (device any) */
#define FRAME_DLT_LINUX_SLL2 276     /* its second version */
#define FRAME_DLT_IPV4 228
#define FRAME_DLT_IPV6 229

#define FRAME_IPV6_EXT_MAX 8         /* IPv6 extension headers walked, at most */
/* Headers kept of a segment whose headers cannot be found (not IP, not
 * TCP, cut short): the longest link + IPv4 + TCP headers fit (14 + 60 + 60). */
#define FRAME_HEADERS_GUESS 256

/* Which way a segment went, from the Linux cooked header (LINUX_SLL,
 * LINUX_SLL2: what a capture on `any` gives). */
enum frame_way {
	FRAME_WAY_UNKNOWN,           /* no cooked header: any way */
	FRAME_WAY_IN,                /* to this host */
	FRAME_WAY_OUT,               /* sent by this host (PACKET_OUTGOING) */
	FRAME_WAY_LOOP,              /* on a loopback device: the host is both ends */
};

/* What frame_parse found. */
struct frame {
	int family;                  /* 4 or 6; 0: not IP */
	uint8_t way;                 /* enum frame_way */
	size_t ip;                   /* the IP header's offset in the frame */
	uint32_t seq;                /* the TCP sequence number */
	uint8_t src[16], dst[16];    /* addresses, network order (4 or 16 bytes used) */
	uint16_t sport, dport;       /* host order */
	uint8_t flags;               /* the TCP flags byte */
	size_t headers;              /* link + IP + TCP header bytes */
	uint64_t payload;            /* TCP payload bytes on the wire (IP's lengths) */
};

/* Finds the headers of the TCP segment in bytes (caplen of them captured)
 * of link type linktype. Returns 0 with out filled when the link, IP and
 * TCP headers are all within caplen; -1 otherwise (another link type or
 * protocol, a fragment after the first, headers cut short or malformed),
 * with out->family set if the IP header itself was found. Never reads
 * past caplen. */
int frame_parse(int linktype, const uint8_t *bytes, size_t caplen, struct frame *out);

/* How many of caplen captured bytes the trace keeps: every header, then
 * at most payload bytes of TCP payload; when the headers cannot be found,
 * FRAME_HEADERS_GUESS + payload bytes. Never more than caplen. */
size_t frame_keep(int linktype, const uint8_t *bytes, size_t caplen, size_t payload);

#endif
