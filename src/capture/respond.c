/* respond.c - the registry of strategies, resolving the configured ones,
 * and the experiment's assignment. */
#include "respond.h"

#include <errno.h>
#include <nettle/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The registry: every strategy, one row each, in the order error messages
 * list them. */
static const struct strategy_ops *const respond_registry[] = {
	&strategy_silent,
	&strategy_banner,
	&strategy_tarpit,
	&strategy_http,
};

#define RESPOND_NREGISTRY (sizeof(respond_registry) / sizeof(respond_registry[0]))

/* The registry's row for a configured name, with in *arg what follows
 * "NAME-" for a strategy that takes an argument ("" for one that does
 * not, NULL for the bare name of one that does); NULL when none fits. */
static const struct strategy_ops *respond_lookup(const char *name, const char **arg)
{
	for (size_t i = 0; i < RESPOND_NREGISTRY; i++) {
		const struct strategy_ops *ops = respond_registry[i];
		size_t n = strlen(ops->name);
		if (strncmp(name, ops->name, n) != 0)
			continue;
		if (name[n] == '\0') {
			*arg = ops->arg_default ? NULL : "";
			return ops;
		}
		if (name[n] == '-' && ops->arg_default) {
			*arg = name + n + 1;
			return ops;
		}
	}
	return NULL;
}

/* Writes what a strategy can be configured by: every row's names. */
static void respond_names(const struct config *cfg, char *out, size_t outlen)
{
	out[0] = '\0';
	for (size_t i = 0; i < RESPOND_NREGISTRY; i++) {
		const struct strategy_ops *ops = respond_registry[i];
		size_t len = strlen(out);
		if (ops->names)
			ops->names(cfg, out, outlen);
		else if (len + 1 < outlen)
			snprintf(out + len, outlen - len, ", %s", ops->name);
	}
}

/* The message for a name that is no strategy (why, when one said), with
 * the names there are. Each part is cut to fit a CONFIG_ERR_LEN buffer. */
static void respond_unknown(const struct config *cfg, const char *name,
    const char *why, char *err, size_t errlen)
{
	char names[220];

	respond_names(cfg, names, sizeof(names));
	snprintf(err, errlen, "unknown strategy '%.40s'%s%.200s (%s)", name,
	    why ? ": " : "", why ? why : "", names[0] ? names + 2 : "");
}

/* Finds or adds the strategy called name, set up. */
static const struct strategy *respond_strategy(struct respond_set *set,
    const struct config *cfg, const char *name, char *err, size_t errlen)
{
	char canonical[STRATEGY_NAME_MAX];
	char why[CONFIG_ERR_LEN];
	const struct strategy_ops *ops;
	const char *arg;
	struct strategy *s;

	ops = respond_lookup(name, &arg);
	if (!ops || strlen(name) >= sizeof(canonical)) {
		respond_unknown(cfg, name, NULL, err, errlen);
		return NULL;
	}
	if (arg)
		snprintf(canonical, sizeof(canonical), "%s", name);
	else             /* "http" alone is "http-iis5": recorded so */
		snprintf(canonical, sizeof(canonical), "%s-%s", ops->name,
		    ops->arg_default);
	for (int i = 0; i < set->nstrategies; i++) {
		if (strcmp(set->strategies[i].name, canonical) == 0)
			return &set->strategies[i];
	}
	if (set->nstrategies >= RESPOND_MAX_STRATEGIES) {
		snprintf(err, errlen, "more than %d strategies", RESPOND_MAX_STRATEGIES);
		return NULL;
	}
	s = &set->strategies[set->nstrategies];
	memset(s, 0, sizeof(*s));
	memcpy(s->name, canonical, sizeof(s->name));
	s->arg = s->name + (ops->arg_default ? strlen(ops->name) + 1 : strlen(s->name));
	s->ops = ops;
	s->index = set->nstrategies++;   /* owned from here: respond_free frees it */
	int rc = ops->setup ? ops->setup(s, cfg, why, sizeof(why)) : 0;
	if (rc > 0)
		respond_unknown(cfg, s->name, why, err, errlen);
	else if (rc < 0)
		snprintf(err, errlen, "%s", why);
	return rc == 0 ? s : NULL;
}

/* The experiment's record: its arms by canonical name and weight, and its
 * id, the first 8 bytes of HMAC-SHA256(salt, arms) in hex: a new salt or
 * new arms make a new experiment, whose sessions are never pooled with
 * the old one's. */
static void respond_experiment_name(struct respond_set *set)
{
	struct hmac_sha256_ctx ctx;
	uint8_t digest[SHA256_DIGEST_SIZE];
	size_t used = 0;

	for (int i = 0; i < set->narms && used < sizeof(set->experiment); i++)
		used += (size_t)snprintf(set->experiment + used, sizeof(set->experiment) - used,
		    "%s%s:%u", i ? "," : "", set->arms[i]->name, set->weights[i]);
	hmac_sha256_set_key(&ctx, strlen(set->salt), (const uint8_t *)set->salt);
	hmac_sha256_update(&ctx, strlen(set->experiment), (const uint8_t *)set->experiment);
	hmac_sha256_digest(&ctx, sizeof(digest), digest);
	for (int i = 0; i < 8; i++)
		snprintf(set->experiment_id + 2 * i, 3, "%02x", digest[i]);
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
	respond_experiment_name(set);
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
	uint8_t ip[ADDR_IP_MAX];
	size_t iplen = addr_ip_bytes(src, ip);   /* a v4-mapped peer is its IPv4 host */
	uint64_t h = 0, pick;

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

void respond_experiment(const struct respond_set *set, const char **spec,
    const char **id)
{
	*spec = set->narms > 0 ? set->experiment : NULL;
	*id = set->narms > 0 ? set->experiment_id : NULL;
}

void respond_free(struct respond_set *set)
{
	for (int i = 0; i < set->nstrategies; i++) {
		struct strategy *s = &set->strategies[i];
		if (s->ops->free)
			s->ops->free(s);
	}
	memset(set, 0, sizeof(*set));
}
