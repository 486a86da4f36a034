/* report_render.h - the report's formats: each renderer reads the model
 * (report_model.h) and writes one document. The model's strings are
 * escaped to printable ASCII already; each renderer quotes them for its
 * format (HTML entities, JSON strings) and writes nothing else from the
 * database. */
#ifndef FLYPAPER_REPORT_RENDER_H
#define FLYPAPER_REPORT_RENDER_H

#include <stdio.h>

#include "report_model.h"

/* Plain text for a terminal: totals, bursts, classes, families, top
 * sources, strategy yield, top paths and user agents, the timeline. */
void report_render_text(FILE *out, const struct report_model *m);

/* Everything as one JSON document (indented, keys in a fixed order).
 * Returns 0, or -1 when the document could not be built (no memory). */
int report_render_json(FILE *out, const struct report_model *m);

/* One self-contained HTML page with inline SVG charts, no script. */
void report_render_html(FILE *out, const struct report_model *m);

#endif
