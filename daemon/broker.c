/*
 * broker.c - the event loop of minqingd (see broker.h).
 *
 * One pass of the loop: poll; read what has arrived on the intake and worker
 * sockets (a bounded batch of each); apply it inside the open transaction;
 * commit once; then, and only then, send the acks and publish the events;
 * then hand waiting assignments to workers with credit. Group commit is what
 * makes this fast without weakening durability: one fsync answers a batch.
 *
 * A DISPATCH is sent before the transaction that records it commits. That is
 * safe: the assignment itself is durable already, and if the broker dies
 * before the record commits, the assignment is simply offered again after
 * the restart (workers treat a repeated assignment_id idempotently).
 */
#include "broker.h"
#include "apply.h"
#include "auth.h"
#include "clock.h"
#include "codec.h"
#include "dispatch.h"
#include "escalation.h"
#include "fsm.h"
#include "holdback.h"
#include "ladders.h"
#include "log.h"
#include "notices.h"
#include "outbox.h"
#include "peers.h"
#include "ratelimit.h"
#include "requeue.h"
#include "service.h"
#include "session.h"
#include "sockfile.h"
#include "stall.h"
#include "store.h"
#include "timers.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define BATCH 512               /* messages per socket per pass */
#define TIMER_BATCH 2000        /* deadlines fired per pass, so a burst cannot starve intake */
#define MAX_FRAMES 5            /* routing id + 3 protocol frames + 1 too many */

#define DISPATCH_LINGER_MS 2    /* see poll_timeout */
#define CLOCK_SKEW_SAY_MS 1000  /* a step of the system clock worth showing (status_line) */
#define STOP_LATENCY_MS 1000    /* the longest poll: a signal between check and poll waits this */
#define STORE_RETRY_MS 1000     /* due timers, while BEGIN fails: a retry a second, not a spin */
#define MAX_NOTICES 100000      /* beyond this a new notice waits in the database (notices.h) */

struct broker_t {
    config_t *cfg;
    store_t *store;
    void *ctx, *intake, *workers, *events;
    peers_t *listeners;         /* connections to the event stream */
    sockfile_t files[3];        /* the ipc:// endpoints' socket files, removed at the stop */
    auth_t *auth;
    ratelimit_t *rates;         /* per intake connection */
    codec_t *dec, *enc;
    sessions_t *sessions;
    dispatch_t *dispatch;
    holdback_t *holdback;       /* outcomes held behind one a failed pass refused */
    outbox_t *outbox;
    apply_t apply;
    mqclock_t clock;
    timers_t *timers;
    timers_entry_t *popped;     /* hints taken this pass, re-armed if the commit fails */
    size_t npopped, cappopped;
    uint64_t *marked;           /* marked accepted this pass, unmarked if the commit fails */
    size_t nmarked, capmarked;
    notices_t *notices;         /* ESCALATEs not yet acknowledged by a supervision worker */
    bool txn;                   /* a write transaction is open */
    bool store_down;            /* the last BEGIN failed (logged once) */
    bool hints_lost;            /* a timer hint could not be kept: rebuild them (rebuild_hints) */
    bool acked_in_pass;         /* a notice left the list for an ACK this pass records */
    bool events_unbound;        /* rebind_events could not bind the stream again yet */
    char events_ep[256];        /* the event stream's endpoint as bound */
    volatile sig_atomic_t stop, reload;
    int64_t last_housekeeping, last_status, last_watchdog, watchdog_ms, last_trim;
    int64_t last_census;        /* when check_stalls last counted (once a second) */
    int64_t census_within;      /* the accept_within it counted against */
    int64_t beat_ms;            /* the shortest heartbeat in force: see beat_sessions */
    int64_t last_extend;        /* EXTEND_TIMEOUT_USEC last sent while starting, 0: never */
    int32_t holidays_day;       /* local YYYYMMDD of the last holiday file check */
    bool serving;               /* READY=1 sent */
    struct {
        uint64_t passes, commits, batch_max, refused, submitted;
    } stats;
};

typedef struct {
    zmq_msg_t part[MAX_FRAMES];
    size_t n;
    bool too_many;
} inmsg_t;

static void notice_acked(broker_t *self, const session_t *s, const char *re);
static void place_notices(broker_t *self, const char *event);

/* ---- clocks ---------------------------------------------------------- */

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void) { return clock_ms(CLOCK_MONOTONIC); }

/* ---- sockets --------------------------------------------------------- */

static int set_int(void *s, int opt, int v)
{
    return zmq_setsockopt(s, opt, &v, sizeof v);
}

/* A ROUTER numbers the peers that bring no routing id of their own (every
 * peer of ours), counting up from a start it draws with rand() when it is
 * made, and libzmq aborts the process when a number it hands out is one a
 * peer has already claimed for itself (an assertion in add_out_pipe).
 * Unseeded, the start is the same in every broker (0x6b8b4567): any peer
 * that may connect, an intake key or a local process, could crash the broker
 * by claiming the next numbers. Seeded from the kernel, they cannot be
 * guessed, and taking over a worker's routing id by guessing it fails too. */
static void seed_routing_ids(void)
{
    unsigned seed;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = (unsigned)clock_ms(CLOCK_REALTIME) ^ ((unsigned)getpid() << 16);
    srand(seed);
}

/* Messages ZeroMQ queues per connection, each way: what a peer that sends
 * without reading the answers (or a monitor that stopped reading) can make
 * the broker hold, about 4 MB of replies each (100,000 let 12 connections
 * take 570 MB). Enough for a client's window (at most 1,000 in flight), a
 * worker's capacity (at most 10,000; a full queue only delays a DISPATCH
 * to the next pass), and a burst of events for a monitor; a reply dropped on
 * a full queue is asked for again (PROTOCOL.md 8.2). */
#define QUEUE_PER_PEER 10000
/* A monitor's queue: the stream is lossy (PROTOCOL.md 5.20), and 10,000
 * events held for each monitor that stopped reading cost 2.2 MB apiece, 2 GB
 * for a thousand of them. */
#define QUEUE_PER_MONITOR 1000
/* What a monitor sends is subscriptions, topics of at most 65 bytes, and
 * its handshake, whose CURVE commands ZeroMQ holds to the same limit (128
 * bytes failed them): a larger message is dropped with its connection.
 * 128-kB subscriptions cost the XPUB 4 MB each, and the loop seconds to
 * take them in. */
#define MAX_SUBSCRIPTION 1024

/* A socket of type, bound to endpoint. With `watch`, its connections are
 * counted from before it binds, so that none is missed (a monitor that
 * reconnects at once after a restart). Its ipc:// socket file is noted in
 * `file`, to be removed at the stop. */
