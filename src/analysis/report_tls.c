/* report_tls.c - the report's TLS section (report_tls.h). Like the
 * techniques (report_tags.c), its tables fill during the model's single
 * pass over the sessions, so the section costs no pass of its own, and
 * sources are counted without a set because the pass meets each source's
 * sessions together. A hostile database may hold a million distinct JA3s
 * or SNIs of any bytes: each table stops at REPORT_TLS_KEYS values (the
 * rest counted as over), every value is cut to REPORT_TLS_KEY_LEN, and
 * bytes are escaped only when they enter the model. Peers choose SNIs,
 * so the tables hash with a key drawn per run (keyhash.h) and give up on a
 * value after REPORT_TLS_PROBES slots (counted as over): values built to
 * collide cannot make each session compare against thousands. */
#include "report_tls.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyhash.h"
#include "report_top.h"
#include "text.h"

/* At most a quarter in use: with a random key, linear probing then keeps
 * every value within a few slots of its own (13 at most over 300 random
 * fills of 4,096), far inside REPORT_TLS_PROBES. */
#define REPORT_TLS_SLOTS (REPORT_TLS_KEYS * 4)
#define REPORT_TLS_DAY_SLOTS (REPORT_TLS_DAYS * 4)

struct report_tls_group {
	unsigned char key[REPORT_TLS_KEY_LEN];   /* the value as stored, maybe cut */
	uint8_t key_len;
	long sessions, sources;
	long last_source;            /* the pass's source that last counted here */
	long by_class[REPORT_TLS_CLASSES];
	long by_family[REPORT_TLS_FAMILIES];
};

struct report_tls_values {
	struct report_tls_group *groups;
	size_t n, room;
	long over, without;
	struct keyhash_key key;      /* the run's, drawn by report_tls_new */
	int32_t slots[REPORT_TLS_SLOTS];     /* index into groups + 1; 0: free */
};

struct report_tls_acc {
	struct report_tls_values t[RTLS_T_COUNT];
	long sessions, hellos, front;
	long states[RTLS_STATE_COUNT];
	long outcomes[RTLS_OUTCOME_COUNT];
	long by_version[RTLS_V_COUNT];
	struct report_tls_day days[REPORT_TLS_DAY_SLOTS];    /* day[0] 0: free */
	size_t ndays;
	long days_over;
	struct keyhash_key key;      /* the run's */
};

#ifdef FLYPAPER_TEST_HOOKS
long report_tls_test_probes_max;
int report_tls_test_one_slot;
#endif

static const char *const report_tls_states[RTLS_STATE_COUNT] = {
	"hello", "sslv2", "partial", "malformed", "oversized", "other",
};
static const char *const report_tls_outcomes[RTLS_OUTCOME_COUNT] = {
	"completed", "not_tls", "peer_closed", "peer_reset", "peer_alert", "timeout",
	"protocol", "other",
};
static const char *const report_tls_versions[RTLS_V_COUNT] = {
	"SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3", "unknown",
};
static const char *const report_tls_tables[RTLS_T_COUNT] = {"ja3", "ja4", "sni", "alert"};

const char *report_tls_state_name(enum report_tls_state s)
{
	return (unsigned)s < RTLS_STATE_COUNT ? report_tls_states[s] : "?";
}

const char *report_tls_outcome_name(enum report_tls_outcome o)
{
	return (unsigned)o < RTLS_OUTCOME_COUNT ? report_tls_outcomes[o] : "?";
}

const char *report_tls_version_name(enum report_tls_version v)
{
	return (unsigned)v < RTLS_V_COUNT ? report_tls_versions[v] : "?";
}

const char *report_tls_table_name(enum report_tls_table t)
{
	return (unsigned)t < RTLS_T_COUNT ? report_tls_tables[t] : "?";
}

/* Whether stored bytes b are exactly the name s. */
static bool report_tls_is(struct report_tls_bytes b, const char *s)
{
	size_t n = strlen(s);

	return b.p && b.len == n && memcmp(b.p, s, n) == 0;
}

/* The index of b among names (count of them), or other when none is it. */
static int report_tls_lookup(struct report_tls_bytes b, const char *const *names, int count,
    int other)
{
	for (int i = 0; i < count; i++) {
		if (i != other && report_tls_is(b, names[i]))
			return i;
	}
	return other;
}

