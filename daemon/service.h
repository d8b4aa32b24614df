/*
 * service.h - what systemd sees of the broker (Type=notify): READY=1 once
 * the database is open and every socket is bound, STATUS= lines, WATCHDOG=1
 * from the event loop itself (so a stuck loop is restarted), RELOADING=1 and
 * STOPPING=1. Each call does nothing when not run by systemd.
 */
#ifndef MQ_SERVICE_H
#define MQ_SERVICE_H

#include <stdint.h>

/* Tell systemd the broker is serving, with a status line. */
void service_ready(const char *status);
/* Still starting, and making progress: systemd's start timeout is moved to
 * ms from now (EXTEND_TIMEOUT_USEC), for a long integrity check or migration. */
void service_extend_start(int64_t ms);
/* Update the status line ("open 120, overdue 3, workers 8"). */
void service_status(const char *status);
/* The watchdog kick interval in ms (half of WatchdogSec), or 0 when off. */
int64_t service_watchdog_ms(void);
/* Kick the watchdog. */
void service_watchdog(void);
/* Reload started / finished (READY=1 again). */
void service_reloading(void);
void service_reloaded(const char *status);
/* Shutdown started. */
void service_stopping(void);
/* Still stopping, and making progress: systemd's stop timeout is moved to ms
 * from now, for the last checkpoint of a large WAL (which a SIGKILL would
 * leave for the next start to replay, many times slower). */
void service_extend_stop(int64_t ms);

#endif
