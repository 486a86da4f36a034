/* yield.h - the "flypaper yield" command: the strategy experiment's table. */
#ifndef FLYPAPER_YIELD_H
#define FLYPAPER_YIELD_H

#include <jansson.h>
#include <sqlite3.h>

/* One strategy's row of the table. */
struct yield_row {
	char strategy[64];           /* display text (text_display_into), maybe cut */
	sqlite3_value *key;          /* the strategy as stored, whatever its type */
	long long sessions, sources, with_payload, answered, dropped;
	double median_first_byte_ms; /* -1: no session sent a byte */
};

/* Reads the per-strategy table of the sessions (table or view) reachable
 * from db, since a UTC timestamp prefix, into *rows and *nrows. Returns
 * SQLITE_OK or SQLite's error; the caller frees the rows with
 * yield_free_rows, also on error. */
int yield_collect(sqlite3 *db, const char *since, struct yield_row **rows,
    int *nrows);

void yield_free_rows(struct yield_row *rows, int n);

/* The share of a row's sessions that sent a payload, 0..1. */
double yield_payload_share(const struct yield_row *r);

/* The share of its answered sessions the peer left within 1 s of
 * flypaper's first byte, 0..1; -1 when none was answered. */
double yield_dropped_share(const struct yield_row *r);

/* The rows as a JSON array (the caller owns it). */
json_t *yield_rows_json(const struct yield_row *rows, int n);

/* Prints the per-strategy table from a database. Returns the exit status:
 * 0, or 2 for bad arguments or an unreadable database. */
int yield_main(int argc, char **argv);

#endif
