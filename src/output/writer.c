/* writer.c - drains the queue into its sinks in batches: each other sink
 * (JSON lines) once per batch, counting what it could not deliver, then
 * the primary (SQLite). A failing primary (locked, full disk) keeps its
 * batch and is retried; only a permanent error or the exit deadline gives
 * records up, and those are counted and logged. Committed payloads go to
 * the classifier (classifier.c), whose verdicts come back as records of
 * their own for a later batch. */
#include "writer.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "log.h"
#include "tlshello.h"

#define WRITER_WAIT_MS 1000          /* longest sleep: the "one second behind" bound */
#define WRITER_RETRY_MS 250          /* pause after a failed transaction */
#define WRITER_GATHER_MS 50          /* after the first record, wait this long for more */
#define WRITER_GATHER_ENOUGH 256     /* a first take this big skips the wait: behind */
#define WRITER_LOG_EVERY_NS (10ULL * 1000000000ULL)

int writer_init(struct writer *w, size_t max_records, size_t max_bytes,
    uint64_t flush_timeout_ms)
{
	*w = (struct writer){.flush_timeout_ms = flush_timeout_ms};
	atomic_init(&w->reopen, false);
	atomic_init(&w->failing, false);
	return queue_init(&w->queue, max_records, max_bytes);
}

/* A verdict is ready: wake the writer if it sleeps on an empty queue. */
static void writer_wake(void *w)
{
	queue_kick(&((struct writer *)w)->queue);
}

int writer_classify(struct writer *w, struct classify *rules, const char *paths,
    const char *cache, uint64_t budget_ns)
{
	w->classifier = classifier_new(rules, paths, cache, budget_ns, writer_wake, w);
	return w->classifier ? 0 : -1;
}

void writer_classify_later(struct writer *w)
{
	w->classify_later = true;
}

struct classifier_counters writer_class_counters(struct writer *w)
{
	struct classifier_counters c = {0};

	if (w->classifier)
		classifier_get_counters(w->classifier, &c);
	return c;
}

/* A session about to be written: its verdict when its digest's is known,
 * else a place in the classifier's queue ('pending'), else 'shed'. */
static void writer_class_begin(struct writer *w, struct record *r)
{
	if (!r->payload)
		r->class_state = CLASS_NONE;
	else if (!w->classifier)
		r->class_state = w->classify_later ? CLASS_PENDING : CLASS_NONE;
	else if (!classifier_lookup(w->classifier, r))
		r->class_state = classifier_reserve(w->classifier, r->payload_len)
		    ? CLASS_PENDING : CLASS_SHED;
	if (r->class_state == CLASS_SHED && !w->shed_logged) {
		w->shed_logged = true;
		log_warn("rules: the classifier is behind: sessions are stored "
		    "unclassified ('shed', counted) while its queue is full; "
		    "`flypaper rescan` classifies them");
	}
}

/* r was committed: its payload goes to the classifier, in its place. */
static void writer_class_submit(struct writer *w, struct record *r)
{
	if (w->classifier && r->kind == RECORD_CLOSED && r->class_state == CLASS_PENDING &&
	    r->payload)
		classifier_submit(w->classifier, r);
}

/* r will not be committed (given up, or its payload was): its place goes
 * back. */
static void writer_class_cancel(struct writer *w, struct record *r)
{
	if (w->classifier && r->kind == RECORD_CLOSED && r->class_state == CLASS_PENDING &&
	    r->payload)
		classifier_release(w->classifier, r->payload_len);
}

int writer_add_sink(struct writer *w, struct sink *s)
{
	if (w->nsinks == WRITER_MAX_SINKS || (s->ops->primary && w->primary)) {
		s->ops->close(s);
		return -1;
	}
	if (s->ops->primary)
		w->primary = s;
	w->sinks[w->nsinks++] = s;
	return 0;
}

int writer_p0f(struct writer *w, struct p0fdb *db)
{
	w->p0f = db;
	w->p0f_cache = p0fdb_cache_new(db);
	if (!w->p0f_cache) {
		p0fdb_free(db);
		w->p0f = NULL;
		return -1;
	}
	return 0;
}

