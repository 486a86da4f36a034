/* report.c - "flypaper report": what came in, and what it means. One pass
 * over the sessions of one or more sensors' databases, ordered by source
 * and time, groups connections into bursts, names each session's
 * behaviour class and family, and counts the timeline; then prints text,
 * JSON, or one self-contained HTML page with inline SVG charts. */
#include "report.h"

#include <ctype.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "options.h"
#include "store.h"
#include "text.h"
#include "yield.h"

#define REPORT_MAX_DBS 16
#define REPORT_MAX_BURST 1024        /* burst sizes above are counted together */
#define REPORT_MAX_FAMILIES 48
#define REPORT_HOURS 32768           /* hash slots for the timeline */
#define REPORT_TOP 10
#define REPORT_LATE_MS 2000          /* a first byte after this is "late" */
#define REPORT_DROP_MS 1000          /* "closed within 1 s" */
#define REPORT_VALUE_MAX 1024        /* a path or user agent is shown cut to this */
#define REPORT_ERR_SHOWN 512         /* an SQLite message quoting the database, escaped */

enum report_class {
	CLASS_PAYLOAD,               /* sent data at once */
	CLASS_LATE_PAYLOAD,          /* waited (for a banner), then sent */
	CLASS_HANDSHAKE_ONLY,        /* connected, sent nothing, left */
	CLASS_DROP_ON_DATA,          /* left within 1 s of flypaper's first byte */
	CLASS_DROP_ON_IDENT,         /* left within 1 s of the IDENT probe */
	CLASS_WAITS_FOREVER,         /* sent nothing, held until flypaper's timeout */
	CLASS_COUNT
};

static const char *const report_class_names[CLASS_COUNT] = {
	"payload", "late-payload", "handshake-only", "drop-on-data",
	"drop-on-ident", "waits-forever",
};

static const char *const report_class_colors[CLASS_COUNT] = {
	"#2b6cb0", "#63b3ed", "#a0aec0", "#dd6b20", "#c53030", "#6b46c1",
};

struct report_hour {
	char key[14];                /* "2026-11-27T05", or what the database held
	                              * instead, escaped; empty: free slot */
	long sessions;
	long by_class[CLASS_COUNT];
	long by_family[REPORT_MAX_FAMILIES];
};

struct report_source {
	char ip[64];
	long sessions;
	long bursts;
	long by_class[CLASS_COUNT];
	int sizes[32];               /* its first bursts' sizes */
	int nsizes;
};

struct report {
	const char *since, *until;
	uint64_t gap_ms;
	long sessions, refused, sources;
	long by_class[CLASS_COUNT];
	long sources_by_class[CLASS_COUNT];
	long burst_sizes[REPORT_MAX_BURST + 1];
	long bursts;
	char families[REPORT_MAX_FAMILIES][64];
	long family_sessions[REPORT_MAX_FAMILIES];
	int nfamilies;
	struct report_hour *hours;
	struct report_source top[REPORT_TOP];
	int ntop;
	struct report_source cur;    /* the source being read */
	long cur_burst;              /* sessions in the current burst */
	long long last_ms;           /* its last session's start */
};

/* The string of a JSON value the report built ("" for anything else). */
static const char *report_str(json_t *v)
{
	const char *s = json_string_value(v);

	return s ? s : "";
}

/* Milliseconds since the epoch of a stored timestamp such as
 * "2026-11-27T05:00:00.123456Z", read only as far as it is long: 0 when it
 * does not start like one (a merged database may hold anything). */
static long long report_ts_ms(const unsigned char *ts, size_t len)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	int f[6] = {0}, ms = 0;

	if (!ts || len < sizeof(shape) - 1)
		return 0;
	for (size_t i = 0, k = 0; i < sizeof(shape) - 1; i++) {
		if (shape[i] != 'd') {
			if (ts[i] != shape[i])
				return 0;
			k++;
			continue;
		}
		if (!isdigit(ts[i]))
			return 0;
		f[k] = f[k] * 10 + (ts[i] - '0');
	}
	if (len > 20 && ts[19] == '.') {
		for (size_t i = 20; i < 23; i++)
			ms = ms * 10 + (i < len && isdigit(ts[i]) ? ts[i] - '0' : 0);
	}
	struct tm tm = {.tm_year = f[0] - 1900, .tm_mon = f[1] - 1, .tm_mday = f[2],
	    .tm_hour = f[3], .tm_min = f[4], .tm_sec = f[5]};
	return (long long)timegm(&tm) * 1000 + ms;
}

