/* tlshello.c - the ClientHello parser (tlshello.h): the record layer
 * walked byte-exactly (a hello split over any number of records or
 * reads gives the same message), the hello's lists kept as the bytes
 * sent, JA3 (Salesforce) and JA4 (FoxIO) computed from them. */
#include "tlshello.h"

#include "text.h"

#include <nettle/md5.h>
#include <nettle/sha2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TLS_RECORD_MAX 16384         /* a plaintext record's fragment (RFC 8446 5.1) */
#define TLS_HANDSHAKE 22             /* the record content type */
#define TLS_CLIENT_HELLO 1           /* the handshake message type */
#define SSLV2_HEAD 11                /* length, type, version, three lengths */

/* The lists a hello carries, each a span of data[]. */
enum tlshello_list {
	L_VERSIONS, L_CIPHERS, L_EXTENSIONS, L_GROUPS, L_POINT_FORMATS,
	L_SIG_ALGS, L_ALPN, L_SNI, L_COUNT
};

struct tlshello_span {
	uint32_t off, len;           /* bytes of data[] */
	uint8_t width;               /* bytes per element (1, 2, 3); 0 for text */
	bool present;
};

struct tlshello {
	size_t size;                 /* this allocation */
	enum tlshello_state state;
	int record_ver, hello_ver;   /* -1 when not seen */
	bool fingerprinted;          /* ja3_md5 and ja4 hold */
	struct tlshello_span list[L_COUNT];
	char ja3_md5[2 * MD5_DIGEST_SIZE + 1];
	char ja4[40];                /* t13d1516h2_ + 12 + _ + 12 */
	uint32_t msg_len;            /* handshake message bytes in data[] */
	uint8_t data[];              /* the message as gathered, then the
	                              * extension types (2 bytes each) */
};

/* The record-layer walk shared by extent and parse. */
struct tlshello_walk {
	size_t end;                  /* the deciding offset */
	int record_ver;
	size_t got;                  /* message bytes gathered */
	size_t need;                 /* the message's length with its header; 0 unknown */
	uint8_t hdr[4];              /* the handshake header */
};

