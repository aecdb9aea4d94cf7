/**
 * @file ea_eos.h
 * @brief EOS, the eactors object store: a key-value store over one memory
 * region, lock-free for readers, encrypted where the host can see it,
 * persistent on request, rollback-detecting.
 *
 * A store lives in one region of fixed size, of one of three kinds:
 *  - `EA_EOS_TRUSTED`: private memory of the opener (an enclave's, or the
 *    host's own). Keys and values are kept in the clear; keys are found by
 *    a keyed hash (SipHash-1-3, its key random per store), so chosen keys
 *    cannot be made to collide. Each of the first 64 handles keeps one of
 *    the store's 128 reader slots from open/dup to close (a cheaper pin);
 *    later handles share the other 64, one pin at a time, as in shared
 *    stores.
 *  - `EA_EOS_UNTRUSTED`: memory the host can read and write (the public
 *    arena, a shared mapping). Keys are found by a keyed hash (SipHash-2-4);
 *    key and value are kept under AES-256-GCM with store id, keyed hash,
 *    version and lengths in the additional data. The store key is sealed in
 *    the region's header with the opener's seal key (policy MRSIGNER: every
 *    enclave of the signer can open it; MRENCLAVE: only the same enclave).
 *  - `EA_EOS_PERSISTENT`: like untrusted, in a file mapped into memory;
 *    ea_eos_sync() makes every write before it durable and binds the file to
 *    a monotonic counter, so a file put back from an older sync is refused
 *    with EA_ERR_ROLLBACK when it is opened.
 *
 * Limits: keys of 1 to EA_EOS_KEY_MAX bytes, values of 0 to EA_EOS_VALUE_MAX
 * bytes. A store is full when its index has no free slot for a new key or
 * its data space has no free block for a record; a write then fails with
 * EA_ERR_NOSPACE, and nothing is ever evicted. While replaced records still
 * wait for readers to leave, a write that finds no block waits for them
 * (at most twice the reader lease) before it says so. A deleted key keeps its index
 * slot (a later put of the same key reuses it).
 *
 * Concurrency: every operation on a store may run at the same time as any
 * other, from threads, processes and enclaves that opened the same region.
 * Readers take no lock and never wait for writers; writers publish a new
 * record with one compare-and-swap. A replaced record is reclaimed only
 * after every reader that could still see it has left (epochs); a reader
 * that stays inside one operation for longer than the store's reader lease
 * (stopped, descheduled, crashed) is evicted and no longer holds
 * reclamation back: it re-reads before it returns, so it never returns
 * reused bytes. A handle (`ea_eos_t`) is used by one thread at a time; give
 * each thread its own with ea_eos_dup().
 *
 * Ownership: the store never keeps a pointer to caller memory after a call
 * returns. ea_eos_get() copies the value into the caller's buffer; the
 * iterator passes borrowed pointers into a private copy (see
 * ea_eos_iter_fn); ea_eos_get_view() lends a read-only view without a copy
 * (into the region of a trusted store only: never into memory the host can
 * write), valid until ea_eos_view_end().
 *
 * Functions that need a seal key or a counter (opening an untrusted or
 * persistent store, ea_eos_sync on a persistent one) act for the enclave of
 * the calling thread; outside an enclave they fail with EA_ERR_PERM.
 */
#ifndef EA_EOS_H
#define EA_EOS_H

#include <stddef.h>
#include <stdint.h>

#include <eactors/ea_actor.h>
#include <eactors/ea_err.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EA_EOS_KEY_MAX 1024u             /**< largest key, bytes */
#define EA_EOS_VALUE_MAX (1024u * 1024u) /**< largest value, bytes (1 MiB) */
#define EA_EOS_NAME_MAX 63u              /**< longest store name */
/** Expected version for ea_eos_cas: the key must not exist (or be deleted). */
#define EA_EOS_ABSENT UINT64_C(0)
/** Expected version for ea_eos_del: delete whatever version is there. */
#define EA_EOS_ANY UINT64_MAX

/** Where the region is and who can see it. */
typedef enum ea_eos_kind {
    EA_EOS_TRUSTED = 0,
    EA_EOS_UNTRUSTED = 1,
    EA_EOS_PERSISTENT = 2,
} ea_eos_kind;

