/* pcap_extract.c - "flypaper pcap SESSION... -o FILE": the packets of
 * recorded sessions, cut out of the trace files of --pcap DIR into one
 * pcap file that tshark and Wireshark read. Each session's 4-tuple and
 * times come from the database (the transport addresses of a PROXY
 * session: those are what the wire carried); the files are found by the
 * start times in their names, read in order, and a packet is kept when its
 * addresses and ports are a session's, either way, within its times give
 * or take PCAP_EXTRACT_SLACK_S. The database and the files are read as
 * hostile: rows are checked, packets parsed by frame.c. */
#include "pcap_extract.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "frame.h"
#include "options.h"
#include "pcapname.h"
#include "pcap_api.h"            /* libpcap through dlopen */
#include "record.h"
#include "store.h"
#include "text.h"

#define PCAP_EXTRACT_SLACK_S 2       /* seconds kept before a session's start and after its end */
#define PCAP_EXTRACT_MAX_SESSIONS 1024   /* session ids in one command */
#define PCAP_EXTRACT_MAX_FILES 100000    /* trace files listed in the folder */

/* One session asked for. */
struct pcap_extract_session {
	const char *id;              /* as given (16 hex digits, checked) */
	int family;                  /* 4 or 6 */
	uint8_t a[16], b[16];        /* the peer's and the local address */
	uint16_t aport, bport;
	int64_t from_us, to_us;      /* the window, UTC microseconds */
	bool traced;                 /* its row names a pcap_file */
	uint64_t packets;            /* found */
};

/* A trace file of the folder. */
struct pcap_extract_file {
	int64_t start;
	uint32_t seq;
	char name[PCAPNAME_MAX];
};

struct pcap_extract_args {
	const char *db;
	const char *dir;
	const char *output;
	const char *config;
};

static void pcap_extract_usage(FILE *out)
{
	fprintf(out,
	    "usage: flypaper pcap [-c FILE] [--db FILE] [--pcap DIR] -o FILE SESSION...\n\n"
	    "Writes the packets of the given sessions, both ways, from the trace files\n"
	    "of serve's --pcap DIR into one pcap file (-o -: standard output), in time\n"
	    "order. -c reads db and pcap from serve's configuration file; flags win.\n"
	    "Exit status 1 names a session whose packets are not there (rotated away,\n"
	    "or tracing was off), 2 an unknown session or a bad argument.\n");
}

static const struct option_row pcap_extract_options[] = {
	{.name = "config", .type = OPTION_ARG, .field = offsetof(struct pcap_extract_args, config),
	    .metavar = "FILE", .help = "read db and pcap from serve's configuration", .letter = 'c'},
	{.name = "db", .type = OPTION_ARG, .field = offsetof(struct pcap_extract_args, db),
	    .metavar = "FILE", .help = "the database; default ./flypaper.db"},
	{.name = "pcap", .type = OPTION_ARG, .field = offsetof(struct pcap_extract_args, dir),
	    .metavar = "DIR", .help = "the trace files' folder (serve's --pcap)"},
	{.name = "output", .type = OPTION_ARG, .field = offsetof(struct pcap_extract_args, output),
	    .metavar = "FILE", .help = "write the packets here ('-': stdout)", .letter = 'o'},
};

/* "2026-11-27T05:00:00.123456Z" (record_format_ts; any fraction) into UTC
 * microseconds. Returns 0, or -1 when text is not such a time. */
