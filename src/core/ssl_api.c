/* ssl_api.c - loads libssl with dlopen and fills the table of its (and
 * libcrypto's) functions (ssl_api.h), through dlib.c. */
#define SSL_API_TABLE                /* the real names, for dlsym */
#include "ssl_api.h"

#include "dlib.h"

#ifndef FLYPAPER_LIBSSL
#error "FLYPAPER_LIBSSL: the absolute path of libssl's soname, set by the Makefile"
#endif

#define SSL_API_FIX "install libssl3"

struct ssl_api ssl_api;
static bool ssl_api_ready;

bool ssl_api_loaded(void)
{
	return ssl_api_ready;
}

int ssl_api_load(char *err, size_t errlen)
{
	/* dlsym on libssl's handle also finds libcrypto's functions: a
	 * library's lookup scope is itself and what it depends on. */
	static const struct dlib_symbol table[] = {
#define SSL_API_ROW(name) {#name, offsetof(struct ssl_api, name)},
		SSL_API_FUNCTIONS(SSL_API_ROW)
#undef SSL_API_ROW
	};

	if (ssl_api_ready)
		return 0;
	if (dlib_load(FLYPAPER_LIBSSL, "libssl", SSL_API_FIX, table,
	    sizeof(table) / sizeof(table[0]), &ssl_api, err, errlen) < 0)
		return -1;
	ssl_api_ready = true;
	return 0;
}
