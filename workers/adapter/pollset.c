/*
 * pollset.c - the descriptors of one poll(2) and their owners (see
 * pollset.h). The storage only grows: the number of pipes is bounded by
 * --concurrency, and the loop rebuilds the set on every pass.
 */
#include "pollset.h"

#include <stdlib.h>

void pollset_clear(pollset_t *self)
{
    self->n = 0;
}

/* Both arrays, or neither, must grow: on a failure the one that grew is kept
 * (realloc moved it) and the capacity stays what both hold. */
static int grow(pollset_t *self)
{
    size_t cap = self->cap ? self->cap * 2 : 64;
    struct pollfd *fds = realloc(self->fds, cap * sizeof *fds);
    if (fds)
        self->fds = fds;
    void **owner = realloc(self->owner, cap * sizeof *owner);
    if (owner)
        self->owner = owner;
    if (!fds || !owner)
        return -1;
    self->cap = cap;
    return 0;
}

int pollset_watch(pollset_t *self, int fd, short events, void *owner)
{
    if (fd < 0)
        return 0;
    if (self->n == self->cap && grow(self))
        return -1;
    self->fds[self->n] = (struct pollfd){.fd = fd, .events = events};
    self->owner[self->n++] = owner;
    return 0;
}

void pollset_free(pollset_t *self)
{
    free(self->fds);
    free(self->owner);
    *self = (pollset_t){0};
}
