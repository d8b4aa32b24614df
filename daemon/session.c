/*
 * session.c - the table of worker sessions (see session.h).
 *
 * A county has tens of workers, not thousands, so a plain array searched
 * linearly is both the simplest and the fastest structure here.
 */
#include "session.h"

#include <stdlib.h>
#include <string.h>

struct sessions_t {
    session_t **v;
    size_t n, cap;
};

sessions_t *sessions_new(void)
{
    return calloc(1, sizeof(sessions_t));
}

void sessions_destroy(sessions_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sessions_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++)
        free(self->v[i]);
    free(self->v);
    free(self);
    *self_p = NULL;
}

session_t *sessions_find(sessions_t *self, const void *id, size_t len)
{
    for (size_t i = 0; i < self->n; i++)
        if (self->v[i]->idlen == len && memcmp(self->v[i]->id, id, len) == 0)
            return self->v[i];
    return NULL;
}

session_t *sessions_add(sessions_t *self, const void *id, size_t len)
{
    if (len > sizeof self->v[0]->id)
        return NULL;
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        session_t **v = realloc(self->v, cap * sizeof *v);
        if (!v)
            return NULL;
        self->v = v;
        self->cap = cap;
    }
    session_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    memcpy(s->id, id, len);
    s->idlen = len;
    s->dept = -1;
    self->v[self->n++] = s;
    return s;
}

void sessions_remove(sessions_t *self, session_t *s)
{
    for (size_t i = 0; i < self->n; i++)
        if (self->v[i] == s) {
            self->v[i] = self->v[--self->n];
            free(s);
            return;
        }
}

size_t sessions_count(const sessions_t *self)
{
    return self->n;
}

session_t *sessions_at(sessions_t *self, size_t i)
{
    return i < self->n ? self->v[i] : NULL;
}

session_t *sessions_best(sessions_t *self, int dept, int64_t after)
{
    session_t *best = NULL;
    for (size_t i = 0; i < self->n; i++) {
        session_t *s = self->v[i];
        if (s->dept != dept || s->inflight >= s->capacity || s->registered_at <= after)
            continue;
        if (!best || s->capacity - s->inflight > best->capacity - best->inflight)
            best = s;
    }
    return best;
}

size_t sessions_of_dept(const sessions_t *self, int dept)
{
    size_t n = 0;
    for (size_t i = 0; i < self->n; i++)
        n += self->v[i]->dept == dept;
    return n;
}
