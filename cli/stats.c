/*
 * stats.c - `minqing stats`: the figures a 12345 / grid platform is judged
 * by (接诉即办: response, resolution, satisfaction), per department and per
 * community, and the red and yellow lists (红黄榜) of departments.
 *
 * docs/stats.md is the normative definition of every figure; in short:
 *   - the cohort is the cases received in [--since, --until); every figure
 *     is about those cases and their assignments, as of now;
 *   - assignment figures (response, resolution, on-time resolution, return)
 *     count each department's shares (派单), all rounds, all roles; a
 *     community's response counts rounds;
 *   - case figures count cases: satisfaction and redo for the department
 *     whose lead share resolved the rated round (not the lead of now, which
 *     a returned or reassigned redo changes), escalations for the department
 *     that led the case when the rung fired; all three for the community;
 *   - contact is the round's: its first contact, by any share, meets the
 *     duty for every share that held the case then (PROTOCOL.md 7.2);
 *   - a deadline figure counts an assignment once it is decided: done (on
 *     time or late), or its deadline passed while the department still held
 *     it; one still within its deadline, made after it passed or after the
 *     round's contact (response), or handed back (returned, withdrawn)
 *     before it or, in an old system (imported), at a time unknown, is not
 *     counted either way.
 * The deadline of an assignment is its round's: the case's stored
 * contact_due / resolve_due for the current round, the rounds table's for
 * one a redo ended (schema 6). A round ended by an older broker has no such
 * row, so its deadlines are computed again from the config's [deadlines]
 * and the round's start (receipt, or the redo: when the round's first
 * assignment was made, in the same transaction as the `reopened` event),
 * which is exact unless the rules changed since.
 *
 * The database is read in one read transaction, so the three queries see
 * one snapshot; nothing is written.
 */
#include "cli.h"
#include "deadline.h"
#include "msg.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CMD "stats"
#define MAX_LEVEL 16                /* rungs of a ladder, as on the wire */
#define LIST_SIZE 5                 /* red and yellow lists: best and worst five */
#define DEFAULT_MIN_ASSIGNMENTS 5

static void help(void)
{
    printf(
        "usage: minqing stats [-c FILE] [--since T] [--until T] [--min-assignments N]\n"
        "                     [--json | --csv]\n"
        "\n"
        "Per department and per community, for the cases received in the period:\n"
        "  received       cases (a department: cases in which it had a share)\n"
        "  response       assignments whose round's resident was reached by the contact\n"
        "                 deadline / those whose response is decided (响应率); a\n"
        "                 community: rounds\n"
        "  resolution     assignments resolved / assignments not returned or withdrawn\n"
        "                 (办结率)\n"
        "  on-time        assignments resolved by the resolution deadline / those whose\n"
        "                 resolution is decided (按时办结率)\n"
        "  satisfaction   (satisfied + basically satisfied) / rated cases (满意率), for\n"
        "                 the department whose resolution was rated\n"
        "  returns        assignments returned / assignments (退单率)\n"
        "  redo           cases redone / cases resolved at least once (重办率), for the\n"
        "                 department whose resolution was redone\n"
        "  escalations    rungs fired at or after a deadline, by level (督办); reminders\n"
        "                 before a deadline (催办) are counted apart\n"
        "Then the red list and the yellow list (红黄榜): the best and the worst five\n"
        "departments by score = 100 x the mean of response, on-time and satisfaction\n"
        "(those with a base), among departments with at least N assignments; with\n"
        "fewer than ten ranked, each list takes half of them, so none is on both;\n"
        "none scoring as well as the red list's last is on the yellow one.\n"
        "Rates show as percent with their counts (66.7%% 2/3); '-' when nothing counts.\n"
        "docs/stats.md defines every figure exactly.\n"
        "\n"
        "Options:\n"
        "      --since T              cases received at or after T\n"
        "      --until T              cases received before T (after --since)\n"
        "  -m, --min-assignments N    rank only departments with N or more assignments\n"
        "                             in the period (default %d)\n"
        "  -j, --json                 JSON (every count, rate and the lists)\n"
        "      --csv                  CSV, one row per department and community\n"
        "  -c, --config FILE          the broker's config, for the database and the\n"
        "                             display names (default %s)\n"
        "  -h, --help                 this help\n"
        "\n"
        "Times T: 2026-11-01 or 20261101 (local midnight), 2026-11-01T08:00[:SS] (local\n"
        "time, or with an offset: +08:00, Z), or unix ms (13 digits). --since 2026-11-01\n"
        "--until 2026-12-01 is November. Figures that depend on deadlines are as of the\n"
        "moment the command runs.\n"
        "\n"
        "Read-only: the database is opened read-only and never written.\n"
        "Exit status: 0 done; 1 database missing or unreadable; 2 bad option.\n",
        DEFAULT_MIN_ASSIGNMENTS, CONFIG_DEFAULT_PATH);
}

/* ---- the queries (cohort: ?1 <= received_at < ?2) --------------------- */

/* Every assignment of the cohort, with the times the trail gives it, and
 * what the broker kept of its round when a redo ended it (KEPT, from JOIN:
 * schema 6's rounds table; a database of an older broker has none). */
