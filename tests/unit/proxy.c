/* proxy.c - unit tests of the PROXY protocol header parser
 * (src/capture/proxy.c): each input beside what it must give, fed whole,
 * split at every point, and one byte at a time; every prefix of a header
 * is "more". Run from unit.c's main through test_proxy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "proxy.h"

void test_proxy(int *passed, int *failed);

static int *px_passed, *px_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*px_passed)++;                                    \
		} else {                                                   \
			(*px_failed)++;                                    \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

#define SIG "\r\n\r\n\0\r\nQUIT\n"
#define V2(rest) SIG rest                 /* the signature, then ver_cmd on */

struct px_case {
	const char *name;
	const char *in;
	size_t len;                  /* bytes of in (they hold NULs) */
	enum proxy_status st;
	enum record_proxy version;
	enum record_proxy_error error;
	const char *src, *dst;       /* "ip:port" when the header carries them */
	size_t used;                 /* header bytes (DONE) */
};

#define IN(s) s, sizeof(s) - 1

static const struct px_case px_cases[] = {
	{"v1 tcp4", IN("PROXY TCP4 127.0.0.7 127.0.0.1 40000 8080\r\nGET / HTTP/1.0\r\n\r\n"),
	 PROXY_DONE, RECORD_PROXY_V1, PROXY_ERR_NONE, "127.0.0.7:40000", "127.0.0.1:8080", 43},
	{"v1 tcp6", IN("PROXY TCP6 ::1 2001:db8::1 1 65535\r\n"),
	 PROXY_DONE, RECORD_PROXY_V1, PROXY_ERR_NONE, "[::1]:1", "[2001:db8::1]:65535", 36},
	{"v1 tcp6 v4-mapped", IN("PROXY TCP6 ::ffff:10.0.0.1 ::1 0 80\r\n"),
	 PROXY_DONE, RECORD_PROXY_V1, PROXY_ERR_NONE, "10.0.0.1:0", "[::1]:80", 37},
	{"v1 unknown", IN("PROXY UNKNOWN\r\nX"),
	 PROXY_DONE, RECORD_PROXY_V1, PROXY_ERR_NONE, NULL, NULL, 15},
	{"v1 unknown with fields", IN("PROXY UNKNOWN ffff::1 ::1 1 2\r\n"),
	 PROXY_DONE, RECORD_PROXY_V1, PROXY_ERR_NONE, NULL, NULL, 31},
	{"v1 longest tcp6 (104 bytes)",
	 IN("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
	 PROXY_DONE, RECORD_PROXY_V1, PROXY_ERR_NONE,
	 "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
	 "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", 104},
	{"v1 LF without CR", IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"),
	 PROXY_FAIL, RECORD_PROXY_V1, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v1 lone CR", IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"),
	 PROXY_FAIL, RECORD_PROXY_V1, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v1 leading zero in address", IN("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"),
	 PROXY_FAIL, RECORD_PROXY_V1, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v1 leading zero in port", IN("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"),
	 PROXY_FAIL, RECORD_PROXY_V1, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v1 leading zero in v6 group", IN("PROXY TCP6 ::01 ::1 1 2\r\n"),
	 PROXY_FAIL, RECORD_PROXY_V1, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v1 octet over 255", IN("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n"),
	 PROXY_FAIL, RECORD_PROXY_V1, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v1 port over 65535", IN("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"),
	 PROXY_FAIL, RECORD_PROXY_V1, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v1 tcp4 with v6 address", IN("PROXY TCP4 ::1 ::1 1 2\r\n"),
	 PROXY_FAIL, RECORD_PROXY_V1, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v1 tcp6 with v4 address", IN("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n"),
	 PROXY_FAIL, RECORD_PROXY_V1, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v1 three-part address", IN("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"),
	 PROXY_FAIL, RECORD_PROXY_V1, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v1 two spaces", IN("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"),
	 PROXY_FAIL, RECORD_PROXY_V1, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v1 extra field", IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"),
	 PROXY_FAIL, RECORD_PROXY_V1, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v1 trailing space", IN("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"),
	 PROXY_FAIL, RECORD_PROXY_V1, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v1 unknown family", IN("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"),
	 PROXY_FAIL, RECORD_PROXY_V1, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v1 lower case", IN("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n"),
	 PROXY_FAIL, RECORD_PROXY_V1, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v1 no CRLF in 107 bytes",
	 IN("PROXY UNKNOWN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"),
	 PROXY_FAIL, RECORD_PROXY_V1, PROXY_ERR_TOO_LONG, NULL, NULL, 0},
	{"v1 NUL in line", IN("PROXY UNKNOWN \0\r\n"),
	 PROXY_FAIL, RECORD_PROXY_V1, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"missing: HTTP", IN("GET / HTTP/1.0\r\n\r\n"),
	 PROXY_FAIL, RECORD_PROXY_NONE, PROXY_ERR_MISSING, NULL, NULL, 0},
	{"missing: POST shares the P", IN("POST / HTTP/1.0\r\n\r\n"),
	 PROXY_FAIL, RECORD_PROXY_NONE, PROXY_ERR_MISSING, NULL, NULL, 0},
	{"missing: PROXY without space", IN("PROXYTCP4"),
	 PROXY_FAIL, RECORD_PROXY_NONE, PROXY_ERR_MISSING, NULL, NULL, 0},
	{"missing: CRLF CRLF is not the v2 signature", IN("\r\n\r\nGET"),
	 PROXY_FAIL, RECORD_PROXY_NONE, PROXY_ERR_MISSING, NULL, NULL, 0},
	{"v2 tcp4", IN(V2("\x21\x11\x00\x0c\x7f\x00\x00\x07\x7f\x00\x00\x01\x9c\x40\x1f\x90" "GET /")),
	 PROXY_DONE, RECORD_PROXY_V2, PROXY_ERR_NONE, "127.0.0.7:40000", "127.0.0.1:8080", 28},
	{"v2 tcp6",
	 IN(V2("\x21\x21\x00\x24" "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1" "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\1" "\x00\x01\x00\x50")),
	 PROXY_DONE, RECORD_PROXY_V2, PROXY_ERR_NONE, "[::1]:1", "[2001:db8::1]:80", 52},
	{"v2 tcp4 with TLVs (crc32c, unique id)",
	 IN(V2("\x21\x11\x00\x1b\x7f\x00\x00\x07\x7f\x00\x00\x01\x9c\x40\x1f\x90"
	       "\x03\x00\x04\x01\x02\x03\x04" "\x05\x00\x05hello")),
	 PROXY_DONE, RECORD_PROXY_V2, PROXY_ERR_NONE, "127.0.0.7:40000", "127.0.0.1:8080", 43},
	{"v2 TLV overruns the header",
	 IN(V2("\x21\x11\x00\x13\x7f\x00\x00\x07\x7f\x00\x00\x01\x9c\x40\x1f\x90" "\x04\x00\x09" "abcd")),
	 PROXY_FAIL, RECORD_PROXY_V2, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v2 TLV header cut short",
	 IN(V2("\x21\x11\x00\x0e\x7f\x00\x00\x07\x7f\x00\x00\x01\x9c\x40\x1f\x90" "\x04\x00")),
	 PROXY_FAIL, RECORD_PROXY_V2, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v2 tcp4 block longer than the header",
	 IN(V2("\x21\x11\x00\x08\x7f\x00\x00\x07\x7f\x00\x00\x01")),
	 PROXY_FAIL, RECORD_PROXY_V2, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v2 local", IN(V2("\x20\x00\x00\x00" "X")),
	 PROXY_DONE, RECORD_PROXY_V2_LOCAL, PROXY_ERR_NONE, NULL, NULL, 16},
	{"v2 local skips its body unread", IN(V2("\x20\x11\x00\x03\xff\xff\xff")),
	 PROXY_DONE, RECORD_PROXY_V2_LOCAL, PROXY_ERR_NONE, NULL, NULL, 19},
	{"v2 unspec under PROXY", IN(V2("\x21\x00\x00\x02zz")),
	 PROXY_DONE, RECORD_PROXY_V2, PROXY_ERR_NONE, NULL, NULL, 18},
	{"v2 udp4: transport addresses",
	 IN(V2("\x21\x12\x00\x0c\x7f\x00\x00\x07\x7f\x00\x00\x01\x9c\x40\x1f\x90")),
	 PROXY_DONE, RECORD_PROXY_V2, PROXY_ERR_NONE, NULL, NULL, 28},
	{"v2 unknown family", IN(V2("\x21\x41\x00\x00")),
	 PROXY_FAIL, RECORD_PROXY_V2, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v2 version 1", IN(V2("\x11\x11\x00\x0c")),
	 PROXY_FAIL, RECORD_PROXY_V2, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v2 command 2", IN(V2("\x22\x11\x00\x0c")),
	 PROXY_FAIL, RECORD_PROXY_V2, PROXY_ERR_MALFORMED, NULL, NULL, 0},
	{"v2 over 16 + 1024", IN(V2("\x21\x11\x04\x01")),
	 PROXY_FAIL, RECORD_PROXY_V2, PROXY_ERR_TOO_LONG, NULL, NULL, 0},
	{"v2 length 65535", IN(V2("\x21\x11\xff\xff")),
	 PROXY_FAIL, RECORD_PROXY_V2, PROXY_ERR_TOO_LONG, NULL, NULL, 0},
};

