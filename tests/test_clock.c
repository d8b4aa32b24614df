/*
 * test_clock.c - unit tests for the broker's clock (daemon/clock.c).
 *
 * Escalation deadlines are absolute wall-clock times; if the clock followed
 * a step of the system clock (NTP, `date -s`) an hour of escalations would
 * fire at once or be skipped. clock.h promises a clock that moves at the
 * monotonic rate, absorbs any disagreement with the system clock at most 1%
 * of elapsed time, converges, and never goes backwards. The tests drive it
 * with injected wall and monotonic sources (plain variables in µs) and check
 * each promise reading by reading.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"

#define MS 1000LL                       /* µs */
#define SEC (1000 * MS)
#define HOUR (3600 * SEC)

/* The injected "system clock" and monotonic clock, in µs. */
static int64_t wall_us, mono_us;
static int calls;                       /* source calls that saw the right arg */
static int token;                       /* its address is the arg */

static int64_t fake_wall(void *arg)
{
    calls += arg == &token;
    return wall_us;
}

static int64_t fake_mono(void *arg)
{
    calls += arg == &token;
    return mono_us;
}

/* Both clocks at a 2026 date and an arbitrary monotonic origin. */
static void start(mqclock_t *c)
{
    wall_us = 1790000000LL * SEC + 123456;
    mono_us = 987654321LL;
    calls = 0;
    clock_init(c, fake_wall, fake_mono, &token);
}

/* Let `us` of time pass on both clocks. */
static void tick(int64_t us)
{
    wall_us += us;
    mono_us += us;
}

static int64_t skew_us(const mqclock_t *c)
{
    return wall_us - c->now_us;
}

static void init_at_wall(void **state)
{
    (void)state;
    mqclock_t c;
    start(&c);
    assert_int_equal(c.now_us, wall_us);
    assert_int_equal(c.last_mono, mono_us);
    assert_int_equal(clock_skew(&c), 0);
    assert_int_equal(clock_now(&c), wall_us / 1000);
    assert_true(calls > 0);                 /* the sources get the arg */
}

static void no_step_follows_wall(void **state)
{
    (void)state;
    mqclock_t c;
    start(&c);
    uint64_t x = 88172645463325252ULL;      /* xorshift64 */
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        tick((int64_t)(x % (3 * SEC)));     /* 0 to 3 s, any number of µs */
        assert_int_equal(clock_now(&c), wall_us / 1000);
        assert_int_equal(c.now_us, wall_us);
        assert_int_equal(clock_skew(&c), 0);
    }
}

static void step_forward_slews_slowly(void **state)
{
    (void)state;
    mqclock_t c;
    start(&c);
    tick(5 * SEC);
    assert_int_equal(clock_now(&c), wall_us / 1000);
    wall_us += HOUR;                        /* the system clock jumps an hour ahead */
    assert_int_equal(clock_skew(&c), HOUR / 1000);
    int64_t before = c.now_us, prev_skew = skew_us(&c);
    for (int i = 0; i < 100; i++) {         /* 10 s in readings 100 ms apart */
        int64_t was = c.now_us;
        tick(100 * MS);
        int64_t now_ms = clock_now(&c);
        assert_int_equal(now_ms, c.now_us / 1000);
        assert_true(c.now_us - was >= 100 * MS);
        assert_true(c.now_us - was <= 100 * MS + 1 * MS);    /* 1% of 100 ms */
        assert_true(skew_us(&c) < prev_skew);               /* the skew shrinks */
        prev_skew = skew_us(&c);
    }
    int64_t advanced = c.now_us - before;
    assert_true(advanced >= 10 * SEC);
    assert_true(advanced <= 10 * SEC + 100 * MS);
    assert_int_equal(advanced, 10 * SEC + 100 * MS);        /* the full 1% is used */
    assert_int_equal(clock_skew(&c), (HOUR - 100 * MS) / 1000);
}

