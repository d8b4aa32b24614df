/*
 * dispatch.c - waiting queues and holder bindings (see dispatch.h).
 *
 * Queues are growable rings of ids; bindings are an open-addressing hash from
 * assignment id to holder, with backward-shift deletion so that lookups never
 * wade through tombstones however long the broker runs.
 */
#include "dispatch.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t *v;
    int64_t *since;             /* orphan queues only */
    size_t head, n, cap;
} ring_t;

typedef struct {
    uint64_t key;               /* 0 = empty slot (ids start at 1) */
    session_t *holder;
    bool accepted;
    int64_t at;                 /* held since (dispatch_bind) */
} slot_t;

struct dispatch_t {
    size_t ndepts;
    ring_t *ready, *orphans;
    slot_t *slots;
    size_t nslots, nheld;       /* nslots is a power of two */
    bool lost;                  /* an assignment could not be queued (dispatch_lost) */
};

/* ---- rings ----------------------------------------------------------- */

static int ring_grow(ring_t *r, bool with_since)
{
    size_t cap = r->cap ? r->cap * 2 : 64;
    uint64_t *v = malloc(cap * sizeof *v);
    int64_t *since = with_since ? malloc(cap * sizeof *since) : NULL;
    if (!v || (with_since && !since)) {
        free(v);
        free(since);
        return -1;
    }
    for (size_t i = 0; i < r->n; i++) {
        v[i] = r->v[(r->head + i) % r->cap];
        if (since)
            since[i] = r->since[(r->head + i) % r->cap];
    }
    free(r->v);
    free(r->since);
    r->v = v, r->since = since, r->cap = cap, r->head = 0;
    return 0;
}

static int ring_push(ring_t *r, uint64_t x, int64_t since, bool front, bool with_since)
{
    if (r->n == r->cap && ring_grow(r, with_since))
        return -1;
    size_t at;
    if (front) {
        r->head = (r->head + r->cap - 1) % r->cap;
        at = r->head;
    } else {
        at = (r->head + r->n) % r->cap;
    }
    r->v[at] = x;
    if (with_since)
        r->since[at] = since;
    r->n++;
    return 0;
}

/* Insert keeping the ring in order of `since`: after the equal ones, or
 * before them with `first`. Deaths are not noticed in the order the holders
 * fell silent (a DISCONNECT now, a liveness timeout for an older silence
 * later), and dispatch_take looks only at the head. Nearly always the new
 * one goes last. */
static int ring_insert_sorted(ring_t *r, uint64_t x, int64_t since, bool first)
{
    if (r->n == r->cap && ring_grow(r, true))
        return -1;
    size_t i = r->n;
    for (; i > 0; i--) {
        int64_t prev = r->since[(r->head + i - 1) % r->cap];
        if (prev < since || (prev == since && !first))
            break;
        size_t from = (r->head + i - 1) % r->cap, to = (r->head + i) % r->cap;
        r->v[to] = r->v[from];
        r->since[to] = r->since[from];
    }
    size_t at = (r->head + i) % r->cap;
    r->v[at] = x;
    r->since[at] = since;
    r->n++;
    return 0;
}

static uint64_t ring_pop(ring_t *r)
{
    uint64_t x = r->v[r->head];
    r->head = (r->head + 1) % r->cap;
    r->n--;
    return x;
}

static void ring_free(ring_t *r)
{
    free(r->v);
    free(r->since);
}

/* ---- lifecycle ------------------------------------------------------- */

dispatch_t *dispatch_new(size_t ndepts)
{
    dispatch_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ndepts = ndepts;
    self->ready = calloc(ndepts ? ndepts : 1, sizeof(ring_t));
    self->orphans = calloc(ndepts ? ndepts : 1, sizeof(ring_t));
    self->nslots = 1024;
    self->slots = calloc(self->nslots, sizeof(slot_t));
    if (!self->ready || !self->orphans || !self->slots) {
        dispatch_destroy(&self);
        return NULL;
    }
    return self;
}

void dispatch_destroy(dispatch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dispatch_t *self = *self_p;
    for (size_t i = 0; self->ready && self->orphans && i < self->ndepts; i++) {
        ring_free(&self->ready[i]);
        ring_free(&self->orphans[i]);
    }
    free(self->ready);
    free(self->orphans);
    free(self->slots);
    free(self);
    *self_p = NULL;
}

/* ---- queues ---------------------------------------------------------- */

static bool dept_ok(const dispatch_t *self, int dept)
{
    return dept >= 0 && (size_t)dept < self->ndepts;
}

