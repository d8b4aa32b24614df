/*
 * test_dispatch.c - unit tests for the waiting queues and the holder map
 * (daemon/dispatch.c).
 *
 * dispatch decides which worker gets which assignment and keeps each
 * worker's credit (session inflight) in step, so a slip here loses cases or
 * starves workers without any error. The queues are checked for FIFO order,
 * front insertion and growth against a reference deque; orphans for their
 * rule (only a worker registered after the death may take them) and their
 * death time; bind, unbind and release for their effect on inflight; and
 * the open-addressing holder map, through tens of thousands of random
 * binds and unbinds checked against a plain reference array, for growth
 * and backward-shift deletion. The census of what each worker holds and has
 * not taken up, and stall.c's rule on it, end the file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "stall.h"

#define NDEPTS 3

static dispatch_t *g_d;

static int setup(void **state)
{
    (void)state;
    g_d = dispatch_new(NDEPTS);
    return g_d ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    dispatch_destroy(&g_d);
    return 0;
}

/* A deterministic generator (xorshift64*), so a failure can be replayed. */
static uint64_t g_rng = 0x2545F4914F6CDD1DULL;

static uint64_t rnd(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545F4914F6CDD1DULL;
}

static size_t rnd_below(size_t n)
{
    return (size_t)(rnd() % n);
}

static session_t worker(int dept, int64_t registered_at)
{
    return (session_t){.dept = dept, .capacity = 100000, .registered_at = registered_at};
}

/* The next assignment a worker registered at `reg` gets from dept, or 0. */
static uint64_t take(int dept, int64_t reg)
{
    dispatch_item_t item;
    return dispatch_take(g_d, dept, reg, &item) ? item.asg : 0;
}

/* Take everything a worker registered at `reg` may take, as "1,2,3". */
static const char *drain(int dept, int64_t reg)
{
    static char buf[4096];
    size_t len = 0;
    uint64_t asg;
    buf[0] = '\0';
    while ((asg = take(dept, reg)) != 0 && len < sizeof buf - 24)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%llu", len ? "," : "",
                                (unsigned long long)asg);
    return buf;
}

static void wait_all(int dept, const uint64_t *ids, size_t n, bool front)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(dispatch_wait(g_d, dept, ids[i], front), 0);
}

/* ---- queues ---------------------------------------------------------- */

static void fifo_order(void **state)
{
    (void)state;
    wait_all(1, (uint64_t[]){5, 3, 9, 1}, 4, false);
    assert_string_equal(drain(1, 0), "5,3,9,1");
    assert_int_equal(take(1, 0), 0);
}

static void front_insertion(void **state)
{
    (void)state;
    wait_all(0, (uint64_t[]){1, 2}, 2, false);
    wait_all(0, (uint64_t[]){3, 4}, 2, true);       /* 4 is now first, then 3 */
    assert_int_equal(dispatch_wait(g_d, 0, 5, false), 0);
    assert_string_equal(drain(0, 0), "4,3,1,2,5");
    /* into an empty queue, and after the queue has emptied */
    assert_int_equal(dispatch_wait(g_d, 0, 6, true), 0);
    assert_string_equal(drain(0, 0), "6");
}

static void departments_apart(void **state)
{
    (void)state;
    wait_all(0, (uint64_t[]){10, 11}, 2, false);
    wait_all(2, (uint64_t[]){20}, 1, false);
    assert_int_equal(take(1, 0), 0);
    assert_string_equal(drain(2, 0), "20");
    assert_string_equal(drain(0, 0), "10,11");
    /* departments out of range are refused, not written past */
    dispatch_item_t item;
    assert_int_equal(dispatch_wait(g_d, NDEPTS, 1, false), -1);
    assert_int_equal(dispatch_wait(g_d, -1, 1, false), -1);
    assert_int_equal(dispatch_orphan(g_d, NDEPTS, 1, 0), -1);
    assert_false(dispatch_take(g_d, NDEPTS, 0, &item));
    assert_false(dispatch_take(g_d, -1, 0, &item));
    assert_int_equal(dispatch_waiting(g_d, NDEPTS), 0);
    assert_int_equal(dispatch_waiting(g_d, -1), 0);
}

