/* sink_syslog.c - the syslog sink (--syslog): one RFC 5424 message
 * (rfc5424.c) per closed session, and one per classifier verdict that
 * came after its session's and names a family or tags, to the local
 * socket, a Unix socket, UDP (RFC 5426: one message a datagram) or TCP
 * (RFC 6587 3.4.1: octet counting, "LEN SP MSG"). It never blocks the
 * writer: every send is non-blocking. Messages wait in a bounded queue
 * (--syslog-queue bytes of whole frames, a ring allocated at open) while
 * the server is down, busy (a full Unix datagram queue: EAGAIN) or slow,
 * and go out at the next batch or tick (the writer's idle wake, about a
 * second) or at exit (finish: 2 s at most); a busy datagram receiver gets
 * a few milliseconds of poll(POLLOUT) per batch. A refused or broken
 * connection is retried with a backoff. What cannot be delivered is
 * counted lost (runs.syslog_lost); an outage is logged when it begins and
 * when it ends. Sockets are made and names resolved at open, before
 * confinement: seccomp allows no UDP or Unix socket after it, only TCP
 * ones (and connect on an existing one). */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "config.h"
#include "log.h"
#include "rfc5424.h"
#include "syslog_target.h"

#define SINK_SYSLOG_BACKOFF_MIN_NS (100ULL * 1000000)     /* first retry */
#define SINK_SYSLOG_BACKOFF_MAX_NS (30ULL * 1000000000)   /* slowest retry */
#define SINK_SYSLOG_CONNECT_NS (3ULL * 1000000000)        /* TCP: a connect's deadline */
#define SINK_SYSLOG_USER_TIMEOUT_MS 30000                 /* TCP: unacknowledged data, then broken */
#define SINK_SYSLOG_BUSY_NS (5ULL * 1000000)              /* a busy receiver's wait, per batch */
#define SINK_SYSLOG_FINISH_NS (2ULL * 1000000000)         /* at exit, for what is queued */
#define SINK_SYSLOG_FRAME_MAX (RFC5424_MSG_MAX + 8)       /* "2048 " and the message */
#define SINK_SYSLOG_SNDBUF (64 * 1024)                    /* TCP: what the kernel may hold unacknowledged */

extern const struct sink_ops sink_syslog_ops;  /* below */

struct sink_syslog {
	struct sink sink;            /* first: what the writer sees */
	struct syslog_target target;
	char name[SYSLOG_TARGET_HOST_MAX + 16]; /* the target as logged */
	struct rfc5424_sender sender;
	struct sockaddr_storage addr; /* resolved at open */
	socklen_t addrlen;
	int fd;                      /* -1: none (TCP down, waiting to retry) */
	bool connecting;             /* TCP: a non-blocking connect in flight */
	bool down;                   /* an outage is going on (logged at its start) */
	bool probation;              /* UDP: one datagram went out since the last refusal */
	uint64_t down_lost;          /* messages lost in this outage */
	uint64_t next_try_ns;        /* CLOCK_MONOTONIC: no retry before */
	uint64_t backoff_ns;
	uint64_t connect_by_ns;      /* TCP: the connect in flight's deadline */
	int last_err;                /* the last failure's errno (finish: a refusal is final) */
	char *queue;                 /* a ring of whole frames, qcap bytes (--syslog-queue) */
	size_t qcap;
	size_t qhead;                /* where the oldest frame starts */
	size_t qlen;                 /* bytes in queue */
	size_t qoff;                 /* TCP: of them, handed to the kernel on this connection */
	uint64_t qframes;            /* frames in queue */
	uint64_t cut;                /* messages with a value cut or left out */
	/* metrics: stored by the writer's thread, read by the server's */
	_Atomic int64_t backlog_live;   /* qframes */
	_Atomic int64_t failures_live;  /* failed connects and sends */
	_Atomic int64_t shipped_live;   /* messages sent */
	char err[256];               /* the last error, for the writer's log */
};

static uint64_t sink_syslog_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Waits until fd can take a send, or until the deadline (fd -1: just
 * waits). Returns true when fd is ready. */
static bool sink_syslog_wait(int fd, uint64_t until_ns)
{
	uint64_t now = sink_syslog_now();
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};

	if (now >= until_ns)
		return false;
	int ms = (int)((until_ns - now + 999999) / 1000000);
	return poll(&pfd, fd >= 0 ? 1 : 0, ms) > 0;
}