/** How to open a store. Zero-initialise and set what you need. */
typedef struct ea_eos_config {
    ea_eos_kind kind;
    /** Region size in bytes (at least 64 KiB). For a persistent store that
     *  exists, 0 takes the file's size; otherwise it must match it. */
    size_t size;
    /** Most keys the index holds: the index has the next power of two at
     *  or above twice this many slots while that is at most 65536 (1 MiB
     *  of index; short probes), else 1.25 times (a full index of keys is
     *  a load of up to 0.8: a smaller index stays in the caches), and
     *  always 1.25 times with `home_bytes` (each slot's home costs
     *  region). At least this many keys fit; beyond the slot count a put
     *  of a new key fails with EA_ERR_NOSPACE. 0: one per 1 KiB of
     *  region. */
    uint32_t keys;
    /** EA_KEYPOLICY_MRSIGNER (0 means this) or EA_KEYPOLICY_MRENCLAVE, for
     *  sealing the key of an untrusted or persistent store. */
    uint16_t key_policy;
    /** Untrusted: the region, `size` bytes, 64-byte aligned, zero-filled the
     *  first time (then it is formatted), or holding a store a previous open
     *  formatted (then it is attached). The caller keeps it mapped until the
     *  last handle is closed. Trusted: must be NULL (private memory is
     *  allocated). Persistent: must be NULL. */
    void *region;
    /** Persistent: the file (created if missing). */
    const char *path;
    /** A reader inside one operation for longer than this is evicted (see
     *  above). 0: 100 ms. */
    uint64_t reader_lease_ns;
    /** Home blocks (0: none): every index slot gets a block of its own, at
     *  a place computed from the slot, for a record of up to this many
     *  bytes of key + value (at most 960 in a trusted store, 944 in an
     *  encrypted one: EA_ERR_INVAL above). A write whose record fits goes
     *  into the home of its key's slot when that is free (not holding the
     *  key's current record, nor a replaced one a reader may still see),
     *  so a get fetches the slot and the record at once: one memory round
     *  trip instead of two for stores too large for the cache. Costs
     *  `slots` x the home block (64-byte header + this, rounded up to a
     *  size class) of the region, taken from the data space. An existing
     *  region keeps the choice it was formatted with. */
    uint32_t home_bytes;
} ea_eos_config_t;

/** A handle on an open store; one thread at a time. */
typedef struct ea_eos ea_eos_t;

/** Counters of a store, shared by every handle on it. */
typedef struct ea_eos_stats {
    uint64_t keys;         /**< keys with a live (not deleted) value */
    uint64_t slots;        /**< index slots, used or not */
    uint64_t slots_used;   /**< index slots holding a key (live or deleted) */
    uint64_t data_bytes;   /**< size of the data space */
    uint64_t data_free;    /**< bytes in free blocks and never used */
    uint64_t retired;      /**< records waiting for readers to leave */
    uint64_t epoch;        /**< the reclamation epoch */
    uint64_t evictions;    /**< readers evicted after their lease */
    uint64_t sync_counter; /**< persistent: value bound at the last sync */
} ea_eos_stats_t;

/**
 * Opens the store `name` (1 to EA_EOS_NAME_MAX bytes, stored in its header
 * and checked when an existing region is attached) as `cfg` says, and
 * returns a new handle in *out.
 * Returns EA_OK, or: EA_ERR_INVAL for a NULL or bad argument (name, kind,
 * size, region alignment, policy); EA_ERR_NOMEM; EA_ERR_PERM outside an
 * enclave for an untrusted or persistent store; EA_ERR_NOTFOUND if an
 * existing region holds another store name; EA_ERR_AUTH if the sealed store
 * key does not open for this enclave (another signer, another enclave
 * under MRENCLAVE, or sealed by a newer version of the enclave: an ISVSVN
 * above ours); EA_ERR_TAMPERED if the header was modified;
 * EA_ERR_ROLLBACK if a persistent file is older than its counter;
 * EA_ERR_CORRUPT if an existing region's layout is impossible; EA_ERR_BUSY
 * if another opener is still formatting the region; EA_ERR_SYS if the file
 * cannot be opened, sized or mapped, or the platform cannot be reached.
 * Ownership: the caller owns *out and frees it with ea_eos_close().
 */
EA_API int ea_eos_open(const char *name, const ea_eos_config_t *cfg, ea_eos_t **out);

