/*
 * import.c - `minqing import FILE`: migrate historical cases from an older
 * system, one JSON object per line, through the broker (IMPORT, PROTOCOL.md
 * 5.6a). Like every change of state it goes through the broker, with many
 * requests in flight so that each group commit takes a large batch; a line
 * is counted once the broker acknowledged it durably. Safe to run again: the
 * broker deduplicates by (channel, external_id).
 */
#include "cli.h"
#include "jsonerr.h"
#include "minqing.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CMD "import"
#define LISTS "keys/admin/"     /* the allowlist of keys that may IMPORT */
#define RESEND_MS 5000          /* PROTOCOL.md 8.2: resend what is unanswered after 1 to 5 s */
#define QUEUE_FULL_MS 200       /* a line ZeroMQ's full queue did not take: tried again after */
#define ID_LIFE_MS (23LL * 3600 * 1000)  /* PROTOCOL.md 8.2: no resend near the broker's 24 h memory (libminqing: 23 h) */
#define STOP_WAIT_MS 3000       /* stopped: how long the answers to the lines in flight are waited for */

/* The signal (SIGINT, SIGTERM) that stopped the import; 0 while none has. */
static volatile sig_atomic_t stopped_by;

static void help(void)
{
    printf(
        "usage: minqing import [-c FILE] [--window N] [--timeout SECONDS] [--cert FILE]\n"
        "                      FILE.jsonl | -\n"
        "\n"
        "Import historical cases, one JSON object per line: the case's Open311 fields\n"
        "(as for minqing submit) plus its history:\n"
        "  state         required: received, dispatched, accepted, contacted, resolved,\n"
        "                closed, returned or cancelled\n"
        "  received_at   required: unix ms (not seconds; a whole number, 1561939200000.0\n"
        "                and \"1561939200000\" too), or \"2021-03-01T08:00[:SS[.mmm]]\"\n"
        "                with an offset from UTC (\"+08:00\", \"+0800\", \"+08\" or \"Z\"),\n"
        "                or without one in the time zone of the machine running the\n"
        "                import (TZ, else /etc/localtime; the summary names it): give\n"
        "                the offset when importing from a machine not set to the\n"
        "                county's zone\n"
        "  department    the lead department, by id or display name (default: the route's)\n"
        "  contacted_at, resolved_at, closed_at   times, as received_at; the one of\n"
        "                the state is required (contacted_at for contacted, resolved_at\n"
        "                for resolved, closed_at for closed), and the times must keep\n"
        "                received <= contacted <= resolved <= closed\n"
        "  rating        satisfied, basically_satisfied or unsatisfied\n"
        "A history field given as null is absent. Cases still open are routed and\n"
        "dispatched like new ones; their deadlines count from received_at (one imported\n"
        "as contacted has made its contact: no contact escalation). A case imported as\n"
        "returned goes to the broker's manual_department, as a live return does. With\n"
        "auto_close set, a case imported as resolved is closed as of resolved_at +\n"
        "auto_close. Every case's deadlines are the config's [deadlines] rules of now,\n"
        "counted from received_at; working days by the holiday file, which must list\n"
        "the years imported (a case of a year it leaves out is named and counted).\n"
        "Progress goes to stderr; the summary to stdout.\n"
        "The file is UTF-8 (a BOM at its start is skipped); one in UTF-16 is refused.\n"
        "A line whose (channel, external_id) an earlier line of the file had is refused\n"
        "(FILE:LINE, naming the case and that line): the first record is kept. Lines\n"
        "whose case was there before the run count as already there, left as they are;\n"
        "stderr says how many, and the first of their line numbers.\n"
        "Ctrl-C (SIGINT) or SIGTERM stops the import: no more lines are sent, the\n"
        "answers to those in flight are waited for (3 s at most), and stderr says how\n"
        "many lines were stored, sent but not answered, and not sent; a second Ctrl-C\n"
        "ends it at once. Run the same import again to go on: the broker knows the\n"
        "lines already stored by (channel, external_id) and leaves them as they are.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE      the broker's config (default %s)\n"
        "  -w, --window N         requests in flight, 1 to 1000 (default 512)\n"
        "  -t, --timeout SECONDS  give up when the broker has answered no line for this\n"
        "                         long (default 60); unanswered lines are sent again\n"
        CLI_CERT_HELP
        "  -h, --help             this help\n"
        "\n"
        "IMPORT is an admin command: on a tcp:// intake endpoint give --cert with a\n"
        "keypair whose public part is in the broker's keys/admin/.\n"
        "\n"
        "Exit status: 0 every line imported (or already there); 1 the file unreadable,\n"
        "the broker unreachable or refusing this client's key, or no line answered for\n"
        "the timeout (running the import again is safe); 2 usage error (or no --cert for\n"
        "a CURVE endpoint), the file in UTF-16, or some lines refused (each is printed\n"
        "with its line number; a line whose request would be over the protocol's 64 KB\n"
        "is refused unsent) while the others were imported. Stopped by SIGINT or\n"
        "SIGTERM, it ends by that signal after saying where it stands (status 130 or\n"
        "143 in the shell, which then stops a script too).\n",
        CONFIG_DEFAULT_PATH);
}

