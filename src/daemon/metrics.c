/* metrics.c - the metrics server: one thread, one poll loop, a few
 * connections at a time, each with one request, one answer and a
 * deadline; then Connection: close. Nothing a scraper does reaches a
 * worker: the counters are atomics (or a queue lock held for a moment),
 * read at most once a second however often the port is asked (the
 * rendering is kept and answered again). */
#include "metrics.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "log.h"
#include "promtext.h"
#include "sink_metrics.h"
#include "worker.h"
#include "writer.h"

extern const struct sink_ops sink_metrics_ops; /* sink_metrics.c: counts, no losses */

#ifndef FLYPAPER_VERSION
#define FLYPAPER_VERSION "0.1.0"
#endif

#define METRICS_CONNS 8              /* connections at once; see metrics_slot */
#define METRICS_PER_SOURCE 2         /* connections at once from one source (IPv6: a /64) */
#define METRICS_BACKLOG 64           /* the listen backlog: drained every round */
#define METRICS_ACCEPTS 4            /* accepts a round: half the table, see metrics_accept */
#define METRICS_HEAD_MS 1000         /* from accept to a whole request head */
#define METRICS_TIMEOUT_MS 5000      /* a connection's whole life: request and answer */
#define METRICS_CACHE_MS 1000        /* a rendering is answered again for this long */
#define METRICS_ACCEPT_PAUSE_MS WORKER_EMFILE_PAUSE_MS /* after a hard accept error */
#define METRICS_BODY_MAX (256 * 1024) /* one answer; more: 500 (never with 32 strategies) */
#define METRICS_TICK_MS 200          /* how often the loop looks at the stop flag */
#define METRICS_HEAD_ROOM 256        /* an answer's status line and headers */

struct metrics_conn {
	int fd;                      /* -1: free */
	uint64_t seq;                /* accept order: the oldest unfinished head goes first */
	uint64_t head_deadline_ms;   /* cut if the head is not whole by then */
	uint64_t deadline_ms;        /* cut if not answered by then */
	uint8_t source[ADDR_KEY_LEN]; /* addr_source_key of the peer */
	size_t got;                  /* head bytes read into head */
	char head[PROMTEXT_HEAD_MAX];
	char *out;                   /* the answer: points into body; NULL reading */
	size_t out_len, out_off;
};

struct metrics {
	int fd;                      /* the listening socket */
	pthread_t thread;
	bool running;
	atomic_bool stop;
	struct worker_shared *shared;
	struct writer *writer;
	struct timespec started;     /* CLOCK_REALTIME, for process_start_time_seconds */
	atomic_uint_fast64_t scrapes, refused, accept_errors;
	uint64_t accept_paused_ms;   /* the listener is not polled before this */
	bool accept_error_logged;    /* the first hard accept error is logged, no more */
	uint64_t accepts;            /* connections given a slot, for metrics_conn.seq */
	bool cached;                 /* cache holds a rendering, made at cache_ms */
	uint64_t cache_ms;
	size_t cache_len;
	bool cache_overflow;         /* the series did not fit: a 500 */
	struct metrics_conn conns[METRICS_CONNS];
	char body[METRICS_CONNS][METRICS_BODY_MAX];
	char cache[METRICS_BODY_MAX - METRICS_HEAD_ROOM]; /* the last rendering, copied
	                             * into each answer after room for its head */
};

static uint64_t metrics_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct metrics *metrics_open(const struct config *cfg)
{
	struct metrics *m;
	struct sockaddr_storage ss;
	socklen_t len;
	char text[ADDR_TEXT_LEN];
	int one = 1;

	if (!cfg->metrics_on)
		return NULL;
	addr_format(&cfg->metrics, text, sizeof(text));
	if (!(m = calloc(1, sizeof(*m))))
		log_fatal("metrics: out of memory");
	m->fd = socket(cfg->metrics.u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->fd < 0)
		log_fatal("metrics: %s: socket: %s", text, strerror(errno));
	setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(m->fd, &cfg->metrics.u.sa, addr_len(&cfg->metrics)) < 0)
		log_fatal("metrics: cannot bind %s: %s", text, strerror(errno));
	if (listen(m->fd, METRICS_BACKLOG) < 0)
		log_fatal("metrics: cannot listen on %s: %s", text, strerror(errno));
	len = sizeof(ss);
	if (getsockname(m->fd, (struct sockaddr *)&ss, &len) == 0) {
		struct addr bound;
		if (addr_from_sockaddr(&bound, (struct sockaddr *)&ss, len) == 0)
			addr_format(&bound, text, sizeof(text));
	}
	for (int i = 0; i < METRICS_CONNS; i++)
		m->conns[i].fd = -1;
	clock_gettime(CLOCK_REALTIME, &m->started);
	log_info("metrics: serving http://%s/metrics", text);
	return m;
}

