/*
 * store.c - SQLite persistence for the broker (see store.h for the contract).
 *
 * Every statement is prepared once at open and reused. Enums are stored as
 * their wire names, so an operator reading the file with sqlite3 sees
 * "contacted", not 4. The events table refuses UPDATE and DELETE: the audit
 * trail is append-only by construction, not by convention.
 */
#include "store.h"
#include "evbuf.h"
#include "rowcache.h"
#include "roundcache.h"
#include "walbuf.h"
#include "checkpointer.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    Q_CASE_LOOKUP, Q_CASE_INSERT, Q_CASE_INSERT_ABOVE, Q_CASE_GET, Q_CASE_UPDATE, Q_CASE_RECORD,
    Q_CASE_OPEN,
    Q_ESC_ADD, Q_ESC_ADD_ABOVE, Q_ESC_NOTIFIED, Q_ESC_RETARGET, Q_ESC_UNNOTIFIED, Q_COUNTS,
    Q_ASG_INSERT, Q_ASG_INSERT_ABOVE, Q_ASG_GET, Q_ASG_UPDATE, Q_ASG_OF_CASE, Q_ASG_OPEN,
    Q_EVENT_ADD, Q_EVENT_ADD_BATCH, Q_APPLIED_FIND, Q_APPLIED_ADD,
    Q_RUNGS_GET, Q_RUNGS_CLEAR, Q_RUNGS_ADD, Q_CONTACT_MOVE, Q_RESOLVE_MOVE, Q_LEVELS_SETTLE, Q_ESC_ADOPT,
    Q_ROUND_KEEP,
    Q_BEGIN, Q_COMMIT, Q_ROLLBACK,
    Q_COUNT
};

/* Each INSERT of a row whose id leaves the broker comes in two forms: the
 * plain one, where SQLite picks the id (one above the largest, appended
 * without a seek), and one used only while a restore's floor is pending
 * (store_id_floors), whose id is one above both the largest and the floor,
 * given as the last parameter. */
#define ID_ABOVE(table, floor) ", max(coalesce((SELECT max(id) FROM " table "), 0), " floor ") + 1"
#define CASE_INSERT(id_col, id_val)                                                      \
    "INSERT INTO cases (channel, external_id, service_code, description, grid_code,"      \
    " street, community, priority, lat, lon, address_string, first_name, last_name,"     \
    " phone, email, media_url, requested_datetime, lead_department, state,"              \
    " received_at, contact_due, resolve_due, submit_msg_id" id_col ")"                   \
    " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23" \
    id_val ")"
#define ESC_ADD(id_col, id_val)                                                          \
    "INSERT OR IGNORE INTO escalations (case_id, round, ladder, level, target, department," \
    " due_at, fired_at, overdue_s, notify, offset_ms" id_col ")"                         \
    " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11" id_val ")"
#define ASG_INSERT(id_col, id_val)                                                       \
    "INSERT INTO assignments (case_id, department, role, state, attempt, worker,"        \
    " created_at, updated_at, round" id_col ") VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9" id_val ")"

/* An assignment still open: the condition of the partial index
 * assignments_open, repeated word for word where a query should use it. */
#define ASG_OPEN "state <> 'resolved' AND state <> 'returned' AND state <> 'cancelled'"

/* An event's 9 columns; EVENT_ROWS_16: the rows of a full evbuf */
#define EVENT_INSERT \
    "INSERT INTO events (case_id, assignment_id, at, kind, department, actor," \
    " from_state, to_state, detail) VALUES "
#define EVENT_COLUMNS 9
#define EVENT_ROW "(?,?,?,?,?,?,?,?,?)"
#define EVENT_ROWS_4 EVENT_ROW "," EVENT_ROW "," EVENT_ROW "," EVENT_ROW
#define EVENT_ROWS_16 EVENT_ROWS_4 "," EVENT_ROWS_4 "," EVENT_ROWS_4 "," EVENT_ROWS_4

static const char *const sql[Q_COUNT] = {
    [Q_CASE_LOOKUP] = "SELECT id, submit_msg_id FROM cases WHERE channel = ?1 AND external_id = ?2",
    [Q_CASE_INSERT] = CASE_INSERT("", ""),
    [Q_CASE_INSERT_ABOVE] = CASE_INSERT(", id", ID_ABOVE("cases", "?24")),
    [Q_CASE_GET] =
        "SELECT id, lead_department, grid_code, street, community, service_code, priority,"
        " state, received_at, contact_due, resolve_due, contacted_at, resolved_at,"
        " closed_at, rating, redo_count, contact_level, resolve_level FROM cases WHERE id = ?1",
    [Q_CASE_UPDATE] =
        "UPDATE cases SET state = ?2, contacted_at = ?3, resolved_at = ?4, closed_at = ?5,"
        " rating = ?6, redo_count = ?7, lead_department = ?8, contact_due = ?9,"
        " resolve_due = ?10, contact_level = ?11, resolve_level = ?12 WHERE id = ?1",
    [Q_CASE_OPEN] =
        "SELECT id, state, contact_due, resolve_due, contacted_at, resolved_at,"
        " contact_level, resolve_level FROM cases"
        " WHERE state NOT IN ('closed', 'cancelled') ORDER BY id",
    /* the status line's: open is not resolved yet (a resolved case waits only
     * for the resident's rating, and an imported one may have no contact
     * time), overdue is what `minqing list --overdue` lists. The cases_open
     * condition stays word for word, so that its index is used. */
    [Q_COUNTS] =
        "SELECT count(*), coalesce(sum(CASE WHEN (contacted_at IS NULL AND contact_due < ?1)"
        " OR resolve_due < ?1 THEN 1 ELSE 0 END), 0) FROM cases"
        " WHERE state NOT IN ('closed', 'cancelled') AND state <> 'resolved'",
    [Q_ESC_ADD] = ESC_ADD("", ""),
    [Q_ESC_ADD_ABOVE] = ESC_ADD(", id", ID_ABOVE("escalations", "?12")),
    [Q_ESC_NOTIFIED] = "UPDATE escalations SET notified_at = ?2"
                       " WHERE id = ?1 AND notified_at IS NULL",
    [Q_ESC_RETARGET] = "UPDATE escalations SET notify = ?2 WHERE id = ?1 AND notified_at IS NULL",
    [Q_ESC_UNNOTIFIED] =
        /* the department the rung fired for, as logged then: the case's lead
         * of now may differ (a reassignment, a return) */
        "SELECT e.id, e.case_id, e.level, e.ladder, e.target, e.notify, e.due_at, e.overdue_s,"
        " coalesce(e.department, c.lead_department), c.grid_code, c.street, c.community"
        " FROM escalations e"
        " JOIN cases c ON c.id = e.case_id"
        " WHERE e.notified_at IS NULL AND e.notify IS NOT NULL ORDER BY e.id",
    [Q_CASE_RECORD] =
        "SELECT service_code, description, address_string, first_name, last_name, phone,"
        " email, media_url, requested_datetime, external_id, channel, grid_code, lat, lon,"
        " priority FROM cases WHERE id = ?1",
    [Q_ASG_INSERT] = ASG_INSERT("", ""),
    [Q_ASG_INSERT_ABOVE] = ASG_INSERT(", id", ID_ABOVE("assignments", "?10")),
    [Q_ASG_GET] =
        "SELECT id, case_id, department, role, state, attempt, worker, created_at, updated_at, round"
        " FROM assignments WHERE id = ?1",
    [Q_ASG_UPDATE] =
        "UPDATE assignments SET state = ?2, attempt = ?3, worker = ?4, updated_at = ?5 WHERE id = ?1",
    [Q_ASG_OF_CASE] =
        "SELECT id, case_id, department, role, state, attempt, worker, created_at, updated_at, round"
        " FROM assignments WHERE case_id = ?1 AND round = ?2"
        " AND state != 'returned' AND state != 'cancelled' ORDER BY id",
    [Q_ASG_OPEN] =
        "SELECT id, case_id, department, role, state, attempt, worker, created_at, updated_at, round"
        " FROM assignments WHERE " ASG_OPEN " ORDER BY id",
    [Q_EVENT_ADD] = EVENT_INSERT EVENT_ROW,
    [Q_EVENT_ADD_BATCH] = EVENT_INSERT EVENT_ROWS_16,
    [Q_APPLIED_FIND] =
        "SELECT kind, case_id, assignment_id, state, at FROM outcomes"
        " WHERE scope = ?1 AND msg_id = ?2",
    [Q_APPLIED_ADD] =
        "INSERT OR IGNORE INTO outcomes (scope, msg_id, kind, case_id, assignment_id, state, at,"
        " worker, result, summary, reason, note) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
    [Q_RUNGS_GET] = "SELECT offset_ms, target FROM ladders WHERE ladder = ?1 ORDER BY level",
    [Q_RUNGS_CLEAR] = "DELETE FROM ladders WHERE ladder = ?1",
    [Q_RUNGS_ADD] = "INSERT INTO ladders (ladder, level, offset_ms, target) VALUES (?1,?2,?3,?4)",
    /* moved counts are parked negative, so that no case moves twice */
    [Q_CONTACT_MOVE] =
        "UPDATE cases SET contact_level = -?3 WHERE contact_level BETWEEN ?1 AND ?2 AND contact_level != ?3"
        " AND state NOT IN ('closed', 'cancelled')",
    [Q_RESOLVE_MOVE] =
        "UPDATE cases SET resolve_level = -?3 WHERE resolve_level BETWEEN ?1 AND ?2 AND resolve_level != ?3"
        " AND state NOT IN ('closed', 'cancelled')",
    [Q_LEVELS_SETTLE] =
        "UPDATE cases SET contact_level = abs(contact_level), resolve_level = abs(resolve_level)"
        " WHERE (contact_level < 0 OR resolve_level < 0) AND state NOT IN ('closed', 'cancelled')",
    /* an open case's escalations from before schema 4 take their rung's offset */
    [Q_ESC_ADOPT] =
        "UPDATE OR IGNORE escalations SET offset_ms = ?3 WHERE offset_ms IS NULL"
        " AND ladder = ?1 AND level = ?2 AND target = ?4"
        " AND case_id IN (SELECT id FROM cases WHERE state NOT IN ('closed', 'cancelled'))",
    [Q_ROUND_KEEP] = "INSERT OR REPLACE INTO rounds (case_id, round, contact_due, resolve_due,"
                     " contacted_at, resolved_at) VALUES (?1,?2,?3,?4,?5,?6)",
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
};

