/* jsonl.c - JSON lines with stable field types, built with jansson and
 * nettle's base64. */
#include "jsonl.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <nettle/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "p0fdb.h"
#include "shape.h"
#include "state.h"
#include "synsig.h"
#include "text.h"
#include "tlshello.h"

struct jsonl {
	char *path;
	char *sensor;
	struct shape_cache *shapes;  /* the shapes of the last payloads */
	int fd;
	int owns_fd;                 /* 0 for standard output */
	bool torn;                   /* a cut write left a partial line at the end:
	                              * the next batch starts with a newline */
};

/* Never follows a symlink, nor appends to another user's file. */
static int jsonl_open_fd(const char *path, char *err, size_t errlen)
{
	return state_open(path, O_WRONLY | O_APPEND | O_CREAT, err, errlen);
}

struct jsonl *jsonl_open(const char *path, const char *sensor, char *err,
    size_t errlen)
{
	struct jsonl *j = calloc(1, sizeof(*j));

	if (!j || !(j->path = strdup(path)) || !(j->sensor = strdup(sensor)) ||
	    !(j->shapes = calloc(1, sizeof(*j->shapes)))) {
		snprintf(err, errlen, "out of memory");
		jsonl_close(j);
		return NULL;
	}
	if (strcmp(path, "-") == 0) {
		j->fd = STDOUT_FILENO;
		return j;
	}
	j->fd = jsonl_open_fd(path, err, errlen);
	if (j->fd < 0) {
		jsonl_close(j);
		return NULL;
	}
	j->owns_fd = 1;
	return j;
}

int jsonl_reopen(struct jsonl *j, char *err, size_t errlen)
{
	int fd;

	if (!j->owns_fd)
		return 0;
	fd = jsonl_open_fd(j->path, err, errlen);
	if (fd < 0)
		return -1;
	close(j->fd);
	j->fd = fd;
	return 0;
}

/* One event being built. Every string goes in through jsonl_str, so a
 * string jansson refuses costs that field's bytes, not the event. */
struct jsonl_event {
	json_t *obj;
	json_t *escaped;             /* names of fields sent escaped; NULL: none */
	bool failed;                 /* memory ran out: the event is lost */
};

/* A JSON string of s. Peer bytes are escaped (\xNN) before they get here,
 * so jansson refuses only a string that should never come (one that is not
 * UTF-8, from a rule file or a future field): that one goes out escaped
 * the same way and its field is named in "escaped_fields". Returns NULL
 * only when memory runs out. */
static json_t *jsonl_str(struct jsonl_event *ev, const char *field, const char *s)
{
	json_t *v;
	char *text;

	if (!s)
		s = "";
	if ((v = json_string(s)) != NULL)
		return v;
	text = text_escape(s, strlen(s), false);
	v = text ? json_string(text) : NULL;
	free(text);
	if (!ev->escaped)
		ev->escaped = json_array();
	bool listed = false;
	size_t i;
	json_t *name;
	json_array_foreach(ev->escaped, i, name)
		listed |= strcmp(json_string_value(name), field) == 0;
	if (!listed && json_array_append_new(ev->escaped, json_string(field)) < 0)
		ev->failed = true;
	return v;
}

/* Sets field to v (a new reference, NULL when memory ran out). */
static void jsonl_set(struct jsonl_event *ev, const char *field, json_t *v)
{
	if (!v || json_object_set_new(ev->obj, field, v) < 0)
		ev->failed = true;
}

static void jsonl_set_str(struct jsonl_event *ev, const char *field, const char *s)
{
	jsonl_set(ev, field, jsonl_str(ev, field, s));
}

static void jsonl_set_int(struct jsonl_event *ev, const char *field, json_int_t n)
{
	jsonl_set(ev, field, json_integer(n));
}

/* Milliseconds, or null for -1. */
static void jsonl_set_ms(struct jsonl_event *ev, const char *field, int64_t ms)
{
	jsonl_set(ev, field, ms >= 0 ? json_integer(ms) : json_null());
}

