/*
 * spawn.c - /bin/sh -c CMD for one run of a job (see spawn.h). posix_spawn
 * sets the child's process group, signal mask and dispositions itself, so no
 * code of ours runs between fork and exec in a process with libzmq's threads.
 */
#include "spawn.h"
#include "fd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* Whether environ entry `e` sets the variable of `var` ("NAME=value"). */
static bool same_name(const char *e, const char *var)
{
    size_t len = (size_t)(strchr(var, '=') - var) + 1;
    return strncmp(e, var, len) == 0;
}

/* environ without the variables the job sets, then the job's, then
 * MINQING_RUN (in `run`, which must outlive the result). */
static char **child_env(const job_t *j, char *run, size_t len)
{
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + (size_t)j->nvars + 2, sizeof *env);
    if (!env)
        return NULL;
    snprintf(run, len, "MINQING_RUN=%u", j->runs);
    for (size_t i = 0; i < n; i++) {
        bool ours = same_name(environ[i], run);
        for (int v = 0; v < j->nvars && !ours; v++)
            ours = same_name(environ[i], j->vars[v]);
        if (!ours)
            env[k++] = environ[i];
    }
    for (int v = 0; v < j->nvars; v++)
        env[k++] = (char *)j->vars[v];
    env[k] = run;
    return env;
}

/* The pipes' child ends on 0-2, a process group of its own, no blocked
 * signals (ours are all blocked for the signalfd), SIGPIPE back to its
 * default (we ignore it). 0, or errno. */
static int spawn_shell(const char *cmd, job_t *j, int p[3][2], char **env)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[0][0], 0);
    posix_spawn_file_actions_adddup2(&fa, p[1][1], 1);
    posix_spawn_file_actions_adddup2(&fa, p[2][1], 2);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                    POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &dfl);
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    int rc = posix_spawn(&j->run.pid, "/bin/sh", &fa, &attr, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return rc;
}

int spawn_command(const char *cmd, job_t *j)
{
    int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}}, rc = 0;
    char run[32], **env = NULL;
    for (int i = 0; i < 3 && !rc; i++)
        rc = pipe2(p[i], O_CLOEXEC) ? errno : 0;
    if (!rc)
        rc = (env = child_env(j, run, sizeof run)) ? spawn_shell(cmd, j, p, env) : ENOMEM;
    free(env);
    fd_close(&p[0][0]), fd_close(&p[1][1]), fd_close(&p[2][1]);
    j->run.in_fd = p[0][1], j->run.out.fd = p[1][0], j->run.err.fd = p[2][0];
    if (rc) {
        j->run.pid = 0;
        fd_close(&j->run.in_fd), fd_close(&j->run.out.fd), fd_close(&j->run.err.fd);
        return rc;
    }
    int ours[3] = {j->run.in_fd, j->run.out.fd, j->run.err.fd};
    for (int i = 0; i < 3; i++)
        fcntl(ours[i], F_SETFL, fcntl(ours[i], F_GETFL) | O_NONBLOCK);
    return 0;
}