static int64_t mono_ms(void);

/* Schema migrations: migrations[v] takes a database from user_version v to v+1. */
static const char *const migrations[STORE_SCHEMA_VERSION] = {
    "CREATE TABLE cases ("
    "  id INTEGER PRIMARY KEY,"
    "  channel TEXT NOT NULL, external_id TEXT NOT NULL,"
    "  service_code TEXT NOT NULL, description TEXT NOT NULL,"
    "  grid_code TEXT NOT NULL, street TEXT NOT NULL, community TEXT NOT NULL,"
    "  priority TEXT NOT NULL, lat REAL, lon REAL,"
    "  address_string TEXT, first_name TEXT, last_name TEXT, phone TEXT, email TEXT,"
    "  media_url TEXT, requested_datetime TEXT,"
    "  lead_department TEXT NOT NULL, state TEXT NOT NULL,"
    "  received_at INTEGER NOT NULL, contact_due INTEGER, resolve_due INTEGER,"
    "  contacted_at INTEGER, resolved_at INTEGER, closed_at INTEGER,"
    "  rating TEXT, redo_count INTEGER NOT NULL DEFAULT 0,"
    "  submit_msg_id TEXT,"
    /* the last escalation level fired on each ladder, in the current round */
    "  contact_level INTEGER NOT NULL DEFAULT 0, resolve_level INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (channel, external_id));"
    "CREATE INDEX cases_state ON cases (state);"
    "CREATE INDEX cases_open ON cases (id) WHERE state NOT IN ('closed', 'cancelled');"
    /* one row per (case, round, ladder, level): the UNIQUE key is what makes
     * an escalation fire exactly once, across restarts and kill -9 */
    "CREATE TABLE escalations ("
    "  id INTEGER PRIMARY KEY, case_id INTEGER NOT NULL REFERENCES cases (id),"
    "  round INTEGER NOT NULL, ladder TEXT NOT NULL, level INTEGER NOT NULL,"
    "  target TEXT NOT NULL, department TEXT, due_at INTEGER NOT NULL,"
    "  fired_at INTEGER NOT NULL, overdue_s INTEGER NOT NULL,"
    "  UNIQUE (case_id, round, ladder, level));"
    "CREATE TABLE assignments ("
    "  id INTEGER PRIMARY KEY,"
    "  case_id INTEGER NOT NULL REFERENCES cases (id),"
    "  department TEXT NOT NULL, role TEXT NOT NULL, state TEXT NOT NULL,"
    "  attempt INTEGER NOT NULL DEFAULT 0, worker TEXT,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    /* round: the case's redo count when it was made; a redo (重办) starts a new round */
    "  round INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX assignments_case ON assignments (case_id);"
    "CREATE INDEX assignments_open ON assignments (state)"
    "  WHERE state NOT IN ('resolved', 'returned', 'cancelled');"
    /* outcomes: what workers (scope = department) and clients (scope = role)
     * sent, keyed by msg_id so a repeat is answered, not applied again */
    "CREATE TABLE outcomes ("
    "  scope TEXT NOT NULL, msg_id TEXT NOT NULL, kind TEXT NOT NULL,"
    "  case_id INTEGER NOT NULL, assignment_id INTEGER, state TEXT, at INTEGER NOT NULL,"
    "  worker TEXT, result TEXT, summary TEXT, reason TEXT, note TEXT,"
    "  PRIMARY KEY (scope, msg_id));"
    "CREATE INDEX outcomes_case ON outcomes (case_id);"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY, case_id INTEGER NOT NULL, assignment_id INTEGER,"
    "  at INTEGER NOT NULL, kind TEXT NOT NULL, department TEXT, actor TEXT NOT NULL,"
    "  from_state TEXT, to_state TEXT, detail TEXT);"
    "CREATE INDEX events_case ON events (case_id, id);"
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events"
    "  BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;"
    "CREATE TRIGGER events_no_delete BEFORE DELETE ON events"
    "  BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;",
    /* 2: SQLite evaluates a NOT IN of three or more constants through a
     * temporary b-tree, opened and freed again on every UPDATE that touches
     * the partial index: a third of the broker's time went to that malloc and
     * brk churn. The same condition as plain comparisons costs nothing. */
    "DROP INDEX assignments_open;"
    /* keyed by id, not state: an entry stays in place while its assignment
     * goes dispatched -> accepted -> contacted, rather than moving between
     * the regions of four states, and the startup scan wants id order */
    "CREATE INDEX assignments_open ON assignments (id) WHERE " ASG_OPEN ";"
    /* no query can use it (they all ask "open?", which cases_open answers),
     * yet every change of a case's state paid for it */
    "DROP INDEX cases_state;"
    /* outcomes are only ever looked up by their key: keyed storage (one
     * b-tree, not a table plus its key index) and no index by case */
    "CREATE TABLE outcomes_v2 ("
    "  scope TEXT NOT NULL, msg_id TEXT NOT NULL, kind TEXT NOT NULL,"
    "  case_id INTEGER NOT NULL, assignment_id INTEGER, state TEXT, at INTEGER NOT NULL,"
    "  worker TEXT, result TEXT, summary TEXT, reason TEXT, note TEXT,"
    "  PRIMARY KEY (scope, msg_id)) WITHOUT ROWID;"
    "INSERT INTO outcomes_v2 SELECT scope, msg_id, kind, case_id, assignment_id, state, at,"
    "  worker, result, summary, reason, note FROM outcomes;"
    "DROP TABLE outcomes;"
    "ALTER TABLE outcomes_v2 RENAME TO outcomes;",
    /* 3: an ESCALATE notice lived in memory only, so a restart before a
     * supervision worker acknowledged it lost it: the row now says where it
     * goes and when it was acknowledged (rows from before say nothing, and
     * are not announced again) */
    "ALTER TABLE escalations ADD COLUMN notify TEXT;"
    "ALTER TABLE escalations ADD COLUMN notified_at INTEGER;"
    "CREATE INDEX escalations_unnotified ON escalations (id)"
    "  WHERE notified_at IS NULL AND notify IS NOT NULL;",
    /* 4: a case's fired-level count meant "the first N rungs of the ladder
     * configured now", so a reload that inserted or removed a rung made a
     * case repeat or skip one. The database now keeps the ladders the counts
     * refer to (the broker moves the counts when the config's differ), and
     * an escalation is unique by its rung, (offset, target), not by a level
     * number that a changed ladder gives to another rung. Rows from before
     * have no offset and take no part in that key. */
    "CREATE TABLE escalations_v4 ("
    "  id INTEGER PRIMARY KEY, case_id INTEGER NOT NULL REFERENCES cases (id),"
    "  round INTEGER NOT NULL, ladder TEXT NOT NULL, level INTEGER NOT NULL,"
    "  target TEXT NOT NULL, department TEXT, due_at INTEGER NOT NULL,"
    "  fired_at INTEGER NOT NULL, overdue_s INTEGER NOT NULL,"
    "  notify TEXT, notified_at INTEGER, offset_ms INTEGER,"
    "  UNIQUE (case_id, round, ladder, offset_ms, target));"
    "INSERT INTO escalations_v4 SELECT id, case_id, round, ladder, level, target, department,"
    "  due_at, fired_at, overdue_s, notify, notified_at, NULL FROM escalations;"
    "DROP TABLE escalations;"
    "ALTER TABLE escalations_v4 RENAME TO escalations;"
    "CREATE INDEX escalations_unnotified ON escalations (id)"
    "  WHERE notified_at IS NULL AND notify IS NOT NULL;"
    "CREATE TABLE ladders ("
    "  ladder TEXT NOT NULL, level INTEGER NOT NULL,"
    "  offset_ms INTEGER NOT NULL, target TEXT NOT NULL,"
    "  PRIMARY KEY (ladder, level)) WITHOUT ROWID;",
    /* 5: a restored backup gave out again the ids issued after it was made;
     * `minqing restore` now leaves the replaced database's last ids here
     * (IF NOT EXISTS: it may write them into a backup of an older schema) */
    STORE_ID_FLOORS_DDL ";",
    /* 6: a redo overwrote the case's deadlines and times, so the figures of
     * its earlier rounds were computed again from the config and holiday
     * file of the day the report ran (next year's, once installed); each
     * round a redo ends is now kept here as the broker used it. Rounds ended
     * before this version have no row, and are computed as before. */
    "CREATE TABLE IF NOT EXISTS rounds ("
    "  case_id INTEGER NOT NULL REFERENCES cases (id), round INTEGER NOT NULL,"
    "  contact_due INTEGER, resolve_due INTEGER, contacted_at INTEGER, resolved_at INTEGER,"
    "  PRIMARY KEY (case_id, round)) WITHOUT ROWID;",
};

const char *const store_id_tables[STORE_IDS_COUNT] = {"cases", "assignments", "escalations"};

const char *store_migration(int v)
{
    return v >= 0 && v < STORE_SCHEMA_VERSION ? migrations[v] : NULL;
}

/* Rows changed in one transaction that are held back until its commit. A
 * case takes three to five updates in the few milliseconds of its commit
 * (dispatched, accepted, contacted, resolved, each with its assignment):
 * writing each row once instead takes a sixth off the broker's work. */
#define HELD_ROWS 1024
/* Cases whose round store_round_assignments keeps (roundcache.h): more than
 * a pass of 64 submissions and their outcomes touches. */
#define ROUND_SLOTS 128

/* The WAL length (frames of a page each) at which the checkpointer copies it
 * back: about 4 MB, a checkpoint every half second at 1,000 cases/s, short
 * enough not to flood the disk the commits fsync on. Past CKPT_LIMIT, while
 * the thread fails, the writer checkpoints itself, as SQLite's automatic
 * checkpoint would. */
