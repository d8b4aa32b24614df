/*
 * notices.c - the ESCALATE notices on their way to supervision workers (see
 * notices.h).
 *
 * A plain array: a county has a handful of pending notices, and a
 * department with no live worker at most `max` of them (100,000 in the
 * broker). Beyond that the list stops growing rather than the broker's
 * memory; the database keeps every notice anyway, so nothing is lost, only
 * sent later. Which worker gets a notice, and the sending, are the broker's.
 */
#include "notices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct notices_t {
    notice_t *v;
    size_t n, cap, max;
    bool held;                  /* a pending notice is in the database only */
};

notices_t *notices_new(size_t max)
{
    notices_t *self = calloc(1, sizeof *self);
    if (self)
        self->max = max;
    return self;
}

void notices_destroy(notices_t **self_p)
{
    if (!*self_p)
        return;
    free((*self_p)->v);
    free(*self_p);
    *self_p = NULL;
}

size_t notices_count(const notices_t *self)
{
    return self->n;
}

bool notices_add(notices_t *self, const fired_t *f)
{
    if (self->n == self->max) {
        self->held = true;
        return false;
    }
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        if (cap > self->max)
            cap = self->max;
        notice_t *v = realloc(self->v, cap * sizeof *v);
        if (!v) {
            self->held = true;
            return false;
        }
        self->v = v, self->cap = cap;
    }
    self->v[self->n++] = (notice_t){.fired = *f};
    return true;
}

bool notices_held(const notices_t *self)
{
    return self->held;
}

void notices_hold(notices_t *self)
{
    self->held = true;
}

bool notices_reload_due(const notices_t *self)
{
    return self->held && self->n <= self->max / 2;
}

/* A pending notice as the database has it, onto the list. */
static void add_stored(void *arg, const store_notice_t *n)
{
    fired_t f = {.id = n->id, .case_id = n->case_id, .level = n->level, .ladder = n->ladder,
                 .due = n->due_at, .overdue_s = n->overdue_s};
    snprintf(f.target, sizeof f.target, "%s", n->target);
    snprintf(f.target_dept, sizeof f.target_dept, "%s", n->notify);
    snprintf(f.lead, sizeof f.lead, "%s", n->lead);
    snprintf(f.grid, sizeof f.grid, "%s", n->grid);
    snprintf(f.street, sizeof f.street, "%s", n->street);
    snprintf(f.community, sizeof f.community, "%s", n->community);
    notices_add(arg, &f);
}

static int by_id(const void *a, const void *b)
{
    uint64_t x = ((const notice_t *)a)->fired.id, y = ((const notice_t *)b)->fired.id;
    return (x > y) - (x < y);
}

int notices_reload(notices_t *self, store_t *store)
{
    notices_t old = *self;
    if (old.n)      /* qsort and bsearch want a real array, even of none */
        qsort(old.v, old.n, sizeof *old.v, by_id);
    self->v = NULL, self->n = self->cap = 0, self->held = false;
    if (store_unnotified_escalations(store, add_stored, self) != 0) {
        free(self->v);
        *self = old;
        self->held = true;
        return -1;
    }
    /* the ones still listed keep their last send, so only the held ones
     * go out now */
    for (size_t i = 0; i < self->n && old.n; i++) {
        notice_t *was = bsearch(&self->v[i], old.v, old.n, sizeof *old.v, by_id);
        if (was)
            self->v[i].sent = was->sent, self->v[i].tries = was->tries;
    }
    free(old.v);
    return 0;
}

int notices_retarget(notices_t *self, store_t *store, const config_t *cfg)
{
    int rc = 0, moved = 0;
    bool began = false;
    for (size_t i = 0; i < self->n && rc == 0; i++) {
        fired_t *f = &self->v[i].fired;
        if (config_dept_find(cfg, f->target_dept) >= 0)
            continue;
        int dept = config_target_dept(cfg, f->target);
        if (dept < 0)
            continue;
        const char *id = cfg->depts[dept].id;
        if (!began && (rc = store_begin(store)) == 0)
            began = true;
        if (rc == 0 && (rc = store_escalation_retarget(store, f->id, id)) == 0)
            snprintf(f->target_dept, sizeof f->target_dept, "%s", id), moved++;
    }
    if (rc == 0 && (!began || store_commit(store) == 0))
        return moved;
    if (began)
        store_rollback(store);
    return -1;
}

size_t notices_stranded(const notices_t *self, const config_t *cfg)
{
    size_t n = 0;
    for (size_t i = 0; i < self->n; i++)
        n += config_dept_find(cfg, self->v[i].fired.target_dept) < 0;
    return n;
}

int notices_take(notices_t *self, uint64_t id, const char *dept)
{
    size_t i = 0;
    while (i < self->n && self->v[i].fired.id != id)
        i++;
    if (i == self->n)
        return 0;
    if (strcmp(self->v[i].fired.target_dept, dept) != 0)
        return -1;
    self->v[i] = self->v[--self->n];
    return 1;
}

notice_t *notices_next_due(notices_t *self, size_t *pos, int64_t now)
{
    for (; *pos < self->n; (*pos)++) {
        notice_t *n = &self->v[*pos];
        if (!n->sent || now - n->sent >= NOTICES_RESEND_MS) {
            (*pos)++;
            return n;
        }
    }
    return NULL;
}
