/*
 * apply.c - requests turned into store writes (see apply.h).
 *
 * Every state change writes its audit event here, next to the change itself,
 * so no path can change a case without leaving a trace. Refusals are decided
 * before the first write, so a refused request changes nothing.
 */
#include "apply.h"
#include "deadline.h"
#include "escalation.h"
#include "fsm.h"
#include "route.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CASE_ASSIGNMENTS 256

/* ---- bookkeeping ----------------------------------------------------- */

void apply_reset(apply_t *a, int64_t now)
{
    a->now = now;
    a->nfx = 0;
    a->npubs = 0;
    a->nfired = 0;
    a->why[0] = '\0';
}

void apply_free(apply_t *a)
{
    free(a->fx);
    free(a->pubs);
    free(a->fired);
    a->fx = NULL, a->pubs = NULL, a->fired = NULL;
    a->nfx = a->capfx = a->npubs = a->cappubs = a->nfired = a->capfired = 0;
}

/* Grow a list; lists only grow, and are reused pass after pass. */
static void *grow(void *v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return v;
    size_t c = *cap ? *cap * 2 : 64;
    void *nv = realloc(v, c * size);
    if (nv)
        *cap = c;
    return nv;
}

static msg_err_t push_fx(apply_t *a, fx_kind_t kind, int dept, uint64_t asg)
{
    fx_t *v = grow(a->fx, &a->capfx, a->nfx, sizeof *v);
    if (!v)
        return ERR_STORE_FAILED;
    a->fx = v;
    a->fx[a->nfx++] = (fx_t){.kind = kind, .dept = dept, .asg = asg};
    return MSG_OK;
}

static msg_err_t push_timer(apply_t *a, uint64_t case_id, int ladder, int64_t at)
{
    msg_err_t rc = push_fx(a, FX_TIMER, -1, 0);
    if (rc == MSG_OK) {
        fx_t *fx = &a->fx[a->nfx - 1];
        fx->case_id = case_id, fx->ladder = ladder, fx->at = at;
    }
    return rc;
}

/* snprintf(dst, size, "%s", src) without its format parsing: ten events a
 * case pass here, and the formatting was a few % of the broker's CPU. */
static void copy_cut(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void push_pub(apply_t *a, const char *kind, int dept, uint64_t case_id, uint64_t asg,
                     msg_state_t state, const char *actor, const char *note)
{
    pub_t *v = grow(a->pubs, &a->cappubs, a->npubs, sizeof *v);
    if (!v)
        return;                 /* the event stream is best effort; the store is not */
    a->pubs = v;
    pub_t *p = &a->pubs[a->npubs++];
    copy_cut(p->kind, sizeof p->kind, kind);
    copy_cut(p->actor, sizeof p->actor, actor ? actor : "broker");
    utf8_cut(p->note, sizeof p->note, note ? note : "");
    p->dept = dept, p->case_id = case_id, p->asg = asg, p->state = state;
    p->fired = -1;
}

__attribute__((format(printf, 3, 4)))
static msg_err_t refuse(apply_t *a, msg_err_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->why, sizeof a->why, fmt, ap);
    va_end(ap);
    return code;
}

static msg_err_t store_failed(apply_t *a)
{
    snprintf(a->why, sizeof a->why, "store: %s", store_errmsg(a->store));
    return store_errcode(a->store);
}

static int dept_index(const apply_t *a, const char *id)
{
    return config_dept_find(a->cfg, id);
}

/* Event kind of a worker outcome: the state it names, in the past tense. */
static const char *outcome_kind(msg_cmd_t cmd)
{
    switch (cmd) {
    case MSG_ACCEPT: return "accepted";
    case MSG_CONTACTED: return "contacted";
    case MSG_PROGRESS: return "progress";
    case MSG_RESOLVED: return "resolved";
    case MSG_RETURNED: return "returned";
    default: return "outcome";
    }
}

/* Write an audit event and queue it for the event stream, with its detail
 * as the event's note when note_public. */
static msg_err_t record_event(apply_t *a, uint64_t case_id, uint64_t asg, const char *kind,
                              int dept, const char *actor, msg_state_t from, msg_state_t to,
                              const char *detail, bool note_public)
{
    store_event_t e = {
        .case_id = case_id, .assignment_id = asg, .at = a->now, .kind = kind,
        .department = dept >= 0 ? a->cfg->depts[dept].id : NULL, .actor = actor,
        .detail = detail, .from = from, .to = to,
    };
    if (store_event_add(a->store, &e))
        return store_failed(a);
    push_pub(a, kind, dept, case_id, asg, to, actor, note_public ? detail : NULL);
    return MSG_OK;
}

