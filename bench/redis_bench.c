/*
 * redis_bench.c - the Redis side of the side-by-side benchmark (bench/run.sh),
 * on hiredis.
 *
 * Producer (main thread): per case an XADD to the stream `intake` (the case's
 * fields) and a ZADD of its contact deadline (now + 30 min) to `deadlines`,
 * pipelined with at most WINDOW cases unanswered; a case counts once both
 * replies came (with appendfsync always, Redis fsyncs the AOF before it
 * replies). The two are not wrapped in MULTI/EXEC: cheaper for Redis.
 * Workers (WORKERS threads, one connection each, the departments): one
 * consumer group `depts`, each worker a consumer reading with XREADGROUP COUNT
 * CAP BLOCK 1000; per case an HSET of each outcome (accepted, contacted,
 * resolved) on the hash case:<external_id>, a ZREM of its deadline at resolve
 * and an XACK, all pipelined for the batch. A lifecycle is finished when its
 * XACK was answered. One unstamped warm-up case goes through first, answered
 * before the start and counted nowhere (peer_fill_warmup).
 * Every wait is bounded (socket timeouts, the -t deadline); 127.0.0.1 only.
 */
#include "peers.h"

#include <hiredis.h>
#include <pthread.h>

#define PROG "redis_bench"

static int64_t g_deadline_ns;

static redisContext *connect_to(int port)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    struct timeval io = {5, 0};         /* XREADGROUP blocks 1 s at most */
    redisSetTimeout(c, io);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return c;
}

static bool reply_ok(const redisReply *r, const char *what)
{
    if (!r) {
        fprintf(stderr, PROG ": %s: no reply\n", what);
        return false;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, PROG ": %s: %s\n", what, r->str);
        return false;
    }
    return true;
}

/* ---- workers ------------------------------------------------------------ */

typedef struct {
    int id, port;
    long n, cap;
    peer_progress_t *prog;
    peer_lat_t lat;
    int rc;
} worker_t;

typedef struct {
    char id[48], ext[64];
} held_t;

static const char *field(const redisReply *fv, const char *name, size_t *len)
{
    for (size_t i = 0; i + 1 < fv->elements; i += 2) {
        const redisReply *k = fv->element[i], *v = fv->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && strcmp(k->str, name) == 0 &&
            v->type == REDIS_REPLY_STRING) {
            *len = v->len;
            return v->str;
        }
    }
    return NULL;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    const char *dept = peer_depts[w->id % 4];
    held_t *held = calloc((size_t)w->cap, sizeof *held);
    redisContext *c = connect_to(w->port);
    w->rc = 1;
    if (!c || !held) {
        fprintf(stderr, PROG ": worker %d: cannot connect\n", w->id);
        goto out;
    }
    char count[16], summary[128], at[3][24], consumer[32];
    snprintf(count, sizeof count, "%ld", w->cap);
    snprintf(consumer, sizeof consumer, "%s-%d", dept, w->id);
    while (atomic_load(&w->prog->done) < w->n && !atomic_load(&w->prog->stop) &&
           peer_now_ns() < g_deadline_ns) {
        redisReply *r = redisCommand(c, "XREADGROUP GROUP depts %s COUNT %s BLOCK 1000 STREAMS intake >",
                                     consumer, count);
        if (!reply_ok(r, "XREADGROUP"))
            goto out;
        int64_t got = peer_now_ns();
        long nheld = 0, counted = 0;
        /* [[stream, [[id, [field, value, ...]], ...]]] or nil on timeout */
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->elements == 2) {
            const redisReply *entries = r->element[0]->element[1];
            for (size_t i = 0; i < entries->elements && nheld < w->cap; i++) {
                const redisReply *e = entries->element[i];
                if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                    e->element[1]->type != REDIS_REPLY_ARRAY)
                    continue;
                size_t dlen = 0, elen = 0;
                const char *desc = field(e->element[1], "description", &dlen);
                const char *ext = field(e->element[1], "external_id", &elen);
                int64_t sent = desc ? peer_stamp_of(desc, dlen) : -1;
                if (sent >= 0)
                    peer_lat_add(&w->lat, got - sent);
                counted += sent >= 0;
                held_t *h = &held[nheld++];
                snprintf(h->id, sizeof h->id, "%s", e->element[0]->str);
                snprintf(h->ext, sizeof h->ext, "%.*s", ext ? (int)elen : 0, ext ? ext : "");
            }
        }
        freeReplyObject(r);
        if (nheld == 0)
            continue;
        for (long k = 0; k < nheld; k++) {
            const char *ext = held[k].ext;
            for (int s = 0; s < 3; s++)
                snprintf(at[s], sizeof at[s], "%" PRId64, peer_unix_ms());
            snprintf(summary, sizeof summary, "已处理完毕：案件%s", ext);
            redisAppendCommand(c, "HSET case:%s accepted_at %s accepted_by %s", ext, at[0], dept);
            redisAppendCommand(c, "HSET case:%s contacted_at %s contact_note %s", ext, at[1],
                               "已电话联系居民");
            redisAppendCommand(c, "HSET case:%s resolved_at %s result fixed summary %s", ext, at[2],
                               summary);
            redisAppendCommand(c, "ZREM deadlines %s", ext);
            redisAppendCommand(c, "XACK intake depts %s", held[k].id);
        }
        for (long k = 0; k < nheld * 5; k++) {
            void *rep = NULL;
            if (redisGetReply(c, &rep) != REDIS_OK || !reply_ok(rep, "outcome")) {
                if (rep)
                    freeReplyObject(rep);
                goto out;
            }
            freeReplyObject(rep);
        }
        peer_finished(w->prog, counted, w->n);
    }
    w->rc = 0;
