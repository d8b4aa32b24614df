/*
 * codec.c - table-driven encoder and hostile-input decoder for protocol v1.
 *
 * Every field is described once (name, type, limits, check) in `fields` or
 * `case_fields`, and every command lists the fields it uses in `commands`.
 * The encoder, the decoder and codec_equal all walk those tables, so the three
 * cannot drift apart, and PROTOCOL.md's field tables mirror them line by line.
 */
#include "codec.h"
#include "mpread.h"
#include "utf8.h"

#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_STR, T_UINT, T_INT, T_DOUBLE, T_BOOL, T_ENUM, T_CASE } ftype_t;
typedef bool (*check_fn)(const char *s, size_t len);

typedef struct {
    const char *name;
    ftype_t type;
    size_t off;                 /* offset in msg_t or msg_case_t */
    uint64_t min, max;          /* STR: characters; UINT: value */
    int64_t imin, imax;         /* INT */
    double dmin, dmax;          /* DOUBLE */
    check_fn check;             /* STR: charset or format */
    const char *what;           /* what check wants, for the error reason */
    const char *const *names;   /* ENUM */
    int count;
} field_t;

typedef struct {
    uint8_t field;
    bool required;
} use_t;

struct codec_t {
    char *arena;                /* decoded strings, NUL-terminated */
    size_t used;
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
};

#define ARENA_SIZE (2 * MSG_MAX_BODY)

/* ---- checks for string fields ---------------------------------------- */

static bool is_tokc(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static bool check_token(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_tokc(s[i]))
            return false;
    return true;
}

static bool check_printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return false;
    return true;
}

/* street-community-grid: three non-empty parts of [A-Za-z0-9_] */
static bool check_grid(const char *s, size_t len)
{
    int dashes = 0;
    size_t part = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '-') {
            if (part == 0)
                return false;
            dashes++, part = 0;
        } else if (is_tokc(s[i]) && s[i] != '.') {
            part++;
        } else {
            return false;
        }
    }
    return dashes == 2 && part > 0;
}

static bool check_phone(const char *s, size_t len)
{
    int digits = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            digits++;
        else if (!strchr("+- ()", s[i]) || s[i] == '\0')
            return false;
    }
    return digits >= 3;
}

static bool check_email(const char *s, size_t len)
{
    const char *at = memchr(s, '@', len);
    if (!at || at == s || at == s + len - 1 || memchr(at + 1, '@', len - (size_t)(at - s) - 1))
        return false;
    return check_printable(s, len);
}

static bool check_url(const char *s, size_t len)
{
    if (!((len > 7 && strncmp(s, "http://", 7) == 0) ||
          (len > 8 && strncmp(s, "https://", 8) == 0)))
        return false;
    return check_printable(s, len);
}

/* n digits at s, value in [lo, hi] */
static bool digits(const char *s, int n, int lo, int hi)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    return v >= lo && v <= hi;
}

/* ISO 8601 with a zone: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM) */
static bool check_datetime(const char *s, size_t len)
{
    if (len < 20 || !digits(s, 4, 1900, 9999) || s[4] != '-' ||
        !digits(s + 5, 2, 1, 12) || s[7] != '-' || !digits(s + 8, 2, 1, 31) ||
        (s[10] != 'T' && s[10] != ' ') || !digits(s + 11, 2, 0, 23) ||
        s[13] != ':' || !digits(s + 14, 2, 0, 59) || s[16] != ':' ||
        !digits(s + 17, 2, 0, 60))
        return false;
    size_t i = 19;
    if (s[i] == '.') {
        size_t f = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == f || i - f > 9)
            return false;
    }
    if (i + 1 == len && s[i] == 'Z')
        return true;
    return i + 6 == len && (s[i] == '+' || s[i] == '-') &&
           digits(s + i + 1, 2, 0, 23) && s[i + 3] == ':' && digits(s + i + 4, 2, 0, 59);
}

/* ---- the tables ------------------------------------------------------ */