#define ASSIGNMENTS_SQL(KEPT, JOIN) \
    "SELECT a.department, c.community, a.state, a.round, c.redo_count, c.service_code,"       \
    "  c.priority, c.received_at, c.contact_due, c.resolve_due, c.contacted_at, c.resolved_at," \
    "  (SELECT min(e.at) FROM events e WHERE e.case_id = a.case_id AND e.assignment_id = a.id" \
    "     AND e.kind IN ('contacted', 'resolved')),"                                          \
    "  (SELECT min(e.at) FROM events e WHERE e.case_id = a.case_id AND e.assignment_id = a.id" \
    "     AND e.kind = 'resolved'),"                                                          \
    "  (SELECT min(e.at) FROM events e WHERE e.case_id = a.case_id AND e.assignment_id = a.id" \
    "     AND e.to_state IN ('returned', 'cancelled') AND e.kind <> 'imported'),"             \
    "  (SELECT min(r.created_at) FROM assignments r WHERE r.case_id = a.case_id"              \
    "     AND r.round = a.round),"                                                            \
    "  (SELECT min(e.at) FROM events e WHERE e.case_id = a.case_id AND e.assignment_id = a.id" \
    "     AND e.kind = 'imported'),"                                                          \
    "  a.case_id, a.role, a.created_at,"                                                      \
    "  (SELECT min(e.at) FROM events e JOIN assignments r ON r.id = e.assignment_id"          \
    "     WHERE e.case_id = a.case_id AND r.round = a.round"                                  \
    "     AND e.kind IN ('contacted', 'resolved')),"                                          \
    "  (SELECT min(e.at) FROM events e JOIN assignments r ON r.id = e.assignment_id"          \
    "     WHERE e.case_id = a.case_id AND r.round = a.round AND e.kind = 'imported'),"       \
    "  c.state = 'cancelled' AND a.round = c.redo_count,"                                     \
    KEPT " FROM assignments a JOIN cases c ON c.id = a.case_id" JOIN                         \
    " WHERE c.received_at >= ?1 AND c.received_at < ?2"                                       \
    " ORDER BY a.case_id, a.id"
static const char *const assignments_sql = ASSIGNMENTS_SQL(
    " rd.case_id IS NOT NULL, rd.contact_due, rd.resolve_due, rd.contacted_at, rd.resolved_at",
    " LEFT JOIN rounds rd ON rd.case_id = a.case_id AND rd.round = a.round");
static const char *const assignments_sql_v5 = ASSIGNMENTS_SQL(" 0, NULL, NULL, NULL, NULL", "");

enum {
    A_DEPT, A_COMMUNITY, A_STATE, A_ROUND, A_REDO, A_SERVICE, A_PRIORITY, A_RECEIVED,
    A_CONTACT_DUE, A_RESOLVE_DUE, A_CASE_CONTACTED, A_CASE_RESOLVED, A_CONTACT_AT,
    A_RESOLVE_AT, A_ENDED_AT, A_ROUND_START, A_IMPORTED, A_CASE_ID, A_ROLE, A_CREATED,
    A_ROUND_CONTACT, A_ROUND_IMPORTED, A_VOID, A_KEPT, A_KEPT_CONTACT_DUE, A_KEPT_RESOLVE_DUE,
    A_KEPT_CONTACTED, A_KEPT_RESOLVED,
};

/* Every case of the cohort, for the case figures, with the department whose
 * work the latest rating is about: the one whose lead share resolved the
 * rated round (the round before the redo an `unsatisfied` started, else the
 * current one; round 0 for an `unsatisfied` that IMPORT brought without a
 * redo), not the lead of now, which a return or a REASSIGN of the redo
 * changes. */
static const char *const cases_sql =
    "SELECT coalesce((SELECT r.department FROM assignments r WHERE r.case_id = c.id"
    "     AND r.role = 'lead' AND r.state = 'resolved'"
    "     AND r.round = max(c.redo_count - (c.rating IS 'unsatisfied'), 0)"
    "     ORDER BY r.id DESC LIMIT 1),"
    "     c.lead_department),"
    "  c.community, c.rating, c.redo_count, c.resolved_at, c.lead_department"
    " FROM cases c WHERE c.received_at >= ?1 AND c.received_at < ?2";

enum { C_RATED_DEPT, C_COMMUNITY, C_RATING, C_REDO, C_RESOLVED, C_LEAD };

/* Every escalation of the cohort's cases, but those of a round a CANCEL
 * ended (read_share). */
static const char *const escalations_sql =
    "SELECT coalesce(e.department, c.lead_department), c.community, e.level, e.overdue_s"
    " FROM escalations e JOIN cases c ON c.id = e.case_id"
    " WHERE c.received_at >= ?1 AND c.received_at < ?2"
    "  AND NOT (c.state = 'cancelled' AND e.round = c.redo_count)";

/* ---- figures ---------------------------------------------------------- */

typedef struct {
    long num, den;
} ratio_t;

typedef struct {
    char *key;                      /* department id or community code */
    long received, lead_cases, assignments;
    ratio_t response, resolution, on_time, satisfaction, returns, redo;
    long esc[MAX_LEVEL], esc_total, reminders;
    int64_t last_case;              /* counting distinct cases per department */
    int64_t redo_case;              /* the case of the last resolved lead share counted */
    bool redo_hit;                  /* ... and whether a round of it was redone */
    int64_t resp_case;              /* a community's last case and round counted in */
    int resp_round;                 /* the response rate (case ids start at 1) */
    double score;
    bool scored, ranked;
} agg_t;

