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
#include "queue/queue_internal.h"

enum { NODES = 4, MAX = 100 };

/* The pair gets an arena channel record, as deployment channels have: the
 * failure reasons, the progress counters and the pool accounting live
 * there. */
static int setup(void **state)
{
    struct ea_test_pair *f = aligned_alloc(64, sizeof *f);
    assert_non_null(f);
    ea_test_pair_init(f, NODES, MAX, "ch");
    assert_int_equal(ea_test_pair_record(f), EA_OK);
    *state = f;
    return 0;
}

/* The same pair, AEAD-protected as between two enclaves. */
static int setup_aead(void **state)
{
    setup(state);
    assert_int_equal(ea_test_pair_aead(*state), EA_OK);
    return 0;
}

static int teardown(void **state)
{
    struct ea_test_pair *f = *state;
    ea_test_pair_fini(f);
    free(f);
    return 0;
}

/* End `end` failed with `err` and its recorded reason holds `text`. */
static void assert_failed(struct ea_test_pair *f, int end, int err, const char *text)
{
    struct eai_chan_shm *cs = f->ca.cshm;
    assert_int_equal(atomic_load(&cs->failed[end]), err);
    if (strstr(cs->why[end], text) == NULL)
        fail_msg("reason '%s' lacks '%s'", cs->why[end], text);
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

static void test_aead_round_trip(void **state)
{
    struct ea_test_pair *f = *state;
    ea_cargo_t m, r;
    assert_int_equal(ea_cargo_alloc(&f->ca, 5, &m), EA_OK);
    /* The cargo is in a's private plaintext slot, not in the node. */
    assert_ptr_equal(m.data, f->ca.plain + (size_t)m.node * f->ca.slot_size);
    memcpy(m.data, "hello", 5);
    uint32_t idx = m.node;
    assert_int_equal(ea_cargo_send(&m), EA_OK);
    const uint8_t *node = ea_pool_node(&f->ca.pool, idx);
    assert_memory_not_equal(node + EA_NODE_HDR_SIZE, "hello", 5);
    assert_int_equal(ea_cargo_recv(&f->cb, &r), EA_OK);
    assert_int_equal(r.len, 5);
    assert_memory_equal(r.data, "hello", 5);
    ea_cargo_release(&r);
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

static void test_full_mbox_fails_channel(void **state)
{
    struct ea_test_pair *f = *state;
    /* b's mbox has a cell for every node, so it can only look full if
     * someone else wrote it: the channel fails, the cargo stays with the
     * caller and can be released. */
    ea_cargo_t m;
    assert_int_equal(ea_cargo_alloc(&f->ca, 3, &m), EA_OK);
    f->ca.out.cells[0].seq = 0u - f->ca.out.mask; /* "pushed one lap ago" */
    assert_int_equal(ea_cargo_send(&m), EA_ERR_CORRUPT);
    assert_non_null(m.conn);
    ea_cargo_release(&m);
    assert_null(m.conn);
    assert_failed(f, 0, EA_ERR_CORRUPT, "mbox to 'b' looks full");
    assert_int_equal(ea_cargo_alloc(&f->ca, 3, &m), EA_ERR_FAILED);
}

static void test_enqueue_position_fails_channel(void **state)
{
    struct ea_test_pair *f = *state;
    /* The host moves b's enqueue position: a's next send sees it. */
    atomic_store(&f->ca.out.ctl->enq, 1000);
    ea_cargo_t m;
    assert_int_equal(ea_cargo_alloc(&f->ca, 3, &m), EA_OK);
    assert_int_equal(ea_cargo_send(&m), EA_ERR_CORRUPT);
    ea_cargo_release(&m);
    assert_failed(f, 0, EA_ERR_CORRUPT, "enqueue position 1000, expected 0");
    assert_int_equal(f->rec[0].errors, 1);
}

static void test_dequeue_position_fails_channel(void **state)
{
    struct ea_test_pair *f = *state;
    ea_cargo_t m, r;
    assert_int_equal(ea_cargo_alloc(&f->ca, 3, &m), EA_OK);
    assert_int_equal(ea_cargo_send(&m), EA_OK);
    /* Moving deq past the message would make it look empty for ever. */
    atomic_store(&f->cb.in.ctl->deq, 1);
    assert_int_equal(ea_cargo_recv(&f->cb, &r), EA_ERR_CORRUPT);
    assert_failed(f, 1, EA_ERR_CORRUPT, "dequeue position 1, expected 0");
}

static void test_cell_sequence_fails_channel(void **state)
{
    struct ea_test_pair *f = *state;
    ea_cargo_t m, r;
    assert_int_equal(ea_cargo_alloc(&f->ca, 3, &m), EA_OK);
    assert_int_equal(ea_cargo_send(&m), EA_OK);
    f->cb.in.cells[0].seq = 77; /* neither "empty" (0) nor "full" (1) */
    assert_int_equal(ea_cargo_recv(&f->cb, &r), EA_ERR_CORRUPT);
    assert_failed(f, 1, EA_ERR_CORRUPT, "cell sequence number out of step at position 0");
}

static void test_pool_head_fails_channel(void **state)
{
    struct ea_test_pair *f = *state;
    atomic_store(&f->ca.pool.ctl->head, (uint64_t)NODES + 3);
    ea_cargo_t m;
    assert_int_equal(ea_cargo_alloc(&f->ca, 3, &m), EA_ERR_CORRUPT);
    assert_failed(f, 0, EA_ERR_CORRUPT, "pool head or free-list link out of range");
}

static void test_pool_link_fails_channel(void **state)
{
    struct ea_test_pair *f = *state;
    f->ca.pool.next[0] = 0xbad;
    ea_cargo_t m;
    assert_int_equal(ea_cargo_alloc(&f->ca, 3, &m), EA_ERR_CORRUPT);
    assert_failed(f, 0, EA_ERR_CORRUPT, "pool head or free-list link out of range");
}

static void test_pool_lost_nodes_fails_channel(void **state)
{
    struct ea_test_pair *f = *state;
    ea_cargo_t m, r;
    /* One message in flight a -> b, one node held by b after receiving. */
    assert_int_equal(ea_cargo_alloc(&f->ca, 3, &m), EA_OK);
    assert_int_equal(ea_cargo_send(&m), EA_OK);
    assert_int_equal(ea_cargo_recv(&f->cb, &r), EA_OK);
    assert_int_equal(ea_cargo_alloc(&f->ca, 3, &m), EA_OK);
    assert_int_equal(ea_cargo_send(&m), EA_OK);
    /* Two nodes in use, two free: the host empties the free list. */
    atomic_store(&f->ca.pool.ctl->head, (uint64_t)EA_NIL);
    ea_cargo_t x;
    assert_int_equal(ea_cargo_alloc(&f->cb, 3, &x), EA_ERR_CORRUPT);
    assert_failed(f, 1, EA_ERR_CORRUPT, "pool lost nodes: empty, but only 2 of 4 nodes are in use");
    ea_cargo_release(&r);
}

static void test_pool_empty_in_use_is_fine(void **state)
{
    struct ea_test_pair *f = *state;
    /* Every node in use, spread over both ends and the mboxes: an empty
     * pool adds up, so it is back-pressure, not corruption. */
    ea_cargo_t m[NODES], r, x;
    assert_int_equal(ea_cargo_alloc(&f->ca, 1, &m[0]), EA_OK);
    assert_int_equal(ea_cargo_send(&m[0]), EA_OK);
    assert_int_equal(ea_cargo_recv(&f->cb, &r), EA_OK); /* held by b */
    assert_int_equal(ea_cargo_alloc(&f->cb, 1, &m[1]), EA_OK);
    assert_int_equal(ea_cargo_send(&m[1]), EA_OK); /* in flight b -> a */
    assert_int_equal(ea_cargo_alloc(&f->ca, 1, &m[2]), EA_OK);
    assert_int_equal(ea_cargo_send(&m[2]), EA_OK);             /* in flight a -> b */
    assert_int_equal(ea_cargo_alloc(&f->ca, 1, &m[3]), EA_OK); /* held by a */
    assert_int_equal(ea_cargo_alloc(&f->ca, 1, &x), EA_ERR_NOBUFS);
    assert_int_equal(ea_cargo_alloc(&f->cb, 1, &x), EA_ERR_NOBUFS);
    assert_int_equal(f->ca.failed, 0);
    assert_int_equal(f->cb.failed, 0);
    assert_int_equal(f->ca.cshm->want_node[0], 1);
    ea_cargo_release(&r);
    ea_cargo_release(&m[3]);
    assert_int_equal(ea_cargo_recv(&f->ca, &r), EA_OK);
    ea_cargo_release(&r);
    assert_int_equal(ea_cargo_recv(&f->cb, &r), EA_OK);
    ea_cargo_release(&r);
    assert_int_equal(ea_pool_free_count(&f->ca.pool), NODES);
    /* The progress counters each end published. */
    struct eai_chan_shm *cs = f->ca.cshm;
    assert_int_equal(cs->end[0].sent, 2);
    assert_int_equal(cs->end[1].recv, 2);
    assert_int_equal(cs->end[1].sent, 1);
    assert_int_equal(cs->end[0].recv, 1);
    assert_int_equal(cs->end[0].taken + cs->end[1].taken,
                     cs->end[0].returned + cs->end[1].returned);
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
    uint32_t idx = m.node;
    assert_int_equal(ea_cargo_send(&m), EA_OK);
    /* The host rewrites the length in the node header after the send. */
    ea_node_hdr_t *h = ea_pool_node(&f->ca.pool, idx);
    h->len = MAX + 1;
    ea_cargo_t r;
    assert_int_equal(ea_cargo_recv(&f->cb, &r), EA_ERR_CORRUPT);
    assert_int_equal(ea_cargo_recv(&f->cb, &r), EA_ERR_FAILED);
    assert_failed(f, 1, EA_ERR_CORRUPT, "length 101 above the channel maximum 100");
    /* The node went back to the pool: nothing leaked. */
    assert_int_equal(ea_pool_free_count(&f->ca.pool), NODES);
}

/* The host delivers message `idx` to end `to` at its next position, as if
 * its peer had pushed it (cell value and sequence number, enqueue
 * position). */
static void host_deliver(ea_mbox_t *to, uint32_t idx)
{
    uint32_t pos = atomic_load(&to->ctl->deq);
    atomic_store(&to->cells[pos & to->mask].value, idx);
    atomic_store(&to->cells[pos & to->mask].seq, pos + 1);
    atomic_store(&to->ctl->enq, pos + 1);
}

static void test_aead_recv_into_held_node_fails(void **state)
{
    struct ea_test_pair *f = *state;
    /* b sends a valid message in node x; a prepares an outgoing message in
     * node y. The host copies x over y and swaps the index in flight, so
     * a would decrypt b's message into the plaintext slot of the message
     * it is still writing. */
    ea_cargo_t in, out, r;
    assert_int_equal(ea_cargo_alloc(&f->cb, 5, &in), EA_OK);
    memcpy(in.data, "peer!", 5);
    uint32_t x = in.node;
    assert_int_equal(ea_cargo_send(&in), EA_OK);
    assert_int_equal(ea_cargo_alloc(&f->ca, 5, &out), EA_OK);
    memcpy(out.data, "mine!", 5);
    uint32_t y = out.node;
    assert_int_not_equal(x, y);
    memcpy(ea_pool_node(&f->ca.pool, y), ea_pool_node(&f->ca.pool, x), f->ca.pool.node_size);
    atomic_store(&f->ca.in.cells[0].value, y);
    assert_int_equal(ea_cargo_recv(&f->ca, &r), EA_ERR_CORRUPT);
    assert_memory_equal(out.data, "mine!", 5);
    assert_failed(f, 0, EA_ERR_CORRUPT, "already holds");
    assert_int_equal(ea_cargo_send(&out), EA_ERR_FAILED);
    ea_cargo_release(&out);
}

static void test_recv_held_node_fails(void **state)
{
    struct ea_test_pair *f = *state;
    /* Plain channel: the host queues a node a is still filling. */
    ea_cargo_t out, r;
    assert_int_equal(ea_cargo_alloc(&f->ca, 5, &out), EA_OK);
    memcpy(out.data, "mine!", 5);
    host_deliver(&f->ca.in, out.node);
    assert_int_equal(ea_cargo_recv(&f->ca, &r), EA_ERR_CORRUPT);
    assert_failed(f, 0, EA_ERR_CORRUPT, "already holds");
    assert_memory_equal(out.data, "mine!", 5);
    ea_cargo_release(&out);
}

static void test_pool_gives_held_node_fails(void **state)
{
    struct ea_test_pair *f = *state;
    /* b holds a received message; the host frees its node into the pool,
     * so b's next allocation would write over the message it reads. */
    ea_cargo_t m, r, x;
    assert_int_equal(ea_cargo_alloc(&f->ca, 5, &m), EA_OK);
    memcpy(m.data, "hello", 5);
    assert_int_equal(ea_cargo_send(&m), EA_OK);
    assert_int_equal(ea_cargo_recv(&f->cb, &r), EA_OK);
    assert_int_equal(ea_pool_put(&f->cb.pool, r.node), EA_OK);
    assert_int_equal(ea_cargo_alloc(&f->cb, 5, &x), EA_ERR_CORRUPT);
    assert_failed(f, 1, EA_ERR_CORRUPT, "already holds");
    assert_memory_equal(r.data, "hello", 5);
    ea_cargo_release(&r);
}

static void test_aead_pool_gives_held_node_fails(void **state)
{
    test_pool_gives_held_node_fails(state);
}

/* The host makes a's send fail after it is checked, then delivers the node
 * anyway (variant 0: b's enqueue position moved; variant 1: the cell looks
 * full). b must never accept a message whose send was reported failed. */
static void failed_send_not_delivered(struct ea_test_pair *f, int variant)
{
    ea_cargo_t m, r;
    assert_int_equal(ea_cargo_alloc(&f->ca, 5, &m), EA_OK);
    memcpy(m.data, "hello", 5);
    if (variant == 0)
        atomic_store(&f->ca.out.ctl->enq, 7);
    else
        f->ca.out.cells[0].seq = 0u - f->ca.out.mask;
    assert_int_equal(ea_cargo_send(&m), EA_ERR_CORRUPT);
    /* The caller keeps the cargo as it was. */
    assert_int_equal(m.len, 5);
    assert_memory_equal(m.data, "hello", 5);
    host_deliver(&f->cb.in, m.node);
    assert_int_not_equal(ea_cargo_recv(&f->cb, &r), EA_OK);
    assert_int_equal(ea_cargo_recv(&f->cb, &r), EA_ERR_FAILED);
    ea_cargo_release(&m);
}

static void test_aead_failed_send_not_delivered(void **state)
{
    failed_send_not_delivered(*state, 0);
}

static void test_aead_failed_send_full_not_delivered(void **state)
{
    failed_send_not_delivered(*state, 1);
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
        cmocka_unit_test_setup_teardown(test_aead_round_trip, setup_aead, teardown),
        cmocka_unit_test_setup_teardown(test_wake_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_back_pressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_mbox_fails_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enqueue_position_fails_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dequeue_position_fails_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cell_sequence_fails_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_head_fails_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_link_fails_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_lost_nodes_fails_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_empty_in_use_is_fine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_index_fails_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_length_fails_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aead_recv_into_held_node_fails, setup_aead, teardown),
        cmocka_unit_test_setup_teardown(test_recv_held_node_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_gives_held_node_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aead_pool_gives_held_node_fails, setup_aead, teardown),
        cmocka_unit_test_setup_teardown(test_aead_failed_send_not_delivered, setup_aead, teardown),
        cmocka_unit_test_setup_teardown(test_aead_failed_send_full_not_delivered, setup_aead,
                                        teardown),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
