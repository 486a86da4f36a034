/* sink_metrics.h - the metrics sink's counts of the records the writer
 * took (sink_metrics.c), for the metrics server to read from its thread. */
#ifndef FLYPAPER_SINK_METRICS_H
#define FLYPAPER_SINK_METRICS_H

#include <stdint.h>

#include "record.h"

/* Strategies named in the counts; more are counted as "other". Strategies
 * are configured at start (a few listeners, an experiment's arms). */
#define SINK_METRICS_STRATEGIES 32
#define SINK_METRICS_OTHER "other"

/* A copy of the counts, each read atomically (not all at one instant). */
struct sink_metrics_counts {
	int nstrategies;             /* names[0..n) are in use */
	const char *names[SINK_METRICS_STRATEGIES + 1]; /* static strings; the last "other" */
	uint64_t sessions[SINK_METRICS_STRATEGIES + 1][CLOSE_REASON_COUNT];
	uint64_t refused[LIMIT_COUNT];   /* sessions refused at accept, by limit */
	uint64_t ident[IDENT_STATUS_COUNT]; /* IDENT probes by outcome (not IDENT_NONE) */
	uint64_t bytes_in, bytes_out;
	uint64_t halfopen_rows;      /* records of a half-open handshake or summary */
};

/* Copies the counts kept since the sink opened (zeros without --metrics). */
void sink_metrics_read(struct sink_metrics_counts *out);

#endif
