/* rfc5424.c - a closed session as an RFC 5424 message. Every value that
 * came from a peer (or from a file flypaper read: a rule's family, a p0f
 * label) is hostile: it is escaped to printable ASCII as the database
 * holds it, then escaped again as RFC 5424 6.3.3 asks, so no byte can end
 * the value, the element or the message (no newline ever leaves). */
#include "rfc5424.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "text.h"
#include "tlshello.h"

#define RFC5424_CUT_PARAM " cut=\"yes\""

int rfc5424_pri(int facility, int severity)
{
	return facility * 8 + severity;
}

char *rfc5424_token(const char *s, char *out, size_t outlen)
{
	size_t n = 0;

	for (; s && s[n] && n + 1 < outlen; n++) {
		unsigned char c = (unsigned char)s[n];
		out[n] = c > 32 && c < 127 ? (char)c : '_';
	}
	if (n == 0 && outlen >= 2)
		out[n++] = '-';
	out[n] = '\0';
	return out;
}

size_t rfc5424_sd_value(const void *data, size_t len, bool raw, char *out,
    size_t outlen, struct rfc5424_result *res)
{
	char text[RFC5424_VALUE_MAX + 1];
	const unsigned char *p = data;
	size_t need = 0, n, w = 0;

	/* What text.c would write whole: more than the cap means a cut. */
	for (size_t i = 0; i < len; i++) {
		bool plain = p[i] >= 0x20 && p[i] < 0x7f && (p[i] != '\\' || !raw);
		need += plain ? 1 : 4;
		if (!plain)
			res->escaped = true;
	}
	if (raw || need != len) {
		n = text_escape_into(data, len, text, sizeof(text), false);
	} else {
		n = len < RFC5424_VALUE_MAX ? len : RFC5424_VALUE_MAX;
		/* Its backslashes each start a 4-byte \xNN: a cut backs up to
		 * before one it would split. */
		for (size_t k = n < len && n >= 3 ? n - 3 : n; k < n; k++) {
			if (p[k] == '\\') {
				n = k;
				break;
			}
		}
		memcpy(text, data, n);
		text[n] = '\0';
	}
	if (need > n)
		res->cut = true;
	/* Escaped text already: the backslashes of its \xNN are escaped too. */
	for (size_t i = 0; i < n; i++) {
		char c = text[i];
		bool quote = c == '"' || c == '\\' || c == ']';
		if (w + 1 + quote >= outlen) {
			res->cut = true;
			break;
		}
		if (quote)
			out[w++] = '\\';
		out[w++] = c;
	}
	if (outlen)
		out[w] = '\0';
	return w;
}

/* The SD-PARAMs being written, within the room the header and MSG leave. */
struct rfc5424_params {
	char *buf;
	size_t len, room;
	struct rfc5424_result *res;
};

/* Appends ' name="value"' (value SD-escaped already); leaves it out, and
 * marks the message cut, when it does not fit. */
static void rfc5424_put(struct rfc5424_params *pp, const char *name, const char *value)
{
	size_t need = strlen(name) + strlen(value) + 4;

	if (pp->len + need > pp->room) {
		pp->res->cut = true;
		return;
	}
	pp->len += (size_t)snprintf(pp->buf + pp->len, need + 1, " %s=\"%s\"", name, value);
}

static void rfc5424_put_u64(struct rfc5424_params *pp, const char *name, uint64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	rfc5424_put(pp, name, num);
}

/* A value from a peer or a file: escaped, capped. */
static void rfc5424_put_text(struct rfc5424_params *pp, const char *name,
    const char *value, bool raw)
{
	char esc[2 * RFC5424_VALUE_MAX + 1];

	if (!value)
		return;
	rfc5424_sd_value(value, strlen(value), raw, esc, sizeof(esc), pp->res);
	rfc5424_put(pp, name, esc);
}

static void rfc5424_put_tls(struct rfc5424_params *pp, const struct tlshello *h)
{
	static const struct {
		const char *name;
		enum tlshello_field field;
	} fields[] = {
		{"sni", TLSHELLO_F_SNI}, {"ja3", TLSHELLO_F_JA3_MD5}, {"ja4", TLSHELLO_F_JA4},
	};

	rfc5424_put_text(pp, "tls", tlshello_state_name(tlshello_state(h)), true);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		char *text = tlshello_text(h, fields[i].field);
		/* tlshello_text escapes what the peer sent already */
		rfc5424_put_text(pp, fields[i].name, text, false);
		free(text);
	}
}

