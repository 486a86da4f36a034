/* options.c - parsing, storing, listing and usage text of option rows. */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "units.h"

#define OPTIONS_VAL_BASE 1000        /* getopt value of row 0; above every short flag */

int options_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

#define FIELD(base, row, type) ((type *)((char *)(base) + (row)->field))

const struct option_row *options_find(const struct option_row *rows, size_t n,
    const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].name, name) == 0)
			return &rows[i];
	return NULL;
}

/* "24h", "60s", "100ms": the largest unit that divides ms. */
static void options_duration_text(uint64_t ms, char *buf, size_t len)
{
	if (ms && ms % (3600 * MS_PER_S) == 0)
		snprintf(buf, len, "%" PRIu64 "h", ms / (uint64_t)(3600 * MS_PER_S));
	else if (ms && ms % (60 * MS_PER_S) == 0)
		snprintf(buf, len, "%" PRIu64 "m", ms / (uint64_t)(60 * MS_PER_S));
	else if (ms && ms % MS_PER_S == 0)
		snprintf(buf, len, "%" PRIu64 "s", ms / (uint64_t)MS_PER_S);
	else
		snprintf(buf, len, "%" PRIu64 "ms", ms);
}

/* "64k", "1G", "1000": the largest power of 1024 that divides bytes. */
static void options_size_text(uint64_t bytes, char *buf, size_t len)
{
	static const char units[] = "kMGT";
	int u = -1;

	while (bytes && bytes % 1024 == 0 && u < 3) {
		bytes /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%" PRIu64, bytes);
	else
		snprintf(buf, len, "%" PRIu64 "%c", bytes, units[u]);
}

static int options_parse_long(const char *text, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno || end == text || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* "is not a, b or c" from a NULL-terminated list. */
static void options_choices_text(const char *const *choices, char *buf, size_t len)
{
	size_t used = (size_t)snprintf(buf, len, "is not");

	for (int i = 0; choices[i] && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
		    i == 0 ? " " : choices[i + 1] ? ", " : " or ", choices[i]);
}

/* Refuses value: "NAME: 'VALUE' why". Returns -1. */
static int options_refuse(const struct option_row *row, const char *value,
    const char *why, char *err, size_t errlen)
{
	return options_error(err, errlen, "%s: '%s' %s", row->name, value, why);
}

/* OPTION_INT, OPTION_COUNT: a decimal integer within min..max. One message
 * for all, "is not a number from MIN to MAX", unless the row has its own. */
static int options_integer(const struct option_row *row, const char *value,
    uint64_t *v, char *err, size_t errlen)
{
	char range[96];
	const char *syntax = row->syntax;
	long long i;

	snprintf(range, sizeof(range), "is not a number from %" PRIu64 " to %" PRIu64,
	    row->min, row->max);
	syntax = syntax ? syntax : range;
	if (options_parse_long(value, &i) < 0)
		return options_refuse(row, value, syntax, err, errlen);
	if (i < 0 || (uint64_t)i < row->min)
		return options_refuse(row, value, row->under ? row->under : syntax, err, errlen);
	if ((uint64_t)i > row->max)
		return options_refuse(row, value, row->over ? row->over : syntax, err, errlen);
	*v = (uint64_t)i;
	return 0;
}

/* OPTION_DOUBLE, OPTION_PROBABILITY (which also takes never and always). */
static int options_real(const struct option_row *row, const char *value,
    double *d, char *err, size_t errlen)
{
	char range[96];
	const char *syntax = row->syntax;
	char *end;

	if (row->type == OPTION_PROBABILITY) {
		snprintf(range, sizeof(range), "is not never, always or a probability from 0 to 1");
		if (strcmp(value, "never") == 0 || strcmp(value, "always") == 0) {
			*d = value[0] == 'a' ? 1.0 : 0.0;
			return 0;
		}
	} else {
		snprintf(range, sizeof(range), "is not a number from %" PRIu64 " to %" PRIu64,
		    row->min, row->max);
	}
	syntax = syntax ? syntax : range;
	*d = strtod(value, &end);
	if (end == value || *end != '\0')
		return options_refuse(row, value, syntax, err, errlen);
	if (!(*d >= (double)row->min && *d <= (double)row->max))   /* NaN too */
		return options_refuse(row, value, *d < (double)row->min && row->under ? row->under
		    : *d > (double)row->max && row->over ? row->over : syntax, err, errlen);
	return 0;
}

/* OPTION_SIZE (at most 1T whatever the row says) and OPTION_DURATION (0
 * allowed with zero_ok): the bounds' messages default to "is over 24h",
 * "is under 64k". */
static int options_measure(const struct option_row *row, const char *value,
    uint64_t *v, char *err, size_t errlen)
{
	char bound[32], why[48];
	size_t bytes;
	bool size = row->type == OPTION_SIZE;

	if (size ? units_parse_size(value, &bytes) < 0 : units_parse_duration(value, v) < 0)
		return options_refuse(row, value, row->syntax ? row->syntax : size
		    ? "is not a size (e.g. 4096, 64k, 1M, 1G)"
		    : "is not a duration (e.g. 500ms, 30s, 15m, 2h)", err, errlen);
	if (size && bytes > OPTIONS_SIZE_MAX)
		return options_refuse(row, value, "is over 1T", err, errlen);
	if (size)
		*v = bytes;
	if (*v == 0 && row->zero_ok)
		return 0;
	if (*v > row->max && row->over)
		return options_refuse(row, value, row->over, err, errlen);
	if (*v < row->min && row->under)
		return options_refuse(row, value, row->under, err, errlen);
	if (*v <= row->max && *v >= row->min)
		return 0;
	if (size)
		options_size_text(*v > row->max ? row->max : row->min, bound, sizeof(bound));
	else
		options_duration_text(*v > row->max ? row->max : row->min, bound, sizeof(bound));
	snprintf(why, sizeof(why), "is %s %s", *v > row->max ? "over" : "under", bound);
	return options_refuse(row, value, why, err, errlen);
}

/* Turns the escapes \r \n \t \\ into bytes, so a text can end in CRLF
 * from a one-line INI value or shell argument. */
static int options_unescape(const char *value, char **out, char *err,
    size_t errlen)
{
	char *buf = malloc(strlen(value) + 1);
	char *w = buf;

	if (!buf)
		return options_error(err, errlen, "out of memory");
	for (const char *r = value; *r; r++) {
		if (*r != '\\') {
			*w++ = *r;
			continue;
		}
		switch (*++r) {
		case 'r': *w++ = '\r'; break;
		case 'n': *w++ = '\n'; break;
		case 't': *w++ = '\t'; break;
		case '\\': *w++ = '\\'; break;
		default:
			free(buf);
			return options_error(err, errlen,
			    "unknown escape '\\%c' (use \\r \\n \\t \\\\)", *r ? *r : ' ');
		}
	}
	*w = '\0';
	*out = buf;
	return 0;
}

/* STRING, TEXT, NAME: checks the length (and for NAME the bytes), then
 * replaces the field with a heap copy. */
static int options_string(const struct option_row *row, void *base,
    const char *value, char *err, size_t errlen)
{
	size_t len = strlen(value);
	bool printable = true;
	char *copy = NULL;

	if (row->type == OPTION_NAME)
		for (const char *p = value; *p; p++)
			printable &= *p >= 0x20 && *p < 0x7f;
	if (len < row->min || !printable)
		return options_error(err, errlen, "%s: %s", row->name,
		    row->under ? row->under : "must not be empty");
	if (row->max && len > row->max) {
		if (row->over)
			return options_error(err, errlen, "%s: %s", row->name, row->over);
		return options_error(err, errlen, "%s: longer than %" PRIu64 " bytes",
		    row->name, row->max);
	}
	if (row->type == OPTION_TEXT) {
		if (options_unescape(value, &copy, err, errlen) < 0)
			return -1;
	} else if (!(copy = strdup(value))) {
		return options_error(err, errlen, "out of memory");
	}
	free(*FIELD(base, row, char *));
	*FIELD(base, row, char *) = copy;
	return 0;
}

int options_set(const struct option_row *row, void *base, const char *value,
    char *err, size_t errlen)
{
	char msg[128];
	uint64_t v = 0;
	double d = 0;

	switch (row->type) {
	case OPTION_FLAG:
		if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes"))
			*FIELD(base, row, bool) = true;
		else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no"))
			*FIELD(base, row, bool) = false;
		else
			return options_error(err, errlen, "%s: '%s' is not true or false",
			    row->name, value);
		return 0;
	case OPTION_CHOICE:
		for (int i = 0; row->choices[i]; i++) {
			if (strcmp(row->choices[i], value) == 0) {
				*FIELD(base, row, int) = i;
				return 0;
			}
		}
		options_choices_text(row->choices, msg, sizeof(msg));
		return options_error(err, errlen, "%s: '%s' %s", row->name, value,
		    row->syntax ? row->syntax : msg);
	case OPTION_STRING:
	case OPTION_TEXT:
	case OPTION_NAME:
		return options_string(row, base, value, err, errlen);
	case OPTION_ARG:
		*FIELD(base, row, const char *) = value;
		return 0;
	case OPTION_CUSTOM:
		return row->set(base, value, err, errlen);
	case OPTION_INT:
	case OPTION_COUNT:
		if (options_integer(row, value, &v, err, errlen) < 0)
			return -1;
		if (row->type == OPTION_INT)
			*FIELD(base, row, int) = (int)v;
		else
			*FIELD(base, row, size_t) = (size_t)v;
		return 0;
	case OPTION_DOUBLE:
	case OPTION_PROBABILITY:
		if (options_real(row, value, &d, err, errlen) < 0)
			return -1;
		*FIELD(base, row, double) = d;
		return 0;
	case OPTION_SIZE:
	case OPTION_DURATION:
		if (options_measure(row, value, &v, err, errlen) < 0)
			return -1;
		if (row->type == OPTION_SIZE)
			*FIELD(base, row, size_t) = (size_t)v;
		else
			*FIELD(base, row, uint64_t) = v;
		return 0;
	}
	return options_error(err, errlen, "%s: unknown option type", row->name);
}

void options_free(const struct option_row *rows, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++) {
		enum option_type t = rows[i].type;
		if (t == OPTION_STRING || t == OPTION_TEXT || t == OPTION_NAME) {
			free(*FIELD(base, &rows[i], char *));
			*FIELD(base, &rows[i], char *) = NULL;
		}
	}
}

static bool options_takes(const struct option_row *row, unsigned command)
{
	return row->commands == 0 || (row->commands & command);
}

void options_usage(FILE *out, const struct option_row *rows, size_t n,
    unsigned command)
{
	for (size_t i = 0; i < n; i++) {
		const struct option_row *o = &rows[i];
		char left[64];
		if (!options_takes(o, command))
			continue;
		snprintf(left, sizeof(left), "--%s%s%s", o->name, o->metavar ? " " : "",
		    o->metavar ? o->metavar : "");
		fprintf(out, "      %-21s %s\n", left, o->help);
	}
}

void options_list(FILE *out, const struct option_row *rows, size_t n,
    const char *const *command_names)
{
	for (size_t i = 0; i < n; i++) {
		const struct option_row *o = &rows[i];
		fprintf(out, "%s\t%s\t", o->name, o->section ? o->section : "-");
		if (!o->commands) {
			fputs("all", out);
		} else {
			const char *sep = "";
			for (unsigned b = 0; command_names[b]; b++) {
				if (o->commands & (1u << b)) {
					fprintf(out, "%s%s", sep, command_names[b]);
					sep = ",";
				}
			}
		}
		fprintf(out, "\t%s\t%s\n", o->metavar ? o->metavar : "-", o->help);
	}
}

void options_getopt_table(const struct option_row *rows, size_t n,
    unsigned command, bool config_file, struct option *longopts, char *shortopts)
{
	size_t k = 0;
	char *s = shortopts;

	*s++ = '+';                  /* stop at the first operand */
	*s++ = 'h';
	if (config_file) {
		*s++ = 'c';
		*s++ = ':';
	}
	for (size_t i = 0; i < n && i < OPTIONS_MAX; i++) {
		if (!options_takes(&rows[i], command))
			continue;
		longopts[k++] = (struct option){rows[i].name,
		    rows[i].metavar ? required_argument : no_argument, NULL,
		    (int)(OPTIONS_VAL_BASE + i)};
		if (rows[i].letter) {
			*s++ = rows[i].letter;
			if (rows[i].metavar)
				*s++ = ':';
		}
	}
	*s = '\0';
	if (config_file)
		longopts[k++] = (struct option){"config", required_argument, NULL, 'c'};
	longopts[k++] = (struct option){"help", no_argument, NULL, 'h'};
	longopts[k] = (struct option){NULL, 0, NULL, 0};
}

const struct option_row *options_row_of(const struct option_row *rows,
    size_t n, int c)
{
	for (size_t i = 0; i < n; i++)
		if (c == (int)(OPTIONS_VAL_BASE + i) || (rows[i].letter && c == rows[i].letter))
			return &rows[i];
	return NULL;
}

void options_getopt_error(const struct option_row *rows, size_t n,
    char **argv, char *err, size_t errlen)
{
	const char *bad = argv[optind - 1];

	/* getopt_long puts the value of a flag missing its value in optopt,
	 * 0 for an unknown long flag, the letter for an unknown short one */
	if (optopt && options_row_of(rows, n, optopt))
		options_error(err, errlen, "option '%s' needs a value", bad);
	else if (optopt)
		options_error(err, errlen, "unknown option '-%c'", optopt);
	else
		options_error(err, errlen, "unknown option '%s'", bad);
}

int options_parse(const struct options_command *cmd, int argc, char **argv,
    void *base)
{
	struct option longopts[OPTIONS_MAX + 3];
	char shortopts[2 * OPTIONS_MAX + 5];
	char err[512];
	int c;

	options_getopt_table(cmd->rows, cmd->nrows, ~0u, false, longopts, shortopts);
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		const struct option_row *row = options_row_of(cmd->rows, cmd->nrows, c);
		if (c == 'h' && !row) {
			cmd->usage(stdout);
			return 0;
		}
		if (!row) {
			options_getopt_error(cmd->rows, cmd->nrows, argv, err, sizeof(err));
			fprintf(stderr, "flypaper %s: %s\n", cmd->name, err);
			cmd->usage(stderr);
			return -1;
		}
		if (options_set(row, base, row->metavar ? optarg : "true", err, sizeof(err)) < 0) {
			fprintf(stderr, "flypaper %s: %s\n", cmd->name, err);
			return -1;
		}
	}
	if (optind < argc && !cmd->operands) {
		fprintf(stderr, "flypaper %s: unexpected argument '%s'\n", cmd->name, argv[optind]);
		return -1;
	}
	return optind;
}
