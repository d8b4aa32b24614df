/*
 * msg.h - the data model of protocol v1: commands, enums, error codes and the
 * one struct that every command decodes into.
 *
 * One flat struct rather than a union per command: the codec is table-driven
 * (codec.c), so a field such as `case_id` has one home whatever the command,
 * and `present` says which fields a decoded message carried. proto/PROTOCOL.md
 * is the normative text; names here are the wire names.
 */
#ifndef MQ_MSG_H
#define MQ_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MSG_SIGNATURE     "MINQING/1"   /* frame 1: protocol signature + version */
#define MSG_MAX_BODY      65536         /* bytes in the msgpack body frame */
#define MSG_MAX_DEPTH     8             /* nesting of unknown values we skip */
#define MSG_MAX_KEYS      64            /* entries in any one map */
#define MSG_MAX_ATTEMPT   1000000       /* DISPATCH attempt: the count stops there */
#define MSG_NOTE_CHARS    1000          /* an outcome's note, in characters */
#define MSG_SUMMARY_CHARS 2000          /* a RESOLVED's summary, in characters */

typedef enum {
    MSG_NONE = 0,
    /* intake client -> broker */
    MSG_SUBMIT, MSG_FEEDBACK, MSG_CLOSE, MSG_REASSIGN, MSG_CANCEL,
    /* broker -> intake client */
    MSG_SUBMIT_OK,
    /* worker <-> broker */
    MSG_REGISTER, MSG_HEARTBEAT, MSG_DISCONNECT, MSG_DISPATCH, MSG_ACCEPT,
    MSG_CONTACTED, MSG_PROGRESS, MSG_RESOLVED, MSG_RETURNED, MSG_ESCALATE,
    /* either way */
    MSG_ACK, MSG_ERROR,
    /* broker -> event subscribers (PUB), after a topic frame */
    MSG_EVENT,
    /* admin client -> broker: a historical case, migrated from an older system */
    MSG_IMPORT,
    MSG_CMD_COUNT
} msg_cmd_t;

/* Error codes carried by ERROR. 1xx: the message itself is bad; 2xx: it is well
 * formed but not acceptable now; 3xx: refused by policy; 5xx: broker-side
 * trouble, retry later with the same msg_id. */
typedef enum {
    MSG_OK = 0,
    ERR_MALFORMED = 100,        /* frame count, signature, not msgpack, truncated */
    ERR_BAD_VERSION = 101,      /* signature frame is not MINQING/1 */
    ERR_UNKNOWN_COMMAND = 102,
    ERR_MISSING_FIELD = 103,
    ERR_WRONG_TYPE = 104,
    ERR_TOO_LONG = 105,         /* string, map or array over its limit */
    ERR_INVALID_UTF8 = 106,
    ERR_INVALID_VALUE = 107,    /* out of range, unknown enum, bad format */
    ERR_TOO_LARGE = 108,        /* body frame over MSG_MAX_BODY */
    ERR_DUPLICATE_KEY = 109,
    ERR_TRAILING_BYTES = 110,
    ERR_TOO_DEEP = 111,
    ERR_NOT_REGISTERED = 200,
    ERR_UNKNOWN_CASE = 201,
    ERR_UNKNOWN_ASSIGNMENT = 202,
    ERR_ILLEGAL_TRANSITION = 203,
    ERR_UNKNOWN_DEPARTMENT = 204,
    ERR_NOT_YOUR_ASSIGNMENT = 205,
    ERR_FORBIDDEN = 300,
    ERR_RATE_LIMITED = 301,
    ERR_TOO_MANY_IN_FLIGHT = 302,
    ERR_STORE_FAILED = 500,
    ERR_STORE_FULL = 501,
    ERR_SHUTTING_DOWN = 503
} msg_err_t;

typedef enum { PRIO_NORMAL = 0, PRIO_LOW, PRIO_HIGH, PRIO_URGENT, PRIO_COUNT } msg_priority_t;
typedef enum { RATING_NONE = 0, RATING_SATISFIED, RATING_BASICALLY_SATISFIED,
               RATING_UNSATISFIED, RATING_COUNT } msg_rating_t;
typedef enum { RETURN_NONE = 0, RETURN_WRONG_DEPARTMENT, RETURN_WRONG_LOCALITY,
               RETURN_DUPLICATE, RETURN_INSUFFICIENT_INFO, RETURN_OTHER,
               RETURN_COUNT } msg_return_t;
typedef enum { CANCEL_NONE = 0, CANCEL_DUPLICATE, CANCEL_INVALID, CANCEL_OTHER,
               CANCEL_COUNT } msg_cancel_t;
typedef enum { ROLE_NONE = 0, ROLE_LEAD, ROLE_CO, ROLE_COUNT } msg_role_t;
typedef enum { LADDER_NONE = 0, LADDER_CONTACT, LADDER_RESOLVE, LADDER_COUNT } msg_ladder_t;
typedef enum { STATE_NONE = 0, STATE_RECEIVED, STATE_DISPATCHED, STATE_ACCEPTED,
               STATE_CONTACTED, STATE_RESOLVED, STATE_CLOSED, STATE_RETURNED,
               STATE_CANCELLED, STATE_COUNT } msg_state_t;

