/* report_top.c - unit tests of the largest counts of a small table
 * (src/analysis/report_top.c): order, ties to the lower index, zeros
 * skipped, fewer than asked. Run from unit.c's main through
 * test_report_top. */
#include <stdio.h>
#include <string.h>

#include "report_top.h"

void test_report_top(int *passed, int *failed);

void test_report_top(int *passed, int *failed)
{
	static const struct {
		long counts[8];
		int n;
		int want;                /* how many */
		int index[4];
		long count[4];
	} cases[] = {
		{{0}, 3, 0, {0}, {0}},
		{{5, 0, 9, 1}, 3, 3, {2, 0, 3}, {9, 5, 1}},
		{{4, 7, 4, 7}, 4, 4, {1, 3, 0, 2}, {7, 7, 4, 4}},   /* ties: lower index */
		{{1, 2, 3, 4, 5, 6, 7, 8}, 3, 3, {7, 6, 5}, {8, 7, 6}},
		{{0, 0, 0, 2}, 4, 1, {3}, {2}},                     /* fewer than asked */
		{{3, 3, 3, 3, 3, 3, 3, 3}, 2, 2, {0, 1}, {3, 3}},
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		int index[4] = {-1, -1, -1, -1};
		long count[4] = {0};
		int got = report_top(cases[c].counts, 8, cases[c].n, index, count);
		int ok = got == cases[c].want;
		for (int i = 0; ok && i < got; i++)
			ok = index[i] == cases[c].index[i] && count[i] == cases[c].count[i];
		if (ok) {
			(*passed)++;
		} else {
			(*failed)++;
			printf("FAIL %s:%d: case %zu: got %d: [%d %d %d %d]\n", __FILE__, __LINE__, c,
			    got, index[0], index[1], index[2], index[3]);
		}
	}
}
