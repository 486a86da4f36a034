/* halfopen.c - unit tests of the half-open handshakes (src/capture/
 * halfopen.c): the frame decoder over a table of link types and bad
 * frames (every prefix of each frame too, so an over-read shows under
 * ASan), and the verdicts fed with made-up segments and times: a RST after
 * the SYN-ACK, a SYN left unanswered, a retransmitted SYN, an accepted
 * 4-tuple never counted, the per-source rows then one summary, and the
 * overflow bucket past the source table's cap. Run from unit.c's main
 * through test_halfopen. */
#include <arpa/inet.h>
#include <pcap/dlt.h>
#include "pcap_api.h"            /* libpcap through dlopen */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "halfopen.h"
#include "packets.h"
#include "queue.h"
#include "record.h"

void test_halfopen(int *passed, int *failed);

static int *ho_passed, *ho_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*ho_passed)++;                                    \
		} else {                                                   \
			(*ho_failed)++;                                    \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

#define NS 1000000000ULL

/* An IPv4 + TCP header (20 + 20, or 24 with an MSS option when mss). */
static size_t ho_ipv4(uint8_t *b, uint32_t src, uint16_t sport, uint32_t dst,
    uint16_t dport, uint8_t flags, uint32_t seq, int mss)
{
	size_t thl = mss ? 24 : 20;
	memset(b, 0, 20 + thl);
	b[0] = 0x45;
	b[2] = 0;
	b[3] = (uint8_t)(20 + thl);
	b[6] = 0x40;                 /* DF */
	b[8] = 64;
	b[9] = 6;
	uint32_t s = htonl(src), d = htonl(dst);
	memcpy(b + 12, &s, 4);
	memcpy(b + 16, &d, 4);
	uint8_t *t = b + 20;
	t[0] = (uint8_t)(sport >> 8);
	t[1] = (uint8_t)sport;
	t[2] = (uint8_t)(dport >> 8);
	t[3] = (uint8_t)dport;
	t[4] = (uint8_t)(seq >> 24);
	t[5] = (uint8_t)(seq >> 16);
	t[6] = (uint8_t)(seq >> 8);
	t[7] = (uint8_t)seq;
	t[12] = (uint8_t)((thl / 4) << 4);
	t[13] = flags;
	t[14] = 0x04;                /* window 1024 */
	if (mss) {
		t[20] = 2;
		t[21] = 4;
		t[22] = (uint8_t)(mss >> 8);
		t[23] = (uint8_t)mss;
	}
	return 20 + thl;
}

/* The frame of linktype around the IP bytes ip (len), into f. */
static size_t ho_frame(int linktype, const uint8_t *ip, size_t len, uint8_t *f,
    int v6)
{
	uint16_t et = v6 ? 0x86dd : 0x0800;
	size_t h = 0;

	switch (linktype) {
	case DLT_EN10MB:
		memset(f, 0, 14);
		f[12] = (uint8_t)(et >> 8);
		f[13] = (uint8_t)et;
		h = 14;
		break;
	case DLT_LINUX_SLL:
		memset(f, 0, 16);
		f[14] = (uint8_t)(et >> 8);
		f[15] = (uint8_t)et;
		h = 16;
		break;
	case DLT_LINUX_SLL2:
		memset(f, 0, 20);
		f[0] = (uint8_t)(et >> 8);
		f[1] = (uint8_t)et;
		h = 20;
		break;
	default:
		break;
	}
	memcpy(f + h, ip, len);
	return h + len;
}

/* Each whole frame decodes; no proper prefix of it does, and none reads
 * past its end (a heap copy of exactly that size, for ASan). */
static void test_decode_table(void)
{
	static const int links[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW};
	uint8_t ip[64], f[128];
	struct halfopen_pkt p;

	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		size_t n = ho_ipv4(ip, 0x7f000002, 40000, 0x7f000001, 8080, 0x02, 12345, 1460);
		size_t fl = ho_frame(links[i], ip, n, f, 0);
		for (size_t cut = 0; cut <= fl; cut++) {
			uint8_t *copy = malloc(cut ? cut : 1);
			memcpy(copy, f, cut);
			int rc = halfopen_decode(links[i], copy, cut, &p);
			if (cut < fl)
				CHECK(rc == -1, "link %d: a %zu-byte prefix of %zu decoded", links[i], cut, fl);
			else {
				CHECK(rc == 0, "link %d: the whole frame did not decode", links[i]);
				CHECK(p.flags == 0x02 && p.seq == 12345, "link %d: flags %x seq %u",
				    links[i], p.flags, p.seq);
				CHECK(addr_port(&p.src) == 40000 && addr_port(&p.dst) == 8080,
				    "link %d: ports %u %u", links[i], addr_port(&p.src), addr_port(&p.dst));
				CHECK(p.iplen == n && p.ip == copy + (fl - n), "link %d: ip span", links[i]);
			}
			free(copy);
		}
	}

	/* refused: not TCP, a later fragment, a short header length, an
	 * unknown link type, an IPv4 ethertype over IPv6 bytes */
	size_t n = ho_ipv4(ip, 1, 1, 2, 80, 0x02, 1, 0);
	ip[9] = 17;
	CHECK(halfopen_decode(DLT_RAW, ip, n, &p) == -1, "UDP decoded");
	ho_ipv4(ip, 1, 1, 2, 80, 0x02, 1, 0);
	ip[7] = 5;                   /* fragment offset 40 */
	CHECK(halfopen_decode(DLT_RAW, ip, n, &p) == -1, "a later fragment decoded");
	ho_ipv4(ip, 1, 1, 2, 80, 0x02, 1, 0);
	ip[0] = 0x44;
	CHECK(halfopen_decode(DLT_RAW, ip, n, &p) == -1, "IHL 16 decoded");
	ho_ipv4(ip, 1, 1, 2, 80, 0x02, 1, 0);
	ip[32] = 0x40;               /* TCP data offset 16 */
	CHECK(halfopen_decode(DLT_RAW, ip, n, &p) == -1, "TCP header length 16 decoded");
	ho_ipv4(ip, 1, 1, 2, 80, 0x02, 1, 0);
	CHECK(halfopen_decode(147, ip, n, &p) == -1, "an unknown link type decoded");
	size_t fl = ho_frame(DLT_EN10MB, ip, n, f, 1);
	CHECK(halfopen_decode(DLT_EN10MB, f, fl, &p) == -1, "IPv4 bytes under the IPv6 ethertype");

	/* IPv6: TCP right after the fixed header decodes; an extension
	 * header does not */
	uint8_t v6[60] = {0x60, 0, 0, 0, 0, 20, 6, 64};
	v6[23] = 1;                  /* ::1 */
	v6[39] = 1;
	v6[40] = 0x9c; v6[41] = 0x40;    /* 40000 */
	v6[42] = 0x1f; v6[43] = 0x90;    /* 8080 */
	v6[52] = 0x50;
	v6[53] = 0x04;               /* RST */
	fl = ho_frame(DLT_LINUX_SLL, v6, 60, f, 1);
	CHECK(halfopen_decode(DLT_LINUX_SLL, f, fl, &p) == 0 && p.flags == 0x04 &&
	    p.src.u.sa.sa_family == AF_INET6 && addr_port(&p.dst) == 8080,
	    "an IPv6 RST did not decode");
	v6[6] = 0;                   /* hop-by-hop options first */
	fl = ho_frame(DLT_LINUX_SLL, v6, 60, f, 1);
	CHECK(halfopen_decode(DLT_LINUX_SLL, f, fl, &p) == -1, "an IPv6 extension header decoded");
}