/* The case record (Open311 GeoReport v2 names where one exists). */
typedef struct {
    const char *service_code, *description, *address_string;
    const char *first_name, *last_name, *phone, *email, *media_url;
    const char *requested_datetime, *external_id, *channel, *grid_code;
    double lat, lon;                /* wire names "lat", "long" */
    msg_priority_t priority;
    uint64_t present;               /* bit per case field, see codec.h */
} msg_case_t;

/* One decoded (or to-be-encoded) message. Strings are NUL-terminated; after a
 * decode they live in the codec's arena until the next decode. */
typedef struct {
    msg_cmd_t cmd;
    uint64_t present;               /* bit per top-level field, see codec.h */
    const char *msg_id, *re;
    uint64_t case_id, assignment_id, escalation_id;
    const char *department, *worker, *note, *result, *summary, *comment;
    const char *reason_text, *target, *grid_code, *community, *street;
    const char *kind, *actor;       /* EVENT: "contacted", "worker:water-1" */
    uint32_t capacity, heartbeat_ms, code, level, attempt;
    int64_t received_at, contact_due, resolve_due, due_at, overdue_s, at;
    int64_t contacted_at, resolved_at, closed_at;   /* IMPORT: the case's history */
    bool duplicate;
    msg_rating_t rating;
    msg_return_t return_reason;
    msg_cancel_t cancel_reason;
    msg_role_t role;
    msg_ladder_t ladder;
    msg_state_t state;
    msg_case_t kase;                /* wire name "case" */
} msg_t;

/* Bits of msg_t.present and msg_case_t.present: which fields a message carried. */
typedef enum {
    MF_MSG_ID, MF_RE, MF_CASE_ID, MF_ASSIGNMENT_ID, MF_ESCALATION_ID,
    MF_DEPARTMENT, MF_WORKER, MF_NOTE, MF_RESULT, MF_SUMMARY, MF_COMMENT,
    MF_REASON_TEXT, MF_TARGET, MF_GRID_CODE, MF_COMMUNITY, MF_STREET,
    MF_CAPACITY, MF_HEARTBEAT_MS, MF_CODE, MF_LEVEL, MF_ATTEMPT,
    MF_RECEIVED_AT, MF_CONTACT_DUE, MF_RESOLVE_DUE, MF_DUE_AT, MF_OVERDUE_S,
    MF_DUPLICATE, MF_RATING, MF_RETURN_REASON, MF_CANCEL_REASON, MF_ROLE,
    MF_LADDER, MF_STATE, MF_CASE, MF_KIND, MF_AT, MF_ACTOR,
    MF_CONTACTED_AT, MF_RESOLVED_AT, MF_CLOSED_AT,
    MF_COUNT
} msg_field_t;

typedef enum {
    CF_SERVICE_CODE, CF_DESCRIPTION, CF_ADDRESS_STRING, CF_FIRST_NAME,
    CF_LAST_NAME, CF_PHONE, CF_EMAIL, CF_MEDIA_URL, CF_REQUESTED_DATETIME,
    CF_EXTERNAL_ID, CF_CHANNEL, CF_GRID_CODE, CF_LAT, CF_LONG, CF_PRIORITY,
    CF_COUNT
} msg_case_field_t;

#define MSG_HAS(m, f)   (((m)->present >> (f)) & 1u)
#define MSG_SET(m, f)   ((m)->present |= (uint64_t)1 << (f))

/* Wire names of the enums, indexed by value; index 0 of the optional ones is NULL. */
extern const char *const msg_priority_names[PRIO_COUNT];
extern const char *const msg_rating_names[RATING_COUNT];
extern const char *const msg_return_names[RETURN_COUNT];
extern const char *const msg_cancel_names[CANCEL_COUNT];
extern const char *const msg_role_names[ROLE_COUNT];
extern const char *const msg_ladder_names[LADDER_COUNT];
extern const char *const msg_state_names[STATE_COUNT];

/* Wire name of a command, or NULL when out of range. */
const char *msg_cmd_name(msg_cmd_t cmd);
/* Command for a wire name of `len` bytes, or MSG_NONE. */
msg_cmd_t msg_cmd_from_name(const char *name, size_t len);
/* Symbolic name of an error code ("MISSING_FIELD"), or "UNKNOWN". */
const char *msg_err_name(msg_err_t code);
/* Index of `name` in a names table of `count` entries, or -1 when absent. */
int msg_enum_from_name(const char *const *names, int count, const char *name);
/* Wire name of a state ("contacted"), or "?" when out of range. */
const char *msg_state_name(msg_state_t s);
/* Clear a message to all-absent, ready to fill and encode. */
void msg_reset(msg_t *msg, msg_cmd_t cmd);

#endif