out:
    if (w->rc)
        atomic_fetch_add(&w->prog->errors, 1);
    if (c)
        redisFree(c);
    free(held);
    return NULL;
}

/* ---- producer ----------------------------------------------------------- */

static int probe(int port)
{
    for (int i = 0; i < 100; i++) {
        redisContext *c = connect_to(port);
        if (c) {
            redisReply *r = redisCommand(c, "PING");
            bool ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
            if (r)
                freeReplyObject(r);
            redisFree(c);
            if (ok)
                return 0;
        }
        peer_sleep_ms(100);
    }
    fprintf(stderr, PROG ": no Redis answered on 127.0.0.1:%d\n", port);
    return 1;
}

static void append_case(redisContext *c, const peer_case_t *k)
{
    const char *argv[] = {"XADD", "intake", "*",
                          "external_id", k->ext, "channel", k->channel,
                          "service_code", k->service_code, "grid_code", k->grid,
                          "priority", k->priority, "phone", k->phone,
                          "first_name", k->first_name, "last_name", k->last_name,
                          "address_string", k->address, "description", k->desc};
    size_t lens[sizeof argv / sizeof argv[0]];
    for (size_t i = 0; i < sizeof argv / sizeof argv[0]; i++)
        lens[i] = strlen(argv[i]);
    redisAppendCommandArgv(c, (int)(sizeof argv / sizeof argv[0]), argv, lens);
    redisAppendCommand(c, "ZADD deadlines %lld %s", (long long)(peer_unix_ms() + 30 * 60 * 1000),
                       k->ext);
}

/* The warm-up case's XADD and ZADD, both answered. */
static int warm_up(redisContext *c, peer_case_t *k)
{
    peer_fill_warmup(k);
    append_case(c, k);
    for (int i = 0; i < 2; i++) {
        void *rep = NULL;
        if (redisGetReply(c, &rep) != REDIS_OK || !reply_ok(rep, "warm-up")) {
            if (rep)
                freeReplyObject(rep);
            return -1;
        }
        freeReplyObject(rep);
    }
    return 0;
}

