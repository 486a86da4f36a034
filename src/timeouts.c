/* timeouts.c - deadlines from two ordered lists and one libuv timer. */
#include <uv.h>

#include "timeouts.h"

#include "session.h"
#include "worker.h"

#define NS_PER_MS 1000000ULL

static uint64_t timeouts_idle_deadline(const struct worker *w,
    const struct session *s)
{
	return s->last_in_ns + w->shared->cfg->idle_timeout_ms * NS_PER_MS;
}

static uint64_t timeouts_age_deadline(const struct worker *w,
    const struct session *s)
{
	return s->start_ns + w->shared->cfg->session_timeout_ms * NS_PER_MS;
}

int64_t timeouts_next_ms(struct worker *w, uint64_t now_ns)
{
	uint64_t next = UINT64_MAX;

	if (!list_empty(&w->idle)) {
		struct session *s = list_entry(w->idle.next, struct session, idle_link);
		next = timeouts_idle_deadline(w, s);
	}
	if (!list_empty(&w->age)) {
		struct session *s = list_entry(w->age.next, struct session, age_link);
		uint64_t d = timeouts_age_deadline(w, s);
		if (d < next)
			next = d;
	}
	if (next == UINT64_MAX)
		return -1;
	if (next <= now_ns)
		return 0;
	/* Round up, so the timer never fires a hair before the deadline. */
	return (int64_t)((next - now_ns + NS_PER_MS - 1) / NS_PER_MS);
}

static void timeouts_arm(struct worker *w)
{
	int64_t ms = timeouts_next_ms(w, uv_hrtime());

	if (ms < 0)
		uv_timer_stop(&w->timeout_timer);
	else
		uv_timer_start(&w->timeout_timer, timeouts_on_timer, (uint64_t)ms, 0);
}

void timeouts_add(struct worker *w, struct session *s)
{
	/* A new session's deadlines come after every existing one, so the
	 * timer only needs arming when the lists were empty. */
	int was_empty = list_empty(&w->age);

	list_append(&w->idle, &s->idle_link);
	list_append(&w->age, &s->age_link);
	if (was_empty)
		timeouts_arm(w);
}

void timeouts_touch(struct worker *w, struct session *s)
{
	list_remove(&s->idle_link);
	list_append(&w->idle, &s->idle_link);
}

void timeouts_remove(struct session *s)
{
	list_remove(&s->idle_link);
	list_remove(&s->age_link);
}

void timeouts_on_timer(uv_timer_t *timer)
{
	struct worker *w = timer->data;
	uint64_t now = uv_hrtime();

	while (!list_empty(&w->age)) {
		struct session *s = list_entry(w->age.next, struct session, age_link);
		if (timeouts_age_deadline(w, s) > now)
			break;
		session_expire(s, CLOSE_SESSION_TIMEOUT);
	}
	while (!list_empty(&w->idle)) {
		struct session *s = list_entry(w->idle.next, struct session, idle_link);
		if (timeouts_idle_deadline(w, s) > now)
			break;
		session_expire(s, CLOSE_IDLE_TIMEOUT);
	}
	timeouts_arm(w);
}
