/*
 * The network front: accepts TCP connections through the system actor and,
 * with tls=1, terminates TLS inside its enclave (the host only moves
 * ciphertext). What arrives is either echoed back (no channel "app": the
 * echo example) or forwarded to the request handler over channel "app"
 * (the https example), whose answers are encrypted and sent back.
 *
 * Parameters: port (default 8443), addr (default 127.0.0.1), tls (0 or 1,
 * default 1), batch (0 or 1, default 1: completions batched by the system
 * actor, ea_sys_client_batch, and the requests of a step sent together,
 * ea_sys_client_hold), shared (0 or 1, default 0: 1 listens with
 * SO_REUSEPORT, ea_net_listen_shared, so that several fronts, one per
 * pipeline, accept on one port and the kernel spreads the connections).
 * Channels: "net" to the system actor, optional "app" (parameters net and
 * app name other channels instead: one pair per pipeline).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eactors/eactors.h>
#include <eactors/ea_sys.h>
#include <eactors/ea_tls.h>

#include "pki.h"
#include "proto.h"

#define RECV_MAX 16384u
#define SLOTS MAX_CONNS
/* Lingering close: after the last response byte is out and the write side
 * is shut, what the client still sends is read and dropped for at most
 * LINGER_NS or LINGER_BYTES, then the socket is closed. Closing with unread
 * data makes the kernel send a reset, which can destroy the response (a
 * 413 to a huge request) before the client has read it (nginx's
 * lingering_close, for the same reason). */
#define LINGER_NS (2000u * 1000000u)
#define LINGER_BYTES (8u << 20)
#define LINGER_TICK_MS 250u

struct fconn {
    int used;
    int32_t h;
    ea_tls_t *tls;
    uint32_t sends; /* sends in flight */
    int closing;    /* close once every send completed */
    char *pend;     /* ciphertext or data that found no free node yet */
    uint32_t pend_len;
    int recv_out;  /* a RECV is in flight */
    int eof;       /* the client's side ended (or failed) */
    int lingering; /* write side shut; input read and dropped until close */
    uint64_t linger_until;
    uint64_t dropped;
    /* Waiting for a free node, to be retried at the next step (a storm of
     * connections empties the channels' pools): plaintext for the handler
     * (in order; no RECV is asked meanwhile) and the next RECV. */
    char *apend;
    uint32_t apend_len;
    int want_recv;
};

/* Slots that wait for something to be retried at the next step, in FIFO
 * order, each at most once (`on`), so that a step retries only those and
 * never scans all SLOTS. An entry is checked against its slot's state when
 * it is taken: a slot that closed (or was reused) since is skipped or
 * retried for its new connection's needs, and nothing is lost. */
struct slotq {
    uint32_t *v; /* ring of SLOTS slot numbers */
    uint8_t *on; /* by slot: queued */
    uint32_t head, n;
};

struct front {
    ea_sys_client_t sys;
    ea_conn_t *app;
    ea_tls_ctx_t *ctx;
    int tls;
    int32_t listener;
    struct fconn *c; /* by handle index */
    uint64_t accepted, closed;
    /* Slots whose CLOSED found no free node on "app" yet: 1 in `owed`. Such
     * a slot takes no new connection until CLOSED is out, so the handler
     * never appends a new connection's bytes to the old one's buffer. */
    uint8_t *owed;
    uint32_t nowed;
    int busy;
    uint32_t npend;       /* connections with bytes in `pend` */
    uint32_t nlinger;     /* connections lingering */
    uint32_t nwant;       /* connections with want_recv set */
    int32_t linger_timer; /* periodic timer while any lingers, else -1 */
    int accepting;        /* an ACCEPT is in flight on the listener */
    int linger_timer_asked;
    struct slotq qowed, qpend, qwant; /* slots with owed, pend_len, want_recv */
    struct batch ab; /* this step's messages to the handler, one message (proto.h) */
    char buf[65536];
};

static bool sq_init(struct slotq *q)
{
    q->v = malloc(SLOTS * sizeof *q->v);
    q->on = calloc(SLOTS, 1);
    q->head = q->n = 0;
    return q->v != NULL && q->on != NULL;
}

