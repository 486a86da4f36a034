/* metrics.h - --metrics: a small HTTP server for GET /metrics on its own
 * thread, reading the counters the workers, the writer, its queue and the
 * sinks keep (DESIGN.md, Live metrics). */
#ifndef FLYPAPER_METRICS_H
#define FLYPAPER_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct worker_shared;
struct writer;

struct metrics;

/* Binds and listens on cfg->metrics (before the privilege drop and
 * confinement). Returns the server, NULL without --metrics; exits 2
 * naming the problem when the address cannot be bound. */
struct metrics *metrics_open(const struct config *cfg);

/* Starts the thread, reading sh and w (set up before, outliving it).
 * Returns 0 or -1. */
int metrics_start(struct metrics *m, struct worker_shared *sh, struct writer *w);

/* Stops the thread, closes every socket, frees m, and gives the run's
 * counters: answers given and connections refused or cut. NULL allowed. */
void metrics_close(struct metrics *m, uint64_t *scrapes, uint64_t *refused);

#endif
