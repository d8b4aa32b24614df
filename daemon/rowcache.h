/*
 * rowcache.h - a small table of fixed-size rows keyed by a non-zero id,
 * filled during one transaction and emptied at its end. The store keeps the
 * case and assignment rows a transaction has changed here and writes each
 * one once, at commit, however many messages of the pass touched it.
 */
#ifndef MQ_ROWCACHE_H
#define MQ_ROWCACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct rowcache_t rowcache_t;

/* A cache of at most `rows` rows of `size` bytes each; NULL when out of memory. */
rowcache_t *rowcache_new(size_t rows, size_t size);
/* Free the cache; *self_p = NULL. */
void rowcache_destroy(rowcache_t **self_p);
/* The row with this id, or NULL. */
void *rowcache_get(rowcache_t *self, uint64_t id);
/* Store a copy of row under id (replacing it): 0, or -1 when the cache is full. */
int rowcache_put(rowcache_t *self, uint64_t id, const void *row);
/* How many rows it holds; rowcache_at(self, i) for i below that is one of them. */
size_t rowcache_count(const rowcache_t *self);
void *rowcache_at(rowcache_t *self, size_t i);
/* Forget every row. */
void rowcache_clear(rowcache_t *self);

#endif
