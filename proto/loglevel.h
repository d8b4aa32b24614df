/*
 * loglevel.h - syslog's levels by name. The broker and minqing-worker both
 * take --log-level and both write severity= in their logfmt lines: one table
 * keeps the two speaking the same names.
 */
#ifndef MQ_LOGLEVEL_H
#define MQ_LOGLEVEL_H

/* The level of a name ("debug", "info", "notice", "warning", "err" or
 * "error", "crit"); -1 if unknown. */
int loglevel_from_name(const char *name);
/* The name of a level, as a log line's severity= ("emerg" ... "debug"). */
const char *loglevel_name(int level);

#endif