static int pcap_extract_parse_ts(const char *text, int64_t *us)
{
	struct tm tm = {0};
	int64_t frac = 0, scale = 1000000;
	int n = 0;

	if (!text || sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	        &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 || n != 19)
		return -1;
	text += n;
	if (*text == '.') {
		for (text++; *text >= '0' && *text <= '9'; text++)
			if (scale > 1) {
				scale /= 10;
				frac += (*text - '0') * scale;
			}
	}
	if (strcmp(text, "Z") != 0 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*us = (int64_t)timegm(&tm) * 1000000 + frac;
	return 0;
}

/* A stored address into s's family and bytes. Returns 0, or -1. */
static int pcap_extract_parse_ip(const char *text, struct pcap_extract_session *s,
    uint8_t *out)
{
	int family = text && strchr(text, ':') ? 6 : 4;

	if (!text || inet_pton(family == 6 ? AF_INET6 : AF_INET, text, out) != 1 ||
	    (s->family && s->family != family))
		return -1;
	s->family = family;
	return 0;
}

/* Whether the sessions table has a column (the proxy's via_* columns may
 * not be there). */
static bool pcap_extract_has_column(sqlite3 *db, const char *column)
{
	sqlite3_stmt *q;
	bool found = false;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('sessions') "
	        "WHERE name = ?1", -1, &q, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(q, 1, column, -1, SQLITE_STATIC);
	found = sqlite3_step(q) == SQLITE_ROW;
	sqlite3_finalize(q);
	return found;
}

/* Whether id is 16 hex digits, as session ids are. */
static bool pcap_extract_is_id(const char *id)
{
	size_t n = strlen(id);

	return n == RECORD_ID_LEN - 1 && strspn(id, "0123456789abcdefABCDEF") == n;
}

/* Reads each session's 4-tuple and times. Returns 0, or 2 after a message
 * (an unknown session, a row that does not parse, a database error). */
static int pcap_extract_sessions(sqlite3 *db, const char *db_path,
    struct pcap_extract_session *ss, int n)
{
	bool via = pcap_extract_has_column(db, "via_ip");
	char sql[512], shown[512];
	sqlite3_stmt *q;

	/* A PROXY session's src/dst are the header's; the wire carried
	 * the transport addresses. */
	snprintf(sql, sizeof(sql), "SELECT %s, start_ts, end_ts, pcap_file IS NOT NULL "
	    "FROM sessions WHERE session = lower(?1)", via
	    ? "coalesce(via_ip, src_ip), CASE WHEN via_ip IS NULL THEN src_port ELSE via_port END, "
	      "CASE WHEN via_ip IS NULL THEN dst_ip ELSE via_dst_ip END, "
	      "CASE WHEN via_ip IS NULL THEN dst_port ELSE via_dst_port END"
	    : "src_ip, src_port, dst_ip, dst_port");
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
		fprintf(stderr, "flypaper pcap: %s: %s (a flypaper database of schema 7 "
		    "or later?)\n", db_path, text_display(sqlite3_errmsg(db), shown,
		    sizeof(shown)));
		return 2;
	}
	for (int i = 0; i < n; i++) {
		struct pcap_extract_session *s = &ss[i];
		int64_t sport, dport, start, end;
		int rc;
		sqlite3_reset(q);
		sqlite3_bind_text(q, 1, s->id, -1, SQLITE_STATIC);
		rc = sqlite3_step(q);
		if (rc != SQLITE_ROW) {
			if (rc == SQLITE_DONE)
				fprintf(stderr, "flypaper pcap: session %s: no such session "
				    "in %s\n", s->id, db_path);
			else
				fprintf(stderr, "flypaper pcap: %s: %s\n", db_path,
				    text_display(sqlite3_errmsg(db), shown, sizeof(shown)));
			sqlite3_finalize(q);
			return 2;
		}
		sport = sqlite3_column_int64(q, 1);
		dport = sqlite3_column_int64(q, 3);
		if (pcap_extract_parse_ip((const char *)sqlite3_column_text(q, 0), s, s->a) < 0 ||
		    pcap_extract_parse_ip((const char *)sqlite3_column_text(q, 2), s, s->b) < 0 ||
		    sport < 0 || sport > 65535 || dport < 0 || dport > 65535 ||
		    pcap_extract_parse_ts((const char *)sqlite3_column_text(q, 4), &start) < 0 ||
		    pcap_extract_parse_ts((const char *)sqlite3_column_text(q, 5), &end) < 0 ||
		    end < start) {
			fprintf(stderr, "flypaper pcap: session %s: its row in %s does not "
			    "hold addresses, ports and times\n", s->id, db_path);
			sqlite3_finalize(q);
			return 2;
		}
		s->aport = (uint16_t)sport;
		s->bport = (uint16_t)dport;
		s->from_us = start - PCAP_EXTRACT_SLACK_S * 1000000LL;
		s->to_us = end + PCAP_EXTRACT_SLACK_S * 1000000LL;
		s->traced = sqlite3_column_int(q, 6);
	}
	sqlite3_finalize(q);
	return 0;
}

static int pcap_extract_file_cmp(const void *a, const void *b)
{
	const struct pcap_extract_file *x = a, *y = b;

	return pcapname_compare(x->start, x->seq, y->start, y->seq);
}