typedef struct {
    long line;                  /* 0 = free */
    char msg_id[40];            /* every copy of the line has it; "" before the first */
    int64_t id_since;           /* monotonic ms: msg_id first sent */
    char *text;                 /* the line, to send again */
    int64_t due;                /* monotonic ms: sent again if still unanswered by then */
    int tries;                  /* sends so far; the backoff grows with them */
} slot_t;

/* Which line got each case id this run, so that a line naming a case an
 * earlier line of the same file already got is told from a case that was
 * in the database before the run. Open addressing on the case id (never 0),
 * grown at 3/4 full: 16 bytes a slot, some 32 MB for 1.3 million lines. */
typedef struct {
    uint64_t id;                /* 0: free */
    uint64_t line2;             /* the line, times 2, plus 1 when it created the case */
} owner_t;

typedef struct {
    owner_t *slots;
    size_t cap, used;           /* cap a power of 2 */
} owners_t;

typedef struct {
    cli_t *cli;
    mq_client_t *client;
    const char *file;           /* the input, for FILE:LINE in messages */
    owners_t owners;
    bool gbk_hinted;            /* the GBK hint said once per run */
    slot_t *slots;
    long window, inflight;
    long done, dups, refused, lines;
    bool local_times;           /* a time string without an offset was read */
    bool check_years;           /* a holiday file is named (check_year: per case) */
    long unlisted;              /* lines of cases received in a year it leaves out */
    int first_year, last_year;  /* of those */
    long timeout_ms;            /* give up after this long without progress */
    int64_t start, progress;    /* monotonic ms; progress: a line last sent or answered */
    int64_t hold_until;         /* monotonic ms: nothing goes out before (after a 301) */
    char last_error[160];       /* the broker's last "retry later", for the give-up message */
} import_t;

/* ---- which line got which case ------------------------------------------ */

static size_t owner_hash(uint64_t id)
{
    id ^= id >> 33;             /* case ids are sequential: mixed, so that they spread */
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t)id;
}

/* The slot of case id: its own, or the free one where it would go. */
static owner_t *owner_slot(const owners_t *o, uint64_t id)
{
    size_t i = owner_hash(id) & (o->cap - 1);
    while (o->slots[i].id && o->slots[i].id != id)
        i = (i + 1) & (o->cap - 1);
    return &o->slots[i];
}

/* Room for one more id; 0, or -1 when out of memory. */
static int owners_room(owners_t *o)
{
    if (o->cap && (o->used + 1) * 4 <= o->cap * 3)
        return 0;
    owners_t bigger = {.cap = o->cap ? o->cap * 2 : 1024, .used = o->used};
    if (!(bigger.slots = calloc(bigger.cap, sizeof *bigger.slots)))
        return -1;
    for (size_t i = 0; i < o->cap; i++)
        if (o->slots[i].id)
            *owner_slot(&bigger, o->slots[i].id) = o->slots[i];
    free(o->slots);
    *o = bigger;
    return 0;
}

static int64_t mono_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static double elapsed(const import_t *im)
{
    return (double)(mono_ms() - im->start) / 1e3;
}

/* 1, 2, 4, 8, then 16 s: a broker short of disk or restarting is not hammered. */
static int64_t backoff_ms(int tries)
{
    int doublings = tries < 1 ? 0 : tries > 5 ? 4 : tries - 1;
    return (int64_t)1000 << doublings;
}

/* Unix ms from a JSON real: pandas writes a column of integers as reals
 * (1561939200000.0) once one of them is null. A whole one is taken, one
 * with a fraction or past year 30000 refused, saying which. 0 or -1. */
static int real_ms(json_t *v, const char *key, long line, int64_t *out)
{
    double d = json_real_value(v);
    if (d != floor(d))
        return cli_fail(CLI_USAGE, CMD, "line %ld: %s %.17g has a fraction of a millisecond: "
                        "times are whole unix ms", line, key, d), -1;
    if (fabs(d) >= 1e15)
        return cli_fail(CLI_USAGE, CMD, "line %ld: %s %.17g is out of range for unix ms", line,
                        key, d), -1;
    *out = (int64_t)d;
    return 0;
}

/* A time field: unix ms (an integer, or a real with nothing after the
 * point) or a time string, with an offset from UTC or read in this
 * machine's time zone (*local set then); absent is 0. */
