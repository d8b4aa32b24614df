/*
 * calendar.c - working days and working hours (see calendar.h).
 *
 * Days are walked one at a time in local time with mktime, which keeps the
 * arithmetic right across month ends; times within a day are wall-clock
 * times turned into instants by mktime too, so a 09:00 window opens at 09:00
 * on a day the clocks change. A deadline is at most a few hundred days out,
 * so walking is cheap.
 */
#include "calendar.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_WALK_DAYS 3660          /* ten years: a calendar with no working day ends here */
#define HOLIDAY_FILE_MAX (1 << 20)  /* a century of holidays is 40 kB */
#define HOLIDAY_ERRORS_MAX 20       /* lines reported of a file that is wrong throughout */
#define DAY_MS (24 * 3600 * 1000LL)

void calendar_init(calendar_t *cal)
{
    memset(cal, 0, sizeof *cal);
    cal->weekdays = 0x3e;           /* Monday to Friday */
    cal->hours[0].start = 9 * 60, cal->hours[0].end = 12 * 60;
    cal->hours[1].start = 13 * 60 + 30, cal->hours[1].end = 17 * 60 + 30;
    cal->nhours = 2;
}

void calendar_free(calendar_t *cal)
{
    free(cal->holidays);
    free(cal->makeup);
    cal->holidays = cal->makeup = NULL;
    cal->nholidays = cal->nmakeup = 0;
}

/* ---- parsing --------------------------------------------------------- */

static int weekday_index(const char *s, size_t len)
{
    static const char *const names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    for (int i = 0; i < 7; i++)
        if (len == 3 && strncasecmp(s, names[i], 3) == 0)
            return i;
    return -1;
}

int calendar_set_weekdays(calendar_t *cal, const char *text)
{
    uint8_t mask = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        int a = weekday_index(p, strnlen(p, 3)), b = a;
        if (a < 0)
            return -1;              /* checked before stepping over it: "tu" is short */
        p += 3;
        if (*p == '-') {
            if ((b = weekday_index(p + 1, strnlen(p + 1, 3))) < 0)
                return -1;
            p += 4;
        }
        if (*p && *p != ',' && *p != ' ')
            return -1;
        for (int d = a;; d = (d + 1) % 7) {     /* "fri-mon" wraps over the weekend */
            mask |= (uint8_t)(1u << d);
            if (d == b)
                break;
        }
    }
    if (!mask)
        return -1;
    cal->weekdays = mask;
    return 0;
}

/* "HH:MM" at p into minutes; the number of characters read, or -1. */
static int parse_hhmm(const char *p, int *minutes)
{
    if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) || p[2] != ':' ||
        !isdigit((unsigned char)p[3]) || !isdigit((unsigned char)p[4]))
        return -1;
    int h = (p[0] - '0') * 10 + p[1] - '0', m = (p[3] - '0') * 10 + p[4] - '0';
    if (h > 24 || m > 59 || (h == 24 && m))
        return -1;
    *minutes = h * 60 + m;
    return 5;
}

int calendar_set_hours(calendar_t *cal, const char *text)
{
    int n = 0, start, end;
    const char *p = text;
    calendar_window_t hours[CALENDAR_MAX_WINDOWS];
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        int k = parse_hhmm(p, &start);
        if (k < 0 || p[k] != '-' || n == CALENDAR_MAX_WINDOWS)
            return -1;
        p += k + 1;
        if ((k = parse_hhmm(p, &end)) < 0 || end <= start || (n && start < hours[n - 1].end))
            return -1;              /* windows must be in order and apart */
        p += k;
        if (*p && *p != ',' && *p != ' ')
            return -1;              /* "12:0013:00" is not two windows */
        hours[n].start = start;
        hours[n].end = end;
        n++;
    }
    if (!n)
        return -1;
    memcpy(cal->hours, hours, sizeof hours);
    cal->nhours = n;
    return 0;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int push_day(int32_t **v, size_t *n, int32_t day)
{
    int32_t *nv = realloc(*v, (*n + 1) * sizeof **v);
    if (!nv)
        return -1;
    *v = nv;
    (*v)[(*n)++] = day;
    return 0;
}

/* Whether y-m-d exists (no February 30th): mktime normalises impossible dates. */
static bool real_date(int y, int m, int d)
{
    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
        return false;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 12,
                    .tm_isdst = -1};
    return mktime(&tm) != (time_t)-1 && tm.tm_mday == d && tm.tm_mon == m - 1;
}

typedef enum { DAY_NONE, DAY_HOLIDAY, DAY_WORKDAY } day_kind_t;

/* Read one line of a holiday file (its comment cut off): NULL with *day and
 * *kind (DAY_NONE for a blank line), or a reason. */
