/* ident.c - RFC 1413 probes: one short TCP exchange back to the peer's
 * ident port, from the address it connected to, never to anyone else. */
#include "ident.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "text.h"
#include "units.h"

#define IDENT_BUCKET 4               /* addresses per limiter bucket */

/* ---- reply parsing (pure) -------------------------------------------- */

/* The next ':'-separated field of line[*pos..len), trimmed. With last set,
 * the field is the rest of the line (a user id may hold colons). */
static void ident_field(const char *line, size_t len, size_t *pos, bool last,
    const char **start, size_t *flen)
{
	size_t i = *pos, e;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	e = i;
	while (e < len && (last || line[e] != ':'))
		e++;
	*pos = e < len ? e + 1 : len;
	while (e > i && (line[e - 1] == ' ' || line[e - 1] == '\t'))
		e--;
	*start = line + i;
	*flen = e - i;
}

ssize_t ident_reply_frame(const char *buf, size_t len)
{
	const char *lf = memchr(buf, '\n', len);
	size_t n;

	if (!lf)
		return len >= IDENT_REPLY_MAX ? -1 : -2;
	n = (size_t)(lf - buf);
	if (n && buf[n - 1] == '\r')
		n--;
	return (ssize_t)n;
}

static void ident_copy(char *dst, size_t cap, const char *src, size_t len)
{
	size_t n = len < cap - 1 ? len : cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static bool ident_field_is(const char *f, size_t len, const char *word)
{
	return len == strlen(word) && strncasecmp(f, word, len) == 0;
}

/* Parses "<digits> , <digits>" and checks it against the query. */
static bool ident_ports_match(const char *f, size_t len, unsigned peer_port,
    unsigned local_port)
{
	unsigned a = 0, b = 0;
	size_t i = 0;
	int digits = 0;

	while (i < len && isdigit((unsigned char)f[i]) && digits < 6) {
		a = a * 10 + (unsigned)(f[i++] - '0');
		digits++;
	}
	if (!digits)
		return false;
	while (i < len && (f[i] == ' ' || f[i] == '\t'))
		i++;
	if (i >= len || f[i++] != ',')
		return false;
	while (i < len && (f[i] == ' ' || f[i] == '\t'))
		i++;
	digits = 0;
	while (i < len && isdigit((unsigned char)f[i]) && digits < 6) {
		b = b * 10 + (unsigned)(f[i++] - '0');
		digits++;
	}
	return digits && i == len && a == peer_port && b == local_port;
}

static enum ident_status ident_parse_fields(const char *line, size_t len,
    unsigned peer_port, unsigned local_port, struct ident_reply *out);

enum ident_status ident_parse_reply(const char *line, size_t len,
    unsigned peer_port, unsigned local_port, struct ident_reply *out)
{
	/* A reply that fails late may have filled fields on the way: a
	 * malformed reply reports none of them, so the JSON line and the
	 * database (which keeps fields by status) say the same. */
	if (ident_parse_fields(line, len, peer_port, local_port, out) == IDENT_MALFORMED) {
		memset(out, 0, sizeof(*out));
		out->status = IDENT_MALFORMED;
	}
	return out->status;
}

static enum ident_status ident_parse_fields(const char *line, size_t len,
    unsigned peer_port, unsigned local_port, struct ident_reply *out)
{
	const char *f;
	size_t flen, pos = 0;

	memset(out, 0, sizeof(*out));
	out->status = IDENT_MALFORMED;
	if (len == 0 || len > IDENT_REPLY_MAX || memchr(line, '\0', len))
		return out->status;
	ident_field(line, len, &pos, false, &f, &flen);
	if (!ident_ports_match(f, flen, peer_port, local_port) || pos >= len)
		return out->status;
	ident_field(line, len, &pos, false, &f, &flen);
	if (ident_field_is(f, flen, "ERROR")) {
		ident_field(line, len, &pos, true, &f, &flen);
		if (flen == 0)
			return out->status;
		for (size_t i = 0; i < flen; i++) {
			if (f[i] == ' ' || f[i] == ':')
				return out->status;
		}
		ident_copy(out->error, sizeof(out->error), f, flen);
		out->status = IDENT_ERROR;
		return out->status;
	}
	if (!ident_field_is(f, flen, "USERID") || pos >= len)
		return out->status;
	ident_field(line, len, &pos, false, &f, &flen);
	if (flen == 0 || pos > len || line[pos - 1] != ':')
		return out->status;
	const char *comma = memchr(f, ',', flen);
	if (comma) {
		const char *cs = comma + 1;
		size_t cslen = flen - (size_t)(cs - f);
		while (cslen && (*cs == ' ' || *cs == '\t')) {
			cs++;
			cslen--;
		}
		ident_copy(out->charset, sizeof(out->charset), cs, cslen);
		flen = (size_t)(comma - f);
		while (flen && (f[flen - 1] == ' ' || f[flen - 1] == '\t'))
			flen--;
	}
	if (flen == 0)
		return out->status;
	ident_copy(out->opsys, sizeof(out->opsys), f, flen);
	/* The user id is the rest of the line, leading spaces dropped. */
	while (pos < len && (line[pos] == ' ' || line[pos] == '\t'))
		pos++;
	if (pos >= len)
		return out->status;
	ident_copy(out->userid, sizeof(out->userid), line + pos, len - pos);
	out->status = IDENT_USERID;
	return out->status;
}

/* ---- per-source limit ------------------------------------------------ */

struct ident_slot {
	uint8_t ip[ADDR_KEY_LEN];    /* addr_source_key of the source */
	uint64_t last_ns;            /* 0: empty */
};

struct ident_limiter {
	pthread_mutex_t lock;
	size_t nbuckets;
	uint64_t interval_ns;
	struct ident_slot *slots;    /* nbuckets * IDENT_BUCKET */
};

struct ident_limiter *ident_limiter_new(size_t slots, uint64_t interval_ns)
{
	struct ident_limiter *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->nbuckets = slots / IDENT_BUCKET ? slots / IDENT_BUCKET : 1;
	l->interval_ns = interval_ns;
	l->slots = calloc(l->nbuckets * IDENT_BUCKET, sizeof(*l->slots));
	if (!l->slots || pthread_mutex_init(&l->lock, NULL) != 0) {
		free(l->slots);
		free(l);
		return NULL;
	}
	return l;
}

/* The bucket of a source key (FNV-1a). */
static size_t ident_limiter_bucket(const struct ident_limiter *l,
    const uint8_t ip[ADDR_KEY_LEN])
{
	uint64_t h = 1469598103934665603ULL;

	for (int i = 0; i < ADDR_KEY_LEN; i++)
		h = (h ^ ip[i]) * 1099511628211ULL;
	return (size_t)(h % l->nbuckets);
}

bool ident_limiter_allow(struct ident_limiter *l, const struct addr *a,
    uint64_t now_ns)
{
	uint8_t ip[ADDR_KEY_LEN];
	struct ident_slot *bucket, *free_slot = NULL;
	bool allow = false;

	addr_source_key(a, ip);   /* v4-mapped is IPv4; IPv6 counts by /64 */
	pthread_mutex_lock(&l->lock);
	bucket = &l->slots[ident_limiter_bucket(l, ip) * IDENT_BUCKET];
	for (int i = 0; i < IDENT_BUCKET; i++) {
		struct ident_slot *sl = &bucket[i];
		bool fresh = sl->last_ns && now_ns - sl->last_ns < l->interval_ns;
		if (sl->last_ns && memcmp(sl->ip, ip, ADDR_KEY_LEN) == 0) {
			if (!fresh)
				sl->last_ns = now_ns;
			allow = !fresh;
			goto out;
		}
		if (!fresh && !free_slot)
			free_slot = sl;
	}
	if (free_slot) {
		memcpy(free_slot->ip, ip, ADDR_KEY_LEN);
		free_slot->last_ns = now_ns ? now_ns : 1;
		allow = true;
	}
out:
	pthread_mutex_unlock(&l->lock);
	return allow;
}

void ident_limiter_forget(struct ident_limiter *l, const struct addr *a,
    uint64_t now_ns)
{
	uint8_t ip[ADDR_KEY_LEN];
	uint64_t stamp = now_ns ? now_ns : 1;
	struct ident_slot *bucket;

	addr_source_key(a, ip);
	pthread_mutex_lock(&l->lock);
	bucket = &l->slots[ident_limiter_bucket(l, ip) * IDENT_BUCKET];
	for (int i = 0; i < IDENT_BUCKET; i++) {
		/* Only the mark that allow set: a later probe's stays. An
		 * empty slot and a stale entry allow the same. */
		if (bucket[i].last_ns == stamp &&
		    memcmp(bucket[i].ip, ip, ADDR_KEY_LEN) == 0)
			bucket[i].last_ns = 0;
	}
	pthread_mutex_unlock(&l->lock);
}

void ident_limiter_free(struct ident_limiter *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l->slots);
	free(l);
}

