/* session.c - the per-connection state machine: read and keep every byte,
 * time each event, and turn the end of the connection into a record. */
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "timeouts.h"
#include "worker.h"

#define NS_PER_MS 1000000ULL
#define SESSION_MIN_BUF 1024
#define SESSION_READ_AHEAD 4         /* reads at accept before the loop takes over */

static void session_on_closed(uv_handle_t *handle)
{
	struct session *s = handle->data;

	free(s->buf);
	free(s);
}

static void session_on_alloc(uv_handle_t *handle, size_t suggested,
    uv_buf_t *buf)
{
	struct session *s = handle->data;

	(void)suggested;
	*buf = uv_buf_init(s->worker->rbuf, sizeof(s->worker->rbuf));
}

/* Copies as much of data as max-payload allows into the session's buffer.
 * Past the cap the bytes are only counted. */
static void session_capture(struct session *s, const char *data, size_t n)
{
	size_t max = s->worker->shared->cfg->max_payload;
	size_t room = max > s->len ? max - s->len : 0;
	size_t take = n < room ? n : room;

	if (take == 0)
		return;
	if (s->len + take > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : SESSION_MIN_BUF;
		if (cap < s->len + take)
			cap = s->len + take;
		if (cap > max)
			cap = max;
		uint8_t *p = realloc(s->buf, cap);
		if (!p) {
			/* Keep what we have; the rest is counted as truncated. */
			log_error("session: out of memory for payload");
			return;
		}
		s->buf = p;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, take);
	s->len += take;
}

/* Counts and keeps n bytes from the peer. */
static void session_on_data(struct session *s, const char *data, size_t n,
    uint64_t now)
{
	if (!s->first_byte_ns)
		s->first_byte_ns = now;
	s->last_in_ns = now;
	s->bytes_in += n;
	session_capture(s, data, n);
}

/* Maps a failed read to how the peer left. */
static enum close_reason session_read_error_reason(ssize_t nread)
{
	/* ECONNRESET, and the rarer ETIMEDOUT or EHOSTUNREACH: the peer's
	 * side is gone without an orderly close. */
	return nread == UV_EOF ? CLOSE_PEER_FIN : CLOSE_PEER_RST;
}

static void session_on_read(uv_stream_t *stream, ssize_t nread,
    const uv_buf_t *buf)
{
	struct session *s = stream->data;

	if (nread > 0) {
		session_on_data(s, buf->base, (size_t)nread, uv_hrtime());
		timeouts_touch(s->worker, s);
		return;
	}
	if (nread == 0)
		return;              /* EAGAIN: nothing this time */
	session_close(s, session_read_error_reason(nread), 0);
}

/* Reads what a new connection already holds. Scanners and worms that send
 * at once (masscan, Code Red, exploit kits) have often sent everything,
 * FIN included, before accept returns: such a session is recorded here
 * without ever entering the event loop. Returns 1 with *reason set when
 * the peer is gone, 0 when the session must wait for more. */
static int session_read_ahead(struct session *s, int fd, enum close_reason *reason)
{
	char *rbuf = s->worker->rbuf;

	for (int i = 0; i < SESSION_READ_AHEAD; i++) {
		ssize_t n = recv(fd, rbuf, sizeof(s->worker->rbuf), 0);
		if (n > 0) {
			session_on_data(s, rbuf, (size_t)n, uv_hrtime());
			continue;
		}
		if (n == 0) {
			*reason = CLOSE_PEER_FIN;
			return 1;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno == EINTR)
			continue;
		*reason = CLOSE_PEER_RST;
		return 1;
	}
	return 0;                    /* a fast sender: the loop takes over */
}

/* Builds the record of s, giving it the captured payload. */
static struct record *session_record(struct session *s,
    enum close_reason reason)
{
	struct record *r = calloc(1, sizeof(*r));
	uint64_t now = uv_hrtime();

	if (!r)
		return NULL;
	r->kind = RECORD_CLOSED;
	r->mode = s->worker->shared->mode;
	r->id = s->id;
	r->start_wall = s->start_wall;
	clock_gettime(CLOCK_REALTIME, &r->end_wall);
	r->src = s->src;
	r->dst = s->dst;
	r->bytes_in = s->bytes_in;
	r->bytes_out = s->bytes_out;
	r->first_byte_ms = s->first_byte_ns
	    ? (int64_t)((s->first_byte_ns - s->start_ns) / NS_PER_MS) : -1;
	r->duration_ms = (int64_t)((now - s->start_ns) / NS_PER_MS);
	r->reason = reason;
	r->truncated = s->bytes_in > s->len;
	r->payload = s->buf;
	r->payload_len = s->len;
	s->buf = NULL;
	s->len = s->cap = 0;
	if (r->payload_len)
		record_hash_payload(r);
	return r;
}

