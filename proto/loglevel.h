/*
 * loglevel.h - syslog's levels by name. The broker and minqing-worker both
 * take --log-level and both write severity= in their logfmt lines: one table
 * keeps the two speaking the same names.
 */
#ifndef MQ_LOGLEVEL_H
#define MQ_LOGLEVEL_H

#include <stdbool.h>

/* The level of a name ("debug", "info", "notice", "warning", "err" or
 * "error", "crit"); -1 if unknown. */
int loglevel_from_name(const char *name);
/* The name of a level, as a log line's severity= ("emerg" ... "debug"). */
const char *loglevel_name(int level);
/* True when standard error is systemd's journal stream (JOURNAL_STREAM names
 * fd 2's device and inode), so that a record can give the journal its
 * priority rather than land at the unit's default. */
bool loglevel_stderr_is_journal(void);

#endif
