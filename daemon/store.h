/*
 * store.h - the only code that speaks SQL: schema and migrations, prepared
 * statements, and the one write transaction the broker keeps open per pass of
 * its loop (group commit). Knows nothing of ZeroMQ.
 *
 * Durability: WAL journal with synchronous=FULL, so a COMMIT has reached the
 * disk (fsync of the WAL) before store_commit returns; the broker acknowledges
 * nothing before that. Speed comes from putting many messages in one commit.
 */
#ifndef MQ_STORE_H
#define MQ_STORE_H

#include "msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sqlite3 sqlite3;     /* as sqlite3.h declares it (C11 allows both) */

#define STORE_SCHEMA_VERSION 6

/* The tables whose ids leave the broker (case ids go to residents,
 * assignment ids to workers, escalation ids to supervisors), and their id
 * floors: after a restore (minqing restore) a table's next id is above its
 * floor, so that no id the replaced database gave out names another row. */
typedef enum {
    STORE_IDS_CASES, STORE_IDS_ASSIGNMENTS, STORE_IDS_ESCALATIONS, STORE_IDS_COUNT
} store_ids_t;
extern const char *const store_id_tables[STORE_IDS_COUNT];
/* "<database>.restoring": minqing restore is replacing the database, or
 * was interrupted doing it (it holds what it has moved); the broker does not
 * start beside it. */
#define STORE_RESTORING ".restoring"
#define STORE_ID_FLOORS_DDL                                                         \
    "CREATE TABLE IF NOT EXISTS id_floors (name TEXT PRIMARY KEY,"                  \
    " floor INTEGER NOT NULL) WITHOUT ROWID"

/* How long a statement waits for a lock another process holds (an sqlite3
 * shell in a transaction) before it fails with SQLITE_BUSY (store_locked):
 * store_open, whose integrity check and migrations run before anything is
 * served, waits long; the running broker's loop, which serves nothing while
 * it waits, briefly. After a BEGIN found the lock held, store_begin fails at
 * once for STORE_BUSY_PAUSE_MS: a pass of 500 messages does not wait 500 times. */
#define STORE_OPEN_BUSY_MS 5000
#define STORE_BUSY_MS 100
#define STORE_BUSY_PAUSE_MS 1000
/* The stop's checkpoint waits this long for a reader (a minqing backup, which
 * may take minutes) before it leaves the WAL for the next start to replay. */
#define STORE_STOP_BUSY_MS 1000

typedef struct store_t store_t;

/* The case row without its record (what the state machine needs). */
typedef struct {
    uint64_t id;
    char lead[33];
    char grid_code[65], street[65], community[65];
    char service_code[65];
    msg_priority_t priority;
    msg_state_t state;
    int64_t received_at, contact_due, resolve_due;
    int64_t contacted_at, resolved_at, closed_at;     /* 0 when not yet */
    msg_rating_t rating;
    int redo_count;
    int contact_level, resolve_level;   /* escalation levels fired this round */
} store_case_t;

/* One fired escalation rung. */
typedef struct {
    uint64_t id;                        /* set by store_escalation_add */
    uint64_t case_id;
    int round, level;
    msg_ladder_t ladder;
    const char *target, *department;
    const char *notify;                 /* department told by ESCALATE; NULL or "": none */
    int64_t due_at, fired_at, overdue_s;
    int64_t offset_ms;                  /* the rung's, from due_at: with target, its identity */
} store_escalation_t;

/* A ladder rung as the database keeps it (the ladders table). */
typedef struct {
    int64_t offset_ms;
    char target[65];
} store_rung_t;

/* A fired escalation whose ESCALATE no worker has acknowledged yet; the
 * strings live until the callback returns. */
typedef struct {
    uint64_t id, case_id;
    int level;
    msg_ladder_t ladder;
    const char *target, *notify;
    int64_t due_at, overdue_s;
    const char *lead, *grid, *street, *community;    /* of its case */
} store_notice_t;

typedef struct {
    uint64_t id, case_id;
    char department[33];
    msg_role_t role;
    msg_state_t state;          /* STATE_RECEIVED means waiting for a worker */
    uint32_t attempt;
    int round;                  /* the case's redo_count when it was created */
    char worker[65];
    int64_t created_at, updated_at;
} store_assignment_t;

typedef struct {
    uint64_t case_id, assignment_id;    /* assignment_id 0 when none */
    int64_t at;
    const char *kind, *department, *actor, *detail;   /* may be NULL */
    msg_state_t from, to;               /* STATE_NONE when not a transition */
} store_event_t;

/* An applied outcome or request: what the broker answered, for a repeat. */
typedef struct {
    const char *scope, *msg_id;         /* scope: department, or "intake"/"admin" */
    msg_cmd_t cmd;
    uint64_t case_id, assignment_id;
    msg_state_t state;
    int64_t at;
    const char *worker, *result, *summary, *reason, *note;
} store_applied_t;

/* Open (creating or migrating) the database at path. NULL on error, with the
 * reason in err; errno EUCLEAN when the file itself is refused (damaged, not a
 * database, another program's, a future schema, an unfinished restore), which
 * no retry mends. */
