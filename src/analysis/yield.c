/* yield.c - "flypaper yield": per response strategy, how many peers
 * delivered a payload, how fast, and how many left at flypaper's first
 * byte; then, per cohort of sources and strategy arm, counted by source,
 * the same with intervals, a test and a conclusion (cohorts.h). The table
 * that answers "do these worms expect the server to speak first?". */
#include "yield.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bursts.h"
#include "cohorts.h"
#include "options.h"
#include "store.h"
#include "text.h"

#define YIELD_DROP_MS 1000           /* "closed within 1 s of flypaper's first byte" */

static void yield_usage(FILE *out)
{
	fprintf(out,
	    "usage: flypaper yield [--db FILE] [--since TIME] [--format text|json]\n"
	    "                      [--cohort-by KEY[,KEY]] [--gap DUR] [--experiment ID]\n\n"
	    "Per response strategy: sessions, distinct sources, share of sessions\n"
	    "that sent any payload, median time to the first payload byte, and the\n"
	    "share of answered sessions the peer closed within 1 s of flypaper's\n"
	    "first byte without having sent anything. Then per cohort of sources\n"
	    "(KEY: burst, os, os_class, port or none; default burst,os) and\n"
	    "strategy arm, counted by source: delivered, rate with a 95%% Wilson\n"
	    "interval, a test across the arms (Fisher's exact, chi-square or Monte\n"
	    "Carlo, as each cohort says) corrected by Holm over the cohorts, and a\n"
	    "conclusion. Only the sessions of one experiment are tested (ID, else\n"
	    "the latest in the window): a strategy given by the listener was not\n"
	    "randomised. TIME is an ISO 8601 UTC prefix, e.g. 2026-11-27T05.\n");
}

