/*
 * cases.h - a case for the unit tests that need one in a real store (after
 * <cmocka.h>): the fields SUBMIT requires, a fresh external_id each time, and
 * the row fields the broker keeps (lead department, street, community,
 * state, times).
 */
#ifndef MQ_TEST_CASES_H
#define MQ_TEST_CASES_H

#include "store.h"

#include <stdio.h>

/* Insert a case led by `lead`, in `state`, inside the caller's transaction;
 * its id. A failure fails the test. */
static inline uint64_t cases_insert(store_t *st, const char *lead, msg_state_t state)
{
    static int serial;
    char ext[32], sub[32];
    snprintf(ext, sizeof ext, "T-%d", ++serial);
    snprintf(sub, sizeof sub, "submit-%d", serial);
    msg_case_t r = {.service_code = "water.leak", .description = "水管爆裂，楼道积水",
                    .requested_datetime = "2024-05-01T08:30:00+08:00", .external_id = ext,
                    .channel = "hotline", .grid_code = "CG01-XH02-G0031"};
    int bits[] = {CF_SERVICE_CODE, CF_DESCRIPTION, CF_REQUESTED_DATETIME, CF_EXTERNAL_ID,
                  CF_CHANNEL, CF_GRID_CODE};
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
        MSG_SET(&r, bits[i]);
    store_case_t c = {.street = "CG01", .community = "CG01-XH02", .state = state,
                      .received_at = 1000, .contact_due = 2000, .resolve_due = 9000};
    snprintf(c.lead, sizeof c.lead, "%s", lead);
    if (store_case_insert(st, &r, sub, &c) != 0)
        fail_msg("case insert: %s", store_errmsg(st));
    return c.id;
}

#endif
