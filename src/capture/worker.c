/* worker.c - an event loop: accept, hand sockets to sessions, stop. */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "halfopen.h"
#include "ident.h"
#include "listener.h"
#include "log.h"
#include "tcpinfo.h"

#define WORKER_LOG_EVERY_NS (10ULL * 1000000000ULL)
#define WORKER_SOURCE_SLACK 256      /* sessions between accept and the max-conns count */
#define WORKER_DRAIN_MAX LISTENER_BACKLOG  /* accepts per listener at shutdown */

/* ---- open sessions per source ----------------------------------------
 * One table for all workers: SO_REUSEPORT spreads one source's connections
 * over the workers, so only a shared count can hold a per-source limit.
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones); an entry lives while its source has a session open, so the
 * table never holds more sources than sessions. Its size is fixed at start
 * from max-conns: 16 bytes a slot, at least 3/2 as many slots as
 * max-conns plus slack, so at most two thirds of them used. The hash is
 * keyed with a random seed so peers cannot pick colliding /64s. */

struct worker_source {
	uint64_t key;                /* IPv4 address, or the IPv6 /64 prefix */
	uint32_t count;              /* open sessions */
	uint32_t family;             /* AF_INET, AF_INET6; 0: an empty slot */
};

struct worker_sources {
	pthread_mutex_t lock;
	uint64_t seed;
	size_t mask;                 /* slots - 1 */
	size_t used;                 /* sources with a session open */
	size_t max_used;             /* past this, refuse: max-conns + slack */
	uint32_t limit;              /* --max-conns-per-source */
	struct worker_source slots[];
};

/* The source a limit counts, as addr_source_key names it (IPv4 and
 * v4-mapped alike, IPv6 by /64), packed into 64 bits and a family so a
 * table slot stays small: an IPv4 key keeps its last 4 bytes, an IPv6 key
 * its first 8 (the rest is zero by construction). */
static void worker_source_key(const struct addr *a, uint64_t *key,
    uint32_t *family)
{
	static const uint8_t v4_prefix[12] = {0,0,0,0, 0,0,0,0, 0,0,0xff,0xff};
	uint8_t k[ADDR_KEY_LEN];
	uint64_t v = 0;

	addr_source_key(a, k);
	if (memcmp(k, v4_prefix, sizeof(v4_prefix)) == 0) {
		for (int i = 12; i < 16; i++)
			v = v << 8 | k[i];
		*family = AF_INET;
	} else {
		for (int i = 0; i < 8; i++)
			v = v << 8 | k[i];
		*family = AF_INET6;
	}
	*key = v;
}

static size_t worker_source_hash(const struct worker_sources *t, uint64_t key,
    uint32_t family)
{
	uint64_t x = key ^ t->seed ^ ((uint64_t)family << 59);

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (size_t)x & t->mask;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t worker_source_find(const struct worker_sources *t, uint64_t key,
    uint32_t family)
{
	size_t i = worker_source_hash(t, key, family);

	while (t->slots[i].family &&
	    (t->slots[i].key != key || t->slots[i].family != family))
		i = (i + 1) & t->mask;
	return i;
}

static struct worker_sources *worker_sources_new(int max_conns, int limit)
{
	size_t max_used = (size_t)max_conns + WORKER_SOURCE_SLACK;
	size_t slots = 16;
	struct worker_sources *t;
	uint64_t seed = 0;

	while (slots < max_used * 3 / 2)
		slots *= 2;
	t = calloc(1, sizeof(*t) + slots * sizeof(t->slots[0]));
	if (!t)
		return NULL;
	if (pthread_mutex_init(&t->lock, NULL) != 0) {
		free(t);
		return NULL;
	}
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = uv_hrtime() ^ (uint64_t)(uintptr_t)t;
	t->seed = seed;
	t->mask = slots - 1;
	t->max_used = max_used;
	t->limit = (uint32_t)limit;
	return t;
}

static void worker_sources_free(struct worker_sources *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t);
}

