/*
 * test_libminqing.c - libminqing (workers/) against a fake broker.
 *
 * The real broker is not needed to check the library's side of the protocol:
 * a ROUTER socket bound to an ipc:// endpoint in a fresh mkdtemp directory
 * plays the broker. It decodes what the library sends with the real codec (so
 * every message is also checked for validity) and answers, ignores, refuses
 * or falls silent as each test needs.
 *
 * Worker tests run in one thread: the library only acts inside its calls, so
 * a test pumps the worker (mq_worker_next with a short timeout) and reads the
 * fake broker in turns, which keeps them deterministic. Client calls block
 * until their reply, so there the fake broker is served from a pthread.
 *
 * The timings are the library's real ones (REGISTER every 1 s, outcome resent
 * after 5 s, retry 1 s after ERROR 5xx, backoff from 250 ms); tests wait as
 * long as those need and no longer, and every wait is bounded. Only the
 * 23 hours after which an outcome is given up are not waited for: that test
 * moves the library's clock forward (mq_clock_offset_ms, reset by
 * teardown).
 */
#include "codec.h"
#include "minqing.h"
#include "mq_internal.h"       /* mq_clock_offset_ms */

#include <czmq.h>                /* zcert: CURVE certificates for the fake */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>
#if defined(__SANITIZE_ADDRESS__)
size_t __sanitizer_get_current_allocated_bytes(void);  /* ASan's own malloc */
#else
#include <malloc.h>
#endif


/* ---- the fake broker --------------------------------------------------- */

typedef struct {
    char dir[64], path[96], endpoint[128];
    char late_path[96], late_endpoint[128];     /* bound on demand */
    void *ctx, *router;
    codec_t *codec;
    zmq_msg_t part[4];
    char ident[256];                /* routing id of the last sender */
    size_t ident_len;
    msg_t in;                       /* the last message received */
    char why[256];                  /* what was wrong with it */
    bool answer_heartbeats;         /* like a live broker; off for silence */
    struct zap_s *zap;              /* with CURVE (curve_broker) */
} fake_t;

static void zap_stop(fake_t *f);

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static fake_t *fake_new(void)
{
    fake_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/mq-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/broker", f->dir);
    snprintf(f->endpoint, sizeof f->endpoint, "ipc://%s", f->path);
    snprintf(f->late_path, sizeof f->late_path, "%s/late", f->dir);
    snprintf(f->late_endpoint, sizeof f->late_endpoint, "ipc://%s", f->late_path);
    f->ctx = zmq_ctx_new();
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_bind(f->router, f->endpoint), 0);
    f->codec = codec_new();
    assert_non_null(f->codec);
    for (int i = 0; i < 4; i++)
        zmq_msg_init(&f->part[i]);
    f->answer_heartbeats = true;
    return f;
}

/* The broker dies (its socket and connections go) ... */
static void fake_close(fake_t *f)
{
    zmq_close(f->router);
    f->router = NULL;
}

/* ... and comes back on the same endpoint. */
static void fake_reopen(fake_t *f)
{
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_bind(f->router, f->endpoint), 0);
}

static void fake_destroy(fake_t *f)
{
    zap_stop(f);
    zmq_close(f->router);
    zmq_ctx_term(f->ctx);
    for (int i = 0; i < 4; i++)
        zmq_msg_close(&f->part[i]);
    codec_destroy(&f->codec);
    unlink(f->path);
    unlink(f->late_path);
    rmdir(f->dir);
    free(f);
}

/* Receive one message within timeout_ms into f->in: 1, 0 on timeout, -1
 * when what the library sent is not a valid message (f->why says how). No
 * cmocka asserts here: the client tests call it from a thread. */
static int fake_recv(fake_t *f, int timeout_ms)
{
    zmq_pollitem_t item = {.socket = f->router, .events = ZMQ_POLLIN};
    if (zmq_poll(&item, 1, timeout_ms) <= 0)
        return 0;
    size_t n = 0;
    int more = 1;
    while (more) {
        zmq_msg_t *m = &f->part[n < 4 ? n : 3];
        if (zmq_msg_recv(m, f->router, 0) < 0)
            return snprintf(f->why, sizeof f->why, "recv: %s", zmq_strerror(errno)), -1;
        more = zmq_msg_more(m);
        n++;
    }
    f->ident_len = zmq_msg_size(&f->part[0]);
    if (f->ident_len > sizeof f->ident)
        return snprintf(f->why, sizeof f->why, "routing id too long"), -1;
    memcpy(f->ident, zmq_msg_data(&f->part[0]), f->ident_len);
    if (n != 4)
        return snprintf(f->why, sizeof f->why, "%zu frames after the routing id", n - 1), -1;
    codec_frame_t frames[3];
    for (int i = 0; i < 3; i++)
        frames[i] = (codec_frame_t){zmq_msg_data(&f->part[i + 1]), zmq_msg_size(&f->part[i + 1])};
    codec_error_t err;
    if (codec_decode(f->codec, frames, 3, &f->in, &err))
        return snprintf(f->why, sizeof f->why, "invalid message: %s", err.reason), -1;
    return 1;
}

/* fake_recv for the test's own thread: a bad message fails the test. */
static int fake_get(fake_t *f, int timeout_ms)
{
    int rc = fake_recv(f, timeout_ms);
    if (rc < 0)
        fail_msg("the library sent %s", f->why);
    return rc;
}

/* Send raw frames to the last sender. */
static void fake_send_frames(fake_t *f, const codec_frame_t *frames, size_t n)
{
    assert_int_equal(zmq_send(f->router, f->ident, f->ident_len, ZMQ_SNDMORE), (int)f->ident_len);
    for (size_t i = 0; i < n; i++)
        assert_true(zmq_send(f->router, frames[i].data, frames[i].size,
                             i + 1 < n ? ZMQ_SNDMORE : 0) >= 0);
}

static void fake_send(fake_t *f, const msg_t *m)
{
    codec_frame_t frames[3];
    codec_error_t err;
    if (codec_encode(f->codec, m, frames, &err))
        fail_msg("fake broker cannot encode: %s", err.reason);
    fake_send_frames(f, frames, 3);
}

static void send_ack(fake_t *f, const char *re, uint32_t heartbeat_ms)
{
    msg_t m;
    msg_reset(&m, MSG_ACK);
    m.re = re;
    MSG_SET(&m, MF_RE);
    if (heartbeat_ms) {
        m.heartbeat_ms = heartbeat_ms;
        MSG_SET(&m, MF_HEARTBEAT_MS);
    }
    fake_send(f, &m);
}

static void send_error(fake_t *f, const char *re, msg_err_t code, const char *reason)
{
    msg_t m;
    msg_reset(&m, MSG_ERROR);
    m.code = code;
    m.reason_text = reason;
    MSG_SET(&m, MF_CODE), MSG_SET(&m, MF_REASON_TEXT);
    if (re) {
        m.re = re;
        MSG_SET(&m, MF_RE);
    }
    fake_send(f, &m);
}

static void send_cmd(fake_t *f, msg_cmd_t cmd)
{
    msg_t m;
    msg_reset(&m, cmd);
    fake_send(f, &m);
}

/* ---- CURVE: a broker that admits keys through ZAP ---------------------- */

typedef struct zap_s {
    void *rep;                      /* the ZAP handler, served by `thread` */
    pthread_t thread;
    atomic_bool allow, stop;
    char server[128], client[128];  /* certificate files for the library */
} zap_t;

/* Answer ZAP requests (RFC 27): 200 while `allow`, else 400. */
static void *zap_serve(void *arg)
{
    zap_t *z = arg;
    while (!z->stop) {
        zmq_pollitem_t item = {.socket = z->rep, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, 20) <= 0)
            continue;
        char frame[8][256];
        int size[8] = {0}, more = 1, n = 0;
        size_t len = sizeof more;
        while (more) {
            size[n < 8 ? n : 7] = zmq_recv(z->rep, frame[n < 8 ? n : 7], 256, 0);
            zmq_getsockopt(z->rep, ZMQ_RCVMORE, &more, &len);
            n++;
        }
        const char *status = z->allow ? "200" : "400";
        zmq_send(z->rep, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(z->rep, frame[1], size[1] < 256 ? (size_t)size[1] : 256, ZMQ_SNDMORE);
        zmq_send(z->rep, status, 3, ZMQ_SNDMORE);
        zmq_send(z->rep, "", 0, ZMQ_SNDMORE);
        zmq_send(z->rep, "", 0, ZMQ_SNDMORE);
        zmq_send(z->rep, "", 0, 0);
    }
    return NULL;
}

/* The fake broker again on its endpoint, as a CURVE server whose ZAP
 * handler refuses the client's key until z->allow is set. */
static zap_t *curve_broker(fake_t *f)
{
    zap_t *z = calloc(1, sizeof *z);
    assert_non_null(z);
    snprintf(z->server, sizeof z->server, "%s/server", f->dir);
    snprintf(z->client, sizeof z->client, "%s/client", f->dir);
    zcert_t *sc = zcert_new(), *cc = zcert_new();
    assert_int_equal(zcert_save_public(sc, z->server), 0);
    assert_int_equal(zcert_save(cc, z->client), 0);
    int linger = 0, on = 1;
    z->rep = zmq_socket(f->ctx, ZMQ_REP);
    zmq_setsockopt(z->rep, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_bind(z->rep, "inproc://zeromq.zap.01"), 0);
    assert_int_equal(pthread_create(&z->thread, NULL, zap_serve, z), 0);
    f->zap = z;
    fake_close(f);
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(f->router, ZMQ_CURVE_SERVER, &on, sizeof on);
    zmq_setsockopt(f->router, ZMQ_CURVE_SECRETKEY, zcert_secret_txt(sc), 40);
    assert_int_equal(zmq_bind(f->router, f->endpoint), 0);
    zcert_destroy(&sc);
    zcert_destroy(&cc);
    return z;
}

static void zap_stop(fake_t *f)
{
    zap_t *z = f->zap;
    if (!z)
        return;
    z->stop = true;
    pthread_join(z->thread, NULL);
    zmq_close(z->rep);
    char secret[160];
    snprintf(secret, sizeof secret, "%s_secret", z->client);
    unlink(z->server);
    unlink(z->client);
    unlink(secret);
    free(z);
    f->zap = NULL;
}

/* ---- driving a worker ------------------------------------------------- */

#define SET(m, bit, field, v) ((m)->field = (v), MSG_SET((m), (bit)))

/* The broker's SUBMIT_OK to request re: case case_id, not a duplicate. */
static void send_submit_ok(fake_t *f, const char *re, uint64_t case_id)
{
    msg_t m;
    msg_reset(&m, MSG_SUBMIT_OK);
    SET(&m, MF_RE, re, re);
    SET(&m, MF_CASE_ID, case_id, case_id);
    SET(&m, MF_DUPLICATE, duplicate, false);
    fake_send(f, &m);
}

static const char DEPT[] = "water";

/* Let the worker run for up to ms; it must not produce an event. */
static void pump(mq_worker_t *w, int ms)
{
    mq_assignment_t a;
    mq_escalation_t e;
    assert_int_equal(mq_worker_next(w, &a, &e, ms), MQ_NOTHING);
}

/* Pump the worker until the fake broker receives `cmd`, within timeout_ms;
 * returns f->in. HEARTBEATs on the way are answered (while the fake is
 * "alive") and skipped; any other message fails the test. */
static const msg_t *expect(fake_t *f, mq_worker_t *w, msg_cmd_t cmd, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (now_ms() < deadline) {
        while (fake_get(f, 0)) {
            if (f->in.cmd == cmd)
                return &f->in;
            if (f->in.cmd != MSG_HEARTBEAT)
                fail_msg("expected %s, got %s", msg_cmd_name(cmd), msg_cmd_name(f->in.cmd));
            if (f->answer_heartbeats)
                send_cmd(f, MSG_HEARTBEAT);
        }
        pump(w, 10);
    }
    fail_msg("no %s within %d ms", msg_cmd_name(cmd), timeout_ms);
    return NULL;
}

/* A worker of DEPT, registered with the fake broker. */
static mq_worker_t *registered_worker(fake_t *f, uint32_t heartbeat_ms)
{
    mq_worker_t *w = mq_worker_new(f->endpoint, DEPT, 4, "water-1");
    assert_non_null(w);
    const msg_t *reg = expect(f, w, MSG_REGISTER, 1000);
    send_ack(f, reg->msg_id, heartbeat_ms);
    pump(w, 20);
    return w;
}

static void copy_id(char *dst, const char *src)
{
    assert_non_null(src);
    assert_true(strlen(src) <= 64);
    strcpy(dst, src);
}

/* A registered worker that has sent its ACCEPT of asg; the ACCEPT's msg_id
 * in id, still unacknowledged. */
static mq_worker_t *accepting_worker(fake_t *f, uint64_t asg, char id[65])
{
    mq_worker_t *w = registered_worker(f, 1000);
    assert_int_equal(mq_worker_accept(w, asg), 0);
    copy_id(id, expect(f, w, MSG_ACCEPT, 1000)->msg_id);
    return w;
}

/* Pump until the worker has no outcome left unacknowledged. */
static void expect_unacked(mq_worker_t *w, unsigned n, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (mq_worker_unacked(w) != n && now_ms() < deadline)
        pump(w, 10);
    assert_int_equal(mq_worker_unacked(w), n);
}