/* Matches r's SYN to the p0f database: once, so every sink writes the
 * same os and hops, and off the loops. */
static void writer_match_syn(struct writer *w, struct record *r)
{
	if (r->syn.present != SYN_PARSED)
		return;
	if (w->p0f_cache)
		p0fdb_cache_match(w->p0f_cache, &r->syn, &r->os);
	else
		p0fdb_match(NULL, &r->syn, &r->os);
}

/* Reads r's ClientHello: once, so every sink writes the same facts, and
 * off the loops. From the raw bytes the TLS front kept, else (no front)
 * from the payload when its first byte may start a handshake (a TLS record, or an
 * SSLv2 header's high bit); tlshello_parse reads at most TLSHELLO_MAX
 * bytes. */
static void writer_read_hello(struct record *r)
{
	if (r->tls)
		return;
	/* behind the front the payload is plaintext: only its raw bytes count */
	if (r->tls_front)
		r->tls = tlshello_parse(r->tls_front->hello, r->tls_front->hello_len);
	else if (r->payload_len && r->payload && (r->payload[0] == 0x16 || r->payload[0] & 0x80))
		r->tls = tlshello_parse(r->payload, r->payload_len);
}

struct sink_counters writer_sink_counters(const struct writer *w, const char *name)
{
	for (int i = 0; i < w->nsinks; i++) {
		if (strcmp(w->sinks[i]->ops->name, name) == 0)
			return w->sinks[i]->count;
	}
	return (struct sink_counters){0};
}

void writer_record_run(struct writer *w, const struct sink_run *run)
{
	char err[512];

	for (int i = 0; i < w->nsinks; i++) {
		struct sink *s = w->sinks[i];
		if (s->ops->write_run && s->ops->write_run(s, run, err, sizeof(err)) < 0)
			log_error("%s", err);
	}
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
		log_error("%s: %zu session record(s) lost: %s", w->primary->ops->name, n, why);
	}
	for (struct record *r = w->pending; r; r = r->next)
		writer_class_cancel(w, r);
	writer_free_list(w->pending);
	w->pending = NULL;
}

/* Gives the primary list. */
static enum sink_status writer_write_primary(struct writer *w, const struct record *list)
{
	struct sink_batch unused = {0};

	w->primary->count.batches++;
	return w->primary->ops->write(w->primary, list, &unused);
}

/* The primary's last error, for a log line. */
static const char *writer_primary_errmsg(struct writer *w)
{
	const char *msg = w->primary->ops->errmsg ? w->primary->ops->errmsg(w->primary) : NULL;

	return msg ? msg : "unknown error";
}

/* Writes one record in its own transaction. */
static enum sink_status writer_write_one(struct writer *w, struct record *r)
{
	struct record *next = r->next;
	enum sink_status rc;

	r->next = NULL;
	rc = writer_write_primary(w, r);
	r->next = next;
	return rc;
}

/* A full disk has room for a session's metadata long after it has none
 * for its payload. Writes the pending batch one record at a time, giving
 * up the payload (keeping its digest and size, marked payload_lost) of
 * each record that no longer fits. Stops at the first record that cannot
 * be written even so, leaving it and the rest pending. Returns SINK_OK
 * when the whole batch is written, else the status of that record. */
static enum sink_status writer_commit_piecewise(struct writer *w, uint64_t *stripped)
{
	enum sink_status rc = SINK_OK;

