/* rule_lint.h - a look at a YARA rule file's source for regular
 * expressions whose repetitions are unbounded (`*`, `+`, `{n,}`): on a
 * peer's bytes such a regex can cost time out of proportion to its length.
 * Reading the source, not the compiled rules, keeps it apart from
 * libyara's internals; it knows just enough of the syntax (comments,
 * quoted strings, rule names, regex literals after `=` or `matches`) to
 * find them. */
#ifndef FLYPAPER_RULE_LINT_H
#define FLYPAPER_RULE_LINT_H

#include <stddef.h>

#define RULE_LINT_FILE_MAX (16 << 20)    /* bytes of a rule file looked at */
#define RULE_LINT_NAME_MAX 128           /* bytes of a rule's name kept */

/* Called once per rule with an unbounded regex: the rule's name ("" before
 * any rule) and the first such regex, both NUL-terminated and cut (the
 * regex to RULE_LINT_SHOWN bytes). */
#define RULE_LINT_SHOWN 80
typedef void rule_lint_warn_fn(void *arg, const char *rule, const char *regex);

/* Looks at len bytes of a rule file's source and calls warn once for each
 * rule with a regex literal holding an unbounded repetition outside a
 * character class and not escaped. Returns how many rules it warned of. */
int rule_lint_text(const char *text, size_t len, rule_lint_warn_fn *warn, void *arg);

/* rule_lint_text over the file at path, warning through log_warn (naming
 * the file and the rule). A file it cannot read is left to the compiler to
 * report. Returns how many rules it warned of. */
int rule_lint_file(const char *path);

#endif
