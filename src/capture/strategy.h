/* strategy.h - what a response strategy is: a row of operations that the
 * session (session.c) calls at the moments a strategy can act: after
 * accept, when a request head completes, when the strategy's own deadline
 * passes. Each strategy is one file that fills one row (strategy_silent.c,
 * strategy_banner.c, strategy_tarpit.c, strategy_http.c); the registry in
 * respond.c lists them. A strategy acts on its session only through the
 * session calls for strategies (session.h); session.c never asks which
 * strategy it runs. */
#ifndef FLYPAPER_STRATEGY_H
#define FLYPAPER_STRATEGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "http.h"

#define STRATEGY_NAME_MAX 32         /* a strategy's name, NUL included */
#define STRATEGY_TEMPLATE_MAX (64 * 1024)  /* http: a template file */
/* The largest answer a strategy renders at once (session_render_buffer):
 * a template and the headers added to it. */
#define STRATEGY_RENDER_MAX (STRATEGY_TEMPLATE_MAX + 1024)

struct session;
struct strategy;

/* One strategy's operations. Every one but name may be NULL (or false). */
struct strategy_ops {
	const char *name;            /* as configured: "tarpit" */
	/* A strategy with arguments is configured as NAME-ARG (http-iis5);
	 * the bare NAME means NAME-arg_default. NULL: it takes none. */
	const char *arg_default;
	bool no_idle_timeout;        /* --idle-timeout does not apply to it */

	/* At start-up, prepares st (its name, arg and index are set) from
	 * cfg: what it loads goes to st->data, the delay of its own deadline
	 * to st->deadline_ms. Returns 0; 1 when st->arg names nothing it has
	 * (err says why, the caller lists what exists); -1 with a message
	 * naming the problem in err. */
	int (*setup)(struct strategy *st, const struct config *cfg, char *err,
	    size_t errlen);
	/* Frees what setup loaded (also after setup failed). */
	void (*free)(struct strategy *st);
	/* Appends to out (a NUL-terminated list, at most outlen bytes) ", "
	 * and each name it can be configured by, for error messages. NULL:
	 * its name alone. */
	void (*names)(const struct config *cfg, char *out, size_t outlen);

	/* Right after accept, before the first read. */
	void (*greet)(struct session *s, const struct strategy *st, uint64_t now_ns);
	/* A request head completed; req's spans index base. Not called once
	 * the session is to end after its output. */
	void (*request)(struct session *s, const struct strategy *st,
	    const struct http_request *req, const char *base);
	/* The strategy's own deadline passed: st->deadline_ms after the
	 * session's start, or after session_strategy_deadline. */
	void (*deadline)(struct session *s, const struct strategy *st, uint64_t now_ns);
};

/* A strategy as a run uses it, resolved once at start-up. */
struct strategy {
	char name[STRATEGY_NAME_MAX];  /* as recorded in sessions.strategy */
	const char *arg;             /* into name: what follows "NAME-"; "" none */
	const struct strategy_ops *ops;
	void *data;                  /* what ops->setup loaded, ops->free frees */
	uint64_t deadline_ms;        /* the delay of its own deadline; 0 none */
	int index;                   /* its place among the run's strategies */
};

/* The strategies, one file each, listed by the registry in respond.c. */
extern const struct strategy_ops strategy_silent, strategy_banner,
    strategy_tarpit, strategy_http;

/* The byte a tarpit sends at position pos of its endless stream. Pure:
 * exposed for the unit tests. */
char strategy_tarpit_byte(uint64_t pos);

#endif