static int report_family_index(struct report *rp, const char *name)
{
	for (int i = 0; i < rp->nfamilies; i++) {
		if (strcmp(rp->families[i], name) == 0)
			return i;
	}
	if (rp->nfamilies == REPORT_MAX_FAMILIES)
		return REPORT_MAX_FAMILIES - 1;   /* the last slot gathers the rest */
	/* One "other" even when a stored family has that name: two would be
	 * one key in the JSON, and their sessions would go uncounted. */
	for (int i = 0; rp->nfamilies == REPORT_MAX_FAMILIES - 1 && i < rp->nfamilies; i++) {
		if (strcmp(rp->families[i], "other") == 0)
			return i;
	}
	snprintf(rp->families[rp->nfamilies], sizeof(rp->families[0]), "%s",
	    rp->nfamilies == REPORT_MAX_FAMILIES - 1 ? "other" : name);
	return rp->nfamilies++;
}

/* The timeline slot of a stored timestamp's hour (its first 13 bytes,
 * escaped; "-" when there are none). */
static struct report_hour *report_hour(struct report *rp, const unsigned char *ts,
    size_t len)
{
	char key[14];
	uint32_t h = 2166136261u;

	text_display_into(ts ? ts : (const unsigned char *)"", ts && len > 13 ? 13 : len,
	    key, sizeof(key));
	if (!key[0])
		snprintf(key, sizeof(key), "-");    /* empty marks a free slot */
	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (uint32_t i = 0; i < REPORT_HOURS; i++) {
		struct report_hour *slot = &rp->hours[(h + i) % REPORT_HOURS];
		if (!slot->key[0])
			snprintf(slot->key, sizeof(slot->key), "%s", key);
		if (strcmp(slot->key, key) == 0)
			return slot;
	}
	return NULL;                 /* more hours than slots: not counted */
}

/* The behaviour class of one session (the columns of report_collect). */
static enum report_class report_classify(sqlite3_stmt *q)
{
	long long bytes_in = sqlite3_column_int64(q, 2);
	bool has_first = sqlite3_column_type(q, 3) != SQLITE_NULL;
	long long first = sqlite3_column_int64(q, 3);
	bool has_out = sqlite3_column_type(q, 4) != SQLITE_NULL;
	long long out = sqlite3_column_int64(q, 4);
	const char *closed_by = (const char *)sqlite3_column_text(q, 5);
	bool by_peer = closed_by && strcmp(closed_by, "peer") == 0;
	bool after_out = sqlite3_column_type(q, 6) != SQLITE_NULL &&
	    sqlite3_column_int64(q, 6) <= REPORT_DROP_MS;
	bool after_ident = sqlite3_column_type(q, 7) != SQLITE_NULL &&
	    sqlite3_column_int64(q, 7) <= REPORT_DROP_MS;
	const char *reason = (const char *)sqlite3_column_text(q, 8);

	if (by_peer && after_ident)
		return CLASS_DROP_ON_IDENT;
	/* Left at flypaper's first byte, having sent nothing before it (a
	 * peer whose request was answered and then left is a payload). */
	if (by_peer && after_out && has_out && (bytes_in == 0 || (has_first && first > out)))
		return CLASS_DROP_ON_DATA;
	if (bytes_in > 0)
		return has_first && first < REPORT_LATE_MS && (!has_out || first <= out)
		    ? CLASS_PAYLOAD : CLASS_LATE_PAYLOAD;
	if (!by_peer && reason && (!strcmp(reason, "idle_timeout") ||
	        !strcmp(reason, "session_timeout")))
		return CLASS_WAITS_FOREVER;
	return CLASS_HANDSHAKE_ONLY;
}

static void report_end_burst(struct report *rp)
{
	if (rp->cur_burst == 0)
		return;
	rp->bursts++;
	rp->cur.bursts++;
	rp->burst_sizes[rp->cur_burst > REPORT_MAX_BURST ? REPORT_MAX_BURST : rp->cur_burst]++;
	if (rp->cur.nsizes < (int)(sizeof(rp->cur.sizes) / sizeof(rp->cur.sizes[0])))
		rp->cur.sizes[rp->cur.nsizes++] = (int)rp->cur_burst;
	rp->cur_burst = 0;
}

/* The current source is complete: count it, keep it if it is in the top. */
static void report_end_source(struct report *rp)
{
	int dominant = 0, slot = -1;

	if (rp->cur.sessions == 0)
		return;
	report_end_burst(rp);
	rp->sources++;
	for (int c = 1; c < CLASS_COUNT; c++) {
		if (rp->cur.by_class[c] > rp->cur.by_class[dominant])
			dominant = c;
	}
	rp->sources_by_class[dominant]++;
	if (rp->ntop < REPORT_TOP) {
		slot = rp->ntop++;
	} else {
		int min = 0;
		for (int i = 1; i < REPORT_TOP; i++) {
			if (rp->top[i].sessions < rp->top[min].sessions)
				min = i;
		}
		if (rp->top[min].sessions < rp->cur.sessions)
			slot = min;
	}
	if (slot >= 0)
		rp->top[slot] = rp->cur;
	memset(&rp->cur, 0, sizeof(rp->cur));
}

