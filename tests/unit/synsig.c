/* synsig.c - unit tests of the SYN parser (src/core/synsig.c): each SYN
 * of the table, as raw IP+TCP header bytes, formats to the signature p0f
 * 3.09b itself printed as raw_sig for the same packet (p0f -r on a pcap of
 * them; the one deviation is marked); every prefix of each is malformed,
 * not an over-read; malformed headers are refused; the fields of one SYN
 * are checked one by one; with Debian's p0f database, each matches the
 * label p0f gave it. Run from unit.c's main through test_synsig. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p0fdb.h"
#include "synsig.h"

void test_synsig(int *passed, int *failed);

static int *ss_passed, *ss_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*ss_passed)++;                                    \
		} else {                                                   \
			(*ss_failed)++;                                    \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

/* name, the SYN's headers in hex, p0f's raw_sig for it, and what p0f
 * matched it to with Debian's /etc/p0f/p0f.fp: os, dist, how ("" none;
 * hops -1 for p0f's "<= N" of a random-TTL signature) */
static const struct {
	const char *name, *hex, *sig;
	const char *os;
	int hops;
	const char *match;
} ss_cases[] = {
	{"linux_lo",
	 "4500003c12344000400600007f0000017f0000029c401f900000303900000000a002ffd7000000000204ffd70402080a000003e8000000000103030a",
	 "4:64+0:0:65495:mss*1,10:mss,sok,ts,nop,ws:df,id+:0",
	 "Linux 2.2.x-3.x", 0, "generic"},
	{"linux_ttl37_mss1200",
	 "4500003c12344000250600007f0000017f0000029c411f900000303900000000a002ffcb00000000020404b00402080a000000050000000001030307",
	 "4:37+27:0:1200:65483,7:mss,sok,ts,nop,ws:df,id+:0",
	 "Linux 2.2.x-3.x", 27, "generic"},
	{"hping_default",
	 "4500002800000000400600007f0000017f0000029c421f9000003039000000005002004000000000",
	 "4:64+0:0:0:64,0::id-:0",
	 "", 0, ""},
	{"quirks_flags",
	 "4500002800630000780600007f0000017f0000029c431f90000000000000000550ca200000000007",
	 "4:120+8:0:0:8192,0::ecn,seq-,ack+,uptr+,pushf+:0",
	 "", 8, ""}, /* p0f 3.09b never prints ack+; we do (README 5) */
	{"ack_plain",
	 "4500002812344000400600007f0000017f0000029c441f9000003039000000055002200000000000",
	 "4:64+0:0:0:8192,0::df,id+,ack+:0",
	 "", 0, ""}, /* p0f 3.09b never prints ack+; we do (README 5) */
	{"ack_psh",
	 "4500002812344000400600007f0000017f0000029c451f900000303900000005500a200000000000",
	 "4:64+0:0:0:8192,0::df,id+,ack+,pushf+:0",
	 "", 0, ""}, /* p0f 3.09b never prints ack+; we do (README 5) */
	{"ack_ece",
	 "4500002812344000400600007f0000017f0000029c461f9000003039000000055042200000000000",
	 "4:64+0:0:0:8192,0::df,id+,ecn,ack+:0",
	 "", 0, ""}, /* p0f 3.09b never prints ack+; we do (README 5) */
	{"ack_cwr",
	 "4500002812344000400600007f0000017f0000029c471f9000003039000000055082200000000000",
	 "4:64+0:0:0:8192,0::df,id+,ecn,ack+:0",
	 "", 0, ""}, /* p0f 3.09b never prints ack+; we do (README 5) */
	{"ack_seq0",
	 "4500002812344000400600007f0000017f0000029c481f9000000000000000055002200000000000",
	 "4:64+0:0:0:8192,0::df,id+,seq-,ack+:0",
	 "", 0, ""}, /* p0f 3.09b never prints ack+; we do (README 5) */
	{"urg_flag",
	 "4500002800004000800600007f0000017f0000029c4a1f9000003039000000005022200000000007",
	 "4:128+0:0:0:8192,0::df,urgf+:0",
	 "", 0, ""},
	{"eol_pad_nz_exws",
	 "4500003412344000400600007f0000017f0000029c4b1f9000003039000000008002040000000000020405b403030f0000050000",
	 "4:64+0:0:1460:1024,15:mss,ws,eol+4:df,id+,opt+,exws:0",
	 "", 0, ""},
	{"eol_pad_zero",
	 "4500003412344000400600007f0000017f0000029c4c1f9000003039000000008002040000000000020405b40100000000000000",
	 "4:64+0:0:1460:1024,0:mss,nop,eol+6:df,id+:0",
	 "", 0, ""},
	{"ts_quirks",
	 "4500003c12344000400600007f0000017f0000029c4d1f900000303900000000a002721000000000020405b40402080a000000000000004d01030307",
	 "4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+,ts1-,ts2+:0",
	 "", 0, ""},
	{"bad_mss_len",
	 "4500003012344000400600007f0000017f0000029c4e1f90000030390000000070027210000000000205010203010101",
	 "4:64+0:0:258:mss*20,1:mss,ws,nop:df,id+,bad:0",
	 "", 0, ""},
	{"unknown_kind",
	 "4500003012344000400600007f0000017f0000029c4f1f9000003039000000007002721000000000020405b41e040909",
	 "4:64+0:0:1460:mss*20,0:mss,?30:df,id+:0",
	 "", 0, ""},
	{"opt_past_end",
	 "4500003012344000400600007f0000017f0000029c501f9000003039000000007002721000000000020405b41e090909",
	 "4:64+0:0:1460:mss*20,0:mss,?30:df,id+,bad:0",
	 "", 0, ""},
	{"ipopts_rb_ecn",
	 "460300401234c0003c0600007f0000017f000002010101009c511f900000303900000000a00216d000000000020405b40402080a000000010000000001030302",
	 "4:60+4:4:1460:mss*4,2:mss,sok,ts,nop,ws:df,id+,ecn,0+:0",
	 "", 4, ""},
	{"payload",
	 "4500004612344000400600007f0000017f0000029c521f900000303900000000a002ffd7000000000204ffd70402080a000003e8000000000103030a",
	 "4:64+0:0:65495:mss*1,10:mss,sok,ts,nop,ws:df,id+:+",
	 "", 0, ""},
	{"win_mss_minus12",
	 "4500003c12344000400600007f0000017f0000029c531f900000303900000000a00216a000000000020405b40402080a000000010000000001030307",
	 "4:64+0:0:1460:mss*4,7:mss,sok,ts,nop,ws:df,id+:0",
	 "Linux 2.6.x", 0, "exact"},
	{"win_1460_other_mss",
	 "4500002c12344000400600007f0000017f0000029c541f9000003039000000006002111c00000000020404b0",
	 "4:64+0:0:1200:mss*3,0:mss:df,id+:0",
	 "Linux 2.2.x-3.x (barebone)", 0, "generic"},
	{"win_mtu",
	 "4500002c12344000400600007f0000017f0000029c551f900000303900000000600209b000000000020404b0",
	 "4:64+0:0:1200:mtu*2,0:mss:df,id+:0",
	 "Linux 2.2.x-3.x (barebone)", 0, "generic"},
	{"win_1500",
	 "4500002c12344000400600007f0000017f0000029c561f9000003039000000006002119400000000020404b0",
	 "4:64+0:0:1200:mtu*3,0:mss:df,id+:0",
	 "Linux 2.2.x-3.x (barebone)", 0, "generic"},
	{"win_zero",
	 "4500002c12344000400600007f0000017f0000029c571f9000003039000000006002000000000000020405b4",
	 "4:64+0:0:1460:0,0:mss:df,id+:0",
	 "Linux 2.2.x-3.x (barebone)", 0, "generic"},
	{"mss_zero",
	 "4500002c12344000400600007f0000017f0000029c581f900000303900000000600202000000000002040000",
	 "4:64+0:0:0:512,0:mss:df,id+:0",
	 "Linux 2.2.x-3.x (barebone)", 0, "generic"},
	{"small_mss",
	 "4500002c12344000400600007f0000017f0000029c591f900000303900000000600200c60000000002040063",
	 "4:64+0:0:99:198,0:mss:df,id+:0",
	 "Linux 2.2.x-3.x (barebone)", 0, "generic"},
	{"sack",
	 "4500003812344000400600007f0000017f0000029c5a1f9000003039000000009002100000000000020405b4050a01010101010101010000",
	 "4:64+0:0:1460:4096,0:mss,sack,eol+1:df,id+:0",
	 "", 0, ""},
	{"ttl200",
	 "4500003412344000c80600007f0000017f0000029c5b1f9000003039000000008002200000000000020405b40103030801010402",
	 "4:200+?:0:1460:8192,8:mss,nop,ws,nop,nop,sok:df,id+:0",
	 "Windows 7 or 8", 55, "fuzzy"},
	{"ttl93",
	 "4500002c123440005d0600007f0000017f0000029c5c1f9000003039000000006002200000000000020405b4",
	 "4:93+35:0:1460:8192,0:mss:df,id+:0",
	 "Linux 2.2.x-3.x (barebone)", 35, "fuzzy_generic"},
	{"ttl92",
	 "4500002c123440005c0600007f0000017f0000029c5d1f9000003039000000006002200000000000020405b4",
	 "4:92+?:0:1460:8192,0:mss:df,id+:0",
	 "Linux 2.2.x-3.x (barebone)", 36, "fuzzy_generic"},
	{"ttl20",
	 "4500002c12344000140600007f0000017f0000029c5e1f900000303900000000600220000000000002040218",
	 "4:20+12:0:536:8192,0:mss:df,id+:0",
	 "Linux 2.2.x-3.x (barebone)", 12, "fuzzy_generic"},
	{"v6_linux",
	 "600123450028064000000000000000000000000000000001000000000000000000000000000000029c5f1f900000303900000000a002ffc4000000000204ffc40402080a00000001000000000103030a",
	 "6:64+0:0:65476:mss*1,10:mss,sok,ts,nop,ws:flow:0",
	 "", 0, ""},
	{"v6_noflow_ecn",
	 "601000000028063900000000000000000000000000000001000000000000000000000000000000029c601f900000303900000000a002708000000000020405a00402080a000000010000000001030307",
	 "6:57+7:0:1440:mss*20,7:mss,sok,ts,nop,ws:ecn:0",
	 "Linux 3.11 and newer", 7, "fuzzy"},
	{"v6_win1440",
	 "600000000024064000000000000000000000000000000001000000000000000000000000000000029c611f90000030390000000090020b280000000002040514080a00000001000000000000",
	 "6:64+0:0:1300:mss*2,0:mss,ts,eol+1::0",
	 "", 0, ""},
	{"v6_mtu60",
	 "600000000018064000000000000000000000000000000001000000000000000000000000000000029c621f90000030390000000060020aa00000000002040514",
	 "6:64+0:0:1300:mtu*2,0:mss::0",
	 "Linux 2.2.x-3.x (barebone)", 0, "generic"},
	{"nmap_syn",
	 "4500002c0d0500002c0600007f0000017f0000029c631f9000003039000000006002040000000000020405b4",
	 "4:44+20:0:1460:1024,0:mss::0",
	 "NMap SYN scan", -1, "exact"},
	/* IPv6 with a hop-by-hop and a destination options header before TCP
	 * (p0f does not walk them) */
	{"v6_ext_headers",
	 "600123450028003f00000000000000000000000000000001000000000000000000000000000000023c000000"
	 "0000000006000104000000009c401f9000003039000000006002ffc40000000002040578",
	 "6:63+1:0:1400:65476,0:mss:flow:0", "", 1, ""},
};