/* ---- the probe ------------------------------------------------------- */

struct ident_probe {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t connect;
	uv_write_t write;
	struct list_link link;       /* in the loop's list of probes */
	ident_result_fn *result;     /* NULL once detached or cancelled */
	ident_hand_off_fn *hand_off;
	void *session, *owner;       /* their arguments */
	struct record *record;       /* the closed session's record, waiting */
	atomic_int *inflight;        /* the count this probe is in */
	uint64_t session_start_ns;
	uint64_t sent_ns;
	unsigned peer_port, local_port;
	char query[32];
	char line[IDENT_REPLY_MAX + 1];
	size_t len;
	int open_handles;            /* tcp and timer: freed when both closed */
	bool done;
};

static void ident_on_handle_closed(uv_handle_t *h)
{
	struct ident_probe *p = h->data;

	if (--p->open_handles == 0)
		free(p);
}

/* Ends the probe with status: gives the result to the open session, or
 * puts it into the waiting record, which is then handed on. */
static void ident_finish(struct ident_probe *p, enum ident_status status,
    const struct ident_reply *reply)
{
	struct record_ident *res;

	if (p->done)
		return;
	p->done = true;
	list_remove(&p->link);
	atomic_fetch_sub(p->inflight, 1);
	res = calloc(1, sizeof(*res));
	if (res) {
		res->status = status;
		res->sent_ms = (int64_t)((p->sent_ns - p->session_start_ns) / NS_PER_MS);
		res->reply_ms = -1;
		if (reply) {
			res->reply_ms = (int64_t)((uv_hrtime() - p->session_start_ns) / NS_PER_MS);
			snprintf(res->opsys, sizeof(res->opsys), "%s", reply->opsys);
			snprintf(res->charset, sizeof(res->charset), "%s", reply->charset);
			snprintf(res->userid, sizeof(res->userid), "%s", reply->userid);
			snprintf(res->error, sizeof(res->error), "%s", reply->error);
		}
		if (p->len)
			text_escape_into(p->line, p->len, res->reply, sizeof(res->reply), false);
	}
	if (p->result) {
		p->result(p->session, res);
	} else if (p->record) {
		p->record->ident = res;
		p->hand_off(p->owner, p->record);
		p->record = NULL;
	} else {
		free(res);
	}
	uv_close((uv_handle_t *)&p->tcp, ident_on_handle_closed);
	uv_close((uv_handle_t *)&p->timer, ident_on_handle_closed);
}