static int report_collect(struct report *rp, sqlite3 *db)
{
	sqlite3_stmt *q;
	int rc = sqlite3_prepare_v2(db,
	    "SELECT src_ip, start_ts, bytes_in, first_byte_ms, first_out_ms, closed_by, "
	    "  peer_close_after_out_ms, peer_close_after_ident_ms, close_reason, family "
	    "FROM sessions ORDER BY src_ip, start_ts", -1, &q, NULL);

	if (rc != SQLITE_OK)
		return rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		char ip[sizeof(rp->cur.ip)], family[sizeof(rp->families[0])];
		const unsigned char *ts = sqlite3_column_text(q, 1);
		size_t ts_len = ts ? (size_t)sqlite3_column_bytes(q, 1) : 0;
		const char *reason = (const char *)sqlite3_column_text(q, 8);
		long long t = report_ts_ms(ts, ts_len);

		if (reason && strcmp(reason, "capacity") == 0) {
			rp->refused++;
			continue;
		}
		if (!store_column_display(q, 0, ip, sizeof(ip)))
			snprintf(ip, sizeof(ip), "?");
		if (!store_column_display(q, 9, family, sizeof(family)))
			snprintf(family, sizeof(family), "none");
		if (strcmp(ip, rp->cur.ip) != 0 || rp->cur.sessions == 0) {
			report_end_source(rp);
			snprintf(rp->cur.ip, sizeof(rp->cur.ip), "%s", ip);
		} else if (t - rp->last_ms > (long long)rp->gap_ms) {
			report_end_burst(rp);
		}
		rp->last_ms = t;
		rp->cur_burst++;
		rp->cur.sessions++;
		rp->sessions++;
		enum report_class c = report_classify(q);
		rp->by_class[c]++;
		rp->cur.by_class[c]++;
		int f = report_family_index(rp, family);
		rp->family_sessions[f]++;
		struct report_hour *h = report_hour(rp, ts, ts_len);
		if (h) {
			h->sessions++;
			h->by_class[c]++;
			h->by_family[f]++;
		}
	}
	report_end_source(rp);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Top values of a requests column, as [[value, count], ...]. */
static json_t *report_top_requests(sqlite3 *db, const char *column)
{
	char sql[256];
	sqlite3_stmt *q;
	json_t *arr = json_array();

	snprintf(sql, sizeof(sql), "SELECT %s, count(*) FROM requests WHERE %s IS NOT NULL "
	    "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %d", column, column, REPORT_TOP);
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return arr;
	while (sqlite3_step(q) == SQLITE_ROW) {
		char value[REPORT_VALUE_MAX];
		store_column_display(q, 0, value, sizeof(value));  /* NULL: "" */
		json_array_append_new(arr, json_pack("[s, I]", value,
		    (json_int_t)sqlite3_column_int64(q, 1)));
	}
	sqlite3_finalize(q);
	return arr;
}

static int report_hour_cmp(const void *a, const void *b)
{
	return strcmp(((const struct report_hour *)a)->key, ((const struct report_hour *)b)->key);
}

static int report_source_cmp(const void *a, const void *b)
{
	const struct report_source *x = a, *y = b;
	if (x->sessions != y->sessions)
		return x->sessions < y->sessions ? 1 : -1;
	return strcmp(x->ip, y->ip);
}

