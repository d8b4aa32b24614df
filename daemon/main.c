/*
 * main.c - minqingd: parse the command line, load the config, run the broker
 * until SIGTERM or SIGINT.
 */
#include "auth.h"
#include "broker.h"
#include "config.h"
#include "log.h"
#include "loglevel.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define FILES_WANTED 4096           /* below this, broker.files_limit warns */

static broker_t *running;
static volatile sig_atomic_t reload_pending;   /* a SIGHUP while the broker was starting */

static void on_signal(int sig)
{
    if (!running) {
        reload_pending = sig == SIGHUP;
        return;
    }
    if (sig == SIGHUP)
        broker_reload(running);
    else
        broker_stop(running);
}

static void usage(FILE *out)
{
    fprintf(out,
        "usage: minqingd [-c FILE] [--check-config] [-l LEVEL]\n"
        "  -c, --config FILE    configuration file (default %s)\n"
        "      --check-config   validate the configuration and exit\n"
        "  -l, --log-level L    debug, info, notice, warning, err, crit (default info)\n"
        "  -h, --help           this help\n"
        "exit status: 0 clean stop or valid config, 1 runtime failure, 2 bad config or usage\n",
        CONFIG_DEFAULT_PATH);
}

static void catch_signal(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;          /* no SA_RESTART: zmq_poll must wake */
    sigaction(sig, &sa, NULL);
}

static void install_signals(void)
{
    catch_signal(SIGTERM);
    catch_signal(SIGINT);
    catch_signal(SIGHUP);
    signal(SIGPIPE, SIG_IGN);
}

/* Every connection holds a descriptor, and libzmq aborts the process when
 * its listener's accept() finds none left (EMFILE): about 1,000 monitors or
 * workers would have killed the broker at the usual soft limit of 1,024,
 * and again at each restart while they reconnected. The hard limit is the
 * administrator's (LimitNOFILE= in the unit); the soft one is ours to raise.
 * The limit in force, for the log. */
static rlim_t raise_files_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur;
}

/* Few descriptors: each peer takes one, and a peer past the last makes
 * libzmq abort, so say how many there are while it is still time. */
static void say_files_limit(rlim_t files)
{
    if (files == 0 || files == RLIM_INFINITY || files >= FILES_WANTED)
        return;
    log_rec_t r;
    log_begin(&r, LOG_WARNING, "broker.files_limit");
    log_u64(&r, "limit", (uint64_t)files);
    log_str(&r, "msg", "few open files allowed: a connection past the limit aborts the broker "
            "(libzmq); raise LimitNOFILE= (65536 in the shipped unit)");
    log_end(&r);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 'C'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = CONFIG_DEFAULT_PATH;
    bool check = false;
    int level = LOG_INFO, c;
    while ((c = getopt_long(argc, argv, "c:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 'C': check = true; break;
        case 'l':
            if ((level = loglevel_from_name(optarg)) < 0) {
                fprintf(stderr, "minqingd: unknown log level '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        /* `--check-config new.conf` would check the installed file and say ok */
        fprintf(stderr, "minqingd: unexpected argument '%s' (the config is given with -c FILE)\n",
                argv[optind]);
        return 2;
    }
    log_open("minqingd", level);
    rlim_t files = raise_files_limit();
    char err[8192] = "";
    config_t *cfg = config_load(path, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "%s", err);
        if (err[0] && err[strlen(err) - 1] != '\n')
            fputc('\n', stderr);
        return 2;
    }
    if (auth_check_file(cfg, err, sizeof err) != 0) {
        /* a configuration error too: exit 2, which systemd does not retry */
        fprintf(stderr, "%s\n", err);
        config_destroy(&cfg);
        return 2;
    }
    if (check) {
        /* warnings go with errors, to stderr; the file is good all the same */
        fputs(cfg->warnings ? cfg->warnings : "", stderr);
        printf("%s: ok (%zu departments, %zu routes)\n", path, cfg->ndepts, cfg->nroutes);
        config_destroy(&cfg);
        return 0;
    }
    /* a SIGHUP while the database loads (minutes, for a large one) must not
     * kill the broker: it is kept and served once the loop runs */
    catch_signal(SIGHUP);
    say_files_limit(files);
    broker_t *b = broker_new(cfg, err, sizeof err);
    if (!b) {
        /* a refused database is not retried by systemd, like a bad config:
         * restarting cannot mend it, and each start reads the whole file */
        int rc = errno == EUCLEAN ? 2 : 1;
        log_say(LOG_CRIT, "broker.start_failed", err);
        return rc;
    }
    running = b;
    install_signals();
    if (reload_pending)
        broker_reload(b);
    int rc = broker_run(b);
    running = NULL;
    broker_destroy(&b);
    log_say(LOG_NOTICE, "broker.stopped", rc == 0 ? "clean" : "after an error");
    return rc == 0 ? 0 : 1;
}
