/*
 * input.h - what a command reads on stdin: the assignment or the escalation
 * notice as one JSON object on one line, written as the pipe takes it, so a
 * command that reads slowly never blocks the adapter.
 */
#ifndef ADAPTER_INPUT_H
#define ADAPTER_INPUT_H

#include "job.h"
#include "minqing.h"

#include <jansson.h>

/* An assignment and its case (every field present, lat/long as numbers);
 * NULL when out of memory. */
json_t *input_assignment(const mq_assignment_t *a);
/* An escalation notice; NULL when out of memory. */
json_t *input_escalation(const mq_escalation_t *e);
/* Write to the command's stdin what the pipe takes now; close the pipe once
 * all is written, or the command has closed its end. */
void input_feed(job_t *j);

#endif