store_t *store_open(const char *path, char *err, size_t errlen);
/* -1, with why in err, when the database file at path is missing or empty
 * while its -wal is not: SQLite would delete that -wal, the only copy of
 * its last commits, at the first read; nothing may open it (store_open
 * refuses, and so must any reader). 0 otherwise. Opens nothing. */
int store_check_wal(const char *path, char *err, size_t errlen);
/* The first of minqing's tables of schema v that db lacks in *missing (NULL
 * when it has them all): a user_version is any program's to set. -1 when
 * the schema cannot be read. */
int store_missing_table(sqlite3 *db, int v, const char **missing);
/* The SQL that takes the schema from version v to v + 1 (0 <= v <
 * STORE_SCHEMA_VERSION): tests build an older broker's database with it. */
const char *store_migration(int v);

/* A row a migration copied though the row its REFERENCES names is not there
 * (a case deleted in the sqlite3 shell, where foreign keys are off). */
typedef struct {
    char table[64], parent[64];         /* "escalations", "cases" */
    int64_t rowid;
} store_orphan_t;
#define STORE_ORPHANS_SHOWN 5
typedef struct {
    uint64_t count;                             /* 0: none */
    store_orphan_t first[STORE_ORPHANS_SHOWN];  /* the first min(count, SHOWN) */
} store_orphans_t;
/* The orphan rows the migrations of store_open found in the tables they
 * rebuilt: kept as they are, for the caller to log (an older broker ran with
 * them; refusing to start over them would stop the hotline's dispatch). */
const store_orphans_t *store_orphans(const store_t *self);
/* True when store_open found no database (the file missing or empty) and
 * created a new one: the caller logs store.created, as a wrong path or a
 * lost file would look the same. */
bool store_created(const store_t *self);
/* The schema version store_open found and migrated from, and how long the
 * migration took (ms); 0 when it found none to migrate (new or current). */
int store_migrated_from(const store_t *self, int64_t *ms);
/* fn(arg, 0) is called now and then (every STORE_PROGRESS_STEPS SQLite
 * steps) while a statement of a store opened after this call runs: the
 * migrations in store_open, a reload's large UPDATEs, the scans at start; and
 * fn(arg, ms) before a step that may run up to ms without a call (the
 * integrity check reads the whole file in one go). It must be quick. NULL:
 * none. One per process (the broker's). */
void store_set_progress(void (*fn)(void *arg, int64_t expect_ms), void *arg);
#define STORE_PROGRESS_STEPS 100000
/* Take "<path>.lock", which one broker holds per database: its descriptor
 * (the lock lasts until it is closed), or -1 with the reason in err. */
int store_lock(const char *path, char *err, size_t errlen);
/* The id floors still above their table's ids (0: none), for the log at
 * start; true when there is one. */
bool store_id_floors(const store_t *self, int64_t floors[STORE_IDS_COUNT]);
/* Close the database (rolling back an open transaction); *self_p = NULL. */
void store_close(store_t **self_p);
/* Begin, commit, roll back the write transaction (store_begin: see
 * STORE_BUSY_PAUSE_MS). */
int store_begin(store_t *self);
/* Begin, waiting for another process's write lock as long as the open does
 * (STORE_OPEN_BUSY_MS): for the ladders saved at start and at a reload,
 * which would otherwise fail on a lock a moment's wait would see go. */
int store_begin_patient(store_t *self);
int store_commit(store_t *self);
void store_rollback(store_t *self);
/* True while a transaction holds writes not yet committed. */
bool store_dirty(const store_t *self);
/* Protocol error code for the last failure: ERR_STORE_FULL or ERR_STORE_FAILED. */
msg_err_t store_errcode(const store_t *self);
/* True when the last failure was a lock another process holds (SQLITE_BUSY);
 * store_errcode is then ERR_STORE_FAILED, a 500 the client retries. */
bool store_locked(const store_t *self);
/* SQLite's message for the last failure. */
const char *store_errmsg(const store_t *self);
/* Checkpoint the WAL into the main file and truncate it (on clean shutdown:
 * the background checkpoints stop). 0, or -1 (store_errmsg) when it could not
 * finish: store_locked() when a reader held on past STORE_STOP_BUSY_MS. The
 * WAL then keeps what was not copied, and the next open replays it. */
int store_checkpoint(store_t *self);
/* The WAL file's size in bytes (0 when there is none, or for :memory:). */
int64_t store_wal_bytes(const store_t *self);
/* How long store_checkpoint may take, from the WAL's size (see
 * CKPT_MS_PER_100MB in store.c). */
int64_t store_checkpoint_expect_ms(const store_t *self);
/* Between transactions: finish the WAL checkpoint the background thread
 * left (a few fsyncs); `idle`: nothing waits, else only once it has waited
 * a while. 0, or -1 (store_errmsg). */
int store_maintain(store_t *self, bool idle);
/* True, with SQLite's message in buf, when a background checkpoint failed
 * since the last call (the WAL then grows until one succeeds). */
