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

/* What a half-open row stands for. The names are part of the schema. */
enum record_summary {
	SUMMARY_NONE,                /* one handshake */
	SUMMARY_SOURCE_MINUTE,       /* one source's handshakes of a minute past the per-source rows */
	SUMMARY_OVERFLOW,            /* the handshakes of a minute from sources past the table's cap */
};

/* The schema name of a summary kind: NULL for SUMMARY_NONE. */
const char *record_summary_name(enum record_summary summary);

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

/* syn: the peer's SYN as the kernel saved it (TCP_SAVE_SYN), parsed by
 * synsig_parse; inline, so a record owns no more for it. */
#define RECORD_SYN_OPTS 40           /* option kinds: 40 bytes of options at most */

enum record_syn_state {
	SYN_NONE,                    /* no SYN saved (a SYN cookie, inetd, --syn-fingerprint no) */
	SYN_PARSED,                  /* every field below holds */
	SYN_MALFORMED,               /* bytes that are no IPv4/IPv6 + TCP SYN */
};

/* p0f v3 quirks, one bit each, in p0f's print order. */
enum record_syn_quirk {
	SYNQ_DF = 1 << 0,            /* df: IPv4 don't fragment */
	SYNQ_ID_PLUS = 1 << 1,       /* id+: DF with a non-zero IP ID */
	SYNQ_ID_MINUS = 1 << 2,      /* id-: no DF, IP ID zero */
	SYNQ_ECN = 1 << 3,           /* ecn: IP ECN bits, or TCP ECE/CWR */
	SYNQ_ZERO_PLUS = 1 << 4,     /* 0+: the IPv4 reserved flag */
	SYNQ_FLOW = 1 << 5,          /* flow: an IPv6 flow label */
	SYNQ_SEQ_MINUS = 1 << 6,     /* seq-: sequence number zero */
	SYNQ_ACK_PLUS = 1 << 7,      /* ack+: ack number without ACK */
	SYNQ_ACK_MINUS = 1 << 8,     /* ack-: ACK with ack number zero */
	SYNQ_UPTR_PLUS = 1 << 9,     /* uptr+: urgent pointer without URG */
	SYNQ_URGF_PLUS = 1 << 10,    /* urgf+: URG */
	SYNQ_PUSHF_PLUS = 1 << 11,   /* pushf+: PSH */
	SYNQ_TS1_MINUS = 1 << 12,    /* ts1-: own timestamp zero */
	SYNQ_TS2_PLUS = 1 << 13,     /* ts2+: peer timestamp non-zero in a SYN */
	SYNQ_OPT_PLUS = 1 << 14,     /* opt+: non-zero bytes after EOL */
	SYNQ_EXWS = 1 << 15,         /* exws: window scale over 14 */
	SYNQ_BAD = 1 << 16,          /* bad: a malformed option */
	SYNQ_COUNT = 17,
};

/* The SYN's fields, as p0f v3 sees them. Zeroed = SYN_NONE. */
struct record_syn {
	uint8_t present;             /* enum record_syn_state */
	uint8_t ver;                 /* 4 or 6 */
	uint8_t ttl;                 /* observed TTL / hop limit */
	uint8_t olen;                /* IPv4 option bytes (0 for IPv6) */
	uint8_t pclass;              /* 1: the SYN carried payload */
	uint8_t df;                  /* IPv4 don't fragment */
	int16_t wscale;              /* window scale shift; -1 no ws option */
	uint8_t ts;                  /* a timestamp option */
	uint8_t of_proxy;            /* the SYN is an upstream proxy's (syn_of) */
	uint8_t nopts;               /* kinds in opts */
	uint8_t eol_pad;             /* bytes after an EOL (opts ends with 0) */
	uint8_t opts[RECORD_SYN_OPTS]; /* option kinds in order, as sent */
	uint16_t mss;                /* 0: no MSS option */
	uint16_t win;                /* raw window field */
	uint16_t ip_id;              /* IPv4 ID (0 for IPv6) */
	uint32_t quirks;             /* enum record_syn_quirk bits */
};

