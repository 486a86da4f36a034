/* syslog.c - unit tests of the syslog sink's pure parts: the --syslog
 * target (src/core/syslog_target.c) and the RFC 5424 formatter
 * (src/output/rfc5424.c): SD-PARAM escaping of '"', '\' and ']', of
 * newlines, NULs and bytes that are not ASCII, the value and message caps,
 * PRI and the timestamp. Run from unit.c's main through test_syslog. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "record.h"
#include "rfc5424.h"
#include "syslog_target.h"

void test_syslog(int *passed, int *failed);

static int *sl_passed, *sl_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*sl_passed)++;                                    \
		} else {                                                   \
			(*sl_failed)++;                                    \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

static void test_syslog_targets(void)
{
	static const struct {
		const char *text;
		int ok;
		enum syslog_transport transport;
		const char *host, *port, *path;
	} cases[] = {
		{"local", 1, SYSLOG_UNIX, "", "", "/dev/log"},
		{"unix:/run/x.sock", 1, SYSLOG_UNIX, "", "", "/run/x.sock"},
		{"unix:x.sock", 0, 0, NULL, NULL, NULL},
		{"unix:", 0, 0, NULL, NULL, NULL},
		{"udp://127.0.0.1:514", 1, SYSLOG_UDP, "127.0.0.1", "514", ""},
		{"tcp://logs.example.org:6514", 1, SYSLOG_TCP, "logs.example.org", "6514", ""},
		{"tcp://[::1]:10514", 1, SYSLOG_TCP, "::1", "10514", ""},
		{"udp://00127.0.0.1:0514", 1, SYSLOG_UDP, "00127.0.0.1", "514", ""},
		{"tcp://[::1]", 0, 0, NULL, NULL, NULL},
		{"tcp://host", 0, 0, NULL, NULL, NULL},
		{"tcp://:514", 0, 0, NULL, NULL, NULL},
		{"tcp://host:0", 0, 0, NULL, NULL, NULL},
		{"tcp://host:65536", 0, 0, NULL, NULL, NULL},
		{"tcp://host:123456", 0, 0, NULL, NULL, NULL},
		{"tcp://host:-1", 0, 0, NULL, NULL, NULL},
		{"tcp://ho st:514", 0, 0, NULL, NULL, NULL},
		{"tcp://host\n:514", 0, 0, NULL, NULL, NULL},
		{"tcp://[::1%eth0]:514", 0, 0, NULL, NULL, NULL},
		{"http://host:514", 0, 0, NULL, NULL, NULL},
		{"", 0, 0, NULL, NULL, NULL},
		{"LOCAL", 0, 0, NULL, NULL, NULL},
	};
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct syslog_target t;
		err[0] = '\0';
		int rc = syslog_target_parse(cases[i].text, &t, err, sizeof(err));
		CHECK((rc == 0) == cases[i].ok, "'%s' gives %d (%s)", cases[i].text, rc, err);
		if (rc < 0) {
			CHECK(strncmp(err, "syslog: ", 8) == 0, "'%s': message '%s'",
			    cases[i].text, err);
			continue;
		}
		if (!cases[i].ok)
			continue;
		CHECK(t.transport == cases[i].transport, "'%s' transport", cases[i].text);
		CHECK(strcmp(t.host, cases[i].host) == 0, "'%s' host '%s'", cases[i].text, t.host);
		CHECK(strcmp(t.port, cases[i].port) == 0, "'%s' port '%s'", cases[i].text, t.port);
		CHECK(strcmp(t.path, cases[i].path) == 0, "'%s' path '%s'", cases[i].text, t.path);
	}
}

static void test_syslog_sd_values(void)
{
	static const struct {
		const char *in;
		size_t len;              /* 0: strlen */
		int raw;
		const char *out;
		int escaped, cut;
	} cases[] = {
		{"plain", 0, 1, "plain", 0, 0},
		{"a\"b", 0, 1, "a\\\"b", 0, 0},
		{"a]b", 0, 1, "a\\]b", 0, 0},
		/* the backslash: text.c's \x5c, whose backslash RFC 5424 escapes */
		{"a\\b", 0, 1, "a\\\\x5cb", 1, 0},
		{"a\nb\r", 0, 1, "a\\\\x0ab\\\\x0d", 1, 0},
		{"a\0b", 3, 1, "a\\\\x00b", 1, 0},
		{"\xc3\x28\xff", 0, 1, "\\\\xc3(\\\\xff", 1, 0},
		{"] \"\\", 0, 1, "\\] \\\"\\\\x5c", 1, 0},
		/* escaped already (an SNI from tlshello_text): kept, quoted */
		{"x\\x41]", 0, 0, "x\\\\x41\\]", 0, 0},
		/* not escaped after all: escaped now */
		{"x\ny", 0, 0, "x\\\\x0ay", 1, 0},
		{"", 0, 1, "", 0, 0},
	};
	char out[2 * RFC5424_VALUE_MAX + 1];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rfc5424_result res = {0};
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		size_t n = rfc5424_sd_value(cases[i].in, len, cases[i].raw, out, sizeof(out), &res);
		CHECK(strcmp(out, cases[i].out) == 0 && n == strlen(out),
		    "case %zu: '%s' want '%s'", i, out, cases[i].out);
		CHECK(res.escaped == cases[i].escaped && res.cut == cases[i].cut,
		    "case %zu: escaped %d cut %d", i, res.escaped, res.cut);
	}

	/* the cap: RFC5424_VALUE_MAX bytes of escaped text, never half an escape */
	char big[1000];
	struct rfc5424_result res = {0};
	memset(big, 'a', sizeof(big));
	size_t n = rfc5424_sd_value(big, sizeof(big), true, out, sizeof(out), &res);
	CHECK(n == RFC5424_VALUE_MAX && res.cut && !res.escaped, "cut at %zu", n);
	memset(big, '\n', sizeof(big));
	res = (struct rfc5424_result){0};
	n = rfc5424_sd_value(big, sizeof(big), true, out, sizeof(out), &res);
	CHECK(n == RFC5424_VALUE_MAX / 4 * 5 && res.cut && res.escaped, "escapes cut at %zu", n);
	CHECK(strcmp(out + n - 5, "\\\\x0a") == 0, "ends on a whole escape: %s", out + n - 5);
	/* exactly the cap: not cut */
	res = (struct rfc5424_result){0};
	n = rfc5424_sd_value("\n\n", 2, true, out, sizeof(out), &res);
	memset(big, 'b', RFC5424_VALUE_MAX);
	res = (struct rfc5424_result){0};
	n = rfc5424_sd_value(big, RFC5424_VALUE_MAX, true, out, sizeof(out), &res);
	CHECK(n == RFC5424_VALUE_MAX && !res.cut, "the cap itself is not a cut");

	/* escaped already (raw false), cut at each position of a \xNN: the
	 * value ends before the escape it would split, or after it whole */
	for (size_t at = 0; at <= 4; at++) {
		char esc[RFC5424_VALUE_MAX + 16];
		size_t pre = RFC5424_VALUE_MAX - at;   /* the cap falls 'at' bytes into it */
		memset(esc, 'a', pre);
		memcpy(esc + pre, "\\x01\\x02", 8);
		res = (struct rfc5424_result){0};
		n = rfc5424_sd_value(esc, pre + 8, false, out, sizeof(out), &res);
		size_t want = at == 4 ? pre + 5 : pre; /* "\\x01" is 5 bytes SD-escaped */
		CHECK(n == want && res.cut && !res.escaped,
		    "cut %zu bytes into an escape: %zu bytes, want %zu, ends '%s'", at, n,
		    want, n >= 6 ? out + n - 6 : out);
		CHECK(at != 4 || strcmp(out + n - 5, "\\\\x01") == 0, "whole escape: %s",
		    out + n - 5);
	}
}

