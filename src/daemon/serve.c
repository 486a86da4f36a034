/* serve.c - the capture daemon: bind, drop privileges, run the workers and
 * the writer, wait for signals, shut down without losing a record. */
#include "serve.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "classify.h"
#include "config.h"
#include "listener.h"
#include "p0fdb.h"
#include "log.h"
#include "metrics.h"
#include "outputs.h"
#include "packets.h"
#include "pcap_api.h"
#include "sandbox.h"
#include "sink_nats.h"
#include "state.h"
#include "tls_front.h"
#include "worker.h"
#include "writer.h"

#define SERVE_MAX_WORKERS 256

/* Everything serve_main sets up, so one function can tear it down. */
struct serve {
	struct config cfg;
	struct worker_shared shared;
	struct writer writer;
	struct worker *workers;
	int nworkers;
	int (*fds)[CONFIG_MAX_LISTEN];       /* per worker, per listener */
	struct addr addrs[CONFIG_MAX_LISTEN];
	int nlisten;
	struct timespec started;
	struct packets *packets;     /* the libpcap capture; NULL without --half-open */
	struct halfopen *halfopen;   /* NULL without --half-open */
	struct pcap_trace *trace;    /* --pcap: the trace files; NULL: none */
	uint64_t pcap_dropped;       /* from packets_close */
	bool capture_failed;         /* from packets_close */
	int snaplen;                 /* the capture's: headers, and --pcap-snaplen with --pcap */
	uint64_t pcap_lost, pcap_rotated;  /* from pcap_trace_close */
	struct metrics *metrics;     /* --metrics; NULL off */
	uint64_t metrics_scrapes, metrics_refused; /* from metrics_close */
};

/* Lets the daemon hold as many sockets as max-conns asks for, up to what
 * the hard limit allows. */
static void serve_raise_fd_limit(int max_conns)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)max_conns + 64)
		log_warn("the fd limit (%llu) is below max-conns (%d): "
		    "connections past it are refused and counted",
		    (unsigned long long)rl.rlim_cur, max_conns);
}

static void serve_open_listeners(struct serve *sv)
{
	char err[CONFIG_ERR_LEN], text[ADDR_TEXT_LEN];
	int first;
	int n = listener_from_systemd(&first);

	if (n > 0) {
		/* Socket activation: each worker polls its own dup of each
		 * socket; the kernel wakes them and one accept wins. */
		if (n > CONFIG_MAX_LISTEN)
			log_fatal("systemd passed %d sockets, more than %d", n,
			    CONFIG_MAX_LISTEN);
		sv->nlisten = n;
		for (int i = 0; i < n; i++) {
			struct sockaddr_storage ss;
			socklen_t len = sizeof(ss);
			int fd = first + i;
			if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
			    addr_from_sockaddr(&sv->addrs[i], (struct sockaddr *)&ss, len) < 0)
				log_fatal("systemd socket %d is not a TCP socket", fd);
			/* one setsockopt covers the dups: they share the socket */
			if (sv->cfg.syn_fingerprint && listener_save_syn(fd) < 0)
				log_warn("systemd socket %d: TCP_SAVE_SYN: %s: no SYN "
				    "fingerprints from it", fd, strerror(errno));
			for (int w = 0; w < sv->nworkers; w++) {
				sv->fds[w][i] = w == 0 ? fd : dup(fd);
				if (sv->fds[w][i] < 0)
					log_fatal("dup: %s", strerror(errno));
			}
			log_info("listening on %s (from systemd)",
			    addr_format(&sv->addrs[i], text, sizeof(text)));
		}
		return;
	}
	if (sv->cfg.nlisten == 0) {
		addr_parse("127.0.0.1:8080", &sv->cfg.listen[0]);
		sv->cfg.nlisten = 1;
	}
	sv->nlisten = sv->cfg.nlisten;
	for (int i = 0; i < sv->nlisten; i++) {
		struct addr want = sv->cfg.listen[i];
		for (int w = 0; w < sv->nworkers; w++) {
			struct addr bound;
			int fd = listener_open(&want, w == 0, &bound, err, sizeof(err));
			if (fd < 0)
				log_fatal("%s", err);
			if (sv->cfg.syn_fingerprint && listener_save_syn(fd) < 0)
				log_fatal("%s: TCP_SAVE_SYN: %s (--syn-fingerprint no "
				    "goes without)", addr_format(&want, text, sizeof(text)),
				    strerror(errno));
			/* Port 0: the first socket picks the port, the other
			 * workers' sockets join it. */
			if (w == 0) {
				want = bound;
				sv->addrs[i] = bound;
			}
			sv->fds[w][i] = fd;
		}
		log_info("listening on %s",
		    addr_format(&sv->addrs[i], text, sizeof(text)));
	}
}

