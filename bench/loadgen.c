/*
 * loadgen.c - submit N realistic cases through libminqing with a bounded
 * window in flight, and record each acknowledged case.
 *
 * Used by the end-to-end tests (kill -9 rounds check every line of the ack
 * file against the database) and by the benchmarks. A submission counts only
 * once SUBMIT_OK came back, i.e. once the broker committed it durably.
 * Resending is safe: (channel, external_id) makes SUBMIT idempotent.
 *
 * Paced (-r), case k is due at start + k/RATE. With -M it carries that due
 * time as its stamp, not the time it was sent, so that a case held back here
 * (a full window, a late wake-up) counts the wait too: no coordinated
 * omission. Unpaced, a case is stamped when it is first sent.
 * With -M it first submits one unstamped case and waits for its SUBMIT_OK, so
 * that the connection's set-up (ZeroMQ connects lazily) is not in the first
 * measured cases, as the peers' clients connect before their start.
 */
#include "minqing.h"

#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char msg_id[40];
    long idx;                   /* case number, -1 when the slot is free */
    int64_t sent_us;
    int64_t stamp_ns;           /* its -M stamp, kept for a resend */
} slot_t;

static const char *const default_codes = "water.leak,road.pothole,noise.night,wage.arrears,"
                                         "water.outage,streetlight.out";

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t now_us(void)
{
    return now_ns() / 1000;
}

static int64_t due_ns(int64_t start_ns, long k, long rate)
{
    return start_ns + k * 1000000000 / rate;
}

/* Sleep on the timerfd until `due`. libminqing's client waits in whole
 * milliseconds and has no fd to poll beside the timer, so the loop waits
 * for replies until 1-2 ms before a send is due and spends only that last
 * stretch here, which the timer ends at the due time itself. */
static void wait_due(int tfd, int64_t due)
{
    struct itimerspec its = {{0, 0}, {due / 1000000000, due % 1000000000}};
    struct pollfd p = {.fd = tfd, .events = POLLIN};
    if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        poll(&p, 1, 10);
}

static void usage(void)
{
    fprintf(stderr,
        "usage: loadgen -e ENDPOINT -n N [-w WINDOW] [-p PREFIX] [-c CODES] [-o ACKFILE]\n"
        "               [-t TIMEOUT_S] [-r RATE] [-M]\n"
        "  submits N cases (external ids PREFIX-0..N-1, service codes cycling through\n"
        "  the comma-separated CODES), WINDOW in flight (default 64), at most RATE/s\n"
        "  (default unpaced); writes 'external_id case_id latency_us' per ack to ACKFILE.\n"
        "  -M stamps each sent case with ' mono_ns=NS' at the end of its description, for\n"
        "  `simworker -L`: CLOCK_MONOTONIC at its first send, or with -r at its scheduled\n"
        "  send (start + k/RATE); prints one more line: 'loadgen: start_mono_ns=NS\n"
        "  end_mono_ns=NS max_lag_ns=NS' (-r: the largest send - scheduled send). Before\n"
        "  its start, -M submits one unstamped warm-up case, PREFIX-warmup, and waits for\n"
        "  its SUBMIT_OK; it is not counted (simworker -L does not count it either).\n");
    exit(2);
}

