/*
 * mq_omap.c - assignment_id -> newest queued outcome (see mq_omap.h).
 *
 * Open addressing with linear probing, at most half full, and backward-shift
 * deletion (no tombstones), so that a map that sees outcomes come and go for
 * months neither grows nor slows.
 */
#include "mq_omap.h"

#include <stdlib.h>

static size_t slot_of(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;   /* a 64-bit mix (MurmurHash3's finaliser) */
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

/* The slot holding key, or the free slot where it would go. */
static size_t find(const mq_omap_t *self, uint64_t key)
{
    size_t i = slot_of(key, self->cap);
    while (self->keys[i] && self->keys[i] != key)
        i = (i + 1) & (self->cap - 1);
    return i;
}

void *mq_omap_get(const mq_omap_t *self, uint64_t key)
{
    if (!self->cap || !key)
        return NULL;
    size_t i = find(self, key);
    return self->keys[i] ? self->vals[i] : NULL;
}

static int grow(mq_omap_t *self)
{
    size_t cap = self->cap ? self->cap * 2 : 64;
    mq_omap_t bigger = {calloc(cap, sizeof *bigger.keys), calloc(cap, sizeof *bigger.vals),
                        cap, 0};
    if (!bigger.keys || !bigger.vals) {
        mq_omap_free(&bigger);
        return -1;
    }
    for (size_t i = 0; i < self->cap; i++)
        if (self->keys[i]) {
            size_t j = find(&bigger, self->keys[i]);
            bigger.keys[j] = self->keys[i], bigger.vals[j] = self->vals[i], bigger.n++;
        }
    mq_omap_free(self);
    *self = bigger;
    return 0;
}

/* Empty slot i, moving back the entries after it that probed past it. */
static void remove_at(mq_omap_t *self, size_t i)
{
    size_t mask = self->cap - 1;
    for (size_t j = (i + 1) & mask; self->keys[j]; j = (j + 1) & mask) {
        size_t home = slot_of(self->keys[j], self->cap);
        if (((j - home) & mask) >= ((j - i) & mask)) {     /* its home is at or before i */
            self->keys[i] = self->keys[j], self->vals[i] = self->vals[j];
            i = j;
        }
    }
    self->keys[i] = 0, self->vals[i] = NULL;
    self->n--;
}

int mq_omap_put(mq_omap_t *self, uint64_t key, void *val)
{
    if (!key)
        return -1;
    if (!val) {
        if (self->cap) {
            size_t i = find(self, key);
            if (self->keys[i])
                remove_at(self, i);
        }
        return 0;
    }
    size_t i = self->cap ? find(self, key) : 0;
    if (!self->cap || !self->keys[i]) {     /* a new key: room first */
        if ((self->n + 1) * 2 > self->cap && grow(self))
            return -1;
        i = find(self, key);
        self->keys[i] = key, self->n++;
    }
    self->vals[i] = val;        /* an existing key's: never fails */
    return 0;
}

void mq_omap_free(mq_omap_t *self)
{
    free(self->keys);
    free(self->vals);
    *self = (mq_omap_t){0};
}
