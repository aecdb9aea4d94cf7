/*
 * ea_bench_eos: EOS against LMDB, doing the same work in the same run.
 *
 * For each store (trusted, untrusted, persistent, lmdb), value size and key
 * count it loads `keys` keys (16 bytes) with values of `value_bytes`, then
 * runs gets of random loaded keys and puts (overwrites) of random loaded
 * keys from 1 and 2 threads, and prints CSV rows
 *   eos,STORE,OP,value_bytes,keys,threads,ops_per_s,p50_ns,p99_ns
 * ops_per_s is all threads' operations over the wall time of the timed
 * loop; p50/p99 are of one operation, timed on every 8th operation. Each
 * row is the best of --reps (3) loops by ops/s, with that loop's
 * percentiles: the loop least disturbed by other work on the machine.
 * OP `view` is a zero-copy get that reads the value in place: for EOS,
 * ea_eos_get_view + a checksum over the value's bytes + ea_eos_view_end
 * (trusted: the bytes in the region; untrusted and persistent: decrypted
 * once into the handle's buffer); for LMDB, mdb_get in a renewed read-only
 * transaction + the same checksum over the bytes mdb_get points at (in
 * the map). Neither copies the value; both read every byte of it once.
 * It also prints, for each value size, one `eos,aesgcm,open,...` row: one
 * AES-256-GCM open of the value with the library EOS uses (the budget of
 * the encrypted-store target is LMDB's get + this).
 * OP `mget` is the same gets MGET_BATCH (16) at a time: ea_eos_get_many, or
 * for LMDB the 16 mdb_get (each value copied out) in one renewed read-only
 * transaction. ops_per_s counts gets; p50/p99 are of one batch of 16.
 * OP `miss` (only when --ops names it) is a get of a key that is not in the
 * store (EA_ERR_NOTFOUND; LMDB: MDB_NOTFOUND): the cost of a probe that
 * ends at an empty slot.
 * STORE `memread` is the floor, not a store: value i sits at a fixed place
 * in a plain array (64-byte aligned, huge pages), and a get copies (get)
 * or checksums (view) the value of the random key with no lookup at all:
 * what the memory traffic of reaching the value costs by itself. No puts.
 *
 * What is compared:
 *  - trusted: private memory, clear text.
 *  - untrusted: an anonymous shared mapping (as the public arena), keyed
 *    hashes and AES-256-GCM; the store key is sealed with the seal key of an
 *    enclave played in this process (a local platform, the trust tests'
 *    way: an enclave reaches the same code through its platform socket, and
 *    only at open and sync).
 *  - persistent: as untrusted, in a file under --dir mapped shared; no
 *    ea_eos_sync in the timed loops (writes reach the page cache; durable
 *    at the next sync).
 *  - lmdb: an LMDB environment under --dir with MDB_NOSYNC (each put its
 *    own committed write transaction, durable at the next mdb_env_sync:
 *    the same promise as the persistent store), gets in a read-only
 *    transaction renewed per get (mdb_txn_renew/reset, LMDB's fast read
 *    path), the value copied out as ea_eos_get does.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include <eactors/ea_eos.h>

#include "crypto/crypto.h"
#include "eos/eos_int.h"
#include "trust/trust.h"

#define KEYLEN 16
#define SAMPLE_EVERY 8

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "ea_bench_eos: %s failed (%d: %s)\n", what, rc, ea_strerror(rc));
    exit(1);
}

/* Key i: 16 bytes, "k" + 15 digits (i < 10^15). The digits are made in
 * four independent groups, two at a time from a table, so that making the
 * key (the same for every store) costs a few ns of each operation rather
 * than a chain of 15 dependent divisions (~17 ns, measured: it diluted
 * every ratio). */
static char digit_pairs[200];

static void make_key_init(void)
{
    for (int n = 0; n < 100; n++) {
        digit_pairs[2 * n] = (char)('0' + n / 10);
        digit_pairs[2 * n + 1] = (char)('0' + n % 10);
    }
}

/* Four digits of n (< 10^4) at p. */
static inline void four_digits(uint8_t *p, uint32_t n)
{
    memcpy(p, digit_pairs + 2 * (n / 100), 2);
    memcpy(p + 2, digit_pairs + 2 * (n % 100), 2);
}

