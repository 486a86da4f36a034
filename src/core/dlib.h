/* dlib.h - shared libraries loaded with dlopen, not linked (libyara:
 * yara_api.h, libpcap: pcap_api.h): what they pull in would cost every
 * exec, inetd children's too, although most processes never call them.
 * Loaded as root, before confinement (which forbids mapping code), and
 * only from files only root can have put there. */
#ifndef FLYPAPER_DLIB_H
#define FLYPAPER_DLIB_H

#include <stddef.h>

/* One function to look up: its name and where its pointer goes in the
 * caller's table. */
struct dlib_symbol {
	const char *name;
	size_t offset;
};

/* Whether the file at path, links resolved, and every folder above it are
 * root's and writable by no one else, so that only root can have put code
 * there. lib names the library and fix says how to get it, in messages.
 * Returns 0, or -1 with the reason, naming the file, in err. */
int dlib_trusted(const char *path, const char *lib, const char *fix, char *err,
    size_t errlen);

/* Loads the library at path (resolved and checked by dlib_trusted: the
 * path checked is the path loaded) and stores each of the n symbols'
 * addresses at table + offset. Nothing is stored unless every symbol is
 * found. Returns 0, or -1 with a message naming the file, lib and fix in
 * err. */
int dlib_load(const char *path, const char *lib, const char *fix,
    const struct dlib_symbol *syms, size_t n, void *table, char *err, size_t errlen);

#endif
