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
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:i, s:s}",
	    "eventid", r->kind == RECORD_CLOSED ? "flypaper.session.closed"
	                                        : "flypaper.session.connect",
	    "timestamp", ts, "sensor", sensor, "session", id,
	    "src_ip", src, "src_port", (int)addr_port(&r->src),
	    "dst_ip", dst, "dst_port", (int)addr_port(&r->dst),
	    "protocol", "tcp");
	if (!o)
		return NULL;
	if (r->kind == RECORD_CLOSED) {
		json_t *payload = jsonl_payload_base64(r);
		if (r->payload_len)
			record_sha256_hex(r->sha256, sha);
		if (!payload ||
		    json_object_update_new(o, json_pack(
		        "{s:s, s:s, s:I, s:I, s:I, s:o, s:I, s:s, s:s, s:I, s:b, s:b, s:o}",
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
		        "payload", payload)) < 0) {
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
		char *line = jsonl_format(r, j->sensor);
		if (!line) {
			failed++;
			continue;
		}
		fputs(line, mem);
		fputc('\n', mem);
		free(line);
		lines++;
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
