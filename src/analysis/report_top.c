/* report_top.c - the largest counts of a small table (report_top.h). */
#include "report_top.h"

#include <stdbool.h>

/* Whether (c, i) comes before (best_c, best_i): larger first, then the
 * lower index. */
static bool report_top_before(long c, int i, long best_c, int best_i)
{
	return c > best_c || (c == best_c && i < best_i);
}

int report_top(const long *counts, int ncounts, int n, int *index, long *count)
{
	int got = 0;

	/* n passes, each taking the first entry after the previous pick in
	 * the order: no marks to keep, whatever ncounts is */
	while (got < n) {
		int best = -1;
		for (int i = 0; i < ncounts; i++) {
			if (counts[i] <= 0)
				continue;
			if (got && !report_top_before(count[got - 1], index[got - 1], counts[i], i))
				continue;    /* not after the previous pick */
			if (best < 0 || report_top_before(counts[i], i, counts[best], best))
				best = i;
		}
		if (best < 0)
			break;
		index[got] = best;
		count[got] = counts[best];
		got++;
	}
	return got;
}
