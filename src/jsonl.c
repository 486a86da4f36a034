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
#include <unistd.h>

#include "ident.h"
#include "text.h"

struct jsonl {
	char *path;
	char *sensor;
	int fd;
	int owns_fd;                 /* 0 for standard output */
};

static int jsonl_open_fd(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

struct jsonl *jsonl_open(const char *path, const char *sensor, char *err,
    size_t errlen)
{
	struct jsonl *j = calloc(1, sizeof(*j));

	if (!j || !(j->path = strdup(path)) || !(j->sensor = strdup(sensor))) {
		snprintf(err, errlen, "out of memory");
		jsonl_close(j);
		return NULL;
	}
	if (strcmp(path, "-") == 0) {
		j->fd = STDOUT_FILENO;
		return j;
	}
	j->fd = jsonl_open_fd(path);
	if (j->fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
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
	fd = jsonl_open_fd(j->path);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", j->path, strerror(errno));
		return -1;
	}
	close(j->fd);
	j->fd = fd;
	return 0;
}

static json_t *jsonl_payload_base64(const struct record *r)
{
	size_t cap = BASE64_ENCODE_RAW_LENGTH(r->payload_len) + 1;
	char *b64;
	json_t *s;

	if (!r->payload)
		return json_string("");
	b64 = malloc(cap);
	if (!b64)
		return NULL;
	base64_encode_raw(b64, r->payload_len, r->payload);
	b64[cap - 1] = '\0';
	s = json_string(b64);
	free(b64);
	return s;
}

static json_t *jsonl_ms(int64_t ms)
{
	return ms >= 0 ? json_integer(ms) : json_null();
}

/* How the peer reacted: timing, IDENT, HTTP parse. */
static json_t *jsonl_reaction(const struct record *r)
{
	const struct record_ident *id = r->ident;
	const char *http = record_http_name(r->http);

	json_t *rules = json_array(), *families = json_array();
	for (int i = 0; i < r->nmatches; i++) {
		char family[64];
		json_array_append_new(rules, json_string(r->matches[i].rule));
		sscanf(r->matches[i].tags, "%63s", family);
		if (r->matches[i].tags[0])
			json_array_append_new(families, json_string(family));
	}
	return json_pack("{s:o, s:s, s:o, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:I,"
	                 " s:o, s:o}",
	    "first_out_ms", jsonl_ms(r->first_out_ms),
	    "closed_by", r->closed_by_peer ? "peer" : "server",
	    "peer_close_after_out_ms", jsonl_ms(r->peer_close_after_out_ms),
	    "peer_close_after_ident_ms", jsonl_ms(r->peer_close_after_ident_ms),
	    "ident_status", ident_status_name(id ? id->status : IDENT_NONE),
	    "ident_reply", id ? id->reply : "",
	    "ident_opsys", id ? id->opsys : "",
	    "ident_charset", id ? id->charset : "",
	    "ident_userid", id ? id->userid : "",
	    "ident_error", id ? id->error : "",
	    "ident_sent_ms", jsonl_ms(id ? id->sent_ms : -1),
	    "ident_reply_ms", jsonl_ms(id ? id->reply_ms : -1),
	    "http", http ? http : "",
	    "requests", (json_int_t)(r->nrequests + r->requests_dropped),
	    "rules", rules, "families", families);
}

/* A span of the payload as escaped text. */
static json_t *jsonl_span(const struct record *r, struct record_span sp,
    bool keep_newlines)
{
	json_t *s;
	char *text;

	if (!r->payload || (size_t)sp.off + sp.len > r->payload_len)
		return json_string("");
	text = text_escape(r->payload + sp.off, sp.len, keep_newlines);
	if (!text)
		return NULL;
	s = json_string(text);
	free(text);
	return s;
}

char *jsonl_format_request(const struct record *r, uint32_t i, const char *sensor)
{
	const struct record_request *q = &r->requests[i];
	char id[RECORD_ID_LEN], ts[RECORD_TS_LEN];
	char src[ADDR_TEXT_LEN], dst[ADDR_TEXT_LEN];
	struct timespec at = r->start_wall;
	json_t *o;
	char *line;

	at.tv_sec += q->at_ms / 1000;
	at.tv_nsec += (q->at_ms % 1000) * 1000000L;
	if (at.tv_nsec >= 1000000000L) {
		at.tv_sec++;
		at.tv_nsec -= 1000000000L;
	}
	record_id_hex(r->id, id);
	record_format_ts(&at, ts);
	addr_ip(&r->src, src, sizeof(src));
	addr_ip(&r->dst, dst, sizeof(dst));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:i, s:s, s:s, s:i, s:I,"
	              " s:o, s:o, s:o, s:o, s:o, s:o, s:I}",
	    "eventid", "flypaper.http.request", "timestamp", ts, "sensor", sensor,
	    "session", id, "src_ip", src, "src_port", (int)addr_port(&r->src),
	    "dst_ip", dst, "dst_port", (int)addr_port(&r->dst), "protocol", "tcp",
	    "strategy", r->strategy ? r->strategy : "",
	    "seq", (int)i + 1, "at_ms", (json_int_t)q->at_ms,
	    "method", jsonl_span(r, q->method, false),
	    "target", jsonl_span(r, q->target, false),
	    "version", jsonl_span(r, q->version, false),
	    "host", jsonl_span(r, q->host, false),
	    "user_agent", jsonl_span(r, q->user_agent, false),
	    "headers", jsonl_span(r, q->headers, true),
	    "body_bytes", (json_int_t)q->body_bytes);
	if (!o)
		return NULL;
	line = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return line;
}