static int take_time(json_t *obj, const char *key, long line, int64_t *out, bool *local)
{
    json_t *v = json_object_get(obj, key);
    bool here = false;
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    const char *s = json_string_value(v);
    size_t n = s ? strlen(s) : 0;
    /* "1561939200000", as some exports quote every value: as the number,
     * and "1561939200" told it looks like seconds; other lengths are dates
     * (20190701, 201907010800) or typos, which cli_parse_time_zoned refuses */
    bool quoted = (n == 10 || n == 13) && strspn(s, "0123456789") == n;
    if (json_is_number(v) || quoted) {
        if (quoted)
            *out = strtoll(s, NULL, 10);
        else if (json_is_integer(v))
            *out = json_integer_value(v);
        else if (real_ms(v, key, line, out))
            return -1;
        if (*out > 0 && *out < 100000000000)    /* before 1973 in ms: an export in seconds */
            return cli_fail(CLI_USAGE, CMD, "line %ld: %s %" PRId64 " looks like seconds: times "
                            "are unix ms (times 1000)", line, key, *out), -1;
    } else if (!json_is_string(v) || cli_parse_time_zoned(json_string_value(v), out, &here))
        return cli_fail(CLI_USAGE, CMD, "line %ld: %s must be unix ms or \"YYYY-MM-DDTHH:MM"
                        "[:SS[.mmm]][+08:00|Z]\"", line, key), -1;
    *local |= here;
    return 0;
}

/* A text field of the history: NULL when absent or null. Anything else that
 * is not a string is refused rather than dropped, so that no history is lost
 * without a word. */
static int take_string(json_t *obj, const char *key, const char *src, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = json_string_value(v);
    if (v && !json_is_null(v) && !*out)
        return cli_fail(CLI_USAGE, CMD, "%s: %s must be a string", src, key);
    return CLI_OK;
}

/* Build the IMPORT request for one line; the history keys are taken out of
 * the object, and what remains must be a case record. CLI_OK or CLI_USAGE. */
static int to_request(const config_t *cfg, json_t *obj, long line, msg_t *m, char dept[33],
                      bool *local)
{
    static const char *const history[] = {"state", "received_at", "department", "contacted_at",
                                          "resolved_at", "closed_at", "rating"};
    char src[32];
    snprintf(src, sizeof src, "line %ld", line);
    msg_reset(m, MSG_IMPORT);
    const char *state = json_string_value(json_object_get(obj, "state"));
    int st = state ? msg_enum_from_name(msg_state_names, STATE_COUNT, state) : -1;
    if (st <= 0)
        return cli_fail(CLI_USAGE, CMD, "%s: state is required and must be a case state", src);
    m->state = (msg_state_t)st;
    if (take_time(obj, "received_at", line, &m->received_at, local))
        return CLI_USAGE;               /* said why */
    if (!m->received_at)
        return cli_fail(CLI_USAGE, CMD, "%s: received_at is required", src);
    if (take_time(obj, "contacted_at", line, &m->contacted_at, local) ||
        take_time(obj, "resolved_at", line, &m->resolved_at, local) ||
        take_time(obj, "closed_at", line, &m->closed_at, local))
        return CLI_USAGE;
    const char *rating, *d;
    if (take_string(obj, "rating", src, &rating) || take_string(obj, "department", src, &d))
        return CLI_USAGE;
    int rt = rating ? msg_enum_from_name(msg_rating_names, RATING_COUNT, rating) : RATING_NONE;
    if (rating && rt <= RATING_NONE)
        return cli_fail(CLI_USAGE, CMD, "%s: rating must be satisfied, basically_satisfied or "
                        "unsatisfied", src);
    m->rating = (msg_rating_t)rt;
    if (d) {            /* copied: the key is taken out of the object below */
        /* an export names departments as people do (水务局): the config maps
         * them; one it does not know goes as it is, for the broker to judge */
        const char *id = cfg ? cli_dept_lookup(cfg, d) : NULL;
        if (!id && strlen(d) > 32)
            return cli_fail(CLI_USAGE, CMD, "%s: department '%s' is no department of the "
                            "config, nor an id (at most 32 bytes)", src, d);
        snprintf(dept, 33, "%s", id ? id : d);
        m->department = dept;
    }
    int bits[] = {MF_CASE, MF_STATE, MF_RECEIVED_AT};
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
        MSG_SET(m, bits[i]);
    if (m->department) MSG_SET(m, MF_DEPARTMENT);
    if (m->contacted_at) MSG_SET(m, MF_CONTACTED_AT);
    if (m->resolved_at) MSG_SET(m, MF_RESOLVED_AT);
    if (m->closed_at) MSG_SET(m, MF_CLOSED_AT);
    if (rating) MSG_SET(m, MF_RATING);
    for (size_t i = 0; i < sizeof history / sizeof history[0]; i++)
        json_object_del(obj, history[i]);
    return cli_case_from_json(obj, CMD, src, &m->kase);
}