static int setup(void **state)
{
    *state = fake_new();
    return 0;
}

static int teardown(void **state)
{
    mq_clock_offset_ms = 0;
    fake_destroy(*state);
    return 0;
}

/* ---- worker tests ----------------------------------------------------- */

static void worker_rejects_bad_arguments(void **state)
{
    fake_t *f = *state;
    assert_null(mq_worker_new(NULL, DEPT, 1, NULL));
    assert_null(mq_worker_new("nowhere", DEPT, 1, NULL));
    assert_null(mq_worker_new(f->endpoint, NULL, 1, NULL));
    assert_null(mq_worker_new(f->endpoint, DEPT, 0, NULL));
    assert_null(mq_worker_new(f->endpoint, DEPT, 10001, NULL));
    assert_null(mq_worker_new(f->endpoint, "水务", 1, NULL));       /* not a token */
    assert_non_null(strstr(mq_strerror(), "department"));
    char longname[80];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_null(mq_worker_new(f->endpoint, DEPT, 1, longname));
    assert_non_null(strstr(mq_strerror(), "worker"));
    mq_worker_t *w = mq_worker_new(f->endpoint, DEPT, 1, NULL);
    assert_non_null(w);
    mq_worker_destroy(&w);
    assert_null(w);
    mq_worker_destroy(&w);          /* twice is harmless */
    mq_worker_destroy(NULL);
}

/* REGISTER carries the worker's identity, is resent with the same msg_id
 * until acknowledged, and holds outcomes back until then. */
static void worker_registers(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = mq_worker_new(f->endpoint, DEPT, 4, "water-1");
    assert_non_null(w);
    int64_t t0 = now_ms();
    assert_int_equal(mq_worker_accept(w, 7), 0);
    assert_int_equal(mq_worker_unacked(w), 1);

    const msg_t *reg = expect(f, w, MSG_REGISTER, 1000);
    assert_true(now_ms() - t0 < 500);   /* sent once connected, not a second later */
    assert_string_equal(reg->department, DEPT);
    assert_int_equal(reg->capacity, 4);
    assert_string_equal(reg->worker, "water-1");
    assert_true(strncmp(reg->msg_id, "water-", 6) == 0);
    char id[65];
    copy_id(id, reg->msg_id);

    t0 = now_ms();                  /* unanswered: sent again, nothing else */
    reg = expect(f, w, MSG_REGISTER, 1500);
    assert_string_equal(reg->msg_id, id);
    assert_true(now_ms() - t0 >= 800);

    send_ack(f, id, 1000);
    const msg_t *acc = expect(f, w, MSG_ACCEPT, 1000);
    assert_int_equal(acc->assignment_id, 7);
    assert_true(strncmp(acc->msg_id, "water-", 6) == 0);
    assert_string_not_equal(acc->msg_id, id);
    send_ack(f, acc->msg_id, 0);
    expect_unacked(w, 0, 500);
    mq_worker_destroy(&w);
    while (fake_get(f, 500) && f->in.cmd == MSG_HEARTBEAT)
        ;
    assert_int_equal(f->in.cmd, MSG_DISCONNECT);   /* goodbye */
}

/* A broker that is not there yet is waited for: the worker registers once
 * it comes up. */
static void worker_waits_for_broker(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = mq_worker_new(f->late_endpoint, DEPT, 2, NULL);
    pump(w, 300);
    assert_int_equal(fake_recv(f, 0), 0);
    assert_int_equal(zmq_bind(f->router, f->late_endpoint), 0);
    const msg_t *reg = expect(f, w, MSG_REGISTER, 3000);
    send_ack(f, reg->msg_id, 1000);
    assert_int_equal(mq_worker_accept(w, 9), 0);
    send_ack(f, expect(f, w, MSG_ACCEPT, 1000)->msg_id, 0);
    expect_unacked(w, 0, 500);
    mq_worker_destroy(&w);
}

/* What the header promises callers who look at errno: a flush that runs
 * out of time says ETIMEDOUT (it left a poll's EAGAIN), an outcome over the
 * body limit EMSGSIZE and a bad one EINVAL (both left errno as it was), as
 * the client says them; set_certs refuses NULL paths instead of failing on
 * a file named "(null)"; the arguments the outcome calls may leave NULL. */
