/* respond.h - which response strategy each peer gets: the run's strategies
 * resolved from the configuration by name through the registry (one row
 * per strategy, each strategy one file: strategy.h), per listener or by
 * the experiment's keyed assignment. */
#ifndef FLYPAPER_RESPOND_H
#define FLYPAPER_RESPOND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "strategy.h"

#define RESPOND_MAX_STRATEGIES 16
#define RESPOND_EXPERIMENT_MAX 1024  /* the experiment's arms as recorded */
#define RESPOND_EXPERIMENT_ID 17     /* its id: 16 hex digits, NUL */

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
	/* what every session of the experiment records (sessions.experiment,
	 * experiment_id): its arms as "name:weight,..." and a short keyed hash
	 * of them and the salt, so that analysis tests only sessions one draw
	 * assigned; both empty without an experiment */
	char experiment[RESPOND_EXPERIMENT_MAX];
	char experiment_id[RESPOND_EXPERIMENT_ID];
};

/* Resolves the configuration's strategies (respond, per-listener respond,
 * experiment) and sets each up (http loads its personality's templates).
 * Returns 0, or -1 with a message naming the problem in err; either way
 * respond_free frees what it holds. */
int respond_build(struct respond_set *set, const struct config *cfg,
    char *err, size_t errlen);

/* The strategy for a peer on listener i: the experiment's arm for its
 * address when an experiment runs, else the listener's. */
const struct strategy *respond_pick(const struct respond_set *set, int listener,
    const struct addr *src);

/* The experiment arm for an address: a keyed hash (HMAC-SHA256 with the
 * salt) of the host's address bytes (addr_ip_bytes: a v4-mapped peer is
 * its IPv4 host), so every connection of a source, a whole burst, gets
 * the same arm. Pure. */
int respond_arm(const struct respond_set *set, const struct addr *src);

/* The experiment a strategy pick came from, for the session's record: its
 * arms (*spec) and id (*id), both static for the run; NULL when the
 * strategy is the listener's (no experiment: not randomised). Pure. */
void respond_experiment(const struct respond_set *set, const char **spec,
    const char **id);

/* Frees what respond_build set up. */
void respond_free(struct respond_set *set);

#endif
