/*
 * mq_handshake.c - why a CURVE connection cannot work (see mq_internal.h).
 *
 * A key the broker does not admit gets no answer at all (PROTOCOL.md 10), so
 * without this a refused client would wait for replies until its timeout and
 * a refused worker would reconnect forever, both looking like a stopped
 * broker. A socket monitor tells the handshake's outcome: the broker's ZAP
 * refusal, a protocol error (no CURVE on that endpoint), or handshakes that
 * keep failing without a word (a wrong server key: the broker cannot read our
 * HELLO and hangs up). Shared by the client, the worker and `minqing tail`.
 */
#include "mq_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define HANDSHAKE_TRIES 5       /* failed in a row before the server key is doubted */

int mq_handshake_watch(mq_handshake_t *self, void *ctx, void *sock)
{
    /* inproc names are per context; unique per process is simpler, and
     * workers and clients may be made on several threads */
    static atomic_uint serial;
    char addr[64];
    snprintf(addr, sizeof addr, "inproc://mq-handshakes-%u", atomic_fetch_add(&serial, 1) + 1);
    int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    int linger = 0, mech = ZMQ_NULL;
    size_t len = sizeof mech;
    mq_handshake_close(self);
    zmq_getsockopt(sock, ZMQ_MECHANISM, &mech, &len);
    self->curve = mech == ZMQ_CURVE;
    if (zmq_socket_monitor(sock, addr, events) || !(self->monitor = zmq_socket(ctx, ZMQ_PAIR)) ||
        zmq_setsockopt(self->monitor, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_connect(self->monitor, addr))
        return mq_fail("cannot watch the CURVE handshake: %s", zmq_strerror(errno));
    return 0;
}

void mq_handshake_close(mq_handshake_t *self)
{
    mq_socket_close(&self->monitor);
    self->refusal = 0, self->value = 0, self->failed = 0;
}

/* Take one event off the monitor: false when none is waiting. An event is
 * two frames, its number and value (6 bytes), then the endpoint. */
static bool next_event(void *monitor, uint16_t *event, uint32_t *value)
{
    uint8_t head[6] = {0};
    char rest[256];
    int more = 0;
    size_t len = sizeof more;
    if (zmq_recv(monitor, head, sizeof head, ZMQ_DONTWAIT) < 0)
        return false;
    while (zmq_getsockopt(monitor, ZMQ_RCVMORE, &more, &len) == 0 && more &&
           zmq_recv(monitor, rest, sizeof rest, 0) >= 0)
        ;
    memcpy(event, head, sizeof *event);
    memcpy(value, head + 2, sizeof *value);
    return true;
}

/* Why the connection cannot work: recorded; -1. */
static int refused(const mq_handshake_t *self, const char *endpoint)
{
    if (self->refusal == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && !self->curve) {
        errno = EACCES;
        return mq_fail("the broker at %s refused this process's Unix user (uid %u, ZAP status %"
                       PRIu32 "): the broker's [local_users] does not let it follow the event "
                       "stream", endpoint, (unsigned)geteuid(), self->value);
    }
    if (self->refusal == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        errno = EACCES;
        return mq_fail("the broker at %s refused this client's CURVE key (ZAP status %" PRIu32 "): its "
                       "certificate is on none of the broker's allowlists", endpoint, self->value);
    }
    errno = EPROTO;
    if (self->refusal)
        return mq_fail("the CURVE handshake with %s failed (ZeroMQ protocol error 0x%" PRIx32
                       ")%s", endpoint, self->value,
                       self->value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                           ? ": the broker does not use CURVE on this endpoint" : "");
    return mq_fail("the CURVE handshake with %s failed %u times in a row: is the server "
                   "certificate the broker's own (server_cert in its config)?", endpoint,
                   self->failed);
}

int mq_handshake_check(mq_handshake_t *self, const char *endpoint)
{
    uint16_t event;
    uint32_t value;
    while (self->monitor && !self->refusal && next_event(self->monitor, &event, &value)) {
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            self->failed = 0;
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
            self->failed++;
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ||
                 event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
            self->refusal = event, self->value = value;
    }
    return self->refusal || self->failed >= HANDSHAKE_TRIES ? refused(self, endpoint) : 0;
}
