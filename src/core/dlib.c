/* dlib.c - loads a shared library with dlopen after checking who could
 * have written it, and fills a table of its functions (dlib.h). */
#include "dlib.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DLIB_MAX_SYMBOLS 96          /* functions in one table */

int dlib_trusted(const char *path, const char *lib, const char *fix, char *err,
    size_t errlen)
{
	char real[PATH_MAX], *slash;
	struct stat st;

	if (!realpath(path, real))
		return snprintf(err, errlen, "%s: %s (%s)", path, strerror(errno), fix), -1;
	for (;;) {
		if (stat(real[0] ? real : "/", &st) < 0)
			return snprintf(err, errlen, "%s: %s", real[0] ? real : "/",
			    strerror(errno)), -1;
		if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
			return snprintf(err, errlen, "%s: not root's, or writable by "
			    "others: %s is loaded only from root's own folders",
			    real[0] ? real : "/", lib), -1;
		if (!(slash = strrchr(real, '/')) || real[0] == '\0')
			return 0;
		*slash = '\0';
	}
}

int dlib_load(const char *path, const char *lib, const char *fix,
    const struct dlib_symbol *syms, size_t n, void *table, char *err, size_t errlen)
{
	void *fns[DLIB_MAX_SYMBOLS];
	char real[PATH_MAX];
	void *handle;

	if (n > DLIB_MAX_SYMBOLS)
		return snprintf(err, errlen, "%s: %zu functions, more than %d",
		    lib, n, DLIB_MAX_SYMBOLS), -1;
	/* The path checked is the path loaded: every folder of the resolved
	 * path is root's, so nothing can change it in between. */
	if (!realpath(path, real))
		return snprintf(err, errlen, "%s: %s (%s)", path, strerror(errno), fix), -1;
	if (dlib_trusted(real, lib, fix, err, errlen) < 0)
		return -1;
	/* RTLD_NODELETE: nothing ever unloads it, and threads may still
	 * hold its code when a process exits. */
	handle = dlopen(real, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (!handle) {
		const char *why = dlerror();
		snprintf(err, errlen, "cannot load %s: %s (%s)", lib, why ? why : path, fix);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (!(fns[i] = dlsym(handle, syms[i].name))) {
			snprintf(err, errlen, "%s: no %s: not the %s flypaper was "
			    "built for", path, syms[i].name, lib);
			dlclose(handle);
			return -1;
		}
	}
	for (size_t i = 0; i < n; i++)
		memcpy((char *)table + syms[i].offset, &fns[i], sizeof(fns[i]));
	return 0;
}