static void worker_says_why_in_errno(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = registered_worker(f, 1000);
    assert_int_equal(mq_worker_accept(w, 3), 0);
    errno = 0;
    assert_int_equal(mq_worker_flush(w, 100), -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_non_null(strstr(mq_strerror(), "still unacknowledged"));

    static char huge[MSG_MAX_BODY + 100];
    memset(huge, 'n', sizeof huge - 1);
    errno = 0;
    assert_int_equal(mq_worker_contacted(w, 3, huge), -1);
    assert_int_equal(errno, EMSGSIZE);
    errno = 0;
    assert_int_equal(mq_worker_progress(w, 3, NULL), -1);      /* needs a note */
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(mq_worker_resolved(w, 3, "fixed", NULL), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(mq_worker_returned(w, 3, RETURN_NONE, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(mq_worker_contacted(w, 3, NULL), 0);
    assert_int_equal(mq_worker_returned(w, 3, RETURN_OTHER, NULL), 0);
    assert_int_equal(mq_worker_unacked(w), 3);
    mq_worker_destroy(&w);

    w = mq_worker_new(f->endpoint, DEPT, 1, NULL);
    mq_client_t *c = mq_client_new(f->endpoint);
    errno = 0;
    assert_int_equal(mq_worker_set_certs(w, NULL, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_null(strstr(mq_strerror(), "(null)"));
    errno = 0;
    assert_int_equal(mq_client_set_certs(c, "broker.cert", NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_null(strstr(mq_strerror(), "(null)"));
    assert_non_null(strstr(mq_strerror(), "client_cert"));
    mq_client_destroy(&c);
    mq_worker_destroy(&w);
}

/* A long department is cut so that ids stay within 64 characters; two
 * workers of one department never share ids. */
static void worker_ids_are_unique_and_short(void **state)
{
    fake_t *f = *state;
    const char *dept = "abcdefghijklmnopqrstuvwxyz012345";     /* 32, the maximum */
    mq_worker_t *w1 = mq_worker_new(f->endpoint, dept, 1, NULL);
    mq_worker_t *w2 = mq_worker_new(f->endpoint, dept, 1, NULL);
    char id1[65];
    copy_id(id1, expect(f, w1, MSG_REGISTER, 1000)->msg_id);
    const char *id2 = expect(f, w2, MSG_REGISTER, 1000)->msg_id;
    assert_string_not_equal(id1, id2);
    assert_true(strlen(id1) <= 64 && strlen(id2) <= 64);
    mq_worker_destroy(&w1);
    mq_worker_destroy(&w2);
}

static void fill_case(msg_case_t *c)
{
    SET(c, CF_SERVICE_CODE, service_code, "water.leak");
    SET(c, CF_DESCRIPTION, description, "自来水管破裂，楼道积水。");
    SET(c, CF_ADDRESS_STRING, address_string, "城关街道西湖社区3号楼");
    SET(c, CF_FIRST_NAME, first_name, "小明");
    SET(c, CF_PHONE, phone, "+86 138-0000-0000");
    SET(c, CF_EXTERNAL_ID, external_id, "12345-20240501-0042");
    SET(c, CF_CHANNEL, channel, "hotline");
    SET(c, CF_GRID_CODE, grid_code, "CG01-XH02-G07");
    SET(c, CF_LAT, lat, 36.06);
    SET(c, CF_LONG, lon, 103.83);
    SET(c, CF_PRIORITY, priority, PRIO_HIGH);
}

static void send_dispatch(fake_t *f, uint64_t assignment_id)
{
    msg_t m;
    msg_reset(&m, MSG_DISPATCH);
    SET(&m, MF_ASSIGNMENT_ID, assignment_id, assignment_id);
    SET(&m, MF_CASE_ID, case_id, 900);
    SET(&m, MF_DEPARTMENT, department, DEPT);
    SET(&m, MF_ROLE, role, ROLE_LEAD);
    SET(&m, MF_ATTEMPT, attempt, 2);
    SET(&m, MF_RECEIVED_AT, received_at, 1714550400000);
    SET(&m, MF_CONTACT_DUE, contact_due, 1714552200000);
    SET(&m, MF_RESOLVE_DUE, resolve_due, 1714809600000);
    MSG_SET(&m, MF_CASE);
    fill_case(&m.kase);
    fake_send(f, &m);
}

static void send_escalate(fake_t *f, const char *msg_id, uint64_t escalation_id)
{
    msg_t m;
    msg_reset(&m, MSG_ESCALATE);
    SET(&m, MF_MSG_ID, msg_id, msg_id);
    SET(&m, MF_ESCALATION_ID, escalation_id, escalation_id);
    SET(&m, MF_CASE_ID, case_id, 900);
    SET(&m, MF_LEVEL, level, 2);
    SET(&m, MF_LADDER, ladder, LADDER_CONTACT);
    SET(&m, MF_TARGET, target, "street.CG01");
    SET(&m, MF_DEPARTMENT, department, DEPT);
    SET(&m, MF_GRID_CODE, grid_code, "CG01-XH02-G07");
    SET(&m, MF_COMMUNITY, community, "西湖社区");
    SET(&m, MF_STREET, street, "城关街道");
    SET(&m, MF_DUE_AT, due_at, 1714552200000);
    SET(&m, MF_OVERDUE_S, overdue_s, 1800);
    fake_send(f, &m);
}

/* An adapter with its own poll loop: it waits on mq_worker_fd and calls
 * mq_worker_next with timeout 0. REGISTER still goes out as soon as the
 * connection is up, and a DISPATCH wakes the fd. */
static void worker_fd_loop(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = mq_worker_new(f->endpoint, DEPT, 1, NULL);
    mq_assignment_t a;
    mq_escalation_t e;
    int64_t t0 = now_ms();
    int got = 0;
    while (!got && now_ms() - t0 < 1000) {
        struct pollfd p = {.fd = mq_worker_fd(w), .events = POLLIN};
        assert_true(p.fd >= 0);
        poll(&p, 1, 20);
        assert_int_equal(mq_worker_next(w, &a, &e, 0), MQ_NOTHING);
        got = fake_get(f, 0);
    }
    assert_true(got);
    assert_int_equal(f->in.cmd, MSG_REGISTER);
    assert_true(now_ms() - t0 < 500);
    send_ack(f, f->in.msg_id, 1000);
    send_dispatch(f, 70);
    int rc = MQ_NOTHING;
    t0 = now_ms();
    while (rc == MQ_NOTHING && now_ms() - t0 < 1000) {
        struct pollfd p = {.fd = mq_worker_fd(w), .events = POLLIN};
        poll(&p, 1, 500);
        rc = mq_worker_next(w, &a, &e, 0);
    }
    assert_int_equal(rc, MQ_ASSIGNMENT);
    assert_int_equal(a.assignment_id, 70);
    mq_worker_destroy(&w);
}

/* Garbage from the broker is skipped; DISPATCH and ESCALATE come out whole. */
static void worker_receives_events(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = registered_worker(f, 1000);
    codec_frame_t junk[3] = {{"MINQING/1", 9}, {"DISPATCH", 8}, {"\x81\xa1x", 3}};
    fake_send_frames(f, junk, 2);                   /* two frames */
    fake_send_frames(f, junk, 3);                   /* truncated map */
    codec_frame_t old[3] = {{"MINQING/0", 9}, {"HEARTBEAT", 9}, {"\x80", 1}};
    fake_send_frames(f, old, 3);                    /* another version */
    send_dispatch(f, 4242);

    mq_assignment_t a;
    mq_escalation_t e;
    assert_int_equal(mq_worker_next(w, &a, &e, 1000), MQ_ASSIGNMENT);
    assert_int_equal(a.assignment_id, 4242);
    assert_int_equal(a.case_id, 900);
    assert_string_equal(a.department, DEPT);
    assert_int_equal(a.role, ROLE_LEAD);
    assert_int_equal(a.attempt, 2);
    assert_int_equal(a.received_at, 1714550400000);
    assert_int_equal(a.contact_due, 1714552200000);
    assert_int_equal(a.resolve_due, 1714809600000);
    assert_string_equal(a.kase.service_code, "water.leak");
    assert_string_equal(a.kase.description, "自来水管破裂，楼道积水。");
    assert_string_equal(a.kase.address_string, "城关街道西湖社区3号楼");
    assert_string_equal(a.kase.first_name, "小明");
    assert_string_equal(a.kase.phone, "+86 138-0000-0000");
    assert_string_equal(a.kase.external_id, "12345-20240501-0042");
    assert_string_equal(a.kase.channel, "hotline");
    assert_string_equal(a.kase.grid_code, "CG01-XH02-G07");
    assert_true(a.kase.lat == 36.06 && a.kase.lon == 103.83);
    assert_int_equal(a.kase.priority, PRIO_HIGH);
    assert_false(MSG_HAS(&a.kase, CF_EMAIL));

    /* reporting an outcome does not disturb the assignment's strings */
    assert_int_equal(mq_worker_progress(w, a.assignment_id, a.kase.description), 0);
    assert_string_equal(a.kase.description, "自来水管破裂，楼道积水。");
    const msg_t *pr = expect(f, w, MSG_PROGRESS, 1000);
    assert_string_equal(pr->note, "自来水管破裂，楼道积水。");
    send_ack(f, pr->msg_id, 0);
    expect_unacked(w, 0, 500);

    send_escalate(f, "esc-msg-1", 77);
    assert_int_equal(mq_worker_next(w, &a, &e, 1000), MQ_ESCALATION);
    assert_int_equal(e.escalation_id, 77);
    assert_int_equal(e.case_id, 900);
    assert_int_equal(e.level, 2);
    assert_int_equal(e.ladder, LADDER_CONTACT);
    assert_string_equal(e.target, "street.CG01");
    assert_string_equal(e.department, DEPT);
    assert_string_equal(e.grid_code, "CG01-XH02-G07");
    assert_string_equal(e.community, "西湖社区");
    assert_string_equal(e.street, "城关街道");
    assert_int_equal(e.due_at, 1714552200000);
    assert_int_equal(e.overdue_s, 1800);
    mq_worker_destroy(&w);
}

/* fn (mq_worker_ack_escalation, mq_worker_release_escalation) refuses a
 * notice the worker never received. */
static void refuses_unknown(mq_worker_t *w, int (*fn)(mq_worker_t *, const mq_escalation_t *))
{
    mq_escalation_t unknown = {.escalation_id = 5};
    assert_int_equal(fn(w, &unknown), -1);
    assert_non_null(strstr(mq_strerror(), "escalation 5"));
}

/* The broker sends ESCALATE msg_id for `id`: the worker hands it out, in *e. */
static void handed_out(fake_t *f, mq_worker_t *w, const char *msg_id, uint64_t id,
                       mq_escalation_t *e)
{
    mq_assignment_t a;
    send_escalate(f, msg_id, id);
    assert_int_equal(mq_worker_next(w, &a, e, 1000), MQ_ESCALATION);
    assert_int_equal(e->escalation_id, id);
}

/* ESCALATE is answered by ACK {re = its msg_id}, which nobody answers: the
 * ACK is sent once and not queued. The broker's copies are not handed out
 * again, and are acknowledged again once the adapter has acknowledged. */
static void worker_acknowledges_escalations(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = registered_worker(f, 1000);
    mq_assignment_t a;
    mq_escalation_t e;
    refuses_unknown(w, mq_worker_ack_escalation);

    send_escalate(f, "esc-msg-1", 77);
    send_escalate(f, "esc-msg-1b", 77);         /* a copy before the ack */
    assert_int_equal(mq_worker_next(w, &a, &e, 1000), MQ_ESCALATION);
    assert_int_equal(e.escalation_id, 77);
    assert_int_equal(mq_worker_next(w, &a, &e, 100), MQ_NOTHING);
    assert_int_equal(mq_worker_ack_escalation(w, &e), 0);
    assert_int_equal(mq_worker_unacked(w), 0);
    const msg_t *ack = expect(f, w, MSG_ACK, 1000);
    assert_string_equal(ack->re, "esc-msg-1b");     /* the latest copy */
    assert_int_equal(ack->present, (uint64_t)1 << MF_RE);

    send_escalate(f, "esc-msg-1c", 77);         /* our ACK was lost */
    assert_int_equal(mq_worker_next(w, &a, &e, 100), MQ_NOTHING);
    assert_string_equal(expect(f, w, MSG_ACK, 1000)->re, "esc-msg-1c");
    assert_int_equal(mq_worker_ack_escalation(w, &e), 0);   /* again: harmless */
    assert_string_equal(expect(f, w, MSG_ACK, 1000)->re, "esc-msg-1c");

    handed_out(f, w, "esc-msg-2", 78, &e);     /* a new one is handed out */
    assert_int_equal(mq_worker_flush(w, 0), 0);
    mq_worker_destroy(&w);
}

/* An adapter that could not act on a notice releases it: the broker's next
 * copy is handed out again, as a new notice, instead of being taken for a copy
 * of one still being handled (which would leave it unacknowledged for good). */
static void worker_releases_escalations(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = registered_worker(f, 1000);
    mq_assignment_t a;
    mq_escalation_t e;
    refuses_unknown(w, mq_worker_release_escalation);
    assert_int_equal(mq_worker_release_escalation(w, NULL), -1);

    handed_out(f, w, "esc-msg-1", 77, &e);
    send_escalate(f, "esc-msg-1b", 77);         /* a copy: still being handled */
    assert_int_equal(mq_worker_next(w, &a, &e, 100), MQ_NOTHING);
    assert_int_equal(mq_worker_release_escalation(w, &e), 0);
    while (fake_get(f, 100))                    /* no ACK for a released notice */
        assert_int_equal(f->in.cmd, MSG_HEARTBEAT);

    handed_out(f, w, "esc-msg-1c", 77, &e);    /* the broker's resend */
    assert_int_equal(mq_worker_ack_escalation(w, &e), 0);
    assert_string_equal(expect(f, w, MSG_ACK, 1000)->re, "esc-msg-1c");
    assert_int_equal(mq_worker_release_escalation(w, &e), -1);     /* acted on */
    assert_non_null(strstr(mq_strerror(), "already acknowledged"));
    send_escalate(f, "esc-msg-1d", 77);         /* so a copy is only acknowledged */
    assert_int_equal(mq_worker_next(w, &a, &e, 100), MQ_NOTHING);
    assert_string_equal(expect(f, w, MSG_ACK, 1000)->re, "esc-msg-1d");
    mq_worker_destroy(&w);
}

/* The fake broker sends notices first..last (msg_id "e-<id>") all at once,
 * after the worker connected with no send limit on the fake's side (a
 * broker's backlog, none dropped): how many the worker hands out. */
static unsigned escalate_many(fake_t *f, mq_worker_t *w, uint64_t first, uint64_t last)
{
    char id[32];
    for (uint64_t i = first; i <= last; i++) {
        snprintf(id, sizeof id, "e-%llu", (unsigned long long)i);
        send_escalate(f, id, i);
    }
    mq_assignment_t a;
    mq_escalation_t e;
    unsigned n = 0;
    int64_t deadline = now_ms() + 20000;
    for (int rc; now_ms() < deadline && (rc = mq_worker_next(w, &a, &e, 200)) != MQ_NOTHING; n++)
        assert_int_equal(rc, MQ_ESCALATION);
    return n;
}

/* A registered worker whose fake broker queues without limit (a bound
 * socket's connections take its options as they were at the bind). */
static mq_worker_t *backlog_worker(fake_t *f)
{
    int unlimited = 0, linger = 0;
    fake_close(f);
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_setsockopt(f->router, ZMQ_SNDHWM, &unlimited, sizeof unlimited), 0);
    assert_int_equal(zmq_bind(f->router, f->endpoint), 0);
    return registered_worker(f, 1000);
}

/* An outage's backlog of notices, more than the 1024 the worker used to
 * remember: every one handed out stays known until the adapter acknowledges
 * it, so a copy of the first is not handed out again (it was: its command
 * ran twice) and the adapter's ACK of it works (it failed, "too old to
 * remember"). */
static void worker_keeps_open_escalations(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = backlog_worker(f);
    mq_assignment_t a;
    mq_escalation_t e;
    enum { N = 1100 };
    assert_int_equal(escalate_many(f, w, 1, N), N);
    send_escalate(f, "e-1-copy", 1);                /* the broker's resend */
    assert_int_equal(mq_worker_next(w, &a, &e, 100), MQ_NOTHING);
    for (uint64_t id = 1; id <= N; id++) {
        e = (mq_escalation_t){.escalation_id = id};
        if (mq_worker_ack_escalation(w, &e))
            fail_msg("ack of escalation %llu: %s", (unsigned long long)id, mq_strerror());
    }
    assert_string_equal(expect(f, w, MSG_ACK, 1000)->re, "e-1-copy");
    mq_worker_destroy(&w);
}

/* Memory stays bounded without forgetting an open notice: past
 * MQ_ESCALATIONS_OPEN_MAX open ones a new notice is not taken, nor
 * acknowledged, and its next copy is handed out once one is finished. */
static void worker_holds_back_escalations_past_the_cap(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = backlog_worker(f);
    mq_assignment_t a;
    mq_escalation_t e;
    const uint64_t cap = MQ_ESCALATIONS_OPEN_MAX;
    assert_int_equal(escalate_many(f, w, 1, cap + 1), cap);
    while (fake_get(f, 0))                          /* none acknowledged */
        assert_int_equal(f->in.cmd, MSG_HEARTBEAT);
    e = (mq_escalation_t){.escalation_id = cap + 1};
    assert_int_equal(mq_worker_ack_escalation(w, &e), -1);
    e = (mq_escalation_t){.escalation_id = 1};
    assert_int_equal(mq_worker_ack_escalation(w, &e), 0);   /* the first still known */
    assert_string_equal(expect(f, w, MSG_ACK, 1000)->re, "e-1");
    handed_out(f, w, "e-last-copy", cap + 1, &e);   /* room again */
    send_escalate(f, "e-2-copy", 2);                /* still open: only a copy */
    assert_int_equal(mq_worker_next(w, &a, &e, 100), MQ_NOTHING);
    mq_worker_destroy(&w);
}

/* Outcomes with bad fields fail at once instead of being refused later. */
static void worker_checks_outcomes(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = registered_worker(f, 1000);
    char longnote[1100];
    memset(longnote, 'n', sizeof longnote - 1);
    longnote[sizeof longnote - 1] = '\0';
    assert_int_equal(mq_worker_progress(w, 1, NULL), -1);
    assert_non_null(strstr(mq_strerror(), "note"));
    assert_int_equal(mq_worker_progress(w, 1, longnote), -1);
    assert_non_null(strstr(mq_strerror(), "note"));
    assert_int_equal(mq_worker_returned(w, 1, RETURN_NONE, NULL), -1);
    assert_int_equal(mq_worker_resolved(w, 1, "fixed", NULL), -1);
    assert_int_equal(mq_worker_resolved(w, 1, "not a token", "done"), -1);
    assert_int_equal(mq_worker_accept(w, 0), -1);
    assert_int_equal(mq_worker_accept(NULL, 1), -1);
    assert_int_equal(mq_worker_unacked(w), 0);

    assert_int_equal(mq_worker_returned(w, 3, RETURN_WRONG_DEPARTMENT, "电力问题"), 0);
    const msg_t *ret = expect(f, w, MSG_RETURNED, 1000);
    assert_int_equal(ret->return_reason, RETURN_WRONG_DEPARTMENT);
    assert_string_equal(ret->note, "电力问题");
    send_ack(f, ret->msg_id, 0);
    assert_int_equal(mq_worker_resolved(w, 3, "fixed", "换了水管"), 0);
    const msg_t *res = expect(f, w, MSG_RESOLVED, 1000);
    assert_string_equal(res->result, "fixed");
    assert_string_equal(res->summary, "换了水管");
    send_ack(f, res->msg_id, 0);
    expect_unacked(w, 0, 500);
    mq_worker_destroy(&w);
}

/* An outcome the broker ignores is sent again after 5 s with the same msg_id,
 * and leaves the queue when acknowledged. */
static void worker_resends_unacked(void **state)
{
    fake_t *f = *state;
    char id[65];
    mq_worker_t *w = accepting_worker(f, 11, id);
    int64_t t0 = now_ms();
    const msg_t *again = expect(f, w, MSG_ACCEPT, 6500);
    assert_true(now_ms() - t0 >= 4500);
    assert_string_equal(again->msg_id, id);
    assert_int_equal(again->assignment_id, 11);
    assert_int_equal(mq_worker_unacked(w), 1);
    send_ack(f, id, 0);
    assert_int_equal(mq_worker_flush(w, 1000), 0);
    assert_int_equal(mq_worker_unacked(w), 0);
    mq_worker_destroy(&w);
}

/* ERROR 5xx: the same outcome again after 1 s. ERROR 1xx-3xx: dropped and
 * counted, with the broker's reason in mq_strerror. */
static void worker_retries_and_refuses(void **state)
{
    fake_t *f = *state;
    char id[65];
    mq_worker_t *w = accepting_worker(f, 21, id);
    send_error(f, id, ERR_SHUTTING_DOWN, "broker is stopping");
    int64_t t0 = now_ms();
    assert_int_equal(mq_worker_progress(w, 22, "在修"), 0);     /* another assignment: not held */
    char id2[65];
    copy_id(id2, expect(f, w, MSG_PROGRESS, 1000)->msg_id);
    send_error(f, id2, ERR_RATE_LIMITED, "slow down");
    assert_string_equal(expect(f, w, MSG_ACCEPT, 2000)->msg_id, id);
    int64_t waited = now_ms() - t0;
    assert_true(waited >= 800 && waited < 3000);
    assert_string_equal(expect(f, w, MSG_PROGRESS, 1000)->msg_id, id2);
    send_ack(f, id, 0);
    send_ack(f, id2, 0);
    expect_unacked(w, 0, 500);
    assert_int_equal(mq_worker_refused(w), 0);

    assert_int_equal(mq_worker_contacted(w, 23, "已电话联系"), 0);
    const msg_t *c = expect(f, w, MSG_CONTACTED, 1000);
    assert_string_equal(c->note, "已电话联系");
    send_error(f, c->msg_id, ERR_ILLEGAL_TRANSITION, "assignment 23 is not accepted");
    expect_unacked(w, 0, 500);
    assert_int_equal(mq_worker_refused(w), 1);
    assert_non_null(strstr(mq_strerror(), "ILLEGAL_TRANSITION"));
    assert_non_null(strstr(mq_strerror(), "not accepted"));
    mq_worker_destroy(&w);
}

/* Retryable ERRORs in a row space an outcome's copies out, 1 s, then 2 s
 * (doubling to a minute), and an ACK of anything (the broker works again)
 * starts from 1 s: the whole queue used to go again every second, however
 * long the broker's disk stayed full. */
static void worker_backs_off_retries(void **state)
{
    fake_t *f = *state;
    char id[65];
    mq_worker_t *w = accepting_worker(f, 71, id);
    const int64_t want[] = {1000, 2000, 1000};
    for (int i = 0; i < 3; i++) {
        if (i == 2) {                       /* another outcome's ACK */
            assert_int_equal(mq_worker_accept(w, 72), 0);
            assert_int_equal(expect(f, w, MSG_ACCEPT, 1000)->assignment_id, 72);
            send_ack(f, f->in.msg_id, 0);
            pump(w, 20);
        }
        send_error(f, id, ERR_STORE_FULL, "the broker's disk is full");
        pump(w, 20);                        /* the ERROR is read */
        mq_clock_offset_ms += want[i] - 300;    /* the clock is moved, not waited for */
        pump(w, 20);
        while (fake_get(f, 0))              /* a heartbeat may go meanwhile */
            if (f->in.cmd != MSG_HEARTBEAT)
                fail_msg("copy %d: %s 300 ms early", i + 2, msg_cmd_name(f->in.cmd));
        mq_clock_offset_ms += 400;
        assert_string_equal(expect(f, w, MSG_ACCEPT, 500)->msg_id, id);
    }
    send_ack(f, id, 0);
    expect_unacked(w, 0, 500);
    mq_worker_destroy(&w);
}

/* An assignment's outcomes reach the broker in the order they were made: a
 * RESOLVED made while its ACCEPT waits for a retry (ERROR 5xx) is held until
 * the ACCEPT goes again, or it would be refused (203) and the department's
 * result lost. Another assignment's outcome is not held. */
static void worker_keeps_order_per_assignment(void **state)
{
    fake_t *f = *state;
    char acc[65];
    mq_worker_t *w = accepting_worker(f, 31, acc);
    send_error(f, acc, ERR_STORE_FULL, "the broker's disk is full");
    pump(w, 50);
    assert_int_equal(mq_worker_resolved(w, 31, "fixed", "已修复"), 0);
    assert_int_equal(mq_worker_accept(w, 32), 0);
    assert_int_equal(expect(f, w, MSG_ACCEPT, 1000)->assignment_id, 32);
    send_ack(f, f->in.msg_id, 0);
    const msg_t *again = expect(f, w, MSG_ACCEPT, 2000);     /* not RESOLVED first */
    assert_string_equal(again->msg_id, acc);
    assert_int_equal(expect(f, w, MSG_RESOLVED, 1000)->assignment_id, 31);
    char res[65];
    copy_id(res, f->in.msg_id);
    send_ack(f, acc, 0);
    send_ack(f, res, 0);
    expect_unacked(w, 0, 500);
    assert_int_equal(mq_worker_refused(w), 0);
    mq_worker_destroy(&w);
}

/* Both outcomes already out: the ACCEPT gets ERROR 5xx and the RESOLVED,
 * applied after the broker recovered, 203. The RESOLVED is not refused for
 * good: it goes again once its ACCEPT is acknowledged. A 203 with nothing
 * earlier left is final. */
static void worker_resends_overtaken_outcome(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = registered_worker(f, 1000);
    assert_int_equal(mq_worker_accept(w, 41), 0);
    assert_int_equal(mq_worker_resolved(w, 41, "fixed", "已修复"), 0);
    char acc[65], res[65];
    copy_id(acc, expect(f, w, MSG_ACCEPT, 1000)->msg_id);
    copy_id(res, expect(f, w, MSG_RESOLVED, 1000)->msg_id);
    send_error(f, acc, ERR_STORE_FAILED, "the broker could not store this; retry later");
    send_error(f, res, ERR_ILLEGAL_TRANSITION, "assignment 41 is dispatched");
    assert_string_equal(expect(f, w, MSG_ACCEPT, 2000)->msg_id, acc);
    assert_int_equal(mq_worker_refused(w), 0);
    assert_int_equal(mq_worker_unacked(w), 2);
    send_ack(f, acc, 0);
    int64_t t0 = now_ms();
    assert_string_equal(expect(f, w, MSG_RESOLVED, 1000)->msg_id, res);
    assert_true(now_ms() - t0 < 500);       /* at the ACK, not at the 5-s resend */
    send_error(f, res, ERR_ILLEGAL_TRANSITION, "assignment 41 is closed");
    expect_unacked(w, 0, 500);
    assert_int_equal(mq_worker_refused(w), 1);
    mq_worker_destroy(&w);
}

/* A key revoked by a reload: the broker ends the session and answers every
 * HEARTBEAT with ERROR 300 and no `re`. The worker must find out (it used to
 * take the answers for a live broker and drop every outcome as refused):
 * mq_worker_next fails once with EACCES, the worker registers again, and its
 * outcomes stay queued for the next session, the one whose copy got a 300 of
 * its own after the session ended too. */
static void worker_learns_key_revoked(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = registered_worker(f, 1000);
    assert_int_equal(mq_worker_accept(w, 51), 0);
    assert_int_equal(mq_worker_accept(w, 52), 0);
    expect(f, w, MSG_ACCEPT, 1000);
    char second[65];
    copy_id(second, expect(f, w, MSG_ACCEPT, 1000)->msg_id);
    send_error(f, NULL, ERR_FORBIDDEN, "this key is no longer allowed");
    send_error(f, second, ERR_FORBIDDEN, "this key is no longer allowed");  /* each copy's */
    mq_assignment_t a;
    mq_escalation_t e;
    int rc = MQ_NOTHING;
    for (int i = 0; i < 20 && rc == MQ_NOTHING; i++)
        rc = mq_worker_next(w, &a, &e, 20);
    assert_int_equal(rc, -1);
    assert_int_equal(errno, EACCES);
    assert_non_null(strstr(mq_strerror(), "FORBIDDEN"));
    const msg_t *reg = expect(f, w, MSG_REGISTER, 1500);
    send_ack(f, reg->msg_id, 1000);
    assert_int_equal(expect(f, w, MSG_ACCEPT, 1000)->assignment_id, 51);
    assert_int_equal(expect(f, w, MSG_ACCEPT, 1000)->assignment_id, 52);
    assert_int_equal(mq_worker_refused(w), 0);
    assert_int_equal(mq_worker_unacked(w), 2);
    assert_int_equal(mq_worker_sessions(w), 2);
    mq_worker_destroy(&w);
}

/* A worker whose CURVE key the broker refuses at the handshake: ZeroMQ never
 * retries, and mq_worker_next used to fail at once on every call until the
 * liveness timer replaced the socket (1.8 million calls in 8 s). It fails
 * once per refused handshake, waits as usual in between, and connects
 * afresh 2 s later, so a key allowlisted meanwhile registers. */
static void worker_backs_off_when_handshake_refused(void **state)
{
    fake_t *f = *state;
    zap_t *z = curve_broker(f);
    mq_worker_t *w = mq_worker_new(f->endpoint, DEPT, 4, NULL);
    assert_non_null(w);
    assert_int_equal(mq_worker_set_certs(w, z->server, z->client), 0);
    mq_assignment_t a;
    mq_escalation_t e;
    int calls = 0, refusals = 0;
    int64_t end = now_ms() + 1500;
    while (now_ms() < end && calls < 1000) {
        calls++;
        if (mq_worker_next(w, &a, &e, 100) != -1)
            continue;
        refusals++;
        assert_int_equal(errno, EACCES);
        assert_non_null(strstr(mq_strerror(), "refused this client's CURVE key"));
    }
    assert_int_equal(refusals, 1);
    assert_true(calls <= 20);
    z->allow = true;
    send_ack(f, expect(f, w, MSG_REGISTER, 3000)->msg_id, 1000);
    pump(w, 20);
    assert_int_equal(mq_worker_sessions(w), 1);
    mq_worker_destroy(&w);
}

/* A refused REGISTER (a key of another department, a key revoked) is only
 * undone by an operator: the worker goes on registering, and fails
 * mq_worker_next once per refusal, but every 2, 4, then 8 s instead of every
 * second. A REGISTER ACK starts its first session. (The clock is moved
 * rather than waited for.) */
static void worker_registers_less_often_when_refused(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = mq_worker_new(f->endpoint, DEPT, 4, NULL);
    mq_assignment_t a;
    mq_escalation_t e;
    char reg[65];
    copy_id(reg, expect(f, w, MSG_REGISTER, 1000)->msg_id);
    const int64_t every[] = {2000, 4000, 8000, 8000};
    for (int i = 0; i < 4; i++) {
        send_error(f, reg, ERR_FORBIDDEN, "this key may not register this department");
        int rc = MQ_NOTHING;
        for (int k = 0; k < 50 && rc == MQ_NOTHING; k++)
            rc = mq_worker_next(w, &a, &e, 10);
        assert_int_equal(rc, -1);
        assert_int_equal(errno, EACCES);
        mq_clock_offset_ms += every[i] - 300;
        pump(w, 20);
        if (fake_get(f, 0))
            fail_msg("refusal %d: %s 300 ms early", i + 1, msg_cmd_name(f->in.cmd));
        mq_clock_offset_ms += 400;
        assert_string_equal(expect(f, w, MSG_REGISTER, 500)->msg_id, reg);
    }
    assert_int_equal(mq_worker_sessions(w), 0);
    send_ack(f, reg, 1000);
    pump(w, 20);
    assert_int_equal(mq_worker_sessions(w), 1);
    mq_worker_destroy(&w);
}

/* A worker back from a long outage with tens of thousands of outcomes queued
 * (a department of capacity 10,000, several outcomes each): the pass that
 * resends them after the REGISTER ACK is short, so the silence meanwhile is
 * not taken for the broker's death. One registration, and the outcomes come.
 * (Each send used to look for earlier outcomes of its assignment through the
 * whole queue: at 60,000 the pass outlasted three heartbeats, and the worker
 * reconnected and began again, for ever.) */
static void worker_resends_a_large_queue(void **state)
{
    fake_t *f = *state;
    fake_close(f);
    mq_worker_t *w = mq_worker_new(f->endpoint, DEPT, 4, "water-1");
    for (uint64_t i = 1; i <= 60000; i++)
        assert_int_equal(mq_worker_accept(w, i), 0);
    fake_reopen(f);
    send_ack(f, expect(f, w, MSG_REGISTER, 3000)->msg_id, 1000);
    int registers = 0, accepts = 0;
    int64_t end = now_ms() + 4000;
    while (now_ms() < end) {
        while (fake_get(f, 0)) {
            registers += f->in.cmd == MSG_REGISTER;
            accepts += f->in.cmd == MSG_ACCEPT;
            if (f->in.cmd == MSG_HEARTBEAT)
                send_cmd(f, MSG_HEARTBEAT);
        }
        pump(w, 10);
    }
    assert_int_equal(registers, 0);
    assert_true(accepts >= 1000);
    assert_int_equal(mq_worker_unacked(w), 60000);
    mq_worker_destroy(&w);
}

/* The same worker's queue drains as fast as the broker takes it: each
 * outcome goes as soon as the send queue has room, in order. (A send the full
 * queue refused used to wait for the 5-s resend, so 30,000 outcomes took 30
 * passes, 2.5 minutes, a send queue's worth, 1,000, at a time.) */
static void worker_drains_a_large_queue(void **state)
{
    fake_t *f = *state;
    fake_close(f);
    mq_worker_t *w = mq_worker_new(f->endpoint, DEPT, 4, "water-1");
    const uint64_t n = 30000;
    for (uint64_t i = 1; i <= n; i++)
        assert_int_equal(mq_worker_accept(w, i), 0);
    fake_reopen(f);
    send_ack(f, expect(f, w, MSG_REGISTER, 3000)->msg_id, 1000);
    uint64_t next = 1;
    /* 20 s: under ASan beside another test program it took 8 s and a few
     * ms (4 left); the old behaviour took 150 s */
    int64_t end = now_ms() + 20000;
    while (mq_worker_unacked(w) > 0 && now_ms() < end) {
        while (fake_get(f, 0)) {
            if (f->in.cmd == MSG_HEARTBEAT)
                send_cmd(f, MSG_HEARTBEAT);
            if (f->in.cmd != MSG_ACCEPT)
                continue;
            /* in order: never ahead (a late copy of an earlier one is allowed) */
            assert_true(f->in.assignment_id <= next);
            next += f->in.assignment_id == next;
            send_ack(f, f->in.msg_id, 0);
        }
        pump(w, 5);
    }
    assert_int_equal(next, n + 1);
    assert_int_equal(mq_worker_unacked(w), 0);
    mq_worker_destroy(&w);
}

/* The library's clock jumps by `ms`: to the worker the broker fell silent
 * meanwhile, so it reconnects and registers again, and is acknowledged here. */
static void time_passes(fake_t *f, mq_worker_t *w, int64_t ms)
{
    mq_clock_offset_ms += ms;
    send_ack(f, expect(f, w, MSG_REGISTER, 2000)->msg_id, 1000);
}

/* An outcome unacknowledged for 23 hours is not resent (PROTOCOL.md 8.2: the
 * broker remembers a msg_id for 24 hours, so an older copy could be applied
 * twice): it is dropped and counted as refused, with the reason in
 * mq_strerror. A younger one is resent as before. */
static void worker_gives_up_old_outcomes(void **state)
{
    fake_t *f = *state;
    const int64_t hour = 3600000;
    char id[65];
    mq_worker_t *w = accepting_worker(f, 61, id);

    time_passes(f, w, 23 * hour - 60000);           /* 1 minute short of 23 h */
    assert_string_equal(expect(f, w, MSG_ACCEPT, 1000)->msg_id, id);
    assert_int_equal(mq_worker_accept(w, 62), 0);
    assert_int_equal(expect(f, w, MSG_ACCEPT, 1000)->assignment_id, 62);
    assert_int_equal(mq_worker_refused(w), 0);

    time_passes(f, w, 61000);                       /* 61's 23 h are over */
    assert_int_equal(expect(f, w, MSG_ACCEPT, 1000)->assignment_id, 62);
    assert_int_equal(mq_worker_unacked(w), 1);
    assert_int_equal(mq_worker_refused(w), 1);
    assert_non_null(strstr(mq_strerror(), "ACCEPT for assignment 61 given up"));
    assert_non_null(strstr(mq_strerror(), "23 hours"));
    send_ack(f, id, 0);                             /* a late ACK is ignored */
    assert_int_equal(mq_worker_flush(w, 200), -1);
    assert_int_equal(mq_worker_unacked(w), 1);
    while (fake_get(f, 0))                          /* 61 was not sent again */
        assert_int_equal(f->in.cmd, MSG_HEARTBEAT);
    mq_worker_destroy(&w);
}

/* DISCONNECT or ERROR 200 from the broker: register again on the same
 * socket, then resend every unacknowledged outcome with its msg_id. */
static void worker_reregisters(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = mq_worker_new(f->endpoint, DEPT, 4, NULL);
    char reg1[65], id[65], ident[256];
    copy_id(reg1, expect(f, w, MSG_REGISTER, 1000)->msg_id);
    assert_null(f->in.worker);
    memcpy(ident, f->ident, f->ident_len);
    send_ack(f, reg1, 1000);
    assert_int_equal(mq_worker_accept(w, 31), 0);
    copy_id(id, expect(f, w, MSG_ACCEPT, 1000)->msg_id);

    send_cmd(f, MSG_DISCONNECT);
    const msg_t *reg = expect(f, w, MSG_REGISTER, 1000);
    assert_string_not_equal(reg->msg_id, reg1);
    assert_memory_equal(f->ident, ident, f->ident_len);     /* same socket */
    send_ack(f, reg->msg_id, 1000);
    assert_string_equal(expect(f, w, MSG_ACCEPT, 1000)->msg_id, id);

    send_error(f, NULL, ERR_NOT_REGISTERED, "who are you?");
    reg = expect(f, w, MSG_REGISTER, 1000);
    send_ack(f, reg->msg_id, 1000);
    assert_string_equal(expect(f, w, MSG_ACCEPT, 1000)->msg_id, id);
    send_ack(f, id, 0);
    expect_unacked(w, 0, 500);
    assert_int_equal(mq_worker_refused(w), 0);
    mq_worker_destroy(&w);
}

/* A registration round starts again from the 1000 ms of PROTOCOL.md 5.8,
 * not from the heartbeat_ms of the session that ended: after a DISCONNECT
 * from a broker that had set 60 s, REGISTER is resent every second, and a
 * broker silent for 3 s is given up (a new socket registers), not 180 s. */
static void worker_reregisters_at_default_interval(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = registered_worker(f, 60000);
    char ident[256], reg1[65];
    size_t ident_len = f->ident_len;
    memcpy(ident, f->ident, ident_len);

    f->answer_heartbeats = false;
    send_cmd(f, MSG_DISCONNECT);
    int64_t t0 = now_ms();
    copy_id(reg1, expect(f, w, MSG_REGISTER, 1000)->msg_id);
    int64_t t1 = now_ms();
    assert_string_equal(expect(f, w, MSG_REGISTER, 1500)->msg_id, reg1);
    assert_true(now_ms() - t1 >= 800);                      /* resent after ~1 s */
    while (f->ident_len == ident_len && memcmp(f->ident, ident, ident_len) == 0) {
        const msg_t *reg = expect(f, w, MSG_REGISTER, 1500);
        assert_true(now_ms() - t0 < 4500);  /* 3 s silence + 250 ms backoff */
        if (f->ident_len == ident_len && memcmp(f->ident, ident, ident_len) == 0)
            assert_string_equal(reg->msg_id, reg1);
    }
    assert_true(now_ms() - t0 >= 2800);
    assert_string_not_equal(f->in.msg_id, reg1);            /* a new round */
    mq_worker_destroy(&w);
}

/* An idle worker sends HEARTBEAT every heartbeat_ms. */
static void worker_heartbeats_when_idle(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = registered_worker(f, 100);
    f->answer_heartbeats = false;
    const msg_t *hb = expect(f, w, MSG_HEARTBEAT, 500);
    assert_int_equal(hb->present, 0);
    send_cmd(f, MSG_HEARTBEAT);
    int64_t t1 = now_ms();
    expect(f, w, MSG_HEARTBEAT, 500);
    send_cmd(f, MSG_HEARTBEAT);
    int64_t t2 = now_ms();
    expect(f, w, MSG_HEARTBEAT, 500);
    int64_t t3 = now_ms();
    assert_true(t2 - t1 >= 70 && t3 - t2 >= 70);
    mq_worker_destroy(&w);
}

/* A silent broker is given up after 3 heartbeats: the worker reconnects on a
 * new socket after the backoff, registers and resends its outcomes. */
static void worker_reconnects_after_silence(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = registered_worker(f, 100);
    char ident[256], id[65];
    size_t ident_len = f->ident_len;
    memcpy(ident, f->ident, ident_len);
    assert_int_equal(mq_worker_accept(w, 41), 0);
    copy_id(id, expect(f, w, MSG_ACCEPT, 1000)->msg_id);

    f->answer_heartbeats = false;
    int64_t t0 = now_ms();
    const msg_t *reg = expect(f, w, MSG_REGISTER, 2000);
    assert_true(now_ms() - t0 >= 450);     /* 3 beats of silence + backoff */
    assert_false(f->ident_len == ident_len && memcmp(f->ident, ident, ident_len) == 0);
    f->answer_heartbeats = true;
    send_ack(f, reg->msg_id, 100);
    const msg_t *acc = expect(f, w, MSG_ACCEPT, 1000);
    assert_string_equal(acc->msg_id, id);
    send_ack(f, id, 0);
    expect_unacked(w, 0, 500);
    assert_true(mq_worker_fd(w) >= 0);
    mq_worker_destroy(&w);
}

static int64_t thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* With the broker gone (connection down, sends refused), waiting costs no
 * CPU in any state; when it is back, the worker registers again. */
static void worker_idles_without_broker(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = registered_worker(f, 100);
    fake_close(f);
    int64_t cpu = thread_cpu_ms();
    pump(w, 1000);                      /* READY, dead, BACKOFF, REGISTERING */
    cpu = thread_cpu_ms() - cpu;
    assert_true(cpu < 150);
    fake_reopen(f);
    const msg_t *reg = expect(f, w, MSG_REGISTER, 5000);
    send_ack(f, reg->msg_id, 100);
    pump(w, 20);
    mq_worker_destroy(&w);
}

/* flush waits for acks; events arriving meanwhile are kept for next. */
static void worker_flush_keeps_events(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = registered_worker(f, 1000);
    assert_int_equal(mq_worker_flush(w, 0), 0);             /* nothing queued */
    assert_int_equal(mq_worker_accept(w, 51), 0);
    char id[65];
    copy_id(id, expect(f, w, MSG_ACCEPT, 1000)->msg_id);
    assert_int_equal(mq_worker_flush(w, 200), -1);
    assert_non_null(strstr(mq_strerror(), "unacknowledged"));

    send_dispatch(f, 52);
    send_escalate(f, "esc-msg-2", 77);
    send_ack(f, id, 0);
    assert_int_equal(mq_worker_flush(w, 1000), 0);
    mq_assignment_t a;
    mq_escalation_t e;
    assert_int_equal(mq_worker_next(w, &a, &e, 0), MQ_ASSIGNMENT);
    assert_int_equal(a.assignment_id, 52);
    assert_string_equal(a.kase.phone, "+86 138-0000-0000");
    assert_int_equal(mq_worker_next(w, &a, &e, 0), MQ_ESCALATION);
    assert_int_equal(e.escalation_id, 77);
    assert_string_equal(e.street, "城关街道");
    assert_int_equal(mq_worker_next(w, &a, &e, 0), MQ_NOTHING);
    mq_worker_destroy(&w);
}

/* The broker's side of an adapter's slow loop: answer what came (a
 * HEARTBEAT with a HEARTBEAT), send a heartbeat of its own, and count the
 * REGISTERs, each one a session the worker gave up. */
static int broker_beats(fake_t *f)
{
    int registers = 0;
    while (fake_get(f, 0))
        registers += f->in.cmd == MSG_REGISTER;
    send_cmd(f, MSG_HEARTBEAT);
    return registers;
}

/* Events kept by a flush are handed out after the session is serviced and
 * the socket read (new events behind them), and the broker's liveness is
 * judged on what was read: the kept events used to come out without either,
 * so the heartbeats waited unread, and a worker whose adapter took 300 ms an
 * event (under the 500-ms beat) took the live broker for dead and
 * registered again. The same for a pause with the heartbeats waiting. */
static void worker_serves_kept_events(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = registered_worker(f, 500);
    assert_int_equal(mq_worker_accept(w, 1), 0);
    char id[65];
    copy_id(id, expect(f, w, MSG_ACCEPT, 1000)->msg_id);
    for (uint64_t i = 1; i <= 8; i++)
        send_dispatch(f, 100 + i);
    send_ack(f, id, 0);
    assert_int_equal(mq_worker_flush(w, 1000), 0);
    send_dispatch(f, 200);                          /* after the kept ones */
    mq_assignment_t a;
    mq_escalation_t e;
    int registers = 0;
    for (uint64_t i = 1; i <= 9; i++) {
        assert_int_equal(mq_worker_next(w, &a, &e, 0), MQ_ASSIGNMENT);
        assert_int_equal(a.assignment_id, i <= 8 ? 100 + i : 200);
        usleep(300 * 1000);
        registers += broker_beats(f);
    }
    usleep(1800 * 1000);                            /* a pause: beats wait in the socket */
    registers += broker_beats(f);
    for (int i = 0; i < 5; i++) {
        pump(w, 100);
        registers += broker_beats(f);
    }
    assert_int_equal(registers, 0);
    assert_int_equal(mq_worker_sessions(w), 1);
    mq_worker_destroy(&w);
}

/* Bytes the process has allocated (heap in use). */
static size_t heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return __sanitizer_get_current_allocated_bytes();
#else
    return mallinfo2().uordblks;
#endif
}

/* A drained backlog gives its memory back: the queue keeps a few nodes for
 * reuse, not every node it ever held (20,000 notes of 1,000 characters kept
 * 64 MB for the worker's life). */
static void worker_returns_backlog_memory(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = registered_worker(f, 1000);
    char note[1001];
    memset(note, 'n', 1000);
    note[1000] = '\0';
    size_t before = heap_in_use();
    for (uint64_t i = 1; i <= 2000; i++)    /* unanswered until all are queued */
        assert_int_equal(mq_worker_progress(w, i, note), 0);
    assert_true(heap_in_use() > before + 2000 * 1000);
    int64_t end = now_ms() + 8000;
    while (mq_worker_unacked(w) > 0 && now_ms() < end) {
        while (fake_get(f, 0))
            if (f->in.cmd == MSG_PROGRESS)
                send_ack(f, f->in.msg_id, 0);
            else if (f->in.cmd == MSG_HEARTBEAT)
                send_cmd(f, MSG_HEARTBEAT);
        pump(w, 5);
    }
    assert_int_equal(mq_worker_unacked(w), 0);
    size_t after = heap_in_use();
    if (after > before + 512 * 1024)
        fail_msg("%zu bytes still held after the backlog drained", after - before);
    mq_worker_destroy(&w);
}

/* A worker destroyed with a stash and a queue frees them (ASan checks). */
static void worker_destroy_frees_queues(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = registered_worker(f, 1000);
    for (uint64_t i = 1; i <= 50; i++)
        assert_int_equal(mq_worker_accept(w, i), 0);
    send_dispatch(f, 60);
    assert_int_equal(mq_worker_flush(w, 100), -1);
    assert_int_equal(mq_worker_unacked(w), 50);
    mq_worker_destroy(&w);
}

/* ---- the intake client ------------------------------------------------ */

typedef enum {
    SERVE_OK, SERVE_IGNORE_FIRST, SERVE_ERROR, SERVE_STALE_FIRST,
    SERVE_TIME_PASSES,              /* no reply: the 1st copy 23 h - 1 min, the 2nd 61 s */
    SERVE_RATE_LIMITED,             /* ERROR 301 without re to every copy */
} serve_mode_t;

typedef struct {
    fake_t *f;
    serve_mode_t mode;
    int replies;                    /* stop after this many replies */
    int seen;
    char ids[4][65];                /* msg_ids of the first requests */
    char service_code[65];
    char error[256];                /* a bad message from the library */
    int64_t at[8];                  /* when the first requests came (ms) */
    atomic_bool done;               /* the test has what it needs: stop */
} server_t;

static void reply_to(server_t *s)
{
    fake_t *f = s->f;
    msg_t m;
    if (s->mode == SERVE_ERROR) {
        send_error(f, f->in.msg_id, ERR_INVALID_VALUE, "case.phone: must be digits");
        return;
    }
    if (s->mode == SERVE_RATE_LIMITED) {    /* as the broker sends it: no re */
        send_error(f, NULL, ERR_RATE_LIMITED, "over this client's rate (intake_rate)");
        return;
    }
    if (s->mode == SERVE_STALE_FIRST && s->seen == 1) {
        send_submit_ok(f, "someone-else", 1);
    }
    if (f->in.cmd != MSG_SUBMIT) {
        msg_reset(&m, MSG_ACK);
        SET(&m, MF_RE, re, f->in.msg_id);
        SET(&m, MF_CASE_ID, case_id, f->in.case_id);
        SET(&m, MF_STATE, state, STATE_CLOSED);
        fake_send(f, &m);
        return;
    }
    send_submit_ok(f, f->in.msg_id, 999 + (uint64_t)s->seen);   /* 1000 for the first */
}

static void *serve(void *arg)
{
    server_t *s = arg;
    int64_t deadline = now_ms() + 5000;
    int replied = 0;
    while ((s->mode == SERVE_TIME_PASSES ? s->seen < 2 : replied < s->replies) &&
           now_ms() < deadline && !atomic_load(&s->done)) {
        int rc = fake_recv(s->f, 50);
        if (rc < 0) {
            snprintf(s->error, sizeof s->error, "%s", s->f->why);
            break;
        }
        if (rc == 0)
            continue;
        if (s->seen < 4)
            strcpy(s->ids[s->seen], s->f->in.msg_id);
        if (s->seen < 8)
            s->at[s->seen] = now_ms();
        if (s->seen == 0 && s->f->in.cmd == MSG_SUBMIT)
            strcpy(s->service_code, s->f->in.kase.service_code);
        s->seen++;
        if (s->mode == SERVE_IGNORE_FIRST && s->seen == 1)
            continue;
        if (s->mode == SERVE_TIME_PASSES) {
            mq_clock_offset_ms += s->seen == 1 ? 23 * 3600000LL - 60000 : 61000;
            continue;
        }
        reply_to(s);
        replied++;
    }
    return NULL;
}

static void case_for_submit(msg_case_t *c)
{
    /* strings only: the client marks them present itself */
    *c = (msg_case_t){.service_code = "road.pothole", .description = "路面塌陷",
                      .external_id = "wx-88", .channel = "wechat",
                      .grid_code = "CG01-XH02-G07"};
}

/* Run one blocking client call against a server thread. */
static pthread_t start_server(server_t *s, fake_t *f, serve_mode_t mode, int replies)
{
    *s = (server_t){.f = f, .mode = mode, .replies = replies};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, serve, s), 0);
    return t;
}

static void join_server(pthread_t t, server_t *s)
{
    pthread_join(t, NULL);
    if (s->error[0])
        fail_msg("the library sent %s", s->error);
}

static void client_submits(void **state)
{
    fake_t *f = *state;
    mq_client_t *c = mq_client_new(f->endpoint);
    assert_non_null(c);
    server_t s;
    pthread_t t = start_server(&s, f, SERVE_OK, 1);
    msg_case_t k;
    case_for_submit(&k);
    uint64_t case_id = 0;
    bool dup = true;
    assert_int_equal(mq_client_submit(c, &k, 2000, &case_id, &dup), 0);
    join_server(t, &s);
    assert_int_equal(case_id, 1000);
    assert_false(dup);
    assert_int_equal(mq_client_error(c), 0);
    assert_string_equal(s.service_code, "road.pothole");
    assert_true(strlen(s.ids[0]) < 32);
    mq_client_destroy(&c);
    assert_null(c);
}

/* A client of f, a server thread answering in mode (at most max requests)
 * and a case to submit: what the blocking-submit tests start from. */
typedef struct {
    server_t s;
    pthread_t t;
    msg_case_t k;
    mq_client_t *c;
} served_t;

static void client_served(served_t *v, fake_t *f, int mode, int max)
{
    v->c = mq_client_new(f->endpoint);
    v->t = start_server(&v->s, f, mode, max);
    case_for_submit(&v->k);
}

/* The first SUBMIT is lost: the same bytes go again a second later. */
static void client_resubmits_same_id(void **state)
{
    served_t v;
    client_served(&v, *state, SERVE_IGNORE_FIRST, 1);
    uint64_t case_id = 0;
    int64_t t0 = now_ms();
    assert_int_equal(mq_client_submit(v.c, &v.k, 3000, &case_id, NULL), 0);
    assert_true(now_ms() - t0 >= 900);
    join_server(v.t, &v.s);
    assert_int_equal(v.s.seen, 2);
    assert_string_equal(v.s.ids[0], v.s.ids[1]);
    assert_int_equal(case_id, 1001);
    mq_client_destroy(&v.c);
}

static void client_gets_error(void **state)
{
    served_t v;
    client_served(&v, *state, SERVE_ERROR, 1);
    uint64_t case_id = 0;
    assert_int_equal(mq_client_submit(v.c, &v.k, 2000, &case_id, NULL), -1);
    join_server(v.t, &v.s);
    assert_int_equal(mq_client_error(v.c), ERR_INVALID_VALUE);
    assert_non_null(strstr(mq_strerror(), "case.phone"));
    assert_int_equal(case_id, 0);
    mq_client_destroy(&v.c);
}

/* ERROR 301 RATE_LIMITED names no request: a blocking call dropped it as
 * stale, resent every second (each copy counting against the rate) and
 * timed out with mq_client_error 0, as if the broker were down. Now the
 * resends slow down after each 301 (1 s, then 2 s), and the timeout says
 * 301. */
static void client_reports_rate_limit(void **state)
{
    served_t v;
    client_served(&v, *state, SERVE_RATE_LIMITED, 100);
    errno = 0;
    assert_int_equal(mq_client_submit(v.c, &v.k, 3500, NULL, NULL), -1);
    atomic_store(&v.s.done, true);
    join_server(v.t, &v.s);
    assert_int_equal(errno, ETIMEDOUT);
    assert_int_equal(mq_client_error(v.c), ERR_RATE_LIMITED);
    assert_non_null(strstr(mq_strerror(), "RATE_LIMITED 301"));
    assert_int_equal(v.s.seen, 3);                /* at 0, 1 and 3 s; not 0, 1, 2, 3 */
    assert_true(v.s.at[2] - v.s.at[1] >= 1800);
    assert_string_equal(v.s.ids[0], v.s.ids[2]);

    msg_t req, reply;                           /* a request likewise */
    msg_reset(&req, MSG_FEEDBACK);
    req.case_id = 9, req.rating = RATING_SATISFIED;
    v.t = start_server(&v.s, *state, SERVE_RATE_LIMITED, 100);
    assert_int_equal(mq_client_request(v.c, &req, NULL, &reply, 500), -1);
    atomic_store(&v.s.done, true);
    join_server(v.t, &v.s);
    assert_int_equal(errno, ETIMEDOUT);
    assert_int_equal(mq_client_error(v.c), ERR_RATE_LIMITED);
    mq_client_destroy(&v.c);
}

/* A reply naming another msg_id is stale and dropped. */
static void client_drops_stale_replies(void **state)
{
    served_t v;
    client_served(&v, *state, SERVE_STALE_FIRST, 1);
    uint64_t case_id = 0;
    assert_int_equal(mq_client_submit(v.c, &v.k, 2000, &case_id, NULL), 0);
    join_server(v.t, &v.s);
    assert_int_equal(case_id, 1000);
    msg_t r;                        /* a client that only blocks keeps none */
    assert_int_equal(mq_client_recv(v.c, &r, 50), 0);
    mq_client_destroy(&v.c);
}

static void client_times_out(void **state)
{
    fake_t *f = *state;
    mq_client_t *c = mq_client_new(f->endpoint);
    msg_case_t k;
    case_for_submit(&k);
    int64_t t0 = now_ms();
    assert_int_equal(mq_client_submit(c, &k, 300, NULL, NULL), -1);
    assert_true(now_ms() - t0 >= 290);
    assert_int_equal(errno, ETIMEDOUT);
    assert_int_equal(mq_client_error(c), 0);
    assert_non_null(strstr(mq_strerror(), "no reply"));
    k.channel = NULL;               /* a required field: refused before sending */
    assert_int_equal(mq_client_submit(c, &k, 300, NULL, NULL), -1);
    assert_non_null(strstr(mq_strerror(), "channel"));
    assert_int_equal(mq_client_submit(c, NULL, 300, NULL, NULL), -1);
    mq_client_destroy(&c);
    assert_null(mq_client_new("no-endpoint"));
}

/* A submission that timed out, submitted again as the header says, went
 * with a new msg_id, and the broker called the caller's own case a
 * duplicate (it knew channel and external_id from the first copy). The
 * same client now resends the unanswered msg_id; another case, or the same
 * one once answered, gets a fresh one. */
static void client_resubmits_unanswered_id(void **state)
{
    fake_t *f = *state;
    mq_client_t *c = mq_client_new(f->endpoint);
    msg_case_t k;
    case_for_submit(&k);
    assert_int_equal(mq_client_submit(c, &k, 300, NULL, NULL), -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_int_equal(fake_get(f, 500), 1);     /* the first copy came; its reply is lost */
    char first[65];
    copy_id(first, f->in.msg_id);
    while (fake_get(f, 50) == 1)
        ;
    server_t s;
    pthread_t t = start_server(&s, f, SERVE_OK, 1);
    uint64_t case_id = 0;
    assert_int_equal(mq_client_submit(c, &k, 2000, &case_id, NULL), 0);
    join_server(t, &s);
    assert_string_equal(s.ids[0], first);
    t = start_server(&s, f, SERVE_OK, 1);     /* answered: a fresh id */
    assert_int_equal(mq_client_submit(c, &k, 2000, &case_id, NULL), 0);
    join_server(t, &s);
    assert_string_not_equal(s.ids[0], first);

    assert_int_equal(mq_client_submit(c, &k, 300, NULL, NULL), -1);
    assert_int_equal(fake_get(f, 500), 1);
    copy_id(first, f->in.msg_id);
    while (fake_get(f, 50) == 1)
        ;
    k.external_id = "wx-89";                    /* another case: a fresh id */
    t = start_server(&s, f, SERVE_OK, 1);
    assert_int_equal(mq_client_submit(c, &k, 2000, &case_id, NULL), 0);
    join_server(t, &s);
    assert_string_not_equal(s.ids[0], first);
    mq_client_destroy(&c);
}

/* A request the caller gave up on leaves no copies behind: with the broker
 * down, each resend waits in ZeroMQ's queue, and a broker that came back
 * later would get them all, and apply one again once it no longer remembers
 * the msg_id. After the timeout the returning broker gets nothing. */
static void client_leaves_no_stale_copies(void **state)
{
    fake_t *f = *state;
    fake_close(f);
    mq_client_t *c = mq_client_new(f->endpoint);
    msg_t req, reply;
    msg_reset(&req, MSG_FEEDBACK);
    req.case_id = 77, req.rating = RATING_UNSATISFIED;
    assert_int_equal(mq_client_request(c, &req, NULL, &reply, 2200), -1);
    assert_int_equal(errno, ETIMEDOUT);
    fake_reopen(f);
    assert_int_equal(fake_recv(f, 1500), 0);
    mq_client_destroy(&c);
}

/* A client with three windowed submissions of one case sent to f; their
 * msg_ids into ids. */
static mq_client_t *send_three(fake_t *f, char ids[3][32])
{
    mq_client_t *c = mq_client_new(f->endpoint);
    msg_case_t k;
    case_for_submit(&k);
    for (int i = 0; i < 3; i++)
        assert_int_equal(mq_client_send_submit(c, &k, ids[i]), 0);
    return c;
}

/* Many submissions in flight; replies matched by re, in any order. */
static void client_windowed(void **state)
{
    fake_t *f = *state;
    char ids[3][32];
    mq_client_t *c = send_three(f, ids);
    assert_string_not_equal(ids[0], ids[1]);
    assert_string_not_equal(ids[1], ids[2]);
    char got[3][65];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fake_get(f, 1000), 1);
        strcpy(got[i], f->in.msg_id);
        assert_string_equal(got[i], ids[i]);
    }
    for (int i = 2; i >= 0; i--)
        send_submit_ok(f, got[i], 500 + (uint64_t)i);
    send_error(f, got[0], ERR_RATE_LIMITED, "slow down");
    for (int i = 2; i >= 0; i--) {
        msg_t r;
        assert_int_equal(mq_client_recv(c, &r, 1000), 1);
        assert_int_equal(r.cmd, MSG_SUBMIT_OK);
        assert_string_equal(r.re, ids[i]);
        assert_int_equal(r.case_id, 500 + (uint64_t)i);
    }
    msg_t r;
    assert_int_equal(mq_client_recv(c, &r, 1000), 1);
    assert_int_equal(r.cmd, MSG_ERROR);
    assert_int_equal(mq_client_error(c), ERR_RATE_LIMITED);
    assert_int_equal(mq_client_recv(c, &r, 50), 0);
    mq_client_destroy(&c);
}

/* A blocking call between windowed submissions used to drop their replies
 * as stale: a caller then waited in mq_client_recv for answers already
 * read. They are kept, in order, for mq_client_recv. */
static void client_keeps_windowed_replies(void **state)
{
    fake_t *f = *state;
    char ids[3][32];
    mq_client_t *c = send_three(f, ids);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fake_get(f, 1000), 1);
        send_submit_ok(f, ids[i], 700 + (uint64_t)i);
    }
    send_error(f, NULL, ERR_RATE_LIMITED, "slow down");
    usleep(100 * 1000);             /* the replies are in the client's socket */
    server_t s;
    pthread_t t = start_server(&s, f, SERVE_OK, 1);
    msg_t req, r;
    msg_reset(&req, MSG_FEEDBACK);
    req.case_id = 700, req.rating = RATING_SATISFIED;
    assert_int_equal(mq_client_request(c, &req, NULL, &r, 2000), 0);
    join_server(t, &s);
    assert_int_equal(r.cmd, MSG_ACK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mq_client_recv(c, &r, 500), 1);
        assert_int_equal(r.cmd, MSG_SUBMIT_OK);
        assert_string_equal(r.re, ids[i]);
        assert_int_equal(r.case_id, 700 + (uint64_t)i);
    }
    assert_int_equal(mq_client_recv(c, &r, 500), 1);
    assert_int_equal(r.cmd, MSG_ERROR);
    assert_int_equal(mq_client_error(c), ERR_RATE_LIMITED);
    assert_int_equal(mq_client_recv(c, &r, 50), 0);
    mq_client_destroy(&c);
}

