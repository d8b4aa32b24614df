/*
 * replace.c - the broker's database replaced by a copy (minqing restore),
 * such that no crash leaves minqingd a database without its WAL, or none.
 *
 * A database is up to four files: DB and its -shm, -wal and -journal. They
 * move together to DB.replaced-STAMP, DB itself last, so that no WAL is ever
 * left under DB's name without its DB (SQLite deletes a WAL it finds beside a
 * missing or empty database); then the copy is renamed to DB. Between two of
 * those renames a crash would leave DB without its WAL (minqingd would run
 * the old file without its last commits) or no DB (minqingd would create an
 * empty one). So before the first rename a mark, DB.restoring, is put in
 * place, naming where the files go and which copy takes their place (by name
 * and inode); it goes only once the copy is in place and synced. minqingd
 * refuses to start beside it (store.c), and the next restore reads it:
 *   - the copy is DB (same inode): the earlier restore had finished; the
 *     mark goes;
 *   - else each part under the replaced name goes back under DB's (DB
 *     first), and the copy goes. A part under both names as two files
 *     (someone made a new DB meanwhile) stops it: no WAL is ever put beside
 *     a file not its own. As one file (a hard link, on NFS, whose unlink did
 *     not happen) the replaced name is dropped.
 * Nothing is guessed: a mark that cannot be read, or that names files other
 * than DB's own, stops the restore too (a mark is only ever root's or the
 * database owner's, and restore often runs as root).
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

/* The database's files, in the order they move aside (DB last); they come
 * back in the other order. */
static const char *const part[] = {"-shm", "-wal", "-journal", ""};
#define NPARTS 4

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

/* Whether two parts' names are one file (a hard link). */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Whether `name` is `base` followed by `tail`, then a suffix of n characters
 * from `set` (n 0: one or more). */
static bool name_of(const char *name, const char *base, const char *tail, size_t n,
                    const char *set)
{
    size_t b = strlen(base), t = strlen(tail);
    if (strncmp(name, base, b) != 0 || strncmp(name + b, tail, t) != 0)
        return false;
    const char *rest = name + b + t;
    size_t len = strlen(rest);
    return len > 0 && (n == 0 || len == n) && strspn(rest, set) == len;
}

#define ALNUM "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

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

