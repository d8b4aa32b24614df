/*
 * stall.c - workers that hold assignments without taking them up (see
 * stall.h).
 *
 * Measured from the later of two times: when the worker last reported an
 * outcome, and when it began to hold unaccepted work. An idle worker that
 * gets a case after a quiet hour is not stalled at once, and a worker that
 * works through a queue, reporting as it goes, never is.
 */
#include "stall.h"

int64_t stall_quiet(const session_t *s, int64_t now)
{
    if (!s->unaccepted || !s->waiting_since)
        return 0;
    int64_t from = s->waiting_since > s->last_outcome ? s->waiting_since : s->last_outcome;
    return now - from;
}

stall_change_t stall_update(session_t *s, int64_t now, int64_t after_ms)
{
    if (!s->unaccepted)
        s->waiting_since = 0;
    else if (!s->waiting_since)
        s->waiting_since = now;
    bool stalled = after_ms > 0 && s->unaccepted && stall_quiet(s, now) >= after_ms;
    if (stalled == s->stalled)
        return STALL_SAME;
    s->stalled = stalled;
    return stalled ? STALL_BEGAN : STALL_ENDED;
}
