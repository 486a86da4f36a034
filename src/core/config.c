/* config.c - defaults in one place, one setter shared by flags and the INI
 * file, and the checks that turn bad settings into clear messages. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MS_PER_S 1000ULL

#ifndef FLYPAPER_RULES_DIR
#define FLYPAPER_RULES_DIR "/usr/share/flypaper/rules"
#endif

#ifndef FLYPAPER_TEMPLATES_DIR
#define FLYPAPER_TEMPLATES_DIR "/usr/share/flypaper/templates"
#endif
#define IDLE_MIN_MS 100ULL
#define TIMEOUT_MAX_MS (24ULL * 3600 * MS_PER_S)
#define CONFIG_QUEUE_BYTES_MIN (64 * 1024)
#define MAX_LAG_MIN_MS 100ULL        /* the writer's 50 ms gather and a commit fit under it */
#define MAX_LAG_MAX_MS (60ULL * MS_PER_S)

static const struct config config_default = {
	.nlisten = 0,
	.workers = 0,
	.db_path = "flypaper.db",
	.jsonl_path = NULL,
	.sensor = NULL,
	.user = NULL,
	.goaway_text = "403 Forbidden: no service here. Go away.\r\n",
	.max_payload = 1024 * 1024,
	.idle_timeout_ms = 30 * MS_PER_S,
	.session_timeout_ms = 15 * 60 * MS_PER_S,
	.on_timeout = TIMEOUT_DROP,
	.max_conns = 16384,
	.max_conns_per_source = 64,
	.max_buffered = 256 * 1024 * 1024,
	.queue_records = 262144,
	.queue_bytes = 256 * 1024 * 1024,
	.flush_timeout_ms = 10 * MS_PER_S,
	/* A kill -9 loses what is not committed. The lag overshoots this by
	 * the time the writer needs for what was accepted before the pause,
	 * and a commit: half a second leaves the other half of the promised
	 * second for that (DESIGN.md, Durability). */
	.max_lag_ms = 500,
	.check_only = false,
	.respond = "silent",
	.banner_text = "220 Welcome\r\n",
	.respond_delay_ms = 0,
	.tarpit_interval_ms = 10 * MS_PER_S,
	.templates_dir = FLYPAPER_TEMPLATES_DIR,
	.max_requests = 100,
	.ident_probability = 0.0,
	.ident_port = 113,
	.ident_timeout_ms = 10 * MS_PER_S,
	.ident_interval_ms = 60 * MS_PER_S,
	.ident_max = 64,
	.experiment = NULL,
	.experiment_salt = NULL,
	.rules = FLYPAPER_RULES_DIR,
};

/* One row per option: the long name is also the INI key. */
struct config_option {
	const char *name;
	int has_arg;
	bool serve_only;             /* meaningless for the inetd command */
	const char *arg;
	const char *help;
};

