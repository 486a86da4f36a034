/* respond.c - strategies, personalities from template files, experiment
 * assignment. */
#include "respond.h"

#include <errno.h>
#include <fnmatch.h>
#include <nettle/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const respond_http_personas[] = {"iis5", "apache", "nginx"};

/* Reads a whole small file. Returns a NUL-terminated buffer or NULL. */
static char *respond_read_file(const char *path, size_t *len, char *err,
    size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(RESPOND_TEMPLATE_MAX + 1);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	*len = fread(buf, 1, RESPOND_TEMPLATE_MAX + 1, f);
	fclose(f);
	if (*len > RESPOND_TEMPLATE_MAX) {
		free(buf);
		snprintf(err, errlen, "%s: larger than %d bytes", path, RESPOND_TEMPLATE_MAX);
		return NULL;
	}
	buf[*len] = '\0';
	return buf;
}

/* A template file: the status line and headers, an empty line, the body.
 * Head lines may end in LF or CRLF; they are sent with CRLF. The body is
 * sent as it is. */
static int respond_load_template(struct respond_template *t, const char *path,
    char *err, size_t errlen)
{
	size_t len;
	char *text = respond_read_file(path, &len, err, errlen);
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

int respond_load_personality(struct respond_personality *p, const char *dir,
    const char *name, char *err, size_t errlen)
{
	char path[4096], tpl_path[4096 + 256];
	size_t len;
	char *routes;
	int lineno = 0;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(path, sizeof(path), "%s/%s/routes", dir, name);
	routes = respond_read_file(path, &len, err, errlen);
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
		struct respond_route *r = realloc(p->routes, (p->nroutes + 1) * sizeof(*r));
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
		if (!r->pattern || respond_load_template(&r->tpl, tpl_path, err, errlen) < 0)
			goto fail;
	}
	free(routes);
	if (!respond_route(p, "/") ) {
		snprintf(err, errlen, "%s: no route matches '/'", path);
		return -1;
	}
	return 0;
fail:
	free(routes);
	return -1;
}

