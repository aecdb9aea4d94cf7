/*
 * Fuzz target: the XMPP example's client connections (examples/xmpp/c2s.c),
 * the stream state machine as the actor runs it: stream open, features,
 * STARTTLS, SASL with the accounts actor, in-band registration, bind,
 * stanza forwarding, deliveries, kicks, limits, time-outs and stream
 * errors, over several connections at once.
 *
 * Seam: c2s.c is included whole, and its body (c2s_body) runs round after
 * round on real channels (tests/common/conn_pair.h) exactly as the runtime
 * calls it; nothing in c2s.c is changed for the fuzzer. This file plays
 * the three peers at the far ends of those channels:
 *  - the system actor ("net"): accepts connections when the script says,
 *    answers each RECV with the bytes the script fed that connection (as
 *    much as was asked, the rest waits for the next RECV, as in a socket),
 *    completes each SEND and CLOSE, and fires the timer;
 *  - the accounts actor ("acc"): PLAIN succeeds with the password "pw",
 *    SCRAM gets a salt and then succeeds when the client proof's first
 *    byte is 0 (there is no password to check the proof against),
 *    registration succeeds except for the user "taken"; answers come at
 *    once or, by the script, later;
 *  - the router ("rt"): binds (the resource "conflict" is refused), takes
 *    stanzas, delivers to and kicks bound connections when told; a
 *    delivery is by value, by reference (R_REF) to a stanza c2s holds or
 *    to a forged number, an R_HELD_DONE up to a number the input picks, or
 *    an R_RESEND for a held number or a forged one, naming the connection
 *    or another (one byte after the command says which: a compromised
 *    router).
 * TLS is not fuzzed (it is OpenSSL's): there is no TLS context, so
 * <starttls/> gets <proceed/> and then the connection ends; PLAIN is
 * allowed without TLS (plain_insecure), as in the tsung deployment.
 *
 * Input: one byte of configuration (bit 0 plain_only, bit 1 register,
 * bit 2 a pre-authentication time-out of 0 s, bit 3 accounts answer only
 * when told, bit 4 a small channel to the system actor, bit 5 a small
 * channel to the router), then commands of one byte each, the low
 * three bits the command and the rest its connection: 0 open a connection        1 feed it: 2-byte
 * length, then the bytes 2 end of its stream (EOF)  3 the accounts actor answers what waits, or
 * (bit 3 set) connection (cmd >> 6) answers its last SCRAM challenge as a client would, a proof
 * accepted or not by bit 5 4 the router delivers a message to it (if bound) 5 the router kicks it
 * 6 the timer fires 7 its next sends fail (the peer reset it) At the end every connection gets EOF,
 * the accounts actor answers, and the actor must have closed every connection; then it stops (the
 * stop path frees everything, checked by LeakSanitizer).
 *
 * Properties checked besides ASan and UBSan:
 *  - output only to connections the step concerns: the one fed, ended or
 *    reset, the ones an accounts answer, delivery or kick names, and any
 *    on a timer tick; never to a connection that is closed;
 *  - nothing written after a connection's "</stream:stream>";
 *  - no stanza reaches the router from a connection the accounts actor
 *    did not authenticate and the router did not bind; no bind request
 *    from a connection that is not authenticated; no accounts request
 *    naming a connection that does not exist;
 *  - bounded memory per connection (parser budget, held input, pending
 *    output, the round's deliveries, stanzas held for references);
 *  - held stanzas are numbered in order, without gaps;
 *  - every R_RESEND gets one R_BYTES for that number and connection: the
 *    held bytes if that connection's stanza is held under it, else a
 *    refusal (b = 1, no bytes);
 *  - progress: every step settles in a bounded number of rounds, and
 *    after EOF every connection is closed.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The fuzzer's handles are below 128: scanning 32768 slots on each timer
 * tick and retry would be most of the time spent. */
#define SLOTS 128u
#include "c2s.c"
#include "conn_pair.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The stop path prints the actor's counters: not for every input (set
 * C2S_STDOUT to a file to see them). The fuzzer reports on stderr. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (freopen(getenv("C2S_STDOUT") ? getenv("C2S_STDOUT") : "/dev/null", "w", stdout) == NULL)
        return 0;
    return 0;
}

/* c2s_ctor loads this PKI; the fuzzer makes no TLS context. */
const char pki_server_pem[] = "";
const size_t pki_server_pem_len = 0;
const char pki_server_key[] = "";
const size_t pki_server_key_len = 0;

