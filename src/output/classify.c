/* classify.c - payload families with YARA (libyara, loaded by yara_api.c):
 * compile the rule files once, scan a payload within a time budget. The
 * classifier thread (classifier.c) calls it and remembers results by
 * digest. */
#include "classify.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yara.h>

#include "family.h"
#include "log.h"
#include "normalize.h"
#include "rule_lint.h"
#include "scanner_lists.h"
#include "state.h"
#include "yara_api.h"                /* after yara.h: yr_* through dlopen */

struct classify {
	YR_RULES *rules;
	YR_SCANNER *scanner;         /* reused: holds the per-scan http_* values */
	struct normalize *norm;      /* the fields of the payload being scanned */
	uint64_t budget_ns;          /* per scan */
};

/* What the match callback fills: the result, and the technique tags
 * seen before they are sorted into out->tags. */
struct classify_scan_state {
	struct classify_result *out;
	int ntech;
	const char *tech[CLASSIFY_TECHNIQUES_MAX];
	struct family_pick pick;     /* the family chosen so far */
};

static int classify_users;           /* yr_initialize/yr_finalize pairs */
/* Where the Core Rule Set's scanner lists are (scanner_lists.h); the unit
 * tests point it elsewhere. */
static const char *classify_lists_dir = FLYPAPER_CRS_DIR;

struct classify_compile_state {
	char *err;
	size_t errlen;
	int errors;
};

static void classify_on_compile_error(int level, const char *file, int line,
    const YR_RULE *rule, const char *message, void *user)
{
	struct classify_compile_state *st = user;

	(void)rule;
	if (level != YARA_ERROR_LEVEL_ERROR || st->errors++)
		return;
	snprintf(st->err, st->errlen, "%s:%d: %s", file ? file : "?", line, message);
}

static int classify_add_file(YR_COMPILER *comp, const char *path,
    struct classify_compile_state *st)
{
	FILE *f = fopen(path, "r");

	if (!f) {
		snprintf(st->err, st->errlen, "%s: %s", path, strerror(errno));
		st->errors++;
		return -1;
	}
	yr_compiler_add_file(comp, f, NULL, path);
	fclose(f);
	rule_lint_file(path);
	return st->errors ? -1 : 0;
}

static int classify_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds a rule file, or every *.yar of a folder in name order. */
static int classify_add_path(YR_COMPILER *comp, const char *path,
    struct classify_compile_state *st, int *files)
{
	struct stat sb;
	DIR *d;
	struct dirent *e;
	char *names[512];
	int n = 0, rc = 0;

	if (stat(path, &sb) < 0) {
		snprintf(st->err, st->errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		(*files)++;
		return classify_add_file(comp, path, st);
	}
	d = opendir(path);
	if (!d) {
		snprintf(st->err, st->errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) && n < 512) {
		size_t len = strlen(e->d_name);
		if (len > 4 && strcmp(e->d_name + len - 4, ".yar") == 0)
			names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), classify_name_cmp);
	for (int i = 0; i < n; i++) {
		char full[4096];
		snprintf(full, sizeof(full), "%s/%s", path, names[i]);
		if (rc == 0 && names[i]) {
			(*files)++;
			rc = classify_add_file(comp, full, st);
		}
		free(names[i]);
	}
	return rc;
}

/* Adds the rules generated from the scanner lists (scanner_lists.h),
 * when the lists are there; when they are not, says so once. */
static int classify_add_lists(YR_COMPILER *comp, struct classify_compile_state *st)
{
	static bool told;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int files;

	if (!f) {
		snprintf(st->err, st->errlen, "out of memory");
		return -1;
	}
	files = scanner_lists_rules(classify_lists_dir, f);
	fclose(f);
	if (files == 0 && !told) {
		told = true;
		log_info("rules: no scanner lists in %s (the modsecurity-crs package): "
		    "only the rule files name scanners", classify_lists_dir);
	}
	if (files > 0 && yr_compiler_add_string(comp, text, NULL) != 0) {
		char why[256];
		snprintf(why, sizeof(why), "%s", st->err);
		snprintf(st->err, st->errlen, "rules generated from %s: %s",
		    classify_lists_dir, why);
	}
	free(text);
	return st->errors ? -1 : 0;
}

/* Appends "path size mtime;" for a rule file, or for every *.yar of a
 * folder, to the cache key. */
