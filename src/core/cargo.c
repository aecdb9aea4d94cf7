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
 * The node header keeps room for the AEAD layer (sequence number and tag);
 * with AEAD the cargo's `data` will point to a per-connector plaintext buffer
 * in private memory instead of into the node, without changing this API.
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
    }
    return err;
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
    if (rc == EA_ERR_CORRUPT)
        return conn_fail(c, rc);
    if (rc != EA_OK)
        return rc;
    uint8_t *node = ea_pool_node(&c->pool, idx);
    cargo->data = node + EA_NODE_HDR_SIZE;
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
    h->len = (uint32_t)cargo->len;
    h->flags = 0;
    int rc = ea_mbox_try_push(&c->out, cargo->node);
    if (rc != EA_OK)
        return rc == EA_ERR_BUSY ? EA_ERR_FULL : rc;
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
    /* One read of the length; the copy is what gets checked and used. */
    uint32_t len = atomic_load_explicit((_Atomic uint32_t *)(void *)node, memory_order_relaxed);
    if (len > c->max) {
        (void)ea_pool_put(&c->pool, idx);
        return conn_fail(c, EA_ERR_CORRUPT);
    }
    cargo->data = node + EA_NODE_HDR_SIZE;
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
    (void)ea_pool_put(&cargo->conn->pool, cargo->node);
    cargo->state = CARGO_NONE;
    cargo->conn = NULL;
    cargo->data = NULL;
}
