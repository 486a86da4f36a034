/* report_render.c - the report's text, JSON and HTML, each read from the
 * model's named fields. */
#include "report_render.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "report_experiment.h"
#include "report_html.h"

static const char *const report_class_colors[CLASS_COUNT] = {
	"#2b6cb0", "#63b3ed", "#a0aec0", "#dd6b20", "#c53030", "#6b46c1", "#718096",
};

/* One bar of a chart, or one row of a table of counts. */
struct report_bar {
	char label[64];              /* a class, a family or a burst size */
	long value;
};

/* The bars of each chart: sizes with bursts, every class, every family.
 * Returns how many were written into bars (REPORT_MAX_BURST at most). */
static size_t report_bars_bursts(const struct report_model *m, struct report_bar *bars)
{
	size_t n = 0;

	for (int size = 1; size <= REPORT_MAX_BURST; size++) {
		if (!m->burst_sizes[size])
			continue;
		snprintf(bars[n].label, sizeof(bars[n].label),
		    size == REPORT_MAX_BURST ? "%d+" : "%d", size);
		bars[n++].value = m->burst_sizes[size];
	}
	return n;
}

/* The classes of sessions: half-open handshakes, the last class, are
 * shown apart (report_*_half_open) so that a SYN flood's count does not
 * flatten the others' shares and bars. */
static size_t report_bars_classes(const struct report_model *m, struct report_bar *bars)
{
	_Static_assert(CLASS_HALF_OPEN == CLASS_COUNT - 1, "half-open is the last class");
	for (int c = 0; c < CLASS_HALF_OPEN; c++) {
		snprintf(bars[c].label, sizeof(bars[c].label), "%s", report_class_name(c));
		bars[c].value = m->by_class[c];
	}
	return CLASS_HALF_OPEN;
}

static size_t report_bars_families(const struct report_model *m, struct report_bar *bars)
{
	for (int f = 0; f < m->nfamilies; f++) {
		snprintf(bars[f].label, sizeof(bars[f].label), "%s", m->families[f]);
		bars[f].value = m->family_sessions[f];
	}
	return (size_t)m->nfamilies;
}

/* The bars' room: the longest list is the burst sizes. */
static struct report_bar report_bars[REPORT_MAX_BURST];

/* ---- text ------------------------------------------------------------ */

static void report_text_counts(FILE *out, const char *title, const struct report_bar *bars,
    size_t n, long total)
{
	fprintf(out, "\n%s\n", title);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  %-22s %9ld  %5.1f%%\n", bars[i].label, bars[i].value,
		    total ? 100.0 * (double)bars[i].value / (double)total : 0.0);
}

static void report_text_values(FILE *out, const char *title,
    const struct report_value *values, int n)
{
	fprintf(out, "\n%s\n", title);
	for (int i = 0; i < n; i++)
		fprintf(out, "  %7lld  %.100s\n", values[i].count, values[i].value);
}

/* A shape's note when the stored one came from another definition. */
static const char *report_shape_note(const struct report_shape *sh)
{
	return sh->current ? "" : " (stored by another shape definition: rescan)";
}

static void report_text_shapes(FILE *out, const struct report_model *m)
{
	fprintf(out, "\ntop unknown shapes (%ld sessions with a payload and no family", m->unknown);
	if (m->unshaped)
		fprintf(out, "; %ld without a shape: run flypaper rescan", m->unshaped);
	if (m->unclassified)
		fprintf(out, "; %ld more not classified yet: flypaper rescan classifies them",
		    m->unclassified);
	fputs(")\n", out);
	for (int i = 0; i < m->nshapes; i++) {
		const struct report_shape *sh = &m->shapes[i];
		fprintf(out, "  %7ld sessions  %5ld sources  %3ld orders  %s .. %s  %s%s\n",
		    sh->sessions, sh->sources, sh->orders, sh->first_seen, sh->last_seen,
		    sh->group, report_shape_note(sh));
		fprintf(out, "           %s\n           e.g. %s: %s\n", sh->text,
		    sh->example_session, sh->example);
	}
}

/* Why the techniques may be incomplete; "" when they are not. */
static void report_tags_notes(char *buf, size_t len, const struct report_model *m,
    const char *rescan)
{
	size_t n = 0;

	buf[0] = '\0';
	if (m->untagged)
		n += (size_t)snprintf(buf + n, len - n, "; %ld with a payload in a database "
		    "before schema 6, no tags: %s", m->untagged, rescan);
	if (n < len && m->unclassified)
		n += (size_t)snprintf(buf + n, len - n, "; %ld not classified yet: %s",
		    m->unclassified, rescan);
	if (n < len && m->tags_over)
		snprintf(buf + n, len - n, "; %ld tags past the first %d distinct ones not counted",
		    m->tags_over, REPORT_TAGS_MAX);
}

static void report_text_tags(FILE *out, const struct report_model *m)
{
	char notes[512];

	report_tags_notes(notes, sizeof(notes), m, "run flypaper rescan");
	fprintf(out, "\ntechniques (%ld sessions with a technique tag, %ld distinct tags%s)\n",
	    m->tagged, m->tags_distinct, notes);
	for (int i = 0; i < m->ntags; i++) {
		const struct report_tag *tg = &m->tags[i];
		fprintf(out, "  %-24s %7ld sessions  %5ld sources  %s .. %s ", tg->tag,
		    tg->sessions, tg->sources, tg->first_seen, tg->last_seen);
		for (int k = 0; k < tg->nfamilies; k++)
			fprintf(out, "%s%s %ld", k ? ", " : " families: ",
			    m->families[tg->families[k]], tg->family_sessions[k]);
		fputc('\n', out);
	}
	if (m->tags_distinct > m->ntags)
		fprintf(out, "  (%ld more tags)\n", m->tags_distinct - m->ntags);
}

