/*
 * wconfig.c - minqing-worker's options, from the command line and from the
 * INI file that -c names (see wconfig.h). Each value is checked as it is
 * read (an endpoint by ZeroMQ itself, on a throwaway socket), and a key the
 * file gives twice is refused, so that a mistake is reported at its option
 * or at its line of the file, with exit 2, before the worker connects or
 * runs anything.
 */
#include "wconfig.h"
#include "loglevel.h"
#include "utf8.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <zmq.h>

#define NAME_MAX_CHARS 64           /* REGISTER's worker: text 1..64 */

static const char usage_text[] =
    "usage: minqing-worker --endpoint E --department D --exec CMD [options]\n"
    "       minqing-worker -c FILE [options]\n"
    "\n"
    "Runs CMD (/bin/sh -c CMD) for each assignment of department D, with the case\n"
    "as one JSON object on stdin, and reports what CMD prints on stdout, one JSON\n"
    "object per line, to the minqing broker at E:\n"
    "  {\"event\":\"accepted\"}\n"
    "  {\"event\":\"contacted\",\"note\":\"...\"}\n"
    "  {\"event\":\"progress\",\"note\":\"...\"}\n"
    "  {\"event\":\"resolved\",\"result\":\"fixed\",\"summary\":\"...\"}\n"
    "  {\"event\":\"returned\",\"reason\":\"wrong_department\",\"note\":\"...\"}\n"
    "(reasons: wrong_department, wrong_locality, duplicate, insufficient_info, other).\n"
    "result is a token (letters, digits, _ . -; at most 32 characters); a summary\n"
    "past 2000 characters, a note past 1000, is cut there. A resolved alone is sent\n"
    "after an accepted, which RESOLVED needs; a resolved or returned line that\n"
    "cannot be sent (a result that is no token) fails the run.\n"
    "Other lines are logged as garbage (by number, never by content) and ignored.\n"
    "Each stderr line is logged (event=cmd.stderr) with every number of 7 or more\n"
    "digits (also apart by +, |, * or %20), e-mail address, coordinate (4 or more\n"
    "decimals), escaped non-ASCII character (\\u738b, \\xe7, %E7) and the case's own\n"
    "name, address, e-mail and phone masked, also escaped, in either case\n"
    "(138****5678, 138-****-5678, z***@163.com, 36.******, 王小明 -> ***; bytes\n"
    "that are not UTF-8 become ?). Not recognised, so keep them out: other names\n"
    "and addresses (a neighbour's, the address written another way, 王·小明),\n"
    "numbers in Chinese numerals or circled digits, e-mail with ＠, %40 or (at).\n"
    "stdin: {\"type\":\"assignment\",\"assignment_id\",\"case_id\",\"department\",\"role\",\n"
    "  \"attempt\",\"received_at\",\"contact_due\",\"resolve_due\" (unix ms or null),\n"
    "  \"case\":{every field of the record present, lat/long as numbers}}.\n"
    "Environment: MINQING_TYPE, MINQING_ASSIGNMENT_ID, MINQING_CASE_ID,\n"
    "  MINQING_DEPARTMENT, MINQING_ATTEMPT (the broker's delivery count),\n"
    "  MINQING_CONTACT_DUE (unix ms), MINQING_RUN (1 + retries so far).\n"
    "Escalation notices (supervision departments) run CMD too, with\n"
    "  {\"type\":\"escalation\",\"escalation_id\",\"case_id\",\"level\",\"ladder\",\"target\",\n"
    "  \"department\",\"grid_code\",\"community\",\"street\",\"due_at\",\"overdue_s\"} and\n"
    "  MINQING_ESCALATION_ID, MINQING_LEVEL; a notice is acknowledged when CMD exits 0,\n"
    "  and its stdout is ignored. A failed run is retried as below; after the last one\n"
    "  the notice stays unacknowledged, and the broker's next copy (within 5 s) runs\n"
    "  CMD again.\n"
    "\n"
    "A command fails when it exits non-zero, is killed, cannot start, runs past\n"
    "--timeout (then its process group gets SIGTERM, and SIGKILL 5 s later), or\n"
    "prints no outcome (nothing, or only garbage). It is judged by its own exit:\n"
    "what it leaves running in the background gets 1 s, then SIGTERM (SIGKILL 5 s\n"
    "later). A failed command runs again after 1 s, 2 s, 4 s ... up to --retries\n"
    "times, and the assignment is returned (reason other, the failure in the note).\n"
    "An assignment that reported resolved or returned is done whatever the exit\n"
    "code; one that reported contacted or progress stays open with the department,\n"
    "and is neither run again nor returned if its command then fails.\n"
    "\n"
    "options (each also a key of the -c FILE, as key = value, e.g. on-failure = return):\n"
    "  --endpoint E        the broker's worker endpoint, e.g. ipc:///run/minqing/workers.sock\n"
    "  --department D      the department id this adapter speaks for\n"
    "  --exec CMD          the command, run by /bin/sh -c\n"
    "  --concurrency N     commands running at once (default 1)\n"
    "  --capacity C        assignments held open at once, including those a command\n"
    "                      left open (default: the concurrency; raise it when CMD\n"
    "                      hands cases over without resolving them)\n"
    "  --timeout T         per run: 300s (default), 500ms, 5m, 1h; a bare number is seconds\n"
    "  --retries K         runs again after a failure (default 2)\n"
    "  --on-failure retry|return   retry (default), or return the assignment at once\n"
    "  --name NAME         this worker's name in the broker's logs (1..64 characters)\n"
    "  --server-cert FILE  the broker's public certificate (from `minqing keygen`),\n"
    "                      for CURVE, which a tcp:// endpoint requires\n"
    "  --cert FILE         this worker's certificate, its secret key in FILE_secret;\n"
    "                      its public key must be in the broker's\n"
    "                      keys/workers/D/ (both or neither of these two)\n"
    "  --log-level L       debug, info (default), notice, warning, err, crit\n"
    "  -c, --config FILE   INI file with the keys above (no section, or [worker]);\n"
    "                      each key once; options on the command line win over\n"
    "                      the file. A line holds at most 198 bytes and \" ;\"\n"
    "                      starts a comment: put a longer command, or one with\n"
    "                      \" ;\", in a script\n"
    "  -h, --help          this text\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop taking work, wait up to 10 s for running commands,\n"
    "flush outcomes and exit; unfinished work stays with the broker. A second signal\n"
    "stops the wait: running commands are killed (and stay with the broker too).\n"
    "Exit status: 0 clean stop on SIGTERM/SIGINT; 1 runtime failure (e.g. the broker\n"
    "refused the first registration, or outcomes were still unacknowledged after\n"
    "the 5 s flush at the stop: those assignments are delivered and run again);\n"
    "2 usage or configuration error. A key revoked by a reload later stops nothing:\n"
    "the refusal is logged (worker.refused), commands go on, their outcomes wait, and\n"
    "the worker registers again until the key is allowed back (worker.readmitted).\n";

