/*
 * backup.c - `minqing backup FILE`: copy the live database with SQLite's
 * online backup API, page by page, while the broker keeps running. The copy
 * is a consistent snapshot; copying the file by hand while the broker writes
 * (with its WAL beside it) is not.
 */
#include "cli.h"

#include <string.h>
#include <sys/stat.h>

#define CMD "backup"

static void help(void)
{
    printf(
        "usage: minqing backup [-c FILE] DEST.db\n"
        "\n"
        "Copy the broker's database to DEST.db while it runs (SQLite online backup).\n"
        "DEST.db is created with mode 0600: it holds residents' personal data.\n"
        "To restore: stop minqingd, put the copy in place of the database (remove the\n"
        "old -wal and -shm files), start minqingd.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE  the broker's config, for its database (default %s)\n"
        "  -h, --help         this help\n"
        "\n"
        "Exit status: 0 copied; 1 the database or DEST cannot be opened or written.\n",
        CONFIG_DEFAULT_PATH);
}

static int copy(sqlite3 *src, const char *dest)
{
    sqlite3 *out = NULL;
    mode_t old = umask(077);
    int rc = sqlite3_open(dest, &out);
    umask(old);
    if (rc != SQLITE_OK) {
        sqlite3_close(out);
        return cli_fail(CLI_RUNTIME, CMD, "%s: cannot create: %s", dest, sqlite3_errstr(rc));
    }
    sqlite3_backup *b = sqlite3_backup_init(out, "main", src, "main");
    if (!b) {
        cli_fail(CLI_RUNTIME, CMD, "%s: %s", dest, sqlite3_errmsg(out));
        sqlite3_close(out);
        return CLI_RUNTIME;
    }
    do {
        rc = sqlite3_backup_step(b, 1024);      /* 1024 pages at a time: the broker keeps writing */
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
            sqlite3_sleep(20);
    } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    int pages = sqlite3_backup_pagecount(b);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        cli_fail(CLI_RUNTIME, CMD, "%s: backup failed: %s", dest, sqlite3_errstr(rc));
        sqlite3_close(out);
        return CLI_RUNTIME;
    }
    sqlite3_close(out);
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