/* A case's priority reaches the broker without the caller setting its bit,
 * as a string does: it used to be dropped, and an urgent case was filed as
 * normal, with normal deadlines. Normal (0, the default) is not sent. */
static void client_sends_priority(void **state)
{
    fake_t *f = *state;
    mq_client_t *c = mq_client_new(f->endpoint);
    msg_case_t k;
    case_for_submit(&k);
    k.priority = PRIO_URGENT;
    char id[32];
    assert_int_equal(mq_client_send_submit(c, &k, id), 0);
    assert_int_equal(fake_get(f, 1000), 1);
    assert_true(MSG_HAS(&f->in.kase, CF_PRIORITY));
    assert_int_equal(f->in.kase.priority, PRIO_URGENT);
    k.priority = PRIO_NORMAL;
    assert_int_equal(mq_client_send_submit(c, &k, id), 0);
    assert_int_equal(fake_get(f, 1000), 1);
    assert_false(MSG_HAS(&f->in.kase, CF_PRIORITY));
    assert_int_equal(f->in.kase.priority, PRIO_NORMAL);
    mq_client_destroy(&c);
}

/* FEEDBACK gets a msg_id when it has none, written to the caller's buffer,
 * and its ACK back. The request is left as it was given: a fresh id left in
 * it would live in the client, and the next request would overwrite it, so
 * that a resend of the first went out under the second's id and got the
 * second's answer. */
