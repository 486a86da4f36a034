/* rule_lint.c - unbounded repetitions in rule files' regexes (rule_lint.h).
 * One pass over the source with a small state machine: outside rules'
 * strings and comments it tracks the words `rule NAME` and the last token,
 * and reads a `/.../` as a regex where one may stand (after `=`, as in
 * `$a = /x/`, or after `matches`); YARA divides with `\`, so any other
 * `/` is a typo the compiler reports. */
#include "rule_lint.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "text.h"

/* The regex starting after the '/' at text[i]: its end (the index of its
 * closing '/', or len) and whether it repeats without bound. */
static size_t rule_lint_regex(const char *text, size_t i, size_t len, bool *unbounded)
{
	bool in_class = false;

	*unbounded = false;
	for (; i < len && text[i] != '\n'; i++) {
		char c = text[i];
		if (c == '\\') {
			i++;
		} else if (in_class) {
			if (c == ']')
				in_class = false;
		} else if (c == '[') {
			in_class = true;
			/* "[]" and "[^]" open with a literal ']' */
			if (i + 1 < len && text[i + 1] == '^')
				i++;
			if (i + 1 < len && text[i + 1] == ']')
				i++;
		} else if (c == '/') {
			return i;
		} else if (c == '*' || c == '+') {
			*unbounded = true;
		} else if (c == '{') {
			size_t k = i + 1;
			while (k < len && isdigit((unsigned char)text[k]))
				k++;
			if (k > i + 1 && k + 1 < len && text[k] == ',' && text[k + 1] == '}')
				*unbounded = true;
		}
	}
	/* A '\\' as the text's last byte stepped one past its end. */
	return i < len ? i : len;
}

static bool rule_lint_word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

int rule_lint_text(const char *text, size_t len, rule_lint_warn_fn *warn, void *arg)
{
	char rule[RULE_LINT_NAME_MAX] = "", word[RULE_LINT_NAME_MAX] = "";
	char last = 0;               /* the last token: a char, or 'w' a word */
	bool after_rule = false, warned = false;
	int rules = 0;

	for (size_t i = 0; i < len;) {
		char c = text[i];
		if (c == '/' && i + 1 < len && text[i + 1] == '/') {
			while (i < len && text[i] != '\n')
				i++;
		} else if (c == '/' && i + 1 < len && text[i + 1] == '*') {
			const char *end = memmem(text + i + 2, len - i - 2, "*/", 2);
			i = end ? (size_t)(end - text) + 2 : len;
		} else if (c == '"') {
			for (i++; i < len && text[i] != '"' && text[i] != '\n'; i++) {
				if (text[i] == '\\')
					i++;
			}
			i++;
			last = '"';
		} else if (c == '/' && (last == '=' || (last == 'w' && !strcmp(word, "matches")))) {
			bool unbounded;
			size_t end = rule_lint_regex(text, i + 1, len, &unbounded);
			if (unbounded && !warned) {
				char shown[RULE_LINT_SHOWN + 1];
				size_t n = end - i - 1 < RULE_LINT_SHOWN ? end - i - 1 : RULE_LINT_SHOWN;
				memcpy(shown, text + i + 1, n);
				shown[n] = '\0';
				warn(arg, rule, shown);
				warned = true;
				rules++;
			}
			i = end + 1;
			last = '/';
		} else if (rule_lint_word_char(c)) {
			size_t start = i, n;
			while (i < len && rule_lint_word_char(text[i]))
				i++;
			n = i - start < sizeof(word) - 1 ? i - start : sizeof(word) - 1;
			memcpy(word, text + start, n);
			word[n] = '\0';
			if (after_rule) {
				snprintf(rule, sizeof(rule), "%s", word);
				warned = false;
			}
			after_rule = !strcmp(word, "rule");
			last = 'w';
		} else {
			if (!isspace((unsigned char)c))
				last = c;
			i++;
		}
	}
	return rules;
}

struct rule_lint_log {
	const char *path;
};

static void rule_lint_log_warn(void *arg, const char *rule, const char *regex)
{
	const struct rule_lint_log *l = arg;
	char shown[RULE_LINT_SHOWN * 4 + 1];

	/* The source is the operator's, but a name may hold any byte. */
	text_display_into(regex, strlen(regex), shown, sizeof(shown));
	log_warn("rules: %s: rule %s: the regex /%s/ repeats without bound (*, + or {n,}): "
	    "bound it, e.g. {0,64}; until then --classify-budget caps its cost", l->path,
	    rule[0] ? rule : "?", shown);
}

int rule_lint_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct stat sb;
	char *text = NULL;
	size_t len = 0;
	int n;
	struct rule_lint_log l = {.path = path};

	if (!f)
		return 0;
	if (fstat(fileno(f), &sb) == 0 && sb.st_size > 0) {
		size_t size = sb.st_size < RULE_LINT_FILE_MAX ? (size_t)sb.st_size : RULE_LINT_FILE_MAX;
		text = malloc(size);
		len = text ? fread(text, 1, size, f) : 0;
	}
	fclose(f);
	n = text ? rule_lint_text(text, len, rule_lint_log_warn, &l) : 0;
	free(text);
	return n;
}