/* Checks that root is gone for good. */
static void serve_check_dropped(const struct config *cfg)
{
	if (setuid(0) == 0)
		log_fatal("user: still able to regain root after dropping to %s",
		    cfg->user);
	log_info("running as %s", cfg->user);
}

/* Becomes the --user, before any state file is opened and any byte from
 * the network is read. Nothing is given to the user: the files it writes
 * are created by it, after this (see DESIGN.md, Privileges). For good,
 * unless a chroot is still to come (until_chroot): then only the effective
 * uid is the user's (no capability is in effect) and root stays in the
 * real and saved uid until serve_chroot. */
static void serve_drop_privileges(const struct config *cfg, int until_chroot)
{
	struct passwd *pw;
	uid_t keep;

	if (!cfg->user)
		return;
	pw = getpwnam(cfg->user);
	if (!pw)
		log_fatal("user: no such user '%s'", cfg->user);
	keep = until_chroot ? 0 : pw->pw_uid;
	if (setgroups(1, &pw->pw_gid) < 0 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(keep, pw->pw_uid, keep) < 0)
		log_fatal("user: cannot become %s: %s", cfg->user, strerror(errno));
	if (!until_chroot)
		serve_check_dropped(cfg);
}

/* A kernel without Landlock: chroots into the database's folder (root for
 * the moment it takes), then drops root for good. libyara's magic module
 * loads its database in the scanning thread at its first call, which
 * cannot reach it any more: a test scan says so if the rules use it. The
 * scan runs after the drop: the chroot is the service user's folder, and
 * nothing read from it may run with root in reach. */
static void serve_chroot(struct config *cfg, struct classify *rules)
{
	static struct classify_result probe;
	uid_t user = geteuid();
	bool chrooted = sandbox_chroot(cfg);

	if (setresuid(user, user, user) < 0)
		log_fatal("user: cannot become %s: %s", cfg->user, strerror(errno));
	serve_check_dropped(cfg);
	if (chrooted && rules && classify_scan(rules, (const uint8_t *)"x", 1, &probe) < 0)
		log_warn("rules: a scan fails in the chroot: rules that need "
		    "files outside it (libyara's magic module) will not match");
}

/* --half-open or --pcap, as root or with CAP_NET_RAW, after bind and
 * before the drop: opens the capture on the bound listeners (a failure
 * exits 2, naming the problem; with --pcap every segment of their ports,
 * payload up to --pcap-snaplen), gives up the capabilities of a start
 * without root, and sets up the half-open tables. The trace files are
 * opened later, as the user (serve_open_trace); the thread starts after
 * confinement. */
