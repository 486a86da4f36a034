/* sink.h - where the writer puts records: each kind of output (SQLite,
 * JSON lines, and the ones to come) is one file that fills a sink_ops
 * table, listed once in outputs.c. The writer holds a list of open sinks:
 * the primary (SQLite), whose failures it retries, and the others, which
 * it gives each batch once and which count what they could not deliver.
 * One sink is used by the writer thread only. */
#ifndef FLYPAPER_SINK_H
#define FLYPAPER_SINK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "record.h"

struct config;

/* What a write did. The writer retries the primary on SINK_RETRY and
 * SINK_FULL (the latter one record at a time, giving up payloads that do
 * not fit) and gives the batch up on SINK_FAILED; a sink that is not the
 * primary is never retried: it counts its losses in sink_batch. */
enum sink_status {
	SINK_OK,
	SINK_RETRY,                  /* may pass (locked, busy, I/O): try again */
	SINK_FULL,                   /* the disk or the size limit is full */
	SINK_FAILED,                 /* permanent: retrying cannot help */
};

/* What one write of a sink that is not the primary could not deliver. */
struct sink_batch {
	uint64_t lost;               /* units (records, lines) not delivered */
	uint64_t escaped;            /* delivered with a field escaped */
	uint64_t sent;               /* units delivered (0 from sinks that do not count them) */
};

/* A sink's running totals, kept by the writer from each sink_batch. */
struct sink_counters {
	uint64_t batches;            /* writes */
	uint64_t lost;
	uint64_t escaped;
	uint64_t sent;
};

/* Counters a daemon run leaves behind at exit (the runs table). */
struct sink_run {
	const char *mode;            /* "serve" or "inetd" */
	struct timespec started, ended;
	uint64_t sessions;           /* sessions recorded (closed) */
	uint64_t refused;            /* of them, refused for capacity at accept */
	uint64_t evicted;            /* of them, closed at the fd limit to make room */
	uint64_t accept_errors;      /* accept(2) failures (EMFILE and others) */
	uint64_t payloads_dropped;   /* payloads the full queue dropped */
	uint64_t records_dropped;    /* records the full queue dropped */
	uint64_t store_errors;       /* failed transactions (busy, full, I/O) */
	uint64_t records_lost;       /* records given up on at exit */
	uint64_t jsonl_errors;       /* JSON lines not written whole (lost) */
	uint64_t jsonl_escaped;      /* JSON lines written with a field escaped */
	uint64_t lag_pauses;         /* times accepting paused for the writer's lag */
	uint64_t lag_paused_ms;      /* how long, in all */
	uint64_t unclassified;       /* payloads left 'shed' or 'pending': a full queue, exit */
	uint64_t classify_skipped;   /* payloads whose scan ran over --classify-budget */

	/* syn counters */

	/* proxy counters */

	/* halfopen counters */
	uint64_t halfopen_rows;      /* half-open rows of one handshake each */
	uint64_t halfopen_summarised; /* handshakes counted into summary rows */
	uint64_t halfopen_untracked; /* SYNs seen while the SYN table was full */
	uint64_t pcap_dropped;       /* packets the kernel dropped (pcap_stats) */

	/* pcap counters */
	uint64_t pcap_lost;          /* packets the trace could not write (full disk, errors) */
	uint64_t pcap_files_rotated; /* trace files ended at --pcap-file-size */
	uint64_t capture_failed;     /* 1: the libpcap handle failed and the capture stopped */

	/* tls front counters */
	uint64_t tls_handshakes;     /* TLS front handshakes completed */
	uint64_t tls_failed;         /* TLS front sessions whose handshake did not */

	/* nats counters */
	uint64_t nats_shipped;       /* sessions the stream acknowledged */
	uint64_t nats_failures;      /* publishes that failed (unreachable, no ack) */
	uint64_t nats_backlog;       /* sessions not yet acknowledged, at exit */
	uint64_t nats_lag_ms;        /* most time from a session's end to its ack */

