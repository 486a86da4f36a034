/* stats.c - unit tests of the statistics of an experiment
 * (src/analysis/stats.c) against known values: Fisher's exact p-values
 * and Pearson's chi-square from scipy 1.10 (fisher_exact,
 * chi2_contingency(correction=False)), Freeman-Halton p-values from a
 * brute-force enumeration in exact fractions (python3 fractions), Wilson
 * intervals from the formula by hand, sample sizes as R's
 * power.prop.test gives them (387.3 for 0.5 vs 0.6), Holm by hand. Run
 * from unit.c's main through test_stats. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "stats.h"

void test_stats(int *passed, int *failed);

static int *st_passed, *st_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*st_passed)++;                                    \
		} else {                                                   \
			(*st_failed)++;                                    \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

/* relative closeness, or both tiny */
static int st_close(double got, double want, double rel)
{
	if (isnan(want))
		return isnan(got);
	return fabs(got - want) <= rel * fabs(want) + 1e-300;
}

/* arms (sources, delivered), the p-value and the test that gave it */
static const struct {
	const char *name;
	int narms;
	struct stats_arm arms[4];
	double p;
	enum stats_method method;
} st_tests[] = {
	{"fisher 3/4 vs 1/4", 2, {{4, 3}, {4, 1}}, 0.48571428571428565, STATS_FISHER},
	{"fisher 31/33 vs 0/35", 2, {{33, 31}, {35, 0}}, 2.4095428809981757e-17, STATS_FISHER},
	{"fisher 7/12 vs 3/12", 2, {{12, 7}, {12, 3}}, 0.2137568986404631, STATS_FISHER},
	{"fisher equal", 2, {{20, 10}, {20, 10}}, 1.0, STATS_FISHER},
	{"fisher 12/50 vs 22/50", 2, {{50, 12}, {50, 22}}, 0.05666413097982188, STATS_FISHER},
	{"fisher 12/20 vs 5/20", 2, {{20, 12}, {20, 5}}, 0.05355099259437413, STATS_FISHER},
	{"arms swapped", 2, {{20, 5}, {20, 12}}, 0.05355099259437413, STATS_FISHER},
	{"freeman-halton 3 arms", 3, {{10, 2}, {10, 5}, {10, 9}}, 0.008664089008127516, STATS_FISHER},
	{"freeman-halton 4 arms", 4, {{9, 1}, {10, 3}, {11, 4}, {12, 8}}, 0.07417997786053376, STATS_FISHER},
	{"freeman-halton equal", 3, {{10, 5}, {10, 5}, {10, 5}}, 1.0, STATS_FISHER},
	{"nobody delivered", 2, {{30, 0}, {30, 0}}, 1.0, STATS_FISHER},
	{"an empty arm is left out", 3, {{4, 3}, {0, 0}, {4, 1}}, 0.48571428571428565, STATS_FISHER},
	{"one arm", 1, {{40, 20}}, NAN, STATS_UNTESTED},
	{"one arm with sources", 2, {{40, 20}, {0, 0}}, NAN, STATS_UNTESTED},
	/* 3 arms of 1000+: 1001^2 tables, past STATS_EXACT_TABLES:
	 * chi2_contingency([[300,450,600],[700,550,400]]), 181.8 on 2 df */
	{"chi-square 3 arms", 3, {{1000, 300}, {1000, 450}, {1000, 600}}, 3.3012883806933387e-40, STATS_CHISQ},
	{"all delivered", 3, {{1000, 1000}, {1000, 1000}, {1000, 1000}}, 1.0, STATS_FISHER},
	/* rare deliveries in large arms: Freeman-Halton walks only the
	 * counts up to the 3 or 4 delivered (python3 fractions, by brute
	 * force); chi-square gave 0.0288, 0.0496 and 0.0072 here */
	{"4x200, 3,0,0,0", 4, {{200, 3}, {200, 0}, {200, 0}, {200, 0}}, 0.06179717127612523, STATS_FISHER},
	{"3x1000, 3,0,0", 3, {{1000, 3}, {1000, 0}, {1000, 0}}, 0.11088886422225243, STATS_FISHER},
	{"4x200, 4,0,0,0", 4, {{200, 4}, {200, 0}, {200, 0}, {200, 0}}, 0.015274834054450025, STATS_FISHER},
	{"4x200, all but 3 delivered", 4, {{200, 197}, {200, 200}, {200, 200}, {200, 200}}, 0.06179717127612523, STATS_FISHER},
};

