/* report_html.h - quoting for the report's HTML (report_render.c and
 * report_experiment.c). */
#ifndef FLYPAPER_REPORT_HTML_H
#define FLYPAPER_REPORT_HTML_H

#include <stdio.h>

/* Writes s as HTML text or attribute value. The model's strings are
 * printable ASCII already (store_column_display), so these five are all. */
void report_html_escape(FILE *out, const char *s);

#endif
