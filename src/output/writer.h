/* writer.h - the one thread that writes records to the sinks, so event
 * loops never wait on a disk. */
#ifndef FLYPAPER_WRITER_H
#define FLYPAPER_WRITER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "classifier.h"
#include "handoff.h"
#include "p0fdb.h"
#include "queue.h"
#include "sink.h"

#define WRITER_MAX_SINKS 8           /* sinks, the primary included */

struct writer {
	struct queue queue;          /* producers push here */
	struct sink *sinks[WRITER_MAX_SINKS]; /* owned; the others get each batch once */
	int nsinks;
	struct sink *primary;        /* one of sinks, retried while it fails; NULL: none */
	struct classifier *classifier; /* owned; NULL: payloads are not classified here */
	bool classify_later;         /* no classifier, yet payloads are 'pending' (for rescan) */
	bool classifier_finished;    /* at exit, its last verdicts were taken */
	bool shed_logged;            /* the first shed session was logged */
	uint64_t flush_timeout_ms;   /* how long stopping retries a failing primary */
	pthread_t thread;
	bool running;                /* the thread was started */
	atomic_bool reopen;          /* SIGHUP asked the sinks to reopen their files */
	atomic_bool failing;         /* the last transaction failed and is retried */
	struct record *pending;      /* taken from the queue, not yet committed */
	struct p0fdb *p0f;           /* owned; NULL: SYNs get no os */
	struct p0fdb_cache *p0f_cache; /* owned; the writer thread's matches */
	uint64_t next_log_ns;        /* rate limit for repeated store errors */
	/* Counters of the primary; read them after writer_stop. Each other
	 * sink counts its own losses (writer_sink_counters). */
	uint64_t sessions_written;
	uint64_t refused_written;    /* of them, capacity refusals */
	uint64_t store_errors;       /* failed transactions */
	uint64_t payloads_dropped;   /* payloads given up to save sessions on a full disk */
	uint64_t payload_bytes_dropped;
	uint64_t records_lost;       /* given up on: a permanent error or exit */
};

/* Sets up w, without sinks yet and without a classifier. Returns 0 or -1. */
int writer_init(struct writer *w, size_t max_records, size_t max_bytes,
    uint64_t flush_timeout_ms);

/* Gives w an open sink, the primary when its ops say so (one at most), up
 * to WRITER_MAX_SINKS in all. w owns s from here on, even when it refuses
 * it (then it is closed). Returns 0 or -1. */
int writer_add_sink(struct writer *w, struct sink *s);

/* Gives w the p0f database (owned from here; NULL allowed) it matches
 * each record's SYN to, once, before any sink sees the record. Returns 0,
 * or -1 when out of memory (db freed). */
int writer_p0f(struct writer *w, struct p0fdb *db);

/* The counters of w's sink called name (sink_ops.name); zeros when there
 * is none. Read them after writer_stop. */
struct sink_counters writer_sink_counters(const struct writer *w, const char *name);

/* Gives the run's counters to every sink that keeps them (the runs
 * table), logging any that cannot. After writer_stop. */
void writer_record_run(struct writer *w, const struct sink_run *run);

/* Classifies payloads with rules (owned by w from here on; NULL: the rule
 * files in paths, compiled at the first payload, cache as in
 * classify_open), each scan within budget_ns, off the writer's thread:
 * sessions are committed 'pending' first and their verdicts applied in a
 * later transaction. Before writer_start. Returns 0, or -1 when memory ran
 * out (rules are closed then). */
int writer_classify(struct writer *w, struct classify *rules, const char *paths,
    const char *cache, uint64_t budget_ns);

/* Stores sessions with a payload as 'pending' without classifying them
 * (an inetd child not asked to: `rescan` classifies them). */
void writer_classify_later(struct writer *w);

/* The classifier's counters (zeros without one). After writer_stop or
 * writer_drain. */
struct classifier_counters writer_class_counters(struct writer *w);

/* True when the writer is more than max_lag_ns behind at now_ns
 * (uv_hrtime) and the store is healthy: the oldest record not yet
 * committed was queued at oldest_ns (0: none), and failing says the last
 * transaction failed. Behind a failing store records wait in memory
 * instead; that is not lag to pause for. max_lag_ns 0: never. Pure. */
bool writer_lag_exceeds(uint64_t oldest_ns, bool failing, uint64_t now_ns,
    uint64_t max_lag_ns);

/* writer_lag_exceeds for w now: one atomic load while the writer keeps
 * up, for the event loops to call once per accept batch. Scans run on the
 * classifier's thread, so they are never part of this lag. */
bool writer_behind(struct writer *w, uint64_t now_ns, uint64_t max_lag_ns);

/* Fills out for capture (worker_shared_init): w's queue, whether a sink
 * writes connect events, and writer_behind as the lag test. */
void writer_handoff(struct writer *w, struct handoff *out);

/* Starts the writer thread (and the classifier's). Returns 0 or -1. */
int writer_start(struct writer *w);

/* Asks the thread to reopen the sinks' files (async-signal-unsafe: call
 * it from the thread that waits for signals, not a handler). */
void writer_request_reopen(struct writer *w);

/* Stops taking records, writes what is queued (retrying a failing primary
 * for up to flush_timeout_ms), lets the classifier finish what it holds
 * (CLASSIFIER_FINISH_MS) and writes its verdicts, joins the threads. */
void writer_stop(struct writer *w);

/* Without a thread: writes everything queued now, retrying as the thread
 * would, then classifies the payloads it committed and writes the
 * verdicts. For the inetd command. */
void writer_drain(struct writer *w);

/* Closes the sinks and frees what is left. */
void writer_destroy(struct writer *w);

#endif
