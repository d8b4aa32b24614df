/*
 * run.c - starting, timing out and reaping the jobs' commands (see run.h).
 * A command runs in a process group of its own, and a timeout signals the
 * whole group: a script's children must not outlive it and hold its pipes.
 */
#include "run.h"
#include "output.h"
#include "spawn.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define KILL_GRACE_MS    5000       /* timeout: SIGTERM, then SIGKILL after this */
#define REAP_GRACE_MS    1000       /* after SIGKILL: look for the shell's exit again */
#define DRAIN_GRACE_MS   1000       /* the shell exited: its pipes' last lines */
#define GROUP_POLL_MS     100       /* then: how often to look whether its group is gone */

/* pid > 1 only: kill(-0) or kill(-1) would hit our own group, or everyone. */
void run_signal_group(const job_t *j, int sig)
{
    if (j->run.pid > 1)
        kill(-j->run.pid, sig);
}

static void log_started(const adapter_t *ad, const job_t *j, int rc)
{
    wlog_rec_t r;
    wlog_begin(&r, rc ? LOG_WARNING : LOG_INFO, "cmd.started");
    job_log_ids(&r, j);
    wlog_fmt(&r, "run", "%u/%ld", j->runs, ad->cfg->retries + 1);
    if (rc)
        wlog_fmt(&r, "error", "cannot start /bin/sh: %s", strerror(rc));
    else
        wlog_fmt(&r, "pid", "%d", (int)j->run.pid);
    wlog_end(&r);
}

/* Start one run of a job. A spawn failure completes the run at once, as a
 * failure, so that it is retried or returned like any other. */
static void run_job(adapter_t *ad, job_t *j, int64_t now)
{
    j->runs++;
    j->running = true;
    ad->running++;
    j->run = (job_run_t){.in_fd = -1, .deadline = now + ad->cfg->timeout_ms};
    bool nomem = (reader_init(&j->run.out) | reader_init(&j->run.err)) != 0;
    int rc = nomem ? ENOMEM : spawn_command(ad->cfg->exec, j);
    log_started(ad, j, rc);
    if (rc) {
        snprintf(j->run.spawn_error, sizeof j->run.spawn_error, "cannot be started: %s",
                 strerror(rc));
        j->run.exited = true;
    }
}

void run_start_due(adapter_t *ad, int64_t now)
{
    for (job_t *j = ad->jobs; j && !ad->stopping && ad->running < ad->cfg->concurrency;
         j = j->next)
        if (!j->running && j->start_at <= now)
            run_job(ad, j, now);
}

/* A timer that fired: cmd.timeout, cmd.kill or cmd.lingering, with what it
 * does about it. */
static void log_stage(const job_t *j, const char *event, const char *ms_key, int64_t ms,
                      const char *action)
{
    wlog_rec_t r;
    wlog_begin(&r, LOG_WARNING, event);
    job_log_ids(&r, j);
    wlog_fmt(&r, "pid", "%d", (int)j->run.pid);
    if (ms_key)
        wlog_fmt(&r, ms_key, "%" PRId64, ms);
    wlog_str(&r, "action", action);
    wlog_end(&r);
}

/* The shell's exit, if it came and was not reaped yet: the loop reaps after
 * it enforces timeouts, and a shell that exited just before its deadline
 * did not time out. */
static void reap_job(job_t *j)
{
    int status;
    if (!j->run.exited && waitpid(j->run.pid, &status, WNOHANG) == j->run.pid) {
        j->run.exited = true;
        j->run.status = status;
    }
}

/* Past the deadline, the shell still running: SIGTERM to the group, SIGKILL
 * KILL_GRACE_MS later (to what ignored it, even if the shell died), then
 * the pipes that a process outside the group may hold are closed. */
static void stop_group(const adapter_t *ad, job_t *j, int64_t now)
{
    if (j->run.stage == 0) {
        log_stage(j, "cmd.timeout", "timeout_ms", ad->cfg->timeout_ms,
                  "SIGTERM to the process group");
        run_signal_group(j, SIGTERM);
        j->run.deadline = now + KILL_GRACE_MS;
    } else if (j->run.stage == 1) {
        log_stage(j, "cmd.kill", NULL, 0, "SIGKILL to the process group");
        run_signal_group(j, SIGKILL);
        if (!j->run.exited)
            kill(j->run.pid, SIGKILL);
        j->run.deadline = now + REAP_GRACE_MS;
    } else {
        if (j->run.exited)
            output_finish(ad->w, j);
        j->run.deadline = now + REAP_GRACE_MS;
        return;
    }
    j->run.stage++;
}

/* After the drain's SIGTERM: the run ends once its group is gone, or, for
 * what ignored the SIGTERM, with SIGKILL KILL_GRACE_MS later, as after a
 * timeout (a script's children must not outlive it, one run after another). */
static void end_group(job_t *j, int64_t now)
{
    if (kill(-j->run.pid, 0) != 0) {
        j->run.kill_at = 0;                 /* every process of it is gone */
    } else if (now >= j->run.kill_at) {
        log_stage(j, "cmd.kill", NULL, 0, "SIGKILL to the process group");
        run_signal_group(j, SIGKILL);
        j->run.kill_at = 0;
    } else {
        j->run.deadline = now + GROUP_POLL_MS;
    }
}

/* The shell exited before its deadline: its status is the run's verdict.
 * What it left running (`notify &`, an ssh master) may hold its pipes open;
 * they get DRAIN_GRACE_MS for their last lines, then the group gets SIGTERM
 * and the pipes are read to the end and closed, so that a stray process
 * cannot turn a run that succeeded into a timeout. */
static void drain_after_exit(const adapter_t *ad, job_t *j, int64_t now)
{
    if (j->run.kill_at) {
        end_group(j, now);
        return;
    }
    if (j->run.out.fd < 0 && j->run.err.fd < 0)
        return;
    if (!j->run.draining) {
        j->run.draining = true;
        j->run.deadline = now + DRAIN_GRACE_MS;
        return;
    }
    if (now < j->run.deadline)
        return;
    log_stage(j, "cmd.lingering", "grace_ms", DRAIN_GRACE_MS,
              "the shell exited, its processes hold its output: SIGTERM to the process "
              "group, pipes closed");
    run_signal_group(j, SIGTERM);
    output_finish(ad->w, j);
    j->run.kill_at = now + KILL_GRACE_MS;
    j->run.deadline = now + GROUP_POLL_MS;
}

void run_enforce_timeout(const adapter_t *ad, job_t *j, int64_t now)
{
    if (!j->running || j->run.spawn_error[0])
        return;
    reap_job(j);
    if (j->run.exited && j->run.stage == 0)
        drain_after_exit(ad, j, now);
    else if (now >= j->run.deadline)
        stop_group(ad, j, now);
}

void run_reap(adapter_t *ad)
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

bool run_over(const job_t *j)
{
    return j->running && j->run.exited && j->run.out.fd < 0 && j->run.err.fd < 0 &&
           !j->run.kill_at;
}
