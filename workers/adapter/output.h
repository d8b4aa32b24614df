/*
 * output.h - what a command prints. Each stdout line of an assignment's
 * command is one outcome ({"event":"accepted"} ...) reported to the broker,
 * or garbage, logged by its number and never by its text; each stderr line
 * is passed on to the log with its numbers masked. A run sends at most 100
 * accepted, contacted and progress outcomes, and logs at most 20 stderr and
 * 20 garbage lines per 10 s, each excess counted (suppressed=, dropped=).
 */
#ifndef ADAPTER_OUTPUT_H
#define ADAPTER_OUTPUT_H

#include "job.h"
#include "minqing.h"

/* Read the command's stdout now: each line reported through w, or counted as
 * garbage. An escalation's stdout is read and ignored. */
void output_drain_stdout(mq_worker_t *w, job_t *j);
/* Read the command's stderr now: each line one record (event=cmd.stderr),
 * within the run's budget. */
void output_drain_stderr(job_t *j);

/* The command exited, and what it left running holds its pipes past the
 * grace: read what they hold now, as above, and close them. */
void output_finish(mq_worker_t *w, job_t *j);

#endif
