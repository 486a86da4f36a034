/* tcpinfo.h - what the kernel knows of an accepted TCP connection: the
 * peer's SYN it saved (TCP_SAVED_SYN) and TCP_INFO. */
#ifndef FLYPAPER_TCPINFO_H
#define FLYPAPER_TCPINFO_H

#include <stdbool.h>

#include "record.h"

#define TCPINFO_SYN_MAX 1024         /* the longest saved SYN read (IPv6 with extension headers) */

/* Reads the SYN the kernel saved for fd (its listener had TCP_SAVE_SYN;
 * the kernel frees the copy at this read) and parses it into *out.
 * Nothing saved (a SYN cookie, another's listener, inetd) leaves out
 * SYN_NONE; bytes that do not parse, SYN_MALFORMED. */
void tcpinfo_saved_syn(int fd, struct record_syn *out);

/* Reads TCP_INFO of fd into *out (present 0 when it fails), or-ing
 * zero_window with this sample's. Fields the kernel did not return are
 * left absent. */
void tcpinfo_read(int fd, struct record_tcpinfo *out);

/* Whether fd's peer advertises a zero window while data waits to be sent
 * (one TCP_INFO read): for a write that would block. */
bool tcpinfo_zero_window(int fd);

#endif