/**
 * Opens, for actor `self`, the store `name` declared in the deployment file
 * (`<store name= kind= size= ...>`, see docs/DEPLOYMENT.md): the region,
 * size, key count and sealing policy come from there, and only actors of
 * the domains the store lists may attach it. Call it from the actor's own
 * constructor or body. The first attach in a domain opens the store for
 * that domain (an untrusted or persistent one unseals its key with the
 * enclave's seal key); every attach returns a new handle for this actor.
 * Returns EA_OK, EA_ERR_INVAL, EA_ERR_NOTFOUND (no store of that name),
 * EA_ERR_PERM (the actor's domain is not listed, or not called from the
 * actor's step), EA_ERR_SYS (a persistent store in a process that was not
 * handed its file: see ARCHITECTURE), or an error of ea_eos_open.
 * Ownership: the caller owns *out and closes it with ea_eos_close() (the
 * store itself stays open until the run ends).
 */
EA_API int ea_eos_attach(ea_actor_t *self, const char *name, ea_eos_t **out);

/**
 * A second handle on the store of `s`, for another thread. Returns EA_OK,
 * EA_ERR_INVAL or EA_ERR_NOMEM. The caller owns *out (ea_eos_close()).
 */
EA_API int ea_eos_dup(ea_eos_t *s, ea_eos_t **out);

/** Closes a handle; the region goes when its last handle is closed (a
 *  trusted region is wiped, a persistent file is unmapped, not synced).
 *  NULL is ignored. */
EA_API void ea_eos_close(ea_eos_t *s);

/**
 * Stores `vlen` bytes of `val` under the `klen` bytes of `key`, whatever
 * version was there. On success *version (may be NULL) receives the new
 * version (1 for a new key, one more than the last otherwise). The store
 * copies key and value; the caller keeps them.
 * Returns EA_OK, or: EA_ERR_INVAL for a bad length or NULL pointer;
 * EA_ERR_NOSPACE if the store is full; EA_ERR_CORRUPT if shared memory holds
 * an impossible value; EA_ERR_CRYPTO.
 */
EA_API int ea_eos_put(ea_eos_t *s, const void *key, size_t klen, const void *val, size_t vlen,
                      uint64_t *version);

/**
 * Compare-and-swap by version: stores the value only if the key's current
 * version is `expected` (EA_EOS_ABSENT: only if the key has no live value).
 * Returns what ea_eos_put returns, and EA_ERR_VERSION if the version is not
 * `expected` (*version then receives the current one, 0 if absent).
 */
EA_API int ea_eos_cas(ea_eos_t *s, const void *key, size_t klen, uint64_t expected, const void *val,
                      size_t vlen, uint64_t *version);

/**
 * Copies the value of `key` into `buf` (`cap` bytes). *vlen receives its
 * length, *version (may be NULL) its version.
 * Returns EA_OK, or: EA_ERR_NOTFOUND; EA_ERR_TOOBIG if `cap` is smaller
 * than the value (*vlen then holds the length needed, nothing is copied);
 * EA_ERR_TAMPERED if the record fails authentication (an untrusted store:
 * modified, or moved from another key); EA_ERR_INVAL; EA_ERR_CORRUPT;
 * EA_ERR_BUSY if writers replaced the key on every one of many tries.
 */
EA_API int ea_eos_get(ea_eos_t *s, const void *key, size_t klen, void *buf, size_t cap,
                      size_t *vlen, uint64_t *version);

/** One key of ea_eos_get_many(): the caller sets key, klen, buf, cap; the
 *  call sets vlen, version and rc (what ea_eos_get would return for it). */
typedef struct ea_eos_mget {
    const void *key;
    size_t klen;
    void *buf;
    size_t cap;
    size_t vlen;
    uint64_t version;
    int rc;
} ea_eos_mget_t;

/**
 * Multi-key get: does ea_eos_get() for each of the `n` items, with the
 * item's result in its `rc` (EA_ERR_TOOBIG sets vlen as ea_eos_get does).
 * Faster than n calls for stores larger than the cache: it works through
 * the keys in groups of 16, starting the memory reads of a whole group's
 * index slots (and home blocks), then of the records they name, before it
 * copies any value, so the cache misses of the group overlap instead of
 * following one another, and it takes one reader pin per group. Each value
 * is as ea_eos_get would have returned it at some moment during the call;
 * the group is not a snapshot (a key written meanwhile may be seen old or
 * new). Returns EA_OK (look at each item's rc) or EA_ERR_INVAL (s NULL, or
 * items NULL with n > 0).
 */
EA_API int ea_eos_get_many(ea_eos_t *s, ea_eos_mget_t *items, size_t n);

