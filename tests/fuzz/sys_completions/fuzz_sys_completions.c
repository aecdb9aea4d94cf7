/*
 * Fuzz target: the client helpers of the system actors (src/sys/client.c)
 * against a hostile system actor. The input is a script: the client issues
 * requests (ea_net_*, ea_file_*, ea_timer_*), and the "system actor" (the
 * fuzzer, at the other end of a connector pair) answers with completions
 * made from input bytes: forged from a pending request with fields changed,
 * raw bytes, TIMER_FIRE messages, or batches (EA_SYS_BATCH) of forged
 * records with a true or forged outer header; the client may ask for
 * batches and hold its requests (first input byte). A model kept here beside the client
 * says what may be accepted: a completion of a request the client issued and
 * has not seen answered (same op, same handle), never more bytes than asked,
 * a new handle the client does not own, a FIRE only for a timer it owns.
 * Whatever ea_sys_recv accepts must satisfy the model, what it refuses must
 * change nothing, and ea_sys_owns must agree with the model throughout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <eactors/ea_sys.h>

#include "conn_pair.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NODES 16
#define MAX 512
#define HDR ((uint32_t)sizeof(ea_sys_msg_t))
#define MP 64 /* requests in flight the model tracks */
#define MH 64 /* handles the model tracks */

struct pend {
    uint64_t id;
    uint16_t op;
    int32_t handle;
    uint32_t max;
};

static struct {
    struct pend p[MP];
    int np;
    int32_t h[MH];
    bool timer[MH];
    int nh;
} md;

static int owned(int32_t h)
{
    for (int i = 0; i < md.nh; i++)
        if (md.h[i] == h)
            return i;
    return -1;
}

static bool creates(uint16_t op)
{
    return op == EA_NET_LISTEN || op == EA_NET_ACCEPT || op == EA_NET_CONNECT ||
           op == EA_FILE_OPEN || op == EA_TIMER_SET;
}

/* The client issues one request chosen by the input. */
static void issue(ea_sys_client_t *cl, struct in *in)
{
    uint32_t what = take(in, 1) % 12, hsel = take(in, 1), n = take(in, 1);
    int32_t h = md.nh > 0 && hsel < 200 ? md.h[hsel % (uint32_t)md.nh] : (int32_t)hsel - 100;
    char data[300];
    memset(data, 'x', sizeof data);
    int64_t id = 0;
    uint16_t op = 0;
    uint32_t max = 0;
    switch (what) {
    case 0: op = EA_NET_LISTEN, id = ea_net_listen(cl, "127.0.0.1", 80); break;
    case 1: op = EA_NET_ACCEPT, id = ea_net_accept(cl, h); break;
    case 2: op = EA_NET_CONNECT, id = ea_net_connect(cl, "127.0.0.1", 80); break;
    case 3: op = EA_NET_RECV, max = n + 1, id = ea_net_recv(cl, h, n + 1); break;
    case 4: op = EA_NET_SEND, max = n, id = ea_net_send(cl, h, data, n); break;
    case 5: op = EA_NET_CLOSE, id = ea_net_close(cl, h); break;
    case 6: op = EA_FILE_OPEN, id = ea_file_open(cl, "/srv/a", 0); break;
    case 7: op = EA_FILE_READ, max = n + 1, id = ea_file_read(cl, h, 0, n + 1); break;
    case 8: op = EA_FILE_WRITE, max = n, id = ea_file_write(cl, h, 0, data, n); break;
    case 9: op = EA_FILE_CLOSE, id = ea_file_close(cl, h); break;
    case 10: op = EA_TIMER_SET, id = ea_timer_set(cl, 1000, 0); break;
    default: op = EA_TIMER_CANCEL, id = ea_timer_cancel(cl, h); break;
    }
    bool needs = !(creates(op) && op != EA_NET_ACCEPT);
    int oi = owned(h);
    bool timer_op = op == EA_TIMER_CANCEL;
    /* A request on a handle the client does not own (of the right kind) is
     * refused without sending anything. */
    bool may = !needs || (oi >= 0 && md.timer[oi] == timer_op);
    if (!may) {
        if (id != EA_ERR_PERM)
            abort();
        return;
    }
    if (id <= 0)
        return; /* channel full, or a limit: nothing sent */
    if (md.np == MP)
        abort(); /* the script never has that many: see below */
    md.p[md.np++] = (struct pend){(uint64_t)id, op, needs ? h : -1, max};
}

/* One forged completion record of a batch into rec (room bytes): a
 * pending request's completion with fields changed, or raw bytes. Returns
 * the bytes it takes (8-aligned), 0 if it does not fit. */