/* ---- operating systems (shared) ---------------------------------------- */

#define REPORT_OS_SHOWN 6            /* labels shown per class in text */

/* A label of one class and its sessions. */
struct report_os_row {
	const char *label;
	long sessions;
};

static int report_os_row_cmp(const void *a, const void *b)
{
	const struct report_os_row *x = a, *y = b;
	if (x->sessions != y->sessions)
		return x->sessions < y->sessions ? 1 : -1;
	return strcmp(x->label, y->label);
}

/* The label shown for slot i: the last slot may gather the rest. */
static const char *report_os_label(const struct report_model *m, int i)
{
	return m->os_rest && i == REPORT_MAX_OS - 1 ? "(other labels)" : m->os[i].label;
}

/* Class c's labels, most sessions first, with "(no match)" for SYNs no
 * signature matched; returns how many (rows holds REPORT_MAX_OS + 1). */
static int report_os_rows(const struct report_model *m, int c, struct report_os_row *rows)
{
	int n = 0;

	for (int i = 0; i < m->nos; i++)
		if (m->os[i].by_class[c])
			rows[n++] = (struct report_os_row){report_os_label(m, i), m->os[i].by_class[c]};
	if (m->os_unmatched_by_class[c])
		rows[n++] = (struct report_os_row){"(no match)", m->os_unmatched_by_class[c]};
	qsort(rows, (size_t)n, sizeof(rows[0]), report_os_row_cmp);
	return n;
}

static long report_os_total(const struct report_model *m)
{
	long n = 0;

	for (int c = 0; c < CLASS_COUNT; c++)
		n += m->os_syn_by_class[c];
	return n;
}

static void report_text_os(FILE *out, const struct report_model *m)
{
	struct report_os_row rows[REPORT_MAX_OS + 1];

	fprintf(out, "\noperating systems (p0f labels of the peers' own SYNs: %ld sessions with "
	    "one, %ld without a SYN, %ld behind a proxy not counted)\n", report_os_total(m),
	    m->os_without_syn, m->os_proxy);
	for (int c = 0; c < CLASS_COUNT; c++) {
		long all = m->os_syn_by_class[c];
		int n = report_os_rows(m, c, rows);
		if (!all)
			continue;
		fprintf(out, "  %-14s %7ld:", report_class_name(c), all);
		for (int i = 0; i < n && i < REPORT_OS_SHOWN; i++)
			fprintf(out, "%s %s %.1f%%", i ? "," : "", rows[i].label,
			    100.0 * rows[i].sessions / all);
		if (n > REPORT_OS_SHOWN)
			fprintf(out, ", (%d more)", n - REPORT_OS_SHOWN);
		fputc('\n', out);
	}
}

/* ---- tls (shared) ------------------------------------------------------ */

static const char *const report_tls_version_colors[RTLS_V_COUNT] = {
	"#9b2c2c", "#c05621", "#d69e2e", "#b7791f", "#2b6cb0", "#2f855a", "#a0aec0",
};

/* The key of a top table's rows in JSON ("ja3_md5" for JA3). */
static const char *report_tls_key_name(enum report_tls_table t)
{
	return t == RTLS_T_JA3 ? "ja3_md5" : report_tls_table_name(t);
}

static const char *const report_tls_titles[RTLS_T_COUNT] = {
	"JA3 (md5, string cut)", "JA4", "SNI", "alerts (fatal, either way)",
};

/* What a table leaves out, as "; ..." phrases ("" when nothing). */
static void report_tls_top_notes(char *buf, size_t len, const struct report_tls_top *top,
    enum report_tls_table t)
{
	size_t n = 0;

	buf[0] = '\0';
	if (top->without && t != RTLS_T_ALERT)
		n += (size_t)snprintf(buf, len, "; %ld hellos without one", top->without);
	if (n < len && top->over)
		snprintf(buf + n, len - n, "; %ld sessions past the first %d values not counted",
		    top->over, REPORT_TLS_KEYS);
}

/* ---- tls: text --------------------------------------------------------- */

/* "name n, name n" of the nonzero counts, or "none". */
static void report_text_named(FILE *out, const long *counts, int n,
    const char *(*name)(int))
{
	int shown = 0;

	for (int i = 0; i < n; i++) {
		if (counts[i])
			fprintf(out, "%s%s %ld", shown++ ? ", " : "", name(i), counts[i]);
	}
	if (!shown)
		fputs("none", out);
}

static const char *report_tls_state_i(int i) { return report_tls_state_name(i); }
static const char *report_tls_outcome_i(int i) { return report_tls_outcome_name(i); }
static const char *report_tls_version_i(int i) { return report_tls_version_name(i); }
static const char *report_class_i(int i) { return report_class_name(i); }

static void report_text_tls_top(FILE *out, const struct report_model *m,
    enum report_tls_table t)
{
	const struct report_tls_top *top = &m->tls.top[t];
	char notes[256];

	report_tls_top_notes(notes, sizeof(notes), top, t);
	fprintf(out, "  top %s: %ld distinct%s\n", report_tls_titles[t], top->distinct, notes);
	for (int i = 0; i < top->n; i++) {
		const struct report_tls_row *r = &top->rows[i];
		fprintf(out, "    %7ld sessions %5ld sources  %.200s", r->sessions, r->sources, r->key);
		if (t == RTLS_T_JA3)
			fprintf(out, "  %s%s", r->note, r->note_cut ? "..." : "");
		fputs("\n      families: ", out);
		for (int k = 0; k < r->nfamilies; k++)
			fprintf(out, "%s%s %ld", k ? ", " : "", m->families[r->families[k]],
			    r->family_sessions[k]);
		fputs("; classes: ", out);
		report_text_named(out, r->by_class, CLASS_COUNT, report_class_i);
		fputc('\n', out);
	}
}

