/* nats_api.c - loads libnats with dlopen and fills the table of its
 * functions (nats_api.h), through dlib.c. */
#define NATS_API_TABLE               /* the real names, for dlsym */
#include "nats_api.h"

#include "dlib.h"

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