static const char *parse_line(char *line, int32_t *day, day_kind_t *kind)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    int y, m, d;
    char word[16], extra;
    int got = sscanf(line, " %4d-%2d-%2d %15s %c", &y, &m, &d, word, &extra);
    *kind = DAY_NONE;
    if (got == EOF)
        return NULL;                /* blank or comment */
    if (got != 4 || !real_date(y, m, d))
        return "expected 'YYYY-MM-DD holiday' or 'YYYY-MM-DD workday' with a real date";
    *day = y * 10000 + m * 100 + d;
    *kind = strcmp(word, "holiday") == 0 ? DAY_HOLIDAY
          : strcmp(word, "workday") == 0 ? DAY_WORKDAY : DAY_NONE;
    return *kind ? NULL : "the kind must be 'holiday' or 'workday'";
}

/* One line of a holiday file into cal; NULL ok (or blank), else a reason. */
static const char *holiday_line(calendar_t *cal, char *line)
{
    int32_t day;
    day_kind_t kind;
    const char *why = parse_line(line, &day, &kind);
    if (why || kind == DAY_NONE)
        return why;
    int rc = kind == DAY_HOLIDAY ? push_day(&cal->holidays, &cal->nholidays, day)
                                 : push_day(&cal->makeup, &cal->nmakeup, day);
    return rc ? "out of memory" : NULL;
}

/* The first line of the file at path that lists day as kind; 0 if none. A
 * conflict is rare, so its lines are looked up again rather than kept for
 * every day. */
static int line_of(const char *path, int32_t day, day_kind_t kind)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, found = 0;
    while (f && !found && getline(&line, &cap, f) >= 0) {
        int32_t d;
        day_kind_t k;
        lineno++;
        if (!parse_line(line, &d, &k) && k == kind && d == day)
            found = lineno;
    }
    free(line);
    if (f)
        fclose(f);
    return found;
}

/* Append "FILE[:LINE]: what" as one more line of err (the caller splits them). */
static void say(char *err, size_t errlen, const char *path, int lineno, const char *what)
{
    size_t used = strlen(err);
    if (used + 1 >= errlen)
        return;
    const char *nl = used ? "\n" : "";
    if (lineno)
        snprintf(err + used, errlen - used, "%s%s:%d: %s", nl, path, lineno, what);
    else
        snprintf(err + used, errlen - used, "%s%s: %s", nl, path, what);
}

/* A day both off and worked is a typo in one of the two lines. */
static int conflicts(const calendar_t *cal, const char *path, char *err, size_t errlen)
{
    int n = 0;
    for (size_t i = 0; i < cal->nmakeup; i++)
        if (bsearch(&cal->makeup[i], cal->holidays, cal->nholidays, sizeof *cal->holidays,
                    cmp_i32)) {
            char what[120];
            int32_t d = cal->makeup[i];
            snprintf(what, sizeof what, "%04d-%02d-%02d is listed both as holiday and as "
                     "workday (as holiday on line %d)", d / 10000, d / 100 % 100, d % 100,
                     line_of(path, d, DAY_HOLIDAY));
            say(err, errlen, path, line_of(path, d, DAY_WORKDAY), what);
            n++;
        }
    return n;
}

int calendar_load(calendar_t *cal, const char *path, char *err, size_t errlen)
{
    *err = '\0';
    FILE *f = fopen(path, "r");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        char what[160];
        snprintf(what, sizeof what, "cannot open the holiday file: %s", strerror(errno));
        say(err, errlen, path, 0, what);
        if (f)
            fclose(f);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > HOLIDAY_FILE_MAX) {
        say(err, errlen, path, 0, S_ISREG(st.st_mode) ? "larger than 1 MB: not a holiday file"
                                                        : "not a regular file");
        fclose(f);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, bad = 0;
    while (getline(&line, &cap, f) >= 0) {  /* any length: comments may be long */
        const char *why = holiday_line(cal, line);
        lineno++;
        if (why && ++bad <= HOLIDAY_ERRORS_MAX)
            say(err, errlen, path, lineno, why);
    }
    if (ferror(f)) {
        char what[160];
        snprintf(what, sizeof what, "read error after line %d: %s", lineno, strerror(errno));
        say(err, errlen, path, 0, what);
        bad++;
    }
    free(line);
    fclose(f);
    if (cal->nholidays)
        qsort(cal->holidays, cal->nholidays, sizeof *cal->holidays, cmp_i32);
    if (cal->nmakeup)
        qsort(cal->makeup, cal->nmakeup, sizeof *cal->makeup, cmp_i32);
    bad += conflicts(cal, path, err, errlen);
    return bad ? -1 : 0;
}

