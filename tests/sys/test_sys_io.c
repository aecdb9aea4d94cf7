/*
 * Unit tests of the I/O path's copy-free calls, on the system actor run
 * in-process (sys_harness.h) and spoken to through the client API
 * (ea_sys_client_t): a SEND written straight into its message
 * (ea_net_send_alloc / ea_net_send_commit / ea_net_send_release) and its
 * refusals, a TLS connection's output sent that way (ea_net_send_tls), and receives that the system
 * actor writes straight into the completion's node, including many in a row and one larger than the
 * socket's first read; batched completions (EA_SYS_BATCH) and what a
 * hostile host could put in a batch; held requests sent as one batch
 * (ea_sys_client_hold, ea_sys_flush) and what a requester could put in
 * one. Every test ends by checking that the system actor
 * closed every descriptor it made and that the channel's nodes all came
 * back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sys_harness.h"
#include "tls_pair.h"

#define STEPS 2000 /* body steps to wait for one completion */
#define NODES 64u  /* nodes of the channel */
#define MAXB 8192u /* bytes per node */

struct fx {
    struct sys_harness *h;
    ea_sys_client_t *cl;
    uint16_t ports[1];
    int fds;
    int32_t out, in; /* connecting and accepted ends */
    bool pair;       /* made (else the port was taken: the test skips) */
};

static void pause_1ms(void)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

/* Steps the system actor until the client has the completion of request
 * `id` (a TIMER_FIRE never comes here); copies its payload into buf. */
static int32_t wait_for(struct fx *f, int64_t id, char *buf, size_t cap, uint32_t *len)
{
    assert_true(id > 0);
    for (int i = 0; i < STEPS; i++) {
        (void)sys_h_step(f->h);
        ea_sys_event_t ev;
        int rc = ea_sys_recv(f->cl, &ev);
        if (rc == EA_ERR_EMPTY) {
            pause_1ms();
            continue;
        }
        assert_int_equal(rc, EA_OK);
        assert_true(ev.msg.req_id == (uint64_t)id);
        if (buf != NULL) {
            assert_true(ev.msg.len <= cap);
            memcpy(buf, ev.data, ev.msg.len);
        }
        if (len != NULL)
            *len = ev.msg.len;
        int32_t st = ev.msg.status;
        ea_cargo_release(&ev.cargo);
        return st;
    }
    fail_msg("no completion for request %lld", (long long)id);
    return 0;
}

/* True if a completion comes within `steps` steps (it is dropped). */
static bool any_completion(struct fx *f, int steps)
{
    for (int i = 0; i < steps; i++) {
        (void)sys_h_step(f->h);
        ea_sys_event_t ev;
        if (ea_sys_recv(f->cl, &ev) == EA_OK) {
            ea_cargo_release(&ev.cargo);
            return true;
        }
    }
    return false;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->cl = malloc(sizeof *f->cl);
    assert_non_null(f->cl);
    f->fds = sys_h_fds();
    f->h = sys_h_new(1, NODES, MAXB);
    assert_non_null(f->h);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    f->ports[0] = (uint16_t)(20000 + rand() % 30000);
    eai_dep_grant_t *g = sys_h_grant(f->h, 0);
    g->listen = g->connect = f->ports;
    g->nlisten = g->nconnect = 1;
    assert_int_equal(sys_h_start(f->h), EA_OK);
    ea_sys_client_init(f->cl, sys_h_conn(f->h, 0));
    *state = f;
    /* A connected pair through the system actor. */
    int32_t l = wait_for(f, ea_net_listen(f->cl, "127.0.0.1", f->ports[0]), NULL, 0, NULL);
    if (l == EA_SYS_ADDRINUSE)
        return 0; /* the test skips */
    assert_true(l >= 0);
    f->out = wait_for(f, ea_net_connect(f->cl, "127.0.0.1", f->ports[0]), NULL, 0, NULL);
    assert_true(f->out >= 0);
    f->in = wait_for(f, ea_net_accept(f->cl, l), NULL, 0, NULL);
    assert_true(f->in >= 0);
    assert_int_equal(wait_for(f, ea_net_close(f->cl, l), NULL, 0, NULL), 0);
    f->pair = true;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    assert_int_equal(f->cl->rejected, 0u);
    assert_int_equal(sys_h_free(f->h), EA_DONE);
    /* Every descriptor the system actor made is closed again. */
    assert_int_equal(sys_h_fds(), f->fds);
    free(f->cl);
    free(f);
    return 0;
}

