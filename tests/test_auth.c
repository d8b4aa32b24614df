/*
 * test_auth.c - the broker's CURVE side (daemon/auth.c) on a real libzmq
 * context: a key on the allowlist gets its message through, a key on none
 * gets nothing through, and that stays so when no ZAP handler answers.
 *
 * libzmq 4.3 lets every key in when nothing is bound to its ZAP endpoint
 * (inproc://zeromq.zap.01), unless the socket sets ZMQ_ZAP_ENFORCE_DOMAIN;
 * the broker binds its handler before any CURVE socket, but the
 * enforcement keeps a handler that is gone (a bug, a refactor) from silently
 * opening the door. The keys are made in a mkdtemp directory, as `minqing
 * keygen` makes them; every wait is bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"

typedef struct {
    char dir[64], server[128], intake[128];
    zcert_t *known, *stranger;      /* a client key on the intake list, one on none */
    config_t cfg;
    void *ctx, *router;
    void *clients[2];               /* closed by teardown, even after a failed assert */
    size_t nclients;
    auth_t *auth;
    char endpoint[64];
} fix_t;

/* path's keypair, as minqing keygen writes it: path (0644), path_secret (0600) */
static zcert_t *keypair(const char *path)
{
    char secret[160];
    zcert_t *cert = zcert_new();
    snprintf(secret, sizeof secret, "%s_secret", path);
    assert_int_equal(zcert_save_public(cert, path), 0);
    assert_int_equal(zcert_save_secret(cert, secret), 0);
    assert_int_equal(chmod(secret, 0600), 0);
    return cert;
}

