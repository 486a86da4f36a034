/* packets.c - the libpcap capture (packets.h): open before the drop, one
 * thread that polls the ring and an eventfd, pcap_dispatch without
 * blocking, and a tick a second. After confinement no socket can be made
 * again: if the handle fails, that is logged once and the daemon carries
 * on without it. */
#include "packets.h"

#include <errno.h>
#include <linux/capability.h>
#include "pcap_api.h"            /* libpcap through dlopen */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

struct packets {
	pcap_t *pcap;
	int linktype;
	int fd;                      /* pcap's selectable fd */
	int stop_fd;                 /* eventfd: the main thread asks the thread to stop */
	pthread_t thread;
	bool started;
	bool dead;                   /* the handle failed: no more capture (thread only) */
	struct halfopen *ho;         /* NULL: no half-open tracking */
	struct pcap_trace *trace;    /* NULL: no traces */
	struct addr listen[CONFIG_MAX_LISTEN]; /* the bound listeners, for the traces */
	int nlisten;
	atomic_uint_fast64_t dropped; /* pcap_stats' ps_drop, at the last tick */
	char iface[64];
};

static uint64_t packets_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* One listener's part of the filter. IPv4 SYNs and RSTs are picked by
 * tcp[tcpflags], which classic BPF reads for IPv4 only: for IPv6 the
 * flags byte is read at its place behind a header with no extensions
 * (ip6[40 + 13]); the decoder skips the rest anyway. */
static int packets_filter_one(const struct addr *a, bool all_segments,
    char *buf, size_t len)
{
	char ip[ADDR_TEXT_LEN], host[ADDR_TEXT_LEN + 16] = "";
	unsigned port = addr_port(a);
	bool v4 = a->u.sa.sa_family == AF_INET;

	if (!addr_is_wildcard(a)) {
		addr_ip(a, ip, sizeof(ip));
		snprintf(host, sizeof(host), " and %shost %s", all_segments ? "" : "dst ", ip);
	}
	if (all_segments)
		return snprintf(buf, len, "(tcp port %u%s)", port, host);
	const char *v4part = "(ip and tcp dst port %u%s and tcp[tcpflags] & (tcp-syn|tcp-rst) != 0)";
	const char *v6part = "(ip6 and ip6[6] == 6 and tcp dst port %u%s and ip6[53] & 6 != 0)";
	/* [::] is bound IPV6_V6ONLY (listener.c): IPv6 peers only */
	return snprintf(buf, len, v4 ? v4part : v6part, port, host);
}

int packets_filter_text(const struct addr *addrs, int nlisten,
    bool all_segments, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < nlisten; i++) {
		int n = snprintf(buf + used, len - used, "%s", i ? " or " : "");
		if (n < 0 || (size_t)n >= len - used)
			return -1;
		used += (size_t)n;
		n = packets_filter_one(&addrs[i], all_segments, buf + used, len - used);
		if (n < 0 || (size_t)n >= len - used)
			return -1;
		used += (size_t)n;
	}
	return nlisten > 0 ? 0 : -1;
}

