/* natsrow.h - a database row as JSON and back, column by column, for the
 * NATS shipper (sink_nats.c) and flypaper collect: what a sensor ships is
 * its rows, so the central database gets the same rows, byte for byte,
 * whatever columns the schema grows. */
#ifndef FLYPAPER_NATSROW_H
#define FLYPAPER_NATSROW_H

#include <jansson.h>
#include <stdbool.h>
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

/* Whether rows (a message's "requests" or "matches": an array, or absent
 * or null) all belong to session id. Returns 0 when they do, 1 when a row
 * names another session or none, -1 when rows is not an array of
 * objects. */
int natsrow_own_rows(json_t *rows, const char *id);

/* A header's decimal integer: all of s (an optional '-' then digits, no
 * spaces), within lo..hi, into *out. NULL is false. */
bool natsrow_number(const char *s, long long lo, long long hi, long long *out);

/* Whether s is 64 lowercase hex digits (a SHA-256 as the sensors write it). */
bool natsrow_is_sha(const char *s);

/* Whether s has the shape of a stored timestamp (2026-11-28T04:18:11.123Z:
 * date, 'T', time, then at most digits . : + - Z; 40 characters at most),
 * so that claimed times compare as times. The shape only, not the
 * calendar. */
bool natsrow_is_time(const char *s);

#endif
