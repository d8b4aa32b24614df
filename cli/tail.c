/*
 * tail.c - `minqing tail`: subscribe to the broker's event stream (a ZeroMQ
 * PUB socket, PROTOCOL.md sections 3.4 and 5.20) and print every event as a
 * readable line until Ctrl-C.
 *
 * Topics are "<kind>.<department>" ("-" for case events), so --kind becomes a
 * ZeroMQ prefix subscription "<kind>."; --department compares the whole
 * department part, since ZeroMQ matches prefixes only. Events carry no
 * personal data, and whatever text they do carry is made terminal-safe.
 * The stream is lossy by design (PUB drops for slow subscribers): the
 * database is the record, `minqing show` reads it.
 */
#include "cli.h"
#include "codec.h"
#include "minqing.h"
#include "msg.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define CMD "tail"
#define MAX_KINDS 32
#define LISTS "keys/intake/"    /* or any other allowlist: every admitted key may follow events */

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void help(void)
{
    printf(
        "usage: minqing tail [-c FILE] [--kind K[,K...]] [--department D] [--count N]\n"
        "                    [--cert FILE]\n"
        "\n"
        "Follow the broker's event stream and print one line per event until Ctrl-C:\n"
        "local time, kind, case, department, state, actor, and for escalations the\n"
        "level, ladder, target, street, community and how late (overdue seconds;\n"
        "negative for a reminder before the deadline).\n"
        "\n"
        "Kinds: received, routed, dispatched, accepted, contacted, progress, resolved,\n"
        "returned, superseded, feedback, reopened, escalated, closed, cancelled, and any\n"
        "the broker adds later.\n"
        "\n"
        "Options:\n"
        "  -k, --kind K[,K...]    only these kinds (may be repeated)\n"
        "  -d, --department D     only events concerning department D (id or display\n"
        "                         name); case events, which concern none, are left out\n"
        "  -n, --count N          exit after N events\n"
        "  -c, --config FILE      the broker's config, for [broker] events\n"
        "                         (default %s)\n"
        CLI_CERT_HELP
        "  -h, --help             this help\n"
        "\n"
        "On a tcp:// events endpoint the broker admits only known CURVE keys: give\n"
        "--cert with a keypair whose public part is on one of its allowlists\n"
        "(keys/intake/, keys/admin/ or keys/workers/DEPT/).\n"
        "\n"
        "The stream is a view, not a record: a subscriber that is slow or not yet\n"
        "connected misses events. The audit trail in the database has them all\n"
        "('minqing show ID').\n"
        "\n"
        "Exit status: 0 stopped by Ctrl-C or after --count events; 1 broker not\n"
        "running, refusing this client's key, or stream failed; 2 bad option (or no\n"
        "--cert for a CURVE endpoint).\n",
        CONFIG_DEFAULT_PATH);
}

typedef struct {
    const cli_t *cli;
    const config_t *cfg;
    cli_curve_t curve;
    mq_handshake_t hs;          /* with CURVE: why the connection cannot work */
    const char *dept;
    char *kinds[MAX_KINDS];
    int nkinds;
} tail_t;

