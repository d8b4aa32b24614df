/*
 * test_store.c - unit tests for the SQLite store (daemon/store.c).
 *
 * The store is where an acknowledged case must survive, so each test opens
 * a real database in a fresh temporary directory and checks what reaches
 * the file: its permissions (residents' personal data: owner only), the
 * schema version, every row type read back as written, the uniqueness of
 * (channel, external_id), the audit trail refusing UPDATE and DELETE from
 * any connection, commit and rollback across a reopen, and the refusals of
 * a file that is not ours (garbage, or a schema from a newer minqingd) or
 * that is damaged.
 *
 * A second, plain sqlite3 connection looks at the file where the store's
 * API has no query. A disk-full error is produced with a small SQLite VFS
 * shim (installed as the default VFS before the store opens) whose writes
 * fail with SQLITE_FULL on demand, since a real full disk cannot be made
 * in a test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tmpdir.h"
#include "io_shim.h"
#include "store.h"

static char g_dir[64];
static char g_path[128];            /* g_dir/minqing.db */
static char g_err[512];
static store_t *g_st;
static char g_msg_id[65];           /* the SUBMIT msg_id a lookup reports */

/* ---- a temporary directory per test ---------------------------------- */

static void path_in_dir(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", g_dir, name);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/mq-test-store-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    path_in_dir(g_path, sizeof g_path, "minqing.db");
    g_st = store_open(g_path, g_err, sizeof g_err);
    if (g_st)
        return 0;
    fprintf(stderr, "store_open: %s\n", g_err);
    tmpdir_remove(g_dir);
    return -1;
}

static int teardown(void **state)
{
    (void)state;
    store_close(&g_st);
    tmpdir_remove(g_dir);
    return 0;
}

static void reopen(void)
{
    store_close(&g_st);
    assert_null(g_st);
    g_st = store_open(g_path, g_err, sizeof g_err);
    if (!g_st)
        fail_msg("reopen: %s", g_err);
}

static void begin(void)
{
    assert_int_equal(store_begin(g_st), 0);
}

static void commit(void)
{
    if (store_commit(g_st) != 0)
        fail_msg("commit: %s", store_errmsg(g_st));
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("expected \"%s\" in \"%s\"", needle, hay);
}

/* ---- a second connection to look at the file --------------------------- */

static sqlite3 *peek_open(void)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(g_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        fail_msg("sqlite3_open %s: %s", g_path, db ? sqlite3_errmsg(db) : "?");
    sqlite3_busy_timeout(db, 2000);
    return db;
}

/* First column of the first row of `q`, as text ("" for NULL or no row). */
static const char *peek(const char *q)
{
    static char out[2048];
    sqlite3 *db = peek_open();
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK) {
        snprintf(out, sizeof out, "%s", sqlite3_errmsg(db));
        sqlite3_close(db);
        fail_msg("%s: %s", q, out);
    }
    const unsigned char *t = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    snprintf(out, sizeof out, "%s", t ? (const char *)t : "");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

