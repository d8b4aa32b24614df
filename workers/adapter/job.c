/*
 * job.c - one assignment or escalation notice and its command's run (see
 * job.h). The job carries its stdin text and environment ready made, so
 * that a retry runs the command with exactly what the first run had.
 */
#include "job.h"
#include "fd.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void job_add_var(job_t *self, const char *name, const char *fmt, ...)
{
    va_list ap;
    if (self->nvars >= JOB_MAX_VARS)
        return;
    int n = snprintf(self->vars[self->nvars], sizeof self->vars[0], "%s=", name);
    va_start(ap, fmt);
    vsnprintf(self->vars[self->nvars] + n, sizeof self->vars[0] - (size_t)n, fmt, ap);
    va_end(ap);
    self->nvars++;
}

static char *dup_field(json_t *kase, const char *key)
{
    const char *v = json_string_value(json_object_get(kase, key));
    return v && *v ? strdup(v) : NULL;
}

/* The resident's values a command might print with its progress: masked
 * out of its stderr (output.c) even where they are not numbers, and however
 * the command escaped them (mask_known); the phone by its digits, whatever
 * separates them. A value that cannot be copied is not looked for; the line
 * still goes through mask_text. */
static void keep_known(job_t *j, json_t *input)
{
    json_t *kase = json_object_get(input, "case");
    j->known[JOB_FIRST] = dup_field(kase, "first_name");
    j->known[JOB_LAST] = dup_field(kase, "last_name");
    j->known[JOB_ADDRESS] = dup_field(kase, "address_string");
    j->known[JOB_EMAIL] = dup_field(kase, "email");
    j->known[JOB_PHONE] = dup_field(kase, "phone");
}

mask_person_t job_person(const job_t *self)
{
    return (mask_person_t){self->known[JOB_FIRST], self->known[JOB_LAST],
                           self->known[JOB_ADDRESS], self->known[JOB_EMAIL],
                           self->known[JOB_PHONE]};
}

job_t *job_new(job_kind_t kind, uint64_t id, uint64_t case_id, const char *department,
               json_t *input)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j) {
        json_decref(input);
        return NULL;
    }
    j->run = (job_run_t){.in_fd = -1, .out.fd = -1, .err.fd = -1};
    char *text = input ? json_dumps(input, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    if (input)
        keep_known(j, input);
    json_decref(input);
    if (!text) {
        job_destroy(&j);
        return NULL;
    }
    size_t len = strlen(text);
    text[len++] = '\n';             /* json_dumps' NUL becomes the newline */
    j->kind = kind, j->id = id, j->case_id = case_id, j->department = department;
    j->input = text, j->input_len = len;
    bool assignment = kind == JOB_ASSIGNMENT;
    job_add_var(j, "MINQING_TYPE", "%s", assignment ? "assignment" : "escalation");
    job_add_var(j, assignment ? "MINQING_ASSIGNMENT_ID" : "MINQING_ESCALATION_ID",
                "%" PRIu64, id);
    job_add_var(j, "MINQING_CASE_ID", "%" PRIu64, case_id);
    job_add_var(j, "MINQING_DEPARTMENT", "%s", department);
    return j;
}

void job_destroy(job_t **self)
{
    job_t *j = *self;
    if (!j)
        return;
    fd_close(&j->run.in_fd);
    reader_reset(&j->run.out);
    reader_reset(&j->run.err);
    free(j->input);
    for (int i = 0; i < JOB_KNOWN; i++)
        free(j->known[i]);
    free(j);
    *self = NULL;
}

void job_log_ids(wlog_rec_t *r, const job_t *self)
{
    wlog_fmt(r, self->kind == JOB_ASSIGNMENT ? "assignment_id" : "escalation_id", "%" PRIu64,
             self->id);
    wlog_fmt(r, "case_id", "%" PRIu64, self->case_id);
    wlog_str(r, "department", self->department);
}
