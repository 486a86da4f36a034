/* text.h - peer bytes made safe for text columns, JSON and logs. */
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

#endif
