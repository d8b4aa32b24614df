/*
 * peers.h - what the peer benchmarks (beanstalk_bench.c, redis_bench.c) share:
 * the clock, the case content (the same ~600 bytes of UTF-8 that loadgen
 * sends to minqing, with the same ' mono_ns=NS' send stamp), the producer's
 * schedule, the options and the result line that bench/run.sh reads.
 *
 * Header-only (static inline) so each peer benchmark is one translation unit.
 */
#ifndef MINQING_BENCH_PEERS_H
#define MINQING_BENCH_PEERS_H

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define PEER_MAX_WORKERS 16
#define PEER_MAX_CAP 256

static inline int64_t peer_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t peer_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void peer_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* The four departments, one per service code (minqing's bench config routes
 * each code to its department; the peers have no routing, any worker takes
 * any case, and the worker's department is what it writes in its outcomes). */
static const char *const peer_codes[4] = {"water.leak", "road.pothole", "wage.arrears",
                                          "info.consult"};
static const char *const peer_depts[4] = {"water", "urban", "hrss", "dispatch"};

/* One case, field for field what loadgen's fill_case() sends to minqing. */
typedef struct {
    char ext[64], grid[80], desc[1024], phone[32];
    const char *service_code, *channel, *first_name, *last_name, *address, *priority;
} peer_case_t;

/* stamp: the ' mono_ns=' the case carries (peer_stamp), none when < 0 */
static inline void peer_fill_case(peer_case_t *c, long i, int64_t stamp)
{
    static const char *const streets[] = {"CG01", "XG02"};
    static const char *const comms[] = {"XH01", "DJ02", "BT03"};
    snprintf(c->ext, sizeof c->ext, "pb-%ld", i);
    snprintf(c->grid, sizeof c->grid, "%s-%s-G%04ld", streets[i % 2], comms[i % 3], i % 997);
    int len = snprintf(c->desc, sizeof c->desc,
                       "居民反映：小区%ld号楼附近出现问题，已持续三天，影响周边住户正常生活。"
                       "楼下积水严重，老人和孩子出行不便，夜间照明不足，存在安全隐患。希望相关部门"
                       "尽快派人到现场查看处理，并及时反馈处理结果。联系时请先打电话，白天在家。"
                       "（编号%ld，测试数据）", i % 120 + 1, i);
    if (stamp >= 0)     /* for the submit-to-dispatch latency */
        snprintf(c->desc + len, sizeof c->desc - (size_t)len, " mono_ns=%" PRId64, stamp);
    snprintf(c->phone, sizeof c->phone, "138%08ld", i % 100000000);
    c->service_code = peer_codes[i % 4];
    c->channel = "hotline";
    c->first_name = "张";
    c->last_name = "三";
    c->address = "城关区西湖街道幸福小区";
    c->priority = i % 10 == 0 ? "urgent" : "normal";
}

/* The warm-up case: like the others but unstamped, so that the workers take it
 * through and count it nowhere. Each producer submits it, and waits for its
 * acknowledgement, before its start, as loadgen -M does for minqing. */
static inline void peer_fill_warmup(peer_case_t *c)
{
    peer_fill_case(c, 0, -1);
    snprintf(c->ext, sizeof c->ext, "pb-warmup");
}

/* The send stamp in a description (or any text holding one), -1 if none. */
static inline int64_t peer_stamp_of(const char *text, size_t len)
{
    static const char key[] = " mono_ns=";
    const size_t klen = sizeof key - 1;
    for (size_t i = 0; i + klen < len; i++) {
        if (memcmp(text + i, key, klen) != 0)
            continue;
        int64_t v = 0;
        size_t j = i + klen;
        if (j >= len || text[j] < '0' || text[j] > '9')
            return -1;
        for (; j < len && text[j] >= '0' && text[j] <= '9'; j++)
            v = v * 10 + (text[j] - '0');
        return v;
    }
    return -1;
}

/* Options common to both peer benchmarks. */
typedef struct {
    int port;
    long n, window, rate, workers, cap, timeout_s;
    const char *latpath;
    int find_ports;                     /* -F COUNT: print that many free ports */
    bool probe;
} peer_opts_t;

static inline void peer_usage(const char *prog, const char *what)
{
    fprintf(stderr,
        "usage: %s -p PORT -n N [-w WINDOW] [-r RATE] [-W WORKERS] [-c CAP] [-t TIMEOUT_S]\n"
        "          [-L LATFILE]\n"
        "       %s -F COUNT      print COUNT distinct free TCP ports on 127.0.0.1, one a line\n"
        "       %s -p PORT -P    wait up to 10 s for the server on 127.0.0.1:PORT to answer\n"
        "  %s\n"
        "  One producer submits N cases, WINDOW unacknowledged at most (default 64), at\n"
        "  most RATE/s (default unpaced); WORKERS department workers (default 4) each\n"
        "  hold up to CAP cases (default 16), write three outcomes per case and complete\n"
        "  it; before its start, the producer submits one unstamped warm-up case, not\n"
        "  counted. LATFILE gets one line per case: ns from its send stamp to its receipt by\n"
        "  a worker: from the case's send (paced: from its scheduled send, start + k/RATE).\n"
        "  Prints 'RESULT acked=.. lifecycles=.. n=.. start_mono_ns=.. submit_end_mono_ns=..\n"
        "  done_mono_ns=.. errors=.. max_lag_ns=..' (paced: the largest send - scheduled\n"
        "  send); exit 0 when all N finished.\n",
        prog, prog, prog, what);
    exit(2);
}

static inline void peer_parse(int argc, char **argv, peer_opts_t *o, const char *what)
{
    *o = (peer_opts_t){.window = 64, .workers = 4, .cap = 16, .timeout_s = 300};
    int opt;
    while ((opt = getopt(argc, argv, "p:n:w:r:W:c:t:L:F:Ph")) != -1) {
        switch (opt) {
        case 'p': o->port = atoi(optarg); break;
        case 'n': o->n = atol(optarg); break;
        case 'w': o->window = atol(optarg); break;
        case 'r': o->rate = atol(optarg); break;
        case 'W': o->workers = atol(optarg); break;
        case 'c': o->cap = atol(optarg); break;
        case 't': o->timeout_s = atol(optarg); break;
        case 'L': o->latpath = optarg; break;
        case 'F': o->find_ports = atoi(optarg); break;
        case 'P': o->probe = true; break;
        default: peer_usage(argv[0], what);
        }
    }
    if (o->find_ports != 0) {
        if (o->find_ports < 1 || o->find_ports > 16)
            peer_usage(argv[0], what);
        return;
    }
    if (o->port <= 0 || o->port > 65535)
        peer_usage(argv[0], what);
    if (o->probe)
        return;
    if (o->n <= 0 || o->window <= 0 || o->rate < 0 || o->workers < 1 ||
        o->workers > PEER_MAX_WORKERS || o->cap < 1 || o->cap > PEER_MAX_CAP || o->timeout_s < 1)
        peer_usage(argv[0], what);
}

/* The producer's schedule. Paced, case k is due at start + k/rate and carries
 * that due time as its stamp, not the time it was sent: a case the producer
 * holds back (a full window, a late wake-up) then counts that wait too, as a
 * resident's report would (no coordinated omission). The wait is on a timerfd
 * armed for the next due time, polled with the socket, so that the producer
 * wakes at the due time itself rather than at the next whole millisecond;
 * max_lag_ns is the largest send - due time, how far it fell behind. Unpaced,
 * a case is stamped when it is sent. */
typedef struct {
    long n, rate, window;
    int64_t start_ns, max_lag_ns;
    int tfd;                    /* CLOCK_MONOTONIC timerfd; -1 unpaced */
} peer_pace_t;

static inline int peer_pace_open(peer_pace_t *p, const peer_opts_t *o)
{
    *p = (peer_pace_t){.n = o->n, .rate = o->rate, .window = o->window, .tfd = -1};
    if (o->rate > 0 && (p->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)) < 0) {
        perror("timerfd_create");
        return -1;
    }
    return 0;
}