typedef struct {
    agg_t *v;
    size_t n, cap;
} group_t;

typedef struct {
    const config_t *cfg;
    int64_t now, since, until;
    long min_assignments;
    int levels;                     /* escalation levels to show: config's, or more if seen */
    group_t depts, communities;
    agg_t **red, **yellow;
    size_t nred, nyellow;           /* on each list */
} stats_t;

static agg_t *find(group_t *g, const char *key)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->v[i].key, key) == 0)
            return &g->v[i];
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 32;
        agg_t *v = realloc(g->v, cap * sizeof *v);
        if (!v)
            return NULL;
        g->v = v, g->cap = cap;
    }
    agg_t *a = &g->v[g->n];
    memset(a, 0, sizeof *a);
    if (!(a->key = strdup(key)))
        return NULL;
    g->n++;
    return a;
}

static void group_free(group_t *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->v[i].key);
    free(g->v);
    memset(g, 0, sizeof *g);
}

static bool has(const ratio_t *r)
{
    return r->den > 0;
}

static double rate(const ratio_t *r)
{
    return r->den ? (double)r->num / (double)r->den : 0;
}

/* When an assignment was handed back (returned, withdrawn): 0 while it is
 * held, or UNKNOWN_END when it ended in an old system (imported) at a time
 * the history does not give. */
#define UNKNOWN_END INT64_MAX

/* An assignment on one deadline: not counted, met, or missed. */
typedef enum { FIG_NONE, FIG_MET, FIG_MISSED } fig_t;

/* One deadline figure for one assignment, held from `created`: decided once
 * done, or once the deadline passed while it was held (docs/stats.md). */
static fig_t deadline_figure(int64_t due, int64_t created, int64_t done, int64_t ended,
                             int64_t now)
{
    if (!due || created > due)
        return FIG_NONE;            /* no rule, or it had passed before the share existed */
    if (done)
        return done <= due ? FIG_MET : FIG_MISSED;
    if (ended == UNKNOWN_END)
        return FIG_NONE;            /* before or after the deadline: nobody can tell */
    if (ended)
        return ended > due ? FIG_MISSED : FIG_NONE;  /* handed back after it: a miss */
    return now > due ? FIG_MISSED : FIG_NONE;        /* still held: a miss once it passed */
}

static void add_figure(ratio_t *r, fig_t f)
{
    r->den += f != FIG_NONE;
    r->num += f == FIG_MET;
}

static int64_t col_time(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, col);
}

static const char *col_text(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    return s ? (const char *)s : "";
}

/* A time of an assignment's round: the case row's (case_col) for its current
 * round, what the broker kept (kept_col) for one a redo ended. */
static int64_t round_time(sqlite3_stmt *st, int case_col, int kept_col)
{
    return col_time(st, sqlite3_column_int(st, A_KEPT) ? kept_col : case_col);
}

/* The deadline of an assignment's round on a ladder (0: none): as the
 * broker used it, or for a round ended before schema 6, computed again. */
static int64_t round_due(const stats_t *s, sqlite3_stmt *st, int ladder)
{
    int round = sqlite3_column_int(st, A_ROUND);
    if (round == sqlite3_column_int(st, A_REDO) || sqlite3_column_int(st, A_KEPT))
        return ladder == LADDER_CONTACT ? round_time(st, A_CONTACT_DUE, A_KEPT_CONTACT_DUE)
                                        : round_time(st, A_RESOLVE_DUE, A_KEPT_RESOLVE_DUE);
    int64_t start = round == 0 ? col_time(st, A_RECEIVED) : col_time(st, A_ROUND_START);
    if (!start)
        return 0;
    int prio = msg_enum_from_name(msg_priority_names, PRIO_COUNT, col_text(st, A_PRIORITY));
    return deadline_due(s->cfg, ladder, col_text(st, A_SERVICE), prio < 0 ? PRIO_NORMAL : prio,
                        start);
}

/* The earlier of a (0: none) and b, where b counts only when it is known
 * and not after `before`. */
static int64_t earliest_before(int64_t a, int64_t b, int64_t before)
{
    if (!b || b > before)
        return a;
    return a && a < b ? a : b;
}

/* An imported assignment's history came as the case's times: those from
 * before the import are its own (a later contact on the case may be another
 * department's, after a return), and a resolution is its contact too. One
 * that ended in the old system (no end, and no resolution, in the trail)
 * ended when the history does not say: *ended becomes UNKNOWN_END. */
static void imported_times(sqlite3_stmt *st, bool ended_before, int64_t *contact_at,
                           int64_t *resolve_at, int64_t *ended)
{
    int64_t imported = col_time(st, A_IMPORTED);
    *resolve_at = earliest_before(*resolve_at, round_time(st, A_CASE_RESOLVED, A_KEPT_RESOLVED),
                                  imported);
    *contact_at = earliest_before(*contact_at, round_time(st, A_CASE_CONTACTED, A_KEPT_CONTACTED),
                                  imported);
    *contact_at = earliest_before(*contact_at, *resolve_at, imported);
    if (ended_before)
        *ended = UNKNOWN_END;
}

