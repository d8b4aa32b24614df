/*
 * mq_internal.h - what the two halves of libminqing share: the thread-local
 * error text, msg_id generation, the monotonic clock and moving protocol
 * messages on and off a ZeroMQ socket.
 *
 * Not installed and not part of the API: mq_worker.c and mq_client.c include
 * it, mq_common.c and mq_handshake.c implement it (and `minqing tail` uses
 * the handshake watch for its own socket). Every helper is non-blocking; waiting is done
 * by the callers, who know their deadlines.
 */
#ifndef MQ_INTERNAL_H
#define MQ_INTERNAL_H

#include "codec.h"
#include "msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <zmq.h>

#define MQ_MAX_MESSAGE 131072  /* the largest frame a peer may send (PROTOCOL.md 3.3) */
#define MQ_ID_SIZE 65           /* a msg_id: at most 64 printable ASCII + NUL */
#define MQ_CLIENT_ID_SIZE 32    /* client ids fit mq_client_send_submit's buffer */
#define MQ_ID_TAG_MAX 24        /* characters of the department kept in an id */

/* Generates msg_ids "<tag>-<pid hex>-<random hex>-<counter hex>" (or without
 * the tag), unique across restarts thanks to the random part. */
typedef struct {
    char prefix[48];
    uint64_t counter;
} mq_ids_t;

/* Start a generator; `tag` may be NULL and is cut to MQ_ID_TAG_MAX chars. */
void mq_ids_init(mq_ids_t *ids, const char *tag);
/* Write the next id into out (size bytes, at least MQ_CLIENT_ID_SIZE). */
void mq_ids_next(mq_ids_t *ids, char *out, size_t size);

/* A ZeroMQ context does not survive fork(): its I/O threads stay in the
 * parent, and a child that polls its copy waits for ever. mq_fork_stamp()
 * names this process among its forks (never 0), without a system call: it
 * is checked on every call. mq_forked: -1 with errno ECHILD, recorded ("fn:
 * used in a forked child: create a new `what` there"), when the stamp is no
 * longer `owner` (0: no context yet); else 0. */
unsigned mq_fork_stamp(void);
int mq_forked(unsigned owner, const char *fn, const char *what);

/* Milliseconds on the monotonic clock (plus mq_clock_offset_ms). */
int64_t mq_now(void);

/* Record why the call failed, for mq_strerror(); returns -1. errno survives. */
int mq_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Which certificate mq_curve_load could not use, or why: MQ_CURVE_EXPOSED is
 * a client secret key file open to group or others (keyfile.h). */
typedef enum {
    MQ_CURVE_OK, MQ_CURVE_SERVER, MQ_CURVE_CLIENT, MQ_CURVE_SECRET, MQ_CURVE_EXPOSED
} mq_curve_bad_t;

/* CURVE keys of a client (Z85), from zcert files; `on` when set. */
typedef struct {
    bool on;
    mq_curve_bad_t bad;         /* after a failed mq_curve_load: which file */
    char server[41], public_key[41], secret_key[41];
} mq_curve_t;

/* Load the broker's public certificate and the client's certificate (with its
 * _secret file, which must be the owner's alone: mode 0600). 0, or -1 with the
 * reason recorded and curve->bad set (for a caller with its own words, such as
 * the CLI's). */
int mq_curve_load(mq_curve_t *curve, const char *server_cert, const char *client_cert);
/* Make sock, not yet connected, a CURVE client when curve->on. 0, or -1
 * (recorded). */
int mq_curve_apply(const mq_curve_t *curve, void *sock);

/* A DEALER socket with ZMQ_LINGER 0, not yet connected; with `immediate`,
 * ZMQ_IMMEDIATE too (nothing is queued for a connection that is not up); a
 * CURVE client when curve->on (curve may be NULL). NULL with the reason recorded. */
void *mq_dealer_new(void *ctx, bool immediate, const mq_curve_t *curve);
/* Close a socket (NULL is fine) and set *sock_p to NULL. */
void mq_socket_close(void **sock_p);