#define CKPT_PAGES 1000
#define CKPT_LIMIT 20000
#define CKPT_PATIENCE 16        /* commits store_maintain waits for an idle moment */

struct store_t {
    int lockfd;                 /* flock on "<database>.lock": one broker per database */
    sqlite3 *db;
    checkpointer_t *ckpt;       /* NULL for :memory: */
    bool ckpt_due;              /* the checkpointer asks the writer to finish (store_maintain) */
    unsigned long writer_checkpoints;   /* in a commit, past CKPT_LIMIT */
    unsigned ckpt_waited;       /* commits since it asked */
    sqlite3_stmt *q[Q_COUNT];
    rowcache_t *cases, *asgs;   /* updated rows not yet written (see HELD_ROWS) */
    evbuf_t *events;            /* events not yet written (evbuf.h) */
    roundcache_t *rounds;       /* store_round_assignments' answers (roundcache.h) */
    bool in_txn, dirty;
    bool lost;                  /* SQLite ended the transaction itself (see txn_lost) */
    bool created;               /* store_open found no database and made one */
    int migrated_from;          /* store_migrated_from */
    int64_t migrate_ms;
    store_orphans_t orphans;    /* what its migrations kept (store_orphans) */
    int64_t floor[STORE_IDS_COUNT]; /* next ids above these (0: none; see ID_ABOVE) */
    bool floor_used[STORE_IDS_COUNT];   /* a row of this transaction went above it */
    int last_rc;
    int64_t busy_until;         /* store_begin fails at once until then (STORE_BUSY_PAUSE_MS) */
    char record[4 * MSG_MAX_BODY];  /* strings of the last store_case_record */
    char errmsg[256];
};

static int write_held(store_t *self);
static int write_events(store_t *self);
static int write_case(store_t *self, const store_case_t *c);
static int write_assignment(store_t *self, const store_assignment_t *a);
static void copy_col(char *dst, size_t len, sqlite3_stmt *st, int col);
static const char *col_text(sqlite3_stmt *st, int i);

/* ---- errors ---------------------------------------------------------- */

/* The transaction can no longer commit: the held rows are dropped, nothing
 * more is written, and the commit fails, until the caller rolls back. */
static void spoil(store_t *self)
{
    self->lost = true;
    evbuf_clear(self->events);
    roundcache_clear(self->rounds);
    rowcache_clear(self->cases);
    rowcache_clear(self->asgs);
}

/* After some errors (a full disk, an I/O error) SQLite rolls the whole
 * transaction back by itself and returns to autocommit, where every later
 * statement would commit on its own: half a pass on disk. */
static bool txn_lost(store_t *self)
{
    if (self->in_txn && !self->lost && sqlite3_get_autocommit(self->db))
        spoil(self);
    return self->lost;
}

/* A failed statement spoils the transaction, also where SQLite undid only
 * that statement (a full disk or no memory under a statement journal): the
 * held rows a failed write of them dropped are missing, and the rest must
 * not commit as if they were not. A constraint alone leaves the transaction
 * whole: the statement is undone and nothing else was touched. */
static int fail(store_t *self, int rc)
{
    /* the WAL shim's I/O error, that SQLite might roll all back, for a full disk */
    bool full = (rc & 0xff) == SQLITE_IOERR && walbuf_take_full();
    self->last_rc = full ? SQLITE_FULL : rc;
    snprintf(self->errmsg, sizeof self->errmsg, "%s",
             full ? sqlite3_errstr(SQLITE_FULL) : sqlite3_errmsg(self->db));
    if (self->in_txn && !self->lost && (rc & 0xff) != SQLITE_CONSTRAINT)
        spoil(self);
    return -1;
}

msg_err_t store_errcode(const store_t *self)
{
    int rc = self->last_rc & 0xff;
    return rc == SQLITE_FULL ? ERR_STORE_FULL : ERR_STORE_FAILED;
}

bool store_locked(const store_t *self)
{
    return (self->last_rc & 0xff) == SQLITE_BUSY;
}

const char *store_errmsg(const store_t *self)
{
    return self->errmsg;
}

/* ---- open, migrate, close ------------------------------------------- */

static int exec(sqlite3 *db, const char *text, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, text, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

/* Whether SQLite's error code says the file is damaged or not a database. */
static bool damaged(int code)
{
    return code == SQLITE_CORRUPT || code == SQLITE_NOTADB;
}

/* -1 with errno set for a failed read of the file: EUCLEAN when SQLite
 * found it damaged or not a database (store_open's refusal), else EIO. */
static int read_failed(sqlite3 *db)
{
    errno = damaged(sqlite3_errcode(db) & 0xff) ? EUCLEAN : EIO;
    return -1;
}

/* -1 with errno EUCLEAN: the file itself is refused (store_open). */
static int refused(void)
{
    errno = EUCLEAN;
    return -1;
}

/* A verdict row that says a page could not be read ("unable to get the
 * page. error code=8458", SQLITE_IOERR_READ) is the disk's trouble, which
 * may pass, not damage in the file. */
static bool read_trouble(const char *verdict)
{
    return strstr(verdict, "error code=") || strstr(verdict, "unable to get the page") ||
           strstr(verdict, "Failed to read");
}

/* quick_check reports damage as result rows, not as an error: anything but
 * one "ok" row refuses the file, with SQLite's description of the damage. */
static int quick_check(sqlite3 *db, char *why, size_t len)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(st, 0);
        rc = r && strcmp(r, "ok") == 0 ? 0 : -1;
        if (rc)
            snprintf(why, len, "%s", r ? r : "no verdict");
        bool io = rc && r && read_trouble(r);
        sqlite3_finalize(st);
        if (io)
            errno = EIO;
        return rc ? (io ? -1 : refused()) : 0;
    }
    snprintf(why, len, "%s", sqlite3_errmsg(db));
    read_failed(db);
    sqlite3_finalize(st);
    return -1;
}

static int user_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    *v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* How many tables, indexes, views and triggers the file holds; -1 when it
 * cannot be read. */
static int schema_objects(sqlite3 *db)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL) != SQLITE_OK)
        return -1;
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    return n;
}

/* The refusal of another program's database (a mistyped `database =`). */
static int not_ours(const char *path, int v, const char *why, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: a SQLite database, but not minqing's (schema version %d, %s); "
             "refusing to touch it: check `database =`", path, v, why);
    return refused();
}

/* The database's schema version, refusing one newer than this binary's
 * before anything (not even its journal mode) is changed. */
static int check_version(sqlite3 *db, const char *path, int *v, char *err, size_t errlen)
{
    if (user_version(db, v)) {
        snprintf(err, errlen, "%s: cannot read the schema version: %s (is it a minqing database?)",
                 path, sqlite3_errmsg(db));
        return read_failed(db);
    }
    if (*v > STORE_SCHEMA_VERSION) {
        snprintf(err, errlen, "%s: schema version %d is newer than this minqingd (%d); "
                 "refusing to touch it: run a newer minqingd", path, *v, STORE_SCHEMA_VERSION);
        return refused();
    }
    /* Version 0 with tables in it, or a negative one, is another program's
     * database (a mistyped `database =`): creating ours inside it would mix
     * the two, and even switching it to WAL would change it. */
    int objects = *v == 0 ? schema_objects(db) : 0;
    if (*v < 0 || objects != 0) {
        char why[64];
        snprintf(why, sizeof why, "%d tables or indexes of its own", objects);
        return not_ours(path, *v, why, err, errlen);
    }
    return 0;
}

/* Our tables, and the schema version that added each. */
static const struct {
    int since;
    const char *name;
} our_tables[] = {
    {1, "cases"}, {1, "escalations"}, {1, "assignments"}, {1, "outcomes"}, {1, "events"},
    {4, "ladders"}, {5, "id_floors"}, {6, "rounds"},
};

/* A user_version is any program's to set: a file that claims schema v must
 * hold the tables of v too before a migration or even the switch to WAL
 * writes to it. Tables of its own beside ours are the operator's. */
int store_missing_table(sqlite3 *db, int v, const char **missing)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table'"
                                " AND name = ?1", -1, &st, NULL);
    *missing = NULL;
    size_t n = sizeof our_tables / sizeof our_tables[0];
    for (size_t i = 0; i < n && rc == SQLITE_OK && !*missing; i++) {
        if (our_tables[i].since > v)
            continue;
        sqlite3_bind_text(st, 1, our_tables[i].name, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
            *missing = our_tables[i].name;
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : -1;
}

static int check_tables(sqlite3 *db, const char *path, int v, char *err, size_t errlen)
{
    const char *missing;
    if (store_missing_table(db, v, &missing)) {
        snprintf(err, errlen, "%s: cannot read the schema: %s (corrupt, or not a database?)",
                 path, sqlite3_errmsg(db));
        return read_failed(db);
    }
    if (!missing)
        return 0;
    char why[64];
    snprintf(why, sizeof why, "but no table %s", missing);
    return not_ours(path, v, why, err, errlen);
}

/* The migrations that rebuild a table as SQLite's ALTER TABLE page says
 * (create the new one, copy, drop the old, rename), and our index on the old
 * table that the migration drops on purpose or makes again itself. Every
 * other index and trigger on it is the operator's, which DROP TABLE takes
 * along: they are saved first and made again after. */
typedef struct {
    int to;                     /* the schema version the migration makes */
    const char *table, *ours;
} rebuild_t;

static const rebuild_t rebuilds[] = {
    {2, "outcomes", "outcomes_case"},
    {4, "escalations", "escalations_unnotified"},
};

static const rebuild_t *rebuild_to(int version)
{
    for (size_t i = 0; i < sizeof rebuilds / sizeof rebuilds[0]; i++)
        if (rebuilds[i].to == version)
            return &rebuilds[i];
    return NULL;
}

/* The operator's indexes and triggers on a rebuilt table: what, and the
 * statement that makes it (both sqlite3_malloc'd). */
typedef struct {
    size_t n;
    struct kept_obj { char *what, *sql; } *obj;
} kept_t;

static void kept_free(kept_t *k)
{
    for (size_t i = 0; i < k->n; i++)
        sqlite3_free(k->obj[i].what), sqlite3_free(k->obj[i].sql);
    sqlite3_free(k->obj);
    *k = (kept_t){0};
}

static int kept_add(kept_t *k, const char *what, const char *text)
{
    struct kept_obj *more = sqlite3_realloc64(k->obj, (k->n + 1) * sizeof *more);
    if (!more)
        return -1;
    k->obj = more;
    more[k->n].what = sqlite3_mprintf("%s", what);
    more[k->n].sql = sqlite3_mprintf("%s", text);
    k->n++;
    return more[k->n - 1].what && more[k->n - 1].sql ? 0 : -1;
}

/* tbl_name is the name as the operator wrote it in CREATE TRIGGER ... ON. */
static int keep_objects(sqlite3 *db, const rebuild_t *rb, kept_t *k, char *why, size_t len)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT type || ' ' || name, sql FROM sqlite_master"
                                " WHERE tbl_name = ?1 COLLATE NOCASE AND sql IS NOT NULL"
                                " AND type IN ('index', 'trigger') AND name <> ?2 ORDER BY rowid",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, rb->table, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, rb->ours, -1, SQLITE_STATIC);
    }
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        rc = kept_add(k, col_text(st, 0), col_text(st, 1)) ? SQLITE_NOMEM : SQLITE_OK;
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return 0;
    snprintf(why, len, "reading the indexes and triggers on %s: %s", rb->table,
             rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(db));
    return -1;
}

