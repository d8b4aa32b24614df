/*
 * test_walbuf.c - unit tests for the WAL write-gathering VFS
 * (daemon/walbuf.c): what a commit writes reaches the file before its sync,
 * and a sync of the WAL is dropped only when nothing was written to it, by
 * any connection, since a sync of it succeeded.
 *
 * Under the walbuf VFS sits a counting shim over SQLite's "unix" VFS: it
 * counts the syncs that reach the real WAL file, and can make them, or the
 * WAL's writes (a full disk), fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io_shim.h"
#include "walbuf.h"

static sqlite3_vfs g_shim, *g_unix;
static const char *g_walbuf;
static int g_wal_syncs, g_db_syncs;
static bool g_sync_fails, g_wal_full;
static char g_dir[64], g_path[96];

/* The WAL files open through the shim, told apart from the database by the
 * open flags; each opened file gets a method table with xSync and xClose
 * replaced. */
static sqlite3_file *g_wals[8];
static io_shim_t g_io[IO_SHIM_PAIRS];

static bool is_wal(sqlite3_file *f)
{
    for (size_t i = 0; i < sizeof g_wals / sizeof g_wals[0]; i++)
        if (g_wals[i] == f)
            return true;
    return false;
}

static int shim_sync(sqlite3_file *f, int flags)
{
    if (g_sync_fails)
        return SQLITE_IOERR_FSYNC;
    if (is_wal(f))
        g_wal_syncs++;
    else
        g_db_syncs++;
    return io_shim_real(g_io, f)->xSync(f, flags);
}

static int shim_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    if (g_wal_full && is_wal(f))
        return SQLITE_FULL;
    return io_shim_real(g_io, f)->xWrite(f, p, n, off);
}

static int shim_close(sqlite3_file *f)
{
    for (size_t i = 0; i < sizeof g_wals / sizeof g_wals[0]; i++)
        if (g_wals[i] == f)
            g_wals[i] = NULL;
    return io_shim_real(g_io, f)->xClose(f);
}

static void edit_io(sqlite3_io_methods *m)
{
    m->xSync = shim_sync;
    m->xWrite = shim_write;
    m->xClose = shim_close;
}

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)vfs;
    int rc = g_unix->xOpen(g_unix, name, f, flags, out);
    if (rc != SQLITE_OK || !f->pMethods)
        return rc;
    if ((rc = io_shim_swap(g_io, f, edit_io)) != SQLITE_OK)
        return rc;
    if (flags & SQLITE_OPEN_WAL)
        for (size_t k = 0; k < sizeof g_wals / sizeof g_wals[0]; k++)
            if (!g_wals[k]) {
                g_wals[k] = f;
                break;
            }
    return SQLITE_OK;
}

static int group_setup(void **state)
{
    (void)state;
    g_unix = sqlite3_vfs_find("unix");
    if (!g_unix)
        return -1;
    g_shim = *g_unix;
    g_shim.zName = "mq-test-count";
    g_shim.xOpen = shim_open;
    g_shim.pNext = NULL;
    if (sqlite3_vfs_register(&g_shim, 1) != SQLITE_OK)
        return -1;
    g_walbuf = walbuf_register();        /* over the default: the shim */
    return g_walbuf ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/mq-walbuf.XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_path, sizeof g_path, "%s/t.db", g_dir);
    g_wal_syncs = g_db_syncs = 0;
    g_sync_fails = g_wal_full = false;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char p[128];
    static const char *const files[] = {"t.db", "t.db-wal", "t.db-shm", "c.db", "c.db-wal"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, files[i]);
        unlink(p);
    }
    rmdir(g_dir);
    return 0;
}

static sqlite3 *open_db(void)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(g_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                     g_walbuf), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                                  "PRAGMA wal_autocheckpoint = 0", NULL, NULL, NULL), SQLITE_OK);
    return db;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
}

static int count_rows(sqlite3 *db)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Each commit syncs the WAL once; a checkpoint then copies frames that are
 * all synced already, and syncs only the database file. */
static void checkpoint_skips_the_synced_wal(void **state)
{
    (void)state;
    sqlite3 *db = open_db();
    exec_ok(db, "CREATE TABLE t (x TEXT)");
    int before = g_wal_syncs;
    for (int i = 0; i < 5; i++)
        exec_ok(db, "INSERT INTO t VALUES (hex(randomblob(500)))");
    assert_int_equal(g_wal_syncs - before, 5);
    int db_before = g_db_syncs;
    int log = -1, copied = -1;
    assert_int_equal(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log,
                                               &copied), SQLITE_OK);
    assert_true(copied > 0);
    assert_int_equal(copied, log);
    assert_int_equal(g_wal_syncs - before, 5);          /* no sync for nothing */
    assert_true(g_db_syncs > db_before);                /* the database's is kept */
    sqlite3_close(db);
}

/* The skip is shared by every connection to the WAL: what one connection
 * writes makes the next sync real, whichever connection makes it. */
