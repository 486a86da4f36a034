/* units.h - time and size units, and the parsers of "30s" and "64k" that
 * every command shares. */
#ifndef FLYPAPER_UNITS_H
#define FLYPAPER_UNITS_H

#include <stddef.h>
#include <stdint.h>

#define NS_PER_MS 1000000ULL
#define MS_PER_S 1000ULL
#define MS_PER_DAY (24ULL * 3600 * MS_PER_S)

/* Parses "100ms", "30s", "15m", "2h" or bare seconds into milliseconds.
 * Returns 0, or -1 when the text is not a duration (or over 1e15 ms). */
int units_parse_duration(const char *text, uint64_t *ms);

/* Parses "4096", "64k", "1M", "2G" (powers of 1024; a trailing "B" or "iB"
 * is allowed) into bytes. Returns 0, or -1 when the text is not a size or
 * does not fit a size_t. */
int units_parse_size(const char *text, size_t *bytes);

#endif