/* Run `q` on a second connection: 0, or -1 with its message in g_err. */
static int peek_exec(const char *q)
{
    sqlite3 *db = peek_open();
    char *msg = NULL;
    int rc = sqlite3_exec(db, q, NULL, NULL, &msg);
    snprintf(g_err, sizeof g_err, "%s", msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* ---- fixtures ---------------------------------------------------------- */

/* A full case record: every optional field present but email and media. */
static msg_case_t record(const char *channel, const char *external_id)
{
    msg_case_t r = {
        .service_code = "water.leak", .description = "水管爆裂，楼道积水",
        .address_string = "城关街道西湖社区3号楼", .first_name = "明", .last_name = "李",
        .phone = "13800000000", .requested_datetime = "2024-05-01T08:30:00+08:00",
        .external_id = external_id, .channel = channel, .grid_code = "CG01-XH02-G0031",
        .lat = 36.0611, .lon = 103.8343, .priority = PRIO_HIGH,
    };
    int bits[] = {CF_SERVICE_CODE, CF_DESCRIPTION, CF_ADDRESS_STRING, CF_FIRST_NAME,
                  CF_LAST_NAME, CF_PHONE, CF_REQUESTED_DATETIME, CF_EXTERNAL_ID, CF_CHANNEL,
                  CF_GRID_CODE, CF_LAT, CF_LONG, CF_PRIORITY};
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
        MSG_SET(&r, bits[i]);
    return r;
}

static store_case_t case_meta(void)
{
    return (store_case_t){
        .lead = "water", .street = "CG01", .community = "CG01-XH02",
        .state = STATE_RECEIVED, .received_at = 1714523400000,
        .contact_due = 1714525200000, .resolve_due = 1714782600000,
    };
}

/* Insert a case and return its id. */
static uint64_t add_case(const char *channel, const char *external_id)
{
    msg_case_t r = record(channel, external_id);
    store_case_t m = case_meta();
    if (store_case_insert(g_st, &r, "submit-1", &m) != 0)
        fail_msg("case insert: %s", store_errmsg(g_st));
    assert_true(m.id > 0);
    return m.id;
}

static uint64_t add_assignment(uint64_t case_id, const char *dept, msg_role_t role,
                               msg_state_t st)
{
    store_assignment_t a = {.case_id = case_id, .role = role, .state = st,
                            .created_at = 1000, .updated_at = 1000};
    snprintf(a.department, sizeof a.department, "%s", dept);
    if (store_assignment_insert(g_st, &a) != 0)
        fail_msg("assignment insert: %s", store_errmsg(g_st));
    assert_true(a.id > 0);
    return a.id;
}

static int case_exists(uint64_t id)
{
    store_case_t c;
    return store_case_get(g_st, id, &c);
}

/* ---- opening ------------------------------------------------------------ */

static void assert_mode_0600(const char *name)
{
    char p[256];
    struct stat sb;
    path_in_dir(p, sizeof p, name);
    if (stat(p, &sb) != 0)
        fail_msg("%s: not there", p);
    if ((sb.st_mode & 07777) != 0600)
        fail_msg("%s: mode %o, want 600", p, (unsigned)(sb.st_mode & 07777));
}

static void open_new_database(void **state)
{
    (void)state;
    assert_mode_0600("minqing.db");
    assert_mode_0600("minqing.db-wal");             /* the WAL holds the same data */
    char want[16];
    snprintf(want, sizeof want, "%d", STORE_SCHEMA_VERSION);
    assert_string_equal(peek("PRAGMA user_version"), want);
    assert_string_equal(peek("PRAGMA journal_mode"), "wal");
    assert_string_equal(peek("SELECT group_concat(name, ',') FROM (SELECT name FROM"
                             " sqlite_master WHERE type = 'table' ORDER BY name)"),
                        "assignments,cases,escalations,events,id_floors,ladders,outcomes,rounds");
    assert_false(store_dirty(g_st));
    assert_true(store_created(g_st));               /* the broker logs store.created */
    /* opening it again migrates nothing and keeps the version */
    reopen();
    assert_string_equal(peek("PRAGMA user_version"), want);
    assert_false(store_created(g_st));
}

/* ---- cases ------------------------------------------------------------- */

static void case_round_trip(void **state)
{
    (void)state;
    begin();
    uint64_t id = add_case("hotline", "E-1");
    assert_true(store_dirty(g_st));
    uint64_t found = 0;
    assert_int_equal(store_case_lookup(g_st, "hotline", "E-1", &found, g_msg_id), 1);
    assert_int_equal(found, id);
    assert_string_equal(g_msg_id, "submit-1");

    store_case_t c;
    assert_int_equal(store_case_get(g_st, id, &c), 1);
    assert_int_equal(c.id, id);
    assert_string_equal(c.lead, "water");
    assert_string_equal(c.grid_code, "CG01-XH02-G0031");
    assert_string_equal(c.street, "CG01");
    assert_string_equal(c.community, "CG01-XH02");
    assert_string_equal(c.service_code, "water.leak");
    assert_int_equal(c.priority, PRIO_HIGH);
    assert_int_equal(c.state, STATE_RECEIVED);
    assert_int_equal(c.received_at, 1714523400000);
    assert_int_equal(c.contact_due, 1714525200000);
    assert_int_equal(c.resolve_due, 1714782600000);
    assert_int_equal(c.contacted_at, 0);
    assert_int_equal(c.resolved_at, 0);
    assert_int_equal(c.closed_at, 0);
    assert_int_equal(c.rating, RATING_NONE);
    assert_int_equal(c.redo_count, 0);

    c.state = STATE_CLOSED;
    c.contacted_at = 1714523500000;
    c.resolved_at = 1714530000000;
    c.closed_at = 1714540000000;
    c.rating = RATING_BASICALLY_SATISFIED;
    c.redo_count = 2;
    snprintf(c.lead, sizeof c.lead, "urban");
    assert_int_equal(store_case_update(g_st, &c), 0);
    store_case_t back;
    assert_int_equal(store_case_get(g_st, id, &back), 1);
    assert_memory_equal(&back, &c, sizeof c);
    commit();
    assert_false(store_dirty(g_st));
    assert_string_equal(peek("SELECT state || ',' || rating || ',' || priority FROM cases"),
                        "closed,basically_satisfied,high");
}

static void case_record_round_trip(void **state)
{
    (void)state;
    begin();
    uint64_t id = add_case("wechat", "W-7");
    msg_case_t r, want = record("wechat", "W-7");
    assert_int_equal(store_case_record(g_st, id, &r), 1);
    assert_int_equal(r.present, want.present);
    const char *got_s[] = {r.service_code, r.description, r.address_string, r.first_name,
                           r.last_name, r.phone, r.requested_datetime, r.external_id,
                           r.channel, r.grid_code};
    const char *want_s[] = {want.service_code, want.description, want.address_string,
                            want.first_name, want.last_name, want.phone,
                            want.requested_datetime, want.external_id, want.channel,
                            want.grid_code};
    for (size_t i = 0; i < sizeof got_s / sizeof got_s[0]; i++)
        assert_string_equal(got_s[i], want_s[i]);
    assert_null(r.email);
    assert_null(r.media_url);
    assert_true(r.lat == want.lat && r.lon == want.lon);
    assert_int_equal(r.priority, PRIO_HIGH);
    assert_int_equal(store_case_record(g_st, id + 1, &r), 0);
    commit();
}

static void case_key_unique(void **state)
{
    (void)state;
    begin();
    uint64_t a = add_case("hotline", "E-1");
    uint64_t b = add_case("wechat", "E-1");         /* same id, other channel: fine */
    assert_int_not_equal(a, b);
    msg_case_t r = record("hotline", "E-1");
    store_case_t m = case_meta();
    assert_int_equal(store_case_insert(g_st, &r, "submit-1", &m), -1);
    assert_int_equal(store_errcode(g_st), ERR_STORE_FAILED);
    assert_contains(store_errmsg(g_st), "UNIQUE");
    /* the refused insert spoiled nothing: the transaction goes on */
    uint64_t id = 0;
    assert_int_equal(store_case_lookup(g_st, "hotline", "E-1", &id, g_msg_id), 1);
    assert_int_equal(id, a);
    assert_int_equal(store_case_lookup(g_st, "wechat", "E-1", &id, g_msg_id), 1);
    assert_int_equal(id, b);
    assert_int_equal(store_case_lookup(g_st, "hotline", "E-2", &id, g_msg_id), 0);
    assert_int_equal(store_case_lookup(g_st, "qrcode", "E-1", &id, g_msg_id), 0);
    assert_int_equal(case_exists(b + 1), 0);
    commit();
    assert_string_equal(peek("SELECT count(*) FROM cases"), "2");
}

/* ---- assignments ------------------------------------------------------- */

static void assignment_round_trip(void **state)
{
    (void)state;
    begin();
    uint64_t c = add_case("hotline", "E-1");
    store_assignment_t a = {.case_id = c, .department = "traffic", .role = ROLE_CO,
                            .state = STATE_RECEIVED, .attempt = 0, .round = 1,
                            .created_at = 111, .updated_at = 222};
    assert_int_equal(store_assignment_insert(g_st, &a), 0);
    store_assignment_t got;
    assert_int_equal(store_assignment_get(g_st, a.id, &got), 1);
    assert_memory_equal(&got, &a, sizeof a);

    a.state = STATE_DISPATCHED;
    a.attempt = 3;
    snprintf(a.worker, sizeof a.worker, "traffic:w1#4");
    a.updated_at = 333;
    assert_int_equal(store_assignment_update(g_st, &a), 0);
    assert_int_equal(store_assignment_get(g_st, a.id, &got), 1);
    assert_memory_equal(&got, &a, sizeof a);
    assert_int_equal(store_assignment_get(g_st, a.id + 1, &got), 0);
    commit();
    assert_string_equal(peek("SELECT department || ',' || role || ',' || state || ',' ||"
                             " attempt || ',' || worker || ',' || round FROM assignments"),
                        "traffic,co,dispatched,3,traffic:w1#4,1");
}

static void collect_open(void *arg, const store_assignment_t *a)
{
    char *out = arg;
    size_t len = strlen(out);
    snprintf(out + len, 256 - len, "%s%llu:%s:%s", len ? "," : "", (unsigned long long)a->id,
             a->department, msg_state_name(a->state));
}

static void assignments_of_case_and_open(void **state)
{
    (void)state;
    begin();
    uint64_t c1 = add_case("hotline", "E-1"), c2 = add_case("hotline", "E-2");
    static const struct { int c; const char *dept; msg_role_t role; msg_state_t st; } rows[] = {
        {1, "urban", ROLE_LEAD, STATE_RECEIVED}, {1, "traffic", ROLE_CO, STATE_RESOLVED},
        {2, "water", ROLE_LEAD, STATE_ACCEPTED}, {1, "dispatch", ROLE_LEAD, STATE_RETURNED},
        {2, "urban", ROLE_CO, STATE_CANCELLED}, {1, "water", ROLE_CO, STATE_CONTACTED},
        {2, "traffic", ROLE_CO, STATE_DISPATCHED},
    };
    uint64_t ids[7];
    for (size_t i = 0; i < 7; i++)
        ids[i] = add_assignment(rows[i].c == 1 ? c1 : c2, rows[i].dept, rows[i].role, rows[i].st);
    for (size_t i = 1; i < 7; i++)
        assert_true(ids[i] > ids[i - 1]);

    /* a round's live shares: not the returned one, nor another round's */
    store_assignment_t redo = {.case_id = c1, .role = ROLE_LEAD, .state = STATE_RECEIVED,
                               .created_at = 1000, .updated_at = 1000, .round = 1};
    snprintf(redo.department, sizeof redo.department, "urban");
    assert_int_equal(store_assignment_insert(g_st, &redo), 0);
    store_assignment_t v[8];
    assert_int_equal(store_round_assignments(g_st, c1, 0, v, 8), 3);
    uint64_t want1[] = {ids[0], ids[1], ids[5]};
    for (int i = 0; i < 3; i++)
        assert_int_equal(v[i].id, want1[i]);
    assert_string_equal(v[2].department, "water");
    assert_int_equal(v[2].state, STATE_CONTACTED);
    assert_int_equal(v[1].role, ROLE_CO);
    assert_int_equal(store_round_assignments(g_st, c1, 1, v, 8), 1);
    assert_int_equal(v[0].id, redo.id);
    assert_int_equal(store_round_assignments(g_st, c2, 0, v, 8), 2);  /* not the cancelled */
    assert_int_equal(v[1].id, ids[6]);
    assert_int_equal(store_round_assignments(g_st, c2 + 1, 0, v, 8), 0);
    /* more than the caller can hold is an error, not the first few */
    assert_int_equal(store_round_assignments(g_st, c2, 0, v, 1), -1);
    assert_non_null(strstr(store_errmsg(g_st), "more than 1 live assignments"));

    char open[256] = "";
    assert_int_equal(store_open_assignments(g_st, collect_open, open), 0);
    char want[256];
    snprintf(want, sizeof want, "%llu:urban:received,%llu:water:accepted,%llu:water:contacted,"
             "%llu:traffic:dispatched,%llu:urban:received", (unsigned long long)ids[0],
             (unsigned long long)ids[2], (unsigned long long)ids[5], (unsigned long long)ids[6],
             (unsigned long long)redo.id);
    assert_string_equal(open, want);
    commit();
}

static int live_of(uint64_t c, store_assignment_t *v)
{
    return store_round_assignments(g_st, c, 0, v, 8);
}

static void set_state(uint64_t id, msg_state_t st)
{
    store_assignment_t a;
    assert_int_equal(store_assignment_get(g_st, id, &a), 1);
    a.state = st;
    assert_int_equal(store_assignment_update(g_st, &a), 0);
}

/* store_round_assignments keeps its answer for the pass (roundcache.h): a
 * new share, a held change, the held rows written and a rollback each show
 * in the next answer as they would in a fresh query. */
static void round_answer_follows_the_rows(void **state)
{
    (void)state;
    store_assignment_t v[8];
    char open[256] = "";
    begin();
    uint64_t c = add_case("hotline", "R-1");
    uint64_t a1 = add_assignment(c, "urban", ROLE_LEAD, STATE_DISPATCHED);
    assert_int_equal(live_of(c, v), 1);
    uint64_t a2 = add_assignment(c, "water", ROLE_CO, STATE_RECEIVED);
    assert_int_equal(live_of(c, v), 2);
    assert_int_equal(v[1].id, a2);
    set_state(a1, STATE_ACCEPTED);
    assert_int_equal(live_of(c, v), 2);
    assert_int_equal(v[0].state, STATE_ACCEPTED);
    set_state(a2, STATE_RETURNED);
    assert_int_equal(store_open_assignments(g_st, collect_open, open), 0);   /* writes them */
    assert_int_equal(live_of(c, v), 1);
    assert_int_equal(v[0].id, a1);
    commit();

    begin();
    assert_int_equal(live_of(c, v), 1);
    set_state(a1, STATE_RETURNED);
    open[0] = '\0';
    assert_int_equal(store_open_assignments(g_st, collect_open, open), 0);
    assert_int_equal(live_of(c, v), 0);
    store_rollback(g_st);
    begin();
    assert_int_equal(live_of(c, v), 1);
    assert_int_equal(v[0].state, STATE_ACCEPTED);
    commit();
}

/* ---- the audit trail --------------------------------------------------- */

#define EVENT_ROWS \
    "SELECT group_concat(r, ';') FROM (SELECT case_id || '|' || ifnull(assignment_id, '-')" \
    " || '|' || at || '|' || kind || '|' || ifnull(department, '-') || '|' || actor" \
    " || '|' || ifnull(from_state, '-') || '|' || ifnull(to_state, '-') || '|'" \
    " || ifnull(detail, '-') AS r FROM events ORDER BY id)"

static void events_append_only(void **state)
{
    (void)state;
    begin();
    uint64_t c = add_case("hotline", "E-1");
    uint64_t a = add_assignment(c, "water", ROLE_LEAD, STATE_RECEIVED);
    store_event_t e1 = {.case_id = c, .at = 5, .kind = "received", .actor = "intake:hotline",
                        .to = STATE_RECEIVED};
    store_event_t e2 = {.case_id = c, .assignment_id = a, .at = 6, .kind = "routed",
                        .department = "water", .from = STATE_NONE, .to = STATE_RECEIVED,
                        .detail = "lead"};
    store_event_t e3 = {.case_id = c, .assignment_id = a, .at = 7, .kind = "accept",
                        .department = "water", .actor = "water:w1#1",
                        .from = STATE_DISPATCHED, .to = STATE_ACCEPTED};
    assert_int_equal(store_event_add(g_st, &e1), 0);
    assert_int_equal(store_event_add(g_st, &e2), 0);
    assert_int_equal(store_event_add(g_st, &e3), 0);
    commit();
    const char *want = "1|-|5|received|-|intake:hotline|-|received|-;"
                       "1|1|6|routed|water|broker|-|received|lead;"
                       "1|1|7|accept|water|water:w1#1|dispatched|accepted|-";
    assert_string_equal(peek(EVENT_ROWS), want);

    assert_int_equal(peek_exec("UPDATE events SET kind = 'forged' WHERE id = 2"), -1);
    assert_contains(g_err, "append-only");
    assert_int_equal(peek_exec("DELETE FROM events WHERE id = 1"), -1);
    assert_contains(g_err, "append-only");
    assert_int_equal(peek_exec("DELETE FROM events"), -1);
    assert_string_equal(peek(EVENT_ROWS), want);
    /* appending is still allowed, from the store */
    begin();
    assert_int_equal(store_event_add(g_st, &e1), 0);
    commit();
    assert_string_equal(peek("SELECT count(*) FROM events"), "4");
}

/* Events are held and written sixteen to a statement (evbuf.h): each still
 * lands once, in the order added, with its own strings (the caller's buffer
 * is reused at once), a detail longer than the buffer holds too; none is
 * on disk before the commit, and a rolled-back pass leaves none. */
static void events_held_until_commit(void **state)
{
    (void)state;
    static char detail[20000], kind[16];
    begin();
    uint64_t c = add_case("hotline", "E-2");
    for (int i = 0; i < 40; i++) {
        size_t len = i == 7 ? sizeof detail - 1 : i % 3 == 0 ? 900 : 5;
        memset(detail, 'a' + i % 26, len);
        detail[len] = '\0';
        snprintf(kind, sizeof kind, "k%02d", i);
        store_event_t e = {.case_id = c, .at = i, .kind = kind, .actor = "broker", .detail = detail};
        assert_int_equal(store_event_add(g_st, &e), 0);
    }
    memset(detail, 'z', 64);
    assert_true(store_dirty(g_st));
    assert_string_equal(peek("SELECT count(*) FROM events"), "0");
    commit();
    assert_string_equal(peek("SELECT count(*) FROM events"), "40");
    assert_string_equal(peek("SELECT count(*) FROM events WHERE kind = printf('k%02d', at)"
                             " AND detail = substr(replace(hex(zeroblob(20000)), '00',"
                             " char(97 + at % 26)), 1, CASE WHEN at = 7 THEN 19999"
                             " WHEN at % 3 = 0 THEN 900 ELSE 5 END)"), "40");
    assert_string_equal(peek("SELECT group_concat(at, ',') FROM (SELECT at FROM events ORDER BY id)"),
                        "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,"
                        "26,27,28,29,30,31,32,33,34,35,36,37,38,39");
    begin();
    for (int i = 0; i < 20; i++) {
        store_event_t e = {.case_id = c, .at = 100 + i, .kind = "gone", .actor = "broker"};
        assert_int_equal(store_event_add(g_st, &e), 0);
    }
    store_rollback(g_st);
    begin();
    commit();
    assert_string_equal(peek("SELECT count(*) FROM events"), "40");
}

/* ---- applied messages -------------------------------------------------- */

static void applied_find_add(void **state)
{
    (void)state;
    begin();
    store_applied_t got;
    assert_int_equal(store_applied_find(g_st, "water", "m-1", &got), 0);
    store_applied_t a = {.scope = "water", .msg_id = "m-1", .cmd = MSG_RESOLVED, .case_id = 4,
                         .assignment_id = 9, .state = STATE_RESOLVED, .at = 1234,
                         .worker = "water:w1#1", .result = "fixed", .summary = "换了阀门"};
    assert_int_equal(store_applied_add(g_st, &a), 0);
    store_applied_t b = {.scope = "admin", .msg_id = "m-1", .cmd = MSG_CANCEL, .case_id = 5,
                         .state = STATE_CANCELLED, .at = 1300, .reason = "duplicate"};
    assert_int_equal(store_applied_add(g_st, &b), 0);

    assert_int_equal(store_applied_find(g_st, "water", "m-1", &got), 1);
    assert_int_equal(got.cmd, MSG_RESOLVED);
    assert_int_equal(got.case_id, 4);
    assert_int_equal(got.assignment_id, 9);
    assert_int_equal(got.state, STATE_RESOLVED);
    assert_int_equal(got.at, 1234);
    assert_null(got.scope);
    assert_null(got.msg_id);
    assert_null(got.worker);
    assert_int_equal(store_applied_find(g_st, "admin", "m-1", &got), 1);
    assert_int_equal(got.cmd, MSG_CANCEL);
    assert_int_equal(got.assignment_id, 0);
    assert_int_equal(got.state, STATE_CANCELLED);
    assert_int_equal(store_applied_find(g_st, "urban", "m-1", &got), 0);
    assert_int_equal(store_applied_find(g_st, "water", "m-2", &got), 0);
    /* a (scope, msg_id) is recorded once: the second claim changes nothing */
    a.summary = "another summary";
    assert_int_equal(store_applied_add(g_st, &a), 1);
    commit();
    assert_string_equal(peek("SELECT kind || ',' || worker || ',' || result || ',' || summary"
                             " FROM outcomes WHERE scope = 'water'"),
                        "RESOLVED,water:w1#1,fixed,换了阀门");
}

/* ---- transactions ------------------------------------------------------ */

static void commit_survives_reopen(void **state)
{
    (void)state;
    begin();
    uint64_t c = add_case("hotline", "E-1");
    uint64_t a = add_assignment(c, "water", ROLE_LEAD, STATE_RECEIVED);
    commit();
    reopen();
    uint64_t id = 0;
    assert_int_equal(store_case_lookup(g_st, "hotline", "E-1", &id, g_msg_id), 1);
    assert_int_equal(id, c);
    store_assignment_t got;
    assert_int_equal(store_assignment_get(g_st, a, &got), 1);
    assert_string_equal(got.department, "water");
}

/* ---- ladders and escalations ------------------------------------------ */

static uint64_t add_case_at(const char *external_id, msg_state_t state, int contact_level)
{
    uint64_t id = add_case("hotline", external_id);
    store_case_t c;
    assert_int_equal(store_case_get(g_st, id, &c), 1);
    c.state = state;
    c.contact_level = contact_level;
    c.resolve_level = 1;
    assert_int_equal(store_case_update(g_st, &c), 0);
    return id;
}

static int contact_level_of(uint64_t id)
{
    store_case_t c;
    assert_int_equal(store_case_get(g_st, id, &c), 1);
    return c.contact_level;
}

/* A changed ladder is saved with the counts that refer to it: each open case
 * moves once (1 -> 2 and 2 -> 3 leave no case at 3 that was at 1), closed
 * cases and the other ladder stay, and the ladder is there after a reopen. */
static void ladder_saved_with_moved_counts(void **state)
{
    (void)state;
    store_rung_t got[16];
    assert_int_equal(store_rungs_get(g_st, LADDER_CONTACT, got, 16), 0);   /* none yet */
    begin();
    uint64_t a = add_case_at("L-1", STATE_DISPATCHED, 1);
    uint64_t b = add_case_at("L-2", STATE_DISPATCHED, 2);
    uint64_t c = add_case_at("L-3", STATE_CLOSED, 2);
    commit();
    const store_rung_t rungs[] = {{-60000, "community"}, {0, "community"}, {1000, "street"},
                                  {2000, "county"}};
    const int map[] = {0, 2, 3};
    begin();
    assert_int_equal(store_rungs_set(g_st, LADDER_CONTACT, rungs, 4, map, 3), 2);
    commit();
    assert_int_equal(contact_level_of(a), 2);
    assert_int_equal(contact_level_of(b), 3);
    assert_int_equal(contact_level_of(c), 2);                 /* closed: as it was */
    assert_string_equal(peek("SELECT group_concat(resolve_level) FROM cases"), "1,1,1");
    reopen();
    assert_int_equal(store_rungs_get(g_st, LADDER_CONTACT, got, 16), 4);
    assert_int_equal(got[0].offset_ms, -60000);
    assert_string_equal(got[2].target, "street");
    assert_int_equal(got[3].offset_ms, 2000);
    assert_int_equal(store_rungs_get(g_st, LADDER_RESOLVE, got, 16), 0);
    assert_int_equal(store_rungs_get(g_st, LADDER_CONTACT, got, 3), -1);    /* too many */
    /* saved again, shorter: the old rungs are gone */
    begin();
    assert_int_equal(store_rungs_set(g_st, LADDER_CONTACT, rungs + 2, 2, map, 1), 0);
    commit();
    assert_int_equal(store_rungs_get(g_st, LADDER_CONTACT, got, 16), 2);
    assert_string_equal(got[0].target, "street");
}

/* A count past the saved ladder's end (a database that outlived a shorter
 * ladder) moves as the last rung's count does, so that rungs appended to the
 * ladder are not passed over; counts already there stay, and are not
 * reported as moved. */
static void counts_past_the_end_move_as_the_last(void **state)
{
    (void)state;
    begin();
    uint64_t at3 = add_case_at("P-3", STATE_DISPATCHED, 3);
    uint64_t at4 = add_case_at("P-4", STATE_DISPATCHED, 4);
    uint64_t at9 = add_case_at("P-9", STATE_DISPATCHED, 9);
    commit();
    const store_rung_t rungs[] = {{0, "a"}, {1000, "b"}, {2000, "c"}, {3000, "d"}, {4000, "e"}};
    const int same[] = {0, 1, 2, 3};        /* three rungs saved; d and e appended */
    begin();
    assert_int_equal(store_rungs_set(g_st, LADDER_CONTACT, rungs, 5, same, 4), 2);
    commit();
    assert_int_equal(contact_level_of(at3), 3);
    assert_int_equal(contact_level_of(at4), 3);
    assert_int_equal(contact_level_of(at9), 3);
}

/* An escalation is one per rung (offset and target) and round: a changed
 * ladder that gives level 2 to another rung does not make that rung's
 * escalation look fired already. */
static void escalation_unique_by_rung(void **state)
{
    (void)state;
    begin();
    uint64_t id = add_case("hotline", "U-1");
    store_escalation_t e = {.case_id = id, .round = 0, .level = 2, .ladder = LADDER_CONTACT,
                            .target = "street", .department = "water", .due_at = 1000,
                            .fired_at = 2000, .overdue_s = 1, .offset_ms = 1000};
    assert_int_equal(store_escalation_add(g_st, &e), 1);
    assert_int_equal(store_escalation_add(g_st, &e), 0);     /* the same rung again */
    e.offset_ms = 2000;
    e.target = "county";
    assert_int_equal(store_escalation_add(g_st, &e), 1);     /* level 2 of a changed ladder */
    e.round = 1;
    assert_int_equal(store_escalation_add(g_st, &e), 1);     /* a redo's round */
    commit();
    assert_string_equal(peek("SELECT group_concat(offset_ms || ' ' || target) FROM escalations"),
                        "1000 street,2000 county,2000 county");
}

static int progress_calls;
static int64_t progress_expect;     /* the largest expect_ms given */
static void count_progress(void *arg, int64_t expect_ms)
{
    (void)arg;
    progress_calls++;
    if (expect_ms > progress_expect)
        progress_expect = expect_ms;
}

/* Opening a large database reports progress, and how long its integrity
 * check may take, which the broker turns into "still starting" for systemd:
 * a start that takes longer than the unit's timeout is not killed while it
 * moves on. */
static void open_reports_progress(void **state)
{
    (void)state;
    begin();
    char ext[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(ext, sizeof ext, "P-%d", i);
        add_case("hotline", ext);
    }
    commit();
    progress_calls = 0, progress_expect = 0;
    store_set_progress(count_progress, NULL);
    reopen();
    store_set_progress(NULL, NULL);
    int at_open = progress_calls;
    assert_true(at_open > 1);
    assert_true(progress_expect >= 30000);      /* said before the integrity check */
    reopen();                                       /* after NULL: no more calls */
    assert_int_equal(progress_calls, at_open);
}

/* The first ACK of a notice stands: a copy's late ACK does not move its time. */
static void escalation_notified_once(void **state)
{
    (void)state;
    begin();
    uint64_t id = add_case("hotline", "N-1");
    store_escalation_t e = {.case_id = id, .level = 1, .ladder = LADDER_CONTACT,
                            .target = "street", .department = "water", .notify = "supervision",
                            .due_at = 1000, .fired_at = 2000, .overdue_s = 1, .offset_ms = 0};
    assert_int_equal(store_escalation_add(g_st, &e), 1);
    assert_int_equal(store_escalation_notified(g_st, e.id, 4000), 1);
    assert_int_equal(store_escalation_notified(g_st, e.id, 9000), 0);
    commit();
    assert_string_equal(peek("SELECT notified_at FROM escalations"), "4000");
}

/* The status line's counts (systemd's "open N, overdue N"): a resolved case
 * waits only for the resident's rating, so it is neither open nor overdue,
 * even without a contact time (an imported one); overdue are exactly the
 * cases `minqing list --overdue` lists. */
static void counts_leave_resolved_cases_out(void **state)
{
    (void)state;
    store_case_t m = case_meta();
    int64_t now = m.contact_due + 1;        /* contact late, resolution not yet */
    begin();
    add_case("hotline", "C-1");                         /* not contacted: overdue */
    uint64_t called = add_case("hotline", "C-2");
    add_case_at("C-3", STATE_RESOLVED, 0);              /* imported without contacted_at */
    add_case_at("C-4", STATE_CLOSED, 0);
    store_case_t c;
    assert_int_equal(store_case_get(g_st, called, &c), 1);
    c.state = STATE_CONTACTED;
    c.contacted_at = m.contact_due - 1;
    assert_int_equal(store_case_update(g_st, &c), 0);
    commit();
    uint64_t open = 0, overdue = 0;
    assert_int_equal(store_counts(g_st, now, &open, &overdue), 0);
    assert_int_equal(open, 2);
    assert_int_equal(overdue, 1);
    /* past the resolution deadline too: both open cases, still not the resolved one */
    assert_int_equal(store_counts(g_st, m.resolve_due + 1, &open, &overdue), 0);
    assert_int_equal(open, 2);
    assert_int_equal(overdue, 2);
}

/* A schema 3 database (escalations unique by level, no ladders) migrates:
 * its escalations stay, without an offset, until the first ladder saved
 * gives an open case's rows their rung's offset, by level and target; then
 * that rung counts as fired. A closed case's rows are left as they are. */
static void migrates_schema_3(void **state)
{
    (void)state;
    begin();
    uint64_t id = add_case("hotline", "M-1");
    uint64_t shut = add_case_at("M-2", STATE_CLOSED, 1);
    commit();
    store_close(&g_st);
    char q[1024];
    snprintf(q, sizeof q,
             "DROP TABLE ladders; DROP TABLE escalations;"
             "CREATE TABLE escalations (id INTEGER PRIMARY KEY, case_id INTEGER NOT NULL"
             " REFERENCES cases (id), round INTEGER NOT NULL, ladder TEXT NOT NULL,"
             " level INTEGER NOT NULL, target TEXT NOT NULL, department TEXT,"
             " due_at INTEGER NOT NULL, fired_at INTEGER NOT NULL, overdue_s INTEGER NOT NULL,"
             " notify TEXT, notified_at INTEGER, UNIQUE (case_id, round, ladder, level));"
             "INSERT INTO escalations VALUES (7, %" PRIu64 ", 0, 'contact', 1, 'community',"
             " 'water', 1000, 1000, 0, 'supervision', NULL);"
             "INSERT INTO escalations VALUES (8, %" PRIu64 ", 0, 'contact', 1, 'community',"
             " 'water', 1000, 1000, 0, NULL, NULL);"
             "PRAGMA user_version = 3;", id, shut);
    assert_int_equal(peek_exec(q), 0);
    reopen();
    char want[16];
    snprintf(want, sizeof want, "%d", STORE_SCHEMA_VERSION);
    assert_string_equal(peek("PRAGMA user_version"), want);
    assert_string_equal(peek("SELECT id || ' ' || level || ' ' || target || ' ' ||"
                             " coalesce(offset_ms, 'none') || ' ' || notify FROM escalations"),
                        "7 1 community none supervision");
    assert_string_equal(peek("SELECT count(*) FROM ladders"), "0");
    const store_rung_t rungs[] = {{-500, "community"}, {1000, "street"}};
    const int none[] = {0};
    begin();
    assert_int_equal(store_rungs_set(g_st, LADDER_CONTACT, rungs, 2, none, 1), 0);
    commit();
    assert_string_equal(peek("SELECT group_concat(id || ':' || coalesce(offset_ms, 'none'))"
                             " FROM escalations"), "7:-500,8:none");
    store_escalation_t e = {.case_id = id, .level = 1, .ladder = LADDER_CONTACT,
                            .target = "community", .due_at = 1000, .fired_at = 1000,
                            .offset_ms = -500};
    begin();
    assert_int_equal(store_escalation_add(g_st, &e), 0);     /* fired before the upgrade */
    e.level = 2, e.target = "street", e.offset_ms = 1000;
    assert_int_equal(store_escalation_add(g_st, &e), 1);
    commit();
}

/* Replace the test's database with one at schema `version` made by the
 * store's own migrations, as an older minqingd left it, then run `extra`
 * on it (rows, the operator's objects) with foreign keys off, as the
 * sqlite3 shell has them. */
static void make_old_database(int version, const char *extra)
{
    store_close(&g_st);
    const char *ends[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        char p[160];
        snprintf(p, sizeof p, "%s%s", g_path, ends[i]);
        unlink(p);
    }
    sqlite3 *db = NULL;
    char *msg = NULL;
    if (sqlite3_open(g_path, &db) != SQLITE_OK)
        fail_msg("sqlite3_open %s", g_path);
    for (int v = 0; v < version && !msg; v++)
        sqlite3_exec(db, store_migration(v), NULL, NULL, &msg);
    char bump[64];
    snprintf(bump, sizeof bump, "PRAGMA user_version = %d", version);
    if (!msg)
        sqlite3_exec(db, extra, NULL, NULL, &msg);
    if (!msg)
        sqlite3_exec(db, bump, NULL, NULL, &msg);
    if (msg)
        fail_msg("making a schema %d database: %s", version, msg);
    sqlite3_close(db);
}

/* Opening migrates it to the current schema (or the test fails with why). */
static void open_migrated(void)
{
    g_st = store_open(g_path, g_err, sizeof g_err);
    if (!g_st)
        fail_msg("store_open: %s", g_err);
    char want[16];
    snprintf(want, sizeof want, "%d", STORE_SCHEMA_VERSION);
    assert_string_equal(peek("PRAGMA user_version"), want);
}

#define OLD_CASE(id)                                                                     \
    "INSERT INTO cases (id, channel, external_id, service_code, description, grid_code,"  \
    " street, community, priority, lead_department, state, received_at) VALUES (" #id     \
    ", 'hotline', 'O-" #id "', 'water.leak', 'x', 'CG01-XH02-G0031', 'CG01', 'CG01-XH02',"  \
    " 'normal', 'water', 'received', 1000);"
#define OLD_ESCALATION(id, case_id, level)                                               \
    "INSERT INTO escalations (id, case_id, round, ladder, level, target, due_at, fired_at," \
    " overdue_s) VALUES (" #id ", " #case_id ", 0, 'contact', " #level ", 'community',"     \
    " 1000, 1000, 0);"

/* An upgrade says it ran (store_migrated_from: the broker logs
 * store.migrated), and copies each step's WAL back before the next: a
 * migration needs room for one rebuilt table, not for every step's at once
 * (a county's disk with a database-sized margin failed at 3 -> 4 over the
 * WAL left by 1 -> 2). */
static void migration_is_told_and_keeps_the_wal_small(void **state)
{
    (void)state;
    make_old_database(3,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)"
        " INSERT INTO cases (id, channel, external_id, service_code, description, grid_code,"
        " street, community, priority, lead_department, state, received_at)"
        " SELECT i, 'hotline', 'O-' || i, 'water.leak', hex(randomblob(100)), 'CG01-XH02-G0031',"
        " 'CG01', 'CG01-XH02', 'normal', 'water', 'received', 1000 FROM n;"
        "INSERT INTO escalations (id, case_id, round, ladder, level, target, due_at, fired_at,"
        " overdue_s) SELECT id, id, 0, 'contact', 1, 'community', 1000, 1000, 0 FROM cases;");
    int64_t ms = -1;
    open_migrated();
    assert_int_equal(store_migrated_from(g_st, &ms), 3);
    assert_true(ms >= 0);
    char wal[160];
    struct stat st;
    snprintf(wal, sizeof wal, "%s-wal", g_path);
    assert_int_equal(stat(wal, &st), 0);
    assert_true(st.st_size < 256 * 1024);
    reopen();                                   /* current: nothing to tell */
    assert_int_equal(store_migrated_from(g_st, &ms), 0);
}

/* An escalation whose case was deleted in the sqlite3 shell (foreign keys
 * off there) did not stop an older broker: the rebuild of escalations
 * (3 -> 4) keeps it, reports it for the log, and the broker starts; foreign
 * keys are enforced again afterwards. */
static void migration_keeps_orphan_rows(void **state)
{
    (void)state;
    make_old_database(3, OLD_CASE(1) OLD_CASE(2) OLD_ESCALATION(7, 1, 1) OLD_ESCALATION(8, 2, 1)
                         OLD_ESCALATION(9, 2, 2) "DELETE FROM cases WHERE id = 2;");
    open_migrated();
    assert_string_equal(peek("SELECT group_concat(id || ':' || case_id) FROM escalations"),
                        "7:1,8:2,9:2");
    const store_orphans_t *o = store_orphans(g_st);
    assert_int_equal(o->count, 2);
    assert_string_equal(o->first[0].table, "escalations");
    assert_int_equal(o->first[0].rowid, 8);
    assert_string_equal(o->first[0].parent, "cases");
    assert_int_equal(o->first[1].rowid, 9);
    store_escalation_t e = {.case_id = 2, .level = 2, .ladder = LADDER_CONTACT,
                            .target = "street", .due_at = 1000, .fired_at = 2000,
                            .offset_ms = 1000};
    begin();
    assert_int_equal(store_escalation_add(g_st, &e), -1);   /* no new orphan */
    store_rollback(g_st);
    reopen();                               /* reported once, by the migration */
    assert_int_equal(store_orphans(g_st)->count, 0);
}

/* The operator's views of the rebuilt tables (outcomes 1 -> 2, escalations
 * 3 -> 4) made the RENAME fail and the broker refuse to start; they stay,
 * and read the migrated rows. */
static void migration_keeps_the_operators_views(void **state)
{
    (void)state;
    make_old_database(1, OLD_CASE(1) OLD_ESCALATION(7, 1, 1)
                      "INSERT INTO outcomes (scope, msg_id, kind, case_id, at)"
                      " VALUES ('water', 'm-1', 'accepted', 1, 1000);"
                      "CREATE VIEW outcome_report AS SELECT scope, count(*) AS n FROM outcomes"
                      " GROUP BY scope;"
                      "CREATE VIEW monthly_escalations AS SELECT ladder, count(*) AS n"
                      " FROM escalations GROUP BY ladder;");
    open_migrated();
    assert_string_equal(peek("SELECT scope || ' ' || n FROM outcome_report"), "water 1");
    assert_string_equal(peek("SELECT ladder || ' ' || n FROM monthly_escalations"),
                        "contact 1");
    assert_int_equal(store_orphans(g_st)->count, 0);
}

/* The operator's triggers and indexes on a rebuilt table went with the old
 * table, silently; they are made again, and fire on the broker's rows. Our
 * own index the migration dropped on purpose (outcomes_case) stays gone. */
/* A table of ours the operator made in an old database stops the migration
 * at every start: a refusal (errno EUCLEAN: the broker exits 2, which
 * systemd does not retry), not a failure that may pass. */
static void migration_in_the_way_is_refused(void **state)
{
    (void)state;
    make_old_database(3, "CREATE TABLE ladders (x);");
    errno = 0;
    g_st = store_open(g_path, g_err, sizeof g_err);
    int e = errno;
    assert_null(g_st);
    assert_int_equal(e, EUCLEAN);
    assert_contains(g_err, "table ladders already exists");
    /* schema 6's rounds made IF NOT EXISTS: the operator's is kept, and our
     * statements cannot be prepared on it, at every start too */
    make_old_database(5, "CREATE TABLE rounds (x);");
    errno = 0;
    g_st = store_open(g_path, g_err, sizeof g_err);
    e = errno;
    assert_null(g_st);
    assert_int_equal(e, EUCLEAN);
    assert_contains(g_err, "preparing statement");
}

static void migration_keeps_the_operators_triggers(void **state)
{
    (void)state;
    make_old_database(1, OLD_CASE(1)
                      "CREATE TABLE audit_copy (what TEXT, id INTEGER);"
                      "CREATE TRIGGER esc_copy AFTER INSERT ON Escalations BEGIN"
                      " INSERT INTO audit_copy VALUES ('escalation', NEW.id); END;"
                      "CREATE TRIGGER outcome_copy AFTER INSERT ON outcomes BEGIN"
                      " INSERT INTO audit_copy VALUES ('outcome', NEW.case_id); END;"
                      "CREATE INDEX esc_by_target ON escalations (target);");
    open_migrated();
    assert_string_equal(peek("SELECT group_concat(name) FROM (SELECT name FROM sqlite_master"
                             " WHERE type IN ('index', 'trigger') AND sql IS NOT NULL AND"
                             " tbl_name COLLATE NOCASE IN ('escalations', 'outcomes')"
                             " ORDER BY name)"),
                        "esc_by_target,esc_copy,escalations_unnotified,outcome_copy");
    store_escalation_t e = {.case_id = 1, .level = 1, .ladder = LADDER_CONTACT,
                            .target = "street", .due_at = 1000, .fired_at = 2000,
                            .offset_ms = 1000};
    store_applied_t a = {.scope = "water", .msg_id = "m-2", .cmd = MSG_ACCEPT,
                         .case_id = 1, .at = 3000};
    begin();
    assert_int_equal(store_escalation_add(g_st, &e), 1);
    assert_int_equal(store_applied_add(g_st, &a), 0);
    commit();
    assert_string_equal(peek("SELECT group_concat(what || ' ' || id) FROM audit_copy"),
                        "escalation 1,outcome 1");
}

static void assert_floors(int64_t cases, int64_t asgs, int64_t escs)
{
    int64_t f[STORE_IDS_COUNT];
    assert_int_equal(store_id_floors(g_st, f), cases || asgs || escs);
    assert_int_equal(f[STORE_IDS_CASES], cases);
    assert_int_equal(f[STORE_IDS_ASSIGNMENTS], asgs);
    assert_int_equal(f[STORE_IDS_ESCALATIONS], escs);
}

/* After a restore, new rows take ids above the replaced database's (written
 * by minqing restore, possibly into a backup of schema 4), until a commit
 * has passed them; a rolled-back or ignored insert passes nothing. */
static void ids_start_above_restore_floors(void **state)
{
    (void)state;
    begin();
    uint64_t first = add_case("hotline", "F-1");
    add_assignment(first, "water", ROLE_LEAD, STATE_RECEIVED);
    store_escalation_t e = {.case_id = first, .ladder = LADDER_CONTACT, .level = 1,
                            .target = "street", .due_at = 1000, .fired_at = 2000,
                            .offset_ms = 1000};
    assert_int_equal(store_escalation_add(g_st, &e), 1);
    commit();
    store_close(&g_st);
    assert_int_equal(peek_exec("INSERT INTO id_floors VALUES ('cases', 10), ('assignments', 20),"
                               " ('escalations', 30); PRAGMA user_version = 4"), 0);
    reopen();
    assert_floors(10, 20, 30);
    begin();
    assert_int_equal(add_case("hotline", "F-2"), 11);
    store_rollback(g_st);
    begin();
    uint64_t id = add_case("hotline", "F-2");
    assert_int_equal(id, 11);                           /* the rollback passed nothing */
    assert_int_equal(add_case("hotline", "F-3"), 12);
    assert_int_equal(add_assignment(id, "water", ROLE_LEAD, STATE_RECEIVED), 21);
    assert_int_equal(store_escalation_add(g_st, &e), 0);    /* already fired: no row */
    commit();
    assert_floors(0, 0, 30);
    begin();
    e.level = 2, e.target = "county", e.offset_ms = 2000;
    assert_int_equal(store_escalation_add(g_st, &e), 1);
    assert_int_equal(e.id, 31);
    commit();
    assert_floors(0, 0, 0);
    reopen();                                           /* floors below the ids: none */
    assert_floors(0, 0, 0);
    begin();
    assert_int_equal(add_case("hotline", "F-4"), 13);
    commit();
}

/* The WAL's checkpoint sequence (header bytes 12-15, big-endian): how many
 * times it has started over from its beginning. */
static unsigned wal_restarts(const char *wal)
{
    unsigned char h[16] = {0};
    FILE *f = fopen(wal, "rb");
    if (!f || fread(h, 1, sizeof h, f) != sizeof h)
        fail_msg("cannot read the header of %s", wal);
    fclose(f);
    return (unsigned)h[12] << 24 | (unsigned)h[13] << 16 | (unsigned)h[14] << 8 | h[15];
}

/* Under steady commits the checkpoint thread copies the WAL back into the
 * database file and the WAL starts over, again and again, so it stays a few
 * MB however long the broker runs. Without it (SQLite's own checkpoint is
 * off, the writer's fallback comes at 20,000 frames) these 4,000 commits
 * (~14,000 frames) would leave a 56 MB WAL that never started over. */
static void wal_starts_over_under_load(void **state)
{
    (void)state;
    char wal[160], ext[32];
    snprintf(wal, sizeof wal, "%s-wal", g_path);
    enum { N = 4000 };
    for (int i = 0; i < N; i++) {
        begin();
        snprintf(ext, sizeof ext, "W-%d", i);
        add_case("hotline", ext);
        commit();
        if (store_maintain(g_st, true) != 0)
            fail_msg("maintain: %s", store_errmsg(g_st));
    }
    unsigned restarts = wal_restarts(wal);
    if (restarts < 2)
        fail_msg("the WAL started over %u times", restarts);
    assert_true(store_checkpoints(g_st) > 0);
    struct stat sd;
    assert_int_equal(stat(g_path, &sd), 0);
    assert_true(sd.st_size > 1000 * 1000);  /* the cases reached the database file */
    char buf[64];
    assert_false(store_checkpoint_error(g_st, buf, sizeof buf));
    reopen();
    assert_string_equal(peek("SELECT count(*) FROM cases"), "4000");
}

/* A reader (a `minqing backup`, `minqing stats`) keeps the WAL from being
 * copied, and it grows past the writer's hard limit. Once the reader ends,
 * the backlog is the checkpoint thread's to copy: a commit that copied it
 * stopped the broker's loop for seconds per gigabyte, long enough for every
 * worker to take the broker for dead. The WAL still starts over. */
static void wal_backlog_is_the_threads(void **state)
{
    (void)state;
    char wal[160], ext[32];
    snprintf(wal, sizeof wal, "%s-wal", g_path);
    sqlite3 *reader;
    assert_int_equal(sqlite3_open(g_path, &reader), SQLITE_OK);
    assert_int_equal(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM cases;", NULL, NULL,
                                  NULL), SQLITE_OK);
    unsigned before = wal_restarts(wal);
    struct stat sw = {0};
    for (int i = 0; i < 2000 && (stat(wal, &sw) != 0 || sw.st_size < 90L * 1000 * 1000); i++) {
        begin();
        for (int k = 0; k < 100; k++) {     /* an import's batch */
            snprintf(ext, sizeof ext, "R-%d-%d", i, k);
            add_case("hotline", ext);
        }
        commit();
        assert_int_equal(store_maintain(g_st, true), 0);
    }
    if (sw.st_size < 90L * 1000 * 1000)   /* past 20,000 frames of 4 kB */
        fail_msg("the WAL reached only %lld bytes", (long long)sw.st_size);
    assert_int_equal(wal_restarts(wal), before);    /* the reader held it */
    assert_int_equal(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(reader);
    /* commits go on at about 100/s until the WAL has started over */
    for (int i = 0; i < 1000 && wal_restarts(wal) == before; i++) {
        begin();
        snprintf(ext, sizeof ext, "S-%d", i);
        add_case("hotline", ext);
        commit();
        assert_int_equal(store_maintain(g_st, true), 0);
        usleep(10 * 1000);
    }
    assert_true(wal_restarts(wal) > before);
    assert_int_equal(store_writer_checkpoints(g_st), 0);
    char buf[64];
    assert_false(store_checkpoint_error(g_st, buf, sizeof buf));
}

static void rollback_discards(void **state)
{
    (void)state;
    begin();
    uint64_t kept = add_case("hotline", "E-1");
    commit();
    begin();
    uint64_t c = add_case("hotline", "E-2");
    assert_true(store_dirty(g_st));
    store_rollback(g_st);
    assert_false(store_dirty(g_st));
    uint64_t id = 0;
    assert_int_equal(store_case_lookup(g_st, "hotline", "E-2", &id, g_msg_id), 0);
    assert_int_equal(case_exists(c), 0);
    assert_int_equal(case_exists(kept), 1);
    /* a new transaction works after a rollback */
    begin();
    add_case("hotline", "E-3");
    commit();
    reopen();
    assert_int_equal(case_exists(kept), 1);
    assert_int_equal(store_case_lookup(g_st, "hotline", "E-2", &id, g_msg_id), 0);
    assert_int_equal(store_case_lookup(g_st, "hotline", "E-3", &id, g_msg_id), 1);
}

/* Rows updated inside a transaction are held until commit: every read of
 * this store sees them at once, a rollback forgets them, and more of them
 * than the cache holds still all reach the database. */
static void held_rows_written_at_commit(void **state)
{
    (void)state;
    begin();
    uint64_t c = add_case("hotline", "E-1");
    uint64_t a = add_assignment(c, "water", ROLE_LEAD, STATE_DISPATCHED);
    commit();

    begin();
    store_case_t kase;
    assert_int_equal(store_case_get(g_st, c, &kase), 1);
    kase.state = STATE_ACCEPTED;
    assert_int_equal(store_case_update(g_st, &kase), 0);
    store_assignment_t asg;
    assert_int_equal(store_assignment_get(g_st, a, &asg), 1);
    asg.state = STATE_ACCEPTED;
    assert_int_equal(store_assignment_update(g_st, &asg), 0);
    assert_true(store_dirty(g_st));
    assert_string_equal(peek("SELECT state FROM cases"), "received");   /* not committed */
    store_case_t got;
    assert_int_equal(store_case_get(g_st, c, &got), 1);
    assert_int_equal(got.state, STATE_ACCEPTED);
    store_assignment_t v[4];
    assert_int_equal(store_round_assignments(g_st, c, 0, v, 4), 1);
    assert_int_equal(v[0].state, STATE_ACCEPTED);
    char open[256] = "";
    assert_int_equal(store_open_assignments(g_st, collect_open, open), 0);
    char want[64];
    snprintf(want, sizeof want, "%llu:water:accepted", (unsigned long long)a);
    assert_string_equal(open, want);
    store_rollback(g_st);
    assert_int_equal(store_case_get(g_st, c, &got), 1);
    assert_int_equal(got.state, STATE_RECEIVED);
    assert_int_equal(store_assignment_get(g_st, a, &asg), 1);
    assert_int_equal(asg.state, STATE_DISPATCHED);

    /* more updated rows than the cache holds (1024 cases) */
    enum { MANY = 1500 };
    static uint64_t ids[MANY];
    begin();
    for (int i = 0; i < MANY; i++) {
        char ext[16];
        snprintf(ext, sizeof ext, "M-%d", i);
        ids[i] = add_case("hotline", ext);
    }
    commit();
    begin();
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(store_case_get(g_st, ids[i], &got), 1);
        got.state = STATE_CONTACTED;
        got.contacted_at = 1000 + i;
        assert_int_equal(store_case_update(g_st, &got), 0);
    }
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(store_case_get(g_st, ids[i], &got), 1);
        assert_int_equal(got.contacted_at, 1000 + i);
    }
    commit();
    assert_string_equal(peek("SELECT count(*) || ',' || sum(contacted_at) FROM cases"
                             " WHERE state = 'contacted'"), "1500,2624250");
    /* outside a transaction an update is written at once */
    got.state = STATE_RESOLVED;
    assert_int_equal(store_case_update(g_st, &got), 0);
    assert_string_equal(peek("SELECT count(*) FROM cases WHERE state = 'resolved'"), "1");
}