/* Random pushes at both ends and takes, through several growths of the ring
 * while its head is not at 0, against a reference deque. */
static void queue_matches_reference(void **state)
{
    (void)state;
    enum { OPS = 20000, CAP = 2 * OPS + 1 };
    static uint64_t ref[CAP];
    size_t head = OPS, tail = OPS;            /* ref[head..tail) is the queue */
    uint64_t next = 1;
    for (int op = 0; op < OPS; op++) {
        size_t r = rnd_below(10);
        if (r < 4) {
            ref[--head] = next;
            assert_int_equal(dispatch_wait(g_d, 2, next++, true), 0);
        } else if (r < 8) {
            ref[tail++] = next;
            assert_int_equal(dispatch_wait(g_d, 2, next++, false), 0);
        } else if (head < tail) {
            assert_int_equal(take(2, 0), ref[head++]);
        }
        assert_int_equal(dispatch_waiting(g_d, 2), tail - head);
    }
    while (head < tail)
        assert_int_equal(take(2, 0), ref[head++]);
    assert_int_equal(take(2, 0), 0);
}

static void waiting_counts(void **state)
{
    (void)state;
    assert_int_equal(dispatch_waiting_total(g_d), 0);
    wait_all(0, (uint64_t[]){1, 2, 3}, 3, false);
    wait_all(1, (uint64_t[]){4}, 1, true);
    assert_int_equal(dispatch_orphan(g_d, 1, 5, 100), 0);
    assert_int_equal(dispatch_orphan(g_d, 2, 6, 100), 0);
    assert_int_equal(dispatch_waiting(g_d, 0), 3);
    assert_int_equal(dispatch_waiting(g_d, 1), 2);
    assert_int_equal(dispatch_waiting(g_d, 2), 1);
    assert_int_equal(dispatch_waiting_total(g_d), 6);
    assert_int_equal(take(1, 200), 5);
    assert_int_equal(take(0, 0), 1);
    assert_int_equal(dispatch_waiting(g_d, 1), 1);
    assert_int_equal(dispatch_waiting_total(g_d), 4);
    assert_int_equal(dispatch_held(g_d), 0);    /* taking is not holding */
}

/* ---- orphans --------------------------------------------------------- */

/* When the first orphan of dept died, or -1 when it has none. */
static int64_t orphan_since(int dept)
{
    int64_t since = -1;
    return dispatch_orphan_since(g_d, dept, &since) ? since : -1;
}

static void orphans_only_after_death(void **state)
{
    (void)state;
    assert_int_equal(orphan_since(0), -1);
    assert_int_equal(dispatch_orphan(g_d, 0, 7, 1000), 0);
    assert_int_equal(dispatch_orphan(g_d, 0, 8, 2000), 0);
    assert_int_equal(orphan_since(0), 1000);
    assert_int_equal(orphan_since(1), -1);
    assert_int_equal(orphan_since(NDEPTS), -1);
    assert_int_equal(orphan_since(-1), -1);
    /* a colleague registered before (or at) the death never gets them */
    assert_int_equal(take(0, 500), 0);
    assert_int_equal(take(0, 1000), 0);
    assert_int_equal(dispatch_waiting(g_d, 0), 2);
    /* ready work still flows to that colleague, orphans stay */
    wait_all(0, (uint64_t[]){30}, 1, false);
    assert_int_equal(take(0, 1000), 30);
    /* a worker registered after the first death gets only the first orphan */
    assert_int_equal(take(0, 1001), 7);
    assert_int_equal(take(0, 1001), 0);
    assert_int_equal(orphan_since(0), 2000);
    /* orphans go before ready work to a worker that may take them */
    wait_all(0, (uint64_t[]){31}, 1, false);
    assert_int_equal(take(0, 2001), 8);
    assert_int_equal(take(0, 2001), 31);
    assert_int_equal(dispatch_waiting(g_d, 0), 0);
    assert_int_equal(orphan_since(0), -1);
}

/* A death noticed late (a liveness timeout for an older silence) queues its
 * work by when the holder fell silent, ahead of a later DISCONNECT's: the
 * adapter that restarted in between gets it. */
