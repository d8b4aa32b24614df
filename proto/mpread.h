/*
 * mpread.h - a bounded reader of msgpack bytes.
 *
 * msgpack-c's unpacker allocates room for a map or array from its declared
 * count before it has seen the elements (msgpack-c issue 1013: the 5-byte body
 * dd ff 00 00 00 asks for ~96 GB). This reader never allocates: it walks the
 * caller's buffer, checks every declared length and count against the bytes
 * that remain, and hands back pointers into that buffer.
 */
#ifndef MQ_MPREAD_H
#define MQ_MPREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint8_t *p;       /* next unread byte */
    const uint8_t *end;     /* one past the last byte */
} mpread_t;

/* What the next value is, by family (not by exact msgpack format byte). */
typedef enum {
    MP_NONE, MP_NIL, MP_BOOL, MP_UINT, MP_INT, MP_FLOAT, MP_STR, MP_BIN,
    MP_ARRAY, MP_MAP, MP_EXT
} mp_type_t;

/* Results: 0 on success, or a negative reason. */
#define MP_EOF      -1      /* the buffer ends inside the value */
#define MP_TYPE     -2      /* the value is not of the asked type */
#define MP_RANGE    -3      /* an integer does not fit the asked type */
#define MP_DEPTH    -4      /* nesting deeper than allowed while skipping */
#define MP_INVALID  -5      /* 0xc1, the never-used format byte */

/* Start reading `len` bytes at `buf`. */
void mpread_init(mpread_t *r, const void *buf, size_t len);
/* Bytes not yet read. */
size_t mpread_left(const mpread_t *r);
/* Family of the next value without consuming it; MP_NONE at the end. */
mp_type_t mpread_peek(const mpread_t *r);
/* Read a map header; *count is bounded by the bytes left (2 per entry). */
int mpread_map(mpread_t *r, uint32_t *count);
/* Read a string; *s points into the buffer, not NUL-terminated. */
int mpread_str(mpread_t *r, const char **s, uint32_t *len);
/* Read a non-negative integer (positive fixint, uint*, or int* >= 0). */
int mpread_uint(mpread_t *r, uint64_t *v);
/* Read any integer that fits in int64. */
int mpread_int(mpread_t *r, int64_t *v);
/* Read a float32/float64, or an integer, as double. */
int mpread_double(mpread_t *r, double *v);
/* Read a boolean. */
int mpread_bool(mpread_t *r, bool *v);
/* Read nil. */
int mpread_nil(mpread_t *r);
/* Skip one value of any type, nesting at most `depth` levels. */
int mpread_skip(mpread_t *r, int depth);

#endif
