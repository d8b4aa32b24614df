/*
 * ladders.h - the escalation ladders that the database's counts refer to.
 *
 * A case counts the rungs of each ladder it fired (contact_level,
 * resolve_level). Those counts mean something only with the ladder they were
 * made under, so the database keeps that ladder too. When the config's
 * differs (a reload, or a start with an edited file) the ladder is saved
 * again and every open case's count is moved onto it, in the caller's
 * transaction, so that each case goes on after the last rung it fired, at
 * its new place if it moved (escalation_remap). The broker begins, commits
 * and logs.
 */
#ifndef MQ_LADDERS_H
#define MQ_LADDERS_H

#include "config.h"
#include "store.h"

#include <stdbool.h>

typedef struct {
    store_rung_t saved[LADDER_COUNT][CONFIG_MAX_LEVELS];
    int nsaved[LADDER_COUNT];           /* 0: none saved (a database from before) */
    bool changed[LADDER_COUNT];         /* the config's differs from the saved one */
    int moved[LADDER_COUNT];            /* open cases moved by ladders_save */
} ladders_t;

/* Read the saved ladders and compare them with cfg's (no transaction needed):
 * how many differ, or -1 (store_errmsg). */
int ladders_diff(ladders_t *self, store_t *store, const config_t *cfg);
/* In the open transaction: save each changed ladder of cfg and move the open
 * cases' counts onto it. 0, or -1 (roll back). */
int ladders_save(ladders_t *self, store_t *store, const config_t *cfg);

#endif