static void report_text_tls(FILE *out, const struct report_model *m)
{
	const struct report_tls *t = &m->tls;

	fprintf(out, "\ntls (%ld sessions began with a TLS handshake or came to a TLS listener; "
	    "%ld ClientHellos read)\n  hello states: ", t->sessions, t->hellos);
	report_text_named(out, t->states, RTLS_STATE_COUNT, report_tls_state_i);
	fprintf(out, "\n  TLS front: %ld sessions: ", t->front);
	report_text_named(out, t->outcomes, RTLS_OUTCOME_COUNT, report_tls_outcome_i);
	fputs("\n  versions: ", out);
	report_text_named(out, t->by_version, RTLS_V_COUNT, report_tls_version_i);
	fputc('\n', out);
	for (int i = 0; i < RTLS_T_COUNT; i++)
		report_text_tls_top(out, m, i);
	fprintf(out, "  versions per day (UTC)%s\n", t->days_over ? "; more days not counted" : "");
	for (size_t i = 0; i < t->ndays; i++) {
		fprintf(out, "    %s  ", t->days[i].day);
		report_text_named(out, t->days[i].by_version, RTLS_V_COUNT, report_tls_version_i);
		fputc('\n', out);
	}
}

void report_render_text(FILE *out, const struct report_model *m)
{
	size_t n;

	fprintf(out, "flypaper report: %ld sessions from %ld sources, %ld refused, "
	    "%ld half-open handshakes\n", m->sessions, m->sources, m->refused, m->half_open);
	fprintf(out, "\nbursts (gap %llds): %ld\n  size  bursts\n",
	    (long long)m->gap_ms / 1000, m->bursts);
	n = report_bars_bursts(m, report_bars);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  %4s  %6ld\n", report_bars[i].label, report_bars[i].value);
	n = report_bars_classes(m, report_bars);
	report_text_counts(out, "behaviour (sessions)", report_bars, n, m->sessions);
	fprintf(out, "\nbehaviour (handshakes never accepted, --half-open)\n  %-22s %9ld\n",
	    report_class_name(CLASS_HALF_OPEN), m->half_open);
	n = report_bars_families(m, report_bars);
	report_text_counts(out, "families (sessions)", report_bars, n, m->sessions);
	fprintf(out, "\ntop sources\n");
	for (int i = 0; i < m->ntop; i++) {
		const struct report_source *src = &m->top[i];
		fprintf(out, "  %-40s %6ld sessions  %-14s bursts:", src->ip, src->sessions,
		    report_class_name(src->class));
		for (int k = 0; k < src->nsizes; k++) {
			if (k >= 12) {
				fprintf(out, " ...");
				break;
			}
			fprintf(out, " %d", src->sizes[k]);
		}
		fputc('\n', out);
	}
	fprintf(out, "\nstrategy yield\n");
	for (int i = 0; i < m->nstrategies; i++) {
		const struct yield_row *r = &m->strategies[i];
		double drop = yield_dropped_share(r);
		char med[32] = "-", d[32] = "never spoke";
		if (r->median_first_byte_ms >= 0)
			snprintf(med, sizeof(med), "%.0f ms", r->median_first_byte_ms);
		if (drop >= 0)
			snprintf(d, sizeof(d), "%.1f%%", 100.0 * drop);
		fprintf(out, "  %-14s %7lld sessions  %5.1f%% sent payload  median first byte %-9s "
		    "left at first byte %s\n", r->strategy, r->sessions,
		    100.0 * yield_payload_share(r), med, d);
	}
	report_experiment_text(out, m);
	report_text_values(out, "sessions per sensor", m->sensors, m->nsensors);
	report_text_values(out, "top paths", m->paths, m->npaths);
	report_text_values(out, "top user agents", m->user_agents, m->nuser_agents);
	report_text_shapes(out, m);
	report_text_tags(out, m);
	report_text_os(out, m);
	report_text_tls(out, m);
	fprintf(out, "\ntimeline (sessions per hour, UTC)\n");
	for (size_t i = 0; i < m->nhours; i++)
		fprintf(out, "  %s  %7ld\n", m->hours[i].key, m->hours[i].sessions);
}

/* ---- json ------------------------------------------------------------ */

static json_t *report_json_bars(const struct report_bar *bars, size_t n)
{
	json_t *obj = json_object();

	for (size_t i = 0; i < n; i++)
		json_object_set_new(obj, bars[i].label, json_integer(bars[i].value));
	return obj;
}

static json_t *report_json_top_sources(const struct report_model *m)
{
	json_t *arr = json_array();

	for (int i = 0; i < m->ntop; i++) {
		const struct report_source *src = &m->top[i];
		json_t *sizes = json_array();
		for (int k = 0; k < src->nsizes; k++)
			json_array_append_new(sizes, json_integer(src->sizes[k]));
		json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:o, s:s}",
		    "src_ip", src->ip, "sessions", (json_int_t)src->sessions,
		    "bursts", (json_int_t)src->bursts, "burst_sizes", sizes,
		    "class", report_class_name(src->class)));
	}
	return arr;
}

static json_t *report_json_timeline(const struct report_model *m)
{
	json_t *timeline = json_array();

	for (size_t i = 0; i < m->nhours; i++) {
		const struct report_hour *h = &m->hours[i];
		json_t *bc = json_object(), *bf = json_object();
		for (int c = 0; c < CLASS_COUNT; c++)
			if (h->by_class[c])
				json_object_set_new(bc, report_class_name(c),
				    json_integer(h->by_class[c]));
		for (int f = 0; f < m->nfamilies; f++)
			if (h->by_family[f])
				json_object_set_new(bf, m->families[f], json_integer(h->by_family[f]));
		json_array_append_new(timeline, json_pack("{s:s, s:I, s:o, s:o}",
		    "hour", h->key, "sessions", (json_int_t)h->sessions,
		    "by_class", bc, "by_family", bf));
	}
	return timeline;
}

