/* inetd.c - the original process model: a super-server (inetd, xinetd,
 * systemd Accept=yes) hands one connection on fd 0; flypaper records it
 * with the same session code as the daemon and appends it to the same
 * database, which WAL and a busy timeout make safe to share. */
#include "inetd.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "outputs.h"
#include "sandbox.h"
#include "session.h"
#include "state.h"
#include "worker.h"
#include "writer.h"

static int inetd_is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* inetd gives the socket as fds 0, 1 and 2. Only fd 0 is kept, so that
 * closing it really closes the connection and no log line ever reaches
 * the peer. */
static void inetd_detach_stdio(void)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (inetd_is_socket(STDERR_FILENO))
		log_use_syslog();
	for (int fd = STDOUT_FILENO; fd <= STDERR_FILENO; fd++) {
		if (null >= 0 && inetd_is_socket(fd))
			dup2(null, fd);
	}
	if (null > STDERR_FILENO)
		close(null);
}

static void inetd_on_signal(uv_signal_t *sig, int signum)
{
	(void)signum;
	worker_stop(sig->data);
}

int inetd_main(int argc, char **argv)
{
	struct config cfg;
	struct worker_shared shared = {0};
	struct writer writer;
	struct worker *w;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct addr src;
	struct timespec wall;
	uv_signal_t sigterm, sigint;
	char err[OUTPUTS_ERR_LEN];
	int rc;

	/* A SIGTERM during start-up waits until the loop can record the
	 * session as "shutdown", instead of killing it unrecorded. */
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGINT);
	sigprocmask(SIG_BLOCK, &term, NULL);
	log_set_name("flypaper inetd");
	inetd_detach_stdio();
	umask(STATE_UMASK);
	config_defaults(&cfg);
	/* A child classifies only when --rules says so (flag or file):
	 * loading libyara cost every exec about 2 ms. Otherwise its session
	 * is stored 'pending' and `flypaper rescan` classifies it. */
	free(cfg.rules);
	cfg.rules = NULL;
	rc = config_parse_args(&cfg, CONFIG_INETD, argc, argv, err, sizeof(err));
	if (rc > 0) {
		config_free(&cfg);
		return 0;
	}
	if (rc < 0)
		log_fatal("%s", err);
	if (getpeername(STDIN_FILENO, (struct sockaddr *)&ss, &len) < 0 ||
	    addr_from_sockaddr(&src, (struct sockaddr *)&ss, len) < 0)
		log_fatal("standard input is not a connected TCP socket "
		    "(run me from inetd, or use 'flypaper serve')");
	clock_gettime(CLOCK_REALTIME, &wall);
	uint64_t start_ns = uv_hrtime();
	signal(SIGPIPE, SIG_IGN);
	fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);

	/* With --rules, libyara is loaded here, before confinement, and the
	 * rules are compiled (or loaded from the cache the daemon or the
	 * first child left next to the database) once the session with a
	 * payload is committed. A child loads the cache only if it is its
	 * user's own, in a folder no one else can write (classify_open): a
	 * root child never loads rules the service user could have
	 * compiled. */
	if (outputs_open(&writer, &cfg, MODE_INETD, NULL, NULL, err, sizeof(err)) < 0)
		log_fatal("%s", err);
	struct handoff out;
	writer_handoff(&writer, &out);
	if (worker_shared_init(&shared, &cfg, &out, MODE_INETD, err, sizeof(err)) < 0)
		log_fatal("%s", err);
	w = calloc(1, sizeof(*w));
	if (!w || worker_init(w, &shared, NULL, NULL, 0, err, sizeof(err)) < 0)
		log_fatal("event loop: %s", w ? err : "out of memory");
	/* Only the session keeps the loop alive: when it closes, we are done. */
	uv_unref((uv_handle_t *)&w->stop_async);
	uv_unref((uv_handle_t *)&w->timeout_timer);
	uv_unref((uv_handle_t *)&w->resume_timer);
	uv_signal_init(&w->loop, &sigterm);
	uv_signal_init(&w->loop, &sigint);
	sigterm.data = sigint.data = w;
	uv_signal_start(&sigterm, inetd_on_signal, SIGTERM);
	uv_signal_start(&sigint, inetd_on_signal, SIGINT);
	uv_unref((uv_handle_t *)&sigterm);
	uv_unref((uv_handle_t *)&sigint);

	/* Confinement, after every file is open except the rule files and
	 * their cache, which the classifier opens later and only when a
	 * payload needs them: Landlock lets it read the rules and write the
	 * cache beside the database. */
	sandbox_confine(&cfg, 1);
	session_start(&w->host, STDIN_FILENO, 0, &src, NULL, start_ns, &wall);
	sigprocmask(SIG_UNBLOCK, &term, NULL);
	worker_run(w);
	worker_destroy(w);
	free(w);

	writer_drain(&writer);
	uint64_t lost = writer.records_lost;
	struct queue_stats qs;
	queue_get_stats(&writer.queue, &qs);
	lost += qs.records_dropped;
	struct sink_counters jsonl = writer_sink_counters(&writer, "jsonl");
	struct sink_counters syslog = writer_sink_counters(&writer, "syslog");
	if (writer.store_errors || lost || jsonl.lost || syslog.lost)
		log_error("%llu store error(s), %llu record(s) lost, %llu jsonl error(s), "
		    "%llu syslog message(s) lost", (unsigned long long)writer.store_errors,
		    (unsigned long long)lost, (unsigned long long)jsonl.lost,
		    (unsigned long long)syslog.lost);
	if (jsonl.escaped)
		log_warn("%llu jsonl line(s) written with a field escaped",
		    (unsigned long long)jsonl.escaped);
	struct classifier_counters cc = writer_class_counters(&writer);
	if (cc.unclassified)
		log_warn("%llu payload(s) left unclassified: `flypaper rescan` classifies them",
		    (unsigned long long)cc.unclassified);
	writer_destroy(&writer);
	worker_shared_free(&shared);
	config_free(&cfg);
	return lost ? 1 : 0;
}
