/*
 * fuzz_mask.c - libFuzzer target for the masking of personal data.
 *
 * mask_text sees raw bytes from outside (a department command's stderr, in
 * any encoding), so it is fuzzed with anything. Whatever the input and the
 * output size, every mask must end its output inside the buffer, write valid
 * UTF-8 (never half a character), and leave no 7 digits in a row, nor 7
 * single digits a space apart: the shortest number it promises to hide.
 */
#include "mask.h"
#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether out has `run` ASCII digits in a row. */
static bool digits_in_row(const char *out, size_t run)
{
    size_t n = 0;
    for (; *out; out++)
        if ((n = (*out >= '0' && *out <= '9') ? n + 1 : 0) >= run)
            return true;
    return false;
}

/* Whether out has `run` single ASCII digits in a row, each one space from
 * the next (1 3 8 1 2 3 4): a number typed digit by digit. */
static bool spaced_digits_in_row(const char *out, size_t run)
{
    size_t n = 0;
    for (const char *s = out; *s; s++) {
        bool single = *s >= '0' && *s <= '9' && (s == out || s[-1] == ' ') &&
                      !(s[1] >= '0' && s[1] <= '9');
        if (single && (n = n + 1) >= run)
            return true;
        if (!single && !(*s == ' ' && n && s[1] >= '0' && s[1] <= '9'))
            n = 0;
    }
    return false;
}

static void check(const char *out, size_t size, size_t max_digits)
{
    size_t len = strnlen(out, size);
    if (size && len == size)
        abort();                            /* not terminated inside the buffer */
    if (!utf8_valid(out, len, NULL))
        abort();                            /* half a character, or a stray byte */
    if (digits_in_row(out, max_digits + 1) || spaced_digits_in_row(out, max_digits + 1))
        abort();                            /* a number left readable */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* the first byte picks the output size, so cuts are explored too */
    size_t outsize = data[0] % 64 == 0 ? 4096 : data[0] % 64;
    char *in = malloc(size), *out = malloc(outsize);
    if (!in || !out)
        abort();
    memcpy(in, data + 1, size - 1);
    in[size - 1] = '\0';
    mask_text(in, out, outsize);
    check(out, outsize, 6);
    /* the resident's own values out of raw text: in place, never longer,
     * never half a character where the text had whole ones; and so for a
     * cut text, whose end is masked too, and what of it mask_text may see */
    static const mask_person_t person = {"小明", "王", "文三路123号", "a@b.cn", "+86 138 0013 8000"};
    for (int cut = 0; cut < 2; cut++) {
        char *known = strdup(in);
        if (!known)
            abort();
        (cut ? mask_known_cut : mask_known)(known, &person);
        if (strlen(known) > strlen(in) || strstr(known, "王小明") || strstr(known, "文三路123号") ||
            strstr(known, "13800138000") ||
            (utf8_valid(in, strlen(in), NULL) && !utf8_valid(known, strlen(known), NULL)))
            abort();
        if (cut && mask_cut_point(known) > strlen(known))
            abort();
        free(known);
    }
    mask_phone(in, out, outsize);
    check(out, outsize, 4);
    /* names, e-mails and addresses come decoded: valid UTF-8 */
    if (utf8_valid(in, strlen(in), NULL)) {
        mask_name(in, out, outsize);
        check(out, outsize, SIZE_MAX - 1);
        mask_email(in, out, outsize);
        check(out, outsize, SIZE_MAX - 1);
        mask_address(in, out, outsize);
        check(out, outsize, SIZE_MAX - 1);
    }
    free(in);
    free(out);
    return 0;
}
