/*
 * seen.h - the assignments this adapter finished lately, or left open with
 * the department, so that a late copy of a DISPATCH (the broker resends after
 * a reconnect, and sends every open assignment again to a new session) does
 * not run the command a second time. Two rings, the oldest id forgotten
 * first in each: finished ids, which come by the thousand, never push out
 * open ones, which a new session delivers again however old they are.
 */
#ifndef ADAPTER_SEEN_H
#define ADAPTER_SEEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct seen_s seen_t;

/* A set that remembers the last cap ids of each kind; NULL when out of memory. */
seen_t *seen_new(size_t cap);
/* Free it; *self becomes NULL. */
void seen_destroy(seen_t **self);
/* True when id is among those remembered. */
bool seen_has(const seen_t *self, uint64_t id);
/* Remember id as finished (resolved or returned), forgetting the oldest
 * finished one when full. */
void seen_add(seen_t *self, uint64_t id);
/* Remember id as left open with the department (contacted, or the command
 * exited 0 without resolving), forgetting the oldest open one when full. */
void seen_keep(seen_t *self, uint64_t id);

#endif
