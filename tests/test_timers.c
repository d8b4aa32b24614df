/*
 * test_timers.c - unit tests for the deadline heap (daemon/timers.c).
 *
 * The broker sleeps until the heap's earliest entry and wakes only for it,
 * so a heap that pops out of order fires an escalation late (or, for the
 * timers behind it, never until something else wakes the broker). The tests
 * compare the pop order with qsort on the same 100,000 random entries, check
 * ties, the packing of case id and ladder into 16 bytes, the empty heap, the
 * memory accounting, and run a small broker loop against a fake clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timers.h"

#define MAX_CASE ((1ULL << 53) - 1)     /* case ids are exact in a double */

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint64_t next_rand(void)         /* xorshift64 */
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static int cmp_entry(const void *a, const void *b)
{
    const timers_entry_t *x = a, *y = b;
    if (x->due != y->due)
        return x->due < y->due ? -1 : 1;
    return (x->key > y->key) - (x->key < y->key);
}

static void empty_heap(void **state)
{
    (void)state;
    timers_t *t = timers_new();
    assert_non_null(t);
    timers_entry_t e = {42, 42};
    assert_int_equal(timers_count(t), 0);
    assert_false(timers_peek(t, &e));
    assert_false(timers_pop(t, &e));
    assert_int_equal(e.due, 42);            /* untouched */
    assert_int_equal(e.key, 42);
    assert_true(timers_bytes(t) > 0);
    /* emptied again after use */
    assert_int_equal(timers_push(t, 5, 7, 1), 0);
    assert_true(timers_pop(t, &e));
    assert_false(timers_pop(t, &e));
    assert_false(timers_peek(t, &e));
    assert_int_equal(timers_count(t), 0);
    timers_destroy(&t);
    assert_null(t);
    timers_destroy(&t);                     /* harmless on NULL */
    timers_destroy(NULL);
}

static void pop_order_is_sort_order(void **state)
{
    (void)state;
    enum { N = 100000 };
    timers_entry_t *want = malloc(N * sizeof *want);
    assert_non_null(want);
    timers_t *t = timers_new();
    assert_non_null(t);
    for (int i = 0; i < N; i++) {
        /* many equal dues (about 20 per ms value) so ties are exercised,
         * some far apart, some negative */
        int64_t due = (int64_t)(next_rand() % 5000);
        if (i % 10 == 0)
            due = (int64_t)(next_rand() % (1ULL << 45)) - (1LL << 40);
        uint64_t case_id = next_rand() % 1000 == 0 ? MAX_CASE : next_rand() % (MAX_CASE + 1);
        if (i % 7 == 0)
            case_id = next_rand() % 50;     /* equal keys too */
        int ladder = 1 + (int)(next_rand() % 3);
        assert_int_equal(timers_push(t, due, case_id, ladder), 0);
        want[i].due = due;
        want[i].key = case_id << 2 | (uint64_t)ladder;
    }
    assert_int_equal(timers_count(t), N);
    qsort(want, N, sizeof *want, cmp_entry);
    for (int i = 0; i < N; i++) {
        timers_entry_t peeked, got;
        assert_true(timers_peek(t, &peeked));
        assert_true(timers_pop(t, &got));
        assert_memory_equal(&peeked, &got, sizeof got);
        if (got.due != want[i].due || got.key != want[i].key) {
            print_error("entry %d: got (%lld, %llu), want (%lld, %llu)\n", i, (long long)got.due,
                        (unsigned long long)got.key, (long long)want[i].due,
                        (unsigned long long)want[i].key);
            free(want);
            timers_destroy(&t);
            fail();
        }
        assert_int_equal(timers_count(t), (size_t)(N - i - 1));
    }
    assert_false(timers_pop(t, &(timers_entry_t){0, 0}));
    free(want);
    timers_destroy(&t);
}