static void a_write_by_another_connection_is_synced(void **state)
{
    (void)state;
    sqlite3 *writer = open_db(), *other = open_db();
    exec_ok(writer, "CREATE TABLE t (x TEXT)");
    exec_ok(writer, "INSERT INTO t VALUES ('a')");
    int before = g_wal_syncs;
    /* the other connection's checkpoint copies frames the writer synced */
    assert_int_equal(sqlite3_wal_checkpoint_v2(other, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
                                               NULL), SQLITE_OK);
    assert_int_equal(g_wal_syncs, before);
    /* the writer's next commit syncs: it wrote (the WAL's new header, as
     * it starts over, then the frame) */
    exec_ok(writer, "INSERT INTO t VALUES ('b')");
    assert_true(g_wal_syncs > before);
    assert_int_equal(count_rows(other), 2);
    sqlite3_close(other);
    sqlite3_close(writer);
}

/* Two handles on one WAL file straight through the VFS, as SQLite opens
 * them (the broker's connection and the checkpointer's). */
static void open_wal(sqlite3_file **f)
{
    sqlite3_vfs *vfs = sqlite3_vfs_find(g_walbuf);
    FILE *db = fopen(g_path, "a");        /* the unix VFS takes a WAL's mode from it */
    assert_non_null(db);
    fclose(db);
    /* SQLite's VFS keeps the name, and looks past its end for URI
     * parameters: it lives as long as the files, zero-filled */
    static char name[128];
    memset(name, 0, sizeof name);
    snprintf(name, sizeof name - 2, "%s-wal", g_path);
    *f = calloc(1, (size_t)vfs->szOsFile);
    assert_non_null(*f);
    int out = 0;
    assert_int_equal(vfs->xOpen(vfs, name, *f, SQLITE_OPEN_WAL | SQLITE_OPEN_CREATE |
                                SQLITE_OPEN_READWRITE, &out), SQLITE_OK);
}

static void close_wal(sqlite3_file **f)
{
    assert_int_equal((*f)->pMethods->xClose(*f), SQLITE_OK);
    free(*f);
    *f = NULL;
}

static void write_and_sync(sqlite3_file *f, sqlite3_int64 off)
{
    char page[512];
    memset(page, 'w', sizeof page);
    assert_int_equal(f->pMethods->xWrite(f, page, (int)sizeof page, off), SQLITE_OK);
    assert_int_equal(f->pMethods->xSync(f, SQLITE_SYNC_NORMAL), SQLITE_OK);
}

/* A sync that failed made nothing durable: the next one, through either
 * handle, is real; one after a good sync with nothing written is not. */
static void a_failed_sync_is_made_again(void **state)
{
    (void)state;
    sqlite3_file *a, *b;
    open_wal(&a);
    open_wal(&b);
    write_and_sync(a, 0);
    int before = g_wal_syncs;
    assert_int_equal(b->pMethods->xSync(b, SQLITE_SYNC_NORMAL), SQLITE_OK);
    assert_int_equal(g_wal_syncs, before);              /* nothing new: dropped */
    char page[512] = {0};
    assert_int_equal(a->pMethods->xWrite(a, page, (int)sizeof page, 512), SQLITE_OK);
    g_sync_fails = true;
    assert_int_not_equal(a->pMethods->xSync(a, SQLITE_SYNC_NORMAL), SQLITE_OK);
    g_sync_fails = false;
    assert_int_equal(b->pMethods->xSync(b, SQLITE_SYNC_NORMAL), SQLITE_OK);
    assert_int_equal(g_wal_syncs, before + 1);          /* b's sync was real */
    assert_int_equal(a->pMethods->xSync(a, SQLITE_SYNC_NORMAL), SQLITE_OK);
    assert_int_equal(g_wal_syncs, before + 1);          /* and covered a's write */
    close_wal(&b);
    close_wal(&a);
}

/* Once no handle has the WAL open, whatever is in it may be unsynced (an
 * earlier process, a failed sync): the first sync after it is opened again
 * is real. */
static void a_reopened_wal_is_synced_once(void **state)
{
    (void)state;
    sqlite3_file *a;
    open_wal(&a);
    write_and_sync(a, 0);
    close_wal(&a);
    open_wal(&a);
    int before = g_wal_syncs;
    assert_int_equal(a->pMethods->xSync(a, SQLITE_SYNC_NORMAL), SQLITE_OK);
    assert_int_equal(a->pMethods->xSync(a, SQLITE_SYNC_NORMAL), SQLITE_OK);
    assert_int_equal(g_wal_syncs, before + 1);
    close_wal(&a);
}

/* Data written through the VFS reads back after a reopen: gathered writes
 * reach the file, at the right offsets, across many commits. */
