/*
 * test_adapter.c - unit tests for minqing-worker's modules (workers/adapter/):
 * the stdout reader's line limit, its bound per call and its end on a pipe
 * still held (reader.c), the options' values (wconfig.c), an assignment that
 * gets no job for lack of memory (delivery.c), the log's cut and budget
 * (wlog.c), and the masking of the numbers a command prints (proto/mask.c).
 * Linked without libminqing: the few calls delivery.c makes are stood in
 * for here, and record what the adapter sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "delivery.h"
#include "job.h"
#include "mask.h"
#include "reader.h"
#include "seen.h"
#include "utf8.h"
#include "wconfig.h"
#include "wlog.h"

/* ---- libminqing, stood in for ---- */

static mq_assignment_t queued;      /* what mq_worker_next hands out, once */
static int nqueued;
static int nreturned;
static uint64_t returned_id;
static msg_return_t returned_reason;

int mq_worker_next(mq_worker_t *self, mq_assignment_t *a, mq_escalation_t *e, int timeout_ms)
{
    (void)self, (void)e, (void)timeout_ms;
    if (!nqueued)
        return MQ_NOTHING;
    nqueued--;
    *a = queued;
    return MQ_ASSIGNMENT;
}

unsigned mq_worker_refused(const mq_worker_t *self)
{
    (void)self;
    return 0;
}

int mq_worker_release_escalation(mq_worker_t *self, const mq_escalation_t *e)
{
    (void)self, (void)e;
    return 0;
}

int mq_worker_returned(mq_worker_t *self, uint64_t assignment_id, msg_return_t reason,
                       const char *note)
{
    (void)self, (void)note;
    nreturned++;
    returned_id = assignment_id;
    returned_reason = reason;
    return 0;
}

const char *mq_strerror(void)
{
    return "stand-in";
}

/* ---- reader.c: how long a line may be ---- */

typedef struct {
    unsigned n;
    size_t len[8];
    bool whole[8];
    char first[8];
} lines_t;

static void on_line(void *arg, unsigned lineno, char *line, size_t len, bool whole)
{
    lines_t *l = arg;
    assert_int_equal(lineno, l->n + 1);
    assert_true(l->n < 8);
    assert_int_equal(strlen(line), len);
    l->len[l->n] = len;
    l->whole[l->n] = whole;
    l->first[l->n++] = line[0];
}

static void put_line(FILE *f, char c, size_t n, const char *end)
{
    for (size_t i = 0; i < n; i++)
        fputc(c, f);
    fputs(end, f);
}

static void expect_line(const lines_t *l, unsigned i, char first, size_t len, bool whole)
{
    assert_int_equal(l->first[i], first);
    assert_int_equal(l->len[i], len);
    assert_int_equal(l->whole[i], whole);
}

/* "longer than 65535 bytes" is garbage, so a line of 65535 bytes is not:
 * with its "\n" or its "\r\n", it is passed whole; one byte more is cut. */
static void line_of_the_limit_is_whole(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    put_line(f, 'a', READER_LINE_MAX, "\n");
    put_line(f, 'b', READER_LINE_MAX, "\r\n");
    put_line(f, 'c', READER_LINE_MAX + 1, "\n");
    put_line(f, 'd', 70000, "\n");
    put_line(f, '{', 1, "}\n");
    put_line(f, 'e', READER_LINE_MAX + 1, "");     /* no newline at the end */
    fflush(f);
    reader_t rd;
    assert_int_equal(reader_init(&rd), 0);
    rd.fd = dup(fileno(f));         /* the reader closes its own */
    assert_true(rd.fd >= 0);
    assert_int_equal(lseek(rd.fd, 0, SEEK_SET), 0);
    lines_t l = {0};
    while (rd.fd >= 0)
        reader_drain(&rd, on_line, &l);
    assert_int_equal(l.n, 6);
    expect_line(&l, 0, 'a', READER_LINE_MAX, true);
    expect_line(&l, 1, 'b', READER_LINE_MAX, true);
    expect_line(&l, 2, 'c', READER_LINE_MAX, false);
    expect_line(&l, 3, 'd', READER_LINE_MAX, false);
    expect_line(&l, 4, '{', 2, true);
    expect_line(&l, 5, 'e', READER_LINE_MAX, false);
    reader_reset(&rd);
    fclose(f);
}

