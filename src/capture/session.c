/* session.c - the per-connection state machine: keep every byte, parse the
 * HTTP requests in them, answer as the strategy says, time each event, and
 * turn the end of the connection into a record.
 *
 * Event handlers never close a session in the middle of their work: they
 * set close_pending (or close_after_flush) and session_settle closes at the
 * end, so no code runs on a session whose buffers were handed off. */
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "handoff.h"
#include "http.h"
#include "ident.h"
#include "log.h"
#include "pcap_trace.h"
#include "proxy.h"
#include "queue.h"
#include "respond.h"
#include "strategy.h"
#include "tcpinfo.h"
#include "tls_front.h"
#include "units.h"

#define SESSION_MIN_BUF 1024
#define SESSION_READ_AHEAD 4         /* reads at accept before the loop takes over */
#define SESSION_HEAD_MAX (256 * 1024) /* a head not ended by then is not HTTP */
#define SESSION_OUT_MAX (256 * 1024) /* output queued for a peer that does not read */
/* Every session's first bytes of payload, up to this, are its own and do
 * not come from the --max-buffered budget: enough for any request head the
 * worms send, so hosts that spend the budget cannot blank everyone else's
 * requests. At most max-conns (plus one per worker, at accept) sessions
 * hold one: a bound apart from the budget (DESIGN.md, "Memory"). */
#define SESSION_RESERVE (16 * 1024)
#define SESSION_TLS_CHUNK (16 * 1024) /* TLS output moved to the socket at a time */

/* A session on a proxy listener: the header as it arrives, then what it
 * said. Allocated at the start of such sessions only (the others stay at
 * the idle size), freed with the session: sizeof is the memory a proxied
 * session holds on top of its own. */
struct session_proxy {
	struct proxy_parser parser;  /* until the header is complete */
	const struct config_proxy *from;  /* the listener's proxies */
	int listener;                /* for the strategy, picked again by the real source */
	bool done;                   /* the header is read, or failed */
	enum record_proxy version;
	enum record_proxy_error error;
	enum record_limit limit;     /* the real source was refused by this limit */
	bool via;                    /* src/dst are the header's; via_* the transport's */
	struct addr via_src, via_dst;
};

/* The part of a payload buffer of cap bytes that --max-buffered holds. */
static size_t session_budgeted(size_t cap)
{
	return cap > SESSION_RESERVE ? cap - SESSION_RESERVE : 0;
}

/* Gives n bytes back to the --max-buffered budget (session_budget_take
 * took them). */
static void session_budget_give(struct session *s, size_t n)
{
	atomic_fetch_sub(s->host->buffered, n);
}

/* Output queued for later is one allocation: the uv_write_t, the length
 * of the bytes (a size_t, read and set through this), then the bytes. */
static size_t *session_out_len(uv_write_t *req)
{
	return (size_t *)(req + 1);
}

static char *session_out_bytes(uv_write_t *req)
{
	return (char *)(req + 1) + sizeof(size_t);
}

/* Frees a session whose record has gone (or never was built). */
static void session_free(struct session *s)
{
	while (s->held) {            /* output the handle never took */
		uv_write_t *req = s->held;
		s->held = req->data;
		session_budget_give(s, *session_out_len(req));
		free(req);
	}
	free(s->ident);              /* a probe's result no record took */
	if (s->buf)
		session_budget_give(s, session_budgeted(s->cap));
	free(s->requests);
	free(s->buf);
	free(s->proxy);
	if (s->tls) {
		session_budget_give(s, tls_front_charged(s->tls));
		tls_front_free(s->tls);
	}
	free(s);
}

/* Counts s's source less, if it was counted. */
static void session_release_source(struct session *s)
{
	if (s->source_counted)
		s->host->release_source(s->host, &s->src);
	s->source_counted = false;
}

/* True while s waits for its TLS handshake: the strategy has not begun. */
static bool session_awaits_tls(const struct session *s)
{
	return s->tls && !s->tls_begun;
}

/* True while s waits for its PROXY header: nothing of it is payload yet. */
static bool session_awaits_header(const struct session *s)
{
	return s->proxy && !s->proxy->done;
}

static void session_on_closed(uv_handle_t *handle)
{
	session_free(handle->data);
}

static void session_on_alloc(uv_handle_t *handle, size_t suggested,
    uv_buf_t *buf)
{
	struct session *s = handle->data;

	(void)suggested;
	*buf = uv_buf_init(s->host->rbuf, s->host->rbuf_len);
}

static int64_t session_ms(uint64_t from_ns, uint64_t to_ns)
{
	return (int64_t)((to_ns - from_ns) / NS_PER_MS);
}

/* Starts (or restarts) s's deadline in slot (enum timeout_kind) from
 * stamp_ns, re-arming the loop's timer when it may now be the earliest. */
static void session_deadline(struct session *s, enum timeout_kind slot,
    uint64_t stamp_ns)
{
	int kind = slot == TIMEOUT_STRATEGY ? TIMEOUT_STRATEGY + s->strategy->index
	                                    : (int)slot;

	if (deadlines_set(s->host->deadlines, &s->timeouts[slot], kind, stamp_ns))
		s->host->arm_deadlines(s->host);
}

static void session_close_later(struct session *s, enum close_reason reason)
{
	if (!s->close_pending) {
		s->close_pending = true;
		s->pending_reason = reason;
	}
}

/* ---- output ---------------------------------------------------------- */

/* Why a session whose output is all written closes. */
static enum close_reason session_flushed_reason(const struct session *s)
{
	return s->fin_ns ? CLOSE_PEER_FIN : CLOSE_SERVER_CLOSE;
}

