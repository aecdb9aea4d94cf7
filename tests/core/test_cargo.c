/*
 * Unit tests of the cargo API and of waking, on connectors built by hand
 * around private storage: no launcher, no threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conn_pair.h"

enum { NODES = 4, MAX = 100 };

static int setup(void **state)
{
    struct ea_test_pair *f = aligned_alloc(64, sizeof *f);
    assert_non_null(f);
    ea_test_pair_init(f, NODES, MAX, "ch");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct ea_test_pair *f = *state;
    ea_test_pair_fini(f);
    free(f);
    return 0;
}

static void test_round_trip(void **state)
{
    struct ea_test_pair *f = *state;
    ea_cargo_t m, r;
    assert_int_equal(ea_cargo_alloc(&f->ca, 5, &m), EA_OK);
    assert_int_equal(m.len, 5);
    assert_int_equal(m.cap, MAX);
    memcpy(m.data, "hello", 5);
    assert_int_equal(ea_cargo_send(&m), EA_OK);
    /* The sender's stats count it, and b was queued on its worker once. */
    assert_int_equal(f->rec[0].sent, 1);
    assert_int_equal(f->rec[0].sent_bytes, 5);
    uint32_t id;
    assert_int_equal(ea_mbox_try_pop(&f->ready, &id), EA_OK);
    assert_int_equal(id, 1);
    assert_int_equal(ea_cargo_recv(&f->cb, &r), EA_OK);
    assert_int_equal(r.len, 5);
    assert_memory_equal(r.data, "hello", 5);
    assert_int_equal(f->rec[1].recv, 1);
    ea_cargo_release(&r);
    assert_int_equal(ea_cargo_recv(&f->cb, &r), EA_ERR_EMPTY);
    assert_int_equal(ea_pool_free_count(&f->ca.pool), NODES);
}

static void test_wake_once(void **state)
{
    struct ea_test_pair *f = *state;
    for (int i = 0; i < 3; i++) {
        ea_cargo_t m;
        assert_int_equal(ea_cargo_alloc(&f->ca, 1, &m), EA_OK);
        assert_int_equal(ea_cargo_send(&m), EA_OK);
    }
    /* Three sends, one entry in the ready queue: an actor is queued once. */
    uint32_t id;
    assert_int_equal(ea_mbox_try_pop(&f->ready, &id), EA_OK);
    assert_int_equal(ea_mbox_try_pop(&f->ready, &id), EA_ERR_EMPTY);
    assert_int_equal(f->rec[1].queued, 1);
    /* A parked worker is flipped to running by the next wake-up. */
    f->rec[1].queued = 0;
    f->wk.state = EAI_W_PARKED;
    ea_cargo_t m;
    assert_int_equal(ea_cargo_alloc(&f->ca, 1, &m), EA_OK);
    assert_int_equal(ea_cargo_send(&m), EA_OK);
    assert_int_equal(f->wk.state, EAI_W_RUNNING);
}

static void test_back_pressure(void **state)
{
    struct ea_test_pair *f = *state;
    ea_cargo_t m[NODES + 1];
    for (int i = 0; i < NODES; i++)
        assert_int_equal(ea_cargo_alloc(&f->ca, 8, &m[i]), EA_OK);
    /* The pool is the channel's limit: the fifth allocation is refused. */
    assert_int_equal(ea_cargo_alloc(&f->ca, 8, &m[NODES]), EA_ERR_NOBUFS);
    for (int i = 0; i < NODES; i++)
        assert_int_equal(ea_cargo_send(&m[i]), EA_OK);
    /* Nothing was dropped: all four arrive in order. */
    for (int i = 0; i < NODES; i++) {
        ea_cargo_t r;
        assert_int_equal(ea_cargo_recv(&f->cb, &r), EA_OK);
        ea_cargo_release(&r);
    }
    assert_int_equal(ea_pool_free_count(&f->ca.pool), NODES);
}

static void test_full_mbox_keeps_cargo(void **state)
{
    struct ea_test_pair *f = *state;
    /* Fill b's mbox with foreign entries, then a send must fail with FULL
     * and leave the cargo with the caller. */
    uint32_t v = 0;
    while (ea_mbox_try_push(&f->ca.out, v) == EA_OK)
        v++;
    ea_cargo_t m;
    assert_int_equal(ea_cargo_alloc(&f->ca, 3, &m), EA_OK);
    assert_int_equal(ea_cargo_send(&m), EA_ERR_FULL);
    assert_non_null(m.conn);
    ea_cargo_release(&m);
    assert_null(m.conn);
}

static void test_too_big(void **state)
{
    struct ea_test_pair *f = *state;
    ea_cargo_t m;
    assert_int_equal(ea_cargo_alloc(&f->ca, MAX + 1, &m), EA_ERR_TOOBIG);
    assert_int_equal(ea_cargo_alloc(&f->ca, MAX, &m), EA_OK);
    m.len = MAX + 1;
    assert_int_equal(ea_cargo_send(&m), EA_ERR_TOOBIG);
    ea_cargo_release(&m);
    /* Sending twice, or a cargo never allocated, is refused. */
    ea_cargo_t z;
    memset(&z, 0, sizeof z);
    assert_int_equal(ea_cargo_send(&z), EA_ERR_INVAL);
}

static void test_bad_index_fails_channel(void **state)
{
    struct ea_test_pair *f = *state;
    /* A hostile writer pushes a node index past the pool. */
    assert_int_equal(ea_mbox_try_push(&f->cb.in, NODES + 7), EA_OK);
    ea_cargo_t r;
    assert_int_equal(ea_cargo_recv(&f->cb, &r), EA_ERR_CORRUPT);
    /* Sticky: every later call reports the failure. */
    assert_int_equal(ea_cargo_recv(&f->cb, &r), EA_ERR_FAILED);
    assert_int_equal(ea_cargo_alloc(&f->cb, 1, &r), EA_ERR_FAILED);
    assert_int_equal(f->rec[1].errors, 1);
}

static void test_bad_length_fails_channel(void **state)
{
    struct ea_test_pair *f = *state;
    ea_cargo_t m;
    assert_int_equal(ea_cargo_alloc(&f->ca, 4, &m), EA_OK);
    assert_int_equal(ea_cargo_send(&m), EA_OK);
    /* The host rewrites the length in the node header after the send. */
    uint32_t idx;
    assert_int_equal(ea_mbox_try_pop(&f->cb.in, &idx), EA_OK);
    ea_node_hdr_t *h = ea_pool_node(&f->ca.pool, idx);
    h->len = MAX + 1;
    assert_int_equal(ea_mbox_try_push(&f->cb.in, idx), EA_OK);
    ea_cargo_t r;
    assert_int_equal(ea_cargo_recv(&f->cb, &r), EA_ERR_CORRUPT);
    assert_int_equal(ea_cargo_recv(&f->cb, &r), EA_ERR_FAILED);
    /* The node went back to the pool: nothing leaked. */
    assert_int_equal(ea_pool_free_count(&f->ca.pool), NODES);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(ea_strerror(EA_OK), "ok");
    assert_string_equal(ea_strerror(EA_ERR_NOBUFS), "no free node in pool");
    assert_string_equal(ea_strerror(EA_ERR_ACTOR), "actor failure");
    assert_string_equal(ea_strerror(-999), "unknown error");
    assert_string_equal(ea_strerror(5), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wake_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_back_pressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_mbox_keeps_cargo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_index_fails_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_length_fails_channel, setup, teardown),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
