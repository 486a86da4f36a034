/* config.c - defaults in one place, the table of options (options.h) that
 * flags, the INI file and --help share, and the checks that turn bad
 * settings into clear messages. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "options.h"
#include "syslog_target.h"
#include "units.h"

#ifndef FLYPAPER_RULES_DIR
#define FLYPAPER_RULES_DIR "/usr/share/flypaper/rules"
#endif

#ifndef FLYPAPER_TEMPLATES_DIR
#define FLYPAPER_TEMPLATES_DIR "/usr/share/flypaper/templates"
#endif
#define IDLE_MIN_MS 100ULL
#define CONFIG_QUEUE_BYTES_MIN (64 * 1024)
#define MAX_LAG_MIN_MS 100ULL        /* the writer's 50 ms gather and a commit fit under it */
#define MAX_LAG_MAX_MS (60ULL * MS_PER_S)
#define CLASSIFY_BUDGET_MAX_MS (10ULL * MS_PER_S)
#define SYSLOG_QUEUE_MIN (16 * 1024)        /* a few messages of the longest, 2048 */
#define SYSLOG_QUEUE_MAX (1024 * 1024 * 1024)
#define PCAP_FILE_SIZE_MIN (16 * 1024)     /* a few full-size packets */
#define PCAP_FILE_SIZE_MAX (64ULL << 30)

static const struct config config_default = {
	.nlisten = 0,
	.workers = 0,
	.db_path = "flypaper.db",
	.jsonl_path = NULL,
	.syslog_target = NULL,
	/* local0, not daemon: the sessions are data, not the daemon's own
	 * messages (which go to daemon), and a local facility lets a site
	 * route them to their own file or server with one selector. */
	.syslog_facility = 16,
	.syslog_app = "flypaper",
	/* about 2500 sessions' messages: a server's restart at a busy sensor */
	.syslog_queue = 1024 * 1024,
	.pcap_dir = NULL,
	/* Ten times a busy sensor's sessions: a backlog drains quickly, and
	 * the shipper's reads stay a few per cent of the writer's lock. */
	.nats_rate = 1000,
	/* Enough for a request line: the headers are always kept whole, so
	 * the wire length still shows what was cut (DESIGN.md, Packet traces). */
	.pcap_snaplen = 64,
	.pcap_file_size = 64 * 1024 * 1024,
	.pcap_files = 16,
	.sensor = NULL,
	.user = NULL,
	.goaway_text = "403 Forbidden: no service here. Go away.\r\n",
	.max_payload = 1024 * 1024,
	.idle_timeout_ms = 30 * MS_PER_S,
	.session_timeout_ms = 15 * 60 * MS_PER_S,
	.on_timeout = ON_TIMEOUT_DROP,
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
	/* Today's rules take 12-26 us a payload; a crafted one took 0.4 s a
	 * 16 KiB. 50 ms keeps a flood of those to 20 scans a second, far
	 * above what ordinary traffic needs (DESIGN.md, Families). */
	.classify_budget_ms = 50,
	.syn_fingerprint = 1,
	.p0f_db = NULL,              /* /etc/p0f/p0f.fp, missing = a warning */
	/* haproxy sends its header with the connection; 5 s is slack for a
	 * loaded proxy, and short enough that a peer cannot hold a slot. */
	.proxy_timeout_ms = 5 * MS_PER_S,
	.half_open = false,
	.half_open_per_source = 20,
	.half_open_rows = 600,
	.half_open_wait_ms = 0,
	/* One link type (LINUX_SLL) whatever the listeners are bound to. */
	.pcap_iface = "any",
	.pcap_buffer = 4 * 1024 * 1024,
};

#define SERVE (1u << CONFIG_SERVE)
#define BOTH (SERVE | 1u << CONFIG_INETD)
#define FIELD(name) offsetof(struct config, name)
#define STR_(x) #x
#define STR(x) STR_(x)
/* The columns every row of the table below fills, in order; the rarer ones
 * follow by name. Every option is also a key of the file's [flypaper]. */
#define CONFIG_ROW(name_, type_, field_, min_, max_, metavar_, help_, commands_) \
	.name = name_, .type = type_, .field = field_, .min = min_, .max = max_, \
	.metavar = metavar_, .help = help_, .commands = commands_, .section = "flypaper"

static int config_set_listen(void *base, const char *value, char *err, size_t errlen);
static int config_set_proxy_from(void *base, const char *value, char *err, size_t errlen);
static int config_set_metrics(void *base, const char *value, char *err, size_t errlen);

static const char *const config_yes_no[] = {"no", "yes", NULL};

/* RFC 5424 6.2.1's facilities, by code, with the names syslog.conf uses. */
static const char *const config_syslog_facilities[] = {
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp",
	"cron", "authpriv", "ftp", "ntp", "security", "console", "clock",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
	NULL,
};

