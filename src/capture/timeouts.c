/* timeouts.c - deadlines from ordered lists and one libuv timer. */
#include "timeouts.h"

#include "session.h"
#include "units.h"
#include "worker.h"

void timeouts_init(struct worker *w, const uint64_t delay_ms[TIMEOUT_KINDS])
{
	for (int k = 0; k < TIMEOUT_KINDS; k++) {
		list_init(&w->tlists[k]);
		w->tdelay_ns[k] = delay_ms[k] * NS_PER_MS;
	}
}

static uint64_t timeouts_deadline(const struct worker *w, int kind,
    const struct list_link *head)
{
	const struct session *s = list_entry(head->next, struct session, tlinks[kind]);
	return s->tstamps[kind] + w->tdelay_ns[kind];
}

int64_t timeouts_next_ms(struct worker *w, uint64_t now_ns)
{
	uint64_t next = UINT64_MAX;

	for (int k = 0; k < TIMEOUT_KINDS; k++) {
		if (list_empty(&w->tlists[k]))
			continue;
		uint64_t d = timeouts_deadline(w, k, &w->tlists[k]);
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

void timeouts_set(struct worker *w, struct session *s, enum timeout_kind kind,
    uint64_t stamp_ns)
{
	if (!w->tdelay_ns[kind])
		return;
	list_remove(&s->tlinks[kind]);
	/* The new deadline is the latest of its list, so the earliest deadline
	 * only changes when the list was empty: only then re-arm. */
	bool was_empty = list_empty(&w->tlists[kind]);
	s->tstamps[kind] = stamp_ns;
	list_append(&w->tlists[kind], &s->tlinks[kind]);
	if (was_empty)
		timeouts_arm(w);
}

void timeouts_clear(struct session *s, enum timeout_kind kind)
{
	list_remove(&s->tlinks[kind]);
}

void timeouts_clear_all(struct session *s)
{
	for (int k = 0; k < TIMEOUT_KINDS; k++)
		list_remove(&s->tlinks[k]);
}

void timeouts_on_timer(uv_timer_t *timer)
{
	struct worker *w = timer->data;
	uint64_t now = uv_hrtime();

	for (int k = 0; k < TIMEOUT_KINDS; k++) {
		/* A session fired here leaves the list (or moves to its end
		 * with a later stamp), so each pass makes progress. */
		while (!list_empty(&w->tlists[k]) &&
		    timeouts_deadline(w, k, &w->tlists[k]) <= now) {
			struct session *s = list_entry(w->tlists[k].next, struct session,
			    tlinks[k]);
			list_remove(&s->tlinks[k]);
			session_on_timeout(s, (enum timeout_kind)k, now);
		}
	}
	timeouts_arm(w);
}
