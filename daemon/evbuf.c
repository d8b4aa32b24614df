/*
 * evbuf.c - the events in an array, their strings copied into one pool, so
 * that adding one allocates nothing.
 */
#include "evbuf.h"

#include <stdlib.h>
#include <string.h>

/* A full batch of the longest events the broker writes (a reason or note
 * cut to a few hundred bytes) fits; a longer one is written on its own. */
#define EVBUF_POOL (EVBUF_BATCH * 1024)

struct evbuf_t {
    store_event_t ev[EVBUF_BATCH];
    size_t n, used;             /* events held, pool bytes used */
    char pool[EVBUF_POOL];
};

evbuf_t *evbuf_new(void)
{
    return calloc(1, sizeof(evbuf_t));
}

void evbuf_destroy(evbuf_t **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

static size_t len0(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static const char *keep(evbuf_t *self, const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = self->pool + self->used;
    memcpy(d, s, n);
    self->used += n;
    return d;
}

int evbuf_add(evbuf_t *self, const store_event_t *e)
{
    size_t k = len0(e->kind), d = len0(e->department), a = len0(e->actor), t = len0(e->detail);
    if (self->n == EVBUF_BATCH || k + d + a + t > EVBUF_POOL - self->used)
        return -1;
    store_event_t *c = &self->ev[self->n++];
    *c = *e;
    c->kind = keep(self, e->kind, k);
    c->department = keep(self, e->department, d);
    c->actor = keep(self, e->actor, a);
    c->detail = keep(self, e->detail, t);
    return 0;
}

size_t evbuf_count(const evbuf_t *self)
{
    return self->n;
}

const store_event_t *evbuf_at(const evbuf_t *self, size_t i)
{
    return &self->ev[i];
}

void evbuf_clear(evbuf_t *self)
{
    self->n = self->used = 0;
}