/* When the resident of an assignment's round was first reached, by any of
 * its shares (0: not yet): the contact duty is the case's, and the first
 * contact ends it for every share (PROTOCOL.md 7.2). In a round brought by
 * IMPORT, the history's contact counts too. */
static int64_t round_contact(sqlite3_stmt *st)
{
    int64_t at = col_time(st, A_ROUND_CONTACT), imported = col_time(st, A_ROUND_IMPORTED);
    if (!imported)
        return at;
    at = earliest_before(at, round_time(st, A_CASE_CONTACTED, A_KEPT_CONTACTED), imported);
    return earliest_before(at, round_time(st, A_CASE_RESOLVED, A_KEPT_RESOLVED), imported);
}

/* An assignment, as the figures see it. */
typedef struct {
    bool returned, resolved, withdrawn, lead;
    fig_t response, on_time;
} share_t;

/* The response of a share: met or missed by the round's first contact, made
 * while it held the share. A share made after that contact had no one left
 * to call, and one that ended in an old system is judged by its own history. */
static fig_t share_response(const stats_t *s, sqlite3_stmt *st, int64_t own_contact,
                            int64_t ended)
{
    int64_t created = col_time(st, A_CREATED), first = round_contact(st);
    if (first && created > first)
        return FIG_NONE;
    int64_t done = ended == UNKNOWN_END ? own_contact
                 : first && (!ended || first <= ended) ? first : 0;
    return deadline_figure(round_due(s, st, LADDER_CONTACT), created, done, ended, s->now);
}

static share_t read_share(const stats_t *s, sqlite3_stmt *st)
{
    const char *state = col_text(st, A_STATE);
    share_t sh = {
        .returned = strcmp(state, "returned") == 0, .resolved = strcmp(state, "resolved") == 0,
        .withdrawn = strcmp(state, "cancelled") == 0,
        .lead = strcmp(col_text(st, A_ROLE), "lead") == 0,
    };
    /* the round a CANCEL ended (作废: a duplicate, an invalid report, one
     * withdrawn) is held to no deadline, as 12345 assessments leave void
     * orders out (a duplicate would charge the same lateness twice); rounds
     * a redo ended before it keep their figures */
    if (sqlite3_column_int(st, A_VOID)) {
        sh.response = sh.on_time = FIG_NONE;
        return sh;
    }
    int64_t contact_at = col_time(st, A_CONTACT_AT), resolve_at = col_time(st, A_RESOLVE_AT);
    int64_t ended = col_time(st, A_ENDED_AT);
    if (col_time(st, A_IMPORTED))
        imported_times(st, (sh.resolved || sh.returned || sh.withdrawn) && !ended && !resolve_at,
                       &contact_at, &resolve_at, &ended);
    sh.response = share_response(s, st, contact_at, ended);
    sh.on_time = deadline_figure(round_due(s, st, LADDER_RESOLVE), col_time(st, A_CREATED),
                                 resolve_at, ended, s->now);
    return sh;
}

/* The figures every share adds to its department and its community. */
static void count_share(agg_t *a, const share_t *sh)
{
    a->assignments++;
    a->returns.den++;
    a->returns.num += sh->returned;
    if (!sh->returned && !sh->withdrawn) {
        a->resolution.den++;
        a->resolution.num += sh->resolved;
    }
    add_figure(&a->on_time, sh->on_time);
}

/* A department's redo: of the cases in which it resolved a lead share, those
 * in which such a round of its was rated unsatisfied and redone. */
static void count_redo(agg_t *d, const share_t *sh, sqlite3_stmt *st, int64_t case_id)
{
    if (!sh->lead || !sh->resolved)
        return;
    if (d->redo_case != case_id) {
        d->redo_case = case_id, d->redo_hit = false;
        d->redo.den++;
    }
    if (!d->redo_hit && sqlite3_column_int(st, A_ROUND) < sqlite3_column_int(st, A_REDO)) {
        d->redo_hit = true;
        d->redo.num++;
    }
}

/* One row of a period's query, with the department and the community it
 * counts for (found or added); false when out of memory. */
typedef bool row_fn(stats_t *s, sqlite3_stmt *st, agg_t *dept, agg_t *community);

/* Run a period's query (?1 and ?2 the period; the department and community
 * ids in columns dept_col and comm_col) and count each row with fn. */
static int read_rows(stats_t *s, sqlite3 *db, const char *sql, const char *what, int dept_col,
                     int comm_col, row_fn *fn)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return cli_db_fail(db, CMD, what);
    sqlite3_bind_int64(st, 1, s->since);
    sqlite3_bind_int64(st, 2, s->until);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        agg_t *d = find(&s->depts, col_text(st, dept_col));
        agg_t *c = find(&s->communities, col_text(st, comm_col));
        if (!d || !c || !fn(s, st, d, c)) {
            sqlite3_finalize(st);
            return cli_fail(CLI_RUNTIME, CMD, "out of memory");
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? CLI_OK : cli_db_fail(db, CMD, what);
}