static void serve_open_capture(struct serve *sv)
{
	char err[CONFIG_ERR_LEN];
	uint64_t wait_ms;

	if (!sv->cfg.half_open && !sv->cfg.pcap_dir)
		return;
	/* libpcap is mapped now, before the drop: confinement forbids it later. */
	if (pcap_api_load(err, sizeof(err)) < 0)
		log_fatal("%s", err);
	sv->snaplen = PACKETS_HEADER_SNAPLEN + (sv->cfg.pcap_dir ? sv->cfg.pcap_snaplen : 0);
	sv->packets = packets_open(&sv->cfg, sv->addrs, sv->nlisten, sv->cfg.pcap_dir != NULL,
	    sv->snaplen, err, sizeof(err));
	if (!sv->packets)
		log_fatal("%s", err);
	if (geteuid() != 0) {
		if (packets_drop_capabilities(err, sizeof(err)) < 0)
			log_fatal("%s", err);
		log_info("half-open: capabilities given up: a packet socket can no "
		    "longer be opened");
	}
	if (!sv->cfg.half_open)
		return;
	wait_ms = sv->cfg.half_open_wait_ms ? sv->cfg.half_open_wait_ms
	    : halfopen_kernel_wait_ms();
	sv->halfopen = halfopen_new(sv->addrs, sv->nlisten, &sv->shared.out,
	    sv->cfg.half_open_per_source, sv->cfg.half_open_rows, wait_ms, err, sizeof(err));
	if (!sv->halfopen)
		log_fatal("%s", err);
	log_info("half-open: a SYN without an answer is syn_only after %llums; "
	    "%d row(s) per source and %d in all a minute, then summaries; tables %zu bytes",
	    (unsigned long long)wait_ms, sv->cfg.half_open_per_source, sv->cfg.half_open_rows,
	    halfopen_table_bytes());
}

/* --pcap, as the user that writes the files, after a chroot (whose folder
 * then holds the trace's, or there is none: sandbox_chroot) and before
 * confinement: the folder is checked and the first file begun (a problem
 * exits 2). The sessions learn the trace through the workers' shared
 * part; the capture thread writes it. */
static void serve_open_trace(struct serve *sv)
{
	char err[CONFIG_ERR_LEN];

	if (!sv->cfg.pcap_dir)
		return;
	sv->trace = pcap_trace_open(&sv->cfg, packets_linktype(sv->packets), sv->snaplen,
	    err, sizeof(err));
	if (!sv->trace)
		log_fatal("%s", err);
	sv->shared.pcap = sv->trace;
	if (sv->halfopen)
		halfopen_set_trace(sv->halfopen, sv->trace);
	log_info("pcap: packet traces in %s: %d payload byte(s) a packet, files of "
	    "%llu bytes, at most %d", sv->cfg.pcap_dir, sv->cfg.pcap_snaplen,
	    (unsigned long long)sv->cfg.pcap_file_size, sv->cfg.pcap_files);
}

/* Logs the run's counters and stores them in the runs table. Returns the
 * number of session records lost. */