static void make_key(uint64_t i, uint8_t k[KEYLEN])
{
    uint64_t hi = i / 100000000u, lo = i % 100000000u; /* 7 and 8 digits */
    uint8_t t[16];
    four_digits(t, (uint32_t)(hi / 10000u)); /* t[0] is 0: hi < 10^7 */
    four_digits(t + 4, (uint32_t)(hi % 10000u));
    four_digits(t + 8, (uint32_t)(lo / 10000u));
    four_digits(t + 12, (uint32_t)(lo % 10000u));
    t[0] = 'k';
    memcpy(k, t, KEYLEN);
}

/* make_key's keys are the plain ones: "k" and i in 15 decimal digits. */
static void make_key_check(void)
{
    static const uint64_t probes[] = {
        0, 1, 9, 10, 99999999, 100000000, 123456789012345, 999999999999999};
    for (size_t p = 0; p < sizeof probes / sizeof probes[0]; p++) {
        uint8_t k[KEYLEN], want[KEYLEN];
        uint64_t i = probes[p];
        want[0] = 'k';
        for (int d = KEYLEN - 1; d >= 1; d--, i /= 10)
            want[d] = (uint8_t)('0' + i % 10);
        make_key(probes[p], k);
        if (memcmp(k, want, KEYLEN) != 0) {
            fprintf(stderr, "ea_bench_eos: make_key(%llu) is wrong\n",
                    (unsigned long long)probes[p]);
            exit(1);
        }
    }
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* ---- the enclave played in this process (untrusted, persistent) ---- */

static eai_pcore_t pcore;
static eai_counters_t counters;
static eai_local_platform_t lplat;

static void platform_open(const char *dir)
{
    char err[256] = "", pdir[512];
    snprintf(pdir, sizeof pdir, "%s/platform", dir);
    if (eai_pcore_open(&pcore, pdir, err, sizeof err) != EA_OK ||
        eai_mc_open(&counters, &pcore, pdir, err, sizeof err) != EA_OK) {
        fprintf(stderr, "ea_bench_eos: platform: %s\n", err);
        exit(1);
    }
    static const char image[] = "ea_bench_eos enclave";
    uint8_t priv[32];
    for (int i = 0; i < 32; i++)
        priv[i] = (uint8_t)(i * 7 + 1);
    eai_sigstruct_t s;
    memset(&s, 0, sizeof s);
    s.attributes.flags = EA_FLAGS_MODE64BIT;
    s.isv_prod_id = 1;
    s.isv_svn = 1;
    s.date = 1700000000;
    uint8_t sig[EAI_SIGSTRUCT_SIZE];
    eai_identity_t id;
    if (eai_measure(image, sizeof image - 1, &s.attributes, s.mr_enclave) != EA_OK ||
        eai_sigstruct_sign(&s, priv) != EA_OK)
        die("signing the played enclave", EA_ERR_CRYPTO);
    eai_sigstruct_encode(&s, sig);
    if (eai_einit(image, sizeof image - 1, sig, sizeof sig, "img", "img.sig", &id, err,
                  sizeof err) != EA_OK) {
        fprintf(stderr, "ea_bench_eos: einit: %s\n", err);
        exit(1);
    }
    eai_local_platform_init(&lplat, &pcore, &id, &counters);
}

/* ---- one store under test ---- */

enum store { S_TRUSTED, S_TRUSTED_HOME, S_UNTRUSTED, S_PERSISTENT, S_LMDB, S_MEMREAD, S_COUNT };
static const char *store_names[S_COUNT] = {"trusted",    "trusted_home", "untrusted",
                                           "persistent", "lmdb",         "memread"};

struct bench {
    enum store kind;
    size_t vlen;
    uint64_t keys;
    const char *dir;
    /* EOS */
    ea_eos_t *eos;
    void *region;
    size_t region_size;
    char path[512];
    /* LMDB */
    MDB_env *env;
    MDB_dbi dbi;
    /* memread: `keys` values in a plain array, `stride` bytes apart */
    uint8_t *arr;
    size_t arr_size, stride;
};

/* Region for `keys` records of key + value: the record (64-byte header,
 * key||value, tag) rounded to its size class (at most +25%), the index (two
 * slots of 16 bytes per key) and the fixed part, with 40% headroom for the
 * records retired by overwrites. */
static uint32_t home_bytes = 128; /* --home: trusted_home's home_bytes */

/* trusted_home's home_bytes for values of vlen: --home if key + value fit,
 * else 0 (no row). */
static uint32_t home_for(size_t vlen)
{
    return KEYLEN + vlen <= home_bytes ? home_bytes : 0;
}

static size_t region_for(uint64_t keys, size_t vlen, int home)
{
    uint64_t rec = 64 + KEYLEN + vlen + 16;
    rec = (rec + 63) / 64 * 64;
    uint64_t bytes = keys * (rec * 5 / 4) * 14 / 10 + keys * 64 + (4u << 20);
    if (home && home_for(vlen) != 0) {
        /* one home block per index slot, as the layout takes them */
        int ok;
        uint32_t hu = eai_eos_home_units(home_for(vlen), 1, &ok);
        uint64_t nslots = 64;
        while (nslots < eai_eos_slots_for(keys, hu))
            nslots *= 2;
        bytes += nslots * hu * 64;
    }
    return (size_t)((bytes + 4095) / 4096 * 4096);
}

static void bench_open(struct bench *b)
{
    int rc;
    if (b->kind == S_MEMREAD) {
        /* The floor: values at 64-byte aligned strides (a 100 B value on
         * two lines, as in an EOS record), on huge pages like the trusted
         * region; no key, no lookup. */
        b->stride = (b->vlen + 63) / 64 * 64;
        b->arr_size = (b->keys * b->stride + (2u << 20) - 1) / (2u << 20) * (2u << 20);
        b->arr =
            mmap(NULL, b->arr_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (b->arr == MAP_FAILED)
            die("mmap", EA_ERR_NOMEM);
        (void)madvise(b->arr, b->arr_size, MADV_HUGEPAGE);
        return;
    }
    if (b->kind == S_LMDB) {
        char dir[600];
        snprintf(dir, sizeof dir, "%s/lmdb", b->dir);
        snprintf(b->path, sizeof b->path, "%.500s/data.mdb", dir);
        (void)unlink(b->path);
        snprintf(b->path, sizeof b->path, "%.500s/lock.mdb", dir);
        (void)unlink(b->path);
        if ((rc = mdb_env_create(&b->env)) != 0 ||
            (rc = mdb_env_set_mapsize(b->env, region_for(b->keys, b->vlen, 0) * 2)) != 0 ||
            (rc = mdb_env_set_maxreaders(b->env, 16)) != 0 ||
            (rc = mdb_env_open(b->env, dir, MDB_NOSYNC | MDB_NOTLS, 0600)) != 0) {
            fprintf(stderr, "ea_bench_eos: lmdb: %s\n", mdb_strerror(rc));
            exit(1);
        }
        MDB_txn *t;
        if ((rc = mdb_txn_begin(b->env, NULL, 0, &t)) != 0 ||
            (rc = mdb_dbi_open(t, NULL, 0, &b->dbi)) != 0 || (rc = mdb_txn_commit(t)) != 0) {
            fprintf(stderr, "ea_bench_eos: lmdb: %s\n", mdb_strerror(rc));
            exit(1);
        }
        return;
    }
    ea_eos_config_t c = {.kind = EA_EOS_TRUSTED,
                         .size = region_for(b->keys, b->vlen, b->kind == S_TRUSTED_HOME),
                         .keys = (uint32_t)b->keys,
                         .home_bytes = b->kind == S_TRUSTED_HOME ? home_for(b->vlen) : 0};
    b->region_size = c.size;
    if (b->kind == S_UNTRUSTED) {
        c.kind = EA_EOS_UNTRUSTED;
        b->region = mmap(NULL, c.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (b->region == MAP_FAILED)
            die("mmap", EA_ERR_NOMEM);
        c.region = b->region;
    } else if (b->kind == S_PERSISTENT) {
        c.kind = EA_EOS_PERSISTENT;
        snprintf(b->path, sizeof b->path, "%s/store.eos", b->dir);
        (void)unlink(b->path);
        c.path = b->path;
    }
    eai_trust_bind(b->kind == S_TRUSTED || b->kind == S_TRUSTED_HOME ? NULL : &lplat.ops);
    if ((rc = ea_eos_open("bench", &c, &b->eos)) != EA_OK)
        die("ea_eos_open", rc);
}

static void bench_close(struct bench *b)
{
    if (b->kind == S_MEMREAD) {
        munmap(b->arr, b->arr_size);
        return;
    }
    if (b->kind == S_LMDB) {
        mdb_env_close(b->env);
        return;
    }
    ea_eos_close(b->eos);
    if (b->region != NULL)
        munmap(b->region, b->region_size);
    if (b->kind == S_PERSISTENT)
        (void)unlink(b->path);
}

/* One thread's view. */
struct worker {
    struct bench *b;
    int op;       /* OP_GET, OP_PUT, OP_VIEW, OP_MGET, OP_MISS */
    uint64_t sum; /* the view checksums, kept so the reads are not dropped */
    uint64_t ops;
    uint64_t seed;
    ea_eos_t *h;
    MDB_txn *rtxn;
    uint8_t *val, *buf;
    uint64_t *samples;
    uint64_t nsamples;
    uint64_t t0, t1;
    _Atomic int *go;
    int err;
};

enum { OP_GET, OP_PUT, OP_VIEW, OP_MGET, OP_MISS, OP_COUNT };
static const char *op_names[OP_COUNT] = {"get", "put", "view", "mget", "miss"};
#define MGET_BATCH 16

/* The work a view does with the value: read each byte once, as cheaply as
 * the machine can (a sum of 8-byte words, vectorised), so that the row
 * measures reaching the bytes rather than the checksum. The same function
 * for every store. */
typedef uint64_t v2u64 __attribute__((vector_size(16)));
static uint64_t checksum(const uint8_t *p, size_t n)
{
    /* Four accumulators in registers: one cache line per iteration, no
     * dependency from one load to the next. */
    v2u64 a0 = {0, 0}, a1 = {0, 0}, a2 = {0, 0}, a3 = {0, 0}, x0, x1, x2, x3;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        memcpy(&x0, p + i, 16);
        memcpy(&x1, p + i + 16, 16);
        memcpy(&x2, p + i + 32, 16);
        memcpy(&x3, p + i + 48, 16);
        a0 += x0;
        a1 += x1;
        a2 += x2;
        a3 += x3;
    }
    a0 += a1 + a2 + a3;
    uint64_t sum = a0[0] + a0[1];
    for (; i < n; i++)
        sum += p[i];
    return sum;
}

static int one_op(struct worker *w, uint64_t i)
{
    struct bench *b = w->b;
    uint8_t key[KEYLEN];
    if (w->op == OP_MISS) {
        /* A get of a key that is not there (keys .. 2 x keys - 1 never
         * are): the probe walks to an empty slot, LMDB to a leaf. */
        make_key(i + b->keys, key);
        if (b->kind == S_LMDB) {
            MDB_val k = {KEYLEN, key}, v;
            int rc = mdb_txn_renew(w->rtxn);
            if (rc == 0)
                rc = mdb_get(w->rtxn, b->dbi, &k, &v);
            mdb_txn_reset(w->rtxn);
            return rc == MDB_NOTFOUND ? EA_OK : EA_ERR_CORRUPT;
        }
        size_t n;
        int rc = ea_eos_get(w->h, key, KEYLEN, w->buf, b->vlen, &n, NULL);
        return rc == EA_ERR_NOTFOUND ? EA_OK : (rc == EA_OK ? EA_ERR_CORRUPT : rc);
    }
    make_key(i, key);
    if (b->kind == S_MEMREAD) {
        /* The key is made (as for every store) and not used: value i is
         * at a known place. */
        const uint8_t *v = b->arr + i * b->stride;
        if (w->op == OP_GET)
            memcpy(w->buf, v, b->vlen);
        else
            w->sum += checksum(v, b->vlen);
        return key[0] == 'k' ? EA_OK : EA_ERR_CORRUPT;
    }
    if (b->kind != S_LMDB && w->op == OP_VIEW) {
        const void *v;
        size_t n;
        int rc = ea_eos_get_view(w->h, key, KEYLEN, &v, &n, NULL);
        if (rc != EA_OK)
            return rc;
        w->sum += checksum(v, n);
        rc = ea_eos_view_end(w->h);
        return rc == EA_OK && n == b->vlen ? EA_OK : (rc != EA_OK ? rc : EA_ERR_CORRUPT);
    }
    if (b->kind != S_LMDB) {
        if (w->op == OP_GET) {
            size_t n;
            int rc = ea_eos_get(w->h, key, KEYLEN, w->buf, b->vlen, &n, NULL);
            return rc == EA_OK && n == b->vlen ? EA_OK : (rc != EA_OK ? rc : EA_ERR_CORRUPT);
        }
        memcpy(w->val, &i, sizeof i);
        return ea_eos_put(w->h, key, KEYLEN, w->val, b->vlen, NULL);
    }
    MDB_val k = {KEYLEN, key}, v;
    if (w->op == OP_GET || w->op == OP_VIEW) {
        int rc = mdb_txn_renew(w->rtxn);
        if (rc == 0)
            rc = mdb_get(w->rtxn, b->dbi, &k, &v);
        if (rc == 0 && v.mv_size != b->vlen)
            rc = MDB_CORRUPTED;
        if (rc == 0 && w->op == OP_GET)
            memcpy(w->buf, v.mv_data, v.mv_size);
        else if (rc == 0)
            w->sum += checksum(v.mv_data, v.mv_size);
        mdb_txn_reset(w->rtxn);
        return rc == 0 ? EA_OK : EA_ERR_NOTFOUND;
    }
    memcpy(w->val, &i, sizeof i);
    MDB_txn *t;
    v.mv_size = b->vlen;
    v.mv_data = w->val;
    int rc = mdb_txn_begin(b->env, NULL, 0, &t);
    if (rc == 0 && (rc = mdb_put(t, b->dbi, &k, &v, 0)) != 0)
        mdb_txn_abort(t);
    else if (rc == 0)
        rc = mdb_txn_commit(t);
    return rc == 0 ? EA_OK : EA_ERR_SYS;
}

/* A batch of MGET_BATCH gets of keys idx[]: ea_eos_get_many, or for LMDB
 * the same gets in one read-only transaction; every value copied out. */
static int one_mget(struct worker *w, const uint64_t *idx)
{
    struct bench *b = w->b;
    uint8_t keys[MGET_BATCH][KEYLEN];
    for (int j = 0; j < MGET_BATCH; j++)
        make_key(idx[j], keys[j]);
    if (b->kind == S_LMDB) {
        int rc = mdb_txn_renew(w->rtxn);
        for (int j = 0; j < MGET_BATCH && rc == 0; j++) {
            MDB_val k = {KEYLEN, keys[j]}, v;
            rc = mdb_get(w->rtxn, b->dbi, &k, &v);
            if (rc == 0 && v.mv_size != b->vlen)
                rc = MDB_CORRUPTED;
            if (rc == 0)
                memcpy(w->buf + (size_t)j * (b->vlen + 8), v.mv_data, v.mv_size);
        }
        mdb_txn_reset(w->rtxn);
        return rc == 0 ? EA_OK : EA_ERR_NOTFOUND;
    }
    ea_eos_mget_t it[MGET_BATCH];
    for (int j = 0; j < MGET_BATCH; j++)
        it[j] = (ea_eos_mget_t){.key = keys[j],
                                .klen = KEYLEN,
                                .buf = w->buf + (size_t)j * (b->vlen + 8),
                                .cap = b->vlen};
    int rc = ea_eos_get_many(w->h, it, MGET_BATCH);
    for (int j = 0; j < MGET_BATCH && rc == EA_OK; j++)
        rc = it[j].rc != EA_OK ? it[j].rc : (it[j].vlen == b->vlen ? EA_OK : EA_ERR_CORRUPT);
    return rc;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct bench *b = w->b;
    if (b->kind == S_UNTRUSTED || b->kind == S_PERSISTENT)
        eai_trust_bind(&lplat.ops);
    while (atomic_load(w->go) == 0)
        ;
    w->t0 = now_ns();
    for (uint64_t n = 0; w->op == OP_MGET && n < w->ops; n += MGET_BATCH) {
        uint64_t idx[MGET_BATCH];
        for (int j = 0; j < MGET_BATCH; j++)
            idx[j] = xorshift(&w->seed) % b->keys;
        int rc;
        if ((n / MGET_BATCH) % SAMPLE_EVERY == 0) {
            uint64_t t = now_ns();
            rc = one_mget(w, idx);
            w->samples[w->nsamples++] = now_ns() - t;
        } else {
            rc = one_mget(w, idx);
        }
        if (rc != EA_OK) {
            w->err = rc;
            break;
        }
    }
    for (uint64_t n = 0; w->op != OP_MGET && n < w->ops; n++) {
        uint64_t i = xorshift(&w->seed) % b->keys;
        int rc;
        if (n % SAMPLE_EVERY == 0) {
            uint64_t t = now_ns();
            rc = one_op(w, i);
            w->samples[w->nsamples++] = now_ns() - t;
        } else {
            rc = one_op(w, i);
        }
        if (rc != EA_OK) {
            w->err = rc;
            break;
        }
    }
    w->t1 = now_ns();
    return NULL;
}

/* One timed loop: *ops_s, *p50, *p99 of it; EA_OK or the first error. */
static int run_once(struct bench *b, int op, int threads, uint64_t ops_per_thread, double *ops_s,
                    uint64_t *p50, uint64_t *p99)
{
    struct worker w[2];
    pthread_t tid[2];
    _Atomic int go = 0;
    memset(w, 0, sizeof w);
    for (int t = 0; t < threads; t++) {
        w[t].b = b;
        w[t].op = op;
        w[t].ops = ops_per_thread;
        w[t].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(t + 1) + (uint64_t)op;
        w[t].go = &go;
        w[t].val = malloc(b->vlen + 8);
        w[t].buf = malloc((b->vlen + 8) * (op == OP_MGET ? MGET_BATCH : 1));
        w[t].samples = malloc((ops_per_thread / SAMPLE_EVERY + 1) * sizeof(uint64_t));
        if (w[t].val == NULL || w[t].buf == NULL || w[t].samples == NULL)
            die("malloc", EA_ERR_NOMEM);
        memset(w[t].val, 'v', b->vlen + 8);
        if (b->kind == S_LMDB) {
            int rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, &w[t].rtxn);
            if (rc != 0) {
                fprintf(stderr, "ea_bench_eos: lmdb: %s\n", mdb_strerror(rc));
                exit(1);
            }
            mdb_txn_reset(w[t].rtxn);
        } else if (b->kind != S_MEMREAD) {
            int rc = ea_eos_dup(b->eos, &w[t].h);
            if (rc != EA_OK)
                die("ea_eos_dup", rc);
        }
        if (pthread_create(&tid[t], NULL, worker_main, &w[t]) != 0)
            die("pthread_create", EA_ERR_SYS);
    }
    atomic_store(&go, 1);
    uint64_t t0 = UINT64_MAX, t1 = 0, total = 0, nsamples = 0;
    int err = EA_OK;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        t0 = w[t].t0 < t0 ? w[t].t0 : t0;
        t1 = w[t].t1 > t1 ? w[t].t1 : t1;
        total += w[t].ops;
        nsamples += w[t].nsamples;
        if (w[t].err != EA_OK)
            err = w[t].err;
    }
    uint64_t *all = malloc((nsamples + 1) * sizeof *all), k = 0;
    if (all == NULL)
        die("malloc", EA_ERR_NOMEM);
    for (int t = 0; t < threads; t++) {
        memcpy(all + k, w[t].samples, w[t].nsamples * sizeof *all);
        k += w[t].nsamples;
        free(w[t].samples);
        free(w[t].val);
        free(w[t].buf);
        if (w[t].rtxn != NULL)
            mdb_txn_abort(w[t].rtxn);
        ea_eos_close(w[t].h);
    }
    if (err == EA_OK) {
        qsort(all, nsamples, sizeof *all, cmp_u64);
        *ops_s = (double)total / ((double)(t1 - t0) / 1e9);
        *p50 = all[nsamples / 2];
        *p99 = all[nsamples * 99 / 100];
    }
    free(all);
    return err;
}

