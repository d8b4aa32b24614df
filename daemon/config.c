/*
 * config.c - load and check minqing.conf (see config.h for the contract and
 * examples/minqing.conf for the format).
 *
 * inih splits the file into sections and key = value pairs; this file checks
 * them. Debian's inih gives the handler no line number, so the text reaches
 * inih through our own reader, one physical line per call, and the reader
 * counts. The reader also classifies each line by inih's own rules (comment,
 * section, key, indented continuation, junk), so every unparsable line and
 * every unknown section is reported, not only the first one inih returns.
 *
 * Problems are collected, not fatal: the whole file is checked and every
 * problem is reported with its line, in line order. Names may point forward
 * (a route to a department declared further down, a ladder to a target
 * mapped further down), so the list sections - [departments], [routes],
 * [streets], [communities], [deadlines], [ladder.contact], [ladder.resolve]
 * and [targets] - are only gathered while parsing and built into the config,
 * and cross-checked, after the last line. [broker] and [calendar] are applied
 * as they come; [calendar] reads the holiday file there and then, and that
 * file's own "FILE:LINE: what" errors join ours as they are.
 */
#include "config.h"
#include "msg.h"
#include "utf8.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE_BYTES (1024 * 1024)
#define MAX_PROBLEMS 100            /* more are counted, not kept */
#define MAX_NAME_CHARS 64           /* display names, as on the wire */
#define IPC_PATH_MAX 107            /* sizeof(sun_path) - 1 on Linux */
#define DAY_MS INT64_C(86400000)
#define HOUR_MS INT64_C(3600000)
#define MAX_DAYS 366                /* the longest deadline or ladder offset */
#define DEFAULT_CONTACT_MS (30 * 60 * 1000)     /* 网格员30分钟内联系居民 */

typedef enum {
    SEC_NONE,                       /* before the first section header */
    SEC_BROKER, SEC_DEPTS, SEC_ROUTES, SEC_STREETS, SEC_COMMUNITIES,
    SEC_DEADLINES, SEC_CALENDAR, SEC_LADDER_CONTACT, SEC_LADDER_RESOLVE, SEC_TARGETS,
    SEC_LOCAL_USERS,
    SEC_SKIP,                       /* unknown or broken header: already reported */
    SEC_COUNT
} section_t;

static const char *const section_names[SEC_COUNT] = {
    [SEC_BROKER] = "broker", [SEC_DEPTS] = "departments", [SEC_ROUTES] = "routes",
    [SEC_STREETS] = "streets", [SEC_COMMUNITIES] = "communities",
    [SEC_DEADLINES] = "deadlines", [SEC_CALENDAR] = "calendar",
    [SEC_LADDER_CONTACT] = "ladder.contact", [SEC_LADDER_RESOLVE] = "ladder.resolve",
    [SEC_TARGETS] = "targets", [SEC_LOCAL_USERS] = "local_users",
};

/* The section of each ladder, indexed by msg_ladder_t. */
static const section_t ladder_sections[LADDER_COUNT] = {
    [LADDER_CONTACT] = SEC_LADDER_CONTACT, [LADDER_RESOLVE] = SEC_LADDER_RESOLVE,
};

/* ---- [broker] keys, one table row each ---------------------------------- */

/* V_OFF_DURATION: 0 (off), or a duration within min..max */
typedef enum { V_ENDPOINT, V_PATH, V_DURATION, V_OFF_DURATION, V_NUMBER, V_DEPT, V_BOOL } vkind_t;

enum {
    K_INTAKE, K_WORKERS, K_EVENTS, K_DATABASE, K_HEARTBEAT, K_LIVENESS,
    K_AUTO_CLOSE, K_MANUAL, K_SERVER_CERT, K_KEYS, K_PLAIN_TCP, K_INTAKE_RATE, K_ACCEPT_WITHIN,
    K_COUNT
};
_Static_assert(K_COUNT <= CONFIG_BROKER_KEYS, "config_t.broker_line is too short");

static const struct broker_key {
    const char *name;
    vkind_t kind;
    bool required;
    size_t off;                     /* field in config_t */
    int64_t min, max;               /* V_DURATION (ms), V_NUMBER */
    const char *want;               /* the range, for messages */
} broker_keys[K_COUNT] = {
    [K_INTAKE] = {"intake", V_ENDPOINT, true, offsetof(config_t, intake_endpoint), 0, 0, NULL},
    [K_WORKERS] = {"workers", V_ENDPOINT, true, offsetof(config_t, worker_endpoint), 0, 0, NULL},
    [K_EVENTS] = {"events", V_ENDPOINT, true, offsetof(config_t, events_endpoint), 0, 0, NULL},
    [K_DATABASE] = {"database", V_PATH, true, offsetof(config_t, database), 0, 0, NULL},
    [K_HEARTBEAT] = {"heartbeat", V_DURATION, false, offsetof(config_t, heartbeat_ms),
                     100, 60000, "100ms..60s"},
    /* 1 cannot work: a worker heartbeats after heartbeat_ms of silence, the
     * very moment a broker at 1 takes it for dead (a worker that did what the
     * protocol says was lost and re-registered within seconds) */
    [K_LIVENESS] = {"liveness", V_NUMBER, false, offsetof(config_t, liveness), 2, 100, "2..100"},
    [K_AUTO_CLOSE] = {"auto_close", V_DURATION, false, offsetof(config_t, auto_close_ms),
                      0, MAX_DAYS * DAY_MS, "0 for off, or a duration up to 366d such as 3d"},
    [K_MANUAL] = {"manual_department", V_DEPT, true, 0, 0, 0, NULL},
    [K_SERVER_CERT] = {"server_cert", V_PATH, false, offsetof(config_t, server_cert), 0, 0, NULL},
    [K_KEYS] = {"keys", V_PATH, false, offsetof(config_t, keys_dir), 0, 0, NULL},
    [K_PLAIN_TCP] = {"allow_plain_tcp", V_BOOL, false, offsetof(config_t, allow_plain_tcp),
                     0, 1, "yes or no"},
    [K_INTAKE_RATE] = {"intake_rate", V_NUMBER, false, offsetof(config_t, intake_rate),
                       1, 1000000, "1..1000000 messages a second per intake key, or per "
                       "connection on ipc://"},
    /* the census runs once a second at most (stall.h), and no more often
     * than the loop wakes, a quarter heartbeat when idle: a shorter limit
     * could not be kept */
    [K_ACCEPT_WITHIN] = {"accept_within", V_OFF_DURATION, false,
                         offsetof(config_t, accept_within_ms), 1000, DAY_MS,
                         "0 for off, or 1s..1d such as 10m"},
};

/* ---- [calendar] keys ------------------------------------------------------ */

enum { CK_WEEKDAYS, CK_HOURS, CK_HOLIDAYS, CK_COUNT };

static const char *const calendar_keys[CK_COUNT] = {
    [CK_WEEKDAYS] = "weekdays", [CK_HOURS] = "hours", [CK_HOLIDAYS] = "holidays",
};

/* ---- list sections: the rest --------------------------------------------- */

typedef bool key_check_fn(const char *key);
static key_check_fn dept_id_ok, service_code_ok, street_code_ok, community_code_ok,
    deadline_key_ok, level_key_ok, target_ok, unix_user_ok;

static const struct list_section {
    const char *noun;               /* "duplicate department 'x'" */
    const char *key_noun;           /* "bad department id 'X'" */
    key_check_fn *key_ok;
    const char *key_want;
    bool named;                     /* the value is a display name */
} list_sections[SEC_COUNT] = {
    [SEC_DEPTS] = {"department", "department id", dept_id_ok,
                   "1..32 of a-z 0-9 _ . -, from a letter or digit", true},
    [SEC_ROUTES] = {"route", "service code", service_code_ok,
                    "1..64 of A-Z a-z 0-9 _ . -", false},
    [SEC_STREETS] = {"street", "street code", street_code_ok,
                     "1..32 of A-Z a-z 0-9 _, e.g. CG01", true},
    [SEC_COMMUNITIES] = {"community", "community code", community_code_ok,
                         "STREET-COMMUNITY, e.g. CG01-XH02", true},
    [SEC_DEADLINES] = {"deadline", "deadline rule", deadline_key_ok,
                       "[SERVICE_CODE.][low|normal|high|urgent.]contact|resolve", false},
    [SEC_LADDER_CONTACT] = {"contact ladder level", "contact ladder level", level_key_ok,
                            "1..16", false},
    [SEC_LADDER_RESOLVE] = {"resolve ladder level", "resolve ladder level", level_key_ok,
                            "1..16", false},
    [SEC_TARGETS] = {"target", "target", target_ok, "1..64 of a-z 0-9 _ . -", false},
    [SEC_LOCAL_USERS] = {"local user", "Unix user", unix_user_ok,
                         "a user name, or a number (uid)", false},
};

