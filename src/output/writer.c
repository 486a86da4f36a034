/* writer.c - drains the queue into JSON lines and SQLite in batches. A
 * failing database (locked, full disk) keeps its batch and is retried; only
 * a permanent error or the exit deadline gives records up, and those are
 * counted and logged. */
#include "writer.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "log.h"

#define WRITER_WAIT_MS 1000          /* longest sleep: the "one second behind" bound */
#define WRITER_RETRY_MS 250          /* pause after a failed transaction */
#define WRITER_GATHER_MS 50          /* after the first record, wait this long for more */
#define WRITER_GATHER_ENOUGH 256     /* a first take this big skips the wait: behind */
#define WRITER_LOG_EVERY_NS (10ULL * 1000000000ULL)

int writer_init(struct writer *w, struct store *store, struct jsonl *jsonl,
    struct classify *classify, size_t max_records, size_t max_bytes,
    uint64_t flush_timeout_ms)
{
	*w = (struct writer){.store = store, .jsonl = jsonl, .classify = classify,
	    .flush_timeout_ms = flush_timeout_ms};
	atomic_init(&w->reopen, false);
	atomic_init(&w->failing, false);
	atomic_init(&w->classifying, false);
	return queue_init(&w->queue, max_records, max_bytes);
}

static size_t writer_count_closed(const struct record *list, uint64_t *refused)
{
	size_t n = 0;

	for (const struct record *r = list; r; r = r->next) {
		if (r->kind != RECORD_CLOSED)
			continue;
		n++;
		if (refused && r->reason == CLOSE_CAPACITY)
			(*refused)++;
	}
	return n;
}

static void writer_free_list(struct record *r)
{
	while (r) {
		struct record *next = r->next;
		record_free(r);
		r = next;
	}
}

/* Drops the pending batch, counting its sessions as lost. */
static void writer_give_up(struct writer *w, const char *why)
{
	size_t n = writer_count_closed(w->pending, NULL);

	if (n) {
		w->records_lost += n;
		log_error("store: %zu session record(s) lost: %s", n, why);
	}
	writer_free_list(w->pending);
	w->pending = NULL;
}

/* Writes one record in its own transaction. */
static int writer_write_one(struct writer *w, struct record *r)
{
	struct record *next = r->next;
	int rc;

	r->next = NULL;
	rc = store_write(w->store, r);
	r->next = next;
	return rc;
}

/* A full disk has room for a session's metadata long after it has none
 * for its payload. Writes the pending batch one record at a time, giving
 * up the payload (keeping its digest and size, marked payload_lost) of
 * each record that no longer fits. Stops at the first record that cannot
 * be written even so, leaving it and the rest pending. Returns 0 when the
 * whole batch is written, else the error. */
static int writer_commit_piecewise(struct writer *w, uint64_t *stripped)
{
	int rc = 0;

	while (w->pending) {
		struct record *r = w->pending;
		if (r->kind == RECORD_CLOSED) {
			rc = writer_write_one(w, r);
			if (rc != 0 && store_error_full(rc) && r->payload) {
				w->payloads_dropped++;
				w->payload_bytes_dropped += r->payload_len;
				free(r->payload);
				r->payload = NULL;
				r->payload_lost = true;
				rc = writer_write_one(w, r);
				if (rc == 0)
					(*stripped)++;
			}
			if (rc != 0)
				return rc;
			w->sessions_written++;
			if (r->reason == CLOSE_CAPACITY)
				w->refused_written++;
		}
		w->pending = r->next;
		record_free(r);
	}
	return 0;
}

/* Tries the pending batch. Returns 0 when it is written (or gone), -1 when
 * it should be retried. */
