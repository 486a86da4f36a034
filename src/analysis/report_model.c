/* report_model.c - the report's model from the databases. One pass over
 * the sessions, ordered by source and time, groups connections into
 * bursts, names each session's behaviour class and family, and counts the
 * timeline; a few queries add the top paths and user agents and the
 * strategy yield. */
#include "report_model.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bursts.h"
#include "store.h"
#include "text.h"

_Static_assert(REPORT_TAGS_FAMILIES == REPORT_MAX_FAMILIES,
    "a tag counts every family index of the model");
_Static_assert(REPORT_TLS_FAMILIES == REPORT_MAX_FAMILIES && REPORT_TLS_CLASSES == CLASS_COUNT,
    "a TLS row counts every family and class index of the model");

#define REPORT_LATE_MS 2000          /* a first byte after this is "late" */
#define REPORT_DROP_MS 1000          /* "closed within 1 s" */

static const char *const report_class_names[CLASS_COUNT] = {
	"payload", "late-payload", "handshake-only", "drop-on-data",
	"drop-on-ident", "waits-forever", "half-open",
};

/* Where the pass over the sessions stands. */
struct report_pass {
	struct report_model *m;
	struct report_source cur;    /* the source being read */
	long cur_burst;              /* sessions in the current burst */
	long long last_ms;           /* its last session's start */
};

const char *report_class_name(enum report_class c)
{
	return (unsigned)c < CLASS_COUNT ? report_class_names[c] : "?";
}

static int report_family_index(struct report_model *m, const char *name)
{
	for (int i = 0; i < m->nfamilies; i++) {
		if (strcmp(m->families[i], name) == 0)
			return i;
	}
	if (m->nfamilies == REPORT_MAX_FAMILIES)
		return REPORT_MAX_FAMILIES - 1;   /* the last slot gathers the rest */
	/* One "other" even when a stored family has that name: two would be
	 * one key in the JSON, and their sessions would go uncounted. */
	for (int i = 0; m->nfamilies == REPORT_MAX_FAMILIES - 1 && i < m->nfamilies; i++) {
		if (strcmp(m->families[i], "other") == 0)
			return i;
	}
	snprintf(m->families[m->nfamilies], sizeof(m->families[0]), "%s",
	    m->nfamilies == REPORT_MAX_FAMILIES - 1 ? "other" : name);
	return m->nfamilies++;
}

/* The timeline slot of a stored timestamp's hour (its first 13 bytes,
 * escaped; "-" when there are none). */
static struct report_hour *report_hour(struct report_model *m, const unsigned char *ts,
    size_t len)
{
	char key[14];
	uint32_t h = 2166136261u;

	text_display_into(ts ? ts : (const unsigned char *)"", ts && len > 13 ? 13 : len,
	    key, sizeof(key));
	if (!key[0])
		snprintf(key, sizeof(key), "-");    /* empty marks a free slot */
	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (uint32_t i = 0; i < REPORT_HOURS; i++) {
		struct report_hour *slot = &m->hours[(h + i) % REPORT_HOURS];
		if (!slot->key[0])
			snprintf(slot->key, sizeof(slot->key), "%s", key);
		if (strcmp(slot->key, key) == 0)
			return slot;
	}
	return NULL;                 /* more hours than slots: not counted */
}

/* The behaviour class of one session (the columns of report_sessions). */
static enum report_class report_classify(sqlite3_stmt *q)
{
	long long bytes_in = sqlite3_column_int64(q, RCOL_BYTES_IN);
	bool has_first = sqlite3_column_type(q, RCOL_FIRST_BYTE_MS) != SQLITE_NULL;
	long long first = sqlite3_column_int64(q, RCOL_FIRST_BYTE_MS);
	bool has_out = sqlite3_column_type(q, RCOL_FIRST_OUT_MS) != SQLITE_NULL;
	long long out = sqlite3_column_int64(q, RCOL_FIRST_OUT_MS);
	const char *closed_by = (const char *)sqlite3_column_text(q, RCOL_CLOSED_BY);
	bool by_peer = closed_by && strcmp(closed_by, "peer") == 0;
	bool after_out = sqlite3_column_type(q, RCOL_CLOSE_AFTER_OUT) != SQLITE_NULL &&
	    sqlite3_column_int64(q, RCOL_CLOSE_AFTER_OUT) <= REPORT_DROP_MS;
	bool after_ident = sqlite3_column_type(q, RCOL_CLOSE_AFTER_IDENT) != SQLITE_NULL &&
	    sqlite3_column_int64(q, RCOL_CLOSE_AFTER_IDENT) <= REPORT_DROP_MS;
	const char *reason = (const char *)sqlite3_column_text(q, RCOL_CLOSE_REASON);