/* Peer bytes (no NUL) as escaped text: the raw IDENT fields. */
static void jsonl_set_peer(struct jsonl_event *ev, const char *field, const char *raw)
{
	char *text = text_escape(raw, strlen(raw), false);

	jsonl_set(ev, field, text ? jsonl_str(ev, field, text) : NULL);
	free(text);
}

/* A span of the payload as escaped text. */
static void jsonl_set_span(struct jsonl_event *ev, const char *field,
    const struct record *r, struct record_span sp, bool keep_newlines)
{
	char *text;

	if (!r->payload || (size_t)sp.off + sp.len > r->payload_len) {
		jsonl_set_str(ev, field, "");
		return;
	}
	text = text_escape(r->payload + sp.off, sp.len, keep_newlines);
	jsonl_set(ev, field, text ? jsonl_str(ev, field, text) : NULL);
	free(text);
}

/* The fields every event starts with. */
static void jsonl_begin(struct jsonl_event *ev, const struct record *r,
    const char *eventid, const char *ts, const char *sensor)
{
	char id[RECORD_ID_LEN], src[ADDR_TEXT_LEN], dst[ADDR_TEXT_LEN];

	*ev = (struct jsonl_event){.obj = json_object()};
	if (!ev->obj) {
		ev->failed = true;
		return;
	}
	record_id_hex(r->id, id);
	addr_ip(&r->src, src, sizeof(src));
	addr_ip(&r->dst, dst, sizeof(dst));
	jsonl_set_str(ev, "eventid", eventid);
	jsonl_set_str(ev, "timestamp", ts);
	jsonl_set_str(ev, "sensor", sensor);
	jsonl_set_str(ev, "session", id);
	jsonl_set_str(ev, "src_ip", src);
	jsonl_set_int(ev, "src_port", addr_port(&r->src));
	jsonl_set_str(ev, "dst_ip", dst);
	jsonl_set_int(ev, "dst_port", addr_port(&r->dst));
	jsonl_set_str(ev, "protocol", "tcp");
	jsonl_set_str(ev, "strategy", r->strategy ? r->strategy : "");
}

/* The event as one line (NULL when memory ran out); *escaped tells whether
 * a field had to be escaped. Frees the event. */
static char *jsonl_end(struct jsonl_event *ev, bool *escaped)
{
	char *line = NULL;

	*escaped = ev->escaped != NULL;
	if (ev->escaped && json_object_set_new(ev->obj, "escaped_fields", ev->escaped) < 0)
		ev->failed = true;
	if (!ev->failed)
		line = json_dumps(ev->obj, JSON_COMPACT);
	json_decref(ev->obj);
	return line;
}

static void jsonl_set_payload_base64(struct jsonl_event *ev, const struct record *r)
{
	size_t cap = BASE64_ENCODE_RAW_LENGTH(r->payload_len) + 1;
	char *b64;

	if (!r->payload) {
		jsonl_set_str(ev, "payload", "");
		return;
	}
	b64 = malloc(cap);
	if (!b64) {
		ev->failed = true;
		return;
	}
	base64_encode_raw(b64, r->payload_len, r->payload);
	b64[cap - 1] = '\0';
	jsonl_set_str(ev, "payload", b64);
	free(b64);
}

/* A string field, or null when empty. */
static void jsonl_set_name(struct jsonl_event *ev, const char *field, const char *v)
{
	if (v && v[0])
		jsonl_set_str(ev, field, v);
	else
		jsonl_set(ev, field, json_null());
}

/* The TLS front's fields: null off a TLS listener; tls_hello is base64,
 * like the payload. */
