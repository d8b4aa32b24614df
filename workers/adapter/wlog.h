/*
 * wlog.h - minqing-worker's log: one logfmt line per record on stderr, which
 * systemd hands to the journal. A record is built field by field and written
 * with one write(2). Fields carry ids and counts, never a resident's data
 * (see main.c).
 */
#ifndef ADAPTER_WLOG_H
#define ADAPTER_WLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>         /* LOG_ERR, LOG_WARNING, ... */

#define WLOG_LINE 4096      /* a record's longest line; the rest is cut */

typedef struct {
    bool on;                /* false when filtered out by level: setters do nothing */
    size_t len;
    char buf[WLOG_LINE];
} wlog_rec_t;

/* A budget of records for a source that may flood the log (a command's
 * stderr): at most `max` in a window of `window_ms` from the first; the
 * ones over it are only counted. Zeroed, it is a fresh budget. */
typedef struct {
    int64_t start;          /* of the window, monotonic ms */
    unsigned used, over;
} wlog_quota_t;

/* Records less severe than level (LOG_INFO until called) are dropped. Also
 * looks whether stderr is the journal: then each line starts "<N>", the
 * record's priority, which journald takes as the entry's (not the unit's
 * default, info), so that `journalctl -p err` shows a worker's errors. */
void wlog_set_level(int level);
/* Start a record of event (e.g. "cmd.started") at prio; false when it is dropped. */
bool wlog_begin(wlog_rec_t *r, int prio, const char *event);
/* Add key=value, quoted when it must be; control characters become spaces.
 * A value that does not fit is cut before the first character that does not
 * fit whole (a UTF-8 sequence is not split), its quotes kept. */
void wlog_str(wlog_rec_t *r, const char *key, const char *val);
/* Add key=value with the value formatted as by printf (at most 511 bytes). */
__attribute__((format(printf, 3, 4)))
void wlog_fmt(wlog_rec_t *r, const char *key, const char *fmt, ...);
/* Write the record as one line. */
void wlog_end(wlog_rec_t *r);
/* Shorthand: a record of event with one field. */
void wlog_say(int prio, const char *event, const char *key, const char *val);
/* Whether one more record of the budget's source may be written at now.
 * *ended: the count over the budget in the window that ended before now, 0
 * when none; the caller logs it. */
bool wlog_quota_take(wlog_quota_t *q, unsigned max, int64_t window_ms, int64_t now,
                     unsigned *ended);
/* The count over the budget in the current window, reset to 0: what the
 * caller logs when its source ends. */
unsigned wlog_quota_end(wlog_quota_t *q);

#endif