static void orphans_in_order_of_silence(void **state)
{
    (void)state;
    assert_int_equal(dispatch_orphan(g_d, 0, 40, 210), 0);     /* B disconnected at 210 */
    assert_int_equal(dispatch_orphan(g_d, 0, 41, 100), 0);     /* A silent since 100 */
    assert_int_equal(dispatch_orphan(g_d, 0, 42, 100), 0);
    assert_int_equal(dispatch_orphan(g_d, 0, 43, 300), 0);
    assert_int_equal(orphan_since(0), 100);
    assert_string_equal(drain(0, 150), "41,42");                /* A restarted at 150 */
    assert_int_equal(orphan_since(0), 210);
    assert_string_equal(drain(0, 400), "40,43");
}

/* An assignment that could not be delivered goes back where it came from:
 * an orphan stays an orphan, out of a colleague's reach. */
static void putback_keeps_the_queue(void **state)
{
    (void)state;
    dispatch_item_t item;
    assert_int_equal(dispatch_orphan(g_d, 0, 50, 1000), 0);
    wait_all(0, (uint64_t[]){51}, 1, false);
    assert_true(dispatch_take(g_d, 0, 2000, &item));
    assert_true(item.orphan && item.asg == 50 && item.since == 1000);
    assert_int_equal(dispatch_putback(g_d, 0, &item), 0);
    assert_int_equal(take(0, 500), 51);                         /* a colleague: ready work only */
    assert_int_equal(take(0, 500), 0);
    assert_true(dispatch_take(g_d, 0, 2000, &item));
    assert_true(item.orphan && item.asg == 50);
    wait_all(0, (uint64_t[]){52, 53}, 2, false);
    assert_true(dispatch_take(g_d, 0, 0, &item));
    assert_true(!item.orphan && item.asg == 52);
    assert_int_equal(dispatch_putback(g_d, 0, &item), 0);
    assert_string_equal(drain(0, 0), "52,53");                  /* first in line again */
    /* one dead holder's orphans share their `since`: back first among them */
    for (uint64_t a = 60; a <= 62; a++)
        assert_int_equal(dispatch_orphan(g_d, 0, a, 3000), 0);
    assert_true(dispatch_take(g_d, 0, 4000, &item));
    assert_int_equal(dispatch_putback(g_d, 0, &item), 0);
    assert_string_equal(drain(0, 4000), "60,61,62");
}

/* ---- bindings -------------------------------------------------------- */

/* Every department's orphans with their death times, sorted by assignment
 * id: what a reload's rebuilt queues take over (broker.c, requeue_build). */
static void orphans_listed_with_their_times(void **state)
{
    (void)state;
    assert_int_equal(dispatch_orphan(g_d, 2, 70, 300), 0);
    assert_int_equal(dispatch_orphan(g_d, 0, 72, 100), 0);
    assert_int_equal(dispatch_orphan(g_d, 2, 71, 200), 0);
    wait_all(1, (uint64_t[]){69}, 1, false);    /* a ready one is no orphan */
    dispatch_orphan_t *v;
    assert_int_equal(dispatch_orphans(g_d, &v), 3);
    assert_int_equal(v[0].asg, 70), assert_int_equal(v[0].since, 300);
    assert_int_equal(v[1].asg, 71), assert_int_equal(v[1].since, 200);
    assert_int_equal(v[2].asg, 72), assert_int_equal(v[2].since, 100);
    dispatch_orphan_t key = {.asg = 71};
    dispatch_orphan_t *o = bsearch(&key, v, 3, sizeof key, dispatch_orphan_cmp);
    assert_non_null(o);
    assert_int_equal(o->since, 200);
    free(v);
    dispatch_t *none = dispatch_new(1);
    assert_int_equal(dispatch_orphans(none, &v), 0);
    free(v);
    dispatch_destroy(&none);
}

