/*
 * import.c - `minqing import FILE`: migrate historical cases from an older
 * system, one JSON object per line, through the broker (IMPORT, PROTOCOL.md
 * 5.6a). Like every change of state it goes through the broker, with many
 * requests in flight so that each group commit takes a large batch; a line
 * is counted once the broker acknowledged it durably. Safe to run again: the
 * broker deduplicates by (channel, external_id).
 */
#include "cli.h"
#include "minqing.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CMD "import"

static void help(void)
{
    printf(
        "usage: minqing import [-c FILE] [--window N] FILE.jsonl | -\n"
        "\n"
        "Import historical cases, one JSON object per line: the case's Open311 fields\n"
        "(as for minqing submit) plus its history:\n"
        "  state         required: received, dispatched, accepted, contacted, resolved,\n"
        "                closed, returned or cancelled\n"
        "  received_at   required: unix ms, or \"2021-03-01T08:00[:SS]\" (local time)\n"
        "  department    the lead department (default: the route's)\n"
        "  contacted_at, resolved_at, closed_at   times, as received_at\n"
        "  rating        satisfied, basically_satisfied or unsatisfied\n"
        "Cases still open are routed and dispatched like new ones; their deadlines\n"
        "count from received_at. Progress goes to stderr; the summary to stdout.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE  the broker's config (default %s)\n"
        "  -w, --window N     requests in flight (default 512)\n"
        "  -h, --help         this help\n"
        "\n"
        "Exit status: 0 every line imported (or already there); 1 broker unreachable;\n"
        "2 usage error, or some lines refused (each is printed with its line number).\n",
        CONFIG_DEFAULT_PATH);
}

typedef struct {
    long line;                  /* 0 = free */
    char msg_id[40];
    char *text;                 /* the line, to resend after a 5xx */
} slot_t;

typedef struct {
    cli_t *cli;
    mq_client_t *client;
    slot_t *slots;
    long window, inflight;
    long done, dups, refused, lines;
    struct timespec start;
} import_t;

static double elapsed(const import_t *im)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - im->start.tv_sec) + (double)(now.tv_nsec - im->start.tv_nsec) / 1e9;
}

/* A time field: unix ms or a local time string; absent is 0. */
static int take_time(json_t *obj, const char *key, long line, int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v))
        *out = json_integer_value(v);
    else if (!json_is_string(v) || cli_parse_time(json_string_value(v), out))
        return cli_fail(CLI_USAGE, CMD, "line %ld: %s must be unix ms or \"YYYY-MM-DDTHH:MM\"",
                        line, key), -1;
    return 0;
}

/* Build the IMPORT request for one line; the history keys are taken out of
 * the object, and what remains must be a case record. CLI_OK or CLI_USAGE. */
static int to_request(json_t *obj, long line, msg_t *m, char dept[33])
{
    static const char *const history[] = {"state", "received_at", "department", "contacted_at",
                                          "resolved_at", "closed_at", "rating"};
    char src[32];
    snprintf(src, sizeof src, "line %ld", line);
    msg_reset(m, MSG_IMPORT);
    const char *state = json_string_value(json_object_get(obj, "state"));
    int st = state ? msg_enum_from_name(msg_state_names, STATE_COUNT, state) : -1;
    if (st <= 0)
        return cli_fail(CLI_USAGE, CMD, "%s: state is required and must be a case state", src);
    m->state = (msg_state_t)st;
    if (take_time(obj, "received_at", line, &m->received_at) || !m->received_at)
        return cli_fail(CLI_USAGE, CMD, "%s: received_at is required", src);
    if (take_time(obj, "contacted_at", line, &m->contacted_at) ||
        take_time(obj, "resolved_at", line, &m->resolved_at) ||
        take_time(obj, "closed_at", line, &m->closed_at))
        return CLI_USAGE;
    const char *rating = json_string_value(json_object_get(obj, "rating"));
    if (rating && (m->rating = (msg_rating_t)msg_enum_from_name(msg_rating_names, RATING_COUNT,
                                                                 rating)) <= 0)
        return cli_fail(CLI_USAGE, CMD, "%s: unknown rating '%s'", src, rating);
    const char *d = json_string_value(json_object_get(obj, "department"));
    if (d) {            /* copied: the key is taken out of the object below */
        snprintf(dept, 33, "%s", d);
        m->department = dept;
    }
    int bits[] = {MF_CASE, MF_STATE, MF_RECEIVED_AT};
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
        MSG_SET(m, bits[i]);
    if (m->department) MSG_SET(m, MF_DEPARTMENT);
    if (m->contacted_at) MSG_SET(m, MF_CONTACTED_AT);
    if (m->resolved_at) MSG_SET(m, MF_RESOLVED_AT);
    if (m->closed_at) MSG_SET(m, MF_CLOSED_AT);
    if (rating) MSG_SET(m, MF_RATING);
    for (size_t i = 0; i < sizeof history / sizeof history[0]; i++)
        json_object_del(obj, history[i]);
    return cli_case_from_json(obj, src, &m->kase);
}