/**
 * Zero-copy read: sets *val to a read-only view of the value of `key`
 * (*vlen bytes) and *version (may be NULL) to its version, and opens a read
 * section on the handle that ea_eos_view_end() closes.
 *  - Trusted store: the view points into the region, at the record the
 *    key had when it was found; a later put of the key publishes a new
 *    record and leaves this one intact while the view is open (the handle
 *    holds its reader pin: the record cannot be reclaimed). So the bytes
 *    do not change under the caller, with one exception: a view held for
 *    longer than the reader lease is evicted (it stops holding back
 *    reclamation, see above), and if the key was replaced meanwhile the
 *    bytes may have been reused: ea_eos_view_end() then returns
 *    EA_ERR_BUSY and what was read through the view must be discarded.
 *  - Untrusted and persistent stores: the record is authenticated and
 *    decrypted once into the handle's private buffer and the view points
 *    there (never into memory the host can write); no pin is held;
 *    ea_eos_view_end() wipes it and returns EA_OK.
 * Lifetime: the view is valid until ea_eos_view_end(s), the next get,
 * view, put, cas, del or iter on `s` (which ends the view first), or
 * ea_eos_close(s); ea_eos_stats, ea_eos_sync and ea_eos_dup leave it open.
 * Keep views short: an open trusted view holds back the reclamation of
 * every record replaced meanwhile, in the whole store, for up to the lease.
 * Returns EA_OK (a view is open), or, with no view open: EA_ERR_NOTFOUND;
 * EA_ERR_TAMPERED; EA_ERR_INVAL; EA_ERR_CORRUPT; EA_ERR_BUSY as
 * ea_eos_get().
 */
EA_API int ea_eos_get_view(ea_eos_t *s, const void *key, size_t klen, const void **val,
                           size_t *vlen, uint64_t *version);

/**
 * Closes the view ea_eos_get_view() opened on `s` (nothing open: EA_OK).
 * Returns EA_OK if the view's bytes were stable for as long as it was open,
 * EA_ERR_BUSY if they may not have been (held past the lease while the key
 * was replaced: discard what was read), EA_ERR_INVAL for NULL.
 */
EA_API int ea_eos_view_end(ea_eos_t *s);

/**
 * Deletes `key` if its version is `expected` (EA_EOS_ANY: any). Returns
 * EA_OK, EA_ERR_NOTFOUND, EA_ERR_VERSION, or what ea_eos_put returns (a
 * delete writes a small tombstone record and can meet a full store).
 */
EA_API int ea_eos_del(ea_eos_t *s, const void *key, size_t klen, uint64_t expected);

/**
 * Called by ea_eos_iter for each live key. `key` and `val` are borrowed:
 * valid until the callback returns or calls the store through the same
 * handle (they point into the handle's private buffer). Return 0 to go on, anything else to
 * stop (ea_eos_iter then returns it).
 */
typedef int (*ea_eos_iter_fn)(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                              uint64_t version);

/**
 * Calls `fn` for each live key that starts with the `plen` bytes of
 * `prefix` (0: every key), in no particular order, each key at most once;
 * keys written during the walk may or may not be seen. The callback may use
 * the store, through this handle too (see ea_eos_iter_fn for what that
 * does to its arguments). An untrusted store decrypts every
 * record to test the prefix. A record that fails (EA_ERR_TAMPERED,
 * EA_ERR_CORRUPT, or EA_ERR_BUSY: replaced on every try) fails alone: the
 * walk skips it and still visits every other key. Returns EA_OK, the
 * callback's non-zero value (which stops the walk), or else, after the
 * whole walk, the error of the first record that failed.
 */
EA_API int ea_eos_iter(ea_eos_t *s, const void *prefix, size_t plen, ea_eos_iter_fn fn, void *arg);

/**
 * Persistent: makes every write that returned before this call durable and
 * advances the store's monotonic counter. Trusted and untrusted stores:
 * does nothing. Returns EA_OK, or: EA_ERR_SYS if the file cannot be synced
 * or the platform cannot be reached; EA_ERR_LIMIT if the counter is
 * exhausted; EA_ERR_BUSY if another handle is syncing.
 */
EA_API int ea_eos_sync(ea_eos_t *s);

/** Fills *st. Returns EA_OK or EA_ERR_INVAL. */
EA_API int ea_eos_stats(ea_eos_t *s, ea_eos_stats_t *st);

#ifdef __cplusplus
}
#endif
#endif
