/*
 * mask.c - masking of residents' personal data for display (个人信息保护法).
 *
 * `minqing show` masks by default, the way Chinese service platforms show a
 * resident to staff: phone 138****5678, name 张*, e-mail z***@example.com,
 * the address cut after its first third. Free text (the description, the
 * handlers' notes) is masked too, as far as a program can: every number of 7
 * or more digits, which is where phone and ID numbers hide, written as people
 * write them (138-1234-5678, 138 / 1234 / 5678, 1 3 8 1 2 3 4 …,
 * full-width １３８…), and as programs print them (138%EF%BC%8D1234 in a
 * URL, 138\u30001234 in JSON). Text from outside (a command's stderr)
 * need not be UTF-8: a byte that starts no valid character is written as
 * '?', so that it cannot swallow the digits after it. `--unmask` shows all of it; docs/stats.md and `minqing
 * show --help` explain why that is allowed.
 */
#include "mask.h"
#include "utf8.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* An output buffer that never cuts a character in two, and stops at the
 * first one that does not fit: what it holds is always a prefix of the
 * whole, never the whole with a wide character left out. */
typedef struct {
    char *p;
    size_t size, len;
    bool full;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->full || o->len + n + 1 > o->size) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void begin(out_t *o, char *buf, size_t size)
{
    *o = (out_t){buf, size, 0, false};
    if (size)
        buf[0] = '\0';
}

/* The length of the UTF-8 character at s, 0 when s holds none (a stray
 * byte, a lead byte without its continuation bytes, a surrogate or an
 * overlong form: whatever utf8_valid refuses). */
static size_t seq(const char *s)
{
    size_t n = utf8_seqlen((unsigned char)*s);
    return strnlen(s, n) == n && utf8_valid(s, n, NULL) ? n : 0;
}

/* Bytes from s to the next character (a stray byte counts as one). */
static size_t step(const char *s)
{
    size_t n = seq(s);
    return n ? n : 1;
}

/* Copy the character at s (a '?' for a byte that starts none); its length. */
static size_t put_char(out_t *o, const char *s)
{
    put(o, seq(s) ? s : "?", step(s));
    return step(s);
}

static size_t count_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s += step(s))
        n++;
    return n;
}

/* The length of the digit at s: 1 for 0-9, 3 for a full-width ０-９
 * (U+FF10..FF19, what a Chinese input method types), 0 for none. */
static size_t digit_at(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] >= '0' && u[0] <= '9')
        return 1;
    return u[0] == 0xEF && u[1] == 0xBC && u[2] >= 0x90 && u[2] <= 0x99 ? 3 : 0;
}

/* The digits in a row at s; their bytes in *len. */
static size_t digits_at(const char *s, size_t *len)
{
    size_t d = 0, at = 0, n;
    for (; (n = digit_at(s + at)) != 0; at += n)
        d++;
    *len = at;
    return d;
}

/* The length of the first of `set` at s, 0 for none. */
static size_t one_of(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(set[i]);
        if (strncmp(s, set[i], len) == 0)
            return len;
    }
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A byte escape at s, as a URL (%E5, %20) or Python's bytes (\xe5) write
 * one, hex in either case: its length (3 or 4), the byte in *b; 0 for none. */
static size_t byte_escape_at(const char *s, unsigned char *b)
{
    size_t n = s[0] == '%' ? 1 : s[0] == '\\' && s[1] == 'x' ? 2 : 0;
    int hi, lo;
    if (!n || (hi = hex_digit(s[n])) < 0 || (lo = hex_digit(s[n + 1])) < 0)
        return 0;
    *b = (unsigned char)(hi << 4 | lo);
    return n + 2;
}

/* A JSON escape \uXXXX at s (either case): 6, the code point in *cp; 0 for
 * none. */
static size_t u_escape_at(const char *s, unsigned *cp)
{
    if (s[0] != '\\' || s[1] != 'u')
        return 0;
    *cp = 0;
    for (int i = 2; i < 6; i++) {
        int d = hex_digit(s[i]);
        if (d < 0)
            return 0;
        *cp = *cp << 4 | (unsigned)d;
    }
    return 6;
}

/* Code point cp (no surrogate) as UTF-8 in b: its length. */
static size_t utf8_put(unsigned cp, unsigned char b[4])
{
    static const unsigned char lead[] = {0, 0, 0xc0, 0xe0, 0xf0};
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (n == 1) {
        b[0] = (unsigned char)cp;
        return 1;
    }
    for (size_t i = n - 1; i > 0; i--, cp >>= 6)
        b[i] = (unsigned char)(0x80 | (cp & 0x3f));
    b[0] = (unsigned char)(lead[n] | cp);
    return n;
}

