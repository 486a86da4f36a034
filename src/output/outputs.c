/* outputs.c - the sinks there are, and opening them. A new kind of output
 * is one file filling a sink_ops (sink.h) and one row below. */
#include "outputs.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "p0fdb.h"
#include "sink.h"
#include "yara_api.h"

extern const struct sink_ops sink_sqlite_ops;  /* sink_sqlite.c: the primary */
extern const struct sink_ops sink_jsonl_ops;   /* sink_jsonl.c */
extern const struct sink_ops sink_metrics_ops; /* sink_metrics.c: counts for --metrics */
extern const struct sink_ops sink_syslog_ops;  /* sink_syslog.c */
extern const struct sink_ops sink_nats_ops;    /* sink_nats.c: --nats */

/* Opened in this order: the primary first, so that a bad database path
 * is the first thing reported. */
static const struct sink_ops *const outputs_sinks[] = {
	&sink_sqlite_ops,
	&sink_jsonl_ops,
	&sink_metrics_ops,
	&sink_syslog_ops,
	&sink_nats_ops,
};

/* sink_syslog.c: the socket made before a chroot hides /dev/log */
int sink_syslog_before_chroot(const struct config *cfg, char *err, size_t errlen);
/* sink_nats.c: the servers' names resolved before a chroot hides /etc
 * and confinement forbids lookups */
int sink_nats_before_chroot(const struct config *cfg, char *err, size_t errlen);

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
	if (!cfg->rules || strcmp(cfg->rules, "none") == 0)
		return 0;
	outputs_rules_cache(cfg, cache, sizeof(cache));
	if (!(*rules = classify_open(cfg->rules, cache, why, sizeof(why)))) {
		snprintf(err, errlen, "rules: %s", why);
		return -1;
	}
	return 0;
}

int outputs_load_p0f(const struct config *cfg, enum record_mode mode,
    struct p0fdb **db, char *err, size_t errlen)
{
	char warning[512];

	*db = NULL;
	/* inetd children have no saved SYN to match (the listening socket is
	 * the super-server's): they skip the 80 us of reading the database. */
	if (!cfg->syn_fingerprint || mode != MODE_SERVE)
		return 0;
	if (p0fdb_load(cfg->p0f_db, db, err, errlen, warning, sizeof(warning)) < 0)
		return -1;
	if (warning[0])
		log_warn("%s", warning);
	return 0;
}

int outputs_open(struct writer *w, const struct config *cfg, enum record_mode mode,
    struct classify *rules, struct p0fdb *p0f, char *err, size_t errlen)
{
	char cache[4096], why[512];
	uint64_t budget_ns = cfg->classify_budget_ms * 1000000ULL;

	if (writer_init(w, cfg->queue_records, cfg->queue_bytes,
	        cfg->flush_timeout_ms) < 0) {
		classify_close(rules);
		p0fdb_free(p0f);
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
			classify_close(rules);
			p0fdb_free(p0f);
			writer_destroy(w);
			return -1;
		}
	}
	if (p0f && writer_p0f(w, p0f) < 0) {
		snprintf(err, errlen, "cannot set up the writer: out of memory");
		classify_close(rules);
		writer_destroy(w);
		return -1;
	}
	outputs_rules_cache(cfg, cache, sizeof(cache));
	if (!cfg->rules) {
		/* An inetd child not given --rules: no libyara at all. */
		writer_classify_later(w);
		return 0;
	}
	if (!rules && strcmp(cfg->rules, "none") != 0 &&
	    yara_api_load(why, sizeof(why)) < 0) {
		/* Now, not at the first payload: confinement forbids mapping
		 * code. The rules themselves are compiled when a payload
		 * needs them. */
		snprintf(err, errlen, "rules: %s", why);
		writer_destroy(w);
		return -1;
	}
	if ((rules || strcmp(cfg->rules, "none") != 0) &&
	    writer_classify(w, rules, rules ? NULL : cfg->rules, cache, budget_ns) < 0) {
		snprintf(err, errlen, "cannot set up the writer: out of memory");
		writer_destroy(w);
		return -1;
	}
	return 0;
}

int outputs_before_chroot(const struct config *cfg, char *err, size_t errlen)
{
	if (sink_syslog_before_chroot(cfg, err, errlen) < 0)
		return -1;
	return sink_nats_before_chroot(cfg, err, errlen);
}