/* Top values as [[value, count], ...]. */
static json_t *report_json_values(const struct report_value *values, int n)
{
	json_t *arr = json_array();

	for (int i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("[s, I]", values[i].value,
		    (json_int_t)values[i].count));
	return arr;
}

static json_t *report_json_shapes(const struct report_model *m)
{
	json_t *top = json_array();

	for (int i = 0; i < m->nshapes; i++) {
		const struct report_shape *sh = &m->shapes[i];
		json_array_append_new(top, json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:s, s:s, "
		    "s:s, s:s}", "shape", sh->group, "text", sh->text, "current", sh->current,
		    "sessions", (json_int_t)sh->sessions, "sources", (json_int_t)sh->sources,
		    "orders", (json_int_t)sh->orders, "first_seen", sh->first_seen,
		    "last_seen", sh->last_seen, "example_session", sh->example_session,
		    "example", sh->example));
	}
	return json_pack("{s:I, s:I, s:I, s:o}", "sessions", (json_int_t)m->unknown,
	    "unshaped", (json_int_t)m->unshaped, "unclassified", (json_int_t)m->unclassified,
	    "top", top);
}

static json_t *report_json_tags(const struct report_model *m)
{
	json_t *top = json_array();

	for (int i = 0; i < m->ntags; i++) {
		const struct report_tag *tg = &m->tags[i];
		json_t *families = json_array();
		for (int k = 0; k < tg->nfamilies; k++)
			json_array_append_new(families, json_pack("[s, I]",
			    m->families[tg->families[k]], (json_int_t)tg->family_sessions[k]));
		json_array_append_new(top, json_pack("{s:s, s:I, s:I, s:s, s:s, s:o}",
		    "tag", tg->tag, "sessions", (json_int_t)tg->sessions,
		    "sources", (json_int_t)tg->sources, "first_seen", tg->first_seen,
		    "last_seen", tg->last_seen, "families", families));
	}
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "sessions", (json_int_t)m->tagged,
	    "distinct", (json_int_t)m->tags_distinct, "over_cap", (json_int_t)m->tags_over,
	    "untagged", (json_int_t)m->untagged, "unclassified", (json_int_t)m->unclassified,
	    "top", top);
}

/* {"sessions_with_syn", "without_syn", "proxy_syn", "by_class": {class:
 * {"sessions", "labels": [[label, sessions]...]}}} */
static json_t *report_json_os(const struct report_model *m)
{
	struct report_os_row rows[REPORT_MAX_OS + 1];
	json_t *by_class = json_object();

	for (int c = 0; c < CLASS_COUNT; c++) {
		json_t *labels = json_array();
		int n = report_os_rows(m, c, rows);
		for (int i = 0; i < n; i++)
			json_array_append_new(labels, json_pack("[s, I]", rows[i].label,
			    (json_int_t)rows[i].sessions));
		json_object_set_new(by_class, report_class_name(c), json_pack("{s:I, s:o}",
		    "sessions", (json_int_t)m->os_syn_by_class[c], "labels", labels));
	}
	return json_pack("{s:I, s:I, s:I, s:o}", "sessions_with_syn",
	    (json_int_t)report_os_total(m), "without_syn", (json_int_t)m->os_without_syn,
	    "proxy_syn", (json_int_t)m->os_proxy, "by_class", by_class);
}

/* {name: count} of every name (nonzero only when sparse). */
static json_t *report_json_named(const long *counts, int n, const char *(*name)(int),
    bool sparse)
{
	json_t *obj = json_object();

	for (int i = 0; i < n; i++) {
		if (counts[i] || !sparse)
			json_object_set_new(obj, name(i), json_integer(counts[i]));
	}
	return obj;
}

static json_t *report_json_tls_top(const struct report_model *m, enum report_tls_table t)
{
	const struct report_tls_top *top = &m->tls.top[t];
	json_t *rows = json_array();

	for (int i = 0; i < top->n; i++) {
		const struct report_tls_row *r = &top->rows[i];
		json_t *families = json_array();
		for (int k = 0; k < r->nfamilies; k++)
			json_array_append_new(families, json_pack("[s, I]",
			    m->families[r->families[k]], (json_int_t)r->family_sessions[k]));
		json_t *row = json_pack("{s:s, s:I, s:I, s:o, s:o}", report_tls_key_name(t), r->key,
		    "sessions", (json_int_t)r->sessions, "sources", (json_int_t)r->sources,
		    "families", families,
		    "classes", report_json_named(r->by_class, CLASS_COUNT, report_class_i, true));
		if (t == RTLS_T_JA3) {
			json_object_set_new(row, "ja3", json_string(r->note));
			json_object_set_new(row, "ja3_cut", json_boolean(r->note_cut));
		}
		json_array_append_new(rows, row);
	}
	return json_pack("{s:I, s:I, s:I, s:o}", "distinct", (json_int_t)top->distinct,
	    "without", (json_int_t)top->without, "over_cap", (json_int_t)top->over, "top", rows);
}

/* {"sessions", "hellos", "states", "front": {"sessions", "outcomes"},
 * "versions", "versions_by_day": [{"day", "versions"}], "days_over",
 * "ja3", "ja4", "sni", "alerts": {"distinct", "without", "over_cap",
 * "top": [...]}} */
