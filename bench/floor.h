/*
 * floor.h - what the two floor probes share (zmq_hop.c, fsync_floor.c): a
 * monotonic clock in ns, a steady pace, and the percentile line they print.
 * Header-only: each probe is one small program with no library of its own.
 */
#ifndef MQ_BENCH_FLOOR_H
#define MQ_BENCH_FLOOR_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline long long floor_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Sleep until the i-th tick of a pace of `rate` per second from `start`. */
static inline void floor_pace(long long start, int i, int rate)
{
    long long due = start + i * (1000000000LL / rate), wait;
    while ((wait = due - floor_now_ns()) > 0) {
        struct timespec ts = {wait / 1000000000LL, wait % 1000000000LL};
        nanosleep(&ts, NULL);
    }
}

static inline int floor_cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* The p-th percentile (p in thousandths) of n sorted values, in ms: nearest
 * rank, the ceil(n*p)-th value, as bench/run.sh takes it. */
static inline double floor_pct(const long long *d, int n, long long p)
{
    long long i = ((long long)n * p + 999) / 1000 - 1;
    return d[i < 0 ? 0 : i] / 1e6;
}

/* Sort n durations (ns) and print "<what>: p50 .. p90 .. p99 .. p99.9 .. ms". */
static inline void floor_report(const char *what, long long *d, int n)
{
    qsort(d, (size_t)n, sizeof *d, floor_cmp);
    printf("%s: p50 %.3f p90 %.3f p99 %.3f p99.9 %.3f ms\n", what, floor_pct(d, n, 500),
           floor_pct(d, n, 900), floor_pct(d, n, 990), floor_pct(d, n, 999));
}

#endif
