/*
 * zmq_hop.c - the latency of one ZeroMQ hop between two processes over
 * loopback TCP, at a steady pace: the floor under minqing's submit->dispatch
 * latency, which is two such hops plus the broker's work (bench/README.md).
 *
 *   build/zmq_hop [N [RATE]]     N messages (10000) at RATE/s (1000)
 *
 * The sender stamps CLOCK_MONOTONIC ns into each message; the receiver, a
 * forked child, subtracts it on receipt and prints p50/p90/p99/p99.9 in ms.
 */
#include "floor.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

static int receive(void *sock, int n)
{
    long long *d = malloc((size_t)n * sizeof *d);
    if (!d)
        return 1;
    for (int i = 0; i < n; i++) {
        long long t;
        if (zmq_recv(sock, &t, sizeof t, 0) != (int)sizeof t)
            return 1;
        d[i] = floor_now_ns() - t;
    }
    char what[80];
    snprintf(what, sizeof what, "zmq_hop: %d messages, one hop PUSH->PULL over tcp", n);
    floor_report(what, d, n);
    free(d);
    return 0;
}

static void send_paced(void *sock, int n, int rate)
{
    long long start = floor_now_ns();
    for (int i = 0; i < n; i++) {
        floor_pace(start, i, rate);
        long long t = floor_now_ns();
        zmq_send(sock, &t, sizeof t, 0);
    }
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10000, rate = argc > 2 ? atoi(argv[2]) : 1000;
    if (n < 1000 || rate < 1) {
        fprintf(stderr, "usage: zmq_hop [N >= 1000 [RATE]]\n");
        return 2;
    }
    void *ctx = zmq_ctx_new(), *pull = zmq_socket(ctx, ZMQ_PULL);
    char ep[256];
    size_t len = sizeof ep;
    if (zmq_bind(pull, "tcp://127.0.0.1:*") || zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, ep, &len)) {
        fprintf(stderr, "zmq_hop: %s\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    pid_t pid = fork();
    if (pid == 0) {                 /* the sender: a process of its own, fresh context */
        void *c = zmq_ctx_new(), *push = zmq_socket(c, ZMQ_PUSH);
        zmq_connect(push, ep);
        usleep(200000);             /* connected before the clock starts */
        send_paced(push, n, rate);
        zmq_close(push);
        zmq_ctx_term(c);
        _exit(0);
    }
    int rc = pid < 0 ? 1 : receive(pull, n);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    zmq_close(pull);
    zmq_ctx_term(ctx);
    return rc;
}
