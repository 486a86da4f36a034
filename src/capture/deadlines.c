/* deadlines.c - deadlines from ordered lists (deadlines.h). */
#include "deadlines.h"

#include "units.h"

void deadlines_init(struct deadlines *d, const uint64_t *delay_ms, int nkinds,
    deadlines_fire_fn *fire, void *ctx)
{
	if (nkinds > DEADLINES_MAX_KINDS)
		nkinds = DEADLINES_MAX_KINDS;
	d->nkinds = nkinds;
	d->fire = fire;
	d->ctx = ctx;
	for (int k = 0; k < DEADLINES_MAX_KINDS; k++) {
		list_init(&d->lists[k]);
		d->delay_ns[k] = k < nkinds ? delay_ms[k] * NS_PER_MS : 0;
	}
}

void deadlines_unset(struct deadline *dl)
{
	list_init(&dl->link);
	dl->stamp_ns = 0;
}

/* The deadline at the head of kind's list, which must not be empty. */
static uint64_t deadlines_head(const struct deadlines *d, int kind)
{
	const struct deadline *dl = list_entry(d->lists[kind].next, struct deadline, link);

	return dl->stamp_ns + d->delay_ns[kind];
}

bool deadlines_set(struct deadlines *d, struct deadline *dl, int kind,
    uint64_t stamp_ns)
{
	if (kind < 0 || kind >= d->nkinds || !d->delay_ns[kind])
		return false;
	list_remove(&dl->link);
	/* The new deadline is the latest of its list, so the earliest deadline
	 * only changes when the list was empty (or dl was its only one). */
	bool was_empty = list_empty(&d->lists[kind]);
	dl->stamp_ns = stamp_ns;
	list_append(&d->lists[kind], &dl->link);
	return was_empty;
}

void deadlines_clear(struct deadline *dl)
{
	list_remove(&dl->link);
}

int64_t deadlines_next_ms(const struct deadlines *d, uint64_t now_ns)
{
	uint64_t next = UINT64_MAX;

	for (int k = 0; k < d->nkinds; k++) {
		if (list_empty(&d->lists[k]))
			continue;
		uint64_t at = deadlines_head(d, k);
		if (at < next)
			next = at;
	}
	if (next == UINT64_MAX)
		return -1;
	if (next <= now_ns)
		return 0;
	/* Round up, so the timer never fires a hair before the deadline. */
	return (int64_t)((next - now_ns + NS_PER_MS - 1) / NS_PER_MS);
}

void deadlines_fire(struct deadlines *d, uint64_t now_ns)
{
	for (int k = 0; k < d->nkinds; k++) {
		/* A deadline fired here leaves the list, or comes back at its
		 * end due later than now, so each pass makes progress. */
		while (!list_empty(&d->lists[k]) && deadlines_head(d, k) <= now_ns) {
			struct deadline *dl = list_entry(d->lists[k].next, struct deadline,
			    link);
			list_remove(&dl->link);
			d->fire(d->ctx, dl, k, now_ns);
		}
	}
}
