/*
 * Cargos: the message life allocate -> fill -> send, receive -> read ->
 * release, over a connector's pool and mboxes.
 *
 * Design notes. A node index and a length read from an mbox or a node
 * header are hostile when the channel crosses a domain boundary: both are
 * checked against the connector's private limits (pool count, channel
 * maximum) before use, and the header is read exactly once. A failed check
 * marks the connector failed for good (sticky, as LMDB does with a failed
 * transaction): the peer or the host has shown it writes garbage, and every
 * later call reports EA_ERR_FAILED instead of acting on corrupt state.
 *
 * AEAD channels (two ends in two enclaves) keep the same life: the cargo's
 * `data` is plaintext slot i of the connector, in enclave-private memory,
 * where i is the node the cargo holds. Send encrypts slot i in place and
 * copies the ciphertext into node i; receive copies node i into the
 * receiver's own slot i and decrypts it in place. The copy keeps every byte
 * of the arena read or written exactly once: GCM in OpenSSL reads its
 * ciphertext twice (GHASH and CTR), and a host rewriting the node between
 * the two could otherwise get forged plaintext accepted or authenticated.
 * Nothing is allocated per message and no plaintext is written to the
 * public arena. Nonce = direction (4 bytes) || sequence number
 * (8 bytes); the AAD binds channel, direction, sequence number and length.
 * The receiver accepts only the next sequence number of its direction, so a
 * replayed, reordered, swapped or dropped node fails the channel, as does a
 * modified payload, header or tag.
 *
 * Corruption is never silent. Each failure says why, on stderr at once
 * (enclaves may write to fd 2) and in the channel's arena record for the
 * summary, naming the channel, both actors and the failing end. What fails a
 * connector, besides the checks above:
 *  - Mbox positions and cell sequence numbers. Each mbox of a channel has
 *    one producer and one consumer, and each end counts its pushes and pops
 *    privately, so it knows the exact position it must find; the _spsc mbox
 *    operations check the shared position and the cell's sequence number
 *    against it (EA_ERR_CORRUPT), where the MPMC ones could only report
 *    "empty" or "busy" for ever. A full mbox is corruption too: each mbox
 *    has a cell for every node of the pool.
 *  - The pool: an index out of range (EA_ERR_CORRUPT from the queue layer)
 *    at once; EA_ERR_BUSY (the head changed 2^20 times under one
 *    operation) POOL_BUSY_MAX times in a row, which takes milliseconds, not
 *    seconds; and a pool that lost nodes. Each end publishes how many nodes
 *    it took from the pool (stored before it takes one) and gave back
 *    (stored after). When a take finds the pool empty, the taker reads the
 *    peer's `returned`, takes once more, and only after that second empty
 *    take reads the peer's `taken`. Every node out of the pool at the
 *    second take was taken before it, so it is counted in the `taken` read
 *    after it, and every give-back counted in the `returned` read before it
 *    really happened before it; so honest ends always find held >= nodes,
 *    where held = own (taken - returned) + peer (taken - returned). held <
 *    nodes means nodes left the free list without anybody holding them.
 *  - Nodes this end already holds. Each end keeps a bitmap of the nodes it
 *    holds (allocated and not sent, or received and not released) in
 *    private memory, one bit per node of the pool. A node index the host
 *    hands over, from the pool or from the in-mbox, whose bit is set fails
 *    the connector: otherwise the host could queue a node this end is
 *    filling (with a replayed valid ciphertext, the receive would decrypt
 *    the peer's message into the plaintext slot of the outgoing one) or free
 *    a received node into the pool (the next allocation would hand out the
 *    slot of a message still being read). The two ends' bitmaps are in two
 *    domains and are not compared: a node both ends hold at once is
 *    harmless on an AEAD channel (each end has its own plaintext slots) and
 *    on a plain one it is no more than the host can do by writing the node.
 *    A bit is set when a node is accepted (taken, or received and checked)
 *    and cleared when it leaves (pushed by a send, or given back), so the
 *    cost is one load and one plain store per operation in a line only this
 *    end touches.
 * The hot path gains four plain stores per message (one per operation, each
 * end to its own cache line) and no atomic read-modify-write; the checks
 * themselves compare values the operations load anyway.
 *
 * A send reported failed is never accepted by the peer. Every check that
 * can fail (the connector's state, the length, the mbox position and cell,
 * ea_mbox_check_push_spsc) runs before anything is written to the node;
 * after the ciphertext is in the node the push is committed with plain
 * stores that cannot fail (ea_mbox_commit_push_spsc). So an AEAD send that
 * fails has sealed nothing under its sequence number in the arena: there is
 * no ciphertext for the host to deliver, the sequence number is never used
 * (the connector fails, nothing is sealed after it), and the caller's
 * cargo still holds its plaintext. The one failure after the check is the
 * cipher's own (EA_ERR_CRYPTO): it happens in the private slot, before the
 * node is written, and may leave part of a ciphertext in the cargo. A host that rewrites the mbox
 * between the check and the commit gets what it could do right after any push (the index
 * overwritten, moved or dropped), which the receiver's position, held-node
 * and sequence number checks see.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt.h"

enum { CARGO_NONE = 0, CARGO_ALLOCATED = 0x0a11, CARGO_RECEIVED = 0x0ec7 };

static void stat_add(_Atomic uint64_t *v, uint64_t n)
{
    /* Single writer (the actor's worker); readers tolerate a stale value. */
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* Times in a row a pool operation may give up with EA_ERR_BUSY (each after
 * EAI_QUEUE_RETRY_MAX attempts) before the connector fails. */
