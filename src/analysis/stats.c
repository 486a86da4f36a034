/* stats.c - the statistics of an experiment (stats.h): Wilson intervals,
 * Fisher's exact test and Freeman-Halton's extension (exact, or Monte
 * Carlo past STATS_EXACT_TABLES), Pearson's chi-square, Holm's correction, the minimum-evidence rule and the sample
 * size. The distributions are GSL's, loaded on demand (gsl_api.h). */
#include "stats.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gsl_api.h"

/* R's fisher.test: a table counts as "as extreme" when its probability is
 * at most the observed one's times this, so that rounding cannot drop a
 * table of the same probability. */
#define STATS_REL_ERR (1 + 1e-7)

int stats_load(char *err, size_t errlen)
{
	return gsl_api_load(err, errlen);
}

const char *stats_method_name(enum stats_method m)
{
	switch (m) {
	case STATS_FISHER: return "fisher";
	case STATS_CHISQ: return "chisq";
	case STATS_MONTE_CARLO: return "montecarlo";
	default: return "untested";
	}
}

void stats_wilson(uint32_t k, uint32_t n, double *low, double *high)
{
	double z, z2, p, centre, half;

	if (n == 0 || k > n) {
		*low = 0;
		*high = 1;
		return;
	}
	z = gsl_cdf_ugaussian_Pinv(1 - STATS_ALPHA / 2);
	z2 = z * z;
	p = (double)k / n;
	centre = (p + z2 / (2.0 * n)) / (1 + z2 / n);
	half = z / (1 + z2 / n) * sqrt(p * (1 - p) / n + z2 / (4.0 * n * n));
	*low = k == 0 ? 0 : fmax(0, centre - half);
	*high = k == n ? 1 : fmin(1, centre + half);
}

/* Fisher's exact test of a 2x2 table: arm a's delivered count given the
 * margins is hypergeometric; the p-value sums every count no likelier
 * than the one seen. */
static double stats_fisher2(const struct stats_arm *a, const struct stats_arm *b)
{
	unsigned n1 = a->sources, n2 = b->sources;
	unsigned t = a->delivered + b->delivered;
	unsigned lo = t > n2 ? t - n2 : 0, hi = t < n1 ? t : n1;
	double seen = gsl_ran_hypergeometric_pdf(a->delivered, n1, n2, t), p = 0;

	for (unsigned k = lo; k <= hi; k++) {
		double pk = gsl_ran_hypergeometric_pdf(k, n1, n2, t);
		if (pk <= seen * STATS_REL_ERR)
			p += pk;
	}
	return fmin(1, p);
}

/* Freeman-Halton: every 2xk table with the margins seen. The last arm
 * takes what is left; lnc[j][d] is log C(sources_j, d) for d up to the
 * delivered total t (no arm's count can pass it). */
struct stats_fh {
	const struct stats_arm *arms;
	int narms;
	double **lnc;
	double base;                 /* log C(N, delivered) */
	double seen;                 /* log probability of the table seen */
	double p;
	uint32_t *room;              /* sources of arms j.. together */
};

static void stats_fh_walk(struct stats_fh *fh, int j, uint32_t left, double lp)
{
	const struct stats_arm *a = &fh->arms[j];

	if (j == fh->narms - 1) {
		lp += fh->lnc[j][left] - fh->base;
		if (lp <= fh->seen + log(STATS_REL_ERR))
			fh->p += exp(lp);
		return;
	}
	/* what the arms after j can take at most bounds d from below */
	uint32_t after = fh->room[j + 1];
	uint32_t lo = left > after ? left - after : 0;
	uint32_t hi = left < a->sources ? left : a->sources;
	for (uint32_t d = lo; d <= hi; d++)
		stats_fh_walk(fh, j + 1, left - d, lp + fh->lnc[j][d]);
}

/* The margins of a table: n sources, t delivered. */
static void stats_margins(const struct stats_arm *arms, int narms, uint32_t *n, uint32_t *t)
{
	*n = *t = 0;
	for (int j = 0; j < narms; j++) {
		*n += arms[j].sources;
		*t += arms[j].delivered;
	}
}

