/* timeouts.h - idle and session deadlines. Both timeouts are the same for
 * every session of a run, so ordering by "last peer byte" and by "start" is
 * ordering by deadline: two lists and one timer per loop do the work of a
 * timer heap, at O(1) per event and 32 bytes per session. */
#ifndef FLYPAPER_TIMEOUTS_H
#define FLYPAPER_TIMEOUTS_H

#include <stdint.h>
#include <uv.h>

struct worker;
struct session;

/* Puts a new session at the end of both orders; arms the timer. */
void timeouts_add(struct worker *w, struct session *s);

/* The peer sent a byte: s moves to the end of the idle order. */
void timeouts_touch(struct worker *w, struct session *s);

/* Takes s out of both orders (safe to call twice). */
void timeouts_remove(struct session *s);

/* The timer callback: expires every session past a deadline, re-arms for
 * the next one. */
void timeouts_on_timer(uv_timer_t *timer);

/* Milliseconds until the earliest deadline from now_ns, or -1 when no
 * session is open. Pure: exposed for the unit tests. */
int64_t timeouts_next_ms(struct worker *w, uint64_t now_ns);

#endif
