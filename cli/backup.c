/*
 * backup.c - `minqing backup FILE`: copy the live database with SQLite's
 * online backup API while the broker keeps running. The copy is a consistent
 * snapshot; copying the file by hand while the broker writes (with its WAL
 * beside it) is not.
 *
 * The copy is made in one step, inside one read transaction: a backup in
 * several steps starts again from page 1 whenever the broker commits between
 * two of them, which at a busy county's pace is always, and would never end.
 * In WAL mode that read transaction does not hold the broker up.
 *
 * It is written to a temporary file beside DEST and renamed to DEST only once
 * complete, and DEST must not exist: a backup that fails (a full disk) leaves
 * no file under DEST's name, which a later restore would take for a backup
 * (the broker starts an empty file as a new database), and no backup
 * overwrites another file, or the live database. The temporary file holds
 * every resident's personal data under a name nothing else cleans up: a
 * signal that ends the backup (Ctrl-C, systemctl stop, a closed terminal)
 * removes it (partial.c), and a backup names in a warning any that a backup
 * killed otherwise (SIGKILL, a crash) left beside its destination. A restore
 * may move the live files while they are read (it waits for the broker, not
 * for readers): a backup whose database was replaced meanwhile fails.
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CMD "backup"

static void help(void)
{
    printf(
        "usage: minqing backup [-c FILE] DEST.db\n"
        "\n"
        "Copy the broker's database to DEST.db while it runs (SQLite online backup).\n"
        "DEST.db must not exist; it is created with mode 0600: it holds residents'\n"
        "personal data. The copy is written beside it and renamed to DEST.db once\n"
        "complete, so a failed backup leaves no DEST.db; one ended by a signal (Ctrl-C,\n"
        "SIGTERM, SIGHUP) removes the partial copy. Copies that killed backups left\n"
        "beside DEST.db (*.partial-XXXXXX) are named in a warning.\n"
        "To restore it: stop minqingd and the minqing-worker units, run\n"
        "minqing restore DEST.db, start minqingd, then the workers (see minqing(1)).\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE  the broker's config, for its database (default %s)\n"
        "  -h, --help         this help\n"
        "\n"
        "Exit status: 0 copied; 1 the database cannot be read, a restore replaced it\n"
        "meanwhile, DEST exists, or DEST cannot be written; 2 usage (DEST empty, ending\n"
        "in / or a directory).\n",
        CONFIG_DEFAULT_PATH);
}

/* ---- the partial copy ------------------------------------------------- */

#define PARTIAL ".partial-"

/* What SQLite may make beside the copy: a -wal while it is turned from WAL
 * to a rollback-journal file (no -shm: dbfile_copy locks it exclusively). */
static const char *const sides[] = {"-wal", "-shm", "-journal"};
#define NSIDES (sizeof sides / sizeof sides[0])

/* Whether name is a partial copy (DEST.partial- and the six characters
 * mkstemp chose) or a file SQLite made beside one (the copy's name and -wal,
 * -shm or -journal); the copy's name in copy. */
static bool partial_name(const char *name, char *copy, size_t len)
{
    const char *tail = strrchr(name, '.');
    if (!tail || strncmp(tail, PARTIAL, strlen(PARTIAL)) != 0 ||
        strspn(tail += strlen(PARTIAL), CLI_MKSTEMP_CHARS) != 6)
        return false;
    bool side = !tail[6];
    for (size_t i = 0; !side && i < NSIDES; i++)
        side = strcmp(tail + 6, sides[i]) == 0;
    snprintf(copy, len, "%.*s", (int)(tail + 6 - name), name);
    return side;
}

/* Warn of each partial copy, and file beside one, that a killed backup
 * left beside dest. */
static void warn_left_over(const char *dest)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", dest);
    const char *in = dirname(dir);
    DIR *d = opendir(in);
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[4400], copy[300], copy_path[4400];
        struct stat st;
        if (!partial_name(e->d_name, copy, sizeof copy))
            continue;
        snprintf(path, sizeof path, "%s/%s", in, e->d_name);
        snprintf(copy_path, sizeof copy_path, "%s/%s", in, copy);
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && !partial_in_use(copy_path))
            fprintf(stderr, "minqing %s: warning: %s is a copy left by a backup that was killed; "
                    "it holds residents' data: delete it\n", CMD, path);
    }
    if (d)
        closedir(d);
}

