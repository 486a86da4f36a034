/* fuzz_rfc5424.c - libFuzzer target for the syslog sink's formatter
 * (rfc5424.c) and the --syslog target parser (syslog_target.c). The input
 * is split at NULs into the hostile strings a record carries (an IDENT
 * user id, a p0f label, a strategy, a family, tags) and a TLS ClientHello
 * whose SNI goes into the message; a session or a verdict. Whatever they hold, the message must be
 * printable ASCII within RFC5424_MSG_MAX, its one SD-ELEMENT must end
 * where flypaper ended it (no value can close it or start a new message),
 * and no cut may leave half a \xNN escape in a value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "record.h"
#include "rfc5424.h"
#include "syslog_target.h"
#include "tlshello.h"

/* Copies the next NUL-terminated piece of data into out (cap bytes). */
static void fuzz_piece(const uint8_t **data, size_t *size, char *out, size_t cap)
{
	size_t n = 0;

	while (*size && **data) {
		if (n + 1 < cap)
			out[n++] = (char)**data;
		(*data)++;
		(*size)--;
	}
	if (*size) {
		(*data)++;
		(*size)--;
	}
	out[n] = '\0';
}

/* Walks the SD-ELEMENT from its '[': returns the offset of its closing
 * ']', or 0 when a value never ends or holds a ']' without its backslash
 * (RFC 5424 6.3.3: a parser that does not track quotes ends there). */
static size_t fuzz_sd_end(const char *m, size_t start)
{
	bool in_value = false;

	for (size_t i = start; m[i]; i++) {
		if (in_value && m[i] == '\\' && m[i + 1])
			i++;
		else if (in_value && m[i] == ']')
			return 0;
		else if (m[i] == '"')
			in_value = !in_value;
		else if (!in_value && m[i] == ']')
			return i;
	}
	return 0;
}

static bool fuzz_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Every value's \xNN escapes are whole: once the SD escaping is undone
 * ("\\" back to '\'), each backslash starts 'x' and two hex digits, so
 * a cut never left half an escape (an SNI comes escaped already). */
static bool fuzz_escapes_whole(const char *m, size_t start, size_t end)
{
	bool in_value = false;

	for (size_t i = start; i < end; i++) {
		if (m[i] == '"' && !in_value)
			in_value = true;
		else if (m[i] == '"')
			in_value = false;
		else if (in_value && m[i] == '\\') {
			if (m[i + 1] == '\\' && (m[i + 2] != 'x' || !fuzz_hex(m[i + 3]) ||
			        !fuzz_hex(m[i + 4])))
				return false;
			i++;
		}
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rfc5424_sender sender = {.facility = 16, .procid = 1};
	struct rfc5424_result res;
	struct syslog_target t;
	struct record r = {0};
	struct record_ident ident = {0};
	struct record_class cls = {0};
	char strategy[4096], msg[RFC5424_MSG_MAX + 1], err[256];

	fuzz_piece(&data, &size, strategy, sizeof(strategy));
	syslog_target_parse(strategy, &t, err, sizeof(err));
	fuzz_piece(&data, &size, sender.hostname, sizeof(sender.hostname));
	rfc5424_token(sender.hostname, sender.hostname, sizeof(sender.hostname));
	strcpy(sender.app, "flypaper");
	fuzz_piece(&data, &size, ident.userid, sizeof(ident.userid));
	fuzz_piece(&data, &size, r.os.name, sizeof(r.os.name));
	fuzz_piece(&data, &size, r.os.flavor, sizeof(r.os.flavor));
	fuzz_piece(&data, &size, cls.family, sizeof(cls.family));
	fuzz_piece(&data, &size, cls.tags, sizeof(cls.tags));
	ident.status = IDENT_USERID;
	/* the family's first byte picks a verdict instead of a session */
	r.kind = cls.family[0] & 1 ? RECORD_CLASSIFIED : RECORD_CLOSED;
	r.class_state = CLASS_DONE;
	r.ident = &ident;
	r.class = &cls;
	r.strategy = strategy;
	r.os.match = r.os.name[0] ? OS_MATCH_EXACT : OS_MATCH_NONE;
	r.bytes_in = size;
	addr_parse("[2001:db8::1]:4444", &r.src);
	addr_parse("192.0.2.1:80", &r.dst);
	/* the rest, copied exactly so ASan sees any over-read, as a hello */
	uint8_t *hello = malloc(size ? size : 1);
	memcpy(hello, data, size);
	r.tls = tlshello_parse(hello, size);

	size_t n = rfc5424_format(&r, &sender, msg, &res);
	if (n > RFC5424_MSG_MAX || strlen(msg) != n)
		__builtin_trap();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] > 0x7e)
			__builtin_trap();
	const char *msgid = r.kind == RECORD_CLASSIFIED ? " classified [" : " session [";
	const char *sd = strstr(msg, msgid);
	if (!sd)
		__builtin_trap();
	size_t end = fuzz_sd_end(msg, (size_t)(sd - msg) + strlen(msgid));
	if (end == 0 || strncmp(msg + end, "] session ", 10) != 0 ||
	    strchr(msg + end + 1, '"'))
		__builtin_trap();
	if (!fuzz_escapes_whole(msg, (size_t)(sd - msg), end))
		__builtin_trap();
	tlshello_free(r.tls);
	free(hello);
	return 0;
}
