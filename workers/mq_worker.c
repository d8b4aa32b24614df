/*
 * mq_worker.c - the worker half of libminqing: one department adapter's
 * session with the broker, kept alive across broker restarts and network loss.
 *
 * A worker is a small state machine, driven only from inside mq_worker_next,
 * mq_worker_flush and the outcome calls (there is no background thread):
 *
 *   BACKOFF --timer: connect--> REGISTERING --ACK re=REGISTER--> READY
 *      ^                          |    ^                          |
 *      +--- silence (3 beats) ----+    +-- DISCONNECT, ERROR 200 -+
 *      +------------------------ silence ------------------------+
 *
 * REGISTER is resent every second (same msg_id) until acknowledged; once
 * refused (ERROR 1xx-3xx: a key revoked, a department unknown), which only
 * an operator's change ends, every 2, 4, then 8 s. A CURVE handshake the
 * broker refuses is treated alike: reported once, the socket closed, and a
 * new one connected 2, 4, then 8 s later (BACKOFF). The
 * socket has ZMQ_IMMEDIATE, so nothing queues for a connection that is not up:
 * a REGISTER that finds no connection is sent as soon as the socket becomes
 * writable. In READY a HEARTBEAT goes out whenever nothing else did for
 * heartbeat_ms; anything received counts as a sign of life, and 3 heartbeats
 * of silence mean the broker is gone: the socket is closed (queued messages
 * dropped, LINGER 0) and a new one connects after a backoff of 250 ms doubling
 * to 8 s. While registering, the broker is given at least 3 s.
 *
 * Outcomes (ACCEPT ... RETURNED) are queued in creation order and stay there
 * until the broker acknowledges their msg_id. They are sent when READY,
 * resent 5 s after each send, 1 s after an ERROR 5xx, 301 or 302 (doubling
 * to a minute while they come in a row, until an ACK), and all at
 * once after every registration; any other ERROR (1xx-3xx) drops one and
 * counts it as refused, with its reason left in mq_strerror. So does an
 * outcome still unacknowledged 23 hours after it was made: the broker
 * remembers a msg_id for 24 hours, and a later copy could be applied twice
 * (PROTOCOL.md 8.2; the hour is a margin for the two clocks). Queue nodes are
 * recycled, so steady traffic does not allocate. Replies find their outcome
 * through a map keyed by the counter that ends each msg_id.
 *
 * Escalations work the other way round (PROTOCOL.md 5.16): the broker resends
 * an ESCALATE until it gets ACK {re = its msg_id}, and nobody answers that
 * ACK. So the ACK is sent once, not queued; if it is lost, the copy that
 * follows is acknowledged again here without bothering the adapter. Copies of
 * an escalation already handed out are not handed out again, unless the
 * adapter released it: then the next copy is a new notice, and the adapter
 * tries again. A notice handed out is remembered, by escalation_id, until the
 * adapter acknowledges or releases it, however many come meanwhile (after an
 * outage the broker sends its whole backlog, up to 100,000): forgetting one
 * would hand its next copy out as new, and run the adapter's command twice.
 * Memory stays bounded the other way round: past MQ_ESCALATIONS_OPEN_MAX
 * notices open, a new one is not taken (nor acknowledged), and the broker's
 * resend, every 5 s, brings it again once some are finished. Acknowledged
 * notices are remembered, to acknowledge their late copies, up to the last
 * MQ_ESCALATIONS_ACKED_MAX.
 *
 * The socket changes on every reconnect, and with it mq_worker_fd's answer.
 * The zmq context and socket are created on first use, not in mq_worker_new,
 * so an adapter may fork (daemonise) after creating its worker; once they
 * exist, a forked child's calls fail (mq_forked) instead of waiting on a
 * context whose threads stayed in the parent. One context
 * per worker: nothing is shared between objects or threads (but a counter
 * that names handshake monitors, mq_handshake.c, which is atomic).
 *
 * Strings of a returned assignment point into a codec's arena. Two codecs take
 * turns: after an event is returned, decoding moves to the other one, so
 * mq_worker_flush and the outcome calls never overwrite the strings the
 * adapter is still reading. Events that arrive during a flush are kept as raw
 * bodies and decoded when mq_worker_next hands them out.
 */
#include "minqing.h"
#include "mq_internal.h"
#include "mq_omap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REGISTER_EVERY_MS    1000   /* REGISTER resend while unanswered */
#define REGISTER_REFUSED_MAX_MS 8000 /* ... doubling after each refusal up to this */
#define RESEND_AFTER_MS      5000   /* an outcome not acknowledged */
#define RETRY_AFTER_MS       1000   /* after an ERROR 5xx, 301 or 302, */
#define RETRY_MAX_MS        60000   /* ... doubling for each in a row up to this */
#define DEFAULT_HEARTBEAT_MS 1000   /* until the broker's ACK names one */
#define LIVENESS             3      /* heartbeats of silence = broker dead */
#define BACKOFF_MIN_MS       250
#define BACKOFF_MAX_MS       8000
#define DISCONNECT_LINGER_MS 100    /* destroy: time for DISCONNECT to leave */
#define SPARE_MAX            64     /* queue nodes kept for reuse */

typedef enum { W_BACKOFF, W_REGISTERING, W_READY } wstate_t;

/* A queued outcome: its encoded body, kept for resending. */
typedef struct outcome_s {
    struct outcome_s *next, **pprev;    /* pprev: the link pointing at it */
    uint64_t key;                   /* its msg_id's counter: the by_id key */
    msg_cmd_t cmd;
    uint64_t assignment_id;         /* for error text */
    int64_t created;                /* when queued (ms), for MQ_RESEND_MAX_MS */
    int64_t due;                    /* next send (ms); 0: at registration */
    bool out;                       /* sent, and nothing since asks for it again */
    int64_t retry_ms;               /* its last wait after a retryable ERROR */
    unsigned retry_epoch;           /* ack_epoch then */
    struct outcome_s *before, *after;   /* its assignment's queued outcomes, in order */
    char msg_id[MQ_ID_SIZE];
    char *body;
    size_t size, cap;
} outcome_t;