	while (w->pending) {
		struct record *r = w->pending;
		if (r->kind == RECORD_CLASSIFIED && writer_write_one(w, r) != SINK_OK) {
			/* A verdict is worth less than the room it needs: the
			 * session stays 'pending', for rescan. */
		} else if (r->kind == RECORD_CLOSED) {
			rc = writer_write_one(w, r);
			if (rc == SINK_FULL && r->payload) {
				w->payloads_dropped++;
				w->payload_bytes_dropped += r->payload_len;
				writer_class_cancel(w, r);
				r->class_state = CLASS_NONE;
				free(r->payload);
				r->payload = NULL;
				r->payload_lost = true;
				rc = writer_write_one(w, r);
				if (rc == SINK_OK)
					(*stripped)++;
			}
			if (rc != SINK_OK)
				return rc;
			w->sessions_written++;
			if (r->reason == CLOSE_CAPACITY)
				w->refused_written++;
			writer_class_submit(w, r);
		}
		w->pending = r->next;
		record_free(r);
	}
	return SINK_OK;
}

/* Tries the pending batch. Returns 0 when it is written (or gone), -1 when
 * it should be retried. */
static int writer_commit(struct writer *w)
{
	enum sink_status rc;

	if (!w->pending)
		return 0;
	if (!w->primary) {
		writer_free_list(w->pending);
		w->pending = NULL;
		return 0;
	}
	rc = writer_write_primary(w, w->pending);
	if (rc == SINK_FULL) {
		uint64_t stripped = 0;
		w->store_errors++;
		if (w->primary->ops->make_room)
			w->primary->ops->make_room(w->primary);
		rc = writer_commit_piecewise(w, &stripped);
		if (stripped)
			log_error("%s: disk full: kept %llu session(s) without "
			    "their payload bytes", w->primary->ops->name,
			    (unsigned long long)stripped);
		if (rc == SINK_OK)
			return 0;
	}
	if (rc == SINK_OK) {
		w->sessions_written += writer_count_closed(w->pending, &w->refused_written);
		for (struct record *r = w->pending; r; r = r->next)
			writer_class_submit(w, r);
		writer_free_list(w->pending);
		w->pending = NULL;
		return 0;
	}
	w->store_errors++;
	if (rc == SINK_FAILED) {
		writer_give_up(w, writer_primary_errmsg(w));
		return 0;
	}
	uint64_t now = uv_hrtime();
	if (now >= w->next_log_ns) {
		log_error("%s: write failed, will retry: %s (%llu failure(s) so far)",
		    w->primary->ops->name, writer_primary_errmsg(w),
		    (unsigned long long)w->store_errors);
		w->next_log_ns = now + WRITER_LOG_EVERY_NS;
	}
	return -1;
}

/* Keeps what one write or tick of a sink that is not the primary did:
 * what it could not deliver is counted, and logged the first time. */
static void writer_count_batch(struct sink *s, const struct sink_batch *b)
{
	s->count.sent += b->sent;
	if (b->lost) {
		if (s->count.lost == 0)
			log_error("%s: %llu %s", s->ops->name, (unsigned long long)b->lost,
			    s->ops->lost_what);
		s->count.lost += b->lost;
		atomic_store_explicit(&s->lost_live, s->count.lost, memory_order_relaxed);
	}
	if (b->escaped) {
		if (s->count.escaped == 0)
			log_warn("%s: %llu %s", s->ops->name, (unsigned long long)b->escaped,
			    s->ops->escaped_what);
		s->count.escaped += b->escaped;
	}
}

/* Gives list to a sink that is not the primary, once, never retried. */
static void writer_deliver(struct sink *s, const struct record *list)
{
	struct sink_batch b = {0};

	s->ops->write(s, list, &b);
	s->count.batches++;
	writer_count_batch(s, &b);
}

/* No records this time: the sinks that hold some (syslog's queue) move
 * them along anyway, so they never wait for the next session. */
static void writer_tick(struct writer *w)
{
	for (int i = 0; i < w->nsinks; i++) {
		struct sink *s = w->sinks[i];
		struct sink_batch b = {0};
		if (s == w->primary || !s->ops->tick)
			continue;
		s->ops->tick(s, &b);
		writer_count_batch(s, &b);
	}
}

/* Takes what the queue has (and the classifier's verdicts), gives it to
 * each other sink once, and appends it to the pending batch for the
 * primary. */