	if (by_peer && after_ident)
		return CLASS_DROP_ON_IDENT;
	/* Left at flypaper's first byte, having sent nothing before it (a
	 * peer whose request was answered and then left is a payload). */
	if (by_peer && after_out && has_out && (bytes_in == 0 || (has_first && first > out)))
		return CLASS_DROP_ON_DATA;
	if (bytes_in > 0)
		return has_first && first < REPORT_LATE_MS && (!has_out || first <= out)
		    ? CLASS_PAYLOAD : CLASS_LATE_PAYLOAD;
	if (!by_peer && reason && (!strcmp(reason, "idle_timeout") ||
	        !strcmp(reason, "session_timeout")))
		return CLASS_WAITS_FOREVER;
	return CLASS_HANDSHAKE_ONLY;
}

static void report_end_burst(struct report_pass *ps)
{
	struct report_model *m = ps->m;

	if (ps->cur_burst == 0)
		return;
	m->bursts++;
	ps->cur.bursts++;
	m->burst_sizes[ps->cur_burst > REPORT_MAX_BURST ? REPORT_MAX_BURST : ps->cur_burst]++;
	if (ps->cur.nsizes < REPORT_SOURCE_SIZES)
		ps->cur.sizes[ps->cur.nsizes++] = (int)ps->cur_burst;
	ps->cur_burst = 0;
}

/* The current source is complete: count it, keep it if it is in the top. */
static void report_end_source(struct report_pass *ps)
{
	struct report_model *m = ps->m;
	int dominant = 0, slot = -1;

	if (ps->cur.sessions == 0)
		return;
	report_end_burst(ps);
	m->sources++;
	for (int c = 1; c < CLASS_COUNT; c++) {
		if (ps->cur.by_class[c] > ps->cur.by_class[dominant])
			dominant = c;
	}
	ps->cur.class = (enum report_class)dominant;
	m->sources_by_class[dominant]++;
	if (m->ntop < REPORT_TOP) {
		slot = m->ntop++;
	} else {
		int min = 0;
		for (int i = 1; i < REPORT_TOP; i++) {
			if (m->top[i].sessions < m->top[min].sessions)
				min = i;
		}
		if (m->top[min].sessions < ps->cur.sessions)
			slot = min;
	}
	if (slot >= 0)
		m->top[slot] = ps->cur;
	memset(&ps->cur, 0, sizeof(ps->cur));
}

/* The OS slot of an (escaped) label: the last gathers the rest. */
static struct report_os *report_os_slot(struct report_model *m, const char *label)
{
	for (int i = 0; i < m->nos; i++) {
		if (!(m->os_rest && i == REPORT_MAX_OS - 1) && strcmp(m->os[i].label, label) == 0)
			return &m->os[i];
	}
	if (m->nos == REPORT_MAX_OS) {
		m->os_rest = true;
		return &m->os[REPORT_MAX_OS - 1];
	}
	snprintf(m->os[m->nos].label, sizeof(m->os[0].label), "%s", label);
	return &m->os[m->nos++];
}

/* Counts a session's OS (columns os and syn_state) under class c:
 * only the peer's own SYN, matched or not. */
/* *sum += n (n > 0), stopping at LONG_MAX: counts read from a database
 * (a summary row's handshakes) are hostile and may be near any limit. */
static void report_add_sat(long *sum, long long n)
{
	if (n > (long long)(LONG_MAX - *sum))
		*sum = LONG_MAX;
	else
		*sum += (long)n;
}

