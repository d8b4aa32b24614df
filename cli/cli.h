/*
 * cli.h - what the modules of the `minqing` command-line tool share.
 *
 * One module per command (submit.c, show.c, list.c, stats.c, tail.c, ...;
 * act.c for the four case commands close, cancel, reassign and feedback),
 * each with its own options, help text and SQL, and a few shared helpers:
 *   db.c     the config, the database opened read-only, times in and out,
 *            option-parsing glue and error messages that say what to do;
 *   dbfile.c the database as a file: copied, synced, renamed into place;
 *   partial.c a copy in progress, removed by a signal that ends the command;
 *   replace.c the database's files replaced by a copy, safe from a crash;
 *   connect.c  the broker's endpoints with CURVE: which certificates, and
 *            why the broker refused a key;
 *   table.c  aligned text tables that count a Chinese character as two
 *            columns, and terminal-safe text;
 *   mask.c   masking of residents' personal data (phone 138****5678, name 张*).
 * The CLI changes state only through the broker (submit, the case commands,
 * import), like any other intake client, and never writes the database,
 * except restore.c, which replaces it while the broker is stopped (and holds
 * its lock).
 */
#ifndef MQ_CLI_H
#define MQ_CLI_H

#include "config.h"
#include "mask.h"            /* personal data, masked as libminqing masks it */
#include "mq_internal.h"     /* mq_curve_t: the keys a command connects with */
#include "msg.h"

#include <getopt.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <stdio.h>

/* Exit codes, documented in `minqing --help`. */
enum {
    CLI_OK = 0,
    CLI_RUNTIME = 1,            /* broker unreachable, database missing, I/O */
    CLI_USAGE = 2,              /* bad option or argument, invalid case */
    CLI_NOT_FOUND = 3,          /* no such case */
};

/* The state every command starts from: the config path (-c, before or after
 * the command name), the CURVE certificates given (--server-cert, --cert; for
 * the commands that talk to the broker) and, once loaded, the config. */
typedef struct {
    const char *config_path;
    const char *server_cert, *cert;
    config_t *cfg;
} cli_t;

/* The options of the commands that talk to the broker over CURVE, for their
 * option tables and help texts; cli_getopt handles them. */
enum { CLI_OPT_SERVER_CERT = 0x100, CLI_OPT_CERT };
#define CLI_CERT_OPTIONS                                                   \
    {"server-cert", required_argument, NULL, CLI_OPT_SERVER_CERT},         \
    {"cert", required_argument, NULL, CLI_OPT_CERT}
#define CLI_CERT_HELP                                                                      \
    "      --cert FILE        this client's certificate, for a tcp:// endpoint (made by\n" \
    "                         minqing keygen; the secret key in FILE_secret)\n"           \
    "      --server-cert FILE\n"                                                           \
    "                         the broker's public certificate (default: server_cert\n"    \
    "                         in the config)\n"

/* ---- commands (each in its own module) -------------------------------- */

int cmd_submit(cli_t *cli, int argc, char **argv);
int cmd_show(cli_t *cli, int argc, char **argv);
int cmd_list(cli_t *cli, int argc, char **argv);
int cmd_stats(cli_t *cli, int argc, char **argv);
int cmd_tail(cli_t *cli, int argc, char **argv);
int cmd_import(cli_t *cli, int argc, char **argv);
int cmd_backup(cli_t *cli, int argc, char **argv);
int cmd_restore(cli_t *cli, int argc, char **argv);
int cmd_keygen(cli_t *cli, int argc, char **argv);
/* close, cancel, reassign and feedback (act.c), told apart by argv[0]. */
int cmd_act(cli_t *cli, int argc, char **argv);

/* ---- submit.c: the case record from JSON ------------------------------- */

struct json_t;
/* Fill *kase from a JSON object with the Open311 field names (its strings stay
 * owned by `obj`); `cmd` ("submit", "import") and `src` name the command and
 * the input in messages. Every problem is printed; CLI_OK or CLI_USAGE. */
