/*
 * rowcache.c - open addressing on the id (linear probing, at most half
 * full), with the used slots listed so that clearing and walking cost the
 * rows held, not the table's size.
 */
#include "rowcache.h"

#include <stdlib.h>
#include <string.h>

struct rowcache_t {
    size_t mask;                /* slots - 1; slots is a power of two */
    size_t size;                /* bytes per row */
    size_t max, n;              /* rows allowed, rows held */
    uint64_t *keys;             /* 0: free */
    unsigned char *rows;
    size_t *used;               /* the slots holding rows, in insertion order */
};

rowcache_t *rowcache_new(size_t rows, size_t size)
{
    rowcache_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    size_t slots = 16;
    while (slots < 2 * rows)
        slots *= 2;
    self->mask = slots - 1, self->size = size, self->max = rows;
    self->keys = calloc(slots, sizeof *self->keys);
    self->rows = malloc(slots * size);
    self->used = malloc(rows * sizeof *self->used);
    if (!self->keys || !self->rows || !self->used)
        rowcache_destroy(&self);
    return self;
}

void rowcache_destroy(rowcache_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->keys);
    free((*self_p)->rows);
    free((*self_p)->used);
    free(*self_p);
    *self_p = NULL;
}

/* The slot of id, or the free slot where it would go. */
static size_t slot_of(const rowcache_t *self, uint64_t id)
{
    size_t i = (size_t)(id * 0x9E3779B97F4A7C15ull) & self->mask;
    while (self->keys[i] && self->keys[i] != id)
        i = (i + 1) & self->mask;
    return i;
}

void *rowcache_get(rowcache_t *self, uint64_t id)
{
    size_t i = slot_of(self, id);
    return self->keys[i] ? self->rows + i * self->size : NULL;
}

int rowcache_put(rowcache_t *self, uint64_t id, const void *row)
{
    size_t i = slot_of(self, id);
    if (!self->keys[i]) {
        if (self->n == self->max || !id)
            return -1;
        self->keys[i] = id;
        self->used[self->n++] = i;
    }
    memcpy(self->rows + i * self->size, row, self->size);
    return 0;
}

size_t rowcache_count(const rowcache_t *self)
{
    return self->n;
}

void *rowcache_at(rowcache_t *self, size_t i)
{
    return self->rows + self->used[i] * self->size;
}

void rowcache_clear(rowcache_t *self)
{
    for (size_t i = 0; i < self->n; i++)
        self->keys[self->used[i]] = 0;
    self->n = 0;
}
