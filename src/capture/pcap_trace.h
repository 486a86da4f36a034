/* pcap_trace.h - the packet trace (--pcap DIR): every packet the capture
 * thread sees, headers whole and payload cut to --pcap-snaplen, in pcap
 * files that rotate past --pcap-file-size, at most --pcap-files of them. */
#ifndef FLYPAPER_PCAP_TRACE_H
#define FLYPAPER_PCAP_TRACE_H

#include "pcap_api.h"            /* libpcap through dlopen */
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "pcapname.h"

#define PCAP_TRACE_NAME_MAX PCAPNAME_MAX  /* a trace file's bare name and its NUL */
#define PCAP_TRACE_RETRY_S 10        /* after a write error, try a new file this often */

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

/* For any thread: the bare name of the file that was being written at
 * when (CLOCK_REALTIME), i.e. the one holding a session's first packets,
 * into buf (PCAP_TRACE_NAME_MAX); "" when t is NULL, no file covered that
 * time or it was rotated away. */
void pcap_trace_file_at(struct pcap_trace *t, const struct timespec *when, char *buf);

#endif
