/* collect.c - "flypaper collect": a durable JetStream pull consumer that
 * writes every sensor's sessions, requests, matches and payloads into one
 * central database of the same schema, idempotently (INSERT OR IGNORE on
 * the session id, payloads by SHA-256), and acknowledges each message
 * only after the transaction that holds it committed. A kill -9 between
 * commit and ack redelivers what is already there: ignored. The messages
 * are sink_nats.c's: a session with its requests and matches as rows
 * (natsrow.h), a payload as its raw bytes with headers, in chunks when it
 * is larger than the server's max_payload. DESIGN.md, Fleet. */
#include "collect.h"

#include <nettle/sha2.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nats_api.h"
#include "natsrow.h"
#include "options.h"
#include "record.h"
#include "store.h"

#define COLLECT_FETCH_MS 1000        /* a fetch waits this long for messages */
#define COLLECT_RETRY_MS 1000        /* after a failed transaction or fetch */
#define COLLECT_BUSY_MS 10000        /* readers (report) hold the lock at most this */
#define COLLECT_CHUNKS_MAX 65536     /* a payload of more chunks is refused */

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
	{.name = "batch", .type = OPTION_INT, .field = offsetof(struct collect_args, batch),
	    .min = 1, .max = 4096, .metavar = "N",
	    .help = "messages fetched and committed together, 1..4096; default 256"},
	{.name = "nats-creds", .type = OPTION_ARG, .field = offsetof(struct collect_args, creds),
	    .metavar = "FILE", .help = "NATS user credentials (JWT and NKey seed)"},
	{.name = "nats-tls-ca", .type = OPTION_ARG, .field = offsetof(struct collect_args, tls_ca),
	    .metavar = "FILE", .help = "connect with TLS, trusting these CA certificates"},
};

static void collect_usage(FILE *out)
{
	fprintf(out, "usage: flypaper collect --nats URL[,URL] [--db FILE] [--durable NAME]\n"
	    "       [--stream NAME] [--subjects SUBJECT] [--replicas N]\n"
	    "       [--duplicate-window DUR] [--batch N] [--nats-creds FILE] [--nats-tls-ca FILE]\n"
	    "Writes the sessions, payloads, requests and matches that sensors\n"
	    "(serve --nats) ship into one central database, until SIGINT or SIGTERM.\n");
}

static atomic_bool collect_stop;

static void collect_on_signal(int sig)
{
	(void)sig;
	atomic_store(&collect_stop, true);
}

struct collect {
	sqlite3 *db;
	uint64_t sessions, payloads, dup, bad, unknown_columns;
};