static const struct config_option config_options[] = {
	{"listen", 1, true, "ADDR:PORT",
	    "listen here (repeatable; [::1]:8080 for IPv6); default 127.0.0.1:8080"},
	{"workers", 1, true, "N", "event-loop threads; default one per core"},
	{"db", 1, false, "FILE", "SQLite database; default ./flypaper.db"},
	{"jsonl", 1, false, "FILE", "also write JSON lines here ('-' is stdout)"},
	{"sensor", 1, false, "NAME", "sensor name in every record (printable ASCII); default the host name"},
	{"max-payload", 1, false, "SIZE", "payload bytes kept per session, at most 1000000000; default 1M"},
	{"idle-timeout", 1, false, "DUR", "read timeout, 100ms..24h; default 30s"},
	{"session-timeout", 1, false, "DUR", "hard cap per session, 100ms..24h; default 15m"},
	{"on-timeout", 1, false, "ACTION", "drop, goaway or reset; default drop"},
	{"goaway-text", 1, false, "TEXT", "what goaway writes; \\r \\n \\t escapes allowed"},
	{"max-conns", 1, true, "N", "concurrent sessions; default 16384"},
	{"max-conns-per-source", 1, true, "N",
	    "concurrent sessions per IPv4 address or IPv6 /64; default 64"},
	{"max-buffered", 1, true, "SIZE",
	    "payload past each session's first 16K, and unsent output, held "
	    "by all sessions; default 256M"},
	{"queue-records", 1, false, "N", "writer queue cap in records; default 262144"},
	{"queue-bytes", 1, false, "SIZE",
	    "writer queue cap in bytes of whole records, 64k..1T; default 256M"},
	{"flush-timeout", 1, false, "DUR", "how long exit retries a failing store; default 10s"},
	{"max-lag", 1, true, "DUR",
	    "pause accepting while the writer is DUR behind, 0 (never) or 100ms..60s; default 500ms"},
	{"user", 1, true, "NAME", "drop root privileges to NAME after binding"},
	{"respond", 1, false, "STRATEGY", "silent, banner, tarpit, http-NAME (a folder in the templates directory)"},
	{"banner-text", 1, false, "TEXT", "what banner sends after accept; escapes allowed"},
	{"respond-delay", 1, false, "DUR", "http: answer a peer that sent no request after DUR"},
	{"tarpit-interval", 1, false, "DUR", "tarpit: one byte per DUR; default 10s"},
	{"templates", 1, false, "DIR", "http personalities' templates"},
	{"max-requests", 1, false, "N", "HTTP requests recorded per session; default 100"},
	{"ident", 1, false, "WHEN", "IDENT probes: never, always, or a probability 0..1"},
	{"ident-port", 1, false, "PORT", "the peer's port probed; default 113"},
	{"ident-timeout", 1, false, "DUR", "connect and reply time limit; default 10s"},
	{"ident-interval", 1, false, "DUR", "at most one probe per source per DUR; default 60s"},
	{"ident-max", 1, false, "N", "probes in flight at once; default 64"},
	{"experiment", 1, false, "ARMS", "assign strategies per source, e.g. silent:1,http-iis5:1"},
	{"experiment-salt", 1, false, "TEXT", "key of the assignment hash; default the sensor"},
	{"rules", 1, false, "PATHS", "YARA rule files or folders, ':'-separated, or none"},
	{"check", 0, true, NULL, "validate the configuration and exit"},
};

#define CONFIG_NOPTIONS (sizeof(config_options) / sizeof(config_options[0]))

static int config_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

void config_defaults(struct config *cfg)
{
	*cfg = config_default;
	cfg->db_path = strdup(config_default.db_path);
	cfg->goaway_text = strdup(config_default.goaway_text);
	cfg->respond = strdup(config_default.respond);
	cfg->banner_text = strdup(config_default.banner_text);
	cfg->templates_dir = strdup(config_default.templates_dir);
	cfg->rules = strdup(config_default.rules);
	if (!cfg->db_path || !cfg->goaway_text || !cfg->respond ||
	    !cfg->banner_text || !cfg->templates_dir || !cfg->rules) {
		fprintf(stderr, "flypaper: out of memory\n");
		exit(2);
	}
}

int config_parse_duration(const char *text, uint64_t *ms)
{
	char *end;
	double v;
	double scale;

	if (*text < '0' || *text > '9')
		return -1;
	errno = 0;
	v = strtod(text, &end);
	if (errno || end == text)
		return -1;
	if (*end == '\0' || strcmp(end, "s") == 0)
		scale = 1000.0;
	else if (strcmp(end, "ms") == 0)
		scale = 1.0;
	else if (strcmp(end, "m") == 0)
		scale = 60.0 * 1000.0;
	else if (strcmp(end, "h") == 0)
		scale = 3600.0 * 1000.0;
	else
		return -1;
	v *= scale;
	if (v < 0 || v > 1e15)
		return -1;
	*ms = (uint64_t)(v + 0.5);
	return 0;
}

