/* strategy_http.c - answers each request head like a web server of a
 * chosen personality, from editable templates. A personality is a folder
 * of the templates directory, NAME/routes and the templates it names:
 * "http-NAME" is configured by the folder alone, no code. With
 * --respond-delay, a peer that sent no request by then gets the
 * personality's "@timeout" page. */
#include "strategy_http.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "session.h"

/* Reads a whole small file. Returns a NUL-terminated buffer or NULL. */
static char *strategy_http_read_file(const char *path, size_t *len, char *err,
    size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(STRATEGY_TEMPLATE_MAX + 1);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	*len = fread(buf, 1, STRATEGY_TEMPLATE_MAX + 1, f);
	fclose(f);
	if (*len > STRATEGY_TEMPLATE_MAX) {
		free(buf);
		snprintf(err, errlen, "%s: larger than %d bytes", path, STRATEGY_TEMPLATE_MAX);
		return NULL;
	}
	buf[*len] = '\0';
	return buf;
}

/* A template file: the status line and headers, an empty line, the body.
 * Head lines may end in LF or CRLF; they are sent with CRLF. The body is
 * sent as it is. */
static int strategy_http_load_template(struct strategy_http_template *t, const char *path,
    char *err, size_t errlen)
{
	size_t len;
	char *text = strategy_http_read_file(path, &len, err, errlen);
	char *p, *end;

	if (!text)
		return -1;
	t->head = malloc(2 * len + 3);
	if (!t->head) {
		free(text);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->head_len = 0;
	p = text;
	end = text + len;
	while (p < end) {
		char *lf = memchr(p, '\n', (size_t)(end - p));
		size_t n = lf ? (size_t)(lf - p) : (size_t)(end - p);
		if (n && p[n - 1] == '\r')
			n--;
		if (n == 0) {        /* the empty line: the body follows */
			p = lf ? lf + 1 : end;
			break;
		}
		memcpy(t->head + t->head_len, p, n);
		t->head_len += n;
		memcpy(t->head + t->head_len, "\r\n", 2);
		t->head_len += 2;
		p = lf ? lf + 1 : end;
	}
	if (t->head_len < 12 || strncmp(t->head, "HTTP/", 5) != 0) {
		free(t->head);
		free(text);
		t->head = NULL;
		snprintf(err, errlen, "%s: must start with a status line such as "
		    "'HTTP/1.1 200 OK'", path);
		return -1;
	}
	t->head[t->head_len] = '\0';   /* both are also C strings, for callers' ease */
	t->body_len = (size_t)(end - p);
	t->body = malloc(t->body_len + 1);
	if (!t->body) {
		free(text);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(t->body, p, t->body_len);
	t->body[t->body_len] = '\0';
	free(text);
	return 0;
}

int strategy_http_load(struct strategy_http_persona *p, const char *dir,
    const char *name, char *err, size_t errlen)
{
	char path[4096], tpl_path[4096 + 256];
	size_t len;
	char *routes;
	int lineno = 0;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(path, sizeof(path), "%s/%s/routes", dir, name);
	routes = strategy_http_read_file(path, &len, err, errlen);
	if (!routes)
		return -1;
	for (char *line = routes, *next; line && *line; line = next) {
		char pattern[1024], file[256];
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '#' || *line == '\0' || *line == '\r')
			continue;
		if (sscanf(line, "%1023s %255s", pattern, file) != 2 || strchr(file, '/')) {
			snprintf(err, errlen, "%s:%d: expected 'PATTERN FILE'", path, lineno);
			goto fail;
		}
		struct strategy_http_route *r = realloc(p->routes, (p->nroutes + 1) * sizeof(*r));
		if (!r) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		p->routes = r;
		r = &p->routes[p->nroutes];
		memset(r, 0, sizeof(*r));
		r->pattern = strdup(pattern);
		p->nroutes++;
		snprintf(tpl_path, sizeof(tpl_path), "%s/%s/%s", dir, name, file);
		if (!r->pattern || strategy_http_load_template(&r->tpl, tpl_path, err, errlen) < 0)
			goto fail;
	}
	free(routes);
	if (!strategy_http_route(p, "/")) {
		snprintf(err, errlen, "%s: no route matches '/'", path);
		return -1;
	}
	return 0;
fail:
	free(routes);
	return -1;
}

const struct strategy_http_template *strategy_http_route(const struct strategy_http_persona *p,
    const char *target)
{
	for (size_t i = 0; i < p->nroutes; i++) {
		const struct strategy_http_route *r = &p->routes[i];
		if (!target) {
			if (strcmp(r->pattern, "@timeout") == 0)
				return &r->tpl;
			continue;
		}
		if (r->pattern[0] != '@' && fnmatch(r->pattern, target, 0) == 0)
			return &r->tpl;
	}
	return NULL;
}

size_t strategy_http_render(const struct strategy_http_template *tpl, bool keep_alive,
    bool head_only, char *out, size_t outlen)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	size_t n;
	int w;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (tpl->head_len >= outlen)
		return 0;
	memcpy(out, tpl->head, tpl->head_len);
	n = tpl->head_len;
	w = snprintf(out + n, outlen - n,
	    "Date: %s\r\nContent-Length: %zu\r\nConnection: %s\r\n\r\n", date,
	    tpl->body_len, keep_alive ? "keep-alive" : "close");
	if (w < 0 || (size_t)w >= outlen - n)
		return 0;
	n += (size_t)w;
	if (!head_only) {
		size_t b = tpl->body_len < outlen - n ? tpl->body_len : outlen - n;
		memcpy(out + n, tpl->body, b);
		n += b;
	}
	return n;
}

