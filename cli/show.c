/*
 * show.c - `minqing show ID`: one case as the audit trail has it: the record,
 * the deadlines and how they were met, the resident (masked unless
 * --unmask), every assignment, every escalation, and every event in the
 * order the broker wrote them, with local times and actors.
 *
 * Personal data (个人信息): masked by default (phone 138****5678, name 张*,
 * digit runs in free text). --unmask shows it in full: whoever can run this
 * command can read the database file (owner-only, like the broker's), so the
 * mask protects against shoulder-surfing, screen sharing and pasting into
 * tickets, not against the operator; --unmask is the deliberate act.
 */
#include "cli.h"
#include "msg.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define CMD "show"

static void help(void)
{
    printf(
        "usage: minqing show [-c FILE] [--unmask] ID\n"
        "\n"
        "Show case ID: its record and state, its deadlines and whether they were met,\n"
        "the resident, its assignments (one department's share each, per round), its\n"
        "escalations, and its full audit trail in the order it was written, with local\n"
        "times and who caused each event (intake channel, router, worker, admin,\n"
        "broker).\n"
        "\n"
        "The resident's personal data is masked by default: phone 138****5678, name\n"
        "张*, e-mail z***@example.com, the address cut after its first third, the\n"
        "location hidden; in the description, the notes, the external id and the media\n"
        "link, numbers of 7 or more digits (phone or ID numbers), e-mail addresses, and\n"
        "the resident's own name, address and e-mail. --unmask shows everything. The database is readable only\n"
        "by the broker's user and root, so whoever runs this can read it anyway: the\n"
        "mask is against screens being seen, shared or pasted, and --unmask is the\n"
        "deliberate act of looking (个人信息保护法). Do not paste unmasked output.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE  the broker's config, for the database (default\n"
        "                     %s)\n"
        "  -u, --unmask       show personal data in full\n"
        "  -h, --help         this help\n"
        "\n"
        "Exit status: 0 shown; 1 database missing or unreadable; 2 bad option or ID;\n"
        "3 no such case.\n",
        CONFIG_DEFAULT_PATH);
}

static const char *const case_sql =
    "SELECT id, channel, external_id, service_code, description, grid_code, street, community,"
    " priority, lat, lon, address_string, first_name, last_name, phone, email, media_url,"
    " requested_datetime, lead_department, state, received_at, contact_due, resolve_due,"
    " contacted_at, resolved_at, closed_at, rating, redo_count,"
    " (SELECT max(at) FROM events WHERE case_id = ?1 AND kind = 'reopened')"
    " FROM cases WHERE id = ?1";
static const char *const assignments_sql =
    "SELECT id, department, role, state, round, attempt, worker, created_at, updated_at"
    " FROM assignments WHERE case_id = ?1 ORDER BY id";
static const char *const escalations_sql =
    "SELECT round, ladder, level, target, department, due_at, fired_at, overdue_s"
    " FROM escalations WHERE case_id = ?1 ORDER BY fired_at, id";
static const char *const events_sql =
    "SELECT id, at, kind, assignment_id, department, actor, from_state, to_state, detail"
    " FROM events WHERE case_id = ?1 ORDER BY id";

enum {
    C_ID, C_CHANNEL, C_EXTERNAL_ID, C_SERVICE, C_DESCRIPTION, C_GRID, C_STREET, C_COMMUNITY,
    C_PRIORITY, C_LAT, C_LON, C_ADDRESS, C_FIRST, C_LAST, C_PHONE, C_EMAIL, C_MEDIA,
    C_REQUESTED, C_LEAD, C_STATE, C_RECEIVED, C_CONTACT_DUE, C_RESOLVE_DUE, C_CONTACTED,
    C_RESOLVED, C_CLOSED, C_RATING, C_REDO, C_REOPENED,
};

typedef struct {
    const config_t *cfg;
    bool unmask;
    int64_t now;
    char *known[4];                 /* the resident's first, last name, address, e-mail */
} view_t;

static const char *text(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    return s ? (const char *)s : NULL;
}

