/*
 * route.h - where a case goes: its service code names the lead and
 * co-handling departments (config [routes], else the default route to the
 * manual dispatch centre), and its grid code names its street and community.
 * Pure: config in, decision out.
 */
#ifndef MQ_ROUTE_H
#define MQ_ROUTE_H

#include "config.h"

typedef struct {
    int depts[1 + CONFIG_MAX_ROUTE_DEPTS];  /* [0] is the lead */
    int ndepts;
    char street[65], community[65];         /* codes: "CG01", "CG01-XH02" */
} route_t;

/* Route a case. Never fails: unknown codes take the default route. */
void route_case(const config_t *cfg, const char *service_code, const char *grid_code,
                route_t *out);
/* Split a grid code "S-C-G" into its street "S" and community "S-C" codes. */
void route_grid_places(const char *grid_code, char street[65], char community[65]);

#endif