/* A line counter for the reader's bounds. */
static void count_line(void *arg, unsigned lineno, char *line, size_t len, bool whole)
{
    (void)lineno, (void)line, (void)len, (void)whole;
    (*(unsigned *)arg)++;
}

/* A flood of short lines (`yes`) is handed out a bounded number per call,
 * so that one pass of the loop stays short; all of them, call by call. */
static void reader_bounds_lines_per_call(void **state)
{
    (void)state;
    enum { LINES = 50000 };
    FILE *f = tmpfile();
    assert_non_null(f);
    for (int i = 0; i < LINES; i++)
        fputs("y\n", f);
    fflush(f);
    reader_t rd;
    assert_int_equal(reader_init(&rd), 0);
    rd.fd = dup(fileno(f));
    assert_int_equal(lseek(rd.fd, 0, SEEK_SET), 0);
    unsigned n = 0;
    reader_drain(&rd, count_line, &n);
    assert_true(n > 0 && n <= 1000 + 16384 / 2);
    for (int calls = 0; rd.fd >= 0 && calls < 1000; calls++)
        reader_drain(&rd, count_line, &n);
    assert_int_equal(n, LINES);
    reader_reset(&rd);
    fclose(f);
}

/* A process the command left running holds the pipe: reader_finish reads
 * what is there, the last line without its newline too, and closes it. */
static void reader_finish_ends_a_held_pipe(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "a\nbc", 4), 4);
    reader_t rd;
    assert_int_equal(reader_init(&rd), 0);
    rd.fd = p[0];
    assert_int_equal(fcntl(rd.fd, F_SETFL, O_NONBLOCK), 0);
    lines_t l = {0};
    reader_finish(&rd, on_line, &l);
    assert_int_equal(rd.fd, -1);
    assert_int_equal(l.n, 2);
    expect_line(&l, 0, 'a', 1, true);
    expect_line(&l, 1, 'b', 2, true);
    reader_reset(&rd);
    close(p[1]);
}

/* ---- wlog.c: the record's cut, the budget ---- */

/* What the records written by fn(arg) look like on stderr: into buf. */
static size_t capture_stderr(void (*fn)(const void *), const void *arg, char *buf, size_t size)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    int saved = dup(2);
    assert_true(saved >= 0 && dup2(fileno(f), 2) == 2);
    fn(arg);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    rewind(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n;
}

static void log_text(const void *text)
{
    wlog_rec_t r;
    wlog_begin(&r, LOG_INFO, "cmd.stderr");
    wlog_str(&r, "text", text);
    wlog_end(&r);
}

/* A long line of Chinese from a command is cut between characters, and the
 * record keeps its closing quote: the journal shows a record with half a
 * character as a blob, and a logfmt reader wants the quote. */
static void long_record_cut_between_characters(void **state)
{
    (void)state;
    static char text[8000], out[2 * WLOG_LINE];
    for (size_t lead = 0; lead < 3; lead++) {
        memset(text, 'x', lead);
        strcpy(text + lead, " ");                   /* a value to be quoted */
        for (int i = 0; i < 1000; i++)
            strcat(text, "井盖");
        size_t n = capture_stderr(log_text, text, out, sizeof out);
        assert_true(n > WLOG_LINE - 8 && n <= WLOG_LINE);
        assert_true(utf8_valid(out, n, NULL));
        assert_memory_equal(out + n - 2, "\"\n", 2);
    }
}

static void log_err_as_journal(const void *arg)
{
    (void)arg;
    struct stat st;
    char js[64];
    assert_int_equal(fstat(2, &st), 0);
    snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", js, 1);
    wlog_set_level(LOG_INFO);           /* looks at stderr again */
    wlog_say(LOG_ERR, "assignment.returned", "case_id", "7");
    wlog_say(LOG_DEBUG, "below.level", "case_id", "7");
    unsetenv("JOURNAL_STREAM");
    wlog_set_level(LOG_INFO);
    wlog_say(LOG_WARNING, "cmd.failed", "case_id", "7");
}

