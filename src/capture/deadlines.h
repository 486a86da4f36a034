/* deadlines.h - deadlines in ordered lists, one list per kind. Every
 * deadline of a kind is the same delay, so ordering them by the moment the
 * delay started (a session's last peer byte, its start, its last tarpit
 * byte) is ordering them by deadline: appending keeps a list sorted, and
 * one timer per loop, armed for the earliest head, does the work of a timer
 * heap at O(1) per event and 24 bytes (one struct deadline) per owner and
 * kind.
 *
 * The module knows nothing of what owns a deadline: a deadline is embedded
 * in its owner, which finds itself from it (list_entry), and a deadline
 * that passes is handed to the function the lists were given. It reads no
 * clock and arms no timer: its caller does both, with deadlines_next_ms. */
#ifndef FLYPAPER_DEADLINES_H
#define FLYPAPER_DEADLINES_H

#include <stdbool.h>
#include <stdint.h>

#include "list.h"

#define DEADLINES_MAX_KINDS 24       /* lists one set of deadlines can hold */

/* One deadline, embedded in its owner. */
struct deadline {
	struct list_link link;       /* in its kind's list; points at itself when unset */
	uint64_t stamp_ns;           /* when its delay started */
};

/* Called for a deadline of kind that passed, after it left its list, with
 * the ctx the lists were given. It may set that deadline again (its new
 * deadline must be later than now_ns, which any stamp from now_ns on
 * gives) and set or clear any other. */
typedef void deadlines_fire_fn(void *ctx, struct deadline *dl, int kind,
    uint64_t now_ns);

struct deadlines {
	struct list_link lists[DEADLINES_MAX_KINDS];  /* by deadline, per kind */
	uint64_t delay_ns[DEADLINES_MAX_KINDS];       /* each kind's delay; 0 off */
	int nkinds;                  /* kinds in use: 0 to nkinds - 1 */
	deadlines_fire_fn *fire;
	void *ctx;
};

/* Sets up nkinds (at most DEADLINES_MAX_KINDS) empty lists, kind k's
 * delay delay_ms[k] (0 turns the kind off: setting it does nothing), and
 * the function that deadlines passing are handed to. */
void deadlines_init(struct deadlines *d, const uint64_t *delay_ms, int nkinds,
    deadlines_fire_fn *fire, void *ctx);

/* Makes dl an unset deadline; do this once before any other use. */
void deadlines_unset(struct deadline *dl);

/* Sets dl as a deadline of kind, its delay counted from stamp_ns: it goes
 * to the end of kind's list (moving if it was there already; stamps of a
 * kind must not go backwards). Returns true when the caller must re-arm
 * its timer: kind's list was empty, so dl may be the earliest deadline of
 * all. False otherwise (a moved deadline only gets later: the timer fires
 * early and finds nothing due), and when kind is off or out of range (dl
 * is then left as it was). */
bool deadlines_set(struct deadlines *d, struct deadline *dl, int kind,
    uint64_t stamp_ns);

/* Takes dl out of its list, if it is in one (safe to call twice). The
 * earliest deadline can only get later: a timer left armed fires early
 * and finds nothing due, so there is nothing to re-arm. */
void deadlines_clear(struct deadline *dl);

/* Milliseconds from now_ns until the earliest deadline, rounded up; 0 when
 * one is due, -1 when there is none. */
int64_t deadlines_next_ms(const struct deadlines *d, uint64_t now_ns);

/* Hands every deadline due at now_ns to the fire function, kind by kind
 * (0 first), earliest first within a kind. */
void deadlines_fire(struct deadlines *d, uint64_t now_ns);

#endif
