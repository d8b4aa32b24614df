/*
 * delivery.c - deliveries from the broker become jobs (see delivery.h). The
 * broker delivers again after a reconnect, and resends a notice until it is
 * acknowledged: a copy must not run the command twice.
 */
#include "delivery.h"
#include "input.h"

#include <inttypes.h>
#include <stdio.h>

static job_t *find_job(const adapter_t *ad, job_kind_t kind, uint64_t id)
{
    for (job_t *j = ad->jobs; j; j = j->next)
        if (j->kind == kind && j->id == id)
            return j;
    return NULL;
}

/* The ids of a delivery that has no job, logged as its job's would be. */
static void log_delivery_ids(wlog_rec_t *r, const adapter_t *ad, job_kind_t kind, uint64_t id,
                             uint64_t case_id)
{
    job_t probe = {.kind = kind, .id = id, .case_id = case_id, .department = ad->cfg->department};
    job_log_ids(r, &probe);
}

/* True when the delivery must not start a job: stopping, or a copy. */
static bool refuse_delivery(const adapter_t *ad, job_kind_t kind, uint64_t id,
                            uint64_t case_id, uint32_t attempt)
{
    const char *why = ad->stopping ? "stopping: left with the broker"
                    : find_job(ad, kind, id) ? "duplicate: already running or waiting"
                    : kind == JOB_ASSIGNMENT && seen_has(ad->seen, id)
                        ? "duplicate: already finished here, or left open with the department"
                    : NULL;
    if (!why)
        return false;
    wlog_rec_t r;
    wlog_begin(&r, LOG_INFO, kind == JOB_ASSIGNMENT ? "assignment.ignored" : "escalation.ignored");
    log_delivery_ids(&r, ad, kind, id, case_id);
    if (attempt)
        wlog_fmt(&r, "attempt", "%" PRIu32, attempt);
    wlog_str(&r, "reason", why);
    wlog_end(&r);
    return true;
}

static void append(adapter_t *ad, job_t *j)
{
    *ad->tail = j;
    ad->tail = &j->next;
}

static void log_taken(const job_t *j, const char *k1, const char *v1, const char *k2,
                      const char *v2)
{
    wlog_rec_t r;
    wlog_begin(&r, LOG_INFO,
               j->kind == JOB_ASSIGNMENT ? "assignment.received" : "escalation.received");
    job_log_ids(&r, j);
    wlog_str(&r, k1, v1);
    wlog_str(&r, k2, v2);
    wlog_end(&r);
}

/* An assignment with no job for it. The broker does not deliver it again
 * while this session lives (PROTOCOL.md 8.4), and the library cannot release
 * it: kept, it would hold a slot of --capacity, untouched, until a restart.
 * Returned, as after a last failed run, it reaches the manual dispatch
 * centre. */
static void give_back_unrun(adapter_t *ad, const mq_assignment_t *a)
{
    static const char note[] = "minqing-worker: out of memory: the command could not run";
    bool sent = mq_worker_returned(ad->w, a->assignment_id, RETURN_OTHER, note) == 0;
    wlog_rec_t r;
    wlog_begin(&r, LOG_ERR, sent ? "assignment.returned" : "assignment.stuck");
    log_delivery_ids(&r, ad, JOB_ASSIGNMENT, a->assignment_id, a->case_id);
    wlog_str(&r, "reason", sent ? note : mq_strerror());
    wlog_end(&r);
    if (sent)       /* a copy delivered before the broker has it must not run */
        seen_add(ad->seen, a->assignment_id);
}

static void take_assignment(adapter_t *ad, const mq_assignment_t *a)
{
    if (refuse_delivery(ad, JOB_ASSIGNMENT, a->assignment_id, a->case_id, a->attempt))
        return;
    job_t *j = job_new(JOB_ASSIGNMENT, a->assignment_id, a->case_id, ad->cfg->department,
                       input_assignment(a));
    if (!j) {
        give_back_unrun(ad, a);
        return;
    }
    append(ad, j);
    job_add_var(j, "MINQING_ATTEMPT", "%" PRIu32, a->attempt);
    job_add_var(j, "MINQING_CONTACT_DUE", "%" PRId64, a->contact_due);
    char attempt[16];
    snprintf(attempt, sizeof attempt, "%" PRIu32, a->attempt);
    log_taken(j, "role", a->role < ROLE_COUNT && a->role ? msg_role_names[a->role] : "?",
              "attempt", attempt);
}

/* The broker resends an unacknowledged notice every 5 s; released, its next
 * copy runs the command again instead of being taken for a copy of a notice
 * already being handled. */
bool delivery_release(adapter_t *ad, uint64_t escalation_id)
{
    mq_escalation_t e = {.escalation_id = escalation_id};
    return mq_worker_release_escalation(ad->w, &e) == 0;
}

static void take_escalation(adapter_t *ad, const mq_escalation_t *e)
{
    if (refuse_delivery(ad, JOB_ESCALATION, e->escalation_id, e->case_id, 0))
        return;
    job_t *j = job_new(JOB_ESCALATION, e->escalation_id, e->case_id, ad->cfg->department,
                       input_escalation(e));
    if (!j) {
        delivery_release(ad, e->escalation_id);
        wlog_say(LOG_ERR, "escalation.dropped", "reason",
                 "out of memory: not acknowledged, the broker sends it again");
        return;
    }
    append(ad, j);
    job_add_var(j, "MINQING_LEVEL", "%" PRIu32, e->level);
    char level[16];
    snprintf(level, sizeof level, "%" PRIu32, e->level);
    log_taken(j, "level", level, "ladder",
              e->ladder < LADDER_COUNT && e->ladder ? msg_ladder_names[e->ladder] : "?");
}

void delivery_note_refusals(adapter_t *ad)
{
    unsigned refused = mq_worker_refused(ad->w);
    if (refused == ad->refused)
        return;
    wlog_rec_t r;
    wlog_begin(&r, LOG_WARNING, "outcome.refused");
    wlog_fmt(&r, "count", "%u", refused - ad->refused);
    wlog_str(&r, "reason", mq_strerror());
    wlog_end(&r);
    ad->refused = refused;
}

int delivery_take(adapter_t *ad)
{
    mq_assignment_t a;
    mq_escalation_t e;
    int ev;
    while ((ev = mq_worker_next(ad->w, &a, &e, 0)) > 0) {
        if (ev == MQ_ASSIGNMENT)
            take_assignment(ad, &a);
        else
            take_escalation(ad, &e);
    }
    delivery_note_refusals(ad);
    return ev < 0 ? -1 : 0;
}
