/*
 * test_escalation.c - unit tests for the escalation ladder (daemon/escalation.c).
 *
 * When a case's deadline passes it climbs a ladder (community secretary,
 * street office, county supervision, 社区书记 -> 街道 -> 督办), with optional
 * reminders (催办) before the deadline. escalation_next decides which rung
 * fires next and when; a mistake skips a rung, repeats one, or fires a
 * reminder after the deadline. The config is built by hand here (no
 * config_load), so only the ladder logic is under test, plus the journald
 * priority of each level that operations staff filter on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <syslog.h>

#include "escalation.h"
#include "msg.h"

#define MIN_MS (60 * 1000LL)

static config_level_t contact[] = {
    {0, "community", -1},
    {1000, "street", -1},
    {2000, "county", 3},
};

static config_level_t resolve[] = {
    {-30 * MIN_MS, "community", -1},        /* 催办 half an hour before */
    {-5 * MIN_MS, "community", -1},
    {0, "street", -1},
    {24 * 60 * MIN_MS, "county", 2},
};

/* A config with only the ladders set. */
static void make_config(config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->ladders[LADDER_CONTACT] = contact;
    cfg->nlevels[LADDER_CONTACT] = sizeof contact / sizeof *contact;
    cfg->ladders[LADDER_RESOLVE] = resolve;
    cfg->nlevels[LADDER_RESOLVE] = sizeof resolve / sizeof *resolve;
}

static void next_climbs_the_ladder(void **state)
{
    (void)state;
    config_t cfg;
    make_config(&cfg);
    const int64_t due = 1790000000000LL;
    int level = -1;
    int64_t at = -1;
    assert_true(escalation_next(&cfg, LADDER_CONTACT, due, 0, &level, &at));
    assert_int_equal(level, 1);
    assert_int_equal(at, due);
    assert_true(escalation_next(&cfg, LADDER_CONTACT, due, 1, &level, &at));
    assert_int_equal(level, 2);
    assert_int_equal(at, due + 1000);
    assert_true(escalation_next(&cfg, LADDER_CONTACT, due, 2, &level, &at));
    assert_int_equal(level, 3);
    assert_int_equal(at, due + 2000);
}

static void next_done_after_last_rung(void **state)
{
    (void)state;
    config_t cfg;
    make_config(&cfg);
    int level = -7;
    int64_t at = -7;
    assert_false(escalation_next(&cfg, LADDER_CONTACT, 1000, 3, &level, &at));
    assert_false(escalation_next(&cfg, LADDER_CONTACT, 1000, 4, &level, &at));
    assert_false(escalation_next(&cfg, LADDER_CONTACT, 1000, 1000000, &level, &at));
    assert_false(escalation_next(&cfg, LADDER_RESOLVE, 1000, 4, &level, &at));
    assert_int_equal(level, -7);                /* untouched when false */
    assert_int_equal(at, -7);
}

static void next_without_deadline(void **state)
{
    (void)state;
    config_t cfg;
    make_config(&cfg);
    int level = -7;
    int64_t at = -7;
    /* due 0: the case has no deadline on this ladder */
    assert_false(escalation_next(&cfg, LADDER_CONTACT, 0, 0, &level, &at));
    assert_false(escalation_next(&cfg, LADDER_RESOLVE, 0, 0, &level, &at));
    assert_false(escalation_next(&cfg, LADDER_CONTACT, 0, 2, &level, &at));
    assert_int_equal(level, -7);
    assert_int_equal(at, -7);
}

static void next_bad_ladder_or_fired(void **state)
{
    (void)state;
    config_t cfg;
    make_config(&cfg);
    int level;
    int64_t at;
    assert_false(escalation_next(&cfg, LADDER_NONE, 1000, 0, &level, &at));
    assert_false(escalation_next(&cfg, LADDER_COUNT, 1000, 0, &level, &at));
    assert_false(escalation_next(&cfg, -1, 1000, 0, &level, &at));
    assert_false(escalation_next(&cfg, 99, 1000, 0, &level, &at));
    assert_false(escalation_next(&cfg, LADDER_CONTACT, 1000, -1, &level, &at));
    assert_false(escalation_next(&cfg, LADDER_CONTACT, 1000, -100, &level, &at));
}