typedef struct {
    int line;
    char *key, *value;              /* taken (set NULL) when built into the config */
} entry_t;

typedef struct {
    entry_t *v;
    size_t n, cap;
} entries_t;

/* ---- the parser ---------------------------------------------------------- */

typedef struct {
    int line;
    size_t seq;                     /* keeps problems on one line in order */
    bool raw;                       /* another file's "FILE:LINE: what", written as it is */
    char *msg;
} problem_t;

typedef struct {
    config_t *cfg;
    const char *name;               /* the file name in messages */
    const char *text;               /* the input, and the reader's place in it */
    size_t len, pos;
    int lineno;
    section_t section;
    int section_line[SEC_COUNT];    /* first header of each section, 0 if none */
    bool have_prev;                 /* inih has a previous key: indented lines continue it */
    bool continuation;              /* the current line is such a continuation */
    int *key_line;                  /* cfg->broker_line: where each [broker] key was set */
    int calendar_line[CK_COUNT];    /* where each [calendar] key was set */
    char *manual_dept;
    entries_t lists[SEC_COUNT];
    problem_t *problems;
    size_t nproblems, dropped;      /* kept (at most MAX_PROBLEMS), and the others */
    size_t seq;                     /* problems found so far */
    bool oom;
} parser_t;

static void problem_at(parser_t *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define problem(p, ...) problem_at((p), (p)->lineno, __VA_ARGS__)

static int problem_cmp(const void *a, const void *b)
{
    const problem_t *x = a, *y = b;
    unsigned lx = x->line ? (unsigned)x->line : UINT_MAX;   /* file-wide ones last */
    unsigned ly = y->line ? (unsigned)y->line : UINT_MAX;
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The slot for a problem that sorts as `pr` does: a free one, or, when
 * all are taken, the one that sorts last if pr comes before it (those found
 * after the last line, routes and targets, come early in the file and are
 * shown before later parse errors); NULL when it is not kept. */
static problem_t *problem_slot(parser_t *p, const problem_t *pr)
{
    if (p->nproblems < MAX_PROBLEMS)
        return &p->problems[p->nproblems];
    problem_t *last = &p->problems[0];
    for (size_t i = 1; i < p->nproblems; i++)
        if (problem_cmp(&p->problems[i], last) > 0)
            last = &p->problems[i];
    return problem_cmp(pr, last) < 0 ? last : NULL;
}

static void problem_put(parser_t *p, int line, bool raw, const char *msg)
{
    if (!p->problems && !(p->problems = calloc(MAX_PROBLEMS, sizeof *p->problems))) {
        p->oom = true;
        return;
    }
    problem_t pr = {line, p->seq++, raw, NULL}, *slot = problem_slot(p, &pr);
    if (!slot) {
        p->dropped++;                   /* this one */
        return;
    }
    if (!(pr.msg = strdup(msg))) {      /* the one it would replace stays, counted */
        p->oom = true;
        return;
    }
    if (slot == &p->problems[p->nproblems]) {
        p->nproblems++;
    } else {
        p->dropped++;                   /* the one it replaces */
        free(slot->msg);
    }
    *slot = pr;
}

static void problem_at(parser_t *p, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    problem_put(p, line, false, msg);
}

static bool problem_on_line(const parser_t *p, int line)
{
    for (size_t i = 0; i < p->nproblems; i++)
        if (p->problems[i].line == line)
            return true;
    return false;
}

static char *xstrdup(parser_t *p, const char *s)
{
    char *d = strdup(s);
    if (!d)
        p->oom = true;
    return d;
}

/* ---- small checks -------------------------------------------------------- */

static bool is_dept_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static bool is_code_char(int c)
{
    return is_dept_char(c) || (c >= 'A' && c <= 'Z');
}

/* a part of a grid code: as in the protocol's grid_code, no '.' or '-' */
static bool is_part_char(int c)
{
    return is_code_char(c) && c != '.' && c != '-';
}

static size_t span(const char *s, bool (*ok)(int c))
{
    size_t n = 0;
    while (s[n] && ok((unsigned char)s[n]))
        n++;
    return n;
}

/* A department id starts with a letter or digit: "-" means "no department"
 * in event topics, and "." or ".." would name keys/workers/ itself or its
 * parent as the department's allowlist. */
static bool dept_id_ok(const char *key)
{
    size_t n = span(key, is_dept_char);
    bool first_ok = (key[0] >= 'a' && key[0] <= 'z') || (key[0] >= '0' && key[0] <= '9');
    return n >= 1 && n <= 32 && !key[n] && first_ok;
}

static bool service_code_ok(const char *key)
{
    size_t n = span(key, is_code_char);
    return n >= 1 && n <= 64 && !key[n];
}

static bool street_code_ok(const char *key)
{
    size_t n = span(key, is_part_char);
    return n >= 1 && n <= 32 && !key[n];
}

static bool community_code_ok(const char *key)
{
    size_t n = span(key, is_part_char);
    return n >= 1 && n <= 32 && key[n] == '-' && street_code_ok(key + n + 1);
}

static bool printable_ascii(const char *s)
{
    for (; *s; s++)
        if (*s < 0x21 || *s > 0x7e)
            return false;
    return true;
}

/* Leading decimal digits of s, or -1 if there are none or they overflow. */
static int64_t parse_digits(const char *s, const char **end)
{
    int64_t v = 0;
    const char *q = s;
    *end = s;
    for (; *q >= '0' && *q <= '9'; q++) {
        int d = *q - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *end = q;
    return q == s ? -1 : v;
}

/* an escalation target, as on the wire: a token of 1..64 */
static bool target_ok(const char *key)
{
    size_t n = span(key, is_dept_char);
    return n >= 1 && n <= 64 && !key[n];
}

/* a Unix user name as useradd takes it (1..32 of a-z A-Z 0-9 _ . -, not
 * from '-', a trailing '$' for machine accounts), or a uid */
static bool is_user_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
}

static bool unix_user_ok(const char *key)
{
    size_t n = span(key, is_user_char);
    n += key[n] == '$';
    return n >= 1 && n <= 32 && !key[n] && key[0] != '-';
}

/* a ladder level: 1..16, no leading zero */
static bool level_key_ok(const char *key)
{
    const char *end;
    int64_t n = parse_digits(key, &end);
    return n >= 1 && n <= CONFIG_MAX_LEVELS && !*end && key[0] != '0';
}

/* Strip `word` from the end of the first *n bytes of key: the whole of it,
 * or ".word" after something. */
static bool strip_word(const char *key, size_t *n, const char *word)
{
    size_t w = strlen(word);
    if (*n == w && !memcmp(key, word, w)) {
        *n = 0;
        return true;
    }
    if (*n > w + 1 && key[*n - w - 1] == '.' && !memcmp(key + *n - w, word, w)) {
        *n -= w + 1;
        return true;
    }
    return false;
}

/* Split a [deadlines] key "[SERVICE_CODE.][PRIORITY.]LADDER": the service
 * code is the first *code_len bytes of key (0: any), *priority -1 for any.
 * A code ending in ".urgent" and the like reads as that priority. */
static bool deadline_key_split(const char *key, int *ladder, int *priority, size_t *code_len)
{
    size_t n = strlen(key);
    *ladder = *priority = -1;
    for (int l = LADDER_CONTACT; l <= LADDER_RESOLVE && *ladder < 0; l++)
        if (strip_word(key, &n, msg_ladder_names[l]))
            *ladder = l;
    for (int pr = 0; pr < PRIO_COUNT && *ladder >= 0 && n && *priority < 0; pr++)
        if (strip_word(key, &n, msg_priority_names[pr]))
            *priority = pr;
    *code_len = n;
    for (size_t i = 0; i < n; i++)
        if (!is_code_char((unsigned char)key[i]))
            return false;
    return *ladder >= 0 && n <= 64;
}

static bool deadline_key_ok(const char *key)
{
    int ladder, priority;
    size_t code_len;
    return deadline_key_split(key, &ladder, &priority, &code_len);
}

int64_t config_parse_duration(const char *text)
{
    /* Fixed-length units only. Working days and hours need the holiday
     * calendar and are not a fixed number of ms: see config_parse_dur. */
    static const struct { const char *unit; int64_t ms; } units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 86400 * 1000},
    };
    const char *unit;
    int64_t n = text ? parse_digits(text, &unit) : -1;
    if (n < 0)
        return -1;
    if (!*unit)
        return n == 0 ? 0 : -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(unit, units[i].unit))
            return n > INT64_MAX / units[i].ms ? -1 : n * units[i].ms;
    return -1;
}