bool store_checkpoint_error(store_t *self, char *buf, size_t len);
/* Background checkpoints completed so far. */
unsigned long store_checkpoints(store_t *self);
/* Checkpoints a commit made itself past the WAL's hard limit, because the
 * background ones failed: each stops the loop while the WAL is copied. */
unsigned long store_writer_checkpoints(const store_t *self);

/* Id of the case with this (channel, external_id), and the msg_id of the
 * SUBMIT that created it (into msg_id, >= 65 bytes): 1 found, 0 not, -1 error. */
int store_case_lookup(store_t *self, const char *channel, const char *external_id, uint64_t *id,
                      char *msg_id);
/* Insert a case: the record plus the row fields in meta; meta->id is set.
 * msg_id is the SUBMIT's, kept to tell a resend from a duplicate report. */
int store_case_insert(store_t *self, const msg_case_t *rec, const char *msg_id, store_case_t *meta);
/* Read a case row: 1 found, 0 not, -1 error. */
int store_case_get(store_t *self, uint64_t id, store_case_t *out);
/* Write back state, times, due times, levels, rating and redo count of a case row. */
int store_case_update(store_t *self, const store_case_t *c);
/* Keep the deadlines and the contact and resolution times of the case's
 * current round (c->redo_count), before a redo replaces them in the row. */
int store_round_keep(store_t *self, const store_case_t *c);
/* Read the full record of a case for DISPATCH; its strings live in the store
 * and stay valid until the next call. 1 found, 0 not, -1 error. */
int store_case_record(store_t *self, uint64_t id, msg_case_t *out);

/* Insert an assignment; a->id is set. */
int store_assignment_insert(store_t *self, store_assignment_t *a);
/* Read one assignment: 1 found, 0 not, -1 error. */
int store_assignment_get(store_t *self, uint64_t id, store_assignment_t *out);
/* Write back state, attempt, worker and updated_at. */
int store_assignment_update(store_t *self, const store_assignment_t *a);
/* The assignments of a case's round that are not returned or cancelled (those
 * that decide its state), in id order; how many, or -1 (also past max). */
int store_round_assignments(store_t *self, uint64_t case_id, int round, store_assignment_t *out,
                            int max);
/* Call fn for every assignment not resolved, returned or cancelled, in id order. */
int store_open_assignments(store_t *self, void (*fn)(void *arg, const store_assignment_t *a),
                           void *arg);

/* Call fn for every case not closed or cancelled (id, state, due times,
 * contacted_at, resolved_at and levels filled), in id order. */
int store_open_cases(store_t *self, void (*fn)(void *arg, const store_case_t *c), void *arg);
/* Record a fired escalation: 1 recorded, 0 that rung (offset and target) had
 * fired already for the case's round (nothing written), -1 error. */
int store_escalation_add(store_t *self, store_escalation_t *e);
/* A worker acknowledged escalation id's ESCALATE at `at`: 1 recorded; 0
 * nothing written, as it was acknowledged before (the first time stands);
 * -1 error. Which department may acknowledge it is the broker's to check. */
int store_escalation_notified(store_t *self, uint64_t id, int64_t at);
/* In the transaction: escalation id's notice, not yet acknowledged, now goes
 * to department dept (its own left the config). 0, or -1. */
int store_escalation_retarget(store_t *self, uint64_t id, const char *dept);
/* Call fn for every escalation with a notice not yet acknowledged, oldest
 * first (after a restart they are sent again); 0, or -1. */
int store_unnotified_escalations(store_t *self, void (*fn)(void *arg, const store_notice_t *n),
                                 void *arg);
/* The rungs of a ladder that the cases' fired-level counts refer to, into out
 * (at most max): their number (0: none saved yet), or -1. */
int store_rungs_get(store_t *self, msg_ladder_t ladder, store_rung_t *out, int max);
/* In the transaction: save a ladder's n rungs, and move every open case's
 * count of that ladder from k to map[k], for 0 < k < nmap (a count past
 * nmap - 1 as nmap - 1). With nmap <= 1 (none saved before) an open case's
 * escalations from before schema 4 take the offset of the rung with their
 * level and target. Open cases moved, or -1. */
int store_rungs_set(store_t *self, msg_ladder_t ladder, const store_rung_t *rungs, int n,
                    const int *map, int nmap);

/* Open cases (not resolved, closed or cancelled: a resolved case waits only
 * for the resident's rating) and those of them past a deadline at `now`
 * (contact not made, or not resolved), the cases `minqing list --overdue`
 * lists. 0 or -1. */
int store_counts(store_t *self, int64_t now, uint64_t *open, uint64_t *overdue);

/* Append to the audit trail. */
int store_event_add(store_t *self, const store_event_t *e);
/* Find an applied message by (scope, msg_id): 1 found (out filled; its strings
 * are NULL), 0 not, -1 error. */
int store_applied_find(store_t *self, const char *scope, const char *msg_id, store_applied_t *out);
/* Record an applied message (an outcome or an admin/intake request): 0
 * recorded, 1 its (scope, msg_id) was recorded before (nothing written), -1 error. */
int store_applied_add(store_t *self, const store_applied_t *a);

#endif