enum record_limit worker_source_acquire(struct worker_shared *sh,
    const struct addr *src)
{
	struct worker_sources *t = sh->sources;
	enum record_limit refused = LIMIT_NONE;
	uint64_t key;
	uint32_t family;

	if (!t)
		return LIMIT_NONE;
	worker_source_key(src, &key, &family);
	pthread_mutex_lock(&t->lock);
	size_t i = worker_source_find(t, key, family);
	struct worker_source *e = &t->slots[i];
	if (e->family) {
		if (e->count >= t->limit)
			refused = LIMIT_PER_SOURCE;
		else
			e->count++;
	} else if (t->used >= t->max_used) {
		refused = LIMIT_MAX_CONNS;
	} else {
		*e = (struct worker_source){.key = key, .count = 1, .family = family};
		t->used++;
	}
	pthread_mutex_unlock(&t->lock);
	return refused;
}

void worker_source_release(struct worker_shared *sh, const struct addr *src)
{
	struct worker_sources *t = sh->sources;
	uint64_t key;
	uint32_t family;

	if (!t)
		return;
	worker_source_key(src, &key, &family);
	pthread_mutex_lock(&t->lock);
	size_t i = worker_source_find(t, key, family);
	if (t->slots[i].family && --t->slots[i].count == 0) {
		/* Backward-shift deletion: move later entries of the probe
		 * run into the hole unless their home lies after it. */
		size_t j = i;
		for (;;) {
			j = (j + 1) & t->mask;
			if (!t->slots[j].family)
				break;
			size_t home = worker_source_hash(t, t->slots[j].key,
			    t->slots[j].family);
			if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
				continue;
			t->slots[i] = t->slots[j];
			i = j;
		}
		t->slots[i] = (struct worker_source){0};
		t->used--;
	}
	pthread_mutex_unlock(&t->lock);
}