static void rfc5424_put_fields(struct rfc5424_params *pp, const struct record *r)
{
	char id[RECORD_ID_LEN], ts[RECORD_TS_LEN], ip[ADDR_TEXT_LEN], sha[RECORD_SHA256_HEX];
	char os[RECORD_OS_NAME + RECORD_OS_FLAVOR + 1];

	record_id_hex(r->id, id);
	rfc5424_put(pp, "session", id);
	rfc5424_put(pp, "src", addr_ip(&r->src, ip, sizeof(ip)));
	rfc5424_put_u64(pp, "sport", addr_port(&r->src));
	rfc5424_put(pp, "dst", addr_ip(&r->dst, ip, sizeof(ip)));
	rfc5424_put_u64(pp, "dport", addr_port(&r->dst));
	record_format_ts(&r->start_wall, ts);
	rfc5424_put(pp, "start", ts);
	rfc5424_put(pp, "close", record_reason_name(r->reason));
	rfc5424_put_u64(pp, "duration_ms", r->duration_ms > 0 ? (uint64_t)r->duration_ms : 0);
	rfc5424_put_u64(pp, "bytes_in", r->bytes_in);
	rfc5424_put_u64(pp, "bytes_out", r->bytes_out);
	rfc5424_put_text(pp, "strategy", r->strategy, true);
	if (r->payload_len) {
		record_sha256_hex(r->sha256, sha);
		rfc5424_put(pp, "sha256", sha);
	}
	if (r->class && r->class->family[0])
		rfc5424_put_text(pp, "family", r->class->family, true);
	if (r->ident) {
		rfc5424_put_text(pp, "ident", record_ident_name(r->ident->status), true);
		if (r->ident->status == IDENT_USERID)
			rfc5424_put_text(pp, "ident_user", r->ident->userid, true);
	}
	if (r->tls)
		rfc5424_put_tls(pp, r->tls);
	if (r->os.match != OS_MATCH_NONE) {
		snprintf(os, sizeof(os), "%s%s%s", r->os.name, r->os.flavor[0] ? " " : "",
		    r->os.flavor);
		rfc5424_put_text(pp, "os", os, true);
	}
}

/* The classifier's verdict on a session sent before (RECORD_CLASSIFIED). */
static void rfc5424_put_verdict(struct rfc5424_params *pp, const struct record *r)
{
	char id[RECORD_ID_LEN], ip[ADDR_TEXT_LEN], sha[RECORD_SHA256_HEX];

	record_id_hex(r->id, id);
	rfc5424_put(pp, "session", id);
	rfc5424_put(pp, "src", addr_ip(&r->src, ip, sizeof(ip)));
	record_sha256_hex(r->sha256, sha);
	rfc5424_put(pp, "sha256", sha);
	rfc5424_put_text(pp, "class_state", record_class_name(r->class_state), true);
	if (r->class && r->class->family[0])
		rfc5424_put_text(pp, "family", r->class->family, true);
	if (r->class && r->class->tags[0])
		rfc5424_put_text(pp, "tags", r->class->tags, true);
}

size_t rfc5424_format(const struct record *r, const struct rfc5424_sender *sender,
    char *out, struct rfc5424_result *res)
{
	char ts[RECORD_TS_LEN], id[RECORD_ID_LEN], src[ADDR_TEXT_LEN], dst[ADDR_TEXT_LEN];
	char params[RFC5424_MSG_MAX + 1], msg[256];
	struct rfc5424_params pp = {.buf = params, .res = res};
	bool verdict = r->kind == RECORD_CLASSIFIED;
	int head, tail;

	*res = (struct rfc5424_result){0};
	record_format_ts(&r->end_wall, ts);
	record_id_hex(r->id, id);
	head = snprintf(out, RFC5424_MSG_MAX + 1, "<%d>1 %s %s %s %ld %s [" RFC5424_SD_ID,
	    rfc5424_pri(sender->facility, RFC5424_SEVERITY_INFO), ts,
	    sender->hostname, sender->app, sender->procid,
	    verdict ? "classified" : "session");
	/* MSG: addresses and names flypaper wrote, nothing a peer chose */
	if (verdict)
		tail = snprintf(msg, sizeof(msg), "] session %s from %s classified: %s", id,
		    addr_format(&r->src, src, sizeof(src)), record_class_name(r->class_state));
	else
		tail = snprintf(msg, sizeof(msg), "] session %s from %s to %s: %s, %" PRIu64
		    " bytes in", id, addr_format(&r->src, src, sizeof(src)),
		    addr_format(&r->dst, dst, sizeof(dst)), record_reason_name(r->reason),
		    r->bytes_in);
	pp.room = RFC5424_MSG_MAX - (size_t)head - (size_t)tail - strlen(RFC5424_CUT_PARAM);
	params[0] = '\0';
	if (verdict)
		rfc5424_put_verdict(&pp, r);
	else
		rfc5424_put_fields(&pp, r);
	if (res->cut)
		strcat(params, RFC5424_CUT_PARAM);
	/* head + params + msg <= RFC5424_MSG_MAX by the room given above */
	return (size_t)snprintf(out + head, RFC5424_MSG_MAX + 1 - (size_t)head, "%s%s",
	    params, msg) + (size_t)head;
}