static void report_count_os(struct report_model *m, sqlite3_stmt *q, enum report_class c)
{
	char label[sizeof(m->os[0].label)];
	int state = sqlite3_column_int(q, RCOL_SYN_STATE);

	if (state == 2) {
		m->os_proxy++;
		return;
	}
	if (state != 1) {
		m->os_without_syn++;
		return;
	}
	m->os_syn_by_class[c]++;
	/* the label came from a p0f file and a database: escaped here */
	if (!store_column_display(q, RCOL_OS, label, sizeof(label))) {
		m->os_unmatched_by_class[c]++;
		return;
	}
	struct report_os *o = report_os_slot(m, label);
	o->sessions++;
	o->by_class[c]++;
}

/* Whether the experiment by cohort can be computed: GSL loads. Without
 * it, the report goes on and its experiment section says why. */
static bool report_model_stats(struct report_model *m)
{
	char err[sizeof(m->experiment_error)];

	if (stats_load(err, sizeof(err)) == 0)
		return true;
	snprintf(m->experiment_error, sizeof(m->experiment_error), "%s", err);
	return false;
}

/* A column as stored bytes (NULL: none). */
static struct report_tls_bytes report_bytes(sqlite3_stmt *q, int i)
{
	if (sqlite3_column_type(q, i) == SQLITE_NULL)
		return (struct report_tls_bytes){NULL, 0};
	const void *p = sqlite3_column_blob(q, i);
	size_t len = (size_t)sqlite3_column_bytes(q, i);
	return (struct report_tls_bytes){p ? p : "", len};
}

/* Counts a session's TLS columns under class c and family f. */
static void report_count_tls(struct report_tls_acc *tls, sqlite3_stmt *q, enum report_class c,
    int f, long source, const unsigned char *ts, size_t ts_len)
{
	struct report_tls_in in = {
		.state = report_bytes(q, RCOL_TLS), .versions = report_bytes(q, RCOL_TLS_VERSIONS),
		.sni = report_bytes(q, RCOL_TLS_SNI), .ja3_md5 = report_bytes(q, RCOL_JA3_MD5),
		.ja4 = report_bytes(q, RCOL_JA4), .version = report_bytes(q, RCOL_TLS_VERSION),
		.error = report_bytes(q, RCOL_TLS_ERROR), .alert = report_bytes(q, RCOL_TLS_ALERT),
		.hello_ver = sqlite3_column_type(q, RCOL_TLS_HELLO_VER) == SQLITE_INTEGER
		    ? sqlite3_column_int64(q, RCOL_TLS_HELLO_VER) : -1,
		.front = sqlite3_column_type(q, RCOL_TLS_FRONT) == SQLITE_INTEGER &&
		    sqlite3_column_int64(q, RCOL_TLS_FRONT) == 1,
		.ts = {ts, ts ? ts_len : 0}, .cls = c, .family = f, .source = source,
	};

	if (in.state.p || in.front)
		report_tls_add(tls, &in);
}

/* The JA3 string of each top JA3 row, by its md5 from the view "tls_ja3"
 * (report.c), read after the pass: carried through the pass's sort, every
 * session's JA3 string (hundreds of bytes) would cost more than the rest
 * of its row. Without the view or a match the row has no note. */
