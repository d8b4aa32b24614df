/*
 * main.c - minqing-worker, the generic exec adapter: it connects a
 * department to the broker without writing C. Each assignment the department
 * receives runs a command (/bin/sh -c CMD) with the case as one JSON object on
 * stdin; each line the command prints on stdout is one outcome
 * ({"event":"accepted"}, "contacted", "progress", "resolved", "returned"),
 * reported to the broker through libminqing. So a department's adapter can be
 * a ten-line shell script: an SMS gateway, a bridge to a ticket system, a
 * file drop.
 *
 * Why one process with one poll loop and no threads: the state is small (the
 * commands in flight and their pipes), libminqing objects are not thread-safe,
 * and a loop over the broker's fd, the children's pipes and a signalfd keeps
 * every decision in one place, in order. The signals are blocked before
 * libzmq starts its threads, so no call is ever interrupted (EINTR) and no
 * handler runs behind the loop's back. The loop:
 *
 *   broker fd ──mq_worker_next(0) until MQ_NOTHING──▶ job list (FIFO, deduplicated
 *                                                      by assignment_id)
 *   job list ──at most --concurrency──▶ /bin/sh -c CMD, own process group
 *        stdin  ◀── the case as JSON (written as the pipe takes it)
 *        stdout ──▶ line buffers ──▶ events ──▶ mq_worker_accept/... (garbage logged;
 *                   at most 100 accepted/contacted/progress a run)
 *        stderr ──▶ a log line per line, prefixed with the job's ids, digit runs
 *                   masked, within a budget (20 a run per 10 s, then suppressed=N)
 *   SIGCHLD / SIGTERM ──▶ signalfd ──▶ reap / stop taking work
 *
 * A command that fails (non-zero exit, a signal, cannot start, past --timeout,
 * or printed no outcome) does not lose its case: it runs again after
 * a backoff of 1 s, 2 s, 4 s ... up to --retries times, and then the
 * assignment is RETURNED (reason "other", the failure in the note) so that the
 * manual dispatch centre sees it; with --on-failure return at once. An
 * escalation notice that still fails is released unacknowledged: libminqing
 * hands the broker's next copy (every 5 s) out again, and it runs again. An
 * assignment that already reported resolved or returned is done whatever the
 * exit code. A command that ends after contacted/progress, whatever its exit,
 * leaves its case open with the department (it still counts against
 * --capacity), and is not run again: the resident was reached. On SIGTERM no
 * new command starts, running ones get up to 10 s, outcomes are flushed (exit
 * 1 when one is left unacknowledged, their count logged). Work not started or
 * not finished stays with the broker, which delivers it again. A broker that
 * ends the session (the key revoked by a reload) does not stop the adapter:
 * the commands go on, libminqing keeps their outcomes and registers again
 * until the key is allowed back; only a refusal before the first session
 * (another department's key, an unknown department) ends it.
 *
 * Logs are logfmt lines on stderr and never carry personal data: a job is
 * named by assignment_id, case_id and department, a bad stdout line by its
 * number and what is wrong with it, never by its text. The command's own
 * stderr is passed on (event=cmd.stderr) with every number of 7 or more digits,
 * every e-mail address, coordinate and escaped non-ASCII character masked, as
 * `minqing show` masks free text (13812345678 -> 138****5678), and the case's
 * own name, address, e-mail and phone too, however the command escaped them;
 * other people's names and addresses cannot be recognised there, so keeping
 * them out of stderr stays the command's responsibility.
 */

/*
 * The modules, one idea each: wconfig (options, the INI file, --help), wlog
 * (logfmt records), job (one assignment or notice), input (its JSON on the
 * command's stdin), seen (assignments finished lately, or left open),
 * delivery (taking work from the broker), spawn and run (starting, timing out, reaping
 * commands), reader and output (the command's stdout and stderr), settle
 * (the end of a run: done, retried, returned), pollset; this file is the
 * loop that drives them.
 */
#include "adapter.h"
#include "delivery.h"
#include "fd.h"
#include "input.h"
#include "output.h"
#include "pollset.h"
#include "run.h"
#include "settle.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define POLL_MAX_MS      250        /* mq_worker_next at least this often */
#define STOP_WAIT_MS     10000      /* SIGTERM: time left to running commands */
#define FLUSH_MS         5000       /* SIGTERM: time for the last outcomes */
#define SEEN_MIN         4096       /* finished, and open, assignment ids remembered */
#define REFUSED_LOG_MS   60000      /* a refusal repeated: logged again after this */
#define UNREGISTERED_MS  10000      /* no session yet after this: worker.unregistered */