/* Under systemd each record carries its priority for the journal ("<3>"
 * for err): without it every record lands at the unit's default, info, and
 * `journalctl -p err` never shows a worker sending its cases back. */
static void journal_lines_carry_their_priority(void **state)
{
    (void)state;
    char out[4096];
    capture_stderr(log_err_as_journal, NULL, out, sizeof out);
    assert_non_null(strstr(out, "<3>ts="));
    assert_non_null(strstr(out, " severity=err event=assignment.returned case_id=7\n"));
    assert_null(strstr(out, "below.level"));
    /* not the journal: the plain line, no prefix */
    char *warn = strstr(out, "ts=");
    assert_non_null(warn = strstr(warn + 1, "ts="));
    assert_true(warn[-1] == '\n');
    assert_non_null(strstr(warn, "severity=warning event=cmd.failed"));
}

/* At most 20 records per 10 s; the count held back is told when the
 * window has ended, or at the end of the source. */
static void quota_counts_what_it_holds_back(void **state)
{
    (void)state;
    wlog_quota_t q = {0};
    unsigned ended, passed = 0;
    for (int i = 0; i < 25; i++) {
        passed += wlog_quota_take(&q, 20, 10000, 0, &ended);     /* now 0: a fresh budget */
        assert_int_equal(ended, 0);
    }
    assert_int_equal(passed, 20);
    assert_false(wlog_quota_take(&q, 20, 10000, 9999, &ended));
    assert_int_equal(ended, 0);
    assert_true(wlog_quota_take(&q, 20, 10000, 10000, &ended));    /* a new window */
    assert_int_equal(ended, 6);
    for (int i = 0; i < 25; i++)
        wlog_quota_take(&q, 20, 10000, 15000, &ended);
    assert_int_equal(wlog_quota_end(&q), 6);
    assert_int_equal(wlog_quota_end(&q), 0);
}

/* ---- proto/mask.c: numbers on a command's stderr ---- */

static void expect_masked(const char *text, const char *want)
{
    char out[256];
    mask_text(text, out, sizeof out);
    assert_string_equal(out, want);
}

/* Phone numbers as people write them in a debugging line; what is plainly
 * no phone number (a date, a ratio of two small numbers) stays. */
static void mask_widened_separators(void **state)
{
    (void)state;
    expect_masked("call 138 - 1234 - 5678 now", "call 138 - **** - 5678 now");
    expect_masked("138/1234/5678", "138/****/5678");
    expect_masked("138_1234_5678", "138_****_5678");
    expect_masked("138 / 1234 / 5678", "138 / **** / 5678");
    expect_masked("tel:13812\033[0m345678 x", "tel:138**\033[0m**5678 x");
    expect_masked("\033[31m13812345678\033[0m", "\033[31m138****5678\033[0m");
    expect_masked("2024/05/01 2024 - 05 - 01 120/300 3 - 4", "2024/05/01 2024 - 05 - 01 120/300 3 - 4");
    expect_masked("138 -/ 1234", "138 -/ 1234");    /* two marks: no number */
    expect_masked("138\t1234\t5678", "138\t****\t5678");
    expect_masked("138  1234  5678", "138  ****  5678");
    expect_masked("138 \033[31m1234\033[0m 5678", "138 \033[31m****\033[0m 5678");
    expect_masked("138     1234", "138     1234");  /* 5 spaces: two columns */
    /* a control byte between the groups: shown as a space or '?' later */
    expect_masked("tel 1381234\x01" "5678 ok", "tel 138****\x01" "5678 ok");
    expect_masked("138\r1234\r5678", "138\r****\r5678");
    expect_masked("1381234\n5678", "138****\n5678");   /* a newline: shown as \n or '?' */
    expect_masked("138123\033" "45678", "138***\033" "*5678");   /* an ESC that starts no escape */
    expect_masked("138123\x7f" "45678", "138***\x7f" "*5678");   /* DEL */
    expect_masked("138123\xc2\x85" "45678", "138***\xc2\x85" "*5678");   /* C1: NEL */
}

