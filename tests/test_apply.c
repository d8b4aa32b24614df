/*
 * test_apply.c - unit tests for requests applied to the store (daemon/apply.c).
 *
 * apply is where the state machine, the routing and the store meet: every
 * case and assignment change, its audit event and the in-memory effects the
 * broker acts on (queue, release, accepted) come from here. Each test drives
 * it as the broker does - one store transaction around each call - with a
 * real store in a temporary directory and a small config (dispatch, water,
 * urban, traffic; road.pothole handled jointly by urban and traffic), then
 * checks the rows and events written, the effects listed and the reply.
 * A refused request must write nothing: the transaction around it is
 * checked to be clean before it is committed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tmpdir.h"
#include "apply.h"
#include "testconf.h"

#define CONFIG                                          \
    TESTCONF_BROKER                                     \
    "[departments]\n"                                   \
    "dispatch = 12345派单中心\n"                         \
    "water = 水务局\n"                                   \
    "urban = 城管局\n"                                   \
    "traffic = 交警大队\n"                               \
    "[routes]\n"                                        \
    "water.leak = water\n"                              \
    "road.pothole = urban, traffic\n"                   \
    "default = dispatch\n"

#define T0 INT64_C(1714523400000)           /* 2024-05-01 08:30 +08:00, in ms */
#define CONTACT_MS (30 * 60 * 1000)         /* 网格员30分钟内联系居民 */

static struct {
    char dir[64], path[128];
    config_t *cfg;
    store_t *st;
    apply_t a;
    int64_t now;                /* the time of the last apply call */
    bool dirty;                 /* whether the last apply call wrote anything */
    long long seen;             /* last event id reported by new_events() */
    int serial;                 /* for msg_ids */
    msg_t reply;
    int dispatch, water, urban, traffic;
} g;

/* ---- fixture ------------------------------------------------------------ */

static int teardown(void **state)
{
    (void)state;
    apply_free(&g.a);
    store_close(&g.st);
    config_destroy(&g.cfg);
    tmpdir_remove(g.dir);
    return 0;
}

static int setup(void **state)
{
    char err[1024];
    memset(&g, 0, sizeof g);
    snprintf(g.dir, sizeof g.dir, "/tmp/mq-test-apply-XXXXXX");
    if (!mkdtemp(g.dir))
        return -1;
    snprintf(g.path, sizeof g.path, "%s/minqing.db", g.dir);
    g.cfg = config_load_string(CONFIG, "test.conf", err, sizeof err);
    if (g.cfg)
        g.st = store_open(g.path, err, sizeof err);
    if (!g.cfg || !g.st) {
        fprintf(stderr, "setup: %s\n", err);
        teardown(state);
        return -1;
    }
    g.a.store = g.st;
    g.a.cfg = g.cfg;
    g.now = T0;
    g.dispatch = config_dept_find(g.cfg, "dispatch");
    g.water = config_dept_find(g.cfg, "water");
    g.urban = config_dept_find(g.cfg, "urban");
    g.traffic = config_dept_find(g.cfg, "traffic");
    if (g.dispatch == g.cfg->manual_dept && g.water >= 0 && g.urban >= 0 && g.traffic >= 0)
        return 0;
    teardown(state);
    return -1;
}

/* ---- one broker pass: a transaction around one apply call ----------------- */

static void pass_begin(void)
{
    g.now += 1000;
    apply_reset(&g.a, g.now);
    assert_int_equal(store_begin(g.st), 0);
}

/* A 2xx refusal must leave the transaction clean; a store error is fatal here. */
static msg_err_t pass_end(msg_err_t rc)
{
    g.dirty = store_dirty(g.st);
    if (rc >= ERR_STORE_FAILED)
        fail_msg("store failure %d: %s", rc, g.a.why);
    if (rc != MSG_OK && g.dirty)
        fail_msg("refused with %d (%s) but wrote to the store", rc, g.a.why);
    if (rc != MSG_OK && g.a.why[0] == '\0')
        fail_msg("refused with %d without a reason", rc);
    if (store_commit(g.st) != 0)
        fail_msg("commit: %s", store_errmsg(g.st));
    return rc;
}

static const char *next_id(void)
{
    static char id[32];
    snprintf(id, sizeof id, "m-%d", ++g.serial);
    return id;
}

static msg_err_t submit_as(const char *msg_id, const char *service, const char *channel,
                           const char *external_id)
{
    msg_t in;
    msg_reset(&in, MSG_SUBMIT);
    in.msg_id = msg_id;
    msg_case_t *k = &in.kase;
    k->service_code = service;
    k->description = "路面塌陷，车辆绕行";
    k->phone = "13800000000";
    k->channel = channel;
    k->external_id = external_id;
    k->grid_code = "CG01-XH02-G0031";
    k->priority = PRIO_HIGH;
    int bits[] = {CF_SERVICE_CODE, CF_DESCRIPTION, CF_PHONE, CF_CHANNEL, CF_EXTERNAL_ID,
                  CF_GRID_CODE, CF_PRIORITY};
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
        MSG_SET(k, bits[i]);
    MSG_SET(&in, MF_MSG_ID), MSG_SET(&in, MF_CASE);
    pass_begin();
    return pass_end(apply_submit(&g.a, &in, &g.reply));
}

/* Submit a new case (hotline, external id E-<n>) and return its id. */
static uint64_t submit(const char *service)
{
    char ext[32];
    snprintf(ext, sizeof ext, "E-%d", g.serial + 1);
    assert_int_equal(submit_as(next_id(), service, "hotline", ext), MSG_OK);
    assert_false(g.reply.duplicate);
    return g.reply.case_id;
}

/* A worker of dept sends an outcome about assignment asg. */
static msg_err_t outcome_as(const char *msg_id, int dept, msg_cmd_t cmd, uint64_t asg)
{
    msg_t in;
    char worker[48];
    msg_reset(&in, cmd);
    in.msg_id = msg_id;
    in.assignment_id = asg;
    MSG_SET(&in, MF_MSG_ID), MSG_SET(&in, MF_ASSIGNMENT_ID);
    if (cmd == MSG_RESOLVED) {
        in.result = "resolved", in.summary = "已修复";
        MSG_SET(&in, MF_RESULT), MSG_SET(&in, MF_SUMMARY);
    }
    if (cmd == MSG_RETURNED) {
        in.return_reason = RETURN_WRONG_DEPARTMENT;
        MSG_SET(&in, MF_RETURN_REASON);
    }
    snprintf(worker, sizeof worker, "%s:w1#1", g.cfg->depts[dept].id);
    pass_begin();
    return pass_end(apply_outcome(&g.a, dept, worker, &in, &g.reply));
}