/* Sends len bytes of data on `out` with the copy-free calls; returns the
 * completion's status. */
static int32_t send_inplace(struct fx *f, const void *data, uint32_t len)
{
    ea_net_sendbuf_t sb;
    assert_int_equal(ea_net_send_alloc(f->cl, f->out, len > 0 ? len : 1, &sb), EA_OK);
    assert_true(sb.room >= len);
    memcpy(sb.data, data, len);
    int64_t id = ea_net_send_commit(f->cl, &sb, len);
    assert_null(sb.data);
    return wait_for(f, id, NULL, 0, NULL);
}

static void test_send_inplace(void **state)
{
    struct fx *f = *state;
    if (!f->pair)
        skip();
    char buf[MAXB];
    uint32_t len;
    assert_int_equal(send_inplace(f, "hello", 5), 5);
    assert_int_equal(wait_for(f, ea_net_recv(f->cl, f->in, 100), buf, sizeof buf, &len), 5);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "hello", 5);
    /* An empty commit is an empty send. */
    assert_int_equal(send_inplace(f, "", 0), 0);
    /* The room is cut to what one message carries. */
    ea_net_sendbuf_t sb;
    assert_int_equal(ea_net_send_alloc(f->cl, f->out, UINT32_MAX, &sb), EA_OK);
    assert_int_equal(sb.room, (uint32_t)EA_SYS_PAYLOAD_MAX(f->cl->conn));
    /* A commit of more than the room is refused, and sb still holds. */
    assert_int_equal(ea_net_send_commit(f->cl, &sb, sb.room + 1), EA_ERR_INVAL);
    assert_non_null(sb.data);
    memset(sb.data, 'z', sb.room);
    assert_int_equal(wait_for(f, ea_net_send_commit(f->cl, &sb, sb.room), NULL, 0, NULL),
                     (int32_t)EA_SYS_PAYLOAD_MAX(f->cl->conn));
    uint32_t got = 0;
    while (got < EA_SYS_PAYLOAD_MAX(f->cl->conn)) {
        int32_t n = wait_for(f, ea_net_recv(f->cl, f->in, MAXB), buf, sizeof buf, &len);
        assert_true(n > 0);
        for (int32_t i = 0; i < n; i++)
            assert_int_equal(buf[i], 'z');
        got += (uint32_t)n;
    }
    assert_int_equal(got, (uint32_t)EA_SYS_PAYLOAD_MAX(f->cl->conn));
    assert_int_equal(wait_for(f, ea_net_close(f->cl, f->out), NULL, 0, NULL), 0);
    assert_int_equal(wait_for(f, ea_net_recv(f->cl, f->in, 100), NULL, 0, NULL), 0);
    assert_int_equal(wait_for(f, ea_net_close(f->cl, f->in), NULL, 0, NULL), 0);
}

/* ea_net_send_tls: the output of the client side of an in-memory TLS pair
 * (20,000 bytes of data) goes out on `out` as SENDs written straight into
 * their messages, each at most the spill buffer's size; every one
 * completes, and the server side, fed what arrives on `in`, reads the data
 * back byte for byte. */
