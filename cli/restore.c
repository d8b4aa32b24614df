/*
 * restore.c - `minqing restore BACKUP`: put a backup in place of the broker's
 * database, with minqingd stopped.
 *
 * By hand (stop, mv, install, start) one step is easy to miss and one cannot
 * be done at all. The easy one: the old -wal must leave with its database,
 * or SQLite replays it into the restored file. The impossible one: after the
 * backup was made, the replaced database gave out case, assignment and
 * escalation ids, to residents (受理编号), workers and supervisors, and the
 * restored file would give the same ids again, to other cases. restore reads
 * the replaced database's last ids and writes them into the copy as its id
 * floors (store.h): the broker's new rows start above them.
 *
 * Nothing is deleted: the replaced database is renamed beside the new one,
 * under a mark that keeps minqingd from starting on a half-done restore
 * (replace.c). restore holds the broker's lock ("<database>.lock")
 * throughout, so it refuses to run while minqingd does.
 */
#include "cli.h"
#include "store.h"

#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CMD "restore"

typedef struct {
    const char *db, *backup;
    long skip;                          /* --skip-ids N, or -1 */
    int64_t kept[STORE_IDS_COUNT];      /* the backup's last ids */
    long newer;                         /* the replaced database's cases above the backup's */
    int64_t floor[STORE_IDS_COUNT];     /* the ids new rows start above */
    long cases;                         /* in the backup */
    long last_change;                   /* its last event's time: 0 none */
    char replaced[4300];                /* where the old database went; "" none */
} restore_t;

static void help(void)
{
    printf(
        "usage: minqing restore [-c FILE] [--skip-ids N] BACKUP.db\n"
        "\n"
        "Put BACKUP.db (made by minqing backup) in place of the broker's database.\n"
        "Stop minqingd and the minqing-worker units first; start minqingd, then the\n"
        "workers, after it. The replaced database is kept beside it, renamed\n"
        "DATABASE.replaced-YYYYmmdd-HHMMSS (with its -wal), not deleted.\n"
        "\n"
        "Case, assignment and escalation ids given out after the backup was made are\n"
        "not given out again: new ones start above the replaced database's last ids.\n"
        "A restore killed while it moved files leaves DATABASE.restoring, beside which\n"
        "minqingd does not start: run it again, and it puts back what was moved first.\n"
        "Ctrl-C, SIGTERM or SIGHUP ends it by that signal: while it copies the backup,\n"
        "its copy is removed first and nothing is changed; while it moves the files (a\n"
        "moment), only once they are moved and the restore is reported. A copy left by\n"
        "a restore killed otherwise (SIGKILL, a crash), DATABASE.restore-*, is named\n"
        "in a warning (it holds residents' data: delete it); a mark it began to write,\n"
        "DATABASE.restoring.new-*, is removed (nothing had moved after it).\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE  the broker's config, for its database (default %s)\n"
        "      --skip-ids N   when the replaced database cannot be read, is gone, or\n"
        "                     is behind the backup (minqingd created it empty after\n"
        "                     the loss), start new case, assignment and escalation\n"
        "                     ids N (1 or more) above the backup's. Take a wide\n"
        "                     margin, e.g. 1000000: a gap costs nothing, a reused id\n"
        "                     names another case\n"
        "  -h, --help         this help\n"
        "\n"
        "Exit status: 0 restored; 1 minqingd is running, the backup is damaged or from\n"
        "a newer minqing, the replaced database's ids are unknown, the database path\n"
        "is relative, a file cannot be written (the database is then left as it was),\n"
        "or an earlier restore cannot be finished safely (it says what to do); 2 usage.\n",
        CONFIG_DEFAULT_PATH);
}

/* Each table's last id, or its floor when that is higher (a database that
 * was restored before and has not passed it yet). */
