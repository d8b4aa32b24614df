/*
 * notices.h - the ESCALATE notices on their way to supervision workers.
 *
 * An escalation is stored and logged as it fires; its notice then goes to a
 * worker of the department the rung's target names, and is sent again every
 * NOTICES_RESEND_MS until a worker of that department acknowledges it. This
 * list is the memory of what is pending; the database (escalations whose
 * notified_at is empty) is the truth, and the list is reloaded from it when
 * it could not hold everything (too many pending, no memory, or an ACK whose
 * record was rolled back).
 */
#ifndef MQ_NOTICES_H
#define MQ_NOTICES_H

#include "apply.h"
#include "config.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOTICES_RESEND_MS 5000

typedef struct {
    fired_t fired;
    int64_t sent;               /* monotonic ms, 0 = not sent yet */
    unsigned tries;             /* sends so far: each resend goes to the next worker */
} notice_t;

typedef struct notices_t notices_t;

/* An empty list that holds at most max notices; NULL when out of memory. */
notices_t *notices_new(size_t max);
/* Free the list; *self_p = NULL. */
void notices_destroy(notices_t **self_p);
/* Notices listed. */
size_t notices_count(const notices_t *self);
/* List f's notice, not sent yet. false when the list is full or memory is
 * short: the notice waits in the database (notices_held) until a reload. */
bool notices_add(notices_t *self, const fired_t *f);
/* Some pending notice is in the database only. */
bool notices_held(const notices_t *self);
/* Say that some pending notice is in the database only (an ACK taken out of
 * the list whose record was rolled back, say). */
void notices_hold(notices_t *self);
/* Held notices, and room for them: time for notices_reload. */
bool notices_reload_due(const notices_t *self);
/* The list becomes the pending notices of store, oldest first as far as it
 * holds them; those listed before keep when they were sent and how often.
 * 0, or -1 on a store error (the list kept as it was, still held). */
int notices_reload(notices_t *self, store_t *store);
/* Notices whose department left cfg go to the department cfg's [targets]
 * names for their rung's target, recorded in store in one transaction of
 * its own. The number moved, or -1 on a store error (rolled back). */
int notices_retarget(notices_t *self, store_t *store, const config_t *cfg);
/* Notices that no department of cfg can take. */
size_t notices_stranded(const notices_t *self, const config_t *cfg);
/* A worker of department dept acknowledged notice id: 1 taken off the list;
 * 0 not listed (acknowledged before, or held back); -1 listed for another
 * department, and kept. */
int notices_take(notices_t *self, uint64_t id, const char *dept);
/* The next notice from *pos on that is due at now (never sent, or not
 * acknowledged for NOTICES_RESEND_MS); NULL after the last. */
notice_t *notices_next_due(notices_t *self, size_t *pos, int64_t now);

#endif