static msg_err_t outcome(int dept, msg_cmd_t cmd, uint64_t asg)
{
    return outcome_as(next_id(), dept, cmd, asg);
}

/* An intake or admin command on a case: `arg` is the rating (FEEDBACK) or
 * the department (REASSIGN); CANCEL gives reason `duplicate`. */
static msg_err_t case_cmd(msg_cmd_t cmd, uint64_t case_id, const char *arg)
{
    msg_t in;
    msg_reset(&in, cmd);
    in.msg_id = next_id();
    in.case_id = case_id;
    MSG_SET(&in, MF_MSG_ID), MSG_SET(&in, MF_CASE_ID);
    if (cmd == MSG_FEEDBACK) {
        in.rating = (msg_rating_t)msg_enum_from_name(msg_rating_names, RATING_COUNT, arg);
        assert_true(in.rating > RATING_NONE);
        MSG_SET(&in, MF_RATING);
    } else if (cmd == MSG_REASSIGN) {
        in.department = arg;
        MSG_SET(&in, MF_DEPARTMENT);
    } else if (cmd == MSG_CANCEL) {
        in.cancel_reason = CANCEL_DUPLICATE;
        MSG_SET(&in, MF_CANCEL_REASON);
    }
    pass_begin();
    const char *scope = cmd == MSG_FEEDBACK ? "intake" : "admin";
    return pass_end(apply_case_command(&g.a, scope, scope, &in, &g.reply));
}

/* The broker hands assignment asg to a worker of its department. */
static void dispatched(uint64_t asg, const char *worker)
{
    store_assignment_t as;
    assert_int_equal(store_assignment_get(g.st, asg, &as), 1);
    pass_begin();
    store_case_t c;
    assert_int_equal(pass_end(apply_dispatched(&g.a, &as, worker, &c)), MSG_OK);
}

/* ---- what was written ---------------------------------------------------- */

static store_case_t get_case(uint64_t id)
{
    store_case_t c;
    assert_int_equal(store_case_get(g.st, id, &c), 1);
    return c;
}

static msg_state_t case_state(uint64_t id)
{
    return get_case(id).state;
}

static store_assignment_t get_asg(uint64_t id)
{
    store_assignment_t a;
    assert_int_equal(store_assignment_get(g.st, id, &a), 1);
    return a;
}

/* Every assignment of a case, all rounds:
 * "1:urban:lead:received:r0,2:traffic:co:received:r0". */
static const char *query(const char *q, bool all);
static const char *asgs(uint64_t case_id)
{
    char q[256];
    snprintf(q, sizeof q, "SELECT id || ':' || department || ':' || role || ':' || state ||"
             " ':r' || round FROM assignments WHERE case_id = %llu ORDER BY id",
             (unsigned long long)case_id);
    return query(q, true);
}

/* The dispatch effects of the last call: "wait:urban:1,release:traffic:2,
 * accepted:urban:1" (timer hints are left to timers()). */
static const char *effects(void)
{
    static const char *const kinds[] = {[FX_WAIT] = "wait", [FX_RELEASE] = "release",
                                        [FX_ACCEPTED] = "accepted"};
    static char out[1024];
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < g.a.nfx; i++) {
        const fx_t *f = &g.a.fx[i];
        if (f->kind == FX_TIMER)
            continue;
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%s:%s:%llu", len ? "," : "",
                                kinds[f->kind], g.cfg->depts[f->dept].id,
                                (unsigned long long)f->asg);
    }
    return out;
}

/* Run a query on a second connection and return its first column, or with
 * `all` every row's first column joined by ','. */