/* None of our rebuilds removes a column, so what was made on the old table
 * can be made on the new one; should it not, the migration stops rather
 * than lose the operator's trigger in silence. */
static int remake_objects(sqlite3 *db, const rebuild_t *rb, const kept_t *k, char *why,
                          size_t len)
{
    for (size_t i = 0; i < k->n; i++) {
        char e[200];
        if (exec(db, k->obj[i].sql, e, sizeof e) == 0)
            continue;
        snprintf(why, len, "the %s on %s cannot be made again on the new table (%s): "
                 "drop it, start minqingd once, then create it again", k->obj[i].what,
                 rb->table, e);
        return -1;
    }
    return 0;
}

/* Rows of the rebuilt table whose REFERENCES names no row: copied as they
 * were, counted, the first few named for the log. */
static int find_orphans(sqlite3 *db, const rebuild_t *rb, store_orphans_t *o, char *why,
                        size_t len)
{
    char q[96];
    sqlite3_stmt *st;
    snprintf(q, sizeof q, "PRAGMA foreign_key_check(%s)", rb->table);
    int rc = sqlite3_prepare_v2(db, q, -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (o->count < STORE_ORPHANS_SHOWN) {
            store_orphan_t *r = &o->first[o->count];
            copy_col(r->table, sizeof r->table, st, 0);
            r->rowid = sqlite3_column_int64(st, 1);
            copy_col(r->parent, sizeof r->parent, st, 2);
        }
        o->count++;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return 0;
    snprintf(why, len, "checking the references of %s: %s", rb->table, sqlite3_errmsg(db));
    return -1;
}

/* One migration, one transaction with its user_version bump: a kill -9
 * leaves the schema at v or at v + 1, never between. */
static int migrate_one(sqlite3 *db, int v, store_orphans_t *o, char *why, size_t len)
{
    const rebuild_t *rb = rebuild_to(v + 1);
    kept_t kept = {0};
    char bump[64];
    snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
    int rc = exec(db, "BEGIN IMMEDIATE", why, len) ||
             (rb && keep_objects(db, rb, &kept, why, len)) ||
             exec(db, migrations[v], why, len) ||
             (rb && (remake_objects(db, rb, &kept, why, len) ||
                     find_orphans(db, rb, o, why, len))) ||
             exec(db, bump, why, len) || exec(db, "COMMIT", why, len);
    kept_free(&kept);
    if (!rc)
        return 0;
    /* SQL the file's own contents refuse (a table of ours the operator
     * made: "table ladders already exists") fails at every start: a
     * refusal; a full disk, a read error or a lock may pass */
    int code = sqlite3_errcode(db) & 0xff;
    int e = code == SQLITE_ERROR || code == SQLITE_CONSTRAINT || damaged(code) ? EUCLEAN : EIO;
    exec(db, "ROLLBACK", bump, sizeof bump);
    errno = e;
    return -1;
}

/* Bring the schema from version v to STORE_SCHEMA_VERSION. Foreign keys are
 * off meanwhile (the pragma is a no-op inside a transaction, so it comes
 * first): an orphan row an older broker never noticed would stop the copy,
 * and the broker with it. legacy_alter_table: since SQLite 3.26 a RENAME
 * re-parses every view and trigger, and fails on the operator's view of the
 * table just dropped; left alone, the view names the rebuilt table once the
 * rename is done. configure turns foreign keys back on. */
static int migrate(sqlite3 *db, const char *path, int v, store_orphans_t *o, char *err,
                   size_t errlen)
{
    char why[600];
    bool upgrade = v > 0;           /* a new database's tables are small */
    int rc = exec(db, "PRAGMA foreign_keys = OFF; PRAGMA legacy_alter_table = ON", why,
                  sizeof why);
    for (; rc == 0 && v < STORE_SCHEMA_VERSION; v++) {
        if ((rc = migrate_one(db, v, o, why, sizeof why)) != 0)
            snprintf(err, errlen, "%s: migration to schema %d failed: %s", path, v + 1, why);
        /* A step that rebuilds a table writes it all into the WAL: copied
         * back and truncated before the next, the migration needs room for
         * one table's copy, not the sum of every step's (a failure here
         * only costs that room) */
        else if (upgrade)
            (void)sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    }
    if (rc == 0 && (rc = exec(db, "PRAGMA legacy_alter_table = OFF", why, sizeof why)) != 0)
        snprintf(err, errlen, "%s: %s", path, why);
    return rc;
}

/* A database file missing or empty while its WAL holds frames was lost or
 * truncated, not never made: SQLite would delete that WAL, and the commits
 * in it, at the first read (read-only too), and start an empty database. */
static int check_wal(const char *path, bool missing, char *err, size_t errlen)
{
    char wal[4096];
    struct stat st;
    snprintf(wal, sizeof wal, "%s-wal", path);
    if (stat(wal, &st) != 0 || st.st_size == 0)
        return 0;
    snprintf(err, errlen, "%s: %s, but its -wal holds %lld bytes: a %s database, not a new one",
             path, missing ? "missing" : "empty", (long long)st.st_size,
             missing ? "lost" : "truncated");
    return -1;
}

/* check_wal, as the broker says it. */
static int lost_wal(const char *path, bool missing, char *err, size_t errlen)
{
    if (check_wal(path, missing, err, errlen) == 0)
        return 0;
    size_t n = strlen(err);
    snprintf(err + n, errlen - n, "; refusing to start: restore it from a backup");
    return refused();
}

int store_check_wal(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) == 0)
        return st.st_size == 0 ? check_wal(path, false, err, errlen) : 0;
    return errno == ENOENT ? check_wal(path, true, err, errlen) : 0;
}

/* A file that exists but is not an empty or SQLite file is never initialised
 * over: SQLite would happily treat a zero-length file as new, but anything
 * else must carry the header or we refuse. */
static int check_header(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)     /* a new database; any other error is sqlite3_open's to report */
        return errno == ENOENT ? lost_wal(path, true, err, errlen) : 0;
    char head[16] = {0};
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    if (n == 0)
        return lost_wal(path, false, err, errlen);
    if (n < sizeof head || memcmp(head, "SQLite format 3", 16) != 0) {
        snprintf(err, errlen, "%s: not a SQLite database (corrupt or truncated?); "
                 "refusing to start rather than overwrite it: restore it from a backup", path);
        return refused();
    }
    return 0;
}

static void (*progress_fn)(void *, int64_t);
static void *progress_arg;

void store_set_progress(void (*fn)(void *arg, int64_t expect_ms), void *arg)
{
    progress_fn = fn, progress_arg = arg;
}

static int on_progress(void *unused)
{
    (void)unused;
    if (progress_fn)
        progress_fn(progress_arg, 0);
    return 0;                       /* go on */
}

/* SQLite's integrity check walks every page inside one step, which calls no
 * progress handler: say beforehand how long it may take, reading the file at
 * 20 MB/s (a cold cache on a slow disk) and half a minute more. */
static void expect_file_read(const char *path)
{
    struct stat st;
    if (progress_fn && stat(path, &st) == 0)
        progress_fn(progress_arg, 30000 + (int64_t)st.st_size / 20000);
}

/* The floors a restore left that the table's ids have not passed yet. */
static int read_floors(store_t *self, const char *path, char *err, size_t errlen)
{
    for (int t = 0; t < STORE_IDS_COUNT; t++) {
        char q[200];
        snprintf(q, sizeof q, "SELECT floor FROM id_floors WHERE name = '%s'"
                 " AND floor > coalesce((SELECT max(id) FROM %s), 0)",
                 store_id_tables[t], store_id_tables[t]);
        sqlite3_stmt *st;
        int rc = sqlite3_prepare_v2(self->db, q, -1, &st, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
            self->floor[t] = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            snprintf(err, errlen, "%s: reading id_floors: %s", path, sqlite3_errmsg(self->db));
            return -1;
        }
    }
    return 0;
}

bool store_id_floors(const store_t *self, int64_t floors[STORE_IDS_COUNT])
{
    bool any = false;
    for (int t = 0; t < STORE_IDS_COUNT; t++)
        any |= (floors[t] = self->floor[t]) > 0;
    return any;
}

/* The form of INSERT `plain` (see ID_ABOVE) for table t: the plain one, or
 * while t's floor is pending the one after it, with the floor bound to its
 * parameter `i`. */
static sqlite3_stmt *insert_stmt(store_t *self, int plain, store_ids_t t, int i)
{
    if (self->floor[t] <= 0)
        return self->q[plain];
    sqlite3_bind_int64(self->q[plain + 1], i, self->floor[t]);
    return self->q[plain + 1];
}

