/*
 * walbuf.c - a SQLite VFS over the default one that gathers the writes of
 * each WAL commit into one system call.
 *
 * SQLite writes a WAL frame as two calls, its 24-byte header and then the
 * page, so a commit touching 11 pages costs 22 pwrite() calls before its
 * fsync; at 1,500 commits a second that was a tenth of the broker's time.
 * This shim keeps contiguous writes to the -wal file in a buffer and writes
 * them in one call as soon as the bytes have to be in the file: when SQLite
 * syncs, reads, truncates or closes the file, asks its size or passes it a
 * file control. SQLite makes no assumption about written but unsynced data,
 * and the sync still comes before the commit returns, so durability is
 * exactly what it was. Every other file (the database, the shared-memory
 * index) and every other call goes straight to the default VFS.
 *
 * It also drops a sync of the WAL when nothing was written to it, through
 * any of this process's connections, since a sync of it last succeeded.
 * Every checkpoint syncs the WAL before it copies frames; under
 * synchronous=FULL each of those frames was synced by its own commit, so
 * that sync is a device flush that makes nothing more durable. The broker
 * paid it in its loop each time it copied the WAL's last frames
 * (store_maintain) and on the checkpoint thread, about 15 times a second each
 * at 1,000 cases/s. A write counted before a sync began is in the file once
 * that sync returns, and a sync with no write counted since the last one has
 * nothing to make durable. What this process cannot count is a writer
 * elsewhere: another program writing to the live database with a weaker
 * synchronous setting would have its frames copied unsynced, which is one
 * more reason the tools open it read-only (docs/operations.md). The sync's
 * flags are not compared: on Linux SQLite makes every sync one fdatasync.
 */
#include "walbuf.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WALBUF_BYTES (1 << 20)  /* a commit of up to ~250 pages held at once */
#define WRITE_MAX 0x1f000       /* bytes per write: below the unix VFS's 0x1ffff */

/* One per WAL file, shared by the connections that have it open (the
 * broker's and the checkpointer's), found by the name SQLite opens it by. */
typedef struct walsync {
    struct walsync *next;
    unsigned refs;
    uint64_t written;           /* writes (and resizes) that have returned */
    uint64_t synced;            /* `written` as it was when the last good sync began */
    char name[];
} walsync_t;

static walsync_t *walsyncs;
static pthread_mutex_t walsyncs_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
    sqlite3_file base;
    sqlite3_file *real;         /* the default VFS's file, right after this struct */
    unsigned char *buf;         /* NULL: not a WAL file, nothing is held */
    size_t len;
    sqlite3_int64 at;           /* file offset of buf[0] */
    walsync_t *sync;            /* NULL: every sync goes through */
} wbfile_t;

static sqlite3_vfs walbuf_vfs;

static sqlite3_vfs *real_vfs(void)
{
    return walbuf_vfs.pAppData;
}

/* The shared state of the WAL called name, made on its first open; NULL
 * when out of memory. */
static walsync_t *walsync_get(const char *name)
{
    pthread_mutex_lock(&walsyncs_lock);
    walsync_t *w = walsyncs;
    while (w && strcmp(w->name, name) != 0)
        w = w->next;
    if (!w && (w = calloc(1, sizeof *w + strlen(name) + 1))) {
        strcpy(w->name, name);
        w->written = 1;         /* what an earlier process left may be unsynced */
        w->next = walsyncs;
        walsyncs = w;
    }
    if (w)
        w->refs++;
    pthread_mutex_unlock(&walsyncs_lock);
    return w;
}

static void walsync_put(walsync_t *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&walsyncs_lock);
    if (--w->refs == 0) {
        walsync_t **p = &walsyncs;
        while (*p != w)
            p = &(*p)->next;
        *p = w->next;
        free(w);
    }
    pthread_mutex_unlock(&walsyncs_lock);
}

/* After any call that may have changed the file, whether it succeeded or
 * not: a failed write may still have written some of its bytes. */
static void walsync_wrote(wbfile_t *f)
{
    if (!f->sync)
        return;
    pthread_mutex_lock(&walsyncs_lock);
    f->sync->written++;
    pthread_mutex_unlock(&walsyncs_lock);
}

/* Sync the WAL unless nothing was written to it since a sync succeeded. */
static int walsync_sync(wbfile_t *f, int flags)
{
    if (!f->sync)
        return f->real->pMethods->xSync(f->real, flags);
    pthread_mutex_lock(&walsyncs_lock);
    uint64_t seen = f->sync->written;
    bool clean = seen == f->sync->synced;
    pthread_mutex_unlock(&walsyncs_lock);
    if (clean)
        return SQLITE_OK;
    int rc = f->real->pMethods->xSync(f->real, flags);
    if (rc == SQLITE_OK) {
        pthread_mutex_lock(&walsyncs_lock);
        if (seen > f->sync->synced)
            f->sync->synced = seen;
        pthread_mutex_unlock(&walsyncs_lock);
    }
    return rc;
}

