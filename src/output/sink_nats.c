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

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>


#include "config.h"
#include "log.h"
#include "nats_api.h"
#include "natsrow.h"
#include "record.h"

#define NATS_BATCH 32                /* sessions read in one short transaction */
#define NATS_IDLE_MS 1000            /* a look at the database when nothing wakes us */
#define NATS_RETRY_MS 1000           /* after a failed publish */
#define NATS_ACK_WAIT_MS 5000        /* a publish without an ack by then failed */
#define NATS_CLASS_WAIT_S 60         /* a pending verdict is waited for this long */
#define NATS_BUSY_MS 2000            /* the writer holds the lock at most this */
#define NATS_DRAIN_MS 5000           /* at exit, the backlog is shipped this long at most */
#define NATS_SUBJECT_MAX 256
#define NATS_HEADER_ROOM 4096        /* of the server's max_payload, kept for headers */
/* A session's JSON (its row, requests with their heads in hex, matches)
 * past this is not shipped: counted as a failure, logged, skipped. One
 * keep-alive connection can make a session of tens of MB; this bounds
 * what one session costs the shipper and the collector's reassembly. */
#define NATS_SESSION_MAX (64u << 20)
/* A batch stops growing past this many bytes of JSON (one session always
 * goes, up to NATS_SESSION_MAX): what the shipper holds at once. */
#define NATS_BATCH_BYTES (8u << 20)
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
	char *urls, *creds, *ca_pem;  /* urls: every host an IP address */
	char tls_name[256];             /* certificates are checked against it */
	bool tls;
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

/* flypaper.<sensor>.sessions. A subject token cannot hold spaces, '.',
 * '*' or '>': those, and '_' itself, become _XX (the byte in hex), so the
 * mapping is one-to-one and two sensors never share a subject ("a.b" is
 * a_2eb, "a_b" a_5fb). A sensor name is 64 bytes at most (config.c): the
 * subject is 9 + 192 + 9 bytes at most, never cut. */
static void sink_nats_default_subject(const char *sensor, char *out, size_t len)
{
	char tok[3 * 64 + 1];
	size_t n = 0;

	for (size_t i = 0; sensor[i] && n + 4 <= sizeof(tok); i++) {
		unsigned char c = (unsigned char)sensor[i];
		if (c <= ' ' || c > '~' || c == '.' || c == '*' || c == '>' || c == '_')
			n += (size_t)snprintf(tok + n, sizeof(tok) - n, "_%02x", c);
		else
			tok[n++] = (char)c;
	}
	tok[n] = '\0';
	snprintf(out, len, "flypaper.%s.sessions", tok);
}

static void sink_nats_close(struct sink *sink);

/* What sink_nats_before_chroot resolved, for the sink opened after the
 * chroot (one per process). */
static struct {
	char *from;                  /* the --nats it was made from */
	char *urls;                  /* the same servers, every host an IP address */
	char tls_name[256];          /* the first host given by name, "" for none */
	bool tls;                    /* a tls:// URL */
} sink_nats_resolved;