static void jsonl_set_tls_front(struct jsonl_event *ev, const struct record_tls_front *t)
{
	static const char *const fields[] = {"tls_version", "tls_cipher", "tls_error",
	    "tls_alert", "tls_hello_ms", "tls_done_ms", "tls_raw_in", "tls_raw_out",
	    "tls_hello"};

	if (!t) {
		jsonl_set(ev, "tls_front", json_null());
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			jsonl_set(ev, fields[i], json_null());
		return;
	}
	jsonl_set_int(ev, "tls_front", 1);
	jsonl_set_name(ev, "tls_version", t->version);
	jsonl_set_name(ev, "tls_cipher", t->cipher);
	jsonl_set_name(ev, "tls_error", record_tls_error_name(t->error));
	jsonl_set_name(ev, "tls_alert", t->alert);
	jsonl_set_ms(ev, "tls_hello_ms", t->hello_ms);
	jsonl_set_ms(ev, "tls_done_ms", t->done_ms);
	jsonl_set_int(ev, "tls_raw_in", (json_int_t)t->raw_in);
	jsonl_set_int(ev, "tls_raw_out", (json_int_t)t->raw_out);
	if (!t->hello_len) {
		jsonl_set(ev, "tls_hello", json_null());
		return;
	}
	size_t cap = BASE64_ENCODE_RAW_LENGTH(t->hello_len) + 1;
	char *b64 = malloc(cap);
	if (!b64) {
		ev->failed = true;
		return;
	}
	base64_encode_raw(b64, t->hello_len, t->hello);
	b64[cap - 1] = '\0';
	jsonl_set_str(ev, "tls_hello", b64);
	free(b64);
}

/* What classification said, when it is known: class_state, family
 * (string or null), tags (array), rules and their families (arrays). */
static void jsonl_set_class(struct jsonl_event *ev, const struct record *r)
{
	const struct record_class *c = r->class;
	json_t *rules = json_array(), *families = json_array(), *tags = json_array();
	char tag[RECORD_TAGS_MAX];

	jsonl_set_str(ev, "class_state", record_class_name(r->class_state));
	jsonl_set(ev, "family", c && c->family[0] ? jsonl_str(ev, "family", c->family)
	    : json_null());
	/* "a,b,c" into ["a","b","c"] */
	for (const char *p = c ? c->tags : ""; tags && *p; ) {
		size_t n = strcspn(p, ",");
		snprintf(tag, sizeof(tag), "%.*s", (int)n, p);
		if (n && json_array_append_new(tags, jsonl_str(ev, "tags", tag)) < 0)
			ev->failed = true;
		p += n + (p[n] == ',');
	}
	for (int i = 0; rules && families && i < r->nmatches; i++) {
		char family[64];
		if (json_array_append_new(rules, jsonl_str(ev, "rules", r->matches[i].rule)) < 0 ||
		    (sscanf(r->matches[i].tags, "%63s", family) == 1 &&
		     json_array_append_new(families, jsonl_str(ev, "families", family)) < 0))
			ev->failed = true;
	}
	jsonl_set(ev, "tags", tags);
	jsonl_set(ev, "rules", rules);
	jsonl_set(ev, "families", families);
}

/* How the client talked (shape.h): its id, and the long form a reader can
 * make sense of; null for both without a payload. */
/* An int, or null when not known. */
static void jsonl_set_opt(struct jsonl_event *ev, const char *field, bool known, json_int_t n)
{
	jsonl_set(ev, field, known ? json_integer(n) : json_null());
}

