/* queue.c - a mutex-and-condvar list with two caps. The consumer takes the
 * whole list at once, so the lock is held for a few pointer moves only. */
#include "queue.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <uv.h>

int queue_init(struct queue *q, size_t max_records, size_t max_bytes)
{
	pthread_condattr_t attr;

	*q = (struct queue){.max_records = max_records, .max_bytes = max_bytes};
	atomic_init(&q->oldest_ns, 0);
	if (pthread_mutex_init(&q->lock, NULL) != 0)
		return -1;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (pthread_cond_init(&q->nonempty, &attr) != 0) {
		pthread_condattr_destroy(&attr);
		pthread_mutex_destroy(&q->lock);
		return -1;
	}
	pthread_condattr_destroy(&attr);
	return 0;
}

int queue_push(struct queue *q, struct record *r)
{
	bool wake;

	r->next = NULL;
	pthread_mutex_lock(&q->lock);
	if (q->records >= q->max_records) {
		q->stats.records_dropped++;
		pthread_mutex_unlock(&q->lock);
		record_free(r);
		return -1;
	}
	size_t size = record_size(r);
	/* Payloads may fill only part of the cap: the rest is kept for the
	 * sessions themselves, so a burst of big payloads costs payloads,
	 * not the records of the sessions after them. */
	if (r->payload && q->bytes + size > q->max_bytes - q->max_bytes / QUEUE_RESERVE_DIV) {
		q->stats.payloads_dropped++;
		q->stats.payload_bytes_dropped += r->payload_len;
		free(r->payload);
		r->payload = NULL;
		r->payload_lost = true;
		size = record_size(r);
	}
	if (q->bytes + size > q->max_bytes) {
		q->stats.records_dropped++;
		pthread_mutex_unlock(&q->lock);
		record_free(r);
		return -1;
	}
	q->bytes += size;
	wake = q->head == NULL;
	if (wake) {
		/* The first record since the consumer took the last ones: its
		 * age is the writer's lag unless older ones are still held. */
		q->head_ns = uv_hrtime();
		if (!q->held_ns)
			atomic_store_explicit(&q->oldest_ns, q->head_ns, memory_order_relaxed);
	}
	if (q->tail)
		q->tail->next = r;
	else
		q->head = r;
	q->tail = r;
	q->records++;
	q->stats.pushed++;
	pthread_mutex_unlock(&q->lock);
	/* Only the first record of a batch needs to wake the writer: it takes
	 * everything queued by the time it runs. */
	if (wake)
		pthread_cond_signal(&q->nonempty);
	return 0;
}

struct record *queue_pop_all(struct queue *q, uint64_t timeout_ms)
{
	struct record *list;
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t)(timeout_ms / 1000);
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&q->lock);
	while (!q->head && !q->stopping && !q->kicked) {
		if (pthread_cond_timedwait(&q->nonempty, &q->lock, &deadline) == ETIMEDOUT)
			break;
	}
	q->kicked = false;
	list = q->head;
	if (list && !q->held_ns)
		q->held_ns = q->head_ns;
	q->head = q->tail = NULL;
	q->head_ns = 0;
	q->records = 0;
	q->bytes = 0;
	pthread_mutex_unlock(&q->lock);
	return list;
}

void queue_committed(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->held_ns = 0;
	atomic_store_explicit(&q->oldest_ns, q->head_ns, memory_order_relaxed);
	pthread_mutex_unlock(&q->lock);
}

uint64_t queue_oldest_ns(struct queue *q)
{
	return atomic_load_explicit(&q->oldest_ns, memory_order_relaxed);
}

void queue_kick(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->kicked = true;
	pthread_mutex_unlock(&q->lock);
	pthread_cond_broadcast(&q->nonempty);
}

void queue_stop(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_mutex_unlock(&q->lock);
	pthread_cond_broadcast(&q->nonempty);
}

bool queue_stopping(struct queue *q)
{
	bool stopping;

	pthread_mutex_lock(&q->lock);
	stopping = q->stopping;
	pthread_mutex_unlock(&q->lock);
	return stopping;
}

bool queue_drained(struct queue *q)
{
	bool done;

	pthread_mutex_lock(&q->lock);
	done = q->stopping && !q->head;
	pthread_mutex_unlock(&q->lock);
	return done;
}

void queue_get_stats(struct queue *q, struct queue_stats *out)
{
	pthread_mutex_lock(&q->lock);
	*out = q->stats;
	pthread_mutex_unlock(&q->lock);
}

void queue_destroy(struct queue *q)
{
	struct record *r = q->head;

	while (r) {
		struct record *next = r->next;
		record_free(r);
		r = next;
	}
	q->head = q->tail = NULL;
	pthread_cond_destroy(&q->nonempty);
	pthread_mutex_destroy(&q->lock);
}

void queue_depth(struct queue *q, size_t *records, size_t *bytes)
{
	pthread_mutex_lock(&q->lock);
	*records = q->records;
	*bytes = q->bytes;
	pthread_mutex_unlock(&q->lock);
}
