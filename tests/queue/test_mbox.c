/* Unit tests of the mbox (src/queue/mbox.c), single-threaded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <eactors/ea_queue.h>

#include "queue/queue_internal.h"

static void *alloc_mbox(uint32_t capacity)
{
    size_t size = ea_mbox_footprint(capacity);
    assert_true(size > 0);
    void *mem = aligned_alloc(64, size);
    assert_non_null(mem);
    memset(mem, 0x5a, size);
    return mem;
}

static void test_capacity_for(void **state)
{
    (void)state;
    assert_int_equal(ea_mbox_capacity_for(0), 2);
    assert_int_equal(ea_mbox_capacity_for(1), 2);
    assert_int_equal(ea_mbox_capacity_for(2), 2);
    assert_int_equal(ea_mbox_capacity_for(3), 4);
    assert_int_equal(ea_mbox_capacity_for(64), 64);
    assert_int_equal(ea_mbox_capacity_for(65), 128);
    assert_int_equal(ea_mbox_capacity_for(EA_QUEUE_MAX_COUNT - 1), EA_QUEUE_MAX_COUNT);
    assert_int_equal(ea_mbox_capacity_for(EA_QUEUE_MAX_COUNT), EA_QUEUE_MAX_COUNT);
    assert_int_equal(ea_mbox_capacity_for(EA_QUEUE_MAX_COUNT + 1), 0);
    assert_int_equal(ea_mbox_capacity_for(UINT32_MAX), 0);
}

static void test_footprint(void **state)
{
    (void)state;
    assert_int_equal(ea_mbox_footprint(0), 0);
    assert_int_equal(ea_mbox_footprint(1), 0);
    assert_int_equal(ea_mbox_footprint(3), 0);
    assert_int_equal(ea_mbox_footprint(100), 0);
    assert_int_equal(ea_mbox_footprint(EA_QUEUE_MAX_COUNT * 2), 0);
    assert_int_equal(ea_mbox_footprint(UINT32_MAX), 0);
    assert_int_equal(ea_mbox_footprint(2), 128 + 64);
    assert_int_equal(ea_mbox_footprint(8), 128 + 64);
    assert_int_equal(ea_mbox_footprint(16), 128 + 128);
    assert_int_equal(ea_mbox_footprint(EA_QUEUE_MAX_COUNT), 128 + (size_t)EA_QUEUE_MAX_COUNT * 8);
}

static void test_init_args(void **state)
{
    (void)state;
    ea_mbox_t m;
    void *mem = alloc_mbox(8);
    assert_int_equal(ea_mbox_init(&m, NULL, 8), EA_ERR_INVAL);
    assert_int_equal(ea_mbox_init(&m, (uint8_t *)mem + 4, 8), EA_ERR_INVAL);
    assert_int_equal(ea_mbox_init(&m, mem, 6), EA_ERR_INVAL);
    assert_int_equal(ea_mbox_init(&m, mem, 1), EA_ERR_INVAL);
    assert_int_equal(ea_mbox_attach(&m, mem, 0), EA_ERR_INVAL);
    assert_int_equal(ea_mbox_init(&m, mem, 8), EA_OK);
    free(mem);
}

static void test_fifo_full_empty(void **state)
{
    (void)state;
    enum { CAP = 64 };
    ea_mbox_t m;
    void *mem = alloc_mbox(CAP);
    uint32_t v = 777;
    assert_int_equal(ea_mbox_init(&m, mem, CAP), EA_OK);
    assert_false(ea_mbox_nonempty(&m));
    assert_int_equal(ea_mbox_try_pop(&m, &v), EA_ERR_EMPTY);
    assert_int_equal(v, 777);
    for (uint32_t i = 0; i < CAP; i++) {
        assert_int_equal(ea_mbox_try_push(&m, 1000 + i), EA_OK);
        assert_true(ea_mbox_nonempty(&m));
    }
    assert_int_equal(ea_mbox_try_push(&m, 1), EA_ERR_FULL);
    for (uint32_t i = 0; i < CAP; i++) {
        assert_int_equal(ea_mbox_try_pop(&m, &v), EA_OK);
        assert_int_equal(v, 1000 + i);
    }
    assert_false(ea_mbox_nonempty(&m));
    assert_int_equal(ea_mbox_try_pop(&m, &v), EA_ERR_EMPTY);
    /* Values are not interpreted: EA_NIL and 0 pass through. */
    assert_int_equal(ea_mbox_try_push(&m, EA_NIL), EA_OK);
    assert_int_equal(ea_mbox_try_push(&m, 0), EA_OK);
    assert_int_equal(ea_mbox_try_pop(&m, &v), EA_OK);
    assert_int_equal(v, EA_NIL);
    assert_int_equal(ea_mbox_try_pop(&m, &v), EA_OK);
    assert_int_equal(v, 0);
    free(mem);
}

