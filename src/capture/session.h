/* session.h - one peer connection, from accept to its record. */
#ifndef FLYPAPER_SESSION_H
#define FLYPAPER_SESSION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "addr.h"
#include "http.h"
#include "list.h"
#include "record.h"
#include "deadlines.h"

struct pcap_trace;

struct config;
struct handoff;
struct ident_limiter;
struct ident_probe;
struct respond_set;
struct session_proxy;
struct strategy;
struct tls_front;

/* What a session needs of the loop that runs it, and nothing more: the
 * worker (worker.h) embeds one, fills it in worker_init, and each of its
 * sessions points to it. Through it a session reaches its loop without
 * knowing the worker, so the worker can include session.h and session.c
 * need not include worker.h. */
struct session_host {
	/* The loop's own. */
	uv_loop_t *loop;
	char *rbuf;                  /* reads land here, then copy to the session */
	size_t rbuf_len;
	char *wbuf;                  /* answers are rendered here (STRATEGY_RENDER_MAX) */
	struct deadlines *deadlines; /* the sessions' timeouts, by kind and deadline */
	struct list_link *probes;    /* IDENT probes under way */
	/* Shared by every loop of the run. */
	const struct config *cfg;
	const struct handoff *out;   /* where records go */
	enum record_mode mode;
	const struct respond_set *respond;   /* strategies and the experiment */
	struct ident_limiter *ident_limiter; /* NULL when --ident never */
	atomic_int *ident_inflight;  /* probes under way, all loops */
	atomic_bool *stopping;       /* shutdown began: probe no one new */
	atomic_int *active;          /* open sessions, all loops */
	atomic_size_t *buffered;     /* --max-buffered bytes held, all loops */
	atomic_uint_fast64_t *accepted, *refused;  /* sessions started; refusals */
	atomic_uint_fast64_t *tls_handshakes, *tls_failed;  /* TLS front sessions, by outcome */
	struct pcap_trace *pcap;     /* the packet trace (--pcap); NULL off */
	/* The loop's services. */
	/* Re-arms the loop's timer for its earliest deadline: call it when
	 * deadlines_set says so. */
	void (*arm_deadlines)(struct session_host *h);
	/* Counts a session from src less (its source was counted before the
	 * session started, or by acquire_source). */
	void (*release_source)(struct session_host *h, const struct addr *src);
	/* Counts one more session from src (a PROXY header's source, known
	 * only once the header is read): LIMIT_NONE, or the limit that
	 * refuses it (nothing counted). */
	enum record_limit (*acquire_source)(struct session_host *h, const struct addr *src);
	/* Takes the loop's spare fd back if it is missing: call it whenever
	 * an fd may have come free. */
	void (*refill_reserve)(struct session_host *h);
};

/* A session's deadlines, each a kind of the loop's lists (worker.c),
 * ordered by deadline (deadlines.h). */
enum timeout_kind {
	TIMEOUT_IDLE,                /* from the last peer byte: --idle-timeout */
	TIMEOUT_SESSION,             /* from the start: --session-timeout; every
	                              * open session is in this list */
	/* The strategy's own deadline (http's --respond-delay, tarpit's
	 * --tarpit-interval), from the start or when the strategy sets it.
	 * Each strategy of the run has its own kind, since each has its own
	 * delay: kind TIMEOUT_STRATEGY + its index. */
	TIMEOUT_STRATEGY,
	TIMEOUT_SLOTS = TIMEOUT_STRATEGY + 1   /* deadlines in a session */
};

/* While a PROXY protocol header is awaited the session has no strategy
 * deadline yet (nothing of the strategy runs before the real source is
 * known), so its strategy slot holds the header's: this kind, from the
 * start, --proxy-timeout. The last kind, past every strategy's. */
#define SESSION_PROXY_KIND (DEADLINES_MAX_KINDS - 1)

enum session_state {
	SESSION_OPEN,                /* reading; in the timeout lists */
	SESSION_CLOSING,             /* record handed off; handle closing */
};

/* Memory per idle session is this struct plus malloc's header: no buffer
 * is allocated until the peer sends a byte, no request array until a
 * request arrives. */
