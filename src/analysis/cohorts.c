/* cohorts.c - an experiment's sources by cohort and arm (cohorts.h). One
 * pass over the sessions ordered by source and time: each source's
 * sessions give its bursts (bursts.h), its pre-treatment keys and its
 * outcome under the arm it was assigned; the source then joins its
 * cohort's arm. stats_decide then says what the counts show. */
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
	char os[96], os_class[64];   /* its first SYN label seen, escaped */
	bool has_os, has_class;
	long long port;
	int nsizes;
	long cur_burst;
	long long last_ms;
	long long sessions;          /* under its arm */
	bool delivered, has_first, left_data, left_ident, mixed;
	double first_ms;
	char fam[COHORTS_SOURCE_FAMILIES][64];
	int nfam;
	int sizes[COHORTS_MAX_BURSTS];   /* last: a new source clears only what is
	                                  * above (nsizes says how many hold) */
};

enum {
	Q_IP, Q_TS, Q_STRATEGY, Q_BYTES_IN, Q_FIRST_BYTE, Q_FIRST_OUT, Q_CLOSED_BY,
	Q_CLOSE_AFTER_OUT, Q_CLOSE_AFTER_IDENT, Q_OS, Q_OS_CLASS, Q_PORT, Q_FAMILY,
};

/* The OS of the peer's own SYN only: a proxy's SYN says nothing of the
 * peer. os, os_class and syn_of came with schema 7: an older database, or
 * the report's view (which has already kept the peer's), is read with the
 * second or third form. */