/* An event received during mq_worker_flush, waiting for mq_worker_next. */
typedef struct event_s {
    struct event_s *next;
    msg_cmd_t cmd;
    size_t size;
    char body[];
} event_t;

/* An escalation handed out: the ACK needs the msg_id of its latest copy. */
typedef struct esc_ref_s {
    struct esc_ref_s *next;         /* once acknowledged: the next one acknowledged */
    uint64_t escalation_id;
    bool acked;                     /* by the adapter */
    char msg_id[MQ_ID_SIZE];
} esc_ref_t;

struct mq_worker_t {
    char *endpoint, *department, *name;
    unsigned capacity;
    void *ctx, *sock;               /* created on first use */
    unsigned stamp;                 /* mq_fork_stamp of the process that created ctx */
    mq_curve_t curve;
    mq_handshake_t hs;              /* with CURVE: a refused key, which ZeroMQ never retries */
    codec_t *codec[2];
    int rx;                         /* codec that decodes next */
    zmq_msg_t part[3];
    msg_t in;
    wstate_t state;
    bool started;
    bool reg_blocked;               /* REGISTER found no connection: wait POLLOUT */
    bool send_blocked;              /* the send queue is full: outcomes wait POLLOUT */
    char refusal[200];              /* registration refused, or the session: why */
    msg_err_t refusal_code;
    char reg_id[MQ_ID_SIZE];
    uint32_t heartbeat_ms;
    int64_t last_send, last_recv, reg_due, reconnect_at, backoff_ms;
    int64_t reg_every_ms;           /* REGISTER resend: 1 s, longer after refusals */
    unsigned sessions;              /* REGISTER ACKs received */
    mq_ids_t ids;
    outcome_t *head, **tail, *spare;
    unsigned nspare;
    mq_omap_t last;                 /* assignment_id -> its newest queued outcome */
    mq_omap_t by_id;                /* msg_id's counter -> queued outcome */
    unsigned ack_epoch;             /* ACKs received: a retry's backoff starts again */
    unsigned unacked, refused, malformed;
    event_t *stash, **stash_tail;
    mq_omap_t escs;                 /* escalation_id -> esc_ref_t, open or acknowledged */
    esc_ref_t *acked, **acked_tail; /* the acknowledged ones, oldest first */
    size_t esc_open, esc_acked;     /* how many of each */
};

/* ---- lifecycle ------------------------------------------------------- */

static bool valid_args(const char *endpoint, const char *department, unsigned capacity)
{
    return endpoint && strstr(endpoint, "://") && department && *department &&
           capacity >= 1 && capacity <= 10000;
}

static void register_msg(const mq_worker_t *self, msg_t *m)
{
    msg_reset(m, MSG_REGISTER);
    m->msg_id = self->reg_id;
    m->department = self->department;
    m->capacity = self->capacity;
    MSG_SET(m, MF_MSG_ID), MSG_SET(m, MF_DEPARTMENT), MSG_SET(m, MF_CAPACITY);
    if (self->name) {
        m->worker = self->name;
        MSG_SET(m, MF_WORKER);
    }
}

/* Outcomes and REGISTER are checked before they are queued (mq_common.c):
 * a bad field fails the call rather than coming back as a refusal. The
 * check decodes with the codec that decodes next, never over the strings
 * the adapter still reads. */
static int encode_checked(mq_worker_t *self, msg_t *m, codec_frame_t frames[3])
{
    msg_err_t code;
    if (mq_encode_checked(self->codec[0], self->codec[self->rx], m, frames, &code) == 0)
        return 0;
    errno = code == ERR_TOO_LARGE ? EMSGSIZE : EINVAL;     /* as the client says it */
    return -1;
}

mq_worker_t *mq_worker_new(const char *endpoint, const char *department,
                           unsigned capacity, const char *name)
{
    if (!valid_args(endpoint, department, capacity)) {
        mq_fail("mq_worker_new: need an endpoint, a department and a capacity of 1..10000");
        return NULL;
    }
    mq_worker_t *self = calloc(1, sizeof *self);
    if (!self)
        return mq_fail("out of memory"), NULL;
    self->endpoint = strdup(endpoint);
    self->department = strdup(department);
    self->name = name && *name ? strdup(name) : NULL;
    self->codec[0] = codec_new();
    self->codec[1] = codec_new();
    self->capacity = capacity;
    self->tail = &self->head;
    self->stash_tail = &self->stash;
    self->acked_tail = &self->acked;
    self->heartbeat_ms = DEFAULT_HEARTBEAT_MS;
    self->backoff_ms = BACKOFF_MIN_MS;
    self->reg_every_ms = REGISTER_EVERY_MS;
    for (int i = 0; i < 3; i++)
        zmq_msg_init(&self->part[i]);
    msg_t m;
    codec_frame_t frames[3];
    if (!self->endpoint || !self->department || (name && *name && !self->name) ||
        !self->codec[0] || !self->codec[1]) {
        mq_fail("out of memory");
        mq_worker_destroy(&self);
    } else {
        strcpy(self->reg_id, "check");
        register_msg(self, &m);
        if (encode_checked(self, &m, frames))   /* department, name */
            mq_worker_destroy(&self);
    }
    return self;
}

static void free_outcomes(outcome_t *o)
{
    while (o) {
        outcome_t *next = o->next;
        free(o->body);
        free(o);
        o = next;
    }
}

/* Tell the broker we leave, and give the message a moment to go out. */
static void say_goodbye(mq_worker_t *self)
{
    msg_t m;
    codec_frame_t frames[3];
    codec_error_t err;
    msg_reset(&m, MSG_DISCONNECT);
    if (codec_encode(self->codec[0], &m, frames, &err) == 0 &&
        mq_send_frames(self->sock, frames) == 0) {
        int linger = DISCONNECT_LINGER_MS;
        zmq_setsockopt(self->sock, ZMQ_LINGER, &linger, sizeof linger);
    }
}