static bool assignment_row(stats_t *s, sqlite3_stmt *st, agg_t *d, agg_t *c)
{
    int64_t case_id = sqlite3_column_int64(st, A_CASE_ID);
    int round = sqlite3_column_int(st, A_ROUND);
    share_t sh = read_share(s, st);
    if (d->last_case != case_id)        /* rows come by case: one count per case */
        d->received++, d->last_case = case_id;
    count_share(d, &sh);
    count_share(c, &sh);
    count_redo(d, &sh, st, case_id);
    add_figure(&d->response, sh.response);
    /* a community's resident is reached in time or not once per round: every
     * share of the round that counts is judged by the same first contact */
    if (sh.response != FIG_NONE && (c->resp_case != case_id || c->resp_round != round)) {
        c->resp_case = case_id, c->resp_round = round;
        add_figure(&c->response, sh.response);
    }
    return true;
}

static void count_rating(agg_t *a, sqlite3_stmt *st)
{
    const char *rating = (const char *)sqlite3_column_text(st, C_RATING);
    if (!rating)
        return;
    a->satisfaction.den++;
    a->satisfaction.num += strcmp(rating, "satisfied") == 0 ||
                           strcmp(rating, "basically_satisfied") == 0;
}

/* A case: its rating for the department whose round was rated (d) and for
 * its community (c); its lead of now leads it; the community's redo rate
 * counts cases (a department's comes from its shares: count_redo). */
static bool case_row(stats_t *s, sqlite3_stmt *st, agg_t *d, agg_t *c)
{
    size_t rated = (size_t)(d - s->depts.v);   /* finding the lead may move the array */
    agg_t *lead = find(&s->depts, col_text(st, C_LEAD));
    if (!lead)
        return false;
    d = &s->depts.v[rated];
    lead->lead_cases++;
    c->received++;
    c->lead_cases++;
    count_rating(d, st);
    count_rating(c, st);
    int redo = sqlite3_column_int(st, C_REDO);
    if (redo > 0 || sqlite3_column_type(st, C_RESOLVED) != SQLITE_NULL) {
        c->redo.den++;
        c->redo.num += redo > 0;
    }
    return true;
}

static void count_escalation(agg_t *a, int level, int64_t overdue_s)
{
    if (overdue_s < 0) {
        a->reminders++;
        return;
    }
    a->esc_total++;
    if (level >= 1 && level <= MAX_LEVEL)
        a->esc[level - 1]++;
}

static bool escalation_row(stats_t *s, sqlite3_stmt *st, agg_t *d, agg_t *c)
{
    int level = sqlite3_column_int(st, 2);
    int64_t over = sqlite3_column_int64(st, 3);
    count_escalation(d, level, over);
    count_escalation(c, level, over);
    if (over >= 0 && level > s->levels && level <= MAX_LEVEL)
        s->levels = level;
    return true;
}

/* ---- score and lists ------------------------------------------------- */

/* 100 x the mean of response, on-time resolution and satisfaction, over
 * those that have a base (docs/stats.md). */
static void score(agg_t *a)
{
    const ratio_t *parts[] = {&a->response, &a->on_time, &a->satisfaction};
    double sum = 0;
    int n = 0;
    for (size_t i = 0; i < 3; i++)
        if (has(parts[i]))
            sum += rate(parts[i]), n++;
    a->scored = n > 0;
    a->score = n ? 100.0 * sum / n : 0;
}

/* x rounded half away from zero as on paper: a tie that binary fractions
 * put a hair below .5 (23/80 x 1000 is 287.4999...) is nudged up first;
 * figures are ratios of counts, and no other comes that close to a tie. */
static long long on_paper(double x)
{
    return llround(x * (1 + 1e-12));
}

/* v rounded to 1/scale: every output (table, CSV, JSON) and the ranking
 * print and compare the same figure. */
static double shown(double v, double scale)
{
    return (double)on_paper(v * scale) / scale;
}

/* The score as published (to 0.01): two scores that print alike tie, and
 * the tie rules decide, not the last bits of a division. */
static long long published(const agg_t *a)
{
    return on_paper(a->score * 100);
}

static double score_shown(const agg_t *a)
{
    return (double)published(a) / 100;
}

/* Best first: higher score, then more assignments (more evidence), then id. */
static int by_best(const void *x, const void *y)
{
    const agg_t *a = *(agg_t *const *)x, *b = *(agg_t *const *)y;
    if (published(a) != published(b))
        return published(a) > published(b) ? -1 : 1;
    if (a->assignments != b->assignments)
        return a->assignments > b->assignments ? -1 : 1;
    return strcmp(a->key, b->key);
}

/* Worst first: lower score, then more assignments, then id. */
static int by_worst(const void *x, const void *y)
{
    const agg_t *a = *(agg_t *const *)x, *b = *(agg_t *const *)y;
    if (published(a) != published(b))
        return published(a) < published(b) ? -1 : 1;
    if (a->assignments != b->assignments)
        return a->assignments > b->assignments ? -1 : 1;
    return strcmp(a->key, b->key);
}

