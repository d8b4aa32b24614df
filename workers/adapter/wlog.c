/*
 * wlog.c - minqing-worker's logfmt records on stderr (see wlog.h). Not the
 * broker's daemon/log.c: the adapter links libminqing, not the broker's
 * modules, and needs no journald fields, only lines the journal stores as
 * they are, each with its priority as a "<N>" prefix when stderr is the
 * journal. The severity names are the broker's (proto/loglevel.c).
 */
#include "wlog.h"
#include "loglevel.h"
#include "utf8.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_level = LOG_INFO;
static bool journal;            /* stderr is the journal: lines start "<N>" */

void wlog_set_level(int level)
{
    log_level = level;
    journal = loglevel_stderr_is_journal();
}

/* Bytes left in the record for its fields: the last two are kept, for
 * wlog_end's newline. */
static size_t room(const wlog_rec_t *r)
{
    return sizeof r->buf - 2 - r->len;
}

static void put(wlog_rec_t *r, const char *s, size_t n)
{
    if (n > room(r))
        n = room(r);
    memcpy(r->buf + r->len, s, n);
    r->len += n;
}

/* The bytes of the character at p: a UTF-8 sequence with all its
 * continuation bytes, else 1 (ASCII, or a byte that starts none). */
static size_t char_len(const char *p)
{
    size_t n = utf8_seqlen((unsigned char)*p);
    for (size_t i = 1; i < n; i++)
        if (((unsigned char)p[i] & 0xC0) != 0x80)
            return 1;
    return n;
}

/* Quoted when the value has a space, a quote or '=', so that a reader of
 * logfmt splits the line where it should; control characters become spaces,
 * so a record stays on one line. A long value is cut between characters,
 * before its closing quote: the journal shows a record with half a
 * character as a blob. */
void wlog_str(wlog_rec_t *r, const char *key, const char *val)
{
    if (!r->on)
        return;
    bool quote = !*val || strpbrk(val, " \"=\t") != NULL;
    put(r, " ", 1);
    put(r, key, strlen(key));
    put(r, quote ? "=\"" : "=", quote ? 2 : 1);
    for (const char *p = val; *p;) {
        size_t n = char_len(p);
        bool esc = *p == '"' || *p == '\\';
        if (esc + n + quote > room(r))
            break;
        if (esc)
            put(r, "\\", 1);
        put(r, (unsigned char)*p < 0x20 ? " " : p, n);
        p += n;
    }
    if (quote)
        put(r, "\"", 1);
}

void wlog_fmt(wlog_rec_t *r, const char *key, const char *fmt, ...)
{
    char val[512];
    va_list ap;
    if (!r->on)
        return;
    va_start(ap, fmt);
    vsnprintf(val, sizeof val, fmt, ap);
    va_end(ap);
    wlog_str(r, key, val);
}

bool wlog_begin(wlog_rec_t *r, int prio, const char *event)
{
    struct timespec ts;
    struct tm tm;
    char when[32];
    r->on = prio <= log_level;
    r->len = 0;
    if (!r->on)
        return false;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    r->len = 0;
    if (journal)
        r->len = (size_t)snprintf(r->buf, sizeof r->buf, "<%d>", prio);
    r->len += (size_t)snprintf(r->buf + r->len, sizeof r->buf - r->len,
                               "ts=%s.%03ld severity=%s", when, ts.tv_nsec / 1000000,
                               loglevel_name(prio));
    wlog_str(r, "event", event);
    return true;
}

/* A failing stderr has nowhere to complain to: the record is lost. */
void wlog_end(wlog_rec_t *r)
{
    if (!r->on)
        return;
    r->buf[r->len++] = '\n';
    for (const char *p = r->buf; r->len > 0;) {
        ssize_t n = write(2, p, r->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n, r->len -= (size_t)n;
    }
}

void wlog_say(int prio, const char *event, const char *key, const char *val)
{
    wlog_rec_t r;
    wlog_begin(&r, prio, event);
    wlog_str(&r, key, val);
    wlog_end(&r);
}

bool wlog_quota_take(wlog_quota_t *q, unsigned max, int64_t window_ms, int64_t now,
                     unsigned *ended)
{
    *ended = 0;
    if (q->used + q->over == 0 || now - q->start >= window_ms) {
        *ended = q->over;
        *q = (wlog_quota_t){.start = now};
    }
    if (q->used < max) {
        q->used++;
        return true;
    }
    q->over++;
    return false;
}

unsigned wlog_quota_end(wlog_quota_t *q)
{
    unsigned over = q->over;
    q->over = 0;
    return over;
}
