/* normalize.c - an HTTP payload's fields decoded for rules. It reads
 * request heads itself (a few lines of field extraction: the capture
 * layer's parser is not the output layer's to use) and never fails: bytes
 * that are not HTTP give empty fields, anything too long is cut at the
 * field's cap. Every loop is bounded by the input or a named cap. */
#include "normalize.h"

#include <ctype.h>
#include <nettle/base64.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

const char *const normalize_names[NORMALIZE_FIELDS] = {
	[NORMALIZE_METHOD] = "http_method",
	[NORMALIZE_TARGET] = "http_target",
	[NORMALIZE_PATH] = "http_path",
	[NORMALIZE_VERSION] = "http_version",
	[NORMALIZE_UA] = "http_ua",
	[NORMALIZE_HEADERS] = "http_headers",
	[NORMALIZE_AUTH] = "http_auth",
	[NORMALIZE_BODY] = "http_body",
	[NORMALIZE_LOG4J] = "http_log4j",
};

static int nz_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The value of n hex digits at s, or -1. */
static long nz_hexn(const char *s, int n)
{
	long v = 0;

	for (int i = 0; i < n; i++) {
		int d = nz_hex((unsigned char)s[i]);
		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/* Writes code point cp as UTF-8 at out (room for 3 bytes); returns the
 * bytes written. %uXXXX has 16 bits, so 3 bytes suffice. */
static size_t nz_utf8(long cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	out[0] = (char)(0xe0 | cp >> 12);
	out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[2] = (char)(0x80 | (cp & 0x3f));
	return 3;
}

/* One decoding pass; *decoded counts the escapes undone. An invalid
 * escape stays as written. */
static size_t nz_url_pass(const char *in, size_t n, size_t plus_from, char *out,
    size_t cap, int *decoded)
{
	size_t o = 0;
	long v;

	*decoded = 0;
	for (size_t i = 0; i < n && o + 3 <= cap; i++) {
		char c = in[i];
		if (c == '%' && i + 5 < n && (in[i + 1] | 0x20) == 'u' &&
		    (v = nz_hexn(in + i + 2, 4)) >= 0) {
			o += nz_utf8(v, out + o);
			i += 5;
			(*decoded)++;
		} else if (c == '%' && i + 2 < n && (v = nz_hexn(in + i + 1, 2)) >= 0) {
			out[o++] = (char)v;
			i += 2;
			(*decoded)++;
		} else {
			out[o++] = c == '+' && i >= plus_from ? ' ' : c;
		}
	}
	return o;
}

/* Folds overlong UTF-8 forms of ASCII (c0 af, e0 80 af: '/') to the
 * byte they stand for, in place. Returns the new length. */
static size_t nz_fold_overlong(char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char a = (unsigned char)s[i];
		unsigned char b = i + 1 < n ? (unsigned char)s[i + 1] : 0;
		unsigned char c = i + 2 < n ? (unsigned char)s[i + 2] : 0;
		/* c0/c1 never start valid UTF-8; IIS read the next byte's low
		 * six bits whatever they were (Nimda's c1 1c is '\'). */
		if ((a == 0xc0 || a == 0xc1) && i + 1 < n && b < 0xc0) {
			s[o++] = (char)((a & 1) << 6 | (b & 0x3f));
			i++;
		} else if (a == 0xe0 && (b & 0xe0) == 0x80 && (c & 0xc0) == 0x80 &&
		    ((b & 0x1f) << 6 | (c & 0x3f)) < 0x80) {
			s[o++] = (char)((b & 0x1f) << 6 | (c & 0x3f));
			i += 2;
		} else {
			s[o++] = (char)a;
		}
	}
	return o;
}

size_t normalize_url(const char *in, size_t n, size_t plus_from, char *out,
    size_t cap, char *scratch)
{
	int decoded;
	size_t len = nz_url_pass(in, n, plus_from, out, cap, &decoded);

	/* '+' became a space in the first pass only: a later pass must not
	 * turn a decoded %2B into one. */
	for (int pass = 1; pass < NORMALIZE_PASSES && decoded && memchr(out, '%', len); pass++) {
		memcpy(scratch, out, len);
		len = nz_url_pass(scratch, len, len, out, cap, &decoded);
	}
	return nz_fold_overlong(out, len);
}

/* ---- Log4Shell lookups ---- */

static bool nz_prefix_is(const char *s, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(s, want, n) == 0;
}

/* Case mapping as log4j's lower/upper do it, ASCII plus the two
 * non-ASCII letters known to bypass filters: dotless i (c4 b1) and long
 * s (c5 bf) upper-case to I and S. Writes at most n bytes. */
static size_t nz_case(const char *s, size_t n, char *out, bool upper)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (upper && i + 1 < n && c == 0xc4 && (unsigned char)s[i + 1] == 0xb1) {
			out[o++] = 'I';
			i++;
		} else if (upper && i + 1 < n && c == 0xc5 && (unsigned char)s[i + 1] == 0xbf) {
			out[o++] = 'S';
			i++;
		} else if (upper && c >= 'a' && c <= 'z') {
			out[o++] = (char)(c - 32);
		} else if (!upper && c >= 'A' && c <= 'Z') {
			out[o++] = (char)(c + 32);
		} else {
			out[o++] = (char)c;
		}
	}
	return o;
}

