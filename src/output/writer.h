/* writer.h - the one thread that writes records to the sinks, so event
 * loops never wait on a disk. */
#ifndef FLYPAPER_WRITER_H
#define FLYPAPER_WRITER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "classify.h"
#include "handoff.h"
#include "queue.h"
#include "sink.h"

#define WRITER_MAX_SINKS 8           /* sinks, the primary included */

struct writer {
	struct queue queue;          /* producers push here */
	struct sink *sinks[WRITER_MAX_SINKS]; /* owned; the others get each batch once */
	int nsinks;
	struct sink *primary;        /* one of sinks, retried while it fails; NULL: none */
	struct classify *classify;   /* owned; NULL when no rules (yet) */
	char *classify_paths;        /* owned; rules to compile at the first payload; NULL none */
	char *classify_cache;        /* owned; where compiled rules are cached; NULL none */
	uint64_t flush_timeout_ms;   /* how long stopping retries a failing primary */
	pthread_t thread;
	bool running;                /* the thread was started */
	atomic_bool reopen;          /* SIGHUP asked the sinks to reopen their files */
	atomic_bool failing;         /* the last transaction failed and is retried */
	atomic_bool classifying;     /* a YARA scan is running: its time is not lag to pause for */
	uint64_t shed_lag_ns;        /* behind by more, payloads go unclassified; 0 never */
	struct record *pending;      /* taken from the queue, not yet committed */
	uint64_t next_log_ns;        /* rate limit for repeated store errors */
	/* Counters of the primary; read them after writer_stop. Each other
	 * sink counts its own losses (writer_sink_counters). */
	uint64_t sessions_written;
	uint64_t refused_written;    /* of them, capacity refusals */
	uint64_t store_errors;       /* failed transactions */
	uint64_t payloads_dropped;   /* payloads given up to save sessions on a full disk */
	uint64_t payload_bytes_dropped;
	uint64_t records_lost;       /* given up on: a permanent error or exit */
	uint64_t unclassified;       /* payloads not classified: the writer was behind */
};

/* Sets up w, without sinks yet, with optional YARA rules (w owns them from
 * here on). Returns 0 or -1. */
int writer_init(struct writer *w, struct classify *classify, size_t max_records,
    size_t max_bytes, uint64_t flush_timeout_ms);

/* Gives w an open sink, the primary when its ops say so (one at most), up
 * to WRITER_MAX_SINKS in all. w owns s from here on, even when it refuses
 * it (then it is closed). Returns 0 or -1. */
int writer_add_sink(struct writer *w, struct sink *s);

/* The counters of w's sink called name (sink_ops.name); zeros when there
 * is none. Read them after writer_stop. */
struct sink_counters writer_sink_counters(const struct writer *w, const char *name);

/* Gives the run's counters to every sink that keeps them (the runs
 * table), logging any that cannot. After writer_stop. */
void writer_record_run(struct writer *w, const struct sink_run *run);

/* Compiles the rules in paths the first time a payload needs them, not
 * now: an inetd child that records a silent peer never pays for libyara.
 * w keeps copies of paths and cache (see classify_open). Returns 0 or -1
 * (out of memory). */
int writer_classify_lazily(struct writer *w, const char *paths, const char *cache);

/* Classification is the first thing to give up when the writer falls
 * behind: past lag_ns (half of --max-lag, so before accepting pauses), a
 * payload is stored and not classified (counted; `rescan` classifies every
 * stored payload). 0: always classify (inetd children). */
void writer_shed_classification(struct writer *w, uint64_t lag_ns);

/* True when the writer is more than max_lag_ns behind at now_ns
 * (uv_hrtime) and the store is healthy: the oldest record not yet
 * committed was queued at oldest_ns (0: none), and failing says the last
 * transaction failed. Behind a failing store records wait in memory
 * instead; that is not lag to pause for. max_lag_ns 0: never. Pure. */
bool writer_lag_exceeds(uint64_t oldest_ns, bool failing, uint64_t now_ns,
    uint64_t max_lag_ns);

/* writer_lag_exceeds for w now: one atomic load while the writer keeps
 * up, for the event loops to call once per accept batch. False while a
 * YARA scan runs: a slow scan (up to classify's time limit) is not a
 * reason to stop accepting everyone; shedding catches up after it. */
bool writer_behind(struct writer *w, uint64_t now_ns, uint64_t max_lag_ns);

/* Fills out for capture (worker_shared_init): w's queue, whether a sink
 * writes connect events, and writer_behind as the lag test. */
void writer_handoff(struct writer *w, struct handoff *out);

/* Starts the writer thread. Returns 0 or -1. */
int writer_start(struct writer *w);

/* Asks the thread to reopen the sinks' files (async-signal-unsafe: call
 * it from the thread that waits for signals, not a handler). */
void writer_request_reopen(struct writer *w);

/* Stops taking records, writes what is queued (retrying a failing primary
 * for up to flush_timeout_ms), joins the thread. */
void writer_stop(struct writer *w);

/* Without a thread: writes everything queued now, retrying as the thread
 * would. For the inetd command. */
void writer_drain(struct writer *w);

/* Closes the sinks and frees what is left. */
void writer_destroy(struct writer *w);

#endif
