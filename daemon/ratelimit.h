/*
 * ratelimit.h - a token bucket per intake peer: `rate` messages a second,
 * with a burst of one second's worth. A client over its rate gets ERROR 301
 * RATE_LIMITED, never a silent drop. The broker names a peer by its CURVE
 * key where it has one, so that opening more connections with one key
 * cannot buy a higher rate, and by its routing id on ipc://.
 *
 * Each peer has its own bucket: the table is probed a few slots deep, and a
 * bucket idle for a second (full again, so as good as new) is taken over.
 * Only when more peers than that are active at once in one neighbourhood do
 * two share a bucket; sharing never resets it, so it buys no rate either.
 */
#ifndef MQ_RATELIMIT_H
#define MQ_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ratelimit_t ratelimit_t;

/* A table of `slots` buckets (a power of two); NULL when out of memory. */
ratelimit_t *ratelimit_new(size_t slots);
/* Free it; *self_p = NULL. */
void ratelimit_destroy(ratelimit_t **self_p);
/* Take one token for peer id (len bytes) at now_ms; false when it is over
 * `rate`. */
bool ratelimit_allow(ratelimit_t *self, const void *id, size_t len, int64_t now_ms, int rate);

#endif