/* Resolves the lookup whose content (between "${" and "}") is c[0..n)
 * into out, room for n + 3 bytes. Returns the length. */
static size_t nz_lookup(const char *c, size_t n, char *out)
{
	const char *dash = NULL, *colon;
	size_t name = n, o = 0;

	for (size_t i = 0; i + 1 < n; i++) {
		if (c[i] == ':' && c[i + 1] == '-') {
			dash = c + i;
			name = i;
			break;
		}
	}
	colon = memchr(c, ':', name);
	if (colon) {
		size_t plen = (size_t)(colon - c), klen = name - plen - 1;
		const char *key = colon + 1;
		if (nz_prefix_is(c, plen, "lower") || nz_prefix_is(c, plen, "upper"))
			return nz_case(key, klen, out, (c[0] | 0x20) == 'u');
		if (nz_prefix_is(c, plen, "jndi")) {
			memcpy(out, "jndi:", 5);
			memcpy(out + 5, key, n - plen - 1);
			return 5 + n - plen - 1;
		}
		if (nz_prefix_is(c, plen, "date")) {
			/* Only quoted text is known: the rest is a date pattern. */
			bool quoted = false;
			for (size_t i = 0; i < klen; i++) {
				if (key[i] == '\'')
					quoted = !quoted;
				else if (quoted)
					out[o++] = key[i];
			}
			return o;
		}
	}
	if (dash) {
		memcpy(out, dash + 2, n - name - 2);
		return n - name - 2;
	}
	/* env, sys, ctx... with no default: unknowable here, and log4j too
	 * leaves what it cannot resolve as written. */
	out[0] = '$';
	out[1] = '{';
	memcpy(out + 2, c, n);
	out[n + 2] = '}';
	return n + 3;
}

/* Resolves in[0..n) into out; with lines, also appends the resolution of
 * each outermost lookup, one a line, through lines(). One left-to-right
 * pass with an explicit stack of open "${": innermost first, as log4j's
 * StrSubstitutor. */
static size_t nz_resolve(const char *in, size_t n, char *out, size_t cap,
    char *scratch, void (*line)(void *, const char *, size_t), void *arg, bool *cut)
{
	size_t stack[NORMALIZE_LOOKUP_DEPTH], o = 0;
	int depth = 0, literal = 0, lookups = 0;

	*cut = false;

	for (size_t i = 0; i < n && o < cap; i++) {
		if (in[i] == '$' && i + 1 < n && in[i + 1] == '{') {
			if (o + 2 > cap)
				break;
			out[o++] = '$';
			out[o++] = '{';
			i++;
			if (depth < NORMALIZE_LOOKUP_DEPTH && lookups < NORMALIZE_LOOKUPS_MAX)
				stack[depth++] = o;
			else
				literal++, *cut = true;   /* its '}' is kept too */
			continue;
		}
		if (in[i] == '}' && literal) {
			literal--;
		} else if (in[i] == '}' && depth && o + 1 <= cap) {
			size_t start = stack[--depth], len;
			lookups++;
			/* The content moves out of the way: the result overlaps it. */
			memcpy(scratch, out + start, o - start);
			len = nz_lookup(scratch, o - start, out + start - 2);
			o = start - 2 + len;
			if (depth == 0 && line)
				line(arg, out + start - 2, len);
			continue;
		}
		out[o++] = in[i];
	}
	return o;
}