static int last_ids(sqlite3 *db, int64_t ids[STORE_IDS_COUNT])
{
    long floors = 0;
    if (cli_scalar(db, "SELECT count(*) FROM sqlite_master WHERE name = 'id_floors'", &floors))
        return -1;
    for (int t = 0; t < STORE_IDS_COUNT; t++) {
        const char *name = store_id_tables[t];
        char q[300];
        long v;
        if (floors)
            snprintf(q, sizeof q, "SELECT max(coalesce((SELECT max(id) FROM %s), 0), coalesce("
                     "(SELECT floor FROM id_floors WHERE name = '%s'), 0))", name, name);
        else
            snprintf(q, sizeof q, "SELECT coalesce(max(id), 0) FROM %s", name);
        if (cli_scalar(db, q, &v))
            return -1;
        ids[t] = v;
    }
    return 0;
}

/* The first column of the first row of `q` as text into buf; 0 or -1. */
static int text_of(sqlite3 *db, const char *q, char *buf, size_t len)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    const unsigned char *t = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    snprintf(buf, len, "%s", t ? (const char *)t : "");
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* The time the backup's last change was committed, on the broker's clock:
 * the last event of the audit trail, which every change of a case writes in
 * its transaction. Nothing the backup lacks was received before it. Not the
 * newest received_at: an imported case's may lie up to a day ahead, and
 * cases received between the backup and that time would never be sent
 * again. */
/* How far before that the channels are asked to resend from. They compare
 * their own time of receipt, and a report they received just before the
 * backup may have reached the broker after it (a retry, a queued channel, a
 * clock behind); SUBMIT is idempotent on (channel, external_id), so an hour
 * too much costs nothing, and a minute too little loses a case. */
#define RESEND_MARGIN_MS 3600000L

static const char *const last_change_sql =
    "SELECT coalesce((SELECT at FROM events ORDER BY id DESC LIMIT 1), 0)";

/* What is wrong with the opened backup, or "" when it is a whole minqing
 * database that this minqing can run; its last ids and cases read. */
static void examine(restore_t *r, sqlite3 *db, char *why, size_t len)
{
    long version = 0;
    const char *missing = NULL;
    char verdict[200] = "";
    if (cli_scalar(db, "PRAGMA user_version", &version))
        snprintf(why, len, "not a SQLite database, or unreadable: %s", sqlite3_errmsg(db));
    else if (version > STORE_SCHEMA_VERSION)
        snprintf(why, len, "made by a newer minqing (schema %ld; this one knows %d): restore "
                 "it with that version", version, STORE_SCHEMA_VERSION);
    else if (version < 1)
        snprintf(why, len, "not a minqing database (schema version %ld)", version);
    else if (store_missing_table(db, (int)version, &missing) || missing)
        snprintf(why, len, "not a minqing database (schema version %ld, but %s%s)", version,
                 missing ? "no table " : "its schema cannot be read: ",
                 missing ? missing : sqlite3_errmsg(db));
    else if (text_of(db, "PRAGMA quick_check(1)", verdict, sizeof verdict) ||
             strcmp(verdict, "ok") != 0)
        snprintf(why, len, "damaged: %s", verdict[0] ? verdict : sqlite3_errmsg(db));
    else if (last_ids(db, r->kept) || cli_scalar(db, "SELECT count(*) FROM cases", &r->cases) ||
             cli_scalar(db, last_change_sql, &r->last_change))
        snprintf(why, len, "not a minqing database: %s", sqlite3_errmsg(db));
}

/* The backup as SQLite should open it. A file with no -wal beside it is
 * immutable: SQLite then creates no -wal or -shm beside it (in a backup
 * directory, or on read-only media, where it cannot). One with a -wal (a
 * replaced database, restored back) is opened as a database, WAL and all. */
