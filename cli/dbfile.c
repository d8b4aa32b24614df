/*
 * dbfile.c - the database as a file, for backup and restore: a copy made
 * with SQLite's backup API into a new file, an fsync, and a rename that
 * never replaces what is there.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* path with its directory resolved (realpath), its last part as it is:
 * SQLITE_OPEN_NOFOLLOW refuses a symlink anywhere in the path, and a
 * database or backup directory may well be one (/var/lib/minqing -> /srv). */
static int resolve_dir(const char *path, char *out, size_t len)
{
    char dir[PATH_MAX], base[PATH_MAX], real[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    snprintf(base, sizeof base, "%s", path);
    errno = 0;
    if (!realpath(dirname(dir), real))
        return -1;
    return snprintf(out, len, "%s/%s", real, basename(base)) < (int)len ? 0 : -1;
}

/* Whether a failed copy at path ran out of space. SQLite says SQLITE_FULL
 * for a write it knows to be short, but a disk I/O error for others (a -shm
 * grown, a sync), which the system call's errno tells apart, and "unable to
 * open" for a -wal it could not create, whose errno its retry read-only
 * replaced: then the file system is asked whether a block or inode is left. */
static bool out_of_space(sqlite3 *db, int rc, const char *path)
{
    int e = db ? sqlite3_system_errno(db) : 0;
    if ((rc & 0xff) == SQLITE_FULL || e == ENOSPC || e == EDQUOT)
        return true;
    char dir[PATH_MAX];
    struct statvfs fs;
    snprintf(dir, sizeof dir, "%s", path);
    return ((rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_CANTOPEN) &&
           statvfs(dirname(dir), &fs) == 0 && (fs.f_bavail == 0 || (fs.f_files && !fs.f_favail));
}

/* why, for a copy that ran out of space: that first, SQLite's words after. */
static void full(char *why, size_t len)
{
    char said[200];
    snprintf(said, sizeof said, "%s", why);
    snprintf(why, len, "no space left on its file system (%s)", said);
}

int dbfile_copy(sqlite3 *src, const char *path, const char *then_sql, int *pages, char *why,
                size_t len)
{
    sqlite3 *out = NULL;
    char at[PATH_MAX];
    /* the copy is reopened by name, as root, in a directory its user may
     * write to: a symlink swapped in for it meanwhile must not be followed */
    if (resolve_dir(path, at, sizeof at)) {
        snprintf(why, len, "%s: %s", path, strerror(errno ? errno : ENAMETOOLONG));
        return SQLITE_CANTOPEN;
    }
    int rc = sqlite3_open_v2(at, &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
    /* no rollback journal: a failed copy is thrown away whole, and a journal
     * would be one more file to leave behind. Exclusive: the copy of a WAL
     * database is opened in WAL mode by the next statement, then_sql's, and
     * its WAL index is then kept in memory, not in a -shm file beside it,
     * which a nearly full disk cannot take (and a failure would leave) */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(out, "PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = OFF",
                          NULL, NULL, NULL);
    sqlite3_backup *b = rc == SQLITE_OK ? sqlite3_backup_init(out, "main", src, "main") : NULL;
    if (b) {
        for (int tries = 0; tries < 250; tries++) {     /* 5 s of a busy source at most */
            rc = sqlite3_backup_step(b, -1);
            if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
                break;
            sqlite3_sleep(20);
        }
        *pages = sqlite3_backup_pagecount(b);
        sqlite3_backup_finish(b);
    }
    snprintf(why, len, "%s", rc == SQLITE_DONE ? "" : b ? sqlite3_errstr(rc) : sqlite3_errmsg(out));
    if (rc == SQLITE_DONE && then_sql &&
        sqlite3_exec(out, then_sql, NULL, NULL, NULL) != SQLITE_OK) {
        rc = sqlite3_errcode(out);
        snprintf(why, len, "%s", sqlite3_errmsg(out));
    }
    if (rc != SQLITE_DONE && out_of_space(out, rc, at))
        full(why, len);
    if (sqlite3_close(out) != SQLITE_OK && rc == SQLITE_DONE)
        rc = SQLITE_IOERR, snprintf(why, len, "closing the copy failed");
    return rc;
}

void dbfile_remove(const char *path)
{
    static const char *const sides[] = {"", "-wal", "-shm", "-journal"};
    char side[PATH_MAX + 16];
    for (size_t i = 0; i < sizeof sides / sizeof sides[0]; i++) {
        snprintf(side, sizeof side, "%s%s", path, sides[i]);
        unlink(side);
    }
}

int dbfile_sync(const char *path, bool dir)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    int fd = open(dir ? dirname(buf) : buf, O_RDONLY | O_CLOEXEC);
    int rc = fd >= 0 ? fsync(fd) : -1;
    if (fd >= 0)
        close(fd);
    return rc;
}

/* NFS and some FUSE file systems know no RENAME_NOREPLACE: there a hard
 * link does the same. */
int dbfile_put(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL || link(from, to) != 0)
        return -1;
    if (unlink(from) == 0)
        return 0;
    int e = errno;                  /* one file under two names: not moved */
    unlink(to);
    errno = e;
    return -1;
}