/* The start of an outage: logged once, and the next retry scheduled. */
static void sink_syslog_failed(struct sink_syslog *s, const char *what, int err)
{
	snprintf(s->err, sizeof(s->err), "%s: %s", what, strerror(err));
	s->last_err = err;
	if (!s->down)
		log_error("syslog: %s: %s: messages wait in the queue (--syslog-queue) "
		    "until it answers again; what does not fit is counted lost",
		    s->name, s->err);
	s->down = true;
	atomic_fetch_add_explicit(&s->failures_live, 1, memory_order_relaxed);
	s->next_try_ns = sink_syslog_now() + s->backoff_ns;
	s->backoff_ns = s->backoff_ns * 2 > SINK_SYSLOG_BACKOFF_MAX_NS ?
	    SINK_SYSLOG_BACKOFF_MAX_NS : s->backoff_ns * 2;
}

/* The end of an outage. */
static void sink_syslog_up(struct sink_syslog *s)
{
	if (s->down)
		log_info("syslog: %s answers again (%llu message(s) lost meanwhile)",
		    s->name, (unsigned long long)s->down_lost);
	s->down = false;
	s->probation = false;
	s->down_lost = 0;
	s->backoff_ns = SINK_SYSLOG_BACKOFF_MIN_NS;
}

static void sink_syslog_close_fd(struct sink_syslog *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->connecting = false;
}

/* The ring: byte i of the queue, counted from its oldest. */
static char sink_syslog_qbyte(const struct sink_syslog *s, size_t i)
{
	return s->queue[(s->qhead + i) % s->qcap];
}

/* Copies n bytes into the ring at offset at from its oldest byte. */
static void sink_syslog_qput(struct sink_syslog *s, size_t at, const char *src, size_t n)
{
	size_t pos = (s->qhead + at) % s->qcap;
	size_t first = n < s->qcap - pos ? n : s->qcap - pos;

	memcpy(s->queue + pos, src, first);
	memcpy(s->queue, src + first, n - first);
}

/* Copies n bytes out of the ring from offset at. */
static void sink_syslog_qget(const struct sink_syslog *s, size_t at, char *dst, size_t n)
{
	size_t pos = (s->qhead + at) % s->qcap;
	size_t first = n < s->qcap - pos ? n : s->qcap - pos;

	memcpy(dst, s->queue + pos, first);
	memcpy(dst + first, s->queue, n - first);
}

/* The length of the whole frame at offset at ("LEN SP MSG"), and of its
 * message in *msglen. */
static size_t sink_syslog_frame_len(const struct sink_syslog *s, size_t at, size_t *msglen)
{
	size_t n = 0, digits = 0;
	char c;

	while ((c = sink_syslog_qbyte(s, at + digits)) != ' ') {
		n = n * 10 + (size_t)(c - '0');
		digits++;
	}
	if (msglen)
		*msglen = n;
	return digits + 1 + n;
}

/* Drops the oldest bytes, that many whole frames, from the queue. */
static void sink_syslog_pop(struct sink_syslog *s, size_t bytes, uint64_t frames)
{
	s->qhead = (s->qhead + bytes) % s->qcap;
	s->qlen -= bytes;
	s->qframes -= frames;
	if (s->qlen == 0)
		s->qhead = 0;
	atomic_store_explicit(&s->backlog_live, (int64_t)s->qframes, memory_order_relaxed);
}

/* What sink_syslog_before_chroot resolved and connected, for the sink
 * opened after the chroot (one per process: serve opens it once). */
static struct sink_syslog *sink_syslog_early;

/* A Unix socket under a folder others may write to could be swapped for
 * theirs (the feed read, or startup failed): a folder on the way, from /,
 * that is writable by its group or others is refused, unless it is sticky
 * (/tmp: only an entry's owner may replace it), and so is a symbolic link
 * on the way (the socket or a folder) that root does not own: its owner
 * could point it elsewhere. Root's links (/dev/log to the journal's
 * socket) are followed: the path they lead to is checked the same way.
 * lstat, not stat: a link is judged, never its target in its place. */
