/* nats_api.c - loads libnats with dlopen and fills the table of its
 * functions (nats_api.h), through dlib.c. */
#define NATS_API_TABLE               /* the real names, for dlsym */
#include "nats_api.h"

#include "dlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FLYPAPER_LIBNATS
#error "FLYPAPER_LIBNATS: the absolute path of libnats's soname, set by the Makefile"
#endif

#define NATS_API_FIX "install libnats3.4"

struct nats_api nats_api;
static bool nats_api_ready;

bool nats_api_loaded(void)
{
	return nats_api_ready;
}

int nats_api_load(char *err, size_t errlen)
{
	static const struct dlib_symbol table[] = {
#define NATS_API_ROW(name) {#name, offsetof(struct nats_api, name)},
		NATS_API_FUNCTIONS(NATS_API_ROW)
#undef NATS_API_ROW
	};

	if (nats_api_ready)
		return 0;
	if (dlib_load(FLYPAPER_LIBNATS, "libnats", NATS_API_FIX, table,
	    sizeof(table) / sizeof(table[0]), &nats_api, err, errlen) < 0)
		return -1;
	nats_api_ready = true;
	return 0;
}

const char *nats_api_error(natsStatus s)
{
	natsStatus last;
	const char *text = nats_api.nats_GetLastError(&last);

	if (text && *text)
		return text;
	return nats_api.natsStatus_GetText(s);
}

natsStatus nats_api_set_servers(natsOptions *opts, const char *urls)
{
	char *copy = strdup(urls), *save = NULL, *p;
	const char *list[NATS_API_MAX_SERVERS];
	int n = 0;
	natsStatus st = NATS_INVALID_ARG;

	if (!copy)
		return NATS_NO_MEMORY;
	for (p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		if (n == NATS_API_MAX_SERVERS)
			goto out;
		list[n++] = p;
	}
	if (n > 0)
		st = nats_api.natsOptions_SetServers(opts, list, n);
out:
	free(copy);
	return st;
}

/* Copies n bytes of src into dst (size len) as a string; -1 if too long. */
static int nats_api_copy(char *dst, size_t len, const char *src, size_t n)
{
	if (n >= len)
		return -1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

int nats_api_url_split(const char *url, struct nats_url *out, char *err, size_t errlen)
{
	const char *p = url, *sep, *at, *host, *end, *port;
	char shown[512];             /* the URL in messages, its user part as *** */
	size_t hlen;

	nats_api_redact(url, shown, sizeof(shown));
	memset(out, 0, sizeof(*out));
	if ((sep = strstr(p, "://"))) {
		if (sep == p || nats_api_copy(out->scheme, sizeof(out->scheme), p,
		        (size_t)(sep - p)) < 0)
			goto bad_scheme;
		p = sep + 3;
	} else {
		strcpy(out->scheme, "nats");
	}
	for (const char *c = out->scheme; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '+' || *c == '-' || *c == '.'))
			goto bad_scheme;
	/* the last '@' before any '/': a password may hold '@' */
	end = p + strcspn(p, "/?#");
	if (*end) {
		snprintf(err, errlen, "'%s': a NATS URL has no path", shown);
		return -1;
	}
	at = NULL;
	for (const char *c = p; c < end; c++)
		if (*c == '@')
			at = c;
	if (at) {
		if (nats_api_copy(out->userinfo, sizeof(out->userinfo), p, (size_t)(at - p)) < 0) {
			snprintf(err, errlen, "'%s': user part too long", shown);
			return -1;
		}
		p = at + 1;
	}
	if (*p == '[') {
		const char *close = strchr(p, ']');
		if (!close) {
			snprintf(err, errlen, "'%s': no ']' after the IPv6 address", shown);
			return -1;
		}
		host = p + 1;
		hlen = (size_t)(close - host);
		port = close + 1;
		if (*port && *port != ':') {
			snprintf(err, errlen, "'%s': ':' or nothing expected after ']'", shown);
			return -1;
		}
	} else {
		host = p;
		port = strchr(p, ':');
		hlen = port ? (size_t)(port - p) : strlen(p);
		if (!port)
			port = p + hlen;
	}
	if (hlen == 0 || nats_api_copy(out->host, sizeof(out->host), host, hlen) < 0) {
		snprintf(err, errlen, "'%s': %s host", shown, hlen ? "too long a" : "no");
		return -1;
	}
	if (*port == ':')
		port++;
	else
		port = "4222";
	if (!*port || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port) ||
	    atoi(port) < 1 || atoi(port) > 65535) {
		snprintf(err, errlen, "'%s': the port must be 1 to 65535", shown);
		return -1;
	}
	strcpy(out->port, port);
	return 0;
bad_scheme:
	snprintf(err, errlen, "'%s': not a URL scheme before '://'", shown);
	return -1;
}

/* Appends c to out (at *o, room len) unless full. */
static void nats_api_put(char *out, size_t len, size_t *o, char c)
{
	if (*o + 1 < len)
		out[(*o)++] = c;
}

void nats_api_redact(const char *urls, char *out, size_t len)
{
	size_t o = 0;

	if (!len)
		return;
	for (const char *p = urls; *p;) {
		const char *end = strchr(p, ','), *auth = strstr(p, "://"), *at;
		if (!end)
			end = p + strlen(p);
		auth = auth && auth < end ? auth + 3 : p;
		at = NULL;                   /* the last '@': a password may hold one */
		for (const char *q = auth; q < end; q++)
			if (*q == '@')
				at = q;
		for (const char *q = p; q < auth; q++)
			nats_api_put(out, len, &o, *q);
		if (at) {
			for (const char *m = "***"; *m; m++)
				nats_api_put(out, len, &o, *m);
			auth = at;
		}
		for (const char *q = auth; q < end; q++)
			nats_api_put(out, len, &o, *q);
		if (!*end)
			break;
		nats_api_put(out, len, &o, ',');
		p = end + 1;
	}
	out[o] = '\0';
}