/* An event whose detail the broker wrote itself, so it may be published. */
static msg_err_t event(apply_t *a, uint64_t case_id, uint64_t asg, const char *kind,
                       int dept, const char *actor, msg_state_t from, msg_state_t to,
                       const char *detail)
{
    return record_event(a, case_id, asg, kind, dept, actor, from, to, detail, true);
}

/* ---- case helpers ---------------------------------------------------- */

static msg_err_t add_assignment(apply_t *a, const store_case_t *c, int dept, msg_role_t role,
                                const char *actor)
{
    store_assignment_t as = {
        .case_id = c->id, .role = role, .state = STATE_RECEIVED, .round = c->redo_count,
        .created_at = a->now, .updated_at = a->now,
    };
    snprintf(as.department, sizeof as.department, "%s", a->cfg->depts[dept].id);
    if (store_assignment_insert(a->store, &as))
        return store_failed(a);
    msg_err_t rc = event(a, c->id, as.id, "routed", dept, actor, STATE_NONE, STATE_RECEIVED,
                         msg_role_names[role]);
    return rc ? rc : push_fx(a, FX_WAIT, dept, as.id);
}

/* Derive the case state from its current round of assignments, write the
 * case row if anything changed, and record a transition from `was`. */
static msg_err_t settle_case(apply_t *a, store_case_t *c, msg_state_t was, bool dirty,
                             const char *actor)
{
    store_assignment_t v[MAX_CASE_ASSIGNMENTS];
    msg_state_t states[MAX_CASE_ASSIGNMENTS];
    int n = store_round_assignments(a->store, c->id, c->redo_count, v, MAX_CASE_ASSIGNMENTS);
    if (n < 0)
        return store_failed(a);
    for (int i = 0; i < n; i++)
        states[i] = v[i].state;
    c->state = fsm_case_derive(c->state, states, (size_t)n);
    if (c->state == STATE_RESOLVED && was != STATE_RESOLVED) {
        c->resolved_at = a->now;
        msg_err_t rc = apply_arm(a, c);     /* auto-close, when configured */
        if (rc)
            return rc;
    }
    if (c->state == was && !dirty)
        return MSG_OK;
    if (store_case_update(a->store, c))
        return store_failed(a);
    if (c->state == was)
        return MSG_OK;
    return event(a, c->id, 0, msg_state_name(c->state), -1, actor, was, c->state, NULL);
}

static void ack(msg_t *reply, const char *re, uint64_t case_id, uint64_t asg, msg_state_t st)
{
    msg_reset(reply, MSG_ACK);
    reply->re = re;
    MSG_SET(reply, MF_RE);
    reply->case_id = case_id;
    MSG_SET(reply, MF_CASE_ID);
    if (asg) {
        reply->assignment_id = asg;
        MSG_SET(reply, MF_ASSIGNMENT_ID);
    }
    if (st != STATE_NONE) {
        reply->state = st;
        MSG_SET(reply, MF_STATE);
    }
}

/* A message seen before: answer as the first time, apply nothing. */
static int replay(apply_t *a, const char *scope, const msg_t *in, msg_t *reply, msg_err_t *rc)
{
    store_applied_t prev;
    int found = store_applied_find(a->store, scope, in->msg_id, &prev);
    if (found < 0)
        *rc = store_failed(a);
    else if (found == 1 && prev.cmd != in->cmd)
        *rc = refuse(a, ERR_INVALID_VALUE, "msg_id %s was already used for another command (%s)",
                     in->msg_id, msg_cmd_name(prev.cmd));
    else if (found == 1) {
        ack(reply, in->msg_id, prev.case_id, prev.assignment_id, prev.state);
        *rc = MSG_OK;
    }
    return found;
}

/* ---- SUBMIT and IMPORT ----------------------------------------------- */

/* The idempotency check both share: 1 when (channel, external_id) is known
 * (the reply is filled and nothing more is to be done), 0 when the case is
 * new, or a store error. A resend of the same request gets the first answer;
 * another report of the same case learns it is a duplicate. */
static int known_case(apply_t *a, const msg_t *in, msg_t *reply, msg_err_t *rc)
{
    uint64_t id = 0;
    char first_msg_id[65];
    int found = store_case_lookup(a->store, in->kase.channel, in->kase.external_id, &id,
                                  first_msg_id);
    *rc = found < 0 ? store_failed(a) : MSG_OK;
    msg_reset(reply, MSG_SUBMIT_OK);
    reply->re = in->msg_id;
    MSG_SET(reply, MF_RE), MSG_SET(reply, MF_CASE_ID), MSG_SET(reply, MF_DUPLICATE);
    reply->case_id = id;
    reply->duplicate = found == 1 && strcmp(first_msg_id, in->msg_id) != 0;
    return found;
}