/* Everything as one JSON document (also the input of text and HTML). */
static json_t *report_json(struct report *rp, sqlite3 *db, json_t *strategies)
{
	json_t *root = json_object(), *classes = json_object(), *sclasses = json_object();
	json_t *hist = json_object(), *fams = json_object(), *timeline = json_array();
	json_t *by_source = json_array();
	char key[16];

	for (int c = 0; c < CLASS_COUNT; c++) {
		json_object_set_new(classes, report_class_names[c], json_integer(rp->by_class[c]));
		json_object_set_new(sclasses, report_class_names[c],
		    json_integer(rp->sources_by_class[c]));
	}
	for (int n = 1; n <= REPORT_MAX_BURST; n++) {
		if (!rp->burst_sizes[n])
			continue;
		snprintf(key, sizeof(key), n == REPORT_MAX_BURST ? "%d+" : "%d", n);
		json_object_set_new(hist, key, json_integer(rp->burst_sizes[n]));
	}
	for (int f = 0; f < rp->nfamilies; f++)
		json_object_set_new(fams, rp->families[f], json_integer(rp->family_sessions[f]));
	qsort(rp->top, (size_t)rp->ntop, sizeof(rp->top[0]), report_source_cmp);
	for (int i = 0; i < rp->ntop; i++) {
		json_t *sizes = json_array();
		int dominant = 0;
		for (int k = 0; k < rp->top[i].nsizes; k++)
			json_array_append_new(sizes, json_integer(rp->top[i].sizes[k]));
		for (int c = 1; c < CLASS_COUNT; c++) {
			if (rp->top[i].by_class[c] > rp->top[i].by_class[dominant])
				dominant = c;
		}
		json_array_append_new(by_source, json_pack("{s:s, s:I, s:I, s:o, s:s}",
		    "src_ip", rp->top[i].ip, "sessions", (json_int_t)rp->top[i].sessions,
		    "bursts", (json_int_t)rp->top[i].bursts, "burst_sizes", sizes,
		    "class", report_class_names[dominant]));
	}
	size_t nh = 0;
	for (int i = 0; i < REPORT_HOURS; i++) {
		if (rp->hours[i].key[0])
			rp->hours[nh++] = rp->hours[i];
	}
	qsort(rp->hours, nh, sizeof(rp->hours[0]), report_hour_cmp);
	for (size_t i = 0; i < nh; i++) {
		json_t *bc = json_object(), *bf = json_object();
		for (int c = 0; c < CLASS_COUNT; c++)
			if (rp->hours[i].by_class[c])
				json_object_set_new(bc, report_class_names[c],
				    json_integer(rp->hours[i].by_class[c]));
		for (int f = 0; f < rp->nfamilies; f++)
			if (rp->hours[i].by_family[f])
				json_object_set_new(bf, rp->families[f],
				    json_integer(rp->hours[i].by_family[f]));
		json_array_append_new(timeline, json_pack("{s:s, s:I, s:o, s:o}",
		    "hour", rp->hours[i].key, "sessions", (json_int_t)rp->hours[i].sessions,
		    "by_class", bc, "by_family", bf));
	}
	json_object_set_new(root, "sessions", json_integer(rp->sessions));
	json_object_set_new(root, "refused", json_integer(rp->refused));
	json_object_set_new(root, "sources", json_integer(rp->sources));
	json_object_set_new(root, "since", json_string(rp->since));
	json_object_set_new(root, "until", json_string(rp->until));
	json_object_set_new(root, "bursts", json_pack("{s:I, s:I, s:o, s:o}",
	    "count", (json_int_t)rp->bursts, "gap_ms", (json_int_t)rp->gap_ms,
	    "size_histogram", hist, "top_sources", by_source));
	json_object_set_new(root, "classes", json_pack("{s:o, s:o}", "sessions", classes,
	    "sources", sclasses));
	json_object_set_new(root, "families", fams);
	json_object_set_new(root, "strategies", strategies);
	json_object_set_new(root, "timeline", timeline);
	json_t *top_sources = json_array();
	for (int i = 0; i < rp->ntop; i++)
		json_array_append_new(top_sources, json_pack("[s, I]", rp->top[i].ip,
		    (json_int_t)rp->top[i].sessions));
	json_object_set_new(root, "top", json_pack("{s:o, s:o, s:o}",
	    "sources", top_sources,
	    "paths", report_top_requests(db, "target"),
	    "user_agents", report_top_requests(db, "user_agent")));
	return root;
}

/* ---- text ------------------------------------------------------------ */

static void report_text_counts(FILE *out, const char *title, json_t *obj, long total)
{
	const char *k;
	json_t *v;

	fprintf(out, "\n%s\n", title);
	json_object_foreach(obj, k, v) {
		long n = (long)json_integer_value(v);
		fprintf(out, "  %-22s %9ld  %5.1f%%\n", k, n, total ? 100.0 * (double)n / (double)total : 0.0);
	}
}