static void client_requests(void **state)
{
    fake_t *f = *state;
    mq_client_t *c = mq_client_new(f->endpoint);
    server_t s;
    pthread_t t = start_server(&s, f, SERVE_OK, 2);
    msg_t req, req2, reply;
    char id[32], id2[32];
    msg_reset(&req, MSG_FEEDBACK);
    req.case_id = 1000;
    req.rating = RATING_SATISFIED;
    req.comment = "很满意";
    assert_int_equal(mq_client_request(c, &req, id, &reply, 2000), 0);
    assert_null(req.msg_id);
    assert_int_equal(reply.cmd, MSG_ACK);
    assert_string_equal(reply.re, id);
    assert_int_equal(reply.state, STATE_CLOSED);
    msg_reset(&req2, MSG_CANCEL);
    req2.case_id = 1001, req2.cancel_reason = CANCEL_DUPLICATE;
    assert_int_equal(mq_client_request(c, &req2, id2, &reply, 2000), 0);
    join_server(t, &s);
    assert_string_equal(s.ids[0], id);
    assert_string_equal(s.ids[1], id2);
    assert_string_not_equal(id, id2);
    assert_null(req.msg_id);

    msg_t bad;
    msg_reset(&bad, MSG_SUBMIT);
    assert_int_equal(mq_client_request(c, &bad, NULL, &reply, 100), -1);
    msg_reset(&bad, MSG_CANCEL);        /* no case_id, no reason */
    assert_int_equal(mq_client_request(c, &bad, NULL, &reply, 100), -1);
    assert_non_null(strstr(mq_strerror(), "required"));
    mq_client_destroy(&c);
}

