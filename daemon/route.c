/*
 * route.c - routing of a case to departments and to its place in the grid.
 *
 * A grid code is <street>-<community>-<grid> (the codec checks the shape), so
 * the street and community fall out of the code itself: no lookup table has
 * to be kept in step with the grid workers' registry.
 */
#include "route.h"

#include <stdio.h>
#include <string.h>

void route_grid_places(const char *grid_code, char street[65], char community[65])
{
    const char *d1 = strchr(grid_code, '-');
    const char *d2 = d1 ? strchr(d1 + 1, '-') : NULL;
    int ls = d1 ? (int)(d1 - grid_code) : (int)strlen(grid_code);
    int lc = d2 ? (int)(d2 - grid_code) : (int)strlen(grid_code);
    snprintf(street, 65, "%.*s", ls, grid_code);
    snprintf(community, 65, "%.*s", lc, grid_code);
}

void route_case(const config_t *cfg, const char *service_code, const char *grid_code,
                route_t *out)
{
    const config_route_t *r = config_route(cfg, service_code);
    out->ndepts = 0;
    out->depts[out->ndepts++] = r->lead;
    for (int i = 0; i < r->nco; i++)
        out->depts[out->ndepts++] = r->co[i];
    route_grid_places(grid_code, out->street, out->community);
}
