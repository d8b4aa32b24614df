/*
 * escalation.c - the next rung of a ladder (see escalation.h).
 */
#include "escalation.h"

#include <string.h>
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

/* partner[i]: the new rung that old rung i is now, or -1 if it is gone. The
 * same offset and target is the same rung; failing that, a rung of the same
 * target moved (the j-th unpaired old rung of a target is its j-th unpaired
 * new rung), since its target was told already and must not be again. */
static void pair_rungs(const config_level_t *rungs, int n, const escalation_rung_t *old,
                       int nold, int *partner)
{
    bool taken[CONFIG_MAX_LEVELS] = {false};
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < nold; i++) {
            if (pass == 0)
                partner[i] = -1;
            for (int j = 0; j < n && partner[i] < 0; j++)
                if (!taken[j] && !strcmp(rungs[j].target, old[i].target) &&
                    (pass == 1 || rungs[j].offset_ms == old[i].offset_ms))
                    taken[j] = true, partner[i] = j;
        }
}

/* The first new rung that an old rung the case has not fired (k or later)
 * now is; n if none. Neither the offsets passed nor a moved rung counted as
 * fired may pass over such a rung: its target was never told, and would
 * never be; it fires late instead. */
static int first_unfired(const int *partner, int nold, int k, int n)
{
    int first = n;
    for (int i = k; i < nold; i++)
        if (partner[i] >= 0 && partner[i] < first)
            first = partner[i];
    return first;
}

void escalation_remap(const config_t *cfg, int ladder, const escalation_rung_t *old, int nold,
                      int *map)
{
    const config_level_t *rungs = cfg->ladders[ladder];
    int n = (int)cfg->nlevels[ladder], passed = 0, after_moved = 0;
    int partner[CONFIG_MAX_LEVELS];
    pair_rungs(rungs, n, old, nold, partner);
    map[0] = 0;
    for (int k = 1; k <= nold; k++) {
        while (passed < n && rungs[passed].offset_ms <= old[k - 1].offset_ms)
            passed++;
        if (partner[k - 1] >= after_moved)
            after_moved = partner[k - 1] + 1;
        int past = passed > after_moved ? passed : after_moved;
        int stop = first_unfired(partner, nold, k, n);
        map[k] = past < stop ? past : stop;
    }
}

int escalation_priority(const config_t *cfg, int ladder, int level)
{
    const config_level_t *rung = escalation_level(cfg, ladder, level);
    int rank = rung ? 0 : level;        /* a rung a reload removed: by its number */
    for (int k = 1; rung && rung->offset_ms >= 0 && k <= level; k++)
        rank += escalation_level(cfg, ladder, k)->offset_ms >= 0;
    return rank <= 1 ? LOG_WARNING : rank == 2 ? LOG_ERR : LOG_CRIT;
}
