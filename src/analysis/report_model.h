/* report_model.h - what "flypaper report" found, as named fields: built
 * once from the databases (report_model_build), then read by each
 * renderer (report_render.h). Every string in it came from a database and
 * is hostile: it was escaped to printable ASCII on the way in
 * (store_column_display, text_display_into), so a renderer only has to
 * quote it for its own format. */
#ifndef FLYPAPER_REPORT_MODEL_H
#define FLYPAPER_REPORT_MODEL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "cohorts.h"
#include "report_shapes.h"
#include "report_tags.h"
#include "report_tls.h"
#include "yield.h"

#define REPORT_MAX_BURST 1024        /* burst sizes above are counted together */
#define REPORT_MAX_FAMILIES 48       /* the last one gathers the rest as "other" */
#define REPORT_HOURS 32768           /* hash slots for the timeline */
#define REPORT_TOP 10                /* rows of each top list */
#define REPORT_SOURCE_SIZES 32       /* a top source's first bursts kept */
#define REPORT_VALUE_MAX 1024        /* a path or user agent is shown cut to this */
#define REPORT_MAX_OS 24             /* OS labels counted; the last gathers the rest */

/* The columns of the report's one pass over the sessions, in the order
 * of its SELECT (report_model.c), each with the name SQLite gives it (the
 * view's column, or the AS of an expression). Every reader of the pass's
 * rows (the classes, the OS, the TLS section, the cohorts' column table)
 * reads by these names; report_model_check_columns compares them with the
 * prepared statement's names before the pass starts. */
#define REPORT_COLUMNS(X) \
	X(RCOL_SRC_IP, "src_ip") \
	X(RCOL_START_TS, "start_ts") \
	X(RCOL_BYTES_IN, "bytes_in") \
	X(RCOL_FIRST_BYTE_MS, "first_byte_ms") \
	X(RCOL_FIRST_OUT_MS, "first_out_ms") \
	X(RCOL_CLOSED_BY, "closed_by") \
	X(RCOL_CLOSE_AFTER_OUT, "peer_close_after_out_ms") \
	X(RCOL_CLOSE_AFTER_IDENT, "peer_close_after_ident_ms") \
	X(RCOL_CLOSE_REASON, "close_reason") \
	X(RCOL_FAMILY, "family") \
	X(RCOL_HAS_PAYLOAD, "has_payload") \
	X(RCOL_SHAPE, "shape") \
	X(RCOL_SESSION, "session") \
	X(RCOL_UNCLASSIFIED, "unclassified") \
	X(RCOL_TAGS, "tags") \
	X(RCOL_TAGS_MISSING, "tags_missing") \
	X(RCOL_OS, "os") \
	X(RCOL_SYN_STATE, "syn_state") \
	X(RCOL_HANDSHAKES, "handshakes") \
	X(RCOL_STRATEGY, "strategy") \
	X(RCOL_OS_CLASS, "os_class") \
	X(RCOL_DST_PORT, "dst_port") \
	X(RCOL_TLS, "tls") \
	X(RCOL_TLS_HELLO_VER, "tls_hello_ver") \
	X(RCOL_TLS_VERSIONS, "tls_versions") \
	X(RCOL_TLS_SNI, "tls_sni") \
	X(RCOL_JA3_MD5, "ja3_md5") \
	X(RCOL_JA4, "ja4") \
	X(RCOL_TLS_FRONT, "tls_front") \
	X(RCOL_TLS_VERSION, "tls_version") \
	X(RCOL_TLS_ERROR, "tls_error") \
	X(RCOL_TLS_ALERT, "tls_alert") \
	X(RCOL_EXPERIMENT_ID, "experiment_id")

#define REPORT_COL_ENUM(id, name) id,
enum report_col { REPORT_COLUMNS(REPORT_COL_ENUM) RCOL_COUNT };
#undef REPORT_COL_ENUM

/* How a session behaved, from its timings and who closed it. */
enum report_class {
	CLASS_PAYLOAD,               /* sent data at once */
	CLASS_LATE_PAYLOAD,          /* waited (for a banner), then sent */
	CLASS_HANDSHAKE_ONLY,        /* connected, sent nothing, left */
	CLASS_DROP_ON_DATA,          /* left within 1 s of flypaper's first byte */
	CLASS_DROP_ON_IDENT,         /* left within 1 s of the IDENT probe */
	CLASS_WAITS_FOREVER,         /* sent nothing, held until flypaper's timeout */
	CLASS_HALF_OPEN,             /* never accepted (syn_only, rst_after_synack):
	                              * counted in handshakes, in no other section */
	CLASS_COUNT
};

/* One hour of the timeline. */
struct report_hour {
	char key[14];                /* "2026-11-27T05", or what the database held
	                              * instead, escaped; empty: free slot */
	long sessions;
	long by_class[CLASS_COUNT];
	long by_family[REPORT_MAX_FAMILIES];   /* indexes report_model.families */
};