char *jsonl_format(const struct record *r, const char *sensor)
{
	char id[RECORD_ID_LEN], ts[RECORD_TS_LEN], start[RECORD_TS_LEN];
	char src[ADDR_TEXT_LEN], dst[ADDR_TEXT_LEN], sha[RECORD_SHA256_HEX] = "";
	json_t *o;
	char *line;

	record_id_hex(r->id, id);
	record_format_ts(&r->start_wall, start);
	record_format_ts(r->kind == RECORD_CLOSED ? &r->end_wall : &r->start_wall, ts);
	addr_ip(&r->src, src, sizeof(src));
	addr_ip(&r->dst, dst, sizeof(dst));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:i, s:s, s:s}",
	    "eventid", r->kind == RECORD_CLOSED ? "flypaper.session.closed"
	                                        : "flypaper.session.connect",
	    "timestamp", ts, "sensor", sensor, "session", id,
	    "src_ip", src, "src_port", (int)addr_port(&r->src),
	    "dst_ip", dst, "dst_port", (int)addr_port(&r->dst),
	    "protocol", "tcp", "strategy", r->strategy ? r->strategy : "");
	if (!o)
		return NULL;
	if (r->kind == RECORD_CLOSED) {
		json_t *payload = jsonl_payload_base64(r);
		if (r->payload_len)
			record_sha256_hex(r->sha256, sha);
		if (!payload ||
		    json_object_update_new(o, json_pack(
		        "{s:s, s:s, s:I, s:I, s:I, s:o, s:I, s:s, s:s, s:I, s:b, s:b, s:o, s:o}",
		        "start_ts", start, "end_ts", ts,
		        "duration_ms", (json_int_t)r->duration_ms,
		        "bytes_in", (json_int_t)r->bytes_in,
		        "bytes_out", (json_int_t)r->bytes_out,
		        "first_byte_ms", r->first_byte_ms >= 0
		            ? json_integer(r->first_byte_ms) : json_null(),
		        "payload_size", (json_int_t)r->payload_len,
		        "payload_sha256", sha,
		        "close_reason", record_reason_name(r->reason),
		        "truncated_bytes", (json_int_t)(r->bytes_in - r->payload_len),
		        "truncated", (int)r->truncated,
		        "payload_lost", (int)r->payload_lost,
		        "payload", payload,
		        "limit", record_limit_name(r->limit)
		            ? json_string(record_limit_name(r->limit)) : json_null())) < 0 ||
		    json_object_update_new(o, jsonl_reaction(r)) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	line = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return line;
}

static int jsonl_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

uint64_t jsonl_write(struct jsonl *j, const struct record *list)
{
	char *batch = NULL;
	size_t len = 0;
	uint64_t lines = 0, failed = 0;
	FILE *mem = open_memstream(&batch, &len);

	if (!mem) {
		for (const struct record *r = list; r; r = r->next)
			failed++;
		return failed;
	}
	for (const struct record *r = list; r; r = r->next) {
		/* The requests came before the close: their events first. */
		uint32_t nreq = r->kind == RECORD_CLOSED && r->payload ? r->nrequests : 0;
		for (uint32_t i = 0; i <= nreq; i++) {
			char *line = i < nreq ? jsonl_format_request(r, i, j->sensor)
			                      : jsonl_format(r, j->sensor);
			if (!line) {
				failed++;
				continue;
			}
			fputs(line, mem);
			fputc('\n', mem);
			free(line);
			lines++;
		}
	}
	if (fclose(mem) != 0) {
		free(batch);
		return failed + lines;
	}
	if (len && jsonl_write_all(j->fd, batch, len) < 0)
		failed += lines;
	free(batch);
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
	free(j);
}