/* The SYN fingerprint and TCP_INFO, flat, as the sessions columns. */
static void jsonl_set_syn(struct jsonl_event *ev, const struct record *r)
{
	const struct record_syn *syn = &r->syn;
	const struct record_tcpinfo *ti = &r->tcpi;
	bool have = syn->present == SYN_PARSED, v4 = have && syn->ver == 4;
	bool os = have && r->os.match != OS_MATCH_NONE;
	char sig[SYNSIG_SIG_MAX] = "", olayout[SYNSIG_OLAYOUT_MAX] = "";
	char quirks[SYNSIG_QUIRKS_MAX] = "", label[P0FDB_OS_TEXT_MAX] = "";

	if (have) {
		synsig_format(syn, sig);
		synsig_olayout(syn, olayout);
		synsig_quirks(syn->quirks, quirks);
	}
	if (os)
		p0fdb_os_text(&r->os, label);
	jsonl_set(ev, "syn_sig", have ? json_string(sig) : json_null());
	jsonl_set_opt(ev, "syn_ver", have, syn->ver);
	jsonl_set_opt(ev, "syn_ttl", have, syn->ttl);
	jsonl_set_opt(ev, "syn_ittl", have, r->os.ittl);
	jsonl_set_opt(ev, "hops", have && r->os.hops >= 0, r->os.hops);
	jsonl_set_opt(ev, "syn_df", v4, syn->df);
	jsonl_set_opt(ev, "syn_ipid", v4, syn->ip_id);
	jsonl_set_opt(ev, "syn_win", have, syn->win);
	jsonl_set_opt(ev, "syn_mss", have && synsig_has_option(syn, 2), syn->mss);
	jsonl_set_opt(ev, "syn_wscale", have && syn->wscale >= 0, syn->wscale);
	jsonl_set(ev, "syn_olayout", have ? json_string(olayout) : json_null());
	jsonl_set_opt(ev, "syn_ts", have, syn->ts);
	jsonl_set(ev, "syn_quirks", have ? json_string(quirks) : json_null());
	/* the label comes from a file: it may not be UTF-8 */
	jsonl_set(ev, "os", os ? jsonl_str(ev, "os", label) : json_null());
	jsonl_set(ev, "os_class", os ? jsonl_str(ev, "os_class", r->os.class_) : json_null());
	jsonl_set(ev, "os_match", os ? json_string(p0fdb_match_name(r->os.match)) : json_null());
	jsonl_set(ev, "syn_of", have ? json_string(syn->of_proxy ? "proxy" : "peer") : json_null());
	jsonl_set_opt(ev, "rtt_us", ti->present, ti->rtt_us);
	jsonl_set_opt(ev, "rttvar_us", ti->present, ti->rttvar_us);
	jsonl_set_opt(ev, "retrans", ti->present, ti->retrans);
	jsonl_set_opt(ev, "peer_mss", ti->present, ti->peer_mss);
	jsonl_set_opt(ev, "peer_window", ti->present && ti->has_snd_wnd, ti->peer_window);
	jsonl_set_opt(ev, "zero_window", ti->present, ti->zero_window);
	jsonl_set_opt(ev, "rwnd_limited_ms", ti->present && ti->has_rwnd_limited,
	    (json_int_t)(ti->rwnd_limited_us / 1000));
}

/* The ClientHello's facts, null when no TLS was seen; tlshello_text
 * escapes the peer's strings (SNI, ALPN) as text.h does. */
static void jsonl_set_tls_hello(struct jsonl_event *ev, const struct tlshello *h)
{
	int rec = tlshello_record_version(h), hello = tlshello_hello_version(h);
	const char *state = tlshello_state_name(tlshello_state(h));

	jsonl_set(ev, "tls", state ? json_string(state) : json_null());
	jsonl_set(ev, "tls_record_ver", rec >= 0 ? json_integer(rec) : json_null());
	jsonl_set(ev, "tls_hello_ver", hello >= 0 ? json_integer(hello) : json_null());
	for (int f = 0; f < TLSHELLO_F_COUNT; f++) {
		const char *name = tlshello_field_name((enum tlshello_field)f);
		char *text = tlshello_text(h, (enum tlshello_field)f);
		if (text)
			jsonl_set_str(ev, name, text);
		else
			jsonl_set(ev, name, json_null());
		free(text);
	}
}

static void jsonl_set_shape(struct jsonl_event *ev, const struct record *r,
    struct shape_cache *shapes)
{
	struct shape own;
	const struct shape *shape = NULL;

	if (r->payload && shapes)
		shape = shape_of_cached(shapes, r->sha256, r->payload, r->payload_len,
		    r->nrequests + r->requests_dropped);
	else if (r->payload && shape_of(r->payload, r->payload_len,
	             r->nrequests + r->requests_dropped, &own))
		shape = &own;
	if (shape) {
		jsonl_set_str(ev, "shape", shape->id);
		jsonl_set_str(ev, "shape_text", shape->text);
	} else {
		jsonl_set(ev, "shape", json_null());
		jsonl_set(ev, "shape_text", json_null());
	}
}

