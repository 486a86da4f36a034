/* tlshello.c - unit tests of the ClientHello parser (src/core/tlshello.c):
 * hellos built from lists beside the facts and fingerprints they must
 * give. JA4 against the examples of FoxIO's specification
 * (technical_details/JA4.md: the t13d1516h2 hello, its raw form, the
 * extension hash without signature algorithms, the ALPN examples, the
 * 000000000000 rule); GREASE kept in the lists and left out of JA3/JA4;
 * every prefix "partial" and every re-framing into records the same
 * answer; broken hellos by state. Run from unit.c's main through
 * test_tlshello. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlshello.h"

void test_tlshello(int *passed, int *failed);

static int *th_passed, *th_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*th_passed)++;                                    \
		} else {                                                   \
			(*th_failed)++;                                    \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

#define END 0x10000                  /* ends a list of values */
#define MSG_MAX 70000

struct buf {
	uint8_t b[MSG_MAX];
	size_t n;
};

static void put(struct buf *m, const void *p, size_t n)
{
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void put16(struct buf *m, unsigned v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	put(m, b, 2);
}

static void put_at16(struct buf *m, size_t at, unsigned v)
{
	m->b[at] = (uint8_t)(v >> 8);
	m->b[at + 1] = (uint8_t)v;
}

/* An extension: type, then its data. */
struct ext {
	unsigned type;
	const char *data;            /* raw bytes */
	size_t len;
};

#define EXT(t, s) {t, s, sizeof(s) - 1}

/* A ClientHello message (header included) from a list of ciphers (ended
 * by END) and extensions (NULL: no extension block at all). */
static void hello(struct buf *m, unsigned version, const unsigned *ciphers,
    const struct ext *exts, size_t nexts)
{
	m->n = 0;
	put(m, "\x01\0\0\0", 4);
	put16(m, version);
	for (int i = 0; i < 32; i++)
		put(m, "r", 1);
	put(m, "\0", 1);
	size_t at = m->n;
	put16(m, 0);
	size_t k = 0;
	for (; ciphers[k] != END; k++)
		put16(m, ciphers[k]);
	put_at16(m, at, (unsigned)(2 * k));
	put(m, "\x01\x00", 2);
	if (exts) {
		at = m->n;
		put16(m, 0);
		for (size_t i = 0; i < nexts; i++) {
			put16(m, exts[i].type);
			put16(m, (unsigned)exts[i].len);
			put(m, exts[i].data, exts[i].len);
		}
		put_at16(m, at, (unsigned)(m->n - at - 2));
	}
	size_t body = m->n - 4;
	m->b[1] = (uint8_t)(body >> 16);
	m->b[2] = (uint8_t)(body >> 8);
	m->b[3] = (uint8_t)body;
}

/* msg framed in TLS records of at most step bytes (0: 16384). */
static void frame(struct buf *out, const struct buf *msg, size_t step)
{
	out->n = 0;
	for (size_t at = 0; at < msg->n; ) {
		size_t k = msg->n - at;
		if (k > (step ? step : 16384))
			k = step ? step : 16384;
		put(out, "\x16\x03\x01", 3);
		put16(out, (unsigned)k);
		put(out, msg->b + at, k);
		at += k;
	}
}

static char *text(const struct tlshello *h, enum tlshello_field f)
{
	static char keep[TLSHELLO_F_COUNT][8192];
	char *t = tlshello_text(h, f);

	snprintf(keep[f], sizeof(keep[f]), "%s", t ? t : "(null)");
	free(t);
	return keep[f];
}

static bool same(const struct tlshello *a, const struct tlshello *b)
{
	if (tlshello_state(a) != tlshello_state(b) ||
	    tlshello_hello_version(a) != tlshello_hello_version(b))
		return false;
	for (int f = 0; f < TLSHELLO_F_COUNT; f++) {
		char *x = tlshello_text(a, f), *y = tlshello_text(b, f);
		bool eq = (!x && !y) || (x && y && strcmp(x, y) == 0);
		free(x);
		free(y);
		if (!eq)
			return false;
	}
	return true;
}

/* The hello of JA4.md's example: 15 ciphers, 16 extensions in the order
 * given there, its signature algorithms, ALPN h2, TLS 1.3 offered. With
 * grease, GREASE values among the ciphers, extensions and versions. */
static const unsigned spec_ciphers[] = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c,
    0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035, END};
