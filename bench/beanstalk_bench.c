/*
 * beanstalk_bench.c - the beanstalkd side of the side-by-side benchmark
 * (bench/run.sh), speaking beanstalkd's text protocol over TCP by hand.
 *
 * Producer (main thread): `use intake`, then `put` (priority 1024, TTR 1800)
 * of each case as a JSON body, pipelined with at most WINDOW unanswered; a case counts once
 * INSERTED came back (with -f 0 the binlog was fsync'ed before that reply).
 * Workers (WORKERS threads, one connection each, the departments): `watch
 * intake`, `reserve-with-timeout`, then up to CAP-1 more `reserve-with-timeout 0`
 * to hold up to CAP jobs like a minqing worker's capacity; for each job three
 * outcome `put`s into the tube `outcomes` (accepted, contacted, resolved: a
 * `touch` is not binlogged, a put is) and a `delete`, all pipelined with the
 * next reserve. A lifecycle is finished when its delete was answered. One
 * unstamped warm-up job goes through first, answered before the start and
 * counted nowhere (peer_fill_warmup).
 * Every wait is bounded by the -t deadline; traffic goes to 127.0.0.1 only.
 */
#include "peers.h"

#include <pthread.h>
#include <stdarg.h>

#define PROG "beanstalk_bench"
#define TTR 1800
/* One priority for every job: beanstalkd reserves the most urgent ready job
 * first, but minqing and Redis serve their queues in FIFO order, and under a
 * backlog a queue-jumping tenth would change the percentiles. */
#define PRI 1024

typedef struct {
    int fd;
    char in[1 << 16];
    size_t r, w;                /* unread bytes are in[r..w) */
    char *out;
    size_t olen, ocap;
} conn_t;

static int64_t g_deadline_ns;

static int conn_open(conn_t *c, int port)
{
    memset(c, 0, sizeof *c);
    c->fd = peer_connect(port);
    return c->fd < 0 ? -1 : 0;
}

static void conn_close(conn_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->out);
    c->out = NULL;
}

static void out_add(conn_t *c, const char *data, size_t len)
{
    if (c->olen + len > c->ocap) {
        size_t cap = c->ocap ? c->ocap : 65536;
        while (cap < c->olen + len)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p) {
            perror("realloc");
            exit(1);
        }
        c->out = p;
        c->ocap = cap;
    }
    memcpy(c->out + c->olen, data, len);
    c->olen += len;
}

