/*
 * EOS internals: the region layout, shared by the store (eos.c) and its
 * tests. Every field that lives in the region is read through a private
 * copy and checked before use when the region is untrusted.
 */
#ifndef EAI_EOS_INT_H
#define EAI_EOS_INT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include <eactors/ea_eos.h>
#include <eactors/ea_trust.h>

#define EOS_UNIT 64u         /* blocks and offsets are in 64-byte units */
#define EOS_NCLASS 56u       /* block size classes, 64 B .. 20480 units */
#define EOS_NREADERS 128u    /* reader slots (pins) */
#define EOS_HDR_SIZE 4096u   /* the header, then slots, readers, data */
#define EOS_SEALED_MAX 1760u /* room for the sealed store key */
#define EOS_EVICTED UINT64_MAX
/* A trusted handle's reserved reader slot while it is not pinned. */
#define EOS_IDLE (UINT64_MAX - 1)

/* Written once when the region is formatted; authenticated (as the sealed
 * key's additional MAC text) in encrypted stores. 256 bytes. */
struct eos_static {
    uint8_t magic[8]; /* "EAEOS\0\0\1" */
    uint32_t layout;  /* 1 */
    uint32_t kind;    /* ea_eos_kind */
    uint64_t size;
    uint64_t nslots; /* a power of two */
    uint64_t nreaders;
    uint64_t off_slots, off_readers, off_data, data_end;
    uint8_t store_id[16];
    char name[64];
    uint16_t key_policy;
    uint16_t reserved16;
    uint32_t reserved32;
    ea_mc_uuid_t counter; /* persistent: the store's monotonic counter */
    uint8_t hash_key[16]; /* trusted only (private memory); zero otherwise */
    /* Units of each slot's home block (0: none); the home blocks are the
     * first nslots * home_units units of the data space. */
    uint32_t home_units;
    uint8_t reserved[60];
};
_Static_assert(sizeof(struct eos_static) == 256, "static header is 256 bytes");

struct eos_hdr {
    struct eos_static st;
    uint32_t sealed_size;
    uint8_t reserved[12];
    uint8_t sealed[EOS_SEALED_MAX];
    /* 0 new, 1 formatting, 2 ready: the formatter's release store pairs
     * with an attacher's acquire load. */
    alignas(64) _Atomic uint32_t state;
    _Atomic uint32_t syncing; /* one sync at a time */
    uint64_t sync_ctr;        /* persistent: counter value at the last sync */
    uint8_t sync_mac[16];     /* CMAC(store_id || sync_ctr) */
    /* The reclamation epoch (from 1): seq_cst, totally ordered with pins. */
    alignas(64) _Atomic uint64_t epoch;
    /* Next never-used data unit (absolute, in units). */
    alignas(64) _Atomic uint64_t bump;
    /* Retired records: tagged Treiber stack (units | tag << 32). */
    alignas(64) _Atomic uint64_t limbo;
    alignas(64) _Atomic uint64_t keys;
    _Atomic uint64_t slots_used;
    _Atomic uint64_t evictions;
    _Atomic uint64_t retired;
    _Atomic uint64_t free_units;
    /* Free blocks per class: tagged Treiber stacks. */
    alignas(64) _Atomic uint64_t free_head[EOS_NCLASS];
};
_Static_assert(sizeof(struct eos_hdr) <= EOS_HDR_SIZE, "header fits its page");

/* One index slot. `word` is the current record (units | seq << 32; 0 while
 * free): set once from 0 by the claiming writer and then replaced only by
 * compare-and-swap, so a slot's key never changes. `hash` is the key's
 * keyed hash, written after the claim (0 until then). */
struct eos_slot {
    _Atomic uint64_t word;
    _Atomic uint64_t hash;
};

/* One reader slot, on its own cache line. `pin` is 0 (free), EOS_EVICTED,
 * EOS_IDLE (reserved by a trusted handle, not pinned), or epoch << 16 |
 * salt. `seen`/`seen_at` are the reclaimers' notes for the
 * lease: the pin they last saw stale, and when. */
