/*
 * The XMPP example's batching between actors (examples/xmpp/proto.h) over
 * a real channel (tests/common/conn_pair.h, AEAD as between enclaves):
 * a round's messages arrive as one channel message and xiter reads them
 * in order; a batch that would not fit is cut into several; a message too
 * big to share goes alone, after what was gathered before it; with the
 * channel's nodes used up, batches wait in the queue and arrive in order;
 * an outq without batching sends each message alone; and malformed
 * batches (a length past the end, a nested batch, a truncated length) end
 * the iteration without reading outside the message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conn_pair.h"
#include "proto.h"

#define NODES 8
#define MAX 4096

static int setup(void **state)
{
    struct ea_test_pair *f = aligned_alloc(64, sizeof *f);
    assert_non_null(f);
    ea_test_pair_init(f, NODES, MAX, "rt");
    assert_int_equal(ea_test_pair_record(f), EA_OK);
    assert_int_equal(ea_test_pair_aead(f), EA_OK);
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

/* Message number i: op R_DELIVER, conn i, one field "m<i>" padded to len. */
static void make(struct xmsg *m, char *buf, unsigned i, size_t len)
{
    memset(buf, 'x', len);
    int n = snprintf(buf, len, "m%u", i);
    if (n > 0 && (size_t)n < len)
        buf[n] = '.';
    *m = (struct xmsg){.h = {R_DELIVER, i, 0, 0}};
    xmsg_add(m, buf, len);
}

/* Receives every channel message on end b; checks that together they hold
 * messages first..first+count-1 in order with field length len (0: any);
 * returns the number of channel messages. */
static unsigned drain(struct ea_test_pair *f, unsigned first, unsigned count, size_t len)
{
    unsigned cargos = 0, next = first;
    ea_cargo_t cg;
    while (ea_cargo_recv(&f->cb, &cg) == EA_OK) {
        struct xiter it;
        struct xmsg m;
        xiter_init(&it, cg.data, cg.len);
        while (xiter_next(&it, &m)) {
            assert_int_equal(m.h.op, R_DELIVER);
            assert_int_equal(m.h.conn, next);
            assert_int_equal(m.n, 1);
            if (len)
                assert_int_equal(m.fl[0], len);
            char want[16];
            int n = snprintf(want, sizeof want, "m%u", next);
            assert_memory_equal(m.f[0], want, (size_t)n);
            next++;
        }
        ea_cargo_release(&cg);
        cargos++;
    }
    assert_int_equal(next, first + count);
    return cargos;
}

static void test_one_round_one_message(void **state)
{
    struct ea_test_pair *f = *state;
    struct outq q = {.c = &f->ca, .batch = 1};
    char buf[100];
    for (unsigned i = 0; i < 20; i++) {
        struct xmsg m;
        make(&m, buf, i, 60);
        assert_int_equal(outq_send(&q, &m), 0);
    }
    ea_cargo_t cg;
    assert_int_equal(ea_cargo_recv(&f->cb, &cg), EA_ERR_EMPTY); /* nothing before the flush */
    assert_int_equal(outq_flush(&q), 0);
    assert_int_equal(drain(f, 0, 20, 60), 1);
    assert_int_equal(ea_pool_free_count(&f->ca.pool), NODES);
    outq_clear(&q);
}

static void test_cut_when_full_and_big_alone(void **state)
{
    struct ea_test_pair *f = *state;
    struct outq q = {.c = &f->ca, .batch = 1};
    static char buf[MAX];
    /* 1,000-byte fields: each entry is 4 (length) + 16 (header) + 4 + 1,000
     * bytes, so a 4,096-byte batch (16-byte header) holds three. */
    unsigned i = 0;
    for (; i < 6; i++) {
        struct xmsg m;
        make(&m, buf, i, 1000);
        assert_int_equal(outq_send(&q, &m), 0);
    }
    /* Too big to share a batch (it fills a node by itself): alone, and
     * after the six. */
    struct xmsg big;
    make(&big, buf, i++, MAX - 16 - 4);
    assert_int_equal(outq_send(&q, &big), 0);
    struct xmsg m;
    make(&m, buf, i++, 10);
    assert_int_equal(outq_send(&q, &m), 0);
    assert_int_equal(outq_flush(&q), 0);
    assert_int_equal(drain(f, 0, i, 0), 4); /* 3 + 3, the big one, the last */
    /* Bigger than a node: refused, as without batching. */
    make(&big, buf, 0, MAX);
    assert_int_equal(outq_send(&q, &big), -1);
    outq_clear(&q);
}

