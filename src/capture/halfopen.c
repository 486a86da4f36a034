/* halfopen.c - half-open handshakes: the SYN table, the accepted set, the
 * verdicts and the per-source summaries (halfopen.h). Everything but the
 * accepted set belongs to the capture thread and takes no lock. */
#include "halfopen.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "frame.h"
#include "list.h"
#include "log.h"
#include "pcap_trace.h"
#include "record.h"
#include "synsig.h"

#define HALFOPEN_NIL UINT32_MAX
#define HALFOPEN_BUCKETS (2 * HALFOPEN_PENDING_MAX)  /* hash chains of the SYN table */
#define HALFOPEN_SOURCES_USED (HALFOPEN_SOURCES * 3 / 4)
#define HALFOPEN_MINUTE_NS (60ULL * 1000000000ULL)
#define HALFOPEN_MS 1000000ULL

/* ---- decoding ---------------------------------------------------------- */

static uint32_t halfopen_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void halfopen_set_addr(struct addr *a, int family, const uint8_t *ip,
    uint16_t port)
{
	memset(a, 0, sizeof(*a));
	if (family == 4) {
		a->u.v4.sin_family = AF_INET;
		memcpy(&a->u.v4.sin_addr, ip, 4);
		a->u.v4.sin_port = htons(port);
	} else {
		a->u.v6.sin6_family = AF_INET6;
		memcpy(&a->u.v6.sin6_addr, ip, 16);
		a->u.v6.sin6_port = htons(port);
	}
}

int halfopen_decode(int linktype, const uint8_t *bytes, size_t caplen,
    struct halfopen_pkt *out)
{
	struct frame f;

	if (frame_parse(linktype, bytes, caplen, &f) < 0)
		return -1;
	/* IPv6: TCP right after the fixed header, as the capture filter
	 * passes (it reads the flags at a fixed offset) */
	if (f.family == 6 && bytes[f.ip + 6] != 6)
		return -1;
	halfopen_set_addr(&out->src, f.family, f.src, f.sport);
	halfopen_set_addr(&out->dst, f.family, f.dst, f.dport);
	out->way = f.way;
	out->flags = f.flags;
	out->seq = f.seq;
	out->ip = bytes + f.ip;
	out->iplen = caplen - f.ip;
	return 0;
}

bool halfopen_is_listener(const struct addr *addrs, int n, const struct addr *a)
{
	uint8_t want[ADDR_IP_MAX], got[ADDR_IP_MAX];
	size_t len = addr_ip_bytes(a, got);

	for (int i = 0; i < n; i++) {
		/* [::] is bound IPV6_V6ONLY: each listener takes its own family */
		if (addr_port(&addrs[i]) != addr_port(a) ||
		    addrs[i].u.sa.sa_family != a->u.sa.sa_family)
			continue;
		if (addr_is_wildcard(&addrs[i]))
			return true;
		if (addr_ip_bytes(&addrs[i], want) == len && memcmp(want, got, len) == 0)
			return true;
	}
	return false;
}

bool halfopen_is_ours(const struct addr *addrs, int n, const struct halfopen_pkt *pkt)
{
	switch (pkt->way) {
	case HALFOPEN_WAY_IN:
		return halfopen_is_listener(addrs, n, &pkt->dst);
	case HALFOPEN_WAY_OUT:
		return halfopen_is_listener(addrs, n, &pkt->src);
	default:
		return halfopen_is_listener(addrs, n, &pkt->dst) ||
		    halfopen_is_listener(addrs, n, &pkt->src);
	}
}

/* ---- flows and hashing ------------------------------------------------- */

/* A 4-tuple, in a form to compare and hash: IPv4 (and v4-mapped) in the
 * first 4 bytes of each address with len 4. */
struct halfopen_flow {
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint8_t len;                 /* 4 or 16 */
	uint8_t pad[3];
};

