/* report_shapes.c - the top unknown shapes (report_shapes.h). Groups live
 * in a hash table filled during the model's single pass over the sessions,
 * so the section costs no pass of its own: sources are counted without a
 * set because the pass meets each source's sessions together, and header
 * orders as a few hashes. Every stored byte is kept raw, bounded, and
 * escaped only when it enters the model. */
#include "report_shapes.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shape.h"
#include "store.h"
#include "text.h"

#define REPORT_RAW_MAX 40            /* stored bytes kept of a time or session id */

/* Stored bytes, cut to REPORT_RAW_MAX. */
struct report_raw {
	unsigned char b[REPORT_RAW_MAX];
	uint8_t len;
};

struct report_shape_group {
	unsigned char key[SHAPE_GROUP_LEN];  /* the id's order-free part, as stored */
	uint8_t key_len;
	long sessions, sources;
	long last_source;            /* the pass's source that last counted here */
	struct report_raw first, last;       /* start times, least and greatest */
	struct report_raw session;           /* the session that started last */
	uint32_t orders[REPORT_SHAPE_ORDERS];   /* hashes of the whole ids seen */
	int norders;
};

struct report_shapes {
	long unknown, unshaped;      /* sessions counted, and those without a shape */
	struct report_shape_group *groups;
	size_t n, room;
	int32_t *slots;              /* index into groups + 1; 0: free */
	size_t nslots;               /* a power of two, at least twice n */
};

static uint32_t report_hash(const unsigned char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ s[i]) * 16777619u;
	return h;
}

static void report_raw_set(struct report_raw *r, const unsigned char *s, size_t len)
{
	r->len = (uint8_t)(len < REPORT_RAW_MAX ? len : REPORT_RAW_MAX);
	if (r->len)
		memcpy(r->b, s, r->len);
}

/* SQLite's BINARY order of two raw values. */
static int report_raw_cmp(const struct report_raw *a, const unsigned char *s, size_t len)
{
	size_t n = len < REPORT_RAW_MAX ? len : REPORT_RAW_MAX;
	int c = memcmp(a->b, s, a->len < n ? a->len : n);

	return c ? c : (int)a->len - (int)n;
}

struct report_shapes *report_shapes_new(void)
{
	struct report_shapes *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->nslots = 1024;
	t->slots = calloc(t->nslots, sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		return NULL;
	}
	return t;
}

/* Doubles the slots and places every group again. Returns -1 without memory. */
static int report_shapes_grow(struct report_shapes *t)
{
	size_t nslots = t->nslots * 2;
	int32_t *slots = calloc(nslots, sizeof(*slots));

	if (!slots)
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		uint32_t h = report_hash(t->groups[i].key, t->groups[i].key_len);
		size_t k = h & (nslots - 1);
		while (slots[k])
			k = (k + 1) & (nslots - 1);
		slots[k] = (int32_t)i + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
	return 0;
}

/* The group of key, made when there is room; NULL past REPORT_SHAPES_MAX
 * or without memory. */
static struct report_shape_group *report_shapes_find(struct report_shapes *t,
    const unsigned char *key, size_t len)
{
	size_t k = report_hash(key, len) & (t->nslots - 1);

	for (; t->slots[k]; k = (k + 1) & (t->nslots - 1)) {
		struct report_shape_group *g = &t->groups[t->slots[k] - 1];
		if (g->key_len == len && memcmp(g->key, key, len) == 0)
			return g;
	}
	if (t->n == REPORT_SHAPES_MAX)
		return NULL;
	/* At most half the slots in use, so a probe always ends. */
	if ((t->n + 1) * 2 > t->nslots) {
		if (report_shapes_grow(t) < 0)
			return NULL;
		return report_shapes_find(t, key, len);
	}
	if (t->n == t->room) {
		size_t room = t->room ? t->room * 2 : 256;
		struct report_shape_group *groups = realloc(t->groups, room * sizeof(*groups));
		if (!groups)
			return NULL;
		t->groups = groups;
		t->room = room;
	}
	struct report_shape_group *g = &t->groups[t->n];
	memset(g, 0, sizeof(*g));
	memcpy(g->key, key, len);
	g->key_len = (uint8_t)len;
	g->last_source = -1;
	t->slots[k] = (int32_t)++t->n;
	return g;
}

