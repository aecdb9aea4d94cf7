/*
 * The https example's front (examples/https/front.c, included here so its
 * static functions can be driven) against a system actor and a handler
 * played by the test on connector pairs, without TLS: a connection whose
 * CLOSED found the channel to the handler full must not let the next
 * connection in the same slot reach the handler before that CLOSED, or the
 * handler appends the new connection's bytes to the old one's buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conn_pair.h"
#include "front.c"

/* The PKI is only used with tls=1. */
const char pki_server_pem[] = "";
const size_t pki_server_pem_len = 0;
const char pki_server_key[] = "";
const size_t pki_server_key_len = 0;

enum { HDR = sizeof(ea_sys_msg_t) };

struct fx {
    struct ea_test_pair net, app; /* front = end a of both */
    struct front s;
    /* Records of the last batch the handler took, not yet looked at. */
    struct {
        uint32_t id, kind;
        char bytes[256];
    } got[BATCH_MAX_RECS];
    unsigned ngot, next;
};

/* A front wired to the test's system actor and handler, with `app_nodes`
 * nodes on the channel to the handler. */
static struct fx *fx_new(unsigned app_nodes)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    ea_test_pair_init(&f->net, 64, 65536, "net");
    ea_test_pair_init(&f->app, app_nodes, 4096, "app");
    ea_sys_client_init(&f->s.sys, &f->net.ca);
    f->s.app = &f->app.ca;
    f->s.c = calloc(SLOTS, sizeof *f->s.c);
    f->s.owed = calloc(SLOTS, 1);
    assert_non_null(f->s.c);
    assert_non_null(f->s.owed);
    assert_true(sq_init(&f->s.qowed) && sq_init(&f->s.qpend) && sq_init(&f->s.qwant));
    f->s.listener = -1;
    return f;
}

static void fx_free(struct fx *f)
{
    free(f->s.c);
    free(f->s.owed);
    sq_free(&f->s.qowed);
    sq_free(&f->s.qpend);
    sq_free(&f->s.qwant);
    ea_test_pair_fini(&f->net);
    ea_test_pair_fini(&f->app);
    free(f);
}

/* The next request the front sent to the system actor; asserts its op. */
static ea_sys_msg_t take(struct fx *f, uint16_t op)
{
    ea_cargo_t c;
    assert_int_equal(ea_cargo_recv(&f->net.cb, &c), EA_OK);
    ea_sys_msg_t m;
    memcpy(&m, c.data, HDR);
    ea_cargo_release(&c);
    assert_int_equal(m.op, op);
    return m;
}

/* Completes request m with `status` (and data), and lets the front read it. */
static void done(struct fx *f, ea_sys_msg_t m, int32_t status, const char *data)
{
    uint32_t len = data != NULL ? (uint32_t)strlen(data) : 0;
    ea_cargo_t c;
    assert_int_equal(ea_cargo_alloc(&f->net.cb, HDR + len, &c), EA_OK);
    m.op |= EA_SYS_DONE;
    m.status = status;
    m.len = len;
    memcpy(c.data, &m, HDR);
    if (len > 0)
        memcpy((uint8_t *)c.data + HDR, data, len);
    assert_int_equal(ea_cargo_send(&c), EA_OK);
    ea_sys_event_t ev;
    assert_int_equal(ea_sys_recv(&f->s.sys, &ev), EA_OK);
    on_sys(&f->net.a, &f->s, &ev);
    ea_cargo_release(&ev.cargo);
    /* The step ends: its messages to the handler go out in one batch. */
    assert_int_equal(batch_send(&f->s.ab), EA_OK);
}

/* What the handler receives next (a record of a batch, proto.h): kind
 * and bytes. */
static uint32_t handler_take(struct fx *f, uint32_t *id, char *buf, size_t cap)
{
    if (f->next == f->ngot) {
        ea_cargo_t c;
        if (ea_cargo_recv(&f->app.cb, &c) != EA_OK)
            return 0;
        struct hop h;
        memcpy(&h, c.data, sizeof h);
        assert_int_equal(h.kind, KIND_BATCH);
        const uint8_t *p = (const uint8_t *)c.data + sizeof h, *data;
        size_t off = 0;
        struct rec r;
        f->ngot = f->next = 0;
        while (f->ngot < h.id && batch_next(p, c.len - sizeof h, &off, &r, &data)) {
            assert_true(r.len < sizeof f->got[0].bytes);
            f->got[f->ngot].id = r.id;
            f->got[f->ngot].kind = r.kind;
            memcpy(f->got[f->ngot].bytes, data, r.len);
            f->got[f->ngot].bytes[r.len] = '\0';
            f->ngot++;
        }
        assert_int_equal(f->ngot, h.id); /* every record read */
        assert_int_equal(off, c.len - sizeof h);
        ea_cargo_release(&c);
    }
    unsigned k = f->next++;
    snprintf(buf, cap, "%s", f->got[k].bytes);
    *id = f->got[k].id;
    return f->got[k].kind;
}

