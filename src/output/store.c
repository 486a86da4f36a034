/* store.c - flypaper's SQLite schema and the writer's transactions. */
#include "store.h"

#include "p0fdb.h"
#include "shape.h"
#include "synsig.h"
#include "state.h"
#include "text.h"
#include "tlshello.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store {
	sqlite3 *db;
	char *sensor;
	struct shape_cache *shapes;  /* the shapes of the last payloads */
	sqlite3_stmt *insert_payload;
	sqlite3_stmt *insert_session;
	sqlite3_stmt *insert_run;
	sqlite3_stmt *insert_request;
	sqlite3_stmt *insert_match;
	sqlite3_stmt *update_class;
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

/* Version 2: how peers react (strategies, IDENT, timing) and the HTTP
 * requests found in payloads. */
static const char store_schema_v2[] =
	"ALTER TABLE sessions ADD COLUMN strategy TEXT;"
	"ALTER TABLE sessions ADD COLUMN first_out_ms INTEGER;"
	"ALTER TABLE sessions ADD COLUMN closed_by TEXT;"
	"ALTER TABLE sessions ADD COLUMN peer_close_after_out_ms INTEGER;"
	"ALTER TABLE sessions ADD COLUMN peer_close_after_ident_ms INTEGER;"
	"ALTER TABLE sessions ADD COLUMN ident_status TEXT NOT NULL DEFAULT 'none';"
	"ALTER TABLE sessions ADD COLUMN ident_reply TEXT;"
	"ALTER TABLE sessions ADD COLUMN ident_opsys TEXT;"
	"ALTER TABLE sessions ADD COLUMN ident_charset TEXT;"
	"ALTER TABLE sessions ADD COLUMN ident_userid TEXT;"
	"ALTER TABLE sessions ADD COLUMN ident_error TEXT;"
	"ALTER TABLE sessions ADD COLUMN ident_sent_ms INTEGER;"
	"ALTER TABLE sessions ADD COLUMN ident_reply_ms INTEGER;"
	"ALTER TABLE sessions ADD COLUMN http TEXT;"
	"ALTER TABLE sessions ADD COLUMN requests INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE requests ("
	"  session TEXT NOT NULL,"
	"  seq INTEGER NOT NULL,"             /* 1, 2, ... within the session */
	"  at_ms INTEGER NOT NULL,"           /* session start to the end of the head */
	"  method TEXT NOT NULL,"
	"  target TEXT NOT NULL,"             /* bytes outside printable ASCII as \\xNN */
	"  version TEXT,"
	"  host TEXT,"
	"  user_agent TEXT,"
	"  headers BLOB NOT NULL,"            /* the raw header lines, byte-exact */
	"  body_bytes INTEGER NOT NULL,"
	"  PRIMARY KEY (session, seq)) WITHOUT ROWID;"
	"UPDATE meta SET value = '2' WHERE key = 'schema_version';";

/* Version 3: payload families, from YARA rules. */
static const char store_schema_v3[] =
	"CREATE TABLE matches ("
	"  session TEXT NOT NULL,"
	"  rule TEXT NOT NULL,"
	"  tags TEXT NOT NULL,"               /* space-separated; the first is the family */
	"  PRIMARY KEY (session, rule)) WITHOUT ROWID;"
	"CREATE INDEX matches_rule ON matches(rule);"
	"UPDATE meta SET value = '3' WHERE key = 'schema_version';";

/* Version 4: which cap refused a session or cut its payload. */
static const char store_schema_v4[] =
	"ALTER TABLE sessions ADD COLUMN limit_hit TEXT;"
	"UPDATE meta SET value = '4' WHERE key = 'schema_version';";

/* Version 5: how often and how long accepting paused for the writer's lag
 * (--max-lag), payloads left unclassified meanwhile, sessions closed at the
 * fd limit to make room, JSON lines written with a field escaped (counted
 * in jsonl_errors before). Older runs did none of it: 0. */
static const char store_schema_v5[] =
	"ALTER TABLE runs ADD COLUMN lag_pauses INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE runs ADD COLUMN lag_paused_ms INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE runs ADD COLUMN unclassified INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE runs ADD COLUMN evicted INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE runs ADD COLUMN jsonl_escaped INTEGER NOT NULL DEFAULT 0;"
	"UPDATE meta SET value = '5' WHERE key = 'schema_version';";

/* Version 6: the family of each session (the one a precedence picks),
 * its technique tags, and how far its classification got, now that it
 * runs after the commit ('none', 'pending', 'done', 'skipped', 'shed');
 * payloads over --classify-budget counted per run. Sessions stored before
 * carry a payload 'pending' (for rescan), none 'none'. And how the client
 * talked (shape.h), for grouping the sessions no rule names; the index
 * holds only sessions with a payload. */
static const char store_schema_v6[] =
	"ALTER TABLE sessions ADD COLUMN family TEXT;"
	"ALTER TABLE sessions ADD COLUMN tags TEXT;"       /* comma-separated */
	"ALTER TABLE sessions ADD COLUMN class_state TEXT NOT NULL DEFAULT 'none';"
	"UPDATE sessions SET class_state = 'pending' WHERE payload_sha256 IS NOT NULL;"
	"ALTER TABLE runs ADD COLUMN classify_skipped INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE sessions ADD COLUMN shape TEXT;"
	"CREATE INDEX sessions_shape ON sessions(shape) WHERE shape IS NOT NULL;"
	"UPDATE meta SET value = '6' WHERE key = 'schema_version';";

/* Version 7: what happens below the payload (issue 10). New close reasons
 * (half-open handshakes, PROXY protocol errors) need a new CHECK, which
 * SQLite cannot change in place: sessions is rebuilt with its rows, then
 * each feature adds its columns. */