void strategy_http_unload(struct strategy_http_persona *p)
{
	for (size_t k = 0; k < p->nroutes; k++) {
		free(p->routes[k].pattern);
		free(p->routes[k].tpl.head);
		free(p->routes[k].tpl.body);
	}
	free(p->routes);
	p->routes = NULL;
	p->nroutes = 0;
}

bool strategy_http_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > STRATEGY_HTTP_PERSONA_MAX)
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* Whether dir/name/routes is a regular file: 1 yes, 0 missing, -1 with
 * err for anything else. */
static int strategy_http_has_routes(const char *dir, const char *name,
    char *err, size_t errlen)
{
	char path[4096];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s/routes", dir, name);
	if (stat(path, &sb) < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			snprintf(err, errlen, "no %s", path);
			return 0;
		}
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	return 1;
}

static int strategy_http_compare(const void *a, const void *b)
{
	return strcmp(a, b);
}

void strategy_http_list(const char *dir, char *out, size_t outlen)
{
	char names[STRATEGY_HTTP_LIST_MAX][STRATEGY_HTTP_PERSONA_MAX + 1];
	char scratch[64];
	size_t n = 0, len;
	bool more = false;
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strategy_http_name_ok(e->d_name) ||
		    strategy_http_has_routes(dir, e->d_name, scratch, sizeof(scratch)) != 1)
			continue;
		if (n == STRATEGY_HTTP_LIST_MAX) {
			more = true;
			break;
		}
		/* name_ok bounds the length: it fits, NUL included */
		memcpy(names[n++], e->d_name, strlen(e->d_name) + 1);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), strategy_http_compare);
	for (size_t i = 0; i <= n; i++) {
		len = strlen(out);
		if (len + 1 >= outlen)
			return;
		if (i < n)
			snprintf(out + len, outlen - len, ", http-%s", names[i]);
		else if (more)
			snprintf(out + len, outlen - len, ", ...");
	}
}

static int strategy_http_setup(struct strategy *st, const struct config *cfg,
    char *err, size_t errlen)
{
	struct strategy_http_persona *p;
	int found;

	if (!strategy_http_name_ok(st->arg)) {
		snprintf(err, errlen, "a personality's name is 1 to %d of a-z, 0-9, "
		    "'_' and '-'", STRATEGY_HTTP_PERSONA_MAX);
		return 1;
	}
	found = strategy_http_has_routes(cfg->templates_dir, st->arg, err, errlen);
	if (found <= 0)
		return found == 0 ? 1 : -1;
	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	st->data = p;
	st->deadline_ms = cfg->respond_delay_ms;
	return strategy_http_load(p, cfg->templates_dir, st->arg, err, errlen);
}

static void strategy_http_free(struct strategy *st)
{
	if (!st->data)
		return;
	strategy_http_unload(st->data);
	free(st->data);
	st->data = NULL;
}

static void strategy_http_names(const struct config *cfg, char *out, size_t outlen)
{
	strategy_http_list(cfg->templates_dir, out, outlen);
}

/* Renders tpl into the loop's buffer and sends it. */
static void strategy_http_send(struct session *s,
    const struct strategy_http_template *tpl, bool keep_alive, bool head_only)
{
	char *out = session_render_buffer(s);
	size_t n = strategy_http_render(tpl, keep_alive, head_only, out,
	    STRATEGY_RENDER_MAX);

	session_send(s, out, n, false);
}

/* Answers one request from the personality's routes. The session's
 * strategy state becomes nonzero: the peer asked (whether answered or
 * not), so it gets no "@timeout" page. */
static void strategy_http_request(struct session *s, const struct strategy *st,
    const struct http_request *req, const char *base)
{
	char target[2048];
	size_t tlen = req->target.len < sizeof(target) - 1 ? req->target.len
	                                                   : sizeof(target) - 1;
	const struct strategy_http_template *tpl;

	*session_strategy_state(s) = 1;
	memcpy(target, base + req->target.off, tlen);
	target[tlen] = '\0';
	tpl = strategy_http_route(st->data, target);
	if (!tpl)
		return;
	strategy_http_send(s, tpl, req->keep_alive, req->head_only);
	if (!req->keep_alive)
		session_end_after_output(s);
}

/* --respond-delay passed: a peer that sent no request gets the
 * personality's "@timeout" page, and the connection stays open to see
 * whether it leaves at the first byte. */
static void strategy_http_deadline(struct session *s, const struct strategy *st,
    uint64_t now_ns)
{
	uint64_t *asked = session_strategy_state(s);
	const struct strategy_http_template *tpl;

	(void)now_ns;
	if (*asked)
		return;
	tpl = strategy_http_route(st->data, NULL);
	if (!tpl)
		return;
	strategy_http_send(s, tpl, true, false);
	*asked = 1;
}

const struct strategy_ops strategy_http = {
	.name = "http",
	.arg_default = "iis5",       /* the personality the 2001 worms expected */
	.setup = strategy_http_setup,
	.free = strategy_http_free,
	.names = strategy_http_names,
	.request = strategy_http_request,
	.deadline = strategy_http_deadline,
};