/* Closing with a transaction open rolls it back. */
static void close_rolls_back(void **state)
{
    (void)state;
    begin();
    add_case("hotline", "E-1");
    reopen();
    uint64_t id = 0;
    assert_int_equal(store_case_lookup(g_st, "hotline", "E-1", &id, g_msg_id), 0);
}

/* ---- another process holds the write lock ----------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An sqlite3 shell left in a write transaction: the broker's loop, which
 * serves nothing while a BEGIN waits, gives up after STORE_BUSY_MS (it was
 * 5 s, for every message of a pass: no heartbeat, no timer meanwhile), the
 * BEGINs right after it fail at once, and the refusal is a 500 the client
 * retries. Once the lock is gone the store takes a transaction again. */
static void begin_gives_up_soon_while_locked(void **state)
{
    (void)state;
    sqlite3 *peer = peek_open();
    assert_int_equal(sqlite3_exec(peer, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    int64_t t0 = now_ms();
    assert_int_equal(store_begin(g_st), -1);
    int64_t first = now_ms() - t0;
    if (first > 1000)
        fail_msg("BEGIN waited %" PRId64 " ms", first);
    for (int i = 0; i < 10; i++)
        assert_int_equal(store_begin(g_st), -1);
    int64_t all = now_ms() - t0;
    if (all > 1000)
        fail_msg("eleven BEGINs waited %" PRId64 " ms", all);
    assert_true(store_locked(g_st));
    assert_int_equal(store_errcode(g_st), ERR_STORE_FAILED);
    assert_contains(store_errmsg(g_st), "locked");
    assert_int_equal(sqlite3_exec(peer, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(peer);
    usleep((STORE_BUSY_PAUSE_MS + 50) * 1000);
    begin();
    add_case("hotline", "B-1");
    commit();
}

/* A reader in a read transaction (minqing backup, an sqlite3 shell) over
 * commits it does not see: the stop's checkpoint waits for it about
 * STORE_STOP_BUSY_MS, not the 5 s it waited (past systemd's stop timeout
 * with a large WAL), and says it did not finish; every commit is there all
 * the same once the reader is gone. */
static void stop_checkpoint_gives_a_reader_a_second(void **state)
{
    (void)state;
    begin();
    add_case("hotline", "R-1");
    commit();
    sqlite3 *reader = peek_open();
    assert_int_equal(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM cases", NULL, NULL, NULL),
                     SQLITE_OK);
    begin();
    add_case("hotline", "R-2");
    commit();
    assert_true(store_wal_bytes(g_st) > 0);
    assert_true(store_checkpoint_expect_ms(g_st) >= 10000);
    int64_t t0 = now_ms();
    assert_int_equal(store_checkpoint(g_st), -1);
    int64_t took = now_ms() - t0;
    if (took < STORE_STOP_BUSY_MS / 2 || took > STORE_STOP_BUSY_MS + 1000)
        fail_msg("the checkpoint gave up after %" PRId64 " ms", took);
    assert_true(store_locked(g_st));
    assert_true(store_wal_bytes(g_st) > 0);
    sqlite3_close(reader);
    reopen();
    assert_string_equal(peek("SELECT count(*) FROM cases"), "2");
}

/* Another process takes the write lock for half a second; returns once it
 * holds it, with its pid for lock_released. */
static pid_t lock_held_a_moment(void)
{
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sqlite3 *db = NULL;
        int rc = sqlite3_open(g_path, &db) == SQLITE_OK &&
                 sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
        if (write(ready[1], "x", 1) != 1)
            _exit(2);
        usleep(500 * 1000);
        _exit(rc && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : 1);
    }
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    close(ready[1]);
    return pid;
}

static void lock_released(pid_t pid)
{
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Opening (the integrity check, migrations) still waits out a write lock
 * that another process holds for a moment. */
static void open_waits_for_a_passing_lock(void **state)
{
    (void)state;
    store_close(&g_st);
    assert_int_equal(peek_exec("DROP TABLE id_floors; PRAGMA user_version = 4"), 0);
    pid_t pid = lock_held_a_moment();
    reopen();                       /* migration 5 waited for the lock */
    lock_released(pid);
    char want[16];
    snprintf(want, sizeof want, "%d", STORE_SCHEMA_VERSION);
    assert_string_equal(peek("PRAGMA user_version"), want);
}

/* So does the ladders' save at start and at a reload (store_begin_patient),
 * also right after a BEGIN of the loop found the lock held: a broker started
 * while a shell held the lock a moment refused to start. */
static void patient_begin_waits_for_a_passing_lock(void **state)
{
    (void)state;
    pid_t pid = lock_held_a_moment();
    assert_int_equal(store_begin(g_st), -1);        /* the loop's: gives up */
    assert_int_equal(store_begin_patient(g_st), 0); /* waits, inside the pause */
    add_case("hotline", "P-1");
    commit();
    lock_released(pid);
}

/* ---- files that are not ours ------------------------------------------- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* store_open refuses `path`, naming `want`, and leaves the file as it was. */
static void refused(const char *path, const char *content, const char *want)
{
    g_err[0] = '\0';
    store_t *st = store_open(path, g_err, sizeof g_err);
    if (st) {
        store_close(&st);
        fail_msg("%s: opened, but wanted \"%s\"", path, want);
    }
    assert_contains(g_err, want);
    assert_contains(g_err, path);
    if (content) {
        char buf[256] = "";
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        assert_string_equal(buf, content);
    }
}

/* A file's bytes summed up (FNV-1a, and its length), as an operator's
 * md5sum would: 0 for a missing file. */
static uint64_t file_sum(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    uint64_t h = 14695981039346656037u, len = 0;
    for (int c; (c = fgetc(f)) != EOF; len++)
        h = (h ^ (unsigned char)c) * 1099511628211u;
    fclose(f);
    return h ^ len;
}

/* store_open refuses path, naming want, and the file keeps every byte. */
static void refused_untouched(const char *path, const char *want)
{
    uint64_t before = file_sum(path);
    refused(path, NULL, want);
    if (file_sum(path) != before)
        fail_msg("%s: refused, but its bytes changed", path);
}

static void refuses_garbage(void **state)
{
    (void)state;
    static const char *const junk[] = {
        "this is a text file, not a database at all\n",
        "SQLite format",            /* shorter than the header */
        "SQLite format 2\0 and more",
    };
    char p[256];
    path_in_dir(p, sizeof p, "junk.db");
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        write_file(p, junk[i]);
        refused(p, junk[i], "not a SQLite database");
    }
    /* an empty file is a new database (an empty -wal beside it is nothing) */
    write_file(p, "");
    char wal[300];
    snprintf(wal, sizeof wal, "%s-wal", p);
    write_file(wal, "");
    store_t *st = store_open(p, g_err, sizeof g_err);
    if (!st)
        fail_msg("empty file: %s", g_err);
    assert_true(store_created(st));
    store_close(&st);
}

/* Copy file from to file to. */
static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    for (int c; (c = fgetc(in)) != EOF;)
        fputc(c, out);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* A database file cut to 0 bytes, or gone, while its WAL still holds the
 * commits: not a new database. SQLite would delete that WAL and start an
 * empty one; the store refuses, and both files stay as they are. */
static void refuses_empty_file_beside_its_wal(void **state)
{
    (void)state;
    char wal[160], saved[160];
    snprintf(wal, sizeof wal, "%s-wal", g_path);
    path_in_dir(saved, sizeof saved, "saved-wal");
    begin();
    add_case("hotline", "W-1");
    commit();
    copy_file(wal, saved);          /* the commit is in the WAL alone */
    store_close(&g_st);
    for (int gone = 0; gone <= 1; gone++) {
        if (gone)
            assert_int_equal(unlink(g_path), 0);
        else
            write_file(g_path, "");
        copy_file(saved, wal);
        uint64_t sum = file_sum(wal);
        refused_untouched(g_path, gone ? "missing, but its -wal holds"
                                       : "empty, but its -wal holds");
        assert_contains(g_err, "database, not a new one");
        assert_int_equal(access(g_path, F_OK), gone ? -1 : 0);
        assert_true(sum != 0 && file_sum(wal) == sum);
    }
}

static void refuses_newer_schema(void **state)
{
    (void)state;
    store_close(&g_st);
    assert_int_equal(peek_exec("PRAGMA user_version = 99"), 0);
    assert_int_equal(peek_exec("PRAGMA journal_mode = DELETE"), 0);
    refused(g_path, NULL, "newer");
    assert_contains(g_err, "99");
    assert_string_equal(peek("PRAGMA user_version"), "99");     /* untouched */
    assert_string_equal(peek("PRAGMA journal_mode"), "delete"); /* not even its mode */
}

/* Another program's database (a mistyped `database =`): schema version 0
 * with tables of its own, or a negative version. Refused, and not even its
 * journal mode changes. */
static void refuses_foreign_database(void **state)
{
    (void)state;
    static const char *const setups[] = {
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"
        "INSERT INTO notes (body) VALUES ('keep me')",
        "CREATE TABLE cases (id INTEGER PRIMARY KEY); PRAGMA user_version = -3",
    };
    char p[256], mode[32];
    path_in_dir(p, sizeof p, "other.db");
    for (size_t i = 0; i < sizeof setups / sizeof setups[0]; i++) {
        unlink(p);
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, setups[i], NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        refused(p, NULL, "not minqing's");
        assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        snprintf(mode, sizeof mode, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        sqlite3_close(db);
        assert_string_equal(mode, "delete");
    }
}

/* Another program's file that claims one of our schema versions (its own
 * user_version): refused before anything is written, not migrated and
 * switched to WAL first and refused later for a missing table. */
static void refuses_foreign_tables_with_our_version(void **state)
{
    (void)state;
    char p[256], q[128];
    path_in_dir(p, sizeof p, "f.db");
    for (int v = 1; v <= STORE_SCHEMA_VERSION; v++) {
        unlink(p);
        sqlite3 *db = NULL;
        snprintf(q, sizeof q, "CREATE TABLE foo (x); PRAGMA user_version = %d", v);
        assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        refused_untouched(p, "not minqing's");
        assert_contains(g_err, "no table cases");
    }
    /* ours, but without the table its version added: refused by name */
    store_close(&g_st);
    assert_int_equal(peek_exec("DROP TABLE ladders; PRAGMA journal_mode = DELETE"), 0);
    refused_untouched(g_path, "not minqing's");
    assert_contains(g_err, "no table ladders");
}

/* A file whose header and schema read well but one of whose b-trees is
 * damaged: the broker would start on it, and fail later on some case. The
 * startup check refuses it and writes nothing to it. */
/* Write byte 0x7f, no b-tree page type, at the root page of the events
 * table of the (closed) test database. */
static void damage_events_root(void)
{
    long root = atol(peek("SELECT rootpage FROM sqlite_schema WHERE name = 'events'"));
    long page = atol(peek("PRAGMA page_size"));
    assert_true(root > 1 && page >= 512);
    FILE *f = fopen(g_path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, (root - 1) * page, SEEK_SET), 0);
    assert_int_equal(fputc(0x7f, f), 0x7f);
    assert_int_equal(fclose(f), 0);
}

static void refuses_damaged_tree(void **state)
{
    (void)state;
    begin();
    add_case("hotline", "D-1");
    commit();
    store_close(&g_st);
    damage_events_root();
    refused_untouched(g_path, "integrity check failed");
}

/* The same damage in a file in rollback-journal mode, as `minqing backup`
 * writes it (a restored backup): refused before the switch to WAL, which
 * would rewrite its header. */
static void refuses_damaged_backup_untouched(void **state)
{
    (void)state;
    begin();
    add_case("hotline", "D-1");
    commit();
    store_close(&g_st);
    assert_int_equal(peek_exec("PRAGMA journal_mode = DELETE"), 0);
    damage_events_root();
    refused_untouched(g_path, "integrity check failed");
    assert_string_equal(peek("PRAGMA journal_mode"), "delete");
}

/* ---- a full disk -------------------------------------------------------- */

/* The default VFS with one change: while g_disk_full, writes fail as on a
 * full disk (each opened file gets a method table with xWrite replaced). */
static bool g_disk_full;
static sqlite3_vfs g_shim, *g_real_vfs;
static io_shim_t g_io[IO_SHIM_PAIRS];

/* ... and reads of the database file (g_path) from g_read_fail_from on fail
 * as on a bad disk, while it is not negative */
static sqlite3_int64 g_read_fail_from = -1;
static const sqlite3_file *g_db_file;

static bool g_wal_full;                 /* writes to the WAL fail */
static const sqlite3_file *g_wal_file;

static int shim_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    if (g_disk_full || (g_wal_full && f == g_wal_file))
        return SQLITE_FULL;
    return io_shim_real(g_io, f)->xWrite(f, buf, n, off);
}

static int shim_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
    if (f == g_db_file && g_read_fail_from >= 0 && off >= g_read_fail_from)
        return SQLITE_IOERR_READ;
    return io_shim_real(g_io, f)->xRead(f, buf, n, off);
}

static void edit_io(sqlite3_io_methods *m)
{
    m->xWrite = shim_write;
    m->xRead = shim_read;
}

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)vfs;
    int rc = g_real_vfs->xOpen(g_real_vfs, name, f, flags, out);
    if (rc != SQLITE_OK || !f->pMethods)
        return rc;
    size_t n = name ? strlen(name) : 0;
    if (name && strcmp(name, g_path) == 0)
        g_db_file = f;
    else if (n > 4 && strcmp(name + n - 4, "-wal") == 0)
        g_wal_file = f;
    return io_shim_swap(g_io, f, edit_io);
}

