/* report_model.c - unit tests of the report pass's column positions
 * (src/analysis/report_model.c, review finding 8): enum report_col names
 * each column of the pass's SELECT, and report_model_check_columns holds
 * a prepared statement to it by sqlite3_column_name (the report runs the
 * same check on its own query before every pass). Run from unit.c's main
 * through test_report_model. */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "report_model.h"

void test_report_model(int *passed, int *failed);

static int *rm_passed, *rm_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*rm_passed)++;                                    \
		} else {                                                   \
			(*rm_failed)++;                                    \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

/* "SELECT NULL AS name, ..." over the enum's names, with columns a and b
 * swapped (a == b: none) and the last drop ones left out, checked. */
static int rm_check(sqlite3 *db, int a, int b, int drop, const char *extra, char *err,
    size_t errlen)
{
	char sql[4096];
	size_t len = (size_t)snprintf(sql, sizeof(sql), "SELECT ");
	sqlite3_stmt *q;

	for (int i = 0; i < RCOL_COUNT - drop; i++) {
		int c = i == a ? b : i == b ? a : i;
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%sNULL AS %s", i ? ", " : "",
		    report_model_column_name((enum report_col)c));
	}
	if (extra)
		snprintf(sql + len, sizeof(sql) - len, ", NULL AS %s", extra);
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return -2;
	int rc = report_model_check_columns(q, err, errlen);
	sqlite3_finalize(q);
	return rc;
}

void test_report_model(int *passed, int *failed)
{
	sqlite3 *db;
	char err[256] = "";

	rm_passed = passed;
	rm_failed = failed;
	CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK, "open");
	/* the readers' positions: the TLS section's and the cohorts' */
	CHECK(!strcmp(report_model_column_name(RCOL_TLS), "tls") &&
	    !strcmp(report_model_column_name(RCOL_TLS_ALERT), "tls_alert") &&
	    !strcmp(report_model_column_name(RCOL_STRATEGY), "strategy") &&
	    !strcmp(report_model_column_name(RCOL_DST_PORT), "dst_port") &&
	    !strcmp(report_model_column_name(RCOL_COUNT), "?"), "names");
	CHECK(rm_check(db, 0, 0, 0, NULL, err, sizeof(err)) == 0, "%s", err);
	CHECK(rm_check(db, RCOL_DST_PORT, RCOL_TLS, 0, NULL, err, sizeof(err)) == -1 &&
	    strstr(err, "column 21 'tls'") && strstr(err, "has 'dst_port'"), "%s", err);
	CHECK(rm_check(db, 0, 0, 1, NULL, err, sizeof(err)) == -1 &&
	    strstr(err, "none") && strstr(err, "'experiment_id'"), "%s", err);
	CHECK(rm_check(db, 0, 0, 0, "later", err, sizeof(err)) == -1 &&
	    strstr(err, "'later'"), "%s", err);
	sqlite3_close(db);
}
