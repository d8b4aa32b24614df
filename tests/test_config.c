/*
 * test_config.c - the configuration loader: the demo config loads, lookups
 * work, and every kind of mistake is refused with "FILE:LINE: what", all of
 * them at once. Run from the repository root (examples/minqing.conf and
 * examples/holidays.txt).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "msg.h"

#define MIN_MS (60 * 1000)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS (24 * (int64_t)HOUR_MS)

/* A small valid config; the error tests change one line or append some. */
#define VALID                                   \
    "[broker]\n"                        /*  1 */ \
    "intake = ipc://var/i.sock\n"       /*  2 */ \
    "workers = ipc://var/w.sock\n"      /*  3 */ \
    "events = ipc://var/e.sock\n"       /*  4 */ \
    "database = var/t.db\n"             /*  5 */ \
    "manual_department = dispatch\n"    /*  6 */ \
    "[departments]\n"                   /*  7 */ \
    "dispatch = 派单中心\n"              /*  8 */ \
    "water = 水务局\n"                   /*  9 */ \
    "urban = 城管局\n"                   /* 10 */ \
    "[routes]\n"                        /* 11 */ \
    "default = dispatch\n"              /* 12 */

static char err[4096];

/* base with its first `from` replaced by `to`; the caller frees it. */
static char *replaced_in(const char *base, const char *from, const char *to)
{
    const char *at = strstr(base, from);
    assert_non_null(at);
    size_t head = (size_t)(at - base), flen = strlen(from), tlen = strlen(to);
    char *s = malloc(strlen(base) - flen + tlen + 1);
    assert_non_null(s);
    memcpy(s, base, head);
    memcpy(s + head, to, tlen);
    strcpy(s + head + tlen, at + flen);
    return s;
}