/* Feeds c->in cut into a first piece of `first` bytes, then pieces of
 * `step` (0: the rest at once). */
static enum proxy_status px_run(const struct px_case *c, size_t first, size_t step,
    size_t *used_total, struct proxy_result *res)
{
	static struct proxy_parser p;
	enum proxy_status st = PROXY_MORE;
	size_t at = 0;

	proxy_init(&p);
	while (at < c->len && st == PROXY_MORE) {
		size_t n = at == 0 && first ? first : step ? step : c->len - at;
		size_t used = 0;
		if (n > c->len - at)
			n = c->len - at;
		st = proxy_feed(&p, (const uint8_t *)c->in + at, n, &used, res);
		at += used;
	}
	*used_total = at;
	return st;
}

static void px_check(const struct px_case *c, const char *how, enum proxy_status st,
    size_t used, const struct proxy_result *r)
{
	char src[ADDR_TEXT_LEN] = "", dst[ADDR_TEXT_LEN] = "";

	CHECK(st == c->st, "%s (%s): status %d, want %d", c->name, how, st, c->st);
	if (st == PROXY_MORE)
		return;
	CHECK(r->version == c->version, "%s (%s): version %d, want %d", c->name, how,
	    r->version, c->version);
	CHECK(r->error == c->error, "%s (%s): error %d, want %d", c->name, how, r->error,
	    c->error);
	if (r->addrs) {
		addr_format(&r->src, src, sizeof(src));
		addr_format(&r->dst, dst, sizeof(dst));
	}
	CHECK(r->addrs == (c->src != NULL), "%s (%s): addrs %d", c->name, how, r->addrs);
	CHECK(!c->src || strcmp(src, c->src) == 0, "%s (%s): src %s, want %s", c->name,
	    how, src, c->src);
	CHECK(!c->dst || strcmp(dst, c->dst) == 0, "%s (%s): dst %s, want %s", c->name,
	    how, dst, c->dst);
	if (c->st == PROXY_DONE)
		CHECK(used == c->used, "%s (%s): used %zu, want %zu", c->name, how, used,
		    c->used);
}

