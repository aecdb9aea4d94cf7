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
 */
#include <string.h>

#include "core/rt.h"

enum { CARGO_NONE = 0, CARGO_ALLOCATED = 0x0a11, CARGO_RECEIVED = 0x0ec7 };

static void stat_add(_Atomic uint64_t *v, uint64_t n)
{
    /* Single writer (the actor's worker); readers tolerate a stale value. */
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static int conn_fail(ea_conn_t *c, int err)
{
    if (c->failed == 0) {
        c->failed = err;
        atomic_fetch_add_explicit(&c->self->rec->errors, 1, memory_order_relaxed);
        if (c->cshm != NULL)
            atomic_store_explicit(&c->cshm->failed[c->end], err, memory_order_relaxed);
    }
    return err;
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
    int rc = ea_pool_get(&c->pool, &idx);
    if (rc == EA_ERR_NOBUFS && c->cshm != NULL) {
        /* Ask the peer to wake us when it frees a node, then look once more:
         * a node freed before the flag was visible is found now (the fence
         * pairs with the one in ea_cargo_release). */
        atomic_store_explicit(&c->cshm->want_node[c->end], 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_seq_cst);
        rc = ea_pool_get(&c->pool, &idx);
        if (rc == EA_OK)
            atomic_store_explicit(&c->cshm->want_node[c->end], 0, memory_order_relaxed);
    }
    if (rc == EA_ERR_CORRUPT)
        return conn_fail(c, rc);
    if (rc != EA_OK)
        return rc;
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
    if (c->aead) {
        uint8_t iv[12], aad[20], tag[16];
        wire_bind(c, c->dir_tx, c->tx_seq, (uint32_t)cargo->len, iv, aad);
        /* Encrypt in place in the private slot, then copy out: GCM reads
         * its own output back for the tag, and the arena is writable by the
         * host while that happens. */
        if (eai_aead_seal(&c->tx, iv, aad, sizeof aad, cargo->data, cargo->len, cargo->data, tag) !=
            EA_OK)
            return conn_fail(c, EA_ERR_CRYPTO);
        memcpy((uint8_t *)h + EA_NODE_HDR_SIZE, cargo->data, cargo->len);
        memcpy(h->tag, tag, sizeof tag);
        h->seq = c->tx_seq;
    }
    h->len = (uint32_t)cargo->len;
    h->flags = 0;
    int rc = ea_mbox_try_push(&c->out, cargo->node);
    if (rc != EA_OK && c->aead) {
        /* The mbox has room for every node of the pool, so only a hostile
         * host makes it look full. The node already holds ciphertext under
         * sequence number tx_seq: a retry would reuse that nonce for other
         * data (and the cargo now holds ciphertext). Fail the channel. */
        return conn_fail(c, EA_ERR_CORRUPT);
    }
    if (rc != EA_OK)
        return rc == EA_ERR_BUSY ? EA_ERR_FULL : rc;
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
    uint32_t idx;
    int rc = ea_mbox_try_pop(&c->in, &idx);
    if (rc != EA_OK)
        return rc == EA_ERR_BUSY ? EA_ERR_EMPTY : rc;
    uint8_t *node = ea_pool_node(&c->pool, idx);
    if (node == NULL)
        return conn_fail(c, EA_ERR_CORRUPT);
    /* One read of the header; the copy is what gets checked and used. */
    ea_node_hdr_t h;
    memcpy(&h, node, sizeof h);
    if (h.len > c->max) {
        (void)ea_pool_put(&c->pool, idx);
        return conn_fail(c, EA_ERR_CORRUPT);
    }
    uint32_t len = h.len;
    void *data = node + EA_NODE_HDR_SIZE;
    if (c->aead) {
        uint8_t iv[12], aad[20];
        uint8_t *pt = c->plain + (size_t)idx * c->slot_size;
        /* Only the next message of this direction is acceptable. */
        if (h.seq != c->rx_seq) {
            atomic_fetch_add_explicit(&c->cshm->auth_fail[c->end], 1, memory_order_relaxed);
            (void)ea_pool_put(&c->pool, idx);
            return conn_fail(c, EA_ERR_AUTH);
        }
        wire_bind(c, (uint8_t)(c->dir_tx ^ 1u), c->rx_seq, len, iv, aad);
        /* Copy the ciphertext into private memory once, then decrypt in
         * place: decrypting straight from the arena would let a host that
         * rewrites the node during decryption make the plaintext differ from
         * the ciphertext that was authenticated. */
        memcpy(pt, data, len);
        if (eai_aead_open(&c->rx, iv, aad, sizeof aad, pt, len, pt, h.tag) != EA_OK) {
            atomic_fetch_add_explicit(&c->cshm->auth_fail[c->end], 1, memory_order_relaxed);
            (void)ea_pool_put(&c->pool, idx);
            return conn_fail(c, EA_ERR_AUTH);
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
    (void)ea_pool_put(&c->pool, cargo->node);
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
