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
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* The days of one kind as read, each with its line: a conflict is reported
 * with both lines without reading the file again. */
typedef struct {
    int32_t day;
    int line;
} dated_t;

typedef struct {
    dated_t *v;
    size_t n, cap;
} dates_t;

static int dates_push(dates_t *d, int32_t day, int line)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        dated_t *v = realloc(d->v, cap * sizeof *v);
        if (!v)
            return -1;
        d->v = v, d->cap = cap;
    }
    d->v[d->n++] = (dated_t){day, line};
    return 0;
}

/* By day, then by line: the first line of a day comes first. */
static int cmp_dated(const void *a, const void *b)
{
    const dated_t *x = a, *y = b;
    if (x->day != y->day)
        return (x->day > y->day) - (x->day < y->day);
    return (x->line > y->line) - (x->line < y->line);
}

/* The problems of a holiday file: the first HOLIDAY_ERRORS_MAX are said,
 * each on a line of err, whole; the rest are counted, and said as a count
 * at the end (report_end), for which room is kept. */
typedef struct {
    char *err;
    size_t errlen;
    const char *path;
    int said, unsaid;
} holiday_report_t;

/* Append "FILE[:LINE]: what" as one more line of err (the caller splits
 * them) if it fits whole with `keep` bytes left over; false if not. */
static bool say(holiday_report_t *r, int lineno, const char *what, size_t keep)
{
    size_t used = strlen(r->err);
    char where[24] = "";
    if (lineno)
        snprintf(where, sizeof where, ":%d", lineno);
    size_t need = (used ? 1 : 0) + strlen(r->path) + strlen(where) + 2 + strlen(what) + 1;
    if (used + need + keep > r->errlen)
        return false;
    snprintf(r->err + used, r->errlen - used, "%s%s%s: %s", used ? "\n" : "", r->path, where,
             what);
    return true;
}

/* Room kept for the count of the problems not said. */
static size_t count_room(const holiday_report_t *r)
{
    return strlen(r->path) + 48;
}

static void report_line(holiday_report_t *r, int lineno, const char *what)
{
    if (r->said < HOLIDAY_ERRORS_MAX && say(r, lineno, what, count_room(r)))
        r->said++;
    else
        r->unsaid++;
}

static int report_end(holiday_report_t *r)
{
    if (r->unsaid) {
        char what[64];
        snprintf(what, sizeof what, "%d more problems not shown", r->unsaid);
        say(r, 0, what, 0);
    }
    return r->said + r->unsaid;
}

/* One line of a holiday file onto its list; NULL ok (or blank), else a reason. */
static const char *holiday_line(dates_t lists[3], char *line, int lineno)
{
    int32_t day;
    day_kind_t kind;
    const char *why = parse_line(line, &day, &kind);
    if (why || kind == DAY_NONE)
        return why;
    return dates_push(&lists[kind], day, lineno) ? "out of memory" : NULL;
}

/* A day both off and worked is a typo in one of the two lines: each
 * workday line of such a day is reported, with the day's first holiday
 * line. Both lists are sorted: one walk. */
static void conflicts(const dates_t *hol, const dates_t *work, holiday_report_t *r)
{
    size_t h = 0;
    for (size_t w = 0; w < work->n; w++) {
        int32_t d = work->v[w].day;
        while (h < hol->n && hol->v[h].day < d)
            h++;
        if (h == hol->n || hol->v[h].day != d)
            continue;
        char what[120];
        snprintf(what, sizeof what, "%04d-%02d-%02d is listed both as holiday and as "
                 "workday (as holiday on line %d)", d / 10000, d / 100 % 100, d % 100,
                 hol->v[h].line);
        report_line(r, work->v[w].line, what);
    }
}

/* The days of a sorted list into a calendar array; -1 if out of memory. */
static int take_days(const dates_t *d, int32_t **days, size_t *n)
{
    free(*days);
    *days = NULL, *n = 0;
    if (!d->n)
        return 0;
    if (!(*days = malloc(d->n * sizeof **days)))
        return -1;
    for (size_t i = 0; i < d->n; i++)
        (*days)[i] = d->v[i].day;
    *n = d->n;
    return 0;
}

/* The file, open for reading if it is a regular file of at most
 * HOLIDAY_FILE_MAX bytes; NULL with the problem said. O_NONBLOCK: a FIFO
 * named by mistake must not block the open, in a reload under the
 * watchdog. */
static FILE *open_holidays(holiday_report_t *r)
{
    struct stat st;
    int fd = open(r->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        char what[160];
        snprintf(what, sizeof what, "cannot open the holiday file: %s", strerror(errno));
        say(r, 0, what, 0);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > HOLIDAY_FILE_MAX) {
        say(r, 0, S_ISREG(st.st_mode) ? "larger than 1 MB: not a holiday file"
                                      : "not a regular file", 0);
        close(fd);
        return NULL;
    }
    FILE *f = fdopen(fd, "r");      /* O_NONBLOCK changes nothing for a regular file */
    if (!f) {
        say(r, 0, "out of memory", 0);
        close(fd);
    }
    return f;
}