/* The broker refusing a worker that had a session: its key revoked by a
 * reload (PROTOCOL.md 10). Not the end: the adapter goes on, and says so. */
typedef struct {
    unsigned sessions;              /* mq_worker_sessions at the last look */
    unsigned repeated;              /* refusals since the last one logged */
    int64_t logged_at;              /* last refusal logged; 0: none since a session */
    int64_t started;                /* first pass, monotonic ms */
    int64_t unregistered_at;        /* worker.unregistered last logged; 0: never */
} refusals_t;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Block SIGCHLD, SIGTERM and SIGINT and read them from a signalfd. Called
 * before the first libminqing call, so libzmq's threads inherit the mask. */
static int setup_signals(adapter_t *ad)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    signal(SIGPIPE, SIG_IGN);       /* a command that closed its stdin */
    if (sigprocmask(SIG_BLOCK, &set, NULL))
        return -1;
    ad->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return ad->sig_fd < 0 ? -1 : 0;
}

/* SIGTERM/SIGINT: stop taking work; a second one stops waiting. */
static void begin_stop(adapter_t *ad, int64_t now)
{
    if (ad->stopping) {
        ad->stop_at = now;
        return;
    }
    ad->stopping = true;
    ad->stop_at = now + STOP_WAIT_MS;
    wlog_rec_t r;
    wlog_begin(&r, LOG_NOTICE, "worker.stopping");
    wlog_fmt(&r, "running", "%ld", ad->running);
    wlog_fmt(&r, "wait_ms", "%d", STOP_WAIT_MS);
    wlog_end(&r);
}

/* SIGCHLD needs nothing here: every pass reaps. */
static void read_signals(adapter_t *ad, int64_t now)
{
    struct signalfd_siginfo si;
    while (read(ad->sig_fd, &si, sizeof si) == (ssize_t)sizeof si)
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
            begin_stop(ad, now);
}

/* The poll set: the signalfd, the broker, each running command's pipes. */
static int build_pollset(adapter_t *ad, pollset_t *ps)
{
    int mq_fd = mq_worker_fd(ad->w);
    pollset_clear(ps);
    int rc = pollset_watch(ps, ad->sig_fd, POLLIN, NULL) | pollset_watch(ps, mq_fd, POLLIN, NULL);
    for (job_t *j = ad->jobs; j; j = j->next)
        if (j->running)
            rc |= pollset_watch(ps, j->run.in_fd, POLLOUT, j) |
                  pollset_watch(ps, j->run.out.fd, POLLIN, j) |
                  pollset_watch(ps, j->run.err.fd, POLLIN, j);
    return rc;
}

/* How long poll may sleep: until the nearest timer, at most POLL_MAX_MS. */
static int poll_timeout(const adapter_t *ad, int64_t now)
{
    int64_t next = now + POLL_MAX_MS;
    for (const job_t *j = ad->jobs; j; j = j->next) {
        int64_t t = j->running ? j->run.deadline
                  : !ad->stopping && ad->running < ad->cfg->concurrency ? j->start_at : next;
        if (t < next)
            next = t;
    }
    if (ad->stopping && ad->stop_at < next)
        next = ad->stop_at;
    return next > now ? (int)(next - now) : 0;
}

static void serve_fds(adapter_t *ad, const pollset_t *ps, int64_t now)
{
    for (size_t i = 0; i < ps->n; i++) {
        job_t *j = ps->owner[i];
        int fd = ps->fds[i].fd;
        if (!ps->fds[i].revents)
            continue;
        if (!j && fd == ad->sig_fd)
            read_signals(ad, now);
        else if (j && fd == j->run.in_fd)
            input_feed(j);
        else if (j && fd == j->run.out.fd)
            output_drain_stdout(ad->w, j);
        else if (j && fd == j->run.err.fd)
            output_drain_stderr(j);
    }
}

/* delivery_take failed: true when the adapter goes on. A refusal (errno
 * EACCES, EPROTO) after the worker had a session is the broker ending it (a
 * key revoked by a reload): running commands go on, their outcomes stay
 * queued, and libminqing registers again, less and less often, until the
 * key is allowed back. Logged at once, then once a minute while it lasts.
 * Before any session it is this configuration the broker refuses (another
 * department's key, an unknown department): the adapter stops. */
