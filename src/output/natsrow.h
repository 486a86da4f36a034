/* natsrow.h - a database row as JSON and back, column by column, for the
 * NATS shipper (sink_nats.c) and flypaper collect: what a sensor ships is
 * its rows, so the central database gets the same rows, byte for byte,
 * whatever columns the schema grows. */
#ifndef FLYPAPER_NATSROW_H
#define FLYPAPER_NATSROW_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>

/* The format's version, the "v" of every session message. */
#define NATSROW_VERSION 1

/* Most columns a table may have that natsrow_insert writes. */
#define NATSROW_MAX_COLUMNS 256

/* The current row of st as an object: column name -> value. Integers,
 * reals and NULL as themselves; text that is UTF-8 as a string, text that
 * is not as {"t": hex}; blobs as {"x": hex}. Returns a new reference, or
 * NULL when out of memory. */
json_t *natsrow_encode(sqlite3_stmt *st);

/* Inserts row (natsrow_encode's form) into table of db with INSERT OR
 * IGNORE, writing only the members that name a column the table has
 * (names are matched, never put into SQL as given); *unknown counts the
 * others. table must be a trusted name. Returns an SQLite result code:
 * SQLITE_DONE when inserted or ignored as already there, SQLITE_MISMATCH
 * for a value of no known form. */
int natsrow_insert(sqlite3 *db, const char *table, json_t *row, size_t *unknown);

/* Bytes from hex text of len characters into out (room for len / 2).
 * Returns the byte count, or -1 if it is not even-length hex. */
long natsrow_unhex(const char *hex, size_t len, unsigned char *out);

#endif
