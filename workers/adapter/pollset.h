/*
 * pollset.h - the descriptors one poll(2) waits on, each with the owner it
 * belongs to, so that what poll reports goes back to its job. Built anew on
 * every pass of the loop, in storage kept from pass to pass.
 */
#ifndef ADAPTER_POLLSET_H
#define ADAPTER_POLLSET_H

#include <poll.h>
#include <stddef.h>

/* A zeroed pollset_t is an empty one. */
typedef struct {
    struct pollfd *fds;
    void **owner;                   /* of each fd; NULL for the loop's own */
    size_t n, cap;
} pollset_t;

/* Empty it, keeping its storage. */
void pollset_clear(pollset_t *self);
/* Add fd for events (nothing for a closed fd, -1). 0, or -1 when out of memory. */
int pollset_watch(pollset_t *self, int fd, short events, void *owner);
/* Free its storage; it is empty again. */
void pollset_free(pollset_t *self);

#endif
