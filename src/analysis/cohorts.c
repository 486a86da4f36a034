/* cohorts.c - an experiment's sources by cohort and arm (cohorts.h). One
 * pass over the sessions ordered by source and time: each source's
 * sessions give its bursts (bursts.h), its keys and its outcome under the
 * arm it was assigned; the source then joins its cohort's arm.
 * stats_decide then says what the counts show. The first burst's keys are
 * pre-treatment only for peers that fire their burst before reacting to
 * the answer (worms, masscan-style sweeps): bursts are split by a --gap
 * (60 s) silence and banner answers at accept, so a scanner that reacts
 * within the gap changes its own first burst by arm. cohorts_balance is
 * what catches a key the arms changed. */
#include "cohorts.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bursts.h"
#include "store.h"

/* One source being read. */
struct cohorts_src {
	char ip[64];                 /* escaped */
	long long rows;              /* its sessions in the window, any strategy */
	char strategy[64];           /* its arm: its first session's strategy */
	char os[96], os_class[64];   /* its first SYN label seen in its first
	                              * burst, escaped */
	bool has_os, has_class;
	long long port;
	int first_burst;             /* connections of its first burst; 0 while
	                              * that burst goes on */
	long cur_burst;
	long long last_ms;
	long long sessions;          /* under its arm */
	bool delivered, has_first, left_data, left_ident, mixed;
	double first_ms;
	char fam[COHORTS_SOURCE_FAMILIES][64];
	int nfam;
};

/* A pass over sessions ordered by source and time (cohorts_begin). */
struct cohorts_pass {
	struct cohorts *out;
	struct cohorts_src *src;
	unsigned keys;
	uint64_t gap_ms;
	struct cohorts_cols cols;
};

/* cohorts_collect's own query's columns, in the order of cohorts_sql. */
static const struct cohorts_cols cohorts_own_cols = {
	.ip = 0, .ts = 1, .strategy = 2, .bytes_in = 3, .first_byte = 4, .first_out = 5,
	.closed_by = 6, .close_after_out = 7, .close_after_ident = 8, .os = 9,
	.os_class = 10, .port = 11, .family = 12, .reason = -1, .experiment = 13,
};

/* The OS of the peer's own SYN only: a proxy's SYN says nothing of the
 * peer. os, os_class and syn_of came with schema 7, experiment_id with 8:
 * an older database, or the report's view (which has already kept the
 * peer's), is read with a later form (no experiment_id: nothing is
 * randomised, nothing tested). */
#define COHORTS_SQL_REST "FROM sessions " \
	"WHERE coalesce(close_reason, '') NOT IN ('capacity', 'syn_only', " \
	"  'rst_after_synack', 'proxy_error') AND start_ts >= ?1 " \
	"ORDER BY src_ip, start_ts"
#define COHORTS_SQL_HEAD "SELECT src_ip, start_ts, coalesce(strategy, '-'), bytes_in, " \
	"  first_byte_ms, first_out_ms, closed_by, peer_close_after_out_ms, " \
	"  peer_close_after_ident_ms, "
#define COHORTS_SQL_PEER_OS "CASE WHEN syn_of = 'peer' THEN os END, " \
	"  CASE WHEN syn_of = 'peer' THEN os_class END, dst_port, family, "
static const char *const cohorts_sql[4] = {
	COHORTS_SQL_HEAD COHORTS_SQL_PEER_OS "experiment_id " COHORTS_SQL_REST,
	COHORTS_SQL_HEAD COHORTS_SQL_PEER_OS "NULL " COHORTS_SQL_REST,
	COHORTS_SQL_HEAD "os, os_class, dst_port, family, NULL " COHORTS_SQL_REST,
	COHORTS_SQL_HEAD "NULL, NULL, dst_port, family, NULL " COHORTS_SQL_REST,
};

static const struct {
	const char *name;
	unsigned bit;
} cohorts_keys[] = {
	{"burst", COHORTS_BURST}, {"os", COHORTS_OS}, {"os_class", COHORTS_OS_CLASS},
	{"port", COHORTS_PORT}, {"none", 0},
};

