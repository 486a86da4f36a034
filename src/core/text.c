/* text.c - escaping peer bytes, and database strings for display. */
#include "text.h"

#include <stdlib.h>
#include <string.h>

/* The one escaper: bytes outside printable ASCII become \xNN; the
 * backslash too unless keep_backslash; CR, LF and TAB stay with
 * keep_newlines. Never splits an escape; NUL-terminates. */
static size_t text_escape_bytes(const void *data, size_t len, char *out,
    size_t outlen, bool keep_newlines, bool keep_backslash)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = data;
	size_t w = 0;

	if (outlen == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		bool plain = (c >= 0x20 && c < 0x7f && (c != '\\' || keep_backslash)) ||
		    (keep_newlines && (c == '\r' || c == '\n' || c == '\t'));
		if (plain) {
			if (w + 1 >= outlen)
				break;
			out[w++] = (char)c;
		} else {
			if (w + 4 >= outlen)
				break;
			out[w++] = '\\';
			out[w++] = 'x';
			out[w++] = hex[c >> 4];
			out[w++] = hex[c & 15];
		}
	}
	out[w] = '\0';
	return w;
}

size_t text_escape_into(const void *data, size_t len, char *out, size_t outlen,
    bool keep_newlines)
{
	return text_escape_bytes(data, len, out, outlen, keep_newlines, false);
}

char *text_escape(const void *data, size_t len, bool keep_newlines)
{
	size_t cap = 4 * len + 1;
	char *out = malloc(cap);

	if (out)
		text_escape_into(data, len, out, cap, keep_newlines);
	return out;
}

size_t text_display_into(const void *data, size_t len, char *out, size_t outlen)
{
	return text_escape_bytes(data, len, out, outlen, false, true);
}

const char *text_display(const char *s, char *out, size_t outlen)
{
	text_display_into(s ? s : "", s ? strlen(s) : 0, out, outlen);
	return out;
}