static const char *state_label(const char *state)
{
    static const char *const zh[][2] = {
        {"received", "受理"}, {"dispatched", "已派单"}, {"accepted", "已接单"},
        {"contacted", "已联系"}, {"resolved", "已办结"}, {"closed", "已结案"},
        {"returned", "已退单"}, {"cancelled", "已作废"},
    };
    for (size_t i = 0; state && i < sizeof zh / sizeof zh[0]; i++)
        if (strcmp(zh[i][0], state) == 0)
            return zh[i][1];
    return "";
}

static const char *rating_label(const char *rating)
{
    if (!rating)
        return "-";
    if (strcmp(rating, "satisfied") == 0)
        return "satisfied (满意)";
    if (strcmp(rating, "basically_satisfied") == 0)
        return "basically_satisfied (基本满意)";
    if (strcmp(rating, "unsatisfied") == 0)
        return "unsatisfied (不满意)";
    return rating;
}

/* "1h02m", "45s", "3d04h" */
static const char *span(int64_t ms, char *buf, size_t size)
{
    int64_t s = (ms < 0 ? -ms : ms) / 1000;
    if (s >= 86400)
        snprintf(buf, size, "%lldd%02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
    else if (s >= 3600)
        snprintf(buf, size, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else if (s >= 60)
        snprintf(buf, size, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else
        snprintf(buf, size, "%llds", (long long)s);
    return buf;
}

/* "2026-11-01 08:30:05 (met 1m20s early)" and the like, for one deadline. */
static void deadline_cell(table_t *t, const view_t *v, int64_t due, int64_t done, bool open)
{
    char when[32], d[32];
    if (!due) {
        table_add(t, "- (no rule applies)");
        return;
    }
    cli_time(due, when, sizeof when);
    if (done)
        table_addf(t, "%s (%s %s %s)", when, done <= due ? "met," : "MISSED,",
                   span(done - due, d, sizeof d), done <= due ? "to spare" : "late");
    else if (open && v->now > due)
        table_addf(t, "%s (OVERDUE by %s)", when, span(v->now - due, d, sizeof d));
    else if (open)
        table_addf(t, "%s (due in %s)", when, span(due - v->now, d, sizeof d));
    else
        table_add(t, when);
}

static void add_time(table_t *t, int64_t ms)
{
    char buf[32];
    table_add(t, cli_time(ms, buf, sizeof buf));
}

/* Free text as shown (malloc'd; NULL when out of memory): unless unmasked,
 * the resident's own name, address and e-mail, and every phone or ID number
 * and e-mail address, masked. */
static char *shown_text(const view_t *v, const char *s)
{
    char *copy = strdup(s);
    if (!copy || v->unmask)
        return copy;
    /* no phone: the description shows it as mask_text shows any number */
    mask_person_t person = {v->known[0], v->known[1], v->known[2], v->known[3], NULL};
    mask_known(copy, &person);
    size_t n = strlen(copy) * 2 + 8;    /* an e-mail's "***" may grow it */
    char *out = malloc(n);
    if (out)
        mask_text(copy, out, n);
    free(copy);
    return out;
}

static void add_text(table_t *t, const view_t *v, const char *s)
{
    char *shown = s ? shown_text(v, s) : NULL;
    table_add(t, shown);                /* NULL: a cell all the same, or the columns shift */
    free(shown);
}

static void pair(table_t *t, const char *key, const char *value)
{
    table_add(t, key);
    table_add(t, value);
}

static void print_case(const view_t *v, sqlite3_stmt *st)
{
    const config_t *cfg = v->cfg;
    const char *state = text(st, C_STATE);
    bool open = strcmp(state, "closed") != 0 && strcmp(state, "cancelled") != 0;
    printf("Case %" PRId64 "  %s %s\n", (int64_t)sqlite3_column_int64(st, C_ID), state,
           state_label(state));
    table_t *t = table_new(2);
    if (!t)
        return;
    table_add(t, "service");
    table_addf(t, "%s (priority %s)", text(st, C_SERVICE), text(st, C_PRIORITY));
    table_add(t, "channel");
    /* a channel's ticket number may be the caller's phone number */
    char *ext = shown_text(v, text(st, C_EXTERNAL_ID) ? text(st, C_EXTERNAL_ID) : "");
    table_addf(t, "%s, external id %s", text(st, C_CHANNEL), ext ? ext : "?");
    free(ext);
    table_add(t, "grid");
    table_addf(t, "%s: %s, %s", text(st, C_GRID),
               config_community_name(cfg, text(st, C_COMMUNITY)),
               config_street_name(cfg, text(st, C_STREET)));
    table_add(t, "lead");
    table_addf(t, "%s (%s)", cli_dept_name(cfg, text(st, C_LEAD)), text(st, C_LEAD));
    table_add(t, "received");
    add_time(t, sqlite3_column_int64(st, C_RECEIVED));
    if (text(st, C_REQUESTED))
        pair(t, "reported", text(st, C_REQUESTED));
    int64_t contacted = sqlite3_column_int64(st, C_CONTACTED);
    int64_t resolved = sqlite3_column_int64(st, C_RESOLVED);
    /* a redo (重办) keeps the last round's resolved_at: it meets none of
     * this round's deadlines */
    int64_t resolved_now = resolved > sqlite3_column_int64(st, C_REOPENED) ? resolved : 0;
    bool unresolved = open && strcmp(state, "resolved") != 0;
    table_add(t, "contact due");
    /* a resolution is the contact too (PROTOCOL.md 7.2): an imported
     * resolved case may have no contacted_at */
    deadline_cell(t, v, sqlite3_column_int64(st, C_CONTACT_DUE),
                  contacted ? contacted : resolved_now, open);
    table_add(t, "contacted");
    add_time(t, contacted);
    table_add(t, "resolve due");
    deadline_cell(t, v, sqlite3_column_int64(st, C_RESOLVE_DUE),
                  unresolved ? 0 : resolved_now, unresolved);
    table_add(t, "resolved");
    if (resolved && !resolved_now) {
        char when[32];
        table_addf(t, "%s (before the redo)", cli_time(resolved, when, sizeof when));
    } else
        add_time(t, resolved);
    table_add(t, "closed");
    add_time(t, sqlite3_column_int64(st, C_CLOSED));
    pair(t, "rating", rating_label(text(st, C_RATING)));
    table_add(t, "redo (重办)");
    table_addf(t, "%d", sqlite3_column_int(st, C_REDO));
    if (text(st, C_MEDIA)) {        /* a photo's name is often the reporter's number */
        table_add(t, "media");
        add_text(t, v, text(st, C_MEDIA));
    }
    table_print(t, stdout, 2);
    table_free(&t);

    /* masked, then cleaned, as a table's cells are: the masker counts a
     * control byte between a number's groups as a space, and would not
     * see the '?' that cleaning makes of it */
    const char *raw = text(st, C_DESCRIPTION);
    char *masked = raw ? shown_text(v, raw) : NULL;
    char *desc = masked ? cli_clean(masked, true) : NULL;
    if (desc) {
        printf("\nDescription\n  ");
        for (const char *p = desc; *p; p++) {
            if (*p == '\n')
                fputs("\n  ", stdout);
            else
                putchar(*p);
        }
        putchar('\n');
    }
    free(masked);
    free(desc);
}

static void print_resident(const view_t *v, sqlite3_stmt *st)
{
    char buf[1200];
    printf("\nResident (%s)\n", v->unmask ? "unmasked: do not share" :
           "masked; --unmask shows it in full");
    table_t *t = table_new(2);
    if (!t)
        return;
    const char *last = text(st, C_LAST), *first = text(st, C_FIRST);
    if (last || first) {
        char name[300];
        bool ascii = (last && (unsigned char)last[0] < 0x80) ||
                     (first && (unsigned char)first[0] < 0x80);
        snprintf(name, sizeof name, "%s%s%s", last ? last : "", last && first && ascii ? " " : "",
                 first ? first : "");
        if (!v->unmask)
            mask_name(name, buf, sizeof buf);
        pair(t, "name", v->unmask ? name : buf);
    }
    if (text(st, C_PHONE)) {
        if (!v->unmask)
            mask_phone(text(st, C_PHONE), buf, sizeof buf);
        pair(t, "phone", v->unmask ? text(st, C_PHONE) : buf);
    }
    if (text(st, C_EMAIL)) {
        if (!v->unmask)
            mask_email(text(st, C_EMAIL), buf, sizeof buf);
        pair(t, "email", v->unmask ? text(st, C_EMAIL) : buf);
    }
    if (text(st, C_ADDRESS)) {
        if (!v->unmask)
            mask_address(text(st, C_ADDRESS), buf, sizeof buf);
        pair(t, "address", v->unmask ? text(st, C_ADDRESS) : buf);
    }
    if (sqlite3_column_type(st, C_LAT) != SQLITE_NULL) {
        table_add(t, "location");
        if (v->unmask)
            table_addf(t, "%.6f, %.6f", sqlite3_column_double(st, C_LAT),
                       sqlite3_column_double(st, C_LON));
        else
            table_add(t, "(hidden)");
    }
    if (table_rows(t) == 0)
        pair(t, "-", "(no personal data given)");
    table_print(t, stdout, 2);
    table_free(&t);
}

static int print_assignments(const view_t *v, sqlite3 *db, int64_t id)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, assignments_sql, -1, &st, NULL) != SQLITE_OK)
        return cli_db_fail(db, CMD, "assignments");
    sqlite3_bind_int64(st, 1, id);
    table_t *t = table_new(9);
    if (!t) {
        sqlite3_finalize(st);
        return CLI_RUNTIME;
    }
    const char *head[] = {"id", "department", "role", "state", "round", "attempt", "worker",
                          "created", "updated"};
    for (size_t i = 0; i < 9; i++)
        table_add(t, head[i]);
    table_align(t, 0, ALIGN_RIGHT), table_align(t, 4, ALIGN_RIGHT), table_align(t, 5, ALIGN_RIGHT);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        table_addf(t, "%" PRId64, (int64_t)sqlite3_column_int64(st, 0));
        table_addf(t, "%s (%s)", cli_dept_name(v->cfg, text(st, 1)), text(st, 1));
        table_add(t, text(st, 2));
        table_add(t, text(st, 3));
        table_addf(t, "%d", sqlite3_column_int(st, 4));
        table_addf(t, "%d", sqlite3_column_int(st, 5));
        table_add(t, text(st, 6));
        add_time(t, sqlite3_column_int64(st, 7));
        add_time(t, sqlite3_column_int64(st, 8));
    }
    sqlite3_finalize(st);
    printf("\nAssignments (派单: one department's share per round)\n");
    if (table_rows(t) > 1)
        table_print(t, stdout, 2);
    else
        printf("  none\n");
    table_free(&t);
    return rc == SQLITE_DONE ? CLI_OK : cli_db_fail(db, CMD, "assignments");
}