/* Insert a new case row received at t with its lead, routed place and deadlines. */
static msg_err_t insert_case(apply_t *a, const msg_t *in, const route_t *r, int lead,
                             int64_t t, store_case_t *c)
{
    const msg_case_t *rec = &in->kase;
    c->priority = rec->priority;
    c->received_at = t;
    c->contact_due = deadline_due(a->cfg, LADDER_CONTACT, rec->service_code, rec->priority, t);
    c->resolve_due = deadline_due(a->cfg, LADDER_RESOLVE, rec->service_code, rec->priority, t);
    snprintf(c->lead, sizeof c->lead, "%s", a->cfg->depts[lead].id);
    snprintf(c->grid_code, sizeof c->grid_code, "%s", rec->grid_code);
    snprintf(c->street, sizeof c->street, "%s", r->street);
    snprintf(c->community, sizeof c->community, "%s", r->community);
    snprintf(c->service_code, sizeof c->service_code, "%s", rec->service_code);
    return store_case_insert(a->store, rec, in->msg_id, c) ? store_failed(a) : MSG_OK;
}

msg_err_t apply_submit(apply_t *a, const msg_t *in, msg_t *reply)
{
    msg_err_t rc;
    if (known_case(a, in, reply, &rc) != 0)
        return rc;
    route_t r;
    route_case(a->cfg, in->kase.service_code, in->kase.grid_code, &r);
    store_case_t c = {.state = STATE_RECEIVED};
    if ((rc = insert_case(a, in, &r, r.depts[0], a->now, &c)))
        return rc;
    char actor[48];
    snprintf(actor, sizeof actor, "intake:%s", in->kase.channel);
    rc = event(a, c.id, 0, "received", -1, actor, STATE_NONE, STATE_RECEIVED, NULL);
    for (int i = 0; rc == MSG_OK && i < r.ndepts; i++)
        rc = add_assignment(a, &c, r.depts[i], i == 0 ? ROLE_LEAD : ROLE_CO, "router");
    if (rc == MSG_OK)
        rc = apply_arm(a, &c);
    reply->case_id = c.id;
    return rc;
}

/* ---- IMPORT ---------------------------------------------------------- */

/* The assignment state that goes with an imported case's state. */
static msg_state_t imported_share(msg_state_t st)
{
    switch (st) {
    case STATE_RESOLVED: case STATE_CLOSED: return STATE_RESOLVED;
    case STATE_CANCELLED: return STATE_CANCELLED;
    case STATE_RETURNED: return STATE_RETURNED;
    default: return STATE_RECEIVED;         /* open: dispatched anew */
    }
}

/* Check the history of an imported case before anything is written: every
 * time from 2000-01-01 up to a day ahead (clocks differ); the time of the
 * state it is imported in given (a `contacted` case without contacted_at
 * would climb the contact ladder from received_at at once; a `resolved` or
 * `closed` one would count in no month's figures); and the times in the
 * order the loop makes them. An optional time 0 is absent. */
static msg_err_t check_history(apply_t *a, const msg_t *in)
{
    static const char *const names[] = {"received_at", "contacted_at", "resolved_at",
                                        "closed_at"};
    const int64_t first = INT64_C(946684800000), last = a->now + 86400000;
    const int64_t times[] = {in->received_at, in->contacted_at, in->resolved_at, in->closed_at};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
        if ((i == 0 || times[i]) && (times[i] < first || times[i] > last))
            return refuse(a, ERR_INVALID_VALUE, "%s is outside 2000-01-01 .. now", names[i]);
    size_t need = in->state == STATE_CONTACTED ? 1 : in->state == STATE_RESOLVED ? 2
                : in->state == STATE_CLOSED ? 3 : 0;
    if (need && !times[need])
        return refuse(a, ERR_MISSING_FIELD, "%s is required for a case imported as %s",
                      names[need], msg_state_name(in->state));
    for (size_t i = 1, prev = 0; i < sizeof times / sizeof times[0]; i++) {
        if (!times[i])
            continue;
        if (times[i] < times[prev])
            return refuse(a, ERR_INVALID_VALUE, "%s (%lld) is before %s (%lld)", names[i],
                          (long long)times[i], names[prev], (long long)times[prev]);
        prev = i;
    }
    return MSG_OK;
}