uint32_t worker_source_count(struct worker_shared *sh, const struct addr *src)
{
	struct worker_sources *t = sh->sources;
	uint64_t key;
	uint32_t family;
	uint32_t n;

	if (!t)
		return 0;
	worker_source_key(src, &key, &family);
	pthread_mutex_lock(&t->lock);
	n = t->slots[worker_source_find(t, key, family)].count;
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* Of the first max sessions on the list all (linked by their session
 * deadline), the first whose source holds the most open sessions, if that
 * is more than one; NULL when none does. One lock for the whole scan, which
 * ends early at a source at the per-source limit: none can hold more. */
static struct session *worker_sources_busiest(struct worker_sources *t,
    struct list_link *all, int max)
{
	struct session *busiest = NULL;
	uint32_t most = 1;
	int scanned = 0;

	if (!t || t->limit <= most)
		return NULL;
	pthread_mutex_lock(&t->lock);
	for (struct list_link *l = all->next; l != all && scanned < max;
	    l = l->next, scanned++) {
		struct session *s = list_entry(l, struct session,
		    timeouts[TIMEOUT_SESSION].link);
		uint64_t key;
		uint32_t family;
		worker_source_key(&s->src, &key, &family);
		uint32_t n = t->slots[worker_source_find(t, key, family)].count;
		if (n > most) {
			most = n;
			busiest = s;
			if (most >= t->limit)
				break;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return busiest;
}

static void worker_on_acceptable(uv_poll_t *poll, int status, int events);
static void worker_on_stop(uv_async_t *async);

int worker_shared_init(struct worker_shared *sh, const struct config *cfg,
    const struct handoff *out, enum record_mode mode, char *err, size_t errlen)
{
	struct respond_set *set = calloc(1, sizeof(*set));

	memset(sh, 0, sizeof(*sh));
	sh->cfg = cfg;
	sh->out = *out;
	sh->mode = mode;
	if (!set) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sh->respond = set;
	if (respond_build(set, cfg, err, errlen) < 0)
		return -1;
	if (mode == MODE_SERVE) {
		sh->sources = worker_sources_new(cfg->max_conns, cfg->max_conns_per_source);
		if (!sh->sources) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	if (cfg->ident_probability > 0.0) {
		sh->ident_limiter = ident_limiter_new(WORKER_IDENT_SOURCES,
		    cfg->ident_interval_ms * 1000000ULL);
		if (!sh->ident_limiter) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

void worker_shared_free(struct worker_shared *sh)
{
	if (sh->respond) {
		respond_free((struct respond_set *)sh->respond);
		free((void *)sh->respond);
	}
	ident_limiter_free(sh->ident_limiter);
	worker_sources_free(sh->sources);
	sh->sources = NULL;
	sh->respond = NULL;
	sh->ident_limiter = NULL;
}

/* Takes w's spare fd back if it is missing (a refusal at the fd limit gave
 * it up and another thread took the slot first). Cheap when it is there:
 * call it whenever an fd may have come free. Loop thread only. */
static void worker_reserve_refill(struct worker *w)
{
	/* The spare is given up and taken back in two steps, and the workers
	 * share one fd table: the slot it had may be gone when it is wanted
	 * back. Then it is taken at the next free fd, so every worker can
	 * still refuse cleanly at the fd limit, not only the first time. An
	 * eventfd needs no file: a chroot (kernels without Landlock) has no
	 * /dev/null. */
	if (w->reserve_fd < 0 && w->nlisteners > 0)
		w->reserve_fd = eventfd(0, EFD_CLOEXEC);
}

/* True when a rate-limited log line is due at now (uv_hrtime): none was
 * logged yet through *last_ns, or the last more than WORKER_LOG_EVERY_NS
 * ago. Of the threads that see it due at once, only the one that stores
 * its now in *last_ns gets true. */
static bool worker_log_due(atomic_uint_fast64_t *last_ns, uint64_t now)
{
	uint64_t last = atomic_load(last_ns);

	return (last == 0 || now - last > WORKER_LOG_EVERY_NS) &&
	    atomic_compare_exchange_strong(last_ns, &last, now);
}

static void worker_on_resume(uv_timer_t *timer);
static void worker_arm_deadlines(struct worker *w);

_Static_assert(TIMEOUT_STRATEGY + RESPOND_MAX_STRATEGIES <= SESSION_PROXY_KIND,
    "a deadline list for every strategy a run can use, and the PROXY header's");

/* The timer for the sessions' deadlines went off: fire what is due. */
static void worker_on_deadlines(uv_timer_t *timer)
{
	struct worker *w = timer->data;

	deadlines_fire(&w->deadlines, uv_hrtime());
	worker_arm_deadlines(w);
}

/* Arms w's timer for the earliest of its sessions' deadlines (or stops it
 * when there is none). */
static void worker_arm_deadlines(struct worker *w)
{
	int64_t ms = deadlines_next_ms(&w->deadlines, uv_hrtime());

	if (ms < 0)
		uv_timer_stop(&w->timeout_timer);
	else
		uv_timer_start(&w->timeout_timer, worker_on_deadlines, (uint64_t)ms, 0);
}

/* Stops accepting on all of w's listeners for ms, after which
 * worker_on_resume looks again (the timer is one-shot: a pause always
 * ends). For the fd limit and for the writer's lag alike. */
static void worker_pause_accepting(struct worker *w, uint64_t ms)
{
	for (int i = 0; i < w->nlisteners; i++)
		uv_poll_stop(&w->listeners[i].poll);
	uv_timer_start(&w->resume_timer, worker_on_resume, ms, 0);
}

/* ---- what the sessions see of a worker (struct session_host) ---------- */

static struct worker *worker_of_host(struct session_host *h)
{
	return list_entry(h, struct worker, host);
}

static void worker_host_arm_deadlines(struct session_host *h)
{
	worker_arm_deadlines(worker_of_host(h));
}

static void worker_host_release_source(struct session_host *h,
    const struct addr *src)
{
	worker_source_release(worker_of_host(h)->shared, src);
}

static enum record_limit worker_host_acquire_source(struct session_host *h,
    const struct addr *src)
{
	return worker_source_acquire(worker_of_host(h)->shared, src);
}

static void worker_host_refill_reserve(struct session_host *h)
{
	worker_reserve_refill(worker_of_host(h));
}

/* Fills w's session_host from w and what the workers share. */
static void worker_host_init(struct worker *w)
{
	struct worker_shared *sh = w->shared;

	w->host = (struct session_host){
		.loop = &w->loop,
		.rbuf = w->rbuf, .rbuf_len = sizeof(w->rbuf),
		.wbuf = w->wbuf,
		.deadlines = &w->deadlines,
		.probes = &w->probes,
		.cfg = sh->cfg,
		.out = &sh->out,
		.mode = sh->mode,
		.respond = sh->respond,
		.ident_limiter = sh->ident_limiter,
		.pcap = sh->pcap,
		.ident_inflight = &sh->ident_inflight,
		.stopping = &sh->stopping,
		.active = &sh->active,
		.buffered = &sh->buffered,
		.accepted = &sh->accepted,
		.refused = &sh->refused,
		.tls_handshakes = &sh->tls_handshakes,
		.tls_failed = &sh->tls_failed,
		.arm_deadlines = worker_host_arm_deadlines,
		.release_source = worker_host_release_source,
		.acquire_source = worker_host_acquire_source,
		.refill_reserve = worker_host_refill_reserve,
	};
}

int worker_init(struct worker *w, struct worker_shared *shared,
    const int *fds, const struct addr *addrs, int nfds, char *err,
    size_t errlen)
{
	int rc;

	memset(w, 0, sizeof(*w));
	w->shared = shared;
	w->reserve_fd = -1;
	const struct config *cfg = shared->cfg;
	const struct respond_set *set = shared->respond;
	uint64_t delays[DEADLINES_MAX_KINDS] = {
		[TIMEOUT_IDLE] = cfg->idle_timeout_ms,
		[TIMEOUT_SESSION] = cfg->session_timeout_ms,
		[SESSION_PROXY_KIND] = cfg->proxy_timeout_ms,
	};
	/* Each strategy's own deadline is a kind of its own: its own delay. */
	for (int i = 0; i < set->nstrategies; i++)
		delays[TIMEOUT_STRATEGY + i] = set->strategies[i].deadline_ms;
	deadlines_init(&w->deadlines, delays, DEADLINES_MAX_KINDS,
	    session_on_deadline, NULL);
	list_init(&w->probes);
	worker_host_init(w);
	rc = uv_loop_init(&w->loop);
	if (rc != 0) {
		snprintf(err, errlen, "event loop: %s", uv_strerror(rc));
		return -1;
	}
	w->loop.data = w;
	uv_async_init(&w->loop, &w->stop_async, worker_on_stop);
	w->stop_async.data = w;
	uv_timer_init(&w->loop, &w->timeout_timer);
	w->timeout_timer.data = w;
	uv_timer_init(&w->loop, &w->resume_timer);
	w->resume_timer.data = w;
	if (nfds > 0) {
		w->listeners = calloc((size_t)nfds, sizeof(*w->listeners));
		if (!w->listeners) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	for (int i = 0; i < nfds; i++) {
		struct worker_listener *l = &w->listeners[i];
		l->worker = w;
		l->fd = fds[i];
		l->index = i;
		l->addr = addrs[i];
		l->wildcard = addr_is_wildcard(&addrs[i]);
		l->proxy = session_proxy_listener(&w->host, i);
		rc = uv_poll_init_socket(&w->loop, &l->poll, fds[i]);
		if (rc != 0) {
			snprintf(err, errlen, "watching listener: %s", uv_strerror(rc));
			return -1;
		}
		l->poll.data = l;
		w->nlisteners++;
	}
	worker_reserve_refill(w);
	return 0;
}

/* At the fd limit, frees an fd by closing the oldest session of the
 * source holding the most sessions (among this loop's oldest
 * WORKER_EVICT_SCAN), if that source holds more than one: one busy peer
 * cannot keep everyone else waiting. The session is recorded as capacity,
 * limit fd_limit. Returns true when a session was closed. */
static bool worker_evict_at_fd_limit(struct worker *w)
{
	struct session *victim = worker_sources_busiest(w->shared->sources,
	    &w->deadlines.lists[TIMEOUT_SESSION], WORKER_EVICT_SCAN);

	if (!victim)
		return false;
	atomic_fetch_add(&w->shared->evicted, 1);
	/* libuv closes the socket now; the handle is freed later. */
	session_close(victim, CLOSE_CAPACITY, 0);
	return true;
}

/* The fd table is full and no source holds more than one session here.
 * Give the spare fd up for one accept, so the peer that waited longest
 * gets a clean close and a capacity record instead of hanging in the
 * backlog, then stop accepting for a moment. */
static void worker_refuse_at_fd_limit(struct worker_listener *l, int err)
{
	struct worker *w = l->worker;
	struct worker_shared *sh = w->shared;

	atomic_fetch_add(&sh->accept_errors, 1);
	if (worker_log_due(&sh->last_emfile_log_ns, uv_hrtime()))
		log_warn("accept: %s: pausing accepts for %dms (%llu refused, "
		    "%llu evicted so far)", strerror(err), WORKER_EMFILE_PAUSE_MS,
		    (unsigned long long)atomic_load(&sh->refused),
		    (unsigned long long)atomic_load(&sh->evicted));
	worker_reserve_refill(w);
	if (w->reserve_fd >= 0) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		close(w->reserve_fd);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
		if (fd >= 0) {
			struct addr src;
			struct timespec wall;
			clock_gettime(CLOCK_REALTIME, &wall);
			addr_from_sockaddr(&src, (struct sockaddr *)&ss, len);
			if (sh->halfopen)
				halfopen_accepted(sh->halfopen, &src, addr_port(&l->addr));
			close(fd);
			session_record_refused(&w->host, l->index, &src, &l->addr,
			    &wall, LIMIT_FD, NULL);
		}
		w->reserve_fd = -1;
		worker_reserve_refill(w);    /* still -1: refilled later */
	}
	worker_pause_accepting(w, WORKER_EMFILE_PAUSE_MS);
}

/* ---- the writer's lag ---------------------------------------------------
 * While the writer is more than --max-lag behind with a healthy store, a
 * kill -9 would take more than the last second of finished sessions with
 * it. The workers then stop accepting: new peers wait in the kernel's
 * listen backlog, open sessions are still served and closed, and fewer
 * sessions a second reach the writer until it has caught up. A pause is
 * shared by all workers: the first to see the lag begins it (counted,
 * logged once per quiet period), the first to see it gone ends it. */

static void worker_lag_begin(struct worker *w, uint64_t now)
{
	struct worker_shared *sh = w->shared;
	uint64_t none = 0;

	if (!atomic_compare_exchange_strong(&sh->lag_paused_since_ns, &none, now))
		return;              /* another worker began it */
	uint64_t n = atomic_fetch_add(&sh->lag_pauses, 1) + 1;
	if (worker_log_due(&sh->last_lag_log_ns, now)) {
		uint64_t oldest = queue_oldest_ns(sh->out.queue);
		log_warn("writer: %llums behind (max-lag %llums): pausing accepts, "
		    "new peers wait in the listen backlog (%llu pause(s) so far)",
		    (unsigned long long)(oldest && now > oldest ? (now - oldest) / 1000000 : 0),
		    (unsigned long long)sh->cfg->max_lag_ms, (unsigned long long)n);
	}
}

static void worker_lag_end(struct worker *w, uint64_t now)
{
	struct worker_shared *sh = w->shared;
	uint64_t since = atomic_exchange(&sh->lag_paused_since_ns, 0);

	if (since && now > since)
		atomic_fetch_add(&sh->lag_paused_ns, now - since);
}

void worker_lag_stats(struct worker_shared *sh, uint64_t now_ns,
    uint64_t *pauses, uint64_t *paused_ns)
{
	uint64_t since = atomic_load(&sh->lag_paused_since_ns);

	*pauses = atomic_load(&sh->lag_pauses);
	*paused_ns = atomic_load(&sh->lag_paused_ns) +
	    (since && now_ns > since ? now_ns - since : 0);
}

/* True when the writer is too far behind to accept now (w's listeners are
 * then stopped, and the resume timer looks again). */
static bool worker_lag_pause(struct worker *w)
{
	uint64_t max_ns = w->shared->cfg->max_lag_ms * 1000000ULL;
	uint64_t now;

	if (max_ns == 0)
		return false;
	now = uv_hrtime();
	if (!handoff_behind(&w->shared->out, now, max_ns))
		return false;
	worker_lag_begin(w, now);
	worker_pause_accepting(w, WORKER_LAG_RECHECK_MS);
	return true;
}

/* After an fd-limit or a lag pause: accepts again, unless the writer is
 * (still, or now) behind. */
static void worker_on_resume(uv_timer_t *timer)
{
	struct worker *w = timer->data;

	worker_reserve_refill(w);
	if (w->stopping || worker_lag_pause(w))
		return;
	worker_lag_end(w, uv_hrtime());
	for (int i = 0; i < w->nlisteners; i++)
		uv_poll_start(&w->listeners[i].poll, UV_READABLE, worker_on_acceptable);
}

/* True when src may send a PROXY header to l (one of its proxy_from). */
static bool worker_proxy_allowed(const struct worker_listener *l, const struct addr *src)
{
	for (int i = 0; i < l->proxy->ncidr; i++)
		if (addr_in_cidr(src, &l->proxy->cidr[i]))
			return true;
	return false;
}

/* Starts a session on an accepted fd, or refuses it (recorded, payload not
 * read) over max-conns or the per-source limit, or, on a proxy listener,
 * from an address not among its proxies. A proxy's own address is not
 * counted per source: the session counts the real source once the header
 * has named it (session.c). */
static void worker_take(struct worker_listener *l, int fd,
    const struct sockaddr_storage *ss, socklen_t len)
{
	struct worker *w = l->worker;
	struct worker_shared *sh = w->shared;
	enum record_limit limit = LIMIT_NONE;
	struct addr src;
	struct timespec wall;

	clock_gettime(CLOCK_REALTIME, &wall);
	addr_from_sockaddr(&src, (const struct sockaddr *)ss, len);
	/* every accepted flow, refused or not, is not half-open */
	if (sh->halfopen)
		halfopen_accepted(sh->halfopen, &src, addr_port(&l->addr));
	/* a stranger on a proxy listener is closed unread, like a refusal */
	bool forbidden = l->proxy && !worker_proxy_allowed(l, &src);
	if (!forbidden && atomic_load(&sh->active) >= sh->cfg->max_conns)
		limit = LIMIT_MAX_CONNS;
	else if (!forbidden && !l->proxy)
		limit = worker_source_acquire(sh, &src);
	if (forbidden || limit != LIMIT_NONE) {
		struct record_syn syn;

		/* the SYN costs one read while the fd is open */
		if (sh->cfg->syn_fingerprint)
			tcpinfo_saved_syn(fd, &syn);
		else
			memset(&syn, 0, sizeof(syn));
		close(fd);
		if (forbidden)
			session_record_forbidden(&w->host, l->index, &src, &l->addr, &wall,
			    &syn);
		else
			session_record_refused(&w->host, l->index, &src, &l->addr, &wall,
			    limit, &syn);
		return;
	}
	session_start(&w->host, fd, l->index, &src, l->wildcard ? NULL : &l->addr,
	    uv_hrtime(), &wall);
}

static void worker_on_acceptable(uv_poll_t *poll, int status, int events)
{
	struct worker_listener *l = poll->data;
	struct worker *w = l->worker;
	struct worker_shared *sh = w->shared;

	(void)events;
	worker_reserve_refill(w);
	if (status < 0 || worker_lag_pause(w))
		return;
	for (int i = 0; i < WORKER_ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EPROTO || errno == ENETDOWN)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				int err = errno;
				if (err == EMFILE && worker_evict_at_fd_limit(w))
					continue;    /* an fd is free: accept again */
				worker_refuse_at_fd_limit(l, err);
				return;
			}
			atomic_fetch_add(&sh->accept_errors, 1);
			log_warn("accept: %s", strerror(errno));
			return;
		}
		worker_take(l, fd, &ss, len);
	}
}

/* At shutdown, takes what waits in the listeners' backlogs (at most
 * WORKER_DRAIN_MAX each, until EAGAIN or an error), so those peers are
 * recorded (close_reason shutdown, or what read-ahead found) instead of
 * being reset by the listener's close. */
static void worker_drain_backlogs(struct worker *w)
{
	int taken = 0;

	for (int i = 0; i < w->nlisteners; i++) {
		struct worker_listener *l = &w->listeners[i];
		for (int n = 0; n < WORKER_DRAIN_MAX; n++) {
			struct sockaddr_storage ss;
			socklen_t len = sizeof(ss);
			int fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
			    SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (fd < 0) {
				if (errno == EINTR || errno == ECONNABORTED)
					continue;
				break;
			}
			taken++;
			worker_take(l, fd, &ss, len);
		}
	}
	if (taken)
		log_info("shutdown: recorded %d connection(s) from the accept backlog",
		    taken);
}

static void worker_close_all(struct worker *w)
{
	/* Every open session has a session deadline, so that list holds
	 * them all. */
	struct list_link *all = &w->deadlines.lists[TIMEOUT_SESSION];
	while (!list_empty(all)) {
		struct session *s = list_entry(all->next, struct session,
		    timeouts[TIMEOUT_SESSION].link);
		session_close(s, CLOSE_SHUTDOWN, 0);
	}
}

static void worker_on_listener_closed(uv_handle_t *handle)
{
	struct worker_listener *l = handle->data;

	close(l->fd);
	l->fd = -1;
}

static void worker_close_handle(uv_handle_t *handle, void *arg)
{
	(void)arg;
	if (!uv_is_closing(handle))
		uv_close(handle, NULL);
}

/* Closes the loop's own handles (timers, async); sessions and listeners
 * are closed by their owners first. */
static void worker_close_handles(struct worker *w)
{
	worker_close_handle((uv_handle_t *)&w->timeout_timer, NULL);
	worker_close_handle((uv_handle_t *)&w->resume_timer, NULL);
	worker_close_handle((uv_handle_t *)&w->stop_async, NULL);
}

static void worker_on_stop(uv_async_t *async)
{
	struct worker *w = async->data;

	w->stopping = true;
	uv_timer_stop(&w->resume_timer);
	/* Closing the open sessions first frees their fds for the backlog. */
	worker_close_all(w);
	worker_drain_backlogs(w);
	worker_close_all(w);
	for (int i = 0; i < w->nlisteners; i++)
		uv_close((uv_handle_t *)&w->listeners[i].poll, worker_on_listener_closed);
	ident_abort_all(&w->probes);
	worker_close_handles(w);
}

void worker_run(struct worker *w)
{
	for (int i = 0; i < w->nlisteners; i++)
		uv_poll_start(&w->listeners[i].poll, UV_READABLE, worker_on_acceptable);
	uv_run(&w->loop, UV_RUN_DEFAULT);
}

static void *worker_main(void *arg)
{
	worker_run(arg);
	return NULL;
}

int worker_start(struct worker *w)
{
	return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 : -1;
}

void worker_stop(struct worker *w)
{
	atomic_store(&w->shared->stopping, true);
	uv_async_send(&w->stop_async);
}

void worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
	worker_destroy(w);
}

void worker_destroy(struct worker *w)
{
	/* Whatever is still open (a loop that ended because only unreferenced
	 * handles were left) is closed and its callbacks run before the loop
	 * is released. */
	uv_walk(&w->loop, worker_close_handle, NULL);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	uv_loop_close(&w->loop);
	if (w->reserve_fd >= 0)
		close(w->reserve_fd);
	free(w->listeners);
	w->listeners = NULL;
}