/* Lists the folder's trace files, oldest first, into *files. Returns the
 * count, or -1 after a message. */
static int pcap_extract_list(const char *dir, struct pcap_extract_file **files)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0, cap = 0;

	*files = NULL;
	if (!d) {
		perror(dir);
		return -1;
	}
	while ((e = readdir(d)) && n < PCAP_EXTRACT_MAX_FILES) {
		struct pcap_extract_file f;
		if (pcapname_parse(e->d_name, &f.start, &f.seq) < 0)
			continue;
		if (n == cap) {
			struct pcap_extract_file *more;
			cap = cap ? cap * 2 : 64;
			more = realloc(*files, (size_t)cap * sizeof(*more));
			if (!more) {
				closedir(d);
				fprintf(stderr, "flypaper pcap: out of memory\n");
				return -1;
			}
			*files = more;
		}
		pcapname_format((time_t)f.start, f.seq, f.name);
		(*files)[n++] = f;
	}
	closedir(d);
	if (n)
		qsort(*files, (size_t)n, sizeof(**files), pcap_extract_file_cmp);
	return n;
}

/* Whether file i (begun at its name's second, ending where the next one
 * begins, a second's rounding allowed) may hold packets of a session. */
static bool pcap_extract_wanted(const struct pcap_extract_file *files, int nfiles, int i,
    const struct pcap_extract_session *ss, int n)
{
	int64_t from = files[i].start * 1000000;
	int64_t to = i + 1 < nfiles ? (files[i + 1].start + 1) * 1000000 : INT64_MAX;

	for (int k = 0; k < n; k++)
		if (ss[k].from_us < to && ss[k].to_us >= from)
			return true;
	return false;
}

/* The session a packet belongs to, or NULL. */
static struct pcap_extract_session *pcap_extract_match(struct pcap_extract_session *ss,
    int n, int linktype, const struct pcap_pkthdr *h, const u_char *bytes)
{
	int64_t at = (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec;
	struct frame f;

	if (frame_parse(linktype, bytes, h->caplen, &f) < 0)
		return NULL;
	for (int k = 0; k < n; k++) {
		struct pcap_extract_session *s = &ss[k];
		size_t len = s->family == 6 ? 16 : 4;
		if (f.family != s->family || at < s->from_us || at > s->to_us)
			continue;
		if ((f.sport == s->aport && f.dport == s->bport && !memcmp(f.src, s->a, len) &&
		     !memcmp(f.dst, s->b, len)) ||
		    (f.sport == s->bport && f.dport == s->aport && !memcmp(f.src, s->b, len) &&
		     !memcmp(f.dst, s->a, len)))
			return s;
	}
	return NULL;
}

/* Opens a trace file of dir for reading without following a link: the
 * folder is the service user's, and this command may run as root. NULL
 * with errbuf filled when it cannot (a link, not a regular file, not a
 * pcap file). */
static pcap_t *pcap_extract_open(const char *dir, const char *name, char *path,
    size_t pathlen, char *errbuf)
{
	struct stat st;
	FILE *f;
	pcap_t *p;
	int fd;

	snprintf(path, pathlen, "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s", fd < 0 ? strerror(errno)
		    : "not a regular file");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!(f = fdopen(fd, "rb"))) {
		snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s", strerror(errno));
		close(fd);
		return NULL;
	}
	if (!(p = pcap_fopen_offline(f, errbuf)))
		fclose(f);       /* pcap_close closes it otherwise */
	return p;
}

/* Opens the wanted files once to learn their link type (one for all) and
 * largest snaplen. Returns 0, or 2 after a message. */
static int pcap_extract_check(const char *dir, const struct pcap_extract_file *files,
    int nfiles, const bool *wanted, int *linktype, int *snaplen)
{
	char path[4096], errbuf[PCAP_ERRBUF_SIZE];
	const char *first = NULL;

	*linktype = -1;
	*snaplen = 0;
	for (int i = 0; i < nfiles; i++) {
		pcap_t *p;
		if (!wanted[i])
			continue;
		p = pcap_extract_open(dir, files[i].name, path, sizeof(path), errbuf);
		if (!p) {
			fprintf(stderr, "flypaper pcap: %s: skipped: %s\n", path, errbuf);
			continue;
		}
		if (*linktype < 0) {
			*linktype = pcap_datalink(p);
			first = files[i].name;
		} else if (pcap_datalink(p) != *linktype) {
			fprintf(stderr, "flypaper pcap: %s has link type %s, %s %s: one "
			    "output file cannot hold both\n", files[i].name,
			    pcap_datalink_val_to_name(pcap_datalink(p)), first,
			    pcap_datalink_val_to_name(*linktype));
			pcap_close(p);
			return 2;
		}
		if (pcap_snapshot(p) > *snaplen)
			*snaplen = pcap_snapshot(p);
		pcap_close(p);
	}
	return 0;
}

