/* rescan.c - "flypaper rescan" applies the current YARA rules to every
 * stored payload; "flypaper classify" applies them to files. */
#include "rescan.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classify.h"
#include "config.h"
#include "options.h"
#include "shape.h"
#include "store.h"
#include "text.h"

/* The flags of rescan and classify (which ignores --db). */
struct rescan_args {
	const char *db;
	const char *rules;
	size_t timing;               /* classify: scans per file to time; 0: none */
};

#define RESCAN_TIMING_MAX 10000      /* scans of one file --timing may ask for */

static const struct option_row rescan_options[] = {
	{.name = "db", .type = OPTION_ARG, .field = offsetof(struct rescan_args, db),
	    .metavar = "FILE", .help = "the database; default ./flypaper.db"},
	{.name = "rules", .type = OPTION_ARG, .field = offsetof(struct rescan_args, rules),
	    .metavar = "PATHS", .help = "YARA rule files or folders, ':'-separated"},
};

/* Fills sessions.shape again for every session whose payload is kept:
 * rows stored before schema 6, or by an older shape definition. Each
 * distinct (payload, request count) is shaped once into a scratch table,
 * then one UPDATE joins it to the sessions. Returns SQLite's status; the
 * number of sessions shaped in *shaped. */
static int rescan_shapes(sqlite3 *db, long *shaped)
{
	sqlite3_stmt *q = NULL, *ins = NULL;
	int rc;

	*shaped = 0;
	rc = sqlite3_exec(db, "CREATE TEMP TABLE rescan_shape(sha256 TEXT, requests INTEGER, "
	    "shape TEXT, PRIMARY KEY (sha256, requests))", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT p.sha256, s.requests, p.size, "
		    "substr(p.data, 1, ?1) FROM payloads p JOIN "
		    "(SELECT DISTINCT payload_sha256, requests FROM sessions) s "
		    "ON s.payload_sha256 = p.sha256", -1, &q, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(q, 1, SHAPE_SCAN_MAX);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO rescan_shape VALUES (?1, ?2, ?3)",
		    -1, &ins, NULL);
	while (rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW) {
		struct shape shape;
		const void *data = sqlite3_column_blob(q, 3);
		int len = sqlite3_column_bytes(q, 3);
		sqlite3_int64 size = sqlite3_column_int64(q, 2);
		sqlite3_int64 requests = sqlite3_column_int64(q, 1);
		/* The size counts only past the bytes read (shape_of reads no
		 * more than SHAPE_SCAN_MAX): a wrong one cannot make it over-read. */
		size_t whole = len == SHAPE_SCAN_MAX && size > len ? (size_t)size : (size_t)len;
		if (!data || len <= 0 || !shape_of(data, whole,
		        requests > 0 ? (uint64_t)requests : 0, &shape))
			continue;
		sqlite3_bind_value(ins, 1, sqlite3_column_value(q, 0));
		sqlite3_bind_int64(ins, 2, requests);
		sqlite3_bind_text(ins, 3, shape.id, -1, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE)
			rc = sqlite3_errcode(db);
		sqlite3_reset(ins);
	}
	sqlite3_finalize(q);
	sqlite3_finalize(ins);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "UPDATE sessions SET shape = t.shape FROM rescan_shape t "
		    "WHERE t.sha256 = sessions.payload_sha256 AND t.requests = sessions.requests",
		    NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		*shaped = sqlite3_changes(db);
	return rc;
}

/* classify's flags: --rules, and --timing (hidden: for bench/families). */
static const struct option_row classify_options[] = {
	{.name = "rules", .type = OPTION_ARG, .field = offsetof(struct rescan_args, rules),
	    .metavar = "PATHS", .help = "YARA rule files or folders, ':'-separated"},
	{.name = "timing", .type = OPTION_COUNT, .field = offsetof(struct rescan_args, timing),
	    .min = 1, .max = RESCAN_TIMING_MAX, .metavar = "N",
	    .help = "scan each file N times; print its median and least scan time"},
};

static void rescan_usage(FILE *out)
{
	fprintf(out, "usage: flypaper rescan [--db FILE] [--rules PATHS]\n"
	    "Applies the rules to every stored payload and replaces the matches.\n");
}

static void classify_usage(FILE *out)
{
	fprintf(out, "usage: flypaper classify [--rules PATHS] FILE...\n"
	    "Prints the rules (and their tags) that match each file, then the file's\n"
	    "family and technique tags as \"FILE<tab>=family<tab>NAME\" and\n"
	    "\"FILE<tab>=tags<tab>TAGS\" lines (none when empty).\n");
}