static bool tlshello_grease(unsigned v)
{
	/* RFC 8701: 0x0a0a, 0x1a1a, ... 0xfafa */
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

static enum tlshello_state tlshello_decide(struct tlshello_walk *w,
    enum tlshello_state st, size_t end)
{
	w->end = end;
	return st;
}

/* TLS records of content type 22 carrying the handshake message; copies
 * the message's bytes to out (up to outcap) when out is given. Decides
 * as soon as a byte decides: no later byte changes an answer but
 * PARTIAL. */
static enum tlshello_state tlshello_walk_tls(const uint8_t *b, size_t n,
    uint8_t *out, size_t outcap, struct tlshello_walk *w)
{
	size_t pos = 0;

	for (;;) {
		for (size_t i = 0; i < 5; i++) {
			size_t o = pos + i;
			if (o >= TLSHELLO_MAX)
				return tlshello_decide(w, TLSHELLO_OVERSIZED, TLSHELLO_MAX);
			if (o >= n)
				return TLSHELLO_PARTIAL;
			bool bad = (i == 0 && b[o] != TLS_HANDSHAKE) ||
			    (i == 1 && b[o] != 3) || (i == 2 && b[o] > 4);
			if (bad && pos == 0)
				return TLSHELLO_NONE;
			if (bad)
				return tlshello_decide(w, TLSHELLO_MALFORMED, o + 1);
		}
		size_t len = (size_t)b[pos + 3] << 8 | b[pos + 4];
		/* a zero-length handshake fragment is forbidden (RFC 8446 5.1) */
		if (len == 0 || len > TLS_RECORD_MAX)
			return tlshello_decide(w, TLSHELLO_MALFORMED, pos + 5);
		if (pos == 0)
			w->record_ver = b[1] << 8 | b[2];
		pos += 5;
		size_t i = 0;
		while (i < len) {
			size_t o = pos + i;
			if (o >= TLSHELLO_MAX)
				return tlshello_decide(w, TLSHELLO_OVERSIZED, TLSHELLO_MAX);
			if (o >= n)
				return TLSHELLO_PARTIAL;
			if (w->got < 4) {
				/* the handshake header, itself splittable */
				w->hdr[w->got] = b[o];
				if (out && w->got < outcap)
					out[w->got] = b[o];
				w->got++;
				i++;
				if (w->got == 1 && b[o] != TLS_CLIENT_HELLO)
					return tlshello_decide(w, TLSHELLO_MALFORMED, o + 1);
				if (w->got == 4) {
					size_t body = (size_t)w->hdr[1] << 16 |
					    (size_t)w->hdr[2] << 8 | w->hdr[3];
					w->need = 4 + body;
					/* its last byte cannot come before o + body */
					if (o + body >= TLSHELLO_MAX)
						return tlshello_decide(w, TLSHELLO_OVERSIZED, o + 1);
				}
			} else {
				size_t k = len - i;
				if (k > w->need - w->got)
					k = w->need - w->got;
				if (k > n - o)
					k = n - o;
				if (k > TLSHELLO_MAX - o)
					k = TLSHELLO_MAX - o;
				if (out && w->got + k <= outcap)
					memcpy(out + w->got, b + o, k);
				w->got += k;
				i += k;
			}
			if (w->got >= 4 && w->got == w->need)
				return tlshello_decide(w, TLSHELLO_OK, pos + i);
		}
		pos += len;
	}
}

/* An SSLv2-compatible CLIENT-HELLO (2-byte header with the high bit):
 * recognised by its type and version, judged by its three lengths. */
static enum tlshello_state tlshello_judge_sslv2(const uint8_t *b, size_t n,
    size_t len, struct tlshello_walk *w)
{
	if (2 + len > TLSHELLO_MAX)
		return tlshello_decide(w, TLSHELLO_OVERSIZED, 5);
	if (len < SSLV2_HEAD - 2)
		return tlshello_decide(w, TLSHELLO_MALFORMED, 5);
	if (n < SSLV2_HEAD)
		return TLSHELLO_PARTIAL;
	size_t cs = (size_t)b[5] << 8 | b[6], sid = (size_t)b[7] << 8 | b[8];
	size_t ch = (size_t)b[9] << 8 | b[10];
	if (SSLV2_HEAD - 2 + cs + sid + ch != len || cs == 0 || cs % 3 ||
	    (sid != 0 && sid != 16) || ch < 16 || ch > 32)
		return tlshello_decide(w, TLSHELLO_MALFORMED, SSLV2_HEAD);
	if (n < 2 + len)
		return TLSHELLO_PARTIAL;
	return tlshello_decide(w, TLSHELLO_SSLV2, 2 + len);
}

/* An SSLv2-compatible CLIENT-HELLO (2-byte header with the high bit):
 * recognised by its type and version, judged by its three lengths. The
 * message is copied up to the deciding byte, as the TLS walk does. */
static enum tlshello_state tlshello_walk_sslv2(const uint8_t *b, size_t n,
    uint8_t *out, size_t outcap, struct tlshello_walk *w)
{
	size_t len = (size_t)(b[0] & 0x7f) << 8 | (n > 1 ? b[1] : 0);

	if (n < 3)
		return TLSHELLO_PARTIAL;
	if (b[2] != TLS_CLIENT_HELLO || (n > 3 && b[3] != 0 && b[3] != 3))
		return TLSHELLO_NONE;
	if (n < 5)
		return TLSHELLO_PARTIAL;
	unsigned ver = b[3] << 8 | b[4];
	if (ver != 2 && (ver < 0x0300 || ver > 0x0304))
		return TLSHELLO_NONE;
	enum tlshello_state st = tlshello_judge_sslv2(b, n, len, w);
	size_t upto = st == TLSHELLO_PARTIAL ? n : w->end;
	if (upto > 2 + len)
		upto = 2 + len;
	if (out) {
		w->got = upto - 2 < outcap ? upto - 2 : outcap;
		memcpy(out, b + 2, w->got);
	}
	return st;
}

static enum tlshello_state tlshello_walk(const uint8_t *b, size_t n,
    uint8_t *out, size_t outcap, struct tlshello_walk *w)
{
	memset(w, 0, sizeof(*w));
	w->record_ver = -1;
	if (n == 0)
		return TLSHELLO_PARTIAL;
	if (b[0] == TLS_HANDSHAKE)
		return tlshello_walk_tls(b, n, out, outcap, w);
	if (b[0] & 0x80)
		return tlshello_walk_sslv2(b, n, out, outcap, w);
	return TLSHELLO_NONE;
}

enum tlshello_state tlshello_extent(const uint8_t *b, size_t n, size_t *end)
{
	struct tlshello_walk w;
	enum tlshello_state st = tlshello_walk(b, n, NULL, 0, &w);

	*end = st == TLSHELLO_NONE || st == TLSHELLO_PARTIAL ? 0 : w.end;
	return st;
}

/* A bounded reader over the hello's body. */
struct tlshello_rd {
	const uint8_t *p;
	size_t at;                   /* next byte */
	size_t avail;                /* bytes that arrived */
	size_t limit;                /* bytes the enclosing length allows */
	bool cut;                    /* a field went past what arrived */
	bool bad;                    /* a field went past its enclosing length */
};

/* Takes k bytes, their offset in *off; false (cut or bad set) when they
 * are not there. */
static bool tlshello_take(struct tlshello_rd *r, size_t k, size_t *off)
{
	if (k > r->limit - r->at) {
		r->bad = true;
		return false;
	}
	if (k > r->avail - r->at) {
		r->cut = true;
		return false;
	}
	*off = r->at;
	r->at += k;
	return true;
}

static bool tlshello_u8(struct tlshello_rd *r, size_t *v)
{
	size_t off;

	if (!tlshello_take(r, 1, &off))
		return false;
	*v = r->p[off];
	return true;
}

static bool tlshello_u16(struct tlshello_rd *r, size_t *v)
{
	size_t off;

	if (!tlshello_take(r, 2, &off))
		return false;
	*v = (size_t)r->p[off] << 8 | r->p[off + 1];
	return true;
}

static unsigned tlshello_at(const uint8_t *p, size_t i, unsigned width)
{
	unsigned v = 0;

	for (unsigned k = 0; k < width; k++)
		v = v << 8 | p[i * width + k];
	return v;
}

static void tlshello_set(struct tlshello *h, enum tlshello_list l, size_t off,
    size_t len, unsigned width)
{
	h->list[l] = (struct tlshello_span){(uint32_t)off, (uint32_t)len,
	    (uint8_t)width, true};
}

/* A length-prefixed vector filling an extension's data exactly: its
 * elements' span, or false when the lengths disagree or it is empty. */
static bool tlshello_vector(const uint8_t *d, size_t len, size_t prefix,
    unsigned width, size_t *off, size_t *vlen)
{
	if (len < prefix)
		return false;
	size_t v = prefix == 1 ? d[0] : (size_t)d[0] << 8 | d[1];
	if (v != len - prefix || v == 0 || v % width)
		return false;
	*off = prefix;
	*vlen = v;
	return true;
}

/* server_name: the first host_name of a well-formed list. */
static bool tlshello_sni(const uint8_t *d, size_t len, size_t *off, size_t *nlen)
{
	size_t at, vlen;
	bool found = false;

	if (!tlshello_vector(d, len, 2, 1, &at, &vlen))
		return false;
	while (at < len) {
		if (len - at < 3)
			return false;
		size_t type = d[at], n = (size_t)d[at + 1] << 8 | d[at + 2];
		if (n == 0 || n > len - at - 3)
			return false;
		if (type == 0 && !found) {
			*off = at + 3;
			*nlen = n;
			found = true;
		}
		at += 3 + n;
	}
	return found;
}

/* ALPN: a list of non-empty names, each with its length byte. */
static bool tlshello_alpn_ok(const uint8_t *d, size_t len)
{
	size_t at = 0;

	while (at < len) {
		if (d[at] == 0 || d[at] > len - at - 1)
			return false;
		at += 1 + d[at];
	}
	return true;
}

/* One extension's data (base: its offset in data[]); false when it
 * breaks its specification. The first of each kind counts. */
static bool tlshello_extension(struct tlshello *h, size_t type, size_t base,
    size_t len)
{
	static const struct {
		unsigned type;
		enum tlshello_list list;
		size_t prefix;
		unsigned width;
	} known[] = {
		{0x000a, L_GROUPS, 2, 2},
		{0x000b, L_POINT_FORMATS, 1, 1},
		{0x000d, L_SIG_ALGS, 2, 2},
		{0x0010, L_ALPN, 2, 1},
		{0x002b, L_VERSIONS, 1, 2},
	};
	const uint8_t *d = h->data + base;
	size_t off, vlen;

	if (type == 0x0000) {
		if (h->list[L_SNI].present)
			return false;
		if (!tlshello_sni(d, len, &off, &vlen))
			return false;
		tlshello_set(h, L_SNI, base + off, vlen, 0);
		return true;
	}
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (known[i].type != type)
			continue;
		if (h->list[known[i].list].present)
			return false;
		if (!tlshello_vector(d, len, known[i].prefix, known[i].width, &off, &vlen))
			return false;
		if (known[i].list == L_ALPN && !tlshello_alpn_ok(d + off, vlen))
			return false;
		tlshello_set(h, known[i].list, base + off, vlen,
		    known[i].list == L_ALPN ? 0 : known[i].width);
		return true;
	}
	return true;
}