static int rank(stats_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->depts.n; i++) {
        agg_t *a = &s->depts.v[i];
        score(a);
        a->ranked = a->scored && a->assignments >= s->min_assignments;
        n += a->ranked;
    }
    s->nred = n / 2 < LIST_SIZE ? n / 2 : LIST_SIZE;
    s->red = calloc(n ? n : 1, sizeof *s->red);
    s->yellow = calloc(n ? n : 1, sizeof *s->yellow);
    if (!s->red || !s->yellow)
        return cli_fail(CLI_RUNTIME, CMD, "out of memory");
    for (size_t i = 0, k = 0; i < s->depts.n; i++)
        if (s->depts.v[i].ranked)
            s->red[k++] = &s->depts.v[i];
    /* the yellow list is drawn from those not on the red one: with ties
     * across the middle, both sorts would otherwise put the same department
     * (the one with the most assignments) first */
    if (n > 1)
        qsort(s->red, n, sizeof *s->red, by_best);
    /* nor one that scores as well as the red list's last: a department is
     * not shamed for a score another is praised for (with ties, the yellow
     * list is shorter, or empty) */
    size_t rest = 0;
    for (size_t i = s->nred; s->nred && i < n; i++)
        if (published(s->red[i]) < published(s->red[s->nred - 1]))
            s->yellow[rest++] = s->red[i];
    if (rest > 1)
        qsort(s->yellow, rest, sizeof *s->yellow, by_worst);
    s->nyellow = rest < s->nred ? rest : s->nred;
    return CLI_OK;
}

/* 1-based place of a on a list, or 0. */
static size_t place(agg_t *const *list, size_t n, const agg_t *a)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == a)
            return i + 1;
    return 0;
}

static bool active(const agg_t *a)
{
    return a->received || a->lead_cases || a->assignments || a->esc_total || a->reminders;
}

static int by_key(const void *x, const void *y)
{
    return strcmp(((const agg_t *)x)->key, ((const agg_t *)y)->key);
}

/* ---- output: JSON ---------------------------------------------------- */

static json_t *j_ratio(const ratio_t *r)
{
    return json_pack("{s:I, s:I, s:o}", "num", (json_int_t)r->num, "den", (json_int_t)r->den,
                     "rate", has(r) ? json_real(shown(rate(r), 10000)) : json_null());
}

static json_t *j_time(int64_t ms)
{
    return ms > 0 && ms < INT64_MAX ? json_integer(ms) : json_null();
}

static json_t *j_figures(const stats_t *s, const agg_t *a)
{
    json_t *levels = json_object();
    for (int l = 1; l <= s->levels; l++) {
        char k[8];
        snprintf(k, sizeof k, "%d", l);
        json_object_set_new(levels, k, json_integer(a->esc[l - 1]));
    }
    return json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:{s:I, s:o}, s:I}",
                     "received", (json_int_t)a->received,
                     "assignments", (json_int_t)a->assignments,
                     "response", j_ratio(&a->response),
                     "resolution", j_ratio(&a->resolution),
                     "on_time_resolution", j_ratio(&a->on_time),
                     "satisfaction", j_ratio(&a->satisfaction),
                     "return", j_ratio(&a->returns),
                     "redo", j_ratio(&a->redo),
                     "escalations", "total", (json_int_t)a->esc_total, "by_level", levels,
                     "reminders", (json_int_t)a->reminders);
}

static json_t *j_list(const stats_t *s, agg_t *const *list, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:f}", "rank", (json_int_t)(i + 1),
                              "id", list[i]->key, "name", cli_dept_name(s->cfg, list[i]->key),
                              "score", score_shown(list[i])));
    return arr;
}

static int print_json(const stats_t *s)
{
    char zone[128];
    json_t *depts = json_array(), *comms = json_array();
    for (size_t i = 0; i < s->depts.n; i++) {
        const agg_t *a = &s->depts.v[i];
        if (!active(a))
            continue;
        json_t *o = json_pack("{s:s, s:s, s:I}", "id", a->key,
                              "name", cli_dept_name(s->cfg, a->key),
                              "lead_cases", (json_int_t)a->lead_cases);
        json_t *f = j_figures(s, a);
        json_object_update(o, f);
        json_decref(f);
        json_object_set_new(o, "score", a->scored ? json_real(score_shown(a))
                                                  : json_null());
        json_object_set_new(o, "ranked", json_boolean(a->ranked));
        json_array_append_new(depts, o);
    }
    for (size_t i = 0; i < s->communities.n; i++) {
        const agg_t *a = &s->communities.v[i];
        json_t *o = json_pack("{s:s, s:s}", "code", a->key,
                              "name", config_community_name(s->cfg, a->key));
        json_t *f = j_figures(s, a);
        json_object_update(o, f);
        json_decref(f);
        json_array_append_new(comms, o);
    }
    /* the zone the period's dates were read in, local midnights */
    json_t *root = json_pack("{s:o, s:o, s:I, s:s, s:I, s:i, s:o, s:o, s:o, s:o}",
                             "since", j_time(s->since), "until", j_time(s->until),
                             "as_of", (json_int_t)s->now,
                             "time_zone", cli_zone_id(zone, sizeof zone),
                             "min_assignments", (json_int_t)s->min_assignments,
                             "levels", s->levels, "departments", depts, "communities", comms,
                             "red_list", j_list(s, s->red, s->nred),
                             "yellow_list", j_list(s, s->yellow, s->nyellow));
    if (!root)
        return cli_fail(CLI_RUNTIME, CMD, "out of memory");
    int rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                        JSON_REAL_PRECISION(10));
    putchar('\n');
    json_decref(root);
    return rc ? cli_fail(CLI_RUNTIME, CMD, "cannot write the output") : CLI_OK;
}

/* ---- output: CSV ----------------------------------------------------- */