static void report_text(FILE *out, json_t *r)
{
	long sessions = (long)json_integer_value(json_object_get(r, "sessions"));
	json_t *bursts = json_object_get(r, "bursts");
	size_t i;
	json_t *v;

	fprintf(out, "flypaper report: %ld sessions from %lld sources, %lld refused\n",
	    sessions, (long long)json_integer_value(json_object_get(r, "sources")),
	    (long long)json_integer_value(json_object_get(r, "refused")));
	fprintf(out, "\nbursts (gap %llds): %lld\n  size  bursts\n",
	    (long long)json_integer_value(json_object_get(bursts, "gap_ms")) / 1000,
	    (long long)json_integer_value(json_object_get(bursts, "count")));
	const char *k;
	json_object_foreach(json_object_get(bursts, "size_histogram"), k, v)
		fprintf(out, "  %4s  %6lld\n", k, (long long)json_integer_value(v));
	report_text_counts(out, "behaviour (sessions)",
	    json_object_get(json_object_get(r, "classes"), "sessions"), sessions);
	report_text_counts(out, "families (sessions)", json_object_get(r, "families"), sessions);
	fprintf(out, "\ntop sources\n");
	json_array_foreach(json_object_get(bursts, "top_sources"), i, v) {
		json_t *sizes = json_object_get(v, "burst_sizes"), *s;
		size_t k2;
		fprintf(out, "  %-40s %6lld sessions  %-14s bursts:", report_str(json_object_get(v, "src_ip")),
		    (long long)json_integer_value(json_object_get(v, "sessions")),
		    report_str(json_object_get(v, "class")));
		json_array_foreach(sizes, k2, s) {
			if (k2 >= 12) {
				fprintf(out, " ...");
				break;
			}
			fprintf(out, " %lld", (long long)json_integer_value(s));
		}
		fputc('\n', out);
	}
	fprintf(out, "\nstrategy yield\n");
	json_array_foreach(json_object_get(r, "strategies"), i, v) {
		json_t *med = json_object_get(v, "median_first_byte_ms");
		json_t *drop = json_object_get(v, "dropped_share");
		char m[32] = "-", d[32] = "never spoke";
		if (!json_is_null(med))
			snprintf(m, sizeof(m), "%.0f ms", json_real_value(med));
		if (!json_is_null(drop))
			snprintf(d, sizeof(d), "%.1f%%", 100.0 * json_real_value(drop));
		fprintf(out, "  %-14s %7lld sessions  %5.1f%% sent payload  median first byte %-9s "
		    "left at first byte %s\n", report_str(json_object_get(v, "strategy")),
		    (long long)json_integer_value(json_object_get(v, "sessions")),
		    100.0 * json_real_value(json_object_get(v, "payload_share")), m, d);
	}
	fprintf(out, "\ntop paths\n");
	json_array_foreach(json_object_get(json_object_get(r, "top"), "paths"), i, v)
		fprintf(out, "  %7lld  %.100s\n", (long long)json_integer_value(json_array_get(v, 1)),
		    report_str(json_array_get(v, 0)));
	fprintf(out, "\ntop user agents\n");
	json_array_foreach(json_object_get(json_object_get(r, "top"), "user_agents"), i, v)
		fprintf(out, "  %7lld  %.100s\n", (long long)json_integer_value(json_array_get(v, 1)),
		    report_str(json_array_get(v, 0)));
	fprintf(out, "\ntimeline (sessions per hour, UTC)\n");
	json_array_foreach(json_object_get(r, "timeline"), i, v)
		fprintf(out, "  %s  %7lld\n", report_str(json_object_get(v, "hour")),
		    (long long)json_integer_value(json_object_get(v, "sessions")));
}

/* ---- html ------------------------------------------------------------ */

/* Writes s as HTML text or attribute value. The report's strings are
 * printable ASCII already (store_column_display), so these five are all. */
static void report_html_escape(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '&': fputs("&amp;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default: fputc(*s, out);
		}
	}
}

/* A horizontal bar chart of an object's counts. */
static void report_svg_hbars(FILE *out, const char *id, const char *title, json_t *obj,
    const char *color)
{
	const char *k;
	json_t *v;
	double max = 1;
	int n = 0, y = 0;

	json_object_foreach(obj, k, v) {
		if (json_number_value(v) > max)
			max = json_number_value(v);
		n++;
	}
	fprintf(out, "<h2>%s</h2>\n<svg id=\"%s\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\" "
	    "width=\"760\" height=\"%d\" viewBox=\"0 0 760 %d\">\n", title, id, 28 * n + 10, 28 * n + 10);
	json_object_foreach(obj, k, v) {
		double w = 520.0 * json_number_value(v) / max;
		fprintf(out, "<text x=\"0\" y=\"%d\" class=\"l\">", y + 18);
		report_html_escape(out, k);
		fprintf(out, "</text><rect x=\"170\" y=\"%d\" width=\"%.1f\" height=\"20\" fill=\"%s\">"
		    "<title>", y + 4, w < 1 ? 1 : w, color);
		report_html_escape(out, k);
		fprintf(out, ": %g</title></rect><text x=\"%.1f\" y=\"%d\" class=\"v\">%g</text>\n",
		    json_number_value(v), 176 + w, y + 18, json_number_value(v));
		y += 28;
	}
	fputs("</svg>\n", out);
}