static const char *backup_uri(const char *path, char *uri, size_t len)
{
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", path);
    bool immutable = access(wal, F_OK) != 0;
    /* "file:///abs/path": an empty authority, so that "//x" stays a path */
    size_t n = (size_t)snprintf(uri, len, "file:%s", path[0] == '/' ? "//" : "");
    for (const char *p = path; *p && n + 4 < len; p++)
        n += strchr("%?#", *p) ? (size_t)snprintf(uri + n, len - n, "%%%02X", *p)
                               : (size_t)snprintf(uri + n, len - n, "%c", *p);
    snprintf(uri + n, len - n, "%s", immutable ? "?immutable=1" : "");
    return uri;
}

/* Whether SQLite could not open the backup for its -wal: a WAL database is
 * read with a -shm beside it, which a read-only directory (a mounted backup
 * medium) cannot take, and SQLite then says only "unable to open". */
static bool wal_in_read_only_dir(const char *path)
{
    char wal[4200], dir[4200];
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(dir, sizeof dir, "%s", path);
    return access(wal, F_OK) == 0 && access(dirname(dir), W_OK) != 0;
}

/* Open the backup read-only in *out, once it is known to be sound. */
static int check_backup(restore_t *r, sqlite3 **out)
{
    struct stat bs, ds;
    if (stat(r->backup, &bs) != 0)
        return cli_fail(CLI_RUNTIME, CMD, "%s: %s", r->backup, strerror(errno));
    if (stat(r->db, &ds) == 0 && bs.st_dev == ds.st_dev && bs.st_ino == ds.st_ino)
        return cli_fail(CLI_USAGE, CMD, "%s is the database itself: give a backup", r->backup);
    char why[300] = "", uri[8400];
    if (sqlite3_open_v2(backup_uri(r->backup, uri, sizeof uri), out,
                        SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK)
        snprintf(why, sizeof why, "%s", *out ? sqlite3_errmsg(*out) : "out of memory");
    else
        examine(r, *out, why, sizeof why);
    if (why[0] && wal_in_read_only_dir(r->backup))
        return cli_fail(CLI_RUNTIME, CMD, "%s: it has a -wal and its directory is read-only: "
                        "copy both files to a writable directory first. Nothing was changed.",
                        r->backup);
    if (why[0])
        return cli_fail(CLI_RUNTIME, CMD, "%s: %s. Nothing was changed.", r->backup, why);
    return CLI_OK;
}

/* The last ids of the database at `path`; 0, or -1 with the reason in why. */
static int ids_of(const char *path, int64_t ids[STORE_IDS_COUNT], char *why, size_t len)
{
    struct stat st;
    sqlite3 *db = NULL;
    int rc = -1;
    if (stat(path, &st) != 0)
        snprintf(why, len, "%s", strerror(errno));
    else if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
             (sqlite3_busy_timeout(db, 5000), last_ids(db, ids)))
        snprintf(why, len, "%s", db ? sqlite3_errmsg(db) : "out of memory");
    else
        rc = 0;
    sqlite3_close(db);
    return rc;
}

static int unknown_ids(const restore_t *r, const char *why)
{
    if (access(r->db, F_OK) != 0)
        return cli_fail(CLI_RUNTIME, CMD, "there is no database at %s%s. If that is the broker's "
                        "and it is lost, give --skip-ids N (see --help); else give the broker's "
                        "config with -c FILE. Nothing was changed.", r->db, r->db[0] != '/' ?
                        " (a relative path in the config: read from the current directory)" : "");
    return cli_fail(CLI_RUNTIME, CMD, "cannot tell which ids the database being replaced gave "
                    "out (%s: %s). Give --skip-ids N: new case, assignment and escalation ids "
                    "then start N above the backup's (see --help). Nothing was changed.",
                    r->db, why);
}

/* Whether the replaced database has fewer ids than the backup in some table:
 * then it does not follow on from the backup (minqingd created it empty on a
 * new host or after the disk was lost, or it is another county's), and what
 * the database the backup was made from gave out after it is unknown. */
static bool behind(const restore_t *r, const int64_t gave[STORE_IDS_COUNT])
{
    for (int t = 0; t < STORE_IDS_COUNT; t++)
        if (gave[t] < r->kept[t])
            return true;
    return false;
}

