/*
 * stall.c - workers that hold cases without taking them up (see stall.h).
 *
 * Per case, not per worker: a worker that reports on other cases while one
 * sits untouched is late with that one all the same, and the resident's
 * deadline runs from the case. The census (dispatch_census) finds each
 * worker's oldest unaccepted case; this file only decides when to speak.
 */
#include "stall.h"

int64_t stall_oldest(const session_t *s, int64_t now)
{
    return s->unaccepted ? now - s->oldest_at : 0;
}

void stall_forget(session_t *s)
{
    s->late = false;
    s->late_ended = 0;
}

stall_change_t stall_update(session_t *s, int64_t now, int64_t within_ms)
{
    bool late = within_ms > 0 && s->unaccepted && stall_oldest(s, now) >= within_ms;
    if (late == s->late)
        return STALL_SAME;
    if (late && s->late_ended && now - s->late_ended < within_ms)
        return STALL_SAME;
    s->late = late;
    if (!late)
        s->late_ended = now;
    return late ? STALL_BEGAN : STALL_ENDED;
}