static void csv_text(const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void csv_ratio(const ratio_t *r)
{
    printf(",%ld,%ld,", r->num, r->den);
    if (has(r))
        printf("%.4f", shown(rate(r), 10000));
}

static void csv_row(const stats_t *s, const char *scope, const agg_t *a, const char *name,
                    bool dept)
{
    printf("%s,", scope);
    csv_text(a->key);
    putchar(',');
    csv_text(name);
    printf(",%ld,%ld,%ld", a->received, a->lead_cases, a->assignments);
    csv_ratio(&a->response);
    csv_ratio(&a->resolution);
    csv_ratio(&a->on_time);
    csv_ratio(&a->satisfaction);
    csv_ratio(&a->returns);
    csv_ratio(&a->redo);
    printf(",%ld", a->esc_total);
    for (int l = 1; l <= s->levels; l++)
        printf(",%ld", a->esc[l - 1]);
    printf(",%ld,", a->reminders);
    if (dept && a->scored)
        printf("%.2f", score_shown(a));
    size_t r = dept ? place(s->red, s->nred, a) : 0, y = dept ? place(s->yellow, s->nyellow, a) : 0;
    if (r)
        printf(",red,%zu\n", r);
    else if (y)
        printf(",yellow,%zu\n", y);
    else
        printf(",,\n");
}

static int print_csv(const stats_t *s)
{
    printf("scope,id,name,received,lead_cases,assignments");
    const char *rates[] = {"response", "resolution", "on_time_resolution", "satisfaction",
                           "return", "redo"};
    for (size_t i = 0; i < 6; i++)
        printf(",%s_num,%s_den,%s_rate", rates[i], rates[i], rates[i]);
    printf(",escalations");
    for (int l = 1; l <= s->levels; l++)
        printf(",escalations_l%d", l);
    printf(",reminders,score,list,rank\n");
    for (size_t i = 0; i < s->depts.n; i++)
        if (active(&s->depts.v[i]))
            csv_row(s, "department", &s->depts.v[i], cli_dept_name(s->cfg, s->depts.v[i].key),
                    true);
    for (size_t i = 0; i < s->communities.n; i++)
        csv_row(s, "community", &s->communities.v[i],
                config_community_name(s->cfg, s->communities.v[i].key), false);
    return CLI_OK;
}

/* ---- output: table --------------------------------------------------- */

static void t_ratio(table_t *t, const ratio_t *r)
{
    if (has(r))
        table_addf(t, "%.1f%% %ld/%ld", shown(100.0 * rate(r), 10), r->num, r->den);
    else
        table_add(t, "-");
}

static void t_section(const stats_t *s, const group_t *g, bool dept)
{
    size_t ncols = 10 + (size_t)s->levels + (dept ? 1 : 0);
    table_t *t = table_new(ncols);
    if (!t)
        return;
    table_add(t, dept ? "department" : "community");
    const char *head[] = {"received", "assignments", "response", "resolution", "on-time",
                          "satisfaction", "returns", "redo"};
    for (size_t i = 0; i < 8; i++)
        table_add(t, head[i]);
    for (int l = 1; l <= s->levels; l++)
        table_addf(t, l == 1 ? "esc L%d" : "L%d", l);
    table_add(t, "reminders");
    if (dept)
        table_add(t, "score");
    for (size_t c = 1; c < ncols; c++)
        table_align(t, c, ALIGN_RIGHT);
    for (size_t i = 0; i < g->n; i++) {
        const agg_t *a = &g->v[i];
        if (!active(a))
            continue;
        const char *name = dept ? cli_dept_name(s->cfg, a->key)
                                : config_community_name(s->cfg, a->key);
        if (strcmp(name, a->key) == 0)
            table_add(t, a->key);       /* no display name in the config */
        else
            table_addf(t, "%s (%s)", name, a->key);
        table_addf(t, "%ld", a->received);
        table_addf(t, "%ld", a->assignments);
        t_ratio(t, &a->response);
        t_ratio(t, &a->resolution);
        t_ratio(t, &a->on_time);
        t_ratio(t, &a->satisfaction);
        t_ratio(t, &a->returns);
        t_ratio(t, &a->redo);
        for (int l = 1; l <= s->levels; l++)
            table_addf(t, "%ld", a->esc[l - 1]);
        table_addf(t, "%ld", a->reminders);
        if (dept && a->scored)
            table_addf(t, "%.2f", score_shown(a));
        else if (dept)
            table_add(t, "-");
    }
    if (table_rows(t) > 1)
        table_print(t, stdout, 2);
    else
        printf("  (no cases in the period)\n");
    table_free(&t);
}

static void t_list(const stats_t *s, const char *title, agg_t *const *list, size_t n)
{
    printf("\n%s\n", title);
    if (!s->nred) {
        printf("  (fewer than two departments ranked: at least %ld assignments and a score "
               "each)\n", s->min_assignments);
        return;
    }
    if (!n) {
        printf("  (none of the others scores below the red list)\n");
        return;
    }
    table_t *t = table_new(4);
    if (!t)
        return;
    table_align(t, 0, ALIGN_RIGHT), table_align(t, 2, ALIGN_RIGHT);
    table_align(t, 3, ALIGN_RIGHT);
    for (size_t i = 0; i < n; i++) {
        table_addf(t, "%zu", i + 1);
        table_addf(t, "%s (%s)", cli_dept_name(s->cfg, list[i]->key), list[i]->key);
        table_addf(t, "%.2f", score_shown(list[i]));
        table_addf(t, "%ld assignment%s", list[i]->assignments,
                   list[i]->assignments == 1 ? "" : "s");
    }
    table_print(t, stdout, 2);
    table_free(&t);
}

static int print_table(const stats_t *s)
{
    char a[32], b[32], now[32], zone[128];
    if (s->since > 0 || s->until < INT64_MAX)
        printf("Cases received from %s to %s", s->since > 0 ? cli_time(s->since, a, sizeof a) :
               "the start", s->until < INT64_MAX ? cli_time(s->until, b, sizeof b) : "now");
    else
        printf("All cases");
    printf(", as of %s (local time, %s)\n\n部门 Departments\n", cli_time(s->now, now, sizeof now),
           cli_zone_id(zone, sizeof zone));
    t_section(s, &s->depts, true);
    printf("\n社区 Communities\n");
    t_section(s, &s->communities, false);
    char title[128];
    snprintf(title, sizeof title, "红榜 Red list: the best %zu by score", s->nred);
    t_list(s, s->nred ? title : "红榜 Red list", s->red, s->nred);
    snprintf(title, sizeof title, "黄榜 Yellow list: the worst %zu by score", s->nyellow);
    t_list(s, s->nyellow ? title : "黄榜 Yellow list", s->yellow, s->nyellow);
    printf("\nscore = 100 x mean(response, on-time, satisfaction) over those with a base;\n"
           "ranked: departments with %ld or more assignments. Rates: percent and counts;\n"
           "'-': nothing to count yet. Every figure is defined in docs/stats.md.\n",
           s->min_assignments);
    return CLI_OK;
}

/* ---- the command ----------------------------------------------------- */

static int compute(stats_t *s, sqlite3 *db)
{
    /* configured departments first, in config order */
    for (size_t i = 0; i < s->cfg->ndepts; i++)
        if (!find(&s->depts, s->cfg->depts[i].id))
            return cli_fail(CLI_RUNTIME, CMD, "out of memory");
    for (int l = LADDER_CONTACT; l <= LADDER_RESOLVE; l++)
        if ((int)s->cfg->nlevels[l] > s->levels)
            s->levels = (int)s->cfg->nlevels[l];
    if (s->levels > MAX_LEVEL)
        s->levels = MAX_LEVEL;
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);    /* one snapshot for every query */
    long rounds = 0;
    int rc = cli_scalar(db, "SELECT count(*) FROM sqlite_master WHERE name = 'rounds'", &rounds)
           ? cli_db_fail(db, CMD, "the schema") : CLI_OK;
    if (rc == CLI_OK)
        rc = read_rows(s, db, rounds ? assignments_sql : assignments_sql_v5, "assignments", A_DEPT,
                       A_COMMUNITY, assignment_row);
    if (rc == CLI_OK)
        rc = read_rows(s, db, cases_sql, "cases", C_RATED_DEPT, C_COMMUNITY, case_row);
    if (rc == CLI_OK)
        rc = read_rows(s, db, escalations_sql, "escalations", 0, 1, escalation_row);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc == CLI_OK && s->communities.n > 1)
        qsort(s->communities.v, s->communities.n, sizeof *s->communities.v, by_key);
    return rc == CLI_OK ? rank(s) : rc;
}

