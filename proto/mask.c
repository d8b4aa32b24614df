/*
 * mask.c - masking of residents' personal data for display (个人信息保护法).
 *
 * `minqing show` masks by default, the way Chinese service platforms show a
 * resident to staff: phone 138****5678, name 张*, e-mail z***@example.com,
 * the address cut after its first third. Free text (the description, the
 * handlers' notes) is masked too, as far as a program can: every run of 7 or
 * more digits, which is where phone and ID numbers hide. `--unmask` shows all
 * of it; docs/stats.md and `minqing show --help` explain why that is allowed.
 */
#include "mask.h"
#include "utf8.h"

#include <ctype.h>
#include <string.h>

/* An output buffer that never cuts a character in two. */
typedef struct {
    char *p;
    size_t size, len;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->size)
        return;
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void begin(out_t *o, char *buf, size_t size)
{
    *o = (out_t){buf, size, 0};
    if (size)
        buf[0] = '\0';
}

static size_t seq(const char *s)
{
    size_t n = utf8_seqlen((unsigned char)*s);
    size_t avail = strnlen(s, n);
    return avail < n ? avail : n;
}

static size_t count_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s += seq(s))
        n++;
    return n;
}

/* Mask the digits of s[0..n) but the first `first` and the last `last`. */
static void mask_digits(out_t *o, const char *s, size_t n)
{
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        d += isdigit((unsigned char)s[i]) != 0;
    size_t first = d >= 8 ? 3 : 0, last = d >= 8 ? 4 : d > 2 ? 2 : 0;
    for (size_t i = 0, k = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) {
            put(o, s + i, 1);
            continue;
        }
        put(o, k < first || k >= d - last ? s + i : "*", 1);
        k++;
    }
}

void mask_phone(const char *phone, char *out, size_t size)
{
    out_t o;
    begin(&o, out, size);
    if (phone)
        mask_digits(&o, phone, strlen(phone));
}

void mask_name(const char *name, char *out, size_t size)
{
    out_t o;
    begin(&o, out, size);
    if (!name)
        return;
    bool first = true;
    for (const char *s = name; *s; s += seq(s)) {
        if (first || *s == ' ')
            put(&o, s, seq(s));
        else
            put(&o, "*", 1);
        first = false;
    }
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
    put(&o, email, seq(email));
    put(&o, "***", 3);
    put(&o, at, strlen(at));
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
    for (size_t i = 0; i < keep && *s; i++, s += seq(s))
        put(&o, s, seq(s));
    put(&o, "***", 3);
}

void mask_text(const char *text, char *out, size_t size)
{
    out_t o;
    begin(&o, out, size);
    if (!text)
        return;
    for (const char *s = text; *s;) {
        size_t run = strspn(s, "0123456789");
        if (run >= 7) {
            mask_digits(&o, s, run);
            s += run;
        } else if (run) {
            put(&o, s, run);
            s += run;
        } else {
            size_t n = seq(s);
            put(&o, s, n);
            s += n;
        }
    }
}