/* Pushes and pops interleaved, each pop checked against a plain array. */
static void interleaved_push_pop(void **state)
{
    (void)state;
    enum { CAP = 4096, OPS = 60000 };
    timers_entry_t *ref = malloc(CAP * sizeof *ref);
    assert_non_null(ref);
    size_t n = 0;
    timers_t *t = timers_new();
    for (int op = 0; op < OPS; op++) {
        bool push = n == 0 || (n < CAP && next_rand() % 5 < 3);
        if (push) {
            int64_t due = (int64_t)(next_rand() % 300);
            uint64_t case_id = next_rand() % 100;
            int ladder = 1 + (int)(next_rand() % 3);
            assert_int_equal(timers_push(t, due, case_id, ladder), 0);
            ref[n].due = due, ref[n].key = case_id << 2 | (uint64_t)ladder;
            n++;
        } else {
            size_t min = 0;
            for (size_t i = 1; i < n; i++)
                if (cmp_entry(&ref[i], &ref[min]) < 0)
                    min = i;
            timers_entry_t got;
            assert_true(timers_pop(t, &got));
            assert_int_equal(got.due, ref[min].due);
            assert_int_equal(got.key, ref[min].key);
            ref[min] = ref[--n];
        }
        assert_int_equal(timers_count(t), n);
    }
    free(ref);
    timers_destroy(&t);
}

static void ties_broken_by_key(void **state)
{
    (void)state;
    timers_t *t = timers_new();
    /* one due, pushed in descending key order */
    for (int c = 9; c >= 0; c--)
        for (int l = 3; l >= 1; l--)
            assert_int_equal(timers_push(t, 1000, (uint64_t)c, l), 0);
    assert_int_equal(timers_push(t, 999, 100, 3), 0);     /* earlier due wins */
    assert_int_equal(timers_push(t, 1001, 0, 1), 0);      /* later loses */
    timers_entry_t e;
    assert_true(timers_pop(t, &e));
    assert_int_equal(e.due, 999);
    assert_int_equal(timers_case(&e), 100);
    for (int c = 0; c <= 9; c++)
        for (int l = 1; l <= 3; l++) {
            assert_true(timers_pop(t, &e));
            assert_int_equal(e.due, 1000);
            assert_int_equal(timers_case(&e), c);        /* by case, then ladder */
            assert_int_equal(timers_ladder(&e), l);
        }
    assert_true(timers_pop(t, &e));
    assert_int_equal(e.due, 1001);
    assert_false(timers_pop(t, &e));
    timers_destroy(&t);
}

static void duplicates_kept(void **state)
{
    (void)state;
    /* the same hint twice is two entries (the database dedups) */
    timers_t *t = timers_new();
    assert_int_equal(timers_push(t, 10, 5, 1), 0);
    assert_int_equal(timers_push(t, 10, 5, 1), 0);
    assert_int_equal(timers_count(t), 2);
    timers_entry_t a, b;
    assert_true(timers_pop(t, &a));
    assert_true(timers_pop(t, &b));
    assert_memory_equal(&a, &b, sizeof a);
    timers_destroy(&t);
}

static void case_and_ladder_round_trip(void **state)
{
    (void)state;
    static const uint64_t cases[] = {
        0, 1, 2, 3, 4, 1000000, 4294967295ULL, 4294967296ULL, (1ULL << 52) + 1, MAX_CASE - 1,
        MAX_CASE,
    };
    timers_t *t = timers_new();
    int64_t due = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (int l = 1; l <= TIMERS_CLOSE; l++)
            assert_int_equal(timers_push(t, due++, cases[i], l), 0);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (int l = 1; l <= TIMERS_CLOSE; l++) {
            timers_entry_t e;
            assert_true(timers_pop(t, &e));
            assert_int_equal(timers_case(&e), cases[i]);
            assert_int_equal(timers_ladder(&e), l);
        }
    /* and on random ids, through the heap */
    assert_int_equal(timers_count(t), 0);
    for (int i = 0; i < 10000; i++) {
        uint64_t c = next_rand() % (MAX_CASE + 1);
        int l = 1 + (int)(next_rand() % 3);
        int64_t when = (int64_t)(next_rand() % 1000);
        assert_int_equal(timers_push(t, when, c, l), 0);
        timers_entry_t e;
        assert_true(timers_pop(t, &e));
        assert_int_equal(e.due, when);
        assert_int_equal(timers_case(&e), c);
        assert_int_equal(timers_ladder(&e), l);
    }
    timers_destroy(&t);
}

static void entry_is_16_bytes(void **state)
{
    (void)state;
    assert_int_equal(sizeof(timers_entry_t), 16);
}

