/* classify.c - payload families with YARA (libyara): compile the rule
 * files once, scan payloads in the writer thread, remember recent results
 * by digest so a payload seen a thousand times is scanned once. */
#include "classify.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yara.h>

#define CLASSIFY_CACHE 1024          /* digests remembered (direct-mapped) */

struct classify_entry {
	unsigned char sha256[32];
	bool used;
	struct classify_result result;
};

struct classify {
	YR_RULES *rules;
	struct classify_entry *cache;
};

static int classify_users;           /* yr_initialize/yr_finalize pairs */

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
 * version, then each file's path, size and modification time. */
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
	fprintf(key, "yara %s\n", YR_VERSION);
	for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save))
		classify_key_path(key, p);
	fclose(key);
	free(list);
	return text;
}

/* Loads compiled rules from cache when its key file matches key. */
static YR_RULES *classify_cache_load(const char *cache, const char *key)
{
	char path[4096], *stored;
	size_t len = strlen(key);
	YR_RULES *rules = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s.key", cache);
	if (!(f = fopen(path, "rb")))
		return NULL;
	stored = malloc(len + 2);
	size_t got = stored ? fread(stored, 1, len + 1, f) : 0;
	fclose(f);
	if (stored && got == len && memcmp(stored, key, len) == 0 &&
	    yr_rules_load(cache, &rules) != ERROR_SUCCESS)
		rules = NULL;
	free(stored);
	return rules;
}

/* Saves compiled rules and their key, each written aside and renamed into
 * place so a reader never sees half a file. Failures only cost speed. */
static void classify_cache_save(const char *cache, const char *key, YR_RULES *rules)
{
	char tmp[4096], keypath[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", cache, (long)getpid());
	snprintf(keypath, sizeof(keypath), "%s.key", cache);
	if (yr_rules_save(rules, tmp) != ERROR_SUCCESS || rename(tmp, cache) < 0) {
		unlink(tmp);
		return;
	}
	if (!(f = fopen(tmp, "wb")))
		return;
	fputs(key, f);
	if (fclose(f) != 0 || rename(tmp, keypath) < 0)
		unlink(tmp);
}

struct classify *classify_open(const char *paths, const char *cache, char *err,
    size_t errlen)
{
	struct classify_compile_state st = {.err = err, .errlen = errlen};
	struct classify *c;
	YR_COMPILER *comp = NULL;
	char *list = NULL, *save = NULL, *key = NULL;
	int files = 0;

	if (classify_users++ == 0 && yr_initialize() != ERROR_SUCCESS) {
		classify_users--;
		snprintf(err, errlen, "cannot initialise libyara");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c && cache && (key = classify_key(paths)) &&
	    (c->rules = classify_cache_load(cache, key))) {
		free(key);
		if (!(c->cache = calloc(CLASSIFY_CACHE, sizeof(*c->cache)))) {
			snprintf(err, errlen, "out of memory");
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
	for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
		if (classify_add_path(comp, p, &st, &files) < 0)
			goto fail;
	}
	if (files == 0) {
		snprintf(err, errlen, "%s: no .yar rule files", paths);
		goto fail;
	}
	if (yr_compiler_get_rules(comp, &c->rules) != ERROR_SUCCESS) {
		snprintf(err, errlen, "cannot build the rules");
		goto fail;
	}
	c->cache = calloc(CLASSIFY_CACHE, sizeof(*c->cache));
	if (!c->cache) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
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

static int classify_on_match(YR_SCAN_CONTEXT *ctx, int message, void *data,
    void *user)
{
	struct classify_result *res = user;
	YR_RULE *rule = data;
	const char *tag;

	(void)ctx;
	if (message != CALLBACK_MSG_RULE_MATCHING)
		return CALLBACK_CONTINUE;
	if (res->n >= CLASSIFY_MAX_MATCHES)
		return CALLBACK_ABORT;
	struct classify_match *m = &res->m[res->n++];
	snprintf(m->rule, sizeof(m->rule), "%s", rule->identifier);
	m->tags[0] = '\0';
	yr_rule_tags_foreach(rule, tag) {
		size_t used = strlen(m->tags);
		snprintf(m->tags + used, sizeof(m->tags) - used, "%s%s", used ? " " : "", tag);
	}
	return CALLBACK_CONTINUE;
}

int classify_scan(struct classify *c, const uint8_t *data, size_t len,
    struct classify_result *out)
{
	memset(out, 0, sizeof(*out));
	if (yr_rules_scan_mem(c->rules, data, len, SCAN_FLAGS_FAST_MODE,
	        classify_on_match, out, CLASSIFY_TIMEOUT_S) != ERROR_SUCCESS)
		return -1;
	return out->n;
}

const struct classify_result *classify_payload(struct classify *c,
    const unsigned char sha256[32], const uint8_t *data, size_t len)
{
	struct classify_entry *e = &c->cache[(sha256[0] | sha256[1] << 8) % CLASSIFY_CACHE];

	if (e->used && memcmp(e->sha256, sha256, 32) == 0)
		return &e->result;
	if (classify_scan(c, data, len, &e->result) < 0) {
		e->used = false;
		return NULL;
	}
	memcpy(e->sha256, sha256, 32);
	e->used = true;
	return &e->result;
}

void classify_close(struct classify *c)
{
	if (!c)
		return;
	if (c->rules)
		yr_rules_destroy(c->rules);
	free(c->cache);
	free(c);
	if (--classify_users == 0)
		yr_finalize();
}