msg_err_t apply_import(apply_t *a, const msg_t *in, msg_t *reply)
{
    msg_err_t rc;
    if (known_case(a, in, reply, &rc) != 0)
        return rc;
    route_t r;
    route_case(a->cfg, in->kase.service_code, in->kase.grid_code, &r);
    int lead = MSG_HAS(in, MF_DEPARTMENT) ? dept_index(a, in->department) : r.depts[0];
    if (lead < 0)
        return refuse(a, ERR_UNKNOWN_DEPARTMENT, "no department %s", in->department);
    if ((rc = check_history(a, in)))
        return rc;
    store_case_t c = {
        .state = in->state, .contacted_at = in->contacted_at, .resolved_at = in->resolved_at,
        .closed_at = in->closed_at, .rating = in->rating,
    };
    if ((rc = insert_case(a, in, &r, lead, in->received_at, &c)))
        return rc;
    /* returned by its lead and not yet re-routed: as a live RETURNED, the
     * case goes to the manual dispatch centre, and a redo never back to the
     * department that said "not ours" */
    int manual = a->cfg->manual_dept;
    bool reroute = in->state == STATE_RETURNED && lead != manual;
    if (in->state == STATE_RETURNED)
        snprintf(c.lead, sizeof c.lead, "%s", a->cfg->depts[manual].id);
    if (store_case_update(a->store, &c))        /* the history: contacted, resolved, ... */
        return store_failed(a);
    store_assignment_t as = {
        .case_id = c.id, .role = ROLE_LEAD, .state = imported_share(in->state),
        .created_at = in->received_at, .updated_at = a->now,
    };
    snprintf(as.department, sizeof as.department, "%s", a->cfg->depts[lead].id);
    if (store_assignment_insert(a->store, &as))
        return store_failed(a);
    rc = event(a, c.id, as.id, "imported", lead, "import", STATE_NONE, in->state, NULL);
    if (!rc && as.state == STATE_RECEIVED)
        rc = push_fx(a, FX_WAIT, lead, as.id);
    if (!rc && reroute)
        rc = add_assignment(a, &c, manual, ROLE_LEAD, "router");
    if (!rc)
        rc = apply_arm(a, &c);
    reply->case_id = c.id;
    return rc;
}

/* ---- worker outcomes ------------------------------------------------- */

static const char *outcome_detail(const msg_t *in)
{
    switch (in->cmd) {
    case MSG_RESOLVED: return in->summary;
    case MSG_RETURNED: return msg_return_names[in->return_reason];
    default: return MSG_HAS(in, MF_NOTE) ? in->note : NULL;
    }
}

/* Check an outcome against the assignment before anything is written. */
static msg_err_t check_outcome(apply_t *a, int dept, const msg_t *in, store_assignment_t *as,
                               msg_state_t *next)
{
    int found = store_assignment_get(a->store, in->assignment_id, as);
    if (found < 0)
        return store_failed(a);
    if (!found)
        return refuse(a, ERR_UNKNOWN_ASSIGNMENT, "no assignment %llu",
                      (unsigned long long)in->assignment_id);
    if (strcmp(as->department, a->cfg->depts[dept].id) != 0)
        return refuse(a, ERR_NOT_YOUR_ASSIGNMENT, "assignment %llu belongs to %s, not %s",
                      (unsigned long long)as->id, as->department, a->cfg->depts[dept].id);
    if (fsm_outcome(in->cmd, as->state, next) != MSG_OK)
        return refuse(a, ERR_ILLEGAL_TRANSITION, "assignment %llu is %s: %s is not allowed",
                      (unsigned long long)as->id, msg_state_name(as->state),
                      msg_cmd_name(in->cmd));
    return MSG_OK;
}

/* Claim the outcome's msg_id: 0 new (recorded), 1 seen before, -1 error. */
static int record_outcome(apply_t *a, const char *scope, const char *worker,
                          const msg_t *in, const store_assignment_t *as)
{
    store_applied_t rec = {
        .scope = scope, .msg_id = in->msg_id, .cmd = in->cmd, .case_id = as->case_id,
        .assignment_id = as->id, .state = as->state, .at = a->now, .worker = worker,
        .result = in->cmd == MSG_RESOLVED ? in->result : NULL,
        .summary = in->cmd == MSG_RESOLVED ? in->summary : NULL,
        .reason = in->cmd == MSG_RETURNED ? msg_return_names[in->return_reason] : NULL,
        .note = MSG_HAS(in, MF_NOTE) ? in->note : NULL,
    };
    return store_applied_add(a->store, &rec);
}

/* Apply a legal outcome seen for the first time (and already recorded) to
 * its assignment, which moves from `from` to as.state, and to its case. */
