/*
 * Unit tests of the system-service client helpers (src/sys/client.c) on a
 * connector pair built by hand (as in tests/core/test_cargo.c). End `a` is
 * the client; the test plays the system actor at end `b`, reading requests
 * and writing completions, good and bad, byte by byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <eactors/ea_sys.h>

#include "conn_pair.h"

struct fixture {
    struct ea_test_pair p;
    ea_sys_client_t cl;
};

enum { NODES = 8, MAX = 512, HDR = sizeof(ea_sys_msg_t) };

static int setup(void **state)
{
    struct fixture *f = aligned_alloc(64, sizeof *f);
    assert_non_null(f);
    memset(f, 0, sizeof *f);
    ea_test_pair_init(&f->p, NODES, MAX, "io");
    ea_sys_client_init(&f->cl, &f->p.ca);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    /* Every test leaves the channel empty and every node back in the pool. */
    ea_cargo_t c;
    assert_int_equal(ea_cargo_recv(&f->p.ca, &c), EA_ERR_EMPTY);
    assert_int_equal(ea_cargo_recv(&f->p.cb, &c), EA_ERR_EMPTY);
    assert_int_equal(ea_pool_free_count(&f->p.ca.pool), NODES);
    ea_test_pair_fini(&f->p);
    free(f);
    return 0;
}

/* ---- the system actor's side, by hand */

/* Takes the next request off the channel; its payload goes to `payload`. */
static ea_sys_msg_t srv_take(struct fixture *f, void *payload, size_t cap)
{
    ea_cargo_t c;
    assert_int_equal(ea_cargo_recv(&f->p.cb, &c), EA_OK);
    assert_true(c.len >= HDR);
    ea_sys_msg_t m;
    memcpy(&m, c.data, HDR);
    assert_int_equal(c.len, HDR + m.len);
    if (payload != NULL) {
        assert_true(m.len <= cap);
        memcpy(payload, (uint8_t *)c.data + HDR, m.len);
    }
    ea_cargo_release(&c);
    return m;
}

/* Sends `m` plus `len` payload bytes, in a cargo of exactly `cargo_len`
 * bytes (HDR + len for a well-formed message). */
static void srv_send_raw(struct fixture *f, const ea_sys_msg_t *m, const void *payload, size_t len,
                         size_t cargo_len)
{
    ea_cargo_t c;
    assert_int_equal(ea_cargo_alloc(&f->p.cb, cargo_len, &c), EA_OK);
    memset(c.data, 0, cargo_len);
    memcpy(c.data, m, cargo_len < HDR ? cargo_len : HDR);
    if (len > 0)
        memcpy((uint8_t *)c.data + HDR, payload, len);
    assert_int_equal(ea_cargo_send(&c), EA_OK);
}

static ea_sys_msg_t done(const ea_sys_msg_t *req, int32_t status)
{
    ea_sys_msg_t m = *req;
    m.op = (uint16_t)(req->op | EA_SYS_DONE);
    m.status = status;
    m.len = 0;
    m.arg = 0;
    m.arg64 = 0;
    return m;
}

static void srv_reply(struct fixture *f, const ea_sys_msg_t *req, int32_t status,
                      const void *payload, uint32_t len)
{
    ea_sys_msg_t m = done(req, status);
    m.len = len;
    srv_send_raw(f, &m, payload, len, HDR + len);
}

/* The client receives one message and must accept it. */
static ea_sys_event_t accept_one(struct fixture *f)
{
    ea_sys_event_t ev;
    assert_int_equal(ea_sys_recv(&f->cl, &ev), EA_OK);
    return ev;
}

/* The client receives one message and must reject it, counting it. */
static void reject_one(struct fixture *f)
{
    uint32_t before = f->cl.rejected;
    ea_sys_event_t ev;
    assert_int_equal(ea_sys_recv(&f->cl, &ev), EA_ERR_CORRUPT);
    assert_int_equal(f->cl.rejected, before + 1);
    assert_null(ev.data);
}

