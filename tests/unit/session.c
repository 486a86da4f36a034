/* session.c - unit tests of the session's seam to its loop: sessions run on
 * a struct session_host filled here by hand, with no worker (this file
 * does not include worker.h), and the host's three services count their
 * calls. Run from unit.c's main through test_session. */
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "deadlines.h"
#include "handoff.h"
#include "queue.h"
#include "record.h"
#include "respond.h"
#include "session.h"

void test_session(int *passed, int *failed);

static int *ses_passed, *ses_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*ses_passed)++;                                   \
		} else {                                                   \
			(*ses_failed)++;                                   \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                                \
			printf("\n");                                      \
		}                                                          \
	} while (0)

#define BANNER "220 unit\r\n"

/* A loop as a session sees it, and what its services were asked. */
struct test_host {
	struct session_host host;
	uv_loop_t loop;
	uv_timer_t timer;            /* the deadlines' timer, as a worker has */
	struct deadlines deadlines;
	struct list_link probes;
	struct config cfg;
	struct respond_set set;
	struct queue queue;
	struct handoff out;
	atomic_int ident_inflight, active;
	atomic_bool stopping;
	atomic_size_t buffered;
	atomic_uint_fast64_t accepted, refused;
	int arms, releases, refills;  /* the services' calls */
	struct addr released;        /* the last source released */
	char rbuf[4096];
	char wbuf[STRATEGY_RENDER_MAX];
};

static struct test_host *test_host_of(struct session_host *h)
{
	return list_entry(h, struct test_host, host);
}

static void test_host_fire(uv_timer_t *timer)
{
	struct test_host *t = timer->data;

	deadlines_fire(&t->deadlines, uv_hrtime());
	t->host.arm_deadlines(&t->host);
}

static void test_host_arm(struct session_host *h)
{
	struct test_host *t = test_host_of(h);
	int64_t ms = deadlines_next_ms(&t->deadlines, uv_hrtime());

	t->arms++;
	if (ms < 0)
		uv_timer_stop(&t->timer);
	else
		uv_timer_start(&t->timer, test_host_fire, (uint64_t)ms, 0);
}

static void test_host_release(struct session_host *h, const struct addr *src)
{
	struct test_host *t = test_host_of(h);

	t->releases++;
	t->released = *src;
}

static void test_host_refill(struct session_host *h)
{
	test_host_of(h)->refills++;
}

/* Fills t as a worker would fill its host: a banner strategy, a 100ms
 * idle timeout, records to t's queue. */
static void test_host_init(struct test_host *t)
{
	char err[256];
	uint64_t delays[DEADLINES_MAX_KINDS] = {0};

	memset(t, 0, sizeof(*t));
	config_defaults(&t->cfg);
	CHECK(config_set(&t->cfg, "respond", "banner", err, sizeof(err)) == 0, "%s", err);
	CHECK(config_set(&t->cfg, "banner-text", BANNER, err, sizeof(err)) == 0, "%s", err);
	CHECK(config_set(&t->cfg, "idle-timeout", "100ms", err, sizeof(err)) == 0, "%s", err);
	CHECK(respond_build(&t->set, &t->cfg, err, sizeof(err)) == 0, "%s", err);
	delays[TIMEOUT_IDLE] = t->cfg.idle_timeout_ms;
	delays[TIMEOUT_SESSION] = t->cfg.session_timeout_ms;
	deadlines_init(&t->deadlines, delays, TIMEOUT_STRATEGY + t->set.nstrategies,
	    session_on_deadline, NULL);
	list_init(&t->probes);
	CHECK(queue_init(&t->queue, 16, 1 << 20) == 0, "queue");
	t->out.queue = &t->queue;
	CHECK(uv_loop_init(&t->loop) == 0, "loop");
	uv_timer_init(&t->loop, &t->timer);
	t->timer.data = t;
	t->host = (struct session_host){
		.loop = &t->loop,
		.rbuf = t->rbuf, .rbuf_len = sizeof(t->rbuf),
		.wbuf = t->wbuf,
		.deadlines = &t->deadlines,
		.probes = &t->probes,
		.cfg = &t->cfg,
		.out = &t->out,
		.mode = MODE_SERVE,
		.respond = &t->set,
		.ident_inflight = &t->ident_inflight,
		.stopping = &t->stopping,
		.active = &t->active,
		.buffered = &t->buffered,
		.accepted = &t->accepted,
		.refused = &t->refused,
		.arm_deadlines = test_host_arm,
		.release_source = test_host_release,
		.refill_reserve = test_host_refill,
	};
}

