/*
 * config.h - the broker's configuration: endpoints, database, departments,
 * routes (service_code -> lead + co-handling departments), grid naming, and
 * worker liveness. Read from an INI file with inih; every error names the
 * file and line. A config is immutable once loaded: reload builds a new one
 * and swaps it in whole, so a bad file never leaves a half-applied config.
 */
#ifndef MQ_CONFIG_H
#define MQ_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_PATH "/etc/minqing/minqing.conf"
#define CONFIG_MAX_ROUTE_DEPTS 8

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

typedef struct {
    char *path;                 /* the file it came from */
    /* [broker] */
    char *intake_endpoint, *worker_endpoint, *events_endpoint;
    char *database;
    int64_t heartbeat_ms;       /* heartbeat = 1s */
    int liveness;               /* heartbeats missed before a peer is dead */
    int64_t auto_close_ms;      /* auto_close = 0 (off) or a duration */
    int manual_dept;            /* index of manual_department */
    /* [departments], [routes], [streets], [communities] */
    config_dept_t *depts;
    size_t ndepts;
    config_route_t *routes;
    size_t nroutes;
    int default_route;          /* index into routes of "default" */
    config_place_t *streets, *communities;
    size_t nstreets, ncommunities;
} config_t;

/* Load and validate FILE. NULL on error, with every problem ("FILE:LINE: what")
 * appended to errbuf, one per line. */
config_t *config_load(const char *path, char *errbuf, size_t errlen);
/* Load from a string; `name` stands for the file name in messages. */
config_t *config_load_string(const char *text, const char *name, char *errbuf, size_t errlen);
/* Free a config and set *self_p to NULL. */
void config_destroy(config_t **self_p);
/* Index of the department with this id, or -1. */
int config_dept_find(const config_t *self, const char *id);
/* The route for a service code: its own, else the default route. */
const config_route_t *config_route(const config_t *self, const char *service_code);
/* Parse a duration with a unit ("250ms", "2s", "30m", "4h", "3d") into ms; -1 if bad. */
int64_t config_parse_duration(const char *text);
/* Display name of a street or community code, or the code itself when unnamed. */
const char *config_street_name(const config_t *self, const char *code);
const char *config_community_name(const config_t *self, const char *code);

#endif
