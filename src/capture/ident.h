/* ident.h - RFC 1413 probes back to the peer: parse replies, limit the
 * rate per source, and run a probe on a libuv loop without blocking it. */
#ifndef FLYPAPER_IDENT_H
#define FLYPAPER_IDENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "record.h"

#define IDENT_REPLY_MAX 1024         /* a reply line longer than this is malformed */

/* The reply's parts. Strings are NUL-terminated copies, cut to fit. */
struct ident_reply {
	enum ident_status status;    /* USERID, ERROR or MALFORMED */
	char opsys[64];              /* USERID: operating system */
	char charset[64];            /* USERID: optional character set */
	char userid[512];            /* USERID: the user id */
	char error[64];              /* ERROR: the error token */
};

/* Parses one reply line (without its CR LF) to the query
 * "<peer_port> , <local_port>". The ports in the reply must echo the
 * query's. Returns the status (IDENT_USERID, IDENT_ERROR, IDENT_MALFORMED),
 * also stored in out. */
enum ident_status ident_parse_reply(const char *line, size_t len,
    unsigned peer_port, unsigned local_port, struct ident_reply *out);

/* A bounded table that allows one probe per source per interval, a source
 * being an IPv4 address (v4-mapped ones included) or an IPv6 /64
 * (addr_source_key). When a bucket holds only fresh entries for other
 * sources, the probe is refused: the limit errs on the side of sending
 * fewer probes. */
struct ident_limiter;

/* Creates a limiter with room for about `slots` sources. */
struct ident_limiter *ident_limiter_new(size_t slots, uint64_t interval_ns);

/* True (and remembers now_ns) when ip's source may be probed now.
 * Thread-safe. */
bool ident_limiter_allow(struct ident_limiter *l, const struct addr *ip,
    uint64_t now_ns);

/* Undoes the mark ident_limiter_allow set at now_ns for ip's source, for
 * a probe that was never sent: the source may be probed again at once.
 * A mark set at another time (a later probe's) stays. Thread-safe. */
void ident_limiter_forget(struct ident_limiter *l, const struct addr *ip,
    uint64_t now_ns);

void ident_limiter_free(struct ident_limiter *l);

struct worker;
struct session;

/* Starts a probe for session s when --ident chooses it, the limits allow
 * and shutdown has not begun: connects from s's local address to the
 * peer's ident port, without blocking. Returns true when a probe was
 * started; false also when no fd was free for its socket (the fd limit: s
 * is then not probed, and its source stays free to probe). */
bool ident_maybe_probe(struct worker *w, struct session *s);

/* The session is closing with record r: the probe keeps r and hands it to
 * the writer once the probe ends (a probe outlives a peer that dropped when
 * probed). */
void ident_detach(struct session *s, struct record *r);

/* The session is closing without a record (out of memory): its probe ends
 * now and its result is dropped, so the probe never touches s again. */
void ident_cancel(struct session *s);

/* Ends every probe of the worker now (shutdown) without a result: status
 * none, with the time the query was sent (no identd was slow: the wait was
 * cut short). */
void ident_abort_all(struct worker *w);

#endif
