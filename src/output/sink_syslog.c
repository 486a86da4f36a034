/* sink_syslog.c - the syslog sink (--syslog): one RFC 5424 message
 * (rfc5424.c) per closed session, and one per classifier verdict that
 * came after its session's and names a family or tags, to the local
 * socket, a Unix socket, UDP (RFC 5426: one message a datagram) or TCP
 * (RFC 6587 3.4.1: octet counting, "LEN SP MSG"). It never blocks the
 * writer: every send is non-blocking; TCP messages wait in a bounded
 * queue (--syslog-queue bytes of whole frames, allocated at open) while
 * the connection is down or full, and the connection is retried with a
 * backoff. What it cannot deliver is counted lost (runs.syslog_lost); an
 * outage is logged when it begins and when it ends. Sockets are made and
 * names resolved at open, before confinement: seccomp allows no UDP or
 * Unix socket after it, only TCP ones (and connect on an existing one). */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "rfc5424.h"
#include "syslog_target.h"

#define SINK_SYSLOG_BACKOFF_MIN_NS (100ULL * 1000000)     /* first retry */
#define SINK_SYSLOG_BACKOFF_MAX_NS (30ULL * 1000000000)   /* slowest retry */
#define SINK_SYSLOG_FRAME_MAX (RFC5424_MSG_MAX + 8)       /* "2048 " and the message */

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
	char *queue;                 /* TCP: whole frames, qcap bytes (--syslog-queue) */
	size_t qcap;
	size_t qlen;                 /* bytes in queue */
	size_t qoff;                 /* of them, sent on this connection */
	uint64_t cut;                /* messages with a value cut or left out */
	char err[256];               /* the last error, for the writer's log */
};