static int print_escalations(const view_t *v, sqlite3 *db, int64_t id)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, escalations_sql, -1, &st, NULL) != SQLITE_OK)
        return cli_db_fail(db, CMD, "escalations");
    sqlite3_bind_int64(st, 1, id);
    table_t *t = table_new(7);
    if (!t) {
        sqlite3_finalize(st);
        return CLI_RUNTIME;
    }
    const char *head[] = {"fired", "round", "ladder", "level", "target", "department", "due / late"};
    for (size_t i = 0; i < 7; i++)
        table_add(t, head[i]);
    int rc;
    char due[32], d[32];
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        add_time(t, sqlite3_column_int64(st, 6));
        table_addf(t, "%d", sqlite3_column_int(st, 0));
        table_add(t, text(st, 1));
        table_addf(t, "L%d", sqlite3_column_int(st, 2));
        table_add(t, text(st, 3));
        table_add(t, text(st, 4) ? cli_dept_name(v->cfg, text(st, 4)) : NULL);
        int64_t over = sqlite3_column_int64(st, 7);
        table_addf(t, "%s (%s %s)", cli_time(sqlite3_column_int64(st, 5), due, sizeof due),
                   over < 0 ? "reminder," : "late", span(over * 1000, d, sizeof d));
    }
    sqlite3_finalize(st);
    if (table_rows(t) > 1) {
        printf("\nEscalations (督办)\n");
        table_print(t, stdout, 2);
    }
    table_free(&t);
    return rc == SQLITE_DONE ? CLI_OK : cli_db_fail(db, CMD, "escalations");
}