static void report_html(FILE *out, json_t *r)
{
	json_t *timeline = json_object_get(r, "timeline"), *v;
	json_t *strategies = json_object_get(r, "strategies");
	size_t i, nh = json_array_size(timeline);
	double max = 1;

	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	    "<title>flypaper report</title>\n<style>\n"
	    "body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:820px;color:#1a202c}\n"
	    "h1{font-size:1.6em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #e2e8f0}\n"
	    "svg text{font:12px system-ui,sans-serif;fill:#2d3748}svg .v{fill:#4a5568}\n"
	    "table{border-collapse:collapse}td,th{padding:2px 10px;text-align:right}"
	    "td:first-child,th:first-child{text-align:left}\n"
	    ".legend span{display:inline-block;margin-right:1em}"
	    ".legend i{display:inline-block;width:10px;height:10px;margin-right:4px}\n"
	    "</style></head><body>\n<h1>flypaper report</h1>\n", out);
	fprintf(out, "<p>%lld sessions from %lld sources; %lld bursts; %lld refused.</p>\n",
	    (long long)json_integer_value(json_object_get(r, "sessions")),
	    (long long)json_integer_value(json_object_get(r, "sources")),
	    (long long)json_integer_value(json_object_get(json_object_get(r, "bursts"), "count")),
	    (long long)json_integer_value(json_object_get(r, "refused")));

	/* timeline: stacked bars per hour by behaviour class */
	json_array_foreach(timeline, i, v) {
		if (json_number_value(json_object_get(v, "sessions")) > max)
			max = json_number_value(json_object_get(v, "sessions"));
	}
	double bw = nh ? 720.0 / (double)nh : 720.0;
	fputs("<h2>Timeline: sessions per hour by behaviour</h2>\n<p class=\"legend\">", out);
	for (int c = 0; c < CLASS_COUNT; c++)
		fprintf(out, "<span><i style=\"background:%s\"></i>%s</span>", report_class_colors[c],
		    report_class_names[c]);
	fprintf(out, "</p>\n<svg id=\"chart-timeline\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\" "
	    "width=\"760\" height=\"240\" viewBox=\"0 0 760 240\">\n"
	    "<line x1=\"30\" y1=\"210\" x2=\"750\" y2=\"210\" stroke=\"#a0aec0\"/>\n"
	    "<text x=\"0\" y=\"20\">%g</text>\n", max);
	json_array_foreach(timeline, i, v) {
		double y = 210;
		json_t *bc = json_object_get(v, "by_class");
		const char *hour = report_str(json_object_get(v, "hour"));
		for (int c = 0; c < CLASS_COUNT; c++) {
			double n = json_number_value(json_object_get(bc, report_class_names[c]));
			double hgt = 190.0 * n / max;
			if (n <= 0)
				continue;
			y -= hgt;
			fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
			    "<title>", 30 + bw * (double)i + 1, y, bw > 3 ? bw - 2 : bw, hgt,
			    report_class_colors[c]);
			report_html_escape(out, hour);
			fprintf(out, " %s: %g</title></rect>\n", report_class_names[c], n);
		}
		if (nh <= 24 || i % (nh / 12 + 1) == 0) {
			/* the hour of "2026-11-27T05"; a stored start_ts may be shorter */
			fprintf(out, "<text x=\"%.1f\" y=\"228\">", 30 + bw * (double)i);
			report_html_escape(out, strlen(hour) > 11 ? hour + 11 : hour);
			fputs("</text>\n", out);
		}
	}
	fputs("</svg>\n", out);

	report_svg_hbars(out, "chart-bursts", "Burst sizes (connections per burst)",
	    json_object_get(json_object_get(r, "bursts"), "size_histogram"), "#2c7a7b");
	report_svg_hbars(out, "chart-classes", "Behaviour classes (sessions)",
	    json_object_get(json_object_get(r, "classes"), "sessions"), "#dd6b20");
	report_svg_hbars(out, "chart-families", "Families (sessions)",
	    json_object_get(r, "families"), "#2b6cb0");

	/* strategy yield: two bars per strategy */
	size_t ns = json_array_size(strategies);
	fprintf(out, "<h2>Strategy yield</h2>\n<p class=\"legend\"><span><i style=\"background:#38a169\">"
	    "</i>sent a payload</span><span><i style=\"background:#c53030\"></i>left at flypaper's first "
	    "byte</span></p>\n<svg id=\"chart-strategies\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\" "
	    "width=\"760\" height=\"%zu\" viewBox=\"0 0 760 %zu\">\n", 44 * ns + 10, 44 * ns + 10);
	json_array_foreach(strategies, i, v) {
		double pay = json_number_value(json_object_get(v, "payload_share"));
		json_t *d = json_object_get(v, "dropped_share");
		double drop = json_is_null(d) ? 0 : json_number_value(d);
		int y = (int)i * 44;
		char dlabel[32];
		if (json_is_null(d))
			snprintf(dlabel, sizeof(dlabel), "never spoke");
		else
			snprintf(dlabel, sizeof(dlabel), "%.1f%%", 100 * drop);
		fprintf(out, "<text x=\"0\" y=\"%d\">", y + 24);
		report_html_escape(out, report_str(json_object_get(v, "strategy")));
		fprintf(out, "</text><rect x=\"170\" y=\"%d\" width=\"%.1f\" height=\"16\" fill=\"#38a169\">"
		    "<title>sent a payload: %.1f%%</title></rect><text x=\"%.1f\" y=\"%d\" class=\"v\">%.1f%%</text>\n"
		    "<rect x=\"170\" y=\"%d\" width=\"%.1f\" height=\"16\" fill=\"#c53030\"><title>left at first "
		    "byte: %.1f%%</title></rect><text x=\"%.1f\" y=\"%d\" class=\"v\">%s</text>\n",
		    y + 4, 500 * pay + 1, 100 * pay, 176 + 500 * pay, y + 17, 100 * pay,
		    y + 22, 500 * drop + 1, 100 * drop, 176 + 500 * drop, y + 35, dlabel);
	}
	fputs("</svg>\n<h2>Top sources</h2>\n<table><tr><th>source</th><th>sessions</th><th>bursts</th>"
	    "<th>class</th></tr>\n", out);
	json_array_foreach(json_object_get(json_object_get(r, "bursts"), "top_sources"), i, v) {
		fputs("<tr><td>", out);
		report_html_escape(out, report_str(json_object_get(v, "src_ip")));
		fprintf(out, "</td><td>%lld</td><td>%lld</td><td>",
		    (long long)json_integer_value(json_object_get(v, "sessions")),
		    (long long)json_integer_value(json_object_get(v, "bursts")));
		report_html_escape(out, report_str(json_object_get(v, "class")));
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
	const char *lists[2][2] = {{"paths", "Top paths"}, {"user_agents", "Top user agents"}};
	for (int l = 0; l < 2; l++) {
		fprintf(out, "<h2>%s</h2>\n<table>\n", lists[l][1]);
		json_array_foreach(json_object_get(json_object_get(r, "top"), lists[l][0]), i, v) {
			fprintf(out, "<tr><td>%lld</td><td style=\"text-align:left\">",
			    (long long)json_integer_value(json_array_get(v, 1)));
			report_html_escape(out, report_str(json_array_get(v, 0)));
			fputs("</td></tr>\n", out);
		}
		fputs("</table>\n", out);
	}
	fputs("</body></html>\n", out);
}