static inline void peer_pace_close(peer_pace_t *p)
{
    if (p->tfd >= 0)
        close(p->tfd);
    p->tfd = -1;
}

static inline int64_t peer_due_ns(const peer_pace_t *p, long k)
{
    return p->start_ns + k * 1000000000 / p->rate;
}

/* Whether case `next` may be sent at `now` (unpaced: at once), window aside. */
static inline bool peer_due(const peer_pace_t *p, long next, int64_t now)
{
    return next < p->n && (p->rate == 0 || peer_due_ns(p, next) <= now);
}

/* The stamp of case `next`, which is being sent now. */
static inline int64_t peer_stamp(peer_pace_t *p, long next)
{
    int64_t now = peer_now_ns();
    if (p->rate == 0)
        return now;
    int64_t due = peer_due_ns(p, next);
    if (now - due > p->max_lag_ns)
        p->max_lag_ns = now - due;
    return due;
}

/* Wait up to 100 ms for fd (ignored when < 0) to be readable or, when a case
 * may be sent (one is left and the window has room), for it to fall due.
 * 1: fd is readable; 0: time to look again; -1: error. */
static inline int peer_pace_wait(peer_pace_t *p, int fd, long next, long inflight)
{
    if (p->tfd >= 0) {
        struct itimerspec its = {{0, 0}, {0, 0}};   /* disarmed: nothing to send */
        if (next < p->n && inflight < p->window) {
            int64_t due = peer_due_ns(p, next);
            its.it_value = (struct timespec){due / 1000000000, due % 1000000000};
        }
        if (timerfd_settime(p->tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0) {
            perror("timerfd_settime");
            return -1;
        }
    }
    struct pollfd pf[2] = {{.fd = fd, .events = POLLIN}, {.fd = p->tfd, .events = POLLIN}};
    int k = poll(pf, 2, 100);
    if (k < 0)
        return errno == EINTR ? 0 : -1;
    return fd >= 0 && pf[0].revents != 0;
}

/* Print N TCP ports that were free on 127.0.0.1 a moment ago. Every socket
 * stays bound until all are printed, so that the kernel never hands out one
 * port twice (three ports asked one at a time once came back equal). */
static inline int peer_print_free_ports(int n)
{
    int fds[16], rc = 0, i;
    for (i = 0; i < n && rc == 0; i++) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t sl = sizeof sa;
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&sa, sizeof sa) != 0 ||
            getsockname(fds[i], (struct sockaddr *)&sa, &sl) != 0) {
            perror("free port");
            rc = 1;
        } else
            printf("%d\n", ntohs(sa.sin_port));
    }
    while (i-- > 0)
        if (fds[i] >= 0)
            close(fds[i]);
    return rc;
}

