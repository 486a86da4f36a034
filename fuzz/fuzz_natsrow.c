/* fuzz_natsrow.c - libFuzzer target for what flypaper collect reads from
 * the stream (natsrow.c): the input is a message's JSON; its "session"
 * member (or the whole input) is inserted into an in-memory table shaped
 * like a few of sessions' columns, and each of "requests" into another.
 * Nothing may crash, leak or alter the tables' shape; a stored row must
 * come back out through natsrow_encode. The header checks (numbers,
 * timestamps, SHA-256) read the input as text, and the ownership check
 * its rows against the session's id. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "natsrow.h"

static sqlite3 *db;

static void fz_setup(void)
{
	sqlite3_open(":memory:", &db);
	sqlite3_exec(db, "CREATE TABLE sessions (session TEXT PRIMARY KEY, sensor TEXT, "
	    "bytes_in INTEGER, tls_hello BLOB, score REAL);"
	    "CREATE TABLE requests (session TEXT NOT NULL, seq INTEGER NOT NULL, "
	    "headers BLOB, PRIMARY KEY (session, seq)) WITHOUT ROWID;", NULL, NULL, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *msg, *row, *reqs, *r;
	size_t unknown = 0, i;
	sqlite3_stmt *q;

	if (!db)
		fz_setup();
	char *text = malloc(size + 1);
	long long n;
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	if (natsrow_number(text, -5, 1LL << 40, &n) && (n < -5 || n > 1LL << 40))
		abort();
	if (natsrow_is_time(text) && strlen(text) > 40)
		abort();
	if (natsrow_is_sha(text) && strlen(text) != 64)
		abort();
	free(text);
	if (!(msg = json_loadb((const char *)data, size, 0, NULL)))
		return 0;
	row = json_object_get(msg, "session");
	natsrow_insert(db, "sessions", row ? row : msg, &unknown);
	const char *id = json_string_value(json_object_get(row, "session"));
	int own = natsrow_own_rows(json_object_get(msg, "requests"), id ? id : "");
	if (own < -1 || own > 1)
		abort();
	reqs = json_object_get(msg, "requests");
	if (json_is_array(reqs))
		json_array_foreach(reqs, i, r)
			natsrow_insert(db, "requests", r, &unknown);
	json_decref(msg);
	/* the tables keep their shape, and what is stored encodes again */
	if (sqlite3_prepare_v2(db, "SELECT * FROM sessions", -1, &q, NULL) != SQLITE_OK)
		abort();
	while (sqlite3_step(q) == SQLITE_ROW) {
		json_t *back = natsrow_encode(q);
		if (!back || json_object_size(back) != 5)
			abort();
		json_decref(back);
	}
	sqlite3_finalize(q);
	sqlite3_exec(db, "DELETE FROM sessions; DELETE FROM requests", NULL, NULL, NULL);
	return 0;
}
