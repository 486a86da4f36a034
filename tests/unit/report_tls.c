/* report_tls.c - unit tests of the report's TLS section
 * (src/analysis/report_tls.c): the version a session counts under (a
 * table: the front's negotiated name, else supported_versions without
 * GREASE, else legacy_version), the states and outcomes of stored names
 * (other names, NULs inside), sources counted as an ordered pass meets
 * them, values cut and escaped, the cap on distinct values and on days.
 * Run from unit.c's main through test_report_tls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyhash.h"
#include "report_tls.h"

void test_report_tls(int *passed, int *failed);

static int *rl_passed, *rl_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*rl_passed)++;                                    \
		} else {                                                   \
			(*rl_failed)++;                                    \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

static struct report_tls_bytes rl_s(const char *s)
{
	return (struct report_tls_bytes){s, s ? strlen(s) : 0};
}

static void rl_versions(void)
{
	static const struct {
		const char *state, *versions, *front_version;
		long long hello_ver;
		int front;
		enum report_tls_version want;
	} cases[] = {
		{"hello", "0a0a,0304,0303", NULL, 0x0303, 0, RTLS_V_13},
		{"hello", "0303,0304", NULL, 0x0303, 0, RTLS_V_13},   /* highest, not first */
		{"hello", "fafa", NULL, 0x0303, 0, RTLS_V_12},       /* only GREASE: legacy */
		{"hello", "7f1c", NULL, -1, 0, RTLS_V_UNKNOWN},      /* a draft: unknown */
		{"hello", "7f1c,0302", NULL, -1, 0, RTLS_V_11},
		{"hello", "03,04,0304x,,0301", NULL, -1, 0, RTLS_V_10},  /* bad tokens skipped */
		{"hello", "0304", NULL, -1, 0, RTLS_V_13},
		{"hello", NULL, NULL, 0x0300, 0, RTLS_V_SSL3},
		{"hello", NULL, NULL, 0x0002, 0, RTLS_V_UNKNOWN},    /* 2 only in sslv2 */
		{"sslv2", NULL, NULL, 0x0002, 0, RTLS_V_SSL2},
		{"malformed", NULL, NULL, -1, 0, RTLS_V_UNKNOWN},
		{"hello", "0304", "TLSv1.2", -1, 1, RTLS_V_12},      /* negotiated wins */
		{"hello", "0304", "TLSv1", -1, 1, RTLS_V_10},
		{"hello", "0304", "SSLv3", -1, 1, RTLS_V_SSL3},
		{"hello", "0304", "TLSv1.3 ", -1, 1, RTLS_V_UNKNOWN},
		{"hello", "0304", NULL, -1, 1, RTLS_V_13},           /* failed: offered */
		{"hello", "0304", "TLSv1.2", -1, 0, RTLS_V_13},      /* no front: ignored */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct report_tls_in in = {.state = rl_s(cases[i].state),
		    .versions = rl_s(cases[i].versions), .version = rl_s(cases[i].front_version),
		    .hello_ver = cases[i].hello_ver, .front = cases[i].front};
		enum report_tls_version got = report_tls_version_of(&in);
		CHECK(got == cases[i].want, "case %zu: %s, want %s", i, report_tls_version_name(got),
		    report_tls_version_name(cases[i].want));
	}
}

static void rl_add(struct report_tls_acc *a, const char *state, const char *ja3_md5,
    const char *sni, const char *error, int front, const char *ts, long source)
{
	struct report_tls_in in = {.state = rl_s(state), .ja3_md5 = rl_s(ja3_md5),
	    .sni = rl_s(sni), .error = rl_s(error), .front = front,
	    .ts = rl_s(ts), .cls = 1, .family = 2, .source = source};
	report_tls_add(a, &in);
}

