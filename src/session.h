/* session.h - one peer connection, from accept to its record. */
#ifndef FLYPAPER_SESSION_H
#define FLYPAPER_SESSION_H

#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "addr.h"
#include "list.h"
#include "record.h"

struct worker;

enum session_state {
	SESSION_OPEN,                /* reading; in the timeout lists */
	SESSION_CLOSING,             /* record handed off; handle closing */
};

/* Memory per idle session is this struct plus malloc's header: no buffer
 * is allocated until the peer sends a byte. */
struct session {
	uv_tcp_t tcp;                /* the libuv handle; tcp.data is this */
	struct worker *worker;       /* the loop that owns it */
	struct list_link idle_link;  /* in worker->idle, by last peer byte */
	struct list_link age_link;   /* in worker->age, by start */
	uint64_t id;
	uint64_t start_ns;           /* monotonic, at accept */
	uint64_t last_in_ns;         /* monotonic, last peer byte (or start) */
	uint64_t first_byte_ns;      /* monotonic, first peer byte; 0 none */
	struct timespec start_wall;  /* wall clock at accept, for the record */
	struct addr src, dst;
	uint64_t bytes_in, bytes_out;
	uint8_t *buf;                /* captured payload, grown on demand */
	size_t len, cap;             /* bytes in buf, bytes allocated */
	enum session_state state;
};

/* Starts a session on an accepted, non-blocking socket fd. dst may be NULL
 * (then it is read with getsockname). On failure fd is closed, the
 * connection is recorded as server_close, and -1 is returned. */
int session_start(struct worker *w, int fd, const struct addr *src,
    const struct addr *dst, uint64_t now_ns, const struct timespec *wall);

/* Ends s for reason: hands its record to the writer and closes the socket
 * (with RST when reset is set). s is freed later, by libuv's close
 * callback; calling it again on a closing session does nothing. */
void session_close(struct session *s, enum close_reason reason, int reset);

/* A timeout fired: applies the configured on-timeout action (drop, goaway
 * text, or reset), then closes s with reason. */
void session_expire(struct session *s, enum close_reason reason);

/* Records a connection that was accepted but refused (fd already closed). */
void session_record_refused(struct worker *w, const struct addr *src,
    const struct addr *dst, const struct timespec *wall);

#endif