/* The outcome of a CURVE socket's handshakes, through a socket monitor
 * (mq_handshake.c): a key the broker refuses gets no answer at all. */
typedef struct {
    void *monitor;              /* PAIR receiving the events, or NULL */
    int refusal;                /* ZMQ_EVENT_HANDSHAKE_FAILED_AUTH or _PROTOCOL: for good */
    uint32_t value;             /* its ZAP status or protocol error */
    unsigned failed;            /* handshakes failed in a row without a reason */
    bool curve;                 /* the socket uses CURVE (else, on ipc://, its Unix user counts) */
} mq_handshake_t;

/* Watch sock's handshakes; call before sock connects (events that come
 * before the monitor is there are lost). 0, or -1 (recorded). */
int mq_handshake_watch(mq_handshake_t *self, void *ctx, void *sock);
/* Read the events that came: 0, or -1 (recorded, errno EACCES for a refused
 * key, EPROTO for no CURVE there or 5 failures in a row) when the connection
 * to endpoint cannot work. A refusal is final: ZeroMQ does not reconnect. */
int mq_handshake_check(mq_handshake_t *self, const char *endpoint);
/* Close the monitor and forget what it said. */
void mq_handshake_close(mq_handshake_t *self);

/* Encode m into frames (valid until the next encode on enc) and decode them
 * back with dec (its arena is overwritten): the decoder's checks (lengths,
 * charsets, ranges, a msg_id's printable 1..64, the body's size) catch a bad
 * field here. The broker's ERROR for some of them (a bad msg_id, a body over
 * the limit) cannot name the request, and a sender waiting for its `re`
 * would resend it for ever. 0, or -1 recorded, with the codec's code in
 * *code (may be NULL). */
int mq_encode_checked(codec_t *enc, codec_t *dec, const msg_t *m, codec_frame_t frames[3],
                      msg_err_t *code);

/* Send three frames without blocking. 0 when queued; -1 when not (errno says
 * why: EAGAIN when the send queue is full). Nothing is recorded: callers that
 * retry anyway treat a failed send as a lost message. */
int mq_send_frames(void *sock, const codec_frame_t frames[3]);
/* The same for a stored body under a command name. */
int mq_send_body(void *sock, msg_cmd_t cmd, const void *body, size_t size);

/* Receive one message without blocking into part[] (initialised zmq_msg_t's,
 * reused from call to call) and point frames[] at it. 1 when one came (with
 * *nframes, more than 3 when the sender sent too many), 0 when none is
 * waiting, -1 on a socket error (recorded). */
int mq_recv_frames(void *sock, zmq_msg_t part[3], codec_frame_t frames[3], size_t *nframes);

/* Wait up to wait_ms (-1: forever) for `events` on sock. The events that
 * occurred (ZMQ_POLLIN, ZMQ_POLLOUT), 0 on timeout, -1 on error (recorded;
 * errno EINTR when a signal came: the callers end their wait then, so that a
 * caller whose handler set a stop flag sees it even without a timeout). */
int mq_poll(void *sock, short events, int64_t wait_ms);

/* Deadline for a timeout in ms (-1: none, INT64_MAX). */
int64_t mq_deadline(int timeout_ms);

/* Added to mq_now(): only tests set it, to let 23 hours pass in a moment.
 * Not in minqing.h: not for adapters. */
extern _Atomic int64_t mq_clock_offset_ms;

/* How long a request or outcome is sent again at most: the broker remembers
 * a msg_id for 24 hours (PROTOCOL.md 8.2), so an older copy could be applied
 * twice. */
#define MQ_RESEND_MAX_MS (23 * 3600000LL)

/* Escalation notices a worker holds open (handed out, neither acknowledged
 * nor released) at most: past it a new one is left to the broker's resend.
 * And the acknowledged ones it remembers, to acknowledge their late copies. */
#define MQ_ESCALATIONS_OPEN_MAX  10000
#define MQ_ESCALATIONS_ACKED_MAX 10000

#endif
