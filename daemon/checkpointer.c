/*
 * checkpointer.c - WAL checkpoints on a thread of their own.
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that crosses its
 * threshold: that commit writes the pages the WAL holds back into the
 * database file and fsyncs both, about 3 ms during which the broker's single
 * loop reads nothing. At 1,000 cases/s that was a checkpoint every 0.6 s,
 * and the two or three submissions that arrived meanwhile waited for it and
 * then for their own commit: the largest part of the p99 of submit->dispatch
 * (bench/README.md). SQLite lets another connection checkpoint while the
 * writer goes on (a PASSIVE checkpoint takes no lock a writer needs), so this
 * thread does it with a connection of its own, and the broker's commits only
 * append to the WAL.
 *
 * A WAL starts over from its beginning only when a checkpoint has copied all
 * of it before a write transaction begins. The broker commits while the
 * thread copies, and usually has its next transaction open by the time the
 * thread is done, so after each pass checkpointer_poke asks the writer to
 * copy what is left itself, between two of its transactions (store_maintain):
 * a few frames, or none (then no fsync), and the next transaction starts the
 * WAL over. A larger backlog stays the thread's: after a long reader (a
 * backup) ends, copying gigabytes in the loop stopped it for seconds, and
 * every worker took it for dead. Should the thread fail (a full disk), the
 * store checkpoints in its own commit past a hard limit, which is what SQLite
 * would have done anyway.
 *
 * Durability is SQLite's: the checkpoint connection runs synchronous=FULL, so
 * the WAL is synced before its pages are copied and the database file before
 * the WAL may start over; a kill -9 in the middle leaves a WAL that the next
 * open replays.
 */
#include "checkpointer.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

struct checkpointer_t {
    sqlite3 *db;                /* used by the thread alone once it runs */
    pthread_t thread;
    pthread_mutex_t lock;       /* guards what follows */
    pthread_cond_t wake;
    bool started, due, stop;
    bool busy;                  /* a checkpoint is running */
    bool passed;                /* one has finished: the writer copies what is left */
    bool failing;               /* the last pass failed (not BUSY) */
    int pages;                  /* the WAL length that calls for a checkpoint */
    int backfilled;             /* frames copied, as the last pass left them */
    unsigned long runs, failed;
    bool new_error;
    char error[160];            /* SQLite's message for the last failure */
};

/* What a pass leaves: the writer finishes the last few frames (passed);
 * a backlog, which a reader kept from being copied (a `minqing backup`
 * holds one for minutes) or that commits outpaced, is copied here, pass
 * after pass while each gets further, never in the writer's loop. */
static void after_pass(checkpointer_t *self, int rc, int log, int done)
{
    bool ok = rc == SQLITE_OK;
    self->runs += ok;                   /* completed passes */
    self->failing = rc != SQLITE_OK && rc != SQLITE_BUSY;
    self->passed = ok && log - done <= self->pages;
    if (ok && !self->passed && done != self->backfilled)
        self->due = true;
    self->backfilled = ok ? done : self->backfilled;
}

static void *run(void *arg)
{
    checkpointer_t *self = arg;
    pthread_mutex_lock(&self->lock);
    while (!self->stop) {
        if (!self->due) {
            pthread_cond_wait(&self->wake, &self->lock);
            continue;
        }
        self->due = false;
        self->busy = true;
        pthread_mutex_unlock(&self->lock);
        int log = 0, done = 0;
        int rc = sqlite3_wal_checkpoint_v2(self->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        pthread_mutex_lock(&self->lock);
        self->busy = false;
        after_pass(self, rc, log, done);
        /* BUSY: another checkpoint (the writer's own, past the limit) runs */
        if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
            self->failed++;
            self->new_error = true;
            snprintf(self->error, sizeof self->error, "%s", sqlite3_errmsg(self->db));
        }
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

static int open_db(checkpointer_t *self, const char *path, const char *vfs, char *err,
                   size_t errlen)
{
    int rc = sqlite3_open_v2(path, &self->db, SQLITE_OPEN_READWRITE, vfs);
    /* the checkpoint's own fsyncs follow this connection's setting */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(self->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: checkpoint connection: %s", path,
                 self->db ? sqlite3_errmsg(self->db) : "out of memory");
        return -1;
    }
    return 0;
}

checkpointer_t *checkpointer_new(const char *path, const char *vfs, int pages,
                                 char *err, size_t errlen)
{
    checkpointer_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->pages = pages;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    if (open_db(self, path, vfs, err, errlen)) {
        checkpointer_destroy(&self);
        return NULL;
    }
    /* signals are the loop's: a SIGTERM taken by this thread would leave the
     * loop asleep in its poll */
    sigset_t all, was;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &was);
    int rc = pthread_create(&self->thread, NULL, run, self);
    pthread_sigmask(SIG_SETMASK, &was, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot start the checkpoint thread", path);
        checkpointer_destroy(&self);
        return NULL;
    }
    self->started = true;
    return self;
}

void checkpointer_destroy(checkpointer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    checkpointer_t *self = *self_p;
    if (self->started) {
        pthread_mutex_lock(&self->lock);
        self->stop = true;
        pthread_cond_signal(&self->wake);
        pthread_mutex_unlock(&self->lock);
        pthread_join(self->thread, NULL);
    }
    sqlite3_close(self->db);
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

bool checkpointer_poke(checkpointer_t *self, int pages)
{
    pthread_mutex_lock(&self->lock);
    bool finish = false;
    if (pages < self->pages)
        self->passed = false;       /* the WAL started over: nothing left to finish */
    else if (self->passed) {
        self->passed = false;
        finish = true;
    } else if (!self->busy) {
        self->due = true;
        pthread_cond_signal(&self->wake);
    }
    pthread_mutex_unlock(&self->lock);
    return finish;
}

void checkpointer_counts(checkpointer_t *self, unsigned long *done, unsigned long *failed)
{
    pthread_mutex_lock(&self->lock);
    *done = self->runs;
    *failed = self->failed;
    pthread_mutex_unlock(&self->lock);
}

bool checkpointer_failing(checkpointer_t *self)
{
    pthread_mutex_lock(&self->lock);
    bool failing = self->failing;
    pthread_mutex_unlock(&self->lock);
    return failing;
}

bool checkpointer_error(checkpointer_t *self, char *buf, size_t len)
{
    pthread_mutex_lock(&self->lock);
    bool fresh = self->new_error;
    if (fresh)
        snprintf(buf, len, "%s", self->error);
    self->new_error = false;
    pthread_mutex_unlock(&self->lock);
    return fresh;
}