/* A space between groups: ASCII, a tab, ideographic (what an input method
 * types in full-width mode), no-break, zero-width; a newline (an exception's
 * text, a worker's reason: 138\n0013\n8000 is one number to whoever reads it
 * in the log, where it shows as \n or '?'); '+', a URL's space
 * (to=138+0013+8000); and any other control byte (DEL, and an ESC that
 * starts no terminal escape, too), which a log line or `show` turns into a
 * space or a '?' once masked: 1381234\x015678 is one number to whoever
 * reads it. */
static size_t space_at(const char *s)
{
    static const char *const spaces[] = {
        " ", "\t", "+", "\xe3\x80\x80", "\xc2\xa0",
        /* zero-width space, joiners, word joiner, BOM: text pasted from a
         * web page or a chat app carries them unseen */
        "\xe2\x80\x8b", "\xe2\x80\x8c", "\xe2\x80\x8d", "\xe2\x81\xa0", "\xef\xbb\xbf",
    };
    unsigned char c = (unsigned char)*s;
    if ((c > 0 && c < 0x20) || c == 0x7f)
        return 1;
    if (c == 0xc2 && (unsigned char)s[1] >= 0x80 && (unsigned char)s[1] <= 0x9f)
        return 2;                       /* a C1 control, U+0080..U+009F */
    return one_of(s, spaces, sizeof spaces / sizeof spaces[0]);
}

/* A comma between groups (138，1234，5678, 138、1234): it also separates
 * the items of a list, so it joins groups only under number_at's rules. */
static size_t list_mark_at(const char *s)
{
    static const char *const lists[] = {",", "\xef\xbc\x8c", "\xe3\x80\x81"};  /* , ， 、 */
    return one_of(s, lists, sizeof lists / sizeof lists[0]);
}

/* A mark between groups, typed half- or full-width: hyphens and dashes,
 * stops, slashes, underscores, colons, tildes, middle dots, the Chinese full
 * stop, bars and asterisks (a table's columns, 138*0013*8000); or a comma
 * (list_mark_at). */
static size_t mark_at(const char *s)
{
    static const char *const marks[] = {
        "-", ".", "/", "_",
        "\xef\xbc\x8d", "\xef\xbc\x8e", "\xef\xbc\x8f", /* full-width - . / */
        "\xe2\x80\x90", "\xe2\x80\x91", "\xe2\x80\x92", /* hyphen .. figure dash */
        "\xe2\x80\x93", "\xe2\x80\x94", "\xe2\x80\x95", /* en, em dash, bar */
        "\xe2\x88\x92",                      /* minus sign */
        ":", "~", "\xef\xbc\x9a", "\xef\xbd\x9e", /* : ~ and full-width */
        "\xe3\x80\x82",                      /* 。 */
        "\xc2\xb7", "\xe3\x83\xbb",         /* middle dots · ・ */
        "|", "*", "\xef\xbd\x9c", "\xef\xbc\x8a", /* | * and full-width */
    };
    size_t n = one_of(s, marks, sizeof marks / sizeof marks[0]);
    return n ? n : list_mark_at(s);
}

/* A terminal escape (CSI: ESC [, parameters, a final byte, as in a
 * coloured line: \033[0m) at s, 0 for none. A parameter has at most 3
 * digits, so that one copied whole never shows a number. */
static size_t escape_at(const char *s)
{
    size_t n = 2, run = 0;
    if (s[0] != '\033' || s[1] != '[')
        return 0;
    for (; (s[n] >= '0' && s[n] <= '9') || s[n] == ';'; n++)
        if ((run = s[n] == ';' ? 0 : run + 1) > 3 || n > 16)
            return 0;
    return s[n] >= '@' && s[n] <= '~' ? n + 1 : 0;
}

/* GBK's spaces and marks (the encoding of older county systems, as a URL
 * or Python's bytes write it: %A3%AD, \xa3\xad), as UTF-8: the ideographic
 * space, 、 。 · — ～ and the full-width * , - . / : |. Only these: any other
 * character between two numbers (年, 元, 室) keeps them apart, as it does
 * in UTF-8. */
static const struct {
    unsigned char lead, trail;
    const char *utf8;
} gbk_separators[] = {
    {0xa1, 0xa1, "\xe3\x80\x80"}, {0xa1, 0xa2, "\xe3\x80\x81"}, {0xa1, 0xa3, "\xe3\x80\x82"},
    {0xa1, 0xa4, "\xc2\xb7"},     {0xa1, 0xaa, "\xe2\x80\x94"}, {0xa1, 0xab, "\xef\xbd\x9e"},
    {0xa3, 0xaa, "\xef\xbc\x8a"}, {0xa3, 0xac, "\xef\xbc\x8c"}, {0xa3, 0xad, "\xef\xbc\x8d"},
    {0xa3, 0xae, "\xef\xbc\x8e"}, {0xa3, 0xaf, "\xef\xbc\x8f"}, {0xa3, 0xba, "\xef\xbc\x9a"},
    {0xa3, 0xfc, "\xef\xbd\x9c"},
};