/* The msg_id a copy of the line in s goes with: the line's own (PROTOCOL.md
 * 8.2), so that the broker answers a copy as it answered the first, and the
 * line counts as imported whichever answer comes, not as "already there"
 * because its first copy was applied while the answer was on its way. NULL,
 * for a fresh id, at the first send and past the broker's 24 hours of memory
 * (the broker then still knows the case by channel and external_id). */
static const char *slot_id(slot_t *s, int64_t now)
{
    if (s->msg_id[0] && now - s->id_since < ID_LIFE_MS)
        return s->msg_id;
    s->msg_id[0] = '\0';
    s->id_since = now;
    return NULL;
}

/* The hint for a line that is not UTF-8, the first time one is: an export
 * from a Chinese Windows system is GBK unless told otherwise, and every
 * line of it would repeat the hint. */
static const char *gbk_hint(import_t *im, const json_error_t *e)
{
    if (json_error_code(e) != json_error_invalid_utf8 || im->gbk_hinted)
        return "";
    im->gbk_hinted = true;
    return CLI_GBK_HINT;
}

/* Whether a deadline of the case counts working time (wd, wh). */
static bool working_time(const config_t *cfg, const msg_case_t *k)
{
    for (int ladder = LADDER_CONTACT; ladder < LADDER_COUNT; ladder++) {
        const config_dur_t *d = config_deadline(cfg, ladder, k->service_code, k->priority);
        if (d && d->kind != DUR_WALL)
            return true;
    }
    return false;
}

/* A case received in a year the holiday file does not list gets its
 * working-day deadlines over that year's 春节 and 国庆 as if they were
 * working days, for good (the broker computes them at the import): said at
 * the first such case, while the operator can still stop, and counted. */
static void check_year(import_t *im, const msg_t *m, long line)
{
    time_t t = (time_t)(m->received_at / 1000);
    struct tm tm;
    if (!im->check_years || !working_time(im->cli->cfg, &m->kase) || !localtime_r(&t, &tm) ||
        calendar_year_listed(&im->cli->cfg->calendar, tm.tm_year + 1900))
        return;
    int year = tm.tm_year + 1900;
    if (!im->unlisted++) {
        im->first_year = im->last_year = year;
        fprintf(stderr, "minqing import: line %ld: received in %d, a year the holiday file "
                "([calendar] holidays) does not list: working-day deadlines count its public "
                "holidays as working days (add that year's dates to the file before "
                "importing: docs/operations.md, Holidays)\n", line, year);
    }
    if (year < im->first_year)
        im->first_year = year;
    if (year > im->last_year)
        im->last_year = year;
}

/* Send the line in slot s (again), to be sent once more if unanswered by
 * s->due. CLI_OK, CLI_USAGE (a bad line, said why) or CLI_RUNTIME (not sent:
 * mq_strerror says why). */
static int send_slot(import_t *im, slot_t *s)
{
    json_error_t jerr;
    /* a key given twice is refused, as by minqing submit and the broker (109):
     * which of the two the old system meant is not for the import to guess */
    json_t *obj = json_loads(s->text, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj || !json_is_object(obj)) {
        if (obj)
            cli_fail(CLI_USAGE, CMD, "line %ld: not a JSON object", s->line);
        else
            cli_fail(CLI_USAGE, CMD, "line %ld: not valid JSON (column %d: %s)%s", s->line,
                     jerr.column, jsonerr_problem(&jerr), gbk_hint(im, &jerr));
        json_decref(obj);
        return CLI_USAGE;
    }
    msg_t m;
    char dept[33];
    int rc = to_request(im->cli->cfg, obj, s->line, &m, dept, &im->local_times);
    if (rc == CLI_OK && s->tries == 0)
        check_year(im, &m, s->line);
    int64_t now = mono_ms();
    m.msg_id = slot_id(s, now);
    /* libminqing checks a request as the broker would, before sending it: a
     * code means this line is bad (too large, the broker's ERROR could not
     * even have named it), not the connection */
    if (rc == CLI_OK && mq_client_send(im->client, &m, s->msg_id) != 0)
        rc = mq_client_error(im->client) == MSG_OK
                 ? CLI_RUNTIME
                 : cli_fail(CLI_USAGE, CMD, "line %ld refused: %s%s", s->line, mq_strerror(),
                            errno == EMSGSIZE ? " (shorten its longest text)" : "");
    s->tries++;
    s->due = now + RESEND_MS;
    int err = errno;            /* why a send failed, for the caller */
    json_decref(obj);
    errno = err;
    return rc;
}

static slot_t *slot_of(import_t *im, const char *re)
{
    for (long i = 0; re && i < im->window; i++)
        if (im->slots[i].line && strcmp(im->slots[i].msg_id, re) == 0)
            return &im->slots[i];
    return NULL;
}

static void free_slot(import_t *im, slot_t *s)
{
    free(s->text);
    s->text = NULL;
    s->line = 0;
    im->inflight--;
}

