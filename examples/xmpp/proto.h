/*
 * Messages between the XMPP actors (over AEAD channels when they are in
 * different enclaves): a 16-byte header, then fields, each a 4-byte length
 * and its bytes. A receiver checks every length against the message.
 *
 *   c2s -> accounts  A_SCRAM_START  a = hash (1 = SHA-1, 256 = SHA-256); user
 *   accounts -> c2s  A_SCRAM_SALT   a = iterations; salt
 *   c2s -> accounts  A_SCRAM_FINAL  a = hash; user, client proof, AuthMessage
 *   c2s -> accounts  A_PLAIN        user, password
 *   c2s -> accounts  A_REGISTER     user, password (in-band registration)
 *   accounts -> c2s  A_RESULT       a = 1 ok / 0 refused / 2 taken (register);
 *                                   [server signature]
 *   accounts -> router A_VOUCH      c2s actor name, user; conn = the c2s's
 *                                   connection that has just authenticated
 *                                   as user (sent before the A_RESULT): the
 *                                   router binds only what was vouched for
 *   c2s -> router    R_BIND         user, resource ("" = make one)
 *   router -> c2s    R_BOUND        a = 1 ok / 0 refused; full JID
 *   c2s -> router    R_STANZA       kind, type, to, id, payload ns, payload
 *                                   name, payload node= (these three empty
 *                                   but for an iq), priority text,
 *                                   serialized stanza (from= stamped; empty
 *                                   when held, unless the c2s expects the
 *                                   router to need it: see R_RESEND),
 *                                   the reference (4 bytes: the c2s holds
 *                                   the stanza as number N, see R_REF; or
 *                                   empty: not held); a = number of payload
 *                                   elements, b = bit 0 has <body>, bit 1
 *                                   carbons private, bits 8-15 the number
 *                                   of items; for a roster set or a
 *                                   block/unblock, an eleventh field: the
 *                                   items (see c2s.c forward)
 *   accounts -> router R_USERS      user names (the directory: who exists,
 *                                   for offline storage), a = 1 on the last
 *   c2s -> router    R_CLOSED       (the connection ended)
 *   router -> c2s    R_DELIVER      XML bytes for the connection
 *   router -> c2s    R_KICK         stream error condition
 *   router -> c2s    R_REF          a = N: deliver to conn the stanza the
 *                                   c2s holds as N (one the same c2s sent,
 *                                   answered in place of R_DELIVER with its
 *                                   bytes; the c2s refuses an N it does not
 *                                   hold)
 *   router -> c2s    R_HELD_DONE    a = N: every R_STANZA up to N has been
 *                                   routed (its R_REFs are before this): the
 *                                   c2s may drop what it holds up to N
 *   router -> c2s    R_RESEND       a = N: the router needs the bytes of the
 *                                   stanza held as N, sent by conn (one it
 *                                   cannot route by reference: a recipient
 *                                   on another c2s, offline storage, a
 *                                   carbon, the MUC). Until the answer, the
 *                                   router routes nothing more from conn
 *                                   (it parks conn's later stanzas, asking
 *                                   for each held one too) and keeps its
 *                                   R_HELD_DONE below N. The c2s sends conn's
 *                                   later stanzas with their bytes.
 *   c2s -> router    R_BYTES        a = N; the bytes of held stanza N of
 *                                   conn (one answer per R_RESEND, in
 *                                   order), or no field and b = 1: not held
 *                                   (refused; the router answers the sender
 *                                   with an error for it)
 *   router -> muc    M_STANZA       sender's full JID, serialized stanza (a
 *                                   stanza to the conference domain)
 *   router -> muc    M_GONE         full JID (the session ended or went
 *                                   unavailable: it leaves its rooms)
 *   muc -> router    M_DELIVER      full JID of a local session, XML bytes,
 *                                   the JID the stanza comes from (checked
 *                                   against the recipient's blocklist)
 *   router <-> store S_ROSTER       user, contact bare JID, name, groups
 *                                   ("g1 NUL g2 NUL ..."); a = subscription
 *                                   bits | ask << 2 | pending-in << 3,
 *                                   b = 1: the item is removed. The router
 *                                   writes each change; the store sends
 *                                   every kept item once at start.
 *   router <-> store S_OFFLINE      user, stored message (delay-stamped);
 *                                   kept in order, sent once at start
 *   router -> store  S_OFFLINE_DEL  user (its offline messages were
 *                                   delivered: forget them)
 *   router -> store  S_FORGET       user (not in the directory: forget its
 *                                   roster and offline messages)
 *   router <-> store S_BLOCK        user, blocked JID (XEP-0191); b = 1:
 *                                   unblocked. Written and loaded as
 *                                   S_ROSTER is.
 *   router -> store  S_END          the router is stopping and has handed
 *                                   over every change: the store syncs and
 *                                   ends (it waits for this, a little)
 *   store -> router  S_LOADED       a = roster items, b = offline messages
 *                                   (the load at start is complete)
 *   any -> any       X_BATCH        a = number of messages; then each as a
 *                                   4-byte length and the message (header
 *                                   and fields): what one actor had for one
 *                                   peer in one round, in one channel
 *                                   message (one AEAD seal, one wake-up).
 *                                   Sent only on an outq with batching on
 *                                   (c2s <-> router); xiter reads both.
 * `conn` names a connection of the sending c2s actor (slot | generation <<
 * 16), so a late message for a closed connection never reaches its
 * successor in the same slot.
 */
