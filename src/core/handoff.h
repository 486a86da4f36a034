/* handoff.h - how capture hands records over without knowing who takes
 * them: a queue to push them to, whether connect events are wanted, and
 * a way to ask whether the taker has fallen too far behind. The daemon
 * glue fills it from the writer (writer_handoff); capture only reads it. */
#ifndef FLYPAPER_HANDOFF_H
#define FLYPAPER_HANDOFF_H

#include <stdbool.h>
#include <stdint.h>

#include "queue.h"

struct handoff {
	struct queue *queue;         /* records go here (queue_push) */
	bool connect_events;         /* a sink writes RECORD_CONNECT: queue them too */
	/* True when the taker is more than max_lag_ns behind at now_ns
	 * (uv_hrtime) for a reason worth pausing accepts for. Called by the
	 * event loops once per accept batch: cheap and thread-safe. NULL:
	 * never behind. */
	bool (*behind)(void *ctx, uint64_t now_ns, uint64_t max_lag_ns);
	void *ctx;                   /* behind's first argument */
};

/* h->behind, or false without one. */
static inline bool handoff_behind(const struct handoff *h, uint64_t now_ns,
    uint64_t max_lag_ns)
{
	return h->behind && h->behind(h->ctx, now_ns, max_lag_ns);
}

#endif