/* Copies the sessions' packets of the wanted files, in order, to out.
 * Returns 0, or 2 after a message. */
static int pcap_extract_copy(const char *dir, const struct pcap_extract_file *files,
    int nfiles, const bool *wanted, struct pcap_extract_session *ss, int n,
    pcap_dumper_t *out)
{
	char path[4096], errbuf[PCAP_ERRBUF_SIZE];

	for (int i = 0; i < nfiles; i++) {
		struct pcap_pkthdr *h;
		const u_char *bytes;
		pcap_t *p;
		int rc;
		if (!wanted[i])
			continue;
		if (!(p = pcap_extract_open(dir, files[i].name, path, sizeof(path), errbuf)))
			continue;    /* said in pcap_extract_check */
		while ((rc = pcap_next_ex(p, &h, &bytes)) == 1) {
			struct pcap_extract_session *s = pcap_extract_match(ss, n,
			    pcap_datalink(p), h, bytes);
			if (!s)
				continue;
			s->packets++;
			pcap_dump((u_char *)out, h, bytes);
		}
		/* A file being written ends mid-packet until its next flush;
		 * one cut by a full disk was trimmed to whole packets. */
		if (rc == PCAP_ERROR)
			fprintf(stderr, "flypaper pcap: %s: %s (read up to there)\n", path,
			    pcap_geterr(p));
		pcap_close(p);
	}
	if (pcap_dump_flush(out) < 0) {
		perror("flypaper pcap: writing the output");
		return 2;
	}
	return 0;
}

/* db and pcap from serve's configuration file, for what the flags did
 * not give. Returns 0, or 2 after a message. */
static int pcap_extract_config(struct pcap_extract_args *args, struct config *cfg)
{
	char err[CONFIG_ERR_LEN];

	config_defaults(cfg);
	if (!args->config)
		return 0;
	if (config_load_file(cfg, args->config, err, sizeof(err)) < 0) {
		fprintf(stderr, "flypaper pcap: %s\n", err);
		return 2;
	}
	if (!args->db)
		args->db = cfg->db_path;
	if (!args->dir)
		args->dir = cfg->pcap_dir;
	return 0;
}

/* Writes the packets of ss to args->output. Returns the exit status. */
static int pcap_extract_run(struct pcap_extract_args *args, struct pcap_extract_session *ss,
    int n)
{
	struct pcap_extract_file *files = NULL;
	pcap_dumper_t *out = NULL;
	pcap_t *dead = NULL;
	bool *wanted = NULL;
	int nfiles, nwanted = 0, linktype, snaplen, rc = 2;

	nfiles = pcap_extract_list(args->dir, &files);
	if (nfiles < 0)
		return 2;
	wanted = calloc((size_t)nfiles + 1, sizeof(*wanted));
	if (!wanted) {
		fprintf(stderr, "flypaper pcap: out of memory\n");
		goto done;
	}
	for (int i = 0; i < nfiles; i++)
		nwanted += wanted[i] = pcap_extract_wanted(files, nfiles, i, ss, n);
	if (pcap_extract_check(args->dir, files, nfiles, wanted, &linktype, &snaplen) != 0)
		goto done;
	if (linktype >= 0) {
		umask(027);      /* what peers sent, as the database */
		dead = pcap_open_dead(linktype, snaplen);
		out = dead ? pcap_dump_open(dead, args->output) : NULL;
		if (!out) {
			fprintf(stderr, "flypaper pcap: %s: %s\n", args->output,
			    dead ? pcap_geterr(dead) : "out of memory");
			goto done;
		}
		if (pcap_extract_copy(args->dir, files, nfiles, wanted, ss, n, out) != 0)
			goto done;
	}
	rc = 0;
	for (int k = 0; k < n; k++) {
		if (ss[k].packets)
			continue;
		fprintf(stderr, "flypaper pcap: session %s: no packets in %s (%s)\n", ss[k].id,
		    args->dir, !ss[k].traced ? "tracing was off when it began"
		    : nwanted ? "rotated away, or not captured" : "its files were rotated away");
		rc = 1;
	}
done:
	if (out)
		pcap_dump_close(out);
	if (dead)
		pcap_close(dead);
	free(wanted);
	free(files);
	return rc;
}

