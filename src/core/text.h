/* text.h - peer bytes made safe for text columns, JSON and logs; strings
 * read back from a database made safe to display. */
#ifndef FLYPAPER_TEXT_H
#define FLYPAPER_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Copies data into out as printable ASCII: bytes outside 0x20..0x7e, and
 * the backslash itself, become \xNN, so the original bytes can always be
 * recovered. With keep_newlines, CR, LF and TAB stay as they are. Stops
 * before overflowing outlen (always NUL-terminates when outlen > 0).
 * Returns the length written. */
size_t text_escape_into(const void *data, size_t len, char *out, size_t outlen,
    bool keep_newlines);

/* The same into a new string the caller frees (NULL when memory runs out). */
char *text_escape(const void *data, size_t len, bool keep_newlines);

/* Copies a string read from a database (any bytes: a merged or forged
 * database is as hostile as a peer) for display: printable ASCII stays,
 * the backslash included, so stored escapes read as stored; every other
 * byte (controls, ESC, DEL, and each byte of UTF-8, valid or not) becomes
 * \xNN. The result is printable ASCII: safe on a terminal, valid UTF-8
 * for JSON, and in HTML needs only <>&"' escaped. Bounded and terminated
 * like text_escape_into; returns the length written. */
size_t text_display_into(const void *data, size_t len, char *out, size_t outlen);

/* text_display_into for a NUL-terminated string, such as an error message
 * that quotes a database (sqlite3_errmsg); NULL shows as "". Returns out. */
const char *text_display(const char *s, char *out, size_t outlen);

#endif
