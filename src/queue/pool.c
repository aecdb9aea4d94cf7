/*
 * Pool: a lock-free LIFO (Treiber stack) of free node indices.
 *
 * Design notes
 *
 * Storage, from the 64-byte aligned start of `mem`:
 *   struct ea_pool_ctl   one cache line, the tagged head
 *   uint32_t next[count] free-list links, padded to a multiple of 64
 *   nodes               count * node_size bytes, each node 64-aligned
 * Nothing in it is a pointer, so every process may map it anywhere.
 *
 * ABA. A pop reads head = (tag, i) and next[i], then CASes head to
 * (tag + 1, next[i]). If meanwhile i was popped and pushed back, next[i] may
 * have changed, but every successful CAS (push or pop) bumps the tag, so the
 * stale CAS fails. The 32-bit tag only wraps after 2^32 operations landed
 * between one thread's load and its CAS, which we accept.
 *
 * Ordering. Every successful CAS on head is acq_rel, so the modification
 * order of head is a chain in which each CAS synchronises with the next.
 * Hence a pop that reads head (acquire) sees the next[] store of the push
 * that made that index the top, and the previous owner's accesses to the
 * node happen before the new owner's. The chain does not rely on C11
 * release sequences, so ThreadSanitizer checks it exactly. On x86 the CAS is
 * a full barrier either way; the order costs nothing there.
 *
 * next[] is read and written with relaxed atomics: a popper may read next[i]
 * while a thread that already popped and pushed i writes it. That read is
 * then stale but harmless, since the tag makes its CAS fail.
 *
 * Hostile storage. The view holds the trusted count. Every index read from
 * storage (the head index and each link) is checked against it before it is
 * used to address memory; an impossible one gives EA_ERR_CORRUPT. Honest
 * writers only ever store in-range indices or EA_NIL, so a check that fails
 * always means corruption, even when the value read was stale. Retry loops
 * stop after EAI_QUEUE_RETRY_MAX attempts with EA_ERR_BUSY. A push does not
 * check the old head index it links behind: it would only be followed by a
 * later pop, which checks it, and refusing the push would leak the node.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>

#include <eactors/ea_queue.h>

#include "queue/queue_internal.h"

/* Bytes of the link array, padded so the nodes start on a cache line. */
static size_t links_size(uint32_t count)
{
    return ((size_t)count * sizeof(uint32_t) + EAI_CACHE_LINE - 1) & ~(size_t)(EAI_CACHE_LINE - 1);
}

static _Atomic uint32_t *link_at(const ea_pool_t *p, uint32_t idx)
{
    return (_Atomic uint32_t *)&p->next[idx];
}

/* Largest payload whose node size still fits a uint32_t; larger gives 0. */
uint32_t ea_node_size_for(uint32_t max_payload)
{
    uint64_t size = ((uint64_t)max_payload + EA_NODE_HDR_SIZE + EAI_CACHE_LINE - 1) &
                    ~(uint64_t)(EAI_CACHE_LINE - 1);
    return size > UINT32_MAX ? 0 : (uint32_t)size;
}

size_t ea_pool_footprint(uint32_t count, uint32_t node_size)
{
    if (count == 0 || count > EA_QUEUE_MAX_COUNT)
        return 0;
    if (node_size < EAI_CACHE_LINE || node_size % EAI_CACHE_LINE != 0)
        return 0;
    size_t fixed = sizeof(struct ea_pool_ctl) + links_size(count);
    if ((SIZE_MAX - fixed) / node_size < count)
        return 0;
    return fixed + (size_t)count * node_size;
}

/* Fills the view after checking the arguments; touches no storage. */
static int view_init(ea_pool_t *p, void *mem, uint32_t count, uint32_t node_size)
{
    if (p == NULL || mem == NULL || ((uintptr_t)mem & (EAI_CACHE_LINE - 1)) != 0)
        return EA_ERR_INVAL;
    if (ea_pool_footprint(count, node_size) == 0)
        return EA_ERR_INVAL;
    uint8_t *base = mem;
    p->ctl = mem;
    p->next = (uint32_t *)(base + sizeof(struct ea_pool_ctl));
    p->nodes = base + sizeof(struct ea_pool_ctl) + links_size(count);
    p->count = count;
    p->node_size = node_size;
    return EA_OK;
}