static void report_tls_notes(struct report_model *m, sqlite3 *db)
{
	struct report_tls_top *top = &m->tls.top[RTLS_T_JA3];
	sqlite3_stmt *q;

	if (!top->n || sqlite3_prepare_v2(db, "SELECT ja3 FROM tls_ja3 WHERE ja3_md5 = ?1 "
	        "AND ja3 IS NOT NULL LIMIT 1", -1, &q, NULL) != SQLITE_OK)
		return;
	for (int i = 0; i < top->n; i++) {
		struct report_tls_row *r = &top->rows[i];
		sqlite3_bind_text(q, 1, (const char *)r->raw, (int)r->raw_len, SQLITE_STATIC);
		if (sqlite3_step(q) == SQLITE_ROW)
			report_tls_set_note(r, sqlite3_column_blob(q, 0),
			    (size_t)sqlite3_column_bytes(q, 0));
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
}

#define REPORT_COL_NAME(id, name) [id] = name,
static const char *const report_col_names[RCOL_COUNT] = {REPORT_COLUMNS(REPORT_COL_NAME)};
#undef REPORT_COL_NAME

const char *report_model_column_name(enum report_col c)
{
	return (unsigned)c < RCOL_COUNT ? report_col_names[c] : "?";
}

int report_model_check_columns(sqlite3_stmt *q, char *err, size_t errlen)
{
	int n = sqlite3_column_count(q);

	for (int i = 0; i < RCOL_COUNT || i < n; i++) {
		const char *got = i < n ? sqlite3_column_name(q, i) : NULL;
		const char *want = i < RCOL_COUNT ? report_col_names[i] : NULL;
		if (!got || !want || strcmp(got, want) != 0) {
			snprintf(err, errlen, "the report's query has column %d %s%s%s where "
			    "enum report_col has %s%s%s (report_model.c and report_model.h "
			    "disagree)", i, got ? "'" : "", got ? got : "none", got ? "'" : "",
			    want ? "'" : "", want ? want : "none", want ? "'" : "");
			return -1;
		}
	}
	return 0;
}

/* The pass over the sessions: counts, bursts, classes, families, hours,
 * TLS, and the experiment's cohorts. */
static int report_sessions(struct report_model *m, sqlite3 *db)
{
	struct report_pass pass, *ps = &pass;
	sqlite3_stmt *q;
	int rc = sqlite3_prepare_v2(db,
	    /* in the order of enum report_col (report_model.h), which
	     * report_model_check_columns holds it to */
	    "SELECT src_ip, start_ts, bytes_in, first_byte_ms, first_out_ms, closed_by, "
	    "  peer_close_after_out_ms, peer_close_after_ident_ms, close_reason, family, "
	    "  payload_sha256 IS NOT NULL AS has_payload, shape, session, "
	    "  class_state IN ('pending', 'shed', 'skipped') AS unclassified, tags, "
	    "  tags_missing, os, syn_state, handshakes, coalesce(strategy, '-') AS strategy, "
	    "  os_class, dst_port, "
	    "  tls, tls_hello_ver, tls_versions, tls_sni, ja3_md5, ja4, "
	    "  tls_front, tls_version, tls_error, tls_alert, "
	    "  experiment_id "
	    "FROM sessions ORDER BY src_ip, start_ts", -1, &q, NULL);
	/* the experiment's cohorts read the same rows (cohorts.h) */
	static const struct cohorts_cols cols = {
		.ip = RCOL_SRC_IP, .ts = RCOL_START_TS, .strategy = RCOL_STRATEGY,
		.bytes_in = RCOL_BYTES_IN, .first_byte = RCOL_FIRST_BYTE_MS,
		.first_out = RCOL_FIRST_OUT_MS, .closed_by = RCOL_CLOSED_BY,
		.close_after_out = RCOL_CLOSE_AFTER_OUT, .close_after_ident = RCOL_CLOSE_AFTER_IDENT,
		.os = RCOL_OS, .os_class = RCOL_OS_CLASS, .port = RCOL_DST_PORT,
		.family = RCOL_FAMILY, .reason = RCOL_CLOSE_REASON,
		.experiment = RCOL_EXPERIMENT_ID,
	};
	struct cohorts_pass *cohorts = NULL;

	if (rc != SQLITE_OK)
		return rc;
	if (report_model_check_columns(q, m->error, sizeof(m->error)) < 0) {
		sqlite3_finalize(q);
		return SQLITE_INTERNAL;
	}
	memset(ps, 0, sizeof(*ps));
	ps->m = m;
	struct report_shapes *shapes = report_shapes_new();  /* NULL: no section */
	struct report_tags *tags = report_tags_new();        /* NULL: no section */
	struct report_tls_acc *tls = report_tls_new();       /* NULL: no section */
	long source = 0;
	if (report_model_stats(m)) {
		if (cohorts_experiment(db, "", m->experiment_want, &m->experiment) != SQLITE_OK)
			snprintf(m->experiment_error, sizeof(m->experiment_error), "the sessions' "
			    "experiment cannot be read");
		else if (!(cohorts = cohorts_begin(m->cohort_by, m->gap_ms, &cols, &m->experiment)))
			snprintf(m->experiment_error, sizeof(m->experiment_error), "out of memory");
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (cohorts)
			cohorts_feed(cohorts, q);
		char ip[sizeof(ps->cur.ip)], family[sizeof(m->families[0])];
		const unsigned char *ts = sqlite3_column_text(q, RCOL_START_TS);
		size_t ts_len = ts ? (size_t)sqlite3_column_bytes(q, RCOL_START_TS) : 0;
		const char *reason = (const char *)sqlite3_column_text(q, RCOL_CLOSE_REASON);
		long long t = bursts_ts_ms(ts, ts_len);

		if (reason && strcmp(reason, "capacity") == 0) {
			m->refused++;
			continue;
		}
		/* Never accepted: a class of their own, counted in handshakes
		 * (a summary row stands for many), and in nothing else, so a
		 * SYN flood shows here and not in bursts, sources or hours. */
		if (reason && (!strcmp(reason, "syn_only") || !strcmp(reason, "rst_after_synack"))) {
			long long n = sqlite3_column_type(q, RCOL_HANDSHAKES) == SQLITE_NULL ? 1
			    : sqlite3_column_int64(q, RCOL_HANDSHAKES);
			/* a doctored database may say anything: the sums saturate */
			report_add_sat(&m->half_open, n > 0 ? n : 1);
			report_add_sat(&m->by_class[CLASS_HALF_OPEN], n > 0 ? n : 1);
			/* their OS by row: a summary row once, by its first SYN */
			report_count_os(m, q, CLASS_HALF_OPEN);
			continue;
		}
		if (!store_column_display(q, RCOL_SRC_IP, ip, sizeof(ip)))
			snprintf(ip, sizeof(ip), "?");
		if (!store_column_display(q, RCOL_FAMILY, family, sizeof(family)))
			snprintf(family, sizeof(family), "none");
		if (strcmp(ip, ps->cur.ip) != 0 || ps->cur.sessions == 0) {
			report_end_source(ps);
			snprintf(ps->cur.ip, sizeof(ps->cur.ip), "%s", ip);
			source++;
		} else if (!bursts_same(ps->last_ms, t, m->gap_ms)) {
			report_end_burst(ps);
		}
		ps->last_ms = t;
		ps->cur_burst++;
		ps->cur.sessions++;
		m->sessions++;
		enum report_class c = report_classify(q);
		m->by_class[c]++;
		ps->cur.by_class[c]++;
		/* A payload no rule named: its shape is counted for the report;
		 * one not classified yet is only counted. */
		bool unnamed = sqlite3_column_type(q, RCOL_FAMILY) == SQLITE_NULL &&
		    sqlite3_column_int(q, RCOL_HAS_PAYLOAD);
		if (unnamed && sqlite3_column_int(q, RCOL_UNCLASSIFIED))
			m->unclassified++;
		else if (unnamed)
			report_shapes_add(shapes, sqlite3_column_blob(q, RCOL_SHAPE),
			    (size_t)sqlite3_column_bytes(q, RCOL_SHAPE), ts, ts_len,
			    sqlite3_column_blob(q, RCOL_SESSION),
			    (size_t)sqlite3_column_bytes(q, RCOL_SESSION), source);
		int f = report_family_index(m, family);
		m->family_sessions[f]++;
		report_tags_add(tags, sqlite3_column_blob(q, RCOL_TAGS),
		    (size_t)sqlite3_column_bytes(q, RCOL_TAGS), ts, ts_len, f, source);
		if (sqlite3_column_int(q, RCOL_TAGS_MISSING) && sqlite3_column_int(q, RCOL_HAS_PAYLOAD))
			m->untagged++;
		report_count_os(m, q, c);
		report_count_tls(tls, q, c, f, source, ts, ts_len);
		struct report_hour *h = report_hour(m, ts, ts_len);
		if (h) {
			h->sessions++;
			h->by_class[c]++;
			h->by_family[f]++;
		}
	}
	report_end_source(ps);
	sqlite3_finalize(q);
	cohorts_finish(cohorts, rc == SQLITE_DONE);
	m->nshapes = report_shapes_finish(shapes, db, m->shapes, REPORT_TOP, &m->unknown,
	    &m->unshaped);
	m->ntags = report_tags_finish(tags, m->tags, REPORT_TAGS_SHOWN, &m->tags_distinct,
	    &m->tagged, &m->tags_over);
	if (report_tls_finish(tls, &m->tls) < 0 && rc == SQLITE_DONE)
		rc = SQLITE_NOMEM;
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The top values of a requests column into top; returns how many (none
 * when the query fails: the report goes on without them). */
static int report_top_requests(sqlite3 *db, const char *column,
    struct report_value top[REPORT_TOP])
{
	char sql[256];
	sqlite3_stmt *q;
	int n = 0;

	snprintf(sql, sizeof(sql), "SELECT %s, count(*) FROM requests WHERE %s IS NOT NULL "
	    "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %d", column, column, REPORT_TOP);
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return 0;
	while (n < REPORT_TOP && sqlite3_step(q) == SQLITE_ROW) {
		store_column_display(q, 0, top[n].value, sizeof(top[n].value));  /* NULL: "" */
		top[n].count = sqlite3_column_int64(q, 1);
		n++;
	}
	sqlite3_finalize(q);
	return n;
}

/* Rows per sensor in the window (refused and half-open rows included),
 * most first: a fleet's central database (flypaper collect) or several
 * sensors' files. Returns how many (none when the query fails). */
static int report_sensors(sqlite3 *db, struct report_value top[REPORT_TOP])
{
	sqlite3_stmt *q;
	int n = 0;

	if (sqlite3_prepare_v2(db, "SELECT sensor, count(*) FROM sessions GROUP BY 1 "
	        "ORDER BY 2 DESC, 1 LIMIT ?1", -1, &q, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_int(q, 1, REPORT_TOP);
	while (n < REPORT_TOP && sqlite3_step(q) == SQLITE_ROW) {
		store_column_display(q, 0, top[n].value, sizeof(top[n].value));
		top[n].count = sqlite3_column_int64(q, 1);
		n++;
	}
	sqlite3_finalize(q);
	return n;
}

static int report_hour_cmp(const void *a, const void *b)
{
	return strcmp(((const struct report_hour *)a)->key, ((const struct report_hour *)b)->key);
}

static int report_source_cmp(const void *a, const void *b)
{
	const struct report_source *x = a, *y = b;
	if (x->sessions != y->sessions)
		return x->sessions < y->sessions ? 1 : -1;
	return strcmp(x->ip, y->ip);
}

int report_model_build(struct report_model *m, sqlite3 *db)
{
	const char *since = m->since, *until = m->until;
	uint64_t gap_ms = m->gap_ms;
	unsigned cohort_by = m->cohort_by;
	const char *experiment_want = m->experiment_want;
	int rc;

	memset(m, 0, sizeof(*m));   /* m->error "" */
	m->since = since;
	m->until = until;
	m->gap_ms = gap_ms;
	m->cohort_by = cohort_by;
	m->experiment_want = experiment_want;
	m->hours = calloc(REPORT_HOURS, sizeof(*m->hours));
	if (!m->hours)
		return SQLITE_NOMEM;
	rc = report_sessions(m, db);
	if (rc != SQLITE_OK)
		return rc;
	if (yield_collect(db, "", &m->strategies, &m->nstrategies) != SQLITE_OK) {
		yield_free_rows(m->strategies, m->nstrategies);
		m->strategies = NULL;
		m->nstrategies = 0;  /* the report goes on without the table */
	}
	/* The hours in use to the front, in order; the top by sessions. */
	for (size_t i = 0; i < REPORT_HOURS; i++) {
		if (m->hours[i].key[0])
			m->hours[m->nhours++] = m->hours[i];
	}
	qsort(m->hours, m->nhours, sizeof(m->hours[0]), report_hour_cmp);
	qsort(m->top, (size_t)m->ntop, sizeof(m->top[0]), report_source_cmp);
	report_tls_notes(m, db);
	m->npaths = report_top_requests(db, "target", m->paths);
	m->nuser_agents = report_top_requests(db, "user_agent", m->user_agents);
	m->nsensors = report_sensors(db, m->sensors);
	return SQLITE_OK;
}

void report_model_free(struct report_model *m)
{
	yield_free_rows(m->strategies, m->nstrategies);
	m->strategies = NULL;
	m->nstrategies = 0;
	cohorts_free(&m->experiment);
	free(m->hours);
	m->hours = NULL;
	report_tls_free(&m->tls);
}