static int writer_commit(struct writer *w)
{
	int rc;

	if (!w->pending)
		return 0;
	if (!w->store) {
		writer_free_list(w->pending);
		w->pending = NULL;
		return 0;
	}
	rc = store_write(w->store, w->pending);
	if (rc != 0 && store_error_full(rc)) {
		uint64_t stripped = 0;
		w->store_errors++;
		store_checkpoint(w->store);
		rc = writer_commit_piecewise(w, &stripped);
		if (stripped)
			log_error("store: disk full: kept %llu session(s) without "
			    "their payload bytes", (unsigned long long)stripped);
		if (rc == 0)
			return 0;
	}
	if (rc == 0) {
		w->sessions_written += writer_count_closed(w->pending, &w->refused_written);
		writer_free_list(w->pending);
		w->pending = NULL;
		return 0;
	}
	w->store_errors++;
	if (!store_error_transient(rc)) {
		writer_give_up(w, store_errmsg(w->store));
		return 0;
	}
	uint64_t now = uv_hrtime();
	if (now >= w->next_log_ns) {
		log_error("store: write failed, will retry: %s (%llu failure(s) so far)",
		    store_errmsg(w->store), (unsigned long long)w->store_errors);
		w->next_log_ns = now + WRITER_LOG_EVERY_NS;
	}
	return -1;
}

/* Names the families of each payload: here, off the event loops, once per
 * distinct payload thanks to classify's cache. */
void writer_classify_lazily(struct writer *w, const char *paths, const char *cache)
{
	w->classify_paths = paths;
	w->classify_cache = cache;
}

void writer_shed_classification(struct writer *w, uint64_t lag_ns)
{
	w->shed_lag_ns = lag_ns;
}

/* True when the records taken but not committed wait longer than
 * shed_lag_ns: classifying more would only add to the lag. */
static bool writer_shedding(struct writer *w)
{
	uint64_t oldest = queue_oldest_ns(&w->queue), now = uv_hrtime();

	return w->shed_lag_ns && oldest && now > oldest && now - oldest > w->shed_lag_ns;
}

static void writer_classify(struct writer *w, struct record *list)
{
	if (!w->classify) {
		char err[512];
		bool payload = false;
		for (struct record *r = list; r && !payload; r = r->next)
			payload = r->kind == RECORD_CLOSED && r->payload;
		if (!payload || !w->classify_paths)
			return;
		w->classify = classify_open(w->classify_paths, w->classify_cache, err, sizeof(err));
		if (!w->classify) {
			log_error("rules: %s (payloads are not classified)", err);
			w->classify_paths = NULL;
			return;
		}
	}
	for (struct record *r = list; r; r = r->next) {
		if (r->kind != RECORD_CLOSED || !r->payload || r->matches)
			continue;
		if (writer_shedding(w)) {
			if (w->unclassified++ == 0)
				log_warn("rules: the writer is behind: payloads are stored "
				    "unclassified until it catches up (counted; run "
				    "`flypaper rescan` later)");
			continue;
		}
		atomic_store(&w->classifying, true);
		const struct classify_result *res = classify_payload(w->classify, r->sha256,
		    r->payload, r->payload_len);
		atomic_store(&w->classifying, false);
		if (!res || res->n == 0)
			continue;
		r->matches = malloc((size_t)res->n * sizeof(*r->matches));
		if (!r->matches)
			continue;
		memcpy(r->matches, res->m, (size_t)res->n * sizeof(*r->matches));
		r->nmatches = res->n;
	}
}

/* Takes what the queue has, classifies it, writes its JSON lines once, and
 * appends it to the pending batch. */
static void writer_take(struct writer *w, struct record *list)
{
	struct record **tail = &w->pending;

	if (!list)
		return;
	if (w->classify || w->classify_paths)
		writer_classify(w, list);
	if (w->jsonl) {
		uint64_t escaped;
		uint64_t failed = jsonl_write(w->jsonl, list, &escaped);
		if (failed) {
			if (w->jsonl_errors == 0)
				log_error("jsonl: %llu line(s) not written whole",
				    (unsigned long long)failed);
			w->jsonl_errors += failed;
		}
		if (escaped) {
			if (w->jsonl_escaped == 0)
				log_warn("jsonl: %llu line(s) written with a field escaped "
				    "(named in escaped_fields)", (unsigned long long)escaped);
			w->jsonl_escaped += escaped;
		}
	}
	while (*tail)
		tail = &(*tail)->next;
	*tail = list;
}

