/*
 * run.h - running the jobs' commands: start them in arrival order, at most
 * --concurrency at once; stop one that runs past --timeout; collect the ones
 * that ended. What a run's end means for its job is settle.h's business.
 */
#ifndef ADAPTER_RUN_H
#define ADAPTER_RUN_H

#include "adapter.h"

#include <stdbool.h>
#include <stdint.h>

/* Start the waiting jobs whose time has come, while there is room and the
 * adapter is not stopping. A command that cannot start ends its run at once. */
void run_start_due(adapter_t *ad, int64_t now);
/* The run's timers. The shell running past its deadline: SIGTERM to the
 * group, 5 s later SIGKILL, 1 s later stop waiting for pipes that a stray
 * process may still hold. The shell exited before (its status is the run's,
 * not a timeout) with its pipes held by a process it left running: 1 s
 * later SIGTERM to the group, and the pipes read to the end and closed. */
void run_enforce_timeout(const adapter_t *ad, job_t *j, int64_t now);
/* Collect every child that ended. */
void run_reap(adapter_t *ad);
/* Signal the command's whole process group (never our own). */
void run_signal_group(const job_t *j, int sig);
/* True when the run is over: the shell reaped and its output read to the end. */
bool run_over(const job_t *j);

#endif