static int behind_backup(const restore_t *r, const int64_t gave[STORE_IDS_COUNT])
{
    return cli_fail(CLI_RUNTIME, CMD, "the database being replaced (%s) is behind the backup: "
                    "its last ids are case %lld, assignment %lld, escalation %lld; the backup's "
                    "%lld, %lld, %lld. It is not the database the backup was made from (minqingd "
                    "creates an empty one on a new host or after the disk was lost), so the ids "
                    "that one gave out after the backup are unknown. Give --skip-ids N: new case, "
                    "assignment and escalation ids then start N above the backup's (see --help). "
                    "Nothing was changed.", r->db, (long long)gave[0], (long long)gave[1],
                    (long long)gave[2], (long long)r->kept[0], (long long)r->kept[1],
                    (long long)r->kept[2]);
}

/* A replaced database whose -wal SQLite would delete if it were read. */
static int wal_alone(const restore_t *r, const char *why)
{
    return cli_fail(CLI_RUNTIME, CMD, "%s; refusing to read its ids, as SQLite would delete "
                    "that -wal and the commits in it. Move %s-wal to a safe place first (keep "
                    "it: it may hold commits the backup lacks), then restore again with "
                    "--skip-ids N: the ids that database gave out are then unknown (see --help). "
                    "Nothing was changed.", why, r->db);
}

/* How many cases of the database at path have ids above `above` (0 when
 * it cannot tell): the ones a restore of an older backup leaves behind. */
static void cases_above(const char *path, int64_t above, long *n)
{
    sqlite3 *db = NULL;
    char q[128];
    *n = 0;
    snprintf(q, sizeof q, "SELECT count(*) FROM cases WHERE id > %lld", (long long)above);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        (sqlite3_busy_timeout(db, 5000), cli_scalar(db, q, n)) != 0)
        *n = 0;
    sqlite3_close(db);
}

/* Where new ids start: above the replaced database's, or the backup's by
 * --skip-ids when those cannot be read or are behind the backup's; above
 * both when both are known. */
static int plan_floors(restore_t *r)
{
    int64_t gave[STORE_IDS_COUNT] = {0};
    char why[4400] = "";
    if (store_check_wal(r->db, why, sizeof why))
        return wal_alone(r, why);
    bool known = ids_of(r->db, gave, why, sizeof why) == 0;
    if (!known && r->skip < 0)
        return unknown_ids(r, why);
    if (known && behind(r, gave) && r->skip < 0)
        return behind_backup(r, gave);
    for (int t = 0; t < STORE_IDS_COUNT; t++) {
        int64_t f = r->kept[t] + (r->skip > 0 ? r->skip : 0);
        r->floor[t] = gave[t] > f ? gave[t] : f;
    }
    if (known)
        cases_above(r->db, r->kept[0], &r->newer);
    return CLI_OK;
}

/* What makes the copy a database the broker starts from as from any other:
 * a rollback-journal file at rest (the broker turns WAL on), and the floors. */
static void finishing_sql(const restore_t *r, char *sql, size_t len)
{
    size_t n = (size_t)snprintf(sql, len, "PRAGMA journal_mode = DELETE; %s;",
                                STORE_ID_FLOORS_DDL);
    for (int t = 0; t < STORE_IDS_COUNT && n < len; t++)
        n += (size_t)snprintf(sql + n, len - n, " INSERT OR REPLACE INTO id_floors VALUES"
                              " ('%s', %lld);", store_id_tables[t], (long long)r->floor[t]);
}

/* The owner the copy must have: the replaced database's, else its directory's. */
static int owner(const char *db, struct stat *st)
{
    if (stat(db, st) == 0)
        return 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", db);
    return stat(dirname(dir), st);
}

/* Copy the backup to a new file beside the database, with the floors, the
 * database's owner and mode 0600, synced; its name in tmp, and in *fd the
 * copy held open (partial_open: a signal that ends restore removes it). */
