/* timeouts.h - a session's deadlines. Each kind of deadline is the same
 * delay for every session of a run, so ordering sessions by the moment the
 * delay starts (last peer byte, start, last tarpit byte) is ordering them
 * by deadline: one list per kind and one timer per loop do the work of a
 * timer heap, at O(1) per event and 16 bytes per session and kind. */
#ifndef FLYPAPER_TIMEOUTS_H
#define FLYPAPER_TIMEOUTS_H

#include <stdint.h>
#include <uv.h>

enum timeout_kind {
	TIMEOUT_IDLE,                /* from the last peer byte: --idle-timeout */
	TIMEOUT_SESSION,             /* from the start: --session-timeout */
	TIMEOUT_RESPOND,             /* from the start: --respond-delay (http) */
	TIMEOUT_DRIP,                /* from the last tarpit byte: --tarpit-interval */
	TIMEOUT_KINDS
};

struct worker;
struct session;

/* Sets the delay of each kind for a worker's lists (0 disables a kind). */
void timeouts_init(struct worker *w, const uint64_t delay_ms[TIMEOUT_KINDS]);

/* Puts s at the end of kind's order, counting the delay from stamp_ns;
 * arms the timer when needed. A session already in the list moves. */
void timeouts_set(struct worker *w, struct session *s, enum timeout_kind kind,
    uint64_t stamp_ns);

/* Takes s out of one order, or all of them (safe to call twice). */
void timeouts_clear(struct session *s, enum timeout_kind kind);
void timeouts_clear_all(struct session *s);

/* The timer callback: fires every deadline that has passed, in order,
 * through session_on_timeout, then re-arms. */
void timeouts_on_timer(uv_timer_t *timer);

/* Milliseconds until the earliest deadline from now_ns, or -1 when there
 * is none. Pure: exposed for the unit tests. */
int64_t timeouts_next_ms(struct worker *w, uint64_t now_ns);

#endif
