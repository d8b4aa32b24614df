/*
 * output.c - a command's stdout and stderr (see output.h). The log goes to
 * the journal, which holds no personal data, and a command may print or echo
 * the case it was given: a stdout line is never logged, a stderr line only
 * masked. A command in a loop is bounded: so many outcomes a run, so many
 * records per 10 s.
 */
#include "output.h"
#include "jsonerr.h"
#include "msg.h"
#include "utf8.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* A runaway command (a loop printing progress, `yes` on stderr) must not
 * grow libminqing's queue, which keeps each outcome until the broker
 * acknowledges it, nor flood the broker's audit trail or the journal. */
#define OUTCOMES_MAX       100      /* accepted, contacted, progress sent per run */
#define LOG_BUDGET_LINES   20       /* cmd.stderr, cmd.garbage records of a run ... */
#define LOG_BUDGET_MS      10000    /* ... per window of this */

/* A line's context: the job, where its outcomes go, and when its pipe was
 * read (for the log's budget). */
typedef struct {
    mq_worker_t *w;
    job_t *j;
    int64_t now;
} line_ctx_t;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How many records of `event` the budget held back, as one record. */
static void log_suppressed(const job_t *j, const char *event, unsigned n)
{
    if (!n)
        return;
    wlog_rec_t r;
    wlog_begin(&r, LOG_WARNING, event);
    job_log_ids(&r, j);
    wlog_fmt(&r, "pid", "%d", (int)j->run.pid);
    wlog_fmt(&r, "suppressed", "%u", n);
    wlog_fmt(&r, "reason", "more than %d lines in %d s: the rest not logged", LOG_BUDGET_LINES,
             LOG_BUDGET_MS / 1000);
    wlog_end(&r);
}

/* Whether one more record of `event` fits the run's budget for it; the
 * count a window that ended held back is logged first. */
static bool within_budget(const job_t *j, wlog_quota_t *q, const char *event, int64_t now)
{
    unsigned ended;
    bool ok = wlog_quota_take(q, LOG_BUDGET_LINES, LOG_BUDGET_MS, now, &ended);
    log_suppressed(j, event, ended);
    return ok;
}

/* String member `key`: 0 with *out (NULL when absent and optional), or -1
 * with why. */
static int member(json_t *o, const char *key, bool required, const char **out, char *why,
                  size_t len)
{
    json_t *v = json_object_get(o, key);
    *out = v ? json_string_value(v) : NULL;
    if ((v && !*out) || (!v && required)) {
        snprintf(why, len, "\"%s\" %s", key, v ? "is not a string" : "is missing");
        return -1;
    }
    return 0;
}

/* The return code of a libminqing call; on a refusal, why says so. */
static int sent(int rc, char *why, size_t len)
{
    if (rc)
        snprintf(why, len, "refused by libminqing: %s", mq_strerror());
    return rc;
}

/* A note or summary longer than the protocol takes is cut to it, at a
 * character, rather than refused: a refused resolved line would lose the
 * department's result for the sake of its tail. */
static const char *fit(const char *s, size_t max_chars, char *buf, size_t size)
{
    size_t i = 0, len = s ? strlen(s) : 0;
    for (size_t chars = 0; i < len && chars < max_chars; chars++)
        i += utf8_seqlen((unsigned char)s[i]);
    if (i >= len || i >= size)
        return s;               /* fits (or is not UTF-8: libminqing says so) */
    memcpy(buf, s, i);
    buf[i] = '\0';
    return buf;
}

static int accept_once(mq_worker_t *w, job_t *j, char *why, size_t len)
{
    int rc = j->accepted ? 0 : sent(mq_worker_accept(w, j->id), why, len);
    j->accepted |= rc == 0;
    return rc;
}

/* RESOLVED needs an ACCEPT or a CONTACTED first (PROTOCOL.md 7.2), else
 * the broker refuses it (203) and the assignment stays open, its slot
 * held: a command that prints resolved alone is accepted for it. An ACCEPT
 * after a CONTACTED changes nothing (=). */
static int report_resolved(mq_worker_t *w, job_t *j, json_t *o, char *why, size_t len)
{
    const char *result, *summary;
    char cut[4 * MSG_SUMMARY_CHARS + 1];
    if (member(o, "result", true, &result, why, len) ||
        member(o, "summary", true, &summary, why, len) || accept_once(w, j, why, len))
        return -1;
    summary = fit(summary, MSG_SUMMARY_CHARS, cut, sizeof cut);
    int rc = sent(mq_worker_resolved(w, j->id, result, summary), why, len);
    j->done = rc == 0;
    return rc;
}

