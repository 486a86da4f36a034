/* strategy_http.h - the http strategy's personalities: a web server's
 * routes and templates, read from a folder of the templates directory.
 * Only strategy_http.c and the unit tests need these. */
#ifndef FLYPAPER_STRATEGY_HTTP_H
#define FLYPAPER_STRATEGY_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "strategy.h"

#define STRATEGY_HTTP_PERSONA_MAX 24  /* a personality's name, in bytes */
#define STRATEGY_HTTP_LIST_MAX 32     /* personalities an error message lists */

/* One prepared response: the head lines from the template (status line
 * first, CRLF-terminated) and the body, each also NUL-terminated. Date,
 * Content-Length and Connection are added when it is sent. */
struct strategy_http_template {
	char *head;
	size_t head_len;
	char *body;
	size_t body_len;
};

struct strategy_http_route {
	char *pattern;               /* fnmatch(3) pattern on the target, or "@timeout" */
	struct strategy_http_template tpl;
};

/* A web server personality: its routes, first match wins. */
struct strategy_http_persona {
	char name[STRATEGY_HTTP_PERSONA_MAX + 1];
	struct strategy_http_route *routes;
	size_t nroutes;
};

/* True when name can name a personality: 1 to STRATEGY_HTTP_PERSONA_MAX
 * bytes of a-z, 0-9, '_' and '-' (no dots, no slashes). Pure. */
bool strategy_http_name_ok(const char *name);

/* Loads a personality from dir/NAME/routes and the templates it names.
 * Returns 0, or -1 with err (p then holds what was loaded: free it). */
int strategy_http_load(struct strategy_http_persona *p, const char *dir,
    const char *name, char *err, size_t errlen);

/* Frees what strategy_http_load loaded. */
void strategy_http_unload(struct strategy_http_persona *p);

/* Finds the template for a request target (or "@timeout" when target is
 * NULL). Returns NULL when no route matches. */
const struct strategy_http_template *strategy_http_route(
    const struct strategy_http_persona *p, const char *target);

/* Writes a full response for tpl into out (at most outlen bytes): the head,
 * Date, Content-Length, Connection, a blank line and, unless head_only, the
 * body. Returns its length (0 when the head does not fit). */
size_t strategy_http_render(const struct strategy_http_template *tpl,
    bool keep_alive, bool head_only, char *out, size_t outlen);

/* Appends ", http-NAME" to out for each personality in dir (a folder
 * whose name strategy_http_name_ok takes, holding a routes file), sorted,
 * at most STRATEGY_HTTP_LIST_MAX. */
void strategy_http_list(const char *dir, char *out, size_t outlen);

#endif
