/* Unit tests of the node pool (src/queue/pool.c), single-threaded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <eactors/ea_queue.h>

#include "queue/queue_internal.h"

enum { COUNT = 100 };

static void *alloc_pool(uint32_t count, uint32_t node_size)
{
    size_t size = ea_pool_footprint(count, node_size);
    assert_true(size > 0);
    void *mem = aligned_alloc(64, size);
    assert_non_null(mem);
    memset(mem, 0xa5, size);
    return mem;
}

static void test_node_size_for(void **state)
{
    (void)state;
    assert_int_equal(ea_node_size_for(0), 64);
    assert_int_equal(ea_node_size_for(32), 64);
    assert_int_equal(ea_node_size_for(33), 128);
    assert_int_equal(ea_node_size_for(96), 128);
    assert_int_equal(ea_node_size_for(1u << 20), (1u << 20) + 64);
    assert_int_equal(ea_node_size_for(UINT32_MAX - 95), UINT32_MAX - 63);
    assert_int_equal(ea_node_size_for(UINT32_MAX - 94), 0);
    assert_int_equal(ea_node_size_for(UINT32_MAX), 0);
}

static void test_footprint(void **state)
{
    (void)state;
    /* Control line + one line of links + one node. */
    assert_int_equal(ea_pool_footprint(1, 64), 3 * 64);
    assert_int_equal(ea_pool_footprint(16, 64), 64 + 64 + 16 * 64);
    assert_int_equal(ea_pool_footprint(17, 128), 64 + 128 + 17 * 128);
    assert_int_equal(ea_pool_footprint(0, 64), 0);
    assert_int_equal(ea_pool_footprint(EA_QUEUE_MAX_COUNT + 1, 64), 0);
    assert_int_equal(ea_pool_footprint(1, 0), 0);
    assert_int_equal(ea_pool_footprint(1, 32), 0);
    assert_int_equal(ea_pool_footprint(1, 65), 0);
    assert_int_equal(ea_pool_footprint(1, 96), 0);
    /* The largest pool: 2^24 nodes of almost 4 GiB fit a 64-bit size_t. */
    uint32_t big = UINT32_MAX - 63;
    size_t fp = ea_pool_footprint(EA_QUEUE_MAX_COUNT, big);
    if (sizeof(size_t) >= 8)
        assert_true(fp == 64 + (size_t)EA_QUEUE_MAX_COUNT * 4 + (size_t)EA_QUEUE_MAX_COUNT * big);
    else
        assert_true(fp == 0);
    assert_int_equal(ea_pool_footprint(EA_QUEUE_MAX_COUNT, 64) % 64, 0);
}

static void test_init_args(void **state)
{
    (void)state;
    ea_pool_t p;
    void *mem = alloc_pool(4, 64);
    assert_int_equal(ea_pool_init(&p, NULL, 4, 64), EA_ERR_INVAL);
    assert_int_equal(ea_pool_init(&p, (uint8_t *)mem + 8, 4, 64), EA_ERR_INVAL);
    assert_int_equal(ea_pool_init(&p, mem, 0, 64), EA_ERR_INVAL);
    assert_int_equal(ea_pool_init(&p, mem, 4, 100), EA_ERR_INVAL);
    assert_int_equal(ea_pool_attach(&p, (uint8_t *)mem + 32, 4, 64), EA_ERR_INVAL);
    assert_int_equal(ea_pool_attach(&p, mem, EA_QUEUE_MAX_COUNT + 1, 64), EA_ERR_INVAL);
    assert_int_equal(ea_pool_init(&p, mem, 4, 64), EA_OK);
    free(mem);
}

