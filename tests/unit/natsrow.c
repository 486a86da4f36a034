/* natsrow.c - unit tests of rows as JSON and back (src/output/natsrow.c),
 * what flypaper collect reads from the stream: a table of messages a
 * hostile sensor could send (bad hex, odd types, column names that are
 * SQL, unknown columns) and what each must do to an in-memory table, and
 * a round trip of text that is not UTF-8, blobs, NULL and reals, byte for
 * byte. Run from unit.c's main through test_natsrow. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natsrow.h"

void test_natsrow(int *passed, int *failed);

static int *nr_passed, *nr_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*nr_passed)++;                                    \
		} else {                                                   \
			(*nr_failed)++;                                    \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

static sqlite3 *nr_db(void)
{
	sqlite3 *db;

	sqlite3_open(":memory:", &db);
	sqlite3_exec(db, "CREATE TABLE t (k TEXT PRIMARY KEY, a TEXT, b INTEGER, c BLOB, d REAL)",
	    NULL, NULL, NULL);
	return db;
}

static long long nr_count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *q;
	long long n = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

static void nr_table(void)
{
	static const struct {
		const char *json;
		int rc;                  /* natsrow_insert's */
		size_t unknown;
		const char *check;       /* a count that must be 1 after, or NULL */
	} cases[] = {
		{"{\"k\":\"1\",\"a\":\"x\",\"b\":7}", SQLITE_DONE, 0,
		    "SELECT count(*) FROM t WHERE k = '1' AND a = 'x' AND b = 7"},
		{"{\"k\":\"2\",\"a\":{\"t\":\"ff00c3\"}}", SQLITE_DONE, 0,
		    "SELECT count(*) FROM t WHERE k = '2' AND typeof(a) = 'text' AND "
		    "hex(CAST(a AS BLOB)) = 'FF00C3'"},
		{"{\"k\":\"3\",\"c\":{\"x\":\"00017f\"}}", SQLITE_DONE, 0,
		    "SELECT count(*) FROM t WHERE k = '3' AND typeof(c) = 'blob' AND hex(c) = '00017F'"},
		{"{\"k\":\"4\",\"c\":{\"x\":\"\"}}", SQLITE_DONE, 0,
		    "SELECT count(*) FROM t WHERE k = '4' AND length(c) = 0"},
		{"{\"k\":\"5\",\"d\":1.5,\"b\":null}", SQLITE_DONE, 0,
		    "SELECT count(*) FROM t WHERE k = '5' AND d = 1.5 AND b IS NULL"},
		{"{\"k\":\"6\",\"zz\":1,\"a\":\"y\"}", SQLITE_DONE, 1,
		    "SELECT count(*) FROM t WHERE k = '6' AND a = 'y'"},
		/* the same key again: ignored, the first row stays */
		{"{\"k\":\"1\",\"a\":\"other\"}", SQLITE_DONE, 0,
		    "SELECT count(*) FROM t WHERE k = '1' AND a = 'x'"},
		/* a name that is SQL: compared, never put into the statement */
		{"{\"a) VALUES(1); DROP TABLE t; --\":1}", SQLITE_MISMATCH, 1,
		    "SELECT count(*) = 6 FROM t"},
		{"{\"k\\\"\":1}", SQLITE_MISMATCH, 1, NULL},
		{"{}", SQLITE_MISMATCH, 0, NULL},
		{"[1,2]", SQLITE_MISMATCH, 0, NULL},
		{"{\"k\":\"7\",\"a\":{\"t\":\"f\"}}", SQLITE_MISMATCH, 0, NULL},   /* odd hex */
		{"{\"k\":\"7\",\"a\":{\"t\":\"zz\"}}", SQLITE_MISMATCH, 0, NULL},  /* not hex */
		{"{\"k\":\"7\",\"a\":{\"t\":\"AB\"}}", SQLITE_MISMATCH, 0, NULL},  /* upper case */
		{"{\"k\":\"7\",\"a\":{\"t\":1}}", SQLITE_MISMATCH, 0, NULL},
		{"{\"k\":\"7\",\"a\":{\"t\":\"00\",\"x\":\"00\"}}", SQLITE_MISMATCH, 0, NULL},
		{"{\"k\":\"7\",\"a\":{\"q\":\"00\"}}", SQLITE_MISMATCH, 0, NULL},
		{"{\"k\":\"7\",\"a\":[\"x\"]}", SQLITE_MISMATCH, 0, NULL},
		{"{\"k\":\"7\",\"a\":true}", SQLITE_MISMATCH, 0, NULL},
	};
	sqlite3 *db = nr_db();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *row = json_loads(cases[i].json, 0, NULL);
		size_t unknown = 0;
		int rc = natsrow_insert(db, "t", row, &unknown);
		CHECK(rc == cases[i].rc, "%s: rc %d, want %d", cases[i].json, rc, cases[i].rc);
		CHECK(unknown == cases[i].unknown, "%s: %zu unknown", cases[i].json, unknown);
		if (cases[i].check)
			CHECK(nr_count(db, cases[i].check) == 1, "%s: %s", cases[i].json, cases[i].check);
		json_decref(row);
	}
	CHECK(nr_count(db, "SELECT count(*) FROM t WHERE k = '7'") == 0, "a bad row was stored");
	sqlite3_close(db);
}

