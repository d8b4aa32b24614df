/*
 * fsm.c - transition rules of cases and assignments (see fsm.h).
 *
 * The rules are tables rather than nested ifs so that PROTOCOL.md's
 * transition table and this file can be compared line by line.
 */
#include "fsm.h"

#define S(x) (1u << (x))

/* For each outcome: the states it may come from, and where it leads
 * (STATE_NONE: the state does not change, the event is only recorded). */
static const struct {
    msg_cmd_t cmd;
    unsigned from;
    unsigned keep;          /* states in which it is legal but changes nothing */
    msg_state_t to;
} outcome_rules[] = {
    {MSG_ACCEPT, S(STATE_RECEIVED) | S(STATE_DISPATCHED),
     S(STATE_ACCEPTED) | S(STATE_CONTACTED), STATE_ACCEPTED},
    {MSG_CONTACTED, S(STATE_RECEIVED) | S(STATE_DISPATCHED) | S(STATE_ACCEPTED), 0,
     STATE_CONTACTED},
    {MSG_PROGRESS, 0, S(STATE_ACCEPTED) | S(STATE_CONTACTED), STATE_NONE},
    {MSG_RESOLVED, S(STATE_ACCEPTED) | S(STATE_CONTACTED), 0, STATE_RESOLVED},
    {MSG_RETURNED, S(STATE_RECEIVED) | S(STATE_DISPATCHED) | S(STATE_ACCEPTED) |
     S(STATE_CONTACTED), 0, STATE_RETURNED},
};

msg_err_t fsm_outcome(msg_cmd_t cmd, msg_state_t cur, msg_state_t *next)
{
    for (size_t i = 0; i < sizeof outcome_rules / sizeof outcome_rules[0]; i++) {
        if (outcome_rules[i].cmd != cmd)
            continue;
        if (outcome_rules[i].from & S(cur)) {
            *next = outcome_rules[i].to;
            return MSG_OK;
        }
        if (outcome_rules[i].keep & S(cur)) {
            *next = cur;
            return MSG_OK;
        }
        return ERR_ILLEGAL_TRANSITION;
    }
    return ERR_ILLEGAL_TRANSITION;
}

bool fsm_assignment_open(msg_state_t s)
{
    return s != STATE_RESOLVED && s != STATE_RETURNED && s != STATE_CANCELLED;
}

bool fsm_assignment_taken_up(msg_state_t s)
{
    return s == STATE_ACCEPTED || s == STATE_CONTACTED;
}

msg_state_t fsm_case_derive(msg_state_t cur, const msg_state_t *asg, size_t n)
{
    if (cur == STATE_CLOSED || cur == STATE_CANCELLED)
        return cur;
    unsigned seen = 0;
    size_t active = 0, resolved = 0;
    for (size_t i = 0; i < n; i++) {
        if (asg[i] == STATE_RETURNED || asg[i] == STATE_CANCELLED)
            continue;
        active++;
        resolved += asg[i] == STATE_RESOLVED;
        seen |= S(asg[i]);
    }
    msg_state_t next;
    if (active == 0)
        return cur;
    if (resolved == active)
        next = STATE_RESOLVED;
    else if (seen & (S(STATE_CONTACTED) | S(STATE_RESOLVED)))
        next = STATE_CONTACTED;
    else if (seen & S(STATE_ACCEPTED))
        next = STATE_ACCEPTED;
    else if (seen & S(STATE_DISPATCHED))
        next = STATE_DISPATCHED;
    else
        next = STATE_RECEIVED;
    /* a returned case stays `returned` until someone takes the re-routed work */
    if (cur == STATE_RETURNED && (next == STATE_RECEIVED || next == STATE_DISPATCHED))
        return STATE_RETURNED;
    return next;
}

msg_err_t fsm_case_command(msg_cmd_t cmd, msg_state_t cur)
{
    unsigned ok;
    switch (cmd) {
    case MSG_FEEDBACK: ok = S(STATE_RESOLVED) | S(STATE_CLOSED); break;
    case MSG_CLOSE:    ok = S(STATE_RESOLVED); break;
    case MSG_REASSIGN: ok = S(STATE_RECEIVED) | S(STATE_DISPATCHED) | S(STATE_ACCEPTED) |
                            S(STATE_CONTACTED) | S(STATE_RETURNED); break;
    case MSG_CANCEL:   ok = S(STATE_RECEIVED) | S(STATE_DISPATCHED) | S(STATE_ACCEPTED) |
                            S(STATE_CONTACTED) | S(STATE_RETURNED); break;
    default:           ok = 0; break;
    }
    return (ok & S(cur)) ? MSG_OK : ERR_ILLEGAL_TRANSITION;
}
