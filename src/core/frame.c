/* frame.c - the headers of a captured TCP segment, found without trusting
 * a byte of it: every length is checked against what was captured. */
#include "frame.h"

#include <string.h>

#define FRAME_ETHERTYPE_IPV4 0x0800
#define FRAME_ETHERTYPE_IPV6 0x86dd
#define FRAME_ETHERTYPE_VLAN 0x8100
#define FRAME_PROTO_TCP 6
#define FRAME_PACKET_OUTGOING 4      /* linux/if_packet.h PACKET_OUTGOING */
#define FRAME_ARPHRD_LOOPBACK 772    /* linux/if_arp.h ARPHRD_LOOPBACK */

static uint16_t frame_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t frame_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The way of a cooked frame, from its packet type and device type. */
static uint8_t frame_way_of(unsigned pkttype, unsigned hatype)
{
	if (hatype == FRAME_ARPHRD_LOOPBACK)
		return FRAME_WAY_LOOP;
	return pkttype == FRAME_PACKET_OUTGOING ? FRAME_WAY_OUT : FRAME_WAY_IN;
}

/* The IP header's offset in bytes, its version (4, 6; 0: unknown) and
 * the way (a cooked header's) for the link type, or -1 when the link
 * header is cut short or not IP. */
static long frame_link(int linktype, const uint8_t *b, size_t caplen, int *version,
    uint8_t *way)
{
	uint16_t type;
	long off;

	switch (linktype) {
	case FRAME_DLT_EN10MB:
		if (caplen < 14)
			return -1;
		type = frame_be16(b + 12);
		off = 14;
		if (type == FRAME_ETHERTYPE_VLAN) {   /* one 802.1Q tag */
			if (caplen < 18)
				return -1;
			type = frame_be16(b + 16);
			off = 18;
		}
		break;
	case FRAME_DLT_LINUX_SLL:
		if (caplen < 16)
			return -1;
		type = frame_be16(b + 14);
		*way = frame_way_of(frame_be16(b), frame_be16(b + 2));
		off = 16;
		break;
	case FRAME_DLT_LINUX_SLL2:
		if (caplen < 20)
			return -1;
		type = frame_be16(b);
		*way = frame_way_of(b[10], frame_be16(b + 8));
		off = 20;
		break;
	case FRAME_DLT_RAW:
		*version = 0;    /* the version nibble says */
		return 0;
	case FRAME_DLT_IPV4:
		*version = 4;
		return 0;
	case FRAME_DLT_IPV6:
		*version = 6;
		return 0;
	default:
		return -1;
	}
	if (type == FRAME_ETHERTYPE_IPV4)
		*version = 4;
	else if (type == FRAME_ETHERTYPE_IPV6)
		*version = 6;
	else
		return -1;
	return off;
}

/* IPv4 at b (n bytes captured): fills out's addresses and returns the TCP
 * header's offset from b, with *tcp_len the TCP segment's length on the
 * wire; -1 when not the first fragment of TCP or cut short. */
static long frame_ipv4(const uint8_t *b, size_t n, struct frame *out, uint64_t *tcp_len)
{
	size_t ihl, total;

	if (n < 20 || b[0] >> 4 != 4)
		return -1;
	ihl = (size_t)(b[0] & 0x0f) * 4;
	total = frame_be16(b + 2);
	if (ihl < 20 || ihl > n)
		return -1;
	out->family = 4;
	memcpy(out->src, b + 12, 4);
	memcpy(out->dst, b + 16, 4);
	/* A fragment after the first carries no TCP header. */
	if (b[9] != FRAME_PROTO_TCP || (frame_be16(b + 6) & 0x1fff) != 0)
		return -1;
	/* TSO on the sending side gives a total length of 0 on capture. */
	*tcp_len = total >= ihl ? total - ihl : 0;
	return (long)ihl;
}

/* IPv6 at b, walking at most FRAME_IPV6_EXT_MAX extension headers: as
 * frame_ipv4. */
static long frame_ipv6(const uint8_t *b, size_t n, struct frame *out, uint64_t *tcp_len)
{
	uint64_t plen;
	size_t off = 40;
	uint8_t next;

	if (n < 40 || b[0] >> 4 != 6)
		return -1;
	out->family = 6;
	memcpy(out->src, b + 8, 16);
	memcpy(out->dst, b + 24, 16);
	plen = frame_be16(b + 4);
	next = b[6];
	for (int i = 0; next != FRAME_PROTO_TCP; i++) {
		size_t len;
		if (i == FRAME_IPV6_EXT_MAX || off + 8 > n)
			return -1;
		switch (next) {
		case 0:          /* hop-by-hop options */
		case 43:         /* routing */
		case 60:         /* destination options */
			len = ((size_t)b[off + 1] + 1) * 8;
			break;
		case 44:         /* fragment: only the first has the TCP header */
			if ((frame_be16(b + off + 2) & 0xfff8) != 0)
				return -1;
			len = 8;
			break;
		default:
			return -1;
		}
		next = b[off];
		off += len;
	}
	if (off > n)
		return -1;
	*tcp_len = plen + 40 >= off ? plen + 40 - off : 0;
	return (long)off;
}

int frame_parse(int linktype, const uint8_t *bytes, size_t caplen, struct frame *out)
{
	uint64_t tcp_len = 0;
	size_t tcp, doff;
	int version = 0;
	long link, ip;

	memset(out, 0, sizeof(*out));
	link = frame_link(linktype, bytes, caplen, &version, &out->way);
	if (link < 0 || (size_t)link >= caplen)
		return -1;
	if (!version)
		version = bytes[link] >> 4;
	if (version == 4)
		ip = frame_ipv4(bytes + link, caplen - (size_t)link, out, &tcp_len);
	else if (version == 6)
		ip = frame_ipv6(bytes + link, caplen - (size_t)link, out, &tcp_len);
	else
		return -1;
	if (ip < 0)
		return -1;
	tcp = (size_t)link + (size_t)ip;
	if (tcp + 20 > caplen)
		return -1;
	doff = (size_t)(bytes[tcp + 12] >> 4) * 4;
	if (doff < 20 || tcp + doff > caplen)
		return -1;
	out->sport = frame_be16(bytes + tcp);
	out->dport = frame_be16(bytes + tcp + 2);
	out->flags = bytes[tcp + 13];
	out->seq = frame_be32(bytes + tcp + 4);
	out->ip = (size_t)link;
	out->headers = tcp + doff;
	out->payload = tcp_len > doff ? tcp_len - doff : 0;
	return 0;
}

size_t frame_keep(int linktype, const uint8_t *bytes, size_t caplen, size_t payload)
{
	struct frame f;
	size_t keep;

	if (frame_parse(linktype, bytes, caplen, &f) == 0)
		keep = f.headers + (payload < caplen ? payload : caplen);
	else
		keep = FRAME_HEADERS_GUESS + (payload < caplen ? payload : caplen);
	return keep < caplen ? keep : caplen;
}
