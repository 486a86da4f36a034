/* pcapname.c - packet trace file names: format and strict parse. */
#include "pcapname.h"

#include <stdio.h>
#include <string.h>

char *pcapname_format(time_t start, uint32_t seq, char *buf)
{
	struct tm tm;
	char when[32];

	gmtime_r(&start, &tm);
	strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(buf, PCAPNAME_MAX, "flypaper-%s-%u.pcap", when, seq);
	return buf;
}

/* n decimal digits at p into *v. Returns 0, or -1 if one is not a digit. */
static int pcapname_digits(const char *p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		*v = *v * 10 + (p[i] - '0');
	}
	return 0;
}

int pcapname_parse(const char *name, int64_t *start, uint32_t *seq)
{
	int year, mon, day, hour, min, sec;
	unsigned long long n = 0;
	const char *p;
	struct tm tm = {0};
	char check[PCAPNAME_MAX];

	if (strlen(name) >= PCAPNAME_MAX || strncmp(name, "flypaper-", 9) != 0)
		return -1;
	p = name + 9;
	if (pcapname_digits(p, 4, &year) < 0 || pcapname_digits(p + 4, 2, &mon) < 0 ||
	    pcapname_digits(p + 6, 2, &day) < 0 || p[8] != 'T' ||
	    pcapname_digits(p + 9, 2, &hour) < 0 || pcapname_digits(p + 11, 2, &min) < 0 ||
	    pcapname_digits(p + 13, 2, &sec) < 0 || p[15] != 'Z' || p[16] != '-')
		return -1;
	p += 17;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (unsigned)(*p - '0');
		if (n > UINT32_MAX)
			return -1;
	}
	if (strcmp(p, ".pcap") != 0)
		return -1;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	*start = (int64_t)timegm(&tm);
	*seq = (uint32_t)n;
	/* One spelling per name: "20261332" or "-007" are not ours. */
	if (strcmp(pcapname_format((time_t)*start, *seq, check), name) != 0)
		return -1;
	return 0;
}

int pcapname_compare(int64_t start_a, uint32_t seq_a, int64_t start_b, uint32_t seq_b)
{
	if (start_a != start_b)
		return start_a < start_b ? -1 : 1;
	return seq_a < seq_b ? -1 : seq_a > seq_b;
}