#define POOL_BUSY_MAX 3

/* Fails connector c for good with `err` and says why: one line on stderr
 * now, and the reason in the channel's arena record for the summary. Cold
 * path; returns err. */
static int conn_fail(ea_conn_t *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int conn_fail(ea_conn_t *c, int err, const char *fmt, ...)
{
    if (c->failed != 0)
        return err;
    c->failed = err;
    atomic_fetch_add_explicit(&c->self->rec->errors, 1, memory_order_relaxed);
    char why[sizeof c->cshm->why[0]];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    const char *me = c->self->name ? c->self->name : "?";
    const char *peer = c->peer_name ? c->peer_name : "?";
    bool first = c->cshm == NULL || c->end == 0;
    fprintf(stderr, "eactors: channel '%s' (%s <-> %s) failed at '%s': %s: %s\n",
            c->name ? c->name : "?", first ? me : peer, first ? peer : me, me, ea_strerror(err),
            why);
    if (c->cshm != NULL) {
        memcpy(c->cshm->why[c->end], why, sizeof why);
        /* Release: the reason is written before the failure is seen. */
        atomic_store_explicit(&c->cshm->failed[c->end], err, memory_order_release);
    }
    return err;
}

/* Why an _spsc mbox operation at position `pos` said EA_ERR_CORRUPT. */
static int mbox_fail(ea_conn_t *c, bool out, uint32_t pos)
{
    ea_mbox_t *m = out ? &c->out : &c->in;
    const char *to = out ? (c->peer_name ? c->peer_name : "?") : c->self->name;
    uint32_t enq, deq;
    ea_mbox_positions(m, &enq, &deq);
    uint32_t at = out ? enq : deq;
    if (at != pos)
        return conn_fail(c, EA_ERR_CORRUPT, "mbox to '%s': %s position %u, expected %u", to,
                         out ? "enqueue" : "dequeue", at, pos);
    return conn_fail(c, EA_ERR_CORRUPT,
                     "mbox to '%s': cell sequence number out of step at position %u", to, pos);
}

static struct eai_chan_end_shm *my_shm(ea_conn_t *c)
{
    return &c->cshm->end[c->end];
}

/* Takes a node from the pool, counting it as taken before the take (see
 * the design notes); retries EA_ERR_BUSY up to POOL_BUSY_MAX times.
 * Returns EA_OK, EA_ERR_NOBUFS, or fails the connector. */
static int pool_take(ea_conn_t *c, uint32_t *idx)
{
    c->taken++;
    if (c->cshm != NULL)
        /* Relaxed: ordered before the take by its release CAS. */
        atomic_store_explicit(&my_shm(c)->taken, c->taken, memory_order_relaxed);
    int rc = ea_pool_get(&c->pool, idx);
    for (int i = 1; rc == EA_ERR_BUSY && i < POOL_BUSY_MAX; i++)
        rc = ea_pool_get(&c->pool, idx);
    if (rc == EA_OK)
        return rc;
    c->taken--;
    if (c->cshm != NULL)
        atomic_store_explicit(&my_shm(c)->taken, c->taken, memory_order_relaxed);
    if (rc == EA_ERR_CORRUPT)
        return conn_fail(c, rc, "pool head or free-list link out of range (%u nodes)",
                         c->pool.count);
    if (rc == EA_ERR_BUSY)
        return conn_fail(c, EA_ERR_CORRUPT,
                         "pool head kept changing: a take gave up %d times in a row",
                         POOL_BUSY_MAX);
    return rc;
}

/* Gives node idx back, counting it after the give-back; retries
 * EA_ERR_BUSY up to POOL_BUSY_MAX times, then fails the connector (the node
 * is lost). */
static void pool_return(ea_conn_t *c, uint32_t idx)
{
    int rc = ea_pool_put(&c->pool, idx);
    for (int i = 1; rc == EA_ERR_BUSY && i < POOL_BUSY_MAX; i++)
        rc = ea_pool_put(&c->pool, idx);
    if (rc != EA_OK) {
        (void)conn_fail(c, EA_ERR_CORRUPT,
                        "pool head kept changing: node %u could not be given back", idx);
        return;
    }
    c->returned++;
    if (c->cshm != NULL)
        /* Release: a peer that reads this count also sees the give-back. */
        atomic_store_explicit(&my_shm(c)->returned, c->returned, memory_order_release);
}

/* The pool looked empty. Waits for a node (want_node), takes once more and
 * checks that an empty pool adds up (design notes). */
static int pool_take_empty(ea_conn_t *c, uint32_t *idx)
{
    struct eai_chan_end_shm *peer = &c->cshm->end[c->end ^ 1];
    /* Ask the peer to wake us when it frees a node, then look once more:
     * a node freed before the flag was visible is found now (the fence
     * pairs with the one in ea_cargo_release). */
    atomic_store_explicit(&c->cshm->want_node[c->end], 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    /* Acquire pairs with the release store in pool_return. */
    uint64_t peer_returned = atomic_load_explicit(&peer->returned, memory_order_acquire);
    int rc = pool_take(c, idx);
    if (rc == EA_OK)
        atomic_store_explicit(&c->cshm->want_node[c->end], 0, memory_order_relaxed);
    if (rc != EA_ERR_NOBUFS)
        return rc;
    /* Relaxed: the peer's store precedes its take, which precedes (head's
     * CAS chain, acquired by our take) the empty head we just read. */
    uint64_t peer_taken = atomic_load_explicit(&peer->taken, memory_order_relaxed);
    uint64_t held = (c->taken - c->returned) + (peer_taken - peer_returned);
    if (held < c->pool.count)
        return conn_fail(c, EA_ERR_CORRUPT,
                         "pool lost nodes: empty, but only %llu of %u nodes are in use",
                         (unsigned long long)held, c->pool.count);
    return rc;
}

/* The held-node bitmap (design notes). Indices are range-checked before. */
static inline bool held_has(const ea_conn_t *c, uint32_t idx)
{
    return (c->held[idx >> 6] >> (idx & 63)) & 1u;
}

static inline void held_set(ea_conn_t *c, uint32_t idx)
{
    c->held[idx >> 6] |= UINT64_C(1) << (idx & 63);
}

static inline void held_clear(ea_conn_t *c, uint32_t idx)
{
    c->held[idx >> 6] &= ~(UINT64_C(1) << (idx & 63));
}

int eai_conn_held_init(ea_conn_t *c)
{
    c->held = calloc(((size_t)c->pool.count + 63) / 64, sizeof *c->held);
    return c->held != NULL ? EA_OK : EA_ERR_NOMEM;
}

void eai_conn_held_fini(ea_conn_t *c)
{
    free(c->held);
    c->held = NULL;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Nonce and associated data of message `seq` in direction `dir`. */
static void wire_bind(const ea_conn_t *c, uint8_t dir, uint64_t seq, uint32_t len, uint8_t iv[12],
                      uint8_t aad[20])
{
    put_le32(iv, dir);
    put_le64(iv + 4, seq);
    put_le32(aad, c->chan);
    put_le32(aad + 4, dir);
    put_le64(aad + 8, seq);
    put_le32(aad + 16, len);
}

int ea_cargo_alloc(ea_conn_t *c, size_t len, ea_cargo_t *cargo)
{
    if (c == NULL || cargo == NULL)
        return EA_ERR_INVAL;
    if (c->failed)
        return EA_ERR_FAILED;
    if (len > c->max)
        return EA_ERR_TOOBIG;
    uint32_t idx;
    int rc = pool_take(c, &idx);
    if (rc == EA_ERR_NOBUFS && c->cshm != NULL)
        rc = pool_take_empty(c, &idx);
    if (rc != EA_OK)
        return rc;
    if (held_has(c, idx))
        return conn_fail(c, EA_ERR_CORRUPT, "the pool handed out node %u, which '%s' already holds",
                         idx, c->self->name);
    held_set(c, idx);
    uint8_t *node = ea_pool_node(&c->pool, idx);
    cargo->data = c->aead ? c->plain + (size_t)idx * c->slot_size : node + EA_NODE_HDR_SIZE;
    cargo->len = len;
    cargo->cap = c->max;
    cargo->conn = c;
    cargo->node = idx;
    cargo->state = CARGO_ALLOCATED;
    return EA_OK;
}

int ea_cargo_send(ea_cargo_t *cargo)
{
    if (cargo == NULL || cargo->conn == NULL || cargo->state != CARGO_ALLOCATED)
        return EA_ERR_INVAL;
    ea_conn_t *c = cargo->conn;
    if (c->failed)
        return EA_ERR_FAILED;
    if (cargo->len > c->max)
        return EA_ERR_TOOBIG;
    ea_node_hdr_t *h = ea_pool_node(&c->pool, cargo->node);
    if (h == NULL)
        return EA_ERR_INVAL;
    /* Everything that can fail comes before the node is written (design
     * notes): from the copy into the node on, the send succeeds. */
    uint32_t pos = (uint32_t)c->sent;
    int rc = ea_mbox_check_push_spsc(&c->out, pos);
    if (rc == EA_ERR_FULL)
        /* The mbox has room for every node of the pool, so only a hostile
         * host makes it look full. */
        return conn_fail(c, EA_ERR_CORRUPT,
                         "mbox to '%s' looks full at position %u (it has a cell for every node)",
                         c->peer_name ? c->peer_name : "?", pos);
    if (rc != EA_OK)
        return mbox_fail(c, true, pos);
    if (c->aead) {
        uint8_t iv[12], aad[20], tag[16];
        wire_bind(c, c->dir_tx, c->tx_seq, (uint32_t)cargo->len, iv, aad);
        /* Encrypt in place in the private slot, then copy out: GCM reads
         * its own output back for the tag, and the arena is writable by the
         * host while that happens. A failure here leaves the node as it
         * was; the slot may hold part of a ciphertext. */
        if (eai_aead_seal(&c->tx, iv, aad, sizeof aad, cargo->data, cargo->len, cargo->data, tag) !=
            EA_OK)
            return conn_fail(c, EA_ERR_CRYPTO, "encryption of message %llu failed",
                             (unsigned long long)c->tx_seq);
        memcpy((uint8_t *)h + EA_NODE_HDR_SIZE, cargo->data, cargo->len);
        memcpy(h->tag, tag, sizeof tag);
        h->seq = c->tx_seq;
    }
    h->len = (uint32_t)cargo->len;
    h->flags = 0;
    ea_mbox_commit_push_spsc(&c->out, pos, cargo->node);
    held_clear(c, cargo->node);
    c->sent++;
    if (c->cshm != NULL)
        /* Relaxed: a progress report for the launcher's watchdog. */
        atomic_store_explicit(&my_shm(c)->sent, c->sent, memory_order_relaxed);
    if (c->aead)
        c->tx_seq++;
    stat_add(&c->self->rec->sent, 1);
    stat_add(&c->self->rec->sent_bytes, cargo->len);
    cargo->state = CARGO_NONE;
    cargo->conn = NULL;
    eai_wake(c->peer_rec, c->peer_ready, c->peer_wk, c->peer);
    return EA_OK;
}

int ea_cargo_recv(ea_conn_t *c, ea_cargo_t *cargo)
{
    if (c == NULL || cargo == NULL)
        return EA_ERR_INVAL;
    if (c->failed)
        return EA_ERR_FAILED;
    uint32_t idx, pos = (uint32_t)c->recv;
    int rc = ea_mbox_try_pop_spsc(&c->in, pos, &idx);
    if (rc == EA_ERR_EMPTY)
        return rc;
    if (rc != EA_OK)
        return mbox_fail(c, false, pos);
    c->recv++;
    if (c->cshm != NULL)
        /* Relaxed: a progress report for the launcher's watchdog. */
        atomic_store_explicit(&my_shm(c)->recv, c->recv, memory_order_relaxed);
    uint8_t *node = ea_pool_node(&c->pool, idx);
    if (node == NULL)
        return conn_fail(c, EA_ERR_CORRUPT,
                         "node index %u from the mbox is out of range (%u nodes)", idx,
                         c->pool.count);
    /* Not given back: this end holds it already. */
    if (held_has(c, idx))
        return conn_fail(c, EA_ERR_CORRUPT, "node %u from the mbox is one '%s' already holds", idx,
                         c->self->name);
    /* One read of the header; the copy is what gets checked and used. */
    ea_node_hdr_t h;
    memcpy(&h, node, sizeof h);
    if (h.len > c->max) {
        pool_return(c, idx);
        return conn_fail(c, EA_ERR_CORRUPT, "node %u: length %u above the channel maximum %u", idx,
                         h.len, c->max);
    }
    uint32_t len = h.len;
    void *data = node + EA_NODE_HDR_SIZE;
    if (c->aead) {
        uint8_t iv[12], aad[20];
        uint8_t *pt = c->plain + (size_t)idx * c->slot_size;
        /* Only the next message of this direction is acceptable. */
        if (h.seq != c->rx_seq) {
            atomic_fetch_add_explicit(&c->cshm->auth_fail[c->end], 1, memory_order_relaxed);
            pool_return(c, idx);
            return conn_fail(c, EA_ERR_AUTH, "node %u: sequence number %llu, expected %llu", idx,
                             (unsigned long long)h.seq, (unsigned long long)c->rx_seq);
        }
        wire_bind(c, (uint8_t)(c->dir_tx ^ 1u), c->rx_seq, len, iv, aad);
        /* Copy the ciphertext into private memory once, then decrypt in
         * place: decrypting straight from the arena would let a host that
         * rewrites the node during decryption make the plaintext differ from
         * the ciphertext that was authenticated. */
        memcpy(pt, data, len);
        if (eai_aead_open(&c->rx, iv, aad, sizeof aad, pt, len, pt, h.tag) != EA_OK) {
            atomic_fetch_add_explicit(&c->cshm->auth_fail[c->end], 1, memory_order_relaxed);
            pool_return(c, idx);
            return conn_fail(c, EA_ERR_AUTH, "node %u: message %llu failed authentication", idx,
                             (unsigned long long)c->rx_seq);
        }
        c->rx_seq++;
        data = pt;
    }
    cargo->data = data;
    cargo->len = len;
    cargo->cap = c->max;
    cargo->conn = c;
    cargo->node = idx;
    cargo->state = CARGO_RECEIVED;
    held_set(c, idx);
    stat_add(&c->self->rec->recv, 1);
    stat_add(&c->self->rec->recv_bytes, len);
    return EA_OK;
}

void ea_cargo_release(ea_cargo_t *cargo)
{
    if (cargo == NULL || cargo->conn == NULL ||
        (cargo->state != CARGO_ALLOCATED && cargo->state != CARGO_RECEIVED))
        return;
    ea_conn_t *c = cargo->conn;
    held_clear(c, cargo->node);
    pool_return(c, cargo->node);
    if (c->cshm != NULL) {
        /* Pairs with the fence in ea_cargo_alloc: either the waiter finds
         * this node, or we see its flag and wake it. */
        atomic_thread_fence(memory_order_seq_cst);
        _Atomic uint32_t *want = &c->cshm->want_node[c->end ^ 1];
        if (atomic_load_explicit(want, memory_order_relaxed) != 0 &&
            atomic_exchange_explicit(want, 0, memory_order_relaxed) != 0)
            eai_wake(c->peer_rec, c->peer_ready, c->peer_wk, c->peer);
    }
    cargo->state = CARGO_NONE;
    cargo->conn = NULL;
    cargo->data = NULL;
}
