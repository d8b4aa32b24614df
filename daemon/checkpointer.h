/*
 * checkpointer.h - copies the WAL back into the database file on a thread of
 * its own, so that the broker's loop never stops for a checkpoint (see
 * checkpointer.c).
 */
#ifndef MQ_CHECKPOINTER_H
#define MQ_CHECKPOINTER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct checkpointer_t checkpointer_t;

/* Open a second connection to the WAL-mode database at path (through VFS vfs,
 * NULL for the default) and start the thread; it checkpoints whenever
 * checkpointer_poke has seen at least `pages` frames in the WAL. NULL, with
 * err filled, when the connection or the thread cannot be had. */
checkpointer_t *checkpointer_new(const char *path, const char *vfs, int pages,
                                 char *err, size_t errlen);
/* Stop the thread (once the checkpoint it may be in has finished), close its
 * connection; *self_p = NULL. */
void checkpointer_destroy(checkpointer_t **self_p);
/* After a commit that left `pages` frames in the WAL: wake the thread when
 * they are enough. True once the thread has finished a pass that left at
 * most `pages` frames: the writer should copy those itself, between
 * transactions, so that the WAL starts over. */
bool checkpointer_poke(checkpointer_t *self, int pages);
/* True while the thread's last checkpoint failed (a full disk, an I/O
 * error): the writer must copy the WAL back itself. */
bool checkpointer_failing(checkpointer_t *self);
/* How many checkpoints the thread has completed, and how many failed. */
void checkpointer_counts(checkpointer_t *self, unsigned long *done, unsigned long *failed);
/* True, with SQLite's message in buf, when a checkpoint failed since the
 * last call: the thread does not log, its owner does. */
bool checkpointer_error(checkpointer_t *self, char *buf, size_t len);

#endif