int main(int argc, char **argv)
{
    peer_opts_t o;
    peer_parse(argc, argv, &o,
               "Redis: XADD intake + ZADD deadline, XREADGROUP, HSET per outcome, ZREM, XACK");
    if (o.find_ports)
        return peer_print_free_ports(o.find_ports);
    if (o.probe)
        return probe(o.port);

    peer_pace_t pace;
    if (peer_pace_open(&pace, &o) != 0)
        return 1;
    pace.start_ns = peer_now_ns();
    g_deadline_ns = pace.start_ns + (int64_t)o.timeout_s * 1000000000;
    long acked = 0, next = 0, replies = 0, errors = 0;
    int64_t submit_end = 0;
    redisContext *c = connect_to(o.port);
    if (!c) {
        fprintf(stderr, PROG ": producer cannot connect\n");
        return 1;
    }
    redisReply *r = redisCommand(c, "XGROUP CREATE intake depts $ MKSTREAM");
    if (!reply_ok(r, "XGROUP CREATE")) {
        if (r)
            freeReplyObject(r);
        redisFree(c);
        return 1;
    }
    freeReplyObject(r);

    peer_progress_t prog = {0};
    worker_t ws[PEER_MAX_WORKERS];
    pthread_t th[PEER_MAX_WORKERS];
    for (long i = 0; i < o.workers; i++) {
        ws[i] = (worker_t){.id = (int)i, .port = o.port, .n = o.n, .cap = o.cap, .prog = &prog};
        ws[i].lat.cap = o.n;
        ws[i].lat.v = malloc((size_t)o.n * sizeof(int64_t));
        if (!ws[i].lat.v || pthread_create(&th[i], NULL, worker_main, &ws[i]) != 0) {
            perror(PROG);
            return 1;
        }
    }

    peer_case_t k;
    if (warm_up(c, &k) != 0) {
        errors++;
        goto done;
    }
    pace.start_ns = peer_now_ns();
    while (acked < o.n && peer_now_ns() < g_deadline_ns && !atomic_load(&prog.errors)) {
        int64_t t = peer_now_ns();
        long inflight = next - acked;
        bool wrote = false;
        while (inflight < o.window && peer_due(&pace, next, t)) {
            peer_fill_case(&k, next, peer_stamp(&pace, next));
            append_case(c, &k);
            next++;
            inflight++;
            wrote = true;
        }
        if (wrote) {
            int done = 0;
            while (!done) {
                if (redisBufferWrite(c, &done) != REDIS_OK || peer_now_ns() > g_deadline_ns) {
                    fprintf(stderr, PROG ": write: %s\n", c->errstr);
                    errors++;
                    goto done;
                }
            }
        }
        int ready = peer_pace_wait(&pace, inflight > 0 ? c->fd : -1, next, inflight);
        if (ready < 0) {
            errors++;
            break;
        }
        if (ready == 0)
            continue;
        if (redisBufferRead(c) != REDIS_OK) {
            fprintf(stderr, PROG ": read: %s\n", c->errstr);
            errors++;
            break;
        }
        for (;;) {
            void *rep = NULL;
            if (redisGetReplyFromReader(c, &rep) != REDIS_OK) {
                errors++;
                goto done;
            }
            if (!rep)
                break;
            bool ok = reply_ok(rep, replies % 2 ? "ZADD" : "XADD");
            freeReplyObject(rep);
            if (!ok) {
                errors++;
                goto done;
            }
            if (++replies % 2 == 0)
                acked++;
        }
    }
    submit_end = peer_now_ns();
done:
    if (errors || acked < o.n)
        atomic_store(&prog.stop, 1);
    redisFree(c);
    peer_pace_close(&pace);
    for (long i = 0; i < o.workers; i++)
        pthread_join(th[i], NULL);
    peer_lat_t lats[PEER_MAX_WORKERS];
    for (long i = 0; i < o.workers; i++)
        lats[i] = ws[i].lat;
    return peer_finish(PROG, &o, lats, &prog, acked, &pace, submit_end, errors);
}