static int setup(void **state)
{
    fix_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/mq-auth-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char list[96];
    snprintf(list, sizeof list, "%s/intake", f->dir);
    assert_int_equal(mkdir(list, 0755), 0);
    snprintf(f->server, sizeof f->server, "%s/server", f->dir);
    snprintf(f->intake, sizeof f->intake, "%s/known", list);
    zcert_t *server = keypair(f->server);
    zcert_destroy(&server);
    f->known = keypair(f->intake);
    f->stranger = zcert_new();
    f->cfg.server_cert = f->server;
    f->cfg.keys_dir = f->dir;
    f->ctx = zmq_ctx_new();
    char err[512] = "";
    f->auth = auth_new(f->ctx, &f->cfg, err, sizeof err);
    assert_non_null(f->auth);
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    assert_int_equal(auth_secure(f->auth, f->router, "tcp://127.0.0.1:*", err, sizeof err), 0);
    assert_int_equal(zmq_bind(f->router, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof f->endpoint;
    assert_int_equal(zmq_getsockopt(f->router, ZMQ_LAST_ENDPOINT, f->endpoint, &len), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fix_t *f = *state;
    for (size_t i = 0; i < f->nclients; i++)
        zmq_close(f->clients[i]);
    zmq_close(f->router);
    auth_destroy(&f->auth);
    zmq_ctx_term(f->ctx);
    zcert_destroy(&f->known);
    zcert_destroy(&f->stranger);
    char path[160];
    snprintf(path, sizeof path, "%s_secret", f->intake);
    unlink(path), unlink(f->intake);
    snprintf(path, sizeof path, "%s_secret", f->server);
    unlink(path), unlink(f->server);
    snprintf(path, sizeof path, "%s/intake", f->dir);
    rmdir(path), rmdir(f->dir);
    free(f);
    return 0;
}

/* A DEALER with client's keys that sends one message to the broker's socket. */
static void client_send(fix_t *f, zcert_t *client)
{
    zcert_t *server = zcert_load(f->server);
    assert_non_null(server);
    void *d = zmq_socket(f->ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    zcert_apply(client, d);
    zmq_setsockopt(d, ZMQ_CURVE_SERVERKEY, zcert_public_key(server), 32);
    zcert_destroy(&server);
    assert_int_equal(zmq_connect(d, f->endpoint), 0);
    f->clients[f->nclients++] = d;
    assert_int_equal(zmq_send(d, "hello", 5, ZMQ_DONTWAIT), 5);
}

/* Whether a message reaches the broker's socket within ms, the ZAP handler
 * served meanwhile as the broker's loop serves it. */
static bool arrives(fix_t *f, int ms)
{
    for (int waited = 0; waited < ms; waited += 10) {
        auth_serve(f->auth);
        zmq_pollitem_t it = {.socket = f->router, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, 10) > 0)
            return true;
    }
    return false;
}

static void a_listed_key_gets_in_and_a_stranger_does_not(void **state)
{
    fix_t *f = *state;
    client_send(f, f->stranger);
    assert_false(arrives(f, 1000));
    client_send(f, f->known);
    assert_true(arrives(f, 5000));
}

static void without_a_zap_handler_a_stranger_still_gets_nothing_through(void **state)
{
    fix_t *f = *state;
    /* the handler gone: libzmq would fall back to admitting every key */
    assert_int_equal(zmq_unbind(auth_socket(f->auth), "inproc://zeromq.zap.01"), 0);
    client_send(f, f->stranger);
    assert_false(arrives(f, 1000));
}

/* The audit trail names a key by its file: Chinese kept, a space made _,
 * and two long names alike up to the cut still told apart by their keys. */
static void keys_named_by_their_files(void **state)
{
    fix_t *f = *state;
    static const char *const names[] = {
        "民政局值班台", "ops desk", "county-gateway-northern-district-hotline-1",
        "county-gateway-northern-district-hotline-2"};
    enum { N = sizeof names / sizeof names[0] };
    zcert_t *certs[N];
    char path[N][200];
    for (size_t i = 0; i < N; i++) {
        snprintf(path[i], sizeof path[i], "%s/intake/%s", f->dir, names[i]);
        certs[i] = keypair(path[i]);
    }
    char err[512] = "";
    assert_int_equal(auth_reload(f->auth, &f->cfg, err, sizeof err), 0);
    const char *got[N];
    for (size_t i = 0; i < N; i++)
        got[i] = auth_name(f->auth, zcert_public_txt(certs[i]));
    assert_string_equal(got[0], "民政局值班台");
    assert_string_equal(got[1], "ops_desk");
    assert_non_null(got[2]);
    assert_non_null(got[3]);
    assert_true(strlen(got[2]) <= 40);
    assert_string_not_equal(got[2], got[3]);
    assert_null(auth_name(f->auth, zcert_public_txt(f->stranger)));
    for (size_t i = 0; i < N; i++) {
        char secret[sizeof path[0] + sizeof "_secret"];
        assert_true(snprintf(secret, sizeof secret, "%s_secret", path[i]) < (int)sizeof secret);
        unlink(secret), unlink(path[i]);
        zcert_destroy(&certs[i]);
    }
}

/* [local_users]: a peer's Unix user id ("unix:UID", from ZAP) takes the
 * place of a key; root and the broker's user may do anything; a user let in
 * while the section stood is refused once a reload takes it out. */
static void local_users_hold_ipc_peers_to_their_roles(void **state)
{
    (void)state;
    config_dept_t depts[] = {{"water", "水务局"}, {"hrss", "人社局"}};
    config_local_user_t users[] = {
        {65534, "nobody", CONFIG_LOCAL_WORKER, 0}, {1, "daemon", CONFIG_LOCAL_INTAKE, -1},
    };
    config_t cfg = {.depts = depts, .ndepts = 2, .local_users_on = true,
                    .local_users = users, .nlocal_users = 2};
    char err[256], me[32];
    auth_t *auth = auth_new(NULL, &cfg, err, sizeof err);
    assert_non_null(auth);
    const char *dept;
    assert_int_equal(auth_role(auth, "unix:65534", &dept), AUTH_WORKER);
    assert_string_equal(dept, "water");
    assert_string_equal(auth_name(auth, "unix:65534"), "unix:nobody");
    assert_int_equal(auth_role(auth, "unix:1", &dept), AUTH_INTAKE);
    assert_int_equal(auth_role(auth, "unix:2", &dept), AUTH_REVOKED);
    assert_int_equal(auth_role(auth, "unix:65534x", &dept), AUTH_REVOKED);
    /* admins may do anything a local peer may, working for any department too */
    assert_int_equal(auth_role(auth, "unix:0", &dept), AUTH_LOCAL);
    assert_string_equal(auth_name(auth, "unix:0"), "unix:root");
    snprintf(me, sizeof me, "unix:%u", (unsigned)geteuid());
    assert_int_equal(auth_role(auth, me, &dept), AUTH_LOCAL);
    assert_false(auth_by_connection(auth, "unix:0"));      /* counted and named by user */
    assert_true(auth_by_connection(auth, NULL));
    /* the section taken out: root is local as before, a user it let in is not */
    config_t plain = {.depts = depts, .ndepts = 2};
    assert_int_equal(auth_reload(auth, &plain, err, sizeof err), 0);
    assert_true(auth_narrowed(auth));       /* nobody and daemon may no longer follow events */
    assert_int_equal(auth_reload(auth, &plain, err, sizeof err), 0);
    assert_false(auth_narrowed(auth));      /* nothing more taken off */
    assert_int_equal(auth_role(auth, "unix:0", &dept), AUTH_LOCAL);
    assert_null(auth_name(auth, "unix:0"));
    assert_true(auth_by_connection(auth, "unix:0"));
    assert_int_equal(auth_role(auth, "unix:65534", &dept), AUTH_REVOKED);
    assert_int_equal(auth_role(auth, NULL, &dept), AUTH_LOCAL);
    auth_destroy(&auth);
}

/* On ipc:// the ZAP handler gives every connection its Unix user as its
 * User-Id, from the kernel: the message arrives carrying "unix:EUID". */
static void an_ipc_peer_carries_its_unix_user(void **state)
{
    fix_t *f = *state;              /* for its directory */
    config_t cfg = {0};
    char err[256], ep[96], want[32];
    snprintf(ep, sizeof ep, "ipc://%s/w.sock", f->dir);
    void *ctx = zmq_ctx_new();
    auth_t *auth = auth_new(ctx, &cfg, err, sizeof err);
    assert_non_null(auth);
    void *router = zmq_socket(ctx, ZMQ_ROUTER), *dealer = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(dealer, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(auth_guard_local(auth, router, ep, false, err, sizeof err), 0);
    assert_int_equal(zmq_bind(router, ep), 0);
    assert_int_equal(zmq_connect(dealer, ep), 0);
    assert_int_equal(zmq_send(dealer, "hi", 2, 0), 2);
    zmq_msg_t id;
    zmq_msg_init(&id);
    int got = -1;
    for (int i = 0; i < 200 && got < 0; i++) {         /* 2 s at most */
        auth_serve(auth);
        got = zmq_msg_recv(&id, router, ZMQ_DONTWAIT);
        if (got < 0)
            usleep(10000);
    }
    assert_true(got >= 0);
    snprintf(want, sizeof want, "unix:%u", (unsigned)geteuid());
    assert_non_null(zmq_msg_gets(&id, "User-Id"));
    assert_string_equal(zmq_msg_gets(&id, "User-Id"), want);
    zmq_msg_close(&id);
    zmq_close(dealer), zmq_close(router);
    auth_destroy(&auth);
    zmq_ctx_term(ctx);
    unlink(ep + strlen("ipc://"));  /* teardown removes the directory */
}

/* Endpoints change at a restart: a reload that adds [local_users] while a
 * plain tcp:// endpoint serves (whose peers have no user) is refused. */
static void a_reload_may_not_add_local_users_beside_plain_tcp(void **state)
{
    (void)state;
    config_t running = {.allow_plain_tcp = 1, .path = "minqing.conf"};
    char err[512];
    void *ctx = zmq_ctx_new(), *sock = zmq_socket(ctx, ZMQ_ROUTER);
    auth_t *auth = auth_new(ctx, &running, err, sizeof err);
    assert_non_null(auth);
    assert_int_equal(auth_secure(auth, sock, "tcp://127.0.0.1:1", err, sizeof err), 0);
    config_t fresh = {.path = "minqing.conf", .intake_endpoint = "ipc:///tmp/i.sock",
                      .worker_endpoint = "ipc:///tmp/w.sock", .events_endpoint = "ipc:///tmp/e.sock",
                      .local_users_on = true};
    assert_int_equal(auth_reload_check(auth, &fresh, err, sizeof err), -1);
    assert_non_null(strstr(err, "[local_users], but this broker serves plain tcp://"));
    fresh.local_users_on = false;
    assert_int_equal(auth_reload_check(auth, &fresh, err, sizeof err), 0);
    zmq_close(sock);
    auth_destroy(&auth);
    zmq_ctx_term(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_listed_key_gets_in_and_a_stranger_does_not, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(without_a_zap_handler_a_stranger_still_gets_nothing_through,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(keys_named_by_their_files, setup, teardown),
        cmocka_unit_test(local_users_hold_ipc_peers_to_their_roles),
        cmocka_unit_test_setup_teardown(an_ipc_peer_carries_its_unix_user, setup, teardown),
        cmocka_unit_test(a_reload_may_not_add_local_users_beside_plain_tcp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
