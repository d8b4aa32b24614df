/*
 * log.c - structured logging to journald or to stderr as logfmt (see log.h).
 *
 * journald is used natively only when JOURNAL_STREAM matches the device and
 * inode of our stderr, as sd_journal_print(3) documents: that is the one
 * reliable sign that systemd connected stderr to the journal.
 */
#include "log.h"
#include "loglevel.h"
#include "mask.h"
#include "utf8.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

/* A record's logfmt line: room for its long field escaped and the rest. */
#define LOG_LINE_SIZE 8192

static const char *ident = "minqing";
static int level = LOG_INFO;
static bool journal;
static bool holding;
static char *held;                  /* lines waiting for log_release */
static size_t nheld, capheld;

void log_open(const char *name, int lvl)
{
    ident = name;
    level = lvl;
    journal = loglevel_stderr_is_journal();
}

void log_set_level(int lvl)
{
    level = lvl;
}

bool log_to_journal(void)
{
    return journal;
}

void log_begin(log_rec_t *r, int prio, const char *event)
{
    r->prio = prio;
    r->on = prio <= level;
    r->n = 0;
    r->long_field = -1;
    r->msgid = NULL;
    log_str(r, "event", event);
}

/* ---- records a peer can cause per message ------------------------------ */

#define LIMIT_WINDOW_MS 10000
#define LIMIT_BURST 20
#define LIMIT_EVENTS 16

typedef struct {
    const char *event;          /* a string literal of the caller */
    int64_t since;              /* the window's start, monotonic ms */
    unsigned written, suppressed;
} limit_t;

static limit_t limits[LIMIT_EVENTS];

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The event's counter; NULL when more events than LIMIT_EVENTS are limited
 * (then each is written, as before). */
static limit_t *limit_of(const char *event)
{
    for (size_t i = 0; i < LIMIT_EVENTS; i++) {
        if (limits[i].event && strcmp(limits[i].event, event) == 0)
            return &limits[i];
        if (!limits[i].event) {
            limits[i].event = event;
            return &limits[i];
        }
    }
    return NULL;
}

void log_flush_limited(bool now)
{
    int64_t t = now_ms();
    for (size_t i = 0; i < LIMIT_EVENTS && limits[i].event; i++) {
        limit_t *l = &limits[i];
        if (!l->suppressed || (!now && t - l->since < LIMIT_WINDOW_MS))
            continue;
        log_rec_t r;
        log_begin(&r, LOG_WARNING, l->event);
        log_u64(&r, "suppressed", l->suppressed);
        log_str(&r, "msg", "more of these were not written (the limit of 20 in 10 s)");
        log_end(&r);
        l->suppressed = 0;
        l->since = t;
        l->written = 1;
    }
}

void log_begin_limited(log_rec_t *r, int prio, const char *event)
{
    log_begin(r, prio, event);
    limit_t *l = r->on ? limit_of(event) : NULL;
    if (!l)
        return;
    int64_t now = now_ms();
    if (now - l->since >= LIMIT_WINDOW_MS) {
        l->since = now;
        l->written = 0;
    }
    if (l->written >= LIMIT_BURST) {
        l->suppressed++;
        r->on = false;
        return;
    }
    l->written++;
    if (l->suppressed) {
        log_u64(r, "suppressed", l->suppressed);
        l->suppressed = 0;
    }
}

/* The length of the valid UTF-8 character at p (1-4), or 0 when p starts
 * none (a stray byte, a sequence cut short, an overlong form). */
static size_t valid_char(const unsigned char *p)
{
    size_t k = utf8_seqlen(*p);
    for (size_t j = 1; j < k; j++)
        if (!p[j])
            return 0;               /* the value ends inside it: read no further */
    return utf8_valid((const char *)p, k, NULL) ? k : 0;
}

#define CUT_MARK "\xe2\x80\xa6"     /* …: the value went on */

/* The bytes of val that fit in limit, never cutting a character. */
static size_t fitting(const char *val, size_t limit)
{
    const unsigned char *p = (const unsigned char *)val;
    size_t n = 0, k;
    for (; p[n]; n += k) {
        k = valid_char(p + n);
        k = k ? k : 1;
        if (n + k > limit)
            break;
    }
    return n;
}