int cohorts_parse_keys(const char *spec, unsigned *keys, char *err, size_t errlen)
{
	const char *p = spec;

	*keys = 0;
	for (;;) {
		size_t len = strcspn(p, ",");
		size_t i, n = sizeof(cohorts_keys) / sizeof(cohorts_keys[0]);
		for (i = 0; i < n; i++)
			if (strlen(cohorts_keys[i].name) == len && !strncmp(p, cohorts_keys[i].name, len))
				break;
		if (i == n)
			return snprintf(err, errlen, "cohort-by: '%.*s' is not a key: burst, os, "
			    "os_class, port or none", (int)(len > 64 ? 64 : len), p), -1;
		*keys |= cohorts_keys[i].bit;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

const char *cohorts_keys_name(unsigned keys, char *out, size_t outlen)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(cohorts_keys) / sizeof(cohorts_keys[0]); i++)
		if (cohorts_keys[i].bit && (keys & cohorts_keys[i].bit) && used < outlen)
			used += (size_t)snprintf(out + used, outlen - used, "%s%s", used ? "," : "",
			    cohorts_keys[i].name);
	if (!out[0])
		snprintf(out, outlen, "none");
	return out;
}

static int cohorts_double_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The source's burst: the size of its first one, what it did before
 * any later burst could answer what flypaper said (a scanner retries, or
 * stops, by the answer it got: its later bursts are the outcome, not a
 * key). Exact up to 16 (a Nimda burst is 16); above, powers of two. */
static void cohorts_burst_label(struct cohorts_src *s, char *out, size_t outlen)
{
	int m = s->first_burst ? s->first_burst : 1, lo = 17, hi = 32;

	if (m <= 16) {
		snprintf(out, outlen, "bursts of %d", m);
		return;
	}
	while (m > hi && hi < (1 << 29)) {
		lo = hi + 1;
		hi *= 2;
	}
	snprintf(out, outlen, "bursts of %d-%d", lo, hi);
}

static void cohorts_label(struct cohorts_src *s, unsigned keys, char *out, size_t outlen)
{
	size_t used = 0;
	char part[COHORTS_LABEL];

	out[0] = '\0';
	if (keys & COHORTS_BURST) {
		cohorts_burst_label(s, part, sizeof(part));
		used += (size_t)snprintf(out + used, outlen - used, "%s", part);
	}
	if ((keys & COHORTS_OS) && used < outlen)
		used += (size_t)snprintf(out + used, outlen - used, "%sos %s", used ? ", " : "",
		    s->has_os ? s->os : "unknown");
	if ((keys & COHORTS_OS_CLASS) && used < outlen)
		used += (size_t)snprintf(out + used, outlen - used, "%sos class %s",
		    used ? ", " : "", s->has_class ? s->os_class : "unknown");
	if ((keys & COHORTS_PORT) && used < outlen)
		used += (size_t)snprintf(out + used, outlen - used, "%sport %lld",
		    used ? ", " : "", s->port);
	if (!out[0])
		snprintf(out, outlen, "all sources");
}

static void cohorts_end_burst(struct cohorts_src *s)
{
	if (s->cur_burst && !s->first_burst)
		s->first_burst = (int)(s->cur_burst > 1 << 30 ? 1 << 30 : s->cur_burst);
	s->cur_burst = 0;
}

static struct cohorts_cohort *cohorts_find(struct cohorts *co, const char *label)
{
	for (int i = 0; i < co->n; i++)
		if (!strcmp(co->c[i].label, label))
			return &co->c[i];
	if (co->n >= COHORTS_MAX)
		return NULL;
	struct cohorts_cohort *c = &co->c[co->n++];
	snprintf(c->label, sizeof(c->label), "%s", label);
	return c;
}

static struct cohorts_arm *cohorts_arm(struct cohorts_cohort *c, const char *strategy)
{
	for (int i = 0; i < c->narms; i++)
		if (!strcmp(c->arms[i].strategy, strategy))
			return &c->arms[i];
	if (c->narms >= COHORTS_MAX_ARMS)
		return NULL;
	struct cohorts_arm *a = &c->arms[c->narms++];
	snprintf(a->strategy, sizeof(a->strategy), "%s", strategy);
	return a;
}