/* ~600 bytes of realistic UTF-8: a resident's report in Chinese. */
static void fill_case(msg_case_t *c, long i, const char *prefix, char **codes, int ncodes,
                      char *ext, char *grid, char *desc, char *phone, int64_t stamp)
{
    static const char *const streets[] = {"CG01", "XG02"};
    static const char *const comms[] = {"XH01", "DJ02", "BT03"};
    memset(c, 0, sizeof *c);
    sprintf(ext, "%s-%ld", prefix, i);
    sprintf(grid, "%s-%s-G%04ld", streets[i % 2], comms[i % 3], i % 997);
    sprintf(desc, "居民反映：小区%ld号楼附近出现问题，已持续三天，影响周边住户正常生活。"
            "楼下积水严重，老人和孩子出行不便，夜间照明不足，存在安全隐患。希望相关部门"
            "尽快派人到现场查看处理，并及时反馈处理结果。联系时请先打电话，白天在家。"
            "（编号%ld，测试数据）", i % 120 + 1, i);
    if (stamp >= 0)     /* for the submit-to-dispatch latency */
        sprintf(desc + strlen(desc), " mono_ns=%" PRId64, stamp);
    sprintf(phone, "138%08ld", i % 100000000);
    c->service_code = codes[i % ncodes];
    c->description = desc;
    c->external_id = ext;
    c->channel = "hotline";
    c->grid_code = grid;
    c->phone = phone;
    c->first_name = "张";
    c->last_name = "三";
    c->address_string = "城关区西湖街道幸福小区";
    c->priority = i % 10 == 0 ? PRIO_URGENT : PRIO_NORMAL;
    c->present |= (uint64_t)1 << CF_PRIORITY;
}

/* One case, PREFIX-warmup, submitted and acknowledged: the connection is up
 * and the broker has answered once. 0, or -1 with the reason printed. */
