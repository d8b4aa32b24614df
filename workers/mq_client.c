/*
 * mq_client.c - the intake half of libminqing: submit cases and send the
 * requests that follow them (FEEDBACK, CLOSE, REASSIGN, CANCEL).
 *
 * Every request carries a msg_id, and a lost request or a lost reply looks the
 * same to the sender, so the answer to both is to send the same bytes again:
 * the broker applies a msg_id once and answers repeats from memory. The
 * blocking calls therefore resend their request every second until the reply
 * whose `re` names it arrives or the caller's timeout passes; replies naming
 * anything else are answers to requests already given up on, and are dropped,
 * unless the client also sent without waiting: then they may answer those,
 * and are kept (bounded) for mq_client_recv. For throughput,
 * mq_client_send_submit and mq_client_recv let the caller keep many
 * submissions in flight and match replies itself.
 *
 * The context and socket are made in mq_client_new (one context per client,
 * nothing shared); a forked child's calls fail (mq_forked), as the copy of
 * the context it inherits has no I/O threads behind it. Unlike the worker's,
 * the socket has no ZMQ_IMMEDIATE: a request made before the connection is
 * up (just after mq_client_new, or while the broker restarts) waits in
 * ZeroMQ's queue instead of failing, and
 * the copies a resend adds are harmless because of the msg_id. The encoded
 * request stays in the codec's buffer while it is being resent; replies decode
 * into the same codec's arena, which is separate.
 *
 * With CURVE, a key the broker does not admit gets no answer at all (PROTOCOL.md
 * 10): requests would wait in the queue until the caller's timeout, and a
 * refused key would look like a stopped broker. So a CURVE client watches its
 * socket's handshakes through a monitor, and every wait ends at once, with the
 * reason, when the broker refuses the key or the handshake cannot succeed.
 * ZeroMQ never retries such a connection, so a later call replaces the
 * socket (rate-limited): an operator who allowlists the key fixes the client.
 *
 * Callers fill msg_case_t and msg_t without setting `present` bits for
 * strings, ids and enums: a non-NULL string or a non-zero id or enum is
 * taken as present (none of those fields has 0 or NULL as a valid value but
 * the case's priority, whose 0, normal, is also its default). Bits the
 * caller did set are kept, which is how lat/long (0 is a place) are given.
 */
#include "minqing.h"
#include "mq_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RESEND_EVERY_MS 1000
#define LIMITED_MIN_MS 1000         /* after a 301: the next resend in 1 s, */
#define LIMITED_MAX_MS 8000         /* ... doubling for each in a row up to this */
#define FIRSTS 16                   /* requests whose first send is remembered */
#define KEPT_MAX 1024               /* replies kept for mq_client_recv, at most, */
#define KEPT_MAX_BYTES (1 << 20)    /* ... and their bodies' bytes */
#define REHANDSHAKE_MIN_MS 1000     /* a failed handshake tried again after this, */
#define REHANDSHAKE_MAX_MS 8000     /* ... doubling after each failure up to this */

/* A reply a blocking call read that was not its own: its body. */
typedef struct kept_s {
    struct kept_s *next;
    msg_cmd_t cmd;
    size_t size;
    char body[];
} kept_t;

struct mq_client_t {
    void *ctx, *sock;
    unsigned stamp;                 /* mq_fork_stamp of the process that created ctx */
    char *endpoint;                 /* kept to reconnect with CURVE keys */
    mq_curve_t curve;
    mq_handshake_t hs;              /* with CURVE: why the connection cannot work */
    bool hs_failed;                 /* reported: a fresh socket at a later call */
    int64_t rehandshake_at, rehandshake_ms;
    codec_t *codec;
    codec_t *check;                 /* decodes each request before it goes (encode) */
    zmq_msg_t part[3];
    msg_t in;                       /* the last reply; strings in the codec */
    codec_frame_t in_body;          /* its body, in part[2] until the next read */
    bool windowed;                  /* sent without waiting: others' replies are kept */
    kept_t *kept, **kept_tail;
    size_t nkept, kept_bytes;
    mq_ids_t ids;
    char id[MQ_CLIENT_ID_SIZE];     /* msg_id of the submission in flight */
    /* a submission left unanswered (EINTR, ETIMEDOUT), by "channel\nexternal_id":
     * submitted again, it goes with its msg_id, so that the broker answers the
     * copy as the first and does not call the caller's own case a duplicate */
    char *retry_key;
    char retry_id[MQ_CLIENT_ID_SIZE];
    char req_id[MQ_CLIENT_ID_SIZE]; /* msg_id given to a request without one */
    codec_frame_t out[3];           /* the encoded request, for resending */
    /* the requests waited for lately (any caller's ids), each with when it
     * was first sent: MQ_RESEND_MAX_MS counts from there, also when other
     * requests went between a request's retries; the oldest is replaced */
    struct {
        char id[MQ_ID_SIZE];
        int64_t sent;
    } firsts[FIRSTS];
    unsigned nextfirst;             /* the slot replaced next */
    int64_t first_sent;             /* of the request in hand */
    msg_err_t error;
    bool limited;                   /* a 301 came during the wait in hand */
    unsigned malformed;
};

