/* report_experiment.c - the report's experiment section (report_experiment.h). */
#include "report_experiment.h"

#include "report_html.h"

#define RX_BAR_X 250.0               /* where the rate axis starts */
#define RX_BAR_W 420.0               /* the axis' width, 0 to 100% */
#define RX_ROW 22                    /* an arm's row */
#define RX_HEAD 22                   /* a cohort's title row */

void report_experiment_text(FILE *out, const struct report_model *m)
{
	const struct cohorts *co = &m->experiment;
	char by[64], pre[COHORTS_EXPERIMENT + 512];

	fprintf(out, "\nexperiment by cohort (%s), counted by source\n",
	    cohorts_keys_name(m->cohort_by, by, sizeof(by)));
	if (m->experiment_error[0]) {
		fprintf(out, "  not computed: %s\n", m->experiment_error);
		return;
	}
	fprintf(out, "  %s\n", cohorts_preamble(co, pre, sizeof(pre)));
	for (int i = 0; i < co->n; i++) {
		const struct cohorts_cohort *c = &co->c[i];
		for (int j = 0; j < c->narms; j++) {
			const struct cohorts_arm *a = &c->arms[j];
			fprintf(out, "  %-40.40s %-14s %5u/%-5u %4.0f%% (%.0f-%.0f%%)\n",
			    j ? "" : c->label, a->strategy, a->delivered, a->sources,
			    100 * a->rate, 100 * a->ci_low, 100 * a->ci_high);
		}
		fprintf(out, "  %s (test: %s)\n", c->conclusion, stats_method_name(c->verdict.method));
	}
	if (co->mixed || co->skipped)
		fprintf(out, "  %u sources seen under several strategies (in the arm of their "
		    "first session), %u past the caps\n", co->mixed, co->skipped);
}

json_t *report_experiment_json(const struct report_model *m)
{
	const struct cohorts *co = &m->experiment;
	char by[64];
	json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:o, s:o}",
	    "cohort_by", cohorts_keys_name(m->cohort_by, by, sizeof(by)),
	    "sources", (json_int_t)co->sources, "mixed_sources", (json_int_t)co->mixed,
	    "skipped_sources", (json_int_t)co->skipped, "cohorts", cohorts_json(co),
	    "error", m->experiment_error[0] ? json_string(m->experiment_error) : json_null());

	if (o)
		cohorts_json_experiment(co, o);
	return o;
}

/* One arm's row: its name, a bar for the rate, the interval across it. */
static void report_experiment_arm(FILE *out, const struct cohorts_arm *a, int y)
{
	double w = RX_BAR_W * a->rate;
	double lo = RX_BAR_X + RX_BAR_W * a->ci_low, hi = RX_BAR_X + RX_BAR_W * a->ci_high;

	fprintf(out, "<text x=\"16\" y=\"%d\">", y + 15);
	report_html_escape(out, a->strategy);
	fprintf(out, "</text><rect class=\"arm-rate\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
	    "height=\"14\" fill=\"#38a169\"><title>", RX_BAR_X, y + 4, w < 1 ? 1 : w);
	report_html_escape(out, a->strategy);
	fprintf(out, ": %u of %u sources delivered (%.0f%%, 95%% interval %.0f-%.0f%%)</title>"
	    "</rect>\n<line class=\"arm-ci\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
	    "stroke=\"#1a202c\" stroke-width=\"2\"/><line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" "
	    "y2=\"%d\" stroke=\"#1a202c\"/><line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
	    "stroke=\"#1a202c\"/><text x=\"%.1f\" y=\"%d\" class=\"v\">%u/%u</text>\n",
	    a->delivered, a->sources, 100 * a->rate, 100 * a->ci_low, 100 * a->ci_high,
	    lo, y + 11, hi, y + 11, lo, y + 6, lo, y + 16, hi, y + 6, hi, y + 16,
	    RX_BAR_X + RX_BAR_W + 8, y + 15, a->delivered, a->sources);
}

void report_experiment_html(FILE *out, const struct report_model *m)
{
	const struct cohorts *co = &m->experiment;
	char by[64], p[32], pre[COHORTS_EXPERIMENT + 512];
	int height = 30, y = 24;

	fputs("<section id=\"experiment\">\n<h2>Experiment by cohort (", out);
	report_html_escape(out, cohorts_keys_name(m->cohort_by, by, sizeof(by)));
	fputs("), counted by source</h2>\n", out);
	if (m->experiment_error[0]) {
		fputs("<p>Not computed: ", out);
		report_html_escape(out, m->experiment_error);
		fputs("</p>\n</section>\n", out);
		return;
	}
	fputs("<p class=\"experiment-what\">", out);
	report_html_escape(out, cohorts_preamble(co, pre, sizeof(pre)));
	fputs("</p>\n", out);
	for (int i = 0; i < co->n; i++)
		height += RX_HEAD + RX_ROW * co->c[i].narms;
	fprintf(out, "<p class=\"legend\"><span><i style=\"background:#38a169\"></i>sources that "
	    "delivered</span><span>&#x2014; 95%% Wilson interval</span></p>\n"
	    "<svg id=\"chart-experiment\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\" "
	    "width=\"760\" height=\"%d\" viewBox=\"0 0 760 %d\">\n"
	    "<text x=\"%.1f\" y=\"14\">0%%</text><text x=\"%.1f\" y=\"14\">50%%</text>"
	    "<text x=\"%.1f\" y=\"14\">100%%</text>\n", height, height, RX_BAR_X,
	    RX_BAR_X + RX_BAR_W / 2 - 10, RX_BAR_X + RX_BAR_W - 24);
	for (int i = 0; i < co->n; i++) {
		const struct cohorts_cohort *c = &co->c[i];
		fprintf(out, "<text x=\"0\" y=\"%d\" font-weight=\"bold\">", y + 16);
		report_html_escape(out, c->label);
		fprintf(out, " (%s, %s)</text>\n", stats_method_name(c->verdict.method),
		    cohorts_p_text(c->verdict.p_adjusted, p, sizeof(p)));
		y += RX_HEAD;
		for (int j = 0; j < c->narms; j++, y += RX_ROW)
			report_experiment_arm(out, &c->arms[j], y);
	}
	fputs("</svg>\n<ul class=\"conclusions\">\n", out);
	for (int i = 0; i < co->n; i++) {
		fputs("<li>", out);
		report_html_escape(out, co->c[i].conclusion);
		fputs("</li>\n", out);
	}
	fputs("</ul>\n<p class=\"legend\">p: the test across the arms named by each cohort "
	    "(fisher: Fisher's exact test, Freeman-Halton past two arms; chisq: Pearson's "
	    "chi-square, where every expected count is 5 or more; montecarlo: Freeman-Halton "
	    "estimated from 20000 random tables), Holm-adjusted over the cohorts tested; a "
	    "cohort is tested when every arm has at least 10 sources.</p>\n</section>\n", out);
}
