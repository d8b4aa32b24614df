/*
 * seen.c - a ring of finished assignment ids (see seen.h). A linear search
 * is enough: it runs once per delivery, over a few thousand ids.
 */
#include "seen.h"

#include <stdlib.h>

struct seen_s {
    uint64_t *ids;
    size_t cap, n, next;
};

seen_t *seen_new(size_t cap)
{
    seen_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    *s = (seen_t){.ids = calloc(cap, sizeof *s->ids), .cap = cap};
    if (!s->ids)
        seen_destroy(&s);
    return s;
}

void seen_destroy(seen_t **self)
{
    if (!*self)
        return;
    free((*self)->ids);
    free(*self);
    *self = NULL;
}

bool seen_has(const seen_t *self, uint64_t id)
{
    for (size_t i = 0; i < self->n; i++)
        if (self->ids[i] == id)
            return true;
    return false;
}

void seen_add(seen_t *self, uint64_t id)
{
    self->ids[self->next] = id;
    self->next = (self->next + 1) % self->cap;
    if (self->n < self->cap)
        self->n++;
}