/* Byte escapes at s that make one character: its UTF-8 (want bytes, as
 * the first byte says) or GBK's space or mark (gbk_separators), in c; the
 * escapes' length, 0 for none. */
static size_t escaped_bytes_at(const char *s, char c[5])
{
    unsigned char b[4];
    size_t first = byte_escape_at(s, &b[0]), at = first, want = utf8_seqlen(b[0]), n = 1;
    if (!first)
        return 0;
    for (size_t w; n < want && (w = byte_escape_at(s + at, &b[n])) != 0; n++)
        at += w;
    if (n == want && utf8_valid((const char *)b, want, NULL)) {
        memcpy(c, b, want);
        return at;
    }
    size_t second = byte_escape_at(s + first, &b[1]);
    for (size_t i = 0; second && i < sizeof gbk_separators / sizeof gbk_separators[0]; i++)
        if (gbk_separators[i].lead == b[0] && gbk_separators[i].trail == b[1]) {
            strcpy(c, gbk_separators[i].utf8);
            return first + second;
        }
    return 0;
}

/* The one character the escapes at s spell, as a program prints text it
 * was given: a URL's %2D or %EF%BC%8D (GBK's %A3%AD: escaped_bytes_at),
 * Python's \xef\xbc\x8d, or in the repr of a str \xa0 (a byte of no UTF-8
 * character alone: the code point), JSON's \u3000 (no surrogate), and the
 * \t, \n and \r both write. Its UTF-8 in c, NUL-terminated; the escapes'
 * length, 0 for none. */
static size_t escaped_unit_at(const char *s, char c[5])
{
    unsigned cp;
    unsigned char b;
    size_t at = u_escape_at(s, &cp);
    memset(c, 0, 5);
    if (at) {
        if (cp >= 0xd800 && cp < 0xe000)
            return 0;
        utf8_put(cp, (unsigned char *)c);
        return at;
    }
    if (s[0] == '\\' && s[1] && strchr("tnr", s[1])) {
        c[0] = s[1] == 't' ? '\t' : s[1] == 'n' ? '\n' : '\r';
        return 2;
    }
    if ((at = escaped_bytes_at(s, c)) != 0)
        return at;
    if (s[0] != '\\' || byte_escape_at(s, &b) == 0 || b < 0x80)
        return 0;
    utf8_put(b, (unsigned char *)c);
    return 4;
}

/* A separator's unit written as escapes (escaped_unit_at): a space (mark
 * false: %20, %2B, %E3%80%80, \u3000, \t) or a mark (mark true: %2D, %2C,
 * %EF%BC%8D, %A3%AD, \uff0d) between the groups of a number that a URL,
 * JSON or a Python repr shows, as in to=%2B86%20138%200013%208000. The
 * escapes' length, 0 for none; *list whether the mark is a comma. */
static size_t escaped_separator_at(const char *s, bool mark, bool *list)
{
    char c[5];
    size_t w = escaped_unit_at(s, c);
    if (!w || !c[0] || (mark ? mark_at(c) : space_at(c)) == 0)
        return 0;
    if (list)
        *list = list_mark_at(c) != 0;
    return w;
}

#define SEPARATOR_UNITS 4   /* "138 - 1234", "138  1234", "138 \033[31m1234" */

/* The length of the group separator at s, 0 for none: what people put
 * between the groups of a number (138-1234-5678, 138 - 1234 - 5678,
 * 138/1234/5678, 138\t1234\t5678, columns padded with spaces), and the
 * terminal escapes that colour them: up to SEPARATOR_UNITS spaces and
 * escapes, and at most one mark among them, which may be doubled or
 * tripled (138--1234, 138——1234: a Chinese dash is typed as two). *list
 * says whether that mark is a comma. */
static size_t separator_at(const char *s, bool *list)
{
    size_t at = 0, w;
    bool marked = false;
    *list = false;
    for (int units = 0; units < SEPARATOR_UNITS; units++, at += w) {
        if ((w = escape_at(s + at)) != 0 || (w = space_at(s + at)) != 0 ||
            (w = escaped_separator_at(s + at, false, NULL)) != 0)
            continue;
        if (marked)
            break;
        if ((w = mark_at(s + at)) != 0)
            *list = list_mark_at(s + at) != 0;
        else if ((w = escaped_separator_at(s + at, true, list)) == 0)
            break;
        marked = true;
        for (size_t m = w; w < 3 * m && strncmp(s + at + w, s + at, m) == 0;)
            w += m;
    }
    return at;
}