/* The ClientHello's body (RFC 8446 4.1.2; extensions optional before TLS
 * 1.3): its lists as spans of data[]. Sets *whole when every list was
 * read to its end, *bad when something breaks the specification. */
static void tlshello_body(struct tlshello *h, size_t need, size_t types_at,
    bool *whole, bool *bad)
{
	struct tlshello_rd r = {.p = h->data + 4};
	size_t v, off, ntypes = 0;

	*whole = false;
	if (h->msg_len < 4)
		return;
	r.limit = need - 4;
	r.avail = h->msg_len - 4 < r.limit ? h->msg_len - 4 : r.limit;
	if (!tlshello_u16(&r, &v))
		goto out;
	h->hello_ver = (int)v;
	if (!tlshello_take(&r, 32, &off) || !tlshello_u8(&r, &v))
		goto out;
	*bad |= v > 32;
	if (!tlshello_take(&r, v, &off) || !tlshello_u16(&r, &v))
		goto out;
	if (v % 2) {
		r.bad = true;
		goto out;
	}
	*bad |= v == 0;
	if (!tlshello_take(&r, v, &off))
		goto out;
	tlshello_set(h, L_CIPHERS, 4 + off, v, 2);
	if (!tlshello_u8(&r, &v))
		goto out;
	*bad |= v == 0;
	if (!tlshello_take(&r, v, &off))
		goto out;
	if (r.at == r.limit) {
		/* no extensions at all (TLS 1.2 and before allow it) */
		*whole = true;
		goto out;
	}
	if (!tlshello_u16(&r, &v))
		goto out;
	tlshello_set(h, L_EXTENSIONS, types_at, 0, 2);
	if (v > r.limit - r.at) {
		r.bad = true;
		goto out;
	}
	*bad |= v != r.limit - r.at;      /* bytes after the extensions */
	r.limit = r.at + v;
	if (r.avail > r.limit)
		r.avail = r.limit;
	while (r.at < r.limit) {
		size_t type, len;
		if (!tlshello_u16(&r, &type) || !tlshello_u16(&r, &len) ||
		    !tlshello_take(&r, len, &off))
			goto out;
		h->data[types_at + 2 * ntypes] = (uint8_t)(type >> 8);
		h->data[types_at + 2 * ntypes + 1] = (uint8_t)type;
		h->list[L_EXTENSIONS].len = (uint32_t)(2 * ++ntypes);
		if (!tlshello_extension(h, type, 4 + off, len))
			*bad = true;
	}
	*whole = true;
out:
	*bad |= r.bad;
}

