/* store.c - flypaper's SQLite schema and the writer's transactions. */
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store {
	sqlite3 *db;
	char *sensor;
	sqlite3_stmt *insert_payload;
	sqlite3_stmt *insert_session;
	sqlite3_stmt *insert_run;
};

/* Version 1. Later versions append their own statements; a database is
 * brought forward one step at a time inside the opening transaction. */
static const char store_schema_v1[] =
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL);"
	"CREATE TABLE payloads ("
	"  sha256 TEXT PRIMARY KEY,"           /* hex of data */
	"  size INTEGER NOT NULL,"
	"  data BLOB NOT NULL,"
	"  first_seen TEXT NOT NULL);"
	"CREATE TABLE sessions ("
	"  session TEXT PRIMARY KEY,"          /* 16 hex chars */
	"  sensor TEXT NOT NULL,"
	"  start_ts TEXT NOT NULL,"
	"  end_ts TEXT NOT NULL,"
	"  src_ip TEXT NOT NULL,"
	"  src_port INTEGER NOT NULL,"
	"  dst_ip TEXT NOT NULL,"
	"  dst_port INTEGER NOT NULL,"
	"  bytes_in INTEGER NOT NULL,"
	"  bytes_out INTEGER NOT NULL,"
	"  first_byte_ms INTEGER,"             /* NULL: the peer sent nothing */
	"  duration_ms INTEGER NOT NULL,"
	"  close_reason TEXT NOT NULL CHECK (close_reason IN ('peer_fin','peer_rst',"
	"    'idle_timeout','session_timeout','server_close','capacity','shutdown')),"
	"  payload_sha256 TEXT,"               /* NULL: no payload */
	"  truncated INTEGER NOT NULL,"
	"  payload_lost INTEGER NOT NULL DEFAULT 0,"
	"  mode TEXT NOT NULL);"
	"CREATE INDEX sessions_start ON sessions(start_ts);"

	"CREATE TABLE runs ("
	"  sensor TEXT NOT NULL,"
	"  mode TEXT NOT NULL,"
	"  started TEXT NOT NULL,"
	"  ended TEXT NOT NULL,"
	"  sessions INTEGER NOT NULL,"
	"  refused INTEGER NOT NULL,"
	"  accept_errors INTEGER NOT NULL,"
	"  payloads_dropped INTEGER NOT NULL,"
	"  records_dropped INTEGER NOT NULL,"
	"  store_errors INTEGER NOT NULL,"
	"  records_lost INTEGER NOT NULL,"
	"  jsonl_errors INTEGER NOT NULL);"
	"INSERT INTO meta(key, value) VALUES ('schema_version', '1');";

static int store_fail(struct store *st, char *err, size_t errlen,
    const char *what)
{
	snprintf(err, errlen, "%s: %s", what,
	    st->db ? sqlite3_errmsg(st->db) : "out of memory");
	return -1;
}

/* Reads the schema version: 0 when the database is new. */
static int store_version(struct store *st, int *version)
{
	sqlite3_stmt *q;
	int rc;

	*version = 0;
	rc = sqlite3_prepare_v2(st->db,
	    "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'",
	    -1, &q, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(q);
	int has_meta = rc == SQLITE_ROW && sqlite3_column_int(q, 0) > 0;
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW)
		return rc;
	if (!has_meta)
		return SQLITE_OK;
	rc = sqlite3_prepare_v2(st->db,
	    "SELECT value FROM meta WHERE key='schema_version'", -1, &q, NULL);
	if (rc != SQLITE_OK)
		return rc;
	if (sqlite3_step(q) == SQLITE_ROW)
		*version = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return SQLITE_OK;
}

