/* report.c - "flypaper report": what came in, and what it means. Attaches
 * one or more sensors' databases, builds the report's model from them
 * (report_model.c: bursts, behaviour classes, families, strategy yield,
 * the timeline), and prints it as text, JSON, or one self-contained HTML
 * page with inline SVG charts (report_render.c). */
#include "report.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bursts.h"
#include "cohorts.h"
#include "options.h"
#include "report_model.h"
#include "report_render.h"
#include "store.h"
#include "text.h"

#define REPORT_MAX_DBS 16
#define REPORT_ERR_SHOWN 512         /* an SQLite message quoting the database, escaped */

/* ---- databases --------------------------------------------------------- */

/* A timestamp bound must look like a UTC timestamp prefix: it is pasted
 * into the view's SQL. */
static bool report_ts_ok(const char *t)
{
	for (; *t; t++) {
		if (!strchr("0123456789-T:.Z", *t))
			return false;
	}
	return true;
}

/* Whether attached database name's sessions have column (a later schema's:
 * an older database is read without it). */
static bool report_has_column(sqlite3 *db, const char *name, const char *column)
{
	sqlite3_stmt *q;
	bool has = false;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM pragma_table_info('sessions', ?1) "
	        "WHERE name = ?2", -1, &q, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, column, -1, SQLITE_STATIC);
	has = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) > 0;
	sqlite3_finalize(q);
	return has;
}

/* The TLS columns the report reads (schema 8), and NULLs in their place
 * for an older database. */
static const char report_tls_hello_columns[] = "s.tls, s.tls_hello_ver, s.tls_versions, "
    "s.tls_sni, s.ja3_md5, s.ja4";
static const char report_tls_hello_none[] = "NULL AS tls, NULL AS tls_hello_ver, "
    "NULL AS tls_versions, NULL AS tls_sni, NULL AS ja3_md5, NULL AS ja4";
static const char report_tls_front_columns[] = "s.tls_front, s.tls_version, s.tls_error, "
    "s.tls_alert";
static const char report_tls_front_none[] = "NULL AS tls_front, NULL AS tls_version, "
    "NULL AS tls_error, NULL AS tls_alert";

/* Attaches every database and unions their sessions (with each session's
 * family: the stored one where the schema has it, else the first tag of its
 * first match; how far its classification got, 'done' before the schema
 * said; and its shape), requests and payloads into temporary views, so one
 * set of queries reads them all. */