static const char *const config_on_timeout_names[] = {
	[ON_TIMEOUT_DROP] = "drop",
	[ON_TIMEOUT_GOAWAY] = "goaway",
	[ON_TIMEOUT_RESET] = "reset",
	NULL,
};

/* Every option of serve and inetd, in --help order. The long name is also
 * the key in the file's [flypaper] section. A new option is one row here,
 * its field in struct config (with a default above) and the code that
 * uses it; the man pages list it (tests/integration/test_options.py checks). */
static const struct option_row config_options[] = {
	{CONFIG_ROW("listen", OPTION_CUSTOM, 0, 0, 0, "ADDR:PORT",
	    "listen here (repeatable; [::1]:8080 for IPv6); default 127.0.0.1:8080",
	    SERVE), .set = config_set_listen},
	{CONFIG_ROW("proxy-protocol", OPTION_FLAG, FIELD(proxy_protocol), 0, 0, NULL,
	    "expect a PROXY protocol header (v1 or v2) on every listener", SERVE)},
	{CONFIG_ROW("proxy-from", OPTION_CUSTOM, 0, 0, 0, "CIDR",
	    "who may send that header (repeatable, or CIDR,CIDR); needed with it",
	    SERVE), .set = config_set_proxy_from},
	{CONFIG_ROW("proxy-timeout", OPTION_DURATION, FIELD(proxy_timeout_ms), IDLE_MIN_MS, MS_PER_DAY,
	    "DUR", "the PROXY header must be complete by then, 100ms..24h; default 5s", SERVE),
	    .under = "is outside 100ms..24h", .over = "is outside 100ms..24h"},
	{CONFIG_ROW("tls", OPTION_FLAG, FIELD(tls), 0, 0, NULL,
	    "a TLS front on every listener without its own tls = line", SERVE)},
	{CONFIG_ROW("tls-cert", OPTION_STRING, FIELD(tls_cert), 1, 1024, "FILE",
	    "the TLS front's certificate (PEM; with --tls-key); default self-signed",
	    SERVE)},
	{CONFIG_ROW("tls-key", OPTION_STRING, FIELD(tls_key), 1, 1024, "FILE",
	    "the private key of --tls-cert (PEM)", SERVE)},
	/* 64: X.509's upper bound on a commonName (RFC 5280 ub-common-name),
	 * which OpenSSL enforces when the certificate is made */
	{CONFIG_ROW("tls-name", OPTION_NAME, FIELD(tls_name), 1, 64, "NAME",
	    "the self-signed certificate's CN and subjectAltName; default "
	    CONFIG_TLS_NAME, SERVE),
	    .over = "longer than 64 bytes, the most a certificate's commonName holds"},
	{CONFIG_ROW("workers", OPTION_INT, FIELD(workers), 1, 256, "N",
	    "event-loop threads; default one per core", SERVE)},
	{CONFIG_ROW("db", OPTION_STRING, FIELD(db_path), 1, 0, "FILE",
	    "SQLite database; default ./flypaper.db", BOTH),
	    .under = "empty file name"},
	{CONFIG_ROW("jsonl", OPTION_STRING, FIELD(jsonl_path), 1, 0, "FILE",
	    "also write JSON lines here ('-' is stdout)", BOTH),
	    .under = "empty file name"},
	{CONFIG_ROW("syslog", OPTION_STRING, FIELD(syslog_target), 1, 1024, "TARGET",
	    "also send one RFC 5424 message per session: local, unix:PATH, "
	    "udp://HOST:PORT or tcp://HOST:PORT", BOTH),
	    .under = "is empty", .over = "is longer than 1024 bytes"},
	{CONFIG_ROW("syslog-facility", OPTION_CHOICE, FIELD(syslog_facility), 0, 0, "NAME",
	    "the messages' facility (kern .. local7); default local0", BOTH),
	    .choices = config_syslog_facilities},
	{CONFIG_ROW("syslog-app", OPTION_NAME, FIELD(syslog_app), 1, 48, "NAME",
	    "the messages' APP-NAME, 1 to 48 printable ASCII, no space; default flypaper",
	    BOTH),
	    .under = "must be 1 to 48 printable ASCII characters",
	    .over = "must be 1 to 48 printable ASCII characters"},
	{CONFIG_ROW("syslog-queue", OPTION_SIZE, FIELD(syslog_queue), SYSLOG_QUEUE_MIN,
	    SYSLOG_QUEUE_MAX, "SIZE", "messages kept while the server is down or busy, "
	    "16k..1G; default 1M", BOTH),
	    .under = "is outside 16k..1G", .over = "is outside 16k..1G"},
	{CONFIG_ROW("pcap", OPTION_STRING, FIELD(pcap_dir), 1, 0, "DIR",
	    "keep the packets of the listened ports in rotating pcap files here", SERVE),
	    .under = "empty folder name"},
	{CONFIG_ROW("pcap-snaplen", OPTION_INT, FIELD(pcap_snaplen), 0, 65535, "N",
	    "TCP payload bytes kept per packet (headers always), 0..65535; default 64",
	    SERVE)},
	{CONFIG_ROW("pcap-file-size", OPTION_SIZE, FIELD(pcap_file_size), PCAP_FILE_SIZE_MIN,
	    PCAP_FILE_SIZE_MAX, "SIZE", "rotate a pcap file past SIZE, 16k..64G; default 64M",
	    SERVE), .under = "is outside 16k..64G", .over = "is outside 16k..64G"},
	{CONFIG_ROW("pcap-files", OPTION_INT, FIELD(pcap_files), 1, PCAP_FILES_MAX, "N",
	    "pcap files kept, the oldest removed, 1..10000; default 16", SERVE)},
	{CONFIG_ROW("nats", OPTION_STRING, FIELD(nats_urls), 1, 4096, "URL[,URL]",
	    "ship sessions and payloads to these NATS JetStream servers", SERVE),
	    .under = "empty URL list"},
	/* NATS subjects are dot-separated tokens without spaces or wildcards */
	{CONFIG_ROW("nats-subject", OPTION_NAME, FIELD(nats_subject), 1, 255, "SUBJECT",
	    "the sessions' subject; default flypaper.<sensor>.sessions", SERVE),
	    .under = "subject must be 1 to 255 printable ASCII characters",
	    .over = "subject must be 1 to 255 printable ASCII characters"},
	{CONFIG_ROW("nats-creds", OPTION_STRING, FIELD(nats_creds), 1, 4096, "FILE",
	    "NATS user credentials (JWT and NKey seed)", SERVE),
	    .under = "empty file name"},
	{CONFIG_ROW("nats-tls-ca", OPTION_STRING, FIELD(nats_tls_ca), 1, 4096, "FILE",
	    "connect to NATS with TLS, trusting these CA certificates (PEM)", SERVE),
	    .under = "empty file name"},
	{CONFIG_ROW("nats-rate", OPTION_INT, FIELD(nats_rate), 1, 1000000, "N",
	    "NATS messages a second at most, 1..1000000; default 1000", SERVE)},
	/* It goes into every record, every JSON line and every report:
	 * printable ASCII keeps it the same in all of them. */
	{CONFIG_ROW("sensor", OPTION_NAME, FIELD(sensor), 1, 64, "NAME",
	    "sensor name in every record (printable ASCII); default the host name",
	    BOTH),
	    .under = "name must be 1 to 64 printable ASCII characters",
	    .over = "name must be 1 to 64 printable ASCII characters"},
	{CONFIG_ROW("max-payload", OPTION_SIZE, FIELD(max_payload), 0, CONFIG_MAX_PAYLOAD_MAX, "SIZE",
	    "payload bytes kept per session, at most 1000000000; default 1M", BOTH),
	    .over = "is over " STR(CONFIG_MAX_PAYLOAD_MAX) " bytes, the longest payload SQLite stores"},
	{CONFIG_ROW("idle-timeout", OPTION_DURATION, FIELD(idle_timeout_ms), IDLE_MIN_MS, MS_PER_DAY, "DUR",
	    "read timeout, 100ms..24h; default 30s", BOTH),
	    .under = "is outside 100ms..24h", .over = "is outside 100ms..24h"},
	{CONFIG_ROW("session-timeout", OPTION_DURATION, FIELD(session_timeout_ms), IDLE_MIN_MS, MS_PER_DAY,
	    "DUR", "hard cap per session, 100ms..24h; default 15m", BOTH),
	    .under = "is outside 100ms..24h", .over = "is outside 100ms..24h"},
	{CONFIG_ROW("on-timeout", OPTION_CHOICE, FIELD(on_timeout), 0, 0, "ACTION",
	    "drop, goaway or reset; default drop", BOTH),
	    .choices = config_on_timeout_names},
	{CONFIG_ROW("goaway-text", OPTION_TEXT, FIELD(goaway_text), 0, 4096, "TEXT",
	    "what goaway writes; \\r \\n \\t escapes allowed", BOTH)},
	{CONFIG_ROW("max-conns", OPTION_INT, FIELD(max_conns), 1, 1000000, "N",
	    "concurrent sessions; default 16384", SERVE)},
	{CONFIG_ROW("max-conns-per-source", OPTION_INT, FIELD(max_conns_per_source), 1, 1000000, "N",
	    "concurrent sessions per IPv4 address or IPv6 /64; default 64", SERVE)},
	{CONFIG_ROW("max-buffered", OPTION_SIZE, FIELD(max_buffered), 0, OPTIONS_SIZE_MAX, "SIZE",
	    "payload past each session's first 16K, and unsent output, held "
	    "by all sessions; default 256M", SERVE)},
	{CONFIG_ROW("queue-records", OPTION_COUNT, FIELD(queue_records), 16, 100000000, "N",
	    "writer queue cap in records; default 262144", BOTH)},
	/* One record with an IDENT result is about 5k: a queue smaller than a
	 * dozen of them would lose whole records. */
	{CONFIG_ROW("queue-bytes", OPTION_SIZE, FIELD(queue_bytes), CONFIG_QUEUE_BYTES_MIN, OPTIONS_SIZE_MAX,
	    "SIZE", "writer queue cap in bytes of whole records, 64k..1T; default 256M",
	    BOTH)},
	{CONFIG_ROW("flush-timeout", OPTION_DURATION, FIELD(flush_timeout_ms), 0, MS_PER_DAY, "DUR",
	    "how long exit retries a failing store; default 10s", BOTH)},
	{CONFIG_ROW("max-lag", OPTION_DURATION, FIELD(max_lag_ms), MAX_LAG_MIN_MS, MAX_LAG_MAX_MS, "DUR",
	    "pause accepting while the writer is DUR behind, 0 (never) or 100ms..60s; default 500ms",
	    SERVE), .zero_ok = true,
	    .syntax = "is not a duration (e.g. 500ms, 1s)",
	    .under = "is not 0 or within 100ms..60s", .over = "is not 0 or within 100ms..60s"},
	{CONFIG_ROW("metrics", OPTION_CUSTOM, 0, 0, 0, "ADDR:PORT",
	    "serve Prometheus metrics at http://ADDR:PORT/metrics (loopback or an "
	    "admin network: anyone who reaches it reads them); default off", SERVE),
	    .set = config_set_metrics},
	{CONFIG_ROW("user", OPTION_STRING, FIELD(user), 1, 0, "NAME",
	    "drop root privileges to NAME after binding", SERVE),
	    .under = "empty user name"},
	{CONFIG_ROW("respond", OPTION_STRING, FIELD(respond), 1, 1024, "STRATEGY",
	    "silent, banner, tarpit, http-NAME (a folder in the templates directory)",
	    BOTH),
	    .under = "must be 1 to 1024 characters", .over = "must be 1 to 1024 characters"},
	{CONFIG_ROW("banner-text", OPTION_TEXT, FIELD(banner_text), 0, 4096, "TEXT",
	    "what banner sends after accept; escapes allowed", BOTH)},
	{CONFIG_ROW("respond-delay", OPTION_DURATION, FIELD(respond_delay_ms), 0, MS_PER_DAY, "DUR",
	    "http: answer a peer that sent no request after DUR", BOTH)},
	{CONFIG_ROW("tarpit-interval", OPTION_DURATION, FIELD(tarpit_interval_ms), 10, MS_PER_DAY, "DUR",
	    "tarpit: one byte per DUR; default 10s", BOTH)},
	{CONFIG_ROW("templates", OPTION_STRING, FIELD(templates_dir), 1, 1024, "DIR",
	    "http personalities' templates", BOTH),
	    .under = "must be 1 to 1024 characters", .over = "must be 1 to 1024 characters"},
	{CONFIG_ROW("max-requests", OPTION_INT, FIELD(max_requests), 1, 100000, "N",
	    "HTTP requests recorded per session; default 100", BOTH)},
	{CONFIG_ROW("ident", OPTION_PROBABILITY, FIELD(ident_probability), 0, 1, "WHEN",
	    "IDENT probes: never, always, or a probability 0..1", BOTH)},
	{CONFIG_ROW("ident-port", OPTION_INT, FIELD(ident_port), 1, 65535, "PORT",
	    "the peer's port probed; default 113", BOTH), .syntax = "is not a port"},
	{CONFIG_ROW("ident-timeout", OPTION_DURATION, FIELD(ident_timeout_ms), 10, MS_PER_DAY, "DUR",
	    "connect and reply time limit; default 10s", BOTH)},
	{CONFIG_ROW("ident-interval", OPTION_DURATION, FIELD(ident_interval_ms), 10, MS_PER_DAY, "DUR",
	    "at most one probe per source per DUR; default 60s", BOTH)},
	{CONFIG_ROW("ident-max", OPTION_INT, FIELD(ident_max), 1, 100000, "N",
	    "probes in flight at once; default 64", BOTH)},
	{CONFIG_ROW("experiment", OPTION_STRING, FIELD(experiment), 1, 1024, "ARMS",
	    "assign strategies per source, e.g. silent:1,http-iis5:1", BOTH),
	    .under = "must be 1 to 1024 characters", .over = "must be 1 to 1024 characters"},
	{CONFIG_ROW("experiment-salt", OPTION_STRING, FIELD(experiment_salt), 1, 1024, "TEXT",
	    "key of the assignment hash; default the sensor", BOTH),
	    .under = "must be 1 to 1024 characters", .over = "must be 1 to 1024 characters"},
	{CONFIG_ROW("rules", OPTION_STRING, FIELD(rules), 1, 1024, "PATHS",
	    "YARA rule files or folders, ':'-separated, or none", BOTH),
	    .under = "must be 1 to 1024 characters", .over = "must be 1 to 1024 characters"},
	{CONFIG_ROW("classify-budget", OPTION_DURATION, FIELD(classify_budget_ms), 1,
	    CLASSIFY_BUDGET_MAX_MS, "DUR",
	    "the longest scan of one payload, 1ms..10s; default 50ms", BOTH),
	    .under = "is outside 1ms..10s", .over = "is outside 1ms..10s"},
	{CONFIG_ROW("syn-fingerprint", OPTION_CHOICE, FIELD(syn_fingerprint), 0, 0, "yes|no",
	    "record each peer's SYN (TCP_SAVED_SYN) and TCP_INFO at close; default yes", BOTH),
	    .choices = config_yes_no},
	{CONFIG_ROW("p0f-db", OPTION_STRING, FIELD(p0f_db), 1, 1024, "PATH",
	    "the p0f v3 database SYNs are matched to, or none; default /etc/p0f/p0f.fp", BOTH),
	    .under = "must be 1 to 1024 characters", .over = "must be 1 to 1024 characters"},
	{CONFIG_ROW("half-open", OPTION_FLAG, FIELD(half_open), 0, 0, NULL,
	    "record handshakes that never reach accept (needs root or CAP_NET_RAW)", SERVE)},
	{CONFIG_ROW("half-open-per-source", OPTION_INT, FIELD(half_open_per_source), 1, 1000000, "N",
	    "half-open rows per source and minute, then one summary row; default 20", SERVE)},
	{CONFIG_ROW("half-open-rows", OPTION_INT, FIELD(half_open_rows), 1, 1000000, "N",
	    "half-open rows a minute from all sources, then summary rows; default 600", SERVE)},
	{CONFIG_ROW("half-open-wait", OPTION_DURATION, FIELD(half_open_wait_ms), MS_PER_S,
	    10 * 60 * MS_PER_S, "DUR",
	    "SYN to syn_only, 0 (from tcp_synack_retries) or 1s..10m; default 0", SERVE),
	    .zero_ok = true,
	    .under = "is not 0 or within 1s..10m", .over = "is not 0 or within 1s..10m"},
	{CONFIG_ROW("pcap-iface", OPTION_NAME, FIELD(pcap_iface), 1, 63, "IFACE",
	    "the capture's interface; default any", SERVE),
	    .under = "must be 1 to 63 printable ASCII characters",
	    .over = "must be 1 to 63 printable ASCII characters"},
	{CONFIG_ROW("pcap-buffer", OPTION_SIZE, FIELD(pcap_buffer), 1024 * 1024, 256 * 1024 * 1024,
	    "SIZE", "the capture's kernel ring, 1M..256M; default 4M", SERVE),
	    .under = "is outside 1M..256M", .over = "is outside 1M..256M"},
	{CONFIG_ROW("check", OPTION_FLAG, FIELD(check_only), 0, 0, NULL,
	    "validate the configuration and exit", SERVE)},
};

