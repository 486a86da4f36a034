/* report_tags.h - the report's techniques: the technique tags stored per
 * session (sessions.tags, comma-separated), counted per tag as the model's
 * one pass over the sessions meets them, with the families using each. */
#ifndef FLYPAPER_REPORT_TAGS_H
#define FLYPAPER_REPORT_TAGS_H

#include <stddef.h>

#define REPORT_TAGS_MAX 4096         /* distinct tags counted; a tag first met
                                      * past it is counted in "over" only */
#define REPORT_TAG_LEN 64            /* stored bytes of a tag kept (longer: cut) */
#define REPORT_TAGS_SCAN 1024        /* stored bytes of a session's tags read */
#define REPORT_TAGS_FAMILIES 48      /* family indexes a tag counts (the
                                      * model's REPORT_MAX_FAMILIES) */
#define REPORT_TAG_TOP_FAMILIES 3    /* families shown a tag */
#define REPORT_TAGS_SHOWN 32         /* tags in the report, most sessions first */

/* One technique tag: how many sessions and sources, when, and which
 * families (the model's names) used it most. */
struct report_tag {
	char tag[REPORT_TAG_LEN * 4 + 1];        /* as stored, escaped */
	long sessions, sources;
	char first_seen[64], last_seen[64];      /* escaped */
	int families[REPORT_TAG_TOP_FAMILIES];   /* indexes of the model's families */
	long family_sessions[REPORT_TAG_TOP_FAMILIES];
	int nfamilies;
};

struct report_tags;

/* An empty table, or NULL when memory runs out (the report then shows no
 * techniques). */
struct report_tags *report_tags_new(void);

/* Counts one session's stored tags (any bytes, comma-separated; NULL or
 * empty: none; only the first REPORT_TAGS_SCAN bytes are read), its start
 * as stored, its family (an index below REPORT_TAGS_FAMILIES) and source,
 * a number that changes exactly when the pass (ordered by source) reaches
 * another source. A tag named twice in one session counts once. NULL t is
 * allowed. */
void report_tags_add(struct report_tags *t, const unsigned char *tags, size_t len,
    const unsigned char *ts, size_t ts_len, int family, long source);

/* Fills out with the max tags of most sessions (ties by tag), and
 * *distinct with the tags counted, *tagged with the sessions that had one,
 * *over with the tags met past REPORT_TAGS_MAX (each time: not distinct);
 * frees t (NULL is allowed: none). Returns how many tags it filled. */
int report_tags_finish(struct report_tags *t, struct report_tag *out, int max,
    long *distinct, long *tagged, long *over);

#endif