/* Run 1 s readings until the clock meets the wall; the number of readings. */
static long converge(mqclock_t *c, long limit)
{
    long n = 0;
    while (skew_us(c) != 0 && n < limit) {
        int64_t was = c->now_us;
        tick(SEC);
        clock_now(c);
        int64_t adv = c->now_us - was;
        assert_true(adv >= SEC - SEC / 100);
        assert_true(adv <= SEC + SEC / 100);
        n++;
    }
    return n;
}

static void step_forward_converges(void **state)
{
    (void)state;
    mqclock_t c;
    start(&c);
    wall_us += HOUR;
    long n = converge(&c, 100 * 3600 + 10);
    /* 1% of each second absorbs an hour in exactly 100 hours */
    assert_int_equal(n, 100 * 3600);
    assert_int_equal(clock_skew(&c), 0);
    for (int i = 0; i < 10; i++) {          /* then it follows the wall again */
        tick(1234567);
        assert_int_equal(clock_now(&c), wall_us / 1000);
    }
}

static void step_backward_never_backwards(void **state)
{
    (void)state;
    mqclock_t c;
    start(&c);
    tick(SEC);
    clock_now(&c);
    wall_us -= HOUR;                        /* the system clock jumps an hour back */
    assert_int_equal(clock_skew(&c), -HOUR / 1000);
    int64_t before = c.now_us, prev_ms = clock_now(&c);
    assert_int_equal(c.now_us, before);     /* no time passed: no change */
    for (int i = 0; i < 10000; i++) {       /* 10 s in readings 1 ms apart */
        int64_t was = c.now_us;
        tick(MS);
        int64_t now_ms = clock_now(&c);
        assert_true(now_ms >= prev_ms);
        assert_true(c.now_us >= was + MS - MS / 100);       /* at least 99% */
        assert_true(c.now_us <= was + MS);
        prev_ms = now_ms;
    }
    assert_int_equal(c.now_us - before, 10 * SEC - 100 * MS);
    assert_int_equal(clock_skew(&c), -(HOUR - 100 * MS) / 1000);
    /* and it converges from below too */
    long n = converge(&c, 100 * 3600 + 10);
    assert_true(n <= 100 * 3600);
    assert_int_equal(clock_skew(&c), 0);
}

static void small_step_absorbed_at_once(void **state)
{
    (void)state;
    mqclock_t c;
    start(&c);
    wall_us += 5 * MS;                      /* less than 1% of the next second */
    tick(SEC);
    assert_int_equal(clock_now(&c), wall_us / 1000);
    assert_int_equal(clock_skew(&c), 0);
    wall_us -= 7 * MS;
    tick(SEC);
    assert_int_equal(clock_now(&c), wall_us / 1000);
    assert_int_equal(clock_skew(&c), 0);
}

/* Whatever the system clock does, every reading moves the clock by the
 * elapsed monotonic time, give or take 1% of it, toward the system clock
 * and never past it, and never backwards. */
static void slew_bounded_per_reading(void **state)
{
    (void)state;
    mqclock_t c;
    start(&c);
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    int64_t prev_ms = clock_now(&c), total_elapsed = 0, total_slew = 0;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t elapsed = (int64_t)(x % (2 * SEC));
        tick(elapsed);
        if (x % 97 == 0)                    /* now and then a step either way */
            wall_us += (int64_t)((x >> 20) % (4 * HOUR)) - 2 * HOUR;
        int64_t was = c.now_us, skew = wall_us - (was + elapsed);   /* to absorb */
        int64_t now_ms = clock_now(&c);
        int64_t adv = c.now_us - was, slew = adv - elapsed;
        assert_true(now_ms >= prev_ms);
        assert_true(adv >= 0);
        /* 1% at µs resolution: rounding may carry a µs from reading to
         * reading, but never more than 1% in total */
        assert_true(slew <= (elapsed + 99) / 100 && slew >= -((elapsed + 99) / 100));
        total_elapsed += elapsed;
        total_slew += slew < 0 ? -slew : slew;
        assert_true(total_slew <= total_elapsed / 100);
        /* the slew goes toward the wall, never past it */
        int64_t left = skew_us(&c);
        if (skew > 0)
            assert_true(left >= 0 && left <= skew);
        else
            assert_true(left <= 0 && left >= skew);
        prev_ms = now_ms;
    }
}