/* A protocol version number's name; RTLS_V_UNKNOWN for any other number. */
static enum report_tls_version report_tls_version_number(long long v)
{
	switch (v) {
	case 0x0002: return RTLS_V_SSL2;
	case 0x0300: return RTLS_V_SSL3;
	case 0x0301: return RTLS_V_10;
	case 0x0302: return RTLS_V_11;
	case 0x0303: return RTLS_V_12;
	case 0x0304: return RTLS_V_13;
	default: return RTLS_V_UNKNOWN;
	}
}

static int report_tls_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The highest known version in a supported_versions list as stored
 * ("0a0a,0304,0303"), GREASE and unknown values skipped; RTLS_V_UNKNOWN
 * when it names none. Tokens that are not 4 hex digits are skipped. */
static enum report_tls_version report_tls_versions_best(struct report_tls_bytes b)
{
	const unsigned char *s = b.p;
	enum report_tls_version best = RTLS_V_UNKNOWN;

	for (size_t i = 0; s && i < b.len;) {
		size_t j = i;
		unsigned v = 0;
		bool ok = true;
		while (j < b.len && s[j] != ',')
			j++;
		if (j - i != 4)
			ok = false;
		for (size_t k = i; ok && k < j; k++) {
			int h = report_tls_hex(s[k]);
			ok = h >= 0;
			v = v << 4 | (unsigned)(h < 0 ? 0 : h);
		}
		/* GREASE (0x?a?a) names no version: the enum leaves it unknown */
		enum report_tls_version got = ok ? report_tls_version_number(v) : RTLS_V_UNKNOWN;
		if (got != RTLS_V_UNKNOWN && (best == RTLS_V_UNKNOWN || got > best))
			best = got;
		i = j + 1;
	}
	return best;
}

enum report_tls_version report_tls_version_of(const struct report_tls_in *in)
{
	static const struct {
		const char *name;
		enum report_tls_version v;
	} front[] = {
		{"TLSv1.3", RTLS_V_13}, {"TLSv1.2", RTLS_V_12}, {"TLSv1.1", RTLS_V_11},
		{"TLSv1", RTLS_V_10}, {"TLSv1.0", RTLS_V_10}, {"SSLv3", RTLS_V_SSL3},
	};
	enum report_tls_version v;

	if (in->front == 1 && in->version.p) {
		for (size_t i = 0; i < sizeof(front) / sizeof(front[0]); i++) {
			if (report_tls_is(in->version, front[i].name))
				return front[i].v;
		}
		return RTLS_V_UNKNOWN;
	}
	if (report_tls_is(in->state, "sslv2"))
		return RTLS_V_SSL2;
	v = report_tls_versions_best(in->versions);
	if (v == RTLS_V_UNKNOWN && in->hello_ver >= 0)
		v = report_tls_version_number(in->hello_ver);
	return v == RTLS_V_SSL2 ? RTLS_V_UNKNOWN : v;   /* 0x0002 only in an SSLv2 hello */
}

/* The first slot of a value: keyed (keyhash.h) with the run's key, so a
 * peer cannot choose SNIs, JA4s or alerts that share one slot. */
static size_t report_tls_hash(const struct keyhash_key *key, const void *p, size_t len,
    size_t slots)
{
#ifdef FLYPAPER_TEST_HOOKS
	if (report_tls_test_one_slot)
		return 0;            /* every value collides: the probing's bound */
#endif
	return (size_t)keyhash(key, p, len) & (slots - 1);
}

/* Notes how far a search probed (the unit tests' bound check). */
static void report_tls_probed(size_t probes)
{
#ifdef FLYPAPER_TEST_HOOKS
	if ((long)probes > report_tls_test_probes_max)
		report_tls_test_probes_max = (long)probes;
#else
	(void)probes;
#endif
}

struct report_tls_acc *report_tls_new(void)
{
	struct report_tls_acc *a = calloc(1, sizeof(struct report_tls_acc));

	if (!a)
		return NULL;
	keyhash_key_random(&a->key);     /* the fallback key still works */
	for (int i = 0; i < RTLS_T_COUNT; i++)
		a->t[i].key = a->key;
	return a;
}

/* The group of key, made when there is room; NULL past REPORT_TLS_KEYS,
 * past REPORT_TLS_PROBES slots from its own, or without memory. The bound
 * holds the cost of a session to REPORT_TLS_PROBES compares per table
 * whatever the values; with the keyed hash and the table at most half
 * full, an honest value is almost never turned away by it. */