#define OFF(f) offsetof(msg_t, f)
#define COFF(f) offsetof(msg_case_t, f)
#define STR(n, o, lo, hi, chk, w) {.name = n, .type = T_STR, .off = o, .min = lo, .max = hi, .check = chk, .what = w}
#define TEXT(n, o, lo, hi) STR(n, o, lo, hi, NULL, NULL)
#define TOKEN(n, o, hi) STR(n, o, 1, hi, check_token, "letters, digits, '_', '.', '-'")
#define UINT(n, o, lo, hi) {.name = n, .type = T_UINT, .off = o, .min = lo, .max = hi}
#define INT(n, o, lo, hi) {.name = n, .type = T_INT, .off = o, .imin = lo, .imax = hi}
#define ENUM(n, o, tbl, cnt) {.name = n, .type = T_ENUM, .off = o, .names = tbl, .count = cnt}
#define ID_MAX UINT64_C(9007199254740991)   /* 2^53-1: exact in every language */

static const field_t fields[MF_COUNT] = {
    [MF_MSG_ID] = STR("msg_id", OFF(msg_id), 1, 64, check_printable, "printable ASCII"),
    [MF_RE] = STR("re", OFF(re), 1, 64, check_printable, "printable ASCII"),
    [MF_CASE_ID] = UINT("case_id", OFF(case_id), 1, ID_MAX),
    [MF_ASSIGNMENT_ID] = UINT("assignment_id", OFF(assignment_id), 1, ID_MAX),
    [MF_ESCALATION_ID] = UINT("escalation_id", OFF(escalation_id), 1, ID_MAX),
    [MF_DEPARTMENT] = TOKEN("department", OFF(department), 32),
    [MF_WORKER] = TEXT("worker", OFF(worker), 1, 64),
    [MF_NOTE] = TEXT("note", OFF(note), 0, MSG_NOTE_CHARS),
    [MF_RESULT] = TOKEN("result", OFF(result), 32),
    [MF_SUMMARY] = TEXT("summary", OFF(summary), 1, MSG_SUMMARY_CHARS),
    [MF_COMMENT] = TEXT("comment", OFF(comment), 0, 1000),
    [MF_REASON_TEXT] = TEXT("reason", OFF(reason_text), 0, 256),
    [MF_TARGET] = TOKEN("target", OFF(target), 64),
    [MF_GRID_CODE] = STR("grid_code", OFF(grid_code), 5, 64, check_grid, "street-community-grid"),
    [MF_COMMUNITY] = TEXT("community", OFF(community), 1, 64),
    [MF_STREET] = TEXT("street", OFF(street), 1, 64),
    [MF_CAPACITY] = UINT("capacity", OFF(capacity), 1, 10000),
    [MF_HEARTBEAT_MS] = UINT("heartbeat_ms", OFF(heartbeat_ms), 100, 600000),
    [MF_CODE] = UINT("code", OFF(code), 100, 599),
    [MF_LEVEL] = UINT("level", OFF(level), 1, 16),
    [MF_ATTEMPT] = UINT("attempt", OFF(attempt), 1, MSG_MAX_ATTEMPT),
    [MF_RECEIVED_AT] = INT("received_at", OFF(received_at), 0, INT64_MAX),
    [MF_CONTACT_DUE] = INT("contact_due", OFF(contact_due), 0, INT64_MAX),
    [MF_RESOLVE_DUE] = INT("resolve_due", OFF(resolve_due), 0, INT64_MAX),
    [MF_DUE_AT] = INT("due_at", OFF(due_at), 0, INT64_MAX),
    [MF_OVERDUE_S] = INT("overdue_s", OFF(overdue_s), INT64_MIN, INT64_MAX),
    [MF_DUPLICATE] = {.name = "duplicate", .type = T_BOOL, .off = OFF(duplicate)},
    [MF_RATING] = ENUM("rating", OFF(rating), msg_rating_names, RATING_COUNT),
    [MF_RETURN_REASON] = ENUM("reason", OFF(return_reason), msg_return_names, RETURN_COUNT),
    [MF_CANCEL_REASON] = ENUM("reason", OFF(cancel_reason), msg_cancel_names, CANCEL_COUNT),
    [MF_ROLE] = ENUM("role", OFF(role), msg_role_names, ROLE_COUNT),
    [MF_LADDER] = ENUM("ladder", OFF(ladder), msg_ladder_names, LADDER_COUNT),
    [MF_STATE] = ENUM("state", OFF(state), msg_state_names, STATE_COUNT),
    [MF_CASE] = {.name = "case", .type = T_CASE, .off = OFF(kase)},
    [MF_KIND] = TOKEN("kind", OFF(kind), 32),
    [MF_AT] = INT("at", OFF(at), 0, INT64_MAX),
    [MF_ACTOR] = TEXT("actor", OFF(actor), 1, 64),
    [MF_CONTACTED_AT] = INT("contacted_at", OFF(contacted_at), 0, INT64_MAX),
    [MF_RESOLVED_AT] = INT("resolved_at", OFF(resolved_at), 0, INT64_MAX),
    [MF_CLOSED_AT] = INT("closed_at", OFF(closed_at), 0, INT64_MAX),
};

