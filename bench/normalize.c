/* normalize.c - what normalising a payload costs: each file given is
 * normalised REPS times (normalize_payload, the call classify makes before
 * each scan) and the median and 99th percentile of the per-file medians
 * printed, in microseconds, with the slowest file.
 *   make build/bench/normalize && build/bench/normalize ../shared/corpus/samples/FILE... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "normalize.h"

#define REPS 201
#define FILE_MAX (16 * 1024 * 1024)

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static struct normalize z;
	static double t[REPS];
	double *med = calloc((size_t)argc, sizeof(double)), worst = 0;
	char *buf = malloc(FILE_MAX);
	const char *worst_name = "";
	int n = 0;

	if (argc < 2 || !med || !buf) {
		fprintf(stderr, "usage: %s FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f)
			continue;
		size_t len = fread(buf, 1, FILE_MAX, f);
		fclose(f);
		for (int r = 0; r < REPS; r++) {
			double t0 = now_us();
			normalize_payload(&z, (const uint8_t *)buf, len);
			t[r] = now_us() - t0;
		}
		qsort(t, REPS, sizeof(t[0]), cmp_double);
		med[n++] = t[REPS / 2];
		if (t[REPS / 2] > worst) {
			worst = t[REPS / 2];
			worst_name = argv[i];
		}
	}
	qsort(med, (size_t)n, sizeof(med[0]), cmp_double);
	printf("normalize_payload over %d files: median %.1f us, p99 %.1f us, max %.1f us (%s)\n",
	    n, n ? med[n / 2] : 0, n ? med[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] : 0,
	    worst, worst_name);
	return 0;
}