static msg_err_t apply_new_outcome(apply_t *a, int dept, const char *worker, const msg_t *in,
                                   store_assignment_t as, msg_state_t from, msg_t *reply)
{
    store_case_t c;
    msg_err_t rc;
    if (store_case_get(a->store, as.case_id, &c) != 1)
        return store_failed(a);
    msg_state_t next = as.state, was = c.state;
    bool case_dirty = false;
    if (store_assignment_update(a->store, &as))
        return store_failed(a);
    /* a worker's words may name the resident: the audit trail keeps them,
     * the event stream (open to every monitor) gets only the return reason */
    rc = record_event(a, c.id, as.id, outcome_kind(in->cmd), dept, worker, from,
                      next == from ? STATE_NONE : next, outcome_detail(in),
                      in->cmd == MSG_RETURNED);
    if (!rc && (in->cmd == MSG_CONTACTED || in->cmd == MSG_RESOLVED) && !c.contacted_at)
        c.contacted_at = a->now, case_dirty = true;
    if (!rc && in->cmd == MSG_RETURNED) {
        if (as.role == ROLE_LEAD) {
            /* held until someone takes the work; and a redo must not go back
             * to the department that said "not ours" */
            c.state = STATE_RETURNED;
            snprintf(c.lead, sizeof c.lead, "%s", a->cfg->depts[a->cfg->manual_dept].id);
            case_dirty = true;
        }
        if (dept != a->cfg->manual_dept)
            rc = add_assignment(a, &c, a->cfg->manual_dept, as.role, "router");
    }
    if (!rc && (in->cmd == MSG_RESOLVED || in->cmd == MSG_RETURNED))
        rc = push_fx(a, FX_RELEASE, dept, as.id);
    if (!rc && fsm_assignment_taken_up(as.state))
        rc = push_fx(a, FX_ACCEPTED, dept, as.id);      /* PROGRESS takes over too */
    if (!rc)
        rc = settle_case(a, &c, was, case_dirty, worker);
    ack(reply, in->msg_id, c.id, as.id, as.state);
    return rc;
}

/* A new msg_id, the common case, costs no lookup: it is claimed (INSERT OR
 * IGNORE) once the outcome is known to be legal. Only a refused outcome or
 * a claim that finds its msg_id taken is looked up as a resend, which gets
 * the first answer and changes nothing. */
msg_err_t apply_outcome(apply_t *a, int dept, const char *worker, const msg_t *in, msg_t *reply)
{
    const char *scope = a->cfg->depts[dept].id;
    store_assignment_t as;
    msg_state_t next;
    a->replayed = false;
    msg_err_t rc = check_outcome(a, dept, in, &as, &next);
    if (rc == ERR_STORE_FAILED || rc == ERR_STORE_FULL)
        return rc;              /* not a refusal: the pass is lost, no replay */
    if (rc == MSG_OK) {
        msg_state_t from = as.state;
        as.state = next;
        snprintf(as.worker, sizeof as.worker, "%s", worker);
        as.updated_at = a->now;
        int seen = record_outcome(a, scope, worker, in, &as);
        if (seen < 0)
            return store_failed(a);
        if (!seen)
            return apply_new_outcome(a, dept, worker, in, as, from, reply);
    }
    msg_err_t again;
    a->replayed = replay(a, scope, in, reply, &again) != 0;
    return a->replayed ? again : rc;
}

/* ---- admin and intake commands on a case ----------------------------- */

/* Withdraw one open assignment (REASSIGN, CANCEL): it is cancelled, its
 * holder's credit freed, and the audit trail says so. */
static msg_err_t withdraw(apply_t *a, store_assignment_t *as, const char *actor)
{
    int d = dept_index(a, as->department);
    msg_state_t from = as->state;
    as->state = STATE_CANCELLED;
    as->updated_at = a->now;
    if (store_assignment_update(a->store, as))
        return store_failed(a);
    msg_err_t rc = event(a, as->case_id, as->id, "superseded", d, actor, from, STATE_CANCELLED, NULL);
    return rc ? rc : push_fx(a, FX_RELEASE, d, as->id);
}

/* The open assignments of the case's current round; -1 on a store error. */
static int open_assignments(apply_t *a, const store_case_t *c, store_assignment_t *v)
{
    int n = store_round_assignments(a->store, c->id, c->redo_count, v, MAX_CASE_ASSIGNMENTS), k = 0;
    for (int i = 0; i < n; i++)
        if (fsm_assignment_open(v[i].state))
            v[k++] = v[i];
    return n < 0 ? -1 : k;
}

