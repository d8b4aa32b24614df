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
#include <syslog.h>         /* LOG_ERR, LOG_WARNING, ... */

#define WLOG_LINE 4096      /* a record's longest line; the rest is cut */

typedef struct {
    bool on;                /* false when filtered out by level: setters do nothing */
    size_t len;
    char buf[WLOG_LINE];
} wlog_rec_t;

/* Records less severe than level (LOG_INFO until called) are dropped. */
void wlog_set_level(int level);
/* Start a record of event (e.g. "cmd.started") at prio; false when it is dropped. */
bool wlog_begin(wlog_rec_t *r, int prio, const char *event);
/* Add key=value, quoted when it must be; control characters become spaces. */
void wlog_str(wlog_rec_t *r, const char *key, const char *val);
/* Add key=value with the value formatted as by printf (at most 511 bytes). */
__attribute__((format(printf, 3, 4)))
void wlog_fmt(wlog_rec_t *r, const char *key, const char *fmt, ...);
/* Write the record as one line. */
void wlog_end(wlog_rec_t *r);
/* Shorthand: a record of event with one field. */
void wlog_say(int prio, const char *event, const char *key, const char *val);

#endif