static const unsigned grease_ciphers[] = {0x5a5a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f,
    0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035, END};

#define SIGALGS "\x00\x10\x04\x03\x08\x04\x04\x01\x05\x03\x08\x05\x05\x01\x08\x06\x06\x01"
#define SNI "\x00\x0e\x00\x00\x0b" "example.com"
#define GROUPS "\x00\x06\x00\x1d\x00\x17\x00\x18"

static const struct ext spec_exts[] = {
	EXT(0x001b, "\x02\x00\x02"), EXT(0x0000, SNI), EXT(0x0033, "\x00\x00"),
	EXT(0x0010, "\x00\x03\x02h2"), EXT(0x4469, "\x00\x03\x02h2"), EXT(0x0017, ""),
	EXT(0x002d, "\x01\x01"), EXT(0x000d, SIGALGS), EXT(0x0005, "\x01\x00\x00\x00\x00"),
	EXT(0x0023, ""), EXT(0x0012, ""), EXT(0x002b, "\x04\x03\x04\x03\x03"),
	EXT(0xff01, "\x00"), EXT(0x000b, "\x01\x00"), EXT(0x000a, GROUPS),
	EXT(0x0015, "\x00\x00\x00"),
};

static const struct ext grease_exts[] = {
	EXT(0x0a0a, ""),
	EXT(0x001b, "\x02\x00\x02"), EXT(0x0000, SNI), EXT(0x0033, "\x00\x00"),
	EXT(0x0010, "\x00\x03\x02h2"), EXT(0x4469, "\x00\x03\x02h2"), EXT(0x0017, ""),
	EXT(0x002d, "\x01\x01"), EXT(0x000d, SIGALGS), EXT(0x0005, "\x01\x00\x00\x00\x00"),
	EXT(0x0023, ""), EXT(0x0012, ""), EXT(0x002b, "\x06\x7a\x7a\x03\x04\x03\x03"),
	EXT(0xff01, "\x00"), EXT(0x000b, "\x01\x00"),
	EXT(0x000a, "\x00\x08\xfa\xfa\x00\x1d\x00\x17\x00\x18"),
	EXT(0x0015, "\x00\x00\x00"), EXT(0xeaea, "\x00"),
};

#define SPEC_JA4 "t13d1516h2_8daaf6152771_e5627efa2ab1"
#define SPEC_JA4_R "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c," \
	"c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033," \
	"4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601"
#define SPEC_JA3 "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-" \
	"156-157-47-53,27-0-51-16-17513-23-45-13-5-35-18-43-65281-11-10-21,29-23-24,0"