/* The wall-clock units, or wd (a count of working days) or wh (ms of
 * working time); *out is left alone when text is bad. */
int config_parse_dur(const char *text, config_dur_t *out)
{
    const char *unit;
    int64_t n = text ? parse_digits(text, &unit) : -1;
    if (n < 0 || !out)
        return -1;
    if (!strcmp(unit, "wd")) {
        *out = (config_dur_t){DUR_WORKDAYS, n};
        return 0;
    }
    if (!strcmp(unit, "wh")) {
        if (n > INT64_MAX / HOUR_MS)
            return -1;
        *out = (config_dur_t){DUR_WORKHOURS, n * HOUR_MS};
        return 0;
    }
    if ((n = config_parse_duration(text)) < 0)
        return -1;
    *out = (config_dur_t){DUR_WALL, n};
    return 0;
}

/* A deadline lasts more than nothing and at most MAX_DAYS days' worth. */
static bool deadline_dur_ok(const config_dur_t *d)
{
    int64_t max = d->kind == DUR_WORKDAYS ? MAX_DAYS : MAX_DAYS * DAY_MS;
    return d->amount > 0 && d->amount <= max;
}

/* A ladder offset: a wall-clock duration with an optional sign, at most
 * MAX_DAYS days either way; false if bad. */
static bool parse_offset(const char *text, int64_t *ms)
{
    int sign = *text == '-' ? -1 : 1;
    int64_t n = config_parse_duration(text + (*text == '-' || *text == '+'));
    if (n < 0 || n > MAX_DAYS * DAY_MS)
        return false;
    *ms = sign * n;
    return true;
}

static bool tcp_ok(const char *hostport)
{
    const char *colon = strrchr(hostport, ':'), *end;
    if (!colon || colon == hostport)
        return false;
    if (!strcmp(colon + 1, "*"))
        return true;
    int64_t port = parse_digits(colon + 1, &end);
    return port >= 1 && port <= 65535 && !*end;
}

/* NULL if v is an endpoint zmq can bind, else what is wrong with it. */
static const char *endpoint_problem(const char *v)
{
    const char *want = "want ipc://PATH, tcp://HOST:PORT or inproc://NAME";
    if (!printable_ascii(v))
        return want;
    if (!strncmp(v, "ipc://", 6) && v[6] == '@')
        return "ipc://@NAME is an abstract socket, which has no file mode: any local user "
               "could connect; give a path";
    if (!strncmp(v, "ipc://", 6))
        return !v[6] ? want : strlen(v + 6) > IPC_PATH_MAX ? "ipc path longer than 107 bytes" : NULL;
    if (!strncmp(v, "inproc://", 9))
        return v[9] ? NULL : want;
    if (!strncmp(v, "tcp://", 6))
        return tcp_ok(v + 6) ? NULL : "want tcp://HOST:PORT, PORT 1..65535 or *";
    return want;
}

/* NULL if a display name is fine, else what is wrong with it. */
static const char *display_name_problem(const char *s)
{
    size_t chars;
    if (!*s)
        return "has no display name";
    if (!utf8_valid(s, strlen(s), &chars))
        return "has a display name that is not valid UTF-8";
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return "has a control character in its display name";
    return chars > MAX_NAME_CHARS ? "has a display name longer than 64 characters" : NULL;
}

/* ---- the reader: one physical line per call, classified as inih will ---- */

/* inih's rule for where a token ends: at one of `chars`, at a ';' after
 * whitespace (an inline comment), or at the end. */
static const char *ini_find(const char *s, const char *end, const char *chars)
{
    bool was_space = false;
    for (; s < end; s++) {
        if ((chars && strchr(chars, *s)) || (was_space && *s == ';'))
            break;
        was_space = isspace((unsigned char)*s);
    }
    return s;
}

static section_t section_find(const char *name, size_t len)
{
    for (int s = SEC_BROKER; s < SEC_SKIP; s++)
        if (strlen(section_names[s]) == len && !memcmp(section_names[s], name, len))
            return (section_t)s;
    return SEC_SKIP;
}

/* inih ignores what follows a header's ']': `[ladder.contact] 1 = 0 community`
 * would leave the ladder empty, in silence. Only a comment may follow. */
static void header_tail(parser_t *p, const char *name, size_t len, const char *s,
                        const char *end)
{
    while (s < end && isspace((unsigned char)*s))
        s++;
    if (s < end && *s != ';')
        problem(p, "text '%.*s' after the section header [%.*s] (put KEY = VALUE on a line "
                   "of its own; only a ; comment may follow a header)",
                (int)(end - s), s, (int)len, name);
}

static void section_header(parser_t *p, const char *s, const char *end)
{
    const char *close = ini_find(s, end, "]");
    if (close == end || *close != ']') {
        problem(p, "cannot parse section header (no closing ']')");
        p->section = SEC_SKIP;          /* inih stays in the old section; we stop caring */
        return;
    }
    size_t len = (size_t)(close - s);
    p->have_prev = false;
    p->section = section_find(s, len);
    if (p->section == SEC_SKIP)
        problem(p, "unknown section [%.*s]", (int)len, s);
    else if (!p->section_line[p->section])
        p->section_line[p->section] = p->lineno;
    header_tail(p, s, len, close + 1, end);
}

static void classify(parser_t *p, const char *line)
{
    const char *s = line, *end = line + strlen(line);
    if (p->lineno == 1 && !strncmp(s, "\xEF\xBB\xBF", 3))
        s += 3;                         /* inih skips a UTF-8 BOM */
    while (s < end && isspace((unsigned char)*s))
        s++;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    p->continuation = false;
    if (s == end || *s == ';' || *s == '#')
        return;
    if (p->have_prev && s > line) {
        p->continuation = true;         /* inih calls the handler with the previous key */
        return;
    }
    if (*s == '[') {
        section_header(p, s + 1, end);
        return;
    }
    const char *sep = ini_find(s, end, "=:");
    if (sep == end || *sep == ';')
        problem(p, "cannot parse line (want 'key = value' or '[section]')");
    else
        p->have_prev = sep > s;         /* inih keeps the key name unless it is empty */
}

static bool is_comment(const char *s, const char *end)
{
    while (s < end && isspace((unsigned char)*s))
        s++;
    return s < end && (*s == ';' || *s == '#');
}

static char *blank_line(char *buf)
{
    buf[0] = '\n';
    buf[1] = '\0';
    return buf;
}

/* The bytes of a line before its end, "\n" or "\r\n": the limit is on what
 * the line says, the same in a file saved on Windows. */
static size_t content_len(const char *s, size_t n)
{
    if (n && s[n - 1] == '\n')
        n--;
    if (n && s[n - 1] == '\r')
        n--;
    return n;
}

static char *read_line(char *buf, int num, void *stream)
{
    parser_t *p = stream;
    if (p->pos >= p->len || num < 2)
        return NULL;
    const char *s = p->text + p->pos;
    const char *nl = memchr(s, '\n', p->len - p->pos);
    size_t n = nl ? (size_t)(nl - s) + 1 : p->len - p->pos, len = content_len(s, n);
    p->pos += n;
    p->lineno++;
    if (memchr(s, '\0', n)) {
        problem(p, "NUL byte in line");
        return blank_line(buf);
    }
    if (len > (size_t)num - 2) {        /* inih would split it: refuse, or drop a comment */
        if (!is_comment(s, s + len))
            problem(p, "line too long (more than %d bytes)", num - 2);
        return blank_line(buf);
    }
    memcpy(buf, s, len);                /* "\n" for the line end: inih drops a "\r" anyway */
    strcpy(buf + len, "\n");
    classify(p, buf);
    return buf;
}

/* ---- the handler ---------------------------------------------------------- */

