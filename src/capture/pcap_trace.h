/* pcap_trace.h - the packet traces (--pcap DIR): the hook the capture
 * thread calls. Declared here as the issue-10 contract says; the pcap
 * part implements it (and its version of this header wins at merge). */
#ifndef FLYPAPER_PCAP_TRACE_H
#define FLYPAPER_PCAP_TRACE_H

#include <pcap/pcap.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct pcap_trace;

/* Opened before confinement (the folder is checked like the state folder); NULL + err on failure. */
struct pcap_trace *pcap_trace_open(const struct config *cfg, int linktype, int snaplen, char *err, size_t errlen);
/* Every captured packet, from the capture thread (the only caller, so no lock). */
void pcap_trace_packet(struct pcap_trace *t, const struct pcap_pkthdr *h, const unsigned char *bytes);
/* Once a second from the capture thread: flush, rotate by size. */
void pcap_trace_tick(struct pcap_trace *t);
/* The current file's bare name, for any thread (session_record fills record.pcap_file); "" when none. Copies into buf (PCAP_TRACE_NAME_MAX). */
void pcap_trace_current(struct pcap_trace *t, char *buf);
void pcap_trace_close(struct pcap_trace *t, uint64_t *lost, uint64_t *rotated);

#endif
