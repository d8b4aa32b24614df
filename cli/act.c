/*
 * act.c - `minqing close`, `cancel`, `reassign` and `feedback`: what the
 * dispatch centre does to a case (审核结案, 作废, 改派) and the resident's
 * rating (满意度), sent to the broker as CLOSE, CANCEL, REASSIGN and FEEDBACK
 * (PROTOCOL.md 5.3 to 5.6), so that an operator needs no ZeroMQ client of
 * their own, to move stranded work for instance.
 *
 * The four differ only in their arguments and in the states the broker
 * allows them in (section 7.4), so one table describes them and one path
 * runs them: the arguments are checked here as far as they can be (a case
 * id, a rating or reason, a department the config knows), then the request
 * goes through libminqing's mq_client_request, which resends it with the
 * same msg_id until the timeout (the broker answers a copy it already
 * applied as it did the first, section 8.1), and the ACK's case state is
 * printed. A refusal is said with the broker's reason, which names states
 * and fields but never quotes them (section 5.18).
 *
 * A comment may hold a resident's personal data (a name, a phone number):
 * it goes to the broker and nowhere else, never into a message of ours;
 * `--comment -` reads it from standard input, out of the process list and
 * the shell's history.
 */
#include "cli.h"
#include "minqing.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

/* The long options without a short form, for getopt_long: above any character
 * and CLI_CERT_OPTIONS. */
enum { OPT_COMMENT = 0x200, OPT_REASON };

/* The protocol's limit on a comment (text 0..1000), in bytes of UTF-8 at 4 a
 * character at most: a longer input cannot be one. */
#define COMMENT_MAX_BYTES 4000

typedef struct action action_t;
struct action {
    const char *name;           /* the command, "close" */
    msg_cmd_t cmd;
    const char *args;           /* its arguments after CASE_ID, for the usage line */
    const char *lists;          /* the allowlists of the keys that may send it */
    const char *about;          /* what it does and what its arguments are, for --help */
    const char *allowed;        /* the states the broker allows it in (a sentence), for
                                 * --help and after an ERROR 203 */
    const char *example;        /* a state it leaves a case in, for --help */
    /* its argument after CASE_ID (NULL: none), checked and put in m */
    int (*argument)(const cli_t *cli, const action_t *a, const char *arg, msg_t *m);
};

static int rating_argument(const cli_t *cli, const action_t *a, const char *arg, msg_t *m);
static int department_argument(const cli_t *cli, const action_t *a, const char *arg, msg_t *m);

#define ADMIN_LISTS "keys/admin/"

static const action_t actions[] = {
    {"close", MSG_CLOSE, "", ADMIN_LISTS,
     "Close a resolved case after review (审核结案): the broker's CLOSE.\n",
     "Only a resolved case can be closed.", "closed", NULL},
    {"cancel", MSG_CANCEL, " --reason duplicate|invalid|other", ADMIN_LISTS,
     "Cancel a case that should not be handled (作废): the broker's CANCEL. Every open\n"
     "assignment of it is withdrawn; a cancelled case stays cancelled.\n",
     "Only an open case can be cancelled (not resolved, closed or cancelled).", "cancelled",
     NULL},
    {"reassign", MSG_REASSIGN, " DEPARTMENT", ADMIN_LISTS,
     "Move one share of an open case's work to DEPARTMENT (改派), given by id (water)\n"
     "or display name (水务局) from the config: the broker's REASSIGN. The share\n"
     "moved is the manual dispatch centre's open one (its lead one first), else the\n"
     "open lead share, whichever department holds it (one of a department no longer\n"
     "configured, too); run it again to move the next. A lead share makes DEPARTMENT\n"
     "the case's lead. proto/PROTOCOL.md section 7.4 has the details.\n",
     "Only an open case can be reassigned (not resolved, closed or cancelled).", "received",
     department_argument},
    {"feedback", MSG_FEEDBACK, " satisfied|basically_satisfied|unsatisfied",
     "keys/intake/ (or keys/admin/)",
     "Record the resident's rating of a resolved or closed case (结果反馈: 满意,\n"
     "基本满意, 不满意): the broker's FEEDBACK. A later rating replaces it;\n"
     "unsatisfied reopens the case for a redo (重办) by its lead department.\n",
     "Only a resolved or closed case can be rated.", "closed", rating_argument},
};
#define NACTIONS (sizeof actions / sizeof actions[0])

static const action_t *find_action(const char *name)
{
    for (size_t i = 0; i < NACTIONS; i++)
        if (strcmp(actions[i].name, name) == 0)
            return &actions[i];
    return NULL;
}