static void sq_free(struct slotq *q)
{
    free(q->v);
    free(q->on);
    q->v = NULL;
    q->on = NULL;
    q->n = 0;
}

static void sq_add(struct slotq *q, uint32_t slot)
{
    if (q->on[slot])
        return;
    q->on[slot] = 1;
    q->v[(q->head + q->n++) % SLOTS] = slot;
}

static uint32_t sq_take(struct slotq *q)
{
    uint32_t slot = q->v[q->head];
    q->head = (q->head + 1) % SLOTS;
    q->n--;
    q->on[slot] = 0;
    return slot;
}

static uint32_t slot_of(struct front *s, struct fconn *c)
{
    return (uint32_t)(c - s->c);
}

static struct fconn *by_handle(struct front *s, int32_t h)
{
    if (h < 0)
        return NULL;
    struct fconn *c = &s->c[(uint32_t)h % SLOTS];
    return c->used && c->h == h ? c : NULL;
}

static uint32_t payload_max(struct front *s)
{
    return (uint32_t)EA_SYS_PAYLOAD_MAX(s->sys.conn);
}

/* Sends bytes on a connection, or keeps them for later (never drops). */
static void net_out(struct front *s, struct fconn *c, const char *data, uint32_t len)
{
    while (len > 0 && c->pend_len == 0) {
        uint32_t n = len < payload_max(s) ? len : payload_max(s);
        if (ea_net_send(&s->sys, c->h, data, n) < 0)
            break;
        c->sends++;
        data += n;
        len -= n;
    }
    if (len > 0) {
        char *p = realloc(c->pend, c->pend_len + len);
        if (p == NULL)
            return;
        memcpy(p + c->pend_len, data, len);
        c->pend = p;
        s->npend += c->pend_len == 0;
        c->pend_len += len;
        sq_add(&s->qpend, slot_of(s, c));
    }
}

static void retry_pending(struct front *s, struct fconn *c)
{
    uint32_t off = 0;
    while (off < c->pend_len) {
        uint32_t n = c->pend_len - off < payload_max(s) ? c->pend_len - off : payload_max(s);
        if (ea_net_send(&s->sys, c->h, c->pend + off, n) < 0)
            break;
        c->sends++;
        off += n;
    }
    memmove(c->pend, c->pend + off, c->pend_len - off);
    c->pend_len -= off;
    s->npend -= c->pend_len == 0;
}

/* Moves TLS output to the network: straight from the TLS connection into
 * SEND messages (ea_net_send_alloc, no copy through s->buf) while nothing
 * waits in `pend` and a node is free; otherwise through net_out. */
static void flush(struct front *s, struct fconn *c)
{
    if (c->tls == NULL)
        return;
    if (c->pend_len == 0) {
        uint32_t spilled;
        c->sends += ea_net_send_tls(&s->sys, c->h, c->tls, s->buf, sizeof s->buf, &spilled);
        if (spilled > 0) /* taken but not sent: kept in `pend` */
            net_out(s, c, s->buf, spilled);
    }
    while (ea_tls_pending(c->tls) > 0) {
        uint32_t room = payload_max(s) < sizeof s->buf ? payload_max(s) : sizeof s->buf;
        int n = ea_tls_take(c->tls, s->buf, room);
        if (n <= 0)
            break;
        net_out(s, c, s->buf, (uint32_t)n);
    }
}

/* Tells the handler that the connection in `slot` is gone; true if sent. */
static bool send_closed(struct front *s, uint32_t slot)
{
    return batch_put(s->app, &s->ab, slot, KIND_CLOSED, NULL, 0) == EA_OK;
}

/* Sends the CLOSED `slot` owes, if any; true if it owes none now. */
static bool pay_closed(struct front *s, uint32_t slot)
{
    if (s->owed == NULL || !s->owed[slot])
        return true;
    if (!send_closed(s, slot))
        return false;
    s->owed[slot] = 0;
    s->nowed--;
    return true;
}

