/* report_shapes.c - unit tests of the report's unknown shapes
 * (src/analysis/report_shapes.c) over an in-memory database standing in
 * for report.c's views: groups by the order-free part, sources counted as
 * an ordered pass meets them, orders, first and last seen, unshaped
 * sessions, the top ten with the latest session's example, hostile stored
 * bytes escaped, and the cap on groups. Run from unit.c's main through
 * test_report_shapes. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_model.h"
#include "report_shapes.h"
#include "shape.h"

void test_report_shapes(int *passed, int *failed);

static int *rs_passed, *rs_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*rs_passed)++;                                    \
		} else {                                                   \
			(*rs_failed)++;                                    \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

static const char *rs_ids[] = {"01", "02", "03", "04", "05", "06"};

static const char *rs_payloads[] = {
	"GET /a/11 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n",
	"GET /a/22 HTTP/1.1\r\nX-A: 2\r\nHost: y\r\n\r\n",      /* same group, another order */
	"GET /a/333 HTTP/1.1\r\nHost: z\r\nX-A: 3\r\n\r\n",
	"GET /\x1b[31m<b> HTTP/1.1\r\n\r\n",                     /* hostile bytes */
	"SSH-2.0-Go\r\n",
	"GET /unshaped HTTP/1.0\r\n\r\n",
};