static void count_and_bytes_grow(void **state)
{
    (void)state;
    timers_t *t = timers_new();
    size_t empty = timers_bytes(t), prev = empty;
    bool grew = false;
    for (int i = 0; i < 5000; i++) {
        assert_int_equal(timers_push(t, 5000 - i, (uint64_t)i, 1), 0);
        assert_int_equal(timers_count(t), (size_t)i + 1);
        size_t b = timers_bytes(t);
        assert_true(b >= prev);                          /* never shrinks on push */
        assert_true(b >= empty + timers_count(t) * sizeof(timers_entry_t));
        /* no more than double the entries plus a first block of 1024 */
        assert_true(b <= empty + 2 * (timers_count(t) + 1024) * sizeof(timers_entry_t));
        grew |= b > prev && i > 0;
        prev = b;
    }
    assert_true(prev > empty);
    assert_true(grew);                                   /* it grew past the first block */
    for (int i = 0; i < 5000; i++) {
        timers_entry_t e;
        assert_true(timers_pop(t, &e));
        assert_int_equal(e.due, i + 1);
        assert_int_equal(timers_count(t), (size_t)(4999 - i));
        assert_true(timers_bytes(t) >= empty);
    }
    timers_destroy(&t);
}

/* ---- a broker loop against a fake clock ------------------------------- */

enum { NCASES = 500, RUNGS = 3 };

typedef struct {
    int64_t deadline;                   /* the "database row" */
    int fired;                          /* rungs fired */
    bool contacted;                     /* contacted: the ladder stops */
} fake_case_t;

/* Escalations fire in time order, none early, none later than one tick,
 * none missed, and stale hints (contacted cases) fire nothing. */
static void escalations_fire_in_time_order(void **state)
{
    (void)state;
    static fake_case_t cases[NCASES + 1];
    memset(cases, 0, sizeof cases);
    timers_t *t = timers_new();
    int64_t now = 1790000000000LL;      /* fake clock, unix ms */
    const int64_t tick = 250, rung_gap = 60 * 1000;
    int expected = 0;
    for (int id = 1; id <= NCASES; id++) {
        cases[id].deadline = now + (int64_t)(next_rand() % (3600 * 1000));
        cases[id].contacted = id % 5 == 0;              /* every fifth is contacted */
        assert_int_equal(timers_push(t, cases[id].deadline, (uint64_t)id, 1), 0);
        if (!cases[id].contacted)
            expected += RUNGS;
    }
    int fired = 0;
    int64_t last_at = 0;
    for (int64_t end = now + 2 * 3600 * 1000; now < end; now += tick) {
        timers_entry_t e;
        while (timers_peek(t, &e) && e.due <= now) {
            assert_true(timers_pop(t, &e));
            assert_int_equal(timers_ladder(&e), 1);
            fake_case_t *c = &cases[timers_case(&e)];
            if (c->contacted)
                continue;                               /* a stale hint: nothing */
            int64_t at = c->deadline + c->fired * rung_gap;
            assert_int_equal(e.due, at);
            assert_true(now >= at && now < at + tick);  /* in time */
            assert_true(at >= last_at);                 /* in order */
            last_at = at;
            fired++;
            if (++c->fired < RUNGS)
                assert_int_equal(timers_push(t, at + rung_gap, timers_case(&e), 1), 0);
        }
        timers_entry_t next;
        if (timers_peek(t, &next))
            assert_true(next.due > now);                /* nothing overdue is left */
    }
    assert_int_equal(fired, expected);
    assert_int_equal(timers_count(t), 0);
    for (int id = 1; id <= NCASES; id++)
        assert_int_equal(cases[id].fired, cases[id].contacted ? 0 : RUNGS);
    timers_destroy(&t);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_heap),
        cmocka_unit_test(pop_order_is_sort_order),
        cmocka_unit_test(interleaved_push_pop),
        cmocka_unit_test(ties_broken_by_key),
        cmocka_unit_test(duplicates_kept),
        cmocka_unit_test(case_and_ladder_round_trip),
        cmocka_unit_test(entry_is_16_bytes),
        cmocka_unit_test(count_and_bytes_grow),
        cmocka_unit_test(escalations_fire_in_time_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