static json_t *report_json_tls(const struct report_model *m)
{
	const struct report_tls *t = &m->tls;
	json_t *days = json_array();

	for (size_t i = 0; i < t->ndays; i++)
		json_array_append_new(days, json_pack("{s:s, s:o}", "day", t->days[i].day,
		    "versions", report_json_named(t->days[i].by_version, RTLS_V_COUNT,
		    report_tls_version_i, true)));
	return json_pack("{s:I, s:I, s:o, s:{s:I, s:o}, s:o, s:o, s:I, s:o, s:o, s:o, s:o}",
	    "sessions", (json_int_t)t->sessions, "hellos", (json_int_t)t->hellos,
	    "states", report_json_named(t->states, RTLS_STATE_COUNT, report_tls_state_i, false),
	    "front", "sessions", (json_int_t)t->front,
	    "outcomes", report_json_named(t->outcomes, RTLS_OUTCOME_COUNT, report_tls_outcome_i,
	    false),
	    "versions", report_json_named(t->by_version, RTLS_V_COUNT, report_tls_version_i, false),
	    "versions_by_day", days, "days_over", (json_int_t)t->days_over,
	    "ja3", report_json_tls_top(m, RTLS_T_JA3), "ja4", report_json_tls_top(m, RTLS_T_JA4),
	    "sni", report_json_tls_top(m, RTLS_T_SNI),
	    "alerts", report_json_tls_top(m, RTLS_T_ALERT));
}

static json_t *report_json(const struct report_model *m)
{
	json_t *root = json_object(), *sclasses = json_object(), *top_sources = json_array();
	size_t n;

	for (int c = 0; c < CLASS_HALF_OPEN; c++)     /* a source is never half-open */
		json_object_set_new(sclasses, report_class_name(c),
		    json_integer(m->sources_by_class[c]));
	json_object_set_new(root, "sessions", json_integer(m->sessions));
	json_object_set_new(root, "refused", json_integer(m->refused));
	json_object_set_new(root, "half_open", json_integer(m->half_open));
	json_object_set_new(root, "sources", json_integer(m->sources));
	json_object_set_new(root, "since", json_string(m->since));
	json_object_set_new(root, "until", json_string(m->until));
	n = report_bars_bursts(m, report_bars);
	json_object_set_new(root, "bursts", json_pack("{s:I, s:I, s:o, s:o}",
	    "count", (json_int_t)m->bursts, "gap_ms", (json_int_t)m->gap_ms,
	    "size_histogram", report_json_bars(report_bars, n),
	    "top_sources", report_json_top_sources(m)));
	n = report_bars_classes(m, report_bars);
	/* half-open handshakes are "half_open" above, not sessions */
	json_object_set_new(root, "classes", json_pack("{s:o, s:o}",
	    "sessions", report_json_bars(report_bars, n), "sources", sclasses));
	n = report_bars_families(m, report_bars);
	json_object_set_new(root, "families", report_json_bars(report_bars, n));
	json_object_set_new(root, "strategies", yield_rows_json(m->strategies, m->nstrategies));
	json_object_set_new(root, "experiment", report_experiment_json(m));
	json_object_set_new(root, "timeline", report_json_timeline(m));
	for (int i = 0; i < m->ntop; i++)
		json_array_append_new(top_sources, json_pack("[s, I]", m->top[i].ip,
		    (json_int_t)m->top[i].sessions));
	json_object_set_new(root, "top", json_pack("{s:o, s:o, s:o}",
	    "sources", top_sources,
	    "paths", report_json_values(m->paths, m->npaths),
	    "user_agents", report_json_values(m->user_agents, m->nuser_agents)));
	json_object_set_new(root, "sensors", report_json_values(m->sensors, m->nsensors));
	json_object_set_new(root, "unknown_shapes", report_json_shapes(m));
	json_object_set_new(root, "techniques", report_json_tags(m));
	json_object_set_new(root, "operating_systems", report_json_os(m));
	json_object_set_new(root, "tls", report_json_tls(m));
	return root;
}

int report_render_json(FILE *out, const struct report_model *m)
{
	json_t *root = report_json(m);
	char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

	fprintf(out, "%s\n", text ? text : "{}");
	free(text);
	json_decref(root);
	return text ? 0 : -1;
}

/* ---- html ------------------------------------------------------------ */

/* A horizontal bar chart of counts. */
static void report_svg_hbars(FILE *out, const char *id, const char *title,
    const struct report_bar *bars, size_t n, const char *color)
{
	double max = 1;
	int y = 0;

	for (size_t i = 0; i < n; i++) {
		if ((double)bars[i].value > max)
			max = (double)bars[i].value;
	}
	fprintf(out, "<h2>%s</h2>\n<svg id=\"%s\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\" "
	    "width=\"760\" height=\"%d\" viewBox=\"0 0 760 %d\">\n", title, id, 28 * (int)n + 10,
	    28 * (int)n + 10);
	for (size_t i = 0; i < n; i++) {
		double v = (double)bars[i].value, w = 520.0 * v / max;
		fprintf(out, "<text x=\"0\" y=\"%d\" class=\"l\">", y + 18);
		report_html_escape(out, bars[i].label);
		fprintf(out, "</text><rect x=\"170\" y=\"%d\" width=\"%.1f\" height=\"20\" fill=\"%s\">"
		    "<title>", y + 4, w < 1 ? 1 : w, color);
		report_html_escape(out, bars[i].label);
		fprintf(out, ": %g</title></rect><text x=\"%.1f\" y=\"%d\" class=\"v\">%g</text>\n",
		    v, 176 + w, y + 18, v);
		y += 28;
	}
	fputs("</svg>\n", out);
}

