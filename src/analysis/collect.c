/* collect.c - "flypaper collect": a durable JetStream pull consumer that
 * writes every sensor's sessions, requests, matches and payloads into one
 * central database of the same schema, idempotently (INSERT OR IGNORE on
 * the session id, payloads by SHA-256), and acknowledges each message
 * only after the transaction that holds it committed. A kill -9 between
 * commit and ack redelivers what is already there: ignored. The messages
 * are sink_nats.c's: a session with its requests and matches as rows
 * (natsrow.h), a payload as its raw bytes with headers, either in chunks
 * when it is larger than the server's max_payload.
 *
 * Whoever can publish on the stream's subjects is hostile: a message that
 * cannot be applied for a reason redelivery will not change (its form, a
 * size over the caps, a SHA-256 mismatch, a sensor on another subject than
 * its own, a row of another session, a session id of another sensor) is
 * rolled back to its own SAVEPOINT, terminated (never redelivered) and
 * counted; the rest of its batch commits. Only a failure of the database
 * itself (busy, full, I/O) rolls the batch back for redelivery. DESIGN.md,
 * Fleet. */
#include "collect.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nats_api.h"
#include "natsrow.h"
#include "options.h"
#include "record.h"
#include "store.h"

#define COLLECT_FETCH_MS 1000        /* a fetch waits this long for messages */
#define COLLECT_RETRY_MS 1000        /* after a failed transaction or fetch */
#define COLLECT_BUSY_MS 10000        /* readers (report) hold the lock at most this */
/* A fetch holds at most this many bytes of messages: the largest message a
 * server can take (max_payload is at most 64 MiB) and its headers, so one
 * message always fits and a batch of big ones does not multiply it. */
#define COLLECT_FETCH_BYTES ((64LL << 20) + (64 << 10))
#define COLLECT_SUBJECT_MAX 255      /* longer subjects and sensor names are refused */
#define COLLECT_SWEEP_MS 60000       /* incomplete chunk sets are looked for this often */
#define COLLECT_PAYLOAD_MAX 1000000000ULL /* SQLite's default largest blob */

struct collect_args {
	const char *nats;
	const char *db;
	const char *durable;
	const char *stream;
	const char *subjects;
	const char *creds;
	const char *tls_ca;
	int replicas;
	int batch;
	uint64_t window_ms;
	size_t max_payload;
	size_t stream_max_bytes;
	uint64_t chunk_age_ms;
};

static const struct option_row collect_options[] = {
	{.name = "nats", .type = OPTION_ARG, .field = offsetof(struct collect_args, nats),
	    .metavar = "URL[,URL]", .help = "the NATS servers (required)"},
	{.name = "db", .type = OPTION_ARG, .field = offsetof(struct collect_args, db),
	    .metavar = "FILE", .help = "the central database; default ./fleet.db"},
	{.name = "durable", .type = OPTION_ARG, .field = offsetof(struct collect_args, durable),
	    .metavar = "NAME", .help = "the durable consumer's name; default flypaper-collect"},
	{.name = "stream", .type = OPTION_ARG, .field = offsetof(struct collect_args, stream),
	    .metavar = "NAME", .help = "the JetStream stream, made if missing; default FLYPAPER"},
	{.name = "subjects", .type = OPTION_ARG, .field = offsetof(struct collect_args, subjects),
	    .metavar = "SUBJECT", .help = "the stream's subjects when made; default flypaper.>"},
	{.name = "replicas", .type = OPTION_INT, .field = offsetof(struct collect_args, replicas),
	    .min = 1, .max = 5, .metavar = "N",
	    .help = "the stream's replicas when made, 1..5; default 1"},
	{.name = "duplicate-window", .type = OPTION_DURATION,
	    .field = offsetof(struct collect_args, window_ms), .min = 1000,
	    .max = 7ULL * 24 * 3600 * 1000, .metavar = "DUR",
	    .help = "the stream's Nats-Msg-Id window when made, 1s..7d; default 1h"},
	{.name = "stream-max-bytes", .type = OPTION_SIZE,
	    .field = offsetof(struct collect_args, stream_max_bytes), .min = 0,
	    .max = 1ULL << 40, .metavar = "SIZE",
	    .help = "the stream's size when made (full: publishes fail, sensors keep their "
	    "backlog), 0 = no limit (the disk); default 0"},
	{.name = "batch", .type = OPTION_INT, .field = offsetof(struct collect_args, batch),
	    .min = 1, .max = 4096, .metavar = "N",
	    .help = "messages fetched and committed together, 1..4096; default 256"},
	{.name = "max-payload", .type = OPTION_SIZE,
	    .field = offsetof(struct collect_args, max_payload), .min = 1024,
	    .max = COLLECT_PAYLOAD_MAX, .metavar = "SIZE",
	    .help = "the largest chunked payload or session joined, 1k..1G; default 64M"},
	{.name = "chunk-max-age", .type = OPTION_DURATION,
	    .field = offsetof(struct collect_args, chunk_age_ms), .min = 1000,
	    .max = 7ULL * 24 * 3600 * 1000, .metavar = "DUR",
	    .help = "incomplete chunk sets older than this are deleted, 1s..7d; default 1h"},
	{.name = "nats-creds", .type = OPTION_ARG, .field = offsetof(struct collect_args, creds),
	    .metavar = "FILE", .help = "NATS user credentials (JWT and NKey seed)"},
	{.name = "nats-tls-ca", .type = OPTION_ARG, .field = offsetof(struct collect_args, tls_ca),
	    .metavar = "FILE", .help = "connect with TLS, trusting these CA certificates"},
};

