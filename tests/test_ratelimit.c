/*
 * test_ratelimit.c - unit tests for the intake rate limiter
 * (daemon/ratelimit.c): `rate` messages a second per connection with a burst
 * of one second's worth, refilled as time passes, and no way around it by
 * making two connections share a slot of the fixed-size table.
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

/* Two ids that land in one slot: alternating between them must not reset the
 * bucket each time (that gave a client two connections an unlimited rate). */
static void colliding_ids_share_one_bucket(void **state)
{
    (void)state;
    char b[24] = "";
    for (int i = 1; i < 10000 && !*b; i++) {
        char c[24];
        snprintf(c, sizeof c, "peer-%d", i);
        if (slot_of(c) == slot_of("peer-0"))
            snprintf(b, sizeof b, "%s", c);
    }
    assert_true(*b);
    ratelimit_t *r = ratelimit_new(SLOTS);
    int n = 0;
    for (int i = 0; i < 100; i++) {
        const char *id = i % 2 ? b : "peer-0";
        n += ratelimit_allow(r, id, strlen(id), 5000, 10);
    }
    assert_int_equal(n, 10);                /* one bucket's burst between them */
    ratelimit_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_then_refill),
        cmocka_unit_test(colliding_ids_share_one_bucket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