const char *wconfig_usage(void)
{
    return usage_text;
}

wconfig_t *wconfig_new(void)
{
    wconfig_t *c = calloc(1, sizeof *c);
    if (c)
        *c = (wconfig_t){.concurrency = 1, .retries = 2, .timeout_ms = 300000,
                         .log_level = LOG_INFO};
    return c;
}

void wconfig_destroy(wconfig_t **self)
{
    wconfig_t *c = *self;
    if (!c)
        return;
    free(c->endpoint);
    free(c->department);
    free(c->exec);
    free(c->name);
    free(c->server_cert);
    free(c->cert);
    free(c);
    *self = NULL;
}

/* The message for the caller to print, and rc. Out of memory, *error is NULL. */
__attribute__((format(printf, 3, 4)))
static int fail(char **error, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(error, fmt, ap) < 0)
        *error = NULL;
    va_end(ap);
    return rc;
}

static int usage_error(char **error, const char *what)
{
    return fail(error, 2, "%s (try --help)", what);
}

/* strtol and strtoll skip blanks and take a sign: a number given here
 * starts with its first digit, so that " 5", "+5" and " +5" are refused
 * alike. */
static bool digit_first(const char *s)
{
    return *s >= '0' && *s <= '9';
}

/* "300s", "500ms", "5m", "1h", or a bare number of seconds; 1 ms .. 1 day. */
static int parse_duration(const char *s, int64_t *ms)
{
    static const struct { const char *unit; int64_t ms; } units[] = {
        {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
    };
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || !digit_first(s) || v <= 0)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].unit) == 0 && v <= 86400000LL / units[i].ms) {
            *ms = v * units[i].ms;
            return 0;
        }
    return -1;
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !digit_first(s) || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int set_string(char **field, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return -1;
    free(*field);
    *field = copy;
    return 0;
}