static void collect_usage(FILE *out)
{
	fprintf(out, "usage: flypaper collect --nats URL[,URL] [--db FILE] [--durable NAME]\n"
	    "       [--stream NAME] [--subjects SUBJECT] [--replicas N]\n"
	    "       [--duplicate-window DUR] [--stream-max-bytes SIZE] [--batch N]\n"
	    "       [--max-payload SIZE] [--chunk-max-age DUR]\n"
	    "       [--nats-creds FILE] [--nats-tls-ca FILE]\n"
	    "Writes the sessions, payloads, requests and matches that sensors\n"
	    "(serve --nats) ship into one central database, until SIGINT or SIGTERM.\n");
}

static atomic_bool collect_stop;

static void collect_on_signal(int sig)
{
	(void)sig;
	atomic_store(&collect_stop, true);
}

/* Why a message was refused: each counted, the first of each logged. */
enum collect_why {
	WHY_NONE,
	WHY_FORM,
	WHY_SIZE,
	WHY_SHA,
	WHY_SUBJECT,
	WHY_CHILD,
	WHY_CONFLICT,
	WHY_DB,
	WHY_EXPIRED,
	WHY_COUNT
};

static const char *const collect_why_text[WHY_COUNT] = {
	[WHY_FORM] = "not a flypaper message of this version (kind, headers, JSON, a value)",
	[WHY_SIZE] = "a size over the caps, or not the bytes' own",
	[WHY_SHA] = "bytes that do not match their SHA-256",
	[WHY_SUBJECT] = "a sensor's session on another subject than the one it is bound to",
	[WHY_CHILD] = "a requests or matches row of another session than its message's",
	[WHY_CONFLICT] = "a session id already stored for another sensor",
	[WHY_DB] = "refused by the database for this message alone (too big, a constraint)",
	[WHY_EXPIRED] = "an incomplete chunk set older than --chunk-max-age",
};

static const char *const collect_why_name[WHY_COUNT] = {
	[WHY_FORM] = "form", [WHY_SIZE] = "size", [WHY_SHA] = "sha256",
	[WHY_SUBJECT] = "subject", [WHY_CHILD] = "child row", [WHY_CONFLICT] = "conflict",
	[WHY_DB] = "database", [WHY_EXPIRED] = "expired chunk sets",
};

/* A chunk set, the key of its rows in nats_chunks. */
struct collect_set {
	const char *kind;
	char subject[COLLECT_SUBJECT_MAX + 1];
	char sha[65];
	long count;
};

struct collect {
	sqlite3 *db;
	size_t max_payload;
	uint64_t max_age_s;
	uint64_t sessions, payloads, dup, chunks;
	size_t unknown_columns;
	uint64_t refused[WHY_COUNT];
	struct collect_set drop;     /* a set to delete once its message is rolled back */
	bool drop_pending;
};

/* An SQLite result as a refusal: 0 when done, WHY_* when the database
 * refused this message alone (so redelivery would not help), -1 when it
 * failed for every message (busy, full, I/O, a prepare): then the batch
 * waits and comes again. */
static int collect_db(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_MISMATCH:
		return WHY_FORM;
	case SQLITE_TOOBIG:
	case SQLITE_CONSTRAINT:
	case SQLITE_RANGE:
		return WHY_DB;
	default:
		return -1;
	}
}

/* Whether data hashes to the hex sha: what a sensor stored is what the
 * central database keeps, byte for byte. */