static void conn_close(struct front *s, struct fconn *c)
{
    if (!c->used)
        return;
    /* Always tell the handler, even when it asked for the close: the
     * channel is ordered, so CLOSED separates this connection's bytes from
     * those of the next connection in the same slot. If no node is free,
     * the slot owes it (pay_closed) and takes no connection meanwhile. */
    uint32_t slot = (uint32_t)(c - s->c);
    if (s->app != NULL && !send_closed(s, slot)) {
        s->owed[slot] = 1;
        s->nowed++;
        sq_add(&s->qowed, slot);
    }
    ea_net_close(&s->sys, c->h);
    ea_tls_free(c->tls);
    s->nlinger -= c->lingering;
    s->npend -= c->pend_len > 0;
    s->nwant -= c->want_recv;
    free(c->pend);
    free(c->apend);
    memset(c, 0, sizeof *c);
    s->closed++;
}

/* Asks for the connection's next bytes, now or (no node free, or plaintext
 * still waiting for the handler) at a later step. False if it cannot be
 * asked at all. */
static bool ask_recv(struct front *s, struct fconn *c)
{
    if (c->recv_out || c->want_recv)
        return true;
    int64_t rc = c->apend_len > 0 ? EA_ERR_NOBUFS : ea_net_recv(&s->sys, c->h, RECV_MAX);
    if (rc == EA_ERR_NOBUFS || rc == EA_ERR_LIMIT) {
        c->want_recv = 1;
        s->nwant++;
        sq_add(&s->qwant, slot_of(s, c));
        return true;
    }
    if (rc < 0)
        return false;
    c->recv_out = 1;
    return true;
}

/* Every response byte is out: close, or first linger (see LINGER_NS). */
static void linger_or_close(struct front *s, struct fconn *c)
{
    if (c->eof || c->lingering || ea_net_shutdown(&s->sys, c->h) < 0 || !ask_recv(s, c)) {
        if (!c->lingering)
            conn_close(s, c);
        return;
    }
    c->lingering = 1;
    c->linger_until = ea_now_ns() + LINGER_NS;
    s->nlinger++;
    if (s->linger_timer < 0 && !s->linger_timer_asked &&
        ea_timer_set(&s->sys, (uint64_t)LINGER_TICK_MS * 1000000u, LINGER_TICK_MS) > 0)
        s->linger_timer_asked = 1;
}

static void maybe_finish(struct front *s, struct fconn *c)
{
    if (c->closing && c->sends == 0 && c->pend_len == 0 && c->apend_len == 0)
        linger_or_close(s, c);
}

/* Closes lingering connections whose time is up. */
static void linger_tick(struct front *s)
{
    uint64_t now = ea_now_ns();
    for (uint32_t i = 0; s->nlinger > 0 && i < SLOTS; i++)
        if (s->c[i].used && s->c[i].lingering && now >= s->c[i].linger_until)
            conn_close(s, &s->c[i]);
    if (s->nlinger == 0 && s->linger_timer >= 0) {
        ea_timer_cancel(&s->sys, s->linger_timer);
        s->linger_timer = -1;
    }
}

/* Plaintext from the client. */
static void deliver(struct front *s, struct fconn *c, const char *data, uint32_t len)
{
    if (s->app == NULL) { /* echo */
        if (c->tls != NULL) {
            if (ea_tls_write(c->tls, data, len) < 0)
                c->closing = 1;
            flush(s, c);
        } else {
            net_out(s, c, data, len);
        }
        return;
    }
    size_t room = batch_room_max(s->app);
    while (len > 0 && c->apend_len == 0) {
        uint32_t n = len < room ? len : (uint32_t)room;
        /* Into this step's batch, sent when the step ends (front_body). */
        int rc = batch_put(s->app, &s->ab, slot_of(s, c), KIND_DATA, data, n);
        if (rc == EA_ERR_NOBUFS || rc == EA_ERR_FULL)
            break; /* the handler is behind: kept below */
        if (rc != EA_OK) {
            c->closing = 1;
            return;
        }
        data += n;
        len -= n;
    }
    if (len > 0) {
        char *p = realloc(c->apend, c->apend_len + len);
        if (p == NULL) {
            c->closing = 1; /* out of memory: this request is lost; close */
            return;
        }
        memcpy(p + c->apend_len, data, len);
        c->apend = p;
        c->apend_len += len;
        if (!c->want_recv) { /* the retry list */
            c->want_recv = 1;
            s->nwant++;
            sq_add(&s->qwant, slot_of(s, c));
        }
    }
}