static void broker_value(parser_t *p, const struct broker_key *k, const char *value)
{
    void *field = (char *)p->cfg + k->off;
    const char *why;
    int64_t n;
    switch (k->kind) {
    case V_ENDPOINT:
        if ((why = endpoint_problem(value)))
            problem(p, "bad endpoint '%s' for %s (%s)", value, k->name, why);
        else
            *(char **)field = xstrdup(p, value);
        break;
    case V_PATH:
        if (!*value)
            problem(p, "missing value for %s", k->name);
        else
            *(char **)field = xstrdup(p, value);
        break;
    case V_DURATION:
    case V_OFF_DURATION:
        n = config_parse_duration(value);
        if ((n < k->min && !(n == 0 && k->kind == V_OFF_DURATION)) || n > k->max)
            problem(p, "bad duration '%s' for %s (want %s)", value, k->name, k->want);
        else
            *(int64_t *)field = n;
        break;
    case V_NUMBER:
        n = parse_digits(value, &why);
        if (n < k->min || n > k->max || *why)
            problem(p, "bad number '%s' for %s (want %s)", value, k->name, k->want);
        else
            *(int *)field = (int)n;
        break;
    case V_DEPT:
        p->manual_dept = xstrdup(p, value);  /* resolved once every department is known */
        break;
    case V_BOOL:
        if (strcmp(value, "yes") == 0 || strcmp(value, "no") == 0)
            *(int *)field = strcmp(value, "yes") == 0;
        else
            problem(p, "bad value '%s' for %s (want %s)", value, k->name, k->want);
        break;
    }
}

static void broker_entry(parser_t *p, const char *key, const char *value)
{
    int k = 0;
    while (k < K_COUNT && strcmp(broker_keys[k].name, key))
        k++;
    if (k == K_COUNT)
        problem(p, "unknown key '%s' in [broker]", key);
    else if (p->key_line[k])
        problem(p, "duplicate key '%s' in [broker] (first on line %d)", key, p->key_line[k]);
    else {
        p->key_line[k] = p->lineno;
        broker_value(p, &broker_keys[k], value);
    }
}

/* Read the holiday file. Its errors about one of its lines ("FILE:LINE: what")
 * are reported as they are; those about the whole file ("FILE: what": cannot
 * open, too large) after this file's line of the holidays key. */
static void load_holidays(parser_t *p, const char *path)
{
    char err[8192] = "";            /* 20 lines and a count, whole (calendar_load) */
    bool said = false;
    size_t plen = strlen(path);
    if (calendar_load(&p->cfg->calendar, path, err, sizeof err) == 0)
        return;
    for (char *line = err, *nl; line; line = nl ? nl + 1 : NULL) {
        if ((nl = strchr(line, '\n')))
            *nl = '\0';
        bool whole_file = !strncmp(line, path, plen) && !strncmp(line + plen, ": ", 2);
        if (*line)
            problem_put(p, p->lineno, !whole_file, line), said = true;
    }
    if (!said)
        problem(p, "cannot load holidays from '%s'", path);
}

static void calendar_value(parser_t *p, int k, const char *value)
{
    calendar_t *cal = &p->cfg->calendar;
    switch (k) {
    case CK_WEEKDAYS:
        if (calendar_set_weekdays(cal, value) < 0)
            problem(p, "bad weekdays '%s' (want a range or a list of mon tue wed thu fri "
                       "sat sun, e.g. mon-fri or mon,tue,sat)", value);
        break;
    case CK_HOURS:
        if (calendar_set_hours(cal, value) < 0)
            problem(p, "bad hours '%s' (want 1..%d windows HH:MM-HH:MM, in order and not "
                       "overlapping, e.g. 09:00-12:00, 13:30-17:30)", value, CALENDAR_MAX_WINDOWS);
        break;
    case CK_HOLIDAYS:
        if (!*value)
            problem(p, "missing value for holidays");
        else
            load_holidays(p, value);
        break;
    }
}

static void calendar_entry(parser_t *p, const char *key, const char *value)
{
    int k = 0;
    while (k < CK_COUNT && strcmp(calendar_keys[k], key))
        k++;
    if (k == CK_COUNT)
        problem(p, "unknown key '%s' in [calendar]", key);
    else if (p->calendar_line[k])
        problem(p, "duplicate key '%s' in [calendar] (first on line %d)", key,
                p->calendar_line[k]);
    else {
        p->calendar_line[k] = p->lineno;
        calendar_value(p, k, value);
    }
}

static const entry_t *entries_find(const entries_t *list, const char *key)
{
    for (size_t i = 0; i < list->n; i++)
        if (!strcmp(list->v[i].key, key))
            return &list->v[i];
    return NULL;
}

static void entries_push(parser_t *p, entries_t *list, const char *key, const char *value)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 16;
        entry_t *v = realloc(list->v, cap * sizeof *v);
        if (!v) {
            p->oom = true;
            return;
        }
        list->v = v, list->cap = cap;
    }
    entry_t *e = &list->v[list->n++];
    e->line = p->lineno;
    e->key = xstrdup(p, key);
    e->value = xstrdup(p, value);
    if (!e->key || !e->value)
        list->n--, free(e->key), free(e->value);
}

/* Entries with a bad key are kept, so one typo does not also turn every
 * route naming that department into an "unknown department". */
static void list_entry(parser_t *p, const char *key, const char *value)
{
    const struct list_section *ls = &list_sections[p->section];
    entries_t *list = &p->lists[p->section];
    const entry_t *first = entries_find(list, key);
    const char *why;
    if (first) {
        problem(p, "duplicate %s '%s' (first on line %d)", ls->noun, key, first->line);
        return;
    }
    if (!ls->key_ok(key))
        problem(p, "bad %s '%s' (want %s)", ls->key_noun, key, ls->key_want);
    if (ls->named && (why = display_name_problem(value)))
        problem(p, "%s '%s' %s", ls->noun, key, why);
    entries_push(p, list, key, value);
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    parser_t *p = user;
    (void)section;                      /* p->section mirrors it, and knows what was reported */
    if (p->continuation)
        problem(p, "indented line is read as a continuation of '%s' "
                   "(multi-line values are not supported: do not indent)", name);
    else if (!*name)
        problem(p, "missing key before '='");
    else if (p->section == SEC_NONE)
        problem(p, "key '%s' is outside any section", name);
    else if (p->section == SEC_BROKER)
        broker_entry(p, name, value);
    else if (p->section == SEC_CALENDAR)
        calendar_entry(p, name, value);
    else if (p->section != SEC_SKIP)
        list_entry(p, name, value);
    return 1;                           /* inih's own error slot is for syntax only */
}

/* ---- after the last line: build the lists, resolve names ---------------- */

static char *take(char **s)
{
    char *t = *s;
    *s = NULL;
    return t;
}

/* The host of a tcp:// endpoint as the kernel binds it: "" for any address. */
static void tcp_host(const char *v, size_t len, char *host, size_t size)
{
    snprintf(host, size, "%.*s", (int)len, v);
    if (!strcmp(host, "*") || !strcmp(host, "0.0.0.0"))
        host[0] = '\0';
    else if (!strcmp(host, "localhost"))
        snprintf(host, size, "127.0.0.1");
}

/* Whether two endpoints take the same address: the same text, or TCP on one
 * port where the hosts are the same or either is any address, which Linux
 * will not bind twice: "*" and 127.0.0.1 on one port. */
static bool endpoints_clash(const char *a, const char *b)
{
    if (!strcmp(a, b))
        return true;
    if (strncmp(a, "tcp://", 6) || strncmp(b, "tcp://", 6))
        return false;
    const char *pa = strrchr(a + 6, ':'), *pb = strrchr(b + 6, ':');
    if (!pa || !pb || strcmp(pa, pb) || !strcmp(pa, ":*"))
        return false;               /* another port, or each its own free port */
    char ha[256], hb[256];
    tcp_host(a + 6, (size_t)(pa - a - 6), ha, sizeof ha);
    tcp_host(b + 6, (size_t)(pb - b - 6), hb, sizeof hb);
    return !ha[0] || !hb[0] || !strcmp(ha, hb);
}

/* With server_cert every tcp:// endpoint is a CURVE server, and a key is
 * admitted only from the lists under keys: without them the broker would
 * start, or a reload would go on, admitting no key at all. */
static void check_curve(parser_t *p)
{
    const config_t *cfg = p->cfg;
    const char *ep[] = {cfg->intake_endpoint, cfg->worker_endpoint, cfg->events_endpoint};
    bool tcp = false;
    for (size_t i = 0; i < 3; i++)
        tcp = tcp || (ep[i] && !strncmp(ep[i], "tcp://", 6));
    if (cfg->server_cert && tcp && !cfg->keys_dir)
        problem_at(p, p->key_line[K_SERVER_CERT], "server_cert needs keys = DIR in [broker]: "
                   "without the key lists no client or worker is admitted on a tcp:// "
                   "endpoint");
}

