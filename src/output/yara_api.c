/* yara_api.c - loads libyara with dlopen and fills the table of its
 * functions (yara_api.h), through dlib.c. */
#define YARA_API_TABLE               /* the real names, for dlsym */
#include "yara_api.h"

#include "dlib.h"

#ifndef FLYPAPER_LIBYARA
#error "FLYPAPER_LIBYARA: the absolute path of libyara's soname, set by the Makefile"
#endif

#define YARA_API_FIX "install libyara, or use --rules none"

struct yara_api yara_api;
static bool yara_api_ready;

const char *yara_api_path(void)
{
	return FLYPAPER_LIBYARA;
}

bool yara_api_loaded(void)
{
	return yara_api_ready;
}

int yara_api_trusted(const char *path, char *err, size_t errlen)
{
	return dlib_trusted(path, "libyara", YARA_API_FIX, err, errlen);
}

int yara_api_load(char *err, size_t errlen)
{
	static const struct dlib_symbol table[] = {
#define YARA_API_ROW(name) {#name, offsetof(struct yara_api, name)},
		YARA_API_FUNCTIONS(YARA_API_ROW)
#undef YARA_API_ROW
	};

	if (yara_api_ready)
		return 0;
	if (dlib_load(FLYPAPER_LIBYARA, "libyara", YARA_API_FIX, table,
	    sizeof(table) / sizeof(table[0]), &yara_api, err, errlen) < 0)
		return -1;
	yara_api_ready = true;
	return 0;
}