/* Every case whole, byte by byte, and split at every point. */
static void test_proxy_table(void)
{
	for (size_t i = 0; i < sizeof(px_cases) / sizeof(px_cases[0]); i++) {
		const struct px_case *c = &px_cases[i];
		struct proxy_result r;
		size_t used;
		enum proxy_status st = px_run(c, 0, 0, &used, &r);

		px_check(c, "whole", st, used, &r);
		st = px_run(c, 0, 1, &used, &r);
		px_check(c, "byte by byte", st, used, &r);
		for (size_t cut = 1; cut < c->len; cut++) {
			char how[32];
			snprintf(how, sizeof(how), "split at %zu", cut);
			st = px_run(c, cut, 0, &used, &r);
			px_check(c, how, st, used, &r);
		}
	}
}

/* Every proper prefix of a valid header is "more", all bytes taken. */
static void test_proxy_prefixes(void)
{
	for (size_t i = 0; i < sizeof(px_cases) / sizeof(px_cases[0]); i++) {
		const struct px_case *c = &px_cases[i];
		if (c->st != PROXY_DONE)
			continue;
		for (size_t len = 0; len < c->used; len++) {
			static struct proxy_parser p;
			struct proxy_result r;
			size_t used = 99;
			proxy_init(&p);
			enum proxy_status st = proxy_feed(&p, (const uint8_t *)c->in, len, &used, &r);
			CHECK(st == PROXY_MORE && used == len, "%s: prefix %zu gave %d", c->name,
			    len, st);
		}
	}
}