/* val into a field of size bytes; one that does not fit is cut where it
 * no longer does, but never inside a character (utf8_cut would read past
 * the end of a value that ends in a broken sequence: these can hold any
 * bytes), and marked as cut. */
static void field_copy(char *dst, size_t size, const char *val)
{
    size_t n = fitting(val, size - 1);
    bool cut = val[n] != '\0';
    if (cut)
        n = fitting(val, size - 1 - strlen(CUT_MARK));
    memcpy(dst, val, n);
    strcpy(dst + n, cut ? CUT_MARK : "");
}

/* The value of field i. */
static const char *value_of(const log_rec_t *r, int i)
{
    return i == r->long_field ? r->long_val : r->vals[i];
}

void log_str(log_rec_t *r, const char *key, const char *val)
{
    if (!r->on || r->n >= LOG_MAX_FIELDS)
        return;
    r->keys[r->n] = key;
    field_copy(r->vals[r->n], sizeof r->vals[0], val ? val : "");
    r->n++;
}

void log_long(log_rec_t *r, const char *key, const char *val)
{
    if (!r->on || r->n >= LOG_MAX_FIELDS || r->long_field >= 0) {
        log_str(r, key, val);
        return;
    }
    r->keys[r->n] = key;
    r->vals[r->n][0] = '\0';
    field_copy(r->long_val, sizeof r->long_val, val ? val : "");
    r->long_field = r->n++;
}

void log_u64(log_rec_t *r, const char *key, uint64_t val)
{
    if (!r->on)
        return;                 /* a record below the level formats nothing */
    char b[24];
    snprintf(b, sizeof b, "%" PRIu64, val);
    log_str(r, key, b);
}

void log_i64(log_rec_t *r, const char *key, int64_t val)
{
    if (!r->on)
        return;                 /* a record below the level formats nothing */
    char b[24];
    snprintf(b, sizeof b, "%" PRId64, val);
    log_str(r, key, b);
}

void log_text(log_rec_t *r, const char *key, const char *val)
{
    char m[sizeof r->vals[0] * 2]; /* more than a field's room: log_str marks the cut */
    mask_text(val ? val : "", m, sizeof m);
    log_str(r, key, m);
}

void log_msgid(log_rec_t *r, const char *id128)
{
    r->msgid = id128;
}

static bool needs_quotes(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= ' ' || *p == 0x7f || *p == '"' || *p == '=')
            return true;
    return *v == '\0';
}

/* Copy the character at p to buf + *off, or \xNN for a byte that is not
 * valid UTF-8: a config line or a peer's text can hold any bytes (a GBK file),
 * and a raw one makes journald keep the field as a blob and terminals show
 * garbage. The bytes of p it took; buf has room for 4 more (callers check). */
static size_t put_utf8(char *buf, size_t len, size_t *off, const unsigned char *p)
{
    size_t k = valid_char(p);
    if (!k) {
        *off += (size_t)snprintf(buf + *off, len - *off, "\\x%02x", *p);
        return 1;
    }
    memcpy(buf + *off, p, k);
    *off += k;
    return k;
}

/* logfmt: key=value, quoting values with spaces, quotes, '=' or control
 * characters; those are escaped (\n, \xNN), as is every byte of invalid
 * UTF-8, so that a value a peer sent can never start a line, or a record,
 * of its own, nor carry bytes a reader cannot show. */
static size_t logfmt(const log_rec_t *r, char *buf, size_t size)
{
    size_t len = size - sizeof CUT_MARK, off = 0;   /* room for the mark and the NUL */
    bool cut = false;
    for (int i = 0; i < r->n && !cut; i++) {
        const char *v = value_of(r, i);
        bool quote = needs_quotes(v);
        int w = snprintf(buf + off, len - off, "%s%s=%s", i ? " " : "", r->keys[i],
                         quote ? "\"" : "");
        if (w < 0 || (size_t)w >= len - off) {
            cut = true;
            break;
        }
        off += (size_t)w;
        const unsigned char *p = (const unsigned char *)v;
        while (*p && off + 5 < len) {
            if (*p == '"' || *p == '\\')
                buf[off++] = '\\';
            if (*p == '\n')
                off += (size_t)snprintf(buf + off, len - off, "\\n");
            else if (*p < ' ' || *p == 0x7f)
                off += (size_t)snprintf(buf + off, len - off, "\\x%02x", *p);
            else {
                p += put_utf8(buf, len, &off, p);
                continue;
            }
            p++;
        }
        cut = *p != '\0';
        if (quote && off + 1 < len)
            buf[off++] = '"';
    }
    if (cut) {                          /* the record went on: say so */
        memcpy(buf + off, CUT_MARK, strlen(CUT_MARK));
        off += strlen(CUT_MARK);
    }
    buf[off] = '\0';
    return off;
}

