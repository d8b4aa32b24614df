/*
 * test_ratelimit.c - unit tests for the intake rate limiter
 * (daemon/ratelimit.c): `rate` messages a second per peer with a burst of
 * one second's worth, refilled as time passes; peers whose ids land in one
 * slot of the fixed-size table each keep a bucket of their own, and when
 * more than the table can hold are active at once, sharing buys no rate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "ratelimit.h"

#define SLOTS 16

static int allowed(ratelimit_t *r, const char *id, int64_t now, int rate, int tries)
{
    int n = 0;
    for (int i = 0; i < tries; i++)
        n += ratelimit_allow(r, id, strlen(id), now, rate);
    return n;
}

static void burst_then_refill(void **state)
{
    (void)state;
    ratelimit_t *r = ratelimit_new(SLOTS);
    assert_non_null(r);
    assert_int_equal(allowed(r, "client-a", 1000, 10, 50), 10);     /* one second's worth */
    assert_int_equal(allowed(r, "client-a", 1500, 10, 50), 5);      /* half a second later */
    assert_int_equal(allowed(r, "client-b", 1500, 10, 50), 10);     /* another connection */
    ratelimit_destroy(&r);
    assert_null(r);
}

/* The table's slot of an id: FNV-1a, as ratelimit.c hashes (white box: the
 * test needs two ids that collide). */
static size_t slot_of(const char *id)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = id; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    return (size_t)(h & (SLOTS - 1));
}

/* n ids (peer-0 first) that all land in the slot of "peer-0". */
static void colliding_ids(char ids[][24], int n)
{
    snprintf(ids[0], 24, "peer-0");
    for (int i = 1, k = 1; k < n && i < 100000; i++) {
        char c[24];
        snprintf(c, sizeof c, "peer-%d", i);
        if (slot_of(c) == slot_of("peer-0"))
            snprintf(ids[k++], 24, "%s", c);
    }
    assert_true(ids[n - 1][0]);
}

/* Two ids that land in one slot keep a bucket each: a client sending under
 * its rate is not refused because another one, in the same slot, floods
 * (the reviewer's hotline gateway got 301 at 3 a second so). */
static void colliding_ids_keep_their_own_buckets(void **state)
{
    (void)state;
    char ids[2][24] = {""};
    colliding_ids(ids, 2);
    ratelimit_t *r = ratelimit_new(SLOTS);
    assert_int_equal(allowed(r, ids[1], 5000, 10, 100), 10);   /* the flood: its burst */
    assert_int_equal(allowed(r, ids[0], 5000, 10, 3), 3);      /* the gateway: all */
    assert_int_equal(allowed(r, ids[1], 5100, 10, 100), 1);    /* the flood refills alone */
    ratelimit_destroy(&r);
}

/* More peers in one neighbourhood than the table probes, all active: they
 * share, and alternating among them does not reset a bucket (that gave a
 * client with many connections an unlimited rate). A bucket idle for a
 * second is taken over, full, as a new peer's would be. */
static void crowded_ids_share_without_refilling(void **state)
{
    (void)state;
    enum { N = 12 };
    char ids[N][24] = {{0}};
    colliding_ids(ids, N);
    ratelimit_t *r = ratelimit_new(SLOTS);
    int n = 0;
    for (int round = 0; round < 20; round++)
        for (int i = 0; i < N; i++)
            n += ratelimit_allow(r, ids[i], strlen(ids[i]), 5000, 10);
    assert_true(n <= 8 * 10 + 10);          /* at most the slots' bursts between them */
    assert_int_equal(allowed(r, ids[0], 7000, 10, 50), 10);    /* idle 2 s: a full bucket */
    ratelimit_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_then_refill),
        cmocka_unit_test(colliding_ids_keep_their_own_buckets),
        cmocka_unit_test(crowded_ids_share_without_refilling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
