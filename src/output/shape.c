/* shape.c - the shape of a payload (shape.h). One pass over the first
 * request's head with a small tolerant line reader of its own: the shape
 * needs what a parser throws away (line endings, colon spacing, the case of
 * names) and nothing of the values. */
#include "shape.h"

#include <nettle/sha2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHAPE_SEGMENT_LONG 24        /* a templated path segment longer: {long} */
#define SHAPE_TOKEN_MAX 24           /* a query name, a text word, an SSH version */
#define SHAPE_METHOD_MAX 32          /* longer first words are not a method */
#define SHAPE_METHOD_SHOWN 16
#define SHAPE_VERSION_SHOWN 16

/* A bounded string being built: appends past the end are dropped. */
struct shape_buf {
	char *s;
	size_t cap, len;
	bool full;                   /* something was dropped */
};

static void shape_putc(struct shape_buf *b, char c)
{
	if (b->len + 1 < b->cap) {
		b->s[b->len++] = c;
		b->s[b->len] = '\0';
	} else {
		b->full = true;
	}
}

/* A text that did not fit ends in "{cut}". */
static void shape_mark_cut(struct shape_buf *b)
{
	static const char mark[] = "{cut}";

	if (b->full && b->cap >= sizeof(mark))
		memcpy(b->s + b->cap - sizeof(mark), mark, sizeof(mark));
}

static void shape_puts(struct shape_buf *b, const char *s)
{
	while (*s)
		shape_putc(b, *s++);
}