static void cohorts_add_family(struct cohorts_cohort *c, const char *name)
{
	int i;

	for (i = 0; i < c->nfamilies; i++)
		if (!strcmp(c->families[i].name, name))
			break;
	if (i == c->nfamilies) {
		if (c->nfamilies == COHORTS_MAX_FAMILIES - 1)
			name = "other";
		if (c->nfamilies == COHORTS_MAX_FAMILIES) {
			i = COHORTS_MAX_FAMILIES - 1;
		} else {
			snprintf(c->families[i].name, sizeof(c->families[i].name), "%s", name);
			c->nfamilies++;
		}
	}
	c->families[i].sources++;
}

static void cohorts_add_time(struct cohorts *co, struct cohorts_arm *a, double ms)
{
	if (co->times >= COHORTS_MAX_TIMES) {
		co->times_dropped++;
		return;
	}
	if (a->ntimes == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		double *t = realloc(a->times, cap * sizeof(*t));
		if (!t) {
			co->times_dropped++;
			return;
		}
		a->times = t;
		a->cap = cap;
	}
	a->times[a->ntimes++] = ms;
	co->times++;
}

/* The source read to its end joins its cohort's arm. */
static void cohorts_end_source(struct cohorts *co, struct cohorts_src *s, unsigned keys)
{
	char label[COHORTS_LABEL];
	struct cohorts_cohort *c;
	struct cohorts_arm *a;

	if (!s->rows)
		return;
	cohorts_end_burst(s);
	cohorts_label(s, keys, label, sizeof(label));
	if (!(c = cohorts_find(co, label)) || !(a = cohorts_arm(c, s->strategy))) {
		co->skipped++;
		return;
	}
	co->sources++;
	co->mixed += s->mixed;
	a->sources++;
	a->sessions += s->sessions;
	if (s->delivered) {
		a->delivered++;
		if (s->has_first)
			cohorts_add_time(co, a, s->first_ms);
		for (int i = 0; i < s->nfam; i++)
			cohorts_add_family(c, s->fam[i]);
	} else if (s->left_ident) {
		a->left_at_ident++;
	} else if (s->left_data) {
		a->left_at_data++;
	}
}

/* One session row of the source being read. */
static void cohorts_row(struct cohorts_src *s, sqlite3_stmt *q, const struct cohorts_cols *c,
    uint64_t gap_ms)
{
	const unsigned char *ts = sqlite3_column_text(q, c->ts);
	long long t = bursts_ts_ms(ts, ts ? (size_t)sqlite3_column_bytes(q, c->ts) : 0);
	char strategy[sizeof(s->strategy)], family[64];
	const char *closed_by = (const char *)sqlite3_column_text(q, c->closed_by);
	bool by_peer = closed_by && !strcmp(closed_by, "peer");

	if (s->rows && !bursts_same(s->last_ms, t, gap_ms))
		cohorts_end_burst(s);
	s->last_ms = t;
	s->cur_burst++;
	store_column_display(q, c->strategy, strategy, sizeof(strategy));
	if (s->rows++ == 0) {
		snprintf(s->strategy, sizeof(s->strategy), "%s", strategy);
		s->port = sqlite3_column_int64(q, c->port);
	}
	/* keys from the first burst only, like the burst's size: the later
	 * bursts came after the answer (the first may too: cohorts_balance) */
	if (!s->first_burst && !s->has_os && store_column_display(q, c->os, s->os,
	    sizeof(s->os)))
		s->has_os = true;
	if (!s->first_burst && !s->has_class && store_column_display(q, c->os_class,
	    s->os_class, sizeof(s->os_class)))
		s->has_class = true;
	if (strcmp(strategy, s->strategy) != 0) {
		s->mixed = true;     /* set aside: not the arm it was assigned */
		return;
	}
	s->sessions++;
	if (sqlite3_column_int64(q, c->bytes_in) > 0) {
		if (!s->delivered && sqlite3_column_type(q, c->first_byte) != SQLITE_NULL) {
			s->first_ms = sqlite3_column_double(q, c->first_byte);
			s->has_first = true;
		}
		s->delivered = true;
		if (store_column_display(q, c->family, family, sizeof(family))) {
			int i;
			for (i = 0; i < s->nfam && strcmp(s->fam[i], family); i++)
				;
			if (i == s->nfam && s->nfam < COHORTS_SOURCE_FAMILIES)
				snprintf(s->fam[s->nfam++], sizeof(s->fam[0]), "%s", family);
		}
		return;
	}
	if (by_peer && sqlite3_column_type(q, c->close_after_ident) != SQLITE_NULL &&
	    sqlite3_column_int64(q, c->close_after_ident) <= COHORTS_DROP_MS)
		s->left_ident = true;
	else if (by_peer && sqlite3_column_type(q, c->first_out) != SQLITE_NULL &&
	    sqlite3_column_type(q, c->close_after_out) != SQLITE_NULL &&
	    sqlite3_column_int64(q, c->close_after_out) <= COHORTS_DROP_MS)
		s->left_data = true;
}