struct packets *packets_open(const struct config *cfg, const struct addr *addrs,
    int nlisten, bool all_segments, int snaplen, char *err, size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "", filter[PACKETS_FILTER_MAX];
	struct bpf_program prog;
	struct packets *p = calloc(1, sizeof(*p));
	int rc;

	if (!p) {
		snprintf(err, errlen, "half-open: out of memory");
		return NULL;
	}
	p->stop_fd = -1;
	p->nlisten = nlisten < CONFIG_MAX_LISTEN ? nlisten : CONFIG_MAX_LISTEN;
	memcpy(p->listen, addrs, (size_t)p->nlisten * sizeof(*addrs));
	snprintf(p->iface, sizeof(p->iface), "%s", cfg->pcap_iface);
	if (packets_filter_text(addrs, nlisten, all_segments, filter, sizeof(filter)) < 0) {
		snprintf(err, errlen, "pcap-iface: the capture filter for %d listener(s) "
		    "is over %d bytes", nlisten, PACKETS_FILTER_MAX);
		goto fail;
	}
	p->pcap = pcap_create(p->iface, ebuf);
	if (!p->pcap) {
		snprintf(err, errlen, "pcap-iface: cannot capture on '%s': %s", p->iface, ebuf);
		goto fail;
	}
	pcap_set_snaplen(p->pcap, snaplen);
	pcap_set_promisc(p->pcap, 0);
	pcap_set_timeout(p->pcap, 100);  /* a partly filled block is handed over after 100 ms */
	pcap_set_buffer_size(p->pcap, (int)cfg->pcap_buffer);
	rc = pcap_activate(p->pcap);
	if (rc < 0) {
		if (rc == PCAP_ERROR_PERM_DENIED)
			snprintf(err, errlen, "half-open: capturing on '%s' needs root or "
			    "CAP_NET_RAW (see flypaper(8), etc/systemd/flypaper-pcap.conf): %s",
			    p->iface, pcap_geterr(p->pcap));
		else
			snprintf(err, errlen, "pcap-iface: cannot capture on '%s': %s",
			    p->iface, pcap_geterr(p->pcap));
		goto fail;
	}
	if (rc > 0)
		log_warn("pcap-iface: %s: %s", p->iface, pcap_statustostr(rc));
	p->linktype = pcap_datalink(p->pcap);
	if (pcap_compile(p->pcap, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		snprintf(err, errlen, "half-open: the capture filter does not compile: %s",
		    pcap_geterr(p->pcap));
		goto fail;
	}
	rc = pcap_setfilter(p->pcap, &prog);
	pcap_freecode(&prog);
	if (rc < 0 || pcap_setnonblock(p->pcap, 1, ebuf) < 0 ||
	    (p->fd = pcap_get_selectable_fd(p->pcap)) < 0) {
		snprintf(err, errlen, "half-open: cannot set up the capture on '%s': %s",
		    p->iface, rc < 0 ? pcap_geterr(p->pcap) : ebuf);
		goto fail;
	}
	p->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->stop_fd < 0) {
		snprintf(err, errlen, "half-open: eventfd: %s", strerror(errno));
		goto fail;
	}
	log_info("capturing on %s (link type %s, %d bytes a packet, %zu-byte ring): %s",
	    p->iface, pcap_datalink_val_to_name(p->linktype), snaplen, cfg->pcap_buffer,
	    filter);
	return p;
fail:
	if (p->pcap)
		pcap_close(p->pcap);
	free(p);
	return NULL;
}

int packets_linktype(const struct packets *p)
{
	return p->linktype;
}

int packets_drop_capabilities(char *err, size_t errlen)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	/* Ambient first (they need permitted ones), then all three sets. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		snprintf(err, errlen, "half-open: cannot clear the ambient capabilities: %s",
		    strerror(errno));
		return -1;
	}
	if (syscall(SYS_capset, &hdr, data) < 0) {
		snprintf(err, errlen, "half-open: cannot give up capabilities: %s",
		    strerror(errno));
		return -1;
	}
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		close(fd);
		snprintf(err, errlen, "half-open: still able to open a packet socket "
		    "after giving up capabilities");
		return -1;
	}
	return 0;
}

static void packets_on_packet(u_char *user, const struct pcap_pkthdr *h,
    const u_char *bytes)
{
	struct packets *p = (struct packets *)user;
	struct halfopen_pkt pkt;
	bool decoded = halfopen_decode(p->linktype, bytes, h->caplen, &pkt) == 0;

	/* The filter has no direction: the host's own connections to a
	 * listened port elsewhere are left out of the traces here (a segment
	 * not decoded, a fragment say, is kept as the filter passed it). */
	if (p->trace && (!decoded || halfopen_is_ours(p->listen, p->nlisten, &pkt)))
		pcap_trace_packet(p->trace, h, bytes);
	if (p->ho && decoded) {
		struct timespec wall = {.tv_sec = h->ts.tv_sec, .tv_nsec = h->ts.tv_usec * 1000L};
		halfopen_packet(p->ho, &pkt, &wall, packets_now_ns());
	}
}

/* The handle failed (the interface went away, the ring broke): no new
 * one can be opened under confinement, so the daemon carries on without. */
static void packets_die(struct packets *p, const char *why)
{
	p->dead = true;
	log_error("half-open: the capture on %s failed (%s): no more half-open "
	    "handshakes or packet traces this run; accepted sessions are recorded "
	    "as before", p->iface, why);
}