/* Whether groups of a and b digits, one separator apart, are one number:
 * both of 3 or more (138-1234-5678; not a date such as 2024-05-01), or both
 * of one or both of two, the way a number read out is typed digit by digit
 * or in pairs (1 3 8 1 2 …, 13 81 23 …). */
static bool groups_join(size_t a, size_t b)
{
    return (a >= 3 && b >= 3) || (a == b && a <= 2);
}

/* The number at s: groups of digits joined by separators (separator_at)
 * where groups_join (138-1234-5678, 0755 8600 1234, １３８－１２３４－５６７８,
 * 1 3 8 1 2 3 4 5 6 7 8). Groups of one or two join only by the same
 * separator throughout, so that a date and a time (05-01 10:30) stay what
 * they are; so do groups joined by a comma, and never a whole number of 7
 * digits to another: 138-1234-5678, 13912345678 is a list of two. Where the
 * separator changes before 7 digits, the number is its first group alone,
 * and the next starts after it. Its bytes in *len; its digits returned. */
static size_t number_at(const char *s, size_t *len)
{
    size_t glen, group = digits_at(s, &glen), total = group, at = glen, sep, last = 0;
    const size_t first = group, first_len = glen;
    bool list, was_list = false;
    while (group != 0 && (sep = separator_at(s + at, &list)) != 0) {
        size_t nlen, next = digits_at(s + at + sep, &nlen);
        bool same = last == 0 || (sep == last && memcmp(s + at - glen - last, s + at, sep) == 0);
        if (!same && (group < 3 || list || was_list) && total < 7) {
            /* the separator changed: the last group may start a number of
             * its own with the new one (1-3 8 1 2 3 4 5 6 7 8) */
            *len = first_len;
            return first;
        }
        if (!groups_join(group, next) || ((group < 3 || list || was_list) && !same) ||
            (list && (group >= 7 || next >= 7)))
            break;
        was_list = list;
        at += sep + nlen, total += next, group = next, last = sep, glen = nlen;
    }
    *len = at;
    return total;
}

/* A unit among a number's digits that mask_digits copies as it is: a
 * terminal escape; in free text (not a phone field: url) an escaped
 * separator too, whose hex may be digits. */
static size_t copied_unit_at(const char *s, bool url)
{
    size_t n = escape_at(s);
    if (!n && url && (n = escaped_separator_at(s, false, NULL)) == 0)
        n = escaped_separator_at(s, true, NULL);
    return n;
}

/* Mask the digits of s[0..n): of a mobile or ID number (11 or more digits)
 * the first 3 and last 4 stay, of a shorter one the last 2. A unit
 * copied_unit_at finds among them is copied as it is, its digits not
 * counted. */
static void mask_digits(out_t *o, const char *s, size_t n, bool url)
{
    size_t d = 0;
    for (size_t i = 0, w; i < n; i += w ? w : 1)
        if ((w = copied_unit_at(s + i, url)) == 0)
            d += (w = digit_at(s + i)) != 0;
    size_t first = d >= 11 ? 3 : 0, last = d >= 11 ? 4 : d > 2 ? 2 : 0;
    for (size_t i = 0, k = 0; i < n;) {
        size_t w = digit_at(s + i), e = copied_unit_at(s + i, url);
        if (e) {
            put(o, s + i, e);
            i += e;
            continue;
        }
        if (!w) {
            i += put_char(o, s + i);
            continue;
        }
        bool keep = k < first || k >= d - last;
        put(o, keep ? s + i : "*", keep ? w : 1);
        k++, i += w;
    }
}

void mask_phone(const char *phone, char *out, size_t size)
{
    out_t o;
    begin(&o, out, size);
    if (phone)
        mask_digits(&o, phone, strlen(phone), false);
}

void mask_name(const char *name, char *out, size_t size)
{
    out_t o;
    begin(&o, out, size);
    if (!name)
        return;
    bool first = true;
    for (const char *s = name; *s; first = false) {
        if (first || *s == ' ') {
            s += put_char(&o, s);
            continue;
        }
        put(&o, "*", 1);
        s += step(s);
    }
}

/* The e-mail address at s, whose local part ends at its '@': the first
 * character, "***", and the '@' and domain, n bytes from s in all. */
static void put_email(out_t *o, const char *s, const char *at, size_t n)
{
    put_char(o, s);
    put(o, "***", 3);
    put(o, at, n - (size_t)(at - s));
}

