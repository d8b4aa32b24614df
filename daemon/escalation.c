/*
 * escalation.c - the next rung of a ladder (see escalation.h).
 */
#include "escalation.h"

#include <syslog.h>

const config_level_t *escalation_level(const config_t *cfg, int ladder, int level)
{
    if (ladder < 1 || ladder > 2 || level < 1 || (size_t)level > cfg->nlevels[ladder])
        return NULL;
    return &cfg->ladders[ladder][level - 1];
}

bool escalation_next(const config_t *cfg, int ladder, int64_t due, int fired,
                     int *level, int64_t *at)
{
    const config_level_t *next = escalation_level(cfg, ladder, fired + 1);
    if (!due || !next)
        return false;
    *level = fired + 1;
    *at = due + next->offset_ms;
    return true;
}

void escalation_remap(const config_t *cfg, int ladder, const int64_t *old_offsets, int nold,
                      int *map)
{
    const config_level_t *rungs = cfg->ladders[ladder];
    int n = (int)cfg->nlevels[ladder], passed = 0;
    map[0] = 0;
    for (int k = 1; k <= nold; k++) {
        while (passed < n && rungs[passed].offset_ms <= old_offsets[k - 1])
            passed++;
        map[k] = passed;
    }
}

int escalation_priority(int level)
{
    return level <= 1 ? LOG_WARNING : level == 2 ? LOG_ERR : LOG_CRIT;
}