/* A row: the best of `reps` timed loops by ops/s (the one least disturbed
 * by other work on the machine), with that loop's percentiles. */
static int reps = 3;
static int run_ops(struct bench *b, int op, int threads, uint64_t ops_per_thread)
{
    double best = 0;
    uint64_t b50 = 0, b99 = 0;
    for (int r = 0; r < reps; r++) {
        double o = 0;
        uint64_t p50 = 0, p99 = 0;
        int err = run_once(b, op, threads, ops_per_thread, &o, &p50, &p99);
        if (err != EA_OK) {
            fprintf(stderr, "ea_bench_eos: %s %s %zu B %llu keys: %s\n", store_names[b->kind],
                    op_names[op], b->vlen, (unsigned long long)b->keys, ea_strerror(err));
            printf("eos,%s,%s,%zu,%llu,%d,NA,NA,NA\n", store_names[b->kind], op_names[op], b->vlen,
                   (unsigned long long)b->keys, threads);
            return 1;
        }
        if (o > best) {
            best = o;
            b50 = p50;
            b99 = p99;
        }
    }
    printf("eos,%s,%s,%zu,%llu,%d,%.0f,%llu,%llu\n", store_names[b->kind], op_names[op], b->vlen,
           (unsigned long long)b->keys, threads, best, (unsigned long long)b50,
           (unsigned long long)b99);
    fflush(stdout);
    return 0;
}