void mq_worker_destroy(mq_worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mq_worker_t *self = *self_p;
    /* in a forked child the sockets are the parent's: closing them here
     * would hang in zmq_ctx_term, so only the memory goes */
    if (!mq_forked(self->stamp, "mq_worker_destroy", "worker")) {
        if (self->sock && self->state != W_BACKOFF)
            say_goodbye(self);
        mq_handshake_close(&self->hs);
        mq_socket_close(&self->sock);
        if (self->ctx)
            zmq_ctx_term(self->ctx);
    }
    free_outcomes(self->head);
    free_outcomes(self->spare);
    mq_omap_free(&self->last);
    mq_omap_free(&self->by_id);
    while (self->stash) {
        event_t *next = self->stash->next;
        free(self->stash);
        self->stash = next;
    }
    for (int i = 0; i < 3; i++)
        zmq_msg_close(&self->part[i]);
    codec_destroy(&self->codec[0]);
    codec_destroy(&self->codec[1]);
    for (size_t i = 0; i < self->escs.cap; i++)    /* every notice is in the map */
        free(self->escs.vals[i]);
    mq_omap_free(&self->escs);
    free(self->endpoint);
    free(self->department);
    free(self->name);
    free(self);
    *self_p = NULL;
}

/* A fresh, unconnected socket; with CURVE its handshakes watched, so that a
 * refused key is said (mq_worker_next fails) rather than retried in silence. */
static int new_socket(mq_worker_t *self)
{
    mq_handshake_close(&self->hs);
    mq_socket_close(&self->sock);
    if (!(self->sock = mq_dealer_new(self->ctx, true, &self->curve)))
        return -1;
    return self->curve.on ? mq_handshake_watch(&self->hs, self->ctx, self->sock) : 0;
}

/* First use: the context and an unconnected socket; the first service pass
 * connects at once (BACKOFF with a timer already due). */
static int start(mq_worker_t *self, const char *fn)
{
    if (mq_forked(self->stamp, fn, "worker"))
        return -1;
    if (self->started)
        return 0;
    if (!self->ctx && !(self->ctx = zmq_ctx_new()))   /* kept if a first try failed */
        return mq_fail("cannot create a zmq context: %s", zmq_strerror(errno));
    self->stamp = mq_fork_stamp();
    if (new_socket(self))
        return -1;
    mq_ids_init(&self->ids, self->department);
    self->state = W_BACKOFF;
    self->reconnect_at = mq_now();
    self->started = true;
    return 0;
}

/* ---- sending --------------------------------------------------------- */

/* Send a message built on the spot; a failed send is a lost message, which
 * the protocol's resends already cover. -1 (errno EAGAIN: no connection)
 * when it was not sent. */
static int send_msg(mq_worker_t *self, const msg_t *m, int64_t now)
{
    codec_frame_t frames[3];
    codec_error_t err;
    if (codec_encode(self->codec[0], m, frames, &err) || mq_send_frames(self->sock, frames))
        return -1;
    self->last_send = now;
    return 0;
}

static void send_register(mq_worker_t *self, int64_t now)
{
    msg_t m;
    register_msg(self, &m);
    self->reg_blocked = send_msg(self, &m, now) && errno == EAGAIN;
    self->reg_due = now + self->reg_every_ms;
}

/* Start a registration round with a new msg_id; outcomes wait for its ACK.
 * The last session's heartbeat_ms (up to 600 s) ended with it: until this
 * round's ACK the interval is 1000 (PROTOCOL.md 5.8), or a silent broker
 * would be given up only after 3 of the old beats. */
static void begin_registration(mq_worker_t *self, int64_t now)
{
    mq_ids_next(&self->ids, self->reg_id, sizeof self->reg_id);
    self->heartbeat_ms = DEFAULT_HEARTBEAT_MS;
    self->state = W_REGISTERING;
    send_register(self, now);
}

/* An earlier outcome of o's assignment that waits to be sent (again), or
 * NULL. The broker must get an assignment's outcomes in the order they were
 * made: a RESOLVED that overtakes its ACCEPT is refused (203) and lost. */
static outcome_t *waiting_before(const outcome_t *o)
{
    for (outcome_t *e = o->before; e; e = e->before)
        if (!e->out)
            return e;
    return NULL;
}

/* Send o, unless an earlier outcome of its assignment waits: then o goes
 * when that one does (its due), in queue order. A full send queue (EAGAIN)
 * leaves o due and sets send_blocked: it goes as soon as the socket is
 * writable again, not at the 5-s resend, or a worker back from an outage
 * with 60,000 outcomes would drain them a queue's worth (1,000) per 5 s. */
static void send_outcome(mq_worker_t *self, outcome_t *o, int64_t now)
{
    const outcome_t *first = waiting_before(o);
    if (first) {
        o->due = first->due > now ? first->due : now + RETRY_AFTER_MS;
        return;
    }
    o->out = mq_send_body(self->sock, o->cmd, o->body, o->size) == 0;
    if (o->out)
        self->last_send = now;
    else if (errno == EAGAIN) {
        self->send_blocked = true;
        return;
    }
    o->due = now + RESEND_AFTER_MS;
}

/* In queue order, up to the first send the full queue refuses: the ones
 * after it wait for POLLOUT too, and keep their order. */
static void send_due_outcomes(mq_worker_t *self, int64_t now)
{
    self->send_blocked = false;
    for (outcome_t *o = self->head; o && !self->send_blocked; o = o->next)
        if (o->due <= now)
            send_outcome(self, o, now);
}

/* An outcome of assignment_id left the queue: the ones held behind it go now. */
static void release_held(mq_worker_t *self, uint64_t assignment_id, int64_t now)
{
    for (outcome_t *o = mq_omap_get(&self->last, assignment_id); o; o = o->before)
        if (!o->out && o->due > now)
            o->due = now;
}

/* A heartbeat that finds no connection is lost, not retried before the next
 * is due: the attempt resets the clock, or the loop would spin on it. */
static void send_heartbeat(mq_worker_t *self, int64_t now)
{
    msg_t m;
    msg_reset(&m, MSG_HEARTBEAT);
    send_msg(self, &m, now);
    self->last_send = now;
}

/* ---- connection ------------------------------------------------------ */