/* Closes c; cut says it ended without an answer (counted: refused at the
 * cap, evicted, timed out or a bad request alike). */
static void metrics_conn_close(struct metrics *m, struct metrics_conn *c, bool cut)
{
	if (cut)
		atomic_fetch_add(&m->refused, 1);
	close(c->fd);
	c->fd = -1;
	c->out = NULL;
}

/* Counter and gauge helpers: one family line pair, then samples. */
static void metrics_one(struct promtext *pt, const char *name, const char *type,
    const char *help, double value)
{
	promtext_family(pt, name, type, help);
	promtext_sample(pt, name, NULL, 0, value);
}

/* Sessions by strategy and close reason: every known strategy with every
 * reason, zeros included, so a rate() sees each series from its start. */
static void metrics_sessions(struct promtext *pt, const struct sink_metrics_counts *c)
{
	promtext_family(pt, "flypaper_sessions_total", "counter",
	    "Sessions recorded, by close reason and response strategy.");
	for (int i = 0; i <= SINK_METRICS_STRATEGIES; i++) {
		bool other = i == SINK_METRICS_STRATEGIES;
		if (i >= c->nstrategies && !other)
			continue;
		for (int r = 0; r < CLOSE_REASON_COUNT; r++) {
			if (other && !c->sessions[i][r])
				continue;
			const char *l[] = {"close_reason", record_reason_name(r),
			    "strategy", c->names[i]};
			promtext_sample(pt, "flypaper_sessions_total", l, 2,
			    (double)c->sessions[i][r]);
		}
	}
}

static void metrics_by_enum(struct promtext *pt, const char *name, const char *help,
    const char *label, const uint64_t *v, int first, int n,
    const char *(*label_name)(int))
{
	promtext_family(pt, name, "counter", help);
	for (int i = first; i < n; i++) {
		const char *l[] = {label, label_name(i)};
		promtext_sample(pt, name, l, 1, (double)v[i]);
	}
}

static const char *metrics_limit_name(int i)
{
	return record_limit_name((enum record_limit)i);
}

static const char *metrics_ident_name(int i)
{
	return record_ident_name((enum ident_status)i);
}

/* Each sink's losses, and what its gauges callback tells: its own backlog
 * and lag on top of the writer's queue, which every sink waits behind. */
static void metrics_sinks(struct metrics *m, struct promtext *pt, size_t queued,
    double queue_lag_s)
{
	static const char *const names[] = {"flypaper_sink_lost_total",
	    "flypaper_sink_backlog", "flypaper_sink_lag_seconds",
	    "flypaper_sink_failures_total", "flypaper_sink_shipped_total"};
	static const char *const helps[] = {
	    "Records or lines a sink could not deliver (given up).",
	    "Records waiting for a sink: the writer's queue and what the sink holds.",
	    "Age of the oldest record waiting for a sink.",
	    "Writes to a sink that failed (retried or not).",
	    "Units a sink delivered and had acknowledged."};
	static const char *const types[] = {"counter", "gauge", "gauge", "counter", "counter"};
	struct writer *w = m->writer;
	struct sink_gauges g[WRITER_MAX_SINKS];

	for (int i = 0; i < w->nsinks; i++) {
		g[i] = (struct sink_gauges){-1, -1, -1, -1};
		if (w->sinks[i]->ops->gauges)
			w->sinks[i]->ops->gauges(w->sinks[i], &g[i]);
	}
	for (int f = 0; f < 5; f++) {
		promtext_family(pt, names[f], types[f], helps[f]);
		for (int i = 0; i < w->nsinks; i++) {
			struct sink *s = w->sinks[i];
			const char *l[] = {"sink", s->ops->name};
			double v;
			if (s->ops == &sink_metrics_ops)
				continue;
			if (f == 0)
				v = (double)atomic_load_explicit(&s->lost_live, memory_order_relaxed);
			else if (f == 1)
				v = (double)queued + (double)(g[i].backlog > 0 ? g[i].backlog : 0);
			else if (f == 2)
				v = g[i].lag_ms > 0 && g[i].lag_ms / 1000.0 > queue_lag_s
				    ? g[i].lag_ms / 1000.0 : queue_lag_s;
			else if (f == 3) {
				if (g[i].failures < 0)
					continue;
				v = (double)g[i].failures;
			} else {
				if (g[i].shipped < 0)
					continue;
				v = (double)g[i].shipped;
			}
			promtext_sample(pt, names[f], l, 1, v);
		}
	}
}