/* ---- databases --------------------------------------------------------- */

/* A timestamp bound must look like a UTC timestamp prefix: it is pasted
 * into the view's SQL. */
static bool report_ts_ok(const char *t)
{
	for (; *t; t++) {
		if (!strchr("0123456789-T:.Z", *t))
			return false;
	}
	return true;
}

/* Attaches every database and unions their sessions (with each session's
 * family, the first tag of its first match) and requests into temporary
 * views, so one set of queries reads them all. */
static int report_attach(sqlite3 *db, char **paths, int n, const char *since,
    const char *until, char *err, size_t errlen)
{
	char *sessions = NULL, *requests = NULL;
	size_t slen = 0, rlen = 0;
	FILE *s = open_memstream(&sessions, &slen), *r = open_memstream(&requests, &rlen);
	int rc = 0;

	fputs("CREATE TEMP VIEW sessions AS ", s);
	fputs("CREATE TEMP VIEW requests AS ", r);
	for (int i = 0; i < n; i++) {
		char name[16], shown[REPORT_ERR_SHOWN];
		snprintf(name, sizeof(name), "db%d", i);
		if (store_attach_ro(db, paths[i], name) != SQLITE_OK) {
			snprintf(err, errlen, "%s: %s", paths[i],
			    text_display(sqlite3_errmsg(db), shown, sizeof(shown)));
			rc = -1;
			break;
		}
		/* Only the columns the report reads: the sort by source then
		 * carries a few dozen bytes a row, not whole rows. */
		fprintf(s, "%sSELECT s.session, s.src_ip, s.start_ts, s.bytes_in, s.first_byte_ms, "
		    "s.first_out_ms, s.closed_by, s.peer_close_after_out_ms, "
		    "s.peer_close_after_ident_ms, s.close_reason, s.strategy, "
		    "(SELECT substr(m.tags, 1, instr(m.tags || ' ', ' ') - 1) "
		    "FROM db%d.matches m WHERE m.session = s.session ORDER BY m.rule LIMIT 1) AS family "
		    "FROM db%d.sessions s WHERE s.start_ts >= '%s' AND s.start_ts < '%s'",
		    i ? " UNION ALL " : "", i, i, since, until);
		if (!*since && !strcmp(until, "9999"))
			fprintf(r, "%sSELECT target, user_agent FROM db%d.requests",
			    i ? " UNION ALL " : "", i);
		else
			fprintf(r, "%sSELECT q.target, q.user_agent FROM db%d.requests q "
			    "JOIN db%d.sessions s ON s.session = q.session "
			    "WHERE s.start_ts >= '%s' AND s.start_ts < '%s'", i ? " UNION ALL " : "",
			    i, i, since, until);
	}
	fclose(s);
	fclose(r);
	if (rc == 0 && (sqlite3_exec(db, sessions, NULL, NULL, NULL) != SQLITE_OK ||
	        sqlite3_exec(db, requests, NULL, NULL, NULL) != SQLITE_OK)) {
		char shown[REPORT_ERR_SHOWN];
		snprintf(err, errlen, "%s (a flypaper database of schema 3 or later?)",
		    text_display(sqlite3_errmsg(db), shown, sizeof(shown)));
		rc = -1;
	}
	free(sessions);
	free(requests);
	return rc;
}

static void report_usage(FILE *out)
{
	fprintf(out, "usage: flypaper report [--db FILE]... [--since TIME] [--until TIME]\n"
	    "                       [--format text|json|html] [-o FILE] [--gap DUR]\n"
	    "TIME is an ISO 8601 UTC prefix such as 2026-11-27 or 2026-11-27T05:00.\n");
}