/* Past STATS_EXACT_TABLES with an expected count below 5 (the 10-source
 * arm expects 0.55 deliveries): Monte Carlo, within 4 standard errors of
 * the exact 0.11828695 (python3, all 1.2 million tables enumerated). */
static void st_monte_carlo(void)
{
	static const struct stats_arm arms[] = {{10, 0}, {2000, 100}, {2000, 100}, {2000, 130}};
	enum stats_method m;
	double p = stats_rate_test(arms, 4, &m), again = stats_rate_test(arms, 4, &m);
	double se = sqrt(0.11828695 * (1 - 0.11828695) / STATS_MC_TABLES);

	CHECK(m == STATS_MONTE_CARLO, "method %s", stats_method_name(m));
	CHECK(fabs(p - 0.11828695) < 4 * se, "monte carlo p %.5f, exact 0.11829", p);
	CHECK(p == again, "fixed seed: %.17g then %.17g", p, again);
	CHECK(!strcmp(stats_method_name(STATS_MONTE_CARLO), "montecarlo"), "name");
}

static void st_rate_tests(void)
{
	for (size_t i = 0; i < sizeof(st_tests) / sizeof(st_tests[0]); i++) {
		enum stats_method m;
		double p = stats_rate_test(st_tests[i].arms, st_tests[i].narms, &m);
		CHECK(st_close(p, st_tests[i].p, 1e-6), "%s: p %.17g, want %.17g",
		    st_tests[i].name, p, st_tests[i].p);
		CHECK(m == st_tests[i].method, "%s: method %s, want %s", st_tests[i].name,
		    stats_method_name(m), stats_method_name(st_tests[i].method));
	}
	/* a forged row: more delivered than sources is cut to the sources */
	enum stats_method m;
	double p = stats_rate_test((struct stats_arm[]){{4, 9}, {4, 1}}, 2, &m);
	CHECK(st_close(p, 0.14285714285714285, 1e-6), "delivered > sources: p %g", p);
	st_monte_carlo();
}

static void st_wilson(void)
{
	static const struct {
		uint32_t k, n;
		double low, high;
	} w[] = {
		{31, 33, 0.8039375519135219, 0.9832191169128082},
		{0, 35, 0.0, 0.09890099232440402},
		{5, 10, 0.236593090512564, 0.7634069094874361},
		{1, 1, 0.20654931437723745, 1.0},
		{0, 0, 0.0, 1.0},
	};
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		double lo, hi;
		stats_wilson(w[i].k, w[i].n, &lo, &hi);
		CHECK(fabs(lo - w[i].low) < 1e-9 && fabs(hi - w[i].high) < 1e-9,
		    "wilson %u/%u: %.12f-%.12f, want %.12f-%.12f", w[i].k, w[i].n, lo, hi,
		    w[i].low, w[i].high);
	}
}

static void st_holm(void)
{
	double p[5] = {0.01, 0.04, NAN, 0.03, 0.005}, adj[5];
	double want[5] = {0.03, 0.06, NAN, 0.06, 0.02};

	stats_holm(p, adj, 5);
	for (int i = 0; i < 5; i++)
		CHECK(st_close(adj[i], want[i], 1e-12), "holm[%d] %g, want %g", i, adj[i], want[i]);
	double big[2] = {0.6, 0.7}, badj[2];
	stats_holm(big, badj, 2);
	CHECK(badj[0] == 1 && badj[1] == 1, "holm caps at 1: %g %g", badj[0], badj[1]);
}