static void help(const action_t *a)
{
    printf("usage: minqing %s [-c FILE] [-t SECONDS] [--cert FILE] [--comment TEXT|-]\n"
           "       CASE_ID%s\n\n%s%s\n\n", a->name, a->args, a->about, a->allowed);
    printf("Options:\n"
           "  -c, --config FILE      the broker's config, for [broker] intake\n"
           "                         (default %s)\n"
           "  -t, --timeout SECONDS  wait this long for the broker's answer (default 10)\n"
           "      --comment TEXT     %s, kept with the case ('-': read from\n"
           "                         standard input, out of ps and the shell's history,\n"
           "                         since it may name the resident)\n",
           CONFIG_DEFAULT_PATH, a->cmd == MSG_FEEDBACK ? "what the resident said" : "why");
    if (a->cmd == MSG_CANCEL)
        printf("      --reason REASON    required: duplicate, invalid or other\n");
    printf(CLI_CERT_HELP
           "  -h, --help             this help\n"
           "\n"
           "On a tcp:// intake endpoint the broker admits only known CURVE keys: give\n"
           "--cert with a keypair whose public part is in the broker's\n"
           "%s.\n"
           "\n"
           "Prints the case's state after it, as the broker acknowledged it (case 1042:\n"
           "%s). Exit status: 0 done; 1 broker unreachable, not answering, failing or\n"
           "refusing this client's key; 2 bad option or argument, or a request the\n"
           "broker refuses as invalid or not allowed in the case's state (its reason is\n"
           "printed; 'minqing show CASE_ID' shows where the case stands); 3 no such case.\n",
           a->lists, a->example);
}

/* ---- arguments -------------------------------------------------------- */

static int rating_argument(const cli_t *cli, const action_t *a, const char *arg, msg_t *m)
{
    (void)cli;
    int r = msg_enum_from_name(msg_rating_names, RATING_COUNT, arg);
    if (r <= RATING_NONE)
        return cli_usage(a->name, "'%s' is not a rating: satisfied, basically_satisfied or "
                         "unsatisfied", arg);
    m->rating = (msg_rating_t)r;
    return CLI_OK;
}

/* The department by id or display name, refused here when the config does
 * not know it: the broker would refuse it too, after a round trip. */
static int department_argument(const cli_t *cli, const action_t *a, const char *arg, msg_t *m)
{
    m->department = cli_dept_lookup(cli->cfg, arg);
    if (!m->department)
        return cli_usage(a->name, "no department '%s' in %s (give an id or a display name of "
                         "its [departments]); nothing was sent", arg, cli->config_path);
    return CLI_OK;
}

static int reason_option(const action_t *a, const char *arg, msg_t *m)
{
    int r = msg_enum_from_name(msg_cancel_names, CANCEL_COUNT, arg);
    if (r <= CANCEL_NONE)
        return cli_usage(a->name, "--reason takes duplicate, invalid or other");
    m->cancel_reason = (msg_cancel_t)r;
    return CLI_OK;
}

/* `--comment -`: standard input, without its last newline, into buf. */
static int read_comment(const action_t *a, char *buf, size_t size)
{
    if (isatty(STDIN_FILENO))
        fprintf(stderr, "minqing %s: reading the comment from the terminal; end it with "
                "Ctrl-D\n", a->name);
    size_t n = fread(buf, 1, size - 1, stdin);
    if (ferror(stdin))
        return cli_fail(CLI_RUNTIME, a->name, "cannot read the comment from standard input: "
                        "%s", strerror(errno));
    int c = EOF;
    if (n == size - 1)              /* full: only the line ends trimmed below may follow */
        while ((c = fgetc(stdin)) == '\n' || c == '\r')
            ;
    if (c != EOF)
        return cli_usage(a->name, "the comment is too long: at most 1000 characters");
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    return CLI_OK;
}

/* ---- the request ------------------------------------------------------ */

/* Say why the broker refused the request and what to do; the exit code. */
static int refused(const cli_t *cli, const action_t *a, mq_client_t *client, long timeout_s,
                   uint64_t case_id)
{
    char again[160];
    snprintf(again, sizeof again, "It may have been applied all the same: see 'minqing show "
             "%" PRIu64 "' before running it again.", case_id);
    int rc = cli_request_failed(cli, a->name, client, a->lists, timeout_s, again);
    if (rc != CLI_OK)
        return rc;
    switch (mq_client_error(client)) {
    case ERR_UNKNOWN_CASE:
        return cli_fail(CLI_NOT_FOUND, a->name, "%s. Check the id ('minqing list' shows the "
                        "cases).", mq_strerror());
    case ERR_ILLEGAL_TRANSITION:
        return cli_fail(CLI_USAGE, a->name, "%s. %s 'minqing show %" PRIu64 "' shows where "
                        "it stands.", mq_strerror(), a->allowed, case_id);
    case ERR_UNKNOWN_DEPARTMENT:    /* the config read here is newer than the broker's */
        return cli_fail(CLI_USAGE, a->name, "%s. %s names it, but the running broker has not "
                        "loaded it yet: systemctl reload minqingd.", mq_strerror(),
                        cli->config_path);
    default:
        return cli_fail(CLI_USAGE, a->name, "%s. Correct that and run it again.",
                        mq_strerror());
    }
}

