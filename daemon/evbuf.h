/*
 * evbuf.h - audit-trail events held until there are enough for one INSERT.
 * A lifecycle writes nine events, and SQLite spends more on starting and
 * ending a one-row statement (its program, its cursors) than on the row:
 * written sixteen to a statement, they cost the broker about a tenth less
 * (bench/README). The store holds copies here during a transaction and
 * writes them before its commit, or when the buffer is full.
 */
#ifndef MQ_EVBUF_H
#define MQ_EVBUF_H

#include "store.h"

#include <stddef.h>

#define EVBUF_BATCH 16      /* events a full buffer holds: one multi-row INSERT */

typedef struct evbuf_t evbuf_t;

/* An empty buffer; NULL when out of memory. */
evbuf_t *evbuf_new(void);
/* Free the buffer; *self_p = NULL. */
void evbuf_destroy(evbuf_t **self_p);
/* Hold a copy of e and of its strings: 0, or -1 when it does not fit (the
 * buffer is full, or e's strings are longer than it holds). */
int evbuf_add(evbuf_t *self, const store_event_t *e);
/* How many events it holds; evbuf_at(self, i) for i below that is one, in
 * the order they were added. */
size_t evbuf_count(const evbuf_t *self);
const store_event_t *evbuf_at(const evbuf_t *self, size_t i);
/* Forget every event. */
void evbuf_clear(evbuf_t *self);

#endif
