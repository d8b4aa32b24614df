/*
 * mq_common.c - the common core of libminqing: error text, msg_ids, masking of
 * personal data, the clock, and frame I/O on ZeroMQ sockets.
 *
 * The worker (mq_worker.c) and the intake client (mq_client.c) both speak
 * protocol v1 through the codec over DEALER sockets; what they have in common
 * lives here so that each half reads as its own state machine.
 *
 * msg_ids must never repeat, even after the adapter restarts, because the
 * broker answers a repeated msg_id from its memory instead of applying the
 * message again. An id is "<tag>-<pid>-<32 random bits>-<counter>" (hex): the
 * pid separates processes alive at the same time, the random part separates a
 * process from its predecessors with the same pid, the counter orders one
 * process's messages.
 */
#include "minqing.h"
#include "keyfile.h"
#include "mask.h"
#include "mq_internal.h"

#include <czmq.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char last_error[256];

const char *mq_strerror(void)
{
    return last_error[0] ? last_error : "no error";
}

int mq_fail(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    errno = saved;
    return -1;
}

/* Forks this process is a child of, counted by a handler fork() runs in
 * the child: getpid() would cost a system call on every call of the
 * library, a measurable share of a worker's at thousands a second. */
static unsigned forks;
static pthread_once_t forks_once = PTHREAD_ONCE_INIT;

static void count_fork(void)
{
    forks++;
}

static void watch_forks(void)
{
    (void)pthread_atfork(NULL, NULL, count_fork);
}

unsigned mq_fork_stamp(void)
{
    pthread_once(&forks_once, watch_forks);
    return forks + 1;
}

int mq_forked(unsigned owner, const char *fn, const char *what)
{
    if (!owner || owner == mq_fork_stamp())
        return 0;
    mq_fail("%s: used in a forked child: create a new %s there", fn, what);
    errno = ECHILD;
    return -1;
}

/* ---- msg_ids ---------------------------------------------------------- */

/* 32 bits from the kernel; a clock-and-address mix only if both sources fail. */
static uint32_t random32(void)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) == (ssize_t)sizeof r)
        return r;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, &r, sizeof r);
        close(fd);
        if (n == (ssize_t)sizeof r)
            return r;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec ^ (uint32_t)(uintptr_t)&r;
}

void mq_ids_init(mq_ids_t *ids, const char *tag)
{
    unsigned pid = (unsigned)getpid();
    uint32_t r = random32();
    if (tag && *tag)
        snprintf(ids->prefix, sizeof ids->prefix, "%.*s-%x-%08" PRIx32 "-",
                 MQ_ID_TAG_MAX, tag, pid, r);
    else
        snprintf(ids->prefix, sizeof ids->prefix, "%x-%08" PRIx32 "-", pid, r);
    ids->counter = 0;
}

void mq_ids_next(mq_ids_t *ids, char *out, size_t size)
{
    snprintf(out, size, "%s%" PRIx64, ids->prefix, ++ids->counter);
}

/* ---- personal data ---------------------------------------------------- */

void mq_mask_text(const char *text, char *out, size_t size)
{
    mask_text(text, out, size);     /* proto/mask.c: as `minqing show` masks */
}

/* ---- time ------------------------------------------------------------- */

_Atomic int64_t mq_clock_offset_ms;

int64_t mq_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + mq_clock_offset_ms;
}

int64_t mq_deadline(int timeout_ms)
{
    return timeout_ms < 0 ? INT64_MAX : mq_now() + timeout_ms;
}

/* ---- sockets ---------------------------------------------------------- */

/* Why the certificates cannot be used (recorded), or MQ_CURVE_OK. */
static mq_curve_bad_t curve_unusable(zcert_t *server, zcert_t *client,
                                     const char *server_cert, const char *client_cert)
{
    if (!server || !client) {
        mq_fail("cannot read the certificate %s", !server ? server_cert : client_cert);
        return !server ? MQ_CURVE_SERVER : MQ_CURVE_CLIENT;
    }
    if (!strcmp(zcert_secret_txt(client), "0000000000000000000000000000000000000000")) {
        mq_fail("%s_secret: the client's secret key is missing", client_cert);
        return MQ_CURVE_SECRET;
    }
    /* the file zcert_load took the secret from: NAME_secret, else NAME itself */
    char secret[4096], why[4300];
    snprintf(secret, sizeof secret, "%s_secret", client_cert);
    if (keyfile_private(access(secret, F_OK) == 0 ? secret : client_cert, why, sizeof why)) {
        mq_fail("%s", why);
        return MQ_CURVE_EXPOSED;
    }
    return MQ_CURVE_OK;
}