int rescan_main(int argc, char **argv)
{
	static const struct options_command cmd = {"rescan", rescan_options,
	    sizeof(rescan_options) / sizeof(rescan_options[0]), rescan_usage, false};
	struct config cfg;
	const char *db_path = "flypaper.db", *rules_paths;
	char err[CONFIG_ERR_LEN], shown[512];
	struct classify_result res;
	sqlite3_stmt *q = NULL, *ins = NULL;
	long payloads = 0, matched = 0, shaped = 0;
	int rc = 2;

	config_defaults(&cfg);
	struct rescan_args args = {.db = db_path, .rules = cfg.rules};
	int first = options_parse(&cmd, argc, argv, &args);
	if (first <= 0) {
		config_free(&cfg);
		return first < 0 ? 2 : 0;
	}
	db_path = args.db;
	rules_paths = args.rules;
	struct classify *cl = classify_open(rules_paths, NULL, err, sizeof(err));
	if (!cl) {
		fprintf(stderr, "flypaper rescan: rules: %s\n", err);
		config_free(&cfg);
		return 2;
	}
	struct store *st = store_open(db_path, "rescan", 10000, err, sizeof(err));
	if (!st) {
		fprintf(stderr, "flypaper rescan: db: %s: %s\n", db_path, err);
		goto out;
	}
	sqlite3 *db = store_db(st);
	/* Scan each distinct payload once into a scratch table, then swap
	 * the matches in one transaction, joined to sessions in one pass. */
	if (sqlite3_exec(db, "CREATE TEMP TABLE rescan(sha256 TEXT, rule TEXT, tags TEXT)",
	        NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT sha256, data FROM payloads", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO rescan VALUES (?1, ?2, ?3)", -1, &ins, NULL) != SQLITE_OK)
		goto dberr;
	while (sqlite3_step(q) == SQLITE_ROW) {
		const void *data = sqlite3_column_blob(q, 1);
		int len = sqlite3_column_bytes(q, 1);
		payloads++;
		if (classify_scan(cl, data, (size_t)len, &res) <= 0)
			continue;
		for (int i = 0; i < res.n; i++) {
			sqlite3_bind_text(ins, 1, (const char *)sqlite3_column_text(q, 0), -1,
			    SQLITE_TRANSIENT);
			sqlite3_bind_text(ins, 2, res.m[i].rule, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 3, res.m[i].tags, -1, SQLITE_STATIC);
			if (sqlite3_step(ins) != SQLITE_DONE)
				goto dberr;
			sqlite3_reset(ins);
		}
	}
	if (sqlite3_exec(db, "BEGIN IMMEDIATE; DELETE FROM matches;"
	        "INSERT OR REPLACE INTO matches(session, rule, tags) "
	        "SELECT s.session, r.rule, r.tags FROM rescan r "
	        "JOIN sessions s ON s.payload_sha256 = r.sha256; COMMIT;",
	        NULL, NULL, NULL) != SQLITE_OK)
		goto dberr;
	matched = sqlite3_changes(db);
	if (rescan_shapes(db, &shaped) != SQLITE_OK)
		goto dberr;
	printf("rescanned %ld payloads; %ld session matches; %ld sessions shaped\n",
	    payloads, matched, shaped);
	rc = 0;
	goto out;
dberr:
	fprintf(stderr, "flypaper rescan: %s: %s\n", db_path,
	    text_display(sqlite3_errmsg(store_db(st)), shown, sizeof(shown)));
	sqlite3_exec(store_db(st), "ROLLBACK", NULL, NULL, NULL);
	rc = 1;
out:
	sqlite3_finalize(q);
	sqlite3_finalize(ins);
	store_close(st);
	classify_close(cl);
	config_free(&cfg);
	return rc;
}

static int classify_ns_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Scans data runs times and prints "FILE<TAB>#timing<TAB>median ns<TAB>
 * least ns" ('#' starts no rule name): what one scan of a distinct
 * payload costs, without the cache. */
static void classify_time(struct classify *cl, const char *name, const uint8_t *data,
    size_t len, size_t runs)
{
	int64_t *ns = malloc(runs * sizeof(*ns));
	struct classify_result res;

	if (!ns)
		return;
	for (size_t r = 0; r < runs; r++) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		classify_scan(cl, data, len, &res);
		clock_gettime(CLOCK_MONOTONIC, &b);
		ns[r] = (int64_t)(b.tv_sec - a.tv_sec) * 1000000000 + (b.tv_nsec - a.tv_nsec);
	}
	qsort(ns, runs, sizeof(*ns), classify_ns_cmp);
	printf("%s\t#timing\t%lld\t%lld\n", name, (long long)ns[runs / 2], (long long)ns[0]);
	free(ns);
}

int classify_main(int argc, char **argv)
{
	static const struct options_command cmd = {"classify", classify_options,
	    sizeof(classify_options) / sizeof(classify_options[0]), classify_usage, true};
	struct config cfg;
	const char *rules_paths;
	char err[CONFIG_ERR_LEN];
	int rc = 0;

	config_defaults(&cfg);
	struct rescan_args args = {.rules = cfg.rules};
	int first = options_parse(&cmd, argc, argv, &args);
	if (first <= 0 || first == argc) {
		if (first == argc)
			fprintf(stderr, "flypaper classify: name at least one file\n");
		config_free(&cfg);
		return first == 0 ? 0 : 2;
	}
	rules_paths = args.rules;
	struct classify *cl = classify_open(rules_paths, NULL, err, sizeof(err));
	if (!cl) {
		fprintf(stderr, "flypaper classify: rules: %s\n", err);
		config_free(&cfg);
		return 2;
	}
	for (int i = first; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		struct classify_result res;
		char *buf = malloc(16 * 1024 * 1024);
		size_t n = 0;
		if (!f || !buf) {
			fprintf(stderr, "flypaper classify: %s: cannot read\n", argv[i]);
			if (f)
				fclose(f);
			free(buf);
			rc = 1;
			continue;
		}
		n = fread(buf, 1, 16 * 1024 * 1024, f);
		fclose(f);
		if (classify_scan(cl, (const uint8_t *)buf, n, &res) < 0) {
			fprintf(stderr, "flypaper classify: %s: scan failed\n", argv[i]);
			rc = 1;
		}
		for (int k = 0; k < res.n; k++)
			printf("%s\t%s\t%s\n", argv[i], res.m[k].rule, res.m[k].tags);
		if (res.family[0])
			printf("%s\t=family\t%s\n", argv[i], res.family);
		if (res.tags[0])
			printf("%s\t=tags\t%s\n", argv[i], res.tags);
		if (args.timing)
			classify_time(cl, argv[i], (const uint8_t *)buf, n, args.timing);
		free(buf);
	}
	classify_close(cl);
	config_free(&cfg);
	return rc;
}
