/* report_shapes.h - the report's top unknown shapes: sessions with a
 * payload and no family, grouped by their shape's order-free part
 * (shape.h) as the model's one pass over the sessions meets them. */
#ifndef FLYPAPER_REPORT_SHAPES_H
#define FLYPAPER_REPORT_SHAPES_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "shape.h"

#define REPORT_SHAPES_MAX 65536      /* groups counted; later ones count as
                                      * unknown but rank in no group */
#define REPORT_SHAPE_ORDERS 16       /* distinct header orders counted a group */
#define REPORT_SHAPE_EXAMPLE 200     /* bytes of a shape's example payload shown */

/* A shape (shape.h) of sessions no rule named: how many, from where and
 * when, and the latest one's payload as the example. Grouped by the id's
 * order-free part, so a client that shuffles its headers is one row. */
struct report_shape {
	char group[64];              /* "s1:" + 16 hex, as stored (escaped) */
	char text[SHAPE_TEXT_MAX];   /* the example's long form, computed now */
	bool current;                /* text's id is in group: stored by this
	                              * definition (else rescan would change it) */
	long sessions, sources;
	long orders;                 /* distinct header orders within it */
	char first_seen[64], last_seen[64];      /* escaped */
	char example_session[64];                /* escaped */
	char example[REPORT_SHAPE_EXAMPLE * 4 + 1];  /* its first bytes, escaped */
};

struct report_shapes;

/* An empty table, or NULL when memory runs out (the report then shows no
 * unknown shapes). */
struct report_shapes *report_shapes_new(void);

/* Counts one unknown session: its stored shape (any bytes; NULL or empty:
 * stored without one), its start and id as stored, and source, a number
 * that changes exactly when the pass (ordered by source) reaches another
 * source. NULL t is allowed. */
void report_shapes_add(struct report_shapes *t, const unsigned char *shape,
    size_t shape_len, const unsigned char *ts, size_t ts_len,
    const unsigned char *session, size_t session_len, long source);

/* Fills out with the max groups of most sessions, each with its latest
 * session's payload as the example (read from db's views "sessions" and
 * "payloads"), and *unknown and *unshaped with the sessions counted and
 * those of them without a shape; frees t (NULL is allowed: none). Returns
 * how many groups it filled. */
int report_shapes_finish(struct report_shapes *t, sqlite3 *db, struct report_shape *out,
    int max, long *unknown, long *unshaped);

#endif
