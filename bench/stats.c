/* stats.c - the statistics of issue 13 validated, not assumed: many
 * simulated experiments, in-process, through stats_decide (the one
 * decision function yield and report use), with delivery drawn from GSL's
 * binomial. Prints the false-positive rate where no arm differs, the power
 * for real differences, whether stats_sources_needed's figure holds, and
 * the family-wise error rate over several cohorts with and without Holm.
 * Asserts nothing: the figures are for a person (and README, DESIGN.md).
 *
 *   build/bench/stats [--experiments N] [--seed S]
 */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

#define BENCH_COHORTS_MAX 8          /* cohorts of one simulated experiment */
#define BENCH_EXPERIMENTS_MAX 1000000

static gsl_rng *bench_rng;

/* One cohort of two arms: n[i] sources in arm i, each delivering with
 * probability p[i]. */
struct bench_cohort {
	uint32_t n[2];
	double p[2];
};

/* What one kind of experiment came to over many runs: per cohort, how
 * often it was significant, untested, or had p < alpha before Holm; and
 * how often any of the null cohorts (p[0] == p[1]) was significant. */
struct bench_tally {
	long runs;
	long significant[BENCH_COHORTS_MAX];
	long raw[BENCH_COHORTS_MAX];          /* p < STATS_ALPHA unadjusted */
	long untested[BENCH_COHORTS_MAX];
	long any_null_significant;            /* family-wise, with Holm */
	long any_null_raw;                    /* family-wise, without */
};

/* Runs one kind of experiment `runs` times through stats_decide. */
static void bench_run(const struct bench_cohort *c, int ncohorts, long runs,
    struct bench_tally *t)
{
	struct stats_arm arms[BENCH_COHORTS_MAX][2];
	const struct stats_arm *ptr[BENCH_COHORTS_MAX];
	int narms[BENCH_COHORTS_MAX];
	struct stats_verdict v[BENCH_COHORTS_MAX];

	memset(t, 0, sizeof(*t));
	for (int i = 0; i < ncohorts; i++) {
		ptr[i] = arms[i];
		narms[i] = 2;
	}
	for (long r = 0; r < runs; r++) {
		bool null_sig = false, null_raw = false;
		for (int i = 0; i < ncohorts; i++)
			for (int a = 0; a < 2; a++) {
				arms[i][a].sources = c[i].n[a];
				arms[i][a].delivered = gsl_ran_binomial(bench_rng, c[i].p[a], c[i].n[a]);
			}
		stats_decide(ptr, narms, ncohorts, v);
		for (int i = 0; i < ncohorts; i++) {
			bool raw = v[i].method != STATS_UNTESTED && v[i].p < STATS_ALPHA;
			t->significant[i] += v[i].significant;
			t->raw[i] += raw;
			t->untested[i] += v[i].method == STATS_UNTESTED;
			if (c[i].p[0] == c[i].p[1]) {
				null_sig |= v[i].significant;
				null_raw |= raw;
			}
		}
		t->any_null_significant += null_sig;
		t->any_null_raw += null_raw;
	}
	t->runs = runs;
}

/* "  12.3% (10.9-13.8%)": a share of runs with its 95% Wilson interval,
 * computed by the code under test (it is only an interval). */
static const char *bench_share(long k, long n)
{
	static char buf[4][48];
	static int next;
	char *out = buf[next++ % 4];
	double lo, hi;

	stats_wilson((uint32_t)k, (uint32_t)n, &lo, &hi);
	snprintf(out, sizeof(buf[0]), "%5.1f%% (%.1f-%.1f%%)", 100.0 * (double)k / (double)n,
	    100 * lo, 100 * hi);
	return out;
}

static void bench_null(long runs)
{
	static const double base[] = {0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.98};
	static const uint32_t sizes[][2] = {{50, 50}, {20, 20}, {20, 80}, {200, 200}, {8, 8}};
	long sig_all = 0, runs_all = 0;

	printf("1. no effect (both arms deliver at the same rate): the false-positive rate\n"
	    "   %ld experiments per line; bar: at or under 5%%\n\n"
	    "   sources per arm  rate   significant           untested (too few to tell)\n", runs);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		for (size_t b = 0; b < sizeof(base) / sizeof(base[0]); b++) {
			struct bench_cohort c = {{sizes[s][0], sizes[s][1]}, {base[b], base[b]}};
			struct bench_tally t;
			bench_run(&c, 1, runs, &t);
			printf("   %7u vs %-5u  %4.2f  %s  %5.1f%%\n", sizes[s][0], sizes[s][1],
			    base[b], bench_share(t.significant[0], runs),
			    100.0 * (double)t.untested[0] / (double)runs);
			sig_all += t.significant[0];
			runs_all += runs - t.untested[0];
		}
	/* Untested experiments (too few sources) cannot be false positives:
	 * counting them would flatter the rate. */
	printf("   all %ld tested experiments: false-positive rate %s\n\n", runs_all,
	    bench_share(sig_all, runs_all));
}

