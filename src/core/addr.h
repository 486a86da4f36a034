/* addr.h - socket addresses: parsing "HOST:PORT" and formatting for records. */
#ifndef FLYPAPER_ADDR_H
#define FLYPAPER_ADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ADDR_TEXT_LEN 64             /* "[v6]:port" with a NUL fits */

/* An IPv4 or IPv6 socket address, small enough to keep per session. */
struct addr {
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} u;
};

/* Parses "1.2.3.4:80", "[::1]:8080" or "*:80" (all IPv4 addresses) into a.
 * Only numeric addresses: a honeypot must not depend on DNS to start.
 * Returns 0, or -1 when the text is not an address with a port. */
int addr_parse(const char *text, struct addr *a);

/* Copies a sockaddr of either family into a. Returns 0, or -1 for other
 * families or a short length. */
int addr_from_sockaddr(struct addr *a, const struct sockaddr *sa, socklen_t len);

/* Writes the bare IP (no port, no brackets) into buf. IPv4-mapped IPv6
 * addresses are written as IPv4. Returns buf. */
char *addr_ip(const struct addr *a, char *buf, size_t len);

/* The port in host order. */
uint16_t addr_port(const struct addr *a);

/* Writes "ip:port" or "[ip]:port" into buf. Returns buf. */
char *addr_format(const struct addr *a, char *buf, size_t len);

/* The length to pass to bind() or connect(). */
socklen_t addr_len(const struct addr *a);

#define ADDR_IP_MAX 16               /* bytes of the longest host address (IPv6) */

/* Writes into ip the bytes that name a's host, in network order, and
 * returns how many: 4 for an IPv4 address and for a v4-mapped IPv6 one
 * (::ffff:a.b.c.d is the IPv4 host a.b.c.d), 16 for any other IPv6
 * address. The one place an address is normalised: the experiment's arm
 * (respond_arm) and the source keys below read it. The port is ignored. */
size_t addr_ip_bytes(const struct addr *a, uint8_t ip[ADDR_IP_MAX]);

#define ADDR_KEY_LEN 16              /* bytes of a source key */

/* Writes into key the 16 bytes that name a's source, for counting or
 * limiting per source: an IPv4 host (addr_ip_bytes: v4-mapped included)
 * as ::ffff:a.b.c.d; any other IPv6 address as its /64 (the low 64 bits zero),
 * since one host holds a whole /64. Equal keys are one source; the port is
 * ignored; IPv4 and IPv6 keys never collide. */
void addr_source_key(const struct addr *a, uint8_t key[ADDR_KEY_LEN]);

/* Nonzero when a is 0.0.0.0 or ::, the wildcard. */
int addr_is_wildcard(const struct addr *a);

/* A network: an address prefix of either family. */
struct addr_cidr {
	uint8_t ip[ADDR_IP_MAX];     /* the network's bytes (addr_ip_bytes form) */
	uint8_t len;                 /* 4 or 16 */
	uint8_t bits;                /* prefix length, 0..32 or 0..128 */
};

/* Parses "10.0.0.0/8", "::1/128" or a bare address (a host: /32, /128)
 * into c; bits past the prefix must be zero. A v4-mapped IPv6 network is
 * taken as the IPv4 one. Returns 0, or -1 when the text is not that. */
int addr_cidr_parse(const char *text, struct addr_cidr *c);

/* Nonzero when a's host (addr_ip_bytes: v4-mapped as IPv4) is inside c. */
int addr_in_cidr(const struct addr *a, const struct addr_cidr *c);

#endif
