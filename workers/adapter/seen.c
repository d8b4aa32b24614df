/*
 * seen.c - rings of assignment ids (see seen.h). A linear search is
 * enough: it runs once per delivery, over a few thousand ids.
 */
#include "seen.h"

#include <stdlib.h>

typedef struct {
    uint64_t *ids;
    size_t n, next;
} ring_t;

struct seen_s {
    size_t cap;
    ring_t finished, open;      /* apart, so that finished ids never push out open ones */
};

seen_t *seen_new(size_t cap)
{
    seen_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    *s = (seen_t){.cap = cap, .finished.ids = calloc(cap, sizeof(uint64_t)),
                  .open.ids = calloc(cap, sizeof(uint64_t))};
    if (!s->finished.ids || !s->open.ids)
        seen_destroy(&s);
    return s;
}

void seen_destroy(seen_t **self)
{
    if (!*self)
        return;
    free((*self)->finished.ids);
    free((*self)->open.ids);
    free(*self);
    *self = NULL;
}

static bool ring_has(const ring_t *r, uint64_t id)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->ids[i] == id)
            return true;
    return false;
}

static void ring_add(ring_t *r, size_t cap, uint64_t id)
{
    r->ids[r->next] = id;
    r->next = (r->next + 1) % cap;
    if (r->n < cap)
        r->n++;
}

bool seen_has(const seen_t *self, uint64_t id)
{
    return ring_has(&self->finished, id) || ring_has(&self->open, id);
}

void seen_add(seen_t *self, uint64_t id)
{
    ring_add(&self->finished, self->cap, id);
}

void seen_keep(seen_t *self, uint64_t id)
{
    ring_add(&self->open, self->cap, id);
}