#define CONFIG_NOPTIONS (sizeof(config_options) / sizeof(config_options[0]))
_Static_assert(CONFIG_NOPTIONS <= OPTIONS_MAX, "getopt's list is built on the stack");

/* Column names of the commands bits, for "flypaper options". */
static const char *const config_command_names[] = {
	[CONFIG_SERVE] = "serve",
	[CONFIG_INETD] = "inetd",
	NULL,
};

void config_defaults(struct config *cfg)
{
	*cfg = config_default;
	/* cfg owns its strings: the defaults become heap copies */
	for (size_t i = 0; i < CONFIG_NOPTIONS; i++) {
		const struct option_row *o = &config_options[i];
		char **slot = (char **)((char *)cfg + o->field);
		if (o->type != OPTION_STRING && o->type != OPTION_TEXT && o->type != OPTION_NAME)
			continue;
		if (*slot && !(*slot = strdup(*slot))) {
			fprintf(stderr, "flypaper: out of memory\n");
			exit(2);
		}
	}
}

/* The listen row: each value adds one address, up to CONFIG_MAX_LISTEN. */
static int config_set_listen(void *base, const char *value, char *err, size_t errlen)
{
	struct config *cfg = base;

	if (cfg->nlisten >= CONFIG_MAX_LISTEN)
		return options_error(err, errlen,
		    "listen: more than %d addresses", CONFIG_MAX_LISTEN);
	if (addr_parse(value, &cfg->listen[cfg->nlisten]) < 0)
		return options_error(err, errlen,
		    "listen: '%s' is not ADDR:PORT (e.g. 127.0.0.1:8080, [::1]:8080, *:80)",
		    value);
	cfg->nlisten++;
	return 0;
}

