/* proxy.c - the PROXY protocol header, v1 and v2, parsed a byte at a time
 * into a buffer that holds the longest header we take. Strict where the
 * specification is (v1: one space between fields, no leading zeros, the
 * family matching the addresses, CRLF within 107 bytes; v2: version 2,
 * command LOCAL or PROXY, every TLV inside the header), because anything
 * else on a listener that expects a header is not our load balancer. */
#include "proxy.h"

#include <arpa/inet.h>
#include <string.h>

static const uint8_t proxy_v2_sig[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
};
static const char proxy_v1_sig[] = "PROXY ";
#define PROXY_V1_SIG_LEN 6

void proxy_init(struct proxy_parser *p)
{
	p->len = 0;
}

static enum proxy_status proxy_fail(struct proxy_result *out,
    enum record_proxy version, enum record_proxy_error error)
{
	out->version = version;
	out->error = error;
	return PROXY_FAIL;
}

/* ---- v1 ------------------------------------------------------------- */

/* A decimal of 1 to maxdigits digits, no leading zero (but "0"), at most
 * max. Returns 0 and the value in *v, or -1. */
static int proxy_decimal(const char *s, size_t len, size_t maxdigits,
    unsigned max, unsigned *v)
{
	unsigned n = 0;

	if (len == 0 || len > maxdigits || (len > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		n = n * 10 + (unsigned)(s[i] - '0');
	}
	if (n > max)
		return -1;
	*v = n;
	return 0;
}

/* A dotted quad, strictly: four decimals 0-255 without leading zeros
 * (inet_pton alone would not say). Writes the 4 bytes. */
static int proxy_ipv4(const char *s, size_t len, uint8_t out[4])
{
	size_t at = 0;

	for (int part = 0; part < 4; part++) {
		size_t end = at;
		unsigned v;
		while (end < len && s[end] != '.')
			end++;
		if (proxy_decimal(s + at, end - at, 3, 255, &v) < 0)
			return -1;
		out[part] = (uint8_t)v;
		if (part < 3 && end == len)
			return -1;
		at = end + 1;
	}
	return at == len + 1 ? 0 : -1;
}

/* An IPv6 address as inet_ntop writes it: hex groups without leading
 * zeros (a dotted quad may end it), then inet_pton for the rest. */
static int proxy_ipv6(const char *s, size_t len, uint8_t out[16])
{
	char text[INET6_ADDRSTRLEN];
	size_t group = 0;            /* hex digits in the current group */

	if (len == 0 || len >= sizeof(text))
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == ':') {
			group = 0;
		} else if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F')) {
			if (group == 1 && s[i - 1] == '0')
				return -1;   /* a leading zero */
			group++;
		} else if (c != '.') {
			return -1;
		}
	}
	memcpy(text, s, len);
	text[len] = '\0';
	if (memchr(s, '.', len)) {
		/* the dotted tail is held to the IPv4 rule too */
		const char *tail = memrchr(s, ':', len);
		uint8_t v4[4];
		if (!tail || proxy_ipv4(tail + 1, len - (size_t)(tail + 1 - s), v4) < 0)
			return -1;
	}
	return inet_pton(AF_INET6, text, out) == 1 ? 0 : -1;
}

static void proxy_addr4(struct addr *a, const uint8_t ip[4], unsigned port)
{
	memset(a, 0, sizeof(*a));
	a->u.v4.sin_family = AF_INET;
	memcpy(&a->u.v4.sin_addr, ip, 4);
	a->u.v4.sin_port = htons((uint16_t)port);
}

static void proxy_addr6(struct addr *a, const uint8_t ip[16], unsigned port)
{
	memset(a, 0, sizeof(*a));
	a->u.v6.sin6_family = AF_INET6;
	memcpy(&a->u.v6.sin6_addr, ip, 16);
	a->u.v6.sin6_port = htons((uint16_t)port);
}

/* The line between "PROXY " and CRLF: "UNKNOWN[ anything]" or
 * "TCP4|TCP6 SRC DST SPORT DPORT", single spaces, nothing more. */
static enum proxy_status proxy_v1_line(const char *line, size_t len,
    struct proxy_result *out)
{
	const char *field[5];
	size_t flen[5];
	int nf = 0;
	size_t at = 0;