static int sink_syslog_path_safe(const struct sink_syslog *s, const char *path, int depth,
    char *err, size_t errlen)
{
	char part[sizeof(s->target.path)], real[PATH_MAX];
	size_t n = strlen(path);
	bool linked = false;
	struct stat st;

	if (n >= sizeof(part) || path[0] != '/')
		return 0;            /* syslog_target_parse wants a path from / */
	for (size_t i = 1; i <= n; i++) {
		if (i > 1 && i < n && path[i] != '/')
			continue;            /* "/" first, then each folder, then the socket */
		memcpy(part, path, i);
		part[i] = '\0';
		if (lstat(part, &st) < 0)
			break;               /* the connect says why; a link's target is checked below */
		if (S_ISLNK(st.st_mode) && st.st_uid != 0) {
			snprintf(err, errlen, "syslog: %s: %s is a symbolic link not owned by "
			    "root, whose owner could point it at their own socket: name "
			    "the socket's real path", s->name, part);
			return -1;
		}
		linked |= S_ISLNK(st.st_mode);
		if (S_ISDIR(st.st_mode) && i < n && (st.st_mode & (S_IWGRP | S_IWOTH)) &&
		    !(st.st_mode & S_ISVTX)) {
			snprintf(err, errlen, "syslog: %s: the folder %s is writable by its group "
			    "or others, who could replace the socket: make it writable only by "
			    "root or the service user", s->name, part);
			return -1;
		}
	}
	if (!linked)
		return 0;
	if (depth > 0)
		return 0;            /* resolved once: no links left */
	if (!realpath(path, real)) {
		/* no socket (yet): where its folder leads, and its name */
		const char *base = strrchr(path, '/');
		memcpy(part, path, (size_t)(base - path));
		part[base - path] = '\0';
		if (!realpath(part[0] ? part : "/", real) ||
		    strlen(real) + strlen(base) >= sizeof(real))
			return 0;    /* the connect says why */
		strcat(real, base);
	}
	return sink_syslog_path_safe(s, real, depth + 1, err, errlen);
}

/* Resolves the target and, for Unix and UDP, makes and connects the
 * socket, which lives as long as the sink. Returns 0 or -1 with err. */
static int sink_syslog_resolve(struct sink_syslog *s, char *err, size_t errlen)
{
	struct addrinfo hints = {0}, *ai;
	int rc;

	if (sink_syslog_early && strcmp(sink_syslog_early->name, s->name) == 0) {
		s->addr = sink_syslog_early->addr;
		s->addrlen = sink_syslog_early->addrlen;
		s->fd = sink_syslog_early->fd;
		sink_syslog_early->fd = -1;
		free(sink_syslog_early);
		sink_syslog_early = NULL;
		return 0;
	}
	if (s->target.transport == SYSLOG_UNIX) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&s->addr;
		if (sink_syslog_path_safe(s, s->target.path, 0, err, errlen) < 0)
			return -1;
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, s->target.path, strlen(s->target.path) + 1);
		s->addrlen = sizeof(*sun);
	} else {
		hints.ai_socktype = s->target.transport == SYSLOG_UDP ? SOCK_DGRAM : SOCK_STREAM;
		if ((rc = getaddrinfo(s->target.host, s->target.port, &hints, &ai)) != 0) {
			snprintf(err, errlen, "syslog: %s: cannot resolve %s: %s", s->name,
			    s->target.host, gai_strerror(rc));
			return -1;
		}
		memcpy(&s->addr, ai->ai_addr, ai->ai_addrlen);
		s->addrlen = ai->ai_addrlen;
		freeaddrinfo(ai);
	}
	if (s->target.transport == SYSLOG_TCP)
		return 0;            /* connected by the first write */
	int type = SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC;
	if ((s->fd = socket(s->addr.ss_family, type, 0)) < 0 ||
	    connect(s->fd, (struct sockaddr *)&s->addr, s->addrlen) < 0) {
		snprintf(err, errlen, "syslog: %s: cannot connect: %s", s->name,
		    strerror(errno));
		sink_syslog_close_fd(s);
		return -1;
	}
	return 0;
}