const struct respond_template *respond_route(const struct respond_personality *p,
    const char *target)
{
	for (size_t i = 0; i < p->nroutes; i++) {
		const struct respond_route *r = &p->routes[i];
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

size_t respond_render(const struct respond_template *tpl, bool keep_alive,
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

char respond_tarpit_byte(uint64_t pos)
{
	/* A status line, then an endless header of harmless printable bytes
	 * that never ends the head, so a client keeps waiting for more. */
	static const char start[] = "HTTP/1.1 200 OK\r\n";
	static const char filler[] = "X-Pad: 7f2c9a1e5b3d8c0f4a6e2b9d1c7f3a5e\r\n";

	if (pos < sizeof(start) - 1)
		return start[pos];
	pos -= sizeof(start) - 1;
	return filler[pos % (sizeof(filler) - 1)];
}

/* Finds or adds the strategy called name. */
static const struct strategy *respond_strategy(struct respond_set *set,
    const struct config *cfg, const char *name, char *err, size_t errlen)
{
	struct strategy *s;

	if (strcmp(name, "http") == 0)
		name = "http-iis5";  /* the personality the 2001 worms expected */
	for (int i = 0; i < set->nstrategies; i++) {
		if (strcmp(set->strategies[i].name, name) == 0)
			return &set->strategies[i];
	}
	if (set->nstrategies >= RESPOND_MAX_STRATEGIES) {
		snprintf(err, errlen, "more than %d strategies", RESPOND_MAX_STRATEGIES);
		return NULL;
	}
	s = &set->strategies[set->nstrategies];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	if (strcmp(name, "silent") == 0) {
		s->kind = RESPOND_SILENT;
	} else if (strcmp(name, "banner") == 0) {
		s->kind = RESPOND_BANNER;
	} else if (strcmp(name, "tarpit") == 0) {
		s->kind = RESPOND_TARPIT;
	} else if (strncmp(name, "http-", 5) == 0) {
		const char *persona = name + 5;
		bool known = false;
		for (size_t i = 0; i < sizeof(respond_http_personas) / sizeof(respond_http_personas[0]); i++)
			known |= strcmp(persona, respond_http_personas[i]) == 0;
		if (!known || strlen(persona) > 24) {
			snprintf(err, errlen, "unknown strategy '%s' (silent, banner, tarpit, "
			    "http-iis5, http-apache, http-nginx)", name);
			return NULL;
		}
		s->kind = RESPOND_HTTP;
		s->persona = calloc(1, sizeof(*s->persona));
		if (!s->persona) {
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		set->nstrategies++;  /* owned from here, so respond_free frees it */
		if (respond_load_personality(s->persona, cfg->templates_dir, persona,
		        err, errlen) < 0)
			return NULL;
		return s;
	} else {
		snprintf(err, errlen, "unknown strategy '%s' (silent, banner, tarpit, "
		    "http-iis5, http-apache, http-nginx)", name);
		return NULL;
	}
	set->nstrategies++;
	return s;
}

/* Parses "name:weight,name:weight" into the experiment's arms. */
static int respond_parse_experiment(struct respond_set *set,
    const struct config *cfg, char *err, size_t errlen)
{
	char *spec = strdup(cfg->experiment);
	char *save = NULL;
	int rc = -1;

	if (!spec) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (char *arm = strtok_r(spec, ",", &save); arm; arm = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(arm, ':');
		char *end;
		unsigned long w = 1;
		char local[CONFIG_ERR_LEN];
		if (colon) {
			*colon = '\0';
			errno = 0;
			w = strtoul(colon + 1, &end, 10);
			if (errno || end == colon + 1 || *end || w == 0 || w > 1000000) {
				snprintf(err, errlen, "experiment: weight '%s' of '%s' is not a "
				    "number from 1 to 1000000", colon + 1, arm);
				goto out;
			}
		}
		if (set->narms >= RESPOND_MAX_STRATEGIES) {
			snprintf(err, errlen, "experiment: more than %d arms", RESPOND_MAX_STRATEGIES);
			goto out;
		}
		const struct strategy *s = respond_strategy(set, cfg, arm, local, sizeof(local));
		if (!s) {
			snprintf(err, errlen, "experiment: %s", local);
			goto out;
		}
		for (int i = 0; i < set->narms; i++) {
			if (set->arms[i] == s) {
				snprintf(err, errlen, "experiment: '%s' is listed twice", s->name);
				goto out;
			}
		}
		set->arms[set->narms] = s;
		set->weights[set->narms] = (uint32_t)w;
		set->total_weight += w;
		set->narms++;
	}
	if (set->narms == 0) {
		snprintf(err, errlen, "experiment: no arms in '%s'", cfg->experiment);
		goto out;
	}
	rc = 0;
out:
	free(spec);
	return rc;
}

int respond_build(struct respond_set *set, const struct config *cfg,
    char *err, size_t errlen)
{
	char local[CONFIG_ERR_LEN];
	const struct strategy *def;

	memset(set, 0, sizeof(*set));
	set->banner = cfg->banner_text;
	set->banner_len = strlen(cfg->banner_text);
	snprintf(set->salt, sizeof(set->salt), "%s",
	    cfg->experiment_salt ? cfg->experiment_salt
	                         : cfg->sensor ? cfg->sensor : "flypaper");
	def = respond_strategy(set, cfg, cfg->respond, local, sizeof(local));
	if (!def) {
		snprintf(err, errlen, "respond: %s", local);
		return -1;
	}
	for (int i = 0; i < CONFIG_MAX_LISTEN; i++) {
		set->by_listener[i] = def;
		if (i < cfg->nlisten && cfg->listen_respond[i]) {
			set->by_listener[i] = respond_strategy(set, cfg, cfg->listen_respond[i],
			    local, sizeof(local));
			if (!set->by_listener[i]) {
				snprintf(err, errlen, "listener respond: %s", local);
				return -1;
			}
		}
	}
	if (cfg->experiment && respond_parse_experiment(set, cfg, err, errlen) < 0)
		return -1;
	return 0;
}

int respond_arm(const struct respond_set *set, const struct addr *src)
{
	struct hmac_sha256_ctx ctx;
	uint8_t digest[SHA256_DIGEST_SIZE];
	uint8_t ip[16];
	size_t iplen;
	uint64_t h = 0, pick;

	if (src->u.sa.sa_family == AF_INET6 &&
	    !IN6_IS_ADDR_V4MAPPED(&src->u.v6.sin6_addr)) {
		memcpy(ip, &src->u.v6.sin6_addr, 16);
		iplen = 16;
	} else if (src->u.sa.sa_family == AF_INET6) {
		memcpy(ip, &src->u.v6.sin6_addr.s6_addr[12], 4);
		iplen = 4;
	} else {
		memcpy(ip, &src->u.v4.sin_addr, 4);
		iplen = 4;
	}
	hmac_sha256_set_key(&ctx, strlen(set->salt), (const uint8_t *)set->salt);
	hmac_sha256_update(&ctx, iplen, ip);
	hmac_sha256_digest(&ctx, sizeof(digest), digest);
	for (int i = 0; i < 8; i++)
		h = h << 8 | digest[i];
	/* 2^64 is so much larger than the total weight that the modulo bias
	 * is below one part in 10^12. */
	pick = h % set->total_weight;
	for (int i = 0; i < set->narms; i++) {
		if (pick < set->weights[i])
			return i;
		pick -= set->weights[i];
	}
	return set->narms - 1;
}

const struct strategy *respond_pick(const struct respond_set *set, int listener,
    const struct addr *src)
{
	if (set->narms > 0)
		return set->arms[respond_arm(set, src)];
	if (listener < 0 || listener >= CONFIG_MAX_LISTEN)
		listener = 0;
	return set->by_listener[listener];
}

void respond_free(struct respond_set *set)
{
	for (int i = 0; i < set->nstrategies; i++) {
		struct respond_personality *p = set->strategies[i].persona;
		if (!p)
			continue;
		for (size_t k = 0; k < p->nroutes; k++) {
			free(p->routes[k].pattern);
			free(p->routes[k].tpl.head);
			free(p->routes[k].tpl.body);
		}
		free(p->routes);
		free(p);
	}
	memset(set, 0, sizeof(*set));
}
