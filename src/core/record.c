/* record.c - session records: ids, timestamps, digests. */
#include "record.h"
#include "tlshello.h"

#include <nettle/sha2.h>
#include <stdlib.h>
#include <sys/random.h>

struct record *record_new(enum record_kind kind, enum record_mode mode, uint64_t id)
{
	struct record *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->kind = kind;
	r->mode = mode;
	r->id = id;
	r->first_byte_ms = -1;
	r->first_out_ms = -1;
	r->peer_close_after_out_ms = -1;
	r->peer_close_after_ident_ms = -1;
	return r;
}

static const char *const record_reason_names[CLOSE_REASON_COUNT] = {
	[CLOSE_PEER_FIN] = "peer_fin",
	[CLOSE_PEER_RST] = "peer_rst",
	[CLOSE_IDLE_TIMEOUT] = "idle_timeout",
	[CLOSE_SESSION_TIMEOUT] = "session_timeout",
	[CLOSE_SERVER_CLOSE] = "server_close",
	[CLOSE_CAPACITY] = "capacity",
	[CLOSE_SHUTDOWN] = "shutdown",
	[CLOSE_SYN_ONLY] = "syn_only",
	[CLOSE_RST_AFTER_SYNACK] = "rst_after_synack",
	[CLOSE_PROXY_ERROR] = "proxy_error",
};

const char *record_reason_name(enum close_reason reason)
{
	if ((unsigned)reason >= CLOSE_REASON_COUNT)
		return "server_close";
	return record_reason_names[reason];
}

void record_id_hex(uint64_t id, char *buf)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 15; i >= 0; i--) {
		buf[i] = hex[id & 15];
		id >>= 4;
	}
	buf[16] = '\0';
}

/* Writes v as exactly n decimal digits (the writer formats two stamps per
 * session; printf and strftime were a tenth of its time). */
static char *record_digits(char *p, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

void record_format_ts(const struct timespec *ts, char *buf)
{
	struct tm tm;
	time_t secs = ts->tv_sec;
	char *p = buf;

	gmtime_r(&secs, &tm);
	p = record_digits(p, (unsigned)(tm.tm_year + 1900) % 10000, 4);
	*p++ = '-';
	p = record_digits(p, (unsigned)tm.tm_mon + 1, 2);
	*p++ = '-';
	p = record_digits(p, (unsigned)tm.tm_mday, 2);
	*p++ = 'T';
	p = record_digits(p, (unsigned)tm.tm_hour, 2);
	*p++ = ':';
	p = record_digits(p, (unsigned)tm.tm_min, 2);
	*p++ = ':';
	p = record_digits(p, (unsigned)tm.tm_sec, 2);
	*p++ = '.';
	p = record_digits(p, (unsigned)(ts->tv_nsec / 1000) % 1000000u, 6);
	*p++ = 'Z';
	*p = '\0';
}

void record_sha256_hex(const unsigned char *digest, char *buf)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		buf[2 * i] = hex[digest[i] >> 4];
		buf[2 * i + 1] = hex[digest[i] & 15];
	}
	buf[64] = '\0';
}

void record_sha256_text(const void *data, size_t len, char *buf)
{
	struct sha256_ctx ctx;
	unsigned char digest[SHA256_DIGEST_SIZE];

	sha256_init(&ctx);
	sha256_update(&ctx, len, data);
	sha256_digest(&ctx, sizeof(digest), digest);
	record_sha256_hex(digest, buf);
}

void record_hash_payload(struct record *r)
{
	struct sha256_ctx ctx;

	sha256_init(&ctx);
	sha256_update(&ctx, r->payload_len, r->payload);
	sha256_digest(&ctx, SHA256_DIGEST_SIZE, r->sha256);
}

/* Ids come in blocks: 40 random bits name a block, 24 bits count within
 * it from a random start. Inside one daemon thread the ids therefore rise
 * one by one, so the database's session index grows at its right edge
 * instead of taking a random page per insert (measured: the writer's CPU
 * per session drops by 40%); across sensors, threads and inetd children a
 * collision needs two 40-bit draws to meet, as with 64 random bits. */
#define RECORD_ID_COUNTER_BITS 24
#define RECORD_ID_COUNTER_MASK ((1ULL << RECORD_ID_COUNTER_BITS) - 1)

static __thread uint64_t record_id_next;
static __thread uint64_t record_id_left;  /* ids left in the block */

static uint64_t record_random64(void)
{
	uint64_t v;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		v = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^
		    (uint64_t)(uintptr_t)&ts;
	}
	return v;
}

uint64_t record_new_id(void)
{
	if (record_id_left == 0) {
		record_id_next = record_random64();
		record_id_left = RECORD_ID_COUNTER_MASK -
		    (record_id_next & RECORD_ID_COUNTER_MASK) + 1;
	}
	record_id_left--;
	return record_id_next++;
}

