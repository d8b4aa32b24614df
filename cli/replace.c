/*
 * replace.c - the broker's database replaced by a copy (minqing restore),
 * such that no crash leaves minqingd a database without its WAL, or none.
 *
 * A database is up to three files: DB, DB-wal, DB-shm. They move together
 * to DB.replaced-STAMP, then the copy is renamed to DB. Between two of those
 * renames a crash would leave DB without its WAL (minqingd would run the old
 * file without its last commits) or no DB (minqingd would create an empty
 * one). So before the first rename a mark, DB.restoring, is put in place,
 * naming where the files go and which copy takes their place (by name and
 * inode); it goes only once the copy is in place. minqingd refuses to start
 * beside it (store.c), and the next restore reads it:
 *   - the copy is DB (same inode): the earlier restore had finished; the
 *     mark goes;
 *   - else each part that is under the replaced name and not under DB is put
 *     back, and the copy goes. A part under both names (someone opened a new
 *     DB meanwhile) stops it: no WAL is ever put beside a file not its own.
 * Nothing is guessed: a mark that cannot be read stops the restore too.
 */
#include "cli.h"
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The database's files: never one moved without the others. */
static const char *const part[] = {"", "-wal", "-shm"};
#define NPARTS 3

typedef struct {
    char replaced[4200], copy[4200];
    unsigned long long dev, ino;        /* the copy's */
} mark_t;

static const char *named(char *buf, size_t len, const char *base, const char *suffix)
{
    snprintf(buf, len, "%s%s", base, suffix);
    return buf;
}

static bool exists(const char *base, const char *suffix)
{
    char path[4300];
    return access(named(path, sizeof path, base, suffix), F_OK) == 0;
}

/* Whether `path` is the file with that inode. */
static bool is_file(const char *path, unsigned long long dev, unsigned long long ino)
{
    struct stat st;
    return stat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

/* ---- the mark ----------------------------------------------------------- */

/* Written beside, synced, then renamed into place: a mark is whole or absent. */
static int mark_write(const char *db, const mark_t *m)
{
    char mark[4300], tmp[4400];
    named(mark, sizeof mark, db, STORE_RESTORING);
    named(tmp, sizeof tmp, mark, ".new-XXXXXX");
    int fd = mkstemp(tmp);
    if (fd < 0)
        return -1;
    bool ok = dprintf(fd, "replaced %s\ncopy %s\ninode %llu %llu\n", m->replaced, m->copy,
                      m->dev, m->ino) > 0 && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok || dbfile_put(tmp, mark) != 0) {
        e = ok ? errno : e;
        unlink(tmp);
        errno = e;
        return -1;
    }
    if (dbfile_sync(mark, true) != 0) {     /* nothing moved yet: take it back */
        e = errno;
        unlink(mark);
        errno = e;
        return -1;
    }
    return 0;
}

static void mark_drop(const char *db)
{
    char mark[4300];
    unlink(named(mark, sizeof mark, db, STORE_RESTORING));
    dbfile_sync(mark, true);
}

/* Read a line "KEY VALUE" into value; 0 or -1. */
static int mark_line(FILE *f, const char *key, char *value, size_t len)
{
    char line[4400];
    size_t k = strlen(key);
    if (!fgets(line, sizeof line, f) || strncmp(line, key, k) != 0 || line[k] != ' ')
        return -1;
    line[strcspn(line, "\n")] = '\0';
    snprintf(value, len, "%s", line + k + 1);
    return 0;
}

/* 1 with the mark read, 0 when there is none, -1 when it cannot be read. */
static int mark_read(const char *db, mark_t *m)
{
    char mark[4300], inode[64];
    FILE *f = fopen(named(mark, sizeof mark, db, STORE_RESTORING), "r");
    if (!f)
        return errno == ENOENT ? 0 : -1;
    int bad = mark_line(f, "replaced", m->replaced, sizeof m->replaced) ||
              mark_line(f, "copy", m->copy, sizeof m->copy) ||
              mark_line(f, "inode", inode, sizeof inode) ||
              sscanf(inode, "%llu %llu", &m->dev, &m->ino) != 2;
    fclose(f);
    if (bad)
        errno = EBADMSG;
    return bad ? -1 : 1;
}

/* ---- moving ------------------------------------------------------------- */

/* Undo what a swap moved: every part under the replaced name goes back
 * under db's, unless one is under both (then nothing moves), and the copy
 * goes. 0, or -1 with the reason in why. */
static int put_back(const char *db, const mark_t *m, char *why, size_t len)
{
    for (int i = 0; i < NPARTS; i++)
        if (exists(db, part[i]) && exists(m->replaced, part[i])) {
            snprintf(why, len, "both %s%s and %s%s exist", db, part[i], m->replaced, part[i]);
            return -1;
        }
    for (int i = 0; i < NPARTS; i++) {
        char from[4300], to[4300];
        if (exists(m->replaced, part[i]) &&
            rename(named(from, sizeof from, m->replaced, part[i]),
                   named(to, sizeof to, db, part[i])) != 0) {
            snprintf(why, len, "%s: cannot rename it back to %s: %s", from, to, strerror(errno));
            return -1;
        }
    }
    if (is_file(m->copy, m->dev, m->ino))
        unlink(m->copy);
    dbfile_sync(db, true);
    return 0;
}