/* Send the line in slot s. CLI_OK, CLI_USAGE (a bad line: counted refused), or CLI_RUNTIME. */
static int send_slot(import_t *im, slot_t *s)
{
    json_error_t jerr;
    json_t *obj = json_loads(s->text, 0, &jerr);
    if (!obj || !json_is_object(obj)) {
        cli_fail(CLI_USAGE, CMD, "line %ld: not a JSON object (column %d: %s)", s->line,
                 jerr.column, obj ? "not an object" : jerr.text);
        json_decref(obj);
        return CLI_USAGE;
    }
    msg_t m;
    char dept[33];
    int rc = to_request(obj, s->line, &m, dept);
    if (rc == CLI_OK && mq_client_send(im->client, &m, s->msg_id) != 0)
        rc = cli_fail(CLI_RUNTIME, CMD, "sending line %ld: %s", s->line, mq_strerror());
    json_decref(obj);
    return rc;
}

static slot_t *slot_of(import_t *im, const char *re)
{
    for (long i = 0; re && i < im->window; i++)
        if (im->slots[i].line && strcmp(im->slots[i].msg_id, re) == 0)
            return &im->slots[i];
    return NULL;
}

static void free_slot(import_t *im, slot_t *s)
{
    free(s->text);
    s->text = NULL;
    s->line = 0;
    im->inflight--;
}

/* Take the replies that have come (waiting up to wait_ms for the first). */
static int collect(import_t *im, int wait_ms)
{
    msg_t r;
    int got;
    while ((got = mq_client_recv(im->client, &r, wait_ms)) == 1) {
        wait_ms = 0;
        slot_t *s = slot_of(im, r.re);
        if (!s)
            continue;
        if (r.cmd == MSG_SUBMIT_OK) {
            im->done++;
            im->dups += r.duplicate;
            free_slot(im, s);
        } else if (r.cmd == MSG_ERROR && r.code >= 500) {
            if (send_slot(im, s) == CLI_RUNTIME)    /* the broker will take it later */
                return CLI_RUNTIME;
        } else if (r.cmd == MSG_ERROR) {
            cli_fail(CLI_USAGE, CMD, "line %ld refused: %s", s->line, r.reason_text);
            im->refused++;
            free_slot(im, s);
        }
        if ((im->done + im->refused) % 100000 == 0)
            fprintf(stderr, "minqing import: %ld imported, %.0f per second\n", im->done,
                    (double)im->done / elapsed(im));
    }
    return got < 0 ? cli_fail(CLI_RUNTIME, CMD, "%s", mq_strerror()) : CLI_OK;
}

static int run(import_t *im, FILE *in)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = CLI_OK;
    while (rc != CLI_RUNTIME && (len = getline(&line, &cap, in)) >= 0) {
        im->lines++;
        if (strspn(line, " \t\r\n") == (size_t)len)
            continue;
        while (rc != CLI_RUNTIME && im->inflight == im->window)
            rc = collect(im, 1000);
        slot_t *s = slot_of(im, NULL);
        for (long i = 0; !s && i < im->window; i++)
            if (!im->slots[i].line)
                s = &im->slots[i];
        s->line = im->lines;
        s->text = strdup(line);
        im->inflight++;
        int sent = send_slot(im, s);
        if (sent != CLI_OK) {
            im->refused += sent == CLI_USAGE;
            free_slot(im, s);
            rc = sent == CLI_RUNTIME ? sent : rc;
        }
    }
    free(line);
    for (int idle = 0; rc != CLI_RUNTIME && im->inflight > 0 && idle < 60; idle++)
        rc = collect(im, 1000);
    if (rc != CLI_RUNTIME && im->inflight > 0)
        rc = cli_fail(CLI_RUNTIME, CMD, "%ld lines unanswered after 60 s: is minqingd running? "
                      "Run the import again: it is safe", im->inflight);
    return rc;
}

int cmd_import(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"window", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    import_t im = {.cli = cli, .window = 512};
    int c;
    while ((c = cli_getopt(cli, CMD, argc, argv, ":hc:w:", opts)) != -1) {
        switch (c) {
        case 'h': help(); return CLI_OK;
        case 'w':
            if (cli_parse_long(optarg, 1, 4096, &im.window))
                return cli_usage(CMD, "--window takes 1 to 4096");
            break;
        default: return CLI_USAGE;
        }
    }
    if (argc - optind != 1)
        return cli_usage(CMD, "give one file of JSON lines, or - for standard input");
    const char *path = argv[optind];
    FILE *in = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!in)
        return cli_fail(CLI_USAGE, CMD, "%s: cannot open", path);
    int rc = cli_load_config(cli, CMD);
    if (rc == CLI_OK)
        rc = cli_endpoint_check(cli, CMD, cli->cfg->intake_endpoint, "intake");
    if (rc == CLI_OK && !(im.client = mq_client_new(cli->cfg->intake_endpoint)))
        rc = cli_fail(CLI_RUNTIME, CMD, "cannot connect: %s", mq_strerror());
    im.slots = calloc((size_t)im.window, sizeof *im.slots);
    clock_gettime(CLOCK_MONOTONIC, &im.start);
    if (rc == CLI_OK)
        rc = run(&im, in);
    double secs = elapsed(&im);
    printf("imported %ld cases (%ld already there, %ld lines refused) in %.1f s = %.0f per second\n",
           im.done, im.dups, im.refused, secs, secs > 0 ? (double)im.done / secs : 0.0);
    for (long i = 0; im.slots && i < im.window; i++)
        free(im.slots[i].text);
    free(im.slots);
    mq_client_destroy(&im.client);
    if (in != stdin)
        fclose(in);
    return rc != CLI_OK ? rc : im.refused ? CLI_USAGE : CLI_OK;
}