/* Issues a handle-creating request and completes it with handle `h`. */
static void own(struct fixture *f, int64_t id, int32_t h)
{
    assert_true(id > 0);
    ea_sys_msg_t req = srv_take(f, NULL, 0);
    assert_int_equal(req.req_id, (uint64_t)id);
    srv_reply(f, &req, h, NULL, 0);
    ea_sys_event_t ev = accept_one(f);
    assert_int_equal(ev.msg.status, h);
    ea_cargo_release(&ev.cargo);
    assert_true(ea_sys_owns(&f->cl, h));
}

/* ---- tests */

static void test_request_format(void **state)
{
    struct fixture *f = *state;
    int64_t id = ea_net_listen(&f->cl, "127.0.0.1", 8443);
    assert_int_equal(id, 1);
    assert_int_equal(f->cl.npending, 1);
    char p[64];
    ea_sys_msg_t m = srv_take(f, p, sizeof p);
    assert_int_equal(m.magic, EA_SYS_MAGIC);
    assert_int_equal(m.op, EA_NET_LISTEN);
    assert_int_equal(m.flags, 0);
    assert_int_equal(m.req_id, 1);
    assert_int_equal(m.handle, -1);
    assert_int_equal(m.status, 0);
    assert_int_equal(m.arg, 8443);
    assert_int_equal(m.len, 9);
    assert_memory_equal(p, "127.0.0.1", 9);

    assert_int_equal(ea_timer_set(&f->cl, 5000000, 250), 2);
    m = srv_take(f, NULL, 0);
    assert_int_equal(m.op, EA_TIMER_SET);
    assert_int_equal(m.arg64, 5000000);
    assert_int_equal(m.arg, 250);
    assert_int_equal(m.len, 0);

    assert_int_equal(ea_file_open(&f->cl, "data/x", EA_FILE_RDWR | EA_FILE_CREAT), 3);
    m = srv_take(f, p, sizeof p);
    assert_int_equal(m.op, EA_FILE_OPEN);
    assert_int_equal(m.arg, EA_FILE_RDWR | EA_FILE_CREAT);
    assert_int_equal(m.len, 6);
    assert_memory_equal(p, "data/x", 6);
    assert_int_equal(f->cl.npending, 3);

    /* A payload that does not fit the channel is refused before sending. */
    static uint8_t big[MAX];
    own(f, ea_net_connect(&f->cl, "10.0.0.1", 443), 9);
    assert_int_equal(ea_net_send(&f->cl, 9, big, MAX - HDR + 1), EA_ERR_TOOBIG);
    assert_int_equal(ea_net_send(&f->cl, 9, NULL, 4), EA_ERR_INVAL);
    assert_int_equal(ea_net_listen(&f->cl, NULL, 1), EA_ERR_INVAL);
    assert_int_equal(ea_net_recv(&f->cl, 9, 0), EA_ERR_INVAL);
    /* A receive asks for at most what one completion can carry. */
    id = ea_net_recv(&f->cl, 9, 1u << 30);
    assert_true(id > 0);
    m = srv_take(f, NULL, 0);
    assert_int_equal(m.arg, MAX - HDR);
    assert_int_equal(m.handle, 9);
    ea_cargo_t c;
    assert_int_equal(ea_cargo_recv(&f->p.cb, &c), EA_ERR_EMPTY);
}

