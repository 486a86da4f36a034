/* outputs.c - the sinks there are, and opening them. A new kind of output
 * is one file filling a sink_ops (sink.h) and one row below. */
#include "outputs.h"

#include <stdio.h>
#include <string.h>

#include "sink.h"

extern const struct sink_ops sink_sqlite_ops;  /* sink_sqlite.c: the primary */
extern const struct sink_ops sink_jsonl_ops;   /* sink_jsonl.c */

/* Opened in this order: the primary first, so that a bad database path
 * is the first thing reported. */
static const struct sink_ops *const outputs_sinks[] = {
	&sink_sqlite_ops,
	&sink_jsonl_ops,
};

#define OUTPUTS_NSINKS (sizeof(outputs_sinks) / sizeof(outputs_sinks[0]))

/* The compiled rules' cache: next to the database, the daemon's or the
 * first inetd child's, so the next child loads them in 0.1 ms instead of
 * compiling for 7. */
static void outputs_rules_cache(const struct config *cfg, char *buf, size_t len)
{
	snprintf(buf, len, "%s-rules.yarc", cfg->db_path);
}

int outputs_compile_rules(const struct config *cfg, struct classify **rules,
    char *err, size_t errlen)
{
	char why[CONFIG_ERR_LEN], cache[4096];

	*rules = NULL;
	if (strcmp(cfg->rules, "none") == 0)
		return 0;
	outputs_rules_cache(cfg, cache, sizeof(cache));
	if (!(*rules = classify_open(cfg->rules, cache, why, sizeof(why)))) {
		snprintf(err, errlen, "rules: %s", why);
		return -1;
	}
	return 0;
}

int outputs_open(struct writer *w, const struct config *cfg, enum record_mode mode,
    struct classify *rules, char *err, size_t errlen)
{
	char cache[4096];

	if (writer_init(w, rules, cfg->queue_records, cfg->queue_bytes,
	        cfg->flush_timeout_ms) < 0) {
		classify_close(rules);
		snprintf(err, errlen, "cannot set up the writer");
		return -1;
	}
	for (size_t i = 0; i < OUTPUTS_NSINKS; i++) {
		struct sink *s = outputs_sinks[i]->open(cfg, mode, err, errlen);
		if (!s && !err[0])
			continue;        /* not asked for */
		if (!s || writer_add_sink(w, s) < 0) {
			if (s)
				snprintf(err, errlen, "%s: one sink too many",
				    outputs_sinks[i]->name);
			writer_destroy(w);
			return -1;
		}
	}
	outputs_rules_cache(cfg, cache, sizeof(cache));
	if (!rules && strcmp(cfg->rules, "none") != 0 &&
	    writer_classify_lazily(w, cfg->rules, cache) < 0) {
		snprintf(err, errlen, "cannot set up the writer: out of memory");
		writer_destroy(w);
		return -1;
	}
	/* Behind by half of max-lag, families wait for `rescan`; behind by
	 * max-lag, accepting waits too. An inetd child classifies its one
	 * session whatever it costs. */
	if (mode == MODE_SERVE)
		writer_shed_classification(w, cfg->max_lag_ms * 1000000 / 2);
	return 0;
}