static int teardown_full(void **state)
{
    g_disk_full = g_wal_full = false;
    g_read_fail_from = -1;
    teardown(state);
    sqlite3_vfs_unregister(&g_shim);
    return 0;
}

static int setup_full(void **state)
{
    /* "unix" by name: once a shim is unregistered, SQLite's default becomes
     * the VFS registered before it, which may be the store's walbuf, and a
     * shim copied from that would sit both over and under it */
    g_real_vfs = sqlite3_vfs_find("unix");
    if (!g_real_vfs)
        return -1;
    g_shim = *g_real_vfs;
    g_shim.zName = "mq-test-full";
    g_shim.xOpen = shim_open;
    g_shim.pNext = NULL;
    if (sqlite3_vfs_register(&g_shim, 1) != SQLITE_OK)
        return -1;
    if (setup(state) == 0)
        return 0;
    teardown_full(state);
    return -1;
}

/* A page the integrity check cannot read is the disk's trouble, not damage:
 * errno EIO, so the broker exits 1 and systemd tries again, where a refused
 * file (EUCLEAN) exits 2 for good. */
static void unreadable_page_is_no_refusal(void **state)
{
    (void)state;
    begin();
    for (int i = 0; i < 40; i++) {
        char ext[16];
        snprintf(ext, sizeof ext, "R-%d", i);
        add_case("hotline", ext);
    }
    commit();
    store_close(&g_st);
    g_read_fail_from = 4096;            /* page 1 reads, the rest fails */
    errno = 0;
    g_st = store_open(g_path, g_err, sizeof g_err);
    int e = errno;
    assert_null(g_st);
    assert_int_equal(e, EIO);
    g_read_fail_from = -1;              /* the disk is back: the file was sound */
    reopen();
    /* while a file SQLite finds not to be a database is refused */
    char p[256];
    path_in_dir(p, sizeof p, "junk.db");
    write_file(p, "this is a text file, not a database at all\n");
    errno = 0;
    store_t *st = store_open(p, g_err, sizeof g_err);
    e = errno;
    assert_null(st);
    assert_int_equal(e, EUCLEAN);
}