static msg_err_t do_feedback(apply_t *a, store_case_t *c, const msg_t *in, const char *actor)
{
    c->rating = in->rating;
    msg_err_t rc = event(a, c->id, 0, "feedback", -1, actor, STATE_NONE, STATE_NONE,
                         msg_rating_names[in->rating]);
    if (rc || in->rating != RATING_UNSATISFIED)
        return rc;
    /* 重办: an unsatisfied resident reopens the case to its lead department,
     * or, when a reload removed it, to the manual dispatch centre, which then
     * leads the case: its escalations name a department that exists */
    int lead = dept_index(a, c->lead);
    if (lead < 0) {
        lead = a->cfg->manual_dept;
        snprintf(c->lead, sizeof c->lead, "%s", a->cfg->depts[lead].id);
    }
    if (store_round_keep(a->store, c))         /* the round the redo ends, for the figures */
        return store_failed(a);
    c->redo_count++;
    c->closed_at = c->contacted_at = 0;
    c->state = STATE_RECEIVED;
    /* a redo is a new round: new deadlines, ladders from the bottom */
    c->contact_due = deadline_due(a->cfg, LADDER_CONTACT, c->service_code, c->priority, a->now);
    c->resolve_due = deadline_due(a->cfg, LADDER_RESOLVE, c->service_code, c->priority, a->now);
    c->contact_level = c->resolve_level = 0;
    if ((rc = apply_arm(a, c)))
        return rc;
    rc = event(a, c->id, 0, "reopened", -1, actor, STATE_NONE, STATE_NONE, "redo");
    return rc ? rc : add_assignment(a, c, lead, ROLE_LEAD, actor);
}

/* REASSIGN moves one share of the work to dept, in the same role: the share
 * the manual dispatch centre holds (its lead share first), or else the lead
 * share wherever it is. Other shares are left alone. */
static msg_err_t do_reassign(apply_t *a, store_case_t *c, int dept, const char *actor)
{
    store_assignment_t v[MAX_CASE_ASSIGNMENTS], *pick = NULL;
    int n = open_assignments(a, c, v);
    if (n < 0)
        return store_failed(a);
    const char *manual = a->cfg->depts[a->cfg->manual_dept].id;
    for (int i = 0; i < n; i++)
        if (strcmp(v[i].department, manual) == 0 && (!pick || v[i].role == ROLE_LEAD))
            pick = &v[i];
    for (int i = 0; i < n && !pick; i++)
        if (v[i].role == ROLE_LEAD)
            pick = &v[i];
    msg_role_t role = pick ? pick->role : ROLE_LEAD;
    msg_err_t rc = pick ? withdraw(a, pick, actor) : MSG_OK;
    if (rc)
        return rc;
    if (role == ROLE_LEAD) {
        snprintf(c->lead, sizeof c->lead, "%s", a->cfg->depts[dept].id);
        c->state = STATE_RECEIVED;          /* leaves `returned` */
    }
    return add_assignment(a, c, dept, role, actor);
}

static msg_err_t do_cancel(apply_t *a, store_case_t *c, const char *actor)
{
    store_assignment_t v[MAX_CASE_ASSIGNMENTS];
    int n = open_assignments(a, c, v);
    if (n < 0)
        return store_failed(a);
    msg_err_t rc = MSG_OK;
    for (int i = 0; i < n && !rc; i++)
        rc = withdraw(a, &v[i], actor);
    c->state = STATE_CANCELLED;
    return rc;
}