/* How the peer reacted: timing, IDENT, HTTP parse. */
static void jsonl_set_reaction(struct jsonl_event *ev, const struct record *r)
{
	const struct record_ident *id = r->ident;
	const char *http = record_http_name(r->http);

	jsonl_set_ms(ev, "first_out_ms", r->first_out_ms);
	jsonl_set_str(ev, "closed_by", r->closed_by_peer ? "peer" : "server");
	jsonl_set_ms(ev, "peer_close_after_out_ms", r->peer_close_after_out_ms);
	jsonl_set_ms(ev, "peer_close_after_ident_ms", r->peer_close_after_ident_ms);
	jsonl_set_str(ev, "ident_status", record_ident_name(id ? id->status : IDENT_NONE));
	jsonl_set_str(ev, "ident_reply", id ? id->reply : "");    /* escaped already */
	jsonl_set_peer(ev, "ident_opsys", id ? id->opsys : "");
	jsonl_set_peer(ev, "ident_charset", id ? id->charset : "");
	jsonl_set_peer(ev, "ident_userid", id ? id->userid : "");
	jsonl_set_peer(ev, "ident_error", id ? id->error : "");
	jsonl_set_ms(ev, "ident_sent_ms", id ? id->sent_ms : -1);
	jsonl_set_ms(ev, "ident_reply_ms", id ? id->reply_ms : -1);
	jsonl_set_str(ev, "http", http ? http : "");
	jsonl_set_int(ev, "requests", (json_int_t)(r->nrequests + r->requests_dropped));
	jsonl_set_class(ev, r);
}

static char *jsonl_format_request_line(const struct record *r, uint32_t i,
    const char *sensor, bool *escaped)
{
	const struct record_request *q = &r->requests[i];
	char ts[RECORD_TS_LEN];
	struct timespec at = r->start_wall;
	struct jsonl_event ev;

	at.tv_sec += q->at_ms / 1000;
	at.tv_nsec += (q->at_ms % 1000) * 1000000L;
	if (at.tv_nsec >= 1000000000L) {
		at.tv_sec++;
		at.tv_nsec -= 1000000000L;
	}
	record_format_ts(&at, ts);
	jsonl_begin(&ev, r, "flypaper.http.request", ts, sensor);
	jsonl_set_int(&ev, "seq", (json_int_t)i + 1);
	jsonl_set_int(&ev, "at_ms", (json_int_t)q->at_ms);
	jsonl_set_span(&ev, "method", r, q->method, false);
	jsonl_set_span(&ev, "target", r, q->target, false);
	jsonl_set_span(&ev, "version", r, q->version, false);
	jsonl_set_span(&ev, "host", r, q->host, false);
	jsonl_set_span(&ev, "user_agent", r, q->user_agent, false);
	jsonl_set_span(&ev, "headers", r, q->headers, true);
	jsonl_set_int(&ev, "body_bytes", (json_int_t)q->body_bytes);
	return jsonl_end(&ev, escaped);
}

static char *jsonl_format_line(const struct record *r, const char *sensor,
    struct shape_cache *shapes, bool *escaped)
{
	char ts[RECORD_TS_LEN], start[RECORD_TS_LEN], sha[RECORD_SHA256_HEX] = "";
	bool closed = r->kind == RECORD_CLOSED;
	struct jsonl_event ev;