int cli_case_from_json(struct json_t *obj, const char *cmd, const char *src, msg_case_t *kase);
/* The first bytes of an input (its first line, or more), for the encodings
 * Windows exports come in: NULL when it is UTF-8, *skip then the length of
 * a UTF-8 BOM at its start (0 or 3); else the UTF-16 it is in ("UTF-16" with
 * a BOM, "UTF-16LE" or "UTF-16BE" by where the NUL bytes of its first line
 * fall), which cli_utf16_fail refuses. */
const char *cli_text_utf16(const char *buf, size_t len, size_t *skip);
/* Say that the input `name` (NULL: standard input) is in UTF-16 `enc`, and
 * how to convert it; returns CLI_USAGE. */
int cli_utf16_fail(const char *cmd, const char *name, const char *enc);
/* Added, once a run, to a refusal for invalid UTF-8: the likeliest cause. */
#define CLI_GBK_HINT " (a GBK export? iconv -f GBK -t UTF-8)"

/* ---- db.c: config, database, time, errors ----------------------------- */

/* Print "minqing CMD: <message>" on stderr; returns `code`. */
int cli_fail(int code, const char *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A usage error: the message and "try 'minqing CMD --help'"; returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* getopt_long with our own messages: returns the option, -1 at the end, or
 * '?' after printing a usage error for a bad option or missing argument.
 * `shortopts` must start with ':'. -c FILE is handled here for every
 * command (it sets cli->config_path) and never returned; so are
 * CLI_CERT_OPTIONS, for the commands that list them. */
int cli_getopt(cli_t *cli, const char *cmd, int argc, char **argv, const char *shortopts,
               const struct option *longopts);
/* Load cli->config_path into cli->cfg; CLI_OK, or CLI_RUNTIME after saying why. */
int cli_load_config(cli_t *cli, const char *cmd);
/* Open the broker's database read-only (a WAL reader that never writes).
 * NULL after printing what is wrong and what to do (exit CLI_RUNTIME). */
sqlite3 *cli_db_open(const cli_t *cli, const char *cmd);
/* Whether a minqing restore may have moved the database's files since
 * `before` (a stat of it taken before cli_db_open; st_ino 0 if there was
 * none): its mark is beside it, or another file is under its name. */
bool cli_db_moved(const cli_t *cli, const struct stat *before);
/* The first column of the first row of `sql`, as an integer: 0, or -1 when
 * it fails or gives no row. */
int cli_scalar(sqlite3 *db, const char *sql, long *out);
/* Print a failed statement's error; returns CLI_RUNTIME. */
int cli_db_fail(sqlite3 *db, const char *cmd, const char *what);
/* Check that an ipc:// endpoint's socket file exists (other transports pass);
 * CLI_OK, or CLI_RUNTIME after saying the broker seems down. */
int cli_endpoint_check(const cli_t *cli, const char *cmd, const char *endpoint, const char *key);

/* Unix time in ms now. */
int64_t cli_now_ms(void);
/* "2026-11-01 08:00:05" in local time, or "-" for 0. buf >= 32 bytes. */
const char *cli_time(int64_t ms, char *buf, size_t size);
/* The same with milliseconds: "2026-11-01 08:00:05.123". */
const char *cli_time_ms(int64_t ms, char *buf, size_t size);
/* Parse "2026-11-01" or "20261101" (a day's start), "2026-11-01T08:00[:SS]"
 * (or a space for T) or unix ms (other digits only, from 10^11: 1973) into
 * unix ms; 0 on success, -1 if bad. A time may end in an offset from UTC
 * ("Z", "+08:00", "+0800", "-05:00", "+08"); without one, a date or time is local:
 * in this process's time zone (TZ, else /etc/localtime). */
int cli_parse_time(const char *s, int64_t *ms);
/* The same, and *local (when not NULL) says whether it was read in the local
 * time zone: a date or time without an offset. */
int cli_parse_time_zoned(const char *s, int64_t *ms, bool *local);
/* The local time zone, for saying which one local times were read in:
 * "Asia/Shanghai (CST, UTC+0800 now)", cut to size. */
const char *cli_zone_name(char *buf, size_t size);
/* The local time zone in short, for headers: "Asia/Shanghai", or "UTC+0800"
 * when nothing names it. */
const char *cli_zone_id(char *buf, size_t size);
/* On stderr, when TZ names another zone than this system's (/etc/localtime),
 * which the broker counts days and months in: a report read in the shell's
 * zone puts the first hours of a month into the one before. */
void cli_warn_zone(const char *cmd);
/* The usage error for `s`, which cli_parse_time refused as option `opt`'s
 * value: what the forms are (and, for digits, why). Returns CLI_USAGE. */
int cli_time_usage(const char *cmd, const char *opt, const char *s);
/* CLI_OK when since is before until (the cases received in [since, until)),
 * else a usage error naming both times as read, and since as the default
 * (unix time 0) when it was not given; returns CLI_USAGE then. */
int cli_range_check(const char *cmd, int64_t since, int64_t until, bool since_given);
/* Parse a decimal count in [min, max]; 0 on success, -1 if bad. */
int cli_parse_long(const char *s, long min, long max, long *out);

/* Display name of a department id ("水务局"), or the id when unknown. */
const char *cli_dept_name(const config_t *cfg, const char *id);
/* A department given by id or display name: its id, or NULL when unknown. */
const char *cli_dept_lookup(const config_t *cfg, const char *what);

/* ---- dbfile.c: the database as a file (backup, restore) ----------------- */

/* The characters mkstemp's XXXXXX become, for recognising the files it made. */
#define CLI_MKSTEMP_CHARS "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

/* Copy the database src into the new, empty file `path` in one step (a
 * consistent snapshot), then run then_sql (NULL: none) on the copy; SQLite's
 * result code, SQLITE_DONE on success, else the reason in why. */
int dbfile_copy(sqlite3 *src, const char *path, const char *then_sql, int *pages, char *why,
                size_t len);
/* Remove a copy that failed: path and the -wal, -shm and -journal SQLite
 * may have made beside it. */
void dbfile_remove(const char *path);
/* fsync a file, or with dir the directory it is in: 0 or -1 (errno). */
int dbfile_sync(const char *path, bool dir);
/* Rename `from` to `to` unless `to` exists: 0, or -1 (errno; EEXIST). */
int dbfile_put(const char *from, const char *to);

/* ---- partial.c: a copy in progress (backup, restore) ------------------- */

/* Create the file the mkstemp template `tmpl` names (its name written back;
 * mode 0600), locked while in use (partial_in_use), and have SIGINT, SIGTERM
 * and SIGHUP, unless ignored (nohup), remove it and the -wal, -shm and
 * -journal SQLite may make beside it, then end the process as they would
 * have. One copy at a time. Its fd, or -1 (errno). */
int partial_open(char *tmpl);
/* The copy was renamed into place or removed: those signals act as before;
 * fd (-1: none) is closed. */
void partial_close(int fd);
/* Block those signals until sigprocmask(SIG_SETMASK, old, NULL): for a step
 * that must not be cut short. */
void partial_block(sigset_t *old);
/* Whether a running command holds the copy at path (partial_open's lock). */
bool partial_in_use(const char *path);

/* ---- replace.c: the database's files replaced under a mark (restore) ----- */

/* Finish what a restore killed while it moved files left (the mark
 * "<db>.restoring"): 0 (what was done, if anything, in `said`, else ""),
 * or -1 when it cannot be finished safely (why in `said`; the mark stays). */
int replace_recover(const char *db, char *said, size_t len);
/* Rename db and its -wal and -shm to "<db>.replaced-STAMP[-N]" (its name in
 * `replaced`, "" when there was no db) and `copy` to db, under the mark. 0,
 * or -1 with everything put back and the reason in why. */
int replace_swap(const char *db, const char *copy, char *replaced, size_t rlen, char *why,
                 size_t wlen);
/* Call fn with each copy a killed restore left beside db ("<db>.restore-XXXXXX",
 * and its -journal), but `except` (the backup being restored; NULL: none). */
void replace_stale_copies(const char *db, const char *except, void (*fn)(const char *path));
/* Remove each mark a killed restore began to write beside db and never put
 * in place ("<db>.restoring.new-" and mkstemp's six characters: nothing
 * moves before the mark is in place), and call fn with its path and true;
 * with false for a file of that name that is not a mark, left as it is.
 * Under the lock only. */
void replace_stale_marks(const char *db, void (*fn)(const char *path, bool removed));

/* ---- connect.c: the broker's endpoints, with CURVE --------------------- */

/* The CURVE keys a command uses on one endpoint. */
typedef struct {
    const char *server_path, *client_path;
    mq_curve_t keys;            /* keys.on: both loaded, connect as a CURVE client */
} cli_curve_t;

/* The keys for `endpoint`. On a tcp:// endpoint whose broker uses CURVE
 * (server_cert in the config, or --server-cert), the --server-cert and
 * --cert files, loaded; none on a plain one. `lists` names the allowlist
 * the client's key belongs on ("keys/admin/"), for the messages. CLI_OK, or
 * CLI_USAGE (a certificate missing, or given for ipc://) or CLI_RUNTIME (one
 * unreadable) after saying why. */
int cli_curve(const cli_t *cli, const char *cmd, const char *endpoint, const char *lists,
              cli_curve_t *c);
struct mq_client_t;
/* An intake client on the config's intake endpoint, with CURVE keys when it
 * has them (cli_curve). CLI_OK with *out set, or the exit code after saying
 * why. */
int cli_client_open(const cli_t *cli, const char *cmd, const char *lists,
                    struct mq_client_t **out);
/* Say why a call of that client failed (a refused key: which list it belongs
 * on); CLI_RUNTIME. */
int cli_client_failed(const cli_t *cli, const char *cmd, const char *lists);
/* Say why a request (mq_client_submit, mq_client_request) failed and what to
 * do, when the broker or the connection is to blame: no answer within
 * timeout_s (`again`: a sentence on sending it again), a key refused or not
 * in the role (`lists`), ERROR 3xx or 5xx; CLI_RUNTIME. CLI_OK, saying
 * nothing, for an ERROR 1xx or 2xx: the request's own fault, the caller's to
 * explain (mq_strerror() has the broker's reason). */
int cli_request_failed(const cli_t *cli, const char *cmd, const struct mq_client_t *client,
                       const char *lists, long timeout_s, const char *again);

/* ---- table.c: aligned tables, safe text ------------------------------- */

typedef struct table_t table_t;

typedef enum { ALIGN_LEFT, ALIGN_RIGHT } table_align_t;

/* A table of `ncols` columns; NULL when out of memory. */
table_t *table_new(size_t ncols);
void table_free(table_t **self_p);
/* Set a column's alignment (default left). */
void table_align(table_t *self, size_t col, table_align_t align);
/* Append one cell (copied, made terminal-safe); rows fill left to right.
 * NULL is shown as "-". -1 when out of memory. */
int table_add(table_t *self, const char *cell);
int table_addf(table_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Rows added so far (the first row is usually the header). */
size_t table_rows(const table_t *self);
/* Print with columns padded to their widest cell, `indent` spaces first. */
void table_print(const table_t *self, FILE *out, int indent);

/* Columns a UTF-8 string takes on a terminal (CJK and fullwidth count 2). */
size_t cli_width(const char *s);
/* A copy of s with control characters (C0, DEL, C1) replaced by '?' and
 * invalid UTF-8 bytes by '?', so that text from residents or workers cannot
 * drive the terminal; newlines kept when keep_newlines. Caller frees; NULL
 * when out of memory. */
char *cli_clean(const char *s, bool keep_newlines);

#endif