/* After an INSERT that added a row: the floor is passed once that commits. */
static void floor_passed(store_t *self, store_ids_t t)
{
    if (self->floor[t] > 0 && sqlite3_changes(self->db) > 0)
        self->floor_used[t] = true;
}

/* What only reads comes before anything writes: the file is minqing's, of a
 * version this binary knows, and whole. A file refused here keeps every byte
 * (a restored backup is in rollback-journal mode: not even switched to WAL). */
static int inspect(sqlite3 *db, const char *path, int *version, char *err, size_t errlen)
{
    char why[200];
    if (check_version(db, path, version, err, errlen) ||
        check_tables(db, path, *version, err, errlen))
        return -1;
    expect_file_read(path);
    if (quick_check(db, why, sizeof why)) {
        snprintf(err, errlen, "%s: integrity check failed: %s", path, why);
        return -1;
    }
    return 0;
}

static int configure(store_t *self, const char *path, char *err, size_t errlen)
{
    char why[200];
    int version;
    sqlite3_busy_timeout(self->db, STORE_OPEN_BUSY_MS);
    if (inspect(self->db, path, &version, err, errlen))
        return -1;
    self->created = version == 0;       /* no table in it (inspect checked) */
    /* synchronous=FULL in WAL mode: COMMIT waits for the WAL fsync, so an
     * acknowledged case survives kill -9 and power loss alike. */
    if (exec(self->db, "PRAGMA journal_mode = WAL", why, sizeof why) ||
        exec(self->db, "PRAGMA synchronous = FULL", why, sizeof why)) {
        snprintf(err, errlen, "%s: %s (corrupt, or not a database?)", path, why);
        return read_failed(self->db);
    }
    int64_t t0 = mono_ms();
    if (migrate(self->db, path, version, &self->orphans, err, errlen))
        return -1;
    if (version > 0 && version < STORE_SCHEMA_VERSION)
        self->migrated_from = version, self->migrate_ms = mono_ms() - t0;
    if (exec(self->db, "PRAGMA foreign_keys = ON", why, sizeof why)) {
        snprintf(err, errlen, "%s: %s", path, why);
        return -1;
    }
    if (read_floors(self, path, err, errlen))
        return -1;
    for (int i = 0; i < Q_COUNT; i++)
        if (sqlite3_prepare_v3(self->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &self->q[i],
                               NULL) != SQLITE_OK) {
            snprintf(err, errlen, "%s: preparing statement %d: %s", path, i,
                     sqlite3_errmsg(self->db));
            return refused();       /* the schema is not ours: so at every start */
        }
    return 0;
}

/* A second broker on the same database would bind over the first one's ipc://
 * sockets and fight it for the write lock: refuse it up front. */
int store_lock(const char *path, char *err, size_t errlen)
{
    char lock[4096];
    snprintf(lock, sizeof lock, "%s.lock", path);
    int fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", lock, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        snprintf(err, errlen, "%s: another minqingd is already running on this database (or a "
                 "minqing restore is)", path);
        close(fd);
        errno = e;                  /* EWOULDBLOCK: held; else the lock could not be taken */
        return -1;
    }
    return fd;
}

/* A restore that was interrupted may have moved the database aside, or only
 * its WAL: starting would create an empty database, or run one without its
 * last commits. */
static int restoring(const char *path, char *err, size_t errlen)
{
    char mark[4096];
    snprintf(mark, sizeof mark, "%s" STORE_RESTORING, path);
    if (access(mark, F_OK) != 0)
        return 0;
    snprintf(err, errlen, "%s: a minqing restore of this database did not finish; refusing to "
             "start: run the same minqing restore again, which puts back what it had moved "
             "and restores (do not open the database meanwhile, not even with sqlite3)", mark);
    return refused();
}

/* After each commit, with the WAL's length in frames. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    store_t *self = arg;
    if (!self->ckpt)
        return SQLITE_OK;           /* stopped for the shutdown checkpoint */
    if (pages >= CKPT_LIMIT && checkpointer_failing(self->ckpt)) {
        /* the thread fails (a full disk): what SQLite would do */
        self->writer_checkpoints++;
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        self->ckpt_due = false;
    } else if (self->ckpt_due) {
        self->ckpt_waited++;
    } else if (checkpointer_poke(self->ckpt, pages)) {
        self->ckpt_due = true;      /* out of this commit: store_maintain */
        self->ckpt_waited = 0;
    }
    return SQLITE_OK;
}

/* Once per process, before the first open: each connection is used by one
 * thread only (the broker's loop, the checkpointer's), so SQLite needs no
 * mutex per connection, only its global ones; its memory statistics (a
 * global lock around every malloc) are pure cost. False when this SQLite
 * cannot be used from two threads: then it checkpoints inside commits. */
static bool sqlite_setup(void)
{
    static int threads = -1;
    if (threads < 0) {
        int rc = sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
        /* MISUSE: SQLite was already in use (a test's VFS shim), in its
         * compiled-in mode, serialized unless built without threads */
        threads = sqlite3_threadsafe() != 0 && (rc == SQLITE_OK || rc == SQLITE_MISUSE);
    }
    return threads;
}

/* Checkpoints go to a thread of their own (checkpointer.c); the hook replaces
 * SQLite's automatic checkpoint, which would run inside our commits. */
static int start_checkpointer(store_t *self, const char *path, const char *vfs, char *err,
                              size_t errlen)
{
    char why[200];
    if (strcmp(path, ":memory:") == 0)
        return 0;
    if (!sqlite_setup()) {
        if (!exec(self->db, "PRAGMA wal_autocheckpoint = 10000", why, sizeof why))
            return 0;
        snprintf(err, errlen, "%s: %s", path, why);
        return -1;
    }
    self->ckpt = checkpointer_new(path, vfs, CKPT_PAGES, err, errlen);
    if (!self->ckpt)
        return -1;
    sqlite3_wal_hook(self->db, wal_hook, self);
    return 0;
}

/* store_open's way out: NULL, with the errno of the failure. */
static store_t *open_failed(store_t **self_p)
{
    int e = errno;
    store_close(self_p);
    errno = e;
    return NULL;
}

store_t *store_open(const char *path, char *err, size_t errlen)
{
    errno = 0;                      /* a failure that sets none is no refusal */
    store_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->lockfd = -1;
    self->cases = rowcache_new(HELD_ROWS, sizeof(store_case_t));
    self->asgs = rowcache_new(HELD_ROWS, sizeof(store_assignment_t));
    self->events = evbuf_new();
    self->rounds = roundcache_new(ROUND_SLOTS);
    if (!self->cases || !self->asgs || !self->events || !self->rounds) {
        snprintf(err, errlen, "out of memory");
        return open_failed(&self);
    }
    /* the files are looked at under the lock: a restore moves them under it */
    if (strcmp(path, ":memory:") != 0 &&
        ((self->lockfd = store_lock(path, err, errlen)) < 0 || restoring(path, err, errlen) ||
         check_header(path, err, errlen)))
        return open_failed(&self);
    sqlite_setup();
    const char *vfs = walbuf_register();
    mode_t old = umask(077);                /* residents' data: owner only */
    int rc = sqlite3_open_v2(path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
    umask(old);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot open: %s", path,
                 self->db ? sqlite3_errmsg(self->db) : "out of memory");
        return open_failed(&self);
    }
    if (progress_fn)
        sqlite3_progress_handler(self->db, STORE_PROGRESS_STEPS, on_progress, NULL);
    if (configure(self, path, err, errlen) || start_checkpointer(self, path, vfs, err, errlen))
        return open_failed(&self);
    sqlite3_busy_timeout(self->db, STORE_BUSY_MS);     /* from now on the loop waits */
    return self;
}

const store_orphans_t *store_orphans(const store_t *self)
{
    return &self->orphans;
}

int store_migrated_from(const store_t *self, int64_t *ms)
{
    *ms = self->migrate_ms;
    return self->migrated_from;
}

bool store_created(const store_t *self)
{
    return self->created;
}

void store_close(store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_t *self = *self_p;
    if (self->in_txn)
        store_rollback(self);
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(self->q[i]);
    checkpointer_destroy(&self->ckpt);
    sqlite3_close(self->db);
    rowcache_destroy(&self->cases);
    rowcache_destroy(&self->asgs);
    evbuf_destroy(&self->events);
    roundcache_destroy(&self->rounds);
    if (self->lockfd >= 0)
        close(self->lockfd);        /* releases the flock */
    free(self);
    *self_p = NULL;
}

/* The WAL starts over only once a checkpoint has copied every frame and a
 * write transaction begins. The thread's checkpoint rarely gets there (the
 * broker commits while it copies), so the writer copies the last few frames
 * itself: a couple of fsyncs, paid between the loop's passes rather than
 * inside the commit whose reply waits; when the loop is never idle, after
 * CKPT_PATIENCE commits all the same. */