#define NET_MAX 4096u /* channel node: sends of more are cut in pieces */
#define MAXC 6        /* connections per input */
#define H0 100        /* handle of the first connection */
#define LISTENER 7
#define TIMER 9
#define MAX_ROUNDS 200
/* What one connection may hold: the parser's budget, input held while
 * waiting, output waiting for nodes and the round's deliveries, and the
 * SASL state. */
#define CX_BUDGET ((size_t)XS_MEM_DEFAULT + HELD_MAX + 2u * PEND_MAX + 4096u)

#define FAIL(...)                                  \
    do {                                           \
        fprintf(stderr, "xmpp_c2s: " __VA_ARGS__); \
        fprintf(stderr, "\n");                     \
        abort();                                   \
    } while (0)

struct fconn {
    int open, closed; /* accepted; CLOSE seen */
    uint64_t recv_id; /* a RECV waiting (0: none) */
    uint32_t recv_max;
    uint8_t *in; /* bytes fed, not yet received */
    size_t in_len;
    int eof; /* EOF after `in` */
    int fail_sends;
    int ended;     /* "</stream:stream>" went out */
    char tail[16]; /* the output's last bytes */
    size_t out_len;
    uint32_t id;       /* c2s's id for it (from its requests), 0 unknown */
    int authed, bound; /* as the fakes granted */
    int allowed;       /* may get output in this step */
    char chal[600];    /* the last SASL challenge's base64 text */
};

static struct {
    struct ea_test_pair net, acc, rt;
    struct c2s *s;
    struct fconn c[MAXC];
    int nc;
    uint64_t accept_id;
    int acc_delay;
    struct {
        uint8_t *p;
        size_t len;
    } accq[64]; /* accounts requests not answered yet */
    int naccq;
    int any_allowed; /* a timer tick: any connection */
    uint32_t net_max;
    struct netmsg *outq, *outq_tail;
    uint32_t ref_next; /* the number the next held stanza must have */
    int any_ref;
    int resend_due;               /* an R_RESEND was sent: its answer is due */
    uint32_t resend_n, resend_id; /* its number and connection */
    char *resend_p;               /* a copy of the held bytes it must carry (NULL: refused) */
    uint32_t resend_len;
    struct fconn *ref_conn;     /* the step was an R_REF to it: */
    size_t ref_len, ref_before; /* the output it must get, and had before */
} F;

static struct fconn *by_h(int32_t h)
{
    int i = h - H0;
    return i >= 0 && i < F.nc ? &F.c[i] : NULL;
}

/* c2s's connection id names this slot: the handle modulo SLOTS. */
static struct fconn *by_cid(uint32_t id)
{
    return by_h((int32_t)(id % SLOTS));
}

static void send_raw(ea_conn_t *c, const void *p, size_t len)
{
    ea_cargo_t cg;
    if (ea_cargo_alloc(c, len, &cg) != EA_OK)
        FAIL("no node for a fake peer's message");
    memcpy(cg.data, p, len);
    if (ea_cargo_send(&cg) != EA_OK)
        FAIL("fake peer's send failed");
}

/* The system actor's messages wait here, in order, for free nodes (the
 * small channel runs out of them). */
struct netmsg {
    struct netmsg *next;
    size_t len;
    uint8_t p[];
};

static int net_flush(void)
{
    int did = 0;
    while (F.outq != NULL) {
        ea_cargo_t cg;
        if (ea_cargo_alloc(&F.net.cb, F.outq->len, &cg) != EA_OK)
            break;
        memcpy(cg.data, F.outq->p, F.outq->len);
        if (ea_cargo_send(&cg) != EA_OK)
            FAIL("fake system actor's send failed");
        struct netmsg *n = F.outq->next;
        free(F.outq);
        F.outq = n;
        did = 1;
    }
    if (F.outq == NULL)
        F.outq_tail = NULL;
    return did;
}

static void net_send(const void *p, size_t len)
{
    struct netmsg *m = malloc(sizeof *m + len);
    if (m == NULL)
        FAIL("out of memory");
    m->next = NULL;
    m->len = len;
    memcpy(m->p, p, len);
    if (F.outq_tail)
        F.outq_tail->next = m;
    else
        F.outq = m;
    F.outq_tail = m;
    (void)net_flush();
}