int config_parse_size(const char *text, size_t *bytes)
{
	char *end;
	unsigned long long v;
	unsigned long long scale = 1;

	if (*text < '0' || *text > '9')
		return -1;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno)
		return -1;
	if (*end != '\0') {
		switch (*end) {
		case 'k': case 'K': scale = 1ULL << 10; break;
		case 'm': case 'M': scale = 1ULL << 20; break;
		case 'g': case 'G': scale = 1ULL << 30; break;
		default: return -1;
		}
		if (end[1] != '\0' && strcasecmp(end + 1, "B") != 0 &&
		    strcasecmp(end + 1, "iB") != 0)
			return -1;
	}
	if (v > SIZE_MAX / scale)
		return -1;
	*bytes = (size_t)(v * scale);
	return 0;
}

static int config_parse_int(const char *text, long min, long max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || *end != '\0' || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

/* Replaces *slot with a copy of value, freeing an earlier copy. */
static int config_set_string(char **slot, const char *value, char *err,
    size_t errlen)
{
	char *copy = strdup(value);

	if (!copy)
		return config_error(err, errlen, "out of memory");
	*slot = copy;
	return 0;
}

/* Turns the escapes \r \n \t \\ into bytes, so a goaway text can end in
 * CRLF from a one-line INI value or shell argument. */
static int config_unescape(const char *value, char **out, char *err,
    size_t errlen)
{
	char *buf = malloc(strlen(value) + 1);
	char *w = buf;

	if (!buf)
		return config_error(err, errlen, "out of memory");
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
			return config_error(err, errlen,
			    "unknown escape '\\%c' (use \\r \\n \\t \\\\)",
			    *r ? *r : ' ');
		}
	}
	*w = '\0';
	*out = buf;
	return 0;
}

static int config_replace(char **slot, const char *value, bool unescape,
    char *err, size_t errlen)
{
	char *old = *slot;
	int rc;

	if (unescape)
		rc = config_unescape(value, slot, err, errlen);
	else
		rc = config_set_string(slot, value, err, errlen);
	if (rc < 0)
		return rc;
	free(old);
	return 0;
}

