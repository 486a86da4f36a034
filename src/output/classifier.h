/* classifier.h - classification off the writer thread. The writer commits
 * every session first and then hands its payload here; the classifier
 * scans it within a budget on a thread of its own and hands the verdict
 * back as a RECORD_CLASSIFIED record, which the writer applies in its next
 * transaction: recording never waits on a scan. */
#ifndef FLYPAPER_CLASSIFIER_H
#define FLYPAPER_CLASSIFIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "classify.h"
#include "record.h"

#define CLASSIFIER_MAX_JOBS 4096     /* payloads waiting, and verdicts not yet taken */
#define CLASSIFIER_MAX_BYTES (64u * 1024 * 1024) /* payload bytes waiting */
#define CLASSIFIER_CACHE 1024        /* verdicts remembered by digest (direct-mapped) */
#define CLASSIFIER_FINISH_MS 1000    /* at exit, what is queued is scanned for this long */

/* What the classifier did; read after classifier_finish. */
struct classifier_counters {
	uint64_t classified;         /* verdicts handed back (done or skipped) */
	uint64_t skipped;            /* of them, sessions over the budget */
	uint64_t cache_hits;         /* verdicts found by digest, without a scan */
	uint64_t unclassified;       /* left 'pending' or 'shed': a full queue, exit, no rules */
};

struct classifier;

/* A classifier over rules (owned from here on), or, with rules NULL, over
 * the rule files in paths compiled at its first payload (an inetd child;
 * cache as in classify_open, may be NULL). Each scan gets budget_ns. wake
 * (with ctx) is called, from the classifier's thread, when a verdict is
 * ready and none was waiting. Returns NULL when memory runs out (rules are
 * closed then). */
struct classifier *classifier_new(struct classify *rules, const char *paths,
    const char *cache, uint64_t budget_ns, void (*wake)(void *ctx), void *ctx);

/* Starts the classifier's thread. Without one, classifier_finish scans in
 * the caller (an inetd child). Returns 0 or -1. */
int classifier_start(struct classifier *c);

/* Gives r (a RECORD_CLOSED with a payload) its verdict when the payload's
 * digest was classified recently: class_state, class and matches filled.
 * Returns true when it did. */
bool classifier_lookup(struct classifier *c, struct record *r);

/* Holds a place in the queue for a payload of len bytes, for the session
 * about to be committed. Returns false when the queue is full: the session
 * is shed (counted), for `rescan`. */
bool classifier_reserve(struct classifier *c, size_t len);

/* Gives a reserved place back (the session was not committed, or lost its
 * payload). */
void classifier_release(struct classifier *c, size_t len);

/* Queues the committed session r for a scan, in the place reserved for
 * it: r's payload moves to the queue (r->payload is NULL after); r itself
 * stays the caller's. */
void classifier_submit(struct classifier *c, struct record *r);

/* The verdicts ready now (RECORD_CLASSIFIED records linked by next; the
 * caller owns them), or NULL. */
struct record *classifier_take(struct classifier *c);

/* Scans what is queued for up to CLASSIFIER_FINISH_MS, then stops (joins
 * the thread, or scans here without one). What is left stays 'pending'
 * and is counted. Verdicts are left for classifier_take. */
void classifier_finish(struct classifier *c);

/* Copies the counters. */
void classifier_get_counters(struct classifier *c, struct classifier_counters *out);

/* metrics: payloads queued, reserved, being scanned or with a verdict not
 * yet taken, under the lock (a moment; any thread). */
size_t classifier_backlog(struct classifier *c);

/* Stops the thread (abandoning what is queued) and frees everything.
 * NULL is allowed. */
void classifier_free(struct classifier *c);

#endif