/* Retries what waits for a node on connection c: its plaintext for the
 * handler, then its RECV. */
static void retry_want(struct front *s, struct fconn *c)
{
    if (c->apend_len > 0) {
        char *p = c->apend;
        uint32_t len = c->apend_len;
        c->apend = NULL;
        c->apend_len = 0;
        deliver(s, c, p, len);
        free(p);
    }
    if (c->apend_len > 0)
        return;
    c->want_recv = 0;
    s->nwant--;
    if (!c->closing && !ask_recv(s, c))
        c->closing = 1;
    maybe_finish(s, c);
}

static void on_recv(struct front *s, struct fconn *c, const ea_sys_event_t *ev)
{
    c->recv_out = 0;
    if (ev->msg.status == EA_SYS_QUEUED && !c->lingering && !c->closing) {
        /* The system actor holds as many bytes for this actor as its
         * grant's queued= allows: back-pressure, not the connection's end.
         * The RECV is asked again from the retry list. */
        if (!c->want_recv) {
            c->want_recv = 1;
            s->nwant++;
            sq_add(&s->qwant, slot_of(s, c));
        }
        return;
    }
    if (ev->msg.status <= 0) {
        /* End of stream or an error: nothing more will come. */
        c->eof = 1;
        c->closing = 1;
        if (c->lingering)
            conn_close(s, c);
        else
            maybe_finish(s, c);
        return;
    }
    if (c->lingering) {
        c->dropped += ev->msg.len;
        if (c->dropped > LINGER_BYTES || ea_now_ns() >= c->linger_until || !ask_recv(s, c))
            conn_close(s, c);
        return;
    }
    if (c->tls != NULL) {
        if (ea_tls_feed(c->tls, ev->data, ev->msg.len) == EA_OK) {
            int n;
            while ((n = ea_tls_read(c->tls, s->buf, sizeof s->buf)) > 0)
                deliver(s, c, s->buf, (uint32_t)n);
            if (n != EA_ERR_EMPTY)
                c->closing = 1; /* clean close (0) or a TLS failure */
        } else {
            c->closing = 1;
        }
        flush(s, c);
    } else {
        deliver(s, c, ev->data, ev->msg.len);
    }
    if (!c->closing && !ask_recv(s, c))
        c->closing = 1;
    maybe_finish(s, c);
}

/* Keeps one ACCEPT in flight. One that cannot be asked now (the client's
 * table of requests in flight is full, or no node is free) is asked again
 * at the next step: a listener without an ACCEPT takes no connection ever. */
static void arm_accept(struct front *s)
{
    if (s->listener < 0 || s->accepting)
        return;
    if (ea_net_accept(&s->sys, s->listener) < 0)
        return;
    s->accepting = 1;
}