static void complete(uint16_t op, uint64_t id, int32_t h, int32_t status, const void *p,
                     uint32_t len)
{
    uint8_t buf[NET_MAX];
    ea_sys_msg_t m = {EA_SYS_MAGIC, (uint16_t)(op | EA_SYS_DONE), 0, id, h, status, len, 0, 0};
    if (sizeof m + len > sizeof buf)
        FAIL("completion too big");
    memcpy(buf, &m, sizeof m);
    if (len)
        memcpy(buf + sizeof m, p, len);
    net_send(buf, sizeof m + len);
}

static void send_xmsg(ea_conn_t *c, const struct xmsg *m)
{
    uint8_t buf[8192];
    size_t n = xmsg_size(m);
    if (n > sizeof buf)
        FAIL("fake message too big");
    xmsg_write(m, (char *)buf);
    send_raw(c, buf, n);
}

/* A RECV can be answered when input or EOF waits. */
static int answer_recv(struct fconn *f, int32_t h)
{
    if (f->recv_id == 0 || (f->in_len == 0 && !f->eof))
        return 0;
    uint32_t n = f->in_len < f->recv_max ? (uint32_t)f->in_len : f->recv_max;
    if (n > F.net_max - sizeof(ea_sys_msg_t))
        n = F.net_max - sizeof(ea_sys_msg_t);
    complete(EA_NET_RECV, f->recv_id, h, (int32_t)n, f->in, n);
    f->allowed = 1; /* the client's bytes arrive now: output may follow */
    if (n > 0)
        memmove(f->in, f->in + n, f->in_len - n);
    f->in_len -= n;
    f->recv_id = 0;
    return 1;
}

static void note_output(struct fconn *f, int32_t h, const char *p, uint32_t len)
{
    if (f->closed)
        FAIL("send on closed connection %d", h);
    if (!f->allowed && !F.any_allowed)
        FAIL("output to connection %d, which this step does not concern", h);
    if (f->ended && len > 0)
        FAIL("output to connection %d after </stream:stream>", h);
    /* Look for the end tag across the previous output's tail. */
    char w[16 + NET_MAX + 1];
    size_t t = strlen(f->tail);
    memcpy(w, f->tail, t);
    memcpy(w + t, p, len);
    w[t + len] = 0;
    static const char end[] = "</stream:stream>";
    for (size_t i = 0; i + sizeof end - 1 <= t + len; i++)
        if (memcmp(w + i, end, sizeof end - 1) == 0) {
            if (i + sizeof end - 1 != t + len)
                FAIL("output to connection %d after </stream:stream>", h);
            f->ended = 1;
        }
    static const char ch[] = "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>";
    char *cp = strstr(w, ch);
    if (cp != NULL) {
        cp += sizeof ch - 1;
        size_t n = strcspn(cp, "<");
        if (n < sizeof f->chal) {
            memcpy(f->chal, cp, n);
            f->chal[n] = 0;
        }
    }
    size_t keep = t + len < 15 ? t + len : 15;
    memmove(f->tail, w + t + len - keep, keep);
    f->tail[keep] = 0;
    f->out_len += len;
}

/* The system actor: takes every request, answers what can be. */
static int fake_net(void)
{
    int did = 0;
    ea_cargo_t cg;
    while (ea_cargo_recv(&F.net.cb, &cg) == EA_OK) {
        did = 1;
        /* A copy, and the node back first: the answer needs one. */
        char req[NET_MAX];
        size_t len = cg.len;
        if (len < sizeof(ea_sys_msg_t) || len > sizeof req)
            FAIL("request of %zu bytes", len);
        memcpy(req, cg.data, len);
        ea_cargo_release(&cg);
        ea_sys_msg_t m;
        memcpy(&m, req, sizeof m);
        const char *pl = req + sizeof m;
        if (m.magic != EA_SYS_MAGIC || m.len != len - sizeof m)
            FAIL("malformed request");
        struct fconn *f = by_h(m.handle);
        switch (m.op) {
        case EA_NET_ACCEPT:
            if (m.handle != LISTENER || F.accept_id != 0)
                FAIL("unexpected ACCEPT");
            F.accept_id = m.req_id;
            break;
        case EA_NET_RECV:
            if (f == NULL || !f->open || f->closed || f->recv_id != 0)
                FAIL("RECV on handle %d", m.handle);
            f->recv_id = m.req_id;
            f->recv_max = m.arg;
            break;
        case EA_NET_SEND:
            if (f == NULL || !f->open)
                FAIL("SEND on handle %d", m.handle);
            note_output(f, m.handle, pl, m.len);
            complete(EA_NET_SEND, m.req_id, m.handle, f->fail_sends ? EA_SYS_RESET : (int32_t)m.len,
                     NULL, 0);
            break;
        case EA_NET_CLOSE:
            if (f == NULL || !f->open || f->closed)
                FAIL("CLOSE on handle %d", m.handle);
            f->closed = 1;
            f->recv_id = 0; /* the system actor drops it with the handle */
            complete(EA_NET_CLOSE, m.req_id, m.handle, 0, NULL, 0);
            break;
        case EA_LOG: break;
        default: FAIL("unexpected request %u", m.op);
        }
    }
    for (int i = 0; i < F.nc; i++)
        if (!F.c[i].closed)
            did |= answer_recv(&F.c[i], H0 + i);
    did |= net_flush();
    return did;
}