/* The metrics row: one address; "off" turns it off again (a flag wins
 * over the file). */
static int config_set_metrics(void *base, const char *value, char *err, size_t errlen)
{
	struct config *cfg = base;

	if (strcmp(value, "off") == 0) {
		cfg->metrics_on = false;
		return 0;
	}
	if (addr_parse(value, &cfg->metrics) < 0)
		return options_error(err, errlen,
		    "metrics: '%s' is not ADDR:PORT (e.g. 127.0.0.1:9464, [::1]:9464) or off",
		    value);
	cfg->metrics_on = true;
	return 0;
}

/* Adds "CIDR[,CIDR...]" to list; name is the option or key, for the
 * message. */
static int config_add_cidrs(struct config_proxy *list, const char *name,
    const char *value, char *err, size_t errlen)
{
	const char *at = value;

	for (;;) {
		const char *end = strchr(at, ',');
		size_t len = end ? (size_t)(end - at) : strlen(at);
		char one[64];
		while (len && (*at == ' ' || *at == '\t')) {
			at++;
			len--;
		}
		while (len && (at[len - 1] == ' ' || at[len - 1] == '\t'))
			len--;
		if (list->ncidr >= CONFIG_MAX_PROXY_FROM)
			return options_error(err, errlen, "%s: more than %d networks", name,
			    CONFIG_MAX_PROXY_FROM);
		if (len == 0 || len >= sizeof(one))
			return options_error(err, errlen,
			    "%s: '%s' is not a list of networks (e.g. 10.0.0.0/8,::1)", name, value);
		memcpy(one, at, len);
		one[len] = '\0';
		if (addr_cidr_parse(one, &list->cidr[list->ncidr]) < 0)
			return options_error(err, errlen,
			    "%s: '%s' is not a network (ADDR or ADDR/BITS, host bits zero, "
			    "e.g. 127.0.0.1/32, 10.0.0.0/8, ::1)", name, one);
		list->ncidr++;
		if (!end)
			return 0;
		at = end + 1;
	}
}