static void test_send_tls(void **state)
{
    struct fx *f = *state;
    if (!f->pair)
        skip();
    struct tls_pair p;
    char who;
    static char data[20000], spill[4096], buf[MAXB], got[sizeof data];
    assert_int_equal(pair_new(&p, 0, "localhost", EA_TLS_1_2, EA_TLS_1_3), EA_OK);
    assert_int_equal(pair_handshake(&p, &who), EA_OK);
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i * 7 + 1);
    assert_int_equal(ea_tls_write(p.c, data, sizeof data), (int)sizeof data);
    size_t out = ea_tls_pending(p.c);
    assert_true(out > sizeof data);
    uint32_t spilled = 99;
    unsigned n = ea_net_send_tls(f->cl, f->out, p.c, spill, sizeof spill, &spilled);
    assert_int_equal(spilled, 0);
    assert_int_equal(ea_tls_pending(p.c), 0);
    assert_true(n >= (out + sizeof spill - 1) / sizeof spill);
    /* Every SEND completes, with its length: together, all of `out`. */
    size_t sent = 0;
    for (unsigned k = 0; k < n;) {
        (void)sys_h_step(f->h);
        ea_sys_event_t ev;
        if (ea_sys_recv(f->cl, &ev) != EA_OK) {
            pause_1ms();
            continue;
        }
        assert_int_equal(ev.msg.op, EA_NET_SEND | EA_SYS_DONE);
        assert_true(ev.msg.status > 0 && (size_t)ev.msg.status <= sizeof spill);
        sent += (size_t)ev.msg.status;
        ea_cargo_release(&ev.cargo);
        k++;
    }
    assert_int_equal(sent, out);
    /* The other end reads the records back. */
    size_t have = 0, carried = 0;
    while (carried < out) {
        uint32_t len;
        int32_t r = wait_for(f, ea_net_recv(f->cl, f->in, MAXB), buf, sizeof buf, &len);
        assert_true(r > 0);
        carried += (size_t)r;
        assert_int_equal(ea_tls_feed(p.s, buf, (size_t)r), EA_OK);
        int m;
        while ((m = ea_tls_read(p.s, got + have, sizeof got - have)) > 0)
            have += (size_t)m;
        assert_true(m == EA_ERR_EMPTY || have == sizeof got);
    }
    assert_int_equal(have, sizeof data);
    assert_memory_equal(got, data, sizeof data);
    /* Nothing waiting: no SEND, nothing spilled. */
    assert_int_equal(ea_net_send_tls(f->cl, f->out, p.c, spill, sizeof spill, &spilled), 0u);
    assert_int_equal(spilled, 0);
    pair_free(&p);
    assert_int_equal(wait_for(f, ea_net_close(f->cl, f->out), NULL, 0, NULL), 0);
    assert_int_equal(wait_for(f, ea_net_close(f->cl, f->in), NULL, 0, NULL), 0);
}

static void test_send_release_and_refusals(void **state)
{
    struct fx *f = *state;
    if (!f->pair)
        skip();
    ea_net_sendbuf_t sb;
    /* Released unsent: nothing reaches the system actor. */
    assert_int_equal(ea_net_send_alloc(f->cl, f->out, 64, &sb), EA_OK);
    memcpy(sb.data, "never", 5);
    uint32_t before = f->cl->npending;
    ea_net_send_release(&sb);
    assert_null(sb.data);
    ea_net_send_release(&sb); /* twice: a no-op */
    assert_int_equal(f->cl->npending, before);
    assert_false(any_completion(f, 20));
    /* Every node can still be had: none was lost by the release. */
    ea_net_sendbuf_t all[NODES];
    unsigned n = 0;
    while (n < NODES && ea_net_send_alloc(f->cl, f->out, 8, &all[n]) == EA_OK)
        n++;
    assert_int_equal(n, NODES);
    assert_int_equal(ea_net_send_alloc(f->cl, f->out, 8, &sb), EA_ERR_NOBUFS);
    assert_null(sb.data);
    for (unsigned i = 0; i < n; i++)
        ea_net_send_release(&all[i]);
    /* Handles the client does not own, and bad arguments. */
    assert_int_equal(ea_net_send_alloc(f->cl, 12345, 8, &sb), EA_ERR_PERM);
    assert_int_equal(ea_net_send_alloc(f->cl, f->out, 0, &sb), EA_ERR_INVAL);
    assert_int_equal(ea_net_send_alloc(NULL, f->out, 8, &sb), EA_ERR_INVAL);
    assert_int_equal(ea_net_send_commit(f->cl, &sb, 0), EA_ERR_INVAL);
    /* A handle closed between alloc and commit: refused, sb still holds. */
    assert_int_equal(ea_net_send_alloc(f->cl, f->out, 8, &sb), EA_OK);
    assert_int_equal(wait_for(f, ea_net_close(f->cl, f->out), NULL, 0, NULL), 0);
    assert_int_equal(ea_net_send_commit(f->cl, &sb, 4), EA_ERR_PERM);
    assert_non_null(sb.data);
    ea_net_send_release(&sb);
    assert_int_equal(wait_for(f, ea_net_recv(f->cl, f->in, 100), NULL, 0, NULL), 0);
    assert_int_equal(wait_for(f, ea_net_close(f->cl, f->in), NULL, 0, NULL), 0);
}