static void load(struct bench *b)
{
    uint8_t *val = malloc(b->vlen + 8);
    if (val == NULL)
        die("malloc", EA_ERR_NOMEM);
    memset(val, 'v', b->vlen + 8);
    uint8_t key[KEYLEN];
    if (b->kind == S_MEMREAD) {
        for (uint64_t i = 0; i < b->keys; i++)
            memcpy(b->arr + i * b->stride, val, b->vlen);
    } else if (b->kind == S_LMDB) {
        /* Batches of 10000 puts per transaction: loading is not timed. */
        MDB_txn *t = NULL;
        for (uint64_t i = 0; i < b->keys; i++) {
            int rc = 0;
            if (t == NULL)
                rc = mdb_txn_begin(b->env, NULL, 0, &t);
            make_key(i, key);
            MDB_val k = {KEYLEN, key}, v = {b->vlen, val};
            if (rc == 0)
                rc = mdb_put(t, b->dbi, &k, &v, 0);
            if (rc == 0 && (i % 10000 == 9999 || i + 1 == b->keys)) {
                rc = mdb_txn_commit(t);
                t = NULL;
            }
            if (rc != 0) {
                fprintf(stderr, "ea_bench_eos: lmdb load: %s\n", mdb_strerror(rc));
                exit(1);
            }
        }
    } else {
        for (uint64_t i = 0; i < b->keys; i++) {
            make_key(i, key);
            int rc = ea_eos_put(b->eos, key, KEYLEN, val, b->vlen, NULL);
            if (rc != EA_OK)
                die("loading the store", rc);
        }
    }
    free(val);
}