/* The views report.c makes, as tables: one session per payload above. */
static sqlite3 *rs_db(struct shape *shapes)
{
	sqlite3 *db;
	sqlite3_stmt *s, *p;

	sqlite3_open(":memory:", &db);
	sqlite3_exec(db, "CREATE TABLE sessions(session, payload_sha256, requests);"
	    "CREATE TABLE payloads(sha256, size, data)", NULL, NULL, NULL);
	sqlite3_prepare_v2(db, "INSERT INTO sessions VALUES (?1, ?2, 1)", -1, &s, NULL);
	sqlite3_prepare_v2(db, "INSERT INTO payloads VALUES (?1, ?2, ?3)", -1, &p, NULL);
	for (int i = 0; i < 6; i++) {
		size_t len = strlen(rs_payloads[i]);
		shape_of((const uint8_t *)rs_payloads[i], len, 1, &shapes[i]);
		sqlite3_bind_text(s, 1, rs_ids[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, rs_ids[i], -1, SQLITE_STATIC);   /* its "digest" */
		sqlite3_step(s);
		sqlite3_reset(s);
		sqlite3_bind_text(p, 1, rs_ids[i], -1, SQLITE_STATIC);
		sqlite3_bind_int(p, 2, (int)len);
		sqlite3_bind_blob(p, 3, rs_payloads[i], (int)len, SQLITE_STATIC);
		sqlite3_step(p);
		sqlite3_reset(p);
	}
	sqlite3_finalize(s);
	sqlite3_finalize(p);
	return db;
}

static void rs_add(struct report_shapes *t, const char *shape, const char *ts,
    const char *session, long source)
{
	report_shapes_add(t, (const unsigned char *)shape, shape ? strlen(shape) : 0,
	    (const unsigned char *)ts, strlen(ts), (const unsigned char *)session,
	    strlen(session), source);
}

static const struct report_shape *rs_find(const struct report_model *m, const char *id)
{
	for (int i = 0; i < m->nshapes; i++) {
		if (strncmp(m->shapes[i].group, id, SHAPE_GROUP_LEN) == 0)
			return &m->shapes[i];
	}
	return NULL;
}

static void test_report_shapes_groups(void)
{
	static struct report_model m;
	struct shape sh[6];
	sqlite3 *db = rs_db(sh);
	struct report_shapes *t = report_shapes_new();

	memset(&m, 0, sizeof(m));
	/* a pass ordered by source: 10.0.0.1 (source 1), then 2, then 3 */
	rs_add(t, sh[0].id, "2026-11-27T05:00:02Z", "01", 1);
	rs_add(t, sh[2].id, "2026-11-27T05:00:09Z", "03", 1);
	rs_add(t, sh[1].id, "2026-11-27T05:00:01Z", "02", 2);
	rs_add(t, sh[3].id, "2026-11-27T05:00:03Z", "04", 2);
	rs_add(t, sh[4].id, "2026-11-27T05:00:04Z", "05", 3);
	rs_add(t, NULL, "2026-11-27T05:00:05Z", "06", 3);
	m.nshapes = report_shapes_finish(t, db, m.shapes, REPORT_TOP, &m.unknown, &m.unshaped);

	CHECK(m.unknown == 6 && m.unshaped == 1, "unknown %ld, unshaped %ld", m.unknown,
	    m.unshaped);
	CHECK(m.nshapes == 3, "3 groups: %d", m.nshapes);
	const struct report_shape *a = rs_find(&m, sh[0].id);
	CHECK(a == &m.shapes[0], "the biggest group first");
	if (a) {
		CHECK(a->sessions == 3 && a->sources == 2 && a->orders == 2,
		    "sessions %ld sources %ld orders %ld", a->sessions, a->sources, a->orders);
		CHECK(!strcmp(a->first_seen, "2026-11-27T05:00:01Z") &&
		    !strcmp(a->last_seen, "2026-11-27T05:00:09Z"), "%s .. %s", a->first_seen,
		    a->last_seen);
		CHECK(!strcmp(a->example_session, "03"), "the latest: %s", a->example_session);
		CHECK(!strcmp(a->text, sh[2].text) && a->current, "its long form: %s", a->text);
		CHECK(!strncmp(a->example, "GET /a/333 HTTP/1.1\\x0d\\x0aHost: z", 33),
		    "its bytes, escaped: %s", a->example);
	}
	const struct report_shape *h = rs_find(&m, sh[3].id);
	CHECK(h && !strcmp(h->example, "GET /\\x1b[31m<b> HTTP/1.1\\x0d\\x0a\\x0d\\x0a"),
	    "hostile example escaped: %s", h ? h->example : "-");
	CHECK(h && !strchr(h->text, '\x1b'), "hostile long form: %s", h ? h->text : "-");
	sqlite3_close(db);
}

/* Stored values are hostile: a shape of any bytes, a session that is not
 * there, a start time with controls; and the table stops at its cap. */
static void test_report_shapes_hostile_and_cap(void)
{
	static struct report_model m;
	struct shape sh[6];
	sqlite3 *db = rs_db(sh);
	struct report_shapes *t = report_shapes_new();
	char id[32];

	memset(&m, 0, sizeof(m));
	report_shapes_add(t, (const unsigned char *)"\x1b[2J\xff\0x", 7,
	    (const unsigned char *)"\x07ts", 3, (const unsigned char *)"nope", 4, 1);
	for (long i = 0; i < REPORT_SHAPES_MAX + 10; i++) {
		snprintf(id, sizeof(id), "s1:%016lx.00000000", (unsigned long)i);
		rs_add(t, id, "2026", "nope", i + 2);
	}
	m.nshapes = report_shapes_finish(t, db, m.shapes, REPORT_TOP, &m.unknown, &m.unshaped);
	CHECK(m.unknown == REPORT_SHAPES_MAX + 11, "every session counted: %ld", m.unknown);
	CHECK(m.nshapes == REPORT_TOP, "the top ten: %d", m.nshapes);
	long grouped = 0;
	for (int i = 0; i < m.nshapes; i++)
		grouped += m.shapes[i].sessions;
	CHECK(grouped == REPORT_TOP, "one session each: %ld", grouped);
	const struct report_shape *x = &m.shapes[0];
	CHECK(!strcmp(x->group, "\\x1b[2J\\xff\\x00x") && !strcmp(x->first_seen, "\\x07ts"),
	    "escaped: %s %s", x->group, x->first_seen);
	CHECK(!x->example[0] && !x->text[0] && !x->current, "no such session, no example");
	sqlite3_close(db);
}

void test_report_shapes(int *passed, int *failed)
{
	rs_passed = passed;
	rs_failed = failed;
	test_report_shapes_groups();
	test_report_shapes_hostile_and_cap();
}