/* How a SYN matched the p0f database; filled by the writer (p0fdb_match). */
enum record_os_match {
	OS_MATCH_NONE,               /* no signature: os NULL */
	OS_MATCH_EXACT,              /* a specific label, exact */
	OS_MATCH_GENERIC,            /* a generic label, exact */
	OS_MATCH_FUZZY,              /* a specific label, fuzzy */
	OS_MATCH_FUZZY_GENERIC,      /* a generic label, fuzzy */
};

#define RECORD_OS_NAME 32            /* a p0f label's name and its NUL */
#define RECORD_OS_FLAVOR 64          /* a p0f label's flavor and its NUL */

struct record_os {
	uint8_t match;               /* enum record_os_match */
	uint8_t ittl;                /* the initial TTL: the signature's, else guessed */
	int16_t hops;                /* ittl - ttl; -1 unknown (a random-TTL signature) */
	char class_[8];              /* "win", "unix", "other", "!" ("" no match) */
	char name[RECORD_OS_NAME];   /* e.g. "Linux" */
	char flavor[RECORD_OS_FLAVOR]; /* e.g. "2.2.x-3.x"; may be "" */
};

/* TCP_INFO at close (and zero_window sampled on blocked writes). */
struct record_tcpinfo {
	uint8_t present;             /* 0: no TCP_INFO (refused, --syn-fingerprint no) */
	uint8_t zero_window;         /* the peer's window was seen at 0 with data unsent */
	uint8_t has_snd_wnd;         /* the kernel returned tcpi_snd_wnd (5.4+) */
	uint8_t has_rwnd_limited;    /* the kernel returned tcpi_rwnd_limited (4.10+) */
	uint32_t rtt_us, rttvar_us;  /* smoothed RTT and its variance */
	uint32_t retrans;            /* segments retransmitted, the whole life */
	uint32_t peer_mss;           /* tcpi_snd_mss */
	uint32_t peer_window;        /* tcpi_snd_wnd, bytes, at close */
	uint64_t rwnd_limited_us;    /* time sending was held by the peer's window */
};

/* tls front: how the TLS front's handshake went. The names are part of
 * the schema (sessions.tls_error). */
enum record_tls_error {
	TLS_ERR_NONE,                /* completed (or no front) */
	TLS_ERR_NOT_TLS,             /* the first bytes are no TLS handshake (plain HTTP) */
	TLS_ERR_PEER_CLOSED,         /* the peer closed (FIN) during the handshake */
	TLS_ERR_PEER_RESET,          /* the peer reset during the handshake */
	TLS_ERR_PEER_ALERT,          /* the peer sent a fatal alert (tls_alert names it) */
	TLS_ERR_TIMEOUT,             /* not done within the idle/session timeout */
	TLS_ERR_PROTOCOL,            /* the library refused it (no shared cipher or
	                              * version, malformed; tls_alert is ours) */
	TLS_ERR_COUNT
};

#define RECORD_TLS_VERSION 16        /* "TLSv1.3" and a NUL */
#define RECORD_TLS_CIPHER 64         /* an OpenSSL cipher name and its NUL */
#define RECORD_TLS_ALERT 32          /* an alert description and its NUL */

/* What the TLS front saw of one session. The raw bytes of the records
 * that carried the ClientHello (as the peer sent them, up to the end of
 * the hello, at most TLSHELLO_MAX) follow the struct. */
struct record_tls_front {
	enum record_tls_error error;
	char version[RECORD_TLS_VERSION];  /* negotiated; "" not completed */
	char cipher[RECORD_TLS_CIPHER];    /* negotiated; "" not completed */
	char alert[RECORD_TLS_ALERT];      /* the fatal alert sent or received; "" none */
	int64_t hello_ms;            /* accept to the hello's last byte; -1 none */
	int64_t done_ms;             /* accept to the completed handshake; -1 none */
	uint64_t raw_in, raw_out;    /* TLS bytes on the wire (bytes_in/out are plaintext) */
	uint32_t hello_len;          /* bytes in hello[] */
	unsigned char hello[];
};