static uint64_t serve_report(struct serve *sv)
{
	struct queue_stats qs;
	struct writer *wr = &sv->writer;
	struct sink_run run = {.mode = "serve", .started = sv->started};

	queue_get_stats(&wr->queue, &qs);
	clock_gettime(CLOCK_REALTIME, &run.ended);
	run.sessions = wr->sessions_written;
	run.refused = atomic_load(&sv->shared.refused);
	run.evicted = atomic_load(&sv->shared.evicted);
	struct classifier_counters cc = writer_class_counters(wr);
	run.unclassified = cc.unclassified;
	run.classify_skipped = cc.skipped;
	run.accept_errors = atomic_load(&sv->shared.accept_errors);
	run.payloads_dropped = qs.payloads_dropped + wr->payloads_dropped;
	run.records_dropped = qs.records_dropped;
	run.store_errors = wr->store_errors;
	run.records_lost = wr->records_lost + qs.records_dropped;
	struct sink_counters jsonl = writer_sink_counters(wr, "jsonl");
	run.jsonl_errors = jsonl.lost;
	run.jsonl_escaped = jsonl.escaped;
	uint64_t paused_ns;
	worker_lag_stats(&sv->shared, uv_hrtime(), &run.lag_pauses, &paused_ns);
	run.lag_paused_ms = paused_ns / 1000000;
	if (sv->halfopen) {
		struct halfopen_counters hc;
		halfopen_get_counters(sv->halfopen, &hc);
		run.halfopen_rows = hc.rows;
		run.halfopen_summarised = hc.summarised;
		run.halfopen_untracked = hc.untracked;
		log_info("half-open: %llu row(s), %llu handshake(s) in summaries, "
		    "%llu SYN(s) untracked (table full), %llu packet(s) dropped by the kernel",
		    (unsigned long long)hc.rows, (unsigned long long)hc.summarised,
		    (unsigned long long)hc.untracked, (unsigned long long)sv->pcap_dropped);
	}
	run.pcap_dropped = sv->pcap_dropped;
	run.pcap_lost = sv->pcap_lost;
	run.pcap_files_rotated = sv->pcap_rotated;
	run.capture_failed = sv->capture_failed;
	run.tls_handshakes = atomic_load(&sv->shared.tls_handshakes);
	run.tls_failed = atomic_load(&sv->shared.tls_failed);
	run.metrics_scrapes = sv->metrics_scrapes;
	run.metrics_refused = sv->metrics_refused;
	struct sink_counters syslog = writer_sink_counters(wr, "syslog");
	run.syslog_sent = syslog.sent;
	run.syslog_lost = syslog.lost;
	run.syslog_escaped = syslog.escaped;
	if (sv->cfg.syslog_target)
		log_info("syslog: %llu message(s) sent, %llu lost, %llu with a value escaped",
		    (unsigned long long)syslog.sent, (unsigned long long)syslog.lost,
		    (unsigned long long)syslog.escaped);
	if (sv->cfg.nats_urls) {
		struct nats_stats ns;
		sink_nats_stats(&ns);
		run.nats_shipped = ns.shipped;
		run.nats_failures = ns.failures;
		run.nats_backlog = ns.backlog;
		run.nats_lag_ms = ns.lag_ms;
		log_info("nats: %llu session(s) shipped, %llu failed publish(es), "
		    "%llu session(s) waiting in the database, most lag %llu ms",
		    (unsigned long long)ns.shipped, (unsigned long long)ns.failures,
		    (unsigned long long)ns.backlog, (unsigned long long)ns.lag_ms);
	}
	if (sv->trace)
		log_info("pcap: %llu file(s) rotated, %llu packet(s) not written, %llu "
		    "dropped by the kernel", (unsigned long long)sv->pcap_rotated,
		    (unsigned long long)sv->pcap_lost, (unsigned long long)sv->pcap_dropped);
	if (run.lag_pauses)
		log_info("accepts paused %llu time(s) for the writer's lag (max-lag %llums), "
		    "%llu ms in all", (unsigned long long)run.lag_pauses,
		    (unsigned long long)sv->cfg.max_lag_ms,
		    (unsigned long long)run.lag_paused_ms);
	if (run.unclassified)
		log_warn("%llu payload(s) not classified (the classifier's queue was full, "
		    "or at exit): `flypaper rescan` classifies them",
		    (unsigned long long)run.unclassified);
	if (run.classify_skipped)
		log_warn("%llu payload(s) not classified: their scan ran over "
		    "--classify-budget (%llums); `flypaper rescan` gives each 2s",
		    (unsigned long long)run.classify_skipped,
		    (unsigned long long)sv->cfg.classify_budget_ms);
	log_info("stopped: %llu sessions recorded, %llu refused, %llu evicted, "
	    "%llu accept errors, "
	    "%llu payloads dropped (%llu bytes), %llu records dropped, "
	    "%llu store errors, %llu records lost, %llu jsonl errors, "
	    "%llu jsonl lines escaped",
	    (unsigned long long)run.sessions, (unsigned long long)run.refused,
	    (unsigned long long)run.evicted, (unsigned long long)run.accept_errors,
	    (unsigned long long)run.payloads_dropped,
	    (unsigned long long)(qs.payload_bytes_dropped + wr->payload_bytes_dropped),
	    (unsigned long long)run.records_dropped,
	    (unsigned long long)run.store_errors,
	    (unsigned long long)run.records_lost,
	    (unsigned long long)run.jsonl_errors,
	    (unsigned long long)run.jsonl_escaped);
	writer_record_run(wr, &run);
	return run.records_lost;
}