/* A TCP connection to 127.0.0.1:port with Nagle off; -1 on failure. */
static inline int peer_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {5, 0};         /* no write blocks for long; reads poll first */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

/* Latencies, one array per worker, written to LATFILE at the end. */
typedef struct {
    int64_t *v;
    long len, cap;
} peer_lat_t;

static inline void peer_lat_add(peer_lat_t *l, int64_t ns)
{
    if (l->len < l->cap)
        l->v[l->len++] = ns;
}

static inline int peer_lat_write(const char *path, const peer_lat_t *lats, long nlats)
{
    if (!path)
        return 0;
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return -1;
    }
    for (long w = 0; w < nlats; w++)
        for (long i = 0; i < lats[w].len; i++)
            fprintf(f, "%" PRId64 "\n", lats[w].v[i]);
    return fclose(f);
}

/* Finished lifecycles across the workers, and when the last one finished. */
typedef struct {
    atomic_long done;
    atomic_llong done_ns;
    atomic_int stop;            /* the producer gave up or the time ran out */
    atomic_long errors;
} peer_progress_t;

static inline void peer_finished(peer_progress_t *p, long count, long n)
{
    long total = atomic_fetch_add(&p->done, count) + count;
    if (total >= n)
        atomic_store(&p->done_ns, (long long)peer_now_ns());
}

static inline void peer_result(const char *prog, long acked, long lifecycles, long n,
                               int64_t start_ns, int64_t submit_end_ns, int64_t done_ns,
                               long errors, int64_t max_lag_ns)
{
    printf("%s: RESULT acked=%ld lifecycles=%ld n=%ld start_mono_ns=%" PRId64
           " submit_end_mono_ns=%" PRId64 " done_mono_ns=%" PRId64 " errors=%ld max_lag_ns=%" PRId64
           "\n", prog, acked, lifecycles, n, start_ns, submit_end_ns, done_ns, errors, max_lag_ns);
    fflush(stdout);
}

/* After the workers joined: write their latencies, print the RESULT line, free
 * the latencies; the exit status of the run (0 when every case completed). */
static inline int peer_finish(const char *prog, const peer_opts_t *o, peer_lat_t *lats,
                              peer_progress_t *p, long acked, const peer_pace_t *pace,
                              int64_t submit_end_ns, long errors)
{
    if (peer_lat_write(o->latpath, lats, o->workers))
        errors++;
    long done_count = atomic_load(&p->done);
    errors += atomic_load(&p->errors);
    peer_result(prog, acked, done_count, o->n, pace->start_ns, submit_end_ns,
                done_count >= o->n ? (int64_t)atomic_load(&p->done_ns) : peer_now_ns(), errors,
                pace->max_lag_ns);
    for (long i = 0; i < o->workers; i++)
        free(lats[i].v);
    return acked == o->n && done_count >= o->n && errors == 0 ? 0 : 1;
}

#endif