static void *open_socket(broker_t *self, int type, const char *endpoint, const char *what,
                         peers_t **watch, sockfile_t *file, char *err, size_t errlen)
{
    seed_routing_ids();
    void *s = zmq_socket(self->ctx, type);
    bool pub = type == ZMQ_XPUB;
    /* larger bodies than the protocol's still get TOO_LARGE */
    int64_t maxmsg = pub ? MAX_SUBSCRIPTION : 2 * MSG_MAX_BODY;
    if (!s || set_int(s, ZMQ_LINGER, 2000) ||
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
        set_int(s, ZMQ_SNDHWM, pub ? QUEUE_PER_MONITOR : QUEUE_PER_PEER) ||
        set_int(s, ZMQ_RCVHWM, QUEUE_PER_PEER) ||
        (type == ZMQ_ROUTER && (set_int(s, ZMQ_ROUTER_MANDATORY, 1) ||
                                set_int(s, ZMQ_ROUTER_HANDOVER, 1)))) {
        snprintf(err, errlen, "%s socket: %s", what, zmq_strerror(errno));
        if (s)
            zmq_close(s);
        return NULL;
    }
    if (auth_secure(self->auth, s, endpoint, err, errlen) != 0 ||
        auth_guard_local(self->auth, s, endpoint, type == ZMQ_XPUB, err, errlen) != 0) {
        zmq_close(s);
        return NULL;
    }
    if (watch && !(*watch = peers_new(self->ctx, s, what))) {
        snprintf(err, errlen, "%s socket: cannot watch its connections: %s", what,
                 zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    if (zmq_bind(s, endpoint) != 0) {
        snprintf(err, errlen, "cannot bind the %s endpoint %s: %s", what, endpoint,
                 zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    sockfile_note(file, endpoint);
    return s;
}

/* A ROUTER hands a routing id over to the newest connection that claims it.
 * Where peers are held to keys or Unix users, that would let any of them
 * claim a worker's id (one it set itself, or guessed) and take its
 * DISPATCHes: off then, so the first connection keeps it. */
static int hold_routing_ids(broker_t *self, char *err, size_t errlen)
{
    if (set_int(self->workers, ZMQ_ROUTER_HANDOVER, !auth_holds_peers(self->auth)) == 0)
        return 0;
    snprintf(err, errlen, "workers socket: ZMQ_ROUTER_HANDOVER: %s", zmq_strerror(errno));
    return -1;
}

/* Bind the event stream to ep, which it left a moment ago: the old listener
 * closes asynchronously, and a tcp:// port is "in use" until it has (about
 * one bind in 30 right after the unbind), so try for up to `tries` times
 * 10 ms. */
static int bind_events(broker_t *self, const char *ep, int tries)
{
    int rc = zmq_bind(self->events, ep);
    for (int i = 1; i < tries && rc != 0 && errno == EADDRINUSE; i++) {
        usleep(10000);
        rc = zmq_bind(self->events, ep);
    }
    return rc;
}

/* A key or a Unix user taken off the lists keeps its open connection to the
 * event stream, where it sends nothing that could be refused: unbind the
 * endpoint and bind it again, so that every follower reconnects through ZAP
 * (ZeroMQ does so by itself), where the ones no longer listed stay out. The
 * endpoint bound, not the one written (a tcp:// port of *). A bind that
 * fails for a second is tried again at each housekeeping (retry_events), once
 * and without waiting. 0, or -1 with err. */
static int rebind_events(broker_t *self, char *err, size_t errlen)
{
    int tries = self->events_unbound ? 1 : 100;
    size_t len = sizeof self->events_ep;
    if (!self->events_unbound &&
        (zmq_getsockopt(self->events, ZMQ_LAST_ENDPOINT, self->events_ep, &len) != 0 ||
         zmq_unbind(self->events, self->events_ep) != 0)) {
        snprintf(err, errlen, "the event stream could not be unbound to cut off a removed "
                 "key or user (%s): restart the broker", zmq_strerror(errno));
        return -1;
    }
    peers_reset(self->listeners);
    self->events_unbound = bind_events(self, self->events_ep, tries) != 0;
    if (self->events_unbound) {
        snprintf(err, errlen, "the event stream %s could not be bound again after cutting off "
                 "a removed key or user (%s): no monitor gets events until it is; tried "
                 "again after every pass", self->events_ep, zmq_strerror(errno));
        return -1;
    }
    sockfile_note(&self->files[2], self->events_ep);
    if (sockfile_share(&self->files[2], auth_local_on(self->auth)) != 0) {
        snprintf(err, errlen, "%s: cannot set its mode: %s", self->files[2].path,
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* After a failed rebind_events, until the stream is bound. */
static void retry_events(broker_t *self)
{
    char err[400];
    if (self->events_unbound && rebind_events(self, err, sizeof err) == 0)
        log_say(LOG_NOTICE, "config.events_bound", "the event stream is bound again");
}

/* With [local_users] every local user may connect to the ipc:// sockets,
 * and the broker holds each to its role; without, only the broker's own
 * user (and root) can, as the file's mode says: 0600, whatever the umask
 * the broker was started with (PROTOCOL.md 10). 0, or -1 with err. */
static int share_sockets(broker_t *self, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof self->files / sizeof self->files[0]; i++)
        if (sockfile_share(&self->files[i], auth_local_on(self->auth)) != 0) {
            snprintf(err, errlen, "%s: cannot set its mode: %s",
                     self->files[i].path, strerror(errno));
            return -1;
        }
    return 0;
}

/* Encode msg and send it now to the peer `id` on sock (not transactional). */
static int send_now(broker_t *self, void *sock, const void *id, size_t idlen, const msg_t *msg)
{
    codec_frame_t frames[3];
    codec_error_t cerr;
    if (codec_encode(self->enc, msg, frames, &cerr) != 0) {
        log_say(LOG_ERR, "broker.bug", cerr.reason);
        return -1;
    }
    return outbox_send_now(sock, id, idlen, frames, 3);
}

/* Queue msg for after the commit; `re` marks it as the answer to a request. */
static void send_later(broker_t *self, void *sock, const void *id, size_t idlen,
                       const msg_t *msg, const char *re)
{
    codec_frame_t frames[3];
    codec_error_t cerr;
    if (codec_encode(self->enc, msg, frames, &cerr) != 0)
        log_say(LOG_ERR, "broker.bug", cerr.reason);
    else if (outbox_add(self->outbox, sock, id, idlen, frames, 3, re) != 0)
        log_say(LOG_ERR, "broker.oom", "cannot queue a reply");
}

static void error_msg(msg_t *err, const char *re, msg_err_t code, const char *reason)
{
    msg_reset(err, MSG_ERROR);
    err->code = (uint32_t)code;
    err->reason_text = reason;
    MSG_SET(err, MF_CODE), MSG_SET(err, MF_REASON_TEXT);
    if (re) {
        err->re = re;
        MSG_SET(err, MF_RE);
    }
}

static void send_error(broker_t *self, void *sock, const void *id, size_t idlen,
                       const char *re, msg_err_t code, const char *reason)
{
    msg_t err;
    error_msg(&err, re, code, reason);
    self->stats.refused++;
    send_now(self, sock, id, idlen, &err);
}

/* ---- lifecycle ------------------------------------------------------- */

typedef struct {
    broker_t *self;
    int64_t since;
    size_t loaded, stranded;
} loader_t;

/* A database made from nothing is right at the first start only; at any
 * other, the path is wrong or the database was lost, and every case id
 * starts again at 1: the operator must hear of it. */
static void warn_created(broker_t *self)
{
    if (!store_created(self->store))
        return;
    log_rec_t r;
    log_begin(&r, LOG_WARNING, "store.created");
    log_str(&r, "database", self->cfg->database);
    log_str(&r, "msg", "no database was there: a new, empty one was made");
    log_end(&r);
}

/* An upgrade's migration leaves no other trace: the operator learns that it
 * ran, from which schema, and what it cost the start. */
static void log_migrated(broker_t *self)
{
    int64_t ms;
    int from = store_migrated_from(self->store, &ms);
    if (!from)
        return;
    log_rec_t r;
    log_begin(&r, LOG_NOTICE, "store.migrated");
    log_i64(&r, "from", from);
    log_i64(&r, "to", STORE_SCHEMA_VERSION);
    log_i64(&r, "ms", ms);
    log_end(&r);
}

/* The schema upgrade kept rows whose REFERENCES names a row not there (a
 * case deleted in the sqlite3 shell) rather than refuse to start over rows
 * an older broker ran with: the operator hears of them, with the first few. */
static void warn_orphans(broker_t *self)
{
    const store_orphans_t *o = store_orphans(self->store);
    if (o->count == 0)
        return;
    char first[STORE_ORPHANS_SHOWN * 160] = "";
    size_t len = 0;
    for (uint64_t i = 0; i < o->count && i < STORE_ORPHANS_SHOWN && len < sizeof first; i++) {
        const store_orphan_t *r = &o->first[i];
        int n = snprintf(first + len, sizeof first - len, "%s%s rowid %lld -> %s",
                         i ? ", " : "", r->table, (long long)r->rowid, r->parent);
        len += n > 0 ? (size_t)n : 0;
    }
    log_rec_t r;
    log_begin(&r, LOG_WARNING, "store.orphans");
    log_str(&r, "database", self->cfg->database);
    log_u64(&r, "orphans", o->count);
    log_long(&r, "first", first);       /* five rows pass a plain field's 159 bytes */
    log_str(&r, "msg", "the schema upgrade kept rows that refer to a row no longer there, "
            "as the older broker ran with them: PRAGMA foreign_key_check lists them");
    log_end(&r);
}

/* A long database statement is going on: before READY (the integrity check
 * and migrations of a large database) systemd's start timeout is moved on,
 * after it (a reload's ladder UPDATEs) the watchdog is kicked. A statement
 * that makes progress is not a hang. */
static void store_busy(void *arg, int64_t expect_ms);

/* The watchdog is kicked from the loop, so a stuck loop gets restarted, and
 * from every row of the scans a reload makes (rearm_timers, the new
 * department queues): over a million open cases they outlast WatchdogSec,
 * and a scan that moves on is not stuck. */
static void kick_watchdog(broker_t *self, int64_t now)
{
    if (self->watchdog_ms && now - self->last_watchdog >= self->watchdog_ms) {
        service_watchdog();
        self->last_watchdog = now;
    }
}

static void store_busy(void *arg, int64_t expect_ms)
{
    broker_t *self = arg;
    int64_t now = mono_ms();
    if (self->serving) {
        kick_watchdog(self, now);
    } else if (expect_ms || !self->last_extend || now - self->last_extend >= 5000) {
        service_extend_start(expect_ms > 30000 ? expect_ms : 30000);
        self->last_extend = now;
    }
}

static void load_one(void *arg, const store_assignment_t *a)
{
    loader_t *l = arg;
    int dept = config_dept_find(l->self->cfg, a->department);
    if (dept < 0) {
        l->stranded++;
        return;
    }
    if (fsm_assignment_taken_up(a->state))
        dispatch_orphan(l->self->dispatch, dept, a->id, l->since);
    else
        dispatch_wait(l->self->dispatch, dept, a->id, false);
    l->loaded++;
}

/* A timer hint into the heap. Out of memory it would be lost, and with it
 * that case's next escalation: remember to rebuild them all from the
 * database (rebuild_hints), which is where the ladders really live. */
static void push_hint(broker_t *self, int64_t due, uint64_t case_id, int ladder)
{
    if (timers_push(self->timers, due, case_id, ladder) != 0)
        self->hints_lost = true;
}

/* Move the timer hints apply listed into the heap. */
static void arm_timers(broker_t *self)
{
    apply_t *a = &self->apply;
    size_t keep = 0;
    for (size_t i = 0; i < a->nfx; i++) {
        if (a->fx[i].kind == FX_TIMER)
            push_hint(self, a->fx[i].at, a->fx[i].case_id, a->fx[i].ladder);
        else
            a->fx[keep++] = a->fx[i];
    }
    a->nfx = keep;
}

static void load_case(void *arg, const store_case_t *c)
{
    broker_t *self = arg;
    kick_watchdog(self, mono_ms());
    if (apply_arm(&self->apply, c) != MSG_OK)
        self->hints_lost = true;    /* out of memory: rebuild_hints tries again */
    arm_timers(self);
}

/* Open assignments of departments the config no longer has: at start and
 * at a reload that drops a department, they wait, and the log says so. */
#define STRANDED_ASSIGNMENTS "open assignments of departments no longer configured wait " \
    "until the department is configured again or an admin reassigns them"
#define STRANDED_NOTICES "ESCALATE notices whose department and rung target are no longer " \
    "configured wait until one of them is configured again"

static void warn_stranded(const char *event, const char *field, size_t n, const char *msg)
{
    log_rec_t r;
    log_begin(&r, LOG_WARNING, event);
    log_u64(&r, field, n);
    log_str(&r, "msg", msg);
    log_end(&r);
}

static void warn_notices_held(void)
{
    log_say(LOG_WARNING, "escalation.notices_held",
            "too many unacknowledged ESCALATE notices; new ones wait in the database "
            "until half of these are acknowledged");
}

/* ---- ladders: what the cases' fired-rung counts refer to --------------- */

static void log_ladders_changed(const ladders_t *lad, const config_t *cfg)
{
    for (int l = LADDER_CONTACT; l <= LADDER_RESOLVE; l++) {
        if (!lad->changed[l] || !lad->nsaved[l])
            continue;               /* none saved before: nothing moved */
        log_rec_t r;
        log_begin(&r, LOG_NOTICE, "config.ladder_changed");
        log_str(&r, "ladder", msg_ladder_names[l]);
        log_u64(&r, "rungs_before", (uint64_t)lad->nsaved[l]);
        log_u64(&r, "rungs_after", cfg->nlevels[l]);
        log_u64(&r, "open_cases_moved", (uint64_t)lad->moved[l]);
        log_str(&r, "msg", "open cases go on after the last rung they fired");
        log_end(&r);
    }
}

/* At start: the config's ladders saved, and open cases moved onto them if
 * the file was edited while the broker was down (ladders.h). */
static int load_ladders(broker_t *self, char *err, size_t errlen)
{
    ladders_t lad;
    int changed = ladders_diff(&lad, self->store, self->cfg);
    if (changed > 0 && (store_begin_patient(self->store) ||
                        ladders_save(&lad, self->store, self->cfg) ||
                        store_commit(self->store)))
        changed = -1;
    if (changed < 0) {
        snprintf(err, errlen, "saving the escalation ladders: %s", store_errmsg(self->store));
        store_rollback(self->store);
        return -1;
    }
    log_ladders_changed(&lad, self->cfg);
    return 0;
}

/* After a restore: the ids new rows will start above, so that operators see
 * the restore took (and the gap in the numbers is explained). */
static void log_id_floors(const store_t *store)
{
    int64_t floors[STORE_IDS_COUNT];
    if (!store_id_floors(store, floors))
        return;
    log_rec_t r;
    log_begin(&r, LOG_NOTICE, "broker.ids_after_restore");
    for (int t = 0; t < STORE_IDS_COUNT; t++)
        if (floors[t] > 0)
            log_i64(&r, store_id_tables[t], floors[t]);
    log_end(&r);
}

static int load_open(broker_t *self, char *err, size_t errlen)
{
    loader_t l = {.self = self, .since = mono_ms()};
    int64_t t0 = mono_ms();
    apply_reset(&self->apply, clock_now(&self->clock));
    if (store_open_assignments(self->store, load_one, &l) ||
        store_open_cases(self->store, load_case, self) ||
        notices_reload(self->notices, self->store)) {
        snprintf(err, errlen, "loading open work: %s", store_errmsg(self->store));
        return -1;
    }
    log_rec_t t;
    log_begin(&t, LOG_NOTICE, "broker.timers");
    log_u64(&t, "pending", timers_count(self->timers));
    log_u64(&t, "bytes", timers_bytes(self->timers));
    log_i64(&t, "rebuild_ms", mono_ms() - t0);
    log_end(&t);
    log_rec_t r;
    log_begin(&r, LOG_INFO, "broker.loaded");
    log_u64(&r, "open_assignments", l.loaded);
    log_u64(&r, "unacknowledged_notices", notices_count(self->notices));
    log_end(&r);
    if (notices_held(self->notices))
        warn_notices_held();
    if (l.stranded)
        warn_stranded("broker.stranded", "assignments", l.stranded, STRANDED_ASSIGNMENTS);
    place_notices(self, "broker.notices_stranded");
    log_id_floors(self->store);
    return 0;
}

/* The local date of a unix ms time, as YYYYMMDD (the holiday file's days). */
static int32_t local_day(int64_t now_ms)
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

/* A holiday file that does not list this year's days makes 春节 and 国庆
 * working days for every deadline; one without next year's, installed too
 * late, does the same from 1 January: say so at start, at reload, and on the
 * first pass of each day (a broker runs for months without a reload). */
static void warn_holidays_end(const config_t *cfg, int32_t today)
{
    calendar_cover_t cover = calendar_coverage(&cfg->calendar, today);
    if (cover == CALENDAR_COVERED)
        return;
    int32_t last = calendar_last_day(&cfg->calendar);
    char day[16], msg[240];
    snprintf(day, sizeof day, "%04d-%02d-%02d", last / 10000, last / 100 % 100, last % 100);
    int year = today / 10000 + (cover == CALENDAR_NEXT_YEAR);
    if (cover == CALENDAR_ENDED)
        snprintf(msg, sizeof msg, "the holiday file lists no day of %d: its holidays count as "
                 "working days until a file with them is installed and the broker reloaded",
                 year);
    else
        snprintf(msg, sizeof msg, "the holiday file lists no day of %d: install one with them "
                 "and reload before 1 January, or New Year's Day and the Spring Festival "
                 "count as working days", year);
    log_rec_t r;
    log_begin(&r, LOG_WARNING, cover == CALENDAR_ENDED ? "calendar.holidays_ended"
                                                       : "calendar.holidays_next_year");
    log_str(&r, "last_listed", day);
    log_str(&r, "msg", msg);
    log_end(&r);
}

/* The holiday check, now (always) or once a new day has begun (daily). */
static void check_holidays(broker_t *self, bool always)
{
    int32_t today = local_day(clock_now(&self->clock));
    if (!always && today == self->holidays_day)
        return;
    self->holidays_day = today;
    warn_holidays_end(self->cfg, today);
}

/* The config's warnings (config.h), one record a line, at start and reload:
 * --check-config is not always run first. Whole: what to do comes last. */
static void warn_config(const config_t *cfg)
{
    for (const char *w = cfg->warnings; w && *w;) {
        const char *end = strchr(w, '\n');
        size_t n = end ? (size_t)(end - w) : strlen(w);
        char line[LOG_LONG_SIZE + 1];   /* one byte more: log_long marks a cut */
        snprintf(line, sizeof line, "%.*s", (int)n, w);
        log_say_long(LOG_WARNING, "config.warning", line);
        w += end ? n + 1 : n;
    }
}

/* Plain TCP carries residents' personal data in clear: say so at every start. */
static void warn_plain_tcp(const config_t *cfg)
{
    const char *eps[] = {cfg->intake_endpoint, cfg->worker_endpoint, cfg->events_endpoint};
    for (size_t i = 0; i < 3; i++)
        if (!cfg->server_cert && strncmp(eps[i], "tcp://", 6) == 0) {
            log_rec_t r;
            log_begin(&r, LOG_WARNING, "security.plain_tcp");
            log_str(&r, "endpoint", eps[i]);
            log_str(&r, "msg", "no CURVE on this TCP endpoint (allow_plain_tcp = yes): "
                    "anyone on the network can read cases and act as any client");
            log_end(&r);
        }
}

broker_t *broker_new(config_t *cfg, char *err, size_t errlen)
{
    broker_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        config_destroy(&cfg);
        return NULL;
    }
    self->cfg = cfg;
    self->beat_ms = cfg->heartbeat_ms;
    clock_init(&self->clock, NULL, NULL, NULL);
    self->timers = timers_new();
    store_set_progress(store_busy, self);
    self->store = store_open(cfg->database, err, errlen);
    int refused = !self->store && errno == EUCLEAN;
    self->ctx = zmq_ctx_new();
    self->dec = codec_new();
    self->enc = codec_new();
    self->sessions = sessions_new();
    self->dispatch = dispatch_new(cfg->ndepts);
    self->holdback = holdback_new();
    self->outbox = outbox_new();
    self->notices = notices_new(MAX_NOTICES);
    self->apply.store = self->store;
    self->apply.cfg = cfg;
    if (!self->store || !self->ctx || !self->dec || !self->enc || !self->sessions ||
        !self->dispatch || !self->holdback || !self->outbox || !self->timers || !self->notices) {
        if (self->store)
            snprintf(err, errlen, "out of memory");
        broker_destroy(&self);
        errno = refused ? EUCLEAN : ENOMEM;
        return NULL;
    }
    if (!(self->rates = ratelimit_new(4096)) ||
        !(self->auth = auth_new(self->ctx, cfg, err, errlen))) {
        broker_destroy(&self);
        return NULL;
    }
    warn_plain_tcp(cfg);
    warn_config(cfg);
    warn_created(self);
    log_migrated(self);
    warn_orphans(self);
    check_holidays(self, true);
    if (!(self->intake = open_socket(self, ZMQ_ROUTER, cfg->intake_endpoint, "intake", NULL,
                                     &self->files[0], err, errlen)) ||
        !(self->workers = open_socket(self, ZMQ_ROUTER, cfg->worker_endpoint, "workers", NULL,
                                      &self->files[1], err, errlen)) ||
        !(self->events = open_socket(self, ZMQ_XPUB, cfg->events_endpoint, "events",
                                     &self->listeners, &self->files[2], err, errlen)) ||
        share_sockets(self, err, errlen) || hold_routing_ids(self, err, errlen) ||
        load_ladders(self, err, errlen) || load_open(self, err, errlen)) {
        broker_destroy(&self);
        return NULL;
    }
    return self;
}

/* The stop's checkpoint copies the whole WAL into the database file:
 * systemd's stop timeout is moved on first, lest SIGKILL cut a large one
 * short (the next start then replays it, many times slower). When it cannot
 * finish, it says so in a record of its own: broker.stopped says the last
 * transaction was committed, which holds either way, as nothing in the WAL
 * is lost. */
static void final_checkpoint(store_t *store)
{
    service_extend_stop(store_checkpoint_expect_ms(store));
    if (store_checkpoint(store) == 0)
        return;
    char why[160];
    snprintf(why, sizeof why, "%s; the next start replays the WAL",
             store_locked(store) ? "a reader (minqing backup?) holds the database"
                                 : store_errmsg(store));
    log_rec_t r;
    log_begin(&r, LOG_WARNING, "store.checkpoint_incomplete");
    log_i64(&r, "wal_bytes", store_wal_bytes(store));
    log_str(&r, "msg", why);
    log_end(&r);
}

void broker_destroy(broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_t *self = *self_p;
    for (size_t i = 0; i < sizeof self->files / sizeof self->files[0]; i++)
        sockfile_remove(&self->files[i]);   /* while the database lock keeps others out */
    if (self->store) {
        if (self->txn && store_commit(self->store) == 0)
            outbox_flush(self->outbox);
        else if (self->txn)
            store_rollback(self->store);
        final_checkpoint(self->store);
        store_close(&self->store);
    }
    store_set_progress(NULL, NULL);         /* it pointed at this broker */
    ratelimit_destroy(&self->rates);
    if (self->intake) zmq_close(self->intake);
    if (self->workers) zmq_close(self->workers);
    if (self->events) zmq_close(self->events);
    peers_destroy(&self->listeners);
    /* the ZAP handler last: a handshake still under way on a socket above
     * may have sent it a request, which then stays in its pipe for the
     * context to free, rather than go to a handler already gone */
    auth_destroy(&self->auth);
    if (self->ctx) zmq_ctx_term(self->ctx);
    codec_destroy(&self->dec);
    codec_destroy(&self->enc);
    sessions_destroy(&self->sessions);
    dispatch_destroy(&self->dispatch);
    holdback_destroy(&self->holdback);
    outbox_destroy(&self->outbox);
    apply_free(&self->apply);
    timers_destroy(&self->timers);
    free(self->popped);
    free(self->marked);
    notices_destroy(&self->notices);
    config_destroy(&self->cfg);
    free(self);
    *self_p = NULL;
}

void broker_stop(broker_t *self)
{
    self->stop = 1;
}

void broker_reload(broker_t *self)
{
    self->reload = 1;
}

/* ---- receiving ------------------------------------------------------- */

static void close_msg(inmsg_t *in);

/* Read one multipart message without blocking: 1 read, 0 nothing, -1 error. */
static int recv_msg(void *sock, inmsg_t *in)
{
    in->n = 0;
    in->too_many = false;
    for (;;) {
        zmq_msg_t scratch, *m = in->n < MAX_FRAMES ? &in->part[in->n] : &scratch;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sock, in->n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(m);
            if (in->n > 0 && errno == EINTR)
                continue;           /* the rest of the message is already queued */
            close_msg(in);
            in->n = 0;
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        }
        bool more = zmq_msg_more(m);
        if (m == &scratch) {
            in->too_many = true;
            zmq_msg_close(m);
        } else {
            in->n++;
        }
        if (!more)
            return 1;
    }
}

static void close_msg(inmsg_t *in)
{
    for (size_t i = 0; i < in->n; i++)
        zmq_msg_close(&in->part[i]);
}

/* Commands no peer answers with an ERROR of its body (PROTOCOL.md 2.3), so
 * that two peers cannot loop on errors. */
static bool never_answered(msg_cmd_t cmd)
{
    return cmd == MSG_ACK || cmd == MSG_ERROR || cmd == MSG_HEARTBEAT ||
           cmd == MSG_DISCONNECT || cmd == MSG_SUBMIT_OK;
}

/* A malformed ACK, ERROR, HEARTBEAT, DISCONNECT or SUBMIT_OK: logged, not
 * answered. The reason names fields, never their text (PROTOCOL.md 5.18). */
static void drop_unanswerable(broker_t *self, const msg_t *msg, const codec_error_t *cerr)
{
    self->stats.refused++;
    log_rec_t r;
    log_begin_limited(&r, LOG_WARNING, "msg.dropped");
    log_str(&r, "command", msg_cmd_name(msg->cmd));
    log_u64(&r, "code", cerr->code);
    log_text(&r, "reason", cerr->reason);
    log_end(&r);
}

/* Decode the protocol frames (after the routing id). 0 ok, else an ERROR was
 * sent, or the message dropped unanswered. */
static int decode(broker_t *self, void *sock, inmsg_t *in, msg_t *msg)
{
    codec_frame_t frames[MAX_FRAMES];
    codec_error_t cerr;
    size_t n = in->n - 1;
    for (size_t i = 0; i < n; i++)
        frames[i] = (codec_frame_t){zmq_msg_data(&in->part[i + 1]), zmq_msg_size(&in->part[i + 1])};
    if (in->too_many)
        n = MAX_FRAMES + 1;         /* the codec refuses any count but 3 */
    if (codec_decode(self->dec, frames, n < MAX_FRAMES ? n : MAX_FRAMES, msg, &cerr) == 0)
        return 0;
    if (in->too_many && cerr.code == ERR_MALFORMED)    /* a version error says more */
        snprintf(cerr.reason, sizeof cerr.reason, "more than 3 frames");
    if (never_answered(msg->cmd)) {
        drop_unanswerable(self, msg, &cerr);
        return -1;
    }
    send_error(self, sock, zmq_msg_data(&in->part[0]), zmq_msg_size(&in->part[0]), msg->msg_id,
               cerr.code, cerr.reason);
    return -1;
}

/* ---- intake ---------------------------------------------------------- */

/* The pass's writes were rolled back: drop what it would have done after the
 * commit, and look at the timers it consumed again in a second. */
static void forget_pass(broker_t *self)
{
    self->apply.nfx = self->apply.npubs = self->apply.nfired = 0;
    int64_t retry = clock_now(&self->clock) + 1000;
    for (size_t i = 0; i < self->npopped; i++)
        push_hint(self, retry, timers_case(&self->popped[i]), timers_ladder(&self->popped[i]));
    self->npopped = 0;
    for (size_t i = 0; i < self->nmarked; i++)
        dispatch_unmark_accepted(self->dispatch, self->marked[i]);
    self->nmarked = 0;
    if (self->acked_in_pass)
        notices_hold(self->notices);    /* their ACKs were not recorded */
    self->acked_in_pass = false;
}

/* A store write failed: the transaction is spoiled. Roll it back; every reply
 * of this pass becomes an ERROR, and the timers it consumed are re-armed. */
static void abandon_pass(broker_t *self, msg_err_t rc, const char *why)
{
    log_say(LOG_ERR, "store.failed", why);
    store_rollback(self->store);
    self->txn = false;
    outbox_fail(self->outbox, self->enc, rc, rc == ERR_STORE_FULL
                ? "the broker's disk is full; retry later"
                : "the broker could not store this; retry later");
    forget_pass(self);
    holdback_failed(self->holdback, mono_ms());
}

static void reply_applied(broker_t *self, void *sock, const zmq_msg_t *id, const msg_t *in,
                          const msg_t *reply, msg_err_t rc)
{
    if (rc == MSG_OK) {
        send_later(self, sock, zmq_msg_data((zmq_msg_t *)id), zmq_msg_size((zmq_msg_t *)id),
                   reply, in->msg_id);
        return;
    }
    if (rc == ERR_STORE_FAILED || rc == ERR_STORE_FULL) {
        abandon_pass(self, rc, self->apply.why);
        send_error(self, sock, zmq_msg_data((zmq_msg_t *)id), zmq_msg_size((zmq_msg_t *)id),
                   in->msg_id, rc, "not stored; retry later with the same msg_id");
        return;
    }
    /* A refusal that went by this pass's state (203: the case was cancelled
     * a moment ago) leaves after the commit, as an answer does: should the
     * commit fail, it becomes a 5xx and is asked again, where a 203 sent at
     * once would have made the worker drop a result for good. */
    msg_t err;
    error_msg(&err, in->msg_id, rc, self->apply.why);
    self->stats.refused++;
    send_later(self, sock, zmq_msg_data((zmq_msg_t *)id), zmq_msg_size((zmq_msg_t *)id), &err,
               in->msg_id);
}

/* The answer to a request when no transaction could begin: 501 when the
 * disk is full, as for a failed statement, so that the operator's clients
 * say what to fix. */
static void refuse_unstored(broker_t *self, void *sock, const zmq_msg_t *id, const char *re)
{
    msg_err_t rc = store_errcode(self->store);
    send_error(self, sock, zmq_msg_data((zmq_msg_t *)id), zmq_msg_size((zmq_msg_t *)id), re, rc,
               rc == ERR_STORE_FULL ? "the broker's disk is full; retry later"
                                    : "the store is unavailable; retry later");
}

/* A transaction must be open before anything is applied. */
static bool ensure_txn(broker_t *self)
{
    if (self->txn)
        return true;
    bool ok = store_begin(self->store) == 0;
    if (ok != !self->store_down) {      /* log the change, not every failed attempt */
        log_say(ok ? LOG_NOTICE : LOG_ERR, ok ? "store.recovered" : "store.unavailable",
                ok ? "the database takes writes again" : store_errmsg(self->store));
        self->store_down = !ok;
    }
    self->txn = ok;
    return ok;
}

/* The peer's user id from ZAP: its CURVE key, or on ipc:// its Unix user
 * ("unix:UID"); NULL without (inproc://, plain tcp://). Every ipc:// and
 * CURVE socket asks ZAP, whose answer replaces a User-Id the peer announced. */
static const char *peer_key(inmsg_t *in)
{
    /* the ZAP user id travels as metadata on every frame the peer sent */
    const char *key = in->n > 1 ? zmq_msg_gets(&in->part[1], "User-Id") : NULL;
    return key && *key ? key : NULL;
}

/* The role the peer's key gives it (AUTH_LOCAL on ipc:// without [local_users]). */
static auth_role_t peer_role(broker_t *self, inmsg_t *in, const char **dept)
{
    return auth_role(self->auth, peer_key(in), dept);
}

/* Refuse a message the peer's key does not allow, and log it as a security event. */
static void forbid(broker_t *self, void *sock, inmsg_t *in, const msg_t *msg, const char *why)
{
    const char *key = peer_key(in);
    log_rec_t r;
    log_begin_limited(&r, LOG_WARNING, "security.refused");
    log_str(&r, "command", msg_cmd_name(msg->cmd));
    if (key)
        log_str(&r, "peer", key);       /* a public key, or unix:UID */
    log_str(&r, "msg", why);
    log_end(&r);
    send_error(self, sock, zmq_msg_data(&in->part[0]), zmq_msg_size(&in->part[0]), msg->msg_id,
               ERR_FORBIDDEN, why);
}

/* Whether the peer is held to its Unix user's role ([local_users]) rather
 * than to a key: the refusals say which of the two to fix. */
static bool by_user(inmsg_t *in)
{
    return auth_is_user(peer_key(in));
}

/* What an intake peer's role allows: intake clients submit and rate; admins
 * (and local peers) may also close, reassign, cancel and import. */
static const char *intake_forbidden(auth_role_t role, msg_cmd_t cmd, bool user)
{
    if (role == AUTH_LOCAL || role == AUTH_ADMIN)
        return NULL;
    if (role == AUTH_INTAKE)
        return cmd == MSG_SUBMIT || cmd == MSG_FEEDBACK ? NULL
               : user ? "this command needs a Unix user that [local_users] makes admin"
                      : "this command needs an admin key";
    if (role == AUTH_REVOKED)
        return user ? "this Unix user is not in [local_users]" : "this key is no longer allowed";
    return user ? "a worker's Unix user cannot use intake ([local_users])"
                : "a worker key cannot use intake";
}

static void on_intake(broker_t *self, inmsg_t *in)
{
    msg_t msg, reply;
    const zmq_msg_t *id = &in->part[0];
    /* the rate counts every message, well formed or not: it is what floods
     * look like; per key, so that more connections buy no more */
    const char *key = peer_key(in);
    if (auth_by_connection(self->auth, key))
        key = NULL;
    bool allowed = key ? ratelimit_allow(self->rates, key, strlen(key), mono_ms(),
                                         self->cfg->intake_rate)
                       : ratelimit_allow(self->rates, zmq_msg_data((zmq_msg_t *)id),
                                         zmq_msg_size((zmq_msg_t *)id), mono_ms(),
                                         self->cfg->intake_rate);
    if (!allowed) {
        send_error(self, self->intake, zmq_msg_data((zmq_msg_t *)id), zmq_msg_size((zmq_msg_t *)id),
                   NULL, ERR_RATE_LIMITED, "over this client's rate (intake_rate); "
                   "retry later with the same msg_id");
        return;
    }
    if (in->n < 2 || decode(self, self->intake, in, &msg))
        return;
    const char *dept, *no = intake_forbidden(peer_role(self, in, &dept), msg.cmd, by_user(in));
    if (no) {
        forbid(self, self->intake, in, &msg, no);
        return;
    }
    if (msg.cmd != MSG_SUBMIT && msg.cmd != MSG_FEEDBACK && msg.cmd != MSG_CLOSE &&
        msg.cmd != MSG_REASSIGN && msg.cmd != MSG_CANCEL && msg.cmd != MSG_IMPORT) {
        send_error(self, self->intake, zmq_msg_data((zmq_msg_t *)id), zmq_msg_size((zmq_msg_t *)id),
                   msg.msg_id, ERR_UNKNOWN_COMMAND, "not an intake command on this endpoint");
        return;
    }
    if (!ensure_txn(self)) {
        refuse_unstored(self, self->intake, id, msg.msg_id);
        return;
    }
    msg_err_t rc;
    if (msg.cmd == MSG_SUBMIT) {
        rc = apply_submit(&self->apply, &msg, &reply);
        self->stats.submitted += rc == MSG_OK;
    } else if (msg.cmd == MSG_IMPORT) {
        rc = apply_import(&self->apply, &msg, &reply);
    } else {
        /* the key that did it, in the audit trail: one stolen gateway key
         * reopening cases county-wide must be told from the others */
        const char *scope = msg.cmd == MSG_FEEDBACK ? "intake" : "admin";
        const char *name = auth_name(self->auth, peer_key(in));
        char actor[48];
        snprintf(actor, sizeof actor, "%s%s%s", scope, name ? ":" : "", name ? name : "");
        rc = apply_case_command(&self->apply, scope, actor, &msg, &reply);
    }
    reply_applied(self, self->intake, id, &msg, &reply, rc);
}

/* ---- workers --------------------------------------------------------- */

static void send_to_session(broker_t *self, session_t *s, const msg_t *msg)
{
    if (send_now(self, self->workers, s->id, s->idlen, msg) == 0)
        s->last_send = mono_ms();
}

static void session_gone(broker_t *self, session_t *s, const char *why)
{
    /* accepted work goes to a worker registered after this one last spoke:
     * a restarted adapter usually registers before the old session expires */
    size_t moved = dispatch_release(self->dispatch, s, s->last_recv);
    log_rec_t r;
    /* a session that held nothing and lived a few heartbeats (a peer that
     * connects and vanishes in a loop) is logged within the flood limit */
    if (moved == 0 && s->last_recv - s->registered_at < 3 * s->heartbeat_ms)
        log_begin_limited(&r, LOG_WARNING, "worker.lost");
    else
        log_begin(&r, LOG_WARNING, "worker.lost");
    log_str(&r, "worker", s->name);
    log_str(&r, "department", s->dept >= 0 ? self->cfg->depts[s->dept].id : "-");
    log_str(&r, "reason", why);
    log_u64(&r, "requeued", moved);
    log_end(&r);
    sessions_remove(self->sessions, s);
}

/* "water:adapter-1#7": the department, the worker's own label cut to safe
 * ASCII (it lands in logs and in events, whose actor is at most 64 chars),
 * and a serial that tells two sessions of one adapter apart. */
static void name_session(session_t *s, const char *dept, const char *label)
{
    static unsigned serial;
    char safe[17];              /* 32 (dept) + 1 + 16 + 1 + 10 (serial) <= 64 */
    size_t i = 0;
    for (; label[i] && i + 1 < sizeof safe; i++) {
        char ch = label[i];
        safe[i] = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ? ch : '_';
    }
    safe[i] = '\0';
    snprintf(s->name, sizeof s->name, "%s:%s#%u", dept, safe, ++serial);
}

static void on_register(broker_t *self, session_t *s, const zmq_msg_t *id, const msg_t *msg,
                        const char *key)
{
    const void *idd = zmq_msg_data((zmq_msg_t *)id);
    size_t idlen = zmq_msg_size((zmq_msg_t *)id);
    /* A routing id the peer chose (ZeroMQ's own start with a zero byte) can
     * be claimed by any other key that connects: the ROUTER hands it over,
     * and the DISPATCHes, with residents' names and phones, would go to that
     * connection until this session timed out. Held to a key or a Unix
     * user ([local_users]), it is refused (and the workers socket hands no
     * routing id over then: hold_routing_ids). */
    if (!auth_by_connection(self->auth, key) && idlen > 0 && ((const unsigned char *)idd)[0] != 0) {
        send_error(self, self->workers, idd, idlen, msg->msg_id, ERR_FORBIDDEN,
                   "a worker held to a key or to its Unix user ([local_users]) must not set "
                   "its own routing id (ZMQ_ROUTING_ID): another could take it over "
                   "(PROTOCOL.md 2.2)");
        return;
    }
    /* after the rights, as PROTOCOL.md 3.5 orders them: a refused peer does
     * not learn which departments exist */
    int dept = config_dept_find(self->cfg, msg->department);
    if (dept < 0) {
        send_error(self, self->workers, idd, idlen, msg->msg_id, ERR_UNKNOWN_DEPARTMENT,
                   "no such department in the broker's config");
        return;
    }
    int64_t now = mono_ms();
    bool again = s != NULL;
    if (s && s->dept != dept) {         /* same peer, new department: start over */
        dispatch_release(self->dispatch, s, now);
        stall_forget(s);                /* it holds nothing: its report ends unsaid */
    }
    if (!s && !(s = sessions_add(self->sessions, idd, idlen))) {
        send_error(self, self->workers, idd, idlen, msg->msg_id, ERR_STORE_FAILED,
                   "out of memory for a new session; register again later");
        return;
    }
    s->dept = dept;
    s->capacity = msg->capacity;
    s->registered_at = now;
    s->last_recv = now;
    s->heartbeat_ms = self->cfg->heartbeat_ms;
    snprintf(s->key, sizeof s->key, "%s", key ? key : "");
    name_session(s, self->cfg->depts[dept].id, MSG_HAS(msg, MF_WORKER) ? msg->worker : "worker");
    msg_t ack;
    msg_reset(&ack, MSG_ACK);
    ack.re = msg->msg_id;
    ack.heartbeat_ms = (uint32_t)self->cfg->heartbeat_ms;
    MSG_SET(&ack, MF_RE), MSG_SET(&ack, MF_HEARTBEAT_MS);
    send_to_session(self, s, &ack);
    log_rec_t r;
    if (again)                          /* a REGISTER loop on one connection */
        log_begin_limited(&r, LOG_INFO, "worker.registered");
    else
        log_begin(&r, LOG_INFO, "worker.registered");
    log_str(&r, "worker", s->name);
    log_str(&r, "department", self->cfg->depts[dept].id);
    log_u64(&r, "capacity", s->capacity);
    log_end(&r);
}

/* Marked now, not after the commit: a DISCONNECT later in this pass must
 * orphan it, not hand it to a colleague who never saw it. Should the commit
 * fail, forget_pass takes the mark back. Out of memory to remember it, the
 * mark waits for the commit (FX_ACCEPTED). */
static void mark_taken_up(broker_t *self, uint64_t asg)
{
    if (self->nmarked == self->capmarked) {
        size_t cap = self->capmarked ? self->capmarked * 2 : 64;
        uint64_t *v = realloc(self->marked, cap * sizeof *v);
        if (!v)
            return;
        self->marked = v, self->capmarked = cap;
    }
    if (dispatch_mark_accepted(self->dispatch, asg))
        self->marked[self->nmarked++] = asg;
}

static void on_outcome(broker_t *self, session_t *s, const zmq_msg_t *id, const msg_t *msg)
{
    msg_t reply;
    int64_t now = mono_ms();
    if (!holdback_admit(self->holdback, msg->assignment_id, msg->msg_id, now)) {
        send_error(self, self->workers, zmq_msg_data((zmq_msg_t *)id),
                   zmq_msg_size((zmq_msg_t *)id), msg->msg_id, ERR_STORE_FAILED,
                   "an earlier outcome of this assignment was not stored: it goes first; "
                   "retry later");
        return;
    }
    if (!ensure_txn(self)) {
        holdback_hold(self->holdback, msg->assignment_id, msg->msg_id, now);
        refuse_unstored(self, self->workers, id, msg->msg_id);
        return;
    }
    msg_err_t rc = apply_outcome(&self->apply, s->dept, s->name, msg, &reply);
    /* an answer that waits for the commit (applied, or a refusal that went
     * by this pass's state) becomes a 5xx if the commit fails: held then */
    if (rc != ERR_STORE_FAILED && rc != ERR_STORE_FULL && !self->apply.replayed)
        holdback_note(self->holdback, msg->assignment_id, msg->msg_id);
    /* A worker that takes up an assignment holds it, even if the broker had
     * given up on it (a slow worker's late ACCEPT): bind it here so that the
     * queued copy is not handed to a second worker. */
    if (rc == MSG_OK && !self->apply.replayed && msg->cmd != MSG_RESOLVED &&
        msg->cmd != MSG_RETURNED && dispatch_holder(self->dispatch, msg->assignment_id) != s)
        dispatch_bind(self->dispatch, msg->assignment_id, s, now);
    if (rc == MSG_OK && !self->apply.replayed && fsm_assignment_taken_up(reply.state))
        mark_taken_up(self, msg->assignment_id);
    if (rc == ERR_NOT_YOUR_ASSIGNMENT) {
        log_rec_t r;
        log_begin_limited(&r, LOG_WARNING, "security.foreign_assignment");
        log_str(&r, "worker", s->name);
        log_str(&r, "msg", self->apply.why);
        log_end(&r);
    }
    reply_applied(self, self->workers, id, msg, &reply, rc);
    if (rc == ERR_STORE_FAILED || rc == ERR_STORE_FULL)     /* after the pass's own */
        holdback_hold(self->holdback, msg->assignment_id, msg->msg_id, now);
}

static void on_worker(broker_t *self, inmsg_t *in)
{
    msg_t msg;
    const zmq_msg_t *id = &in->part[0];
    const void *idd = zmq_msg_data((zmq_msg_t *)id);
    size_t idlen = zmq_msg_size((zmq_msg_t *)id);
    session_t *s = sessions_find(self->sessions, idd, idlen);
    const char *key = peer_key(in);
    if (s && in->n > 1 && strcmp(s->key, key ? key : "") != 0) {
        /* another key or Unix user took over the routing id
         * (ZMQ_ROUTER_HANDOVER): it is not the worker that registered, and
         * gets none of its work */
        session_gone(self, s, "another key or Unix user took over its routing id");
        s = NULL;
    }
    if (s)
        s->last_recv = mono_ms();
    if (in->n < 2 || decode(self, self->workers, in, &msg))
        return;
    const char *key_dept;
    auth_role_t role = peer_role(self, in, &key_dept);
    bool user = by_user(in);
    if (role != AUTH_LOCAL && role != AUTH_WORKER) {
        if (s)
            session_gone(self, s, user ? "its Unix user is no longer allowed ([local_users])"
                                       : "its key is no longer allowed");
        forbid(self, self->workers, in, &msg, role == AUTH_REVOKED
               ? (user ? "this Unix user is not in [local_users]" : "this key is no longer allowed")
               : (user ? "this Unix user is not a worker in [local_users]" : "not a worker key"));
        return;
    }
    if (msg.cmd == MSG_REGISTER && role == AUTH_WORKER && strcmp(key_dept, msg.department) != 0) {
        forbid(self, self->workers, in, &msg, user
               ? "this Unix user works for another department in [local_users]"
               : "this key belongs to another department");
        return;
    }
    if (msg.cmd == MSG_REGISTER) {
        on_register(self, s, id, &msg, key);
        return;
    }
    if (!s) {
        /* a broker restart forgets every session: tell the peer to register */
        if (msg.cmd == MSG_HEARTBEAT) {
            msg_t bye;
            msg_reset(&bye, MSG_DISCONNECT);
            bye.reason_text = "unknown worker: register again";
            MSG_SET(&bye, MF_REASON_TEXT);
            send_now(self, self->workers, idd, idlen, &bye);
        } else if (msg.cmd != MSG_DISCONNECT) {
            send_error(self, self->workers, idd, idlen, msg.msg_id, ERR_NOT_REGISTERED,
                       "register first");
        }
        return;
    }
    switch (msg.cmd) {
    case MSG_HEARTBEAT:
        break;
    case MSG_ACK:
        notice_acked(self, s, msg.re);
        break;
    case MSG_ERROR: {
        log_rec_t r;
        log_begin_limited(&r, LOG_WARNING, "worker.error");
        log_str(&r, "worker", s->name);
        log_u64(&r, "code", msg.code);
        log_text(&r, "reason", msg.reason_text);
        log_end(&r);
        break;
    }
    case MSG_DISCONNECT:
        session_gone(self, s, "disconnected");
        break;
    case MSG_ACCEPT: case MSG_CONTACTED: case MSG_PROGRESS: case MSG_RESOLVED: case MSG_RETURNED:
        on_outcome(self, s, id, &msg);
        break;
    default:
        send_error(self, self->workers, idd, idlen, msg.msg_id, ERR_UNKNOWN_COMMAND,
                   "not a worker command on this endpoint");
    }
}

/* ---- housekeeping: liveness and heartbeats --------------------------- */

/* Memory freed but kept by glibc goes back to the system once a minute.
 * While the loop stalls (the host busy elsewhere), ZeroMQ's I/O thread
 * queues what arrives in an arena of its own; freed later, it stayed in the
 * process: a broker stopped for 1, 2 and 3 s under load kept 1 MB more RSS
 * for good, which malloc_trim gave back. */
#define TRIM_EVERY_MS 60000

static void give_back_memory(broker_t *self, int64_t now)
{
    if (now - self->last_trim < TRIM_EVERY_MS)
        return;
    self->last_trim = now;
    malloc_trim(0);
}

/* End the silent sessions and send the others their heartbeats; the
 * shortest heartbeat in force, the config's or a live session's. Each
 * session keeps the interval it registered with until it registers again,
 * and its worker gives the broker up after 3 of them without a word: after
 * a reload that raises heartbeat, the broker must go on beating at the old
 * pace for them, so housekeeping runs at a quarter of this shortest one. */
static int64_t beat_sessions(broker_t *self, int64_t now)
{
    int64_t shortest = self->cfg->heartbeat_ms;
    msg_t beat;
    msg_reset(&beat, MSG_HEARTBEAT);
    for (size_t i = 0; i < sessions_count(self->sessions);) {
        session_t *s = sessions_at(self->sessions, i);
        int64_t hb = s->heartbeat_ms;
        if (now - s->last_recv > hb * self->cfg->liveness) {
            session_gone(self, s, "silent past the liveness window");
            continue;               /* removal moved another session into slot i */
        }
        if (now - s->last_send >= hb)
            send_to_session(self, s, &beat);
        if (hb < shortest)
            shortest = hb;
        i++;
    }
    return shortest;
}

/* The case and assignment a late worker's oldest unaccepted case is, for
 * `minqing show` (the case id from the store; "-" if that read fails). */
static void log_oldest(broker_t *self, log_rec_t *r, const session_t *s, int64_t now)
{
    store_assignment_t a;
    if (store_assignment_get(self->store, s->oldest_asg, &a) == 1)
        log_u64(r, "case_id", a.case_id);
    else
        log_str(r, "case_id", "-");
    log_u64(r, "assignment_id", s->oldest_asg);
    log_i64(r, "oldest_s", stall_oldest(s, now) / 1000);
}

/* Tell the operator of workers that hold cases they do not take up, and
 * when they no longer do (stall.h). Once a second: a pass over the
 * bindings, against a limit of minutes; not at all when it is off. A
 * reload that changes the limit starts every report over, silently:
 * nothing a worker did ended it. */
static void check_stalls(broker_t *self, int64_t now)
{
    int64_t within = self->cfg->accept_within_ms;
    if (now - self->last_census < 1000)
        return;
    self->last_census = now;
    bool changed = within != self->census_within;
    self->census_within = within;
    if (within > 0)
        dispatch_census(self->dispatch, self->sessions);
    for (size_t i = 0; i < sessions_count(self->sessions); i++) {
        session_t *s = sessions_at(self->sessions, i);
        if (changed)
            stall_forget(s);
        if (within <= 0)
            continue;
        stall_change_t change = stall_update(s, now, within);
        if (change == STALL_SAME)
            continue;
        log_rec_t r;
        log_begin(&r, change == STALL_BEGAN ? LOG_WARNING : LOG_NOTICE,
                  change == STALL_BEGAN ? "worker.unaccepted" : "worker.caught_up");
        log_str(&r, "worker", s->name);
        log_str(&r, "department", self->cfg->depts[s->dept].id);
        log_u64(&r, "unaccepted", s->unaccepted);
        if (change == STALL_BEGAN) {
            log_oldest(self, &r, s, now);
            log_str(&r, "msg", "holds cases it has not accepted: stuck (restart it, they go "
                    "to the next worker) or more queued than it handles");
        }
        log_end(&r);
    }
}

static void housekeeping(broker_t *self, int64_t now)
{
    if (now - self->last_housekeeping < self->beat_ms / 4)
        return;
    self->last_housekeeping = now;
    check_holidays(self, false);
    give_back_memory(self, now);
    log_flush_limited(false);
    char why[160];
    if (store_checkpoint_error(self->store, why, sizeof why))
        log_say(LOG_ERR, "store.checkpoint_failed", why);
    self->beat_ms = beat_sessions(self, now);
    retry_events(self);
}

/* ---- after the commit ------------------------------------------------ */

static void apply_effects(broker_t *self)
{
    for (size_t i = 0; i < self->apply.nfx; i++) {
        fx_t *fx = &self->apply.fx[i];
        switch (fx->kind) {
        case FX_WAIT: dispatch_wait(self->dispatch, fx->dept, fx->asg, false); break;
        case FX_RELEASE: dispatch_unbind(self->dispatch, fx->asg); break;
        case FX_ACCEPTED: dispatch_mark_accepted(self->dispatch, fx->asg); break;
        case FX_TIMER: push_hint(self, fx->at, fx->case_id, fx->ladder); break;
        }
    }
}

/* The fields an escalation carries on the event stream and in ESCALATE. */
static void escalation_fields(broker_t *self, const fired_t *f, msg_t *m)
{
    m->level = (uint32_t)f->level, m->ladder = f->ladder, m->target = f->target;
    m->grid_code = f->grid, m->overdue_s = f->overdue_s;
    m->community = config_community_name(self->cfg, f->community);
    m->street = config_street_name(self->cfg, f->street);
    int bits[] = {MF_LEVEL, MF_LADDER, MF_TARGET, MF_GRID_CODE, MF_COMMUNITY, MF_STREET,
                  MF_OVERDUE_S};
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
        MSG_SET(m, bits[i]);
}

/* A notice the list cannot hold waits in the database: said when the list
 * starts holding back, not for every notice after. */
static void queue_notice(broker_t *self, const fired_t *f)
{
    bool was_held = notices_held(self->notices);
    if (!notices_add(self->notices, f) && !was_held)
        warn_notices_held();
}

/* An escalation's one log line, and its notice to the target's worker. */
static void announce_fired(broker_t *self, const fired_t *f)
{
    log_rec_t r;
    log_begin(&r, escalation_priority(self->cfg, f->ladder, f->level), "escalated");
    log_msgid(&r, ESCALATION_MESSAGE_ID);
    log_u64(&r, "case_id", f->case_id);
    log_str(&r, "department", f->lead);
    log_str(&r, "grid", f->grid);
    log_str(&r, "community", config_community_name(self->cfg, f->community));
    log_str(&r, "street", config_street_name(self->cfg, f->street));
    log_i64(&r, "level", f->level);
    log_str(&r, "ladder", msg_ladder_names[f->ladder]);
    log_str(&r, "target", f->target);
    log_i64(&r, "overdue_s", f->overdue_s);
    log_end(&r);
    if (f->target_dept[0])
        queue_notice(self, f);
}

/* The k-th live worker of dept, round robin: a resend goes to another worker
 * than the one that did not answer. Notices do not use credit. */
static session_t *notice_worker(broker_t *self, int dept, unsigned k)
{
    size_t n = sessions_of_dept(self->sessions, dept), seen = 0;
    if (!n)
        return NULL;
    k %= (unsigned)n;
    for (size_t i = 0; i < sessions_count(self->sessions); i++) {
        session_t *s = sessions_at(self->sessions, i);
        if (s->dept == dept && seen++ == k)
            return s;
    }
    return NULL;
}

/* After a reload or a start: notices of a department gone to the one
 * [targets] now names for their rung's target (recorded at once, so that a
 * restart sends them there too; should the database fail, a restart does it
 * again), and how many no department can take, said. */
static void place_notices(broker_t *self, const char *event)
{
    if (notices_retarget(self->notices, self->store, self->cfg) < 0)
        log_say(LOG_ERR, "escalation.retarget_failed", store_errmsg(self->store));
    size_t n = notices_stranded(self->notices, self->cfg);
    if (n)
        warn_stranded(event, "notices", n, STRANDED_NOTICES);
}

/* Notices were held back: once half the list is acknowledged, load the
 * unacknowledged ones from the database again (notices_reload). */
static void reload_notices(broker_t *self)
{
    if (notices_reload(self->notices, self->store) != 0) {
        log_say(LOG_ERR, "escalation.reload", store_errmsg(self->store));
        return;
    }
    log_rec_t r;
    log_begin(&r, LOG_NOTICE, "escalation.notices_reloaded");
    log_u64(&r, "unacknowledged_notices", notices_count(self->notices));
    log_end(&r);
    if (notices_held(self->notices))
        warn_notices_held();
    place_notices(self, "broker.notices_stranded");    /* held back over a reload */
}

/* Send the notices that are new or unacknowledged for too long to a live
 * worker of their target's department; those with none wait for one. */
static void send_notices(broker_t *self, int64_t now)
{
    size_t pos = 0;
    notice_t *n;
    while ((n = notices_next_due(self->notices, &pos, now))) {
        const fired_t *f = &n->fired;
        int dept = config_dept_find(self->cfg, f->target_dept);   /* by id: reloads renumber */
        session_t *s = dept >= 0 ? notice_worker(self, dept, n->tries) : NULL;
        if (!s)
            continue;
        n->tries++;
        msg_t m;
        char msg_id[32];
        msg_reset(&m, MSG_ESCALATE);
        snprintf(msg_id, sizeof msg_id, "esc-%llu", (unsigned long long)f->id);
        m.msg_id = msg_id, m.escalation_id = f->id, m.case_id = f->case_id;
        m.department = f->lead, m.due_at = f->due;
        MSG_SET(&m, MF_MSG_ID), MSG_SET(&m, MF_ESCALATION_ID), MSG_SET(&m, MF_CASE_ID);
        MSG_SET(&m, MF_DEPARTMENT), MSG_SET(&m, MF_DUE_AT);
        escalation_fields(self, f, &m);
        send_to_session(self, s, &m);
        n->sent = now;
    }
}

/* An ACK of a notice that does not count: logged, not answered (ACKs never
 * are, PROTOCOL.md 5.17), and the notice goes on being sent. */
static void ack_refused(const session_t *s, const char *re, const char *why)
{
    log_rec_t r;
    log_begin_limited(&r, LOG_WARNING, "escalation.ack_refused");
    log_str(&r, "worker", s->name);
    log_text(&r, "re", re);         /* the peer's text past "esc-N": masked */
    log_str(&r, "reason", why);
    log_end(&r);
}

/* A supervision worker acknowledged "esc-<id>": recorded with the pass, so
 * that a restart sends only what no one acknowledged. Only the ACK of a
 * pending notice by a worker of the department it goes to counts: another
 * department's (a bug, or a hostile worker) would silence it for good, and
 * the copies of one acknowledged already change nothing (the first time
 * stands). A notice held back (MAX_NOTICES) was never sent: its ACK waits for
 * the copy it will be sent. */
/* The id of a notice's msg_id "esc-<id>", exactly as send_notices makes it
 * (sscanf would take "esc-1/x" or "esc- 1" for 1); false if it is none. */
static bool notice_id(const char *re, uint64_t *id)
{
    if (!re || strncmp(re, "esc-", 4) != 0 || re[4] < '1' || re[4] > '9')
        return false;
    uint64_t v = 0;
    for (const char *p = re + 4; *p; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *id = v;
    return true;
}

static void notice_acked(broker_t *self, const session_t *s, const char *re)
{
    uint64_t id;
    if (!notice_id(re, &id))
        return;
    int taken = notices_take(self->notices, id, self->cfg->depts[s->dept].id);
    if (taken < 0)
        ack_refused(s, re, "the notice is for another department");
    if (taken <= 0)
        return;
    self->acked_in_pass = true;     /* back from the database if the pass fails */
    if (!ensure_txn(self))
        notices_hold(self->notices);
    else if (store_escalation_notified(self->store, id, clock_now(&self->clock)) < 0)
        abandon_pass(self, store_errcode(self->store), store_errmsg(self->store));
}

/* An event's line in the log, at INFO; an escalation's is log_fired's, at
 * WARNING and up. */
static void log_published(const pub_t *p, const char *dept)
{
    if (p->fired >= 0)
        return;
    log_rec_t r;
    log_begin(&r, LOG_INFO, p->kind);
    log_u64(&r, "case_id", p->case_id);
    if (p->asg)
        log_u64(&r, "assignment_id", p->asg);
    log_str(&r, "department", dept);
    if (p->state != STATE_NONE)
        log_str(&r, "state", msg_state_name(p->state));
    log_str(&r, "actor", p->actor);
    log_end(&r);
}

/* The event stream's XPUB passes on the subscriptions it gets: read, so
 * that they do not pile up, and not counted (peers.h says why). Whether
 * anyone listens, so that the broker need not encode ~8 events per case
 * for no one, comes from the connections (self->listeners). */
static void drop_subscriptions(broker_t *self)
{
    peers_update(self->listeners);
    for (int i = 0; i < 1000; i++) {
        unsigned char buf[1];
        if (zmq_recv(self->events, buf, sizeof buf, ZMQ_DONTWAIT) < 0)
            return;
    }
}

static void publish(broker_t *self)
{
    for (size_t i = 0; i < self->apply.npubs; i++) {
        const pub_t *p = &self->apply.pubs[i];
        const char *dept = p->dept >= 0 ? self->cfg->depts[p->dept].id : "-";
        if (!peers_count(self->listeners)) {
            log_published(p, dept);
            continue;
        }
        char topic[64];
        snprintf(topic, sizeof topic, "%s.%s", p->kind, dept);
        msg_t ev;
        msg_reset(&ev, MSG_EVENT);
        ev.case_id = p->case_id, ev.kind = p->kind, ev.at = self->apply.now, ev.actor = p->actor;
        MSG_SET(&ev, MF_CASE_ID), MSG_SET(&ev, MF_KIND), MSG_SET(&ev, MF_AT), MSG_SET(&ev, MF_ACTOR);
        if (p->dept >= 0)
            ev.department = dept, MSG_SET(&ev, MF_DEPARTMENT);
        if (p->state != STATE_NONE)
            ev.state = p->state, MSG_SET(&ev, MF_STATE);
        if (p->asg)
            ev.assignment_id = p->asg, MSG_SET(&ev, MF_ASSIGNMENT_ID);
        if (p->note[0])
            ev.note = p->note, MSG_SET(&ev, MF_NOTE);
        if (p->fired >= 0)
            escalation_fields(self, &self->apply.fired[p->fired], &ev);
        send_now(self, self->events, topic, strlen(topic), &ev);
        log_published(p, dept);
    }
}

/* Between transactions: the store's upkeep (see store_maintain). */
static void maintain(broker_t *self, bool idle)
{
    if (store_maintain(self->store, idle) != 0)
        log_say(LOG_ERR, "store.checkpoint_failed", store_errmsg(self->store));
}

/* Commit the pass; on success apply effects, publish and send the replies. */
static void end_pass(broker_t *self)
{
    if (self->txn) {
        /* a transaction with no writes commits too: an idle broker must not
         * sit on the write lock (nor pin a snapshot the WAL cannot pass) */
        bool dirty = store_dirty(self->store);
        if (store_commit(self->store) != 0)
            abandon_pass(self, store_errcode(self->store), store_errmsg(self->store));
        else
            self->stats.commits += dirty;
        self->txn = false;
    }
    holdback_committed(self->holdback);     /* a failed commit moved them to the held */
    self->acked_in_pass = false;
    apply_effects(self);
    log_hold();
    for (size_t i = 0; i < self->apply.nfired; i++)
        announce_fired(self, &self->apply.fired[i]);
    self->npopped = self->nmarked = 0;
    publish(self);
    log_release();
    send_notices(self, mono_ms());
    size_t n = outbox_count(self->outbox);
    if (n > self->stats.batch_max)
        self->stats.batch_max = n;
    outbox_flush(self->outbox);
    if (!self->txn)
        maintain(self, false);      /* after the replies: they do not wait for it */
}

/* ---- dispatch -------------------------------------------------------- */

static int build_dispatch(broker_t *self, const store_assignment_t *a, const store_case_t *c,
                          msg_t *m)
{
    if (store_case_record(self->store, a->case_id, &m->kase) != 1)
        return -1;
    m->cmd = MSG_DISPATCH;
    m->assignment_id = a->id, m->case_id = a->case_id;
    m->department = a->department, m->role = a->role, m->attempt = a->attempt;
    m->received_at = c->received_at, m->contact_due = c->contact_due;
    int bits[] = {MF_ASSIGNMENT_ID, MF_CASE_ID, MF_DEPARTMENT, MF_ROLE, MF_ATTEMPT,
                  MF_RECEIVED_AT, MF_CONTACT_DUE, MF_CASE};
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
        MSG_SET(m, bits[i]);
    if (c->resolve_due)
        m->resolve_due = c->resolve_due, MSG_SET(m, MF_RESOLVE_DUE);
    return 0;
}

/* Send one assignment to s: 1 sent, 0 skipped (no longer open), -1 the
 * worker could not take it (errno says why), -2 the store failed. The record
 * (attempt, worker, the `dispatched` event) is written once the DISPATCH has
 * left: a worker that vanished or is full gets none, so the audit trail
 * never shows a delivery that did not happen. */
static int deliver(broker_t *self, uint64_t asg, session_t *s)
{
    store_assignment_t a;
    if (dispatch_holder(self->dispatch, asg))
        return 0;                   /* taken up meanwhile by a worker's own ACCEPT */
    int found = store_assignment_get(self->store, asg, &a);
    if (found < 0)
        return -2;                  /* a read error must not drop it: requeue */
    if (!found || !fsm_assignment_open(a.state))
        return 0;
    if (!ensure_txn(self))
        return -2;
    store_case_t c;
    store_assignment_t sent = a;
    sent.attempt = apply_next_attempt(a.attempt);   /* what apply_dispatched will record */
    msg_t m;
    msg_reset(&m, MSG_DISPATCH);
    if (store_case_get(self->store, a.case_id, &c) != 1 || build_dispatch(self, &sent, &c, &m))
        return -2;
    if (send_now(self, self->workers, s->id, s->idlen, &m) != 0)
        return -1;
    s->last_send = mono_ms();
    dispatch_bind(self->dispatch, asg, s, s->last_send);
    if (fsm_assignment_taken_up(a.state))
        dispatch_mark_accepted(self->dispatch, asg);     /* still an orphan if s dies too */
    apply_reset(&self->apply, clock_now(&self->clock));
    msg_err_t rc = apply_dispatched(&self->apply, &a, s->name, &c);
    if (rc != MSG_OK) {
        /* the worker has it, and keeps it; only the record is lost */
        abandon_pass(self, rc, "recording a dispatch failed");
        return 1;
    }
    /* The record of this dispatch commits with the next pass; its events go
     * out now, like the DISPATCH itself (see the note at the top). */
    publish(self);
    return 1;
}

/* Hand one waiting assignment of dept to s; false when the pass should stop
 * for this department (nothing to take, or the worker could not take it). */
static bool dispatch_one(broker_t *self, int dept, session_t *s)
{
    dispatch_item_t item;
    if (!dispatch_take(self->dispatch, dept, s->registered_at, &item))
        return false;
    int rc = deliver(self, item.asg, s);
    if (rc >= 0)
        return true;
    (void)dispatch_putback(self->dispatch, dept, &item);    /* its slot is free: cannot fail */
    if (rc == -1 && errno == EHOSTUNREACH)
        session_gone(self, s, "unreachable");
    return false;                   /* EAGAIN (full) or store trouble: next pass */
}

static void dispatch_dept(broker_t *self, int dept)
{
    session_t *s;
    int64_t since;
    int guard = BATCH;
    /* orphans first, to a worker registered after their holder's last word */
    while (guard-- > 0 && dispatch_orphan_since(self->dispatch, dept, &since) &&
           (s = sessions_best(self->sessions, dept, since)) && dispatch_one(self, dept, s))
        ;
    while (guard-- > 0 && dispatch_waiting(self->dispatch, dept) &&
           (s = sessions_best(self->sessions, dept, INT64_MIN)) && dispatch_one(self, dept, s))
        ;
}

static void dispatch_all(broker_t *self)
{
    for (size_t d = 0; d < self->cfg->ndepts; d++)
        dispatch_dept(self, (int)d);
}

/* ---- deadlines ------------------------------------------------------- */

static void remember_popped(broker_t *self, const timers_entry_t *e)
{
    if (self->npopped == self->cappopped) {
        size_t cap = self->cappopped ? self->cappopped * 2 : 256;
        timers_entry_t *v = realloc(self->popped, cap * sizeof *v);
        if (!v) {
            self->hints_lost = true;    /* a rolled-back pass could not re-arm it */
            return;
        }
        self->popped = v, self->cappopped = cap;
    }
    self->popped[self->npopped++] = *e;
}

/* Fire what is due: at most TIMER_BATCH hints a pass, inside the pass's
 * transaction, so their records commit with everything else. */
static void fire_timers(broker_t *self)
{
    timers_entry_t e;
    int64_t now = self->apply.now;
    for (int i = 0; i < TIMER_BATCH && timers_peek(self->timers, &e) && e.due <= now; i++) {
        if (!ensure_txn(self))
            return;
        timers_pop(self->timers, &e);
        remember_popped(self, &e);
        msg_err_t rc = apply_timer(&self->apply, timers_case(&e), timers_ladder(&e));
        if (rc != MSG_OK) {
            abandon_pass(self, rc, self->apply.why);
            return;
        }
    }
}

/* How long poll may sleep: until the next deadline, at most a quarter
 * heartbeat. A transaction open at this point holds only records of
 * dispatches already sent, which no reply waits for (a crash just re-offers
 * them): rather than pay an fsync for them alone, give the worker's ACCEPT,
 * which follows within a fraction of a millisecond, DISPATCH_LINGER_MS to
 * join them. This takes one fsync of about two off every case at moderate
 * load, and with it most of the queueing behind fsyncs in submit->dispatch. */
static long poll_timeout(broker_t *self)
{
    long t = (long)(self->beat_ms / 4);        /* housekeeping's pace */
    if (t > STOP_LATENCY_MS)
        t = STOP_LATENCY_MS;        /* a SIGTERM just before the poll waits no longer */
    if (self->watchdog_ms) {        /* nor the watchdog's next kick */
        int64_t kick = self->last_watchdog + self->watchdog_ms - mono_ms();
        if (kick < t)
            t = kick < 0 ? 0 : (long)kick;
    }
    if (self->txn && store_dirty(self->store) && t > DISPATCH_LINGER_MS)
        t = DISPATCH_LINGER_MS;
    timers_entry_t e;
    if (timers_peek(self->timers, &e)) {
        int64_t wait = e.due - clock_now(&self->clock);
        if (self->store_down && wait < STORE_RETRY_MS)
            wait = STORE_RETRY_MS;  /* due timers wait for a database that refuses writes */
        if (wait < t)
            t = wait < 0 ? 0 : (long)wait;
    }
    return t;
}

/* ---- the loop -------------------------------------------------------- */

static void drain(broker_t *self, void *sock, void (*handle)(broker_t *, inmsg_t *))
{
    inmsg_t in;
    for (int i = 0; i < BATCH; i++) {
        int rc = recv_msg(sock, &in);
        if (rc <= 0)
            return;
        handle(self, &in);
        close_msg(&in);
    }
}

/* ---- systemd: status, watchdog, reload -------------------------------- */

static void status_line(broker_t *self, char *buf, size_t len)
{
    uint64_t open = 0, overdue = 0;
    store_counts(self->store, clock_now(&self->clock), &open, &overdue);
    int n = snprintf(buf, len, "open %llu, overdue %llu, workers %zu, waiting assignments %zu",
                     (unsigned long long)open, (unsigned long long)overdue,
                     sessions_count(self->sessions), dispatch_waiting_total(self->dispatch));
    int64_t skew = clock_skew(&self->clock);
    if ((skew >= CLOCK_SKEW_SAY_MS || skew <= -CLOCK_SKEW_SAY_MS) && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, ", clock %lld s %s the system's (absorbing)",
                 (long long)(skew < 0 ? -skew : skew) / 1000, skew > 0 ? "behind" : "ahead of");
}

/* The status line is refreshed every 10 s, only when systemd listens. */
static void tell_systemd(broker_t *self, int64_t now)
{
    kick_watchdog(self, now);
    if (getenv("NOTIFY_SOCKET") && now - self->last_status >= 10000) {
        char st[160];
        status_line(self, st, sizeof st);
        service_status(st);
        self->last_status = now;
    }
}

/* requeue_build's progress: a long pass over the open assignments is still
 * alive to systemd's watchdog. */
static void requeue_progress(void *arg)
{
    kick_watchdog(arg, mono_ms());
}

/* Run on the new queues: renumber the sessions and drop those whose
 * department is gone. */
static void requeue_install(broker_t *self, const config_t *old, const config_t *cfg,
                            requeue_t *q)
{
    if (q->stranded)
        warn_stranded("config.stranded", "open_assignments", q->stranded, STRANDED_ASSIGNMENTS);
    dispatch_destroy(&self->dispatch);
    self->dispatch = requeue_take(q);
    for (size_t i = 0; i < sessions_count(self->sessions);) {
        session_t *s = sessions_at(self->sessions, i);
        int dept = config_dept_find(cfg, old->depts[s->dept].id);
        if (dept >= 0) {
            s->dept = dept;
            i++;
            continue;
        }
        msg_t bye;
        msg_reset(&bye, MSG_DISCONNECT);
        bye.reason_text = "department removed from the broker's config";
        MSG_SET(&bye, MF_REASON_TEXT);
        send_to_session(self, s, &bye);
        session_gone(self, s, bye.reason_text);  /* it holds nothing in the new queues */
    }
}

/* What a reload changes in the database and the queues: fresh's ladders
 * saved (open cases moved onto them) and its departments' queues built, both
 * or neither. 0, or -1 with config.kept logged and everything as it was. */
static int take_config(broker_t *self, const config_t *fresh)
{
    ladders_t lad;
    requeue_t q = {0};
    bool depts = requeue_needed(self->cfg, fresh);
    requeue_from_t from = {self->store, self->dispatch, self->sessions, self->cfg, fresh,
                           mono_ms(), requeue_progress, self};
    int changed = ladders_diff(&lad, self->store, fresh);
    const char *why = NULL;
    bool db = true;                 /* the store's error says why */
    if (changed < 0)
        why = "could not read the saved escalation ladders";
    else if (changed && (store_begin_patient(self->store) ||
                         ladders_save(&lad, self->store, fresh)))
        why = "could not save the new escalation ladders";
    else if (depts && requeue_build(&q, &from)) {
        why = "could not rebuild the dispatch queues for the new departments (out of memory, "
              "or the database failed)";
        db = false;
    } else if (changed && store_commit(self->store))
        why = "could not save the new escalation ladders";
    if (!why) {
        if (depts)
            requeue_install(self, self->cfg, fresh, &q);
        log_ladders_changed(&lad, fresh);
        return 0;
    }
    requeue_abandon(&q, self->sessions);
    if (changed > 0)
        store_rollback(self->store);
    log_rec_t r;
    log_begin(&r, LOG_ERR, "config.kept");
    log_str(&r, "msg", why);
    if (db)
        log_str(&r, "error", store_errmsg(self->store));
    log_str(&r, "result", "the running config stays");
    log_end(&r);
    return -1;
}

/* The key lists were reloaded: end the sessions of keys no longer allowed to
 * work for their department now, not at their next message, so that no
 * DISPATCH goes to a revoked key meanwhile. */
static void drop_revoked(broker_t *self)
{
    for (size_t i = 0; i < sessions_count(self->sessions);) {
        session_t *s = sessions_at(self->sessions, i);
        const char *dept = NULL;
        auth_role_t role = s->key[0] ? auth_role(self->auth, s->key, &dept) : AUTH_LOCAL;
        if (role == AUTH_LOCAL ||
            (role == AUTH_WORKER && dept && strcmp(dept, self->cfg->depts[s->dept].id) == 0))
            i++;
        else
            session_gone(self, s, auth_is_user(s->key)
                         ? "its Unix user is no longer allowed ([local_users])"
                         : "its key is no longer allowed");
    }
}

/* Re-arm every deadline from the open cases, under the ladders of the
 * config (due times stay as given); -1, with the old heap kept, on failure. */
static int rearm_timers(broker_t *self)
{
    timers_t *fresh = timers_new(), *old = self->timers;
    if (!fresh)
        return -1;
    self->timers = fresh;
    apply_reset(&self->apply, clock_now(&self->clock));
    if (store_open_cases(self->store, load_case, self) != 0) {
        self->timers = old;
        timers_destroy(&fresh);
        return -1;
    }
    timers_destroy(&old);
    return 0;
}

/* A hint was lost for want of memory: rebuild the heap from the database,
 * again after each pass until it succeeds. */
static void rebuild_hints(broker_t *self)
{
    self->hints_lost = false;
    if (rearm_timers(self) != 0)
        self->hints_lost = true;
    if (!self->hints_lost)
        log_say(LOG_WARNING, "timers.rebuilt", "a deadline hint was lost for want of memory, "
                "or a reload could not re-arm them: every open case's deadlines were re-armed "
                "from the database");
}

/* An open assignment could not be queued for want of memory (dispatch.h):
 * it would wait for no worker, and as nobody holds it, no deadline would
 * say so. Rebuild the queues from the database, as a reload does, again
 * after each pass until it succeeds. */
static void rebuild_queues(broker_t *self)
{
    requeue_t q;
    requeue_from_t from = {self->store, self->dispatch, self->sessions, self->cfg, self->cfg,
                           mono_ms(), requeue_progress, self};
    if (requeue_build(&q, &from) != 0)
        return;
    requeue_install(self, self->cfg, self->cfg, &q);
    log_say(LOG_WARNING, "dispatch.rebuilt", "an assignment could not be queued for want of "
            "memory: the dispatch queues were rebuilt from the database");
}

/* The sockets are bound, and made CURVE servers or not, once at start. */
static void warn_restart_needed(const config_t *old, const config_t *fresh)
{
    const char *what[][3] = {
        {"intake", old->intake_endpoint, fresh->intake_endpoint},
        {"workers", old->worker_endpoint, fresh->worker_endpoint},
        {"events", old->events_endpoint, fresh->events_endpoint},
        {"database", old->database, fresh->database},
        {"server_cert", old->server_cert ? old->server_cert : "(none)",
         fresh->server_cert ? fresh->server_cert : "(none)"},
        {"allow_plain_tcp", old->allow_plain_tcp ? "yes" : "no",
         fresh->allow_plain_tcp ? "yes" : "no"},
    };
    for (size_t i = 0; i < sizeof what / sizeof what[0]; i++)
        if (strcmp(what[i][1], what[i][2]) != 0) {
            log_rec_t r;
            log_begin(&r, LOG_WARNING, "config.restart_needed");
            log_str(&r, "key", what[i][0]);
            log_str(&r, "running", what[i][1]);
            log_str(&r, "configured", what[i][2]);
            log_str(&r, "msg", "endpoints, the database and CURVE's server_cert and "
                    "allow_plain_tcp change only on restart");
            log_end(&r);
        }
}

static void reload(broker_t *self)
{
    self->reload = 0;
    service_reloading();
    char err[8192] = "";
    config_t *fresh = config_load(self->cfg->path, err, sizeof err);
    if (!fresh) {
        for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n"))
            log_say_long(LOG_ERR, "config.invalid", line);
        log_say(LOG_ERR, "config.kept", "the new file has errors; the running config stays");
    } else if (auth_reload_check(self->auth, fresh, err, sizeof err) != 0) {
        log_say_long(LOG_ERR, "config.invalid", err);
        log_say(LOG_ERR, "config.kept", "the new key lists, server_cert or endpoints are "
                "refused (config.invalid says why); the running config and keys stay");
        config_destroy(&fresh);
    } else if (take_config(self, fresh) != 0) {
        config_destroy(&fresh);
    } else {
        warn_restart_needed(self->cfg, fresh);
        config_keep_restart_keys(fresh, self->cfg);    /* warned again at every reload */
        if (auth_reload(self->auth, fresh, err, sizeof err) != 0)   /* changed since the check */
            log_say(LOG_ERR, "security.keys_kept", err);
        config_t *old = self->cfg;
        self->cfg = fresh;
        self->apply.cfg = fresh;
        if (fresh->heartbeat_ms < self->beat_ms)
            self->beat_ms = fresh->heartbeat_ms;    /* raised: the sessions keep it down */
        drop_revoked(self);
        /* each on its own: a removed key must lose the event stream even
         * if a socket file's mode could not be set */
        if (share_sockets(self, err, sizeof err) != 0)
            log_say(LOG_ERR, "config.sockets", err);
        if (hold_routing_ids(self, err, sizeof err) != 0)
            log_say(LOG_ERR, "config.sockets", err);
        if (auth_narrowed(self->auth) && rebind_events(self, err, sizeof err) != 0)
            log_say(LOG_ERR, "config.sockets", err);
        place_notices(self, "config.notices_stranded");
        warn_config(fresh);
        check_holidays(self, true);
        if (rearm_timers(self) != 0) {
            self->hints_lost = true;        /* rebuilt after the next pass */
            log_say(LOG_WARNING, "config.timers_pending", "the open cases' deadlines could not "
                    "be re-armed under the new config yet (out of memory, or the database "
                    "failed): tried again after every pass (timers.rebuilt once done)");
        }
        config_destroy(&old);
        log_rec_t r;
        log_begin(&r, LOG_NOTICE, "config.reloaded");
        log_str(&r, "file", fresh->path);
        log_u64(&r, "departments", fresh->ndepts);
        log_u64(&r, "routes", fresh->nroutes);
        log_u64(&r, "keys", auth_keys(self->auth));
        log_end(&r);
    }
    char st[160];
    status_line(self, st, sizeof st);
    service_reloaded(st);
}

int broker_run(broker_t *self)
{
    zmq_pollitem_t items[] = {
        {self->intake, 0, ZMQ_POLLIN, 0},
        {self->workers, 0, ZMQ_POLLIN, 0},
        {self->events, 0, ZMQ_POLLIN, 0},
        {peers_socket(self->listeners), 0, ZMQ_POLLIN, 0},
        {auth_socket(self->auth), 0, ZMQ_POLLIN, 0},
    };
    int nitems = auth_socket(self->auth) ? 5 : 4;
    char st[160];
    status_line(self, st, sizeof st);
    self->watchdog_ms = service_watchdog_ms();
    log_rec_t ready;
    log_begin(&ready, LOG_NOTICE, "broker.ready");
    log_u64(&ready, "keys", auth_keys(self->auth));     /* 0: ipc:// only, or no lists */
    log_u64(&ready, "schema", STORE_SCHEMA_VERSION);    /* what a good backup says */
    /* a server left on a cloud image's UTC moves every working window by
     * eight hours, and nothing else would show it */
    char zone[256], abbr[16], off[8], hhmm[8];
    calendar_zone(zone, sizeof zone, abbr, off);
    snprintf(hhmm, sizeof hhmm, "%.3s:%.2s", off, off + 3);     /* +0800 -> +08:00 */
    log_str(&ready, "time_zone", *zone ? zone : abbr);
    log_str(&ready, "utc_offset", off[0] == '?' ? off : hhmm);
    log_str(&ready, "msg", "serving");
    log_end(&ready);
    service_ready(st);
    self->serving = true;
    while (!self->stop) {
        if (zmq_poll(items, nitems, poll_timeout(self)) < 0 && errno != EINTR) {
            log_say(LOG_CRIT, "broker.poll", zmq_strerror(errno));
            return -1;
        }
        self->stats.passes++;
        auth_serve(self->auth);
        drop_subscriptions(self);
        apply_reset(&self->apply, clock_now(&self->clock));
        drain(self, self->intake, on_intake);
        drain(self, self->workers, on_worker);
        fire_timers(self);
        housekeeping(self, mono_ms());
        end_pass(self);
        if (self->reload)
            reload(self);           /* between a commit and the next writes */
        check_stalls(self, mono_ms());  /* what the commit made so, not a pass that may fail */
        dispatch_all(self);
        if (self->hints_lost && !self->txn)
            rebuild_hints(self);
        if (dispatch_lost(self->dispatch) && !self->txn)
            rebuild_queues(self);
        if (notices_reload_due(self->notices) && !self->txn)
            reload_notices(self);
        if (!self->txn)
            maintain(self, true);
        tell_systemd(self, mono_ms());
    }
    service_stopping();
    /* tell every worker to register again with whichever broker comes next */
    msg_t bye;
    msg_reset(&bye, MSG_DISCONNECT);
    bye.reason_text = "broker stopping";
    MSG_SET(&bye, MF_REASON_TEXT);
    for (size_t i = 0; i < sessions_count(self->sessions); i++)
        send_to_session(self, sessions_at(self->sessions, i), &bye);
    log_rec_t r;
    log_flush_limited(true);
    log_begin(&r, LOG_NOTICE, "broker.stopping");
    log_u64(&r, "passes", self->stats.passes);
    log_u64(&r, "commits", self->stats.commits);
    log_u64(&r, "checkpoints", store_checkpoints(self->store));
    log_u64(&r, "cases_submitted", self->stats.submitted);
    log_u64(&r, "largest_batch", self->stats.batch_max);
    log_u64(&r, "refused", self->stats.refused);
    log_end(&r);
    return 0;
}
