/* writer.c - drains the queue into JSON lines and SQLite in batches. A
 * failing database (locked, full disk) keeps its batch and is retried; only
 * a permanent error or the exit deadline gives records up, and those are
 * counted and logged. */
#include "writer.h"

#include <stdlib.h>
#include <time.h>
#include <uv.h>

#include "log.h"

#define WRITER_WAIT_MS 1000          /* longest sleep: the "one second behind" bound */
#define WRITER_RETRY_MS 250          /* pause after a failed transaction */
#define WRITER_GATHER_MS 50          /* after the first record, wait this long for more */
#define WRITER_LOG_EVERY_NS (10ULL * 1000000000ULL)

int writer_init(struct writer *w, struct store *store, struct jsonl *jsonl,
    size_t max_records, size_t max_bytes, uint64_t flush_timeout_ms)
{
	*w = (struct writer){.store = store, .jsonl = jsonl,
	    .flush_timeout_ms = flush_timeout_ms};
	atomic_init(&w->reopen, false);
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

/* Tries the pending batch once. Returns 0 when it is written (or gone),
 * -1 when it should be retried. */
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

/* Takes what the queue has, writes its JSON lines once, and appends it to
 * the pending batch. */
static void writer_take(struct writer *w, struct record *list)
{
	struct record **tail = &w->pending;

	if (!list)
		return;
	if (w->jsonl) {
		uint64_t failed = jsonl_write(w->jsonl, list);
		if (failed) {
			if (w->jsonl_errors == 0)
				log_error("jsonl: %llu line(s) could not be written",
				    (unsigned long long)failed);
			w->jsonl_errors += failed;
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

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint64_t stop_deadline = 0;

	for (;;) {
		writer_reopen_if_asked(w);
		struct record *list = queue_pop_all(&w->queue, WRITER_WAIT_MS);
		if (list && !queue_drained(&w->queue)) {
			/* One transaction per record costs a WAL write and two
			 * lock calls each; gathering for a moment turns a busy
			 * second into twenty transactions. */
			writer_sleep_ms(WRITER_GATHER_MS);
			writer_take(w, list);
			list = queue_pop_all(&w->queue, 0);
		}
		writer_take(w, list);
		bool failed = writer_commit(w) < 0;
		if (queue_drained(&w->queue)) {
			if (!w->pending)
				break;
			uint64_t now = uv_hrtime();
			if (!stop_deadline)
				stop_deadline = now + w->flush_timeout_ms * 1000000ULL;
			if (now >= stop_deadline) {
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
	w->store = NULL;
	w->jsonl = NULL;
}
