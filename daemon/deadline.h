/*
 * deadline.h - when a case is due: the contact deadline (网格员30分钟内联系居民)
 * and the resolution deadline, from the config's most specific rule for the
 * case's service code and priority, counted in wall time or in the work
 * calendar. Pure.
 */
#ifndef MQ_DEADLINE_H
#define MQ_DEADLINE_H

#include "config.h"

/* start + d, in wall time or in the calendar's working days or hours. */
int64_t deadline_add(const calendar_t *cal, const config_dur_t *d, int64_t start);
/* The due time of a case on a ladder (LADDER_CONTACT or LADDER_RESOLVE)
 * counted from start; 0 when no rule applies (that ladder does not run). */
int64_t deadline_due(const config_t *cfg, int ladder, const char *service_code, int priority,
                     int64_t start);

#endif
