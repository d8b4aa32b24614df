/*
 * minqing.h - libminqing, the client library for minqing adapters.
 *
 * Two sides of the broker in one small API:
 *   - mq_worker_*: a department worker. It registers with a capacity, receives
 *     assignments, reports outcomes; heartbeats, re-registration and resending
 *     unacknowledged outcomes after a reconnect are handled inside.
 *   - mq_client_*: an intake client. It submits cases and gets their ids, one at
 *     a time or with many submissions in flight.
 * Every state-changing message carries a msg_id generated here, so a retry after
 * a lost ack is always safe: the broker applies it once and acks it again.
 * Functions return 0 on success and -1 on error unless stated; mq_strerror()
 * then says why. The objects are not thread-safe: use one per thread.
 * Nor do they survive fork(): a client, or a worker once a call connected
 * it, fails every call in a forked child (-1, errno ECHILD); create a new
 * one there (destroying the copy frees it, the parent's stays up).
 */
#ifndef MINQING_H
#define MINQING_H

#include "msg.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct mq_worker_t mq_worker_t;
typedef struct mq_client_t mq_client_t;

/* One assignment handed to a worker. Strings stay valid until the next call
 * of mq_worker_next on the same worker. The library hands out every copy the
 * broker sends: the same assignment can come again (after a reconnect or a
 * restart, sometimes with the same attempt), so an adapter recognises it by
 * assignment_id and starts no second piece of work (PROTOCOL.md 5.10). */
typedef struct {
    uint64_t assignment_id, case_id;
    const char *department;
    msg_role_t role;
    uint32_t attempt;           /* one more on each later delivery (informative) */
    int64_t received_at, contact_due, resolve_due;  /* unix ms; resolve_due 0 if none */
    msg_case_t kase;            /* the case record, with personal data */
} mq_assignment_t;

/* An escalation notice, for supervision workers. The library hands out each
 * escalation_id once, and keeps it until the adapter acknowledges or releases
 * it (copies meanwhile are not handed out), however many notices come; with
 * 10,000 open, a new one is not taken (nor acknowledged): the broker's resend,
 * every 5 s, brings it again once some are finished. */
typedef struct {
    uint64_t escalation_id, case_id;
    uint32_t level;
    msg_ladder_t ladder;
    const char *target, *department, *grid_code, *community, *street;
    int64_t due_at, overdue_s;
} mq_escalation_t;

typedef enum { MQ_NOTHING = 0, MQ_ASSIGNMENT, MQ_ESCALATION } mq_event_t;

/* Connect a worker of `department` to the broker's worker endpoint and register
 * with `capacity` (1..10000). `name` (may be NULL) labels it in the broker log.
 * Returns NULL on a bad argument or when out of memory; connecting is lazy. */
mq_worker_t *mq_worker_new(const char *endpoint, const char *department,
                           unsigned capacity, const char *name);
/* Send DISCONNECT, close and free the worker; set *self_p to NULL. Outcomes
 * not yet acknowledged are dropped with it: call mq_worker_flush first. */
void mq_worker_destroy(mq_worker_t **self_p);
/* Wait up to timeout_ms (-1: forever) for the next assignment or escalation.
 * Returns MQ_ASSIGNMENT (filled *a), MQ_ESCALATION (filled *e), MQ_NOTHING on
 * timeout or when a signal was caught (so that a loop whose handler sets a
 * stop flag sees it, even with -1), or -1 on a fatal error: among them the
 * broker refusing the registration, or ending the session because the key
 * was revoked (ERROR 300: errno EACCES; other refusals EPROTO), or refusing
 * the CURVE handshake (see mq_worker_set_certs), once per refusal, with
 * mq_strerror saying why; called again, the worker waits as usual and goes
 * on registering (every 2, 4, then 8 s while refused), and its outcomes stay
 * queued (mq_worker_sessions tells a refused first registration from a
 * session that ended). Heartbeats,
 * resends, registration and reconnection happen only inside this call (and
 * mq_worker_flush): let no more than 250 ms pass between two calls (less if
 * the broker's heartbeat is shorter). After 3 heartbeats without a call, the
 * broker takes the worker for dead, and the worker the broker (it reconnects). */
int mq_worker_next(mq_worker_t *self, mq_assignment_t *a, mq_escalation_t *e, int timeout_ms);
/* A file descriptor that becomes readable when mq_worker_next may have work;
 * for the adapter's own poll loop (ZMQ_FD semantics: edge-triggered, call
 * mq_worker_next with timeout 0 until it returns MQ_NOTHING). The fd changes
 * when the worker reconnects: fetch it again after every mq_worker_next or
 * mq_worker_flush, never keep it. It does not wake for the worker's timers:
 * poll with a timeout of at most 250 ms (see mq_worker_next). */