struct session {
	uv_tcp_t tcp;                /* the libuv handle; tcp.data is this */
	struct session_host *host;   /* the loop that owns it */
	const struct strategy *strategy;
	struct deadline timeouts[TIMEOUT_SLOTS];  /* in the loop's lists */
	uint64_t id;
	uint64_t start_ns;           /* monotonic, at accept */
	uint64_t first_byte_ns;      /* first peer byte; 0 none */
	uint64_t first_out_ns;       /* flypaper's first byte out; 0 none */
	uint64_t ident_sent_ns;      /* the IDENT probe went out; 0 none */
	uint64_t fin_ns;             /* the peer half-closed while owed output; 0 none */
	struct timespec start_wall;  /* wall clock at accept, for the record */
	struct addr src, dst;
	uint64_t bytes_in, bytes_out;
	uint8_t *buf;                /* captured payload, grown on demand */
	size_t len, cap;             /* bytes in buf, bytes allocated */
	struct http_stream http;     /* where the request tracking stands */
	struct record_request *requests;   /* grown on demand, up to --max-requests */
	uint32_t nrequests, reqcap, requests_dropped;
	uint32_t out_queued;         /* bytes waiting in uv_write requests (at most
	                              * SESSION_OUT_MAX: 32 bits leave room for the
	                              * TLS front's pointer in the 624-byte chunk) */
	struct ident_probe *probe;   /* the probe in flight, or NULL */
	struct record_ident *ident;  /* the probe's result, once it ended */
	uv_write_t *held;            /* before the handle: requests to submit
	                              * once it opens, newest first, chained
	                              * through req->data (counted in out_queued) */
	uint64_t strategy_state;     /* the strategy's own, 0 at start */
	struct session_proxy *proxy; /* on a proxy listener: the header and the
	                              * transport addresses (session.c); else NULL */
	struct tls_front *tls;       /* on a TLS listener: its front (tls_front.h); else NULL */
	/* Bit-fields: with the fields above, an idle session (616 bytes, the TLS
	 * front's pointer included)
	 * fits glibc's 624-byte chunk; the unit tests hold it to 632, the
	 * 640-byte chunk it once had (DESIGN, "Memory"). */
	int fd;                      /* the socket */
	enum session_state state : 8;
	enum close_reason pending_reason : 8;  /* valid when close_pending */
	bool close_pending : 1;      /* close at the end of this event */
	bool close_after_flush : 1;  /* close once the output is written */
	bool has_handle : 1;         /* tcp is open on fd (else read-ahead only) */
	bool over_budget : 1;        /* --max-buffered was full: bytes went uncaptured,
	                              * or output could not be queued */
	bool zero_window : 1;        /* a blocked write saw the peer's window at 0 */
	bool fd_closed : 1;          /* fd was closed early (the handle refused it) */
	bool source_counted : 1;     /* src is counted per source (release it at the end):
	                              * from the start, or a PROXY header's once read */
	bool tls_plain : 1;          /* on a TLS listener, the peer spoke plaintext (not_tls) */
	bool tls_begun : 1;          /* the handshake is done (or tls_plain): the strategy runs */
};

/* Starts a session of the loop h on an accepted, non-blocking socket fd
 * that came in on listener number `listener`, whose source the caller
 * counted (the session releases it through h when it ends), unless the
 * listener takes a PROXY header (session_proxy_listener): then the
 * session counts the header's source itself once the header is read. dst may be
 * NULL (then it is read with getsockname). The peer that has already sent
 * everything is recorded without entering the loop, unless it is still
 * owed output its socket did not take (that goes out from the loop first).
 * Returns 0, or -1 when the session could not start: out of memory (fd
 * closed, source released, recorded as capacity with no limit named) or
 * the socket could not be watched (recorded as server_close). */
int session_start(struct session_host *h, int fd, int listener, const struct addr *src,
    const struct addr *dst, uint64_t now_ns, const struct timespec *wall);

/* The upstream proxies listener number `listener` of h takes a PROXY
 * header from, or NULL: none (and always NULL in inetd mode). */
const struct config_proxy *session_proxy_listener(const struct session_host *h,
    int listener);

/* Ends s for reason: hands its record to the writer (or to its IDENT probe,
 * which hands it on when it ends) and closes the socket (with RST when
 * reset is set). s is freed later, by libuv's close callback; calling it
 * again on a closing session does nothing. */
void session_close(struct session *s, enum close_reason reason, int reset);

/* A deadline of kind (TIMEOUT_IDLE, TIMEOUT_SESSION, or TIMEOUT_STRATEGY
 * + the strategy's index) passed: dl is one of a session's timeouts. The
 * loop's deadline lists call it (a deadlines_fire_fn; ctx unused). */
void session_on_deadline(void *ctx, struct deadline *dl, int kind, uint64_t now_ns);

/* Records a connection that the loop h accepted on listener number
 * `listener` but refused (fd already closed) by limit, with the strategy
 * it would have had, and its SYN (NULL: none read). */
void session_record_refused(struct session_host *h, int listener, const struct addr *src,
    const struct addr *dst, const struct timespec *wall, enum record_limit limit,
    const struct record_syn *syn);

/* Records a connection that the loop h accepted on proxy listener number
 * `listener` from src, which is not one of the listener's proxies (fd
 * already closed, nothing read): close_reason proxy_error, proxy_error
 * forbidden, with its saved SYN (syn, or NULL for none). */
void session_record_forbidden(struct session_host *h, int listener, const struct addr *src,
    const struct addr *dst, const struct timespec *wall,
    const struct record_syn *syn);

#ifdef FLYPAPER_TEST_HOOKS
/* Tests only (the unit builds): while nonzero, building a session's record
 * fails as if memory had run out. */
extern int session_test_fail_records;
#endif

/* ---- for strategies (strategy.h): how a strategy acts on its session */

/* Sends bytes to the peer without ever blocking: what the socket does not
 * take now is queued (up to a cap: past it, or past --max-buffered, the
 * session closes), or dropped when droppable. Returns the bytes the socket
 * took at once. */
size_t session_send(struct session *s, const char *data, size_t len,
    bool droppable);

/* Closes s once its output is written; no more requests reach the
 * strategy. */
void session_end_after_output(struct session *s);

/* Starts the strategy's own deadline again, its delay counted from
 * stamp_ns. Before the session has its handle (read-ahead) it does
 * nothing: the deadline starts when the handle opens. */
void session_strategy_deadline(struct session *s, uint64_t stamp_ns);

/* The strategy's own word of state in s, 0 at the start. */
uint64_t *session_strategy_state(struct session *s);

/* The loop's buffer for rendering an answer: STRATEGY_RENDER_MAX bytes,
 * s's until the event ends (session_send copies what it queues). */
char *session_render_buffer(struct session *s);

#endif
