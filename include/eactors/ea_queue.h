/**
 * @file ea_queue.h
 * @brief Nodes, pools and mboxes: the lock-free message plumbing.
 *
 * A **pool** is a lock-free LIFO of free node indices (tagged head against
 * ABA). An **mbox** is a lock-free bounded MPMC FIFO of 32-bit values (node
 * indices, actor ids). Both live in caller-provided storage that may be
 * shared between processes (mapped at any address), and neither ever stores or
 * follows a pointer in that storage.
 *
 * Each primitive is used through a small *view* struct (`ea_pool_t`,
 * `ea_mbox_t`) that lives in the caller's private memory and holds the trusted
 * limits (count, node size, capacity). Every index read from shared storage is
 * validated against those private limits before use, so a hostile writer of
 * the shared storage can cause errors (`EA_ERR_CORRUPT`, `EA_ERR_BUSY`) but
 * never an out-of-bounds access or an endless loop.
 */
#ifndef EA_QUEUE_H
#define EA_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include <eactors/ea_err.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Value meaning "no node" in pool links. */
#define EA_NIL UINT32_C(0xffffffff)

/** Largest node count of one pool and largest mbox capacity. */
#define EA_QUEUE_MAX_COUNT (UINT32_C(1) << 24)

/**
 * Header at the start of every node. 32 bytes, the payload follows at offset
 * 32. `seq` and `tag` are reserved for the AEAD layer (sequence number and
 * GCM tag); plain channels leave them zero.
 */
typedef struct ea_node_hdr {
    uint32_t len;    /**< payload bytes in use */
    uint32_t flags;  /**< EA_NODE_* bits */
    uint64_t seq;    /**< per-direction sequence number (AEAD) */
    uint8_t tag[16]; /**< authentication tag (AEAD) */
} ea_node_hdr_t;

#define EA_NODE_HDR_SIZE 32u

/** Private view of a pool. Fields are trusted limits; do not edit. */
typedef struct ea_pool {
    struct ea_pool_ctl *ctl; /**< control block in (possibly shared) storage */
    uint32_t *next;          /**< free-list links, `count` entries (atomic) */
    uint8_t *nodes;          /**< `count * node_size` bytes */
    uint32_t count;          /**< number of nodes */
    uint32_t node_size;      /**< bytes per node incl. header, multiple of 64 */
} ea_pool_t;

/**
 * Rounds `max_payload + EA_NODE_HDR_SIZE` up to a multiple of 64: the node
 * size a pool uses for messages of up to `max_payload` bytes.
 */
EA_API uint32_t ea_node_size_for(uint32_t max_payload);

/**
 * Bytes of storage a pool of `count` nodes of `node_size` bytes needs
 * (control block, links and nodes), a multiple of 64. Returns 0 if the
 * arguments are out of range (count 0 or above EA_QUEUE_MAX_COUNT, node_size
 * not a multiple of 64 or smaller than 64, or total above SIZE_MAX).
 */
EA_API size_t ea_pool_footprint(uint32_t count, uint32_t node_size);

/**
 * Formats `mem` (at least ea_pool_footprint() bytes, 64-byte aligned) as a
 * pool whose every node is free, and fills the view `p`.
 * @return EA_OK, EA_ERR_INVAL for bad sizes or misaligned memory.
 * Not thread-safe: no other view may use `mem` during init.
 */
EA_API int ea_pool_init(ea_pool_t *p, void *mem, uint32_t count, uint32_t node_size);

/**
 * Fills the view `p` for storage that another view already formatted (for
 * example in another process). Writes nothing to `mem`.
 * @return EA_OK or EA_ERR_INVAL.
 */
EA_API int ea_pool_attach(ea_pool_t *p, void *mem, uint32_t count, uint32_t node_size);

/**
 * Takes a free node. Lock-free, MPMC.
 * @return EA_OK with `*idx` < count; EA_ERR_NOBUFS if the pool is empty;
 *         EA_ERR_CORRUPT if shared storage holds an impossible index;
 *         EA_ERR_BUSY if the contention bound was reached.
 */
EA_API int ea_pool_get(ea_pool_t *p, uint32_t *idx);

/**
 * Returns node `idx` to the pool. Lock-free, MPMC. The caller must own the
 * node (got it from ea_pool_get or received it through an mbox).
 * @return EA_OK; EA_ERR_INVAL if idx >= count; EA_ERR_BUSY on contention bound.
 */
EA_API int ea_pool_put(ea_pool_t *p, uint32_t idx);

/** Borrowed pointer to node `idx` (header first), or NULL if out of range. */
EA_API void *ea_pool_node(const ea_pool_t *p, uint32_t idx);

