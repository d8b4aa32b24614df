/*
 * escalation.h - the escalation ladder: which rung of a case's contact or
 * resolution ladder fires next, and when (deadline + the rung's offset;
 * negative offsets are reminders before the deadline, 催办). Levels are
 * numbered from 1 and fire in order, each once per case and round. Pure.
 */
#ifndef MQ_ESCALATION_H
#define MQ_ESCALATION_H

#include "config.h"

#include <stdbool.h>
#include <stdint.h>

/* journald MESSAGE_ID of every escalation line:
 * journalctl MESSAGE_ID=8d3c5e0a4f1b4a27b6e2c9d17f30a5e1 lists escalations alone. */
#define ESCALATION_MESSAGE_ID "8d3c5e0a4f1b4a27b6e2c9d17f30a5e1"

/* The rung after `fired` rungs have fired, for a case due at `due`: true with
 * its level (1-based) and the time it fires; false when the ladder is done. */
bool escalation_next(const config_t *cfg, int ladder, int64_t due, int fired,
                     int *level, int64_t *at);
/* A rung of the ladder the cases' counts were made under (as saved). */
typedef struct {
    int64_t offset_ms;
    const char *target;
} escalation_rung_t;

/* Where a case stands on a changed ladder. For k = 0..nold, map[k] is how
 * many rungs of the config's ladder a case that fired the first k old rungs
 * has passed, so that it goes on after the last of them: the rungs at or
 * before the offset of the k-th old rung, and every rung up to where a fired
 * old rung now is, when one moved (the same target at another offset: its
 * target was told once and is not told again); but neither passes over an
 * old rung the case has not fired (its target would never be told: it fires
 * late, and a moved rung after it is told again). A rung inserted before them
 * is passed over; a removed one counts no more. */
void escalation_remap(const config_t *cfg, int ladder, const escalation_rung_t *old, int nold,
                      int *map);
/* The rung itself (level 1-based), or NULL. */
const config_level_t *escalation_level(const config_t *cfg, int ladder, int level);
/* Log priority of a rung, by its place among the ladder's rungs at or after
 * the deadline, so that a reminder (催办) before them does not move the
 * others: LOG_WARNING for the first (community) and for a reminder,
 * LOG_ERR for the second (street office), LOG_CRIT from the third (county
 * supervision). A level the ladder no longer has goes by its number. */
int escalation_priority(const config_t *cfg, int ladder, int level);

#endif