static void check_broker(parser_t *p)
{
    const char *ep[] = {[K_INTAKE] = p->cfg->intake_endpoint,
                        [K_WORKERS] = p->cfg->worker_endpoint,
                        [K_EVENTS] = p->cfg->events_endpoint};
    for (int k = 0; k < K_COUNT; k++)
        if (broker_keys[k].required && !p->key_line[k])
            problem_at(p, p->section_line[SEC_BROKER],
                       "missing required key '%s' in [broker]", broker_keys[k].name);
    for (int a = K_INTAKE; a <= K_EVENTS; a++)
        for (int b = K_INTAKE; b < a; b++)
            if (ep[a] && ep[b] && endpoints_clash(ep[a], ep[b]))
                problem_at(p, p->key_line[a], "endpoint '%s' for %s is already used by %s",
                           ep[a], broker_keys[a].name, broker_keys[b].name);
    check_curve(p);
}

static void build_depts(parser_t *p)
{
    entries_t *list = &p->lists[SEC_DEPTS];
    config_t *cfg = p->cfg;
    if (list->n && !(cfg->depts = calloc(list->n, sizeof *cfg->depts))) {
        p->oom = true;
        return;
    }
    for (size_t i = 0; i < list->n; i++) {
        cfg->depts[i].id = take(&list->v[i].key);
        cfg->depts[i].name = take(&list->v[i].value);
    }
    cfg->ndepts = list->n;
    if (p->manual_dept && (cfg->manual_dept = config_dept_find(cfg, p->manual_dept)) < 0)
        problem_at(p, p->key_line[K_MANUAL], "manual_department '%s' is not a department",
                   p->manual_dept);
}