/* Say that `line` names case id, which line `first` got earlier in this
 * run (`created`: made it, else found it already there), and count it
 * refused: its record is not in minqing, and the operator must see which.
 * text is a line of the case, for its channel and external_id. */
static void repeated(import_t *im, const char *text, uint64_t id, long line, long first,
                     bool created)
{
    json_t *obj = json_loads(text, 0, NULL);
    const char *e = json_string_value(json_object_get(obj, "external_id"));
    const char *c = json_string_value(json_object_get(obj, "channel"));
    char *ext = cli_clean(e ? e : "?", false), *chan = cli_clean(c ? c : "?", false);
    cli_fail(CLI_USAGE, CMD, "%s:%ld: external_id %s (channel %s) is case %" PRIu64 ", %s %ld%s; "
             "not imported", im->file, line, ext ? ext : "?", chan ? chan : "?", id,
             created ? "already imported from line" : "as is line", first,
             created ? " in this run" : ", which was already there before this run");
    free(ext);
    free(chan);
    json_decref(obj);
    im->refused++;
}

/* A line the broker took (SUBMIT_OK): a case imported, or already there
 * before this run; or the case an earlier line of this run got (the same
 * channel and external_id twice in the file), refused. 0, or -1 when out
 * of memory. */
static int took(import_t *im, const slot_t *s, const msg_t *r)
{
    if (!r->case_id) {          /* nothing to key on (a broker always gives it) */
        im->done++;
        im->dups += r->duplicate;
        return 0;
    }
    if (owners_room(&im->owners))
        return -1;
    owner_t *o = owner_slot(&im->owners, r->case_id);
    uint64_t mine = (uint64_t)s->line * 2 + !r->duplicate;
    if (!o->id) {
        *o = (owner_t){r->case_id, mine};
        im->owners.used++;
        im->done++;
        im->dups += r->duplicate;
        return 0;
    }
    long first = (long)(o->line2 / 2);
    bool created = o->line2 & 1;
    if (!r->duplicate && !created) {
        /* this line made the case, and `first`, answered first (this one
         * went again: unanswered, or asked to retry later), repeats it:
         * counted already there, it is refused instead, this one imported */
        o->line2 = mine;
        im->dups--;
        repeated(im, s->text, r->case_id, first, s->line, true);
        return 0;
    }
    repeated(im, s->text, r->case_id, s->line, first, created);
    return 0;
}

/* A line answered for good: imported (or already there), or refused.
 * CLI_OK, or CLI_RUNTIME after saying why. */
static int answered(import_t *im, slot_t *s, const msg_t *r)
{
    if (r->cmd == MSG_SUBMIT_OK) {
        if (took(im, s, r))
            return cli_fail(CLI_RUNTIME, CMD, "out of memory keeping which case each line got");
    } else if (r->cmd == MSG_ERROR) {
        cli_fail(CLI_USAGE, CMD, "line %ld refused: %s", s->line, r->reason_text);
        im->refused++;
    } else {
        return CLI_OK;
    }
    free_slot(im, s);
    im->progress = mono_ms();
    im->last_error[0] = '\0';
    if ((im->done + im->refused) % 100000 == 0)
        fprintf(stderr, "minqing import: %ld imported, %.0f per second\n", im->done,
                (double)im->done / elapsed(im));    return CLI_OK;
}

/* An ERROR that says "later" (5xx, 301, 302): the line goes again after its
 * backoff. A 301 names no request (the broker sends it before decoding), so
 * any request in flight may be the refused one: each is sent again after its
 * backoff unless answered first, and nothing goes out for a second while the
 * broker's bucket refills. */
static void retry_later(import_t *im, slot_t *s, const msg_t *r)
{
    int64_t now = mono_ms();
    snprintf(im->last_error, sizeof im->last_error, "%s (%u): %s",
             msg_err_name((msg_err_t)r->code), r->code, r->reason_text ? r->reason_text : "");
    if (r->code == ERR_RATE_LIMITED)
        im->hold_until = now + 1000;
    for (long i = 0; i < im->window; i++) {
        slot_t *t = &im->slots[i];
        if (t->line && (t == s || !s))
            t->due = now + backoff_ms(t->tries);
    }
}

/* An ERROR that names no request and is not a "later": the broker could not
 * read which (a body it could not decode). No line can be counted refused
 * by it, but its reason is said, and kept for the give-up message. */
static void unnamed_error(import_t *im, const msg_t *r)
{
    snprintf(im->last_error, sizeof im->last_error, "%s (%u): %s",
             msg_err_name((msg_err_t)r->code), r->code, r->reason_text ? r->reason_text : "");
    fprintf(stderr, "minqing %s: the broker refused a request without saying which: %s\n", CMD,
            im->last_error);
}

static bool is_later(const msg_t *r)
{
    return r->cmd == MSG_ERROR && (r->code >= 500 || r->code == ERR_RATE_LIMITED ||
                                   r->code == ERR_TOO_MANY_IN_FLIGHT);
}

