/*
 * deadline.c - due times of cases (see deadline.h).
 */
#include "deadline.h"

int64_t deadline_add(const calendar_t *cal, const config_dur_t *d, int64_t start)
{
    switch (d->kind) {
    case DUR_WORKDAYS: return calendar_add_workdays(cal, start, d->amount);
    case DUR_WORKHOURS: return calendar_add_workhours(cal, start, d->amount);
    case DUR_WALL: break;
    }
    return d->amount > INT64_MAX - start ? INT64_MAX : start + d->amount;   /* saturate */
}

int64_t deadline_due(const config_t *cfg, int ladder, const char *service_code, int priority,
                     int64_t start)
{
    const config_dur_t *d = config_deadline(cfg, ladder, service_code, priority);
    return d ? deadline_add(&cfg->calendar, d, start) : 0;
}