/* The process_* basics that cost nothing: CPU time and start time. */
static void metrics_process(struct metrics *m, struct promtext *pt)
{
	struct timespec cpu;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu) == 0)
		metrics_one(pt, "process_cpu_seconds_total", "counter",
		    "Total user and system CPU time spent in seconds.",
		    (double)cpu.tv_sec + cpu.tv_nsec / 1e9);
	metrics_one(pt, "process_start_time_seconds", "gauge",
	    "Start time of the process since unix epoch in seconds.",
	    (double)m->started.tv_sec);
}

/* Writes every series into pt. */
static void metrics_render(struct metrics *m, struct promtext *pt)
{
	struct worker_shared *sh = m->shared;
	struct sink_metrics_counts c;
	struct queue_stats qs;
	size_t qrec, qbytes;
	uint64_t oldest = queue_oldest_ns(&m->writer->queue);
	double lag_s = 0;

	sink_metrics_read(&c);
	queue_depth(&m->writer->queue, &qrec, &qbytes);
	queue_get_stats(&m->writer->queue, &qs);
	if (oldest) {
		uint64_t now = uv_hrtime();
		lag_s = now > oldest ? (now - oldest) / 1e9 : 0;
	}
	{
		const char *l[] = {"version", FLYPAPER_VERSION};
		promtext_family(pt, "flypaper_build_info", "gauge",
		    "The running flypaper's version; always 1.");
		promtext_sample(pt, "flypaper_build_info", l, 1, 1);
	}
	metrics_sessions(pt, &c);
	metrics_one(pt, "flypaper_bytes_received_total", "counter",
	    "Bytes the peers of recorded sessions sent.", (double)c.bytes_in);
	metrics_one(pt, "flypaper_bytes_sent_total", "counter",
	    "Bytes flypaper wrote to the peers of recorded sessions.", (double)c.bytes_out);
	metrics_by_enum(pt, "flypaper_refused_total",
	    "Sessions refused at accept, by the limit that refused them.", "limit",
	    c.refused, LIMIT_MAX_CONNS, LIMIT_MAX_PAYLOAD, metrics_limit_name);
	metrics_by_enum(pt, "flypaper_ident_probes_total",
	    "IDENT probes of recorded sessions, by outcome.", "outcome",
	    c.ident, IDENT_REFUSED, IDENT_STATUS_COUNT, metrics_ident_name);
	metrics_one(pt, "flypaper_open_sessions", "gauge",
	    "Sessions open now, all workers.", (double)atomic_load(&sh->active));
	metrics_one(pt, "flypaper_accepted_total", "counter",
	    "Connections accepted (refused ones included).", (double)atomic_load(&sh->accepted));
	metrics_one(pt, "flypaper_evicted_total", "counter",
	    "Sessions closed at the fd limit to make room.", (double)atomic_load(&sh->evicted));
	metrics_one(pt, "flypaper_accept_errors_total", "counter",
	    "accept(2) failures (EMFILE and others).", (double)atomic_load(&sh->accept_errors));
	metrics_one(pt, "flypaper_tls_handshakes_total", "counter",
	    "TLS front handshakes completed.", (double)atomic_load(&sh->tls_handshakes));
	metrics_one(pt, "flypaper_tls_failures_total", "counter",
	    "TLS front sessions whose handshake did not complete.",
	    (double)atomic_load(&sh->tls_failed));
	metrics_one(pt, "flypaper_halfopen_rows_total", "counter",
	    "Half-open handshakes recorded (syn_only, rst_after_synack, summaries).",
	    (double)c.halfopen_rows);
	metrics_one(pt, "flypaper_queue_depth", "gauge",
	    "Records in the writer's queue.", (double)qrec);
	metrics_one(pt, "flypaper_queue_bytes", "gauge",
	    "Bytes the records in the writer's queue hold.", (double)qbytes);
	metrics_one(pt, "flypaper_writer_lag_seconds", "gauge",
	    "Age of the oldest record not yet committed.", lag_s);
	{
		const char *p[] = {"what", "payload"}, *r[] = {"what", "record"};
		promtext_family(pt, "flypaper_queue_dropped_total", "counter",
		    "Payloads or whole records the full writer queue dropped.");
		promtext_sample(pt, "flypaper_queue_dropped_total", p, 1,
		    (double)qs.payloads_dropped);
		promtext_sample(pt, "flypaper_queue_dropped_total", r, 1,
		    (double)qs.records_dropped);
	}
	{
		struct sink_gauges g = {-1, -1, -1, -1};
		if (m->writer->primary && m->writer->primary->ops->gauges)
			m->writer->primary->ops->gauges(m->writer->primary, &g);
		metrics_one(pt, "flypaper_store_errors_total", "counter",
		    "Database writes that failed (busy, full, I/O; retried).",
		    (double)(g.failures > 0 ? g.failures : 0));
	}
	if (m->writer->classifier) {
		struct classifier_counters cc;
		classifier_get_counters(m->writer->classifier, &cc);
		metrics_one(pt, "flypaper_classified_total", "counter",
		    "Payload verdicts the classifier handed back.", (double)cc.classified);
		metrics_one(pt, "flypaper_classify_skipped_total", "counter",
		    "Payloads whose scan ran over --classify-budget.", (double)cc.skipped);
		metrics_one(pt, "flypaper_classify_backlog", "gauge",
		    "Payloads waiting for the classifier or its verdict.",
		    (double)classifier_backlog(m->writer->classifier));
	}
	metrics_sinks(m, pt, qrec, lag_s);
	metrics_one(pt, "flypaper_metrics_refused_total", "counter",
	    "Metrics connections refused, evicted or cut (cap, timeout, bad request).",
	    (double)atomic_load(&m->refused));
	metrics_one(pt, "flypaper_metrics_accept_errors_total", "counter",
	    "accept(2) failures on the metrics port (EMFILE and others; each pauses it).",
	    (double)atomic_load(&m->accept_errors));
	metrics_process(m, pt);
}