static void test_good_completions(void **state)
{
    struct fixture *f = *state;
    ea_sys_event_t ev;

    /* listen -> accept -> recv -> send -> shutdown -> close. */
    own(f, ea_net_listen(&f->cl, "0.0.0.0", 80), 4);
    own(f, ea_net_accept(&f->cl, 4), 5);

    assert_true(ea_net_recv(&f->cl, 5, 100) > 0);
    ea_sys_msg_t req = srv_take(f, NULL, 0);
    assert_int_equal(req.op, EA_NET_RECV);
    srv_reply(f, &req, 11, "hello world", 11);
    ev = accept_one(f);
    assert_int_equal(ev.msg.op, EA_NET_RECV | EA_SYS_DONE);
    assert_int_equal(ev.msg.status, 11);
    assert_int_equal(ev.msg.len, 11);
    assert_memory_equal(ev.data, "hello world", 11);
    ea_cargo_release(&ev.cargo);

    /* Exactly as many bytes as asked for, and end of stream. */
    assert_true(ea_net_recv(&f->cl, 5, 4) > 0);
    req = srv_take(f, NULL, 0);
    srv_reply(f, &req, 4, "abcd", 4);
    ev = accept_one(f);
    ea_cargo_release(&ev.cargo);
    assert_true(ea_net_recv(&f->cl, 5, 4) > 0);
    req = srv_take(f, NULL, 0);
    srv_reply(f, &req, EA_SYS_EOF, NULL, 0);
    ev = accept_one(f);
    assert_int_equal(ev.msg.status, 0);
    ea_cargo_release(&ev.cargo);

    assert_true(ea_net_send(&f->cl, 5, "pong", 4) > 0);
    char p[16];
    req = srv_take(f, p, sizeof p);
    assert_int_equal(req.len, 4);
    assert_memory_equal(p, "pong", 4);
    srv_reply(f, &req, 4, NULL, 0);
    ev = accept_one(f);
    ea_cargo_release(&ev.cargo);

    /* An error completion may carry a short message. */
    assert_true(ea_net_send(&f->cl, 5, "x", 1) > 0);
    req = srv_take(f, NULL, 0);
    srv_reply(f, &req, EA_SYS_PIPE, "peer gone", 9);
    ev = accept_one(f);
    assert_int_equal(ev.msg.status, EA_SYS_PIPE);
    assert_memory_equal(ev.data, "peer gone", 9);
    ea_cargo_release(&ev.cargo);

    assert_true(ea_net_shutdown(&f->cl, 5) > 0);
    req = srv_take(f, NULL, 0);
    srv_reply(f, &req, 0, NULL, 0);
    ev = accept_one(f);
    ea_cargo_release(&ev.cargo);
    assert_true(ea_sys_owns(&f->cl, 5));

    assert_true(ea_net_close(&f->cl, 5) > 0);
    req = srv_take(f, NULL, 0);
    srv_reply(f, &req, 0, NULL, 0);
    ev = accept_one(f);
    ea_cargo_release(&ev.cargo);
    assert_false(ea_sys_owns(&f->cl, 5));
    assert_true(ea_sys_owns(&f->cl, 4));
    /* The host may hand out the same number again once it is closed. */
    own(f, ea_net_accept(&f->cl, 4), 5);

    /* Files. */
    own(f, ea_file_open(&f->cl, "f", EA_FILE_RDONLY), 6);
    assert_true(ea_file_read(&f->cl, 6, 4096, 8) > 0);
    req = srv_take(f, NULL, 0);
    assert_int_equal(req.arg64, 4096);
    assert_int_equal(req.arg, 8);
    srv_reply(f, &req, 3, "abc", 3);
    ev = accept_one(f);
    ea_cargo_release(&ev.cargo);
    assert_true(ea_file_write(&f->cl, 6, 7, "xyz", 3) > 0);
    req = srv_take(f, NULL, 0);
    assert_int_equal(req.arg64, 7);
    srv_reply(f, &req, 3, NULL, 0);
    ev = accept_one(f);
    ea_cargo_release(&ev.cargo);
    assert_true(ea_file_fsync(&f->cl, 6) > 0);
    req = srv_take(f, NULL, 0);
    srv_reply(f, &req, 0, NULL, 0);
    ev = accept_one(f);
    ea_cargo_release(&ev.cargo);
    assert_true(ea_file_stat(&f->cl, "f") > 0);
    req = srv_take(f, NULL, 0);
    ea_sys_msg_t m = done(&req, 0);
    m.arg64 = 12345;
    m.arg = 99;
    srv_send_raw(f, &m, NULL, 0, HDR);
    ev = accept_one(f);
    assert_int_equal(ev.msg.arg64, 12345);
    ea_cargo_release(&ev.cargo);
    assert_true(ea_file_unlink(&f->cl, "f") > 0);
    req = srv_take(f, NULL, 0);
    srv_reply(f, &req, EA_SYS_NOENT, NULL, 0);
    ev = accept_one(f);
    assert_int_equal(ev.msg.status, EA_SYS_NOENT);
    ea_cargo_release(&ev.cargo);
    assert_true(ea_file_close(&f->cl, 6) > 0);
    req = srv_take(f, NULL, 0);
    srv_reply(f, &req, 0, NULL, 0);
    ev = accept_one(f);
    ea_cargo_release(&ev.cargo);
    assert_false(ea_sys_owns(&f->cl, 6));

    /* A failed open creates no handle. */
    assert_true(ea_file_open(&f->cl, "nope", EA_FILE_RDONLY) > 0);
    req = srv_take(f, NULL, 0);
    srv_reply(f, &req, EA_ERR_PERM, "no right to open 'nope'", 23);
    ev = accept_one(f);
    assert_int_equal(ev.msg.status, EA_ERR_PERM);
    ea_cargo_release(&ev.cargo);
    assert_int_equal(f->cl.nhandles, 2);

    /* Timers: set, two expirations, cancel. */
    own(f, ea_timer_set(&f->cl, 1000, 10), 7);
    for (int i = 0; i < 2; i++) {
        ea_sys_msg_t fire = {
            .magic = EA_SYS_MAGIC, .op = EA_TIMER_FIRE, .handle = 7, .arg64 = (uint64_t)i + 1};
        srv_send_raw(f, &fire, NULL, 0, HDR);
        ev = accept_one(f);
        assert_int_equal(ev.msg.op, EA_TIMER_FIRE);
        assert_int_equal(ev.msg.arg64, (uint64_t)i + 1);
        ea_cargo_release(&ev.cargo);
    }
    assert_true(ea_timer_cancel(&f->cl, 7) > 0);
    req = srv_take(f, NULL, 0);
    srv_reply(f, &req, 0, NULL, 0);
    ev = accept_one(f);
    ea_cargo_release(&ev.cargo);
    assert_false(ea_sys_owns(&f->cl, 7));

    assert_int_equal(f->cl.npending, 0);
    assert_int_equal(f->cl.rejected, 0);
    assert_int_equal(ea_sys_recv(&f->cl, &ev), EA_ERR_EMPTY);
}

