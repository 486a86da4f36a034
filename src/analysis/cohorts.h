/* cohorts.h - an experiment's sources grouped into cohorts by what is
 * seen of them whatever the strategy (the size of their first burst, their
 * SYN's OS label in it, the port they first came to: pre-treatment for
 * peers that fire their burst before reacting to the answer; the balance
 * check catches a key the arms changed),
 * and per cohort
 * and strategy arm counted by source: who delivered, how fast, who left
 * without delivering, what they delivered, and what the statistics say
 * (stats.h). yield and report print it. Every string in it came from a
 * database and is escaped (store_column_display): a printer only quotes
 * it for its format. */
#ifndef FLYPAPER_COHORTS_H
#define FLYPAPER_COHORTS_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats.h"

#define COHORTS_MAX 64               /* cohorts kept; sources of others: skipped */
#define COHORTS_MAX_ARMS 16          /* arms of a cohort; sources of others: skipped */
#define COHORTS_MAX_FAMILIES 16      /* families of a cohort; the last: "other" */
#define COHORTS_SOURCE_FAMILIES 8    /* distinct families one source is counted for */
#define COHORTS_MAX_TIMES (1u << 22) /* first-byte times held in all, for medians */
#define COHORTS_DROP_MS 1000         /* "left within 1 s" of a server byte or IDENT */
#define COHORTS_LABEL 160            /* a cohort's label, cut */
#define COHORTS_CONCLUSION 1536      /* a conclusion line, cut */
#define COHORTS_EXPERIMENT 1024      /* an experiment's arms as shown, cut */
#define COHORTS_EXPERIMENT_ID 64     /* an experiment's id as stored; longer:
                                      * not flypaper's, never matched */

/* The pre-treatment keys (--cohort-by), as bits; none is 0. */
enum cohorts_key {
	COHORTS_BURST = 1,           /* the size of the source's first burst */
	COHORTS_OS = 2,              /* the p0f label of its SYN (os) */
	COHORTS_OS_CLASS = 4,        /* p0f's class of it (os_class) */
	COHORTS_PORT = 8,            /* the port it connected to (dst_port) */
};
#define COHORTS_DEFAULT (COHORTS_BURST | COHORTS_OS)

/* One strategy arm of a cohort, counted by source. */
struct cohorts_arm {
	char strategy[64];           /* escaped */
	uint32_t sources, delivered;
	uint32_t left_at_data;       /* left within 1 s of the first server byte,
	                              * never having delivered */
	uint32_t left_at_ident;      /* likewise at the IDENT probe */
	long long sessions;
	double rate, ci_low, ci_high;    /* delivered / sources, Wilson 95% */
	double median_ms;            /* median over delivering sources of their
	                              * first payload's first byte; -1 none */
	double *times;               /* those first bytes, while collecting */
	size_t ntimes, cap;
};

struct cohorts_family {
	char name[64];               /* escaped; "other" gathers the rest */
	uint32_t sources;            /* sources that delivered it */
};

struct cohorts_cohort {
	char label[COHORTS_LABEL];   /* e.g. "bursts of 16, os Windows XP" (escaped) */
	struct cohorts_arm arms[COHORTS_MAX_ARMS];   /* by strategy name */
	int narms;
	struct cohorts_family families[COHORTS_MAX_FAMILIES];  /* most sources first */
	int nfamilies;
	struct stats_verdict verdict;
	char conclusion[COHORTS_CONCLUSION];
};

struct cohorts {
	/* the one experiment tested: only sessions its draw assigned
	 * (sessions.experiment_id); id "" when none is in the window */
	char experiment_id[COHORTS_EXPERIMENT_ID];   /* as stored (matched) */
	char experiment_shown[COHORTS_EXPERIMENT_ID * 4];   /* escaped */
	char experiment[COHORTS_EXPERIMENT];         /* its arms, escaped */
	uint64_t not_randomised;     /* sessions left out: no draw assigned their
	                              * strategy (the listener's) */
	uint64_t other_experiments;  /* sessions left out: another experiment's */
	struct cohorts_cohort *c;    /* by label */
	int n;
	uint32_t sources;            /* sources counted */
	uint32_t mixed;              /* of them, seen under several strategies */
	uint32_t skipped;            /* sources past COHORTS_MAX or _MAX_ARMS */
	/* the keys' balance: per arm, whether its share of sources differs
	 * across cohorts (stats_rate_test, Holm over the arms); a key the
	 * strategy changed would differ. NaN when fewer than two cohorts */
	double balance_p;            /* the smallest Holm-adjusted p */
	bool unbalanced;             /* balance_p < STATS_ALPHA */
	size_t times;                /* first-byte times held (COHORTS_MAX_TIMES) */
	uint64_t times_dropped;      /* past the cap: not in the medians */
};

