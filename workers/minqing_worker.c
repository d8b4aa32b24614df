/*
 * minqing_worker.c - minqing-worker, the generic exec adapter: it connects a
 * department to the broker without writing C. Each assignment the department
 * receives runs a command (/bin/sh -c CMD) with the case as one JSON object on
 * stdin; each line the command prints on stdout is one outcome
 * ({"event":"accepted"}, "contacted", "progress", "resolved", "returned"),
 * reported to the broker through libminqing. So a department's adapter can be
 * a ten-line shell script: an SMS gateway, a bridge to a ticket system, a
 * file drop.
 *
 * Why one process with one poll loop and no threads: the state is small (the
 * commands in flight and their pipes), libminqing objects are not thread-safe,
 * and a loop over the broker's fd, the children's pipes and a signalfd keeps
 * every decision in one place, in order. The signals are blocked before
 * libzmq starts its threads, so no call is ever interrupted (EINTR) and no
 * handler runs behind the loop's back. The loop:
 *
 *   broker fd ──mq_worker_next(0) until MQ_NOTHING──▶ job list (FIFO, deduplicated
 *                                                      by assignment_id)
 *   job list ──at most --concurrency──▶ /bin/sh -c CMD, own process group
 *        stdin  ◀── the case as JSON (written as the pipe takes it)
 *        stdout ──▶ line buffers ──▶ events ──▶ mq_worker_accept/... (garbage logged)
 *        stderr ──▶ one log line per line, prefixed with the job's ids, digit runs masked
 *   SIGCHLD / SIGTERM ──▶ signalfd ──▶ reap / stop taking work
 *
 * A command that fails (non-zero exit, a signal, cannot start, past --timeout,
 * or printed nothing but garbage) does not lose its case: it runs again after
 * a backoff of 1 s, 2 s, 4 s ... up to --retries times, and then the
 * assignment is RETURNED (reason "other", the failure in the note) so that the
 * manual dispatch centre sees it; with --on-failure return at once. An
 * escalation notice that still fails is released unacknowledged: libminqing
 * hands the broker's next copy (every 5 s) out again, and it runs again. An
 * assignment that already reported resolved or returned is done whatever the
 * exit code. A command that exits 0 after contacted/progress leaves its case
 * open with the department (it still counts against --capacity). On SIGTERM no
 * new command starts, running ones get up to 10 s, outcomes are flushed (exit
 * 1 when one is left unacknowledged). Work not started or not finished stays
 * with the broker, which delivers it again.
 *
 * Logs are logfmt lines on stderr and never carry personal data: a job is
 * named by assignment_id, case_id and department, a bad stdout line by its
 * number and what is wrong with it, never by its text. The command's own
 * stderr is passed on (event=cmd.stderr) with every number of 7 or more digits
 * masked, as `minqing show` masks free text (13812345678 -> 138****5678);
 * names and addresses cannot be recognised there, so keeping them out of
 * stderr stays the command's responsibility.
 */
#include "jsonerr.h"
#include "loglevel.h"
#include "minqing.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <ini.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define POLL_MAX_MS      250        /* mq_worker_next at least this often */
#define KILL_GRACE_MS    5000       /* timeout: SIGTERM, then SIGKILL after this */
#define REAP_GRACE_MS    1000       /* after SIGKILL: stop waiting for the pipes */
#define STOP_WAIT_MS     10000      /* SIGTERM: time left to running commands */
#define FLUSH_MS         5000       /* SIGTERM: time for the last outcomes */
#define BACKOFF_MAX_MS   60000
#define MAX_LINE         65536      /* buffer of one stdout/stderr line, with its NUL */
#define LOG_LINE         4096
#define MAX_VARS         8          /* MINQING_* variables of one job */
#define SEEN_MIN         4096       /* finished assignment ids remembered */

extern char **environ;

/* ---- configuration ----------------------------------------------------- */

typedef struct {
    char *endpoint, *department, *exec, *name;
    char *server_cert, *cert;               /* CURVE: both or neither */
    long concurrency, capacity, retries;    /* capacity 0: same as concurrency */
    int64_t timeout_ms;
    bool on_failure_return;
    int log_level;
} config_t;

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
    "Other lines are logged as garbage (by number, never by content) and ignored.\n"
    "Each stderr line is logged (event=cmd.stderr) with every number of 7 or more\n"
    "digits masked (138****5678, 138-****-5678; bytes that are not UTF-8 become ?);\n"
    "names and addresses are not recognised: keep them out.\n"
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
    "prints only garbage. It then runs again after 1 s, 2 s, 4 s ... up to --retries\n"
    "times, and the assignment is returned (reason other, the failure in the note).\n"
    "An assignment that reported resolved or returned is done whatever the exit\n"
    "code; one left contacted or in progress stays open with the department.\n"
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
    "  --name NAME         this worker's name in the broker's logs\n"
    "  --server-cert FILE  the broker's public certificate (from `minqing keygen`),\n"
    "                      for CURVE, which a tcp:// endpoint requires\n"
    "  --cert FILE         this worker's certificate, its secret key in FILE_secret;\n"
    "                      its public key must be in the broker's\n"
    "                      keys/workers/D/ (both or neither of these two)\n"
    "  --log-level L       debug, info (default), notice, warning, err, crit\n"
    "  -c, --config FILE   INI file with the keys above (no section, or [worker]);\n"
    "                      options on the command line win over the file. A line\n"
    "                      holds at most 198 bytes and \" ;\" starts a comment: put a\n"
    "                      longer command, or one with \" ;\", in a script\n"
    "  -h, --help          this text\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop taking work, wait up to 10 s for running commands,\n"
    "flush outcomes and exit; unfinished work stays with the broker. A second signal\n"
    "stops the wait: running commands are killed (and stay with the broker too).\n"
    "Exit status: 0 clean stop on SIGTERM/SIGINT; 1 runtime failure (e.g. the broker\n"
    "refused the registration, or outcomes were still unacknowledged after the 5 s\n"
    "flush at the stop: those assignments are delivered and run again); 2 usage or\n"
    "configuration error.\n";

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
    if (errno || end == s || v <= 0 || *s == '-' || *s == '+')
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
    if (errno || end == s || *end || v < min || v > max)
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

/* An endpoint ZeroMQ can connect to, caught here so that a config file's
 * mistake is reported at its line, not later by the library. */
static bool endpoint_ok(const char *v)
{
    static const char *const schemes[] = {"ipc://", "tcp://", "inproc://"};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (!strncmp(v, schemes[i], strlen(schemes[i])) && v[strlen(schemes[i])])
            return true;
    return false;
}

