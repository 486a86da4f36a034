/* cohorts.h - an experiment's sources grouped into cohorts by what is
 * seen of them whatever the strategy (pre-treatment: their typical burst
 * size, their SYN's OS label, the port they came to...), and per cohort
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
#define COHORTS_MAX_BURSTS 4096      /* a source's first bursts its median reads */
#define COHORTS_MAX_TIMES (1u << 22) /* first-byte times held in all, for medians */
#define COHORTS_DROP_MS 1000         /* "left within 1 s" of a server byte or IDENT */
#define COHORTS_LABEL 160            /* a cohort's label, cut */
#define COHORTS_CONCLUSION 1536      /* a conclusion line, cut */

/* The pre-treatment keys (--cohort-by), as bits; none is 0. */
enum cohorts_key {
	COHORTS_BURST = 1,           /* the source's median burst size */
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
	struct cohorts_cohort *c;    /* by label */
	int n;
	uint32_t sources;            /* sources counted */
	uint32_t mixed;              /* of them, seen under several strategies */
	uint32_t skipped;            /* sources past COHORTS_MAX or _MAX_ARMS */
	size_t times;                /* first-byte times held (COHORTS_MAX_TIMES) */
	uint64_t times_dropped;      /* past the cap: not in the medians */
};

/* Parses --cohort-by's "KEY[,KEY]" (burst, os, os_class, port, none) into
 * bits. Returns 0, or -1 with a message naming the bad key in err. */
int cohorts_parse_keys(const char *spec, unsigned *keys, char *err, size_t errlen);

/* The keys as text, e.g. "burst,os" ("none" for 0), into out. */
const char *cohorts_keys_name(unsigned keys, char *out, size_t outlen);

/* Reads the sessions (table or view) of db since a UTC timestamp prefix
 * into *out (zeroed here), groups sources into cohorts by keys (bursts
 * split at gap_ms of silence, bursts.h) and decides each (stats_decide,
 * stats_load first). A source belongs to the arm of the strategy of its
 * first session in the window, and only its sessions under that strategy
 * count (the others are set aside, the source counted in mixed).
 * Half-open, refused (capacity) and proxy_error rows are left out.
 * Returns SQLITE_OK or SQLite's error (its message in db); release *out
 * with cohorts_free either way. */
int cohorts_collect(sqlite3 *db, const char *since, unsigned keys, uint64_t gap_ms,
    struct cohorts *out);

void cohorts_free(struct cohorts *co);

/* The cohorts as a JSON array of {cohort, arms: [{strategy, sources,
 * delivered, rate, ci_low, ci_high, sessions, median_first_byte_ms,
 * left_at_first_byte, left_at_ident}], method, p_value, p_adjusted,
 * enough, significant, more_sources, conclusion, families: {name:
 * sources}} (the caller owns it). */
json_t *cohorts_json(const struct cohorts *co);

/* "p < 0.001" or "p = 0.012" for an adjusted p-value, into out. */
const char *cohorts_p_text(double p, char *out, size_t outlen);

#endif
