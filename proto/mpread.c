/*
 * mpread.c - a bounded, allocation-free msgpack reader (see mpread.h for why).
 *
 * Every read checks the bytes that remain before touching them; a read that
 * fails leaves the cursor where it was, so the caller can report the field.
 */
#include "mpread.h"

#include <string.h>

void mpread_init(mpread_t *r, const void *buf, size_t len)
{
    r->p = buf;
    r->end = len ? r->p + len : r->p;   /* an empty frame may come as NULL */
}

size_t mpread_left(const mpread_t *r)
{
    return (size_t)(r->end - r->p);
}

/* Big-endian unsigned of n bytes at p (n is 1, 2, 4 or 8). */
static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Read a length of n bytes after the format byte; 0 or MP_EOF. */
static int read_len(mpread_t *r, int n, uint64_t *v)
{
    if (mpread_left(r) < (size_t)1 + (size_t)n)
        return MP_EOF;
    *v = be(r->p + 1, n);
    r->p += 1 + n;
    return 0;
}

mp_type_t mpread_peek(const mpread_t *r)
{
    if (r->p >= r->end)
        return MP_NONE;
    uint8_t b = *r->p;
    if (b <= 0x7f || (b >= 0xcc && b <= 0xcf)) return MP_UINT;
    if (b >= 0xe0 || (b >= 0xd0 && b <= 0xd3)) return MP_INT;
    if (b <= 0x8f || b == 0xde || b == 0xdf) return MP_MAP;
    if (b <= 0x9f || b == 0xdc || b == 0xdd) return MP_ARRAY;
    if (b <= 0xbf || (b >= 0xd9 && b <= 0xdb)) return MP_STR;
    switch (b) {
    case 0xc0: return MP_NIL;
    case 0xc2: case 0xc3: return MP_BOOL;
    case 0xc4: case 0xc5: case 0xc6: return MP_BIN;
    case 0xca: case 0xcb: return MP_FLOAT;
    case 0xc1: return MP_NONE;
    default: return MP_EXT;     /* c7-c9, d4-d8 */
    }
}

/* Map or array header: count and bytes each element needs at least. */
static int read_container(mpread_t *r, bool map, uint32_t *count)
{
    if (r->p >= r->end)
        return MP_EOF;
    const uint8_t *start = r->p;
    uint8_t b = *r->p;
    uint8_t fix = map ? 0x80 : 0x90, w16 = map ? 0xde : 0xdc, w32 = map ? 0xdf : 0xdd;
    uint64_t n;
    int rc = 0;
    if ((b & 0xf0) == fix) {
        n = b & 0x0f;
        r->p++;
    } else if (b == w16) {
        rc = read_len(r, 2, &n);
    } else if (b == w32) {
        rc = read_len(r, 4, &n);
    } else {
        return MP_TYPE;
    }
    if (rc)
        return rc;
    /* Every element takes at least one byte: a count the remaining bytes
     * cannot hold is a lie, refused before anyone sizes anything by it. */
    if (n * (map ? 2u : 1u) > mpread_left(r)) {
        r->p = start;
        return MP_EOF;
    }
    *count = (uint32_t)n;
    return 0;
}

int mpread_map(mpread_t *r, uint32_t *count)
{
    return read_container(r, true, count);
}

int mpread_str(mpread_t *r, const char **s, uint32_t *len)
{
    if (r->p >= r->end)
        return MP_EOF;
    const uint8_t *start = r->p;
    uint8_t b = *r->p;
    uint64_t n;
    int rc = 0;
    if ((b & 0xe0) == 0xa0) {
        n = b & 0x1f;
        r->p++;
    } else if (b >= 0xd9 && b <= 0xdb) {
        rc = read_len(r, 1 << (b - 0xd9), &n);
    } else {
        return MP_TYPE;
    }
    if (rc)
        return rc;
    if (n > mpread_left(r)) {
        r->p = start;
        return MP_EOF;
    }
    *s = (const char *)r->p;
    *len = (uint32_t)n;
    r->p += n;
    return 0;
}

/* Any integer: *neg says whether it is negative, *mag holds its bits. */
static int read_integer(mpread_t *r, bool *neg, uint64_t *bits)
{
    if (r->p >= r->end)
        return MP_EOF;
    uint8_t b = *r->p;
    if (b <= 0x7f) {
        *neg = false, *bits = b, r->p++;
        return 0;
    }
    if (b >= 0xe0) {
        *neg = true, *bits = (uint64_t)(int64_t)(int8_t)b, r->p++;
        return 0;
    }
    int n;
    if (b >= 0xcc && b <= 0xcf)
        n = 1 << (b - 0xcc);
    else if (b >= 0xd0 && b <= 0xd3)
        n = 1 << (b - 0xd0);
    else
        return MP_TYPE;
    uint64_t v;
    if (read_len(r, n, &v))
        return MP_EOF;
    if (b >= 0xd0) {
        /* sign-extend the n-byte two's complement value */
        int shift = 64 - 8 * n;
        int64_t sv = (int64_t)(v << shift) >> shift;
        *neg = sv < 0;
        *bits = (uint64_t)sv;
    } else {
        *neg = false;
        *bits = v;
    }
    return 0;
}

