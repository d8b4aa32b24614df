/*
 * codec.h - protocol v1 messages to and from ZeroMQ frames.
 *
 * A message is three frames: the signature "MINQING/1", the command name, and
 * one msgpack map. Decoding treats its input as hostile: it checks types,
 * required fields, limits, UTF-8 and trailing bytes, never reads past the
 * frames and never lets the input size an allocation. A codec owns the buffers
 * it decodes into and encodes from, so the hot path does not allocate.
 */
#ifndef MQ_CODEC_H
#define MQ_CODEC_H

#include "msg.h"

typedef struct codec_t codec_t;

typedef struct {
    const void *data;
    size_t size;
} codec_frame_t;

typedef struct {
    msg_err_t code;
    char reason[200];       /* readable, names the field: "case.phone: too long" */
} codec_error_t;

/* Create a codec; NULL when out of memory. */
codec_t *codec_new(void);
/* Destroy a codec and set *self_p to NULL. */
void codec_destroy(codec_t **self_p);
/* Decode frames into msg. 0 on success; else err gets the code and reason, and
 * msg->msg_id is still set when it could be read, for the ERROR's `re`.
 * Decoded strings stay valid until the next decode on this codec. */
int codec_decode(codec_t *self, const codec_frame_t *frames, size_t nframes,
                 msg_t *msg, codec_error_t *err);
/* Encode msg into three frames that stay valid until the next encode on this
 * codec. 0 on success, -1 when a required field is absent (err says which). */
int codec_encode(codec_t *self, const msg_t *msg, codec_frame_t frames[3],
                 codec_error_t *err);
/* True when two messages carry the same fields with the same values. */
bool codec_equal(const msg_t *a, const msg_t *b);

#endif
