/*
 * mq_omap.h - libminqing's map from an assignment_id to the newest of its
 * outcomes still queued (internal). The queue keeps an assignment's
 * outcomes in order by chaining them; this map finds the chain's end, so
 * that queueing, ordering and releasing cost the chain's few steps, not a
 * walk of the whole queue, which a worker back from a long outage may hold
 * by the ten thousand. The worker finds its escalation notices, by
 * escalation_id, in another one.
 */
#ifndef MQ_OMAP_H
#define MQ_OMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t *keys;             /* 0: a free slot (assignment ids start at 1) */
    void **vals;
    size_t cap, n;              /* cap a power of two, or 0 */
} mq_omap_t;

/* The value of key (>= 1), or NULL. */
void *mq_omap_get(const mq_omap_t *self, uint64_t key);
/* Set key (>= 1) to val; a NULL val removes it. 0, or -1 when out of memory
 * (the map as it was); changing or removing a key there never fails. */
int mq_omap_put(mq_omap_t *self, uint64_t key, void *val);
/* Free the slots; the map is empty and usable again. */
void mq_omap_free(mq_omap_t *self);

#endif