/* A department id as the protocol has it: a token of 1..32 [A-Za-z0-9_.-]. */
static bool department_ok(const char *v)
{
    size_t n = strlen(v);
    return n >= 1 && n <= 32 &&
           strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* Apply one key = value (a long option or a config file line). 0, or -1 with
 * why filled. */
static int set_option(config_t *c, const char *key, const char *v, char *why, size_t len)
{
    int rc = -1;
    if (!strcmp(key, "endpoint")) rc = endpoint_ok(v) ? set_string(&c->endpoint, v) : -1;
    else if (!strcmp(key, "department")) rc = department_ok(v) ? set_string(&c->department, v) : -1;
    else if (!strcmp(key, "exec")) rc = *v ? set_string(&c->exec, v) : -1;
    else if (!strcmp(key, "name")) rc = set_string(&c->name, v);
    else if (!strcmp(key, "server-cert")) rc = *v ? set_string(&c->server_cert, v) : -1;
    else if (!strcmp(key, "cert")) rc = *v ? set_string(&c->cert, v) : -1;
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
    if (rc)
        snprintf(why, len, "%s: bad value (see --help)", key);
    return rc;
}

/* The config file is read through read_line, which counts lines, so each
 * problem is reported with its own line; the first one wins. */
typedef struct {
    config_t *cfg;
    FILE *f;
    int line, bad_line;
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
    else if (set_option(ctx->cfg, key, value, why, sizeof why))
        ini_problem(ctx, "%s", why);
    return 1;
}

static int load_file(config_t *c, const char *path)
{
    ini_ctx_t ctx = {.cfg = c, .f = fopen(path, "r")};
    if (!ctx.f) {
        fprintf(stderr, "minqing-worker: %s: cannot read: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = ini_parse_stream(read_line, &ctx, on_ini_key, &ctx);
    fclose(ctx.f);
    if (rc > 0 && (!ctx.bad_line || rc < ctx.bad_line))
        fprintf(stderr, "minqing-worker: %s:%d: not a key = value line\n", path, rc);
    else if (ctx.bad_line)
        fprintf(stderr, "minqing-worker: %s:%d: %s\n", path, ctx.bad_line, ctx.why);
    else if (rc < 0)
        fprintf(stderr, "minqing-worker: %s: out of memory\n", path);
    return rc || ctx.bad_line ? -1 : 0;
}

static int usage_error(const char *what)
{
    fprintf(stderr, "minqing-worker: %s (try --help)\n", what);
    return 2;
}

/* Command line, then the file it names, then the command line's keys over
 * the file's. 0, -1 for --help, or 2 on a usage error (printed). */
static int parse_args(int argc, char **argv, config_t *c)
{
    static const struct option longopts[] = {
        {"endpoint", required_argument, NULL, 'o'}, {"department", required_argument, NULL, 'o'},
        {"exec", required_argument, NULL, 'o'}, {"concurrency", required_argument, NULL, 'o'},
        {"timeout", required_argument, NULL, 'o'}, {"capacity", required_argument, NULL, 'o'},
        {"name", required_argument, NULL, 'o'}, {"on-failure", required_argument, NULL, 'o'},
        {"retries", required_argument, NULL, 'o'}, {"log-level", required_argument, NULL, 'o'},
        {"server-cert", required_argument, NULL, 'o'}, {"cert", required_argument, NULL, 'o'},
        {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *file = NULL, **kv = calloc((size_t)argc * 2, sizeof *kv);
    int n = 0, opt, idx, rc = 0;
    char why[160];
    while (kv && rc == 0 && (opt = getopt_long(argc, argv, "c:h", longopts, &idx)) != -1) {
        if (opt == 'h')
            rc = -1;
        else if (opt == 'c')
            file = optarg;
        else if (opt == 'o')
            kv[n++] = longopts[idx].name, kv[n++] = optarg;
        else
            rc = usage_error("bad option");
    }
    if (!kv || (rc == 0 && optind < argc))
        rc = usage_error(kv ? "unexpected argument" : "out of memory");
    if (rc == 0 && file && load_file(c, file))
        rc = 2;
    for (int i = 0; rc == 0 && i < n; i += 2)
        if (set_option(c, kv[i], kv[i + 1], why, sizeof why))
            rc = usage_error(why);
    free(kv);
    if (rc)
        return rc;
    if (!c->endpoint || !c->department || !c->exec)
        return usage_error("--endpoint, --department and --exec are required");
    if (!c->server_cert != !c->cert)
        return usage_error("--server-cert and --cert go together: the broker's certificate "
                           "and this worker's");
    if (!c->capacity)
        c->capacity = c->concurrency;
    return 0;
}

static void config_free(config_t *c)
{
    free(c->endpoint);
    free(c->department);
    free(c->exec);
    free(c->name);
    free(c->server_cert);
    free(c->cert);
}

/* ---- logging: one logfmt line per record ------------------------------- */

static int log_level = LOG_INFO;

typedef struct {
    bool on;
    size_t len;
    char buf[LOG_LINE];
} rec_t;

static void rec_raw(rec_t *r, const char *s, size_t n)
{
    if (n > sizeof r->buf - 2 - r->len)
        n = sizeof r->buf - 2 - r->len;
    memcpy(r->buf + r->len, s, n);
    r->len += n;
}

/* key=value, quoted when the value has a space, a quote or '='; control
 * characters become spaces, so a record stays on one line. */
static void rec_str(rec_t *r, const char *key, const char *val)
{
    if (!r->on)
        return;
    bool quote = !*val || strpbrk(val, " \"=\t") != NULL;
    rec_raw(r, " ", 1);
    rec_raw(r, key, strlen(key));
    rec_raw(r, quote ? "=\"" : "=", quote ? 2 : 1);
    for (const char *p = val; *p; p++) {
        if (*p == '"' || *p == '\\')
            rec_raw(r, "\\", 1);
        rec_raw(r, (unsigned char)*p < 0x20 ? " " : p, 1);
    }
    if (quote)
        rec_raw(r, "\"", 1);
}

__attribute__((format(printf, 3, 4)))
static void rec_fmt(rec_t *r, const char *key, const char *fmt, ...)
{
    char val[512];
    va_list ap;
    if (!r->on)
        return;
    va_start(ap, fmt);
    vsnprintf(val, sizeof val, fmt, ap);
    va_end(ap);
    rec_str(r, key, val);
}

static bool rec_begin(rec_t *r, int prio, const char *event)
{
    struct timespec ts;
    struct tm tm;
    char when[32];
    r->on = prio <= log_level;
    r->len = 0;
    if (!r->on)
        return false;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    r->len = (size_t)snprintf(r->buf, sizeof r->buf, "ts=%s.%03ld severity=%s", when,
                              ts.tv_nsec / 1000000, loglevel_name(prio));
    rec_str(r, "event", event);
    return true;
}

static void rec_end(rec_t *r)
{
    if (!r->on)
        return;
    r->buf[r->len++] = '\n';
    for (const char *p = r->buf; r->len > 0;) {
        ssize_t n = write(2, p, r->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n, r->len -= (size_t)n;
    }
}

/* A record with one message. */
static void log_say(int prio, const char *event, const char *key, const char *val)
{
    rec_t r;
    rec_begin(&r, prio, event);
    rec_str(&r, key, val);
    rec_end(&r);
}

/* ---- jobs -------------------------------------------------------------- */

typedef enum { JOB_ASSIGNMENT, JOB_ESCALATION } kind_t;

/* One pipe from a child, read into a line buffer. */
typedef struct {
    int fd;                         /* -1: closed */
    unsigned lineno;
    bool skipping;                  /* dropping the rest of an overlong line */
    size_t len;
    char *buf;                      /* MAX_LINE bytes while running */
} reader_t;

/* One run of a job's command. */
typedef struct {
    pid_t pid;                      /* also its process group */
    bool exited;
    int status, stage;              /* stage: 0 running, 1 SIGTERM sent, 2 SIGKILL sent */
    int64_t deadline;               /* of the current stage */
    int in_fd;
    size_t input_off;
    reader_t out, err;
    unsigned events, garbage;
    char spawn_error[128];
} run_t;

typedef struct job_s {
    struct job_s *next;
    kind_t kind;
    uint64_t id, case_id;           /* id: assignment_id or escalation_id */
    char *input;                    /* the JSON for stdin, newline-terminated */
    size_t input_len;
    char vars[MAX_VARS][80];        /* NAME=value for the child's environment */
    int nvars;
    unsigned runs;                  /* commands started so far */
    int64_t start_at;               /* waiting: not before this (backoff) */
    bool running;                   /* `run` is the current run */
    bool done;                      /* resolved or returned was reported */
    run_t run;
} job_t;

typedef struct {
    config_t cfg;
    mq_worker_t *w;
    job_t *jobs, **tail;            /* waiting and running, in arrival order */
    long running;
    int sig_fd;                     /* signalfd: SIGCHLD, SIGTERM, SIGINT */
    bool stopping;
    int64_t stop_at;
    unsigned refused;               /* mq_worker_refused already logged */
    uint64_t *seen;                 /* ring of finished assignment ids */
    size_t seen_cap, nseen, seen_next;
} adapter_t;

static const char *kind_name(const job_t *j)
{
    return j->kind == JOB_ASSIGNMENT ? "assignment" : "escalation";
}

/* The ids that name a job in the log: never anything personal. */
static void rec_job(rec_t *r, const adapter_t *ad, const job_t *j)
{
    rec_fmt(r, j->kind == JOB_ASSIGNMENT ? "assignment_id" : "escalation_id", "%" PRIu64, j->id);
    rec_fmt(r, "case_id", "%" PRIu64, j->case_id);
    rec_str(r, "department", ad->cfg.department);
}

__attribute__((format(printf, 3, 4)))
static void add_var(job_t *j, const char *name, const char *fmt, ...)
{
    va_list ap;
    if (j->nvars >= MAX_VARS)
        return;
    int n = snprintf(j->vars[j->nvars], sizeof j->vars[0], "%s=", name);
    va_start(ap, fmt);
    vsnprintf(j->vars[j->nvars] + n, sizeof j->vars[0] - (size_t)n, fmt, ap);
    va_end(ap);
    j->nvars++;
}

/* The case record as JSON: every field present, lat/long as numbers. */
static json_t *case_json(const msg_case_t *c)
{
    static const struct { msg_case_field_t bit; const char *key; size_t off; } texts[] = {
        {CF_SERVICE_CODE, "service_code", offsetof(msg_case_t, service_code)},
        {CF_DESCRIPTION, "description", offsetof(msg_case_t, description)},
        {CF_ADDRESS_STRING, "address_string", offsetof(msg_case_t, address_string)},
        {CF_FIRST_NAME, "first_name", offsetof(msg_case_t, first_name)},
        {CF_LAST_NAME, "last_name", offsetof(msg_case_t, last_name)},
        {CF_PHONE, "phone", offsetof(msg_case_t, phone)},
        {CF_EMAIL, "email", offsetof(msg_case_t, email)},
        {CF_MEDIA_URL, "media_url", offsetof(msg_case_t, media_url)},
        {CF_REQUESTED_DATETIME, "requested_datetime", offsetof(msg_case_t, requested_datetime)},
        {CF_EXTERNAL_ID, "external_id", offsetof(msg_case_t, external_id)},
        {CF_CHANNEL, "channel", offsetof(msg_case_t, channel)},
        {CF_GRID_CODE, "grid_code", offsetof(msg_case_t, grid_code)},
    };
    json_t *o = json_object();
    for (size_t i = 0; o && i < sizeof texts / sizeof texts[0]; i++) {
        const char *v = *(const char *const *)((const char *)c + texts[i].off);
        if (MSG_HAS(c, texts[i].bit) && v)
            json_object_set_new(o, texts[i].key, json_string(v));
    }
    if (o && MSG_HAS(c, CF_LAT))
        json_object_set_new(o, "lat", json_real(c->lat));
    if (o && MSG_HAS(c, CF_LONG))
        json_object_set_new(o, "long", json_real(c->lon));
    if (o && MSG_HAS(c, CF_PRIORITY) && c->priority < PRIO_COUNT)
        json_object_set_new(o, "priority", json_string(msg_priority_names[c->priority]));
    return o;
}

static json_t *assignment_json(const mq_assignment_t *a)
{
    return json_pack("{s:s, s:I, s:I, s:s, s:s, s:I, s:I, s:I, s:o, s:o}",
                     "type", "assignment", "assignment_id", (json_int_t)a->assignment_id,
                     "case_id", (json_int_t)a->case_id, "department", a->department,
                     "role", a->role < ROLE_COUNT && a->role ? msg_role_names[a->role] : "lead",
                     "attempt", (json_int_t)a->attempt, "received_at", (json_int_t)a->received_at,
                     "contact_due", (json_int_t)a->contact_due,
                     "resolve_due", a->resolve_due ? json_integer(a->resolve_due) : json_null(),
                     "case", case_json(&a->kase));
}

static json_t *escalation_json(const mq_escalation_t *e)
{
    return json_pack("{s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}",
                     "type", "escalation", "escalation_id", (json_int_t)e->escalation_id,
                     "case_id", (json_int_t)e->case_id, "level", (json_int_t)e->level,
                     "ladder", e->ladder < LADDER_COUNT && e->ladder ? msg_ladder_names[e->ladder] : "",
                     "target", e->target, "department", e->department, "grid_code", e->grid_code,
                     "community", e->community, "street", e->street,
                     "due_at", (json_int_t)e->due_at, "overdue_s", (json_int_t)e->overdue_s);
}

static void reader_reset(reader_t *r)
{
    free(r->buf);
    *r = (reader_t){.fd = -1};
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void job_free(job_t *j)
{
    close_fd(&j->run.in_fd);
    close_fd(&j->run.out.fd);
    close_fd(&j->run.err.fd);
    reader_reset(&j->run.out);
    reader_reset(&j->run.err);
    free(j->input);
    free(j);
}

/* A job for `input` (taken over); NULL when out of memory. */
static job_t *job_new(adapter_t *ad, kind_t kind, uint64_t id, uint64_t case_id, json_t *input)
{
    job_t *j = calloc(1, sizeof *j);
    char *text = input ? json_dumps(input, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(input);
    if (!j || !text) {
        free(j);
        free(text);
        return NULL;
    }
    size_t len = strlen(text);
    text[len++] = '\n';             /* json_dumps' NUL becomes the newline */
    *j = (job_t){.kind = kind, .id = id, .case_id = case_id, .input = text, .input_len = len,
                 .run = {.in_fd = -1, .out.fd = -1, .err.fd = -1}};
    add_var(j, "MINQING_TYPE", "%s", kind_name(j));
    add_var(j, kind == JOB_ASSIGNMENT ? "MINQING_ASSIGNMENT_ID" : "MINQING_ESCALATION_ID",
            "%" PRIu64, id);
    add_var(j, "MINQING_CASE_ID", "%" PRIu64, case_id);
    add_var(j, "MINQING_DEPARTMENT", "%s", ad->cfg.department);
    *ad->tail = j;
    ad->tail = &j->next;
    return j;
}

static job_t *find_job(const adapter_t *ad, kind_t kind, uint64_t id)
{
    for (job_t *j = ad->jobs; j; j = j->next)
        if (j->kind == kind && j->id == id)
            return j;
    return NULL;
}

static bool seen(const adapter_t *ad, uint64_t id)
{
    for (size_t i = 0; i < ad->nseen; i++)
        if (ad->seen[i] == id)
            return true;
    return false;
}

/* Remember a finished assignment, so that a late copy of its DISPATCH (after
 * a reconnect) does not run the command again. */
static void remember(adapter_t *ad, uint64_t id)
{
    ad->seen[ad->seen_next] = id;
    ad->seen_next = (ad->seen_next + 1) % ad->seen_cap;
    if (ad->nseen < ad->seen_cap)
        ad->nseen++;
}

/* ---- taking work from the broker ---------------------------------------- */

/* True when the delivery must not start a job: stopping, or a copy. */
static bool refuse_delivery(const adapter_t *ad, kind_t kind, uint64_t id, uint64_t case_id,
                            uint32_t attempt)
{
    const char *why = ad->stopping ? "stopping: left with the broker"
                    : find_job(ad, kind, id) ? "duplicate: already running or waiting"
                    : kind == JOB_ASSIGNMENT && seen(ad, id) ? "duplicate: already finished here"
                    : NULL;
    if (!why)
        return false;
    rec_t r;
    rec_begin(&r, LOG_INFO, kind == JOB_ASSIGNMENT ? "assignment.ignored" : "escalation.ignored");
    job_t probe = {.kind = kind, .id = id, .case_id = case_id};
    rec_job(&r, ad, &probe);
    if (attempt)
        rec_fmt(&r, "attempt", "%" PRIu32, attempt);
    rec_str(&r, "reason", why);
    rec_end(&r);
    return true;
}

static void log_taken(const adapter_t *ad, const job_t *j, const char *k1, const char *v1,
                      const char *k2, const char *v2)
{
    rec_t r;
    rec_begin(&r, LOG_INFO, j->kind == JOB_ASSIGNMENT ? "assignment.received" : "escalation.received");
    rec_job(&r, ad, j);
    rec_str(&r, k1, v1);
    rec_str(&r, k2, v2);
    rec_end(&r);
}

static void take_assignment(adapter_t *ad, const mq_assignment_t *a)
{
    if (refuse_delivery(ad, JOB_ASSIGNMENT, a->assignment_id, a->case_id, a->attempt))
        return;
    job_t *j = job_new(ad, JOB_ASSIGNMENT, a->assignment_id, a->case_id, assignment_json(a));
    if (!j) {
        log_say(LOG_ERR, "assignment.dropped", "reason", "out of memory: the broker keeps it");
        return;
    }
    add_var(j, "MINQING_ATTEMPT", "%" PRIu32, a->attempt);
    add_var(j, "MINQING_CONTACT_DUE", "%" PRId64, a->contact_due);
    char attempt[16];
    snprintf(attempt, sizeof attempt, "%" PRIu32, a->attempt);
    log_taken(ad, j, "role", a->role < ROLE_COUNT && a->role ? msg_role_names[a->role] : "?",
              "attempt", attempt);
}

/* Hand a notice back to libminqing unacknowledged: the broker resends it
 * every 5 s, and the next copy then runs the command again instead of being
 * taken for a copy of a notice already being handled. */
static bool release_escalation(adapter_t *ad, uint64_t escalation_id)
{
    mq_escalation_t e = {.escalation_id = escalation_id};
    return mq_worker_release_escalation(ad->w, &e) == 0;
}

static void take_escalation(adapter_t *ad, const mq_escalation_t *e)
{
    if (refuse_delivery(ad, JOB_ESCALATION, e->escalation_id, e->case_id, 0))
        return;
    job_t *j = job_new(ad, JOB_ESCALATION, e->escalation_id, e->case_id, escalation_json(e));
    if (!j) {
        release_escalation(ad, e->escalation_id);
        log_say(LOG_ERR, "escalation.dropped", "reason",
                "out of memory: not acknowledged, the broker sends it again");
        return;
    }
    add_var(j, "MINQING_LEVEL", "%" PRIu32, e->level);
    char level[16];
    snprintf(level, sizeof level, "%" PRIu32, e->level);
    log_taken(ad, j, "level", level, "ladder",
              e->ladder < LADDER_COUNT && e->ladder ? msg_ladder_names[e->ladder] : "?");
}

/* Outcomes the broker refused (ERROR 1xx-3xx) since the last look. */
static void note_refusals(adapter_t *ad)
{
    unsigned refused = mq_worker_refused(ad->w);
    if (refused == ad->refused)
        return;
    rec_t r;
    rec_begin(&r, LOG_WARNING, "outcome.refused");
    rec_fmt(&r, "count", "%u", refused - ad->refused);
    rec_str(&r, "reason", mq_strerror());
    rec_end(&r);
    ad->refused = refused;
}

/* Everything the broker has for us now; -1 on a fatal library error. */
static int pump(adapter_t *ad)
{
    mq_assignment_t a;
    mq_escalation_t e;
    int ev;
    while ((ev = mq_worker_next(ad->w, &a, &e, 0)) > 0) {
        if (ev == MQ_ASSIGNMENT)
            take_assignment(ad, &a);
        else
            take_escalation(ad, &e);
    }
    note_refusals(ad);
    return ev < 0 ? -1 : 0;
}

/* ---- running commands -------------------------------------------------- */

/* Whether environ entry `e` sets the variable of `var` ("NAME=value"). */
static bool same_name(const char *e, const char *var)
{
    size_t len = (size_t)(strchr(var, '=') - var) + 1;
    return strncmp(e, var, len) == 0;
}

/* environ without the variables the job sets, then the job's, then
 * MINQING_RUN (in `run`, which must outlive the result). */
static char **child_env(const job_t *j, char *run, size_t len)
{
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + (size_t)j->nvars + 2, sizeof *env);
    if (!env)
        return NULL;
    snprintf(run, len, "MINQING_RUN=%u", j->runs);
    for (size_t i = 0; i < n; i++) {
        bool ours = same_name(environ[i], run);
        for (int v = 0; v < j->nvars && !ours; v++)
            ours = same_name(environ[i], j->vars[v]);
        if (!ours)
            env[k++] = environ[i];
    }
    for (int v = 0; v < j->nvars; v++)
        env[k++] = (char *)j->vars[v];
    env[k] = run;
    return env;
}

/* posix_spawn /bin/sh -c CMD: the pipes' child ends on 0-2, a process group
 * of its own, no blocked signals, SIGPIPE back to its default. 0, or errno. */
static int spawn_shell(const adapter_t *ad, job_t *j, int p[3][2], char **env)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[0][0], 0);
    posix_spawn_file_actions_adddup2(&fa, p[1][1], 1);
    posix_spawn_file_actions_adddup2(&fa, p[2][1], 2);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                    POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &dfl);
    char *argv[] = {"/bin/sh", "-c", ad->cfg.exec, NULL};
    int rc = posix_spawn(&j->run.pid, "/bin/sh", &fa, &attr, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return rc;
}

/* Start the job's command with stdin, stdout and stderr on pipes, whose
 * parent ends are non-blocking. 0, or errno. */
static int spawn(const adapter_t *ad, job_t *j)
{
    int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}}, rc = 0;
    char run[32], **env = NULL;
    for (int i = 0; i < 3 && !rc; i++)
        rc = pipe2(p[i], O_CLOEXEC) ? errno : 0;
    if (!rc)
        rc = (env = child_env(j, run, sizeof run)) ? spawn_shell(ad, j, p, env) : ENOMEM;
    free(env);
    close_fd(&p[0][0]), close_fd(&p[1][1]), close_fd(&p[2][1]);
    j->run.in_fd = p[0][1], j->run.out.fd = p[1][0], j->run.err.fd = p[2][0];
    if (rc) {
        j->run.pid = 0;
        close_fd(&j->run.in_fd), close_fd(&j->run.out.fd), close_fd(&j->run.err.fd);
        return rc;
    }
    int ours[3] = {j->run.in_fd, j->run.out.fd, j->run.err.fd};
    for (int i = 0; i < 3; i++)
        fcntl(ours[i], F_SETFL, fcntl(ours[i], F_GETFL) | O_NONBLOCK);
    return 0;
}

/* Signal the command's whole process group (pid > 1 only: never our own). */
static void signal_group(const job_t *j, int sig)
{
    if (j->run.pid > 1)
        kill(-j->run.pid, sig);
}

/* Start one run of a job. A spawn failure completes the run at once, as a
 * failure, and is handled with the others. */
static void run_job(adapter_t *ad, job_t *j, int64_t now)
{
    j->runs++;
    j->running = true;
    ad->running++;
    j->run = (run_t){.in_fd = -1, .out.fd = -1, .err.fd = -1,
                     .deadline = now + ad->cfg.timeout_ms};
    j->run.out.buf = malloc(MAX_LINE);
    j->run.err.buf = malloc(MAX_LINE);
    int rc = j->run.out.buf && j->run.err.buf ? spawn(ad, j) : ENOMEM;
    rec_t r;
    rec_begin(&r, rc ? LOG_WARNING : LOG_INFO, "cmd.started");
    rec_job(&r, ad, j);
    rec_fmt(&r, "run", "%u/%ld", j->runs, ad->cfg.retries + 1);
    if (rc)
        rec_fmt(&r, "error", "cannot start /bin/sh: %s", strerror(rc));
    else
        rec_fmt(&r, "pid", "%d", (int)j->run.pid);
    rec_end(&r);
    if (rc) {
        snprintf(j->run.spawn_error, sizeof j->run.spawn_error, "cannot be started: %s",
                 strerror(rc));
        j->run.exited = true;
    }
}

static void start_due(adapter_t *ad, int64_t now)
{
    for (job_t *j = ad->jobs; j && !ad->stopping && ad->running < ad->cfg.concurrency; j = j->next)
        if (!j->running && j->start_at <= now)
            run_job(ad, j, now);
}

/* Past the deadline: SIGTERM to the group, 5 s later SIGKILL, 1 s later stop
 * waiting for pipes that a stray process may still hold. */
static void enforce_timeout(const adapter_t *ad, job_t *j, int64_t now)
{
    if (!j->running || j->run.spawn_error[0] || now < j->run.deadline)
        return;
    rec_t r;
    if (j->run.stage == 0) {
        rec_begin(&r, LOG_WARNING, "cmd.timeout");
        rec_job(&r, ad, j);
        rec_fmt(&r, "pid", "%d", (int)j->run.pid);
        rec_fmt(&r, "timeout_ms", "%" PRId64, ad->cfg.timeout_ms);
        rec_str(&r, "action", "SIGTERM to the process group");
        rec_end(&r);
        signal_group(j, SIGTERM);
        j->run.deadline = now + KILL_GRACE_MS;
    } else if (j->run.stage == 1) {
        rec_begin(&r, LOG_WARNING, "cmd.kill");
        rec_job(&r, ad, j);
        rec_fmt(&r, "pid", "%d", (int)j->run.pid);
        rec_str(&r, "action", "SIGKILL to the process group");
        rec_end(&r);
        signal_group(j, SIGKILL);
        if (!j->run.exited)
            kill(j->run.pid, SIGKILL);
        j->run.deadline = now + REAP_GRACE_MS;
    } else {
        if (j->run.exited)              /* a process outside the group holds a pipe */
            close_fd(&j->run.out.fd), close_fd(&j->run.err.fd), close_fd(&j->run.in_fd);
        j->run.deadline = now + REAP_GRACE_MS;
        return;
    }
    j->run.stage++;
}

/* Collect every child that ended. */
static void reap(adapter_t *ad)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        for (job_t *j = ad->jobs; j; j = j->next)
            if (j->running && j->run.pid == pid && !j->run.exited) {
                j->run.exited = true;
                j->run.status = status;
            }
}

/* ---- the command's output ---------------------------------------------- */

typedef void line_fn(adapter_t *ad, job_t *j, unsigned lineno, char *line, size_t len, bool whole);

/* String member `key`: 0 with *out (NULL when absent and optional), or -1
 * with why. */
static int member(json_t *o, const char *key, bool required, const char **out, char *why, size_t len)
{
    json_t *v = json_object_get(o, key);
    *out = v ? json_string_value(v) : NULL;
    if ((v && !*out) || (!v && required)) {
        snprintf(why, len, "\"%s\" %s", key, v ? "is not a string" : "is missing");
        return -1;
    }
    return 0;
}

/* Report one event line through libminqing. 0, or -1 with why. */
static int report(adapter_t *ad, job_t *j, json_t *o, char *why, size_t len)
{
    const char *event, *note, *result, *summary, *reason;
    if (member(o, "event", true, &event, why, len) || member(o, "note", false, &note, why, len))
        return -1;
    int rc;
    if (!strcmp(event, "accepted")) {
        rc = mq_worker_accept(ad->w, j->id);
    } else if (!strcmp(event, "contacted")) {
        rc = mq_worker_contacted(ad->w, j->id, note);
    } else if (!strcmp(event, "progress")) {
        if (member(o, "note", true, &note, why, len))
            return -1;
        rc = mq_worker_progress(ad->w, j->id, note);
    } else if (!strcmp(event, "resolved")) {
        if (member(o, "result", true, &result, why, len) ||
            member(o, "summary", true, &summary, why, len))
            return -1;
        rc = mq_worker_resolved(ad->w, j->id, result, summary);
        j->done = rc == 0;
    } else if (!strcmp(event, "returned")) {
        if (member(o, "reason", true, &reason, why, len))
            return -1;
        int r = msg_enum_from_name(msg_return_names, RETURN_COUNT, reason);
        if (r <= 0) {
            snprintf(why, len, "\"reason\" is not one of wrong_department, wrong_locality, "
                     "duplicate, insufficient_info, other");
            return -1;
        }
        rc = mq_worker_returned(ad->w, j->id, (msg_return_t)r, note);
        j->done = rc == 0;
    } else {
        snprintf(why, len, "unknown \"event\" (accepted, contacted, progress, resolved, returned)");
        return -1;
    }
    if (rc)
        snprintf(why, len, "refused by libminqing: %s", mq_strerror());
    return rc;
}

static void log_garbage(const adapter_t *ad, const job_t *j, unsigned lineno, size_t len,
                        const char *why)
{
    rec_t r;
    rec_begin(&r, LOG_WARNING, "cmd.garbage");
    rec_job(&r, ad, j);
    rec_fmt(&r, "line", "%u", lineno);
    rec_fmt(&r, "bytes", "%zu", len);
    rec_str(&r, "reason", why);
    rec_end(&r);
}

static void log_event(const adapter_t *ad, const job_t *j, unsigned lineno, json_t *o)
{
    rec_t r;
    rec_begin(&r, LOG_INFO, "outcome.sent");
    rec_job(&r, ad, j);
    rec_str(&r, "outcome", json_string_value(json_object_get(o, "event")));
    rec_fmt(&r, "line", "%u", lineno);
    rec_end(&r);
}

/* One line of the command's stdout: an event, or garbage. Escalation
 * commands have no events to report: their stdout is ignored. */
static void on_stdout_line(adapter_t *ad, job_t *j, unsigned lineno, char *line, size_t len,
                           bool whole)
{
    char why[200];
    json_error_t err;
    json_t *o = NULL;
    if (j->kind == JOB_ESCALATION || strspn(line, " \t\r") == len)
        return;
    if (!whole)
        snprintf(why, sizeof why, "longer than %d bytes", MAX_LINE - 1);
    else if (j->done)
        snprintf(why, sizeof why, "after resolved/returned: the assignment is done");
    else if (!(o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err)))
        snprintf(why, sizeof why, "not JSON: %s at column %d", jsonerr_problem(&err), err.column);
    else if (!json_is_object(o))
        snprintf(why, sizeof why, "not a JSON object");
    else if (report(ad, j, o, why, sizeof why) == 0) {
        j->run.events++;
        log_event(ad, j, lineno, o);
        json_decref(o);
        return;
    }
    json_decref(o);
    j->run.garbage++;
    log_garbage(ad, j, lineno, len, why);
}

/* One line of the command's stderr, passed on with the job's ids. The log
 * goes to the journal, which holds no personal data, and a command may well
 * echo the case it was given: what looks like a phone or ID number is masked.
 * The whole line is masked before it is cut to the record's size, so that a
 * number at the cut is still seen whole. */
static void on_stderr_line(adapter_t *ad, job_t *j, unsigned lineno, char *line, size_t len,
                           bool whole)
{
    (void)lineno, (void)whole;
    rec_t r;
    char masked[LOG_LINE];
    line[len] = '\0';
    mq_mask_text(line, masked, sizeof masked);
    rec_begin(&r, LOG_INFO, "cmd.stderr");
    rec_job(&r, ad, j);
    rec_fmt(&r, "pid", "%d", (int)j->run.pid);
    rec_str(&r, "text", masked);
    rec_end(&r);
}

/* Hand each complete line (without its newline or CR) to fn. A full buffer
 * without a newline goes out as a partial line and the rest is skipped. */
static void split_lines(adapter_t *ad, job_t *j, reader_t *rd, line_fn *fn, bool eof)
{
    size_t start = 0;
    char *nl;
    while ((nl = memchr(rd->buf + start, '\n', rd->len - start))) {
        size_t end = (size_t)(nl - rd->buf);
        size_t n = end - start - (end > start && rd->buf[end - 1] == '\r');
        rd->buf[start + n] = '\0';
        if (!rd->skipping)
            fn(ad, j, ++rd->lineno, rd->buf + start, n, true);
        rd->skipping = false;
        start = end + 1;
    }
    memmove(rd->buf, rd->buf + start, rd->len - start);
    rd->len -= start;
    if ((rd->len == MAX_LINE - 1 || (eof && rd->len)) && !rd->skipping) {
        rd->buf[rd->len] = '\0';
        fn(ad, j, ++rd->lineno, rd->buf, rd->len, eof);
        rd->skipping = !eof;
    }
    if (rd->len == MAX_LINE - 1 || eof)
        rd->len = 0;
}

/* Read what a pipe has (a bounded amount per call, to stay fair). */
static void drain_pipe(adapter_t *ad, job_t *j, reader_t *rd, line_fn *fn)
{
    for (int rounds = 0; rd->fd >= 0 && rounds < 16; rounds++) {
        ssize_t n = read(rd->fd, rd->buf + rd->len, MAX_LINE - 1 - rd->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n > 0) {
            rd->len += (size_t)n;
            split_lines(ad, j, rd, fn, false);
            continue;
        }
        split_lines(ad, j, rd, fn, true);       /* EOF or error: the last line */
        close_fd(&rd->fd);
    }
}

/* Feed the case to the command's stdin; a command that does not read it all
 * (EPIPE) is its own business. */
static void feed_stdin(job_t *j)
{
    while (j->run.in_fd >= 0 && j->run.input_off < j->input_len) {
        ssize_t n = write(j->run.in_fd, j->input + j->run.input_off, j->input_len - j->run.input_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0)
            break;
        j->run.input_off += (size_t)n;
    }
    close_fd(&j->run.in_fd);
}

/* ---- the end of a run --------------------------------------------------- */

/* Why the run failed, or false when it did not. */
static bool failure(const adapter_t *ad, const job_t *j, char *why, size_t len)
{
    int st = j->run.status;
    if (j->kind == JOB_ASSIGNMENT && j->done)
        return false;
    if (j->run.spawn_error[0])
        snprintf(why, len, "%s", j->run.spawn_error);
    else if (j->run.stage > 0)
        snprintf(why, len, "timed out after %" PRId64 " ms (killed with %s)", ad->cfg.timeout_ms,
                 j->run.stage > 1 ? "SIGKILL" : "SIGTERM");
    else if (WIFSIGNALED(st))
        snprintf(why, len, "killed by signal %d (SIG%s)", WTERMSIG(st),
                 sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?");
    else if (WEXITSTATUS(st) != 0)
        snprintf(why, len, "exited with status %d%s", WEXITSTATUS(st),
                 WEXITSTATUS(st) == 127 ? " (command not found)"
                 : WEXITSTATUS(st) == 126 ? " (command not executable)" : "");
    else if (j->kind == JOB_ASSIGNMENT && j->run.garbage && !j->run.events)
        snprintf(why, len, "printed only garbage (%u line%s)", j->run.garbage, j->run.garbage > 1 ? "s" : "");
    else
        return false;
    return true;
}

static int64_t backoff_ms(unsigned runs)
{
    int64_t ms = (int64_t)1000 << (runs > 7 ? 6 : runs - 1);
    return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

static void log_end_of(const adapter_t *ad, const job_t *j, int prio, const char *event,
                       const char *key, const char *val)
{
    rec_t r;
    rec_begin(&r, prio, event);
    rec_job(&r, ad, j);
    rec_fmt(&r, "run", "%u/%ld", j->runs, ad->cfg.retries + 1);
    if (j->kind == JOB_ASSIGNMENT)
        rec_fmt(&r, "events", "%u", j->run.events);
    if (j->run.garbage)
        rec_fmt(&r, "garbage", "%u", j->run.garbage);
    rec_str(&r, key, val);
    rec_end(&r);
}

/* A run that did its job. */
static void succeeded(adapter_t *ad, job_t *j)
{
    if (j->kind == JOB_ESCALATION) {
        mq_escalation_t e = {.escalation_id = j->id, .case_id = j->case_id};
        bool acked = mq_worker_ack_escalation(ad->w, &e) == 0;
        log_end_of(ad, j, acked ? LOG_INFO : LOG_ERR, acked ? "escalation.acked" : "escalation.failed",
                   acked ? "result" : "reason", acked ? "exited 0" : mq_strerror());
        return;
    }
    remember(ad, j->id);
    if (j->done)
        log_end_of(ad, j, LOG_INFO, "cmd.done", "result", "reported resolved or returned");
    else if (j->run.events)
        log_end_of(ad, j, LOG_INFO, "cmd.done", "result",
                   "exited 0; the assignment stays open with the department");
    else
        log_end_of(ad, j, LOG_WARNING, "cmd.silent", "result",
                   "exited 0 without reporting anything; the assignment stays open");
}

/* A failed run: true when the job runs again (after a backoff). */
static bool failed(adapter_t *ad, job_t *j, const char *why, int64_t now)
{
    log_end_of(ad, j, LOG_WARNING, "cmd.failed", "reason", why);
    bool retry = !ad->cfg.on_failure_return;
    if (retry && !ad->stopping && j->runs <= (unsigned)ad->cfg.retries) {
        j->start_at = now + backoff_ms(j->runs);
        char in[24];
        snprintf(in, sizeof in, "%" PRId64 "ms", j->start_at - now);
        log_end_of(ad, j, LOG_INFO, "cmd.retry", "in", in);
        return true;
    }
    if (j->kind == JOB_ESCALATION) {
        bool released = release_escalation(ad, j->id);
        log_end_of(ad, j, LOG_ERR, "escalation.failed", "reason",
                   released ? "not acknowledged: the broker resends the notice, and the "
                              "command runs again for it"
                            : mq_strerror());
        return false;
    }
    if (retry && ad->stopping) {
        log_end_of(ad, j, LOG_NOTICE, "assignment.left", "reason",
                   "stopping: the broker delivers it again to the next worker");
        return false;
    }
    char note[300];
    snprintf(note, sizeof note, "minqing-worker: the command failed %u time%s; last: %s",
             j->runs, j->runs > 1 ? "s" : "", why);
    bool sent = mq_worker_returned(ad->w, j->id, RETURN_OTHER, note) == 0;
    log_end_of(ad, j, LOG_ERR, sent ? "assignment.returned" : "assignment.stuck", "reason",
               sent ? note : mq_strerror());
    remember(ad, j->id);
    return false;
}

/* True when the run is over: the child reaped and its pipes closed. */
static bool run_over(const job_t *j)
{
    return j->running && j->run.exited && j->run.out.fd < 0 && j->run.err.fd < 0;
}

/* Settle every run that is over: drop the job, or keep it for a retry. */
static void settle(adapter_t *ad, int64_t now)
{
    for (job_t **link = &ad->jobs; *link;) {
        job_t *j = *link;
        char why[200];
        if (!run_over(j)) {
            link = &j->next;
            continue;
        }
        close_fd(&j->run.in_fd);
        reader_reset(&j->run.out);
        reader_reset(&j->run.err);
        j->running = false;
        ad->running--;
        bool keep = failure(ad, j, why, sizeof why) ? failed(ad, j, why, now)
                                                    : (succeeded(ad, j), false);
        if (keep) {
            link = &j->next;
            continue;
        }
        *link = j->next;
        if (ad->tail == &j->next)
            ad->tail = link;
        job_free(j);
    }
}

/* ---- the loop ---------------------------------------------------------- */

/* Block SIGCHLD, SIGTERM and SIGINT and read them from a signalfd. Called
 * before the first libminqing call, so libzmq's threads inherit the mask. */
static int setup_signals(adapter_t *ad)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    signal(SIGPIPE, SIG_IGN);       /* a command that closed its stdin */
    if (sigprocmask(SIG_BLOCK, &set, NULL))
        return -1;
    ad->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return ad->sig_fd < 0 ? -1 : 0;
}

/* SIGTERM/SIGINT: stop taking work; a second one stops waiting. */
static void begin_stop(adapter_t *ad, int64_t now)
{
    if (ad->stopping) {
        ad->stop_at = now;
        return;
    }
    ad->stopping = true;
    ad->stop_at = now + STOP_WAIT_MS;
    rec_t r;
    rec_begin(&r, LOG_NOTICE, "worker.stopping");
    rec_fmt(&r, "running", "%ld", ad->running);
    rec_fmt(&r, "wait_ms", "%d", STOP_WAIT_MS);
    rec_end(&r);
}

/* SIGCHLD needs nothing here: every pass reaps. */
static void read_signals(adapter_t *ad, int64_t now)
{
    struct signalfd_siginfo si;
    while (read(ad->sig_fd, &si, sizeof si) == (ssize_t)sizeof si)
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
            begin_stop(ad, now);
}

/* The poll set: the signalfd, the broker, each running command's pipes. */
typedef struct {
    struct pollfd *fds;
    job_t **owner;                  /* job of each fd, NULL for ours */
    size_t n, cap;
} pollset_t;

static int watch(pollset_t *ps, int fd, short events, job_t *owner)
{
    if (fd < 0)
        return 0;
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 64;
        struct pollfd *fds = realloc(ps->fds, cap * sizeof *fds);
        if (fds)
            ps->fds = fds;
        job_t **owner_p = realloc(ps->owner, cap * sizeof *owner_p);
        if (owner_p)
            ps->owner = owner_p;
        if (!fds || !owner_p)
            return -1;
        ps->cap = cap;
    }
    ps->fds[ps->n] = (struct pollfd){.fd = fd, .events = events};
    ps->owner[ps->n++] = owner;
    return 0;
}

static int build_pollset(adapter_t *ad, pollset_t *ps)
{
    int mq_fd = mq_worker_fd(ad->w);
    ps->n = 0;
    int rc = watch(ps, ad->sig_fd, POLLIN, NULL) | watch(ps, mq_fd, POLLIN, NULL);
    for (job_t *j = ad->jobs; j; j = j->next)
        if (j->running)
            rc |= watch(ps, j->run.in_fd, POLLOUT, j) | watch(ps, j->run.out.fd, POLLIN, j) |
                  watch(ps, j->run.err.fd, POLLIN, j);
    return rc;
}

/* How long poll may sleep: until the nearest timer, at most POLL_MAX_MS. */
static int poll_timeout(const adapter_t *ad, int64_t now)
{
    int64_t next = now + POLL_MAX_MS;
    for (const job_t *j = ad->jobs; j; j = j->next) {
        int64_t t = j->running ? j->run.deadline
                  : !ad->stopping && ad->running < ad->cfg.concurrency ? j->start_at : next;
        if (t < next)
            next = t;
    }
    if (ad->stopping && ad->stop_at < next)
        next = ad->stop_at;
    return next > now ? (int)(next - now) : 0;
}

static void serve_fds(adapter_t *ad, const pollset_t *ps, int64_t now)
{
    for (size_t i = 0; i < ps->n; i++) {
        job_t *j = ps->owner[i];
        int fd = ps->fds[i].fd;
        if (!ps->fds[i].revents)
            continue;
        if (!j && fd == ad->sig_fd)
            read_signals(ad, now);
        else if (j && fd == j->run.in_fd)
            feed_stdin(j);
        else if (j && fd == j->run.out.fd)
            drain_pipe(ad, j, &j->run.out, on_stdout_line);
        else if (j && fd == j->run.err.fd)
            drain_pipe(ad, j, &j->run.err, on_stderr_line);
    }
}

/* Shutdown: what is still running after the wait is killed, and left with
 * the broker (which delivers it again); what never started is too. */
static void abandon_all(adapter_t *ad)
{
    while (ad->jobs) {
        job_t *j = ad->jobs;
        ad->jobs = j->next;
        if (j->running)
            signal_group(j, SIGKILL);
        if (j->running && !j->run.exited) {
            kill(j->run.pid, SIGKILL);
            waitpid(j->run.pid, NULL, 0);
        }
        if (!j->done)
            log_end_of(ad, j, LOG_NOTICE, j->kind == JOB_ASSIGNMENT ? "assignment.left"
                                                                  : "escalation.left", "reason",
                       j->running ? "still running at shutdown: killed; the broker keeps it"
                                  : "not started at shutdown: the broker keeps it");
        job_free(j);
    }
    ad->tail = &ad->jobs;
    ad->running = 0;
}

/* One pass: take work, start commands, enforce timeouts, wait, serve. */
static int loop_once(adapter_t *ad, pollset_t *ps)
{
    int64_t now = now_ms();
    if (pump(ad))
        return -1;
    start_due(ad, now);
    for (job_t *j = ad->jobs; j; j = j->next)
        enforce_timeout(ad, j, now);
    settle(ad, now);
    if (build_pollset(ad, ps)) {
        log_say(LOG_ERR, "worker.error", "reason", "out of memory for the poll set");
        return 0;
    }
    if (poll(ps->fds, (nfds_t)ps->n, poll_timeout(ad, now)) < 0 && errno != EINTR)
        return -1;
    now = now_ms();
    serve_fds(ad, ps, now);
    reap(ad);
    settle(ad, now);
    return 0;
}

static int run(adapter_t *ad)
{
    pollset_t ps = {0};
    int rc = 0;
    while (!(ad->stopping && (ad->running == 0 || now_ms() >= ad->stop_at)))
        if ((rc = loop_once(ad, &ps)))
            break;
    free(ps.fds);
    free(ps.owner);
    return rc;
}

static void log_started(const adapter_t *ad)
{
    const config_t *c = &ad->cfg;
    rec_t r;
    rec_begin(&r, LOG_NOTICE, "worker.started");
    rec_str(&r, "department", c->department);
    rec_str(&r, "endpoint", c->endpoint);
    rec_fmt(&r, "concurrency", "%ld", c->concurrency);
    rec_fmt(&r, "capacity", "%ld", c->capacity);
    rec_fmt(&r, "timeout_ms", "%" PRId64, c->timeout_ms);
    rec_str(&r, "on_failure", c->on_failure_return ? "return" : "retry");
    rec_fmt(&r, "retries", "%ld", c->retries);
    rec_str(&r, "curve", c->cert ? "yes" : "no");
    rec_fmt(&r, "pid", "%d", (int)getpid());
    rec_end(&r);
    if (!c->cert && strncmp(c->endpoint, "tcp://", 6) == 0)
        log_say(LOG_WARNING, "worker.plain_tcp", "reason",
                "tcp:// without --server-cert and --cert: unless the broker allows plain "
                "TCP, it never answers, and this worker never registers");
}

/* The worker's new socket is a CURVE client when certificates are given. */
static int load_certs(adapter_t *ad)
{
    return ad->cfg.cert ? mq_worker_set_certs(ad->w, ad->cfg.server_cert, ad->cfg.cert) : 0;
}

/* Leave: flush what the broker has not acknowledged, say goodbye. An
 * outcome left unacknowledged is no clean stop: the broker delivers its
 * assignment again and the command runs again, so the exit status says so. */
static int shut_down(adapter_t *ad, int rc)
{
    abandon_all(ad);
    if (rc == 0 && mq_worker_flush(ad->w, FLUSH_MS)) {
        log_say(LOG_ERR, "worker.flush_failed", "reason", mq_strerror());
        rc = 1;
    }
    mq_worker_destroy(&ad->w);
    rec_t r;
    rec_begin(&r, rc ? LOG_CRIT : LOG_NOTICE, "worker.stopped");
    rec_fmt(&r, "exit", "%d", rc ? 1 : 0);
    rec_end(&r);
    return rc;
}

/* fds 0-2 must be open, so that no pipe of ours lands on them. */
static void ensure_std_fds(void)
{
    int fd;
    while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2) {
    }
    if (fd > 2)
        close(fd);
}