int cmd_stats(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"since", required_argument, NULL, 'S'},
        {"until", required_argument, NULL, 'U'},
        {"min-assignments", required_argument, NULL, 'm'},
        {"json", no_argument, NULL, 'j'},
        {"csv", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    stats_t s = {.since = 0, .until = INT64_MAX, .min_assignments = DEFAULT_MIN_ASSIGNMENTS};
    char format = 't';
    bool since_given = false;
    int c;
    while ((c = cli_getopt(cli, CMD, argc, argv, ":hc:m:j", opts)) != -1) {
        switch (c) {
        case 'h': help(); return CLI_OK;
        case 'S':
        case 'U':
            if (cli_parse_time(optarg, c == 'S' ? &s.since : &s.until))
                return cli_time_usage(CMD, c == 'S' ? "--since" : "--until", optarg);
            since_given |= c == 'S';
            break;
        case 'm':
            if (cli_parse_long(optarg, 0, 1000000000L, &s.min_assignments))
                return cli_usage(CMD, "--min-assignments takes a count");
            break;
        case 'j':
        case 'C':
            if (format != 't' && format != c)
                return cli_usage(CMD, "--json and --csv exclude each other");
            format = (char)c;
            break;
        default: return CLI_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (cli_range_check(CMD, s.since, s.until, since_given))
        return CLI_USAGE;
    cli_warn_zone(CMD);
    int rc = cli_load_config(cli, CMD);
    if (rc)
        return rc;
    s.cfg = cli->cfg;
    s.now = cli_now_ms();
    sqlite3 *db = cli_db_open(cli, CMD);
    if (!db)
        return CLI_RUNTIME;
    rc = compute(&s, db);
    sqlite3_close(db);
    if (rc == CLI_OK)
        rc = format == 'j' ? print_json(&s) : format == 'C' ? print_csv(&s) : print_table(&s);
    group_free(&s.depts);
    group_free(&s.communities);
    free(s.red);
    free(s.yellow);
    return rc;
}
