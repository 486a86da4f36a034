/* options.h - options as table rows. One row per option names it, gives
 * its type, the struct field it sets, its bounds, its help, the commands
 * and the config-file section that take it. The command line, the INI
 * file, the usage text and "flypaper options" all read the same rows, so a
 * new option is one row (plus the code that uses its field). */
#ifndef FLYPAPER_OPTIONS_H
#define FLYPAPER_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define OPTIONS_MAX 64               /* rows in one table (getopt's list is built on the stack) */
#define OPTIONS_SIZE_MAX ((size_t)1 << 40) /* every size option: at most 1T */

/* What a row's value is and how it is stored in its field. Messages are
 * "NAME: 'VALUE' is not ..." for values, "NAME: ..." for strings (which
 * may be long, so they are not quoted back). */
enum option_type {
	OPTION_FLAG,         /* bool; no value on the command line, true/false (1/0, yes/no) in a file */
	OPTION_INT,          /* int within min..max */
	OPTION_COUNT,        /* size_t within min..max */
	OPTION_DOUBLE,       /* double within min..max */
	OPTION_SIZE,         /* size_t bytes: "4096", "64k", "1M", "2G"; at most 1T, then min..max */
	OPTION_DURATION,     /* uint64_t ms: "500ms", "30s", "15m", "2h"; min..max, or 0 with zero_ok */
	OPTION_PROBABILITY,  /* double 0..1, or never (0) or always (1) */
	OPTION_STRING,       /* char *, a heap copy the struct owns; length min..max (max 0: any) */
	OPTION_TEXT,         /* OPTION_STRING whose \r \n \t \\ escapes become bytes */
	OPTION_NAME,         /* OPTION_STRING of printable ASCII only */
	OPTION_CHOICE,       /* int: the index of the value in choices */
	OPTION_ARG,          /* const char *: the value itself, borrowed from argv */
	OPTION_CUSTOM,       /* set() parses and stores it */
};

struct option_row {
	const char *name;            /* long flag without "--"; also the INI key */
	enum option_type type;
	size_t field;                /* offsetof() the field in the table's struct */
	uint64_t min, max;           /* numbers, ms, bytes, or string lengths */
	const char *metavar;         /* shown in --help; NULL: the flag takes no value */
	const char *help;            /* one line for --help */
	unsigned commands;           /* bit per command taking it (the table's own numbering); 0: all */
	const char *section;         /* config-file section taking it; NULL: command line only */
	char letter;                 /* a short flag too ('o' for -o); 0: none */
	bool zero_ok;                /* OPTION_DURATION: 0 ("never") is allowed outside min..max */
	const char *const *choices;  /* OPTION_CHOICE: the values, NULL-terminated */
	/* Messages that replace the type's own (after "NAME: " or "NAME: 'VALUE' "). */
	const char *syntax;          /* the value does not parse */
	const char *under, *over;    /* it parses but is below min / above max */
	/* OPTION_CUSTOM: parses value into the struct at base. Returns 0, or -1
	 * with the whole message ("NAME: ...") in err. */
	int (*set)(void *base, const char *value, char *err, size_t errlen);
};

/* Formats a message into err (errlen bytes) and returns -1, for setters'
 * "return options_error(err, errlen, ...)". */
int options_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The row called name among n rows, or NULL. */
const struct option_row *options_find(const struct option_row *rows, size_t n,
    const char *name);

/* Parses value by row and stores it in the struct at base; a string field
 * already set is freed and replaced (the struct owns its strings). Returns 0,
 * or -1 with "NAME: ..." in err, the struct unchanged. */
int options_set(const struct option_row *row, void *base, const char *value,
    char *err, size_t errlen);

/* Frees the string fields (STRING, TEXT, NAME) of the struct at base and
 * sets them to NULL. */
void options_free(const struct option_row *rows, size_t n, void *base);

/* Prints "      --name META   help" for each row that command takes. */
void options_usage(FILE *out, const struct option_row *rows, size_t n,
    unsigned command);

/* Prints one tab-separated line per row: name, section ("-": none),
 * commands (names from command_names, comma-separated, or "all"),
 * metavar ("-": none), help. For checks of the man pages. */
void options_list(FILE *out, const struct option_row *rows, size_t n,
    const char *const *command_names);

/* Fills getopt_long's table (longopts, OPTIONS_MAX + 3 entries) with the
 * rows command takes, each returning 1000 + its row index, then "help"
 * ('h') and, when config_file, "config" ('c'). Returns the short options
 * string in shortopts ("+hc:o:..."), which holds at least 2 * OPTIONS_MAX + 4. */
struct option;
void options_getopt_table(const struct option_row *rows, size_t n,
    unsigned command, bool config_file, struct option *longopts, char *shortopts);

/* The row a getopt_long return value c stands for, or NULL (c is -1,
 * 'h', 'c', '?' or ':'). */
const struct option_row *options_row_of(const struct option_row *rows,
    size_t n, int c);

/* Describes why getopt_long returned '?' or ':' for argv[optind - 1] into
 * err: "unknown option '--x'", "unknown option '-x'" or "option '--x'
 * needs a value". */
void options_getopt_error(const struct option_row *rows, size_t n,
    char **argv, char *err, size_t errlen);

/* A command whose flags are all rows: report, yield, rescan, classify, sim. */
struct options_command {
	const char *name;            /* messages start "flypaper NAME: " */
	const struct option_row *rows;
	size_t nrows;
	void (*usage)(FILE *out);    /* the command's usage text */
	bool operands;               /* takes arguments after the flags */
};

/* Parses argv[1..] into the struct at base: --help prints the usage to
 * stdout; an unknown flag, a missing or bad value, or an operand the
 * command does not take prints "flypaper NAME: ..." to stderr (and the
 * usage, for an unknown flag). Returns the index of the first operand (at
 * least 1), 0 after --help, or -1 after a problem (exit status 2). */
int options_parse(const struct options_command *cmd, int argc, char **argv,
    void *base);

#endif
