/*
 * timers.c - a binary min-heap of deadline hints (see timers.h).
 */
#include "timers.h"

#include <stdlib.h>

struct timers_t {
    timers_entry_t *v;
    size_t n, cap;
};

timers_t *timers_new(void)
{
    return calloc(1, sizeof(timers_t));
}

void timers_destroy(timers_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->v);
    free(*self_p);
    *self_p = NULL;
}

static bool before(const timers_entry_t *a, const timers_entry_t *b)
{
    return a->due < b->due || (a->due == b->due && a->key < b->key);
}

int timers_push(timers_t *self, int64_t due, uint64_t case_id, int ladder)
{
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 1024;
        timers_entry_t *v = realloc(self->v, cap * sizeof *v);
        if (!v)
            return -1;
        self->v = v, self->cap = cap;
    }
    timers_entry_t e = {due, case_id << 2 | (uint64_t)(ladder & 3)};
    size_t i = self->n++;
    while (i > 0 && before(&e, &self->v[(i - 1) / 2])) {
        self->v[i] = self->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    self->v[i] = e;
    return 0;
}

bool timers_peek(const timers_t *self, timers_entry_t *e)
{
    if (!self->n)
        return false;
    *e = self->v[0];
    return true;
}

bool timers_pop(timers_t *self, timers_entry_t *e)
{
    if (!self->n)
        return false;
    *e = self->v[0];
    timers_entry_t last = self->v[--self->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= self->n)
            break;
        if (c + 1 < self->n && before(&self->v[c + 1], &self->v[c]))
            c++;
        if (!before(&self->v[c], &last))
            break;
        self->v[i] = self->v[c];
        i = c;
    }
    if (self->n)
        self->v[i] = last;
    return true;
}

size_t timers_count(const timers_t *self)
{
    return self->n;
}

size_t timers_bytes(const timers_t *self)
{
    return sizeof *self + self->cap * sizeof(timers_entry_t);
}

uint64_t timers_case(const timers_entry_t *e)
{
    return e->key >> 2;
}

int timers_ladder(const timers_entry_t *e)
{
    return (int)(e->key & 3);
}
