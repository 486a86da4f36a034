/* worker.c - an event loop: accept, hand sockets to sessions, stop. */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ident.h"
#include "log.h"
#include "session.h"
#include "timeouts.h"

#define WORKER_LOG_EVERY_NS (10ULL * 1000000000ULL)

static void worker_on_acceptable(uv_poll_t *poll, int status, int events);
static void worker_on_stop(uv_async_t *async);

int worker_shared_init(struct worker_shared *sh, const struct config *cfg,
    struct writer *writer, enum record_mode mode, char *err, size_t errlen)
{
	struct respond_set *set = calloc(1, sizeof(*set));

	memset(sh, 0, sizeof(*sh));
	sh->cfg = cfg;
	sh->writer = writer;
	sh->mode = mode;
	sh->emit_connect = writer->jsonl != NULL;
	if (!set) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sh->respond = set;
	if (respond_build(set, cfg, err, errlen) < 0)
		return -1;
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
	sh->respond = NULL;
	sh->ident_limiter = NULL;
}

static int worker_open_reserve(void)
{
	return open("/dev/null", O_RDONLY | O_CLOEXEC);
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
	const uint64_t delays[TIMEOUT_KINDS] = {
		[TIMEOUT_IDLE] = cfg->idle_timeout_ms,
		[TIMEOUT_SESSION] = cfg->session_timeout_ms,
		[TIMEOUT_RESPOND] = cfg->respond_delay_ms,
		[TIMEOUT_DRIP] = cfg->tarpit_interval_ms,
	};
	timeouts_init(w, delays);
	list_init(&w->probes);
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
		rc = uv_poll_init_socket(&w->loop, &l->poll, fds[i]);
		if (rc != 0) {
			snprintf(err, errlen, "watching listener: %s", uv_strerror(rc));
			return -1;
		}
		l->poll.data = l;
		w->nlisteners++;
	}
	if (nfds > 0)
		w->reserve_fd = worker_open_reserve();
	return 0;
}

/* The fd table is full. Give the spare fd up for one accept, so the peer
 * that waited longest gets a clean close and a capacity record instead of
 * hanging in the backlog, then stop accepting for a moment. */
static void worker_refuse_at_fd_limit(struct worker_listener *l, int err)
{
	struct worker *w = l->worker;
	struct worker_shared *sh = w->shared;
	uint64_t now = uv_hrtime();
	uint64_t last = atomic_load(&sh->last_emfile_log_ns);

	atomic_fetch_add(&sh->accept_errors, 1);
	if (now - last > WORKER_LOG_EVERY_NS &&
	    atomic_compare_exchange_strong(&sh->last_emfile_log_ns, &last, now))
		log_warn("accept: %s: pausing accepts for %dms (%llu refused so far)",
		    strerror(err), WORKER_EMFILE_PAUSE_MS,
		    (unsigned long long)atomic_load(&sh->refused));
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
			close(fd);
			session_record_refused(w, l->index, &src, &l->addr, &wall);
		}
		w->reserve_fd = worker_open_reserve();
	}
	for (int i = 0; i < w->nlisteners; i++)
		uv_poll_stop(&w->listeners[i].poll);
}

static void worker_on_resume(uv_timer_t *timer)
{
	struct worker *w = timer->data;

	if (w->stopping)
		return;
	for (int i = 0; i < w->nlisteners; i++)
		uv_poll_start(&w->listeners[i].poll, UV_READABLE, worker_on_acceptable);
}

static void worker_on_acceptable(uv_poll_t *poll, int status, int events)
{
	struct worker_listener *l = poll->data;
	struct worker *w = l->worker;
	struct worker_shared *sh = w->shared;

	(void)events;
	if (status < 0)
		return;
	for (int i = 0; i < WORKER_ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct addr src;
		struct timespec wall;
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
				worker_refuse_at_fd_limit(l, err);
				uv_timer_start(&w->resume_timer, worker_on_resume,
				    WORKER_EMFILE_PAUSE_MS, 0);
				return;
			}
			atomic_fetch_add(&sh->accept_errors, 1);
			log_warn("accept: %s", strerror(errno));
			return;
		}
		clock_gettime(CLOCK_REALTIME, &wall);
		addr_from_sockaddr(&src, (struct sockaddr *)&ss, len);
		if (atomic_load(&sh->active) >= sh->cfg->max_conns) {
			close(fd);
			session_record_refused(w, l->index, &src, &l->addr, &wall);
			continue;
		}
		session_start(w, fd, l->index, &src, l->wildcard ? NULL : &l->addr,
		    uv_hrtime(), &wall);
	}
}

static void worker_close_all(struct worker *w)
{
	/* Every open session has a session deadline, so that list holds
	 * them all. */
	struct list_link *all = &w->tlists[TIMEOUT_SESSION];
	while (!list_empty(all)) {
		struct session *s = list_entry(all->next, struct session,
		    tlinks[TIMEOUT_SESSION]);
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
	for (int i = 0; i < w->nlisteners; i++)
		uv_close((uv_handle_t *)&w->listeners[i].poll, worker_on_listener_closed);
	worker_close_all(w);
	ident_abort_all(w);
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
