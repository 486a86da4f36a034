/* families.c - unit tests of the family seam: the precedence between
 * matched rules' families (family.c), the names the CRS scanner lists
 * give (scanner_lists.c), and classify choosing one family over rules
 * written here and lists written to a scratch folder. Run from unit.c's
 * main through test_families. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "classify.h"
#include "family.h"
#include "scanner_lists.h"

void test_families(int *passed, int *failed);

static int *fam_passed, *fam_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*fam_passed)++;                                   \
		} else {                                                   \
			(*fam_failed)++;                                   \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

/* Offers in order, the family that stays. */
static void test_family_precedence(void)
{
	static const struct {
		const char *offers[4][2];    /* name, kind word */
		const char *want;
	} cases[] = {
		{{{"struts2", "exploit"}, {"nikto", "tool"}}, "nikto"},
		{{{"nikto", "tool"}, {"struts2", "exploit"}}, "nikto"},
		{{{"spider", "crawler"}, {"log4shell", "exploit"}}, "log4shell"},
		{{{"log4shell", "exploit"}, {"mirai", "botnet"}}, "mirai"},
		{{{"nmap", "tool"}, {"nimda", "worm"}, {"mirai", "botnet"}}, "nimda"},
		{{{"secrets", "probe"}, {"research", "research"}}, "research"},
		{{{"research", "research"}, {"zgrab", "tool"}}, "zgrab"},
		{{{"secrets", "probe"}, {"spider", "crawler"}}, "spider"},
		{{{"nmap", "tool"}, {"nikto", "tool"}}, "nmap"},       /* ties: the first */
		{{{"nmap", "scanner"}, {"nikto", "tool"}}, "nmap"},    /* older rules' tag */
		{{{"odd", "whatever"}, {"secrets", "probe"}}, "odd"},  /* unknown kind: a probe */
		{{{"", "worm"}, {"secrets", "probe"}}, "secrets"},     /* no name, no family */
		{{{"Hadoop_YARN", "exploit"}}, "hadoop-yarn"},
		{{{"$%&", "tool"}, {"x", "probe"}}, "x"},              /* nothing left of it */
		{{{NULL}}, ""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct family_pick p = {0};
		for (int k = 0; k < 4 && cases[i].offers[k][0]; k++)
			family_pick_offer(&p, cases[i].offers[k][0],
			    family_kind_of(cases[i].offers[k][1]));
		CHECK(strcmp(p.name, cases[i].want) == 0, "case %zu: got '%s' want '%s'",
		    i, p.name, cases[i].want);
	}
	CHECK(family_kind_of("worm") > family_kind_of("botnet") &&
	    family_kind_of("botnet") > family_kind_of("tool") &&
	    family_kind_of("tool") > family_kind_of("research") &&
	    family_kind_of("research") > family_kind_of("exploit") &&
	    family_kind_of("exploit") > family_kind_of("crawler") &&
	    family_kind_of("crawler") > family_kind_of("probe") &&
	    family_kind_of(NULL) == FAMILY_KIND_PROBE, "the documented order");
}

static void test_family_name_clean(void)
{
	char out[FAMILY_NAME_MAX];

	CHECK(family_name_clean("Nikto", out, sizeof(out)) == 5 && strcmp(out, "nikto") == 0, "%s", out);
	CHECK(family_name_clean("hadoop_yarn", out, sizeof(out)) == 11 &&
	    strcmp(out, "hadoop-yarn") == 0, "%s", out);
	CHECK(family_name_clean("a\"b\\c\n<d>\xff", out, sizeof(out)) == 4 &&
	    strcmp(out, "abcd") == 0, "only [a-z0-9-]: %s", out);
	CHECK(family_name_clean("0123456789012345678901234567890123456789", out, sizeof(out)) ==
	    FAMILY_NAME_MAX - 1 && strlen(out) == FAMILY_NAME_MAX - 1, "capped: %s", out);
	CHECK(family_name_clean(NULL, out, sizeof(out)) == 0 && out[0] == '\0', "NULL");
}

/* The name each CRS entry gives. */
static void test_scanner_names(void)
{
	static const struct {
		const char *entry, *repo, *want;
	} cases[] = {
		{"Fuzz Faster U Fool", NULL, "ffuf"},
		{"nmap scripting engine", NULL, "nmap"},
		{"Nmap NSE", NULL, "nmap"},
		{"teh forest lobster", NULL, "medusa"},
		{".nasl", NULL, "nessus"},
		{"/rfiinc.txt", NULL, "nikto"},
		{"user-agent:", NULL, ""},             /* generic: no one */
		{"security scan", "x", ""},
		{"Nuclei", "nuclei", "nuclei"},        /* the comment's repository */
		{"BFAC", "bfac", "bfac"},
		{"arachni/", NULL, "arachni"},
		{"vega/", NULL, "vega"},
		{"WPScan", NULL, "wpscan"},
		{"sql power injector", NULL, "sql-power-injector"},
		{"fhscan core 1.", NULL, "fhscan-core-1"},
		{"s.t.a.l.k.e.r.", NULL, "stalker"},
		{"core-project/1.0", NULL, "core-project"},
		{"(\"evil\\ \n", NULL, "evil"},
	};
	char out[FAMILY_NAME_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		scanner_lists_name(cases[i].entry, cases[i].repo, out, sizeof(out));
		CHECK(strcmp(out, cases[i].want) == 0, "%s: got '%s' want '%s'",
		    cases[i].entry, out, cases[i].want);
	}
}

static void test_write(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* The generated rules: one per entry, each entry a safe literal, comments
 * naming the repository, generic entries with an empty family. */
static void test_scanner_rules_text(const char *dir)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int files;

	if (!f)
		return;
	files = scanner_lists_rules(dir, f);
	fclose(f);
	CHECK(files == 2, "two lists there: %d", files);
	CHECK(strstr(text, "family = \"gobuster\"") && strstr(text, "http_ua icontains \"gobuster\""),
	    "the repository names it: %s", text);
	CHECK(strstr(text, "family = \"\"") && strstr(text, "icontains \"user-agent:\""),
	    "a generic entry names no one");
	CHECK(strstr(text, "icontains \"a\\x22b\\x5cc\"") != NULL,
	    "quote and backslash escaped: %s", text);
	CHECK(strstr(text, "family = \"spider\"") && strstr(text, "kind = \"crawler\""),
	    "crawlers are spiders");
	CHECK(strstr(text, "toolong") == NULL, "an entry over the cap is skipped");
	CHECK(strstr(text, "source = \"scanners-user-agents.data:4\"") != NULL, "file:line");
	free(text);
	text = NULL;
	f = open_memstream(&text, &len);
	if (!f)
		return;
	CHECK(scanner_lists_rules("/nonexistent-flypaper", f) == 0, "no lists, no rules");
	fclose(f);
	CHECK(len == 0, "nothing written: %zu", len);
	free(text);
}

/* One scan's family over rules written here and the scratch lists. */
static const char *test_scan_family(struct classify *c, const char *payload)
{
	static struct classify_result res;

	if (classify_scan(c, (const unsigned char *)payload, strlen(payload), &res) < 0)
		return "(failed)";
	return res.family;
}

static void test_classify_family(const char *dir)
{
	char rules[512], err[512];
	struct classify *c;

	snprintf(rules, sizeof(rules), "%s/r.yar", dir);
	/* CLASSIFY_MAX_MATCHES rules match "many" before the one that names
	 * its family: that one is not kept, but still chooses. */
	char text[8192];
	size_t n = (size_t)snprintf(text, sizeof(text),
	    "rule struts : struts2 exploit { meta: family = \"struts2\" kind = \"exploit\"\n"
	    "  strings: $a = \"#_memberAccess\" condition: $a }\n"
	    "rule old_style : spider crawler { strings: $a = \"bot/\" condition: $a }\n"
	    "rule generic : probe { meta: family = \"\" strings: $a = \"GET /\" condition: $a at 0 }\n"
	    "rule tech : sqli { meta: technique = \"sqli\" strings: $a = \"UNION\" condition: $a }\n");
	for (int i = 0; i < CLASSIFY_MAX_MATCHES && n < sizeof(text); i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "rule many%d { strings: $a = \"many\" condition: $a }\n", i);
	if (n < sizeof(text))
		snprintf(text + n, sizeof(text) - n,
		    "rule late : latefam worm { meta: family = \"latefam\" kind = \"worm\"\n"
		    "  strings: $a = \"many\" condition: $a }\n");
	test_write(dir, "r.yar", text);
	classify_test_set_lists_dir(dir);
	c = classify_open(rules, NULL, err, sizeof(err));
	CHECK(c != NULL, "compiles with the lists: %s", err);
	if (c) {
		CHECK(strcmp(test_scan_family(c, "GET / HTTP/1.0\r\n\r\n"), "") == 0,
		    "a generic rule names no one");
		CHECK(strcmp(test_scan_family(c, "GET /x?#_memberAccess HTTP/1.0\r\n\r\n"),
		    "struts2") == 0, "meta family");
		CHECK(strcmp(test_scan_family(c, "GET /x?bot/ HTTP/1.0\r\n\r\n"), "spider") == 0,
		    "an older rule's first tag");
		CHECK(strcmp(test_scan_family(c, "GET /?UNION HTTP/1.0\r\n\r\n"), "") == 0,
		    "a technique rule is no family");
		struct classify_result res;
		CHECK(classify_scan(c, (const unsigned char *)"many", 4, &res) == CLASSIFY_MAX_MATCHES &&
		    strcmp(res.family, "latefam") == 0,
		    "a rule past the kept matches still has its say: %d %s", res.n, res.family);
		classify_close(c);
	}
	test_write(dir, "scanners-user-agents.data", "weird\"\\entry\n");
	c = classify_open(rules, NULL, err, sizeof(err));
	CHECK(c != NULL, "any entry compiles as a literal: %s", err);
	classify_close(c);
	classify_test_set_lists_dir("/nonexistent-flypaper");
	c = classify_open(rules, NULL, err, sizeof(err));
	CHECK(c != NULL, "no lists are fine: %s", err);
	classify_close(c);
	classify_test_set_lists_dir(NULL);
}

/* The cache key changes when a list does. */
static void test_scanner_key(const char *dir)
{
	char *a = NULL, *b = NULL;
	size_t la = 0, lb = 0;
	FILE *f;

	if (!(f = open_memstream(&a, &la)))
		return;
	scanner_lists_key(dir, f);
	fclose(f);
	test_write(dir, "crawlers-user-agents.data", "AhrefsBot\nMJ12bot\nanother\n");
	if (!(f = open_memstream(&b, &lb))) {
		free(a);
		return;
	}
	scanner_lists_key(dir, f);
	fclose(f);
	CHECK(la > 0 && strcmp(a, b) != 0, "the key follows the lists: %s / %s", a, b);
	free(a);
	free(b);
}

void test_families(int *passed, int *failed)
{
	char dir[] = "/tmp/flypaper-families-XXXXXX";

	fam_passed = passed;
	fam_failed = failed;
	test_family_precedence();
	test_family_name_clean();
	test_scanner_names();
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp");
		return;
	}
	test_write(dir, "scanners-user-agents.data",
	    "# Scanner that looks for existing or hidden web objects\n"
	    "# https://github.com/OJ/gobuster\n"
	    "gobuster\n"
	    "a\"b\\c\n"
	    "# badly scripted UAs\n"
	    "user-agent:\n"
	    "toolong-toolong-toolong-toolong-toolong-toolong-toolong-toolong-toolong-"
	    "toolong-toolong-toolong-toolong-toolong-toolong-toolong-toolong-toolong\n");
	test_write(dir, "crawlers-user-agents.data", "# SEO\nAhrefsBot\n");
	test_scanner_rules_text(dir);
	test_scanner_key(dir);
	test_classify_family(dir);
	static const char *const names[] = {"scanners-user-agents.data",
	    "crawlers-user-agents.data", "r.yar"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}
