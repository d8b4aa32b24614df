/*
 * test_requeue.c - unit tests for the dispatch queues rebuilt at a reload
 * that changes the department list (daemon/requeue.c), against a real store
 * in a temporary directory.
 *
 * A slip here strands or duplicates work at the moment an operator edits the
 * departments: an assignment a live worker holds must stay with it (and
 * count against its credit once, not twice), an accepted one whose worker
 * died must stay an orphan with its death time (so a busy colleague
 * registered before the death does not get it), the rest must wait in their
 * department's new queue, those of a removed department are counted, and a
 * failed rebuild must leave every session's count as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"
#include "requeue.h"
#include "testconf.h"
#include "tmpdir.h"

#define DEPTS_OLD "dispatch = 12345派单中心\nwater = 水务局\nurban = 城管局\n"
#define DEPTS_NEW "water = 水务局\ndispatch = 12345派单中心\n"
#define CONFIG(depts)                                   \
    TESTCONF_BROKER                                     \
    "[departments]\n" depts                             \
    "[routes]\n"                                        \
    "default = dispatch\n"

#define DIED_AT 1234            /* monotonic ms: an orphan's holder died */
#define NOW 9000                /* monotonic ms: the reload */

static struct {
    char dir[64], path[128];
    store_t *st;
    config_t *old, *cfg;
    dispatch_t *running;
    sessions_t *sessions;
    session_t *holder;          /* a live water worker */
    int progress;
} g;

static int setup(void **state)
{
    (void)state;
    char err[512] = "";
    snprintf(g.dir, sizeof g.dir, "/tmp/mq-test-requeue-XXXXXX");
    if (!mkdtemp(g.dir))
        return -1;
    snprintf(g.path, sizeof g.path, "%s/minqing.db", g.dir);
    g.st = store_open(g.path, err, sizeof err);
    g.old = config_load_string(CONFIG(DEPTS_OLD), "old.conf", err, sizeof err);
    g.cfg = config_load_string(CONFIG(DEPTS_NEW), "new.conf", err, sizeof err);
    g.running = g.old ? dispatch_new(g.old->ndepts) : NULL;
    g.sessions = sessions_new();
    g.holder = g.sessions ? sessions_add(g.sessions, "w1", 2) : NULL;
    g.progress = 0;
    if (g.st && g.cfg && g.old && g.running && g.holder) {
        g.holder->dept = config_dept_find(g.old, "water");
        g.holder->capacity = 10;
        g.holder->inflight = 5;         /* a count the rebuild must redo */
        return 0;
    }
    fprintf(stderr, "setup: %s\n", err);
    return -1;
}

static int teardown(void **state)
{
    (void)state;
    sessions_destroy(&g.sessions);
    dispatch_destroy(&g.running);
    config_destroy(&g.cfg);
    config_destroy(&g.old);
    store_close(&g.st);
    tmpdir_remove(g.dir);
    return 0;
}

/* An open assignment of dept in `state`, of a new case; its id. */
static uint64_t assignment(const char *dept, msg_state_t state)
{
    store_assignment_t a = {.role = ROLE_LEAD, .state = state, .created_at = 1000,
                            .updated_at = 1000};
    snprintf(a.department, sizeof a.department, "%s", dept);
    assert_int_equal(store_begin(g.st), 0);
    a.case_id = cases_insert(g.st, dept, state);
    if (store_assignment_insert(g.st, &a) != 0)
        fail_msg("assignment insert: %s", store_errmsg(g.st));
    assert_int_equal(store_commit(g.st), 0);
    return a.id;
}

static void count_progress(void *arg)
{
    (void)arg;
    g.progress++;
}

static requeue_from_t from(void)
{
    return (requeue_from_t){g.st, g.running, g.sessions, g.old, g.cfg, NOW, count_progress,
                            NULL};
}

static int64_t orphan_since(dispatch_t *d, uint64_t asg)
{
    dispatch_orphan_t *o;
    long n = dispatch_orphans(d, &o);
    int64_t since = -1;
    for (long i = 0; i < n; i++)
        if (o[i].asg == asg)
            since = o[i].since;
    free(o);
    return since;
}

