/*
 * Mbox: a bounded lock-free MPMC FIFO of 32-bit values, after Dmitry
 * Vyukov's bounded MPMC queue (per-cell sequence numbers).
 *
 * Design notes
 *
 * Storage, from the 64-byte aligned start of `mem`: struct ea_mbox_ctl (the
 * enqueue position and the dequeue position, each on its own cache line),
 * then `capacity` cells {seq, value}, padded to a multiple of 64. Positions
 * are free-running 32-bit counters; a position's cell is pos & mask, so the
 * fast path has no division. Differences are taken as int32_t (a modular
 * conversion on GCC and Clang), which orders positions correctly because
 * capacity <= 2^24 keeps honest differences far below 2^31.
 *
 * A producer that reads enq == pos looks at cell pos & mask:
 *   seq == pos      the cell is free for this lap: claim pos by CASing enq
 *                   to pos + 1, write the value, then publish with
 *                   seq = pos + 1;
 *   seq <  pos      the pop of the previous lap has not finished: full;
 *   seq >  pos      another producer claimed pos already: reload enq.
 * A consumer mirrors this with deq, expecting seq == pos + 1, and frees the
 * cell for the next lap with seq = pos + capacity. Claiming a position by
 * CAS gives each position to exactly one producer and one consumer, and the
 * cell's seq hands the cell back and forth between them, so a value is
 * neither lost nor read twice. A producer's pushes take increasing
 * positions and a consumer's pops take increasing positions, so any one
 * consumer sees any one producer's values in push order.
 *
 * Ordering. The seq store that publishes a value is release and the
 * consumer's seq load is acquire, so the value (and whatever the producer
 * wrote before pushing, such as a node's payload) is visible to the
 * consumer. Symmetrically the consumer's release store of seq orders its
 * read of the value before the next lap's producer overwrites it. enq and
 * deq are only claimed by CAS and carry no data, so relaxed is enough for
 * them, with one exception below.
 *
 * Parking. A worker parks with: store(state, PARKED, seq_cst);
 * if (ea_mbox_nonempty()) unpark. A producer does: push; then
 * load(state, seq_cst) and wakes the worker if PARKED. ea_mbox_nonempty
 * reports enq != deq, loading both seq_cst, and the producer's successful
 * CAS on enq is seq_cst. In the single total order S of seq_cst operations
 * either that CAS precedes the worker's load of enq, so the worker sees the
 * claimed position and does not park, or the load precedes the CAS, and then
 * the worker's PARKED store precedes the producer's state load in S, so the
 * producer sees PARKED and wakes it. No wake-up is lost. The seq_cst CAS is
 * free on x86 (lock cmpxchg is a full barrier anyway), unlike a seq_cst
 * publishing store or fence that would cost an extra locked instruction.
 * A claimed but not yet published position counts as non-empty: the worker
 * may then see EA_ERR_EMPTY from a pop, but it re-checks before parking and
 * the value is published a few instructions later.
 *
 * Hostile storage. Cell indices are masked with the private mask, so no
 * access leaves the cells whatever the storage holds. Garbage positions or
 * seqs can only produce wrong answers (FULL, EMPTY, a garbage value, which
 * callers validate) or keep the loops retrying, and the loops stop after
 * EAI_QUEUE_RETRY_MAX attempts with EA_ERR_BUSY.
 *
 * Single producer, single consumer. A channel's mbox has exactly one
 * producer (the peer end) and one consumer (this end), and each of them
 * counts its own operations, so each knows the position it must find: the
 * _spsc variants take it and check the shared state against it. With one
 * producer and one consumer the cell at position pos can only hold
 *   seq == pos        free (lap 0, or popped one lap ago), or
 *   seq == pos + 1    pushed at pos, not yet popped,
 *   seq == pos - mask the push one lap ago, not yet popped (producer: full),
 * and the position word is only ever moved by its one owner, so its CAS
 * cannot fail. Anything else is EA_ERR_CORRUPT at once: there is no retry
 * loop to bound, and corruption of a position or a sequence number is
 * reported instead of looking like an empty or a busy mbox. The operations
 * are the MPMC ones otherwise (same loads, CAS and stores, same orders), so
 * the parking argument above holds for them unchanged.
 *
 * Check, then commit. A producer that must not make a value's content
 * public before the push is certain (an AEAD sender: a failed send must
 * leave no ciphertext behind, see core/cargo.c) checks the position first
 * (ea_mbox_check_push_spsc, the same checks, nothing written), writes the
 * content, then commits (ea_mbox_commit_push_spsc: the stores of a push,
 * without compare, so it cannot fail). Between the two only hostile
 * storage changes; the commit then overwrites what the host wrote, and the
 * consumer's checks see whatever the host does next, as they would after
 * any push.
 */
#include <stddef.h>
#include <stdint.h>

#include <eactors/ea_queue.h>

#include "queue/queue_internal.h"