/* Malformed: each must be refused, present SYN_MALFORMED. */
static const struct {
	const char *name, *hex;
} ss_bad[] = {
	{"empty", ""},
	{"version 5", "5500002812344000400600007f0000017f0000029c401f9000003039000000005002004000000000"},
	{"ihl under 20", "4400002812344000400600007f0000017f0000029c401f9000003039000000005002004000000000"},
	{"udp", "4500002812344000401100007f0000017f0000029c401f9000003039000000005002004000000000"},
	{"later fragment", "4500002812342001400600007f0000017f0000029c401f9000003039000000005002004000000000"},
	{"no syn", "4500002812344000400600007f0000017f0000029c401f9000003039000000005010004000000000"},
	{"doff under 20", "4500002812344000400600007f0000017f0000029c401f9000003039000000004002004000000000"},
	{"doff past the end", "4500002812344000400600007f0000017f0000029c401f900000303900000000f002004000000000"},
	{"total length short", "4500001412344000400600007f0000017f0000029c401f9000003039000000005002004000000000"},
	{"v6 unknown next header", "600123450014114000000000000000000000000000000001000000000000000000000000000000029c401f9000003039000000005002004000000000"},
	{"v6 ext header past the end", "6001234500140040000000000000000000000000000000010000000000000000000000000000000206051f9000003039000000005002004000000000"},
	{"v6 later fragment", "6001234500142c40000000000000000000000000000000010000000000000000000000000000000206000008000000009c401f9000003039000000005002004000000000"},
};

