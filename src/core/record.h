/* record.h - what the daemon hands to its sinks: one finished (or just
 * opened) session, with its payload, in a form that needs no socket. */
#ifndef FLYPAPER_RECORD_H
#define FLYPAPER_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "addr.h"

#define RECORD_ID_LEN 17             /* 16 hex chars and a NUL */
#define RECORD_TS_LEN 32             /* "2026-11-27T05:00:00.123456Z" and a NUL */
#define RECORD_SHA256_HEX 65         /* 64 hex chars and a NUL */

/* Why a session ended. The names are part of the schema. */
enum close_reason {
	CLOSE_PEER_FIN,              /* the peer closed its side (FIN) */
	CLOSE_PEER_RST,              /* the peer reset, or the network failed */
	CLOSE_IDLE_TIMEOUT,          /* the peer sent nothing for idle-timeout */
	CLOSE_SESSION_TIMEOUT,       /* the session reached session-timeout */
	CLOSE_SERVER_CLOSE,          /* flypaper chose to close (write error) */
	CLOSE_CAPACITY,              /* refused: max-conns or fd limit reached */
	CLOSE_SHUTDOWN,              /* the daemon was stopping */
	CLOSE_SYN_ONLY,              /* half-open: a SYN, our SYN-ACK unanswered */
	CLOSE_RST_AFTER_SYNACK,      /* half-open: the peer answered the SYN-ACK with RST */
	CLOSE_PROXY_ERROR,           /* a PROXY protocol header missing, malformed or not allowed */
	CLOSE_REASON_COUNT
};

/* How an IDENT probe ended. The names are part of the schema. */
enum ident_status {
	IDENT_NONE,                  /* no probe was sent */
	IDENT_REFUSED,               /* the peer refused the connection to its ident port */
	IDENT_TIMEOUT,               /* no connection or no reply in --ident-timeout */
	IDENT_USERID,                /* a USERID reply */
	IDENT_ERROR,                 /* an ERROR reply */
	IDENT_MALFORMED,             /* anything else, or a close without a reply */
	IDENT_UNREACHABLE,           /* no route, or any other connect failure */
	IDENT_STATUS_COUNT
};

/* How much of the payload parsed as HTTP requests. */
enum record_http {
	RECORD_HTTP_NONE,            /* no payload */
	RECORD_HTTP_OK,              /* every byte belongs to a request or its body */
	RECORD_HTTP_PARTIAL,         /* ended inside a request head or body */
	RECORD_HTTP_UNPARSED,        /* bytes that are not an HTTP request */
};

/* Which cap acted on a session: the limit that refused it (close_reason
 * capacity) or the one that cut its payload (truncated). The names are
 * part of the schema. */
enum record_limit {
	LIMIT_NONE,
	LIMIT_MAX_CONNS,             /* refused: --max-conns sessions were open */
	LIMIT_PER_SOURCE,            /* refused: --max-conns-per-source from its source */
	LIMIT_FD,                    /* refused or evicted at the fd limit */
	LIMIT_MAX_PAYLOAD,           /* payload cut at --max-payload */
	LIMIT_MAX_BUFFERED,          /* payload cut: --max-buffered held by all sessions */
	LIMIT_COUNT
};

/* A YARA rule that matched the payload (the classifier thread fills them;
 * rescan fills them again later). */
struct record_match {
	char rule[128];              /* the rule's identifier */
	char tags[256];              /* its tags, space-separated; the first is the family */
};

#define RECORD_FAMILY_MAX 32         /* a family name and its NUL */
#define RECORD_TAGS_MAX 256          /* technique tags, comma-separated, and a NUL */

/* What classification said of a payload: the one family and the
 * technique tags. */
struct record_class {
	char family[RECORD_FAMILY_MAX];  /* "" none */
	char tags[RECORD_TAGS_MAX];      /* sorted, unique, comma-separated; "" none */
};

/* How far the classification of a session's payload got. The names are
 * part of the schema (sessions.class_state). */
enum record_class_state {
	CLASS_NONE,                  /* no payload, or no rules */
	CLASS_PENDING,               /* committed, waiting for the classifier (or rescan) */
	CLASS_DONE,                  /* classified: family, tags and matches are final */
	CLASS_SKIPPED,               /* the scan ran over its budget: not retried but by rescan */
	CLASS_SHED,                  /* the classifier's queue was full: left for rescan */
	CLASS_STATE_COUNT
};

/* A span of the payload: requests point into it instead of copying. */
struct record_span {
	uint32_t off, len;
};

/* One HTTP request found in the payload. */
struct record_request {
	struct record_span method, target, version, headers, host, user_agent;
	uint64_t body_bytes;         /* body bytes that followed the head */
	int64_t at_ms;               /* session start to the head's last byte */
};

