/*
 * Fuzz target: the two ends of one channel (plain or AEAD, built in-process
 * by tests/common/conn_pair.c) and a hostile host that rewrites the
 * channel's shared storage, driven by the input as a program.
 *
 * Input: one set-up byte (bit 0: AEAD; bits 1-3: nodes - 1; bits 4-6: the
 * channel maximum, from max_of[]), then operations. An operation is one
 * byte: bits 0-3 the operation, bit 4 the end (a or b; for host operations
 * on an mbox: the mbox to that end), bits 5-7 a variant; its arguments
 * follow. The program stops where the input ends. The ends do what an
 * actor may do: alloc, fill, send (also with a length above the maximum,
 * or of a received cargo), recv, release. The host writes any byte or word
 * of the pool, the mboxes and the channel's arena record, copies nodes,
 * saves node images and replays them later, pushes and pops arbitrary
 * values, and sets positions and cells. The host's pushes and pops write
 * the cells directly: the library's MPMC operations retry up to 2^20 times
 * on storage that makes no sense, which would only slow the fuzzer down.
 *
 * The oracle, checked after every operation (abort() on a violation, so
 * libFuzzer keeps the input):
 *  - A connector that failed only reports EA_ERR_FAILED from then on, and
 *    its error never changes. Every EA_ERR_CORRUPT, EA_ERR_AUTH or
 *    EA_ERR_CRYPTO leaves the connector failed.
 *  - No two cargos an end holds share storage, and no cargo an end holds
 *    changes behind its owner's back: the target keeps a private copy of
 *    what the owner wrote or received and compares it while the cargo is
 *    held. On an AEAD channel cargos are in enclave memory, so nothing but
 *    the owner may change them: checked after every operation. On a plain
 *    channel the payload is in the arena, which the host may rewrite (and a
 *    node the host handed to both ends is written by the peer as the host
 *    could): only the owner's own operations must leave its other cargos
 *    alone, so the copies are refreshed after anybody else's operation.
 *  - AEAD: every accepted message is exactly the next one the peer's sends
 *    reported successful (length and bytes; fills stamp a counter so no two
 *    messages are equal): in order, once, and never one whose send failed.
 *  - Plain: an accepted message's length is within the maximum and its
 *    data lies in the payload of its node.
 *  - No ASan or UBSan report.
 *
 * Connectors print one line per failure on stderr; the target swaps
 * stderr for /dev/null while it runs an input (set FUZZ_ARENA_VERBOSE=1 to
 * see them, and each operation as it runs). Violations are written to fd 2
 * directly.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_pair.h"
#include "queue/queue_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAXPAY = 256, MAXHELD = 16, MAXLOG = 4096, NSAVED = 4 };
static const uint32_t max_of[8] = {0, 1, 16, 24, 100, 200, 256, 33};

enum {
    OP_ALLOC,
    OP_FILL,
    OP_SEND,
    OP_RECV,
    OP_RELEASE,
    OP_H_BYTE,
    OP_H_WORD,
    OP_H_COPY,
    OP_H_SAVE,
    OP_H_REPLAY,
    OP_H_PUSH,
    OP_H_POP,
    OP_H_POOL_PUT,
    OP_H_POOL_GET,
    OP_H_SET,
    OP_H_DELIVER,
};

struct held {
    ea_cargo_t cg;
    bool received;
    size_t len;
    uint8_t copy[MAXPAY];
};

struct msg {
    uint32_t len;
    uint8_t data[MAXPAY];
};

struct end {
    struct ea_conn *c;
    struct held h[MAXHELD];
    int nheld;
    int failed; /* the connector's error once seen, 0 before */
    uint32_t nsent, naccepted;
};

static struct {
    struct ea_test_pair p;
    struct end e[2];
    bool aead;
    uint32_t nodes, max;
    uint32_t stamp;
    uint8_t saved[NSAVED][MAXPAY + 64];
    struct msg log[2][MAXLOG]; /* messages each end sent successfully */
    const uint8_t *in;
    size_t left;
    size_t step;
    bool verbose;
} S;