static void packets_tick(struct packets *p, uint64_t now)
{
	struct pcap_stat st;

	if (p->ho)
		halfopen_tick(p->ho, now);
	if (!p->dead && pcap_stats(p->pcap, &st) == 0)
		atomic_store(&p->dropped, st.ps_drop);
	if (p->trace)
		pcap_trace_tick(p->trace);
}

/* At the stop: the kernel hands a partly filled TPACKET_V3 block over
 * only when its timer (pcap_set_timeout, 100 ms) retires it, so the last
 * packets (a peer's FIN just before SIGTERM, our own at shutdown) are
 * still in the kernel's block. Poll and dispatch until
 * PACKETS_DRAIN_QUIET_MS pass with nothing, PACKETS_DRAIN_MAX_MS in all
 * (a flood never goes quiet). */
static void packets_drain(struct packets *p)
{
	uint64_t start = packets_now_ns(), quiet_since = start;
	uint64_t quiet = PACKETS_DRAIN_QUIET_MS * 1000000ULL;
	uint64_t max = PACKETS_DRAIN_MAX_MS * 1000000ULL;

	while (!p->dead) {
		uint64_t now = packets_now_ns();
		if (now - start >= max || now - quiet_since >= quiet)
			break;
		uint64_t left = max - (now - start);
		if (quiet - (now - quiet_since) < left)
			left = quiet - (now - quiet_since);
		struct pollfd fd = {.fd = p->fd, .events = POLLIN};
		int rc = poll(&fd, 1, (int)(left / 1000000ULL) + 1);
		if (rc < 0 && errno != EINTR)
			break;
		if (rc <= 0)
			continue;
		if (fd.revents & (POLLERR | POLLNVAL)) {
			packets_die(p, "poll");
			break;
		}
		int n = pcap_dispatch(p->pcap, -1, packets_on_packet, (u_char *)p);
		if (n == PCAP_ERROR) {
			packets_die(p, pcap_geterr(p->pcap));
			break;
		}
		if (n > 0)
			quiet_since = packets_now_ns();
	}
}

static void *packets_main(void *arg)
{
	struct packets *p = arg;
	uint64_t next_tick = packets_now_ns() + PACKETS_TICK_MS * 1000000ULL;

	for (;;) {
		struct pollfd fds[2] = {
			{.fd = p->stop_fd, .events = POLLIN},
			{.fd = p->dead ? -1 : p->fd, .events = POLLIN},
		};
		uint64_t now = packets_now_ns();
		int wait = now >= next_tick ? 0 : (int)((next_tick - now) / 1000000ULL) + 1;
		if (poll(fds, 2, wait) < 0 && errno != EINTR)
			break;
		if (fds[0].revents)
			break;
		if (!p->dead && (fds[1].revents & (POLLERR | POLLNVAL)))
			packets_die(p, "poll");
		if (!p->dead && (fds[1].revents & (POLLIN | POLLHUP))) {
			/* A bounded batch, so the tick is never starved. */
			if (pcap_dispatch(p->pcap, 4096, packets_on_packet, (u_char *)p) == PCAP_ERROR)
				packets_die(p, pcap_geterr(p->pcap));
		}
		now = packets_now_ns();
		if (now >= next_tick) {
			packets_tick(p, now);
			next_tick = now + PACKETS_TICK_MS * 1000000ULL;
		}
	}
	/* What is still in the ring, then the last verdicts. */
	packets_drain(p);
	packets_tick(p, packets_now_ns());
	if (p->ho)
		halfopen_flush(p->ho, packets_now_ns());
	return NULL;
}

int packets_start(struct packets *p, struct halfopen *ho, struct pcap_trace *trace)
{
	p->ho = ho;
	p->trace = trace;
	if (pthread_create(&p->thread, NULL, packets_main, p) != 0)
		return -1;
	p->started = true;
	return 0;
}

void packets_close(struct packets *p, uint64_t *dropped, bool *failed)
{
	uint64_t one = 1;

	*dropped = 0;
	*failed = false;
	if (!p)
		return;
	if (p->started) {
		if (write(p->stop_fd, &one, sizeof(one)) < 0)
			log_warn("half-open: cannot wake the capture thread: %s", strerror(errno));
		pthread_join(p->thread, NULL);
	}
	*dropped = atomic_load(&p->dropped);
	*failed = p->dead;           /* the thread has ended: no race */
	pcap_close(p->pcap);
	close(p->stop_fd);
	free(p);
}
