/* rescan.c - "flypaper rescan" applies the current YARA rules to every
 * stored payload; "flypaper classify" applies them to files. */
#include "rescan.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "config.h"
#include "options.h"
#include "store.h"
#include "text.h"

/* The flags of rescan and classify (which ignores --db). */
struct rescan_args {
	const char *db;
	const char *rules;
};

static const struct option_row rescan_options[] = {
	{.name = "db", .type = OPTION_ARG, .field = offsetof(struct rescan_args, db),
	    .metavar = "FILE", .help = "the database; default ./flypaper.db"},
	{.name = "rules", .type = OPTION_ARG, .field = offsetof(struct rescan_args, rules),
	    .metavar = "PATHS", .help = "YARA rule files or folders, ':'-separated"},
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
	long payloads = 0, matched = 0;
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
	printf("rescanned %ld payloads; %ld session matches\n", payloads, matched);
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

int classify_main(int argc, char **argv)
{
	static const struct options_command cmd = {"classify", rescan_options,
	    sizeof(rescan_options) / sizeof(rescan_options[0]), classify_usage, true};
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
		free(buf);
	}
	classify_close(cl);
	config_free(&cfg);
	return rc;
}
