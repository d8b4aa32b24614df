/*
 * simworker.c - a simulated department worker on libminqing: it takes each
 * assignment through the configured steps (accept, contacted, resolved) and
 * logs every outcome it sends, so tests can compare the database with what
 * workers really said. Also the demo worker of `make run` (with -D).
 */
#include "minqing.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void usage(void)
{
    fprintf(stderr,
        "usage: simworker -e ENDPOINT -d DEPT [-c CAPACITY] [-s STEPS] [-o LOGFILE]\n"
        "                 [-n NAME] [-D DELAY_MS] [-x EXIT_AFTER] [-L LATFILE]\n"
        "  STEPS: comma-separated of accept, contacted, progress, resolved, returned\n"
        "  (default accept,contacted,resolved; '-' holds assignments without a word).\n"
        "  Logs 'assignment_id case_id step attempt' per assignment received and outcome sent. -x exits after that many\n"
        "  distinct cases (a case delivered again counts once). SIGTERM/SIGINT: flush\n"
        "  outcomes and leave.\n"
        "  -L (benchmarks, with `loadgen -M`): writes one line per case at its first\n"
        "  delivery, the CLOCK_MONOTONIC ns from its ' mono_ns=NS' stamp to its receipt;\n"
        "  only stamped cases count for -x and taken (not loadgen's warm-up case);\n"
        "  waits up to 60 s for the last acks and prints 'simworker: NAME taken=N\n"
        "  unacked=N refused=N done_mono_ns=NS' (when the last outcome was acknowledged).\n");
    exit(2);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The send time loadgen -M put at the end of the description, or -1. */
static int64_t stamp_of(const char *desc)
{
    const char *p = desc ? strstr(desc, " mono_ns=") : NULL;
    if (!p)
        return -1;
    char *end;
    long long v = strtoll(p + 9, &end, 10);
    return end == p + 9 ? -1 : (int64_t)v;
}

/* The cases taken, by case_id (never 0), in a set with open addressing: the
 * broker may deliver a case again (after a lost session, sometimes with the
 * same attempt), and `taken`, -x and -L count each case once. */
typedef struct {
    uint64_t *slot;             /* 0: empty */
    size_t cap, len;            /* cap a power of two, at most half full */
} seen_t;

static size_t seen_at(const seen_t *s, uint64_t id)
{
    size_t i = (size_t)((id * 0x9E3779B97F4A7C15u) >> 32) & (s->cap - 1);
    while (s->slot[i] && s->slot[i] != id)
        i = (i + 1) & (s->cap - 1);
    return i;
}

/* true when id was not in the set (it is now) */
static bool seen_add(seen_t *s, uint64_t id)
{
    if (2 * (s->len + 1) > s->cap) {
        seen_t big = {calloc(s->cap ? 2 * s->cap : 1024, sizeof *big.slot),
                      s->cap ? 2 * s->cap : 1024, s->len};
        if (!big.slot) {
            perror("simworker");
            exit(1);
        }
        for (size_t i = 0; i < s->cap; i++)
            if (s->slot[i])
                big.slot[seen_at(&big, s->slot[i])] = s->slot[i];
        free(s->slot);
        *s = big;
    }
    size_t i = seen_at(s, id);
    if (s->slot[i])
        return false;
    s->slot[i] = id;
    s->len++;
    return true;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int step(mq_worker_t *w, const char *s, const mq_assignment_t *a, char *summary)
{
    if (strcmp(s, "accept") == 0) return mq_worker_accept(w, a->assignment_id);
    if (strcmp(s, "contacted") == 0) return mq_worker_contacted(w, a->assignment_id, "已电话联系居民");
    if (strcmp(s, "progress") == 0) return mq_worker_progress(w, a->assignment_id, "正在处理");
    if (strcmp(s, "returned") == 0)
        return mq_worker_returned(w, a->assignment_id, RETURN_WRONG_DEPARTMENT, "非本部门职责");
    if (strcmp(s, "resolved") == 0) {
        sprintf(summary, "已处理完毕：案件%" PRIu64, a->case_id);
        return mq_worker_resolved(w, a->assignment_id, "fixed", summary);
    }
    return -1;
}

int main(int argc, char **argv)
{
    const char *endpoint = NULL, *dept = NULL, *logpath = NULL, *name = "sim", *latpath = NULL;
    char steps[256] = "accept,contacted,resolved";
    long capacity = 8, delay = 0, exit_after = 0;
    int opt;
    while ((opt = getopt(argc, argv, "e:d:c:s:o:n:D:x:L:h")) != -1) {
        switch (opt) {
        case 'e': endpoint = optarg; break;
        case 'd': dept = optarg; break;
        case 'c': capacity = atol(optarg); break;
        case 's': snprintf(steps, sizeof steps, "%s", optarg); break;
        case 'o': logpath = optarg; break;
        case 'n': name = optarg; break;
        case 'D': delay = atol(optarg); break;
        case 'x': exit_after = atol(optarg); break;
        case 'L': latpath = optarg; break;
        default: usage();
        }
    }
    if (!endpoint || !dept || capacity < 1)
        usage();
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    FILE *log = logpath ? fopen(logpath, "a") : NULL;
    FILE *lat = latpath ? fopen(latpath, "w") : NULL;
    if (latpath && !lat) {
        perror(latpath);
        return 1;
    }
    mq_worker_t *w = mq_worker_new(endpoint, dept, (unsigned)capacity, name);
    if (!w) {
        fprintf(stderr, "simworker: %s\n", mq_strerror());
        return 1;
    }
    mq_assignment_t a;
    mq_escalation_t e;
    long taken = 0;
    seen_t seen = {NULL, 0, 0};
    char summary[128], list[256];
    while (!stop) {
        int got = mq_worker_next(w, &a, &e, 200);
        if (got == MQ_ESCALATION) {
            mq_worker_ack_escalation(w, &e);
            if (log) {
                fprintf(log, "%" PRIu64 " %" PRIu64 " escalation L%u %s %s %s\n", e.escalation_id,
                        e.case_id, e.level, msg_ladder_names[e.ladder], e.target, e.street);
                fflush(log);
            }
            continue;
        }
        if (got != MQ_ASSIGNMENT)
            continue;
        /* with -L only stamped cases count: loadgen -M's warm-up case has no
         * stamp, and is worked through but not counted. The set is kept only
         * when something counts (-x, -L): a demo worker runs for long. */
        int64_t sent = lat ? stamp_of(a.kase.description) : -1;
        if ((exit_after || lat) && (!lat || sent >= 0) && seen_add(&seen, a.case_id)) {
            if (lat)
                fprintf(lat, "%" PRId64 "\n", now_ns() - sent);
            taken++;
        }
        if (log)
            fprintf(log, "%" PRIu64 " %" PRIu64 " received %u\n", a.assignment_id, a.case_id, a.attempt);
        snprintf(list, sizeof list, "%s", steps);
        for (char *save, *s = strtok_r(list, ",", &save); s && strcmp(s, "-"); s = strtok_r(NULL, ",", &save)) {
            if (delay)
                sleep_ms(delay);
            if (step(w, s, &a, summary) != 0) {
                fprintf(stderr, "simworker: %s on %" PRIu64 ": %s\n", s, a.assignment_id, mq_strerror());
                continue;
            }
            if (log)
                fprintf(log, "%" PRIu64 " %" PRIu64 " %s %u\n", a.assignment_id, a.case_id, s, a.attempt);
        }
        if (log)
            fflush(log);
        if (exit_after && taken >= exit_after)
            break;
    }
    mq_worker_flush(w, lat ? 60000 : 3000);
    if (lat) {
        printf("simworker: %s taken=%ld unacked=%u refused=%u done_mono_ns=%" PRId64 "\n", name,
               taken, mq_worker_unacked(w), mq_worker_refused(w), now_ns());
        fclose(lat);
    }
    mq_worker_destroy(&w);
    free(seen.slot);
    if (log)
        fclose(log);
    return 0;
}
