/* yield.h - the "flypaper yield" command: the strategy experiment's table. */
#ifndef FLYPAPER_YIELD_H
#define FLYPAPER_YIELD_H

#include <jansson.h>
#include <sqlite3.h>

/* The per-strategy table of the sessions (table or view) reachable from db,
 * since a UTC timestamp prefix, as a JSON array (caller owns it), or NULL
 * when the query fails. */
json_t *yield_table(sqlite3 *db, const char *since);

/* Prints the per-strategy table from a database. Returns the exit status:
 * 0, or 2 for bad arguments or an unreadable database. */
int yield_main(int argc, char **argv);

#endif
