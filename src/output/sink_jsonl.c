/* sink_jsonl.c - the JSON-lines sink (jsonl.c): Cowrie-style events for
 * log shippers. Written once per batch, never retried: lines it could not
 * write whole are counted as lost, lines with a field escaped as escaped
 * (the runs table's jsonl_errors and jsonl_escaped). */
#include "sink.h"

#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "jsonl.h"

extern const struct sink_ops sink_jsonl_ops;  /* below */

struct sink_jsonl {
	struct sink sink;            /* first: what the writer sees */
	struct jsonl *jsonl;         /* owned */
	_Atomic int64_t failures;    /* metrics: batches not written whole */
};

static struct sink *sink_jsonl_open(const struct config *cfg, enum record_mode mode,
    char *err, size_t errlen)
{
	char why[CONFIG_ERR_LEN];
	struct sink_jsonl *s;

	(void)mode;
	err[0] = '\0';
	if (!cfg->jsonl_path)
		return NULL;
	if (!(s = calloc(1, sizeof(*s)))) {
		snprintf(err, errlen, "jsonl: out of memory");
		return NULL;
	}
	s->jsonl = jsonl_open(cfg->jsonl_path, cfg->sensor, why, sizeof(why));
	if (!s->jsonl) {
		snprintf(err, errlen, "jsonl: %s", why);
		free(s);
		return NULL;
	}
	s->sink.ops = &sink_jsonl_ops;
	return &s->sink;
}

static enum sink_status sink_jsonl_write(struct sink *sink, const struct record *list,
    struct sink_batch *out)
{
	struct sink_jsonl *s = (struct sink_jsonl *)sink;

	out->lost = jsonl_write(s->jsonl, list, &out->escaped);
	if (!out->lost)
		return SINK_OK;
	atomic_fetch_add_explicit(&s->failures, 1, memory_order_relaxed);
	return SINK_FAILED;
}

static int sink_jsonl_reopen(struct sink *sink, char *err, size_t errlen)
{
	return jsonl_reopen(((struct sink_jsonl *)sink)->jsonl, err, errlen);
}

/* metrics: written as each batch comes, it holds nothing back. */
static void sink_jsonl_gauges(struct sink *sink, struct sink_gauges *out)
{
	struct sink_jsonl *s = (struct sink_jsonl *)sink;

	out->backlog = 0;
	out->lag_ms = 0;
	out->failures = atomic_load_explicit(&s->failures, memory_order_relaxed);
}

static void sink_jsonl_close(struct sink *sink)
{
	struct sink_jsonl *s = (struct sink_jsonl *)sink;

	jsonl_close(s->jsonl);
	free(s);
}

const struct sink_ops sink_jsonl_ops = {
	.name = "jsonl",
	.connect_events = true,
	.lost_what = "line(s) not written whole",
	.escaped_what = "line(s) written with a field escaped (named in escaped_fields)",
	.open = sink_jsonl_open,
	.write = sink_jsonl_write,
	.reopen = sink_jsonl_reopen,
	.close = sink_jsonl_close,
	.gauges = sink_jsonl_gauges,
};