static void rl_counts(void)
{
	struct report_tls_acc *a = report_tls_new();
	struct report_tls t;
	static const char nul_state[] = "hello\0x";

	rl_add(a, "hello", "m1", "a.example", NULL, 0, "2026-11-27T05:00:00Z", 1);
	rl_add(a, "hello", "m1", "a.example", NULL, 0, "2026-11-27T06:00:00Z", 1);
	rl_add(a, "hello", "m1", "\x1b[2J<b>", "peer_closed", 1, "2026-11-28T05:00:00Z", 2);
	rl_add(a, NULL, NULL, NULL, "not_tls", 1, "2026-11-28T05:00:00Z", 2);
	rl_add(a, NULL, NULL, NULL, NULL, 0, "2026-11-28T05:00:00Z", 3);     /* no TLS */
	rl_add(a, "weird", NULL, NULL, "bogus", 1, "", 3);
	struct report_tls_in in = {.state = {nul_state, sizeof(nul_state) - 1}, .source = 4};
	report_tls_add(a, &in);      /* a NUL inside: no name */
	report_tls_add(NULL, &in);
	CHECK(report_tls_finish(a, &t) == 0, "finish");
	CHECK(t.sessions == 6 && t.hellos == 5 && t.front == 3, "%ld %ld %ld", t.sessions,
	    t.hellos, t.front);
	CHECK(t.states[RTLS_STATE_HELLO] == 3 && t.states[RTLS_STATE_OTHER] == 2, "%ld %ld",
	    t.states[RTLS_STATE_HELLO], t.states[RTLS_STATE_OTHER]);
	CHECK(t.outcomes[RTLS_ERR_PEER_CLOSED] == 1 && t.outcomes[RTLS_ERR_NOT_TLS] == 1 &&
	    t.outcomes[RTLS_ERR_OTHER] == 1 && t.outcomes[RTLS_DONE] == 0, "outcomes");
	const struct report_tls_top *ja3 = &t.top[RTLS_T_JA3];
	CHECK(ja3->n == 1 && ja3->distinct == 1 && ja3->without == 2, "%d %ld %ld", ja3->n,
	    ja3->distinct, ja3->without);
	CHECK(ja3->rows[0].sessions == 3 && ja3->rows[0].sources == 2 &&
	    ja3->rows[0].by_class[1] == 3 && ja3->rows[0].nfamilies == 1 &&
	    ja3->rows[0].families[0] == 2 && ja3->rows[0].raw_len == 2 &&
	    !memcmp(ja3->rows[0].raw, "m1", 2) && !ja3->rows[0].note[0],
	    "%ld %ld %s", ja3->rows[0].sessions, ja3->rows[0].sources, ja3->rows[0].note);
	/* the note: a JA3 string cut to REPORT_TLS_NOTE_LEN bytes and escaped */
	struct report_tls_row row;

	memset(&row, 0, sizeof(row));
	char longer[REPORT_TLS_NOTE_LEN + 10];
	memset(longer, '7', sizeof(longer));
	report_tls_set_note(&row, "771,\x1b[2J", 8);
	CHECK(!strcmp(row.note, "771,\\x1b[2J") && !row.note_cut, "%s", row.note);
	report_tls_set_note(&row, longer, sizeof(longer));
	CHECK(strlen(row.note) == REPORT_TLS_NOTE_LEN && row.note_cut, "%zu", strlen(row.note));
	report_tls_set_note(&row, NULL, 0);
	CHECK(!row.note[0] && !row.note_cut, "%s", row.note);
	const struct report_tls_top *sni = &t.top[RTLS_T_SNI];
	CHECK(sni->n == 2 && !strcmp(sni->rows[0].key, "a.example") &&
	    !strcmp(sni->rows[1].key, "\\x1b[2J<b>"), "%s", sni->rows[1].key);
	/* days: the two dates and "-" for an empty start */
	CHECK(t.ndays == 3 && !strcmp(t.days[0].day, "-") && !strcmp(t.days[1].day, "2026-11-27")
	    && t.days[1].by_version[RTLS_V_UNKNOWN] == 2, "%zu %s", t.ndays,
	    t.ndays ? t.days[0].day : "");
	report_tls_free(&t);

	CHECK(report_tls_finish(NULL, &t) == 0 && t.sessions == 0 && !t.days, "NULL acc");
}

