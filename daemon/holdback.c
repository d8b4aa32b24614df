/*
 * holdback.c - outcomes held back behind one that a failed pass answered 5xx
 * (see holdback.h). Both lists are empty while the store works, so the check
 * each outcome makes costs a comparison; the held list, kept sorted by
 * assignment, stays small even through a full disk (one entry per
 * assignment with an outcome in flight).
 */
#include "holdback.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t asg;
    int64_t until;              /* monotonic ms: the hold ends by itself then */
    char msg_id[65];            /* the outcome it waits for */
} hold_t;

struct holdback_t {
    hold_t *held;               /* sorted by asg */
    size_t nheld, capheld;
    hold_t *noted;              /* this pass's applied outcomes, in order */
    size_t nnoted, capnoted;
};

holdback_t *holdback_new(void)
{
    return calloc(1, sizeof(holdback_t));
}

void holdback_destroy(holdback_t **p)
{
    if (!*p)
        return;
    free((*p)->held);
    free((*p)->noted);
    free(*p);
    *p = NULL;
}

static int reserve(hold_t **v, size_t *cap, size_t n)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    hold_t *g = realloc(*v, c * sizeof *g);
    if (!g)
        return -1;
    *v = g, *cap = c;
    return 0;
}

static void fill(hold_t *h, uint64_t asg, const char *msg_id, int64_t until)
{
    size_t n = strnlen(msg_id, sizeof h->msg_id - 1);
    h->asg = asg, h->until = until;
    memcpy(h->msg_id, msg_id, n);
    h->msg_id[n] = '\0';
}

int holdback_note(holdback_t *self, uint64_t asg, const char *msg_id)
{
    if (reserve(&self->noted, &self->capnoted, self->nnoted))
        return -1;
    fill(&self->noted[self->nnoted++], asg, msg_id, 0);
    return 0;
}

void holdback_committed(holdback_t *self)
{
    self->nnoted = 0;
}

/* Index of asg in the held list, or where it would go (*found false). */
static size_t find(const holdback_t *self, uint64_t asg, bool *found)
{
    size_t lo = 0, hi = self->nheld;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->held[mid].asg < asg)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < self->nheld && self->held[lo].asg == asg;
    return lo;
}

static void drop(holdback_t *self, size_t i)
{
    memmove(&self->held[i], &self->held[i + 1], (self->nheld - i - 1) * sizeof *self->held);
    self->nheld--;
}

/* Drop the holds that ended by themselves: a worker that never resent. */
static void sweep(holdback_t *self, int64_t now_ms)
{
    size_t k = 0;
    for (size_t i = 0; i < self->nheld; i++)
        if (self->held[i].until > now_ms)
            self->held[k++] = self->held[i];
    self->nheld = k;
}

void holdback_hold(holdback_t *self, uint64_t asg, const char *msg_id, int64_t now_ms)
{
    sweep(self, now_ms);
    bool found;
    size_t i = find(self, asg, &found);
    if (found) {
        if (strcmp(self->held[i].msg_id, msg_id) == 0)
            self->held[i].until = now_ms + HOLDBACK_MS;     /* refused again: wait on */
        return;
    }
    if (reserve(&self->held, &self->capheld, self->nheld))
        return;                 /* out of memory: no guard for it, as before */
    memmove(&self->held[i + 1], &self->held[i], (self->nheld - i) * sizeof *self->held);
    self->nheld++;
    fill(&self->held[i], asg, msg_id, now_ms + HOLDBACK_MS);
}

void holdback_failed(holdback_t *self, int64_t now_ms)
{
    for (size_t i = 0; i < self->nnoted; i++)     /* in order: the first one stays */
        holdback_hold(self, self->noted[i].asg, self->noted[i].msg_id, now_ms);
    self->nnoted = 0;
}

bool holdback_admit(holdback_t *self, uint64_t asg, const char *msg_id, int64_t now_ms)
{
    if (self->nheld == 0)
        return true;
    bool found;
    size_t i = find(self, asg, &found);
    if (!found)
        return true;
    if (now_ms >= self->held[i].until || strcmp(self->held[i].msg_id, msg_id) == 0) {
        drop(self, i);
        return true;
    }
    return false;
}

size_t holdback_count(const holdback_t *self)
{
    return self->nheld;
}
