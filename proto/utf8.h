/*
 * utf8.h - strict UTF-8 checking (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), shared by the codec and the log masker.
 */
#ifndef MQ_UTF8_H
#define MQ_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is valid UTF-8; *chars gets its count of code points. */
bool utf8_valid(const char *s, size_t len, size_t *chars);
/* Length in bytes of the UTF-8 sequence starting with byte b (1 for invalid). */
size_t utf8_seqlen(unsigned char b);
/* Copy src into dst (size bytes), cut at a character boundary, NUL-terminated. */
void utf8_cut(char *dst, size_t size, const char *src);

#endif