msg_err_t apply_case_command(apply_t *a, const char *scope, const char *actor, const msg_t *in,
                             msg_t *reply)
{
    msg_err_t rc;
    if (replay(a, scope, in, reply, &rc) != 0)
        return rc;
    store_case_t c;
    int found = store_case_get(a->store, in->case_id, &c);
    if (found < 0)
        return store_failed(a);
    if (!found)
        return refuse(a, ERR_UNKNOWN_CASE, "no case %llu", (unsigned long long)in->case_id);
    /* the objects a command names before the state it finds (PROTOCOL.md 3.5) */
    int dept = in->cmd == MSG_REASSIGN ? dept_index(a, in->department) : -1;
    if (in->cmd == MSG_REASSIGN && dept < 0)
        return refuse(a, ERR_UNKNOWN_DEPARTMENT, "no department %s", in->department);
    if (fsm_case_command(in->cmd, c.state) != MSG_OK)
        return refuse(a, ERR_ILLEGAL_TRANSITION, "case %llu is %s: %s is not allowed",
                      (unsigned long long)c.id, msg_state_name(c.state), msg_cmd_name(in->cmd));
    msg_state_t was = c.state;
    switch (in->cmd) {
    case MSG_FEEDBACK: rc = do_feedback(a, &c, in, actor); break;
    case MSG_CLOSE:
        c.state = STATE_CLOSED, c.closed_at = a->now;
        rc = MSG_OK;
        break;
    case MSG_REASSIGN: rc = do_reassign(a, &c, dept, actor); break;
    case MSG_CANCEL: rc = do_cancel(a, &c, actor); break;
    default: return refuse(a, ERR_UNKNOWN_COMMAND, "not a case command");
    }
    if (!rc)
        rc = settle_case(a, &c, was, true, actor);
    store_applied_t rec = {
        .scope = scope, .msg_id = in->msg_id, .cmd = in->cmd, .case_id = c.id,
        .state = c.state, .at = a->now,
        .reason = in->cmd == MSG_FEEDBACK ? msg_rating_names[in->rating]
                : in->cmd == MSG_CANCEL ? msg_cancel_names[in->cancel_reason] : NULL,
        .note = MSG_HAS(in, MF_COMMENT) ? in->comment : NULL,
    };
    if (!rc && store_applied_add(a->store, &rec))
        rc = store_failed(a);
    ack(reply, in->msg_id, c.id, 0, c.state);
    return rc;
}

/* ---- dispatch -------------------------------------------------------- */

uint32_t apply_next_attempt(uint32_t attempt)
{
    return attempt < MSG_MAX_ATTEMPT ? attempt + 1 : MSG_MAX_ATTEMPT;
}

msg_err_t apply_dispatched(apply_t *a, store_assignment_t *as, const char *worker,
                           store_case_t *c)
{
    msg_state_t from = as->state;
    as->attempt = apply_next_attempt(as->attempt);
    snprintf(as->worker, sizeof as->worker, "%s", worker);
    as->updated_at = a->now;
    if (as->state == STATE_RECEIVED)
        as->state = STATE_DISPATCHED;
    if (store_assignment_update(a->store, as))
        return store_failed(a);
    char detail[32];
    snprintf(detail, sizeof detail, "attempt %u", as->attempt);
    int dept = dept_index(a, as->department);
    msg_err_t rc = event(a, as->case_id, as->id, "dispatched", dept, worker, from,
                         as->state == from ? STATE_NONE : as->state, detail);
    if (rc)
        return rc;
    if (store_case_get(a->store, as->case_id, c) != 1)
        return store_failed(a);
    return settle_case(a, c, c->state, false, "broker");
}

/* ---- deadlines and escalations --------------------------------------- */

/* Whether a ladder still runs for a case: contact made ends the contact
 * ladder, resolution ends the resolution ladder. */
static bool ladder_running(const store_case_t *c, int ladder)
{
    bool open = c->state != STATE_RESOLVED && c->state != STATE_CLOSED &&
                c->state != STATE_CANCELLED;
    if (ladder == LADDER_CONTACT)
        return open && !c->contacted_at && c->contact_due;
    return open && c->resolve_due;
}

static int *ladder_level(store_case_t *c, int ladder)
{
    return ladder == LADDER_CONTACT ? &c->contact_level : &c->resolve_level;
}

static int64_t ladder_due(const store_case_t *c, int ladder)
{
    return ladder == LADDER_CONTACT ? c->contact_due : c->resolve_due;
}

msg_err_t apply_arm(apply_t *a, const store_case_t *c)
{
    msg_err_t rc = MSG_OK;
    int level;
    int64_t at;
    for (int l = LADDER_CONTACT; l <= LADDER_RESOLVE && !rc; l++) {
        store_case_t tmp = *c;
        if (ladder_running(c, l) &&
            escalation_next(a->cfg, l, ladder_due(c, l), *ladder_level(&tmp, l), &level, &at))
            rc = push_timer(a, c->id, l, at);
    }
    if (!rc && c->state == STATE_RESOLVED && a->cfg->auto_close_ms > 0)
        rc = push_timer(a, c->id, TIMERS_CLOSE, c->resolved_at + a->cfg->auto_close_ms);
    return rc;
}

/* Whole seconds from the deadline to now, away from zero: the rung at the
 * deadline fires the millisecond after it, and is 1 s overdue, not 0, which
 * a reader takes for "not late" (PROTOCOL.md: positive past the deadline). */
static int64_t overdue_s(int64_t now, int64_t due)
{
    int64_t d = now - due;
    return d > 0 ? (d + 999) / 1000 : -((999 - d) / 1000);
}