static void test_host_free(struct test_host *t)
{
	uv_close((uv_handle_t *)&t->timer, NULL);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&t->loop) == 0, "a session's handle outlived it");
	respond_free(&t->set);
	config_free(&t->cfg);
	queue_destroy(&t->queue);
}

/* The one record queued since the last call (NULL, and a failure, when
 * there is not exactly one); the caller frees it. */
static struct record *test_host_record(struct test_host *t)
{
	struct record *r = queue_pop_all(&t->queue, 0);
	int n = 0;

	for (struct record *x = r; x; x = x->next)
		n++;
	queue_committed(&t->queue);
	CHECK(n == 1, "%d records queued, want 1", n);
	if (n != 1) {
		while (r) {
			struct record *next = r->next;
			record_free(r);
			r = next;
		}
		return NULL;
	}
	return r;
}

static bool same_addr(const struct addr *a, const struct addr *b)
{
	char x[ADDR_TEXT_LEN], y[ADDR_TEXT_LEN];

	return strcmp(addr_format(a, x, sizeof(x)), addr_format(b, y, sizeof(y))) == 0;
}

/* A loopback connection: the accepted end (non-blocking) is returned, the
 * client's in *cfd, both ends' addresses in *src and *dst. */
static int test_connect(int *cfd, struct addr *src, struct addr *dst)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct sockaddr_storage ss;
	socklen_t len = sizeof(sin);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(lfd, 1) < 0 || getsockname(lfd, (struct sockaddr *)&sin, &len) < 0)
		abort();
	*cfd = socket(AF_INET, SOCK_STREAM, 0);
	if (*cfd < 0 || connect(*cfd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		abort();
	int afd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
	close(lfd);
	if (afd < 0)
		abort();
	len = sizeof(ss);
	getpeername(afd, (struct sockaddr *)&ss, &len);
	addr_from_sockaddr(src, (struct sockaddr *)&ss, len);
	len = sizeof(ss);
	getsockname(afd, (struct sockaddr *)&ss, &len);
	addr_from_sockaddr(dst, (struct sockaddr *)&ss, len);
	return afd;
}

/* A peer that sent its request and its FIN before accept returned: the
 * session reads it all at start, answers, records it and lets its source
 * and fd go through the host, without entering the loop. */
static void test_session_ended_at_start(void)
{
	static struct test_host t;
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	struct addr src, dst;
	struct timespec wall;
	int cfd;

	test_host_init(&t);
	int afd = test_connect(&cfd, &src, &dst);
	CHECK(send(cfd, req, sizeof(req) - 1, 0) == (ssize_t)sizeof(req) - 1, "send");
	shutdown(cfd, SHUT_WR);
	struct pollfd pfd = {.fd = afd, .events = POLLRDHUP};
	CHECK(poll(&pfd, 1, 2000) == 1, "the FIN arrived");
	clock_gettime(CLOCK_REALTIME, &wall);

	CHECK(session_start(&t.host, afd, 0, &src, &dst, uv_hrtime(), &wall) == 0, "start");
	CHECK(atomic_load(&t.accepted) == 1 && atomic_load(&t.active) == 0,
	    "accepted %d, active %d", (int)atomic_load(&t.accepted),
	    atomic_load(&t.active));
	CHECK(t.arms == 0, "a session that never entered the loop armed its timer");
	CHECK(t.releases == 1 && same_addr(&t.released, &src),
	    "source released %d times", t.releases);
	CHECK(t.refills >= 1, "the spare fd was not looked at after the close");
	CHECK(atomic_load(&t.buffered) == 0, "%zu bytes still held",
	    (size_t)atomic_load(&t.buffered));
	struct record *r = test_host_record(&t);
	if (r) {
		CHECK(r->kind == RECORD_CLOSED && r->reason == CLOSE_PEER_FIN,
		    "reason %s", record_reason_name(r->reason));
		CHECK(r->bytes_in == sizeof(req) - 1 && r->payload_len == sizeof(req) - 1,
		    "bytes_in %llu", (unsigned long long)r->bytes_in);
		CHECK(r->bytes_out == strlen(BANNER), "bytes_out %llu",
		    (unsigned long long)r->bytes_out);
		CHECK(r->nrequests == 1 && strcmp(r->strategy, "banner") == 0,
		    "%u requests, strategy %s", r->nrequests, r->strategy);
		record_free(r);
	}
	char got[64] = {0};
	CHECK(recv(cfd, got, sizeof(got) - 1, 0) == (ssize_t)strlen(BANNER) &&
	    strcmp(got, BANNER) == 0, "the peer got '%s'", got);
	close(cfd);
	test_host_free(&t);
}

static bool test_host_idle(struct test_host *t)
{
	return atomic_load(&t->active) == 0;
}

/* A silent peer: the session enters the loop, arms the host's timer for
 * its deadlines, and its idle timeout closes it, all through the host. */
static void test_session_idle_in_the_loop(void)
{
	static struct test_host t;
	struct addr src, dst;
	struct timespec wall;
	int cfd;

	test_host_init(&t);
	int afd = test_connect(&cfd, &src, &dst);
	clock_gettime(CLOCK_REALTIME, &wall);
	CHECK(session_start(&t.host, afd, 0, &src, &dst, uv_hrtime(), &wall) == 0, "start");
	CHECK(atomic_load(&t.active) == 1 && t.arms >= 1 && t.releases == 0,
	    "active %d, %d arms, %d releases", atomic_load(&t.active), t.arms,
	    t.releases);
	/* 100ms idle timeout; about 3 s at most. */
	for (int i = 0; i < 300 && !test_host_idle(&t); i++) {
		uv_run(&t.loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	CHECK(test_host_idle(&t), "the idle timeout did not close the session");
	CHECK(t.releases == 1 && same_addr(&t.released, &src) && t.refills >= 1,
	    "%d releases, %d refills", t.releases, t.refills);
	struct record *r = test_host_record(&t);
	if (r) {
		CHECK(r->reason == CLOSE_IDLE_TIMEOUT, "reason %s",
		    record_reason_name(r->reason));
		CHECK(r->duration_ms >= 100 && r->bytes_out == strlen(BANNER),
		    "duration %lldms, bytes_out %llu", (long long)r->duration_ms,
		    (unsigned long long)r->bytes_out);
		record_free(r);
	}
	close(cfd);
	test_host_free(&t);
}

/* A refusal is counted on the host and recorded with the strategy the
 * peer would have had. */
static void test_session_refused(void)
{
	static struct test_host t;
	struct addr src, dst;
	struct timespec wall;

	test_host_init(&t);
	addr_parse("192.0.2.7:4321", &src);
	addr_parse("198.51.100.1:80", &dst);
	clock_gettime(CLOCK_REALTIME, &wall);
	session_record_refused(&t.host, 0, &src, &dst, &wall, LIMIT_PER_SOURCE, NULL);
	CHECK(atomic_load(&t.refused) == 1 && atomic_load(&t.accepted) == 0,
	    "refused %d", (int)atomic_load(&t.refused));
	CHECK(t.releases == 0, "a refused source was released");
	struct record *r = test_host_record(&t);
	if (r) {
		CHECK(r->reason == CLOSE_CAPACITY && r->limit == LIMIT_PER_SOURCE,
		    "reason %s, limit %d", record_reason_name(r->reason), (int)r->limit);
		CHECK(strcmp(r->strategy, "banner") == 0 && same_addr(&r->src, &src),
		    "strategy %s", r->strategy);
		record_free(r);
	}
	test_host_free(&t);
}

void test_session(int *passed, int *failed)
{
	ses_passed = passed;
	ses_failed = failed;
	test_session_ended_at_start();
	test_session_idle_in_the_loop();
	test_session_refused();
}