/* Many receives in a row, each answered from a node the system actor
 * filled directly, with the bytes in order; and a receive smaller than
 * what is there takes the rest next. */
static void test_recv_into_nodes(void **state)
{
    struct fx *f = *state;
    if (!f->pair)
        skip();
    char buf[MAXB], msg[64];
    uint32_t len;
    for (int i = 0; i < 500; i++) {
        int m = snprintf(msg, sizeof msg, "message %d", i);
        assert_int_equal(send_inplace(f, msg, (uint32_t)m), m);
        assert_int_equal(wait_for(f, ea_net_recv(f->cl, f->in, 100), buf, sizeof buf, &len), m);
        assert_memory_equal(buf, msg, (size_t)m);
    }
    assert_int_equal(send_inplace(f, "0123456789", 10), 10);
    assert_int_equal(wait_for(f, ea_net_recv(f->cl, f->in, 4), buf, sizeof buf, &len), 4);
    assert_memory_equal(buf, "0123", 4);
    assert_int_equal(wait_for(f, ea_net_recv(f->cl, f->in, 100), buf, sizeof buf, &len), 6);
    assert_memory_equal(buf, "456789", 6);
    assert_int_equal(wait_for(f, ea_net_close(f->cl, f->out), NULL, 0, NULL), 0);
    assert_int_equal(wait_for(f, ea_net_recv(f->cl, f->in, 100), NULL, 0, NULL), 0);
    assert_int_equal(wait_for(f, ea_net_close(f->cl, f->in), NULL, 0, NULL), 0);
}

/* Completions of one round come in one EA_SYS_BATCH message, each still
 * checked and returned on its own, in the order of the requests. */
static void test_batch(void **state)
{
    struct fx *f = *state;
    if (!f->pair)
        skip();
    ea_sys_client_batch(f->cl, true);
    enum { N = 20 };
    int64_t ids[N];
    char msg[32];
    for (int i = 0; i < N; i++) {
        int m = snprintf(msg, sizeof msg, "m%02d", i);
        ids[i] = ea_net_send(f->cl, f->out, msg, (uint32_t)m);
        assert_true(ids[i] > 0);
    }
    int64_t rid = ea_net_recv(f->cl, f->in, 4 * N);
    assert_true(rid > 0);
    /* One step takes every request: 20 send completions and a receive
     * (of at least the first message's bytes) in one message. */
    (void)sys_h_step(f->h);
    ea_sys_event_t ev;
    for (int i = 0; i < N; i++) {
        assert_int_equal(ea_sys_recv(f->cl, &ev), EA_OK);
        assert_true(ev.msg.req_id == (uint64_t)ids[i]);
        assert_int_equal(ev.msg.op, EA_NET_SEND | EA_SYS_DONE);
        assert_int_equal(ev.msg.status, 3);
        assert_null(ev.cargo.conn);  /* out of a batch */
        ea_cargo_release(&ev.cargo); /* a no-op */
    }
    /* The receive's bytes were written into the batch directly. */
    for (int k = 0; k < STEPS; k++) {
        int rc = ea_sys_recv(f->cl, &ev);
        if (rc == EA_OK)
            break;
        assert_int_equal(rc, EA_ERR_EMPTY);
        (void)sys_h_step(f->h);
        pause_1ms();
    }
    assert_true(ev.msg.req_id == (uint64_t)rid);
    assert_true(ev.msg.status >= 3);
    assert_memory_equal(ev.data, "m00", 3);
    ea_cargo_release(&ev.cargo);
    assert_int_equal(ea_sys_recv(f->cl, &ev), EA_ERR_EMPTY);
    /* A lone completion still travels alone (a cargo of its own). */
    int64_t id = ea_net_send(f->cl, f->out, "x", 1);
    (void)sys_h_step(f->h);
    assert_int_equal(ea_sys_recv(f->cl, &ev), EA_OK);
    assert_true(ev.msg.req_id == (uint64_t)id);
    assert_non_null(ev.cargo.conn);
    ea_cargo_release(&ev.cargo);
    ea_sys_client_batch(f->cl, false);
    assert_int_equal(wait_for(f, ea_net_close(f->cl, f->out), NULL, 0, NULL), 0);
    assert_int_equal(wait_for(f, ea_net_close(f->cl, f->in), NULL, 0, NULL), 0);
}

