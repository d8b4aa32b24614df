/*
 * zmq_hop.c - the latency of one ZeroMQ hop between two processes over
 * loopback TCP, at a steady pace: the floor under minqing's submit->dispatch
 * latency, which is two such hops plus the broker's work (bench/README.md).
 *
 *   build/zmq_hop [N [RATE]]     N messages (10000) at RATE/s (1000)
 *
 * The sender stamps CLOCK_MONOTONIC ns into each message; the receiver, the
 * parent, subtracts it on receipt. Two lines, p50/p90/p99/p99.9 in ms: the
 * ZeroMQ hop (PUSH->PULL), then the same over a plain TCP socket (write, and
 * a blocking read), which is the hop the peers' clients make. The difference
 * is ZeroMQ's I/O threads: a message wakes three threads in turn (the
 * sender's I/O thread, the receiver's, then the receiving thread), where a
 * socket write wakes the reader alone.
 */
#include "floor.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define WAIT_MS 5000            /* a receive that waits longer ends the run: the sender died */

/* One hop, either over ZeroMQ (sock) or a plain TCP socket (fd). */
typedef struct {
    void *sock;
    int fd;
} hop_t;

static int hop_send(hop_t *h, long long t)
{
    if (h->sock)
        return zmq_send(h->sock, &t, sizeof t, 0) == (int)sizeof t ? 0 : -1;
    return write(h->fd, &t, sizeof t) == (ssize_t)sizeof t ? 0 : -1;
}

static int hop_recv(hop_t *h, long long *t)
{
    if (h->sock)
        return zmq_recv(h->sock, t, sizeof *t, 0) == (int)sizeof *t ? 0 : -1;
    return read(h->fd, t, sizeof *t) == (ssize_t)sizeof *t ? 0 : -1;
}

static int receive(hop_t *h, int n, const char *what)
{
    long long *d = malloc((size_t)n * sizeof *d);
    int i = 0;
    for (long long t; d && i < n && hop_recv(h, &t) == 0; i++)
        d[i] = floor_now_ns() - t;
    if (d && i == n) {
        char line[96];
        snprintf(line, sizeof line, "zmq_hop: %d messages, one hop %s", n, what);
        floor_report(line, d, n);
    }
    free(d);
    return i == n ? 0 : 1;
}

/* The child: connected first, then n stamps at the pace. */
static void send_paced(hop_t *h, int n, int rate)
{
    usleep(200000);
    long long start = floor_now_ns();
    for (int i = 0; i < n; i++) {
        floor_pace(start, i, rate);
        if (hop_send(h, floor_now_ns()) != 0)
            _exit(1);
    }
}

static int zmq_run(int n, int rate)
{
    void *ctx = zmq_ctx_new(), *pull = zmq_socket(ctx, ZMQ_PULL);
    char ep[256];
    size_t len = sizeof ep;
    int wait = WAIT_MS;
    if (zmq_setsockopt(pull, ZMQ_RCVTIMEO, &wait, sizeof wait) || zmq_bind(pull, "tcp://127.0.0.1:*") || zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, ep, &len)) {
        fprintf(stderr, "zmq_hop: %s\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    pid_t pid = fork();
    if (pid == 0) {                 /* a process of its own, fresh context */
        void *c = zmq_ctx_new();
        hop_t h = {zmq_socket(c, ZMQ_PUSH), -1};
        zmq_connect(h.sock, ep);
        send_paced(&h, n, rate);
        zmq_close(h.sock);
        zmq_ctx_term(c);
        _exit(0);
    }
    hop_t h = {pull, -1};
    int rc = pid < 0 ? 1 : receive(&h, n, "PUSH->PULL over tcp");
    if (pid > 0)
        waitpid(pid, NULL, 0);
    zmq_close(pull);
    zmq_ctx_term(ctx);
    return rc;
}

static int tcp_run(int n, int rate)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    struct timeval wait = {WAIT_MS / 1000, 0};
    int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait) || bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 1) ||
        getsockname(lfd, (struct sockaddr *)&a, &alen)) {
        perror("zmq_hop: tcp");
        return 1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        hop_t h = {NULL, socket(AF_INET, SOCK_STREAM, 0)};
        if (connect(h.fd, (struct sockaddr *)&a, sizeof a) != 0)
            _exit(1);
        setsockopt(h.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        send_paced(&h, n, rate);
        _exit(0);
    }
    hop_t h = {NULL, pid < 0 ? -1 : accept(lfd, NULL, NULL)};   /* SO_RCVTIMEO bounds it */
    if (h.fd >= 0)
        setsockopt(h.fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    int rc = h.fd < 0 ? 1 : receive(&h, n, "over a plain tcp socket");
    if (pid > 0)
        waitpid(pid, NULL, 0);
    if (h.fd >= 0)
        close(h.fd);
    close(lfd);
    return rc;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10000, rate = argc > 2 ? atoi(argv[2]) : 1000;
    if (n < 1000 || rate < 1) {
        fprintf(stderr, "usage: zmq_hop [N >= 1000 [RATE]]\n");
        return 2;
    }
    return zmq_run(n, rate) || tcp_run(n, rate);
}