int replace_recover(const char *db, char *said, size_t len)
{
    mark_t m;
    char why[9000];
    said[0] = '\0';
    int rc = mark_read(db, &m);
    if (rc <= 0) {
        if (rc < 0)
            snprintf(said, len, "%s%s: cannot read it (%s). An earlier restore was interrupted: "
                     "put the files it names back by hand, then remove it", db, STORE_RESTORING,
                     strerror(errno));
        return rc;
    }
    if (is_file(db, m.dev, m.ino)) {
        if (strcmp(m.copy, db) != 0 && is_file(m.copy, m.dev, m.ino))
            unlink(m.copy);                 /* a hard link's leftover (NFS) */
        mark_drop(db);
        snprintf(said, len, "an earlier restore had finished: its copy is %s, and the database "
                 "it replaced %s", db, m.replaced);
        return 0;
    }
    if (put_back(db, &m, why, sizeof why) != 0) {
        snprintf(said, len, "%s%s: an earlier restore was interrupted, and what it moved cannot "
                 "be put back: %s. Nothing more was changed; minqingd will not start until "
                 "the files are put back by hand and the mark removed", db, STORE_RESTORING, why);
        return -1;
    }
    mark_drop(db);
    snprintf(said, len, "an earlier restore was interrupted: put back what it had moved "
             "(from %s)", m.replaced);
    return 0;
}

/* A name for the replaced database that none of its parts has yet. */
static void name_replaced(const char *db, char *out, size_t len)
{
    char stamp[32];
    time_t now = time(NULL);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&now));
    for (int n = 1;; n++) {
        snprintf(out, len, n == 1 ? "%s.replaced-%s" : "%s.replaced-%s-%d", db, stamp, n);
        bool taken = false;
        for (int i = 0; i < NPARTS; i++)
            taken |= exists(out, part[i]);
        if (!taken)
            return;
    }
}

int replace_swap(const char *db, const char *copy, char *replaced, size_t rlen, char *why,
                 size_t wlen)
{
    mark_t m;
    struct stat st;
    if (stat(copy, &st) != 0) {
        snprintf(why, wlen, "%s: %s. Nothing was changed", copy, strerror(errno));
        return -1;
    }
    name_replaced(db, m.replaced, sizeof m.replaced);
    snprintf(m.copy, sizeof m.copy, "%s", copy);
    m.dev = st.st_dev, m.ino = st.st_ino;
    if (mark_write(db, &m) != 0) {
        snprintf(why, wlen, "cannot write %s%s: %s. Nothing was changed", db, STORE_RESTORING,
                 strerror(errno));
        return -1;
    }
    bool had_db = exists(db, "");
    int i = 0;
    for (; i < NPARTS; i++) {
        char from[4300], to[4300];
        if (dbfile_put(named(from, sizeof from, db, part[i]),
                       named(to, sizeof to, m.replaced, part[i])) != 0 && errno != ENOENT)
            break;
    }
    if (i == NPARTS && dbfile_put(copy, db) == 0) {
        dbfile_sync(db, true);              /* the rename is on disk before the mark goes */
        mark_drop(db);
        snprintf(replaced, rlen, "%s", had_db ? m.replaced : "");
        return 0;
    }
    char undo[9000];
    int e = errno;
    if (put_back(db, &m, undo, sizeof undo) != 0) {
        snprintf(why, wlen, "cannot move %s aside for the copy (%s), nor put it back (%s): "
                 "run minqing restore again", db, strerror(e), undo);
        return -1;
    }
    mark_drop(db);
    snprintf(why, wlen, "cannot move %s aside for the copy: %s. The database is as it was", db,
             strerror(e));
    return -1;
}

/* mkstemp's names: NAME.restore- and six letters or digits. */
static bool stale_copy(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0 || strlen(name) != n + 6)
        return false;
    for (size_t i = n; i < n + 6; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'z') ||
              (name[i] >= 'A' && name[i] <= 'Z')))
            return false;
    return true;
}

void replace_stale_copies(const char *db, void (*fn)(const char *path))
{
    char dir[4300], base[4300], prefix[4400];
    snprintf(dir, sizeof dir, "%s", db);
    snprintf(base, sizeof base, "%s", db);
    snprintf(prefix, sizeof prefix, "%s.restore-", basename(base));
    const char *in = dirname(dir);
    DIR *d = opendir(in);
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[8800];
        if (stale_copy(e->d_name, prefix)) {
            snprintf(path, sizeof path, "%s/%s", in, e->d_name);
            fn(path);
        }
    }
    if (d)
        closedir(d);
}