static int report_attach(sqlite3 *db, char **paths, int n, const char *since,
    const char *until, char *err, size_t errlen)
{
	char *sessions = NULL, *requests = NULL, *payloads = NULL, *ja3 = NULL;
	size_t slen = 0, rlen = 0, plen = 0;
	FILE *s = open_memstream(&sessions, &slen), *r = open_memstream(&requests, &rlen);
	FILE *p = open_memstream(&payloads, &plen);
	size_t jlen = 0;
	FILE *j = open_memstream(&ja3, &jlen);
	bool any_tls = false;
	int rc = 0;

	fputs("CREATE TEMP VIEW sessions AS ", s);
	fputs("CREATE TEMP VIEW requests AS ", r);
	fputs("CREATE TEMP VIEW payloads AS ", p);
	/* the JA3 strings by md5, read for the top rows only (report_model.c) */
	fputs("CREATE TEMP VIEW tls_ja3 AS ", j);
	for (int i = 0; i < n; i++) {
		char name[16], shown[REPORT_ERR_SHOWN];
		snprintf(name, sizeof(name), "db%d", i);
		if (store_attach_ro(db, paths[i], name) != SQLITE_OK) {
			snprintf(err, errlen, "%s: %s", paths[i],
			    text_display(sqlite3_errmsg(db), shown, sizeof(shown)));
			rc = -1;
			break;
		}
		/* Only the columns the report reads: the sort by source then
		 * carries a few dozen bytes a row, not whole rows. */
		fprintf(s, "%sSELECT s.session, s.sensor, s.src_ip, s.start_ts, s.bytes_in, s.first_byte_ms, "
		    "s.first_out_ms, s.closed_by, s.peer_close_after_out_ms, "
		    "s.peer_close_after_ident_ms, s.close_reason, s.strategy, ",
		    i ? " UNION ALL " : "");
		if (report_has_column(db, name, "family"))
			fputs("s.family AS family, ", s);
		else
			fprintf(s, "(SELECT substr(m.tags, 1, instr(m.tags || ' ', ' ') - 1) "
			    "FROM db%d.matches m WHERE m.session = s.session ORDER BY m.rule LIMIT 1) "
			    "AS family, ", i);
		bool tags = report_has_column(db, name, "tags");
		/* The OS of the peer's own SYN only: a proxy's SYN (syn_of
		 * 'proxy') says nothing of the peer (schema 7). */
		bool syn = report_has_column(db, name, "syn_of");
		fprintf(s, "%s AS class_state, s.payload_sha256, s.requests, %s AS shape, "
		    "%s AS tags, %d AS tags_missing, %s AS os, %s AS os_class, s.dst_port, "
		    "%s AS syn_state, %s AS handshakes, %s, %s, %s "
		    "FROM db%d.sessions s WHERE s.start_ts >= '%s' AND s.start_ts < '%s'",
		    report_has_column(db, name, "class_state") ? "s.class_state" : "'done'",
		    report_has_column(db, name, "shape") ? "s.shape" : "NULL",
		    tags ? "s.tags" : "NULL", !tags,
		    syn ? "CASE WHEN s.syn_of = 'peer' THEN s.os END" : "NULL",
		    syn ? "CASE WHEN s.syn_of = 'peer' THEN s.os_class END" : "NULL",
		    syn ? "CASE s.syn_of WHEN 'peer' THEN 1 WHEN 'proxy' THEN 2 ELSE 0 END" : "0",
		    report_has_column(db, name, "handshakes") ? "s.handshakes" : "NULL",
		    report_has_column(db, name, "tls") ? report_tls_hello_columns
		    : report_tls_hello_none,
		    report_has_column(db, name, "tls_front") ? report_tls_front_columns
		    : report_tls_front_none,
		    report_has_column(db, name, "experiment_id")
		    ? "s.experiment_id, s.experiment" : "NULL AS experiment_id, NULL AS experiment",
		    i, since, until);
		fprintf(p, "%sSELECT sha256, size, data FROM db%d.payloads", i ? " UNION ALL " : "", i);
		if (report_has_column(db, name, "ja3")) {
			fprintf(j, "%sSELECT ja3_md5, ja3 FROM db%d.sessions", any_tls ? " UNION ALL " : "",
			    i);
			any_tls = true;
		}
		if (!*since && !strcmp(until, "9999"))
			fprintf(r, "%sSELECT target, user_agent FROM db%d.requests",
			    i ? " UNION ALL " : "", i);
		else
			fprintf(r, "%sSELECT q.target, q.user_agent FROM db%d.requests q "
			    "JOIN db%d.sessions s ON s.session = q.session "
			    "WHERE s.start_ts >= '%s' AND s.start_ts < '%s'", i ? " UNION ALL " : "",
			    i, i, since, until);
	}
	fclose(s);
	fclose(r);
	if (!any_tls)
		fputs("SELECT NULL AS ja3_md5, NULL AS ja3 WHERE 0", j);
	fclose(p);
	fclose(j);
	if (rc == 0 && (sqlite3_exec(db, sessions, NULL, NULL, NULL) != SQLITE_OK ||
	        sqlite3_exec(db, requests, NULL, NULL, NULL) != SQLITE_OK ||
	        sqlite3_exec(db, payloads, NULL, NULL, NULL) != SQLITE_OK ||
	        sqlite3_exec(db, ja3, NULL, NULL, NULL) != SQLITE_OK)) {
		char shown[REPORT_ERR_SHOWN];
		snprintf(err, errlen, "%s (a flypaper database of schema 3 or later?)",
		    text_display(sqlite3_errmsg(db), shown, sizeof(shown)));
		rc = -1;
	}
	free(sessions);
	free(requests);
	free(payloads);
	free(ja3);
	return rc;
}

static void report_usage(FILE *out)
{
	fprintf(out, "usage: flypaper report [--db FILE]... [--since TIME] [--until TIME]\n"
	    "                       [--format text|json|html] [-o FILE] [--gap DUR]\n"
	    "                       [--cohort-by KEY[,KEY]] [--experiment ID]\n"
	    "TIME is an ISO 8601 UTC prefix such as 2026-11-27 or 2026-11-27T05:00.\n");
}

/* report's flags, filled by its option rows. */
struct report_args {
	char *dbs[REPORT_MAX_DBS];   /* borrowed from argv */
	int ndb;
	const char *since, *until, *output;
	int format;                  /* index in report_formats */
	uint64_t gap_ms;
	unsigned cohort_by;          /* the experiment's cohorts (cohorts.h) */
	const char *experiment;      /* the experiment to test; NULL: the latest */
};

static int report_set_cohort_by(void *base, const char *value, char *err, size_t errlen)
{
	return cohorts_parse_keys(value, &((struct report_args *)base)->cohort_by, err, errlen);
}

static const char *const report_formats[] = {"text", "json", "html", NULL};

/* --db repeats, up to REPORT_MAX_DBS. */
static int report_add_db(void *base, const char *value, char *err, size_t errlen)
{
	struct report_args *args = base;

	if (args->ndb == REPORT_MAX_DBS)
		return options_error(err, errlen, "at most %d databases", REPORT_MAX_DBS);
	args->dbs[args->ndb++] = (char *)value;
	return 0;
}

