/*
 * list.c - `minqing list`: cases one per line, newest first, filtered by
 * state, department, community, receipt time and overdue deadlines.
 *
 * A case is overdue when its contact deadline has passed and nobody has
 * contacted the resident, or its resolution deadline has passed and it is
 * not resolved; closed and cancelled cases are never overdue. "Now" is the
 * moment the command runs, on this host's clock.
 */
#include "cli.h"
#include "msg.h"

#include <inttypes.h>
#include <string.h>

#define CMD "list"
#define DEFAULT_LIMIT 100

static void help(void)
{
    printf(
        "usage: minqing list [-c FILE] [--state S] [--department D] [--community C]\n"
        "                    [--overdue] [--since T] [--until T] [--limit N]\n"
        "\n"
        "List cases, newest first, one per line: id, received (local time, its zone\n"
        "named in the header), state, lead department, community, service code, and\n"
        "what is overdue (contact, resolve).\n"
        "\n"
        "Options:\n"
        "  -s, --state S        only cases in state S: received, dispatched, accepted,\n"
        "                       contacted, resolved, closed, returned, cancelled\n"
        "  -d, --department D   only cases department D leads or co-handles (a share\n"
        "                       that was not returned or withdrawn); D is an id (water)\n"
        "                       or a display name (水务局) from the config\n"
        "      --community C    only cases from community C: a code (CG01-XH02) or a\n"
        "                       display name from the config's [communities]\n"
        "  -o, --overdue        only overdue cases: the contact deadline passed without\n"
        "                       contact, or the resolution deadline passed without\n"
        "                       resolution (closed and cancelled cases never are)\n"
        "      --since T        only cases received at or after T\n"
        "      --until T        only cases received before T (after --since)\n"
        "  -n, --limit N        at most N cases (default %d; 0: all)\n"
        "  -c, --config FILE    the broker's config, for the database and names\n"
        "                       (default %s)\n"
        "  -h, --help           this help\n"
        "\n"
        "Times T: 2026-11-01 or 20261101 (local midnight), 2026-11-01T08:00 or\n"
        "2026-11-01T08:00:30 (local time, or with an offset: +08:00, Z), or unix time\n"
        "in milliseconds (13 digits). --since 2026-11-01 --until 2026-12-01 is November.\n"
        "\n"
        "Exit status: 0 listed (even none); 1 database missing or unreadable; 2 bad\n"
        "option (a --since not before --until too).\n",
        DEFAULT_LIMIT, CONFIG_DEFAULT_PATH);
}

/* ?1 now, ?2 state, ?3 department, ?4 community, ?5 since, ?6 until, ?7 overdue only,
 * ?8 limit (-1: all) */
static const char *const list_sql =
    "SELECT c.id, c.received_at, c.state, c.lead_department, c.community, c.service_code,"
    "  c.state NOT IN ('resolved', 'closed', 'cancelled') AND c.contacted_at IS NULL"
    "    AND c.contact_due IS NOT NULL AND c.contact_due < ?1 AS contact_over,"
    "  c.state NOT IN ('resolved', 'closed', 'cancelled')"
    "    AND c.resolve_due IS NOT NULL AND c.resolve_due < ?1 AS resolve_over"
    " FROM cases c"
    " WHERE (?2 IS NULL OR c.state = ?2)"
    "   AND (?3 IS NULL OR c.lead_department = ?3 OR EXISTS (SELECT 1 FROM assignments a"
    "        WHERE a.case_id = c.id AND a.department = ?3"
    "          AND a.state NOT IN ('returned', 'cancelled')))"
    "   AND (?4 IS NULL OR c.community = ?4)"
    "   AND c.received_at >= ?5 AND c.received_at < ?6"
    "   AND (?7 = 0 OR contact_over OR resolve_over)"
    " ORDER BY c.received_at DESC, c.id DESC LIMIT ?8";

/* A community given by code or display name: its code. */
static const char *community_code(const config_t *cfg, const char *what)
{
    for (size_t i = 0; i < cfg->ncommunities; i++)
        if (strcmp(cfg->communities[i].name, what) == 0)
            return cfg->communities[i].code;
    return what;
}

static const char *col(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? (const char *)s : "";
}