/* Sends a forged batch from the host's end: the outer header (arg = n)
 * and the records (headers recs[], payloads[] or none) laid out as the
 * system actor lays them out. */
static void forge(struct fx *f, uint32_t n, const ea_sys_msg_t *recs, unsigned nrec,
                  const char *const *payloads)
{
    ea_conn_t *c = sys_h_sys_conn(f->h, 0);
    ea_cargo_t cg;
    assert_int_equal(ea_cargo_alloc(c, MAXB, &cg), EA_OK);
    uint8_t *p = cg.data;
    size_t off = sizeof(ea_sys_msg_t);
    for (unsigned i = 0; i < nrec; i++) {
        memcpy(p + off, &recs[i], sizeof recs[i]);
        size_t plen = payloads != NULL && payloads[i] != NULL ? strlen(payloads[i]) : 0;
        if (plen > 0)
            memcpy(p + off + sizeof recs[i], payloads[i], plen);
        off += (sizeof recs[i] + plen + 7u) & ~(size_t)7u;
    }
    ea_sys_msg_t m = {.magic = EA_SYS_MAGIC,
                      .op = EA_SYS_BATCH | EA_SYS_DONE,
                      .handle = -1,
                      .len = (uint32_t)(off - sizeof m),
                      .arg = n};
    memcpy(p, &m, sizeof m);
    cg.len = off;
    assert_int_equal(ea_cargo_send(&cg), EA_OK);
}

/* What a hostile host could put in a batch: refused, and nothing a real
 * completion still to come needs is lost. */
static void test_batch_hostile(void **state)
{
    struct fx *f = *state;
    if (!f->pair)
        skip();
    ea_sys_event_t ev;
    /* Not asked for: a batch is refused whole. */
    ea_sys_client_batch(f->cl, false);
    int64_t a = ea_net_send(f->cl, f->out, "ab", 2);
    int64_t b = ea_net_send(f->cl, f->out, "cd", 2);
    ea_sys_msg_t ra = {.magic = EA_SYS_MAGIC,
                       .op = EA_NET_SEND | EA_SYS_DONE,
                       .req_id = (uint64_t)a,
                       .handle = f->out,
                       .status = 2};
    ea_sys_msg_t rb = ra;
    rb.req_id = (uint64_t)b;
    ea_sys_msg_t two[2] = {ra, rb};
    forge(f, 2, two, 2, NULL);
    uint32_t rej = f->cl->rejected;
    assert_int_equal(ea_sys_recv(f->cl, &ev), EA_ERR_CORRUPT);
    assert_int_equal(f->cl->rejected, rej + 1);
    ea_sys_client_batch(f->cl, true);
    /* A record longer than what is left: the batch is dropped whole. */
    ea_sys_msg_t longrec[2] = {ra, rb};
    longrec[1].len = 5000;
    forge(f, 2, longrec, 2, NULL);
    assert_int_equal(ea_sys_recv(f->cl, &ev), EA_OK); /* the first is fine */
    assert_true(ev.msg.req_id == (uint64_t)a);
    assert_int_equal(ea_sys_recv(f->cl, &ev), EA_ERR_CORRUPT);
    /* More records announced than there are: the rest is refused. */
    int64_t c = ea_net_send(f->cl, f->out, "ef", 2);
    ea_sys_msg_t rc1 = ra;
    rc1.req_id = (uint64_t)c;
    forge(f, 3, (ea_sys_msg_t[]){rb, rc1}, 2, NULL);
    assert_int_equal(ea_sys_recv(f->cl, &ev), EA_OK);
    assert_true(ev.msg.req_id == (uint64_t)b);
    assert_int_equal(ea_sys_recv(f->cl, &ev), EA_OK);
    assert_true(ev.msg.req_id == (uint64_t)c);
    assert_int_equal(ea_sys_recv(f->cl, &ev), EA_ERR_CORRUPT);
    /* A record that answers no request, one that says more bytes than
     * asked, and a nested batch: each refused, the good one between them
     * still taken. */
    int64_t r = ea_net_recv(f->cl, f->in, 4);
    int64_t d = ea_net_send(f->cl, f->out, "gh", 2);
    ea_sys_msg_t bad_id = ra;
    bad_id.req_id = 999999;
    ea_sys_msg_t too_much = {.magic = EA_SYS_MAGIC,
                             .op = EA_NET_RECV | EA_SYS_DONE,
                             .req_id = (uint64_t)r,
                             .handle = f->in,
                             .status = 8,
                             .len = 8};
    ea_sys_msg_t nested = {
        .magic = EA_SYS_MAGIC, .op = EA_SYS_BATCH | EA_SYS_DONE, .handle = -1, .arg = 2};
    ea_sys_msg_t rd = ra;
    rd.req_id = (uint64_t)d;
    const char *pl[4] = {NULL, "12345678", NULL, NULL};
    forge(f, 4, (ea_sys_msg_t[]){bad_id, too_much, nested, rd}, 4, pl);
    assert_int_equal(ea_sys_recv(f->cl, &ev), EA_ERR_CORRUPT);
    assert_int_equal(ea_sys_recv(f->cl, &ev), EA_ERR_CORRUPT);
    assert_int_equal(ea_sys_recv(f->cl, &ev), EA_ERR_CORRUPT);
    assert_int_equal(ea_sys_recv(f->cl, &ev), EA_OK);
    assert_true(ev.msg.req_id == (uint64_t)d);
    assert_int_equal(ea_sys_recv(f->cl, &ev), EA_ERR_EMPTY);
    /* The real completions of a..d and r still come and are refused as
     * duplicates (a..d) or taken (r). */
    f->cl->rejected = 0;
    bool got_r = false;
    for (int k = 0; k < STEPS && !got_r; k++) {
        (void)sys_h_step(f->h);
        int rc;
        while ((rc = ea_sys_recv(f->cl, &ev)) != EA_ERR_EMPTY) {
            if (rc == EA_OK) {
                assert_true(ev.msg.req_id == (uint64_t)r);
                assert_int_equal(ev.msg.status, 4);
                got_r = true;
            }
            ea_cargo_release(&ev.cargo);
        }
    }
    assert_true(got_r);
    assert_int_equal(f->cl->rejected, 4u);
    f->cl->rejected = 0;
    ea_sys_client_batch(f->cl, false);
    assert_int_equal(wait_for(f, ea_net_close(f->cl, f->out), NULL, 0, NULL), 0);
    assert_int_equal(wait_for(f, ea_net_close(f->cl, f->in), NULL, 0, NULL), 0);
}

