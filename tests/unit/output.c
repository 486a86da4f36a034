/* output.c - unit tests of the output seam: the one record constructor,
 * the hand-over capture sees, and the writer over a list of sinks (with
 * test sinks that count and can be made to fail; the real SQLite and JSON
 * lines sinks are exercised by the integration tests). Run from unit.c's
 * main through test_output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <unistd.h>
#include <uv.h>

#include "handoff.h"
#include "record.h"
#include "sink.h"
#include "store.h"
#include "writer.h"

void test_output(int *passed, int *failed);

static int *out_passed, *out_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*out_passed)++;                                   \
		} else {                                                   \
			(*out_failed)++;                                   \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

/* record_new: the kind, mode and id it is given, every "none" time -1,
 * nothing attached, and record_size counting just the struct. */
static void test_record_new(void)
{
	struct record *r = record_new(RECORD_CONNECT, MODE_INETD, 0x1234);

	CHECK(r != NULL, "allocated");
	if (!r)
		return;
	CHECK(r->kind == RECORD_CONNECT && r->mode == MODE_INETD && r->id == 0x1234,
	    "kind %d mode %d id %llx", r->kind, r->mode, (unsigned long long)r->id);
	CHECK(r->first_byte_ms == -1 && r->first_out_ms == -1 &&
	    r->peer_close_after_out_ms == -1 && r->peer_close_after_ident_ms == -1,
	    "the none times are -1");
	CHECK(r->payload == NULL && r->ident == NULL && r->requests == NULL &&
	    r->matches == NULL && r->next == NULL && r->bytes_in == 0 &&
	    r->reason == CLOSE_PEER_FIN && r->limit == LIMIT_NONE, "the rest zeroed");
	CHECK(record_size(r) == sizeof(*r), "record_size %zu", record_size(r));
	record_free(r);
}

/* A sink for the tests: counts what it is given and fails as told. */
struct test_sink {
	struct sink sink;            /* first, as in a real sink */
	int fail_left;               /* writes still to fail; -1 every one */
	enum sink_status fail_as;    /* how they fail */
	bool full_with_payload;      /* SINK_FULL while a record holds a payload */
	int writes, reopens, closes, rooms;
	int closed_seen;             /* RECORD_CLOSED records in successful writes */
	int connect_seen;
};

static enum sink_status test_sink_write(struct sink *sink, const struct record *list,
    struct sink_batch *out)
{
	struct test_sink *t = (struct test_sink *)sink;
	int closed = 0, connect = 0;

	t->writes++;
	for (const struct record *r = list; r; r = r->next) {
		if (t->full_with_payload && r->payload)
			return SINK_FULL;
		closed += r->kind == RECORD_CLOSED;
		connect += r->kind == RECORD_CONNECT;
	}
	if (t->fail_left != 0) {
		if (t->fail_left > 0)
			t->fail_left--;
		out->lost = (uint64_t)(closed + connect);
		return t->fail_as;
	}
	t->closed_seen += closed;
	t->connect_seen += connect;
	out->escaped = (uint64_t)connect;   /* something to count */
	return SINK_OK;
}

static const char *test_sink_errmsg(struct sink *sink)
{
	(void)sink;
	return "test sink told to fail";
}

static void test_sink_make_room(struct sink *sink)
{
	((struct test_sink *)sink)->rooms++;
}

static int test_sink_reopen(struct sink *sink, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	((struct test_sink *)sink)->reopens++;
	return 0;
}

static void test_sink_close(struct sink *sink)
{
	((struct test_sink *)sink)->closes++;
}

static const struct sink_ops test_primary_ops = {
	.name = "test-primary", .primary = true,
	.write = test_sink_write, .errmsg = test_sink_errmsg,
	.make_room = test_sink_make_room, .close = test_sink_close,
};

static const struct sink_ops test_other_ops = {
	.name = "test-other", .connect_events = true,
	.lost_what = "record(s) not delivered", .escaped_what = "record(s) escaped",
	.write = test_sink_write, .reopen = test_sink_reopen, .close = test_sink_close,
};

