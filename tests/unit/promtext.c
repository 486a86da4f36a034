/* promtext.c - unit tests of the metrics server's pure half
 * (src/core/promtext.c: the GET /metrics request parser and the
 * Prometheus text format) and of the metrics sink's counts
 * (src/output/sink_metrics.c). Every prefix of a good head is
 * "incomplete"; each head is also parsed flush against its end (a heap
 * copy of exactly its bytes) so ASan sees any over-read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promtext.h"
#include "record.h"
#include "sink.h"
#include "sink_metrics.h"

void test_promtext(int *passed, int *failed);

extern const struct sink_ops sink_metrics_ops;

static int *pt_passed, *pt_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*pt_passed)++;                                    \
		} else {                                                   \
			(*pt_failed)++;                                    \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

struct pt_case {
	const char *in;
	int rc;                      /* >0: the head's length is strlen(in) */
	enum promtext_answer answer;
};

static const struct pt_case pt_cases[] = {
	{"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 1, PROMTEXT_METRICS},
	{"GET /metrics HTTP/1.0\r\n\r\n", 1, PROMTEXT_METRICS},
	{"GET /metrics HTTP/1.1\n\n", 1, PROMTEXT_METRICS},
	{"GET /metrics?x=1 HTTP/1.1\r\n\r\n", 1, PROMTEXT_METRICS},
	{"HEAD /metrics HTTP/1.1\r\n\r\n", 1, PROMTEXT_HEAD_ONLY},
	{"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 1, PROMTEXT_BAD_METHOD},
	{"GET / HTTP/1.1\r\n\r\n", 1, PROMTEXT_NOT_FOUND},
	{"GET /metricsx HTTP/1.1\r\n\r\n", 1, PROMTEXT_NOT_FOUND},
	{"GET /metric HTTP/1.1\r\n\r\n", 1, PROMTEXT_NOT_FOUND},
	{"get /metrics HTTP/1.1\r\n\r\n", 1, PROMTEXT_BAD_METHOD},
	{"GET /metrics HTTP/2.0\r\n\r\n", PROMTEXT_INVALID, 0},
	{"GET /metrics HTTP/1.1 \r\n\r\n", PROMTEXT_INVALID, 0},
	{"GET  /metrics HTTP/1.1\r\n\r\n", PROMTEXT_INVALID, 0},
	{"GET /metrics\r\n\r\n", PROMTEXT_INVALID, 0},
	{"\r\n\r\n", PROMTEXT_INVALID, 0},
	{"GET\t/metrics HTTP/1.1\r\n\r\n", PROMTEXT_INVALID, 0},
	{"\x16\x03\x01\x02\xff\x01\xfc\x03\x03\n\n", PROMTEXT_INVALID, 0},
	{"GET /metrics HTTP/1.1\r\nX: \x01\xff\r\n\r\n", 1, PROMTEXT_METRICS},
	{"GET /metrics HTTP/1.1\r\n", PROMTEXT_INCOMPLETE, 0},
	{"", PROMTEXT_INCOMPLETE, 0},
};

/* Parses in from a heap copy of exactly len bytes. */
static int pt_parse(const char *in, size_t len, enum promtext_answer *a)
{
	char *copy = malloc(len ? len : 1);
	int rc;

	memcpy(copy, in, len);
	rc = promtext_request(copy, len, a);
	free(copy);
	return rc;
}

static void pt_requests(void)
{
	for (size_t i = 0; i < sizeof(pt_cases) / sizeof(pt_cases[0]); i++) {
		const struct pt_case *c = &pt_cases[i];
		size_t len = strlen(c->in);
		enum promtext_answer a = -1;
		int rc = pt_parse(c->in, len, &a);
		int want = c->rc > 0 ? (int)len : c->rc;
		CHECK(rc == want, "case %zu: rc %d, want %d", i, rc, want);
		if (c->rc > 0) {
			CHECK(a == c->answer, "case %zu: answer %d, want %d", i, a, c->answer);
			for (size_t p = 0; p < len; p++)
				CHECK(pt_parse(c->in, p, &a) == PROMTEXT_INCOMPLETE,
				    "case %zu: prefix %zu not incomplete", i, p);
		}
	}
	/* a head that never ends: invalid at the cap, not before */
	char *big = malloc(PROMTEXT_HEAD_MAX + 10);
	enum promtext_answer a;
	memset(big, 'A', PROMTEXT_HEAD_MAX + 10);
	CHECK(pt_parse(big, PROMTEXT_HEAD_MAX - 1, &a) == PROMTEXT_INCOMPLETE, "under the cap");
	CHECK(pt_parse(big, PROMTEXT_HEAD_MAX, &a) == PROMTEXT_INVALID, "at the cap");
	CHECK(pt_parse(big, PROMTEXT_HEAD_MAX + 10, &a) == PROMTEXT_INVALID, "past the cap");
	/* a blank line past the cap does not count */
	memcpy(big, "GET /metrics HTTP/1.1\r\n", 23);
	memcpy(big + PROMTEXT_HEAD_MAX + 4, "\r\n\r\n", 4);
	CHECK(pt_parse(big, PROMTEXT_HEAD_MAX + 10, &a) == PROMTEXT_INVALID, "end past the cap");
	free(big);
}

static void pt_format(void)
{
	static const struct {
		const char *in, *out;
	} esc[] = {
		{"plain", "plain"},
		{"a\"b", "a\\\"b"},
		{"a\\b", "a\\\\b"},
		{"a\nb", "a\\nb"},
		{"\\\"\n", "\\\\\\\"\\n"},
		{"", ""},
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(esc) / sizeof(esc[0]); i++) {
		size_t need = promtext_escape_label(esc[i].in, buf, sizeof(buf));
		CHECK(strcmp(buf, esc[i].out) == 0, "escape %zu: '%s'", i, buf);
		CHECK(need == strlen(esc[i].out), "escape %zu: need %zu", i, need);
	}
	CHECK(promtext_escape_label("a\"b", buf, 4) == 4 && buf[0] == '\0', "too small: '%s'", buf);

	char text[512];
	struct promtext pt;
	const char *l[] = {"close_reason", "peer_fin", "strategy", "x\"y\\z\n"};
	promtext_init(&pt, text, sizeof(text));
	promtext_family(&pt, "flypaper_sessions_total", "counter", "Sessions\\ by\nreason.");
	promtext_sample(&pt, "flypaper_sessions_total", l, 2, 12345678901.0);
	promtext_sample(&pt, "flypaper_writer_lag_seconds", NULL, 0, 0.25);
	CHECK(!pt.overflow, "overflow");
	CHECK(strcmp(text,
	    "# HELP flypaper_sessions_total Sessions\\\\ by\\nreason.\n"
	    "# TYPE flypaper_sessions_total counter\n"
	    "flypaper_sessions_total{close_reason=\"peer_fin\",strategy=\"x\\\"y\\\\z\\n\"} 12345678901\n"
	    "flypaper_writer_lag_seconds 0.25\n") == 0, "text:\n%s", text);
	/* a buffer too small: cut, flagged, terminated */
	promtext_init(&pt, text, 40);
	promtext_family(&pt, "flypaper_sessions_total", "counter", "Sessions.");
	CHECK(pt.overflow && pt.len < 40 && text[pt.len] == '\0', "small: %zu", pt.len);
}

/* The sink's counts grow with the records it is given, never shrink. */
static void pt_counts(void)
{
	struct sink_metrics_counts before, after;
	struct record *a = record_new(RECORD_CLOSED, MODE_SERVE, 1);
	struct record *b = record_new(RECORD_CLOSED, MODE_SERVE, 2);
	struct record *c = record_new(RECORD_CONNECT, MODE_SERVE, 3);
	struct sink_batch out = {0};
	int slot = -1;

	a->strategy = "unit-strategy";
	a->reason = CLOSE_PEER_FIN;
	a->bytes_in = 100;
	a->bytes_out = 7;
	b->strategy = "unit-strategy";
	b->reason = CLOSE_CAPACITY;
	b->limit = LIMIT_PER_SOURCE;
	a->next = b;
	b->next = c;
	sink_metrics_read(&before);
	for (int round = 0; round < 2; round++) {
		CHECK(sink_metrics_ops.write(NULL, a, &out) == SINK_OK, "write");
		sink_metrics_read(&after);
		for (int i = 0; i < after.nstrategies; i++)
			if (strcmp(after.names[i], "unit-strategy") == 0)
				slot = i;
		CHECK(slot >= 0, "strategy slot");
		if (slot < 0)
			break;
		uint64_t was_fin = slot < before.nstrategies ? before.sessions[slot][CLOSE_PEER_FIN] : 0;
		CHECK(after.sessions[slot][CLOSE_PEER_FIN] == was_fin + 1, "fin %llu",
		    (unsigned long long)after.sessions[slot][CLOSE_PEER_FIN]);
		CHECK(after.refused[LIMIT_PER_SOURCE] == before.refused[LIMIT_PER_SOURCE] + 1,
		    "refused");
		CHECK(after.bytes_in == before.bytes_in + 100 && after.bytes_out == before.bytes_out + 7,
		    "bytes");
		before = after;
	}
	b->next = NULL;
	a->next = NULL;
	record_free(a);
	record_free(b);
	record_free(c);
}

void test_promtext(int *passed, int *failed)
{
	pt_passed = passed;
	pt_failed = failed;
	pt_requests();
	pt_format();
	pt_counts();
}