/* ---- the copy ------------------------------------------------------------ */

static int copy(const cli_t *cli, sqlite3 *src, const struct stat *live, const char *dest)
{
    char tmp[4200], why[300];
    struct stat st;
    if (lstat(dest, &st) == 0)
        return cli_fail(CLI_RUNTIME, CMD, "%s: exists; refusing to overwrite it (give a new "
                        "name)", dest);
    warn_left_over(dest);
    snprintf(tmp, sizeof tmp, "%s" PARTIAL "XXXXXX", dest);
    int fd = partial_open(tmp);
    if (fd < 0) {
        /* not tmp: mkstemp has put a random name there */
        int e = errno;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", dest);
        return cli_fail(CLI_RUNTIME, CMD, "cannot create a file in %s/ (for %s): %s",
                        dirname(dir), dest, strerror(e));
    }
    int pages = 0;
    /* a rollback-journal file at rest, as the live database's WAL mode would
     * have every reader of the copy (sqlite3 -readonly, minqing restore)
     * create a -wal and -shm beside it, or fail where it cannot. OFF, not
     * DELETE: the two bytes of the header that say so are written without a
     * journal, so that a disk with room for the copy takes it (a copy torn
     * meanwhile is never renamed into place) */
    int rc = dbfile_copy(src, tmp, "PRAGMA journal_mode = OFF", &pages, why, sizeof why);
    /* a restore that moved the live files while they were read leaves a
     * copy that may be an old database without its last commits (its WAL
     * moved aside before SQLite opened it), which no one would notice
     * until it was restored */
    if (rc == SQLITE_DONE && cli_db_moved(cli, live)) {
        rc = SQLITE_ABORT;
        snprintf(why, sizeof why, "%s was replaced while it was copied (a minqing restore "
                 "ran), so the copy may lack its last commits; run the backup again once the "
                 "restore is done", cli->cfg->database);
    }
    if (rc == SQLITE_DONE && dbfile_sync(tmp, false) != 0) {
        rc = SQLITE_IOERR;
        snprintf(why, sizeof why, "cannot sync the copy: %s", strerror(errno));
    }
    if (rc == SQLITE_DONE && dbfile_put(tmp, dest) != 0) {
        rc = SQLITE_CANTOPEN;
        snprintf(why, sizeof why, "cannot rename the copy into place: %s", strerror(errno));
    }
    if (rc != SQLITE_DONE)
        dbfile_remove(tmp);
    partial_close(fd);
    if (rc != SQLITE_DONE)
        return cli_fail(CLI_RUNTIME, CMD, "%s: backup failed: %s", dest, why);
    if (dbfile_sync(dest, true) != 0)
        return cli_fail(CLI_RUNTIME, CMD, "%s: written, but its directory could not be synced: "
                        "%s", dest, strerror(errno));
    printf("backed up %d pages to %s\n", pages, dest);
    return CLI_OK;
}

int cmd_backup(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = cli_getopt(cli, CMD, argc, argv, ":hc:", opts)) != -1) {
        if (c == 'h') {
            help();
            return CLI_OK;
        }
        return CLI_USAGE;
    }
    if (argc - optind != 1)
        return cli_usage(CMD, "give the file to write the copy to");
    /* else the whole database would be copied before the rename into place
     * failed: for "", into a temporary ".partial-" file in the current
     * directory */
    const char *dest = argv[optind];
    struct stat st;
    if (!dest[0] || dest[strlen(dest) - 1] == '/')
        return cli_usage(CMD, "'%s' names no file: give the file to write the copy to, such "
                         "as /var/backups/minqing/minqing-2026-03-02.db", dest);
    if (stat(dest, &st) == 0 && S_ISDIR(st.st_mode))    /* as for "dir/": not "exists" */
        return cli_usage(CMD, "%s is a directory: give a file name in it, such as "
                         "%s/minqing-2026-03-02.db", dest, dest);
    if (cli_load_config(cli, CMD) != CLI_OK)
        return CLI_RUNTIME;
    struct stat live = {0};                     /* before the open: see copy() */
    if (stat(cli->cfg->database, &live) != 0)
        live.st_ino = 0;
    sqlite3 *db = cli_db_open(cli, CMD);
    if (!db)
        return CLI_RUNTIME;
    int rc = copy(cli, db, &live, dest);
    sqlite3_close(db);
    return rc;
}