/* rc of a queue insert; a failed one leaves an open assignment in no queue,
 * which only a rebuild from the database finds again */
static int queued(dispatch_t *self, int rc)
{
    if (rc != 0)
        self->lost = true;
    return rc;
}

int dispatch_wait(dispatch_t *self, int dept, uint64_t asg, bool front)
{
    if (!dept_ok(self, dept))
        return queued(self, -1);
    return queued(self, ring_push(&self->ready[dept], asg, 0, front, false));
}

int dispatch_orphan(dispatch_t *self, int dept, uint64_t asg, int64_t since)
{
    if (!dept_ok(self, dept))
        return queued(self, -1);
    return queued(self, ring_insert_sorted(&self->orphans[dept], asg, since, false));
}

bool dispatch_lost(const dispatch_t *self)
{
    return self->lost;
}

bool dispatch_take(dispatch_t *self, int dept, int64_t registered_at, dispatch_item_t *item)
{
    if (!dept_ok(self, dept))
        return false;
    ring_t *o = &self->orphans[dept];
    /* orphans are kept in order of death, so if the first is too recent
     * for this worker, all of them are */
    if (o->n && o->since[o->head] < registered_at) {
        *item = (dispatch_item_t){.orphan = true, .since = o->since[o->head]};
        item->asg = ring_pop(o);
        return true;
    }
    if (self->ready[dept].n) {
        *item = (dispatch_item_t){.asg = ring_pop(&self->ready[dept])};
        return true;
    }
    return false;
}

int dispatch_putback(dispatch_t *self, int dept, const dispatch_item_t *item)
{
    if (!dept_ok(self, dept))
        return queued(self, -1);
    return item->orphan
        ? queued(self, ring_insert_sorted(&self->orphans[dept], item->asg, item->since, true))
        : dispatch_wait(self, dept, item->asg, true);
}

bool dispatch_orphan_since(const dispatch_t *self, int dept, int64_t *since)
{
    if (!dept_ok(self, dept) || self->orphans[dept].n == 0)
        return false;
    *since = self->orphans[dept].since[self->orphans[dept].head];
    return true;
}

int dispatch_orphan_cmp(const void *a, const void *b)
{
    uint64_t x = ((const dispatch_orphan_t *)a)->asg, y = ((const dispatch_orphan_t *)b)->asg;
    return (x > y) - (x < y);
}

long dispatch_orphans(const dispatch_t *self, dispatch_orphan_t **out)
{
    size_t n = 0, k = 0;
    for (size_t d = 0; d < self->ndepts; d++)
        n += self->orphans[d].n;
    if (!(*out = malloc((n ? n : 1) * sizeof **out)))
        return -1;
    for (size_t d = 0; d < self->ndepts; d++) {
        const ring_t *r = &self->orphans[d];
        for (size_t i = 0; i < r->n; i++) {
            size_t at = (r->head + i) % r->cap;
            (*out)[k++] = (dispatch_orphan_t){.asg = r->v[at], .since = r->since[at]};
        }
    }
    qsort(*out, n, sizeof **out, dispatch_orphan_cmp);
    return (long)n;
}

size_t dispatch_waiting(const dispatch_t *self, int dept)
{
    return dept_ok(self, dept) ? self->ready[dept].n + self->orphans[dept].n : 0;
}

size_t dispatch_waiting_total(const dispatch_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->ndepts; i++)
        n += self->ready[i].n + self->orphans[i].n;
    return n;
}

size_t dispatch_held(const dispatch_t *self)
{
    return self->nheld;
}

/* ---- bindings -------------------------------------------------------- */

static size_t slot_of(const dispatch_t *self, uint64_t key)
{
    uint64_t h = key * UINT64_C(0x9E3779B97F4A7C15);    /* Fibonacci hashing */
    return (size_t)(h >> 20) & (self->nslots - 1);
}

static slot_t *find(const dispatch_t *self, uint64_t key)
{
    for (size_t i = slot_of(self, key);; i = (i + 1) & (self->nslots - 1)) {
        if (self->slots[i].key == key)
            return &self->slots[i];
        if (self->slots[i].key == 0)
            return NULL;
    }
}

static void insert(dispatch_t *self, slot_t in)
{
    size_t i = slot_of(self, in.key);
    while (self->slots[i].key != 0 && self->slots[i].key != in.key)
        i = (i + 1) & (self->nslots - 1);
    if (self->slots[i].key == 0)
        self->nheld++;
    self->slots[i] = in;
}