int32_t calendar_last_day(const calendar_t *cal)
{
    int32_t h = cal->nholidays ? cal->holidays[cal->nholidays - 1] : 0;
    int32_t m = cal->nmakeup ? cal->makeup[cal->nmakeup - 1] : 0;
    return h > m ? h : m;
}

/* ---- days ------------------------------------------------------------ */

static bool has_day(const int32_t *v, size_t n, int32_t day)
{
    return n && bsearch(&day, v, n, sizeof *v, cmp_i32) != NULL;
}

bool calendar_is_workday(const calendar_t *cal, int32_t yyyymmdd, int weekday)
{
    if (weekday < 0 || weekday > 6)
        return false;
    if (has_day(cal->makeup, cal->nmakeup, yyyymmdd))
        return true;
    if (has_day(cal->holidays, cal->nholidays, yyyymmdd))
        return false;
    return (cal->weekdays >> weekday) & 1u;
}

/* A local day: its midnight in unix ms, date and weekday. */
typedef struct {
    int64_t midnight;
    int32_t ymd;
    int wday;
    struct tm tm;
} day_t;

static void day_of(int64_t ms, day_t *d)
{
    time_t t = (time_t)(ms / 1000);
    localtime_r(&t, &d->tm);
    d->tm.tm_hour = d->tm.tm_min = d->tm.tm_sec = 0;
    d->tm.tm_isdst = -1;
    d->midnight = (int64_t)mktime(&d->tm) * 1000;
    d->ymd = (d->tm.tm_year + 1900) * 10000 + (d->tm.tm_mon + 1) * 100 + d->tm.tm_mday;
    d->wday = d->tm.tm_wday;
}

/* The wall-clock time of ms within its local day, in ms since 00:00. */
static int64_t wall_of(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    return ((tm.tm_hour * 60 + tm.tm_min) * 60 + tm.tm_sec) * 1000LL + ms % 1000;
}

/* The instant of wall-clock time `wall` (ms since 00:00) on day d. */
static int64_t instant(const day_t *d, int64_t wall)
{
    struct tm tm = d->tm;
    tm.tm_hour = (int)(wall / 3600000), tm.tm_min = (int)(wall / 60000 % 60);
    tm.tm_sec = (int)(wall / 1000 % 60);
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm) * 1000 + wall % 1000;
}

static void next_day(day_t *d)
{
    /* noon of the next day is safely inside it whatever the clocks do */
    day_of(d->midnight + DAY_MS + DAY_MS / 2, d);
}

static bool works(const calendar_t *cal, const day_t *d)
{
    return calendar_is_workday(cal, d->ymd, d->wday);
}

/* ---- deadlines ------------------------------------------------------- */

/* The first working moment at or after ms. */
static int64_t next_working_time(const calendar_t *cal, int64_t ms)
{
    day_t d;
    day_of(ms, &d);
    int64_t tod = wall_of(ms);
    for (int i = 0; i < MAX_WALK_DAYS; i++, next_day(&d), tod = 0) {
        if (!works(cal, &d))
            continue;
        for (int w = 0; w < cal->nhours; w++) {
            int64_t s = cal->hours[w].start * 60000LL, e = cal->hours[w].end * 60000LL;
            if (tod < e)
                return tod > s ? ms : instant(&d, s);     /* inside a window (day 0): now */
        }
    }
    return ms;
}

int64_t calendar_add_workdays(const calendar_t *cal, int64_t start_ms, int64_t n)
{
    int64_t from = next_working_time(cal, start_ms);
    day_t d;
    day_of(from, &d);
    int64_t tod = wall_of(from);
    if (n <= 0)
        return from;
    for (int i = 0; n > 0 && i < MAX_WALK_DAYS; i++) {
        next_day(&d);
        n -= works(cal, &d);
    }
    return instant(&d, tod);
}

int64_t calendar_add_workhours(const calendar_t *cal, int64_t start_ms, int64_t work_ms)
{
    day_t d;
    day_of(start_ms, &d);
    int64_t tod = wall_of(start_ms);
    for (int i = 0; i < MAX_WALK_DAYS; i++, next_day(&d), tod = 0) {
        if (!works(cal, &d))
            continue;
        for (int w = 0; w < cal->nhours; w++) {
            int64_t s = cal->hours[w].start * 60000LL, e = cal->hours[w].end * 60000LL;
            int64_t from = tod > s ? tod : s;
            if (from >= e)
                continue;
            if (work_ms <= e - from)
                return instant(&d, from + work_ms);
            work_ms -= e - from;
        }
    }
    return start_ms + work_ms;
}