/* The records the queue holds now, counted by reason; *summaries their
 * summary rows, *handshakes what all of them stand for. */
struct ho_seen {
	int syn_only, rst, other, summaries;
	uint64_t handshakes;
	int retries;                 /* the largest syn_retries */
	int syn_parsed;              /* rows with the SYN parsed */
	struct record *last_summary_copy;
};

static void ho_take(struct queue *q, struct ho_seen *s)
{
	struct record *list = queue_pop_all(q, 0);

	memset(s, 0, sizeof(*s));
	while (list) {
		struct record *r = list;
		list = r->next;
		if (r->reason == CLOSE_SYN_ONLY)
			s->syn_only++;
		else if (r->reason == CLOSE_RST_AFTER_SYNACK)
			s->rst++;
		else
			s->other++;
		if (r->summary != SUMMARY_NONE)
			s->summaries++;
		s->handshakes += r->handshakes ? r->handshakes : 1;
		if (r->syn_retries > s->retries)
			s->retries = r->syn_retries;
		if (r->syn.present == SYN_PARSED)
			s->syn_parsed++;
		record_free(r);
	}
	queue_committed(q);
}

static uint64_t ho_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static void ho_send(struct halfopen *ho, uint32_t src, uint16_t sport,
    uint8_t flags, uint32_t seq, uint64_t now)
{
	uint8_t ip[64];
	struct halfopen_pkt p;
	struct timespec wall = {.tv_sec = 1800000000 + (time_t)(now / NS)};
	size_t n = ho_ipv4(ip, src, sport, 0x7f000001, 8080, flags, seq, 1460);

	if (halfopen_decode(DLT_RAW, ip, n, &p) == 0)
		halfopen_packet(ho, &p, &wall, now);
}