#ifndef XMPP_PROTO_H
#define XMPP_PROTO_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <eactors/eactors.h>

enum {
    A_SCRAM_START = 1,
    A_SCRAM_SALT,
    A_SCRAM_FINAL,
    A_PLAIN,
    A_RESULT,
    A_REGISTER, /* c2s -> accounts: user, password (XEP-0077) */
    A_VOUCH,    /* accounts -> router: c2s name, user (a login to bind) */
    R_BIND = 16,
    R_BOUND,
    R_STANZA,
    R_CLOSED,
    R_DELIVER,
    R_KICK,
    R_REF,       /* router -> c2s: a = held stanza number (delivery by reference) */
    R_HELD_DONE, /* router -> c2s: a = every held stanza up to a was routed */
    R_RESEND,    /* router -> c2s: a = held stanza number whose bytes it needs */
    R_BYTES,     /* c2s -> router: a = that number; its bytes, or b = 1 */
    R_USERS = 32,
    M_STANZA = 48,
    M_GONE,
    M_DELIVER,
    S_ROSTER = 64,
    S_OFFLINE,
    S_OFFLINE_DEL,
    S_FORGET,
    S_LOADED,
    S_BLOCK,
    S_END,
    X_BATCH = 80,
};

struct xhdr {
    uint32_t op;
    uint32_t conn;
    uint32_t a;
    uint32_t b;
};

#define XF_MAX 11

/* A message being built, or parsed. */
struct xmsg {
    struct xhdr h;
    unsigned n;
    const char *f[XF_MAX];
    uint32_t fl[XF_MAX];
};

static inline size_t xmsg_size(const struct xmsg *m)
{
    size_t s = sizeof m->h;
    for (unsigned i = 0; i < m->n; i++)
        s += 4 + m->fl[i];
    return s;
}

static inline void xmsg_add(struct xmsg *m, const void *p, size_t n)
{
    if (m->n < XF_MAX) {
        m->f[m->n] = p ? p : "";
        m->fl[m->n++] = (uint32_t)n;
    }
}

static inline void xmsg_adds(struct xmsg *m, const char *s)
{
    xmsg_add(m, s ? s : "", s ? strlen(s) : 0);
}

static inline void xmsg_write(const struct xmsg *m, char *out)
{
    memcpy(out, &m->h, sizeof m->h);
    out += sizeof m->h;
    for (unsigned i = 0; i < m->n; i++) {
        memcpy(out, &m->fl[i], 4);
        memcpy(out + 4, m->f[i], m->fl[i]);
        out += 4 + m->fl[i];
    }
}

/* Parses `len` bytes at `p` (pointers into p). -1 if malformed. */
static inline int xmsg_parse(struct xmsg *m, const char *p, size_t len)
{
    memset(m, 0, sizeof *m);
    if (len < sizeof m->h)
        return -1;
    memcpy(&m->h, p, sizeof m->h);
    size_t off = sizeof m->h;
    while (off < len) {
        uint32_t l;
        if (m->n >= XF_MAX || len - off < 4)
            return -1;
        memcpy(&l, p + off, 4);
        off += 4;
        if (l > len - off)
            return -1;
        m->f[m->n] = p + off;
        m->fl[m->n++] = l;
        off += l;
    }
    return 0;
}

/*
 * Reads a channel message that is one message or an X_BATCH of them:
 *   struct xiter it; struct xmsg m;
 *   xiter_init(&it, data, len);
 *   while (xiter_next(&it, &m)) ...
 * A malformed message in a batch ends the batch (the lengths cannot be
 * trusted past it); a malformed single message is skipped.
 */
struct xiter {
    const char *p;
    size_t len, off;
    int batch, done;
};

static inline void xiter_init(struct xiter *it, const void *p, size_t len)
{
    struct xhdr h;
    it->p = p;
    it->len = len;
    it->off = 0;
    it->done = 0;
    it->batch = 0;
    if (len >= sizeof h) {
        memcpy(&h, p, sizeof h);
        if (h.op == X_BATCH) {
            it->batch = 1;
            it->off = sizeof h;
        }
    }
}

static inline int xiter_next(struct xiter *it, struct xmsg *m)
{
    if (it->done)
        return 0;
    if (!it->batch) {
        it->done = 1;
        return xmsg_parse(m, it->p, it->len) == 0;
    }
    uint32_t l;
    if (it->len - it->off < 4) {
        it->done = 1;
        return 0;
    }
    memcpy(&l, it->p + it->off, 4);
    it->off += 4;
    if (l > it->len - it->off || xmsg_parse(m, it->p + it->off, l) < 0 || m->h.op == X_BATCH) {
        it->done = 1;
        return 0;
    }
    it->off += l;
    return 1;
}

/* Copies field i as a C string into buf (cap bytes); -1 if absent, too long
 * or holding a NUL. */
