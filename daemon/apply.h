/*
 * apply.h - applying one decoded request to the store: SUBMIT, a worker's
 * outcome, an admin's case command, and the record of a dispatch. Each call
 * writes inside the broker's open transaction, fills the reply to send once
 * that transaction commits, and lists the in-memory effects (queue this
 * assignment, release that one) and the events to publish after the commit.
 * No sockets here: the broker loop owns those, and tests and the fuzzer can
 * drive this layer with a real store and no network.
 */
#ifndef MQ_APPLY_H
#define MQ_APPLY_H

#include "config.h"
#include "msg.h"
#include "store.h"
#include "timers.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    FX_WAIT,        /* queue asg for a worker of dept */
    FX_RELEASE,     /* asg is finished or superseded: free its holder's credit */
    FX_ACCEPTED,    /* asg was accepted by its holder */
    FX_TIMER,       /* look at case_id's ladder again at `at` */
} fx_kind_t;

typedef struct {
    fx_kind_t kind;
    int dept;
    uint64_t asg;
    uint64_t case_id;       /* FX_TIMER */
    int ladder;             /* FX_TIMER: LADDER_CONTACT, LADDER_RESOLVE or TIMERS_CLOSE */
    int64_t at;             /* FX_TIMER */
} fx_t;

/* An escalation rung that fired: for the log line and the ESCALATE notice,
 * both sent after the commit that records it. */
typedef struct {
    uint64_t id, case_id;
    int level;
    msg_ladder_t ladder;
    char target[65];            /* the rung's target, e.g. "street" */
    char target_dept[33];       /* department of its notice ([targets]), "" for none */
    int64_t due, overdue_s;
    char lead[33], grid[65], street[65], community[65];
} fired_t;

/* An event for the PUB stream, published after the commit. */
typedef struct {
    char kind[24];              /* "received", "contacted", "returned", ... */
    int dept;                   /* -1 when the event is the case's, not one department's */
    uint64_t case_id, asg;
    msg_state_t state;
    char actor[80];
    char note[160];             /* the audit event's detail, cut to fit */
    int fired;                  /* `escalated`: index into apply_t.fired, else -1 */
} pub_t;

typedef struct {
    store_t *store;
    const config_t *cfg;
    int64_t now;                /* wall clock, unix ms */
    fx_t *fx;
    size_t nfx, capfx;
    pub_t *pubs;
    size_t npubs, cappubs;
    fired_t *fired;
    size_t nfired, capfired;
    char why[200];              /* reason of the last refusal */
    bool replayed;              /* the last outcome was a repeat, answered from memory */
} apply_t;

/* Start a pass: empty the effect and event lists, set the time. */
void apply_reset(apply_t *a, int64_t now);
/* Free the lists. */
void apply_free(apply_t *a);
/* The results below: MSG_OK with *reply filled; a 2xx refusal with a->why
 * (nothing was written); or ERR_STORE_FAILED/ERR_STORE_FULL, after which the
 * transaction must be rolled back. */
msg_err_t apply_submit(apply_t *a, const msg_t *in, msg_t *reply);
/* IMPORT: a historical case with its final state and times (migration from
 * an older system). Idempotent by (channel, external_id) like SUBMIT; a case
 * still open is routed and dispatched like a new one. */
msg_err_t apply_import(apply_t *a, const msg_t *in, msg_t *reply);
/* An outcome from a worker of department `dept` labelled `worker`. */
msg_err_t apply_outcome(apply_t *a, int dept, const char *worker, const msg_t *in, msg_t *reply);
/* FEEDBACK, CLOSE, REASSIGN or CANCEL from a client with role `scope`
 * (which also scopes its msg_id), recorded in the audit trail as done by
 * `actor`. */
msg_err_t apply_case_command(apply_t *a, const char *scope, const char *actor, const msg_t *in,
                             msg_t *reply);
/* The attempt a DISPATCH after `attempt` carries: one more, up to the
 * protocol's MSG_MAX_ATTEMPT, which every later one repeats. */
uint32_t apply_next_attempt(uint32_t attempt);
/* Record that assignment *asg was sent to `worker` (attempt, state, event);
 * *c is left holding its case, as the DISPATCH needs it. */
msg_err_t apply_dispatched(apply_t *a, store_assignment_t *asg, const char *worker,
                           store_case_t *c);
/* A timer hint for (case_id, ladder) came due: fire the ladder's next rung if
 * it is due (adding to a->fired), close the case if auto-close is due, or
 * re-arm the hint for later. Does nothing for a case the ladder no longer
 * concerns. */
msg_err_t apply_timer(apply_t *a, uint64_t case_id, int ladder);
/* The first timer hints of a case row (at start, and when dues change). */
msg_err_t apply_arm(apply_t *a, const store_case_t *c);

#endif
