/* bursts.h - a source's connections grouped into bursts: a silence longer
 * than the gap ends one. The one rule the report's burst sizes and the
 * experiment's cohorts (yield) both use. */
#ifndef FLYPAPER_BURSTS_H
#define FLYPAPER_BURSTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BURSTS_GAP_MS 60000          /* the default gap (report --gap, yield --gap) */

/* Milliseconds since the epoch of a stored timestamp such as
 * "2026-11-27T05:00:00.123456Z", read only as far as it is long: 0 when it
 * does not start like one (a merged database may hold anything). */
long long bursts_ts_ms(const unsigned char *ts, size_t len);

/* Whether a session of the same source starting at t_ms belongs to the
 * burst whose last session started at last_ms. */
bool bursts_same(long long last_ms, long long t_ms, uint64_t gap_ms);

#endif
