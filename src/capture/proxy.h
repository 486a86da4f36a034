/* proxy.h - the PROXY protocol header (HAProxy's specification, v1 text
 * and v2 binary) that a load balancer sends before the peer's bytes: an
 * incremental parser of hostile bytes, fed as they arrive. Pure: no
 * sockets, no clock, no allocation. */
#ifndef FLYPAPER_PROXY_H
#define FLYPAPER_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "record.h"

#define PROXY_V1_MAX 107             /* the longest v1 line, CRLF included (spec 2.1) */
#define PROXY_V2_HEAD 16             /* signature, ver_cmd, fam, len */
#define PROXY_V2_BODY_MAX 1024       /* v2 bytes after the 16 we take: haproxy sends < 300 */
#define PROXY_V2_MAX (PROXY_V2_HEAD + PROXY_V2_BODY_MAX)

enum proxy_status {
	PROXY_MORE,                  /* every byte given was header: feed more */
	PROXY_DONE,                  /* the header is complete: the rest is the peer's */
	PROXY_FAIL,                  /* not a valid header: result.error says why */
};

/* Where a header stands: the bytes seen so far (the longest header fits,
 * so a header split anywhere, even one byte per read, parses the same). */
struct proxy_parser {
	size_t len;                  /* bytes held in buf */
	uint8_t buf[PROXY_V2_MAX];
};

/* What a complete header said, or why it failed. */
struct proxy_result {
	enum record_proxy version;   /* RECORD_PROXY_NONE until a signature is seen */
	enum record_proxy_error error;  /* with PROXY_FAIL */
	bool addrs;                  /* src/dst are the header's (TCP over IPv4 or IPv6) */
	struct addr src, dst;        /* the peer and the address it reached */
};

/* Makes p a parser at the start of a header. */
void proxy_init(struct proxy_parser *p);

/* Feeds the next n bytes of the stream. Returns PROXY_MORE (all n taken),
 * PROXY_DONE (the header ended after *used bytes of data: the rest is
 * payload) or PROXY_FAIL (*used bytes of data were taken into p->buf
 * before the header proved invalid; p->buf holds all p->len bytes read).
 * out is filled on DONE and FAIL. Must not be called after DONE or FAIL. */
enum proxy_status proxy_feed(struct proxy_parser *p, const uint8_t *data, size_t n,
    size_t *used, struct proxy_result *out);

/* The version whose signature the bytes held so far carry:
 * RECORD_PROXY_NONE before a whole signature (for a record of a header cut
 * short by a timeout or the peer's close). */
enum record_proxy proxy_version_seen(const struct proxy_parser *p);

#endif
