/* report_experiment.h - the report's experiment section: per cohort of
 * sources and strategy arm, counted by source, the rates with their
 * intervals, the verdict and the conclusion (the model's cohorts,
 * cohorts.h), in each format. Its own file so that other sections merge
 * apart from it. */
#ifndef FLYPAPER_REPORT_EXPERIMENT_H
#define FLYPAPER_REPORT_EXPERIMENT_H

#include <jansson.h>
#include <stdio.h>

#include "report_model.h"

/* The section as text lines. */
void report_experiment_text(FILE *out, const struct report_model *m);

/* The section as a JSON object: {cohort_by, sources, mixed_sources,
 * skipped_sources, cohorts (cohorts_json's shape), error} (the caller
 * owns it). */
json_t *report_experiment_json(const struct report_model *m);

/* The section as HTML: an inline SVG chart, one bar per cohort and arm
 * (the rate) with its 95% interval drawn across it, then the conclusions. */
void report_experiment_html(FILE *out, const struct report_model *m);

#endif