/* One AES-256-GCM open of `vlen` bytes (+ 16 B of key, as EOS seals
 * key||value), timed per operation like the stores. */
static void aes_row(size_t vlen, uint64_t ops)
{
    uint8_t key[32], iv[12] = {0}, aad[48] = {0}, tag[16];
    eai_random(key, sizeof key);
    eai_aead_t a;
    if (eai_aead_init(&a, key, sizeof key) != EA_OK)
        die("eai_aead_init", EA_ERR_CRYPTO);
    size_t n = vlen + KEYLEN;
    uint8_t *pt = calloc(1, n), *ct = malloc(n), *out = malloc(n);
    uint64_t *s = malloc(ops * sizeof *s);
    if (pt == NULL || ct == NULL || out == NULL || s == NULL)
        die("malloc", EA_ERR_NOMEM);
    if (eai_aead_seal(&a, iv, aad, sizeof aad, pt, n, ct, tag) != EA_OK)
        die("eai_aead_seal", EA_ERR_CRYPTO);
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < ops; i++) {
        uint64_t t = now_ns();
        if (eai_aead_open(&a, iv, aad, sizeof aad, ct, n, out, tag) != EA_OK)
            die("eai_aead_open", EA_ERR_CRYPTO);
        s[i] = now_ns() - t;
    }
    uint64_t t1 = now_ns();
    qsort(s, ops, sizeof *s, cmp_u64);
    printf("eos,aesgcm,open,%zu,0,1,%.0f,%llu,%llu\n", vlen,
           (double)ops / ((double)(t1 - t0) / 1e9), (unsigned long long)s[ops / 2],
           (unsigned long long)s[ops * 99 / 100]);
    eai_aead_fini(&a);
    free(pt);
    free(ct);
    free(out);
    free(s);
}