static const struct option_row report_options[] = {
	{.name = "db", .type = OPTION_CUSTOM, .set = report_add_db, .metavar = "FILE",
	    .help = "a database (repeatable); default ./flypaper.db"},
	{.name = "since", .type = OPTION_ARG, .field = offsetof(struct report_args, since),
	    .metavar = "TIME", .help = "sessions from TIME on"},
	{.name = "until", .type = OPTION_ARG, .field = offsetof(struct report_args, until),
	    .metavar = "TIME", .help = "sessions before TIME"},
	{.name = "format", .type = OPTION_CHOICE, .field = offsetof(struct report_args, format),
	    .metavar = "FORMAT", .help = "text, json or html", .choices = report_formats},
	{.name = "output", .type = OPTION_ARG, .field = offsetof(struct report_args, output),
	    .metavar = "FILE", .help = "write here, not to stdout", .letter = 'o'},
	{.name = "gap", .type = OPTION_DURATION, .field = offsetof(struct report_args, gap_ms),
	    .max = UINT64_MAX, .metavar = "DUR", .help = "a longer pause ends a burst",
	    .syntax = "is not a duration"},
	{.name = "cohort-by", .type = OPTION_CUSTOM, .set = report_set_cohort_by,
	    .metavar = "KEY[,KEY]", .help = "the experiment's cohorts: burst, os, os_class, "
	    "port or none; default burst,os"},
	{.name = "experiment", .type = OPTION_ARG, .field = offsetof(struct report_args,
	    experiment), .metavar = "ID", .help = "the experiment to test (its "
	    "experiment_id); default the latest in the window"},
};

int report_main(int argc, char **argv)
{
	static const struct options_command cmd = {"report", report_options,
	    sizeof(report_options) / sizeof(report_options[0]), report_usage, false};
	struct report_args args = {.since = "", .until = "9999", .gap_ms = BURSTS_GAP_MS,
	    .cohort_by = COHORTS_DEFAULT};
	char **dbs = args.dbs;
	int ndb, rc;
	const char *format, *output;
	char err[512];
	static struct report_model rp;
	sqlite3 *db = NULL;
	FILE *out = stdout;

	rc = options_parse(&cmd, argc, argv, &args);
	if (rc <= 0)
		return rc < 0 ? 2 : 0;
	rc = 2;
	memset(&rp, 0, sizeof(rp));
	rp.since = args.since;
	rp.until = args.until;
	rp.gap_ms = args.gap_ms;
	rp.cohort_by = args.cohort_by;
	rp.experiment_want = args.experiment;
	ndb = args.ndb;
	format = report_formats[args.format];
	output = args.output;
	if (!report_ts_ok(rp.since) || !report_ts_ok(rp.until)) {
		fprintf(stderr, "flypaper report: --since and --until take UTC timestamps "
		    "such as 2026-11-27T05:00\n");
		return 2;
	}
	if (ndb == 0)
		dbs[ndb++] = "flypaper.db";
	for (int i = 0; i < ndb; i++) {
		FILE *f = fopen(dbs[i], "rb");
		if (!f) {
			fprintf(stderr, "flypaper report: %s: cannot open\n", dbs[i]);
			return 2;
		}
		fclose(f);
	}
	if (store_open_untrusted(NULL, &db) != SQLITE_OK) {
		fprintf(stderr, "flypaper report: out of memory\n");
		goto out;
	}
	sqlite3_busy_timeout(db, 5000);
	if (report_attach(db, dbs, ndb, rp.since, rp.until, err, sizeof(err)) < 0) {
		fprintf(stderr, "flypaper report: %s\n", err);
		goto out;
	}
	int built = report_model_build(&rp, db);
	if (built == SQLITE_NOMEM) {
		fprintf(stderr, "flypaper report: out of memory\n");
		goto out;
	}
	if (built != SQLITE_OK) {
		char shown[REPORT_ERR_SHOWN];
		/* the model's own reason first (a bug: its columns), else SQLite's */
		fprintf(stderr, "flypaper report: %s\n", rp.error[0] ? rp.error
		    : text_display(sqlite3_errmsg(db), shown, sizeof(shown)));
		goto out;
	}
	if (output && !(out = fopen(output, "w"))) {
		fprintf(stderr, "flypaper report: %s: cannot write\n", output);
		goto out;
	}
	if (!strcmp(format, "json"))
		report_render_json(out, &rp);
	else if (!strcmp(format, "html"))
		report_render_html(out, &rp);
	else
		report_render_text(out, &rp);
	rc = 0;
	if (out != stdout && fclose(out) != 0) {
		fprintf(stderr, "flypaper report: %s: write failed\n", output);
		rc = 1;
	}
out:
	sqlite3_close(db);
	report_model_free(&rp);
	return rc;
}