/* Renders the series into m->cache unless the rendering there is younger
 * than METRICS_CACHE_MS: a flood of scrapes then costs one rendering (and
 * one look under the queue's and the classifier's locks) a second, not
 * one each. Prometheus asks every 15 s by default; the numbers may be up
 * to a second old. */
static void metrics_cache(struct metrics *m, uint64_t now)
{
	struct promtext pt;

	if (m->cached && now - m->cache_ms < METRICS_CACHE_MS)
		return;
	promtext_init(&pt, m->cache, sizeof(m->cache));
	metrics_render(m, &pt);
	m->cache_overflow = pt.overflow;
	if (pt.overflow) {
		promtext_init(&pt, m->cache, sizeof(m->cache));
		promtext_family(&pt, "flypaper_metrics_overflow", "gauge", "too many series");
	}
	m->cache_len = pt.len;
	m->cache_ms = now;
	m->cached = true;
}

/* Fills c's answer for what its head asked. */
static void metrics_answer(struct metrics *m, struct metrics_conn *c,
    enum promtext_answer a)
{
	char *buf = m->body[c - m->conns];
	char head[METRICS_HEAD_ROOM];
	const char *status = "200 OK", *type = "text/plain; version=0.0.4; charset=utf-8";
	size_t len;
	int n;