struct eos_reader {
    alignas(64) _Atomic uint64_t pin;
    _Atomic uint64_t seen;
    _Atomic uint64_t seen_at;
};
_Static_assert(sizeof(struct eos_reader) == 64, "a reader slot is one cache line");

/* A home block's state, in its `link` (home blocks never go on a list):
 * free, in use (claimed by a writer, then the slot's record), or retired
 * (epoch << 2 | EOS_HOME_RETIRED) and free again two epochs later. */
#define EOS_HOME_FREE 0u
#define EOS_HOME_USED 1u
#define EOS_HOME_RETIRED 2u
#define EOS_HOME_MAX_UNITS 16u /* a home block is at most 1 KiB */
/* An index of up to this many slots (1 MiB) is sized at a load of 0.5;
 * a larger one at 0.8 (eai_eos_slots_for). */
#define EOS_INDEX_SMALL 65536u

#define EOS_REC_TOMB 0x1u
/* A record: this 64-byte header, then key||value (clear, trusted) or their
 * ciphertext followed by a 16-byte tag (encrypted). */
struct eos_rec {
    uint16_t cls;
    uint16_t flags;
    uint32_t klen;
    uint32_t vlen;
    uint8_t iv_hi[4];
    uint64_t version;
    uint64_t khash;
    uint64_t khash2;
    _Atomic uint64_t link;   /* free list or limbo: next block (units) */
    _Atomic uint64_t repoch; /* epoch when retired */
    uint8_t iv_lo[8];
};
_Static_assert(sizeof(struct eos_rec) == 64, "record header is one unit");

/* Block size of class c, in units. */
uint64_t eai_eos_class_units(unsigned c);
/* Smallest class holding `units` units; EOS_NCLASS if none. */
unsigned eai_eos_class_of(uint64_t units);
/* The fewest index slots for `keys` keys (the slot count is the next power
 * of two): 2 x keys while that is at most EOS_INDEX_SMALL slots and the
 * store has no home blocks, else 1.25 x keys (a load of up to 0.8). */
uint64_t eai_eos_slots_for(uint64_t keys, uint32_t home_units);
/* The geometry of a region of `size` bytes for `keys` keys (0: default)
 * with home blocks of `home_units` units (0: none; else a class size of at
 * most EOS_HOME_MAX_UNITS): fills the sizes and offsets of *st. EA_ERR_INVAL
 * if it cannot hold one. */
int eai_eos_layout(uint64_t size, uint32_t keys, uint32_t home_units, struct eos_static *st);
/* Units of the home blocks for records of `home_bytes` key + value bytes
 * (0: 0), a class size; 0 with *ok false if that is more than
 * EOS_HOME_MAX_UNITS. */
uint32_t eai_eos_home_units(uint32_t home_bytes, int enc, int *ok);

/* ea_eos_open of a persistent store whose file is the open descriptor
 * `fd` (cfg->path NULL, cfg->size its size, which the opener of the file
 * set): for an enclave, which cannot open files (the launcher opens them,
 * src/eos/attach.c). The store maps the file and never closes `fd`. */
int eai_eos_open_fd(const char *name, const ea_eos_config_t *cfg, int fd, ea_eos_t **out);

/* Closes the stores ea_eos_attach opened in this process and the
 * persistent files the launcher opened (the runtime's teardown, before
 * eai_rt_fini). */
struct eai_rt;
void eai_eos_rt_fini(struct eai_rt *rt);

/* Test hooks: pin a reader slot of `s` as a reader does and leave it
 * pinned (a stalled reader); unpin it, returning 1 if it had been evicted. */
int eai_eos_test_pin(ea_eos_t *s, uint32_t *slot);
int eai_eos_test_unpin(ea_eos_t *s, uint32_t slot);
/* Runs one reclamation pass (advance the epoch if possible, free what is
 * old enough). */
void eai_eos_test_reclaim(ea_eos_t *s);

#endif