static int cohorts_arm_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cohorts_arm *)a)->strategy,
	    ((const struct cohorts_arm *)b)->strategy);
}

static int cohorts_family_cmp(const void *a, const void *b)
{
	const struct cohorts_family *x = a, *y = b;
	if (x->sources != y->sources)
		return x->sources < y->sources ? 1 : -1;
	return strcmp(x->name, y->name);
}

static uint32_t cohorts_sources(const struct cohorts_cohort *c)
{
	uint32_t n = 0;
	for (int i = 0; i < c->narms; i++)
		n += c->arms[i].sources;
	return n;
}

static int cohorts_cohort_cmp(const void *a, const void *b)
{
	const struct cohorts_cohort *x = a, *y = b;
	uint32_t nx = cohorts_sources(x), ny = cohorts_sources(y);
	if (nx != ny)
		return nx < ny ? 1 : -1;
	return strcmp(x->label, y->label);
}

/* Rates, intervals (with GSL: decide) and medians of an arm; its times
 * are released. */
static void cohorts_finish_arm(struct cohorts_arm *a, bool decide)
{
	a->rate = a->sources ? (double)a->delivered / a->sources : 0;
	a->ci_low = 0;
	a->ci_high = 1;
	if (decide)
		stats_wilson(a->delivered, a->sources, &a->ci_low, &a->ci_high);
	a->median_ms = -1;
	if (a->ntimes) {
		qsort(a->times, a->ntimes, sizeof(double), cohorts_double_cmp);
		a->median_ms = a->ntimes % 2 ? a->times[a->ntimes / 2]
		    : (a->times[a->ntimes / 2 - 1] + a->times[a->ntimes / 2]) / 2;
	}
	free(a->times);
	a->times = NULL;
	a->ntimes = a->cap = 0;
}

const char *cohorts_p_text(double p, char *out, size_t outlen)
{
	if (isnan(p))
		snprintf(out, outlen, "untested");
	else if (p < 0.001)
		snprintf(out, outlen, "p < 0.001");
	else
		snprintf(out, outlen, "p = %.3f", p);
	return out;
}

/* Whether arm x differs from every other arm of c, each pair by Fisher's
 * exact test, Holm-corrected over the pairs: with three or more arms the
 * omnibus test says only that some arms differ, not which. */
static bool cohorts_differs_from_all(const struct cohorts_cohort *c,
    const struct cohorts_arm *x)
{
	double p[COHORTS_MAX_ARMS] = {0}, adj[COHORTS_MAX_ARMS];
	int m = 0;

	if (c->narms == 2)
		return true;         /* the cohort's test is that pair's */
	for (int i = 0; i < c->narms; i++) {
		const struct cohorts_arm *y = &c->arms[i];
		struct stats_arm pair[2] = {{x->sources, x->delivered},
		    {y->sources, y->delivered}};
		enum stats_method method;
		if (y == x)
			continue;
		p[m++] = stats_rate_test(pair, 2, &method);
	}
	stats_holm(p, adj, m);
	for (int i = 0; i < m; i++)
		if (!(adj[i] < STATS_ALPHA))
			return false;
	return true;
}

/* What a significant difference says of these peers, from the arms with
 * the highest and lowest rate: silent sends nothing, so a lower rate
 * under it means the peers wait for the server; a higher one, that they
 * leave when it speaks. Said only when silent differs from every other
 * arm (cohorts_differs_from_all); else only that the arms differ. */