static void test_closed_before_next_connection(void **state)
{
    (void)state;
    struct fx *f = fx_new(2); /* room for two messages to the handler */

    assert_true(ea_net_listen(&f->s.sys, "127.0.0.1", 8443) > 0);
    done(f, take(f, EA_NET_LISTEN), 1, NULL);
    /* The first connection, handle 5 (slot 5), sends two pieces of a head
     * that fill the channel to the handler, then ends. */
    done(f, take(f, EA_NET_ACCEPT), 5, NULL);
    ea_sys_msg_t recv = take(f, EA_NET_RECV);
    ea_sys_msg_t acc = take(f, EA_NET_ACCEPT);
    done(f, recv, 9, "GET /a HT");
    done(f, take(f, EA_NET_RECV), 4, "TP/1");
    done(f, take(f, EA_NET_RECV), 0, NULL); /* EOF: CLOSED finds no node */
    done(f, take(f, EA_NET_CLOSE), 0, NULL);
    /* The handler reads one message; a node is free again. */
    uint32_t id;
    char buf[256];
    assert_int_equal(handler_take(f, &id, buf, sizeof buf), KIND_DATA);
    assert_string_equal(buf, "GET /a HT");
    /* The next connection lands in the same slot (handle 5 + 1 << 15). */
    int32_t h2 = 5 + (1 << 15);
    done(f, acc, h2, NULL);
    ea_sys_msg_t r2 = take(f, EA_NET_RECV);
    assert_int_equal(r2.handle, h2);
    (void)take(f, EA_NET_ACCEPT);
    /* The handler must see the old connection end before the new one's
     * bytes. */
    assert_int_equal(handler_take(f, &id, buf, sizeof buf), KIND_DATA);
    assert_int_equal(id, 5);
    assert_string_equal(buf, "TP/1");
    assert_int_equal(handler_take(f, &id, buf, sizeof buf), KIND_CLOSED);
    assert_int_equal(id, 5);
    done(f, r2, 18, "GET /b HTTP/1.1\r\n\r");
    assert_int_equal(handler_take(f, &id, buf, sizeof buf), KIND_DATA);
    assert_int_equal(id, 5);
    assert_string_equal(buf, "GET /b HTTP/1.1\r\n\r");
    assert_int_equal(handler_take(f, &id, buf, sizeof buf), 0);
    assert_int_equal(f->s.nowed, 0);

    /* Drain the front's last RECV request, free everything. */
    (void)take(f, EA_NET_RECV);
    ea_cargo_t c;
    assert_int_equal(ea_cargo_recv(&f->net.cb, &c), EA_ERR_EMPTY);
    fx_free(f);
}

/* Batches (proto.h): a step's records go out in one message, at most
 * BATCH_MAX_RECS per message and in order; reading stops at the first
 * record that does not fit what is left (a forged length), and records
 * after it are never seen. */
