/*
 * walbuf.h - a SQLite VFS over the default one that writes each WAL commit's
 * frames with one system call instead of two per page (see walbuf.c).
 */
#ifndef MQ_WALBUF_H
#define MQ_WALBUF_H

#include <stdbool.h>

/* Register the VFS over the current default one; its name, for
 * sqlite3_open_v2, or NULL if it cannot be (then open with the default). */
const char *walbuf_register(void);

/* Whether a flush of this thread's held WAL writes failed on a full disk
 * since the last call: SQLite was told of an I/O error, so that it rolled
 * the whole transaction back (walbuf.c), and the disk is what to fix. */
bool walbuf_take_full(void);

#endif
