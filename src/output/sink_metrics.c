/* sink_metrics.c - the metrics sink: counts every session record the
 * writer takes, by strategy and close reason, refusal limit, IDENT outcome
 * and bytes, in atomics the metrics server reads (src/daemon/metrics.c).
 * Counting here, on the writer's thread, costs capture nothing, and the
 * numbers are those of the records the sinks got: the database's counts
 * once the writer has committed. One per process (--metrics). */
#include "sink.h"
#include "sink_metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

extern const struct sink_ops sink_metrics_ops;  /* below */

/* The counts: written by the writer thread only, read by the server. The
 * strategy names are added by the writer (release), read up to the count
 * (acquire), so a reader never sees a slot before its name. */
static struct {
	_Atomic int nstrategies;
	const char *names[SINK_METRICS_STRATEGIES];
	_Atomic uint64_t sessions[SINK_METRICS_STRATEGIES + 1][CLOSE_REASON_COUNT];
	_Atomic uint64_t refused[LIMIT_COUNT];
	_Atomic uint64_t ident[IDENT_STATUS_COUNT];
	_Atomic uint64_t bytes_in, bytes_out;
	_Atomic uint64_t halfopen_rows;
} sink_metrics;

/* The slot of a strategy name (a static string from the configuration,
 * never a peer's bytes): found by pointer, then by text, else added;
 * SINK_METRICS_STRATEGIES ("other") when the table is full. */
static int sink_metrics_slot(const char *name)
{
	int n = atomic_load_explicit(&sink_metrics.nstrategies, memory_order_relaxed);

	if (!name)
		name = "none";
	for (int i = 0; i < n; i++)
		if (sink_metrics.names[i] == name || strcmp(sink_metrics.names[i], name) == 0)
			return i;
	if (n == SINK_METRICS_STRATEGIES)
		return SINK_METRICS_STRATEGIES;
	sink_metrics.names[n] = name;
	atomic_store_explicit(&sink_metrics.nstrategies, n + 1, memory_order_release);
	return n;
}

static void sink_metrics_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static void sink_metrics_count(const struct record *r)
{
	int slot = sink_metrics_slot(r->strategy);

	if ((unsigned)r->reason < CLOSE_REASON_COUNT)
		sink_metrics_add(&sink_metrics.sessions[slot][r->reason], 1);
	if (r->reason == CLOSE_CAPACITY && (unsigned)r->limit < LIMIT_COUNT)
		sink_metrics_add(&sink_metrics.refused[r->limit], 1);
	if (r->ident && (unsigned)r->ident->status < IDENT_STATUS_COUNT)
		sink_metrics_add(&sink_metrics.ident[r->ident->status], 1);
	if (r->reason == CLOSE_SYN_ONLY || r->reason == CLOSE_RST_AFTER_SYNACK)
		sink_metrics_add(&sink_metrics.halfopen_rows, 1);
	sink_metrics_add(&sink_metrics.bytes_in, r->bytes_in);
	sink_metrics_add(&sink_metrics.bytes_out, r->bytes_out);
}

static struct sink *sink_metrics_open(const struct config *cfg, enum record_mode mode,
    char *err, size_t errlen)
{
	struct sink *s;

	err[0] = '\0';
	if (!cfg->metrics_on || mode != MODE_SERVE)
		return NULL;
	if (!(s = calloc(1, sizeof(*s)))) {
		snprintf(err, errlen, "metrics: out of memory");
		return NULL;
	}
	s->ops = &sink_metrics_ops;
	return s;
}

static enum sink_status sink_metrics_write(struct sink *s, const struct record *list,
    struct sink_batch *out)
{
	(void)s;
	(void)out;
	for (const struct record *r = list; r; r = r->next)
		if (r->kind == RECORD_CLOSED)
			sink_metrics_count(r);
	return SINK_OK;
}

static void sink_metrics_close(struct sink *s)
{
	free(s);
}

void sink_metrics_read(struct sink_metrics_counts *out)
{
	int n = atomic_load_explicit(&sink_metrics.nstrategies, memory_order_acquire);

	memset(out, 0, sizeof(*out));
	out->nstrategies = n;
	for (int i = 0; i < n; i++)
		out->names[i] = sink_metrics.names[i];
	out->names[SINK_METRICS_STRATEGIES] = SINK_METRICS_OTHER;
	for (int i = 0; i <= SINK_METRICS_STRATEGIES; i++)
		for (int c = 0; c < CLOSE_REASON_COUNT; c++)
			out->sessions[i][c] = atomic_load_explicit(&sink_metrics.sessions[i][c],
			    memory_order_relaxed);
	for (int i = 0; i < LIMIT_COUNT; i++)
		out->refused[i] = atomic_load(&sink_metrics.refused[i]);
	for (int i = 0; i < IDENT_STATUS_COUNT; i++)
		out->ident[i] = atomic_load(&sink_metrics.ident[i]);
	out->bytes_in = atomic_load(&sink_metrics.bytes_in);
	out->bytes_out = atomic_load(&sink_metrics.bytes_out);
	out->halfopen_rows = atomic_load(&sink_metrics.halfopen_rows);
}

const struct sink_ops sink_metrics_ops = {
	.name = "metrics",
	.lost_what = "record(s) not counted",
	.open = sink_metrics_open,
	.write = sink_metrics_write,
	.close = sink_metrics_close,
};
