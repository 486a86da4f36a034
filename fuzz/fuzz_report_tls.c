/* fuzz_report_tls.c - libFuzzer target for the report's TLS section
 * (report_tls.c), which reads stored strings a hostile database chose: each
 * input line is one session, its fields split on '|' (state, versions, SNI,
 * JA3 (unused: a JA3 row's note is set apart), JA3 md5, JA4, the front's version, error and alert, start), its
 * first byte the front flag, class, family and legacy version. Every shown
 * string must come out printable ASCII within its field, and the counts
 * must add up. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report_tls.h"

#define FIELDS 10

static int printable(const char *s, size_t room)
{
	size_t n = strnlen(s, room);

	if (n == room)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct report_tls_acc *a = report_tls_new();
	struct report_tls t;
	long source = 0;

	for (size_t i = 0; i < size;) {
		size_t end = i;
		while (end < size && data[end] != '\n')
			end++;
		uint8_t flags = data[i];
		struct report_tls_bytes f[FIELDS] = {{0}};
		size_t k = 0, start = i + 1;
		for (size_t j = start; j <= end && k < FIELDS; j++) {
			if (j == end || data[j] == '|') {
				/* an empty field is NULL, as a NULL column */
				if (j > start)
					f[k] = (struct report_tls_bytes){data + start, j - start};
				k++;
				start = j + 1;
			}
		}
		struct report_tls_in in = {.state = f[0], .versions = f[1], .sni = f[2],
		    .ja3_md5 = f[4], .ja4 = f[5], .version = f[6], .error = f[7],
		    .alert = f[8], .ts = f[9], .front = flags & 1, .cls = (flags >> 1) % 8,
		    .family = (flags >> 4) * 4, .hello_ver = (flags & 0x80) ? -1 : flags * 257,
		    .source = (flags & 0x40) ? source++ : source};
		report_tls_add(a, &in);
		i = end + 1;
	}
	if (report_tls_finish(a, &t) != 0)
		return 0;
	long versions = 0;
	for (int v = 0; v < RTLS_V_COUNT; v++)
		versions += t.by_version[v];
	if (t.hellos > t.sessions || t.front > t.sessions || versions > t.sessions)
		__builtin_trap();
	for (int k = 0; k < RTLS_T_COUNT; k++) {
		const struct report_tls_top *top = &t.top[k];
		long shown = 0;
		for (int i = 0; i < top->n; i++) {
			const struct report_tls_row *r = &top->rows[i];
			if (!printable(r->key, sizeof(r->key)) || !printable(r->note, sizeof(r->note)) ||
			    r->sources > r->sessions || r->sessions < 1 ||
			    (i && r->sessions > top->rows[i - 1].sessions))
				__builtin_trap();
			shown += r->sessions;
			struct report_tls_row copy = *r;
			report_tls_set_note(&copy, r->raw, r->raw_len);   /* hostile bytes as a note */
			if (!printable(copy.note, sizeof(copy.note)))
				__builtin_trap();
		}
		if (shown > t.sessions || top->n > REPORT_TLS_SHOWN)
			__builtin_trap();
	}
	for (size_t d = 0; d < t.ndays; d++) {
		if (!printable(t.days[d].day, sizeof(t.days[d].day)) ||
		    (d && strcmp(t.days[d - 1].day, t.days[d].day) >= 0))
			__builtin_trap();
	}
	report_tls_free(&t);
	return 0;
}
