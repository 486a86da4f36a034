/* synsig.c - the p0f v3 fields of a SYN from its raw headers. Written
 * from p0f's README (section 5, the signature format) and checked against
 * p0f's own raw_sig output (tests/unit/synsig.c); no p0f code. Every
 * read is bounded by len: the bytes are the peer's. */
#include "synsig.h"

#include <stdio.h>
#include <string.h>

#define SYNSIG_IPV6_EXT_MAX 8        /* extension headers walked before giving up */

static unsigned synsig_u16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t synsig_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The IPv4 header: sets the IP fields of out and *tcp_off, *ip_total
 * (the whole packet's length as the header says). -1 when malformed. */
static int synsig_ipv4(const uint8_t *b, size_t len, struct record_syn *out,
    size_t *tcp_off, size_t *ip_total)
{
	size_t ihl;
	unsigned frag;

	if (len < 20)
		return -1;
	ihl = (size_t)(b[0] & 15) * 4;
	if (ihl < 20 || ihl > len || b[9] != 6)
		return -1;
	frag = synsig_u16(b + 6);
	if (frag & 0x1fff)           /* a later fragment: no TCP header */
		return -1;
	out->ver = 4;
	out->ttl = b[8];
	out->olen = (uint8_t)(ihl - 20);
	out->ip_id = (uint16_t)synsig_u16(b + 4);
	out->df = (frag & 0x4000) != 0;
	if (out->df)
		out->quirks |= SYNQ_DF;
	if (out->df && out->ip_id)
		out->quirks |= SYNQ_ID_PLUS;
	if (!out->df && !out->ip_id)
		out->quirks |= SYNQ_ID_MINUS;
	if (b[1] & 3)
		out->quirks |= SYNQ_ECN;
	if (frag & 0x8000)
		out->quirks |= SYNQ_ZERO_PLUS;
	*tcp_off = ihl;
	*ip_total = synsig_u16(b + 2);
	return 0;
}

/* The IPv6 header and its extension headers, up to TCP. -1 when
 * malformed, or when no TCP header follows. */
static int synsig_ipv6(const uint8_t *b, size_t len, struct record_syn *out,
    size_t *tcp_off, size_t *ip_total)
{
	uint32_t first;
	unsigned next;
	size_t off = 40;

	if (len < 40)
		return -1;
	first = synsig_u32(b);
	out->ver = 6;
	out->ttl = b[7];
	if (first & 0xfffff)
		out->quirks |= SYNQ_FLOW;
	if ((first >> 20) & 3)
		out->quirks |= SYNQ_ECN;
	*ip_total = 40 + (size_t)synsig_u16(b + 4);
	next = b[6];
	for (int i = 0; next != 6; i++) {
		size_t hlen;

		if (i == SYNSIG_IPV6_EXT_MAX || off + 8 > len)
			return -1;
		switch (next) {
		case 0:              /* hop-by-hop options */
		case 43:             /* routing */
		case 60:             /* destination options */
			hlen = ((size_t)b[off + 1] + 1) * 8;
			break;
		case 44:             /* fragment: only the first holds TCP */
			if (synsig_u16(b + off + 2) & 0xfff8)
				return -1;
			hlen = 8;
			break;
		case 51:             /* authentication header */
			hlen = ((size_t)b[off + 1] + 2) * 4;
			break;
		default:
			return -1;
		}
		next = b[off];
		off += hlen;
	}
	*tcp_off = off;
	return 0;
}

/* The length a fixed-size option kind has: 0 for the others. */
static size_t synsig_fixed_len(uint8_t kind)
{
	switch (kind) {
	case 2: return 4;            /* MSS */
	case 3: return 3;            /* window scale */
	case 4: return 2;            /* SACK permitted */
	case 8: return 10;           /* timestamps */
	default: return 0;
	}
}

/* Walks the TCP options in opt[0..n): kinds, MSS, scale, timestamps and
 * the option quirks. An option of a fixed size whose length byte is wrong
 * is "bad" but read at its fixed size (as p0f does); one that does not
 * fit, or any other with a length under 2 or past the end, is "bad" and
 * stops the walk. */
static void synsig_options(const uint8_t *opt, size_t n, struct record_syn *out)
{
	size_t i = 0;

	while (i < n && out->nopts < RECORD_SYN_OPTS) {
		uint8_t kind = opt[i];
		size_t olen = synsig_fixed_len(kind);

		out->opts[out->nopts++] = kind;
		if (kind == 0) {     /* EOL: the rest is padding, which should be zero */
			out->eol_pad = (uint8_t)(n - i - 1);
			for (size_t j = i + 1; j < n; j++)
				if (opt[j])
					out->quirks |= SYNQ_OPT_PLUS;
			return;
		}
		if (kind == 1) {     /* NOP */
			i++;
			continue;
		}
		if (olen) {
			if (i + olen > n) {
				out->quirks |= SYNQ_BAD;
				return;
			}
			if (opt[i + 1] != olen)
				out->quirks |= SYNQ_BAD;
		} else {
			if (i + 1 >= n || opt[i + 1] < 2 || i + opt[i + 1] > n) {
				out->quirks |= SYNQ_BAD;
				return;
			}
			olen = opt[i + 1];
		}
		switch (kind) {
		case 2:
			out->mss = (uint16_t)synsig_u16(opt + i + 2);
			break;
		case 3:
			out->wscale = opt[i + 2];
			if (opt[i + 2] > 14)
				out->quirks |= SYNQ_EXWS;
			break;
		case 8:
			out->ts = 1;
			if (!synsig_u32(opt + i + 2))
				out->quirks |= SYNQ_TS1_MINUS;
			if (synsig_u32(opt + i + 6))
				out->quirks |= SYNQ_TS2_PLUS;
			break;
		}
		i += olen;
	}
}

int synsig_parse(const uint8_t *b, size_t len, struct record_syn *out)
{
	size_t off = 0, total = 0, doff;
	const uint8_t *t;
	unsigned flags;
	int rc;

	memset(out, 0, sizeof(*out));
	out->wscale = -1;
	if (!b || len < 1)
		rc = -1;
	else if (b[0] >> 4 == 4)
		rc = synsig_ipv4(b, len, out, &off, &total);
	else if (b[0] >> 4 == 6)
		rc = synsig_ipv6(b, len, out, &off, &total);
	else
		rc = -1;
	if (rc < 0 || off + 20 > len)
		goto malformed;
	t = b + off;
	doff = (size_t)(t[12] >> 4) * 4;
	flags = t[13];
	if (doff < 20 || off + doff > len || !(flags & 0x02) || total < off + doff)
		goto malformed;
	out->pclass = total > off + doff;
	out->win = (uint16_t)synsig_u16(t + 14);
	if (!synsig_u32(t + 4))
		out->quirks |= SYNQ_SEQ_MINUS;
	if (flags & 0x10) {
		if (!synsig_u32(t + 8))
			out->quirks |= SYNQ_ACK_MINUS;
	} else if (synsig_u32(t + 8)) {
		out->quirks |= SYNQ_ACK_PLUS;
	}
	if (flags & 0x20)
		out->quirks |= SYNQ_URGF_PLUS;
	else if (synsig_u16(t + 18))
		out->quirks |= SYNQ_UPTR_PLUS;
	if (flags & 0x08)
		out->quirks |= SYNQ_PUSHF_PLUS;
	if (flags & 0xc0)            /* ECE or CWR */
		out->quirks |= SYNQ_ECN;
	synsig_options(t + 20, doff - 20, out);
	out->present = SYN_PARSED;
	return 0;
malformed:
	memset(out, 0, sizeof(*out));
	out->wscale = -1;
	out->present = SYN_MALFORMED;
	return -1;
}

unsigned synsig_guess_ittl(unsigned ttl)
{
	if (ttl <= 32)
		return 32;
	if (ttl <= 64)
		return 64;
	if (ttl <= 128)
		return 128;
	return 255;
}

void synsig_olayout(const struct record_syn *s, char *buf)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < s->nopts && i < RECORD_SYN_OPTS; i++) {
		const char *sep = i ? "," : "";
		int w;

		switch (s->opts[i]) {
		case 0: w = snprintf(buf + n, SYNSIG_OLAYOUT_MAX - n, "%seol+%u", sep, s->eol_pad); break;
		case 1: w = snprintf(buf + n, SYNSIG_OLAYOUT_MAX - n, "%snop", sep); break;
		case 2: w = snprintf(buf + n, SYNSIG_OLAYOUT_MAX - n, "%smss", sep); break;
		case 3: w = snprintf(buf + n, SYNSIG_OLAYOUT_MAX - n, "%sws", sep); break;
		case 4: w = snprintf(buf + n, SYNSIG_OLAYOUT_MAX - n, "%ssok", sep); break;
		case 5: w = snprintf(buf + n, SYNSIG_OLAYOUT_MAX - n, "%ssack", sep); break;
		case 8: w = snprintf(buf + n, SYNSIG_OLAYOUT_MAX - n, "%sts", sep); break;
		default: w = snprintf(buf + n, SYNSIG_OLAYOUT_MAX - n, "%s?%u", sep, s->opts[i]); break;
		}
		if (w < 0 || (size_t)w >= SYNSIG_OLAYOUT_MAX - n)
			return;      /* cannot happen within 40 options; keeps the cut */
		n += (size_t)w;
	}
}