static const char *const op_names[16] = {
    "alloc",          "fill",           "send",       "recv",          "release",    "host: byte",
    "host: word",     "host: copy",     "host: save", "host: replay",  "host: push", "host: pop",
    "host: pool put", "host: pool get", "host: set",  "host: deliver",
};

__attribute__((noreturn, format(printf, 1, 2))) static void violation(const char *fmt, ...);
static void violation(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    dprintf(2, "fuzz_arena: oracle violated at step %zu (%s, %u nodes, max %u): %s\n", S.step,
            S.aead ? "aead" : "plain", S.nodes, S.max, buf);
    abort();
}

static bool take(uint8_t *b)
{
    if (S.left == 0)
        return false;
    *b = *S.in++;
    S.left--;
    return true;
}

static uint8_t byte(void)
{
    uint8_t b = 0;
    (void)take(&b);
    return b;
}

static uint32_t word(void)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)byte() << (8 * i);
    return v;
}

/* A value the host writes: mostly node indices and small positions. */
static uint32_t pick(void)
{
    uint8_t t = byte();
    if (t < 0x80)
        return t % (S.nodes + 2);
    if (t < 0xc0)
        return t & 0x3f;
    if (t < 0xe0)
        return t & 1 ? EA_NIL : (uint32_t)(t & 0x1f) << 28;
    return word();
}

static uint8_t *node_at(uint32_t i)
{
    return ea_pool_node(&S.p.ca.pool, i % S.nodes);
}

static bool is_error_that_fails(int rc)
{
    return rc == EA_ERR_CORRUPT || rc == EA_ERR_AUTH || rc == EA_ERR_CRYPTO;
}

/* Where cargo data of node idx must be on end e. */
static const uint8_t *expected_data(struct end *e, uint32_t idx)
{
    if (S.aead)
        return e->c->plain + (size_t)idx * e->c->slot_size;
    return (uint8_t *)ea_pool_node(&e->c->pool, idx) + EA_NODE_HDR_SIZE;
}

static void drop_held(struct end *e, int i)
{
    e->h[i] = e->h[e->nheld - 1];
    e->nheld--;
}

/* Checks the sticky failure rule for end e before an operation that
 * returned rc: a connector failed before it reports EA_ERR_FAILED. */
static void check_sticky(struct end *e, int was_failed, int rc, const char *op)
{
    if (was_failed && rc != EA_ERR_FAILED)
        violation("end %c failed before, but %s returned %s", 'a' + (int)(e - S.e), op,
                  ea_strerror(rc));
    if (is_error_that_fails(rc) && e->c->failed == 0)
        violation("end %c: %s returned %s but the connector is not failed", 'a' + (int)(e - S.e),
                  op, ea_strerror(rc));
}

static void op_alloc(struct end *e)
{
    size_t len = byte() % (S.max + 2);
    if (e->nheld == MAXHELD)
        return;
    int was = e->c->failed;
    struct held *h = &e->h[e->nheld];
    int rc = ea_cargo_alloc(e->c, len, &h->cg);
    check_sticky(e, was, rc, "alloc");
    if (!was && (len > S.max) != (rc == EA_ERR_TOOBIG))
        violation("alloc of %zu bytes (max %u) returned %s", len, S.max, ea_strerror(rc));
    if (rc != EA_OK) {
        if (rc != EA_ERR_NOBUFS && rc != EA_ERR_TOOBIG && rc != EA_ERR_CORRUPT &&
            rc != EA_ERR_FAILED)
            violation("alloc returned %s", ea_strerror(rc));
        return;
    }
    if (h->cg.node >= S.nodes || h->cg.data != expected_data(e, h->cg.node) || h->cg.len != len ||
        h->cg.cap != S.max)
        violation("alloc gave node %u, data %p, len %zu, cap %zu", h->cg.node, h->cg.data,
                  h->cg.len, h->cg.cap);
    h->received = false;
    h->len = len;
    memcpy(h->copy, h->cg.data, len);
    e->nheld++;
}