static int report_returned(mq_worker_t *w, job_t *j, json_t *o, const char *note, char *why,
                           size_t len)
{
    const char *reason;
    if (member(o, "reason", true, &reason, why, len))
        return -1;
    int r = msg_enum_from_name(msg_return_names, RETURN_COUNT, reason);
    if (r <= 0) {
        snprintf(why, len, "\"reason\" is not one of wrong_department, wrong_locality, "
                 "duplicate, insufficient_info, other");
        return -1;
    }
    int rc = sent(mq_worker_returned(w, j->id, (msg_return_t)r, note), why, len);
    j->done = rc == 0;
    return rc;
}

/* Contacted or progress sent (rc 0): the department has reached the
 * resident, and a failure after it must not run the command again. */
static int reached(job_t *j, int rc)
{
    j->reached |= rc == 0;
    return rc;
}

/* Report one event line through libminqing. 0, or -1 with why. */
static int report(mq_worker_t *w, job_t *j, json_t *o, char *why, size_t len)
{
    const char *event, *note;
    char cut[4 * MSG_NOTE_CHARS + 1];
    if (member(o, "event", true, &event, why, len) || member(o, "note", false, &note, why, len))
        return -1;
    note = fit(note, MSG_NOTE_CHARS, cut, sizeof cut);
    if (!strcmp(event, "accepted"))
        return accept_once(w, j, why, len);
    if (!strcmp(event, "contacted"))
        return reached(j, sent(mq_worker_contacted(w, j->id, note), why, len));
    if (!strcmp(event, "progress"))
        return !note ? member(o, "note", true, &note, why, len)
                     : reached(j, sent(mq_worker_progress(w, j->id, note), why, len));
    if (!strcmp(event, "resolved"))
        return report_resolved(w, j, o, why, len);
    if (!strcmp(event, "returned"))
        return report_returned(w, j, o, note, why, len);
    snprintf(why, len, "unknown \"event\" (accepted, contacted, progress, resolved, returned)");
    return -1;
}

static void log_garbage(const job_t *j, unsigned lineno, size_t len, const char *why)
{
    wlog_rec_t r;
    wlog_begin(&r, LOG_WARNING, "cmd.garbage");
    job_log_ids(&r, j);
    wlog_fmt(&r, "line", "%u", lineno);
    wlog_fmt(&r, "bytes", "%zu", len);
    wlog_str(&r, "reason", why);
    wlog_end(&r);
}

/* Whether the line is a resolved or returned one: refused, it fails the
 * run, which would otherwise look finished and hold the assignment open. */
static bool final_event(json_t *o)
{
    const char *e = json_string_value(json_object_get(o, "event"));
    return e && (!strcmp(e, "resolved") || !strcmp(e, "returned"));
}

/* Past OUTCOMES_MAX in a run, an accepted, contacted or progress line is
 * not sent; resolved and returned still are: they end the assignment. */
static bool over_cap(const job_t *j, json_t *o)
{
    const char *e = json_string_value(json_object_get(o, "event"));
    return j->run.events >= OUTCOMES_MAX && e &&
           (!strcmp(e, "accepted") || !strcmp(e, "contacted") || !strcmp(e, "progress"));
}

/* One outcome too many: the first is logged, the run's end record counts
 * them all (dropped=). */
static void drop(job_t *j, unsigned lineno)
{
    if (j->run.dropped++)
        return;
    wlog_rec_t r;
    wlog_begin(&r, LOG_WARNING, "cmd.dropped");
    job_log_ids(&r, j);
    wlog_fmt(&r, "line", "%u", lineno);
    wlog_fmt(&r, "reason", "more than %d outcomes in one run: this and any further accepted, "
             "contacted or progress line is not sent", OUTCOMES_MAX);
    wlog_end(&r);
}

static void log_event(const job_t *j, unsigned lineno, json_t *o)
{
    wlog_rec_t r;
    wlog_begin(&r, LOG_INFO, "outcome.sent");
    job_log_ids(&r, j);
    wlog_str(&r, "outcome", json_string_value(json_object_get(o, "event")));
    wlog_fmt(&r, "line", "%u", lineno);
    wlog_end(&r);
}