/* Held requests go out together at ea_sys_flush, in order, and are served
 * as if they had come alone; a SEND written in place goes into the held
 * batch too. */
static void test_hold(void **state)
{
    struct fx *f = *state;
    if (!f->pair)
        skip();
    ea_sys_client_hold(f->cl, true);
    ea_sys_client_batch(f->cl, true);
    int64_t a = ea_net_send(f->cl, f->out, "one ", 4);
    ea_net_sendbuf_t sb;
    assert_int_equal(ea_net_send_alloc(f->cl, f->out, 100, &sb), EA_OK);
    assert_null(sb.cargo.conn); /* room in the held batch */
    memcpy(sb.data, "two ", 4);
    int64_t b = ea_net_send_commit(f->cl, &sb, 4);
    assert_true(a > 0 && b > a);
    /* Misuse: another request between alloc and commit is refused. */
    assert_int_equal(ea_net_send_alloc(f->cl, f->out, 100, &sb), EA_OK);
    int64_t c = ea_net_send(f->cl, f->out, "three", 5);
    assert_int_equal(ea_net_send_commit(f->cl, &sb, 4), EA_ERR_INVAL);
    ea_net_send_release(&sb);
    /* Nothing has left yet. */
    assert_false(any_completion(f, 5));
    assert_int_equal(f->cl->ocount, 3u);
    assert_int_equal(ea_sys_flush(f->cl), EA_OK);
    assert_int_equal(f->cl->ocount, 0u);
    assert_int_equal(ea_sys_flush(f->cl), EA_OK); /* nothing held: no-op */
    int64_t ids[3] = {a, b, c};
    int32_t want[3] = {4, 4, 5};
    for (int i = 0; i < 3; i++)
        assert_int_equal(wait_for(f, ids[i], NULL, 0, NULL), want[i]);
    /* Off flushes; the receive sees every byte in order. */
    int64_t r = ea_net_recv(f->cl, f->in, 100);
    ea_sys_client_hold(f->cl, false);
    char buf[128];
    uint32_t len;
    uint32_t got = 0;
    int32_t n = wait_for(f, r, buf, sizeof buf, &len);
    assert_true(n > 0);
    got = (uint32_t)n;
    while (got < 13) {
        n = wait_for(f, ea_net_recv(f->cl, f->in, 100), buf + got, sizeof buf - got, &len);
        assert_true(n > 0);
        got += (uint32_t)n;
    }
    assert_int_equal(got, 13u);
    assert_memory_equal(buf, "one two three", 13);
    ea_sys_client_batch(f->cl, false);
    assert_int_equal(wait_for(f, ea_net_close(f->cl, f->out), NULL, 0, NULL), 0);
    assert_int_equal(wait_for(f, ea_net_close(f->cl, f->in), NULL, 0, NULL), 0);
}

