/* p0fdb.c - unit tests of the p0f database reader and matcher
 * (src/core/p0fdb.c) on a small database the test writes: specific
 * before generic, exact before fuzzy, the TTL distance, random-TTL tools
 * (hops unknown), window kinds, EOL padding, IPv6 dropping the IPv4
 * quirks, the cache; and the reader's errors, each naming its line. Run
 * from unit.c's main through test_p0fdb. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p0fdb.h"
#include "synsig.h"

void test_p0fdb(int *passed, int *failed);

static int *pd_passed, *pd_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*pd_passed)++;                                    \
		} else {                                                   \
			(*pd_failed)++;                                    \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

static const char pd_db[] =
	"; a test database\n"
	"classes = win,unix,other\n"
	"[mtu]\n"
	"label = Ethernet\n"
	"sig = 1500\n"
	"[tcp:request]\n"
	"label = g:unix:Generic:any\n"
	"sig   = *:64:0:*:*,*:mss,sok,ts,nop,ws:df,id+:0\n"
	"label = s:unix:Specific:ws7\n"
	"sig   = 4:64:0:*:mss*20,7:mss,sok,ts,nop,ws:df,id+:0\n"
	"label = s:win:Mtu:2\n"
	"sig   = *:128:0:1460:mtu*2,0:mss,nop,ws::0\n"
	"label = s:!:Tool:random\n"
	"sys   = @unix\n"
	"sig   = *:64-:0:1460:1024,0:mss::0\n"
	"label = s:other:Mod:\n"
	"sig   = *:255:0:*:%512,0:mss,eol+3::+\n"
	"[tcp:response]\n"
	"label = not read\n"
	"sig = not a signature\n";

/* Writes text to a fresh file; returns its path (static). */
static const char *pd_file(const char *text)
{
	static char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/flypaper-p0fdb-%d", (int)getpid());
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static struct record_syn pd_syn(int ver, int ttl, int win, int mss, int ws,
    const char *opts, uint32_t quirks)
{
	struct record_syn s = {0};

	s.present = SYN_PARSED;
	s.ver = (uint8_t)ver;
	s.ttl = (uint8_t)ttl;
	s.win = (uint16_t)win;
	s.mss = (uint16_t)mss;
	s.wscale = (int16_t)ws;
	s.quirks = quirks;
	s.df = (quirks & SYNQ_DF) != 0;
	s.ip_id = 77;
	for (const char *p = opts; *p; p++) {
		switch (*p) {
		case 'm': s.opts[s.nopts++] = 2; break;
		case 's': s.opts[s.nopts++] = 4; break;
		case 't': s.opts[s.nopts++] = 8; s.ts = 1; break;
		case 'n': s.opts[s.nopts++] = 1; break;
		case 'w': s.opts[s.nopts++] = 3; break;
		case 'e': s.opts[s.nopts++] = 0; break;
		}
	}
	return s;
}

static void pd_expect(const struct p0fdb *db, const char *what, struct record_syn s,
    const char *label, int match, int ittl, int hops)
{
	struct record_os os;
	char text[P0FDB_OS_TEXT_MAX];

	p0fdb_match(db, &s, &os);
	p0fdb_os_text(&os, text);
	CHECK(!strcmp(text, label) && os.match == match && os.ittl == ittl && os.hops == hops,
	    "%s: got '%s' match %d ittl %d hops %d; want '%s' %d %d %d", what, text,
	    os.match, os.ittl, os.hops, label, match, ittl, hops);
}

static void pd_matching(void)
{
	struct p0fdb *db;
	char err[512], warning[512];
	uint32_t dfid = SYNQ_DF | SYNQ_ID_PLUS;
	struct record_syn s;

	CHECK(p0fdb_load(pd_file(pd_db), &db, err, sizeof(err), warning, sizeof(warning)) == 0,
	    "load: %s", err);
	if (!db)
		return;
	CHECK(p0fdb_count(db) == 5, "%zu signatures", p0fdb_count(db));
	pd_expect(db, "specific exact", pd_syn(4, 60, 1460 * 20, 1460, 7, "mstnw", dfid),
	    "Specific ws7", OS_MATCH_EXACT, 64, 4);
	pd_expect(db, "generic exact", pd_syn(4, 60, 1460 * 20, 1460, 10, "mstnw", dfid),
	    "Generic any", OS_MATCH_GENERIC, 64, 4);
	/* 61 hops away from 64: too far for the signature's TTL */
	pd_expect(db, "fuzzy by TTL", pd_syn(4, 3, 1460 * 20, 1460, 7, "mstnw", dfid),
	    "Generic any", OS_MATCH_FUZZY_GENERIC, 32, 29);
	pd_expect(db, "fuzzy by quirks (df, id+ gone; id- came)",
	    pd_syn(4, 60, 1460 * 20, 1460, 7, "mstnw", SYNQ_ID_MINUS),
	    "Generic any", OS_MATCH_FUZZY_GENERIC, 64, 4);
	pd_expect(db, "a quirk fuzzy does not forgive", pd_syn(4, 60, 1460 * 20, 1460, 7,
	    "mstnw", dfid | SYNQ_TS2_PLUS), "", OS_MATCH_NONE, 64, 4);
	pd_expect(db, "random TTL: no hops", pd_syn(4, 44, 1024, 1460, -1, "m", 0),
	    "Tool random", OS_MATCH_EXACT, 64, -1);
	/* a tool that picks its TTL says nothing of the distance, fuzzy or not */
	pd_expect(db, "random TTL above its ittl: fuzzy, hops unknown",
	    pd_syn(4, 70, 1024, 1460, -1, "m", 0), "Tool random", OS_MATCH_FUZZY, 128, -1);
	s = pd_syn(4, 250, 1024, 1400, -1, "me", 0);
	s.eol_pad = 3;
	s.pclass = 1;
	pd_expect(db, "%512 and eol+3 and payload", s, "Mod", OS_MATCH_EXACT, 255, 5);
	s.eol_pad = 2;
	pd_expect(db, "eol+2 is not eol+3", s, "", OS_MATCH_NONE, 255, 5);
	s.eol_pad = 3;
	s.pclass = 0;
	pd_expect(db, "no payload is not +", s, "", OS_MATCH_NONE, 255, 5);
	pd_expect(db, "mtu*2", pd_syn(4, 120, 3000, 1460, 0, "mnw", 0), "Mtu 2",
	    OS_MATCH_EXACT, 128, 8);
	pd_expect(db, "mtu*2 over IPv6 (mss + 60)", pd_syn(6, 120, 3040, 1460, 0, "mnw", 0),
	    "Mtu 2", OS_MATCH_EXACT, 128, 8);
	/* IPv6 has no df or id+: the signature's are dropped; flow is not */
	pd_expect(db, "IPv6 drops the IPv4 quirks", pd_syn(6, 64, 1000, 1000, 10, "mstnw", 0),
	    "Generic any", OS_MATCH_GENERIC, 64, 0);
	pd_expect(db, "IPv6 flow is a quirk", pd_syn(6, 64, 1000, 1000, 10, "mstnw", SYNQ_FLOW),
	    "", OS_MATCH_NONE, 64, 0);
	pd_expect(db, "ver 4 only", pd_syn(6, 60, 1460 * 20, 1460, 7, "mstnw", 0),
	    "Generic any", OS_MATCH_GENERIC, 64, 4);
	pd_expect(NULL, "no database: the guess", pd_syn(4, 100, 1, 0, -1, "", 0), "",
	    OS_MATCH_NONE, 128, 28);

	/* the cache answers as the matcher, whatever the IP ID */
	struct p0fdb_cache *c = p0fdb_cache_new(db);
	for (int round = 0; round < 3; round++) {
		struct record_os a, b;
		s = pd_syn(4, 60, 1460 * 20, 1460, round == 1 ? 10 : 7, "mstnw", dfid);
		s.ip_id = (uint16_t)(round * 1000);
		p0fdb_cache_match(c, &s, &a);
		p0fdb_match(db, &s, &b);
		CHECK(!memcmp(&a, &b, sizeof(a)), "cache round %d", round);
	}
	p0fdb_cache_free(c);
	p0fdb_free(db);
}

static void pd_errors(void)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{"[tcp:request]\nlabel = s:unix:A:b\nsig = 4:64:0:*:*,*:mss:df\n", ":3: a sig is"},
		{"[tcp:request]\nlabel = s:unix:A:b\nsig = 7:64:0:*:*,*:mss:df:0:0\n", ":3: a sig is"},
		{"[tcp:request]\nlabel = s:unix:A:b\nsig = 4:64:0:*:*,*:mss,bogus:df:0\n", ":3: a sig is"},
		{"[tcp:request]\nlabel = s:unix:A:b\nsig = 4:64:0:*:*,*:mss:df,nosuch:0\n", ":3: a sig is"},
		{"[tcp:request]\nlabel = s:unix:A:b\nsig = 4:64:0:*:%0,*:mss:df:0\n", ":3: a sig is"},
		{"[tcp:request]\nlabel = s:unix:A:b\nsig = 4:64:0:*:*,*:eol+1,mss:df:0\n", ":3: a sig is"},
		{"[tcp:request]\nlabel = x:unix:A:b\n", ":2: a label is"},
		{"[tcp:request]\nlabel = s:unix\n", ":2: a label is"},
		{"[tcp:request]\n\n\nsig = 4:64:0:*:*,*:mss:df:0\n", ":4: a sig before any label"},
		{"[tcp:request]\nlabel\n", ":2: not 'key = value'"},
	};
	struct p0fdb *db;
	char err[512], warning[512], longline[2100];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK(p0fdb_load(pd_file(bad[i].text), &db, err, sizeof(err), warning,
		    sizeof(warning)) == -1 && !db && strstr(err, bad[i].want),
		    "case %zu: '%s' lacks '%s'", i, err, bad[i].want);
	}
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	memcpy(longline, "; ", 2);
	CHECK(p0fdb_load(pd_file(longline), &db, err, sizeof(err), warning, sizeof(warning))
	    == -1 && strstr(err, ":1: a line longer"), "%s", err);
	CHECK(p0fdb_load("/nonexistent/p0f.fp", &db, err, sizeof(err), warning,
	    sizeof(warning)) == -1 && strstr(err, "/nonexistent/p0f.fp"), "%s", err);
	CHECK(p0fdb_load("none", &db, err, sizeof(err), warning, sizeof(warning)) == 0 &&
	    !db && !warning[0], "none");
	unlink(pd_file(""));
}

void test_p0fdb(int *passed, int *failed)
{
	pd_passed = passed;
	pd_failed = failed;
	pd_matching();
	pd_errors();
}
