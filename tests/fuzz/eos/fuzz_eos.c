/*
 * Fuzz target: an untrusted EOS store (src/eos) whose region a hostile host
 * rewrites between the enclave's operations. The input is a program of
 * operations by the enclave (put, get, view, get_many, cas, del, iter, a
 * fresh attach of the region) and of the host (bytes written anywhere in
 * the region, a 64-byte block copied over another: a record, an index
 * slot or a free-list link moved).
 *
 * Every run starts from the same region: formatted once with fixed keys
 * (so a rewrite at one offset means the same thing in every run) and
 * holding keys 0..7. Its byte 0 chooses the store (bit 0: home blocks).
 *
 * Oracles beyond the sanitizers (the region is a heap buffer of its exact
 * size, so an access outside it is reported):
 *  - while the host has written nothing, the store is exact: a get returns
 *    the last value written and its version, NOTFOUND after a delete;
 *    every write succeeds or says the store is full and changes nothing;
 *    an attach succeeds and sees the same contents;
 *  - after the host has written, a get, view or iteration that succeeds
 *    returns, for its key, a value that was written for that key by this
 *    program (the host may point a key back at an older record of its own,
 *    THREAT_MODEL.md says so; it must not make the store return bytes
 *    nobody wrote, another key's value, or a value of another length),
 *    and every failure is one of the documented codes. Nothing hangs (a
 *    store that waits for readers waits at most twice the 1 ms lease).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eactors/ea_eos.h>

#include "crypto/crypto.h"
#include "eos/eos_int.h"
#include "fuzz_input.h"
#include "fuzz_platform.h"
#include "trust/trust.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REGION (128u * 1024u)
#define NKEYS 32u
#define VMAX 3000u
#define HIST 512u /* values written per run, at most */
#define OPS 200u  /* operations per run, at most */