/* A request the broker would refuse with an ERROR that cannot name it (a
 * caller's msg_id that is not printable ASCII of 1..64, a body over the
 * limit) fails at once, unsent, with the codec's code: the blocking calls
 * dropped that ERROR as stale and resent until their timeout (23 h with -1). */
static void client_checks_before_sending(void **state)
{
    fake_t *f = *state;
    mq_client_t *c = mq_client_new(f->endpoint);
    msg_t req, reply;
    msg_reset(&req, MSG_FEEDBACK);
    req.case_id = 1000, req.rating = RATING_SATISFIED;
    req.msg_id = "feedback 1";
    int64_t t0 = now_ms();
    assert_int_equal(mq_client_request(c, &req, NULL, &reply, 3000), -1);
    assert_true(now_ms() - t0 < 500);
    assert_int_equal(mq_client_error(c), ERR_INVALID_VALUE);
    assert_non_null(strstr(mq_strerror(), "msg_id"));
    char longid[80];
    memset(longid, 'a', 65);
    longid[65] = '\0';
    req.msg_id = longid;
    MSG_SET(&req, MF_CASE_ID), MSG_SET(&req, MF_RATING);  /* mq_client_send's are the caller's */
    assert_int_equal(mq_client_send(c, &req, NULL), -1);
    assert_int_equal(mq_client_error(c), ERR_TOO_LONG);

    msg_case_t k;
    case_for_submit(&k);
    char *big = malloc(70001);
    assert_non_null(big);
    memset(big, 'x', 70000);
    big[70000] = '\0';
    k.description = big;
    t0 = now_ms();
    assert_int_equal(mq_client_submit(c, &k, 3000, NULL, NULL), -1);
    assert_true(now_ms() - t0 < 500);
    assert_int_not_equal(mq_client_error(c), 0);
    char id[32];
    assert_int_equal(mq_client_send_submit(c, &k, id), -1);
    free(big);
    assert_int_equal(fake_recv(f, 200), 0);         /* nothing went out */
    mq_client_destroy(&c);
}