/* A row encoded and inserted elsewhere is the same row, byte for byte. */
static void nr_round_trip(void)
{
	sqlite3 *db = nr_db();
	sqlite3_stmt *q;
	json_t *row;
	size_t unknown = 0;

	sqlite3_exec(db, "CREATE TABLE u (k TEXT PRIMARY KEY, a TEXT, b INTEGER, c BLOB, d REAL);"
	    "INSERT INTO t VALUES ('r', CAST(x'80ff0041' AS TEXT), -9007199254740993, "
	    "x'000102ff', 0.1);"
	    "INSERT INTO t VALUES ('s', 'caf\xc3\xa9 \"q\" \\\\', NULL, NULL, NULL);",
	    NULL, NULL, NULL);
	sqlite3_prepare_v2(db, "SELECT * FROM t", -1, &q, NULL);
	while (sqlite3_step(q) == SQLITE_ROW) {
		row = natsrow_encode(q);
		char *text = json_dumps(row, JSON_COMPACT);
		json_decref(row);
		/* through its text, as the stream carries it */
		row = json_loads(text, 0, NULL);
		CHECK(row != NULL, "the encoding does not parse: %s", text ? text : "(null)");
		CHECK(natsrow_insert(db, "u", row, &unknown) == SQLITE_DONE, "%s", text);
		json_decref(row);
		free(text);
	}
	sqlite3_finalize(q);
	CHECK(nr_count(db, "SELECT count(*) FROM (SELECT k, typeof(a), hex(CAST(a AS BLOB)), b, "
	    "typeof(c), hex(c), d FROM t EXCEPT SELECT k, typeof(a), hex(CAST(a AS BLOB)), b, "
	    "typeof(c), hex(c), d FROM u)") == 0, "rows differ after the round trip");
	CHECK(nr_count(db, "SELECT count(*) FROM u") == 2, "rows missing");
	CHECK(unknown == 0, "%zu unknown", unknown);
	sqlite3_close(db);
}

static void nr_unhex(void)
{
	unsigned char out[8];

	CHECK(natsrow_unhex("", 0, out) == 0, "empty");
	CHECK(natsrow_unhex("0a", 2, out) == 1 && out[0] == 0x0a, "0a");
	CHECK(natsrow_unhex("0", 1, out) == -1, "odd");
	CHECK(natsrow_unhex("0g", 2, out) == -1, "g");
	CHECK(natsrow_unhex("ffee", 4, out) == 2 && out[0] == 0xff && out[1] == 0xee, "ffee");
}

/* What collect checks in a message's headers and rows before writing:
 * hostile values each way. */
