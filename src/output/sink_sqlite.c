/* sink_sqlite.c - the primary sink: the SQLite database (store.c). The
 * writer retries it while it fails; a full disk makes it write one record
 * at a time and give up payloads before sessions. */
#include "sink.h"

#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "store.h"

#define SINK_SQLITE_BUSY_SERVE_MS 1000   /* then the writer retries on its own */
#define SINK_SQLITE_BUSY_INETD_MS 10000  /* many children may queue for the lock */

extern const struct sink_ops sink_sqlite_ops;  /* below */

struct sink_sqlite {
	struct sink sink;            /* first: what the writer sees */
	struct store *store;         /* owned */
	_Atomic int64_t failures;    /* metrics: writes that failed */
};

static struct sink *sink_sqlite_open(const struct config *cfg, enum record_mode mode,
    char *err, size_t errlen)
{
	char why[CONFIG_ERR_LEN];
	struct sink_sqlite *s = calloc(1, sizeof(*s));

	err[0] = '\0';
	if (!s) {
		snprintf(err, errlen, "db: %s: out of memory", cfg->db_path);
		return NULL;
	}
	s->store = store_open(cfg->db_path, cfg->sensor, mode == MODE_INETD
	    ? SINK_SQLITE_BUSY_INETD_MS : SINK_SQLITE_BUSY_SERVE_MS, why, sizeof(why));
	if (!s->store) {
		snprintf(err, errlen, "db: %s: %s", cfg->db_path, why);
		free(s);
		return NULL;
	}
	s->sink.ops = &sink_sqlite_ops;
	return &s->sink;
}

static enum sink_status sink_sqlite_write(struct sink *sink, const struct record *list,
    struct sink_batch *out)
{
	struct sink_sqlite *s = (struct sink_sqlite *)sink;
	int rc = store_write(s->store, list);

	(void)out;
	if (rc == 0)
		return SINK_OK;
	atomic_fetch_add_explicit(&s->failures, 1, memory_order_relaxed);
	if (store_error_full(rc))
		return SINK_FULL;
	return store_error_transient(rc) ? SINK_RETRY : SINK_FAILED;
}

static const char *sink_sqlite_errmsg(struct sink *sink)
{
	return store_errmsg(((struct sink_sqlite *)sink)->store);
}

static void sink_sqlite_make_room(struct sink *sink)
{
	store_checkpoint(((struct sink_sqlite *)sink)->store);
}

static int sink_sqlite_write_run(struct sink *sink, const struct sink_run *run,
    char *err, size_t errlen)
{
	struct sink_sqlite *s = (struct sink_sqlite *)sink;

	if (store_write_run(s->store, run) == 0)
		return 0;
	snprintf(err, errlen, "store: cannot record the run's counters: %s",
	    store_errmsg(s->store));
	return -1;
}

/* metrics: its own failures; its backlog is the writer's queue, which
 * the metrics server adds for every sink. */
static void sink_sqlite_gauges(struct sink *sink, struct sink_gauges *out)
{
	struct sink_sqlite *s = (struct sink_sqlite *)sink;

	out->backlog = 0;
	out->lag_ms = 0;
	out->failures = atomic_load_explicit(&s->failures, memory_order_relaxed);
}

static void sink_sqlite_close(struct sink *sink)
{
	struct sink_sqlite *s = (struct sink_sqlite *)sink;

	store_close(s->store);
	free(s);
}

const struct sink_ops sink_sqlite_ops = {
	.name = "store",
	.primary = true,
	.open = sink_sqlite_open,
	.write = sink_sqlite_write,
	.errmsg = sink_sqlite_errmsg,
	.make_room = sink_sqlite_make_room,
	.write_run = sink_sqlite_write_run,
	.close = sink_sqlite_close,
	.gauges = sink_sqlite_gauges,
};