void mask_email(const char *email, char *out, size_t size)
{
    out_t o;
    begin(&o, out, size);
    if (!email)
        return;
    const char *at = strchr(email, '@');
    if (!at || at == email) {
        mask_name(email, out, size);
        return;
    }
    put_email(&o, email, at, strlen(email));
}

static bool ascii_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool local_char(char c)
{
    return ascii_alnum(c) || (c != '\0' && strchr("._%+-", c));
}

/* The length of the e-mail address at s (local@label.label, ASCII, as
 * people write them in a description or a note: zhang.san@163.com,
 * 12345678@qq.com), 0 for none; its '@' in *at. A full stop after it ends
 * the sentence, not the domain. */
static size_t email_at(const char *s, const char **at)
{
    size_t n = 0, dots = 0;
    while (local_char(s[n]))
        n++;
    if (n == 0 || s[n] != '@')
        return 0;
    *at = s + n++;
    size_t domain = n;
    while (ascii_alnum(s[n]) || s[n] == '-' || (s[n] == '.' && ascii_alnum(s[n + 1])))
        dots += s[n++] == '.';
    return dots && n > domain && ascii_alnum(s[domain]) ? n : 0;
}

void mask_address(const char *address, char *out, size_t size)
{
    out_t o;
    begin(&o, out, size);
    if (!address)
        return;
    size_t keep = count_chars(address) / 3;
    if (keep > 8)
        keep = 8;
    const char *s = address;
    for (size_t i = 0; i < keep && *s; i++)
        s += put_char(&o, s);
    put(&o, "***", 3);
}

/* One escaped non-ASCII character at s, as a program prints text it was
 * given (a name, an address, a whole case) in JSON (\u5c0f), as Python
 * bytes (\xe5\xb0\x8f) or in a URL (%E5%B0%8F): the escapes' length, 0 for
 * none. Bytes that make no UTF-8 character (GBK's %CD%F5) count one by
 * one. Nobody reads such text in a log without decoding it, and anyone who
 * decodes it reads the resident's name, address and description: it is
 * masked whatever it says, as mask_known cannot know a neighbour's name. */
static size_t escaped_char_at(const char *s)
{
    unsigned cp;
    unsigned char b[4];
    if (u_escape_at(s, &cp))
        return cp >= 0x80 ? 6 : 0;
    size_t w = byte_escape_at(s, &b[0]), at = w, n = 1, want;
    if (!w || b[0] < 0x80)
        return 0;
    for (want = utf8_seqlen(b[0]); n < want; n++) {
        size_t v = byte_escape_at(s + at, &b[n]);
        if (!v)
            break;
        at += v;
    }
    return n == want && want > 1 && utf8_valid((const char *)b, n, NULL) ? at : w;
}

static bool ascii_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A latitude or longitude as programs print one (36.061089, 103.834304,
 * "lat":36.061089, POINT(103.834304 36.061089)): a whole number from 1 to
 * 180 without a leading zero, a '.', and 4 or more decimals, which place a
 * point within about 10 m: a resident's home. Its length, 0 for none; the
 * length of its whole part in *whole. It starts after no digit and no '.',
 * and is followed by no '.' and digit, so that a version or an IP address
 * (1.2.3, 10.0.12.34) and 138.0013.8000 are none. Other figures seldom look
 * like it: amounts have 2 decimals, times and durations 3, values below 1
 * start with 0; one that does loses its decimals. */
static size_t coordinate_at(const char *text, const char *s, size_t *whole)
{
    size_t i = 0, f = 0;
    int v = 0;
    if ((s > text && (ascii_digit(s[-1]) || s[-1] == '.')) || s[0] < '1' || s[0] > '9')
        return 0;
    while (i < 4 && ascii_digit(s[i]))
        v = v * 10 + (s[i++] - '0');
    if (i > 3 || v > 180 || s[i] != '.')
        return 0;
    while (ascii_digit(s[i + 1 + f]))
        f++;
    size_t end = i + 1 + f;
    if (f < 4 || (s[end] == '.' && ascii_digit(s[end + 1])))
        return 0;
    *whole = i;
    return end;
}

/* The number right after an escaped separator at s (%20138%200013...,
 * where the escape's hex would otherwise start the digits): its length with
 * the escape, 0 for none of 7 digits or more; *esc: the escape's length. */
static size_t escaped_number_at(const char *s, size_t *esc)
{
    size_t len;
    if ((*esc = escaped_separator_at(s, false, NULL)) == 0 &&
        (*esc = escaped_separator_at(s, true, NULL)) == 0)
        return 0;
    return number_at(s + *esc, &len) >= 7 ? *esc + len : 0;
}

