/* classify.h - payload families: YARA rules over payloads. libyara is
 * loaded at run time (yara_api.c), by classify_open. */
#ifndef FLYPAPER_CLASSIFY_H
#define FLYPAPER_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define CLASSIFY_MAX_MATCHES 16      /* rules kept per payload */
#define CLASSIFY_FAMILY_MAX RECORD_FAMILY_MAX  /* 32: a family name and its NUL */
#define CLASSIFY_TAGS_MAX RECORD_TAGS_MAX      /* 256: technique tags and a NUL */
#define CLASSIFY_TECHNIQUES_MAX 32   /* technique tags kept per payload */
#define CLASSIFY_BUDGET_DEFAULT_NS (2ULL * 1000000000ULL) /* until classify_set_budget */

/* A payload's matches, the first CLASSIFY_MAX_MATCHES rules in compile
 * order, and the one family chosen among all the rules that matched (not
 * only those kept) by the precedence of family.h. */
struct classify_result {
	int n;                                  /* matches kept (the first CLASSIFY_MAX_MATCHES) */
	struct record_match m[CLASSIFY_MAX_MATCHES];
	char family[CLASSIFY_FAMILY_MAX];       /* the session's family; "" none */
	char tags[CLASSIFY_TAGS_MAX];           /* techniques: sorted, unique, comma-separated; "" none */
};

struct classify;

/* Compiles the rules in paths: a colon-separated list of .yar files and
 * folders (every *.yar in a folder, in name order). With cache (a file
 * path, or NULL), compiled rules are loaded from there when the files have
 * not changed (libyara version, paths, sizes, times) and the file can have
 * been written by no one but the effective user, and saved there after
 * compiling when its folder is safe (state_open_dir). Returns the rules, or NULL with "file:line: message" in
 * err. */
struct classify *classify_open(const char *paths, const char *cache, char *err,
    size_t errlen);

/* Gives each later scan of c at most budget_ns nanoseconds (libyara checks
 * its clock periodically: expect up to about twice that). */
void classify_set_budget(struct classify *c, uint64_t budget_ns);

/* Scans data within c's budget, with the http_* external variables set
 * from its normalised fields (normalize.h). Returns the number of matching
 * rules kept in out (every match counts towards out->tags, kept or not),
 * or -1 when the scan failed (over budget, too many matches). One thread
 * at a time per c. */
int classify_scan(struct classify *c, const uint8_t *data, size_t len,
    struct classify_result *out);

#ifdef FLYPAPER_TEST_HOOKS
/* Reads the scanner lists from dir from now on (NULL: the default). */
void classify_test_set_lists_dir(const char *dir);
#endif

/* Frees the rules. NULL is allowed. */
void classify_close(struct classify *c);

#endif