static void test_spec_example(void)
{
	static struct buf m, s, g;

	hello(&m, 0x0303, spec_ciphers, spec_exts, sizeof(spec_exts) / sizeof(spec_exts[0]));
	frame(&s, &m, 0);
	struct tlshello *h = tlshello_parse(s.b, s.n);
	CHECK(tlshello_state(h) == TLSHELLO_OK, "state %d", tlshello_state(h));
	CHECK(strcmp(text(h, TLSHELLO_F_JA4), SPEC_JA4) == 0, "%s", text(h, TLSHELLO_F_JA4));
	CHECK(strcmp(text(h, TLSHELLO_F_JA4_R), SPEC_JA4_R) == 0, "%s", text(h, TLSHELLO_F_JA4_R));
	CHECK(strcmp(text(h, TLSHELLO_F_JA3), SPEC_JA3) == 0, "%s", text(h, TLSHELLO_F_JA3));
	CHECK(strcmp(text(h, TLSHELLO_F_SNI), "example.com") == 0, "%s", text(h, TLSHELLO_F_SNI));
	CHECK(strcmp(text(h, TLSHELLO_F_ALPN), "h2") == 0, "%s", text(h, TLSHELLO_F_ALPN));
	CHECK(strcmp(text(h, TLSHELLO_F_VERSIONS), "0304,0303") == 0, "%s",
	    text(h, TLSHELLO_F_VERSIONS));
	CHECK(strcmp(text(h, TLSHELLO_F_POINT_FORMATS), "00") == 0, "%s",
	    text(h, TLSHELLO_F_POINT_FORMATS));
	CHECK(tlshello_record_version(h) == 0x0301 && tlshello_hello_version(h) == 0x0303,
	    "%d %d", tlshello_record_version(h), tlshello_hello_version(h));

	/* GREASE: kept where the lists are stored, ignored by JA3 and JA4 */
	hello(&m, 0x0303, grease_ciphers, grease_exts, sizeof(grease_exts) / sizeof(grease_exts[0]));
	frame(&g, &m, 0);
	struct tlshello *gh = tlshello_parse(g.b, g.n);
	CHECK(strcmp(text(gh, TLSHELLO_F_JA4), SPEC_JA4) == 0, "%s", text(gh, TLSHELLO_F_JA4));
	CHECK(strcmp(text(gh, TLSHELLO_F_JA4_R), SPEC_JA4_R) == 0, "%s", text(gh, TLSHELLO_F_JA4_R));
	CHECK(strcmp(text(gh, TLSHELLO_F_JA3), SPEC_JA3) == 0, "%s", text(gh, TLSHELLO_F_JA3));
	CHECK(strcmp(text(gh, TLSHELLO_F_JA3_MD5), text(h, TLSHELLO_F_JA3_MD5)) == 0, "md5");
	CHECK(strncmp(text(gh, TLSHELLO_F_CIPHERS), "5a5a,1301,", 10) == 0, "%s",
	    text(gh, TLSHELLO_F_CIPHERS));
	CHECK(strcmp(text(gh, TLSHELLO_F_VERSIONS), "7a7a,0304,0303") == 0, "%s",
	    text(gh, TLSHELLO_F_VERSIONS));
	CHECK(strcmp(text(gh, TLSHELLO_F_GROUPS), "fafa,001d,0017,0018") == 0, "%s",
	    text(gh, TLSHELLO_F_GROUPS));
	CHECK(strncmp(text(gh, TLSHELLO_F_EXTENSIONS), "0a0a,001b,", 10) == 0 &&
	    strstr(text(gh, TLSHELLO_F_EXTENSIONS), ",eaea") != NULL, "%s",
	    text(gh, TLSHELLO_F_EXTENSIONS));
	tlshello_free(gh);

	/* every re-framing (records of 1, 2, 3, 7, 100 bytes) and every cut
	 * of the stream gives the same hello; every prefix is partial */
	static const size_t steps[] = {1, 2, 3, 7, 100};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		hello(&m, 0x0303, spec_ciphers, spec_exts, sizeof(spec_exts) / sizeof(spec_exts[0]));
		frame(&g, &m, steps[i]);
		struct tlshello *r = tlshello_parse(g.b, g.n);
		CHECK(same(h, r), "framed in records of %zu", steps[i]);
		tlshello_free(r);
		size_t end = 0, bad = 0;
		for (size_t n = 0; n < g.n; n++) {
			bad += tlshello_extent(g.b, n, &end) != TLSHELLO_PARTIAL;
			struct tlshello *p = tlshello_parse(g.b, n);
			bad += tlshello_state(p) != (n < 3 ? TLSHELLO_NONE : TLSHELLO_PARTIAL);
			tlshello_free(p);
		}
		CHECK(bad == 0, "%zu prefixes not partial (records of %zu)", bad, steps[i]);
		put(&g, "\x17\x03\x03\x00\x01x", 6);      /* what follows is not the hello's */
		CHECK(tlshello_extent(g.b, g.n, &end) == TLSHELLO_OK && end == g.n - 6,
		    "extent %zu of %zu", end, g.n);
	}
	tlshello_free(h);
}

