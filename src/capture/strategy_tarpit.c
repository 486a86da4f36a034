/* strategy_tarpit.c - drips one byte every --tarpit-interval of a response
 * head that never ends, so a client keeps waiting for more. The idle
 * timeout does not apply (a peer waiting in silence is the point); the
 * session timeout does. */
#include "strategy.h"

#include "session.h"

char strategy_tarpit_byte(uint64_t pos)
{
	/* A status line, then an endless header of harmless printable bytes
	 * that never ends the head. */
	static const char start[] = "HTTP/1.1 200 OK\r\n";
	static const char filler[] = "X-Pad: 7f2c9a1e5b3d8c0f4a6e2b9d1c7f3a5e\r\n";

	if (pos < sizeof(start) - 1)
		return start[pos];
	pos -= sizeof(start) - 1;
	return filler[pos % (sizeof(filler) - 1)];
}

static int strategy_tarpit_setup(struct strategy *st, const struct config *cfg,
    char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	st->deadline_ms = cfg->tarpit_interval_ms;
	return 0;
}

/* Sends the next byte of the stream (the session's strategy state is its
 * position) and waits an interval from now for the next. */
static void strategy_tarpit_drip(struct session *s, const struct strategy *st,
    uint64_t now_ns)
{
	uint64_t *pos = session_strategy_state(s);
	char c = strategy_tarpit_byte(*pos);

	(void)st;
	/* A peer that stopped reading misses drips, not bytes of the stream. */
	*pos += session_send(s, &c, 1, true);
	session_strategy_deadline(s, now_ns);
}

const struct strategy_ops strategy_tarpit = {
	.name = "tarpit",
	.no_idle_timeout = true,
	.setup = strategy_tarpit_setup,
	.greet = strategy_tarpit_drip,
	.deadline = strategy_tarpit_drip,
};
