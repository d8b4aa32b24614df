/*
 * roundcache.h - the live assignments of a case's round, as one transaction
 * read them from the database. A worker sends a case's accepted, contacted
 * and resolved together, and each one asks which assignments decide the
 * case's state: the same query three times in a pass, a tenth of the
 * broker's time. The store keeps the first answer here until the rows it
 * came from change (an insert, the held rows written) or the transaction
 * ends, and lays its held rows over it as it does over the query's.
 */
#ifndef MQ_ROUNDCACHE_H
#define MQ_ROUNDCACHE_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

#define ROUNDCACHE_ROWS 4   /* a round with more (joint handling) is not kept */

typedef struct roundcache_t roundcache_t;

/* An empty cache of `slots` cases (a power of two); NULL when out of memory. */
roundcache_t *roundcache_new(size_t slots);
/* Free the cache; *self_p = NULL. */
void roundcache_destroy(roundcache_t **self_p);
/* The rows kept for this case and round, copied to out (room for max): how
 * many, or -1 when none are kept (or more than max). */
int roundcache_get(const roundcache_t *self, uint64_t case_id, int round, store_assignment_t *out,
                   int max);
/* Keep the n rows of this case and round, in place of what its slot held
 * (nothing is kept for more than ROUNDCACHE_ROWS). */
void roundcache_put(roundcache_t *self, uint64_t case_id, int round, const store_assignment_t *rows,
                    int n);
/* Forget what is kept for this case. */
void roundcache_forget(roundcache_t *self, uint64_t case_id);
/* Forget every case. */
void roundcache_clear(roundcache_t *self);

#endif