/* VALID with its first `from` replaced by `to`; the caller frees it. */
static char *replaced(const char *from, const char *to)
{
    return replaced_in(VALID, from, to);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

/* `text` is refused, and the errors say `want`. */
static void refused(const char *text, const char *want)
{
    config_t *cfg = config_load_string(text, "t.conf", err, sizeof err);
    if (cfg) {
        config_destroy(&cfg);
        fail_msg("accepted, but wanted \"%s\"", want);
    }
    assert_contains(err, want);
}

/* base with `from` replaced by `to` is refused, and the errors say `want`. */
static void refused_replaced_in(const char *base, const char *from, const char *to,
                                const char *want)
{
    char *text = replaced_in(base, from, to);
    refused(text, want);
    free(text);
}

static void refused_replaced(const char *from, const char *to, const char *want)
{
    refused_replaced_in(VALID, from, to, want);
}

static config_t *accepted(const char *text)
{
    config_t *cfg = config_load_string(text, "t.conf", err, sizeof err);
    if (!cfg)
        fail_msg("refused:\n%s", err);
    assert_string_equal(err, "");
    return cfg;
}

/* base with `from` replaced by `to` loads without a word. */
static void accepted_replaced_in(const char *base, const char *from, const char *to)
{
    char *text = replaced_in(base, from, to);
    config_t *cfg = accepted(text);
    config_destroy(&cfg);
    free(text);
}

/* ---- the demo config ---------------------------------------------------- */

static void test_example_loads(void **state)
{
    (void)state;
    config_t *cfg = config_load("examples/minqing.conf", err, sizeof err);
    if (!cfg)
        fail_msg("examples/minqing.conf refused:\n%s", err);
    assert_string_equal(cfg->path, "examples/minqing.conf");
    assert_string_equal(cfg->intake_endpoint, "ipc://var/intake.sock");
    assert_string_equal(cfg->worker_endpoint, "ipc://var/workers.sock");
    assert_string_equal(cfg->events_endpoint, "ipc://var/events.sock");
    assert_string_equal(cfg->database, "var/minqing.db");
    assert_int_equal(cfg->heartbeat_ms, 1000);
    assert_int_equal(cfg->liveness, 3);
    assert_int_equal(cfg->auto_close_ms, 0);
    assert_int_equal(cfg->ndepts, 18);
    assert_int_equal(cfg->nroutes, 27);
    assert_int_equal(cfg->nstreets, 2);
    assert_int_equal(cfg->ncommunities, 3);
    assert_int_equal(cfg->manual_dept, config_dept_find(cfg, "dispatch"));
    assert_string_equal(cfg->depts[cfg->manual_dept].name, "12345派单中心");
    assert_string_equal(cfg->depts[config_dept_find(cfg, "justice")].name, "司法局");
    assert_string_equal(cfg->routes[cfg->default_route].service_code, "default");
    assert_null(cfg->warnings);     /* the example starts without a config.warning */
    config_destroy(&cfg);
    assert_null(cfg);
}

static void test_example_routes(void **state)
{
    (void)state;
    config_t *cfg = config_load("examples/minqing.conf", err, sizeof err);
    assert_non_null(cfg);
    const config_route_t *r = config_route(cfg, "road.pothole");
    assert_string_equal(r->service_code, "road.pothole");
    assert_string_equal(cfg->depts[r->lead].id, "urban");
    assert_int_equal(r->nco, 1);
    assert_string_equal(cfg->depts[r->co[0]].id, "traffic");

    r = config_route(cfg, "water.leak");
    assert_string_equal(cfg->depts[r->lead].id, "water");
    assert_int_equal(r->nco, 0);

    r = config_route(cfg, "pollution.river");
    assert_int_equal(r->nco, 2);
    assert_string_equal(cfg->depts[r->co[1]].id, "agriculture");

    r = config_route(cfg, "no.such.code");
    assert_ptr_equal(r, &cfg->routes[cfg->default_route]);
    assert_string_equal(r->service_code, "default");
    assert_string_equal(cfg->depts[r->lead].id, "dispatch");
    assert_ptr_equal(config_route(cfg, NULL), r);
    assert_int_equal(config_dept_find(cfg, "nobody"), -1);
    config_destroy(&cfg);
}

static void test_example_places(void **state)
{
    (void)state;
    config_t *cfg = config_load("examples/minqing.conf", err, sizeof err);
    assert_non_null(cfg);
    assert_string_equal(config_street_name(cfg, "CG01"), "城关街道");
    assert_string_equal(config_community_name(cfg, "CG01-XH02"), "西湖社区");
    assert_string_equal(config_community_name(cfg, "DG02-QS01"), "桥山社区");
    const char *unnamed = "ZZ09";
    assert_ptr_equal(config_street_name(cfg, unnamed), unnamed);
    assert_string_equal(config_community_name(cfg, "CG01"), "CG01");  /* a street is no community */
    config_destroy(&cfg);
}

static void assert_dur(const config_dur_t *d, config_dur_kind_t kind, int64_t amount)
{
    assert_non_null(d);
    assert_int_equal(d->kind, kind);
    assert_int_equal(d->amount, amount);
}

static void assert_level(const config_t *cfg, int ladder, size_t i, int64_t offset_ms,
                         const char *target, const char *dept)
{
    assert_true(i < cfg->nlevels[ladder]);
    const config_level_t *lv = &cfg->ladders[ladder][i];
    assert_int_equal(lv->offset_ms, offset_ms);
    assert_string_equal(lv->target, target);
    if (dept)
        assert_int_equal(lv->dept, config_dept_find(cfg, dept));
    else
        assert_int_equal(lv->dept, -1);
}

static void test_example_deadlines_and_calendar(void **state)
{
    (void)state;
    config_t *cfg = config_load("examples/minqing.conf", err, sizeof err);
    if (!cfg)
        fail_msg("examples/minqing.conf refused:\n%s", err);
    assert_int_equal(cfg->ndeadlines, 21);
    assert_string_equal(cfg->depts[config_dept_find(cfg, "supervision")].name, "督办中心");
    assert_dur(config_deadline(cfg, LADDER_CONTACT, "road.pothole", PRIO_NORMAL), DUR_WALL, 30 * MIN_MS);
    assert_dur(config_deadline(cfg, LADDER_CONTACT, "road.pothole", PRIO_URGENT), DUR_WALL, 10 * MIN_MS);
    assert_dur(config_deadline(cfg, LADDER_CONTACT, "gas.smell", PRIO_NORMAL), DUR_WALL, 10 * MIN_MS);
    assert_dur(config_deadline(cfg, LADDER_CONTACT, "gas.smell", PRIO_URGENT), DUR_WALL, 5 * MIN_MS);
    assert_dur(config_deadline(cfg, LADDER_RESOLVE, "road.pothole", PRIO_NORMAL), DUR_WORKDAYS, 5);
    assert_dur(config_deadline(cfg, LADDER_RESOLVE, "road.pothole", PRIO_LOW), DUR_WORKDAYS, 10);
    assert_dur(config_deadline(cfg, LADDER_RESOLVE, "water.leak", PRIO_HIGH), DUR_WALL, 2 * DAY_MS);
    assert_dur(config_deadline(cfg, LADDER_RESOLVE, "water.leak", PRIO_URGENT), DUR_WALL, 4 * HOUR_MS);
    assert_dur(config_deadline(cfg, LADDER_RESOLVE, "noise.construction", PRIO_NORMAL),
               DUR_WORKHOURS, 8 * HOUR_MS);
    /* a code without a route of its own: its cases go the default way, with its deadlines */
    assert_string_equal(config_route(cfg, "water.main.burst")->service_code, "default");
    assert_dur(config_deadline(cfg, LADDER_RESOLVE, "water.main.burst", PRIO_NORMAL), DUR_WALL,
               12 * HOUR_MS);

    assert_int_equal(cfg->calendar.weekdays, 0x3e);             /* mon-fri */
    assert_int_equal(cfg->calendar.nhours, 2);
    assert_int_equal(cfg->calendar.hours[0].start, 8 * 60 + 30);
    assert_int_equal(cfg->calendar.hours[0].end, 12 * 60);
    assert_int_equal(cfg->calendar.hours[1].start, 14 * 60);
    assert_int_equal(cfg->calendar.hours[1].end, 17 * 60 + 30);
    assert_int_equal(cfg->calendar.nholidays, 33);
    assert_int_equal(cfg->calendar.nmakeup, 6);

    assert_null(cfg->ladders[LADDER_NONE]);
    assert_int_equal(cfg->nlevels[LADDER_CONTACT], 3);
    assert_level(cfg, LADDER_CONTACT, 0, 0, "community", "supervision");
    assert_level(cfg, LADDER_CONTACT, 1, 30 * MIN_MS, "street", "supervision");
    assert_level(cfg, LADDER_CONTACT, 2, 2 * HOUR_MS, "county", "supervision");
    assert_int_equal(cfg->nlevels[LADDER_RESOLVE], 4);
    assert_level(cfg, LADDER_RESOLVE, 0, -4 * HOUR_MS, "department", NULL);
    assert_level(cfg, LADDER_RESOLVE, 1, 0, "community", "supervision");
    assert_level(cfg, LADDER_RESOLVE, 2, DAY_MS, "street", "supervision");
    assert_level(cfg, LADDER_RESOLVE, 3, 3 * DAY_MS, "county", "supervision");
    config_destroy(&cfg);
}

/* ---- values ------------------------------------------------------------- */

static void test_durations(void **state)
{
    (void)state;
    assert_int_equal(config_parse_duration("250ms"), 250);
    assert_int_equal(config_parse_duration("2s"), 2000);
    assert_int_equal(config_parse_duration("30m"), 30 * 60 * 1000);
    assert_int_equal(config_parse_duration("4h"), 4 * 3600 * 1000);
    assert_int_equal(config_parse_duration("3d"), 3 * 86400 * 1000);
    assert_int_equal(config_parse_duration("0"), 0);
    assert_int_equal(config_parse_duration("0s"), 0);
    assert_int_equal(config_parse_duration("9223372036854775807ms"), INT64_MAX);
    const char *bad[] = {"", "5", "s", "-1s", "+1s", "1.5s", "2 s", " 2s", "2s ", "2S",
                         "2sec", "1w", "1wd", "0x10s", "9223372036854775807s",
                         "99999999999999999999ms"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (config_parse_duration(bad[i]) != -1)
            fail_msg("duration \"%s\" accepted", bad[i]);
    assert_int_equal(config_parse_duration(NULL), -1);
}

static void test_defaults_and_values(void **state)
{
    (void)state;
    config_t *cfg = accepted(VALID);
    assert_int_equal(cfg->heartbeat_ms, 1000);
    assert_int_equal(cfg->liveness, 3);
    assert_int_equal(cfg->auto_close_ms, 0);
    assert_int_equal(cfg->accept_within_ms, 10 * 60 * 1000);
    assert_string_equal(cfg->path, "t.conf");
    assert_int_equal(cfg->nstreets + cfg->ncommunities, 0);
    assert_string_equal(config_street_name(cfg, "CG01"), "CG01");
    config_destroy(&cfg);

    cfg = accepted(VALID "[broker]\nheartbeat = 250ms\nliveness = 100\nauto_close = 3d\n");
    assert_int_equal(cfg->heartbeat_ms, 250);
    assert_int_equal(cfg->liveness, 100);
    assert_int_equal(cfg->auto_close_ms, 3 * 86400 * 1000);
    config_destroy(&cfg);
    cfg = accepted(VALID "[broker]\naccept_within = 0\n");
    assert_int_equal(cfg->accept_within_ms, 0);
    config_destroy(&cfg);
}

static void test_inline_comments_and_utf8(void **state)
{
    (void)state;
    config_t *cfg = accepted(VALID "[departments]\n"
                                   "civil = 民政局 ; 低保、养老\n"
                                   "odd = a;b\n"
                                   "[streets]\nCG01 = 城关街道   ; trailing comment\n");
    assert_string_equal(cfg->depts[config_dept_find(cfg, "civil")].name, "民政局");
    assert_string_equal(cfg->depts[config_dept_find(cfg, "odd")].name, "a;b");
    assert_string_equal(config_street_name(cfg, "CG01"), "城关街道");
    config_destroy(&cfg);
}

static void test_bom_crlf_and_comments(void **state)
{
    (void)state;
    char text[2048] = "\xEF\xBB\xBF; a comment\r\n# another\r\n\r\n";
    for (const char *s = VALID; *s; s++) {
        size_t n = strlen(text);
        if (*s == '\n')
            text[n++] = '\r';
        text[n++] = *s;
        text[n] = '\0';
    }
    config_t *cfg = accepted(text);
    assert_string_equal(cfg->database, "var/t.db");
    assert_string_equal(cfg->depts[1].name, "水务局");
    config_destroy(&cfg);
}

static void test_routes_before_departments(void **state)
{
    (void)state;
    config_t *cfg = accepted("[routes]\n"
                             "road.pothole = urban, traffic\n"
                             "Water_Leak-2 = water\n"
                             "default = dispatch\n"
                             "[departments]\n"
                             "dispatch = 派单中心\nwater = 水务局\nurban = 城管局\ntraffic = 交警大队\n"
                             "[broker]\n"
                             "intake = tcp://*:5555\n"
                             "workers = tcp://127.0.0.1:5556\n"
                             "events = inproc://events\n"
                             "database = /var/lib/minqing/minqing.db\n"
                             "manual_department = dispatch\n");
    const config_route_t *r = config_route(cfg, "road.pothole");
    assert_string_equal(cfg->depts[r->lead].id, "urban");
    assert_string_equal(cfg->depts[r->co[0]].id, "traffic");
    assert_string_equal(cfg->depts[config_route(cfg, "Water_Leak-2")->lead].id, "water");
    assert_string_equal(cfg->intake_endpoint, "tcp://*:5555");
    config_destroy(&cfg);
}

static void test_route_with_most_co_departments(void **state)
{
    (void)state;
    config_t *cfg = accepted(VALID "[departments]\n"
                                   "a = A\nb = B\nc = C\nd = D\ne = E\nf = F\n"
                                   "[routes]\nbig = dispatch, water, urban, a, b, c, d, e, f\n");
    const config_route_t *r = config_route(cfg, "big");
    assert_int_equal(r->nco, CONFIG_MAX_ROUTE_DEPTS);
    assert_string_equal(cfg->depts[r->co[7]].id, "f");
    config_destroy(&cfg);
}

/* ---- one test per kind of error ----------------------------------------- */

static void test_error_unknown_section(void **state)
{
    (void)state;
    refused(VALID "[nonsense]\nx = 1\n", "t.conf:13: unknown section [nonsense]");
    assert_int_equal(count_lines(err), 1);          /* its keys are not reported too */
    refused(VALID "[Broker]\n", "t.conf:13: unknown section [Broker]");
}

static void test_error_unknown_broker_key(void **state)
{
    (void)state;
    refused(VALID "[broker]\ncolour = red\n", "t.conf:14: unknown key 'colour' in [broker]");
}

static void test_error_bad_duration(void **state)
{
    (void)state;
    refused(VALID "[broker]\nheartbeat = 5x\n", "t.conf:14: bad duration '5x' for heartbeat");
    refused(VALID "[broker]\nheartbeat = 50ms\n", "t.conf:14: bad duration '50ms' for heartbeat");
    refused(VALID "[broker]\nheartbeat = 2m\n", "t.conf:14: bad duration '2m' for heartbeat");
    refused(VALID "[broker]\nauto_close = 1.5h\n", "t.conf:14: bad duration '1.5h' for auto_close");
    /* a resolved case's close time is resolved_at + auto_close: it must not overflow */
    refused(VALID "[broker]\nauto_close = 367d\n", "t.conf:14: bad duration '367d' for auto_close");
    refused(VALID "[broker]\nauto_close = 9223372036854775807ms\n",
            "bad duration '9223372036854775807ms' for auto_close (want 0 for off, or a duration up "
            "to 366d such as 3d)");
    refused(VALID "[broker]\naccept_within = 2d\n", "t.conf:14: bad duration '2d' for "
            "accept_within (want 0 for off, or 1s..1d such as 10m)");
    refused(VALID "[broker]\naccept_within = 500ms\n", "t.conf:14: bad duration '500ms' for "
            "accept_within (want 0 for off, or 1s..1d such as 10m)");
}

static void test_error_bad_number(void **state)
{
    (void)state;
    refused(VALID "[broker]\nliveness = three\n", "t.conf:14: bad number 'three' for liveness");
    refused(VALID "[broker]\nliveness = 0\n", "t.conf:14: bad number '0' for liveness");
    /* a worker heartbeats after heartbeat_ms of silence: at 1 it is already dead */
    refused(VALID "[broker]\nliveness = 1\n", "t.conf:14: bad number '1' for liveness");
    refused(VALID "[broker]\nliveness = 101\n", "t.conf:14: bad number '101' for liveness");
    refused(VALID "[broker]\nliveness = 3x\n", "t.conf:14: bad number '3x' for liveness");
    /* on CURVE the limit is each key's, however many connections it opens */
    refused(VALID "[broker]\nintake_rate = 0\n", "t.conf:14: bad number '0' for intake_rate "
            "(want 1..1000000 messages a second per intake key, or per connection on ipc://)");
}

static void test_error_bad_endpoint(void **state)
{
    (void)state;
    refused_replaced("intake = ipc://var/i.sock", "intake = http://x",
                     "t.conf:2: bad endpoint 'http://x' for intake");
    refused_replaced("workers = ipc://var/w.sock", "workers = tcp://localhost",
                     "t.conf:3: bad endpoint 'tcp://localhost' for workers");
    refused_replaced("workers = ipc://var/w.sock", "workers = tcp://host:70000",
                     "t.conf:3: bad endpoint 'tcp://host:70000' for workers");
    refused_replaced("events = ipc://var/e.sock", "events = ipc://",
                     "t.conf:4: bad endpoint 'ipc://' for events");
    refused_replaced("events = ipc://var/e.sock", "events =",
                     "t.conf:4: bad endpoint '' for events");
    refused_replaced("events = ipc://var/e.sock",
                     "events = ipc://var/a/very/long/path/that/goes/on/and/on/and/on/and/on/"
                     "and/on/and/on/and/on/and/on/and/on/and/on/and/on/for/ever.sock",
                     "t.conf:4: bad endpoint 'ipc://var/a/very/long/path");
    refused_replaced("events = ipc://var/e.sock", "events = ipc://var/i.sock",
                     "t.conf:4: endpoint 'ipc://var/i.sock' for events is already used by intake");
    /* the same address written two ways: the second bind would fail at start */
    char *text = replaced("intake = ipc://var/i.sock", "intake = tcp://*:5555");
    refused_replaced_in(text, "workers = ipc://var/w.sock", "workers = tcp://0.0.0.0:5555",
                        "t.conf:3: endpoint 'tcp://0.0.0.0:5555' for workers is already used "
                        "by intake");
    refused_replaced_in(text, "workers = ipc://var/w.sock", "workers = tcp://127.0.0.1:5555",
                        "t.conf:3: endpoint 'tcp://127.0.0.1:5555' for workers is already used");
    refused_replaced_in(text, "events = ipc://var/e.sock", "events = tcp://localhost:5555",
                        "t.conf:4: endpoint 'tcp://localhost:5555' for events is already used");
    free(text);
    text = replaced("intake = ipc://var/i.sock", "intake = tcp://127.0.0.1:5555");
    accepted_replaced_in(text, "workers = ipc://var/w.sock", "workers = tcp://10.0.0.1:5555");
    accepted_replaced_in(text, "workers = ipc://var/w.sock", "workers = tcp://127.0.0.1:5556");
    free(text);
    text = replaced("intake = ipc://var/i.sock", "intake = tcp://127.0.0.1:*");
    accepted_replaced_in(text, "workers = ipc://var/w.sock", "workers = tcp://*:*");
    free(text);
}

/* server_cert makes a tcp:// endpoint admit only the keys listed under keys:
 * without keys the broker would start and admit nobody. */
static void test_error_curve_without_keys(void **state)
{
    (void)state;
    char *tcp = replaced("intake = ipc://var/i.sock",
                         "intake = tcp://127.0.0.1:5555\nserver_cert = /etc/minqing/server");
    refused(tcp, "t.conf:3: server_cert needs keys = DIR in [broker]: without the key lists "
                 "no client or worker is admitted on a tcp:// endpoint\n");
    assert_int_equal(count_lines(err), 1);
    accepted_replaced_in(tcp, "database = var/t.db", "database = var/t.db\nkeys = /etc/minqing/keys");
    free(tcp);
    /* on ipc:// alone the certificate serves nothing, and nothing is refused */
    accepted_replaced_in(VALID, "database = var/t.db", "database = var/t.db\nserver_cert = x");
}

static void test_error_route_unknown_department(void **state)
{
    (void)state;
    refused(VALID "[routes]\nroad.pothole = urban, traffic\n",
            "t.conf:14: route 'road.pothole': unknown department 'traffic'");
    refused("[routes]\nwater.leak = warter\n" VALID "[departments]\n",
            "t.conf:2: route 'water.leak': unknown department 'warter'");
}

static void test_error_duplicate_department(void **state)
{
    (void)state;
    refused(VALID "[departments]\nwater = 又一个水务局\n",
            "t.conf:14: duplicate department 'water' (first on line 9)");
}

static void test_error_duplicate_route(void **state)
{
    (void)state;
    refused(VALID "[routes]\ndefault = water\n",
            "t.conf:14: duplicate route 'default' (first on line 12)");
}

static void test_error_too_many_co_departments(void **state)
{
    (void)state;
    refused(VALID "[routes]\nbig = a, b, c, d, e, f, g, h, i, j\n",
            "t.conf:14: route 'big' has 9 co-handling departments (at most 8)");
}

static void test_error_department_twice_in_route(void **state)
{
    (void)state;
    refused(VALID "[routes]\nx = water, urban, water\n",
            "t.conf:14: route 'x' names department 'water' twice");
    refused(VALID "[routes]\ny = water, , urban\n", "t.conf:14: route 'y' has an empty department name");
    refused(VALID "[routes]\nz =\n", "t.conf:14: route 'z' names no department");
}

static void test_error_missing_broker_keys(void **state)
{
    (void)state;
    refused_replaced("database = var/t.db\n", "",
                     "t.conf:1: missing required key 'database' in [broker]");
    assert_int_equal(count_lines(err), 1);
    refused_replaced("manual_department = dispatch\n", "",
                     "t.conf:1: missing required key 'manual_department' in [broker]");
    refused("[departments]\nd = D\n[routes]\ndefault = d\n",
            "t.conf: missing required key 'intake' in [broker]");
    assert_contains(err, "t.conf: missing required key 'workers' in [broker]");
    assert_contains(err, "t.conf: missing required key 'events' in [broker]");
    assert_contains(err, "t.conf: missing required key 'database' in [broker]");
    assert_contains(err, "t.conf: missing required key 'manual_department' in [broker]");
    assert_int_equal(count_lines(err), 5);
}

static void test_error_missing_default_route(void **state)
{
    (void)state;
    refused_replaced("default = dispatch", "water.leak = water", "t.conf:11: no default route");
    refused_replaced("[routes]\ndefault = dispatch\n", "", "t.conf: no default route");
}

static void test_error_manual_department_unknown(void **state)
{
    (void)state;
    refused_replaced("manual_department = dispatch", "manual_department = nobody",
                     "t.conf:6: manual_department 'nobody' is not a department");
}

static void test_error_unparsable_lines(void **state)
{
    (void)state;
    refused(VALID "this is not ini\n", "t.conf:13: cannot parse line");
    refused(VALID "[broken\n", "t.conf:13: cannot parse section header");
    /* inih drops what follows ']': a key there would be lost in silence */
    refused(VALID "[ladder.contact] 1 = 0 community\n",
            "t.conf:13: text '1 = 0 community' after the section header [ladder.contact] (put "
            "KEY = VALUE on a line of its own; only a ; comment may follow a header)\n");
    assert_int_equal(count_lines(err), 1);
    refused(VALID "[targets] county = nosuchdept\n", "t.conf:13: text 'county = nosuchdept'");
    refused(VALID "[broker] junk\n", "t.conf:13: text 'junk' after the section header [broker]");
    refused(VALID "[broker]]\n", "t.conf:13: text ']' after the section header [broker]");
    refused(VALID "[nonsense] x = 1\n", "t.conf:13: unknown section [nonsense]\n"
                                        "t.conf:13: text 'x = 1' after");
    config_t *hdr = accepted(VALID "[streets]   ; 街道\n[communities];社区\n[targets] \t\n");
    config_destroy(&hdr);
    refused(VALID "key ; = value\n", "t.conf:13: cannot parse line");
    refused(VALID "[departments]\ncivil = 民政局\n  justice = 司法局\n",
            "t.conf:15: indented line is read as a continuation of 'civil'");
    config_t *cfg = accepted(VALID "[departments]\n  civil = 民政局\n");  /* after a header: a key */
    config_destroy(&cfg);
    refused("x = 1\n" VALID, "t.conf:1: key 'x' is outside any section");
    refused(VALID "= nameless\n", "t.conf:13: missing key before '='");
    refused(VALID "[broker]\nintake = ipc://var/x.sock\n",
            "t.conf:14: duplicate key 'intake' in [broker] (first on line 2)");
}

static void test_error_bad_keys_and_names(void **state)
{
    (void)state;
    refused(VALID "[departments]\nWater = 水务局\n", "t.conf:14: bad department id 'Water'");
    refused(VALID "[departments]\nabcdefghijklmnopqrstuvwxyz0123456 = x\n",
            "t.conf:14: bad department id 'abcdefghijklmnopqrstuvwxyz0123456'");
    /* "-" is "no department" in event topics; "." and ".." would be keys/workers/ and keys/ */
    refused(VALID "[departments]\n- = x\n", "t.conf:14: bad department id '-'");
    refused(VALID "[departments]\n.. = x\n", "t.conf:14: bad department id '..'");
    refused(VALID "[departments]\n.water = x\n", "t.conf:14: bad department id '.water'");
    refused(VALID "[departments]\nnameless =\n", "t.conf:14: department 'nameless' has no display name");
    refused(VALID "[departments]\nbroken = \xE6\xB0\n", "t.conf:14: department 'broken' has a display name that is not valid UTF-8");
    refused(VALID "[routes]\nwater/leak = water\n", "t.conf:14: bad service code 'water/leak'");
    refused(VALID "[streets]\nCG-01 = 城关\n", "t.conf:14: bad street code 'CG-01'");
    refused(VALID "[streets]\nCG01 = 城关\nCG01 = 城关街道\n", "t.conf:15: duplicate street 'CG01' (first on line 14)");
    refused(VALID "[communities]\nCG01 = 西湖\n", "t.conf:14: bad community code 'CG01'");
    refused(VALID "[communities]\nCG01-XH02-G1 = 西湖\n", "t.conf:14: bad community code 'CG01-XH02-G1'");
    refused(VALID "[communities]\nCG01-XH02 =\n", "t.conf:14: community 'CG01-XH02' has no display name");
    refused(VALID "[streets]\nCG01 = 城关\t街道\n", "t.conf:14: street 'CG01' has a control character");
    refused(VALID "[streets]\nCG01 = Chengguan Street Office of the County Seat, Longer Than Sixty-four\n",
            "t.conf:14: street 'CG01' has a display name longer than 64 characters");
}

static void test_error_long_line(void **state)
{
    (void)state;
    char text[2048] = VALID "; ";
    memset(text + strlen(text), 'x', 300);                   /* a long comment is fine */
    strcat(text, "\n[departments]\nlong = ");
    memset(text + strlen(text), 'y', 300);
    strcat(text, "\n");
    refused(text, "t.conf:15: line too long");
    assert_int_equal(count_lines(err), 1);

    /* 198 bytes before the line's end, in a file saved on Windows (CRLF) too;
     * 199 refused, the last line without a newline as well */
    const char *ends[] = {"\n", "\r\n", ""};
    for (size_t i = 0; i < 3; i++) {
        for (int len = 198; len <= 199; len++) {
            char line[256] = "[routes]\r\nwater.leak = water ; ";    /* 21 bytes, then z */
            size_t at = strlen(line);
            memset(line + at, 'z', (size_t)len - 21);
            strcpy(line + at + len - 21, ends[i]);
            snprintf(text, sizeof text, "%s%s", VALID, line);
            if (len == 198) {
                config_t *cfg = accepted(text);
                assert_non_null(config_route(cfg, "water.leak"));
                assert_int_not_equal(config_route(cfg, "water.leak")->lead, 0);
                config_destroy(&cfg);
            } else {
                refused(text, "t.conf:14: line too long (more than 198 bytes)\n");
            }
        }
    }
}

/* ---- deadlines, calendar, ladders ---------------------------------------- */

static void test_dur(void **state)
{
    (void)state;
    config_dur_t d;
    const struct { const char *text; config_dur_kind_t kind; int64_t amount; } good[] = {
        {"0", DUR_WALL, 0}, {"250ms", DUR_WALL, 250}, {"2s", DUR_WALL, 2000},
        {"30m", DUR_WALL, 30 * MIN_MS}, {"4h", DUR_WALL, 4 * HOUR_MS}, {"3d", DUR_WALL, 3 * DAY_MS},
        {"5wd", DUR_WORKDAYS, 5}, {"0wd", DUR_WORKDAYS, 0}, {"8wh", DUR_WORKHOURS, 28800000},
        {"1wh", DUR_WORKHOURS, HOUR_MS}, {"9223372036854775807wd", DUR_WORKDAYS, INT64_MAX},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (config_parse_dur(good[i].text, &d) != 0)
            fail_msg("duration \"%s\" refused", good[i].text);
        assert_int_equal(d.kind, good[i].kind);
        assert_int_equal(d.amount, good[i].amount);
    }
    const char *bad[] = {"", "5", "wd", "-1wd", "+1wd", "1.5wd", "5 wd", "5WD", "5w", "5dw",
                         "5wdd", "5whs", "2562047788016wh", "99999999999999999999wd",
                         "9223372036854775807s", "-30m"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d = (config_dur_t){DUR_WORKHOURS, 42};
        if (config_parse_dur(bad[i], &d) != -1)
            fail_msg("duration \"%s\" accepted", bad[i]);
        assert_int_equal(d.amount, 42);                 /* untouched */
    }
    assert_int_equal(config_parse_dur(NULL, &d), -1);
    assert_int_equal(config_parse_dur("5wd", NULL), -1);
    assert_int_equal(config_parse_dur("2562047788015wh", &d), 0);       /* the largest */
    assert_int_equal(d.amount, 2562047788015 * (int64_t)HOUR_MS);
    assert_int_equal(config_parse_duration("5wd"), -1);                 /* not a fixed length */
    assert_int_equal(config_parse_duration("8wh"), -1);
}

static void test_deadline_defaults(void **state)
{
    (void)state;
    config_t *cfg = accepted(VALID);
    assert_int_equal(cfg->ndeadlines, 1);
    for (int pr = 0; pr < PRIO_COUNT; pr++) {
        assert_dur(config_deadline(cfg, LADDER_CONTACT, "water.leak", pr), DUR_WALL, 30 * MIN_MS);
        assert_null(config_deadline(cfg, LADDER_RESOLVE, "water.leak", pr));
    }
    assert_dur(config_deadline(cfg, LADDER_CONTACT, NULL, PRIO_NORMAL), DUR_WALL, 30 * MIN_MS);
    assert_null(config_deadline(cfg, LADDER_NONE, "water.leak", PRIO_NORMAL));
    assert_null(config_deadline(cfg, LADDER_COUNT, "water.leak", PRIO_NORMAL));
    assert_null(config_deadline(NULL, LADDER_CONTACT, "water.leak", PRIO_NORMAL));
    config_destroy(&cfg);

    /* rules without a plain contact rule keep the built-in one underneath */
    cfg = accepted(VALID "[deadlines]\nresolve = 5wd\nurgent.contact = 10m\n");
    assert_int_equal(cfg->ndeadlines, 3);
    assert_dur(config_deadline(cfg, LADDER_CONTACT, "x", PRIO_NORMAL), DUR_WALL, 30 * MIN_MS);
    assert_dur(config_deadline(cfg, LADDER_CONTACT, "x", PRIO_URGENT), DUR_WALL, 10 * MIN_MS);
    assert_dur(config_deadline(cfg, LADDER_RESOLVE, "x", PRIO_LOW), DUR_WORKDAYS, 5);
    config_destroy(&cfg);

    /* a plain contact rule replaces it; an empty section changes nothing */
    cfg = accepted(VALID "[deadlines]\ncontact = 1h\n");
    assert_int_equal(cfg->ndeadlines, 1);
    assert_dur(config_deadline(cfg, LADDER_CONTACT, "x", PRIO_NORMAL), DUR_WALL, HOUR_MS);
    config_destroy(&cfg);
    cfg = accepted(VALID "[deadlines]\n");
    assert_int_equal(cfg->ndeadlines, 1);
    config_destroy(&cfg);
}

/* The most specific rule wins, whatever the order of the lines. */
static void test_deadline_precedence(void **state)
{
    (void)state;
    const char *orders[] = {
        VALID "[deadlines]\n"
              "contact = 30m\nurgent.contact = 10m\nwater.leak.contact = 20m\n"
              "water.leak.urgent.contact = 5m\nresolve = 5wd\nwater.leak.resolve = 2d\n",
        VALID "[deadlines]\n"
              "water.leak.resolve = 2d\nwater.leak.urgent.contact = 5m\nwater.leak.contact = 20m\n"
              "urgent.contact = 10m\nresolve = 5wd\ncontact = 30m\n",
    };
    for (size_t o = 0; o < 2; o++) {
        config_t *cfg = accepted(orders[o]);
        assert_int_equal(cfg->ndeadlines, 6);
        assert_dur(config_deadline(cfg, LADDER_CONTACT, "water.leak", PRIO_URGENT), DUR_WALL, 5 * MIN_MS);
        assert_dur(config_deadline(cfg, LADDER_CONTACT, "water.leak", PRIO_HIGH), DUR_WALL, 20 * MIN_MS);
        assert_dur(config_deadline(cfg, LADDER_CONTACT, "water.leak", PRIO_NORMAL), DUR_WALL, 20 * MIN_MS);
        assert_dur(config_deadline(cfg, LADDER_CONTACT, "road.pothole", PRIO_URGENT), DUR_WALL, 10 * MIN_MS);
        assert_dur(config_deadline(cfg, LADDER_CONTACT, NULL, PRIO_URGENT), DUR_WALL, 10 * MIN_MS);
        assert_dur(config_deadline(cfg, LADDER_CONTACT, "road.pothole", PRIO_LOW), DUR_WALL, 30 * MIN_MS);
        assert_dur(config_deadline(cfg, LADDER_CONTACT, "water", PRIO_NORMAL), DUR_WALL, 30 * MIN_MS);
        assert_dur(config_deadline(cfg, LADDER_CONTACT, "water.leak.x", PRIO_URGENT), DUR_WALL, 10 * MIN_MS);
        assert_dur(config_deadline(cfg, LADDER_RESOLVE, "water.leak", PRIO_URGENT), DUR_WALL, 2 * DAY_MS);
        assert_dur(config_deadline(cfg, LADDER_RESOLVE, "road.pothole", PRIO_URGENT), DUR_WORKDAYS, 5);
        config_destroy(&cfg);
    }
    /* service code alone beats priority alone; no plain resolve: no deadline */
    config_t *cfg = accepted(VALID "[deadlines]\nurgent.resolve = 1d\nwater.leak.resolve = 3d\n");
    assert_dur(config_deadline(cfg, LADDER_RESOLVE, "water.leak", PRIO_URGENT), DUR_WALL, 3 * DAY_MS);
    assert_dur(config_deadline(cfg, LADDER_RESOLVE, "road.pothole", PRIO_URGENT), DUR_WALL, DAY_MS);
    assert_null(config_deadline(cfg, LADDER_RESOLVE, "road.pothole", PRIO_NORMAL));
    config_destroy(&cfg);
}

/* How keys split into service code, priority and ladder. */
static void test_deadline_keys(void **state)
{
    (void)state;
    config_t *cfg = accepted(VALID "[deadlines]\n"
                                   "normal.resolve = 5wd\n"             /* 14 */
                                   "x.urgent.contact = 1m\n"            /* 15: code x, urgent */
                                   "urgent.urgent.contact = 2m\n"       /* 16: code urgent */
                                   "contact.resolve = 3d\n"             /* 17: code contact */
                                   "Water_Leak-2.low.resolve = 8wh\n"   /* 18 */
                                   "no.route.here.resolve = 1d\n");     /* 19: no route: fine */
    const struct { const char *code; int priority, ladder; } want[] = {
        {NULL, PRIO_NORMAL, LADDER_RESOLVE}, {"x", PRIO_URGENT, LADDER_CONTACT},
        {"urgent", PRIO_URGENT, LADDER_CONTACT}, {"contact", -1, LADDER_RESOLVE},
        {"Water_Leak-2", PRIO_LOW, LADDER_RESOLVE}, {"no.route.here", -1, LADDER_RESOLVE},
    };
    assert_int_equal(cfg->ndeadlines, 7);                   /* and the built-in contact */
    for (size_t i = 0; i < 6; i++) {
        const config_deadline_t *d = &cfg->deadlines[i];
        if (want[i].code)
            assert_string_equal(d->service_code, want[i].code);
        else
            assert_null(d->service_code);
        assert_int_equal(d->priority, want[i].priority);
        assert_int_equal(d->ladder, want[i].ladder);
    }
    assert_null(cfg->deadlines[6].service_code);
    assert_int_equal(cfg->deadlines[6].priority, -1);
    assert_null(config_deadline(cfg, LADDER_RESOLVE, "x.urgent", PRIO_URGENT));
    assert_dur(config_deadline(cfg, LADDER_CONTACT, "x", PRIO_URGENT), DUR_WALL, MIN_MS);
    assert_dur(config_deadline(cfg, LADDER_RESOLVE, "no.route.here", PRIO_LOW), DUR_WALL, DAY_MS);
    config_destroy(&cfg);
}

/* `default.resolve` reads like a rule for the default route's cases, but
 * rules are by the case's own code: warned, with the rule meant. */
static void test_default_rule_warning(void **state)
{
    (void)state;
    config_t *cfg = accepted(VALID "[ladder.contact]\n[ladder.resolve]\n"  /* no targets */
                             "[deadlines]\n"                                /* 15 */
                             "default.resolve = 1d\n"                       /* 16 */
                             "default.urgent.contact = 5m\n"                /* 17 */
                             "defaults.resolve = 2d\n");                    /* 18: a code */
    assert_string_equal(cfg->warnings,
                        "t.conf:16: deadline 'default.resolve': rules are by service code, and "
                        "a case the default route takes keeps its own: this rule matches only "
                        "cases whose code is 'default' (the rule 'resolve' covers codes without "
                        "a rule of their own)\n"
                        "t.conf:17: deadline 'default.urgent.contact': rules are by service "
                        "code, and a case the default route takes keeps its own: this rule "
                        "matches only cases whose code is 'default' (the rule 'urgent.contact' "
                        "covers codes without a rule of their own)\n");
    /* it still applies to the code 'default', as any rule to its code */
    assert_dur(config_deadline(cfg, LADDER_RESOLVE, "default", PRIO_NORMAL), DUR_WALL, DAY_MS);
    config_destroy(&cfg);
}

static void test_error_deadlines(void **state)
{
    (void)state;
    const char *bad_keys[] = {"Contact", "contacts", "contact.x", ".contact", "urgent.",
                              "water.leak", "water/leak.contact", "x..urgent.resolve.",
                              "water leak.contact", "urgent.contact.resolve.x"};
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
        char text[512], want[256];
        snprintf(text, sizeof text, VALID "[deadlines]\n%s = 30m\n", bad_keys[i]);
        snprintf(want, sizeof want, "t.conf:14: bad deadline rule '%s' (want "
                 "[SERVICE_CODE.][low|normal|high|urgent.]contact|resolve)\n", bad_keys[i]);
        refused(text, want);
        assert_int_equal(count_lines(err), 1);
    }
    char text[512], code[80];
    memset(code, 'a', 65), code[65] = '\0';
    snprintf(text, sizeof text, VALID "[deadlines]\n%s.urgent.contact = 1h\n", code);
    refused(text, "t.conf:14: bad deadline rule 'aaaa");
    memset(code, 'a', 64), code[64] = '\0';                 /* 64 is fine */
    snprintf(text, sizeof text, VALID "[deadlines]\n%s.urgent.contact = 1h\n", code);
    config_t *cfg = accepted(text);
    config_destroy(&cfg);

    refused(VALID "[deadlines]\nurgent.contact = 10m\nurgent.contact = 5m\n",
            "t.conf:15: duplicate deadline 'urgent.contact' (first on line 14)");
    const char *bad_durs[] = {"0", "0wd", "0wh", "-5m", "+5m", "5x", "", "1.5d", "5 wd",
                              "367d", "367wd", "8785wh", "9000h"};
    for (size_t i = 0; i < sizeof bad_durs / sizeof bad_durs[0]; i++) {
        char want[128];
        snprintf(text, sizeof text, VALID "[deadlines]\nwater.leak.resolve = %s\n", bad_durs[i]);
        snprintf(want, sizeof want, "t.conf:14: bad duration '%s' for deadline 'water.leak.resolve' "
                 "(want e.g. 30m, 4h, 2d, 5wd", bad_durs[i]);
        refused(text, want);
        assert_int_equal(count_lines(err), 1);
    }
    cfg = accepted(VALID "[deadlines]\na.resolve = 366d\nb.resolve = 366wd\nc.resolve = 8784wh\n"
                         "d.resolve = 1ms\n");
    config_destroy(&cfg);
    /* one working hour a day: 8784wh would outrun the ten years the calendar
     * walks, and fall back to wall time (257 days, before 2000wh's 2,799) */
    refused(VALID "[calendar]\nhours = 09:00-10:00\n[deadlines]\nc.resolve = 8784wh\n",
            "t.conf:16: deadline 'c.resolve' = 8784wh does not end within 470 weeks of the "
            "working time [calendar] weekdays and hours give (at most 2350wh)");
    cfg = accepted(VALID "[deadlines]\nc.resolve = 2350wh\n[calendar]\nhours = 09:00-10:00\n");
    config_destroy(&cfg);
    cfg = accepted(VALID "[deadlines]\nc.resolve = 470wh\nd.resolve = 366wd\n"
                         "[calendar]\nhours = 09:00-10:00\nweekdays = sat\n");
    config_destroy(&cfg);
}

/* a temporary file with this text; the caller unlinks it */
static void temp_file(char *path, const char *text)
{
    strcpy(path, "/tmp/test_config_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_calendar(void **state)
{
    (void)state;
    config_t *cfg = accepted(VALID);                        /* calendar_init's defaults */
    assert_int_equal(cfg->calendar.weekdays, 0x3e);
    assert_int_equal(cfg->calendar.nhours, 2);
    assert_int_equal(cfg->calendar.hours[1].start, 13 * 60 + 30);
    assert_int_equal(cfg->calendar.nholidays + cfg->calendar.nmakeup, 0);
    config_destroy(&cfg);

    char path[64], text[512];
    temp_file(path, "# test\n2026-10-01 holiday\n2026-10-02 holiday\n2026-10-10 workday\n");
    snprintf(text, sizeof text, VALID "[calendar]\nweekdays = mon,tue,sat\n"
                                      "hours = 08:00-12:00\nholidays = %s\n", path);
    cfg = accepted(text);
    assert_int_equal(cfg->calendar.weekdays, (1 << 1) | (1 << 2) | (1 << 6));
    assert_int_equal(cfg->calendar.nhours, 1);
    assert_int_equal(cfg->calendar.hours[0].start, 8 * 60);
    assert_int_equal(cfg->calendar.hours[0].end, 12 * 60);
    assert_int_equal(cfg->calendar.nholidays, 2);
    assert_int_equal(cfg->calendar.nmakeup, 1);
    assert_int_equal(cfg->calendar.makeup[0], 20261010);
    config_destroy(&cfg);
    unlink(path);
}

static void test_error_calendar(void **state)
{
    (void)state;
    refused(VALID "[calendar]\nweekend = sat\n", "t.conf:14: unknown key 'weekend' in [calendar]");
    refused(VALID "[calendar]\nweekdays = mon-fri\nweekdays = mon-sat\n",
            "t.conf:15: duplicate key 'weekdays' in [calendar] (first on line 14)");
    refused(VALID "[calendar]\nweekdays = monday\n", "t.conf:14: bad weekdays 'monday' (want ");
    refused(VALID "[calendar]\nweekdays =\n", "t.conf:14: bad weekdays '' (want ");
    refused(VALID "[calendar]\nhours = 9-5\n", "t.conf:14: bad hours '9-5' (want 1..4 windows");
    refused(VALID "[calendar]\nhours = 09:00-12:00, 11:00-17:00\n",
            "t.conf:14: bad hours '09:00-12:00, 11:00-17:00'");
    refused(VALID "[calendar]\nholidays =\n", "t.conf:14: missing value for holidays\n");
    /* a file that cannot be read at all: at the holidays line, in the calendar's words */
    refused(VALID "[calendar]\nholidays = /nonexistent/holidays.txt\n",
            "t.conf:14: /nonexistent/holidays.txt: cannot open the holiday file: "
            "No such file or directory\n");

    /* the holiday file's errors come as they are, in the place of the holidays line */
    char path[64], text[512], want[128];
    temp_file(path, "2026-10-01 holiday\n2026-13-01 holiday\n");
    snprintf(text, sizeof text, VALID "[broker]\ncolour = red\n"  /* 14 */
                                      "[calendar]\nholidays = %s\n"   /* 16 */
                                      "[broker]\nshade = blue\n", path);  /* 18 */
    config_t *cfg = config_load_string(text, "t.conf", err, sizeof err);
    assert_null(cfg);
    snprintf(want, sizeof want, "t.conf:14: unknown key 'colour' in [broker]\n%s:2: ", path);
    assert_contains(err, want);
    assert_contains(err, "\nt.conf:18: unknown key 'shade' in [broker]\n");
    assert_int_equal(count_lines(err), 3);
    unlink(path);
}

static void test_ladder_defaults(void **state)
{
    (void)state;
    config_t *cfg = accepted(VALID);
    assert_int_equal(cfg->nlevels[LADDER_CONTACT], 3);
    assert_level(cfg, LADDER_CONTACT, 0, 0, "community", NULL);
    assert_level(cfg, LADDER_CONTACT, 1, 30 * MIN_MS, "street", NULL);
    assert_level(cfg, LADDER_CONTACT, 2, 2 * HOUR_MS, "county", NULL);
    assert_int_equal(cfg->nlevels[LADDER_RESOLVE], 3);
    assert_level(cfg, LADDER_RESOLVE, 0, 0, "community", NULL);
    assert_level(cfg, LADDER_RESOLVE, 1, DAY_MS, "street", NULL);
    assert_level(cfg, LADDER_RESOLVE, 2, 3 * DAY_MS, "county", NULL);
    assert_int_equal(cfg->nlevels[LADDER_NONE], 0);
    config_destroy(&cfg);

    /* the default ladders go through [targets] too; one given ladder leaves the other */
    cfg = accepted(VALID "[targets]\nstreet = urban\ncounty = dispatch\n"
                         "[ladder.resolve]\n1 = 2d county\n");
    assert_level(cfg, LADDER_CONTACT, 0, 0, "community", NULL);
    assert_level(cfg, LADDER_CONTACT, 1, 30 * MIN_MS, "street", "urban");
    assert_level(cfg, LADDER_CONTACT, 2, 2 * HOUR_MS, "county", "dispatch");
    assert_int_equal(cfg->nlevels[LADDER_RESOLVE], 1);
    assert_level(cfg, LADDER_RESOLVE, 0, 2 * DAY_MS, "county", "dispatch");
    config_destroy(&cfg);
}

static void test_ladders_and_targets(void **state)
{
    (void)state;
    config_t *cfg = accepted("[ladder.contact]\n"
                             "1 = -1h department\n"
                             "2 = -30m department\n"
                             "3 = +0 community.secretary\n"
                             "4 = 250ms street\n"
                             "5 = 1d county\n"
                             "[ladder.resolve]\n"           /* empty: no escalation */
                             "[targets]\n"
                             "community.secretary = water\n"
                             "county = supervision\n"       /* declared below */
                             "unused-target = urban\n"      /* on no ladder: fine */
                             VALID
                             "[departments]\nsupervision = 督办中心\n");
    assert_int_equal(cfg->nlevels[LADDER_CONTACT], 5);
    assert_level(cfg, LADDER_CONTACT, 0, -HOUR_MS, "department", NULL);
    assert_level(cfg, LADDER_CONTACT, 1, -30 * MIN_MS, "department", NULL);
    assert_level(cfg, LADDER_CONTACT, 2, 0, "community.secretary", "water");
    assert_level(cfg, LADDER_CONTACT, 3, 250, "street", NULL);
    assert_level(cfg, LADDER_CONTACT, 4, DAY_MS, "county", "supervision");
    assert_int_equal(cfg->nlevels[LADDER_RESOLVE], 0);
    assert_null(cfg->ladders[LADDER_RESOLVE]);
    config_destroy(&cfg);

    char text[2048] = VALID "[ladder.contact]\n";            /* 16 levels: the most */
    for (int i = 1; i <= 16; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%d = %dm level%d\n", i, i, i);
    cfg = accepted(text);
    assert_int_equal(cfg->nlevels[LADDER_CONTACT], 16);
    assert_level(cfg, LADDER_CONTACT, 15, 16 * MIN_MS, "level16", NULL);
    config_destroy(&cfg);
    strcat(text, "17 = 17m level17\n");
    refused(text, "t.conf:30: bad contact ladder level '17' (want 1..16)\n");
    assert_int_equal(count_lines(err), 1);
}

static void test_error_ladders(void **state)
{
    (void)state;
    refused(VALID "[ladder.contact]\n1 = 0 a\n3 = 1h b\n4 = 2h c\n",
            "t.conf:15: contact ladder level '3' is out of order (want level 2 here: "
            "levels are numbered 1, 2, 3... in order)\n");
    assert_int_equal(count_lines(err), 1);                  /* the first slip only */
    refused(VALID "[ladder.resolve]\n2 = 0 a\n1 = 1h b\n",
            "t.conf:14: resolve ladder level '2' is out of order (want level 1 here");
    assert_int_equal(count_lines(err), 1);
    refused(VALID "[ladder.contact]\n1 = 0 a\n1 = 1h b\n",
            "t.conf:15: duplicate contact ladder level '1' (first on line 14)");
    const char *bad_keys[] = {"0", "01", "17", "a", "-1", "1a"};
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
        char text[512], want[128];
        snprintf(text, sizeof text, VALID "[ladder.resolve]\n%s = 0 a\n", bad_keys[i]);
        snprintf(want, sizeof want, "t.conf:14: bad resolve ladder level '%s' (want 1..16)\n",
                 bad_keys[i]);
        refused(text, want);
        assert_int_equal(count_lines(err), 1);
    }
    refused(VALID "[ladder.contact]\n1 = 30m\n",
            "t.conf:14: contact ladder level '1': bad value '30m' (want OFFSET TARGET, e.g. 30m street)");
    refused(VALID "[ladder.contact]\n1 = 30m street county\n",
            "t.conf:14: contact ladder level '1': bad value '30m street county'");
    refused(VALID "[ladder.contact]\n1 =\n", "t.conf:14: contact ladder level '1': bad value ''");
    const char *bad_offsets[] = {"5wd", "1wh", "1.5h", "--1h", "+-1h", "-", "5", "367d", "-367d",
                                 "1H", "9223372036854775807ms"};
    for (size_t i = 0; i < sizeof bad_offsets / sizeof bad_offsets[0]; i++) {
        char text[512], want[128];
        snprintf(text, sizeof text, VALID "[ladder.contact]\n1 = %s street\n", bad_offsets[i]);
        snprintf(want, sizeof want, "t.conf:14: contact ladder level '1': bad offset '%s' (want ",
                 bad_offsets[i]);
        refused(text, want);
    }
    config_t *cfg = accepted(VALID "[ladder.contact]\n1 = -366d a\n2 = 366d b\n");
    config_destroy(&cfg);
    refused(VALID "[ladder.contact]\n1 = 0 Street\n",
            "t.conf:14: contact ladder level '1': bad target 'Street' (want 1..64 of a-z 0-9 _ . -)");
    refused(VALID "[ladder.contact]\n1 = 0 a/b\n", "t.conf:14: contact ladder level '1': bad target 'a/b'");
    refused(VALID "[ladder.contact]\n1 = 1h a\n2 = 60m b\n",
            "t.conf:15: contact ladder level '2': offset 60m is not after the previous level's 1h "
            "(offsets must increase)");
    refused(VALID "[ladder.resolve]\n1 = 0 a\n2 = -30m b\n3 = 1d c\n4 = 1d d\n",
            "t.conf:15: resolve ladder level '2': offset -30m is not after the previous level's 0 "
            "(offsets must increase)\n"
            "t.conf:17: resolve ladder level '4': offset 1d is not after the previous level's 1d");
    refused(VALID "[ladder.resolve]\n1 = -90s a\n2 = -2m b\n",
            "t.conf:15: resolve ladder level '2': offset -2m is not after the previous level's -90s");
    refused(VALID "[ladder.Contact]\n", "t.conf:13: unknown section [ladder.Contact]");
}

/* A target typo (`2 = 30m steet`, `countty = supervision`) is allowed, as a
 * target for the log alone is, but warned about with its line; a config
 * whose rungs and [targets] agree has no warning. */
static void test_target_warnings(void **state)
{
    (void)state;
    config_t *cfg = accepted(VALID "[ladder.contact]\n"             /* 13 */
                             "1 = 0 community\n"                     /* 14 */
                             "2 = 30m steet\n"                       /* 15 */
                             "3 = 2h community\n"                    /* 16 */
                             "[ladder.resolve]\n"                    /* 17 */
                             "1 = 1d steet\n"                        /* 18 */
                             "[targets]\n"                           /* 19 */
                             "community = urban\n"                   /* 20 */
                             "countty = dispatch\n");                /* 21 */
    assert_non_null(cfg->warnings);
    assert_string_equal(cfg->warnings,
                        "t.conf:15: contact ladder level 2: target 'steet' is not in [targets]: "
                        "its escalations are logged and stored, but no department gets "
                        "ESCALATE (a typo?)\n"
                        "t.conf:21: target 'countty' is on no ladder: it sends nothing "
                        "(a typo?)\n");
    config_destroy(&cfg);
    /* the default ladders name community, street and county; without a line */
    cfg = accepted(VALID "[targets]\ncommunity = urban\nstreet = urban\n");
    assert_string_equal(cfg->warnings, "t.conf: contact ladder level 3: target 'county' is not "
                        "in [targets]: its escalations are logged and stored, but no department "
                        "gets ESCALATE (a typo?)\n");
    config_destroy(&cfg);
    cfg = accepted(VALID "[ladder.resolve]\n[targets]\ncommunity = urban\nstreet = urban\n"
                   "county = dispatch\n");
    assert_null(cfg->warnings);
    config_destroy(&cfg);
    /* `-`: for the log alone, on purpose: no department, and no warning */
    cfg = accepted(VALID "[ladder.resolve]\n1 = -4h department\n2 = 0 community\n"
                   "[targets]\ncommunity = urban\nstreet = urban\ncounty = dispatch\n"
                   "department = -\n");
    assert_null(cfg->warnings);
    assert_int_equal(cfg->ladders[LADDER_RESOLVE][0].dept, -1);
    assert_int_equal(cfg->ladders[LADDER_RESOLVE][1].dept, config_dept_find(cfg, "urban"));
    config_destroy(&cfg);
    /* ... but still one on no ladder */
    cfg = accepted(VALID "[ladder.resolve]\n[targets]\ncommunity = urban\nstreet = urban\n"
                   "county = dispatch\ndepartmnet = -\n");
    assert_string_equal(cfg->warnings, "t.conf:18: target 'departmnet' is on no ladder: it "
                        "sends nothing (a typo?)\n");
    config_destroy(&cfg);
}

/* wd and wh skip only weekends when no holiday is listed: 春节 would count
 * as working days. Allowed, but said once, at the first such rule. */
static void test_holiday_warnings(void **state)
{
    (void)state;
    config_t *cfg = accepted(VALID "[ladder.contact]\n[ladder.resolve]\n"  /* no targets */
                             "[deadlines]\n"                                /* 15 */
                             "contact = 30m\n"                              /* 16 */
                             "water.leak.resolve = 5wd\n"                   /* 17 */
                             "resolve = 10wd\n"                             /* 18 */
                             "urgent.resolve = 8wh\n");                     /* 19 */
    assert_non_null(cfg->warnings);
    assert_string_equal(cfg->warnings, "t.conf:17: deadline 'water.leak.resolve' (and 2 more) "
                        "counts working time (wd, wh), but [calendar] names no holiday file: "
                        "public holidays such as 春节 and 国庆 count as working days (name one "
                        "in [calendar] holidays)\n");
    config_destroy(&cfg);
    /* wall-clock deadlines alone need no holidays */
    cfg = accepted(VALID "[ladder.contact]\n[ladder.resolve]\n[deadlines]\nresolve = 5d\n");
    assert_null(cfg->warnings);
    config_destroy(&cfg);

    char path[64], text[512];
    temp_file(path, "# nothing listed yet\n");
    snprintf(text, sizeof text, VALID "[ladder.contact]\n[ladder.resolve]\n[calendar]\n"
                                      "holidays = %s\n[deadlines]\nresolve = 8wh\n", path);
    cfg = accepted(text);
    assert_string_equal(cfg->warnings, "t.conf:18: deadline 'resolve' counts working time (wd, "
                        "wh), but the holiday file lists no day: public holidays such as 春节 "
                        "and 国庆 count as working days (list the year's holidays in it)\n");
    config_destroy(&cfg);
    unlink(path);
    temp_file(path, "2026-10-01 holiday\n");
    snprintf(text, sizeof text, VALID "[ladder.contact]\n[ladder.resolve]\n[calendar]\n"
                                      "holidays = %s\n[deadlines]\nresolve = 8wh\n", path);
    cfg = accepted(text);
    assert_null(cfg->warnings);
    config_destroy(&cfg);
    unlink(path);
}

static void test_error_targets(void **state)
{
    (void)state;
    refused(VALID "[targets]\ncommunity = supervison\n",
            "t.conf:14: target 'community': unknown department 'supervison'\n");
    assert_int_equal(count_lines(err), 1);
    refused(VALID "[targets]\ncommunity =\n", "t.conf:14: target 'community' names no department");
    refused(VALID "[targets]\ncommunity = water, urban\n",
            "t.conf:14: target 'community': bad department id 'water, urban' (want one department)");
    refused(VALID "[targets]\nCommunity = water\n",
            "t.conf:14: bad target 'Community' (want 1..64 of a-z 0-9 _ . -)");
    refused(VALID "[targets]\nstreet = water\nstreet = urban\n",
            "t.conf:15: duplicate target 'street' (first on line 14)");
    /* every new kind of mistake at once, in line order */
    refused(VALID "[deadlines]\n"                       /* 13 */
                  "contact = soon\n"                    /* 14 */
                  "[ladder.contact]\n"                  /* 15 */
                  "2 = 0 community\n"                   /* 16 */
                  "[calendar]\n"                        /* 17 */
                  "hours = always\n"                    /* 18 */
                  "[targets]\n"                         /* 19 */
                  "community = nobody\n",               /* 20 */
            "t.conf:14: bad duration 'soon' for deadline 'contact'");
    assert_contains(err, "\nt.conf:16: contact ladder level '2' is out of order");
    assert_contains(err, "\nt.conf:18: bad hours 'always'");
    assert_contains(err, "\nt.conf:20: target 'community': unknown department 'nobody'\n");
    assert_int_equal(count_lines(err), 4);
}

/* ---- reporting ---------------------------------------------------------- */

static void test_all_errors_reported_in_line_order(void **state)
{
    (void)state;
    char *text = replaced("manual_department = dispatch", "manual_department = nobody");
    char *more = malloc(strlen(text) + 200);
    assert_non_null(more);
    strcpy(more, text);
    strcat(more, "[broker]\n"                          /* 13 */
                 "heartbeat = soon\n"                  /* 14 */
                 "[routes]\n"                          /* 15 */
                 "road.pothole = urban, traffic\n"     /* 16 */
                 "[departments]\n"                     /* 17 */
                 "water = 重复\n"                       /* 18 */
                 "garbage line\n"                      /* 19 */
                 "[extra]\n");                         /* 20 */
    refused(more, "t.conf:6: manual_department 'nobody' is not a department\n"
                  "t.conf:14: bad duration 'soon' for heartbeat (want 100ms..60s)\n"
                  "t.conf:16: route 'road.pothole': unknown department 'traffic'\n"
                  "t.conf:18: duplicate department 'water' (first on line 9)\n"
                  "t.conf:19: cannot parse line (want 'key = value' or '[section]')\n"
                  "t.conf:20: unknown section [extra]\n");
    assert_int_equal(count_lines(err), 6);
    free(more);
    free(text);
}

/* Whether every line of s is a whole "t.conf..." line, each ended. */
static void assert_whole_lines(const char *s)
{
    for (const char *line = s; *line; line = strchr(line, '\n') + 1) {
        if (strncmp(line, "t.conf:", 7) != 0 || !strchr(line, '\n'))
            fail_msg("a line cut short or broken: \"%.80s\" in:\n%s", line, s);
    }
}

/* More problems than the buffer holds: each line whole, and the last says
 * how many were not shown, counting those over the kept 100 too. */
static void test_long_error_lists(void **state)
{
    (void)state;
    char *text = malloc(16384);
    assert_non_null(text);
    strcpy(text, VALID "[deadlines]\n");                              /* 13 */
    for (int i = 1; i <= 150; i++)
        sprintf(text + strlen(text), "svc%d.resolve = %dx\n", i, i);   /* 14.. */
    refused(text, "t.conf:14: bad duration '1x' for deadline 'svc1.resolve'");
    assert_whole_lines(err);
    int shown = count_lines(err) - 1;
    char want[64];
    snprintf(want, sizeof want, "\nt.conf: %d more problems not shown\n", 150 - shown);
    assert_true(shown > 10 && shown < 100);
    assert_string_equal(strrchr(err, '\n') - strlen(want) + 1, want);

    /* a problem found after the last line (a route) is shown before later
     * lines' parse errors, although more than 100 were found before it */
    char *routes = replaced("default = dispatch", "default = nobody");
    strcpy(text, routes);
    free(routes);
    for (int i = 0; i < 120; i++)
        strcat(text, "garbage\n");
    refused(text, "t.conf:12: route 'default': unknown department 'nobody'\n"
                  "t.conf:13: cannot parse line");
    assert_whole_lines(err);
    shown = count_lines(err) - 1;
    snprintf(want, sizeof want, "\nt.conf: %d more problems not shown\n", 121 - shown);
    assert_string_equal(strrchr(err, '\n') - strlen(want) + 1, want);
    free(text);
}

static void test_small_errbuf(void **state)
{
    (void)state;
    char small[24];
    memset(small, '#', sizeof small);
    assert_null(config_load_string(VALID "[x]\n[y]\n", "t.conf", small, sizeof small));
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_int_equal(strncmp(small, "t.conf:13: unknown", 18), 0);
    assert_null(config_load_string(VALID "[x]\n", "t.conf", NULL, 0));
    assert_null(config_load_string(NULL, NULL, err, sizeof err));
    assert_contains(err, "(string): missing required key 'intake'");
}

static void test_load_missing_file(void **state)
{
    (void)state;
    assert_null(config_load("/nonexistent/minqing.conf", err, sizeof err));
    assert_string_equal(err, "/nonexistent/minqing.conf: cannot open: No such file or directory\n");
}

static void test_load_file_errors_name_the_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(VALID "[broker]\nliveness = -1\n", f);
    fclose(f);
    assert_null(config_load(path, err, sizeof err));
    char want[64];
    snprintf(want, sizeof want, "%s:14: bad number '-1'", path);
    assert_contains(err, want);

    f = fopen(path, "w");                          /* too big: 1.5 MiB of comments */
    assert_non_null(f);
    for (int i = 0; i < 24 * 1024; i++)
        fputs("; 0123456789012345678901234567890123456789012345678901234567890\n", f);
    fclose(f);
    assert_null(config_load(path, err, sizeof err));
    assert_contains(err, "file too large");
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_loads),
        cmocka_unit_test(test_example_routes),
        cmocka_unit_test(test_example_places),
        cmocka_unit_test(test_example_deadlines_and_calendar),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_defaults_and_values),
        cmocka_unit_test(test_inline_comments_and_utf8),
        cmocka_unit_test(test_bom_crlf_and_comments),
        cmocka_unit_test(test_routes_before_departments),
        cmocka_unit_test(test_route_with_most_co_departments),
        cmocka_unit_test(test_error_unknown_section),
        cmocka_unit_test(test_error_unknown_broker_key),
        cmocka_unit_test(test_error_bad_duration),
        cmocka_unit_test(test_error_bad_number),
        cmocka_unit_test(test_error_bad_endpoint),
        cmocka_unit_test(test_error_curve_without_keys),
        cmocka_unit_test(test_error_route_unknown_department),
        cmocka_unit_test(test_error_duplicate_department),
        cmocka_unit_test(test_error_duplicate_route),
        cmocka_unit_test(test_error_too_many_co_departments),
        cmocka_unit_test(test_error_department_twice_in_route),
        cmocka_unit_test(test_error_missing_broker_keys),
        cmocka_unit_test(test_error_missing_default_route),
        cmocka_unit_test(test_error_manual_department_unknown),
        cmocka_unit_test(test_error_unparsable_lines),
        cmocka_unit_test(test_error_bad_keys_and_names),
        cmocka_unit_test(test_error_long_line),
        cmocka_unit_test(test_dur),
        cmocka_unit_test(test_deadline_defaults),
        cmocka_unit_test(test_deadline_precedence),
        cmocka_unit_test(test_deadline_keys),
        cmocka_unit_test(test_default_rule_warning),
        cmocka_unit_test(test_error_deadlines),
        cmocka_unit_test(test_calendar),
        cmocka_unit_test(test_error_calendar),
        cmocka_unit_test(test_ladder_defaults),
        cmocka_unit_test(test_ladders_and_targets),
        cmocka_unit_test(test_error_ladders),
        cmocka_unit_test(test_target_warnings),
        cmocka_unit_test(test_holiday_warnings),
        cmocka_unit_test(test_error_targets),
        cmocka_unit_test(test_all_errors_reported_in_line_order),
        cmocka_unit_test(test_long_error_lists),
        cmocka_unit_test(test_small_errbuf),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_load_file_errors_name_the_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