static void test_batches(void **state)
{
    (void)state;
    struct ea_test_pair p;
    ea_test_pair_init(&p, 8, 4096, "b");
    struct batch b = {0};
    char data[8];
    for (uint32_t i = 0; i < BATCH_MAX_RECS + 1; i++) {
        snprintf(data, sizeof data, "r%u", i);
        assert_int_equal(batch_put(&p.ca, &b, i, KIND_DATA, data, (uint32_t)strlen(data)), EA_OK);
    }
    assert_int_equal(b.n, 1u); /* the first 64 went out when the 65th came */
    assert_int_equal(batch_send(&b), EA_OK);
    assert_int_equal(batch_send(&b), EA_OK); /* none open: nothing sent */
    /* Too big for any batch. */
    assert_int_equal(batch_put(&p.ca, &b, 0, KIND_DATA, data, batch_room_max(&p.ca) + 1),
                     EA_ERR_TOOBIG);
    uint32_t want = 0;
    for (int k = 0; k < 2; k++) {
        ea_cargo_t c;
        assert_int_equal(ea_cargo_recv(&p.cb, &c), EA_OK);
        struct hop h;
        memcpy(&h, c.data, sizeof h);
        assert_int_equal(h.kind, KIND_BATCH);
        assert_int_equal(h.id, k == 0 ? BATCH_MAX_RECS : 1u);
        const uint8_t *q = (const uint8_t *)c.data + sizeof h, *d;
        size_t off = 0;
        struct rec r;
        while (batch_next(q, c.len - sizeof h, &off, &r, &d)) {
            snprintf(data, sizeof data, "r%u", want);
            assert_int_equal(r.id, want);
            assert_int_equal(r.len, strlen(data));
            assert_memory_equal(d, data, r.len);
            want++;
        }
        ea_cargo_release(&c);
    }
    assert_int_equal(want, BATCH_MAX_RECS + 1);
    assert_int_equal(ea_cargo_recv(&p.cb, &(ea_cargo_t){0}), EA_ERR_EMPTY);

    /* Forged: the second record claims more bytes than are left. */
    uint8_t buf[3 * sizeof(struct rec) + 16] = {0};
    struct rec r1 = {1, KIND_DATA, 3, 0}, r2 = {2, KIND_DATA, 1000, 0}, r;
    memcpy(buf, &r1, sizeof r1);
    memcpy(buf + sizeof r1, "abc", 3);
    memcpy(buf + REC_SIZE(3), &r2, sizeof r2);
    const uint8_t *d;
    size_t off = 0;
    assert_true(batch_next(buf, sizeof buf, &off, &r, &d));
    assert_int_equal(r.id, 1u);
    assert_memory_equal(d, "abc", 3);
    assert_false(batch_next(buf, sizeof buf, &off, &r, &d));
    /* Less than a record header left; an offset past the end. */
    off = sizeof buf - 4;
    assert_false(batch_next(buf, sizeof buf, &off, &r, &d));
    off = sizeof buf + 8;
    assert_false(batch_next(buf, sizeof buf, &off, &r, &d));
    batch_drop(&b);
    ea_test_pair_fini(&p);
}

/* A RECV the system actor refuses with EA_SYS_QUEUED (its queued= limit
 * for the front) is back-pressure: the connection stays, the RECV is asked
 * again from the retry list, and the bytes that come then reach the
 * handler. (The front before this test closed the connection.) */
static void test_recv_queued(void **state)
{
    (void)state;
    struct fx *f = fx_new(8);

    assert_true(ea_net_listen(&f->s.sys, "127.0.0.1", 8443) > 0);
    done(f, take(f, EA_NET_LISTEN), 1, NULL);
    done(f, take(f, EA_NET_ACCEPT), 5, NULL);
    ea_sys_msg_t recv = take(f, EA_NET_RECV);
    (void)take(f, EA_NET_ACCEPT);
    done(f, recv, EA_SYS_QUEUED, NULL);
    struct fconn *c = by_handle(&f->s, 5);
    assert_non_null(c);
    assert_false(c->closing);
    assert_true(c->want_recv);
    ea_cargo_t cg;
    assert_int_equal(ea_cargo_recv(&f->net.cb, &cg), EA_ERR_EMPTY); /* no CLOSE */
    /* The next step's retry list asks again. */
    assert_int_equal(f->s.qwant.n, 1);
    struct fconn *w = &f->s.c[sq_take(&f->s.qwant)];
    assert_ptr_equal(w, c);
    retry_want(&f->s, c);
    assert_false(c->want_recv);
    recv = take(f, EA_NET_RECV);
    assert_int_equal(recv.handle, 5);
    done(f, recv, 18, "GET /q HTTP/1.1\r\n\r");
    uint32_t id;
    char buf[256];
    assert_int_equal(handler_take(f, &id, buf, sizeof buf), KIND_DATA);
    assert_int_equal(id, 5);
    assert_string_equal(buf, "GET /q HTTP/1.1\r\n\r");

    (void)take(f, EA_NET_RECV);
    assert_int_equal(ea_cargo_recv(&f->net.cb, &cg), EA_ERR_EMPTY);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_before_next_connection),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_recv_queued),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
