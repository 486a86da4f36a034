/* p0fdb.c - p0f v3 [tcp:request] signatures and matching, written from
 * p0f's README (section 5) and the database's own comments; no p0f code.
 * The file is configuration: a line that does not parse stops start-up,
 * naming the line. */
#include "p0fdb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synsig.h"

enum p0fdb_win {
	WIN_EXACT,                   /* win == value */
	WIN_ANY,                     /* * */
	WIN_MSS,                     /* mss*value */
	WIN_MTU,                     /* mtu*value */
	WIN_MOD,                     /* %value */
};

/* Quirks only IPv4 can have, and only IPv6. */
#define P0FDB_V4_QUIRKS (SYNQ_DF | SYNQ_ID_PLUS | SYNQ_ID_MINUS | SYNQ_ZERO_PLUS)
#define P0FDB_V6_QUIRKS SYNQ_FLOW

struct p0fdb_label {
	char class_[8];
	char name[RECORD_OS_NAME];
	char flavor[RECORD_OS_FLAVOR];
	int generic;                 /* g: a last resort */
};

struct p0fdb_sig {
	int label;                   /* index in labels */
	int ver;                     /* 4, 6, or 0 any */
	int ittl;
	int random_ttl;              /* "64-": TTL randomised below ittl */
	int olen;
	int mss;                     /* -1 any */
	enum p0fdb_win win_kind;
	unsigned win;
	int scale;                   /* -1 any */
	uint8_t nopts, eol_pad;
	uint8_t opts[RECORD_SYN_OPTS];
	uint32_t quirks;
	int pclass;                  /* 0, 1, or -1 any */
};

struct p0fdb {
	struct p0fdb_label *labels;
	size_t nlabels;
	struct p0fdb_sig *sigs;
	size_t nsigs;
};

static const char *const p0fdb_quirk_names[SYNQ_COUNT] = {
	"df", "id+", "id-", "ecn", "0+", "flow", "seq-", "ack+", "ack-",
	"uptr+", "urgf+", "pushf+", "ts1-", "ts2+", "opt+", "exws", "bad",
};

/* A decimal number of at most max in s (whole); -1 when not one. */
static long p0fdb_num(const char *s, long max)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end || errno || v > max)
		return -1;
	return v;
}

/* Splits s at the first sep: returns what follows (s is cut), or NULL. */
static char *p0fdb_cut(char *s, char sep)
{
	char *p = strchr(s, sep);

	if (!p)
		return NULL;
	*p = '\0';
	return p + 1;
}

static int p0fdb_olayout(char *s, struct p0fdb_sig *g)
{
	char *next;

	if (!*s)
		return 0;
	for (; s; s = next) {
		next = p0fdb_cut(s, ',');
		if (g->nopts == RECORD_SYN_OPTS)
			return -1;
		if (!strncmp(s, "eol+", 4)) {
			long n = p0fdb_num(s + 4, 255);
			if (n < 0 || next)
				return -1;   /* EOL ends the options */
			g->opts[g->nopts++] = 0;
			g->eol_pad = (uint8_t)n;
		} else if (!strcmp(s, "nop")) {
			g->opts[g->nopts++] = 1;
		} else if (!strcmp(s, "mss")) {
			g->opts[g->nopts++] = 2;
		} else if (!strcmp(s, "ws")) {
			g->opts[g->nopts++] = 3;
		} else if (!strcmp(s, "sok")) {
			g->opts[g->nopts++] = 4;
		} else if (!strcmp(s, "sack")) {
			g->opts[g->nopts++] = 5;
		} else if (!strcmp(s, "ts")) {
			g->opts[g->nopts++] = 8;
		} else if (s[0] == '?') {
			long n = p0fdb_num(s + 1, 255);
			if (n < 0)
				return -1;
			g->opts[g->nopts++] = (uint8_t)n;
		} else {
			return -1;
		}
	}
	return 0;
}