/* Takes grow more bytes (payload buffer or queued output) from the
 * --max-buffered budget shared by every session. Returns false, taking
 * nothing, when they do not fit. */
static bool session_budget_take(struct session *s, size_t grow)
{
	size_t held = atomic_fetch_add(s->host->buffered, grow);

	if (held + grow <= s->host->cfg->max_buffered)
		return true;
	session_budget_give(s, grow);
	return false;
}

/* Counts n bytes the socket took: TLS bytes on a TLS session (its
 * plaintext is counted as it is encrypted), else output. */
static void session_count_out(struct session *s, size_t n)
{
	if (n == 0)
		return;
	if (s->tls && !s->tls_plain) {
		tls_front_count_out(s->tls, n);
		return;
	}
	s->bytes_out += n;
	if (!s->first_out_ns)
		s->first_out_ns = uv_hrtime();
}

static void session_on_written(uv_write_t *req, int status)
{
	struct session *s = req->handle->data;
	size_t n = *session_out_len(req);

	s->out_queued -= n;
	session_budget_give(s, n);
	free(req);
	if (s->state != SESSION_OPEN)
		return;              /* cancelled by the close */
	if (status < 0)
		session_close_later(s, CLOSE_PEER_RST);
	else
		session_count_out(s, n);
	if (s->close_pending || (s->close_after_flush && s->out_queued == 0))
		session_close(s, s->close_pending ? s->pending_reason
		                                  : session_flushed_reason(s), 0);
}

/* Submits output queued before the session had its handle, in order.
 * Returns false (and closes later) when libuv refuses it. */
static bool session_submit_held(struct session *s)
{
	uv_write_t *oldest = NULL;

	while (s->held) {            /* held newest first: reverse it */
		uv_write_t *req = s->held;
		s->held = req->data;
		req->data = oldest;
		oldest = req;
	}
	s->held = oldest;
	while (s->held) {
		uv_write_t *req = s->held;
		size_t n = *session_out_len(req);
		uv_buf_t b = uv_buf_init(session_out_bytes(req), (unsigned)n);

		s->held = req->data;
		req->data = NULL;
		if (uv_write(req, (uv_stream_t *)&s->tcp, &b, 1, session_on_written) < 0) {
			s->out_queued -= n;
			session_budget_give(s, n);
			free(req);
			session_close_later(s, CLOSE_PEER_RST);
			return false;    /* session_free drops the rest */
		}
	}
	return true;
}

/* Sends bytes without ever blocking: what the socket takes now is sent,
 * the rest is queued, up to SESSION_OUT_MAX per session: with libuv, or,
 * before the session has its handle (read-ahead), held in the session and
 * handed to libuv when the handle opens. Either way the peer gets the same
 * bytes, however it split or timed its own. What is droppable (a tarpit
 * drip, the go-away text) is cut short instead when the socket is full.
 * Returns the bytes the socket took at once. */
