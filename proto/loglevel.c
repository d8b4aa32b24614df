/*
 * loglevel.c - syslog's levels by name (see loglevel.h). In libproto, which
 * the broker links, and linked by minqing-worker too: libminqing hides every
 * name but its API's, so the adapter takes this file from libproto.
 */
#include "loglevel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

int loglevel_from_name(const char *name)
{
    static const struct { const char *n; int l; } t[] = {
        {"debug", LOG_DEBUG}, {"info", LOG_INFO}, {"notice", LOG_NOTICE},
        {"warning", LOG_WARNING}, {"err", LOG_ERR}, {"error", LOG_ERR}, {"crit", LOG_CRIT},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(t[i].n, name) == 0)
            return t[i].l;
    return -1;
}

const char *loglevel_name(int level)
{
    static const char *const names[] = {"emerg", "alert", "crit", "err", "warning",
                                        "notice", "info", "debug"};
    return names[level & 7];
}

bool loglevel_stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}