static int p0fdb_quirks(char *s, uint32_t *out)
{
	char *next;

	*out = 0;
	if (!*s)
		return 0;
	for (; s; s = next) {
		int i;

		next = p0fdb_cut(s, ',');
		for (i = 0; i < SYNQ_COUNT; i++)
			if (!strcmp(s, p0fdb_quirk_names[i]))
				break;
		if (i == SYNQ_COUNT)
			return -1;
		*out |= 1u << i;
	}
	return 0;
}

/* ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass into *g. */
static int p0fdb_parse_sig(char *s, struct p0fdb_sig *g)
{
	char *f[8];
	char *scale;
	long v;
	size_t l;

	f[0] = s;
	for (int i = 1; i < 8; i++)
		if (!(f[i] = p0fdb_cut(f[i - 1], ':')))
			return -1;
	if (strchr(f[7], ':'))
		return -1;
	if (!strcmp(f[0], "*"))
		g->ver = 0;
	else if (!strcmp(f[0], "4") || !strcmp(f[0], "6"))
		g->ver = f[0][0] - '0';
	else
		return -1;
	l = strlen(f[1]);
	if (l && f[1][l - 1] == '-') {
		g->random_ttl = 1;
		f[1][l - 1] = '\0';
	}
	if ((v = p0fdb_num(f[1], 255)) < 1)
		return -1;
	g->ittl = (int)v;
	if ((v = p0fdb_num(f[2], 40)) < 0)
		return -1;
	g->olen = (int)v;
	if (!strcmp(f[3], "*"))
		g->mss = -1;
	else if ((v = p0fdb_num(f[3], 65535)) < 0)
		return -1;
	else
		g->mss = (int)v;
	if (!(scale = p0fdb_cut(f[4], ',')))
		return -1;
	if (!strcmp(f[4], "*")) {
		g->win_kind = WIN_ANY;
	} else {
		const char *n = f[4];
		long max = 65535;
		g->win_kind = WIN_EXACT;
		if (!strncmp(n, "mss*", 4) || !strncmp(n, "mtu*", 4)) {
			g->win_kind = n[1] == 's' ? WIN_MSS : WIN_MTU;
			n += 4;
			max = 1000;
		} else if (n[0] == '%') {
			g->win_kind = WIN_MOD;
			n++;
		}
		if ((v = p0fdb_num(n, max)) < 0 || (g->win_kind == WIN_MOD && v == 0))
			return -1;
		g->win = (unsigned)v;
	}
	if (!strcmp(scale, "*"))
		g->scale = -1;
	else if ((v = p0fdb_num(scale, 255)) < 0)
		return -1;
	else
		g->scale = (int)v;
	if (p0fdb_olayout(f[5], g) < 0 || p0fdb_quirks(f[6], &g->quirks) < 0)
		return -1;
	if (!strcmp(f[7], "0"))
		g->pclass = 0;
	else if (!strcmp(f[7], "+"))
		g->pclass = 1;
	else if (!strcmp(f[7], "*"))
		g->pclass = -1;
	else
		return -1;
	return 0;
}

/* type:class:name:flavor into *lb (the flavor may hold colons). */
static int p0fdb_parse_label(char *s, struct p0fdb_label *lb)
{
	char *class_ = p0fdb_cut(s, ':');
	char *name = class_ ? p0fdb_cut(class_, ':') : NULL;
	char *flavor = name ? p0fdb_cut(name, ':') : NULL;

	if (!flavor || (strcmp(s, "s") && strcmp(s, "g")) || !*name ||
	    strlen(class_) >= sizeof(lb->class_) || !*class_ ||
	    strlen(name) >= sizeof(lb->name) || strlen(flavor) >= sizeof(lb->flavor))
		return -1;
	lb->generic = s[0] == 'g';
	strcpy(lb->class_, class_);
	strcpy(lb->name, name);
	strcpy(lb->flavor, flavor);
	return 0;
}