static bool sink_nats_is_ip(const char *host)
{
	unsigned char a[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* Appends one server, host an IP address, to the list out (len bytes)
 * unless it is there already. Returns 0, 1 when the list is full (or out
 * of room), -1 for a bad entry. */
static int sink_nats_add_server(char *out, size_t len, int *n, const struct nats_url *u,
    const char *ip)
{
	char one[600];
	bool v6 = strchr(ip, ':') != NULL;

	snprintf(one, sizeof(one), "%s://%s%s%s%s%s:%s", u->scheme, u->userinfo,
	    u->userinfo[0] ? "@" : "", v6 ? "[" : "", ip, v6 ? "]" : "", u->port);
	for (const char *p = out; *p; ) {
		size_t l = strcspn(p, ",");
		if (l == strlen(one) && strncmp(p, one, l) == 0)
			return 0;
		p += l + (p[l] == ',');
	}
	if (*n == NATS_API_MAX_SERVERS || strlen(out) + strlen(one) + 2 > len)
		return 1;
	if (*n > 0)
		strcat(out, ",");
	strcat(out, one);
	(*n)++;
	return 0;
}

/* Resolves every host of urls (getaddrinfo, once: nothing resolves once
 * confined, and under a chroot /etc is gone) into a list libnats can use
 * as is: each address a server of its own, IPv6 in brackets, the scheme,
 * user part and port kept. The first host given by name goes to tls_name:
 * with TLS the certificates are checked against it, not against the
 * addresses. Returns the list (malloc'd), or NULL with err. */
static char *sink_nats_resolve(const char *urls, char *tls_name, size_t namelen,
    bool *tls, char *err, size_t errlen)
{
	size_t len = NATS_API_MAX_SERVERS * 600;
	char *copy = strdup(urls), *out = calloc(1, len), *save = NULL, *p, why[512];
	int n = 0, full = 0;

	tls_name[0] = '\0';
	if (!copy || !out) {
		snprintf(err, errlen, "nats: out of memory");
		goto fail;
	}
	for (p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
		    .ai_flags = AI_NUMERICSERV}, *ai, *a;
		struct nats_url u;
		int rc;

		if (nats_api_url_split(p, &u, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "nats: %s", why);
			goto fail;
		}
		if ((rc = getaddrinfo(u.host, u.port, &hints, &ai)) != 0) {
			snprintf(err, errlen, "nats: cannot resolve %s: %s (names are "
			    "resolved once, at start)", u.host, gai_strerror(rc));
			goto fail;
		}
		if (strcasecmp(u.scheme, "tls") == 0)
			*tls = true;
		if (!sink_nats_is_ip(u.host) && !tls_name[0])
			snprintf(tls_name, namelen, "%s", u.host);
		for (a = ai; a && !full; a = a->ai_next) {
			char ip[INET6_ADDRSTRLEN];
			if (getnameinfo(a->ai_addr, a->ai_addrlen, ip, sizeof(ip), NULL, 0,
			        NI_NUMERICHOST) == 0)
				full = sink_nats_add_server(out, len, &n, &u, ip);
		}
		freeaddrinfo(ai);
		if (full) {
			log_warn("nats: more than %d server addresses; the first %d are used",
			    NATS_API_MAX_SERVERS, NATS_API_MAX_SERVERS);
			break;
		}
	}
	if (n == 0) {
		nats_api_redact(urls, why, sizeof(why));
		snprintf(err, errlen, "nats: '%s' names no server", why);
		goto fail;
	}
	free(copy);
	return out;
fail:
	free(copy);
	free(out);
	return NULL;
}

int sink_nats_before_chroot(const struct config *cfg, char *err, size_t errlen)
{
	err[0] = '\0';
	if (!cfg->nats_urls || sink_nats_resolved.from)
		return 0;
	/* libnats too: a chroot hides it */
	if (nats_api_load(err, errlen) < 0)
		return -1;
	if (!(sink_nats_resolved.urls = sink_nats_resolve(cfg->nats_urls,
	        sink_nats_resolved.tls_name, sizeof(sink_nats_resolved.tls_name),
	        &sink_nats_resolved.tls, err, errlen)))
		return -1;
	if (!(sink_nats_resolved.from = strdup(cfg->nats_urls))) {
		snprintf(err, errlen, "nats: out of memory");
		return -1;
	}
	return 0;
}

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
	    /* A cluster tells its clients of its other servers, maybe by
	     * name, which cannot be resolved once confined: only the
	     * servers given (resolved at start) are used. */
	    (st = natsOptions_SetIgnoreDiscoveredServers(s->opts, true)) != NATS_OK ||
	    (s->ca_pem && ((st = natsOptions_SetSecure(s->opts, true)) != NATS_OK ||
	     (st = natsOptions_SetCATrustedCertificates(s->opts, s->ca_pem)) != NATS_OK)) ||
	    /* libnats connects to addresses: the certificate is checked
	     * against the name given */
	    (s->tls && s->tls_name[0] &&
	     (st = natsOptions_SetExpectedHostname(s->opts, s->tls_name)) != NATS_OK) ||
	    (s->creds &&
	     (st = natsOptions_SetUserCredentialsFromFiles(s->opts, s->creds, NULL)) != NATS_OK)) {
		char shown[512];
		nats_api_redact(s->urls, shown, sizeof(shown));
		log_error("nats: '%s': %s; nothing is shipped this run", shown,
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
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);   /* waits immune to clock changes */
	pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
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
	if (cfg->nats_creds && !(s->creds = strdup(cfg->nats_creds))) {
		snprintf(err, errlen, "nats: out of memory");
		goto fail;
	}
	/* The names were resolved before a chroot (sink_nats_before_chroot);
	 * without one, now, before confinement. */
	if (sink_nats_resolved.from && strcmp(sink_nats_resolved.from, cfg->nats_urls) == 0) {
		s->urls = sink_nats_resolved.urls;
		sink_nats_resolved.urls = NULL;
		snprintf(s->tls_name, sizeof(s->tls_name), "%s", sink_nats_resolved.tls_name);
		s->tls = sink_nats_resolved.tls;
	} else if (!(s->urls = sink_nats_resolve(cfg->nats_urls, s->tls_name,
	        sizeof(s->tls_name), &s->tls, err, errlen))) {
		goto fail;
	}
	s->tls |= s->ca_pem != NULL;
	char given[512], resolved[512];
	nats_api_redact(cfg->nats_urls, given, sizeof(given));
	nats_api_redact(s->urls, resolved, sizeof(resolved));
	log_info("nats: shipping to %s (%s), subject %s, at most %d message(s) a second",
	    given, resolved, s->subject, s->rate);
	if (s->tls && s->tls_name[0])
		log_info("nats: TLS: every server's certificate must be valid for %s",
		    s->tls_name);
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

	clock_gettime(CLOCK_MONOTONIC, &until);
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

/* True once the thread must stop publishing: told to stop, or at exit
 * with the drain's time (NATS_DRAIN_MS) over. Checked before every
 * publish, so a server that acks slowly delays the exit by one ack wait
 * at most, not a batch of them. */
static bool sink_nats_give_up(struct sink_nats *s)
{
	pthread_mutex_lock(&s->lock);
	bool give_up = s->stop || (s->draining &&
	    sink_nats_ms_since(&s->drain_from) >= NATS_DRAIN_MS);
	pthread_mutex_unlock(&s->lock);
	return give_up;
}

/* --nats-rate: once this second's messages are sent, waits until the
 * second is over. A kick (the writer's commit, a reconnect) wakes
 * sink_nats_wait early: the loop waits again for what is left, so no
 * wake-up starts a new second. Returns false once stopping. */
static bool sink_nats_pace(struct sink_nats *s)
{
	long long ms = sink_nats_ms_since(&s->second);

	if (s->second.tv_sec == 0 || ms >= 1000) {
		clock_gettime(CLOCK_MONOTONIC, &s->second);
		s->sent_in_second = 0;
	} else if (s->sent_in_second >= (uint64_t)s->rate) {
		while ((ms = sink_nats_ms_since(&s->second)) < 1000)
			if (!sink_nats_wait(s, 1000 - (long)ms) || sink_nats_give_up(s))
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

	if (sink_nats_give_up(s) || !sink_nats_pace(s))
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

/* What one message may carry: the server's max_payload less room for
 * the headers. */
static size_t sink_nats_room(const struct sink_nats *s)
{
	return s->max_payload > 2 * NATS_HEADER_ROOM ?
	    (size_t)s->max_payload - NATS_HEADER_ROOM : (size_t)s->max_payload / 2;
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
		char size[24], idx[24], count[24], id[NATS_SUBJECT_MAX + 128];
		const char *seen = (const char *)sqlite3_column_text(q, 1);
		const unsigned char *data = sqlite3_column_blob(q, 2);
		size_t len = (size_t)sqlite3_column_bytes(q, 2);
		size_t chunk = sink_nats_room(s);
		size_t n = len ? (len + chunk - 1) / chunk : 1;

		snprintf(size, sizeof(size), "%lld", (long long)sqlite3_column_int64(q, 0));
		snprintf(count, sizeof(count), "%zu", n);
		for (size_t i = 0; i < n && rc == 0; i++) {
			const char *h[] = {"Flypaper-Kind", "payload", "Flypaper-Sha256", sha,
			    "Flypaper-Size", size, "Flypaper-First-Seen", seen ? seen : "",
			    "Flypaper-Chunk", idx, "Flypaper-Chunks", count, NULL};
			size_t off = i * chunk, part = len - off < chunk ? len - off : chunk;
			snprintf(idx, sizeof(idx), "%zu", i);
			/* the subject first: no other sender's message can make
			 * the stream drop this one as a duplicate */
			if (n == 1)
				snprintf(id, sizeof(id), "%s:%s", s->psubject, sha);
			else
				snprintf(id, sizeof(id), "%s:%s.%zu", s->psubject, sha, i);
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
 * (NATS_CLASS_WAIT_S at most) and ends the batch, keeping the order; so
 * does NATS_BATCH_BYTES of JSON. Returns the count, or -1. */
static int sink_nats_read(struct sink_nats *s, struct sink_nats_item *items)
{
	sqlite3_stmt *q;
	size_t bytes = 0;
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
		if ((bytes += strlen(it->json)) >= NATS_BATCH_BYTES)
			break;
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

/* Ships one session's JSON (DESIGN.md, Fleet): one message with
 * Nats-Msg-Id <subject>:<session> when it fits sink_nats_room, else
 * chunks of that size, each with the whole JSON's SHA-256 and size, its
 * index and the count, Msg-Id <subject>:<session>.<sha16>.<index>. Returns 0
 * acknowledged, 1 skipped for good (over NATS_SESSION_MAX: counted and
 * logged; retrying could never succeed and would stop everything after
 * it), or -1 (a publish failed: retried later from this session). */
static int sink_nats_session(struct sink_nats *s, const struct sink_nats_item *it)
{
	size_t len = strlen(it->json), room = sink_nats_room(s), n;
	char id[NATS_SUBJECT_MAX + 128], sha[RECORD_SHA256_HEX];
	char size[24], idx[24], count[24];
	int rc = 0;

	if (len <= room) {
		const char *h[] = {"Flypaper-Kind", "session", NULL};
		snprintf(id, sizeof(id), "%s:%s", s->subject, it->id);
		return sink_nats_publish(s, s->subject, id, it->json, len, h);
	}
	if (len > NATS_SESSION_MAX) {
		atomic_fetch_add(&nats_failures, 1);
		log_warn("nats: session %s is %zu bytes of JSON, over the %u a session may "
		    "be: not shipped (it stays in the database)", it->id, len, NATS_SESSION_MAX);
		return 1;
	}
	record_sha256_text(it->json, len, sha);
	n = (len + room - 1) / room;
	snprintf(size, sizeof(size), "%zu", len);
	snprintf(count, sizeof(count), "%zu", n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *h[] = {"Flypaper-Kind", "session-chunk", "Flypaper-Session", it->id,
		    "Flypaper-Sha256", sha, "Flypaper-Size", size, "Flypaper-Chunk", idx,
		    "Flypaper-Chunks", count, NULL};
		size_t off = i * room, part = len - off < room ? len - off : room;
		snprintf(idx, sizeof(idx), "%zu", i);
		/* the JSON's hash in the id: a retry after the row changed (a
		 * late verdict) is a new set, never mixed with the old chunks */
		snprintf(id, sizeof(id), "%s:%s.%.16s.%zu", s->subject, it->id, sha, i);
		rc = sink_nats_publish(s, s->subject, id, it->json + off, part, h);
	}
	return rc;
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
		int rc;
		if (it->sha[0] && sink_nats_payload(s, it->sha) < 0)
			break;
		if ((rc = sink_nats_session(s, it)) < 0)
			break;
		if (rc > 0)
			continue;            /* skipped: the watermark passes it */
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
		/* the server's limit, again before each batch: after a failover
		 * the server may be another with a smaller one */
		if (natsConnection_GetMaxPayload(s->nc) > 0)
			s->max_payload = natsConnection_GetMaxPayload(s->nc);
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