/* A number read out on the phone is often typed digit by digit: spaced
 * single digits are one number; a date or a time in groups of two is none. */
static void mask_single_digits(void **state)
{
    (void)state;
    expect_masked("电话 1 3 8 1 2 3 4 5 6 7 8 谢谢", "电话 1 3 8 * * * * 5 6 7 8 谢谢");
    expect_masked("1-3-8-1-2-3-4-5-6-7-8", "1-3-8-*-*-*-*-5-6-7-8");
    expect_masked("\uff11 \uff13 \uff18 \uff11 \uff12 \uff13 \uff14 \uff15 \uff16 \uff17 \uff18",
                  "\uff11 \uff13 \uff18 * * * * \uff15 \uff16 \uff17 \uff18");
    expect_masked("8 6 0 0 1 2 3 4", "* * * * * * 3 4");
    expect_masked("1 3 8 1234 5678", "1 3 8 **** **78");  /* two numbers: each masked or short */
    expect_masked("1 2 3 4 5 6 people", "1 2 3 4 5 6 people");
    expect_masked("2024-05-01 10:30, 1 - 2", "2024-05-01 10:30, 1 - 2");
    expect_masked("138 12 34 56 78", "138 ** ** ** 78");   /* in pairs */
}

/* The separators of numbers pasted from chat apps and web pages, and the
 * e-mail addresses of free text; a list of numbers stays a list. */
static void mask_pasted_text(void **state)
{
    (void)state;
    expect_masked("电话138，1234，5678。", "电话138，****，5678。");
    expect_masked("138、1234、5678", "138、****、5678");
    expect_masked("138\u200b1234\u200b5678", "138\u200b****\u200b5678");
    expect_masked("138--1234--5678; 138\u2014\u20141234\u2014\u20145678",
                  "138--****--5678; 138\u2014\u2014****\u2014\u20145678");
    expect_masked("138:1234:5678; 138\u00b71234\u00b75678", "138:****:5678; 138\u00b7****\u00b75678");
    expect_masked("13812345678、13987654321", "138****5678、139****4321");
    expect_masked("138-1234-5678, 139 8765 4321", "138-****-5678, 139 **** 4321");
    expect_masked("1,234,567 元, 10:30:45", "1,234,567 元, 10:30:45");
    expect_masked("邮箱zhang.san@example.com。QQ 12345678@qq.com",
                  "邮箱z***@example.com。QQ 1***@qq.com");
    expect_masked("user@localhost, a@b, @x.com, x@.com", "user@localhost, a@b, @x.com, x@.com");
}

static void expect_known(const char *text, const char *want)
{
    const mask_person_t p = {"小明", "王", "文三路123号4栋", "zhang.san@example.com", NULL};
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    mask_known(buf, &p);
    assert_string_equal(buf, want);
}

/* The resident's own name, address and e-mail, however a command prints
 * them; a one-character surname alone is not looked for (it would mask that
 * character everywhere). */
static void mask_known_values(void **state)
{
    (void)state;
    expect_known("居民王小明住文三路123号4栋", "居民***住*********");
    expect_known("王 小明, 小明王, 小明, 王师傅", "****, ***, **, 王师傅");
    expect_known("mail zhang.san@example.com.", "mail *********************.");
    expect_known("文三路123号 only part", "文三路123号 only part");
    const mask_person_t none = {NULL, "", NULL, NULL, NULL};
    char buf[] = "王小明";
    mask_known(buf, &none);
    assert_string_equal(buf, "王小明");
}

/* F2, F5 of the review: a phone number URL-encoded by a command that calls
 * an SMS gateway (set -x, curl -v, an HTTP client's exception), and the
 * separators of a table or a message split over lines. */
