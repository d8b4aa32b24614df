/*
 * partial.c - a copy of the database in progress (backup's DEST.partial-,
 * restore's DATABASE.restore-): it holds every resident's personal data
 * under a name nothing else cleans up, so a signal that ends the command
 * (Ctrl-C, systemctl stop, a closed terminal) removes it first, with the
 * -wal, -shm and -journal SQLite may have made beside it. Only SIGKILL or
 * a crash leaves one, which the next backup or restore names.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

static const char *const sides[] = {"-wal", "-shm", "-journal"};
#define NSIDES (sizeof sides / sizeof sides[0])

/* Built before the copy is armed: a handler may only unlink and raise. */
static char copy[4200], copy_side[NSIDES][4300];
static volatile sig_atomic_t armed;
static const int ending[] = {SIGINT, SIGTERM, SIGHUP};
#define NENDING (sizeof ending / sizeof ending[0])
static struct sigaction before[NENDING];

/* Installed with SA_RESETHAND: the raise takes the default action once the
 * handler returns, so the process ends as it would have, by that signal. */
static void on_ending(int sig)
{
    for (size_t i = 0; armed && i < NSIDES; i++)
        unlink(copy_side[i]);       /* unlink and raise are async-signal-safe */
    if (armed)
        unlink(copy);
    raise(sig);
}

void partial_block(sigset_t *old)
{
    sigset_t block;
    sigemptyset(&block);
    for (size_t i = 0; i < NENDING; i++)
        sigaddset(&block, ending[i]);
    sigprocmask(SIG_BLOCK, &block, old);
}

int partial_open(char *tmpl)
{
    sigset_t old;
    partial_block(&old);                /* none between its creation and its arming */
    int fd = mkstemp(tmpl);             /* mode 0600 */
    int e = errno;
    if (fd >= 0) {
        flock(fd, LOCK_EX | LOCK_NB);
        snprintf(copy, sizeof copy, "%s", tmpl);
        for (size_t i = 0; i < NSIDES; i++)
            snprintf(copy_side[i], sizeof copy_side[i], "%s%s", tmpl, sides[i]);
        struct sigaction sa = {.sa_handler = on_ending, .sa_flags = SA_RESETHAND};
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < NENDING; i++)
            if (sigaction(ending[i], NULL, &before[i]) == 0 && before[i].sa_handler != SIG_IGN)
                sigaction(ending[i], &sa, NULL);
        armed = 1;
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return fd;
}

void partial_close(int fd)
{
    if (fd < 0)
        return;
    armed = 0;
    for (size_t i = 0; i < NENDING; i++)
        sigaction(ending[i], &before[i], NULL);
    close(fd);
}

bool partial_in_use(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    bool used = fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) != 0;
    if (fd >= 0)
        close(fd);
    return used;
}
