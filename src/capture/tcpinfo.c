/* tcpinfo.c - TCP_SAVED_SYN and TCP_INFO. This file includes the kernel's
 * <linux/tcp.h> and not glibc's <netinet/tcp.h> (they clash): glibc's
 * struct tcp_info stops at tcpi_total_retrans, before tcpi_rwnd_limited
 * and tcpi_snd_wnd. A field past the length the kernel returned is absent
 * (an older kernel returns less). */
#include "tcpinfo.h"

#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/tcp.h>

#include "synsig.h"

/* Whether the kernel's answer of len bytes reaches the end of field. */
#define TCPINFO_HAS(len, field) \
	((size_t)(len) >= offsetof(struct tcp_info, field) + sizeof(((struct tcp_info *)0)->field))

void tcpinfo_saved_syn(int fd, struct record_syn *out)
{
	/* 512 bytes hold any IPv4 SYN (60 + 60) and most IPv6 ones; a longer
	 * one fails with EINVAL, keeps the copy and says its length. */
	uint8_t buf[TCPINFO_SYN_MAX];
	socklen_t len = 512;

	memset(out, 0, sizeof(*out));
	if (getsockopt(fd, IPPROTO_TCP, TCP_SAVED_SYN, buf, &len) < 0) {
		if (len <= 512 || len > sizeof(buf) ||
		    getsockopt(fd, IPPROTO_TCP, TCP_SAVED_SYN, buf, &len) < 0)
			return;
	}
	if (len == 0)
		return;              /* nothing saved */
	synsig_parse(buf, len, out);
}

/* Whether the sample says the peer's window was shut with data to send. */
static bool tcpinfo_shut(const struct tcp_info *ti, socklen_t len)
{
	bool waiting = ti->tcpi_unacked > 0 ||
	    (TCPINFO_HAS(len, tcpi_notsent_bytes) && ti->tcpi_notsent_bytes > 0);

	if (!waiting)
		return false;
	if (TCPINFO_HAS(len, tcpi_snd_wnd))     /* 5.4+: the window itself */
		return ti->tcpi_snd_wnd == 0;
	/* before: zero-window probes out, their timer backing off */
	return ti->tcpi_backoff > 0 && ti->tcpi_probes > 0;
}

void tcpinfo_read(int fd, struct record_tcpinfo *out)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    !TCPINFO_HAS(len, tcpi_total_retrans))
		return;
	out->present = 1;
	out->rtt_us = ti.tcpi_rtt;
	out->rttvar_us = ti.tcpi_rttvar;
	out->retrans = ti.tcpi_total_retrans;
	out->peer_mss = ti.tcpi_snd_mss;
	out->has_rwnd_limited = TCPINFO_HAS(len, tcpi_rwnd_limited);
	if (out->has_rwnd_limited)
		out->rwnd_limited_us = ti.tcpi_rwnd_limited;
	out->has_snd_wnd = TCPINFO_HAS(len, tcpi_snd_wnd);
	if (out->has_snd_wnd)
		out->peer_window = ti.tcpi_snd_wnd;
	if (tcpinfo_shut(&ti, len))
		out->zero_window = 1;
}

bool tcpinfo_zero_window(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return false;
	return tcpinfo_shut(&ti, len);
}