static void op_fill(struct end *e)
{
    uint8_t which = byte(), seed = byte();
    if (e->nheld == 0)
        return;
    struct held *h = &e->h[which % e->nheld];
    if (h->received)
        return; /* received data is read-only for its owner */
    uint8_t *d = h->cg.data;
    uint32_t stamp = ++S.stamp;
    for (size_t i = 0; i < h->len; i++)
        d[i] = i < 4 ? (uint8_t)(stamp >> (8 * i)) : (uint8_t)(seed + 13 * i);
    memcpy(h->copy, d, h->len);
}

static void op_send(struct end *e, int variant)
{
    uint8_t which = byte(), newlen = byte();
    if (e->nheld == 0)
        return;
    int i = which % e->nheld;
    struct held *h = &e->h[i];
    size_t len = h->len;
    if (variant == 6 && !h->received)
        len = newlen % (h->len + 1); /* an actor may lower the length */
    else if (variant == 7 && !h->received)
        len = (size_t)S.max + 1 + newlen;
    h->cg.len = len;
    int was = e->c->failed;
    int rc = ea_cargo_send(&h->cg);
    if (h->received) {
        if (rc != EA_ERR_INVAL)
            violation("send of a received cargo returned %s", ea_strerror(rc));
        return;
    }
    check_sticky(e, was, rc, "send");
    if (!was && (len > S.max) != (rc == EA_ERR_TOOBIG))
        violation("send of %zu bytes (max %u) returned %s", len, S.max, ea_strerror(rc));
    if (rc != EA_OK) {
        if (rc != EA_ERR_TOOBIG && !is_error_that_fails(rc) && rc != EA_ERR_FAILED)
            violation("send returned %s", ea_strerror(rc));
        if (h->cg.conn == NULL)
            violation("a failed send took the cargo");
        h->cg.len = h->len; /* the owner keeps the cargo as it was */
        return;
    }
    int d = (int)(e - S.e);
    if (e->nsent < MAXLOG) {
        S.log[d][e->nsent].len = (uint32_t)len;
        memcpy(S.log[d][e->nsent].data, h->copy, len);
    }
    e->nsent++;
    drop_held(e, i);
}

static void op_recv(struct end *e)
{
    if (e->nheld == MAXHELD)
        return;
    struct end *peer = &S.e[(e - S.e) ^ 1];
    int was = e->c->failed;
    struct held *h = &e->h[e->nheld];
    int rc = ea_cargo_recv(e->c, &h->cg);
    check_sticky(e, was, rc, "recv");
    if (rc != EA_OK) {
        if (rc != EA_ERR_EMPTY && !is_error_that_fails(rc) && rc != EA_ERR_FAILED)
            violation("recv returned %s", ea_strerror(rc));
        return;
    }
    if (h->cg.node >= S.nodes || h->cg.data != expected_data(e, h->cg.node) || h->cg.len > S.max)
        violation("recv gave node %u, data %p, len %zu", h->cg.node, h->cg.data, h->cg.len);
    if (S.aead) {
        uint32_t k = e->naccepted;
        if (k >= peer->nsent)
            violation("end %c accepted message %u, but the peer's sends succeeded %u times",
                      'a' + (int)(e - S.e), k, peer->nsent);
        const struct msg *m = &S.log[peer - S.e][k];
        if (k < MAXLOG && (m->len != h->cg.len || memcmp(m->data, h->cg.data, m->len) != 0))
            violation("end %c accepted a message %u that differs from the one sent",
                      'a' + (int)(e - S.e), k);
    }
    e->naccepted++;
    h->received = true;
    h->len = h->cg.len;
    memcpy(h->copy, h->cg.data, h->len);
    e->nheld++;
}

