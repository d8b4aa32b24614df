/*
 * fuzz_decode.c - libFuzzer target for the protocol decoder.
 *
 * The input is split into frames at the 0x00 0xFF pair ("\0\xff" cannot start a
 * well-formed signature or command), so the fuzzer explores frame counts,
 * signatures, command names and bodies at once. A decoded message is encoded
 * again and decoded a second time: the two must be equal.
 */
#include "codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static codec_t *dec, *enc;
    if (!dec) {
        dec = codec_new();
        enc = codec_new();
    }
    codec_frame_t frames[8];
    size_t n = 0, start = 0;
    for (size_t i = 0; i + 1 < size && n < 7; i++)
        if (data[i] == 0x00 && data[i + 1] == 0xff) {
            frames[n++] = (codec_frame_t){data + start, i - start};
            start = i + 2;
            i++;
        }
    frames[n++] = (codec_frame_t){data + start, size - start};

    msg_t msg, again;
    codec_error_t err;
    if (codec_decode(dec, frames, n, &msg, &err) != 0) {
        if (err.code == MSG_OK || err.reason[0] == '\0')
            abort();                        /* every refusal has a code and reason */
        return 0;
    }
    codec_frame_t out[3];
    if (codec_encode(enc, &msg, out, &err) != 0)
        abort();                            /* what decodes must encode */
    codec_t *dec2 = codec_new();
    if (codec_decode(dec2, out, 3, &again, &err) != 0 || !codec_equal(&msg, &again))
        abort();                            /* and decode to the same message */
    codec_destroy(&dec2);
    return 0;
}