static const field_t case_fields[CF_COUNT] = {
    [CF_SERVICE_CODE] = TOKEN("service_code", COFF(service_code), 64),
    [CF_DESCRIPTION] = TEXT("description", COFF(description), 1, 4000),
    [CF_ADDRESS_STRING] = TEXT("address_string", COFF(address_string), 0, 512),
    [CF_FIRST_NAME] = TEXT("first_name", COFF(first_name), 0, 64),
    [CF_LAST_NAME] = TEXT("last_name", COFF(last_name), 0, 64),
    [CF_PHONE] = STR("phone", COFF(phone), 3, 32, check_phone, "digits, '+', '-', ' ', '(', ')'"),
    [CF_EMAIL] = STR("email", COFF(email), 3, 254, check_email, "an address with one '@'"),
    [CF_MEDIA_URL] = STR("media_url", COFF(media_url), 8, 2048, check_url, "an http:// or https:// URL"),
    [CF_REQUESTED_DATETIME] = STR("requested_datetime", COFF(requested_datetime), 20, 40,
                                  check_datetime, "ISO 8601 with a zone"),
    [CF_EXTERNAL_ID] = STR("external_id", COFF(external_id), 1, 128, check_printable, "printable ASCII"),
    [CF_CHANNEL] = TOKEN("channel", COFF(channel), 32),
    [CF_GRID_CODE] = STR("grid_code", COFF(grid_code), 5, 64, check_grid, "street-community-grid"),
    [CF_LAT] = {.name = "lat", .type = T_DOUBLE, .off = COFF(lat), .dmin = -90, .dmax = 90},
    [CF_LONG] = {.name = "long", .type = T_DOUBLE, .off = COFF(lon), .dmin = -180, .dmax = 180},
    [CF_PRIORITY] = ENUM("priority", COFF(priority), msg_priority_names, PRIO_COUNT),
};

#define R(f) {f, true}
#define O(f) {f, false}
#define END {MF_COUNT, false}

static const use_t case_uses[] = {
    R(CF_SERVICE_CODE), R(CF_DESCRIPTION), R(CF_EXTERNAL_ID), R(CF_CHANNEL),
    R(CF_GRID_CODE), O(CF_ADDRESS_STRING), O(CF_FIRST_NAME), O(CF_LAST_NAME),
    O(CF_PHONE), O(CF_EMAIL), O(CF_MEDIA_URL), O(CF_REQUESTED_DATETIME),
    O(CF_LAT), O(CF_LONG), O(CF_PRIORITY), {CF_COUNT, false}
};