static void classify_key_path(FILE *key, const char *path)
{
	struct stat sb;
	DIR *d;
	struct dirent *e;

	if (stat(path, &sb) < 0)
		return;
	if (!S_ISDIR(sb.st_mode)) {
		fprintf(key, "%s %lld %lld.%09ld;", path, (long long)sb.st_size,
		    (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
		return;
	}
	fprintf(key, "%s %lld.%09ld/", path, (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
	if (!(d = opendir(path)))
		return;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		char full[4096];
		if (len > 4 && strcmp(e->d_name + len - 4, ".yar") == 0) {
			snprintf(full, sizeof(full), "%s/%s", path, e->d_name);
			classify_key_path(key, full);
		}
	}
	closedir(d);
}

/* What identifies a set of rule files as they are now: the libyara
 * version, the external variables (rules compiled without one cannot
 * take it), then each file's path, size and modification time, then the
 * scanner lists' (so a modsecurity-crs update recompiles). */
static char *classify_key(const char *paths)
{
	char *text = NULL, *list = strdup(paths), *save = NULL;
	size_t len = 0;
	FILE *key = open_memstream(&text, &len);

	if (!key || !list) {
		if (key)
			fclose(key);
		free(list);
		free(text);
		return NULL;
	}
	fprintf(key, "yara %s\nexternals", YR_VERSION);
	for (int f = 0; f < NORMALIZE_FIELDS; f++)
		fprintf(key, " %s", normalize_names[f]);
	fprintf(key, " http_nrequests\n");
	for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save))
		classify_key_path(key, p);
	scanner_lists_key(classify_lists_dir, key);
	fclose(key);
	free(list);
	return text;
}

/* libyara reads and writes compiled rules through stdio here, so that
 * the file it reads is the one opened and checked, not a path. */
static size_t classify_stream_read(void *ptr, size_t size, size_t count, void *f)
{
	return fread(ptr, size, count, f);
}

static size_t classify_stream_write(const void *ptr, size_t size, size_t count,
    void *f)
{
	return fwrite(ptr, size, count, f);
}

/* Loads compiled rules from cache when it starts with key. Loading
 * compiled rules can run code, so only a file that no one but the
 * effective user can have written is read: the user's own, one link,
 * never group- or other-writable, in a folder only the user and root can
 * change (state_open_dir). Anything else is ignored: compiling costs
 * only time. The file: the key, a NUL, then libyara's compiled rules. */
static YR_RULES *classify_cache_load(const char *cache, const char *key)
{
	char real[STATE_PATH_MAX], err[256], *stored;
	size_t len = strlen(key) + 1;
	YR_RULES *rules = NULL;
	int dirfd, fd;
	FILE *f;

	if ((dirfd = state_open_dir(cache, 0, real, sizeof(real), err, sizeof(err))) < 0)
		return NULL;
	/* Checked on the fd; a file someone else could write until now is
	 * refused, not narrowed and trusted. */
	fd = state_openat(dirfd, strrchr(real, '/') + 1, real, O_RDONLY,
	    STATE_REFUSE_WRITABLE, err, sizeof(err));
	close(dirfd);
	if (fd < 0 || !(f = fdopen(fd, "rb"))) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	stored = malloc(len);
	YR_STREAM stream = {.user_data = f, .read = classify_stream_read};
	if (stored && fread(stored, 1, len, f) == len && memcmp(stored, key, len) == 0 &&
	    yr_rules_load_stream(&stream, &rules) != ERROR_SUCCESS)
		rules = NULL;
	free(stored);
	fclose(f);
	return rules;
}

/* Saves the key and the compiled rules to a new file of the effective
 * user's (0640, never through a symlink), renamed into place so a reader
 * never sees half a file. Only in a folder state_open_dir accepts: a
 * cache root would write where the service user could replace it is not
 * kept. Failures only cost speed. */
static void classify_cache_save(const char *cache, const char *key, YR_RULES *rules)
{
	char real[STATE_PATH_MAX], tmp[STATE_PATH_MAX + 32], err[256];
	const char *name;
	int dirfd, fd, ok;
	FILE *f;

	if ((dirfd = state_open_dir(cache, 0, real, sizeof(real), err, sizeof(err))) < 0)
		return;
	name = strrchr(real, '/') + 1;
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", name, (long)getpid());
	unlinkat(dirfd, tmp, 0);             /* left by a crash of this pid */
	fd = state_openat(dirfd, tmp, tmp, O_WRONLY | O_CREAT | O_EXCL, 0, err, sizeof(err));
	if (fd < 0 || !(f = fdopen(fd, "wb"))) {
		if (fd >= 0)
			close(fd);
		close(dirfd);
		return;
	}
	YR_STREAM stream = {.user_data = f, .write = classify_stream_write};
	ok = fwrite(key, 1, strlen(key) + 1, f) == strlen(key) + 1 &&
	    yr_rules_save_stream(rules, &stream) == ERROR_SUCCESS;
	if (fclose(f) != 0 || !ok || renameat(dirfd, tmp, dirfd, name) < 0)
		unlinkat(dirfd, tmp, 0);
	close(dirfd);
}

/* Every http_* variable normalize fills, "" (and 0) until a scan sets
 * them: a rule naming one compiles whether or not a payload is HTTP. */
static int classify_define_externals(YR_COMPILER *comp)
{
	for (int f = 0; f < NORMALIZE_FIELDS; f++) {
		if (yr_compiler_define_string_variable(comp, normalize_names[f], "") != ERROR_SUCCESS)
			return -1;
	}
	if (yr_compiler_define_integer_variable(comp, "http_nrequests", 0) != ERROR_SUCCESS)
		return -1;
	return 0;
}

/* What scanning needs besides the rules: the fields, and one scanner (a
 * struct classify is used by one thread at a time; the digest cache is the
 * classifier's). Its time limit is set per scan (classify_set_budget). */
static int classify_ready(struct classify *c, char *err, size_t errlen)
{
	c->norm = malloc(sizeof(*c->norm));
	if (!c->norm || yr_scanner_create(c->rules, &c->scanner) != ERROR_SUCCESS) {
		c->scanner = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	yr_scanner_set_flags(c->scanner, SCAN_FLAGS_FAST_MODE);
	return 0;
}

struct classify *classify_open(const char *paths, const char *cache, char *err,
    size_t errlen)
{
	struct classify_compile_state st = {.err = err, .errlen = errlen};
	struct classify *c;
	YR_COMPILER *comp = NULL;
	char *list = NULL, *save = NULL, *key = NULL;
	int files = 0;

	if (yara_api_load(err, errlen) < 0)
		return NULL;
	if (classify_users++ == 0 && yr_initialize() != ERROR_SUCCESS) {
		classify_users--;
		snprintf(err, errlen, "cannot initialise libyara");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->budget_ns = CLASSIFY_BUDGET_DEFAULT_NS;
	if (c && cache && (key = classify_key(paths)) &&
	    (c->rules = classify_cache_load(cache, key))) {
		free(key);
		if (classify_ready(c, err, errlen) < 0) {
			classify_close(c);
			return NULL;
		}
		return c;            /* compiling takes 7 ms; loading, 0.1 */
	}
	list = strdup(paths);
	if (!c || !list || yr_compiler_create(&comp) != ERROR_SUCCESS) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	yr_compiler_set_callback(comp, classify_on_compile_error, &st);
	if (classify_define_externals(comp) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
		if (classify_add_path(comp, p, &st, &files) < 0)
			goto fail;
	}
	if (files == 0) {
		snprintf(err, errlen, "%s: no .yar rule files", paths);
		goto fail;
	}
	if (classify_add_lists(comp, &st) < 0)
		goto fail;
	if (yr_compiler_get_rules(comp, &c->rules) != ERROR_SUCCESS) {
		snprintf(err, errlen, "cannot build the rules");
		goto fail;
	}
	if (classify_ready(c, err, errlen) < 0)
		goto fail;
	if (cache && key)
		classify_cache_save(cache, key, c->rules);
	yr_compiler_destroy(comp);
	free(list);
	free(key);
	return c;
fail:
	if (comp)
		yr_compiler_destroy(comp);
	free(list);
	free(key);
	classify_close(c);
	if (!c && --classify_users == 0)
		yr_finalize();
	return NULL;
}

/* What a rule says of its family: meta family and kind when it has a
 * family meta (an empty family names none), nothing for a technique rule
 * (meta technique), else, as older rule files do, its first tag and the
 * kind its second tag names. */
static void classify_rule_family(const YR_RULE *rule, struct family_pick *pick)
{
	const YR_META *meta;
	const char *tag, *family = NULL, *kind = NULL, *tags[2] = {NULL, NULL};
	bool technique = false;
	int ntags = 0;

	yr_rule_metas_foreach(rule, meta) {
		if (meta->type != META_TYPE_STRING)
			continue;
		if (strcmp(meta->identifier, "family") == 0)
			family = meta->string;
		else if (strcmp(meta->identifier, "kind") == 0)
			kind = meta->string;
		else if (strcmp(meta->identifier, "technique") == 0)
			technique = true;
	}
	if (!family && !technique) {
		yr_rule_tags_foreach(rule, tag) {
			if (ntags < 2)
				tags[ntags++] = tag;
		}
		family = tags[0];
		kind = tags[1];
	}
	if (family && family[0])
		family_pick_offer(pick, family, family_kind_of(kind));
}

/* Notes a matching rule's `technique` metadata for out->tags. Returns
 * whether the rule is a technique rule only (a technique and no family):
 * such a rule adds a tag, not a match, so what reads matches as families
 * never sees it. */
static bool classify_note_technique(struct classify_scan_state *st, const YR_RULE *rule)
{
	const YR_META *meta;
	bool technique = false, family = false;

	yr_rule_metas_foreach(rule, meta) {
		if (meta->type != META_TYPE_STRING)
			continue;
		if (strcmp(meta->identifier, "family") == 0)
			family = true;
		if (strcmp(meta->identifier, "technique") != 0 || !meta->string[0] ||
		    strchr(meta->string, ','))
			continue;
		technique = true;
		if (st->ntech < CLASSIFY_TECHNIQUES_MAX)
			st->tech[st->ntech++] = meta->string;
	}
	return technique && !family;
}

/* Fills out->tags from the techniques noted: sorted, unique, joined by
 * ",", cut before a tag that would not fit. */
static void classify_join_techniques(struct classify_scan_state *st)
{
	char *tags = st->out->tags;
	size_t used = 0;

	qsort(st->tech, (size_t)st->ntech, sizeof(st->tech[0]), classify_name_cmp);
	tags[0] = '\0';
	for (int i = 0; i < st->ntech; i++) {
		size_t len = strlen(st->tech[i]);
		if (i && strcmp(st->tech[i], st->tech[i - 1]) == 0)
			continue;
		if (used + !!used + len >= CLASSIFY_TAGS_MAX)
			break;
		used += (size_t)sprintf(tags + used, "%s%s", used ? "," : "", st->tech[i]);
	}
}

static int classify_on_match(YR_SCAN_CONTEXT *ctx, int message, void *data,
    void *user)
{
	struct classify_scan_state *st = user;
	struct classify_result *res = st->out;
	YR_RULE *rule = data;
	const char *tag;

	(void)ctx;
	if (message != CALLBACK_MSG_RULE_MATCHING)
		return CALLBACK_CONTINUE;
	/* Every rule that matched has its say in the family, kept or not. */
	classify_rule_family(rule, &st->pick);
	/* Past the cap the scan goes on: a later rule's technique counts. */
	if (classify_note_technique(st, rule) || res->n >= CLASSIFY_MAX_MATCHES)
		return CALLBACK_CONTINUE;
	struct record_match *m = &res->m[res->n++];
	snprintf(m->rule, sizeof(m->rule), "%s", rule->identifier);
	m->tags[0] = '\0';
	yr_rule_tags_foreach(rule, tag) {
		size_t used = strlen(m->tags);
		snprintf(m->tags + used, sizeof(m->tags) - used, "%s%s", used ? " " : "", tag);
	}
	return CALLBACK_CONTINUE;
}

void classify_set_budget(struct classify *c, uint64_t budget_ns)
{
	c->budget_ns = budget_ns;
}

/* Sets the http_* variables from data's normalised fields. libyara
 * copies each value. */
static int classify_set_externals(struct classify *c, const uint8_t *data, size_t len)
{
	const struct normalize *z = c->norm;

	normalize_payload(c->norm, data, len);
	for (int f = 0; f < NORMALIZE_FIELDS; f++) {
		if (yr_scanner_define_string_variable(c->scanner, normalize_names[f],
		        z->field[f]) != ERROR_SUCCESS)
			return -1;
	}
	if (yr_scanner_define_integer_variable(c->scanner, "http_nrequests",
	        z->nrequests) != ERROR_SUCCESS)
		return -1;
	return 0;
}

int classify_scan(struct classify *c, const uint8_t *data, size_t len,
    struct classify_result *out)
{
	struct classify_scan_state st = {.out = out};

	memset(out, 0, sizeof(*out));
	if (classify_set_externals(c, data, len) < 0)
		return -1;
	yr_scanner_set_callback(c->scanner, classify_on_match, &st);
	/* yr_scanner_set_timeout takes whole seconds; the scanner keeps
	 * nanoseconds, in a field of its public struct. */
	c->scanner->timeout = c->budget_ns;
	int rc = yr_scanner_scan_mem(c->scanner, data, len);
	classify_join_techniques(&st);
	if (rc != ERROR_SUCCESS) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	memcpy(out->family, st.pick.name, sizeof(out->family));
	return out->n;
}

#ifdef FLYPAPER_TEST_HOOKS
void classify_test_set_lists_dir(const char *dir)
{
	classify_lists_dir = dir ? dir : FLYPAPER_CRS_DIR;
}
#endif

void classify_close(struct classify *c)
{
	if (!c)
		return;
	if (c->scanner)
		yr_scanner_destroy(c->scanner);
	if (c->rules)
		yr_rules_destroy(c->rules);
	free(c->norm);
	free(c);
	if (--classify_users == 0)
		yr_finalize();
}
