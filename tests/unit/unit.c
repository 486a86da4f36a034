/* unit.c - table-driven tests of flypaper's pure parts. Prints each
 * failure and a closing "N passed, N failed" line; exits 1 on any failure. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "jsonl.h"
#include "log.h"
#include "queue.h"
#include "record.h"
#include "session.h"
#include "timeouts.h"
#include "worker.h"

static int passed, failed;

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
		int rc = config_parse_duration(cases[i].text, &ms);
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
		int rc = config_parse_size(cases[i].text, &b);
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

static void test_queue_caps(void)
{
	struct queue q;
	struct queue_stats st;
	int n = 0, lost = 0;

	queue_init(&q, 4, 100);
	CHECK(queue_push(&q, make_record(60)) == 0, "first push");
	CHECK(queue_push(&q, make_record(60)) == 0, "second push keeps metadata");
	CHECK(queue_push(&q, make_record(0)) == 0, "third push");
	CHECK(queue_push(&q, make_record(10)) == 0, "fourth push");
	CHECK(queue_push(&q, make_record(10)) == -1, "fifth push over the record cap");
	queue_get_stats(&q, &st);
	CHECK(st.payloads_dropped == 1, "payloads dropped %llu",
	    (unsigned long long)st.payloads_dropped);
	CHECK(st.payload_bytes_dropped == 60, "bytes dropped");
	CHECK(st.records_dropped == 1, "records dropped");
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
	CHECK(queue_push(&q, make_record(90)) == 0, "room again after pop");
	queue_stop(&q);
	CHECK(!queue_drained(&q), "not drained while a record waits");
	record_free(queue_pop_all(&q, 0));
	CHECK(queue_drained(&q), "drained");
	queue_destroy(&q);
}

static void test_escape(void)
{
	char out[64];

	log_escape("GET /\r\n\x00\xff\\", 10, out, sizeof(out));
	CHECK(strcmp(out, "GET /\\x0d\\x0a\\x00\\xff\\x5c") == 0, "escaped '%s'", out);
	log_escape("abcdefghijkl", 12, out, 8);
	CHECK(strlen(out) < 8, "bounded '%s'", out);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
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
	json_decref(o);
	free(line);
	record_free(r);
}

static void test_timeouts(void)
{
	static struct worker w;
	struct worker_shared sh = {0};
	struct config cfg;
	struct session a = {0}, b = {0};
	const uint64_t ms = 1000000ULL;

	config_defaults(&cfg);
	cfg.idle_timeout_ms = 100;
	cfg.session_timeout_ms = 1000;
	sh.cfg = &cfg;
	w.shared = &sh;
	list_init(&w.idle);
	list_init(&w.age);
	CHECK(timeouts_next_ms(&w, 0) == -1, "no sessions, no deadline");

	a.start_ns = a.last_in_ns = 10 * ms;
	list_init(&a.idle_link);
	list_init(&a.age_link);
	list_append(&w.idle, &a.idle_link);
	list_append(&w.age, &a.age_link);
	CHECK(timeouts_next_ms(&w, 10 * ms) == 100, "idle first: %lld",
	    (long long)timeouts_next_ms(&w, 10 * ms));
	CHECK(timeouts_next_ms(&w, 10 * ms + 1) == 100, "rounds up");
	CHECK(timeouts_next_ms(&w, 500 * ms) == 0, "overdue is 0");

	b.start_ns = b.last_in_ns = 50 * ms;
	list_init(&b.idle_link);
	list_init(&b.age_link);
	list_append(&w.idle, &b.idle_link);
	list_append(&w.age, &b.age_link);
	/* a keeps talking until just before its session deadline */
	a.last_in_ns = 1000 * ms;
	timeouts_touch(&w, &a);
	CHECK(timeouts_next_ms(&w, 60 * ms) == 90, "b's idle deadline: %lld",
	    (long long)timeouts_next_ms(&w, 60 * ms));
	timeouts_remove(&b);
	timeouts_remove(&b);         /* twice is harmless */
	CHECK(timeouts_next_ms(&w, 900 * ms) == 110, "a's session deadline: %lld",
	    (long long)timeouts_next_ms(&w, 900 * ms));
	timeouts_remove(&a);
	CHECK(timeouts_next_ms(&w, 0) == -1, "empty again");
	config_free(&cfg);
}

int main(void)
{
	test_durations();
	test_sizes();
	test_addrs();
	test_timestamps_and_ids();
	test_queue_caps();
	test_escape();
	test_config();
	test_jsonl_format();
	test_timeouts();
	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