static const use_t *const commands[MSG_CMD_COUNT] = {
    [MSG_SUBMIT] = (const use_t[]){R(MF_MSG_ID), R(MF_CASE), END},
    [MSG_SUBMIT_OK] = (const use_t[]){R(MF_RE), R(MF_CASE_ID), R(MF_DUPLICATE), END},
    [MSG_FEEDBACK] = (const use_t[]){R(MF_MSG_ID), R(MF_CASE_ID), R(MF_RATING), O(MF_COMMENT), END},
    [MSG_CLOSE] = (const use_t[]){R(MF_MSG_ID), R(MF_CASE_ID), O(MF_COMMENT), END},
    [MSG_REASSIGN] = (const use_t[]){R(MF_MSG_ID), R(MF_CASE_ID), R(MF_DEPARTMENT), O(MF_COMMENT), END},
    [MSG_CANCEL] = (const use_t[]){R(MF_MSG_ID), R(MF_CASE_ID), R(MF_CANCEL_REASON), O(MF_COMMENT), END},
    [MSG_REGISTER] = (const use_t[]){R(MF_MSG_ID), R(MF_DEPARTMENT), R(MF_CAPACITY), O(MF_WORKER), END},
    [MSG_HEARTBEAT] = (const use_t[]){END},
    [MSG_DISCONNECT] = (const use_t[]){O(MF_REASON_TEXT), END},
    [MSG_DISPATCH] = (const use_t[]){R(MF_ASSIGNMENT_ID), R(MF_CASE_ID), R(MF_DEPARTMENT),
        R(MF_ROLE), R(MF_ATTEMPT), R(MF_RECEIVED_AT), R(MF_CONTACT_DUE), O(MF_RESOLVE_DUE),
        R(MF_CASE), END},
    [MSG_ACCEPT] = (const use_t[]){R(MF_MSG_ID), R(MF_ASSIGNMENT_ID), END},
    [MSG_CONTACTED] = (const use_t[]){R(MF_MSG_ID), R(MF_ASSIGNMENT_ID), O(MF_NOTE), END},
    [MSG_PROGRESS] = (const use_t[]){R(MF_MSG_ID), R(MF_ASSIGNMENT_ID), R(MF_NOTE), END},
    [MSG_RESOLVED] = (const use_t[]){R(MF_MSG_ID), R(MF_ASSIGNMENT_ID), R(MF_RESULT), R(MF_SUMMARY), END},
    [MSG_RETURNED] = (const use_t[]){R(MF_MSG_ID), R(MF_ASSIGNMENT_ID), R(MF_RETURN_REASON), O(MF_NOTE), END},
    [MSG_ESCALATE] = (const use_t[]){R(MF_MSG_ID), R(MF_ESCALATION_ID), R(MF_CASE_ID), R(MF_LEVEL),
        R(MF_LADDER), R(MF_TARGET), R(MF_DEPARTMENT), R(MF_GRID_CODE), R(MF_COMMUNITY),
        R(MF_STREET), R(MF_DUE_AT), R(MF_OVERDUE_S), END},
    [MSG_ACK] = (const use_t[]){R(MF_RE), O(MF_CASE_ID), O(MF_ASSIGNMENT_ID), O(MF_STATE),
        O(MF_HEARTBEAT_MS), END},
    [MSG_ERROR] = (const use_t[]){O(MF_RE), R(MF_CODE), R(MF_REASON_TEXT), END},
    [MSG_EVENT] = (const use_t[]){R(MF_CASE_ID), R(MF_KIND), R(MF_AT), O(MF_DEPARTMENT),
        O(MF_STATE), O(MF_ACTOR), O(MF_NOTE), O(MF_ASSIGNMENT_ID), O(MF_LEVEL), O(MF_LADDER),
        O(MF_TARGET), O(MF_GRID_CODE), O(MF_COMMUNITY), O(MF_STREET), O(MF_OVERDUE_S), END},
    [MSG_IMPORT] = (const use_t[]){R(MF_MSG_ID), R(MF_CASE), R(MF_STATE), R(MF_RECEIVED_AT),
        O(MF_DEPARTMENT), O(MF_CONTACTED_AT), O(MF_RESOLVED_AT), O(MF_CLOSED_AT), O(MF_RATING), END},
};

/* ---- lifecycle ------------------------------------------------------- */

codec_t *codec_new(void)
{
    codec_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->arena = malloc(ARENA_SIZE);
    if (!self->arena) {
        free(self);
        return NULL;
    }
    msgpack_sbuffer_init(&self->sbuf);
    msgpack_packer_init(&self->pk, &self->sbuf, msgpack_sbuffer_write);
    return self;
}

void codec_destroy(codec_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    codec_t *self = *self_p;
    msgpack_sbuffer_destroy(&self->sbuf);
    free(self->arena);
    free(self);
    *self_p = NULL;
}

/* ---- decode ---------------------------------------------------------- */

typedef struct {
    codec_t *codec;
    mpread_t r;
    codec_error_t *err;
} dec_t;

__attribute__((format(printf, 3, 4)))
static int fail(codec_error_t *err, msg_err_t code, const char *fmt, ...)
{
    va_list ap;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->reason, sizeof err->reason, fmt, ap);
    va_end(ap);
    return (int)code;
}