/* The timeline: stacked bars per hour by behaviour class. */
static void report_html_timeline(FILE *out, const struct report_model *m)
{
	size_t nh = m->nhours;
	double max = 1;

	for (size_t i = 0; i < nh; i++) {
		if ((double)m->hours[i].sessions > max)
			max = (double)m->hours[i].sessions;
	}
	double bw = nh ? 720.0 / (double)nh : 720.0;
	fputs("<h2>Timeline: sessions per hour by behaviour</h2>\n<p class=\"legend\">", out);
	for (int c = 0; c < CLASS_HALF_OPEN; c++)    /* half-open rows have no hours */
		fprintf(out, "<span><i style=\"background:%s\"></i>%s</span>", report_class_colors[c],
		    report_class_name(c));
	fprintf(out, "</p>\n<svg id=\"chart-timeline\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\" "
	    "width=\"760\" height=\"240\" viewBox=\"0 0 760 240\">\n"
	    "<line x1=\"30\" y1=\"210\" x2=\"750\" y2=\"210\" stroke=\"#a0aec0\"/>\n"
	    "<text x=\"0\" y=\"20\">%g</text>\n", max);
	for (size_t i = 0; i < nh; i++) {
		double y = 210;
		const char *hour = m->hours[i].key;
		for (int c = 0; c < CLASS_COUNT; c++) {
			double n = (double)m->hours[i].by_class[c];
			double hgt = 190.0 * n / max;
			if (n <= 0)
				continue;
			y -= hgt;
			fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
			    "<title>", 30 + bw * (double)i + 1, y, bw > 3 ? bw - 2 : bw, hgt,
			    report_class_colors[c]);
			report_html_escape(out, hour);
			fprintf(out, " %s: %g</title></rect>\n", report_class_name(c), n);
		}
		if (nh <= 24 || i % (nh / 12 + 1) == 0) {
			/* the hour of "2026-11-27T05"; a stored start_ts may be shorter */
			fprintf(out, "<text x=\"%.1f\" y=\"228\">", 30 + bw * (double)i);
			report_html_escape(out, strlen(hour) > 11 ? hour + 11 : hour);
			fputs("</text>\n", out);
		}
	}
	fputs("</svg>\n", out);
}

/* Strategy yield: two bars per strategy. */
static void report_html_strategies(FILE *out, const struct report_model *m)
{
	size_t ns = (size_t)m->nstrategies;

	fprintf(out, "<h2>Strategy yield</h2>\n<p class=\"legend\"><span><i style=\"background:#38a169\">"
	    "</i>sent a payload</span><span><i style=\"background:#c53030\"></i>left at flypaper's first "
	    "byte</span></p>\n<svg id=\"chart-strategies\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\" "
	    "width=\"760\" height=\"%zu\" viewBox=\"0 0 760 %zu\">\n", 44 * ns + 10, 44 * ns + 10);
	for (size_t i = 0; i < ns; i++) {
		const struct yield_row *r = &m->strategies[i];
		double pay = yield_payload_share(r);
		double drop = yield_dropped_share(r);
		int y = (int)i * 44;
		char dlabel[32];
		if (drop < 0) {
			drop = 0;
			snprintf(dlabel, sizeof(dlabel), "never spoke");
		} else {
			snprintf(dlabel, sizeof(dlabel), "%.1f%%", 100 * drop);
		}
		fprintf(out, "<text x=\"0\" y=\"%d\">", y + 24);
		report_html_escape(out, r->strategy);
		fprintf(out, "</text><rect x=\"170\" y=\"%d\" width=\"%.1f\" height=\"16\" fill=\"#38a169\">"
		    "<title>sent a payload: %.1f%%</title></rect><text x=\"%.1f\" y=\"%d\" class=\"v\">%.1f%%</text>\n"
		    "<rect x=\"170\" y=\"%d\" width=\"%.1f\" height=\"16\" fill=\"#c53030\"><title>left at first "
		    "byte: %.1f%%</title></rect><text x=\"%.1f\" y=\"%d\" class=\"v\">%s</text>\n",
		    y + 4, 500 * pay + 1, 100 * pay, 176 + 500 * pay, y + 17, 100 * pay,
		    y + 22, 500 * drop + 1, 100 * drop, 176 + 500 * drop, y + 35, dlabel);
	}
	fputs("</svg>\n", out);
}