static void rl_caps(void)
{
	struct report_tls_acc *a = report_tls_new();
	struct report_tls t;
	char key[300], ts[32];

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	for (int i = 0; i < REPORT_TLS_KEYS + 10; i++) {
		char md5[40];
		snprintf(md5, sizeof(md5), "%032x", i);
		snprintf(ts, sizeof(ts), "%04d-01-01", i);     /* a day each */
		rl_add(a, "hello", md5, key, NULL, 0, ts, i);
	}
	CHECK(report_tls_finish(a, &t) == 0, "finish");
	CHECK(t.top[RTLS_T_JA3].distinct == REPORT_TLS_KEYS && t.top[RTLS_T_JA3].over == 10 &&
	    t.top[RTLS_T_JA3].n == REPORT_TLS_SHOWN, "%ld %ld", t.top[RTLS_T_JA3].distinct,
	    t.top[RTLS_T_JA3].over);
	CHECK(t.top[RTLS_T_SNI].distinct == 1 && strlen(t.top[RTLS_T_SNI].rows[0].key) ==
	    REPORT_TLS_KEY_LEN, "%zu", strlen(t.top[RTLS_T_SNI].rows[0].key));
	CHECK(t.ndays == REPORT_TLS_DAYS && t.days_over == 10, "%zu %ld", t.ndays, t.days_over);
	report_tls_free(&t);
}

/* SipHash-2-4 against the paper's vectors (key 00..0f; messages 00..0e
 * and empty), and two random keys differ. */
static void rl_keyhash(void)
{
	const struct keyhash_key k = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
	unsigned char m[15];
	struct keyhash_key r1, r2;

	for (int i = 0; i < 15; i++)
		m[i] = (unsigned char)i;
	CHECK(keyhash(&k, m, 15) == 0xa129ca6149be45e5ULL, "%016llx",
	    (unsigned long long)keyhash(&k, m, 15));
	CHECK(keyhash(&k, NULL, 0) == 0x726fdb47dd0e0e31ULL, "%016llx",
	    (unsigned long long)keyhash(&k, NULL, 0));
	CHECK(keyhash_key_random(&r1) == 0 && keyhash_key_random(&r2) == 0 &&
	    (r1.k0 != r2.k0 || r1.k1 != r2.k1), "random keys");
}

/* The fill of a colliding value's search: a peer's 4096 SNIs that share
 * one slot (here forced by the hook; unkeyed, FNV-1a made them cheap to
 * find) must not cost each session a compare with every one of them. */
static void rl_collide(void)
{
	struct report_tls_acc *a = report_tls_new();
	struct report_tls t;
	char sni[64];

	report_tls_test_one_slot = 1;
	report_tls_test_probes_max = 0;
	for (int i = 0; i < REPORT_TLS_KEYS; i++) {
		snprintf(sni, sizeof(sni), "c%05d.example", i);
		rl_add(a, "hello", NULL, sni, NULL, 0, "2026-11-27", i);
	}
	report_tls_test_one_slot = 0;
	CHECK(report_tls_test_probes_max <= REPORT_TLS_PROBES, "a search looked at %ld slots",
	    report_tls_test_probes_max);
	CHECK(report_tls_finish(a, &t) == 0, "finish");
	/* those past the bound are counted, as over */
	CHECK(t.top[RTLS_T_SNI].distinct + t.top[RTLS_T_SNI].over == REPORT_TLS_KEYS &&
	    t.top[RTLS_T_SNI].distinct == REPORT_TLS_PROBES, "%ld %ld",
	    t.top[RTLS_T_SNI].distinct, t.top[RTLS_T_SNI].over);
	report_tls_free(&t);

	/* with the run's key, the same values spread: no value is over */
	a = report_tls_new();
	report_tls_test_probes_max = 0;
	for (int i = 0; i < REPORT_TLS_KEYS; i++) {
		snprintf(sni, sizeof(sni), "c%05d.example", i);
		rl_add(a, "hello", NULL, sni, NULL, 0, "2026-11-27", i);
	}
	CHECK(report_tls_finish(a, &t) == 0, "finish");
	CHECK(t.top[RTLS_T_SNI].distinct == REPORT_TLS_KEYS && t.top[RTLS_T_SNI].over == 0 &&
	    report_tls_test_probes_max < REPORT_TLS_PROBES, "%ld %ld %ld",
	    t.top[RTLS_T_SNI].distinct, t.top[RTLS_T_SNI].over, report_tls_test_probes_max);
	report_tls_free(&t);
}

void test_report_tls(int *passed, int *failed)
{
	rl_passed = passed;
	rl_failed = failed;
	rl_versions();
	rl_counts();
	rl_caps();
	rl_keyhash();
	rl_collide();
}
