/*
 * stall.h - workers that hold cases without taking them up.
 *
 * The broker keeps an assignment with the live worker it gave it to. A
 * worker that answers heartbeats but does not accept (its handling stuck on
 * a hung call into the department's system, a bug that drops one case while
 * it works the others, more cases queued in the adapter than it gets
 * through) keeps them from the department until someone acts, and only the
 * contact deadline's escalation would show it. The broker does not take
 * them back by itself: a slow worker would then handle a case twice, with
 * another worker of its department, and a DISPATCH is idempotent only per
 * worker. It tells the operator instead, once a worker has held a case
 * unaccepted for `accept_within`, and again when it holds none that long.
 */
#ifndef MQ_STALL_H
#define MQ_STALL_H

#include "session.h"

#include <stdint.h>

typedef enum { STALL_SAME, STALL_BEGAN, STALL_ENDED } stall_change_t;

/* From s's census (dispatch_census) at monotonic `now`: whether s now holds
 * a case unaccepted for `within_ms` or longer (BEGAN), or no longer does
 * (ENDED); SAME otherwise. A report does not begin again within `within_ms`
 * of its end, so a queue hovering at the limit does not flood the log. */
stall_change_t stall_update(session_t *s, int64_t now, int64_t within_ms);
/* Forget s's report without a word (a re-registration, the check turned off). */
void stall_forget(session_t *s);
/* How long s has held its oldest unaccepted case, ms (0: none). */
int64_t stall_oldest(const session_t *s, int64_t now);

#endif