int config_set(struct config *cfg, const char *name, const char *value,
    char *err, size_t errlen)
{
	uint64_t ms;
	size_t bytes;

	if (strcmp(name, "listen") == 0) {
		if (cfg->nlisten >= CONFIG_MAX_LISTEN)
			return config_error(err, errlen,
			    "listen: more than %d addresses", CONFIG_MAX_LISTEN);
		if (addr_parse(value, &cfg->listen[cfg->nlisten]) < 0)
			return config_error(err, errlen,
			    "listen: '%s' is not ADDR:PORT (e.g. 127.0.0.1:8080, [::1]:8080, *:80)",
			    value);
		cfg->nlisten++;
		return 0;
	}
	if (strcmp(name, "workers") == 0) {
		if (config_parse_int(value, 1, 256, &cfg->workers) < 0)
			return config_error(err, errlen,
			    "workers: '%s' is not a number from 1 to 256", value);
		return 0;
	}
	if (strcmp(name, "max-conns") == 0) {
		if (config_parse_int(value, 1, 1000000, &cfg->max_conns) < 0)
			return config_error(err, errlen,
			    "max-conns: '%s' is not a number from 1 to 1000000", value);
		return 0;
	}
	if (strcmp(name, "db") == 0) {
		if (!*value)
			return config_error(err, errlen, "db: empty file name");
		return config_replace(&cfg->db_path, value, false, err, errlen);
	}
	if (strcmp(name, "jsonl") == 0) {
		if (!*value)
			return config_error(err, errlen, "jsonl: empty file name");
		return config_replace(&cfg->jsonl_path, value, false, err, errlen);
	}
	if (strcmp(name, "sensor") == 0) {
		/* It goes into every record, every JSON line and every report:
		 * printable ASCII keeps it the same in all of them. */
		bool printable = true;
		for (const char *p = value; *p; p++)
			printable &= *p >= 0x20 && *p < 0x7f;
		if (!*value || strlen(value) > 64 || !printable)
			return config_error(err, errlen,
			    "sensor: name must be 1 to 64 printable ASCII characters");
		return config_replace(&cfg->sensor, value, false, err, errlen);
	}
	if (strcmp(name, "user") == 0) {
		if (!*value)
			return config_error(err, errlen, "user: empty user name");
		return config_replace(&cfg->user, value, false, err, errlen);
	}
	if (strcmp(name, "goaway-text") == 0) {
		if (strlen(value) > 4096)
			return config_error(err, errlen,
			    "goaway-text: longer than 4096 bytes");
		return config_replace(&cfg->goaway_text, value, true, err, errlen);
	}
	if (strcmp(name, "max-conns-per-source") == 0) {
		if (config_parse_int(value, 1, 1000000, &cfg->max_conns_per_source) < 0)
			return config_error(err, errlen,
			    "max-conns-per-source: '%s' is not a number from 1 to 1000000",
			    value);
		return 0;
	}
	if (strcmp(name, "max-payload") == 0 || strcmp(name, "queue-bytes") == 0 ||
	    strcmp(name, "max-buffered") == 0) {
		if (config_parse_size(value, &bytes) < 0)
			return config_error(err, errlen,
			    "%s: '%s' is not a size (e.g. 4096, 64k, 1M, 1G)", name, value);
		if (bytes > (size_t)1 << 40)
			return config_error(err, errlen, "%s: '%s' is over 1T", name, value);
		if (strcmp(name, "max-payload") == 0) {
			if (bytes > CONFIG_MAX_PAYLOAD_MAX)
				return config_error(err, errlen,
				    "max-payload: '%s' is over %d bytes, the longest "
				    "payload SQLite stores", value, CONFIG_MAX_PAYLOAD_MAX);
			cfg->max_payload = bytes;
		} else if (strcmp(name, "max-buffered") == 0) {
			cfg->max_buffered = bytes;
		} else {
			/* One record with an IDENT result is about 5k: a queue
			 * smaller than a dozen of them would lose whole records. */
			if (bytes < CONFIG_QUEUE_BYTES_MIN)
				return config_error(err, errlen,
				    "queue-bytes: '%s' is under 64k", value);
			cfg->queue_bytes = bytes;
		}
		return 0;
	}
	if (strcmp(name, "queue-records") == 0) {
		int n;
		if (config_parse_int(value, 16, 100000000, &n) < 0)
			return config_error(err, errlen,
			    "queue-records: '%s' is not a number from 16 to 100000000", value);
		cfg->queue_records = (size_t)n;
		return 0;
	}
	if (strcmp(name, "idle-timeout") == 0 ||
	    strcmp(name, "session-timeout") == 0 ||
	    strcmp(name, "flush-timeout") == 0) {
		bool flush = name[0] == 'f';
		if (config_parse_duration(value, &ms) < 0)
			return config_error(err, errlen,
			    "%s: '%s' is not a duration (e.g. 500ms, 30s, 15m, 2h)", name, value);
		if (!flush && (ms < IDLE_MIN_MS || ms > TIMEOUT_MAX_MS))
			return config_error(err, errlen,
			    "%s: '%s' is outside 100ms..24h", name, value);
		if (flush && ms > TIMEOUT_MAX_MS)
			return config_error(err, errlen, "%s: '%s' is over 24h", name, value);
		if (flush)
			cfg->flush_timeout_ms = ms;
		else if (name[0] == 'i')
			cfg->idle_timeout_ms = ms;
		else
			cfg->session_timeout_ms = ms;
		return 0;
	}
	if (strcmp(name, "max-lag") == 0) {
		if (config_parse_duration(value, &ms) < 0)
			return config_error(err, errlen,
			    "max-lag: '%s' is not a duration (e.g. 500ms, 1s)", value);
		if (ms != 0 && (ms < MAX_LAG_MIN_MS || ms > MAX_LAG_MAX_MS))
			return config_error(err, errlen,
			    "max-lag: '%s' is not 0 or within 100ms..60s", value);
		cfg->max_lag_ms = ms;
		return 0;
	}
	if (strcmp(name, "on-timeout") == 0) {
		if (strcmp(value, "drop") == 0)
			cfg->on_timeout = TIMEOUT_DROP;
		else if (strcmp(value, "goaway") == 0)
			cfg->on_timeout = TIMEOUT_GOAWAY;
		else if (strcmp(value, "reset") == 0)
			cfg->on_timeout = TIMEOUT_RESET;
		else
			return config_error(err, errlen,
			    "on-timeout: '%s' is not drop, goaway or reset", value);
		return 0;
	}
	if (strcmp(name, "respond") == 0 || strcmp(name, "experiment") == 0 ||
	    strcmp(name, "experiment-salt") == 0 || strcmp(name, "templates") == 0 ||
	    strcmp(name, "rules") == 0) {
		char **slot = strcmp(name, "rules") == 0 ? &cfg->rules
		    : name[0] == 'r' ? &cfg->respond
		    : name[0] == 't' ? &cfg->templates_dir
		    : strcmp(name, "experiment") == 0 ? &cfg->experiment
		                                      : &cfg->experiment_salt;
		if (!*value || strlen(value) > 1024)
			return config_error(err, errlen, "%s: must be 1 to 1024 characters", name);
		return config_replace(slot, value, false, err, errlen);
	}
	if (strcmp(name, "banner-text") == 0) {
		if (strlen(value) > 4096)
			return config_error(err, errlen, "banner-text: longer than 4096 bytes");
		return config_replace(&cfg->banner_text, value, true, err, errlen);
	}
	if (strcmp(name, "respond-delay") == 0 || strcmp(name, "tarpit-interval") == 0 ||
	    strcmp(name, "ident-timeout") == 0 || strcmp(name, "ident-interval") == 0) {
		if (config_parse_duration(value, &ms) < 0)
			return config_error(err, errlen,
			    "%s: '%s' is not a duration (e.g. 500ms, 30s, 15m, 2h)", name, value);
		if (ms > TIMEOUT_MAX_MS)
			return config_error(err, errlen, "%s: '%s' is over 24h", name, value);
		if (strcmp(name, "respond-delay") == 0)
			cfg->respond_delay_ms = ms;
		else if (ms < 10)
			return config_error(err, errlen, "%s: '%s' is under 10ms", name, value);
		else if (name[0] == 't')
			cfg->tarpit_interval_ms = ms;
		else if (strcmp(name, "ident-timeout") == 0)
			cfg->ident_timeout_ms = ms;
		else
			cfg->ident_interval_ms = ms;
		return 0;
	}
	if (strcmp(name, "ident") == 0) {
		char *end;
		double p;
		if (strcmp(value, "never") == 0) {
			cfg->ident_probability = 0.0;
			return 0;
		}
		if (strcmp(value, "always") == 0) {
			cfg->ident_probability = 1.0;
			return 0;
		}
		p = strtod(value, &end);
		if (end == value || *end != '\0' || !(p >= 0.0 && p <= 1.0))
			return config_error(err, errlen,
			    "ident: '%s' is not never, always or a probability from 0 to 1", value);
		cfg->ident_probability = p;
		return 0;
	}
	if (strcmp(name, "ident-port") == 0) {
		if (config_parse_int(value, 1, 65535, &cfg->ident_port) < 0)
			return config_error(err, errlen, "ident-port: '%s' is not a port", value);
		return 0;
	}
	if (strcmp(name, "ident-max") == 0 || strcmp(name, "max-requests") == 0) {
		int *slot = name[0] == 'i' ? &cfg->ident_max : &cfg->max_requests;
		if (config_parse_int(value, 1, 100000, slot) < 0)
			return config_error(err, errlen,
			    "%s: '%s' is not a number from 1 to 100000", name, value);
		return 0;
	}
	if (strcmp(name, "check") == 0) {
		if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0 ||
		    strcmp(value, "yes") == 0)
			cfg->check_only = true;
		else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 ||
		    strcmp(value, "no") == 0)
			cfg->check_only = false;
		else
			return config_error(err, errlen, "check: '%s' is not true or false", value);
		return 0;
	}
	return config_error(err, errlen, "unknown option '%s'", name);
}