	/* syslog counters */
	uint64_t syslog_sent;        /* messages delivered: a datagram the socket took whole; over TCP, acknowledged by the server's host */
	uint64_t syslog_lost;        /* messages not delivered (server down, queue full) */
	uint64_t syslog_escaped;     /* messages with a value escaped (\xNN) */

	/* metrics counters */
	uint64_t metrics_scrapes;    /* /metrics answers given */
	uint64_t metrics_refused;    /* connections refused or cut: cap, timeout, bad head */
};

/* metrics: what a sink can tell the metrics server of itself, live. A
 * field it cannot know stays -1 and its series is left out. */
struct sink_gauges {
	int64_t backlog;             /* records waiting to be delivered */
	int64_t lag_ms;              /* age of the oldest of them */
	int64_t failures;            /* writes that failed (retried or not) */
	int64_t shipped;             /* units delivered */
};

struct sink;

struct sink_ops {
	const char *name;            /* names it in messages: "db", "jsonl" */
	bool primary;                /* the one whose failures the writer retries */
	bool connect_events;         /* writes RECORD_CONNECT records too */
	const char *lost_what;       /* "line(s) not written whole": logged at the first loss */
	const char *escaped_what;    /* logged at the first escape; NULL: never escapes */

	/* Opens the sink cfg asks for, as the user that writes it, for a
	 * daemon of mode. Returns it; NULL with err "" when cfg does not ask
	 * for this sink; NULL with a message naming the problem in err. */
	struct sink *(*open)(const struct config *cfg, enum record_mode mode,
	    char *err, size_t errlen);
	/* Writes list (linked by next; the sink must not keep it). A primary
	 * leaves the records untouched whatever it returns, so a retry finds
	 * them as they were; any other sink fills out. */
	enum sink_status (*write)(struct sink *s, const struct record *list,
	    struct sink_batch *out);
	/* The last error, for the writer's log lines. NULL: none to tell. */
	const char *(*errmsg)(struct sink *s);
	/* Frees what room it can after SINK_FULL (SQLite: a WAL checkpoint).
	 * NULL: nothing to free. */
	void (*make_room)(struct sink *s);
	/* Reopens after log rotation (SIGHUP). Returns 0, or -1 with err
	 * (the old file stays in use). NULL: nothing to reopen. */
	int (*reopen)(struct sink *s, char *err, size_t errlen);
	/* Keeps a run's counters (SQLite: the runs table). Returns 0 or -1
	 * with err. NULL: not kept. */
	int (*write_run)(struct sink *s, const struct sink_run *run, char *err,
	    size_t errlen);
	/* Starts the sink's own threads, from writer_start: after
	 * confinement, which binds only the threads started after it.
	 * Returns 0 or -1. NULL: it has none. */
	int (*start)(struct sink *s);
	/* Called by the writer's thread when it woke without records (about
	 * once a second while idle, or while the primary fails): moves along
	 * what the sink holds (a queue waiting for its server) and fills out
	 * as write does. NULL: it holds nothing between writes. */
	void (*tick)(struct sink *s, struct sink_batch *out);
	/* Called once after the writer's last batch is written, before the
	 * run's counters are read: delivers what it can of the backlog within
	 * its own bound, then stops its threads, so its counters are final.
	 * NULL: nothing to finish. */
	void (*finish)(struct sink *s);
	/* Closes the sink and frees it. */
	void (*close)(struct sink *s);
	/* metrics: fills out (preset to -1) from the metrics server's thread,
	 * while the writer runs: it may read only atomics. NULL: the series
	 * of this sink are its losses alone (the NATS shipper fills backlog,
	 * lag, failures and shipped here: DESIGN.md, Live metrics). */
	void (*gauges)(struct sink *s, struct sink_gauges *out);
};

/* The part every sink starts with; the writer keeps the counters. */
struct sink {
	const struct sink_ops *ops;
	struct sink_counters count;
	/* metrics: count.lost, readable from another thread (the writer
	 * stores it after each batch) */
	_Atomic uint64_t lost_live;
};

#endif