static void acc_answer(const uint8_t *p, size_t len)
{
    struct xmsg m;
    if (xmsg_parse(&m, (const char *)p, len) < 0)
        FAIL("malformed accounts request");
    struct fconn *f = by_cid(m.h.conn);
    if (f == NULL || f->closed)
        return; /* the connection went meanwhile: a real answer is dropped too */
    f->allowed = 1;
    char user[256] = "", pw[1100] = "";
    (void)xmsg_str(&m, 0, user, sizeof user);
    uint8_t sig[64] = {0};
    struct xmsg r = {.h = {A_RESULT, m.h.conn, 0, 0}};
    switch (m.h.op) {
    case A_PLAIN:
        (void)xmsg_str(&m, 1, pw, sizeof pw);
        r.h.a = m.n == 2 && strcmp(pw, "pw") == 0;
        break;
    case A_SCRAM_START: {
        static const uint8_t salt[16] = "0123456789abcdef";
        r.h.op = A_SCRAM_SALT;
        r.h.a = 4096;
        xmsg_add(&r, salt, sizeof salt);
        break;
    }
    case A_SCRAM_FINAL:
        if (m.n != 3 || (m.h.a != 1 && m.h.a != 256) || m.fl[1] != xc_hlen((int)m.h.a))
            FAIL("malformed SCRAM final");
        r.h.a = m.f[1][0] == 0;
        if (r.h.a)
            xmsg_add(&r, sig, xc_hlen((int)m.h.a));
        break;
    case A_REGISTER: r.h.a = strcmp(user, "taken") == 0 ? 2 : 1; break;
    default: FAIL("unexpected accounts request %u", m.h.op);
    }
    if (r.h.op == A_RESULT && r.h.a == 1 && m.h.op != A_REGISTER)
        f->authed = 1;
    send_xmsg(&F.acc.cb, &r);
}

static void acc_flush(void)
{
    for (int i = 0; i < F.naccq; i++) {
        acc_answer(F.accq[i].p, F.accq[i].len);
        free(F.accq[i].p);
    }
    F.naccq = 0;
}

/* The accounts actor. */
static int fake_acc(void)
{
    int did = 0;
    ea_cargo_t cg;
    while (ea_cargo_recv(&F.acc.cb, &cg) == EA_OK) {
        did = 1;
        struct xmsg m;
        if (xmsg_parse(&m, cg.data, cg.len) < 0)
            FAIL("malformed accounts request");
        struct fconn *f = by_cid(m.h.conn);
        if (f == NULL || !f->open || f->closed)
            FAIL("accounts request for connection %u, which does not exist", m.h.conn);
        if (f->id != 0 && f->id != m.h.conn)
            FAIL("accounts request names an old connection");
        f->id = m.h.conn;
        if (f->authed)
            FAIL("accounts request from an authenticated connection");
        if (F.naccq == 64)
            FAIL("accounts queue");
        F.accq[F.naccq].p = malloc(cg.len);
        memcpy(F.accq[F.naccq].p, cg.data, cg.len);
        F.accq[F.naccq++].len = cg.len;
        ea_cargo_release(&cg);
    }
    if (!F.acc_delay)
        acc_flush();
    return did;
}

