/*
 * spawn.h - starting a job's command: /bin/sh -c CMD in a process group of
 * its own (so a timeout can stop all it started), with stdin, stdout and
 * stderr on pipes and the job's MINQING_* variables in its environment.
 */
#ifndef ADAPTER_SPAWN_H
#define ADAPTER_SPAWN_H

#include "job.h"

/* Start cmd for j's current run: j->run.pid and its pipes (non-blocking,
 * close-on-exec) are set. 0, or an errno with no pipe left open. */
int spawn_command(const char *cmd, job_t *j);

#endif