/* Strips spaces at both ends, in place. */
static char *p0fdb_trim(char *s)
{
	char *e = s + strlen(s);

	while (*s == ' ' || *s == '\t')
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

static int p0fdb_read(FILE *f, const char *path, struct p0fdb *db, char *err, size_t errlen)
{
	char line[P0FDB_LINE_MAX + 2];
	size_t lineno = 0, cap_labels = 0, cap_sigs = 0;
	int in_section = 0;

	while (fgets(line, sizeof(line), f)) {
		char *s, *value;

		if (++lineno > P0FDB_MAX_LINES) {
			snprintf(err, errlen, "%s: more than %d lines", path, P0FDB_MAX_LINES);
			return -1;
		}
		if (strlen(line) > P0FDB_LINE_MAX) {
			snprintf(err, errlen, "%s:%zu: a line longer than %d bytes", path,
			    lineno, P0FDB_LINE_MAX);
			return -1;
		}
		s = p0fdb_trim(line);
		if (!*s || *s == ';')
			continue;
		if (*s == '[') {
			in_section = !strcmp(s, "[tcp:request]");
			continue;
		}
		if (!in_section)
			continue;
		if (!(value = p0fdb_cut(s, '='))) {
			snprintf(err, errlen, "%s:%zu: not 'key = value'", path, lineno);
			return -1;
		}
		s = p0fdb_trim(s);
		value = p0fdb_trim(value);
		if (!strcmp(s, "label")) {
			if (db->nlabels == cap_labels) {
				size_t n = cap_labels ? cap_labels * 2 : 64;
				void *p = realloc(db->labels, n * sizeof(*db->labels));
				if (!p)
					goto oom;
				db->labels = p;
				cap_labels = n;
			}
			if (p0fdb_parse_label(value, &db->labels[db->nlabels]) < 0) {
				snprintf(err, errlen, "%s:%zu: a label is type:class:name:flavor "
				    "(type s or g; name under %d bytes, flavor under %d)", path,
				    lineno, RECORD_OS_NAME, RECORD_OS_FLAVOR);
				return -1;
			}
			db->nlabels++;
		} else if (!strcmp(s, "sig")) {
			struct p0fdb_sig g = {0};
			if (!db->nlabels) {
				snprintf(err, errlen, "%s:%zu: a sig before any label", path, lineno);
				return -1;
			}
			if (db->nsigs == P0FDB_MAX_SIGS) {
				snprintf(err, errlen, "%s:%zu: more than %d signatures", path,
				    lineno, P0FDB_MAX_SIGS);
				return -1;
			}
			if (p0fdb_parse_sig(value, &g) < 0) {
				snprintf(err, errlen, "%s:%zu: a sig is "
				    "ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass", path,
				    lineno);
				return -1;
			}
			g.label = (int)db->nlabels - 1;
			if (db->nsigs == cap_sigs) {
				size_t n = cap_sigs ? cap_sigs * 2 : 128;
				void *p = realloc(db->sigs, n * sizeof(*db->sigs));
				if (!p)
					goto oom;
				db->sigs = p;
				cap_sigs = n;
			}
			db->sigs[db->nsigs++] = g;
		}
		/* other keys (sys = ...) are informational */
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
oom:
	snprintf(err, errlen, "%s: out of memory", path);
	return -1;
}

int p0fdb_load(const char *path, struct p0fdb **out, char *err, size_t errlen,
    char *warning, size_t warnlen)
{
	const char *p = path ? path : P0FDB_DEFAULT;
	FILE *f;

	*out = NULL;
	warning[0] = '\0';
	if (path && !strcmp(path, "none"))
		return 0;
	if (!(f = fopen(p, "re"))) {
		if (!path && errno == ENOENT) {
			snprintf(warning, warnlen, "p0f-db: no %s (the p0f package): SYNs "
			    "are recorded without an os", p);
			return 0;
		}
		snprintf(err, errlen, "p0f-db: %s: %s", p, strerror(errno));
		return -1;
	}
	int rc = p0fdb_read_stream(f, p, out, err, errlen);
	fclose(f);
	return rc;
}

int p0fdb_read_stream(FILE *f, const char *name, struct p0fdb **out, char *err,
    size_t errlen)
{
	struct p0fdb *db = calloc(1, sizeof(*db));

	*out = NULL;
	if (!db) {
		snprintf(err, errlen, "p0f-db: out of memory");
		return -1;
	}
	if (p0fdb_read(f, name, db, err, errlen) < 0) {
		p0fdb_free(db);
		return -1;
	}
	*out = db;
	return 0;
}

size_t p0fdb_count(const struct p0fdb *db)
{
	return db ? db->nsigs : 0;
}

/* Whether syn fits g but for quirks and TTL. */
static int p0fdb_fits(const struct p0fdb_sig *g, const struct record_syn *syn)
{
	unsigned win = syn->win;

	if ((g->ver && g->ver != syn->ver) || g->olen != syn->olen ||
	    g->nopts != syn->nopts || memcmp(g->opts, syn->opts, g->nopts) ||
	    (g->nopts && !g->opts[g->nopts - 1] && g->eol_pad != syn->eol_pad) ||
	    (g->mss >= 0 && g->mss != syn->mss) ||
	    (g->scale >= 0 && g->scale != (syn->wscale < 0 ? 0 : syn->wscale)) ||
	    (g->pclass >= 0 && g->pclass != syn->pclass))
		return 0;
	switch (g->win_kind) {
	case WIN_EXACT: return win == g->win;
	case WIN_ANY: return 1;
	case WIN_MSS:        /* as the window was classed: synsig_window */
	case WIN_MTU: {
		unsigned mul = 0;
		int kind = synsig_window(syn, &mul);
		return kind == (g->win_kind == WIN_MSS ? SYNSIG_WIN_MSS : SYNSIG_WIN_MTU) &&
		    mul == g->win;
	}
	case WIN_MOD: return win % g->win == 0;
	}
	return 0;
}

static int p0fdb_ttl_fits(const struct p0fdb_sig *g, unsigned ttl)
{
	if (g->random_ttl)
		return ttl <= (unsigned)g->ittl;
	return (unsigned)g->ittl >= ttl && (unsigned)g->ittl - ttl <= SYNSIG_MAX_DIST;
}

static void p0fdb_fill(const struct p0fdb *db, const struct p0fdb_sig *g, int match,
    const struct record_syn *syn, struct record_os *out)
{
	const struct p0fdb_label *lb = &db->labels[g->label];

	out->match = (uint8_t)match;
	memcpy(out->class_, lb->class_, sizeof(out->class_));
	memcpy(out->name, lb->name, sizeof(out->name));
	memcpy(out->flavor, lb->flavor, sizeof(out->flavor));
	if (g->random_ttl) {
		out->hops = -1;      /* a tool that picks its TTL: no distance */
	} else if (match == OS_MATCH_EXACT || match == OS_MATCH_GENERIC) {
		out->ittl = (uint8_t)g->ittl;
		out->hops = (int16_t)(g->ittl - syn->ttl);
	}
}

void p0fdb_match(const struct p0fdb *db, const struct record_syn *syn,
    struct record_os *out)
{
	const struct p0fdb_sig *generic = NULL, *fuzzy = NULL;
	uint32_t drop, quirks;

	memset(out, 0, sizeof(*out));
	out->ittl = (uint8_t)synsig_guess_ittl(syn->ttl);
	out->hops = (int16_t)(out->ittl - syn->ttl);
	if (!db || syn->present != SYN_PARSED)
		return;
	drop = syn->ver == 6 ? P0FDB_V4_QUIRKS : P0FDB_V6_QUIRKS;
	quirks = syn->quirks & ~drop;
	for (size_t i = 0; i < db->nsigs; i++) {
		const struct p0fdb_sig *g = &db->sigs[i];
		uint32_t want = g->quirks & ~drop;

		if (!p0fdb_fits(g, syn))
			continue;
		if (want == quirks && p0fdb_ttl_fits(g, syn->ttl)) {
			if (!db->labels[g->label].generic) {
				p0fdb_fill(db, g, OS_MATCH_EXACT, syn, out);
				return;
			}
			if (!generic)
				generic = g;
			continue;
		}
		/* fuzzy: df and id+ may vanish, id- and ecn may appear, the TTL
		 * may be anything */
		uint32_t lost = want & ~quirks, extra = quirks & ~want;
		if (!fuzzy && !(lost & ~(uint32_t)(SYNQ_DF | SYNQ_ID_PLUS)) &&
		    !(extra & ~(uint32_t)(SYNQ_ID_MINUS | SYNQ_ECN)))
			fuzzy = g;
	}
	if (generic)
		p0fdb_fill(db, generic, OS_MATCH_GENERIC, syn, out);
	else if (fuzzy)
		p0fdb_fill(db, fuzzy, db->labels[fuzzy->label].generic
		    ? OS_MATCH_FUZZY_GENERIC : OS_MATCH_FUZZY, syn, out);
}

const char *p0fdb_match_name(int match)
{
	switch (match) {
	case OS_MATCH_EXACT: return "exact";
	case OS_MATCH_GENERIC: return "generic";
	case OS_MATCH_FUZZY: return "fuzzy";
	case OS_MATCH_FUZZY_GENERIC: return "fuzzy_generic";
	default: return NULL;
	}
}

void p0fdb_os_text(const struct record_os *os, char *buf)
{
	if (os->match == OS_MATCH_NONE)
		buf[0] = '\0';
	else
		snprintf(buf, P0FDB_OS_TEXT_MAX, "%.*s%s%.*s", RECORD_OS_NAME - 1, os->name,
		    os->flavor[0] ? " " : "", RECORD_OS_FLAVOR - 1, os->flavor);
}

/* What a match depends on: every field but the IP ID (and the state). */
struct p0fdb_key {
	struct record_syn syn;       /* ip_id, df-free copy: see p0fdb_key_of */
	int used;
};

struct p0fdb_cache {
	const struct p0fdb *db;
	struct p0fdb_key keys[P0FDB_CACHE];
	struct record_os os[P0FDB_CACHE];
};

static void p0fdb_key_of(const struct record_syn *syn, struct record_syn *k)
{
	memset(k, 0, sizeof(*k));
	k->present = syn->present;
	k->ver = syn->ver;
	k->ttl = syn->ttl;
	k->olen = syn->olen;
	k->pclass = syn->pclass;
	k->wscale = syn->wscale;
	k->nopts = syn->nopts < RECORD_SYN_OPTS ? syn->nopts : RECORD_SYN_OPTS;
	k->eol_pad = syn->eol_pad;
	memcpy(k->opts, syn->opts, k->nopts);
	k->mss = syn->mss;
	k->win = syn->win;
	k->quirks = syn->quirks;
}

struct p0fdb_cache *p0fdb_cache_new(const struct p0fdb *db)
{
	struct p0fdb_cache *c = calloc(1, sizeof(*c));

	if (c)
		c->db = db;
	return c;
}

void p0fdb_cache_match(struct p0fdb_cache *c, const struct record_syn *syn,
    struct record_os *out)
{
	struct record_syn k;
	uint64_t h = 1469598103934665603ull;  /* FNV-1a over the key */
	size_t slot;

	p0fdb_key_of(syn, &k);
	for (size_t i = 0; i < sizeof(k); i++)
		h = (h ^ ((const uint8_t *)&k)[i]) * 1099511628211ull;
	slot = h % P0FDB_CACHE;
	if (c->keys[slot].used && !memcmp(&c->keys[slot].syn, &k, sizeof(k))) {
		*out = c->os[slot];
		return;
	}
	p0fdb_match(c->db, syn, out);
	c->keys[slot].syn = k;
	c->keys[slot].used = 1;
	c->os[slot] = *out;
}

void p0fdb_cache_free(struct p0fdb_cache *c)
{
	free(c);
}

void p0fdb_free(struct p0fdb *db)
{
	if (!db)
		return;
	free(db->labels);
	free(db->sigs);
	free(db);
}
