/*
 * Hostile shared storage: a peer that shares the storage of a pool or an
 * mbox may write anything into it at any time. Every call must then return
 * an error or an in-range value, never touch memory outside the storage and
 * never loop for ever. Out-of-bounds accesses are caught by running these
 * tests under ASan; endless loops by the CTest timeout.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <eactors/ea_queue.h>

#include "queue/queue_internal.h"

enum { POOL_COUNT = 16, MBOX_CAP = 8 };

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: good enough to make garbage. */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

/* A 32-bit value that is often interesting: in range, just out of range,
 * EA_NIL, or anything. */
static uint32_t nasty_index(uint64_t *s, uint32_t count)
{
    uint64_t r = rng_next(s);
    switch (r & 7) {
    case 0: return EA_NIL;
    case 1: return count;
    case 2: return count + (uint32_t)(r >> 40);
    case 3: return EA_NIL - 1;
    case 4:
    case 5: return (uint32_t)(r >> 32) % count;
    default: return (uint32_t)(r >> 32);
    }
}

static void *alloc_zero(size_t size)
{
    void *mem = aligned_alloc(64, size);
    assert_non_null(mem);
    memset(mem, 0, size);
    return mem;
}

/* Writes garbage over the pool's control block and links (not the nodes:
 * their contents are opaque to the pool). Atomic stores, so that the
 * concurrent hostile writer below is itself race-free C. */
static void corrupt_pool(ea_pool_t *p, uint64_t *s)
{
    uint64_t r = rng_next(s);
    uint64_t head = (r & 1) ? rng_next(s) : ((r & 0xffffffff00000000u) | nasty_index(s, p->count));
    atomic_store_explicit(&p->ctl->head, head, memory_order_relaxed);
    for (uint32_t i = 0; i < p->count; i++) {
        uint32_t v = (rng_next(s) & 1) ? nasty_index(s, p->count) : (uint32_t)rng_next(s);
        atomic_store_explicit((_Atomic uint32_t *)&p->next[i], v, memory_order_relaxed);
    }
}

static void check_pool_calls(ea_pool_t *p, uint64_t *s, int ops)
{
    uint32_t held[64];
    int nheld = 0;
    for (int op = 0; op < ops; op++) {
        uint64_t r = rng_next(s);
        if ((r & 3) == 0 && nheld < 64) {
            uint32_t idx = EA_NIL;
            int rc = ea_pool_get(p, &idx);
            if (rc == EA_OK) {
                assert_true(idx < p->count);
                assert_non_null(ea_pool_node(p, idx));
                held[nheld++] = idx;
            } else {
                assert_true(rc == EA_ERR_NOBUFS || rc == EA_ERR_CORRUPT || rc == EA_ERR_BUSY);
            }
        } else if ((r & 3) == 1) {
            uint32_t idx = nheld > 0 && (r & 4) ? held[--nheld] : nasty_index(s, p->count);
            int rc = ea_pool_put(p, idx);
            if (idx < p->count)
                assert_true(rc == EA_OK || rc == EA_ERR_BUSY);
            else
                assert_int_equal(rc, EA_ERR_INVAL);
        } else if ((r & 3) == 2) {
            uint32_t n = ea_pool_free_count(p);
            assert_true(n <= p->count || n == EA_NIL);
        } else {
            corrupt_pool(p, s);
        }
    }
}

static void test_pool_garbage(void **state)
{
    (void)state;
    size_t size = ea_pool_footprint(POOL_COUNT, 64);
    uint8_t *mem = alloc_zero(size);
    ea_pool_t p;
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (int round = 0; round < 200; round++) {
        assert_int_equal(ea_pool_init(&p, mem, POOL_COUNT, 64), EA_OK);
        if (round % 2 == 0) {
            /* Raw random bytes over control block and links. */
            for (uint8_t *b = mem; b < p.nodes; b++)
                *b = (uint8_t)rng_next(&s);
        } else {
            corrupt_pool(&p, &s);
        }
        check_pool_calls(&p, &s, 500);
    }
    free(mem);
}

