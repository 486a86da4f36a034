/* outputs.h - the one place that opens the outputs, for serve and inetd
 * alike: every sink the configuration asks for, the rules, the writer. */
#ifndef FLYPAPER_OUTPUTS_H
#define FLYPAPER_OUTPUTS_H

#include <stddef.h>

#include "classify.h"
#include "config.h"
#include "record.h"
#include "writer.h"

struct p0fdb;

#define OUTPUTS_ERR_LEN (4096 + CONFIG_ERR_LEN) /* a path and a message */

/* Compiles cfg's rules, with the compiled cache next to the database when
 * no one but the effective user can have written it (classify_open): for
 * serve, as root before the drop, since the rule files may be root's.
 * Returns 0 with the rules in *rules (NULL for "none"), or -1 with
 * "rules: ..." in err. */
int outputs_compile_rules(const struct config *cfg, struct classify **rules,
    char *err, size_t errlen);

/* Opens, as the effective user (after the drop), every sink cfg asks for
 * (the table in outputs.c) and sets up w over them for a daemon of mode,
 * with its classifier. rules: compiled already (serve; w owns them from
 * here on), or NULL: with cfg's rules NULL (an inetd child not given
 * --rules) nothing is classified and payloads are stored 'pending' for
 * `rescan`; otherwise libyara is loaded now and cfg's rules compiled at
 * the first payload (an inetd child that records a silent peer never
 * compiles them). p0f: from outputs_load_p0f, or NULL (w owns it from
 * here on, even on failure). Returns 0, or -1 with a message naming the problem in
 * err (the caller exits 2; what was opened is closed). */
int outputs_open(struct writer *w, const struct config *cfg, enum record_mode mode,
    struct classify *rules, struct p0fdb *p0f, char *err, size_t errlen);

/* Reads cfg's p0f database for a daemon of mode (serve only, and only
 * with SYN fingerprints on; else *db = NULL), as the effective user and
 * before a chroot can hide /etc/p0f: outputs_open takes it (p0f). A
 * missing default file is a warning and *db NULL. Returns 0, or -1 with a
 * message naming the problem (the caller exits 2). */
int outputs_load_p0f(const struct config *cfg, enum record_mode mode,
    struct p0fdb **db, char *err, size_t errlen);

/* Does, as the effective user and before a chroot, what a sink cannot do
 * inside it: the syslog sink resolves its server's name and connects its
 * Unix or UDP socket (/dev/log is outside the chroot; the resolver's
 * files too), the NATS sink resolves its servers' names (nothing
 * resolves once confined). outputs_open then takes what they made. Returns 0, or -1
 * with a message naming the problem (the caller exits 2). */
int outputs_before_chroot(const struct config *cfg, char *err, size_t errlen);

#endif