static const char *const cohorts_sql[3] = {
	"SELECT src_ip, start_ts, coalesce(strategy, '-'), bytes_in, first_byte_ms, "
	"  first_out_ms, closed_by, peer_close_after_out_ms, peer_close_after_ident_ms, "
	"  CASE WHEN syn_of = 'peer' THEN os END, "
	"  CASE WHEN syn_of = 'peer' THEN os_class END, dst_port, family FROM sessions "
	"WHERE coalesce(close_reason, '') NOT IN ('capacity', 'syn_only', "
	"  'rst_after_synack', 'proxy_error') AND start_ts >= ?1 "
	"ORDER BY src_ip, start_ts",
	"SELECT src_ip, start_ts, coalesce(strategy, '-'), bytes_in, first_byte_ms, "
	"  first_out_ms, closed_by, peer_close_after_out_ms, peer_close_after_ident_ms, "
	"  os, os_class, dst_port, family FROM sessions "
	"WHERE coalesce(close_reason, '') NOT IN ('capacity', 'syn_only', "
	"  'rst_after_synack', 'proxy_error') AND start_ts >= ?1 "
	"ORDER BY src_ip, start_ts",
	"SELECT src_ip, start_ts, coalesce(strategy, '-'), bytes_in, first_byte_ms, "
	"  first_out_ms, closed_by, peer_close_after_out_ms, peer_close_after_ident_ms, "
	"  NULL, NULL, dst_port, family FROM sessions "
	"WHERE coalesce(close_reason, '') NOT IN ('capacity', 'syn_only', "
	"  'rst_after_synack', 'proxy_error') AND start_ts >= ?1 "
	"ORDER BY src_ip, start_ts",
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

static int cohorts_int_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static int cohorts_double_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The source's typical burst: the (lower) median of its burst sizes.
 * Exact up to 16 (a Nimda burst is 16); above, powers of two. */
static void cohorts_burst_label(struct cohorts_src *s, char *out, size_t outlen)
{
	int m, lo = 17, hi = 32;

	qsort(s->sizes, (size_t)s->nsizes, sizeof(int), cohorts_int_cmp);
	m = s->nsizes ? s->sizes[(s->nsizes - 1) / 2] : 1;
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
	if (s->cur_burst && s->nsizes < COHORTS_MAX_BURSTS)
		s->sizes[s->nsizes++] = (int)(s->cur_burst > 1 << 30 ? 1 << 30 : s->cur_burst);
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
static void cohorts_row(struct cohorts_src *s, sqlite3_stmt *q, uint64_t gap_ms)
{
	const unsigned char *ts = sqlite3_column_text(q, Q_TS);
	long long t = bursts_ts_ms(ts, ts ? (size_t)sqlite3_column_bytes(q, Q_TS) : 0);
	char strategy[sizeof(s->strategy)], family[64];
	const char *closed_by = (const char *)sqlite3_column_text(q, Q_CLOSED_BY);
	bool by_peer = closed_by && !strcmp(closed_by, "peer");

	if (s->rows && !bursts_same(s->last_ms, t, gap_ms))
		cohorts_end_burst(s);
	s->last_ms = t;
	s->cur_burst++;
	store_column_display(q, Q_STRATEGY, strategy, sizeof(strategy));
	if (s->rows++ == 0) {
		snprintf(s->strategy, sizeof(s->strategy), "%s", strategy);
		s->port = sqlite3_column_int64(q, Q_PORT);
	}
	if (!s->has_os && store_column_display(q, Q_OS, s->os, sizeof(s->os)))
		s->has_os = true;
	if (!s->has_class && store_column_display(q, Q_OS_CLASS, s->os_class,
	    sizeof(s->os_class)))
		s->has_class = true;
	if (strcmp(strategy, s->strategy) != 0) {
		s->mixed = true;     /* set aside: not the arm it was assigned */
		return;
	}
	s->sessions++;
	if (sqlite3_column_int64(q, Q_BYTES_IN) > 0) {
		if (!s->delivered && sqlite3_column_type(q, Q_FIRST_BYTE) != SQLITE_NULL) {
			s->first_ms = sqlite3_column_double(q, Q_FIRST_BYTE);
			s->has_first = true;
		}
		s->delivered = true;
		if (store_column_display(q, Q_FAMILY, family, sizeof(family))) {
			int i;
			for (i = 0; i < s->nfam && strcmp(s->fam[i], family); i++)
				;
			if (i == s->nfam && s->nfam < COHORTS_SOURCE_FAMILIES)
				snprintf(s->fam[s->nfam++], sizeof(s->fam[0]), "%s", family);
		}
		return;
	}
	if (by_peer && sqlite3_column_type(q, Q_CLOSE_AFTER_IDENT) != SQLITE_NULL &&
	    sqlite3_column_int64(q, Q_CLOSE_AFTER_IDENT) <= COHORTS_DROP_MS)
		s->left_ident = true;
	else if (by_peer && sqlite3_column_type(q, Q_FIRST_OUT) != SQLITE_NULL &&
	    sqlite3_column_type(q, Q_CLOSE_AFTER_OUT) != SQLITE_NULL &&
	    sqlite3_column_int64(q, Q_CLOSE_AFTER_OUT) <= COHORTS_DROP_MS)
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

/* Rates, intervals and medians of an arm; its times are released. */
static void cohorts_finish_arm(struct cohorts_arm *a)
{
	a->rate = a->sources ? (double)a->delivered / a->sources : 0;
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

/* What a significant difference says of these peers, from the arms with
 * the highest and lowest rate: silent sends nothing, so a lower rate
 * under it means the peers wait for the server; a higher one, that they
 * leave when it speaks. */
static const char *cohorts_meaning(const struct cohorts_cohort *c)
{
	const struct cohorts_arm *hi = &c->arms[0], *lo = &c->arms[0];

	for (int i = 1; i < c->narms; i++) {
		if (c->arms[i].rate > hi->rate)
			hi = &c->arms[i];
		if (c->arms[i].rate < lo->rate)
			lo = &c->arms[i];
	}
	if (!strcmp(lo->strategy, "silent"))
		return "these peers wait for the server to speak";
	if (!strcmp(hi->strategy, "silent"))
		return "these peers leave when the server speaks";
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
	free(arms);
	free(rows);
	free(narms);
	free(v);
}

int cohorts_collect(sqlite3 *db, const char *since, unsigned keys, uint64_t gap_ms,
    struct cohorts *out)
{
	struct cohorts_src *s = NULL;
	sqlite3_stmt *q = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < sizeof(cohorts_sql) / sizeof(cohorts_sql[0]); i++)
		if ((rc = sqlite3_prepare_v2(db, cohorts_sql[i], -1, &q, NULL)) == SQLITE_OK)
			break;
	if (rc != SQLITE_OK)
		return rc;
	out->c = calloc(COHORTS_MAX, sizeof(*out->c));
	s = calloc(1, sizeof(*s));
	if (!out->c || !s) {
		sqlite3_finalize(q);
		free(s);
		return SQLITE_NOMEM;
	}
	sqlite3_bind_text(q, 1, since, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		char ip[sizeof(s->ip)];
		if (!store_column_display(q, Q_IP, ip, sizeof(ip)))
			snprintf(ip, sizeof(ip), "?");
		if (s->rows && strcmp(ip, s->ip) != 0) {
			cohorts_end_source(out, s, keys);
			memset(s, 0, offsetof(struct cohorts_src, sizes));
		}
		snprintf(s->ip, sizeof(s->ip), "%s", ip);
		cohorts_row(s, q, gap_ms);
	}
	cohorts_end_source(out, s, keys);
	sqlite3_finalize(q);
	free(s);
	for (int i = 0; i < out->n; i++) {
		struct cohorts_cohort *c = &out->c[i];
		for (int j = 0; j < c->narms; j++)
			cohorts_finish_arm(&c->arms[j]);
		qsort(c->arms, (size_t)c->narms, sizeof(c->arms[0]), cohorts_arm_cmp);
		qsort(c->families, (size_t)c->nfamilies, sizeof(c->families[0]), cohorts_family_cmp);
	}
	qsort(out->c, (size_t)out->n, sizeof(out->c[0]), cohorts_cohort_cmp);
	if (rc != SQLITE_DONE)
		return rc;
	cohorts_decide(out);
	return SQLITE_OK;
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