static const struct sink_ops test_quiet_ops = {
	.name = "test-quiet", .lost_what = "record(s) not delivered",
	.write = test_sink_write, .close = test_sink_close,
};

/* Queues n closed records (with a payload each when payload) and one
 * connect event. */
static void test_push(struct writer *w, int n, bool payload)
{
	struct record *c = record_new(RECORD_CONNECT, MODE_SERVE, 1);

	CHECK(c && queue_push(&w->queue, c) == 0, "push connect");
	for (int i = 0; i < n; i++) {
		struct record *r = record_new(RECORD_CLOSED, MODE_SERVE, (uint64_t)i + 2);
		if (r && payload) {
			r->payload = malloc(16);
			memset(r->payload, 'p', 16);
			r->payload_len = 16;
		}
		CHECK(r && queue_push(&w->queue, r) == 0, "push %d", i);
	}
}

/* A writer over a test primary and a test sink that loses everything: the
 * other sink gets the batch once and counts its losses, never retried;
 * the primary is retried until it takes the batch. */
static void test_writer_retries_only_the_primary(void)
{
	struct writer w;
	struct test_sink p = {.sink.ops = &test_primary_ops, .fail_left = 2,
	    .fail_as = SINK_RETRY};
	struct test_sink o = {.sink.ops = &test_other_ops, .fail_left = -1,
	    .fail_as = SINK_FAILED};
	struct handoff h;

	CHECK(writer_init(&w, 100, 1 << 20, 5000) == 0, "init");
	CHECK(writer_add_sink(&w, &p.sink) == 0 && writer_add_sink(&w, &o.sink) == 0,
	    "two sinks");
	writer_handoff(&w, &h);
	CHECK(h.queue == &w.queue && h.connect_events, "the other sink wants connect events");
	test_push(&w, 3, false);
	writer_drain(&w);
	CHECK(p.writes == 3 && p.closed_seen == 3, "primary: %d writes, %d sessions",
	    p.writes, p.closed_seen);
	CHECK(w.store_errors == 2 && w.sessions_written == 3 && w.records_lost == 0,
	    "errors %llu written %llu lost %llu", (unsigned long long)w.store_errors,
	    (unsigned long long)w.sessions_written, (unsigned long long)w.records_lost);
	CHECK(o.writes == 1, "the other sink is not retried: %d writes", o.writes);
	struct sink_counters c = writer_sink_counters(&w, "test-other");
	CHECK(c.lost == 4 && c.batches == 1, "its losses counted: %llu in %llu",
	    (unsigned long long)c.lost, (unsigned long long)c.batches);
	c = writer_sink_counters(&w, "no-such-sink");
	CHECK(c.lost == 0 && c.batches == 0, "an absent sink counts nothing");
	writer_destroy(&w);
	CHECK(p.closes == 1 && o.closes == 1, "both closed once");
}

/* A primary that fails for good gives the batch up, counted; the other
 * sink that delivers counts no loss; reopen reaches the sinks that have
 * one. */
static void test_writer_permanent_failure(void)
{
	struct writer w;
	struct test_sink p = {.sink.ops = &test_primary_ops, .fail_left = -1,
	    .fail_as = SINK_FAILED};
	struct test_sink o = {.sink.ops = &test_other_ops};

	writer_init(&w, 100, 1 << 20, 5000);
	writer_add_sink(&w, &p.sink);
	writer_add_sink(&w, &o.sink);
	writer_request_reopen(&w);
	test_push(&w, 2, false);
	writer_drain(&w);
	CHECK(p.writes == 1 && w.records_lost == 2 && w.sessions_written == 0,
	    "given up at once: %d writes, %llu lost", p.writes,
	    (unsigned long long)w.records_lost);
	CHECK(o.writes == 1 && o.closed_seen == 2 && o.connect_seen == 1,
	    "the other sink took everything");
	struct sink_counters c = writer_sink_counters(&w, "test-other");
	CHECK(c.lost == 0 && c.escaped == 1, "lost %llu escaped %llu",
	    (unsigned long long)c.lost, (unsigned long long)c.escaped);
	CHECK(o.reopens == 1, "reopened %d time(s)", o.reopens);
	writer_destroy(&w);
}