struct tlshello;                     /* tlshello.h: the parsed ClientHello */

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
	/* v8 experiment: the draw that assigned the strategy (static), NULL
	 * when the listener's strategy was used (not randomised) */
	const char *experiment;      /* its arms, "name:weight,..." */
	const char *experiment_id;   /* its id (hex) */
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
	struct record_syn syn;       /* the peer's SYN; present SYN_NONE: none */
	struct record_os os;         /* the writer's p0f match (before the sinks) */
	struct record_tcpinfo tcpi;  /* TCP_INFO at close */

	/* proxy: PROXY protocol. The enums are declared here, in the slot,
	 * so the four issue-10 branches merge without touching the same
	 * lines; their names are file scope as usual in C. */
	enum record_proxy {
		RECORD_PROXY_NONE,       /* no header (or not a proxy listener) */
		RECORD_PROXY_V1,         /* the text header */
		RECORD_PROXY_V2,         /* the binary header, PROXY command */
		RECORD_PROXY_V2_LOCAL,   /* the binary header, LOCAL (a health check) */
		RECORD_PROXY_COUNT
	} proxy;                     /* which header; also set on an error once its signature was seen */
	enum record_proxy_error {
		PROXY_ERR_NONE,
		PROXY_ERR_MISSING,       /* the first bytes are not a PROXY header */
		PROXY_ERR_MALFORMED,     /* a header that breaks the specification */
		PROXY_ERR_TOO_LONG,      /* v1 without CRLF in 107 bytes; v2 over 16 + 1024 */
		PROXY_ERR_TIMEOUT,       /* not complete within --proxy-timeout (or a timeout) */
		PROXY_ERR_FORBIDDEN,     /* from an address outside the listener's proxy_from */
		PROXY_ERR_COUNT
	} proxy_error;               /* with close_reason proxy_error */
	bool via;                    /* a header replaced src/dst: the transport's are below */
	struct addr via_src, via_dst;  /* the transport addresses (the proxy, our side) */

	/* halfopen: half-open handshakes */
	uint32_t handshakes;         /* a summary row stands for this many; 0: one */
	enum record_summary summary; /* SUMMARY_NONE but for summary rows */
	uint16_t syn_retries;        /* half-open rows: SYNs the peer sent again */

	/* pcap: packet traces */
	char pcap_file[48];          /* the trace file holding its first packets
	                              * (PCAPNAME_MAX, a bare name); "" none */

	/* tls front: what the capture's TLS front saw (NULL on a plain
	 * listener); owned, one allocation with the raw hello at its end */
	struct record_tls_front *tls_front;

	/* tls hello: the ClientHello's facts, parsed by the writer (before
	 * the sinks) from tls_front->hello, else from the payload when it
	 * starts with a TLS handshake; owned; NULL when no TLS was seen */
	struct tlshello *tls;
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

/* Writes the lower-case hex SHA-256 of len bytes at data into buf
 * (RECORD_SHA256_HEX). */
void record_sha256_text(const void *data, size_t len, char *buf);

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

/* The schema name of a PROXY header version, e.g. "v2_local": NULL for
 * RECORD_PROXY_NONE. */
const char *record_proxy_name(enum record_proxy proxy);

/* The schema name of a PROXY error, e.g. "malformed": NULL for
 * PROXY_ERR_NONE. */
const char *record_proxy_error_name(enum record_proxy_error err);

/* The schema name of a TLS front error, e.g. "peer_alert": NULL for
 * TLS_ERR_NONE (a completed handshake). */
const char *record_tls_error_name(enum record_tls_error err);

/* The bytes r holds: the struct and every allocation it owns (payload,
 * IDENT result, requests, matches, class). What --queue-bytes counts. */
size_t record_size(const struct record *r);

/* Frees r and its payload. NULL is allowed. */
void record_free(struct record *r);

#endif