/* Write len bytes at off in pieces the unix VFS takes whole (it masks a
 * write's length to 17 bits, and would report a longer one as a full disk);
 * *done says how many went out, also on failure. */
static int write_pieces(wbfile_t *f, const unsigned char *p, size_t len, sqlite3_int64 off,
                        size_t *done)
{
    int rc = SQLITE_OK;
    size_t n;
    for (*done = 0; rc == SQLITE_OK && *done < len; *done += n) {
        n = len - *done < WRITE_MAX ? len - *done : WRITE_MAX;
        rc = f->real->pMethods->xWrite(f->real, p + *done, (int)n, off + (sqlite3_int64)*done);
        walsync_wrote(f);
        if (rc != SQLITE_OK)
            n = 0;
    }
    return rc;
}

/* Write out what is held. What a failed write (a full disk) could not write
 * is dropped: it all belongs to the transaction being committed (under
 * synchronous=FULL every commit syncs, which flushes, so nothing of an
 * earlier one is ever held), and SQLite rolls that transaction back on the
 * error it gets here. Kept and written by a later call, once space returned,
 * its commit frame, with a valid checksum chain, would make a recovery after
 * a crash apply the transaction the client was told had failed. */
static int flush(wbfile_t *f)
{
    if (!f->len)
        return SQLITE_OK;       /* also every file that is not a WAL (no buffer) */
    size_t done;
    int rc = write_pieces(f, f->buf, f->len, f->at, &done);
    f->len = 0;
    return rc;
}

static int wb_write(sqlite3_file *file, const void *data, int n, sqlite3_int64 off)
{
    wbfile_t *f = (wbfile_t *)file;
    if (!f->buf)
        return f->real->pMethods->xWrite(f->real, data, n, off);   /* no sync state either */
    if (f->len && (off != f->at + (sqlite3_int64)f->len || f->len + (size_t)n > WALBUF_BYTES)) {
        int rc = flush(f);
        if (rc != SQLITE_OK)
            return rc;
    }
    if ((size_t)n > WALBUF_BYTES) {     /* SQLite writes 64 kB + 24 at most: never */
        size_t done;
        return write_pieces(f, data, (size_t)n, off, &done);
    }
    if (!f->len)
        f->at = off;
    memcpy(f->buf + f->len, data, (size_t)n);
    f->len += (size_t)n;
    return SQLITE_OK;
}

static int wb_close(sqlite3_file *file)
{
    wbfile_t *f = (wbfile_t *)file;
    int rc = flush(f);
    int rc2 = f->real->pMethods->xClose(f->real);
    free(f->buf);
    f->buf = NULL;
    walsync_put(f->sync);
    f->sync = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static _Thread_local bool flush_full;   /* see walbuf_take_full */

bool walbuf_take_full(void)
{
    bool was = flush_full;
    flush_full = false;
    return was;
}

/* A flush that fails in a call other than a write or a sync: an I/O error,
 * whatever the cause. The frames it dropped were spilled by a transaction
 * still open, and SQLite answers SQLITE_FULL from a read by undoing only the
 * statement: the transaction would go on, and commit, over frames that are
 * not in the file. An I/O error makes SQLite roll all of it back. (A failed
 * write or sync needs no such care: SQLite stops the pager at once.) */
static int flush_or_ioerr(wbfile_t *f)
{
    int rc = flush(f);
    if (rc == SQLITE_OK)
        return rc;
    flush_full = (rc & 0xff) == SQLITE_FULL;
    return SQLITE_IOERR_WRITE;
}

/* The calls after which the bytes must be in the file: write them first. */
#define FLUSHED(f, call)                                    \
    do {                                                    \
        int rc_ = flush_or_ioerr((wbfile_t *)(f));          \
        if (rc_ != SQLITE_OK)                               \
            return rc_;                                     \
        return call;                                        \
    } while (0)
#define REAL(f) (((wbfile_t *)(f))->real)

static int wb_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    FLUSHED(f, REAL(f)->pMethods->xRead(REAL(f), p, n, off));
}

static int truncate_counted(wbfile_t *f, sqlite3_int64 size)
{
    int rc = f->real->pMethods->xTruncate(f->real, size);
    walsync_wrote(f);
    return rc;
}

static int wb_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    FLUSHED(f, truncate_counted((wbfile_t *)f, size));
}

static int wb_sync(sqlite3_file *f, int flags)
{
    int rc = flush((wbfile_t *)f);
    return rc != SQLITE_OK ? rc : walsync_sync((wbfile_t *)f, flags);
}

static int wb_size(sqlite3_file *f, sqlite3_int64 *size)
{
    FLUSHED(f, REAL(f)->pMethods->xFileSize(REAL(f), size));
}

/* A size hint may grow the file (the unix VFS writes or allocates to it). */
static int control_counted(wbfile_t *f, int op, void *arg)
{
    int rc = f->real->pMethods->xFileControl(f->real, op, arg);
    if (op == SQLITE_FCNTL_SIZE_HINT)
        walsync_wrote(f);
    return rc;
}