/* A full primary: room is made, then the records go one by one, their
 * payloads given up and counted. */
static void test_writer_full_primary(void)
{
	struct writer w;
	struct test_sink p = {.sink.ops = &test_primary_ops, .full_with_payload = true};

	writer_init(&w, 100, 1 << 20, 5000);
	writer_add_sink(&w, &p.sink);
	test_push(&w, 3, true);
	writer_drain(&w);
	CHECK(p.rooms == 1, "room made %d time(s)", p.rooms);
	CHECK(w.sessions_written == 3 && w.payloads_dropped == 3 &&
	    w.payload_bytes_dropped == 48 && w.records_lost == 0,
	    "written %llu, payloads dropped %llu",
	    (unsigned long long)w.sessions_written, (unsigned long long)w.payloads_dropped);
	writer_destroy(&w);
}

/* Still failing at exit: the primary is retried for flush_timeout_ms,
 * then its records are counted lost. */
static void test_writer_flush_timeout(void)
{
	struct writer w;
	struct test_sink p = {.sink.ops = &test_primary_ops, .fail_left = -1,
	    .fail_as = SINK_RETRY};

	writer_init(&w, 100, 1 << 20, 300);
	writer_add_sink(&w, &p.sink);
	test_push(&w, 2, false);
	writer_drain(&w);
	CHECK(p.writes >= 2 && w.records_lost == 2, "%d writes, %llu lost",
	    p.writes, (unsigned long long)w.records_lost);
	writer_destroy(&w);
}

/* One primary; at most WRITER_MAX_SINKS sinks in all; a refused sink is closed.
 * No sink wants connect events: none are asked for. */
static void test_writer_sink_list(void)
{
	struct writer w;
	struct test_sink p[2] = {{.sink.ops = &test_primary_ops},
	    {.sink.ops = &test_primary_ops}};
	struct test_sink o[WRITER_MAX_SINKS];
	struct handoff h;
	int added = 0;

	writer_init(&w, 100, 1 << 20, 5000);
	CHECK(writer_add_sink(&w, &p[0].sink) == 0, "a primary");
	CHECK(writer_add_sink(&w, &p[1].sink) < 0 && p[1].closes == 1,
	    "a second primary is refused and closed");
	for (int i = 0; i < WRITER_MAX_SINKS; i++) {
		o[i] = (struct test_sink){.sink.ops = &test_quiet_ops};
		added += writer_add_sink(&w, &o[i].sink) == 0;
	}
	CHECK(added == WRITER_MAX_SINKS - 1 && o[WRITER_MAX_SINKS - 1].closes == 1,
	    "%d added besides the primary, the one past the cap closed", added);
	writer_handoff(&w, &h);
	CHECK(!h.connect_events, "no sink wants connect events");
	/* The lag test capture is given is the writer's. */
	struct handoff none = {0};
	CHECK(!handoff_behind(&none, 10, 1), "no lag test: never behind");
	CHECK(!handoff_behind(&h, uv_hrtime() + 10000000000ULL, 1000000),
	    "an empty queue is not behind");
	CHECK(queue_push(h.queue, record_new(RECORD_CLOSED, MODE_SERVE, 1)) == 0, "push");
	CHECK(handoff_behind(&h, uv_hrtime() + 10000000000ULL, 1000000),
	    "a record queued 10 s ago with max-lag 1 ms is behind");
	CHECK(!handoff_behind(&h, uv_hrtime() + 10000000000ULL, 0), "max-lag 0: never");
	writer_destroy(&w);
	CHECK(p[0].closes == 1 && o[0].closes == 1, "closed with the writer");
}

