/*
 * sockfile.h - the socket files of the broker's ipc:// endpoints.
 *
 * libzmq leaves an ipc:// socket file behind when the socket closes (since
 * 4.2, so that connecting peers can reconnect to a server that binds again).
 * A file left by a stopped broker makes clients wait out their timeout where
 * `minqing` would tell at once that no broker runs. So the broker removes its
 * own at a clean stop, while it still holds the database lock: only the file
 * it bound (the same device and inode), never one that another broker has
 * bound at the same path since.
 */
#ifndef MQ_SOCKFILE_H
#define MQ_SOCKFILE_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct {
    char path[108];             /* sun_path's size: ZeroMQ refuses longer paths */
    dev_t dev;
    ino_t ino;
    bool set;
} sockfile_t;

/* Remember the file an endpoint just bound; nothing for other transports,
 * or when the file cannot be seen (then it is left alone at the stop). */
void sockfile_note(sockfile_t *self, const char *endpoint);
/* Let every local user connect (0666), or only the broker's (0600): with
 * [local_users] the broker itself decides who may do what. 0, or -1 with
 * errno; nothing to do (0) without a remembered file. */
int sockfile_share(const sockfile_t *self, bool all);
/* Remove the remembered file if it is still the one bound; forget it. */
void sockfile_remove(sockfile_t *self);

#endif