/* The result of an IDENT probe. */
struct record_ident {
	enum ident_status status;
	int64_t sent_ms;             /* session start to the probe's connect */
	int64_t reply_ms;            /* session start to the reply line; -1 none */
	char reply[4 * 1024 + 1];    /* the reply line, escaped (\xNN) */
	/* The reply's fields as the peer sent them (any byte but NUL): the
	 * store and the JSON lines escape them (\xNN) as they write them. */
	char opsys[64], charset[64], userid[512], error[64];
};

enum record_kind {
	RECORD_CONNECT,              /* a session began (JSON-lines only) */
	RECORD_CLOSED,               /* a session ended: the full record */
	RECORD_CLASSIFIED,           /* the classifier's verdict on a stored session
	                              * (id, addresses, digest, class; end_wall is
	                              * when it was classified) */
};

/* Which process model recorded the session. */
enum record_mode {
	MODE_SERVE,
	MODE_INETD,
};

struct record {
	struct record *next;         /* queue link, owned by the queue */
	enum record_kind kind;
	enum record_mode mode;
	uint64_t id;                 /* session id; hex form is the key */
	struct timespec start_wall;  /* CLOCK_REALTIME at accept */
	struct timespec end_wall;    /* CLOCK_REALTIME at close */
	struct addr src;             /* the peer */
	struct addr dst;             /* the local address it connected to */
	uint64_t bytes_in;           /* every byte the peer sent, kept or not */
	uint64_t bytes_out;          /* bytes flypaper wrote */
	int64_t first_byte_ms;       /* accept to first peer byte; -1 none */
	int64_t duration_ms;         /* accept to close */
	enum close_reason reason;
	bool truncated;              /* bytes_in > what payload holds */
	bool payload_lost;           /* payload dropped by a full queue */
	enum record_limit limit;     /* the cap that refused or cut it; LIMIT_NONE */
	unsigned char sha256[32];    /* of payload; valid when payload_len */
	uint8_t *payload;            /* owned; NULL when none or lost */
	size_t payload_len;          /* bytes captured (even when lost) */
	const char *strategy;        /* response strategy name (static) */
	int64_t first_out_ms;        /* accept to flypaper's first byte; -1 none */
	bool closed_by_peer;         /* else flypaper closed it */
	int64_t peer_close_after_out_ms;   /* -1: not applicable */
	int64_t peer_close_after_ident_ms; /* -1: not applicable */
	struct record_ident *ident;  /* owned; NULL when no probe was sent */
	struct record_request *requests; /* owned array */
	uint32_t nrequests;
	uint32_t requests_dropped;   /* requests past --max-requests, counted only */
	enum record_http http;
	struct record_match *matches;    /* owned; the YARA rules that matched */
	int nmatches;
	enum record_class_state class_state;
	struct record_class *class;  /* owned; NULL until classified */

	/* syn: the SYN fingerprint and TCP_INFO at close */

	/* proxy: PROXY protocol */

	/* halfopen: half-open handshakes */

	/* pcap: packet traces */
	char pcap_file[48];          /* the trace file holding its first packets
	                              * (PCAPNAME_MAX, a bare name); "" none */
};

/* A new record of kind for session id, recorded by mode: zeroed but for
 * the times that say "none" with -1 (first byte, first output, the peer's
 * closes after them). The one constructor: record_size counts from here.
 * Returns NULL when memory runs out; the caller fills the rest and hands
 * it over (queue_push) or frees it (record_free). */
struct record *record_new(enum record_kind kind, enum record_mode mode, uint64_t id);

/* The schema name of a close reason, e.g. "peer_fin". */
const char *record_reason_name(enum close_reason reason);

/* Writes the 16-hex-digit form of id into buf (RECORD_ID_LEN). */
void record_id_hex(uint64_t id, char *buf);

/* Writes ts as ISO 8601 UTC with microseconds into buf (RECORD_TS_LEN). */
void record_format_ts(const struct timespec *ts, char *buf);

/* Writes the lower-case hex of a 32-byte digest into buf (RECORD_SHA256_HEX). */
void record_sha256_hex(const unsigned char *digest, char *buf);

/* Computes r->sha256 over r->payload. */
void record_hash_payload(struct record *r);

/* A new 64-bit session id: a random 40-bit block from getrandom(2) and a
 * 24-bit counter, per thread. Unique across sensors without coordination,
 * and rising within a thread so index inserts stay local. */
uint64_t record_new_id(void);

/* The schema name of an IDENT status, e.g. "userid". */
const char *record_ident_name(enum ident_status status);

/* The schema name of an HTTP parse state: NULL for RECORD_HTTP_NONE. */
const char *record_http_name(enum record_http http);

/* The schema name of a classification state, e.g. "pending". */
const char *record_class_name(enum record_class_state state);

/* The schema name of a limit, e.g. "max_buffered": NULL for LIMIT_NONE. */
const char *record_limit_name(enum record_limit limit);

/* The bytes r holds: the struct and every allocation it owns (payload,
 * IDENT result, requests, matches, class). What --queue-bytes counts. */
size_t record_size(const struct record *r);

/* Frees r and its payload. NULL is allowed. */
void record_free(struct record *r);

#endif
