/* pcap_trace_stub.c - PLACEHOLDER until the pcap part (r10-pcap) is
 * merged: that branch deletes this file and brings pcap_trace.c. No
 * tracing exists here: pcap_trace_open refuses, so the capture thread
 * never calls the rest (it calls them only with a trace open). */
#include "pcap_trace.h"

#include <stdio.h>

struct pcap_trace *pcap_trace_open(const struct config *cfg, int linktype, int snaplen, char *err, size_t errlen)
{
	(void)cfg;
	(void)linktype;
	(void)snaplen;
	snprintf(err, errlen, "pcap: packet traces are not built in");
	return NULL;
}

void pcap_trace_packet(struct pcap_trace *t, const struct pcap_pkthdr *h, const unsigned char *bytes)
{
	(void)t;
	(void)h;
	(void)bytes;
}

void pcap_trace_tick(struct pcap_trace *t)
{
	(void)t;
}

void pcap_trace_current(struct pcap_trace *t, char *buf)
{
	(void)t;
	buf[0] = '\0';
}

void pcap_trace_close(struct pcap_trace *t, uint64_t *lost, uint64_t *rotated)
{
	(void)t;
	*lost = *rotated = 0;
}
