/*
 * outbox.h - messages that may leave only after the transaction that
 * justifies them has committed: acks, SUBMIT_OKs, events. The broker adds
 * them while it works through a pass, commits, then flushes; if the commit
 * fails it turns every reply into an ERROR instead, so a client is never told
 * "stored" about something that is not.
 */
#ifndef MQ_OUTBOX_H
#define MQ_OUTBOX_H

#include "codec.h"

#include <stddef.h>

typedef struct outbox_t outbox_t;

/* Create an empty outbox; NULL when out of memory. */
outbox_t *outbox_new(void);
/* Free it; *self_p = NULL. */
void outbox_destroy(outbox_t **self_p);
/* Queue a message for sock: the first frame (routing id or PUB topic) then
 * frames. `re` is the msg_id of the request it answers (NULL for events).
 * Copies everything. 0, or -1 when out of memory. */
int outbox_add(outbox_t *self, void *sock, const void *first, size_t firstlen,
               const codec_frame_t *frames, size_t nframes, const char *re);
/* Messages queued. */
size_t outbox_count(const outbox_t *self);
/* Send everything (non-blocking) and empty the outbox. Returns how many could
 * not be sent (peer gone, or at its high-water mark). */
size_t outbox_flush(outbox_t *self);
/* The commit failed: send an ERROR (code, reason) for every queued reply,
 * drop the rest, and empty the outbox. */
void outbox_fail(outbox_t *self, codec_t *codec, msg_err_t code, const char *reason);
/* Send one message now, outside any transaction. 0 sent, -1 not (errno set). */
int outbox_send_now(void *sock, const void *first, size_t firstlen,
                    const codec_frame_t *frames, size_t nframes);

#endif