static int is_capacity(uint32_t capacity)
{
    return capacity >= 2 && capacity <= EA_QUEUE_MAX_COUNT && (capacity & (capacity - 1)) == 0;
}

size_t ea_mbox_footprint(uint32_t capacity)
{
    if (!is_capacity(capacity))
        return 0;
    size_t cells = ((size_t)capacity * sizeof(struct ea_mbox_cell) + EAI_CACHE_LINE - 1) &
                   ~(size_t)(EAI_CACHE_LINE - 1);
    return sizeof(struct ea_mbox_ctl) + cells;
}

uint32_t ea_mbox_capacity_for(uint32_t n)
{
    if (n > EA_QUEUE_MAX_COUNT)
        return 0;
    uint32_t c = 2;
    while (c < n)
        c <<= 1;
    return c;
}

int ea_mbox_attach(ea_mbox_t *m, void *mem, uint32_t capacity)
{
    if (m == NULL || mem == NULL || ((uintptr_t)mem & (EAI_CACHE_LINE - 1)) != 0)
        return EA_ERR_INVAL;
    if (!is_capacity(capacity))
        return EA_ERR_INVAL;
    m->ctl = mem;
    m->cells = (struct ea_mbox_cell *)((uint8_t *)mem + sizeof(struct ea_mbox_ctl));
    m->mask = capacity - 1;
    return EA_OK;
}

int ea_mbox_init(ea_mbox_t *m, void *mem, uint32_t capacity)
{
    int rc = ea_mbox_attach(m, mem, capacity);
    if (rc != EA_OK)
        return rc;
    /* Relaxed: init runs before any other view uses the storage; whatever
     * hands the storage over (thread creation, fork, a release store)
     * orders these stores before the first push or pop. */
    for (uint32_t i = 0; i < capacity; i++) {
        atomic_store_explicit(&m->cells[i].seq, i, memory_order_relaxed);
        atomic_store_explicit(&m->cells[i].value, 0, memory_order_relaxed);
    }
    atomic_store_explicit(&m->ctl->enq, 0, memory_order_relaxed);
    atomic_store_explicit(&m->ctl->deq, 0, memory_order_relaxed);
    return EA_OK;
}

int ea_mbox_try_push(ea_mbox_t *m, uint32_t value)
{
    /* Relaxed: a guess of the position, checked against the cell's seq and
     * claimed by the CAS. */
    uint32_t pos = atomic_load_explicit(&m->ctl->enq, memory_order_relaxed);
    for (uint32_t tries = 0; tries < EAI_QUEUE_RETRY_MAX; tries++) {
        struct ea_mbox_cell *cell = &m->cells[pos & m->mask];
        /* Acquire pairs with the release seq store of the pop that freed
         * the cell, so its read of the old value happens before our write. */
        uint32_t seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
        int32_t dif = (int32_t)(seq - pos);
        if (dif == 0) {
            /* Success seq_cst: the point ea_mbox_nonempty's seq_cst load of
             * enq is ordered against (design notes, "Parking"). Failure
             * relaxed: pos is reloaded and checked again. */
            if (atomic_compare_exchange_weak_explicit(&m->ctl->enq, &pos, pos + 1,
                                                      memory_order_seq_cst, memory_order_relaxed)) {
                /* Relaxed: published by the release seq store below. */
                atomic_store_explicit(&cell->value, value, memory_order_relaxed);
                /* Release pairs with the acquire seq load in try_pop. */
                atomic_store_explicit(&cell->seq, pos + 1, memory_order_release);
                return EA_OK;
            }
        } else if (dif < 0) {
            return EA_ERR_FULL;
        } else {
            /* Relaxed: as the first load. */
            pos = atomic_load_explicit(&m->ctl->enq, memory_order_relaxed);
        }
    }
    return EA_ERR_BUSY;
}

int ea_mbox_try_pop(ea_mbox_t *m, uint32_t *value)
{
    /* Relaxed: a guess, checked against the cell's seq and claimed by CAS. */
    uint32_t pos = atomic_load_explicit(&m->ctl->deq, memory_order_relaxed);
    for (uint32_t tries = 0; tries < EAI_QUEUE_RETRY_MAX; tries++) {
        struct ea_mbox_cell *cell = &m->cells[pos & m->mask];
        /* Acquire pairs with the release seq store in try_push: the value
         * and everything the producer did before pushing are visible. */
        uint32_t seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
        int32_t dif = (int32_t)(seq - (pos + 1));
        if (dif == 0) {
            /* Relaxed both ways: deq only hands out positions; the data is
             * ordered by the cell's seq. */
            if (atomic_compare_exchange_weak_explicit(&m->ctl->deq, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed)) {
                /* Relaxed: ordered by the acquire seq load above. */
                *value = atomic_load_explicit(&cell->value, memory_order_relaxed);
                /* Release pairs with the acquire seq load of the push one
                 * lap later: our read of the value happens before its write. */
                atomic_store_explicit(&cell->seq, pos + m->mask + 1, memory_order_release);
                return EA_OK;
            }
        } else if (dif < 0) {
            return EA_ERR_EMPTY;
        } else {
            /* Relaxed: as the first load. */
            pos = atomic_load_explicit(&m->ctl->deq, memory_order_relaxed);
        }
    }
    return EA_ERR_BUSY;
}