static uint32_t forge_record(uint8_t *rec, uint32_t room, struct in *in)
{
    ea_sys_msg_t m = {.magic = EA_SYS_MAGIC};
    uint32_t flip = take(in, 1), len;
    if (md.np > 0 && !(flip & 128)) {
        struct pend *p = &md.p[take(in, 1) % (uint32_t)md.np];
        m.op = p->op | EA_SYS_DONE;
        m.req_id = p->id;
        m.handle = p->handle;
        m.status = (int32_t)(take(in, 2) % 300);
        if (flip & 1)
            m.status = -(int32_t)take(in, 1);
        if (flip & 2)
            m.handle = (int32_t)take(in, 1) - 10;
        if (flip & 4)
            m.op ^= (uint16_t)take(in, 2);
        if (flip & 8)
            m.req_id += take(in, 1);
        len = m.status > 0 ? (uint32_t)m.status : 0;
        if (flip & 16)
            len = take(in, 1);
    } else {
        m.op = (uint16_t)take(in, 2);
        m.req_id = take(in, 2);
        len = take(in, 1);
    }
    uint32_t need = (HDR + len + 7u) & ~7u;
    if (need > room)
        return 0;
    m.len = len;
    if (flip & 32)
        m.len = take(in, 2); /* lies about its length */
    memset(rec, 'y', need);
    memcpy(rec, &m, HDR);
    return need;
}

/* The system actor sends a batch of forged completions (EA_SYS_BATCH),
 * its outer header true or changed by the input. */
static void forge_batch(struct ea_test_pair *pr, struct in *in)
{
    ea_cargo_t c;
    if (ea_cargo_alloc(&pr->cb, MAX, &c) != EA_OK)
        return;
    uint8_t *p = c.data;
    uint32_t off = HDR, n = take(in, 1) % 6;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t got = forge_record(p + off, MAX - off, in);
        if (got == 0)
            break;
        off += got;
    }
    uint32_t flip = take(in, 1);
    ea_sys_msg_t m = {.magic = EA_SYS_MAGIC,
                      .op = EA_SYS_BATCH | EA_SYS_DONE,
                      .handle = -1,
                      .len = off - HDR,
                      .arg = n};
    if (flip & 1)
        m.arg = take(in, 1);
    if (flip & 2)
        m.len = take(in, 2);
    if (flip & 4)
        off = take(in, 2) % (MAX - HDR) + HDR; /* cut or padded */
    memcpy(p, &m, HDR);
    c.len = off;
    if (ea_cargo_send(&c) != EA_OK)
        ea_cargo_release(&c);
}

/* The system actor sends one message chosen by the input. */
static void forge(struct ea_test_pair *pr, struct in *in)
{
    uint32_t kind = take(in, 1) % 5;
    if (kind == 4) {
        forge_batch(pr, in);
        return;
    }
    ea_sys_msg_t m = {.magic = EA_SYS_MAGIC};
    uint8_t raw[MAX];
    uint32_t len = 0, cargo_len;
    if (kind == 0 && md.np > 0) { /* a completion of a pending request, changed */
        struct pend *p = &md.p[take(in, 1) % (uint32_t)md.np];
        m.op = p->op | EA_SYS_DONE;
        m.req_id = p->id;
        m.handle = p->handle;
        uint32_t flip = take(in, 1);
        m.status = (int32_t)take(in, 4);
        if (flip & 1)
            m.status = (int32_t)(m.status % 300);
        if (flip & 2)
            m.handle = (int32_t)take(in, 1) - 10;
        if (flip & 4)
            m.op ^= (uint16_t)take(in, 2);
        if (flip & 8)
            m.req_id += take(in, 1);
        if (flip & 16)
            m.magic ^= take(in, 1);
        len = (flip & 32) ? take(in, 1) % (MAX - HDR) : (m.status > 0 ? (uint32_t)m.status : 0);
        if (len > MAX - HDR)
            len = MAX - HDR;
        m.len = len;
        if (flip & 64)
            m.len = take(in, 2);
        cargo_len = HDR + len;
    } else if (kind == 1) { /* a timer fire */
        m.op = EA_TIMER_FIRE;
        uint32_t sel = take(in, 1);
        m.handle = md.nh > 0 && sel < 200 ? md.h[sel % (uint32_t)md.nh] : (int32_t)sel;
        m.arg64 = take(in, 1);
        cargo_len = HDR;
    } else { /* raw bytes */
        cargo_len = take(in, 1) % MAX + 1;
        for (uint32_t i = 0; i < cargo_len; i++)
            raw[i] = (uint8_t)take(in, 1);
        ea_cargo_t c;
        if (ea_cargo_alloc(&pr->cb, cargo_len, &c) != EA_OK)
            return;
        memcpy(c.data, raw, cargo_len);
        if (ea_cargo_send(&c) != EA_OK)
            ea_cargo_release(&c);
        return;
    }
    ea_cargo_t c;
    if (ea_cargo_alloc(&pr->cb, cargo_len, &c) != EA_OK)
        return;
    memset(c.data, 0, cargo_len);
    memcpy(c.data, &m, HDR);
    if (ea_cargo_send(&c) != EA_OK)
        ea_cargo_release(&c);
}