int store_maintain(store_t *self, bool idle)
{
    if (!self->ckpt_due || self->in_txn || (!idle && self->ckpt_waited < CKPT_PATIENCE))
        return 0;
    self->ckpt_due = false;
    int rc = sqlite3_wal_checkpoint_v2(self->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return rc == SQLITE_OK || rc == SQLITE_BUSY ? 0 : fail(self, rc);
}

bool store_checkpoint_error(store_t *self, char *buf, size_t len)
{
    return self->ckpt && checkpointer_error(self->ckpt, buf, len);
}

unsigned long store_checkpoints(store_t *self)
{
    unsigned long done = 0, failed = 0;
    if (self->ckpt)
        checkpointer_counts(self->ckpt, &done, &failed);
    return done;
}

unsigned long store_writer_checkpoints(const store_t *self)
{
    return self->writer_checkpoints;
}

int store_checkpoint(store_t *self)
{
    checkpointer_destroy(&self->ckpt);     /* its checkpoint would make this one BUSY */
    /* the loop has stopped, so a short wait for a reader costs no heartbeat
     * and may let the WAL start over; a backup may take minutes, though, and
     * systemd's stop timeout would end the wait with SIGKILL */
    sqlite3_busy_timeout(self->db, STORE_STOP_BUSY_MS);
    int rc = sqlite3_wal_checkpoint_v2(self->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_busy_timeout(self->db, STORE_BUSY_MS);
    return rc == SQLITE_OK ? 0 : fail(self, rc);
}

int64_t store_wal_bytes(const store_t *self)
{
    const char *path = sqlite3_db_filename(self->db, "main");
    char wal[4096];
    struct stat st;
    if (!path || !*path)
        return 0;               /* :memory: */
    snprintf(wal, sizeof wal, "%s-wal", path);
    return stat(wal, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* The stop's checkpoint copied a WAL at 3.7 s a GB on the test host: 1 s
 * per 100 MB leaves room for a slower disk, and 10 s more for the fsyncs and
 * the wait for a reader. */
#define CKPT_MS_PER_100MB 1000
#define CKPT_MARGIN_MS 10000

int64_t store_checkpoint_expect_ms(const store_t *self)
{
    return CKPT_MARGIN_MS + store_wal_bytes(self) / (100000000 / CKPT_MS_PER_100MB);
}

/* ---- statements ------------------------------------------------------ */

/* Run a statement that returns no rows, then reset it. */
static int run(store_t *self, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return fail(self, rc);
    return 0;
}

/* Run a writing statement inside the transaction. */
static int run_write(store_t *self, sqlite3_stmt *st)
{
    if (txn_lost(self)) {       /* the first error stays the one reported */
        sqlite3_clear_bindings(st);
        return -1;
    }
    if (run(self, st))
        return -1;
    self->dirty = true;
    return 0;
}

/* Step a query expected to give at most one row: 1 row, 0 none, -1 error.
 * On 1 the caller reads the columns and then calls done(). */
static int step_one(store_t *self, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 1;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : fail(self, rc);
}

static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_id(sqlite3_stmt *st, int i, uint64_t v)
{
    if (v)
        sqlite3_bind_int64(st, i, (sqlite3_int64)v);
    else
        sqlite3_bind_null(st, i);
}

/* Times are unix ms; 0 means "not yet" and is stored as NULL. */
static void bind_time(sqlite3_stmt *st, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static void bind_enum(sqlite3_stmt *st, int i, const char *const *names, int count, int v)
{
    bind_text(st, i, v >= 0 && v < count ? names[v] : NULL);
}

static void copy_col(char *dst, size_t len, sqlite3_stmt *st, int col)
{
    /* memcpy, not snprintf: this runs for every column of every row read */
    const unsigned char *s = sqlite3_column_text(st, col);
    size_t n = s ? (size_t)sqlite3_column_bytes(st, col) : 0;
    if (n >= len)
        n = len - 1;
    memcpy(dst, s ? (const char *)s : "", n);
    dst[n] = '\0';
}

static int col_enum(sqlite3_stmt *st, int col, const char *const *names, int count)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    int v = s ? msg_enum_from_name(names, count, (const char *)s) : 0;
    return v < 0 ? 0 : v;
}

/* A text column, "" for NULL; valid until the statement moves on. */
static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

/* ---- transactions ---------------------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int store_begin(store_t *self)
{
    if (self->busy_until && mono_ms() < self->busy_until) {
        self->last_rc = SQLITE_BUSY;    /* still held, most likely: no second wait */
        snprintf(self->errmsg, sizeof self->errmsg, "%s", sqlite3_errstr(SQLITE_BUSY));
        return -1;
    }
    self->busy_until = 0;
    walbuf_take_full();         /* a failure reported before is not this one's */
    if (run(self, self->q[Q_BEGIN])) {
        if (store_locked(self))
            self->busy_until = mono_ms() + STORE_BUSY_PAUSE_MS;
        return -1;
    }
    self->in_txn = true;
    self->lost = false;
    self->dirty = false;
    return 0;
}

int store_begin_patient(store_t *self)
{
    self->busy_until = 0;
    sqlite3_busy_timeout(self->db, STORE_OPEN_BUSY_MS);
    int rc = store_begin(self);
    sqlite3_busy_timeout(self->db, STORE_BUSY_MS);
    return rc;
}

int store_commit(store_t *self)
{
    if (txn_lost(self) || write_held(self) || run(self, self->q[Q_COMMIT]))
        return -1;
    roundcache_clear(self->rounds);
    self->in_txn = false;
    self->dirty = false;
    for (int t = 0; t < STORE_IDS_COUNT; t++)
        if (self->floor_used[t])
            self->floor[t] = 0, self->floor_used[t] = false;
    return 0;
}

void store_rollback(store_t *self)
{
    evbuf_clear(self->events);
    roundcache_clear(self->rounds);
    rowcache_clear(self->cases);
    rowcache_clear(self->asgs);
    if (sqlite3_get_autocommit(self->db) == 0)
        run(self, self->q[Q_ROLLBACK]);
    self->in_txn = false;
    self->dirty = false;
    self->lost = false;
    memset(self->floor_used, 0, sizeof self->floor_used);   /* those rows are gone */
}

bool store_dirty(const store_t *self)
{
    return self->dirty;
}

/* ---- rows held until commit (see HELD_ROWS) ------------------------- */

/* Write every held row to the database, and hold none. */
static int write_held(store_t *self)
{
    int rc = write_events(self);
    for (size_t i = 0; rc == 0 && i < rowcache_count(self->cases); i++)
        rc = write_case(self, rowcache_at(self->cases, i));
    for (size_t i = 0; rc == 0 && i < rowcache_count(self->asgs); i++)
        rc = write_assignment(self, rowcache_at(self->asgs, i));
    if (rc == 0) {
        rowcache_clear(self->cases);
        rowcache_clear(self->asgs);
    } else if (self->in_txn && !self->lost) {
        spoil(self);            /* held rows not written, or dropped: never commit without them */
    }
    return rc;
}

static int write_row(store_t *self, rowcache_t *rows, const void *row)
{
    return rows == self->cases ? write_case(self, row) : write_assignment(self, row);
}

/* Hold an updated row until commit (writing what is held first when the
 * cache is full); outside a transaction, write it at once. */
static int hold(store_t *self, rowcache_t *rows, uint64_t id, const void *row)
{
    if (!self->in_txn)
        return write_row(self, rows, row);
    if (txn_lost(self))
        return -1;
    if (rowcache_put(rows, id, row) != 0) {
        if (write_held(self))
            return -1;
        if (rowcache_put(rows, id, row) != 0)
            return write_row(self, rows, row);
    }
    self->dirty = true;
    return 0;
}

/* ---- cases ----------------------------------------------------------- */

int store_case_lookup(store_t *self, const char *channel, const char *external_id, uint64_t *id,
                      char *msg_id)
{
    sqlite3_stmt *st = self->q[Q_CASE_LOOKUP];
    bind_text(st, 1, channel);
    bind_text(st, 2, external_id);
    int rc = step_one(self, st);
    if (rc == 1) {
        *id = (uint64_t)sqlite3_column_int64(st, 0);
        copy_col(msg_id, 65, st, 1);
        done(st);
    }
    return rc;
}

int store_case_insert(store_t *self, const msg_case_t *rec, const char *msg_id, store_case_t *meta)
{
    sqlite3_stmt *st = insert_stmt(self, Q_CASE_INSERT, STORE_IDS_CASES, 24);
    const char *texts[] = {rec->channel, rec->external_id, rec->service_code, rec->description,
                           rec->grid_code, meta->street, meta->community};
    for (int i = 0; i < 7; i++)
        bind_text(st, i + 1, texts[i]);
    bind_enum(st, 8, msg_priority_names, PRIO_COUNT, rec->priority);
    if (MSG_HAS(rec, CF_LAT))
        sqlite3_bind_double(st, 9, rec->lat);
    if (MSG_HAS(rec, CF_LONG))
        sqlite3_bind_double(st, 10, rec->lon);
    const char *opt[] = {rec->address_string, rec->first_name, rec->last_name, rec->phone,
                         rec->email, rec->media_url, rec->requested_datetime};
    int bits[] = {CF_ADDRESS_STRING, CF_FIRST_NAME, CF_LAST_NAME, CF_PHONE, CF_EMAIL,
                  CF_MEDIA_URL, CF_REQUESTED_DATETIME};
    for (int i = 0; i < 7; i++)
        bind_text(st, 11 + i, MSG_HAS(rec, bits[i]) ? opt[i] : NULL);
    bind_text(st, 18, meta->lead);
    bind_enum(st, 19, msg_state_names, STATE_COUNT, meta->state);
    sqlite3_bind_int64(st, 20, meta->received_at);
    bind_time(st, 21, meta->contact_due);
    bind_time(st, 22, meta->resolve_due);
    bind_text(st, 23, msg_id);
    if (run_write(self, st))
        return -1;
    floor_passed(self, STORE_IDS_CASES);
    meta->id = (uint64_t)sqlite3_last_insert_rowid(self->db);
    return 0;
}

int store_case_get(store_t *self, uint64_t id, store_case_t *c)
{
    const store_case_t *held = rowcache_get(self->cases, id);
    if (held) {
        *c = *held;
        return 1;
    }
    sqlite3_stmt *st = self->q[Q_CASE_GET];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
    int rc = step_one(self, st);
    if (rc != 1)
        return rc;
    memset(c, 0, sizeof *c);
    c->id = (uint64_t)sqlite3_column_int64(st, 0);
    copy_col(c->lead, sizeof c->lead, st, 1);
    copy_col(c->grid_code, sizeof c->grid_code, st, 2);
    copy_col(c->street, sizeof c->street, st, 3);
    copy_col(c->community, sizeof c->community, st, 4);
    copy_col(c->service_code, sizeof c->service_code, st, 5);
    c->priority = (msg_priority_t)col_enum(st, 6, msg_priority_names, PRIO_COUNT);
    c->state = (msg_state_t)col_enum(st, 7, msg_state_names, STATE_COUNT);
    int64_t *times[] = {&c->received_at, &c->contact_due, &c->resolve_due, &c->contacted_at,
                        &c->resolved_at, &c->closed_at};
    for (int i = 0; i < 6; i++)
        *times[i] = sqlite3_column_int64(st, 8 + i);
    c->rating = (msg_rating_t)col_enum(st, 14, msg_rating_names, RATING_COUNT);
    c->redo_count = sqlite3_column_int(st, 15);
    c->contact_level = sqlite3_column_int(st, 16);
    c->resolve_level = sqlite3_column_int(st, 17);
    done(st);
    return 1;
}

int store_round_keep(store_t *self, const store_case_t *c)
{
    sqlite3_stmt *st = self->q[Q_ROUND_KEEP];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)c->id);
    sqlite3_bind_int(st, 2, c->redo_count);
    bind_time(st, 3, c->contact_due);
    bind_time(st, 4, c->resolve_due);
    bind_time(st, 5, c->contacted_at);
    bind_time(st, 6, c->resolved_at);
    return run_write(self, st);
}