static void mask_url_encoded_numbers(void **state)
{
    (void)state;
    expect_masked("to=%2B86+138+0013+8000", "to=%2B86+138+****+8000");
    expect_masked("to=138%200013%208000", "to=138%20****%208000");
    expect_masked("to=%2B86%20138%200013%208000", "to=%2B86%20138%20****%208000");
    expect_masked("%2b86%2d138%2d0013%2d8000", "%2b86%2d138%2d****%2d8000");
    expect_masked("138+0013+8000 2+2", "138+****+8000 2+2");
    expect_masked("%2012345", "%*****45");      /* no number after the escape: as before */
    /* a non-ASCII separator escaped: a full-width dash or comma in a URL (in
     * UTF-8 or GBK), an ideographic space in JSON and in Python's bytes */
    expect_masked("to=138%EF%BC%8D0013%EF%BC%8D8000", "to=138%EF%BC%8D****%EF%BC%8D8000");
    expect_masked("to=138%A3%AD0013%A3%AD8000", "to=138%A3%AD****%A3%AD8000");
    expect_masked("138\\u30000013\\u30008000", "138\\u3000****\\u30008000");
    expect_masked("138\\xe3\\x80\\x800013\\xe3\\x80\\x808000",
                  "138\\xe3\\x80\\x80****\\xe3\\x80\\x808000");
    expect_masked("13800138000%EF%BC%8C13912345678", "138****8000*139****5678");
    /* \t, \n as JSON and Python write them; a str's repr of a no-break
     * space, \xa0; GBK's marks only, not any character (2024年1000元) */
    expect_masked("tel 138\\t0013\\n8000", "tel 138\\t****\\n8000");
    expect_masked("tel 138\\t0013\\t8000", "tel 138\\t****\\t8000");
    expect_masked("'138\\xa00013\\xa08000'", "'138\\xa0****\\xa08000'");
    expect_masked("q=2024%C4%EA1000%D4%AA 1203%CA%D25678", "q=2024**1000* 1203**5678");
    expect_masked("138|0013|8000", "138|****|8000");
    expect_masked("138*0013*8000", "138******8000");
    expect_masked("138\uff5c0013\uff5c8000", "138\uff5c****\uff5c8000");
    expect_masked("bad row:\n138\n0013\n8000", "bad row:\n138\n****\n8000");
    expect_masked("| 100 | 200 |", "| 100 | 200 |");
}

/* F1: text a command printed escaped, JSON's \uXXXX (json.dumps, PHP's
 * json_encode), Python's bytes, a URL's %XX: masked whatever it says, one
 * '*' a character; escaped ASCII stays readable. */
static void mask_escaped_text(void **state)
{
    (void)state;
    expect_masked("\\u738b\\u5c0f\\u660e", "***");
    expect_masked("\\u738B\\u5C0F \\ud842\\udfb7", "** **");
    expect_masked("name=%E7%8E%8B%E5%B0%8F%E6%98%8E&n=%e7%8e%8b", "name=***&n=*");
    expect_masked("b'\\xe7\\x8e\\x8b'", "b'*'");
    expect_masked("%CD%F5 %E7%8E", "** **");     /* GBK, a character cut short */
    expect_masked("\\u5355\\u5143501\\u5ba4", "**501*");
    expect_masked("\\u0041 %41 \\x41 %20 \\u00 %zz", "\\u0041 %41 \\x41 %20 \\u00 %zz");
}

/* F3: a coordinate as programs print one keeps its whole part; the figures
 * of an ordinary log line keep theirs. */
static void mask_coordinates(void **state)
{
    (void)state;
    expect_masked("geocode 36.061089,103.834304", "geocode 36.******,103.******");
    expect_masked("{\"lat\":36.061089,\"long\":103.834304}", "{\"lat\":36.******,\"long\":103.******}");
    expect_masked("POINT(103.834304 36.061089) lat=-33.8688", "POINT(103.****** 36.******) lat=-33.****");
    expect_masked("0.123456 1.234 s 12.50 元 v1.2.3 10.0.12.34 99.5% 3.14 05.12345 36.061 1.2.3456",
                  "0.123456 1.234 s 12.50 元 v1.2.3 10.0.12.34 99.5% 3.14 05.12345 36.061 1.2.3456");
    expect_masked("138.0013.8000", "138.****.8000");     /* a second dot: a number */
    expect_masked("200.12345", "***.***45");             /* over 180: a number */
}