static void halfopen_flow_of(const struct halfopen_pkt *p, struct halfopen_flow *f)
{
	memset(f, 0, sizeof(*f));
	f->len = (uint8_t)addr_ip_bytes(&p->src, f->src);
	addr_ip_bytes(&p->dst, f->dst);
	f->sport = addr_port(&p->src);
	f->dport = addr_port(&p->dst);
}

static uint64_t halfopen_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* A keyed hash of n bytes (n a multiple of 8 is not needed). */
static uint64_t halfopen_hash(uint64_t seed, const void *data, size_t n)
{
	const uint8_t *p = data;
	uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL);

	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		h = halfopen_mix(h ^ v) + 0x9e3779b97f4a7c15ULL;
		p += 8;
		n -= 8;
	}
	if (n) {
		uint64_t v = 0;
		memcpy(&v, p, n);
		h = halfopen_mix(h ^ v ^ 0xa5);
	}
	return halfopen_mix(h);
}

/* ---- the tables --------------------------------------------------------- */

enum halfopen_state {
	ENTRY_FREE,
	ENTRY_NEW,                   /* SYN seen, not yet looked up as accepted */
	ENTRY_WAITING,               /* not accepted at the first look */
	ENTRY_RESET,                 /* the peer sent a RST */
};

/* One SYN waiting for a verdict. */
struct halfopen_entry {
	struct list_link link;       /* in the list of its state, oldest first */
	uint32_t next;               /* hash chain; free list when free */
	uint8_t state;
	uint8_t late_rst;            /* a RST with ACK came: decided at the wait, not the grace */
	uint16_t retries;            /* the same SYN again */
	uint32_t seq;
	struct halfopen_flow flow;
	uint64_t syn_ns, rst_ns;     /* CLOCK_MONOTONIC */
	struct timespec syn_wall, rst_wall;
	struct addr src, dst;
	struct record_syn syn;       /* the first SYN, parsed */
};

/* What a summary row says of one source, reason and minute. */
struct halfopen_summary {
	uint32_t n;                  /* handshakes; 0: no row */
	struct timespec first, last; /* their SYNs */
	struct addr src, dst;        /* the first's */
	struct record_syn syn;       /* the first's SYN */
};

enum { SUM_SYN_ONLY, SUM_RST, SUM_KINDS };

/* One source's minute. */
struct halfopen_source {
	uint64_t key;                /* IPv4 address or IPv6 /64 */
	uint32_t family;             /* 0: an empty slot */
	uint32_t rows;               /* single rows this minute */
	struct halfopen_summary sum[SUM_KINDS];
};

/* An accepted flow: a keyed hash of (source, source port, local port). */
struct halfopen_accept {
	uint64_t hash;               /* 0: empty */
	uint64_t at_ns;
};

struct halfopen {
	const struct handoff *out;
	uint64_t seed;
	uint64_t wait_ns;            /* SYN to syn_only */
	uint32_t per_source;
	uint32_t rows_cap;           /* single rows a minute, all sources together */
	uint16_t ports[HALFOPEN_LISTEN_MAX];
	struct addr listen[HALFOPEN_LISTEN_MAX];
	bool wildcard[HALFOPEN_LISTEN_MAX];
	int nlisten;

	/* SYN table */
	struct halfopen_entry *entries;
	uint32_t *heads;             /* HALFOPEN_BUCKETS chains */
	uint32_t free_head;
	struct list_link fresh, waiting, reset;

	/* per-source minutes */
	uint64_t start_ns, minute;
	uint32_t sources_used;
	uint32_t minute_rows;        /* single rows this minute, all sources */
	struct halfopen_source *sources;
	struct halfopen_source overflow;

	/* accepted set (the only part the workers touch) */
	pthread_mutex_t lock;
	uint64_t keep_ns;            /* an accepted flow is remembered this long at least */
	struct halfopen_accept *accepted;

	atomic_uint_fast64_t rows, summarised, untracked;
	uint64_t unsettled_logged;
	struct pcap_trace *trace;    /* --pcap: rows name their file; NULL none */
};