	record_format_ts(&r->start_wall, start);
	if (r->kind == RECORD_CLASSIFIED) {
		/* The verdict on a session written before: when it came, on
		 * which payload, and what it says. */
		record_format_ts(&r->end_wall, ts);
		record_sha256_hex(r->sha256, sha);
		jsonl_begin(&ev, r, "flypaper.session.classified", ts, sensor);
		jsonl_set_str(&ev, "start_ts", start);
		jsonl_set_str(&ev, "payload_sha256", sha);
		jsonl_set_class(&ev, r);
		return jsonl_end(&ev, escaped);
	}
	record_format_ts(closed ? &r->end_wall : &r->start_wall, ts);
	jsonl_begin(&ev, r, closed ? "flypaper.session.closed" : "flypaper.session.connect",
	    ts, sensor);
	if (closed) {
		if (r->payload_len)
			record_sha256_hex(r->sha256, sha);
		jsonl_set_str(&ev, "start_ts", start);
		jsonl_set_str(&ev, "end_ts", ts);
		jsonl_set_int(&ev, "duration_ms", (json_int_t)r->duration_ms);
		jsonl_set_int(&ev, "bytes_in", (json_int_t)r->bytes_in);
		jsonl_set_int(&ev, "bytes_out", (json_int_t)r->bytes_out);
		jsonl_set_ms(&ev, "first_byte_ms", r->first_byte_ms);
		jsonl_set_int(&ev, "payload_size", (json_int_t)r->payload_len);
		jsonl_set_str(&ev, "payload_sha256", sha);
		jsonl_set_str(&ev, "close_reason", record_reason_name(r->reason));
		jsonl_set_int(&ev, "truncated_bytes", (json_int_t)(r->bytes_in - r->payload_len));
		jsonl_set(&ev, "truncated", json_boolean(r->truncated));
		jsonl_set(&ev, "payload_lost", json_boolean(r->payload_lost));
		jsonl_set_payload_base64(&ev, r);
		jsonl_set(&ev, "limit", record_limit_name(r->limit)
		    ? json_string(record_limit_name(r->limit)) : json_null());
		jsonl_set_shape(&ev, r, shapes);
		jsonl_set_reaction(&ev, r);

		/* syn fields */
		jsonl_set_syn(&ev, r);

		/* proxy fields */
		{
			const char *pv = record_proxy_name(r->proxy);
			const char *pe = record_proxy_error_name(r->proxy_error);
			char via[ADDR_TEXT_LEN], via_dst[ADDR_TEXT_LEN];
			jsonl_set(&ev, "proxy", pv ? json_string(pv) : json_null());
			jsonl_set(&ev, "proxy_error", pe ? json_string(pe) : json_null());
			jsonl_set(&ev, "via_ip", r->via
			    ? json_string(addr_ip(&r->via_src, via, sizeof(via))) : json_null());
			jsonl_set(&ev, "via_port", r->via
			    ? json_integer(addr_port(&r->via_src)) : json_null());
			jsonl_set(&ev, "via_dst_ip", r->via
			    ? json_string(addr_ip(&r->via_dst, via_dst, sizeof(via_dst))) : json_null());
			jsonl_set(&ev, "via_dst_port", r->via
			    ? json_integer(addr_port(&r->via_dst)) : json_null());
		}

		/* halfopen fields */
		if (r->reason == CLOSE_SYN_ONLY || r->reason == CLOSE_RST_AFTER_SYNACK) {
			jsonl_set(&ev, "handshakes", r->handshakes
			    ? json_integer((json_int_t)r->handshakes) : json_null());
			jsonl_set(&ev, "summary", record_summary_name(r->summary)
			    ? json_string(record_summary_name(r->summary)) : json_null());
			jsonl_set_int(&ev, "syn_retries", (json_int_t)r->syn_retries);
		} else {
			jsonl_set(&ev, "handshakes", json_null());
			jsonl_set(&ev, "summary", json_null());
			jsonl_set(&ev, "syn_retries", json_null());
		}

		/* pcap fields */
		jsonl_set(&ev, "pcap_file", r->pcap_file[0]
		    ? json_string(r->pcap_file) : json_null());

		/* tls hello fields */
		jsonl_set_tls_hello(&ev, r->tls);

		/* tls front fields */
		jsonl_set_tls_front(&ev, r->tls_front);

		/* experiment fields */
		jsonl_set_name(&ev, "experiment", r->experiment);
		jsonl_set_name(&ev, "experiment_id", r->experiment_id);
	}
	return jsonl_end(&ev, escaped);
}

char *jsonl_format(const struct record *r, const char *sensor)
{
	bool escaped;

	return jsonl_format_line(r, sensor, NULL, &escaped);
}

/* Writes all of buf; returns the bytes written before an error (len on
 * success). */
static size_t jsonl_write_all(int fd, const char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return done;
}