static void test_bad_completions(void **state)
{
    struct fixture *f = *state;
    ea_sys_event_t ev;
    own(f, ea_net_connect(&f->cl, "10.0.0.1", 443), 3);
    own(f, ea_timer_set(&f->cl, 1, 0), 8);

    assert_true(ea_net_recv(&f->cl, 3, 16) > 0);
    ea_sys_msg_t req = srv_take(f, NULL, 0);
    uint8_t data[64] = {0};
    ea_sys_msg_t m;

    /* Wrong magic. */
    m = done(&req, 4);
    m.magic ^= 1;
    m.len = 4;
    srv_send_raw(f, &m, data, 4, HDR + 4);
    reject_one(f);
    /* Not a completion (no DONE bit), and the wrong operation. */
    m = done(&req, 4);
    m.op = EA_NET_RECV;
    m.len = 4;
    srv_send_raw(f, &m, data, 4, HDR + 4);
    reject_one(f);
    m = done(&req, 4);
    m.op = EA_FILE_READ | EA_SYS_DONE;
    m.len = 4;
    srv_send_raw(f, &m, data, 4, HDR + 4);
    reject_one(f);
    /* Unknown request id. */
    m = done(&req, 4);
    m.req_id = 999;
    m.len = 4;
    srv_send_raw(f, &m, data, 4, HDR + 4);
    reject_one(f);
    /* More than asked for. */
    m = done(&req, 17);
    m.len = 17;
    srv_send_raw(f, &m, data, 17, HDR + 17);
    reject_one(f);
    /* Length mismatches: status vs len, len vs the cargo (both ways), and a
     * cargo shorter than a header. */
    m = done(&req, 4);
    m.len = 5;
    srv_send_raw(f, &m, data, 5, HDR + 5);
    reject_one(f);
    m = done(&req, 4);
    m.len = 4;
    srv_send_raw(f, &m, data, 4, HDR + 8);
    reject_one(f);
    m = done(&req, 4);
    m.len = 40;
    srv_send_raw(f, &m, data, 4, HDR + 4);
    reject_one(f);
    m = done(&req, 4);
    m.len = UINT32_MAX;
    srv_send_raw(f, &m, data, 4, HDR + 4);
    reject_one(f);
    m = done(&req, 0);
    srv_send_raw(f, &m, NULL, 0, HDR - 1);
    reject_one(f);
    /* A completion naming another handle than its request. */
    m = done(&req, 4);
    m.handle = 8;
    m.len = 4;
    srv_send_raw(f, &m, data, 4, HDR + 4);
    reject_one(f);
    /* An error with an oversized message. */
    m = done(&req, EA_SYS_IO);
    m.len = 300;
    {
        static uint8_t big[300];
        srv_send_raw(f, &m, big, 300, HDR + 300);
    }
    reject_one(f);

    /* None of that cancelled the real request: it still completes, once. */
    assert_int_equal(f->cl.npending, 1);
    srv_reply(f, &req, 4, "data", 4);
    ev = accept_one(f);
    ea_cargo_release(&ev.cargo);
    srv_reply(f, &req, 4, "data", 4);
    reject_one(f);
    assert_int_equal(f->cl.npending, 0);

    /* A send that claims more bytes than were sent. */
    assert_true(ea_net_send(&f->cl, 3, "abc", 3) > 0);
    req = srv_take(f, NULL, 0);
    srv_reply(f, &req, 4, NULL, 0);
    reject_one(f);
    srv_reply(f, &req, 3, NULL, 0);
    ev = accept_one(f);
    ea_cargo_release(&ev.cargo);

    /* A new handle the client already owns (either kind). */
    assert_true(ea_net_connect(&f->cl, "10.0.0.2", 443) > 0);
    req = srv_take(f, NULL, 0);
    srv_reply(f, &req, 3, NULL, 0);
    reject_one(f);
    srv_reply(f, &req, 8, NULL, 0);
    reject_one(f);
    srv_reply(f, &req, 10, NULL, 0);
    ev = accept_one(f);
    ea_cargo_release(&ev.cargo);
    assert_true(ea_sys_owns(&f->cl, 10));

    /* Timer expirations for a handle not owned, or not a timer. */
    ea_sys_msg_t fire = {.magic = EA_SYS_MAGIC, .op = EA_TIMER_FIRE, .handle = 11};
    srv_send_raw(f, &fire, NULL, 0, HDR);
    reject_one(f);
    fire.handle = 3;
    srv_send_raw(f, &fire, NULL, 0, HDR);
    reject_one(f);
    fire.handle = -1;
    srv_send_raw(f, &fire, NULL, 0, HDR);
    reject_one(f);
    fire.handle = 8;
    fire.len = 1;
    srv_send_raw(f, &fire, NULL, 0, HDR);
    reject_one(f);
    fire.len = 0;
    srv_send_raw(f, &fire, NULL, 0, HDR);
    ev = accept_one(f);
    ea_cargo_release(&ev.cargo);

    /* A completion nobody asked for (a log line has none). */
    assert_int_equal(ea_log(&f->cl, "hi"), EA_OK);
    req = srv_take(f, NULL, 0);
    srv_reply(f, &req, 0, NULL, 0);
    reject_one(f);

    assert_int_equal(f->cl.rejected, 21);
    assert_int_equal(f->cl.npending, 0);
    assert_int_equal(f->cl.nhandles, 3);
}