/* One source (an address as stored) and its bursts. */
struct report_source {
	char ip[64];                 /* escaped */
	long sessions;
	long bursts;
	long by_class[CLASS_COUNT];
	enum report_class class;     /* its dominant class (the first of a tie) */
	int sizes[REPORT_SOURCE_SIZES];  /* its first bursts' sizes */
	int nsizes;
};

/* A value of a requests column and how many requests had it. */
struct report_value {
	char value[REPORT_VALUE_MAX];    /* escaped, maybe cut */
	long long count;
};

/* A p0f label of the peers' SYNs and its sessions by behaviour class. */
struct report_os {
	char label[96];              /* escaped; in the last slot, the rest */
	long sessions;
	long by_class[CLASS_COUNT];
};

struct report_model {
	const char *since, *until;   /* the window asked for (checked timestamps) */
	uint64_t gap_ms;             /* a longer silence ends a source's burst */
	long sessions;               /* sessions in the window, refused ones apart */
	long refused;                /* refused at a limit (close reason capacity) */
	long half_open;              /* half-open handshakes (their rows' handshakes,
	                              * NULL counting 1), apart like refused */
	long sources;
	long by_class[CLASS_COUNT];          /* sessions */
	long sources_by_class[CLASS_COUNT];  /* sources, by their dominant class */
	long bursts;
	long burst_sizes[REPORT_MAX_BURST + 1];  /* bursts of each size; the last:
	                                          * REPORT_MAX_BURST or more */
	char families[REPORT_MAX_FAMILIES][64];  /* escaped; in order of first sight */
	long family_sessions[REPORT_MAX_FAMILIES];
	int nfamilies;
	struct report_hour *hours;   /* after the build: nhours hours in order */
	size_t nhours;
	struct report_source top[REPORT_TOP];    /* most sessions first */
	int ntop;
	struct report_value paths[REPORT_TOP];   /* most requested first */
	struct report_value user_agents[REPORT_TOP];
	int npaths, nuser_agents;
	struct report_value sensors[REPORT_TOP]; /* rows per sensor, most first */
	int nsensors;
	struct yield_row *strategies;    /* the strategy yield table */
	int nstrategies;
	/* The experiment by cohort (report_experiment.c renders it). */
	unsigned cohort_by;          /* cohorts.h keys, set by the caller */
	const char *experiment_want; /* its experiment_id; NULL: the latest (caller) */
	struct cohorts experiment;
	char experiment_error[256];  /* why there is none (no GSL...); "" */
	char error[256];             /* why the build failed when SQLite did not
	                              * say (the pass's columns); "" */
	long unknown;                /* sessions with a payload and no family */
	long unshaped;               /* of those, stored with no shape (before
	                              * schema 6: rescan fills it) */
	long unclassified;           /* payloads no rule has looked at yet
	                              * (pending, shed, skipped): not unknown */
	struct report_shape shapes[REPORT_TOP];  /* most sessions first */
	int nshapes;
	struct report_tag tags[REPORT_TAGS_SHOWN];   /* techniques, most sessions first */
	int ntags;
	long tags_distinct;          /* distinct tags counted (ntags shown) */
	long tagged;                 /* sessions with a technique tag */
	long tags_over;              /* tags met past REPORT_TAGS_MAX, not counted */
	long untagged;               /* sessions with a payload in databases
	                              * older than schema 6 (no tags: rescan) */
	/* Operating systems: the p0f labels of the peers' own SYNs. */
	struct report_os os[REPORT_MAX_OS];      /* in order of first sight */
	int nos;
	bool os_rest;                /* os[REPORT_MAX_OS - 1] gathers the labels past it */
	long os_syn_by_class[CLASS_COUNT];       /* sessions with the peer's SYN */
	long os_unmatched_by_class[CLASS_COUNT]; /* of them, no signature matched */
	long os_without_syn;         /* no SYN saved (cookies, inetd, before schema 7) */
	long os_proxy;               /* the SYN was an upstream proxy's: not counted */
	/* TLS: ClientHello facts and the TLS front's outcome (schema 8). */
	struct report_tls tls;
};

/* The schema name of a class, e.g. "drop-on-ident". */
const char *report_class_name(enum report_class c);

/* Fills m (zeroed here, but for since, until, gap_ms, cohort_by and
 * experiment_want, which
 * the caller sets first) from the temporary views "sessions" and "requests" of db
 * (report.c's report_attach). Returns SQLITE_OK, or SQLite's error of the
 * sessions' query (its message in db); SQLITE_NOMEM without memory for
 * the timeline; SQLITE_INTERNAL when the query's columns are not those of
 * enum report_col (m->error says which). Release m with report_model_free either way. */
int report_model_build(struct report_model *m, sqlite3 *db);

/* The name the pass's SELECT gives column c ("?" out of range). */
const char *report_model_column_name(enum report_col c);

/* Whether statement q has exactly the pass's columns, each at its enum
 * position under its name. Returns 0, or -1 with the first difference
 * (the position, the name found and the one expected) in err. */
int report_model_check_columns(sqlite3_stmt *q, char *err, size_t errlen);

/* Releases what report_model_build allocated. */
void report_model_free(struct report_model *m);

#endif
