/* report_tags.c - unit tests of the report's techniques
 * (src/analysis/report_tags.c): tags split on commas and counted once a
 * session, sources counted as an ordered pass meets them, first and last
 * seen, the top families, hostile bytes escaped and long tags cut, the
 * bytes read of a session, and the cap on distinct tags. Run from unit.c's
 * main through test_report_tags. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_tags.h"

void test_report_tags(int *passed, int *failed);

static int *rt_passed, *rt_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*rt_passed)++;                                    \
		} else {                                                   \
			(*rt_failed)++;                                    \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

static void rt_add(struct report_tags *t, const char *tags, const char *ts, int family,
    long source)
{
	report_tags_add(t, (const unsigned char *)tags, tags ? strlen(tags) : 0,
	    (const unsigned char *)ts, strlen(ts), family, source);
}

static const struct report_tag *rt_find(const struct report_tag *out, int n, const char *tag)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(out[i].tag, tag) == 0)
			return &out[i];
	}
	return NULL;
}

static void rt_counts(void)
{
	struct report_tags *t = report_tags_new();
	struct report_tag out[REPORT_TAGS_SHOWN];
	long distinct, tagged, over;

	/* source 1: two sessions; source 2: one; a session without tags */
	rt_add(t, "lfi,path-traversal", "2026-11-27T05:00:00Z", 0, 1);
	rt_add(t, "sqli,sqli,,lfi", "2026-11-27T04:00:00Z", 1, 1);
	rt_add(t, "lfi", "2026-11-27T06:00:00Z", 1, 2);
	rt_add(t, NULL, "2026-11-27T07:00:00Z", 2, 2);
	rt_add(t, "", "2026-11-27T07:00:00Z", 2, 2);
	rt_add(t, ",", "2026-11-27T07:00:00Z", 2, 2);
	rt_add(t, "\x1b[2J<b>,sqli", "2026-11-27T03:00:00Z", 2, 3);
	int n = report_tags_finish(t, out, REPORT_TAGS_SHOWN, &distinct, &tagged, &over);
	CHECK(n == 4 && distinct == 4 && tagged == 4 && over == 0, "%d %ld %ld %ld", n,
	    distinct, tagged, over);
	CHECK(n > 2 && strcmp(out[0].tag, "lfi") == 0 && strcmp(out[1].tag, "sqli") == 0,
	    "order: %s %s", out[0].tag, out[1].tag);
	const struct report_tag *lfi = rt_find(out, n, "lfi"), *sqli = rt_find(out, n, "sqli");
	const struct report_tag *bad = rt_find(out, n, "\\x1b[2J<b>");
	CHECK(lfi && lfi->sessions == 3 && lfi->sources == 2, "lfi");
	CHECK(lfi && strcmp(lfi->first_seen, "2026-11-27T04:00:00Z") == 0 &&
	    strcmp(lfi->last_seen, "2026-11-27T06:00:00Z") == 0, "lfi seen %s %s",
	    lfi ? lfi->first_seen : "", lfi ? lfi->last_seen : "");
	CHECK(lfi && lfi->nfamilies == 2 && lfi->families[0] == 1 &&
	    lfi->family_sessions[0] == 2 && lfi->families[1] == 0 &&
	    lfi->family_sessions[1] == 1, "lfi families");
	CHECK(sqli && sqli->sessions == 2 && sqli->sources == 2, "sqli once a session");
	CHECK(bad && bad->sessions == 1, "hostile bytes escaped");
}

static void rt_bounds(void)
{
	struct report_tags *t = report_tags_new();
	struct report_tag out[REPORT_TAGS_SHOWN];
	long distinct, tagged, over;
	char tag[32], *many = malloc(REPORT_TAGS_SCAN * 2);

	/* A tag longer than REPORT_TAG_LEN is cut; bytes past
	 * REPORT_TAGS_SCAN of a session are not read. */
	memset(many, 'A', REPORT_TAGS_SCAN * 2 - 1);
	many[REPORT_TAGS_SCAN * 2 - 1] = '\0';
	memcpy(many + REPORT_TAGS_SCAN - 1, ",past", 5);
	rt_add(t, many, "t", 0, 1);
	for (int i = 0; i < REPORT_TAGS_MAX + 10; i++) {
		snprintf(tag, sizeof(tag), "t%d", i);
		rt_add(t, tag, "t", 0, 2 + i);
	}
	rt_add(t, "t0,t1,new", "t", 0, 1);
	int n = report_tags_finish(t, out, REPORT_TAGS_SHOWN, &distinct, &tagged, &over);
	CHECK(n == REPORT_TAGS_SHOWN && distinct == REPORT_TAGS_MAX, "%d %ld", n, distinct);
	CHECK(over == 12, "over %ld", over);            /* 10 + "new" + ... */
	CHECK(tagged == REPORT_TAGS_MAX + 12, "tagged %ld", tagged);
	CHECK(strcmp(out[0].tag, "t0") == 0 && out[0].sessions == 2 &&
	    strcmp(out[1].tag, "t1") == 0, "%s %s", out[0].tag, out[1].tag);
	const struct report_tag *a = NULL;
	for (int i = 0; i < n; i++) {
		if (out[i].tag[0] == 'A')
			a = &out[i];
	}
	CHECK(a && strlen(a->tag) == REPORT_TAG_LEN, "cut to %zu", a ? strlen(a->tag) : 0);
	free(many);
	report_tags_finish(NULL, out, 1, &distinct, &tagged, &over);
	CHECK(distinct == 0 && tagged == 0 && over == 0, "NULL table");
	report_tags_add(NULL, (const unsigned char *)"x", 1, (const unsigned char *)"t", 1, 0, 1);
}

void test_report_tags(int *passed, int *failed)
{
	rt_passed = passed;
	rt_failed = failed;
	rt_counts();
	rt_bounds();
}