static void out_fmt(conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_fmt(conn_t *c, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    out_add(c, buf, (size_t)len);
}

/* Write everything queued; -1 on error or past the deadline. */
static int conn_flush(conn_t *c)
{
    size_t off = 0;
    while (off < c->olen) {
        ssize_t k = write(c->fd, c->out + off, c->olen - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0 || peer_now_ns() > g_deadline_ns)
            return -1;
        off += (size_t)k;
    }
    c->olen = 0;
    return 0;
}

/* Read once, waiting up to wait_ms; 1 when bytes came, 0 on timeout, -1 on EOF/error. */
static int conn_fill(conn_t *c, int wait_ms)
{
    if (c->r > 0 && c->r == c->w)
        c->r = c->w = 0;
    if (c->w == sizeof c->in) {         /* compact */
        memmove(c->in, c->in + c->r, c->w - c->r);
        c->w -= c->r;
        c->r = 0;
        if (c->w == sizeof c->in)
            return -1;
    }
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int k = poll(&p, 1, wait_ms);
    if (k == 0)
        return 0;
    if (k < 0)
        return errno == EINTR ? 0 : -1;
    ssize_t got = read(c->fd, c->in + c->w, sizeof c->in - c->w);
    if (got <= 0)
        return got < 0 && errno == EINTR ? 0 : -1;
    c->w += (size_t)got;
    return 1;
}

/* A complete "...\r\n" line in the buffer (NUL-terminated in place), or NULL. */
static char *conn_line(conn_t *c)
{
    for (size_t i = c->r; i + 1 < c->w; i++) {
        if (c->in[i] == '\r' && c->in[i + 1] == '\n') {
            char *line = c->in + c->r;
            c->in[i] = '\0';
            c->r = i + 2;
            return line;
        }
    }
    return NULL;
}

/* Wait (bounded by the deadline) for the next line; NULL on error or timeout. */
static char *conn_getline(conn_t *c)
{
    for (;;) {
        char *line = conn_line(c);
        if (line)
            return line;
        if (peer_now_ns() > g_deadline_ns || conn_fill(c, 100) < 0)
            return NULL;
    }
}

/* Wait for n body bytes plus "\r\n"; a pointer to them (valid until the next read). */
static char *conn_getbody(conn_t *c, size_t n)
{
    if (n + 2 > sizeof c->in)
        return NULL;
    while (c->w - c->r < n + 2) {
        if (c->r > 0) {
            memmove(c->in, c->in + c->r, c->w - c->r);
            c->w -= c->r;
            c->r = 0;
        }
        if (peer_now_ns() > g_deadline_ns || conn_fill(c, 100) < 0)
            return NULL;
    }
    char *body = c->in + c->r;
    c->r += n + 2;
    return body;
}

static int expect(conn_t *c, const char *prefix)
{
    char *line = conn_getline(c);
    if (!line || strncmp(line, prefix, strlen(prefix)) != 0) {
        fprintf(stderr, PROG ": expected %s, got %s\n", prefix, line ? line : "(nothing)");
        return -1;
    }
    return 0;
}

static int command(conn_t *c, const char *cmd, const char *want)
{
    out_add(c, cmd, strlen(cmd));
    return conn_flush(c) == 0 ? expect(c, want) : -1;
}

static void put_job(conn_t *c, unsigned pri, const char *body, size_t len)
{
    out_fmt(c, "put %u 0 %d %zu\r\n", pri, TTR, len);
    out_add(c, body, len);
    out_add(c, "\r\n", 2);
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
    uint64_t id;
    char ext[64];
    bool counted;               /* stamped: not the warm-up job */
} held_t;

/* RESERVED id bytes + body into *h (latency recorded); 1 job, 0 TIMED_OUT, -1 error. */
static int read_reserve(conn_t *c, held_t *h, worker_t *w)
{
    char *line = conn_getline(c);
    if (!line)
        return -1;
    if (strcmp(line, "TIMED_OUT") == 0 || strcmp(line, "DEADLINE_SOON") == 0)
        return 0;
    unsigned long long id;
    size_t bytes;
    if (sscanf(line, "RESERVED %llu %zu", &id, &bytes) != 2) {
        fprintf(stderr, PROG ": reserve: %s\n", line);
        return -1;
    }
    char *body = conn_getbody(c, bytes);
    if (!body)
        return -1;
    int64_t got = peer_now_ns(), sent = peer_stamp_of(body, bytes);
    if (sent >= 0)
        peer_lat_add(&w->lat, got - sent);
    h->counted = sent >= 0;
    h->id = id;
    h->ext[0] = '\0';
    const char *p = memmem(body, bytes, "\"external_id\":\"", 15);
    if (p) {
        p += 15;
        size_t k = 0;
        while (k + 1 < sizeof h->ext && p + k < body + bytes && p[k] != '"') {
            h->ext[k] = p[k];
            k++;
        }
        h->ext[k] = '\0';
    }
    return 1;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    const char *dept = peer_depts[w->id % 4];
    conn_t *c = malloc(sizeof *c);
    held_t *held = calloc((size_t)w->cap, sizeof *held);
    w->rc = 1;
    if (!c || !held || conn_open(c, w->port) != 0) {
        fprintf(stderr, PROG ": worker %d: cannot connect\n", w->id);
        atomic_fetch_add(&w->prog->errors, 1);
        free(c);
        free(held);
        return NULL;
    }
    if (command(c, "watch intake\r\n", "WATCHING") || command(c, "ignore default\r\n", "WATCHING") ||
        command(c, "use outcomes\r\n", "USING outcomes"))
        goto out;
    out_fmt(c, "reserve-with-timeout 1\r\n");
    if (conn_flush(c))
        goto out;
    char body[1024];
    while (atomic_load(&w->prog->done) < w->n && !atomic_load(&w->prog->stop) &&
           peer_now_ns() < g_deadline_ns) {
        long nheld = 0;
        int r = read_reserve(c, &held[0], w);
        if (r < 0)
            goto out;
        if (r == 0) {                   /* nothing for a second: ask again */
            out_fmt(c, "reserve-with-timeout 1\r\n");
            if (conn_flush(c))
                goto out;
            continue;
        }
        nheld = 1;
        /* take what else is ready, up to the capacity */
        if (w->cap > 1) {
            for (long k = 1; k < w->cap; k++)
                out_fmt(c, "reserve-with-timeout 0\r\n");
            if (conn_flush(c))
                goto out;
            for (long k = 1; k < w->cap; k++) {
                r = read_reserve(c, &held[nheld], w);
                if (r < 0)
                    goto out;
                nheld += r;
            }
        }
        /* three durable outcomes and the delete per job, then the next reserve */
        for (long k = 0; k < nheld; k++) {
            static const char *const steps[3] = {"accepted", "contacted", "resolved"};
            for (int s = 0; s < 3; s++) {
                int len;
                if (s == 2)
                    len = snprintf(body, sizeof body,
                                   "{\"external_id\":\"%s\",\"job\":%" PRIu64 ",\"department\":\"%s\","
                                   "\"step\":\"%s\",\"at\":%" PRId64 ",\"result\":\"fixed\","
                                   "\"summary\":\"已处理完毕：案件%s\"}",
                                   held[k].ext, held[k].id, dept, steps[s], peer_unix_ms(), held[k].ext);
                else
                    len = snprintf(body, sizeof body,
                                   "{\"external_id\":\"%s\",\"job\":%" PRIu64 ",\"department\":\"%s\","
                                   "\"step\":\"%s\",\"at\":%" PRId64 "%s}",
                                   held[k].ext, held[k].id, dept, steps[s], peer_unix_ms(),
                                   s == 1 ? ",\"note\":\"已电话联系居民\"" : "");
                put_job(c, PRI, body, (size_t)len);
            }
            out_fmt(c, "delete %" PRIu64 "\r\n", held[k].id);
        }
        out_fmt(c, "reserve-with-timeout 1\r\n");
        if (conn_flush(c))
            goto out;
        long counted = 0;
        for (long k = 0; k < nheld; k++) {
            if (expect(c, "INSERTED") || expect(c, "INSERTED") || expect(c, "INSERTED") ||
                expect(c, "DELETED"))
                goto out;
            counted += held[k].counted;
        }
        peer_finished(w->prog, counted, w->n);
    }
    w->rc = 0;
out:
    if (w->rc)
        atomic_fetch_add(&w->prog->errors, 1);
    conn_close(c);
    free(c);
    free(held);
    return NULL;
}

/* ---- producer ----------------------------------------------------------- */

static int case_json(char *buf, size_t cap, const peer_case_t *k)
{
    return snprintf(buf, cap,
                    "{\"external_id\":\"%s\",\"channel\":\"%s\",\"service_code\":\"%s\","
                    "\"grid_code\":\"%s\",\"priority\":\"%s\",\"phone\":\"%s\","
                    "\"first_name\":\"%s\",\"last_name\":\"%s\",\"address_string\":\"%s\","
                    "\"description\":\"%s\"}",
                    k->ext, k->channel, k->service_code, k->grid, k->priority, k->phone,
                    k->first_name, k->last_name, k->address, k->desc);
}

static int probe(int port)
{
    for (int i = 0; i < 100; i++) {
        conn_t *c = malloc(sizeof *c);
        if (c && conn_open(c, port) == 0) {
            g_deadline_ns = peer_now_ns() + 2000000000LL;
            int rc = command(c, "list-tubes\r\n", "OK ");
            conn_close(c);
            free(c);
            if (rc == 0)
                return 0;
        } else {
            free(c);
        }
        peer_sleep_ms(100);
    }
    fprintf(stderr, PROG ": no beanstalkd answered on 127.0.0.1:%d\n", port);
    return 1;
}

int main(int argc, char **argv)
{
    peer_opts_t o;
    peer_parse(argc, argv, &o, "beanstalkd: put into tube intake, reserve, 3 outcome puts, delete");
    if (o.find_ports)
        return peer_print_free_ports(o.find_ports);
    if (o.probe)
        return probe(o.port);

    peer_pace_t pace;
    if (peer_pace_open(&pace, &o) != 0)
        return 1;
    pace.start_ns = peer_now_ns();
    g_deadline_ns = pace.start_ns + (int64_t)o.timeout_s * 1000000000;
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

    conn_t *c = malloc(sizeof *c);
    long acked = 0, next = 0, inflight = 0, errors = 0;
    int64_t submit_end = 0;
    if (!c || conn_open(c, o.port) != 0 || command(c, "use intake\r\n", "USING intake")) {
        fprintf(stderr, PROG ": producer cannot connect\n");
        errors++;
        goto done;
    }
    peer_case_t k;
    char body[2048];
    peer_fill_warmup(&k);
    put_job(c, PRI, body, (size_t)case_json(body, sizeof body, &k));
    if (conn_flush(c) || expect(c, "INSERTED")) {
        errors++;
        goto done;
    }
    pace.start_ns = peer_now_ns();
    while (acked < o.n && peer_now_ns() < g_deadline_ns && !atomic_load(&prog.errors)) {
        int64_t t = peer_now_ns();
        while (inflight < o.window && peer_due(&pace, next, t)) {
            peer_fill_case(&k, next, peer_stamp(&pace, next));
            int len = case_json(body, sizeof body, &k);
            put_job(c, PRI, body, (size_t)len);
            next++;
            inflight++;
        }
        if (c->olen && conn_flush(c)) {
            errors++;
            break;
        }
        int ready = peer_pace_wait(&pace, inflight > 0 ? c->fd : -1, next, inflight);
        if (ready < 0 || (ready > 0 && conn_fill(c, 0) < 0)) {
            errors++;
            break;
        }
        for (char *line; (line = conn_line(c));) {
            if (strncmp(line, "INSERTED ", 9) != 0) {
                fprintf(stderr, PROG ": put: %s\n", line);
                errors++;
                goto done;
            }
            acked++;
            inflight--;
        }
    }
    submit_end = peer_now_ns();
done:
    if (errors || acked < o.n)
        atomic_store(&prog.stop, 1);
    if (c)
        conn_close(c);
    free(c);
    peer_pace_close(&pace);
    for (long i = 0; i < o.workers; i++)
        pthread_join(th[i], NULL);
    peer_lat_t lats[PEER_MAX_WORKERS];
    for (long i = 0; i < o.workers; i++)
        lats[i] = ws[i].lat;
    return peer_finish(PROG, &o, lats, &prog, acked, &pace, submit_end, errors);
}