/* The broker seems dead: drop the socket and everything queued on it, and
 * connect a fresh one after the backoff. */
static int reconnect(mq_worker_t *self, int64_t now)
{
    if (new_socket(self))
        return -1;
    self->state = W_BACKOFF;
    self->reconnect_at = now + self->backoff_ms;
    self->backoff_ms *= 2;
    if (self->backoff_ms > BACKOFF_MAX_MS)
        self->backoff_ms = BACKOFF_MAX_MS;
    return 0;
}

/* Asking a refusing broker every second would only fill two logs: after
 * each refusal the next attempt waits longer, 2, 4, then 8 s. */
static int64_t refusal_backoff(mq_worker_t *self)
{
    self->reg_every_ms *= 2;
    if (self->reg_every_ms > REGISTER_REFUSED_MAX_MS)
        self->reg_every_ms = REGISTER_REFUSED_MAX_MS;
    return self->reg_every_ms;
}

/* The handshake cannot succeed (the broker refused the key, or speaks no
 * CURVE there): ZeroMQ never retries such a connection, and the refusal
 * stays on the socket, so each call would fail at once and a caller that
 * calls again would spin. Report it once (mq_strerror and errno as
 * mq_handshake_check left them), as a refused REGISTER is, and try again on
 * a fresh socket on the refusal schedule. */
static int handshake_refused(mq_worker_t *self, int64_t now)
{
    int err = errno;
    char why[256];
    snprintf(why, sizeof why, "%s", mq_strerror());
    if (new_socket(self))
        return -1;
    self->state = W_BACKOFF;
    self->reconnect_at = now + refusal_backoff(self);
    mq_fail("%s", why);
    errno = err;
    return -1;
}

static int connect_now(mq_worker_t *self, int64_t now)
{
    if (zmq_connect(self->sock, self->endpoint))
        return mq_fail("cannot connect to %s: %s", self->endpoint, zmq_strerror(errno));
    self->last_recv = now;
    begin_registration(self, now);
    return 0;
}

/* Silence after which the broker is presumed dead. While registering it is
 * at least three REGISTER rounds, so a slow first ACK (or a refusal's
 * longer rounds) is not a death. */
static int64_t liveness_ms(const mq_worker_t *self)
{
    int64_t ms = (int64_t)LIVENESS * self->heartbeat_ms;
    if (self->state == W_REGISTERING && ms < LIVENESS * self->reg_every_ms)
        ms = LIVENESS * self->reg_every_ms;
    return ms;
}

static void registered(mq_worker_t *self, const msg_t *ack, int64_t now)
{
    self->state = W_READY;
    self->reg_blocked = false;
    self->send_blocked = false;
    self->heartbeat_ms = MSG_HAS(ack, MF_HEARTBEAT_MS) ? ack->heartbeat_ms
                                                      : DEFAULT_HEARTBEAT_MS;
    self->backoff_ms = BACKOFF_MIN_MS;
    self->reg_every_ms = REGISTER_EVERY_MS;
    self->sessions++;
    for (outcome_t *o = self->head; o; o = o->next)
        o->due = now, o->out = false;
    send_due_outcomes(self, now);
}

/* True when a connection is up (ZMQ_IMMEDIATE: only then can we send). */
static bool writable(void *sock)
{
    int events = 0;
    size_t size = sizeof events;
    return zmq_getsockopt(sock, ZMQ_EVENTS, &events, &size) == 0 && (events & ZMQ_POLLOUT);
}

/* Silence past the liveness window, judged on what was read: messages still
 * waiting in the socket (the adapter was slow to call) are signs of life not
 * yet counted, and a live broker must not be dropped for them. */
static bool broker_silent(const mq_worker_t *self, int64_t now)
{
    if (now - self->last_recv < liveness_ms(self))
        return false;
    int events = 0;
    size_t size = sizeof events;
    return zmq_getsockopt(self->sock, ZMQ_EVENTS, &events, &size) != 0 ||
           !(events & ZMQ_POLLIN);
}

/* Do whatever is due: connect, register (also as soon as a connection is up),
 * resend, heartbeat, or give the broker up. */
static int service(mq_worker_t *self, int64_t now)
{
    switch (self->state) {
    case W_BACKOFF:
        return now >= self->reconnect_at ? connect_now(self, now) : 0;
    case W_REGISTERING:
        if (broker_silent(self, now))
            return reconnect(self, now);
        if (now >= self->reg_due || (self->reg_blocked && writable(self->sock)))
            send_register(self, now);
        return 0;
    case W_READY:
        if (broker_silent(self, now))
            return reconnect(self, now);
        if (!self->send_blocked || writable(self->sock))
            send_due_outcomes(self, now);
        if (now - self->last_send >= self->heartbeat_ms)
            send_heartbeat(self, now);
        return 0;
    }
    return 0;
}

/* When service() next has something to do. */
static int64_t next_timer(const mq_worker_t *self)
{
    if (self->state == W_BACKOFF)
        return self->reconnect_at;
    int64_t t = self->last_recv + liveness_ms(self);
    if (self->state == W_REGISTERING)
        return t < self->reg_due ? t : self->reg_due;
    if (self->last_send + self->heartbeat_ms < t)
        t = self->last_send + self->heartbeat_ms;
    if (self->send_blocked)         /* they wait for POLLOUT, not a time */
        return t;
    for (const outcome_t *o = self->head; o; o = o->next)
        if (o->due < t)
            t = o->due;
    return t;
}

/* ---- the outcome queue ----------------------------------------------- */

/* The counter that ends a msg_id made here (mq_ids_next: unique per worker,
 * from 1), or 0 when id ends otherwise. */
static uint64_t id_key(const char *id)
{
    const char *dash = strrchr(id, '-');
    const char *p = dash ? dash + 1 : id;
    char *end;
    uint64_t key = strtoull(p, &end, 16);
    return *p && !*end ? key : 0;
}

/* Link pointing at the outcome the broker answers with `re`, or NULL. Found
 * by its counter, not by a walk: a worker back from an outage matches tens
 * of thousands of replies against a queue as long. */
