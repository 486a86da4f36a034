/* config.h - flypaper's settings: defaults, command line, INI file, checks. */
#ifndef FLYPAPER_CONFIG_H
#define FLYPAPER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"

#define CONFIG_MAX_LISTEN 64         /* --listen may repeat this many times */
#define CONFIG_MAX_PROXY_FROM 32     /* networks in one proxy_from list */
#define CONFIG_ERR_LEN 512           /* size of a caller's error buffer */
#define PCAP_FILES_MAX 10000         /* --pcap-files at most */
/* The largest --max-payload: SQLite's default SQLITE_MAX_LENGTH, the
 * longest BLOB it stores (Debian's build keeps the default; tests/unit
 * checks the linked library). A longer payload's row would not exist. */
#define CONFIG_MAX_PAYLOAD_MAX 1000000000

/* What the daemon does to a peer whose idle timeout fires (--on-timeout). */
enum on_timeout {
	ON_TIMEOUT_DROP,             /* close quietly (FIN) */
	ON_TIMEOUT_GOAWAY,           /* write goaway_text, then close */
	ON_TIMEOUT_RESET,            /* abort with RST (SO_LINGER 0) */
};

/* The upstream proxies a listener takes a PROXY protocol header from. */
struct config_proxy {
	int ncidr;
	struct addr_cidr cidr[CONFIG_MAX_PROXY_FROM];
};

/* A [listener]'s own proxy = line; INHERIT: as --proxy-protocol says. */
enum config_listen_proxy {
	LISTEN_PROXY_INHERIT,
	LISTEN_PROXY_NO,
	LISTEN_PROXY_YES,
};

/* The self-signed certificate's name when --tls-name is not given: what
 * countless default certificates say, so it tells a scanner nothing of
 * the host (gethostname() would: hp-01.corp.internal). */
#define CONFIG_TLS_NAME "localhost"

struct config {
	struct addr listen[CONFIG_MAX_LISTEN]; /* addresses to listen on */
	char *listen_respond[CONFIG_MAX_LISTEN]; /* per listener; NULL: respond */
	int nlisten;                 /* 0: the default 127.0.0.1:8080 */
	/* PROXY protocol (config_listener_proxy says what a listener takes). */
	bool proxy_protocol;         /* --proxy-protocol: every listener expects a header */
	struct config_proxy proxy_from;  /* --proxy-from: who may send one */
	uint64_t proxy_timeout_ms;   /* the header must be complete by then */
	enum config_listen_proxy listen_proxy[CONFIG_MAX_LISTEN];  /* [listener] proxy = */
	struct config_proxy *listen_proxy_from[CONFIG_MAX_LISTEN]; /* [listener] proxy_from =; NULL: proxy_from */
	/* TLS front (config_listener_tls says which listeners have one). */
	bool tls;                    /* --tls: every listener without its own tls = */
	char *tls_cert, *tls_key;    /* --tls-cert, --tls-key (PEM); NULL: self-signed */
	char *tls_name;              /* --tls-name: the self-signed one's CN/SAN; NULL:
	                              * CONFIG_TLS_NAME */
	enum config_listen_proxy listen_tls[CONFIG_MAX_LISTEN];  /* [listener] tls = */
	char *respond;               /* default response strategy */
	char *banner_text;           /* what the banner strategy sends */
	uint64_t respond_delay_ms;   /* http: answer a silent peer after this; 0 never */
	uint64_t tarpit_interval_ms; /* tarpit: one byte per interval */
	char *templates_dir;         /* http personalities' templates */
	int max_requests;            /* HTTP requests recorded per session */
	double ident_probability;    /* 0 never .. 1 always */
	int ident_port;              /* the peer's port probed (113) */
	uint64_t ident_timeout_ms;
	uint64_t ident_interval_ms;  /* at most one probe per source per interval */
	int ident_max;               /* probes in flight, all workers */
	char *experiment;            /* "silent:1,http-iis5:1"; NULL: none */
	char *experiment_salt;       /* key of the assignment hash */
	char *rules;                 /* YARA rule files and folders, ':'-separated; "none" */
	int workers;                 /* event-loop threads; 0: one per core */
	char *db_path;               /* SQLite database file */
	char *jsonl_path;            /* JSON-lines sink; "-" is stdout; NULL off */
	char *syslog_target;         /* --syslog: local, unix:PATH, udp:// or tcp://HOST:PORT; NULL off */
	int syslog_facility;         /* RFC 5424 facility code, 0..23 */
	char *syslog_app;            /* the messages' APP-NAME */
	size_t syslog_queue;         /* TCP: bytes of messages waiting for the server */
	char *pcap_dir;              /* packet traces' folder (--pcap); NULL off */
	char *nats_urls;             /* NATS servers, ','-separated (--nats); NULL off */
	char *nats_subject;          /* sessions' subject; NULL: flypaper.<sensor>.sessions */
	char *nats_creds;            /* NATS credentials file (JWT and seed); NULL none */
	char *nats_tls_ca;           /* CA certificates to trust (PEM); NULL: no TLS unless tls:// */
	int nats_rate;               /* messages a second the shipper sends at most */
	int pcap_snaplen;            /* TCP payload bytes a trace keeps per packet */
	size_t pcap_file_size;       /* a trace file rotates past this many bytes */
	int pcap_files;              /* trace files kept, the oldest unlinked */
	char *sensor;                /* sensor name; NULL: the host name */
	char *user;                  /* drop root to this user after binding */
	char *goaway_text;           /* bytes written by ON_TIMEOUT_GOAWAY */
	size_t max_payload;          /* bytes of payload kept per session */
	uint64_t idle_timeout_ms;    /* read timeout */
	uint64_t session_timeout_ms; /* hard cap on a session's life */
	enum on_timeout on_timeout;
	int max_conns;               /* concurrent sessions, all workers */
	int max_conns_per_source;    /* concurrent sessions per IPv4 address or IPv6 /64 */
	size_t max_buffered;         /* payload and unsent output, all open sessions */
	size_t queue_records;        /* writer queue cap, records */
	size_t queue_bytes;          /* writer queue cap, bytes of whole records */
	uint64_t flush_timeout_ms;   /* how long exit waits for a failing store */
	uint64_t max_lag_ms;         /* pause accepting while the writer is this far behind; 0 never */
	uint64_t classify_budget_ms; /* the longest scan of one payload */
	int syn_fingerprint;         /* 1: TCP_SAVE_SYN on listeners, TCP_INFO at close */
	char *p0f_db;                /* p0f.fp to match SYNs to; NULL the default; "none" */
	bool check_only;             /* --check: validate and exit */
	/* half-open handshakes and the libpcap capture (issue 10) */
	bool half_open;              /* record SYN-only and RST-after-SYN-ACK handshakes */
	int half_open_per_source;    /* their rows per source and minute, then summaries */
	int half_open_rows;          /* their rows a minute from all sources, then summaries */
	uint64_t half_open_wait_ms;  /* SYN to syn_only; 0: from tcp_synack_retries */
	char *pcap_iface;            /* the capture's interface; "any" */
	size_t pcap_buffer;          /* the capture's kernel ring, bytes */
	/* metrics: --metrics ADDR:PORT serves /metrics there */
	bool metrics_on;             /* --metrics given */
	struct addr metrics;         /* where; port 0 picks one (logged) */
};