static void nr_headers(void)
{
	static const struct {
		const char *s;
		long long lo, hi;
		bool ok;
		long long want;
	} nums[] = {
		{"0", 0, 10, true, 0}, {"10", 0, 10, true, 10}, {"11", 0, 10, false, 0},
		{"-1", 0, 10, false, 0}, {"-1", -5, 5, true, -1}, {"", 0, 10, false, 0},
		{" 1", 0, 10, false, 0}, {"1 ", 0, 10, false, 0}, {"+1", 0, 10, false, 0},
		{"1x", 0, 10, false, 0}, {"0x10", 0, 100, false, 0}, {"-", -5, 5, false, 0},
		{"9223372036854775807", 0, 1LL << 40, false, 0},
		{"99999999999999999999", 0, 9223372036854775807LL, false, 0},
		{"1073741824", 2, 1LL << 30, true, 1LL << 30}, {NULL, 0, 10, false, 0},
	};
	static const struct {
		const char *s;
		bool ok;
	} times[] = {
		{"2026-11-28T04:18:11.123Z", true}, {"2026-11-28T04:18:11Z", true},
		{"2026-11-28T04:18:11.986673Z", true}, {"2026-11-28T04:18:11+01:00", true},
		{"2026-11-28 04:18:11", false}, {"x", false}, {"", false}, {NULL, false},
		{"2026-11-28T04:18:1", false}, {"2026-11-28T04:18:11<script>", false},
		{"2026-11-28T04:18:11.0000000000000000000000Z", false},
		{"aaaa-11-28T04:18:11Z", false},
	};
	static const struct {
		const char *json;
		int rc;
	} rows[] = {
		{"null", 0}, {"[]", 0}, {"[{\"session\":\"s1\",\"seq\":1}]", 0},
		{"[{\"session\":\"s1\"},{\"session\":\"s2\"}]", 1},
		{"[{\"seq\":1}]", 1}, {"[{\"session\":{\"t\":\"7331\"}}]", 1},
		{"[{\"session\":null}]", 1}, {"[1]", -1}, {"[\"s1\"]", -1}, {"{}", -1},
		{"\"s1\"", -1},
	};
	long long v;

	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		v = -7;
		bool ok = natsrow_number(nums[i].s, nums[i].lo, nums[i].hi, &v);
		CHECK(ok == nums[i].ok && (!ok || v == nums[i].want), "number '%s'",
		    nums[i].s ? nums[i].s : "(null)");
	}
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
		CHECK(natsrow_is_time(times[i].s) == times[i].ok, "time '%s'",
		    times[i].s ? times[i].s : "(null)");
	CHECK(natsrow_is_sha("35c9cc0e8b3ea3b5f0c9a5b8b1c9e0e4d7a1f6e3b2c1d0e9f8a7b6c5d4e3f2a1"), "sha");
	CHECK(!natsrow_is_sha("35C9CC0E8B3EA3B5F0C9A5B8B1C9E0E4D7A1F6E3B2C1D0E9F8A7B6C5D4E3F2A1"), "SHA");
	CHECK(!natsrow_is_sha("35c9cc"), "short");
	CHECK(!natsrow_is_sha("35c9cc0e8b3ea3b5f0c9a5b8b1c9e0e4d7a1f6e3b2c1d0e9f8a7b6c5d4e3f2a1/"), "long");
	CHECK(!natsrow_is_sha(NULL), "null");
	CHECK(natsrow_own_rows(NULL, "s1") == 0, "absent");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *r = json_loads(rows[i].json, JSON_DECODE_ANY, NULL);
		CHECK(r && natsrow_own_rows(r, "s1") == rows[i].rc, "rows %s", rows[i].json);
		json_decref(r);
	}
}

void test_natsrow(int *passed, int *failed)
{
	nr_passed = passed;
	nr_failed = failed;
	nr_table();
	nr_round_trip();
	nr_unhex();
	nr_headers();
}