static void test_get_put_all(void **state)
{
    (void)state;
    ea_pool_t p;
    uint32_t node_size = ea_node_size_for(100);
    uint8_t *mem = alloc_pool(COUNT, node_size);
    size_t size = ea_pool_footprint(COUNT, node_size);
    assert_int_equal(ea_pool_init(&p, mem, COUNT, node_size), EA_OK);
    assert_int_equal(ea_pool_free_count(&p), COUNT);

    uint8_t seen[COUNT] = {0};
    uint32_t got[COUNT];
    for (uint32_t i = 0; i < COUNT; i++) {
        assert_int_equal(ea_pool_get(&p, &got[i]), EA_OK);
        assert_true(got[i] < COUNT);
        assert_int_equal(seen[got[i]], 0);
        seen[got[i]] = 1;
        uint8_t *node = ea_pool_node(&p, got[i]);
        assert_non_null(node);
        assert_int_equal((uintptr_t)node % 64, 0);
        assert_true(node >= mem && node + node_size <= mem + size);
        /* Nodes must not overlap the control block or the links. */
        assert_true(node >= (uint8_t *)(p.next + COUNT));
        memset(node, (int)i, node_size);
        assert_int_equal(ea_pool_free_count(&p), COUNT - 1 - i);
    }
    uint32_t idx = 12345;
    assert_int_equal(ea_pool_get(&p, &idx), EA_ERR_NOBUFS);
    assert_int_equal(idx, 12345);
    /* Writing every node left the pool's bookkeeping intact. */
    for (uint32_t i = 0; i < COUNT; i++)
        assert_int_equal(*(uint8_t *)ea_pool_node(&p, got[i]), (uint8_t)i);

    assert_int_equal(ea_pool_put(&p, COUNT), EA_ERR_INVAL);
    assert_int_equal(ea_pool_put(&p, EA_NIL), EA_ERR_INVAL);
    assert_null(ea_pool_node(&p, COUNT));
    assert_null(ea_pool_node(&p, EA_NIL));

    for (uint32_t i = 0; i < COUNT; i++) {
        assert_int_equal(ea_pool_put(&p, got[i]), EA_OK);
        assert_int_equal(ea_pool_free_count(&p), i + 1);
    }
    /* LIFO: the last node returned is the first handed out again. */
    assert_int_equal(ea_pool_get(&p, &idx), EA_OK);
    assert_int_equal(idx, got[COUNT - 1]);
    assert_int_equal(ea_pool_put(&p, idx), EA_OK);
    assert_int_equal(ea_pool_free_count(&p), COUNT);
    free(mem);
}

static void test_single_node(void **state)
{
    (void)state;
    ea_pool_t p;
    void *mem = alloc_pool(1, 64);
    uint32_t idx;
    assert_int_equal(ea_pool_init(&p, mem, 1, 64), EA_OK);
    for (int round = 0; round < 1000; round++) {
        assert_int_equal(ea_pool_get(&p, &idx), EA_OK);
        assert_int_equal(idx, 0);
        assert_int_equal(ea_pool_get(&p, &idx), EA_ERR_NOBUFS);
        assert_int_equal(ea_pool_put(&p, 0), EA_OK);
    }
    assert_int_equal(ea_pool_free_count(&p), 1);
    free(mem);
}

static void test_attach_same_state(void **state)
{
    (void)state;
    ea_pool_t a, b;
    void *mem = alloc_pool(COUNT, 64);
    uint32_t idx;
    assert_int_equal(ea_pool_init(&a, mem, COUNT, 64), EA_OK);
    for (int i = 0; i < 10; i++)
        assert_int_equal(ea_pool_get(&a, &idx), EA_OK);
    assert_int_equal(ea_pool_attach(&b, mem, COUNT, 64), EA_OK);
    assert_int_equal(ea_pool_free_count(&b), COUNT - 10);
    assert_ptr_equal(ea_pool_node(&a, 7), ea_pool_node(&b, 7));
    /* A node taken through one view is returned through the other. */
    assert_int_equal(ea_pool_get(&b, &idx), EA_OK);
    assert_int_equal(ea_pool_free_count(&a), COUNT - 11);
    assert_int_equal(ea_pool_put(&a, idx), EA_OK);
    assert_int_equal(ea_pool_free_count(&b), COUNT - 10);
    free(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_size_for), cmocka_unit_test(test_footprint),
        cmocka_unit_test(test_init_args),     cmocka_unit_test(test_get_put_all),
        cmocka_unit_test(test_single_node),   cmocka_unit_test(test_attach_same_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
