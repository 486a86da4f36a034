/* addr.c - socket address parsing and formatting. */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int addr_parse_port(const char *text, uint16_t *port)
{
	char *end;
	unsigned long v;

	if (*text < '0' || *text > '9')
		return -1;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || *end != '\0' || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int addr_parse(const char *text, struct addr *a)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon;
	size_t hlen;
	uint16_t port;

	memset(a, 0, sizeof(*a));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':')
			return -1;
		hlen = (size_t)(close - text - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			return -1;
		memcpy(host, text + 1, hlen);
		host[hlen] = '\0';
		if (addr_parse_port(close + 2, &port) < 0)
			return -1;
		a->u.v6.sin6_family = AF_INET6;
		a->u.v6.sin6_port = htons(port);
		return inet_pton(AF_INET6, host, &a->u.v6.sin6_addr) == 1 ? 0 : -1;
	}
	colon = strrchr(text, ':');
	if (!colon || strchr(text, ':') != colon)
		return -1;           /* no port, or a bare IPv6 address */
	hlen = (size_t)(colon - text);
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (addr_parse_port(colon + 1, &port) < 0)
		return -1;
	a->u.v4.sin_family = AF_INET;
	a->u.v4.sin_port = htons(port);
	if (strcmp(host, "*") == 0) {
		a->u.v4.sin_addr.s_addr = htonl(INADDR_ANY);
		return 0;
	}
	return inet_pton(AF_INET, host, &a->u.v4.sin_addr) == 1 ? 0 : -1;
}

int addr_from_sockaddr(struct addr *a, const struct sockaddr *sa, socklen_t len)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		memcpy(&a->u.v4, sa, sizeof(struct sockaddr_in));
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		memcpy(&a->u.v6, sa, sizeof(struct sockaddr_in6));
		return 0;
	}
	return -1;
}

char *addr_ip(const struct addr *a, char *buf, size_t len)
{
	if (a->u.sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &a->u.v4.sin_addr, buf, (socklen_t)len);
	} else if (a->u.sa.sa_family == AF_INET6) {
		const struct in6_addr *in6 = &a->u.v6.sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(in6))
			inet_ntop(AF_INET, &in6->s6_addr[12], buf, (socklen_t)len);
		else
			inet_ntop(AF_INET6, in6, buf, (socklen_t)len);
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}

uint16_t addr_port(const struct addr *a)
{
	if (a->u.sa.sa_family == AF_INET6)
		return ntohs(a->u.v6.sin6_port);
	return ntohs(a->u.v4.sin_port);
}

char *addr_format(const struct addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	addr_ip(a, ip, sizeof(ip));
	if (strchr(ip, ':'))
		snprintf(buf, len, "[%s]:%u", ip, addr_port(a));
	else
		snprintf(buf, len, "%s:%u", ip, addr_port(a));
	return buf;
}

socklen_t addr_len(const struct addr *a)
{
	return a->u.sa.sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                     : sizeof(struct sockaddr_in);
}

int addr_is_wildcard(const struct addr *a)
{
	if (a->u.sa.sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&a->u.v6.sin6_addr);
	return a->u.v4.sin_addr.s_addr == htonl(INADDR_ANY);
}

size_t addr_ip_bytes(const struct addr *a, uint8_t ip[ADDR_IP_MAX])
{
	const struct in6_addr *in6 = &a->u.v6.sin6_addr;

	if (a->u.sa.sa_family != AF_INET6) {
		memcpy(ip, &a->u.v4.sin_addr, 4);
		return 4;
	}
	if (IN6_IS_ADDR_V4MAPPED(in6)) {
		memcpy(ip, &in6->s6_addr[12], 4);
		return 4;
	}
	memcpy(ip, in6, 16);
	return 16;
}

void addr_source_key(const struct addr *a, uint8_t key[ADDR_KEY_LEN])
{
	uint8_t ip[ADDR_IP_MAX];

	memset(key, 0, ADDR_KEY_LEN);
	if (addr_ip_bytes(a, ip) == 16) {
		memcpy(key, ip, 8);  /* one host holds a whole /64 */
		return;
	}
	key[10] = key[11] = 0xff;
	memcpy(key + 12, ip, 4);
}

int addr_cidr_parse(const char *text, struct addr_cidr *c)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t hlen = slash ? (size_t)(slash - text) : strlen(text);
	struct in6_addr in6;
	unsigned long bits;
	char *end;

	memset(c, 0, sizeof(*c));
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, c->ip) == 1) {
		c->len = 4;
	} else if (inet_pton(AF_INET6, host, &in6) == 1) {
		c->len = 16;
		memcpy(c->ip, &in6, 16);
	} else {
		return -1;
	}
	bits = c->len * 8;
	if (slash) {
		if (slash[1] < '0' || slash[1] > '9')
			return -1;
		errno = 0;
		bits = strtoul(slash + 1, &end, 10);
		if (errno || *end || bits > (unsigned long)c->len * 8)
			return -1;
	}
	/* ::ffff:a.b.c.d/104 and longer is the IPv4 network a.b.c.d/(bits - 96). */
	if (c->len == 16 && IN6_IS_ADDR_V4MAPPED(&in6) && bits >= 96) {
		memmove(c->ip, c->ip + 12, 4);
		memset(c->ip + 4, 0, 12);
		c->len = 4;
		bits -= 96;
	}
	c->bits = (uint8_t)bits;
	for (unsigned i = 0; i < c->len; i++) {
		unsigned have = c->bits > i * 8 ? c->bits - i * 8 : 0;
		uint8_t mask = have >= 8 ? 0xff : (uint8_t)(0xff00 >> have);
		if (c->ip[i] & ~mask)
			return -1;   /* host bits set: a typo, not a network */
	}
	return 0;
}

int addr_in_cidr(const struct addr *a, const struct addr_cidr *c)
{
	uint8_t ip[ADDR_IP_MAX];
	unsigned full = c->bits / 8, rest = c->bits % 8;

	if (addr_ip_bytes(a, ip) != c->len)
		return 0;
	if (memcmp(ip, c->ip, full) != 0)
		return 0;
	return rest == 0 || ((ip[full] ^ c->ip[full]) & (0xff00 >> rest) & 0xff) == 0;
}