/* Checks one message the client accepted against the model and applies it. */
static void accepted(const ea_sys_event_t *ev, size_t cargo_len)
{
    const ea_sys_msg_t *m = &ev->msg;
    if (m->magic != EA_SYS_MAGIC || cargo_len != HDR + m->len)
        abort();
    if (m->op == EA_TIMER_FIRE) {
        int oi = owned(m->handle);
        if (oi < 0 || !md.timer[oi])
            abort();
        return;
    }
    int pi = -1;
    for (int i = 0; i < md.np; i++)
        if (md.p[i].id == m->req_id)
            pi = i;
    if (pi < 0 || !(m->op & EA_SYS_DONE))
        abort(); /* an answer to nothing the client asked */
    struct pend p = md.p[pi];
    md.p[pi] = md.p[--md.np];
    if ((m->op & ~EA_SYS_DONE) != p.op || (p.handle >= 0 && m->handle != p.handle))
        abort();
    int32_t st = m->status;
    bool data = p.op == EA_NET_RECV || p.op == EA_FILE_READ;
    bool write = p.op == EA_NET_SEND || p.op == EA_FILE_WRITE;
    if (st < 0 && m->len > EA_SYS_ERRTEXT_MAX)
        abort();
    if (st >= 0 && data && ((uint32_t)st > p.max || m->len != (uint32_t)st))
        abort();
    if (st >= 0 && write && (uint32_t)st > p.max)
        abort();
    if (st >= 0 && creates(p.op)) {
        if (owned(st) >= 0 || md.nh == MH)
            abort(); /* an alias of a handle already owned */
        md.timer[md.nh] = p.op == EA_TIMER_SET;
        md.h[md.nh++] = st;
    }
    if (p.op == EA_NET_CLOSE || p.op == EA_FILE_CLOSE || p.op == EA_TIMER_CANCEL) {
        /* The handle of that kind goes: a handle of the same number made
         * since (the first closed by another close) is not this one. */
        int oi = owned(p.handle);
        if (oi >= 0 && md.timer[oi] == (p.op == EA_TIMER_CANCEL)) {
            md.h[oi] = md.h[md.nh - 1];
            md.timer[oi] = md.timer[md.nh - 1];
            md.nh--;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ea_test_pair pr;
    static ea_sys_client_t cl;
    ea_test_pair_init(&pr, NODES, MAX, "io");
    ea_sys_client_init(&cl, &pr.ca);
    memset(&md, 0, sizeof md);
    struct in in = {data, size};
    /* Batched completions and held requests, or not, by the first byte. */
    uint32_t mode = take(&in, 1);
    ea_sys_client_batch(&cl, (mode & 1) != 0);
    ea_sys_client_hold(&cl, (mode & 2) != 0);
    for (int step = 0; in.n > 0 && step < 200; step++) {
        uint32_t cmd = take(&in, 1);
        if (cmd < 100 && md.np < MP && md.nh + md.np < MH) {
            issue(&cl, &in);
            if (ea_sys_flush(&cl) != EA_OK) /* held requests, if any */
                abort();
        } else {
            forge(&pr, &in);
        }
        /* The system actor's end takes every request off the channel. */
        ea_cargo_t c;
        while (ea_cargo_recv(&pr.cb, &c) == EA_OK)
            ea_cargo_release(&c);
        ea_sys_event_t ev;
        int rc;
        while ((rc = ea_sys_recv(&cl, &ev)) != EA_ERR_EMPTY) {
            if (rc == EA_OK) {
                /* Out of a batch the event has no cargo of its own: its
                 * length was checked against what was left of the batch. */
                accepted(&ev, ev.cargo.conn != NULL ? ev.cargo.len : HDR + ev.msg.len);
                if (ev.cargo.conn == NULL && !cl.batch)
                    abort(); /* a batch the client did not ask for */
                ea_cargo_release(&ev.cargo);
            } else if (rc != EA_ERR_CORRUPT && rc != EA_ERR_LIMIT) {
                abort();
            }
        }
        /* The client and the model agree on what is owned and pending. */
        if (cl.nhandles != (uint32_t)md.nh || cl.npending != (uint32_t)md.np) {
            fprintf(stderr, "DBG step %d: client h=%u p=%u creating=%u, model h=%d p=%d\n", step,
                    cl.nhandles, cl.npending, cl.ncreating, md.nh, md.np);
            for (int i = 0; i < md.np; i++)
                fprintf(stderr, "DBG pend id=%llu op=%u h=%d\n", (unsigned long long)md.p[i].id,
                        md.p[i].op, md.p[i].handle);
            abort();
        }
        for (int i = 0; i < md.nh; i++)
            if (!ea_sys_owns(&cl, md.h[i]))
                abort();
    }
    if (ea_pool_free_count(&pr.ca.pool) != NODES)
        abort();
    ea_test_pair_fini(&pr);
    return 0;
}