/* A migration a full disk stops may pass once there is room: EIO, retried.
 * (The switch to WAL writes the database and its rollback journal; the
 * migration's first write, to the WAL, is the one that fails.) */
static void full_disk_migration_is_no_refusal(void **state)
{
    (void)state;
    make_old_database(3, "");
    g_wal_full = true;
    errno = 0;
    g_st = store_open(g_path, g_err, sizeof g_err);
    int e = errno;
    g_wal_full = false;
    assert_null(g_st);
    assert_int_equal(e, EIO);
    assert_contains(g_err, "migration to schema 4 failed");
    open_migrated();                    /* room again: it migrates */
}

static void disk_full_is_store_full(void **state)
{
    (void)state;
    /* the commit is what writes: it fails, and says the disk is full */
    begin();
    add_case("hotline", "E-1");
    g_disk_full = true;
    assert_int_equal(store_commit(g_st), -1);
    assert_int_equal(store_errcode(g_st), ERR_STORE_FULL);
    store_rollback(g_st);
    assert_false(store_dirty(g_st));
    /* once there is room again, the store works, and the lost case is gone */
    g_disk_full = false;
    begin();
    add_case("hotline", "E-2");
    commit();
    /* any other failure is STORE_FAILED, not STORE_FULL */
    begin();
    msg_case_t r = record("hotline", "E-2");
    store_case_t m = case_meta();
    assert_int_equal(store_case_insert(g_st, &r, "submit-1", &m), -1);
    assert_int_equal(store_errcode(g_st), ERR_STORE_FAILED);
    store_rollback(g_st);
    reopen();
    uint64_t id;
    assert_int_equal(store_case_lookup(g_st, "hotline", "E-1", &id, g_msg_id), 0);
    assert_int_equal(store_case_lookup(g_st, "hotline", "E-2", &id, g_msg_id), 1);
}

