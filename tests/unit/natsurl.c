/* natsurl.c - unit tests of a --nats server taken apart
 * (nats_api_url_split, src/core/nats_api.c): scheme, user part, host
 * (IPv6 in brackets), port and the default 4222, and what is refused.
 * Run from unit.c's main through test_natsurl. */
#include <stdio.h>
#include <string.h>

#include "nats_api.h"

void test_natsurl(int *passed, int *failed);

void test_natsurl(int *passed, int *failed)
{
	static const struct {
		const char *url;
		int ok;
		const char *scheme, *userinfo, *host, *port;
	} cases[] = {
		{"nats://127.0.0.1:4222", 1, "nats", "", "127.0.0.1", "4222"},
		{"nats://localhost", 1, "nats", "", "localhost", "4222"},
		{"tls://nats.example.org:7422", 1, "tls", "", "nats.example.org", "7422"},
		{"127.0.0.1:5000", 1, "nats", "", "127.0.0.1", "5000"},
		{"nats://[::1]:4223", 1, "nats", "", "::1", "4223"},
		{"nats://[fe80::1]", 1, "nats", "", "fe80::1", "4222"},
		{"nats://u:p@w@h:1", 1, "nats", "u:p@w", "h", "1"},
		{"nats://token@h", 1, "nats", "token", "h", "4222"},
		{"nats://", 0, NULL, NULL, NULL, NULL},
		{"nats://:4222", 0, NULL, NULL, NULL, NULL},
		{"nats://h:0", 0, NULL, NULL, NULL, NULL},
		{"nats://h:65536", 0, NULL, NULL, NULL, NULL},
		{"nats://h:42a", 0, NULL, NULL, NULL, NULL},
		{"nats://h:", 0, NULL, NULL, NULL, NULL},
		{"nats://h:4222/path", 0, NULL, NULL, NULL, NULL},
		{"nats://[::1:4222", 0, NULL, NULL, NULL, NULL},
		{"nats://[::1]x", 0, NULL, NULL, NULL, NULL},
		{"://h", 0, NULL, NULL, NULL, NULL},
		{"na ts://h", 0, NULL, NULL, NULL, NULL},
		{"::1", 0, NULL, NULL, NULL, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nats_url u;
		char err[256] = "";
		int rc = nats_api_url_split(cases[i].url, &u, err, sizeof(err));
		int good = cases[i].ok ? rc == 0 && strcmp(u.scheme, cases[i].scheme) == 0 &&
		    strcmp(u.userinfo, cases[i].userinfo) == 0 &&
		    strcmp(u.host, cases[i].host) == 0 && strcmp(u.port, cases[i].port) == 0
		    : rc < 0 && err[0] != '\0';
		if (good) {
			(*passed)++;
		} else {
			(*failed)++;
			printf("FAIL natsurl %s: rc %d scheme '%s' user '%s' host '%s' port '%s' "
			    "err '%s'\n", cases[i].url, rc, rc == 0 ? u.scheme : "",
			    rc == 0 ? u.userinfo : "", rc == 0 ? u.host : "",
			    rc == 0 ? u.port : "", err);
		}
	}
	static const struct {
		const char *urls;
		size_t room;
		const char *want;
	} redact[] = {
		{"nats://127.0.0.1:4222", 64, "nats://127.0.0.1:4222"},
		{"nats://u:secret@h:1", 64, "nats://***@h:1"},
		{"nats://u:p@w@h:1,tls://tok@[::1]:2,h3", 64, "nats://***@h:1,tls://***@[::1]:2,h3"},
		{"user:pw@h:4222", 64, "***@h:4222"},
		{"nats://u:secret@h:1", 10, "nats://**"},
		{"nats://u:secret@h:1", 1, ""},
		{"", 8, ""},
	};
	for (size_t i = 0; i < sizeof(redact) / sizeof(redact[0]); i++) {
		char out[64];
		memset(out, 'X', sizeof(out));
		nats_api_redact(redact[i].urls, out, redact[i].room);
		if (strcmp(out, redact[i].want) == 0) {
			(*passed)++;
		} else {
			(*failed)++;
			fprintf(stderr, "natsurl: redact '%s' (room %zu): '%s', want '%s'\n",
			    redact[i].urls, redact[i].room, out, redact[i].want);
		}
	}
}
