/* jsonl.h - the JSON-lines sink: Cowrie-style events, one line each. */
#ifndef FLYPAPER_JSONL_H
#define FLYPAPER_JSONL_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

struct jsonl;

/* Opens path for appending ("-" is standard output), created 0640; a
 * symlink, another user's file or a folder others can write is refused
 * (state_open). Returns the sink, or NULL with a message in err. */
struct jsonl *jsonl_open(const char *path, const char *sensor, char *err,
    size_t errlen);

/* Appends one line per record of list: flypaper.session.connect for
 * RECORD_CONNECT; for RECORD_CLOSED one flypaper.http.request per request
 * found, then flypaper.session.closed; flypaper.session.classified for
 * RECORD_CLASSIFIED. Each batch is one write(2) of whole
 * lines. A write cut short (full disk) keeps the whole lines written and
 * removes the partial one, or, when it cannot (a pipe), starts the next
 * batch with a newline: a half line is never glued to the next event.
 * Returns the number of lines not written whole (lost; 0 on success), and
 * sets *escaped to the number written whole with a field jansson refused,
 * escaped and named in "escaped_fields". */
uint64_t jsonl_write(struct jsonl *j, const struct record *list,
    uint64_t *escaped);

/* Reopens the file after log rotation. Returns 0, or -1 with err (the old
 * file stays in use). */
int jsonl_reopen(struct jsonl *j, char *err, size_t errlen);

/* Formats one record as a JSON object without a newline. Every string is
 * valid UTF-8 whatever the peer sent. Returns a string the caller frees, or
 * NULL when memory runs out. */
char *jsonl_format(const struct record *r, const char *sensor);

/* Closes the file. NULL is allowed. */
void jsonl_close(struct jsonl *j);

#endif