static bool collect_sha_ok(const void *data, size_t len, const char *sha)
{
	char hex[RECORD_SHA256_HEX];

	record_sha256_text(data, len, hex);
	return strcmp(hex, sha) == 0;
}

/* Runs sql with text ?1 (and ?2 when b): the first column of its first
 * row as an integer into *out (when out), 0 if no row. Returns an SQLite
 * code. */
static int collect_exec(struct collect *c, const char *sql, const char *a, const char *b,
    long long *out)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);

	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(s, 1, a, -1, SQLITE_STATIC);
	if (b)
		sqlite3_bind_text(s, 2, b, -1, SQLITE_STATIC);
	if (out)
		*out = 0;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && out)
		*out = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

/* Payload bytes, already checked against sha and its size. A payload
 * already there keeps its row; only an earlier first_seen is taken. */
static int collect_put_payload(struct collect *c, const char *sha, const char *seen,
    const void *data, size_t len)
{
	sqlite3_stmt *s;
	long long have;
	int rc = collect_exec(c, "SELECT count(*) FROM payloads WHERE sha256 = ?1", sha, NULL,
	    &have);

	if (rc != SQLITE_DONE)
		return collect_db(rc);
	if (have) {
		c->dup++;
		return collect_db(collect_exec(c, "UPDATE payloads SET first_seen = ?2 "
		    "WHERE sha256 = ?1 AND first_seen > ?2", sha, seen, NULL));
	}
	rc = sqlite3_prepare_v2(c->db, "INSERT INTO payloads(sha256, size, data, first_seen) "
	    "VALUES (?1, ?2, ?3, ?4)", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return -1;
	sqlite3_bind_text(s, 1, sha, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)len);
	sqlite3_bind_blob64(s, 3, data, len, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, seen, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		c->payloads++;
	sqlite3_finalize(s);
	return collect_db(rc);
}

static const char *collect_header(natsMsg *m, const char *key)
{
	const char *v = NULL;

	if (natsMsgHeader_Get(m, key, &v) != NATS_OK)
		return NULL;
	return v;
}

/* Whether rows (an array, or none) are all of session id: a message
 * writes only into its own session. */
static int collect_own(json_t *rows, const char *id)
{
	int rc = natsrow_own_rows(rows, id);

	return rc < 0 ? WHY_FORM : rc > 0 ? WHY_CHILD : 0;
}

static int collect_rows(struct collect *c, const char *table, json_t *rows)
{
	size_t i;
	json_t *row;

	json_array_foreach(rows, i, row) {
		int why = collect_db(natsrow_insert(c->db, table, row, &c->unknown_columns));
		if (why)
			return why;
	}
	return 0;
}

/* Binds sensor to the subject its first session came on; later sessions
 * of that sensor must come on the same one (the subject is what NATS
 * permissions give each sensor). */
static int collect_bind(struct collect *c, const char *sensor, const char *subject)
{
	sqlite3_stmt *s;
	int rc = collect_exec(c, "INSERT OR IGNORE INTO nats_sensors(sensor, subject, first_seen) "
	    "VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))", sensor, subject, NULL);

	if (rc != SQLITE_DONE)
		return collect_db(rc);
	if (sqlite3_prepare_v2(c->db, "SELECT subject FROM nats_sensors WHERE sensor = ?1", -1,
	        &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(s, 1, sensor, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		rc = strcmp((const char *)sqlite3_column_text(s, 0), subject) ? WHY_SUBJECT : 0;
	else
		rc = collect_db(rc == SQLITE_DONE ? SQLITE_ERROR : rc);
	sqlite3_finalize(s);
	return rc;
}

/* The sensor of session id when it is stored (a heap copy into *owner),
 * or NULL. Returns 0 or -1. */
static int collect_owner(struct collect *c, const char *id, char **owner)
{
	sqlite3_stmt *s;
	int rc;

	*owner = NULL;
	if (sqlite3_prepare_v2(c->db, "SELECT sensor FROM sessions WHERE session = ?1", -1, &s,
	        NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*owner = strdup(sqlite3_column_text(s, 0) ? (const char *)sqlite3_column_text(s, 0) : "");
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return *owner ? 0 : -1;
	return rc == SQLITE_DONE ? 0 : -1;
}

/* A session message's JSON (whole, or joined from chunks) that came on
 * subject; want_id, when not NULL, is the session it must be. Its rows
 * are written only when the session is new: a session already there (a
 * redelivery) got its rows with it, in the same SAVEPOINT. */
static int collect_apply_session(struct collect *c, const char *subject, const void *data,
    size_t len, const char *want_id)
{
	json_error_t jerr;
	json_t *msg = json_loadb(data, len, 0, &jerr), *row = json_object_get(msg, "session");
	const char *id = json_string_value(json_object_get(row, "session"));
	const char *sensor = json_string_value(json_object_get(row, "sensor"));
	char *owner = NULL;
	int why = WHY_FORM;

	if (!msg || json_integer_value(json_object_get(msg, "v")) != NATSROW_VERSION ||
	    !json_is_object(row) || !id || !*id || !sensor || !*sensor ||
	    strlen(sensor) > COLLECT_SUBJECT_MAX || (want_id && strcmp(id, want_id) != 0))
		goto out;
	if ((why = collect_own(json_object_get(msg, "requests"), id)) ||
	    (why = collect_own(json_object_get(msg, "matches"), id)) ||
	    (why = collect_bind(c, sensor, subject)) || (why = collect_owner(c, id, &owner)))
		goto out;
	if (owner) {
		why = strcmp(owner, sensor) ? WHY_CONFLICT : 0;
		if (!why)
			c->dup++;
		goto out;
	}
	if ((why = collect_db(natsrow_insert(c->db, "sessions", row, &c->unknown_columns))))
		goto out;
	if (sqlite3_changes(c->db) == 0) {
		why = WHY_FORM;          /* not there a moment ago, so not a row of ours */
		goto out;
	}
	c->sessions++;
	if (!(why = collect_rows(c, "requests", json_object_get(msg, "requests"))))
		why = collect_rows(c, "matches", json_object_get(msg, "matches"));
out:
	free(owner);
	json_decref(msg);
	return why;
}

static int collect_set_delete(struct collect *c, const struct collect_set *set)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(c->db, "DELETE FROM nats_chunks WHERE kind = ?1 AND subject = ?2 "
	        "AND sha256 = ?3 AND count = ?4", -1, &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(s, 1, set->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, set->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, set->sha, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, set->count);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The set's chunks in index order into one buffer of size bytes. Returns
 * 0 with *out (the caller frees), WHY_SIZE when they do not make exactly
 * size bytes, or -1. */
static int collect_set_join(struct collect *c, const struct collect_set *set, size_t size,
    unsigned char **out)
{
	sqlite3_stmt *s;
	unsigned char *buf = malloc(size ? size : 1);
	size_t at = 0;
	long next = 0;
	int rc, why = 0;

	*out = NULL;
	if (!buf)
		return -1;
	if (sqlite3_prepare_v2(c->db, "SELECT idx, data FROM nats_chunks WHERE kind = ?1 AND "
	        "subject = ?2 AND sha256 = ?3 AND count = ?4 ORDER BY idx", -1, &s, NULL) != SQLITE_OK) {
		free(buf);
		return -1;
	}
	sqlite3_bind_text(s, 1, set->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, set->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, set->sha, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, set->count);
	while (!why && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(s, 1);
		if (sqlite3_column_int64(s, 0) != next++ || n > size - at)
			why = WHY_SIZE;
		else if (n)
			memcpy(buf + at, sqlite3_column_blob(s, 1), n), at += n;
	}
	if (!why && rc != SQLITE_DONE)
		why = -1;
	sqlite3_finalize(s);
	if (!why && (at != size || next != set->count))
		why = WHY_SIZE;
	if (why)
		free(buf);
	else
		*out = buf;
	return why;
}

/* A chunk of a payload or of a session message (kind), kept in
 * nats_chunks until all its set has come on subject, then joined, checked
 * (size, SHA-256) and applied as a whole message. A set that cannot be
 * whole is deleted (drop_pending: after its message's rollback). */
static int collect_chunk(struct collect *c, natsMsg *m, const char *kind)
{
	const char *sha = collect_header(m, "Flypaper-Sha256");
	const char *meta = collect_header(m, strcmp(kind, "session") ? "Flypaper-First-Seen" :
	    "Flypaper-Session");
	const void *data = natsMsg_GetData(m);
	size_t len = (size_t)natsMsg_GetDataLength(m);
	struct collect_set *set = &c->drop;
	long long size, idx, count, have, bytes;
	unsigned char *all;
	sqlite3_stmt *s;
	int rc, why;

	if (!natsrow_is_sha(sha) || !meta || !*meta || strlen(meta) > COLLECT_SUBJECT_MAX ||
	    (strcmp(kind, "session") && !natsrow_is_time(meta)) ||
	    !natsrow_number(collect_header(m, "Flypaper-Chunks"), 2, 1LL << 30, &count) ||
	    !natsrow_number(collect_header(m, "Flypaper-Chunk"), 0, count - 1, &idx))
		return WHY_FORM;
	/* each chunk holds a byte at least: count <= size bounds the set too */
	if (!natsrow_number(collect_header(m, "Flypaper-Size"), 1, (long long)c->max_payload,
	        &size) || count > size || len < 1 || len > (size_t)size)
		return WHY_SIZE;
	/* a chunk of what is already joined (a redelivery, a late resend) */
	rc = collect_exec(c, strcmp(kind, "session") ?
	    "SELECT count(*) FROM payloads WHERE sha256 = ?1" :
	    "SELECT count(*) FROM sessions WHERE session = ?1", strcmp(kind, "session") ? sha : meta,
	    NULL, &have);
	if (rc != SQLITE_DONE)
		return collect_db(rc);
	if (have) {
		c->dup++;
		return 0;
	}
	set->kind = kind;
	snprintf(set->subject, sizeof(set->subject), "%s", natsMsg_GetSubject(m));
	snprintf(set->sha, sizeof(set->sha), "%s", sha);
	set->count = (long)count;
	if (sqlite3_prepare_v2(c->db, "INSERT OR IGNORE INTO nats_chunks(kind, subject, sha256, "
	        "count, idx, size, first_seen, received, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
	        "?8, ?9)", -1, &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, set->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, sha, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, count);
	sqlite3_bind_int64(s, 5, idx);
	sqlite3_bind_int64(s, 6, size);
	sqlite3_bind_text(s, 7, meta, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 8, (sqlite3_int64)time(NULL));
	sqlite3_bind_blob64(s, 9, data, len, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if ((why = collect_db(rc)))
		return why;
	c->chunks++;
	if (sqlite3_prepare_v2(c->db, "SELECT count(*), total(length(data)), min(size), max(size) "
	        "FROM nats_chunks WHERE kind = ?1 AND subject = ?2 AND sha256 = ?3 AND count = ?4",
	        -1, &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, set->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, sha, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, count);
	rc = sqlite3_step(s);
	have = sqlite3_column_int64(s, 0);
	bytes = sqlite3_column_int64(s, 1);
	why = sqlite3_column_int64(s, 2) != sqlite3_column_int64(s, 3) ? WHY_SIZE : 0;
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		return -1;
	/* what was stored must fit the size the set claims: refuse the set now */
	if (why || bytes > size) {
		c->drop_pending = true;
		return WHY_SIZE;
	}
	if (have < count)
		return 0;
	c->drop_pending = true;      /* whatever comes of the join, the set goes */
	if ((why = collect_set_join(c, set, (size_t)size, &all)))
		return why;
	if (!collect_sha_ok(all, (size_t)size, sha))
		why = WHY_SHA;
	else if (strcmp(kind, "session") == 0)
		why = collect_apply_session(c, set->subject, all, (size_t)size, meta);
	else
		why = collect_put_payload(c, sha, meta, all, (size_t)size);
	free(all);
	if (!why) {
		c->drop_pending = false;
		why = collect_set_delete(c, set);
	}
	return why;
}

static int collect_payload(struct collect *c, natsMsg *m)
{
	const char *sha = collect_header(m, "Flypaper-Sha256");
	const char *seen = collect_header(m, "Flypaper-First-Seen");
	const void *data = natsMsg_GetData(m);
	size_t len = (size_t)natsMsg_GetDataLength(m);
	long long n, i, size;

	if (!natsrow_number(collect_header(m, "Flypaper-Chunks"), 1, 1LL << 30, &n) ||
	    !natsrow_number(collect_header(m, "Flypaper-Chunk"), 0, n - 1, &i))
		return WHY_FORM;
	if (n > 1)
		return collect_chunk(c, m, "payload");
	if (!natsrow_is_sha(sha) || !natsrow_is_time(seen))
		return WHY_FORM;
	if (!natsrow_number(collect_header(m, "Flypaper-Size"), 0, 1LL << 40, &size) ||
	    (size_t)size != len)
		return WHY_SIZE;
	if (!collect_sha_ok(data ? data : "", len, sha))
		return WHY_SHA;
	return collect_put_payload(c, sha, seen, data ? data : "", len);
}

/* One message into the open transaction. Returns 0 when stored or
 * ignored as already there, a WHY_* refusal, or -1 when the database
 * failed. */
static int collect_one(struct collect *c, natsMsg *m)
{
	const char *kind = collect_header(m, "Flypaper-Kind");
	const char *subject = natsMsg_GetSubject(m);

	if (!kind || !subject || strlen(subject) > COLLECT_SUBJECT_MAX)
		return WHY_FORM;
	if (strcmp(kind, "session") == 0)
		return collect_apply_session(c, subject, natsMsg_GetData(m) ? natsMsg_GetData(m) : "",
		    (size_t)natsMsg_GetDataLength(m), NULL);
	if (strcmp(kind, "session-chunk") == 0)
		return collect_chunk(c, m, "session");
	if (strcmp(kind, "payload") == 0)
		return collect_payload(c, m);
	return WHY_FORM;
}

static void collect_refuse(struct collect *c, int why, const char *subject)
{
	if (c->refused[why]++ == 0)
		fprintf(stderr, "flypaper collect: refused (%s) a message on %s: %s; "
		    "terminated, not redelivered (the first of its kind logged)\n",
		    collect_why_name[why], subject ? subject : "?", collect_why_text[why]);
}

static bool collect_sql(struct collect *c, const char *sql)
{
	return sqlite3_exec(c->db, sql, NULL, NULL, NULL) == SQLITE_OK;
}

/* A fetched batch in one transaction, each message in a SAVEPOINT of its
 * own: a refused one is rolled back alone and terminated, the others
 * acknowledged after COMMIT. Returns 0, or -1 when the database failed
 * (nothing acknowledged: the stream sends them again after the ack wait). */
static int collect_batch(struct collect *c, natsMsgList *list)
{
	char *refused = calloc((size_t)list->Count, 1);
	bool ok = refused && collect_sql(c, "BEGIN IMMEDIATE");

	for (int i = 0; ok && i < list->Count; i++) {
		int why;
		c->drop_pending = false;
		if (!(ok = collect_sql(c, "SAVEPOINT msg")))
			break;
		if ((why = collect_one(c, list->Msgs[i])) < 0) {
			ok = false;
			break;
		}
		if (why > 0) {
			ok = collect_sql(c, "ROLLBACK TO msg") &&
			    (!c->drop_pending || collect_set_delete(c, &c->drop) == 0);
			refused[i] = (char)why;
		}
		ok = ok && collect_sql(c, "RELEASE msg");
	}
	if (ok && collect_sql(c, "COMMIT")) {
		for (int i = 0; i < list->Count; i++) {
			if (refused[i]) {
				collect_refuse(c, refused[i], natsMsg_GetSubject(list->Msgs[i]));
				natsMsg_Term(list->Msgs[i], NULL);
			} else
				natsMsg_AckSync(list->Msgs[i], NULL, NULL);
		}
		free(refused);
		return 0;
	}
	fprintf(stderr, "flypaper collect: db: %s; the batch comes again\n",
	    sqlite3_errmsg(c->db));
	if (!sqlite3_get_autocommit(c->db))
		collect_sql(c, "ROLLBACK");
	free(refused);
	return -1;
}

/* Deletes the chunk sets whose first chunk came more than max_age_s ago:
 * they will not complete (a sensor sends a set's chunks one after the
 * other). Counted per set. */
static void collect_sweep(struct collect *c)
{
	sqlite3_stmt *s;
	sqlite3_int64 before = (sqlite3_int64)time(NULL) - (sqlite3_int64)c->max_age_s;
	long long sets = 0;

	if (!collect_sql(c, "BEGIN IMMEDIATE"))
		return;
	if (sqlite3_prepare_v2(c->db, "SELECT count(*) FROM (SELECT 1 FROM nats_chunks GROUP BY "
	        "kind, subject, sha256, count HAVING min(received) < ?1)", -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, before);
		if (sqlite3_step(s) == SQLITE_ROW)
			sets = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
	}
	if (sets && sqlite3_prepare_v2(c->db, "DELETE FROM nats_chunks WHERE (kind, subject, "
	        "sha256, count) IN (SELECT kind, subject, sha256, count FROM nats_chunks GROUP BY "
	        "1, 2, 3, 4 HAVING min(received) < ?1)", -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, before);
		if (sqlite3_step(s) != SQLITE_DONE)
			sets = 0;
		sqlite3_finalize(s);
	}
	if (!collect_sql(c, "COMMIT")) {
		collect_sql(c, "ROLLBACK");
		return;
	}
	if (sets && c->refused[WHY_EXPIRED] == 0)
		fprintf(stderr, "flypaper collect: deleted %lld incomplete chunk set(s) older than "
		    "%llu s (--chunk-max-age)\n", sets, (unsigned long long)c->max_age_s);
	c->refused[WHY_EXPIRED] += (uint64_t)sets;
}

/* Binds the durable consumer, making the stream first if it is missing:
 * a work queue (what the collector acknowledged is removed, so the stream
 * holds only the backlog), of --stream-max-bytes at most, refusing new
 * messages when full (the sensors keep them and try again). Returns 0, or
 * -1 with a message on stderr. */
static int collect_subscribe(const struct collect_args *a, jsCtx *js, natsSubscription **sub)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus st = js_GetStreamInfo(&si, js, a->stream, NULL, &jerr);

	if (st == NATS_NOT_FOUND) {
		jsStreamConfig sc;
		const char *subjects[] = {a->subjects};
		jsStreamConfig_Init(&sc);
		sc.Name = a->stream;
		sc.Subjects = subjects;
		sc.SubjectsLen = 1;
		sc.Storage = js_FileStorage;
		sc.Retention = js_WorkQueuePolicy;
		sc.MaxBytes = a->stream_max_bytes ? (int64_t)a->stream_max_bytes : -1;
		sc.Discard = js_DiscardNew;
		sc.Replicas = a->replicas;
		sc.Duplicates = (int64_t)a->window_ms * 1000000;
		st = js_AddStream(&si, js, &sc, NULL, &jerr);
	} else if (st == NATS_OK && si && si->Config && si->Config->Retention != js_WorkQueuePolicy) {
		fprintf(stderr, "flypaper collect: stream %s exists with another retention than "
		    "work queue (a stream made by an earlier version?): delete it or name another "
		    "with --stream\n", a->stream);
		jsStreamInfo_Destroy(si);
		return -1;
	}
	jsStreamInfo_Destroy(si);
	if (st != NATS_OK) {
		fprintf(stderr, "flypaper collect: stream %s: %s (%d)\n", a->stream,
		    nats_api_error(st), (int)jerr);
		return -1;
	}
	jsSubOptions so;
	jsSubOptions_Init(&so);
	so.Stream = a->stream;
	so.Config.AckWait = 30LL * 1000000000;
	so.Config.MaxAckPending = 4 * a->batch;
	if ((st = js_PullSubscribe(sub, js, a->subjects, a->durable, NULL, &so, &jerr)) != NATS_OK) {
		fprintf(stderr, "flypaper collect: consumer %s: %s (%d)\n", a->durable,
		    nats_api_error(st), (int)jerr);
		return -1;
	}
	return 0;
}

static uint64_t collect_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static int collect_connect(const struct collect_args *a, natsConnection **nc)
{
	natsOptions *o = NULL;
	natsStatus st;

	if ((st = natsOptions_Create(&o)) == NATS_OK &&
	    (st = nats_api_set_servers(o, a->nats)) == NATS_OK &&
	    (st = natsOptions_SetName(o, "flypaper collect")) == NATS_OK &&
	    (st = natsOptions_SetMaxReconnect(o, -1)) == NATS_OK &&
	    (st = natsOptions_SetReconnectWait(o, COLLECT_RETRY_MS)) == NATS_OK &&
	    (!a->tls_ca || ((st = natsOptions_SetSecure(o, true)) == NATS_OK &&
	     (st = natsOptions_LoadCATrustedCertificates(o, a->tls_ca)) == NATS_OK)) &&
	    (!a->creds || (st = natsOptions_SetUserCredentialsFromFiles(o, a->creds, NULL)) == NATS_OK))
		st = natsConnection_Connect(nc, o);
	natsOptions_Destroy(o);
	if (st != NATS_OK) {
		char shown[512];
		nats_api_redact(a->nats, shown, sizeof(shown));
		fprintf(stderr, "flypaper collect: nats: %s: %s\n", shown, nats_api_error(st));
		return -1;
	}
	return 0;
}

int collect_main(int argc, char **argv)
{
	static const struct options_command cmd = {"collect", collect_options,
	    sizeof(collect_options) / sizeof(collect_options[0]), collect_usage, false};
	struct collect_args a = {.db = "fleet.db", .durable = "flypaper-collect",
	    .stream = "FLYPAPER", .subjects = "flypaper.>", .replicas = 1, .batch = 256,
	    .window_ms = 3600 * 1000, .max_payload = 64 << 20, .stream_max_bytes = 0,
	    .chunk_age_ms = 3600 * 1000};
	char err[512];
	struct collect c = {0};
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	natsSubscription *sub = NULL;
	struct store *st = NULL;
	int rc = 2, first = options_parse(&cmd, argc, argv, &a);

	if (first <= 0)
		return first < 0 ? 2 : 0;
	if (!a.nats || !*a.nats) {
		fprintf(stderr, "flypaper collect: --nats URL is required\n");
		return 2;
	}
	if (nats_api_load(err, sizeof(err)) < 0) {
		fprintf(stderr, "flypaper collect: %s\n", err);
		return 2;
	}
	if (!(st = store_open(a.db, "collect", COLLECT_BUSY_MS, err, sizeof(err)))) {
		fprintf(stderr, "flypaper collect: db: %s: %s\n", a.db, err);
		return 2;
	}
	c.db = store_db(st);
	c.max_payload = a.max_payload;
	c.max_age_s = a.chunk_age_ms / 1000;
	if (collect_connect(&a, &nc) < 0 ||
	    natsConnection_JetStream(&js, nc, NULL) != NATS_OK ||
	    collect_subscribe(&a, js, &sub) < 0)
		goto out;
	signal(SIGINT, collect_on_signal);
	signal(SIGTERM, collect_on_signal);
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "flypaper collect: consumer %s of stream %s into %s\n",
	    a.durable, a.stream, a.db);
	rc = 0;
	uint64_t sweep_ms = a.chunk_age_ms / 2 < COLLECT_SWEEP_MS ? a.chunk_age_ms / 2 :
	    COLLECT_SWEEP_MS, last_sweep = 0;
	while (!atomic_load(&collect_stop)) {
		natsMsgList list = {0};
		jsFetchRequest fr;
		uint64_t now = collect_now_ms();
		if (!last_sweep || now - last_sweep >= sweep_ms) {
			collect_sweep(&c);
			last_sweep = now;
		}
		/* What the stream holds now, at once (a batch, COLLECT_FETCH_BYTES
		 * at most); when it holds nothing, wait up to COLLECT_FETCH_MS for
		 * one message, returned the moment it comes: a long poll for a
		 * whole batch would add its wait to every session's lag. */
		jsFetchRequest_Init(&fr);
		fr.Batch = a.batch;
		fr.MaxBytes = COLLECT_FETCH_BYTES;
		fr.NoWait = true;
		natsStatus s = natsSubscription_FetchRequest(&list, sub, &fr);
		if (s != NATS_OK || list.Count == 0) {
			natsMsgList_Destroy(&list);
			jsFetchRequest_Init(&fr);
			fr.Batch = 1;
			fr.MaxBytes = COLLECT_FETCH_BYTES;
			fr.Expires = (int64_t)COLLECT_FETCH_MS * 1000000;
			s = natsSubscription_FetchRequest(&list, sub, &fr);
		}
		if (s == NATS_OK && list.Count > 0 && collect_batch(&c, &list) < 0) {
			natsMsgList_Destroy(&list);
			struct timespec t = {COLLECT_RETRY_MS / 1000, 0};
			nanosleep(&t, NULL);
			continue;
		}
		natsMsgList_Destroy(&list);
		if (s != NATS_OK && s != NATS_TIMEOUT) {
			/* the cluster is away: the library reconnects */
			struct timespec t = {0, 200 * 1000000};
			nanosleep(&t, NULL);
		}
	}
	uint64_t refused = 0;
	for (int i = 1; i < WHY_COUNT; i++)
		refused += i == WHY_EXPIRED ? 0 : c.refused[i];
	fprintf(stderr, "flypaper collect: %llu session(s) and %llu payload(s) stored, "
	    "%llu already there, %llu chunk(s) kept, %llu message(s) refused, "
	    "%llu incomplete chunk set(s) expired, %zu unknown column(s) ignored\n",
	    (unsigned long long)c.sessions, (unsigned long long)c.payloads,
	    (unsigned long long)c.dup, (unsigned long long)c.chunks, (unsigned long long)refused,
	    (unsigned long long)c.refused[WHY_EXPIRED], c.unknown_columns);
	for (int i = 1; i < WHY_COUNT; i++)
		if (c.refused[i] && i != WHY_EXPIRED)
			fprintf(stderr, "flypaper collect: refused (%s): %llu\n", collect_why_name[i],
			    (unsigned long long)c.refused[i]);
out:
	if (sub)
		natsSubscription_Destroy(sub);
	if (js)
		jsCtx_Destroy(js);
	if (nc)
		natsConnection_Destroy(nc);
	store_close(st);
	return rc;
}
