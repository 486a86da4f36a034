/* report_tags.c - the report's techniques (report_tags.h). Tags live in a
 * table of fixed slots filled during the model's single pass over the
 * sessions, so the section costs no pass of its own; sources are counted
 * without a set because the pass meets each source's sessions together.
 * A hostile database may hold any number of distinct tag strings of any
 * bytes: the table stops at REPORT_TAGS_MAX (the rest are counted as
 * over), every tag is cut to REPORT_TAG_LEN, and bytes are escaped only
 * when they enter the model. */
#include "report_tags.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report_top.h"
#include "text.h"

#define REPORT_TAGS_SLOTS (REPORT_TAGS_MAX * 2)  /* at most half in use */
#define REPORT_TS_MAX 40             /* stored bytes kept of a time */

struct report_tag_raw {
	unsigned char b[REPORT_TS_MAX];
	uint8_t len;
};

struct report_tag_group {
	unsigned char key[REPORT_TAG_LEN];   /* the tag as stored, maybe cut */
	uint8_t key_len;
	long sessions, sources;
	long last_source;            /* the pass's source that last counted here */
	long last_row;               /* the session that last counted here */
	struct report_tag_raw first, last;   /* start times, least and greatest */
	long by_family[REPORT_TAGS_FAMILIES];
};

struct report_tags {
	long rows, tagged, over;
	struct report_tag_group *groups;
	size_t n, room;
	int32_t slots[REPORT_TAGS_SLOTS];    /* index into groups + 1; 0: free */
};

static uint32_t report_tags_hash(const unsigned char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ s[i]) * 16777619u;
	return h;
}

static void report_tags_raw_set(struct report_tag_raw *r, const unsigned char *s, size_t len)
{
	r->len = (uint8_t)(len < REPORT_TS_MAX ? len : REPORT_TS_MAX);
	if (r->len)
		memcpy(r->b, s, r->len);
}

/* SQLite's BINARY order of two raw values. */
static int report_tags_raw_cmp(const struct report_tag_raw *a, const unsigned char *s,
    size_t len)
{
	size_t n = len < REPORT_TS_MAX ? len : REPORT_TS_MAX;
	int c = memcmp(a->b, s, a->len < n ? a->len : n);

	return c ? c : (int)a->len - (int)n;
}

struct report_tags *report_tags_new(void)
{
	return calloc(1, sizeof(struct report_tags));
}

/* The group of key, made when there is room; NULL past REPORT_TAGS_MAX or
 * without memory. */
static struct report_tag_group *report_tags_find(struct report_tags *t,
    const unsigned char *key, size_t len)
{
	size_t k = report_tags_hash(key, len) & (REPORT_TAGS_SLOTS - 1);

	for (; t->slots[k]; k = (k + 1) & (REPORT_TAGS_SLOTS - 1)) {
		struct report_tag_group *g = &t->groups[t->slots[k] - 1];
		if (g->key_len == len && memcmp(g->key, key, len) == 0)
			return g;
	}
	if (t->n == REPORT_TAGS_MAX)
		return NULL;
	if (t->n == t->room) {
		size_t room = t->room ? t->room * 2 : 64;
		struct report_tag_group *groups = realloc(t->groups, room * sizeof(*groups));
		if (!groups)
			return NULL;
		t->groups = groups;
		t->room = room;
	}
	struct report_tag_group *g = &t->groups[t->n];
	memset(g, 0, sizeof(*g));
	memcpy(g->key, key, len);
	g->key_len = (uint8_t)len;
	g->last_source = g->last_row = -1;
	t->slots[k] = (int32_t)++t->n;
	return g;
}

/* Counts one tag of the current row. */
static void report_tags_one(struct report_tags *t, const unsigned char *tag, size_t len,
    const unsigned char *ts, size_t ts_len, int family, long source)
{
	struct report_tag_group *g = report_tags_find(t, tag,
	    len < REPORT_TAG_LEN ? len : REPORT_TAG_LEN);

	if (!g) {
		t->over++;
		return;
	}
	if (g->last_row == t->rows)
		return;
	g->last_row = t->rows;
	if (g->sessions++ == 0) {
		report_tags_raw_set(&g->first, ts, ts_len);
		report_tags_raw_set(&g->last, ts, ts_len);
	} else if (report_tags_raw_cmp(&g->first, ts, ts_len) > 0) {
		report_tags_raw_set(&g->first, ts, ts_len);
	} else if (report_tags_raw_cmp(&g->last, ts, ts_len) < 0) {
		report_tags_raw_set(&g->last, ts, ts_len);
	}
	if (g->last_source != source) {
		g->last_source = source;
		g->sources++;
	}
	if (family >= 0 && family < REPORT_TAGS_FAMILIES)
		g->by_family[family]++;
}

void report_tags_add(struct report_tags *t, const unsigned char *tags, size_t len,
    const unsigned char *ts, size_t ts_len, int family, long source)
{
	bool any = false;

	if (!t || !tags)
		return;
	t->rows++;
	if (len > REPORT_TAGS_SCAN)
		len = REPORT_TAGS_SCAN;
	for (size_t i = 0; i < len;) {
		size_t j = i;
		while (j < len && tags[j] != ',')
			j++;
		if (j > i) {
			report_tags_one(t, tags + i, j - i, ts, ts_len, family, source);
			any = true;
		}
		i = j + 1;
	}
	if (any)
		t->tagged++;
}

/* Most sessions first; then by the stored tag. */
static int report_tags_cmp(const void *a, const void *b)
{
	const struct report_tag_group *x = a, *y = b;
	int c;

	if (x->sessions != y->sessions)
		return x->sessions < y->sessions ? 1 : -1;
	c = memcmp(x->key, y->key, x->key_len < y->key_len ? x->key_len : y->key_len);
	return c ? c : (int)x->key_len - (int)y->key_len;
}

/* The REPORT_TAG_TOP_FAMILIES families of most sessions into tg (ties: the
 * family first seen). */
static void report_tags_families(const struct report_tag_group *g, struct report_tag *tg)
{
	tg->nfamilies = report_top(g->by_family, REPORT_TAGS_FAMILIES, REPORT_TAG_TOP_FAMILIES,
	    tg->families, tg->family_sessions);
}

int report_tags_finish(struct report_tags *t, struct report_tag *out, int max,
    long *distinct, long *tagged, long *over)
{
	int n = 0;

	*distinct = *tagged = *over = 0;
	if (!t)
		return 0;
	*distinct = (long)t->n;
	*tagged = t->tagged;
	*over = t->over;
	if (t->n)             /* qsort(NULL, 0) is undefined */
		qsort(t->groups, t->n, sizeof(*t->groups), report_tags_cmp);
	for (size_t i = 0; i < t->n && n < max; i++) {
		const struct report_tag_group *g = &t->groups[i];
		struct report_tag *tg = &out[n++];
		memset(tg, 0, sizeof(*tg));
		text_display_into(g->key, g->key_len, tg->tag, sizeof(tg->tag));
		text_display_into(g->first.b, g->first.len, tg->first_seen, sizeof(tg->first_seen));
		text_display_into(g->last.b, g->last.len, tg->last_seen, sizeof(tg->last_seen));
		tg->sessions = g->sessions;
		tg->sources = g->sources;
		report_tags_families(g, tg);
	}
	free(t->groups);
	free(t);
	return n;
}
