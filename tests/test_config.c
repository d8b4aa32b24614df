/*
 * test_config.c - the configuration loader: the demo config loads, lookups
 * work, and every kind of mistake is refused with "FILE:LINE: what", all of
 * them at once. Run from the repository root (examples/minqing.conf).
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

/* VALID with its first `from` replaced by `to`; the caller frees it. */
static char *replaced(const char *from, const char *to)
{
    const char *at = strstr(VALID, from);
    assert_non_null(at);
    size_t head = (size_t)(at - VALID), flen = strlen(from), tlen = strlen(to);
    char *s = malloc(strlen(VALID) - flen + tlen + 1);
    assert_non_null(s);
    memcpy(s, VALID, head);
    memcpy(s + head, to, tlen);
    strcpy(s + head + tlen, at + flen);
    return s;
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

static void refused_replaced(const char *from, const char *to, const char *want)
{
    char *text = replaced(from, to);
    refused(text, want);
    free(text);
}

static config_t *accepted(const char *text)
{
    config_t *cfg = config_load_string(text, "t.conf", err, sizeof err);
    if (!cfg)
        fail_msg("refused:\n%s", err);
    assert_string_equal(err, "");
    return cfg;
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
    assert_int_equal(cfg->ndepts, 17);
    assert_int_equal(cfg->nroutes, 27);
    assert_int_equal(cfg->nstreets, 2);
    assert_int_equal(cfg->ncommunities, 3);
    assert_int_equal(cfg->manual_dept, config_dept_find(cfg, "dispatch"));
    assert_string_equal(cfg->depts[cfg->manual_dept].name, "12345派单中心");
    assert_string_equal(cfg->depts[config_dept_find(cfg, "justice")].name, "司法局");
    assert_string_equal(cfg->routes[cfg->default_route].service_code, "default");
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
    assert_string_equal(cfg->path, "t.conf");
    assert_int_equal(cfg->nstreets + cfg->ncommunities, 0);
    assert_string_equal(config_street_name(cfg, "CG01"), "CG01");
    config_destroy(&cfg);

    cfg = accepted(VALID "[broker]\nheartbeat = 250ms\nliveness = 100\nauto_close = 3d\n");
    assert_int_equal(cfg->heartbeat_ms, 250);
    assert_int_equal(cfg->liveness, 100);
    assert_int_equal(cfg->auto_close_ms, 3 * 86400 * 1000);
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
}

static void test_error_bad_number(void **state)
{
    (void)state;
    refused(VALID "[broker]\nliveness = three\n", "t.conf:14: bad number 'three' for liveness");
    refused(VALID "[broker]\nliveness = 0\n", "t.conf:14: bad number '0' for liveness");
    refused(VALID "[broker]\nliveness = 101\n", "t.conf:14: bad number '101' for liveness");
    refused(VALID "[broker]\nliveness = 3x\n", "t.conf:14: bad number '3x' for liveness");
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
        cmocka_unit_test(test_all_errors_reported_in_line_order),
        cmocka_unit_test(test_small_errbuf),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_load_file_errors_name_the_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
