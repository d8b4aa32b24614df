/*
 * fd.h - closing a descriptor the adapter's way. Every fd it holds (pipes,
 * the signalfd) is -1 once closed, so a second close is harmless and a
 * closed pipe drops out of the poll set by itself.
 */
#ifndef ADAPTER_FD_H
#define ADAPTER_FD_H

#include <unistd.h>

/* Close *fd if it is open, and mark it closed (-1). */
static inline void fd_close(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

#endif