/* The monotonic source going nowhere (or backwards) moves nothing, whatever
 * the wall says. */
static void mono_stalled(void **state)
{
    (void)state;
    mqclock_t c;
    start(&c);
    int64_t t0 = c.now_us;
    wall_us += HOUR;
    for (int i = 0; i < 10; i++)
        assert_int_equal(clock_now(&c), t0 / 1000);
    mono_us -= 10 * SEC;
    assert_int_equal(clock_now(&c), t0 / 1000);
    assert_int_equal(c.now_us, t0);
    mono_us += 10 * SEC;                    /* back where it was: 10 s more */
    tick(SEC);
    clock_now(&c);
    assert_true(c.now_us - t0 >= 11 * SEC && c.now_us - t0 <= 11 * SEC + 110 * MS);
}

static void mono_in_ms(void **state)
{
    (void)state;
    mqclock_t c;
    start(&c);
    mono_us = 123456789;
    assert_int_equal(clock_mono(&c), 123456);
    mono_us = 999;
    assert_int_equal(clock_mono(&c), 0);
    mono_us = 5 * 24 * HOUR + 1;
    assert_int_equal(clock_mono(&c), 5 * 24 * 3600 * 1000LL);
    /* reading it moves nothing */
    assert_int_equal(c.last_mono, 987654321LL);
}

/* A busy broker reads the clock many times per millisecond; the absorption
 * must not stall then (1% of 1 s is 10 ms however the second is sliced). */
static void frequent_readings_still_slew(void **state)
{
    (void)state;
    mqclock_t c;
    start(&c);
    wall_us += HOUR;
    int64_t skew0 = skew_us(&c);
    for (int i = 0; i < 20000; i++) {       /* 1 s in readings 50 µs apart */
        tick(50);
        clock_now(&c);
    }
    int64_t absorbed = skew0 - skew_us(&c);
    if (absorbed < 9 * MS)
        print_error("absorbed %lld µs of the step in 1 s, want ~10 ms\n", (long long)absorbed);
    assert_true(absorbed >= 9 * MS);
    assert_true(absorbed <= 10 * MS);
}

static void real_sources(void **state)
{
    (void)state;
    mqclock_t c;
    clock_init(&c, NULL, NULL, NULL);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t sys_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    int64_t now = clock_now(&c);
    assert_true(now > 1600000000000LL);
    assert_true(now - sys_ms < 5000 && sys_ms - now < 5000);
    int64_t prev = now;
    for (int i = 0; i < 1000; i++) {
        now = clock_now(&c);
        assert_true(now >= prev);
        prev = now;
    }
    int64_t m1 = clock_mono(&c), m2 = clock_mono(&c);
    assert_true(m1 >= 0 && m2 >= m1);
    int64_t skew = clock_skew(&c);
    assert_true(skew < 5000 && skew > -5000);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_at_wall),
        cmocka_unit_test(no_step_follows_wall),
        cmocka_unit_test(step_forward_slews_slowly),
        cmocka_unit_test(step_forward_converges),
        cmocka_unit_test(step_backward_never_backwards),
        cmocka_unit_test(small_step_absorbed_at_once),
        cmocka_unit_test(slew_bounded_per_reading),
        cmocka_unit_test(mono_stalled),
        cmocka_unit_test(mono_in_ms),
        cmocka_unit_test(frequent_readings_still_slew),
        cmocka_unit_test(real_sources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