static void test_back_pressure_keeps_order(void **state)
{
    struct ea_test_pair *f = *state;
    struct outq q = {.c = &f->ca, .batch = 1};
    static char buf[MAX];
    /* 3 per batch: 40 messages are 14 batches for 8 nodes. */
    for (unsigned i = 0; i < 40; i++) {
        struct xmsg m;
        make(&m, buf, i, 1000);
        assert_int_equal(outq_send(&q, &m), 0);
    }
    assert_int_equal(outq_flush(&q), 1); /* some wait */
    assert_non_null(q.head);
    /* The peer reads what arrived; the rest follows at later flushes. */
    unsigned next = 0, rounds = 0;
    while (next < 40) {
        assert_true(rounds++ < 20);
        ea_cargo_t cg;
        while (ea_cargo_recv(&f->cb, &cg) == EA_OK) {
            struct xiter it;
            struct xmsg m;
            xiter_init(&it, cg.data, cg.len);
            while (xiter_next(&it, &m))
                assert_int_equal(m.h.conn, next++);
            ea_cargo_release(&cg);
        }
        (void)outq_flush(&q);
    }
    assert_null(q.head);
    assert_int_equal(q.queued, 0);
    outq_clear(&q);
}

static void test_without_batching(void **state)
{
    struct ea_test_pair *f = *state;
    struct outq q = {.c = &f->ca};
    char buf[100];
    for (unsigned i = 0; i < 5; i++) {
        struct xmsg m;
        make(&m, buf, i, 30);
        assert_int_equal(outq_send(&q, &m), 0);
    }
    assert_int_equal(outq_flush(&q), 0);
    assert_int_equal(drain(f, 0, 5, 30), 5); /* one channel message each */
    outq_clear(&q);
}

/* A batch built by hand: header, then (length, message) pairs. */
static size_t put(char *p, size_t off, const struct xmsg *m)
{
    uint32_t l = (uint32_t)xmsg_size(m);
    memcpy(p + off, &l, 4);
    xmsg_write(m, p + off + 4);
    return off + 4 + l;
}

static unsigned count(const char *p, size_t len)
{
    struct xiter it;
    struct xmsg m;
    unsigned n = 0;
    xiter_init(&it, p, len);
    while (xiter_next(&it, &m))
        n++;
    return n;
}

static void test_malformed_batches(void **state)
{
    (void)state;
    char b[512];
    struct xhdr h = {X_BATCH, 0, 2, 0};
    struct xmsg m = {.h = {R_DELIVER, 1, 0, 0}};
    xmsg_add(&m, "abc", 3);
    memcpy(b, &h, sizeof h);
    size_t off = put(b, sizeof h, &m);
    off = put(b, off, &m);
    /* Copies of exactly the length, so ASan sees a read past the end. */
    char *p = malloc(off);
    assert_non_null(p);
    memcpy(p, b, off);
    assert_int_equal(count(p, off), 2);
    /* Cut anywhere inside the second message: only the first is read. */
    for (size_t cut = sizeof h + 4 + xmsg_size(&m); cut < off; cut++)
        assert_int_equal(count(p, cut), 1);
    /* A length past the end. */
    uint32_t huge = 0xfffffff0u;
    memcpy(p + sizeof h, &huge, 4);
    assert_int_equal(count(p, off), 0);
    free(p);
    /* A batch inside a batch is not read. */
    memcpy(b, &h, sizeof h);
    struct xmsg nested = {.h = {X_BATCH, 0, 1, 0}};
    off = put(b, sizeof h, &nested);
    assert_int_equal(count(b, off), 0);
    /* Shorter than a header, empty: nothing, no crash. */
    assert_int_equal(count(b, 3), 0);
    assert_int_equal(count(b, 0), 0);
    /* A single message is read as before, a malformed one skipped. */
    off = put(b, 0, &m);
    assert_int_equal(count(b + 4, off - 4), 1);
    assert_int_equal(count(b + 4, off - 5), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_round_one_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_when_full_and_big_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_back_pressure_keeps_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_batching, setup, teardown),
        cmocka_unit_test(test_malformed_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