static outcome_t **find_outcome(mq_worker_t *self, const char *re)
{
    outcome_t *o = mq_omap_get(&self->by_id, id_key(re));
    return o && strcmp(o->msg_id, re) == 0 ? o->pprev : NULL;
}

/* Keep a node for the next outcome, or free it: steady traffic needs a few,
 * and a drained backlog of tens of thousands (with bodies up to 6 KB) kept
 * its memory until the worker was destroyed. */
static void spare_node(mq_worker_t *self, outcome_t *o)
{
    if (self->nspare >= SPARE_MAX) {
        free(o->body);
        free(o);
        return;
    }
    o->next = self->spare;
    self->spare = o;
    self->nspare++;
}

static void drop_outcome(mq_worker_t *self, outcome_t **link)
{
    outcome_t *o = *link;
    if (o->before)
        o->before->after = o->after;
    if (o->after)
        o->after->before = o->before;
    else            /* it was the newest: a removal never needs memory */
        mq_omap_put(&self->last, o->assignment_id, o->before);
    mq_omap_put(&self->by_id, o->key, NULL);
    *link = o->next;
    if (o->next)
        o->next->pprev = link;
    if (self->tail == &o->next)
        self->tail = link;
    spare_node(self, o);
    self->unacked--;
}

static outcome_t *take_node(mq_worker_t *self)
{
    outcome_t *o = self->spare;
    if (o) {
        self->spare = o->next;
        self->nspare--;
    } else if (!(o = calloc(1, sizeof *o))) {
        mq_fail("out of memory");
        return NULL;
    }
    o->next = NULL;
    return o;
}

static int keep_body(outcome_t *o, const codec_frame_t *body)
{
    if (body->size > o->cap) {
        char *p = realloc(o->body, body->size);
        if (!p)
            return mq_fail("out of memory");
        o->body = p;
        o->cap = body->size;
    }
    memcpy(o->body, body->data, body->size);
    o->size = body->size;
    return 0;
}

/* Give m a fresh msg_id, check and store it, and send it if registered. */
static int queue_outcome(mq_worker_t *self, msg_t *m)
{
    if (!self)
        return mq_fail("%s: worker is NULL", msg_cmd_name(m->cmd));
    if (start(self, msg_cmd_name(m->cmd)))
        return -1;
    outcome_t *o = take_node(self);
    if (!o)
        return -1;
    codec_frame_t frames[3];
    mq_ids_next(&self->ids, o->msg_id, sizeof o->msg_id);
    o->key = self->ids.counter;
    m->msg_id = o->msg_id;
    MSG_SET(m, MF_MSG_ID);
    if (encode_checked(self, m, frames) || keep_body(o, &frames[2])) {
        spare_node(self, o);
        return -1;
    }
    int64_t now = mq_now();
    o->before = mq_omap_get(&self->last, m->assignment_id);
    if (mq_omap_put(&self->by_id, o->key, o) ||
        mq_omap_put(&self->last, m->assignment_id, o)) {
        mq_omap_put(&self->by_id, o->key, NULL);
        spare_node(self, o);
        return mq_fail("%s: out of memory", msg_cmd_name(m->cmd));
    }
    if (o->before)
        o->before->after = o;
    o->after = NULL;
    o->cmd = m->cmd;
    o->assignment_id = m->assignment_id;
    o->created = now;
    o->retry_ms = 0;
    o->pprev = self->tail;
    *self->tail = o;
    self->tail = &o->next;
    self->unacked++;
    o->due = 0;
    o->out = false;
    if (self->state == W_READY && !self->send_blocked)
        send_outcome(self, o, now);
    return 0;
}

static int outcome(mq_worker_t *self, msg_cmd_t cmd, uint64_t assignment_id,
                   const char *note)
{
    msg_t m;
    msg_reset(&m, cmd);
    m.assignment_id = assignment_id;
    MSG_SET(&m, MF_ASSIGNMENT_ID);
    if (note) {
        m.note = note;
        MSG_SET(&m, MF_NOTE);
    }
    return queue_outcome(self, &m);
}

int mq_worker_accept(mq_worker_t *self, uint64_t assignment_id)
{
    return outcome(self, MSG_ACCEPT, assignment_id, NULL);
}

int mq_worker_contacted(mq_worker_t *self, uint64_t assignment_id, const char *note)
{
    return outcome(self, MSG_CONTACTED, assignment_id, note);
}

int mq_worker_progress(mq_worker_t *self, uint64_t assignment_id, const char *note)
{
    return outcome(self, MSG_PROGRESS, assignment_id, note);
}

int mq_worker_resolved(mq_worker_t *self, uint64_t assignment_id, const char *result,
                       const char *summary)
{
    msg_t m;
    msg_reset(&m, MSG_RESOLVED);
    m.assignment_id = assignment_id;
    m.result = result;
    m.summary = summary;
    MSG_SET(&m, MF_ASSIGNMENT_ID);
    if (result)
        MSG_SET(&m, MF_RESULT);
    if (summary)
        MSG_SET(&m, MF_SUMMARY);
    return queue_outcome(self, &m);
}

int mq_worker_returned(mq_worker_t *self, uint64_t assignment_id, msg_return_t reason,
                       const char *note)
{
    msg_t m;
    msg_reset(&m, MSG_RETURNED);
    m.assignment_id = assignment_id;
    m.return_reason = reason;
    MSG_SET(&m, MF_ASSIGNMENT_ID);
    if (reason != RETURN_NONE)
        MSG_SET(&m, MF_RETURN_REASON);
    if (note) {
        m.note = note;
        MSG_SET(&m, MF_NOTE);
    }
    return queue_outcome(self, &m);
}

/* ---- escalations ----------------------------------------------------- */

/* ACK {re} for an ESCALATE, once: the broker's resend makes up for a loss,
 * and before registration nothing but REGISTER may be sent. */
static void send_escalation_ack(mq_worker_t *self, const char *msg_id, int64_t now)
{
    msg_t m;
    if (self->state != W_READY)
        return;
    msg_reset(&m, MSG_ACK);
    m.re = msg_id;
    MSG_SET(&m, MF_RE);
    send_msg(self, &m, now);
}