static void test_verdicts(void)
{
	struct queue q;
	struct handoff out = {.queue = &q};
	struct addr listen;
	char err[256];
	struct ho_seen s;

	addr_parse("127.0.0.1:8080", &listen);
	queue_init(&q, 100000, 64 << 20);
	struct halfopen *ho = halfopen_new(&listen, 1, &out, 3, 1000000, 5000, err, sizeof(err));
	CHECK(ho != NULL, "halfopen_new: %s", err);
	if (!ho)
		return;
	uint64_t t0 = ho_now();

	/* 1: SYN, SYN again (retransmitted), RST: one rst_after_synack with
	 * retries 1, after the grace, not before */
	ho_send(ho, 0x7f000002, 40001, 0x02, 100, t0);
	ho_send(ho, 0x7f000002, 40001, 0x02, 100, t0 + NS / 2);
	ho_send(ho, 0x7f000002, 40001, 0x04, 101, t0 + NS);
	/* 2: SYN only */
	ho_send(ho, 0x7f000002, 40002, 0x02, 200, t0);
	/* 3: accepted, then reset: nothing */
	ho_send(ho, 0x7f000002, 40003, 0x02, 300, t0);
	struct addr acc;
	addr_parse("127.0.0.2:40003", &acc);
	halfopen_accepted(ho, &acc, 8080);
	ho_send(ho, 0x7f000002, 40003, 0x04, 301, t0 + NS);
	/* 4: accepted, no RST: nothing, even after the wait */
	ho_send(ho, 0x7f000002, 40004, 0x02, 400, t0);
	addr_parse("127.0.0.2:40004", &acc);
	halfopen_accepted(ho, &acc, 8080);
	/* 6: a RST with ACK (an abort, maybe of a connection still in the
	 * backlog): decided at the wait, not the grace */
	ho_send(ho, 0x7f000002, 40008, 0x02, 800, t0);
	ho_send(ho, 0x7f000002, 40008, 0x14, 801, t0 + NS);
	/* 5: not ours: another port, a SYN-ACK, a plain ACK */
	uint8_t ip[64];
	struct halfopen_pkt p;
	struct timespec wall = {.tv_sec = 1800000000};
	size_t n = ho_ipv4(ip, 0x7f000002, 40005, 0x7f000001, 9999, 0x02, 1, 0);
	halfopen_decode(DLT_RAW, ip, n, &p);
	halfopen_packet(ho, &p, &wall, t0);
	ho_send(ho, 0x7f000002, 40006, 0x12, 600, t0);
	ho_send(ho, 0x7f000002, 40007, 0x10, 700, t0);

	halfopen_tick(ho, t0 + NS + NS / 2);
	ho_take(&q, &s);
	CHECK(s.rst + s.syn_only + s.other == 0, "a verdict before the grace: %d %d",
	    s.rst, s.syn_only);
	halfopen_tick(ho, t0 + 3 * NS);
	ho_take(&q, &s);
	CHECK(s.rst == 1 && s.syn_only == 0 && s.other == 0,
	    "after the grace: %d rst, %d syn_only", s.rst, s.syn_only);
	CHECK(s.retries == 1, "syn_retries %d, not 1", s.retries);
	CHECK(s.syn_parsed == 1, "the SYN fingerprint was not parsed");
	halfopen_tick(ho, t0 + 6 * NS);
	ho_take(&q, &s);
	CHECK(s.syn_only == 1 && s.rst == 1, "after the wait: %d syn_only, %d rst (1, 1)",
	    s.syn_only, s.rst);
	halfopen_tick(ho, t0 + 20 * NS);
	ho_take(&q, &s);
	CHECK(s.syn_only + s.rst + s.other == 0, "the accepted ones: %d %d",
	    s.syn_only, s.rst);

	/* per source: 3 rows a minute, the rest one summary at the minute's end */
	uint64_t t1 = t0 + 21 * NS;
	for (int i = 0; i < 10; i++) {
		ho_send(ho, 0x7f000009, (uint16_t)(41000 + i), 0x02, 1000, t1);
		ho_send(ho, 0x7f000009, (uint16_t)(41000 + i), 0x04, 1001, t1);
	}
	halfopen_tick(ho, t1 + 3 * NS);
	ho_take(&q, &s);
	CHECK(s.rst == 3 && s.summaries == 0, "per source: %d rows, %d summaries (3, 0)",
	    s.rst, s.summaries);
	halfopen_tick(ho, t0 + 61 * NS);     /* the next minute */
	ho_take(&q, &s);
	CHECK(s.rst == 1 && s.summaries == 1 && s.handshakes == 7,
	    "the summary: %d rows, %d summaries, %llu handshakes (1, 1, 7)",
	    s.rst, s.summaries, (unsigned long long)s.handshakes);
	struct halfopen_counters c;
	halfopen_get_counters(ho, &c);
	CHECK(c.rows == 6 && c.summarised == 7 && c.untracked == 0,
	    "counters: %llu rows, %llu summarised, %llu untracked",
	    (unsigned long long)c.rows, (unsigned long long)c.summarised,
	    (unsigned long long)c.untracked);

	/* past the source table's cap: the overflow bucket, no source named */
	uint64_t t2 = t0 + 62 * NS;
	int sources = HALFOPEN_SOURCES;
	for (int i = 0; i < sources; i++) {
		ho_send(ho, 0x0a000000u + (uint32_t)i, 50000, 0x02, 5, t2);
		ho_send(ho, 0x0a000000u + (uint32_t)i, 50000, 0x04, 6, t2);
	}
	halfopen_tick(ho, t2 + 3 * NS);
	ho_take(&q, &s);
	int singles = s.rst;
	halfopen_flush(ho, t2 + 4 * NS);
	ho_take(&q, &s);
	CHECK(singles == HALFOPEN_SOURCES * 3 / 4 && s.summaries == 1 &&
	    s.handshakes == (uint64_t)(sources - singles),
	    "overflow: %d single rows, %d summaries of %llu handshakes",
	    singles, s.summaries, (unsigned long long)s.handshakes);
	halfopen_free(ho);
	queue_destroy(&q);
}