static void test_unowned_refused(void **state)
{
    struct fixture *f = *state;
    own(f, ea_net_connect(&f->cl, "10.0.0.1", 443), 3);
    own(f, ea_timer_set(&f->cl, 1, 0), 4);
    uint64_t next = f->cl.next_id;

    assert_int_equal(ea_net_accept(&f->cl, 5), EA_ERR_PERM);
    assert_int_equal(ea_net_recv(&f->cl, 5, 10), EA_ERR_PERM);
    assert_int_equal(ea_net_send(&f->cl, 5, "x", 1), EA_ERR_PERM);
    assert_int_equal(ea_net_shutdown(&f->cl, -1), EA_ERR_PERM);
    assert_int_equal(ea_net_close(&f->cl, 5), EA_ERR_PERM);
    assert_int_equal(ea_file_read(&f->cl, 5, 0, 10), EA_ERR_PERM);
    assert_int_equal(ea_file_write(&f->cl, 5, 0, "x", 1), EA_ERR_PERM);
    assert_int_equal(ea_file_fsync(&f->cl, 5), EA_ERR_PERM);
    assert_int_equal(ea_file_close(&f->cl, 5), EA_ERR_PERM);
    assert_int_equal(ea_timer_cancel(&f->cl, 5), EA_ERR_PERM);
    /* Handles are typed: a timer is no stream and a stream no timer. */
    assert_int_equal(ea_net_recv(&f->cl, 4, 10), EA_ERR_PERM);
    assert_int_equal(ea_timer_cancel(&f->cl, 3), EA_ERR_PERM);
    assert_true(ea_sys_owns(&f->cl, 3));
    assert_true(ea_sys_owns(&f->cl, 4));
    assert_false(ea_sys_owns(&f->cl, -1));

    /* Nothing went out and no id or pending entry was used. */
    ea_cargo_t c;
    assert_int_equal(ea_cargo_recv(&f->p.cb, &c), EA_ERR_EMPTY);
    assert_int_equal(f->cl.next_id, next);
    assert_int_equal(f->cl.npending, 0);
}