static int print_trail(const view_t *v, sqlite3 *db, int64_t id)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, events_sql, -1, &st, NULL) != SQLITE_OK)
        return cli_db_fail(db, CMD, "events");
    sqlite3_bind_int64(st, 1, id);
    table_t *t = table_new(7);
    if (!t) {
        sqlite3_finalize(st);
        return CLI_RUNTIME;
    }
    const char *head[] = {"time", "event", "assignment", "department", "actor", "state",
                          "detail"};
    for (size_t i = 0; i < 7; i++)
        table_add(t, head[i]);
    int rc;
    char when[40];
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        table_add(t, cli_time_ms(sqlite3_column_int64(st, 1), when, sizeof when));
        table_add(t, text(st, 2));
        if (sqlite3_column_type(st, 3) == SQLITE_NULL)
            table_add(t, "");
        else
            table_addf(t, "#%" PRId64, (int64_t)sqlite3_column_int64(st, 3));
        table_add(t, text(st, 4) ? cli_dept_name(v->cfg, text(st, 4)) : "");
        table_add(t, text(st, 5));
        const char *from = text(st, 6), *to = text(st, 7);
        if (from && to)
            table_addf(t, "%s -> %s", from, to);
        else if (to)
            table_addf(t, "-> %s", to);
        else
            table_add(t, "");
        add_text(t, v, text(st, 8) ? text(st, 8) : "");
    }
    sqlite3_finalize(st);
    printf("\nAudit trail (%zu events, oldest first)\n", table_rows(t) - 1);
    table_print(t, stdout, 2);
    table_free(&t);
    return rc == SQLITE_DONE ? CLI_OK : cli_db_fail(db, CMD, "events");
}