static uint64_t sink_syslog_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The start of an outage: logged once, and the next retry scheduled. */
static void sink_syslog_failed(struct sink_syslog *s, const char *what, int err)
{
	snprintf(s->err, sizeof(s->err), "%s: %s", what, strerror(err));
	if (!s->down)
		log_error("syslog: %s: %s: messages are counted lost until it answers "
		    "again", s->name, s->err);
	s->down = true;
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

/* What sink_syslog_before_chroot resolved and connected, for the sink
 * opened after the chroot (one per process: serve opens it once). */
static struct sink_syslog *sink_syslog_early;

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
	if (s->target.transport == SYSLOG_TCP && !(s->queue = malloc(s->qcap))) {
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

/* Unix and UDP: one datagram. A Unix socket whose server went away
 * (rsyslog restarted) is connected again, at the backoff's pace. */
static bool sink_syslog_send_dgram(struct sink_syslog *s, const char *msg, size_t len)
{
	if (s->target.transport == SYSLOG_UNIX && s->down) {
		if (sink_syslog_now() < s->next_try_ns)
			return false;
		if (connect(s->fd, (struct sockaddr *)&s->addr, s->addrlen) < 0) {
			sink_syslog_failed(s, "connect", errno);
			return false;
		}
	}
	if (send(s->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len) {
		/* UDP in an outage: a datagram the kernel took may still draw a
		 * port unreachable, which the next send reports. The first one
		 * after a refusal counts lost (at most one per outage too many);
		 * the second in a row ends the outage. */
		if (s->target.transport == SYSLOG_UDP && s->down && !s->probation) {
			s->probation = true;
			return false;
		}
		sink_syslog_up(s);
		return true;
	}
	s->probation = false;
	/* UDP: ECONNREFUSED is the ICMP error an earlier datagram drew; this
	 * one was not sent either. */
	sink_syslog_failed(s, "send", errno);
	return false;
}

/* The length of the whole frame at q (octet counting: "LEN SP MSG"). */
static size_t sink_syslog_frame_len(const char *q)
{
	size_t n = 0, digits = 0;

	while (q[digits] != ' ')
		n = n * 10 + (size_t)(q[digits++] - '0');
	return digits + 1 + n;
}

/* Drops the frames sent whole from the queue; with broken, a frame sent
 * in part is sent again whole on the next connection (the server drops
 * the part it got when the connection ends). Returns the frames dropped. */
static uint64_t sink_syslog_trim(struct sink_syslog *s, bool broken)
{
	size_t done = 0;
	uint64_t frames = 0;

	while (done < s->qlen) {
		size_t f = sink_syslog_frame_len(s->queue + done);
		if (done + f > s->qoff)
			break;
		done += f;
		frames++;
	}
	memmove(s->queue, s->queue + done, s->qlen - done);
	s->qlen -= done;
	s->qoff = broken ? 0 : s->qoff - done;
	return frames;
}

/* TCP: connects when it is time to, and sends what the socket takes.
 * Never waits. Returns the messages sent whole. */
static uint64_t sink_syslog_flush(struct sink_syslog *s)
{
	struct pollfd pfd;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	char peek;

	if (s->fd < 0) {
		if (sink_syslog_now() < s->next_try_ns)
			return 0;
		s->fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (s->fd < 0) {
			sink_syslog_failed(s, "socket", errno);
			return 0;
		}
		if (connect(s->fd, (struct sockaddr *)&s->addr, s->addrlen) < 0) {
			if (errno != EINPROGRESS) {
				sink_syslog_failed(s, "connect", errno);
				sink_syslog_close_fd(s);
				return 0;
			}
			s->connecting = true;
		}
	}
	if (s->connecting) {
		pfd = (struct pollfd){.fd = s->fd, .events = POLLOUT};
		if (poll(&pfd, 1, 0) == 0)
			return 0;    /* still connecting */
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
		sink_syslog_failed(s, "the server closed the connection", ECONNRESET);
		sink_syslog_close_fd(s);
		sink_syslog_trim(s, true);
		return 0;
	}
	while (s->qoff < s->qlen) {
		ssize_t n = send(s->fd, s->queue + s->qoff, s->qlen - s->qoff,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			s->qoff += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;   /* the server is slow: the rest waits */
		uint64_t sent = sink_syslog_trim(s, true);
		sink_syslog_failed(s, "send", n < 0 ? errno : EPIPE);
		sink_syslog_close_fd(s);
		return sent;
	}
	sink_syslog_up(s);
	return sink_syslog_trim(s, false);
}

/* TCP: queues one framed message. Returns false when the queue is full. */
static bool sink_syslog_queue(struct sink_syslog *s, const char *msg, size_t len)
{
	char frame[SINK_SYSLOG_FRAME_MAX];
	int n = snprintf(frame, sizeof(frame), "%zu ", len);

	if (s->qlen + (size_t)n + len > s->qcap)
		return false;
	memcpy(s->queue + s->qlen, frame, (size_t)n);
	memcpy(s->queue + s->qlen + (size_t)n, msg, len);
	s->qlen += (size_t)n + len;
	return true;
}

static enum sink_status sink_syslog_write(struct sink *sink, const struct record *list,
    struct sink_batch *out)
{
	struct sink_syslog *s = (struct sink_syslog *)sink;
	char msg[RFC5424_MSG_MAX + 1];
	struct rfc5424_result res;
	uint64_t lost = 0;

	for (const struct record *r = list; r; r = r->next) {
		/* a verdict is news only when it names something: one that
		 * found nothing would double the messages for nothing */
		if (r->kind == RECORD_CONNECT || (r->kind == RECORD_CLASSIFIED &&
		        (!r->class || (!r->class->family[0] && !r->class->tags[0]))))
			continue;
		size_t len = rfc5424_format(r, &s->sender, msg, &res);
		out->escaped += res.escaped;
		s->cut += res.cut;
		bool ok = s->target.transport == SYSLOG_TCP ? sink_syslog_queue(s, msg, len) :
		    sink_syslog_send_dgram(s, msg, len);
		if (!ok)
			lost++;
		else if (s->target.transport != SYSLOG_TCP)
			out->sent++;
	}
	if (s->target.transport == SYSLOG_TCP) {
		out->sent += sink_syslog_flush(s);
		if (lost && !s->down)
			snprintf(s->err, sizeof(s->err), "the queue (--syslog-queue, %zu "
			    "bytes) is full", s->qcap);
	}
	s->down_lost += lost;
	out->lost = lost;
	return lost ? SINK_FAILED : SINK_OK;
}

static const char *sink_syslog_errmsg(struct sink *sink)
{
	struct sink_syslog *s = (struct sink_syslog *)sink;

	return s->err[0] ? s->err : NULL;
}

static void sink_syslog_close(struct sink *sink)
{
	struct sink_syslog *s = (struct sink_syslog *)sink;

	if (s->target.transport == SYSLOG_TCP && s->qlen) {
		/* one last try, without waiting */
		if (s->fd >= 0 && !s->connecting)
			sink_syslog_flush(s);
		if (s->qlen)
			log_warn("syslog: %s: %zu byte(s) of messages not sent at exit",
			    s->name, s->qlen);
	}
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
	.close = sink_syslog_close,
};