/* Moves the session ids after the flags, so that "pcap ID -o FILE" reads
 * as the usage writes it (the shared flag loop stops at the first
 * operand). Every flag but --help takes a value: "-o -" keeps its "-".
 * Fills out (argc + 1 slots): the flags, pass 0, then the operands, pass
 * 1. Returns the new argc. */
static int pcap_extract_permute(int argc, char **argv, char **out)
{
	int n = 1;

	out[0] = argv[0];
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 1; i < argc; i++) {
			const char *a = argv[i];
			if (strcmp(a, "--") == 0) {
				while (pass == 1 && ++i < argc)
					out[n++] = argv[i];
				break;
			}
			if (a[0] != '-' || !a[1]) {
				if (pass == 1)
					out[n++] = argv[i];
				continue;
			}
			bool value = (a[1] != '-' && strchr("oc", a[1]) && !a[2]) ||
			    (a[1] == '-' && !strchr(a, '=') && strcmp(a, "--help") != 0);
			if (pass == 0)
				out[n++] = argv[i];
			if (value && i + 1 < argc && pass == 0)
				out[n++] = argv[i + 1];
			if (value)
				i++;
		}
	}
	out[n] = NULL;
	return n;
}

int pcap_extract_main(int argc, char **argv)
{
	static const struct options_command cmd = {"pcap", pcap_extract_options,
	    sizeof(pcap_extract_options) / sizeof(pcap_extract_options[0]),
	    pcap_extract_usage, true};
	struct pcap_extract_args args = {0};
	struct pcap_extract_session *ss = NULL;
	struct config cfg;
	sqlite3 *db = NULL;
	char shown[512];
	int first, n, rc;

	char **sorted = calloc((size_t)argc + 1, sizeof(*sorted));
	if (!sorted) {
		fprintf(stderr, "flypaper pcap: out of memory\n");
		return 2;
	}
	argc = pcap_extract_permute(argc, argv, sorted);
	argv = sorted;
	first = options_parse(&cmd, argc, argv, &args);
	if (first <= 0) {
		free(sorted);
		return first < 0 ? 2 : 0;
	}
	if ((rc = pcap_extract_config(&args, &cfg)) != 0)
		goto done;
	rc = 2;
	if (!args.db)
		args.db = "flypaper.db";
	n = argc - first;
	if (!args.output || !args.dir || n < 1 || n > PCAP_EXTRACT_MAX_SESSIONS) {
		fprintf(stderr, "flypaper pcap: %s\n", !args.output ? "-o FILE is needed"
		    : !args.dir ? "--pcap DIR is needed (or pcap in the -c file)"
		    : n < 1 ? "no session given" : "more than 1024 sessions");
		goto done;
	}
	if (pcap_api_load(shown, sizeof(shown)) < 0) {
		fprintf(stderr, "flypaper pcap: %s\n", shown);
		goto done;
	}
	ss = calloc((size_t)n, sizeof(*ss));
	if (!ss) {
		fprintf(stderr, "flypaper pcap: out of memory\n");
		goto done;
	}
	for (int i = 0; i < n; i++) {
		ss[i].id = argv[first + i];
		if (!pcap_extract_is_id(ss[i].id)) {
			fprintf(stderr, "flypaper pcap: '%s' is not a session id (16 hex "
			    "digits)\n", text_display(ss[i].id, shown, sizeof(shown)));
			goto done;
		}
	}
	if (store_open_untrusted(args.db, &db) != SQLITE_OK) {
		fprintf(stderr, "flypaper pcap: %s: %s\n", args.db,
		    text_display(sqlite3_errmsg(db), shown, sizeof(shown)));
		goto done;
	}
	sqlite3_busy_timeout(db, 5000);
	if (pcap_extract_sessions(db, args.db, ss, n) != 0)
		goto done;
	rc = pcap_extract_run(&args, ss, n);
done:
	sqlite3_close(db);
	free(ss);
	free(sorted);
	config_free(&cfg);
	return rc;
}
