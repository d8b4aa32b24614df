/*
 * dispatch.h - which assignments wait for a worker, and which worker holds
 * which assignment. In memory only: the database says what is open, this says
 * who has it now, and it is rebuilt from the database on start.
 *
 * Each department has two queues. `ready` assignments go to any live worker
 * with credit. `orphaned` ones were accepted by a worker that died; they go
 * only to a worker that registers after the death (the restarted adapter,
 * most likely), never to a busy colleague who never saw them.
 */
#ifndef MQ_DISPATCH_H
#define MQ_DISPATCH_H

#include "session.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dispatch_t dispatch_t;

/* Create queues for ndepts departments; NULL when out of memory. */
dispatch_t *dispatch_new(size_t ndepts);
/* Free everything; *self_p = NULL. */
void dispatch_destroy(dispatch_t **self_p);
/* Queue an assignment for any worker of dept; `front` puts it first. 0 or -1 (memory). */
int dispatch_wait(dispatch_t *self, int dept, uint64_t asg, bool front);
/* Queue an accepted assignment whose worker was last heard from at `since`;
 * the queue stays in order of `since`. 0 or -1 (memory). */
int dispatch_orphan(dispatch_t *self, int dept, uint64_t asg, int64_t since);
/* Whether an insert into a queue ever failed (out of memory): an open
 * assignment is then in no queue, and the queues must be rebuilt. */
bool dispatch_lost(const dispatch_t *self);
/* An assignment taken from a queue, and which queue, so that it can go back. */
typedef struct {
    uint64_t asg;
    bool orphan;                /* from the orphans, whose holder died at `since` */
    int64_t since;
} dispatch_item_t;

/* Next assignment of dept that a worker registered at `registered_at` may
 * take: orphans first when eligible, then ready ones. false when none. */
bool dispatch_take(dispatch_t *self, int dept, int64_t registered_at, dispatch_item_t *item);
/* Put back, first in its queue, an item dispatch_take gave that could not be
 * delivered. 0 or -1 (memory). */
int dispatch_putback(dispatch_t *self, int dept, const dispatch_item_t *item);
/* An orphan, and when its holder was last heard from. */
typedef struct {
    uint64_t asg;
    int64_t since;
} dispatch_orphan_t;
/* Every department's orphans, sorted by asg, into a new array *out that the
 * caller frees (for rebuilding the queues without losing their times); their
 * number, or -1 when out of memory. */
long dispatch_orphans(const dispatch_t *self, dispatch_orphan_t **out);
/* Order of two dispatch_orphan_t by asg, for bsearch in that array. */
int dispatch_orphan_cmp(const void *a, const void *b);
/* When the first orphan of dept died (the since of dispatch_orphan); false if none. */
bool dispatch_orphan_since(const dispatch_t *self, int dept, int64_t *since);
/* Record that s holds asg since `at` (monotonic ms; s->inflight grows). 0 or
 * -1 (memory). */
int dispatch_bind(dispatch_t *self, uint64_t asg, session_t *s, int64_t at);
/* Since when asg is held (dispatch_bind's `at`); 0 when it is not. */
int64_t dispatch_bound_at(const dispatch_t *self, uint64_t asg);
/* Forget who holds asg (its inflight shrinks); returns that session or NULL. */
session_t *dispatch_unbind(dispatch_t *self, uint64_t asg);
/* The session holding asg, or NULL. */
session_t *dispatch_holder(const dispatch_t *self, uint64_t asg);
/* Mark asg as accepted by its holder (it becomes an orphan if the holder
 * dies); true when that changed the mark (held, and not marked before). */
bool dispatch_mark_accepted(dispatch_t *self, uint64_t asg);
/* Take the mark back (a rolled-back pass had set it). */
void dispatch_unmark_accepted(dispatch_t *self, uint64_t asg);
/* A session died at `now`: requeue what it held (unaccepted first in line,
 * accepted as orphans) and zero its inflight. Returns how many were requeued. */
size_t dispatch_release(dispatch_t *self, session_t *s, int64_t now);
/* Set each session's `unaccepted`, `oldest_asg` and `oldest_at` from the
 * assignments it holds and has not taken up (one pass over the bindings:
 * for stall.h, not for a hot path). */
void dispatch_census(const dispatch_t *self, sessions_t *sessions);
/* Assignments waiting (ready + orphaned) in dept, and in all departments. */
size_t dispatch_waiting(const dispatch_t *self, int dept);
size_t dispatch_waiting_total(const dispatch_t *self);
/* Assignments currently held by workers. */
size_t dispatch_held(const dispatch_t *self);

#endif
