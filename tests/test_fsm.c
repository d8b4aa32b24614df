/*
 * test_fsm.c - unit tests for the case state machine (daemon/fsm.c).
 *
 * The state machine decides every transition the broker makes, and it is
 * pure, so each rule is checked here cell by cell against tables written
 * from proto/PROTOCOL.md section 7 (not from fsm.c): the worker outcomes on
 * an assignment (7.2), the derivation of a case's state from its
 * assignments, and the admin and intake commands on a case (7.3).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "fsm.h"

#define ILL STATE_COUNT             /* expected: ERR_ILLEGAL_TRANSITION */
#define NSTATES ((int)STATE_COUNT)

/* Short names for the table columns, in msg_state_t order. */
#define none STATE_NONE
#define rcvd STATE_RECEIVED
#define disp STATE_DISPATCHED
#define acpt STATE_ACCEPTED
#define cont STATE_CONTACTED
#define resv STATE_RESOLVED
#define clsd STATE_CLOSED
#define retd STATE_RETURNED
#define cncl STATE_CANCELLED

/* Mismatches found by the current test, as one line for the failure message. */
static char g_wrong[2048];
static int g_nwrong;

static void wrong(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void wrong(const char *fmt, ...)
{
    size_t len = strlen(g_wrong);
    va_list ap;
    va_start(ap, fmt);
    if (len + 3 < sizeof g_wrong) {
        if (len)
            len += (size_t)snprintf(g_wrong + len, sizeof g_wrong - len, "; ");
        vsnprintf(g_wrong + len, sizeof g_wrong - len, fmt, ap);
    }
    va_end(ap);
    g_nwrong++;
}

/* Fail with every mismatch noted since the test began. */
static void no_mismatches(void)
{
    if (g_nwrong)
        fail_msg("%d mismatch(es): %s", g_nwrong, g_wrong);
}

static int reset_mismatches(void **state)
{
    (void)state;
    g_wrong[0] = '\0';
    g_nwrong = 0;
    return 0;
}

static const char *state_label(int s)
{
    return s == STATE_NONE ? "none" : s == (int)ILL ? "ILLEGAL" : msg_state_name((msg_state_t)s);
}

/* ---- worker outcomes on an assignment (PROTOCOL.md 7.2) ----------------- */

/* Columns: none received dispatched accepted contacted resolved closed
 * returned cancelled. `received` (not yet offered) and `closed` (never an
 * assignment state) are not in the protocol's table; they follow fsm.h. */
static const struct {
    msg_cmd_t cmd;
    msg_state_t next[STATE_COUNT];
} outcome_table[] = {
    {MSG_ACCEPT,    {ILL, acpt, acpt, acpt, cont, ILL, ILL, ILL, ILL}},
    {MSG_CONTACTED, {ILL, cont, cont, cont, ILL,  ILL, ILL, ILL, ILL}},
    {MSG_PROGRESS,  {ILL, ILL,  ILL,  acpt, cont, ILL, ILL, ILL, ILL}},
    {MSG_RESOLVED,  {ILL, ILL,  ILL,  resv, resv, ILL, ILL, ILL, ILL}},
    {MSG_RETURNED,  {ILL, retd, retd, retd, retd, ILL, ILL, ILL, ILL}},
};
#define NOUTCOMES (sizeof outcome_table / sizeof outcome_table[0])

/* A phone call may come before ACCEPT (CONTACTED then stands for both), and a
 * problem fixed on the spot is RESOLVED without a separate CONTACTED. */

/* Check one cell, noting a mismatch. */
static void outcome_cell(msg_cmd_t cmd, int from, msg_state_t want)
{
    msg_state_t next = STATE_COUNT;
    msg_err_t rc = fsm_outcome(cmd, (msg_state_t)from, &next);
    if (rc != MSG_OK && rc != ERR_ILLEGAL_TRANSITION)
        wrong("%s from %s: error %d", msg_cmd_name(cmd), state_label(from), rc);
    else if ((rc == ERR_ILLEGAL_TRANSITION ? ILL : next) != want)
        wrong("%s from %s: got %s, want %s", msg_cmd_name(cmd), state_label(from),
              state_label(rc == ERR_ILLEGAL_TRANSITION ? ILL : next), state_label(want));
}

static void outcome_table_rows(void **state)
{
    (void)state;
    for (size_t r = 0; r < NOUTCOMES; r++)
        for (int s = 0; s < NSTATES; s++)
            outcome_cell(outcome_table[r].cmd, s, outcome_table[r].next[s]);
    no_mismatches();
}

/* Commands that are not worker outcomes are refused in every state. */
static void outcome_other_commands(void **state)
{
    (void)state;
    for (int c = MSG_NONE; c < MSG_CMD_COUNT; c++) {
        bool outcome = false;
        for (size_t r = 0; r < NOUTCOMES; r++)
            outcome |= outcome_table[r].cmd == (msg_cmd_t)c;
        for (int s = 0; !outcome && s < NSTATES; s++)
            outcome_cell((msg_cmd_t)c, s, ILL);
    }
    no_mismatches();
}

static void assignment_open(void **state)
{
    (void)state;
    static const struct { msg_state_t s; bool open; } rows[] = {
        {rcvd, true}, {disp, true}, {acpt, true}, {cont, true},
        {resv, false}, {retd, false}, {cncl, false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (fsm_assignment_open(rows[i].s) != rows[i].open)
            fail_msg("fsm_assignment_open(%s) != %d", state_label(rows[i].s), rows[i].open);
    }
}

/* ---- a case's state from its assignments ------------------------------- */

#define MAXASG 4

static const struct {
    const char *what;
    msg_state_t cur;
    size_t n;
    msg_state_t asg[MAXASG];
    msg_state_t want;
} derive_table[] = {
    {"one received", rcvd, 1, {rcvd}, rcvd},
    {"one dispatched", rcvd, 1, {disp}, disp},
    {"dispatched beats received", rcvd, 2, {rcvd, disp}, disp},
    {"accepted beats dispatched", disp, 3, {disp, acpt, rcvd}, acpt},
    {"one contacted", disp, 3, {disp, cont, acpt}, cont},
    {"resolved lead, open co: contacted", cont, 2, {resv, disp}, cont},
    {"resolved and contacted: contacted", cont, 2, {resv, cont}, cont},
    {"all resolved", cont, 3, {resv, resv, resv}, resv},
    {"resolved from received in one step", rcvd, 1, {resv}, resv},
    {"returned ignored: rest resolved", cont, 2, {retd, resv}, resv},
    {"cancelled ignored: rest resolved", cont, 3, {resv, cncl, resv}, resv},
    {"returned and cancelled ignored", disp, 3, {retd, acpt, cncl}, acpt},
    {"cancelled ignored: received", acpt, 2, {cncl, rcvd}, rcvd},
    {"returned held: replacement received", retd, 2, {retd, rcvd}, retd},
    {"returned held: replacement dispatched", retd, 2, {retd, disp}, retd},
    {"returned left: replacement accepted", retd, 2, {retd, acpt}, acpt},
    {"returned left: replacement contacted", retd, 2, {retd, cont}, cont},
    {"returned left: all resolved", retd, 2, {retd, resv}, resv},
    {"returned, nothing active: held", retd, 2, {retd, retd}, retd},
    {"closed is terminal", clsd, 2, {rcvd, acpt}, clsd},
    {"closed is terminal, all resolved", clsd, 1, {resv}, clsd},
    {"cancelled is terminal", cncl, 2, {cont, disp}, cncl},
    {"cancelled is terminal, none", cncl, 0, {none}, cncl},
    {"no assignments keeps received", rcvd, 0, {none}, rcvd},
    {"no assignments keeps dispatched", disp, 0, {none}, disp},
    {"only returned keeps contacted", cont, 1, {retd}, cont},
    {"only cancelled keeps resolved", resv, 2, {cncl, cncl}, resv},
};

static void case_derive(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof derive_table / sizeof derive_table[0]; i++) {
        msg_state_t got = fsm_case_derive(derive_table[i].cur, derive_table[i].asg,
                                          derive_table[i].n);
        if (got != derive_table[i].want)
            wrong("%s: got %s, want %s", derive_table[i].what, state_label(got),
                  state_label(derive_table[i].want));
    }
    no_mismatches();
}

/* The order of the assignments does not matter. */
static void case_derive_order(void **state)
{
    (void)state;
    msg_state_t a[] = {resv, cncl, acpt, retd}, b[] = {retd, acpt, cncl, resv};
    assert_int_equal(fsm_case_derive(disp, a, 4), cont);
    assert_int_equal(fsm_case_derive(disp, b, 4), cont);
}

/* ---- commands on a case (PROTOCOL.md 7.3) ------------------------------ */

#define OK MSG_OK
#define NO ERR_ILLEGAL_TRANSITION

static const struct {
    msg_cmd_t cmd;
    msg_err_t rc[STATE_COUNT];
} command_table[] = {
    /*               none received disp acpt cont resv clsd retd cncl */
    {MSG_FEEDBACK, {NO, NO, NO, NO, NO, OK, OK, NO, NO}},
    {MSG_CLOSE,    {NO, NO, NO, NO, NO, OK, NO, NO, NO}},
    {MSG_REASSIGN, {NO, OK, OK, OK, OK, NO, NO, OK, NO}},
    {MSG_CANCEL,   {NO, OK, OK, OK, OK, NO, NO, OK, NO}},
};
#define NCOMMANDS (sizeof command_table / sizeof command_table[0])

static void command_cell(msg_cmd_t cmd, int s, msg_err_t want)
{
    msg_err_t got = fsm_case_command(cmd, (msg_state_t)s);
    if (got != want)
        wrong("%s on a %s case: got %d, want %d", msg_cmd_name(cmd), state_label(s), got, want);
}

static void command_table_rows(void **state)
{
    (void)state;
    for (size_t r = 0; r < NCOMMANDS; r++)
        for (int s = 0; s < NSTATES; s++)
            command_cell(command_table[r].cmd, s, command_table[r].rc[s]);
    no_mismatches();
}

/* Commands that are not case commands are refused in every state. */
static void command_other_commands(void **state)
{
    (void)state;
    for (int c = MSG_NONE; c < MSG_CMD_COUNT; c++) {
        bool known = false;
        for (size_t r = 0; r < NCOMMANDS; r++)
            known |= command_table[r].cmd == (msg_cmd_t)c;
        for (int s = 0; !known && s < NSTATES; s++)
            command_cell((msg_cmd_t)c, s, NO);
    }
    no_mismatches();
}

int main(void)
{
#define T(name) cmocka_unit_test_setup(name, reset_mismatches)
    const struct CMUnitTest tests[] = {
        T(outcome_table_rows),
        T(outcome_other_commands),
        T(assignment_open),
        T(case_derive),
        T(case_derive_order),
        T(command_table_rows),
        T(command_other_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
