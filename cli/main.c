/*
 * main.c - `minqing`, the command-line tool of the minqing broker: global
 * options, the command table, the top-level help with the exit codes.
 *
 *   minqing [-c FILE] COMMAND [OPTIONS] [ARGS]
 *
 * Each command lives in its own module (submit.c, show.c, list.c, stats.c,
 * tail.c, import.c, backup.c, restore.c, keygen.c; act.c for the four case
 * commands close, cancel, reassign and feedback) with its own --help; -c FILE
 * may also follow the command name.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(cli_t *cli, int argc, char **argv);
    const char *summary;
} command_t;

static const command_t commands[] = {
    {"submit", cmd_submit, "submit a case (JSON, Open311 field names) through the broker"},
    {"close", cmd_act, "close a resolved case after review (审核结案)"},
    {"cancel", cmd_act, "cancel a case that should not be handled (作废)"},
    {"reassign", cmd_act, "move an open case's work to another department (改派)"},
    {"feedback", cmd_act, "record the resident's rating; unsatisfied reopens the case (重办)"},
    {"show", cmd_show, "one case: record, assignments, audit trail (personal data masked)"},
    {"list", cmd_list, "cases, one per line, filtered by state, department, community, time"},
    {"stats", cmd_stats, "response, resolution and satisfaction rates; red and yellow lists"},
    {"tail", cmd_tail, "follow the broker's event stream until Ctrl-C"},
    {"import", cmd_import, "migrate historical cases (JSON lines) through the broker, in batches"},
    {"backup", cmd_backup, "copy the live database to FILE with SQLite's online backup"},
    {"restore", cmd_restore, "put a backup in place of the database (minqingd stopped)"},
    {"keygen", cmd_keygen, "write a CURVE keypair (zcert files) for the broker or a client"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* "submit, show, ...": the names, from the table, for the messages that list them. */
static const char *command_names(void)
{
    static char names[160];
    size_t n = 0;
    for (size_t i = 0; i < NCOMMANDS && n < sizeof names; i++)
        n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", commands[i].name);
    return names;
}

static void usage(FILE *out)
{
    fprintf(out,
        "usage: minqing [-c FILE] COMMAND [OPTIONS] [ARGS]\n"
        "\n"
        "The command-line tool of the minqing case-dispatch broker (民情): submit a case,\n"
        "close, cancel or reassign it, record the resident's rating, look cases up,\n"
        "report the rates departments and communities are judged by, follow the event\n"
        "stream.\n"
        "\n"
        "Commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
        "\n"
        "Options (before or after the command):\n"
        "  -c, --config FILE  the broker's config, for the database and the endpoints\n"
        "                     (default %s)\n"
        "  -h, --help         this help; 'minqing COMMAND --help' for a command's\n"
        "\n"
        "show, list and stats read the broker's database directly, read-only (run them\n"
        "on the broker's host as the minqing user or root); submit, close, cancel,\n"
        "reassign, feedback, import and tail talk to the running broker; restore\n"
        "replaces the database while the broker is stopped. Times are shown in local\n"
        "time.\n"
        "\n"
        "Exit status:\n"
        "  0  success\n"
        "  1  runtime error: broker unreachable, database or config missing or unreadable\n"
        "  2  usage error: bad option or argument, a case refused as invalid, or a\n"
        "     request the case's state does not allow\n"
        "  3  not found: no case with that id\n"
        "  130, 143  import stopped by Ctrl-C (SIGINT) or SIGTERM: it ends by that\n"
        "     signal after saying where it stands (see 'minqing import --help')\n",
        CONFIG_DEFAULT_PATH);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_t cli = {.config_path = CONFIG_DEFAULT_PATH};
    int c;
    while ((c = cli_getopt(&cli, NULL, argc, argv, "+:hc:", opts)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return CLI_OK;
        }
        return CLI_USAGE;               /* cli_getopt said why */
    }
    if (optind >= argc)
        return cli_usage(NULL, "no command given (%s)", command_names());
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) {
        if (optind + 1 >= argc) {
            usage(stdout);
            return CLI_OK;
        }
        name = argv[optind + 1];
        char *help_argv[] = {(char *)name, "--help", NULL};
        for (size_t i = 0; i < NCOMMANDS; i++)
            if (strcmp(commands[i].name, name) == 0) {
                optind = 0;
                return commands[i].run(&cli, 2, help_argv);
            }
        return cli_usage(NULL, "no command '%s'", name);
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, name) != 0)
            continue;
        int sub_argc = argc - optind;
        char **sub_argv = argv + optind;
        optind = 0;                     /* restart getopt for the command's options */
        int rc = commands[i].run(&cli, sub_argc, sub_argv);
        config_destroy(&cli.cfg);
        fflush(stdout);
        if (ferror(stdout) && rc == CLI_OK)
            return cli_fail(CLI_RUNTIME, name, "cannot write the output");
        return rc;
    }
    return cli_usage(NULL, "no command '%s' (%s)", name, command_names());
}
