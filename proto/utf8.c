/*
 * utf8.c - strict UTF-8 validation. Every text field on the wire goes through
 * here, so a Python or Java adapter and the C code agree on what a character is.
 */
#include "utf8.h"

#include <string.h>

size_t utf8_seqlen(unsigned char b)
{
    if (b < 0x80) return 1;
    if (b >= 0xc2 && b <= 0xdf) return 2;
    if (b >= 0xe0 && b <= 0xef) return 3;
    if (b >= 0xf0 && b <= 0xf4) return 4;
    return 1;
}

bool utf8_valid(const char *str, size_t len, size_t *chars)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, n = 0;
    while (i < len) {
        unsigned char b = s[i];
        size_t k = utf8_seqlen(b);
        if (b >= 0x80 && k == 1)
            return false;                   /* stray continuation, c0/c1, f5+ */
        if (k > len - i)
            return false;
        for (size_t j = 1; j < k; j++)
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
        /* second-byte ranges that rule out overlongs, surrogates, > U+10FFFF */
        if ((b == 0xe0 && s[i + 1] < 0xa0) || (b == 0xed && s[i + 1] > 0x9f) ||
            (b == 0xf0 && s[i + 1] < 0x90) || (b == 0xf4 && s[i + 1] > 0x8f))
            return false;
        i += k;
        n++;
    }
    if (chars)
        *chars = n;
    return true;
}

void utf8_cut(char *dst, size_t size, const char *src)
{
    size_t n = 0;
    while (src[n]) {
        size_t k = utf8_seqlen((unsigned char)src[n]);
        if (n + k >= size || strnlen(src + n, k) < k)
            break;      /* no room, or a sequence the string's end cuts short */
        n += k;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}