static double stats_freeman_halton(const struct stats_arm *arms, int narms)
{
	struct stats_fh fh = {.arms = arms, .narms = narms};
	uint32_t room[STATS_MAX_ARMS + 1] = {0}, n, t;
	double *lnc[STATS_MAX_ARMS];
	int ok = 1;

	stats_margins(arms, narms, &n, &t);
	for (int j = narms - 1; j >= 0; j--)
		room[j] = room[j + 1] + arms[j].sources;
	for (int j = 0; j < narms; j++) {
		uint32_t top = arms[j].sources < t ? arms[j].sources : t;
		lnc[j] = malloc((top + 1) * sizeof(double));
		if (!lnc[j]) {
			ok = 0;
			narms = j;
			break;
		}
		for (uint32_t d = 0; d <= top; d++)
			lnc[j][d] = gsl_sf_lnchoose(arms[j].sources, d);
	}
	if (ok) {
		fh.lnc = lnc;
		fh.room = room;
		fh.base = gsl_sf_lnchoose(n, t);
		fh.seen = -fh.base;
		for (int j = 0; j < narms; j++)
			fh.seen += lnc[j][arms[j].delivered];
		stats_fh_walk(&fh, 0, t, 0);
	}
	for (int j = 0; j < narms; j++)
		free(lnc[j]);
	return ok ? fmin(1, fh.p) : NAN;
}

/* A fixed-seed generator for the Monte Carlo test (splitmix64): the same
 * counts give the same p-value on every run. A uniform in [0, 1). */
static double stats_uniform(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (double)(z >> 11) / 9007199254740992.0;
}

/* A draw of an arm's delivered count: hypergeometric, left delivered
 * among its s and the rest's sources, by inversion over the counts taken
 * from the mode outwards (any fixed order inverts exactly; this one ends
 * within a few standard deviations). GSL gives the mode's probability;
 * its neighbours' follow by the ratio of consecutive terms. */
static uint32_t stats_draw(uint32_t s, uint32_t rest, uint32_t left, double u)
{
	uint32_t lo = left > rest ? left - rest : 0, hi = left < s ? left : s;
	uint32_t mode = (uint32_t)(((double)left + 1) * ((double)s + 1) / ((double)s + rest + 2));
	uint32_t down, up;
	double acc, pd, pu;

	if (mode < lo)
		mode = lo;
	if (mode > hi)
		mode = hi;
	acc = pd = pu = gsl_ran_hypergeometric_pdf(mode, s, rest, left);
	down = up = mode;
	while (u >= acc && (down > lo || up < hi)) {
		if (down > lo) {
			/* P(k-1) = P(k) k (rest - left + k) / ((s - k + 1)(left - k + 1)) */
			double k = down--;
			pd *= k * ((double)rest - left + k) / (((double)s - k + 1) * ((double)left - k + 1));
			acc += pd;
			if (u < acc)
				return down;
		}
		if (up < hi) {
			/* P(k+1) = P(k) (s - k)(left - k) / ((k + 1)(rest - left + k + 1)) */
			double k = up++;
			pu *= ((double)s - k) * ((double)left - k) / ((k + 1) * ((double)rest - left + k + 1));
			acc += pu;
			if (u < acc)
				return up;
		}
	}
	return u < acc ? mode : up;  /* rounding left u past the total: the last */
}

/* Freeman-Halton's p-value estimated from STATS_MC_TABLES random tables
 * with the margins seen: arm by arm, its delivered count drawn from its
 * hypergeometric law given what is left (stats_draw, GSL's pdf). The
 * estimate is (hits + 1) / (tables + 1), never 0; its standard error is
 * at most 0.5 / sqrt(STATS_MC_TABLES) (0.0035). */
static double stats_monte_carlo(const struct stats_arm *arms, int narms)
{
	uint32_t room[STATS_MAX_ARMS + 1] = {0}, n, t;
	uint64_t state = STATS_MC_SEED, hits = 0;
	double seen, base;

	stats_margins(arms, narms, &n, &t);
	for (int j = narms - 1; j >= 0; j--)
		room[j] = room[j + 1] + arms[j].sources;
	base = gsl_sf_lnchoose(n, t);
	seen = -base;
	for (int j = 0; j < narms; j++)
		seen += gsl_sf_lnchoose(arms[j].sources, arms[j].delivered);
	for (uint32_t b = 0; b < STATS_MC_TABLES; b++) {
		uint32_t left = t;
		double lp = -base;
		for (int j = 0; j < narms; j++) {
			uint32_t s = arms[j].sources, rest = room[j + 1], d;
			d = j == narms - 1 ? left : stats_draw(s, rest, left, stats_uniform(&state));
			lp += gsl_sf_lnchoose(s, d);
			left -= d;
		}
		hits += lp <= seen + log(STATS_REL_ERR);
	}
	return fmin(1, (hits + 1.0) / (STATS_MC_TABLES + 1.0));
}