int store_case_update(store_t *self, const store_case_t *c)
{
    return hold(self, self->cases, c->id, c);
}

static int write_case(store_t *self, const store_case_t *c)
{
    sqlite3_stmt *st = self->q[Q_CASE_UPDATE];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)c->id);
    bind_enum(st, 2, msg_state_names, STATE_COUNT, c->state);
    bind_time(st, 3, c->contacted_at);
    bind_time(st, 4, c->resolved_at);
    bind_time(st, 5, c->closed_at);
    bind_enum(st, 6, msg_rating_names, RATING_COUNT, c->rating);
    sqlite3_bind_int(st, 7, c->redo_count);
    bind_text(st, 8, c->lead);
    bind_time(st, 9, c->contact_due);
    bind_time(st, 10, c->resolve_due);
    sqlite3_bind_int(st, 11, c->contact_level);
    sqlite3_bind_int(st, 12, c->resolve_level);
    return run_write(self, st);
}

int store_case_record(store_t *self, uint64_t id, msg_case_t *out)
{
    sqlite3_stmt *st = self->q[Q_CASE_RECORD];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
    int rc = step_one(self, st);
    if (rc != 1)
        return rc;
    memset(out, 0, sizeof *out);
    const char **texts[] = {&out->service_code, &out->description, &out->address_string,
                            &out->first_name, &out->last_name, &out->phone, &out->email,
                            &out->media_url, &out->requested_datetime, &out->external_id,
                            &out->channel, &out->grid_code};
    int bits[] = {CF_SERVICE_CODE, CF_DESCRIPTION, CF_ADDRESS_STRING, CF_FIRST_NAME,
                  CF_LAST_NAME, CF_PHONE, CF_EMAIL, CF_MEDIA_URL, CF_REQUESTED_DATETIME,
                  CF_EXTERNAL_ID, CF_CHANNEL, CF_GRID_CODE};
    /* Copied out so the statement is reset at once: a statement left running
     * would pin an old snapshot, and with it the schema, for good. */
    size_t used = 0;
    for (int i = 0; i < 12; i++) {
        const char *t = (const char *)sqlite3_column_text(st, i);
        size_t len = t ? strlen(t) + 1 : 0;
        if (!t || used + len > sizeof self->record)
            continue;
        memcpy(self->record + used, t, len);
        *texts[i] = self->record + used;
        used += len;
        MSG_SET(out, bits[i]);
    }
    if (sqlite3_column_type(st, 12) != SQLITE_NULL) {
        out->lat = sqlite3_column_double(st, 12);
        MSG_SET(out, CF_LAT);
    }
    if (sqlite3_column_type(st, 13) != SQLITE_NULL) {
        out->lon = sqlite3_column_double(st, 13);
        MSG_SET(out, CF_LONG);
    }
    out->priority = (msg_priority_t)col_enum(st, 14, msg_priority_names, PRIO_COUNT);
    MSG_SET(out, CF_PRIORITY);
    done(st);
    return 1;
}

/* ---- assignments ----------------------------------------------------- */

static void read_assignment(sqlite3_stmt *st, store_assignment_t *a)
{
    memset(a, 0, sizeof *a);
    a->id = (uint64_t)sqlite3_column_int64(st, 0);
    a->case_id = (uint64_t)sqlite3_column_int64(st, 1);
    copy_col(a->department, sizeof a->department, st, 2);
    a->role = (msg_role_t)col_enum(st, 3, msg_role_names, ROLE_COUNT);
    a->state = (msg_state_t)col_enum(st, 4, msg_state_names, STATE_COUNT);
    a->attempt = (uint32_t)sqlite3_column_int(st, 5);
    copy_col(a->worker, sizeof a->worker, st, 6);
    a->created_at = sqlite3_column_int64(st, 7);
    a->updated_at = sqlite3_column_int64(st, 8);
    a->round = sqlite3_column_int(st, 9);
}

int store_assignment_insert(store_t *self, store_assignment_t *a)
{
    sqlite3_stmt *st = insert_stmt(self, Q_ASG_INSERT, STORE_IDS_ASSIGNMENTS, 10);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)a->case_id);
    bind_text(st, 2, a->department);
    bind_enum(st, 3, msg_role_names, ROLE_COUNT, a->role);
    bind_enum(st, 4, msg_state_names, STATE_COUNT, a->state);
    sqlite3_bind_int(st, 5, (int)a->attempt);
    bind_text(st, 6, a->worker[0] ? a->worker : NULL);
    sqlite3_bind_int64(st, 7, a->created_at);
    sqlite3_bind_int64(st, 8, a->updated_at);
    sqlite3_bind_int(st, 9, a->round);
    if (run_write(self, st))
        return -1;
    floor_passed(self, STORE_IDS_ASSIGNMENTS);
    a->id = (uint64_t)sqlite3_last_insert_rowid(self->db);
    roundcache_forget(self->rounds, a->case_id);
    return 0;
}

int store_assignment_get(store_t *self, uint64_t id, store_assignment_t *out)
{
    const store_assignment_t *held = rowcache_get(self->asgs, id);
    if (held) {
        *out = *held;
        return 1;
    }
    sqlite3_stmt *st = self->q[Q_ASG_GET];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
    int rc = step_one(self, st);
    if (rc == 1) {
        read_assignment(st, out);
        done(st);
    }
    return rc;
}

int store_assignment_update(store_t *self, const store_assignment_t *a)
{
    return hold(self, self->asgs, a->id, a);
}

static int write_assignment(store_t *self, const store_assignment_t *a)
{
    sqlite3_stmt *st = self->q[Q_ASG_UPDATE];
    roundcache_forget(self->rounds, a->case_id);    /* its round's rows change now */
    sqlite3_bind_int64(st, 1, (sqlite3_int64)a->id);
    bind_enum(st, 2, msg_state_names, STATE_COUNT, a->state);
    sqlite3_bind_int(st, 3, (int)a->attempt);
    bind_text(st, 4, a->worker[0] ? a->worker : NULL);
    sqlite3_bind_int64(st, 5, a->updated_at);
    return run_write(self, st);
}

/* The held rows in place of the database's among out[0..n): n. */
static int overlay_held(store_t *self, store_assignment_t *out, int n)
{
    for (int i = 0; i < n; i++) {
        const store_assignment_t *held = rowcache_get(self->asgs, out[i].id);
        if (held)
            out[i] = *held;
    }
    return n;
}

int store_round_assignments(store_t *self, uint64_t case_id, int round, store_assignment_t *out,
                            int max)
{
    int n = self->in_txn ? roundcache_get(self->rounds, case_id, round, out, max) : -1;
    if (n >= 0)
        return overlay_held(self, out, n);
    sqlite3_stmt *st = self->q[Q_ASG_OF_CASE];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)case_id);
    sqlite3_bind_int(st, 2, round);
    int rc;
    n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < max)
        read_assignment(st, &out[n++]);
    done(st);
    if (rc == SQLITE_ROW) {
        /* a round keeps about one share per department: this is no case of
         * ours, and a state derived from part of it would be wrong */
        self->last_rc = SQLITE_INTERNAL;
        snprintf(self->errmsg, sizeof self->errmsg,
                 "case %" PRIu64 " has more than %d live assignments in round %d", case_id, max,
                 round);
        return -1;
    }
    if (rc != SQLITE_DONE)
        return fail(self, rc);
    if (self->in_txn)
        roundcache_put(self->rounds, case_id, round, out, n);
    return overlay_held(self, out, n);
}

int store_open_assignments(store_t *self, void (*fn)(void *arg, const store_assignment_t *a),
                           void *arg)
{
    if (write_held(self))
        return -1;
    sqlite3_stmt *st = self->q[Q_ASG_OPEN];
    store_assignment_t a;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        read_assignment(st, &a);
        fn(arg, &a);
    }
    done(st);
    return rc == SQLITE_DONE ? 0 : fail(self, rc);
}

/* ---- audit trail and applied messages -------------------------------- */

/* Bind e to the EVENT_COLUMNS parameters after the first `at` of st. */
static void bind_event(sqlite3_stmt *st, int at, const store_event_t *e)
{
    sqlite3_bind_int64(st, at + 1, (sqlite3_int64)e->case_id);
    bind_id(st, at + 2, e->assignment_id);
    sqlite3_bind_int64(st, at + 3, e->at);
    bind_text(st, at + 4, e->kind);
    bind_text(st, at + 5, e->department);
    bind_text(st, at + 6, e->actor ? e->actor : "broker");
    bind_enum(st, at + 7, msg_state_names, STATE_COUNT, e->from);
    bind_enum(st, at + 8, msg_state_names, STATE_COUNT, e->to);
    bind_text(st, at + 9, e->detail);
}

static int write_event(store_t *self, const store_event_t *e)
{
    bind_event(self->q[Q_EVENT_ADD], 0, e);
    return run_write(self, self->q[Q_EVENT_ADD]);
}

/* Write the held events: a full buffer in one statement, else one by one. */
static int write_events(store_t *self)
{
    size_t n = evbuf_count(self->events);
    int rc = 0;
    if (n == EVBUF_BATCH) {
        sqlite3_stmt *st = self->q[Q_EVENT_ADD_BATCH];
        for (size_t i = 0; i < n; i++)
            bind_event(st, (int)i * EVENT_COLUMNS, evbuf_at(self->events, i));
        rc = run_write(self, st);
    }
    for (size_t i = 0; n < EVBUF_BATCH && rc == 0 && i < n; i++)
        rc = write_event(self, evbuf_at(self->events, i));
    evbuf_clear(self->events);
    return rc;
}

