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
 * overwrites another file, or the live database.
 */
#include "cli.h"

#include <errno.h>
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
        "complete, so a failed backup leaves no DEST.db.\n"
        "To restore it: stop minqingd and the minqing-worker units, run\n"
        "minqing restore DEST.db, start minqingd, then the workers (see minqing(1)).\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE  the broker's config, for its database (default %s)\n"
        "  -h, --help         this help\n"
        "\n"
        "Exit status: 0 copied; 1 the database cannot be read, DEST exists, or DEST\n"
        "cannot be written.\n",
        CONFIG_DEFAULT_PATH);
}

static int copy(sqlite3 *src, const char *dest)
{
    char tmp[4096], why[200];
    struct stat st;
    if (lstat(dest, &st) == 0)
        return cli_fail(CLI_RUNTIME, CMD, "%s: exists; refusing to overwrite it (give a new "
                        "name)", dest);
    snprintf(tmp, sizeof tmp, "%s.partial-XXXXXX", dest);
    int fd = mkstemp(tmp);                              /* mode 0600 */
    if (fd < 0)
        return cli_fail(CLI_RUNTIME, CMD, "%s: cannot create: %s", tmp, strerror(errno));
    close(fd);
    int pages = 0;
    /* a rollback-journal file at rest, as the live database's WAL mode would
     * have every reader of the copy (sqlite3 -readonly, minqing restore)
     * create a -wal and -shm beside it, or fail where it cannot */
    int rc = dbfile_copy(src, tmp, "PRAGMA journal_mode = DELETE", &pages, why, sizeof why);
    if (rc == SQLITE_DONE && dbfile_sync(tmp, false) != 0) {
        rc = SQLITE_IOERR;
        snprintf(why, sizeof why, "cannot sync the copy: %s", strerror(errno));
    }
    if (rc == SQLITE_DONE && dbfile_put(tmp, dest) != 0) {
        rc = SQLITE_CANTOPEN;
        snprintf(why, sizeof why, "cannot rename the copy into place: %s", strerror(errno));
    }
    if (rc != SQLITE_DONE) {
        unlink(tmp);
        return cli_fail(CLI_RUNTIME, CMD, "%s: backup failed: %s", dest, why);
    }
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
    if (cli_load_config(cli, CMD) != CLI_OK)
        return CLI_RUNTIME;
    sqlite3 *db = cli_db_open(cli, CMD);
    if (!db)
        return CLI_RUNTIME;
    int rc = copy(db, argv[optind]);
    sqlite3_close(db);
    return rc;
}