/* The proxy-from row: each value adds one or more networks. */
static int config_set_proxy_from(void *base, const char *value, char *err, size_t errlen)
{
	struct config *cfg = base;

	return config_add_cidrs(&cfg->proxy_from, "proxy-from", value, err, errlen);
}

const struct config_proxy *config_listener_proxy(const struct config *cfg, int listener)
{
	bool on = cfg->proxy_protocol;
	bool own = listener >= 0 && listener < CONFIG_MAX_LISTEN;

	if (own && cfg->listen_proxy[listener] != LISTEN_PROXY_INHERIT)
		on = cfg->listen_proxy[listener] == LISTEN_PROXY_YES;
	if (!on)
		return NULL;
	if (own && cfg->listen_proxy_from[listener])
		return cfg->listen_proxy_from[listener];
	return &cfg->proxy_from;
}

int config_set(struct config *cfg, const char *name, const char *value,
    char *err, size_t errlen)
{
	const struct option_row *o = options_find(config_options, CONFIG_NOPTIONS, name);

	if (!o)
		return options_error(err, errlen, "unknown option '%s'", name);
	return options_set(o, cfg, value, err, errlen);
}

bool config_listener_tls(const struct config *cfg, int listener)
{
	if (listener >= 0 && listener < CONFIG_MAX_LISTEN &&
	    cfg->listen_tls[listener] != LISTEN_PROXY_INHERIT)
		return cfg->listen_tls[listener] == LISTEN_PROXY_YES;
	return cfg->tls;
}

