/*
 * roundcache.c - direct-mapped by case id: a pass touches a few dozen cases,
 * and a collision costs one query, as the cache's absence would.
 */
#include "roundcache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t case_id;           /* 0: empty */
    bool listed;                /* in used[] */
    int round, n;
    store_assignment_t rows[ROUNDCACHE_ROWS];
} slot_t;

struct roundcache_t {
    size_t mask;
    slot_t *slots;
    size_t *used;               /* the slots filled since the last clear */
    size_t nused;
};

roundcache_t *roundcache_new(size_t slots)
{
    roundcache_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->mask = slots - 1;
    self->slots = calloc(slots, sizeof *self->slots);
    self->used = calloc(slots, sizeof *self->used);
    if (!self->slots || !self->used)
        roundcache_destroy(&self);
    return self;
}

void roundcache_destroy(roundcache_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->slots);
    free((*self_p)->used);
    free(*self_p);
    *self_p = NULL;
}

int roundcache_get(const roundcache_t *self, uint64_t case_id, int round, store_assignment_t *out,
                   int max)
{
    const slot_t *s = &self->slots[case_id & self->mask];
    if (case_id == 0 || s->case_id != case_id || s->round != round || s->n > max)
        return -1;
    memcpy(out, s->rows, (size_t)s->n * sizeof *out);
    return s->n;
}

void roundcache_put(roundcache_t *self, uint64_t case_id, int round, const store_assignment_t *rows,
                    int n)
{
    size_t i = case_id & self->mask;
    slot_t *s = &self->slots[i];
    if (n < 0 || n > ROUNDCACHE_ROWS) {
        s->case_id = 0;
        return;
    }
    if (!s->listed)
        s->listed = true, self->used[self->nused++] = i;
    s->case_id = case_id, s->round = round, s->n = n;
    memcpy(s->rows, rows, (size_t)n * sizeof *rows);
}

void roundcache_forget(roundcache_t *self, uint64_t case_id)
{
    slot_t *s = &self->slots[case_id & self->mask];
    if (s->case_id == case_id)
        s->case_id = 0;
}

void roundcache_clear(roundcache_t *self)
{
    for (size_t i = 0; i < self->nused; i++) {
        slot_t *s = &self->slots[self->used[i]];
        s->case_id = 0, s->listed = false;
    }
    self->nused = 0;
}