/* ---- lifecycle ------------------------------------------------------- */

static int open_socket(mq_client_t *self, const char *endpoint)
{
    if (!(self->codec = codec_new()) || !(self->check = codec_new()))
        return mq_fail("out of memory");
    if (!(self->ctx = zmq_ctx_new()))
        return mq_fail("cannot create a zmq context: %s", zmq_strerror(errno));
    self->stamp = mq_fork_stamp();
    if (!(self->sock = mq_dealer_new(self->ctx, false, &self->curve)))
        return -1;
    if (zmq_connect(self->sock, endpoint))
        return mq_fail("cannot connect to %s: %s", endpoint, zmq_strerror(errno));
    return 0;
}

mq_client_t *mq_client_new(const char *endpoint)
{
    if (!endpoint || !strstr(endpoint, "://")) {
        mq_fail("mq_client_new: need an endpoint such as tcp://host:port");
        return NULL;
    }
    mq_client_t *self = calloc(1, sizeof *self);
    if (!self)
        return mq_fail("out of memory"), NULL;
    for (int i = 0; i < 3; i++)
        zmq_msg_init(&self->part[i]);
    mq_ids_init(&self->ids, NULL);
    self->kept_tail = &self->kept;
    self->rehandshake_ms = REHANDSHAKE_MIN_MS;
    if (!(self->endpoint = strdup(endpoint)) || open_socket(self, endpoint))
        mq_client_destroy(&self);
    return self;
}

void mq_client_destroy(mq_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mq_client_t *self = *self_p;
    /* in a forked child the sockets are the parent's: zmq_ctx_term would
     * hang there, so only the memory goes */
    if (!mq_forked(self->stamp, "mq_client_destroy", "client")) {
        mq_handshake_close(&self->hs);
        mq_socket_close(&self->sock);
        if (self->ctx)
            zmq_ctx_term(self->ctx);
    }
    for (int i = 0; i < 3; i++)
        zmq_msg_close(&self->part[i]);
    while (self->kept) {
        kept_t *next = self->kept->next;
        free(self->kept);
        self->kept = next;
    }
    codec_destroy(&self->codec);
    codec_destroy(&self->check);
    free(self->retry_key);
    free(self->endpoint);
    free(self);
    *self_p = NULL;
}

msg_err_t mq_client_error(const mq_client_t *self)
{
    return self ? self->error : MSG_OK;
}

/* ---- the CURVE handshake --------------------------------------------- */

/* mq_handshake_check, remembering a failure: ZeroMQ never retries a refused
 * handshake, and the monitor's verdict is final, so the socket is replaced
 * at a later call (rehandshake), 1 s after the first failure, then 2, 4, 8. */
static int check_handshake(mq_client_t *self)
{
    if (mq_handshake_check(&self->hs, self->endpoint) == 0)
        return 0;
    if (!self->hs_failed) {
        int err = errno;
        self->hs_failed = true;
        self->rehandshake_at = mq_now() + self->rehandshake_ms;
        self->rehandshake_ms *= 2;
        if (self->rehandshake_ms > REHANDSHAKE_MAX_MS)
            self->rehandshake_ms = REHANDSHAKE_MAX_MS;
        errno = err;
    }
    return -1;
}

/* mq_poll for a reply, with the handshakes watched too when there is a
 * monitor: a refused key ends the wait at once, not at the caller's timeout. */