void report_shapes_add(struct report_shapes *t, const unsigned char *shape,
    size_t shape_len, const unsigned char *ts, size_t ts_len,
    const unsigned char *session, size_t session_len, long source)
{
	if (!t)
		return;
	t->unknown++;
	if (!shape || shape_len == 0) {
		t->unshaped++;
		return;
	}
	struct report_shape_group *g = report_shapes_find(t, shape,
	    shape_len < SHAPE_GROUP_LEN ? shape_len : SHAPE_GROUP_LEN);
	if (!g)
		return;
	if (g->sessions++ == 0) {
		report_raw_set(&g->first, ts, ts_len);
		report_raw_set(&g->last, ts, ts_len);
		report_raw_set(&g->session, session, session_len);
	} else if (report_raw_cmp(&g->first, ts, ts_len) > 0) {
		report_raw_set(&g->first, ts, ts_len);
	} else if (report_raw_cmp(&g->last, ts, ts_len) <= 0) {
		report_raw_set(&g->last, ts, ts_len);
		report_raw_set(&g->session, session, session_len);
	}
	if (g->last_source != source) {
		g->last_source = source;
		g->sources++;
	}
	uint32_t h = report_hash(shape, shape_len);
	int i = 0;
	while (i < g->norders && g->orders[i] != h)
		i++;
	if (i == g->norders && g->norders < REPORT_SHAPE_ORDERS)
		g->orders[g->norders++] = h;
}

/* The example of a shape: session's payload's first bytes, and its long
 * form computed again. */
static void report_shape_example(sqlite3 *db, struct report_shape *sh,
    const struct report_raw *session)
{
	sqlite3_stmt *q = NULL, *p = NULL;
	struct shape shape;

	if (sqlite3_prepare_v2(db, "SELECT payload_sha256, requests FROM sessions "
	        "WHERE session = ?1 LIMIT 1", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT size, substr(data, 1, ?2) FROM payloads "
	        "WHERE sha256 = ?1 LIMIT 1", -1, &p, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(q, 1, (const char *)session->b, session->len, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_ROW)
		goto out;
	sqlite3_bind_value(p, 1, sqlite3_column_value(q, 0));
	sqlite3_bind_int(p, 2, SHAPE_SCAN_MAX);
	if (sqlite3_step(p) != SQLITE_ROW)
		goto out;
	const void *data = sqlite3_column_blob(p, 1);
	int len = sqlite3_column_bytes(p, 1);
	sqlite3_int64 size = sqlite3_column_int64(p, 0), requests = sqlite3_column_int64(q, 1);
	if (!data || len <= 0)
		goto out;
	text_display_into(data, (size_t)(len < REPORT_SHAPE_EXAMPLE ? len : REPORT_SHAPE_EXAMPLE),
	    sh->example, sizeof(sh->example));
	/* The stored size counts only when the bytes here were cut at the
	 * scan's end (shape_of reads no further): a forged one cannot make it
	 * read past them. */
	size_t whole = len == SHAPE_SCAN_MAX && size > len ? (size_t)size : (size_t)len;
	if (shape_of(data, whole, requests > 0 ? (uint64_t)requests : 0, &shape)) {
		snprintf(sh->text, sizeof(sh->text), "%s", shape.text);
		sh->current = strncmp(shape.id, sh->group, SHAPE_GROUP_LEN) == 0 &&
		    strlen(sh->group) == SHAPE_GROUP_LEN;
	}
out:
	sqlite3_finalize(q);
	sqlite3_finalize(p);
}

/* Most sessions first; then by the stored key. */
static int report_group_cmp(const void *a, const void *b)
{
	const struct report_shape_group *x = a, *y = b;
	int c;

	if (x->sessions != y->sessions)
		return x->sessions < y->sessions ? 1 : -1;
	c = memcmp(x->key, y->key, x->key_len < y->key_len ? x->key_len : y->key_len);
	return c ? c : (int)x->key_len - (int)y->key_len;
}

int report_shapes_finish(struct report_shapes *t, sqlite3 *db, struct report_shape *out,
    int max, long *unknown, long *unshaped)
{
	int n = 0;

	*unknown = *unshaped = 0;
	if (!t)
		return 0;
	*unknown = t->unknown;
	*unshaped = t->unshaped;
	if (t->n)             /* qsort(NULL, 0) is undefined */
		qsort(t->groups, t->n, sizeof(*t->groups), report_group_cmp);
	for (size_t i = 0; i < t->n && n < max; i++) {
		const struct report_shape_group *g = &t->groups[i];
		struct report_shape *sh = &out[n++];
		memset(sh, 0, sizeof(*sh));
		text_display_into(g->key, g->key_len, sh->group, sizeof(sh->group));
		text_display_into(g->first.b, g->first.len, sh->first_seen, sizeof(sh->first_seen));
		text_display_into(g->last.b, g->last.len, sh->last_seen, sizeof(sh->last_seen));
		text_display_into(g->session.b, g->session.len, sh->example_session,
		    sizeof(sh->example_session));
		sh->sessions = g->sessions;
		sh->sources = g->sources;
		sh->orders = g->norders;
		report_shape_example(db, sh, &g->session);
	}
	free(t->groups);
	free(t->slots);
	free(t);
	return n;
}
