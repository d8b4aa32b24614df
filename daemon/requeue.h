/*
 * requeue.h - the dispatch queues rebuilt for a new department list.
 *
 * A reload that adds, removes or reorders departments renumbers them, and
 * the queues (dispatch.h) are per department number. So new queues are built
 * beside the running ones, from the database's open assignments, keeping who
 * holds what: a live holder of a kept department keeps its assignment, an
 * accepted one whose holder died stays an orphan with its death time, the
 * rest wait. The sessions' in-flight counts are counted again by the binds;
 * if anything fails, every count is put back and the running queues stay.
 */
#ifndef MQ_REQUEUE_H
#define MQ_REQUEUE_H

#include "config.h"
#include "dispatch.h"
#include "session.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    dispatch_t *fresh;          /* the queues for the new list */
    unsigned *was;              /* each session's in-flight count before */
    size_t n;                   /* sessions counted */
    size_t stranded;            /* open assignments of departments the new list lacks */
} requeue_t;

/* Whether a and b list the same departments in the same order (no requeue). */
bool requeue_needed(const config_t *a, const config_t *b);
/* What the new queues are built from. */
typedef struct {
    store_t *store;             /* its open assignments */
    const dispatch_t *running;  /* who holds what now, and the orphans' death times */
    sessions_t *sessions;       /* numbered by old's departments */
    const config_t *old, *cfg;  /* the running config and the new one */
    int64_t now;                /* monotonic ms: death time of an orphan `running` lacks */
    void (*progress)(void *arg);    /* called for each assignment (may be NULL) */
    void *arg;
} requeue_from_t;

/* Build q->fresh for from->cfg's departments. 0, or -1 with every session
 * as it was and nothing left in q (out of memory, or the database failed). */
int requeue_build(requeue_t *q, const requeue_from_t *from);
/* Drop the new queues and put the sessions' counts back. */
void requeue_abandon(requeue_t *q, sessions_t *sessions);
/* The new queues, now the caller's; the sessions keep their new counts. */
dispatch_t *requeue_take(requeue_t *q);

#endif