static int warm_up(mq_client_t *client, const char *prefix, char **codes, int ncodes,
                   long timeout_s)
{
    char ext[64], grid[80], desc[1024], phone[32];
    msg_case_t c;
    uint64_t id;
    fill_case(&c, 0, prefix, codes, ncodes, ext, grid, desc, phone, -1);
    snprintf(ext, sizeof ext, "%s-warmup", prefix);
    if (mq_client_submit(client, &c, (int)(timeout_s < 30 ? timeout_s : 30) * 1000, &id, NULL) != 0) {
        fprintf(stderr, "loadgen: warm-up case: %s\n", mq_strerror());
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *endpoint = NULL, *prefix = "lg", *ackpath = NULL;
    char *codes_arg = strdup(default_codes);
    long n = 0, window = 64, timeout_s = 600, rate = 0;
    bool stamp = false;
    int opt;
    while ((opt = getopt(argc, argv, "e:n:w:p:c:o:t:r:Mh")) != -1) {
        switch (opt) {
        case 'e': endpoint = optarg; break;
        case 'n': n = atol(optarg); break;
        case 'w': window = atol(optarg); break;
        case 'p': prefix = optarg; break;
        case 'c': free(codes_arg); codes_arg = strdup(optarg); break;
        case 'o': ackpath = optarg; break;
        case 't': timeout_s = atol(optarg); break;
        case 'r': rate = atol(optarg); break;
        case 'M': stamp = true; break;
        default: usage();
        }
    }
    if (!endpoint || n <= 0 || window <= 0)
        usage();
    char *codes[64];
    int ncodes = 0;
    for (char *tok = strtok(codes_arg, ","); tok && ncodes < 64; tok = strtok(NULL, ","))
        codes[ncodes++] = tok;

    FILE *ack = ackpath ? fopen(ackpath, "a") : NULL;
    if (ackpath && !ack) {
        perror(ackpath);
        return 1;
    }
    int tfd = rate > 0 ? timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK) : -1;
    if (rate > 0 && tfd < 0) {
        perror("timerfd_create");
        return 1;
    }
    mq_client_t *client = mq_client_new(endpoint);
    if (!client) {
        fprintf(stderr, "loadgen: %s\n", mq_strerror());
        return 1;
    }
    int64_t deadline = now_us() + timeout_s * 1000000;     /* the warm-up's time included */
    if (stamp && warm_up(client, prefix, codes, ncodes, timeout_s) != 0)
        return 1;
    slot_t *slots = calloc((size_t)window, sizeof *slots);
    unsigned char *done = calloc((size_t)n, 1);
    for (long s = 0; s < window; s++)
        slots[s].idx = -1;

    long next = 0, acked = 0, dups = 0, errors = 0, resent = 0;
    int64_t start_ns = now_ns(), start = start_ns / 1000;
    int64_t max_lag_ns = 0;
    char ext[64], grid[80], desc[1024], phone[32];
    msg_case_t c;
    msg_t reply;
    while (acked < n && now_us() < deadline) {
        int64_t tn = now_ns(), t = tn / 1000;
        /* fill free slots, and resend those unanswered for 2 s */
        for (long s = 0; s < window; s++) {
            slot_t *sl = &slots[s];
            bool fresh = sl->idx < 0 && next < n &&
                         (rate <= 0 || due_ns(start_ns, next, rate) <= tn);
            bool stale = sl->idx >= 0 && t - sl->sent_us > 2000000;
            if (!fresh && !stale)
                continue;
            if (fresh) {
                sl->idx = next++;
                sl->stamp_ns = now_ns();
                if (rate > 0) {
                    int64_t due = due_ns(start_ns, sl->idx, rate);
                    if (sl->stamp_ns - due > max_lag_ns)
                        max_lag_ns = sl->stamp_ns - due;
                    sl->stamp_ns = due;
                }
            } else {
                resent++;
            }
            fill_case(&c, sl->idx, prefix, codes, ncodes, ext, grid, desc, phone,
                      stamp ? sl->stamp_ns : -1);
            if (mq_client_send_submit(client, &c, sl->msg_id) != 0) {
                fprintf(stderr, "loadgen: %s\n", mq_strerror());
                return 1;
            }
            sl->sent_us = t;
        }
        /* paced: wait for replies until shortly before the next send is due,
         * then for the rest on the timer (wait_due) */
        int wait_ms = 100;
        bool slot_free = false;
        for (long s = 0; s < window && !slot_free; s++)
            slot_free = slots[s].idx < 0;
        int64_t due = rate > 0 && next < n && slot_free ? due_ns(start_ns, next, rate) : -1;
        if (due >= 0) {
            int64_t left = due - now_ns();
            wait_ms = left < 2000000 ? 0 : left >= 101000000 ? 100 : (int)(left / 1000000) - 1;
        }
        int got = mq_client_recv(client, &reply, wait_ms);
        for (; got == 1; got = mq_client_recv(client, &reply, 0)) {
            if (!MSG_HAS(&reply, MF_RE))
                continue;
            slot_t *sl = NULL;
            for (long s = 0; s < window && !sl; s++)
                if (slots[s].idx >= 0 && strcmp(slots[s].msg_id, reply.re) == 0)
                    sl = &slots[s];
            if (!sl)
                continue;           /* a reply to a copy we already settled */
            if (reply.cmd == MSG_ERROR) {
                if (reply.code < 500) {
                    fprintf(stderr, "loadgen: case %ld refused: %u %s\n", sl->idx, reply.code,
                            reply.reason_text);
                    errors++;
                    done[sl->idx] = 1;
                    acked++;
                    sl->idx = -1;
                } else {
                    sl->sent_us = 0;        /* retry at once */
                }
                continue;
            }
            if (reply.cmd != MSG_SUBMIT_OK)
                continue;
            if (!done[sl->idx]) {
                done[sl->idx] = 1;
                acked++;
                dups += reply.duplicate;
                if (ack)
                    fprintf(ack, "%s-%ld %" PRIu64 " %" PRId64 "\n", prefix, sl->idx,
                            reply.case_id, now_us() - sl->sent_us);
            }
            sl->idx = -1;
        }
        if (ack)
            fflush(ack);
        if (due >= 0 && due - now_ns() < 2000000)
            wait_due(tfd, due);
    }
    int64_t end_ns = now_ns();
    double secs = (double)(end_ns / 1000 - start) / 1e6;
    printf("loadgen: %ld of %ld acked in %.2f s = %.0f cases/s; duplicates %ld, resent %ld, "
           "refused %ld\n", acked, n, secs, acked / secs, dups, resent, errors);
    if (stamp)
        printf("loadgen: start_mono_ns=%" PRId64 " end_mono_ns=%" PRId64 " max_lag_ns=%" PRId64 "\n",
               start_ns, end_ns, max_lag_ns);
    if (ack)
        fclose(ack);
    mq_client_destroy(&client);
    if (tfd >= 0)
        close(tfd);
    free(slots);
    free(done);
    free(codes_arg);
    return acked == n && errors == 0 ? 0 : 1;
}
