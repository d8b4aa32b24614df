/*
 * test_notices.c - unit tests for the list of ESCALATE notices on their way
 * to supervision workers (daemon/notices.c), against a real store in a
 * temporary directory.
 *
 * A notice that slips off this list is an escalation that no supervisor
 * hears of; one that never leaves it is resent every 5 s for ever. So the
 * tests check that only the target department's ACK takes a notice off,
 * that the resend waits its interval, that a full list holds notices back
 * and later reloads them from the database without resending the ones
 * already out, that a failed reload keeps the list, and that notices of a
 * department gone from the config move to the one [targets] names, in the
 * database too.
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
#include "cases.h"
#include "notices.h"
#include "testconf.h"

#define CONFIG                                          \
    TESTCONF_BROKER                                     \
    "[departments]\n"                                   \
    "dispatch = 12345派单中心\n"                         \
    "water = 水务局\n"                                   \
    "sup = 督办科\n"                                     \
    "sup2 = 街道督办\n"                                  \
    "[routes]\n"                                        \
    "water.leak = water\n"                              \
    "default = dispatch\n"                              \
    "[targets]\n"                                       \
    "community = sup\n"                                 \
    "street = sup2\n"

static struct {
    char dir[64], path[128];
    store_t *st;
    config_t *cfg;
    notices_t *n;
} g;

static int setup(void **state)
{
    (void)state;
    char err[512];
    snprintf(g.dir, sizeof g.dir, "/tmp/mq-test-notices-XXXXXX");
    if (!mkdtemp(g.dir))
        return -1;
    snprintf(g.path, sizeof g.path, "%s/minqing.db", g.dir);
    g.st = store_open(g.path, err, sizeof err);
    g.cfg = config_load_string(CONFIG, "test.conf", err, sizeof err);
    g.n = notices_new(4);
    if (g.st && g.cfg && g.n)
        return 0;
    fprintf(stderr, "setup: %s\n", err);
    return -1;
}

static int teardown(void **state)
{
    (void)state;
    notices_destroy(&g.n);
    assert_null(g.n);
    config_destroy(&g.cfg);
    store_close(&g.st);
    tmpdir_remove(g.dir);
    return 0;
}

/* A fired escalation of a new case, for department `notify`, in the store. */
static fired_t fire(const char *notify, const char *target)
{
    store_escalation_t e = {.level = 1, .ladder = LADDER_CONTACT, .target = target,
                            .department = "water", .notify = notify, .due_at = 2000,
                            .fired_at = 3000, .overdue_s = 1, .offset_ms = 0};
    assert_int_equal(store_begin(g.st), 0);
    e.case_id = cases_insert(g.st, "water", STATE_RECEIVED);
    assert_int_equal(store_escalation_add(g.st, &e), 1);
    assert_int_equal(store_commit(g.st), 0);
    fired_t f = {.id = e.id, .case_id = e.case_id, .level = 1, .ladder = LADDER_CONTACT};
    snprintf(f.target, sizeof f.target, "%s", target);
    snprintf(f.target_dept, sizeof f.target_dept, "%s", notify);
    return f;
}

static void acked(uint64_t id)
{
    assert_int_equal(store_begin(g.st), 0);
    assert_int_equal(store_escalation_notified(g.st, id, 5000), 1);
    assert_int_equal(store_commit(g.st), 0);
}