static const char image[] = "the fixed enclave image of the eos fuzz target";
static const uint8_t signer[32] = {9,  8,  7,  6,  5,  4,  3,  2,  1,  10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static eai_pcore_t pc;
static eai_local_platform_t lp;
static uint8_t *tmpl[2]; /* the formatted region, without and with home blocks */
static uint8_t *region;
static const struct eos_static *geo; /* the geometry of this run's region */

/* Key i: 1 to 40 bytes of a pattern of i. */
static size_t key_of(unsigned i, uint8_t *k)
{
    size_t n = 1 + (i * 7u) % 40u;
    for (size_t j = 0; j < n; j++)
        k[j] = (uint8_t)(i * 31u + j);
    return n;
}

/* Value number `seq` of key i, `n` bytes: a pattern no other (key, seq)
 * shares at a length of 2 bytes or more. */
static void value_of(unsigned i, unsigned seq, size_t n, uint8_t *v)
{
    for (size_t j = 0; j < n; j++)
        v[j] = (uint8_t)(j == 0 ? i : j == 1 ? seq : (i ^ seq * 13u ^ j * 101u));
}

/* What the program wrote: every value it tried to write, per key, and what
 * the store must hold while the host has not written. */
struct model {
    struct {
        uint16_t key, seq;
        uint32_t len;
    } hist[HIST + 8];
    unsigned nhist;
    int live[NKEYS];
    uint32_t len[NKEYS];
    uint16_t seq[NKEYS];
    uint64_t ver[NKEYS];
    int tampered; /* the host has written */
};

static void note(struct model *m, unsigned k, unsigned seq, size_t len)
{
    m->hist[m->nhist].key = (uint16_t)k;
    m->hist[m->nhist].seq = (uint16_t)seq;
    m->hist[m->nhist].len = (uint32_t)len;
    m->nhist++;
}

/* Whether `v` (`n` bytes) is a value written for key k. */
static int was_written(const struct model *m, unsigned k, const uint8_t *v, size_t n)
{
    static uint8_t want[VMAX];
    for (unsigned h = 0; h < m->nhist; h++) {
        if (m->hist[h].key != k || m->hist[h].len != n)
            continue;
        value_of(k, m->hist[h].seq, n, want);
        if (memcmp(want, v, n) == 0)
            return 1;
    }
    return 0;
}

static void fail(const char *what, unsigned k, int rc)
{
    fprintf(stderr, "fuzz_eos: %s (key %u, rc %d)\n", what, k, rc);
    abort();
}

/* A get's result against the model. */
static void check_get(const struct model *m, unsigned k, int rc, const uint8_t *v, size_t n,
                      uint64_t ver)
{
    if (!m->tampered) {
        if (!m->live[k]) {
            if (rc != EA_ERR_NOTFOUND)
                fail("absent key not NOTFOUND", k, rc);
            return;
        }
        if (rc != EA_OK)
            fail("get of a live key failed", k, rc);
        uint8_t *want = malloc(VMAX);
        value_of(k, m->seq[k], m->len[k], want);
        if (n != m->len[k] || memcmp(want, v, n) != 0 || ver != m->ver[k])
            fail("get returned another value", k, rc);
        free(want);
        return;
    }
    if (rc == EA_OK) {
        if (!was_written(m, k, v, n))
            fail("get returned bytes nobody wrote for this key", k, rc);
        return;
    }
    if (rc != EA_ERR_NOTFOUND && rc != EA_ERR_TAMPERED && rc != EA_ERR_CORRUPT && rc != EA_ERR_BUSY)
        fail("get failed with an undocumented code", k, rc);
}

/* A write's result: applied to the model on success; a refusal must leave
 * an untampered store as it was. */
static void check_write(struct model *m, unsigned k, int rc, int is_del, unsigned seq, size_t len,
                        uint64_t ver)
{
    if (rc == EA_OK) {
        if (!m->tampered && !is_del && ver != m->ver[k] + 1 && !(ver == 1 && m->ver[k] == 0))
            fail("put returned a wrong version", k, rc);
        m->live[k] = !is_del;
        m->seq[k] = (uint16_t)seq;
        m->len[k] = (uint32_t)len;
        if (!is_del)
            m->ver[k] = ver;
        else
            m->ver[k]++; /* the tombstone's version; a later put follows it */
        return;
    }
    if (!m->tampered && rc != EA_ERR_NOSPACE && rc != EA_ERR_VERSION && rc != EA_ERR_NOTFOUND)
        fail("write failed on an untampered store", k, rc);
    if (rc != EA_ERR_NOSPACE && rc != EA_ERR_VERSION && rc != EA_ERR_NOTFOUND &&
        rc != EA_ERR_TAMPERED && rc != EA_ERR_CORRUPT && rc != EA_ERR_BUSY)
        fail("write failed with an undocumented code", k, rc);
}

struct walk {
    const struct model *m;
    unsigned seen[NKEYS];
};

static int on_key(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                  uint64_t version)
{
    struct walk *w = arg;
    uint8_t k[64];
    for (unsigned i = 0; i < NKEYS; i++) {
        if (key_of(i, k) != klen || memcmp(k, key, klen) != 0)
            continue;
        w->seen[i]++;
        if (!w->m->tampered) {
            check_get(w->m, i, EA_OK, val, vlen, version);
        } else if (!was_written(w->m, i, val, vlen)) {
            fail("iteration returned bytes nobody wrote for this key", i, 0);
        }
        return 0;
    }
    if (!w->m->tampered)
        fail("iteration returned a key nobody wrote", 0, 0);
    /* The host cannot forge a key either: every key is one of ours. */
    fail("iteration returned a key nobody wrote (tampered store)", 0, 0);
    return 0;
}

/* The host's aimed write: one 8-byte field of the header's allocator
 * state, an index slot, a reader slot or the header of the record a slot
 * names, set to input bytes, to another slot's word, or moved by a small
 * amount. Returns whether the region changed. */
static int aimed_write(struct in *in)
{
    const struct eos_static *st = geo; /* as formatted: the region's may be rewritten */
    unsigned what = take(in, 1), x = take(in, 1), how = take(in, 1);
    uint64_t nslots = st->nslots, off;
    switch (what % 8) {
    case 0: off = offsetof(struct eos_hdr, bump); break;
    case 1: off = offsetof(struct eos_hdr, limbo); break;
    case 2: off = offsetof(struct eos_hdr, free_head) + 8 * (x % EOS_NCLASS); break;
    case 3: off = offsetof(struct eos_hdr, epoch); break;
    case 4:
    case 5: off = st->off_slots + 16 * (x % nslots) + 8 * (what % 8 == 5); break;
    case 6: off = st->off_readers + 64 * (x % EOS_NREADERS); break;
    default: { /* a field of the record the first used slot from x names */
        uint64_t w = 0;
        for (uint64_t j = 0; j < nslots && w == 0; j++)
            memcpy(&w, region + st->off_slots + 16 * ((x + j) % nslots), 8);
        if (w == 0)
            return 0;
        off = (w & 0xffffffffu) * EOS_UNIT + 8 * (how >> 4 & 7);
        break;
    }
    }
    if (off > REGION - 8)
        return 0;
    uint64_t v, old;
    memcpy(&old, region + off, 8);
    switch (how % 4) {
    case 0: v = (uint64_t)take(in, 4) << 32 | take(in, 4); break;
    case 1: memcpy(&v, region + st->off_slots + 16 * (take(in, 1) % nslots), 8); break;
    case 2: v = old + (take(in, 1) % 16) - 8; break;
    default: v = old ^ (UINT64_C(1) << (take(in, 1) % 64)); break;
    }
    memcpy(region + off, &v, 8);
    return v != old;
}

static int open_region(ea_eos_t **s, uint32_t home)
{
    ea_eos_config_t c = {.kind = EA_EOS_UNTRUSTED,
                         .size = REGION,
                         .region = region,
                         .keys = 64,
                         .reader_lease_ns = 1000000,
                         .home_bytes = home};
    return ea_eos_open("fuzz", &c, s);
}

static void platform_init(void)
{
    fuzz_platform(&pc, &lp, image, signer, 1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (eai_crypto_init() != EA_OK)
        abort();
    platform_init();
    /* The two starting regions, formatted once (their keys are random)
     * and holding keys 0..7 (value 0, 100 bytes). */
    for (int h = 0; h < 2; h++) {
        region = aligned_alloc(64, REGION);
        tmpl[h] = aligned_alloc(64, REGION);
        if (region == NULL || tmpl[h] == NULL)
            abort();
        memset(region, 0, REGION);
        ea_eos_t *s;
        if (open_region(&s, h ? 200 : 0) != EA_OK)
            abort();
        uint8_t k[64], v[100];
        for (unsigned i = 0; i < 8; i++) {
            value_of(i, 0, sizeof v, v);
            if (ea_eos_put(s, k, key_of(i, k), v, sizeof v, NULL) != EA_OK)
                abort();
        }
        ea_eos_close(s);
        memcpy(tmpl[h], region, REGION);
        free(region);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    static int trace = -1;
    if (trace < 0)
        trace = getenv("EA_FUZZ_TRACE") != NULL;
    unsigned home = take(&in, 1) & 1;
    region = aligned_alloc(64, REGION);
    if (region == NULL)
        abort();
    memcpy(region, tmpl[home], REGION);
    geo = (const struct eos_static *)(const void *)tmpl[home];
    static struct model m;
    memset(&m, 0, sizeof m);
    for (unsigned i = 0; i < 8; i++) {
        m.live[i] = 1;
        m.len[i] = 100;
        m.ver[i] = 1;
        note(&m, i, 0, 100);
    }
    ea_eos_t *s = NULL;
    if (open_region(&s, home ? 200 : 0) != EA_OK)
        fail("attach of the starting region failed", 0, 0);
    uint8_t *v = malloc(VMAX), *buf = malloc(VMAX);
    uint8_t key[64];
    unsigned seq = 1;
    for (unsigned op = 0; op < OPS && in.n > 0 && s != NULL; op++) {
        unsigned code = take(&in, 1);
        unsigned k = take(&in, 1) % NKEYS;
        size_t klen = key_of(k, key);
        if (trace)
            fprintf(stderr, "op %u: code %u key %u\n", op, code % 11, k);
        switch (code % 11) {
        case 0:   /* put */
        case 1: { /* compare-and-swap: against the right version, or a wrong one */
            if (m.nhist >= HIST)
                break;
            size_t len = take(&in, 2) % VMAX;
            value_of(k, seq, len, v);
            note(&m, k, seq, len);
            uint64_t ver = 0;
            int rc;
            if (code % 11 == 0) {
                rc = ea_eos_put(s, key, klen, v, len, &ver);
            } else {
                uint64_t exp = (code & 0x10) ? m.ver[k] + 1 : (m.live[k] ? m.ver[k] : 0);
                rc = ea_eos_cas(s, key, klen, exp, v, len, &ver);
                if (!m.tampered && (code & 0x10) && rc != EA_ERR_VERSION)
                    fail("cas against a wrong version did not say so", k, rc);
            }
            if (!m.tampered && !(code % 11 == 1 && (code & 0x10)) &&
                (rc == EA_ERR_VERSION || rc == EA_ERR_NOTFOUND))
                fail("put or cas against the right version refused", k, rc);
            check_write(&m, k, rc, 0, seq, len, ver);
            seq = (seq + 1) & 0xffffu;
            break;
        }
        case 2: { /* get, sometimes into a buffer too small */
            size_t cap = (code & 0x10) ? take(&in, 2) % VMAX : VMAX;
            size_t n = 0;
            uint64_t ver = 0;
            int rc = ea_eos_get(s, key, klen, buf, cap, &n, &ver);
            if (rc == EA_ERR_TOOBIG) {
                if (n <= cap || (!m.tampered && (!m.live[k] || n != m.len[k])))
                    fail("TOOBIG with a wrong length", k, rc);
                break;
            }
            check_get(&m, k, rc, buf, n, ver);
            break;
        }
        case 3: { /* view */
            const void *p = NULL;
            size_t n = 0;
            uint64_t ver = 0;
            int rc = ea_eos_get_view(s, key, klen, &p, &n, &ver);
            check_get(&m, k, rc, p, n, ver);
            if (ea_eos_view_end(s) != EA_OK)
                fail("view_end of an untrusted store failed", k, 0);
            break;
        }
        case 4: { /* get_many of keys k, k+1, k+2 */
            ea_eos_mget_t it[3];
            uint8_t keys[3][64], *bufs = malloc(3 * VMAX);
            for (unsigned j = 0; j < 3; j++) {
                unsigned kj = (k + j) % NKEYS;
                it[j] = (ea_eos_mget_t){.key = keys[j],
                                        .klen = key_of(kj, keys[j]),
                                        .buf = bufs + j * VMAX,
                                        .cap = VMAX};
            }
            if (ea_eos_get_many(s, it, 3) != EA_OK)
                fail("get_many failed", k, 0);
            for (unsigned j = 0; j < 3; j++)
                check_get(&m, (k + j) % NKEYS, it[j].rc, it[j].buf, it[j].vlen, it[j].version);
            free(bufs);
            break;
        }
        case 5: { /* delete: any version, or the one the model holds */
            uint64_t exp = (code & 0x10) && m.ver[k] != 0 ? m.ver[k] : EA_EOS_ANY;
            int rc = ea_eos_del(s, key, klen, exp);
            if (!m.tampered && !m.live[k] && rc != EA_ERR_NOTFOUND)
                fail("delete of an absent key did not say NOTFOUND", k, rc);
            if (!m.tampered && m.live[k] && rc != EA_OK && rc != EA_ERR_NOSPACE)
                fail("delete of a live key failed", k, rc);
            if (rc == EA_OK || m.tampered || m.live[k])
                check_write(&m, k, rc, 1, m.seq[k], m.len[k], 0);
            break;
        }
        case 6: { /* iterate, over all keys or those starting like key k */
            struct walk w = {.m = &m};
            size_t plen = (code & 0x10) ? (klen < 3 ? klen : 3) : 0;
            int rc = ea_eos_iter(s, key, plen, on_key, &w);
            if (!m.tampered) {
                if (rc != EA_OK)
                    fail("iteration of an untampered store failed", 0, rc);
                for (unsigned i = 0; i < NKEYS; i++) {
                    uint8_t ki[64];
                    size_t li = key_of(i, ki);
                    int match = li >= plen && memcmp(ki, key, plen) == 0;
                    if (w.seen[i] != (unsigned)(m.live[i] && match))
                        fail("iteration saw a key a wrong number of times", i, (int)w.seen[i]);
                }
            } else if (rc != EA_OK && rc != EA_ERR_TAMPERED && rc != EA_ERR_CORRUPT &&
                       rc != EA_ERR_BUSY) {
                fail("iteration failed with an undocumented code", 0, rc);
            }
            break;
        }
        case 7: { /* the host writes up to 16 bytes anywhere */
            uint32_t off = take(&in, 3) % REGION;
            unsigned n = take(&in, 1) % 17;
            for (unsigned j = 0; j < n && off + j < REGION; j++)
                region[off + j] = (uint8_t)take(&in, 1);
            m.tampered |= n > 0;
            break;
        }
        case 8: { /* the host copies one 64-byte block over another */
            uint32_t from = take(&in, 2) % (REGION / 64), to = take(&in, 2) % (REGION / 64);
            if (from != to && memcmp(region + 64 * to, region + 64 * from, 64) != 0) {
                memmove(region + 64 * to, region + 64 * from, 64);
                m.tampered = 1;
            }
            break;
        }
        case 10: /* the host writes 8 bytes into a field it knows */
            m.tampered |= aimed_write(&in);
            break;
        case 9: { /* a fresh attach of the region, as another process would */
            ea_eos_close(s);
            s = NULL;
            int rc = open_region(&s, home ? 200 : 0);
            if (rc != EA_OK) {
                if (!m.tampered)
                    fail("attach of an untampered region failed", 0, rc);
                if (rc != EA_ERR_TAMPERED && rc != EA_ERR_CORRUPT && rc != EA_ERR_NOTFOUND &&
                    rc != EA_ERR_AUTH && rc != EA_ERR_BUSY && rc != EA_ERR_INVAL)
                    fail("attach failed with an undocumented code", 0, rc);
                s = NULL;
            }
            break;
        }
        }
    }
    ea_eos_close(s);
    free(v);
    free(buf);
    free(region);
    return 0;
}
