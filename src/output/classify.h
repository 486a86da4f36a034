/* classify.h - payload families: YARA rules over payloads. */
#ifndef FLYPAPER_CLASSIFY_H
#define FLYPAPER_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define CLASSIFY_MAX_MATCHES 16      /* rules kept per payload */
#define CLASSIFY_TIMEOUT_S 2         /* a scan that takes longer is cut */
#define CLASSIFY_FAMILY_MAX 32       /* bytes of a family name, NUL included */
#define CLASSIFY_TAGS_MAX 256        /* bytes of the technique tags, NUL included */
#define CLASSIFY_TECHNIQUES_MAX 32   /* technique tags kept per payload */

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

/* Scans data, with the http_* external variables set from its normalised
 * fields (normalize.h). Returns the number of matching rules kept in out
 * (every match counts towards out->tags, kept or not), or -1 when the
 * scan failed (a timeout, too many matches). */
int classify_scan(struct classify *c, const uint8_t *data, size_t len,
    struct classify_result *out);

/* Like classify_scan, remembering results by the payload's SHA-256. The
 * result stays valid until the next call. NULL when the scan failed. */
const struct classify_result *classify_payload(struct classify *c,
    const unsigned char sha256[32], const uint8_t *data, size_t len);

#ifdef FLYPAPER_TEST_HOOKS
/* Reads the scanner lists from dir from now on (NULL: the default). */
void classify_test_set_lists_dir(const char *dir);
#endif

/* Frees the rules. NULL is allowed. */
void classify_close(struct classify *c);

#endif