size_t normalize_log4j(const char *in, size_t n, char *out, size_t cap,
    char *scratch)
{
	bool cut;

	return nz_resolve(in, n, out, cap, scratch, NULL, NULL, &cut);
}

/* The skeleton of in[0..n) into out (cap bytes): every "${", lookup
 * prefix up to its ":-" (within 32 bytes), "lower:", "upper:" and "}"
 * deleted, so ${${::-j}ndi:...} nested past every cap still reads
 * "jndi:..." (case as sent). For values the resolver gave up on. */
static size_t nz_skeleton(const char *in, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o < cap; i++) {
		if (in[i] == '}')
			continue;
		if (in[i] != '$' || i + 1 >= n || in[i + 1] != '{') {
			out[o++] = in[i];
			continue;
		}
		i += 2;
		for (size_t j = i; j + 1 < n && j < i + 32 && !strchr("${}", in[j]); j++) {
			if (in[j] == ':' && in[j + 1] == '-') {
				i = j + 2;
				break;
			}
		}
		if (i + 6 <= n && (strncasecmp(in + i, "lower:", 6) == 0 ||
		    strncasecmp(in + i, "upper:", 6) == 0))
			i += 6;
		i--;                 /* the loop's i++ */
	}
	return o;
}

/* ---- fields ---- */

/* Appends s[0..n) to field f, after a "\n" when sep and the field is not
 * empty; NUL as "%00". Stops at the cap, keeping room for the NUL. */
static void nz_append(struct normalize *z, enum normalize_field f, const char *s,
    size_t n, bool sep)
{
	char *p = z->field[f];
	size_t o = z->len[f];

	if (sep && o && o + 1 < NORMALIZE_FIELD_MAX)
		p[o++] = '\n';
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\0' && o + 1 < NORMALIZE_FIELD_MAX) {
			p[o++] = s[i];
		} else if (s[i] == '\0' && o + 3 < NORMALIZE_FIELD_MAX) {
			memcpy(p + o, "%00", 3);
			o += 3;
		} else {
			break;
		}
	}
	p[o] = '\0';
	z->len[f] = o;
}

/* Whether field f can take another byte. */
static bool nz_room(const struct normalize *z, enum normalize_field f)
{
	return z->len[f] + 1 < NORMALIZE_FIELD_MAX;
}

/* A resolved lookup, one line. JNDIExploit's
 * ldap://h/Basic/Command/Base64/<b64> carries the shell command it runs in
 * base64: decoded, it is the next line. */
static void nz_log4j_line(void *arg, const char *s, size_t n)
{
	const char *b = memmem(s, n, "/Base64/", 8);
	uint8_t cmd[BASE64_DECODE_LENGTH(NORMALIZE_AUTH_MAX)];
	struct base64_decode_ctx ctx;
	size_t len = 0, cmdlen = sizeof(cmd);

	nz_append(arg, NORMALIZE_LOG4J, s, n, true);
	if (!b)
		return;
	b += 8;
	while (b + len < s + n && len < NORMALIZE_AUTH_MAX &&
	    (isalnum((unsigned char)b[len]) || strchr("+/=", b[len])))
		len++;
	base64_decode_init(&ctx);
	if (len && base64_decode_update(&ctx, &cmdlen, cmd, len, b))
		nz_append(arg, NORMALIZE_LOG4J, (const char *)cmd, cmdlen, true);
}

/* Adds the outermost lookups of a decoded value to http_log4j, and when
 * a cap stopped the resolver, the value's skeleton too. */
static void nz_log4j(struct normalize *z, const char *s, size_t n)
{
	bool cut;

	if (n < 3 || !memmem(s, n, "${", 2))
		return;
	nz_resolve(s, n, z->scratch[1], NORMALIZE_FIELD_MAX, z->scratch[2],
	    nz_log4j_line, z, &cut);
	if (cut) {
		size_t len = nz_skeleton(s, n, z->scratch[1], NORMALIZE_FIELD_MAX);
		nz_append(z, NORMALIZE_LOG4J, z->scratch[1], len, true);
	}
}

/* URL-decodes s[0..n) into scratch[0], adds it to field f and its
 * lookups to http_log4j. Returns the decoded length. */