static int make_copy(restore_t *r, sqlite3 *src, char *tmp, size_t len, int *fd)
{
    snprintf(tmp, len, "%s.restore-XXXXXX", r->db);
    if ((*fd = partial_open(tmp)) < 0)
        return cli_fail(CLI_RUNTIME, CMD, "%s: cannot create: %s. Nothing was changed.", tmp,
                        strerror(errno));
    struct stat st;
    char why[300] = "", sql[1024];
    if (owner(r->db, &st) != 0 || fchown(*fd, st.st_uid, st.st_gid) != 0)
        snprintf(why, sizeof why, "cannot give it the database's owner: %s (run as root or "
                 "the database's user)", strerror(errno));
    finishing_sql(r, sql, sizeof sql);
    int pages = 0;
    if (!why[0] && dbfile_copy(src, tmp, sql, &pages, why, sizeof why) == SQLITE_DONE &&
        dbfile_sync(tmp, false) != 0)
        snprintf(why, sizeof why, "cannot sync it: %s", strerror(errno));
    if (why[0]) {
        dbfile_remove(tmp);
        partial_close(*fd);
        *fd = -1;
        return cli_fail(CLI_RUNTIME, CMD, "copying %s beside the database failed: %s. Nothing "
                        "was changed.", r->backup, why);
    }
    return CLI_OK;
}

static void warn_stale(const char *path)
{
    fprintf(stderr, "minqing %s: warning: %s is a copy left by a restore that was killed; it "
            "holds residents' data: delete it\n", CMD, path);
}

static void said_stale_mark(const char *path, bool removed)
{
    if (removed)
        fprintf(stderr, "minqing %s: removed %s, a mark a killed restore began to write and "
                "never put in place (nothing had moved)\n", CMD, path);
    else
        fprintf(stderr, "minqing %s: warning: %s has the name of a mark a killed restore began "
                "to write, but is not one: left as it is\n", CMD, path);
}

/* On a new host restore may create the lock file: it belongs to the
 * database's owner, or the broker could not open it. Only one this run
 * created (`existed` false): a lock file already there is left as it is. */
static void give_lock(int lock, const char *db, bool existed)
{
    struct stat st;
    if (!existed && owner(db, &st) == 0 && fchown(lock, st.st_uid, st.st_gid) != 0 &&
        geteuid() == 0)
        fprintf(stderr, "minqing %s: warning: %s.lock: cannot give it the database's owner: "
                "%s\n", CMD, db, strerror(errno));
}

static void report(const restore_t *r)
{
    char at[32], zone[128];
    printf("restored %s to %s: %ld case%s\n", r->backup, r->db, r->cases, r->cases == 1 ? "" : "s");
    printf("new ids start above: case %lld, assignment %lld, escalation %lld\n",
           (long long)r->floor[0], (long long)r->floor[1], (long long)r->floor[2]);
    if (r->replaced[0] && r->newer > 0)
        /* an older backup than meant, maybe: say what only the old file holds */
        printf("the replaced database is %s: it holds %ld case%s the backup lacks (ids "
               "above %lld), now in it alone; keep it until they are sent again\n",
               r->replaced, r->newer, r->newer == 1 ? "" : "s", (long long)r->kept[0]);
    else if (r->replaced[0])
        printf("the replaced database is %s (delete it once the restore is checked)\n",
               r->replaced);
    printf("next: start minqingd, then the workers; ");
    if (r->last_change) {
        char last[32];
        cli_time(r->last_change, last, sizeof last);
        printf("have the intake channels send again what they received since %s, an hour "
               "before the backup's last change at %s (local time: %s; a case sent twice is "
               "stored once)\n", cli_time(r->last_change - RESEND_MARGIN_MS, at, sizeof at),
               last, cli_zone_name(zone, sizeof zone));
    }
    else            /* a backup of a new database, or a hand-made one */
        printf("the backup holds no %s: have the intake channels send again every case they have "
               "sent to this broker\n", r->cases ? "audit trail" : "case");
}

