/* synsig.h - a peer's SYN, as raw IPv4/IPv6 + TCP header bytes (what
 * TCP_SAVED_SYN or a packet capture gives), parsed into the fields of a
 * p0f v3 signature, and those fields formatted as p0f prints them. Pure:
 * no allocation, no state; the bytes are hostile. */
#ifndef FLYPAPER_SYNSIG_H
#define FLYPAPER_SYNSIG_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define SYNSIG_OLAYOUT_MAX 256       /* 40 options of "?255," and "eol+39" */
#define SYNSIG_QUIRKS_MAX 128        /* every quirk, comma-separated */
#define SYNSIG_SIG_MAX 512           /* a whole signature and its NUL */
#define SYNSIG_MAX_DIST 35           /* the farthest a TTL may be below a signature's */

/* Parses the network header (from its first byte: no link layer), any
 * IPv6 extension headers and the TCP header with its options into *out.
 * Returns 0 with out->present SYN_PARSED, or -1 with out zeroed but for
 * present SYN_MALFORMED: not IPv4/IPv6, not TCP, not a SYN, or a header
 * that does not fit in len. Malformed options are not an error: they are
 * the quirk "bad". */
int synsig_parse(const uint8_t *bytes, size_t len, struct record_syn *out);

/* The initial TTL a TTL most likely started from: 32, 64, 128 or 255. */
unsigned synsig_guess_ittl(unsigned ttl);

/* Writes the option layout as p0f names it ("mss,sok,ts,nop,ws"; "" none)
 * into buf (SYNSIG_OLAYOUT_MAX). */
void synsig_olayout(const struct record_syn *s, char *buf);

/* Writes the quirks in p0f's order, comma-separated ("df,id+"; "" none),
 * into buf (SYNSIG_QUIRKS_MAX). */
void synsig_quirks(uint32_t quirks, char *buf);

enum synsig_win {
	SYNSIG_WIN_NUMBER,           /* the window as it is */
	SYNSIG_WIN_MSS,              /* a multiple of the MSS */
	SYNSIG_WIN_MTU,              /* a multiple of the MTU */
};

/* How p0f classes an observed window (enum synsig_win), with the
 * multiplier in *mul for MSS and MTU; what "mss*N" signatures match. */
int synsig_window(const struct record_syn *s, unsigned *mul);

/* Writes the window as p0f prints an observed one: "mss*N", "mtu*N" or
 * the number, into buf (at least 16 bytes). */
void synsig_wsize(const struct record_syn *s, char *buf, size_t len);

/* Whether the SYN carried an option of kind (2: MSS, 3: window scale). */
int synsig_has_option(const struct record_syn *s, uint8_t kind);

/* Writes the p0f v3 signature of the SYN as p0f prints raw_sig, e.g.
 * "4:64+0:0:65495:mss*1,10:mss,sok,ts,nop,ws:df,id+:0", into buf
 * (SYNSIG_SIG_MAX). "" when s is not SYN_PARSED. */
void synsig_format(const struct record_syn *s, char *buf);

#endif