static int wait_reply(mq_client_t *self, int64_t wait_ms)
{
    if (!self->hs.monitor)
        return mq_poll(self->sock, ZMQ_POLLIN, wait_ms);
    if (check_handshake(self))
        return -1;
    zmq_pollitem_t items[2] = {{.socket = self->sock, .events = ZMQ_POLLIN},
                               {.socket = self->hs.monitor, .events = ZMQ_POLLIN}};
    /* capped as mq_poll caps it; callers wait again until their deadline */
    int rc = zmq_poll(items, 2, wait_ms < 0 ? -1L : (long)(wait_ms < 3600000 ? wait_ms : 3600000));
    if (rc < 0 && errno == EINTR)
        return mq_fail("interrupted by a signal");
    if (rc < 0)
        return mq_fail("poll: %s", zmq_strerror(errno));
    if (check_handshake(self))
        return -1;
    return items[0].revents;
}

/* ---- building requests ----------------------------------------------- */

/* A non-NULL string is a present field: callers need not set those bits.
 * Nor the priority's: normal is 0 and the wire's default, so marking any
 * other value loses nothing (it was dropped, and an urgent case filed as
 * normal, with normal deadlines). */
static void mark_case_fields(msg_case_t *c)
{
    static const struct { msg_case_field_t bit; size_t off; } strs[] = {
        {CF_SERVICE_CODE, offsetof(msg_case_t, service_code)},
        {CF_DESCRIPTION, offsetof(msg_case_t, description)},
        {CF_ADDRESS_STRING, offsetof(msg_case_t, address_string)},
        {CF_FIRST_NAME, offsetof(msg_case_t, first_name)},
        {CF_LAST_NAME, offsetof(msg_case_t, last_name)},
        {CF_PHONE, offsetof(msg_case_t, phone)},
        {CF_EMAIL, offsetof(msg_case_t, email)},
        {CF_MEDIA_URL, offsetof(msg_case_t, media_url)},
        {CF_REQUESTED_DATETIME, offsetof(msg_case_t, requested_datetime)},
        {CF_EXTERNAL_ID, offsetof(msg_case_t, external_id)},
        {CF_CHANNEL, offsetof(msg_case_t, channel)},
        {CF_GRID_CODE, offsetof(msg_case_t, grid_code)},
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (*(const char *const *)(const void *)((const char *)c + strs[i].off))
            MSG_SET(c, strs[i].bit);
    if (c->priority != PRIO_NORMAL)
        MSG_SET(c, CF_PRIORITY);
}

/* The same for a request: a set field is a present field (0 and NULL are
 * never valid values of these fields). */
static void mark_request_fields(msg_t *r)
{
    if (r->case_id)
        MSG_SET(r, MF_CASE_ID);
    if (r->comment)
        MSG_SET(r, MF_COMMENT);
    if (r->department)
        MSG_SET(r, MF_DEPARTMENT);
    if (r->rating != RATING_NONE)
        MSG_SET(r, MF_RATING);
    if (r->cancel_reason != CANCEL_NONE)
        MSG_SET(r, MF_CANCEL_REASON);
}

/* Encode m into self->out, checked as the broker will check it: the
 * broker's ERROR for a bad msg_id or a body over the limit carries no `re`,
 * so a blocking call would drop it as stale and resend until its timeout.
 * A failure is the caller's, with the codec's code in mq_client_error. The
 * check decodes into its own codec: a reply's strings stay the caller's. */
static int encode(mq_client_t *self, const msg_t *m)
{
    if (mq_encode_checked(self->codec, self->check, m, self->out, &self->error) == 0)
        return 0;
    if (self->error == ERR_TOO_LARGE) {     /* documented: the caller tells it by errno */
        mq_fail("%s: %zu bytes encoded, more than the broker takes (%d)", msg_cmd_name(m->cmd),
                self->out[2].size, MSG_MAX_BODY);
        errno = EMSGSIZE;
    }
    return -1;
}

static int send_out(mq_client_t *self)
{
    if (mq_send_frames(self->sock, self->out) == 0)
        return 0;
    /* once the broker refused the key, ZeroMQ drops the connection and its
     * queue, and sends fail with EAGAIN: say why instead */
    int err = errno;
    if (check_handshake(self))
        return -1;
    errno = err;
    return mq_fail("send: %s", zmq_strerror(errno));
}

/* "channel\nexternal_id" of a case (malloc'd), or NULL without both. */
static char *case_key(const msg_case_t *kase)
{
    if (!kase || !kase->channel || !kase->external_id)
        return NULL;
    size_t n = strlen(kase->channel) + strlen(kase->external_id) + 2;
    char *key = malloc(n);
    if (key)
        snprintf(key, n, "%s\n%s", kase->channel, kase->external_id);
    return key;
}

/* Remember the submission in hand as unanswered (keep), or forget any. */
static void note_unanswered(mq_client_t *self, const msg_case_t *kase, bool keep)
{
    free(self->retry_key);
    self->retry_key = keep ? case_key(kase) : NULL;
    if (self->retry_key)
        memcpy(self->retry_id, self->id, sizeof self->id);
}

/* Encode SUBMIT {msg_id, case} into self->out: with the msg_id of the same
 * case left unanswered when `retry`, else a fresh one. */
static int encode_submit(mq_client_t *self, const msg_case_t *kase, bool retry)
{
    if (!kase)
        return mq_fail("SUBMIT: no case");
    msg_t m;
    msg_reset(&m, MSG_SUBMIT);
    char *key = retry && self->retry_key ? case_key(kase) : NULL;
    if (key && strcmp(key, self->retry_key) == 0)
        memcpy(self->id, self->retry_id, sizeof self->id);
    else
        mq_ids_next(&self->ids, self->id, sizeof self->id);
    free(key);
    m.msg_id = self->id;
    m.kase = *kase;
    mark_case_fields(&m.kase);
    MSG_SET(&m, MF_MSG_ID), MSG_SET(&m, MF_CASE);
    return encode(self, &m);
}

/* ---- replies --------------------------------------------------------- */

static bool is_reply(msg_cmd_t cmd)
{
    return cmd == MSG_SUBMIT_OK || cmd == MSG_ACK || cmd == MSG_ERROR;
}

/* Read one reply that is waiting into self->in: 1 when one came, 0 when none
 * is waiting, -1 on error. Malformed messages and non-replies are skipped. */
static int read_reply(mq_client_t *self)
{
    codec_frame_t frames[3];
    codec_error_t err;
    size_t n;
    int rc;
    while ((rc = mq_recv_frames(self->sock, self->part, frames, &n)) == 1) {
        if (n != 3 || codec_decode(self->codec, frames, n, &self->in, &err))
            self->malformed++;
        else if (is_reply(self->in.cmd)) {
            self->rehandshake_ms = REHANDSHAKE_MIN_MS;     /* a handshake worked */
            self->in_body = frames[2];
            return 1;
        }
    }
    return rc;
}

/* Send self->out and wait for the reply naming `id`, resending every second
 * for MQ_RESEND_MAX_MS at most from its first send, however long the caller
 * would wait, and over calls that send the same id again (after EINTR). 1
 * with the reply in self->in, 0 on timeout, -1 on error (errno EINTR when a
 * signal ended the wait). */
/* When the request id was first sent: remembered from an earlier call, or
 * now. */
static int64_t first_send(mq_client_t *self, const char *id, int64_t now)
{
    for (unsigned i = 0; i < FIRSTS; i++)
        if (strcmp(self->firsts[i].id, id) == 0)
            return self->firsts[i].sent;
    unsigned i = self->nextfirst++ % FIRSTS;
    snprintf(self->firsts[i].id, sizeof self->firsts[i].id, "%s", id);
    self->firsts[i].sent = now;
    return now;
}

/* A blocking call read a reply not its own (self->in): keep it for
 * mq_client_recv when requests sent without waiting may be waiting for it.
 * Past the bounds it is dropped: the caller resends what stays unanswered. */
static void keep_reply(mq_client_t *self)
{
    if (!self->windowed || self->nkept >= KEPT_MAX ||
        self->kept_bytes + self->in_body.size > KEPT_MAX_BYTES)
        return;
    kept_t *k = malloc(sizeof *k + self->in_body.size);
    if (!k)
        return;
    k->next = NULL;
    k->cmd = self->in.cmd;
    k->size = self->in_body.size;
    memcpy(k->body, self->in_body.data, k->size);
    *self->kept_tail = k;
    self->kept_tail = &k->next;
    self->nkept++;
    self->kept_bytes += k->size;
}

/* The oldest kept reply, decoded into self->in: 1, or 0 when none is kept. */
static int unkeep_reply(mq_client_t *self)
{
    while (self->kept) {
        kept_t *k = self->kept;
        if (!(self->kept = k->next))
            self->kept_tail = &self->kept;
        self->nkept--;
        self->kept_bytes -= k->size;
        const char *name = msg_cmd_name(k->cmd);
        codec_frame_t frames[3] = {{MSG_SIGNATURE, strlen(MSG_SIGNATURE)},
                                   {name, strlen(name)}, {k->body, k->size}};
        codec_error_t err;
        int rc = codec_decode(self->codec, frames, 3, &self->in, &err);
        free(k);
        if (rc == 0)        /* it decoded once already */
            return 1;
    }
    return 0;
}

static int exchange(mq_client_t *self, const char *id, int timeout_ms)
{
    int64_t start = mq_now(), deadline = mq_deadline(timeout_ms);
    int64_t resend = start + RESEND_EVERY_MS, limited_ms = 0;
    self->limited = false;
    self->first_sent = first_send(self, id, start);
    if (start - self->first_sent >= MQ_RESEND_MAX_MS)
        return 0;
    if (deadline - self->first_sent > MQ_RESEND_MAX_MS)
        deadline = self->first_sent + MQ_RESEND_MAX_MS;
    if (send_out(self))
        return -1;
    for (;;) {
        int rc;
        while ((rc = read_reply(self)) == 1) {
            if (MSG_HAS(&self->in, MF_RE) && strcmp(self->in.re, id) == 0)
                return 1;
            keep_reply(self);       /* or dropped as stale */
            if (self->in.cmd == MSG_ERROR && self->in.code == ERR_RATE_LIMITED) {
                /* it names no request, and may be this one's: each copy
                 * counts against the rate, so resending on the usual beat
                 * kept the client over it, and a timeout said nothing of
                 * why (timed_out reports it) */
                limited_ms = limited_ms ? limited_ms * 2 : LIMITED_MIN_MS;
                if (limited_ms > LIMITED_MAX_MS)
                    limited_ms = LIMITED_MAX_MS;
                resend = mq_now() + limited_ms;
                self->limited = true;
            }
        }
        if (rc < 0)
            return -1;
        int64_t now = mq_now();
        if (now >= deadline)
            return 0;
        if (now >= resend) {
            send_out(self);         /* a failed resend is one more loss */
            resend = now + RESEND_EVERY_MS;
        }
        int64_t wake = resend < deadline ? resend : deadline;
        if (wait_reply(self, wake - now) < 0)
            return -1;
    }
}

/* Judge the reply in self->in to a request that wants `want`. */
static int verdict(mq_client_t *self, const char *what, msg_cmd_t want)
{
    const msg_t *r = &self->in;
    if (r->cmd == MSG_ERROR) {
        self->error = (msg_err_t)r->code;
        return mq_fail("%s refused: %s (%u): %s", what, msg_err_name(self->error), r->code,
                       r->reason_text);
    }
    if (r->cmd != want)
        return mq_fail("%s: the broker answered %s", what, msg_cmd_name(r->cmd));
    return 0;
}

/* A fresh socket, with the keys and the handshake watch the old one had. The
 * old one goes with whatever it still queues: copies of a request given up
 * would otherwise reach a broker that comes back later, and one past the
 * broker's 24 hours of memory would be applied twice. The new one is set up
 * whole before the old one goes: 0, or -1 with the old one kept. */
static int reopen_socket(mq_client_t *self)
{
    mq_handshake_t hs = {0};
    void *sock = mq_dealer_new(self->ctx, false, &self->curve);
    if (!sock)
        return -1;
    if ((self->curve.on && mq_handshake_watch(&hs, self->ctx, sock)) ||
        zmq_connect(sock, self->endpoint)) {
        int rc = mq_fail("cannot connect to %s: %s", self->endpoint, zmq_strerror(errno));
        mq_handshake_close(&hs);
        mq_socket_close(&sock);
        return rc;
    }
    mq_handshake_close(&self->hs);
    mq_socket_close(&self->sock);
    self->hs = hs;
    self->sock = sock;
    self->hs_failed = false;
    return 0;
}

/* Before a call: after a failed handshake has been reported, a fresh socket
 * and monitor, so that a key allowlisted since (the broker reloaded) is
 * tried again without a new object. Not before rehandshake_at, which is
 * waited for within the caller's deadline, so that a caller calling again at
 * once neither spins nor storms the broker with handshakes. 0, or -1 with
 * the failure again (or EINTR) recorded. */
static int rehandshake(mq_client_t *self, int64_t deadline)
{
    if (!self->hs_failed)
        return 0;
    int64_t now = mq_now();
    int64_t until = self->rehandshake_at < deadline ? self->rehandshake_at : deadline;
    if (until > now && poll(NULL, 0, (int)(until - now)) < 0)
        return mq_fail("interrupted by a signal");
    if (mq_now() < self->rehandshake_at)
        return mq_handshake_check(&self->hs, self->endpoint);   /* the same verdict */
    return reopen_socket(self);
}

/* What is left of timeout_ms (-1: forever) at this moment. */
static int left_ms(int timeout_ms, int64_t deadline)
{
    if (timeout_ms < 0)
        return -1;
    int64_t left = deadline - mq_now();
    return left > 0 ? (int)left : 0;
}

/* The caller stops waiting: its copies still queued are dropped with the
 * socket (reopen_socket). */
static int timed_out(mq_client_t *self, const char *what, const char *id, int timeout_ms)
{
    reopen_socket(self);
    errno = ETIMEDOUT;
    if (self->limited) {
        self->error = ERR_RATE_LIMITED;
        return mq_fail("%s %s: no reply within %d ms: the broker refused copies as over this "
                       "client's rate (RATE_LIMITED 301); send it again later",
                       what, id, timeout_ms);
    }
    if (mq_now() - self->first_sent >= MQ_RESEND_MAX_MS)
        return mq_fail("%s %s: no reply in 23 hours; given up, since the broker forgets a "
                       "msg_id after 24 and a later copy could be applied twice",
                       what, id);
    return mq_fail("%s %s: no reply within %d ms", what, id, timeout_ms);
}

/* ---- the API --------------------------------------------------------- */

int mq_client_submit(mq_client_t *self, const msg_case_t *kase, int timeout_ms,
                     uint64_t *case_id, bool *duplicate)
{
    if (!self)
        return mq_fail("mq_client_submit: client is NULL");
    if (mq_forked(self->stamp, "mq_client_submit", "client"))
        return -1;
    self->error = MSG_OK;
    int64_t deadline = mq_deadline(timeout_ms);
    if (encode_submit(self, kase, true) || rehandshake(self, deadline))
        return -1;
    int rc = exchange(self, self->id, left_ms(timeout_ms, deadline));
    if (rc <= 0) {
        if (rc == 0)
            timed_out(self, "SUBMIT", self->id, timeout_ms);
        /* unanswered, not refused: the same msg_id next time, while the
         * broker remembers it (past 23 hours a copy could be applied twice) */
        int err = errno;
        note_unanswered(self, kase, mq_now() - self->first_sent < MQ_RESEND_MAX_MS);
        errno = err;
        return -1;
    }
    note_unanswered(self, kase, false);
    if (verdict(self, "SUBMIT", MSG_SUBMIT_OK))
        return -1;
    if (case_id)
        *case_id = self->in.case_id;
    if (duplicate)
        *duplicate = self->in.duplicate;
    return 0;
}

int mq_client_send_submit(mq_client_t *self, const msg_case_t *kase, char *msg_id)
{
    if (!self || !msg_id)
        return mq_fail("mq_client_send_submit: client and msg_id buffer are required");
    if (mq_forked(self->stamp, "mq_client_send_submit", "client"))
        return -1;
    self->error = MSG_OK;
    if (encode_submit(self, kase, false) || rehandshake(self, mq_now()) || send_out(self))
        return -1;
    self->windowed = true;
    memcpy(msg_id, self->id, sizeof self->id);
    return 0;
}

int mq_client_send(mq_client_t *self, msg_t *request, char *msg_id)
{
    bool fresh = request && (!request->msg_id || !*request->msg_id);
    if (!self || !request || (fresh && !msg_id))
        return mq_fail("mq_client_send: client, request and (for a request without msg_id) "
                       "msg_id buffer are required");
    if (mq_forked(self->stamp, "mq_client_send", "client"))
        return -1;
    self->error = MSG_OK;
    /* sent from a copy, so that a fresh id is not left in the caller's
     * request, where a later, different request would reuse it */
    msg_t m = *request;
    if (fresh) {
        mq_ids_next(&self->ids, self->id, sizeof self->id);
        m.msg_id = self->id;
    }
    MSG_SET(&m, MF_MSG_ID);
    if (MSG_HAS(&m, MF_CASE))
        mark_case_fields(&m.kase);
    if (encode(self, &m) || rehandshake(self, mq_now()) || send_out(self))
        return -1;
    self->windowed = true;
    if (fresh)
        memcpy(msg_id, self->id, sizeof self->id);
    return 0;
}

int mq_client_recv(mq_client_t *self, msg_t *reply, int timeout_ms)
{
    if (!self || !reply)
        return mq_fail("mq_client_recv: client and reply are required");
    if (mq_forked(self->stamp, "mq_client_recv", "client"))
        return -1;
    self->error = MSG_OK;
    if (unkeep_reply(self)) {
        if (self->in.cmd == MSG_ERROR)
            self->error = (msg_err_t)self->in.code;
        *reply = self->in;
        return 1;
    }
    int64_t deadline = mq_deadline(timeout_ms);
    if (rehandshake(self, deadline))
        return errno == EINTR ? 0 : -1;
    for (;;) {
        int rc = read_reply(self);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            if (self->in.cmd == MSG_ERROR)
                self->error = (msg_err_t)self->in.code;
            *reply = self->in;
            return 1;
        }
        int64_t now = mq_now();
        if (now >= deadline)
            return 0;
        if (wait_reply(self, deadline == INT64_MAX ? -1 : deadline - now) < 0)
            return errno == EINTR ? 0 : -1;
    }
}