int store_event_add(store_t *self, const store_event_t *e)
{
    if (!self->in_txn)
        return write_event(self, e);
    if (txn_lost(self))
        return -1;
    if (evbuf_add(self->events, e) != 0) {     /* full: write what it holds */
        if (write_events(self))
            return -1;
        if (evbuf_add(self->events, e) != 0)   /* longer than the buffer holds */
            return write_event(self, e);
    }
    self->dirty = true;
    return 0;
}

int store_applied_find(store_t *self, const char *scope, const char *msg_id, store_applied_t *out)
{
    sqlite3_stmt *st = self->q[Q_APPLIED_FIND];
    bind_text(st, 1, scope);
    bind_text(st, 2, msg_id);
    int rc = step_one(self, st);
    if (rc != 1)
        return rc;
    memset(out, 0, sizeof *out);
    const unsigned char *kind = sqlite3_column_text(st, 0);
    out->cmd = kind ? msg_cmd_from_name((const char *)kind, strlen((const char *)kind)) : MSG_NONE;
    out->case_id = (uint64_t)sqlite3_column_int64(st, 1);
    out->assignment_id = (uint64_t)sqlite3_column_int64(st, 2);
    out->state = (msg_state_t)col_enum(st, 3, msg_state_names, STATE_COUNT);
    out->at = sqlite3_column_int64(st, 4);
    done(st);
    return 1;
}

int store_applied_add(store_t *self, const store_applied_t *a)
{
    sqlite3_stmt *st = self->q[Q_APPLIED_ADD];
    bind_text(st, 1, a->scope);
    bind_text(st, 2, a->msg_id);
    bind_text(st, 3, msg_cmd_name(a->cmd));
    sqlite3_bind_int64(st, 4, (sqlite3_int64)a->case_id);
    bind_id(st, 5, a->assignment_id);
    bind_enum(st, 6, msg_state_names, STATE_COUNT, a->state);
    sqlite3_bind_int64(st, 7, a->at);
    const char *texts[] = {a->worker, a->result, a->summary, a->reason, a->note};
    for (int i = 0; i < 5; i++)
        bind_text(st, 8 + i, texts[i]);
    bool was_dirty = self->dirty;
    if (run_write(self, st))
        return -1;
    if (sqlite3_changes(self->db) != 1) {
        self->dirty = was_dirty;    /* a claim that found its msg_id taken wrote nothing */
        return 1;
    }
    return 0;
}

/* ---- deadlines ------------------------------------------------------- */

int store_open_cases(store_t *self, void (*fn)(void *arg, const store_case_t *c), void *arg)
{
    if (write_held(self))
        return -1;
    sqlite3_stmt *st = self->q[Q_CASE_OPEN];
    store_case_t c;
    int rc;
    memset(&c, 0, sizeof c);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        c.id = (uint64_t)sqlite3_column_int64(st, 0);
        c.state = (msg_state_t)col_enum(st, 1, msg_state_names, STATE_COUNT);
        c.contact_due = sqlite3_column_int64(st, 2);
        c.resolve_due = sqlite3_column_int64(st, 3);
        c.contacted_at = sqlite3_column_int64(st, 4);
        c.resolved_at = sqlite3_column_int64(st, 5);
        c.contact_level = sqlite3_column_int(st, 6);
        c.resolve_level = sqlite3_column_int(st, 7);
        fn(arg, &c);
    }
    done(st);
    return rc == SQLITE_DONE ? 0 : fail(self, rc);
}

int store_escalation_add(store_t *self, store_escalation_t *e)
{
    sqlite3_stmt *st = insert_stmt(self, Q_ESC_ADD, STORE_IDS_ESCALATIONS, 12);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)e->case_id);
    sqlite3_bind_int(st, 2, e->round);
    bind_enum(st, 3, msg_ladder_names, LADDER_COUNT, e->ladder);
    sqlite3_bind_int(st, 4, e->level);
    bind_text(st, 5, e->target);
    bind_text(st, 6, e->department);
    sqlite3_bind_int64(st, 7, e->due_at);
    sqlite3_bind_int64(st, 8, e->fired_at);
    sqlite3_bind_int64(st, 9, e->overdue_s);
    bind_text(st, 10, e->notify && *e->notify ? e->notify : NULL);
    sqlite3_bind_int64(st, 11, e->offset_ms);
    if (run_write(self, st))
        return -1;
    floor_passed(self, STORE_IDS_ESCALATIONS);
    if (sqlite3_changes(self->db) != 1)
        return 0;
    e->id = (uint64_t)sqlite3_last_insert_rowid(self->db);
    return 1;
}

int store_escalation_notified(store_t *self, uint64_t id, int64_t at)
{
    sqlite3_stmt *st = self->q[Q_ESC_NOTIFIED];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
    sqlite3_bind_int64(st, 2, at);
    if (run_write(self, st))
        return -1;
    return sqlite3_changes(self->db) > 0;
}

int store_escalation_retarget(store_t *self, uint64_t id, const char *dept)
{
    sqlite3_stmt *st = self->q[Q_ESC_RETARGET];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
    sqlite3_bind_text(st, 2, dept, -1, SQLITE_STATIC);
    return run_write(self, st);
}

int store_unnotified_escalations(store_t *self, void (*fn)(void *arg, const store_notice_t *n),
                                 void *arg)
{
    if (write_held(self))
        return -1;
    sqlite3_stmt *st = self->q[Q_ESC_UNNOTIFIED];
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_notice_t n = {
            .id = (uint64_t)sqlite3_column_int64(st, 0),
            .case_id = (uint64_t)sqlite3_column_int64(st, 1),
            .level = sqlite3_column_int(st, 2),
            .ladder = (msg_ladder_t)col_enum(st, 3, msg_ladder_names, LADDER_COUNT),
            .target = col_text(st, 4), .notify = col_text(st, 5),
            .due_at = sqlite3_column_int64(st, 6), .overdue_s = sqlite3_column_int64(st, 7),
            .lead = col_text(st, 8), .grid = col_text(st, 9), .street = col_text(st, 10),
            .community = col_text(st, 11),
        };
        fn(arg, &n);
    }
    done(st);
    return rc == SQLITE_DONE ? 0 : fail(self, rc);
}

/* ---- the ladders the fired-level counts refer to ------------------- */

int store_rungs_get(store_t *self, msg_ladder_t ladder, store_rung_t *out, int max)
{
    if (write_held(self))
        return -1;
    sqlite3_stmt *st = self->q[Q_RUNGS_GET];
    bind_enum(st, 1, msg_ladder_names, LADDER_COUNT, ladder);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < max) {
        out[n].offset_ms = sqlite3_column_int64(st, 0);
        copy_col(out[n].target, sizeof out[n].target, st, 1);
        n++;
    }
    done(st);
    if (rc == SQLITE_ROW) {
        snprintf(self->errmsg, sizeof self->errmsg, "more than %d %s ladder rungs saved", max,
                 msg_ladder_names[ladder]);
        return -1;
    }
    return rc == SQLITE_DONE ? n : fail(self, rc);
}

/* Move the counts of one ladder; the number of open cases moved, or -1.
 * A count past the old ladder's end (a database that outlived a shorter
 * ladder) moves as its last rung does. */
static int move_levels(store_t *self, msg_ladder_t ladder, const int *map, int nmap)
{
    sqlite3_stmt *st = self->q[ladder == LADDER_CONTACT ? Q_CONTACT_MOVE : Q_RESOLVE_MOVE];
    int moved = 0;
    for (int old = 1; old < nmap; old++) {
        bool last = old == nmap - 1;
        if (map[old] == old && !last)
            continue;
        sqlite3_bind_int(st, 1, old);
        sqlite3_bind_int(st, 2, last ? INT_MAX : old);
        sqlite3_bind_int(st, 3, map[old]);
        if (run_write(self, st))
            return -1;
        moved += sqlite3_changes(self->db);
    }
    return moved;
}

/* Run statement q with (ladder, level, offset, target) bound. */
static int run_rung(store_t *self, int q, msg_ladder_t ladder, int level, const store_rung_t *r)
{
    sqlite3_stmt *st = self->q[q];
    bind_enum(st, 1, msg_ladder_names, LADDER_COUNT, ladder);
    sqlite3_bind_int(st, 2, level);
    sqlite3_bind_int64(st, 3, r->offset_ms);
    bind_text(st, 4, r->target);
    return run_write(self, st);
}

int store_rungs_set(store_t *self, msg_ladder_t ladder, const store_rung_t *rungs, int n,
                    const int *map, int nmap)
{
    if (write_held(self))
        return -1;
    sqlite3_stmt *st = self->q[Q_RUNGS_CLEAR];
    bind_enum(st, 1, msg_ladder_names, LADDER_COUNT, ladder);
    if (run_write(self, st))
        return -1;
    /* none saved before: the counts and the escalations on record were made
     * under these rungs, so rows without an offset take theirs */
    bool adopt = nmap <= 1;
    for (int i = 0; i < n; i++)
        if (run_rung(self, Q_RUNGS_ADD, ladder, i + 1, &rungs[i]) ||
            (adopt && run_rung(self, Q_ESC_ADOPT, ladder, i + 1, &rungs[i])))
            return -1;
    int moved = move_levels(self, ladder, map, nmap);
    if (moved < 0 || run_write(self, self->q[Q_LEVELS_SETTLE]))
        return -1;
    return moved;
}

int store_counts(store_t *self, int64_t now, uint64_t *open, uint64_t *overdue)
{
    if (write_held(self))
        return -1;
    sqlite3_stmt *st = self->q[Q_COUNTS];
    sqlite3_bind_int64(st, 1, now);
    int rc = step_one(self, st);
    if (rc != 1)
        return rc < 0 ? -1 : 0;
    *open = (uint64_t)sqlite3_column_int64(st, 0);
    *overdue = (uint64_t)sqlite3_column_int64(st, 1);
    done(st);
    return 0;
}