/* Remember a notice about to be handed out; NULL when it cannot be now (too
 * many open, or out of memory), and then it is not taken: the broker sends
 * it again within 5 s. Never at the cost of one the adapter still holds. */
static esc_ref_t *open_escalation(mq_worker_t *self, uint64_t escalation_id)
{
    if (self->esc_open >= MQ_ESCALATIONS_OPEN_MAX)
        return NULL;
    esc_ref_t *ref = calloc(1, sizeof *ref);
    if (!ref || mq_omap_put(&self->escs, escalation_id, ref)) {
        free(ref);
        return NULL;
    }
    ref->escalation_id = escalation_id;
    self->esc_open++;
    return ref;
}

/* Forget a notice: released (open), or acknowledged long ago. */
static void forget_escalation(mq_worker_t *self, esc_ref_t *ref)
{
    mq_omap_put(&self->escs, ref->escalation_id, NULL);     /* removing never fails */
    if (ref->acked)
        self->esc_acked--;
    else
        self->esc_open--;
    free(ref);
}

/* The adapter acted on it: keep it to acknowledge late copies, and forget
 * the oldest acknowledged ones beyond MQ_ESCALATIONS_ACKED_MAX (their copies
 * stopped long ago, unless an ACK keeps being lost). */
static void close_escalation(mq_worker_t *self, esc_ref_t *ref)
{
    ref->acked = true;
    self->esc_open--;
    self->esc_acked++;
    *self->acked_tail = ref;
    self->acked_tail = &ref->next;
    while (self->esc_acked > MQ_ESCALATIONS_ACKED_MAX) {
        esc_ref_t *old = self->acked;
        if (!(self->acked = old->next))
            self->acked_tail = &self->acked;
        forget_escalation(self, old);
    }
}

/* An ESCALATE arrived: true when it is new and goes to the adapter, false
 * for a copy (acknowledged again if the adapter already did) or a notice not
 * taken now (see open_escalation). */
static bool take_escalation(mq_worker_t *self, const msg_t *m, int64_t now)
{
    esc_ref_t *ref = mq_omap_get(&self->escs, m->escalation_id);
    bool fresh = !ref;
    if (fresh && !(ref = open_escalation(self, m->escalation_id)))
        return false;
    snprintf(ref->msg_id, sizeof ref->msg_id, "%s", m->msg_id);
    if (ref->acked)
        send_escalation_ack(self, ref->msg_id, now);
    return fresh;
}

/* The notice e names, for `fn`; NULL (recorded) when there is none. */
static esc_ref_t *received_escalation(mq_worker_t *self, const mq_escalation_t *e,
                                      const char *fn)
{
    if (!self || !e) {
        mq_fail("%s: worker and escalation are required", fn);
        return NULL;
    }
    esc_ref_t *ref = mq_omap_get(&self->escs, e->escalation_id);
    if (!ref)
        mq_fail("escalation %" PRIu64 " was not received by this worker (or was released, "
                "or acknowledged too long ago to remember)", e->escalation_id);
    return ref;
}

int mq_worker_ack_escalation(mq_worker_t *self, const mq_escalation_t *e)
{
    esc_ref_t *ref = received_escalation(self, e, "mq_worker_ack_escalation");
    if (!ref || mq_forked(self->stamp, "mq_worker_ack_escalation", "worker"))
        return -1;
    if (!ref->acked)
        close_escalation(self, ref);
    send_escalation_ack(self, ref->msg_id, mq_now());
    return 0;
}

/* The adapter could not act on the notice: forget it, so that the broker's
 * next copy is handed out as new instead of being taken for a copy of one
 * being handled. An acknowledged notice stays: it was acted on. */
int mq_worker_release_escalation(mq_worker_t *self, const mq_escalation_t *e)
{
    esc_ref_t *ref = received_escalation(self, e, "mq_worker_release_escalation");
    if (!ref)
        return -1;
    if (ref->acked)
        return mq_fail("escalation %" PRIu64 " is already acknowledged", e->escalation_id);
    forget_escalation(self, ref);
    return 0;
}

/* ---- receiving ------------------------------------------------------- */

static void on_ack(mq_worker_t *self, const msg_t *m, int64_t now)
{
    self->ack_epoch++;
    if (self->state == W_REGISTERING && strcmp(m->re, self->reg_id) == 0) {
        registered(self, m, now);
        return;
    }
    outcome_t **link = find_outcome(self, m->re);
    if (!link)
        return;
    uint64_t assignment_id = (*link)->assignment_id;
    drop_outcome(self, link);
    release_held(self, assignment_id, now);
}

/* Drop an outcome for good, counted as refused; mq_strerror says why. */
__attribute__((format(printf, 3, 4)))
static void give_up(mq_worker_t *self, outcome_t **link, const char *fmt, ...)
{
    const outcome_t *o = *link;
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    mq_fail("%s for assignment %" PRIu64 " %s", msg_cmd_name(o->cmd), o->assignment_id, why);
    self->refused++;
    drop_outcome(self, link);
}

static void refuse_outcome(mq_worker_t *self, outcome_t **link, const msg_t *m)
{
    give_up(self, link, "refused: %s (%u): %s", msg_err_name((msg_err_t)m->code), m->code,
            m->reason_text);
}

/* Outcomes older than MQ_RESEND_MAX_MS are not resent (PROTOCOL.md 8.2). The
 * queue is in creation order: the old ones are at its head. */
static void expire_outcomes(mq_worker_t *self, int64_t now)
{
    while (self->head && now - self->head->created > MQ_RESEND_MAX_MS)
        give_up(self, &self->head, "given up: unacknowledged for 23 hours, longer than the "
                "broker remembers a msg_id (PROTOCOL.md 8.2)");
}


/* Worth sending again later (PROTOCOL.md 8.2): broker trouble, or a limit. */
static bool retryable(uint32_t code)
{
    return code >= 500 || code == ERR_RATE_LIMITED || code == ERR_TOO_MANY_IN_FLIGHT;
}

