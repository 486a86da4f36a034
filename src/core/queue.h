/* queue.h - the bounded hand-off from event loops to the writer thread. */
#ifndef FLYPAPER_QUEUE_H
#define FLYPAPER_QUEUE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

/* Counters that outlive the queue's contents; read them under the lock
 * with queue_stats. */
struct queue_stats {
	uint64_t pushed;             /* records accepted */
	uint64_t payloads_dropped;   /* payloads freed because queue_bytes was hit */
	uint64_t payload_bytes_dropped;
	uint64_t records_dropped;    /* records refused: queue_records, or queue_bytes
	                              * without their payload */
};

struct queue {
	pthread_mutex_t lock;
	pthread_cond_t nonempty;     /* signalled when the queue gains work or stops */
	struct record *head, *tail;
	size_t records;              /* records queued now */
	size_t bytes;                /* record_size of everything queued now */
	size_t max_records;
	size_t max_bytes;
	bool stopping;               /* set once: producers are done */
	bool kicked;                 /* wake the consumer once, without work */
	uint64_t head_ns;            /* CLOCK_MONOTONIC when head was pushed; 0 empty */
	uint64_t held_ns;            /* the same for the oldest record popped and not
	                              * yet committed (queue_committed); 0 none */
	/* held_ns, else head_ns: when the oldest record not yet committed was
	 * queued (0: none). Written under the lock, read by anyone without it. */
	atomic_uint_fast64_t oldest_ns;
	struct queue_stats stats;
};

/* Initialises q with its caps. Returns 0 or -1. */
int queue_init(struct queue *q, size_t max_records, size_t max_bytes);

/* The share of max_bytes (1/QUEUE_RESERVE_DIV) that only records
 * without their payload may use. */
#define QUEUE_RESERVE_DIV 4

/* Gives r to the queue; never blocks on the consumer. max_bytes caps
 * record_size, everything the queued records hold. When r would pass
 * max_bytes less the reserve (QUEUE_RESERVE_DIV) the payload is freed
 * first and r->payload_lost set (the metadata is kept); when even the
 * rest does not fit in max_bytes, or max_records is reached, r is freed
 * and counted. Returns 0 when r was queued, -1 when it was dropped.
 * Either way the caller no longer owns r. */
int queue_push(struct queue *q, struct record *r);

/* Waits up to timeout_ms for records, then takes all of them. Returns the
 * list (caller owns it, linked by next), or NULL on timeout or when the
 * queue is stopping and empty. The records count as held, for
 * queue_oldest_ns, until queue_committed. */
struct record *queue_pop_all(struct queue *q, uint64_t timeout_ms);

/* The consumer has committed (or given up) everything it popped. */
void queue_committed(struct queue *q);

/* CLOCK_MONOTONIC nanoseconds (uv_hrtime) at which the oldest record
 * queued or popped and not yet committed was pushed; 0 when there is
 * none. One atomic load, no lock: for the event loops. */
uint64_t queue_oldest_ns(struct queue *q);

/* Wakes a waiting queue_pop_all once (it returns what it has, maybe NULL). */
void queue_kick(struct queue *q);

/* Marks the queue as stopping and wakes the consumer. */
void queue_stop(struct queue *q);

/* True once queue_stop was called. */
bool queue_stopping(struct queue *q);

/* True once queue_stop was called and nothing is left. */
bool queue_drained(struct queue *q);

/* Copies the counters. */
void queue_get_stats(struct queue *q, struct queue_stats *out);

/* metrics: the records and bytes queued now, under the lock (a moment;
 * for the metrics server, never the event loops). */
void queue_depth(struct queue *q, size_t *records, size_t *bytes);

/* Frees anything still queued and the locks. */
void queue_destroy(struct queue *q);

#endif