/* Mask the item at s (text starts at text): an e-mail address, an escaped
 * character, a coordinate, a number, or one character. The bytes it took. */
static size_t mask_item(out_t *o, const char *text, const char *s)
{
    const char *at;
    size_t len, n;
    /* an address starts where a word does: trying inside one would read
     * the rest of a long word again at every character */
    if ((s == text || !local_char(s[-1])) && email_at(s, &at) != 0) {
        put_email(o, s, at, (size_t)(at - s) + 1);
        return (size_t)(at - s) + 1;    /* the domain as any text: 13812345678.cn is a number */
    }
    if ((len = escaped_char_at(s)) != 0) {
        put(o, "*", 1);
        return len;
    }
    if ((len = coordinate_at(text, s, &n)) != 0) {
        put(o, s, n + 1);
        for (size_t i = n + 1; i < len; i++)
            put(o, "*", 1);
        return len;
    }
    if ((len = escaped_number_at(s, &n)) != 0) {
        put(o, s, n);
        mask_digits(o, s + n, len - n, true);
        return len;
    }
    if (number_at(s, &len) >= 7)
        mask_digits(o, s, len, true);
    else if (len)
        put(o, s, len);
    else
        len = put_char(o, s);
    return len;
}

void mask_text(const char *text, char *out, size_t size)
{
    out_t o;
    begin(&o, out, size);
    if (!text)
        return;
    /* once full, nothing more is written: the rest costs nothing */
    for (const char *s = text; *s && !o.full;)
        s += mask_item(&o, text, s);
}

/* One pass: a place where nothing can run across is after a character that
 * no number, e-mail address or escape holds, or after a space that follows
 * no digit (marks and escapes between: 138 - 0013 runs on, a word does not). */
size_t mask_cut_point(const char *text)
{
    size_t keep = 0, w;
    bool digit = false;     /* the last character but marks and spaces was a digit */
    for (size_t at = 0; text[at]; at += w) {
        char c = text[at];
        if (c == '\033' && !escape_at(text + at))
            break;                          /* an escape the cut split, between digits maybe */
        if ((w = digit_at(text + at)) != 0)
            digit = true;
        else if ((w = escape_at(text + at)) != 0 || (w = mark_at(text + at)) != 0 || c == '+' ||
                 (w = escaped_separator_at(text + at, false, NULL)) != 0 ||
                 (w = escaped_separator_at(text + at, true, NULL)) != 0)
            w = w ? w : 1;                  /* between a number's groups, or in a word */
        else if (ascii_alnum(c) || strchr("%@\\", c))
            w = 1, digit = false;           /* a word: an address, an escape */
        else if ((w = space_at(text + at)) != 0)
            keep = digit ? keep : at + w;   /* after a word: nothing runs across it */
        else if (!seq(text + at))
            w = 1;                          /* a stray byte: maybe a character the cut split */
        else
            w = step(text + at), keep = at + w, digit = false;
    }
    return keep;
}

/* ---- the resident's own values (mask_known) ---- */

#define PHONE_DIGITS 32     /* the codec allows 32 characters */
#define PHONE_GAP    8      /* other units between two digits of the case's phone */

typedef enum { NO_MATCH, WHOLE, CUT_SHORT } found_t;

/* Where a value was found: its bytes in the text, its characters. */
typedef struct {
    size_t len, chars;
} span_t;

static unsigned char fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* One unit of text as a program may print it, its bytes decoded into b (*n
 * of them): a JSON escape (\u5c0f, a surrogate pair as one character), a
 * byte escape (%E5, \xe5), or a character as it is (a stray byte alone).
 * Its length in the text; 0 at its end. */
static size_t unit_at(const char *t, unsigned char b[4], size_t *n)
{
    unsigned cp, lo;
    size_t w = u_escape_at(t, &cp);
    if (w && cp >= 0xd800 && cp < 0xdc00 && u_escape_at(t + 6, &lo) && lo >= 0xdc00 && lo < 0xe000)
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00), w = 12;
    if (w && (cp < 0xd800 || cp >= 0xe000)) {
        *n = utf8_put(cp, b);
        return w;
    }
    if ((w = byte_escape_at(t, b)) != 0) {
        *n = 1;
        return w;
    }
    if (!*t)
        return 0;
    *n = step(t);
    memcpy(b, t, *n);
    return *n;
}

/* Whether a unit's bytes u[0..n) are the next of value v: ASCII letters in
 * either case (WANG XIAOMING), and '+' for a space, as a URL writes one. */