struct config_ini_state {
	struct config *cfg;
	char err[CONFIG_ERR_LEN];    /* the first handler error */
	int failed;
	char listener[128];          /* the [listener NAME] being read */
	int listener_first;          /* its first index in cfg->listen */
	char *listener_respond;      /* its respond, once seen */
};

/* A [listener NAME] section: its "listen" lines take the section's
 * "respond", whichever comes first in the section. */
static int config_listener_option(struct config_ini_state *st,
    const char *section, const char *name, const char *value)
{
	struct config *cfg = st->cfg;
	char err[CONFIG_ERR_LEN];

	if (strcmp(section, st->listener) != 0) {
		snprintf(st->listener, sizeof(st->listener), "%s", section);
		st->listener_first = cfg->nlisten;
		free(st->listener_respond);
		st->listener_respond = NULL;
	}
	if (strcmp(name, "listen") == 0) {
		if (config_set(cfg, name, value, err, sizeof(err)) < 0)
			goto fail;
		if (st->listener_respond &&
		    !(cfg->listen_respond[cfg->nlisten - 1] = strdup(st->listener_respond)))
			goto oom;
		return 0;
	}
	if (strcmp(name, "respond") == 0) {
		free(st->listener_respond);
		if (!(st->listener_respond = strdup(value)))
			goto oom;
		for (int i = st->listener_first; i < cfg->nlisten; i++) {
			free(cfg->listen_respond[i]);
			if (!(cfg->listen_respond[i] = strdup(value)))
				goto oom;
		}
		return 0;
	}
	snprintf(err, sizeof(err), "[%s] takes only listen and respond, not '%s'",
	    section, name);
fail:
	snprintf(st->err, sizeof(st->err), "%s", err);
	return -1;
oom:
	snprintf(st->err, sizeof(st->err), "out of memory");
	return -1;
}