/* Close a case resolved auto_close ago. It is closed as of the time it came
 * due, not of the pass that closes it: a case imported as resolved long ago
 * (or one whose close came due while the broker was stopped, or that a
 * reload shortening auto_close made due) counts as closed when the rule
 * closed it, not all in the month of the import. */
static msg_err_t auto_close(apply_t *a, store_case_t *c)
{
    if (c->state != STATE_RESOLVED || a->cfg->auto_close_ms <= 0)
        return MSG_OK;
    int64_t at = c->resolved_at + a->cfg->auto_close_ms;
    if (at > a->now)
        return push_timer(a, c->id, TIMERS_CLOSE, at);
    c->state = STATE_CLOSED;
    c->closed_at = at;
    return settle_case(a, c, STATE_RESOLVED, true, "broker:auto_close");
}

static msg_err_t record_fired(apply_t *a, store_case_t *c, int ladder, int level,
                              const config_level_t *rung, fired_t **out)
{
    int64_t due = ladder_due(c, ladder);
    store_escalation_t e = {
        .case_id = c->id, .round = c->redo_count, .level = level, .ladder = (msg_ladder_t)ladder,
        .target = rung->target, .department = c->lead, .due_at = due, .fired_at = a->now,
        .overdue_s = overdue_s(a->now, due),
        .notify = rung->dept >= 0 ? a->cfg->depts[rung->dept].id : NULL,
        .offset_ms = rung->offset_ms,
    };
    int added = store_escalation_add(a->store, &e);
    if (added < 0)
        return store_failed(a);
    *ladder_level(c, ladder) = level;
    if (store_case_update(a->store, c))
        return store_failed(a);
    *out = NULL;
    if (!added)
        return MSG_OK;              /* fired before: the row says so; nothing to tell */
    fired_t *v = grow(a->fired, &a->capfired, a->nfired, sizeof *v);
    if (!v)
        return ERR_STORE_FAILED;
    a->fired = v;
    fired_t *f = &a->fired[a->nfired++];
    *f = (fired_t){.id = e.id, .case_id = c->id, .level = level, .ladder = e.ladder,
                   .due = due, .overdue_s = e.overdue_s};
    snprintf(f->target, sizeof f->target, "%s", rung->target);
    snprintf(f->target_dept, sizeof f->target_dept, "%s",
             rung->dept >= 0 ? a->cfg->depts[rung->dept].id : "");
    snprintf(f->lead, sizeof f->lead, "%s", c->lead);
    snprintf(f->grid, sizeof f->grid, "%s", c->grid_code);
    snprintf(f->street, sizeof f->street, "%s", c->street);
    snprintf(f->community, sizeof f->community, "%s", c->community);
    *out = f;
    return MSG_OK;
}

msg_err_t apply_timer(apply_t *a, uint64_t case_id, int ladder)
{
    store_case_t c;
    int found = store_case_get(a->store, case_id, &c);
    if (found <= 0)
        return found < 0 ? store_failed(a) : MSG_OK;
    if (ladder == TIMERS_CLOSE)
        return auto_close(a, &c);
    int level;
    int64_t at;
    if (!ladder_running(&c, ladder) ||
        !escalation_next(a->cfg, ladder, ladder_due(&c, ladder), *ladder_level(&c, ladder),
                         &level, &at))
        return MSG_OK;
    /* a rung fires once its time has passed, not at it: a contact in that
     * very millisecond is on time (show and stats count done <= due as met),
     * and an escalation of a case the county's figures call met is a 督办
     * nobody can explain */
    if (at >= a->now)
        return push_timer(a, c.id, ladder, at + 1); /* an early or stale hint */
    const config_level_t *rung = escalation_level(a->cfg, ladder, level);
    fired_t *f = NULL;
    msg_err_t rc = record_fired(a, &c, ladder, level, rung, &f);
    if (rc)
        return rc;
    if (f) {
        char detail[160];
        snprintf(detail, sizeof detail, "%s L%d %s overdue %llds", msg_ladder_names[ladder], level,
                 rung->target, (long long)f->overdue_s);
        if ((rc = event(a, c.id, 0, "escalated", dept_index(a, c.lead), "broker:deadline",
                        STATE_NONE, STATE_NONE, detail)))
            return rc;
        pub_t *p = a->npubs ? &a->pubs[a->npubs - 1] : NULL;
        if (p && p->case_id == c.id && strcmp(p->kind, "escalated") == 0)
            p->fired = (int)(f - a->fired);     /* (unless the stream's list ran out of memory) */
    }
    if (escalation_next(a->cfg, ladder, ladder_due(&c, ladder), level, &level, &at))
        return push_timer(a, c.id, ladder, at);
    return MSG_OK;
}