/* The capture filter of IPv4, IPv6 and wildcard listeners compiles
 * (libpcap's own compiler, on a dead LINUX_SLL handle as "any" gives), and
 * too many listeners are refused, not cut. */
static void test_filter(void)
{
	static const char *const sets[][3] = {
		{"127.0.0.1:8080", NULL},
		{"[::1]:8080", NULL},
		{"*:80", "[::]:8080", "10.1.2.3:443"},
	};
	char text[PACKETS_FILTER_MAX];
	pcap_t *dead = pcap_open_dead(DLT_LINUX_SLL, 256);

	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		struct addr a[3];
		int n = 0;
		while (n < 3 && sets[i][n])
			addr_parse(sets[i][n], &a[n]), n++;
		for (int all = 0; all < 2; all++) {
			struct bpf_program prog;
			CHECK(packets_filter_text(a, n, all, text, sizeof(text)) == 0,
			    "set %zu: no filter text", i);
			int rc = pcap_compile(dead, &prog, text, 1, PCAP_NETMASK_UNKNOWN);
			CHECK(rc == 0, "set %zu (%s): '%s' does not compile: %s", i,
			    all ? "all" : "half-open", text, pcap_geterr(dead));
			if (rc == 0)
				pcap_freecode(&prog);
		}
	}
	struct addr many[CONFIG_MAX_LISTEN];
	for (int i = 0; i < CONFIG_MAX_LISTEN; i++)
		addr_parse("[2001:db8:1:2:3:4:5:6]:65535", &many[i]);
	CHECK(packets_filter_text(many, CONFIG_MAX_LISTEN, false, text, 1024) == -1,
	    "a filter over its buffer was not refused");
	pcap_close(dead);
}

