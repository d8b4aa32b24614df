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
 * refuses to start beside it (store.c), the CLI's readers too (db.c), and
 * the next restore reads it:
 *   - the copy is DB (same inode): the earlier restore had finished; the
 *     mark goes;
 *   - else each part under the replaced name goes back under DB's (DB
 *     first), and the copy goes (clear_way): unless DB was written to while
 *     its WAL was aside (the mark holds DB's size and mtime), or a part is
 *     under both names as two files (someone made a new DB meanwhile): no
 *     WAL is ever put beside a file not its own. One file under both names
 *     (a hard link, on NFS, whose unlink did not happen) loses the replaced
 *     name; a -shm or an empty -wal a reader made under DB's name goes.
 * Nothing is guessed: a mark that cannot be read, or that names files other
 * than DB's own, stops the restore too (a mark is only ever root's or the
 * database owner's, and restore often runs as root). A mark a kill left
 * half-written beside (DB.restoring.new-, before its rename into place)
 * preceded every move, so the next restore removes it; a stray copy it
 * only names, as its name alone does not prove it is not the operator's.
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

/* A file as it was: a copy taken for another, or a database changed while
 * its WAL was aside, does not match. */
typedef struct {
    unsigned long long dev, ino, size, mtime_ns;
} ident_t;

typedef struct {
    char replaced[4200], copy[4200];
    ident_t copy_id, db_id;             /* db_id all 0: there was no DB */
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

static int ident(const char *path, ident_t *id)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    *id = (ident_t){st.st_dev, st.st_ino, (unsigned long long)st.st_size,
                    (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
                        (unsigned long long)st.st_mtim.tv_nsec};
    return 0;
}

/* Whether `path` is that file, unchanged. */
static bool is_file(const char *path, const ident_t *id)
{
    ident_t now;
    return ident(path, &now) == 0 && memcmp(&now, id, sizeof now) == 0;
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
    const ident_t *c = &m->copy_id, *d = &m->db_id;
    bool ok = dprintf(fd, "replaced %s\ncopy %s\ncopy_id %llu %llu %llu %llu\n"
                      "db_id %llu %llu %llu %llu\n", m->replaced, m->copy, c->dev, c->ino,
                      c->size, c->mtime_ns, d->dev, d->ino, d->size, d->mtime_ns) > 0 &&
              fsync(fd) == 0;
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

/* 0, or -1 (errno) with the mark still there. Its removal is synced when
 * it can be: a mark back after a power loss only makes the next restore
 * find the copy in place. */
static int mark_drop(const char *db)
{
    char mark[4300];
    if (unlink(named(mark, sizeof mark, db, STORE_RESTORING)) != 0)
        return -1;
    dbfile_sync(mark, true);
    return 0;
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

/* A mark that a restore wrote: a file of its own (not a link), root's, ours
 * or the database directory's owner's (who may rename those files anyway),
 * naming only DB's replaced name and one of its copies. */
static bool mark_sound(FILE *f, const char *db, const mark_t *m)
{
    struct stat st, dir;
    char path[4300];
    snprintf(path, sizeof path, "%s", db);
    bool dir_owner = stat(dirname(path), &dir) == 0;
    return fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
           (st.st_uid == 0 || st.st_uid == geteuid() || (dir_owner && st.st_uid == dir.st_uid)) &&
           name_of(m->replaced, db, ".replaced-", 0, "0123456789-") &&
           name_of(m->copy, db, ".restore-", 6, CLI_MKSTEMP_CHARS);
}

/* 1 with the mark read, 0 when there is none, -1 when it cannot be read or
 * is not a restore's. */
static int mark_read(const char *db, mark_t *m)
{
    char mark[4300], cid[128], did[128];
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
              mark_line(f, "copy_id", cid, sizeof cid) || mark_line(f, "db_id", did, sizeof did) ||
              sscanf(cid, "%llu %llu %llu %llu", &m->copy_id.dev, &m->copy_id.ino,
                     &m->copy_id.size, &m->copy_id.mtime_ns) != 4 ||
              sscanf(did, "%llu %llu %llu %llu", &m->db_id.dev, &m->db_id.ino,
                     &m->db_id.size, &m->db_id.mtime_ns) != 4 ||
              !mark_sound(f, db, m);
    fclose(f);
    if (bad)
        errno = EBADMSG;
    return bad ? -1 : 1;
}

/* ---- moving ------------------------------------------------------------- */

static bool empty(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && st.st_size == 0;
}

/* What stands in the way of putting the parts back. The database must be
 * as it was while its WAL or journal was aside (else they would not fit
 * it). A part under both names as one file is a hard link whose unlink did
 * not happen (NFS): the replaced name goes. Under DB's name, a -shm (an
 * index SQLite rebuilds) or an empty -wal, which a reader may have made
 * meanwhile, goes. Anything else under both names stops it. */
static int clear_way(const char *db, const mark_t *m, char *why, size_t len)
{
    char main[4300];
    const char *at = exists(m->replaced, "") ? m->replaced : db;
    if ((exists(m->replaced, "-wal") || exists(m->replaced, "-journal")) && m->db_id.ino &&
        exists(at, "") && !is_file(named(main, sizeof main, at, ""), &m->db_id)) {
        snprintf(why, len, "%s was changed while its WAL was aside", main);
        return -1;
    }
    for (int i = 0; i < NPARTS; i++) {
        char here[4300], there[4300];
        named(here, sizeof here, db, part[i]);
        named(there, sizeof there, m->replaced, part[i]);
        if (access(here, F_OK) != 0 || access(there, F_OK) != 0)
            continue;
        const char *drop = same_file(here, there) ? there
                           : strcmp(part[i], "-shm") == 0 ||
                                     (strcmp(part[i], "-wal") == 0 && empty(here)) ? here
                           : NULL;
        if (!drop) {
            snprintf(why, len, "both %s and %s exist", here, there);
            return -1;
        }
        if (unlink(drop) != 0) {
            snprintf(why, len, "%s: %s", drop, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* Undo what a swap moved: every part under the replaced name goes back
 * under db's (DB first), once the way is clear, and the copy goes. 0, or
 * -1 with the reason in why. */
static int put_back(const char *db, const mark_t *m, char *why, size_t len)
{
    if (clear_way(db, m, why, len) != 0)
        return -1;
    for (int i = NPARTS - 1; i >= 0; i--) {
        char from[4300], to[4300];
        if (exists(m->replaced, part[i]) &&
            rename(named(from, sizeof from, m->replaced, part[i]),
                   named(to, sizeof to, db, part[i])) != 0) {
            snprintf(why, len, "%s: cannot rename it back to %s: %s", from, to, strerror(errno));
            return -1;
        }
    }
    if (is_file(m->copy, &m->copy_id))
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
            snprintf(said, len, "%s%s: cannot read it, or it is not a restore's (%s: it "
                     "must be a plain file of root's or the database directory's owner, "
                     "naming the database's own files). An earlier restore was interrupted: "
                     "put the files it names back by hand, then remove it", db,
                     STORE_RESTORING, strerror(errno));
        return rc;
    }
    if (is_file(db, &m.copy_id)) {
        if (is_file(m.copy, &m.copy_id))
            unlink(m.copy);                 /* a hard link's leftover (NFS) */
        if (dropped(db, said, len))
            return -1;
        snprintf(said, len, "an earlier restore had finished: its copy is %s, and the database "
                 "it replaced %s", db, m.replaced);
        return 0;
    }
    if (put_back(db, &m, why, sizeof why) != 0) {
        snprintf(said, len, "%s%s: an earlier restore was interrupted, and what it moved cannot "
                 "be put back: %s. The mark stays, so minqingd will not start: put the files "
                 "back by hand and remove the mark, or mend the cause and run minqing restore "
                 "again", db, STORE_RESTORING, why);
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
    mark_t m = {0};
    if (ident(copy, &m.copy_id) != 0) {
        snprintf(why, wlen, "%s: %s. Nothing was changed", copy, strerror(errno));
        return -1;
    }
    if (ident(db, &m.db_id) != 0 && errno != ENOENT) {
        snprintf(why, wlen, "%s: %s. Nothing was changed", db, strerror(errno));
        return -1;
    }
    name_replaced(db, m.replaced, sizeof m.replaced);
    snprintf(m.copy, sizeof m.copy, "%s", copy);
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

/* Call fn(path, arg) for each file beside db whose name is db's, then
 * `tail` and the six characters mkstemp chose, with (sides) -journal, -wal
 * or -shm after them or not. */
static void each_beside(const char *db, const char *tail, bool sides,
                        void (*fn)(const char *path, void *arg), void *arg)
{
    char dir[4300], base[4300], prefix[4400];
    snprintf(dir, sizeof dir, "%s", db);
    snprintf(base, sizeof base, "%s", db);
    snprintf(prefix, sizeof prefix, "%s%s", basename(base), tail);
    const char *in = dirname(dir);
    DIR *d = opendir(in);
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[8800], name[300];
        snprintf(name, sizeof name, "%s", e->d_name);
        static const char *const side[] = {"-journal", "-wal", "-shm"};
        size_t n = strlen(name);
        for (size_t i = 0; sides && i < sizeof side / sizeof side[0]; i++) {
            size_t k = strlen(side[i]);
            if (n > k && strcmp(name + n - k, side[i]) == 0) {
                name[n - k] = '\0';
                break;
            }
        }
        if (!name_of(name, prefix, "", 6, CLI_MKSTEMP_CHARS))
            continue;
        snprintf(path, sizeof path, "%s/%s", in, e->d_name);
        fn(path, arg);
    }
    if (d)
        closedir(d);
}

typedef struct {
    const char *except;
    void (*fn)(const char *path);
} copies_t;

static void stale_copy(const char *path, void *arg)
{
    const copies_t *c = arg;
    if (!(c->except && same_file(path, c->except)))
        c->fn(path);
}

void replace_stale_copies(const char *db, const char *except, void (*fn)(const char *path))
{
    /* a copy's journal, from a kill while it was made; its -wal and -shm,
     * from a kill while a WAL-mode backup was turned to rollback */
    copies_t c = {except, fn};
    each_beside(db, ".restore-", true, stale_copy, &c);
}

/* Whether the file at path is a mark that mark_write began: empty (killed
 * before a byte was written), or beginning as a mark of db does. A file of
 * that name with anything else in it is not restore's to remove. */
static bool unplaced_mark(const char *path, const char *db)
{
    char head[4400], want[4400];
    struct stat st;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    ssize_t n = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < 16384
                    ? read(fd, head, sizeof head) : -1;
    if (fd >= 0)
        close(fd);
    int k = snprintf(want, sizeof want, "replaced %s.replaced-", db);
    return n >= 0 && memcmp(head, want, (size_t)(n < k ? n : k)) == 0;
}

typedef struct {
    const char *db;
    void (*fn)(const char *path, bool removed);
} marks_t;

static void stale_mark(const char *path, void *arg)
{
    const marks_t *m = arg;
    m->fn(path, unplaced_mark(path, m->db) && unlink(path) == 0);
}

void replace_stale_marks(const char *db, void (*fn)(const char *path, bool removed))
{
    marks_t m = {db, fn};
    each_beside(db, STORE_RESTORING ".new-", false, stale_mark, &m);
}
