/*
 * db.c - what every command of the CLI needs: the config, the broker's
 * database opened read-only, times in and out, option parsing and error
 * messages that say what to do.
 *
 * The database is opened with SQLITE_OPEN_READONLY and `PRAGMA query_only`:
 * the CLI is a WAL reader next to the running broker. It sees the last
 * committed state, never blocks the broker's writes, and never writes
 * itself; state changes go through the broker (`minqing submit`).
 */
#include "cli.h"
#include "calendar.h"
#include "store.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- errors ---------------------------------------------------------- */

static void vsay(const char *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, cmd ? "minqing %s: " : "minqing: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_fail(int code, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(cmd, fmt, ap);
    va_end(ap);
    return code;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(cmd, fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "Try 'minqing %s --help'.\n", cmd);
    else
        fprintf(stderr, "Try 'minqing --help'.\n");
    return CLI_USAGE;
}

int cli_getopt(cli_t *cli, const char *cmd, int argc, char **argv, const char *shortopts,
               const struct option *longopts)
{
    for (;;) {
        opterr = 0;
        int c = getopt_long(argc, argv, shortopts, longopts, NULL);
        const char **value = c == 'c' ? &cli->config_path
                             : c == CLI_OPT_SERVER_CERT ? &cli->server_cert
                             : c == CLI_OPT_CERT ? &cli->cert : NULL;
        if (value) {
            *value = optarg;
            continue;
        }
        if (c == '?' || c == ':') {
            const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
            char name[64];
            if (optopt && (optopt < 256 && isprint(optopt)) && strncmp(arg, "--", 2) != 0)
                snprintf(name, sizeof name, "-%c", optopt);
            else
                snprintf(name, sizeof name, "%.*s", (int)strcspn(arg, "="), arg);
            if (c == ':')
                cli_usage(cmd, "option '%s' needs a value", name);
            else
                cli_usage(cmd, "unknown option '%s'", name);
            return '?';
        }
        return c;
    }
}

/* ---- config ---------------------------------------------------------- */

int cli_load_config(cli_t *cli, const char *cmd)
{
    char err[4096];
    cli->cfg = config_load(cli->config_path, err, sizeof err);
    if (cli->cfg)
        return CLI_OK;
    size_t n = strlen(err);
    while (n && err[n - 1] == '\n')
        err[--n] = '\0';
    if (access(cli->config_path, F_OK) != 0)
        return cli_fail(CLI_RUNTIME, cmd, "%s\nGive the broker's config with -c FILE (default %s).",
                        err, CONFIG_DEFAULT_PATH);
    return cli_fail(CLI_RUNTIME, cmd, "the config does not load:\n%s\n"
                    "Fix it (minqingd --check-config -c %s lists every problem), or give "
                    "another one with -c FILE.", err, cli->config_path);
}

const char *cli_dept_name(const config_t *cfg, const char *id)
{
    int i = id ? config_dept_find(cfg, id) : -1;
    return i >= 0 ? cfg->depts[i].name : id;
}

const char *cli_dept_lookup(const config_t *cfg, const char *what)
{
    for (size_t i = 0; i < cfg->ndepts; i++)
        if (strcmp(cfg->depts[i].id, what) == 0 || strcmp(cfg->depts[i].name, what) == 0)
            return cfg->depts[i].id;
    return NULL;
}

/* ---- endpoints ------------------------------------------------------- */

int cli_endpoint_check(const cli_t *cli, const char *cmd, const char *endpoint, const char *key)
{
    if (strncmp(endpoint, "ipc://", 6) != 0)
        return CLI_OK;
    const char *path = endpoint + 6;
    if (access(path, F_OK) == 0)
        return CLI_OK;
    if (errno == EACCES)
        return cli_fail(CLI_RUNTIME, cmd, "cannot reach %s: %s. Run minqing as the minqing "
                        "user or root (sudo -u minqing minqing ...).", path, strerror(errno));
    return cli_fail(CLI_RUNTIME, cmd, "the broker is not running: no socket at %s (the "
                    "[broker] %s endpoint of %s). Start it (systemctl start minqingd) or "
                    "give its config with -c FILE.%s", path, key, cli->config_path,
                    path[0] != '/' ? " (The path is relative to the current directory.)" : "");
}

/* ---- the database ---------------------------------------------------- */

/* SQLITE_BUSY past the busy timeout: a reader of a WAL database waits only
 * for a process that holds the whole file (a change of journal mode, a WAL
 * recovery, a migration before WAL is on, an exclusive lock), not for the
 * broker's ordinary writes. */