int mq_worker_fd(mq_worker_t *self);
/* Report outcomes of an assignment. They are queued and sent at once; each is
 * resent until the broker acknowledges it, for 23 hours at most: an older one
 * could be applied twice (PROTOCOL.md 8.2), so it is dropped and counted by
 * mq_worker_refused. A note may be NULL but progress's; resolved needs result
 * and summary, returned a reason other than RETURN_NONE. An outcome the broker
 * would refuse fails at once: errno EINVAL, or EMSGSIZE when over MSG_MAX_BODY. */
int mq_worker_accept(mq_worker_t *self, uint64_t assignment_id);
int mq_worker_contacted(mq_worker_t *self, uint64_t assignment_id, const char *note);
int mq_worker_progress(mq_worker_t *self, uint64_t assignment_id, const char *note);
int mq_worker_resolved(mq_worker_t *self, uint64_t assignment_id, const char *result,
                       const char *summary);
int mq_worker_returned(mq_worker_t *self, uint64_t assignment_id, msg_return_t reason,
                       const char *note);
/* Acknowledge an escalation notice (again: harmless). Its late copies are
 * acknowledged inside, for the last 10,000 notices acknowledged. */
int mq_worker_ack_escalation(mq_worker_t *self, const mq_escalation_t *e);
/* Give up on a notice not acknowledged (acting on it failed): the broker's
 * next copy, within 5 s, comes out of mq_worker_next again as a new notice. */
int mq_worker_release_escalation(mq_worker_t *self, const mq_escalation_t *e);
/* Outcomes sent but not yet acknowledged by the broker. */
unsigned mq_worker_unacked(const mq_worker_t *self);
/* Outcomes dropped since the worker began: refused by the broker with an
 * ERROR (1xx-3xx), or unacknowledged for 23 hours. mq_strerror() says why the
 * last one was, after the call that dropped it (usually mq_worker_next). */
unsigned mq_worker_refused(const mq_worker_t *self);
/* Sessions the broker granted so far (REGISTER acknowledged): 0 until the
 * worker first registered, one more at each registration after it. */
unsigned mq_worker_sessions(const mq_worker_t *self);
/* Wait up to timeout_ms (-1: forever) for every outcome to be acknowledged; 0
 * when none is left; -1 with errno ETIMEDOUT when some still are at the
 * timeout. A caught signal ends the wait: -1 with errno EINTR (call
 * it again to go on waiting). Assignments and escalations that come meanwhile
 * are kept, in order, for mq_worker_next; mq_worker_fd does not signal them:
 * after a flush, call mq_worker_next with timeout 0 until MQ_NOTHING. */
int mq_worker_flush(mq_worker_t *self, int timeout_ms);

/* Use CURVE on a tcp:// endpoint: server_cert is the broker's public
 * certificate, client_cert this client's certificate (with its _secret file
 * beside it), both zcert files from `minqing keygen`. Call it right after
 * mq_worker_new / mq_client_new. 0, or -1 (NULL for either: errno EINVAL;
 * otherwise mq_strerror says why: a file that
 * cannot be read, a missing secret key, or a secret key file that group or
 * others may read, which is refused: chmod 600 it). A key the
 * broker refuses then fails the calls that wait (mq_worker_next, a client's
 * requests) with errno EACCES, and a handshake that cannot work (no CURVE
 * there, a wrong server certificate) with EPROTO, instead of a silent wait.
 * A worker reports each refused handshake once and tries again on a fresh
 * connection 2, 4, then 8 s later; a client tries again at its next call
 * (see mq_client_new), so a key allowlisted meanwhile (and the broker
 * reloaded) works without a new object. */
int mq_worker_set_certs(mq_worker_t *self, const char *server_cert, const char *client_cert);
int mq_client_set_certs(mq_client_t *self, const char *server_cert, const char *client_cert);

/* Connect an intake client to the broker's intake endpoint. With CURVE
 * (mq_client_set_certs), the broker answers a key it does not admit with
 * silence, so the client watches its handshakes: when the broker refuses the
 * key or the handshake cannot succeed, every wait ends at once with -1,
 * errno EACCES (the key is on none of the broker's allowlists) or EPROTO (no
 * CURVE on that endpoint, or a server certificate that is not the broker's),
 * and mq_strerror() says which. The next call tries again on a fresh
 * connection, so a key allowlisted meanwhile works; not sooner than 1 s
 * after the failure (then 2, 4, 8 s after the next ones), which a call
 * waits for within its timeout (a call that cannot wait fails again). */