static void rt_msg(const struct xmsg *m)
{
    if (m->h.op == R_BYTES) { /* (before the check: the connection may be gone) */
        if (!F.resend_due || m->h.a != F.resend_n || m->h.conn != F.resend_id)
            FAIL("R_BYTES %u for connection %u, which was not asked for", m->h.a, m->h.conn);
        F.resend_due = 0;
        char *want = F.resend_p;
        F.resend_p = NULL;
        int bad = want == NULL ? m->h.b != 1 || m->n != 0
                               : m->h.b != 0 || m->n != 1 || m->fl[0] != F.resend_len ||
                                     memcmp(m->f[0], want, F.resend_len) != 0;
        int was_held = want != NULL;
        free(want);
        if (bad)
            FAIL("R_BYTES %u (b %u, %u fields, %u bytes) does not carry what is held (%s, %u "
                 "bytes)",
                 m->h.a, m->h.b, m->n, m->n ? m->fl[0] : 0, was_held ? "held" : "not held",
                 F.resend_len);
        return;
    }
    struct fconn *f = by_cid(m->h.conn);
    if (f == NULL || !f->open)
        FAIL("router message for connection %u, which does not exist", m->h.conn);
    switch (m->h.op) {
    case R_BIND: {
        if (!f->authed || f->closed)
            FAIL("bind from a connection that is not authenticated");
        char user[256] = "", res[1100] = "", jid[1400];
        f->id = m->h.conn;
        if (xmsg_str(m, 0, user, sizeof user) < 0 || xmsg_str(m, 1, res, sizeof res) < 0)
            FAIL("malformed bind");
        struct xmsg r = {.h = {R_BOUND, m->h.conn, 0, 0}};
        if (strcmp(res, "conflict") == 0) {
            xmsg_adds(&r, "conflict");
        } else {
            snprintf(jid, sizeof jid, "%s@localhost/%s", user, res[0] ? res : "gen");
            r.h.a = 1;
            xmsg_adds(&r, jid);
            f->bound = 1;
        }
        f->allowed = 1;
        send_xmsg(&F.rt.cb, &r);
        break;
    }
    case R_STANZA:
        if (!f->authed || !f->bound)
            FAIL("stanza forwarded before authentication and bind");
        if (m->n != 10 && m->n != 11) /* 11: a roster set's item */
            FAIL("malformed stanza message");
        if (m->fl[9] == 4) {
            uint32_t ref;
            memcpy(&ref, m->f[9], 4);
            if (F.any_ref && ref != F.ref_next)
                FAIL("held stanza %u, after %u", ref, F.ref_next - 1);
            F.ref_next = ref + 1;
            F.any_ref = 1;
        } else if (m->fl[9] != 0) {
            FAIL("malformed reference field");
        }
        break;
    case R_CLOSED: f->bound = 0; break;
    default: FAIL("unexpected router message %u", m->h.op);
    }
}

/* The router. */
static int fake_rt(void)
{
    int did = 0;
    ea_cargo_t cg;
    while (ea_cargo_recv(&F.rt.cb, &cg) == EA_OK) {
        did = 1;
        struct xiter it;
        struct xmsg m;
        xiter_init(&it, cg.data, cg.len);
        while (xiter_next(&it, &m))
            rt_msg(&m);
        ea_cargo_release(&cg);
    }
    return did;
}

static void check_memory(void)
{
    struct c2s *s = F.s;
    size_t held = 0;
    for (int i = 0; i < F.nc; i++) {
        struct cx *c = s->c[(uint32_t)(H0 + i) % SLOTS];
        if (c == NULL)
            continue;
        held += c->hold;
        size_t m = c->xs.mem_used + c->held_len + c->pend_len + c->ob_cap +
                   (c->cfb ? strlen(c->cfb) : 0) + (c->sfirst ? strlen(c->sfirst) : 0);
        if (c->xs.mem_used > c->xs.mem_max || c->held_len > HELD_MAX || m > CX_BUDGET ||
            c->hold > HOLD_CONN_MAX)
            FAIL("connection %d holds %zu bytes (%u for references)", H0 + i, m, c->hold);
    }
    if (s->hbytes > HOLD_MAX)
        FAIL("%zu bytes held for references", s->hbytes);
    /* The per-connection counts are given back with their chunks: never
     * more than the actor's, and none once nothing is held. */
    if (held > s->hbytes || (s->hhead == NULL && s->hbytes != 0))
        FAIL("connections count %zu held bytes, the actor %zu (chunks %s)", held, s->hbytes,
             s->hhead != NULL ? "held" : "none");
}