/* the case of the review, as the adapter keeps it from the job's input */
static const mask_person_t resident = {"小明", "王", "甘肃省兰州市城关区幸福小区3栋2单元501室",
                                       "xiaoming.wang@163.com", "+86 138 0013 8000"};

static void expect_resident(const char *text, const char *want)
{
    char buf[512], out[1024];
    snprintf(buf, sizeof buf, "%s", text);
    mask_known(buf, &resident);
    mask_text(buf, out, sizeof out);
    assert_string_equal(out, want);
}

/* F1: the case's own values however a command escaped them, and its phone
 * by its digits whatever stands between them. */
static void mask_known_escaped(void **state)
{
    (void)state;
    expect_resident("{\"first_name\": \"\\u5c0f\\u660e\", \"last_name\": \"\\u738b\"}",
                    "{\"first_name\": \"**\", \"last_name\": \"*\"}");
    expect_resident("addr=%E7%94%98%E8%82%83%E7%9C%81%E5%85%B0%E5%B7%9E%E5%B8%82%E5%9F%8E%E5%85%B3"
                    "%E5%8C%BA%E5%B9%B8%E7%A6%8F%E5%B0%8F%E5%8C%BA3%E6%A0%8B2%E5%8D%95%E5%85%83501"
                    "%E5%AE%A4 mail=xiaoming.wang%40163.com", "addr=********************** mail=*********************");
    expect_resident("to=%2B86+138+0013+8000 tel 138\xa3\xad" "0013\xa3\xad" "8000",
                    "to=%2B86+138+****+8000 tel 138??****??8000");
    expect_resident("8613800138000 and 138       0013      8000", "86138****8000 and 138       ****      8000");
    expect_resident("12345 热线, 1 3 8 0 0 1 3 8 0 0 0", "12345 热线, 1 3 8 * * * * 8 0 0 0");
    expect_resident("王小明13800138000", "***138****8000");
    /* mask_known alone, not mask_text's escaped text: each escape decoded */
    char buf[] = "\\u738B\\u5C0F\\u660E %E7%8E%8b%E5%B0%8F%E6%98%8E \\xe7\\x8e\\x8b\\xe5\\xb0\\x8f\\xe6"
                 "\\x98\\x8e Zo\\u00eb \\ud842\\udfb7\\u91ce";
    const mask_person_t p = {"小明", "王", NULL, NULL, NULL}, q = {"Zoë", "𠮷野", NULL, NULL, NULL};
    mask_known(buf, &p);
    mask_known(buf, &q);
    assert_string_equal(buf, "*** *** *** ******");     /* Zoë 𠮷野: one name */
}

/* The adapter keeps the phone of the job's case for mask_known. */
static void job_keeps_the_phone(void **state)
{
    (void)state;
    json_t *in = json_pack("{s:{s:s, s:s}}", "case", "phone", "+86 138 0013 8000", "first_name", "小明");
    job_t *j = job_new(JOB_ASSIGNMENT, 1, 1, "water", in);
    assert_non_null(j);
    mask_person_t p = job_person(j);
    char line[] = "+ curl http://sms/send?to=138%200013%208000";
    mask_known(line, &p);
    assert_string_equal(line, "+ curl http://sms/send?to=138%20****%208000");
    job_destroy(&j);
}

/* F4: the case's ASCII values match in any case. */
static void mask_known_any_case(void **state)
{
    (void)state;
    const mask_person_t p = {"Xiaoming", "Wang", "Rm 501 Bldg 3 Xingfu Garden", "Xiaoming.Wang@163.com", NULL};
    char buf[] = "WANG XIAOMING, xiaoming wang, RM 501 BLDG 3 XINGFU GARDEN, XIAOMING.WANG@163.COM";
    mask_known(buf, &p);
    assert_string_equal(buf, "*************, *************, ***************************, "
                             "*********************");
    /* but a name of letters is a word of its own: not the Li of "client" */
    const mask_person_t li = {"Na", "Li", NULL, NULL, NULL};
    char line[] = "delivered to client line, Li Na called; LI, na";
    mask_known(line, &li);
    assert_string_equal(line, "delivered to client line, ***** called; **, **");
}