static void test_pending_limit(void **state)
{
    struct fixture *f = *state;
    ea_sys_msg_t first = {0};
    for (int i = 0; i < EA_SYS_MAX_PENDING; i++) {
        assert_int_equal(ea_file_stat(&f->cl, "f"), i + 1);
        ea_sys_msg_t m = srv_take(f, NULL, 0);
        if (i == 0)
            first = m;
    }
    assert_int_equal(ea_file_stat(&f->cl, "f"), EA_ERR_LIMIT);
    assert_int_equal(ea_log(&f->cl, "logging needs no pending entry"), EA_OK);
    (void)srv_take(f, NULL, 0);
    ea_cargo_t c;
    assert_int_equal(ea_cargo_recv(&f->p.cb, &c), EA_ERR_EMPTY);
    /* One completion frees one entry. */
    srv_reply(f, &first, 0, NULL, 0);
    ea_sys_event_t ev = accept_one(f);
    ea_cargo_release(&ev.cargo);
    assert_true(ea_file_stat(&f->cl, "f") > 0);
    (void)srv_take(f, NULL, 0);
    assert_int_equal(ea_file_stat(&f->cl, "f"), EA_ERR_LIMIT);
}

static void test_handle_limit(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < EA_SYS_MAX_HANDLES - 1; i++)
        own(f, ea_timer_set(&f->cl, 1, 0), 100 + i);
    /* One slot left: it is reserved by the first request in flight. */
    int64_t id = ea_net_connect(&f->cl, "10.0.0.1", 1);
    assert_true(id > 0);
    assert_int_equal(ea_net_connect(&f->cl, "10.0.0.1", 1), EA_ERR_LIMIT);
    assert_int_equal(ea_timer_set(&f->cl, 1, 0), EA_ERR_LIMIT);
    /* Requests that create nothing still go. */
    assert_true(ea_timer_cancel(&f->cl, 100) > 0);
    ea_sys_msg_t req = srv_take(f, NULL, 0);
    ea_sys_msg_t cancel = srv_take(f, NULL, 0);
    assert_int_equal(cancel.op, EA_TIMER_CANCEL);
    assert_int_equal(req.req_id, (uint64_t)id);
    srv_reply(f, &req, 70000, NULL, 0); /* not among the owned 100.. */
    ea_sys_event_t ev = accept_one(f);
    ea_cargo_release(&ev.cargo);
    assert_int_equal(f->cl.nhandles, EA_SYS_MAX_HANDLES);
    assert_int_equal(ea_timer_set(&f->cl, 1, 0), EA_ERR_LIMIT);
    srv_reply(f, &cancel, 0, NULL, 0);
    ev = accept_one(f);
    ea_cargo_release(&ev.cargo);
    assert_false(ea_sys_owns(&f->cl, 100));
    own(f, ea_timer_set(&f->cl, 1, 0), 100);
}