/* A CURVE client whose key was refused at the handshake works once the key
 * is allowed: the next call connects afresh (it kept the dead socket, and
 * failed at once for ever). Not sooner than 1 s after the refusal: a call
 * that cannot wait fails again at once. */
static void client_retries_refused_handshake(void **state)
{
    fake_t *f = *state;
    zap_t *z = curve_broker(f);
    mq_client_t *c = mq_client_new(f->endpoint);
    assert_non_null(c);
    assert_int_equal(mq_client_set_certs(c, z->server, z->client), 0);
    msg_case_t k;
    case_for_submit(&k);
    int64_t t0 = now_ms();
    assert_int_equal(mq_client_submit(c, &k, 3000, NULL, NULL), -1);
    assert_int_equal(errno, EACCES);
    assert_true(now_ms() - t0 < 1000);
    char id[32];
    assert_int_equal(mq_client_send_submit(c, &k, id), -1);
    assert_int_equal(errno, EACCES);
    z->allow = true;
    server_t s;
    pthread_t t = start_server(&s, f, SERVE_OK, 1);
    uint64_t case_id = 0;
    assert_int_equal(mq_client_submit(c, &k, 4000, &case_id, NULL), 0);
    join_server(t, &s);
    assert_int_equal(case_id, 1000);
    mq_client_destroy(&c);
}

/* mq_client_send gives a request without msg_id a fresh one, and leaves the
 * caller's request as it was; a request with its msg_id (a resend, as
 * `minqing import` sends an unanswered line again) goes with that id, so that
 * the answers to both copies name it. */
static void client_send_keeps_callers_id(void **state)
{
    fake_t *f = *state;
    mq_client_t *c = mq_client_new(f->endpoint);
    server_t s;
    pthread_t t = start_server(&s, f, SERVE_OK, 2);
    msg_t req, r;
    char id[32];
    msg_reset(&req, MSG_FEEDBACK);
    SET(&req, MF_CASE_ID, case_id, 1000);
    SET(&req, MF_RATING, rating, RATING_SATISFIED);
    assert_int_equal(mq_client_send(c, &req, id), 0);
    assert_null(req.msg_id);
    req.msg_id = id;
    assert_int_equal(mq_client_send(c, &req, NULL), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(mq_client_recv(c, &r, 2000), 1);
        assert_string_equal(r.re, id);
    }
    join_server(t, &s);
    assert_int_equal(s.seen, 2);
    assert_string_equal(s.ids[0], id);
    assert_string_equal(s.ids[1], id);

    req.msg_id = NULL;                  /* a fresh id needs somewhere to go */
    assert_int_equal(mq_client_send(c, &req, NULL), -1);
    mq_client_destroy(&c);
}

/* A request the broker would refuse as too large, with an ERROR that names
 * no request, is not sent: the caller learns it at once (EMSGSIZE) instead
 * of waiting for an answer that never names it. */
static void client_refuses_oversized_body(void **state)
{
    fake_t *f = *state;
    mq_client_t *c = mq_client_new(f->endpoint);
    static char text[MSG_MAX_BODY + 100];
    msg_case_t k;
    char id[32];
    case_for_submit(&k);
    k.description = text;
    memset(text, 'x', 4000);                    /* the longest description: goes */
    assert_int_equal(mq_client_send_submit(c, &k, id), 0);
    memset(text, 'x', 5000);                    /* too long, but no ERROR without re */
    assert_int_equal(mq_client_send_submit(c, &k, id), -1);
    assert_int_equal(mq_client_error(c), ERR_TOO_LONG);
    memset(text, 'x', sizeof text - 1);
    errno = 0;
    assert_int_equal(mq_client_send_submit(c, &k, id), -1);
    assert_int_equal(errno, EMSGSIZE);
    assert_non_null(strstr(mq_strerror(), "more than the broker takes (65536)"));
    msg_t req;
    msg_reset(&req, MSG_IMPORT);
    req.kase = k;
    req.state = STATE_RECEIVED;
    req.received_at = 1700000000000;
    MSG_SET(&req, MF_CASE), MSG_SET(&req, MF_STATE), MSG_SET(&req, MF_RECEIVED_AT);
    errno = 0;
    assert_int_equal(mq_client_send(c, &req, id), -1);
    assert_int_equal(errno, EMSGSIZE);
    mq_client_destroy(&c);
}

/* ---- signals ---------------------------------------------------------- */

/* A caller that waits without a timeout and stops on a signal (its handler
 * sets a flag) must get control back when the signal comes. The signal goes
 * to this thread 200 ms into the wait; a wait that goes on regardless would
 * hang the test, so a watchdog ends the program 5 s later instead. */
static volatile sig_atomic_t caught;

static void on_usr1(int sig)
{
    (void)sig;
    caught = 1;
}

typedef struct {
    pthread_t target;
    const char *what;
    atomic_bool returned;
} interrupter_t;

/* Ends the test run if the call on in->target has not returned in 5 s. */
static void *fail_if_stuck(void *arg)
{
    interrupter_t *in = arg;
    for (int i = 0; i < 50 && !atomic_load(&in->returned); i++)
        usleep(100 * 1000);
    if (!atomic_load(&in->returned)) {
        printf("not ok - %s went on waiting\n", in->what);
        fflush(stdout);
        _exit(1);
    }
    return NULL;
}

static void *interrupt_wait(void *arg)
{
    interrupter_t *in = arg;
    usleep(200 * 1000);
    pthread_kill(in->target, SIGUSR1);
    return fail_if_stuck(arg);
}

/* Start the interrupter before a wait without timeout on this thread. */
static pthread_t interrupt_soon(interrupter_t *in, const char *what)
{
    struct sigaction sa = {.sa_handler = on_usr1};     /* no SA_RESTART, like tail.c */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    caught = 0;
    in->target = pthread_self();
    in->what = what;
    atomic_store(&in->returned, false);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, interrupt_wait, in), 0);
    return t;
}

/* The wait returned: the signal came, no sooner and not much later. */
static void interrupted(pthread_t t, interrupter_t *in, int64_t t0)
{
    atomic_store(&in->returned, true);
    pthread_join(t, NULL);
    assert_true(caught);
    assert_true(now_ms() - t0 >= 150);
    assert_true(now_ms() - t0 < 1000);
}

