/* halfopen.h - handshakes that never reach accept(): SYNs the peer never
 * completed (syn_only) and SYN-ACKs it answered with a RST
 * (rst_after_synack), seen in captured packets and told apart from
 * accepted sessions by their 4-tuple, so nothing is counted twice. Past
 * --half-open-per-source rows per source and minute, or --half-open-rows
 * rows a minute in all, handshakes are counted into one summary row per
 * source, reason and minute. Every table
 * is allocated once, at its cap: memory stays flat under a SYN flood. */
#ifndef FLYPAPER_HALFOPEN_H
#define FLYPAPER_HALFOPEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "addr.h"
#include "config.h"
#include "frame.h"
#include "handoff.h"

#define HALFOPEN_PENDING_MAX 65536   /* SYNs waiting for a verdict */
#define HALFOPEN_SOURCES 4096        /* slots of the per-source minute table */
#define HALFOPEN_ACCEPTED (1u << 18) /* accepted flows remembered (16 bytes each) */
#define HALFOPEN_ACCEPTED_PROBE 32   /* slots an accepted flow may sit from its home */
#define HALFOPEN_ACCEPT_GRACE_MS 2000 /* SYN to the first look for its accept */
#define HALFOPEN_RST_GRACE_MS 1000   /* a RST waits this long for an accept to show */
#define HALFOPEN_ACCEPT_SLACK_MS 10000 /* an accept may be stamped this long before
                                        * its SYN is read (the capture's lag) */
#define HALFOPEN_LISTEN_MAX CONFIG_MAX_LISTEN

/* Which way a captured segment went, from the Linux cooked header
 * (LINUX_SLL, LINUX_SLL2: what --pcap-iface any gives). */
enum halfopen_way {
	HALFOPEN_WAY_UNKNOWN = FRAME_WAY_UNKNOWN,  /* no cooked header: any way */
	HALFOPEN_WAY_IN = FRAME_WAY_IN,            /* to this host */
	HALFOPEN_WAY_OUT = FRAME_WAY_OUT,          /* sent by this host (PACKET_OUTGOING) */
	HALFOPEN_WAY_LOOP = FRAME_WAY_LOOP,        /* on a loopback device: both ends */
};

/* What the decoder keeps of one captured TCP segment. */
struct halfopen_pkt {
	struct addr src, dst;        /* the sender and the receiver, with ports */
	uint8_t way;                 /* enum halfopen_way */
	uint8_t flags;               /* TCP flags byte (FIN 0x01 .. CWR 0x80) */
	uint32_t seq;
	const uint8_t *ip;           /* the IP header, inside the captured bytes */
	size_t iplen;                /* captured bytes from ip on (headers at least) */
};

#define HALFOPEN_TCP_FIN 0x01
#define HALFOPEN_TCP_SYN 0x02
#define HALFOPEN_TCP_RST 0x04
#define HALFOPEN_TCP_ACK 0x10

/* Decodes one captured frame of link type linktype (DLT_EN10MB,
 * DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW, DLT_IPV4, DLT_IPV6; bytes from
 * the peer: nothing is trusted). Returns 0 with out filled for a TCP
 * segment over IPv4 (not a later fragment) or IPv6 (TCP right after the
 * fixed header), whose IP and TCP headers were captured whole; -1 for
 * anything else. The headers are found by frame_parse (frame.h), the one
 * decoder the packet trace and `flypaper pcap` use too. */
int halfopen_decode(int linktype, const uint8_t *bytes, size_t caplen,
    struct halfopen_pkt *out);

/* Whether a (address and port) is one of the n listeners addrs: the same
 * port and family, and the same address unless the listener's is the
 * wildcard. */
bool halfopen_is_listener(const struct addr *addrs, int n, const struct addr *a);

/* Whether a decoded segment belongs in the packet traces: one end is a
 * listener the way it went, so the host's own connections to a listened
 * port elsewhere (a wildcard listener on 80, the host fetching a web page)
 * stay out. Sent by the host: its source is a listener; received: its
 * destination is; on loopback or with no cooked header: either. */
bool halfopen_is_ours(const struct addr *addrs, int n, const struct halfopen_pkt *pkt);

/* The counters of a run (runs table). */
struct halfopen_counters {
	uint64_t rows;               /* half-open rows of one handshake each */
	uint64_t summarised;         /* handshakes counted into summary rows */
	uint64_t untracked;          /* SYNs seen while the SYN table was full */
};

struct halfopen;

/* A new half-open tracker for the listeners addrs (nlisten of them): its
 * records go to *out (read at each push, so it may be filled in later),
 * per_source single rows per source and minute and rows_cap a minute in
 * all (the rest go into summary rows), wait_ms from a SYN to its syn_only
 * verdict. Allocates every table at its cap. Returns NULL with err on
 * failure. */
struct halfopen *halfopen_new(const struct addr *addrs, int nlisten,
    const struct handoff *out, int per_source, int rows_cap, uint64_t wait_ms,
    char *err, size_t errlen);

/* The bytes of every table halfopen_new allocates (all of them, at their
 * caps, whatever the traffic). */
size_t halfopen_table_bytes(void);

/* The wait for a syn_only verdict the kernel implies: its SYN-ACK retries
 * (/proc/sys/net/ipv4/tcp_synack_retries, 5 if unreadable) at a 1 s
 * initial timeout, doubling, plus 12 s. Read before confinement. */
uint64_t halfopen_kernel_wait_ms(void);

/* From a worker (any thread, cheap: one hash, one lock): the session from
 * src to local port dport was accepted (or refused after accept). */
void halfopen_accepted(struct halfopen *ho, const struct addr *src,
    uint16_t dport);

/* The capture thread: one decoded segment seen at wall (the capture's
 * time stamp) and now_ns (CLOCK_MONOTONIC). Only SYNs and RSTs to a
 * listener count, and none the host sent (HALFOPEN_WAY_OUT: its own
 * connections to a listened port elsewhere). */
void halfopen_packet(struct halfopen *ho, const struct halfopen_pkt *pkt,
    const struct timespec *wall, uint64_t now_ns);

/* The capture thread, about once a second: the verdicts due at now_ns,
 * and the summary rows of the minutes past. */
void halfopen_tick(struct halfopen *ho, uint64_t now_ns);

/* The capture thread, at shutdown: the verdicts a RST already settles,
 * and every summary. SYNs still waiting are not recorded (counted in the
 * log). */
void halfopen_flush(struct halfopen *ho, uint64_t now_ns);

/* The counters so far (any thread). */
void halfopen_get_counters(struct halfopen *ho, struct halfopen_counters *out);

/* With --pcap: each row names the trace file holding its first SYN
 * (record.pcap_file, pcap_trace_file_at). Call before the capture starts. */
struct pcap_trace;
void halfopen_set_trace(struct halfopen *ho, struct pcap_trace *trace);

/* Frees ho. NULL is allowed. */
void halfopen_free(struct halfopen *ho);

#endif