/* A value as a journald field: invalid UTF-8 escaped as in logfmt. */
static void journal_value(const char *v, char *out, size_t len)
{
    size_t off = 0;
    for (const unsigned char *p = (const unsigned char *)v; *p && off + 5 < len;)
        p += put_utf8(out, len, &off, p);
    out[off] = '\0';
}

static void write_journal(const log_rec_t *r, const char *line)
{
    char message[LOG_LINE_SIZE + 16], fields[LOG_MAX_FIELDS + 3][sizeof r->vals[0] * 4 + 80];
    char value[sizeof r->long_val * 4];    /* each byte escaped at worst */
    char long_field[sizeof value + 80];     /* the long field's, in its own room */
    struct iovec iov[LOG_MAX_FIELDS + 4];
    int n = 0;
    snprintf(message, sizeof message, "MESSAGE=%s", line);
    iov[0] = (struct iovec){message, strlen(message)};
    snprintf(fields[n++], sizeof fields[0], "PRIORITY=%d", r->prio);
    snprintf(fields[n++], sizeof fields[0], "SYSLOG_IDENTIFIER=%s", ident);
    if (r->msgid)
        snprintf(fields[n++], sizeof fields[0], "MESSAGE_ID=%.32s", r->msgid);
    for (int i = 0; i < n; i++)
        iov[i + 1] = (struct iovec){fields[i], strlen(fields[i])};
    for (int i = 0; i < r->n; i++, n++) {
        char key[64], *f = i == r->long_field ? long_field : fields[n];
        size_t size = i == r->long_field ? sizeof long_field : sizeof fields[0];
        const char *k = strcmp(r->keys[i], "event") == 0 ? "minqing_event" : r->keys[i];
        size_t j = 0;
        for (; k[j] && j + 1 < sizeof key; j++)
            key[j] = (char)toupper((unsigned char)k[j]);
        key[j] = '\0';
        journal_value(value_of(r, i), value, sizeof value);
        snprintf(f, size, "%s=%s", key, value);
        iov[n + 1] = (struct iovec){f, strlen(f)};
    }
    sd_journal_sendv(iov, n + 1);
}

static void write_all(const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(2, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;                 /* nowhere to complain about a failing stderr */
        p += n, len -= (size_t)n;
    }
}

static bool hold_room(size_t len)
{
    if (nheld + len <= capheld)
        return true;
    size_t cap = capheld ? capheld * 2 : 65536;
    while (cap < nheld + len)
        cap *= 2;
    char *p = realloc(held, cap);
    if (!p)
        return false;
    held = p, capheld = cap;
    return true;
}

void log_end(log_rec_t *r)
{
    if (!r->on)
        return;
    char line[LOG_LINE_SIZE];
    logfmt(r, line, sizeof line);
    if (journal) {
        write_journal(r, line);
        return;
    }
    struct timespec ts;
    struct tm tm;
    char when[40], out[LOG_LINE_SIZE + 100];
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    int n = snprintf(out, sizeof out, "ts=%s.%03ld severity=%s %s\n", when,
                     ts.tv_nsec / 1000000, loglevel_name(r->prio), line);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof out ? (size_t)n : sizeof out - 1;
    if (holding && hold_room(len)) {
        memcpy(held + nheld, out, len);
        nheld += len;
        return;
    }
    write_all(out, len);
}

void log_hold(void)
{
    holding = !journal;
}

void log_release(void)
{
    holding = false;
    write_all(held, nheld);
    nheld = 0;
}

void log_say(int prio, const char *event, const char *text)
{
    log_rec_t r;
    log_begin(&r, prio, event);
    log_str(&r, "msg", text);
    log_end(&r);
}

void log_say_long(int prio, const char *event, const char *text)
{
    log_rec_t r;
    log_begin(&r, prio, event);
    log_long(&r, "msg", text);
    log_end(&r);
}