static void writer_sleep_ms(uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
	    .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void writer_reopen_if_asked(struct writer *w)
{
	char err[256];

	if (!atomic_exchange(&w->reopen, false) || !w->jsonl)
		return;
	if (jsonl_reopen(w->jsonl, err, sizeof(err)) < 0)
		log_error("jsonl: cannot reopen: %s", err);
	else
		log_info("jsonl: reopened");
}

/* True when list holds at least n records. */
static bool writer_list_has(const struct record *list, size_t n)
{
	for (; list && n > 0; list = list->next)
		n--;
	return n == 0;
}

/* Gathers what the queue holds: the first record wakes the writer, then a
 * short wait lets a busy second's records share a few transactions. A
 * writer that finds a big batch waiting is behind already: it takes it
 * without the wait, which would only add to its lag. */
static void writer_gather(struct writer *w)
{
	struct record *list = queue_pop_all(&w->queue, WRITER_WAIT_MS);

	if (list && !queue_stopping(&w->queue) &&
	    !writer_list_has(list, WRITER_GATHER_ENOUGH)) {
		/* One transaction per record costs a WAL write and two lock
		 * calls each; gathering turns a busy second into twenty. */
		writer_sleep_ms(WRITER_GATHER_MS);
		writer_take(w, list);
		list = queue_pop_all(&w->queue, 0);
	}
	writer_take(w, list);
}

bool writer_lag_exceeds(uint64_t oldest_ns, bool failing, uint64_t now_ns,
    uint64_t max_lag_ns)
{
	if (max_lag_ns == 0 || oldest_ns == 0 || now_ns <= oldest_ns)
		return false;
	return now_ns - oldest_ns > max_lag_ns && !failing;
}

bool writer_behind(struct writer *w, uint64_t now_ns, uint64_t max_lag_ns)
{
	uint64_t oldest = queue_oldest_ns(&w->queue);

	/* The store's health matters only once the lag is over: one load
	 * in the common case. */
	if (!writer_lag_exceeds(oldest, false, now_ns, max_lag_ns))
		return false;
	return !atomic_load(&w->classifying) && !atomic_load(&w->failing);
}

static bool writer_behind_cb(void *w, uint64_t now_ns, uint64_t max_lag_ns)
{
	return writer_behind(w, now_ns, max_lag_ns);
}

void writer_handoff(struct writer *w, struct handoff *out)
{
	*out = (struct handoff){.queue = &w->queue, .connect_events = w->jsonl != NULL,
	    .behind = writer_behind_cb, .ctx = w};
}

/* The loop of the writer thread (and of writer_drain). While the store
 * fails, the pending batch is retried and nothing more is taken, so the
 * queue's caps bound the memory and count what they drop. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint64_t stop_deadline = 0;

	for (;;) {
		writer_reopen_if_asked(w);
		if (!w->pending)
			writer_gather(w);
		bool failed = writer_commit(w) < 0;
		atomic_store(&w->failing, failed);
		if (!failed)
			queue_committed(&w->queue);
		if (queue_stopping(&w->queue)) {
			if (!failed && queue_drained(&w->queue))
				break;
			uint64_t now = uv_hrtime();
			if (failed && !stop_deadline)
				stop_deadline = now + w->flush_timeout_ms * 1000000ULL;
			if (failed && now >= stop_deadline) {
				writer_take(w, queue_pop_all(&w->queue, 0));
				writer_give_up(w, "the database still failed at exit");
				break;
			}
		}
		if (failed)
			writer_sleep_ms(WRITER_RETRY_MS);
	}
	return NULL;
}

int writer_start(struct writer *w)
{
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0)
		return -1;
	w->running = true;
	return 0;
}

void writer_request_reopen(struct writer *w)
{
	atomic_store(&w->reopen, true);
	queue_kick(&w->queue);
}

void writer_stop(struct writer *w)
{
	queue_stop(&w->queue);
	if (w->running) {
		pthread_join(w->thread, NULL);
		w->running = false;
	}
}

void writer_drain(struct writer *w)
{
	queue_stop(&w->queue);
	writer_main(w);
}

void writer_destroy(struct writer *w)
{
	writer_free_list(w->pending);
	w->pending = NULL;
	queue_destroy(&w->queue);
	store_close(w->store);
	jsonl_close(w->jsonl);
	classify_close(w->classify);
	w->classify = NULL;
	w->store = NULL;
	w->jsonl = NULL;
}
