/* scanner_lists.c - the Core Rule Set's scanner and crawler lists as YARA
 * rules. A list file is one phrase per line, '#' comments (often naming
 * the tool's home page) and blank lines between blocks; CRS matches each
 * phrase as a case-insensitive substring (@pmFromFile, t:lowercase). The
 * files are root's, from a package, but an entry still reaches a rule
 * only as an escaped string literal. */
#include "scanner_lists.h"

#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "family.h"

/* The list files, what each is matched against, the kind of family it
 * names and how: by name, or as "spider" whatever the crawler. */
static const struct scanner_list {
	const char *file;
	const char *field;           /* the external variable (classify.c) */
	const char *kind;
	const char *tag;             /* the rule names' infix */
	bool spider;                 /* every entry is family "spider" */
	bool alias_only;             /* entries off the alias table name no one */
	bool raw_first;              /* the field is read only when the raw bytes hold the entry */
} scanner_lists[] = {
	{"scanners-user-agents.data", "http_ua", "tool", "ua", false, false, true},
	{"crawlers-user-agents.data", "http_ua", "crawler", "crawler", true, false, true},
	{"scanners-headers.data", "http_headers", "tool", "header", false, true, true},
	{"scanners-urls.data", "http_target", "tool", "url", false, true, false},
};

/* Entries whose tool has another name than the entry, and generic entries
 * ("") that any client could send: they match, but name no family. Keys
 * are lowercase; CRS 3.3 and 4 spellings both. */
static const struct {
	const char *entry;
	const char *name;
} scanner_aliases[] = {
	{"nmap nse", "nmap"}, {"nmap scripting engine", "nmap"}, {"nmap-nse", "nmap"},
	{"nmap", "nmap"},
	{"fuzz faster u fool", "ffuf"}, {"fuzz faster", "ffuf"},
	{"(hydra)", "hydra"}, {"mozilla/4.0 (hydra)", "hydra"},
	{"w3af.sf.net", "w3af"}, {"w3af.sourceforge.net", "w3af"}, {"w3af.org", "w3af"},
	{"brutus/aet", "brutus"}, {"teh forest lobster", "medusa"}, {".nasl", "nessus"},
	{"black widow", "blackwidow"}, {"blackwidow", "blackwidow"},
	{"qualys was", "qualys"}, {"libwhisker", "nikto"},
	{"toata dragostea", "toata-dragostea"},
	{"toata dragostea mea pentru diavola", "toata-dragostea"},
	{"morfeus fucking scanner", "morfeus"},
	/* scanners-urls.data: the markers a scanner puts in its paths */
	{"/nessustest", "nessus"}, {"/nessus_is_probing_you_", "nessus"},
	{"/acunetix-wvs-test-for-some-inexistent-file", "acunetix"},
	{"/w3af/remotefileinclude.html", "w3af"}, {"/rfiinc.txt", "nikto"},
	{"w00tw00t.at.isc.sans.dfind", "dfind"}, {"/arachni-", "arachni"},
	{"/netsparker-", "netsparker"}, {"/appscan_fingerprint/mac_address", "appscan"},
	{"appscan_fingerprint", "appscan"}, {"/cybercop", "cybercop"},
	/* scanners-headers.data */
	{"acunetix-product", "acunetix"}, {"(acunetix web vulnerability scanner", "acunetix"},
	{"acunetix-scanning-agreement", "acunetix"}, {"acunetix-user-agreement", "acunetix"},
	{"x-ratproxy-loop", "ratproxy"},
	{"bytes=0-,5-0,5-1,5-2,5-3,5-4,5-5,5-6,5-7,5-8,5-9,5-10,5-11,5-12,5-13,5-14",
	    "apache-killer"},
	/* generic: a doubled "User-Agent: User-Agent:" is any careless script */
	{"user-agent:", ""}, {"useragent", ""}, {"security scan", ""},
	{"this is an exploit", ""}, {"email extractor", ""}, {"advanced email extractor", ""},
	{"get-minimal", ""}, {"grabber", ""}, {"floodgate", ""}, {"autogetcontent", ""},
	{"internet ninja", ""},
};

/* NULL when entry (lowercased) is not in the alias table. */
static const char *scanner_lists_alias(const char *entry)
{
	char low[SCANNER_LISTS_ENTRY_MAX + 1];
	size_t n = 0;

	for (; entry[n] && n < SCANNER_LISTS_ENTRY_MAX; n++)
		low[n] = (char)(entry[n] >= 'A' && entry[n] <= 'Z' ? entry[n] - 'A' + 'a' : entry[n]);
	low[n] = '\0';
	for (size_t i = 0; i < sizeof(scanner_aliases) / sizeof(scanner_aliases[0]); i++)
		if (strcmp(low, scanner_aliases[i].entry) == 0)
			return scanner_aliases[i].name;
	return NULL;
}

void scanner_lists_name(const char *entry, const char *repo, char *out, size_t outlen)
{
	const char *alias = scanner_lists_alias(entry);
	char raw[SCANNER_LISTS_ENTRY_MAX + 1];
	size_t n = 0, len;

	if (alias) {
		family_name_clean(alias, out, outlen);
		return;
	}
	if (repo && family_name_clean(repo, out, outlen) > 0)
		return;
	/* "arachni/" gives arachni, "sql power injector" sql-power-injector */
	for (const char *p = entry; *p && *p != '/' && n < SCANNER_LISTS_ENTRY_MAX; p++)
		raw[n++] = *p == ' ' ? '-' : *p;
	raw[n] = '\0';
	len = family_name_clean(raw, out, outlen);
	while (len > 0 && out[len - 1] == '-')
		out[--len] = '\0';
	if (out[0] == '-')
		memmove(out, out + 1, len);
}