static struct report_tls_group *report_tls_find(struct report_tls_values *t,
    const unsigned char *key, size_t len)
{
	size_t k = report_tls_hash(&t->key, key, len, REPORT_TLS_SLOTS), probes = 0;

	for (; t->slots[k]; k = (k + 1) & (REPORT_TLS_SLOTS - 1)) {
		struct report_tls_group *g = &t->groups[t->slots[k] - 1];
		probes++;
		if (g->key_len == len && memcmp(g->key, key, len) == 0) {
			report_tls_probed(probes);
			return g;
		}
		/* a new value goes no further than a search looks (like days) */
		if (probes == REPORT_TLS_PROBES) {
			report_tls_probed(probes);
			return NULL;
		}
	}
	report_tls_probed(probes);
	if (t->n == REPORT_TLS_KEYS)
		return NULL;
	if (t->n == t->room) {
		size_t room = t->room ? t->room * 2 : 16;
		struct report_tls_group *groups = realloc(t->groups, room * sizeof(*groups));
		if (!groups)
			return NULL;
		t->groups = groups;
		t->room = room;
	}
	struct report_tls_group *g = &t->groups[t->n];
	memset(g, 0, sizeof(*g));
	memcpy(g->key, key, len);
	g->key_len = (uint8_t)len;
	g->last_source = -1;
	t->slots[k] = (int32_t)++t->n;
	return g;
}

/* Counts one session's value in table t (none: counted as without). */
static void report_tls_count(struct report_tls_values *t, struct report_tls_bytes v,
    const struct report_tls_in *in)
{
	if (!v.p || v.len == 0) {
		t->without++;
		return;
	}
	struct report_tls_group *g = report_tls_find(t, v.p,
	    v.len < REPORT_TLS_KEY_LEN ? v.len : REPORT_TLS_KEY_LEN);
	if (!g) {
		t->over++;
		return;
	}
	g->sessions++;
	if (g->last_source != in->source) {
		g->last_source = in->source;
		g->sources++;
	}
	if (in->cls >= 0 && in->cls < REPORT_TLS_CLASSES)
		g->by_class[in->cls]++;
	if (in->family >= 0 && in->family < REPORT_TLS_FAMILIES)
		g->by_family[in->family]++;
}

/* The versions' day of a stored start (its first 10 bytes, escaped; "-"
 * when there are none); NULL past REPORT_TLS_DAYS days, or past
 * REPORT_TLS_PROBES slots from its own. */
static struct report_tls_day *report_tls_day(struct report_tls_acc *a,
    struct report_tls_bytes ts)
{
	char key[sizeof(a->days[0].day)];

	text_display_into(ts.p ? ts.p : "", ts.p && ts.len > 10 ? 10 : ts.p ? ts.len : 0,
	    key, sizeof(key));
	if (!key[0])
		key[0] = '-', key[1] = '\0';
	size_t k = report_tls_hash(&a->key, key, strlen(key), REPORT_TLS_DAY_SLOTS), probes = 0;
	for (; a->days[k].day[0]; k = (k + 1) & (REPORT_TLS_DAY_SLOTS - 1)) {
		if (strcmp(a->days[k].day, key) == 0)
			return &a->days[k];
		if (++probes == REPORT_TLS_PROBES)
			return NULL;     /* counted in no day, like one past the cap */
	}
	if (a->ndays == REPORT_TLS_DAYS)
		return NULL;
	a->ndays++;
	memcpy(a->days[k].day, key, sizeof(key));
	return &a->days[k];
}

