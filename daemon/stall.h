/*
 * stall.h - workers that hold assignments without taking them up.
 *
 * A worker that answers heartbeats is alive to the broker, which keeps its
 * assignments with it: an adapter whose loop runs but whose handling is
 * stuck (a hung call into the department's system, a bug that drops what it
 * receives) holds its share of the department's cases until someone
 * restarts it, and only the contact deadline's escalation shows it. The
 * broker does not take the cases back by itself: a slow worker would then
 * do one twice, with another worker of its department, and a DISPATCH is
 * idempotent only per worker. It tells the operator instead, as soon as a
 * worker has held work it has not accepted for a while without reporting
 * anything at all.
 */
#ifndef MQ_STALL_H
#define MQ_STALL_H

#include "session.h"

#include <stdint.h>

typedef enum { STALL_SAME, STALL_BEGAN, STALL_ENDED } stall_change_t;

/* From s->unaccepted (dispatch_census) at monotonic `now`: whether s has now
 * held unaccepted work and reported no outcome for `after_ms` (0: never),
 * or no longer does; STALL_SAME when its state did not change. */
stall_change_t stall_update(session_t *s, int64_t now, int64_t after_ms);
/* How long s has held unaccepted work without reporting an outcome, ms. */
int64_t stall_quiet(const session_t *s, int64_t now);

#endif