static void build_places(parser_t *p, section_t sec, config_place_t **places, size_t *n)
{
    entries_t *list = &p->lists[sec];
    if (list->n && !(*places = calloc(list->n, sizeof **places))) {
        p->oom = true;
        return;
    }
    for (size_t i = 0; i < list->n; i++) {
        (*places)[i].code = take(&list->v[i].key);
        (*places)[i].name = take(&list->v[i].value);
    }
    *n = list->n;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* Split "lead, co, ..." in place; the count may exceed max, names holds max. */
static int split_depts(char *value, char **names, int max)
{
    int n = 0;
    for (char *item = value, *comma; item; item = comma ? comma + 1 : NULL) {
        if ((comma = strchr(item, ',')))
            *comma = '\0';
        if (n < max)
            names[n] = trim(item);
        n++;
    }
    return n;
}

/* Resolve the i-th name of a route; each mistake is reported once. */
static void route_add(parser_t *p, const entry_t *e, config_route_t *r, char **names, int i)
{
    int seen = 0, d;
    for (int j = 0; j < i; j++)
        seen += !strcmp(names[j], names[i]);
    if (seen > 1 || (seen && !*names[i]))
        return;
    if (!*names[i])
        problem_at(p, e->line, "route '%s' has an empty department name", r->service_code);
    else if (seen)
        problem_at(p, e->line, "route '%s' names department '%s' twice",
                   r->service_code, names[i]);
    else if ((d = config_dept_find(p->cfg, names[i])) < 0)
        problem_at(p, e->line, "route '%s': unknown department '%s'",
                   r->service_code, names[i]);
    else if (i == 0)
        r->lead = d;
    else
        r->co[r->nco++] = d;
}

static void resolve_route(parser_t *p, const entry_t *e, config_route_t *r)
{
    char *names[1 + CONFIG_MAX_ROUTE_DEPTS];
    int n = *e->value ? split_depts(e->value, names, 1 + CONFIG_MAX_ROUTE_DEPTS) : 0;
    r->lead = -1;
    if (n == 0)
        problem_at(p, e->line, "route '%s' names no department", r->service_code);
    else if (n > 1 + CONFIG_MAX_ROUTE_DEPTS)
        problem_at(p, e->line, "route '%s' has %d co-handling departments (at most %d)",
                   r->service_code, n - 1, CONFIG_MAX_ROUTE_DEPTS);
    else
        for (int i = 0; i < n; i++)
            route_add(p, e, r, names, i);
}

static void build_routes(parser_t *p)
{
    entries_t *list = &p->lists[SEC_ROUTES];
    config_t *cfg = p->cfg;
    if (list->n && !(cfg->routes = calloc(list->n, sizeof *cfg->routes))) {
        p->oom = true;
        return;
    }
    for (size_t i = 0; i < list->n; i++) {
        cfg->routes[i].service_code = take(&list->v[i].key);
        resolve_route(p, &list->v[i], &cfg->routes[i]);
        if (!strcmp(cfg->routes[i].service_code, "default"))
            cfg->default_route = (int)i;
    }
    cfg->nroutes = list->n;
    if (cfg->default_route < 0)
        problem_at(p, p->section_line[SEC_ROUTES],
                   "no default route (add 'default = DEPARTMENT' to [routes])");
}

/* Whether a working-time deadline ends within the weeks the calendar walks
 * (CALENDAR_REACH_WEEKS): past them it would fall back to wall time, and
 * 8784wh of one working hour a day would end before 2000wh. (The whole
 * [calendar] is read by now: the rules are built once the file is.) */
static bool deadline_reached(parser_t *p, const entry_t *e, const config_dur_t *d)
{
    const calendar_t *cal = &p->cfg->calendar;
    int64_t max = d->kind == DUR_WORKDAYS  ? (int64_t)calendar_week_days(cal) * CALENDAR_REACH_WEEKS
                  : d->kind == DUR_WORKHOURS ? calendar_week_ms(cal) * CALENDAR_REACH_WEEKS
                                             : d->amount;
    if (d->amount <= max)
        return true;
    problem_at(p, e->line, "deadline '%s' = %s does not end within %d weeks of the working "
               "time [calendar] weekdays and hours give (at most %" PRId64 "%s)", e->key,
               e->value, CALENDAR_REACH_WEEKS,
               d->kind == DUR_WORKDAYS ? max : max / 3600000, d->kind == DUR_WORKDAYS ? "wd" : "wh");
    return false;
}

/* One [deadlines] line into the next free rule; false if it is bad. */
static bool deadline_rule(parser_t *p, const entry_t *e, config_deadline_t *d)
{
    size_t code_len;
    if (!deadline_key_split(e->key, &d->ladder, &d->priority, &code_len))
        return false;                   /* reported as it was read */
    if (config_parse_dur(e->value, &d->dur) < 0 || !deadline_dur_ok(&d->dur)) {
        problem_at(p, e->line, "bad duration '%s' for deadline '%s' (want e.g. 30m, 4h, 2d, "
                               "5wd for working days or 8wh for working hours; above 0, at "
                               "most %dd, %dwd or %dwh)", e->value, e->key, MAX_DAYS, MAX_DAYS,
                   MAX_DAYS * 24);
        return false;
    }
    if (!deadline_reached(p, e, &d->dur))
        return false;
    if (code_len && !(d->service_code = strndup(e->key, code_len))) {
        p->oom = true;
        return false;
    }
    return true;
}

/* [deadlines], plus the built-in "contact = 30m" unless the file gives a
 * plain contact rule: without one every case still has a contact deadline. */
static void build_deadlines(parser_t *p)
{
    entries_t *list = &p->lists[SEC_DEADLINES];
    config_t *cfg = p->cfg;
    bool plain_contact = false;
    if (!(cfg->deadlines = calloc(list->n + 1, sizeof *cfg->deadlines))) {
        p->oom = true;
        return;
    }
    for (size_t i = 0; i < list->n; i++) {
        config_deadline_t *d = &cfg->deadlines[cfg->ndeadlines];
        if (!deadline_rule(p, &list->v[i], d))
            continue;
        plain_contact |= !d->service_code && d->priority < 0 && d->ladder == LADDER_CONTACT;
        cfg->ndeadlines++;
    }
    if (!plain_contact)
        cfg->deadlines[cfg->ndeadlines++] = (config_deadline_t){
            NULL, -1, LADDER_CONTACT, {DUR_WALL, DEFAULT_CONTACT_MS}};
}

/* `TARGET = -`: the target is for the log alone, on purpose, so it is not
 * warned about as a typo would be. */
#define TARGET_LOG_ONLY "-"

/* Check [targets]: each names one known department, or is for the log. */
static void check_targets(parser_t *p)
{
    const entries_t *list = &p->lists[SEC_TARGETS];
    for (size_t i = 0; i < list->n; i++) {
        const entry_t *e = &list->v[i];
        if (strcmp(e->value, TARGET_LOG_ONLY) == 0)
            continue;
        if (!*e->value)
            problem_at(p, e->line, "target '%s' names no department", e->key);
        else if (!dept_id_ok(e->value))
            problem_at(p, e->line, "target '%s': bad department id '%s' (want one department)",
                       e->key, e->value);
        else if (config_dept_find(p->cfg, e->value) < 0)
            problem_at(p, e->line, "target '%s': unknown department '%s'", e->key, e->value);
    }
}

/* The department [targets] names for a ladder target, or -1 (none, or `-`). */
static int target_dept(const parser_t *p, const char *target)
{
    const entry_t *e = entries_find(&p->lists[SEC_TARGETS], target);
    return e && strcmp(e->value, TARGET_LOG_ONLY) ? config_dept_find(p->cfg, e->value) : -1;
}

/* Fill in one rung; false if out of memory. */
static bool level_add(parser_t *p, config_level_t *lv, int64_t offset_ms, const char *target)
{
    lv->offset_ms = offset_ms;
    lv->dept = target_dept(p, target);
    if (!(lv->target = strdup(target)))
        p->oom = true;
    return lv->target != NULL;
}

/* Split "OFFSET TARGET" in place; false unless it is exactly two words. */
static bool split_level(char *value, char **offset, char **target)
{
    char *s = value;
    char **words[2] = {offset, target};
    for (int i = 0; i < 2; i++) {
        while (isspace((unsigned char)*s))
            s++;
        *words[i] = s;
        while (*s && !isspace((unsigned char)*s))
            s++;
        if (s == *words[i])
            return false;
        if (*s)
            *s++ = '\0';
    }
    while (isspace((unsigned char)*s))
        s++;
    return !*s;
}

/* Level keys run 1, 2, 3... in file order; only the first slip is reported. */
static bool level_in_order(parser_t *p, const entry_t *e, const char *ladder, size_t i)
{
    char want[24];
    snprintf(want, sizeof want, "%zu", i + 1);
    if (!level_key_ok(e->key) || !strcmp(e->key, want))
        return true;                    /* a bad key was reported as it was read */
    problem_at(p, e->line, "%s ladder level '%s' is out of order (want level %s here: "
                           "levels are numbered 1, 2, 3... in order)", ladder, e->key, want);
    return false;
}

/* An offset as the config would say it, in its largest whole unit. */
static const char *offset_text(int64_t ms, char *buf, size_t len)
{
    static const struct { const char *unit; int64_t ms; } units[] = {
        {"d", DAY_MS}, {"h", HOUR_MS}, {"m", 60 * 1000}, {"s", 1000}, {"ms", 1},
    };
    size_t u = 0;
    while (ms && ms % units[u].ms)
        u++;
    snprintf(buf, len, "%" PRId64 "%s", ms / units[u].ms, ms ? units[u].unit : "");
    return buf;
}

/* One line of a ladder section; prev is the last good level, or NULL. */
static bool ladder_level(parser_t *p, const entry_t *e, const char *ladder,
                         const config_level_t *prev, config_level_t *lv)
{
    char was[32], *offset, *target, *words = xstrdup(p, e->value);
    int64_t ms;
    bool ok = false;
    if (!words)
        return false;
    if (!split_level(words, &offset, &target))
        problem_at(p, e->line, "%s ladder level '%s': bad value '%s' (want OFFSET TARGET, "
                               "e.g. 30m street)", ladder, e->key, e->value);
    else if (!parse_offset(offset, &ms))
        problem_at(p, e->line, "%s ladder level '%s': bad offset '%s' (want [-]N with ms, s, "
                               "m, h or d, at most %dd; wd and wh are for [deadlines] only)",
                   ladder, e->key, offset, MAX_DAYS);
    else if (!target_ok(target))
        problem_at(p, e->line, "%s ladder level '%s': bad target '%s' (want 1..64 of "
                               "a-z 0-9 _ . -)", ladder, e->key, target);
    else if (prev && ms <= prev->offset_ms)
        problem_at(p, e->line, "%s ladder level '%s': offset %s is not after the previous "
                               "level's %s (offsets must increase)", ladder, e->key, offset,
                   offset_text(prev->offset_ms, was, sizeof was));
    else
        ok = level_add(p, lv, ms, target);
    free(words);
    return ok;
}

/* A ladder from its section; an empty section is a ladder with no rungs. */
static void build_ladder_from(parser_t *p, int ladder)
{
    const entries_t *list = &p->lists[ladder_sections[ladder]];
    config_t *cfg = p->cfg;
    const char *name = msg_ladder_names[ladder];
    bool in_order = true;
    if (list->n && !(cfg->ladders[ladder] = calloc(list->n, sizeof *cfg->ladders[ladder]))) {
        p->oom = true;
        return;
    }
    for (size_t i = 0; i < list->n; i++) {
        const entry_t *e = &list->v[i];
        config_level_t *lv = &cfg->ladders[ladder][cfg->nlevels[ladder]];
        const config_level_t *prev = cfg->nlevels[ladder] ? lv - 1 : NULL;
        in_order = in_order && level_in_order(p, e, name, i);
        if (ladder_level(p, e, name, prev, lv))
            cfg->nlevels[ladder]++;
    }
}

/* A ladder without a section: community secretary, street office, county
 * supervision (社区 -> 街道 -> 县督办), 0, 30m and 2h after the contact
 * deadline; 0, 1d and 3d after the resolution deadline. */
static void build_default_ladder(parser_t *p, int ladder)
{
    static const char *const targets[] = {"community", "street", "county"};
    static const int64_t offsets[LADDER_COUNT][3] = {
        [LADDER_CONTACT] = {0, 30 * 60 * 1000, 2 * HOUR_MS},
        [LADDER_RESOLVE] = {0, DAY_MS, 3 * DAY_MS},
    };
    config_t *cfg = p->cfg;
    if (!(cfg->ladders[ladder] = calloc(3, sizeof *cfg->ladders[ladder]))) {
        p->oom = true;
        return;
    }
    for (int i = 0; i < 3; i++)
        if (level_add(p, &cfg->ladders[ladder][i], offsets[ladder][i], targets[i]))
            cfg->nlevels[ladder]++;
}

/* Both ladders, their targets resolved through [targets]. */
static void build_ladders(parser_t *p)
{
    check_targets(p);
    for (int l = LADDER_CONTACT; l <= LADDER_RESOLVE; l++)
        if (p->section_line[ladder_sections[l]])
            build_ladder_from(p, l);
        else
            build_default_ladder(p, l);
}

/* ---- warnings: allowed, but likely a mistake ------------------------------ */

static void warning_at(parser_t *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Append "FILE:LINE: what\n" ("FILE: what" without a line) to the config's
 * warnings, which the caller shows: they do not refuse the file. */
static void warning_at(parser_t *p, int line, const char *fmt, ...)
{
    char msg[512], where[32] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line)
        snprintf(where, sizeof where, ":%d", line);
    config_t *cfg = p->cfg;
    size_t had = cfg->warnings ? strlen(cfg->warnings) : 0;
    size_t add = strlen(p->name) + strlen(where) + strlen(msg) + 4;
    char *w = realloc(cfg->warnings, had + add);
    if (!w) {
        p->oom = true;
        return;
    }
    snprintf(w + had, add, "%s%s: %s\n", p->name, where, msg);
    cfg->warnings = w;
}

/* Whether a rung of either ladder before rung i of ladder l names target
 * (all of them with i = SIZE_MAX): each target is warned about once. */
static bool rung_names(const config_t *cfg, int l, size_t i, const char *target)
{
    for (int m = LADDER_CONTACT; m <= l; m++)
        for (size_t j = 0; j < cfg->nlevels[m] && (m < l || j < i); j++)
            if (!strcmp(cfg->ladders[m][j].target, target))
                return true;
    return false;
}

/* The line rung i of ladder l was set on; 0 for a default ladder. */
static int rung_line(const parser_t *p, int l, size_t i)
{
    const entries_t *list = &p->lists[ladder_sections[l]];
    return i < list->n ? list->v[i].line : 0;
}

/* A rung target that [targets] does not list gets no ESCALATE, and a
 * [targets] key that no rung names sends none: both are allowed, but
 * `2 = 30m steet` or `countty = supervision` is the same mistake, and would
 * pass --check-config unsaid. A target for the log alone is listed as `-`. */
static void warn_targets(parser_t *p)
{
    const config_t *cfg = p->cfg;
    const entries_t *targets = &p->lists[SEC_TARGETS];
    for (int l = LADDER_CONTACT; l <= LADDER_RESOLVE; l++)
        for (size_t i = 0; i < cfg->nlevels[l]; i++) {
            const char *t = cfg->ladders[l][i].target;
            if (!entries_find(targets, t) && !rung_names(cfg, l, i, t))
                warning_at(p, rung_line(p, l, i), "%s ladder level %zu: target '%s' is not in "
                           "[targets]: its escalations are logged and stored, but no "
                           "department gets ESCALATE (a typo?)", msg_ladder_names[l], i + 1, t);
        }
    for (size_t i = 0; i < targets->n; i++)
        if (!rung_names(cfg, LADDER_RESOLVE, SIZE_MAX, targets->v[i].key))
            warning_at(p, targets->v[i].line, "target '%s' is on no ladder: it sends nothing "
                       "(a typo?)", targets->v[i].key);
}

/* Working days and hours skip only the weekend when no holiday is listed:
 * 春节 and 国庆 count as working days, and a 5wd deadline over them falls
 * days early. Allowed (a county may mean it), but said once, at the
 * first such rule. */
static void warn_no_holidays(parser_t *p)
{
    const config_t *cfg = p->cfg;
    const entries_t *list = &p->lists[SEC_DEADLINES];
    size_t first = SIZE_MAX, more = 0;
    if (cfg->calendar.nholidays || cfg->calendar.nmakeup)
        return;
    for (size_t i = 0; i < list->n && i < cfg->ndeadlines; i++)  /* one rule a line, as all are good */
        if (cfg->deadlines[i].dur.kind != DUR_WALL)
            first == SIZE_MAX ? (void)(first = i) : (void)more++;
    if (first == SIZE_MAX)
        return;
    char others[40] = "";
    if (more)
        snprintf(others, sizeof others, " (and %zu more)", more);
    bool named = p->calendar_line[CK_HOLIDAYS] != 0;
    warning_at(p, list->v[first].line, "deadline '%s'%s counts working time (wd, wh), but %s: "
               "public holidays such as 春节 and 国庆 count as working days (%s)",
               list->v[first].key, others,
               named ? "the holiday file lists no day" : "[calendar] names no holiday file",
               named ? "list the year's holidays in it" : "name one in [calendar] holidays");
}

/* `default` names the fallback route, not a code cases carry: a case the
 * default route takes keeps its own code, and `default.resolve` never
 * applies to it. Allowed (a client may send the code "default"), but said. */
static void warn_default_rules(parser_t *p)
{
    const entries_t *list = &p->lists[SEC_DEADLINES];
    for (size_t i = 0; i < list->n && i < p->cfg->ndeadlines; i++) {
        const config_deadline_t *d = &p->cfg->deadlines[i];
        if (d->service_code && !strcmp(d->service_code, "default"))
            warning_at(p, list->v[i].line, "deadline '%s': rules are by service code, and a "
                       "case the default route takes keeps its own: this rule matches only "
                       "cases whose code is 'default' (the rule '%s' covers codes without a "
                       "rule of their own)", list->v[i].key,
                       list->v[i].key + strlen("default."));
    }
}

/* The uid of a [local_users] key: a name this host knows, or a number. The
 * name is looked up at each load, so a user made after the broker started
 * counts from the next reload. */
static bool local_uid(parser_t *p, const entry_t *e, uid_t *uid, char **user)
{
    const char *end;
    int64_t n = parse_digits(e->key, &end);
    struct passwd *pw = NULL;
    if (!*end && end != e->key) {
        if (n < 0 || n >= INT32_MAX) {
            problem_at(p, e->line, "local user '%s': uid out of range", e->key);
            return false;
        }
        *uid = (uid_t)n;
        pw = getpwuid(*uid);
    } else if (!(pw = getpwnam(e->key))) {
        problem_at(p, e->line, "local user '%s': no such user on this host (create it first, "
                               "or give its uid)", e->key);
        return false;
    } else {
        *uid = pw->pw_uid;
    }
    if (!(*user = strdup(pw ? pw->pw_name : e->key)))
        p->oom = true;
    return *user != NULL;
}

/* `admin`, `intake` or `worker DEPARTMENT`. */
static bool local_role(parser_t *p, const entry_t *e, config_local_user_t *u)
{
    const char *v = e->value;
    u->dept = -1;
    if (!strcmp(v, "admin"))
        u->role = CONFIG_LOCAL_ADMIN;
    else if (!strcmp(v, "intake"))
        u->role = CONFIG_LOCAL_INTAKE;
    else if (!strncmp(v, "worker ", 7)) {
        const char *d = v + 7 + strspn(v + 7, " ");
        u->role = CONFIG_LOCAL_WORKER;
        if ((u->dept = config_dept_find(p->cfg, d)) < 0) {
            problem_at(p, e->line, "local user '%s': unknown department '%s'", e->key, d);
            return false;
        }
    } else {
        problem_at(p, e->line, "local user '%s': bad role '%s' (want admin, intake or "
                               "worker DEPARTMENT)", e->key, v);
        return false;
    }
    return true;
}

/* [local_users]: one role per uid, whichever way the user is written. */
static void build_local_users(parser_t *p)
{
    entries_t *list = &p->lists[SEC_LOCAL_USERS];
    config_t *cfg = p->cfg;
    cfg->local_users_on = p->section_line[SEC_LOCAL_USERS] != 0;
    if (list->n && !(cfg->local_users = calloc(list->n, sizeof *cfg->local_users))) {
        p->oom = true;
        return;
    }
    for (size_t i = 0; i < list->n; i++) {
        config_local_user_t *u = &cfg->local_users[cfg->nlocal_users];
        if (!local_uid(p, &list->v[i], &u->uid, &u->user))
            continue;
        size_t j = 0;
        while (j < cfg->nlocal_users && cfg->local_users[j].uid != u->uid)
            j++;
        if (j < cfg->nlocal_users)
            problem_at(p, list->v[i].line, "local user '%s' is uid %u, as '%s' is",
                       list->v[i].key, (unsigned)u->uid, cfg->local_users[j].user);
        if (j < cfg->nlocal_users || !local_role(p, &list->v[i], u)) {
            free(u->user), u->user = NULL;
            continue;
        }
        cfg->nlocal_users++;
    }
}

static void finish(parser_t *p)
{
    check_broker(p);
    build_depts(p);
    build_routes(p);
    build_places(p, SEC_STREETS, &p->cfg->streets, &p->cfg->nstreets);
    build_places(p, SEC_COMMUNITIES, &p->cfg->communities, &p->cfg->ncommunities);
    build_deadlines(p);
    build_ladders(p);
    build_local_users(p);
    if (!p->nproblems) {        /* a refused file's would only add noise */
        warn_targets(p);
        warn_no_holidays(p);
        warn_default_rules(p);
    }
}

/* ---- reporting ------------------------------------------------------------ */

static void report(char *errbuf, size_t errlen, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Append one line; one that does not fit is cut short, and the rest dropped. */
static void report(char *errbuf, size_t errlen, size_t *used, const char *fmt, ...)
{
    if (!errbuf || *used + 1 >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(errbuf + *used, errlen - *used, fmt, ap);
    va_end(ap);
    *used = w < 0 || (size_t)w >= errlen - *used ? errlen : *used + (size_t)w;
}

/* A problem as its line of the report, "FILE:LINE: what\n"; NULL if out of memory. */
static char *problem_line(const parser_t *p, const problem_t *pr)
{
    char *line = NULL;
    int rc = pr->raw    ? asprintf(&line, "%s\n", pr->msg)
           : pr->line   ? asprintf(&line, "%s:%d: %s\n", p->name, pr->line, pr->msg)
                        : asprintf(&line, "%s: %s\n", p->name, pr->msg);
    return rc < 0 ? NULL : line;
}

/* Every problem, in line order, each line whole: when the next does not fit
 * with room left for the count, the count of those not shown ends the
 * report. Only a buffer too small for one line gets a line cut short. */
static void problems_write(parser_t *p, char *errbuf, size_t errlen)
{
    size_t used = 0, shown = 0, room = 2 * (strlen(p->name) + 48);
    qsort(p->problems, p->nproblems, sizeof *p->problems, problem_cmp);
    for (; errbuf && shown < p->nproblems; shown++) {
        bool last = shown + 1 == p->nproblems && !p->dropped && !p->oom;
        char *line = problem_line(p, &p->problems[shown]);
        if (!line) {
            p->oom = true;
            break;
        }
        bool fits = used + strlen(line) + (last ? 0 : room) < errlen, first = used == 0;
        if (fits || first)
            report(errbuf, errlen, &used, "%s", line);     /* the first, cut if need be */
        free(line);
        if (!fits) {
            shown += first;
            break;
        }
    }
    size_t more = p->nproblems - shown + p->dropped;
    if (more)
        report(errbuf, errlen, &used, "%s: %zu more problems not shown\n", p->name, more);
    if (p->oom)
        report(errbuf, errlen, &used, "%s: out of memory\n", p->name);
}

/* ---- lifecycle ------------------------------------------------------------ */

static config_t *config_new(const char *path)
{
    config_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (!(self->path = strdup(path))) {
        free(self);
        return NULL;
    }
    self->heartbeat_ms = 1000;
    self->liveness = 3;
    self->auto_close_ms = 0;
    self->intake_rate = 100000;
    self->accept_within_ms = 10 * 60 * 1000;
    self->manual_dept = -1;
    self->default_route = -1;
    calendar_init(&self->calendar);
    return self;
}

static void parser_free(parser_t *p)
{
    for (int s = 0; s < SEC_COUNT; s++) {
        for (size_t i = 0; i < p->lists[s].n; i++)
            free(p->lists[s].v[i].key), free(p->lists[s].v[i].value);
        free(p->lists[s].v);
    }
    for (size_t i = 0; i < p->nproblems; i++)
        free(p->problems[i].msg);
    free(p->problems);
    free(p->manual_dept);
}

static config_t *parse(const char *text, size_t len, const char *name,
                       char *errbuf, size_t errlen)
{
    parser_t p = {.name = name, .text = text, .len = len, .section = SEC_NONE};
    if (!(p.cfg = config_new(name)))
        p.oom = true;
    else {
        p.key_line = p.cfg->broker_line;
        int rc = ini_parse_stream(read_line, &p, on_entry, &p);
        if (rc == -2)
            p.oom = true;
        else if (rc != 0 && !problem_on_line(&p, rc))
            problem_at(&p, rc > 0 ? rc : 0, "cannot parse line");   /* our mirror missed it */
        if (!p.oom)
            finish(&p);
    }
    config_t *cfg = p.cfg;
    if (p.nproblems || p.dropped || p.oom) {
        problems_write(&p, errbuf, errlen);
        config_destroy(&cfg);
    }
    parser_free(&p);
    return cfg;
}

static char *slurp(FILE *f, size_t *len, const char **why)
{
    size_t cap = 64 * 1024, n = 0;
    char *buf = malloc(cap), *bigger;
    *why = "out of memory";
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (ferror(f)) {
            *why = strerror(errno);
            break;
        }
        if (n > MAX_FILE_BYTES) {
            *why = "file too large (more than 1 MiB)";
            break;
        }
        if (n < cap) {
            *len = n;
            return buf;
        }
        if (!(bigger = realloc(buf, cap * 2)))
            break;
        buf = bigger, cap *= 2;
    }
    free(buf);
    return NULL;
}

config_t *config_load(const char *path, char *errbuf, size_t errlen)
{
    size_t used = 0, len = 0;
    const char *why;
    if (errbuf && errlen)
        errbuf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) {
        report(errbuf, errlen, &used, "%s: cannot open: %s\n", path, strerror(errno));
        return NULL;
    }
    char *text = slurp(f, &len, &why);
    fclose(f);
    if (!text) {
        report(errbuf, errlen, &used, "%s: cannot read: %s\n", path, why);
        return NULL;
    }
    config_t *self = parse(text, len, path, errbuf, errlen);
    free(text);
    return self;
}

config_t *config_load_string(const char *text, const char *name, char *errbuf, size_t errlen)
{
    if (errbuf && errlen)
        errbuf[0] = '\0';
    if (!name)
        name = "(string)";
    return parse(text ? text : "", text ? strlen(text) : 0, name, errbuf, errlen);
}

static void swap_str(char **a, char **b)
{
    char *t = *a;
    *a = *b, *b = t;
}

void config_keep_restart_keys(config_t *fresh, config_t *running)
{
    swap_str(&fresh->intake_endpoint, &running->intake_endpoint);
    swap_str(&fresh->worker_endpoint, &running->worker_endpoint);
    swap_str(&fresh->events_endpoint, &running->events_endpoint);
    swap_str(&fresh->database, &running->database);
    swap_str(&fresh->server_cert, &running->server_cert);
    int plain = fresh->allow_plain_tcp;
    fresh->allow_plain_tcp = running->allow_plain_tcp, running->allow_plain_tcp = plain;
}

void config_destroy(config_t **self_p)
{
    config_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    for (size_t i = 0; i < self->ndepts; i++)
        free(self->depts[i].id), free(self->depts[i].name);
    for (size_t i = 0; i < self->nroutes; i++)
        free(self->routes[i].service_code);
    for (size_t i = 0; i < self->nstreets; i++)
        free(self->streets[i].code), free(self->streets[i].name);
    for (size_t i = 0; i < self->ncommunities; i++)
        free(self->communities[i].code), free(self->communities[i].name);
    for (size_t i = 0; i < self->ndeadlines; i++)
        free(self->deadlines[i].service_code);
    for (int l = 0; l < LADDER_COUNT; l++) {
        for (size_t i = 0; i < self->nlevels[l]; i++)
            free(self->ladders[l][i].target);
        free(self->ladders[l]);
    }
    for (size_t i = 0; i < self->nlocal_users; i++)
        free(self->local_users[i].user);
    free(self->local_users);
    free(self->warnings);
    free(self->deadlines);
    calendar_free(&self->calendar);
    free(self->depts);
    free(self->routes);
    free(self->streets);
    free(self->communities);
    free(self->intake_endpoint);
    free(self->worker_endpoint);
    free(self->events_endpoint);
    free(self->database);
    free(self->server_cert);
    free(self->keys_dir);
    free(self->path);
    free(self);
    *self_p = NULL;
}

/* ---- lookups -------------------------------------------------------------- */

int config_target_dept(const config_t *self, const char *target)
{
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < self->nlevels[l]; i++)
            if (self->ladders[l][i].dept >= 0 && !strcmp(self->ladders[l][i].target, target))
                return self->ladders[l][i].dept;
    return -1;
}

