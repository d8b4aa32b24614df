/*
 * session.h - the broker's table of live worker sessions: who is connected
 * (by ZeroMQ routing id), for which department, with how much credit, and
 * when it was last heard from. Sessions live in memory only: after a restart
 * every worker must register again, which the broker asks for by answering
 * unknown peers with DISCONNECT.
 */
#ifndef MQ_SESSION_H
#define MQ_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t id[256];            /* ZeroMQ routing id */
    size_t idlen;
    int dept;                   /* index into config departments */
    uint32_t capacity, inflight;
    int64_t registered_at;      /* monotonic ms */
    int64_t heartbeat_ms;       /* the interval it was told at REGISTER (a reload keeps it) */
    int64_t last_recv, last_send;
    char name[80];              /* label for logs and the audit trail */
    char key[48];               /* its CURVE public key (Z85), "" on ipc:// */
    /* for stall.h: what it holds and has not taken up (dispatch_census):
     * how many, the oldest and since when; whether that was reported, and
     * when the report last ended */
    uint32_t unaccepted;
    uint64_t oldest_asg;
    int64_t oldest_at;
    bool late;
    int64_t late_ended;
} session_t;

typedef struct sessions_t sessions_t;

/* Create an empty table; NULL when out of memory. */
sessions_t *sessions_new(void);
/* Free the table and every session; *self_p = NULL. */
void sessions_destroy(sessions_t **self_p);
/* The session with this routing id, or NULL. */
session_t *sessions_find(sessions_t *self, const void *id, size_t len);
/* Add a session for this routing id (zeroed but for the id); NULL when out of memory. */
session_t *sessions_add(sessions_t *self, const void *id, size_t len);
/* Remove and free a session. */
void sessions_remove(sessions_t *self, session_t *s);
/* Number of sessions, and the i-th, for iteration (removal reorders). */
size_t sessions_count(const sessions_t *self);
session_t *sessions_at(sessions_t *self, size_t i);
/* The session of dept with the most free credit, registered after `after`
 * (use INT64_MIN for any); NULL when none has credit. */
session_t *sessions_best(sessions_t *self, int dept, int64_t after);
/* Live sessions of a department. */
size_t sessions_of_dept(const sessions_t *self, int dept);

#endif
