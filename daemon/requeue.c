/*
 * requeue.c - the dispatch queues rebuilt for a new department list (see
 * requeue.h).
 *
 * Built beside the running queues rather than in them, so that a failure
 * half-way (memory, a database read) leaves the broker exactly as it was and
 * the reload is refused as a whole (config.kept), never half applied.
 */
#include "requeue.h"
#include "fsm.h"

#include <stdlib.h>
#include <string.h>

bool requeue_needed(const config_t *a, const config_t *b)
{
    if (a->ndepts != b->ndepts)
        return true;
    for (size_t i = 0; i < a->ndepts; i++)
        if (strcmp(a->depts[i].id, b->depts[i].id) != 0)
            return true;
    return false;
}

/* One pass over the open assignments. */
typedef struct {
    const requeue_from_t *from;
    dispatch_t *fresh;
    size_t stranded;
    bool failed;
    dispatch_orphan_t *orphans; /* the running queues' orphans, by asg */
    long norphans;
} rebind_t;

/* When the holder of orphan asg died: as the running queues say, so that the
 * rebuilt ones still keep it from colleagues registered before the death
 * (dispatch.h); else (a department back in the config) now, as at a start. */
static int64_t orphan_since(const rebind_t *r, uint64_t asg)
{
    dispatch_orphan_t key = {.asg = asg};
    const dispatch_orphan_t *o = r->norphans
        ? bsearch(&key, r->orphans, (size_t)r->norphans, sizeof key, dispatch_orphan_cmp)
        : NULL;
    return o ? o->since : r->from->now;
}

/* A holder whose department the new list keeps (sessions of a removed one
 * are about to go). */
static session_t *kept_holder(const rebind_t *r, uint64_t asg)
{
    const requeue_from_t *f = r->from;
    session_t *s = dispatch_holder(f->running, asg);
    return s && config_dept_find(f->cfg, f->old->depts[s->dept].id) >= 0 ? s : NULL;
}

static void rebind_one(void *arg, const store_assignment_t *a)
{
    rebind_t *r = arg;
    if (r->from->progress)
        r->from->progress(r->from->arg);
    int dept = config_dept_find(r->from->cfg, a->department);
    if (dept < 0) {
        r->stranded++;
        return;
    }
    session_t *holder = kept_holder(r, a->id);
    bool accepted = fsm_assignment_taken_up(a->state);
    int rc;
    if (holder) {
        rc = dispatch_bind(r->fresh, a->id, holder, dispatch_bound_at(r->from->running, a->id));
        if (accepted)
            dispatch_mark_accepted(r->fresh, a->id);
    } else if (accepted) {
        rc = dispatch_orphan(r->fresh, dept, a->id, orphan_since(r, a->id));
    } else {
        rc = dispatch_wait(r->fresh, dept, a->id, false);
    }
    r->failed |= rc != 0;
}

void requeue_abandon(requeue_t *q, sessions_t *sessions)
{
    for (size_t i = 0; q->was && i < q->n; i++)
        sessions_at(sessions, i)->inflight = q->was[i];
    dispatch_destroy(&q->fresh);
    free(q->was);
    *q = (requeue_t){0};
}

int requeue_build(requeue_t *q, const requeue_from_t *from)
{
    *q = (requeue_t){.n = sessions_count(from->sessions)};
    q->was = malloc((q->n + 1) * sizeof *q->was);
    rebind_t r = {.from = from, .fresh = dispatch_new(from->cfg->ndepts)};
    q->fresh = r.fresh;
    r.norphans = dispatch_orphans(from->running, &r.orphans);
    if (!q->was || !q->fresh || r.norphans < 0) {
        free(r.orphans);
        q->n = 0;                   /* no count taken yet: none to put back */
        requeue_abandon(q, from->sessions);
        return -1;
    }
    for (size_t i = 0; i < q->n; i++) {
        session_t *s = sessions_at(from->sessions, i);
        q->was[i] = s->inflight;
        s->inflight = 0;            /* counted again by the binds */
    }
    int rc = store_open_assignments(from->store, rebind_one, &r);
    free(r.orphans);
    if (rc != 0 || r.failed) {
        requeue_abandon(q, from->sessions);
        return -1;
    }
    q->stranded = r.stranded;
    return 0;
}

dispatch_t *requeue_take(requeue_t *q)
{
    dispatch_t *fresh = q->fresh;
    free(q->was);
    *q = (requeue_t){0};
    return fresh;
}