static int fail_read(dec_t *d, int rc, const char *where, const char *want)
{
    if (rc == MP_TYPE && mpread_peek(&d->r) == MP_NONE)
        return fail(d->err, ERR_MALFORMED, "%s: not msgpack (byte 0xc1)", where);
    if (rc == MP_TYPE)
        return fail(d->err, ERR_WRONG_TYPE, "%s: expected %s", where, want);
    if (rc == MP_RANGE)
        return fail(d->err, ERR_INVALID_VALUE, "%s: out of range", where);
    if (rc == MP_DEPTH)
        return fail(d->err, ERR_TOO_DEEP, "%s: nested deeper than %d", where, MSG_MAX_DEPTH);
    return fail(d->err, ERR_MALFORMED, "%s: truncated or invalid msgpack", where);
}

/* Copy a checked string into the arena, NUL-terminated. */
static const char *arena_put(codec_t *c, const char *s, uint32_t len)
{
    char *dst = c->arena + c->used;
    memcpy(dst, s, len);
    dst[len] = '\0';
    c->used += (size_t)len + 1;
    return dst;
}

static int decode_str(dec_t *d, const field_t *f, const char *where, const char **out)
{
    const char *s;
    uint32_t len;
    size_t chars;
    int rc = mpread_str(&d->r, &s, &len);
    if (rc)
        return fail_read(d, rc, where, "a string");
    if (!utf8_valid(s, len, &chars))
        return fail(d->err, ERR_INVALID_UTF8, "%s: not valid UTF-8", where);
    if (memchr(s, '\0', len))
        return fail(d->err, ERR_INVALID_VALUE, "%s: contains a NUL character", where);
    if (chars > f->max)
        return fail(d->err, ERR_TOO_LONG, "%s: %zu characters, at most %llu", where,
                    chars, (unsigned long long)f->max);
    if (chars < f->min)
        return fail(d->err, ERR_INVALID_VALUE, "%s: at least %llu characters", where,
                    (unsigned long long)f->min);
    if (f->check && !f->check(s, len))
        return fail(d->err, ERR_INVALID_VALUE, "%s: must be %s", where, f->what);
    /* the arena holds the whole body plus a NUL per field, so this fits */
    if (d->codec->used + len + 1 > ARENA_SIZE)
        return fail(d->err, ERR_TOO_LARGE, "%s: message too large", where);
    *out = arena_put(d->codec, s, len);
    return 0;
}

/* "case.name" for error messages; built for every key decoded, so by hand
 * rather than with snprintf (a tenth of the decoder's time). */
static void field_path(char *out, size_t size, const char *prefix, const char *name)
{
    size_t p = strlen(prefix), n = strlen(name);
    if (p + n >= size)
        n = p >= size ? 0 : size - 1 - p, p = p >= size ? size - 1 : p;
    memcpy(out, prefix, p);
    memcpy(out + p, name, n);
    out[p + n] = '\0';
}

static int decode_map(dec_t *d, const field_t *table, const use_t *uses,
                      void *base, uint64_t *present, const char *prefix);

static int decode_value(dec_t *d, const field_t *f, void *base, const char *where)
{
    char *dst = (char *)base + f->off;
    int rc;
    switch (f->type) {
    case T_STR:
        return decode_str(d, f, where, (const char **)(void *)dst);
    case T_UINT: {
        uint64_t v;
        if ((rc = mpread_uint(&d->r, &v)))
            return fail_read(d, rc, where, "a non-negative integer");
        if (v < f->min || v > f->max)
            return fail(d->err, ERR_INVALID_VALUE, "%s: %llu not in %llu..%llu", where,
                        (unsigned long long)v, (unsigned long long)f->min,
                        (unsigned long long)f->max);
        if (f->max <= UINT32_MAX)
            *(uint32_t *)(void *)dst = (uint32_t)v;
        else
            *(uint64_t *)(void *)dst = v;
        return 0;
    }
    case T_INT: {
        int64_t v;
        if ((rc = mpread_int(&d->r, &v)))
            return fail_read(d, rc, where, "an integer");
        if (v < f->imin || v > f->imax)
            return fail(d->err, ERR_INVALID_VALUE, "%s: out of range", where);
        *(int64_t *)(void *)dst = v;
        return 0;
    }
    case T_DOUBLE: {
        double v;
        if ((rc = mpread_double(&d->r, &v)))
            return fail_read(d, rc, where, "a number");
        if (!isfinite(v) || v < f->dmin || v > f->dmax)
            return fail(d->err, ERR_INVALID_VALUE, "%s: not in %g..%g", where, f->dmin, f->dmax);
        *(double *)(void *)dst = v;
        return 0;
    }
    case T_BOOL:
        if ((rc = mpread_bool(&d->r, (bool *)(void *)dst)))
            return fail_read(d, rc, where, "a boolean");
        return 0;
    case T_ENUM: {
        const char *s;
        uint32_t len;
        if ((rc = mpread_str(&d->r, &s, &len)))
            return fail_read(d, rc, where, "a string");
        for (int i = 0; i < f->count; i++)
            if (f->names[i] && strlen(f->names[i]) == len && memcmp(f->names[i], s, len) == 0) {
                *(int *)(void *)dst = i;
                return 0;
            }
        return fail(d->err, ERR_INVALID_VALUE, "%s: unknown value", where);
    }
    case T_CASE: {
        msg_case_t *c = (msg_case_t *)(void *)dst;
        return decode_map(d, case_fields, case_uses, c, &c->present, "case.");
    }
    }
    return fail(d->err, ERR_MALFORMED, "%s: internal: bad field type", where);
}

