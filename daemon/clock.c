/*
 * clock.c - a wall clock that follows the monotonic clock and absorbs steps
 * of the system clock slowly (see clock.h for the rule and why).
 */
#include "clock.h"

#include <time.h>

#define SLEW_DIVISOR 100            /* absorb at most 1/100 of elapsed time */

static int64_t read_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t real_wall(void *arg) { (void)arg; return read_clock(CLOCK_REALTIME); }
/* CLOCK_BOOTTIME: unlike CLOCK_MONOTONIC it keeps counting while the host is
 * suspended or the VM paused, so deadlines are not late by the pause */
static int64_t real_mono(void *arg) { (void)arg; return read_clock(CLOCK_BOOTTIME); }

void clock_init(mqclock_t *c, clock_source_t wall, clock_source_t mono, void *arg)
{
    c->wall = wall ? wall : real_wall;
    c->mono = mono ? mono : real_mono;
    c->arg = arg;
    c->now_us = c->wall(c->arg);
    c->last_mono = c->mono(c->arg);
    c->slew_budget = 0;
}

int64_t clock_now(mqclock_t *c)
{
    int64_t mono = c->mono(c->arg);
    int64_t elapsed = mono - c->last_mono;
    if (elapsed < 0)
        elapsed = 0;                /* cannot happen with CLOCK_MONOTONIC; be safe */
    c->last_mono = mono;
    int64_t est = c->now_us + elapsed;
    /* room to slew is 1% of elapsed time, kept across readings so that a
     * clock read every few microseconds still absorbs a step */
    c->slew_budget += elapsed;
    int64_t room = c->slew_budget / SLEW_DIVISOR;
    c->slew_budget -= room * SLEW_DIVISOR;
    int64_t diff = c->wall(c->arg) - est;
    if (diff > room)
        diff = room;
    if (diff < -room)
        diff = -room;
    c->now_us = est + diff;         /* diff >= -room > -elapsed: never backwards */
    return c->now_us / 1000;
}

int64_t clock_mono(const mqclock_t *c)
{
    return c->mono(c->arg) / 1000;
}

int64_t clock_skew(const mqclock_t *c)
{
    return (c->wall(c->arg) - c->now_us) / 1000;
}
