/*
 * log.h - the one logging module. A record is built field by field and
 * written once: as native journald fields (CASE_ID=, DEPARTMENT=, ...) when
 * stderr is the journal, else as one logfmt line on stderr. Personal data has
 * its own setter that masks it, so an unmasked phone number cannot reach a
 * log by accident of formatting.
 */
#ifndef MQ_LOG_H
#define MQ_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>         /* LOG_ERR, LOG_WARNING, ... */

#define LOG_MAX_FIELDS 24
#define LOG_FIELD_SIZE 160      /* a field's room, its NUL included */
#define LOG_LONG_SIZE 1024      /* the room of a record's one long field (log_long) */

typedef struct {
    int prio;
    bool on;                /* false when filtered out by level: setters do nothing */
    int n;
    const char *keys[LOG_MAX_FIELDS];
    char vals[LOG_MAX_FIELDS][LOG_FIELD_SIZE];
    char long_val[LOG_LONG_SIZE];
    int long_field;         /* the field whose value is long_val, -1 if none */
    const char *msgid;
} log_rec_t;

/* Choose the sink (journald if JOURNAL_STREAM names our stderr) and the level. */
void log_open(const char *ident, int level);
/* Change the level: records above it are dropped. */
void log_set_level(int level);
/* True when logs go to journald natively. */
bool log_to_journal(void);
/* Start a record of `event` (e.g. "case.received") at prio. */
void log_begin(log_rec_t *r, int prio, const char *event);
/* Start a record of an event a peer can cause once per message it sends (a
 * refused key, a body that does not decode): at most 20 of each such event
 * are written every 10 s, and the first written after some were not says
 * how many (`suppressed`). A flood of hostile messages cannot then fill the
 * journal and push the records operators read (escalated, worker.lost) past
 * journald's rate limit. `event` must be a string literal. */
void log_begin_limited(log_rec_t *r, int prio, const char *event);
/* Say how many records log_begin_limited held back, for each event whose
 * window has ended (or every one, with `now`, at a stop): a flood that
 * stops leaves its count too, not only when the event comes again. */
void log_flush_limited(bool now);
/* Add fields. Keys are lower_snake; journald gets them upper-cased. A value
 * longer than a field's room is cut, never inside a character, and ends in
 * "…" so that a reader knows there was more. */
void log_str(log_rec_t *r, const char *key, const char *val);
/* Add the record's one long field, of up to LOG_LONG_SIZE - 1 bytes: a
 * config problem, whose file and line come first and what to do last. A
 * second one in a record is cut as log_str cuts. */
void log_long(log_rec_t *r, const char *key, const char *val);
void log_u64(log_rec_t *r, const char *key, uint64_t val);
void log_i64(log_rec_t *r, const char *key, int64_t val);
/* Add a field of free text a peer sent (a worker's ERROR reason): every
 * number of 7 or more digits masked as `minqing show` masks it, cut to fit. */
void log_text(log_rec_t *r, const char *key, const char *val);
/* Tag the record with a journald MESSAGE_ID (a 32-hex-digit id). */
void log_msgid(log_rec_t *r, const char *id128);
/* Write the record. */
void log_end(log_rec_t *r);
/* Hold stderr lines until log_release, which writes them with one write(2):
 * the lines that report a commit reach the file together and at once, so a
 * kill -9 cannot land between a commit and half of its lines. */
void log_hold(void);
void log_release(void);
/* Shorthand: one record with a message text. */
void log_say(int prio, const char *event, const char *text);
/* The same with the message as a long field (log_long). */
void log_say_long(int prio, const char *event, const char *text);

#endif
