/* promtext.c - GET /metrics and the Prometheus text format: the request
 * parser reads hostile bytes (a metrics port is reachable by whoever can
 * reach its address), the writer never grows past its buffer. */
#include "promtext.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The end of the head: the byte after its blank line (CRLF CRLF, or bare
 * LF LF, which curl never sends but netcat users do), or 0. */
static size_t promtext_head_end(const char *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* True for a request line's token bytes: visible ASCII. */
static bool promtext_visible(char c)
{
	return c > ' ' && c < 0x7f;
}

int promtext_request(const char *buf, size_t len, enum promtext_answer *answer)
{
	size_t end = promtext_head_end(buf, len > PROMTEXT_HEAD_MAX ? PROMTEXT_HEAD_MAX : len);
	size_t i = 0, m, t, tlen;

	if (!end)
		return len >= PROMTEXT_HEAD_MAX ? PROMTEXT_INVALID : PROMTEXT_INCOMPLETE;
	if (memchr(buf, '\0', end))
		return PROMTEXT_INVALID;
	/* METHOD SP TARGET SP HTTP/1.x (CR) LF */
	while (i < end && promtext_visible(buf[i]))
		i++;
	m = i;
	if (m == 0 || m > 16 || buf[i] != ' ')
		return PROMTEXT_INVALID;
	t = ++i;
	while (i < end && promtext_visible(buf[i]))
		i++;
	tlen = i - t;
	if (tlen == 0 || buf[i] != ' ')
		return PROMTEXT_INVALID;
	i++;
	if (end - i < 9 || memcmp(buf + i, "HTTP/1.", 7) != 0 ||
	    (buf[i + 7] != '0' && buf[i + 7] != '1'))
		return PROMTEXT_INVALID;
	i += 8;
	if (buf[i] == '\r')
		i++;
	if (buf[i] != '\n')
		return PROMTEXT_INVALID;
	/* The path, without a query (Prometheus sends none; a browser may). */
	const char *q = memchr(buf + t, '?', tlen);
	if (q)
		tlen = (size_t)(q - (buf + t));
	if (tlen != 8 || memcmp(buf + t, "/metrics", 8) != 0)
		*answer = PROMTEXT_NOT_FOUND;
	else if (m == 3 && memcmp(buf, "GET", 3) == 0)
		*answer = PROMTEXT_METRICS;
	else if (m == 4 && memcmp(buf, "HEAD", 4) == 0)
		*answer = PROMTEXT_HEAD_ONLY;
	else
		*answer = PROMTEXT_BAD_METHOD;
	return (int)end;
}

void promtext_init(struct promtext *out, char *buf, size_t cap)
{
	out->buf = buf;
	out->len = 0;
	out->cap = cap;
	out->overflow = false;
	if (cap)
		buf[0] = '\0';
}

static void promtext_put(struct promtext *out, const char *s, size_t n)
{
	if (out->overflow || out->cap - out->len <= n) {
		out->overflow = true;
		return;
	}
	memcpy(out->buf + out->len, s, n);
	out->len += n;
	out->buf[out->len] = '\0';
}

static void promtext_printf(struct promtext *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void promtext_printf(struct promtext *out, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		out->overflow = true;
		return;
	}
	promtext_put(out, tmp, (size_t)n);
}

/* Writes src escaped: backslash and newline always, double quote in a
 * label value (the spec's two escaping rules). */
static void promtext_put_escaped(struct promtext *out, const char *src, bool quote)
{
	for (; *src; src++) {
		if (*src == '\\')
			promtext_put(out, "\\\\", 2);
		else if (*src == '\n')
			promtext_put(out, "\\n", 2);
		else if (*src == '"' && quote)
			promtext_put(out, "\\\"", 2);
		else
			promtext_put(out, src, 1);
	}
}

size_t promtext_escape_label(const char *src, char *dst, size_t dst_len)
{
	size_t need = 0;
	struct promtext out;

	for (const char *p = src; *p; p++)
		need += (*p == '\\' || *p == '\n' || *p == '"') ? 2 : 1;
	promtext_init(&out, dst, dst_len);
	if (need < dst_len)
		promtext_put_escaped(&out, src, true);
	return need;
}

void promtext_family(struct promtext *out, const char *name, const char *type,
    const char *help)
{
	promtext_printf(out, "# HELP %s ", name);
	promtext_put_escaped(out, help, false);
	promtext_printf(out, "\n# TYPE %s %s\n", name, type);
}

void promtext_sample(struct promtext *out, const char *name,
    const char *const *labels, int nlabels, double value)
{
	promtext_put(out, name, strlen(name));
	for (int i = 0; i < nlabels; i++) {
		promtext_put(out, i ? "," : "{", 1);
		promtext_put(out, labels[2 * i], strlen(labels[2 * i]));
		promtext_put(out, "=\"", 2);
		promtext_put_escaped(out, labels[2 * i + 1], true);
		promtext_put(out, "\"", 1);
	}
	if (nlabels)
		promtext_put(out, "}", 1);
	if (isnan(value))
		promtext_put(out, " NaN\n", 5);
	else if (value == floor(value) && fabs(value) < 9007199254740992.0)
		promtext_printf(out, " %.0f\n", value);
	else
		promtext_printf(out, " %.17g\n", value);
}
