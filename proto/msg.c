/*
 * msg.c - names of commands, error codes and enums of protocol v1.
 *
 * Kept apart from the codec so that programs that only print or compare
 * messages (the CLI, logs) need not pull in msgpack.
 */
#include "msg.h"

#include <string.h>

static const char *const cmd_names[MSG_CMD_COUNT] = {
    [MSG_SUBMIT] = "SUBMIT",         [MSG_FEEDBACK] = "FEEDBACK",
    [MSG_CLOSE] = "CLOSE",           [MSG_REASSIGN] = "REASSIGN",
    [MSG_CANCEL] = "CANCEL",         [MSG_SUBMIT_OK] = "SUBMIT_OK",
    [MSG_REGISTER] = "REGISTER",     [MSG_HEARTBEAT] = "HEARTBEAT",
    [MSG_DISCONNECT] = "DISCONNECT", [MSG_DISPATCH] = "DISPATCH",
    [MSG_ACCEPT] = "ACCEPT",         [MSG_CONTACTED] = "CONTACTED",
    [MSG_PROGRESS] = "PROGRESS",     [MSG_RESOLVED] = "RESOLVED",
    [MSG_RETURNED] = "RETURNED",     [MSG_ESCALATE] = "ESCALATE",
    [MSG_ACK] = "ACK",               [MSG_ERROR] = "ERROR",
    [MSG_EVENT] = "EVENT",           [MSG_IMPORT] = "IMPORT",
};

const char *const msg_priority_names[PRIO_COUNT] = {"normal", "low", "high", "urgent"};
const char *const msg_rating_names[RATING_COUNT] = {NULL, "satisfied",
    "basically_satisfied", "unsatisfied"};
const char *const msg_return_names[RETURN_COUNT] = {NULL, "wrong_department",
    "wrong_locality", "duplicate", "insufficient_info", "other"};
const char *const msg_cancel_names[CANCEL_COUNT] = {NULL, "duplicate", "invalid", "other"};
const char *const msg_role_names[ROLE_COUNT] = {NULL, "lead", "co"};
const char *const msg_ladder_names[LADDER_COUNT] = {NULL, "contact", "resolve"};
const char *const msg_state_names[STATE_COUNT] = {NULL, "received", "dispatched",
    "accepted", "contacted", "resolved", "closed", "returned", "cancelled"};

static const struct { msg_err_t code; const char *name; } err_names[] = {
    {MSG_OK, "OK"},
    {ERR_MALFORMED, "MALFORMED"}, {ERR_BAD_VERSION, "BAD_VERSION"},
    {ERR_UNKNOWN_COMMAND, "UNKNOWN_COMMAND"}, {ERR_MISSING_FIELD, "MISSING_FIELD"},
    {ERR_WRONG_TYPE, "WRONG_TYPE"}, {ERR_TOO_LONG, "TOO_LONG"},
    {ERR_INVALID_UTF8, "INVALID_UTF8"}, {ERR_INVALID_VALUE, "INVALID_VALUE"},
    {ERR_TOO_LARGE, "TOO_LARGE"}, {ERR_DUPLICATE_KEY, "DUPLICATE_KEY"},
    {ERR_TRAILING_BYTES, "TRAILING_BYTES"}, {ERR_TOO_DEEP, "TOO_DEEP"},
    {ERR_NOT_REGISTERED, "NOT_REGISTERED"}, {ERR_UNKNOWN_CASE, "UNKNOWN_CASE"},
    {ERR_UNKNOWN_ASSIGNMENT, "UNKNOWN_ASSIGNMENT"},
    {ERR_ILLEGAL_TRANSITION, "ILLEGAL_TRANSITION"},
    {ERR_UNKNOWN_DEPARTMENT, "UNKNOWN_DEPARTMENT"},
    {ERR_NOT_YOUR_ASSIGNMENT, "NOT_YOUR_ASSIGNMENT"},
    {ERR_FORBIDDEN, "FORBIDDEN"}, {ERR_RATE_LIMITED, "RATE_LIMITED"},
    {ERR_TOO_MANY_IN_FLIGHT, "TOO_MANY_IN_FLIGHT"},
    {ERR_STORE_FAILED, "STORE_FAILED"}, {ERR_STORE_FULL, "STORE_FULL"},
    {ERR_SHUTTING_DOWN, "SHUTTING_DOWN"},
};

const char *msg_cmd_name(msg_cmd_t cmd)
{
    return (cmd > MSG_NONE && cmd < MSG_CMD_COUNT) ? cmd_names[cmd] : NULL;
}

msg_cmd_t msg_cmd_from_name(const char *name, size_t len)
{
    for (int c = MSG_NONE + 1; c < MSG_CMD_COUNT; c++)
        if (strlen(cmd_names[c]) == len && memcmp(cmd_names[c], name, len) == 0)
            return (msg_cmd_t)c;
    return MSG_NONE;
}

const char *msg_err_name(msg_err_t code)
{
    for (size_t i = 0; i < sizeof err_names / sizeof err_names[0]; i++)
        if (err_names[i].code == code)
            return err_names[i].name;
    return "UNKNOWN";
}

int msg_enum_from_name(const char *const *names, int count, const char *name)
{
    for (int i = 0; i < count; i++)
        if (names[i] && strcmp(names[i], name) == 0)
            return i;
    return -1;
}

const char *msg_state_name(msg_state_t s)
{
    return (s > STATE_NONE && s < STATE_COUNT) ? msg_state_names[s] : "?";
}

void msg_reset(msg_t *msg, msg_cmd_t cmd)
{
    memset(msg, 0, sizeof *msg);
    msg->cmd = cmd;
}