/* Whether `name` is one of the comma-separated names in `list` (stores,
 * and the operations --ops selects). */
static int store_listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return 0;
}

static int parse_list(const char *s, uint64_t *out, int max)
{
    int n = 0;
    char *copy = strdup(s);
    for (char *tok = strtok(copy, ","); tok != NULL && n < max; tok = strtok(NULL, ","))
        out[n++] = strtoull(tok, NULL, 10);
    free(copy);
    return n;
}

int main(int argc, char **argv)
{
    const char *stores = "trusted,trusted_home,untrusted,persistent,lmdb,memread", *dir = NULL;
    const char *ops = "get,view,mget,put";
    uint64_t keys[8], values[4], threads[4], max_big = 100000;
    int nkeys = parse_list("1000,10000,100000,1000000", keys, 8);
    int nvalues = parse_list("100,4096", values, 4);
    int nthreads = parse_list("1,2", threads, 4);
    uint64_t gets = 400000, puts = 100000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            goto usage;
        i++;
        if (strcmp(a, "--stores") == 0)
            stores = v;
        else if (strcmp(a, "--ops") == 0)
            ops = v;
        else if (strcmp(a, "--dir") == 0)
            dir = v;
        else if (strcmp(a, "--keys") == 0)
            nkeys = parse_list(v, keys, 8);
        else if (strcmp(a, "--values") == 0)
            nvalues = parse_list(v, values, 4);
        else if (strcmp(a, "--threads") == 0)
            nthreads = parse_list(v, threads, 4);
        else if (strcmp(a, "--gets") == 0)
            gets = strtoull(v, NULL, 10);
        else if (strcmp(a, "--puts") == 0)
            puts = strtoull(v, NULL, 10);
        else if (strcmp(a, "--max-keys-4k") == 0)
            max_big = strtoull(v, NULL, 10);
        else if (strcmp(a, "--home") == 0)
            home_bytes = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--reps") == 0)
            reps = atoi(v) > 0 ? atoi(v) : 1;
        else
            goto usage;
    }
    if (dir == NULL || nkeys == 0 || nvalues == 0 || nthreads == 0 || gets == 0 || puts == 0)
        goto usage;
    for (int t = 0; t < nthreads; t++)
        if (threads[t] < 1 || threads[t] > 2)
            goto usage;
    if (eai_crypto_init() != EA_OK)
        die("eai_crypto_init", EA_ERR_CRYPTO);
    make_key_init();
    make_key_check();
    platform_open(dir);
    char lmdir[600];
    snprintf(lmdir, sizeof lmdir, "%s/lmdb", dir);
    if (mkdir(lmdir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "ea_bench_eos: cannot make %s: %s\n", lmdir, strerror(errno));
        return 1;
    }
    int failed = 0;
    printf("bench,store,op,value_bytes,keys,threads,ops_per_s,p50_ns,p99_ns\n");
    for (int v = 0; v < nvalues; v++)
        aes_row(values[v], gets / 4);
    for (int v = 0; v < nvalues; v++)
        for (int k = 0; k < nkeys; k++) {
            if (values[v] > 1024 && keys[k] > max_big) {
                fprintf(stderr,
                        "ea_bench_eos: %llu B values: %llu keys skipped "
                        "(--max-keys-4k %llu)\n",
                        (unsigned long long)values[v], (unsigned long long)keys[k],
                        (unsigned long long)max_big);
                continue;
            }
            for (int s = 0; s < S_COUNT; s++) {
                if (!store_listed(stores, store_names[s]) ||
                    (s == S_TRUSTED_HOME && home_for(values[v]) == 0))
                    continue;
                struct bench b = {
                    .kind = (enum store)s, .vlen = values[v], .keys = keys[k], .dir = dir};
                uint64_t t0 = now_ns();
                bench_open(&b);
                load(&b);
                uint64_t t1 = now_ns();
                for (int t = 0; t < nthreads; t++) {
                    int th = (int)threads[t];
                    if (store_listed(ops, "get"))
                        failed |= run_ops(&b, OP_GET, th, gets / (uint64_t)th);
                    if (store_listed(ops, "view"))
                        failed |= run_ops(&b, OP_VIEW, th, gets / (uint64_t)th);
                    if (b.kind != S_MEMREAD && store_listed(ops, "mget"))
                        failed |= run_ops(&b, OP_MGET, th, gets / (uint64_t)th);
                    if (b.kind != S_MEMREAD && store_listed(ops, "put"))
                        failed |= run_ops(&b, OP_PUT, th, puts / (uint64_t)th);
                    if (b.kind != S_MEMREAD && store_listed(ops, "miss"))
                        failed |= run_ops(&b, OP_MISS, th, gets / (uint64_t)th);
                }
                bench_close(&b);
                fprintf(stderr, "ea_bench_eos: %s %llu B x %llu keys: load %.2f s, total %.2f s\n",
                        store_names[s], (unsigned long long)values[v], (unsigned long long)keys[k],
                        (double)(t1 - t0) / 1e9, (double)(now_ns() - t0) / 1e9);
            }
        }
    eai_trust_bind(NULL);
    eai_mc_close(&counters);
    eai_pcore_close(&pcore);
    return failed;
usage:
    fprintf(stderr, "usage: ea_bench_eos --dir DIR [--stores "
                    "trusted,trusted_home,untrusted,persistent,lmdb,memread]\n"
                    "  [--keys 1000,..] [--values 100,4096] [--threads 1,2] [--gets N] "
                    "[--puts N] [--max-keys-4k N] [--reps N] [--home BYTES]\n"
                    "  [--ops get,view,mget,put,miss]\n");
    return 2;
}