static void tlshello_body_sslv2(struct tlshello *h, bool *bad)
{
	const uint8_t *m = h->data;

	(void)bad;
	if (h->msg_len < 3)
		return;
	h->hello_ver = m[1] << 8 | m[2];
	if (h->msg_len < SSLV2_HEAD - 2)
		return;
	size_t cs = (size_t)m[3] << 8 | m[4];
	if (cs % 3 == 0 && SSLV2_HEAD - 2 + cs <= h->msg_len)
		tlshello_set(h, L_CIPHERS, SSLV2_HEAD - 2, cs, 3);
}

/* A growing string, for the lists and the fingerprints. */
struct tlshello_buf {
	char *s;
	size_t len, cap;
	bool failed;
};

static void tlshello_put(struct tlshello_buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->s, cap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* v in hex with width digits (hex) or in decimal (width 0): by hand,
 * since snprintf per value made the lists cost several times the parse. */
static void tlshello_putv(struct tlshello_buf *b, unsigned v, unsigned width)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[12];
	size_t n = 0;

	if (width) {
		for (unsigned i = width; i-- > 0; )
			tmp[n++] = hex[(v >> (4 * i)) & 15];
	} else {
		char rev[12];
		size_t k = 0;
		do {
			rev[k++] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		while (k)
			tmp[n++] = rev[--k];
	}
	tlshello_put(b, tmp, n);
}

/* The string built, or NULL (freed) when memory ran out. */
static char *tlshello_done(struct tlshello_buf *b)
{
	if (b->failed) {
		free(b->s);
		return NULL;
	}
	if (!b->s)
		tlshello_put(b, "", 0);
	return b->failed ? NULL : b->s;
}

static size_t tlshello_count(const struct tlshello *h, enum tlshello_list l)
{
	const struct tlshello_span *sp = &h->list[l];

	return sp->present && sp->width ? sp->len / sp->width : 0;
}

static unsigned tlshello_item(const struct tlshello *h, enum tlshello_list l,
    size_t i)
{
	const struct tlshello_span *sp = &h->list[l];

	return tlshello_at(h->data + sp->off, i, sp->width);
}

/* A list's elements as hex of its width, comma-joined, as sent. */
static char *tlshello_hex_list(const struct tlshello *h, enum tlshello_list l)
{
	struct tlshello_buf b = {0};
	size_t n = tlshello_count(h, l);

	for (size_t i = 0; i < n; i++) {
		if (i)
			tlshello_put(&b, ",", 1);
		tlshello_putv(&b, tlshello_item(h, l, i), 2u * h->list[l].width);
	}
	return tlshello_done(&b);
}

/* Peer bytes as text.h escapes them, a comma too (it separates). */
static void tlshello_put_escaped(struct tlshello_buf *b, const uint8_t *p, size_t n)
{
	char tmp[4 * 32 + 1];

	for (size_t at = 0; at < n; ) {
		size_t k = n - at < 32 ? n - at : 32;
		size_t w = text_escape_into(p + at, k, tmp, sizeof(tmp), false);
		for (size_t i = 0; i < w; i++) {
			if (tmp[i] == ',')
				tlshello_put(b, "\\x2c", 4);
			else
				tlshello_put(b, tmp + i, 1);
		}
		at += k;
	}
}

static char *tlshello_alpn_text(const struct tlshello *h)
{
	const struct tlshello_span *sp = &h->list[L_ALPN];
	const uint8_t *d = h->data + sp->off;
	struct tlshello_buf b = {0};

	for (size_t at = 0; at < sp->len; at += 1 + d[at]) {
		if (at)
			tlshello_put(&b, ",", 1);
		tlshello_put_escaped(&b, d + at + 1, d[at]);
	}
	return tlshello_done(&b);
}

/* Salesforce's JA3: SSLVersion,Ciphers,Extensions,EllipticCurves,
 * EllipticCurvePointFormats in decimal, dash-joined, GREASE left out. */
static char *tlshello_ja3(const struct tlshello *h)
{
	static const enum tlshello_list parts[] = {L_CIPHERS, L_EXTENSIONS, L_GROUPS,
	    L_POINT_FORMATS};
	struct tlshello_buf b = {0};

	tlshello_putv(&b, (unsigned)h->hello_ver, 0);
	for (size_t p = 0; p < sizeof(parts) / sizeof(parts[0]); p++) {
		const char *sep = "";
		tlshello_put(&b, ",", 1);
		for (size_t i = 0; i < tlshello_count(h, parts[p]); i++) {
			unsigned v = tlshello_item(h, parts[p], i);
			if (h->list[parts[p]].width == 2 && tlshello_grease(v))
				continue;
			tlshello_put(&b, sep, strlen(sep));
			tlshello_putv(&b, v, 0);
			sep = "-";
		}
	}
	return tlshello_done(&b);
}

static int tlshello_cmp(const void *a, const void *b)
{
	unsigned x = *(const uint16_t *)a, y = *(const uint16_t *)b;

	return (x > y) - (x < y);
}

/* A list without GREASE (and without SNI and ALPN with drop_named) into
 * out (count returned), sorted when asked. */
static size_t tlshello_plain(const struct tlshello *h, enum tlshello_list l,
    bool drop_named, bool sorted, uint16_t *out)
{
	size_t n = 0;

	for (size_t i = 0; i < tlshello_count(h, l); i++) {
		unsigned v = tlshello_item(h, l, i);
		if (tlshello_grease(v) || (drop_named && (v == 0x0000 || v == 0x0010)))
			continue;
		out[n++] = (uint16_t)v;
	}
	if (sorted)
		qsort(out, n, sizeof(*out), tlshello_cmp);
	return n;
}

static void tlshello_put_hex16(struct tlshello_buf *b, const uint16_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			tlshello_put(b, ",", 1);
		tlshello_putv(b, v[i], 4);
	}
}