static bool unit_is(const unsigned char *u, size_t n, const char *v)
{
    if (n == 1 && u[0] == '+' && *v == ' ')
        return true;
    for (size_t i = 0; i < n; i++)
        if (!v[i] || fold(u[i]) != fold((unsigned char)v[i]))
            return false;
    return true;
}

/* Value v at text t, unit by unit, raw or escaped or both: WHOLE and where;
 * CUT_SHORT when the text ends inside it (where: the rest of the text);
 * else NO_MATCH. */
static found_t value_at(const char *t, const char *v, span_t *m)
{
    *m = (span_t){0, 0};
    if (fold((unsigned char)*t) != fold((unsigned char)*v) && !strchr("%\\+", *t))
        return NO_MATCH;            /* most places: no unit there can start it */
    for (size_t i = 0; v[i];) {
        unsigned char b[4];
        size_t n, w = unit_at(t + m->len, b, &n);
        if (w == 0)
            return i ? CUT_SHORT : NO_MATCH;
        if (!unit_is(b, n, v + i)) {
            /* an escape's first byte may be the value's own '%' or '\' */
            if (w == n || !unit_is((const unsigned char *)t + m->len, 1, v + i))
                return NO_MATCH;
            w = n = 1;
        }
        for (size_t k = 0; k < n; k++)
            m->chars += ((unsigned char)v[i + k] & 0xc0) != 0x80;
        m->len += w, i += n;
    }
    return WHOLE;
}

/* As value_at, for a value of 2 or more characters: a one-character
 * surname would mask that character wherever it appears. */
static found_t known_at(const char *t, const char *v, span_t *m)
{
    if (!v || !*v || v[step(v)] == '\0')
        return NO_MATCH;
    return value_at(t, v, m);
}

/* The name a then b at t, together or one space apart (王小明, 王 小明,
 * Xiaoming Wang, Xiaoming+Wang, Xiaoming%20Wang): as value_at. */
static found_t name_at(const char *t, const char *a, const char *b, span_t *m)
{
    span_t gap = {0, 0}, rest = {0, 0};
    if (!a || !*a || !b || !*b)
        return NO_MATCH;
    found_t f = value_at(t, a, m);
    if (f != WHOLE)
        return f;
    const char *r = t + m->len;
    if ((f = value_at(r, b, &rest)) == NO_MATCH && value_at(r, " ", &gap) == WHOLE)
        f = value_at(r + gap.len, b, &rest);
    if (f == NO_MATCH && r[gap.len] == '\0')
        f = CUT_SHORT;              /* the text ends after the first name */
    m->len += gap.len + rest.len, m->chars += gap.chars + rest.chars;
    return f;
}

/* The digit a unit stands for ('0'..'9', full-width too), 0 for none. */
static char unit_digit(const unsigned char *b, size_t n)
{
    if (n == 1 && b[0] >= '0' && b[0] <= '9')
        return (char)b[0];
    if (n == 3 && b[0] == 0xef && b[1] == 0xbc && b[2] >= 0x90 && b[2] <= 0x99)
        return (char)('0' + (b[2] - 0x90));
    return 0;
}

/* Whether a unit may stand between two digits of the phone: a space, a
 * mark, any other ASCII but a letter or digit, or a byte of another
 * encoding (GBK's full-width dash); never a letter, which may be part of
 * another value, left unmasked inside the phone. */
static bool gap_unit(const unsigned char *b, size_t n)
{
    char c[5] = {0};
    memcpy(c, b, n);
    return n == 1 ? !ascii_alnum(c[0]) : space_at(c) || mark_at(c);
}

/* The case's phone at t: its digits in order, raw, full-width or escaped,
 * with up to PHONE_GAP gap_units between two of them, whatever a program
 * put between its groups (138 0013 8000, 138%200013%208000, a GBK dash,
 * columns padded with spaces). As value_at. */
static found_t phone_at(const char *t, const char *digits, span_t *m)
{
    size_t d = 0, gap = 0;
    *m = (span_t){0, 0};
    if (!*digits || (!digit_at(t) && *t != '%' && *t != '\\'))
        return NO_MATCH;
    while (digits[d]) {
        unsigned char b[4];
        size_t n, w = unit_at(t + m->len, b, &n);
        char c = unit_digit(b, n);
        if (w == 0)
            return d ? CUT_SHORT : NO_MATCH;
        if (c == digits[d])
            d++, gap = 0;
        else if (c || d == 0 || !gap_unit(b, n) || ++gap > PHONE_GAP)
            return NO_MATCH;
        m->len += w, m->chars++;
    }
    return WHOLE;
}