/* Pearson's chi-square of the 2xk table, k-1 degrees of freedom. */
static double stats_chisq(const struct stats_arm *arms, int narms)
{
	double n = 0, t = 0, x = 0;

	for (int j = 0; j < narms; j++) {
		n += arms[j].sources;
		t += arms[j].delivered;
	}
	for (int j = 0; j < narms; j++) {
		double e1 = arms[j].sources * t / n, e0 = arms[j].sources - e1;
		double o1 = arms[j].delivered, o0 = arms[j].sources - o1;
		x += (o1 - e1) * (o1 - e1) / e1 + (o0 - e0) * (o0 - e0) / e0;
	}
	return gsl_cdf_chisq_Q(x, narms - 1);
}

/* Cochran's rule: chi-square holds when every expected count, delivered
 * and not, is 5 or more. */
static bool stats_chisq_valid(const struct stats_arm *arms, int narms)
{
	uint32_t n, t;

	stats_margins(arms, narms, &n, &t);
	for (int j = 0; j < narms; j++) {
		double e1 = (double)arms[j].sources * t / n;
		if (e1 < STATS_CHISQ_MIN_EXPECTED || arms[j].sources - e1 < STATS_CHISQ_MIN_EXPECTED)
			return false;
	}
	return true;
}

/* The tables Freeman-Halton walks, bounded: an arm's delivered count is
 * at most min(sources, t) (t the delivered total, at most half the
 * sources: the caller flips delivered and not past it); the walk goes
 * largest arm last, whose count is what is left. */
static double stats_tables(const struct stats_arm *arms, int narms)
{
	uint32_t n, t;
	double tables = 1;

	stats_margins(arms, narms, &n, &t);
	for (int j = 0; j < narms - 1; j++)
		tables *= (arms[j].sources < t ? arms[j].sources : t) + 1.0;
	return tables;
}

static int stats_by_size(const void *a, const void *b)
{
	const struct stats_arm *x = a, *y = b;
	return (x->sources > y->sources) - (x->sources < y->sources);
}

double stats_rate_test(const struct stats_arm *arms, int narms,
    enum stats_method *method)
{
	struct stats_arm used[STATS_MAX_ARMS];
	uint64_t n = 0, t = 0;
	int k = 0;

	*method = STATS_UNTESTED;
	if (narms > STATS_MAX_ARMS)
		return NAN;
	for (int j = 0; j < narms; j++) {
		if (arms[j].sources == 0)
			continue;
		used[k] = arms[j];
		if (used[k].delivered > used[k].sources)
			used[k].delivered = used[k].sources;   /* a forged count */
		n += used[k].sources;
		t += used[k].delivered;
		k++;
	}
	if (k < 2 || n > UINT32_MAX)
		return NAN;
	/* the table read the other way round (who did not deliver) has the
	 * same p-value and fewer tables when most delivered */
	if (2 * t > n)
		for (int j = 0; j < k; j++)
			used[j].delivered = used[j].sources - used[j].delivered;
	qsort(used, (size_t)k, sizeof(used[0]), stats_by_size);
	if (t == 0 || t == n) {
		*method = STATS_FISHER;
		return 1;
	}
	if (stats_tables(used, k) <= STATS_EXACT_TABLES) {
		*method = STATS_FISHER;
		return k == 2 ? stats_fisher2(&used[0], &used[1]) : stats_freeman_halton(used, k);
	}
	if (stats_chisq_valid(used, k)) {
		*method = STATS_CHISQ;
		return stats_chisq(used, k);
	}
	*method = STATS_MONTE_CARLO;
	return stats_monte_carlo(used, k);
}

