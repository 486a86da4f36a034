/* sink_nats.c - ships sessions and payloads to NATS JetStream (--nats).
 * The database is the spool: a thread of its own reads COMMITTED sessions
 * in rowid order after a watermark (nats_shipped), publishes each (its
 * payload first, once per SHA-256) and waits for the stream's ack before
 * it advances the watermark, so a restart, kill -9 included, resumes from
 * the last acknowledged session and the stream's duplicate window drops
 * what is sent twice (Nats-Msg-Id). Nothing is held in memory beyond one
 * batch; while the stream is unreachable the backlog waits in SQLite.
 * The writer's write() only wakes the thread. DESIGN.md, Fleet. */
#include "sink.h"
#include "sink_nats.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "nats_api.h"
#include "natsrow.h"

#define NATS_BATCH 32                /* sessions read in one short transaction */
#define NATS_IDLE_MS 1000            /* a look at the database when nothing wakes us */
#define NATS_RETRY_MS 1000           /* after a failed publish */
#define NATS_ACK_WAIT_MS 5000        /* a publish without an ack by then failed */
#define NATS_CLASS_WAIT_S 60         /* a pending verdict is waited for this long */
#define NATS_BUSY_MS 2000            /* the writer holds the lock at most this */
#define NATS_DRAIN_MS 5000           /* at exit, the backlog is shipped this long at most */
#define NATS_SUBJECT_MAX 256
/* What libnats may hold of publishes while it reconnects (its default is
 * 8 MB): nothing is published while disconnected, so this only bounds
 * a publish that races a disconnect. */
#define NATS_RECONNECT_BUF (256 * 1024)

struct sink_nats {
	struct sink base;
	char subject[NATS_SUBJECT_MAX];
	char psubject[NATS_SUBJECT_MAX + 16];    /* payloads' */
	int rate;
	sqlite3 *db;
	char *urls, *creds, *ca_pem;
	natsOptions *opts;
	natsConnection *nc;
	jsCtx *js;
	int64_t max_payload;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop, kicked;
	bool draining;                  /* at exit: ship what is left, then stop */
	struct timespec drain_from;
	sqlite3_int64 watermark;
	uint64_t sent_in_second;
	struct timespec second;
};

static _Atomic uint64_t nats_shipped, nats_failures, nats_backlog, nats_lag_ms;
static _Atomic uint64_t nats_oldest_ms;  /* age of the oldest session waiting */

void sink_nats_stats(struct nats_stats *out)
{
	out->shipped = atomic_load(&nats_shipped);
	out->failures = atomic_load(&nats_failures);
	out->backlog = atomic_load(&nats_backlog);
	out->lag_ms = atomic_load(&nats_lag_ms);
}

/* A subject is dot-separated tokens of printable ASCII without spaces or
 * the wildcards * and >: what a publish accepts. */
static bool sink_nats_subject_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= NATS_SUBJECT_MAX || s[0] == '.' || s[n - 1] == '.' ||
	    strstr(s, ".."))
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~' || *s == '*' || *s == '>')
			return false;
	return true;
}

/* flypaper.<sensor>.sessions, the sensor's characters that a subject
 * token cannot hold made '_'. */
static void sink_nats_default_subject(const char *sensor, char *out, size_t len)
{
	char tok[80];
	size_t i;

	for (i = 0; sensor[i] && i < sizeof(tok) - 1; i++) {
		char c = sensor[i];
		tok[i] = (c <= ' ' || c > '~' || c == '.' || c == '*' || c == '>') ? '_' : c;
	}
	tok[i] = '\0';
	snprintf(out, len, "flypaper.%s.sessions", tok);
}

static void sink_nats_close(struct sink *sink);

