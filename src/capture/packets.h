/* packets.h - the libpcap capture shared by the half-open handshakes and
 * the packet traces: opened as root (or with CAP_NET_RAW) after bind and
 * before the privilege drop, read by one thread of its own. */
#ifndef FLYPAPER_PACKETS_H
#define FLYPAPER_PACKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"
#include "halfopen.h"
#include "pcap_trace.h"

#define PACKETS_HEADER_SNAPLEN 256   /* link + IP + TCP headers, options included */
#define PACKETS_TICK_MS 1000         /* verdicts, stats and trace rotation */
#define PACKETS_DRAIN_QUIET_MS 150   /* at the stop: read until this long without a
                                      * packet (past the ring's 100 ms block timer) */
#define PACKETS_DRAIN_MAX_MS 500     /* ... or this long in all */
#define PACKETS_FILTER_MAX 8192      /* bytes of the BPF filter's text */

struct packets;

/* Opens the capture on cfg->pcap_iface with a cfg->pcap_buffer ring and
 * snaplen bytes a packet, filtered to the nlisten bound listeners addrs:
 * with all_segments every segment of their ports both ways (traces), else
 * only the SYNs and RSTs sent to them. Needs CAP_NET_RAW (root). Returns
 * it, or NULL with a message naming the problem in err. */
struct packets *packets_open(const struct config *cfg, const struct addr *addrs,
    int nlisten, bool all_segments, int snaplen, char *err, size_t errlen);

/* The capture's link type (DLT_*), for the trace files. */
int packets_linktype(const struct packets *p);

/* Writes into buf (PACKETS_FILTER_MAX) the filter packets_open would
 * compile, for the unit tests and the log. Returns 0, or -1 when it does
 * not fit. */
int packets_filter_text(const struct addr *addrs, int nlisten,
    bool all_segments, char *buf, size_t len);

/* For a start without root (systemd's AmbientCapabilities=CAP_NET_RAW):
 * gives up every capability after the capture is open, and checks that
 * an AF_PACKET socket can no longer be made. Returns 0, or -1 with err. */
int packets_drop_capabilities(char *err, size_t errlen);

/* Starts the capture thread: each packet goes to ho (when not NULL) and
 * to trace (when not NULL, and a listener is one end of it the way it
 * went: halfopen_is_ours); once a second the verdicts, the kernel's drop
 * count and the trace's rotation. Call after confinement. Returns 0 or
 * -1. */
int packets_start(struct packets *p, struct halfopen *ho, struct pcap_trace *trace);

/* Stops the thread (the half-open verdicts a RST settles and every
 * summary are recorded first), closes the capture and frees p. Sets
 * *dropped to the packets the kernel dropped (pcap_stats) and *failed to
 * whether the handle failed during the run (the capture then stopped).
 * NULL is allowed. */
void packets_close(struct packets *p, uint64_t *dropped, bool *failed);

#endif
