/*
 * adapter.h - the state of one minqing-worker, shared by the modules that
 * take work from the broker (delivery), run it (run), and end it (settle).
 * One loop owns it (main.c), and nothing else runs at the same time, so the
 * modules read and change it without locks.
 */
#ifndef ADAPTER_ADAPTER_H
#define ADAPTER_ADAPTER_H

#include "job.h"
#include "minqing.h"
#include "seen.h"
#include "wconfig.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    wconfig_t *cfg;
    mq_worker_t *w;
    job_t *jobs, **tail;            /* waiting and running, in arrival order */
    long running;
    int sig_fd;                     /* signalfd: SIGCHLD, SIGTERM, SIGINT */
    bool stopping;
    int64_t stop_at;
    unsigned refused;               /* mq_worker_refused already logged */
    seen_t *seen;                   /* assignments finished, or left open, here */
} adapter_t;

#endif