static void test_log(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(ea_log(&f->cl, "answer=%d %s\n", 42, "ok"), EA_OK);
    char p[MAX];
    ea_sys_msg_t m = srv_take(f, p, sizeof p);
    assert_int_equal(m.magic, EA_SYS_MAGIC);
    assert_int_equal(m.op, EA_LOG);
    assert_int_equal(m.handle, -1);
    assert_int_equal(m.len, 12);
    assert_memory_equal(p, "answer=42 ok", 12);
    assert_int_equal(f->cl.npending, 0);

    /* Longer than the channel: truncated to what fits. */
    static char longer[2 * MAX];
    memset(longer, 'z', sizeof longer - 1);
    assert_int_equal(ea_log(&f->cl, "%s", longer), EA_OK);
    m = srv_take(f, p, sizeof p);
    assert_int_equal(m.len, MAX - HDR - 1);
    assert_int_equal(p[0], 'z');
    assert_int_equal(p[m.len - 1], 'z');
    assert_int_equal(ea_log(&f->cl, "%s", ""), EA_OK);
    m = srv_take(f, p, sizeof p);
    assert_int_equal(m.len, 0);
}

static void test_back_pressure(void **state)
{
    struct fixture *f = *state;
    /* The channel has NODES nodes: the next request reports NOBUFS and
     * consumes neither an id nor a pending entry. */
    for (int i = 0; i < NODES; i++)
        assert_true(ea_file_stat(&f->cl, "f") > 0);
    uint64_t next = f->cl.next_id;
    assert_int_equal(ea_file_stat(&f->cl, "f"), EA_ERR_NOBUFS);
    assert_int_equal(ea_log(&f->cl, "x"), EA_ERR_NOBUFS);
    assert_int_equal(f->cl.next_id, next);
    assert_int_equal(f->cl.npending, NODES);
    for (int i = 0; i < NODES; i++)
        (void)srv_take(f, NULL, 0);
}

static void test_strstatus(void **state)
{
    (void)state;
    assert_string_equal(ea_sys_strstatus(0), "ok");
    assert_string_equal(ea_sys_strstatus(123), "ok");
    const int32_t codes[] = {EA_SYS_RESET,   EA_SYS_REFUSED, EA_SYS_ADDRINUSE, EA_SYS_BADHANDLE,
                             EA_SYS_NOENT,   EA_SYS_IO,      EA_SYS_LIMIT,     EA_SYS_PIPE,
                             EA_SYS_HANDLES, EA_SYS_TIMERS,  EA_SYS_QUEUED,    EA_ERR_PERM};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = ea_sys_strstatus(codes[i]);
        assert_non_null(s);
        assert_string_not_equal(s, "unknown error");
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, ea_sys_strstatus(codes[j]));
    }
    assert_string_equal(ea_sys_strstatus(EA_ERR_PERM), ea_strerror(EA_ERR_PERM));
    assert_string_equal(ea_sys_strstatus(-99), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_good_completions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_completions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unowned_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handle_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_back_pressure, setup, teardown),
        cmocka_unit_test(test_strstatus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