static bool is_request(msg_cmd_t cmd)
{
    return cmd == MSG_FEEDBACK || cmd == MSG_CLOSE || cmd == MSG_REASSIGN ||
           cmd == MSG_CANCEL;
}

int mq_client_request(mq_client_t *self, const msg_t *request, char *msg_id, msg_t *reply,
                      int timeout_ms)
{
    if (!self || !request)
        return mq_fail("mq_client_request: client and request are required");
    if (mq_forked(self->stamp, "mq_client_request", "client"))
        return -1;
    self->error = MSG_OK;
    const char *what = msg_cmd_name(request->cmd);
    if (!is_request(request->cmd))
        return mq_fail("mq_client_request: %s is not FEEDBACK, CLOSE, REASSIGN or CANCEL",
                       what ? what : "an unknown command");
    /* sent from a copy: a fresh id left in the caller's request would live in
     * this client, and the next request without one would overwrite it, so
     * that a resend of this one went out under the other's id */
    msg_t m = *request;
    if (!m.msg_id || !*m.msg_id) {
        mq_ids_next(&self->ids, self->req_id, sizeof self->req_id);
        m.msg_id = self->req_id;
        if (msg_id)
            memcpy(msg_id, self->req_id, sizeof self->req_id);
    }
    MSG_SET(&m, MF_MSG_ID);
    mark_request_fields(&m);
    int64_t deadline = mq_deadline(timeout_ms);
    if (encode(self, &m) || rehandshake(self, deadline))
        return -1;
    int rc = exchange(self, m.msg_id, left_ms(timeout_ms, deadline));
    if (rc <= 0)
        return rc < 0 ? -1 : timed_out(self, what, m.msg_id, timeout_ms);
    if (reply)
        *reply = self->in;
    return verdict(self, what, MSG_ACK);
}

int mq_client_set_certs(mq_client_t *self, const char *server_cert, const char *client_cert)
{
    if (!self)
        return mq_fail("mq_client_set_certs: no client");
    if (mq_forked(self->stamp, "mq_client_set_certs", "client"))
        return -1;
    if (mq_curve_load(&self->curve, server_cert, client_cert))
        return -1;
    /* the socket mq_client_new connected carries no keys: replace it */
    return reopen_socket(self);
}