/* Find the field a key names among a command's uses. */
static const use_t *find_use(const field_t *table, const use_t *uses, int end,
                             const char *key, uint32_t len)
{
    for (const use_t *u = uses; u->field != end; u++) {
        const char *n = table[u->field].name;
        if (strlen(n) == len && memcmp(n, key, len) == 0)
            return u;
    }
    return NULL;
}

static int decode_map(dec_t *d, const field_t *table, const use_t *uses,
                      void *base, uint64_t *present, const char *prefix)
{
    int end = table == fields ? MF_COUNT : CF_COUNT;
    char where[96];
    uint32_t n;
    int rc = mpread_map(&d->r, &n);
    if (rc)
        return fail_read(d, rc, *prefix ? "case" : "body", "a map");
    if (n > MSG_MAX_KEYS)
        return fail(d->err, ERR_TOO_LONG, "%s: map of %u entries, at most %d",
                    *prefix ? "case" : "body", n, MSG_MAX_KEYS);
    uint64_t seen = 0;          /* keys given, nil or not: a nil must not hide a repeat */
    for (uint32_t i = 0; i < n; i++) {
        const char *key;
        uint32_t klen;
        if ((rc = mpread_str(&d->r, &key, &klen)))
            return fail_read(d, rc, *prefix ? "case key" : "key", "a string");
        if (!utf8_valid(key, klen, NULL))
            return fail(d->err, ERR_INVALID_UTF8, "%skey: not valid UTF-8", prefix);
        const use_t *u = find_use(table, uses, end, key, klen);
        if (!u) {   /* unknown keys are ignored, for compatibility */
            if ((rc = mpread_skip(&d->r, MSG_MAX_DEPTH)))
                return fail_read(d, rc, "unknown key's value", "a value");
            continue;
        }
        const field_t *f = &table[u->field];
        field_path(where, sizeof where, prefix, f->name);
        if ((seen >> u->field) & 1u)
            return fail(d->err, ERR_DUPLICATE_KEY, "%s: given twice", where);
        seen |= (uint64_t)1 << u->field;
        if (mpread_peek(&d->r) == MP_NIL) {    /* nil means absent */
            mpread_nil(&d->r);
            continue;
        }
        if ((rc = decode_value(d, f, base, where)))
            return rc;
        *present |= (uint64_t)1 << u->field;
    }
    for (const use_t *u = uses; u->field != end; u++)
        if (u->required && !((*present >> u->field) & 1u))
            return fail(d->err, ERR_MISSING_FIELD, "%s%s: required", prefix, table[u->field].name);
    return 0;
}

/* After a failed decode, find a top-level msg_id string so the ERROR can name
 * the request it answers. Best effort, with the same bounded reader. */
static void salvage_msg_id(dec_t *d, const codec_frame_t *body, msg_t *msg)
{
    uint32_t n, klen, vlen;
    const char *key, *val;
    if (msg->msg_id)
        return;
    mpread_init(&d->r, body->data, body->size);
    if (mpread_map(&d->r, &n))
        return;
    for (uint32_t i = 0; i < n; i++) {
        if (mpread_str(&d->r, &key, &klen))
            return;
        if (klen == 6 && memcmp(key, "msg_id", 6) == 0) {
            /* the first msg_id decides: a bad one is not replaced by a later one */
            if (mpread_str(&d->r, &val, &vlen) == 0 && vlen >= 1 && vlen <= 64 &&
                check_printable(val, vlen) && d->codec->used + vlen + 1 <= ARENA_SIZE)
                msg->msg_id = arena_put(d->codec, val, vlen);
            return;
        }
        if (mpread_skip(&d->r, MSG_MAX_DEPTH))
            return;
    }
}