static const char store_schema_v7[] =
	"CREATE TABLE sessions_v7 ("
	"  session TEXT PRIMARY KEY,"
	"  sensor TEXT NOT NULL,"
	"  start_ts TEXT NOT NULL,"
	"  end_ts TEXT NOT NULL,"
	"  src_ip TEXT NOT NULL,"
	"  src_port INTEGER NOT NULL,"
	"  dst_ip TEXT NOT NULL,"
	"  dst_port INTEGER NOT NULL,"
	"  bytes_in INTEGER NOT NULL,"
	"  bytes_out INTEGER NOT NULL,"
	"  first_byte_ms INTEGER,"
	"  duration_ms INTEGER NOT NULL,"
	"  close_reason TEXT NOT NULL CHECK (close_reason IN ('peer_fin','peer_rst',"
	"    'idle_timeout','session_timeout','server_close','capacity','shutdown',"
	"    'syn_only','rst_after_synack','proxy_error')),"
	"  payload_sha256 TEXT,"
	"  truncated INTEGER NOT NULL,"
	"  payload_lost INTEGER NOT NULL DEFAULT 0,"
	"  mode TEXT NOT NULL,"
	"  strategy TEXT,"
	"  first_out_ms INTEGER,"
	"  closed_by TEXT,"
	"  peer_close_after_out_ms INTEGER,"
	"  peer_close_after_ident_ms INTEGER,"
	"  ident_status TEXT NOT NULL DEFAULT 'none',"
	"  ident_reply TEXT,"
	"  ident_opsys TEXT,"
	"  ident_charset TEXT,"
	"  ident_userid TEXT,"
	"  ident_error TEXT,"
	"  ident_sent_ms INTEGER,"
	"  ident_reply_ms INTEGER,"
	"  http TEXT,"
	"  requests INTEGER NOT NULL DEFAULT 0,"
	"  limit_hit TEXT,"
	"  family TEXT,"
	"  tags TEXT,"
	"  class_state TEXT NOT NULL DEFAULT 'none',"
	"  shape TEXT);"
	"INSERT INTO sessions_v7 SELECT session, sensor, start_ts, end_ts, src_ip,"
	"  src_port, dst_ip, dst_port, bytes_in, bytes_out, first_byte_ms,"
	"  duration_ms, close_reason, payload_sha256, truncated, payload_lost, mode,"
	"  strategy, first_out_ms, closed_by, peer_close_after_out_ms,"
	"  peer_close_after_ident_ms, ident_status, ident_reply, ident_opsys,"
	"  ident_charset, ident_userid, ident_error, ident_sent_ms, ident_reply_ms,"
	"  http, requests, limit_hit, family, tags, class_state, shape FROM sessions;"
	"DROP TABLE sessions;"
	"ALTER TABLE sessions_v7 RENAME TO sessions;"
	"CREATE INDEX sessions_start ON sessions(start_ts);"
	"CREATE INDEX sessions_shape ON sessions(shape) WHERE shape IS NOT NULL;"

	/* v7 syn: the SYN fingerprint and TCP_INFO at close */
	"ALTER TABLE sessions ADD COLUMN syn_sig TEXT;"
	"ALTER TABLE sessions ADD COLUMN syn_ver INTEGER;"
	"ALTER TABLE sessions ADD COLUMN syn_ttl INTEGER;"
	"ALTER TABLE sessions ADD COLUMN syn_ittl INTEGER;"
	"ALTER TABLE sessions ADD COLUMN hops INTEGER;"
	"ALTER TABLE sessions ADD COLUMN syn_df INTEGER;"
	"ALTER TABLE sessions ADD COLUMN syn_ipid INTEGER;"
	"ALTER TABLE sessions ADD COLUMN syn_win INTEGER;"
	"ALTER TABLE sessions ADD COLUMN syn_mss INTEGER;"
	"ALTER TABLE sessions ADD COLUMN syn_wscale INTEGER;"
	"ALTER TABLE sessions ADD COLUMN syn_olayout TEXT;"
	"ALTER TABLE sessions ADD COLUMN syn_ts INTEGER;"
	"ALTER TABLE sessions ADD COLUMN syn_quirks TEXT;"
	"ALTER TABLE sessions ADD COLUMN os TEXT;"
	"ALTER TABLE sessions ADD COLUMN os_class TEXT;"
	"ALTER TABLE sessions ADD COLUMN os_match TEXT;"
	"ALTER TABLE sessions ADD COLUMN syn_of TEXT;"
	"ALTER TABLE sessions ADD COLUMN rtt_us INTEGER;"
	"ALTER TABLE sessions ADD COLUMN rttvar_us INTEGER;"
	"ALTER TABLE sessions ADD COLUMN retrans INTEGER;"
	"ALTER TABLE sessions ADD COLUMN peer_mss INTEGER;"
	"ALTER TABLE sessions ADD COLUMN peer_window INTEGER;"
	"ALTER TABLE sessions ADD COLUMN zero_window INTEGER;"
	"ALTER TABLE sessions ADD COLUMN rwnd_limited_ms INTEGER;"

	/* v7 proxy: PROXY protocol */
	"ALTER TABLE sessions ADD COLUMN proxy TEXT;"
	"ALTER TABLE sessions ADD COLUMN proxy_error TEXT;"
	"ALTER TABLE sessions ADD COLUMN via_ip TEXT;"
	"ALTER TABLE sessions ADD COLUMN via_port INTEGER;"
	"ALTER TABLE sessions ADD COLUMN via_dst_ip TEXT;"
	"ALTER TABLE sessions ADD COLUMN via_dst_port INTEGER;"

	/* v7 halfopen: half-open handshakes */
	"ALTER TABLE sessions ADD COLUMN handshakes INTEGER;"
	"ALTER TABLE sessions ADD COLUMN summary TEXT;"
	"ALTER TABLE sessions ADD COLUMN syn_retries INTEGER;"
	"ALTER TABLE runs ADD COLUMN halfopen_rows INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE runs ADD COLUMN halfopen_summarised INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE runs ADD COLUMN halfopen_untracked INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE runs ADD COLUMN pcap_dropped INTEGER NOT NULL DEFAULT 0;"

	/* v7 pcap: packet traces */
	"ALTER TABLE sessions ADD COLUMN pcap_file TEXT;"
	"ALTER TABLE runs ADD COLUMN pcap_lost INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE runs ADD COLUMN pcap_files_rotated INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE runs ADD COLUMN capture_failed INTEGER NOT NULL DEFAULT 0;"

	"UPDATE meta SET value = '7' WHERE key = 'schema_version';";