	/* the body after room for the head, so both go in one write */
	if (a == PROMTEXT_METRICS || a == PROMTEXT_HEAD_ONLY) {
		metrics_cache(m, metrics_now_ms());
		if (m->cache_overflow)
			status = "500 Internal Server Error";
		len = m->cache_len;
		if (a == PROMTEXT_METRICS)
			memcpy(buf + sizeof(head), m->cache, len);
		atomic_fetch_add(&m->scrapes, 1);
	} else {
		struct promtext pt;
		promtext_init(&pt, buf + sizeof(head), METRICS_BODY_MAX - sizeof(head));
		status = a == PROMTEXT_NOT_FOUND ? "404 Not Found" : "405 Method Not Allowed";
		type = "text/plain; charset=utf-8";
		promtext_family(&pt, "none", "untyped", "GET /metrics only");
		len = pt.len;
	}
	n = snprintf(head, sizeof(head), "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\n%sConnection: close\r\n\r\n", status, type, len,
	    a == PROMTEXT_BAD_METHOD ? "Allow: GET, HEAD\r\n" : "");
	if (a == PROMTEXT_HEAD_ONLY)
		len = 0;
	c->out = buf + sizeof(head) - (size_t)n;
	memcpy(c->out, head, (size_t)n);
	c->out_len = (size_t)n + len;
	c->out_off = 0;
}

static void metrics_write(struct metrics *m, struct metrics_conn *c)
{
	ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
	    MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			metrics_conn_close(m, c, true);
		return;
	}
	c->out_off += (size_t)n;
	if (c->out_off == c->out_len) {
		shutdown(c->fd, SHUT_WR);
		metrics_conn_close(m, c, false);
	}
}

/* Reads what c sent; once the head is whole, answers, and writes what the
 * socket takes at once (an answer fits in its buffer: the slot is free
 * again before the next accept). */
static void metrics_read(struct metrics *m, struct metrics_conn *c)
{
	enum promtext_answer a;
	ssize_t n = recv(c->fd, c->head + c->got, sizeof(c->head) - c->got, 0);
	int rc;

	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		metrics_conn_close(m, c, true);
		return;
	}
	c->got += (size_t)n;
	rc = promtext_request(c->head, c->got, &a);
	if (rc == PROMTEXT_INCOMPLETE)
		return;
	if (rc == PROMTEXT_INVALID) {
		static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
		    "Connection: close\r\n\r\n";
		(void)!send(c->fd, bad, sizeof(bad) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		metrics_conn_close(m, c, true);
		return;
	}
	metrics_answer(m, c, a);
	metrics_write(m, c);
}

/* Connections in the table from source. */
static int metrics_from(const struct metrics *m, const uint8_t *source)
{
	int n = 0;

	for (int i = 0; i < METRICS_CONNS; i++)
		n += m->conns[i].fd >= 0 &&
		    memcmp(m->conns[i].source, source, ADDR_KEY_LEN) == 0;
	return n;
}

/* The slot for a new connection from source. A free one; else a
 * connection still waiting for its head is evicted (cut and counted):
 * one of the source holding the most, the oldest of them, so idle
 * sockets, however fast they reconnect, cannot keep out a scraper (one
 * connection, its head sent with it) unless they come from 8 sources. A
 * source that already holds METRICS_PER_SOURCE gives up its own oldest
 * instead, so one address (an IPv6 /64) cannot fill the table. NULL:
 * nothing can be evicted (every one is sending its answer); the new
 * connection is refused. */
static struct metrics_conn *metrics_slot(struct metrics *m, const uint8_t *source)
{
	struct metrics_conn *empty = NULL, *victim = NULL;
	int victim_from = 0;
	bool full = metrics_from(m, source) >= METRICS_PER_SOURCE;

	for (int i = 0; i < METRICS_CONNS; i++) {
		struct metrics_conn *c = &m->conns[i];
		int from;
		if (c->fd < 0) {
			empty = empty ? empty : c;
			continue;
		}
		if (c->out || (full && memcmp(c->source, source, ADDR_KEY_LEN) != 0))
			continue;
		from = metrics_from(m, c->source);
		if (!victim || from > victim_from ||
		    (from == victim_from && c->seq < victim->seq)) {
			victim = c;
			victim_from = from;
		}
	}
	if (!full && empty)
		return empty;
	if (victim)
		metrics_conn_close(m, victim, true);
	return victim;
}

/* After an accept error other than "nothing there" or "that one went
 * away" (EMFILE, ENFILE, ENOBUFS, ENOMEM), the connection stays in the
 * backlog and the socket readable: polling it again at once would spin.
 * The listener is left out of the poll for a moment, as the workers do. */