/* Rounds until the actor and its peers are quiet. */
static void settle(void)
{
    for (int r = 0;; r++) {
        if (r == MAX_ROUNDS)
            FAIL("no quiet after %d rounds", MAX_ROUNDS);
        int busy = c2s_body(&F.net.a, F.s) == EA_BUSY;
        int did = fake_net();
        did |= fake_acc();
        did |= fake_rt();
        check_memory();
        if (!busy && !did)
            break;
    }
    for (int i = 0; i < F.nc; i++)
        F.c[i].allowed = 0;
    F.any_allowed = 0;
}

static void open_conn(void)
{
    if (F.nc == MAXC || F.accept_id == 0)
        return;
    struct fconn *f = &F.c[F.nc];
    memset(f, 0, sizeof *f);
    f->open = 1;
    int32_t h = H0 + F.nc++;
    uint64_t id = F.accept_id;
    F.accept_id = 0;
    complete(EA_NET_ACCEPT, id, LISTENER, h, NULL, 0);
}

static struct fconn *pick(uint32_t cmd)
{
    if (F.nc == 0)
        return NULL;
    return &F.c[(cmd >> 3) % (uint32_t)F.nc];
}

/* The client's SCRAM response to the connection's last challenge (its
 * nonce is random, out of the fuzzer's reach): gs2 header "n,,", a proof
 * of 20 (SHA-1) or 32 bytes, its first byte 0 (accepted) or 1. */
static void scram_response(struct fconn *f, uint32_t arg)
{
    uint8_t sf[600];
    long n = xc_b64dec(f->chal, strlen(f->chal), sf, sizeof sf - 1);
    if (f->closed || f->eof || n <= 0)
        return;
    sf[n] = 0;
    const char *r = strstr((const char *)sf, "r="), *e = r ? strchr(r, ',') : NULL;
    if (e == NULL)
        return;
    uint8_t proof[32] = {0};
    proof[0] = (arg & 2) ? 1 : 0;
    char pb[64], fin[400], b64[600], el[800];
    xc_b64enc(proof, (arg & 1) ? 20 : 32, pb);
    snprintf(fin, sizeof fin, "c=biws,%.*s,p=%s", (int)(e - r), r, pb);
    xc_b64enc(fin, strlen(fin), b64);
    int l = snprintf(el, sizeof el,
                     "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>", b64);
    uint8_t *p = realloc(f->in, f->in_len + (size_t)l);
    if (p == NULL)
        FAIL("out of memory");
    memcpy(p + f->in_len, el, (size_t)l);
    f->in = p;
    f->in_len += (size_t)l;
    f->allowed = 1;
}

static void fire_timer(void)
{
    ea_sys_msg_t m = {EA_SYS_MAGIC, EA_TIMER_FIRE, 0, 0, TIMER, 0, 0, 0, 1};
    net_send(&m, sizeof m);
    F.any_allowed = 1;
}

static void router_to(struct fconn *f, int kick, struct in *in)
{
    if (f == NULL || !f->bound || f->closed)
        return;
    struct xmsg r = {.h = {kick ? R_KICK : R_DELIVER, f->id, 0, 0}};
    uint32_t how = kick ? 0 : take(in, 1);
    if ((how & 3) == 1 || (how & 3) == 2) {
        /* by reference: a stanza held (1: the last, or one before it), or
         * any number (2) */
        r.h.op = R_REF;
        r.h.a = (how & 3) == 1 ? F.ref_next - 1 - (how >> 2) % 4 : F.ref_next + (how >> 2) - 32;
        /* A number c2s does not hold gets that connection nothing; one it
         * holds, exactly the held bytes (checked after the step). */
        uint32_t len;
        f->allowed = hold_get(F.s, r.h.a, &len) != NULL;
        F.ref_conn = f;
        F.ref_len = f->allowed ? len : 0;
        F.ref_before = f->out_len;
        send_xmsg(&F.rt.cb, &r);
        return;
    }
    if ((how & 7) == 4) { /* bytes asked for: a held number or near it, this
                           * connection's or another's */
        r.h.op = R_RESEND;
        r.h.a = F.ref_next - 1 - (how >> 3) % 8;
        r.h.conn = (how & 0x80) ? f->id ^ 1u : f->id;
        uint32_t id = 0, len = 0;
        const char *p = hold_entry(F.s, r.h.a, &id, &len);
        F.resend_due = 1;
        F.resend_n = r.h.a;
        F.resend_id = r.h.conn;
        free(F.resend_p);
        F.resend_p = NULL;
        if (p != NULL && id == r.h.conn) {
            if ((F.resend_p = malloc(len ? len : 1)) == NULL)
                FAIL("out of memory");
            memcpy(F.resend_p, p, len);
        }
        F.resend_len = len;
        send_xmsg(&F.rt.cb, &r);
        return;
    }
    if ((how & 3) == 3) { /* released up to a number near the last held */
        r.h.op = R_HELD_DONE;
        r.h.a = F.ref_next + (how >> 2) - 48;
        send_xmsg(&F.rt.cb, &r);
        return;
    }
    if (kick) {
        xmsg_adds(&r, "conflict");
        f->bound = 0;
    } else {
        xmsg_adds(&r, "<message from='b@localhost/x' type='chat'><body>hi &amp; bye</body>"
                      "</message>");
    }
    f->allowed = 1;
    send_xmsg(&F.rt.cb, &r);
}