/* mq_worker_next(-1) returns MQ_NOTHING; mq_worker_flush(-1) returns -1
 * with errno EINTR, its outcome still queued. */
static void worker_signal_ends_wait(void **state)
{
    fake_t *f = *state;
    mq_worker_t *w = registered_worker(f, 1000);
    mq_assignment_t a;
    mq_escalation_t e;
    interrupter_t in;
    int64_t t0 = now_ms();
    pthread_t t = interrupt_soon(&in, "mq_worker_next(-1)");
    int rc = mq_worker_next(w, &a, &e, -1);
    interrupted(t, &in, t0);
    assert_int_equal(rc, MQ_NOTHING);

    assert_int_equal(mq_worker_accept(w, 81), 0);
    t0 = now_ms();
    t = interrupt_soon(&in, "mq_worker_flush(-1)");
    rc = mq_worker_flush(w, -1);
    interrupted(t, &in, t0);
    assert_int_equal(rc, -1);
    assert_int_equal(errno, EINTR);
    assert_non_null(strstr(mq_strerror(), "signal"));
    assert_int_equal(mq_worker_unacked(w), 1);
    mq_worker_destroy(&w);
}

/* Without a reply a request is resent for 23 hours, even with no timeout:
 * the broker remembers a msg_id for 24 (PROTOCOL.md 8.2), and a later copy
 * of a FEEDBACK "unsatisfied" would redo the case twice. The caller's msg_id
 * here is 60 characters (the protocol allows 64): the 23 hours must count
 * from its first send all the same. */
static void client_gives_up_after_23_hours(void **state)
{
    fake_t *f = *state;
    mq_client_t *c = mq_client_new(f->endpoint);
    server_t s;
    pthread_t t = start_server(&s, f, SERVE_TIME_PASSES, 0);
    interrupter_t guard = {.target = pthread_self(), .what = "a request past its 23 hours"};
    pthread_t g;
    assert_int_equal(pthread_create(&g, NULL, fail_if_stuck, &guard), 0);
    msg_t req, reply;
    msg_reset(&req, MSG_FEEDBACK);
    req.case_id = 7, req.rating = RATING_UNSATISFIED;
    req.msg_id = "hotline-gateway-7f3e2a91-4c5d-4b8e-9a1f-000000000001-retry-1";
    assert_int_equal(strlen(req.msg_id), 60);
    int rc = mq_client_request(c, &req, NULL, &reply, -1);
    atomic_store(&guard.returned, true);
    pthread_join(g, NULL);
    join_server(t, &s);
    assert_int_equal(rc, -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_non_null(strstr(mq_strerror(), "no reply in 23 hours"));
    assert_int_equal(s.seen, 2);                    /* resent 1 minute short of 23 h */
    assert_string_equal(s.ids[0], s.ids[1]);
    assert_int_equal(fake_recv(f, 200), 0);         /* and not after */
    /* nor by a new call with the same msg_id (as after EINTR): the 23 hours
     * count from the first send */
    assert_string_equal(req.msg_id, s.ids[0]);
    assert_int_equal(mq_client_request(c, &req, NULL, &reply, 1000), -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_non_null(strstr(mq_strerror(), "no reply in 23 hours"));
    assert_int_equal(fake_recv(f, 200), 0);
    /* nor when another request went between (it used to reset the count,
     * and a REASSIGN resent after the broker forgot it moves a second share) */
    msg_t other;
    msg_reset(&other, MSG_FEEDBACK);
    other.case_id = 8, other.rating = RATING_SATISFIED;
    other.msg_id = "between-1";
    assert_int_equal(mq_client_request(c, &other, NULL, &reply, 100), -1);
    assert_int_equal(fake_recv(f, 200), 1);         /* the other one went */
    assert_int_equal(mq_client_request(c, &req, NULL, &reply, 1000), -1);
    assert_non_null(strstr(mq_strerror(), "no reply in 23 hours"));
    assert_int_equal(fake_recv(f, 200), 0);
    mq_client_destroy(&c);
}

/* mq_client_recv(-1) returns 0; mq_client_submit(-1) -1 with errno EINTR. */
static void client_signal_ends_wait(void **state)
{
    fake_t *f = *state;
    mq_client_t *c = mq_client_new(f->endpoint);
    msg_t r;
    interrupter_t in;
    int64_t t0 = now_ms();
    pthread_t t = interrupt_soon(&in, "mq_client_recv(-1)");
    int rc = mq_client_recv(c, &r, -1);
    interrupted(t, &in, t0);
    assert_int_equal(rc, 0);

    msg_case_t k;
    case_for_submit(&k);
    t0 = now_ms();
    t = interrupt_soon(&in, "mq_client_submit(-1)");
    rc = mq_client_submit(c, &k, -1, NULL, NULL);
    interrupted(t, &in, t0);
    assert_int_equal(rc, -1);
    assert_int_equal(errno, EINTR);
    assert_non_null(strstr(mq_strerror(), "signal"));
    mq_client_destroy(&c);
}

/* ---- fork ------------------------------------------------------------- */

/* The exit code of child pid, within 5 s; meanwhile the fake broker
 * acknowledges REGISTERs and answers heartbeats, from whichever process.
 * A child still running then is killed: -1. */
static int child_exit(fake_t *f, pid_t pid)
{
    int64_t deadline = now_ms() + 5000;
    int st;
    while (now_ms() < deadline) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        while (fake_recv(f, 20) == 1) {
            if (f->in.cmd == MSG_REGISTER)
                send_ack(f, f->in.msg_id, 1000);
            else if (f->in.cmd == MSG_HEARTBEAT)
                send_cmd(f, MSG_HEARTBEAT);
        }
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

/* The child's copy of a ZeroMQ context has no I/O threads: a worker or
 * client used before fork() hung there (mq_worker_next(-1) for ever) or
 * failed with EINTR, which callers retry. Now every call fails with ECHILD
 * and says why. A worker not yet used when the process forks (a daemon
 * that forks after mq_worker_new) works in the child, and the parent's
 * objects keep working after the child has destroyed its copies. */
static void forked_child_fails_clearly(void **state)
{
    fake_t *f = *state;
    mq_worker_t *fresh = mq_worker_new(f->endpoint, DEPT, 1, "forked");
    assert_non_null(fresh);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        mq_assignment_t a;
        mq_escalation_t e;
        int64_t deadline = now_ms() + 3000;
        while (mq_worker_sessions(fresh) == 0 && now_ms() < deadline)
            if (mq_worker_next(fresh, &a, &e, 50) < 0)
                _exit(10);
        _exit(mq_worker_sessions(fresh) > 0 ? 0 : 11);
    }
    assert_int_equal(child_exit(f, pid), 0);
    mq_worker_destroy(&fresh);
    while (fake_recv(f, 100) == 1)      /* the child's DISCONNECT */
        ;

    mq_worker_t *w = registered_worker(f, 1000);
    mq_client_t *c = mq_client_new(f->endpoint);
    msg_case_t k;
    case_for_submit(&k);
    char id[32];
    assert_int_equal(mq_client_send_submit(c, &k, id), 0);
    assert_int_equal(fake_get(f, 1000), 1);
    assert_int_equal(f->in.cmd, MSG_SUBMIT);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        mq_assignment_t a;
        mq_escalation_t e;
        msg_t r;
        errno = 0;
        if (mq_worker_next(w, &a, &e, -1) != -1 || errno != ECHILD)
            _exit(1);
        if (!strstr(mq_strerror(), "used in a forked child: create a new worker there"))
            _exit(2);
        errno = 0;
        if (mq_worker_accept(w, 5) != -1 || errno != ECHILD || mq_worker_unacked(w) != 0)
            _exit(3);
        errno = 0;
        if (mq_worker_flush(w, -1) != -1 || errno != ECHILD)
            _exit(4);
        errno = 0;
        if (mq_client_recv(c, &r, -1) != -1 || errno != ECHILD)
            _exit(5);
        errno = 0;
        if (mq_client_submit(c, &k, -1, NULL, NULL) != -1 || errno != ECHILD ||
            !strstr(mq_strerror(), "create a new client there"))
            _exit(6);
        mq_worker_destroy(&w);
        mq_client_destroy(&c);
        _exit(0);
    }
    assert_int_equal(child_exit(f, pid), 0);
    assert_int_equal(mq_worker_accept(w, 6), 0);
    assert_int_equal(expect(f, w, MSG_ACCEPT, 1000)->assignment_id, 6);
    assert_int_equal(mq_client_send_submit(c, &k, id), 0);
    assert_int_equal(fake_get(f, 1000), 1);
    assert_string_equal(f->in.msg_id, id);
    mq_worker_destroy(&w);
    mq_client_destroy(&c);
}

/* ---- masking ---------------------------------------------------------- */

/* What an adapter logs from a command keeps no phone or ID number whole. */
static void mask_text_hides_numbers(void **state)
{
    (void)state;
    char out[128];
    mq_mask_text("居民13812345678来电，身份证620102199001011234，3号楼", out, sizeof out);
    assert_string_equal(out, "居民138****5678来电，身份证620***********1234，3号楼");
    mq_mask_text("case 4242, room 12, 2024-05-01", out, sizeof out);
    assert_string_equal(out, "case 4242, room 12, 2024-05-01");
    mq_mask_text("tel 13812345678", out, 9);    /* cut: masked as the whole number is */
    assert_string_equal(out, "tel 138*");
    mq_mask_text("12345电6", out, 8);           /* a prefix: nothing after what did not fit */
    assert_string_equal(out, "12345");
    /* written as people write them: groups, full-width digits, a landline */
    mq_mask_text("138-1234-5678, 138 1234 5678", out, sizeof out);
    assert_string_equal(out, "138-****-5678, 138 **** 5678");
    mq_mask_text("电话１３８１２３４５６７８", out, sizeof out);
    assert_string_equal(out, "电话１３８****５６７８");
    mq_mask_text("0755-86001234 or 86001234", out, sizeof out);
    assert_string_equal(out, "075*-****1234 or ******34");
    /* full-width or typographic separators join the groups as '-' does */
    mq_mask_text("电话１３８－１２３４－５６７８", out, sizeof out);
    assert_string_equal(out, "电话１３８－****－５６７８");
    mq_mask_text("138\u30001234\u30005678，138\u00a01234\u00a05678", out, sizeof out);
    assert_string_equal(out, "138\u3000****\u30005678，138\u00a0****\u00a05678");
    mq_mask_text("138\u20141234\u20145678", out, sizeof out);
    assert_string_equal(out, "138\u2014****\u20145678");
    mq_mask_text("2024\uff0d05\uff0d01", out, sizeof out);     /* a date stays */
    assert_string_equal(out, "2024\uff0d05\uff0d01");
    /* bytes that start no character (GBK from a command) are '?', and do
     * not swallow the digits after them */
    mq_mask_text("\xeb" "13812345678 \xf0" "6512345 \xb5", out, sizeof out);
    assert_string_equal(out, "?138****5678 ?*****45 ?");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(worker_rejects_bad_arguments),
        T(worker_registers),
        T(worker_ids_are_unique_and_short),
        T(worker_waits_for_broker),
        T(worker_says_why_in_errno),
        T(worker_fd_loop),
        T(worker_receives_events),
        T(worker_acknowledges_escalations),
        T(worker_releases_escalations),
        T(worker_keeps_open_escalations),
        T(worker_holds_back_escalations_past_the_cap),
        T(worker_checks_outcomes),
        T(worker_resends_unacked),
        T(worker_retries_and_refuses),
        T(worker_backs_off_retries),
        T(worker_keeps_order_per_assignment),
        T(worker_resends_overtaken_outcome),
        T(worker_learns_key_revoked),
        T(worker_registers_less_often_when_refused),
        T(worker_backs_off_when_handshake_refused),
        T(worker_resends_a_large_queue),
        T(worker_drains_a_large_queue),
        T(worker_gives_up_old_outcomes),
        T(worker_reregisters),
        T(worker_reregisters_at_default_interval),
        T(worker_heartbeats_when_idle),
        T(worker_reconnects_after_silence),
        T(worker_idles_without_broker),
        T(worker_flush_keeps_events),
        T(worker_serves_kept_events),
        T(worker_destroy_frees_queues),
        T(worker_returns_backlog_memory),
        T(client_submits),
        T(client_resubmits_same_id),
        T(client_gets_error),
        T(client_drops_stale_replies),
        T(client_reports_rate_limit),
        T(client_times_out),
        T(client_leaves_no_stale_copies),
        T(client_resubmits_unanswered_id),
        T(client_gives_up_after_23_hours),
        T(client_windowed),
        T(client_keeps_windowed_replies),
        T(client_sends_priority),
        T(client_requests),
        T(client_send_keeps_callers_id),
        T(client_refuses_oversized_body),
        T(client_checks_before_sending),
        T(client_retries_refused_handshake),
        T(worker_signal_ends_wait),
        T(client_signal_ends_wait),
        T(forked_child_fails_clearly),
        T(mask_text_hides_numbers),
    };
#undef T
    if (getenv("MQ_TEST"))          /* a glob: run only the tests it names */
        cmocka_set_test_filter(getenv("MQ_TEST"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
