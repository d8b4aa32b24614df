/*
 * ratelimit.c - token buckets per connection (see ratelimit.h).
 */
#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>

#define ID_MAX 32               /* routing ids are 5 bytes unless a peer sets its own */

typedef struct {
    uint8_t id[ID_MAX];
    size_t len;
    double tokens;
    int64_t at;                 /* ms of the last refill */
} bucket_t;

struct ratelimit_t {
    bucket_t *v;
    size_t mask;
};

ratelimit_t *ratelimit_new(size_t slots)
{
    ratelimit_t *self = calloc(1, sizeof *self);
    if (!self || !(self->v = calloc(slots, sizeof *self->v))) {
        free(self);
        return NULL;
    }
    self->mask = slots - 1;
    return self;
}

void ratelimit_destroy(ratelimit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->v);
    free(*self_p);
    *self_p = NULL;
}

static uint64_t hash(const uint8_t *p, size_t len)
{
    uint64_t h = 1469598103934665603ULL;          /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

bool ratelimit_allow(ratelimit_t *self, const void *id, size_t len, int64_t now_ms, int rate)
{
    if (len > ID_MAX)
        len = ID_MAX;
    bucket_t *b = &self->v[hash(id, len) & self->mask];
    if (b->len != len || memcmp(b->id, id, len) != 0) {
        /* a new connection, or a collision: the slot changes hands but keeps
         * its tokens, so that two connections sharing it cannot refill each
         * other's bucket (an idle slot refills below anyway) */
        memcpy(b->id, id, len);
        b->len = len;
    }
    b->tokens += (double)(now_ms - b->at) * rate / 1000.0;
    if (b->tokens > rate)
        b->tokens = rate;
    b->at = now_ms;
    if (b->tokens < 1)
        return false;
    b->tokens -= 1;
    return true;
}