/* A full SYN table: a SYN younger than the first look cannot be made
 * room for (counted untracked); once the entries have been looked up, the
 * oldest is decided syn_only early to make room, so a spoofed flood (no
 * RST ever) is still counted. */
static void test_table_full(void)
{
	struct queue q;
	struct handoff out = {.queue = &q};
	struct addr listen;
	char err[256];
	struct halfopen_counters c;
	struct ho_seen s;

	addr_parse("127.0.0.1:8080", &listen);
	queue_init(&q, 2 * HALFOPEN_PENDING_MAX, 256 << 20);
	struct halfopen *ho = halfopen_new(&listen, 1, &out, 1000000, 1000000, 60000, err,
	    sizeof(err));
	CHECK(ho != NULL, "halfopen_new: %s", err);
	if (!ho)
		return;
	uint64_t t0 = ho_now();
	for (uint32_t i = 0; i <= HALFOPEN_PENDING_MAX; i++)
		ho_send(ho, 0x0b000000u + (i >> 14), (uint16_t)(1024 + (i & 0x3fff)), 0x02, i, t0);
	halfopen_get_counters(ho, &c);
	CHECK(c.untracked == 1 && c.rows == 0, "full of fresh SYNs: %llu untracked, %llu rows",
	    (unsigned long long)c.untracked, (unsigned long long)c.rows);
	halfopen_tick(ho, t0 + 3 * NS);      /* all looked up: waiting */
	ho_send(ho, 0x0c000001, 2000, 0x02, 1, t0 + 3 * NS);
	ho_send(ho, 0x0c000001, 2001, 0x02, 2, t0 + 3 * NS);
	halfopen_get_counters(ho, &c);
	ho_take(&q, &s);
	CHECK(c.untracked == 1 && c.rows == 2 && s.syn_only == 2,
	    "room made: %llu untracked, %llu rows, %d syn_only (1, 2, 2)",
	    (unsigned long long)c.untracked, (unsigned long long)c.rows, s.syn_only);
	halfopen_free(ho);
	queue_destroy(&q);
}

/* --half-open-rows: 1,000 sources (spoofed, say) of 3 handshakes each,
 * under a per-source cap of 20 but a global cap of 50 single rows a
 * minute: 50 single rows, every other handshake in a summary row, none
 * lost; the next minute has its 50 again. */