static void on_sys(ea_actor_t *self, struct front *s, const ea_sys_event_t *ev)
{
    uint16_t op = ev->msg.op & (uint16_t)~EA_SYS_DONE;
    switch (op) {
    case EA_NET_LISTEN:
        if (ev->msg.status < 0) {
            printf("%s: cannot listen: %s\n", ea_name(self), ea_sys_strstatus(ev->msg.status));
            fflush(stdout);
            return;
        }
        s->listener = ev->msg.status;
        printf("%s: listening (%s)\n", ea_name(self), s->tls ? "TLS" : "plain TCP");
        fflush(stdout);
        arm_accept(s);
        break;
    case EA_NET_ACCEPT:
        if (ev->msg.status >= 0) {
            uint32_t slot = (uint32_t)ev->msg.status % SLOTS;
            struct fconn *c = &s->c[slot];
            if (c->used || !pay_closed(s, slot)) {
                ea_net_close(&s->sys, ev->msg.status);
            } else {
                c->used = 1;
                c->h = ev->msg.status;
                if (s->tls && ea_tls_new(s->ctx, &c->tls) != EA_OK) {
                    conn_close(s, c);
                } else {
                    s->accepted++;
                    if (!ask_recv(s, c))
                        conn_close(s, c);
                }
            }
        }
        s->accepting = 0;
        arm_accept(s);
        break;
    case EA_NET_RECV: {
        struct fconn *c = by_handle(s, ev->msg.handle);
        if (c != NULL)
            on_recv(s, c, ev);
        break;
    }
    case EA_TIMER_SET:
        s->linger_timer_asked = 0;
        if (ev->msg.status >= 0) {
            s->linger_timer = ev->msg.status;
            linger_tick(s);
        }
        break;
    case EA_TIMER_FIRE: linger_tick(s); break;
    case EA_NET_SEND: {
        struct fconn *c = by_handle(s, ev->msg.handle);
        if (c == NULL)
            break;
        c->sends--;
        if (ev->msg.status < 0)
            c->closing = 1;
        maybe_finish(s, c);
        break;
    }
    default: break;
    }
}

/* One message (or batch record) from the handler: kind for connection
 * `id`, with len bytes of response. */
static void on_app_one(struct front *s, uint32_t id, uint32_t kind, const char *data, uint32_t len)
{
    struct hop h = {id, kind};
    /* Connections are named by their slot. */
    if (h.id >= SLOTS || !s->c[h.id].used)
        return;
    struct fconn *c = &s->c[h.id];
    if (len > 0) {
        if (c->tls != NULL) {
            if (ea_tls_write(c->tls, data, len) < 0)
                c->closing = 1;
            flush(s, c);
        } else {
            net_out(s, c, data, len);
        }
    }
    if (h.kind == KIND_CLOSE) {
        if (c->tls != NULL) {
            ea_tls_shutdown(c->tls);
            flush(s, c);
        }
        c->closing = 1;
    }
    maybe_finish(s, c);
}

static void on_app(struct front *s, ea_cargo_t *m)
{
    struct hop h;
    if (m->len < sizeof h)
        return;
    memcpy(&h, m->data, sizeof h);
    const uint8_t *p = (const uint8_t *)m->data + sizeof h;
    size_t len = m->len - sizeof h;
    if (h.kind != KIND_BATCH) {
        on_app_one(s, h.id, h.kind, (const char *)p, (uint32_t)len);
        return;
    }
    /* The handler's step in one message (proto.h); read up to the first
     * record that does not fit. */
    struct rec r;
    const uint8_t *data;
    size_t off = 0;
    for (uint32_t i = 0; i < h.id && batch_next(p, len, &off, &r, &data); i++)
        on_app_one(s, r.id, r.kind, (const char *)data, r.len);
}

static int front_ctor(ea_actor_t *self, void *state)
{
    struct front *s = state;
    const char *net = ea_param(self, "net"), *app = ea_param(self, "app");
    ea_conn_t *io = ea_conn(self, net ? net : "net");
    if (io == NULL)
        return EA_ERR_NOTFOUND;
    ea_sys_client_init(&s->sys, io);
    /* Every completion of a round in one message (ev.data is then valid
     * until the next ea_sys_recv, which on_sys never outlives). */
    ea_sys_client_batch(&s->sys, ea_param_int(self, "batch", 1, NULL) != 0);
    s->app = ea_conn(self, app ? app : "app");
    s->tls = (int)ea_param_int(self, "tls", 1, NULL);
    s->listener = -1;
    s->linger_timer = -1;
    s->c = calloc(SLOTS, sizeof *s->c);
    s->owed = calloc(SLOTS, 1);
    if (s->c == NULL || s->owed == NULL || !sq_init(&s->qowed) || !sq_init(&s->qpend) ||
        !sq_init(&s->qwant))
        return EA_ERR_NOMEM;
    if (s->tls) {
        char err[200];
        int rc = ea_tls_ctx_new_server(&s->ctx, pki_server_pem, pki_server_pem_len, pki_server_key,
                                       pki_server_key_len, err, sizeof err);
        if (rc != EA_OK) {
            printf("%s: TLS set-up failed: %s\n", ea_name(self), err);
            return rc;
        }
    }
    const char *addr = ea_param(self, "addr");
    long long port = ea_param_int(self, "port", 8443, NULL);
    int shared = ea_param_int(self, "shared", 0, NULL) == 1;
    if ((shared ? ea_net_listen_shared : ea_net_listen)(&s->sys, addr ? addr : "127.0.0.1",
                                                        (uint16_t)port) <= 0)
        return EA_ERR_NOBUFS;
    /* The requests of a step go out together, in one message, when the
     * body ends (ea_sys_flush there). */
    ea_sys_client_hold(&s->sys, ea_param_int(self, "batch", 1, NULL) != 0);
    return EA_OK;
}