/* Writes s as the body of a YARA text string: printable ASCII as is
 * but for '"' and '\', anything else as \xHH. */
static void scanner_lists_literal(FILE *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\' || *p < 0x20 || *p > 0x7e)
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
}

/* The repository of a "github.com/OWNER/REPO" in a comment line, into
 * repo (replaced only when the line names one). */
static void scanner_lists_comment(const char *line, char *repo, size_t repolen)
{
	const char *p = strstr(line, "github.com/"), *r;
	size_t n;

	if (!p || !(r = strchr(p + 11, '/')))
		return;
	r++;
	n = strcspn(r, "/ \t#?");
	if (n == 0 || n >= repolen)
		return;
	memcpy(repo, r, n);
	repo[n] = '\0';
}

/* One rule for one entry. index keeps rule names unique. */
static void scanner_lists_rule(FILE *out, const struct scanner_list *l, int index,
    int line, const char *entry, const char *repo)
{
	char name[FAMILY_NAME_MAX], ident[FAMILY_NAME_MAX], tag[FAMILY_NAME_MAX + 1];

	if (l->spider)
		snprintf(name, sizeof(name), "spider");
	else if (l->alias_only && !scanner_lists_alias(entry))
		name[0] = '\0';
	else
		scanner_lists_name(entry, repo, name, sizeof(name));
	/* the identifier: crs_ua_12_sqlmap; a crawler's or a generic
	 * entry's own name (crs_crawler_3_ahrefsbot) */
	if (name[0] && !l->spider)
		snprintf(ident, sizeof(ident), "%s", name);
	else
		scanner_lists_name(entry, NULL, ident, sizeof(ident));
	for (char *p = ident; *p; p++)
		if (*p == '-')
			*p = '_';
	/* Tags as the shipped rules have them, the family first ('_' for
	 * '-'), for readers of matches.tags; a generic entry has none. */
	snprintf(tag, sizeof(tag), "%s%s", name[0] >= '0' && name[0] <= '9' ? "_" : "", name);
	for (char *p = tag; *p; p++)
		if (*p == '-')
			*p = '_';
	fprintf(out, "rule crs_%s_%d%s%s%s%s%s%s\n{\n    meta:\n        family = \"%s\"\n"
	    "        kind = \"%s\"\n        source = \"%s:%d\"\n", l->tag, index,
	    ident[0] ? "_" : "", ident, name[0] ? " : " : "", tag, name[0] ? " crs " : "",
	    name[0] ? l->kind : "", name, l->kind, l->file, line);
	/* A field's condition is evaluated for every payload; the same
	 * words as a string are found by YARA's one pass over the raw bytes,
	 * so the field is read only when they are there. Targets are often
	 * encoded: the URL list reads its field always (few entries). */
	if (l->raw_first) {
		fprintf(out, "    strings:\n        $s = \"");
		scanner_lists_literal(out, entry);
		fprintf(out, "\" nocase\n    condition:\n        $s and %s icontains \"", l->field);
	} else {
		fprintf(out, "    condition:\n        %s icontains \"", l->field);
	}
	scanner_lists_literal(out, entry);
	fprintf(out, "\"\n}\n");
}

/* Rules for each entry of one list file. 0 when the file is not there. */
static int scanner_lists_file(const char *dir, const struct scanner_list *l, FILE *out)
{
	char path[4096], line[SCANNER_LISTS_LINE_MAX], repo[64] = "";
	int lineno = 0, entries = 0;
	bool after_entry = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, l->file);
	if (!(f = fopen(path, "r")))
		return 0;
	fprintf(out, "/* generated from %s */\n", path);
	while (fgets(line, sizeof(line), f) && entries < SCANNER_LISTS_ENTRIES) {
		size_t len = strlen(line);
		lineno++;
		if (len && line[len - 1] != '\n' && !feof(f)) {
			int ch;              /* too long: skip the rest of it */
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
			continue;
		}
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0) {
			repo[0] = '\0';      /* a blank line ends a block */
			after_entry = false;
			continue;
		}
		if (line[0] == '#') {
			if (after_entry)     /* a comment after entries starts the next */
				repo[0] = '\0';
			after_entry = false;
			scanner_lists_comment(line, repo, sizeof(repo));
			continue;
		}
		after_entry = true;
		if (len > SCANNER_LISTS_ENTRY_MAX)
			continue;
		scanner_lists_rule(out, l, entries++, lineno, line, repo[0] ? repo : NULL);
	}
	fclose(f);
	return 1;
}

int scanner_lists_rules(const char *dir, FILE *out)
{
	int files = 0;

	for (size_t i = 0; i < sizeof(scanner_lists) / sizeof(scanner_lists[0]); i++)
		files += scanner_lists_file(dir, &scanner_lists[i], out);
	return files;
}

void scanner_lists_key(const char *dir, FILE *key)
{
	for (size_t i = 0; i < sizeof(scanner_lists) / sizeof(scanner_lists[0]); i++) {
		char path[4096];
		struct stat sb;
		snprintf(path, sizeof(path), "%s/%s", dir, scanner_lists[i].file);
		if (stat(path, &sb) == 0)
			fprintf(key, "%s %lld %lld.%09ld;", path, (long long)sb.st_size,
			    (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
	}
}
