/*
 * ratelimit.c - token buckets per peer (see ratelimit.h).
 */
#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>

#define ID_MAX 48               /* a Z85 key is 40, a routing id 5 unless a peer sets its own */
#define PROBES 8                /* slots looked at for a peer's bucket */
#define IDLE_MS 1000            /* a bucket idle this long is full: free to take */

typedef struct {
    uint8_t id[ID_MAX];
    size_t len;                 /* 0: never used */
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

/* The peer's bucket: its own, else one unused or idle (taken over, full),
 * else the first of its slots, shared, tokens kept, so that two peers
 * alternating on it cannot refill each other's bucket. */
static bucket_t *find(ratelimit_t *self, const uint8_t *id, size_t len, int64_t now_ms)
{
    size_t h = (size_t)hash(id, len);
    bucket_t *spare = NULL;
    for (size_t i = 0; i < PROBES; i++) {
        bucket_t *b = &self->v[(h + i) & self->mask];
        if (b->len == len && memcmp(b->id, id, len) == 0)
            return b;
        if (!spare && (b->len == 0 || now_ms - b->at >= IDLE_MS))
            spare = b;
    }
    if (spare) {
        spare->tokens = 1e300;                    /* full: capped at the refill */
        spare->at = now_ms;
    } else {
        spare = &self->v[h & self->mask];
    }
    memcpy(spare->id, id, len);
    spare->len = len;
    return spare;
}

bool ratelimit_allow(ratelimit_t *self, const void *id, size_t len, int64_t now_ms, int rate)
{
    if (len > ID_MAX)
        len = ID_MAX;           /* a longer id chosen by its peer may share a bucket */
    if (len == 0)
        return true;            /* not a peer ZeroMQ would deliver from */
    bucket_t *b = find(self, id, len, now_ms);
    b->tokens += (double)(now_ms - b->at) * rate / 1000.0;
    if (b->tokens > rate)
        b->tokens = rate;
    b->at = now_ms;
    if (b->tokens < 1)
        return false;
    b->tokens -= 1;
    return true;
}