static inline int xmsg_str(const struct xmsg *m, unsigned i, char *buf, size_t cap)
{
    if (i >= m->n || m->fl[i] >= cap || memchr(m->f[i], 0, m->fl[i]) != NULL)
        return -1;
    memcpy(buf, m->f[i], m->fl[i]);
    buf[m->fl[i]] = 0;
    return 0;
}

/*
 * An ordered outbox on one connector: what finds no free node now is sent
 * first at the next try, so the peer sees messages in order and none is
 * lost to back-pressure.
 */
struct outq_item {
    struct outq_item *next;
    size_t len;
    char data[];
};

struct outq {
    ea_conn_t *c;
    struct outq_item *head, *tail;
    size_t queued;
    /* Batching (set `batch` to 1; the peer reads with xiter): messages
     * gather in `bb` until outq_flush, or until the next would not fit. */
    int batch;
    char *bb; /* an X_BATCH header, then 4-byte length + message each */
    size_t bb_len, bb_cap;
    uint32_t bb_n;
};

static inline int outq_try(ea_conn_t *c, const char *data, size_t len)
{
    ea_cargo_t cg;
    if (ea_cargo_alloc(c, len, &cg) != EA_OK)
        return -1;
    memcpy(cg.data, data, len);
    if (ea_cargo_send(&cg) != EA_OK) {
        ea_cargo_release(&cg);
        return -1;
    }
    return 0;
}

static inline int outq_raw(struct outq *q, const char *data, size_t len);
static inline void outq_seal(struct outq *q);

/* Sends the gathered batch and retries the queue; returns 1 if something
 * is still waiting. */
static inline int outq_flush(struct outq *q)
{
    outq_seal(q);
    while (q->head != NULL) {
        if (outq_try(q->c, q->head->data, q->head->len) < 0)
            return 1;
        struct outq_item *n = q->head->next;
        q->queued -= q->head->len;
        memset(q->head->data, 0, q->head->len); /* may hold a PLAIN password */
        free(q->head);
        q->head = n;
    }
    q->tail = NULL;
    return 0;
}

/* Sends (or queues) `len` bytes as one channel message, in order. */
static inline int outq_raw(struct outq *q, const char *data, size_t len)
{
    if (q->head == NULL && outq_try(q->c, data, len) == 0)
        return 0;
    struct outq_item *it = malloc(sizeof *it + len);
    if (it == NULL)
        return -1;
    memcpy(it->data, data, len);
    it->len = len;
    it->next = NULL;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->queued += len;
    return 0;
}

/* The gathered batch goes out (or into the queue) as one message. */
static inline void outq_seal(struct outq *q)
{
    if (q->bb_n == 0)
        return;
    struct xhdr h = {X_BATCH, 0, q->bb_n, 0};
    memcpy(q->bb, &h, sizeof h);
    (void)outq_raw(q, q->bb, q->bb_len); /* -1: out of memory, the batch is lost */
    memset(q->bb, 0, q->bb_len);         /* may hold a PLAIN password */
    q->bb_len = 0;
    q->bb_n = 0;
}

/* Sends (or queues) a message; -1 if it is larger than the channel allows
 * or memory ran out. With batching, it joins the round's batch. */
static inline int outq_send(struct outq *q, const struct xmsg *m)
{
    size_t len = xmsg_size(m);
    if (q->c == NULL || len > ea_conn_max(q->c))
        return -1;
    size_t max = ea_conn_max(q->c);
    if (!q->batch || len + 4 + sizeof(struct xhdr) > max) {
        /* Alone (too big to share a message): after the batch, in order. */
        outq_seal(q);
        char small[1024];
        char *p = len <= sizeof small ? small : malloc(len);
        if (p == NULL)
            return -1;
        xmsg_write(m, p);
        int rc = outq_raw(q, p, len);
        memset(p, 0, len);
        if (p != small)
            free(p);
        return rc;
    }
    if (q->bb_len + 4 + len > max)
        outq_seal(q);
    if (q->bb_len == 0)
        q->bb_len = sizeof(struct xhdr);
    if (q->bb_len + 4 + len > q->bb_cap) {
        size_t cap = q->bb_cap ? q->bb_cap : 4096;
        while (cap < q->bb_len + 4 + len)
            cap *= 2;
        char *p = realloc(q->bb, cap);
        if (p == NULL) {
            if (q->bb_n == 0)
                q->bb_len = 0;
            return -1;
        }
        q->bb = p;
        q->bb_cap = cap;
    }
    uint32_t l = (uint32_t)len;
    memcpy(q->bb + q->bb_len, &l, 4);
    xmsg_write(m, q->bb + q->bb_len + 4);
    q->bb_len += 4 + len;
    q->bb_n++;
    return 0;
}

static inline void outq_clear(struct outq *q)
{
    free(q->bb);
    q->bb = NULL;
    q->bb_len = q->bb_cap = 0;
    q->bb_n = 0;
    while (q->head) {
        struct outq_item *n = q->head->next;
        free(q->head);
        q->head = n;
    }
    q->tail = NULL;
}
#endif
