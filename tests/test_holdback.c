/*
 * test_holdback.c - unit tests for daemon/holdback.c: after a pass that
 * failed to commit, a worker's later outcome of the same assignment waits
 * (500) until the first refused one comes back, so that a CONTACTED refused
 * with the pass is not refused again (203) behind its own RESOLVED.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "holdback.h"

/* The order of a pipelined worker: CONTACTED applied in a pass that fails,
 * RESOLVED already on its way; the RESOLVED waits for the CONTACTED. */
static void later_outcome_waits_for_the_refused_one(void **state)
{
    (void)state;
    holdback_t *h = holdback_new();
    assert_true(holdback_admit(h, 7, "w-1", 0));            /* nothing held: admitted */
    assert_int_equal(holdback_note(h, 7, "w-1"), 0);
    holdback_failed(h, 1000);
    assert_int_equal(holdback_count(h), 1);
    assert_false(holdback_admit(h, 7, "w-2", 1001));         /* the RESOLVED waits */
    assert_true(holdback_admit(h, 8, "x-1", 1001));          /* another assignment does not */
    assert_true(holdback_admit(h, 7, "w-1", 1002));          /* the CONTACTED again: goes */
    assert_int_equal(holdback_count(h), 0);
    assert_true(holdback_admit(h, 7, "w-2", 1003));          /* and then the RESOLVED */
    holdback_destroy(&h);
    assert_null(h);
}

/* Two outcomes of one assignment in the failed pass: the first one is
 * waited for; a committed pass holds nothing. */
static void the_first_refused_outcome_is_the_one_waited_for(void **state)
{
    (void)state;
    holdback_t *h = holdback_new();
    holdback_note(h, 7, "w-1");
    holdback_note(h, 7, "w-2");
    holdback_note(h, 9, "y-1");
    holdback_failed(h, 0);
    holdback_hold(h, 7, "w-3", 0);              /* the failing message itself, after */
    assert_int_equal(holdback_count(h), 2);
    assert_false(holdback_admit(h, 7, "w-2", 10));
    assert_false(holdback_admit(h, 7, "w-3", 10));
    assert_true(holdback_admit(h, 7, "w-1", 10));
    assert_true(holdback_admit(h, 9, "y-1", 10));
    holdback_note(h, 7, "w-2");
    holdback_committed(h);
    holdback_failed(h, 20);                     /* nothing noted since the commit */
    assert_int_equal(holdback_count(h), 0);
    holdback_destroy(&h);
}

/* A worker that never resends (it died) blocks the assignment for
 * HOLDBACK_MS at most; expired holds do not pile up. */
static void a_hold_ends_by_itself(void **state)
{
    (void)state;
    holdback_t *h = holdback_new();
    holdback_hold(h, 7, "w-1", 0);
    assert_false(holdback_admit(h, 7, "other", HOLDBACK_MS - 1));
    assert_true(holdback_admit(h, 7, "other", HOLDBACK_MS));
    for (uint64_t a = 1; a <= 1000; a++)
        holdback_hold(h, a, "m", (int64_t)a);
    assert_int_equal(holdback_count(h), 1000);
    holdback_hold(h, 5000, "m", 10 * HOLDBACK_MS);  /* the rest expired meanwhile */
    assert_int_equal(holdback_count(h), 1);
    /* refused again: the hold waits on from then */
    holdback_hold(h, 5000, "m", 11 * HOLDBACK_MS);
    assert_false(holdback_admit(h, 5000, "n", 12 * HOLDBACK_MS - 1));
    holdback_destroy(&h);
}

/* Many held at once stay findable (the list is searched by halves). */
static void many_holds_are_each_found(void **state)
{
    (void)state;
    holdback_t *h = holdback_new();
    char id[32];
    for (uint64_t a = 2000; a > 0; a -= 2) {                 /* out of order */
        snprintf(id, sizeof id, "m-%llu", (unsigned long long)a);
        holdback_hold(h, a, id, 0);
    }
    assert_int_equal(holdback_count(h), 1000);
    for (uint64_t a = 1; a <= 2000; a++) {
        snprintf(id, sizeof id, "other-%llu", (unsigned long long)a);
        assert_int_equal(holdback_admit(h, a, id, 1), a % 2 == 1);
    }
    for (uint64_t a = 2; a <= 2000; a += 2) {
        snprintf(id, sizeof id, "m-%llu", (unsigned long long)a);
        assert_true(holdback_admit(h, a, id, 1));
    }
    assert_int_equal(holdback_count(h), 0);
    holdback_destroy(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(later_outcome_waits_for_the_refused_one),
        cmocka_unit_test(the_first_refused_outcome_is_the_one_waited_for),
        cmocka_unit_test(a_hold_ends_by_itself),
        cmocka_unit_test(many_holds_are_each_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