static const char *query(const char *q, bool all)
{
    static char out[4096];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    size_t len = 0;
    out[0] = '\0';
    if (sqlite3_open_v2(g.path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK) {
        snprintf(out, sizeof out, "%s", sqlite3_errmsg(db));
        sqlite3_close(db);
        fail_msg("%s: %s", q, out);
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", len ? "," : "",
                                t ? (const char *)t : "NULL");
        if (!all)
            break;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

static long count(const char *table)
{
    char q[128];
    snprintf(q, sizeof q, "SELECT count(*) FROM %s", table);
    return atol(query(q, false));
}

/* Events written since the last call: "kind" for the case's own, "kind:dept"
 * for an assignment's, in order. */
static const char *new_events(void)
{
    char q[256];
    snprintf(q, sizeof q, "SELECT kind || ifnull(':' || department, '') FROM events"
             " WHERE id > %lld ORDER BY id", g.seen);
    static char out[4096];
    snprintf(out, sizeof out, "%s", query(q, true));
    g.seen = atoll(query("SELECT ifnull(max(id), 0) FROM events", false));
    return out;
}

/* Rows of the store, to show that a call changed none of them. */
typedef struct {
    long cases, assignments, events, outcomes;
} rows_t;

static rows_t rows(void)
{
    return (rows_t){count("cases"), count("assignments"), count("events"), count("outcomes")};
}

static void assert_rows_equal(rows_t a, rows_t b)
{
    assert_int_equal(a.cases, b.cases);
    assert_int_equal(a.assignments, b.assignments);
    assert_int_equal(a.events, b.events);
    assert_int_equal(a.outcomes, b.outcomes);
}

static void assert_ack(const char *re, uint64_t case_id, uint64_t asg, msg_state_t state)
{
    assert_int_equal(g.reply.cmd, MSG_ACK);
    assert_string_equal(g.reply.re, re);
    assert_int_equal(g.reply.case_id, case_id);
    assert_int_equal(g.reply.assignment_id, asg);
    assert_int_equal(MSG_HAS(&g.reply, MF_ASSIGNMENT_ID), asg != 0);
    assert_int_equal(g.reply.state, state);
}

/* A water.leak case taken to `resolved` by water: returns its id (asg 1). */
static uint64_t resolved_water_case(void)
{
    uint64_t c = submit("water.leak");
    dispatched(1, "water:w1#1");
    assert_int_equal(outcome(g.water, MSG_ACCEPT, 1), MSG_OK);
    assert_int_equal(outcome(g.water, MSG_CONTACTED, 1), MSG_OK);
    assert_int_equal(outcome(g.water, MSG_RESOLVED, 1), MSG_OK);
    assert_int_equal(case_state(c), STATE_RESOLVED);
    new_events();
    return c;
}

/* A water.leak case that water accepted and returned (asg 1); the dispatch
 * centre's new assignment is 2. */
static uint64_t returned_water_case(void)
{
    uint64_t c = submit("water.leak");
    dispatched(1, "water:w1#1");
    assert_int_equal(outcome(g.water, MSG_ACCEPT, 1), MSG_OK);
    new_events();
    assert_int_equal(outcome(g.water, MSG_RETURNED, 1), MSG_OK);
    return c;
}

/* ---- SUBMIT --------------------------------------------------------------- */

static void submit_creates_case(void **state)
{
    (void)state;
    assert_int_equal(submit_as("s-1", "road.pothole", "hotline", "E-1"), MSG_OK);
    assert_int_equal(g.reply.cmd, MSG_SUBMIT_OK);
    assert_string_equal(g.reply.re, "s-1");
    assert_int_equal(g.reply.case_id, 1);
    assert_true(MSG_HAS(&g.reply, MF_DUPLICATE));
    assert_false(g.reply.duplicate);

    store_case_t c = get_case(1);
    assert_int_equal(c.state, STATE_RECEIVED);
    assert_string_equal(c.lead, "urban");
    assert_string_equal(c.street, "CG01");
    assert_string_equal(c.community, "CG01-XH02");
    assert_string_equal(c.service_code, "road.pothole");
    assert_int_equal(c.priority, PRIO_HIGH);
    assert_int_equal(c.received_at, g.now);
    assert_int_equal(c.contact_due, g.now + CONTACT_MS);
    assert_int_equal(c.contacted_at, 0);

    assert_string_equal(asgs(1), "1:urban:lead:received:r0,2:traffic:co:received:r0");
    assert_string_equal(effects(), "wait:urban:1,wait:traffic:2");
    assert_string_equal(new_events(), "received,routed:urban,routed:traffic");
    assert_string_equal(query("SELECT actor FROM events ORDER BY id", true),
                        "intake:hotline,router,router");
    assert_int_equal(g.a.npubs, 3);
    assert_string_equal(g.a.pubs[0].kind, "received");
    assert_int_equal(g.a.pubs[0].dept, -1);
    assert_string_equal(g.a.pubs[2].kind, "routed");
    assert_int_equal(g.a.pubs[2].dept, g.traffic);
    assert_int_equal(g.a.pubs[2].asg, 2);
}

static void submit_routes_by_service_code(void **state)
{
    (void)state;
    static const struct { const char *service, *asgs, *fx, *lead; } rows[] = {
        {"water.leak", "1:water:lead:received:r0", "wait:water:1", "water"},
        {"no.such.code", "2:dispatch:lead:received:r0", "wait:dispatch:2", "dispatch"},
        {"road.pothole", "3:urban:lead:received:r0,4:traffic:co:received:r0",
         "wait:urban:3,wait:traffic:4", "urban"},
    };
    for (uint64_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        uint64_t c = submit(rows[i].service);
        assert_int_equal(c, i + 1);
        assert_string_equal(asgs(c), rows[i].asgs);
        assert_string_equal(effects(), rows[i].fx);
        assert_string_equal(get_case(c).lead, rows[i].lead);
    }
}

static void submit_duplicate(void **state)
{
    (void)state;
    assert_int_equal(submit_as("s-1", "road.pothole", "hotline", "E-1"), MSG_OK);
    rows_t before = rows();
    assert_int_equal(submit_as("s-2", "water.leak", "hotline", "E-1"), MSG_OK);
    assert_int_equal(g.reply.cmd, MSG_SUBMIT_OK);
    assert_string_equal(g.reply.re, "s-2");
    assert_int_equal(g.reply.case_id, 1);
    assert_true(g.reply.duplicate);
    assert_false(g.dirty);
    assert_int_equal(g.a.nfx, 0);
    assert_int_equal(g.a.npubs, 0);
    assert_rows_equal(rows(), before);
    /* the same external id from another channel is another case */
    assert_int_equal(submit_as("s-3", "water.leak", "wechat", "E-1"), MSG_OK);
    assert_int_equal(g.reply.case_id, 2);
    assert_false(g.reply.duplicate);
}

/* PROTOCOL.md 8.1: "A repeat with the same msg_id gets the first reply
 * (duplicate false, if the first created the case)". */
static void submit_resend_gets_first_answer(void **state)
{
    (void)state;
    assert_int_equal(submit_as("s-1", "water.leak", "hotline", "E-1"), MSG_OK);
    assert_int_equal(submit_as("s-1", "water.leak", "hotline", "E-1"), MSG_OK);
    assert_int_equal(g.reply.case_id, 1);
    assert_false(g.dirty);
    assert_false(g.reply.duplicate);
}

/* ---- worker outcomes ----------------------------------------------------- */

/* Joint handling: the case is resolved only when both departments are done. */
static void outcomes_to_resolved(void **state)
{
    (void)state;
    uint64_t c = submit("road.pothole");
    new_events();
    dispatched(1, "urban:w1#1");
    assert_int_equal(case_state(c), STATE_DISPATCHED);
    assert_string_equal(new_events(), "dispatched:urban,dispatched");
    dispatched(2, "traffic:w1#1");
    assert_string_equal(new_events(), "dispatched:traffic");

    assert_int_equal(outcome_as("u-1", g.urban, MSG_ACCEPT, 1), MSG_OK);
    assert_ack("u-1", c, 1, STATE_ACCEPTED);
    assert_string_equal(effects(), "accepted:urban:1");
    assert_int_equal(case_state(c), STATE_ACCEPTED);
    assert_string_equal(new_events(), "accepted:urban,accepted");

    assert_int_equal(outcome(g.urban, MSG_CONTACTED, 1), MSG_OK);
    int64_t contacted = g.now;
    assert_string_equal(effects(), "accepted:urban:1");
    assert_int_equal(case_state(c), STATE_CONTACTED);
    assert_int_equal(get_case(c).contacted_at, contacted);
    assert_string_equal(new_events(), "contacted:urban,contacted");

    assert_int_equal(outcome(g.urban, MSG_PROGRESS, 1), MSG_OK);
    assert_int_equal(get_asg(1).state, STATE_CONTACTED);
    assert_string_equal(effects(), "accepted:urban:1");    /* a PROGRESS takes over too */
    assert_string_equal(new_events(), "progress:urban");

    assert_int_equal(outcome(g.urban, MSG_RESOLVED, 1), MSG_OK);
    assert_string_equal(effects(), "release:urban:1");
    assert_int_equal(get_asg(1).state, STATE_RESOLVED);
    assert_int_equal(case_state(c), STATE_CONTACTED);       /* traffic still open */
    assert_int_equal(get_case(c).resolved_at, 0);
    assert_string_equal(new_events(), "resolved:urban");

    assert_int_equal(outcome(g.traffic, MSG_ACCEPT, 2), MSG_OK);
    assert_int_equal(outcome(g.traffic, MSG_CONTACTED, 2), MSG_OK);
    assert_int_equal(get_case(c).contacted_at, contacted);  /* the first contact counts */
    assert_string_equal(new_events(), "accepted:traffic,contacted:traffic");
    assert_int_equal(outcome_as("t-3", g.traffic, MSG_RESOLVED, 2), MSG_OK);
    assert_ack("t-3", c, 2, STATE_RESOLVED);
    assert_string_equal(effects(), "release:traffic:2");
    store_case_t done = get_case(c);
    assert_int_equal(done.state, STATE_RESOLVED);
    assert_int_equal(done.resolved_at, g.now);
    assert_int_equal(done.contacted_at, contacted);
    assert_string_equal(new_events(), "resolved:traffic,resolved");
    assert_int_equal(count("outcomes"), 7);
    assert_string_equal(query("SELECT summary FROM outcomes WHERE msg_id = 't-3'", false),
                        "已修复");
}

static void repeated_msg_id_applied_once(void **state)
{
    (void)state;
    uint64_t c = submit("water.leak");
    dispatched(1, "water:w1#1");
    assert_int_equal(outcome_as("w-1", g.water, MSG_ACCEPT, 1), MSG_OK);
    assert_int_equal(outcome_as("w-2", g.water, MSG_CONTACTED, 1), MSG_OK);
    rows_t before = rows();

    /* the repeat gets the first answer, with the state as it was then */
    assert_int_equal(outcome_as("w-1", g.water, MSG_ACCEPT, 1), MSG_OK);
    assert_ack("w-1", c, 1, STATE_ACCEPTED);
    assert_false(g.dirty);
    assert_int_equal(g.a.nfx, 0);
    assert_int_equal(g.a.npubs, 0);
    assert_rows_equal(rows(), before);
    assert_int_equal(get_asg(1).state, STATE_CONTACTED);
    assert_int_equal(outcome_as("w-2", g.water, MSG_CONTACTED, 1), MSG_OK);
    assert_ack("w-2", c, 1, STATE_CONTACTED);
    assert_rows_equal(rows(), before);
    /* a msg_id used again for another command is refused, not applied */
    assert_int_equal(outcome_as("w-1", g.water, MSG_RESOLVED, 1), ERR_INVALID_VALUE);
    assert_rows_equal(rows(), before);
    assert_int_equal(get_asg(1).state, STATE_CONTACTED);
}

static void wrong_department_refused(void **state)
{
    (void)state;
    submit("water.leak");
    dispatched(1, "water:w1#1");
    rows_t before = rows();
    assert_int_equal(outcome_as("u-1", g.urban, MSG_ACCEPT, 1), ERR_NOT_YOUR_ASSIGNMENT);
    assert_non_null(strstr(g.a.why, "water"));
    assert_int_equal(g.a.nfx, 0);
    assert_rows_equal(rows(), before);
    assert_int_equal(get_asg(1).state, STATE_DISPATCHED);
    assert_int_equal(outcome(g.water, MSG_ACCEPT, 99), ERR_UNKNOWN_ASSIGNMENT);
    assert_rows_equal(rows(), before);
    /* a refused msg_id is not remembered */
    assert_int_equal(outcome_as("u-1", g.water, MSG_ACCEPT, 1), MSG_OK);
}

static void illegal_transition_refused(void **state)
{
    (void)state;
    uint64_t c = submit("water.leak");
    dispatched(1, "water:w1#1");
    rows_t before = rows();
    assert_int_equal(outcome_as("w-1", g.water, MSG_RESOLVED, 1), ERR_ILLEGAL_TRANSITION);
    assert_int_equal(outcome(g.water, MSG_PROGRESS, 1), ERR_ILLEGAL_TRANSITION);
    assert_int_equal(g.a.nfx, 0);
    assert_rows_equal(rows(), before);
    assert_int_equal(get_asg(1).state, STATE_DISPATCHED);
    assert_int_equal(case_state(c), STATE_DISPATCHED);
    /* nor is a msg_id that was refused */
    assert_int_equal(outcome_as("w-1", g.water, MSG_ACCEPT, 1), MSG_OK);
    assert_int_equal(outcome(g.water, MSG_CONTACTED, 1), MSG_OK);
    assert_int_equal(outcome(g.water, MSG_RESOLVED, 1), MSG_OK);
    before = rows();
    assert_int_equal(outcome(g.water, MSG_ACCEPT, 1), ERR_ILLEGAL_TRANSITION);
    assert_int_equal(outcome(g.water, MSG_RETURNED, 1), ERR_ILLEGAL_TRANSITION);
    assert_rows_equal(rows(), before);
}

/* ---- returns (退单) -------------------------------------------------------- */

static void returned_goes_to_dispatch(void **state)
{
    (void)state;
    uint64_t c = returned_water_case();
    assert_ack(g.reply.re, c, 1, STATE_RETURNED);
    assert_string_equal(asgs(c), "1:water:lead:returned:r0,2:dispatch:lead:received:r0");
    assert_string_equal(effects(), "wait:dispatch:2,release:water:1");
    assert_int_equal(case_state(c), STATE_RETURNED);
    assert_string_equal(get_case(c).lead, "dispatch");     /* a redo must not go to water */
    assert_string_equal(new_events(), "returned:water,routed:dispatch,returned");
    assert_string_equal(query("SELECT detail FROM events WHERE kind = 'returned'"
                              " AND department = 'water'", false), "wrong_department");
    /* held while the dispatch centre has not taken it up */
    dispatched(2, "dispatch:w1#1");
    assert_int_equal(case_state(c), STATE_RETURNED);
    assert_string_equal(new_events(), "dispatched:dispatch");
    assert_int_equal(outcome(g.dispatch, MSG_ACCEPT, 2), MSG_OK);
    assert_int_equal(case_state(c), STATE_ACCEPTED);
    assert_string_equal(new_events(), "accepted:dispatch,accepted");
}

/* The dispatch centre returning its own assignment leaves the case returned,
 * with nothing open, until a REASSIGN or CANCEL (PROTOCOL.md 7.2). */
static void manual_department_return_holds(void **state)
{
    (void)state;
    uint64_t c = returned_water_case();
    dispatched(2, "dispatch:w1#1");
    new_events();
    assert_int_equal(outcome(g.dispatch, MSG_RETURNED, 2), MSG_OK);
    assert_string_equal(effects(), "release:dispatch:2");
    assert_string_equal(asgs(c), "1:water:lead:returned:r0,2:dispatch:lead:returned:r0");
    assert_int_equal(case_state(c), STATE_RETURNED);
    assert_string_equal(new_events(), "returned:dispatch");
}

/* A co department's return goes to the dispatch centre as co work; a
 * REASSIGN then gives that co work to the named department, and the lead
 * stays. */
static void co_return_goes_to_dispatch(void **state)
{
    (void)state;
    uint64_t c = submit("road.pothole");
    dispatched(1, "urban:w1#1");
    dispatched(2, "traffic:w1#1");
    assert_int_equal(outcome(g.urban, MSG_ACCEPT, 1), MSG_OK);
    new_events();
    assert_int_equal(outcome(g.traffic, MSG_RETURNED, 2), MSG_OK);
    assert_string_equal(asgs(c), "1:urban:lead:accepted:r0,2:traffic:co:returned:r0,"
                                 "3:dispatch:co:received:r0");
    assert_string_equal(effects(), "wait:dispatch:3,release:traffic:2");
    assert_string_equal(get_case(c).lead, "urban");
    assert_int_equal(case_state(c), STATE_ACCEPTED);
    assert_string_equal(new_events(), "returned:traffic,routed:dispatch");

    assert_int_equal(case_cmd(MSG_REASSIGN, c, "water"), MSG_OK);
    assert_string_equal(asgs(c), "1:urban:lead:accepted:r0,2:traffic:co:returned:r0,"
                                 "3:dispatch:co:cancelled:r0,4:water:co:received:r0");
    assert_string_equal(effects(), "release:dispatch:3,wait:water:4");
    assert_string_equal(get_case(c).lead, "urban");
    assert_int_equal(case_state(c), STATE_ACCEPTED);
}

/* PROTOCOL.md 7.2: "RETURNED of a co assignment ends that assignment only;
 * the case keeps its state". */
static void co_return_keeps_case_state(void **state)
{
    (void)state;
    uint64_t c = submit("road.pothole");
    dispatched(1, "urban:w1#1");
    dispatched(2, "traffic:w1#1");
    assert_int_equal(outcome(g.traffic, MSG_RETURNED, 2), MSG_OK);
    assert_string_equal(get_case(c).lead, "urban");
    assert_int_equal(case_state(c), STATE_DISPATCHED);
}

/* ---- commands on a case ---------------------------------------------------- */

static void reassign_returned_case(void **state)
{
    (void)state;
    uint64_t c = returned_water_case();
    new_events();
    rows_t before = rows();
    assert_int_equal(case_cmd(MSG_REASSIGN, c, "nowhere"), ERR_UNKNOWN_DEPARTMENT);
    assert_rows_equal(rows(), before);

    assert_int_equal(case_cmd(MSG_REASSIGN, c, "urban"), MSG_OK);
    assert_ack(g.reply.re, c, 0, STATE_RECEIVED);
    assert_string_equal(asgs(c), "1:water:lead:returned:r0,2:dispatch:lead:cancelled:r0,"
                                 "3:urban:lead:received:r0");
    assert_string_equal(effects(), "release:dispatch:2,wait:urban:3");
    store_case_t k = get_case(c);
    assert_int_equal(k.state, STATE_RECEIVED);
    assert_string_equal(k.lead, "urban");
    assert_string_equal(new_events(), "superseded:dispatch,routed:urban,received");
    assert_string_equal(query("SELECT actor FROM events WHERE kind = 'superseded'", false),
                        "admin");
    /* the new lead takes it up like any other */
    dispatched(3, "urban:w1#1");
    assert_int_equal(case_state(c), STATE_DISPATCHED);
}

/* Both shares of a joint case returned: REASSIGN moves the manual centre's
 * lead share and leaves its co share for a later REASSIGN. */
static void reassign_moves_one_share(void **state)
{
    (void)state;
    uint64_t c = submit("road.pothole");
    dispatched(1, "urban:w1#1");
    dispatched(2, "traffic:w1#1");
    assert_int_equal(outcome(g.urban, MSG_RETURNED, 1), MSG_OK);
    assert_int_equal(outcome(g.traffic, MSG_RETURNED, 2), MSG_OK);
    assert_int_equal(case_state(c), STATE_RETURNED);
    assert_int_equal(case_cmd(MSG_REASSIGN, c, "water"), MSG_OK);
    assert_string_equal(asgs(c), "1:urban:lead:returned:r0,2:traffic:co:returned:r0,"
                                 "3:dispatch:lead:cancelled:r0,4:dispatch:co:received:r0,"
                                 "5:water:lead:received:r0");
    assert_string_equal(get_case(c).lead, "water");
}

/* REASSIGN of a jointly handled case replaces the lead; co carries on. */
static void reassign_replaces_lead_only(void **state)
{
    (void)state;
    uint64_t c = submit("road.pothole");
    dispatched(1, "urban:w1#1");
    dispatched(2, "traffic:w1#1");
    assert_int_equal(outcome(g.traffic, MSG_ACCEPT, 2), MSG_OK);
    assert_int_equal(case_cmd(MSG_REASSIGN, c, "water"), MSG_OK);
    assert_string_equal(asgs(c), "1:urban:lead:cancelled:r0,2:traffic:co:accepted:r0,"
                                 "3:water:lead:received:r0");
    assert_string_equal(effects(), "release:urban:1,wait:water:3");
    assert_string_equal(get_case(c).lead, "water");
    assert_int_equal(case_state(c), STATE_ACCEPTED);
}

/* A case handed back and forth hundreds of times still takes its state from
 * its live shares: the superseded ones before them do not crowd them out. */
static void long_history_still_settles(void **state)
{
    (void)state;
    uint64_t c = submit("water.leak");
    const char *to[] = {"urban", "water"};
    for (int i = 0; i < 300; i++)
        assert_int_equal(case_cmd(MSG_REASSIGN, c, to[i % 2]), MSG_OK);
    uint64_t last = 301;                /* the 300th REASSIGN's share, with water */
    assert_string_equal(get_asg(last).department, "water");
    dispatched(last, "water:w1#1");
    assert_int_equal(outcome(g.water, MSG_ACCEPT, last), MSG_OK);
    assert_int_equal(outcome(g.water, MSG_CONTACTED, last), MSG_OK);
    assert_int_equal(case_state(c), STATE_CONTACTED);
    assert_int_equal(outcome(g.water, MSG_RESOLVED, last), MSG_OK);
    assert_int_equal(case_state(c), STATE_RESOLVED);
}

static void feedback_unsatisfied_redoes(void **state)
{
    (void)state;
    uint64_t c = resolved_water_case();
    int64_t resolved_at = get_case(c).resolved_at;
    assert_int_equal(case_cmd(MSG_FEEDBACK, c, "unsatisfied"), MSG_OK);
    assert_ack(g.reply.re, c, 0, STATE_RECEIVED);
    store_case_t k = get_case(c);
    assert_int_equal(k.state, STATE_RECEIVED);
    assert_int_equal(k.redo_count, 1);
    assert_int_equal(k.rating, RATING_UNSATISFIED);
    assert_int_equal(k.resolved_at, resolved_at);
    assert_string_equal(asgs(c), "1:water:lead:resolved:r0,2:water:lead:received:r1");
    assert_string_equal(effects(), "wait:water:2");
    assert_string_equal(new_events(), "feedback,reopened,routed:water,received");
    /* the new round alone decides the state: the resolved one is history */
    dispatched(2, "water:w1#1");
    assert_int_equal(case_state(c), STATE_DISPATCHED);
    assert_int_equal(outcome(g.water, MSG_ACCEPT, 2), MSG_OK);
    assert_int_equal(case_state(c), STATE_ACCEPTED);
}

/* A redo after a reload removed the lead department: the manual dispatch
 * centre gets the work and leads the case, so that the round's escalations
 * name it (they named the removed department, published as `escalated.-`). */
static void redo_after_lead_removed(void **state)
{
    (void)state;
    uint64_t c = resolved_water_case();
    char err[1024];
    config_t *nowater = config_load_string(TESTCONF_BROKER
        "[departments]\ndispatch = 12345派单中心\nurban = 城管局\n"
        "[routes]\ndefault = dispatch\n[ladder.contact]\n1 = 0s community\n"
        "[targets]\ncommunity = dispatch\n", "t.conf", err, sizeof err);
    assert_non_null(nowater);
    config_t *old = g.cfg;
    g.cfg = nowater, g.a.cfg = nowater;
    assert_int_equal(case_cmd(MSG_FEEDBACK, c, "unsatisfied"), MSG_OK);
    store_case_t k = get_case(c);
    assert_string_equal(k.lead, "dispatch");
    assert_string_equal(asgs(c), "1:water:lead:resolved:r0,2:dispatch:lead:received:r1");
    g.now = k.contact_due + 1;
    pass_begin();
    assert_int_equal(pass_end(apply_timer(&g.a, c, LADDER_CONTACT)), MSG_OK);
    assert_int_equal(g.a.nfired, 1);
    assert_string_equal(g.a.fired[0].lead, "dispatch");
    g.cfg = old, g.a.cfg = old;
    config_destroy(&nowater);
}

/* A deadline is missed once it has passed, not at it: a contact in its very
 * millisecond is met (show and stats: done <= due), so the first rung (at
 * offset 0 by default) fires a millisecond later, not at the deadline. */
static void escalation_waits_for_the_deadline_to_pass(void **state)
{
    (void)state;
    uint64_t c = submit("water.leak");
    int64_t due = get_case(c).contact_due;
    g.now = due - 1000;                     /* pass_begin adds a second */
    pass_begin();
    assert_int_equal(g.now, due);
    assert_int_equal(pass_end(apply_timer(&g.a, c, LADDER_CONTACT)), MSG_OK);
    assert_int_equal(g.a.nfired, 0);
    g.now = due + 1 - 1000;
    pass_begin();
    assert_int_equal(pass_end(apply_timer(&g.a, c, LADDER_CONTACT)), MSG_OK);
    assert_int_equal(g.a.nfired, 1);
    assert_int_equal(g.a.fired[0].level, 1);
    /* a millisecond past it is 1 s overdue: 0 would read as "not late" */
    assert_int_equal(g.a.fired[0].overdue_s, 1);
}

/* A closed case reopens too, and is no longer closed. */
static void feedback_unsatisfied_reopens_closed(void **state)
{
    (void)state;
    uint64_t c = resolved_water_case();
    assert_int_equal(case_cmd(MSG_CLOSE, c, NULL), MSG_OK);
    assert_int_equal(get_case(c).closed_at, g.now);
    new_events();
    assert_int_equal(case_cmd(MSG_FEEDBACK, c, "unsatisfied"), MSG_OK);
    store_case_t k = get_case(c);
    assert_int_equal(k.state, STATE_RECEIVED);
    assert_int_equal(k.closed_at, 0);
    assert_int_equal(k.redo_count, 1);
    assert_string_equal(asgs(c), "1:water:lead:resolved:r0,2:water:lead:received:r1");
    assert_string_equal(new_events(), "feedback,reopened,routed:water,received");
}

static void close_only_resolved(void **state)
{
    (void)state;
    uint64_t open = submit("water.leak");
    rows_t before = rows();
    assert_int_equal(case_cmd(MSG_CLOSE, open, NULL), ERR_ILLEGAL_TRANSITION);
    assert_int_equal(case_cmd(MSG_FEEDBACK, open, "satisfied"), ERR_ILLEGAL_TRANSITION);
    assert_int_equal(case_cmd(MSG_CLOSE, 42, NULL), ERR_UNKNOWN_CASE);
    assert_rows_equal(rows(), before);
    assert_int_equal(case_state(open), STATE_RECEIVED);

    /* a second case, resolved by water (its assignment is 2) */
    uint64_t c = submit("water.leak");
    dispatched(2, "water:w1#1");
    assert_int_equal(outcome(g.water, MSG_ACCEPT, 2), MSG_OK);
    assert_int_equal(outcome(g.water, MSG_CONTACTED, 2), MSG_OK);
    assert_int_equal(outcome(g.water, MSG_RESOLVED, 2), MSG_OK);
    new_events();
    assert_int_equal(case_cmd(MSG_FEEDBACK, c, "satisfied"), MSG_OK);
    assert_int_equal(case_state(c), STATE_RESOLVED);
    assert_int_equal(get_case(c).rating, RATING_SATISFIED);
    assert_string_equal(new_events(), "feedback");
    assert_int_equal(case_cmd(MSG_CLOSE, c, NULL), MSG_OK);
    assert_ack(g.reply.re, c, 0, STATE_CLOSED);
    store_case_t k = get_case(c);
    assert_int_equal(k.state, STATE_CLOSED);
    assert_int_equal(k.closed_at, g.now);
    assert_int_equal(k.rating, RATING_SATISFIED);
    assert_string_equal(new_events(), "closed");
    assert_int_equal(case_cmd(MSG_CLOSE, c, NULL), ERR_ILLEGAL_TRANSITION);
}

static void cancel_withdraws_everything(void **state)
{
    (void)state;
    uint64_t c = submit("road.pothole");
    dispatched(1, "urban:w1#1");
    assert_int_equal(outcome(g.urban, MSG_ACCEPT, 1), MSG_OK);
    new_events();
    assert_int_equal(case_cmd(MSG_CANCEL, c, NULL), MSG_OK);
    assert_ack(g.reply.re, c, 0, STATE_CANCELLED);
    assert_string_equal(asgs(c), "1:urban:lead:cancelled:r0,2:traffic:co:cancelled:r0");
    assert_string_equal(effects(), "release:urban:1,release:traffic:2");
    assert_int_equal(case_state(c), STATE_CANCELLED);
    assert_string_equal(new_events(), "superseded:urban,superseded:traffic,cancelled");
    assert_string_equal(query("SELECT kind || ',' || reason || ',' || state FROM outcomes"
                              " WHERE scope = 'admin'", false), "CANCEL,duplicate,cancelled");
    rows_t before = rows();
    assert_int_equal(outcome(g.urban, MSG_CONTACTED, 1), ERR_ILLEGAL_TRANSITION);
    assert_int_equal(outcome(g.traffic, MSG_ACCEPT, 2), ERR_ILLEGAL_TRANSITION);
    assert_int_equal(case_cmd(MSG_CANCEL, c, NULL), ERR_ILLEGAL_TRANSITION);
    assert_int_equal(case_cmd(MSG_REASSIGN, c, "water"), ERR_ILLEGAL_TRANSITION);
    /* a department that does not exist is named first, whatever the state */
    assert_int_equal(case_cmd(MSG_REASSIGN, c, "nowhere"), ERR_UNKNOWN_DEPARTMENT);
    assert_rows_equal(rows(), before);
}

/* ---- dispatch ---------------------------------------------------------------- */

static void dispatched_counts_attempts(void **state)
{
    (void)state;
    uint64_t c = submit("water.leak");
    new_events();
    dispatched(1, "water:w1#1");
    store_assignment_t a = get_asg(1);
    assert_int_equal(a.attempt, 1);
    assert_int_equal(a.state, STATE_DISPATCHED);
    assert_string_equal(a.worker, "water:w1#1");
    assert_int_equal(a.updated_at, g.now);
    assert_int_equal(case_state(c), STATE_DISPATCHED);
    assert_string_equal(new_events(), "dispatched:water,dispatched");
    assert_string_equal(query("SELECT from_state || '>' || to_state || ',' || detail || ','"
                              " || actor FROM events WHERE kind = 'dispatched' AND"
                              " department = 'water'", false),
                        "received>dispatched,attempt 1,water:w1#1");
    /* handed over again (the first worker died): same state, next attempt */
    dispatched(1, "water:w2#2");
    a = get_asg(1);
    assert_int_equal(a.attempt, 2);
    assert_int_equal(a.state, STATE_DISPATCHED);
    assert_string_equal(a.worker, "water:w2#2");
    assert_string_equal(new_events(), "dispatched:water");
    assert_string_equal(query("SELECT ifnull(to_state, '-') || ',' || detail FROM events"
                              " ORDER BY id DESC", false), "-,attempt 2");
    /* an accepted assignment handed over stays accepted */
    assert_int_equal(outcome(g.water, MSG_ACCEPT, 1), MSG_OK);
    dispatched(1, "water:w3#3");
    assert_int_equal(get_asg(1).attempt, 3);
    assert_int_equal(get_asg(1).state, STATE_ACCEPTED);
    assert_int_equal(case_state(c), STATE_ACCEPTED);
}

/* The count stops at the protocol's limit: a DISPATCH past it would be
 * refused by a worker that checks (PROTOCOL.md, DISPATCH attempt 1..1000000). */
static void dispatched_attempts_stop_at_the_limit(void **state)
{
    (void)state;
    submit("water.leak");
    dispatched(1, "water:w1#1");
    store_assignment_t a = get_asg(1);
    a.attempt = MSG_MAX_ATTEMPT - 1;
    pass_begin();
    assert_int_equal(store_assignment_update(g.st, &a), 0);
    pass_end(MSG_OK);
    dispatched(1, "water:w2#2");
    assert_int_equal(get_asg(1).attempt, MSG_MAX_ATTEMPT);
    dispatched(1, "water:w3#3");
    assert_int_equal(get_asg(1).attempt, MSG_MAX_ATTEMPT);
    assert_int_equal(apply_next_attempt(0), 1);
}

/* ---- IMPORT --------------------------------------------------------------- */

#define DAY_MS INT64_C(86400000)
#define H0 (T0 - 30 * DAY_MS)               /* an old case's received_at */

static int imports;              /* external ids I-<n> given so far */

/* IMPORT a historical water.leak case (channel legacy, external id I-<n>) in
 * state st with its times (0: absent) and lead department (NULL: the route's). */
static msg_err_t import_case(msg_state_t st, int64_t received, int64_t contacted,
                             int64_t resolved, int64_t closed, const char *dept)
{
    msg_t in;
    char ext[32];
    msg_reset(&in, MSG_IMPORT);
    in.msg_id = next_id();
    snprintf(ext, sizeof ext, "I-%d", ++imports);
    msg_case_t *k = &in.kase;
    k->service_code = "water.leak";
    k->description = "历史案件";
    k->channel = "legacy";
    k->external_id = ext;
    k->grid_code = "CG01-XH02-G0031";
    int bits[] = {CF_SERVICE_CODE, CF_DESCRIPTION, CF_CHANNEL, CF_EXTERNAL_ID, CF_GRID_CODE};
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
        MSG_SET(k, bits[i]);
    in.state = st, in.received_at = received, in.contacted_at = contacted;
    in.resolved_at = resolved, in.closed_at = closed, in.department = dept;
    MSG_SET(&in, MF_MSG_ID), MSG_SET(&in, MF_CASE), MSG_SET(&in, MF_STATE);
    MSG_SET(&in, MF_RECEIVED_AT);
    if (contacted) MSG_SET(&in, MF_CONTACTED_AT);
    if (resolved) MSG_SET(&in, MF_RESOLVED_AT);
    if (closed) MSG_SET(&in, MF_CLOSED_AT);
    if (dept) MSG_SET(&in, MF_DEPARTMENT);
    pass_begin();
    return pass_end(apply_import(&g.a, &in, &g.reply));
}

/* The time of the state a case is imported in is required (MISSING_FIELD,
 * naming it): a `contacted` case without contacted_at would climb the
 * contact ladder from its old received_at at once. */
static void import_requires_time_of_state(void **state)
{
    (void)state;
    imports = 0;
    assert_int_equal(import_case(STATE_CONTACTED, H0, 0, 0, 0, NULL), ERR_MISSING_FIELD);
    assert_string_equal(g.a.why, "contacted_at is required for a case imported as contacted");
    assert_int_equal(import_case(STATE_RESOLVED, H0, H0 + 1, 0, 0, NULL), ERR_MISSING_FIELD);
    assert_string_equal(g.a.why, "resolved_at is required for a case imported as resolved");
    assert_int_equal(import_case(STATE_CLOSED, H0, 0, H0 + 1, 0, NULL), ERR_MISSING_FIELD);
    assert_string_equal(g.a.why, "closed_at is required for a case imported as closed");
    assert_int_equal(count("cases"), 0);
    /* with it: the contact is made, so the contact ladder does not run */
    assert_int_equal(import_case(STATE_CONTACTED, H0, H0 + 600000, 0, 0, NULL), MSG_OK);
    assert_int_equal(get_case(g.reply.case_id).contacted_at, H0 + 600000);
    /* open states and cancelled need no time beyond received_at */
    assert_int_equal(import_case(STATE_ACCEPTED, H0, 0, 0, 0, NULL), MSG_OK);
    assert_int_equal(import_case(STATE_CANCELLED, H0, 0, 0, 0, NULL), MSG_OK);
    assert_int_equal(import_case(STATE_RESOLVED, H0, 0, H0 + DAY_MS, 0, NULL), MSG_OK);
}

/* Times out of the loop's order are refused (INVALID_VALUE, naming the
 * field); equal times and absent ones are fine. */
static void import_history_in_order(void **state)
{
    (void)state;
    imports = 0;
    assert_int_equal(import_case(STATE_CLOSED, H0, H0 - 1, H0 + 2, H0 + 3, NULL), ERR_INVALID_VALUE);
    assert_non_null(strstr(g.a.why, "contacted_at"));
    assert_non_null(strstr(g.a.why, "is before received_at"));
    assert_int_equal(import_case(STATE_CLOSED, H0, H0 + 2, H0 + 1, H0 + 3, NULL), ERR_INVALID_VALUE);
    assert_non_null(strstr(g.a.why, "resolved_at"));
    assert_non_null(strstr(g.a.why, "is before contacted_at"));
    assert_int_equal(import_case(STATE_CLOSED, H0, H0 + 1, H0 + 3, H0 + 2, NULL), ERR_INVALID_VALUE);
    assert_non_null(strstr(g.a.why, "is before resolved_at"));
    /* an absent time is skipped: closed is compared with received */
    assert_int_equal(import_case(STATE_CLOSED, H0, 0, 0, H0 - 1, NULL), ERR_INVALID_VALUE);
    assert_non_null(strstr(g.a.why, "closed_at"));
    assert_non_null(strstr(g.a.why, "is before received_at"));
    assert_int_equal(import_case(STATE_RESOLVED, H0, H0 + 5, H0 + 4, 0, NULL), ERR_INVALID_VALUE);
    assert_int_equal(count("cases"), 0);
    assert_int_equal(import_case(STATE_CLOSED, H0, H0, H0, H0, NULL), MSG_OK);
    assert_int_equal(import_case(STATE_CLOSED, H0, 0, H0 + 1, H0 + 2, NULL), MSG_OK);
    /* a known case is answered as before, whatever its times */
    imports--;
    assert_int_equal(import_case(STATE_CLOSED, H0, H0 - 1, 0, 0, NULL), MSG_OK);
    assert_true(g.reply.duplicate);
    assert_int_equal(count("cases"), 2);
}

/* An open case imported as `returned` goes to the manual dispatch centre,
 * as a live RETURNED does: someone re-routes it. */
static void import_returned_goes_to_dispatch(void **state)
{
    (void)state;
    assert_int_equal(import_case(STATE_RETURNED, H0, 0, 0, 0, NULL), MSG_OK);
    uint64_t c = g.reply.case_id;
    assert_string_equal(asgs(c), "1:water:lead:returned:r0,2:dispatch:lead:received:r0");
    assert_string_equal(effects(), "wait:dispatch:2");
    assert_int_equal(case_state(c), STATE_RETURNED);
    assert_string_equal(get_case(c).lead, "dispatch");     /* a redo must not go to water */
    assert_string_equal(new_events(), "imported:water,routed:dispatch");
    dispatched(2, "dispatch:w1#1");
    assert_int_equal(case_state(c), STATE_RETURNED);
    assert_int_equal(outcome(g.dispatch, MSG_ACCEPT, 2), MSG_OK);
    assert_int_equal(case_state(c), STATE_ACCEPTED);
    /* returned by the centre itself: held, as a live one (manual_department_return_holds) */
    assert_int_equal(import_case(STATE_RETURNED, H0, 0, 0, 0, "dispatch"), MSG_OK);
    c = g.reply.case_id;
    assert_string_equal(asgs(c), "3:dispatch:lead:returned:r0");
    assert_string_equal(effects(), "");
    assert_string_equal(get_case(c).lead, "dispatch");
}

/* auto_close closes a case as of resolved_at + auto_close, the time the rule
 * closed it, not the pass that does it: a case imported as resolved months
 * ago does not count as closed in the month of the import. */
static void auto_close_at_its_due_time(void **state)
{
    (void)state;
    g.cfg->auto_close_ms = 3 * DAY_MS;
    /* a live case (assignment 1), its timer late by an hour (the broker was stopped) */
    uint64_t c = resolved_water_case();
    int64_t resolved = get_case(c).resolved_at;
    pass_begin();
    assert_int_equal(pass_end(apply_timer(&g.a, c, TIMERS_CLOSE)), MSG_OK);
    assert_int_equal(case_state(c), STATE_RESOLVED);        /* not due yet */
    g.now = resolved + 3 * DAY_MS + 3600000 - 1000;
    pass_begin();
    assert_int_equal(pass_end(apply_timer(&g.a, c, TIMERS_CLOSE)), MSG_OK);
    assert_int_equal(case_state(c), STATE_CLOSED);
    assert_int_equal(get_case(c).closed_at, resolved + 3 * DAY_MS);
    /* imported as resolved a month ago */
    assert_int_equal(import_case(STATE_RESOLVED, H0, 0, H0 + DAY_MS, 0, NULL), MSG_OK);
    c = g.reply.case_id;
    pass_begin();
    assert_int_equal(pass_end(apply_timer(&g.a, c, TIMERS_CLOSE)), MSG_OK);
    store_case_t k = get_case(c);
    assert_int_equal(k.state, STATE_CLOSED);
    assert_int_equal(k.closed_at, H0 + 4 * DAY_MS);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(submit_creates_case),
        T(submit_routes_by_service_code),
        T(submit_duplicate),
        T(submit_resend_gets_first_answer),
        T(outcomes_to_resolved),
        T(repeated_msg_id_applied_once),
        T(wrong_department_refused),
        T(illegal_transition_refused),
        T(returned_goes_to_dispatch),
        T(manual_department_return_holds),
        T(co_return_goes_to_dispatch),
        T(co_return_keeps_case_state),
        T(reassign_returned_case),
        T(reassign_replaces_lead_only),
        T(long_history_still_settles),
        T(reassign_moves_one_share),
        T(feedback_unsatisfied_redoes),
        T(feedback_unsatisfied_reopens_closed),
        T(redo_after_lead_removed),
        T(close_only_resolved),
        T(cancel_withdraws_everything),
        T(dispatched_counts_attempts),
        T(dispatched_attempts_stop_at_the_limit),
        T(escalation_waits_for_the_deadline_to_pass),
        T(import_requires_time_of_state),
        T(import_history_in_order),
        T(import_returned_goes_to_dispatch),
        T(auto_close_at_its_due_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
