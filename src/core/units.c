/* units.c - the duration and size parsers. */
#include "units.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int units_parse_duration(const char *text, uint64_t *ms)
{
	char *end;
	double v;
	double scale;

	if (*text < '0' || *text > '9')
		return -1;
	errno = 0;
	v = strtod(text, &end);
	if (errno || end == text)
		return -1;
	if (*end == '\0' || strcmp(end, "s") == 0)
		scale = 1000.0;
	else if (strcmp(end, "ms") == 0)
		scale = 1.0;
	else if (strcmp(end, "m") == 0)
		scale = 60.0 * 1000.0;
	else if (strcmp(end, "h") == 0)
		scale = 3600.0 * 1000.0;
	else
		return -1;
	v *= scale;
	if (v < 0 || v > 1e15)
		return -1;
	*ms = (uint64_t)(v + 0.5);
	return 0;
}

int units_parse_size(const char *text, size_t *bytes)
{
	char *end;
	unsigned long long v;
	unsigned long long scale = 1;

	if (*text < '0' || *text > '9')
		return -1;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno)
		return -1;
	if (*end != '\0') {
		switch (*end) {
		case 'k': case 'K': scale = 1ULL << 10; break;
		case 'm': case 'M': scale = 1ULL << 20; break;
		case 'g': case 'G': scale = 1ULL << 30; break;
		default: return -1;
		}
		if (end[1] != '\0' && strcasecmp(end + 1, "B") != 0 &&
		    strcasecmp(end + 1, "iB") != 0)
			return -1;
	}
	if (v > SIZE_MAX / scale)
		return -1;
	*bytes = (size_t)(v * scale);
	return 0;
}