/* Many laps with a varying fill level, including across the 2^32 wrap of
 * the positions. */
static void run_wrap(uint32_t start)
{
    enum { CAP = 8 };
    ea_mbox_t m;
    void *mem = alloc_mbox(CAP);
    assert_int_equal(ea_mbox_init(&m, mem, CAP), EA_OK);
    /* Start the positions at `start` as if that many values had passed. */
    for (uint32_t i = 0; i < CAP; i++)
        atomic_store(&m.cells[(start + i) & (CAP - 1)].seq, start + i);
    atomic_store(&m.ctl->enq, start);
    atomic_store(&m.ctl->deq, start);

    uint32_t next_in = 0, next_out = 0, v;
    uint32_t rng = 12345;
    for (int step = 0; step < 100000; step++) {
        rng = rng * 1103515245u + 12345u;
        uint32_t burst = (rng >> 16) % (CAP + 2);
        for (uint32_t k = 0; k < burst; k++) {
            int rc = ea_mbox_try_push(&m, next_in);
            if (next_in - next_out == CAP) {
                assert_int_equal(rc, EA_ERR_FULL);
                break;
            }
            assert_int_equal(rc, EA_OK);
            next_in++;
        }
        rng = rng * 1103515245u + 12345u;
        burst = (rng >> 16) % (CAP + 2);
        for (uint32_t k = 0; k < burst; k++) {
            int rc = ea_mbox_try_pop(&m, &v);
            if (next_in == next_out) {
                assert_int_equal(rc, EA_ERR_EMPTY);
                break;
            }
            assert_int_equal(rc, EA_OK);
            assert_int_equal(v, next_out);
            next_out++;
        }
        assert_int_equal(ea_mbox_nonempty(&m) != 0, next_in != next_out);
    }
    assert_true(next_out > 100000);
    free(mem);
}

static void test_wrap_around(void **state)
{
    (void)state;
    run_wrap(0);
    run_wrap(UINT32_MAX - 1000);
}

static void test_attach_same_state(void **state)
{
    (void)state;
    ea_mbox_t a, b;
    void *mem = alloc_mbox(4);
    uint32_t v;
    assert_int_equal(ea_mbox_init(&a, mem, 4), EA_OK);
    assert_int_equal(ea_mbox_try_push(&a, 1), EA_OK);
    assert_int_equal(ea_mbox_try_push(&a, 2), EA_OK);
    assert_int_equal(ea_mbox_attach(&b, mem, 4), EA_OK);
    assert_true(ea_mbox_nonempty(&b));
    assert_int_equal(ea_mbox_try_push(&b, 3), EA_OK);
    assert_int_equal(ea_mbox_try_pop(&b, &v), EA_OK);
    assert_int_equal(v, 1);
    assert_int_equal(ea_mbox_try_pop(&a, &v), EA_OK);
    assert_int_equal(v, 2);
    assert_int_equal(ea_mbox_try_pop(&b, &v), EA_OK);
    assert_int_equal(v, 3);
    assert_false(ea_mbox_nonempty(&a));
    free(mem);
}

/* One producer and one consumer that count their positions: FIFO, full,
 * empty and wrap-around agree with the MPMC operations, and every state the
 * two cannot leave behind is EA_ERR_CORRUPT. */