static void test_pool_specific(void **state)
{
    (void)state;
    size_t size = ea_pool_footprint(POOL_COUNT, 64);
    void *mem = alloc_zero(size);
    ea_pool_t p;
    uint32_t idx;

    /* Head index out of range. */
    const uint32_t bad[] = {POOL_COUNT, POOL_COUNT + 1, 0x7fffffff, EA_NIL - 1};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_int_equal(ea_pool_init(&p, mem, POOL_COUNT, 64), EA_OK);
        atomic_store(&p.ctl->head, (UINT64_C(7) << 32) | bad[k]);
        assert_int_equal(ea_pool_get(&p, &idx), EA_ERR_CORRUPT);
        assert_int_equal(ea_pool_free_count(&p), EA_NIL);
        /* A put links behind the bad index; the get after it sees the bad
         * link before taking anything and reports the corruption. */
        assert_int_equal(ea_pool_put(&p, 3), EA_OK);
        assert_int_equal(ea_pool_get(&p, &idx), EA_ERR_CORRUPT);
    }

    /* A link out of range: the node before it cannot be taken. */
    assert_int_equal(ea_pool_init(&p, mem, POOL_COUNT, 64), EA_OK);
    atomic_store((_Atomic uint32_t *)&p.next[0], POOL_COUNT + 3);
    assert_int_equal(ea_pool_get(&p, &idx), EA_ERR_CORRUPT);
    assert_int_equal(ea_pool_free_count(&p), EA_NIL);

    /* A link out of range further down: the walk stops at it. */
    assert_int_equal(ea_pool_init(&p, mem, POOL_COUNT, 64), EA_OK);
    atomic_store((_Atomic uint32_t *)&p.next[5], EA_NIL - 7);
    assert_int_equal(ea_pool_free_count(&p), EA_NIL);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ea_pool_get(&p, &idx), EA_OK);
        assert_int_equal(idx, i);
    }
    assert_int_equal(ea_pool_get(&p, &idx), EA_ERR_CORRUPT);

    /* A cycle 0 -> 1 -> 2 -> 0: free_count detects it; gets keep returning
     * in-range (duplicate) indices, each in bounded time. */
    assert_int_equal(ea_pool_init(&p, mem, POOL_COUNT, 64), EA_OK);
    atomic_store((_Atomic uint32_t *)&p.next[2], 0);
    assert_int_equal(ea_pool_free_count(&p), EA_NIL);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(ea_pool_get(&p, &idx), EA_OK);
        assert_int_equal(idx, (uint32_t)(i % 3));
    }

    /* A self-loop. */
    assert_int_equal(ea_pool_init(&p, mem, POOL_COUNT, 64), EA_OK);
    atomic_store((_Atomic uint32_t *)&p.next[0], 0);
    assert_int_equal(ea_pool_free_count(&p), EA_NIL);
    assert_int_equal(ea_pool_get(&p, &idx), EA_OK);
    assert_int_equal(idx, 0);

    /* An emptied pool whose head comes back as EA_NIL with any tag. */
    atomic_store(&p.ctl->head, UINT64_C(0xdeadbeef00000000) | EA_NIL);
    assert_int_equal(ea_pool_get(&p, &idx), EA_ERR_NOBUFS);
    assert_int_equal(ea_pool_free_count(&p), 0);
    free(mem);
}

static void corrupt_mbox(ea_mbox_t *m, uint64_t *s)
{
    uint64_t r = rng_next(s);
    uint32_t cap = m->mask + 1;
    if (r & 1) {
        /* Anything at all. */
        atomic_store(&m->ctl->enq, (uint32_t)rng_next(s));
        atomic_store(&m->ctl->deq, (uint32_t)rng_next(s));
        for (uint32_t i = 0; i < cap; i++) {
            atomic_store(&m->cells[i].seq, (uint32_t)rng_next(s));
            atomic_store(&m->cells[i].value, (uint32_t)rng_next(s));
        }
    } else {
        /* Plausible-looking values near one base, which reach the CAS
         * paths more often than pure noise. */
        uint32_t base = (uint32_t)rng_next(s);
        atomic_store(&m->ctl->enq, base + (uint32_t)(rng_next(s) % (2 * cap)) - cap);
        atomic_store(&m->ctl->deq, base + (uint32_t)(rng_next(s) % (2 * cap)) - cap);
        for (uint32_t i = 0; i < cap; i++)
            atomic_store(&m->cells[i].seq, base + (uint32_t)(rng_next(s) % (4 * cap)) - 2 * cap);
    }
}

static void test_mbox_garbage(void **state)
{
    (void)state;
    size_t size = ea_mbox_footprint(MBOX_CAP);
    uint8_t *mem = alloc_zero(size);
    ea_mbox_t m;
    uint64_t s = 0x2545f4914f6cdd1du;
    int busy = 0;
    /* Few operations: each call that the garbage keeps in its retry loop
     * costs EAI_QUEUE_RETRY_MAX iterations before EA_ERR_BUSY. */
    for (int round = 0; round < 24; round++) {
        assert_int_equal(ea_mbox_init(&m, mem, MBOX_CAP), EA_OK);
        if (round % 3 == 0) {
            for (size_t b = 0; b < size; b++)
                mem[b] = (uint8_t)rng_next(&s);
        } else {
            corrupt_mbox(&m, &s);
        }
        for (int op = 0; op < 8; op++) {
            uint32_t v;
            int rc;
            switch (rng_next(&s) % 3) {
            case 0:
                rc = ea_mbox_try_push(&m, (uint32_t)op);
                assert_true(rc == EA_OK || rc == EA_ERR_FULL || rc == EA_ERR_BUSY);
                busy += rc == EA_ERR_BUSY;
                break;
            case 1:
                rc = ea_mbox_try_pop(&m, &v);
                assert_true(rc == EA_OK || rc == EA_ERR_EMPTY || rc == EA_ERR_BUSY);
                busy += rc == EA_ERR_BUSY;
                break;
            default: (void)ea_mbox_nonempty(&m); break;
            }
        }
    }
    printf("mbox garbage: %d calls ended with EA_ERR_BUSY\n", busy);
    free(mem);
}