int config_key_line(const config_t *self, const char *key)
{
    for (int k = 0; k < K_COUNT; k++)
        if (strcmp(broker_keys[k].name, key) == 0)
            return self->broker_line[k];
    return 0;
}

int config_dept_find(const config_t *self, const char *id)
{
    for (size_t i = 0; self && id && i < self->ndepts; i++)
        if (!strcmp(self->depts[i].id, id))
            return (int)i;
    return -1;
}

const config_route_t *config_route(const config_t *self, const char *service_code)
{
    if (!self)
        return NULL;
    for (size_t i = 0; service_code && i < self->nroutes; i++)
        if (!strcmp(self->routes[i].service_code, service_code))
            return &self->routes[i];
    return self->default_route >= 0 ? &self->routes[self->default_route] : NULL;
}

/* How specific a rule is for this case: 3 service code and priority, 2 code,
 * 1 priority, 0 neither; -1 if it does not apply. */
static int deadline_rank(const config_deadline_t *d, int ladder, const char *service_code,
                         int priority)
{
    if (d->ladder != ladder || (d->priority >= 0 && d->priority != priority))
        return -1;
    if (d->service_code && (!service_code || strcmp(d->service_code, service_code)))
        return -1;
    return 2 * (d->service_code != NULL) + (d->priority >= 0);
}

const config_dur_t *config_deadline(const config_t *self, int ladder, const char *service_code,
                                    int priority)
{
    const config_dur_t *best = NULL;
    int best_rank = -1, rank;
    for (size_t i = 0; self && i < self->ndeadlines; i++)
        if ((rank = deadline_rank(&self->deadlines[i], ladder, service_code, priority)) > best_rank)
            best = &self->deadlines[i].dur, best_rank = rank;
    return best;
}

static const char *place_name(const config_place_t *places, size_t n, const char *code)
{
    for (size_t i = 0; code && i < n; i++)
        if (!strcmp(places[i].code, code))
            return places[i].name;
    return code;
}

const char *config_street_name(const config_t *self, const char *code)
{
    return self ? place_name(self->streets, self->nstreets, code) : code;
}

const char *config_community_name(const config_t *self, const char *code)
{
    return self ? place_name(self->communities, self->ncommunities, code) : code;
}