int ea_pool_init(ea_pool_t *p, void *mem, uint32_t count, uint32_t node_size)
{
    int rc = view_init(p, mem, count, node_size);
    if (rc != EA_OK)
        return rc;
    /* Relaxed stores: init runs before any other view uses the storage, and
     * whatever hands the storage to other threads or processes (thread
     * creation, fork, a release store) orders these stores before their
     * first access. */
    for (uint32_t i = 0; i + 1 < count; i++)
        atomic_store_explicit(link_at(p, i), i + 1, memory_order_relaxed);
    atomic_store_explicit(link_at(p, count - 1), EA_NIL, memory_order_relaxed);
    atomic_store_explicit(&p->ctl->head, 0, memory_order_relaxed);
    return EA_OK;
}

int ea_pool_attach(ea_pool_t *p, void *mem, uint32_t count, uint32_t node_size)
{
    return view_init(p, mem, count, node_size);
}

int ea_pool_get(ea_pool_t *p, uint32_t *idx)
{
    /* Acquire pairs with the acq_rel CAS of the push that published the top
     * index, so its next[] store below is visible. */
    uint64_t head = atomic_load_explicit(&p->ctl->head, memory_order_acquire);
    for (uint32_t tries = 0; tries < EAI_QUEUE_RETRY_MAX; tries++) {
        uint32_t top = EAI_POOL_IDX(head);
        if (top == EA_NIL)
            return EA_ERR_NOBUFS;
        if (top >= p->count)
            return EA_ERR_CORRUPT;
        /* Relaxed: ordered by the acquire load of head above (or by the
         * failed CAS below, which is acquire too). */
        uint32_t next = atomic_load_explicit(link_at(p, top), memory_order_relaxed);
        if (next != EA_NIL && next >= p->count)
            return EA_ERR_CORRUPT;
        uint64_t desired = ((head & ~(uint64_t)UINT32_MAX) + EAI_POOL_TAG_ONE) | next;
        /* Success acq_rel: acquire for the same reason as the load above,
         * release so the next CAS in head's order synchronises with us (see
         * the design notes). Failure acquire: we retry with the new value. */
        if (atomic_compare_exchange_weak_explicit(&p->ctl->head, &head, desired,
                                                  memory_order_acq_rel, memory_order_acquire)) {
            *idx = top;
            return EA_OK;
        }
    }
    return EA_ERR_BUSY;
}

int ea_pool_put(ea_pool_t *p, uint32_t idx)
{
    if (idx >= p->count)
        return EA_ERR_INVAL;
    /* Relaxed: the value is only a guess that the CAS below checks. */
    uint64_t head = atomic_load_explicit(&p->ctl->head, memory_order_relaxed);
    for (uint32_t tries = 0; tries < EAI_QUEUE_RETRY_MAX; tries++) {
        /* Relaxed: published by the release half of the CAS below, which a
         * popper's acquire load of head pairs with. */
        atomic_store_explicit(link_at(p, idx), EAI_POOL_IDX(head), memory_order_relaxed);
        uint64_t desired = ((head & ~(uint64_t)UINT32_MAX) + EAI_POOL_TAG_ONE) | idx;
        /* Success acq_rel: release publishes next[idx] and our accesses to
         * the node to the next owner; acquire keeps head's CAS chain intact
         * (design notes). Failure relaxed: we only reuse the value read. */
        if (atomic_compare_exchange_weak_explicit(&p->ctl->head, &head, desired,
                                                  memory_order_acq_rel, memory_order_relaxed))
            return EA_OK;
    }
    return EA_ERR_BUSY;
}

void *ea_pool_node(const ea_pool_t *p, uint32_t idx)
{
    if (idx >= p->count)
        return NULL;
    return p->nodes + (size_t)idx * p->node_size;
}

uint32_t ea_pool_free_count(ea_pool_t *p)
{
    /* Acquire pairs with the last push's CAS; the caller guarantees the pool
     * is quiescent, so the relaxed link loads see the final links. */
    uint32_t i = EAI_POOL_IDX(atomic_load_explicit(&p->ctl->head, memory_order_acquire));
    uint32_t n = 0;
    while (i != EA_NIL) {
        /* More steps than nodes means the walk revisited a node: a cycle. */
        if (i >= p->count || n == p->count)
            return EA_NIL;
        n++;
        i = atomic_load_explicit(link_at(p, i), memory_order_relaxed);
    }
    return n;
}