static bool collect_is_sha(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* Whether data hashes to the hex sha: what a sensor stored is what the
 * central database keeps, byte for byte. */
static bool collect_sha_ok(const void *data, size_t len, const char *sha)
{
	struct sha256_ctx c;
	unsigned char d[SHA256_DIGEST_SIZE];
	char hex[SHA256_DIGEST_SIZE * 2 + 1];

	sha256_init(&c);
	sha256_update(&c, len, data);
	sha256_digest(&c, sizeof(d), d);
	record_sha256_hex(d, hex);
	return strcmp(hex, sha) == 0;
}

static int collect_put_payload(struct collect *c, const char *sha, long long size,
    const char *seen, const void *data, size_t len)
{
	sqlite3_stmt *s;
	int rc;

	if (!collect_sha_ok(data, len, sha)) {
		c->bad++;
		fprintf(stderr, "flypaper collect: payload %s: bytes do not match the "
		    "SHA-256; dropped\n", sha);
		return SQLITE_DONE;
	}
	rc = sqlite3_prepare_v2(c->db, "INSERT OR IGNORE INTO payloads(sha256, size, data, "
	    "first_seen) VALUES (?1, ?2, ?3, ?4)", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(s, 1, sha, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, size);
	sqlite3_bind_blob(s, 3, data, (int)len, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, seen, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE && sqlite3_changes(c->db) > 0)
		c->payloads++;
	sqlite3_finalize(s);
	return rc;
}

/* A chunk of a large payload: kept in nats_chunks until all are there,
 * then joined in order into payloads. */
static int collect_chunk(struct collect *c, const char *sha, long long size,
    const char *seen, long idx, long count, const void *data, size_t len)
{
	sqlite3_stmt *s;
	int rc, have = 0;

	rc = sqlite3_prepare_v2(c->db, "INSERT OR IGNORE INTO nats_chunks(sha256, idx, count, "
	    "size, first_seen, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(s, 1, sha, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, idx);
	sqlite3_bind_int64(s, 3, count);
	sqlite3_bind_int64(s, 4, size);
	sqlite3_bind_text(s, 5, seen, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 6, data ? data : "", (int)len, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return rc;
	if (sqlite3_prepare_v2(c->db, "SELECT count(*) FROM nats_chunks WHERE sha256 = ?1 "
	        "AND count = ?2", -1, &s, NULL) != SQLITE_OK)
		return SQLITE_ERROR;
	sqlite3_bind_text(s, 1, sha, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, count);
	if (sqlite3_step(s) == SQLITE_ROW)
		have = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (have < count)
		return SQLITE_DONE;
	/* all there: join them in SQL, in index order */
	if (sqlite3_prepare_v2(c->db, "SELECT (SELECT group_concat(data, x'') FROM "
	        "(SELECT data FROM nats_chunks WHERE sha256 = ?1 ORDER BY idx))", -1, &s,
	        NULL) != SQLITE_OK)
		return SQLITE_ERROR;
	sqlite3_bind_text(s, 1, sha, -1, SQLITE_STATIC);
	rc = SQLITE_ERROR;
	if (sqlite3_step(s) == SQLITE_ROW) {
		const void *all = sqlite3_column_blob(s, 0);
		rc = collect_put_payload(c, sha, size, seen, all ? all : "",
		    (size_t)sqlite3_column_bytes(s, 0));
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE) {
		sqlite3_stmt *d;
		if (sqlite3_prepare_v2(c->db, "DELETE FROM nats_chunks WHERE sha256 = ?1", -1,
		        &d, NULL) != SQLITE_OK)
			return SQLITE_ERROR;
		sqlite3_bind_text(d, 1, sha, -1, SQLITE_STATIC);
		rc = sqlite3_step(d);
		sqlite3_finalize(d);
	}
	return rc;
}

static const char *collect_header(natsMsg *m, const char *key)
{
	const char *v = NULL;

	if (natsMsgHeader_Get(m, key, &v) != NATS_OK)
		return NULL;
	return v;
}

static int collect_payload(struct collect *c, natsMsg *m)
{
	const char *sha = collect_header(m, "Flypaper-Sha256");
	const char *size = collect_header(m, "Flypaper-Size");
	const char *seen = collect_header(m, "Flypaper-First-Seen");
	const char *idx = collect_header(m, "Flypaper-Chunk");
	const char *count = collect_header(m, "Flypaper-Chunks");
	const void *data = natsMsg_GetData(m);
	size_t len = (size_t)natsMsg_GetDataLength(m);
	char *end;
	long i, n;

	if (!collect_is_sha(sha) || !size || !seen || !idx || !count)
		return SQLITE_MISMATCH;
	i = strtol(idx, &end, 10);
	if (*end)
		return SQLITE_MISMATCH;
	n = strtol(count, &end, 10);
	if (*end || n < 1 || n > COLLECT_CHUNKS_MAX || i < 0 || i >= n)
		return SQLITE_MISMATCH;
	if (n == 1)
		return collect_put_payload(c, sha, atoll(size), seen, data ? data : "", len);
	return collect_chunk(c, sha, atoll(size), seen, i, n, data, len);
}

static int collect_rows(struct collect *c, const char *table, json_t *rows)
{
	size_t i;
	json_t *row;
	int rc = SQLITE_DONE;

	if (!rows || json_is_null(rows))
		return SQLITE_DONE;
	if (!json_is_array(rows))
		return SQLITE_MISMATCH;
	json_array_foreach(rows, i, row) {
		if ((rc = natsrow_insert(c->db, table, row, &c->unknown_columns)) != SQLITE_DONE)
			return rc;
	}
	return rc;
}

static int collect_session(struct collect *c, natsMsg *m)
{
	json_error_t jerr;
	json_t *msg = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, &jerr);
	int rc = SQLITE_MISMATCH;

	if (msg && json_integer_value(json_object_get(msg, "v")) == NATSROW_VERSION &&
	    json_is_object(json_object_get(msg, "session"))) {
		rc = natsrow_insert(c->db, "sessions", json_object_get(msg, "session"),
		    &c->unknown_columns);
		if (rc == SQLITE_DONE) {
			if (sqlite3_changes(c->db) > 0)
				c->sessions++;
			else
				c->dup++;
			rc = collect_rows(c, "requests", json_object_get(msg, "requests"));
		}
		if (rc == SQLITE_DONE)
			rc = collect_rows(c, "matches", json_object_get(msg, "matches"));
	}
	json_decref(msg);
	return rc;
}

/* One message into the open transaction. Returns SQLITE_DONE when stored
 * or ignored, SQLITE_MISMATCH when it is not a message of ours (counted,
 * acknowledged, never retried), or the database's error. */
static int collect_one(struct collect *c, natsMsg *m)
{
	const char *kind = collect_header(m, "Flypaper-Kind");
	int rc;

	if (kind && strcmp(kind, "session") == 0)
		rc = collect_session(c, m);
	else if (kind && strcmp(kind, "payload") == 0)
		rc = collect_payload(c, m);
	else
		rc = SQLITE_MISMATCH;
	if (rc == SQLITE_MISMATCH || rc == SQLITE_CONSTRAINT || rc == SQLITE_TOOBIG) {
		if (c->bad++ == 0)
			fprintf(stderr, "flypaper collect: a message that is not a flypaper "
			    "session or payload (or does not fit the schema): acknowledged, dropped\n");
		return SQLITE_DONE;
	}
	return rc;
}

/* A fetched batch in one transaction, then each message acknowledged.
 * Returns 0, or -1 when the database failed (nothing acknowledged: the
 * stream sends them again after the ack wait). */
static int collect_batch(struct collect *c, natsMsgList *list)
{
	int rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK
	    ? SQLITE_DONE : SQLITE_BUSY;

	for (int i = 0; rc == SQLITE_DONE && i < list->Count; i++)
		rc = collect_one(c, list->Msgs[i]);
	if (rc == SQLITE_DONE && sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
		for (int i = 0; i < list->Count; i++)
			natsMsg_AckSync(list->Msgs[i], NULL, NULL);
		return 0;
	}
	fprintf(stderr, "flypaper collect: db: %s; the batch comes again\n",
	    sqlite3_errmsg(c->db));
	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* Binds the durable consumer, making the stream first if it is missing.
 * Returns 0, or -1 with a message on stderr. */
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
		sc.Replicas = a->replicas;
		sc.Duplicates = (int64_t)a->window_ms * 1000000;
		st = js_AddStream(&si, js, &sc, NULL, &jerr);
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
		fprintf(stderr, "flypaper collect: nats: %s: %s\n", a->nats, nats_api_error(st));
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
	    .window_ms = 3600 * 1000};
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
	while (!atomic_load(&collect_stop)) {
		natsMsgList list = {0};
		natsStatus s = natsSubscription_Fetch(&list, sub, a.batch, COLLECT_FETCH_MS, NULL);
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
	fprintf(stderr, "flypaper collect: %llu session(s) and %llu payload(s) stored, "
	    "%llu session(s) already there, %llu message(s) dropped as not ours, "
	    "%llu unknown column(s) ignored\n",
	    (unsigned long long)c.sessions, (unsigned long long)c.payloads,
	    (unsigned long long)c.dup, (unsigned long long)c.bad,
	    (unsigned long long)c.unknown_columns);
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