/* Why ZeroMQ refuses to connect to endpoint (its own checks: a tcp:// port,
 * a host's characters, an ipc:// path that fits a socket address), or NULL
 * when it connects. Tried on a throwaway context, closed at once (nothing
 * is sent but the greeting of a connection dropped), before the adapter
 * blocks its signals: its threads end with it. */
static const char *zmq_refusal(const char *endpoint)
{
    static char why[96];
    void *ctx = zmq_ctx_new(), *sock = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    int linger = 0, err = 0;
    if (!sock)
        err = errno;    /* no ZeroMQ here: nothing can connect, said at once */
    else if (zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) ||
             zmq_connect(sock, endpoint))
        err = errno;
    if (sock)
        zmq_close(sock);
    if (ctx)
        zmq_ctx_term(ctx);
    if (!err)
        return NULL;
    if (err == EINVAL && !strncmp(endpoint, "tcp://", 6))
        return "not tcp://HOST:PORT (the port is required; a host has no spaces)";
    if (err == ENAMETOOLONG)
        return "the ipc:// path is longer than a socket address holds (107 bytes)";
    snprintf(why, sizeof why, "ZeroMQ cannot connect to it: %s", zmq_strerror(err));
    return why;
}

/* An endpoint ZeroMQ can connect to, caught here so that a config file's
 * mistake is reported at its line (exit 2, which systemd does not restart),
 * not later by the library (exit 1, restarted in a loop). NULL, or what is
 * wrong with it. */
static const char *endpoint_problem(const char *v)
{
    static const char *const schemes[] = {"ipc://", "tcp://", "inproc://"};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (!strncmp(v, schemes[i], strlen(schemes[i])) && v[strlen(schemes[i])])
            return zmq_refusal(v);
    return "ipc://PATH or tcp://HOST:PORT";
}

/* NULL, or why the broker would refuse name as REGISTER's worker. */
static const char *name_problem(const char *v)
{
    size_t chars;
    if (!utf8_valid(v, strlen(v), &chars))
        return "not UTF-8";
    if (chars < 1 || chars > NAME_MAX_CHARS)
        return chars ? "longer than 64 characters" : "empty";
    return NULL;
}