static void empty_ladder(void **state)
{
    (void)state;
    config_t cfg;
    make_config(&cfg);
    cfg.ladders[LADDER_RESOLVE] = NULL;
    cfg.nlevels[LADDER_RESOLVE] = 0;
    int level;
    int64_t at;
    assert_false(escalation_next(&cfg, LADDER_RESOLVE, 1000, 0, &level, &at));
    assert_null(escalation_level(&cfg, LADDER_RESOLVE, 1));
    assert_true(escalation_next(&cfg, LADDER_CONTACT, 1000, 0, &level, &at));
}

static void reminders_before_deadline(void **state)
{
    (void)state;
    config_t cfg;
    make_config(&cfg);
    const int64_t due = 1790000000000LL;
    int level, fired = 0;
    int64_t at, prev = INT64_MIN;
    int64_t want[] = {due - 30 * MIN_MS, due - 5 * MIN_MS, due, due + 24 * 60 * MIN_MS};
    while (escalation_next(&cfg, LADDER_RESOLVE, due, fired, &level, &at)) {
        assert_int_equal(level, fired + 1);
        assert_int_equal(at, want[fired]);
        assert_true(at > prev);                 /* in order */
        if (fired < 2)
            assert_true(at < due);              /* the reminders come first */
        prev = at;
        fired++;
        assert_true(fired <= 4);
    }
    assert_int_equal(fired, 4);
}

static void ladders_are_separate(void **state)
{
    (void)state;
    config_t cfg;
    make_config(&cfg);
    int level;
    int64_t at;
    assert_true(escalation_next(&cfg, LADDER_RESOLVE, 5000000, 0, &level, &at));
    assert_int_equal(at, 5000000 - 30 * MIN_MS);
    assert_true(escalation_next(&cfg, LADDER_CONTACT, 5000000, 0, &level, &at));
    assert_int_equal(at, 5000000);
    /* the contact ladder is done at 3, the resolve ladder is not */
    assert_false(escalation_next(&cfg, LADDER_CONTACT, 5000000, 3, &level, &at));
    assert_true(escalation_next(&cfg, LADDER_RESOLVE, 5000000, 3, &level, &at));
    assert_int_equal(level, 4);
}

static void level_lookup(void **state)
{
    (void)state;
    config_t cfg;
    make_config(&cfg);
    const config_level_t *l = escalation_level(&cfg, LADDER_CONTACT, 1);
    assert_ptr_equal(l, &contact[0]);
    assert_string_equal(l->target, "community");
    l = escalation_level(&cfg, LADDER_CONTACT, 3);
    assert_ptr_equal(l, &contact[2]);
    assert_string_equal(l->target, "county");
    assert_int_equal(l->dept, 3);
    assert_int_equal(l->offset_ms, 2000);
    assert_ptr_equal(escalation_level(&cfg, LADDER_RESOLVE, 4), &resolve[3]);
}

static void level_out_of_range(void **state)
{
    (void)state;
    config_t cfg;
    make_config(&cfg);
    assert_null(escalation_level(&cfg, LADDER_CONTACT, 0));
    assert_null(escalation_level(&cfg, LADDER_CONTACT, -1));
    assert_null(escalation_level(&cfg, LADDER_CONTACT, 4));
    assert_null(escalation_level(&cfg, LADDER_CONTACT, 1 << 30));
    assert_null(escalation_level(&cfg, LADDER_RESOLVE, 5));
    assert_null(escalation_level(&cfg, LADDER_NONE, 1));
    assert_null(escalation_level(&cfg, LADDER_COUNT, 1));
    assert_null(escalation_level(&cfg, -1, 1));
    assert_null(escalation_level(&cfg, 1000, 1));
}