/* One line of the command's stdout: an event, or garbage. Escalation
 * commands have no events to report: their stdout is ignored. */
static void on_stdout_line(void *arg, unsigned lineno, char *line, size_t len, bool whole)
{
    line_ctx_t *ctx = arg;
    job_t *j = ctx->j;
    char why[200];
    json_error_t err;
    json_t *o = NULL;
    if (j->kind == JOB_ESCALATION || strspn(line, " \t\r") == len)
        return;
    if (!whole)
        snprintf(why, sizeof why, "longer than %d bytes", READER_LINE_MAX);
    else if (j->done)
        snprintf(why, sizeof why, "after resolved/returned: the assignment is done");
    else if (!(o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err)))
        snprintf(why, sizeof why, "not JSON: %s at column %d", jsonerr_problem(&err), err.column);
    else if (!json_is_object(o))
        snprintf(why, sizeof why, "not a JSON object");
    else if (over_cap(j, o)) {
        drop(j, lineno);
        json_decref(o);
        return;
    } else if (report(ctx->w, j, o, why, sizeof why) == 0) {
        j->run.events++;
        log_event(j, lineno, o);
        json_decref(o);
        return;
    }
    if (o && final_event(o))
        snprintf(j->run.refused, sizeof j->run.refused, "its %.8s line was refused: %.160s",
                 json_string_value(json_object_get(o, "event")), why);
    json_decref(o);
    j->run.garbage++;
    if (within_budget(j, &j->run.garbage_quota, "cmd.garbage", ctx->now))
        log_garbage(j, lineno, len, why);
}

/* One line of the command's stderr, passed on with the job's ids, within
 * the run's budget (a line over it costs no masking, no write). The case's
 * own name, address, e-mail and phone, and whatever looks like a phone or
 * ID number, an e-mail address, a coordinate or escaped text, are masked,
 * the whole line before it is cut to the record's size, so that a number
 * at the cut is still seen whole. A line the reader had to cut (not whole)
 * loses what its cut may have split: masking can shrink what is before it
 * (a long e-mail address to a***@x.cn) until that piece, which no longer
 * looks like anything, would be shown. */
static void on_stderr_line(void *arg, unsigned lineno, char *line, size_t len, bool whole)
{
    (void)lineno;
    line_ctx_t *ctx = arg;
    job_t *j = ctx->j;
    wlog_rec_t r;
    char masked[WLOG_LINE];
    if (!within_budget(j, &j->run.err_quota, "cmd.stderr", ctx->now))
        return;
    line[len] = '\0';
    mask_person_t person = job_person(j);
    if (whole) {
        mask_known(line, &person);
    } else {
        mask_known_cut(line, &person);
        line[mask_cut_point(line)] = '\0';
    }
    mq_mask_text(line, masked, sizeof masked);
    wlog_begin(&r, LOG_INFO, "cmd.stderr");
    job_log_ids(&r, j);
    wlog_fmt(&r, "pid", "%d", (int)j->run.pid);
    wlog_str(&r, "text", masked);
    wlog_end(&r);
}

/* At the end of a pipe, what its budget held back in the last window. */
static void pipe_ended(const job_t *j, const reader_t *rd, wlog_quota_t *q, const char *event)
{
    if (rd->fd < 0)
        log_suppressed(j, event, wlog_quota_end(q));
}

void output_drain_stdout(mq_worker_t *w, job_t *j)
{
    line_ctx_t ctx = {.w = w, .j = j, .now = now_ms()};
    reader_drain(&j->run.out, on_stdout_line, &ctx);
    pipe_ended(j, &j->run.out, &j->run.garbage_quota, "cmd.garbage");
}

void output_drain_stderr(job_t *j)
{
    line_ctx_t ctx = {.j = j, .now = now_ms()};
    reader_drain(&j->run.err, on_stderr_line, &ctx);
    pipe_ended(j, &j->run.err, &j->run.err_quota, "cmd.stderr");
}

void output_finish(mq_worker_t *w, job_t *j)
{
    line_ctx_t ctx = {.w = w, .j = j, .now = now_ms()};
    reader_finish(&j->run.out, on_stdout_line, &ctx);
    reader_finish(&j->run.err, on_stderr_line, &ctx);
    pipe_ended(j, &j->run.out, &j->run.garbage_quota, "cmd.garbage");
    pipe_ended(j, &j->run.err, &j->run.err_quota, "cmd.stderr");
}