static const char *const synsig_quirk_names[SYNQ_COUNT] = {
	"df", "id+", "id-", "ecn", "0+", "flow", "seq-", "ack+", "ack-",
	"uptr+", "urgf+", "pushf+", "ts1-", "ts2+", "opt+", "exws", "bad",
};

void synsig_quirks(uint32_t quirks, char *buf)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < SYNQ_COUNT; i++) {
		size_t l = strlen(synsig_quirk_names[i]);

		if (!(quirks & (1u << i)))
			continue;
		if (n + l + 2 > SYNSIG_QUIRKS_MAX)
			return;
		if (n)
			buf[n++] = ',';
		memcpy(buf + n, synsig_quirk_names[i], l + 1);
		n += l;
	}
}

/* Whether win is a multiple of div (> 0): *mul is how many. */
static int synsig_div(unsigned win, unsigned div, unsigned *mul)
{
	if (!div || win % div)
		return 0;
	*mul = win / div;
	return 1;
}

int synsig_window(const struct record_syn *s, unsigned *mul)
{
	unsigned win = s->win, mss = s->mss;

	/* As p0f classes an observed window: a multiple of the MSS (or of the
	 * MSS less a timestamp option, or of a 1500-byte link's), else of the
	 * MTU (the MSS and the headers, or 1500), else the number. */
	if (!win || mss < 100)
		return SYNSIG_WIN_NUMBER;
	if (synsig_div(win, mss, mul) ||
	    (s->ts && synsig_div(win, mss - 12, mul)) ||
	    synsig_div(win, 1500 - 40, mul) ||
	    (s->ts && synsig_div(win, 1500 - 40 - 12, mul)) ||
	    (s->ver == 6 && synsig_div(win, 1500 - 60, mul)) ||
	    (s->ver == 6 && s->ts && synsig_div(win, 1500 - 60 - 12, mul)))
		return SYNSIG_WIN_MSS;
	if (synsig_div(win, mss + 40, mul) ||
	    (s->ver == 6 && synsig_div(win, mss + 60, mul)) ||
	    synsig_div(win, 1500, mul))
		return SYNSIG_WIN_MTU;
	return SYNSIG_WIN_NUMBER;
}