static void test_global_cap(void)
{
	struct queue q;
	struct handoff out = {.queue = &q};
	struct addr listen;
	char err[256];
	struct ho_seen s;

	addr_parse("127.0.0.1:8080", &listen);
	queue_init(&q, 100000, 64 << 20);
	struct halfopen *ho = halfopen_new(&listen, 1, &out, 20, 50, 5000, err, sizeof(err));
	CHECK(ho != NULL, "halfopen_new: %s", err);
	if (!ho)
		return;
	uint64_t t0 = ho_now();
	for (int round = 0; round < 3; round++)
		for (uint32_t i = 0; i < 1000; i++) {
			uint16_t port = (uint16_t)(30000 + round);
			ho_send(ho, 0x0d000000u + i, port, 0x02, 7, t0);
			ho_send(ho, 0x0d000000u + i, port, 0x04, 8, t0);
		}
	halfopen_tick(ho, t0 + 3 * NS);
	ho_take(&q, &s);
	CHECK(s.rst == 50 && s.summaries == 0, "before the minute's end: %d rows, "
	    "%d summaries (50, 0)", s.rst, s.summaries);
	halfopen_tick(ho, t0 + 61 * NS);     /* the minute ends */
	ho_take(&q, &s);
	CHECK(s.summaries == s.rst && s.summaries <= 1000 &&
	    s.handshakes == 3000 - 50, "the minute's summaries: %d rows, %d summaries, "
	    "%llu handshakes (2950 in summaries)", s.rst, s.summaries,
	    (unsigned long long)s.handshakes);
	/* a new minute: single rows again, up to the cap */
	uint64_t t1 = t0 + 62 * NS;
	for (uint32_t i = 0; i < 100; i++) {
		ho_send(ho, 0x0e000000u + i, 31000, 0x02, 9, t1);
		ho_send(ho, 0x0e000000u + i, 31000, 0x04, 10, t1);
	}
	halfopen_tick(ho, t1 + 3 * NS);
	ho_take(&q, &s);
	CHECK(s.rst == 50 && s.summaries == 0, "the next minute: %d rows (50)", s.rst);
	struct halfopen_counters c;
	halfopen_get_counters(ho, &c);
	CHECK(c.rows == 100 && c.summarised == 3100 - 100, "counters: %llu rows, "
	    "%llu summarised (100, 3000)", (unsigned long long)c.rows,
	    (unsigned long long)c.summarised);
	halfopen_free(ho);
	queue_destroy(&q);
}

/* An accept is the 4-tuple's for a time only: a connect from port X at t
 * does not hide a half-open SYN from port X an hour later; an accept
 * after the SYN still hides it (test_verdicts). And a new sequence number on a pending
 * 4-tuple settles the old handshake: 10 unanswered SYNs with 10 ISNs on
 * one 4-tuple are 10 handshakes, plus one settled by a RST. */