/* 0, or -1 (errno) with the mark still there. */
static int mark_drop(const char *db)
{
    char mark[4300];
    if (unlink(named(mark, sizeof mark, db, STORE_RESTORING)) != 0)
        return -1;
    return dbfile_sync(mark, true);
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

/* A mark that a restore wrote: a file of its own (not a link), root's or
 * ours, naming only DB's replaced name and one of its copies. */
static bool mark_sound(FILE *f, const char *db, const mark_t *m)
{
    struct stat st;
    return fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
           (st.st_uid == 0 || st.st_uid == geteuid()) &&
           name_of(m->replaced, db, ".replaced-", 0, "0123456789-") &&
           name_of(m->copy, db, ".restore-", 6, ALNUM);
}

/* 1 with the mark read, 0 when there is none, -1 when it cannot be read or
 * is not a restore's. */
static int mark_read(const char *db, mark_t *m)
{
    char mark[4300], inode[64];
    int fd = open(named(mark, sizeof mark, db, STORE_RESTORING), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return -1;
    }
    int bad = mark_line(f, "replaced", m->replaced, sizeof m->replaced) ||
              mark_line(f, "copy", m->copy, sizeof m->copy) ||
              mark_line(f, "inode", inode, sizeof inode) ||
              sscanf(inode, "%llu %llu", &m->dev, &m->ino) != 2 || !mark_sound(f, db, m);
    fclose(f);
    if (bad)
        errno = EBADMSG;
    return bad ? -1 : 1;
}

/* ---- moving ------------------------------------------------------------- */

/* Undo what a swap moved: every part under the replaced name goes back
 * under db's (DB first), unless one is there as another file (then nothing
 * moves), and the copy goes. 0, or -1 with the reason in why. */
static int put_back(const char *db, const mark_t *m, char *why, size_t len)
{
    for (int i = 0; i < NPARTS; i++) {
        char here[4300], there[4300];
        named(here, sizeof here, db, part[i]);
        named(there, sizeof there, m->replaced, part[i]);
        if (access(here, F_OK) != 0 || access(there, F_OK) != 0)
            continue;
        if (!same_file(here, there)) {
            snprintf(why, len, "both %s and %s exist", here, there);
            return -1;
        }
        if (unlink(there) != 0) {           /* a link whose unlink did not happen */
            snprintf(why, len, "%s: %s", there, strerror(errno));
            return -1;
        }
    }
    for (int i = NPARTS - 1; i >= 0; i--) {
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
    if (dbfile_sync(db, true) != 0) {
        snprintf(why, len, "%s: its directory cannot be synced: %s", db, strerror(errno));
        return -1;
    }
    return 0;
}

/* The mark is gone, or `said` says why it is not. */
static int dropped(const char *db, char *said, size_t len)
{
    if (mark_drop(db) == 0)
        return 0;
    snprintf(said, len, "%s%s: cannot remove it (%s); minqingd will not start beside it",
             db, STORE_RESTORING, strerror(errno));
    return -1;
}

int replace_recover(const char *db, char *said, size_t len)
{
    mark_t m;
    char why[9000];
    said[0] = '\0';
    int rc = mark_read(db, &m);
    if (rc <= 0) {
        if (rc < 0)
            snprintf(said, len, "%s%s: cannot read it, or it is not a restore's (%s). An "
                     "earlier restore was interrupted: put the files it names back by hand, "
                     "then remove it", db, STORE_RESTORING, strerror(errno));
        return rc;
    }
    if (is_file(db, m.dev, m.ino)) {
        if (is_file(m.copy, m.dev, m.ino))
            unlink(m.copy);                 /* a hard link's leftover (NFS) */
        if (dropped(db, said, len))
            return -1;
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
    if (dropped(db, said, len))
        return -1;
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

/* Move every part aside, DB last: 0, or -1 (errno) at the first failure;
 * *moved tells whether any part moved. */
static int move_aside(const char *db, const mark_t *m, bool *moved)
{
    for (int i = 0; i < NPARTS; i++) {
        char from[4300], to[4300];
        if (dbfile_put(named(from, sizeof from, db, part[i]),
                       named(to, sizeof to, m->replaced, part[i])) == 0)
            *moved = true;
        else if (errno != ENOENT)
            return -1;
    }
    return 0;
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
    bool moved = false;
    if (move_aside(db, &m, &moved) == 0 && dbfile_put(copy, db) == 0) {
        snprintf(replaced, rlen, "%s", moved ? m.replaced : "");
        /* the rename is on disk before the mark goes */
        if (dbfile_sync(db, true) != 0) {
            snprintf(why, wlen, "the copy is in place as %s, but its directory cannot be "
                     "synced (%s): run minqing restore again", db, strerror(errno));
            return -1;
        }
        return dropped(db, why, wlen);
    }
    char undo[9000];
    int e = errno;
    if (put_back(db, &m, undo, sizeof undo) != 0) {
        snprintf(why, wlen, "cannot move %s aside for the copy (%s), nor put it back (%s): "
                 "run minqing restore again", db, strerror(e), undo);
        return -1;
    }
    if (dropped(db, why, wlen))
        return -1;
    snprintf(why, wlen, "cannot move %s aside for the copy: %s. The database is as it was", db,
             strerror(e));
    return -1;
}

void replace_stale_copies(const char *db, const char *except, void (*fn)(const char *path))
{
    char dir[4300], base[4300], prefix[4400];
    snprintf(dir, sizeof dir, "%s", db);
    snprintf(base, sizeof base, "%s", db);
    snprintf(prefix, sizeof prefix, "%s.restore-", basename(base));
    const char *in = dirname(dir);
    DIR *d = opendir(in);
    struct stat skip;
    bool skipping = except && stat(except, &skip) == 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[8800], name[300];
        snprintf(name, sizeof name, "%s", e->d_name);
        size_t n = strlen(name);
        if (n > 8 && strcmp(name + n - 8, "-journal") == 0)
            name[n - 8] = '\0';             /* a copy's journal, from a kill while it was made */
        if (!name_of(name, prefix, "", 6, ALNUM))
            continue;
        snprintf(path, sizeof path, "%s/%s", in, e->d_name);
        if (!(skipping && is_file(path, skip.st_dev, skip.st_ino)))
            fn(path);
    }
    if (d)
        closedir(d);
}