/* A reload or restart with a changed ladder: each count of fired rungs moves
 * to after the same offset on the new ladder, so nothing already fired
 * repeats and nothing after it is skipped. */
static void remap_after_the_last_fired_offset(void **state)
{
    (void)state;
    config_t cfg;
    make_config(&cfg);                  /* contact: 0 community, 1s street, 2s county */
    int map[8];
    /* the same ladder: counts stay */
    escalation_rung_t same[] = {{0, "community"}, {1000, "street"}, {2000, "county"}};
    escalation_remap(&cfg, LADDER_CONTACT, same, 3, map);
    for (int k = 0; k <= 3; k++)
        assert_int_equal(map[k], k);
    /* the old ladder lacked the street rung: a case past community (1) has
     * street next, one past county (2) has nothing left */
    escalation_rung_t no_street[] = {{0, "community"}, {2000, "county"}};
    escalation_remap(&cfg, LADDER_CONTACT, no_street, 2, map);
    assert_int_equal(map[0], 0);
    assert_int_equal(map[1], 1);
    assert_int_equal(map[2], 3);
    /* the old ladder had a rung at 500 ms that is gone, and a reminder
     * before the deadline: fired through 500 ms is fired through community */
    escalation_rung_t more[] = {{-MIN_MS, "reminder"}, {0, "community"}, {500, "office"},
                                {1000, "street"}};
    escalation_remap(&cfg, LADDER_CONTACT, more, 4, map);
    assert_int_equal(map[1], 0);        /* the reminder: nothing on the new ladder yet */
    assert_int_equal(map[2], 1);
    assert_int_equal(map[3], 1);        /* street at 1s is still ahead */
    assert_int_equal(map[4], 2);
    /* a rung of another target at 1500 ms, gone: fired through it is fired
     * through street at 1s (by its offset), before 2s county */
    escalation_rung_t gone[] = {{0, "community"}, {1500, "district"}};
    escalation_remap(&cfg, LADDER_CONTACT, gone, 2, map);
    assert_int_equal(map[2], 2);
    /* to an empty ladder, everything counts 0 */
    cfg.nlevels[LADDER_RESOLVE] = 0;
    escalation_remap(&cfg, LADDER_RESOLVE, same, 3, map);
    assert_int_equal(map[3], 0);
}

/* A rung moved later (`2 = 500ms street` became `2 = 1s street`): a case that
 * fired it has told the street office already, and must not tell it again. */