/* The copy in the database's place, and the report. A signal that would
 * end restore meanwhile waits until the files have moved and the report
 * says so (cut short, the move would leave the mark, beside which minqingd
 * does not start), then ends it as it would have. */
static int put_in_place(restore_t *r, const char *tmp, int fd)
{
    char err[9000];
    sigset_t old;
    int rc = CLI_OK;
    partial_block(&old);
    if (replace_swap(r->db, tmp, r->replaced, sizeof r->replaced, err, sizeof err)) {
        unlink(tmp);
        rc = cli_fail(CLI_RUNTIME, CMD, "%s.", err);
    } else {
        report(r);
    }
    partial_close(fd);
    fflush(stdout);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int cmd_restore(cli_t *cli, int argc, char **argv)
{
    enum { OPT_SKIP = 0x200 };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"skip-ids", required_argument, NULL, OPT_SKIP},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long skip = -1;
    int c;
    while ((c = cli_getopt(cli, CMD, argc, argv, ":hc:", opts)) != -1) {
        if (c == 'h') {
            help();
            return CLI_OK;
        }
        /* 0 would start new ids right above the backup's: the reuse the
         * option is there to prevent */
        if (c == OPT_SKIP && cli_parse_long(optarg, 1, 1000000000L, &skip) == 0)
            continue;
        if (c == OPT_SKIP)
            return cli_usage(CMD, "--skip-ids: '%s' is not a count from 1 to 1000000000 (take "
                             "a wide margin, e.g. 1000000: see --help)", optarg);
        return CLI_USAGE;
    }
    if (argc - optind != 1)
        return cli_usage(CMD, "give the backup to restore");
    if (cli_load_config(cli, CMD) != CLI_OK)
        return CLI_RUNTIME;
    restore_t r = {.db = cli->cfg->database, .backup = argv[optind], .skip = skip};
    if (r.db[0] != '/')
        return cli_fail(CLI_RUNTIME, CMD, "[broker] database in %s is a relative path (%s): the "
                        "file it names depends on the directory minqingd runs in, whose lock "
                        "restore must take. Give the absolute path there. Nothing was changed.",
                        cli->config_path, r.db);
    char err[9000], lockpath[4300];
    struct stat ls;
    snprintf(lockpath, sizeof lockpath, "%s.lock", r.db);
    bool existed = lstat(lockpath, &ls) == 0;
    int lock = store_lock(r.db, err, sizeof err);
    if (lock < 0 && errno == EWOULDBLOCK)
        return cli_fail(CLI_RUNTIME, CMD, "%s. Stop it and the workers first (systemctl stop "
                        "minqingd 'minqing-worker@*'). Nothing was changed.", err);
    if (lock < 0)
        return cli_fail(CLI_RUNTIME, CMD, "%s. Nothing was changed.", err);
    give_lock(lock, r.db, existed);
    int rc = replace_recover(r.db, err, sizeof err) < 0 ? cli_fail(CLI_RUNTIME, CMD, "%s", err)
                                                         : CLI_OK;
    if (rc == CLI_OK && err[0])
        fprintf(stderr, "minqing %s: %s\n", CMD, err);
    if (rc == CLI_OK) {
        replace_stale_marks(r.db, said_stale_mark);
        replace_stale_copies(r.db, r.backup, warn_stale);
    }
    sqlite3 *src = NULL;
    char tmp[4200];
    int fd = -1;
    if (rc == CLI_OK)
        rc = check_backup(&r, &src);
    if (rc == CLI_OK)
        rc = plan_floors(&r);
    if (rc == CLI_OK)
        rc = make_copy(&r, src, tmp, sizeof tmp, &fd);
    sqlite3_close(src);
    if (rc == CLI_OK)
        rc = put_in_place(&r, tmp, fd);
    close(lock);
    return rc;
}