/* A small file (a CA bundle) whole, NUL-ended; NULL with errno. */
static char *sink_nats_read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			char *b = cap > (16u << 20) ? NULL : realloc(buf, cap = 2 * cap + 8192);
			if (!b) {
				free(buf);
				fclose(f);
				errno = EFBIG;
				return NULL;
			}
			buf = b;
		}
		n = fread(buf + len, 1, 4096, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* libnats's thread, once connected (again): the backlog may go now. With
 * a callback given, natsConnection_Connect returns at once when no server
 * answers and connects in the background; without one it would retry
 * inside the call for ever, and the thread could not be stopped. */
static void sink_nats_connected(natsConnection *nc, void *arg)
{
	struct sink_nats *s = arg;

	(void)nc;
	pthread_mutex_lock(&s->lock);
	s->kicked = true;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

/* The client's options, in the thread. Returns 0, or -1 logged. */
static int sink_nats_options(struct sink_nats *s)
{
	natsStatus st;

	if ((st = natsOptions_Create(&s->opts)) != NATS_OK ||
	    (st = nats_api_set_servers(s->opts, s->urls)) != NATS_OK ||
	    (st = natsOptions_SetName(s->opts, "flypaper")) != NATS_OK ||
	    (st = natsOptions_SetMaxReconnect(s->opts, -1)) != NATS_OK ||
	    (st = natsOptions_SetReconnectWait(s->opts, NATS_RETRY_MS)) != NATS_OK ||
	    (st = natsOptions_SetTimeout(s->opts, 2000)) != NATS_OK ||
	    (st = natsOptions_SetRetryOnFailedConnect(s->opts, true,
	        sink_nats_connected, s)) != NATS_OK ||
	    (st = natsOptions_SetReconnectBufSize(s->opts, NATS_RECONNECT_BUF)) != NATS_OK ||
	    (s->ca_pem && ((st = natsOptions_SetSecure(s->opts, true)) != NATS_OK ||
	     (st = natsOptions_SetCATrustedCertificates(s->opts, s->ca_pem)) != NATS_OK)) ||
	    (s->creds &&
	     (st = natsOptions_SetUserCredentialsFromFiles(s->opts, s->creds, NULL)) != NATS_OK)) {
		log_error("nats: '%s': %s; nothing is shipped this run", s->urls,
		    nats_api_error(st));
		return -1;
	}
	return 0;
}
const struct sink_ops sink_nats_ops;

static struct sink *sink_nats_open(const struct config *cfg, enum record_mode mode,
    char *err, size_t errlen)
{
	struct sink_nats *s;

	err[0] = '\0';
	if (!cfg->nats_urls || mode != MODE_SERVE)
		return NULL;
	if (cfg->nats_subject && !sink_nats_subject_ok(cfg->nats_subject)) {
		snprintf(err, errlen, "nats-subject: '%s' is not a NATS subject "
		    "(dot-separated tokens, no spaces, no * or >)", cfg->nats_subject);
		return NULL;
	}
	if (nats_api_load(err, errlen) < 0)
		return NULL;
	if (!(s = calloc(1, sizeof(*s)))) {
		snprintf(err, errlen, "nats: out of memory");
		return NULL;
	}
	s->base.ops = &sink_nats_ops;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	s->rate = cfg->nats_rate;
	if (cfg->nats_subject)
		snprintf(s->subject, sizeof(s->subject), "%s", cfg->nats_subject);
	else
		sink_nats_default_subject(cfg->sensor, s->subject, sizeof(s->subject));
	snprintf(s->psubject, sizeof(s->psubject), "%s.payloads", s->subject);
	/* Its own connection: reads in short transactions that the writer's
	 * commits wait for at most one of. */
	if (sqlite3_open_v2(cfg->db_path, &s->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "nats: cannot open %s: %s", cfg->db_path,
		    s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, NATS_BUSY_MS);
	/* It reads a batch at a time, near the end of the file: a small page
	 * cache (512 KiB, not SQLite's 2 MiB) keeps its memory flat. */
	sqlite3_exec(s->db, "PRAGMA cache_size = -512", NULL, NULL, NULL);
	/* The CA file is read now, before confinement hides it; the options
	 * are made in the thread: libnats starts threads of its own, which
	 * must be confined too. */
	if (cfg->nats_tls_ca && !(s->ca_pem = sink_nats_read_file(cfg->nats_tls_ca))) {
		snprintf(err, errlen, "nats-tls-ca: cannot read %s: %s", cfg->nats_tls_ca,
		    strerror(errno));
		goto fail;
	}
	if (cfg->nats_creds && access(cfg->nats_creds, R_OK) < 0) {
		snprintf(err, errlen, "nats-creds: cannot read %s: %s", cfg->nats_creds,
		    strerror(errno));
		goto fail;
	}
	if (!(s->urls = strdup(cfg->nats_urls)) ||
	    (cfg->nats_creds && !(s->creds = strdup(cfg->nats_creds)))) {
		snprintf(err, errlen, "nats: out of memory");
		goto fail;
	}
	log_info("nats: shipping to %s, subject %s, at most %d message(s) a second",
	    cfg->nats_urls, s->subject, s->rate);
	return &s->base;
fail:
	sink_nats_close(&s->base);
	return NULL;
}

static long long sink_nats_ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000LL + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* Waits ms or until kicked or stopped. Returns false once stopping. */
static bool sink_nats_wait(struct sink_nats *s, long ms)
{
	struct timespec until;
	bool go;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->lock);
	while (!s->stop && !s->kicked)
		if (pthread_cond_timedwait(&s->wake, &s->lock, &until) == ETIMEDOUT)
			break;
	s->kicked = false;
	go = !s->stop;
	pthread_mutex_unlock(&s->lock);
	return go;
}

static bool sink_nats_stopping(struct sink_nats *s)
{
	pthread_mutex_lock(&s->lock);
	bool stop = s->stop;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

/* At exit: done once nothing more can be read (n == 0: shipped, or a
 * verdict still pending), a publish failed, or NATS_DRAIN_MS passed. */
static bool sink_nats_drained(struct sink_nats *s, int n, int done)
{
	pthread_mutex_lock(&s->lock);
	bool drained = s->draining && (n <= 0 || done < n ||
	    sink_nats_ms_since(&s->drain_from) >= NATS_DRAIN_MS);
	pthread_mutex_unlock(&s->lock);
	return drained;
}

/* --nats-rate: waits for the next second once this one's are sent. */
static bool sink_nats_pace(struct sink_nats *s)
{
	long long ms = sink_nats_ms_since(&s->second);

	if (ms >= 1000 || s->second.tv_sec == 0) {
		clock_gettime(CLOCK_MONOTONIC, &s->second);
		s->sent_in_second = 0;
	} else if (s->sent_in_second >= (uint64_t)s->rate) {
		if (!sink_nats_wait(s, 1000 - (long)ms) && sink_nats_stopping(s))
			return false;
		clock_gettime(CLOCK_MONOTONIC, &s->second);
		s->sent_in_second = 0;
	}
	s->sent_in_second++;
	return true;
}

/* Publishes data with Nats-Msg-Id id and the headers (name, value pairs,
 * NULL-ended) and waits for the stream's ack. Returns 0 or -1. */
static int sink_nats_publish(struct sink_nats *s, const char *subject, const char *id,
    const void *data, size_t len, const char *const *headers)
{
	natsMsg *msg = NULL;
	jsPubOptions po;
	jsPubAck *ack = NULL;
	jsErrCode jerr = 0;
	natsStatus st;

	if (!sink_nats_pace(s))
		return -1;
	/* Disconnected, libnats would buffer the message and wait for an ack
	 * that cannot come: the backlog waits in the database instead. */
	if (natsConnection_Status(s->nc) != NATS_CONN_STATUS_CONNECTED) {
		if (atomic_fetch_add(&nats_failures, 1) == 0)
			log_warn("nats: no server reachable; the backlog waits in the database");
		return -1;
	}
	st = natsMsg_Create(&msg, subject, NULL, data, (int)len);
	for (int i = 0; st == NATS_OK && headers && headers[i]; i += 2)
		st = natsMsgHeader_Set(msg, headers[i], headers[i + 1]);
	if (st == NATS_OK) {
		jsPubOptions_Init(&po);
		po.MsgId = id;
		po.MaxWait = NATS_ACK_WAIT_MS;
		st = js_PublishMsg(&ack, s->js, msg, &po, &jerr);
	}
	natsMsg_Destroy(msg);
	jsPubAck_Destroy(ack);
	if (st == NATS_OK)
		return 0;
	if (atomic_fetch_add(&nats_failures, 1) == 0 || st != NATS_TIMEOUT)
		log_warn("nats: publish to %s failed (%s); the backlog waits in the "
		    "database", subject, nats_api_error(st));
	return -1;
}

/* Ships the payload sha unless the stream already acknowledged it: one
 * message, or chunks of the server's max_payload less room for headers,
 * each with its index and count. Returns 0 or -1. */
static int sink_nats_payload(struct sink_nats *s, const char *sha)
{
	sqlite3_stmt *q;
	int rc = 0;

	if (sqlite3_prepare_v2(s->db, "SELECT size, first_seen, data FROM payloads p "
	        "WHERE sha256 = ?1 AND NOT EXISTS (SELECT 1 FROM nats_payloads n "
	        "WHERE n.subject = ?2 AND n.sha256 = ?1)", -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(q, 1, sha, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, s->subject, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW) {
		char size[24], idx[24], count[24], id[128];
		const char *seen = (const char *)sqlite3_column_text(q, 1);
		const unsigned char *data = sqlite3_column_blob(q, 2);
		size_t len = (size_t)sqlite3_column_bytes(q, 2);
		size_t chunk = s->max_payload > 8192 ? (size_t)s->max_payload - 4096 : 4096;
		size_t n = len ? (len + chunk - 1) / chunk : 1;

		snprintf(size, sizeof(size), "%lld", (long long)sqlite3_column_int64(q, 0));
		snprintf(count, sizeof(count), "%zu", n);
		for (size_t i = 0; i < n && rc == 0; i++) {
			const char *h[] = {"Flypaper-Kind", "payload", "Flypaper-Sha256", sha,
			    "Flypaper-Size", size, "Flypaper-First-Seen", seen ? seen : "",
			    "Flypaper-Chunk", idx, "Flypaper-Chunks", count, NULL};
			size_t off = i * chunk, part = len - off < chunk ? len - off : chunk;
			snprintf(idx, sizeof(idx), "%zu", i);
			if (n == 1)
				snprintf(id, sizeof(id), "%s", sha);
			else
				snprintf(id, sizeof(id), "%s.%zu", sha, i);
			rc = sink_nats_publish(s, s->psubject, id, data ? data + off : NULL,
			    len ? part : 0, h);
		}
		if (rc == 0) {
			sqlite3_stmt *m;
			if (sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO nats_payloads"
			        "(subject, sha256) VALUES (?1, ?2)", -1, &m, NULL) == SQLITE_OK) {
				sqlite3_bind_text(m, 1, s->subject, -1, SQLITE_STATIC);
				sqlite3_bind_text(m, 2, sha, -1, SQLITE_STATIC);
				sqlite3_step(m);
				sqlite3_finalize(m);
			}
		}
	}
	sqlite3_finalize(q);
	return rc;
}

/* The rows of table for session id into an array. */
static json_t *sink_nats_children(struct sink_nats *s, const char *table, const char *id)
{
	char sql[96];
	sqlite3_stmt *q;
	json_t *a = json_array();

	snprintf(sql, sizeof(sql), "SELECT * FROM %s WHERE session = ?1", table);
	if (!a || sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK) {
		json_decref(a);
		return NULL;
	}
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	while (sqlite3_step(q) == SQLITE_ROW)
		json_array_append_new(a, natsrow_encode(q));
	sqlite3_finalize(q);
	return a;
}

/* One session read from the database, ready to publish. */
struct sink_nats_item {
	sqlite3_int64 rowid;
	char id[40];
	char sha[72];                /* payload_sha256, "" for none */
	long long lag_ms;            /* end to read */
	char *json;
};

/* Reads up to NATS_BATCH sessions after the watermark in one short read
 * transaction. A session whose verdict is pending is waited for
 * (NATS_CLASS_WAIT_S at most) and ends the batch, keeping the order.
 * Returns the count, or -1. */
static int sink_nats_read(struct sink_nats *s, struct sink_nats_item *items)
{
	sqlite3_stmt *q;
	int n = 0;

	if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(s->db, "SELECT rowid AS nats_rowid, "
	        "CAST((julianday('now') - julianday(end_ts)) * 86400000 AS INTEGER) "
	        "AS nats_lag, * FROM sessions WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
	        -1, &q, NULL) != SQLITE_OK) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	sqlite3_bind_int64(q, 1, s->watermark);
	sqlite3_bind_int(q, 2, NATS_BATCH);
	while (sqlite3_step(q) == SQLITE_ROW) {
		struct sink_nats_item *it = &items[n];
		json_t *row = natsrow_encode(q), *msg;
		const char *cls, *id, *sha;

		if (!row)
			break;
		cls = json_string_value(json_object_get(row, "class_state"));
		it->lag_ms = sqlite3_column_int64(q, 1);
		if (cls && strcmp(cls, "pending") == 0 && it->lag_ms < NATS_CLASS_WAIT_S * 1000LL) {
			json_decref(row);
			break;
		}
		it->rowid = sqlite3_column_int64(q, 0);
		json_object_del(row, "nats_rowid");
		json_object_del(row, "nats_lag");
		id = json_string_value(json_object_get(row, "session"));
		sha = json_string_value(json_object_get(row, "payload_sha256"));
		snprintf(it->id, sizeof(it->id), "%.39s", id ? id : "");
		snprintf(it->sha, sizeof(it->sha), "%.71s", sha ? sha : "");
		msg = json_pack("{s:i, s:o, s:o*, s:o*}", "v", NATSROW_VERSION, "session", row,
		    "requests", sink_nats_children(s, "requests", it->id),
		    "matches", sink_nats_children(s, "matches", it->id));
		it->json = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
		json_decref(msg);
		if (!it->json)
			break;
		n++;
	}
	sqlite3_finalize(q);
	sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	return n;
}

/* Stores the watermark: sessions up to rowid are acknowledged. */
static void sink_nats_advance(struct sink_nats *s, sqlite3_int64 rowid)
{
	sqlite3_stmt *m;

	if (sqlite3_prepare_v2(s->db, "INSERT INTO nats_shipped(subject, last_rowid, updated) "
	        "VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) ON CONFLICT(subject) "
	        "DO UPDATE SET last_rowid = excluded.last_rowid, updated = excluded.updated",
	        -1, &m, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(m, 1, s->subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(m, 2, rowid);
	if (sqlite3_step(m) == SQLITE_DONE)
		s->watermark = rowid;
	sqlite3_finalize(m);
}

/* Counts the sessions after the watermark, and the age of the first of
 * them (rowids follow commit order, so it is the oldest waiting). */
static void sink_nats_count_backlog(struct sink_nats *s)
{
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(s->db, "SELECT count(*), "
	        "(SELECT CAST((julianday('now') - julianday(end_ts)) * 86400000 AS INTEGER) "
	        "FROM sessions WHERE rowid > ?1 ORDER BY rowid LIMIT 1) "
	        "FROM sessions WHERE rowid > ?1", -1, &q, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(q, 1, s->watermark);
	if (sqlite3_step(q) == SQLITE_ROW) {
		sqlite3_int64 age = sqlite3_column_int64(q, 1);
		atomic_store(&nats_backlog, (uint64_t)sqlite3_column_int64(q, 0));
		atomic_store(&nats_oldest_ms, age > 0 ? (uint64_t)age : 0);
	}
	sqlite3_finalize(q);
}

/* Publishes a batch in order; stops at the first failure. Returns how many
 * the stream acknowledged. */
static int sink_nats_ship(struct sink_nats *s, struct sink_nats_item *items, int n)
{
	struct timespec read;
	int done = 0;

	clock_gettime(CLOCK_MONOTONIC, &read);
	for (; done < n; done++) {
		struct sink_nats_item *it = &items[done];
		const char *h[] = {"Flypaper-Kind", "session", NULL};
		if (it->sha[0] && sink_nats_payload(s, it->sha) < 0)
			break;
		if (sink_nats_publish(s, s->subject, it->id, it->json, strlen(it->json), h) < 0)
			break;
		atomic_fetch_add(&nats_shipped, 1);
		uint64_t lag = (uint64_t)(it->lag_ms + sink_nats_ms_since(&read));
		if (lag > atomic_load(&nats_lag_ms))
			atomic_store(&nats_lag_ms, lag);
	}
	if (done > 0)
		sink_nats_advance(s, items[done - 1].rowid);
	return done;
}

static void sink_nats_load_watermark(struct sink_nats *s)
{
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(s->db, "SELECT last_rowid FROM nats_shipped WHERE subject = ?1",
	        -1, &q, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(q, 1, s->subject, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		s->watermark = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
}

static void *sink_nats_main(void *arg)
{
	struct sink_nats *s = arg;
	struct sink_nats_item items[NATS_BATCH];
	natsStatus st;

	sink_nats_load_watermark(s);
	if (sink_nats_options(s) < 0)
		return NULL;
	/* Connects in the background when no server answers yet: the
	 * publishes fail until one does, and the backlog waits. */
	if ((st = natsConnection_Connect(&s->nc, s->opts)) != NATS_OK &&
	    st != NATS_NOT_YET_CONNECTED) {
		log_error("nats: cannot connect: %s; nothing is shipped this run",
		    nats_api_error(st));
		return NULL;
	}
	if ((st = natsConnection_JetStream(&s->js, s->nc, NULL)) != NATS_OK) {
		log_error("nats: no JetStream context: %s", nats_api_error(st));
		return NULL;
	}
	s->max_payload = natsConnection_GetMaxPayload(s->nc);
	if (s->max_payload <= 0)
		s->max_payload = 1024 * 1024;
	for (;;) {
		int n = sink_nats_read(s, items), done = n > 0 ? sink_nats_ship(s, items, n) : 0;
		for (int i = 0; i < n; i++)
			free(items[i].json);
		sink_nats_count_backlog(s);
		if (sink_nats_stopping(s) || sink_nats_drained(s, n, done))
			break;
		if (n > 0 && done == n)
			continue;
		if (!sink_nats_wait(s, done < n ? NATS_RETRY_MS : NATS_IDLE_MS))
			break;
		if (s->max_payload == 1024 * 1024 && natsConnection_GetMaxPayload(s->nc) > 0)
			s->max_payload = natsConnection_GetMaxPayload(s->nc);
	}
	return NULL;
}

static int sink_nats_start(struct sink *sink)
{
	struct sink_nats *s = (struct sink_nats *)sink;

	if (pthread_create(&s->thread, NULL, sink_nats_main, s) != 0)
		return -1;
	s->running = true;
	return 0;
}

/* The writer is done: ship what is left (NATS_DRAIN_MS at most), stop
 * the thread, and count what waits in the database for the next run. */
static void sink_nats_finish(struct sink *sink)
{
	struct sink_nats *s = (struct sink_nats *)sink;

	if (!s->running)
		return;
	pthread_mutex_lock(&s->lock);
	clock_gettime(CLOCK_MONOTONIC, &s->drain_from);
	s->draining = true;
	s->kicked = true;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	s->running = false;
	sink_nats_count_backlog(s);
}

/* metrics: the shipper's own backlog (last count), the age of the oldest
 * session in it, failed publishes and sessions acknowledged. Atomics only. */
static void sink_nats_gauges(struct sink *sink, struct sink_gauges *out)
{
	(void)sink;
	out->backlog = (int64_t)atomic_load(&nats_backlog);
	out->lag_ms = (int64_t)atomic_load(&nats_oldest_ms);
	out->failures = (int64_t)atomic_load(&nats_failures);
	out->shipped = (int64_t)atomic_load(&nats_shipped);
}

static enum sink_status sink_nats_write(struct sink *sink, const struct record *list,
    struct sink_batch *out)
{
	struct sink_nats *s = (struct sink_nats *)sink;

	(void)list;
	(void)out;
	/* the primary committed this batch before: the thread reads it there */
	pthread_mutex_lock(&s->lock);
	s->kicked = true;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	return SINK_OK;
}

static void sink_nats_close(struct sink *sink)
{
	struct sink_nats *s = (struct sink_nats *)sink;

	if (!s)
		return;
	if (s->running) {
		pthread_mutex_lock(&s->lock);
		s->stop = true;
		pthread_cond_signal(&s->wake);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->thread, NULL);
	}
	if (s->db) {
		sink_nats_count_backlog(s);
		sqlite3_close(s->db);
	}
	if (s->js)
		jsCtx_Destroy(s->js);
	if (s->nc)
		natsConnection_Destroy(s->nc);
	if (s->opts)
		natsOptions_Destroy(s->opts);
	free(s->urls);
	free(s->creds);
	free(s->ca_pem);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const struct sink_ops sink_nats_ops = {
	.name = "nats",
	.primary = false,
	.connect_events = false,
	.lost_what = "session(s) not shipped",
	.escaped_what = NULL,
	.open = sink_nats_open,
	.write = sink_nats_write,
	.start = sink_nats_start,
	.finish = sink_nats_finish,
	.gauges = sink_nats_gauges,
	.close = sink_nats_close,
};