static void test_stale_accept_and_new_isn(void)
{
	struct queue q;
	struct handoff out = {.queue = &q};
	struct addr listen, acc;
	char err[256];
	struct ho_seen s;

	addr_parse("127.0.0.1:8080", &listen);
	queue_init(&q, 100000, 64 << 20);
	struct halfopen *ho = halfopen_new(&listen, 1, &out, 1000, 1000000, 5000, err,
	    sizeof(err));
	CHECK(ho != NULL, "halfopen_new: %s", err);
	if (!ho)
		return;
	addr_parse("127.0.0.2:40100", &acc);
	halfopen_accepted(ho, &acc, 8080);   /* stamped now */
	uint64_t t0 = ho_now() + 3600 * NS;  /* an hour later */
	ho_send(ho, 0x7f000002, 40100, 0x02, 1, t0);
	/* the same, reset */
	addr_parse("127.0.0.2:40101", &acc);
	halfopen_accepted(ho, &acc, 8080);
	ho_send(ho, 0x7f000002, 40101, 0x02, 1, t0);
	ho_send(ho, 0x7f000002, 40101, 0x04, 2, t0);
	halfopen_tick(ho, t0 + 3 * NS);
	halfopen_tick(ho, t0 + 6 * NS);
	ho_take(&q, &s);
	CHECK(s.syn_only == 1 && s.rst == 1 && s.other == 0,
	    "an hour after an accept: %d syn_only, %d rst (1, 1)", s.syn_only, s.rst);

	/* 10 ISNs, no answer, on one 4-tuple; then an 11th reset */
	uint64_t t1 = ho_now();
	for (uint32_t i = 0; i < 10; i++)
		ho_send(ho, 0x7f000003, 40200, 0x02, 1000 * (i + 1), t1 + i * NS / 10);
	ho_send(ho, 0x7f000003, 40200, 0x02, 99999, t1 + NS);
	ho_send(ho, 0x7f000003, 40200, 0x04, 100000, t1 + NS);
	halfopen_tick(ho, t1 + 20 * NS);
	ho_take(&q, &s);
	CHECK(s.syn_only == 10 && s.rst == 1 && s.handshakes == 11,
	    "one 4-tuple, 11 ISNs: %d syn_only, %d rst, %llu handshakes (10, 1, 11)",
	    s.syn_only, s.rst, (unsigned long long)s.handshakes);
	halfopen_free(ho);
	queue_destroy(&q);
}

/* The way a cooked frame went: PACKET_OUTGOING (4) is the host's own,
 * ARPHRD_LOOPBACK (772) is loopback, else received. The host's own SYN to
 * a listened port elsewhere (a wildcard listener) makes no row, and the
 * traces keep a segment only when a listener is its end the way it went. */