int main(int argc, char **argv)
{
    adapter_t ad = {.cfg = {.concurrency = 1, .retries = 2, .timeout_ms = 300000,
                            .log_level = LOG_INFO}};
    ad.tail = &ad.jobs;
    int rc = parse_args(argc, argv, &ad.cfg);
    if (rc) {
        if (rc < 0)
            fputs(usage_text, stdout);
        config_free(&ad.cfg);
        return rc < 0 ? 0 : rc;
    }
    log_level = ad.cfg.log_level;
    ensure_std_fds();
    ad.seen_cap = (size_t)ad.cfg.capacity * 4 > SEEN_MIN ? (size_t)ad.cfg.capacity * 4 : SEEN_MIN;
    ad.seen = calloc(ad.seen_cap, sizeof *ad.seen);
    ad.sig_fd = -1;
    if (!ad.seen || setup_signals(&ad)) {
        fprintf(stderr, "minqing-worker: %s\n", strerror(errno));
        rc = 1;
    } else if (!(ad.w = mq_worker_new(ad.cfg.endpoint, ad.cfg.department,
                                      (unsigned)ad.cfg.capacity,
                                      ad.cfg.name ? ad.cfg.name : "minqing-worker")) ||
               load_certs(&ad)) {
        fprintf(stderr, "minqing-worker: %s\n", mq_strerror());
        rc = 2;
    } else {
        log_started(&ad);
        if ((rc = run(&ad)))
            log_say(LOG_CRIT, "worker.failed", "reason", mq_strerror());
        rc = shut_down(&ad, rc);
    }
    mq_worker_destroy(&ad.w);
    close_fd(&ad.sig_fd);
    free(ad.seen);
    config_free(&ad.cfg);
    return rc == 0 ? 0 : rc == 2 ? 2 : 1;
}