static int sql(const char *q)
{
    sqlite3 *db;
    if (sqlite3_open(g.path, &db) != SQLITE_OK)
        return -1;
    int rc = sqlite3_exec(db, q, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

static int count_sql(const char *q)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int n = -1;
    if (sqlite3_open(g.path, &db) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static uint64_t due_ids(int64_t now, uint64_t *ids, size_t max)
{
    size_t pos = 0, k = 0;
    notice_t *x;
    while ((x = notices_next_due(g.n, &pos, now)) && k < max)
        ids[k++] = x->fired.id;
    return k;
}

/* Only the target department's ACK takes a notice off; another's keeps it
 * (it would silence a supervisor for good), and a second ACK finds nothing. */
static void only_its_department_takes_it(void **state)
{
    (void)state;
    fired_t a = fire("sup", "community"), b = fire("sup", "community");
    assert_true(notices_add(g.n, &a));
    assert_true(notices_add(g.n, &b));
    assert_int_equal(notices_take(g.n, b.id, "water"), -1);
    assert_int_equal(notices_count(g.n), 2);
    assert_int_equal(notices_take(g.n, b.id, "sup"), 1);
    assert_int_equal(notices_count(g.n), 1);
    assert_int_equal(notices_take(g.n, b.id, "sup"), 0);
    assert_int_equal(notices_take(g.n, a.id + 100, "sup"), 0);
    uint64_t ids[4];
    assert_int_equal(due_ids(0, ids, 4), 1);
    assert_int_equal(ids[0], a.id);
}

/* A new notice is due at once; a sent one again only after the interval. */
static void resent_after_the_interval(void **state)
{
    (void)state;
    fired_t a = fire("sup", "community"), b = fire("sup", "community");
    notices_add(g.n, &a);
    notices_add(g.n, &b);
    size_t pos = 0;
    notice_t *first = notices_next_due(g.n, &pos, 10000);
    assert_non_null(first);
    first->sent = 10000;
    uint64_t ids[4];
    assert_int_equal(due_ids(10000 + NOTICES_RESEND_MS - 1, ids, 4), 1);
    assert_int_equal(ids[0], b.id);
    assert_int_equal(due_ids(10000 + NOTICES_RESEND_MS, ids, 4), 2);
}

/* Past `max` notices wait in the database; once half the list is
 * acknowledged a reload brings them in, and the ones sent before keep their
 * last send, so only the held ones go out at once. */
static void full_list_holds_back_then_reloads(void **state)
{
    (void)state;
    fired_t f[6];
    for (int i = 0; i < 6; i++)
        f[i] = fire("sup", "community");
    assert_int_equal(notices_reload(g.n, g.st), 0);     /* as at start */
    assert_int_equal(notices_count(g.n), 4);
    assert_true(notices_held(g.n));
    assert_false(notices_reload_due(g.n));
    assert_false(notices_add(g.n, &f[5]));
    size_t pos = 0;
    notice_t *x;
    while ((x = notices_next_due(g.n, &pos, 20000)))
        x->sent = 20000, x->tries = 3;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(notices_take(g.n, f[i].id, "sup"), 1);
        acked(f[i].id);
    }
    assert_true(notices_reload_due(g.n));
    assert_int_equal(notices_reload(g.n, g.st), 0);
    assert_int_equal(notices_count(g.n), 4);
    assert_false(notices_held(g.n));
    uint64_t ids[6];
    assert_int_equal(due_ids(20001, ids, 6), 2);        /* the two held back */
    assert_int_equal(ids[0], f[4].id);
    assert_int_equal(ids[1], f[5].id);
    pos = 0;
    while ((x = notices_next_due(g.n, &pos, 30000)))
        if (x->fired.id == f[2].id)
            assert_int_equal(x->tries, 3);
}

/* A reload the database refuses keeps the list as it was, still held. */
static void failed_reload_keeps_the_list(void **state)
{
    (void)state;
    fired_t a = fire("sup", "community");
    notices_add(g.n, &a);
    notices_hold(g.n);
    assert_int_equal(sql("ALTER TABLE escalations RENAME TO escalations_away"), 0);
    assert_int_equal(notices_reload(g.n, g.st), -1);
    assert_int_equal(notices_count(g.n), 1);
    assert_true(notices_held(g.n));
    assert_int_equal(sql("ALTER TABLE escalations_away RENAME TO escalations"), 0);
    assert_int_equal(notices_reload(g.n, g.st), 0);
    assert_false(notices_held(g.n));
    assert_int_equal(notices_take(g.n, a.id, "sup"), 1);
}

/* A department gone from the config: its notices go to the department
 * [targets] names for their rung's target, in the database too; those whose
 * target has none stay, counted as stranded. */
static void gone_department_retargeted(void **state)
{
    (void)state;
    fired_t moved = fire("oldsup", "street"), stuck = fire("oldsup", "county"),
            kept = fire("sup", "street");
    notices_add(g.n, &moved);
    notices_add(g.n, &stuck);
    notices_add(g.n, &kept);
    assert_int_equal(notices_stranded(g.n, g.cfg), 2);
    assert_int_equal(notices_retarget(g.n, g.st, g.cfg), 1);
    assert_int_equal(notices_stranded(g.n, g.cfg), 1);
    assert_int_equal(count_sql("SELECT count(*) FROM escalations WHERE notify = 'sup2'"), 1);
    assert_int_equal(count_sql("SELECT count(*) FROM escalations WHERE notify = 'oldsup'"), 1);
    assert_int_equal(notices_take(g.n, moved.id, "oldsup"), -1);
    assert_int_equal(notices_take(g.n, moved.id, "sup2"), 1);
    assert_int_equal(notices_take(g.n, kept.id, "sup"), 1);      /* not moved: sup is here */
    assert_int_equal(notices_retarget(g.n, g.st, g.cfg), 0);    /* nothing left to move */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(only_its_department_takes_it, setup, teardown),
        cmocka_unit_test_setup_teardown(resent_after_the_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(full_list_holds_back_then_reloads, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_reload_keeps_the_list, setup, teardown),
        cmocka_unit_test_setup_teardown(gone_department_retargeted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
