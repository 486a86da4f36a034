/* report_top.h - the largest counts of a small table, for the report's
 * sections that list, per row, the families its sessions turned out to be
 * (techniques, TLS fingerprints). */
#ifndef FLYPAPER_REPORT_TOP_H
#define FLYPAPER_REPORT_TOP_H

/* The at most n largest non-zero counts of counts[0..ncounts), largest
 * first, ties to the lower index (the family seen first): their indexes
 * to index[], their counts to count[]. Returns how many. */
int report_top(const long *counts, int ncounts, int n, int *index, long *count);

#endif
