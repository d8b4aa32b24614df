/*
 * holdback.h - a worker's outcomes of one assignment applied in the order it
 * sent them, also across a pass that failed to commit.
 *
 * A worker may send an assignment's next outcome while the one before is on
 * its way unanswered (PROTOCOL.md 8.2), because the broker applies one
 * connection's messages in order. A store failure breaks that order: the
 * failed pass's outcomes are rolled back and answered 5xx, while the next
 * outcome, already on its way, would be applied in a later pass, and the
 * earlier one's resend would then be refused (a CONTACTED behind its
 * RESOLVED gets 203, and the contact record is lost). So an assignment whose
 * outcome was answered 5xx is held: its other outcomes are answered 500 as
 * well, until the first failed msg_id comes back, or for HOLDBACK_MS at most
 * (a worker that never resends it must not block the assignment for good).
 */
#ifndef MQ_HOLDBACK_H
#define MQ_HOLDBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HOLDBACK_MS 60000

typedef struct holdback_t holdback_t;

/* An empty set; NULL when out of memory. */
holdback_t *holdback_new(void);
/* Free it and set *p to NULL. */
void holdback_destroy(holdback_t **p);
/* Note an outcome applied in the current pass: held if the pass fails. -1
 * when out of memory (the order guard is then lost for it, nothing else). */
int holdback_note(holdback_t *self, uint64_t asg, const char *msg_id);
/* The pass committed: forget what it noted. */
void holdback_committed(holdback_t *self);
/* The pass failed: hold every assignment it noted. */
void holdback_failed(holdback_t *self, int64_t now_ms);
/* Hold asg until msg_id comes back (an outcome answered 5xx outside the
 * noted ones). An assignment held already keeps its first msg_id. */
void holdback_hold(holdback_t *self, uint64_t asg, const char *msg_id, int64_t now_ms);
/* Whether the outcome may be applied: true when asg is not held (or its hold
 * has expired), or msg_id is the one it waits for, which ends the hold. */
bool holdback_admit(holdback_t *self, uint64_t asg, const char *msg_id, int64_t now_ms);
/* Assignments held now. */
size_t holdback_count(const holdback_t *self);

#endif