/* Send m, print the case's new state; the exit code. */
static int send_request(cli_t *cli, const action_t *a, msg_t *m, long timeout_s)
{
    mq_client_t *client = NULL;
    int rc = cli_client_open(cli, a->name, a->lists, &client);
    if (rc != CLI_OK)
        return rc;
    msg_t reply;
    errno = 0;
    if (mq_client_request(client, m, NULL, &reply, (int)timeout_s * 1000) == 0)
        printf("case %" PRIu64 ": %s\n", reply.case_id, msg_state_name(reply.state));
    else
        rc = refused(cli, a, client, timeout_s, m->case_id);
    mq_client_destroy(&client);
    return rc;
}

/* The arguments after the options: CASE_ID and the action's own. */
static int positional(cli_t *cli, const action_t *a, int argc, char **argv, msg_t *m)
{
    int want = a->argument ? 2 : 1;
    if (argc - optind != want)
        return cli_usage(a->name, "give CASE_ID%s (got %d argument%s)", a->args,
                         argc - optind, argc - optind == 1 ? "" : "s");
    long id;
    if (cli_parse_long(argv[optind], 1, 9007199254740991L, &id))
        return cli_usage(a->name, "'%s' is not a case id (a number from 1)", argv[optind]);
    m->case_id = (uint64_t)id;
    if (a->cmd == MSG_CANCEL && m->cancel_reason == CANCEL_NONE)
        return cli_usage(a->name, "give --reason duplicate, invalid or other");
    int rc = cli_load_config(cli, a->name);
    if (rc == CLI_OK && a->argument)
        rc = a->argument(cli, a, argv[optind + 1], m);
    return rc;
}

/* The one path of the four commands. */
static int run(cli_t *cli, const action_t *a, int argc, char **argv)
{
#define ACT_OPTIONS                                                  \
    {"config", required_argument, NULL, 'c'},                        \
    {"timeout", required_argument, NULL, 't'},                       \
    {"comment", required_argument, NULL, OPT_COMMENT},               \
    {"help", no_argument, NULL, 'h'},                                \
    CLI_CERT_OPTIONS
    static const struct option opts[] = {ACT_OPTIONS, {NULL, 0, NULL, 0}};
    static const struct option cancel_opts[] = {
        ACT_OPTIONS, {"reason", required_argument, NULL, OPT_REASON}, {NULL, 0, NULL, 0}};
#undef ACT_OPTIONS
    static char comment[COMMENT_MAX_BYTES + 1];
    long timeout_s = 10;
    msg_t m;
    msg_reset(&m, a->cmd);
    int c;
    while ((c = cli_getopt(cli, a->name, argc, argv, ":hc:t:",
                           a->cmd == MSG_CANCEL ? cancel_opts : opts)) != -1) {
        switch (c) {
        case 'h': help(a); return CLI_OK;
        case 't':
            if (cli_parse_long(optarg, 1, 3600, &timeout_s))
                return cli_usage(a->name, "--timeout takes seconds, 1 to 3600");
            break;
        case OPT_COMMENT: m.comment = optarg; break;
        case OPT_REASON:
            if (reason_option(a, optarg, &m))
                return CLI_USAGE;
            break;
        default: return CLI_USAGE;
        }
    }
    int rc = positional(cli, a, argc, argv, &m);
    if (rc == CLI_OK && m.comment && strcmp(m.comment, "-") == 0) {
        rc = read_comment(a, comment, sizeof comment);
        m.comment = comment;
    }
    if (rc == CLI_OK && m.comment && !*m.comment)
        m.comment = NULL;               /* an empty one is left out (PROTOCOL.md 4.3) */
    return rc == CLI_OK ? send_request(cli, a, &m, timeout_s) : rc;
}

int cmd_act(cli_t *cli, int argc, char **argv)
{
    const action_t *a = find_action(argv[0]);
    if (!a)                             /* main.c's table and ours disagree */
        return cli_fail(CLI_USAGE, argv[0], "not a case command");
    return run(cli, a, argc, argv);
}
