/*
 * calendar.h - the work calendar: which days are working days (weekdays,
 * minus public holidays, plus the make-up working days on weekends that
 * Chinese holidays bring, 调休) and which hours of them are working hours.
 * Deadlines given in working days or working hours are computed here, in
 * local time. Pure: no clock, no I/O except reading the holiday file.
 */
#ifndef MQ_CALENDAR_H
#define MQ_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CALENDAR_MAX_WINDOWS 4

typedef struct {
    int start, end;                     /* minutes after midnight */
} calendar_window_t;

typedef struct {
    uint8_t weekdays;                   /* bit d: weekday d (0 = Sunday) works */
    calendar_window_t hours[CALENDAR_MAX_WINDOWS];
    int nhours;
    int32_t *holidays;                  /* yyyymmdd, sorted: days off */
    size_t nholidays;
    int32_t *makeup;                    /* yyyymmdd, sorted: weekend days worked */
    size_t nmakeup;
} calendar_t;

/* Monday to Friday, 09:00-12:00 and 13:30-17:30, no holidays. */
void calendar_init(calendar_t *cal);
/* Free the holiday lists (the calendar itself is the caller's). */
void calendar_free(calendar_t *cal);
/* Parse "mon-fri" or "mon,tue,sat" into cal->weekdays; -1 if bad. */
int calendar_set_weekdays(calendar_t *cal, const char *text);
/* Parse "09:00-12:00, 13:30-17:30" into cal->hours; -1 if bad or overlapping. */
int calendar_set_hours(calendar_t *cal, const char *text);
/* Read a holiday file: lines "YYYY-MM-DD holiday" or "YYYY-MM-DD workday"
 * ('#' comments), a regular file of at most 1 MB (not a FIFO: it is not
 * waited on). -1 on error, with each problem ("FILE:LINE: what", or "FILE:
 * what") on a line of err, whole: the first 20 that fit, then "FILE: N more
 * problems not shown". */
int calendar_load(calendar_t *cal, const char *path, char *err, size_t errlen);
/* The last date (yyyymmdd) the holiday file lists, 0 if none: past it only
 * the weekdays count, and 春节 or 国庆 would be working days. */
int32_t calendar_last_day(const calendar_t *cal);
/* What the holiday file leaves out on local date `today` (yyyymmdd). A file
 * lists one year's days, and after 国庆 none are left that year: "no day
 * from today on" would cry wolf for three months a year and then say nothing
 * new on 1 January. A year counts as listed with a day of it after 7
 * January (元旦 of the next year appended to this year's file is not the
 * next year's notice, whose 春节 is 21 January at the earliest). So:
 * NEXT_YEAR in December when the coming year is not listed; ENDED in the
 * other months when this year is not; COVERED otherwise, and without a file
 * (then the weekdays alone count, as chosen). */
typedef enum { CALENDAR_COVERED, CALENDAR_NEXT_YEAR, CALENDAR_ENDED } calendar_cover_t;
calendar_cover_t calendar_coverage(const calendar_t *cal, int32_t today);
/* Whether the holiday file lists the year (as calendar_coverage counts a
 * year); true without a file, when the weekdays alone count by choice. */
bool calendar_year_listed(const calendar_t *cal, int32_t year);
/* The local time zone the calendar counts in (TZ, else /etc/localtime): its
 * name as TZ or the link gives it ("" when neither names one, a copied
 * file), its abbreviation ("CST") and UTC offset ("+0800") now ("?" unknown). */
void calendar_zone(char *name, size_t size, char abbr[16], char off[8]);
/* Whether the local date yyyymmdd (a weekday 0..6) is a working day. */
bool calendar_is_workday(const calendar_t *cal, int32_t yyyymmdd, int weekday);
/* start + n working days, same time of day; a start outside working time
 * counts from the next working time. Unix ms in and out. */
int64_t calendar_add_workdays(const calendar_t *cal, int64_t start_ms, int64_t n);
/* start + work_ms of working time. Unix ms in and out. */
int64_t calendar_add_workhours(const calendar_t *cal, int64_t start_ms, int64_t work_ms);
/* Ordinary weeks the two above are sure to reach past: their walk stops
 * after ten years (then a deadline would fall back to wall time), less a
 * month a year of holidays. */
#define CALENDAR_REACH_WEEKS 470
/* The working days, and the working ms, of an ordinary week (no holiday). */
int calendar_week_days(const calendar_t *cal);
int64_t calendar_week_ms(const calendar_t *cal);

#endif