struct stats_rank {
	double p;
	int i;
};

static int stats_by_p(const void *a, const void *b)
{
	const struct stats_rank *x = a, *y = b;
	if (x->p != y->p)
		return x->p < y->p ? -1 : 1;
	return x->i - y->i;
}

void stats_holm(const double *p, double *adjusted, int m)
{
	struct stats_rank *r = malloc((size_t)(m > 0 ? m : 1) * sizeof(*r));
	double running = 0;
	int tested = 0;

	for (int i = 0; i < m; i++)
		adjusted[i] = NAN;
	if (!r)
		return;
	for (int i = 0; i < m; i++)
		if (!isnan(p[i]))
			r[tested++] = (struct stats_rank){p[i], i};
	qsort(r, (size_t)tested, sizeof(*r), stats_by_p);
	/* step down: the i-th smallest is multiplied by the tests left, and
	 * an adjusted value never falls below the one before it */
	for (int i = 0; i < tested; i++) {
		double a = fmin(1, (tested - i) * r[i].p);
		running = fmax(running, a);
		adjusted[r[i].i] = running;
	}
	free(r);
}

bool stats_enough(const struct stats_arm *arms, int narms)
{
	if (narms < 2)
		return false;
	for (int j = 0; j < narms; j++)
		if (arms[j].sources < STATS_MIN_SOURCES)
			return false;
	return true;
}

uint32_t stats_sources_needed(double p1, double p2, double alpha, double power)
{
	double za, zb, pbar, d, n;

	if (!(p1 >= 0 && p1 <= 1 && p2 >= 0 && p2 <= 1 && alpha > 0 && alpha < 1 &&
	    power > 0 && power < 1) || p1 == p2)
		return 0;
	za = gsl_cdf_ugaussian_Pinv(1 - alpha / 2);
	zb = gsl_cdf_ugaussian_Pinv(power);
	pbar = (p1 + p2) / 2;
	d = za * sqrt(2 * pbar * (1 - pbar)) + zb * sqrt(p1 * (1 - p1) + p2 * (1 - p2));
	n = ceil(d * d / ((p1 - p2) * (p1 - p2)) - 1e-9);
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* Per arm, the sources still missing to detect STATS_EFFECT from the
 * cohort's pooled rate. */
static uint32_t stats_more(const struct stats_arm *arms, int narms)
{
	uint64_t n = 0, t = 0;
	uint32_t smallest = UINT32_MAX, need;
	double base;

	if (narms < 2)
		return 0;
	for (int j = 0; j < narms; j++) {
		n += arms[j].sources;
		t += arms[j].delivered < arms[j].sources ? arms[j].delivered : arms[j].sources;
		if (arms[j].sources < smallest)
			smallest = arms[j].sources;
	}
	base = n ? (double)t / n : 0;
	need = stats_sources_needed(base, base <= 0.5 ? base + STATS_EFFECT
	    : base - STATS_EFFECT, STATS_ALPHA, STATS_POWER);
	return need > smallest ? need - smallest : 0;
}

void stats_decide(const struct stats_arm *const *arms, const int *narms,
    int ncohorts, struct stats_verdict *out)
{
	double *p = calloc((size_t)(ncohorts > 0 ? ncohorts : 1) * 2, sizeof(double));

	for (int i = 0; i < ncohorts; i++) {
		struct stats_verdict *v = &out[i];
		memset(v, 0, sizeof(*v));
		v->method = STATS_UNTESTED;
		v->p = v->p_adjusted = NAN;
		v->enough = stats_enough(arms[i], narms[i]);
		if (v->enough)
			v->p = stats_rate_test(arms[i], narms[i], &v->method);
		if (p)
			p[i] = v->p;
	}
	if (p) {
		stats_holm(p, p + ncohorts, ncohorts);
		for (int i = 0; i < ncohorts; i++)
			out[i].p_adjusted = p[ncohorts + i];
	}
	for (int i = 0; i < ncohorts; i++) {
		struct stats_verdict *v = &out[i];
		v->significant = v->enough && !isnan(v->p_adjusted) &&
		    v->p_adjusted < STATS_ALPHA;
		v->more_sources = v->significant ? 0 : stats_more(arms[i], narms[i]);
	}
	free(p);
}