static size_t ss_unhex(const char *hex, uint8_t *b, size_t cap)
{
	size_t n = 0;

	while (hex[0] && hex[1] && n < cap) {
		unsigned v;

		sscanf(hex, "%2x", &v);
		b[n++] = (uint8_t)v;
		hex += 2;
	}
	return n;
}

/* Copies b to the end of a malloc'd block of exactly n bytes, so ASan
 * catches any read past it. */
static void ss_parse_exact(const uint8_t *b, size_t n, struct record_syn *s, int *rc)
{
	uint8_t *copy = malloc(n ? n : 1);

	memcpy(copy, b, n);
	*rc = synsig_parse(copy, n, s);
	free(copy);
}

static void ss_table(void)
{
	for (size_t i = 0; i < sizeof(ss_cases) / sizeof(ss_cases[0]); i++) {
		uint8_t b[256];
		size_t n = ss_unhex(ss_cases[i].hex, b, sizeof(b));
		struct record_syn s;
		char sig[SYNSIG_SIG_MAX];
		int rc;

		ss_parse_exact(b, n, &s, &rc);
		synsig_format(&s, sig);
		CHECK(rc == 0 && s.present == SYN_PARSED, "%s: rc %d", ss_cases[i].name, rc);
		CHECK(!strcmp(sig, ss_cases[i].sig), "%s: got %s want %s", ss_cases[i].name,
		    sig, ss_cases[i].sig);
		/* every prefix cuts the TCP header: malformed, and read safely */
		for (size_t k = 0; k < n; k++) {
			ss_parse_exact(b, k, &s, &rc);
			if (rc != -1 || s.present != SYN_MALFORMED) {
				CHECK(0, "%s: prefix of %zu bytes parsed", ss_cases[i].name, k);
				break;
			}
		}
	}
}