static const char *cohorts_meaning(const struct cohorts_cohort *c)
{
	const struct cohorts_arm *hi = &c->arms[0], *lo = &c->arms[0];

	for (int i = 1; i < c->narms; i++) {
		if (c->arms[i].rate > hi->rate)
			hi = &c->arms[i];
		if (c->arms[i].rate < lo->rate)
			lo = &c->arms[i];
	}
	if (!strcmp(lo->strategy, "silent") && cohorts_differs_from_all(c, lo))
		return "these peers wait for the server to speak";
	if (!strcmp(hi->strategy, "silent") && cohorts_differs_from_all(c, hi))
		return "these peers leave when the server speaks";
	if (c->narms > 2)
		return "the arms differ in whether these peers deliver (which arms: not "
		    "shown by the test across all of them)";
	return "what the server says changes whether these peers deliver";
}

static void cohorts_conclude(struct cohorts_cohort *c)
{
	char *out = c->conclusion, p[32];
	size_t len = sizeof(c->conclusion), used = 0;
	const struct stats_verdict *v = &c->verdict;

#define CO_ADD(...) do { if (used < len) used += (size_t)snprintf(out + used, len - used, __VA_ARGS__); } while (0)
	CO_ADD("%s: ", c->label);
	for (int i = 0; i < c->narms; i++) {
		const struct cohorts_arm *a = &c->arms[i];
		CO_ADD("%s%u/%u %s %s (%.0f%%, %.0f-%.0f%%)", i ? ", " : "", a->delivered,
		    a->sources, i ? "under" : "sources delivered under", a->strategy,
		    100 * a->rate, 100 * a->ci_low, 100 * a->ci_high);
	}
	if (c->narms < 2) {
		CO_ADD(": one strategy only, nothing to compare");
	} else if (!v->enough) {
		uint32_t smallest = UINT32_MAX, more = v->more_sources;
		for (int i = 0; i < c->narms; i++)
			if (c->arms[i].sources < smallest)
				smallest = c->arms[i].sources;
		if (smallest < STATS_MIN_SOURCES && more < STATS_MIN_SOURCES - smallest)
			more = STATS_MIN_SOURCES - smallest;
		CO_ADD(": too few sources to tell (need ~%u more per arm)", more);
	} else if (v->significant) {
		CO_ADD(", %s: %s", cohorts_p_text(v->p_adjusted, p, sizeof(p)), cohorts_meaning(c));
	} else if (v->more_sources) {
		CO_ADD(", %s: no difference shown (~%u more sources per arm would show a "
		    "10-point one)", cohorts_p_text(v->p_adjusted, p, sizeof(p)), v->more_sources);
	} else {
		CO_ADD(", %s: no difference shown", cohorts_p_text(v->p_adjusted, p, sizeof(p)));
	}
	CO_ADD("; what they delivered: ");
	for (int i = 0; i < c->nfamilies; i++)
		CO_ADD("%s%s %u", i ? ", " : "", c->families[i].name, c->families[i].sources);
	if (!c->nfamilies)
		CO_ADD("nothing named");
#undef CO_ADD
}

/* Whether the cohorts hold each arm's sources in the same shares: under a
 * random draw the keys, if pre-treatment, are independent of the arm, so
 * an imbalance says a key was not (a first burst a scanner cut short or
 * grew on seeing the answer). Per arm, its sources against the rest
 * across the cohorts, Holm over the arms. */
static void cohorts_balance(struct cohorts *co)
{
	char names[COHORTS_MAX_ARMS][64];
	double p[COHORTS_MAX_ARMS] = {0}, adj[COHORTS_MAX_ARMS];
	struct stats_arm *by = calloc((size_t)co->n + 1, sizeof(*by));
	int narms = 0;

	co->balance_p = NAN;
	co->unbalanced = false;
	for (int i = 0; i < co->n; i++)
		for (int j = 0; j < co->c[i].narms; j++) {
			int k;
			for (k = 0; k < narms && strcmp(names[k], co->c[i].arms[j].strategy); k++)
				;
			if (k == narms && narms < COHORTS_MAX_ARMS)
				snprintf(names[narms++], sizeof(names[0]), "%s",
				    co->c[i].arms[j].strategy);
		}
	if (!by || co->n < 2 || narms < 2) {
		free(by);
		return;
	}
	for (int k = 0; k < narms; k++) {
		enum stats_method method;
		for (int i = 0; i < co->n; i++) {
			by[i] = (struct stats_arm){cohorts_sources(&co->c[i]), 0};
			for (int j = 0; j < co->c[i].narms; j++)
				if (!strcmp(co->c[i].arms[j].strategy, names[k]))
					by[i].delivered = co->c[i].arms[j].sources;
		}
		p[k] = stats_rate_test(by, co->n < STATS_MAX_ARMS ? co->n : STATS_MAX_ARMS,
		    &method);
	}
	stats_holm(p, adj, narms);
	for (int k = 0; k < narms; k++)
		if (!isnan(adj[k]) && !(adj[k] >= co->balance_p))
			co->balance_p = adj[k];
	co->unbalanced = co->balance_p < STATS_ALPHA;
	free(by);
}

