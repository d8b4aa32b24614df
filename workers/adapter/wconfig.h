/*
 * wconfig.h - minqing-worker's configuration: its options, given on the
 * command line or as the keys of an INI file (-c), the command line winning.
 * Every option is also a file key, so that a systemd unit can run one
 * adapter per department from a file of its own.
 */
#ifndef ADAPTER_WCONFIG_H
#define ADAPTER_WCONFIG_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    char *endpoint, *department, *exec, *name;
    char *server_cert, *cert;               /* CURVE: both or neither */
    long concurrency, capacity, retries;    /* capacity: the concurrency unless given */
    int64_t timeout_ms;
    bool on_failure_return;
    int log_level;
} wconfig_t;

/* A configuration with the defaults (concurrency 1, retries 2, timeout 300 s,
 * level info); NULL when out of memory. */
wconfig_t *wconfig_new(void);
/* Free it and its strings; *self becomes NULL. */
void wconfig_destroy(wconfig_t **self);
/* Fill it from argv and the file -c names. 0; -1 when --help asks for the
 * usage text; 2 on a usage or configuration error, described in *error
 * (malloc'd, for the caller to print and free; NULL when out of memory). */
int wconfig_parse(wconfig_t *self, int argc, char **argv, char **error);
/* The --help text. */
const char *wconfig_usage(void);

#endif
