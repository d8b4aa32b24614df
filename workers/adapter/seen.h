/*
 * seen.h - the assignments this adapter finished lately, so that a late copy
 * of a DISPATCH (the broker resends after a reconnect) does not run the
 * command a second time. A ring: the oldest id is forgotten first.
 */
#ifndef ADAPTER_SEEN_H
#define ADAPTER_SEEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct seen_s seen_t;

/* A set that remembers the last cap ids; NULL when out of memory. */
seen_t *seen_new(size_t cap);
/* Free it; *self becomes NULL. */
void seen_destroy(seen_t **self);
/* True when id is among those remembered. */
bool seen_has(const seen_t *self, uint64_t id);
/* Remember id, forgetting the oldest when full. */
void seen_add(seen_t *self, uint64_t id);

#endif