static void bind_unbind_inflight(void **state)
{
    (void)state;
    session_t a = worker(0, 0), b = worker(0, 0);
    assert_int_equal(dispatch_bind(g_d, 1, &a, 0), 0);
    assert_int_equal(dispatch_bind(g_d, 2, &a, 0), 0);
    assert_int_equal(dispatch_bind(g_d, 3, &b, 0), 0);
    assert_int_equal(a.inflight, 2);
    assert_int_equal(b.inflight, 1);
    assert_int_equal(dispatch_held(g_d), 3);
    assert_ptr_equal(dispatch_holder(g_d, 1), &a);
    assert_ptr_equal(dispatch_holder(g_d, 3), &b);
    assert_null(dispatch_holder(g_d, 4));

    assert_ptr_equal(dispatch_unbind(g_d, 1), &a);
    assert_int_equal(a.inflight, 1);
    assert_null(dispatch_holder(g_d, 1));
    assert_null(dispatch_unbind(g_d, 1));       /* twice: nothing more */
    assert_int_equal(a.inflight, 1);
    assert_int_equal(dispatch_held(g_d), 2);

    /* binding a held assignment to another worker moves the credit */
    assert_int_equal(dispatch_bind(g_d, 2, &b, 0), 0);
    assert_int_equal(a.inflight, 0);
    assert_int_equal(b.inflight, 2);
    assert_ptr_equal(dispatch_holder(g_d, 2), &b);
    assert_int_equal(dispatch_held(g_d), 2);
    /* and to the same worker again changes nothing */
    assert_int_equal(dispatch_bind(g_d, 2, &b, 0), 0);
    assert_int_equal(b.inflight, 2);
    assert_int_equal(dispatch_held(g_d), 2);
}

static void release_requeues(void **state)
{
    (void)state;
    session_t dead = worker(1, 100), other = worker(1, 100);
    wait_all(1, (uint64_t[]){99}, 1, false);
    for (uint64_t asg = 10; asg <= 13; asg++)
        assert_int_equal(dispatch_bind(g_d, asg, &dead, 0), 0);
    assert_int_equal(dispatch_bind(g_d, 20, &other, 0), 0);
    assert_true(dispatch_mark_accepted(g_d, 11));
    assert_false(dispatch_mark_accepted(g_d, 11));      /* already marked: no change */
    assert_true(dispatch_mark_accepted(g_d, 12));
    dispatch_unmark_accepted(g_d, 12);                  /* a rolled-back pass's mark */
    assert_true(dispatch_mark_accepted(g_d, 13));
    assert_false(dispatch_mark_accepted(g_d, 404));     /* not held: ignored */

    assert_int_equal(dispatch_release(g_d, &dead, 5000), 4);
    assert_int_equal(dead.inflight, 0);
    assert_int_equal(dispatch_held(g_d), 1);
    for (uint64_t asg = 10; asg <= 13; asg++)
        assert_null(dispatch_holder(g_d, asg));
    assert_ptr_equal(dispatch_holder(g_d, 20), &other);
    assert_int_equal(other.inflight, 1);
    assert_int_equal(dispatch_waiting(g_d, 1), 5);
    assert_int_equal(orphan_since(1), 5000);

    /* the colleague gets the unaccepted ones first, then the queue; the
     * accepted ones wait for a worker registered after the death */
    uint64_t first = take(1, 100), second = take(1, 100);
    assert_true((first == 10 && second == 12) || (first == 12 && second == 10));
    assert_int_equal(take(1, 100), 99);
    assert_int_equal(take(1, 5000), 0);
    uint64_t o1 = take(1, 5001), o2 = take(1, 5001);
    assert_true((o1 == 11 && o2 == 13) || (o1 == 13 && o2 == 11));
    assert_int_equal(dispatch_waiting_total(g_d), 0);
}

/* A session's inflight is a count kept beside the bindings: when it says
 * less than the session holds, release still finds every binding, so none
 * is left pointing at a session about to be freed. */
static void release_finds_more_than_inflight(void **state)
{
    (void)state;
    session_t dead = worker(1, 100);
    for (uint64_t asg = 1; asg <= 200; asg++)
        assert_int_equal(dispatch_bind(g_d, asg, &dead, 0), 0);
    dead.inflight = 1;
    assert_int_equal(dispatch_release(g_d, &dead, 50), 200);
    assert_int_equal(dispatch_held(g_d), 0);
    for (uint64_t asg = 1; asg <= 200; asg++)
        assert_null(dispatch_holder(g_d, asg));
    assert_int_equal(dispatch_waiting(g_d, 1), 200);
}