int cmd_show(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"unmask", no_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    view_t v = {.now = cli_now_ms()};
    int c;
    while ((c = cli_getopt(cli, CMD, argc, argv, ":hc:u", opts)) != -1) {
        switch (c) {
        case 'h': help(); return CLI_OK;
        case 'u': v.unmask = true; break;
        default: return CLI_USAGE;
        }
    }
    if (argc - optind != 1)
        return cli_usage(CMD, "give one case id");
    long id;
    if (cli_parse_long(argv[optind], 1, 9007199254740991L, &id))
        return cli_usage(CMD, "'%s' is not a case id (a number from 1)", argv[optind]);
    int rc = cli_load_config(cli, CMD);
    if (rc)
        return rc;
    v.cfg = cli->cfg;
    sqlite3 *db = cli_db_open(cli, CMD);
    if (!db)
        return CLI_RUNTIME;
    sqlite3_stmt *st;
    /* one read transaction: the case, its assignments and its trail agree */
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    if (sqlite3_prepare_v2(db, case_sql, -1, &st, NULL) != SQLITE_OK) {
        rc = cli_db_fail(db, CMD, "cases");
        sqlite3_close(db);
        return rc;
    }
    sqlite3_bind_int64(st, 1, id);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const int cols[] = {C_FIRST, C_LAST, C_ADDRESS, C_EMAIL};
        for (int i = 0; i < 4; i++)
            v.known[i] = text(st, cols[i]) ? strdup(text(st, cols[i])) : NULL;
        print_case(&v, st);
        print_resident(&v, st);
    } else if (step == SQLITE_DONE) {
        rc = cli_fail(CLI_NOT_FOUND, CMD, "no case %ld. 'minqing list' shows the recent ones.", id);
    } else {
        rc = cli_db_fail(db, CMD, "cases");
    }
    sqlite3_finalize(st);
    if (rc == CLI_OK)
        rc = print_assignments(&v, db, id);
    if (rc == CLI_OK)
        rc = print_escalations(&v, db, id);
    if (rc == CLI_OK)
        rc = print_trail(&v, db, id);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    for (int i = 0; i < 4; i++)
        free(v.known[i]);
    return rc;
}