/* Take the replies that have come (waiting up to wait_ms for the first). */
static int collect(import_t *im, int wait_ms)
{
    msg_t r;
    int got;
    while ((got = mq_client_recv(im->client, &r, wait_ms)) == 1) {
        wait_ms = 0;
        /* the key's role, not the line: every line would be refused alike */
        if (r.cmd == MSG_ERROR && r.code == ERR_FORBIDDEN)
            return cli_fail(CLI_RUNTIME, CMD, "the broker refuses IMPORT from this client's key "
                            "(%s): imports need a key in the broker's %s", r.reason_text, LISTS);
        slot_t *s = slot_of(im, r.re);
        if (!s && r.re)
            continue;               /* to a copy of a line already answered */
        if (is_later(&r))
            retry_later(im, s, &r);
        else if (s && answered(im, s, &r) != CLI_OK)
            return CLI_RUNTIME;
        else if (!s && r.cmd == MSG_ERROR)
            unnamed_error(im, &r);
    }
    return got < 0 ? cli_client_failed(im->cli, CMD, LISTS) : CLI_OK;
}

/* Send again what is due: lost to a broker restart, unanswered by a broker
 * slower than RESEND_MS, refused by a 301 that could not say which, or after
 * a 5xx. Each copy has the line's msg_id (send_slot). A stopped import sends
 * nothing more: its summary must stay true once printed. */
static void resend_due(import_t *im)
{
    int64_t now = mono_ms();
    for (long i = 0; !stopped_by && now >= im->hold_until && i < im->window; i++)
        if (im->slots[i].line && now >= im->slots[i].due)
            (void)send_slot(im, &im->slots[i]);     /* a failed send is one more loss */
}

/* Wait a moment for replies and resend what is due. Every wait goes through
 * here, so the import gives up once the broker has answered no line for the
 * timeout (stopped, or failing every request) instead of waiting forever. */
/* The numbers of the first lines still waiting, "12, 40, 77, ...", into buf. */
static void waiting_lines(const import_t *im, char *buf, size_t len)
{
    size_t n = 0;
    int shown = 0;
    buf[0] = '\0';
    for (long i = 0; i < im->window && n < len; i++) {
        if (!im->slots[i].line)
            continue;
        if (shown == 5) {
            snprintf(buf + n, len - n, ", ...");
            return;
        }
        int k = snprintf(buf + n, len - n, "%s%ld", shown ? ", " : "", im->slots[i].line);
        n += k > 0 ? (size_t)k : 0;
        shown++;
    }
}

static int step(import_t *im)
{
    if (im->inflight && mono_ms() - im->progress >= im->timeout_ms) {
        char lines[96];
        waiting_lines(im, lines, sizeof lines);
        return cli_fail(CLI_RUNTIME, CMD, "no line answered for %ld s, %ld waiting (lines %s)%s%s. "
                        "Is minqingd running? Running the import again is safe.",
                        im->timeout_ms / 1000, im->inflight, lines,
                        *im->last_error ? "; the broker's last answer: " : "", im->last_error);
    }
    int rc = collect(im, 100);
    if (rc == CLI_OK)
        resend_due(im);
    return rc;
}

/* Send a new line from a free slot; a bad line is counted refused. */
static int send_line(import_t *im, const char *line)
{
    while (!stopped_by && (im->inflight == im->window || mono_ms() < im->hold_until)) {
        int rc = step(im);
        if (rc != CLI_OK)
            return rc;
    }
    if (stopped_by)
        return CLI_OK;          /* the summary counts the line not sent */
    slot_t *s = im->slots;
    while (s->line)
        s++;
    if (!(s->text = strdup(line)))
        return cli_fail(CLI_RUNTIME, CMD, "out of memory");
    s->line = im->lines;
    s->msg_id[0] = '\0';
    s->tries = 0;
    im->inflight++;
    im->progress = mono_ms();
    int rc = send_slot(im, s);
    if (rc == CLI_RUNTIME && errno == EAGAIN) {
        /* ZeroMQ's queue to the broker is full (copies resent to a broker
         * that is slow or stopped fill it): the line waits in its slot and
         * goes again shortly, as a resent one would */
        s->due = im->progress + QUEUE_FULL_MS;
        return CLI_OK;
    }
    if (rc == CLI_RUNTIME && errno == EACCES)
        cli_client_failed(im->cli, CMD, LISTS);
    else if (rc == CLI_RUNTIME)
        cli_fail(CLI_RUNTIME, CMD, "sending line %ld: %s", s->line, mq_strerror());
    im->refused += rc == CLI_USAGE;
    if (rc != CLI_OK)
        free_slot(im, s);
    return rc == CLI_USAGE ? CLI_OK : rc;
}

/* The first lines (up to 5, smallest first) that named a case already
 * there before this run, into first; how many. */