static void st_needed(void)
{
	/* R: power.prop.test(p1=.5, p2=.6, power=.8)$n = 387.34 */
	CHECK(stats_sources_needed(0.5, 0.6, 0.05, 0.8) == 388, "0.5 vs 0.6: %u",
	    stats_sources_needed(0.5, 0.6, 0.05, 0.8));
	CHECK(stats_sources_needed(0.0, 0.1, 0.05, 0.8) == 74, "0 vs 0.1: %u",
	    stats_sources_needed(0.0, 0.1, 0.05, 0.8));
	CHECK(stats_sources_needed(0.2, 0.3, 0.05, 0.8) == 294, "0.2 vs 0.3: %u",
	    stats_sources_needed(0.2, 0.3, 0.05, 0.8));
	CHECK(stats_sources_needed(0.9, 0.8, 0.05, 0.8) == 199, "0.9 vs 0.8: %u",
	    stats_sources_needed(0.9, 0.8, 0.05, 0.8));
	CHECK(stats_sources_needed(0.3, 0.3, 0.05, 0.8) == 0, "no difference: 0");
	CHECK(stats_sources_needed(-1, 0.3, 0.05, 0.8) == 0, "out of range: 0");
}

static void st_decide(void)
{
	/* cohort 0: a real effect; 1: the same rate in both arms; 2: too few
	 * sources; 3: a single arm; 4: a p of 0.0536 alone, 0.107 with Holm
	 * over the three tested */
	static const struct stats_arm c0[] = {{33, 31}, {35, 0}};
	static const struct stats_arm c1[] = {{40, 20}, {40, 21}};
	static const struct stats_arm c2[] = {{9, 9}, {12, 0}};
	static const struct stats_arm c3[] = {{50, 25}};
	static const struct stats_arm c4[] = {{20, 12}, {20, 5}};
	const struct stats_arm *arms[] = {c0, c1, c2, c3, c4};
	int narms[] = {2, 2, 2, 1, 2};
	struct stats_verdict v[5];

	stats_decide(arms, narms, 5, v);
	CHECK(v[0].enough && v[0].significant && v[0].method == STATS_FISHER &&
	    st_close(v[0].p_adjusted, 3 * 2.4095428809981757e-17, 1e-6) && v[0].more_sources == 0,
	    "effect: significant %d p_adj %g more %u", v[0].significant, v[0].p_adjusted,
	    v[0].more_sources);
	CHECK(v[1].enough && !v[1].significant && v[1].p_adjusted == 1 &&
	    v[1].more_sources == stats_sources_needed(41.0 / 80, 41.0 / 80 - 0.1, 0.05, 0.8) - 40,
	    "no effect: significant %d p_adj %g more %u", v[1].significant, v[1].p_adjusted,
	    v[1].more_sources);
	CHECK(!v[2].enough && !v[2].significant && v[2].method == STATS_UNTESTED &&
	    isnan(v[2].p) && isnan(v[2].p_adjusted) && v[2].more_sources > 0,
	    "too few: enough %d more %u", v[2].enough, v[2].more_sources);
	CHECK(!v[3].enough && isnan(v[3].p) && v[3].more_sources == 0,
	    "one arm: enough %d more %u", v[3].enough, v[3].more_sources);
	CHECK(v[4].enough && st_close(v[4].p, 0.05355099259437413, 1e-6) &&
	    st_close(v[4].p_adjusted, 2 * 0.05355099259437413, 1e-6) && !v[4].significant,
	    "holm over the 3 tested: p %g p_adj %g", v[4].p, v[4].p_adjusted);
	CHECK(stats_enough((struct stats_arm[]){{10, 0}, {10, 10}}, 2) &&
	    !stats_enough((struct stats_arm[]){{10, 0}, {9, 9}}, 2),
	    "the rule: %d sources per arm", STATS_MIN_SOURCES);
}

void test_stats(int *passed, int *failed)
{
	char err[512];

	st_passed = passed;
	st_failed = failed;
	if (stats_load(err, sizeof(err)) < 0) {
		CHECK(0, "stats_load: %s", err);
		return;
	}
	st_rate_tests();
	st_wilson();
	st_holm();
	st_needed();
	st_decide();
}
