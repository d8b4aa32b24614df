/*
 * testconf.h - the [broker] section the unit tests' configs begin with:
 * endpoints and a database path that are never opened (the tests hand the
 * modules a store of their own), and `dispatch` as the manual department,
 * which each config then lists under [departments].
 */
#ifndef MQ_TEST_TESTCONF_H
#define MQ_TEST_TESTCONF_H

#define TESTCONF_BROKER                                 \
    "[broker]\n"                                        \
    "intake = ipc:///tmp/x/intake.sock\n"               \
    "workers = ipc:///tmp/x/workers.sock\n"             \
    "events = ipc:///tmp/x/events.sock\n"               \
    "database = /tmp/x/minqing.db\n"                    \
    "manual_department = dispatch\n"

#endif