struct halfopen *halfopen_new(const struct addr *addrs, int nlisten,
    const struct handoff *out, int per_source, int rows_cap, uint64_t wait_ms,
    char *err, size_t errlen)
{
	struct halfopen *ho = calloc(1, sizeof(*ho));

	if (!ho)
		goto oom;
	ho->out = out;
	ho->per_source = (uint32_t)per_source;
	ho->rows_cap = (uint32_t)rows_cap;
	ho->wait_ns = wait_ms * HALFOPEN_MS;
	ho->keep_ns = ho->wait_ns + 60ULL * 1000 * HALFOPEN_MS;
	ho->nlisten = nlisten < HALFOPEN_LISTEN_MAX ? nlisten : HALFOPEN_LISTEN_MAX;
	for (int i = 0; i < ho->nlisten; i++) {
		ho->listen[i] = addrs[i];
		ho->ports[i] = addr_port(&addrs[i]);
		ho->wildcard[i] = addr_is_wildcard(&addrs[i]);
	}
	if (getrandom(&ho->seed, sizeof(ho->seed), 0) != sizeof(ho->seed))
		ho->seed = (uint64_t)(uintptr_t)ho ^ 0x5bd1e995;
	ho->entries = calloc(HALFOPEN_PENDING_MAX, sizeof(*ho->entries));
	ho->heads = malloc(HALFOPEN_BUCKETS * sizeof(*ho->heads));
	ho->sources = calloc(HALFOPEN_SOURCES, sizeof(*ho->sources));
	ho->accepted = calloc(HALFOPEN_ACCEPTED, sizeof(*ho->accepted));
	if (!ho->entries || !ho->heads || !ho->sources || !ho->accepted)
		goto oom;
	if (pthread_mutex_init(&ho->lock, NULL) != 0)
		goto oom;
	memset(ho->heads, 0xff, HALFOPEN_BUCKETS * sizeof(*ho->heads));
	for (uint32_t i = 0; i < HALFOPEN_PENDING_MAX; i++) {
		list_init(&ho->entries[i].link);
		ho->entries[i].next = i + 1 < HALFOPEN_PENDING_MAX ? i + 1 : HALFOPEN_NIL;
	}
	ho->free_head = 0;
	list_init(&ho->fresh);
	list_init(&ho->waiting);
	list_init(&ho->reset);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ho->start_ns = (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
	return ho;
oom:
	if (ho) {
		free(ho->entries);
		free(ho->heads);
		free(ho->sources);
		free(ho->accepted);
		free(ho);
	}
	snprintf(err, errlen, "half-open: out of memory for its tables");
	return NULL;
}

size_t halfopen_table_bytes(void)
{
	return sizeof(struct halfopen) +
	    HALFOPEN_PENDING_MAX * sizeof(struct halfopen_entry) +
	    HALFOPEN_BUCKETS * sizeof(uint32_t) +
	    HALFOPEN_SOURCES * sizeof(struct halfopen_source) +
	    HALFOPEN_ACCEPTED * sizeof(struct halfopen_accept);
}

void halfopen_free(struct halfopen *ho)
{
	if (!ho)
		return;
	pthread_mutex_destroy(&ho->lock);
	free(ho->entries);
	free(ho->heads);
	free(ho->sources);
	free(ho->accepted);
	free(ho);
}

uint64_t halfopen_kernel_wait_ms(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_synack_retries", "r");
	int retries = 5;

	if (f) {
		if (fscanf(f, "%d", &retries) != 1 || retries < 0 || retries > 20)
			retries = 5;
		fclose(f);
	}
	/* 1 s, then doubling: 1 + 2 + ... + 2^retries seconds */
	return (((1ULL << (retries + 1)) - 1) + 12) * 1000ULL;
}

void halfopen_get_counters(struct halfopen *ho, struct halfopen_counters *out)
{
	out->rows = atomic_load(&ho->rows);
	out->summarised = atomic_load(&ho->summarised);
	out->untracked = atomic_load(&ho->untracked);
}

/* ---- the accepted set ---------------------------------------------------
 * Open addressing without deletion: a flow sits within
 * HALFOPEN_ACCEPTED_PROBE slots of its home; an insert takes an empty or
 * expired slot there, or else the oldest, so a lookup never probes further
 * and an entry lives at least until that many newer flows hashed near it.
 * At 2^18 slots that is minutes at ordinary rates and some seconds at
 * tens of thousands of accepts a second, longer than the
 * HALFOPEN_ACCEPT_GRACE_MS that most verdicts need it. */

static uint64_t halfopen_accept_key(const struct halfopen *ho,
    const uint8_t *ip, size_t iplen, uint16_t sport, uint16_t dport)
{
	uint8_t k[20] = {0};
	uint64_t h;

	memcpy(k, ip, iplen);
	k[16] = (uint8_t)(sport >> 8);
	k[17] = (uint8_t)sport;
	k[18] = (uint8_t)(dport >> 8);
	k[19] = (uint8_t)dport;
	h = halfopen_hash(ho->seed ^ 0xacce, k, sizeof(k));
	return h ? h : 1;
}

static uint64_t halfopen_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void halfopen_accepted(struct halfopen *ho, const struct addr *src,
    uint16_t dport)
{
	uint8_t ip[ADDR_IP_MAX];
	size_t n = addr_ip_bytes(src, ip);
	uint64_t h = halfopen_accept_key(ho, ip, n, addr_port(src), dport);
	uint64_t now = halfopen_now_ns();
	size_t mask = HALFOPEN_ACCEPTED - 1, home = (size_t)h & mask, pick = home;

	pthread_mutex_lock(&ho->lock);
	for (size_t i = 0; i < HALFOPEN_ACCEPTED_PROBE; i++) {
		struct halfopen_accept *a = &ho->accepted[(home + i) & mask];
		if (!a->hash || a->hash == h || now - a->at_ns > ho->keep_ns) {
			pick = (home + i) & mask;
			break;
		}
		if (a->at_ns < ho->accepted[pick].at_ns)
			pick = (home + i) & mask;
	}
	ho->accepted[pick] = (struct halfopen_accept){.hash = h, .at_ns = now};
	pthread_mutex_unlock(&ho->lock);
}

/* Whether the handshake whose SYN was read at syn_ns was accepted, asked
 * at now_ns. The set is keyed by the 4-tuple only, so an accept counts
 * only when it is not older than that SYN (less the capture's lag,
 * HALFOPEN_ACCEPT_SLACK_MS) and still within keep_ns: one full connect
 * from a port must not hide every later scan from that port for days. */
static bool halfopen_was_accepted(struct halfopen *ho, const struct halfopen_flow *f,
    uint64_t syn_ns, uint64_t now_ns)
{
	uint64_t h = halfopen_accept_key(ho, f->src, f->len, f->sport, f->dport);
	uint64_t slack = HALFOPEN_ACCEPT_SLACK_MS * HALFOPEN_MS;
	size_t mask = HALFOPEN_ACCEPTED - 1, home = (size_t)h & mask;
	bool found = false;

	pthread_mutex_lock(&ho->lock);
	for (size_t i = 0; i < HALFOPEN_ACCEPTED_PROBE && !found; i++) {
		const struct halfopen_accept *a = &ho->accepted[(home + i) & mask];
		found = a->hash == h && a->at_ns + slack >= syn_ns &&
		    (now_ns <= a->at_ns || now_ns - a->at_ns <= ho->keep_ns);
	}
	pthread_mutex_unlock(&ho->lock);
	return found;
}

/* The same, for a tracked SYN. */
static bool halfopen_entry_accepted(struct halfopen *ho, const struct halfopen_entry *e,
    uint64_t now_ns)
{
	return halfopen_was_accepted(ho, &e->flow, e->syn_ns, now_ns);
}

/* ---- rows and summaries -------------------------------------------------- */

static void halfopen_push(struct halfopen *ho, enum close_reason reason,
    const struct addr *src, const struct addr *dst, const struct timespec *start,
    const struct timespec *end, uint32_t handshakes, enum record_summary summary,
    uint16_t retries, const struct record_syn *syn)
{
	struct record *r = record_new(RECORD_CLOSED, MODE_SERVE, record_new_id());

	if (!r)
		return;
	r->src = *src;
	r->dst = *dst;
	r->start_wall = *start;
	r->end_wall = *end;
	int64_t ms = (int64_t)(end->tv_sec - start->tv_sec) * 1000 +
	    (end->tv_nsec - start->tv_nsec) / 1000000;
	r->duration_ms = ms > 0 ? ms : 0;
	r->reason = reason;
	r->closed_by_peer = reason == CLOSE_RST_AFTER_SYNACK;
	r->handshakes = handshakes;
	r->summary = summary;
	r->syn_retries = retries;
	r->syn = *syn;
	pcap_trace_file_at(ho->trace, start, r->pcap_file);
	queue_push(ho->out->queue, r);
}

void halfopen_set_trace(struct halfopen *ho, struct pcap_trace *trace)
{
	ho->trace = trace;
}

static void halfopen_source_key(const struct addr *a, uint64_t *key, uint32_t *family)
{
	uint8_t k[ADDR_KEY_LEN];

	addr_source_key(a, k);
	if (k[10] == 0xff && k[11] == 0xff && !memcmp(k, "\0\0\0\0\0\0\0\0\0\0", 10)) {
		*key = halfopen_be32(k + 12);
		*family = AF_INET;
	} else {
		uint64_t v = 0;
		for (int i = 0; i < 8; i++)
			v = v << 8 | k[i];
		*key = v;
		*family = AF_INET6;
	}
}

/* This minute's bucket of src's source, or the overflow bucket when the
 * table is at its cap. */
static struct halfopen_source *halfopen_source_of(struct halfopen *ho,
    const struct addr *src)
{
	uint64_t key;
	uint32_t family;

	halfopen_source_key(src, &key, &family);
	size_t mask = HALFOPEN_SOURCES - 1;
	size_t i = (size_t)halfopen_hash(ho->seed ^ 0x50c, &key, sizeof(key)) & mask;
	while (ho->sources[i].family &&
	    (ho->sources[i].key != key || ho->sources[i].family != family))
		i = (i + 1) & mask;
	struct halfopen_source *s = &ho->sources[i];
	if (s->family)
		return s;
	if (ho->sources_used >= HALFOPEN_SOURCES_USED)
		return &ho->overflow;
	s->key = key;
	s->family = family;
	ho->sources_used++;
	return s;
}

static void halfopen_summary_rows(struct halfopen *ho, struct halfopen_source *s,
    enum record_summary kind)
{
	for (int k = 0; k < SUM_KINDS; k++) {
		struct halfopen_summary *m = &s->sum[k];
		if (!m->n)
			continue;
		struct addr src = m->src;
		if (kind == SUMMARY_OVERFLOW) {
			/* many sources: the row names none of them */
			int family = src.u.sa.sa_family;
			memset(&src, 0, sizeof(src));
			src.u.sa.sa_family = (sa_family_t)family;
		}
		halfopen_push(ho, k == SUM_RST ? CLOSE_RST_AFTER_SYNACK : CLOSE_SYN_ONLY,
		    &src, &m->dst, &m->first, &m->last, m->n, kind, 0, &m->syn);
	}
}

/* Emits the summary rows of the minute that ended and empties the table. */
static void halfopen_end_minute(struct halfopen *ho)
{
	for (size_t i = 0; i < HALFOPEN_SOURCES; i++)
		if (ho->sources[i].family)
			halfopen_summary_rows(ho, &ho->sources[i], SUMMARY_SOURCE_MINUTE);
	halfopen_summary_rows(ho, &ho->overflow, SUMMARY_OVERFLOW);
	memset(ho->sources, 0, HALFOPEN_SOURCES * sizeof(*ho->sources));
	memset(&ho->overflow, 0, sizeof(ho->overflow));
	ho->sources_used = 0;
	ho->minute_rows = 0;
}

/* A half-open handshake decided: its own row while its source is under
 * the per-source rows of this minute and all sources under --half-open-rows
 * this minute, else counted into its source's summary (so thousands of
 * spoofed sources make at most rows_cap single rows a minute, and the
 * summary rows, one per source slot and reason, are bounded by the table). */
static void halfopen_decide(struct halfopen *ho, const struct halfopen_entry *e,
    enum close_reason reason, const struct timespec *end)
{
	struct halfopen_source *s = halfopen_source_of(ho, &e->src);

	if (s != &ho->overflow && s->rows < ho->per_source &&
	    ho->minute_rows < ho->rows_cap) {
		s->rows++;
		ho->minute_rows++;
		atomic_fetch_add(&ho->rows, 1);
		halfopen_push(ho, reason, &e->src, &e->dst, &e->syn_wall, end, 0,
		    SUMMARY_NONE, e->retries, &e->syn);
		return;
	}
	struct halfopen_summary *m = &s->sum[reason == CLOSE_RST_AFTER_SYNACK ? SUM_RST : SUM_SYN_ONLY];
	if (m->n == 0) {
		m->first = e->syn_wall;
		m->src = e->src;
		m->dst = e->dst;
		m->syn = e->syn;
	}
	m->n++;
	m->last = e->syn_wall;
	atomic_fetch_add(&ho->summarised, 1);
}

/* ---- the SYN table --------------------------------------------------------- */

static uint32_t halfopen_bucket(const struct halfopen *ho, const struct halfopen_flow *f)
{
	return (uint32_t)(halfopen_hash(ho->seed, f, sizeof(*f)) % HALFOPEN_BUCKETS);
}

static struct halfopen_entry *halfopen_find(struct halfopen *ho,
    const struct halfopen_flow *f)
{
	for (uint32_t i = ho->heads[halfopen_bucket(ho, f)]; i != HALFOPEN_NIL;
	    i = ho->entries[i].next)
		if (memcmp(&ho->entries[i].flow, f, sizeof(*f)) == 0)
			return &ho->entries[i];
	return NULL;
}

static void halfopen_release(struct halfopen *ho, struct halfopen_entry *e)
{
	uint32_t idx = (uint32_t)(e - ho->entries);
	uint32_t *p = &ho->heads[halfopen_bucket(ho, &e->flow)];

	while (*p != idx && *p != HALFOPEN_NIL)
		p = &ho->entries[*p].next;
	if (*p == idx)
		*p = e->next;
	list_remove(&e->link);
	e->state = ENTRY_FREE;
	e->next = ho->free_head;
	ho->free_head = idx;
}

/* ts + ns */
static struct timespec halfopen_later(struct timespec ts, uint64_t ns)
{
	ts.tv_sec += (time_t)(ns / 1000000000ULL);
	ts.tv_nsec += (long)(ns % 1000000000ULL);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* Decides e as it stands at now_ns, unless it was accepted: a RST
 * (bare, or with ACK) makes it rst_after_synack, else syn_only ending now. */
static void halfopen_settle(struct halfopen *ho, struct halfopen_entry *e,
    uint64_t now_ns)
{
	if (halfopen_entry_accepted(ho, e, now_ns))
		return;
	if (e->state == ENTRY_RESET || e->late_rst) {
		halfopen_decide(ho, e, CLOSE_RST_AFTER_SYNACK, &e->rst_wall);
	} else {
		struct timespec end = halfopen_later(e->syn_wall,
		    now_ns > e->syn_ns ? now_ns - e->syn_ns : 0);
		halfopen_decide(ho, e, CLOSE_SYN_ONLY, &end);
	}
}

/* The table is full: decides one entry early to make room, the oldest of
 * the reset ones (their verdict is known), else the oldest of those
 * already looked up once and not accepted, as syn_only now (so a flood
 * from spoofed sources, which never RST, is still counted, at the cost of
 * a shorter wait for those). Entries younger than the first look are
 * never taken. False when there is none to take. */
static bool halfopen_evict(struct halfopen *ho, uint64_t now_ns)
{
	struct halfopen_entry *e;

	if (!list_empty(&ho->reset))
		e = list_entry(ho->reset.next, struct halfopen_entry, link);
	else if (!list_empty(&ho->waiting))
		e = list_entry(ho->waiting.next, struct halfopen_entry, link);
	else
		return false;
	halfopen_settle(ho, e, now_ns);
	halfopen_release(ho, e);
	return true;
}

/* The listener pkt is for (it is inbound), or -1. */
static int halfopen_listener(const struct halfopen *ho, const struct halfopen_pkt *pkt)
{
	uint16_t port = addr_port(&pkt->dst);
	uint8_t want[ADDR_IP_MAX], got[ADDR_IP_MAX];

	for (int i = 0; i < ho->nlisten; i++) {
		/* [::] is bound IPV6_V6ONLY: each listener takes its own family */
		if (ho->ports[i] != port ||
		    ho->listen[i].u.sa.sa_family != pkt->dst.u.sa.sa_family)
			continue;
		if (ho->wildcard[i])
			return i;
		size_t n = addr_ip_bytes(&ho->listen[i], want);
		if (addr_ip_bytes(&pkt->dst, got) == n && memcmp(want, got, n) == 0)
			return i;
	}
	return -1;
}

static void halfopen_syn(struct halfopen *ho, const struct halfopen_pkt *pkt,
    const struct halfopen_flow *f, const struct timespec *wall, uint64_t now_ns)
{
	struct halfopen_entry *e = halfopen_find(ho, f);

	if (e) {
		if (e->seq == pkt->seq && e->state != ENTRY_RESET) {
			if (e->retries < UINT16_MAX)
				e->retries++;
			return;
		}
		/* A new handshake on the same 4-tuple (a new sequence number,
		 * or a SYN after a RST): the old one is settled as it stands,
		 * whatever its state, so a scanner that reuses one source port
		 * is counted once a handshake, not once in all. */
		halfopen_settle(ho, e, now_ns);
		halfopen_release(ho, e);
	}
	if (ho->free_head == HALFOPEN_NIL && !halfopen_evict(ho, now_ns)) {
		atomic_fetch_add(&ho->untracked, 1);
		return;
	}
	uint32_t idx = ho->free_head;
	e = &ho->entries[idx];
	ho->free_head = e->next;
	uint32_t b = halfopen_bucket(ho, f);
	e->flow = *f;
	e->next = ho->heads[b];
	ho->heads[b] = idx;
	e->state = ENTRY_NEW;
	e->late_rst = 0;
	e->retries = 0;
	e->seq = pkt->seq;
	e->syn_ns = now_ns;
	e->syn_wall = *wall;
	e->src = pkt->src;
	e->dst = pkt->dst;
	/* The fingerprint, as for an accepted session's saved SYN: a
	 * malformed one says so (present SYN_MALFORMED). */
	synsig_parse(pkt->ip, pkt->iplen, &e->syn);
	list_append(&ho->fresh, &e->link);
}

void halfopen_packet(struct halfopen *ho, const struct halfopen_pkt *pkt,
    const struct timespec *wall, uint64_t now_ns)
{
	struct halfopen_flow f;
	uint8_t fl = pkt->flags;

	/* The host's own SYNs and RSTs (its connections out to a listened
	 * port elsewhere) are not handshakes made to us. */
	if (pkt->way == HALFOPEN_WAY_OUT)
		return;
	if (!(fl & (HALFOPEN_TCP_SYN | HALFOPEN_TCP_RST)) || halfopen_listener(ho, pkt) < 0)
		return;
	halfopen_flow_of(pkt, &f);
	if ((fl & HALFOPEN_TCP_SYN) && !(fl & (HALFOPEN_TCP_ACK | HALFOPEN_TCP_RST))) {
		halfopen_syn(ho, pkt, &f, wall, now_ns);
		return;
	}
	if (!(fl & HALFOPEN_TCP_RST))
		return;
	struct halfopen_entry *e = halfopen_find(ho, &f);
	if (!e || e->state == ENTRY_RESET)
		return;
	/* A stack answers a SYN-ACK it has no socket for with a bare RST
	 * (its sequence number taken from our ACK field): such a handshake
	 * never completed, so it cannot be waiting in the listen backlog.
	 * A RST with ACK is what an established connection's abort sends:
	 * its 4-tuple may yet be accepted (accepting pauses while the writer
	 * lags), so it waits for the full --half-open-wait. */
	if (fl & HALFOPEN_TCP_ACK) {
		if (!e->late_rst) {
			e->late_rst = 1;
			e->rst_ns = now_ns;
			e->rst_wall = *wall;
		}
		return;
	}
	e->state = ENTRY_RESET;
	e->rst_ns = now_ns;
	e->rst_wall = *wall;
	list_remove(&e->link);
	list_append(&ho->reset, &e->link);
}

void halfopen_tick(struct halfopen *ho, uint64_t now_ns)
{
	uint64_t grace = HALFOPEN_ACCEPT_GRACE_MS * HALFOPEN_MS;
	uint64_t rst_grace = HALFOPEN_RST_GRACE_MS * HALFOPEN_MS;

	/* Reset by the peer: rst_after_synack unless it was accepted. */
	while (!list_empty(&ho->reset)) {
		struct halfopen_entry *e = list_entry(ho->reset.next, struct halfopen_entry, link);
		if (now_ns - e->rst_ns < rst_grace || now_ns - e->syn_ns < grace)
			break;
		if (!halfopen_entry_accepted(ho, e, now_ns))
			halfopen_decide(ho, e, CLOSE_RST_AFTER_SYNACK, &e->rst_wall);
		halfopen_release(ho, e);
	}
	/* The first look: most SYNs were accepted, and leave here. */
	while (!list_empty(&ho->fresh)) {
		struct halfopen_entry *e = list_entry(ho->fresh.next, struct halfopen_entry, link);
		if (now_ns - e->syn_ns < grace)
			break;
		if (halfopen_entry_accepted(ho, e, now_ns)) {
			halfopen_release(ho, e);
			continue;
		}
		e->state = ENTRY_WAITING;
		list_remove(&e->link);
		list_append(&ho->waiting, &e->link);
	}
	/* No RST and no accept within the wait: syn_only (a RST with ACK
	 * and still no accept: rst_after_synack). */
	while (!list_empty(&ho->waiting)) {
		struct halfopen_entry *e = list_entry(ho->waiting.next, struct halfopen_entry, link);
		if (now_ns - e->syn_ns < ho->wait_ns)
			break;
		if (halfopen_entry_accepted(ho, e, now_ns)) {
			/* accepted: no row */
		} else if (e->late_rst) {
			halfopen_decide(ho, e, CLOSE_RST_AFTER_SYNACK, &e->rst_wall);
		} else {
			struct timespec end = halfopen_later(e->syn_wall, ho->wait_ns);
			halfopen_decide(ho, e, CLOSE_SYN_ONLY, &end);
		}
		halfopen_release(ho, e);
	}
	uint64_t minute = (now_ns - ho->start_ns) / HALFOPEN_MINUTE_NS;
	if (minute != ho->minute) {
		halfopen_end_minute(ho);
		ho->minute = minute;
	}
}

void halfopen_flush(struct halfopen *ho, uint64_t now_ns)
{
	size_t unsettled = 0;

	while (!list_empty(&ho->reset)) {
		struct halfopen_entry *e = list_entry(ho->reset.next, struct halfopen_entry, link);
		if (!halfopen_entry_accepted(ho, e, now_ns))
			halfopen_decide(ho, e, CLOSE_RST_AFTER_SYNACK, &e->rst_wall);
		halfopen_release(ho, e);
	}
	for (struct list_link *l = ho->fresh.next; l != &ho->fresh; l = l->next)
		unsettled++;
	for (struct list_link *l = ho->waiting.next; l != &ho->waiting; l = l->next)
		unsettled++;
	halfopen_end_minute(ho);
	if (unsettled)
		log_info("half-open: %zu SYN(s) still waiting for a verdict at exit "
		    "(not recorded)", unsettled);
}