static int grow_slots(dispatch_t *self)
{
    slot_t *old = self->slots;
    size_t n = self->nslots;
    slot_t *fresh = calloc(n * 2, sizeof *fresh);
    if (!fresh)
        return -1;
    self->slots = fresh;
    self->nslots = n * 2;
    self->nheld = 0;
    for (size_t i = 0; i < n; i++)
        if (old[i].key)
            insert(self, old[i]);
    free(old);
    return 0;
}

/* Delete slot i, shifting later members of its probe run back into place. */
static void erase(dispatch_t *self, size_t i)
{
    size_t mask = self->nslots - 1;
    for (size_t j = (i + 1) & mask; self->slots[j].key; j = (j + 1) & mask) {
        size_t home = slot_of(self, self->slots[j].key);
        /* move j back to i when its home is not cyclically within (i, j] */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            self->slots[i] = self->slots[j];
            i = j;
        }
    }
    self->slots[i] = (slot_t){0};
    self->nheld--;
}

int dispatch_bind(dispatch_t *self, uint64_t asg, session_t *s, int64_t at)
{
    if ((self->nheld + 1) * 4 > self->nslots * 3 && grow_slots(self))
        return -1;
    slot_t *old = find(self, asg);
    if (old && old->holder)
        old->holder->inflight--;
    insert(self, (slot_t){asg, s, false, at});
    s->inflight++;
    return 0;
}

session_t *dispatch_unbind(dispatch_t *self, uint64_t asg)
{
    slot_t *sl = find(self, asg);
    if (!sl)
        return NULL;
    session_t *s = sl->holder;
    if (s && s->inflight)
        s->inflight--;
    erase(self, (size_t)(sl - self->slots));
    return s;
}

int64_t dispatch_bound_at(const dispatch_t *self, uint64_t asg)
{
    slot_t *sl = find(self, asg);
    return sl ? sl->at : 0;
}

session_t *dispatch_holder(const dispatch_t *self, uint64_t asg)
{
    slot_t *sl = find(self, asg);
    return sl ? sl->holder : NULL;
}

bool dispatch_mark_accepted(dispatch_t *self, uint64_t asg)
{
    slot_t *sl = find(self, asg);
    if (!sl || sl->accepted)
        return false;
    sl->accepted = true;
    return true;
}

void dispatch_unmark_accepted(dispatch_t *self, uint64_t asg)
{
    slot_t *sl = find(self, asg);
    if (sl)
        sl->accepted = false;
}

void dispatch_census(const dispatch_t *self, sessions_t *sessions)
{
    for (size_t i = 0; i < sessions_count(sessions); i++)
        sessions_at(sessions, i)->unaccepted = 0;
    for (size_t i = 0; i < self->nslots; i++) {
        const slot_t *sl = &self->slots[i];
        session_t *s = sl->holder;
        if (!sl->key || !s || sl->accepted)
            continue;
        if (!s->unaccepted++ || sl->at < s->oldest_at)
            s->oldest_at = sl->at, s->oldest_asg = sl->key;
    }
}

/* Requeue up to *cap of the assignments s holds (fewer, and *cap lowered,
 * when memory is short); how many there were. */
static size_t release_batch(dispatch_t *self, session_t *s, int64_t now, size_t *cap)
{
    /* Collect first, then erase: erasing shifts entries, and across the
     * wrap-around a shifted entry could land behind a running scan. */
    size_t n = 0;
    slot_t one, *held = malloc(*cap * sizeof *held);
    if (!held)                      /* out of memory: one at a time, rescanning */
        held = &one, *cap = 1;
    for (size_t i = 0; i < self->nslots && n < *cap; i++)
        if (self->slots[i].key && self->slots[i].holder == s)
            held[n++] = self->slots[i];
    for (size_t k = 0; k < n; k++) {
        erase(self, (size_t)(find(self, held[k].key) - self->slots));
        if (held[k].accepted)
            dispatch_orphan(self, s->dept, held[k].key, now);
        else
            dispatch_wait(self, s->dept, held[k].key, true);
    }
    if (held != &one)
        free(held);
    return n;
}

size_t dispatch_release(dispatch_t *self, session_t *s, int64_t now)
{
    /* s->inflight sizes the first batch; a full batch scans again rather
     * than trust that count, so no binding outlives its session */
    size_t total = 0, first = (size_t)s->inflight + 1, cap, n;
    do {
        cap = total ? 64 : first;
        n = release_batch(self, s, now, &cap);
        total += n;
    } while (n == cap);             /* fewer than it could take: that was all */
    s->inflight = 0;
    return total;
}
