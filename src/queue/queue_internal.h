/*
 * Layout of the shared storage of pools and mboxes. Private to src/queue and
 * its tests: callers only see the opaque view structs of ea_queue.h.
 *
 * Everything here may live in memory shared with other processes and mapped
 * at different addresses, so it holds indices and counters only, never
 * pointers. Only lock-free, address-free atomics are used, which C11 allows
 * to work across processes.
 */
#ifndef EAI_QUEUE_INTERNAL_H
#define EAI_QUEUE_INTERNAL_H

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include <eactors/ea_queue.h>

/* Cache line size the layouts are padded to. */
#define EAI_CACHE_LINE 64u

/*
 * Attempts a single pool or mbox operation makes before it gives up with
 * EA_ERR_BUSY. Each failed attempt means another party changed the shared
 * state in between, so honest contention practically never gets near this;
 * it only stops a hostile writer from keeping us in the loop forever.
 */
#define EAI_QUEUE_RETRY_MAX (UINT32_C(1) << 20)

static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "pool head needs lock-free 64-bit atomics");
static_assert(ATOMIC_INT_LOCK_FREE == 2, "links and cells need lock-free 32-bit atomics");
static_assert(sizeof(_Atomic uint32_t) == sizeof(uint32_t) &&
                  alignof(_Atomic uint32_t) == alignof(uint32_t),
              "pool links are uint32_t storage accessed as _Atomic uint32_t");

/*
 * Pool control block. `head` is (tag << 32) | index of the first free node,
 * index EA_NIL when the pool is empty. Every thread of every process that
 * uses the pool reads and CASes it; it has the cache line to itself.
 */
struct ea_pool_ctl {
    alignas(EAI_CACHE_LINE) _Atomic uint64_t head;
    uint8_t pad[EAI_CACHE_LINE - sizeof(_Atomic uint64_t)];
};
static_assert(sizeof(struct ea_pool_ctl) == EAI_CACHE_LINE, "pool ctl is one cache line");

#define EAI_POOL_TAG_ONE (UINT64_C(1) << 32)
#define EAI_POOL_IDX(head) ((uint32_t)(head))

/*
 * Mbox control block: the enqueue position is written by producers only,
 * the dequeue position by consumers only, so each sits on its own line.
 * Positions are free-running 32-bit counters; cell = position & mask.
 */
struct ea_mbox_ctl {
    alignas(EAI_CACHE_LINE) _Atomic uint32_t enq;
    uint8_t pad_enq[EAI_CACHE_LINE - sizeof(_Atomic uint32_t)];
    alignas(EAI_CACHE_LINE) _Atomic uint32_t deq;
    uint8_t pad_deq[EAI_CACHE_LINE - sizeof(_Atomic uint32_t)];
};
static_assert(sizeof(struct ea_mbox_ctl) == 2 * EAI_CACHE_LINE, "mbox ctl is two cache lines");

/*
 * One mbox cell. `seq` == pos: free for the push at position pos;
 * seq == pos + 1: holds the value pushed at pos; the pop at pos sets it to
 * pos + capacity, freeing it for the next lap.
 */
struct ea_mbox_cell {
    _Atomic uint32_t seq;
    _Atomic uint32_t value;
};
static_assert(sizeof(struct ea_mbox_cell) == 8, "mbox cell is 8 bytes");

#endif