static int front_body(ea_actor_t *self, void *state)
{
    struct front *s = state;
    if (ea_stopping(self)) {
        for (uint32_t i = 0; i < SLOTS; i++)
            if (s->c[i].used) {
                ea_tls_free(s->c[i].tls);
                free(s->c[i].pend);
                free(s->c[i].apend);
                s->c[i].used = 0;
            }
        ea_tls_ctx_free(s->ctx);
        s->ctx = NULL;
        free(s->owed);
        s->owed = NULL;
        s->nowed = 0;
        sq_free(&s->qowed);
        sq_free(&s->qpend);
        sq_free(&s->qwant);
        batch_drop(&s->ab);
        printf("%s: %llu connections accepted, %llu closed\n", ea_name(self),
               (unsigned long long)s->accepted, (unsigned long long)s->closed);
        fflush(stdout);
        return EA_DONE;
    }
    /* What waits in the retry lists below does not keep the actor busy:
     * a failed allocation asked the channel's peer to wake us at its next
     * release of a node (ea_cargo_alloc), and a request refused with
     * EA_ERR_LIMIT waits for completions, which wake us too. Retrying at
     * every step instead spun on the empty pool (at 1,024 connections a
     * twentieth of the front's time went to failed allocations). */
    s->busy = 0;
    arm_accept(s);
    /* Each list once round: what is still waiting after its retry is
     * queued again for the next step. */
    for (uint32_t k = s->qowed.n; k > 0; k--) {
        uint32_t i = sq_take(&s->qowed);
        if (!pay_closed(s, i))
            sq_add(&s->qowed, i);
    }
    for (uint32_t k = s->qpend.n; k > 0; k--) {
        struct fconn *c = &s->c[sq_take(&s->qpend)];
        if (c->used && c->pend_len > 0) {
            retry_pending(s, c);
            maybe_finish(s, c);
        }
        if (c->used && c->pend_len > 0)
            sq_add(&s->qpend, slot_of(s, c));
    }
    for (uint32_t k = s->qwant.n; k > 0; k--) {
        struct fconn *c = &s->c[sq_take(&s->qwant)];
        if (c->used && c->want_recv)
            retry_want(s, c);
        if (c->used && c->want_recv)
            sq_add(&s->qwant, slot_of(s, c));
    }
    int budget = 256, rc;
    ea_sys_event_t ev;
    while (budget-- > 0 && (rc = ea_sys_recv(&s->sys, &ev)) != EA_ERR_EMPTY) {
        if (rc == EA_OK) {
            on_sys(self, s, &ev);
            ea_cargo_release(&ev.cargo);
        }
    }
    if (budget < 0)
        s->busy = 1;
    for (int n = 0; s->app != NULL && n < 256; n++) {
        ea_cargo_t m;
        if (ea_cargo_recv(s->app, &m) != EA_OK)
            break;
        on_app(s, &m);
        ea_cargo_release(&m);
        if (n == 255)
            s->busy = 1;
    }
    /* The step's requests, held since it began, in one message, and its
     * messages to the handler in another. A channel that failed leaves
     * nothing to do; the next step finds out. */
    (void)ea_sys_flush(&s->sys);
    if (s->app != NULL)
        (void)batch_send(&s->ab);
    return s->busy ? EA_BUSY : EA_IDLE;
}

EA_ACTOR(net_front, struct front, front_ctor, front_body);