/* A rebound assignment is no longer accepted: it goes back as ready work. */
static void rebind_forgets_accepted(void **state)
{
    (void)state;
    session_t a = worker(0, 0), b = worker(0, 0);
    assert_int_equal(dispatch_bind(g_d, 1, &a, 0), 0);
    dispatch_mark_accepted(g_d, 1);
    assert_int_equal(dispatch_bind(g_d, 1, &b, 0), 0);
    assert_int_equal(dispatch_release(g_d, &b, 50), 1);
    assert_int_equal(take(0, 0), 1);
}

static void release_of_idle_worker(void **state)
{
    (void)state;
    session_t a = worker(2, 0), b = worker(2, 0);
    assert_int_equal(dispatch_bind(g_d, 1, &b, 0), 0);
    assert_int_equal(dispatch_release(g_d, &a, 10), 0);
    assert_int_equal(a.inflight, 0);
    assert_int_equal(dispatch_waiting(g_d, 2), 0);
    assert_ptr_equal(dispatch_holder(g_d, 1), &b);
}

/* ---- the holder map against a reference array ------------------------ */

enum { NKEYS = 50000, NSESS = 7 };

typedef struct {
    uint64_t key[NKEYS];
    int holder[NKEYS];              /* index into sess, -1 when not held */
    session_t sess[NSESS];
    size_t nheld;
} ref_t;

static ref_t g_ref;                 /* static: no leak when an assertion fails */

/* Keys: half dense (1, 2, 3, ...), half spread over 64 bits, all distinct. */
static void ref_init(ref_t *r)
{
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < NKEYS; i++) {
        r->key[i] = i % 2 ? (uint64_t)i + 1 : (rnd() | 1) << 20 | (uint64_t)i;
        r->holder[i] = -1;
    }
    for (int s = 0; s < NSESS; s++)
        r->sess[s] = worker(s % NDEPTS, 0);
}

static void ref_bind(ref_t *r, size_t i, int s)
{
    assert_int_equal(dispatch_bind(g_d, r->key[i], &r->sess[s], 0), 0);
    r->nheld += r->holder[i] < 0;
    r->holder[i] = s;
}

static void ref_unbind(ref_t *r, size_t i)
{
    session_t *want = r->holder[i] < 0 ? NULL : &r->sess[r->holder[i]];
    assert_ptr_equal(dispatch_unbind(g_d, r->key[i]), want);
    r->nheld -= r->holder[i] >= 0;
    r->holder[i] = -1;
}

/* Every key's holder, every session's inflight and the count agree. */
static void ref_check(const ref_t *r)
{
    uint32_t inflight[NSESS] = {0};
    assert_int_equal(dispatch_held(g_d), r->nheld);
    for (size_t i = 0; i < NKEYS; i++) {
        const session_t *want = r->holder[i] < 0 ? NULL : &r->sess[r->holder[i]];
        if (dispatch_holder(g_d, r->key[i]) != want)
            fail_msg("key #%zu (%llu): wrong holder", i, (unsigned long long)r->key[i]);
        if (r->holder[i] >= 0)
            inflight[r->holder[i]]++;
    }
    for (int s = 0; s < NSESS; s++)
        assert_int_equal(r->sess[s].inflight, inflight[s]);
}

/* One random step on keys [0, nkeys): a held key is unbound or moved to
 * another worker, a free one is bound while fewer than `target` are held.
 * With nkeys = 2 * target the count settles at target. */
static void ref_step(ref_t *r, size_t nkeys, size_t target)
{
    size_t i = rnd_below(nkeys);
    if (r->holder[i] >= 0 && rnd_below(2))
        ref_unbind(r, i);
    else if (r->holder[i] >= 0 || r->nheld < target)
        ref_bind(r, i, (int)rnd_below(NSESS));
}