/* The median of first_byte_ms for one strategy (its stored value), or -1. */
static double yield_median(sqlite3 *db, const sqlite3_value *strategy, const char *since,
    long long n)
{
	sqlite3_stmt *q;
	double sum = 0;
	int got = 0;

	if (n <= 0)
		return -1;
	if (sqlite3_prepare_v2(db,
	        "SELECT first_byte_ms FROM sessions WHERE coalesce(strategy, '-') = ?1 "
	        "AND first_byte_ms IS NOT NULL AND start_ts >= ?2 "
	        "ORDER BY first_byte_ms LIMIT ?3 OFFSET ?4", -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_value(q, 1, strategy);
	sqlite3_bind_text(q, 2, since, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, n % 2 ? 1 : 2);
	sqlite3_bind_int64(q, 4, (n - 1) / 2);
	while (sqlite3_step(q) == SQLITE_ROW) {
		sum += sqlite3_column_double(q, 0);
		got++;
	}
	sqlite3_finalize(q);
	return got ? sum / got : -1;
}

void yield_free_rows(struct yield_row *rows, int n)
{
	for (int i = 0; i < n; i++)
		sqlite3_value_free(rows[i].key);
	free(rows);
}

/* Every string a database holds is hostile: strategies are kept as stored
 * for the queries and escaped for display. A forged row's NULL reason
 * counts as accepted, as in the report (NULL NOT IN (...) is NULL). A
 * session counts as dropped at the first byte only if the peer had sent
 * nothing: one that delivered and then closed is a payload (issue 13). */
int yield_collect(sqlite3 *db, const char *since, struct yield_row **rows,
    int *nrows)
{
	sqlite3_stmt *q;
	int rc;

	rc = sqlite3_prepare_v2(db,
	    "SELECT coalesce(strategy, '-'), count(*), count(DISTINCT src_ip), "
	    "  sum(bytes_in > 0), sum(first_out_ms IS NOT NULL), "
	    "  sum(closed_by = 'peer' AND peer_close_after_out_ms <= ?2 "
	    "      AND coalesce(bytes_in, 0) <= 0) "
	    "FROM sessions WHERE coalesce(close_reason, '') NOT IN ('capacity', "
	    "  'syn_only', 'rst_after_synack') AND start_ts >= ?1 "
	    "GROUP BY 1 ORDER BY 1", -1, &q, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(q, 1, since, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 2, YIELD_DROP_MS);
	*rows = NULL;
	*nrows = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct yield_row *r = realloc(*rows, (size_t)(*nrows + 1) * sizeof(*r));
		if (!r) {
			sqlite3_finalize(q);
			return SQLITE_NOMEM;
		}
		*rows = r;
		r = &r[(*nrows)++];
		store_column_display(q, 0, r->strategy, sizeof(r->strategy));
		r->key = sqlite3_value_dup(sqlite3_column_value(q, 0));
		if (!r->key) {
			sqlite3_finalize(q);
			return SQLITE_NOMEM;
		}
		r->sessions = sqlite3_column_int64(q, 1);
		r->sources = sqlite3_column_int64(q, 2);
		r->with_payload = sqlite3_column_int64(q, 3);
		r->answered = sqlite3_column_int64(q, 4);
		r->dropped = sqlite3_column_int64(q, 5);
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return rc;
	for (int i = 0; i < *nrows; i++)
		(*rows)[i].median_first_byte_ms = yield_median(db, (*rows)[i].key,
		    since, (*rows)[i].with_payload);
	return SQLITE_OK;
}

static double yield_share(long long part, long long whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

double yield_payload_share(const struct yield_row *r)
{
	return yield_share(r->with_payload, r->sessions) / 100.0;
}

double yield_dropped_share(const struct yield_row *r)
{
	return r->answered ? (double)r->dropped / (double)r->answered : -1;
}

static void yield_print_text(const struct yield_row *rows, int n)
{
	printf("%-14s %9s %8s %13s %18s %24s\n", "strategy", "sessions", "sources",
	    "sent payload", "median 1st byte", "left at 1st server byte");
	for (int i = 0; i < n; i++) {
		const struct yield_row *r = &rows[i];
		char median[32], dropped[48];
		if (r->median_first_byte_ms >= 0)
			snprintf(median, sizeof(median), "%.0f ms", r->median_first_byte_ms);
		else
			snprintf(median, sizeof(median), "-");
		if (r->answered)
			snprintf(dropped, sizeof(dropped), "%.1f%% of %lld", yield_share(r->dropped,
			    r->answered), r->answered);
		else
			snprintf(dropped, sizeof(dropped), "- (never spoke)");
		printf("%-14s %9lld %8lld %12.1f%% %18s %24s\n", r->strategy, r->sessions,
		    r->sources, yield_share(r->with_payload, r->sessions), median, dropped);
	}
}

json_t *yield_rows_json(const struct yield_row *rows, int n)
{
	json_t *arr = json_array();

	for (int i = 0; i < n; i++) {
		const struct yield_row *r = &rows[i];
		json_array_append_new(arr, json_pack(
		    "{s:s, s:I, s:I, s:I, s:f, s:o, s:I, s:I, s:o}",
		    "strategy", r->strategy, "sessions", (json_int_t)r->sessions,
		    "sources", (json_int_t)r->sources,
		    "sessions_with_payload", (json_int_t)r->with_payload,
		    "payload_share", yield_payload_share(r),
		    "median_first_byte_ms", r->median_first_byte_ms >= 0
		        ? json_real(r->median_first_byte_ms) : json_null(),
		    "answered", (json_int_t)r->answered,
		    "dropped_at_first_byte", (json_int_t)r->dropped,
		    "dropped_share", r->answered
		        ? json_real(yield_dropped_share(r)) : json_null()));
	}
	return arr;
}

static int yield_print_json(const struct yield_row *rows, int n, const struct cohorts *co,
    unsigned keys)
{
	char by[64];
	json_t *root = json_pack("{s:o, s:s, s:o, s:I, s:I, s:I}",
	    "strategies", yield_rows_json(rows, n),
	    "cohort_by", cohorts_keys_name(keys, by, sizeof(by)),
	    "cohorts", cohorts_json(co), "sources", (json_int_t)co->sources,
	    "mixed_sources", (json_int_t)co->mixed, "skipped_sources", (json_int_t)co->skipped);
	char *text;

	if (root)
		cohorts_json_experiment(co, root);
	text = root ? json_dumps(root, JSON_INDENT(2)) : NULL;

	json_decref(root);
	if (!text)
		return -1;
	puts(text);
	free(text);
	return 0;
}

/* The cohort table: per cohort, its arms counted by source, then its
 * conclusion line. */
static void yield_print_cohorts(const struct cohorts *co, unsigned keys)
{
	char by[64], p[32], pre[COHORTS_EXPERIMENT + 512];

	printf("\n%s\n", cohorts_preamble(co, pre, sizeof(pre)));
	if (!co->experiment_id[0])
		return;
	printf("By cohort (%s), counted by source: %u sources", cohorts_keys_name(keys, by,
	    sizeof(by)), co->sources);
	if (co->mixed)
		printf(", %u seen under several strategies (counted in the arm of their "
		    "first session)", co->mixed);
	if (co->skipped)
		printf(", %u past the table's caps (not counted)", co->skipped);
	printf("\n");
	for (int i = 0; i < co->n; i++) {
		const struct cohorts_cohort *c = &co->c[i];
		printf("\n%s (%s, %s)\n", c->label, stats_method_name(c->verdict.method),
		    cohorts_p_text(c->verdict.p_adjusted, p, sizeof(p)));
		printf("  %-14s %8s %10s %7s %12s %9s %16s %16s\n", "strategy", "sources",
		    "delivered", "rate", "95% interval", "sessions", "median 1st byte",
		    "left undelivered");
		for (int j = 0; j < c->narms; j++) {
			const struct cohorts_arm *a = &c->arms[j];
			char ci[32], median[32], left[48];
			snprintf(ci, sizeof(ci), "%.0f-%.0f%%", 100 * a->ci_low, 100 * a->ci_high);
			if (a->median_ms >= 0)
				snprintf(median, sizeof(median), "%.0f ms", a->median_ms);
			else
				snprintf(median, sizeof(median), "-");
			snprintf(left, sizeof(left), "%.0f%% (%u+%u)", a->sources ? 100.0 *
			    (a->left_at_data + a->left_at_ident) / a->sources : 0.0,
			    a->left_at_data, a->left_at_ident);
			printf("  %-14s %8u %10u %6.0f%% %12s %9lld %16s %16s\n", a->strategy,
			    a->sources, a->delivered, 100 * a->rate, ci, a->sessions, median, left);
		}
		printf("  %s\n", c->conclusion);
	}
	if (co->n)
		printf("\nleft undelivered: sources that never delivered and left within 1 s of "
		    "flypaper's first byte + of the IDENT probe. p: Holm-adjusted over the %s "
		    "tested; the test by each cohort's name: fisher (Fisher's exact, "
		    "Freeman-Halton past two arms), chisq (Pearson's chi-square, every expected "
		    "count 5 or more), montecarlo (Freeman-Halton from 20000 random tables).\n",
		    "cohorts");
}

/* yield's flags, filled by its option rows. */
struct yield_args {
	const char *db;
	const char *since;
	int format;                  /* index in yield_formats */
	unsigned cohort_by;          /* cohorts.h keys */
	uint64_t gap_ms;
	const char *experiment;      /* the experiment to test; NULL: the latest */
};

static int yield_set_cohort_by(void *base, const char *value, char *err, size_t errlen)
{
	return cohorts_parse_keys(value, &((struct yield_args *)base)->cohort_by, err, errlen);
}

enum { YIELD_TEXT, YIELD_JSON };
static const char *const yield_formats[] = {[YIELD_TEXT] = "text", [YIELD_JSON] = "json", NULL};

static const struct option_row yield_options[] = {
	{.name = "db", .type = OPTION_ARG, .field = offsetof(struct yield_args, db),
	    .metavar = "FILE", .help = "the database; default ./flypaper.db"},
	{.name = "since", .type = OPTION_ARG, .field = offsetof(struct yield_args, since),
	    .metavar = "TIME", .help = "sessions from TIME on (ISO 8601 UTC prefix)"},
	{.name = "format", .type = OPTION_CHOICE, .field = offsetof(struct yield_args, format),
	    .metavar = "FORMAT", .help = "text or json", .choices = yield_formats},
	{.name = "cohort-by", .type = OPTION_CUSTOM, .set = yield_set_cohort_by,
	    .metavar = "KEY[,KEY]", .help = "group sources by burst, os, os_class, port or "
	    "none; default burst,os"},
	{.name = "gap", .type = OPTION_DURATION, .field = offsetof(struct yield_args, gap_ms),
	    .max = UINT64_MAX, .metavar = "DUR", .syntax = "is not a duration",
	    .help = "a longer pause ends a source's burst (cohort burst); default 60s"},
	{.name = "experiment", .type = OPTION_ARG, .field = offsetof(struct yield_args,
	    experiment), .metavar = "ID", .help = "the experiment to test (its "
	    "experiment_id); default the latest in the window"},
};

int yield_main(int argc, char **argv)
{
	static const struct options_command cmd = {"yield", yield_options,
	    sizeof(yield_options) / sizeof(yield_options[0]), yield_usage, false};
	struct yield_args args = {.db = "flypaper.db", .since = "", .format = YIELD_TEXT,
	    .cohort_by = COHORTS_DEFAULT, .gap_ms = BURSTS_GAP_MS};
	const char *db_path, *since;
	struct yield_row *rows = NULL;
	struct cohorts co = {0};
	sqlite3 *db = NULL;
	int nrows = 0, rc;
	char shown[512];             /* an SQLite message quoting the database, escaped */

	rc = options_parse(&cmd, argc, argv, &args);
	if (rc <= 0)
		return rc < 0 ? 2 : 0;
	db_path = args.db;
	since = args.since;
	/* The tests need GSL: without it there is no table to print. */
	if (stats_load(shown, sizeof(shown)) < 0) {
		fprintf(stderr, "flypaper yield: %s\n", shown);
		return 2;
	}
	if (store_open_untrusted(db_path, &db) != SQLITE_OK) {
		fprintf(stderr, "flypaper yield: %s: %s\n", db_path,
		    text_display(sqlite3_errmsg(db), shown, sizeof(shown)));
		sqlite3_close(db);
		return 2;
	}
	sqlite3_busy_timeout(db, 5000);
	rc = yield_collect(db, since, &rows, &nrows);
	if (rc == SQLITE_OK)
		rc = cohorts_collect(db, since, args.experiment, args.cohort_by, args.gap_ms, &co);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "flypaper yield: %s: %s (is it a flypaper database, "
		    "schema 2 or later?)\n", db_path,
		    text_display(sqlite3_errmsg(db), shown, sizeof(shown)));
		sqlite3_close(db);
		yield_free_rows(rows, nrows);
		cohorts_free(&co);
		return 2;
	}
	sqlite3_close(db);
	if (args.format == YIELD_JSON) {
		rc = yield_print_json(rows, nrows, &co, args.cohort_by);
	} else {
		yield_print_text(rows, nrows);
		yield_print_cohorts(&co, args.cohort_by);
	}
	yield_free_rows(rows, nrows);
	cohorts_free(&co);
	return rc ? 1 : 0;
}