static void cohorts_decide(struct cohorts *co)
{
	struct stats_arm (*arms)[COHORTS_MAX_ARMS] = calloc((size_t)co->n + 1, sizeof(*arms));
	const struct stats_arm **rows = calloc((size_t)co->n + 1, sizeof(*rows));
	int *narms = calloc((size_t)co->n + 1, sizeof(*narms));
	struct stats_verdict *v = calloc((size_t)co->n + 1, sizeof(*v));

	if (arms && rows && narms && v) {
		for (int i = 0; i < co->n; i++) {
			for (int j = 0; j < co->c[i].narms; j++)
				arms[i][j] = (struct stats_arm){co->c[i].arms[j].sources,
				    co->c[i].arms[j].delivered};
			rows[i] = arms[i];
			narms[i] = co->c[i].narms;
		}
		stats_decide(rows, narms, co->n, v);
		for (int i = 0; i < co->n; i++)
			co->c[i].verdict = v[i];
	} else {
		for (int i = 0; i < co->n; i++)
			co->c[i].verdict = (struct stats_verdict){.p = NAN, .p_adjusted = NAN};
	}
	for (int i = 0; i < co->n; i++)
		cohorts_conclude(&co->c[i]);
	cohorts_balance(co);
	free(arms);
	free(rows);
	free(narms);
	free(v);
}

int cohorts_experiment(sqlite3 *db, const char *since, const char *want,
    struct cohorts *out)
{
	sqlite3_stmt *q;
	int rc = sqlite3_prepare_v2(db, want
	    ? "SELECT experiment_id, experiment FROM sessions WHERE experiment_id = ?2 "
	      "AND start_ts >= ?1 LIMIT 1"
	    : "SELECT experiment_id, experiment FROM sessions WHERE experiment_id IS NOT NULL "
	      "AND start_ts >= ?1 ORDER BY start_ts DESC LIMIT 1", -1, &q, NULL);