/* A department id as the protocol has it: a token of 1..32 [A-Za-z0-9_.-]. */
static bool department_ok(const char *v)
{
    size_t n = strlen(v);
    return n >= 1 && n <= 32 &&
           strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* A string value checked by problem (NULL: any but empty); -1 with *hint
 * set when refused. */
static int set_checked(char **field, const char *v, const char *(*problem)(const char *),
                       const char **hint)
{
    if (problem && (*hint = problem(v)))
        return -1;
    return *v ? set_string(field, v) : -1;
}

/* The options; each 'o' one is also a key of the config file. */
static const struct option longopts[] = {
    {"endpoint", required_argument, NULL, 'o'}, {"department", required_argument, NULL, 'o'},
    {"exec", required_argument, NULL, 'o'}, {"concurrency", required_argument, NULL, 'o'},
    {"timeout", required_argument, NULL, 'o'}, {"capacity", required_argument, NULL, 'o'},
    {"name", required_argument, NULL, 'o'}, {"on-failure", required_argument, NULL, 'o'},
    {"retries", required_argument, NULL, 'o'}, {"log-level", required_argument, NULL, 'o'},
    {"server-cert", required_argument, NULL, 'o'}, {"cert", required_argument, NULL, 'o'},
    {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};
#define OPTION_COUNT (sizeof longopts / sizeof longopts[0] - 1)

/* Apply one key = value (a long option or a config file line). 0, or -1 with
 * why filled. */
static int set_option(wconfig_t *c, const char *key, const char *v, char *why, size_t len)
{
    int rc = -1;
    const char *hint = NULL;
    if (!strcmp(key, "endpoint")) rc = set_checked(&c->endpoint, v, endpoint_problem, &hint);
    else if (!strcmp(key, "department")) rc = department_ok(v) ? set_string(&c->department, v) : -1;
    else if (!strcmp(key, "exec")) rc = set_checked(&c->exec, v, NULL, &hint);
    else if (!strcmp(key, "name")) rc = set_checked(&c->name, v, name_problem, &hint);
    else if (!strcmp(key, "server-cert")) rc = set_checked(&c->server_cert, v, NULL, &hint);
    else if (!strcmp(key, "cert")) rc = set_checked(&c->cert, v, NULL, &hint);
    else if (!strcmp(key, "concurrency")) rc = parse_long(v, 1, 1000, &c->concurrency);
    else if (!strcmp(key, "capacity")) rc = parse_long(v, 1, 10000, &c->capacity);
    else if (!strcmp(key, "retries")) rc = parse_long(v, 0, 100, &c->retries);
    else if (!strcmp(key, "timeout")) rc = parse_duration(v, &c->timeout_ms);
    else if (!strcmp(key, "log-level")) rc = (c->log_level = loglevel_from_name(v)) < 0 ? -1 : 0;
    else if (!strcmp(key, "on-failure")) {
        c->on_failure_return = !strcmp(v, "return");
        rc = c->on_failure_return || !strcmp(v, "retry") ? 0 : -1;
    } else {
        snprintf(why, len, "unknown key '%s'", key);
        return -1;
    }
    if (rc && hint)
        snprintf(why, len, "%s: bad value: %s", key, hint);
    else if (rc)
        snprintf(why, len, "%s: bad value (see --help)", key);
    return rc;
}

/* The config file is read through read_line, which counts lines, so each
 * problem is reported with its own line; the first one wins. */
typedef struct {
    wconfig_t *cfg;
    FILE *f;
    int line, bad_line;
    int first_line[OPTION_COUNT];   /* where each key was given, 0: not yet */
    char why[160];
} ini_ctx_t;

__attribute__((format(printf, 2, 3)))
static void ini_problem(ini_ctx_t *ctx, const char *fmt, ...)
{
    va_list ap;
    if (ctx->bad_line)
        return;
    ctx->bad_line = ctx->line;
    va_start(ap, fmt);
    vsnprintf(ctx->why, sizeof ctx->why, fmt, ap);
    va_end(ap);
}

/* inih's reader: one physical line per call. inih would cut a line longer
 * than its buffer, and join an indented line to the previous value (an exec
 * command cut or changed without a word): both are refused here. */
static char *read_line(char *str, int num, void *stream)
{
    ini_ctx_t *ctx = stream;
    if (!fgets(str, num, ctx->f))
        return NULL;
    ctx->line++;
    size_t len = strlen(str), lead = strspn(str, " \t");
    if (len && str[len - 1] != '\n' && !feof(ctx->f)) {
        ini_problem(ctx, "longer than %d bytes", num - 2);
        for (int ch = 0; ch != '\n' && ch != EOF;)
            ch = fgetc(ctx->f);
    }
    if (lead && !strchr(";#\r\n", str[lead]))
        ini_problem(ctx, "indented: a key must start the line");
    return str;
}

/* True (the problem recorded) when the file gives key a second time: the
 * last one would win in silence, as a stale `exec =` left below a new one. */
static bool repeated_key(ini_ctx_t *ctx, const char *key)
{
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        if (strcmp(longopts[i].name, key) != 0)
            continue;
        if (ctx->first_line[i]) {
            ini_problem(ctx, "%s given twice (first at line %d): give each key once", key,
                        ctx->first_line[i]);
            return true;
        }
        ctx->first_line[i] = ctx->line;
    }
    return false;
}

/* inih's handler: keys at the top or in [worker]; on_failure = on-failure. */
static int on_ini_key(void *user, const char *section, const char *name, const char *value)
{
    ini_ctx_t *ctx = user;
    char key[32], why[160];
    snprintf(key, sizeof key, "%s", name);
    for (char *p = key; *p; p++)
        *p = *p == '_' ? '-' : *p;
    if (*section && strcmp(section, "worker") != 0)
        ini_problem(ctx, "unknown section [%s]", section);
    else if (!repeated_key(ctx, key) && set_option(ctx->cfg, key, value, why, sizeof why))
        ini_problem(ctx, "%s", why);
    return 1;
}

static int load_file(wconfig_t *c, const char *path, char **error)
{
    ini_ctx_t ctx = {.cfg = c, .f = fopen(path, "r")};
    if (!ctx.f)
        return fail(error, -1, "%s: cannot read: %s", path, strerror(errno));
    int rc = ini_parse_stream(read_line, &ctx, on_ini_key, &ctx);
    fclose(ctx.f);
    if (rc > 0 && (!ctx.bad_line || rc < ctx.bad_line))
        return fail(error, -1, "%s:%d: not a key = value line", path, rc);
    if (ctx.bad_line)
        return fail(error, -1, "%s:%d: %s", path, ctx.bad_line, ctx.why);
    if (rc < 0)
        return fail(error, -1, "%s: out of memory", path);
    return 0;
}

/* The options of argv, in order, as key/value pairs into kv (2 * argc
 * slots), and the file of -c. 0, -1 for --help, or 2 on a usage error. */
static int read_argv(int argc, char **argv, const char **kv, int *n, const char **file,
                     char **error)
{
    int opt, idx;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, &idx)) != -1) {
        if (opt == 'h')
            return -1;
        else if (opt == 'c')
            *file = optarg;
        else if (opt == 'o')
            kv[(*n)++] = longopts[idx].name, kv[(*n)++] = optarg;
        else
            return usage_error(error, "bad option");
    }
    return optind < argc ? usage_error(error, "unexpected argument") : 0;
}

/* What no single option can check: the ones required, the pairs. */
static int check(wconfig_t *c, char **error)
{
    if (!c->endpoint || !c->department || !c->exec)
        return usage_error(error, "--endpoint, --department and --exec are required");
    if (!c->server_cert != !c->cert)
        return usage_error(error, "--server-cert and --cert go together: the broker's "
                                  "certificate and this worker's");
    if (!c->capacity)
        c->capacity = c->concurrency;
    return 0;
}

int wconfig_parse(wconfig_t *c, int argc, char **argv, char **error)
{
    const char *file = NULL, **kv = calloc((size_t)argc * 2, sizeof *kv);
    int n = 0, rc;
    char why[160];
    *error = NULL;
    rc = kv ? read_argv(argc, argv, kv, &n, &file, error) : usage_error(error, "out of memory");
    if (rc == 0 && file && load_file(c, file, error))
        rc = 2;
    for (int i = 0; rc == 0 && i < n; i += 2)
        if (set_option(c, kv[i], kv[i + 1], why, sizeof why))
            rc = usage_error(error, why);
    free(kv);
    return rc ? rc : check(c, error);
}