static int config_ini_handler(void *user, const char *section,
    const char *name, const char *value)
{
	struct config_ini_state *st = user;
	char err[CONFIG_ERR_LEN];

	if (st->failed)
		return 1;            /* report only the first error */
	if (strncmp(section, "listener ", 9) == 0 && section[9]) {
		if (config_listener_option(st, section, name, value) < 0) {
			st->failed = 1;
			return 0;
		}
		return 1;
	}
	if (*section && strcmp(section, "flypaper") != 0) {
		snprintf(st->err, sizeof(st->err),
		    "unknown section [%s] (options go at the top, in [flypaper] "
		    "or in [listener NAME])", section);
		st->failed = 1;
		return 0;
	}
	if (config_set(st->cfg, name, value, err, sizeof(err)) < 0) {
		snprintf(st->err, sizeof(st->err), "%s", err);
		st->failed = 1;
		return 0;
	}
	return 1;
}

int config_load_file(struct config *cfg, const char *path, char *err,
    size_t errlen)
{
	struct config_ini_state st = {.cfg = cfg};
	int line = ini_parse(path, config_ini_handler, &st);

	free(st.listener_respond);
	if (line == -1)
		return config_error(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
	if (line == -2)
		return config_error(err, errlen, "%s: out of memory", path);
	if (line > 0)
		return config_error(err, errlen, "%s:%d: %s", path, line,
		    st.failed ? st.err : "not a 'name = value' line or [section]");
	return 0;
}

int config_validate(const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->session_timeout_ms < cfg->idle_timeout_ms)
		return config_error(err, errlen,
		    "session-timeout (%llums) is shorter than idle-timeout (%llums)",
		    (unsigned long long)cfg->session_timeout_ms,
		    (unsigned long long)cfg->idle_timeout_ms);
	if (cfg->on_timeout == TIMEOUT_GOAWAY && !*cfg->goaway_text)
		return config_error(err, errlen,
		    "on-timeout is goaway but goaway-text is empty");
	return 0;
}