static void test_spsc(void **state)
{
    (void)state;
    enum { CAP = 4 };
    void *mem = alloc_mbox(CAP);
    ea_mbox_t m;
    assert_int_equal(ea_mbox_init(&m, mem, CAP), EA_OK);
    uint32_t tx = 0, rx = 0, v;
    for (uint32_t lap = 0; lap < 3; lap++) {
        for (uint32_t i = 0; i < CAP; i++)
            assert_int_equal(ea_mbox_try_push_spsc(&m, tx++, 100 + i), EA_OK);
        assert_int_equal(ea_mbox_try_push_spsc(&m, tx, 9), EA_ERR_FULL);
        for (uint32_t i = 0; i < CAP; i++) {
            assert_int_equal(ea_mbox_try_pop_spsc(&m, rx++, &v), EA_OK);
            assert_int_equal(v, 100 + i);
        }
        assert_int_equal(ea_mbox_try_pop_spsc(&m, rx, &v), EA_ERR_EMPTY);
    }
    /* A position that is not the caller's count. */
    assert_int_equal(ea_mbox_try_push_spsc(&m, tx + 1, 1), EA_ERR_CORRUPT);
    assert_int_equal(ea_mbox_try_pop_spsc(&m, rx - 1, &v), EA_ERR_CORRUPT);
    /* A cell sequence number out of step, for the producer and the
     * consumer; restoring it makes the mbox work again. */
    struct ea_mbox_cell *cell = &m.cells[tx & (CAP - 1)];
    uint32_t keep = cell->seq;
    cell->seq = tx + 7;
    assert_int_equal(ea_mbox_try_push_spsc(&m, tx, 1), EA_ERR_CORRUPT);
    assert_int_equal(ea_mbox_try_pop_spsc(&m, rx, &v), EA_ERR_CORRUPT);
    cell->seq = keep;
    assert_int_equal(ea_mbox_try_push_spsc(&m, tx++, 5), EA_OK);
    assert_int_equal(ea_mbox_try_pop_spsc(&m, rx++, &v), EA_OK);
    assert_int_equal(v, 5);
    uint32_t enq, deq;
    ea_mbox_positions(&m, &enq, &deq);
    assert_int_equal(enq, tx);
    assert_int_equal(deq, rx);
    free(mem);
}

/* Check, then commit: the check says what try_push_spsc would and writes
 * nothing; the commit pushes without checking again. */
static void test_spsc_check_commit(void **state)
{
    (void)state;
    enum { CAP = 2 };
    void *mem = alloc_mbox(CAP);
    ea_mbox_t m;
    assert_int_equal(ea_mbox_init(&m, mem, CAP), EA_OK);
    uint32_t tx = 0, rx = 0, v, enq, deq;
    for (uint32_t i = 0; i < CAP; i++) {
        assert_int_equal(ea_mbox_check_push_spsc(&m, tx), EA_OK);
        ea_mbox_commit_push_spsc(&m, tx++, 40 + i);
    }
    assert_int_equal(ea_mbox_check_push_spsc(&m, tx), EA_ERR_FULL);
    assert_int_equal(ea_mbox_check_push_spsc(&m, tx + 1), EA_ERR_CORRUPT);
    ea_mbox_positions(&m, &enq, &deq);
    assert_int_equal(enq, tx);
    for (uint32_t i = 0; i < CAP; i++) {
        assert_int_equal(ea_mbox_try_pop_spsc(&m, rx++, &v), EA_OK);
        assert_int_equal(v, 40 + i);
    }
    /* Storage moved between check and commit: the commit writes the push
     * over it, and the consumer finds the value at its position. */
    assert_int_equal(ea_mbox_check_push_spsc(&m, tx), EA_OK);
    atomic_store(&m.ctl->enq, 1000);
    ea_mbox_commit_push_spsc(&m, tx++, 77);
    ea_mbox_positions(&m, &enq, &deq);
    assert_int_equal(enq, tx);
    assert_int_equal(ea_mbox_try_pop_spsc(&m, rx++, &v), EA_OK);
    assert_int_equal(v, 77);
    free(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capacity_for), cmocka_unit_test(test_footprint),
        cmocka_unit_test(test_init_args),    cmocka_unit_test(test_fifo_full_empty),
        cmocka_unit_test(test_wrap_around),  cmocka_unit_test(test_attach_same_state),
        cmocka_unit_test(test_spsc),         cmocka_unit_test(test_spsc_check_commit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
