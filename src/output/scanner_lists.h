/* scanner_lists.h - YARA rules generated from the OWASP Core Rule Set's
 * lists of scanner and crawler names (Debian's modsecurity-crs), so the
 * tools named follow the package, not a list kept here. */
#ifndef FLYPAPER_SCANNER_LISTS_H
#define FLYPAPER_SCANNER_LISTS_H

#include <stdio.h>

#ifndef FLYPAPER_CRS_DIR
#define FLYPAPER_CRS_DIR "/usr/share/modsecurity-crs/rules"
#endif

#define SCANNER_LISTS_ENTRIES 1024   /* entries read per list file */
#define SCANNER_LISTS_ENTRY_MAX 128  /* bytes of an entry; longer ones are skipped */
#define SCANNER_LISTS_LINE_MAX 1024  /* bytes of a line read; longer ones are skipped */

/* Writes to out one YARA rule per entry of the lists found in dir
 * (scanners-user-agents.data and crawlers-user-agents.data on http_ua,
 * scanners-headers.data on http_headers, scanners-urls.data on
 * http_target; each a case-insensitive substring, as CRS matches them).
 * Each rule has meta family (a tool name, "spider" for crawlers, or "" for
 * entries too generic to name anyone), kind and source ("file:line").
 * Returns the number of list files read (0: none there). */
int scanner_lists_rules(const char *dir, FILE *out);

/* Appends "path size mtime;" of each list file in dir to key, so compiled
 * rules cached from older lists are not reused after a package update. */
void scanner_lists_key(const char *dir, FILE *key);

/* The family name an entry gives: the alias table's name when the entry
 * is in it ("" for generic entries), else repo (the repository named in
 * the entry's comment, may be NULL), else the entry itself, lowercased,
 * cut at its first '/', spaces as '-', only [a-z0-9-]. Writes at most
 * outlen bytes, NUL included. */
void scanner_lists_name(const char *entry, const char *repo, char *out, size_t outlen);

#endif