static void op_release(struct end *e)
{
    uint8_t which = byte();
    if (e->nheld == 0)
        return;
    int i = which % e->nheld;
    ea_cargo_release(&e->h[i].cg);
    if (e->h[i].cg.conn != NULL)
        violation("release kept the cargo");
    drop_held(e, i);
}

/* The host's view of everything it may write: channel storage, then the
 * channel's arena record. */
static uint8_t *host_byte(uint32_t off)
{
    size_t total = S.p.chan_size + sizeof *S.p.cshm;
    off %= (uint32_t)total;
    if (off < S.p.chan_size)
        return (uint8_t *)S.p.chan_mem + off;
    return (uint8_t *)S.p.cshm + (off - S.p.chan_size);
}

static ea_mbox_t *mbox_to(int end)
{
    return end == 0 ? &S.p.ca.in : &S.p.cb.in;
}

static void op_host(int op, int end, int variant)
{
    ea_mbox_t *m = mbox_to(end);
    uint32_t node_size = S.p.ca.pool.node_size;
    switch (op) {
    case OP_H_BYTE: {
        uint32_t off = byte() | (uint32_t)byte() << 8;
        *host_byte(off) = byte();
        break;
    }
    case OP_H_WORD: {
        uint32_t off = (byte() | (uint32_t)byte() << 8) & ~3u;
        uint32_t v = pick();
        uint8_t *p = host_byte(off);
        if ((uintptr_t)p % 4 == 0)
            memcpy(p, &v, 4);
        break;
    }
    case OP_H_COPY: {
        uint8_t *src = node_at(byte()), *dst = node_at(byte());
        memmove(dst, src, node_size);
        break;
    }
    case OP_H_SAVE: memcpy(S.saved[variant % NSAVED], node_at(byte()), node_size); break;
    case OP_H_REPLAY: memcpy(node_at(byte()), S.saved[variant % NSAVED], node_size); break;
    case OP_H_PUSH: { /* a push at the producer's position, whatever is there */
        uint32_t v = pick(), enq = atomic_load(&m->ctl->enq);
        atomic_store(&m->cells[enq & m->mask].value, v);
        atomic_store(&m->cells[enq & m->mask].seq, enq + 1);
        atomic_store(&m->ctl->enq, enq + 1);
        break;
    }
    case OP_H_POP: { /* a pop at the consumer's position, whatever is there */
        uint32_t deq = atomic_load(&m->ctl->deq);
        atomic_store(&m->cells[deq & m->mask].seq, deq + m->mask + 1);
        atomic_store(&m->ctl->deq, deq + 1);
        break;
    }
    case OP_H_POOL_PUT: (void)ea_pool_put(&S.p.ca.pool, pick()); break;
    case OP_H_POOL_GET: {
        uint32_t v;
        (void)ea_pool_get(&S.p.ca.pool, &v);
        break;
    }
    case OP_H_SET: {
        uint32_t v = pick();
        uint32_t enq = atomic_load(&m->ctl->enq), deq = atomic_load(&m->ctl->deq);
        switch (variant) {
        case 0: atomic_store(&m->ctl->enq, v); break;
        case 1: atomic_store(&m->ctl->deq, v); break;
        case 2: /* the pool head, keeping the tag */
            atomic_store(&S.p.ca.pool.ctl->head,
                         (atomic_load(&S.p.ca.pool.ctl->head) & ~(uint64_t)UINT32_MAX) | v);
            break;
        case 3: /* replace the index of the next message in flight */
            atomic_store(&m->cells[deq & m->mask].value, v);
            break;
        case 4: atomic_store(&m->cells[enq & m->mask].seq, v); break;
        case 5: atomic_store(&S.p.cshm->want_node[end], v); break;
        case 6: atomic_store(&S.p.cshm->end[end].taken, v); break;
        default: atomic_store(&S.p.cshm->end[end].returned, v); break;
        }
        break;
    }
    default: { /* OP_H_DELIVER: a message at the consumer's position */
        uint32_t v = pick();
        uint32_t deq = atomic_load(&m->ctl->deq);
        atomic_store(&m->cells[deq & m->mask].value, v);
        atomic_store(&m->cells[deq & m->mask].seq, deq + 1);
        atomic_store(&m->ctl->enq, deq + 1);
        break;
    }
    }
}