bool config_any_tls(const struct config *cfg)
{
	if (cfg->nlisten == 0)
		return cfg->tls;
	for (int i = 0; i < cfg->nlisten; i++)
		if (config_listener_tls(cfg, i))
			return true;
	return false;
}

struct config_ini_state {
	struct config *cfg;
	char err[CONFIG_ERR_LEN];    /* the first handler error */
	int failed;
	char listener[128];          /* the [listener NAME] being read */
	int listener_first;          /* its first index in cfg->listen */
	char *listener_respond;      /* its respond, once seen */
	enum config_listen_proxy listener_proxy;     /* its proxy, once seen */
	struct config_proxy *listener_proxy_from;    /* its proxy_from, once seen */
	enum config_listen_proxy listener_tls;       /* its tls, once seen */
};

/* Gives listener i of cfg the proxy settings of the section being read. */
static int config_listener_proxy_apply(struct config_ini_state *st, int i)
{
	struct config *cfg = st->cfg;

	cfg->listen_proxy[i] = st->listener_proxy;
	free(cfg->listen_proxy_from[i]);
	cfg->listen_proxy_from[i] = NULL;
	if (!st->listener_proxy_from)
		return 0;
	cfg->listen_proxy_from[i] = malloc(sizeof(struct config_proxy));
	if (!cfg->listen_proxy_from[i])
		return -1;
	*cfg->listen_proxy_from[i] = *st->listener_proxy_from;
	return 0;
}