/* Request batches a requester could forge: a record longer than what is
 * left, fewer records than announced, a nested batch. The system actor
 * answers the overlong record with EA_ERR_INVAL, drops the nested batch
 * unanswered (its answer would read as a batch of completions) and
 * serves the good records. */
static void test_request_batch_hostile(void **state)
{
    struct fx *f = *state;
    if (!f->pair)
        skip();
    uint8_t p[512];
    memset(p, 0, sizeof p);
    const size_t hdr = sizeof(ea_sys_msg_t);
    /* Record 1: a good SEND of "ok" on `out` (id 900001). Record 2: a
     * nested batch (900002). Record 3: claims 400 bytes of 8 left
     * (900003). The outer header announces 5. */
    ea_sys_msg_t r1 = {
        .magic = EA_SYS_MAGIC, .op = EA_NET_SEND, .req_id = 900001, .handle = f->out, .len = 2};
    ea_sys_msg_t r2 = {
        .magic = EA_SYS_MAGIC, .op = EA_SYS_BATCH, .req_id = 900002, .handle = -1, .arg = 2};
    ea_sys_msg_t r3 = {
        .magic = EA_SYS_MAGIC, .op = EA_NET_SEND, .req_id = 900003, .handle = f->out, .len = 400};
    size_t off = 0;
    memcpy(p + off, &r1, hdr);
    memcpy(p + off + hdr, "ok", 2);
    off += (hdr + 2 + 7) & ~(size_t)7;
    memcpy(p + off, &r2, hdr);
    off += hdr;
    memcpy(p + off, &r3, hdr);
    off += hdr + 8;
    ea_sys_msg_t outer = {.op = EA_SYS_BATCH, .req_id = 900000, .handle = -1, .arg = 5};
    assert_int_equal(sys_h_send(f->h, 0, outer, p, (uint32_t)off), EA_OK);
    ea_sys_msg_t m;
    char buf[300];
    bool seen[4] = {false, false, false, false};
    while (sys_h_recv(f->h, 0, &m, buf, sizeof buf, 50)) {
        assert_true(m.req_id == 900001 || m.req_id == 900003); /* not the nested one */
        assert_int_not_equal(m.op, EA_SYS_BATCH | EA_SYS_DONE);
        seen[m.req_id - 900000] = true;
        if (m.req_id == 900001)
            assert_int_equal(m.status, 2);
        else
            assert_int_equal(m.status, EA_ERR_INVAL);
    }
    assert_true(seen[1] && !seen[2] && seen[3]);
    /* The bytes of the good record arrived. */
    ea_sys_msg_t rq = {.op = EA_NET_RECV, .req_id = 900010, .handle = f->in, .arg = 100};
    assert_int_equal(sys_h_send(f->h, 0, rq, NULL, 0), EA_OK);
    assert_true(sys_h_recv(f->h, 0, &m, buf, sizeof buf, STEPS));
    assert_int_equal(m.status, 2);
    assert_memory_equal(buf, "ok", 2);
    assert_int_equal(wait_for(f, ea_net_close(f->cl, f->out), NULL, 0, NULL), 0);
    assert_int_equal(wait_for(f, ea_net_close(f->cl, f->in), NULL, 0, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_send_inplace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_release_and_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recv_into_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_batch_hostile, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
