/*
 * ladders.c - keep the database's saved ladders in step with the config
 * (see ladders.h).
 */
#include "ladders.h"
#include "escalation.h"

#include <stdio.h>
#include <string.h>

/* Whether cfg's ladder l has the saved rungs, offset and target each. */
static bool same_rungs(const ladders_t *self, const config_t *cfg, int l)
{
    if (self->nsaved[l] != (int)cfg->nlevels[l])
        return false;
    for (int i = 0; i < self->nsaved[l]; i++)
        if (self->saved[l][i].offset_ms != cfg->ladders[l][i].offset_ms ||
            strcmp(self->saved[l][i].target, cfg->ladders[l][i].target) != 0)
            return false;
    return true;
}

int ladders_diff(ladders_t *self, store_t *store, const config_t *cfg)
{
    int changed = 0;
    memset(self, 0, sizeof *self);
    for (int l = LADDER_CONTACT; l <= LADDER_RESOLVE; l++) {
        self->nsaved[l] = store_rungs_get(store, l, self->saved[l], CONFIG_MAX_LEVELS);
        if (self->nsaved[l] < 0)
            return -1;
        self->changed[l] = !same_rungs(self, cfg, l);
        changed += self->changed[l];
    }
    return changed;
}

/* Save ladder l of cfg; the open cases moved, or -1. With none saved the
 * counts were made under cfg's ladder (the only one there was), and stay. */
static int save_one(const ladders_t *self, store_t *store, const config_t *cfg, int l)
{
    store_rung_t fresh[CONFIG_MAX_LEVELS];
    escalation_rung_t old[CONFIG_MAX_LEVELS];
    int map[CONFIG_MAX_LEVELS + 1];
    int n = (int)cfg->nlevels[l], nold = self->nsaved[l];
    for (int i = 0; i < n; i++) {
        fresh[i].offset_ms = cfg->ladders[l][i].offset_ms;
        snprintf(fresh[i].target, sizeof fresh[i].target, "%s", cfg->ladders[l][i].target);
    }
    for (int i = 0; i < nold; i++)
        old[i] = (escalation_rung_t){self->saved[l][i].offset_ms, self->saved[l][i].target};
    escalation_remap(cfg, l, old, nold, map);
    return store_rungs_set(store, l, fresh, n, map, nold + 1);
}

int ladders_save(ladders_t *self, store_t *store, const config_t *cfg)
{
    for (int l = LADDER_CONTACT; l <= LADDER_RESOLVE; l++)
        if (self->changed[l] && (self->moved[l] = save_one(self, store, cfg, l)) < 0)
            return -1;
    return 0;
}