static void commits_read_back_after_reopen(void **state)
{
    (void)state;
    sqlite3 *db = open_db();
    exec_ok(db, "CREATE TABLE t (x TEXT)");
    for (int i = 0; i < 200; i++)
        exec_ok(db, "INSERT INTO t VALUES (hex(randomblob(300)))");
    sqlite3_close(db);
    db = open_db();
    assert_int_equal(count_rows(db), 200);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* The files as a kill -9 would leave them now (the connection still open),
 * opened and recovered by a fresh connection on the plain unix VFS. */
static sqlite3 *crash_copy(void)
{
    char from[128], to[128];
    snprintf(from, sizeof from, "%s-wal", g_path);
    snprintf(to, sizeof to, "%s/c.db-wal", g_dir);
    copy_file(from, to);
    snprintf(to, sizeof to, "%s/c.db", g_dir);
    copy_file(g_path, to);
    sqlite3 *crashed = NULL;
    assert_int_equal(sqlite3_open_v2(to, &crashed, SQLITE_OPEN_READWRITE, "unix"), SQLITE_OK);
    return crashed;
}

/* A commit the full disk refused (the broker answered 501) stays refused
 * after a crash, also when space returned and the connection went on
 * reading: what the failed flush could not write used to stay held, and the
 * next read wrote it, commit frame and all, so that the recovery after a
 * kill -9 applied it. The crash is a copy of the files taken while the
 * connection is open, recovered by a fresh one. */
static void a_refused_commit_stays_refused_after_a_crash(void **state)
{
    (void)state;
    sqlite3 *db = open_db();
    exec_ok(db, "CREATE TABLE t (x TEXT)");
    exec_ok(db, "INSERT INTO t VALUES ('acknowledged')");
    g_wal_full = true;
    assert_int_equal(sqlite3_exec(db, "INSERT INTO t VALUES ('refused')", NULL, NULL, NULL) & 0xff,
                     SQLITE_FULL);
    g_wal_full = false;
    assert_int_equal(count_rows(db), 1);            /* space is back: it reads on */
    sqlite3 *crashed = crash_copy();
    assert_int_equal(count_rows(crashed), 1);
    sqlite3_close(crashed);
    exec_ok(db, "INSERT INTO t VALUES ('after')"); /* and it writes on */
    assert_int_equal(count_rows(db), 2);
    sqlite3_close(db);
}

/* A transaction that outgrew the page cache spilled pages to the WAL, held
 * in the shim's buffer. A later statement reads one back, the flush before
 * that read hits a full disk, and the spilled frames are dropped. SQLite,
 * told of an I/O error, rolls the whole transaction back: told SQLITE_FULL
 * it undid that one statement and committed the rest over frames that were
 * never in the file, which a crash then lost, with the commits after them,
 * and a live reader found the database malformed. */
static void a_spill_a_full_disk_dropped_rolls_back_whole(void **state)
{
    (void)state;
    sqlite3 *db = open_db();
    exec_ok(db, "PRAGMA cache_size = 8;"
                "CREATE TABLE t (id INTEGER PRIMARY KEY, k INT NOT NULL UNIQUE, v TEXT NOT NULL);"
                "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000) "
                "INSERT INTO t SELECT i, i, printf('%.200c', 'a') FROM c;"
                "PRAGMA wal_checkpoint(TRUNCATE);"
                "BEGIN IMMEDIATE;"
                "UPDATE t SET v = printf('%.200c', 'b') WHERE id <= 1000");   /* spills */
    assert_false(walbuf_take_full());
    g_wal_full = true;
    int rc = sqlite3_exec(db, "UPDATE t SET v = printf('%.200c', 'c') WHERE id <= 3", NULL,
                          NULL, NULL);
    g_wal_full = false;
    assert_int_equal(rc & 0xff, SQLITE_IOERR);
    assert_true(walbuf_take_full());            /* the cause, for the broker's 501 */
    assert_false(walbuf_take_full());
    assert_int_equal(sqlite3_get_autocommit(db), 1);    /* all of it rolled back */
    assert_int_not_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    exec_ok(db, "INSERT INTO t VALUES (3001, 3001, 'after')");  /* and it writes on */
    sqlite3 *crashed = crash_copy();
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(crashed, "SELECT (SELECT count(*) FROM t), (SELECT "
                                        "count(*) FROM t WHERE v GLOB '[bc]*'), "
                                        "(SELECT * FROM pragma_integrity_check)", -1, &st,
                                        NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 3001);
    assert_int_equal(sqlite3_column_int(st, 1), 0);     /* nothing of the spilled one */
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "ok");
    sqlite3_finalize(st);
    sqlite3_close(crashed);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(checkpoint_skips_the_synced_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(a_write_by_another_connection_is_synced, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failed_sync_is_made_again, setup, teardown),
        cmocka_unit_test_setup_teardown(a_reopened_wal_is_synced_once, setup, teardown),
        cmocka_unit_test_setup_teardown(commits_read_back_after_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(a_refused_commit_stays_refused_after_a_crash, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_spill_a_full_disk_dropped_rolls_back_whole, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
