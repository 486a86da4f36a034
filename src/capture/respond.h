/* respond.h - response strategies: what flypaper says to a peer, if
 * anything. silent says nothing; banner speaks first; http answers requests
 * like a web server of a chosen personality, from editable templates;
 * tarpit drips one byte at a time. */
#ifndef FLYPAPER_RESPOND_H
#define FLYPAPER_RESPOND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define RESPOND_MAX_STRATEGIES 16
#define RESPOND_TEMPLATE_MAX (64 * 1024)

enum respond_kind {
	RESPOND_SILENT,
	RESPOND_BANNER,
	RESPOND_HTTP,
	RESPOND_TARPIT,
};

/* One prepared response: the head lines from the template (status line
 * first, CRLF-terminated) and the body, each also NUL-terminated. Date,
 * Content-Length and Connection are added when it is sent. */
struct respond_template {
	char *head;
	size_t head_len;
	char *body;
	size_t body_len;
};

struct respond_route {
	char *pattern;               /* fnmatch(3) pattern on the target, or "@timeout" */
	struct respond_template tpl;
};

/* A web server personality: its routes, first match wins. */
struct respond_personality {
	char name[32];
	struct respond_route *routes;
	size_t nroutes;
};

struct strategy {
	char name[32];               /* as recorded in sessions.strategy */
	enum respond_kind kind;
	struct respond_personality *persona;  /* RESPOND_HTTP only */
};

/* Every strategy a run uses, resolved once at start-up. */
struct respond_set {
	struct strategy strategies[RESPOND_MAX_STRATEGIES];
	int nstrategies;
	const struct strategy *by_listener[CONFIG_MAX_LISTEN];
	const struct strategy *arms[RESPOND_MAX_STRATEGIES];  /* experiment */
	uint32_t weights[RESPOND_MAX_STRATEGIES];
	int narms;
	uint64_t total_weight;
	char salt[128];
	const char *banner;          /* config's banner text */
	size_t banner_len;
};

/* Resolves the configuration's strategies (respond, per-listener respond,
 * experiment) and loads the personalities' templates. Returns 0, or -1
 * with a message naming the problem in err. */
int respond_build(struct respond_set *set, const struct config *cfg,
    char *err, size_t errlen);

/* The strategy for a peer on listener i: the experiment's arm for its
 * address when an experiment runs, else the listener's. */
const struct strategy *respond_pick(const struct respond_set *set, int listener,
    const struct addr *src);

/* The experiment arm for an address: a keyed hash (HMAC-SHA256 with the
 * salt) of the address bytes, so every connection of a source, a whole
 * burst, gets the same arm. Pure. */
int respond_arm(const struct respond_set *set, const struct addr *src);

/* Finds the template for a request target (or "@timeout" when target is
 * NULL). Returns NULL when no route matches. */
const struct respond_template *respond_route(const struct respond_personality *p,
    const char *target);

/* Writes a full response for tpl into out (at most outlen bytes): the head,
 * Date, Content-Length, Connection, a blank line and, unless head_only, the
 * body. Returns its length. */
size_t respond_render(const struct respond_template *tpl, bool keep_alive,
    bool head_only, char *out, size_t outlen);

/* The byte a tarpit sends at position pos of its endless stream. */
char respond_tarpit_byte(uint64_t pos);

/* Loads a personality from dir/NAME/routes. Returns 0 or -1 with err. */
int respond_load_personality(struct respond_personality *p, const char *dir,
    const char *name, char *err, size_t errlen);

/* Frees what respond_build loaded. */
void respond_free(struct respond_set *set);

#endif