/* A page cache of 10 pages for every connection to the test database (kept
 * in its header), so that a transaction's writes spill to the WAL at once. */
static void tiny_page_cache(void)
{
    store_close(&g_st);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA default_cache_size = 10", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    reopen();
}

/* A write that fails on a full disk in the middle of a transaction (a page
 * spill) can make SQLite roll the whole transaction back by itself. The
 * store must not go on as if it were open: a later write would commit on its
 * own, half a pass on disk while the broker answers ERROR for all of it. */
static void failure_mid_transaction_writes_nothing_after(void **state)
{
    (void)state;
    tiny_page_cache();
    begin();
    uint64_t first = add_case("hotline", "K-0");
    commit();
    begin();
    char ext[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(ext, sizeof ext, "S-%d", i);
        add_case("hotline", ext);
    }
    store_case_t c;
    assert_int_equal(store_case_get(g_st, first, &c), 1);
    c.state = STATE_ACCEPTED;
    assert_int_equal(store_case_update(g_st, &c), 0);     /* held */
    uint64_t open, overdue;
    g_disk_full = true;         /* the status line writes the held rows: it fails */
    assert_int_equal(store_counts(g_st, 0, &open, &overdue), -1);
    g_disk_full = false;
    assert_int_equal(store_errcode(g_st), ERR_STORE_FULL);
    assert_contains(store_errmsg(g_st), "full");      /* the log's store.failed says so */
    /* the pass goes on (another message): nothing may land */
    msg_case_t r = record("hotline", "LATE");
    store_case_t m = case_meta();
    assert_int_equal(store_case_insert(g_st, &r, "submit-late", &m), -1);
    assert_int_equal(store_commit(g_st), -1);
    assert_int_equal(store_errcode(g_st), ERR_STORE_FULL);   /* the first error, still */
    store_rollback(g_st);
    reopen();
    uint64_t id;
    assert_int_equal(store_case_lookup(g_st, "hotline", "LATE", &id, g_msg_id), 0);
    assert_int_equal(store_case_lookup(g_st, "hotline", "S-1", &id, g_msg_id), 0);
    assert_int_equal(store_case_get(g_st, first, &c), 1);
    assert_int_equal(c.state, STATE_RECEIVED);
    /* and the store takes a transaction again */
    begin();
    add_case("hotline", "K-1");
    commit();
}

