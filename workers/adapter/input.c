/*
 * input.c - what a command reads on stdin (see input.h). Every field the
 * broker sent is passed on, so that a department's script needs no second
 * source for the case; the resident's data in it goes to the command only,
 * never to the log.
 */
#include "input.h"
#include "fd.h"

#include <errno.h>
#include <stddef.h>
#include <unistd.h>

/* The case record as JSON: every field present, lat/long as numbers. */
static json_t *case_json(const msg_case_t *c)
{
    static const struct { msg_case_field_t bit; const char *key; size_t off; } texts[] = {
        {CF_SERVICE_CODE, "service_code", offsetof(msg_case_t, service_code)},
        {CF_DESCRIPTION, "description", offsetof(msg_case_t, description)},
        {CF_ADDRESS_STRING, "address_string", offsetof(msg_case_t, address_string)},
        {CF_FIRST_NAME, "first_name", offsetof(msg_case_t, first_name)},
        {CF_LAST_NAME, "last_name", offsetof(msg_case_t, last_name)},
        {CF_PHONE, "phone", offsetof(msg_case_t, phone)},
        {CF_EMAIL, "email", offsetof(msg_case_t, email)},
        {CF_MEDIA_URL, "media_url", offsetof(msg_case_t, media_url)},
        {CF_REQUESTED_DATETIME, "requested_datetime", offsetof(msg_case_t, requested_datetime)},
        {CF_EXTERNAL_ID, "external_id", offsetof(msg_case_t, external_id)},
        {CF_CHANNEL, "channel", offsetof(msg_case_t, channel)},
        {CF_GRID_CODE, "grid_code", offsetof(msg_case_t, grid_code)},
    };
    json_t *o = json_object();
    for (size_t i = 0; o && i < sizeof texts / sizeof texts[0]; i++) {
        const char *v = *(const char *const *)((const char *)c + texts[i].off);
        if (MSG_HAS(c, texts[i].bit) && v)
            json_object_set_new(o, texts[i].key, json_string(v));
    }
    if (o && MSG_HAS(c, CF_LAT))
        json_object_set_new(o, "lat", json_real(c->lat));
    if (o && MSG_HAS(c, CF_LONG))
        json_object_set_new(o, "long", json_real(c->lon));
    if (o && MSG_HAS(c, CF_PRIORITY) && c->priority < PRIO_COUNT)
        json_object_set_new(o, "priority", json_string(msg_priority_names[c->priority]));
    return o;
}

json_t *input_assignment(const mq_assignment_t *a)
{
    return json_pack("{s:s, s:I, s:I, s:s, s:s, s:I, s:I, s:I, s:o, s:o}",
                     "type", "assignment", "assignment_id", (json_int_t)a->assignment_id,
                     "case_id", (json_int_t)a->case_id, "department", a->department,
                     "role", a->role < ROLE_COUNT && a->role ? msg_role_names[a->role] : "lead",
                     "attempt", (json_int_t)a->attempt, "received_at", (json_int_t)a->received_at,
                     "contact_due", (json_int_t)a->contact_due,
                     "resolve_due", a->resolve_due ? json_integer(a->resolve_due) : json_null(),
                     "case", case_json(&a->kase));
}

json_t *input_escalation(const mq_escalation_t *e)
{
    return json_pack("{s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}",
                     "type", "escalation", "escalation_id", (json_int_t)e->escalation_id,
                     "case_id", (json_int_t)e->case_id, "level", (json_int_t)e->level,
                     "ladder", e->ladder < LADDER_COUNT && e->ladder ? msg_ladder_names[e->ladder] : "",
                     "target", e->target, "department", e->department, "grid_code", e->grid_code,
                     "community", e->community, "street", e->street,
                     "due_at", (json_int_t)e->due_at, "overdue_s", (json_int_t)e->overdue_s);
}

/* Feed the case to the command's stdin; a command that does not read it all
 * (EPIPE) is its own business. */
void input_feed(job_t *j)
{
    while (j->run.in_fd >= 0 && j->run.input_off < j->input_len) {
        ssize_t n = write(j->run.in_fd, j->input + j->run.input_off, j->input_len - j->run.input_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0)
            break;
        j->run.input_off += (size_t)n;
    }
    fd_close(&j->run.in_fd);
}
