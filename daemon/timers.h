/*
 * timers.h - every pending deadline in one binary min-heap, so the broker
 * knows its next wake-up in O(1) and never scans the cases. An entry is only
 * a hint "look at this case's ladder at this time": the database row decides
 * what, if anything, fires, so a stale hint (the case was contacted, redone,
 * or the ladder changed on reload) costs one look and nothing else.
 * 16 bytes per entry.
 */
#ifndef MQ_TIMERS_H
#define MQ_TIMERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIMERS_CLOSE 3          /* the auto-close "ladder", beside LADDER_CONTACT/RESOLVE */

typedef struct {
    int64_t due;                /* unix ms */
    uint64_t key;               /* case_id << 2 | ladder */
} timers_entry_t;

typedef struct timers_t timers_t;

/* An empty heap; NULL when out of memory. */
timers_t *timers_new(void);
/* Free it; *self_p = NULL. */
void timers_destroy(timers_t **self_p);
/* Add a hint for (case_id, ladder) at due. 0, or -1 when out of memory. */
int timers_push(timers_t *self, int64_t due, uint64_t case_id, int ladder);
/* The earliest entry without removing it; false when empty. */
bool timers_peek(const timers_t *self, timers_entry_t *e);
/* Remove and return the earliest entry; false when empty. */
bool timers_pop(timers_t *self, timers_entry_t *e);
/* Entries held. */
size_t timers_count(const timers_t *self);
/* Bytes of memory held by the heap. */
size_t timers_bytes(const timers_t *self);
/* The case and ladder of an entry. */
uint64_t timers_case(const timers_entry_t *e);
int timers_ladder(const timers_entry_t *e);

#endif