static size_t nz_field_url(struct normalize *z, enum normalize_field f,
    const char *s, size_t n, size_t plus_from)
{
	size_t len = normalize_url(s, n, plus_from, z->scratch[0], NORMALIZE_FIELD_MAX,
	    z->scratch[1]);

	if (f != NORMALIZE_FIELDS)
		nz_append(z, f, z->scratch[0], len, true);
	nz_log4j(z, z->scratch[0], len);
	return len;
}

/* http_path: '\' as '/', "/./" as "/"; ".." stays for path-traversal
 * rules to see. */
static void nz_path(struct normalize *z, const char *s, size_t n)
{
	size_t len = normalize_url(s, n, n, z->scratch[0], NORMALIZE_FIELD_MAX,
	    z->scratch[1]), o = 0;
	char *p = z->scratch[0];

	for (size_t i = 0; i < len; i++) {
		char c = p[i] == '\\' ? '/' : p[i];
		if (c == '/' && o >= 2 && p[o - 1] == '.' && p[o - 2] == '/') {
			o--;
			continue;
		}
		p[o++] = c;
	}
	nz_append(z, NORMALIZE_PATH, p, o, true);
}

static const char *nz_trim(const char *s, const char **end)
{
	while (s < *end && (*s == ' ' || *s == '\t'))
		s++;
	while (*end > s && ((*end)[-1] == ' ' || (*end)[-1] == '\t' || (*end)[-1] == '\r'))
		(*end)--;
	return s;
}

/* Authorization: Basic token, base64 (nettle; padding optional). */
static void nz_auth(struct normalize *z, const char *v, size_t n)
{
	struct base64_decode_ctx ctx;
	uint8_t *out = (uint8_t *)z->scratch[0];   /* the value is in headers */
	size_t outlen = BASE64_DECODE_LENGTH(NORMALIZE_AUTH_MAX);

	if (n < 6 || strncasecmp(v, "basic ", 6) != 0)
		return;
	v += 6;
	n -= 6;
	while (n && *v == ' ')
		v++, n--;
	if (n > NORMALIZE_AUTH_MAX)
		return;
	base64_decode_init(&ctx);
	if (!base64_decode_update(&ctx, &outlen, out, n, v))
		return;
	nz_append(z, NORMALIZE_AUTH, (const char *)out, outlen, true);
	nz_log4j(z, (const char *)out, outlen);
}

/* JSON string escapes undone (\uXXXX as UTF-8, \/, \", \\; the
 * others as the byte), so "\u0024\u007bjndi" reads "${jndi". Writes at
 * most cap bytes; returns the length. */
static size_t nz_json(const char *in, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	long v;

	for (size_t i = 0; i < n && o + 3 <= cap; i++) {
		if (in[i] == '\\' && i + 5 < n && in[i + 1] == 'u' &&
		    (v = nz_hexn(in + i + 2, 4)) >= 0) {
			o += nz_utf8(v, out + o);
			i += 5;
		} else if (in[i] == '\\' && i + 1 < n && strchr("/\"\\", in[i + 1])) {
			out[o++] = in[++i];
		} else {
			out[o++] = in[i];
		}
	}
	return o;
}

/* XML character references undone (&#36; &#x7b; as UTF-8, &lt; &gt;
 * &amp; &quot; &apos;), so SOAP bodies read as sent. Writes at most cap
 * bytes; returns the length. */
static size_t nz_xml(const char *in, size_t n, char *out, size_t cap)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {{"lt;", '<'}, {"gt;", '>'}, {"amp;", '&'}, {"quot;", '"'}, {"apos;", '\''}};
	size_t o = 0;

	for (size_t i = 0; i < n && o + 3 <= cap; i++) {
		const char *semi = in[i] == '&' ? memchr(in + i, ';', n - i < 10 ? n - i : 10) : NULL;
		long v = -1;
		if (semi && in[i + 1] == '#' && (in[i + 2] | 0x20) == 'x' && semi - in - i - 3 <= 4)
			v = semi - in - i > 3 ? nz_hexn(in + i + 3, (int)(semi - in - i - 3)) : -1;
		else if (semi && in[i + 1] == '#') {
			v = semi - in - i > 2 ? 0 : -1;
			for (const char *d = in + i + 2; d < semi && v >= 0; d++)
				v = *d >= '0' && *d <= '9' && v < 0x10000 ? v * 10 + (*d - '0') : -1;
		}
		if (v >= 0 && v < 0x10000) {
			o += nz_utf8(v, out + o);
			i = (size_t)(semi - in);
			continue;
		}
		for (size_t k = 0; semi && k < sizeof(named) / sizeof(named[0]); k++) {
			size_t len = strlen(named[k].name);
			if ((size_t)(semi - in - i) == len && memcmp(in + i + 1, named[k].name, len) == 0) {
				v = named[k].c;
				break;
			}
		}
		if (v >= 0) {
			out[o++] = (char)v;
			i = (size_t)(semi - in);
			continue;
		}
		out[o++] = in[i];
	}
	return o;
}