static void test_direction(void)
{
	static const struct {
		int link;
		uint16_t pkttype, hatype;
		uint8_t way;
	} ways[] = {
		{DLT_LINUX_SLL, 0, 1, HALFOPEN_WAY_IN},
		{DLT_LINUX_SLL, 4, 1, HALFOPEN_WAY_OUT},
		{DLT_LINUX_SLL, 0, 772, HALFOPEN_WAY_LOOP},
		{DLT_LINUX_SLL2, 0, 1, HALFOPEN_WAY_IN},
		{DLT_LINUX_SLL2, 4, 1, HALFOPEN_WAY_OUT},
		{DLT_LINUX_SLL2, 0, 772, HALFOPEN_WAY_LOOP},
		{DLT_EN10MB, 4, 1, HALFOPEN_WAY_UNKNOWN},
	};
	uint8_t ip[64], f[128];
	struct halfopen_pkt p;
	size_t n = ho_ipv4(ip, 0x0a000001, 40000, 0x0a000002, 80, 0x02, 1, 1460);

	for (size_t i = 0; i < sizeof(ways) / sizeof(ways[0]); i++) {
		size_t fl = ho_frame(ways[i].link, ip, n, f, 0);
		if (ways[i].link == DLT_LINUX_SLL) {
			f[0] = (uint8_t)(ways[i].pkttype >> 8), f[1] = (uint8_t)ways[i].pkttype;
			f[2] = (uint8_t)(ways[i].hatype >> 8), f[3] = (uint8_t)ways[i].hatype;
		} else if (ways[i].link == DLT_LINUX_SLL2) {
			f[10] = (uint8_t)ways[i].pkttype;
			f[8] = (uint8_t)(ways[i].hatype >> 8), f[9] = (uint8_t)ways[i].hatype;
		}
		CHECK(halfopen_decode(ways[i].link, f, fl, &p) == 0 && p.way == ways[i].way,
		    "way %zu: %d, not %d", i, p.way, ways[i].way);
	}

	/* a wildcard listener on 80: the host (10.0.0.1) connects out to
	 * 10.0.0.2:80; a peer (10.0.0.3) connects in */
	struct addr l[2];
	addr_parse("0.0.0.0:80", &l[0]);
	addr_parse("[::1]:8080", &l[1]);
	struct {
		uint32_t src, dst;
		uint16_t sport, dport;
		uint8_t way;
		bool ours;
	} segs[] = {
		{0x0a000001, 0x0a000002, 40000, 80, HALFOPEN_WAY_OUT, false},  /* the host's SYN */
		{0x0a000002, 0x0a000001, 80, 40000, HALFOPEN_WAY_IN, false},   /* its answer */
		{0x0a000003, 0x0a000001, 50000, 80, HALFOPEN_WAY_IN, true},    /* a peer's SYN */
		{0x0a000001, 0x0a000003, 80, 50000, HALFOPEN_WAY_OUT, true},   /* our SYN-ACK */
		{0x7f000001, 0x7f000001, 80, 50000, HALFOPEN_WAY_LOOP, true},  /* loopback, ours */
		{0x7f000001, 0x7f000001, 50000, 80, HALFOPEN_WAY_LOOP, true},
		{0x7f000001, 0x7f000001, 50000, 81, HALFOPEN_WAY_LOOP, false},
		{0x0a000003, 0x0a000001, 50000, 81, HALFOPEN_WAY_IN, false},   /* another port */
	};
	for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
		n = ho_ipv4(ip, segs[i].src, segs[i].sport, segs[i].dst, segs[i].dport, 0x02, 1, 0);
		if (halfopen_decode(DLT_RAW, ip, n, &p) != 0)
			continue;
		p.way = segs[i].way;
		CHECK(halfopen_is_ours(l, 2, &p) == segs[i].ours, "segment %zu: ours %d", i,
		    !segs[i].ours);
	}

	/* the verdicts: the host's outgoing SYN to port 80 makes no row, an
	 * incoming one does */
	struct queue q;
	struct handoff out = {.queue = &q};
	char err[256];
	struct ho_seen s;
	queue_init(&q, 1000, 1 << 20);
	struct halfopen *ho = halfopen_new(l, 2, &out, 20, 600, 5000, err, sizeof(err));
	CHECK(ho != NULL, "halfopen_new: %s", err);
	if (!ho)
		return;
	uint64_t t0 = ho_now();
	struct timespec wall = {.tv_sec = 1800000000};
	for (int way = HALFOPEN_WAY_IN; way <= HALFOPEN_WAY_OUT; way++) {
		n = ho_ipv4(ip, way == HALFOPEN_WAY_OUT ? 0x0a000001 : 0x0a000003, 40000,
		    way == HALFOPEN_WAY_OUT ? 0x0a000002 : 0x0a000001, 80, 0x02, 1, 1460);
		size_t fl = ho_frame(DLT_LINUX_SLL, ip, n, f, 0);
		f[1] = way == HALFOPEN_WAY_OUT ? 4 : 0;
		if (halfopen_decode(DLT_LINUX_SLL, f, fl, &p) == 0)
			halfopen_packet(ho, &p, &wall, t0);
	}
	halfopen_tick(ho, t0 + 3 * NS);
	halfopen_tick(ho, t0 + 6 * NS);
	ho_take(&q, &s);
	CHECK(s.syn_only == 1 && s.rst + s.other == 0, "in and out: %d syn_only (1)", s.syn_only);
	halfopen_free(ho);
	queue_destroy(&q);
}

void test_halfopen(int *passed, int *failed)
{
	char err[512];

	ho_passed = passed;
	ho_failed = failed;
	CHECK(pcap_api_load(err, sizeof(err)) == 0, "libpcap: %s", err);
	if (!pcap_api_loaded())
		return;              /* the filter's tests would call NULL */
	test_decode_table();
	test_filter();
	test_verdicts();
	test_table_full();
	test_global_cap();
	test_stale_accept_and_new_isn();
	test_direction();
}