/* Version 8: TLS (issue 11). The ClientHello's facts for any session
 * that began with a TLS handshake, and what the TLS front negotiated. */
static const char store_schema_v8[] =
	/* v8 tls hello: the ClientHello's facts (tlshello.c) */
	"ALTER TABLE sessions ADD COLUMN tls TEXT;"
	"ALTER TABLE sessions ADD COLUMN tls_record_ver INTEGER;"
	"ALTER TABLE sessions ADD COLUMN tls_hello_ver INTEGER;"
	"ALTER TABLE sessions ADD COLUMN tls_versions TEXT;"
	"ALTER TABLE sessions ADD COLUMN tls_ciphers TEXT;"
	"ALTER TABLE sessions ADD COLUMN tls_extensions TEXT;"
	"ALTER TABLE sessions ADD COLUMN tls_groups TEXT;"
	"ALTER TABLE sessions ADD COLUMN tls_point_formats TEXT;"
	"ALTER TABLE sessions ADD COLUMN tls_sig_algs TEXT;"
	"ALTER TABLE sessions ADD COLUMN tls_alpn TEXT;"
	"ALTER TABLE sessions ADD COLUMN tls_sni TEXT;"
	"ALTER TABLE sessions ADD COLUMN ja3 TEXT;"
	"ALTER TABLE sessions ADD COLUMN ja3_md5 TEXT;"
	"ALTER TABLE sessions ADD COLUMN ja4 TEXT;"
	"ALTER TABLE sessions ADD COLUMN ja4_r TEXT;"
	"CREATE INDEX sessions_ja3 ON sessions(ja3_md5) WHERE ja3_md5 IS NOT NULL;"

	/* v8 tls front: what the TLS front negotiated (tls_front.c) */
	"ALTER TABLE sessions ADD COLUMN tls_front INTEGER;"
	"ALTER TABLE sessions ADD COLUMN tls_version TEXT;"
	"ALTER TABLE sessions ADD COLUMN tls_cipher TEXT;"
	"ALTER TABLE sessions ADD COLUMN tls_error TEXT;"
	"ALTER TABLE sessions ADD COLUMN tls_alert TEXT;"
	"ALTER TABLE sessions ADD COLUMN tls_hello_ms INTEGER;"
	"ALTER TABLE sessions ADD COLUMN tls_done_ms INTEGER;"
	"ALTER TABLE sessions ADD COLUMN tls_raw_in INTEGER;"
	"ALTER TABLE sessions ADD COLUMN tls_raw_out INTEGER;"
	"ALTER TABLE sessions ADD COLUMN tls_hello BLOB;"
	"ALTER TABLE runs ADD COLUMN tls_handshakes INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE runs ADD COLUMN tls_failed INTEGER NOT NULL DEFAULT 0;"

	/* v8 experiment: the draw that assigned the session's strategy
	 * (respond.c); NULL when it was the listener's (not randomised) */
	"ALTER TABLE sessions ADD COLUMN experiment TEXT;"
	"ALTER TABLE sessions ADD COLUMN experiment_id TEXT;"
	"CREATE INDEX sessions_experiment ON sessions(experiment_id, start_ts) "
	"  WHERE experiment_id IS NOT NULL;"

	"UPDATE meta SET value = '8' WHERE key = 'schema_version';";

/* Version 9: the fleet (issue 12). The database is the sensor's spool:
 * what was shipped, and each sink's counters in runs. */
