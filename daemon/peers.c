/*
 * peers.c - connections to a socket, counted from its monitor events (see
 * peers.h). The descriptors of the connections up are kept, not just a
 * number: a connection refused in its handshake (a key not on a list) also
 * ends with DISCONNECTED, and must not take one off the count of another.
 */
#include "peers.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

struct peers_t {
    void *pair;                 /* where ZeroMQ sends the socket's events */
    int *fds;                   /* connections up */
    size_t n, cap;
};

peers_t *peers_new(void *ctx, void *sock, const char *name)
{
    peers_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    char ep[96];
    snprintf(ep, sizeof ep, "inproc://minqing-peers-%s", name);
    /* No limit on the events queued for the loop: ZeroMQ's I/O thread sends
     * them blocking, so a full queue (a flood of connections while the loop
     * is busy) would stall every socket's traffic until the loop reads. */
    int unlimited = 0;
    if (zmq_socket_monitor(sock, ep, ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0 ||
        !(self->pair = zmq_socket(ctx, ZMQ_PAIR)) ||
        zmq_setsockopt(self->pair, ZMQ_RCVHWM, &unlimited, sizeof unlimited) != 0 ||
        zmq_connect(self->pair, ep) != 0) {
        peers_destroy(&self);
        return NULL;
    }
    return self;
}

void peers_destroy(peers_t **self_p)
{
    peers_t *self = *self_p;
    if (!self)
        return;
    if (self->pair)
        zmq_close(self->pair);
    free(self->fds);
    free(self);
    *self_p = NULL;
}

void peers_reset(peers_t *self)
{
    peers_update(self);         /* what came before the unbind is gone with it */
    self->n = 0;
}

void *peers_socket(peers_t *self)
{
    return self->pair;
}

/* Out of memory, the connection is not counted: the stream then goes
 * unencoded while it is the only one, which is the lesser harm. */
static void up(peers_t *self, int fd)
{
    if (self->n == self->cap) {
        size_t cap = self->cap ? 2 * self->cap : 16;
        int *v = realloc(self->fds, cap * sizeof *v);
        if (!v)
            return;
        self->fds = v, self->cap = cap;
    }
    self->fds[self->n++] = fd;
}

static void gone(peers_t *self, int fd)
{
    for (size_t i = 0; i < self->n; i++)
        if (self->fds[i] == fd) {
            self->fds[i] = self->fds[--self->n];
            return;
        }
}

/* One event: a frame of a 16-bit event and a 32-bit value (the descriptor),
 * then a frame with the endpoint. 0, or -1 when none is waiting. */
static int read_event(peers_t *self)
{
    unsigned char head[6];
    char rest[256];
    int n = zmq_recv(self->pair, head, sizeof head, ZMQ_DONTWAIT);
    if (n < 0)
        return -1;
    int more = 0;
    size_t size = sizeof more;
    while (zmq_getsockopt(self->pair, ZMQ_RCVMORE, &more, &size) == 0 && more)
        if (zmq_recv(self->pair, rest, sizeof rest, 0) < 0)
            break;
    if (n < (int)sizeof head)
        return 0;
    uint16_t event;
    uint32_t value;
    memcpy(&event, head, sizeof event);
    memcpy(&value, head + 2, sizeof value);
    if (event == ZMQ_EVENT_ACCEPTED)
        up(self, (int)value);
    else if (event == ZMQ_EVENT_DISCONNECTED)
        gone(self, (int)value);
    return 0;
}

void peers_update(peers_t *self)
{
    for (int i = 0; i < 1000 && read_event(self) == 0; i++)
        ;                       /* the rest, if any, at the next pass */
}

size_t peers_count(const peers_t *self)
{
    return self->n;
}