int cmd_list(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"state", required_argument, NULL, 's'},
        {"department", required_argument, NULL, 'd'},
        {"community", required_argument, NULL, 'm'},
        {"overdue", no_argument, NULL, 'o'},
        {"since", required_argument, NULL, 'S'},
        {"until", required_argument, NULL, 'U'},
        {"limit", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *state = NULL, *dept = NULL, *community = NULL;
    int64_t since = 0, until = INT64_MAX;
    long limit = DEFAULT_LIMIT;
    bool overdue = false, since_given = false;
    int c;
    while ((c = cli_getopt(cli, CMD, argc, argv, ":hc:s:d:on:", opts)) != -1) {
        switch (c) {
        case 'h': help(); return CLI_OK;
        case 's':
            if (msg_enum_from_name(msg_state_names, STATE_COUNT, optarg) <= 0)
                return cli_usage(CMD, "no state '%s' (received, dispatched, accepted, contacted, "
                                 "resolved, closed, returned, cancelled)", optarg);
            state = optarg;
            break;
        case 'd': dept = optarg; break;
        case 'm': community = optarg; break;
        case 'o': overdue = true; break;
        case 'S':
        case 'U':
            if (cli_parse_time(optarg, c == 'S' ? &since : &until))
                return cli_time_usage(CMD, c == 'S' ? "--since" : "--until", optarg);
            since_given |= c == 'S';
            break;
        case 'n':
            if (cli_parse_long(optarg, 0, 1000000000L, &limit))
                return cli_usage(CMD, "--limit takes a count (0 for all)");
            break;
        default: return CLI_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    /* an empty range is a mistake, not "no case matches": as stats says */
    if (cli_range_check(CMD, since, until, since_given))
        return CLI_USAGE;
    cli_warn_zone(CMD);
    int rc = cli_load_config(cli, CMD);
    if (rc)
        return rc;
    if (dept) {
        const char *id = cli_dept_lookup(cli->cfg, dept);
        if (!id)
            return cli_usage(CMD, "no department '%s' in %s (give an id or a display name "
                             "of its [departments])", dept, cli->config_path);
        dept = id;
    }
    if (community)
        community = community_code(cli->cfg, community);
    sqlite3 *db = cli_db_open(cli, CMD);
    if (!db)
        return CLI_RUNTIME;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, list_sql, -1, &st, NULL) != SQLITE_OK) {
        rc = cli_db_fail(db, CMD, "cases");
        sqlite3_close(db);
        return rc;
    }
    sqlite3_bind_int64(st, 1, cli_now_ms());
    if (state)
        sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
    if (dept)
        sqlite3_bind_text(st, 3, dept, -1, SQLITE_STATIC);
    if (community)
        sqlite3_bind_text(st, 4, community, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, since);
    sqlite3_bind_int64(st, 6, until);
    sqlite3_bind_int(st, 7, overdue);
    sqlite3_bind_int64(st, 8, limit ? limit + 1 : -1);      /* one more: is there more? */
    table_t *t = table_new(7);
    if (!t) {
        sqlite3_finalize(st);
        sqlite3_close(db);
        return CLI_RUNTIME;
    }
    char zone[128], received[160];
    snprintf(received, sizeof received, "received (%s)", cli_zone_id(zone, sizeof zone));
    const char *head[] = {"id", received, "state", "lead", "community", "service", "overdue"};
    for (size_t i = 0; i < 7; i++)
        table_add(t, head[i]);
    table_align(t, 0, ALIGN_RIGHT);
    long n = 0;
    bool more = false;
    char when[32];
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (limit && n == limit) {
            more = true;
            break;
        }
        n++;
        bool co = sqlite3_column_int(st, 6), ro = sqlite3_column_int(st, 7);
        table_addf(t, "%" PRId64, (int64_t)sqlite3_column_int64(st, 0));
        table_add(t, cli_time(sqlite3_column_int64(st, 1), when, sizeof when));
        table_add(t, col(st, 2));
        table_add(t, cli_dept_name(cli->cfg, col(st, 3)));
        table_add(t, config_community_name(cli->cfg, col(st, 4)));
        table_add(t, col(st, 5));
        table_add(t, co && ro ? "contact,resolve" : co ? "contact" : ro ? "resolve" : "-");
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        rc = cli_db_fail(db, CMD, "cases");
    } else {
        rc = CLI_OK;
        if (n)
            table_print(t, stdout, 0);
        else
            fprintf(stderr, "minqing list: no case matches\n");
        if (more)
            fprintf(stderr, "minqing list: more than %ld cases match; the newest are shown "
                    "(--limit N, --limit 0 for all, or narrow the filters)\n", limit);
    }
    table_free(&t);
    sqlite3_close(db);
    return rc;
}
