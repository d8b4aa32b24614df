/*
 * output.c - a command's stdout and stderr (see output.h). The log goes to
 * the journal, which holds no personal data, and a command may print or echo
 * the case it was given: a stdout line is never logged, a stderr line only
 * masked.
 */
#include "output.h"
#include "jsonerr.h"

#include <stdio.h>
#include <string.h>

/* A stdout line's context: the job, and where its outcomes go. */
typedef struct {
    mq_worker_t *w;
    job_t *j;
} stdout_ctx_t;

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

static int report_resolved(mq_worker_t *w, job_t *j, json_t *o, char *why, size_t len)
{
    const char *result, *summary;
    if (member(o, "result", true, &result, why, len) ||
        member(o, "summary", true, &summary, why, len))
        return -1;
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
    if (member(o, "event", true, &event, why, len) || member(o, "note", false, &note, why, len))
        return -1;
    if (!strcmp(event, "accepted"))
        return sent(mq_worker_accept(w, j->id), why, len);
    if (!strcmp(event, "contacted"))
        return reached(j, sent(mq_worker_contacted(w, j->id, note), why, len));
    if (!strcmp(event, "progress"))
        return member(o, "note", true, &note, why, len)
                   ? -1 : reached(j, sent(mq_worker_progress(w, j->id, note), why, len));
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
    stdout_ctx_t *ctx = arg;
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
    else if (report(ctx->w, j, o, why, sizeof why) == 0) {
        j->run.events++;
        log_event(j, lineno, o);
        json_decref(o);
        return;
    }
    json_decref(o);
    j->run.garbage++;
    log_garbage(j, lineno, len, why);
}

/* One line of the command's stderr, passed on with the job's ids. What looks
 * like a phone or ID number is masked, the whole line before it is cut to
 * the record's size, so that a number at the cut is still seen whole. */
static void on_stderr_line(void *arg, unsigned lineno, char *line, size_t len, bool whole)
{
    (void)lineno, (void)whole;
    job_t *j = arg;
    wlog_rec_t r;
    char masked[WLOG_LINE];
    line[len] = '\0';
    mq_mask_text(line, masked, sizeof masked);
    wlog_begin(&r, LOG_INFO, "cmd.stderr");
    job_log_ids(&r, j);
    wlog_fmt(&r, "pid", "%d", (int)j->run.pid);
    wlog_str(&r, "text", masked);
    wlog_end(&r);
}

void output_drain_stdout(mq_worker_t *w, job_t *j)
{
    stdout_ctx_t ctx = {.w = w, .j = j};
    reader_drain(&j->run.out, on_stdout_line, &ctx);
}

void output_drain_stderr(job_t *j)
{
    reader_drain(&j->run.err, on_stderr_line, j);
}

void output_finish(mq_worker_t *w, job_t *j)
{
    stdout_ctx_t ctx = {.w = w, .j = j};
    reader_finish(&j->run.out, on_stdout_line, &ctx);
    reader_finish(&j->run.err, on_stderr_line, j);
}