/* Keep why the broker refused this worker, for mq_worker_next to fail with. */
static void refused(mq_worker_t *self, const char *what, const msg_t *m)
{
    snprintf(self->refusal, sizeof self->refusal, "%s: %s (%u): %s", what,
             msg_err_name((msg_err_t)m->code), m->code, m->reason_text);
    self->refusal_code = (msg_err_t)m->code;
}

/* The wait before an outcome goes again after a retryable ERROR: 1 s,
 * doubling for each such ERROR in a row up to a minute; an ACK of anything
 * since (the broker works again) starts it from 1 s. Every queued outcome
 * resent each second while the broker's disk is full only added to its
 * trouble (20,000 messages a second for a queue of 20,000). */
static int64_t retry_delay(const mq_worker_t *self, outcome_t *o)
{
    if (o->retry_ms == 0 || o->retry_epoch != self->ack_epoch)
        o->retry_ms = RETRY_AFTER_MS;
    else if ((o->retry_ms *= 2) > RETRY_MAX_MS)
        o->retry_ms = RETRY_MAX_MS;
    o->retry_epoch = self->ack_epoch;
    return o->retry_ms;
}

static void on_error(mq_worker_t *self, const msg_t *m, int64_t now)
{
    bool retry = retryable(m->code);
    if (m->code == ERR_NOT_REGISTERED) {
        /* the broker restarted; one registration round answers them all */
        if (self->state == W_READY)
            begin_registration(self, now);
        return;
    }
    if (m->code == ERR_FORBIDDEN && self->state == W_READY) {
        /* the key was revoked (a reload): the broker ended the session and
         * answers everything so, with or without `re`. Say it, and register
         * again, which is refused until the key is allowed back; the
         * outcomes stay queued for that session. */
        refused(self, "the broker no longer accepts this worker", m);
        begin_registration(self, now);
        return;
    }
    if (!MSG_HAS(m, MF_RE))
        return;
    if (self->state == W_REGISTERING && strcmp(m->re, self->reg_id) == 0) {
        if (retry) {
            self->reg_due = now + RETRY_AFTER_MS;
            return;
        }
        /* refused until an operator acts (allows the key back, adds the
         * department): asking every second would only fill two logs */
        refused(self, "registration refused", m);
        self->reg_due = now + refusal_backoff(self);
        return;
    }
    outcome_t **link = find_outcome(self, m->re);
    if (!link)
        return;
    outcome_t *o = *link;
    if (retry || m->code == ERR_FORBIDDEN) {
        /* 300 here answers a copy sent before the session ended (the first
         * 300 ended it): kept for the next session, as the others */
        o->due = now + retry_delay(self, o), o->out = false;
    } else if (m->code == ERR_ILLEGAL_TRANSITION && o->before) {
        /* it overtook an earlier outcome of its assignment that is still
         * unanswered (an ERROR 5xx, a lost copy): it goes again after that
         * one's ACK (release_held), when the transition is legal */
        o->due = now + RESEND_AFTER_MS, o->out = false;
    } else {
        uint64_t assignment_id = o->assignment_id;
        refuse_outcome(self, link, m);
        release_held(self, assignment_id, now);
    }
}

/* Act on one decoded message; MQ_ASSIGNMENT or MQ_ESCALATION when it is an
 * event for the adapter, MQ_NOTHING when not. */
static int handle(mq_worker_t *self, const msg_t *m, int64_t now)
{
    switch (m->cmd) {
    case MSG_ACK:
        on_ack(self, m, now);
        break;
    case MSG_ERROR:
        on_error(self, m, now);
        break;
    case MSG_DISCONNECT:
        if (self->state == W_READY)
            begin_registration(self, now);
        break;
    case MSG_DISPATCH:
        return MQ_ASSIGNMENT;
    case MSG_ESCALATE:
        return take_escalation(self, m, now) ? MQ_ESCALATION : MQ_NOTHING;
    default:                        /* HEARTBEAT, or nothing for a worker */
        break;
    }
    return MQ_NOTHING;
}

static int stash_event(mq_worker_t *self, msg_cmd_t cmd, const codec_frame_t *body)
{
    event_t *ev = malloc(sizeof *ev + body->size);
    if (!ev)
        return mq_fail("out of memory: an event was lost");
    ev->next = NULL;
    ev->cmd = cmd;
    ev->size = body->size;
    memcpy(ev->body, body->data, body->size);
    *self->stash_tail = ev;
    self->stash_tail = &ev->next;
    return 0;
}

/* Fill the adapter's struct from the decoded event in self->in, and move
 * decoding to the other codec so that its strings survive until the next
 * mq_worker_next. */
static int deliver(mq_worker_t *self, mq_assignment_t *a, mq_escalation_t *e)
{
    const msg_t *m = &self->in;
    self->rx ^= 1;
    if (m->cmd == MSG_DISPATCH) {
        *a = (mq_assignment_t){
            .assignment_id = m->assignment_id, .case_id = m->case_id,
            .department = m->department, .role = m->role, .attempt = m->attempt,
            .received_at = m->received_at, .contact_due = m->contact_due,
            .resolve_due = MSG_HAS(m, MF_RESOLVE_DUE) ? m->resolve_due : 0,
            .kase = m->kase};
        return MQ_ASSIGNMENT;
    }
    *e = (mq_escalation_t){
        .escalation_id = m->escalation_id, .case_id = m->case_id, .level = m->level,
        .ladder = m->ladder, .target = m->target, .department = m->department,
        .grid_code = m->grid_code, .community = m->community, .street = m->street,
        .due_at = m->due_at, .overdue_s = m->overdue_s};
    return MQ_ESCALATION;
}

/* Read everything waiting on the socket. An event is returned at once, or
 * stashed when `stash` (flushing). MQ_NOTHING when the socket is empty. */
static int drain(mq_worker_t *self, mq_assignment_t *a, mq_escalation_t *e, bool stash)
{
    codec_frame_t frames[3];
    codec_error_t err;
    size_t n;
    int rc;
    while ((rc = mq_recv_frames(self->sock, self->part, frames, &n)) == 1) {
        int64_t now = mq_now();
        self->last_recv = now;      /* even a bad message is a sign of life */
        if (n != 3 || codec_decode(self->codec[self->rx], frames, n, &self->in, &err)) {
            self->malformed++;
            continue;
        }
        if (handle(self, &self->in, now) == MQ_NOTHING)
            continue;
        if (!stash)
            return deliver(self, a, e);
        if (stash_event(self, self->in.cmd, &frames[2]))
            return -1;
    }
    return rc;
}