void config_free(struct config *cfg)
{
	free(cfg->db_path);
	free(cfg->jsonl_path);
	free(cfg->sensor);
	free(cfg->user);
	free(cfg->goaway_text);
	free(cfg->respond);
	free(cfg->banner_text);
	free(cfg->templates_dir);
	free(cfg->experiment);
	free(cfg->experiment_salt);
	free(cfg->rules);
	for (int i = 0; i < CONFIG_MAX_LISTEN; i++)
		free(cfg->listen_respond[i]);
	memset(cfg, 0, sizeof(*cfg));
}

void config_usage(enum config_command cmd)
{
	printf("usage: flypaper %s [-c FILE] [options]\n\n",
	    cmd == CONFIG_SERVE ? "serve" : "inetd");
	printf(cmd == CONFIG_SERVE
	    ? "Listen on TCP ports and record every connection.\n\n"
	    : "Record the one connection on standard input (for inetd), then exit.\n\n");
	printf("  -c, --config FILE        read options from an INI file; flags win\n");
	for (size_t i = 0; i < CONFIG_NOPTIONS; i++) {
		const struct config_option *o = &config_options[i];
		char left[64];
		if (cmd == CONFIG_INETD && o->serve_only)
			continue;
		snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "",
		    o->arg ? o->arg : "");
		printf("      %-21s %s\n", left, o->help);
	}
	printf("  -h, --help               this text\n\n");
	printf("See flypaper(8) and flypaper.conf(5).\n");
}

int config_parse_args(struct config *cfg, enum config_command cmd, int argc,
    char **argv, char *err, size_t errlen)
{
	struct option longopts[CONFIG_NOPTIONS + 3];
	const char *config_file = NULL;
	size_t n = 0;
	int c;

	for (size_t i = 0; i < CONFIG_NOPTIONS; i++) {
		if (cmd == CONFIG_INETD && config_options[i].serve_only)
			continue;
		longopts[n++] = (struct option){config_options[i].name,
		    config_options[i].has_arg ? required_argument : no_argument,
		    NULL, (int)(1000 + i)};
	}
	longopts[n++] = (struct option){"config", required_argument, NULL, 'c'};
	longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
	longopts[n] = (struct option){NULL, 0, NULL, 0};

	/* First pass: only -c, so the file is read before the flags apply. */
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		if (c == 'c')
			config_file = optarg;
	}
	if (config_file && config_load_file(cfg, config_file, err, errlen) < 0)
		return -1;

	/* Second pass: the flags, which win over the file. A --listen flag
	 * replaces the file's listen list rather than adding to it. */
	bool listen_from_flags = false;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		if (c == 'c')
			continue;
		if (c == 'h') {
			config_usage(cmd);
			return 1;
		}
		if (c == '?' || c == ':') {
			const char *bad = argv[optind - 1];
			if (optopt && optopt < 1000)
				return config_error(err, errlen, "unknown option '-%c'", optopt);
			if (optopt >= 1000)
				return config_error(err, errlen, "option '%s' needs a value", bad);
			return config_error(err, errlen, "unknown option '%s'", bad);
		}
		const struct config_option *o = &config_options[c - 1000];
		if (strcmp(o->name, "listen") == 0 && !listen_from_flags) {
			for (int i = 0; i < cfg->nlisten; i++) {
				free(cfg->listen_respond[i]);
				cfg->listen_respond[i] = NULL;
			}
			cfg->nlisten = 0;
			listen_from_flags = true;
		}
		if (config_set(cfg, o->name, o->has_arg ? optarg : "true", err, errlen) < 0)
			return -1;
	}
	if (optind < argc)
		return config_error(err, errlen, "unexpected argument '%s'", argv[optind]);
	if (!cfg->sensor) {
		char host[65];
		if (gethostname(host, sizeof(host)) < 0 || !host[0])
			snprintf(host, sizeof(host), "flypaper");
		host[sizeof(host) - 1] = '\0';
		if (config_set(cfg, "sensor", host, err, errlen) < 0)
			return -1;
	}
	return config_validate(cfg, err, errlen);
}
