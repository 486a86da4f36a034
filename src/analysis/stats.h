/* stats.h - the statistics of an experiment, counted by source: an
 * interval for a delivery rate, a test that the rate differs across arms,
 * Holm's correction over the cohorts tested, the minimum-evidence rule,
 * and the sources a 10-point difference would need. The distributions
 * are GSL's (libgsl), never hand-written. CONTRACT: the stats branch
 * implements it (stats.c); yield, report and bench/stats use only this. */
#ifndef FLYPAPER_STATS_H
#define FLYPAPER_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATS_ALPHA 0.05             /* the significance level of every verdict */
#define STATS_POWER 0.8              /* the power more_sources is reckoned for */
#define STATS_EFFECT 0.10            /* the difference more_sources is reckoned for */
#define STATS_MIN_SOURCES 10         /* the minimum-evidence rule: every arm has
                                      * at least this many sources */
#define STATS_EXACT_TABLES 1000000   /* the exact test enumerates at most this many
                                      * tables; past it, Pearson's chi-square
                                      * where Cochran's rule holds, else Monte
                                      * Carlo */
#define STATS_CHISQ_MIN_EXPECTED 5.0 /* Cochran's rule: chi-square only when every
                                      * expected count is at least this */
#define STATS_MC_TABLES 20000        /* random tables of the Monte Carlo test:
                                      * standard error at most 0.0035 */
#define STATS_MC_SEED 13             /* its fixed seed: same counts, same p */
#define STATS_MAX_ARMS 64            /* arms one cohort may have in a test */

/* Which test gave a p-value. The names (stats_method_name) are part of
 * the JSON shape. */
enum stats_method {
	STATS_UNTESTED,              /* fewer than two arms, or too few sources */
	STATS_FISHER,                /* Fisher's exact (Freeman-Halton past two arms) */
	STATS_CHISQ,                 /* Pearson's chi-square, where counts are large
	                              * and every expected count is 5 or more */
	STATS_MONTE_CARLO,           /* Freeman-Halton estimated from random tables:
	                              * too many to enumerate, counts too small
	                              * for chi-square */
};

/* "untested", "fisher", "chisq" or "montecarlo". */
const char *stats_method_name(enum stats_method m);

/* One arm of a cohort: its sources and how many delivered any payload. */
struct stats_arm {
	uint32_t sources;
	uint32_t delivered;
};

/* What the numbers say of one cohort. */
struct stats_verdict {
	enum stats_method method;
	double p;                    /* NaN when untested */
	double p_adjusted;           /* Holm, over the cohorts tested; NaN untested */
	bool enough;                 /* the minimum-evidence rule held */
	bool significant;            /* enough and p_adjusted < STATS_ALPHA */
	uint32_t more_sources;       /* per arm, more sources to detect a 10-point
	                              * difference at 80% power; 0 none needed */
};

/* Makes the library ready (GSL is loaded on demand). 0, or -1 with a
 * message naming the problem in err. */
int stats_load(char *err, size_t errlen);

/* The 95% Wilson score interval of k successes in n; [0, 1] when n is 0.
 * Needs stats_load, like every function below. */
void stats_wilson(uint32_t k, uint32_t n, double *low, double *high);

/* The p-value (two-sided) of the test that every arm delivers at the same
 * rate: Fisher's exact test for two arms, Freeman-Halton's extension for
 * more, while the tables to enumerate (prod of min(sources, t) + 1 over
 * all arms but the largest, t the smaller of delivered and not) are at
 * most STATS_EXACT_TABLES; past that, Pearson's chi-square (k-1 degrees
 * of freedom) when every expected count is STATS_CHISQ_MIN_EXPECTED or
 * more, else Freeman-Halton by Monte Carlo (STATS_MC_TABLES tables,
 * fixed seed). Arms without
 * sources are left out. NaN and STATS_UNTESTED with fewer than two arms
 * (or more than STATS_MAX_ARMS); 1 when every source, or none, delivered. */
double stats_rate_test(const struct stats_arm *arms, int narms,
    enum stats_method *method);

/* Holm's step-down adjustment of m p-values (NaN entries are skipped and
 * stay NaN, and do not count in m). */
void stats_holm(const double *p, double *adjusted, int m);

/* The minimum-evidence rule: are there sources enough to tell? At least
 * two arms, and every arm has STATS_MIN_SOURCES sources or more. */
bool stats_enough(const struct stats_arm *arms, int narms);

/* Sources per arm to detect rates p1 vs p2 with a two-sided test at
 * alpha, with power: the normal approximation for two proportions
 * (Fleiss, without continuity correction; R's power.prop.test), rounded
 * up. 0 when p1 == p2 or an argument is out of its range. */
uint32_t stats_sources_needed(double p1, double p2, double alpha, double power);

/* The whole decision for ncohorts cohorts (cohort i has narms[i] arms at
 * arms[i]): each cohort that passes the minimum-evidence rule is tested,
 * Holm corrects over those tested, verdicts go to out[i]. more_sources:
 * from the cohort's pooled rate p, the sources per arm a difference of
 * STATS_EFFECT (p to p+0.1, or p-0.1 above 0.5) needs, less its smallest
 * arm; 0 when significant or with fewer than two arms. What yield and
 * report print, and what bench/stats checks. */
void stats_decide(const struct stats_arm *const *arms, const int *narms,
    int ncohorts, struct stats_verdict *out);

#endif
