/* report_tls.h - the report's TLS section: the ClientHello facts and the
 * TLS front's outcome stored per session (schema 8), counted as the
 * model's one pass over the sessions meets them: top JA3, JA4, SNI and
 * alert values with their sources, families and behaviour classes; the
 * hello states and the front's errors; the TLS versions per day. */
#ifndef FLYPAPER_REPORT_TLS_H
#define FLYPAPER_REPORT_TLS_H

#include <stddef.h>

#define REPORT_TLS_KEYS 4096         /* distinct values counted per table; a
                                      * value first met past it is "over" */
#define REPORT_TLS_PROBES 32         /* slots a value's search looks at; a
                                      * value that finds neither itself nor a
                                      * free slot in them is "over" */
#define REPORT_TLS_KEY_LEN 128       /* stored bytes of a value kept (SNI: 255
                                      * at most on the wire; longer: cut) */
#define REPORT_TLS_NOTE_LEN 64       /* stored bytes of a JA3 string kept */
#define REPORT_TLS_SHOWN 10          /* rows of each top table */
#define REPORT_TLS_FAMILIES 48       /* the model's REPORT_MAX_FAMILIES */
#define REPORT_TLS_CLASSES 7         /* the model's CLASS_COUNT */
#define REPORT_TLS_TOP_FAMILIES 3    /* families shown a row */
#define REPORT_TLS_DAYS 4096         /* days of the versions' timeline; a
                                      * later day is counted in no day */

/* What a ClientHello's state column said (tlshello.h's names). */
enum report_tls_state {
	RTLS_STATE_HELLO, RTLS_STATE_SSLV2, RTLS_STATE_PARTIAL, RTLS_STATE_MALFORMED,
	RTLS_STATE_OVERSIZED, RTLS_STATE_OTHER, RTLS_STATE_COUNT
};

/* How a TLS front's handshake ended (record.h's enum record_tls_error
 * names), "completed" first. */
enum report_tls_outcome {
	RTLS_DONE, RTLS_ERR_NOT_TLS, RTLS_ERR_PEER_CLOSED, RTLS_ERR_PEER_RESET,
	RTLS_ERR_PEER_ALERT, RTLS_ERR_TIMEOUT, RTLS_ERR_PROTOCOL, RTLS_ERR_OTHER,
	RTLS_OUTCOME_COUNT
};

/* A session's TLS version: the front's negotiated one, else the highest
 * the ClientHello offered (supported_versions without GREASE, else its
 * legacy_version); "unknown" when neither says. */
enum report_tls_version {
	RTLS_V_SSL2, RTLS_V_SSL3, RTLS_V_10, RTLS_V_11, RTLS_V_12, RTLS_V_13, RTLS_V_UNKNOWN,
	RTLS_V_COUNT
};

/* The top tables. */
enum report_tls_table { RTLS_T_JA3, RTLS_T_JA4, RTLS_T_SNI, RTLS_T_ALERT, RTLS_T_COUNT };

/* A stored value (any bytes; NULL: none) and its length. */
struct report_tls_bytes {
	const void *p;
	size_t len;
};

/* One session's stored TLS columns, as the pass reads them. */
struct report_tls_in {
	struct report_tls_bytes state, versions, sni, ja3_md5, ja4;
	struct report_tls_bytes version, error, alert;   /* the front's */
	long long hello_ver;         /* legacy_version; < 0: NULL */
	int front;                   /* tls_front: 1 on a TLS listener */
	struct report_tls_bytes ts;  /* start_ts as stored */
	int cls;                     /* behaviour class, below REPORT_TLS_CLASSES */
	int family;                  /* the model's family index */
	long source;                 /* changes exactly when the ordered pass
	                              * reaches another source */
};

/* One value of a top table. */
struct report_tls_row {
	char key[REPORT_TLS_KEY_LEN * 4 + 1];    /* as stored, escaped */
	unsigned char raw[REPORT_TLS_KEY_LEN];   /* the value as stored, maybe cut */
	size_t raw_len;
	char note[REPORT_TLS_NOTE_LEN * 4 + 1];  /* JA3: its string, cut, escaped
	                                          * (report_tls_set_note; "" none) */
	int note_cut;                /* the note is longer than shown */
	long sessions, sources;
	long by_class[REPORT_TLS_CLASSES];
	int families[REPORT_TLS_TOP_FAMILIES];   /* indexes of the model's families */
	long family_sessions[REPORT_TLS_TOP_FAMILIES];
	int nfamilies;
};

/* A top table: its rows, most sessions first, and what it did not show. */
struct report_tls_top {
	struct report_tls_row rows[REPORT_TLS_SHOWN];
	int n;
	long distinct;               /* distinct values counted (n shown) */
	long over;                   /* sessions whose value came past REPORT_TLS_KEYS */
	long without;                /* TLS sessions with no value (no SNI...) */
};

/* One day of the versions' timeline. */
struct report_tls_day {
	char day[11];                /* "2026-11-27", or what was stored, escaped */
	long by_version[RTLS_V_COUNT];
};

/* The section, as the model holds it. */
struct report_tls {
	long sessions;               /* began with a TLS handshake, or on a front */
	long hellos;                 /* with a ClientHello state */
	long states[RTLS_STATE_COUNT];
	long front;                  /* sessions on a TLS listener */
	long outcomes[RTLS_OUTCOME_COUNT];
	long by_version[RTLS_V_COUNT];
	struct report_tls_top top[RTLS_T_COUNT];
	struct report_tls_day *days; /* ndays, in order; malloc'd */
	size_t ndays;
	long days_over;              /* sessions of days past REPORT_TLS_DAYS */
};

struct report_tls_acc;

/* An empty accumulator, or NULL when memory runs out (the report then
 * shows the section empty). */
struct report_tls_acc *report_tls_new(void);

/* Counts one session (NULL a is allowed: nothing). A session with neither
 * a state nor front set is not a TLS session and counts nothing. */
void report_tls_add(struct report_tls_acc *a, const struct report_tls_in *in);

/* Fills out (zeroed here) and frees a (NULL: an empty section). Returns 0,
 * or -1 when the days could not be allocated (out->days NULL, the rest
 * filled). Release out with report_tls_free. */
int report_tls_finish(struct report_tls_acc *a, struct report_tls *out);

/* Sets a row's note from stored bytes (NULL: none): the JA3 string of a
 * JA3 row, looked up by its md5 after the pass, so that the pass's sort
 * does not carry every session's JA3 string. Cut and escaped. */
void report_tls_set_note(struct report_tls_row *r, const void *note, size_t len);

/* Releases what report_tls_finish allocated. */
void report_tls_free(struct report_tls *t);

/* Names, for every format: "hello", "peer_closed", "TLSv1.3", "ja3"... */
const char *report_tls_state_name(enum report_tls_state s);
const char *report_tls_outcome_name(enum report_tls_outcome o);
const char *report_tls_version_name(enum report_tls_version v);
const char *report_tls_table_name(enum report_tls_table t);

/* The version a session counts under (see enum report_tls_version). */
enum report_tls_version report_tls_version_of(const struct report_tls_in *in);

#ifdef FLYPAPER_TEST_HOOKS
/* Tests only (the unit builds): the most slots one search has looked at
 * (the tests zero it), and, while nonzero, every value hashed to one
 * slot, as if a peer had found values colliding under the run's key. */
extern long report_tls_test_probes_max;
extern int report_tls_test_one_slot;
#endif

#endif
