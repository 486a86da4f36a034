/* rule_lint.c - unit tests of the rule lint (src/output/rule_lint.c): a
 * regex with an unbounded repetition warns once, naming its rule; bounded
 * ones, escaped or class-held quantifiers, and look-alikes in comments and
 * quoted strings do not; the shipped rules (rules/NAME.yar, read from the checkout's
 * root, where build/unit runs) warn of nothing. Run from unit.c's main
 * through test_rule_lint. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rule_lint.h"

void test_rule_lint(int *passed, int *failed);

static int *rl_passed, *rl_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*rl_passed)++;                                    \
		} else {                                                   \
			(*rl_failed)++;                                    \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

/* The warnings, as "rule:regex;" each. */
struct rl_seen {
	char text[1024];
};

static void rl_warn(void *arg, const char *rule, const char *regex)
{
	struct rl_seen *s = arg;
	size_t n = strlen(s->text);

	snprintf(s->text + n, sizeof(s->text) - n, "%s:%s;", rule, regex);
}

static const struct {
	const char *source, *want;
} rl_cases[] = {
	{"rule r1 { strings: $a = /a[^\\r\\n]*b/ condition: $a }", "r1:a[^\\r\\n]*b;"},
	{"rule r2 { strings: $a = /a[^\\r\\n]{0,64}b/ condition: $a }", ""},
	{"rule r3 { strings: $a = /ab+/ nocase condition: $a }", "r3:ab+;"},
	{"rule r4 { strings: $a = /x{2,}/ condition: $a }", "r4:x{2,};"},
	{"rule r5 { strings: $a = /x{2,5}y{3}/ condition: $a }", ""},
	/* escaped, or inside a class, a quantifier is a literal */
	{"rule r6 { strings: $a = /\\*\\+[*+]\\/x/ condition: $a }", ""},
	{"rule r7 { strings: $a = /[]*]a/ condition: $a }", ""},
	{"rule r8 { strings: $a = /[^]+]a/ condition: $a }", ""},
	/* look-alikes in comments, quoted strings and meta */
	{"// $a = /.*/\nrule r9 { meta: n = \"= /.*/\" strings: $a = \"/a*/\" /* = /x+/ */ "
	 "condition: $a }", ""},
	/* in a condition: after matches */
	{"rule r10 { condition: http_ua matches /bot.*/ }", "r10:bot.*;"},
	{"rule r11 { condition: http_ua matches /bot.{0,9}/ }", ""},
	/* once a rule, each rule named; the name of a private rule */
	{"rule r12 { strings: $a = /a*/ $b = /b+/ condition: any of them }\n"
	 "private rule r13 : t { strings: $a = /c+/ condition: $a }", "r12:a*;r13:c+;"},
	/* a regex left open ends at its line */
	{"rule r14 { strings: $a = /abc\n condition: $a }", ""},
	{"", ""},
};

static void rl_shipped(void)
{
	DIR *d = opendir("rules");
	struct dirent *e;
	int files = 0;

	CHECK(d != NULL, "the shipped rules (run build/unit from the checkout's root)");
	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		char path[512], *text;
		FILE *f;
		if (len < 5 || strcmp(e->d_name + len - 4, ".yar") != 0)
			continue;
		snprintf(path, sizeof(path), "rules/%s", e->d_name);
		f = fopen(path, "rb");
		text = malloc(1 << 20);
		if (!f || !text) {
			CHECK(0, "%s: cannot read", path);
			if (f)
				fclose(f);
			free(text);
			continue;
		}
		size_t n = fread(text, 1, 1 << 20, f);
		fclose(f);
		struct rl_seen seen = {""};
		CHECK(rule_lint_text(text, n, rl_warn, &seen) == 0 && seen.text[0] == '\0',
		    "%s warns: %s", path, seen.text);
		free(text);
		files++;
	}
	closedir(d);
	CHECK(files >= 5, "%d rule files", files);
}

void test_rule_lint(int *passed, int *failed)
{
	rl_passed = passed;
	rl_failed = failed;
	for (size_t i = 0; i < sizeof(rl_cases) / sizeof(rl_cases[0]); i++) {
		struct rl_seen seen = {""};
		int n = rule_lint_text(rl_cases[i].source, strlen(rl_cases[i].source), rl_warn, &seen);
		int want = 0;
		for (const char *p = rl_cases[i].want; *p; p++)
			want += *p == ';';
		CHECK(n == want && strcmp(seen.text, rl_cases[i].want) == 0,
		    "case %zu: %d warnings \"%s\", want \"%s\"", i, n, seen.text, rl_cases[i].want);
	}
	/* A file that ends inside a regex on a backslash: nothing is read past
	 * its last byte (the text is copied to a buffer of its exact size, so
	 * ASan sees any byte beyond). */
	static const char tail[] = "rule r15 { strings: $a = /abc*\\";
	char *exact = malloc(sizeof(tail) - 1);
	if (exact) {
		struct rl_seen seen = {""};
		memcpy(exact, tail, sizeof(tail) - 1);
		int n = rule_lint_text(exact, sizeof(tail) - 1, rl_warn, &seen);
		CHECK(n == 1 && strcmp(seen.text, "r15:abc*\\;") == 0,
		    "a regex cut at the end of the file: %d \"%s\"", n, seen.text);
		free(exact);
	}
	rl_shipped();
	/* the file form: a rule file that warns, and one that is missing */
	char path[] = "/tmp/flypaper-lint-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0, "a temporary file");
	if (fd < 0)
		return;
	FILE *f = fdopen(fd, "w");
	fputs(rl_cases[0].source, f);
	fclose(f);
	CHECK(rule_lint_file(path) == 1, "the file warns of its rule");
	unlink(path);
	CHECK(rule_lint_file(path) == 0, "a missing file: the compiler says so");
}