mq_client_t *mq_client_new(const char *endpoint);
/* Close and free the client; set *self_p to NULL. */
void mq_client_destroy(mq_client_t **self_p);
/* The case's `present` bits: a non-NULL string and a priority other than
 * PRIO_NORMAL (the default) are marked present here; lat and long are sent
 * only with their bits set by the caller (MSG_SET(kase, CF_LAT), CF_LONG),
 * as 0 is a place. Bits the caller set are kept.
 * Submit a case and wait up to timeout_ms (-1: forever) for its id; while no
 * reply comes, resends with the same msg_id until then, but for 23 hours at
 * most (the broker's memory of a msg_id is 24), then -1 with errno
 * ETIMEDOUT. *duplicate (may be NULL) is true when (channel, external_id)
 * was known. An ERROR naming it ends the wait at once: -1, with
 * mq_client_error() giving its code; a 301 RATE_LIMITED names none: the
 * resends slow down (1 s doubling to 8 s), and a timeout after one gives
 * mq_client_error() 301, not 0 (a broker that is down). A 5xx (the
 * broker's store failed, its disk is full, it is stopping) is not retried
 * inside: the caller submits again later (a new msg_id, safe: the broker
 * knows the case by channel and external_id). So does a caller whose wait a
 * signal or the timeout ended (EINTR, ETIMEDOUT): this client then resends
 * with the unanswered msg_id if channel and external_id are the same. With a
 * new msg_id (after a 5xx, or from another client), *duplicate may be the
 * caller's own earlier attempt: do not tell the resident it is another's. */
int mq_client_submit(mq_client_t *self, const msg_case_t *kase, int timeout_ms,
                     uint64_t *case_id, bool *duplicate);
/* Send a SUBMIT without waiting; its msg_id is written to msg_id (>= 32 bytes). */
int mq_client_send_submit(mq_client_t *self, const msg_case_t *kase, char *msg_id);
/* Send any intake request (IMPORT, FEEDBACK, ...) without waiting: its fields
 * and their `present` bits are the caller's. A request without msg_id gets a
 * fresh one, written to msg_id (>= 32 bytes); replies carry it in `re`
 * (not all ERRORs: see mq_client_recv). A
 * request with its msg_id set is sent with it (msg_id may then be NULL and is
 * not written): that is how an unanswered request is sent again (PROTOCOL.md
 * 8.2), so that the broker answers the copy as it answered the first. The
 * request itself is left as it was given. An id is for one request only, and
 * not for longer than the broker's 24 hours of memory. A request whose
 * encoded body is over MSG_MAX_BODY is not sent: -1 with errno EMSGSIZE (the
 * broker could not say which request it refused). */
int mq_client_send(mq_client_t *self, msg_t *request, char *msg_id);
/* Receive one reply (SUBMIT_OK, ACK or ERROR) within timeout_ms (-1: forever)
 * into *reply; 1 when one came, 0 on timeout or when a signal was caught (so
 * that a caller's stop flag is seen, even with -1), -1 on error. Strings in
 * *reply stay valid until the next receive on this client. An ERROR may come
 * without `re` (301 RATE_LIMITED always does, as does the answer to a
 * message the broker could not read): it names no request, so resend the
 * unanswered ones later with their msg_ids. Replies a blocking call on this
 * client read for other requests come here first (up to 1024 are kept). */
int mq_client_recv(mq_client_t *self, msg_t *reply, int timeout_ms);
/* Send an already filled request (FEEDBACK, CLOSE, REASSIGN, CANCEL) and wait
 * up to timeout_ms (-1: forever; resent for 23 hours at most from its first
 * send, counted over calls that send the same msg_id again, also with up to
 * 15 other requests between) for its ACK or
 * ERROR. As with mq_client_send, a request without msg_id gets a fresh one,
 * written to msg_id (>= 32 bytes; NULL: not kept), and the request is left
 * as it was given. An ERROR naming it ends the wait at once (mq_client_error:
 * its code; a 301 as with mq_client_submit); a 5xx is not retried inside:
 * the caller sends it again later with the same msg_id. So does a caller
 * whose wait a caught signal ended (-1 with errno EINTR): to send it again,
 * set its msg_id to that id (the broker then answers the copy as it answered
 * the first). Strings in *reply stay valid until the next call that
 * receives on this client. */
int mq_client_request(mq_client_t *self, const msg_t *request, char *msg_id, msg_t *reply,
                      int timeout_ms);
/* Code of the last ERROR a client call got (0 if none), or of the check that
 * refused a request before it was sent: every request is checked as the
 * broker checks it (field limits, a caller's msg_id printable 0x21-0x7e and
 * 1..64 characters, the body's size), and a bad one fails at once. */
msg_err_t mq_client_error(const mq_client_t *self);

/* Why the last call on this thread that failed did; a success keeps it. */
const char *mq_strerror(void);

/* Copy free text into out (size bytes, cut at a character boundary) with
 * every number of 7 or more digits and every e-mail address masked as
 * `minqing show` masks them (13812345678 -> 138****5678, 138-1234-5678 ->
 * 138-****-5678, 1 3 8 1 2 3 4 5 6 7 8, full-width digits too;
 * zhang@163.com -> z***@163.com; a byte that starts no UTF-8 character ->
 * '?'): for an adapter that logs text it did not write, where a phone or ID
 * number may hide. Names and addresses cannot be recognised in free text
 * and pass unchanged. */
void mq_mask_text(const char *text, char *out, size_t size);

#endif