/* What a request head says about its body. */
struct nz_head {
	long long length;            /* Content-Length, -1 when none */
	bool chunked;
	bool form;                   /* application/x-www-form-urlencoded */
	bool json;                   /* a JSON Content-Type */
	bool xml;                    /* an XML or SOAP Content-Type */
};

/* One header line [s, end): "Name: value". */
static void nz_header(struct normalize *z, const char *s, const char *end,
    struct nz_head *h, bool *ua_seen)
{
	const char *colon = memchr(s, ':', (size_t)(end - s)), *v;
	size_t nlen, vlen, dec = 0;
	bool ua;

	if (!colon || colon == s)
		return;
	nlen = (size_t)(colon - s);
	v = nz_trim(colon + 1, &end);
	vlen = (size_t)(end - v);
	ua = nz_prefix_is(s, nlen, "user-agent") && !*ua_seen;
	/* Thousands of header lines cost a decode each only while a field
	 * can still take the result; a lookup needs a '$' or an escape. */
	if (nz_room(z, NORMALIZE_HEADERS) || ua || (nz_room(z, NORMALIZE_LOG4J) &&
	    (memchr(v, '$', vlen) || memchr(v, '%', vlen)))) {
		nz_append(z, NORMALIZE_HEADERS, s, nlen, false);
		nz_append(z, NORMALIZE_HEADERS, ": ", 2, false);
		dec = nz_field_url(z, NORMALIZE_FIELDS, v, vlen, vlen);
		nz_append(z, NORMALIZE_HEADERS, z->scratch[0], dec, false);
		nz_append(z, NORMALIZE_HEADERS, "\n", 1, false);
	}
	if (ua) {
		*ua_seen = true;
		nz_append(z, NORMALIZE_UA, z->scratch[0], dec, true);
	} else if (nz_prefix_is(s, nlen, "authorization")) {
		nz_auth(z, v, vlen);
	} else if (nz_prefix_is(s, nlen, "content-length")) {
		h->length = 0;
		for (size_t i = 0; i < vlen && v[i] >= '0' && v[i] <= '9' &&
		    h->length < (1LL << 40); i++)
			h->length = h->length * 10 + (v[i] - '0');
	} else if (nz_prefix_is(s, nlen, "transfer-encoding")) {
		h->chunked = memmem(v, vlen, "chunked", 7) != NULL;
	} else if (nz_prefix_is(s, nlen, "content-type")) {
		h->form = vlen >= 33 && strncasecmp(v, "application/x-www-form-urlencoded", 33) == 0;
		h->json = memmem(v, vlen, "json", 4) != NULL;
		h->xml = memmem(v, vlen, "xml", 3) != NULL;
	}
}

/* The end of the line at s (its LF, or end). */
static const char *nz_eol(const char *s, const char *end)
{
	const char *lf = memchr(s, '\n', (size_t)(end - s));

	return lf ? lf : end;
}

/* Whether [s, eol) is a request line; fills its three parts. A method
 * is any run of visible bytes (XFOC, a ${jndi:...} lookup); the version
 * is the last word when it is HTTP/..., else absent (HTTP/0.9, with a
 * target from '/'); the target is all between, spaces included, as
 * droppers send it ("/shell?cd+/tmp;wget+ http://..."). */