static bool held(sqlite3 *db)
{
    return (sqlite3_errcode(db) & 0xff) == SQLITE_BUSY;
}

/* Say that the database at path is held (held() true); CLI_RUNTIME. */
static int held_fail(const char *cmd, const char *path)
{
    return cli_fail(CLI_RUNTIME, cmd, "database %s is held by another process, and was for "
                    "5 s: minqingd starting (recovering its WAL after a crash, or migrating "
                    "the schema after an upgrade), or a program such as sqlite3 in a "
                    "transaction on it. Try again in a moment.", path);
}

int cli_db_fail(sqlite3 *db, const char *cmd, const char *what)
{
    if (held(db))
        return held_fail(cmd, sqlite3_db_filename(db, "main"));
    int rc = sqlite3_errcode(db) & 0xff;
    if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)    /* trying again will not help */
        return cli_fail(CLI_RUNTIME, cmd, "reading the database (%s): %s. Check it with "
                        "sqlite3 -readonly FILE 'PRAGMA integrity_check', and restore it from a "
                        "backup if it is damaged (docs/operations.md).", what, sqlite3_errmsg(db));
    return cli_fail(CLI_RUNTIME, cmd, "reading the database (%s): %s. If the broker is "
                    "writing heavily, try again.", what, sqlite3_errmsg(db));
}

int cli_scalar(sqlite3 *db, const char *sql, long *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* Whether a restore left its mark beside the database (replace.c). */
static bool access_mark(const char *path)
{
    char mark[4300];
    snprintf(mark, sizeof mark, "%s%s", path, STORE_RESTORING);
    return access(mark, F_OK) == 0;
}

sqlite3 *cli_db_open(const cli_t *cli, const char *cmd)
{
    const char *path = cli->cfg->database;
    struct stat st;
    if (access_mark(path)) {
        cli_fail(CLI_RUNTIME, cmd, "%s%s exists: a minqing restore of this database did not "
                 "finish, and its files may be half moved. Run the same minqing restore again "
                 "first.", path, STORE_RESTORING);
        return NULL;
    }
    /* before any open: SQLite, even read-only, would delete that -wal */
    char why[4400];
    if (store_check_wal(path, why, sizeof why)) {
        cli_fail(CLI_RUNTIME, cmd, "%s; refusing to open it, as SQLite would delete that -wal "
                 "and the commits in it. Nothing was read or changed. Copy the -wal somewhere "
                 "safe, then restore the database from a backup (minqing restore; see its "
                 "--help).", why);
        return NULL;
    }
    if (stat(path, &st) != 0) {
        int e = errno;
        if (e == ENOENT)
            cli_fail(CLI_RUNTIME, cmd, "database %s not found (the [broker] database of %s). "
                     "minqingd creates it when it first starts: is that the config it runs "
                     "with (else give it with -c FILE), and has it started (systemctl status "
                     "minqingd)?%s", path, cli->config_path,
                     path[0] != '/' ? " The path is relative: minqing reads it from the "
                     "current directory, minqingd from its own (under systemd "
                     "/var/lib/minqing); an absolute path in the config avoids the doubt." : "");
        else
            cli_fail(CLI_RUNTIME, cmd, "cannot reach database %s: %s. Run minqing as the "
                     "minqing user or root (sudo -u minqing minqing ...).", path, strerror(e));
        return NULL;
    }
    if (access(path, R_OK) != 0) {
        cli_fail(CLI_RUNTIME, cmd, "cannot read database %s: %s. It holds residents' data and "
                 "is readable by its owner only: run minqing as the minqing user or root "
                 "(sudo -u minqing minqing ...).", path, strerror(errno));
        return NULL;
    }
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        cli_fail(CLI_RUNTIME, cmd, "cannot open database %s: %s.", path,
                 db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL);
    static const char *const tables[] = {"cases", "assignments", "events", "escalations",
                                         "outcomes"};
    char missing[128] = "";
    long version = 0;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char q[160];
        long n = 0;
        snprintf(q, sizeof q, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                 "name = '%s'", tables[i]);
        if (cli_scalar(db, q, &n)) {
            if (held(db))
                held_fail(cmd, path);
            else
                cli_fail(CLI_RUNTIME, cmd, "cannot read database %s: %s. Is it the broker's "
                         "database ([broker] database in %s)?", path, sqlite3_errmsg(db),
                         cli->config_path);
            sqlite3_close(db);
            return NULL;
        }
        if (!n)
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s%s",
                     missing[0] ? ", " : "", tables[i]);
    }
    if (missing[0] || cli_scalar(db, "PRAGMA user_version", &version) || version < 1) {
        cli_fail(CLI_RUNTIME, cmd, "%s is not a minqing database, or one from an older "
                 "development build (missing: %s): check [broker] database in %s.", path,
                 missing[0] ? missing : "schema version", cli->config_path);
        sqlite3_close(db);
        return NULL;
    }
    if (version > STORE_SCHEMA_VERSION) {
        cli_fail(CLI_RUNTIME, cmd, "database %s has schema %ld, newer than this minqing "
                 "knows (%d): install the minqing that came with the running minqingd.",
                 path, version, STORE_SCHEMA_VERSION);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

bool cli_db_moved(const cli_t *cli, const struct stat *before)
{
    struct stat now;
    const char *path = cli->cfg->database;
    return access_mark(path) || stat(path, &now) != 0 || !before->st_ino ||
           now.st_dev != before->st_dev || now.st_ino != before->st_ino;
}

/* ---- time ------------------------------------------------------------ */

int64_t cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *fmt_time(int64_t ms, char *buf, size_t size, bool with_ms)
{
    if (ms <= 0) {
        snprintf(buf, size, "-");
        return buf;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm)) {
        snprintf(buf, size, "%lld", (long long)ms);
        return buf;
    }
    char s[32];
    strftime(s, sizeof s, "%Y-%m-%d %H:%M:%S", &tm);
    if (with_ms)
        snprintf(buf, size, "%s.%03d", s, (int)(ms % 1000));
    else
        snprintf(buf, size, "%s", s);
    return buf;
}