static int first_already_there(const owners_t *o, long first[5])
{
    int n = 0;
    for (size_t i = 0; i < o->cap; i++) {
        if (!o->slots[i].id || (o->slots[i].line2 & 1))
            continue;
        long line = (long)(o->slots[i].line2 / 2);
        int at = n < 5 ? n++ : 5;
        while (at > 0 && first[at - 1] > line) {
            if (at < 5)
                first[at] = first[at - 1];
            at--;
        }
        if (at < 5)
            first[at] = line;
    }
    return n;
}

/* A run again is quiet, but says in one line which lines found their case
 * already there: a record the old system changed since the first run is
 * not imported, and the operator should know where to look. */
static void say_already_there(const import_t *im)
{
    long first[5];
    char lines[96] = "";
    size_t len = 0;
    if (!im->dups)
        return;
    int n = first_already_there(&im->owners, first);
    for (int i = 0; i < n && len < sizeof lines; i++) {
        int k = snprintf(lines + len, sizeof lines - len, "%s%ld", i ? ", " : "", first[i]);
        len += k > 0 ? (size_t)k : 0;
    }
    bool one = im->dups == 1;
    fprintf(stderr, "minqing %s: %ld line%s named %s already in the database before this run "
            "(line%s %s%s), left as %s: a change the old system made since is not imported\n",
            CMD, im->dups, one ? "" : "s", one ? "a case" : "cases", one ? "" : "s", lines,
            im->dups > n ? ", ..." : "", one ? "it is" : "they are");
}

/* ---- stopped by a signal --------------------------------------------- */

static const int stopping[] = {SIGINT, SIGTERM};
#define NSTOPPING (sizeof stopping / sizeof stopping[0])
static struct sigaction before[NSTOPPING];

/* The first signal stops the sending; the actions before are put back at
 * once, so that a second one (Ctrl-C again) ends the import at once. */
static void on_stop(int sig)
{
    stopped_by = sig;
    for (size_t i = 0; i < NSTOPPING; i++)
        sigaction(stopping[i], &before[i], NULL);   /* async-signal-safe */
}

/* Catch SIGINT and SIGTERM, unless ignored (nohup, a script's background
 * job). No SA_RESTART: the wait for the broker's answers must wake. */
static void catch_stop(void)
{
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NSTOPPING; i++)
        sigaddset(&sa.sa_mask, stopping[i]);
    for (size_t i = 0; i < NSTOPPING; i++)
        if (sigaction(stopping[i], NULL, &before[i]) == 0 && before[i].sa_handler != SIG_IGN)
            sigaction(stopping[i], &sa, NULL);
}

/* Stopped: the answers to the lines in flight, waited for a moment (none
 * sent again), so that those the broker stored count as stored. */
static int drain(import_t *im)
{
    int64_t until = mono_ms() + STOP_WAIT_MS;
    int rc = CLI_OK;
    for (int64_t now = mono_ms(); rc == CLI_OK && im->inflight > 0 && now < until; now = mono_ms())
        rc = collect(im, (int)(until - now));
    return rc;
}

/* The lines of the input after those read, for the numbers of a stopped
 * import; -1 for a pipe or a terminal, whose rest may never come. */
static long lines_left(FILE *in)
{
    struct stat st;
    if (fstat(fileno(in), &st) != 0 || !S_ISREG(st.st_mode))
        return -1;
    static char buf[1 << 16];
    long n = 0;
    char last = '\n';
    for (size_t got; (got = fread(buf, 1, sizeof buf, in)) > 0; last = buf[got - 1])
        for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + got - p))); p++)
            n++;
    return ferror(in) ? -1 : n + (last != '\n');
}

/* Where a stopped import stands. Each line read is stored (the broker
 * acknowledged it), refused, in flight (sent, its answer not come: stored
 * or not, a run again tells) or not sent; `left`, the lines not read (-1:
 * unknown), are not sent either. */
static void say_stopped(const import_t *im, long left, const char *name)
{
    long unsent = im->lines - im->done - im->refused - im->inflight + (left > 0 ? left : 0);
    char of[48] = "", rest[4200] = "";
    if (left >= 0)
        snprintf(of, sizeof of, ", of %ld lines", im->lines + left);
    else
        snprintf(rest, sizeof rest, " (and the rest of %s, not read)", name);
    fprintf(stderr, "minqing %s: stopped by %s after %.1f s%s: %ld stored (%ld imported, %ld "
            "already there), %ld sent but not answered, %ld not sent%s, %ld refused\n", CMD,
            stopped_by == SIGINT ? "SIGINT (Ctrl-C)" : "SIGTERM", elapsed(im), of, im->done,
            im->done - im->dups, im->dups, im->inflight, unsent, rest, im->refused);
    fprintf(stderr, "minqing %s: running the same import again on the whole input is safe and "
            "goes on: the broker knows a line already stored by its (channel, external_id) and "
            "leaves its case as it is (counted as already there), and imports the others\n", CMD);
}