/* The system actor's answers to what the constructor asks for (a listener
 * and a timer), taken as c2s_ctor's on_sys would. */
static void setup(uint32_t cfg)
{
    static struct c2s *mem; /* 2 MiB (the system client's tables): kept */
    if (mem == NULL && (mem = malloc(sizeof *mem)) == NULL)
        FAIL("out of memory");
    struct c2s *s = mem;
    memset(s, 0, sizeof *s);
    F.s = s;
    /* A small channel (8 nodes of 512 bytes) cuts output in pieces and
     * runs out of nodes: pending output, retries, the output limit. */
    F.net_max = (cfg & 16) ? 512 : NET_MAX;
    ea_test_pair_init(&F.net, (cfg & 16) ? 8 : 64, F.net_max, "net");
    ea_test_pair_init(&F.acc, 16, 8192, "acc");
    /* A small channel to the router (1 KiB): a longer stanza is refused
     * by outq_send after it was held for a reference (hold_undo). */
    ea_test_pair_init(&F.rt, 16, (cfg & 32) ? 1024 : 8192, "rt");
    ea_sys_client_init(&s->sys, &F.net.ca);
    s->acc.c = &F.acc.ca;
    s->rt.c = &F.rt.ca;
    s->rt.batch = 1;
    s->domain = "localhost";
    s->plain_insecure = 1;
    s->plain_only = (cfg & 1) != 0;
    s->reg = (cfg & 2) != 0;
    s->preauth_ns = (cfg & 4) ? 0 : 30ull * 1000000000u;
    F.acc_delay = (cfg & 8) != 0;
    s->listener = s->timer = -1;
    s->c = calloc(SLOTS, sizeof *s->c);
    s->gen = calloc(SLOTS, sizeof *s->gen);
    s->dirty = calloc(SLOTS, sizeof *s->dirty);
    if (s->c == NULL || s->gen == NULL || s->dirty == NULL)
        FAIL("out of memory");
    if (ea_net_listen(&s->sys, "127.0.0.1", 5222) <= 0 ||
        ea_timer_set(&s->sys, 1000000000u, 1000) <= 0)
        FAIL("set-up requests");
    ea_cargo_t cg;
    while (ea_cargo_recv(&F.net.cb, &cg) == EA_OK) {
        ea_sys_msg_t m;
        memcpy(&m, cg.data, sizeof m);
        ea_cargo_release(&cg);
        complete(m.op, m.req_id, -1, m.op == EA_NET_LISTEN ? LISTENER : TIMER, NULL, 0);
    }
    ea_sys_event_t ev;
    while (ea_sys_recv(&s->sys, &ev) == EA_OK) {
        if (ev.msg.op == (EA_NET_LISTEN | EA_SYS_DONE))
            s->listener = ev.msg.status;
        else
            s->timer = ev.msg.status;
        ea_cargo_release(&ev.cargo);
    }
    if (s->listener != LISTENER || s->timer != TIMER)
        FAIL("set-up completions refused");
}