/* Commands whose options config_parse_args knows (bits 1 << cmd in the
 * option table's commands column). */
enum config_command {
	CONFIG_SERVE,
	CONFIG_INETD,
};

/* Fills cfg with the defaults. cfg owns every string in it (heap copies);
 * config_free releases them. Exits 2 if memory runs out. */
void config_defaults(struct config *cfg);

/* Parses argv (after the subcommand) into cfg: first any -c FILE, then the
 * flags, so flags win; a missing sensor name becomes the host name.
 * Returns 0 on success, 1 when --help was printed, or -1 with a message
 * naming the problem in err. */
int config_parse_args(struct config *cfg, enum config_command cmd, int argc,
    char **argv, char *err, size_t errlen);

/* Reads an INI file into cfg. Returns 0, or -1 with "FILE:LINE: ..." in err. */
int config_load_file(struct config *cfg, const char *path, char *err,
    size_t errlen);

/* Sets one option by its long name through its row in the option table.
 * Returns 0, or -1 with the reason (without file or line) in err. */
int config_set(struct config *cfg, const char *name, const char *value,
    char *err, size_t errlen);

/* Checks settings that depend on each other. Returns 0 or -1 with err. */
int config_validate(const struct config *cfg, char *err, size_t errlen);

/* The upstream proxies listener number `listener` (a --listen index or
 * systemd socket) takes a PROXY protocol header from, or NULL when it
 * takes none: its [listener] section's proxy and proxy_from, else
 * --proxy-protocol and --proxy-from. config_validate makes sure a list
 * is never empty. */
const struct config_proxy *config_listener_proxy(const struct config *cfg, int listener);

/* Whether listener number `listener` runs the TLS front: its [listener]
 * section's tls = line, else --tls. */
bool config_listener_tls(const struct config *cfg, int listener);

/* Whether any listener of cfg runs the TLS front. */
bool config_any_tls(const struct config *cfg);

/* Releases the strings config_set allocated. */
void config_free(struct config *cfg);

/* Prints the usage text of a command to stdout. */
void config_usage(enum config_command cmd);

/* Prints the option table, one tab-separated line per option (name,
 * config-file section, commands, metavar, help): "flypaper options", which
 * the man-page check reads. */
void config_list(FILE *out);

#endif