/* F6: a text cut from a longer one: the case's value the cut ends inside is
 * masked to the end, and what mask_text may see stops before a piece of a
 * number or an address the cut left. */
static void expect_cut(const char *text, const char *want)
{
    char buf[512], out[1024];
    snprintf(buf, sizeof buf, "%s", text);
    mask_known_cut(buf, &resident);
    buf[mask_cut_point(buf)] = '\0';
    mask_text(buf, out, sizeof out);
    assert_string_equal(out, want);
}

static void mask_cut_text(void **state)
{
    (void)state;
    expect_cut("dump: a@x.cn xiaoming.wang@16", "dump: a***@x.cn ");
    expect_cut("to zhang.san@163", "to ");
    expect_cut("address 甘肃省兰州市城关", "address ");
    expect_cut("name \\u738b\\u5c0f", "name ");
    expect_cut("tel 139 1234 56", "tel ");
    expect_cut("tel 139 - 1234 - 56", "tel ");
    expect_cut("(tel 139)1234", "(tel 139)");
    expect_cut("居民来电说12", "居民来电说");
    expect_cut("all of it", "all of ");
    /* a cut inside a character or an escape that sits between digits (the
     * reader cuts at a byte count): the digits before it are not shown */
    expect_cut("tel \xef\xbc\x91\xef\xbc\x93\xef\xbc\x99\xef\xbc\x99\xef\xbc", "tel ");
    expect_cut("tel 139912\xe3\x80", "tel ");
    expect_cut("tel 139912\033[3", "tel ");
    /* an escaped mark and a space after it join a number's groups: no cut there */
    expect_cut("id 620102%EF%BC%8D 1990010112", "id ");
    expect_cut("id 620102\\uff0d 1990010112", "id ");
    expect_cut("tel 138001%A3%AD 38000", "tel ");
    char whole[] = "dump: xiaoming.wang@16";
    mask_known(whole, &resident);                /* not cut: what is not the value stays */
    assert_string_equal(whole, "dump: xiaoming.wang@16");
}

/* ---- wconfig.c: option values ---- */

/* wconfig_parse of the required options and one more; its status, and its
 * message in why. */
static int parse_with(const char *opt, const char *value, char *why, size_t len)
{
    char *argv[] = {"minqing-worker", "--endpoint", "ipc:///tmp/w.sock", "--department",
                    "water", "--exec", "true", (char *)opt, (char *)value, NULL};
    char *error = NULL;
    wconfig_t *c = wconfig_new();
    assert_non_null(c);
    optind = 0;                     /* getopt_long from scratch for each argv */
    int rc = wconfig_parse(c, 9, argv, &error);
    snprintf(why, len, "%s", error ? error : "");
    free(error);
    wconfig_destroy(&c);
    return rc;
}

static void expect_usage_error(const char *opt, const char *value, const char *key)
{
    char why[200], want[64];
    snprintf(want, sizeof want, "%s: bad value", key);
    assert_int_equal(parse_with(opt, value, why, sizeof why), 2);
    assert_non_null(strstr(why, want));
}

/* strtol would take " 5" and "+5": each is refused like "+5" for a
 * duration, with the same usage error. */
static void numbers_start_with_a_digit(void **state)
{
    (void)state;
    static const char *const opts[][2] = {
        {"--concurrency", "concurrency"}, {"--capacity", "capacity"},
        {"--retries", "retries"}, {"--timeout", "timeout"},
    };
    static const char *const bad[] = {" 5", "+5", " +5", "\t5", "-0", ""};
    char why[200];
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
            expect_usage_error(opts[i][0], bad[k], opts[i][1]);
        assert_int_equal(parse_with(opts[i][0], "5", why, sizeof why), 0);
    }
    expect_usage_error("--timeout", " 5s", "timeout");
    assert_int_equal(parse_with("--timeout", "5s", why, sizeof why), 0);
}

