/* sink_nats.h - the NATS JetStream shipper's counters, for the runs
 * table, the log and the metrics (sink_nats.c). */
#ifndef FLYPAPER_SINK_NATS_H
#define FLYPAPER_SINK_NATS_H

#include <stdint.h>

struct nats_stats {
	uint64_t shipped;            /* nats_shipped: sessions acknowledged */
	uint64_t failures;           /* nats_failures: publishes that failed */
	uint64_t backlog;            /* nats_backlog: sessions waiting (last count) */
	uint64_t lag_ms;             /* nats_lag_ms: most time from end to ack */
};

/* The shipper's counters so far (all 0 without --nats). Any thread. */
void sink_nats_stats(struct nats_stats *out);

#endif