/* JA4's ALPN characters (JA4.md's examples), the 00 rules, and the
 * extension hash without signature algorithms (6d807ffa2a79). */
static void test_ja4_rules(void)
{
	static const struct {
		const char *alpn;        /* the ALPN extension's data */
		size_t len;
		const char *want;        /* ja4[8..9] */
	} alpn[] = {
		{"\x00\x02\x01\xab", 4, "ab"},
		{"\x00\x03\x02\xab\xcd", 5, "ad"},
		{"\x00\x03\x02\x30\xab", 5, "3b"},
		{"\x00\x05\x04\x30\x31\xab\xcd", 7, "3d"},
		{"\x00\x05\x04\x30\xab\xcd\x31", 7, "01"},
		{"\x00\x02\x01h", 4, "hh"},
		{"\x00\x0c\x08http/1.1\x02h2", 14, "h1"},
		{NULL, 0, "00"},
	};
	static const unsigned one[] = {0x002f, END}, none[] = {END};
	static struct buf m, s;

	for (size_t i = 0; i < sizeof(alpn) / sizeof(alpn[0]); i++) {
		struct ext e[] = {{0x0010, alpn[i].alpn, alpn[i].len}};
		hello(&m, 0x0303, one, e, alpn[i].alpn ? 1 : 0);
		frame(&s, &m, 0);
		struct tlshello *h = tlshello_parse(s.b, s.n);
		const char *j = text(h, TLSHELLO_F_JA4);
		CHECK(strlen(j) == 36 && strncmp(j + 8, alpn[i].want, 2) == 0, "%s want %s", j,
		    alpn[i].want);
		tlshello_free(h);
	}

	/* JA4.md: the example's extensions with no signature algorithms */
	struct ext nosig[sizeof(spec_exts) / sizeof(spec_exts[0])];
	memcpy(nosig, spec_exts, sizeof(nosig));
	nosig[7] = (struct ext){0x000d, "\x00\x00", 2};
	hello(&m, 0x0303, spec_ciphers, nosig, sizeof(nosig) / sizeof(nosig[0]));
	frame(&s, &m, 0);
	struct tlshello *h = tlshello_parse(s.b, s.n);
	CHECK(strcmp(text(h, TLSHELLO_F_JA4) + 24, "6d807ffa2a79") == 0, "%s",
	    text(h, TLSHELLO_F_JA4));
	/* an empty list breaks the specification, but the lists are whole */
	CHECK(tlshello_state(h) == TLSHELLO_MALFORMED, "state %d", tlshello_state(h));
	tlshello_free(h);

	/* no ciphers, no extensions: 000000000000; no versions extension:
	 * the legacy version; no SNI: i */
	hello(&m, 0x0301, none, NULL, 0);
	frame(&s, &m, 0);
	h = tlshello_parse(s.b, s.n);
	CHECK(strcmp(text(h, TLSHELLO_F_JA4), "t10i000000_000000000000_000000000000") == 0,
	    "%s", text(h, TLSHELLO_F_JA4));
	CHECK(strcmp(text(h, TLSHELLO_F_JA3), "769,,,,") == 0, "%s", text(h, TLSHELLO_F_JA3));
	CHECK(strcmp(text(h, TLSHELLO_F_EXTENSIONS), "(null)") == 0, "%s",
	    text(h, TLSHELLO_F_EXTENSIONS));
	tlshello_free(h);

	/* over 99 ciphers: 99 */
	static unsigned many[150];
	for (unsigned i = 0; i < 149; i++)
		many[i] = 0x0100 + i;
	many[149] = END;
	hello(&m, 0x0303, many, NULL, 0);
	frame(&s, &m, 0);
	h = tlshello_parse(s.b, s.n);
	CHECK(strncmp(text(h, TLSHELLO_F_JA4), "t12i9900", 8) == 0, "%s", text(h, TLSHELLO_F_JA4));
	tlshello_free(h);
}