int sink_syslog_before_chroot(const struct config *cfg, char *err, size_t errlen)
{
	struct sink_syslog *s;

	err[0] = '\0';
	if (!cfg->syslog_target || sink_syslog_early)
		return 0;
	if (!(s = calloc(1, sizeof(*s)))) {
		snprintf(err, errlen, "syslog: out of memory");
		return -1;
	}
	s->fd = -1;
	snprintf(s->name, sizeof(s->name), "%s", cfg->syslog_target);
	if (syslog_target_parse(cfg->syslog_target, &s->target, err, errlen) < 0 ||
	    sink_syslog_resolve(s, err, errlen) < 0) {
		free(s);
		return -1;
	}
	sink_syslog_early = s;
	return 0;
}

static struct sink *sink_syslog_open(const struct config *cfg, enum record_mode mode,
    char *err, size_t errlen)
{
	struct sink_syslog *s;
	char host[256];

	(void)mode;
	err[0] = '\0';
	if (!cfg->syslog_target)
		return NULL;
	if (!(s = calloc(1, sizeof(*s)))) {
		snprintf(err, errlen, "syslog: out of memory");
		return NULL;
	}
	s->fd = -1;
	s->sink.ops = &sink_syslog_ops;
	s->backoff_ns = SINK_SYSLOG_BACKOFF_MIN_NS;
	if (syslog_target_parse(cfg->syslog_target, &s->target, err, errlen) < 0)
		goto err;
	snprintf(s->name, sizeof(s->name), "%s", cfg->syslog_target);
	s->sender.facility = cfg->syslog_facility;
	/* HOSTNAME: the sensor name (RFC 5424 6.2.4 allows any name the
	 * sender knows itself by); its spaces, if any, become '_'. */
	if (!cfg->sensor && gethostname(host, sizeof(host)) < 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	rfc5424_token(cfg->sensor ? cfg->sensor : host, s->sender.hostname,
	    sizeof(s->sender.hostname));
	rfc5424_token(cfg->syslog_app, s->sender.app, sizeof(s->sender.app));
	s->sender.procid = (long)getpid();
	s->qcap = cfg->syslog_queue;
	if (!(s->queue = malloc(s->qcap))) {
		snprintf(err, errlen, "syslog: out of memory");
		goto err;
	}
	if (sink_syslog_resolve(s, err, errlen) < 0)
		goto err;
	return &s->sink;
err:
	free(s->queue);
	free(s);
	return NULL;
}

/* Unix and UDP: sends the queue, one datagram a frame, oldest first.
 * A receiver that is busy (a Unix socket's queue is full: EAGAIN; no
 * buffer: ENOBUFS) is waited for until wait_until at most, then the rest
 * waits for the next batch or tick: it is not down. A refusal is an
 * outage, retried at the backoff's pace; a Unix socket whose server went
 * away (rsyslog restarted) is connected again then. The call ends at
 * wait_until too while sends succeed (a big queue after an outage: the
 * writer is not held), the rest going at the next batch or tick. Returns
 * the messages sent; *lost counts those sent into an outage (UDP, below). */
static uint64_t sink_syslog_flush_dgram(struct sink_syslog *s, uint64_t wait_until,
    uint64_t *lost)
{
	char msg[SINK_SYSLOG_FRAME_MAX];
	uint64_t sent = 0, tries = 0;

	if (s->qframes && s->down) {
		if (sink_syslog_now() < s->next_try_ns)
			return 0;
		if (s->target.transport == SYSLOG_UNIX &&
		    connect(s->fd, (struct sockaddr *)&s->addr, s->addrlen) < 0) {
			sink_syslog_failed(s, "connect", errno);
			return 0;
		}
	}
	while (s->qframes) {
		/* the clock every 64 frames: a send is a few microseconds */
		if (++tries % 64 == 0 && sink_syslog_now() >= wait_until)
			break;
		size_t len, f = sink_syslog_frame_len(s, 0, &len);
		sink_syslog_qget(s, f - len, msg, len);
		if (send(s->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len) {
			sink_syslog_pop(s, f, 1);
			/* UDP in an outage: a datagram the kernel took may still
			 * draw a port unreachable, which the next send reports.
			 * The first one after a refusal counts lost (at most one
			 * per outage too many); the second in a row ends it. */
			if (s->target.transport == SYSLOG_UDP && s->down && !s->probation) {
				s->probation = true;
				(*lost)++;
				continue;
			}
			sink_syslog_up(s);
			sent++;
			continue;
		}
		int err = errno;
		if (err == EINTR)
			continue;
		if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
			if (sink_syslog_wait(s->fd, wait_until))
				continue;
			snprintf(s->err, sizeof(s->err), "send: %s: the rest waits", strerror(err));
			break;
		}
		s->probation = false;
		/* UDP: ECONNREFUSED is the ICMP error an earlier datagram drew;
		 * this one was not sent either, and waits. */
		sink_syslog_failed(s, "send", err);
		break;
	}
	return sent;
}

/* TCP: of the bytes handed to the kernel on this connection, those the
 * server acknowledged: qoff less what the socket still holds (SIOCOUTQ;
 * it stays readable after a reset or a timeout). Unknown: all of them
 * (the kernel took them). */
static size_t sink_syslog_acked(const struct sink_syslog *s)
{
	int outq = 0;

	if (s->fd < 0 || ioctl(s->fd, SIOCOUTQ, &outq) < 0 || outq <= 0)
		return s->qoff;
	return (size_t)outq >= s->qoff ? 0 : s->qoff - (size_t)outq;
}

/* TCP: drops the frames the server acknowledged whole from the queue
 * (sent: delivered to the server's host). With broken (before the close),
 * the rest, unacknowledged or sent in part, is sent again whole on the
 * next connection (the server drops a part it got when the connection
 * ends), or counted lost at exit. Returns the frames dropped. */
static uint64_t sink_syslog_trim(struct sink_syslog *s, bool broken)
{
	size_t done = 0, acked = sink_syslog_acked(s);
	uint64_t frames = 0;

	while (done < s->qlen) {
		size_t f = sink_syslog_frame_len(s, done, NULL);
		if (done + f > acked)
			break;
		done += f;
		frames++;
	}
	sink_syslog_pop(s, done, frames);
	s->qoff = broken ? 0 : s->qoff - done;
	return frames;
}

/* TCP: a non-blocking connect to the target, with a deadline, and a
 * bound on how long sent data may stay unacknowledged before the kernel
 * calls the connection broken (a blackholed server). */
static void sink_syslog_connect(struct sink_syslog *s)
{
	int ms = SINK_SYSLOG_USER_TIMEOUT_MS, sndbuf = SINK_SYSLOG_SNDBUF / 2;

	s->fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		sink_syslog_failed(s, "socket", errno);
		return;
	}
	/* best effort: without it only tcp_retries2 (about 15 min) ends it */
	setsockopt(s->fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
	/* a bound on what is in flight (the kernel doubles the value): the
	 * queue keeps each frame until the server acknowledged it */
	setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (connect(s->fd, (struct sockaddr *)&s->addr, s->addrlen) < 0) {
		if (errno != EINPROGRESS) {
			sink_syslog_failed(s, "connect", errno);
			sink_syslog_close_fd(s);
			return;
		}
		s->connecting = true;
		s->connect_by_ns = sink_syslog_now() + SINK_SYSLOG_CONNECT_NS;
	}
}

/* TCP: connects when it is time to, and sends what the socket takes.
 * Never waits. Returns the messages sent whole. */
static uint64_t sink_syslog_flush_tcp(struct sink_syslog *s)
{
	struct pollfd pfd;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	char peek;

	if (s->fd < 0) {
		if (!s->qframes || sink_syslog_now() < s->next_try_ns)
			return 0;
		sink_syslog_connect(s);
		if (s->fd < 0)
			return 0;
	}
	if (s->connecting) {
		pfd = (struct pollfd){.fd = s->fd, .events = POLLOUT};
		if (poll(&pfd, 1, 0) == 0) {
			/* a blackholed server: the SYN retries would take minutes */
			if (sink_syslog_now() >= s->connect_by_ns) {
				sink_syslog_failed(s, "connect", ETIMEDOUT);
				sink_syslog_close_fd(s);
			}
			return 0;
		}
		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr) {
			sink_syslog_failed(s, "connect", soerr);
			sink_syslog_close_fd(s);
			return 0;
		}
		s->connecting = false;
	}
	/* A syslog server never writes: a readable end is its close (a
	 * restart), found before the kernel takes messages it would lose. */
	if (recv(s->fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 ||
	    (errno != EAGAIN && errno != EWOULDBLOCK)) {
		uint64_t sent = sink_syslog_trim(s, true);
		sink_syslog_failed(s, "the server closed the connection", ECONNRESET);
		sink_syslog_close_fd(s);
		return sent;
	}
	while (s->qoff < s->qlen) {
		size_t pos = (s->qhead + s->qoff) % s->qcap;
		size_t n = s->qlen - s->qoff;
		if (n > s->qcap - pos)
			n = s->qcap - pos;       /* to the ring's end; the rest next */
		ssize_t rc = send(s->fd, s->queue + pos, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (rc > 0) {
			s->qoff += (size_t)rc;
			continue;
		}
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;   /* the server is slow: the rest waits */
		int err = rc < 0 ? errno : EPIPE;
		uint64_t sent = sink_syslog_trim(s, true);
		sink_syslog_failed(s, "send", err);
		sink_syslog_close_fd(s);
		return sent;
	}
	sink_syslog_up(s);
	return sink_syslog_trim(s, false);
}

/* Sends what the queue holds and the target takes now (a busy datagram
 * receiver: until wait_until). Returns the messages sent; *lost counts
 * the ones given up. */
static uint64_t sink_syslog_flush(struct sink_syslog *s, uint64_t wait_until, uint64_t *lost)
{
	uint64_t sent = s->target.transport == SYSLOG_TCP ? sink_syslog_flush_tcp(s) :
	    sink_syslog_flush_dgram(s, wait_until, lost);

	atomic_fetch_add_explicit(&s->shipped_live, (int64_t)sent, memory_order_relaxed);
	return sent;
}

/* Queues one framed message. Returns false when the queue is full. */
static bool sink_syslog_queue(struct sink_syslog *s, const char *msg, size_t len)
{
	char frame[24];
	int n = snprintf(frame, sizeof(frame), "%zu ", len);

	if (s->qlen + (size_t)n + len > s->qcap)
		return false;
	sink_syslog_qput(s, s->qlen, frame, (size_t)n);
	sink_syslog_qput(s, s->qlen + (size_t)n, msg, len);
	s->qlen += (size_t)n + len;
	s->qframes++;
	atomic_store_explicit(&s->backlog_live, (int64_t)s->qframes, memory_order_relaxed);
	return true;
}

static enum sink_status sink_syslog_write(struct sink *sink, const struct record *list,
    struct sink_batch *out)
{
	struct sink_syslog *s = (struct sink_syslog *)sink;
	char msg[RFC5424_MSG_MAX + 1];
	struct rfc5424_result res;
	uint64_t lost = 0, until = sink_syslog_now() + SINK_SYSLOG_BUSY_NS;

	for (const struct record *r = list; r; r = r->next) {
		/* a verdict is news only when it names something: one that
		 * found nothing would double the messages for nothing */
		if (r->kind == RECORD_CONNECT || (r->kind == RECORD_CLASSIFIED &&
		        (!r->class || (!r->class->family[0] && !r->class->tags[0]))))
			continue;
		size_t len = rfc5424_format(r, &s->sender, msg, &res);
		out->escaped += res.escaped;
		s->cut += res.cut;
		if (sink_syslog_queue(s, msg, len))
			continue;
		/* full: first it sends what it can (a big batch, a small
		 * queue), within the batch's one wait */
		out->sent += sink_syslog_flush(s, until, &lost);
		if (!sink_syslog_queue(s, msg, len)) {
			lost++;
			snprintf(s->err, sizeof(s->err), "the queue (--syslog-queue, %zu "
			    "bytes) is full", s->qcap);
		}
	}
	out->sent += sink_syslog_flush(s, until, &lost);
	s->down_lost += lost;
	out->lost = lost;
	return lost ? SINK_FAILED : SINK_OK;
}

/* The writer's idle wake: what waits goes out without a new session. */
static void sink_syslog_tick(struct sink *sink, struct sink_batch *out)
{
	struct sink_syslog *s = (struct sink_syslog *)sink;
	uint64_t lost = 0;

	if (!s->qframes)
		return;
	out->sent += sink_syslog_flush(s, sink_syslog_now() + SINK_SYSLOG_BUSY_NS, &lost);
	s->down_lost += lost;
	out->lost += lost;
}

/* At exit (serve's stop, an inetd child's end): up to
 * SINK_SYSLOG_FINISH_NS to connect and send what is queued (TCP: and to
 * have it acknowledged), then what is left counts lost. A refusal at exit
 * is final, and no retry is waited for that would come past the bound:
 * an inetd child with its server down ends at once. The writer's loop is
 * done: the counters it keeps are updated here, before the run's are
 * read. */
static void sink_syslog_finish(struct sink *sink)
{
	struct sink_syslog *s = (struct sink_syslog *)sink;
	uint64_t until = sink_syslog_now() + SINK_SYSLOG_FINISH_NS;
	uint64_t lost = 0, sent = 0;
	const char *why = "the 2 s bound at exit passed";

	s->last_err = 0;
	while (s->qframes) {
		sent += sink_syslog_flush(s, until, &lost);
		uint64_t now = sink_syslog_now();
		if (!s->qframes || now >= until)
			break;
		if (s->last_err == ECONNREFUSED || s->last_err == ENOENT) {
			why = "refused at exit: nobody listens";
			break;               /* a retry would be refused too */
		}
		if (s->fd >= 0 && s->connecting)
			sink_syslog_wait(s->fd, until);   /* the connect */
		else if (s->fd >= 0 && !s->down && s->qoff < s->qlen)
			sink_syslog_wait(s->fd, until);   /* room to send */
		else if (s->fd >= 0 && !s->down)  /* TCP: all sent, the acks (1 ms: no spin) */
			sink_syslog_wait(-1, now + 1000000);
		else if (s->next_try_ns >= until) {
			why = "down, and the next try would come after the 2 s bound";
			break;
		}
		else  /* down: the next try (1 ms at least: no spin) */
			sink_syslog_wait(-1, s->next_try_ns > now ? s->next_try_ns : now + 1000000);
	}
	if (s->qframes)
		log_warn("syslog: %s: %llu message(s) (%zu byte(s)) not sent at exit (%s): "
		    "counted lost", s->name, (unsigned long long)s->qframes, s->qlen, why);
	lost += s->qframes;
	sink_syslog_pop(s, s->qlen, s->qframes);
	s->qoff = 0;
	s->sink.count.sent += sent;
	if (lost) {
		if (s->sink.count.lost == 0)
			log_error("%s: %llu %s", s->sink.ops->name, (unsigned long long)lost,
			    s->sink.ops->lost_what);
		s->sink.count.lost += lost;
		atomic_store_explicit(&s->sink.lost_live, s->sink.count.lost,
		    memory_order_relaxed);
	}
}

/* metrics: atomics only (another thread). */
static void sink_syslog_gauges(struct sink *sink, struct sink_gauges *out)
{
	struct sink_syslog *s = (struct sink_syslog *)sink;

	out->backlog = atomic_load_explicit(&s->backlog_live, memory_order_relaxed);
	out->failures = atomic_load_explicit(&s->failures_live, memory_order_relaxed);
	out->shipped = atomic_load_explicit(&s->shipped_live, memory_order_relaxed);
}

static const char *sink_syslog_errmsg(struct sink *sink)
{
	struct sink_syslog *s = (struct sink_syslog *)sink;

	return s->err[0] ? s->err : NULL;
}

static void sink_syslog_close(struct sink *sink)
{
	struct sink_syslog *s = (struct sink_syslog *)sink;

	if (s->qframes)          /* finish was not called */
		log_warn("syslog: %s: %llu message(s) not sent at exit", s->name,
		    (unsigned long long)s->qframes);
	if (s->cut)
		log_info("syslog: %llu message(s) with a value cut or left out "
		    "(over %d bytes; cut=\"yes\" marks them)",
		    (unsigned long long)s->cut, RFC5424_MSG_MAX);
	sink_syslog_close_fd(s);
	free(s->queue);
	free(s);
}

const struct sink_ops sink_syslog_ops = {
	.name = "syslog",
	.lost_what = "message(s) not delivered (runs.syslog_lost)",
	.escaped_what = "message(s) with a value escaped (\\xNN)",
	.open = sink_syslog_open,
	.write = sink_syslog_write,
	.errmsg = sink_syslog_errmsg,
	.tick = sink_syslog_tick,
	.finish = sink_syslog_finish,
	.close = sink_syslog_close,
	.gauges = sink_syslog_gauges,
};
