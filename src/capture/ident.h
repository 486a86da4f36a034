/* ident.h - RFC 1413 probes back to the peer: parse replies, limit the
 * rate per source, and run a probe on a libuv loop without blocking it. */
#ifndef FLYPAPER_IDENT_H
#define FLYPAPER_IDENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "addr.h"
#include "list.h"
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

/* Frames a reply in the len bytes received so far (picohttpparser's
 * contract): returns the length of its first line, without the LF that
 * ends it and one CR before that; -2 when no LF has come yet and more may;
 * -1 when IDENT_REPLY_MAX bytes came without one (malformed). */
ssize_t ident_reply_frame(const char *buf, size_t len);

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

/* ---- the probe --------------------------------------------------------
 * A probe knows nothing of sessions or workers: its owner (the session
 * layer) gives it what it needs and two functions to call back. */

struct ident_probe;

/* The probe ended while its session is open: the session takes res (its
 * own to free; NULL when out of memory). */
typedef void ident_result_fn(void *session, struct record_ident *res);

/* The probe ended after its session closed: r, given to ident_detach, now
 * holds the result (r->ident); pass it on to the writer. */
typedef void ident_hand_off_fn(void *owner, struct record *r);

/* What a probe is started with. */
struct ident_probe_params {
	struct addr peer;            /* the session's source: probed at its ident port */
	struct addr local;           /* the address the peer connected to: the probe's source */
	uint16_t port;               /* the peer's ident port (--ident-port) */
	uint64_t timeout_ms;         /* connect and reply within this (--ident-timeout) */
	double probability;          /* share of sessions probed (--ident) */
	int max_inflight;            /* probes under way at most, all loops (--ident-max) */
	atomic_int *inflight;        /* probes under way, all loops */
	uint64_t start_ns;           /* the session's start: sent_ms, reply_ms count from it */
	uint64_t now_ns;             /* uv_hrtime now: the query's time */
	struct list_link *probes;    /* the loop's probes under way (ident_abort_all) */
	ident_result_fn *result;     /* called with session while the session is open */
	ident_hand_off_fn *hand_off; /* called with owner once a detached probe ends */
	void *session, *owner;
};

/* Starts a probe on loop when the probability chooses it and the limits
 * (inflight, the limiter l) allow: connects from pp->local to the peer's
 * ident port, without blocking. Returns true when a probe was started;
 * *probe is set before it can end, and pp->result (which may run before
 * this returns, when the connect fails at once) is where the owner drops
 * it. False also when no fd was free for its socket (the fd limit: the
 * session is not probed, and its source stays free to probe). */
bool ident_probe_start(uv_loop_t *loop, struct ident_limiter *l,
    const struct ident_probe_params *pp, struct ident_probe **probe);

/* The session is closing with record r: the probe keeps r and hands it on
 * (pp->hand_off) once the probe ends (a probe outlives a peer that dropped
 * when probed). The probe never calls pp->result again. */
void ident_detach(struct ident_probe *p, struct record *r);

/* The session is closing without a record (out of memory): the probe ends
 * now and its result is dropped, so the probe never calls back again. */
void ident_cancel(struct ident_probe *p);

/* Ends every probe in the list now (shutdown) without a result: status
 * none, with the time the query was sent (no identd was slow: the wait was
 * cut short). */
void ident_abort_all(struct list_link *probes);

#endif
