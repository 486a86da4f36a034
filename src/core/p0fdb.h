/* p0fdb.h - the [tcp:request] signatures of a p0f v3 database (Debian's
 * p0f package ships /etc/p0f/p0f.fp), read as data at start-up, and
 * matching a parsed SYN to them by p0f's rules. A loaded database is
 * read-only: any thread may match against it. */
#ifndef FLYPAPER_P0FDB_H
#define FLYPAPER_P0FDB_H

#include <stddef.h>
#include <stdio.h>

#include "record.h"

#define P0FDB_DEFAULT "/etc/p0f/p0f.fp"
#define P0FDB_MAX_SIGS 4096          /* sig lines kept from [tcp:request] */
#define P0FDB_MAX_LINES 100000       /* lines read from the file, in all */
#define P0FDB_LINE_MAX 1024          /* bytes of one line */
#define P0FDB_CACHE 64               /* the writer's recent SYN shapes and their matches */

struct p0fdb;

/* Loads path's [tcp:request] section. path NULL means the default
 * (P0FDB_DEFAULT), which may be missing: then *out is NULL, *warning says
 * so and 0 is returned. "none" gives NULL and 0. A missing explicit path,
 * a malformed label or sig line (named by its line number), or a cap
 * passed: -1 with the message in err. The caller frees *out. */
int p0fdb_load(const char *path, struct p0fdb **out, char *err, size_t errlen,
    char *warning, size_t warnlen);

/* p0fdb_load's reading of an open stream f, name being what messages call
 * it: 0 with *out, or -1 with err. For the fuzzer and the tests. */
int p0fdb_read_stream(FILE *f, const char *name, struct p0fdb **out, char *err,
    size_t errlen);

/* The signatures loaded. */
size_t p0fdb_count(const struct p0fdb *db);

/* Matches syn (SYN_PARSED) against db (NULL: no database) into *out:
 * the label and how it matched (OS_MATCH_NONE when nothing did), the
 * initial TTL and hops (the signature's when it fixes them, else the
 * guess; hops -1 when a random-TTL signature matched). */
void p0fdb_match(const struct p0fdb *db, const struct record_syn *syn,
    struct record_os *out);

/* The schema name of a match kind ("exact", "generic", "fuzzy",
 * "fuzzy_generic"); NULL for OS_MATCH_NONE. */
const char *p0fdb_match_name(int match);

#define P0FDB_OS_TEXT_MAX (RECORD_OS_NAME + RECORD_OS_FLAVOR)

/* Writes the label of a match as p0f prints it, "name flavor" (or the
 * name alone), into buf (P0FDB_OS_TEXT_MAX); "" for no match. */
void p0fdb_os_text(const struct record_os *os, char *buf);

/* A small cache of matches by the SYN's fields (not its IP ID), for one
 * thread: the writer matches each record once, and real traffic repeats
 * few shapes. */
struct p0fdb_cache;

/* A new cache over db (which must outlive it); NULL when out of memory. */
struct p0fdb_cache *p0fdb_cache_new(const struct p0fdb *db);

/* p0fdb_match through the cache. */
void p0fdb_cache_match(struct p0fdb_cache *c, const struct record_syn *syn,
    struct record_os *out);

void p0fdb_cache_free(struct p0fdb_cache *c);

void p0fdb_free(struct p0fdb *db);

#endif