/* A [listener]'s proxy and proxy_from lines. Returns 0, -1 with err, or
 * -2 when memory ran out. */
static int config_listener_proxy_option(struct config_ini_state *st,
    const char *name, const char *value, char *err, size_t errlen)
{
	if (strcmp(name, "proxy") == 0) {
		if (!strcmp(value, "yes") || !strcmp(value, "true") || !strcmp(value, "1"))
			st->listener_proxy = LISTEN_PROXY_YES;
		else if (!strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "0"))
			st->listener_proxy = LISTEN_PROXY_NO;
		else
			return options_error(err, errlen, "proxy: '%s' is not yes or no", value);
	} else {
		if (!st->listener_proxy_from &&
		    !(st->listener_proxy_from = calloc(1, sizeof(*st->listener_proxy_from))))
			return -2;
		if (config_add_cidrs(st->listener_proxy_from, "proxy_from", value, err,
		        errlen) < 0)
			return -1;
	}
	for (int i = st->listener_first; i < st->cfg->nlisten; i++)
		if (config_listener_proxy_apply(st, i) < 0)
			return -2;
	return 0;
}

/* A [listener NAME] section: its "listen" lines take the section's
 * "respond", "proxy" and "proxy_from", whichever comes first in the section. */
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
		free(st->listener_proxy_from);
		st->listener_proxy_from = NULL;
		st->listener_proxy = LISTEN_PROXY_INHERIT;
		st->listener_tls = LISTEN_PROXY_INHERIT;
	}
	if (strcmp(name, "listen") == 0) {
		if (config_set(cfg, name, value, err, sizeof(err)) < 0)
			goto fail;
		cfg->listen_tls[cfg->nlisten - 1] = st->listener_tls;
		if (st->listener_respond &&
		    !(cfg->listen_respond[cfg->nlisten - 1] = strdup(st->listener_respond)))
			goto oom;
		if (config_listener_proxy_apply(st, cfg->nlisten - 1) < 0)
			goto oom;
		return 0;
	}
	if (strcmp(name, "proxy") == 0 || strcmp(name, "proxy_from") == 0) {
		int rc = config_listener_proxy_option(st, name, value, err, sizeof(err));
		if (rc == -2)
			goto oom;
		if (rc < 0)
			goto fail;
		return 0;
	}
	if (strcmp(name, "tls") == 0) {
		if (!strcmp(value, "yes") || !strcmp(value, "true") || !strcmp(value, "1"))
			st->listener_tls = LISTEN_PROXY_YES;
		else if (!strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "0"))
			st->listener_tls = LISTEN_PROXY_NO;
		else {
			snprintf(err, sizeof(err), "tls: '%s' is not yes or no", value);
			goto fail;
		}
		for (int i = st->listener_first; i < cfg->nlisten; i++)
			cfg->listen_tls[i] = st->listener_tls;
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
	snprintf(err, sizeof(err),
	    "[%s] takes only listen, respond, proxy, proxy_from and tls, not '%s'",
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
	/* the rows the file's top and [flypaper] section take */
	const struct option_row *o = options_find(config_options, CONFIG_NOPTIONS, name);
	if (!o || !o->section || strcmp(o->section, "flypaper") != 0) {
		snprintf(st->err, sizeof(st->err), "unknown option '%s'", name);
		st->failed = 1;
		return 0;
	}
	if (options_set(o, st->cfg, value, err, sizeof(err)) < 0) {
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
	free(st.listener_proxy_from);
	if (line == -1)
		return options_error(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
	if (line == -2)
		return options_error(err, errlen, "%s: out of memory", path);
	if (line > 0)
		return options_error(err, errlen, "%s:%d: %s", path, line,
		    st.failed ? st.err : "not a 'name = value' line or [section]");
	return 0;
}

/* A DNS host name: labels of letters, digits and '-' (not first or last),
 * 1..63 bytes each, joined by single dots. */
static bool config_host_name(const char *s)
{
	size_t label = 0;

	for (size_t i = 0;; i++) {
		char c = s[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			if (c == '\0')
				return true;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
}

int config_validate(const struct config *cfg, char *err, size_t errlen)
{
	struct syslog_target target;

	if (cfg->session_timeout_ms < cfg->idle_timeout_ms)
		return options_error(err, errlen,
		    "session-timeout (%llums) is shorter than idle-timeout (%llums)",
		    (unsigned long long)cfg->session_timeout_ms,
		    (unsigned long long)cfg->idle_timeout_ms);
	if (cfg->on_timeout == ON_TIMEOUT_GOAWAY && !*cfg->goaway_text)
		return options_error(err, errlen,
		    "on-timeout is goaway but goaway-text is empty");
	/* A header from anyone would let anyone write the sources we record. */
	if (cfg->proxy_protocol && cfg->proxy_from.ncidr == 0)
		return options_error(err, errlen,
		    "proxy-protocol without proxy-from: anyone could forge the sources "
		    "recorded; name the upstream proxies (e.g. --proxy-from 127.0.0.1/32)");
	if (!cfg->tls_cert != !cfg->tls_key)
		return options_error(err, errlen, "%s without %s: give the certificate "
		    "and its key, or neither (a self-signed one is made)",
		    cfg->tls_cert ? "tls-cert" : "tls-key",
		    cfg->tls_cert ? "tls-key" : "tls-cert");
	if (cfg->tls_cert && !config_any_tls(cfg))
		return options_error(err, errlen, "tls-cert and tls-key without a TLS "
		    "listener: add --tls, or tls = yes in a [listener] section");
	if (cfg->tls_name && cfg->tls_cert)
		return options_error(err, errlen, "tls-name names the self-signed "
		    "certificate: not with tls-cert, whose names are its own");
	if (cfg->tls_name && !config_any_tls(cfg))
		return options_error(err, errlen, "tls-name without a TLS listener: add "
		    "--tls, or tls = yes in a [listener] section");
	if (cfg->tls_name && !config_host_name(cfg->tls_name))
		return options_error(err, errlen, "tls-name: '%s' is not a host name "
		    "(letters, digits, '-' and '.' between labels)", cfg->tls_name);
	if (cfg->syslog_target &&
	    syslog_target_parse(cfg->syslog_target, &target, err, errlen) < 0)
		return -1;
	if (strchr(cfg->syslog_app, ' '))
		return options_error(err, errlen, "syslog-app: '%s' has a space (RFC 5424's "
		    "APP-NAME is printable ASCII without one)", cfg->syslog_app);
	for (int i = 0; i < cfg->nlisten; i++) {
		const struct config_proxy *p = config_listener_proxy(cfg, i);
		char text[ADDR_TEXT_LEN];
		if (!p || p->ncidr > 0)
			continue;
		addr_format(&cfg->listen[i], text, sizeof(text));
		return options_error(err, errlen,
		    "listener %s: proxy = yes without proxy_from: anyone could forge the "
		    "sources recorded; name the upstream proxies (e.g. proxy_from = "
		    "127.0.0.1/32)", text);
	}
	return 0;
}

void config_free(struct config *cfg)
{
	options_free(config_options, CONFIG_NOPTIONS, cfg);
	for (int i = 0; i < CONFIG_MAX_LISTEN; i++) {
		free(cfg->listen_respond[i]);
		free(cfg->listen_proxy_from[i]);
	}
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
	options_usage(stdout, config_options, CONFIG_NOPTIONS, 1u << cmd);
	printf("  -h, --help               this text\n\n");
	printf("See flypaper(8) and flypaper.conf(5).\n");
}

void config_list(FILE *out)
{
	options_list(out, config_options, CONFIG_NOPTIONS, config_command_names);
}

int config_parse_args(struct config *cfg, enum config_command cmd, int argc,
    char **argv, char *err, size_t errlen)
{
	struct option longopts[OPTIONS_MAX + 3];
	char shortopts[2 * OPTIONS_MAX + 5];
	const char *config_file = NULL;
	int c;

	options_getopt_table(config_options, CONFIG_NOPTIONS, 1u << cmd, true,
	    longopts, shortopts);

	/* First pass: only -c, so the file is read before the flags apply. */
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (c == 'c')
			config_file = optarg;
	}
	if (config_file && config_load_file(cfg, config_file, err, errlen) < 0)
		return -1;

	/* Second pass: the flags, which win over the file. A --listen flag
	 * replaces the file's listen list rather than adding to it. */
	bool listen_from_flags = false, proxy_from_flags = false;
	optind = 1;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		const struct option_row *o = options_row_of(config_options, CONFIG_NOPTIONS, c);
		if (c == 'c')
			continue;
		if (c == 'h') {
			config_usage(cmd);
			return 1;
		}
		if (!o) {
			options_getopt_error(config_options, CONFIG_NOPTIONS, argv, err, errlen);
			return -1;
		}
		if (o->set == config_set_listen && !listen_from_flags) {
			for (int i = 0; i < cfg->nlisten; i++) {
				free(cfg->listen_respond[i]);
				cfg->listen_respond[i] = NULL;
				free(cfg->listen_proxy_from[i]);
				cfg->listen_proxy_from[i] = NULL;
				cfg->listen_proxy[i] = LISTEN_PROXY_INHERIT;
			}
			cfg->nlisten = 0;
			listen_from_flags = true;
		}
		/* Likewise --proxy-from replaces the file's list. */
		if (o->set == config_set_proxy_from && !proxy_from_flags) {
			cfg->proxy_from.ncidr = 0;
			proxy_from_flags = true;
		}
		if (options_set(o, cfg, o->metavar ? optarg : "true", err, errlen) < 0)
			return -1;
	}
	if (optind < argc)
		return options_error(err, errlen, "unexpected argument '%s'", argv[optind]);
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