static void session_hand_off(struct worker *w, struct record *r)
{
	if (!r) {
		log_error("session: out of memory: a session record was lost");
		return;
	}
	queue_push(&w->shared->writer->queue, r);
}

void session_close(struct session *s, enum close_reason reason, int reset)
{
	struct worker *w = s->worker;

	if (s->state != SESSION_OPEN)
		return;
	s->state = SESSION_CLOSING;
	timeouts_remove(s);
	uv_read_stop((uv_stream_t *)&s->tcp);
	session_hand_off(w, session_record(s, reason));
	atomic_fetch_sub(&w->shared->active, 1);
	if (reset && uv_tcp_close_reset(&s->tcp, session_on_closed) == 0)
		return;
	uv_close((uv_handle_t *)&s->tcp, session_on_closed);
}

void session_expire(struct session *s, enum close_reason reason)
{
	const struct config *cfg = s->worker->shared->cfg;

	if (cfg->on_timeout == TIMEOUT_GOAWAY) {
		/* The text is short: the socket buffer takes it at once, or
		 * the peer is not reading and gets what fits. Never wait. */
		uv_buf_t b = uv_buf_init(cfg->goaway_text,
		    (unsigned)strlen(cfg->goaway_text));
		int n = uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
		if (n > 0)
			s->bytes_out += (uint64_t)n;
	}
	session_close(s, reason, cfg->on_timeout == TIMEOUT_RESET);
}

static void session_queue_connect(struct worker *w, const struct session *s)
{
	struct record *r = calloc(1, sizeof(*r));

	if (!r)
		return;
	r->kind = RECORD_CONNECT;
	r->mode = w->shared->mode;
	r->id = s->id;
	r->start_wall = s->start_wall;
	r->src = s->src;
	r->dst = s->dst;
	r->first_byte_ms = -1;
	queue_push(&w->shared->writer->queue, r);
}

void session_record_refused(struct worker *w, const struct addr *src,
    const struct addr *dst, const struct timespec *wall)
{
	struct record *r = calloc(1, sizeof(*r));

	atomic_fetch_add(&w->shared->refused, 1);
	if (!r) {
		log_error("session: out of memory: a refusal record was lost");
		return;
	}
	r->kind = RECORD_CLOSED;
	r->mode = w->shared->mode;
	r->id = record_new_id();
	r->start_wall = *wall;
	r->end_wall = *wall;
	r->src = *src;
	r->dst = *dst;
	r->first_byte_ms = -1;
	r->reason = CLOSE_CAPACITY;
	queue_push(&w->shared->writer->queue, r);
}

int session_start(struct worker *w, int fd, const struct addr *src,
    const struct addr *dst, uint64_t now_ns, const struct timespec *wall)
{
	struct session *s = calloc(1, sizeof(*s));
	enum close_reason reason;
	int rc;

	if (!s) {
		close(fd);
		log_error("session: out of memory: refusing a connection");
		session_record_refused(w, src, dst ? dst : src, wall);
		return -1;
	}
	s->worker = w;
	s->id = record_new_id();
	s->start_ns = s->last_in_ns = now_ns;
	s->start_wall = *wall;
	s->src = *src;
	list_init(&s->idle_link);
	list_init(&s->age_link);
	if (dst) {
		s->dst = *dst;
	} else {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
			addr_from_sockaddr(&s->dst, (struct sockaddr *)&ss, len);
	}
	atomic_fetch_add(&w->shared->accepted, 1);
	if (w->shared->emit_connect)
		session_queue_connect(w, s);
	if (session_read_ahead(s, fd, &reason)) {
		session_hand_off(w, session_record(s, reason));
		close(fd);
		free(s->buf);
		free(s);
		return 0;
	}
	atomic_fetch_add(&w->shared->active, 1);
	uv_tcp_init(&w->loop, &s->tcp);
	s->tcp.data = s;
	timeouts_add(w, s);
	rc = uv_tcp_open(&s->tcp, fd);
	if (rc != 0)
		close(fd);           /* the handle did not take it */
	else
		rc = uv_read_start((uv_stream_t *)&s->tcp, session_on_alloc,
		    session_on_read);
	if (rc != 0) {
		log_error("session: cannot watch socket: %s", uv_strerror(rc));
		session_close(s, CLOSE_SERVER_CLOSE, 0);
		return -1;
	}
	return 0;
}
