/*
 * service.c - the systemd notification protocol, through libsystemd's
 * sd_notify (see service.h). Kept in one file so the whole contract with
 * the service manager can be read at a glance.
 */
#include "service.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>

void service_ready(const char *status)
{
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void service_extend_start(int64_t ms)
{
    sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%lld\nSTATUS=starting: checking and loading the database",
               (long long)ms * 1000);
}

void service_status(const char *status)
{
    sd_notifyf(0, "STATUS=%s", status);
}

int64_t service_watchdog_ms(void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0)
        return 0;
    return (int64_t)(usec / 2000);      /* kick twice per period */
}

void service_watchdog(void)
{
    sd_notify(0, "WATCHDOG=1");
}

void service_reloading(void)
{
    sd_notify(0, "RELOADING=1\nSTATUS=reloading the configuration");
}

void service_reloaded(const char *status)
{
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void service_stopping(void)
{
    sd_notify(0, "STOPPING=1\nSTATUS=stopping: finishing the transaction in hand");
}

void service_extend_stop(int64_t ms)
{
    sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%lld\nSTATUS=stopping: copying the WAL into the database",
               (long long)ms * 1000);
}