void report_tls_add(struct report_tls_acc *a, const struct report_tls_in *in)
{
	if (!a || (!in->state.p && in->front != 1))
		return;
	a->sessions++;
	if (in->state.p) {
		a->hellos++;
		a->states[report_tls_lookup(in->state, report_tls_states, RTLS_STATE_COUNT,
		    RTLS_STATE_OTHER)]++;
	}
	if (in->front == 1) {
		a->front++;
		a->outcomes[in->error.p ? report_tls_lookup(in->error, report_tls_outcomes,
		    RTLS_OUTCOME_COUNT, RTLS_ERR_OTHER) : RTLS_DONE]++;
	}
	/* a front's session whose peer never sent TLS (not_tls) has no version */
	if (in->state.p || (in->version.p && in->front == 1)) {
		enum report_tls_version v = report_tls_version_of(in);
		struct report_tls_day *d = report_tls_day(a, in->ts);
		a->by_version[v]++;
		if (d)
			d->by_version[v]++;
		else
			a->days_over++;
	}
	if (in->state.p) {           /* fingerprints and SNI where a hello was read */
		report_tls_count(&a->t[RTLS_T_JA3], in->ja3_md5, in);
		report_tls_count(&a->t[RTLS_T_JA4], in->ja4, in);
		report_tls_count(&a->t[RTLS_T_SNI], in->sni, in);
	}
	if (in->alert.p)
		report_tls_count(&a->t[RTLS_T_ALERT], in->alert, in);
}

/* Most sessions first; then by the stored value. */
static int report_tls_group_cmp(const void *x, const void *y)
{
	const struct report_tls_group *a = x, *b = y;
	int c;

	if (a->sessions != b->sessions)
		return a->sessions < b->sessions ? 1 : -1;
	c = memcmp(a->key, b->key, a->key_len < b->key_len ? a->key_len : b->key_len);
	return c ? c : (int)a->key_len - (int)b->key_len;
}

static int report_tls_day_cmp(const void *x, const void *y)
{
	return strcmp(((const struct report_tls_day *)x)->day,
	    ((const struct report_tls_day *)y)->day);
}

/* The REPORT_TLS_TOP_FAMILIES families of most sessions (ties: the family
 * first seen). */
static void report_tls_families(const struct report_tls_group *g, struct report_tls_row *r)
{
	r->nfamilies = report_top(g->by_family, REPORT_TLS_FAMILIES, REPORT_TLS_TOP_FAMILIES,
	    r->families, r->family_sessions);
}

static void report_tls_top(struct report_tls_values *t, struct report_tls_top *top)
{
	top->distinct = (long)t->n;
	top->over = t->over;
	top->without = t->without;
	if (t->n)                    /* qsort(NULL, 0) is undefined */
		qsort(t->groups, t->n, sizeof(*t->groups), report_tls_group_cmp);
	for (size_t i = 0; i < t->n && top->n < REPORT_TLS_SHOWN; i++) {
		const struct report_tls_group *g = &t->groups[i];
		struct report_tls_row *r = &top->rows[top->n++];
		text_display_into(g->key, g->key_len, r->key, sizeof(r->key));
		memcpy(r->raw, g->key, g->key_len);
		r->raw_len = g->key_len;
		r->sessions = g->sessions;
		r->sources = g->sources;
		memcpy(r->by_class, g->by_class, sizeof(r->by_class));
		report_tls_families(g, r);
	}
	free(t->groups);
	t->groups = NULL;
}

int report_tls_finish(struct report_tls_acc *a, struct report_tls *out)
{
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!a)
		return 0;
	out->sessions = a->sessions;
	out->hellos = a->hellos;
	out->front = a->front;
	memcpy(out->states, a->states, sizeof(out->states));
	memcpy(out->outcomes, a->outcomes, sizeof(out->outcomes));
	memcpy(out->by_version, a->by_version, sizeof(out->by_version));
	out->days_over = a->days_over;
	for (int i = 0; i < RTLS_T_COUNT; i++)
		report_tls_top(&a->t[i], &out->top[i]);
	if (a->ndays && !(out->days = malloc(a->ndays * sizeof(*out->days))))
		rc = -1;
	for (size_t k = 0; out->days && k < REPORT_TLS_DAY_SLOTS; k++) {
		if (a->days[k].day[0])
			out->days[out->ndays++] = a->days[k];
	}
	if (out->ndays)
		qsort(out->days, out->ndays, sizeof(*out->days), report_tls_day_cmp);
	free(a);
	return rc;
}

void report_tls_set_note(struct report_tls_row *r, const void *note, size_t len)
{
	size_t n = len < REPORT_TLS_NOTE_LEN ? len : REPORT_TLS_NOTE_LEN;

	text_display_into(note ? note : "", note ? n : 0, r->note, sizeof(r->note));
	r->note_cut = note && len > REPORT_TLS_NOTE_LEN;
}

void report_tls_free(struct report_tls *t)
{
	free(t->days);
	t->days = NULL;
	t->ndays = 0;
}
