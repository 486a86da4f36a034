/* store.h - the SQLite database: schema, versioning, batched inserts. */
#ifndef FLYPAPER_STORE_H
#define FLYPAPER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "sink.h"

#define STORE_SCHEMA_VERSION 9

struct store;
struct sqlite3;
struct sqlite3_stmt;

/* Opens (creating if needed) the database at path in WAL mode, creates or
 * upgrades the schema inside one IMMEDIATE transaction so concurrent inetd
 * children and a daemon can start at once. busy_ms is the lock wait.
 * The files must be the effective user's, in a folder no one else can
 * write (state_prepare_db). Returns the store, or NULL with a message in
 * err. */
struct store *store_open(const char *path, const char *sensor, int busy_ms,
    char *err, size_t errlen);

/* Writes every RECORD_CLOSED record of list (payload first, once per
 * distinct digest) and applies every RECORD_CLASSIFIED one (the session's
 * family, tags, class_state and matches) in one transaction. Returns 0, or the SQLite error code
 * with the transaction rolled back; the records are left untouched either
 * way so the caller may retry. */
int store_write(struct store *st, const struct record *list);

/* Records that a rule matched a session's payload (replacing an earlier
 * row for the same rule). Returns 0 or the SQLite error code. */
int store_insert_match(struct store *st, const char *session, const char *rule,
    const char *tags);

/* The connection, for commands that query it directly (rescan). */
struct sqlite3 *store_db(struct store *st);

/* Records one run's counters. Returns 0 or the SQLite error code. */
int store_write_run(struct store *st, const struct sink_run *run);

/* True for errors that may pass (locked, busy, disk full, I/O): retry. */
bool store_error_transient(int rc);

/* Copies the WAL into the database and truncates it, giving its space
 * back: the one way a full disk gets room for more records. Returns 0 or
 * the SQLite error code. */
int store_checkpoint(struct store *st);

/* True when rc says the disk (or the database's size limit) is full. */
bool store_error_full(int rc);

/* The last error message of the connection. */
const char *store_errmsg(struct store *st);

/* Finalises statements and closes the connection. NULL is allowed. */
void store_close(struct store *st);

/* For the commands that read databases someone else may have written
 * (report, yield): opens path read-only, or, with path NULL, an empty
 * in-memory database to ATTACH read-only ones to with store_attach_ro, in
 * SQLite's defensive mode with the schema untrusted (a forged database's
 * views and triggers cannot call functions with side effects). Returns
 * SQLITE_OK and the handle in *db (the caller closes it either way). */
int store_open_untrusted(const char *path, struct sqlite3 **db);

/* Column i of q's current row as display text (text_display_into) in out,
 * read only as far as the database says the value is long, whatever its
 * type. Returns out, or NULL when the value is NULL (out then holds ""). */
const char *store_column_display(struct sqlite3_stmt *q, int i, char *out,
    size_t outlen);

/* ATTACHes the database at path read-only as schema name (an identifier
 * the caller chose). Returns SQLITE_OK or SQLite's error code. */
int store_attach_ro(struct sqlite3 *db, const char *path, const char *name);

#endif
