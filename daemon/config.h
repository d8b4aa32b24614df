/*
 * config.h - the broker's configuration: endpoints, database, departments,
 * routes (service_code -> lead + co-handling departments), grid naming, and
 * worker liveness. Read from an INI file with inih; every error names the
 * file and line. A config is immutable once loaded: reload builds a new one
 * and swaps it in whole, so a bad file never leaves a half-applied config.
 */
#ifndef MQ_CONFIG_H
#define MQ_CONFIG_H

#include "calendar.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CONFIG_DEFAULT_PATH "/etc/minqing/minqing.conf"
#define CONFIG_MAX_ROUTE_DEPTS 8
#define CONFIG_BROKER_KEYS 16     /* room for the [broker] keys' lines */

typedef struct {
    char *id;                   /* token, e.g. "water" */
    char *name;                 /* display name, e.g. "水务局" */
} config_dept_t;

typedef struct {
    char *service_code;         /* "water.leak"; "default" for the fallback */
    int lead;                   /* index into departments */
    int co[CONFIG_MAX_ROUTE_DEPTS];
    int nco;
} config_route_t;

typedef struct {
    char *code;                 /* "CG01" (street) or "CG01-XH02" (community) */
    char *name;                 /* "城关街道" */
} config_place_t;

/* A duration as the config states it: wall-clock time, or time counted in
 * the work calendar. */
typedef enum { DUR_WALL, DUR_WORKDAYS, DUR_WORKHOURS } config_dur_kind_t;

typedef struct {
    config_dur_kind_t kind;
    int64_t amount;             /* WALL: ms; WORKDAYS: days; WORKHOURS: ms of working time */
} config_dur_t;

/* One deadline rule of [deadlines]: the most specific match wins
 * (service code and priority > service code > priority > default). */
typedef struct {
    char *service_code;         /* NULL: any */
    int priority;               /* msg_priority_t, or -1: any */
    int ladder;                 /* msg_ladder_t: LADDER_CONTACT or LADDER_RESOLVE */
    config_dur_t dur;
} config_deadline_t;

/* Rungs of a ladder at most, as on the wire (level 1..16). */
#define CONFIG_MAX_LEVELS 16

/* One rung of an escalation ladder ([ladder.contact], [ladder.resolve]). */
typedef struct {
    int64_t offset_ms;          /* from the deadline; negative: a reminder (催办) */
    char *target;               /* "community", "street", "county", ... */
    int dept;                   /* department whose workers get ESCALATE, or -1 ([targets]) */
} config_level_t;

/* [local_users]: what a Unix user's processes may do on ipc:// endpoints. */
typedef enum { CONFIG_LOCAL_ADMIN, CONFIG_LOCAL_INTAKE, CONFIG_LOCAL_WORKER } config_local_role_t;

typedef struct {
    uid_t uid;
    char *user;                 /* its name, or the number when the host has none */
    config_local_role_t role;
    int dept;                   /* CONFIG_LOCAL_WORKER: index into departments */
} config_local_user_t;

typedef struct {
    char *path;                 /* the file it came from */
    /* [broker] */
    char *intake_endpoint, *worker_endpoint, *events_endpoint;
    char *database;
    int64_t heartbeat_ms;       /* heartbeat = 1s */
    int liveness;               /* heartbeats missed before a peer is dead */
    int64_t auto_close_ms;      /* auto_close = 0 (off) or a duration */
    int manual_dept;            /* index of manual_department */
    char *server_cert;          /* zcert file of the broker's CURVE keypair (secret in FILE_secret) */
    char *keys_dir;             /* allowlists: DIR/intake, DIR/admin, DIR/workers/<dept> */
    int allow_plain_tcp;        /* tcp:// without CURVE, loudly */
    int intake_rate;            /* messages a second per intake key (ipc://: per connection) */
    int64_t accept_within_ms;   /* accept_within = 10m: worker.unaccepted (stall.h); 0 = off */
    int broker_line[CONFIG_BROKER_KEYS];    /* where each key was set: config_key_line */
    /* [departments], [routes], [streets], [communities] */
    config_dept_t *depts;
    size_t ndepts;
    config_route_t *routes;
    size_t nroutes;
    int default_route;          /* index into routes of "default" */
    config_place_t *streets, *communities;
    size_t nstreets, ncommunities;
    /* [deadlines], [calendar], [ladder.contact], [ladder.resolve], [targets] */
    config_deadline_t *deadlines;
    size_t ndeadlines;
    calendar_t calendar;
    config_level_t *ladders[3];         /* indexed by msg_ladder_t; levels in order */
    size_t nlevels[3];
    /* [local_users]: with the section, ipc:// peers are held to their Unix
     * user's role (root and the broker's own user: admin); without, every
     * local peer may do anything */
    bool local_users_on;
    config_local_user_t *local_users;
    size_t nlocal_users;
    /* "FILE:LINE: what\n" for each thing allowed that looks like a mistake (a
     * ladder target not in [targets]); NULL if none. Shown, never refused. */
    char *warnings;
} config_t;

/* Load and validate FILE. NULL on error, with every problem ("FILE:LINE: what")
 * appended to errbuf, one per line. */
config_t *config_load(const char *path, char *errbuf, size_t errlen);
/* Load from a string; `name` stands for the file name in messages. */
config_t *config_load_string(const char *text, const char *name, char *errbuf, size_t errlen);
/* Free a config and set *self_p to NULL. */
void config_destroy(config_t **self_p);
/* Give fresh the running config's values of what applies only at a restart
 * (endpoints, database, server_cert, allow_plain_tcp), so that the config a
 * reload installs says what the broker runs on; fresh's own go to running. */
void config_keep_restart_keys(config_t *fresh, config_t *running);
/* The department [targets] names for a ladder rung's target ("street"), or -1. */
int config_target_dept(const config_t *self, const char *target);
/* The line of the file where [broker] key KEY was set; 0 if it was not. */
int config_key_line(const config_t *self, const char *key);
/* Index of the department with this id, or -1. */
int config_dept_find(const config_t *self, const char *id);
/* The route for a service code: its own, else the default route. */
const config_route_t *config_route(const config_t *self, const char *service_code);
/* Parse a duration with a unit ("250ms", "2s", "30m", "4h", "3d") into ms; -1 if bad. */
int64_t config_parse_duration(const char *text);
/* Parse a deadline duration: the units above, or "5wd" (working days) or
 * "8wh" (working hours); 0 on success, -1 if bad. */
int config_parse_dur(const char *text, config_dur_t *out);
/* The deadline rule for a case: ladder LADDER_CONTACT or LADDER_RESOLVE;
 * NULL when none applies (then that ladder does not run for the case). */
const config_dur_t *config_deadline(const config_t *self, int ladder, const char *service_code,
                                    int priority);
/* Display name of a street or community code, or the code itself when unnamed. */
const char *config_street_name(const config_t *self, const char *code);
const char *config_community_name(const config_t *self, const char *code);

#endif
