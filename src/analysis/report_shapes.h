/* report_shapes.h - the report's top unknown shapes: sessions with a
 * payload and no family, grouped by their shape's order-free part
 * (shape.h) as the model's one pass over the sessions meets them. */
#ifndef FLYPAPER_REPORT_SHAPES_H
#define FLYPAPER_REPORT_SHAPES_H

#include <sqlite3.h>
#include <stddef.h>

#include "report_model.h"

#define REPORT_SHAPES_MAX 65536      /* groups counted; later ones count as
                                      * unknown but rank in no group */
#define REPORT_SHAPE_ORDERS 16       /* distinct header orders counted a group */

struct report_shapes;

/* An empty table, or NULL when memory runs out. */
struct report_shapes *report_shapes_new(void);

/* Counts one unknown session: its stored shape (any bytes; NULL or empty:
 * stored without one), its start and id as stored, and source, a number
 * that changes exactly when the pass (ordered by source) reaches another
 * source. Counts into m->unknown and m->unshaped. */
void report_shapes_add(struct report_shapes *t, struct report_model *m,
    const unsigned char *shape, size_t shape_len, const unsigned char *ts, size_t ts_len,
    const unsigned char *session, size_t session_len, long source);

/* Fills m->shapes with the REPORT_TOP groups of most sessions, each with
 * its latest session's payload as the example (read from db's views
 * "sessions" and "payloads"), and frees t. NULL is allowed. */
void report_shapes_finish(struct report_shapes *t, struct report_model *m, sqlite3 *db);

#endif
