/* rescan.c - "flypaper rescan" applies the current YARA rules to every
 * stored payload; "flypaper classify" applies them to files. */
#include "rescan.h"

#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "config.h"
#include "store.h"
#include "text.h"

/* Parses "--db FILE --rules PATHS"; returns the index of the first other
 * argument, or -1 after printing the problem. */
static int rescan_options(int argc, char **argv, const char **db, const char **rules,
    const char *usage)
{
	static const struct option longopts[] = {
		{"db", required_argument, NULL, 'd'},
		{"rules", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': *db = optarg; break;
		case 'r': *rules = optarg; break;
		case 'h': printf("%s", usage); exit(0);
		default:
			fprintf(stderr, "flypaper: unknown option or missing value: '%s'\n%s",
			    argv[optind - 1], usage);
			return -1;
		}
	}
	return optind;
}

int rescan_main(int argc, char **argv)
{
	static const char usage[] =
	    "usage: flypaper rescan [--db FILE] [--rules PATHS]\n"
	    "Applies the rules to every stored payload and replaces the matches.\n";
	struct config cfg;
	const char *db_path = "flypaper.db", *rules_paths;
	char err[CONFIG_ERR_LEN], shown[512];
	struct classify_result res;
	sqlite3_stmt *q = NULL, *ins = NULL;
	long payloads = 0, matched = 0;
	int rc = 2;

	config_defaults(&cfg);
	rules_paths = cfg.rules;
	int first = rescan_options(argc, argv, &db_path, &rules_paths, usage);
	if (first < 0 || first != argc) {
		if (first >= 0)
			fprintf(stderr, "flypaper rescan: unexpected argument '%s'\n", argv[first]);
		config_free(&cfg);
		return 2;
	}
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
	static const char usage[] =
	    "usage: flypaper classify [--rules PATHS] FILE...\n"
	    "Prints the rules (and their tags) that match each file.\n";
	struct config cfg;
	const char *db_unused = NULL, *rules_paths;
	char err[CONFIG_ERR_LEN];
	int rc = 0;

	config_defaults(&cfg);
	rules_paths = cfg.rules;
	int first = rescan_options(argc, argv, &db_unused, &rules_paths, usage);
	if (first < 0 || first == argc) {
		if (first == argc)
			fprintf(stderr, "flypaper classify: name at least one file\n");
		config_free(&cfg);
		return 2;
	}
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
		free(buf);
	}
	classify_close(cl);
	config_free(&cfg);
	return rc;
}