static void bench_power(long runs)
{
	static const double pairs[][2] = {{0.3, 0.5}, {0.5, 0.7}, {0.1, 0.3}, {0.7, 0.9},
	    {0.4, 0.5}, {0.0, 0.9}};

	printf("2. a real effect, 50 sources per arm: the power (share of experiments\n"
	    "   found significant), %ld experiments per line\n\n"
	    "   rates          power\n", runs);
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		struct bench_cohort c = {{50, 50}, {pairs[i][0], pairs[i][1]}};
		struct bench_tally t;
		bench_run(&c, 1, runs, &t);
		printf("   %.2f vs %.2f   %s\n", pairs[i][0], pairs[i][1],
		    bench_share(t.significant[0], runs));
	}
	/* What "N more sources would detect a 10-point difference" promises. */
	uint32_t need = stats_sources_needed(0.5, 0.6, STATS_ALPHA, 0.8);
	if (need > 0 && need <= 100000) {
		struct bench_cohort c = {{need, need}, {0.5, 0.6}};
		struct bench_tally t;
		bench_run(&c, 1, runs, &t);
		printf("   0.50 vs 0.60   %s at %u per arm, the sources stats_sources_needed\n"
		    "                  gives for 80%% power\n", bench_share(t.significant[0], runs), need);
	}
	printf("\n");
}

static void bench_family(long runs)
{
	struct bench_cohort nulls[5], mixed[5];
	struct bench_tally t;
	static const double base[5] = {0.1, 0.3, 0.5, 0.7, 0.9};

	for (int i = 0; i < 5; i++) {
		nulls[i] = (struct bench_cohort){{50, 50}, {base[i], base[i]}};
		mixed[i] = nulls[i];
	}
	mixed[2].p[1] = 0.8;             /* 0.5 vs 0.8 in the middle cohort */
	printf("3. several cohorts at once (5, 50 sources per arm, rates 0.1 to 0.9),\n"
	    "   %ld experiments each: the family-wise error rate (any null cohort\n"
	    "   found significant), with Holm and with raw p-values\n\n", runs);
	bench_run(nulls, 5, runs, &t);
	printf("   5 null cohorts           with Holm %s   raw %s\n",
	    bench_share(t.any_null_significant, runs), bench_share(t.any_null_raw, runs));
	bench_run(mixed, 5, runs, &t);
	printf("   4 null, 1 of 0.5 vs 0.8  with Holm %s   raw %s\n",
	    bench_share(t.any_null_significant, runs), bench_share(t.any_null_raw, runs));
	printf("   power for that one       with Holm %s   raw %s\n",
	    bench_share(t.significant[2], runs), bench_share(t.raw[2], runs));
}

int main(int argc, char **argv)
{
	long runs = 5000;
	unsigned long seed = 13;
	char err[256];

	for (int i = 1; i < argc; i++) {
		char *end;
		if (i + 1 < argc && strcmp(argv[i], "--experiments") == 0) {
			runs = strtol(argv[++i], &end, 10);
			if (*end || runs < 1 || runs > BENCH_EXPERIMENTS_MAX) {
				fprintf(stderr, "bench/stats: --experiments: '%s' is not 1 to %d\n",
				    argv[i], BENCH_EXPERIMENTS_MAX);
				return 2;
			}
		} else if (i + 1 < argc && strcmp(argv[i], "--seed") == 0) {
			seed = strtoul(argv[++i], &end, 10);
			if (*end) {
				fprintf(stderr, "bench/stats: --seed: '%s' is not a number\n", argv[i]);
				return 2;
			}
		} else {
			fprintf(stderr, "usage: bench/stats [--experiments N] [--seed S]\n");
			return 2;
		}
	}
	if (stats_load(err, sizeof(err)) < 0) {
		fprintf(stderr, "bench/stats: %s\n", err);
		return 2;
	}
	bench_rng = gsl_rng_alloc(gsl_rng_mt19937);
	gsl_rng_set(bench_rng, seed);
	printf("flypaper statistics benchmark: stats_decide on simulated experiments "
	    "(alpha %.2f, seed %lu)\n\n", STATS_ALPHA, seed);
	bench_null(runs);
	bench_power(runs);
	bench_family(runs);
	gsl_rng_free(bench_rng);
	return 0;
}