/* Every line of f onto lists (indexed by day_kind_t), the bad ones reported. */
static void read_holidays(FILE *f, dates_t lists[3], holiday_report_t *r)
{
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    while (getline(&line, &cap, f) >= 0) {  /* any length: comments may be long */
        const char *why = holiday_line(lists, line, ++lineno);
        if (why)
            report_line(r, lineno, why);
    }
    if (ferror(f)) {
        char what[160];
        snprintf(what, sizeof what, "read error after line %d: %s", lineno, strerror(errno));
        report_line(r, 0, what);
    }
    free(line);
}

int calendar_load(calendar_t *cal, const char *path, char *err, size_t errlen)
{
    holiday_report_t r = {err, errlen, path, 0, 0};
    dates_t lists[3] = {{0}};
    *err = '\0';
    FILE *f = open_holidays(&r);
    if (!f)
        return -1;
    read_holidays(f, lists, &r);
    fclose(f);
    for (int k = DAY_HOLIDAY; k <= DAY_WORKDAY; k++)
        if (lists[k].n)
            qsort(lists[k].v, lists[k].n, sizeof *lists[k].v, cmp_dated);
    conflicts(&lists[DAY_HOLIDAY], &lists[DAY_WORKDAY], &r);
    if (take_days(&lists[DAY_HOLIDAY], &cal->holidays, &cal->nholidays) ||
        take_days(&lists[DAY_WORKDAY], &cal->makeup, &cal->nmakeup))
        report_line(&r, 0, "out of memory");
    free(lists[DAY_HOLIDAY].v);
    free(lists[DAY_WORKDAY].v);
    return report_end(&r) ? -1 : 0;
}

int32_t calendar_last_day(const calendar_t *cal)
{
    int32_t h = cal->nholidays ? cal->holidays[cal->nholidays - 1] : 0;
    int32_t m = cal->nmakeup ? cal->makeup[cal->nmakeup - 1] : 0;
    return h > m ? h : m;
}

/* Whether a sorted list has a day in [from, to]. */
static bool has_day_within(const int32_t *v, size_t n, int32_t from, int32_t to)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {               /* the first day >= from */
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo] <= to;
}

static bool year_listed(const calendar_t *cal, int32_t year)
{
    int32_t from = year * 10000 + 108, to = year * 10000 + 1231;
    return has_day_within(cal->holidays, cal->nholidays, from, to) ||
           has_day_within(cal->makeup, cal->nmakeup, from, to);
}

bool calendar_year_listed(const calendar_t *cal, int32_t year)
{
    return !calendar_last_day(cal) || year_listed(cal, year);
}

calendar_cover_t calendar_coverage(const calendar_t *cal, int32_t today)
{
    if (!calendar_last_day(cal))
        return CALENDAR_COVERED;
    int32_t year = today / 10000;
    if (today / 100 % 100 == 12)
        return year_listed(cal, year + 1) ? CALENDAR_COVERED : CALENDAR_NEXT_YEAR;
    return year_listed(cal, year) ? CALENDAR_COVERED : CALENDAR_ENDED;
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

int calendar_week_days(const calendar_t *cal)
{
    int n = 0;
    for (int d = 0; d < 7; d++)
        n += (cal->weekdays >> d) & 1;
    return n;
}

int64_t calendar_week_ms(const calendar_t *cal)
{
    int64_t day = 0;
    for (int w = 0; w < cal->nhours; w++)
        day += (cal->hours[w].end - cal->hours[w].start) * 60000LL;
    return day * calendar_week_days(cal);
}

void calendar_zone(char *name, size_t size, char abbr[16], char off[8])
{
    char link[256];
    const char *tz = getenv("TZ");
    name[0] = '\0';
    if (tz) {                           /* TZ set, even empty (UTC), wins */
        snprintf(name, size, "%s", *tz == ':' ? tz + 1 : *tz ? tz : "UTC");
    } else {
        ssize_t n = readlink("/etc/localtime", link, sizeof link - 1);
        if (n > 0) {
            link[n] = '\0';
            const char *z = strstr(link, "zoneinfo/");
            snprintf(name, size, "%s", z ? z + strlen("zoneinfo/") : link);
        }
    }
    tzset();
    time_t now = time(NULL);
    struct tm tm;
    snprintf(abbr, 16, "?"), snprintf(off, 8, "?");
    if (localtime_r(&now, &tm)) {
        strftime(abbr, 16, "%Z", &tm);
        strftime(off, 8, "%z", &tm);
    }
}
