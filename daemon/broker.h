/*
 * broker.h - the broker loop: sockets, worker sessions, group commit, acks
 * after commit, dispatch. It asks apply (case logic) what to write and the
 * store to remember it; everything the network sends is decoded by the codec
 * first and never trusted further than the codec checked it.
 */
#ifndef MQ_BROKER_H
#define MQ_BROKER_H

#include "config.h"

#include <stddef.h>

typedef struct broker_t broker_t;

/* Open the store, bind every socket and load the open assignments. Takes
 * ownership of cfg. NULL on error, with the reason in err, and errno EUCLEAN
 * when the database file is refused (see store_open): a start again fails. */
broker_t *broker_new(config_t *cfg, char *err, size_t errlen);
/* Commit what is in hand, checkpoint the WAL, close everything; *self_p = NULL. */
void broker_destroy(broker_t **self_p);
/* Serve until broker_stop; 0 on a clean stop, -1 on a fatal error. */
int broker_run(broker_t *self);
/* Ask the loop to stop after the current pass (async-signal-safe). */
void broker_stop(broker_t *self);
/* Ask the loop to reload the config file between passes (async-signal-safe).
 * Departments, routes, deadlines, the calendar and the ladders change at
 * once; an invalid file is refused whole and the old config stays. */
void broker_reload(broker_t *self);

#endif