static void writer_take(struct writer *w, struct record *list)
{
	struct record **tail = &w->pending;

	if (!list)
		return;
	for (struct record *r = list; r; r = r->next) {
		if (r->kind == RECORD_CLOSED) {
			writer_match_syn(w, r);
			writer_read_hello(r);
			writer_class_begin(w, r);
		}
	}
	for (int i = 0; i < w->nsinks; i++) {
		if (w->sinks[i] != w->primary)
			writer_deliver(w->sinks[i], list);
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

	if (!atomic_exchange(&w->reopen, false))
		return;
	for (int i = 0; i < w->nsinks; i++) {
		struct sink *s = w->sinks[i];
		if (!s->ops->reopen)
			continue;
		if (s->ops->reopen(s, err, sizeof(err)) < 0)
			log_error("%s: cannot reopen: %s", s->ops->name, err);
		else
			log_info("%s: reopened", s->ops->name);
	}
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

	if (!list)
		writer_tick(w);
	if (list && !queue_stopping(&w->queue) &&
	    !writer_list_has(list, WRITER_GATHER_ENOUGH)) {
		/* One transaction per record costs a WAL write and two lock
		 * calls each; gathering turns a busy second into twenty. */
		writer_sleep_ms(WRITER_GATHER_MS);
		writer_take(w, list);
		list = queue_pop_all(&w->queue, 0);
	}
	writer_take(w, list);
	if (w->classifier)
		writer_take(w, classifier_take(w->classifier));
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
	return !atomic_load(&w->failing);
}

static bool writer_behind_cb(void *w, uint64_t now_ns, uint64_t max_lag_ns)
{
	return writer_behind(w, now_ns, max_lag_ns);
}

void writer_handoff(struct writer *w, struct handoff *out)
{
	bool connect = false;

	for (int i = 0; i < w->nsinks; i++)
		connect = connect || w->sinks[i]->ops->connect_events;
	*out = (struct handoff){.queue = &w->queue, .connect_events = connect,
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
			if (!failed && queue_drained(&w->queue) && w->classifier &&
			    !w->classifier_finished) {
				/* Everything is committed: the classifier gets a
				 * moment for what it holds, its verdicts one more
				 * batch. */
				classifier_finish(w->classifier);
				w->classifier_finished = true;
				writer_take(w, classifier_take(w->classifier));
				continue;
			}
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
		if (failed) {
			writer_tick(w);
			writer_sleep_ms(WRITER_RETRY_MS);
		}
	}
	return NULL;
}

int writer_start(struct writer *w)
{
	if (w->classifier && classifier_start(w->classifier) < 0)
		return -1;
	for (int i = 0; i < w->nsinks; i++) {
		struct sink *s = w->sinks[i];
		if (s->ops->start && s->ops->start(s) < 0)
			return -1;
	}
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

/* After the last batch: each sink delivers what it still holds. */
static void writer_finish_sinks(struct writer *w)
{
	for (int i = 0; i < w->nsinks; i++)
		if (w->sinks[i]->ops->finish)
			w->sinks[i]->ops->finish(w->sinks[i]);
}

void writer_stop(struct writer *w)
{
	queue_stop(&w->queue);
	if (w->running) {
		pthread_join(w->thread, NULL);
		w->running = false;
	}
	writer_finish_sinks(w);
}

void writer_drain(struct writer *w)
{
	queue_stop(&w->queue);
	writer_main(w);
	writer_finish_sinks(w);
}

void writer_destroy(struct writer *w)
{
	/* The classifier first: its thread may still wake the queue. */
	classifier_free(w->classifier);
	w->classifier = NULL;
	writer_free_list(w->pending);
	w->pending = NULL;
	queue_destroy(&w->queue);
	for (int i = 0; i < w->nsinks; i++)
		w->sinks[i]->ops->close(w->sinks[i]);
	w->primary = NULL;
	w->nsinks = 0;
	p0fdb_cache_free(w->p0f_cache);
	w->p0f_cache = NULL;
	p0fdb_free(w->p0f);
	w->p0f = NULL;
}
