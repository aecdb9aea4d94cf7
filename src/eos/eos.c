/*
 * EOS, the object store (include/eactors/ea_eos.h).
 *
 * Design notes.
 *
 * Region: a header page (eos_int.h), an open-addressing index of slots, a
 * line per reader pin, then the data space carved into blocks of 56 size
 * classes (four per doubling, so at most a quarter is wasted). All
 * references are 64-byte unit offsets from the region base, never
 * pointers, so the region can sit at any address in any process or file.
 *
 * Publication: a writer fills a fresh block with the whole record, then
 * swings the key's slot word to it with one compare-and-swap (release;
 * readers load the word with acquire). The word carries a 26-bit sequence
 * number beside the offset, bumped on every swing, so a stale writer's
 * CAS fails even if its expected block was reclaimed and reused (ABA; a
 * writer's expected block can be reused only after the writer was evicted
 * as a stalled reader, and then the slot must also swing 2^26 times during
 * the stall). Between them, 6 bits give the record's length in lines
 * (capped at 63): a prefetch hint, so that a reader fetches the header and
 * the whole value in one round trip (rec_prefetch); never trusted.
 * Versions are per key: the new record's version is the replaced one's +1
 * (1 for a new key), fixed before the CAS and checked by it, so
 * compare-and-swap by version is the slot CAS. A slot is claimed by the
 * CAS from 0 and never freed, so a key's slot never changes: a probe ends
 * at the first empty slot. Deletes publish a tombstone record.
 *
 * Readers: a reader validates what it read by loading the slot word again
 * afterwards: if it is unchanged the record was linked, hence not
 * reclaimed, for the whole read (the sequence rules out A-B-A). So a
 * reader never acts on reused bytes, whether or not it was evicted; every
 * length read from the region is bounds-checked before use.
 *
 * Reclamation (epochs): a reader pins a reader slot with the global epoch
 * (CAS 0 -> epoch << 16 | salt, seq_cst) before it loads any slot word, and
 * unpins after. A replaced record is retired with the epoch loaded after
 * the CAS that unlinked it (g); it is freed once the epoch reaches g + 2.
 * The epoch advances from e only when no pin is older than e. Any reader
 * that can still see the record pinned before the unlink, so with an epoch
 * <= g; to reach g + 2 a reclaimer must have seen all pins >= g + 1, after
 * that reader left. Lease: a reclaimer that sees the same stale pin for
 * longer than the lease evicts it (CAS pin -> EOS_EVICTED); the reader
 * notices at unpin. Eviction is safe because of the re-validation above,
 * so a stopped or dead reader holds reclamation back for one lease only.
 *
 * Cheaper pins. A trusted store's handle reserves a reader slot at open
 * or dup (0 -> EOS_IDLE, which every scan skips; only in the first half of
 * the slots, so later handles still find slots to claim per pin) and frees
 * it at close; its pin is then one seq_cst exchange on that slot (no scan,
 * no CAS that can fail), the same place in the total order as the claiming
 * CAS, so the argument above is unchanged. Only trusted stores reserve: their region
 * dies with the process, so a handle never closed (a crash) cannot keep a
 * slot from the readers of another process. An unpin is a release store
 * (0, or EOS_IDLE) except where the reader must learn of an eviction:
 * that matters only to a reader that does not re-validate, i.e. a view,
 * whose bytes the caller reads after the get returned (view_end uses an
 * exchange and compares). A get, a probe and a writer re-validate every
 * read against the slot word, so for them an eviction changes nothing
 * (the eviction argument above) and they need not look. The release store
 * keeps what matters to reclaimers: the reader's reads happen before a
 * scan that sees the slot free. An evicted slot holds EOS_EVICTED until its
 * owner writes 0 (or EOS_IDLE) back: no other reader claims it meanwhile.
 *
 * Free lists and the limbo list are Treiber stacks with a 32-bit tag in
 * the head against ABA; a reclaimer takes the whole limbo list, frees what
 * is old enough and pushes the rest back.
 *
 * Home blocks (optional): slot i owns the block at a place computed from
 * i, the first blocks of the data space. Its `link` is its state (free, in
 * use, or retired at epoch g: free from g + 2, the limbo list's rule,
 * claimed by CAS); it never goes on a list. A writer takes its key's
 * slot's home if free, else allocates; readers need nothing new (a home is
 * a block) but load the first slot and its home before they pin, so both
 * misses overlap: one memory round trip per get.
 *
 * Encrypted stores (untrusted, persistent): the slot and record hold two
 * SipHash-2-4 values of the key under two keys derived from the store key
 * (64 + 64 bits of identity, so probes compare keys without decrypting);
 * key||value is sealed with AES-256-GCM under a per-handle IV (8 random
 * bytes + a counter), AAD = store id, both hashes, version, lengths and
 * flags. A record moved to another slot or key, an edited header field or
 * byte fails the tag or the slot's hash check: EA_ERR_TAMPERED for that
 * key only. The store key is sealed in the header with the opener's seal
 * key, the static header as the sealed data's MAC text. Persistent stores
 * keep the counter value of the last sync in the header under a CMAC.
 *
 * What the host can still do to an untrusted region: destroy it (make keys
 * vanish, make writes fail) and, while the store is live, point a slot back
 * at an older record of the same key that is not yet reused. Only whole-file
 * rollback across syncs is detected (the counter).
 */
#include "eos/eos_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "platform/platform.h"
#include "trust/trust.h"

/* The few small functions every get goes through: inlined, so a trusted
 * get is one function without calls but the hash and the copy. */
#define EOS_HOT static inline __attribute__((always_inline))

static const uint8_t eos_magic[8] = {'E', 'A', 'E', 'O', 'S', 0, 0, 1};
#define UNITS_MASK UINT64_C(0xffffffff)
/* A slot word: the record's units (bits 0-31), the record's length in
 * lines capped at 63 (bits 32-37: a prefetch hint, never trusted), and a
 * 26-bit sequence number (bits 38-63). */
#define WORD_LINES_SHIFT 32
#define WORD_LINES_MAX UINT64_C(63)
#define WORD_SEQ_SHIFT 38
#define WORD_SEQ_MASK ((UINT64_C(1) << 26) - 1)
#define DEFAULT_LEASE_NS UINT64_C(100000000)
#define RECLAIM_EVERY 32u
#define GET_TRIES 64
#define ALLOC_TRIES 4

/* One store as seen by this process: shared by its handles. */
struct eos_store {
    _Atomic int refs;
    uint8_t *base;
    size_t size;
    int fd;    /* the file, if the store opened it; -1 otherwise */
    bool owns; /* private memory the store allocated */
    bool file; /* a file mapping (unmapped at the end) */
    bool enc;
    struct eos_static st; /* private, checked copy */
    uint64_t mask;
    uint64_t lease_ns;
    uint8_t hash_key[16], hash_key2[16];
    uint8_t data_key[32];
    uint8_t mac_key[16];
};

struct ea_eos {
    struct eos_store *s;
    eai_aead_t aead;
    uint8_t iv_prefix[8];
    uint32_t iv_ctr;
    uint32_t hint;
    uint32_t salt;
    uint32_t pin_slot;
    uint64_t pin_word;
    /* Trusted stores: the reader slot this handle reserved at open or dup
     * (EOS_IDLE while unpinned), so a pin is one exchange on a line only
     * this handle pins; own_slot false when all were taken (then pin
     * claims a free slot per pin, as in shared stores). */
    bool own_slot;
    unsigned since_reclaim;
    uint8_t *scratch; /* key||value, private */
    /* An open view (ea_eos_get_view): VIEW_REGION keeps the pin taken for
     * it and remembers the slot and word to check at its end; VIEW_SCRATCH
     * holds view_len plaintext bytes in scratch (no pin). */
    enum { VIEW_NONE, VIEW_REGION, VIEW_SCRATCH } view;
    uint64_t view_slot, view_word;
    size_t view_len;
};

/* ---- size classes and layout ---- */

uint64_t eai_eos_class_units(unsigned c)
{
    if (c < 8)
        return c + 1;
    unsigned j = c - 8, k = j / 4 + 3;
    uint64_t step = UINT64_C(1) << (k - 2);
    return (UINT64_C(1) << k) + step * (j % 4 + 1);
}