static void report_html_values(FILE *out, const char *title,
    const struct report_value *values, int n)
{
	fprintf(out, "<h2>%s</h2>\n<table>\n", title);
	for (int i = 0; i < n; i++) {
		fprintf(out, "<tr><td>%lld</td><td style=\"text-align:left\">", values[i].count);
		report_html_escape(out, values[i].value);
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
}

static void report_html_shapes(FILE *out, const struct report_model *m)
{
	fprintf(out, "<h2>Top unknown shapes</h2>\n<p>%ld sessions with a payload and no family",
	    m->unknown);
	if (m->unshaped)
		fprintf(out, "; %ld without a shape (run flypaper rescan)", m->unshaped);
	if (m->unclassified)
		fprintf(out, "; %ld more not classified yet (flypaper rescan classifies them)",
		    m->unclassified);
	fputs(".</p>\n<table id=\"unknown-shapes\"><tr><th>shape</th><th>sessions</th>"
	    "<th>sources</th><th>orders</th><th>first seen</th><th>last seen</th></tr>\n", out);
	/* Two rows a shape: its form and counts, then its id and example. */
	for (int i = 0; i < m->nshapes; i++) {
		const struct report_shape *sh = &m->shapes[i];
		fputs("<tr><td class=\"shape\">", out);
		report_html_escape(out, sh->text);
		fprintf(out, "</td><td>%ld</td><td>%ld</td><td>%ld</td><td>",
		    sh->sessions, sh->sources, sh->orders);
		report_html_escape(out, sh->first_seen);
		fputs("</td><td>", out);
		report_html_escape(out, sh->last_seen);
		fputs("</td></tr>\n<tr><td class=\"example\" colspan=\"6\">", out);
		report_html_escape(out, sh->group);
		report_html_escape(out, report_shape_note(sh));
		fputs(", e.g. ", out);
		report_html_escape(out, sh->example_session);
		fputs(": ", out);
		report_html_escape(out, sh->example);
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
}

static void report_html_tags(FILE *out, const struct report_model *m)
{
	char notes[512];

	report_tags_notes(notes, sizeof(notes), m, "run flypaper rescan");
	fprintf(out, "<h2>Techniques</h2>\n<p>%ld sessions with a technique tag, "
	    "%ld distinct tags", m->tagged, m->tags_distinct);
	report_html_escape(out, notes);
	fputs(".</p>\n<table id=\"techniques\"><tr><th>tag</th><th>sessions</th>"
	    "<th>sources</th><th>first seen</th><th>last seen</th><th>families</th></tr>\n", out);
	for (int i = 0; i < m->ntags; i++) {
		const struct report_tag *tg = &m->tags[i];
		fputs("<tr><td>", out);
		report_html_escape(out, tg->tag);
		fprintf(out, "</td><td>%ld</td><td>%ld</td><td>", tg->sessions, tg->sources);
		report_html_escape(out, tg->first_seen);
		fputs("</td><td>", out);
		report_html_escape(out, tg->last_seen);
		fputs("</td><td style=\"text-align:left\">", out);
		for (int k = 0; k < tg->nfamilies; k++) {
			fputs(k ? ", " : "", out);
			report_html_escape(out, m->families[tg->families[k]]);
			fprintf(out, " %ld", tg->family_sessions[k]);
		}
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
	if (m->tags_distinct > m->ntags)
		fprintf(out, "<p>%ld more tags.</p>\n", m->tags_distinct - m->ntags);
}

/* A table: a row per label (and "(no match)"), a column per behaviour
 * class, each cell the sessions and their share of the class. */
static void report_html_os(FILE *out, const struct report_model *m)
{
	fprintf(out, "<h2>Operating systems</h2>\n<p>p0f labels of the peers' own SYNs: "
	    "%ld sessions with one, %ld without a SYN, %ld behind a proxy not counted.</p>\n"
	    "<table id=\"os\"><tr><th>label</th>", report_os_total(m), m->os_without_syn,
	    m->os_proxy);
	for (int c = 0; c < CLASS_COUNT; c++) {
		fputs("<th>", out);
		report_html_escape(out, report_class_name(c));
		fputs("</th>", out);
	}
	fputs("</tr>\n", out);
	for (int i = 0; i <= m->nos; i++) {
		const long *by = i < m->nos ? m->os[i].by_class : m->os_unmatched_by_class;
		long any = 0;
		for (int c = 0; c < CLASS_COUNT; c++)
			any += by[c];
		if (!any)
			continue;
		fputs("<tr><td>", out);
		report_html_escape(out, i < m->nos ? report_os_label(m, i) : "(no match)");
		fputs("</td>", out);
		for (int c = 0; c < CLASS_COUNT; c++) {
			if (by[c])
				fprintf(out, "<td>%ld (%.1f%%)</td>", by[c],
				    100.0 * by[c] / m->os_syn_by_class[c]);
			else
				fputs("<td></td>", out);
		}
		fputs("</tr>\n", out);
	}
	fputs("</table>\n", out);
}

/* A table of named counts (nonzero ones). */
static void report_html_named(FILE *out, const char *id, const char *head, const long *counts,
    int n, const char *(*name)(int))
{
	fprintf(out, "<table id=\"%s\"><tr><th>%s</th><th>sessions</th></tr>\n", id, head);
	for (int i = 0; i < n; i++) {
		if (counts[i])
			fprintf(out, "<tr><td>%s</td><td>%ld</td></tr>\n", name(i), counts[i]);
	}
	fputs("</table>\n", out);
}

static void report_html_tls_top(FILE *out, const struct report_model *m,
    enum report_tls_table t)
{
	const struct report_tls_top *top = &m->tls.top[t];
	char notes[256];

	report_tls_top_notes(notes, sizeof(notes), top, t);
	fprintf(out, "<h2>TLS: top %s</h2>\n<p>%ld distinct", report_tls_titles[t], top->distinct);
	report_html_escape(out, notes);
	fprintf(out, ".</p>\n<table id=\"tls-%s\"><tr><th>%s</th><th>sessions</th><th>sources</th>"
	    "<th>families</th><th>classes</th></tr>\n", report_tls_table_name(t),
	    report_tls_key_name(t));
	for (int i = 0; i < top->n; i++) {
		const struct report_tls_row *r = &top->rows[i];
		fputs("<tr><td class=\"shape\">", out);
		report_html_escape(out, r->key);
		if (t == RTLS_T_JA3) {
			fputs(" <span class=\"ja3\">", out);
			report_html_escape(out, r->note);
			fputs(r->note_cut ? "...</span>" : "</span>", out);
		}
		fprintf(out, "</td><td>%ld</td><td>%ld</td><td style=\"text-align:left\">",
		    r->sessions, r->sources);
		for (int k = 0; k < r->nfamilies; k++) {
			fputs(k ? ", " : "", out);
			report_html_escape(out, m->families[r->families[k]]);
			fprintf(out, " %ld", r->family_sessions[k]);
		}
		fputs("</td><td style=\"text-align:left\">", out);
		for (int c = 0, k = 0; c < CLASS_COUNT; c++) {
			if (r->by_class[c])
				fprintf(out, "%s%s %ld", k++ ? ", " : "", report_class_name(c),
				    r->by_class[c]);
		}
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
}

/* Versions per day: stacked bars. */
static void report_html_tls_days(FILE *out, const struct report_tls *t)
{
	size_t nd = t->ndays;
	double max = 1, bw = nd ? 720.0 / (double)nd : 720.0;

	for (size_t i = 0; i < nd; i++) {
		double sum = 0;
		for (int v = 0; v < RTLS_V_COUNT; v++)
			sum += (double)t->days[i].by_version[v];
		if (sum > max)
			max = sum;
	}
	fputs("<h2>TLS versions per day (negotiated by the front, else the highest offered)"
	    "</h2>\n<p class=\"legend\">", out);
	for (int v = 0; v < RTLS_V_COUNT; v++)
		fprintf(out, "<span><i style=\"background:%s\"></i>%s</span>",
		    report_tls_version_colors[v], report_tls_version_name(v));
	fprintf(out, "</p>\n<svg id=\"chart-tls-versions\" role=\"img\" "
	    "xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" height=\"240\" "
	    "viewBox=\"0 0 760 240\">\n<line x1=\"30\" y1=\"210\" x2=\"750\" y2=\"210\" "
	    "stroke=\"#a0aec0\"/>\n<text x=\"0\" y=\"20\">%g</text>\n", max);
	for (size_t i = 0; i < nd; i++) {
		double y = 210;
		for (int v = 0; v < RTLS_V_COUNT; v++) {
			double n = (double)t->days[i].by_version[v], hgt = 190.0 * n / max;
			if (n <= 0)
				continue;
			y -= hgt;
			fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
			    "fill=\"%s\"><title>", 30 + bw * (double)i + 1, y, bw > 3 ? bw - 2 : bw,
			    hgt, report_tls_version_colors[v]);
			report_html_escape(out, t->days[i].day);
			fprintf(out, " %s: %g</title></rect>\n", report_tls_version_name(v), n);
		}
		if (nd <= 16 || i % (nd / 8 + 1) == 0) {
			fprintf(out, "<text x=\"%.1f\" y=\"228\">", 30 + bw * (double)i);
			report_html_escape(out, t->days[i].day);
			fputs("</text>\n", out);
		}
	}
	fputs("</svg>\n", out);
}

static void report_html_tls(FILE *out, const struct report_model *m)
{
	const struct report_tls *t = &m->tls;

	fprintf(out, "<h2>TLS</h2>\n<p>%ld sessions began with a TLS handshake or came to a TLS "
	    "listener; %ld ClientHellos read; %ld sessions on a TLS front.</p>\n", t->sessions,
	    t->hellos, t->front);
	report_html_named(out, "tls-states", "hello state", t->states, RTLS_STATE_COUNT,
	    report_tls_state_i);
	report_html_named(out, "tls-outcomes", "front handshake", t->outcomes,
	    RTLS_OUTCOME_COUNT, report_tls_outcome_i);
	report_html_named(out, "tls-versions", "version", t->by_version, RTLS_V_COUNT,
	    report_tls_version_i);
	for (int i = 0; i < RTLS_T_COUNT; i++)
		report_html_tls_top(out, m, i);
	report_html_tls_days(out, t);
}

void report_render_html(FILE *out, const struct report_model *m)
{
	size_t n;

	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	    "<title>flypaper report</title>\n<style>\n"
	    "body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:820px;color:#1a202c}\n"
	    "h1{font-size:1.6em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #e2e8f0}\n"
	    "svg text{font:12px system-ui,sans-serif;fill:#2d3748}svg .v{fill:#4a5568}\n"
	    "table{border-collapse:collapse}td,th{padding:2px 10px;text-align:right}"
	    "td:first-child,th:first-child{text-align:left}\n"
	    ".legend span{display:inline-block;margin-right:1em}"
	    ".legend i{display:inline-block;width:10px;height:10px;margin-right:4px}\n"
	    "td.shape,td.example{text-align:left;font-family:monospace;word-break:break-all}"
	    "td.example{color:#4a5568;padding-bottom:8px}span.ja3{color:#4a5568}\n"
	    "</style></head><body>\n<h1>flypaper report</h1>\n", out);
	fprintf(out, "<p>%ld sessions from %ld sources; %ld bursts; %ld refused.</p>\n",
	    m->sessions, m->sources, m->bursts, m->refused);
	fprintf(out, "<p>%ld half-open handshakes (never accepted: SYN scans).</p>\n",
	    m->half_open);
	report_html_timeline(out, m);
	n = report_bars_bursts(m, report_bars);
	report_svg_hbars(out, "chart-bursts", "Burst sizes (connections per burst)",
	    report_bars, n, "#2c7a7b");
	n = report_bars_classes(m, report_bars);
	report_svg_hbars(out, "chart-classes", "Behaviour classes (sessions)",
	    report_bars, n, "#dd6b20");
	n = report_bars_families(m, report_bars);
	report_svg_hbars(out, "chart-families", "Families (sessions)", report_bars, n, "#2b6cb0");
	report_html_strategies(out, m);
	report_experiment_html(out, m);
	fputs("<h2>Top sources</h2>\n<table><tr><th>source</th><th>sessions</th><th>bursts</th>"
	    "<th>class</th></tr>\n", out);
	for (int i = 0; i < m->ntop; i++) {
		fputs("<tr><td>", out);
		report_html_escape(out, m->top[i].ip);
		fprintf(out, "</td><td>%ld</td><td>%ld</td><td>", m->top[i].sessions,
		    m->top[i].bursts);
		report_html_escape(out, report_class_name(m->top[i].class));
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
	report_html_values(out, "Sessions per sensor", m->sensors, m->nsensors);
	report_html_values(out, "Top paths", m->paths, m->npaths);
	report_html_values(out, "Top user agents", m->user_agents, m->nuser_agents);
	report_html_shapes(out, m);
	report_html_tags(out, m);
	report_html_os(out, m);
	report_html_tls(out, m);
	fputs("</body></html>\n", out);
}