static const char *const record_ident_names[IDENT_STATUS_COUNT] = {
	[IDENT_NONE] = "none",
	[IDENT_REFUSED] = "refused",
	[IDENT_TIMEOUT] = "timeout",
	[IDENT_USERID] = "userid",
	[IDENT_ERROR] = "error",
	[IDENT_MALFORMED] = "malformed",
	[IDENT_UNREACHABLE] = "unreachable",
};

const char *record_ident_name(enum ident_status status)
{
	if ((unsigned)status >= IDENT_STATUS_COUNT)
		return "malformed";
	return record_ident_names[status];
}

const char *record_http_name(enum record_http http)
{
	switch (http) {
	case RECORD_HTTP_OK: return "ok";
	case RECORD_HTTP_PARTIAL: return "partial";
	case RECORD_HTTP_UNPARSED: return "unparsed";
	default: return NULL;
	}
}

static const char *const record_class_names[CLASS_STATE_COUNT] = {
	[CLASS_NONE] = "none",
	[CLASS_PENDING] = "pending",
	[CLASS_DONE] = "done",
	[CLASS_SKIPPED] = "skipped",
	[CLASS_SHED] = "shed",
};

const char *record_class_name(enum record_class_state state)
{
	if ((unsigned)state >= CLASS_STATE_COUNT)
		return "none";
	return record_class_names[state];
}

static const char *const record_limit_names[LIMIT_COUNT] = {
	[LIMIT_MAX_CONNS] = "max_conns",
	[LIMIT_PER_SOURCE] = "max_conns_per_source",
	[LIMIT_FD] = "fd_limit",
	[LIMIT_MAX_PAYLOAD] = "max_payload",
	[LIMIT_MAX_BUFFERED] = "max_buffered",
};

const char *record_limit_name(enum record_limit limit)
{
	if ((unsigned)limit >= LIMIT_COUNT)
		return NULL;
	return record_limit_names[limit];
}

static const char *const record_proxy_names[RECORD_PROXY_COUNT] = {
	[RECORD_PROXY_V1] = "v1",
	[RECORD_PROXY_V2] = "v2",
	[RECORD_PROXY_V2_LOCAL] = "v2_local",
};

const char *record_proxy_name(enum record_proxy proxy)
{
	if ((unsigned)proxy >= RECORD_PROXY_COUNT)
		return NULL;
	return record_proxy_names[proxy];
}

static const char *const record_proxy_error_names[PROXY_ERR_COUNT] = {
	[PROXY_ERR_MISSING] = "missing",
	[PROXY_ERR_MALFORMED] = "malformed",
	[PROXY_ERR_TOO_LONG] = "too_long",
	[PROXY_ERR_TIMEOUT] = "timeout",
	[PROXY_ERR_FORBIDDEN] = "forbidden",
};

const char *record_proxy_error_name(enum record_proxy_error err)
{
	if ((unsigned)err >= PROXY_ERR_COUNT)
		return NULL;
	return record_proxy_error_names[err];
}

/* tls front names */
static const char *const record_tls_error_names[TLS_ERR_COUNT] = {
	[TLS_ERR_NOT_TLS] = "not_tls",
	[TLS_ERR_PEER_CLOSED] = "peer_closed",
	[TLS_ERR_PEER_RESET] = "peer_reset",
	[TLS_ERR_PEER_ALERT] = "peer_alert",
	[TLS_ERR_TIMEOUT] = "timeout",
	[TLS_ERR_PROTOCOL] = "protocol",
};

const char *record_tls_error_name(enum record_tls_error err)
{
	if ((unsigned)err >= TLS_ERR_COUNT)
		return NULL;
	return record_tls_error_names[err];
}

size_t record_size(const struct record *r)
{
	size_t n = sizeof(*r);

	if (r->payload)
		n += r->payload_len;
	if (r->ident)
		n += sizeof(*r->ident);
	if (r->requests)
		n += (size_t)r->nrequests * sizeof(*r->requests);
	if (r->matches)
		n += (size_t)r->nmatches * sizeof(*r->matches);
	if (r->class)
		n += sizeof(*r->class);
	if (r->tls_front)
		n += sizeof(*r->tls_front) + r->tls_front->hello_len;
	if (r->tls)
		n += tlshello_size(r->tls);
	return n;
}

void record_free(struct record *r)
{
	if (!r)
		return;
	free(r->ident);
	free(r->requests);
	free(r->matches);
	free(r->class);
	free(r->tls_front);
	tlshello_free(r->tls);
	free(r->payload);
	free(r);
}

const char *record_summary_name(enum record_summary summary)
{
	switch (summary) {
	case SUMMARY_SOURCE_MINUTE: return "source_minute";
	case SUMMARY_OVERFLOW: return "overflow";
	default: return NULL;
	}
}
