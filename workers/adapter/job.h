/*
 * job.h - one piece of work the broker handed this adapter: an assignment or
 * an escalation notice, with what its command gets (the JSON for its stdin,
 * the MINQING_* variables) and the state of its current run. A job lives
 * from its delivery until its run succeeds, or fails for the last time.
 */
#ifndef ADAPTER_JOB_H
#define ADAPTER_JOB_H

#include "mask.h"
#include "reader.h"
#include "wlog.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define JOB_MAX_VARS 8              /* MINQING_* variables of one job */
/* The resident's values a stderr line is masked of (job_person) */
enum { JOB_FIRST, JOB_LAST, JOB_ADDRESS, JOB_EMAIL, JOB_PHONE, JOB_KNOWN };

typedef enum { JOB_ASSIGNMENT, JOB_ESCALATION } job_kind_t;

/* One run of a job's command. */
typedef struct {
    pid_t pid;                      /* also its process group */
    bool exited;                    /* the shell was reaped: status is its exit status */
    bool draining;                  /* exited, its pipes still open: deadline ends the wait */
    int status, stage;              /* stage: 0 running, 1 SIGTERM sent, 2 SIGKILL sent */
    int64_t deadline;               /* of the current stage, or of the drain */
    int64_t kill_at;                /* after the drain's SIGTERM: SIGKILL to what is left then */
    int in_fd;
    size_t input_off;
    reader_t out, err;
    unsigned events, garbage;
    unsigned dropped;               /* outcomes past the run's limit, not sent */
    wlog_quota_t err_quota, garbage_quota;  /* cmd.stderr, cmd.garbage records */
    char spawn_error[128];
    char refused[200];              /* why its resolved or returned line was refused */
} job_run_t;

typedef struct job_s {
    struct job_s *next;
    job_kind_t kind;
    uint64_t id, case_id;           /* id: assignment_id or escalation_id */
    const char *department;         /* the adapter's, which outlives its jobs */
    char *input;                    /* the JSON for stdin, newline-terminated */
    size_t input_len;
    char vars[JOB_MAX_VARS][80];    /* NAME=value for the child's environment */
    char *known[JOB_KNOWN];         /* the case's names, address, e-mail, phone; NULL if none */
    int nvars;
    unsigned runs;                  /* commands started so far */
    int64_t start_at;               /* waiting: not before this (backoff) */
    bool running;                   /* `run` is the current run */
    bool done;                      /* resolved or returned was reported */
    bool accepted;                  /* accepted was reported (RESOLVED needs it first) */
    bool reached;                   /* contacted or progress was reported: the resident
                                       heard from the department */
    job_run_t run;
} job_t;

/* A job whose command reads input (taken over, as JSON) and gets the
 * variables every job has; NULL when out of memory. */
job_t *job_new(job_kind_t kind, uint64_t id, uint64_t case_id, const char *department,
               json_t *input);
/* Close its pipes and free it; *self becomes NULL. */
void job_destroy(job_t **self);
/* Add NAME=value (formatted as by printf) to the command's environment. */
__attribute__((format(printf, 3, 4)))
void job_add_var(job_t *self, const char *name, const char *fmt, ...);
/* The resident's own values, for mask_known (pointers into self). */
mask_person_t job_person(const job_t *self);
/* Add the ids that name the job in the log: never anything personal. */
void job_log_ids(wlog_rec_t *r, const job_t *self);

#endif