/* A write stopped inside a line, after its first partial bytes: the next
 * event must not be glued to that half. Cuts the half line off the file
 * when the file still ends where the write stopped (nothing appended
 * since, by another inetd child); otherwise (a pipe, or someone wrote
 * after it) the next batch begins with a newline, so the half line stands
 * alone. */
static void jsonl_cut_partial(struct jsonl *j, size_t partial)
{
	struct stat st;
	off_t end = lseek(j->fd, 0, SEEK_CUR);

	if (end >= (off_t)partial && fstat(j->fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size == end && ftruncate(j->fd, end - (off_t)partial) == 0) {
		lseek(j->fd, end - (off_t)partial, SEEK_SET);
		return;
	}
	j->torn = true;
}

/* Where the lines with a field escaped end in a batch, so that a write cut
 * short counts only those that made it. Such lines should never come: the
 * array stays empty, and unallocated, almost always. */
struct jsonl_marks {
	size_t *end;                 /* offset just past each one's newline */
	size_t n, cap;
	uint64_t unplaced;           /* memory ran out: counted as written */
};

static void jsonl_mark(struct jsonl_marks *m, size_t end)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 16;
		size_t *grown = realloc(m->end, cap * sizeof(*grown));
		if (!grown) {
			m->unplaced++;
			return;
		}
		m->end = grown;
		m->cap = cap;
	}
	m->end[m->n++] = end;
}

/* The marked lines that end at or before offset upto. */
static uint64_t jsonl_marks_upto(const struct jsonl_marks *m, size_t upto)
{
	uint64_t n = m->unplaced;

	for (size_t i = 0; i < m->n; i++)
		n += m->end[i] <= upto;
	return n;
}

uint64_t jsonl_write(struct jsonl *j, const struct record *list,
    uint64_t *escaped)
{
	char *batch = NULL;
	size_t len = 0, start = 0;
	uint64_t lines = 0, failed = 0;
	struct jsonl_marks marks = {0};
	FILE *mem = open_memstream(&batch, &len);

	*escaped = 0;
	if (!mem) {
		for (const struct record *r = list; r; r = r->next)
			failed++;
		return failed;
	}
	if (j->torn) {
		fputc('\n', mem);
		start = 1;
	}
	for (const struct record *r = list; r; r = r->next) {
		/* The requests came before the close: their events first. */
		uint32_t nreq = r->kind == RECORD_CLOSED && r->payload ? r->nrequests : 0;
		for (uint32_t i = 0; i <= nreq; i++) {
			bool esc = false;
			char *line = i < nreq ? jsonl_format_request_line(r, i, j->sensor, &esc)
			                      : jsonl_format_line(r, j->sensor, j->shapes, &esc);
			if (!line) {
				failed++;
				continue;
			}
			fputs(line, mem);
			fputc('\n', mem);
			free(line);
			lines++;
			if (esc) {
				off_t end = ftello(mem);
				if (end >= 0)
					jsonl_mark(&marks, (size_t)end);
				else
					marks.unplaced++;
			}
		}
	}
	if (fclose(mem) != 0) {
		free(batch);
		free(marks.end);
		return failed + lines;
	}
	if (len > start) {
		size_t done = jsonl_write_all(j->fd, batch, len);
		if (done == len) {
			j->torn = false;
			*escaped = jsonl_marks_upto(&marks, len);
		} else if (done > 0) {
			/* Whole lines that made it stay; the rest is counted. */
			size_t last = done;
			uint64_t whole = 0;
			while (last > 0 && batch[last - 1] != '\n')
				last--;
			for (size_t k = start; k < last; k++)
				whole += batch[k] == '\n';
			failed += lines - whole;
			*escaped = jsonl_marks_upto(&marks, last);
			j->torn = false;
			if (last < done)
				jsonl_cut_partial(j, done - last);
		} else {
			failed += lines;
		}
	}
	free(batch);
	free(marks.end);
	return failed;
}

void jsonl_close(struct jsonl *j)
{
	if (!j)
		return;
	if (j->owns_fd)
		close(j->fd);
	free(j->path);
	free(j->sensor);
	free(j->shapes);
	free(j);
}