static bool refusal_survived(adapter_t *ad, refusals_t *rf, int64_t now)
{
    int err = errno;    /* mq_worker_next's: at most a log line was written since */
    if ((err != EACCES && err != EPROTO) || mq_worker_sessions(ad->w) == 0)
        return false;
    rf->repeated++;
    if (rf->logged_at && now - rf->logged_at < REFUSED_LOG_MS)
        return true;
    wlog_rec_t r;
    wlog_begin(&r, LOG_ERR, "worker.refused");
    wlog_str(&r, "reason", mq_strerror());
    wlog_fmt(&r, "outcomes_queued", "%u", mq_worker_unacked(ad->w));
    wlog_fmt(&r, "running", "%ld", ad->running);
    if (rf->logged_at)
        wlog_fmt(&r, "repeated", "%u", rf->repeated);
    wlog_str(&r, "action", "registering again; outcomes kept, commands go on");
    wlog_end(&r);
    rf->logged_at = now, rf->repeated = 0;
    return true;
}

/* A session again after refusals: say so, with what is sent now. */
static void note_session(adapter_t *ad, refusals_t *rf)
{
    unsigned sessions = mq_worker_sessions(ad->w);
    if (sessions == rf->sessions)
        return;
    rf->sessions = sessions;
    if (!rf->logged_at)
        return;
    wlog_rec_t r;
    wlog_begin(&r, LOG_NOTICE, "worker.readmitted");
    wlog_fmt(&r, "outcomes_queued", "%u", mq_worker_unacked(ad->w));
    wlog_end(&r);
    rf->logged_at = 0, rf->repeated = 0;
}

/* No session yet, UNREGISTERED_MS after the start and once a minute after:
 * a wrong endpoint, a broker that is down, or a CURVE key the broker does
 * not list all look alike from here (the broker never answers), and the
 * department's cases wait and escalate meanwhile. */
static void note_unregistered(adapter_t *ad, refusals_t *rf, int64_t now)
{
    if (!rf->started)
        rf->started = now;
    if (mq_worker_sessions(ad->w) > 0 || ad->stopping)
        return;
    int64_t due = rf->unregistered_at ? rf->unregistered_at + REFUSED_LOG_MS
                                      : rf->started + UNREGISTERED_MS;
    if (now < due)
        return;
    wlog_rec_t r;
    wlog_begin(&r, LOG_WARNING, "worker.unregistered");
    wlog_str(&r, "endpoint", ad->cfg->endpoint);
    wlog_fmt(&r, "waited_s", "%" PRId64, (now - rf->started) / 1000);
    wlog_str(&r, "reason", "no answer from the broker: check the endpoint, that minqingd "
                           "runs, and that the broker lists this worker's CURVE key");
    wlog_end(&r);
    rf->unregistered_at = now;
}

/* One pass: take work, start commands, enforce timeouts, wait, serve. 0, or
 * -1 with why the adapter cannot go on. */
static int loop_once(adapter_t *ad, refusals_t *rf, pollset_t *ps, char *why, size_t len)
{
    int64_t now = now_ms();
    if (delivery_take(ad) && !refusal_survived(ad, rf, now)) {
        snprintf(why, len, "%s", mq_strerror());
        return -1;
    }
    note_session(ad, rf);
    note_unregistered(ad, rf, now);
    run_start_due(ad, now);
    for (job_t *j = ad->jobs; j; j = j->next)
        run_enforce_timeout(ad, j, now);
    settle_runs(ad, now);
    /* Short of memory, the set holds what fit (the signalfd and the broker
     * first): the pass waits on that as on the whole set, rather than spin,
     * and the pipes left out are read in a later pass. */
    if (build_pollset(ad, ps))
        wlog_say(LOG_ERR, "worker.error", "reason", "out of memory for the poll set");
    if (poll(ps->fds, (nfds_t)ps->n, poll_timeout(ad, now)) < 0 && errno != EINTR) {
        snprintf(why, len, "poll: %s", strerror(errno));
        return -1;
    }
    now = now_ms();
    serve_fds(ad, ps, now);
    run_reap(ad);
    settle_runs(ad, now);
    return 0;
}

/* Until stopped, and the running commands ended or the wait is over. 0, or
 * -1 with why it failed. */
static int loop(adapter_t *ad, char *why, size_t len)
{
    pollset_t ps = {0};
    refusals_t rf = {0};
    int rc = 0;
    while (!(ad->stopping && (ad->running == 0 || now_ms() >= ad->stop_at)))
        if ((rc = loop_once(ad, &rf, &ps, why, len)))
            break;
    pollset_free(&ps);
    return rc;
}