/* The oracle over what the ends hold; `actor` is the end that just ran,
 * -1 after a host operation. */
static void check_held(int actor)
{
    for (int d = 0; d < 2; d++) {
        struct end *e = &S.e[d];
        if (e->failed != 0 && e->c->failed != e->failed)
            violation("end %c's error changed from %s to %s", 'a' + d, ea_strerror(e->failed),
                      ea_strerror(e->c->failed));
        if (e->failed == 0)
            e->failed = e->c->failed;
        for (int i = 0; i < e->nheld; i++)
            for (int j = i + 1; j < e->nheld; j++)
                if (e->h[i].cg.node == e->h[j].cg.node)
                    violation("end %c holds node %u twice (%s and %s)", 'a' + d, e->h[i].cg.node,
                              e->h[i].received ? "received" : "allocated",
                              e->h[j].received ? "received" : "allocated");
        bool compare = S.aead || actor == d;
        for (int i = 0; i < e->nheld; i++) {
            struct held *h = &e->h[i];
            if (!compare)
                memcpy(h->copy, h->cg.data, h->len);
            else if (memcmp(h->copy, h->cg.data, h->len) != 0)
                violation("end %c: %s cargo of node %u changed behind its owner's back", 'a' + d,
                          h->received ? "received" : "allocated", h->cg.node);
        }
    }
}

static int run(const uint8_t *data, size_t size)
{
    S.in = data;
    S.left = size;
    uint8_t setup;
    if (!take(&setup))
        return 0;
    S.aead = setup & 1;
    S.nodes = 1 + ((setup >> 1) & 7);
    S.max = max_of[(setup >> 4) & 7];
    S.stamp = 0;
    memset(S.saved, 0, sizeof S.saved);
    if (ea_test_pair_build(&S.p, S.nodes, S.max, "fuzz") != EA_OK)
        abort();
    if (ea_test_pair_record(&S.p) != EA_OK || (S.aead && ea_test_pair_aead(&S.p) != EA_OK))
        abort();
    memset(S.e, 0, sizeof S.e);
    S.e[0].c = &S.p.ca;
    S.e[1].c = &S.p.cb;
    uint8_t o;
    for (S.step = 0; take(&o); S.step++) {
        int op = o & 15, end = (o >> 4) & 1, variant = o >> 5;
        struct end *e = &S.e[end];
        if (S.verbose)
            dprintf(2, "fuzz_arena: step %zu: %s, end %c, variant %d\n", S.step, op_names[op],
                    'a' + end, variant);
        switch (op) {
        case OP_ALLOC: op_alloc(e); break;
        case OP_FILL: op_fill(e); break;
        case OP_SEND: op_send(e, variant); break;
        case OP_RECV: op_recv(e); break;
        case OP_RELEASE: op_release(e); break;
        default: op_host(op, end, variant); break;
        }
        check_held(op <= OP_RELEASE ? end : -1);
    }
    for (int d = 0; d < 2; d++)
        while (S.e[d].nheld > 0) {
            ea_cargo_release(&S.e[d].h[0].cg);
            drop_held(&S.e[d], 0);
        }
    ea_test_pair_fini(&S.p);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *quiet;
    static int verbose = -1;
    if (verbose < 0) {
        const char *v = getenv("FUZZ_ARENA_VERBOSE");
        verbose = v != NULL && *v == '1';
        if (eai_crypto_init() != EA_OK)
            abort();
        quiet = fopen("/dev/null", "w");
    }
    FILE *saved = stderr;
    if (!verbose && quiet != NULL)
        stderr = quiet;
    S.verbose = verbose;
    run(data, size);
    stderr = saved;
    return 0;
}