static void ss_malformed(void)
{
	for (size_t i = 0; i < sizeof(ss_bad) / sizeof(ss_bad[0]); i++) {
		uint8_t b[256];
		size_t n = ss_unhex(ss_bad[i].hex, b, sizeof(b));
		struct record_syn s;
		char sig[SYNSIG_SIG_MAX];
		int rc;

		ss_parse_exact(b, n, &s, &rc);
		synsig_format(&s, sig);
		CHECK(rc == -1 && s.present == SYN_MALFORMED && !sig[0], "%s: rc %d sig %s",
		    ss_bad[i].name, rc, sig);
	}
	CHECK(synsig_parse(NULL, 0, &(struct record_syn){0}) == -1, "NULL bytes");
}

/* The fields of the Python client of the integration test, one by one. */
static void ss_fields(void)
{
	uint8_t b[256];
	size_t n = ss_unhex(ss_cases[1].hex, b, sizeof(b));
	struct record_syn s;
	char olayout[SYNSIG_OLAYOUT_MAX], quirks[SYNSIG_QUIRKS_MAX], wsize[16];

	CHECK(synsig_parse(b, n, &s) == 0, "parse");
	synsig_olayout(&s, olayout);
	synsig_quirks(s.quirks, quirks);
	synsig_wsize(&s, wsize, sizeof(wsize));
	CHECK(s.ver == 4 && s.ttl == 37 && s.df && s.ip_id == 0x1234 && s.olen == 0,
	    "ip: ver %u ttl %u df %u id %u", s.ver, s.ttl, s.df, s.ip_id);
	CHECK(s.win == 65483 && s.mss == 1200 && s.wscale == 7 && s.ts && !s.pclass,
	    "tcp: win %u mss %u ws %d", s.win, s.mss, s.wscale);
	CHECK(!strcmp(olayout, "mss,sok,ts,nop,ws"), "olayout %s", olayout);
	CHECK(!strcmp(quirks, "df,id+"), "quirks %s", quirks);
	CHECK(!strcmp(wsize, "65483"), "wsize %s", wsize);
	CHECK(synsig_guess_ittl(37) == 64 && synsig_guess_ittl(32) == 32 &&
	    synsig_guess_ittl(65) == 128 && synsig_guess_ittl(129) == 255, "ittl");
	synsig_quirks(0xffffffffu, quirks);
	CHECK(!strcmp(quirks, "df,id+,id-,ecn,0+,flow,seq-,ack+,ack-,uptr+,urgf+,pushf+,"
	    "ts1-,ts2+,opt+,exws,bad"), "every quirk: %s", quirks);
	/* 40 options of an unknown kind at their longest name */
	memset(&s, 0, sizeof(s));
	s.present = SYN_PARSED;
	s.nopts = RECORD_SYN_OPTS;
	memset(s.opts, 255, sizeof(s.opts));
	synsig_olayout(&s, olayout);
	CHECK(strlen(olayout) == 40 * 5 - 1, "40 options: %zu", strlen(olayout));
}