static int decode_body(dec_t *d, const codec_frame_t *body, msg_t *msg)
{
    if (body->size > MSG_MAX_BODY)
        return fail(d->err, ERR_TOO_LARGE, "body: %zu bytes, at most %d", body->size, MSG_MAX_BODY);
    mpread_init(&d->r, body->data, body->size);
    int rc = decode_map(d, fields, commands[msg->cmd], msg, &msg->present, "");
    if (rc == 0 && mpread_left(&d->r) > 0)
        rc = fail(d->err, ERR_TRAILING_BYTES, "body: %zu bytes after the map", mpread_left(&d->r));
    return rc;
}

int codec_decode(codec_t *self, const codec_frame_t *frames, size_t nframes,
                 msg_t *msg, codec_error_t *err)
{
    dec_t d = {.codec = self, .err = err};
    msg_reset(msg, MSG_NONE);
    self->used = 0;
    err->code = MSG_OK;
    err->reason[0] = '\0';
    if (nframes < 1)
        return fail(err, ERR_MALFORMED, "no frames");
    size_t siglen = strlen(MSG_SIGNATURE);
    if (frames[0].size < 8 || memcmp(frames[0].data, MSG_SIGNATURE, 8) != 0)
        return fail(err, ERR_MALFORMED, "frame 1 is not a minqing signature");
    if (frames[0].size != siglen || memcmp(frames[0].data, MSG_SIGNATURE, siglen) != 0)
        return fail(err, ERR_BAD_VERSION, "unsupported protocol version; this broker speaks %s",
                    MSG_SIGNATURE);
    if (nframes != 3)
        return fail(err, ERR_MALFORMED, "%zu frames, expected 3: signature, command, body", nframes);
    msg->cmd = msg_cmd_from_name(frames[1].data, frames[1].size);
    int rc = msg->cmd == MSG_NONE ? fail(err, ERR_UNKNOWN_COMMAND, "unknown command")
                                  : decode_body(&d, &frames[2], msg);
    if (rc && frames[2].size <= MSG_MAX_BODY)
        salvage_msg_id(&d, &frames[2], msg);
    return rc;
}

/* ---- encode ---------------------------------------------------------- */

static bool has(uint64_t present, int bit)
{
    return (present >> bit) & 1u;
}

static int count_out(const field_t *table, const use_t *uses, int end,
                     uint64_t present, codec_error_t *err, const char *prefix)
{
    int n = 0;
    for (const use_t *u = uses; u->field != end; u++) {
        if (has(present, u->field))
            n++;
        else if (u->required)
            return fail(err, ERR_MISSING_FIELD, "%s%s: required", prefix, table[u->field].name), -1;
    }
    return n;
}

static int encode_map(codec_t *self, const field_t *table, const use_t *uses,
                      const void *base, uint64_t present, codec_error_t *err, const char *prefix);

static int encode_value(codec_t *self, const field_t *f, const void *base, codec_error_t *err)
{
    msgpack_packer *pk = &self->pk;
    const char *src = (const char *)base + f->off;
    switch (f->type) {
    case T_STR: {
        const char *s = *(const char *const *)(const void *)src;
        size_t len = s ? strlen(s) : 0;
        msgpack_pack_str(pk, len);
        return msgpack_pack_str_body(pk, s ? s : "", len);
    }
    case T_UINT:
        return msgpack_pack_uint64(pk, f->max <= UINT32_MAX ? *(const uint32_t *)(const void *)src
                                                            : *(const uint64_t *)(const void *)src);
    case T_INT:
        return msgpack_pack_int64(pk, *(const int64_t *)(const void *)src);
    case T_DOUBLE:
        return msgpack_pack_double(pk, *(const double *)(const void *)src);
    case T_BOOL:
        return *(const bool *)(const void *)src ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    case T_ENUM: {
        int v = *(const int *)(const void *)src;
        if (v < 0 || v >= f->count || !f->names[v])
            return fail(err, ERR_INVALID_VALUE, "%s: no wire name for %d", f->name, v), -1;
        size_t len = strlen(f->names[v]);
        msgpack_pack_str(pk, len);
        return msgpack_pack_str_body(pk, f->names[v], len);
    }
    case T_CASE: {
        const msg_case_t *c = (const msg_case_t *)(const void *)src;
        return encode_map(self, case_fields, case_uses, c, c->present, err, "case.");
    }
    }
    return -1;
}

