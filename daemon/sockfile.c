/*
 * sockfile.c - the socket files of the broker's ipc:// endpoints (see
 * sockfile.h).
 */
#include "sockfile.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IPC "ipc://"

void sockfile_note(sockfile_t *self, const char *endpoint)
{
    struct stat st;
    *self = (sockfile_t){0};
    size_t n = strlen(IPC);
    if (strncmp(endpoint, IPC, n) != 0 || strlen(endpoint + n) >= sizeof self->path ||
        stat(endpoint + n, &st) != 0 || !S_ISSOCK(st.st_mode))
        return;
    memcpy(self->path, endpoint + n, strlen(endpoint + n) + 1);
    self->dev = st.st_dev, self->ino = st.st_ino, self->set = true;
}

int sockfile_share(const sockfile_t *self, bool all)
{
    struct stat st;
    if (!self->set || stat(self->path, &st) != 0 || st.st_dev != self->dev ||
        st.st_ino != self->ino)
        return 0;                   /* not ours (any more): leave it alone */
    return chmod(self->path, all ? 0666 : 0600);
}

void sockfile_remove(sockfile_t *self)
{
    struct stat st;
    if (self->set && stat(self->path, &st) == 0 && st.st_dev == self->dev &&
        st.st_ino == self->ino)
        unlink(self->path);
    self->set = false;
}
