/* yara_api.c - loads libyara with dlopen and fills the table of its
 * functions (yara_api.h). */
#define YARA_API_TABLE               /* the real names, for dlsym */
#include "yara_api.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef FLYPAPER_LIBYARA
#error "FLYPAPER_LIBYARA: the absolute path of libyara's soname, set by the Makefile"
#endif

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
	char real[PATH_MAX], *slash;
	struct stat st;

	if (!realpath(path, real))
		return snprintf(err, errlen, "%s: %s (install libyara, or use --rules none)",
		    path, strerror(errno)), -1;
	for (;;) {
		if (stat(real[0] ? real : "/", &st) < 0)
			return snprintf(err, errlen, "%s: %s", real[0] ? real : "/",
			    strerror(errno)), -1;
		if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
			return snprintf(err, errlen, "%s: not root's, or writable by "
			    "others: libyara is loaded only from root's own folders",
			    real[0] ? real : "/"), -1;
		if (!(slash = strrchr(real, '/')) || real[0] == '\0')
			return 0;
		*slash = '\0';
	}
}

int yara_api_load(char *err, size_t errlen)
{
	static const struct {
		const char *name;
		size_t offset;
	} table[] = {
#define YARA_API_ROW(name) {#name, offsetof(struct yara_api, name)},
		YARA_API_FUNCTIONS(YARA_API_ROW)
#undef YARA_API_ROW
	};
	void *lib;

	char real[PATH_MAX];

	if (yara_api_ready)
		return 0;
	/* The path checked is the path loaded: every folder of the resolved
	 * path is root's, so nothing can change it in between. */
	if (!realpath(FLYPAPER_LIBYARA, real))
		return snprintf(err, errlen, "%s: %s (install libyara, or use --rules none)",
		    FLYPAPER_LIBYARA, strerror(errno)), -1;
	if (yara_api_trusted(real, err, errlen) < 0)
		return -1;
	/* RTLD_NODELETE: nothing ever unloads it, and threads may still
	 * hold its code when a process exits. */
	lib = dlopen(real, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (!lib) {
		const char *why = dlerror();
		snprintf(err, errlen, "cannot load libyara: %s", why ? why : FLYPAPER_LIBYARA);
		return -1;
	}
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		void *fn = dlsym(lib, table[i].name);
		if (!fn) {
			snprintf(err, errlen, "%s: no %s: not the libyara flypaper was "
			    "built for", FLYPAPER_LIBYARA, table[i].name);
			dlclose(lib);
			return -1;
		}
		memcpy((char *)&yara_api + table[i].offset, &fn, sizeof(fn));
	}
	yara_api_ready = true;
	return 0;
}