/* Waits for SIGTERM or SIGINT; SIGHUP reopens the JSON-lines file. The
 * signals are blocked in every thread and taken here with sigwait, so no
 * code runs in a signal handler at all. */
static void serve_wait_for_signals(struct serve *sv, const sigset_t *set)
{
	for (;;) {
		int sig;
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			writer_request_reopen(&sv->writer);
			continue;
		}
		log_info("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
		return;
	}
}

int serve_main(int argc, char **argv)
{
	static struct serve sv;
	char err[CONFIG_ERR_LEN];
	sigset_t set;
	int rc;

	log_set_name("flypaper");
	config_defaults(&sv.cfg);
	rc = config_parse_args(&sv.cfg, CONFIG_SERVE, argc, argv, err, sizeof(err));
	if (rc > 0)
		return 0;
	if (rc < 0)
		log_fatal("%s", err);
	if (sv.cfg.user && geteuid() != 0)
		log_fatal("user: only root can switch to %s", sv.cfg.user);
	if (sv.cfg.user && !getpwnam(sv.cfg.user))
		log_fatal("user: no such user '%s'", sv.cfg.user);
	umask(STATE_UMASK);
	if (sv.cfg.check_only) {
		struct respond_set strategies;
		int bad = respond_build(&strategies, &sv.cfg, err, sizeof(err));
		respond_free(&strategies);
		if (bad < 0)
			log_fatal("%s", err);
		if (strcmp(sv.cfg.rules, "none") != 0) {
			struct classify *rules = classify_open(sv.cfg.rules, NULL, err, sizeof(err));
			if (!rules)
				log_fatal("rules: %s", err);
			classify_close(rules);
		}
		struct p0fdb *db;
		if (outputs_load_p0f(&sv.cfg, MODE_SERVE, &db, err, sizeof(err)) < 0)
			log_fatal("%s", err);
		p0fdb_free(db);
		printf("flypaper: configuration OK\n");
		config_free(&sv.cfg);
		return 0;
	}
	sv.nworkers = sv.cfg.workers;
	if (sv.nworkers <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		sv.nworkers = n > 0 ? (int)(n < SERVE_MAX_WORKERS ? n : SERVE_MAX_WORKERS) : 1;
	}
	clock_gettime(CLOCK_REALTIME, &sv.started);
	if (geteuid() == 0 && !sv.cfg.user)
		log_warn("serving as root without --user: a flaw in flypaper would "
		    "hand the internet root, and its files belong to root; run with "
		    "--user flypaper (see flypaper(8))");

	/* Signals first, so every thread created later inherits the mask. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	serve_raise_fd_limit(sv.cfg.max_conns);
	sv.fds = calloc((size_t)sv.nworkers, sizeof(*sv.fds));
	sv.workers = calloc((size_t)sv.nworkers, sizeof(*sv.workers));
	if (!sv.fds || !sv.workers)
		log_fatal("out of memory");
	/* As root: bind, compile the rules from their sources, which may be
	 * readable by root only (the compiled cache next to the database is
	 * used only if no one but root can have written it: root never loads
	 * or writes a cache in the service user's folder). Then drop, read
	 * the templates, (on a kernel without Landlock, chroot into the
	 * database's folder and drop for good), then open the state files as
	 * the user that writes them. */
	char oerr[OUTPUTS_ERR_LEN];
	struct classify *rules;
	struct handoff out = {0};
	int jail = sandbox_chroot_wanted(&sv.cfg);
	serve_open_listeners(&sv);
	sv.metrics = metrics_open(&sv.cfg);
	serve_open_capture(&sv);
	/* OpenSSL is mapped and its files read as root, before the drop. */
	if (tls_front_setup(&sv.cfg, err, sizeof(err)) < 0)
		log_fatal("%s", err);
	if (outputs_compile_rules(&sv.cfg, &rules, oerr, sizeof(oerr)) < 0)
		log_fatal("%s", oerr);
	serve_drop_privileges(&sv.cfg, jail);
	/* The templates are read here, before a chroot hides them; the
	 * handoff is filled in once the outputs are open. */
	if (worker_shared_init(&sv.shared, &sv.cfg, &out, MODE_SERVE, err,
	        sizeof(err)) < 0)
		log_fatal("%s", err);
	/* as the user, and before a chroot hides /etc/p0f */
	struct p0fdb *p0f;
	if (outputs_load_p0f(&sv.cfg, MODE_SERVE, &p0f, oerr, sizeof(oerr)) < 0)
		log_fatal("%s", oerr);
	/* The self-signed certificate, as the user who owns the database's
	 * folder, before a chroot or Landlock close it. */
	if (tls_front_self_signed(&sv.cfg, err, sizeof(err)) < 0)
		log_fatal("%s", err);
	if (outputs_before_chroot(&sv.cfg, oerr, sizeof(oerr)) < 0)
		log_fatal("%s", oerr);
	if (jail)
		serve_chroot(&sv.cfg, rules);
	if (outputs_open(&sv.writer, &sv.cfg, MODE_SERVE, rules, p0f, oerr, sizeof(oerr)) < 0)
		log_fatal("%s", oerr);
	writer_handoff(&sv.writer, &sv.shared.out);
	sv.shared.halfopen = sv.halfopen;
	serve_open_trace(&sv);
	/* Confinement, after every file is open and before any thread
	 * starts (Landlock binds only this thread and those it starts). The
	 * rules were compiled as root: nothing needs their files now, and the
	 * service user may not even be able to reach them. */
	sandbox_confine(&sv.cfg, 0);
	if (writer_start(&sv.writer) < 0)
		log_fatal("cannot start the writer thread");
	for (int w = 0; w < sv.nworkers; w++) {
		if (worker_init(&sv.workers[w], &sv.shared, sv.fds[w], sv.addrs,
		        sv.nlisten, err, sizeof(err)) < 0 ||
		    worker_start(&sv.workers[w]) < 0)
			log_fatal("worker %d: %s", w, err);
	}
	/* The capture thread, confined like the others: it only polls, reads
	 * the ring and asks pcap_stats (getsockopt). */
	if (sv.packets && packets_start(sv.packets, sv.halfopen, sv.trace) < 0)
		log_fatal("cannot start the capture thread");
	/* Confined like the others: it only polls, accepts, reads, writes. */
	if (metrics_start(sv.metrics, &sv.shared, &sv.writer) < 0)
		log_fatal("cannot start the metrics thread");
	log_info("ready: %d worker(s), sensor %s, database %s", sv.nworkers,
	    sv.cfg.sensor, sv.cfg.db_path);

	serve_wait_for_signals(&sv, &set);

	for (int w = 0; w < sv.nworkers; w++)
		worker_stop(&sv.workers[w]);
	for (int w = 0; w < sv.nworkers; w++)
		worker_join(&sv.workers[w]);
	/* before the writer's queue and sinks go */
	metrics_close(sv.metrics, &sv.metrics_scrapes, &sv.metrics_refused);
	/* After the workers (every accept is known), before the writer (the
	 * last verdicts and summaries are records). */
	packets_close(sv.packets, &sv.pcap_dropped, &sv.capture_failed);
	pcap_trace_close(sv.trace, &sv.pcap_lost, &sv.pcap_rotated);
	writer_stop(&sv.writer);
	uint64_t lost = serve_report(&sv);
	writer_destroy(&sv.writer);
	halfopen_free(sv.halfopen);
	worker_shared_free(&sv.shared);
	free(sv.workers);
	free(sv.fds);
	config_free(&sv.cfg);
	return lost ? 1 : 0;
}