const char *cli_time(int64_t ms, char *buf, size_t size)
{
    return fmt_time(ms, buf, size, false);
}

const char *cli_time_ms(int64_t ms, char *buf, size_t size)
{
    return fmt_time(ms, buf, size, true);
}

/* Read exactly `n` digits at *p into *v. */
static int digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        *v = *v * 10 + (**p - '0');
    }
    return 0;
}

int cli_parse_time(const char *s, int64_t *ms)
{
    return cli_parse_time_zoned(s, ms, NULL);
}

/* An offset from UTC after a time: "Z", "+08:00", "+0800", "-05:00" or
 * "+08" (PostgreSQL's output); *off_s its seconds east of UTC. 0, or -1
 * when it is not one. */
static int utc_offset(const char *p, long *off_s)
{
    int h, m = 0;
    if (*p == 'Z' && !p[1]) {
        *off_s = 0;
        return 0;
    }
    if (*p != '+' && *p != '-')
        return -1;
    int sign = *p++ == '-' ? -1 : 1;
    if (digits(&p, 2, &h))
        return -1;
    bool hours_only = !*p;          /* "+08" */
    if (*p == ':')
        p++;
    if (!hours_only && digits(&p, 2, &m))
        return -1;
    if (*p || h > 14 || m > 59)
        return -1;
    *off_s = sign * (h * 3600L + m * 60L);
    return 0;
}

/* ".250", ".2" or ".250000000" after the seconds: its milliseconds (beyond
 * them dropped); -1 without a digit or with more than nine. */
static int fraction_ms(const char **p, int *ms)
{
    const char *s = ++*p;
    size_t n = strspn(s, "0123456789");
    if (n < 1 || n > 9)
        return -1;
    *ms = 0;
    for (size_t i = 0; i < 3; i++)
        *ms = *ms * 10 + (i < n ? s[i] - '0' : 0);
    *p = s + n;
    return 0;
}