/* report's flags, filled by its option rows. */
struct report_args {
	char *dbs[REPORT_MAX_DBS];   /* borrowed from argv */
	int ndb;
	const char *since, *until, *output;
	int format;                  /* index in report_formats */
	uint64_t gap_ms;
};

static const char *const report_formats[] = {"text", "json", "html", NULL};

/* --db repeats, up to REPORT_MAX_DBS. */
static int report_add_db(void *base, const char *value, char *err, size_t errlen)
{
	struct report_args *args = base;

	if (args->ndb == REPORT_MAX_DBS) {
		snprintf(err, errlen, "at most %d databases", REPORT_MAX_DBS);
		return -1;
	}
	args->dbs[args->ndb++] = (char *)value;
	return 0;
}

static const struct option_row report_options[] = {
	{.name = "db", .type = OPTION_CUSTOM, .set = report_add_db, .metavar = "FILE",
	    .help = "a database (repeatable); default ./flypaper.db"},
	{.name = "since", .type = OPTION_ARG, .field = offsetof(struct report_args, since),
	    .metavar = "TIME", .help = "sessions from TIME on"},
	{.name = "until", .type = OPTION_ARG, .field = offsetof(struct report_args, until),
	    .metavar = "TIME", .help = "sessions before TIME"},
	{.name = "format", .type = OPTION_CHOICE, .field = offsetof(struct report_args, format),
	    .metavar = "FORMAT", .help = "text, json or html", .choices = report_formats},
	{.name = "output", .type = OPTION_ARG, .field = offsetof(struct report_args, output),
	    .metavar = "FILE", .help = "write here, not to stdout", .letter = 'o'},
	{.name = "gap", .type = OPTION_DURATION, .field = offsetof(struct report_args, gap_ms),
	    .max = UINT64_MAX, .metavar = "DUR", .help = "a longer pause ends a burst",
	    .syntax = "is not a duration"},
};

int report_main(int argc, char **argv)
{
	static const struct options_command cmd = {"report", report_options,
	    sizeof(report_options) / sizeof(report_options[0]), report_usage, false};
	struct report_args args = {.since = "", .until = "9999", .gap_ms = 60000};
	char **dbs = args.dbs;
	int ndb, rc = 2;
	const char *format, *output;
	char err[512];
	static struct report rp;
	sqlite3 *db = NULL;
	FILE *out = stdout;

	rc = options_parse(&cmd, argc, argv, &args);
	if (rc <= 0)
		return rc < 0 ? 2 : 0;
	rc = 2;
	memset(&rp, 0, sizeof(rp));
	rp.since = args.since;
	rp.until = args.until;
	rp.gap_ms = args.gap_ms;
	ndb = args.ndb;
	format = report_formats[args.format];
	output = args.output;
	if (!report_ts_ok(rp.since) || !report_ts_ok(rp.until)) {
		fprintf(stderr, "flypaper report: --since and --until take UTC timestamps "
		    "such as 2026-11-27T05:00\n");
		return 2;
	}
	if (ndb == 0)
		dbs[ndb++] = "flypaper.db";
	for (int i = 0; i < ndb; i++) {
		FILE *f = fopen(dbs[i], "rb");
		if (!f) {
			fprintf(stderr, "flypaper report: %s: cannot open\n", dbs[i]);
			return 2;
		}
		fclose(f);
	}
	rp.hours = calloc(REPORT_HOURS, sizeof(*rp.hours));
	if (!rp.hours || store_open_untrusted(NULL, &db) != SQLITE_OK) {
		fprintf(stderr, "flypaper report: out of memory\n");
		goto out;
	}
	sqlite3_busy_timeout(db, 5000);
	if (report_attach(db, dbs, ndb, rp.since, rp.until, err, sizeof(err)) < 0) {
		fprintf(stderr, "flypaper report: %s\n", err);
		goto out;
	}
	if (report_collect(&rp, db) != SQLITE_OK) {
		char shown[REPORT_ERR_SHOWN];
		fprintf(stderr, "flypaper report: %s\n",
		    text_display(sqlite3_errmsg(db), shown, sizeof(shown)));
		goto out;
	}
	json_t *strategies = yield_table(db, "");
	json_t *root = report_json(&rp, db, strategies ? strategies : json_array());
	if (output && !(out = fopen(output, "w"))) {
		fprintf(stderr, "flypaper report: %s: cannot write\n", output);
		json_decref(root);
		goto out;
	}
	if (!strcmp(format, "json")) {
		char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fprintf(out, "%s\n", text ? text : "{}");
		free(text);
	} else if (!strcmp(format, "html")) {
		report_html(out, root);
	} else {
		report_text(out, root);
	}
	json_decref(root);
	rc = 0;
	if (out != stdout && fclose(out) != 0) {
		fprintf(stderr, "flypaper report: %s: write failed\n", output);
		rc = 1;
	}
out:
	sqlite3_close(db);
	free(rp.hours);
	return rc;
}