/* Each SYN of the table matches what p0f said of it, with the same
 * database (the p0f package is a test dependency: scripts/deps). */
static void ss_p0f_labels(void)
{
	struct p0fdb *db;
	char err[512], warning[512];

	CHECK(p0fdb_load(P0FDB_DEFAULT, &db, err, sizeof(err), warning, sizeof(warning)) == 0
	    && db, "%s (install p0f)", err);
	if (!db)
		return;
	CHECK(p0fdb_count(db) >= 80, "%zu signatures in %s", p0fdb_count(db), P0FDB_DEFAULT);
	for (size_t i = 0; i < sizeof(ss_cases) / sizeof(ss_cases[0]); i++) {
		uint8_t b[256];
		size_t n = ss_unhex(ss_cases[i].hex, b, sizeof(b));
		struct record_syn s;
		struct record_os os;
		char label[P0FDB_OS_TEXT_MAX];
		const char *how;

		synsig_parse(b, n, &s);
		p0fdb_match(db, &s, &os);
		p0fdb_os_text(&os, label);
		how = p0fdb_match_name(os.match);
		CHECK(!strcmp(label, ss_cases[i].os) && os.hops == ss_cases[i].hops &&
		    !strcmp(how ? how : "", ss_cases[i].match), "%s: got '%s' %d %s want '%s' %d %s",
		    ss_cases[i].name, label, os.hops, how ? how : "", ss_cases[i].os,
		    ss_cases[i].hops, ss_cases[i].match);
	}
	p0fdb_free(db);
}

void test_synsig(int *passed, int *failed)
{
	ss_passed = passed;
	ss_failed = failed;
	ss_table();
	ss_p0f_labels();
	ss_malformed();
	ss_fields();
}