static bool valid_kind(const char *k)
{
    size_t n = strlen(k);
    return n >= 1 && n <= 32 &&
           strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

/* Split "a,b" into self->kinds; CLI_OK or CLI_USAGE. */
static int add_kinds(tail_t *self, const char *arg)
{
    const char *p = arg;
    for (;;) {
        size_t n = strcspn(p, ",");
        char *k = strndup(p, n);
        if (!k)
            return cli_fail(CLI_RUNTIME, CMD, "out of memory");
        if (self->nkinds == MAX_KINDS) {
            free(k);
            return cli_usage(CMD, "at most %d kinds", MAX_KINDS);
        }
        if (!valid_kind(k)) {
            cli_usage(CMD, "'%s' is not an event kind (letters, digits, _ and -)", k);
            free(k);
            return CLI_USAGE;
        }
        self->kinds[self->nkinds++] = k;
        if (!p[n])
            return CLI_OK;
        p += n + 1;
    }
}

static void print_event(const tail_t *self, const msg_t *m)
{
    char when[40], line[4096];
    size_t n = 0;
    /* append, keeping n inside line: a long note is cut (cli_clean mends a cut character) */
#define ADD(...) (n += (size_t)snprintf(line + n, sizeof line - n, __VA_ARGS__), \
                  n = n < sizeof line ? n : sizeof line - 1)
    ADD("%s  %-10s case %-6" PRIu64, cli_time_ms(m->at, when, sizeof when), m->kind, m->case_id);
    if (MSG_HAS(m, MF_DEPARTMENT))
        ADD("  %s(%s)", cli_dept_name(self->cfg, m->department), m->department);
    if (MSG_HAS(m, MF_ASSIGNMENT_ID))
        ADD("  assignment %" PRIu64, m->assignment_id);
    if (MSG_HAS(m, MF_STATE))
        ADD("  state=%s", msg_state_name(m->state));
    if (MSG_HAS(m, MF_ACTOR))
        ADD("  actor=%s", m->actor);
    if (MSG_HAS(m, MF_LEVEL))
        ADD("  level=%u", m->level);
    if (MSG_HAS(m, MF_LADDER))
        ADD("  ladder=%s", msg_ladder_names[m->ladder] ? msg_ladder_names[m->ladder] : "?");
    if (MSG_HAS(m, MF_TARGET))
        ADD("  target=%s", m->target);
    if (MSG_HAS(m, MF_STREET))
        ADD("  street=%s", m->street);
    if (MSG_HAS(m, MF_COMMUNITY))
        ADD("  community=%s", m->community);
    if (MSG_HAS(m, MF_GRID_CODE))
        ADD("  grid=%s", m->grid_code);
    if (MSG_HAS(m, MF_OVERDUE_S))
        ADD("  overdue=%llds", (long long)m->overdue_s);
    if (MSG_HAS(m, MF_NOTE) && m->note[0])
        ADD("  note=\"%s\"", m->note);
#undef ADD
    char *clean = cli_clean(line, false);
    if (clean)
        puts(clean);
    free(clean);
}

/* Whether the topic's department part is exactly self->dept. */
static bool dept_matches(const tail_t *self, const void *topic, size_t size)
{
    if (!self->dept)
        return true;
    const char *dot = memchr(topic, '.', size);
    if (!dot)
        return false;
    size_t rest = size - (size_t)(dot + 1 - (const char *)topic);
    return rest == strlen(self->dept) && memcmp(dot + 1, self->dept, rest) == 0;
}

/* Receive and print one message; 1 printed, 0 skipped, -1 socket error. */
static int one(const tail_t *self, void *sock, codec_t *codec)
{
    zmq_msg_t part[4];
    size_t n = 0;
    int more = 1, rc = 0;
    while (more) {
        zmq_msg_t scratch, *m = n < 4 ? &part[n] : &scratch;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(m);
            rc = errno == EAGAIN ? 0 : -1;
            break;
        }
        more = zmq_msg_more(m);
        if (m == &scratch)
            zmq_msg_close(m);
        n += 1;
    }
    size_t kept = n < 4 ? n : 4;
    if (rc == 0 && n == 4 && dept_matches(self, zmq_msg_data(&part[0]), zmq_msg_size(&part[0]))) {
        codec_frame_t frames[3];
        for (int i = 0; i < 3; i++)
            frames[i] = (codec_frame_t){zmq_msg_data(&part[i + 1]), zmq_msg_size(&part[i + 1])};
        msg_t m;
        codec_error_t err;
        if (codec_decode(codec, frames, 3, &m, &err) == 0 && m.cmd == MSG_EVENT) {
            print_event(self, &m);
            rc = 1;
        } else {
            fprintf(stderr, "minqing tail: skipped an event that does not decode (%s): is "
                    "the broker newer than this minqing?\n", err.reason);
        }
    }
    for (size_t i = 0; i < kept; i++)
        zmq_msg_close(&part[i]);
    return rc;
}

/* Set sock up for the kinds asked for, with CURVE keys and a watch on the
 * handshake when the endpoint has them, and connect it. CLI_OK, or the exit
 * code after saying why not. */