static void ident_on_timeout(uv_timer_t *t)
{
	ident_finish(t->data, IDENT_TIMEOUT, NULL);
}

static void ident_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct ident_probe *p = h->data;

	(void)suggested;
	*buf = uv_buf_init(p->line + p->len, (unsigned)(IDENT_REPLY_MAX - p->len));
}

static void ident_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct ident_probe *p = stream->data;
	struct ident_reply reply;

	(void)buf;
	if (nread == 0 || p->done)
		return;
	if (nread < 0) {
		/* Closed (or reset) without a whole line: whatever came is
		 * not a reply. */
		ident_finish(p, IDENT_MALFORMED, NULL);
		return;
	}
	p->len += (size_t)nread;
	ssize_t n = ident_reply_frame(p->line, p->len);
	if (n == -2)
		return;
	if (n == -1) {
		ident_finish(p, IDENT_MALFORMED, NULL);
		return;
	}
	p->len = (size_t)n;          /* keep the line, without its end */
	enum ident_status st = ident_parse_reply(p->line, p->len, p->peer_port,
	    p->local_port, &reply);
	ident_finish(p, st, &reply);
}

static void ident_on_written(uv_write_t *req, int status)
{
	struct ident_probe *p = req->data;

	if (status < 0 && !p->done)
		ident_finish(p, IDENT_MALFORMED, NULL);
}

