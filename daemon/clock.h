/*
 * clock.h - the broker's clock: wall-clock time that moves at the rate of
 * the monotonic clock and never jumps.
 *
 * Deadlines are absolute wall-clock times, so a step of the system clock (an
 * NTP correction, an operator's `date -s`) would otherwise fire an hour of
 * escalations at once, or skip them. The rule: between two readings, this
 * clock advances by the monotonic time that passed; if the system clock then
 * disagrees, the difference is absorbed at most 1% of elapsed time at a time
 * (a one-hour step takes 100 hours to absorb), so escalations never come in
 * a flood; until a step is absorbed, they fire early or late by what is
 * left of it, against the system clock (a restart takes the system time at
 * once: docs/operations.md). It never goes backwards.
 * The sources are injectable so tests can step the "system clock" at will.
 */
#ifndef MQ_CLOCK_H
#define MQ_CLOCK_H

#include <stdint.h>

typedef int64_t (*clock_source_t)(void *arg);   /* microseconds */

typedef struct {
    clock_source_t wall, mono;
    void *arg;
    int64_t now_us;             /* the clock's time: unix µs */
    int64_t last_mono;          /* monotonic µs at the last reading */
    int64_t slew_budget;        /* elapsed µs not yet turned into slewing room */
} mqclock_t;

/* Start the clock at the system time. NULL sources mean CLOCK_REALTIME and
 * CLOCK_BOOTTIME (monotonic, and counting a suspend); tests pass their own. */
void clock_init(mqclock_t *c, clock_source_t wall, clock_source_t mono, void *arg);
/* The clock's time now, in unix ms. */
int64_t clock_now(mqclock_t *c);
/* The monotonic clock in ms (for liveness and intervals). */
int64_t clock_mono(const mqclock_t *c);
/* How far the clock is from the system clock, in ms (positive: behind it). */
int64_t clock_skew(const mqclock_t *c);

#endif
