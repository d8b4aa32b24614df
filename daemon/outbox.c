/*
 * outbox.c - replies held until commit (see outbox.h).
 *
 * All queued bytes live in one arena that is reused pass after pass, so a
 * busy broker does not call malloc per reply.
 */
#include "outbox.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define MAX_FRAMES 4

typedef struct {
    void *sock;
    size_t off[1 + MAX_FRAMES], len[1 + MAX_FRAMES];   /* into the arena */
    size_t nframes;                                     /* including the first */
    char re[65];                                        /* "" for events */
} entry_t;

struct outbox_t {
    entry_t *v;
    size_t n, cap;
    char *arena;
    size_t used, size;
};

outbox_t *outbox_new(void)
{
    return calloc(1, sizeof(outbox_t));
}

void outbox_destroy(outbox_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->v);
    free((*self_p)->arena);
    free(*self_p);
    *self_p = NULL;
}

static int reserve(outbox_t *self, size_t bytes)
{
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 256;
        entry_t *v = realloc(self->v, cap * sizeof *v);
        if (!v)
            return -1;
        self->v = v, self->cap = cap;
    }
    if (self->used + bytes > self->size) {
        size_t size = self->size ? self->size : 65536;
        while (size < self->used + bytes)
            size *= 2;
        char *a = realloc(self->arena, size);
        if (!a)
            return -1;
        self->arena = a, self->size = size;
    }
    return 0;
}

static size_t put(outbox_t *self, const void *data, size_t len)
{
    size_t off = self->used;
    if (len)
        memcpy(self->arena + off, data, len);
    self->used += len;
    return off;
}

int outbox_add(outbox_t *self, void *sock, const void *first, size_t firstlen,
               const codec_frame_t *frames, size_t nframes, const char *re)
{
    size_t bytes = firstlen;
    if (nframes > MAX_FRAMES)
        return -1;
    for (size_t i = 0; i < nframes; i++)
        bytes += frames[i].size;
    if (reserve(self, bytes))
        return -1;
    entry_t *e = &self->v[self->n++];
    e->sock = sock;
    e->nframes = 1 + nframes;
    e->len[0] = firstlen;
    e->off[0] = put(self, first, firstlen);
    for (size_t i = 0; i < nframes; i++) {
        e->len[i + 1] = frames[i].size;
        e->off[i + 1] = put(self, frames[i].data, frames[i].size);
    }
    snprintf(e->re, sizeof e->re, "%s", re ? re : "");
    return 0;
}

size_t outbox_count(const outbox_t *self)
{
    return self->n;
}

int outbox_send_now(void *sock, const void *first, size_t firstlen,
                    const codec_frame_t *frames, size_t nframes)
{
    if (zmq_send(sock, first, firstlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    for (size_t i = 0; i < nframes; i++)
        if (zmq_send(sock, frames[i].data, frames[i].size,
                     (i + 1 < nframes ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0)
            return -1;
    return 0;
}

static int send_entry(outbox_t *self, const entry_t *e)
{
    codec_frame_t frames[MAX_FRAMES];
    for (size_t i = 1; i < e->nframes; i++)
        frames[i - 1] = (codec_frame_t){self->arena + e->off[i], e->len[i]};
    return outbox_send_now(e->sock, self->arena + e->off[0], e->len[0], frames, e->nframes - 1);
}

static void clear(outbox_t *self)
{
    self->n = 0;
    self->used = 0;
}

size_t outbox_flush(outbox_t *self)
{
    size_t failed = 0;
    for (size_t i = 0; i < self->n; i++)
        if (send_entry(self, &self->v[i]) < 0)
            failed++;
    clear(self);
    return failed;
}

void outbox_fail(outbox_t *self, codec_t *codec, msg_err_t code, const char *reason)
{
    for (size_t i = 0; i < self->n; i++) {
        entry_t *e = &self->v[i];
        if (!e->re[0])
            continue;
        msg_t err;
        codec_frame_t frames[3];
        codec_error_t cerr;
        msg_reset(&err, MSG_ERROR);
        err.re = e->re, err.code = (uint32_t)code, err.reason_text = reason;
        MSG_SET(&err, MF_RE), MSG_SET(&err, MF_CODE), MSG_SET(&err, MF_REASON_TEXT);
        if (codec_encode(codec, &err, frames, &cerr) == 0)
            outbox_send_now(e->sock, self->arena + e->off[0], e->len[0], frames, 3);
    }
    clear(self);
}