static void empty_name_refused(void **state)
{
    (void)state;
    char why[200];
    expect_usage_error("--name", "", "name");
    assert_int_equal(parse_with("--name", "water@host1", why, sizeof why), 0);
}

/* ---- delivery.c: no memory for a job ---- */

static void *no_memory(size_t size)
{
    (void)size;
    return NULL;
}

/* Without a job the command cannot run, and the broker would not deliver
 * the assignment again: it is returned (reason other), once; a copy that
 * comes before the broker has the RETURNED does not run. */
static void assignment_without_memory_is_returned(void **state)
{
    (void)state;
    adapter_t ad = {.cfg = wconfig_new(), .seen = seen_new(16), .tail = &ad.jobs};
    assert_non_null(ad.cfg);
    assert_non_null(ad.seen);
    ad.cfg->department = strdup("water");
    queued = (mq_assignment_t){.assignment_id = 7, .case_id = 3, .department = "water",
                               .role = ROLE_LEAD, .attempt = 1};
    nqueued = 1;
    json_set_alloc_funcs(no_memory, free);      /* the case's JSON cannot be made */
    assert_int_equal(delivery_take(&ad), 0);
    json_set_alloc_funcs(malloc, free);
    assert_null(ad.jobs);
    assert_int_equal(nreturned, 1);
    assert_int_equal(returned_id, 7);
    assert_int_equal(returned_reason, RETURN_OTHER);
    nqueued = 1;                                /* the copy, memory back */
    assert_int_equal(delivery_take(&ad), 0);
    assert_null(ad.jobs);
    assert_int_equal(nreturned, 1);
    seen_destroy(&ad.seen);
    wconfig_destroy(&ad.cfg);
}

/* An assignment left open with the department comes again with every new
 * session, however many cases finished since: the ids of finished ones,
 * which come by the thousand, must not push it out, or its command runs
 * again (a second SMS to the resident, a CONTACTED refused). */
static void open_assignments_outlast_finished_ones(void **state)
{
    (void)state;
    seen_t *s = seen_new(4);
    assert_non_null(s);
    seen_keep(s, 100);
    for (uint64_t id = 1; id <= 10; id++)
        seen_add(s, id);
    assert_true(seen_has(s, 100));
    assert_false(seen_has(s, 6));               /* the finished ones: the last 4 */
    assert_true(seen_has(s, 7));
    assert_true(seen_has(s, 10));
    for (uint64_t id = 200; id < 204; id++)     /* open ones push out open ones only */
        seen_keep(s, id);
    assert_false(seen_has(s, 100));
    assert_true(seen_has(s, 10));
    seen_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(line_of_the_limit_is_whole),
        cmocka_unit_test(reader_bounds_lines_per_call),
        cmocka_unit_test(reader_finish_ends_a_held_pipe),
        cmocka_unit_test(long_record_cut_between_characters),
        cmocka_unit_test(journal_lines_carry_their_priority),
        cmocka_unit_test(quota_counts_what_it_holds_back),
        cmocka_unit_test(mask_widened_separators),
        cmocka_unit_test(mask_single_digits),
        cmocka_unit_test(mask_pasted_text),
        cmocka_unit_test(mask_known_values),
        cmocka_unit_test(mask_url_encoded_numbers),
        cmocka_unit_test(mask_escaped_text),
        cmocka_unit_test(mask_coordinates),
        cmocka_unit_test(mask_known_escaped),
        cmocka_unit_test(job_keeps_the_phone),
        cmocka_unit_test(mask_known_any_case),
        cmocka_unit_test(mask_cut_text),
        cmocka_unit_test(numbers_start_with_a_digit),
        cmocka_unit_test(empty_name_refused),
        cmocka_unit_test(assignment_without_memory_is_returned),
        cmocka_unit_test(open_assignments_outlast_finished_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