static void teardown(void)
{
    atomic_store(&F.net.dom.stopping, 1);
    if (c2s_body(&F.net.a, F.s) != EA_DONE)
        FAIL("the stop path did not finish");
    for (int i = 0; i < F.nc; i++)
        free(F.c[i].in);
    for (int i = 0; i < F.naccq; i++)
        free(F.accq[i].p);
    while (F.outq != NULL) {
        struct netmsg *n = F.outq->next;
        free(F.outq);
        F.outq = n;
    }
    ea_test_pair_fini(&F.net);
    ea_test_pair_fini(&F.acc);
    ea_test_pair_fini(&F.rt);
    free(F.resend_p);
    memset(&F, 0, sizeof F);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    memset(&F, 0, sizeof F);
    setup(take(&in, 1));
    settle(); /* the first round arms ACCEPT */
    for (int step = 0; in.n > 0 && step < 256; step++) {
        uint32_t cmd = take(&in, 1);
        struct fconn *f = pick(cmd);
        switch (cmd & 7) {
        case 0: open_conn(); break;
        case 1: {
            uint32_t n = take(&in, 2);
            if (n > in.n)
                n = (uint32_t)in.n;
            if (f != NULL && !f->eof && !f->closed) {
                uint8_t *p = realloc(f->in, f->in_len + n + 1);
                if (p == NULL)
                    FAIL("out of memory");
                memcpy(p + f->in_len, in.d, n);
                f->in = p;
                f->in_len += n;
                f->allowed = 1;
            }
            in.d += n;
            in.n -= n;
            break;
        }
        case 2: {
            /* With bit 3: the system actor refuses the waiting RECV with
             * EA_SYS_QUEUED (its queued= limit for the c2s): back-pressure,
             * which must not end the connection; the c2s asks again (a
             * second RECV while one waits fails in fake_net). */
            struct cx *qc = f != NULL && (cmd & 8) && f->id != 0 ? by_id(F.s, f->id) : NULL;
            if (qc != NULL && f->recv_id != 0 && qc->recv_out && !qc->dead) {
                ea_sys_event_t ev;
                memset(&ev, 0, sizeof ev);
                ev.msg.magic = EA_SYS_MAGIC;
                ev.msg.op = (uint16_t)(EA_NET_RECV | EA_SYS_DONE);
                ev.msg.req_id = f->recv_id;
                ev.msg.handle = H0 + (int32_t)(f - F.c);
                ev.msg.status = EA_SYS_QUEUED;
                f->recv_id = 0;
                on_recv(F.s, qc, &ev);
                qc = by_id(F.s, f->id); /* NULL if on_recv closed it */
                if (qc == NULL || qc->dead || qc->closing || qc->recv_out)
                    FAIL("a RECV refused with EA_SYS_QUEUED ended connection %d or was not "
                         "released",
                         ev.msg.handle);
            } else if (f != NULL) {
                f->eof = 1;
                f->allowed = 1;
            }
            break;
        }
        case 3:
            if ((cmd & 8) && f != NULL)
                scram_response(&F.c[(cmd >> 6) % (uint32_t)F.nc], cmd >> 4);
            else
                acc_flush();
            break;
        case 4: router_to(f, 0, &in); break;
        case 5: router_to(f, 1, &in); break;
        case 6: fire_timer(); break;
        case 7:
            if (f != NULL) {
                f->fail_sends = 1;
                f->allowed = 1;
            }
            break;
        }
        (void)fake_net(); /* hand over what the command made available */
        settle();
        if (F.resend_due)
            FAIL("R_RESEND %u got no answer", F.resend_n);
        struct fconn *rf = F.ref_conn;
        F.ref_conn = NULL;
        struct cx *rc = rf != NULL ? by_id(F.s, rf->id) : NULL;
        if (rc != NULL && !rc->dead && !rc->closing && !rf->closed && !rf->ended &&
            !rf->fail_sends && rf->out_len - F.ref_before != F.ref_len)
            FAIL("a delivery by reference of %zu bytes wrote %zu", F.ref_len,
                 rf->out_len - F.ref_before);
    }
    /* The end: every stream ends and everything is answered. */
    for (int i = 0; i < F.nc; i++) {
        F.c[i].eof = 1;
        F.c[i].allowed = 1;
    }
    F.acc_delay = 0;
    acc_flush();
    (void)fake_net();
    settle();
    for (int i = 0; i < F.nc; i++)
        if (!F.c[i].closed) {
            struct cx *c = F.s->c[(uint32_t)(H0 + i) % SLOTS];
            FAIL("connection %d still open after its stream ended (wait %d recv_out %d "
                 "closing %d dead %d sends %u pend %u held %u)",
                 H0 + i, c ? c->wait : -1, c ? c->recv_out : -1, c ? c->closing : -1,
                 c ? c->dead : -1, c ? c->sends : 0, c ? c->pend_len : 0, c ? c->held_len : 0);
        }
    if (F.s->live != 0)
        FAIL("%u connections live at the end", F.s->live);
    teardown();
    return 0;
}
