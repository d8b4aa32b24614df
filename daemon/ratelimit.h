/*
 * ratelimit.h - a token bucket per intake connection (by ZeroMQ routing id):
 * `rate` messages a second, with a burst of one second's worth. A client over
 * its rate gets ERROR 301 RATE_LIMITED, never a silent drop. The table has a
 * fixed size; connections whose ids share a slot share its bucket, so that
 * opening more connections cannot buy a higher rate.
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
/* Take one token for connection id at now_ms; false when it is over `rate`. */
bool ratelimit_allow(ratelimit_t *self, const void *id, size_t len, int64_t now_ms, int rate);

#endif