static int encode_map(codec_t *self, const field_t *table, const use_t *uses,
                      const void *base, uint64_t present, codec_error_t *err, const char *prefix)
{
    int end = table == fields ? MF_COUNT : CF_COUNT;
    int n = count_out(table, uses, end, present, err, prefix);
    if (n < 0)
        return -1;
    msgpack_pack_map(&self->pk, (size_t)n);
    for (const use_t *u = uses; u->field != end; u++) {
        const field_t *f = &table[u->field];
        if (!has(present, u->field))
            continue;
        size_t len = strlen(f->name);
        msgpack_pack_str(&self->pk, len);
        msgpack_pack_str_body(&self->pk, f->name, len);
        if (encode_value(self, f, base, err))
            return -1;
    }
    return 0;
}

int codec_encode(codec_t *self, const msg_t *msg, codec_frame_t frames[3], codec_error_t *err)
{
    const char *name = msg_cmd_name(msg->cmd);
    if (!name)
        return fail(err, ERR_UNKNOWN_COMMAND, "cannot encode command %d", (int)msg->cmd), -1;
    msgpack_sbuffer_clear(&self->sbuf);
    if (encode_map(self, fields, commands[msg->cmd], msg, msg->present, err, ""))
        return -1;
    frames[0] = (codec_frame_t){MSG_SIGNATURE, strlen(MSG_SIGNATURE)};
    frames[1] = (codec_frame_t){name, strlen(name)};
    frames[2] = (codec_frame_t){self->sbuf.data, self->sbuf.size};
    return 0;
}

/* ---- equality -------------------------------------------------------- */

static bool value_equal(const field_t *f, const void *a, const void *b);

static bool map_equal(const field_t *table, const use_t *uses, int end,
                      const void *a, uint64_t pa, const void *b, uint64_t pb)
{
    for (const use_t *u = uses; u->field != end; u++) {
        bool ha = (pa >> u->field) & 1u, hb = (pb >> u->field) & 1u;
        if (ha != hb)
            return false;
        if (ha && !value_equal(&table[u->field], a, b))
            return false;
    }
    return true;
}

static bool value_equal(const field_t *f, const void *a, const void *b)
{
    const char *pa = (const char *)a + f->off, *pb = (const char *)b + f->off;
    switch (f->type) {
    case T_STR: {
        const char *sa = *(const char *const *)(const void *)pa;
        const char *sb = *(const char *const *)(const void *)pb;
        return strcmp(sa ? sa : "", sb ? sb : "") == 0;
    }
    case T_UINT:
        return f->max <= UINT32_MAX ? *(const uint32_t *)(const void *)pa == *(const uint32_t *)(const void *)pb
                                    : *(const uint64_t *)(const void *)pa == *(const uint64_t *)(const void *)pb;
    case T_INT: return *(const int64_t *)(const void *)pa == *(const int64_t *)(const void *)pb;
    case T_DOUBLE: return *(const double *)(const void *)pa == *(const double *)(const void *)pb;
    case T_BOOL: return *(const bool *)(const void *)pa == *(const bool *)(const void *)pb;
    case T_ENUM: return *(const int *)(const void *)pa == *(const int *)(const void *)pb;
    case T_CASE: {
        const msg_case_t *ca = (const msg_case_t *)(const void *)pa;
        const msg_case_t *cb = (const msg_case_t *)(const void *)pb;
        return map_equal(case_fields, case_uses, CF_COUNT, ca, ca->present, cb, cb->present);
    }
    }
    return false;
}

bool codec_equal(const msg_t *a, const msg_t *b)
{
    if (a->cmd != b->cmd || a->cmd <= MSG_NONE || a->cmd >= MSG_CMD_COUNT)
        return false;
    return map_equal(fields, commands[a->cmd], MF_COUNT, a, a->present, b, b->present);
}