/* A stopped import ends by the signal that stopped it, as it would have
 * without its summary, so that a shell running it in a script stops too. */
static void end_by(int sig)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    fflush(stdout);
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    raise(sig);
}

static int run(import_t *im, FILE *in, const char *name)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = CLI_OK;
    while (rc == CLI_OK && !stopped_by && (len = getline(&line, &cap, in)) >= 0) {
        size_t skip = 0;
        const char *utf16 = ++im->lines == 1 ? cli_text_utf16(line, (size_t)len, &skip) : NULL;
        if (utf16)              /* every line would be refused: said once */
            rc = cli_utf16_fail(CMD, in == stdin ? NULL : name, utf16);
        else if (strspn(line + skip, " \t\r\n") != (size_t)len - skip)
            rc = send_line(im, line + skip);
    }
    /* getline says -1 at the end and on an error alike; the lines already
     * sent are still waited for, so that the summary is true */
    bool unreadable = rc == CLI_OK && ferror(in) && !stopped_by;    /* not a read the signal cut */
    if (unreadable)
        cli_fail(CLI_RUNTIME, CMD, "%s: cannot read line %ld: %s", name, im->lines + 1,
                 strerror(errno));
    free(line);
    while (rc == CLI_OK && im->inflight > 0 && !stopped_by)
        rc = step(im);
    if (rc == CLI_OK && stopped_by)
        rc = drain(im);
    return unreadable ? CLI_RUNTIME : rc;
}

int cmd_import(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"window", required_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        CLI_CERT_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    import_t im = {.cli = cli, .window = 512, .timeout_ms = 60000};
    long timeout_s;
    int c;
    while ((c = cli_getopt(cli, CMD, argc, argv, ":hc:w:t:", opts)) != -1) {
        switch (c) {
        case 'h': help(); return CLI_OK;
        case 'w':
            /* at most ZeroMQ's default send queue (1000): a first send past it
             * would fail at once and stop the import */
            if (cli_parse_long(optarg, 1, 1000, &im.window))
                return cli_usage(CMD, "--window takes 1 to 1000");
            break;
        case 't':
            if (cli_parse_long(optarg, 1, 3600, &timeout_s))
                return cli_usage(CMD, "--timeout takes seconds, 1 to 3600");
            im.timeout_ms = timeout_s * 1000;
            break;
        default: return CLI_USAGE;
        }
    }
    if (argc - optind != 1)
        return cli_usage(CMD, "give one file of JSON lines, or - for standard input");
    const char *path = argv[optind];
    FILE *in = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!in)
        return cli_fail(CLI_RUNTIME, CMD, "cannot open %s: %s", path, strerror(errno));
    int rc = cli_load_config(cli, CMD);
    if (rc == CLI_OK) {
        im.check_years = calendar_last_day(&cli->cfg->calendar) != 0;
        cli_warn_zone(CMD);     /* times without an offset, and check_year, read in TZ */
    }
    if (rc == CLI_OK)
        rc = cli_client_open(cli, CMD, LISTS, &im.client);
    if (rc == CLI_OK && !(im.slots = calloc((size_t)im.window, sizeof *im.slots)))
        rc = cli_fail(CLI_RUNTIME, CMD, "out of memory");
    im.start = im.progress = mono_ms();
    im.file = in == stdin ? "(stdin)" : path;
    const char *name = in == stdin ? "standard input" : path;
    if (rc == CLI_OK) {
        catch_stop();
        rc = run(&im, in, name);
    }
    bool stopped = rc == CLI_OK && stopped_by;
    long left = stopped ? lines_left(in) : 0;
    say_already_there(&im);
    double secs = elapsed(&im);
    printf("imported %ld cases (%ld already there, %ld lines refused) in %.1f s = %.0f per second\n",
           im.done, im.dups, im.refused, secs, secs > 0 ? (double)im.done / secs : 0.0);
    char zone[128];
    if (im.local_times)
        printf("times without an offset were read in this machine's time zone, %s\n",
               cli_zone_name(zone, sizeof zone));
    if (im.unlisted)
        printf("%ld lines were of cases received in %d..%d, in years the holiday file does not "
               "list: their working-day deadlines count those years' public holidays as "
               "working days\n",
               im.unlisted, im.first_year, im.last_year);
    if (stopped)
        say_stopped(&im, left, name);
    for (long i = 0; im.slots && i < im.window; i++)
        free(im.slots[i].text);
    free(im.slots);
    free(im.owners.slots);
    mq_client_destroy(&im.client);
    if (in != stdin)
        fclose(in);
    if (stopped_by)             /* after a failure too: the operator asked for the end */
        end_by(stopped_by);
    return rc != CLI_OK ? rc : im.refused ? CLI_USAGE : CLI_OK;
}