static size_t session_send_raw(struct session *s, const char *data, size_t len,
    bool droppable)
{
	ssize_t n;

	if (s->state != SESSION_OPEN || s->close_pending || len == 0)
		return 0;
	if (s->out_queued) {
		n = 0;               /* keep the order behind what is queued */
	} else if (s->has_handle) {
		uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
		n = uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
		if (n == UV_EAGAIN)
			n = 0;
	} else {
		n = send(s->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			n = 0;
	}
	if (n < 0) {
		session_close_later(s, CLOSE_PEER_RST);
		return 0;
	}
	session_count_out(s, (size_t)n);
	size_t rest = len - (size_t)n;
	/* A write that would block is when a peer that stopped reading shows:
	 * rare, so one TCP_INFO read each time is cheap. */
	if (rest && !s->zero_window && !s->fd_closed && s->host->cfg->syn_fingerprint)
		s->zero_window = tcpinfo_zero_window(s->fd);
	if (rest == 0 || droppable)
		return (size_t)n;
	if (s->out_queued + rest > SESSION_OUT_MAX) {
		session_close_later(s, CLOSE_SERVER_CLOSE);
		return (size_t)n;
	}
	/* Output waiting for a peer that does not read is held memory too. */
	if (!session_budget_take(s, rest)) {
		s->over_budget = true;
		session_close_later(s, CLOSE_SERVER_CLOSE);
		return (size_t)n;
	}
	uv_write_t *req = malloc(sizeof(*req) + sizeof(size_t) + rest);
	if (!req) {
		session_budget_give(s, rest);
		session_close_later(s, CLOSE_SERVER_CLOSE);
		return (size_t)n;
	}
	char *copy = session_out_bytes(req);
	memcpy(copy, data + n, rest);
	*session_out_len(req) = rest;
	if (!s->has_handle) {
		req->data = s->held;     /* newest first; submitted oldest first */
		s->held = req;
		s->out_queued += rest;
		return (size_t)n;
	}
	uv_buf_t b = uv_buf_init(copy, (unsigned)rest);
	if (uv_write(req, (uv_stream_t *)&s->tcp, &b, 1, session_on_written) < 0) {
		session_budget_give(s, rest);
		free(req);
		session_close_later(s, CLOSE_PEER_RST);
		return (size_t)n;
	}
	s->out_queued += rest;
	return (size_t)n;
}

/* Moves the TLS front's output (handshake records, alerts, encrypted
 * answers) to the socket, queued under the same caps as any output. */
static void session_flush_tls(struct session *s)
{
	char buf[SESSION_TLS_CHUNK];
	size_t n;

	while ((n = tls_front_output(s->tls, buf, sizeof(buf))) > 0)
		session_send_raw(s, buf, n, false);
}

/* session_send on a TLS session: encrypted whole, then sent or queued
 * (a record cut short would break the stream, so a droppable drip is
 * dropped whole while output is queued). Returns len, or 0 dropped. */
static size_t session_send_tls(struct session *s, const char *data, size_t len,
    bool droppable)
{
	if (s->state != SESSION_OPEN || s->close_pending || len == 0 ||
	    !tls_front_established(s->tls))
		return 0;
	if (droppable && s->out_queued)
		return 0;
	if (tls_front_write(s->tls, data, len) < 0) {
		session_close_later(s, CLOSE_SERVER_CLOSE);
		return 0;
	}
	s->bytes_out += len;
	if (!s->first_out_ns)
		s->first_out_ns = uv_hrtime();
	session_flush_tls(s);
	return len;
}

size_t session_send(struct session *s, const char *data, size_t len,
    bool droppable)
{
	if (s->tls && !s->tls_plain)
		return session_send_tls(s, data, len, droppable);
	return session_send_raw(s, data, len, droppable);
}

/* The peer half-closed (FIN). It may still read: output it is owed is
 * written first, within the same caps and timeouts as any queued output,
 * and then the session closes as peer_fin. */
static void session_peer_fin(struct session *s)
{
	if (s->out_queued == 0) {
		session_close_later(s, CLOSE_PEER_FIN);
		return;
	}
	if (!s->fin_ns)
		s->fin_ns = uv_hrtime();
	s->close_after_flush = true;
}

/* ---- for strategies -------------------------------------------------- */

void session_end_after_output(struct session *s)
{
	s->close_after_flush = true;
}

void session_strategy_deadline(struct session *s, uint64_t stamp_ns)
{
	if (s->has_handle)
		session_deadline(s, TIMEOUT_STRATEGY, stamp_ns);
}

uint64_t *session_strategy_state(struct session *s)
{
	return &s->strategy_state;
}

char *session_render_buffer(struct session *s)
{
	return s->host->wbuf;
}

/* ---- input ----------------------------------------------------------- */

/* Takes from the budget what growing the payload buffer to cap bytes
 * needs past the session's own reserve. Returns false, taking nothing,
 * when it does not fit. */
static bool session_budget_grow(struct session *s, size_t cap)
{
	size_t more = session_budgeted(cap) - session_budgeted(s->cap);

	return more == 0 || session_budget_take(s, more);
}

/* Copies as much of data as max-payload allows into the session's buffer:
 * the first SESSION_RESERVE bytes always, the rest while the global
 * max-buffered budget has room. Past either cap the bytes are only
 * counted; over_budget says the budget cut them (for good: a payload is
 * a prefix of what came, never one with holes). */
static void session_capture(struct session *s, const char *data, size_t n)
{
	size_t max = s->host->cfg->max_payload;
	size_t room = max > s->len ? max - s->len : 0;
	size_t take = n < room ? n : room;

	if (take == 0 || s->over_budget)
		return;
	if (s->len + take > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : SESSION_MIN_BUF;
		if (cap < s->len + take)
			cap = s->len + take;
		if (cap > max)
			cap = max;
		/* Doubling may not fit where the bytes themselves would; past
		 * that, what is left of the buffer and the reserve is filled. */
		if (!session_budget_grow(s, cap)) {
			cap = s->len + take;
			if (!session_budget_grow(s, cap)) {
				cap = SESSION_RESERVE < max ? SESSION_RESERVE : max;
				if (cap < s->cap)
					cap = s->cap;
				s->over_budget = true;
				take = cap > s->len ? cap - s->len : 0;
				if (take == 0)
					return;
			}
		}
		if (cap > s->cap) {
			uint8_t *p = realloc(s->buf, cap);
			if (!p) {
				/* Keep what we have; the rest is counted as truncated. */
				session_budget_give(s,
				    session_budgeted(cap) - session_budgeted(s->cap));
				log_error("session: out of memory for payload");
				return;
			}
			s->buf = p;
			s->cap = cap;
		}
	}
	memcpy(s->buf + s->len, data, take);
	s->len += take;
}

static struct record_span session_span(size_t base, struct http_span sp)
{
	return (struct record_span){(uint32_t)(base + sp.off), (uint32_t)sp.len};
}

/* Remembers a parsed request (up to --max-requests; later ones counted). */
static void session_add_request(struct session *s, const struct http_request *req,
    size_t base, uint64_t now_ns)
{
	struct record_request *r;

	if (s->nrequests >= (uint32_t)s->host->cfg->max_requests) {
		s->requests_dropped++;
		return;
	}
	if (s->nrequests == s->reqcap) {
		uint32_t cap = s->reqcap ? s->reqcap * 2 : 2;
		r = realloc(s->requests, cap * sizeof(*r));
		if (!r) {
			s->requests_dropped++;
			return;
		}
		s->requests = r;
		s->reqcap = cap;
	}
	r = &s->requests[s->nrequests++];
	r->method = session_span(base, req->method);
	r->target = session_span(base, req->target);
	r->version = session_span(base, req->version);
	r->headers = session_span(base, req->headers);
	r->host = session_span(base, req->host);
	r->user_agent = session_span(base, req->user_agent);
	r->body_bytes = 0;
	r->at_ms = session_ms(s->start_ns, now_ns);
}

/* Parses the requests that the new bytes completed, skipping their bodies,
 * and lets the strategy answer each. Stops for good at bytes that are
 * not HTTP: they stay in the payload and the session is marked. What is
 * found does not depend on how the peer split its bytes (http.h). */
static void session_parse_requests(struct session *s, uint64_t now_ns)
{
	const char *base = (const char *)s->buf;

	while (!s->close_pending) {
		struct http_request req;
		size_t at = 0;
		uint64_t body = 0;
		int64_t rc = http_stream_next(&s->http, base, s->len, SESSION_HEAD_MAX,
		    &req, &at, &body);
		if (body && s->nrequests && !s->requests_dropped)
			s->requests[s->nrequests - 1].body_bytes += body;
		if (rc <= 0)
			return;
		session_add_request(s, &req, at, now_ns);
		if (s->strategy->ops->request && !s->close_after_flush)
			s->strategy->ops->request(s, s->strategy, &req, base + at);
	}
}

/* Counts and keeps n bytes of payload, then parses them. */
static void session_on_payload(struct session *s, const char *data, size_t n,
    uint64_t now_ns)
{
	if (!s->first_byte_ns)
		s->first_byte_ns = now_ns;
	s->bytes_in += n;
	session_capture(s, data, n);
	session_parse_requests(s, now_ns);
}

static void session_queue_connect(struct session_host *h, const struct session *s);

/* The strategy's part begins (at accept, or once a PROXY header and a TLS
 * handshake are through): the connect event, the greeting and the
 * strategy's deadline (set when the handle opens if it is not open yet). */
static void session_begin(struct session *s, uint64_t now_ns)
{
	struct session_host *h = s->host;

	if (s->tls)
		s->tls_begun = true;
	if (h->out->connect_events)
		session_queue_connect(h, s);
	if (s->strategy->ops->greet)
		s->strategy->ops->greet(s, s->strategy, now_ns);
	if (s->has_handle) {
		session_deadline(s, TIMEOUT_STRATEGY, now_ns);
		if (s->strategy->ops->no_idle_timeout)
			deadlines_clear(&s->timeouts[TIMEOUT_IDLE]);
	}
}

/* The header failed (or never came): the bytes read, the parser's and
 * the rest of this read, are kept as the payload and its requests
 * recorded (a client that spoke HTTP straight to a proxy listener shows
 * as such), but the strategy answers none of them: the session closes as
 * proxy_error. */
static void session_proxy_fail(struct session *s, enum record_proxy version,
    enum record_proxy_error error, const char *rest, size_t nrest, uint64_t now_ns)
{
	struct session_proxy *px = s->proxy;

	px->done = true;
	px->version = version;
	px->error = error;
	deadlines_clear(&s->timeouts[TIMEOUT_STRATEGY]);
	if (s->host->out->connect_events)
		session_queue_connect(s->host, s);
	s->close_after_flush = true;     /* no strategy request from here */
	if (px->parser.len)
		session_on_payload(s, (const char *)px->parser.buf, px->parser.len, now_ns);
	if (nrest)
		session_on_payload(s, rest, nrest, now_ns);
	session_close_later(s, CLOSE_PROXY_ERROR);
}

/* The header is complete: the session becomes the real peer's. Its
 * source is counted now (the proxy's was not: one haproxy would reach
 * --max-conns-per-source at once), its strategy picked by it, and only
 * now does the strategy greet: nothing goes to the proxy before the real
 * source is known. */
static void session_proxy_done(struct session *s, const struct proxy_result *res,
    uint64_t now_ns)
{
	struct session_proxy *px = s->proxy;
	struct session_host *h = s->host;

	px->done = true;
	px->version = res->version;
	deadlines_clear(&s->timeouts[TIMEOUT_STRATEGY]);
	if (res->addrs) {
		px->via = true;
		px->via_src = s->src;
		px->via_dst = s->dst;
		s->src = res->src;
		s->dst = res->dst;
	}
	px->limit = h->acquire_source(h, &s->src);
	if (px->limit != LIMIT_NONE) {
		session_close_later(s, CLOSE_CAPACITY);
		return;
	}
	s->source_counted = true;
	s->strategy = respond_pick(h->respond, px->listener, &s->src);
	if (!s->tls)                 /* else once the handshake is done */
		session_begin(s, now_ns);
}

/* Wire bytes on a TLS listener: the handshake's, then records whose
 * plaintext is the payload. A first byte that starts no handshake makes
 * the session a plaintext one (not_tls): the strategy answers it as on
 * any listener. A failed handshake sends its alert and closes. */
static void session_on_tls(struct session *s, const char *data, size_t n,
    uint64_t now_ns)
{
	char *plain = s->host->rbuf;  /* data is in the front now: reuse the buffer */
	enum tls_front_status st = tls_front_feed(s->tls, data, n, now_ns);
	long got = 0;
	size_t held;
	const char *early;

	/* the handshake's charge goes back once it is over */
	session_budget_give(s, tls_front_settle(s->tls));
	if (st == TLS_FRONT_PLAIN) {
		s->tls_plain = true;
		session_begin(s, now_ns);
		early = tls_front_held(s->tls, &held);
		if (held)
			session_on_payload(s, early, held, now_ns);
		session_on_payload(s, data, n, now_ns);
		return;
	}
	session_flush_tls(s);
	if (st == TLS_FRONT_FAILED) {
		s->close_after_flush = true;
		return;
	}
	if (st == TLS_FRONT_MORE)
		return;
	if (!s->tls_begun)
		session_begin(s, now_ns);
	/* At most what this read brought, decrypted: bounded work per read. */
	while (!s->close_pending &&
	    (got = tls_front_read(s->tls, plain, s->host->rbuf_len)) > 0)
		session_on_payload(s, plain, (size_t)got, now_ns);
	if (got == -1)               /* close_notify: as a FIN */
		session_peer_fin(s);
	else if (got < -1)
		session_close_later(s, CLOSE_SERVER_CLOSE);
	session_flush_tls(s);        /* a key update's answer */
}

/* Bytes from the peer: the PROXY header's first, while one is awaited,
 * then payload. */
static void session_on_data(struct session *s, const char *data, size_t n,
    uint64_t now_ns)
{
	if (session_awaits_header(s)) {
		struct proxy_result res;
		size_t used = 0;
		enum proxy_status st = proxy_feed(&s->proxy->parser, (const uint8_t *)data, n,
		    &used, &res);
		if (st == PROXY_MORE)
			return;
		if (st == PROXY_FAIL) {
			session_proxy_fail(s, res.version, res.error, data + used, n - used,
			    now_ns);
			return;
		}
		session_proxy_done(s, &res, now_ns);
		data += used;
		n -= used;
		if (n == 0 || s->close_pending)
			return;
	}
	if (s->tls && !s->tls_plain)
		session_on_tls(s, data, n, now_ns);
	else
		session_on_payload(s, data, n, now_ns);
}

/* The peer closed (reset: RST) during a TLS handshake. */
static void session_tls_cut(struct session *s, bool reset)
{
	if (s->tls && !s->tls_plain && tls_front_handshaking(s->tls))
		tls_front_abort(s->tls, reset ? TLS_ERR_PEER_RESET : TLS_ERR_PEER_CLOSED);
}

/* The peer closed or reset before its header was complete: nothing at
 * all is a missing header, part of one a malformed one. */
static void session_proxy_cut(struct session *s)
{
	const struct proxy_parser *p = &s->proxy->parser;

	session_proxy_fail(s, proxy_version_seen(p),
	    p->len ? PROXY_ERR_MALFORMED : PROXY_ERR_MISSING, NULL, 0, uv_hrtime());
}

/* Closes s if an event asked for it. */
static void session_settle(struct session *s)
{
	if (s->state != SESSION_OPEN)
		return;
	if (s->close_pending)
		session_close(s, s->pending_reason, 0);
	else if (s->close_after_flush && s->out_queued == 0)
		session_close(s, session_flushed_reason(s), 0);
}

static void session_on_read(uv_stream_t *stream, ssize_t nread,
    const uv_buf_t *buf)
{
	struct session *s = stream->data;

	if (nread > 0) {
		uint64_t now = uv_hrtime();
		session_on_data(s, buf->base, (size_t)nread, now);
		if (!s->strategy->ops->no_idle_timeout)
			session_deadline(s, TIMEOUT_IDLE, now);
	} else if (nread < 0) {
		/* EOF: the peer half-closed (it may still read what it is
		 * owed). ECONNRESET and the rarer ETIMEDOUT or EHOSTUNREACH:
		 * the peer's side is gone without an orderly close. */
		if (session_awaits_header(s)) {
			session_proxy_cut(s);
		} else if (nread == UV_EOF) {
			session_tls_cut(s, false);
			session_peer_fin(s);
		} else {
			session_tls_cut(s, true);
			session_close_later(s, CLOSE_PEER_RST);
		}
	}
	session_settle(s);
}

/* Reads what a new connection already holds. Scanners and worms that send
 * at once (masscan, Code Red, exploit kits) have often sent everything,
 * FIN included, before accept returns: such a session is recorded without
 * ever entering the event loop, unless output it is owed is still held
 * (the socket did not take it all). Sets close_pending when the peer is
 * gone. */
static void session_read_ahead(struct session *s)
{
	char *rbuf = s->host->rbuf;

	/* As in the loop, a Connection: close answer ends the reading here:
	 * the session closes once that answer is written. */
	for (int i = 0; i < SESSION_READ_AHEAD && !s->close_pending
	    && !s->close_after_flush; i++) {
		ssize_t n = recv(s->fd, rbuf, s->host->rbuf_len, 0);
		if (n > 0) {
			session_on_data(s, rbuf, (size_t)n, uv_hrtime());
			continue;
		}
		if (n == 0 && session_awaits_header(s)) {
			session_proxy_cut(s);
			return;
		}
		if (n == 0) {
			session_tls_cut(s, false);
			session_peer_fin(s);
			return;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno == EINTR)
			continue;
		if (session_awaits_header(s)) {
			session_proxy_cut(s);
		} else {
			session_tls_cut(s, true);
			session_close_later(s, CLOSE_PEER_RST);
		}
		return;
	}
}

/* ---- timeouts -------------------------------------------------------- */

void session_on_deadline(void *ctx, struct deadline *dl, int kind, uint64_t now_ns)
{
	int slot = kind < TIMEOUT_STRATEGY ? kind : TIMEOUT_STRATEGY;
	struct session *s = list_entry(dl - slot, struct session, timeouts);
	const struct config *cfg = s->host->cfg;

	(void)ctx;
	if (s->state != SESSION_OPEN)
		return;
	if (session_awaits_header(s)) {
		/* --proxy-timeout, or the idle or session timeout if shorter:
		 * the header did not come in time. Nothing is sent: the peer
		 * is a proxy, not the one a goaway text is for. */
		session_proxy_fail(s, proxy_version_seen(&s->proxy->parser),
		    PROXY_ERR_TIMEOUT, NULL, 0, now_ns);
		session_settle(s);
		return;
	}
	/* output still queued at a deadline: is the peer's window shut? */
	if (s->out_queued && !s->zero_window && !s->fd_closed && cfg->syn_fingerprint)
		s->zero_window = tcpinfo_zero_window(s->fd);
	if (slot == TIMEOUT_STRATEGY) {
		if (s->strategy->ops->deadline)
			s->strategy->ops->deadline(s, s->strategy, now_ns);
	} else {
		/* A handshake not done in time: no go-away text, which only an
		 * established front could encrypt. */
		if (s->tls && !s->tls_plain && tls_front_handshaking(s->tls))
			tls_front_abort(s->tls, TLS_ERR_TIMEOUT);
		if (cfg->on_timeout == ON_TIMEOUT_GOAWAY)
			session_send(s, cfg->goaway_text, strlen(cfg->goaway_text), true);
		if (!s->close_pending)
			session_close(s, kind == TIMEOUT_IDLE ? CLOSE_IDLE_TIMEOUT
			                                      : CLOSE_SESSION_TIMEOUT,
			    cfg->on_timeout == ON_TIMEOUT_RESET);
	}
	session_settle(s);
}

/* ---- records --------------------------------------------------------- */

static enum record_http session_http_state(const struct session *s)
{
	if (s->len == 0)
		return RECORD_HTTP_NONE;
	if (s->http.invalid)
		return RECORD_HTTP_UNPARSED;
	if (http_stream_complete(&s->http, s->len) && s->bytes_in == s->len)
		return RECORD_HTTP_OK;
	return RECORD_HTTP_PARTIAL;
}

#ifdef FLYPAPER_TEST_HOOKS
int session_test_fail_records;
#endif

/* Builds the record of s, giving it the payload and the requests. Returns
 * NULL when out of memory (s keeps what it had). */
static struct record *session_record(struct session *s, enum close_reason reason)
{
	struct record *r = record_new(RECORD_CLOSED, s->host->mode, s->id);
	uint64_t now = uv_hrtime();

#ifdef FLYPAPER_TEST_HOOKS
	if (session_test_fail_records) {
		record_free(r);
		r = NULL;
	}
#endif
	if (!r)
		return NULL;
	r->start_wall = s->start_wall;
	clock_gettime(CLOCK_REALTIME, &r->end_wall);
	pcap_trace_file_at(s->host->pcap, &s->start_wall, r->pcap_file);
	r->src = s->src;
	r->dst = s->dst;
	r->bytes_in = s->bytes_in;
	r->bytes_out = s->bytes_out;
	r->first_byte_ms = s->first_byte_ns ? session_ms(s->start_ns, s->first_byte_ns) : -1;
	r->duration_ms = session_ms(s->start_ns, now);
	r->reason = reason;
	r->truncated = s->bytes_in > s->len;
	if (reason == CLOSE_CAPACITY && s->proxy && s->proxy->limit != LIMIT_NONE)
		r->limit = s->proxy->limit;  /* the PROXY header's source was refused */
	else if (reason == CLOSE_CAPACITY)
		r->limit = LIMIT_FD;     /* else an open session is only closed for an fd */
	else if (s->over_budget)
		r->limit = LIMIT_MAX_BUFFERED;
	else if (r->truncated)
		r->limit = LIMIT_MAX_PAYLOAD;
	r->strategy = s->strategy->name;
	respond_experiment(s->host->respond, &r->experiment, &r->experiment_id);
	r->first_out_ms = s->first_out_ns ? session_ms(s->start_ns, s->first_out_ns) : -1;
	r->closed_by_peer = reason == CLOSE_PEER_FIN || reason == CLOSE_PEER_RST;
	/* A peer that half-closed while owed output left at its FIN. */
	uint64_t left = reason == CLOSE_PEER_FIN && s->fin_ns ? s->fin_ns : now;
	r->peer_close_after_out_ms = r->closed_by_peer && s->first_out_ns
	    && s->first_out_ns <= left ? session_ms(s->first_out_ns, left) : -1;
	r->peer_close_after_ident_ms = r->closed_by_peer && s->ident_sent_ns
	    && s->ident_sent_ns <= left ? session_ms(s->ident_sent_ns, left) : -1;
	r->http = session_http_state(s);
	/* The fd is still open here. The saved SYN is read now, not at
	 * accept: the kernel keeps its copy (~96 bytes) until the first read,
	 * and holding the parsed one in the session would cost every idle
	 * session 64 bytes past its malloc chunk (DESIGN.md, "Memory"). */
	if (s->host->cfg->syn_fingerprint && !s->fd_closed) {
		tcpinfo_saved_syn(s->fd, &r->syn);
		r->tcpi.zero_window = s->zero_window;
		tcpinfo_read(s->fd, &r->tcpi);
		/* behind a PROXY header the SYN is the proxy's, not the peer's */
		if (s->proxy && s->proxy->via)
			r->syn.of_proxy = 1;
	}
	if (s->proxy) {
		r->proxy = s->proxy->version;
		r->proxy_error = s->proxy->error;
		r->via = s->proxy->via;
		r->via_src = s->proxy->via_src;
		r->via_dst = s->proxy->via_dst;
	}
	r->ident = s->ident;
	s->ident = NULL;
	if (s->tls && reason != CLOSE_PROXY_ERROR) {
		/* Still in the handshake at the end: the peer left (FIN, RST),
		 * or it ran out of time (a timeout, or the daemon stopping). A
		 * PROXY header that failed leaves no TLS to record. */
		if (!s->tls_plain && tls_front_handshaking(s->tls))
			tls_front_abort(s->tls, reason == CLOSE_PEER_FIN ? TLS_ERR_PEER_CLOSED
			    : reason == CLOSE_PEER_RST ? TLS_ERR_PEER_RESET : TLS_ERR_TIMEOUT);
		bool done = tls_front_established(s->tls);
		r->tls_front = tls_front_record(s->tls, s->start_ns);
		atomic_fetch_add(done ? s->host->tls_handshakes : s->host->tls_failed, 1);
	}
	/* The queue counts what a record holds: no spare request slots. */
	if (s->nrequests && s->nrequests < s->reqcap) {
		struct record_request *fit = realloc(s->requests,
		    s->nrequests * sizeof(*fit));
		if (fit)
			s->requests = fit;
	}
	r->requests = s->requests;
	r->nrequests = s->nrequests;
	r->requests_dropped = s->requests_dropped;
	s->requests = NULL;
	s->nrequests = s->reqcap = 0;
	/* The payload leaves the sessions' budget for the queue's. */
	session_budget_give(s, session_budgeted(s->cap));
	r->payload = s->buf;
	r->payload_len = s->len;
	s->buf = NULL;
	s->len = s->cap = 0;
	if (r->payload_len)
		record_hash_payload(r);
	return r;
}

/* Hands a finished record (NULL: lost to memory, logged) to the writer's
 * queue. */
static void session_hand_off(struct session_host *h, struct record *r)
{
	if (!r) {
		log_error("session: out of memory: a session record was lost");
		return;
	}
	queue_push(h->out->queue, r);
}

/* Gives the record to the writer, or to the IDENT probe still under way.
 * Without a record (out of memory) the probe has nothing to complete and
 * ends now: it must not outlive the session it points to. */
static void session_finish_record(struct session *s, struct record *r)
{
	struct ident_probe *p = s->probe;

	s->probe = NULL;
	if (p && r) {
		ident_detach(p, r);
		return;
	}
	if (p)
		ident_cancel(p);
	session_hand_off(s->host, r);
}

/* The IDENT probe of an open session ended: keep its result for the
 * record. */
static void session_on_ident(void *session, struct record_ident *res)
{
	struct session *s = session;

	s->ident = res;
	s->probe = NULL;
}

/* The IDENT probe of a closed session ended: its record is complete. */
static void session_on_ident_record(void *host, struct record *r)
{
	session_hand_off(host, r);
}

/* Probes s's source over IDENT when --ident is on and shutdown has not
 * begun (a peer taken in the backlog's drain: the probe could only be cut
 * short at once); the probe checks the share and the limits. */
static void session_probe_ident(struct session_host *h, struct session *s)
{
	const struct config *cfg = h->cfg;

	if (!h->ident_limiter || cfg->ident_probability <= 0.0 ||
	    atomic_load(h->stopping))
		return;
	struct ident_probe_params pp = {
		.peer = s->src, .local = s->dst,
		.port = (uint16_t)cfg->ident_port,
		.timeout_ms = cfg->ident_timeout_ms,
		.probability = cfg->ident_probability,
		.max_inflight = cfg->ident_max,
		.inflight = h->ident_inflight,
		.start_ns = s->start_ns,
		.now_ns = uv_hrtime(),
		.probes = h->probes,
		.result = session_on_ident, .session = s,
		.hand_off = session_on_ident_record, .owner = h,
	};
	if (ident_probe_start(h->loop, h->ident_limiter, &pp, &s->probe))
		s->ident_sent_ns = pp.now_ns;
}

void session_close(struct session *s, enum close_reason reason, int reset)
{
	struct session_host *h = s->host;

	if (s->state != SESSION_OPEN)
		return;
	s->state = SESSION_CLOSING;
	for (int k = 0; k < TIMEOUT_SLOTS; k++)
		deadlines_clear(&s->timeouts[k]);
	uv_read_stop((uv_stream_t *)&s->tcp);
	session_finish_record(s, session_record(s, reason));
	atomic_fetch_sub(h->active, 1);
	session_release_source(s);
	/* Either closes the socket now (the handle is freed later): its fd
	 * can be the loop's spare again if that was lost. */
	if (reset && uv_tcp_close_reset(&s->tcp, session_on_closed) == 0) {
		h->refill_reserve(h);
		return;
	}
	uv_close((uv_handle_t *)&s->tcp, session_on_closed);
	h->refill_reserve(h);
}

static void session_queue_connect(struct session_host *h, const struct session *s)
{
	struct record *r = record_new(RECORD_CONNECT, h->mode, s->id);

	if (!r)
		return;
	r->start_wall = s->start_wall;
	r->src = s->src;
	r->dst = s->dst;
	r->strategy = s->strategy->name;
	respond_experiment(h->respond, &r->experiment, &r->experiment_id);
	queue_push(h->out->queue, r);
}

/* A record of a connection closed at accept, unread: its times, trace
 * file, addresses, saved SYN (or NULL) and strategy. NULL when memory ran
 * out (logged, naming what). */
static struct record *session_record_unread(struct session_host *h, int listener,
    const struct addr *src, const struct addr *dst, const struct timespec *wall,
    enum close_reason reason, const struct record_syn *syn, const char *what)
{
	struct record *r = record_new(RECORD_CLOSED, h->mode, record_new_id());

	if (!r) {
		log_error("session: out of memory: %s record was lost", what);
		return NULL;
	}
	r->start_wall = *wall;
	r->end_wall = *wall;
	pcap_trace_file_at(h->pcap, wall, r->pcap_file);
	r->src = *src;
	r->dst = *dst;
	r->reason = reason;
	if (syn)
		r->syn = *syn;
	r->strategy = respond_pick(h->respond, listener, src)->name;
	respond_experiment(h->respond, &r->experiment, &r->experiment_id);
	return r;
}

void session_record_refused(struct session_host *h, int listener, const struct addr *src,
    const struct addr *dst, const struct timespec *wall, enum record_limit limit,
    const struct record_syn *syn)
{
	atomic_fetch_add(h->refused, 1);
	struct record *r = session_record_unread(h, listener, src, dst, wall, CLOSE_CAPACITY,
	    syn, "a refusal");
	if (!r)
		return;
	r->limit = limit;
	queue_push(h->out->queue, r);
}

void session_record_forbidden(struct session_host *h, int listener, const struct addr *src,
    const struct addr *dst, const struct timespec *wall, const struct record_syn *syn)
{
	/* the stranger's own SYN: no header replaced it */
	struct record *r = session_record_unread(h, listener, src, dst, wall,
	    CLOSE_PROXY_ERROR, syn, "a forbidden PROXY source's");
	if (!r)
		return;
	r->proxy_error = PROXY_ERR_FORBIDDEN;
	queue_push(h->out->queue, r);
}

const struct config_proxy *session_proxy_listener(const struct session_host *h,
    int listener)
{
	return h->mode == MODE_SERVE ? config_listener_proxy(h->cfg, listener) : NULL;
}

/* A session that ended before entering the loop: record it and let go. */
static void session_finish_early(struct session *s)
{
	struct record *r = session_record(s, s->close_pending ? s->pending_reason
	                                                      : CLOSE_SERVER_CLOSE);
	session_finish_record(s, r);
	close(s->fd);
	s->host->refill_reserve(s->host);
	session_release_source(s);
	session_free(s);
}

int session_start(struct session_host *h, int fd, int listener, const struct addr *src,
    const struct addr *dst, uint64_t now_ns, const struct timespec *wall)
{
	struct session *s = calloc(1, sizeof(*s));
	int rc;

	if (!s) {
		close(fd);
		log_error("session: out of memory: refusing a connection");
		if (!session_proxy_listener(h, listener))
			h->release_source(h, src);
		session_record_refused(h, listener, src, dst ? dst : src, wall,
		    LIMIT_NONE, NULL);
		return -1;
	}
	s->host = h;
	s->fd = fd;
	s->id = record_new_id();
	s->start_ns = now_ns;
	s->start_wall = *wall;
	s->src = *src;
	s->strategy = respond_pick(h->respond, listener, src);
	if (session_proxy_listener(h, listener)) {
		s->proxy = calloc(1, sizeof(*s->proxy));
		if (!s->proxy) {
			free(s);
			close(fd);
			log_error("session: out of memory: refusing a connection");
			session_record_refused(h, listener, src, dst ? dst : src, wall,
			    LIMIT_NONE, NULL);
			return -1;
		}
		proxy_init(&s->proxy->parser);
		s->proxy->from = session_proxy_listener(h, listener);
		s->proxy->listener = listener;
	} else {
		s->source_counted = true;  /* by the caller */
	}
	if (h->mode == MODE_SERVE && config_listener_tls(h->cfg, listener) &&
	    tls_front_ready()) {
		/* What OpenSSL holds for the session is held memory too. */
		bool room = session_budget_take(s, tls_front_size());
		if (!room || !(s->tls = tls_front_new())) {
			if (room)
				session_budget_give(s, tls_front_size());
			free(s->proxy);
			free(s);
			close(fd);
			if (!session_proxy_listener(h, listener))
				h->release_source(h, src);
			if (room)
				log_error("session: out of memory: refusing a connection");
			session_record_refused(h, listener, src, dst ? dst : src, wall,
			    room ? LIMIT_NONE : LIMIT_MAX_BUFFERED, NULL);
			return -1;
		}
	}
	for (int k = 0; k < TIMEOUT_SLOTS; k++)
		deadlines_unset(&s->timeouts[k]);
	if (dst) {
		s->dst = *dst;
	} else {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
			addr_from_sockaddr(&s->dst, (struct sockaddr *)&ss, len);
	}
	atomic_fetch_add(h->accepted, 1);
	/* A proxied session connects, greets and starts its strategy's
	 * deadline once its header is read (session_proxy_done); it is never
	 * probed over IDENT: its peer never connected to us. */
	if (!s->proxy) {
		if (!s->tls)         /* else once the handshake is done */
			session_begin(s, now_ns);
		session_probe_ident(h, s);
	}
	session_read_ahead(s);
	if (s->close_pending || (s->close_after_flush && s->out_queued == 0)) {
		if (!s->close_pending)
			session_close_later(s, CLOSE_SERVER_CLOSE);
		session_finish_early(s);
		return 0;
	}

	atomic_fetch_add(h->active, 1);
	uv_tcp_init(h->loop, &s->tcp);
	s->tcp.data = s;
	rc = uv_tcp_open(&s->tcp, fd);
	s->has_handle = true;
	if (rc != 0) {
		close(fd);           /* the handle did not take it */
		s->fd_closed = true; /* its number may be another socket's now */
	} else if (session_submit_held(s) && !s->fin_ns)
		rc = uv_read_start((uv_stream_t *)&s->tcp, session_on_alloc,
		    session_on_read);
	if (!s->strategy->ops->no_idle_timeout || session_awaits_header(s) ||
	    session_awaits_tls(s))
		session_deadline(s, TIMEOUT_IDLE, s->first_byte_ns ? uv_hrtime() : now_ns);
	session_deadline(s, TIMEOUT_SESSION, now_ns);
	if (session_awaits_header(s)) {
		if (deadlines_set(h->deadlines, &s->timeouts[TIMEOUT_STRATEGY],
		        SESSION_PROXY_KIND, now_ns))
			h->arm_deadlines(h);
	} else if (!session_awaits_tls(s)) {
		session_deadline(s, TIMEOUT_STRATEGY, now_ns);  /* off when it has none */
	}
	if (rc != 0) {
		log_error("session: cannot watch socket: %s", uv_strerror(rc));
		session_close(s, CLOSE_SERVER_CLOSE, 0);
		return -1;
	}
	session_settle(s);           /* the held output may have been refused */
	return 0;
}