static bool nz_request_line(const char *s, const char *eol, const char *part[3],
    size_t plen[3])
{
	const char *p = s, *end = eol, *v;

	nz_trim(s, &end);
	part[0] = p;
	while (p < end && *p != ' ')
		p++;
	plen[0] = (size_t)(p - s);
	while (p < end && *p == ' ')
		p++;
	for (v = end; v > p && v[-1] != ' '; v--)
		;
	if (v > p && end - v >= 5 && strncasecmp(v, "HTTP/", 5) == 0) {
		part[2] = v;
		plen[2] = (size_t)(end - v);
		end = v;
		while (end > p && end[-1] == ' ')
			end--;
	} else {
		part[2] = end;
		plen[2] = 0;
	}
	part[1] = p;
	plen[1] = (size_t)(end - p);
	if (plen[0] == 0 || plen[1] == 0)
		return false;
	for (size_t i = 0; i < plen[0]; i++) {
		unsigned char c = (unsigned char)part[0][i];
		if (c <= 0x20 || c >= 0x7f)
			return false;
	}
	return plen[2] || part[1][0] == '/';
}

/* Whether a request starts at s, after the blank lines allowed first. */
static bool nz_request_at(const char *s, const char *end)
{
	const char *part[3];
	size_t plen[3];

	while (s < end && (*s == '\r' || *s == '\n'))
		s++;
	return s < end && nz_request_line(s, nz_eol(s, end), part, plen);
}

/* Reads the request at *at; moves *at past its head and body. */
static bool nz_request(struct normalize *z, const char *end, const char **at)
{
	const char *s = *at, *eol, *part[3], *q;
	size_t plen[3];
	struct nz_head h = {.length = -1};
	bool ua_seen = false;

	while (s < end && (*s == '\r' || *s == '\n'))
		s++;
	eol = nz_eol(s, end);
	if (s == end || !nz_request_line(s, eol, part, plen))
		return false;
	nz_append(z, NORMALIZE_METHOD, part[0], plen[0], true);
	nz_log4j(z, part[0], plen[0]);
	q = memchr(part[1], '?', plen[1]);
	nz_field_url(z, NORMALIZE_TARGET, part[1], plen[1],
	    q ? (size_t)(q - part[1]) : plen[1]);
	nz_path(z, part[1], q ? (size_t)(q - part[1]) : plen[1]);
	nz_append(z, NORMALIZE_VERSION, part[2], plen[2], true);
	for (s = eol + (eol < end); s < end; s = eol + (eol < end)) {
		eol = nz_eol(s, end);
		if (s == eol || (eol - s == 1 && *s == '\r')) {
			s = eol + (eol < end);
			break;
		}
		if (*s != ' ' && *s != '\t')   /* obsolete folding: skipped */
			nz_header(z, s, eol, &h, &ua_seen);
	}
	/* The body: Content-Length bytes; with none, whatever follows that
	 * is not another request (a malformed POST); chunked, the rest. */
	size_t rest = (size_t)(end - s), blen = rest;
	if (h.length >= 0 && !h.chunked)
		blen = (size_t)h.length < rest ? (size_t)h.length : rest;
	else if (!h.chunked && nz_request_at(s, end))
		blen = 0;
	if (blen) {
		size_t cut = blen < 3 * NORMALIZE_FIELD_MAX ? blen : 3 * NORMALIZE_FIELD_MAX;
		if (h.form) {
			nz_field_url(z, NORMALIZE_BODY, s, cut, 0);
		} else if (h.json || h.xml) {
			size_t len = h.json ? nz_json(s, cut, z->scratch[0], NORMALIZE_FIELD_MAX) :
			    nz_xml(s, cut, z->scratch[0], NORMALIZE_FIELD_MAX);
			nz_append(z, NORMALIZE_BODY, z->scratch[0], len, true);
			nz_log4j(z, z->scratch[0], len);
		} else {
			nz_append(z, NORMALIZE_BODY, s, cut, true);
			nz_log4j(z, s, cut < NORMALIZE_FIELD_MAX ? cut : NORMALIZE_FIELD_MAX);
		}
	}
	*at = s + blen;
	return true;
}

int normalize_payload(struct normalize *z, const uint8_t *data, size_t len)
{
	const char *at = (const char *)data, *end = at + len;

	z->nrequests = 0;
	for (int f = 0; f < NORMALIZE_FIELDS; f++) {
		z->len[f] = 0;
		z->field[f][0] = '\0';
	}
	while (at < end && z->nrequests < NORMALIZE_REQUESTS_MAX &&
	    nz_request(z, end, &at))
		z->nrequests++;
	return z->nrequests;
}
