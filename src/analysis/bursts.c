/* bursts.c - the burst rule and the timestamps it reads (bursts.h). */
#include "bursts.h"

#include <ctype.h>
#include <time.h>

long long bursts_ts_ms(const unsigned char *ts, size_t len)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	int f[6] = {0}, ms = 0;

	if (!ts || len < sizeof(shape) - 1)
		return 0;
	for (size_t i = 0, k = 0; i < sizeof(shape) - 1; i++) {
		if (shape[i] != 'd') {
			if (ts[i] != shape[i])
				return 0;
			k++;
			continue;
		}
		if (!isdigit(ts[i]))
			return 0;
		f[k] = f[k] * 10 + (ts[i] - '0');
	}
	if (len > 20 && ts[19] == '.') {
		for (size_t i = 20; i < 23; i++)
			ms = ms * 10 + (i < len && isdigit(ts[i]) ? ts[i] - '0' : 0);
	}
	struct tm tm = {.tm_year = f[0] - 1900, .tm_mon = f[1] - 1, .tm_mday = f[2],
	    .tm_hour = f[3], .tm_min = f[4], .tm_sec = f[5]};
	return (long long)timegm(&tm) * 1000 + ms;
}

bool bursts_same(long long last_ms, long long t_ms, uint64_t gap_ms)
{
	return t_ms - last_ms <= (long long)gap_ms;
}