static void remap_a_moved_rung_counts_as_fired(void **state)
{
    (void)state;
    config_t cfg;
    make_config(&cfg);                  /* contact: 0 community, 1s street, 2s county */
    int map[8];
    escalation_rung_t earlier[] = {{0, "community"}, {500, "street"}, {2000, "county"}};
    escalation_remap(&cfg, LADDER_CONTACT, earlier, 3, map);
    assert_int_equal(map[1], 1);
    assert_int_equal(map[2], 2);        /* street fired: county next */
    assert_int_equal(map[3], 3);
    /* moved past a rung inserted between: that one is passed over with it */
    escalation_rung_t first[] = {{0, "community"}, {500, "county"}};
    escalation_remap(&cfg, LADDER_CONTACT, first, 2, map);
    assert_int_equal(map[1], 1);
    assert_int_equal(map[2], 3);
    /* community and county fired, and the new ladder puts street, not yet
     * told, between community and county: street comes next, and county is
     * told again after it, rather than street never */
    escalation_rung_t swapped[] = {{0, "community"}, {500, "county"}, {3000, "street"}};
    escalation_remap(&cfg, LADDER_CONTACT, swapped, 3, map);
    assert_int_equal(map[1], 1);
    assert_int_equal(map[2], 1);
    assert_int_equal(map[3], 3);
    /* community and county fired, and street, not yet told, moved from after
     * county to before it (county kept its offset): street fires late, and
     * county, its rung unchanged, is not told again (its row exists), rather
     * than street never */
    escalation_rung_t moved_ahead[] = {{0, "community"}, {2000, "county"}, {3000, "street"}};
    escalation_remap(&cfg, LADDER_CONTACT, moved_ahead, 3, map);
    assert_int_equal(map[1], 1);
    assert_int_equal(map[2], 1);
    assert_int_equal(map[3], 3);
    /* a target twice on the ladder (催办 reminders, 30 and 5 minutes before):
     * the first moved from 40 to 30 minutes before is the one a case fired,
     * and the second still comes */
    escalation_rung_t reminders[] = {{-40 * MIN_MS, "community"}, {-5 * MIN_MS, "community"},
                                     {0, "street"}, {24 * 60 * MIN_MS, "county"}};
    escalation_remap(&cfg, LADDER_RESOLVE, reminders, 4, map);
    for (int k = 0; k <= 4; k++)
        assert_int_equal(map[k], k);
    /* the first reminder removed: the second is the same rung, still ahead
     * of a case that fired only the first */
    escalation_rung_t two[] = {{-30 * MIN_MS, "community"}, {-5 * MIN_MS, "community"}};
    config_level_t *was = cfg.ladders[LADDER_RESOLVE];
    size_t nwas = cfg.nlevels[LADDER_RESOLVE];
    cfg.ladders[LADDER_RESOLVE] = resolve + 1, cfg.nlevels[LADDER_RESOLVE] = nwas - 1;
    escalation_remap(&cfg, LADDER_RESOLVE, two, 2, map);
    assert_int_equal(map[1], 0);
    assert_int_equal(map[2], 1);
    cfg.ladders[LADDER_RESOLVE] = was, cfg.nlevels[LADDER_RESOLVE] = nwas;
}

/* By the rung's place at or after the deadline: the resolve ladder's two
 * reminders are warnings and do not push its later rungs up (its first rung
 * after the deadline is a warning, its second err), as numbering them would;
 * a level no ladder has goes by its number. */
static void priorities(void **state)
{
    (void)state;
    config_t cfg;
    make_config(&cfg);
    assert_int_equal(escalation_priority(&cfg, LADDER_CONTACT, 1), LOG_WARNING);
    assert_int_equal(escalation_priority(&cfg, LADDER_CONTACT, 2), LOG_ERR);
    assert_int_equal(escalation_priority(&cfg, LADDER_CONTACT, 3), LOG_CRIT);
    assert_int_equal(escalation_priority(&cfg, LADDER_RESOLVE, 1), LOG_WARNING);
    assert_int_equal(escalation_priority(&cfg, LADDER_RESOLVE, 2), LOG_WARNING);
    assert_int_equal(escalation_priority(&cfg, LADDER_RESOLVE, 3), LOG_WARNING);
    assert_int_equal(escalation_priority(&cfg, LADDER_RESOLVE, 4), LOG_ERR);
    assert_int_equal(escalation_priority(&cfg, LADDER_CONTACT, 4), LOG_CRIT);
    assert_int_equal(escalation_priority(&cfg, LADDER_CONTACT, 1000), LOG_CRIT);
}

static void message_id_format(void **state)
{
    (void)state;
    /* journald wants 128 bits as 32 lowercase hex digits */
    const char *id = ESCALATION_MESSAGE_ID;
    assert_int_equal(strlen(id), 32);
    for (const char *p = id; *p; p++)
        assert_true((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(next_climbs_the_ladder),
        cmocka_unit_test(next_done_after_last_rung),
        cmocka_unit_test(next_without_deadline),
        cmocka_unit_test(next_bad_ladder_or_fired),
        cmocka_unit_test(empty_ladder),
        cmocka_unit_test(reminders_before_deadline),
        cmocka_unit_test(ladders_are_separate),
        cmocka_unit_test(level_lookup),
        cmocka_unit_test(level_out_of_range),
        cmocka_unit_test(remap_after_the_last_fired_offset),
        cmocka_unit_test(remap_a_moved_rung_counts_as_fired),
        cmocka_unit_test(priorities),
        cmocka_unit_test(message_id_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
