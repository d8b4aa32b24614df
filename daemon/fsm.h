/*
 * fsm.h - the case state machine, as pure functions: fed states and a
 * command, it answers the next state or ERR_ILLEGAL_TRANSITION. No I/O, so
 * every rule is unit-tested directly and the broker only applies answers.
 *
 * An assignment is one department's share of a case. Its states reuse
 * msg_state_t: received (waiting for a worker), dispatched, accepted,
 * contacted, resolved, returned, cancelled (superseded). The case state is
 * derived from its assignments, except the terminal states an admin or a
 * reviewer sets (closed, cancelled) and `returned`, which holds until the
 * re-routed work is taken up.
 */
#ifndef MQ_FSM_H
#define MQ_FSM_H

#include "msg.h"

#include <stdbool.h>
#include <stddef.h>

/* Next assignment state for a worker outcome (ACCEPT, CONTACTED, PROGRESS,
 * RESOLVED, RETURNED) from `cur`: MSG_OK and *next, or ERR_ILLEGAL_TRANSITION. */
msg_err_t fsm_outcome(msg_cmd_t cmd, msg_state_t cur, msg_state_t *next);
/* Case state given its current state and all its assignments' states. */
msg_state_t fsm_case_derive(msg_state_t cur, const msg_state_t *asg, size_t n);
/* Whether a case command (FEEDBACK, CLOSE, REASSIGN, CANCEL) is legal in `cur`. */
msg_err_t fsm_case_command(msg_cmd_t cmd, msg_state_t cur);
/* True for an assignment still to be worked (not resolved, returned, cancelled). */
bool fsm_assignment_open(msg_state_t s);
/* True for an assignment a worker has taken up (accepted or contacted): it
 * goes back only to that worker's successor, never to a colleague. */
bool fsm_assignment_taken_up(msg_state_t s);

#endif