/* JA4's version: the highest non-GREASE supported_versions entry, else
 * the legacy version. */
static const char *tlshello_ja4_version(const struct tlshello *h)
{
	static const struct {
		unsigned v;
		const char *name;
	} names[] = {
		{0x0304, "13"}, {0x0303, "12"}, {0x0302, "11"}, {0x0301, "10"},
		{0x0300, "s3"}, {0x0002, "s2"}, {0xfeff, "d1"}, {0xfefd, "d2"},
		{0xfefc, "d3"},
	};
	unsigned best = 0;
	bool found = false;

	for (size_t i = 0; i < tlshello_count(h, L_VERSIONS); i++) {
		unsigned v = tlshello_item(h, L_VERSIONS, i);
		if (!tlshello_grease(v) && (!found || v > best)) {
			best = v;
			found = true;
		}
	}
	if (!found)
		best = (unsigned)h->hello_ver;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i].v == best)
			return names[i].name;
	}
	return "00";
}

static bool tlshello_alnum(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* JA4's ALPN pair: the first name's first and last bytes when both are
 * alphanumeric, else the first and last hex digits of the name. */
static void tlshello_ja4_alpn(const struct tlshello *h, char out[3])
{
	static const char hex[] = "0123456789abcdef";
	const struct tlshello_span *sp = &h->list[L_ALPN];

	strcpy(out, "00");
	if (!sp->present || sp->len < 2)
		return;
	const uint8_t *name = h->data + sp->off + 1;
	size_t n = h->data[sp->off];
	uint8_t first = name[0], last = name[n - 1];
	if (tlshello_alnum(first) && tlshello_alnum(last)) {
		out[0] = (char)first;
		out[1] = (char)last;
	} else {
		out[0] = hex[first >> 4];
		out[1] = hex[last & 15];
	}
}

/* sha256 of s, its first 12 hex digits into out (13 bytes). */
static void tlshello_sha12(const char *s, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	struct sha256_ctx c;
	uint8_t d[SHA256_DIGEST_SIZE];

	sha256_init(&c);
	sha256_update(&c, n, (const uint8_t *)s);
	sha256_digest(&c, sizeof(d), d);
	for (int i = 0; i < 6; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[12] = '\0';
}

/* Appends JA4's part b or c to out: part's text as it is (ja4_r), else
 * twelve zeros when its list (n items) is empty, else its truncated
 * SHA-256. Frees part and leaves it empty. Returns whether part failed
 * (out of memory). */
static bool tlshello_ja4_part(struct tlshello_buf *out, struct tlshello_buf *part,
    size_t n, bool raw)
{
	bool failed = part->failed;
	char hash[13];

	if (raw)
		tlshello_put(out, part->s ? part->s : "", part->len);
	else if (n == 0)
		tlshello_put(out, "000000000000", 12);
	else if (!failed) {
		tlshello_sha12(part->s, part->len, hash);
		tlshello_put(out, hash, 12);
	}
	free(part->s);
	*part = (struct tlshello_buf){0};
	return failed;
}

/* FoxIO's JA4 (technical_details/JA4.md), hashed or raw (ja4_r: the
 * sorted lists themselves). */
static char *tlshello_ja4_text(const struct tlshello *h, bool raw)
{
	size_t nc = tlshello_count(h, L_CIPHERS), ne = tlshello_count(h, L_EXTENSIONS);
	size_t ns = tlshello_count(h, L_SIG_ALGS);
	uint16_t *v = malloc(sizeof(*v) * (nc + ne + ns + 1));
	struct tlshello_buf b = {0}, part = {0};
	char alpn[3], a[16];

	if (!v)
		return NULL;
	size_t ciphers = tlshello_plain(h, L_CIPHERS, false, false, v);
	size_t exts = tlshello_plain(h, L_EXTENSIONS, false, false, v);
	bool sni = false;
	for (size_t i = 0; i < ne; i++)
		sni |= tlshello_item(h, L_EXTENSIONS, i) == 0x0000;
	tlshello_ja4_alpn(h, alpn);
	snprintf(a, sizeof(a), "t%s%c%02zu%02zu%s", tlshello_ja4_version(h),
	    sni ? 'd' : 'i', ciphers > 99 ? 99 : ciphers, exts > 99 ? 99 : exts, alpn);
	tlshello_put(&b, a, strlen(a));

	/* b: the ciphers, sorted */
	tlshello_put(&b, "_", 1);
	size_t n = tlshello_plain(h, L_CIPHERS, false, true, v);
	tlshello_put_hex16(&part, v, n);
	bool failed = tlshello_ja4_part(&b, &part, n, raw);

	/* c: the extensions sorted (no SNI, no ALPN), _ the signature
	 * algorithms as sent */
	tlshello_put(&b, "_", 1);
	n = tlshello_plain(h, L_EXTENSIONS, true, true, v);
	tlshello_put_hex16(&part, v, n);
	size_t nsig = tlshello_plain(h, L_SIG_ALGS, false, false, v);
	if (nsig) {
		tlshello_put(&part, "_", 1);
		tlshello_put_hex16(&part, v, nsig);
	}
	failed |= tlshello_ja4_part(&b, &part, n, raw);
	free(v);
	if (failed)
		b.failed = true;
	return tlshello_done(&b);
}

/* JA3's MD5 and JA4, kept: the sinks all need them. */
static bool tlshello_fingerprint(struct tlshello *h)
{
	static const char hex[] = "0123456789abcdef";
	char *ja3 = tlshello_ja3(h), *ja4 = tlshello_ja4_text(h, false);
	struct md5_ctx c;
	uint8_t d[MD5_DIGEST_SIZE];
	bool ok = ja3 && ja4 && strlen(ja4) < sizeof(h->ja4);

	if (ok) {
		md5_init(&c);
		md5_update(&c, strlen(ja3), (const uint8_t *)ja3);
		md5_digest(&c, sizeof(d), d);
		for (size_t i = 0; i < sizeof(d); i++) {
			h->ja3_md5[2 * i] = hex[d[i] >> 4];
			h->ja3_md5[2 * i + 1] = hex[d[i] & 15];
		}
		h->ja3_md5[2 * sizeof(d)] = '\0';
		strcpy(h->ja4, ja4);
	}
	free(ja3);
	free(ja4);
	return ok;
}

struct tlshello *tlshello_parse(const uint8_t *b, size_t n)
{
	struct tlshello_walk w;
	bool whole = false, bad = false;

	if (n > TLSHELLO_MAX)
		n = TLSHELLO_MAX;     /* the walk never looks further */
	if (n == 0)
		return NULL;
	/* The message is never longer than the stream; its extension types
	 * (4 bytes of the message each at least) take half as much again. */
	size_t cap = n, size = sizeof(struct tlshello) + cap + cap / 2 + 2;
	struct tlshello *h = calloc(1, size);
	if (!h)
		return NULL;
	enum tlshello_state st = tlshello_walk(b, n, h->data, cap, &w);
	/* A prefix too short to say it is a handshake (a record's type and
	 * version, an SSLv2 header's type and version) is no TLS seen: a
	 * payload of one byte 0x16, or of two random bytes, is not a hello. */
	if (st == TLSHELLO_NONE ||
	    (st == TLSHELLO_PARTIAL && n < (b[0] == TLS_HANDSHAKE ? 3u : 5u))) {
		free(h);
		return NULL;
	}
	h->state = st;
	h->record_ver = w.record_ver;
	h->hello_ver = -1;
	h->msg_len = (uint32_t)(w.got < cap ? w.got : cap);
	if (b[0] == TLS_HANDSHAKE) {
		/* the types go right after the message, whose length is now known */
		tlshello_body(h, w.need ? w.need : 4, h->msg_len, &whole, &bad);
		if (st == TLSHELLO_OK && bad)
			h->state = TLSHELLO_MALFORMED;
		if (st == TLSHELLO_OK && whole)
			h->fingerprinted = tlshello_fingerprint(h);
	} else {
		tlshello_body_sslv2(h, &bad);
	}
	size = sizeof(struct tlshello) + h->msg_len + h->list[L_EXTENSIONS].len;
	struct tlshello *shrunk = realloc(h, size);
	if (shrunk)
		h = shrunk;
	h->size = shrunk ? size : sizeof(struct tlshello) + cap + cap / 2 + 2;
	return h;
}

size_t tlshello_size(const struct tlshello *h)
{
	return h ? h->size : 0;
}

void tlshello_free(struct tlshello *h)
{
	free(h);
}

enum tlshello_state tlshello_state(const struct tlshello *h)
{
	return h ? h->state : TLSHELLO_NONE;
}

const char *tlshello_state_name(enum tlshello_state s)
{
	static const char *const names[] = {
		[TLSHELLO_NONE] = NULL,
		[TLSHELLO_OK] = "hello",
		[TLSHELLO_SSLV2] = "sslv2",
		[TLSHELLO_PARTIAL] = "partial",
		[TLSHELLO_MALFORMED] = "malformed",
		[TLSHELLO_OVERSIZED] = "oversized",
	};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : NULL;
}

int tlshello_record_version(const struct tlshello *h)
{
	return h ? h->record_ver : -1;
}

int tlshello_hello_version(const struct tlshello *h)
{
	return h ? h->hello_ver : -1;
}

const char *tlshello_field_name(enum tlshello_field f)
{
	static const char *const names[TLSHELLO_F_COUNT] = {
		"tls_versions", "tls_ciphers", "tls_extensions", "tls_groups",
		"tls_point_formats", "tls_sig_algs", "tls_alpn", "tls_sni",
		"ja3", "ja3_md5", "ja4", "ja4_r",
	};

	return (unsigned)f < TLSHELLO_F_COUNT ? names[f] : NULL;
}

char *tlshello_text(const struct tlshello *h, enum tlshello_field f)
{
	static const enum tlshello_list lists[] = {
		[TLSHELLO_F_VERSIONS] = L_VERSIONS, [TLSHELLO_F_CIPHERS] = L_CIPHERS,
		[TLSHELLO_F_EXTENSIONS] = L_EXTENSIONS, [TLSHELLO_F_GROUPS] = L_GROUPS,
		[TLSHELLO_F_POINT_FORMATS] = L_POINT_FORMATS,
		[TLSHELLO_F_SIG_ALGS] = L_SIG_ALGS,
	};

	if (!h)
		return NULL;
	switch (f) {
	case TLSHELLO_F_VERSIONS: case TLSHELLO_F_CIPHERS: case TLSHELLO_F_EXTENSIONS:
	case TLSHELLO_F_GROUPS: case TLSHELLO_F_POINT_FORMATS: case TLSHELLO_F_SIG_ALGS:
		return h->list[lists[f]].present ? tlshello_hex_list(h, lists[f]) : NULL;
	case TLSHELLO_F_ALPN:
		return h->list[L_ALPN].present ? tlshello_alpn_text(h) : NULL;
	case TLSHELLO_F_SNI: {
		const struct tlshello_span *sp = &h->list[L_SNI];
		return sp->present ? text_escape(h->data + sp->off, sp->len, false) : NULL;
	}
	case TLSHELLO_F_JA3:
		return h->fingerprinted ? tlshello_ja3(h) : NULL;
	case TLSHELLO_F_JA3_MD5:
		return h->fingerprinted ? strdup(h->ja3_md5) : NULL;
	case TLSHELLO_F_JA4:
		return h->fingerprinted ? strdup(h->ja4) : NULL;
	case TLSHELLO_F_JA4_R:
		return h->fingerprinted ? tlshello_ja4_text(h, true) : NULL;
	default:
		return NULL;
	}
}