int mpread_uint(mpread_t *r, uint64_t *v)
{
    const uint8_t *start = r->p;
    bool neg;
    int rc = read_integer(r, &neg, v);
    if (rc == 0 && neg) {
        r->p = start;
        return MP_RANGE;
    }
    return rc;
}

int mpread_int(mpread_t *r, int64_t *v)
{
    const uint8_t *start = r->p;
    bool neg;
    uint64_t bits;
    int rc = read_integer(r, &neg, &bits);
    if (rc)
        return rc;
    if (!neg && bits > (uint64_t)INT64_MAX) {
        r->p = start;
        return MP_RANGE;
    }
    *v = (int64_t)bits;
    return 0;
}

int mpread_double(mpread_t *r, double *v)
{
    if (r->p >= r->end)
        return MP_EOF;
    uint8_t b = *r->p;
    uint64_t bits;
    if (b == 0xca) {
        if (read_len(r, 4, &bits))
            return MP_EOF;
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, sizeof f);
        *v = f;
        return 0;
    }
    if (b == 0xcb) {
        if (read_len(r, 8, &bits))
            return MP_EOF;
        memcpy(v, &bits, sizeof *v);
        return 0;
    }
    int64_t i;
    int rc = mpread_int(r, &i);
    if (rc == 0)
        *v = (double)i;
    return rc;
}

int mpread_bool(mpread_t *r, bool *v)
{
    if (r->p >= r->end)
        return MP_EOF;
    if (*r->p != 0xc2 && *r->p != 0xc3)
        return MP_TYPE;
    *v = *r->p++ == 0xc3;
    return 0;
}

int mpread_nil(mpread_t *r)
{
    if (r->p >= r->end)
        return MP_EOF;
    if (*r->p != 0xc0)
        return MP_TYPE;
    r->p++;
    return 0;
}

/* Skip n payload bytes after a header already consumed. */
static int skip_bytes(mpread_t *r, uint64_t n)
{
    if (n > mpread_left(r))
        return MP_EOF;
    r->p += n;
    return 0;
}

/* Skip a bin or ext value whose format byte is b. */
static int skip_blob(mpread_t *r, uint8_t b)
{
    static const uint8_t fixext[] = {1, 2, 4, 8, 16};
    uint64_t n;
    if (b >= 0xd4 && b <= 0xd8) {       /* fixext: format, type byte, data */
        r->p++;
        return skip_bytes(r, 1u + fixext[b - 0xd4]);
    }
    int w = (b >= 0xc7) ? 1 << (b - 0xc7) : 1 << (b - 0xc4);
    if (read_len(r, w, &n))
        return MP_EOF;
    return skip_bytes(r, n + (b >= 0xc7 ? 1u : 0u));
}

int mpread_skip(mpread_t *r, int depth)
{
    const uint8_t *start = r->p;
    uint32_t n, len;
    const char *s;
    double d;
    bool bo;
    int rc;

    switch (mpread_peek(r)) {
    case MP_NONE:
        return r->p >= r->end ? MP_EOF : MP_INVALID;
    case MP_NIL: return mpread_nil(r);
    case MP_BOOL: return mpread_bool(r, &bo);
    case MP_UINT: case MP_INT: {
        bool neg;
        uint64_t bits;
        return read_integer(r, &neg, &bits);
    }
    case MP_FLOAT: return mpread_double(r, &d);
    case MP_STR: return mpread_str(r, &s, &len);
    case MP_BIN: case MP_EXT:
        rc = skip_blob(r, *r->p);
        break;
    case MP_ARRAY: case MP_MAP: {
        bool map = mpread_peek(r) == MP_MAP;
        if (depth <= 0)
            return MP_DEPTH;
        rc = read_container(r, map, &n);
        uint64_t items = (uint64_t)n * (map ? 2u : 1u);
        for (uint64_t k = 0; rc == 0 && k < items; k++)
            rc = mpread_skip(r, depth - 1);
        break;
    }
    default:
        return MP_INVALID;
    }
    if (rc)
        r->p = start;
    return rc;
}