int cli_parse_time_zoned(const char *s, int64_t *ms, bool *local)
{
    if (local)
        *local = false;
    if (!s || !*s)
        return -1;
    size_t n = strlen(s);
    bool compact = n == 8 && strspn(s, "0123456789") == n;     /* 20261201 */
    if (!compact && strspn(s, "0123456789") == n) {
        if (n != 13)    /* 2001..2286, as the help says: a digit more or less is a typo */
            return -1;
        *ms = strtoll(s, NULL, 10);
        return 0;
    }
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0, frac_ms = 0;
    if (digits(&p, 4, &y) || (!compact && *p++ != '-') || digits(&p, 2, &mo) ||
        (!compact && *p++ != '-') || digits(&p, 2, &d))
        return -1;
    bool timed = *p == 'T' || *p == ' ';
    if (timed) {
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
            return -1;
        if (*p == ':' && (p++, digits(&p, 2, &sec)))
            return -1;
        if (*p == '.' && fraction_ms(&p, &frac_ms))     /* exports say 08:00:00.000Z */
            return -1;
    }
    long off_s = 0;
    bool zoned = timed && *p && utc_offset(p, &off_s) == 0;      /* only after a time */
    if ((*p && !zoned) || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || sec > 59)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi, .tm_sec = sec, .tm_isdst = -1};
    time_t t = zoned ? timegm(&tm) : mktime(&tm);
    if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1)   /* 2026-02-30 */
        return -1;
    *ms = ((int64_t)t - off_s) * 1000 + frac_ms;
    if (local)
        *local = !zoned;
    return 0;
}

int cli_time_usage(const char *cmd, const char *opt, const char *s)
{
    if (*s && strspn(s, "0123456789") == strlen(s))
        return cli_usage(cmd, "%s: '%s' is not a time: digits are a date as YYYYMMDD "
                         "(20261101) or unix time in milliseconds (13 digits: 1793462400000)",
                         opt, s);
    return cli_usage(cmd, "%s: '%s' is not a time: use 2026-11-01, 20261101, 2026-11-01T08:00 "
                     "(local time, or with an offset: +08:00, Z) or unix ms", opt, s);
}

/* A time for a message: local, to the second, 0 and before 1970 too
 * (cli_time shows 0 as "-", for a time not set). */
static const char *said_time(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000 - (ms % 1000 < 0));  /* rounded down, also below 0 */
    struct tm tm;
    if (!localtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(buf, size, "%lld ms", (long long)ms);
    return buf;
}

int cli_range_check(const char *cmd, int64_t since, int64_t until, bool since_given)
{
    char s[64], u[64], zone[128];
    if (since < until)
        return CLI_OK;
    said_time(since, s, sizeof s);
    said_time(until, u, sizeof u);
    cli_zone_id(zone, sizeof zone);
    if (!since_given)
        return cli_usage(cmd, "--until %s (local time, %s) is not after the default --since, "
                         "%s (unix time 0): give a later --until", u, zone, s);
    return cli_usage(cmd, "--since %s must be before --until %s (local time, %s)", s, u, zone);
}

int cli_parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 18)
        return -1;
    long long v = strtoll(s, NULL, 10);
    if (v < min || v > max)
        return -1;
    *out = (long)v;
    return 0;
}

const char *cli_zone_name(char *buf, size_t size)
{
    char name[256], abbr[16], off[8];
    calendar_zone(name, sizeof name, abbr, off);
    snprintf(buf, size, "%s (%s, UTC%s now)", *name ? name : "the system's", abbr, off);
    return buf;
}

/* The UTC offsets, in seconds, of now and of half a year on (summer time)
 * in the zone TZ names now. */
static void zone_offsets(long off[2])
{
    tzset();
    time_t t[2] = {time(NULL), time(NULL) + 183 * 86400};
    for (int i = 0; i < 2; i++) {
        struct tm tm;
        off[i] = localtime_r(&t[i], &tm) ? tm.tm_gmtoff : 0;
    }
}

void cli_warn_zone(const char *cmd)
{
    const char *set = getenv("TZ");
    if (!set)
        return;
    char tz[256], name[256], abbr[16], off[8];
    snprintf(tz, sizeof tz, "%s", set);
    long shell[2], sys[2];
    zone_offsets(shell);
    unsetenv("TZ");
    zone_offsets(sys);
    calendar_zone(name, sizeof name, abbr, off);    /* the system's */
    setenv("TZ", tz, 1);
    tzset();
    if (shell[0] != sys[0] || shell[1] != sys[1])
        fprintf(stderr, "minqing %s: TZ=%s is set: times are read and shown in it, not in this "
                "system's zone (%s, UTC%s), which the broker counts days and months in "
                "(unless its unit sets TZ): unset TZ for the county's figures\n", cmd, tz,
                name[0] ? name : abbr, off);
}

const char *cli_zone_id(char *buf, size_t size)
{
    char name[256], abbr[16], off[8];
    calendar_zone(name, sizeof name, abbr, off);
    if (name[0])
        snprintf(buf, size, "%s", name);
    else
        snprintf(buf, size, "UTC%s", off);
    return buf;
}