static void log_started(const adapter_t *ad)
{
    const wconfig_t *c = ad->cfg;
    wlog_rec_t r;
    wlog_begin(&r, LOG_NOTICE, "worker.started");
    wlog_str(&r, "department", c->department);
    wlog_str(&r, "endpoint", c->endpoint);
    wlog_fmt(&r, "concurrency", "%ld", c->concurrency);
    wlog_fmt(&r, "capacity", "%ld", c->capacity);
    wlog_fmt(&r, "timeout_ms", "%" PRId64, c->timeout_ms);
    wlog_str(&r, "on_failure", c->on_failure_return ? "return" : "retry");
    wlog_fmt(&r, "retries", "%ld", c->retries);
    wlog_str(&r, "curve", c->cert ? "yes" : "no");
    wlog_fmt(&r, "pid", "%d", (int)getpid());
    wlog_end(&r);
    if (!c->cert && strncmp(c->endpoint, "tcp://", 6) == 0)
        wlog_say(LOG_WARNING, "worker.plain_tcp", "reason",
                 "tcp:// without --server-cert and --cert: unless the broker allows plain "
                 "TCP, it never answers, and this worker never registers");
}

/* Leave: flush what the broker has not acknowledged (after a failure too:
 * it may still take them), say goodbye. An outcome left unacknowledged is no
 * clean stop: the broker delivers its assignment again and the command runs
 * again, so the exit status and the count of dropped outcomes say so. */
static int shut_down(adapter_t *ad, int rc)
{
    settle_abandon_all(ad);
    if (mq_worker_flush(ad->w, FLUSH_MS)) {
        wlog_say(LOG_ERR, "worker.flush_failed", "reason", mq_strerror());
        rc = 1;
    } else {
        delivery_note_refusals(ad);     /* a last RESOLVED refused (203) is said too */
    }
    unsigned dropped = mq_worker_unacked(ad->w);
    mq_worker_destroy(&ad->w);
    wlog_rec_t r;
    wlog_begin(&r, rc ? LOG_CRIT : LOG_NOTICE, "worker.stopped");
    wlog_fmt(&r, "exit", "%d", rc ? 1 : 0);
    if (dropped)
        wlog_fmt(&r, "outcomes_dropped", "%u", dropped);
    wlog_end(&r);
    return rc;
}

/* fds 0-2 must be open, so that no pipe of ours lands on them. */
static void ensure_std_fds(void)
{
    int fd;
    while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2) {
    }
    if (fd > 2)
        close(fd);
}

/* The configuration; false when there is nothing to run, with the exit
 * status in *status: 0 after --help, 2 on a usage error (printed), 1 out of
 * memory. */
static bool configure(adapter_t *ad, int argc, char **argv, int *status)
{
    char *error = NULL;
    if (!(ad->cfg = wconfig_new())) {
        fputs("minqing-worker: out of memory\n", stderr);
        *status = 1;
        return false;
    }
    int rc = wconfig_parse(ad->cfg, argc, argv, &error);
    if (rc < 0)
        fputs(wconfig_usage(), stdout);
    else if (rc)
        fprintf(stderr, "minqing-worker: %s\n", error ? error : "out of memory");
    free(error);
    *status = rc < 0 ? 0 : rc;
    return rc == 0;
}

/* The signals, then the broker connection (a CURVE client when certificates
 * are given). 0, or the exit status (printed why): 1, or 2 when the broker
 * connection cannot be made as configured. */
static int start(adapter_t *ad)
{
    const wconfig_t *c = ad->cfg;
    size_t cap = (size_t)c->capacity * 4;
    ad->seen = seen_new(cap > SEEN_MIN ? cap : SEEN_MIN);
    if (!ad->seen || setup_signals(ad)) {
        fprintf(stderr, "minqing-worker: %s\n", strerror(errno));
        return 1;
    }
    ad->w = mq_worker_new(c->endpoint, c->department, (unsigned)c->capacity,
                          c->name ? c->name : "minqing-worker");
    if (!ad->w || (c->cert && mq_worker_set_certs(ad->w, c->server_cert, c->cert))) {
        fprintf(stderr, "minqing-worker: %s\n", mq_strerror());
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    adapter_t ad = {.tail = &ad.jobs, .sig_fd = -1};
    char why[256];
    int rc;
    if (!configure(&ad, argc, argv, &rc)) {
        wconfig_destroy(&ad.cfg);
        return rc;
    }
    wlog_set_level(ad.cfg->log_level);
    ensure_std_fds();
    if ((rc = start(&ad)) == 0) {
        log_started(&ad);
        if ((rc = loop(&ad, why, sizeof why)))
            wlog_say(LOG_CRIT, "worker.failed", "reason", why);
        rc = shut_down(&ad, rc);
    }
    mq_worker_destroy(&ad.w);
    fd_close(&ad.sig_fd);
    seen_destroy(&ad.seen);
    wconfig_destroy(&ad.cfg);
    return rc == 0 ? 0 : rc == 2 ? 2 : 1;
}