	out->version = RECORD_PROXY_V1;
	if (len >= 7 && memcmp(line, "UNKNOWN", 7) == 0 && (len == 7 || line[7] == ' '))
		return PROXY_DONE;   /* the proxy does not know: transport addresses */
	while (nf < 5) {
		size_t end = at;
		while (end < len && line[end] != ' ')
			end++;
		field[nf] = line + at;
		flen[nf] = end - at;
		nf++;
		if (end == len)
			break;
		at = end + 1;
	}
	if (nf != 5 || field[4] + flen[4] != line + len)
		return proxy_fail(out, RECORD_PROXY_V1, PROXY_ERR_MALFORMED);
	unsigned sport, dport;
	if (proxy_decimal(field[3], flen[3], 5, 65535, &sport) < 0 ||
	    proxy_decimal(field[4], flen[4], 5, 65535, &dport) < 0)
		return proxy_fail(out, RECORD_PROXY_V1, PROXY_ERR_MALFORMED);
	if (flen[0] == 4 && memcmp(field[0], "TCP4", 4) == 0) {
		uint8_t s[4], d[4];
		if (proxy_ipv4(field[1], flen[1], s) < 0 || proxy_ipv4(field[2], flen[2], d) < 0)
			return proxy_fail(out, RECORD_PROXY_V1, PROXY_ERR_MALFORMED);
		proxy_addr4(&out->src, s, sport);
		proxy_addr4(&out->dst, d, dport);
	} else if (flen[0] == 4 && memcmp(field[0], "TCP6", 4) == 0) {
		uint8_t s[16], d[16];
		if (proxy_ipv6(field[1], flen[1], s) < 0 || proxy_ipv6(field[2], flen[2], d) < 0)
			return proxy_fail(out, RECORD_PROXY_V1, PROXY_ERR_MALFORMED);
		proxy_addr6(&out->src, s, sport);
		proxy_addr6(&out->dst, d, dport);
	} else {
		return proxy_fail(out, RECORD_PROXY_V1, PROXY_ERR_MALFORMED);
	}
	out->addrs = true;
	return PROXY_DONE;
}

/* buf holds "PROXY " and more, its last byte new. */
static enum proxy_status proxy_v1_step(const struct proxy_parser *p,
    struct proxy_result *out)
{
	uint8_t last = p->buf[p->len - 1];

	if (last == '\n') {
		if (p->buf[p->len - 2] != '\r')
			return proxy_fail(out, RECORD_PROXY_V1, PROXY_ERR_MALFORMED);
		return proxy_v1_line((const char *)p->buf + PROXY_V1_SIG_LEN,
		    p->len - PROXY_V1_SIG_LEN - 2, out);
	}
	if (p->buf[p->len - 2] == '\r' || last == '\0')
		return proxy_fail(out, RECORD_PROXY_V1, PROXY_ERR_MALFORMED);
	if (p->len >= PROXY_V1_MAX)
		return proxy_fail(out, RECORD_PROXY_V1, PROXY_ERR_TOO_LONG);
	return PROXY_MORE;
}

/* ---- v2 ------------------------------------------------------------- */

static size_t proxy_be16(const uint8_t *b)
{
	return (size_t)b[0] << 8 | b[1];
}

/* The address block's size for a family byte under PROXY; 0 for UNSPEC
 * (no block: the rest is ignored); -1 for a family the spec does not
 * define. */
static long proxy_v2_block(uint8_t fam)
{
	switch (fam) {
	case 0x00: return 0;             /* UNSPEC */
	case 0x11: case 0x12: return 12; /* IPv4 stream, dgram */
	case 0x21: case 0x22: return 36; /* IPv6 stream, dgram */
	case 0x31: case 0x32: return 216;/* UNIX stream, dgram */
	default: return -1;
	}
}

/* The whole v2 header is in buf: check it and take the addresses. */
static enum proxy_status proxy_v2_header(const struct proxy_parser *p,
    struct proxy_result *out)
{
	const uint8_t *b = p->buf + PROXY_V2_HEAD;
	size_t body = p->len - PROXY_V2_HEAD;
	uint8_t fam = p->buf[13];
	long block;