static void test_mbox_busy(void **state)
{
    (void)state;
    size_t size = ea_mbox_footprint(MBOX_CAP);
    void *mem = alloc_zero(size);
    ea_mbox_t m;
    uint32_t v;

    /* Every cell claims to be a lap ahead of the position: an honest queue
     * would mean our position is stale, so the call re-reads it for ever
     * unless bounded. */
    assert_int_equal(ea_mbox_init(&m, mem, MBOX_CAP), EA_OK);
    for (uint32_t i = 0; i < MBOX_CAP; i++)
        atomic_store(&m.cells[i].seq, i + 5);
    assert_int_equal(ea_mbox_try_push(&m, 1), EA_ERR_BUSY);
    assert_int_equal(ea_mbox_try_pop(&m, &v), EA_ERR_BUSY);

    /* Cells behind the positions: full and empty. */
    assert_int_equal(ea_mbox_init(&m, mem, MBOX_CAP), EA_OK);
    atomic_store(&m.ctl->enq, 1000);
    atomic_store(&m.ctl->deq, 1000);
    assert_int_equal(ea_mbox_try_push(&m, 1), EA_ERR_FULL);
    assert_int_equal(ea_mbox_try_pop(&m, &v), EA_ERR_EMPTY);
    assert_false(ea_mbox_nonempty(&m));

    /* Positions far apart: indices are masked, so the accesses stay in the
     * cells and the mbox behaves like one with the positions rebased. */
    assert_int_equal(ea_mbox_init(&m, mem, MBOX_CAP), EA_OK);
    atomic_store(&m.ctl->enq, 0x80000000u);
    assert_true(ea_mbox_nonempty(&m));
    assert_int_equal(ea_mbox_try_pop(&m, &v), EA_ERR_EMPTY);
    free(mem);
}

/* A hostile peer rewriting the pool's control block and links while two
 * honest threads use the pool. */
struct hostile_run {
    ea_pool_t pool;
    atomic_int stop;
    uint64_t seed;
};

static void *hostile_writer(void *arg)
{
    struct hostile_run *run = arg;
    uint64_t s = run->seed;
    /* Relaxed: only a stop signal; pthread_join orders everything else. */
    while (!atomic_load_explicit(&run->stop, memory_order_relaxed)) {
        if (rng_next(&s) & 1) {
            corrupt_pool(&run->pool, &s);
        } else {
            uint32_t i = (uint32_t)rng_next(&s) % run->pool.count;
            atomic_store_explicit((_Atomic uint32_t *)&run->pool.next[i],
                                  nasty_index(&s, run->pool.count), memory_order_relaxed);
        }
    }
    return NULL;
}

static void *honest_user(void *arg)
{
    struct hostile_run *run = arg;
    uint64_t s = run->seed ^ (uintptr_t)&s;
    for (int op = 0; op < 20000; op++) {
        uint32_t idx = EA_NIL;
        int rc = ea_pool_get(&run->pool, &idx);
        if (rc == EA_OK) {
            if (idx >= run->pool.count)
                return (void *)1;
            rc = ea_pool_put(&run->pool, idx);
            if (rc != EA_OK && rc != EA_ERR_BUSY)
                return (void *)2;
        } else if (rc != EA_ERR_NOBUFS && rc != EA_ERR_CORRUPT && rc != EA_ERR_BUSY) {
            return (void *)3;
        }
        if ((rng_next(&s) & 15) == 0) {
            uint32_t n = ea_pool_free_count(&run->pool);
            if (n > run->pool.count && n != EA_NIL)
                return (void *)4;
        }
    }
    return NULL;
}

static void test_pool_concurrent_hostile(void **state)
{
    (void)state;
    static struct hostile_run run;
    void *mem = alloc_zero(ea_pool_footprint(POOL_COUNT, 64));
    assert_int_equal(ea_pool_init(&run.pool, mem, POOL_COUNT, 64), EA_OK);
    atomic_init(&run.stop, 0);
    run.seed = 0x1234567;
    pthread_t writer, users[2];
    assert_int_equal(pthread_create(&writer, NULL, hostile_writer, &run), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&users[i], NULL, honest_user, &run), 0);
    for (int i = 0; i < 2; i++) {
        void *res;
        assert_int_equal(pthread_join(users[i], &res), 0);
        assert_null(res);
    }
    atomic_store_explicit(&run.stop, 1, memory_order_relaxed);
    assert_int_equal(pthread_join(writer, NULL), 0);
    free(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_garbage),
        cmocka_unit_test(test_pool_specific),
        cmocka_unit_test(test_mbox_garbage),
        cmocka_unit_test(test_mbox_busy),
        cmocka_unit_test(test_pool_concurrent_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