/* Hand out the oldest event kept by a flush. */
static int unstash(mq_worker_t *self, mq_assignment_t *a, mq_escalation_t *e)
{
    event_t *ev = self->stash;
    self->stash = ev->next;
    if (!self->stash)
        self->stash_tail = &self->stash;
    const char *name = msg_cmd_name(ev->cmd);
    codec_frame_t frames[3] = {{MSG_SIGNATURE, strlen(MSG_SIGNATURE)},
                               {name, strlen(name)}, {ev->body, ev->size}};
    codec_error_t err;
    int rc = codec_decode(self->codec[self->rx], frames, 3, &self->in, &err);
    free(ev);
    if (rc)     /* it decoded once already */
        return mq_fail("internal: a kept event no longer decodes: %s", err.reason);
    return deliver(self, a, e);
}

/* Hand out the oldest event kept by a flush, after servicing the session
 * and reading the socket, whose new events go behind the kept ones: handed
 * out without that, a flush's worth of events (up to the capacity, and
 * escalations) let the heartbeats go unsent and unread, and the worker took
 * a live broker for dead. A refusal is reported once the kept events are. */
static int next_kept(mq_worker_t *self, mq_assignment_t *a, mq_escalation_t *e)
{
    expire_outcomes(self, mq_now());
    if (service(self, mq_now()))
        return -1;
    if (mq_handshake_check(&self->hs, self->endpoint))
        return handshake_refused(self, mq_now());
    if (drain(self, NULL, NULL, true) < 0)
        return -1;
    return unstash(self, a, e);
}

/* ---- the loop -------------------------------------------------------- */

/* Sleep on the socket until it is readable, or writable when a REGISTER is
 * waiting for the connection to come up or outcomes for room in the send
 * queue, or until wait_ms passed. */
static int await_socket(mq_worker_t *self, int64_t wait_ms)
{
    bool blocked = self->state == W_REGISTERING ? self->reg_blocked
                 : self->state == W_READY && self->send_blocked;
    return mq_poll(self->sock, ZMQ_POLLIN | (blocked ? ZMQ_POLLOUT : 0), wait_ms) < 0 ? -1 : 0;
}

/* Service the session, read, and wait, until `deadline`, an event or a
 * signal (MQ_NOTHING; -1 with errno EINTR when flushing). With `stash`
 * (flushing), events are kept for later and the loop ends instead when no
 * outcome is left unacknowledged. */
static int run(mq_worker_t *self, mq_assignment_t *a, mq_escalation_t *e, int64_t deadline,
               bool stash)
{
    for (;;) {
        expire_outcomes(self, mq_now());
        if (service(self, mq_now()))
            return -1;
        if (mq_handshake_check(&self->hs, self->endpoint))
            return handshake_refused(self, mq_now());
        int rc = drain(self, a, e, stash);
        if (rc != MQ_NOTHING)
            return rc;
        if (self->refusal[0]) {
            mq_fail("%s", self->refusal);
            self->refusal[0] = '\0';
            errno = self->refusal_code == ERR_FORBIDDEN ? EACCES : EPROTO;
            return -1;
        }
        if (stash && self->unacked == 0)
            return MQ_NOTHING;
        int64_t now = mq_now(), wake = next_timer(self);
        if (now >= deadline)
            return MQ_NOTHING;
        if (wake > deadline)
            wake = deadline;
        if (await_socket(self, wake > now ? wake - now : 0) < 0)
            return errno == EINTR && !stash ? MQ_NOTHING : -1;
    }
}

int mq_worker_next(mq_worker_t *self, mq_assignment_t *a, mq_escalation_t *e, int timeout_ms)
{
    if (!self || !a || !e)
        return mq_fail("mq_worker_next: worker, assignment and escalation are required");
    int64_t deadline = mq_deadline(timeout_ms);
    if (start(self, "mq_worker_next"))
        return -1;
    if (self->stash)
        return next_kept(self, a, e);
    return run(self, a, e, deadline, false);
}

int mq_worker_flush(mq_worker_t *self, int timeout_ms)
{
    if (!self)
        return mq_fail("mq_worker_flush: worker is NULL");
    if (mq_forked(self->stamp, "mq_worker_flush", "worker"))
        return -1;
    int64_t deadline = mq_deadline(timeout_ms);
    if (self->unacked == 0)
        return 0;
    if (run(self, NULL, NULL, deadline, true) < 0)
        return -1;
    if (self->unacked > 0) {
        errno = ETIMEDOUT;          /* not what a poll on the way left there */
        return mq_fail("%u outcome(s) still unacknowledged after %d ms", self->unacked,
                       timeout_ms);
    }
    return 0;
}

int mq_worker_fd(mq_worker_t *self)
{
    if (!self)
        return mq_fail("mq_worker_fd: worker is NULL");
    if (start(self, "mq_worker_fd"))
        return -1;
    int fd;
    size_t size = sizeof fd;
    if (zmq_getsockopt(self->sock, ZMQ_FD, &fd, &size))
        return mq_fail("ZMQ_FD: %s", zmq_strerror(errno));
    return fd;
}

unsigned mq_worker_unacked(const mq_worker_t *self)
{
    return self ? self->unacked : 0;
}

unsigned mq_worker_refused(const mq_worker_t *self)
{
    return self ? self->refused : 0;
}

unsigned mq_worker_sessions(const mq_worker_t *self)
{
    return self ? self->sessions : 0;
}

int mq_worker_set_certs(mq_worker_t *self, const char *server_cert, const char *client_cert)
{
    if (!self)
        return mq_fail("mq_worker_set_certs: no worker");
    if (self->started)
        return mq_fail("mq_worker_set_certs: call it before the worker's first use");
    return mq_curve_load(&self->curve, server_cert, client_cert);
}