void synsig_wsize(const struct record_syn *s, char *buf, size_t len)
{
	unsigned mul = 0;

	switch (synsig_window(s, &mul)) {
	case SYNSIG_WIN_MSS: snprintf(buf, len, "mss*%u", mul); break;
	case SYNSIG_WIN_MTU: snprintf(buf, len, "mtu*%u", mul); break;
	default: snprintf(buf, len, "%u", s->win); break;
	}
}

int synsig_has_option(const struct record_syn *s, uint8_t kind)
{
	for (unsigned i = 0; i < s->nopts && i < RECORD_SYN_OPTS; i++)
		if (s->opts[i] == kind)
			return 1;
	return 0;
}

void synsig_format(const struct record_syn *s, char *buf)
{
	char olayout[SYNSIG_OLAYOUT_MAX], quirks[SYNSIG_QUIRKS_MAX], wsize[16], dist[8];
	unsigned ittl;

	buf[0] = '\0';
	if (s->present != SYN_PARSED)
		return;
	ittl = synsig_guess_ittl(s->ttl);
	synsig_olayout(s, olayout);
	synsig_quirks(s->quirks, quirks);
	synsig_wsize(s, wsize, sizeof(wsize));
	/* p0f prints "?" for a distance it would not believe */
	if (ittl - s->ttl > SYNSIG_MAX_DIST)
		strcpy(dist, "?");
	else
		snprintf(dist, sizeof(dist), "%u", ittl - s->ttl);
	snprintf(buf, SYNSIG_SIG_MAX, "%u:%u+%s:%u:%u:%s,%d:%s:%s:%s", s->ver, s->ttl,
	    dist, s->olen, s->mss, wsize, s->wscale < 0 ? 0 : s->wscale,
	    olayout, quirks, s->pclass ? "+" : "0");
}