/* Streams by what they are: the state, and the extent's end (-1: the
 * whole input). */
static void test_states(void)
{
	static const struct {
		const char *name;
		const char *bytes;
		size_t len;
		enum tlshello_state extent, parse;
		long end;
	} cases[] = {
		{"http", "GET / HTTP/1.0\r\n\r\n", 18, TLSHELLO_NONE, TLSHELLO_NONE, 0},
		{"empty", "", 0, TLSHELLO_PARTIAL, TLSHELLO_NONE, 0},
		/* too short to say: more bytes for the front, no TLS for a payload */
		{"one byte", "\x16", 1, TLSHELLO_PARTIAL, TLSHELLO_NONE, 0},
		{"two bytes", "\x16\x03", 2, TLSHELLO_PARTIAL, TLSHELLO_NONE, 0},
		{"a record's start", "\x16\x03\x01", 3, TLSHELLO_PARTIAL, TLSHELLO_PARTIAL, 0},
		{"high bit, short", "\x9f\x01\x01\x00", 4, TLSHELLO_PARTIAL, TLSHELLO_NONE, 0},
		{"not version 3", "\x16\x02\x00", 3, TLSHELLO_NONE, TLSHELLO_NONE, 0},
		{"version 3.5", "\x16\x03\x05\x00\x01\x01", 6, TLSHELLO_NONE, TLSHELLO_NONE, 0},
		{"empty record", "\x16\x03\x01\x00\x00", 5, TLSHELLO_MALFORMED, TLSHELLO_MALFORMED, 5},
		{"record over 2^14", "\x16\x03\x01\x40\x01", 5, TLSHELLO_MALFORMED,
		    TLSHELLO_MALFORMED, 5},
		{"server hello", "\x16\x03\x03\x00\x04\x02\x00\x00\x00", 9, TLSHELLO_MALFORMED,
		    TLSHELLO_MALFORMED, 6},
		{"hello over the cap", "\x16\x03\x01\x00\x04\x01\x00\x90\x00", 9,
		    TLSHELLO_OVERSIZED, TLSHELLO_OVERSIZED, 9},
		{"alert inside", "\x16\x03\x01\x00\x02\x01\x00\x15\x03\x01\x00\x02\x02\x28", 14,
		    TLSHELLO_MALFORMED, TLSHELLO_MALFORMED, 8},
		{"empty body", "\x16\x03\x01\x00\x04\x01\x00\x00\x00", 9, TLSHELLO_OK,
		    TLSHELLO_MALFORMED, 9},
		{"body too short", "\x16\x03\x01\x00\x06\x01\x00\x00\x02\x03\x03", 11, TLSHELLO_OK,
		    TLSHELLO_MALFORMED, 11},
		{"sslv2", "\x80\x1c\x01\x00\x02\x00\x03\x00\x00\x00\x10\x07\x00\xc0"
		    "0123456789abcdef", 30, TLSHELLO_SSLV2, TLSHELLO_SSLV2, 30},
		{"sslv2 cut", "\x80\x1c\x01\x00\x02\x00\x03\x00\x00\x00\x10\x07\x00", 13,
		    TLSHELLO_PARTIAL, TLSHELLO_PARTIAL, 0},
		{"sslv2 lengths", "\x80\x1c\x01\x00\x02\x00\x04\x00\x00\x00\x10", 11,
		    TLSHELLO_MALFORMED, TLSHELLO_MALFORMED, 11},
		{"high bit, not a hello", "\x80\x1c\x02\x00\x02", 5, TLSHELLO_NONE, TLSHELLO_NONE, 0},
		{"high bit, odd version", "\x80\x1c\x01\x03\x09", 5, TLSHELLO_NONE, TLSHELLO_NONE, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const uint8_t *b = (const uint8_t *)cases[i].bytes;
		size_t end = 99;
		enum tlshello_state st = tlshello_extent(b, cases[i].len, &end);
		CHECK(st == cases[i].extent && (long)end == cases[i].end, "%s: extent %d end %zu",
		    cases[i].name, st, end);
		struct tlshello *h = tlshello_parse(b, cases[i].len);
		CHECK(tlshello_state(h) == cases[i].parse && (h != NULL) ==
		    (cases[i].parse != TLSHELLO_NONE), "%s: parse %d", cases[i].name,
		    tlshello_state(h));
		tlshello_free(h);
	}

	/* SSLv2's facts: its version and 6-hex cipher specs, no record
	 * version, no fingerprints */
	size_t v2 = 0;
	while (strcmp(cases[v2].name, "sslv2") != 0)
		v2++;
	struct tlshello *h = tlshello_parse((const uint8_t *)cases[v2].bytes, cases[v2].len);
	CHECK(strcmp(text(h, TLSHELLO_F_CIPHERS), "0700c0") == 0, "%s", text(h, TLSHELLO_F_CIPHERS));
	CHECK(tlshello_hello_version(h) == 2 && tlshello_record_version(h) == -1, "versions");
	CHECK(strcmp(text(h, TLSHELLO_F_JA3), "(null)") == 0, "ja3 %s", text(h, TLSHELLO_F_JA3));
	tlshello_free(h);

	/* oversized by the stream: records of 1 byte take six stream bytes
	 * for each of the hello's, so a 6 KiB hello passes 32 KiB */
	static struct buf m, s;
	static unsigned many[3000];
	for (unsigned i = 0; i < 2999; i++)
		many[i] = 0x0100 + i;
	many[2999] = END;
	hello(&m, 0x0303, many, NULL, 0);
	frame(&s, &m, 1);
	size_t end;
	CHECK(tlshello_extent(s.b, s.n, &end) == TLSHELLO_OVERSIZED && end == TLSHELLO_MAX,
	    "extent end %zu", end);
	h = tlshello_parse(s.b, s.n);
	CHECK(tlshello_state(h) == TLSHELLO_OVERSIZED && tlshello_hello_version(h) == 0x0303,
	    "state %d", tlshello_state(h));
	CHECK(tlshello_size(h) < sizeof(s.b) && tlshello_size(h) > 5000, "size %zu",
	    tlshello_size(h));
	tlshello_free(h);

	/* peer strings escaped: NUL, ESC, a backslash, non-UTF-8; an ALPN
	 * name's comma */
	static const unsigned one[] = {0x002f, END};
	struct ext e[] = {
		EXT(0x0000, "\x00\x0b\x00\x00\x08" "a\0b\x1b\\\xff,c"),
		EXT(0x0010, "\x00\x07\x03h,2\x02\xc3("),
	};
	hello(&m, 0x0303, one, e, 2);
	frame(&s, &m, 0);
	h = tlshello_parse(s.b, s.n);
	CHECK(strcmp(text(h, TLSHELLO_F_SNI), "a\\x00b\\x1b\\x5c\\xff,c") == 0, "%s",
	    text(h, TLSHELLO_F_SNI));
	CHECK(strcmp(text(h, TLSHELLO_F_ALPN), "h\\x2c2,\\xc3(") == 0, "%s",
	    text(h, TLSHELLO_F_ALPN));
	tlshello_free(h);
}

void test_tlshello(int *passed, int *failed)
{
	th_passed = passed;
	th_failed = failed;
	test_spec_example();
	test_ja4_rules();
	test_states();
}