/* The largest v2 header we take fills the buffer exactly; TLVs to the end. */
static void test_proxy_v2_largest(void)
{
	static uint8_t in[PROXY_V2_MAX + 4];
	static struct proxy_parser p;
	struct proxy_result r;
	size_t used;

	memcpy(in, SIG, 12);
	in[12] = 0x21;
	in[13] = 0x11;
	in[14] = PROXY_V2_BODY_MAX >> 8;
	in[15] = PROXY_V2_BODY_MAX & 0xff;
	memset(in + 16, 1, 12);
	/* one NOOP TLV covering the rest: 1024 - 12 - 3 value bytes */
	in[28] = 0x04;
	in[29] = (PROXY_V2_BODY_MAX - 15) >> 8;
	in[30] = (PROXY_V2_BODY_MAX - 15) & 0xff;
	proxy_init(&p);
	enum proxy_status st = proxy_feed(&p, in, sizeof(in), &used, &r);
	CHECK(st == PROXY_DONE && used == PROXY_V2_MAX && r.addrs,
	    "largest v2: status %d used %zu", st, used);
}

/* proxy_from networks (addr.c): parsing and membership. */
static void test_proxy_cidrs(void)
{
	static const struct {
		const char *cidr;
		int ok;
		const char *in, *out;    /* an address inside, one outside ("ip:port") */
	} cases[] = {
		{"127.0.0.1/32", 1, "127.0.0.1:1", "127.0.0.2:1"},
		{"127.0.0.1", 1, "127.0.0.1:1", "127.0.0.7:1"},
		{"10.0.0.0/8", 1, "10.255.1.2:1", "11.0.0.1:1"},
		{"10.1.2.128/25", 1, "10.1.2.200:1", "10.1.2.127:1"},
		{"0.0.0.0/0", 1, "192.0.2.1:1", "[::1]:1"},
		{"::1", 1, "[::1]:1", "[::2]:1"},
		{"2001:db8::/32", 1, "[2001:db8:ffff::1]:1", "[2001:db9::1]:1"},
		{"::ffff:192.0.2.0/120", 1, "192.0.2.9:1", "192.0.3.9:1"},
		{"127.0.0.1/32", 1, "[::ffff:127.0.0.1]:1", "[::1]:1"},
		{"10.0.0.1/8", 0, NULL, NULL}, {"10.0.0.0/33", 0, NULL, NULL}, {"10.0.0.0/", 0, NULL, NULL}, {"/8", 0, NULL, NULL},
		{"10.0.0.0/8x", 0, NULL, NULL}, {"10.0.0.0/-1", 0, NULL, NULL}, {"example.org", 0, NULL, NULL}, {"", 0, NULL, NULL},
		{"::1/129", 0, NULL, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct addr_cidr c;
		struct addr a;
		int rc = addr_cidr_parse(cases[i].cidr, &c);
		CHECK((rc == 0) == cases[i].ok, "cidr '%s': rc %d", cases[i].cidr, rc);
		if (rc < 0 || !cases[i].ok)
			continue;
		CHECK(addr_parse(cases[i].in, &a) == 0 && addr_in_cidr(&a, &c),
		    "%s not in %s", cases[i].in, cases[i].cidr);
		CHECK(addr_parse(cases[i].out, &a) == 0 && !addr_in_cidr(&a, &c),
		    "%s in %s", cases[i].out, cases[i].cidr);
	}
}

void test_proxy(int *passed, int *failed)
{
	px_passed = passed;
	px_failed = failed;
	test_proxy_table();
	test_proxy_prefixes();
	test_proxy_v2_largest();
	test_proxy_cidrs();
}