static void metrics_accept_failed(struct metrics *m, int err, uint64_t now)
{
	if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ECONNABORTED)
		return;
	atomic_fetch_add(&m->accept_errors, 1);
	m->accept_paused_ms = now + METRICS_ACCEPT_PAUSE_MS;
	if (!m->accept_error_logged) {
		m->accept_error_logged = true;
		log_warn("metrics: accept: %s: not accepting for %dms after each such "
		    "error (counted in flypaper_metrics_accept_errors_total; logged once)",
		    strerror(err), METRICS_ACCEPT_PAUSE_MS);
	}
}

/* Takes the connections waiting, METRICS_ACCEPTS at most a round, and
 * reads each at once. */
static void metrics_accept(struct metrics *m, uint64_t now)
{
	for (int k = 0; k < METRICS_ACCEPTS; k++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		uint8_t source[ADDR_KEY_LEN] = {0};
		struct addr src;
		struct metrics_conn *c;
		int fd = accept4(m->fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			metrics_accept_failed(m, errno, now);
			return;
		}
		if (addr_from_sockaddr(&src, (struct sockaddr *)&ss, len) == 0)
			addr_source_key(&src, source);
		if (!(c = metrics_slot(m, source))) {
			atomic_fetch_add(&m->refused, 1);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->seq = ++m->accepts;
		memcpy(c->source, source, sizeof(source));
		c->got = 0;
		c->out = NULL;
		c->head_deadline_ms = now + METRICS_HEAD_MS;
		c->deadline_ms = now + METRICS_TIMEOUT_MS;
		metrics_read(m, c);
	}
}

static void *metrics_thread(void *arg)
{
	struct metrics *m = arg;
	struct pollfd pfd[METRICS_CONNS + 1];
	int idx[METRICS_CONNS + 1];

	while (!atomic_load(&m->stop)) {
		int n = 0, timeout = METRICS_TICK_MS;
		uint64_t now = metrics_now_ms();
		/* pfd[0] is the listener, or -1 (ignored) while accepting pauses */
		pfd[n++] = (struct pollfd){.fd = m->fd, .events = POLLIN};
		if (now < m->accept_paused_ms) {
			pfd[0].fd = -1;
			if (m->accept_paused_ms - now < (uint64_t)timeout)
				timeout = (int)(m->accept_paused_ms - now);
		}
		for (int i = 0; i < METRICS_CONNS; i++) {
			struct metrics_conn *c = &m->conns[i];
			if (c->fd < 0)
				continue;
			if (now >= (c->out ? c->deadline_ms : c->head_deadline_ms)) {
				metrics_conn_close(m, c, true);
				continue;
			}
			idx[n] = i;
			pfd[n++] = (struct pollfd){.fd = c->fd, .events = c->out ? POLLOUT : POLLIN};
		}
		if (poll(pfd, (nfds_t)n, timeout) <= 0)
			continue;
		for (int k = 1; k < n; k++) {
			struct metrics_conn *c = &m->conns[idx[k]];
			if (!pfd[k].revents || c->fd < 0)
				continue;
			if (c->out)
				metrics_write(m, c);
			else
				metrics_read(m, c);
		}
		if (pfd[0].revents & POLLIN)
			metrics_accept(m, metrics_now_ms());
	}
	return NULL;
}

int metrics_start(struct metrics *m, struct worker_shared *sh, struct writer *w)
{
	if (!m)
		return 0;
	m->shared = sh;
	m->writer = w;
	if (pthread_create(&m->thread, NULL, metrics_thread, m) != 0)
		return -1;
	m->running = true;
	return 0;
}

void metrics_close(struct metrics *m, uint64_t *scrapes, uint64_t *refused)
{
	*scrapes = *refused = 0;
	if (!m)
		return;
	atomic_store(&m->stop, true);
	if (m->running)
		pthread_join(m->thread, NULL);
	for (int i = 0; i < METRICS_CONNS; i++)
		if (m->conns[i].fd >= 0)
			close(m->conns[i].fd);
	close(m->fd);
	*scrapes = atomic_load(&m->scrapes);
	*refused = atomic_load(&m->refused);
	free(m);
}