int mq_curve_load(mq_curve_t *curve, const char *server_cert, const char *client_cert)
{
    if (!server_cert || !client_cert) {
        curve->bad = !server_cert ? MQ_CURVE_SERVER : MQ_CURVE_CLIENT;
        mq_fail("CURVE needs the broker's certificate and this client's: %s is NULL",
                !server_cert ? "server_cert" : "client_cert");
        errno = EINVAL;
        return -1;
    }
    zcert_t *server = server_cert ? zcert_load(server_cert) : NULL;
    zcert_t *client = client_cert ? zcert_load(client_cert) : NULL;
    curve->bad = curve_unusable(server, client, server_cert, client_cert);
    if (curve->bad == MQ_CURVE_OK) {
        snprintf(curve->server, sizeof curve->server, "%s", zcert_public_txt(server));
        snprintf(curve->public_key, sizeof curve->public_key, "%s", zcert_public_txt(client));
        snprintf(curve->secret_key, sizeof curve->secret_key, "%s", zcert_secret_txt(client));
        curve->on = true;
    }
    zcert_destroy(&server);
    zcert_destroy(&client);
    return curve->bad == MQ_CURVE_OK ? 0 : -1;
}

void *mq_dealer_new(void *ctx, bool immediate, const mq_curve_t *curve)
{
    void *sock = zmq_socket(ctx, ZMQ_DEALER);
    if (!sock) {
        mq_fail("cannot create a socket: %s", zmq_strerror(errno));
        return NULL;
    }
    int linger = 0, on = 1;
    int64_t maxmsg = MQ_MAX_MESSAGE;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    /* a peer (or anyone on a plain tcp:// path) could otherwise make libzmq
     * buffer a frame of any size before the codec refuses it */
    zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (immediate)
        zmq_setsockopt(sock, ZMQ_IMMEDIATE, &on, sizeof on);
    if (curve && mq_curve_apply(curve, sock)) {
        zmq_close(sock);
        return NULL;
    }
    return sock;
}

int mq_curve_apply(const mq_curve_t *curve, void *sock)
{
    if (!curve->on)
        return 0;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, curve->server, 40) ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, curve->public_key, 40) ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, curve->secret_key, 40))
        return mq_fail("CURVE keys: %s", zmq_strerror(errno));
    return 0;
}

void mq_socket_close(void **sock_p)
{
    if (*sock_p)
        zmq_close(*sock_p);
    *sock_p = NULL;
}

int mq_encode_checked(codec_t *enc, codec_t *dec, const msg_t *m, codec_frame_t frames[3],
                      msg_err_t *code)
{
    codec_error_t err;
    msg_t check;
    int rc = codec_encode(enc, m, frames, &err);
    if (rc == 0)
        rc = codec_decode(dec, frames, 3, &check, &err);
    if (code)
        *code = rc ? err.code : MSG_OK;
    /* worded as the broker's refusal is, which callers may already parse */
    return rc ? mq_fail("%s not sent: %s (%u): %s", msg_cmd_name(m->cmd), msg_err_name(err.code),
                        (unsigned)err.code, err.reason) : 0;
}

int mq_send_frames(void *sock, const codec_frame_t frames[3])
{
    /* ZeroMQ takes a multipart message whole or not at all, so only the
     * first frame can fail with EAGAIN. */
    if (zmq_send(sock, frames[0].data, frames[0].size, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(sock, frames[1].data, frames[1].size, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(sock, frames[2].data, frames[2].size, ZMQ_DONTWAIT) < 0)
        return -1;
    return 0;
}

int mq_send_body(void *sock, msg_cmd_t cmd, const void *body, size_t size)
{
    const char *name = msg_cmd_name(cmd);
    codec_frame_t frames[3] = {
        {MSG_SIGNATURE, strlen(MSG_SIGNATURE)}, {name, strlen(name)}, {body, size}};
    return mq_send_frames(sock, frames);
}

int mq_recv_frames(void *sock, zmq_msg_t part[3], codec_frame_t frames[3], size_t *nframes)
{
    size_t n = 0;
    bool more = true;
    while (more) {
        /* frames past the third are read into the last slot and dropped */
        zmq_msg_t *m = &part[n < 3 ? n : 2];
        if (zmq_msg_recv(m, sock, ZMQ_DONTWAIT) < 0) {
            if ((errno == EAGAIN || errno == EINTR) && n == 0)
                return 0;           /* nothing, or a signal: the caller polls again */
            if (errno == EINTR)
                continue;           /* the rest of a message is already here */
            return mq_fail("receive: %s", zmq_strerror(errno));
        }
        if (n < 3)
            frames[n] = (codec_frame_t){zmq_msg_data(m), zmq_msg_size(m)};
        more = zmq_msg_more(m);
        n++;
    }
    *nframes = n;
    return 1;
}

int mq_poll(void *sock, short events, int64_t wait_ms)
{
    zmq_pollitem_t item = {.socket = sock, .events = events};
    long wait = wait_ms < 0 ? -1 : wait_ms > 3600000 ? 3600000 : (long)wait_ms;
    int rc = zmq_poll(&item, 1, wait);
    if (rc < 0 && errno == EINTR)
        return mq_fail("interrupted by a signal");
    if (rc < 0)
        return mq_fail("poll: %s", zmq_strerror(errno));
    return rc > 0 ? item.revents : 0;
}