static int subscribe(tail_t *self, void *ctx, void *sock, const char *endpoint)
{
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (self->nkinds == 0)
        zmq_setsockopt(sock, ZMQ_SUBSCRIBE, "", 0);
    for (int i = 0; i < self->nkinds; i++) {
        char topic[40];
        snprintf(topic, sizeof topic, "%s.", self->kinds[i]);
        zmq_setsockopt(sock, ZMQ_SUBSCRIBE, topic, strlen(topic));
    }
    if (mq_curve_apply(&self->curve.keys, sock))
        return cli_fail(CLI_RUNTIME, CMD, "%s", mq_strerror());
    /* a refused key, or Unix user on ipc:// ([local_users]), gets no events
     * and no word: only the handshake says so */
    if ((self->curve.keys.on || !strncmp(endpoint, "ipc://", 6)) &&
        mq_handshake_watch(&self->hs, ctx, sock))
        return cli_fail(CLI_RUNTIME, CMD, "%s", mq_strerror());
    if (zmq_connect(sock, endpoint))
        return cli_fail(CLI_RUNTIME, CMD, "cannot connect to %s: %s (check [broker] events in "
                        "the config)", endpoint, zmq_strerror(errno));
    return CLI_OK;
}

static int follow(tail_t *self, const char *endpoint, long count)
{
    void *ctx = zmq_ctx_new();
    void *sock = ctx ? zmq_socket(ctx, ZMQ_SUB) : NULL;
    codec_t *codec = codec_new();
    int rc = CLI_OK;
    if (!sock || !codec)
        rc = cli_fail(CLI_RUNTIME, CMD, "cannot create a socket: %s", zmq_strerror(errno));
    else if ((rc = subscribe(self, ctx, sock, endpoint)) == CLI_OK)
        fprintf(stderr, "minqing tail: following %s (Ctrl-C stops)\n", endpoint);
    long seen = 0;
    while (rc == CLI_OK && !stopping && (!count || seen < count)) {
        zmq_pollitem_t items[2] = {{sock, 0, ZMQ_POLLIN, 0}, {self->hs.monitor, 0, ZMQ_POLLIN, 0}};
        int ready = zmq_poll(items, self->hs.monitor ? 2 : 1, 250);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0) {
            rc = cli_fail(CLI_RUNTIME, CMD, "waiting for events: %s", zmq_strerror(errno));
            break;
        }
        if (mq_handshake_check(&self->hs, endpoint))
            rc = cli_client_failed(self->cli, CMD, LISTS);
        int got;
        while (rc == CLI_OK && items[0].revents && (!count || seen < count) &&
               (got = one(self, sock, codec)) != 0) {
            if (got < 0) {
                if (errno == EINTR)
                    break;
                rc = cli_fail(CLI_RUNTIME, CMD, "reading events: %s", zmq_strerror(errno));
                break;
            }
            seen++;
            fflush(stdout);
        }
    }
    codec_destroy(&codec);
    mq_handshake_close(&self->hs);
    if (sock)
        zmq_close(sock);
    if (ctx)
        zmq_ctx_term(ctx);
    return rc;
}

int cmd_tail(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"kind", required_argument, NULL, 'k'},
        {"department", required_argument, NULL, 'd'},
        {"count", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        CLI_CERT_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    tail_t self = {.cli = cli};
    long count = 0;
    int c, rc = CLI_OK;
    while (rc == CLI_OK && (c = cli_getopt(cli, CMD, argc, argv, ":hc:k:d:n:", opts)) != -1) {
        switch (c) {
        case 'h': help(); goto done;
        case 'k': rc = add_kinds(&self, optarg); break;
        case 'd': self.dept = optarg; break;
        case 'n':
            if (cli_parse_long(optarg, 1, 1000000000L, &count))
                rc = cli_usage(CMD, "--count takes a number of events, from 1");
            break;
        default: rc = CLI_USAGE; break;
        }
    }
    if (rc == CLI_OK && optind < argc)
        rc = cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (rc == CLI_OK)
        rc = cli_load_config(cli, CMD);
    if (rc == CLI_OK && self.dept) {
        const char *id = cli_dept_lookup(cli->cfg, self.dept);
        if (!id)
            rc = cli_usage(CMD, "no department '%s' in %s", self.dept, cli->config_path);
        self.dept = id;
    }
    if (rc == CLI_OK)
        rc = cli_curve(cli, CMD, cli->cfg->events_endpoint, LISTS, &self.curve);
    if (rc == CLI_OK)
        rc = cli_endpoint_check(cli, CMD, cli->cfg->events_endpoint, "events");
    if (rc == CLI_OK) {
        self.cfg = cli->cfg;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;      /* no SA_RESTART: zmq_poll must wake */
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        rc = follow(&self, cli->cfg->events_endpoint, count);
    }
done:
    for (int i = 0; i < self.nkinds; i++)
        free(self.kinds[i]);
    return rc;
}