/* The map starts at 1024 slots and doubles past 3/4 full. Holding the count
 * just under each threshold in turn keeps it ~70% full at every size, where
 * probe runs are long and often wrap around the end of the table, which is
 * what backward-shift deletion must get right. */
static void holder_map_random(void **state)
{
    (void)state;
    static const size_t targets[] = {700, 1500, 3000, 6000, 12000, 24000};
    ref_t *r = &g_ref;
    ref_init(r);
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        for (size_t op = 1; op <= 30000 + 4 * targets[t]; op++) {
            ref_step(r, 2 * targets[t], targets[t]);
            if (op % 5000 == 0)
                ref_check(r);
        }
        assert_true(r->nheld > targets[t] * 8 / 10);
    }
    /* then hold every key, and free them all in random order */
    for (size_t i = 0; i < NKEYS; i++)
        if (r->holder[i] < 0)
            ref_bind(r, i, (int)rnd_below(NSESS));
    ref_check(r);
    static size_t order[NKEYS];
    for (size_t i = 0; i < NKEYS; i++)
        order[i] = i;
    for (size_t i = NKEYS - 1; i > 0; i--) {
        size_t j = rnd_below(i + 1), x = order[i];
        order[i] = order[j], order[j] = x;
    }
    for (size_t k = 0; k < NKEYS; k++) {
        ref_unbind(r, order[k]);
        if (k % 5000 == 0)
            ref_check(r);
    }
    ref_check(r);
    assert_int_equal(dispatch_held(g_d), 0);
}

/* Release a worker that holds thousands among others' bindings: every one of
 * its assignments is requeued, nobody else's moves. */
static void release_many(void **state)
{
    (void)state;
    ref_t *r = &g_ref;
    ref_init(r);
    for (size_t i = 0; i < 20000; i++)
        ref_bind(r, i, (int)rnd_below(NSESS));
    size_t mine = r->sess[3].inflight;
    assert_int_equal(dispatch_release(g_d, &r->sess[3], 1), mine);
    for (size_t i = 0; i < NKEYS; i++)
        if (r->holder[i] == 3)
            r->holder[i] = -1, r->nheld--;
    ref_check(r);
    assert_int_equal(dispatch_waiting(g_d, r->sess[3].dept), mine);
}

/* An assignment that could not be queued is remembered, so that the broker
 * rebuilds the queues from the database rather than leave it waiting for no
 * worker; ordinary use never raises the flag. */
static void a_failed_insert_is_remembered(void **state)
{
    (void)state;
    wait_all(0, (uint64_t[]){1, 2, 3}, 3, false);
    assert_int_equal(dispatch_orphan(g_d, 1, 4, 10), 0);
    dispatch_item_t item;
    assert_true(dispatch_take(g_d, 0, 0, &item));
    assert_int_equal(dispatch_putback(g_d, 0, &item), 0);
    session_t w = worker(0, 0);
    assert_int_equal(dispatch_bind(g_d, 5, &w, 0), 0);
    dispatch_release(g_d, &w, 20);
    assert_false(dispatch_lost(g_d));
    assert_int_equal(dispatch_wait(g_d, NDEPTS, 6, false), -1);     /* no such queue */
    assert_true(dispatch_lost(g_d));
}

/* The census counts, per session, the held assignments not yet taken up,
 * and finds the oldest: an ACCEPT (mark) takes one off, a rolled-back one
 * puts it back, a hand-over moves it, and a session holding nothing counts
 * 0, not its last count. */