static void ident_on_connect(uv_connect_t *req, int status)
{
	struct ident_probe *p = req->data;
	uv_buf_t b;

	if (p->done)
		return;
	if (status == UV_ECONNREFUSED) {
		ident_finish(p, IDENT_REFUSED, NULL);
		return;
	}
	if (status == UV_ETIMEDOUT) {
		ident_finish(p, IDENT_TIMEOUT, NULL);
		return;
	}
	if (status < 0) {
		ident_finish(p, IDENT_UNREACHABLE, NULL);
		return;
	}
	b = uv_buf_init(p->query, (unsigned)strlen(p->query));
	p->write.data = p;
	if (uv_write(&p->write, (uv_stream_t *)&p->tcp, &b, 1, ident_on_written) < 0 ||
	    uv_read_start((uv_stream_t *)&p->tcp, ident_on_alloc, ident_on_read) < 0)
		ident_finish(p, IDENT_UNREACHABLE, NULL);
}

bool ident_probe_start(uv_loop_t *loop, struct ident_limiter *l,
    const struct ident_probe_params *pp, struct ident_probe **probe)
{
	struct ident_probe *p;
	struct addr local, target;
	uint64_t now = pp->now_ns;

	if (pp->probability < 1.0 &&
	    (double)(record_new_id() >> 11) * 0x1.0p-53 >= pp->probability)
		return false;
	if (atomic_fetch_add(pp->inflight, 1) >= pp->max_inflight) {
		atomic_fetch_sub(pp->inflight, 1);
		return false;
	}
	if (!ident_limiter_allow(l, &pp->peer, now)) {
		atomic_fetch_sub(pp->inflight, 1);
		return false;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		atomic_fetch_sub(pp->inflight, 1);
		ident_limiter_forget(l, &pp->peer, now);
		return false;
	}
	p->result = pp->result;
	p->hand_off = pp->hand_off;
	p->session = pp->session;
	p->owner = pp->owner;
	p->inflight = pp->inflight;
	p->session_start_ns = pp->start_ns;
	p->sent_ns = now;
	p->peer_port = addr_port(&pp->peer);
	p->local_port = addr_port(&pp->local);
	snprintf(p->query, sizeof(p->query), "%u , %u\r\n", p->peer_port, p->local_port);
	list_init(&p->link);
	list_append(pp->probes, &p->link);
	*probe = p;

	/* From the address the peer connected to, to the peer and nobody
	 * else: the probe's target is built from the session's source. */
	local = pp->local;
	if (local.u.sa.sa_family == AF_INET6)
		local.u.v6.sin6_port = 0;
	else
		local.u.v4.sin_port = 0;
	target = pp->peer;
	if (target.u.sa.sa_family == AF_INET6)
		target.u.v6.sin6_port = htons(pp->port);
	else
		target.u.v4.sin_port = htons(pp->port);

	uv_tcp_init(loop, &p->tcp);
	uv_timer_init(loop, &p->timer);
	p->tcp.data = p->timer.data = p->connect.data = p;
	p->open_handles = 2;
	uv_timer_start(&p->timer, ident_on_timeout, pp->timeout_ms, 0);
	int rc = uv_tcp_bind(&p->tcp, &local.u.sa, 0);
	if (rc == UV_EMFILE || rc == UV_ENFILE) {
		/* No fd for the probe's socket: flypaper is at its fd limit,
		 * the peer is not unreachable. Not probed (status none), and
		 * the source may be probed at its next session. */
		*probe = NULL;
		ident_cancel(p);
		ident_limiter_forget(l, &pp->peer, now);
		return false;
	}
	if (rc == 0)
		rc = uv_tcp_connect(&p->connect, &p->tcp, &target.u.sa, ident_on_connect);
	if (rc < 0)
		ident_finish(p, rc == UV_ECONNREFUSED ? IDENT_REFUSED : IDENT_UNREACHABLE, NULL);
	return true;
}

void ident_detach(struct ident_probe *p, struct record *r)
{
	p->result = NULL;
	p->record = r;
}

void ident_cancel(struct ident_probe *p)
{
	p->result = NULL;
	p->record = NULL;
	ident_finish(p, IDENT_NONE, NULL);
}

void ident_abort_all(struct list_link *probes)
{
	while (!list_empty(probes)) {
		struct ident_probe *p = list_entry(probes->next, struct ident_probe, link);
		ident_finish(p, IDENT_NONE, NULL);
	}
}
