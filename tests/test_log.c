/*
 * test_log.c - unit tests for the log line (daemon/log.c) as it reaches
 * stderr in logfmt: config lines and peers' text can hold any bytes (a
 * config saved as GBK), and a raw invalid byte makes journald keep the record
 * as a blob and terminals show garbage. Such bytes are escaped as \xNN;
 * valid UTF-8 (Chinese names) stays as it is, and no character is cut in two.
 * And a flood of one peer-caused event is cut to 20 lines in 10 s, the next
 * one written saying how many were not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* The line one log_say (or, when whole, log_say_long) writes to stderr,
 * without its ts= and severity=. */
static char *say(const char *text, bool whole)
{
    static char line[8192];
    FILE *f = tmpfile();
    assert_non_null(f);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0 && dup2(fileno(f), 2) == 2);
    (whole ? log_say_long : log_say)(LOG_ERR, "config.invalid", text);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    line[strcspn(line, "\n")] = '\0';
    char *ev = strstr(line, "event=");
    assert_non_null(ev);
    return ev;
}

static char *said(const char *text)
{
    return say(text, false);
}

static void valid_utf8_stays(void **state)
{
    (void)state;
    assert_string_equal(said("t.conf:9: unknown department '水务局'"),
                        "event=config.invalid msg=\"t.conf:9: unknown department '水务局'\"");
}

static void invalid_bytes_escaped(void **state)
{
    (void)state;
    /* GBK 中心 (d6 d0 d0 c4), a stray continuation byte, an overlong '/' */
    assert_string_equal(said("bad id '\xd6\xd0\xd0\xc4' \x80 \xc0\xaf"),
                        "event=config.invalid msg=\"bad id '\\xd6\\xd0\\xd0\\xc4' \\x80 "
                        "\\xc0\\xaf\"");
    /* a sequence cut short by the end of the value, next to a valid one */
    assert_string_equal(said("街\xe9\x81"), "event=config.invalid msg=街\\xe9\\x81");
}

static void long_value_cut_between_characters(void **state)
{
    (void)state;
    char text[400] = "a";
    for (int i = 0; i < 100; i++)
        strcat(text, "街");                 /* 3 bytes each: a field holds 159 bytes */
    const char *v = said(text) + strlen("event=config.invalid msg=");
    assert_int_equal(strlen(v), 1 + 52 * 3);
    assert_null(strstr(v, "\\x"));
    /* and the cut shows: the last character is an ellipsis, not a 街 */
    assert_string_equal(v + strlen(v) - 3, "…");
}

/* A config message in the long field is whole: what to do comes last. */
static void long_field_keeps_the_end(void **state)
{
    (void)state;
    char text[700] = "/etc/minqing/minqing.conf:28: bad duration '400d' for deadline 'resolve'";
    while (strlen(text) < 560)
        strcat(text, " (want e.g. 30m)");
    strcat(text, " at most 366d");
    const char *v = say(text, true) + strlen("event=config.invalid msg=");
    assert_int_equal(strlen(v), strlen(text) + 2);      /* quoted: it has spaces */
    assert_non_null(strstr(v, "at most 366d\""));
}

/* The stderr lines n records of `event` (log_begin_limited) write, then a
 * flush of the counts held back when `flush`. */
static int lines_of(const char *event, int n, bool flush, char *last, size_t len)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0 && dup2(fileno(f), 2) == 2);
    for (int i = 0; i < n; i++) {
        log_rec_t r;
        log_begin_limited(&r, LOG_WARNING, event);
        log_str(&r, "msg", "this key is no longer allowed");
        log_end(&r);
    }
    if (flush)
        log_flush_limited(true);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    int count = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        count++;
        snprintf(last, len, "%s", line);
    }
    fclose(f);
    return count;
}

static void a_flood_of_one_event_is_cut(void **state)
{
    (void)state;
    char last[1024] = "";
    assert_int_equal(lines_of("security.refused", 1000, false, last, sizeof last), 20);
    assert_int_equal(lines_of("msg.dropped", 5, false, last, sizeof last), 5);  /* its own */
    assert_null(strstr(last, "suppressed="));
    /* the flood stopped: at the flush (housekeeping, the stop) its count */
    assert_int_equal(lines_of("msg.dropped", 0, true, last, sizeof last), 1);
    assert_non_null(strstr(last, "event=security.refused suppressed=980 "));
}

int main(void)
{
    unsetenv("JOURNAL_STREAM");             /* logfmt on stderr, not journald */
    log_open("test", LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_utf8_stays),
        cmocka_unit_test(invalid_bytes_escaped),
        cmocka_unit_test(long_value_cut_between_characters),
        cmocka_unit_test(long_field_keeps_the_end),
        cmocka_unit_test(a_flood_of_one_event_is_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