/* A verdict reaches only a session still pending: one that `rescan`
 * classified meanwhile keeps its family and gets none of the daemon's
 * matches; a pending one takes both. */
static void test_store_verdict_only_for_pending(void)
{
	char dir[] = "/tmp/flypaper-verdict-XXXXXX", path[64], err[256];

	if (!mkdtemp(dir)) {
		CHECK(0, "a temporary folder");
		return;
	}
	snprintf(path, sizeof(path), "%s/v.db", dir);
	struct store *st = store_open(path, "t", 1000, err, sizeof(err));
	CHECK(st != NULL, "store_open: %s", err);
	if (!st)
		return;
	sqlite3 *db = store_db(st);
	for (uint64_t id = 1; id <= 2; id++) {
		char hex[RECORD_ID_LEN], sql[512];
		record_id_hex(id, hex);
		snprintf(sql, sizeof(sql), "INSERT INTO sessions(session, sensor, start_ts, end_ts, "
		    "src_ip, src_port, dst_ip, dst_port, bytes_in, bytes_out, duration_ms, "
		    "close_reason, truncated, mode, class_state, family) VALUES ('%s', 't', 'a', "
		    "'b', '192.0.2.1', 1, '192.0.2.2', 80, 1, 0, 0, 'peer_fin', 0, 'serve', '%s', %s)",
		    hex, id == 1 ? "done" : "pending", id == 1 ? "'by-rescan'" : "NULL");
		CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "row %llu",
		    (unsigned long long)id);
	}
	struct record *list = NULL;
	for (uint64_t id = 2; id >= 1; id--) {
		struct record *r = record_new(RECORD_CLASSIFIED, MODE_SERVE, id);
		struct record_class *c = calloc(1, sizeof(*c));
		struct record_match *m = calloc(1, sizeof(*m));
		if (!r || !c || !m) {
			CHECK(0, "out of memory");
			free(c);
			free(m);
			record_free(r);
			break;
		}
		snprintf(c->family, sizeof(c->family), "by-daemon");
		snprintf(m->rule, sizeof(m->rule), "daemon_rule");
		r->class = c;
		r->matches = m;
		r->nmatches = 1;
		r->class_state = CLASS_DONE;
		r->next = list;
		list = r;
	}
	CHECK(store_write(st, list) == SQLITE_OK, "the verdicts are written: %s", store_errmsg(st));
	while (list) {
		struct record *next = list->next;
		record_free(list);
		list = next;
	}
	sqlite3_stmt *q;
	char got[2][64] = {"", ""};
	int nmatches[2] = {-1, -1};
	if (sqlite3_prepare_v2(db, "SELECT s.family, (SELECT count(*) FROM matches m "
	    "WHERE m.session = s.session) FROM sessions s ORDER BY s.session", -1, &q,
	    NULL) == SQLITE_OK) {
		for (int i = 0; i < 2 && sqlite3_step(q) == SQLITE_ROW; i++) {
			const unsigned char *f = sqlite3_column_text(q, 0);
			snprintf(got[i], sizeof(got[i]), "%s", f ? (const char *)f : "");
			nmatches[i] = sqlite3_column_int(q, 1);
		}
		sqlite3_finalize(q);
	}
	CHECK(!strcmp(got[0], "by-rescan") && nmatches[0] == 0,
	    "the session rescan classified: family '%s', %d matches", got[0], nmatches[0]);
	CHECK(!strcmp(got[1], "by-daemon") && nmatches[1] == 1,
	    "the pending session: family '%s', %d matches", got[1], nmatches[1]);
	store_close(st);
	char side[80];
	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
	rmdir(dir);
}

void test_output(int *passed, int *failed)
{
	out_passed = passed;
	out_failed = failed;
	test_record_new();
	test_writer_retries_only_the_primary();
	test_writer_permanent_failure();
	test_writer_full_primary();
	test_writer_flush_timeout();
	test_writer_sink_list();
	test_store_verdict_only_for_pending();
}