static int store_migrate(struct store *st, char *err, size_t errlen)
{
	int version;
	int rc;

	/* The common case, a current schema, needs only a read: many inetd
	 * children opening at once must not queue for the write lock. */
	if (store_version(st, &version) == SQLITE_OK &&
	    version == STORE_SCHEMA_VERSION)
		return 0;
	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(st, err, errlen, "cannot lock the database");
	rc = store_version(st, &version);
	if (rc != SQLITE_OK)
		goto fail;
	if (version > STORE_SCHEMA_VERSION) {
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		snprintf(err, errlen,
		    "schema version %d is newer than this flypaper knows (%d)",
		    version, STORE_SCHEMA_VERSION);
		return -1;
	}
	if (version < 1 &&
	    sqlite3_exec(st->db, store_schema_v1, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	store_fail(st, err, errlen, "cannot create the schema");
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

struct store *store_open(const char *path, const char *sensor, int busy_ms,
    char *err, size_t errlen)
{
	struct store *st = calloc(1, sizeof(*st));

	if (!st) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* Memory statistics cost a global mutex on every allocation; flypaper
	 * never reads them. Fails harmlessly once SQLite is initialised. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	st->sensor = strdup(sensor);
	if (!st->sensor) {
		snprintf(err, errlen, "out of memory");
		goto err;
	}
	if (sqlite3_open_v2(path, &st->db,
	        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	        NULL) != SQLITE_OK) {
		store_fail(st, err, errlen, "cannot open");
		goto err;
	}
	sqlite3_busy_timeout(st->db, busy_ms);
	/* The last connection to close would checkpoint the WAL and delete
	 * it: every inetd child would pay for a full checkpoint. Checkpoints
	 * happen as the WAL grows instead (every 1000 pages). */
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	/* WAL lets readers (sqlite3, reports) work while the writer writes,
	 * and lets many inetd children append one after another cheaply;
	 * NORMAL syncs at checkpoints, not at every commit. */
	if (sqlite3_exec(st->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(st->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
		store_fail(st, err, errlen, "cannot set WAL mode");
		goto err;
	}
	if (store_migrate(st, err, errlen) < 0)
		goto err;
	if (sqlite3_prepare_v3(st->db,
	        "INSERT OR IGNORE INTO payloads(sha256, size, data, first_seen) "
	        "VALUES (?1, ?2, ?3, ?4)",
	        -1, SQLITE_PREPARE_PERSISTENT, &st->insert_payload, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(st->db,
	        "INSERT INTO sessions(session, sensor, start_ts, end_ts, src_ip, "
	        "src_port, dst_ip, dst_port, bytes_in, bytes_out, first_byte_ms, "
	        "duration_ms, close_reason, payload_sha256, truncated, "
	        "payload_lost, mode) VALUES "
	        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
	        "?15, ?16, ?17)",
	        -1, SQLITE_PREPARE_PERSISTENT, &st->insert_session, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(st->db,
	        "INSERT INTO runs(sensor, mode, started, ended, sessions, refused, "
	        "accept_errors, payloads_dropped, records_dropped, store_errors, "
	        "records_lost, jsonl_errors) VALUES "
	        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	        -1, SQLITE_PREPARE_PERSISTENT, &st->insert_run, NULL) != SQLITE_OK) {
		store_fail(st, err, errlen, "cannot prepare statements");
		goto err;
	}
	return st;
err:
	store_close(st);
	return NULL;
}

static int store_step(sqlite3_stmt *stmt)
{
	int rc = sqlite3_step(stmt);

	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int store_insert(struct store *st, const struct record *r)
{
	static const char *const mode_names[] = {"serve", "inetd"};
	char id[RECORD_ID_LEN], start[RECORD_TS_LEN], end[RECORD_TS_LEN];
	char src[ADDR_TEXT_LEN], dst[ADDR_TEXT_LEN], sha[RECORD_SHA256_HEX];
	sqlite3_stmt *s;
	int rc;

	record_id_hex(r->id, id);
	record_format_ts(&r->start_wall, start);
	record_format_ts(&r->end_wall, end);
	addr_ip(&r->src, src, sizeof(src));
	addr_ip(&r->dst, dst, sizeof(dst));
	if (r->payload_len)
		record_sha256_hex(r->sha256, sha);

	if (r->payload) {
		s = st->insert_payload;
		sqlite3_bind_text(s, 1, sha, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)r->payload_len);
		sqlite3_bind_blob64(s, 3, r->payload, r->payload_len, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, end, -1, SQLITE_STATIC);
		rc = store_step(s);
		if (rc != SQLITE_OK)
			return rc;
	}
	s = st->insert_session;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, st->sensor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, start, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, end, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, src, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 6, addr_port(&r->src));
	sqlite3_bind_text(s, 7, dst, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 8, addr_port(&r->dst));
	sqlite3_bind_int64(s, 9, (sqlite3_int64)r->bytes_in);
	sqlite3_bind_int64(s, 10, (sqlite3_int64)r->bytes_out);
	if (r->first_byte_ms >= 0)
		sqlite3_bind_int64(s, 11, r->first_byte_ms);
	sqlite3_bind_int64(s, 12, r->duration_ms);
	sqlite3_bind_text(s, 13, record_reason_name(r->reason), -1, SQLITE_STATIC);
	/* A lost payload keeps its digest: the session says what it carried
	 * even though the bytes could not be kept. */
	if (r->payload_len)
		sqlite3_bind_text(s, 14, sha, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 15, r->truncated);
	sqlite3_bind_int(s, 16, r->payload_lost);
	sqlite3_bind_text(s, 17, mode_names[r->mode], -1, SQLITE_STATIC);
	return store_step(s);
}

int store_write(struct store *st, const struct record *list)
{
	int rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return rc;
	for (const struct record *r = list; r; r = r->next) {
		if (r->kind != RECORD_CLOSED)
			continue;
		rc = store_insert(st, r);
		if (rc != SQLITE_OK)
			goto fail;
	}
	rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		return 0;
fail:
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int store_write_run(struct store *st, const struct store_run *run)
{
	char started[RECORD_TS_LEN], ended[RECORD_TS_LEN];
	sqlite3_stmt *s = st->insert_run;

	record_format_ts(&run->started, started);
	record_format_ts(&run->ended, ended);
	sqlite3_bind_text(s, 1, st->sensor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, run->mode, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, started, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, ended, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)run->sessions);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)run->refused);
	sqlite3_bind_int64(s, 7, (sqlite3_int64)run->accept_errors);
	sqlite3_bind_int64(s, 8, (sqlite3_int64)run->payloads_dropped);
	sqlite3_bind_int64(s, 9, (sqlite3_int64)run->records_dropped);
	sqlite3_bind_int64(s, 10, (sqlite3_int64)run->store_errors);
	sqlite3_bind_int64(s, 11, (sqlite3_int64)run->records_lost);
	sqlite3_bind_int64(s, 12, (sqlite3_int64)run->jsonl_errors);
	return store_step(s);
}

bool store_error_transient(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_PROTOCOL:
		return true;
	default:
		return false;
	}
}

int store_checkpoint(struct store *st)
{
	return sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
	    NULL, NULL);
}

bool store_error_full(int rc)
{
	return (rc & 0xff) == SQLITE_FULL;
}

const char *store_errmsg(struct store *st)
{
	return sqlite3_errmsg(st->db);
}

void store_close(struct store *st)
{
	if (!st)
		return;
	sqlite3_finalize(st->insert_payload);
	sqlite3_finalize(st->insert_session);
	sqlite3_finalize(st->insert_run);
	sqlite3_close(st->db);
	free(st->sensor);
	free(st);
}
