/*
 * settle.c - the end of a run (see settle.h). An assignment that reported
 * resolved or returned is done whatever the exit code: the broker has its
 * outcome, and running the command again would report it twice. One that
 * reported contacted or progress is not run again nor returned either: the
 * resident was reached.
 */
#include "settle.h"
#include "delivery.h"
#include "fd.h"
#include "run.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#define BACKOFF_MAX_MS   60000

/* Why the run failed, or false when it did not. */
static bool failure(const adapter_t *ad, const job_t *j, char *why, size_t len)
{
    int st = j->run.status;
    if (j->kind == JOB_ASSIGNMENT && j->done)
        return false;
    if (j->run.spawn_error[0])
        snprintf(why, len, "%s", j->run.spawn_error);
    else if (j->run.stage > 0)
        snprintf(why, len, "timed out after %" PRId64 " ms (killed with %s)", ad->cfg->timeout_ms,
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
    else if (j->kind == JOB_ASSIGNMENT && !j->run.events)   /* else open for good, a slot held */
        snprintf(why, len, "printed no outcome");
    else if (j->kind == JOB_ASSIGNMENT && j->run.refused[0])    /* the same, after accepted */
        snprintf(why, len, "%s", j->run.refused);
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
    wlog_rec_t r;
    wlog_begin(&r, prio, event);
    job_log_ids(&r, j);
    wlog_fmt(&r, "run", "%u/%ld", j->runs, ad->cfg->retries + 1);
    if (j->kind == JOB_ASSIGNMENT)
        wlog_fmt(&r, "events", "%u", j->run.events);
    if (j->run.garbage)
        wlog_fmt(&r, "garbage", "%u", j->run.garbage);
    if (j->run.dropped)
        wlog_fmt(&r, "dropped", "%u", j->run.dropped);
    wlog_str(&r, key, val);
    wlog_end(&r);
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
    if (j->done)
        seen_add(ad->seen, j->id);
    else
        seen_keep(ad->seen, j->id);
    log_end_of(ad, j, LOG_INFO, "cmd.done", "result",
               j->done ? "reported resolved or returned"
                       : "exited 0; the assignment stays open with the department");
}

/* A failure after contacted or progress: running the command again would
 * reach the resident again, and returning the assignment would make the
 * dispatch centre the case's lead while the department works on it. It
 * stays open with the department, for someone to look at the log. */
static void keep_open(adapter_t *ad, job_t *j)
{
    log_end_of(ad, j, LOG_ERR, "assignment.kept_open", "reason",
               "the command failed after reporting contacted or progress: not run again nor "
               "returned; the assignment stays open with the department");
    seen_keep(ad->seen, j->id);
}

static void retry_later(adapter_t *ad, job_t *j, int64_t now)
{
    j->start_at = now + backoff_ms(j->runs);
    char in[24];
    snprintf(in, sizeof in, "%" PRId64 "ms", j->start_at - now);
    log_end_of(ad, j, LOG_INFO, "cmd.retry", "in", in);
}

/* Unacknowledged, the notice comes back from the broker and runs again. */
static void release(adapter_t *ad, job_t *j)
{
    bool released = delivery_release(ad, j->id);
    log_end_of(ad, j, LOG_ERR, "escalation.failed", "reason",
               released ? "not acknowledged: the broker resends the notice, and the "
                          "command runs again for it"
                        : mq_strerror());
}

/* Returned, the assignment reaches the manual dispatch centre, with why. */
static void give_back(adapter_t *ad, job_t *j, const char *why)
{
    char note[300];
    snprintf(note, sizeof note, "minqing-worker: the command failed %u time%s; last: %s",
             j->runs, j->runs > 1 ? "s" : "", why);
    bool sent = mq_worker_returned(ad->w, j->id, RETURN_OTHER, note) == 0;
    log_end_of(ad, j, LOG_ERR, sent ? "assignment.returned" : "assignment.stuck", "reason",
               sent ? note : mq_strerror());
    seen_add(ad->seen, j->id);
}

/* A failed run: true when the job runs again (after a backoff). Stopping,
 * an assignment is left with the broker rather than returned: the next
 * worker may well succeed. */
static bool failed(adapter_t *ad, job_t *j, const char *why, int64_t now)
{
    log_end_of(ad, j, LOG_WARNING, "cmd.failed", "reason", why);
    if (j->kind == JOB_ASSIGNMENT && j->reached) {
        keep_open(ad, j);
        return false;
    }
    bool retry = !ad->cfg->on_failure_return;
    if (retry && !ad->stopping && j->runs <= (unsigned)ad->cfg->retries) {
        retry_later(ad, j, now);
        return true;
    }
    if (j->kind == JOB_ESCALATION)
        release(ad, j);
    else if (retry && ad->stopping)
        log_end_of(ad, j, LOG_NOTICE, "assignment.left", "reason",
                   "stopping: the broker delivers it again to the next worker");
    else
        give_back(ad, j, why);
    return false;
}

void settle_runs(adapter_t *ad, int64_t now)
{
    for (job_t **link = &ad->jobs; *link;) {
        job_t *j = *link;
        char why[200];
        if (!run_over(j)) {
            link = &j->next;
            continue;
        }
        fd_close(&j->run.in_fd);
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
        job_destroy(&j);
    }
}

/* What is still running after the wait is killed, and left with the broker
 * (which delivers it again); what never started is too. */
void settle_abandon_all(adapter_t *ad)
{
    while (ad->jobs) {
        job_t *j = ad->jobs;
        ad->jobs = j->next;
        if (j->running)
            run_signal_group(j, SIGKILL);
        if (j->running && !j->run.exited) {
            kill(j->run.pid, SIGKILL);
            waitpid(j->run.pid, NULL, 0);
        }
        if (!j->done)
            log_end_of(ad, j, LOG_NOTICE, j->kind == JOB_ASSIGNMENT ? "assignment.left"
                                                                  : "escalation.left", "reason",
                       j->running ? "still running at shutdown: killed; the broker keeps it"
                                  : "not started at shutdown: the broker keeps it");
        job_destroy(&j);
    }
    ad->tail = &ad->jobs;
    ad->running = 0;
}