/* The checks of a single-producer push at `pos` (design notes, "Single
 * producer"): EA_OK, EA_ERR_FULL or EA_ERR_CORRUPT; changes nothing. */
static int check_push_spsc(ea_mbox_t *m, uint32_t pos)
{
    /* Relaxed: only this producer moves enq; the check is against our own
     * count, not a guess. */
    uint32_t enq = atomic_load_explicit(&m->ctl->enq, memory_order_relaxed);
    if (enq != pos)
        return EA_ERR_CORRUPT;
    struct ea_mbox_cell *cell = &m->cells[pos & m->mask];
    /* Acquire: as in try_push (the pop that freed the cell read its old
     * value before our write). */
    uint32_t seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
    if (seq == pos - m->mask)
        return EA_ERR_FULL;
    if (seq != pos)
        return EA_ERR_CORRUPT;
    return EA_OK;
}

int ea_mbox_try_push_spsc(ea_mbox_t *m, uint32_t pos, uint32_t value)
{
    int rc = check_push_spsc(m, pos);
    if (rc != EA_OK)
        return rc;
    struct ea_mbox_cell *cell = &m->cells[pos & m->mask];
    uint32_t enq = pos;
    /* Orders as in try_push; a failure means someone else moved enq. */
    if (!atomic_compare_exchange_strong_explicit(&m->ctl->enq, &enq, pos + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return EA_ERR_CORRUPT;
    atomic_store_explicit(&cell->value, value, memory_order_relaxed);
    atomic_store_explicit(&cell->seq, pos + 1, memory_order_release);
    return EA_OK;
}

int ea_mbox_check_push_spsc(ea_mbox_t *m, uint32_t pos)
{
    return check_push_spsc(m, pos);
}

void ea_mbox_commit_push_spsc(ea_mbox_t *m, uint32_t pos, uint32_t value)
{
    struct ea_mbox_cell *cell = &m->cells[pos & m->mask];
    /* seq_cst: the store takes the place of try_push's seq_cst CAS in the
     * parking argument (design notes): in S it either precedes the worker's
     * seq_cst load of enq or follows its PARKED store. No compare: a host
     * that moved enq since the check gets the push written over its value,
     * which is what it could do to us right after a push. */
    atomic_store_explicit(&m->ctl->enq, pos + 1, memory_order_seq_cst);
    /* Relaxed: published by the release seq store below. */
    atomic_store_explicit(&cell->value, value, memory_order_relaxed);
    /* Release pairs with the acquire seq load of the pop. */
    atomic_store_explicit(&cell->seq, pos + 1, memory_order_release);
}

int ea_mbox_try_pop_spsc(ea_mbox_t *m, uint32_t pos, uint32_t *value)
{
    /* Relaxed: only this consumer moves deq. */
    uint32_t deq = atomic_load_explicit(&m->ctl->deq, memory_order_relaxed);
    if (deq != pos)
        return EA_ERR_CORRUPT;
    struct ea_mbox_cell *cell = &m->cells[pos & m->mask];
    /* Acquire: as in try_pop. */
    uint32_t seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
    if (seq == pos)
        return EA_ERR_EMPTY;
    if (seq != pos + 1)
        return EA_ERR_CORRUPT;
    if (!atomic_compare_exchange_strong_explicit(&m->ctl->deq, &deq, pos + 1, memory_order_relaxed,
                                                 memory_order_relaxed))
        return EA_ERR_CORRUPT;
    *value = atomic_load_explicit(&cell->value, memory_order_relaxed);
    atomic_store_explicit(&cell->seq, pos + m->mask + 1, memory_order_release);
    return EA_OK;
}

void ea_mbox_positions(ea_mbox_t *m, uint32_t *enq, uint32_t *deq)
{
    /* Relaxed: a diagnostic snapshot, not a decision. */
    *enq = atomic_load_explicit(&m->ctl->enq, memory_order_relaxed);
    *deq = atomic_load_explicit(&m->ctl->deq, memory_order_relaxed);
}

int ea_mbox_nonempty(ea_mbox_t *m)
{
    /* seq_cst: ordered in S against the worker's seq_cst PARKED store before
     * it and the producers' seq_cst CAS on enq (design notes, "Parking"). A
     * stale deq can only make this report non-empty, a spurious wake-up. */
    uint32_t enq = atomic_load_explicit(&m->ctl->enq, memory_order_seq_cst);
    uint32_t deq = atomic_load_explicit(&m->ctl->deq, memory_order_seq_cst);
    return enq != deq;
}