static void census_counts_unaccepted(void **state)
{
    (void)state;
    sessions_t *ss = sessions_new();
    assert_non_null(ss);
    session_t *a = sessions_add(ss, "a", 1), *b = sessions_add(ss, "b", 1);
    a->dept = b->dept = 0;
    int64_t at[] = {0, 500, 300, 400, 700, 600};
    for (uint64_t asg = 1; asg <= 5; asg++)
        assert_int_equal(dispatch_bind(g_d, asg, asg <= 3 ? a : b, at[asg]), 0);
    assert_int_equal(dispatch_bound_at(g_d, 2), 300);
    assert_int_equal(dispatch_bound_at(g_d, 99), 0);
    b->unaccepted = 99;             /* a stale count is overwritten */
    dispatch_census(g_d, ss);
    assert_int_equal(a->unaccepted, 3);
    assert_int_equal(a->oldest_asg, 2);
    assert_int_equal(a->oldest_at, 300);
    assert_int_equal(b->unaccepted, 2);
    assert_int_equal(b->oldest_asg, 5);
    assert_true(dispatch_mark_accepted(g_d, 2));    /* the oldest taken up */
    assert_true(dispatch_mark_accepted(g_d, 4));
    dispatch_census(g_d, ss);
    assert_int_equal(a->unaccepted, 2);
    assert_int_equal(a->oldest_asg, 3);
    assert_int_equal(a->oldest_at, 400);
    assert_int_equal(b->unaccepted, 1);
    dispatch_unmark_accepted(g_d, 4);
    assert_int_equal(dispatch_bind(g_d, 1, b, 800), 0);    /* b's late ACCEPT takes it over */
    dispatch_census(g_d, ss);
    assert_int_equal(a->unaccepted, 1);
    assert_int_equal(b->unaccepted, 3);
    assert_int_equal(b->oldest_asg, 5);
    dispatch_release(g_d, b, 10);
    dispatch_census(g_d, ss);
    assert_int_equal(b->unaccepted, 0);
    for (size_t i = 0; i < sessions_count(ss);)
        dispatch_release(g_d, sessions_at(ss, i), 10), sessions_remove(ss, sessions_at(ss, i));
    sessions_destroy(&ss);
}

/* A worker is late once its oldest unaccepted case has waited `within` ms,
 * whatever else it reports; said once, ended when none waits that long,
 * not begun again within `within` of that end; 0 is off. */
static void stall_rules(void **state)
{
    (void)state;
    session_t s = worker(0, 1);
    assert_int_equal(stall_update(&s, 50000, 600), STALL_SAME);    /* nothing held */
    s.unaccepted = 2, s.oldest_at = 60000;
    assert_int_equal(stall_oldest(&s, 60599), 599);
    assert_int_equal(stall_update(&s, 60599, 600), STALL_SAME);
    assert_int_equal(stall_update(&s, 60600, 600), STALL_BEGAN);
    assert_int_equal(stall_update(&s, 90000, 600), STALL_SAME);    /* said once */
    s.oldest_at = 89800;                                             /* the oldest accepted */
    assert_int_equal(stall_update(&s, 90000, 600), STALL_ENDED);
    assert_int_equal(stall_update(&s, 90400, 600), STALL_SAME);    /* late again, but just ended */
    assert_int_equal(stall_update(&s, 90599, 600), STALL_SAME);
    assert_int_equal(stall_update(&s, 90600, 600), STALL_BEGAN);
    s.unaccepted = 0;                                                /* it let go */
    assert_int_equal(stall_oldest(&s, 99999), 0);
    assert_int_equal(stall_update(&s, 91000, 600), STALL_ENDED);
    s.unaccepted = 1, s.oldest_at = 100000;
    assert_int_equal(stall_update(&s, 999999, 0), STALL_SAME);      /* off */
    stall_forget(&s);                                                /* a re-registration */
    assert_int_equal(stall_update(&s, 999999, 600), STALL_BEGAN);
    stall_forget(&s);
    assert_int_equal(s.late, false);
    assert_int_equal(stall_update(&s, 999999, 600), STALL_BEGAN);   /* begins again at once */
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(fifo_order),
        T(front_insertion),
        T(departments_apart),
        T(queue_matches_reference),
        T(waiting_counts),
        T(orphans_only_after_death),
        T(orphans_in_order_of_silence),
        T(putback_keeps_the_queue),
        T(orphans_listed_with_their_times),
        T(bind_unbind_inflight),
        T(release_requeues),
        T(release_finds_more_than_inflight),
        T(rebind_forgets_accepted),
        T(release_of_idle_worker),
        T(holder_map_random),
        T(release_many),
        T(a_failed_insert_is_remembered),
        T(census_counts_unaccepted),
        T(stall_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