	if ((p->buf[12] & 0x0F) == 0x0) {
		/* LOCAL: the proxy speaks for itself (a health check); the
		 * body is skipped unread, as the spec says. */
		out->version = RECORD_PROXY_V2_LOCAL;
		return PROXY_DONE;
	}
	out->version = RECORD_PROXY_V2;
	block = proxy_v2_block(fam);
	if (block < 0 || body < (size_t)block)
		return proxy_fail(out, RECORD_PROXY_V2, PROXY_ERR_MALFORMED);
	if (fam == 0x00)
		return PROXY_DONE;   /* UNSPEC: transport addresses, body ignored */
	/* Every TLV after the block must end inside the header. */
	for (size_t at = (size_t)block; at < body; ) {
		if (body - at < 3 || proxy_be16(b + at + 1) > body - at - 3)
			return proxy_fail(out, RECORD_PROXY_V2, PROXY_ERR_MALFORMED);
		at += 3 + proxy_be16(b + at + 1);
	}
	if (fam == 0x11) {
		proxy_addr4(&out->src, b, (unsigned)proxy_be16(b + 8));
		proxy_addr4(&out->dst, b + 4, (unsigned)proxy_be16(b + 10));
		out->addrs = true;
	} else if (fam == 0x21) {
		proxy_addr6(&out->src, b, (unsigned)proxy_be16(b + 32));
		proxy_addr6(&out->dst, b + 16, (unsigned)proxy_be16(b + 34));
		out->addrs = true;
	}
	/* UDP and UNIX under PROXY: accepted, with the transport addresses
	 * (a TCP session has no use for a datagram or socket path source). */
	return PROXY_DONE;
}

/* buf holds the 12-byte signature and more, its last byte new. */
static enum proxy_status proxy_v2_step(const struct proxy_parser *p,
    struct proxy_result *out)
{
	enum record_proxy v = RECORD_PROXY_V2;

	if (p->len == 13) {
		uint8_t vc = p->buf[12];
		if ((vc & 0xF0) != 0x20 || (vc & 0x0F) > 0x1)
			return proxy_fail(out, v, PROXY_ERR_MALFORMED);
		return PROXY_MORE;
	}
	if (p->len < PROXY_V2_HEAD)
		return PROXY_MORE;
	size_t body = proxy_be16(p->buf + 14);
	if (body > PROXY_V2_BODY_MAX)
		return proxy_fail(out, (p->buf[12] & 0x0F) ? v : RECORD_PROXY_V2_LOCAL,
		    PROXY_ERR_TOO_LONG);
	if (p->len < PROXY_V2_HEAD + body)
		return PROXY_MORE;
	return proxy_v2_header(p, out);
}

/* ---- both ------------------------------------------------------------ */

/* One more byte is in buf: decide, or wait. */
static enum proxy_status proxy_step(const struct proxy_parser *p,
    struct proxy_result *out)
{
	size_t i = p->len - 1;

	if (p->buf[0] == proxy_v2_sig[0]) {
		if (i < sizeof(proxy_v2_sig))
			return p->buf[i] == proxy_v2_sig[i] ? PROXY_MORE
			    : proxy_fail(out, RECORD_PROXY_NONE, PROXY_ERR_MISSING);
		return proxy_v2_step(p, out);
	}
	if (i < PROXY_V1_SIG_LEN)
		return p->buf[i] == (uint8_t)proxy_v1_sig[i] ? PROXY_MORE
		    : proxy_fail(out, RECORD_PROXY_NONE, PROXY_ERR_MISSING);
	return proxy_v1_step(p, out);
}

enum proxy_status proxy_feed(struct proxy_parser *p, const uint8_t *data, size_t n,
    size_t *used, struct proxy_result *out)
{
	enum proxy_status st = PROXY_MORE;
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	/* A byte at a time: the header is at most PROXY_V2_MAX bytes, and
	 * every decision then sees the same bytes however the peer split
	 * them. Each step ends in a decision before buf could overflow (v1
	 * at 107 bytes, v2 at 16 + its checked length). */
	while (i < n && st == PROXY_MORE) {
		p->buf[p->len++] = data[i++];
		st = proxy_step(p, out);
	}
	*used = i;
	return st;
}

enum record_proxy proxy_version_seen(const struct proxy_parser *p)
{
	if (p->len >= sizeof(proxy_v2_sig) &&
	    memcmp(p->buf, proxy_v2_sig, sizeof(proxy_v2_sig)) == 0)
		return p->len > 12 && (p->buf[12] & 0x0F) == 0 ? RECORD_PROXY_V2_LOCAL
		                                                : RECORD_PROXY_V2;
	if (p->len >= PROXY_V1_SIG_LEN && memcmp(p->buf, proxy_v1_sig, PROXY_V1_SIG_LEN) == 0)
		return RECORD_PROXY_V1;
	return RECORD_PROXY_NONE;
}