/* Parses --cohort-by's "KEY[,KEY]" (burst, os, os_class, port, none) into
 * bits. Returns 0, or -1 with a message naming the bad key in err. */
int cohorts_parse_keys(const char *spec, unsigned *keys, char *err, size_t errlen);

/* The keys as text, e.g. "burst,os" ("none" for 0), into out. */
const char *cohorts_keys_name(unsigned keys, char *out, size_t outlen);

/* Where each column a pass reads is in the caller's query: the session's
 * src_ip, start_ts, strategy (NULL read as "-" by the caller: coalesce),
 * bytes_in, first_byte_ms, first_out_ms, closed_by,
 * peer_close_after_out_ms, peer_close_after_ident_ms, the peer's SYN os
 * and os_class, dst_port, family, close_reason (-1: the query left out
 * the rows cohorts leave out already) and experiment_id (NULL: not
 * randomised). */
struct cohorts_cols {
	int ip, ts, strategy, bytes_in, first_byte, first_out, closed_by,
	    close_after_out, close_after_ident, os, os_class, port, family, reason,
	    experiment;
};

/* Picks the experiment to test into *out (before cohorts_begin, which
 * keeps it): the one whose id is want, else (want NULL) the one of the
 * latest session since the UTC prefix that has one. None found (or a
 * database older than the experiment columns): out->experiment_id is "",
 * and every session counts as not randomised. SQLITE_OK or SQLite's
 * error. */
int cohorts_experiment(sqlite3 *db, const char *since, const char *want,
    struct cohorts *out);

struct cohorts_pass;

/* A pass fed by the caller's own query, ordered by src_ip then start_ts
 * (the report's one pass over the sessions): *out is zeroed but for the
 * experiment cohorts_experiment picked, and filled; rows of other
 * experiments, or of none, are counted and left out.
 * NULL without memory (then *out holds nothing to free but is zeroed). */
struct cohorts_pass *cohorts_begin(unsigned keys, uint64_t gap_ms,
    const struct cohorts_cols *cols, struct cohorts *out);

/* One row of the query; capacity, half-open and proxy_error rows are left
 * out here when cols->reason says where close_reason is. */
void cohorts_feed(struct cohorts_pass *p, sqlite3_stmt *q);

/* Ends the pass (NULL: nothing) and releases it; with decide, computes the
 * rates, intervals and verdicts (stats_decide: stats_load first) and the
 * conclusions. Release *out with cohorts_free. */
void cohorts_finish(struct cohorts_pass *p, bool decide);

/* Reads the sessions (table or view) of db since a UTC timestamp prefix
 * into *out (zeroed here), keeps those of one experiment (want, else the
 * latest: cohorts_experiment), groups sources into cohorts by keys
 * (bursts.h, gap_ms) and decides each (stats_decide, stats_load first). A source belongs to the arm of the strategy of its
 * first session in the window, and only its sessions under that strategy
 * count (the others are set aside, the source counted in mixed).
 * Half-open, refused (capacity) and proxy_error rows are left out.
 * Returns SQLITE_OK or SQLite's error (its message in db); release *out
 * with cohorts_free either way. */
int cohorts_collect(sqlite3 *db, const char *since, const char *want, unsigned keys,
    uint64_t gap_ms, struct cohorts *out);

void cohorts_free(struct cohorts *co);

/* The cohorts as a JSON array of {cohort, arms: [{strategy, sources,
 * delivered, rate, ci_low, ci_high, sessions, median_first_byte_ms,
 * left_at_first_byte, left_at_ident}], method, p_value, p_adjusted,
 * enough, significant, more_sources, conclusion, families: {name:
 * sources}} (the caller owns it). */
json_t *cohorts_json(const struct cohorts *co);

/* What a printer says of the experiment before its cohorts, into out
 * (one line, no newline): which experiment, the sessions left out (not
 * randomised, other experiments), and a warning when the keys are not
 * balanced across the arms; or that there is no experiment to test. */
const char *cohorts_preamble(const struct cohorts *co, char *out, size_t outlen);

/* The experiment's fields for a JSON object: experiment, experiment_id,
 * not_randomised_sessions, other_experiment_sessions, balance_p and
 * unbalanced, set into obj. */
void cohorts_json_experiment(const struct cohorts *co, json_t *obj);

/* "p < 0.001" or "p = 0.012" for an adjusted p-value, into out. */
const char *cohorts_p_text(double p, char *out, size_t outlen);

#endif