static int wb_control(sqlite3_file *f, int op, void *arg)
{
    FLUSHED(f, control_counted((wbfile_t *)f, op, arg));
}

/* ---- the rest passes straight through -------------------------------- */

static int wb_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int wb_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int wb_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int wb_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int wb_device(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int wb_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, extend, pp);
}
static int wb_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void wb_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int wb_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int wb_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}
static int wb_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods wb_methods = {
    .iVersion = 3,
    .xClose = wb_close, .xRead = wb_read, .xWrite = wb_write, .xTruncate = wb_truncate,
    .xSync = wb_sync, .xFileSize = wb_size, .xLock = wb_lock, .xUnlock = wb_unlock,
    .xCheckReservedLock = wb_reserved, .xFileControl = wb_control, .xSectorSize = wb_sector,
    .xDeviceCharacteristics = wb_device, .xShmMap = wb_shm_map, .xShmLock = wb_shm_lock,
    .xShmBarrier = wb_shm_barrier, .xShmUnmap = wb_shm_unmap, .xFetch = wb_fetch,
    .xUnfetch = wb_unfetch,
};

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out)
{
    (void)vfs;
    wbfile_t *f = (wbfile_t *)file;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)&f[1];
    if ((flags & SQLITE_OPEN_WAL) && !(f->buf = malloc(WALBUF_BYTES)))
        return SQLITE_NOMEM;
    int rc = real_vfs()->xOpen(real_vfs(), name, f->real, flags, out);
    /* Without powersafe overwrite SQLite pads a commit to a sector and may
     * write the padding after its sync: held here, those bytes would be
     * missing when another connection (the checkpointer) reads the frame.
     * Such a WAL goes straight through. */
    if (rc != SQLITE_OK || !f->real->pMethods ||
        !(f->real->pMethods->xDeviceCharacteristics(f->real) & SQLITE_IOCAP_POWERSAFE_OVERWRITE)) {
        free(f->buf);
        f->buf = NULL;
        /* SQLite closes a file whose open failed only if the open left it
         * methods, and this one has none (base.pMethods): close it here */
        if (rc != SQLITE_OK && f->real->pMethods)
            f->real->pMethods->xClose(f->real);
        if (rc != SQLITE_OK || !f->real->pMethods)
            return rc;
    }
    /* a handle without the shared state could not count its writes, and
     * the other handle would drop syncs they need: no open rather than that */
    if (f->buf && !(f->sync = walsync_get(name))) {
        f->real->pMethods->xClose(f->real);
        free(f->buf);
        f->buf = NULL;
        return SQLITE_NOMEM;
    }
    f->base.pMethods = &wb_methods;
    return SQLITE_OK;
}

/* The VFS calls that are not about one open file: the default VFS's own. */
static int wb_delete(sqlite3_vfs *v, const char *name, int sync)
{
    (void)v;
    return real_vfs()->xDelete(real_vfs(), name, sync);
}
static int wb_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    return real_vfs()->xAccess(real_vfs(), name, flags, out);
}
static int wb_fullpath(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    return real_vfs()->xFullPathname(real_vfs(), name, n, out);
}
static int wb_random(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs()->xRandomness(real_vfs(), n, out);
}
static int wb_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return real_vfs()->xSleep(real_vfs(), us);
}
static int wb_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return real_vfs()->xCurrentTime(real_vfs(), out);
}
static int wb_last_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real_vfs()->xGetLastError(real_vfs(), n, out);
}
static int wb_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return real_vfs()->xCurrentTimeInt64(real_vfs(), out);
}

const char *walbuf_register(void)
{
    /* found anew each time, so that a VFS registered as the default since
     * (the tests' full-disk shim) sits under this one; re-registered only
     * then (SQLite links registered VFSes through the struct rewritten here,
     * which a checkpoint thread may be reading) */
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);
    if (real && real == walbuf_vfs.pAppData && sqlite3_vfs_find(walbuf_vfs.zName) == &walbuf_vfs)
        return walbuf_vfs.zName;
    sqlite3_vfs_unregister(&walbuf_vfs);
    if (!real || real->iVersion < 2)
        return NULL;
    walbuf_vfs = (sqlite3_vfs){
        .iVersion = 2, .szOsFile = (int)sizeof(wbfile_t) + real->szOsFile,
        .mxPathname = real->mxPathname, .zName = "minqing-walbuf", .pAppData = real,
        .xOpen = wb_open, .xDelete = wb_delete, .xAccess = wb_access,
        .xFullPathname = wb_fullpath, .xRandomness = wb_random, .xSleep = wb_sleep,
        .xCurrentTime = wb_time, .xGetLastError = wb_last_error,
        .xCurrentTimeInt64 = wb_time64,
    };
    return sqlite3_vfs_register(&walbuf_vfs, 0) == SQLITE_OK ? walbuf_vfs.zName : NULL;
}