	out->experiment_id[0] = out->experiment_shown[0] = out->experiment[0] = '\0';
	if (rc != SQLITE_OK) {
		/* no experiment columns (older than them): nothing randomised */
		if (sqlite3_prepare_v2(db, "SELECT 1 FROM sessions LIMIT 0", -1, &q, NULL) != SQLITE_OK)
			return rc;
		sqlite3_finalize(q);
		return SQLITE_OK;
	}
	sqlite3_bind_text(q, 1, since, -1, SQLITE_STATIC);
	if (want)
		sqlite3_bind_text(q, 2, want, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(q, 0);
		size_t len = (size_t)sqlite3_column_bytes(q, 0);
		/* an id too long, or with a NUL, is not flypaper's: never matched */
		if (id && len < sizeof(out->experiment_id) && strlen(id) == len) {
			memcpy(out->experiment_id, id, len + 1);
			store_column_display(q, 0, out->experiment_shown,
			    sizeof(out->experiment_shown));
			if (!store_column_display(q, 1, out->experiment, sizeof(out->experiment)))
				snprintf(out->experiment, sizeof(out->experiment), "?");
		}
	}
	sqlite3_finalize(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Whether a row is of the experiment tested; else counted as left out. */
static bool cohorts_in_experiment(struct cohorts_pass *p, sqlite3_stmt *q)
{
	const char *id;

	if (p->cols.experiment < 0 || !(id = (const char *)sqlite3_column_text(q,
	    p->cols.experiment))) {
		p->out->not_randomised++;
		return false;
	}
	if (!p->out->experiment_id[0] || strcmp(id, p->out->experiment_id) != 0 ||
	    (size_t)sqlite3_column_bytes(q, p->cols.experiment) != strlen(id)) {
		p->out->other_experiments++;
		return false;
	}
	return true;
}

struct cohorts_pass *cohorts_begin(unsigned keys, uint64_t gap_ms,
    const struct cohorts_cols *cols, struct cohorts *out)
{
	struct cohorts_pass *p = calloc(1, sizeof(*p));
	struct cohorts picked;

	/* the experiment cohorts_experiment picked stays */
	memcpy(picked.experiment_id, out->experiment_id, sizeof(picked.experiment_id));
	memcpy(picked.experiment_shown, out->experiment_shown, sizeof(picked.experiment_shown));
	memcpy(picked.experiment, out->experiment, sizeof(picked.experiment));
	memset(out, 0, sizeof(*out));
	memcpy(out->experiment_id, picked.experiment_id, sizeof(out->experiment_id));
	memcpy(out->experiment_shown, picked.experiment_shown, sizeof(out->experiment_shown));
	memcpy(out->experiment, picked.experiment, sizeof(out->experiment));
	if (!p)
		return NULL;
	p->out = out;
	p->keys = keys;
	p->gap_ms = gap_ms;
	p->cols = *cols;
	out->balance_p = NAN;
	p->src = calloc(1, sizeof(*p->src));
	out->c = calloc(COHORTS_MAX, sizeof(*out->c));
	if (!p->src || !out->c) {
		free(p->src);
		free(p);
		return NULL;
	}
	return p;
}

void cohorts_feed(struct cohorts_pass *p, sqlite3_stmt *q)
{
	struct cohorts_src *s = p->src;
	char ip[sizeof(s->ip)];

	if (p->cols.reason >= 0) {
		const char *r = (const char *)sqlite3_column_text(q, p->cols.reason);
		if (r && (!strcmp(r, "capacity") || !strcmp(r, "syn_only") ||
		    !strcmp(r, "rst_after_synack") || !strcmp(r, "proxy_error")))
			return;
	}
	if (!cohorts_in_experiment(p, q))
		return;
	if (!store_column_display(q, p->cols.ip, ip, sizeof(ip)))
		snprintf(ip, sizeof(ip), "?");
	if (s->rows && strcmp(ip, s->ip) != 0) {
		cohorts_end_source(p->out, s, p->keys);
		memset(s, 0, sizeof(*s));
	}
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	cohorts_row(s, q, &p->cols, p->gap_ms);
}

void cohorts_finish(struct cohorts_pass *p, bool decide)
{
	struct cohorts *out;

	if (!p)
		return;
	out = p->out;
	cohorts_end_source(out, p->src, p->keys);
	free(p->src);
	free(p);
	for (int i = 0; i < out->n; i++) {
		struct cohorts_cohort *c = &out->c[i];
		for (int j = 0; j < c->narms; j++)
			cohorts_finish_arm(&c->arms[j], decide);
		qsort(c->arms, (size_t)c->narms, sizeof(c->arms[0]), cohorts_arm_cmp);
		qsort(c->families, (size_t)c->nfamilies, sizeof(c->families[0]), cohorts_family_cmp);
	}
	qsort(out->c, (size_t)out->n, sizeof(out->c[0]), cohorts_cohort_cmp);
	if (decide)
		cohorts_decide(out);
}

int cohorts_collect(sqlite3 *db, const char *since, const char *want, unsigned keys,
    uint64_t gap_ms, struct cohorts *out)
{
	struct cohorts_pass *p;
	sqlite3_stmt *q = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = cohorts_experiment(db, since, want, out)) != SQLITE_OK)
		return rc;
	for (size_t i = 0; i < sizeof(cohorts_sql) / sizeof(cohorts_sql[0]); i++)
		if ((rc = sqlite3_prepare_v2(db, cohorts_sql[i], -1, &q, NULL)) == SQLITE_OK)
			break;
	if (rc != SQLITE_OK)
		return rc;
	if (!(p = cohorts_begin(keys, gap_ms, &cohorts_own_cols, out))) {
		sqlite3_finalize(q);
		return SQLITE_NOMEM;
	}
	sqlite3_bind_text(q, 1, since, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		cohorts_feed(p, q);
	sqlite3_finalize(q);
	cohorts_finish(p, rc == SQLITE_DONE);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

void cohorts_free(struct cohorts *co)
{
	for (int i = 0; co->c && i < co->n; i++)
		for (int j = 0; j < co->c[i].narms; j++)
			free(co->c[i].arms[j].times);
	free(co->c);
	memset(co, 0, sizeof(*co));
}

static json_t *cohorts_num(double x)
{
	return isnan(x) ? json_null() : json_real(x);
}

const char *cohorts_preamble(const struct cohorts *co, char *out, size_t outlen)
{
	size_t used = 0;
	char p[32];

#define CP_ADD(...) do { if (used < outlen) used += (size_t)snprintf(out + used, outlen - used, __VA_ARGS__); } while (0)
	out[0] = '\0';
	if (!co->experiment_id[0]) {
		CP_ADD("no experiment in the window: every session's strategy was its "
		    "listener's, not a per-source draw (--experiment): not randomised, nothing "
		    "tested (%llu sessions)", (unsigned long long)co->not_randomised);
		return out;
	}
	CP_ADD("experiment %s (%s)", co->experiment_shown, co->experiment);
	if (co->not_randomised || co->other_experiments)
		CP_ADD("; left out: %llu sessions not randomised (the listener's strategy), "
		    "%llu of other experiments", (unsigned long long)co->not_randomised,
		    (unsigned long long)co->other_experiments);
	if (co->unbalanced)
		CP_ADD("; warning: the arms' shares differ across the cohorts (%s): a key may "
		    "depend on the strategy (the first burst, when peers react to the answer "
		    "within --gap), try --cohort-by os,port", cohorts_p_text(co->balance_p,
		    p, sizeof(p)));
#undef CP_ADD
	return out;
}

void cohorts_json_experiment(const struct cohorts *co, json_t *obj)
{
	json_object_set_new(obj, "experiment", co->experiment_id[0]
	    ? json_string(co->experiment) : json_null());
	json_object_set_new(obj, "experiment_id", co->experiment_id[0]
	    ? json_string(co->experiment_shown) : json_null());
	json_object_set_new(obj, "not_randomised_sessions",
	    json_integer((json_int_t)co->not_randomised));
	json_object_set_new(obj, "other_experiment_sessions",
	    json_integer((json_int_t)co->other_experiments));
	json_object_set_new(obj, "balance_p", cohorts_num(co->balance_p));
	json_object_set_new(obj, "unbalanced", json_boolean(co->unbalanced));
}

json_t *cohorts_json(const struct cohorts *co)
{
	json_t *list = json_array();

	for (int i = 0; list && i < co->n; i++) {
		const struct cohorts_cohort *c = &co->c[i];
		json_t *arms = json_array(), *fams = json_object();
		for (int j = 0; j < c->narms; j++) {
			const struct cohorts_arm *a = &c->arms[j];
			json_array_append_new(arms, json_pack(
			    "{s:s, s:I, s:I, s:f, s:f, s:f, s:I, s:o, s:I, s:I}",
			    "strategy", a->strategy, "sources", (json_int_t)a->sources,
			    "delivered", (json_int_t)a->delivered, "rate", a->rate,
			    "ci_low", a->ci_low, "ci_high", a->ci_high,
			    "sessions", (json_int_t)a->sessions,
			    "median_first_byte_ms", a->median_ms >= 0 ? json_real(a->median_ms)
			        : json_null(),
			    "left_at_first_byte", (json_int_t)a->left_at_data,
			    "left_at_ident", (json_int_t)a->left_at_ident));
		}
		for (int j = 0; j < c->nfamilies; j++)
			json_object_set_new(fams, c->families[j].name,
			    json_integer(c->families[j].sources));
		json_array_append_new(list, json_pack(
		    "{s:s, s:o, s:s, s:o, s:o, s:b, s:b, s:I, s:s, s:o}",
		    "cohort", c->label, "arms", arms,
		    "method", stats_method_name(c->verdict.method),
		    "p_value", cohorts_num(c->verdict.p),
		    "p_adjusted", cohorts_num(c->verdict.p_adjusted),
		    "enough", c->verdict.enough, "significant", c->verdict.significant,
		    "more_sources", (json_int_t)c->verdict.more_sources,
		    "conclusion", c->conclusion, "families", fams));
	}
	return list;
}