static void requeue_only_when_the_list_changes(void **state)
{
    (void)state;
    assert_false(requeue_needed(g.old, g.old));
    assert_true(requeue_needed(g.old, g.cfg));      /* one gone, the others renumbered */
}

/* Who holds what, and since when, survives the renumbering; the rest waits
 * or stays an orphan with its holder's death time; a removed department's
 * work is counted. */
static void holders_orphans_and_waiting_kept(void **state)
{
    (void)state;
    uint64_t waiting = assignment("water", STATE_RECEIVED);
    uint64_t held = assignment("water", STATE_ACCEPTED);
    uint64_t orphan = assignment("water", STATE_CONTACTED);
    uint64_t back = assignment("water", STATE_ACCEPTED);    /* in no running queue */
    uint64_t unaccepted = assignment("water", STATE_DISPATCHED);
    assignment("urban", STATE_RECEIVED);
    assert_int_equal(dispatch_bind(g.running, held, g.holder, 4321), 0);
    assert_true(dispatch_mark_accepted(g.running, held));
    assert_int_equal(dispatch_bind(g.running, unaccepted, g.holder, 777), 0);
    assert_int_equal(dispatch_orphan(g.running, config_dept_find(g.old, "water"), orphan,
                                     DIED_AT), 0);
    requeue_t q;
    requeue_from_t f = from();
    assert_int_equal(requeue_build(&q, &f), 0);
    assert_int_equal(q.stranded, 1);
    assert_int_equal(g.progress, 6);
    dispatch_t *fresh = requeue_take(&q);
    assert_non_null(fresh);
    assert_null(q.fresh);
    assert_ptr_equal(dispatch_holder(fresh, held), g.holder);
    assert_int_equal(g.holder->inflight, 2);        /* counted once, by the bind */
    /* the case held unaccepted keeps its time, or a reload would restart
     * (or, at 0, set off) worker.unaccepted's clock (stall.h) */
    assert_int_equal(dispatch_bound_at(fresh, held), 4321);
    assert_int_equal(dispatch_bound_at(fresh, unaccepted), 777);
    dispatch_census(fresh, g.sessions);
    assert_int_equal(g.holder->unaccepted, 1);
    assert_int_equal(g.holder->oldest_asg, unaccepted);
    assert_int_equal(g.holder->oldest_at, 777);
    assert_int_equal(orphan_since(fresh, orphan), DIED_AT);
    assert_int_equal(orphan_since(fresh, back), NOW);
    int water = config_dept_find(g.cfg, "water");
    dispatch_item_t it;
    assert_true(dispatch_take(fresh, water, DIED_AT - 1, &it));     /* before the death: */
    assert_int_equal(it.asg, waiting);                              /* no orphan */
    assert_false(dispatch_take(fresh, water, DIED_AT - 1, &it));
    assert_int_equal(dispatch_waiting(fresh, config_dept_find(g.cfg, "dispatch")), 0);
    dispatch_destroy(&fresh);
}

/* The database fails half-way: nothing changes, every count is put back. */
static void failed_rebuild_changes_nothing(void **state)
{
    (void)state;
    uint64_t held = assignment("water", STATE_ACCEPTED);
    assert_int_equal(dispatch_bind(g.running, held, g.holder, 0), 0);
    uint32_t before = g.holder->inflight;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(g.path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE assignments RENAME TO away", NULL, NULL,
                                  NULL), SQLITE_OK);
    requeue_t q;
    requeue_from_t f = from();
    assert_int_equal(requeue_build(&q, &f), -1);
    assert_null(q.fresh);
    assert_null(q.was);
    assert_int_equal(g.holder->inflight, before);
    assert_ptr_equal(dispatch_holder(g.running, held), g.holder);
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE away RENAME TO assignments", NULL, NULL,
                                  NULL), SQLITE_OK);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(requeue_only_when_the_list_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(holders_orphans_and_waiting_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_rebuild_changes_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
