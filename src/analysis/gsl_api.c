/* gsl_api.c - loads libgsl with dlopen and fills the table of its
 * functions (gsl_api.h), through dlib.c. */
#define GSL_API_TABLE                /* the real names, for dlsym */
#include "gsl_api.h"

#include "dlib.h"

#ifndef FLYPAPER_LIBGSL
#error "FLYPAPER_LIBGSL: the absolute path of libgsl's soname, set by the Makefile"
#endif

#define GSL_API_FIX "install libgsl27 (Debian; libgsl-dev to build)"

struct gsl_api gsl_api;
static bool gsl_api_ready;

bool gsl_api_loaded(void)
{
	return gsl_api_ready;
}

int gsl_api_load_from(const char *path, char *err, size_t errlen)
{
	static const struct dlib_symbol table[] = {
#define GSL_API_ROW(name) {#name, offsetof(struct gsl_api, name)},
		GSL_API_FUNCTIONS(GSL_API_ROW)
#undef GSL_API_ROW
	};

	if (dlib_load(path, "libgsl", GSL_API_FIX, table,
	    sizeof(table) / sizeof(table[0]), &gsl_api, err, errlen) < 0)
		return -1;
	/* GSL's default handler calls abort() on a domain error: a database
	 * must never be able to end the process that reads it. */
	gsl_api.gsl_set_error_handler_off();
	gsl_api_ready = true;
	return 0;
}

int gsl_api_load(char *err, size_t errlen)
{
	if (gsl_api_ready)
		return 0;
	return gsl_api_load_from(FLYPAPER_LIBGSL, err, errlen);
}