static bool shape_is_alnum(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool shape_is_hex(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool shape_is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* RFC 9110's tchar: what a method or a header name is made of. */
static bool shape_is_tchar(uint8_t c)
{
	return shape_is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* 8-4-4-4-12 hex digits at s (n bytes available). */
static bool shape_is_uuid(const uint8_t *s, size_t n)
{
	static const char form[] = "hhhhhhhh-hhhh-hhhh-hhhh-hhhhhhhhhhhh";

	if (n < sizeof(form) - 1)
		return false;
	for (size_t i = 0; i < sizeof(form) - 1; i++) {
		if (form[i] == '-' ? s[i] != '-' : !shape_is_hex(s[i]))
			return false;
	}
	return n == sizeof(form) - 1 || !shape_is_alnum(s[sizeof(form) - 1]);
}

/* The length of a %XX or %uXXXX escape at s, or 0. */
static size_t shape_escape_len(const uint8_t *s, size_t n)
{
	if (n >= 6 && s[0] == '%' && (s[1] == 'u' || s[1] == 'U') && shape_is_hex(s[2]) &&
	    shape_is_hex(s[3]) && shape_is_hex(s[4]) && shape_is_hex(s[5]))
		return 6;
	if (n >= 3 && s[0] == '%' && shape_is_hex(s[1]) && shape_is_hex(s[2]))
		return 3;
	return 0;
}

/* Appends n bytes of a path segment, a name or a word with what varies
 * between requests collapsed: a UUID is {uuid}, a run of 8 or more letters
 * and digits that is all hex with a digit is {h}, any other run of two or
 * more digits {n} (one digit stays: "HNAP1", "%255c").
 * Bytes outside printable ASCII, and those in reject, become '?'. */
static void shape_template(struct shape_buf *b, const uint8_t *s, size_t n,
    const char *reject)
{
	size_t i = 0;

	/* Once the buffer is full nothing more is written: stop reading. */
	while (i < n && !b->full) {
		if (shape_is_uuid(s + i, n - i)) {
			shape_puts(b, "{uuid}");
			i += 36;
			continue;
		}
		/* %XX and %uXXXX stay as sent: how a client encodes is its own */
		size_t esc = shape_escape_len(s + i, n - i);
		if (esc) {
			for (size_t k = 0; k < esc; k++)
				shape_putc(b, (char)s[i + k]);
			i += esc;
			continue;
		}
		if (!shape_is_alnum(s[i])) {
			bool odd = s[i] < 0x21 || s[i] > 0x7e || strchr(reject, s[i]);
			shape_putc(b, odd ? '?' : (char)s[i]);
			i++;
			continue;
		}
		size_t end = i;
		bool hex = true, digit = false;
		while (end < n && shape_is_alnum(s[end])) {
			hex = hex && shape_is_hex(s[end]);
			digit = digit || shape_is_digit(s[end]);
			end++;
		}
		if (hex && digit && end - i >= 8) {
			shape_puts(b, "{h}");
			i = end;
			continue;
		}
		for (; i < end && !b->full; i++) {
			if (!shape_is_digit(s[i]) || i + 1 == end || !shape_is_digit(s[i + 1])) {
				shape_putc(b, (char)s[i]);
				continue;
			}
			while (i + 1 < end && shape_is_digit(s[i + 1]))
				i++;
			shape_puts(b, "{n}");
		}
	}
}

/* shape_template into a token of at most max bytes; a longer one is
 * replaced by long_mark. */
static void shape_token(struct shape_buf *b, const uint8_t *s, size_t n,
    const char *reject, size_t max, const char *long_mark)
{
	char tmp[SHAPE_TEXT_MAX];
	/* Room for max + 1 bytes is enough to tell a token too long, and
	 * stops the templating of a long one there. */
	size_t cap = max + 2 < sizeof(tmp) ? max + 2 : sizeof(tmp);
	struct shape_buf t = {tmp, cap, 0, false};

	tmp[0] = '\0';
	shape_template(&t, s, n, reject);
	if (t.len > max)
		shape_puts(b, long_mark);
	else
		shape_puts(b, tmp);
}

/* " len:64-127": the power-of-two range len falls in. */
static void shape_len_bucket(struct shape_buf *b, size_t len)
{
	size_t lo = 1;
	char tmp[48];

	while (lo <= len / 2)
		lo *= 2;
	if (lo == 1)
		snprintf(tmp, sizeof(tmp), " len:1");
	else
		snprintf(tmp, sizeof(tmp), " len:%zu-%zu", lo, lo * 2 - 1);
	shape_puts(b, tmp);
}

/* One line of the head: [start, end) without its terminator. */
struct shape_line {
	const uint8_t *s;
	size_t len;
	int eol;                     /* 0 none (the bytes ran out), 1 LF, 2 CRLF */
	size_t next;                 /* offset after the terminator */
};

static struct shape_line shape_line_at(const uint8_t *p, size_t n, size_t off)
{
	struct shape_line l = {p + off, 0, 0, n};
	const uint8_t *lf = off < n ? memchr(p + off, '\n', n - off) : NULL;

	if (!lf) {
		l.len = n - off;
		return l;
	}
	l.len = (size_t)(lf - (p + off));
	l.next = (size_t)(lf - p) + 1;
	l.eol = 1;
	if (l.len > 0 && l.s[l.len - 1] == '\r') {
		l.len--;
		l.eol = 2;
	}
	return l;
}

/* What the head's lines say, gathered before the text is written. */
struct shape_head {
	char hdr[SHAPE_HEADERS_MAX][SHAPE_NAME_MAX + 3];  /* name, ':', class */
	int nhdr, more;              /* listed, and past SHAPE_HEADERS_MAX */
	int crlf, lf;                /* line endings seen */
	bool ended;                  /* the blank line came */
	bool body;                   /* a body is announced or follows */
	size_t end;                  /* offset after the head */
};

/* The name of a header line and how its value is set apart from it: '_'
 * one space, '0' none, 't' a tab, '2' more spaces; '!' a line without a
 * colon; a continuation line is "~". */
static void shape_header(struct shape_head *h, const struct shape_line *l)
{
	char tok[SHAPE_NAME_MAX + 3];
	struct shape_buf b = {tok, sizeof(tok), 0, false};
	const uint8_t *colon = memchr(l->s, ':', l->len);
	size_t nlen = colon ? (size_t)(colon - l->s) : l->len;

	tok[0] = '\0';
	if (l->s[0] == ' ' || l->s[0] == '\t') {
		shape_putc(&b, '~');
	} else {
		for (size_t i = 0; i < nlen && i < SHAPE_NAME_MAX; i++)
			shape_putc(&b, shape_is_tchar(l->s[i]) ? (char)l->s[i] : '?');
		if (!colon) {
			shape_putc(&b, '!');
		} else {
			const uint8_t *v = colon + 1, *end = l->s + l->len;
			shape_putc(&b, ':');
			if (v < end && *v == '\t')
				shape_putc(&b, 't');
			else if (v + 1 < end && v[0] == ' ' && v[1] == ' ')
				shape_putc(&b, '2');
			else
				shape_putc(&b, v < end && *v == ' ' ? '_' : '0');
		}
	}
	if (h->nhdr < SHAPE_HEADERS_MAX)
		memcpy(h->hdr[h->nhdr++], tok, sizeof(tok));
	else
		h->more++;
}

/* Whether a header line announces a body: Content-Length other than 0, or
 * Transfer-Encoding. */
static bool shape_announces_body(const struct shape_line *l)
{
	static const char cl[] = "content-length:", te[] = "transfer-encoding:";

	if (l->len >= sizeof(te) - 1 && strncasecmp((const char *)l->s, te, sizeof(te) - 1) == 0)
		return true;
	if (l->len < sizeof(cl) - 1 || strncasecmp((const char *)l->s, cl, sizeof(cl) - 1) != 0)
		return false;
	for (size_t i = sizeof(cl) - 1; i < l->len; i++) {
		if (l->s[i] >= '1' && l->s[i] <= '9')
			return true;
		if (l->s[i] != ' ' && l->s[i] != '\t' && l->s[i] != '0')
			return false;
	}
	return false;
}

/* Reads the header lines from off to the blank line (or the bytes' end). */
static void shape_read_head(struct shape_head *h, const uint8_t *p, size_t n, size_t off)
{
	while (off < n) {
		struct shape_line l = shape_line_at(p, n, off);
		h->crlf += l.eol == 2;
		h->lf += l.eol == 1;
		off = l.next;
		if (l.len == 0 && l.eol) {
			h->ended = true;
			break;
		}
		if (l.len == 0)
			break;
		h->body = h->body || shape_announces_body(&l);
		shape_header(h, &l);
	}
	h->end = off;
}

static int shape_strcmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* " h:Host:_,User-Agent:_" (or "h:-"), the names as given. */
static void shape_put_headers(struct shape_buf *b, const struct shape_head *h)
{
	char tmp[32];

	shape_puts(b, " h:");
	if (h->nhdr == 0)
		shape_putc(b, '-');
	for (int i = 0; i < h->nhdr; i++) {
		if (i)
			shape_putc(b, ',');
		shape_puts(b, h->hdr[i]);
	}
	if (h->more) {
		snprintf(tmp, sizeof(tmp), ",+%d", h->more);
		shape_puts(b, tmp);
	}
}

/* The path's template, then " q:" and the query's parameter names. */
static void shape_put_target(struct shape_buf *b, const uint8_t *t, size_t n)
{
	const uint8_t *q = memchr(t, '?', n);
	size_t plen = q ? (size_t)(q - t) : n, start = 0, seg;
	char path[SHAPE_TEXT_MAX];
	struct shape_buf pb = {path, sizeof(path), 0, false};
	const uint8_t *scheme = plen > 3 ? memmem(t, plen < 16 ? plen : 16, "://", 3) : NULL;

	path[0] = '\0';
	shape_putc(b, ' ');
	if (n == 0) {
		shape_putc(b, '-');
		return;
	}
	/* An absolute target names a host: a value, so only its place shows. */
	if (scheme) {
		shape_template(&pb, t, (size_t)(scheme - t) + 3, "");
		shape_puts(&pb, "{host}");
		const uint8_t *slash = memchr(scheme + 3, '/', plen - (size_t)(scheme + 3 - t));
		start = slash ? (size_t)(slash - t) : plen;
	}
	for (size_t i = start; i < plen; i = seg) {
		seg = i + 1;
		while (seg < plen && t[seg] != '/')
			seg++;
		if (t[i] == '/')
			shape_putc(&pb, '/');
		size_t from = t[i] == '/' ? i + 1 : i;
		shape_token(&pb, t + from, seg - from, "", SHAPE_SEGMENT_LONG, "{long}");
	}
	if (pb.len > SHAPE_PATH_MAX) {
		path[SHAPE_PATH_MAX] = '\0';
		shape_puts(b, path);
		shape_puts(b, "{cut}");
	} else {
		shape_puts(b, path);
	}
	if (!q)
		return;
	shape_puts(b, " q:");
	const uint8_t *s = q + 1, *end = t + n;
	int names = 0;
	if (s == end)
		shape_putc(b, '-');
	while (s < end) {
		const uint8_t *amp = memchr(s, '&', (size_t)(end - s));
		const uint8_t *pend = amp ? amp : end;
		const uint8_t *eq = memchr(s, '=', (size_t)(pend - s));
		const uint8_t *nend = eq ? eq : pend;
		if (names < SHAPE_QUERY_MAX) {
			if (names)
				shape_putc(b, ',');
			if (nend == s)
				shape_putc(b, '-');
			else
				shape_token(b, s, (size_t)(nend - s), ",", SHAPE_TOKEN_MAX, "{long}");
		}
		names++;
		s = amp ? amp + 1 : end;
	}
	if (names > SHAPE_QUERY_MAX) {
		char tmp[32];
		snprintf(tmp, sizeof(tmp), ",+%d", names - SHAPE_QUERY_MAX);
		shape_puts(b, tmp);
	}
}

/* "HTTP/1.1" is "1.1"; another protocol ("RTSP/1.0", "SIP/2.0", a
 * lower-case "http/1.1") keeps its name. Returns false unless v looks like
 * NAME/DIGITS. */
static bool shape_put_version(struct shape_buf *b, const uint8_t *v, size_t n)
{
	size_t i = 0;

	while (i < n && shape_is_alnum(v[i]))
		i++;
	if (i == 0 || i + 1 >= n || v[i] != '/' || !shape_is_digit(v[i + 1]))
		return false;
	for (size_t k = i + 1; k < n; k++) {
		if (!shape_is_digit(v[k]) && v[k] != '.')
			return false;
	}
	shape_putc(b, ' ');
	if (i == 4 && memcmp(v, "HTTP", 4) == 0)
		v += 5, n -= 5;
	for (size_t k = 0; k < n && k < SHAPE_VERSION_SHOWN; k++)
		shape_putc(b, (char)v[k]);
	return true;
}

/* An HTTP-like payload: "METHOD TARGET VERSION" or "METHOD /PATH". The
 * long form goes to text, and again with the headers sorted to sorted.
 * Returns false, writing nothing, when the first line is not one. */
static bool shape_http(const uint8_t *p, size_t n, uint64_t nrequests,
    struct shape_buf *text, struct shape_buf *sorted)
{
	struct shape_head h;
	struct shape_line first = shape_line_at(p, n, 0);
	size_t m = 0, tstart, tend;
	char ver[SHAPE_VERSION_SHOWN + 2];
	struct shape_buf vb = {ver, sizeof(ver), 0, false};

	while (m < first.len && m <= SHAPE_METHOD_MAX && shape_is_tchar(first.s[m]))
		m++;
	if (m == 0 || m > SHAPE_METHOD_MAX || m >= first.len || first.s[m] != ' ')
		return false;
	tstart = m;
	while (tstart < first.len && first.s[tstart] == ' ')
		tstart++;
	tend = first.len;
	while (tend > tstart && first.s[tend - 1] == ' ')
		tend--;
	/* The version is the last word, when it looks like one; a target may
	 * hold spaces (Mirai's "/shell?cd+/tmp;...wget+ http://..."). */
	const uint8_t *sp = tend > tstart ? memrchr(first.s + tstart, ' ', tend - tstart) : NULL;
	ver[0] = '\0';
	if (sp && shape_put_version(&vb, sp + 1, (size_t)(first.s + tend - sp - 1))) {
		tend = (size_t)(sp - first.s);
		while (tend > tstart && first.s[tend - 1] == ' ')
			tend--;
	} else if (tend == tstart || first.s[tstart] != '/') {
		return false;
	} else {
		shape_puts(&vb, " 0.9");
	}
	memset(&h, 0, sizeof(h));
	h.crlf = first.eol == 2;
	h.lf = first.eol == 1;
	if (first.eol)
		shape_read_head(&h, p, n, first.next);
	if (!h.body && nrequests <= 1 && h.ended && h.end < n)
		h.body = true;

	for (int pass = 0; pass < 2; pass++) {
		struct shape_buf *b = pass ? sorted : text;
		char tail[32] = "";
		shape_puts(b, SHAPE_VERSION " http ");
		for (size_t i = 0; i < m && i < SHAPE_METHOD_SHOWN; i++)
			shape_putc(b, (char)first.s[i]);
		shape_puts(b, ver);
		shape_puts(b, h.crlf && h.lf ? " mixed" : h.crlf ? " crlf" : h.lf ? " lf" : " none");
		shape_put_target(b, first.s + tstart, tend - tstart);
		if (h.body)
			shape_puts(b, " b");
		if (!h.ended)
			shape_puts(b, " open");
		if (nrequests >= 10)
			snprintf(tail, sizeof(tail), " x10+");
		else if (nrequests >= 2)
			snprintf(tail, sizeof(tail), " x2-9");
		shape_puts(b, tail);
		/* the headers last: a long list is what a cap may cut */
		if (pass)
			qsort(h.hdr, (size_t)h.nhdr, sizeof(h.hdr[0]), shape_strcmp);
		shape_put_headers(b, &h);
		shape_mark_cut(b);
	}
	return true;
}

/* Printable ASCII, tabs and line ends only, in the first bytes. */
static bool shape_is_text(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && i < 64; i++) {
		if ((p[i] < 0x20 || p[i] > 0x7e) && p[i] != '\r' && p[i] != '\n' && p[i] != '\t')
			return false;
	}
	return true;
}

/* Payloads that are not HTTP: the kind of bytes, never the bytes; n of
 * the len bytes are read. */
static void shape_other(const uint8_t *p, size_t n, size_t len, struct shape_buf *b)
{
	char tmp[48];

	shape_puts(b, SHAPE_VERSION " ");
	if (n >= 6 && p[0] == 0x16 && p[1] == 0x03 && p[5] == 0x01) {
		shape_puts(b, "tls-hello");
	} else if (n >= 3 && p[0] == 0x16 && p[1] == 0x03) {
		shape_puts(b, "tls");
	} else if (n >= 3 && (p[0] & 0x80) && p[2] == 0x01) {
		shape_puts(b, "sslv2-hello");
	} else if (n >= 4 && memcmp(p, "SSH-", 4) == 0) {
		struct shape_line l = shape_line_at(p, n, 0);
		shape_puts(b, "ssh ");
		const uint8_t *sp = memchr(l.s, ' ', l.len);
		shape_token(b, l.s + 4, sp ? (size_t)(sp - l.s) - 4 : l.len - 4, "",
		    SHAPE_TOKEN_MAX, "{long}");
		shape_puts(b, l.eol == 2 ? " crlf" : l.eol == 1 ? " lf" : " none");
		return;
	} else if (shape_is_text(p, n)) {
		struct shape_line l = shape_line_at(p, n, 0);
		size_t w = 0;
		while (w < l.len && l.s[w] != ' ' && l.s[w] != '\t')
			w++;
		shape_puts(b, "text ");
		if (w == 0)
			shape_putc(b, '-');
		else
			shape_token(b, l.s, w, "", SHAPE_TOKEN_MAX, "{long}");
		shape_puts(b, l.eol == 2 ? " crlf" : l.eol == 1 ? " lf" : " none");
	} else {
		snprintf(tmp, sizeof(tmp), "bin %02x-%02x", p[0], n > 1 ? p[1] : 0);
		shape_puts(b, tmp);
	}
	shape_len_bucket(b, len);
}

/* hex digits of the first bytes of SHA-256 of s. */
static void shape_hash(const char *s, char *out, size_t hex)
{
	static const char digits[] = "0123456789abcdef";
	struct sha256_ctx ctx;
	uint8_t d[SHA256_DIGEST_SIZE];

	sha256_init(&ctx);
	sha256_update(&ctx, strlen(s), (const uint8_t *)s);
	sha256_digest(&ctx, sizeof(d), d);
	for (size_t i = 0; i < hex; i++)
		out[i] = digits[(d[i / 2] >> (i % 2 ? 0 : 4)) & 15];
	out[hex] = '\0';
}

bool shape_of(const uint8_t *p, size_t len, uint64_t nrequests, struct shape *out)
{
	char sorted_text[SHAPE_TEXT_MAX];
	struct shape_buf text = {out->text, sizeof(out->text), 0, false};
	struct shape_buf sorted = {sorted_text, sizeof(sorted_text), 0, false};
	size_t n = len < SHAPE_SCAN_MAX ? len : SHAPE_SCAN_MAX;
	char group[17], order[9];

	out->text[0] = out->id[0] = sorted_text[0] = '\0';
	if (len == 0 || !p)
		return false;
	if (!shape_http(p, n, nrequests, &text, &sorted)) {
		shape_other(p, n, len, &text);
		memcpy(sorted_text, out->text, text.len + 1);
	}
	shape_hash(sorted_text, group, 16);
	shape_hash(out->text, order, 8);
	snprintf(out->id, sizeof(out->id), SHAPE_VERSION ":%s.%s", group, order);
	return true;
}

const struct shape *shape_of_cached(struct shape_cache *c, const unsigned char sha256[32],
    const uint8_t *p, size_t len, uint64_t nrequests)
{
	/* The digest is already uniform: its first byte picks the slot. */
	struct shape_cache_slot *e = &c->slot[sha256[0] % SHAPE_CACHE_SLOTS];

	if (!e->used || e->nrequests != nrequests || memcmp(e->sha256, sha256, 32) != 0) {
		e->ok = shape_of(p, len, nrequests, &e->shape);
		memcpy(e->sha256, sha256, 32);
		e->nrequests = nrequests;
		e->used = true;
	}
	return e->ok ? &e->shape : NULL;
}