/* A held row whose write fails without SQLite undoing the transaction (here
 * a trigger refusing an event, at the status line's count mid-pass, whose
 * result the broker does not look at) spoils the transaction: the commit
 * is refused and nothing of it lands, not the rest without that row. */
static void a_held_row_refused_spoils_the_commit(void **state)
{
    (void)state;
    sqlite3 *peer = peek_open();
    assert_int_equal(sqlite3_exec(peer, "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN "
                                  "NEW.detail = 'refuse me' BEGIN SELECT RAISE(ABORT, "
                                  "'refused'); END", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(peer);
    begin();
    uint64_t c = add_case("hotline", "H-1");
    store_event_t e = {.case_id = c, .at = 1, .kind = "note", .actor = "broker",
                       .detail = "refuse me"};
    assert_int_equal(store_event_add(g_st, &e), 0);             /* held */
    uint64_t open, overdue;
    assert_int_equal(store_counts(g_st, 0, &open, &overdue), -1);
    assert_int_equal(store_commit(g_st), -1);
    store_rollback(g_st);
    uint64_t id;
    assert_int_equal(store_case_lookup(g_st, "hotline", "H-1", &id, g_msg_id), 0);
    assert_string_equal(peek("SELECT count(*) FROM events"), "0");
    begin();                                    /* and the store goes on */
    add_case("hotline", "H-2");
    commit();
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(open_new_database),
        T(case_round_trip),
        T(case_record_round_trip),
        T(case_key_unique),
        T(assignment_round_trip),
        T(assignments_of_case_and_open),
        T(events_append_only),
        T(events_held_until_commit),
        T(a_held_row_refused_spoils_the_commit),
        T(round_answer_follows_the_rows),
        T(applied_find_add),
        T(commit_survives_reopen),
        T(ladder_saved_with_moved_counts),
        T(counts_past_the_end_move_as_the_last),
        T(escalation_unique_by_rung),
        T(escalation_notified_once),
        T(counts_leave_resolved_cases_out),
        T(open_reports_progress),
        T(migrates_schema_3),
        T(migration_keeps_orphan_rows),
        T(migration_is_told_and_keeps_the_wal_small),
        T(migration_keeps_the_operators_views),
        T(migration_keeps_the_operators_triggers),
        T(migration_in_the_way_is_refused),
        T(ids_start_above_restore_floors),
        T(rollback_discards),
        T(wal_starts_over_under_load),
        T(wal_backlog_is_the_threads),
        T(held_rows_written_at_commit),
        T(close_rolls_back),
        T(begin_gives_up_soon_while_locked),
        T(stop_checkpoint_gives_a_reader_a_second),
        T(patient_begin_waits_for_a_passing_lock),
        T(open_waits_for_a_passing_lock),
        T(refuses_garbage),
        T(refuses_empty_file_beside_its_wal),
        T(refuses_newer_schema),
        T(refuses_foreign_database),
        T(refuses_foreign_tables_with_our_version),
        T(refuses_damaged_tree),
        T(refuses_damaged_backup_untouched),
        cmocka_unit_test_setup_teardown(disk_full_is_store_full, setup_full, teardown_full),
        cmocka_unit_test_setup_teardown(unreadable_page_is_no_refusal, setup_full, teardown_full),
        cmocka_unit_test_setup_teardown(full_disk_migration_is_no_refusal, setup_full,
                                        teardown_full),
        cmocka_unit_test_setup_teardown(failure_mid_transaction_writes_nothing_after, setup_full,
                                        teardown_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