static const char store_schema_v9[] =
	/* v9 nats: the shipper's progress (acknowledged by the stream) and counters */
	"CREATE TABLE nats_shipped ("
	"  subject TEXT PRIMARY KEY,"            /* where the sessions went */
	"  last_rowid INTEGER NOT NULL,"         /* sessions up to it are acknowledged */
	"  updated TEXT NOT NULL"
	");"
	"CREATE TABLE nats_payloads ("           /* payloads the stream acknowledged */
	"  subject TEXT NOT NULL,"
	"  sha256 TEXT NOT NULL,"
	"  PRIMARY KEY (subject, sha256)"
	") WITHOUT ROWID;"
	"CREATE TABLE nats_chunks ("             /* collect: a chunked message's parts so far */
	"  kind TEXT NOT NULL,"                   /* 'payload' or 'session' */
	"  subject TEXT NOT NULL,"                /* it came on: one sender cannot spoil another's */
	"  sha256 TEXT NOT NULL,"                 /* of the whole message, as claimed */
	"  count INTEGER NOT NULL,"
	"  idx INTEGER NOT NULL,"
	"  size INTEGER NOT NULL,"                /* of the whole message, as claimed */
	"  first_seen TEXT NOT NULL,"             /* a payload's; a session chunk's session id */
	"  received INTEGER NOT NULL,"            /* unix seconds: incomplete sets expire */
	"  data BLOB NOT NULL,"
	"  PRIMARY KEY (kind, subject, sha256, count, idx)"
	") WITHOUT ROWID;"
	"CREATE INDEX nats_chunks_received ON nats_chunks(received);"
	"CREATE TABLE nats_sensors ("             /* collect: each sensor's subject (identity) */
	"  sensor TEXT PRIMARY KEY,"
	"  subject TEXT NOT NULL,"                /* its sessions come only on this one */
	"  first_seen TEXT NOT NULL"
	");"
	"ALTER TABLE runs ADD COLUMN nats_shipped INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE runs ADD COLUMN nats_failures INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE runs ADD COLUMN nats_backlog INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE runs ADD COLUMN nats_lag_ms INTEGER NOT NULL DEFAULT 0;"

	/* v9 syslog: counters */
	"ALTER TABLE runs ADD COLUMN syslog_sent INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE runs ADD COLUMN syslog_lost INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE runs ADD COLUMN syslog_escaped INTEGER NOT NULL DEFAULT 0;"

	/* v9 metrics */
	"ALTER TABLE runs ADD COLUMN metrics_scrapes INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE runs ADD COLUMN metrics_refused INTEGER NOT NULL DEFAULT 0;"

	"UPDATE meta SET value = '9' WHERE key = 'schema_version';";

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
	if (version < 2 &&
	    sqlite3_exec(st->db, store_schema_v2, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (version < 3 &&
	    sqlite3_exec(st->db, store_schema_v3, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (version < 4 &&
	    sqlite3_exec(st->db, store_schema_v4, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (version < 5 &&
	    sqlite3_exec(st->db, store_schema_v5, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (version < 6 &&
	    sqlite3_exec(st->db, store_schema_v6, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (version < 7 &&
	    sqlite3_exec(st->db, store_schema_v7, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (version < 8 &&
	    sqlite3_exec(st->db, store_schema_v8, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (version < 9 &&
	    sqlite3_exec(st->db, store_schema_v9, NULL, NULL, NULL) != SQLITE_OK)
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
	st->shapes = calloc(1, sizeof(*st->shapes));
	if (!st->sensor || !st->shapes) {
		snprintf(err, errlen, "out of memory");
		goto err;
	}
	/* The database and its WAL files must be the user's own, in a
	 * folder no one else can write: SQLite opens them by name. */
	char real[STATE_PATH_MAX];
	if (state_prepare_db(path, real, sizeof(real), err, errlen) < 0)
		goto err;
	if (sqlite3_open_v2(real, &st->db,
	        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
	        SQLITE_OPEN_NOFOLLOW, NULL) != SQLITE_OK) {
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
	        "payload_lost, mode, strategy, first_out_ms, closed_by, "
	        "peer_close_after_out_ms, peer_close_after_ident_ms, ident_status, "
	        "ident_reply, ident_opsys, ident_charset, ident_userid, ident_error, "
	        "ident_sent_ms, ident_reply_ms, http, requests, limit_hit, family, tags, "
	        "class_state, shape"
	        /* v7 syn columns (?38-?69) */
	        ", syn_sig, syn_ver, syn_ttl, syn_ittl, hops, syn_df, syn_ipid, syn_win, "
	        "syn_mss, syn_wscale, syn_olayout, syn_ts, syn_quirks, os, os_class, "
	        "os_match, syn_of, rtt_us, rttvar_us, retrans, peer_mss, peer_window, "
	        "zero_window, rwnd_limited_ms"

	        /* v7 proxy columns (?70-?79) */
	        ", proxy, proxy_error, via_ip, via_port, via_dst_ip, via_dst_port"

	        /* v7 halfopen columns (?80-?89) */
	        ", handshakes, summary, syn_retries"

	        /* v7 pcap columns (?90-?94) */
	        ", pcap_file"

	        /* v8 tls hello columns (?95-?114) */
	        ", tls, tls_record_ver, tls_hello_ver, tls_versions, tls_ciphers, "
	        "tls_extensions, tls_groups, tls_point_formats, tls_sig_algs, tls_alpn, "
	        "tls_sni, ja3, ja3_md5, ja4, ja4_r"

	        /* v8 tls front columns (?115-?124) */
	        ", tls_front, tls_version, tls_cipher, tls_error, tls_alert, "
	        "tls_hello_ms, tls_done_ms, tls_raw_in, tls_raw_out, tls_hello"

	        /* v8 experiment columns (?125-?129) */
	        ", experiment, experiment_id"

	        ") VALUES "
	        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
	        "?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, "
	        "?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36, ?37"
	        /* v7 syn values */
	        ", ?38, ?39, ?40, ?41, ?42, ?43, ?44, ?45, ?46, ?47, ?48, ?49, ?50, "
	        "?51, ?52, ?53, ?54, ?55, ?56, ?57, ?58, ?59, ?60, ?61"

	        /* v7 proxy values */
	        ", ?70, ?71, ?72, ?73, ?74, ?75"

	        /* v7 halfopen values */
	        ", ?80, ?81, ?82"

	        /* v7 pcap values */
	        ", ?90"

	        /* v8 tls hello values */
	        ", ?95, ?96, ?97, ?98, ?99, ?100, ?101, ?102, ?103, ?104, ?105, ?106, "
	        "?107, ?108, ?109"

	        /* v8 tls front values */
	        ", ?115, ?116, ?117, ?118, ?119, ?120, ?121, ?122, ?123, ?124"

	        /* v8 experiment values */
	        ", ?125, ?126"

	        ")",
	        -1, SQLITE_PREPARE_PERSISTENT, &st->insert_session, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(st->db,
	        "INSERT INTO runs(sensor, mode, started, ended, sessions, refused, "
	        "accept_errors, payloads_dropped, records_dropped, store_errors, "
	        "records_lost, jsonl_errors, lag_pauses, lag_paused_ms, unclassified, "
	        "evicted, jsonl_escaped, classify_skipped"
	        /* v7 syn run columns (?19-?22) */

	        /* v7 proxy run columns (?23-?26) */

	        /* v7 halfopen run columns (?27-?30) */
	        ", halfopen_rows, halfopen_summarised, halfopen_untracked, pcap_dropped"

	        /* v7 pcap run columns (?31-?34) */
	        ", pcap_lost, pcap_files_rotated, capture_failed"

	        /* v8 tls front run columns (?35-?40) */
	        ", tls_handshakes, tls_failed"

	        /* v9 nats run columns (?41-?49) */
	        ", nats_shipped, nats_failures, nats_backlog, nats_lag_ms"

	        /* v9 syslog run columns (?50-?54) */
	        ", syslog_sent, syslog_lost, syslog_escaped"

	        /* v9 metrics run columns (?55-?59) */
	        ", metrics_scrapes, metrics_refused"

	        ") VALUES "
	        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
	        "?17, ?18"
	        /* v7 syn run values */

	        /* v7 proxy run values */

	        /* v7 halfopen run values */
	        ", ?27, ?28, ?29, ?30"

	        /* v7 pcap run values */
	        ", ?31, ?32, ?33"

	        /* v8 tls front run values */
	        ", ?35, ?36"

	        /* v9 nats run values */
	        ", ?41, ?42, ?43, ?44"

	        /* v9 syslog run values */
	        ", ?50, ?51, ?52"

	        /* v9 metrics run values */
	        ", ?55, ?56"

	        ")",
	        -1, SQLITE_PREPARE_PERSISTENT, &st->insert_run, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(st->db,
	        "INSERT INTO requests(session, seq, at_ms, method, target, version, "
	        "host, user_agent, headers, body_bytes) VALUES "
	        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	        -1, SQLITE_PREPARE_PERSISTENT, &st->insert_request, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(st->db,
	        "INSERT OR REPLACE INTO matches(session, rule, tags) VALUES (?1, ?2, ?3)",
	        -1, SQLITE_PREPARE_PERSISTENT, &st->insert_match, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(st->db,
	        "UPDATE sessions SET family = ?2, tags = ?3, class_state = ?4 "
	        "WHERE session = ?1 AND class_state = 'pending'",
	        -1, SQLITE_PREPARE_PERSISTENT, &st->update_class, NULL) != SQLITE_OK) {
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

/* Binds milliseconds, or NULL for -1. */
static void store_bind_ms(sqlite3_stmt *s, int col, int64_t ms)
{
	if (ms >= 0)
		sqlite3_bind_int64(s, col, ms);
}

/* Binds a span of the payload as escaped text (NULL when empty and
 * null_if_empty). */
static void store_bind_span(sqlite3_stmt *s, int col, const struct record *r,
    struct record_span sp, bool null_if_empty)
{
	char *text;

	if (sp.len == 0 && null_if_empty)
		return;
	if (!r->payload || (size_t)sp.off + sp.len > r->payload_len) {
		sqlite3_bind_text(s, col, "", 0, SQLITE_STATIC);
		return;
	}
	text = text_escape(r->payload + sp.off, sp.len, false);
	if (text)
		sqlite3_bind_text(s, col, text, -1, free);
}

/* Binds a NUL-terminated string of peer bytes (an IDENT field) as escaped
 * text, like every other peer string in a text column. */
static void store_bind_peer(sqlite3_stmt *s, int col, const char *raw)
{
	char *text = text_escape(raw, strlen(raw), false);

	if (text)
		sqlite3_bind_text(s, col, text, -1, free);
}

/* Binds the TLS front's columns (?115-?124); all NULL off a TLS listener.
 * Version, cipher and alert are names from OpenSSL or the front's table,
 * no peer bytes; the hello is the peer's raw bytes, as a BLOB. */
static void store_bind_tls_front(sqlite3_stmt *s, const struct record_tls_front *t)
{
	const char *err;

	if (!t)
		return;
	sqlite3_bind_int(s, 115, 1);
	if (t->version[0])
		sqlite3_bind_text(s, 116, t->version, -1, SQLITE_STATIC);
	if (t->cipher[0])
		sqlite3_bind_text(s, 117, t->cipher, -1, SQLITE_STATIC);
	if ((err = record_tls_error_name(t->error)))
		sqlite3_bind_text(s, 118, err, -1, SQLITE_STATIC);
	if (t->alert[0])
		sqlite3_bind_text(s, 119, t->alert, -1, SQLITE_STATIC);
	store_bind_ms(s, 120, t->hello_ms);
	store_bind_ms(s, 121, t->done_ms);
	sqlite3_bind_int64(s, 122, (sqlite3_int64)t->raw_in);
	sqlite3_bind_int64(s, 123, (sqlite3_int64)t->raw_out);
	if (t->hello_len)
		sqlite3_bind_blob(s, 124, t->hello, (int)t->hello_len, SQLITE_STATIC);
}

static int store_insert_requests(struct store *st, const struct record *r,
    const char *id)
{
	sqlite3_stmt *s = st->insert_request;

	/* The requests point into the payload: without it (lost to a full
	 * queue or disk) only their count, in sessions.requests, remains. */
	if (!r->payload)
		return SQLITE_OK;
	for (uint32_t i = 0; i < r->nrequests; i++) {
		const struct record_request *q = &r->requests[i];
		sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 2, (int)i + 1);
		sqlite3_bind_int64(s, 3, q->at_ms);
		store_bind_span(s, 4, r, q->method, false);
		store_bind_span(s, 5, r, q->target, false);
		store_bind_span(s, 6, r, q->version, true);
		store_bind_span(s, 7, r, q->host, true);
		store_bind_span(s, 8, r, q->user_agent, true);
		if ((size_t)q->headers.off + q->headers.len <= r->payload_len)
			sqlite3_bind_blob(s, 9, r->payload + q->headers.off,
			    (int)q->headers.len, SQLITE_STATIC);
		else
			sqlite3_bind_blob(s, 9, "", 0, SQLITE_STATIC);
		sqlite3_bind_int64(s, 10, (sqlite3_int64)q->body_bytes);
		int rc = store_step(s);
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

int store_insert_match(struct store *st, const char *session, const char *rule,
    const char *tags)
{
	sqlite3_stmt *s = st->insert_match;

	sqlite3_bind_text(s, 1, session, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, tags, -1, SQLITE_STATIC);
	return store_step(s);
}

/* Binds family, tags (NULL when none) and class_state at col, col + 1
 * and col + 2. Rules name families and tags: they are escaped like peer
 * bytes, since a rule file may say anything. */
/* The SYN fingerprint (?38-?54) and TCP_INFO (?55-?61) of r: NULL
 * where unknown. The os label comes from the p0f database (a file): text,
 * escaped by whoever displays it. */
static void store_bind_syn(sqlite3_stmt *s, const struct record *r)
{
	const struct record_syn *syn = &r->syn;
	const struct record_tcpinfo *ti = &r->tcpi;

	if (syn->present == SYN_PARSED) {
		char sig[SYNSIG_SIG_MAX], olayout[SYNSIG_OLAYOUT_MAX];
		char quirks[SYNSIG_QUIRKS_MAX], os[P0FDB_OS_TEXT_MAX];

		synsig_format(syn, sig);
		synsig_olayout(syn, olayout);
		synsig_quirks(syn->quirks, quirks);
		sqlite3_bind_text(s, 38, sig, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(s, 39, syn->ver);
		sqlite3_bind_int(s, 40, syn->ttl);
		sqlite3_bind_int(s, 41, r->os.ittl);
		if (r->os.hops >= 0)
			sqlite3_bind_int(s, 42, r->os.hops);
		if (syn->ver == 4) {
			sqlite3_bind_int(s, 43, syn->df);
			sqlite3_bind_int(s, 44, syn->ip_id);
		}
		sqlite3_bind_int(s, 45, syn->win);
		if (synsig_has_option(syn, 2))
			sqlite3_bind_int(s, 46, syn->mss);
		if (syn->wscale >= 0)
			sqlite3_bind_int(s, 47, syn->wscale);
		sqlite3_bind_text(s, 48, olayout, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(s, 49, syn->ts);
		sqlite3_bind_text(s, 50, quirks, -1, SQLITE_TRANSIENT);
		if (r->os.match != OS_MATCH_NONE) {
			p0fdb_os_text(&r->os, os);
			sqlite3_bind_text(s, 51, os, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(s, 52, r->os.class_, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(s, 53, p0fdb_match_name(r->os.match), -1, SQLITE_STATIC);
		}
		sqlite3_bind_text(s, 54, syn->of_proxy ? "proxy" : "peer", -1, SQLITE_STATIC);
	}
	if (ti->present) {
		sqlite3_bind_int64(s, 55, ti->rtt_us);
		sqlite3_bind_int64(s, 56, ti->rttvar_us);
		sqlite3_bind_int64(s, 57, ti->retrans);
		sqlite3_bind_int64(s, 58, ti->peer_mss);
		if (ti->has_snd_wnd)
			sqlite3_bind_int64(s, 59, ti->peer_window);
		sqlite3_bind_int(s, 60, ti->zero_window);
		if (ti->has_rwnd_limited)
			sqlite3_bind_int64(s, 61, (sqlite3_int64)(ti->rwnd_limited_us / 1000));
	}
}

/* The ClientHello's facts (?95-?109): all NULL when no TLS was seen.
 * tlshello_text escapes the peer's strings (SNI, ALPN) as text.h does. */
static void store_bind_tls_hello(sqlite3_stmt *s, const struct tlshello *h)
{
	if (!h)
		return;
	sqlite3_bind_text(s, 95, tlshello_state_name(tlshello_state(h)), -1, SQLITE_STATIC);
	if (tlshello_record_version(h) >= 0)
		sqlite3_bind_int(s, 96, tlshello_record_version(h));
	if (tlshello_hello_version(h) >= 0)
		sqlite3_bind_int(s, 97, tlshello_hello_version(h));
	for (int f = 0; f < TLSHELLO_F_COUNT; f++) {
		char *text = tlshello_text(h, (enum tlshello_field)f);
		if (text)
			sqlite3_bind_text(s, 98 + f, text, -1, free);
	}
}

static void store_bind_class(sqlite3_stmt *s, int col, const struct record *r)
{
	if (r->class && r->class->family[0])
		store_bind_peer(s, col, r->class->family);
	if (r->class && r->class->tags[0])
		store_bind_peer(s, col + 1, r->class->tags);
	sqlite3_bind_text(s, col + 2, record_class_name(r->class_state), -1, SQLITE_STATIC);
}

/* A verdict of the classifier on a session stored before. */
static int store_apply_class(struct store *st, const struct record *r)
{
	char id[RECORD_ID_LEN];
	int rc;

	record_id_hex(r->id, id);
	sqlite3_bind_text(st->update_class, 1, id, -1, SQLITE_STATIC);
	store_bind_class(st->update_class, 2, r);
	if ((rc = store_step(st->update_class)) != SQLITE_OK)
		return rc;
	/* Only a session still waiting takes the verdict: a `rescan` that
	 * classified it meanwhile keeps its own family and matches. */
	if (sqlite3_changes(st->db) == 0)
		return SQLITE_OK;
	for (int i = 0; i < r->nmatches; i++) {
		rc = store_insert_match(st, id, r->matches[i].rule, r->matches[i].tags);
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static int store_insert(struct store *st, const struct record *r)
{
	static const char *const mode_names[] = {"serve", "inetd"};
	char id[RECORD_ID_LEN], start[RECORD_TS_LEN], end[RECORD_TS_LEN];
	char src[ADDR_TEXT_LEN], dst[ADDR_TEXT_LEN], sha[RECORD_SHA256_HEX];
	sqlite3_stmt *s;
	int rc;

	record_id_hex(r->id, id);
	const char *id_hex = id;
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
	if (r->strategy)
		sqlite3_bind_text(s, 18, r->strategy, -1, SQLITE_STATIC);
	store_bind_ms(s, 19, r->first_out_ms);
	sqlite3_bind_text(s, 20, r->closed_by_peer ? "peer" : "server", -1, SQLITE_STATIC);
	store_bind_ms(s, 21, r->peer_close_after_out_ms);
	store_bind_ms(s, 22, r->peer_close_after_ident_ms);
	const struct record_ident *ident = r->ident;
	sqlite3_bind_text(s, 23, record_ident_name(ident ? ident->status : IDENT_NONE),
	    -1, SQLITE_STATIC);
	if (ident) {
		if (ident->reply[0])
			sqlite3_bind_text(s, 24, ident->reply, -1, SQLITE_STATIC);
		if (ident->status == IDENT_USERID) {
			store_bind_peer(s, 25, ident->opsys);
			if (ident->charset[0])
				store_bind_peer(s, 26, ident->charset);
			store_bind_peer(s, 27, ident->userid);
		}
		if (ident->status == IDENT_ERROR)
			store_bind_peer(s, 28, ident->error);
		store_bind_ms(s, 29, ident->sent_ms);
		store_bind_ms(s, 30, ident->reply_ms);
	}
	const char *http = record_http_name(r->http);
	if (http)
		sqlite3_bind_text(s, 31, http, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 32, (sqlite3_int64)(r->nrequests + r->requests_dropped));
	if (record_limit_name(r->limit))
		sqlite3_bind_text(s, 33, record_limit_name(r->limit), -1, SQLITE_STATIC);
	store_bind_class(s, 34, r);
	/* Cheap (one bounded pass over the first head), so the writer does
	 * it here rather than queueing it like classification. */
	const struct shape *shape = r->payload ? shape_of_cached(st->shapes, r->sha256,
	    r->payload, r->payload_len, r->nrequests + r->requests_dropped) : NULL;
	if (shape)
		sqlite3_bind_text(s, 37, shape->id, -1, SQLITE_TRANSIENT);

	/* v7 syn binds */
	store_bind_syn(s, r);

	/* v7 proxy binds */
	char via_src[ADDR_TEXT_LEN], via_dst[ADDR_TEXT_LEN];
	if (record_proxy_name(r->proxy))
		sqlite3_bind_text(s, 70, record_proxy_name(r->proxy), -1, SQLITE_STATIC);
	if (record_proxy_error_name(r->proxy_error))
		sqlite3_bind_text(s, 71, record_proxy_error_name(r->proxy_error), -1,
		    SQLITE_STATIC);
	if (r->via) {
		sqlite3_bind_text(s, 72, addr_ip(&r->via_src, via_src, sizeof(via_src)), -1,
		    SQLITE_STATIC);
		sqlite3_bind_int(s, 73, addr_port(&r->via_src));
		sqlite3_bind_text(s, 74, addr_ip(&r->via_dst, via_dst, sizeof(via_dst)), -1,
		    SQLITE_STATIC);
		sqlite3_bind_int(s, 75, addr_port(&r->via_dst));
	}

	/* v7 halfopen binds */
	if (r->handshakes)
		sqlite3_bind_int64(s, 80, r->handshakes);
	if (record_summary_name(r->summary))
		sqlite3_bind_text(s, 81, record_summary_name(r->summary), -1, SQLITE_STATIC);
	if (r->reason == CLOSE_SYN_ONLY || r->reason == CLOSE_RST_AFTER_SYNACK)
		sqlite3_bind_int(s, 82, r->syn_retries);

	/* v7 pcap binds */
	if (r->pcap_file[0])
		sqlite3_bind_text(s, 90, r->pcap_file, -1, SQLITE_STATIC);

	/* v8 tls hello binds */
	store_bind_tls_hello(s, r->tls);

	/* v8 tls front binds */
	store_bind_tls_front(s, r->tls_front);

	/* v8 experiment binds */
	if (r->experiment)
		sqlite3_bind_text(s, 125, r->experiment, -1, SQLITE_STATIC);
	if (r->experiment_id)
		sqlite3_bind_text(s, 126, r->experiment_id, -1, SQLITE_STATIC);

	rc = store_step(s);
	if (rc != SQLITE_OK)
		return rc;
	for (int i = 0; i < r->nmatches; i++) {
		rc = store_insert_match(st, id_hex, r->matches[i].rule, r->matches[i].tags);
		if (rc != SQLITE_OK)
			return rc;
	}
	return store_insert_requests(st, r, id_hex);
}

int store_write(struct store *st, const struct record *list)
{
	int rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return rc;
	for (const struct record *r = list; r; r = r->next) {
		if (r->kind == RECORD_CLOSED)
			rc = store_insert(st, r);
		else if (r->kind == RECORD_CLASSIFIED)
			rc = store_apply_class(st, r);
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

int store_write_run(struct store *st, const struct sink_run *run)
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
	sqlite3_bind_int64(s, 13, (sqlite3_int64)run->lag_pauses);
	sqlite3_bind_int64(s, 14, (sqlite3_int64)run->lag_paused_ms);
	sqlite3_bind_int64(s, 15, (sqlite3_int64)run->unclassified);
	sqlite3_bind_int64(s, 16, (sqlite3_int64)run->evicted);
	sqlite3_bind_int64(s, 17, (sqlite3_int64)run->jsonl_escaped);
	sqlite3_bind_int64(s, 18, (sqlite3_int64)run->classify_skipped);

	/* v7 syn run binds */

	/* v7 proxy run binds */

	/* v7 halfopen run binds */
	sqlite3_bind_int64(s, 27, (sqlite3_int64)run->halfopen_rows);
	sqlite3_bind_int64(s, 28, (sqlite3_int64)run->halfopen_summarised);
	sqlite3_bind_int64(s, 29, (sqlite3_int64)run->halfopen_untracked);
	sqlite3_bind_int64(s, 30, (sqlite3_int64)run->pcap_dropped);

	/* v7 pcap run binds */
	sqlite3_bind_int64(s, 31, (sqlite3_int64)run->pcap_lost);
	sqlite3_bind_int64(s, 32, (sqlite3_int64)run->pcap_files_rotated);
	sqlite3_bind_int64(s, 33, (sqlite3_int64)run->capture_failed);

	/* v8 tls front run binds */
	sqlite3_bind_int64(s, 35, (sqlite3_int64)run->tls_handshakes);
	sqlite3_bind_int64(s, 36, (sqlite3_int64)run->tls_failed);

	/* v9 nats run binds */
	sqlite3_bind_int64(s, 41, (sqlite3_int64)run->nats_shipped);
	sqlite3_bind_int64(s, 42, (sqlite3_int64)run->nats_failures);
	sqlite3_bind_int64(s, 43, (sqlite3_int64)run->nats_backlog);
	sqlite3_bind_int64(s, 44, (sqlite3_int64)run->nats_lag_ms);

	/* v9 syslog run binds */
	sqlite3_bind_int64(s, 50, (sqlite3_int64)run->syslog_sent);
	sqlite3_bind_int64(s, 51, (sqlite3_int64)run->syslog_lost);
	sqlite3_bind_int64(s, 52, (sqlite3_int64)run->syslog_escaped);

	/* v9 metrics run binds */
	sqlite3_bind_int64(s, 55, (sqlite3_int64)run->metrics_scrapes);
	sqlite3_bind_int64(s, 56, (sqlite3_int64)run->metrics_refused);

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

struct sqlite3 *store_db(struct store *st)
{
	return st->db;
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
	sqlite3_finalize(st->insert_request);
	sqlite3_finalize(st->insert_match);
	sqlite3_finalize(st->update_class);
	sqlite3_close(st->db);
	free(st->sensor);
	free(st->shapes);
	free(st);
}

/* Defensive mode (no writes to the schema or shadow tables) and an
 * untrusted schema, for a database someone else may have forged. */
static int store_distrust(sqlite3 *db)
{
	int rc = sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	return rc;
}

int store_open_untrusted(const char *path, sqlite3 **db)
{
	int rc;

	if (path)
		rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL);
	else
		rc = sqlite3_open_v2(":memory:", db, SQLITE_OPEN_READWRITE |
		    SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, NULL);
	if (rc == SQLITE_OK)
		rc = store_distrust(*db);
	return rc;
}

const char *store_column_display(sqlite3_stmt *q, int i, char *out,
    size_t outlen)
{
	const unsigned char *v = sqlite3_column_text(q, i);

	text_display_into(v ? v : (const unsigned char *)"",
	    v ? (size_t)sqlite3_column_bytes(q, i) : 0, out, outlen);
	return v ? out : NULL;
}

int store_attach_ro(sqlite3 *db, const char *path, const char *name)
{
	static const char hex[] = "0123456789ABCDEF";
	char *uri, *p, *sql;
	sqlite3_stmt *q;
	int rc;

	/* file: URI with mode=ro; every byte that could end or change the
	 * path part (%, ?, #, and anything not plainly printable) encoded. */
	uri = malloc(strlen(path) * 3 + sizeof("file:?mode=ro"));
	if (!uri)
		return SQLITE_NOMEM;
	p = uri + sprintf(uri, "file:");
	for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
		if (*c <= 0x20 || *c >= 0x7f || *c == '%' || *c == '?' || *c == '#') {
			*p++ = '%';
			*p++ = hex[*c >> 4];
			*p++ = hex[*c & 15];
		} else {
			*p++ = (char)*c;
		}
	}
	strcpy(p, "?mode=ro");
	sql = sqlite3_mprintf("ATTACH DATABASE ?1 AS \"%w\"", name);
	rc = sql ? sqlite3_prepare_v2(db, sql, -1, &q, NULL) : SQLITE_NOMEM;
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(q, 1, uri, -1, SQLITE_STATIC);
		rc = sqlite3_step(q);
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
		sqlite3_finalize(q);
	}
	sqlite3_free(sql);
	free(uri);
	return rc;
}