/**
 * Counts free nodes by walking the free list (at most `count` steps). Only
 * meaningful when no other thread uses the pool; for leak checks in tests
 * and at shutdown. Returns EA_NIL if the list is corrupt (cycle, bad index).
 */
EA_API uint32_t ea_pool_free_count(ea_pool_t *p);

/** Private view of an mbox. Fields are trusted limits; do not edit. */
typedef struct ea_mbox {
    struct ea_mbox_ctl *ctl;    /**< producer/consumer positions */
    struct ea_mbox_cell *cells; /**< `capacity` cells */
    uint32_t mask;              /**< capacity - 1 */
} ea_mbox_t;

/**
 * Bytes of storage an mbox of `capacity` cells needs, a multiple of 64.
 * `capacity` must be a power of two in [2, EA_QUEUE_MAX_COUNT]; returns 0
 * otherwise.
 */
EA_API size_t ea_mbox_footprint(uint32_t capacity);

/** Smallest power of two >= n (at least 2), or 0 if above EA_QUEUE_MAX_COUNT. */
EA_API uint32_t ea_mbox_capacity_for(uint32_t n);

/**
 * Formats `mem` (ea_mbox_footprint() bytes, 64-byte aligned) as an empty
 * mbox and fills the view. @return EA_OK or EA_ERR_INVAL.
 */
EA_API int ea_mbox_init(ea_mbox_t *m, void *mem, uint32_t capacity);

/** Fills the view for already formatted storage; writes nothing. */
EA_API int ea_mbox_attach(ea_mbox_t *m, void *mem, uint32_t capacity);

/**
 * Appends `value`. Lock-free, MPMC.
 * @return EA_OK; EA_ERR_FULL if the mbox is full; EA_ERR_BUSY if the
 *         contention bound was reached (hostile or pathological storage).
 */
EA_API int ea_mbox_try_push(ea_mbox_t *m, uint32_t value);

/**
 * Removes the oldest value. Lock-free, MPMC. The value is NOT validated:
 * the caller checks it against its own limits.
 * @return EA_OK; EA_ERR_EMPTY; EA_ERR_BUSY as for push.
 */
EA_API int ea_mbox_try_pop(ea_mbox_t *m, uint32_t *value);

/**
 * Appends `value` at position `pos`, for an mbox with a single producer
 * (the caller) that counts its successful pushes: `pos` is that count
 * (modulo 2^32; the first push is at 0). Lock-free, wait-free, no retry.
 * @return EA_OK (the caller's next position is pos + 1); EA_ERR_FULL if the
 *         cell still holds the value pushed one lap ago; EA_ERR_CORRUPT if
 *         the shared position or the cell's sequence number cannot be what
 *         one producer and one consumer leave behind (hostile storage).
 */
EA_API int ea_mbox_try_push_spsc(ea_mbox_t *m, uint32_t pos, uint32_t value);

/**
 * The checks of ea_mbox_try_push_spsc() at position `pos`, without the
 * push: for a producer that writes what the value refers to only once the
 * push can no longer fail. Writes nothing.
 * @return EA_OK (commit with ea_mbox_commit_push_spsc()); EA_ERR_FULL;
 *         EA_ERR_CORRUPT, as for ea_mbox_try_push_spsc().
 */
EA_API int ea_mbox_check_push_spsc(ea_mbox_t *m, uint32_t pos);

/**
 * Pushes `value` at position `pos` after ea_mbox_check_push_spsc(m, pos)
 * returned EA_OK, without checking again: it cannot fail. If hostile
 * storage changed since the check, the push is written over it (the
 * consumer checks what it finds). Single producer only.
 */
EA_API void ea_mbox_commit_push_spsc(ea_mbox_t *m, uint32_t pos, uint32_t value);

/**
 * Removes the value at position `pos`, for an mbox with a single consumer
 * (the caller) that counts its successful pops. The value is NOT validated.
 * @return EA_OK (next position pos + 1); EA_ERR_EMPTY; EA_ERR_CORRUPT as
 *         for ea_mbox_try_push_spsc().
 */
EA_API int ea_mbox_try_pop_spsc(ea_mbox_t *m, uint32_t pos, uint32_t *value);

/**
 * The shared enqueue and dequeue positions as read now: for diagnostics
 * only (they are hostile input when the storage is shared).
 */
EA_API void ea_mbox_positions(ea_mbox_t *m, uint32_t *enq, uint32_t *deq);

/**
 * Non-zero if the mbox looked non-empty at the moment of the call (a hint,
 * sequentially consistent, used before parking a worker).
 */
EA_API int ea_mbox_nonempty(ea_mbox_t *m);

#ifdef __cplusplus
}
#endif
#endif
