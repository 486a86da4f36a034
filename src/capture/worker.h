/* worker.h - one event loop thread: its listening sockets, its sessions and
 * their timeouts. Workers share nothing but the hand-over to the writer
 * and a few atomic counters. */
#ifndef FLYPAPER_WORKER_H
#define FLYPAPER_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "deadlines.h"
#include "handoff.h"
#include "list.h"
#include "record.h"
#include "respond.h"
#include "session.h"

#define WORKER_READ_BUF (64 * 1024)  /* one read buffer per loop, not per session */
#define WORKER_ACCEPT_BATCH 64       /* accepts per wakeup, to stay fair to reads */
#define WORKER_EMFILE_PAUSE_MS 100   /* how long accepting pauses at the fd limit */
#define WORKER_LAG_RECHECK_MS 25     /* while the writer is behind, look again this often */
#define WORKER_IDENT_SOURCES 65536   /* sources the IDENT rate limit remembers */
#define WORKER_EVICT_SCAN 4096       /* oldest sessions searched for one to evict at EMFILE */

struct worker_sources;
struct halfopen;

/* What every worker reads or counts. */
struct worker_shared {
	const struct config *cfg;
	struct handoff out;          /* where records go; a copy of the glue's */
	enum record_mode mode;
	const struct respond_set *respond;   /* strategies and the experiment */
	struct ident_limiter *ident_limiter; /* NULL when --ident never */
	atomic_int ident_inflight;   /* probes under way, all workers */
	atomic_int active;           /* open sessions across all workers */
	struct worker_sources *sources;  /* open sessions per source; NULL in inetd */
	atomic_size_t buffered;      /* payload buffer bytes held by open sessions */
	atomic_uint_fast64_t accepted;
	atomic_uint_fast64_t refused;        /* over a connection limit or the fd limit */
	atomic_uint_fast64_t evicted;        /* closed at the fd limit to make room */
	atomic_uint_fast64_t tls_handshakes; /* TLS front: handshakes completed */
	atomic_uint_fast64_t tls_failed;     /* TLS front: sessions whose handshake did not */
	atomic_uint_fast64_t accept_errors;  /* accept(2) failures */
	atomic_uint_fast64_t last_emfile_log_ns;
	/* Accepting paused because the writer is over --max-lag behind: */
	atomic_uint_fast64_t lag_paused_since_ns;  /* uv_hrtime the pause began; 0 none */
	atomic_uint_fast64_t lag_pauses;     /* pauses begun */
	atomic_uint_fast64_t lag_paused_ns;  /* time paused, pauses that ended */
	atomic_uint_fast64_t last_lag_log_ns;
	atomic_bool stopping;        /* a worker_stop was asked: probe no one new */
	struct pcap_trace *pcap;     /* the packet trace, set before the workers start; NULL off */
	/* --half-open: every accepted 4-tuple is told to it, so a handshake
	 * is never also a half-open row. NULL (no cost) without. */
	struct halfopen *halfopen;
};

struct worker_listener {
	uv_poll_t poll;              /* readable: connections to accept */
	struct worker *worker;
	int fd;
	int index;                   /* which --listen (or systemd socket) */
	struct addr addr;            /* the bound address */
	bool wildcard;               /* bound to 0.0.0.0 or ::: ask getsockname */
	const struct config_proxy *proxy;  /* takes a PROXY header from these; NULL none */
};

struct worker {
	uv_loop_t loop;
	uv_async_t stop_async;       /* the main thread asks the loop to stop */
	uv_timer_t timeout_timer;    /* fires at the earliest session deadline */
	uv_timer_t resume_timer;     /* resumes accepting after an EMFILE or lag pause */
	struct worker_shared *shared;
	struct session_host host;    /* what its sessions see of it (session.h) */
	struct worker_listener *listeners;
	int nlisteners;
	struct deadlines deadlines;  /* the sessions' timeouts, by kind and deadline */
	struct list_link probes;     /* IDENT probes under way */
	int reserve_fd;              /* spare fd, given up to refuse at EMFILE */
	bool stopping;
	pthread_t thread;
	char rbuf[WORKER_READ_BUF];  /* reads land here, then copy to the session */
	char wbuf[STRATEGY_RENDER_MAX]; /* answers are rendered here */
};

/* Sets up what the workers share: where records go (out, copied), the strategies (templates loaded), the
 * IDENT limiter, the counters and, for MODE_SERVE, the table of open
 * sessions per source (--max-conns-per-source, sized from --max-conns).
 * Returns 0, or -1 with a message in err. */
int worker_shared_init(struct worker_shared *sh, const struct config *cfg,
    const struct handoff *out, enum record_mode mode, char *err, size_t errlen);

/* How often and how long accepting paused for the writer's lag, counting
 * a pause still under way up to now_ns (uv_hrtime). */
void worker_lag_stats(struct worker_shared *sh, uint64_t now_ns,
    uint64_t *pauses, uint64_t *paused_ns);

/* Releases what worker_shared_init set up. */
void worker_shared_free(struct worker_shared *sh);

/* Counts one more open session from src. Returns LIMIT_NONE, or the limit
 * that refuses it (LIMIT_PER_SOURCE; LIMIT_MAX_CONNS when the table is
 * full, which only happens with max-conns sessions open). Every
 * LIMIT_NONE must be matched by one worker_source_release. */
enum record_limit worker_source_acquire(struct worker_shared *sh,
    const struct addr *src);

/* Counts one session from src less. Does nothing without a table (inetd). */
void worker_source_release(struct worker_shared *sh, const struct addr *src);

/* Open sessions from src's source (IPv4 address or IPv6 /64); 0 without a
 * table. */
uint32_t worker_source_count(struct worker_shared *sh, const struct addr *src);

/* Prepares a worker over the given listening fds (the worker owns them),
 * and w->host, what its sessions see of it and of shared (settings copied,
 * counters pointed to: shared is set up before and outlives w). Returns 0
 * or -1 with err. */
int worker_init(struct worker *w, struct worker_shared *shared,
    const int *fds, const struct addr *addrs, int nfds, char *err,
    size_t errlen);

/* Runs the loop in a new thread. Returns 0 or -1. */
int worker_start(struct worker *w);

/* Runs the loop on the calling thread until it has nothing left to do. */
void worker_run(struct worker *w);

/* Asks the loop (from any thread) to stop accepting, close every session
 * with CLOSE_SHUTDOWN, and return. */
void worker_stop(struct worker *w);

/* Waits for a started worker's thread and releases the loop. */
void worker_join(struct worker *w);

/* Releases the loop of a worker run with worker_run. */
void worker_destroy(struct worker *w);

#endif