unsigned eai_eos_class_of(uint64_t units)
{
    if (units == 0)
        return 0;
    if (units <= 8)
        return (unsigned)units - 1;
    unsigned k = 63u - (unsigned)__builtin_clzll(units - 1);
    uint64_t step = UINT64_C(1) << (k - 2);
    uint64_t idx = (units - (UINT64_C(1) << k) + step - 1) / step - 1;
    unsigned c = 8 + (k - 3) * 4 + (unsigned)idx;
    return c < EOS_NCLASS ? c : EOS_NCLASS;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

uint32_t eai_eos_home_units(uint32_t home_bytes, int enc, int *ok)
{
    *ok = 1;
    if (home_bytes == 0)
        return 0;
    uint64_t units =
        (sizeof(struct eos_rec) + (uint64_t)home_bytes + (enc ? 16 : 0) + EOS_UNIT - 1) / EOS_UNIT;
    unsigned c = eai_eos_class_of(units);
    if (c >= EOS_NCLASS || eai_eos_class_units(c) > EOS_HOME_MAX_UNITS) {
        *ok = 0;
        return 0;
    }
    return (uint32_t)eai_eos_class_units(c);
}

uint64_t eai_eos_slots_for(uint64_t keys, uint32_t home_units)
{
    /* With home blocks, a load of up to 0.8 (slots >= 1.25 x keys): the
     * slots' homes are most of the region, and the fewer there are the
     * more of them the caches and the TLB hold. Without, a load of up to
     * 0.5 (2 x keys: short probes, so a get of an absent key stops soon)
     * while that index is at most EOS_INDEX_SMALL slots, which stay in a
     * core's L2 anyway; above, 0.8 too: the index is the part of a lookup
     * that is not the record, and half of it (2 MiB instead of 4 at 10^5
     * keys) stayed in the L3 when other work pressed on it, which mattered
     * more than the longer probes (bench/README.md, "eos, stop 20"). */
    if (home_units == 0 && 2 * keys <= EOS_INDEX_SMALL)
        return 2 * keys;
    return keys + keys / 4;
}

int eai_eos_layout(uint64_t size, uint32_t keys, uint32_t home_units, struct eos_static *st)
{
    if (size < 64 * 1024 || size > (UNITS_MASK + 1) * EOS_UNIT)
        return EA_ERR_INVAL;
    uint64_t want = keys != 0 ? keys : size / 1024;
    uint64_t nslots = 64;
    while (nslots < eai_eos_slots_for(want, home_units))
        nslots *= 2;
    st->size = size;
    st->nslots = nslots;
    st->nreaders = EOS_NREADERS;
    st->off_slots = EOS_HDR_SIZE;
    st->off_readers = align_up(st->off_slots + nslots * sizeof(struct eos_slot), EOS_UNIT);
    st->off_data = st->off_readers + EOS_NREADERS * sizeof(struct eos_reader);
    st->data_end = size / EOS_UNIT * EOS_UNIT;
    st->home_units = home_units;
    if (home_units != 0 && (home_units > EOS_HOME_MAX_UNITS ||
                            eai_eos_class_units(eai_eos_class_of(home_units)) != home_units))
        return EA_ERR_INVAL;
    uint64_t homes = nslots * home_units * EOS_UNIT;
    if (st->off_data >= st->data_end || st->data_end - st->off_data < homes ||
        st->data_end - st->off_data - homes < 16 * 1024)
        return EA_ERR_INVAL;
    return EA_OK;
}

/* ---- region access ---- */

static struct eos_hdr *hdr(const struct eos_store *s)
{
    return (struct eos_hdr *)(void *)s->base;
}

static struct eos_slot *slot_at(const struct eos_store *s, uint64_t i)
{
    return (struct eos_slot *)(void *)(s->base + s->st.off_slots) + i;
}

static struct eos_reader *reader_at(const struct eos_store *s, uint64_t i)
{
    return (struct eos_reader *)(void *)(s->base + s->st.off_readers) + i;
}

/* The block at `units` if it lies in the data space with room for `need`
 * bytes, else NULL. */
static struct eos_rec *block_at(const struct eos_store *s, uint64_t units, uint64_t need)
{
    uint64_t off = units * EOS_UNIT;
    if (units == 0 || off < s->st.off_data || off >= s->st.data_end || need > s->st.data_end - off)
        return NULL;
    return (struct eos_rec *)(void *)(s->base + off);
}

/* ---- home blocks ----
 * With home_units != 0 every index slot i owns a home block at a place
 * computed from i, the first blocks of the data space. A writer whose
 * record fits puts it in the home of the key's slot when that is free, so a
 * reader can fetch the slot and the record together: one memory round
 * trip for a lookup instead of two (slot, then the record it names). A
 * home is a block like any other for readers; its `link` is its state
 * (EOS_HOME_*), as it never goes on a free or limbo list. */

static uint64_t home_first(const struct eos_store *s)
{
    return s->st.off_data / EOS_UNIT;
}

static uint64_t home_units_of(const struct eos_store *s, uint64_t i)
{
    return home_first(s) + i * s->st.home_units;
}

/* 1 if `units` is a home block (its slot in *i), 0 if it is a block of the
 * allocator, -1 if it lies among the homes off a home's start (a damaged
 * untrusted word: neither list may take it). */
static int home_of(const struct eos_store *s, uint64_t units, uint64_t *i)
{
    uint64_t hu = s->st.home_units, first = home_first(s);
    if (hu == 0 || units < first || units - first >= s->st.nslots * hu)
        return 0;
    if ((units - first) % hu != 0)
        return -1;
    *i = (units - first) / hu;
    return 1;
}

/* Touches one byte at p to start fetching its line; the value is never
 * used. These touches run before the reader pins, so a writer may be
 * filling the same line: a race on a value nobody reads. Under
 * ThreadSanitizer, which reports exactly that, a prefetch instruction
 * stands in for the load (no access, nothing to report), so the stress
 * tests still check every access that matters. */
#if defined(__SANITIZE_THREAD__)
#define EOS_TOUCH(p) __builtin_prefetch((const void *)(p))
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EOS_TOUCH(p) __builtin_prefetch((const void *)(p))
#endif
#endif
#ifndef EOS_TOUCH
#define EOS_TOUCH(p) ((void)*(const volatile uint8_t *)(p))
#endif

/* Starts fetching the key's first slot and its home block, before the
 * reader pins: the two misses overlap, and the probe then finds both in
 * the cache. The slot is loaded (a prefetch that misses the TLB may be
 * dropped; bench/README.md, eos), the home block only prefetched: a get of
 * an absent key, which never reads the home, then does not wait for it
 * (the pin's exchange waits for earlier loads, not for prefetches). With
 * the region on huge pages (eai_mem_hint_huge) the prefetch is not
 * dropped and a get of a present key is as fast as with loads (bench/
 * README.md, "eos, stop 21"). Values are not used (the probe loads the
 * word again under the pin); both addresses lie in the region. */
EOS_HOT void lookup_prefetch(const struct eos_store *s, uint64_t h1)
{
    uint64_t i = h1 & s->mask;
    (void)atomic_load_explicit(&slot_at(s, i)->word, memory_order_relaxed);
    const uint8_t *hb = s->base + home_units_of(s, i) * EOS_UNIT;
    for (uint64_t u = 0; u < s->st.home_units && u < 4; u++)
        __builtin_prefetch(hb + u * EOS_UNIT);
}

static uint64_t units_of_rec(const struct eos_store *s, uint64_t klen, uint64_t vlen)
{
    uint64_t bytes = sizeof(struct eos_rec) + klen + vlen + (s->enc ? 16 : 0);
    return (bytes + EOS_UNIT - 1) / EOS_UNIT;
}

/* Starts fetching the record a slot word names: with `whole` (readers of
 * the value) every line (the word's line count, at least 3, at most 63), so
 * that the header and the value arrive in one memory round trip instead of
 * the value's lines waiting for the header's lengths (bench/README.md, "eos,
 * stop 19b"); else (writers, which read the header only) the first three.
 * Only a hint: nothing is read, the lines stay inside the data space, and
 * rec_read_hdr checks the record itself. */
EOS_HOT void rec_prefetch(const struct eos_store *s, uint64_t word, bool whole)
{
    uint64_t off = (word & UNITS_MASK) * EOS_UNIT;
    uint64_t n = whole ? (word >> WORD_LINES_SHIFT) & WORD_LINES_MAX : 3;
    if (n < 3)
        n = 3;
    if (off < s->st.off_data || off >= s->st.data_end)
        return;
    if (n > (s->st.data_end - off) / EOS_UNIT)
        n = (s->st.data_end - off) / EOS_UNIT;
    const uint8_t *rp = s->base + off;
    for (uint64_t l = 0; l < n; l++)
        __builtin_prefetch(rp + l * EOS_UNIT);
}

/* A record header read into private memory and checked: its class, and
 * that key, value and tag lie inside its block. */
EOS_HOT int rec_read_hdr(const struct eos_store *s, uint64_t units, struct eos_rec *out,
                         const struct eos_rec **rec)
{
    const struct eos_rec *r = block_at(s, units, sizeof *r);
    if (r == NULL)
        return EA_ERR_CORRUPT;
    memcpy(out, (const void *)r, offsetof(struct eos_rec, link));
    memcpy(out->iv_lo, r->iv_lo, sizeof out->iv_lo);
    if (out->cls >= EOS_NCLASS || out->klen == 0 || out->klen > EA_EOS_KEY_MAX ||
        out->vlen > EA_EOS_VALUE_MAX)
        return EA_ERR_CORRUPT;
    uint64_t need = units_of_rec(s, out->klen, out->vlen);
    if (need > eai_eos_class_units(out->cls) || block_at(s, units, need * EOS_UNIT) == NULL)
        return EA_ERR_CORRUPT;
    *rec = r;
    return EA_OK;
}

/* ---- allocation ---- */

/* Pushes the chain first_units .. last (linked through `link`). */
static void stack_push(_Atomic uint64_t *head, uint64_t first_units, struct eos_rec *last)
{
    /* acquire: the tag; release on success publishes first..last's links
     * to the popper's acquire load of the head. */
    uint64_t h = atomic_load_explicit(head, memory_order_acquire);
    for (;;) {
        atomic_store_explicit(&last->link, h & UNITS_MASK, memory_order_relaxed);
        uint64_t n = first_units | (((h >> 32) + 1) << 32);
        if (atomic_compare_exchange_weak_explicit(head, &h, n, memory_order_release,
                                                  memory_order_acquire))
            return;
    }
}

static void block_free(struct eos_store *s, uint64_t units, struct eos_rec *r, unsigned cls)
{
    r->cls = (uint16_t)cls;
    atomic_fetch_add_explicit(&hdr(s)->free_units, eai_eos_class_units(cls), memory_order_relaxed);
    stack_push(&hdr(s)->free_head[cls], units, r);
}

/* Pops a free block of class c; 0 if the list is empty or damaged. */
static uint64_t free_pop(struct eos_store *s, unsigned c)
{
    _Atomic uint64_t *head = &hdr(s)->free_head[c];
    /* acquire pairs with stack_push's release: the popped block's link. */
    uint64_t h = atomic_load_explicit(head, memory_order_acquire);
    for (;;) {
        uint64_t u = h & UNITS_MASK;
        if (u == 0)
            return 0;
        struct eos_rec *r = block_at(s, u, eai_eos_class_units(c) * EOS_UNIT);
        if (r == NULL)
            return 0;
        uint64_t next = atomic_load_explicit(&r->link, memory_order_relaxed);
        uint64_t n = (next & UNITS_MASK) | (((h >> 32) + 1) << 32);
        if (atomic_compare_exchange_weak_explicit(head, &h, n, memory_order_acquire,
                                                  memory_order_acquire)) {
            atomic_fetch_sub_explicit(&hdr(s)->free_units, eai_eos_class_units(c),
                                      memory_order_relaxed);
            return u;
        }
    }
}

static uint64_t bump_alloc(struct eos_store *s, uint64_t units)
{
    _Atomic uint64_t *b = &hdr(s)->bump;
    uint64_t end = s->st.data_end / EOS_UNIT;
    uint64_t cur = atomic_load_explicit(b, memory_order_relaxed);
    for (;;) {
        if (cur < s->st.off_data / EOS_UNIT || cur > end || end - cur < units)
            return 0;
        if (atomic_compare_exchange_weak_explicit(b, &cur, cur + units, memory_order_relaxed,
                                                  memory_order_relaxed))
            return cur;
    }
}

static void reclaim(ea_eos_t *h);

/* The slot a record for key hash h1 will most likely be published in: the
 * first slot of its probe that holds h1 or is empty (probe's answer, as a
 * slot's key never changes). 0 if the slots do not tell (one claimed by a
 * writer that has not yet written its hash). Reads index words only, which
 * are never freed: no pin needed. Only a choice of block: a record
 * published in another slot is still right, just not in that slot's
 * home. */
static int home_slot_hint(const struct eos_store *s, uint64_t h1, uint64_t *out)
{
    for (uint64_t n = 0; n <= s->mask; n++) {
        uint64_t i = (h1 + n) & s->mask;
        struct eos_slot *sl = slot_at(s, i);
        uint64_t w = atomic_load_explicit(&sl->word, memory_order_relaxed);
        uint64_t sh = atomic_load_explicit(&sl->hash, memory_order_relaxed);
        if (w == 0 || sh == h1) {
            *out = i;
            return 1;
        }
        if (sh == 0)
            return 0; /* claimed, hash not yet written */
    }
    return 0;
}

/* Claims slot i's home block for a new record if it is free: never used,
 * or retired at an epoch the global one has passed by two (drain's rule,
 * with the same orderings: the state's acquire load pairs with retire's
 * release store, the epoch's seq_cst load follows the last reader's
 * unpin). */
static int home_claim(struct eos_store *s, uint64_t i, uint64_t *units, struct eos_rec **rec)
{
    uint64_t u = home_units_of(s, i);
    struct eos_rec *r = block_at(s, u, s->st.home_units * EOS_UNIT);
    if (r == NULL)
        return 0;
    uint64_t st = atomic_load_explicit(&r->link, memory_order_acquire);
    if (st != EOS_HOME_FREE) {
        if ((st & 3u) != EOS_HOME_RETIRED)
            return 0;
        uint64_t g = atomic_load_explicit(&hdr(s)->epoch, memory_order_seq_cst);
        if ((st >> 2) + 2 > g)
            return 0;
    }
    if (!atomic_compare_exchange_strong_explicit(&r->link, &st, EOS_HOME_USED, memory_order_acquire,
                                                 memory_order_relaxed))
        return 0;
    r->cls = (uint16_t)eai_eos_class_of(s->st.home_units);
    *units = u;
    *rec = r;
    return 1;
}

/* Gives back a block a writer took and did not publish. */
static void block_release(struct eos_store *s, uint64_t units, struct eos_rec *r, unsigned cls)
{
    uint64_t i;
    if (home_of(s, units, &i) != 0)
        atomic_store_explicit(&r->link, EOS_HOME_FREE, memory_order_release);
    else
        block_free(s, units, r, cls);
}

/* A block for a record of klen + vlen bytes; sets its class. */
static int rec_alloc(ea_eos_t *h, uint64_t klen, uint64_t vlen, uint64_t *units,
                     struct eos_rec **rec)
{
    struct eos_store *s = h->s;
    unsigned c = eai_eos_class_of(units_of_rec(s, klen, vlen));
    if (c >= EOS_NCLASS)
        return EA_ERR_INVAL;
    uint64_t deadline = 0;
    for (int attempt = 0;; attempt++) {
        /* Loaded before the pop (acquire, pairs with drain's release
         * decrement, which follows the block's push): if nothing was
         * retired then, every block freed so far is on the list the pop
         * reads, so a failed pop means the store is full. A decision on a
         * count loaded after our own reclaim, as this was once, took the
         * blocks that reclaim had just freed for none (a spurious full
         * store with two writers). */
        uint64_t pending = atomic_load_explicit(&hdr(s)->retired, memory_order_acquire);
        uint64_t u = free_pop(s, c);
        if (u == 0)
            u = bump_alloc(s, eai_eos_class_units(c));
        if (u != 0) {
            *rec = block_at(s, u, eai_eos_class_units(c) * EOS_UNIT);
            if (*rec == NULL)
                return EA_ERR_CORRUPT;
            (*rec)->cls = (uint16_t)c;
            *units = u;
            return EA_OK;
        }
        /* Replaced records still wait for readers (one descheduled inside
         * an operation, or another writer draining the limbo list right
         * now): space is coming back, at the latest when the lease evicts
         * the reader. Wait for it, bounded by twice the lease; with
         * nothing retired the store is full at once. */
        if (attempt >= ALLOC_TRIES - 1) {
            if (pending == 0)
                return EA_ERR_NOSPACE;
            uint64_t now = eai_clock_ns();
            if (deadline == 0)
                deadline = now + 2 * s->lease_ns;
            if (now >= deadline)
                return EA_ERR_NOSPACE;
            eai_sleep_ns(20000);
        }
        /* Two passes can move the epoch by two: what was retired before
         * this call becomes free if no reader holds it. */
        reclaim(h);
        reclaim(h);
    }
}

/* ---- epochs ---- */

static int view_end(ea_eos_t *h);

EOS_HOT int pin(ea_eos_t *h)
{
    struct eos_store *s = h->s;
    /* Every operation on a handle ends its view first (the header says
     * so): one pin per handle at a time. */
    if (h->view != VIEW_NONE)
        (void)view_end(h);
    if (h->own_slot) {
        /* The handle's own slot: EOS_IDLE (every unpin writes it back,
         * evicted or not), and nobody else pins it. A seq_cst exchange:
         * in the same total order as the claiming CAS below, so the
         * design notes' argument holds unchanged. */
        uint64_t e = atomic_load_explicit(&hdr(s)->epoch, memory_order_seq_cst);
        h->pin_word = (e << 16) | (++h->salt & 0xffff);
        (void)atomic_exchange_explicit(&reader_at(s, h->pin_slot)->pin, h->pin_word,
                                       memory_order_seq_cst);
        return EA_OK;
    }
    for (int pass = 0; pass < 2; pass++) {
        /* seq_cst: the pin is ordered before every slot load that follows
         * and against the reclaimers' scans (see the design notes). */
        uint64_t e = atomic_load_explicit(&hdr(s)->epoch, memory_order_seq_cst);
        uint64_t w = (e << 16) | (++h->salt & 0xffff);
        for (uint64_t i = 0; i < s->st.nreaders; i++) {
            uint32_t j = (uint32_t)((h->hint + i) % s->st.nreaders);
            uint64_t zero = 0;
            if (atomic_compare_exchange_strong_explicit(
                    &reader_at(s, j)->pin, &zero, w, memory_order_seq_cst, memory_order_relaxed)) {
                h->hint = j;
                h->pin_slot = j;
                h->pin_word = w;
                return EA_OK;
            }
        }
        reclaim(h); /* may evict stalled readers */
    }
    return EA_ERR_BUSY;
}

/* Ends the pin. A reader that re-validates what it read against the slot
 * word (ea_eos_get, probes, writers) does not need to know whether it was
 * evicted meanwhile: a release store. `ask` (views, which hand the bytes
 * to the caller unvalidated) makes it an exchange that returns 1 if this
 * reader had been evicted. Either way only the pin's owner writes the
 * slot back: an evicted slot holds EOS_EVICTED, which no claim takes. */
EOS_HOT int unpin_ex(ea_eos_t *h, bool ask)
{
    _Atomic uint64_t *p = &reader_at(h->s, h->pin_slot)->pin;
    uint64_t back = h->own_slot ? EOS_IDLE : 0;
    /* release: our reads of records happen before the pin is gone. */
    if (!ask) {
        atomic_store_explicit(p, back, memory_order_release);
        return 0;
    }
    return atomic_exchange_explicit(p, back, memory_order_acq_rel) != h->pin_word;
}

EOS_HOT int unpin(ea_eos_t *h)
{
    return unpin_ex(h, false);
}

/* Trusted stores: reserves a reader slot for handle h (EOS_IDLE), if one
 * of the first half is free. Only trusted stores: their region dies with
 * the process, so a handle that is never closed cannot keep a slot from
 * anyone else. */
static void own_slot_take(ea_eos_t *h)
{
    struct eos_store *s = h->s;
    if (s->enc)
        return;
    /* At most half the slots: the other half stays for the handles that
     * come later, which claim a slot per pin. */
    uint64_t half = s->st.nreaders / 2;
    for (uint64_t i = 0; i < half; i++) {
        uint32_t j = (uint32_t)((h->hint + i) % half);
        uint64_t zero = 0;
        if (atomic_compare_exchange_strong_explicit(&reader_at(s, j)->pin, &zero, EOS_IDLE,
                                                    memory_order_relaxed, memory_order_relaxed)) {
            h->own_slot = true;
            h->pin_slot = j;
            return;
        }
    }
}

/* Advances the epoch if no pin is older than it, evicting pins that have
 * been stale for longer than the lease. */
static void advance(struct eos_store *s)
{
    uint64_t g = atomic_load_explicit(&hdr(s)->epoch, memory_order_seq_cst);
    bool blocked = false;
    uint64_t now = 0;
    for (uint64_t i = 0; i < s->st.nreaders; i++) {
        struct eos_reader *r = reader_at(s, i);
        uint64_t p = atomic_load_explicit(&r->pin, memory_order_seq_cst);
        if (p == 0 || p == EOS_EVICTED || p == EOS_IDLE || (p >> 16) >= g)
            continue;
        if (now == 0)
            now = eai_clock_ns();
        if (atomic_load_explicit(&r->seen, memory_order_relaxed) != p) {
            atomic_store_explicit(&r->seen_at, now, memory_order_relaxed);
            atomic_store_explicit(&r->seen, p, memory_order_relaxed);
            blocked = true;
        } else if (now - atomic_load_explicit(&r->seen_at, memory_order_relaxed) > s->lease_ns) {
            uint64_t want = p;
            if (atomic_compare_exchange_strong_explicit(&r->pin, &want, EOS_EVICTED,
                                                        memory_order_seq_cst, memory_order_relaxed))
                atomic_fetch_add_explicit(&hdr(s)->evictions, 1, memory_order_relaxed);
        } else {
            blocked = true;
        }
    }
    if (!blocked)
        atomic_compare_exchange_strong_explicit(&hdr(s)->epoch, &g, g + 1, memory_order_seq_cst,
                                                memory_order_relaxed);
}

static void retire(ea_eos_t *h, uint64_t units)
{
    struct eos_store *s = h->s;
    struct eos_rec *r = block_at(s, units, sizeof *r);
    if (r == NULL)
        return;
    /* seq_cst: loaded after the unlinking CAS (see the design notes). */
    uint64_t g = atomic_load_explicit(&hdr(s)->epoch, memory_order_seq_cst);
    uint64_t hi;
    int home = home_of(s, units, &hi);
    if (home == 1) {
        /* A home waits in place; home_claim applies drain's rule. */
        atomic_store_explicit(&r->link, (g << 2) | EOS_HOME_RETIRED, memory_order_release);
    } else if (home == 0) {
        atomic_store_explicit(&r->repoch, g, memory_order_relaxed);
        atomic_fetch_add_explicit(&hdr(s)->retired, 1, memory_order_relaxed);
        stack_push(&hdr(s)->limbo, units, r);
    }
    if (++h->since_reclaim >= RECLAIM_EVERY) {
        h->since_reclaim = 0;
        reclaim(h);
    }
}

/* Takes the whole limbo list, frees records retired two epochs ago, pushes
 * the rest back. The walk is bounded by the data space's block count, so a
 * damaged list in an untrusted region cannot loop. */
static void drain(struct eos_store *s)
{
    _Atomic uint64_t *head = &hdr(s)->limbo;
    uint64_t h = atomic_load_explicit(head, memory_order_acquire);
    for (;;) {
        if ((h & UNITS_MASK) == 0)
            return;
        uint64_t n = ((h >> 32) + 1) << 32;
        if (atomic_compare_exchange_weak_explicit(head, &h, n, memory_order_acquire,
                                                  memory_order_acquire))
            break;
    }
    uint64_t g = atomic_load_explicit(&hdr(s)->epoch, memory_order_seq_cst);
    uint64_t u = h & UNITS_MASK;
    uint64_t budget = (s->st.data_end - s->st.off_data) / EOS_UNIT;
    struct eos_rec *keep_last = NULL;
    uint64_t keep_units = 0;
    while (u != 0 && budget-- > 0) {
        struct eos_rec *r = block_at(s, u, sizeof *r);
        if (r == NULL)
            break;
        uint64_t next = atomic_load_explicit(&r->link, memory_order_relaxed) & UNITS_MASK;
        uint64_t re = atomic_load_explicit(&r->repoch, memory_order_relaxed);
        unsigned cls = r->cls;
        uint64_t hi;
        if (home_of(s, u, &hi) != 0) {
            /* Only a damaged (untrusted) list holds a home: drop it. */
        } else if (re + 2 <= g && cls < EOS_NCLASS &&
                   block_at(s, u, eai_eos_class_units(cls) * EOS_UNIT) != NULL) {
            block_free(s, u, r, cls);
            /* release, after the push: a writer that loads a count of 0
             * (acquire, rec_alloc) finds every freed block on its list. */
            atomic_fetch_sub_explicit(&hdr(s)->retired, 1, memory_order_release);
        } else if (cls < EOS_NCLASS) {
            atomic_store_explicit(&r->link, keep_units, memory_order_relaxed);
            if (keep_last == NULL)
                keep_last = r;
            keep_units = u;
        }
        u = next;
    }
    if (keep_last != NULL)
        stack_push(head, keep_units, keep_last);
}

static void reclaim(ea_eos_t *h)
{
    advance(h->s);
    drain(h->s);
}

/* ---- keys and records ---- */

EOS_HOT void key_hashes(const struct eos_store *s, const void *key, size_t klen, uint64_t *h1,
                        uint64_t *h2)
{
    /* Trusted: SipHash-1-3 (keyed, flooding-resistant, fewer rounds; the
     * hashes never leave private memory). Encrypted: SipHash-2-4, as the
     * host sees them (design notes). */
    *h1 = s->enc ? eai_siphash24(s->hash_key, key, klen) : eai_siphash13(s->hash_key, key, klen);
    if (*h1 == 0)
        *h1 = 1;
    *h2 = s->enc ? eai_siphash24(s->hash_key2, key, klen) : 0;
}

static size_t aad_of(const struct eos_store *s, const struct eos_rec *r, uint8_t aad[64])
{
    size_t n = 0;
    memcpy(aad + n, s->st.store_id, 16), n += 16;
    memcpy(aad + n, &r->khash, 8), n += 8;
    memcpy(aad + n, &r->khash2, 8), n += 8;
    memcpy(aad + n, &r->version, 8), n += 8;
    memcpy(aad + n, &r->klen, 4), n += 4;
    memcpy(aad + n, &r->vlen, 4), n += 4;
    memcpy(aad + n, &r->flags, 2), n += 2;
    return n;
}

static void make_iv(const struct eos_rec *r, uint8_t iv[12])
{
    memcpy(iv, r->iv_hi, 4);
    memcpy(iv + 4, r->iv_lo, 8);
}

/* Fills the record in block r (class already set): header, then key||value
 * in the clear or sealed. */
static int rec_fill(ea_eos_t *h, struct eos_rec *r, uint64_t h1, uint64_t h2, const void *key,
                    size_t klen, const void *val, size_t vlen, uint64_t version, uint16_t flags)
{
    struct eos_store *s = h->s;
    struct eos_rec tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.cls = r->cls;
    tmp.flags = flags;
    tmp.klen = (uint32_t)klen;
    tmp.vlen = (uint32_t)vlen;
    tmp.version = version;
    tmp.khash = h1;
    tmp.khash2 = h2;
    uint8_t *body = (uint8_t *)(r + 1);
    if (!s->enc) {
        memcpy(r, &tmp, offsetof(struct eos_rec, link));
        memcpy(body, key, klen);
        if (vlen != 0)
            memcpy(body + klen, val, vlen);
        return EA_OK;
    }
    if (h->iv_ctr == UINT32_MAX) {
        int rc = eai_random(h->iv_prefix, sizeof h->iv_prefix);
        if (rc != EA_OK)
            return rc;
        h->iv_ctr = 0;
    }
    uint32_t ctr = h->iv_ctr++;
    memcpy(tmp.iv_hi, &ctr, 4);
    memcpy(tmp.iv_lo, h->iv_prefix, 8);
    memcpy(h->scratch, key, klen);
    if (vlen != 0)
        memcpy(h->scratch + klen, val, vlen);
    uint8_t aad[64], iv[12];
    size_t aadlen = aad_of(s, &tmp, aad);
    make_iv(&tmp, iv);
    memcpy(r, &tmp, offsetof(struct eos_rec, link));
    memcpy(r->iv_lo, tmp.iv_lo, 8);
    int rc =
        eai_aead_seal(&h->aead, iv, aad, aadlen, h->scratch, klen + vlen, body, body + klen + vlen);
    eai_wipe(h->scratch, klen + vlen);
    return rc;
}

/* Opens record r (header hc, already checked) into h->scratch
 * (key||value). Returns EA_OK or EA_ERR_TAMPERED. */
static int rec_open(ea_eos_t *h, const struct eos_rec *r, const struct eos_rec *hc)
{
    struct eos_store *s = h->s;
    const uint8_t *body = (const uint8_t *)(r + 1);
    size_t n = (size_t)hc->klen + hc->vlen;
    if (!s->enc) {
        memcpy(h->scratch, body, n);
        return EA_OK;
    }
    uint8_t aad[64], iv[12], tag[16];
    size_t aadlen = aad_of(s, hc, aad);
    make_iv(hc, iv);
    memcpy(tag, body + n, 16);
    int rc = eai_aead_open(&h->aead, iv, aad, aadlen, body, n, h->scratch, tag);
    return rc == EA_ERR_AUTH ? EA_ERR_TAMPERED : rc;
}

enum { PROBE_FOUND = 1, PROBE_EMPTY = 2 };

/* Finds the slot of a key under a pin: PROBE_FOUND with its index and word
 * (validated: the record at *w is that key's and was linked while its key
 * was compared), PROBE_EMPTY with the first free slot, EA_ERR_NOSPACE if
 * every slot holds another key, EA_ERR_TAMPERED if a slot's record is not
 * the key its hash says, EA_ERR_CORRUPT. EA_ERR_BUSY asks for a retry.
 * `whole`: the caller reads the value (rec_prefetch). */
EOS_HOT int probe_rec(ea_eos_t *h, const void *key, size_t klen, uint64_t h1, uint64_t h2,
                      bool whole, uint64_t *idx, uint64_t *w, struct eos_rec *hc_out,
                      const struct eos_rec **r_out)
{
    struct eos_store *s = h->s;
    for (uint64_t n = 0; n <= s->mask; n++) {
        uint64_t i = (h1 + n) & s->mask;
        struct eos_slot *sl = slot_at(s, i);
        /* acquire pairs with the publishing CAS: the record's bytes. */
        uint64_t word = atomic_load_explicit(&sl->word, memory_order_acquire);
        if (word == 0) {
            *idx = i;
            *w = 0;
            return PROBE_EMPTY;
        }
        uint64_t sh = atomic_load_explicit(&sl->hash, memory_order_relaxed);
        if (sh != 0 && sh != h1)
            continue;
        rec_prefetch(s, word, whole);
        struct eos_rec hc;
        const struct eos_rec *r;
        int rc = rec_read_hdr(s, word & UNITS_MASK, &hc, &r);
        bool same;
        if (rc != EA_OK)
            same = false;
        else if (s->enc)
            same = hc.khash == h1 && hc.khash2 == h2 && hc.klen == klen;
        else
            same = hc.khash == h1 && hc.klen == klen &&
                   memcmp((const uint8_t *)(r + 1), key, klen) == 0;
        if (atomic_load_explicit(&sl->word, memory_order_acquire) != word)
            return EA_ERR_BUSY; /* replaced while we looked: start again */
        if (rc != EA_OK)
            return rc;
        if (sh != 0 && hc.khash != sh)
            return EA_ERR_TAMPERED;
        if (same) {
            *idx = i;
            *w = word;
            if (hc_out != NULL) {
                *hc_out = hc;
                *r_out = r;
            }
            return PROBE_FOUND;
        }
    }
    return EA_ERR_NOSPACE;
}

static int probe(ea_eos_t *h, const void *key, size_t klen, uint64_t h1, uint64_t h2, bool whole,
                 uint64_t *idx, uint64_t *w)
{
    return probe_rec(h, key, klen, h1, h2, whole, idx, w, NULL, NULL);
}

/* ---- operations ---- */

static int check_key(const ea_eos_t *h, const void *key, size_t klen)
{
    if (h == NULL || key == NULL || klen == 0 || klen > EA_EOS_KEY_MAX)
        return EA_ERR_INVAL;
    return EA_OK;
}

/* The one write path: put (expected = EA_EOS_ANY), cas, del (tomb). */
static int write_rec(ea_eos_t *h, const void *key, size_t klen, uint64_t expected, const void *val,
                     size_t vlen, uint16_t flags, uint64_t *version)
{
    struct eos_store *s = h->s;
    /* The view ends before the allocation: its pin would hold back the
     * reclamation this write may wait for. */
    if (h->view != VIEW_NONE)
        (void)view_end(h);
    uint64_t h1, h2;
    key_hashes(s, key, klen, &h1, &h2);
    uint64_t nu = 0, hi = 0;
    struct eos_rec *nr = NULL;
    int rc = EA_OK;
    if (s->st.home_units == 0 || units_of_rec(s, klen, vlen) > s->st.home_units ||
        !home_slot_hint(s, h1, &hi) || !home_claim(s, hi, &nu, &nr))
        rc = rec_alloc(h, klen, vlen, &nu, &nr);
    if (rc != EA_OK)
        return rc;
    unsigned cls = nr->cls;
    rc = pin(h);
    if (rc != EA_OK) {
        block_release(s, nu, nr, cls);
        return rc;
    }
    for (int tries = 0;; tries++) {
        uint64_t i, w;
        rc = probe(h, key, klen, h1, h2, false, &i, &w);
        if (rc == EA_ERR_BUSY && tries < 1000000)
            continue;
        if (rc < 0)
            break;
        struct eos_slot *sl = slot_at(s, i);
        uint64_t cur = 0;
        bool live = false;
        if (rc == PROBE_FOUND) {
            struct eos_rec hc;
            const struct eos_rec *r;
            int hr = rec_read_hdr(s, w & UNITS_MASK, &hc, &r);
            if (hr != EA_OK) {
                rc = hr;
                break;
            }
            cur = hc.version;
            live = !(hc.flags & EOS_REC_TOMB);
        }
        uint64_t have = live ? cur : 0;
        if ((flags & EOS_REC_TOMB) && !live) {
            rc = EA_ERR_NOTFOUND;
            break;
        }
        if (expected != EA_EOS_ANY && expected != have) {
            if (version != NULL)
                *version = have;
            rc = EA_ERR_VERSION;
            break;
        }
        uint64_t nv = cur + 1;
        rc = rec_fill(h, nr, h1, h2, key, klen, val, vlen, nv, flags);
        if (rc != EA_OK)
            break;
        uint64_t lines = units_of_rec(s, klen, vlen);
        uint64_t nw = nu | (lines < WORD_LINES_MAX ? lines : WORD_LINES_MAX) << WORD_LINES_SHIFT |
                      (((w >> WORD_SEQ_SHIFT) + 1) & WORD_SEQ_MASK) << WORD_SEQ_SHIFT;
        /* release publishes the filled record to readers' acquire loads. */
        if (!atomic_compare_exchange_strong_explicit(&sl->word, &w, nw, memory_order_seq_cst,
                                                     memory_order_relaxed))
            continue;
        if (rc == EA_OK && w == 0) {
            atomic_store_explicit(&sl->hash, h1, memory_order_relaxed);
            atomic_fetch_add_explicit(&hdr(s)->slots_used, 1, memory_order_relaxed);
        }
        bool now_live = !(flags & EOS_REC_TOMB);
        if (now_live && !live)
            atomic_fetch_add_explicit(&hdr(s)->keys, 1, memory_order_relaxed);
        else if (!now_live && live)
            atomic_fetch_sub_explicit(&hdr(s)->keys, 1, memory_order_relaxed);
        unpin(h);
        if (w != 0)
            retire(h, w & UNITS_MASK);
        if (version != NULL)
            *version = nv;
        return EA_OK;
    }
    unpin(h);
    block_release(s, nu, nr, cls);
    return rc;
}

int ea_eos_put(ea_eos_t *s, const void *key, size_t klen, const void *val, size_t vlen,
               uint64_t *version)
{
    int rc = check_key(s, key, klen);
    if (rc != EA_OK || vlen > EA_EOS_VALUE_MAX || (val == NULL && vlen != 0))
        return EA_ERR_INVAL;
    return write_rec(s, key, klen, EA_EOS_ANY, val, vlen, 0, version);
}

int ea_eos_cas(ea_eos_t *s, const void *key, size_t klen, uint64_t expected, const void *val,
               size_t vlen, uint64_t *version)
{
    int rc = check_key(s, key, klen);
    if (rc != EA_OK || vlen > EA_EOS_VALUE_MAX || (val == NULL && vlen != 0) ||
        expected == EA_EOS_ANY)
        return EA_ERR_INVAL;
    return write_rec(s, key, klen, expected, val, vlen, 0, version);
}

int ea_eos_del(ea_eos_t *s, const void *key, size_t klen, uint64_t expected)
{
    int rc = check_key(s, key, klen);
    if (rc != EA_OK || expected == EA_EOS_ABSENT)
        return EA_ERR_INVAL;
    return write_rec(s, key, klen, expected, NULL, 0, EOS_REC_TOMB, NULL);
}

/* Reads the live record of slot i (word w) into h->scratch; validates by
 * reloading the word. EA_ERR_BUSY: replaced meanwhile, try again. */
static int read_slot(ea_eos_t *h, uint64_t i, uint64_t w, struct eos_rec *hc)
{
    const struct eos_rec *r;
    int rc = rec_read_hdr(h->s, w & UNITS_MASK, hc, &r);
    if (rc == EA_OK && !(hc->flags & EOS_REC_TOMB))
        rc = rec_open(h, r, hc);
    if (atomic_load_explicit(&slot_at(h->s, i)->word, memory_order_acquire) != w)
        return EA_ERR_BUSY;
    if (rc == EA_OK && (hc->flags & EOS_REC_TOMB))
        return EA_ERR_NOTFOUND;
    return rc;
}

/* One get under the caller's pin (ea_eos_get's body; the hashes are the
 * key's). EA_ERR_BUSY: the key was replaced while we read, try again. */
EOS_HOT int get_pinned(ea_eos_t *s, const void *key, size_t klen, uint64_t h1, uint64_t h2,
                       void *buf, size_t cap, size_t *vlen, uint64_t *version)
{
    struct eos_store *st = s->s;
    uint64_t i = 0, w = 0;
    struct eos_rec hc;
    const struct eos_rec *r = NULL;
    int rc = probe_rec(s, key, klen, h1, h2, true, &i, &w, &hc, &r);
    if (rc == PROBE_EMPTY || rc == EA_ERR_NOSPACE) {
        rc = EA_ERR_NOTFOUND;
    } else if (rc == PROBE_FOUND && !st->enc) {
        /* Trusted fast path: the header probe read and checked (bounds
         * included) is the record's while the word is unchanged; copy the
         * value straight out, then check that the slot still points at
         * this record. */
        rc = EA_OK;
        if (hc.flags & EOS_REC_TOMB)
            rc = EA_ERR_NOTFOUND;
        else if (hc.vlen > cap)
            rc = EA_ERR_TOOBIG;
        else if (hc.vlen != 0)
            memcpy(buf, (const uint8_t *)(r + 1) + hc.klen, hc.vlen);
        if (atomic_load_explicit(&slot_at(st, i)->word, memory_order_acquire) != w)
            rc = EA_ERR_BUSY;
        else if (rc == EA_OK || rc == EA_ERR_TOOBIG)
            *vlen = hc.vlen;
        if (rc == EA_OK && version != NULL)
            *version = hc.version;
    } else if (rc == PROBE_FOUND) {
        rc = read_slot(s, i, w, &hc);
        if (rc == EA_OK && (hc.klen != klen || memcmp(s->scratch, key, klen) != 0))
            rc = EA_ERR_TAMPERED; /* the hashes matched, the key does not */
        if (rc == EA_OK && hc.vlen > cap)
            rc = EA_ERR_TOOBIG;
        if (rc == EA_OK || rc == EA_ERR_TOOBIG)
            *vlen = hc.vlen;
        if (rc == EA_OK) {
            if (hc.vlen != 0)
                memcpy(buf, s->scratch + klen, hc.vlen);
            if (version != NULL)
                *version = hc.version;
        }
        eai_wipe(s->scratch, (size_t)hc.klen + hc.vlen);
    }
    return rc;
}

int ea_eos_get(ea_eos_t *s, const void *key, size_t klen, void *buf, size_t cap, size_t *vlen,
               uint64_t *version)
{
    if (check_key(s, key, klen) != EA_OK || vlen == NULL || (buf == NULL && cap != 0))
        return EA_ERR_INVAL;
    struct eos_store *st = s->s;
    uint64_t h1, h2;
    key_hashes(st, key, klen, &h1, &h2);
    lookup_prefetch(st, h1);
    int rc = EA_ERR_BUSY;
    for (int tries = 0; tries < GET_TRIES && rc == EA_ERR_BUSY; tries++) {
        if ((rc = pin(s)) != EA_OK)
            return rc;
        rc = get_pinned(s, key, klen, h1, h2, buf, cap, vlen, version);
        unpin(s);
    }
    return rc;
}

#define MGET_GROUP 16u

int ea_eos_get_many(ea_eos_t *s, ea_eos_mget_t *items, size_t n)
{
    if (s == NULL || (items == NULL && n != 0))
        return EA_ERR_INVAL;
    struct eos_store *st = s->s;
    for (size_t g = 0; g < n; g += MGET_GROUP) {
        size_t m = n - g < MGET_GROUP ? n - g : MGET_GROUP;
        ea_eos_mget_t *it = items + g;
        uint64_t h1[MGET_GROUP], h2[MGET_GROUP];
        /* 1: every key's hashes. 2: load every key's first slot and home
         * block, back to back: the misses overlap. 3 (under the pin):
         * load the record each first slot names, again back to back (a
         * record out of its home). 4: the gets, from the cache. Loads of
         * steps 2 and 3 are only hints: step 4 reads and checks as
         * ea_eos_get does. */
        for (size_t j = 0; j < m; j++) {
            it[j].rc = check_key(s, it[j].key, it[j].klen) != EA_OK ||
                               (it[j].buf == NULL && it[j].cap != 0)
                           ? EA_ERR_INVAL
                           : EA_ERR_BUSY;
            if (it[j].rc == EA_ERR_BUSY)
                key_hashes(st, it[j].key, it[j].klen, &h1[j], &h2[j]);
        }
        for (size_t j = 0; j < m; j++)
            if (it[j].rc == EA_ERR_BUSY)
                lookup_prefetch(st, h1[j]);
        int rc = pin(s);
        if (rc != EA_OK) {
            for (size_t j = 0; j < m; j++)
                if (it[j].rc == EA_ERR_BUSY)
                    it[j].rc = rc;
            continue;
        }
        for (size_t j = 0; j < m; j++) {
            if (it[j].rc != EA_ERR_BUSY)
                continue;
            uint64_t w =
                atomic_load_explicit(&slot_at(st, h1[j] & st->mask)->word, memory_order_relaxed);
            const uint8_t *r = (const uint8_t *)block_at(st, w & UNITS_MASK, 2 * EOS_UNIT);
            if (r != NULL) {
                EOS_TOUCH(r);
                EOS_TOUCH(r + EOS_UNIT);
            }
        }
        for (size_t j = 0; j < m; j++)
            if (it[j].rc == EA_ERR_BUSY)
                it[j].rc = get_pinned(s, it[j].key, it[j].klen, h1[j], h2[j], it[j].buf, it[j].cap,
                                      &it[j].vlen, &it[j].version);
        unpin(s);
        /* A key replaced under the batch is read again on its own. */
        for (size_t j = 0; j < m; j++)
            if (it[j].rc == EA_ERR_BUSY)
                it[j].rc = ea_eos_get(s, it[j].key, it[j].klen, it[j].buf, it[j].cap, &it[j].vlen,
                                      &it[j].version);
    }
    return EA_OK;
}

/* Ends h's view: a trusted one unpins. Its bytes were stable unless this
 * reader was evicted (it held the view past the lease) and the record is
 * no longer the slot's (replaced, so it may have been reclaimed and
 * reused): then EA_ERR_BUSY. An encrypted one wipes its plaintext. */
static int view_end(ea_eos_t *h)
{
    int rc = EA_OK;
    if (h->view == VIEW_REGION) {
        struct eos_store *st = h->s;
        h->view = VIEW_NONE;
        /* Loaded before the unpin: while our pin stands (or, if evicted,
         * while the word is unchanged) the record was not reclaimed. The
         * acquire fence keeps the caller's reads of the view before this
         * load (a seqlock's read side). */
        atomic_thread_fence(memory_order_acquire);
        uint64_t w = atomic_load_explicit(&slot_at(st, h->view_slot)->word, memory_order_acquire);
        if (unpin_ex(h, true) && w != h->view_word)
            rc = EA_ERR_BUSY;
    } else if (h->view == VIEW_SCRATCH) {
        h->view = VIEW_NONE;
        eai_wipe(h->scratch, h->view_len);
    }
    return rc;
}

int ea_eos_view_end(ea_eos_t *s)
{
    return s == NULL ? EA_ERR_INVAL : view_end(s);
}

/* A trusted store's view: the record of slot i (word w, found under the
 * pin) in place. EA_OK leaves the pin held for the view. */
static int view_region(ea_eos_t *s, uint64_t i, uint64_t w, const void **val, size_t *vlen,
                       uint64_t *version)
{
    struct eos_store *st = s->s;
    struct eos_rec hc;
    const struct eos_rec *r;
    int rc = rec_read_hdr(st, w & UNITS_MASK, &hc, &r);
    if (rc == EA_OK && (hc.flags & EOS_REC_TOMB))
        rc = EA_ERR_NOTFOUND;
    /* The header we checked is the linked record's (not a reused block's)
     * only if the slot still holds it. */
    if (atomic_load_explicit(&slot_at(st, i)->word, memory_order_acquire) != w)
        rc = EA_ERR_BUSY;
    if (rc != EA_OK)
        return rc;
    *val = (const uint8_t *)(r + 1) + hc.klen;
    *vlen = hc.vlen;
    if (version != NULL)
        *version = hc.version;
    s->view = VIEW_REGION;
    s->view_slot = i;
    s->view_word = w;
    return EA_OK;
}

/* An encrypted store's view: the record opened into the handle's scratch. */
static int view_scratch(ea_eos_t *s, const void *key, size_t klen, uint64_t i, uint64_t w,
                        const void **val, size_t *vlen, uint64_t *version)
{
    struct eos_rec hc;
    int rc = read_slot(s, i, w, &hc);
    if (rc == EA_OK && (hc.klen != klen || memcmp(s->scratch, key, klen) != 0))
        rc = EA_ERR_TAMPERED; /* the hashes matched, the key does not */
    if (rc != EA_OK) {
        eai_wipe(s->scratch, (size_t)hc.klen + hc.vlen);
        return rc;
    }
    *val = s->scratch + klen;
    *vlen = hc.vlen;
    if (version != NULL)
        *version = hc.version;
    s->view = VIEW_SCRATCH;
    s->view_len = (size_t)hc.klen + hc.vlen;
    return EA_OK;
}

int ea_eos_get_view(ea_eos_t *s, const void *key, size_t klen, const void **val, size_t *vlen,
                    uint64_t *version)
{
    if (check_key(s, key, klen) != EA_OK || val == NULL || vlen == NULL)
        return EA_ERR_INVAL;
    if (s->view != VIEW_NONE)
        (void)view_end(s);
    struct eos_store *st = s->s;
    uint64_t h1, h2;
    key_hashes(st, key, klen, &h1, &h2);
    lookup_prefetch(st, h1);
    int rc = EA_ERR_BUSY;
    for (int tries = 0; tries < GET_TRIES && rc == EA_ERR_BUSY; tries++) {
        if ((rc = pin(s)) != EA_OK)
            return rc;
        uint64_t i, w;
        rc = probe(s, key, klen, h1, h2, true, &i, &w);
        if (rc == PROBE_EMPTY || rc == EA_ERR_NOSPACE)
            rc = EA_ERR_NOTFOUND;
        else if (rc == PROBE_FOUND && !st->enc &&
                 (rc = view_region(s, i, w, val, vlen, version)) == EA_OK)
            return EA_OK; /* pinned until view_end */
        else if (rc == PROBE_FOUND && st->enc)
            rc = view_scratch(s, key, klen, i, w, val, vlen, version);
        unpin(s);
    }
    return rc;
}

int ea_eos_iter(ea_eos_t *s, const void *prefix, size_t plen, ea_eos_iter_fn fn, void *arg)
{
    if (s == NULL || fn == NULL || (prefix == NULL && plen != 0))
        return EA_ERR_INVAL;
    struct eos_store *st = s->s;
    int bad = EA_OK; /* the first record that failed; the walk goes on */
    for (uint64_t i = 0; i <= st->mask; i++) {
        int rc = EA_ERR_BUSY;
        struct eos_rec hc;
        for (int tries = 0; tries < GET_TRIES && rc == EA_ERR_BUSY; tries++) {
            if ((rc = pin(s)) != EA_OK)
                return rc;
            uint64_t w = atomic_load_explicit(&slot_at(st, i)->word, memory_order_acquire);
            rc = w == 0 ? EA_ERR_NOTFOUND : read_slot(s, i, w, &hc);
            unpin(s);
        }
        if (rc == EA_ERR_NOTFOUND)
            continue;
        if (rc != EA_OK) {
            /* A record that fails (tampered, impossible, or replaced on
             * every try) fails alone: the other keys are still visited. */
            if (bad == EA_OK)
                bad = rc;
            continue;
        }
        /* The record is in private memory now: the callback may use the
         * store, and nothing holds a pin while it runs. */
        if (hc.klen >= plen && (plen == 0 || memcmp(s->scratch, prefix, plen) == 0)) {
            rc = fn(arg, s->scratch, hc.klen, s->scratch + hc.klen, hc.vlen, hc.version);
            if (rc != 0)
                return rc;
        }
    }
    return bad;
}

int ea_eos_stats(ea_eos_t *s, ea_eos_stats_t *out)
{
    if (s == NULL || out == NULL)
        return EA_ERR_INVAL;
    struct eos_store *st = s->s;
    struct eos_hdr *hd = hdr(st);
    memset(out, 0, sizeof *out);
    out->keys = atomic_load_explicit(&hd->keys, memory_order_relaxed);
    out->slots = st->st.nslots;
    out->slots_used = atomic_load_explicit(&hd->slots_used, memory_order_relaxed);
    out->data_bytes = st->st.data_end - st->st.off_data;
    uint64_t bump = atomic_load_explicit(&hd->bump, memory_order_relaxed);
    uint64_t fresh = st->st.data_end / EOS_UNIT - bump;
    out->data_free =
        (fresh + atomic_load_explicit(&hd->free_units, memory_order_relaxed)) * EOS_UNIT;
    out->retired = atomic_load_explicit(&hd->retired, memory_order_relaxed);
    out->epoch = atomic_load_explicit(&hd->epoch, memory_order_relaxed);
    out->evictions = atomic_load_explicit(&hd->evictions, memory_order_relaxed);
    out->sync_counter = hd->sync_ctr;
    return EA_OK;
}

/* ---- open, format, attach ---- */

static void store_free(struct eos_store *s)
{
    if (s == NULL)
        return;
    if (s->base != NULL) {
        if (s->owns) {
            eai_wipe(s->base, s->size);
            eai_mem_unmap(s->base, s->size);
        } else if (s->file) {
            eai_file_unmap(s->base, s->size, s->fd);
        }
    }
    eai_wipe(s, sizeof *s);
    free(s);
}

static int derive_keys(struct eos_store *s, const uint8_t key[32])
{
    uint8_t out[80];
    static const char info[] = "eactors-eos";
    int rc = eai_hkdf_sha256(s->st.store_id, 16, key, 32, (const uint8_t *)info, sizeof info - 1,
                             out, sizeof out);
    if (rc == EA_OK) {
        memcpy(s->hash_key, out, 16);
        memcpy(s->hash_key2, out + 16, 16);
        memcpy(s->data_key, out + 32, 32);
        memcpy(s->mac_key, out + 64, 16);
    }
    eai_wipe(out, sizeof out);
    return rc;
}

static int sync_mac(const struct eos_store *s, uint64_t ctr, uint8_t mac[16])
{
    uint8_t msg[24];
    memcpy(msg, s->st.store_id, 16);
    memcpy(msg + 16, &ctr, 8);
    return eai_cmac_aes128(s->mac_key, msg, sizeof msg, mac);
}

/* Persistent: records `ctr` in the header under its MAC. */
static int write_sync_ctr(struct eos_store *s, uint64_t ctr)
{
    uint8_t mac[16];
    int rc = sync_mac(s, ctr, mac);
    if (rc != EA_OK)
        return rc;
    hdr(s)->sync_ctr = ctr;
    memcpy(hdr(s)->sync_mac, mac, 16);
    return EA_OK;
}

static int format(struct eos_store *s, const char *name, const ea_eos_config_t *cfg)
{
    struct eos_hdr *hd = hdr(s);
    struct eos_static st;
    memset(&st, 0, sizeof st);
    int ok;
    uint32_t hu = eai_eos_home_units(cfg->home_bytes, s->enc, &ok);
    int rc = ok ? eai_eos_layout(s->size, cfg->keys, hu, &st) : EA_ERR_INVAL;
    if (rc != EA_OK)
        return rc;
    memcpy(st.magic, eos_magic, 8);
    st.layout = 1;
    st.kind = (uint32_t)cfg->kind;
    strncpy(st.name, name, sizeof st.name - 1);
    st.key_policy = s->enc ? (cfg->key_policy ? cfg->key_policy : EA_KEYPOLICY_MRSIGNER) : 0;
    if ((rc = eai_random(st.store_id, 16)) != EA_OK)
        return rc;
    uint8_t skey[32];
    if (!s->enc) {
        if ((rc = eai_random(st.hash_key, 16)) != EA_OK)
            return rc;
        memcpy(s->hash_key, st.hash_key, 16);
    } else {
        if (cfg->kind == EA_EOS_PERSISTENT) {
            uint32_t v = 0;
            if ((rc = ea_create_monotonic_counter(&st.counter, &v)) != EA_OK)
                return rc;
        }
        if ((rc = eai_random(skey, sizeof skey)) != EA_OK)
            return rc;
        uint32_t n = ea_calc_sealed_data_size(sizeof st, sizeof skey);
        if (n > EOS_SEALED_MAX)
            return EA_ERR_INVAL;
        ea_attributes_t mask = {.flags = EA_FLAGS_INITTED | EA_FLAGS_DEBUG, .xfrm = 0};
        rc = ea_seal_data_ex(st.key_policy, mask, 0, sizeof st, (const uint8_t *)&st, sizeof skey,
                             skey, n, (ea_sealed_data_t *)(void *)hd->sealed);
        if (rc != EA_OK) {
            eai_wipe(skey, sizeof skey);
            return rc;
        }
        hd->sealed_size = n;
    }
    s->st = st;
    if (s->enc) {
        rc = derive_keys(s, skey);
        eai_wipe(skey, sizeof skey);
        if (rc != EA_OK)
            return rc;
    }
    hd->st = st;
    atomic_store_explicit(&hd->epoch, 1, memory_order_relaxed);
    atomic_store_explicit(&hd->bump, st.off_data / EOS_UNIT + st.nslots * st.home_units,
                          memory_order_relaxed);
    if (cfg->kind == EA_EOS_PERSISTENT) {
        if ((rc = write_sync_ctr(s, 0)) != EA_OK)
            return rc;
        if (eai_file_map_sync(s->base, s->size) != EA_OK)
            return EA_ERR_SYS;
    }
    return EA_OK;
}

/* Checks an existing region's header against the layout it must have and
 * takes the store key out of its seal. */
static int attach(struct eos_store *s, const char *name, const ea_eos_config_t *cfg)
{
    struct eos_hdr *hd = hdr(s);
    struct eos_static st;
    memcpy(&st, &hd->st, sizeof st);
    uint8_t skey[32];
    if (s->enc) {
        uint32_t n = hd->sealed_size;
        if (n > EOS_SEALED_MAX)
            return EA_ERR_TAMPERED;
        uint8_t *blob = malloc(EOS_SEALED_MAX);
        if (blob == NULL)
            return EA_ERR_NOMEM;
        memcpy(blob, hd->sealed, n);
        struct eos_static auth;
        uint32_t alen = sizeof auth, klen = sizeof skey;
        int rc = ea_unseal_data_ex((const ea_sealed_data_t *)(void *)blob, n, (uint8_t *)&auth,
                                   &alen, skey, &klen);
        free(blob);
        if (rc == EA_ERR_AUTH && memcmp(st.magic, eos_magic, 8) != 0)
            return EA_ERR_CORRUPT;
        /* The blob is the host's to edit. Lengths beyond what the store
         * sealed (INVAL from unseal) are a modified header; an ISVSVN above
         * ours (PERM, inside an enclave) is a key that does not open here,
         * whether a newer version sealed it or the host raised the field. */
        if (rc == EA_ERR_INVAL)
            return EA_ERR_TAMPERED;
        if (rc == EA_ERR_PERM && eai_trust_platform() != NULL)
            return EA_ERR_AUTH;
        if (rc != EA_OK)
            return rc;
        if (alen != sizeof auth || klen != sizeof skey || memcmp(&auth, &st, sizeof st) != 0) {
            eai_wipe(skey, sizeof skey);
            return EA_ERR_TAMPERED;
        }
    }
    struct eos_static want;
    memset(&want, 0, sizeof want);
    if (memcmp(st.magic, eos_magic, 8) != 0 || st.layout != 1 || st.kind != (uint32_t)cfg->kind ||
        st.size != s->size || eai_eos_layout(st.size, 0, 0, &want) != EA_OK) {
        eai_wipe(skey, sizeof skey);
        return EA_ERR_CORRUPT;
    }
    /* The index size is the formatter's choice; everything else follows
     * from it and the size. nslots / 2 keys gives back nslots under any
     * sizing rule between 1.0 and 2.0 slots per key (eai_eos_slots_for's
     * 2 and 1.25, and the older 2 at any size without home blocks), so
     * regions formatted under any of them open. */
    uint64_t keys = st.nslots / 2;
    if (st.nslots < 64 || (st.nslots & (st.nslots - 1)) != 0 || keys > UINT32_MAX ||
        eai_eos_layout(st.size, (uint32_t)keys, st.home_units, &want) != EA_OK ||
        want.nslots != st.nslots || want.nreaders != st.nreaders ||
        want.off_slots != st.off_slots || want.off_readers != st.off_readers ||
        want.off_data != st.off_data || want.data_end != st.data_end) {
        eai_wipe(skey, sizeof skey);
        return EA_ERR_CORRUPT;
    }
    if (strncmp(st.name, name, sizeof st.name) != 0) {
        eai_wipe(skey, sizeof skey);
        return EA_ERR_NOTFOUND;
    }
    s->st = st;
    if (s->enc) {
        int rc = derive_keys(s, skey);
        eai_wipe(skey, sizeof skey);
        if (rc != EA_OK)
            return rc;
    } else {
        memcpy(s->hash_key, st.hash_key, 16);
    }
    return EA_OK;
}

/* Persistent attach: the counter check, then crash recovery. Nobody else
 * maps the file (one process at a time), so every pin is a dead reader's
 * and every retired record is free. */
static int recover(ea_eos_t *h)
{
    struct eos_store *s = h->s;
    struct eos_hdr *hd = hdr(s);
    uint64_t ctr = hd->sync_ctr;
    uint8_t mac[16];
    int rc = sync_mac(s, ctr, mac);
    if (rc != EA_OK)
        return rc;
    if (!eai_ct_equal(mac, hd->sync_mac, 16))
        return EA_ERR_TAMPERED;
    uint32_t v = 0;
    if ((rc = ea_read_monotonic_counter(&s->st.counter, &v)) != EA_OK)
        return rc;
    if (ctr < v)
        return EA_ERR_ROLLBACK;
    if (ctr > (uint64_t)v + 1)
        return EA_ERR_TAMPERED;
    if (ctr == (uint64_t)v + 1 && (rc = ea_increment_monotonic_counter(&s->st.counter, &v)) !=
                                      EA_OK) /* the crash fell inside a sync */
        return rc;
    for (uint64_t i = 0; i < s->st.nreaders; i++)
        atomic_store_explicit(&reader_at(s, i)->pin, 0, memory_order_relaxed);
    atomic_store_explicit(&hd->syncing, 0, memory_order_relaxed);
    uint64_t e = atomic_load_explicit(&hd->epoch, memory_order_relaxed);
    atomic_store_explicit(&hd->epoch, e + 2, memory_order_relaxed);
    drain(s);
    /* Home blocks: in use exactly when a slot names them (a crashed
     * writer's claimed, unpublished one and every retired one are free). */
    if (s->st.home_units != 0) {
        for (uint64_t i = 0; i < s->st.nslots; i++) {
            struct eos_rec *r = block_at(s, home_units_of(s, i), sizeof *r);
            if (r != NULL)
                atomic_store_explicit(&r->link, EOS_HOME_FREE, memory_order_relaxed);
        }
        for (uint64_t i = 0; i < s->st.nslots; i++) {
            uint64_t w = atomic_load_explicit(&slot_at(s, i)->word, memory_order_relaxed), j;
            struct eos_rec *r = block_at(s, w & UNITS_MASK, sizeof *r);
            if (w != 0 && r != NULL && home_of(s, w & UNITS_MASK, &j) == 1)
                atomic_store_explicit(&r->link, EOS_HOME_USED, memory_order_relaxed);
        }
    }
    return EA_OK;
}

static int handle_new(struct eos_store *s, ea_eos_t **out)
{
    ea_eos_t *h = calloc(1, sizeof *h);
    if (h == NULL)
        return EA_ERR_NOMEM;
    h->s = s;
    int rc = eai_random(&h->salt, sizeof h->salt);
    if (rc == EA_OK)
        rc = eai_random(h->iv_prefix, sizeof h->iv_prefix);
    if (rc == EA_OK && s->enc)
        rc = eai_aead_init(&h->aead, s->data_key, sizeof s->data_key);
    if (rc == EA_OK && (h->scratch = malloc(EA_EOS_KEY_MAX + EA_EOS_VALUE_MAX)) == NULL)
        rc = EA_ERR_NOMEM;
    if (rc != EA_OK) {
        if (s->enc)
            eai_aead_fini(&h->aead);
        free(h->scratch);
        free(h);
        return rc;
    }
    h->hint = h->salt % EOS_NREADERS;
    own_slot_take(h);
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    *out = h;
    return EA_OK;
}

static int map_region(struct eos_store *s, const ea_eos_config_t *cfg, int fd)
{
    switch (cfg->kind) {
    case EA_EOS_TRUSTED:
        if (cfg->region != NULL || cfg->path != NULL)
            return EA_ERR_INVAL;
        s->size = cfg->size;
        s->base = eai_mem_map(cfg->size);
        s->owns = true;
        /* Lookups touch a slot and a record at random: huge pages save
         * the page walks (2 MB and up; the index alone is 32 B a key). */
        if (s->base != NULL && cfg->size >= (2u << 20))
            eai_mem_hint_huge(s->base, cfg->size);
        return s->base != NULL ? EA_OK : EA_ERR_NOMEM;
    case EA_EOS_UNTRUSTED:
        if (cfg->region == NULL || cfg->path != NULL || ((uintptr_t)cfg->region & 63) != 0)
            return EA_ERR_INVAL;
        s->size = cfg->size;
        s->base = cfg->region;
        return EA_OK;
    case EA_EOS_PERSISTENT: {
        void *map = NULL;
        if (fd >= 0) {
            if (cfg->region != NULL || cfg->path != NULL || cfg->size == 0)
                return EA_ERR_INVAL;
            int rc = eai_file_map_fd(fd, cfg->size, &map);
            if (rc != EA_OK)
                return rc;
            s->base = map;
            s->size = cfg->size;
            s->file = true;
            return EA_OK;
        }
        if (cfg->region != NULL || cfg->path == NULL)
            return EA_ERR_INVAL;
        int rc = eai_file_map(cfg->path, cfg->size, &map, &s->size, &s->fd);
        if (rc == EA_ERR_NOTFOUND && cfg->size == 0)
            return EA_ERR_INVAL; /* a new file needs a size */
        if (rc != EA_OK)
            return rc;
        s->base = map;
        s->file = true;
        return EA_OK;
    }
    }
    return EA_ERR_INVAL;
}

static int open_store(struct eos_store *s, const char *name, const ea_eos_config_t *cfg)
{
    struct eos_hdr *hd = hdr(s);
    uint32_t zero = 0;
    if (cfg->kind == EA_EOS_TRUSTED)
        return format(s, name, cfg);
    /* acq_rel: the winner formats; attachers' acquire loads of `ready`
     * pair with its release store. */
    if (atomic_compare_exchange_strong_explicit(&hd->state, &zero, 1, memory_order_acq_rel,
                                                memory_order_acquire)) {
        int rc = format(s, name, cfg);
        if (rc != EA_OK) {
            memset(s->base, 0, EOS_HDR_SIZE);
            return rc;
        }
        atomic_store_explicit(&hd->state, 2, memory_order_release);
        if (cfg->kind == EA_EOS_PERSISTENT && eai_file_map_sync(hd, EOS_HDR_SIZE) != EA_OK)
            return EA_ERR_SYS;
        return EA_OK;
    }
    uint64_t deadline = eai_clock_ns() + UINT64_C(2000000000);
    while (atomic_load_explicit(&hd->state, memory_order_acquire) == 1) {
        if (cfg->kind == EA_EOS_PERSISTENT || eai_clock_ns() > deadline)
            return cfg->kind == EA_EOS_PERSISTENT ? EA_ERR_CORRUPT : EA_ERR_BUSY;
        eai_sleep_ns(100000);
    }
    if (atomic_load_explicit(&hd->state, memory_order_acquire) != 2)
        return EA_ERR_CORRUPT;
    return attach(s, name, cfg);
}

static int open_common(const char *name, const ea_eos_config_t *cfg, int fd, ea_eos_t **out)
{
    if (name == NULL || cfg == NULL || out == NULL || name[0] == '\0' ||
        strlen(name) > EA_EOS_NAME_MAX || (unsigned)cfg->kind > EA_EOS_PERSISTENT)
        return EA_ERR_INVAL;
    if (cfg->key_policy != 0 && cfg->key_policy != EA_KEYPOLICY_MRSIGNER &&
        cfg->key_policy != EA_KEYPOLICY_MRENCLAVE)
        return EA_ERR_INVAL;
    if (cfg->kind != EA_EOS_PERSISTENT || cfg->size != 0) {
        struct eos_static probe_st;
        int ok;
        uint32_t hu = eai_eos_home_units(cfg->home_bytes, cfg->kind != EA_EOS_TRUSTED, &ok);
        if (!ok || eai_eos_layout(cfg->size, cfg->keys, hu, &probe_st) != EA_OK)
            return EA_ERR_INVAL;
    }
    int rc = eai_crypto_init();
    if (rc != EA_OK)
        return rc;
    struct eos_store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return EA_ERR_NOMEM;
    s->fd = -1;
    s->enc = cfg->kind != EA_EOS_TRUSTED;
    s->lease_ns = cfg->reader_lease_ns != 0 ? cfg->reader_lease_ns : DEFAULT_LEASE_NS;
    if ((rc = map_region(s, cfg, fd)) != EA_OK || (rc = open_store(s, name, cfg)) != EA_OK) {
        store_free(s);
        return rc;
    }
    s->mask = s->st.nslots - 1;
    ea_eos_t *h = NULL;
    if ((rc = handle_new(s, &h)) != EA_OK) {
        store_free(s);
        return rc;
    }
    if (cfg->kind == EA_EOS_PERSISTENT && (rc = recover(h)) != EA_OK) {
        ea_eos_close(h);
        return rc;
    }
    *out = h;
    return EA_OK;
}

int ea_eos_open(const char *name, const ea_eos_config_t *cfg, ea_eos_t **out)
{
    return open_common(name, cfg, -1, out);
}

int eai_eos_open_fd(const char *name, const ea_eos_config_t *cfg, int fd, ea_eos_t **out)
{
    if (fd < 0 || cfg == NULL || cfg->kind != EA_EOS_PERSISTENT)
        return EA_ERR_INVAL;
    return open_common(name, cfg, fd, out);
}

int ea_eos_dup(ea_eos_t *s, ea_eos_t **out)
{
    if (s == NULL || out == NULL)
        return EA_ERR_INVAL;
    return handle_new(s->s, out);
}

void ea_eos_close(ea_eos_t *h)
{
    if (h == NULL)
        return;
    struct eos_store *s = h->s;
    (void)view_end(h);
    if (h->own_slot) /* release: this handle's reads before the slot's reuse */
        atomic_store_explicit(&reader_at(s, h->pin_slot)->pin, 0, memory_order_release);
    if (s->enc)
        eai_aead_fini(&h->aead);
    eai_wipe(h->scratch, EA_EOS_KEY_MAX + EA_EOS_VALUE_MAX);
    free(h->scratch);
    eai_wipe(h, sizeof *h);
    free(h);
    /* acq_rel: the last closer sees every other handle's writes. */
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        store_free(s);
}

int ea_eos_sync(ea_eos_t *h)
{
    if (h == NULL)
        return EA_ERR_INVAL;
    struct eos_store *s = h->s;
    if (s->st.kind != EA_EOS_PERSISTENT)
        return EA_OK;
    struct eos_hdr *hd = hdr(s);
    uint32_t zero = 0;
    if (!atomic_compare_exchange_strong_explicit(&hd->syncing, &zero, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        return EA_ERR_BUSY;
    /* Data first, then the header that names the new counter value, then
     * the counter: a crash in between leaves the header one ahead, which
     * open accepts (and catches the counter up). */
    int rc = eai_file_map_sync(s->base, s->size);
    uint64_t c = hd->sync_ctr + 1;
    uint32_t v = 0;
    if (rc == EA_OK && c > UINT32_MAX)
        rc = EA_ERR_LIMIT;
    if (rc == EA_OK)
        rc = write_sync_ctr(s, c);
    if (rc == EA_OK)
        rc = eai_file_map_sync(hd, EOS_HDR_SIZE);
    if (rc == EA_OK)
        rc = ea_increment_monotonic_counter(&s->st.counter, &v);
    if (rc == EA_OK && v != c)
        rc = EA_ERR_ROLLBACK;
    atomic_store_explicit(&hd->syncing, 0, memory_order_release);
    return rc;
}

/* ---- test hooks ---- */

int eai_eos_test_pin(ea_eos_t *s, uint32_t *slot)
{
    int rc = pin(s);
    if (rc == EA_OK)
        *slot = s->pin_slot;
    return rc;
}

int eai_eos_test_unpin(ea_eos_t *s, uint32_t slot)
{
    s->pin_slot = slot;
    return unpin_ex(s, true);
}

void eai_eos_test_reclaim(ea_eos_t *s)
{
    reclaim(s);
}