/* The digits of the case's phone to look for, without a country code
 * (+86 138 0013 8000: 13800138000, as programs print it more often, and it
 * is found inside 8613800138000 too); "" for fewer than 7: a short one
 * (12345, the hotline's own number) would mask ordinary figures. */
static void phone_digits(const char *phone, char d[PHONE_DIGITS + 1])
{
    size_t n = 0;
    for (const char *p = phone; p && *p && n < PHONE_DIGITS; p++)
        if (ascii_digit(*p))
            d[n++] = *p;
    d[n] = '\0';
    bool plus = phone && memchr(phone, '+', strcspn(phone, "0123456789")) != NULL;
    const char *national = strncmp(d, "0086", 4) == 0             ? d + 4
                           : plus && strncmp(d, "86", 2) == 0 ? d + 2 : d;
    size_t len = strlen(national);
    memmove(d, national, len + 1);
    if (len < 7)
        d[0] = '\0';
}

typedef struct {
    const mask_person_t *p;
    char phone[PHONE_DIGITS + 1];
} known_t;

/* Keep f and its span s in *best, *bs when it is the better find: a whole
 * value over a cut one, a longer over a shorter. */
static void keep_best(found_t f, const span_t *s, bool phone, found_t *best, span_t *bs,
                      bool *is_phone)
{
    if (f == WHOLE ? (*best != WHOLE || s->len > bs->len) : (f == CUT_SHORT && *best == NO_MATCH))
        *best = f, *bs = *s, *is_phone = phone;
}

/* The longest of the person's values at t; *phone: whether it is the phone. */
static found_t person_at(const char *t, const known_t *k, span_t *m, bool *phone)
{
    const mask_person_t *p = k->p;
    found_t best = NO_MATCH, f[7];
    span_t s[7];
    f[0] = name_at(t, p->last, p->first, &s[0]);
    f[1] = name_at(t, p->first, p->last, &s[1]);
    f[2] = known_at(t, p->first, &s[2]);
    f[3] = known_at(t, p->last, &s[3]);
    f[4] = known_at(t, p->address, &s[4]);
    f[5] = known_at(t, p->email, &s[5]);
    f[6] = phone_at(t, k->phone, &s[6]);
    for (int i = 0; i < 7; i++)
        keep_best(f[i], &s[i], i == 6, &best, m, phone);
    return best;
}

/* The case's phone found at r (len bytes), written from w (w <= r) as
 * mask_digits would: the first 3 and last 4 of 11 or more digits, or the
 * last 2, stay; what is between them stays too. Where it ends. */
static char *put_phone(char *w, const char *r, size_t len, const char *digits)
{
    size_t d = strlen(digits), first = d >= 11 ? 3 : 0, last = d >= 11 ? 4 : 2;
    for (size_t at = 0, k = 0, n, u; at < len; at += u) {
        unsigned char b[4];
        u = unit_at(r + at, b, &n);
        bool digit = unit_digit(b, n) != 0, keep = !digit || k < first || k >= d - last;
        k += digit;
        if (keep)
            memmove(w, r + at, u);  /* w <= r + at: read before written over */
        else
            *w = '*';
        w += keep ? u : 1;
    }
    return w;
}

static bool ascii_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Whether a name or address found at r (m) is part of a longer word: a
 * letter before or after it where it begins or ends with one (the surname
 * Li in "client", Ma in "format"), which is not the resident's. */
static bool inside_word(char before, const char *r, const span_t *m)
{
    return (ascii_letter(before) && ascii_letter(r[0])) ||
           (ascii_letter(r[m->len - 1]) && ascii_letter(r[m->len]));
}

static void known_pass(char *text, const mask_person_t *person, bool cut)
{
    known_t k = {person, ""};
    phone_digits(person->phone, k.phone);
    char *w = text, before = '\0';    /* the byte before r as it was: w may have overwritten it */
    for (const char *r = text; *r;) {
        span_t m = {0, 0};
        bool phone = false;
        found_t f = person_at(r, &k, &m, &phone);
        if (f == CUT_SHORT && cut) {
            for (; *r; *w++ = '*')  /* w <= r: read before written over */
                r += step(r);
            break;
        }
        if (f != WHOLE || (!phone && inside_word(before, r, &m))) {
            before = *r;
            *w++ = *r++;
            continue;
        }
        before = r[m.len - 1];
        if (phone)
            w = put_phone(w, r, m.len, k.phone);
        else
            memset(w, '*', m.chars), w += m.chars;  /* a '*' a character: never more */
        r += m.len;
    }
    *w = '\0';
}

void mask_known(char *text, const mask_person_t *person)
{
    known_pass(text, person, false);
}

void mask_known_cut(char *text, const mask_person_t *person)
{
    known_pass(text, person, true);
}