static void test_syslog_header(void)
{
	char tok[8];

	CHECK(rfc5424_pri(16, 6) == 134, "local0.info");
	CHECK(rfc5424_pri(0, 0) == 0, "kern.emerg");
	CHECK(rfc5424_pri(23, 7) == 191, "local7.debug");
	CHECK(rfc5424_pri(3, 6) == 30, "daemon.info");
	CHECK(strcmp(rfc5424_token("my sensor", tok, sizeof(tok)), "my_sens") == 0,
	    "token '%s'", tok);
	CHECK(strcmp(rfc5424_token("", tok, sizeof(tok)), "-") == 0, "empty is NILVALUE");
	CHECK(strcmp(rfc5424_token("a\nb\xff", tok, sizeof(tok)), "a_b_") == 0, "token '%s'", tok);
}

/* Every byte printable ASCII, no newline, within the cap. */
static int syslog_printable(const char *m, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)m[i] < 0x20 || (unsigned char)m[i] > 0x7e)
			return 0;
	return strlen(m) == len;
}

static void test_syslog_format(void)
{
	struct rfc5424_sender sender = {.facility = 16, .procid = 4242};
	struct rfc5424_result res;
	struct record *r = calloc(1, sizeof(*r));
	char msg[RFC5424_MSG_MAX + 1];

	strcpy(sender.hostname, "sensor-1");
	strcpy(sender.app, "flypaper");
	r->kind = RECORD_CLOSED;
	r->id = 0x0123456789abcdefULL;
	r->start_wall = (struct timespec){1795309200, 5000};      /* 2026-11-22T01:00:00.000005Z */
	r->end_wall = (struct timespec){1795309201, 123456789};
	addr_parse("[2001:db8::1]:4444", &r->src);
	addr_parse("192.0.2.1:80", &r->dst);
	r->bytes_in = 12;
	r->bytes_out = 34;
	r->duration_ms = 1123;
	r->reason = CLOSE_PEER_FIN;
	r->strategy = "http-iis5";
	size_t n = rfc5424_format(r, &sender, msg, &res);
	const char *want = "<134>1 2026-11-22T01:00:01.123456Z sensor-1 flypaper 4242 session "
	    "[flypaper@32473 session=\"0123456789abcdef\" src=\"2001:db8::1\" sport=\"4444\" "
	    "dst=\"192.0.2.1\" dport=\"80\" start=\"2026-11-22T01:00:00.000005Z\" "
	    "close=\"peer_fin\" duration_ms=\"1123\" bytes_in=\"12\" bytes_out=\"34\" "
	    "strategy=\"http-iis5\"] session 0123456789abcdef from [2001:db8::1]:4444 "
	    "to 192.0.2.1:80: peer_fin, 12 bytes in";
	CHECK(strcmp(msg, want) == 0 && n == strlen(want), "\n got %s\nwant %s", msg, want);
	CHECK(!res.escaped && !res.cut, "nothing escaped or cut");

	/* hostile IDENT fields and an OS label: escaped, one line */
	r->ident = calloc(1, sizeof(*r->ident));
	r->ident->status = IDENT_USERID;
	strcpy(r->ident->userid, "root\"] x=\"1\n<13>1 forged\\");
	strcpy(r->os.name, "Li]nux");
	strcpy(r->os.flavor, "\x1b[2J");
	r->os.match = OS_MATCH_EXACT;
	n = rfc5424_format(r, &sender, msg, &res);
	CHECK(syslog_printable(msg, n), "printable: %s", msg);
	CHECK(strstr(msg, " ident=\"userid\" ident_user=\"root\\\"\\] x=\\\"1\\\\x0a<13>1 "
	    "forged\\\\x5c\"") != NULL, "ident_user escaped: %s", msg);
	CHECK(strstr(msg, " os=\"Li\\]nux \\\\x1b[2J\"]") != NULL, "os escaped: %s", msg);
	CHECK(res.escaped && !res.cut, "escaped, not cut");

	/* every long value at once: cut to the caps, still one message */
	memset(r->ident->userid, 0xff, sizeof(r->ident->userid) - 1);
	char *strategy = malloc(3000);
	memset(strategy, ']', 2999);
	strategy[2999] = '\0';
	r->strategy = strategy;
	memset(sender.hostname, 'h', RFC5424_HOSTNAME_MAX);
	memset(sender.app, 'a', RFC5424_APP_MAX);
	n = rfc5424_format(r, &sender, msg, &res);
	CHECK(n <= RFC5424_MSG_MAX && syslog_printable(msg, n), "capped: %zu", n);
	CHECK(res.cut && strstr(msg, " cut=\"yes\"]") != NULL, "marked cut: %s", msg);
	CHECK(strstr(msg, " session=\"0123456789abcdef\"") != NULL, "the id stays");
	free(strategy);
	free(r->ident);

	/* a verdict on a session sent before */
	struct record_class cls = {.family = "mirai", .tags = "rce,\"]x"};
	memset(&sender, 0, sizeof(sender));
	sender.facility = 16;
	strcpy(sender.hostname, "s");
	strcpy(sender.app, "flypaper");
	r->ident = NULL;
	r->os.match = OS_MATCH_NONE;
	r->kind = RECORD_CLASSIFIED;
	r->class_state = CLASS_DONE;
	r->class = &cls;
	memset(r->sha256, 0xab, sizeof(r->sha256));
	n = rfc5424_format(r, &sender, msg, &res);
	want = "<134>1 2026-11-22T01:00:01.123456Z s flypaper 0 classified "
	    "[flypaper@32473 session=\"0123456789abcdef\" src=\"2001:db8::1\" "
	    "sha256=\"abababababababababababababababababababababababababababababababab\" "
	    "class_state=\"done\" family=\"mirai\" tags=\"rce,\\\"\\]x\"] "
	    "session 0123456789abcdef from [2001:db8::1]:4444 classified: done";
	CHECK(strcmp(msg, want) == 0 && n == strlen(want), "\n got %s\nwant %s", msg, want);
	free(r);
}

void test_syslog(int *passed, int *failed)
{
	sl_passed = passed;
	sl_failed = failed;
	test_syslog_targets();
	test_syslog_sd_values();
	test_syslog_header();
	test_syslog_format();
}
