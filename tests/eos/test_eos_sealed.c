/*
 * EOS encrypted stores, played as enclaves of a local platform: sharing by
 * signer or by enclave, tampered and swapped records, a modified header,
 * persistence, rollback of the file, a writer killed with SIGKILL, and
 * compare-and-swap from two enclave processes on one shared region.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <eactors/ea_eos.h>

#include "eos/eos_int.h"
#include "fixture.h"
#include "platform/platform.h"
#include "tmpdir.h"

#define REGION (1u << 20)

struct fx {
    struct fx_platforms p;
    eai_identity_t a, b, c; /* a, b: signer 1; c: signer 2 */
    eai_local_platform_t la, lb, lc;
    eai_counters_t mc;
    void *region;
    char path[128], copy[160];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    fx_platforms_open(&f->p);
    char err[256] = "";
    assert_int_equal(eai_mc_open(&f->mc, &f->p.pc, f->p.dir, err, sizeof err), EA_OK);
    fx_identity("enclave A", EA_FLAGS_MODE64BIT, 1, 1, fx_s1, &f->a);
    fx_identity("enclave B", EA_FLAGS_MODE64BIT, 1, 1, fx_s1, &f->b);
    fx_identity("enclave C", EA_FLAGS_MODE64BIT, 1, 1, fx_s2, &f->c);
    eai_local_platform_init(&f->la, &f->p.pc, &f->a, &f->mc);
    eai_local_platform_init(&f->lb, &f->p.pc, &f->b, &f->mc);
    eai_local_platform_init(&f->lc, &f->p.pc, &f->c, &f->mc);
    f->region = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(f->region != MAP_FAILED);
    snprintf(f->path, sizeof f->path, "%s/store.eos", f->p.dir);
    snprintf(f->copy, sizeof f->copy, "%s/store.old", f->p.dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    munmap(f->region, REGION);
    eai_trust_bind(NULL);
    eai_mc_close(&f->mc);
    fx_platforms_close(&f->p);
    free(f);
    return 0;
}

/* The tests registered again as `home` run with home blocks: g_home
 * bytes, and g_keys keys for a new file (0: the default). */
static uint32_t g_home, g_keys;

static int home_on(void **state)
{
    (void)state;
    g_home = 200;
    g_keys = 4096;
    return 0;
}

static int home_off(void **state)
{
    (void)state;
    g_home = g_keys = 0;
    return 0;
}

static int open_shared(struct fx *f, const eai_local_platform_t *lp, uint16_t policy, ea_eos_t **s)
{
    fx_as(lp);
    ea_eos_config_t c = {.kind = EA_EOS_UNTRUSTED,
                         .size = REGION,
                         .region = f->region,
                         .key_policy = policy,
                         .home_bytes = g_home};
    return ea_eos_open("shared", &c, s);
}

static int open_file(struct fx *f, size_t size, ea_eos_t **s)
{
    fx_as(&f->la);
    ea_eos_config_t c = {.kind = EA_EOS_PERSISTENT,
                         .size = size,
                         .path = f->path,
                         .keys = size != 0 ? g_keys : 0,
                         .home_bytes = g_home};
    return ea_eos_open("file", &c, s);
}

/* The region holds no key or value in the clear. */
static int region_has(const void *region, size_t size, const char *text)
{
    return memmem(region, size, text, strlen(text)) != NULL;
}

static void test_share_by_signer(void **state)
{
    struct fx *f = *state;
    ea_eos_t *sa = NULL, *sb = NULL, *sc = NULL;
    uint8_t buf[64];
    size_t n;
    assert_int_equal(open_shared(f, &f->la, 0, &sa), EA_OK);
    assert_int_equal(ea_eos_put(sa, "alice@example", 13, "roster: bob", 11, NULL), EA_OK);
    assert_false(region_has(f->region, REGION, "alice@example"));
    assert_false(region_has(f->region, REGION, "roster: bob"));
    /* B, same signer, opens it; C, another signer, cannot. */
    assert_int_equal(open_shared(f, &f->lb, 0, &sb), EA_OK);
    assert_int_equal(ea_eos_get(sb, "alice@example", 13, buf, sizeof buf, &n, NULL), EA_OK);
    assert_memory_equal(buf, "roster: bob", 11);
    assert_int_equal(ea_eos_put(sb, "from-b", 6, "\x00\x01\x02", 3, NULL), EA_OK);
    fx_as(&f->la);
    assert_int_equal(ea_eos_get(sa, "from-b", 6, buf, sizeof buf, &n, NULL), EA_OK);
    assert_int_equal(n, 3);
    assert_int_equal(open_shared(f, &f->lc, 0, &sc), EA_ERR_AUTH);
    /* Another name in the same region: not this store. */
    fx_as(&f->la);
    ea_eos_config_t c = {.kind = EA_EOS_UNTRUSTED, .size = REGION, .region = f->region};
    assert_int_equal(ea_eos_open("other", &c, &sc), EA_ERR_NOTFOUND);
    ea_eos_close(sa);
    ea_eos_close(sb);
    /* MRENCLAVE policy: B cannot open A's store. */
    memset(f->region, 0, REGION);
    assert_int_equal(open_shared(f, &f->la, EA_KEYPOLICY_MRENCLAVE, &sa), EA_OK);
    assert_int_equal(open_shared(f, &f->lb, 0, &sb), EA_ERR_AUTH);
    assert_int_equal(open_shared(f, &f->la, 0, &sb), EA_OK);
    ea_eos_close(sb);
    ea_eos_close(sa);
    /* Outside an enclave there is no seal key. */
    eai_trust_bind(NULL);
    memset(f->region, 0, REGION);
    c.key_policy = 0;
    assert_int_equal(ea_eos_open("shared", &c, &sa), EA_ERR_PERM);
}

/* The slot's record of `key` in store `s` (test only: through the index). */
static struct eos_rec *rec_of(void *region, uint64_t nth_slot_used)
{
    struct eos_hdr *h = region;
    struct eos_slot *sl = (struct eos_slot *)((uint8_t *)region + h->st.off_slots);
    uint64_t seen = 0;
    for (uint64_t i = 0; i < h->st.nslots; i++) {
        uint64_t w = atomic_load(&sl[i].word);
        if (w != 0 && seen++ == nth_slot_used)
            return (struct eos_rec *)((uint8_t *)region + (w & 0xffffffffu) * EOS_UNIT);
    }
    return NULL;
}

/* A slot word carries its record's length in lines (bits 32-37, capped at
 * 63) as a prefetch hint beside a 26-bit sequence number. The hint is never
 * trusted: words whose hint bits the host rewrote (0, 63), or words in the
 * layout before the hint (a 32-bit sequence number in bits 32-63), still
 * read right and are replaced by a put. */
static void test_word_hint(void **state)
{
    struct fx *f = *state;
    memset(f->region, 0, REGION);
    ea_eos_t *s = NULL;
    assert_int_equal(open_shared(f, &f->la, 0, &s), EA_OK);
    static uint8_t v[3][5000], out[5000];
    const size_t vl[3] = {100, 3000, 5000};
    char k[8];
    for (int i = 0; i < 3; i++) {
        snprintf(k, sizeof k, "key%d", i);
        memset(v[i], 'a' + i, vl[i]);
        assert_int_equal(ea_eos_put(s, k, 4, v[i], vl[i], NULL), EA_OK);
    }
    struct eos_hdr *h = f->region;
    struct eos_slot *sl = (struct eos_slot *)((uint8_t *)f->region + h->st.off_slots);
    for (int pass = 0; pass < 4; pass++) {
        int seen = 0;
        for (uint64_t i = 0; i < h->st.nslots; i++) {
            uint64_t w = atomic_load(&sl[i].word);
            if (w == 0)
                continue;
            seen++;
            const struct eos_rec *r =
                (const struct eos_rec *)((uint8_t *)f->region + (w & 0xffffffffu) * EOS_UNIT);
            uint64_t lines = (64 + r->klen + r->vlen + 16 + 63) / 64;
            if (pass == 0) /* as written: the record's lines, at most 63 */
                assert_int_equal((w >> 32) & 63, lines < 63 ? lines : 63);
            else if (pass == 1) /* no hint */
                atomic_store(&sl[i].word, w & ~(UINT64_C(63) << 32));
            else if (pass == 2) /* the most lines */
                atomic_store(&sl[i].word, w | UINT64_C(63) << 32);
            else /* the old layout: a 32-bit sequence number */
                atomic_store(&sl[i].word, (w & 0xffffffffu) | UINT64_C(0xfffffffe) << 32);
        }
        assert_int_equal(seen, 3);
        for (int i = 0; i < 3; i++) {
            size_t n = 0;
            snprintf(k, sizeof k, "key%d", i);
            assert_int_equal(ea_eos_get(s, k, 4, out, sizeof out, &n, NULL), EA_OK);
            assert_int_equal(n, vl[i]);
            assert_memory_equal(out, v[i], vl[i]);
        }
    }
    /* Over the old-layout words a put replaces, and its word has the hint. */
    for (int i = 0; i < 3; i++) {
        snprintf(k, sizeof k, "key%d", i);
        memset(v[i], 'A' + i, vl[i]);
        assert_int_equal(ea_eos_put(s, k, 4, v[i], vl[i], NULL), EA_OK);
        size_t n = 0;
        assert_int_equal(ea_eos_get(s, k, 4, out, sizeof out, &n, NULL), EA_OK);
        assert_int_equal(n, vl[i]);
        assert_memory_equal(out, v[i], vl[i]);
    }
    for (uint64_t i = 0; i < h->st.nslots; i++) {
        uint64_t w = atomic_load(&sl[i].word);
        if (w != 0)
            assert_true(((w >> 32) & 63) >= 3);
    }
    ea_eos_close(s);
}

static int count_walk(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                      uint64_t version)
{
    (void)key, (void)klen, (void)val, (void)vlen, (void)version;
    ++*(unsigned *)arg;
    return 0;
}

static void test_tamper_and_swap(void **state)
{
    struct fx *f = *state;
    memset(f->region, 0, REGION);
    ea_eos_t *s = NULL;
    assert_int_equal(open_shared(f, &f->la, 0, &s), EA_OK);
    char k[8], v[100];
    for (int i = 0; i < 3; i++) {
        snprintf(k, sizeof k, "key%d", i);
        memset(v, 'a' + i, sizeof v);
        assert_int_equal(ea_eos_put(s, k, 4, v, sizeof v, NULL), EA_OK);
    }
    uint8_t buf[128];
    size_t n;
    /* Flip one ciphertext byte of the first record in the index. */
    struct eos_rec *r0 = rec_of(f->region, 0), *r1 = rec_of(f->region, 1);
    assert_non_null(r0);
    /* Both records have one size class: copy whole blocks. */
    assert_int_equal(r0->cls, r1->cls);
    size_t bs = eai_eos_class_units(r0->cls) * EOS_UNIT;
    uint8_t save[512], t1[512];
    assert_true(bs <= sizeof save);
    memcpy(save, r0, bs);
    ((uint8_t *)(r0 + 1))[10] ^= 1;
    int tampered = 0, fine = 0;
    for (int i = 0; i < 3; i++) {
        snprintf(k, sizeof k, "key%d", i);
        int rc = ea_eos_get(s, k, 4, buf, sizeof buf, &n, NULL);
        tampered += rc == EA_ERR_TAMPERED;
        fine += rc == EA_OK;
    }
    assert_int_equal(tampered, 1); /* that record fails alone */
    assert_int_equal(fine, 2);
    /* So does a walk: the two intact keys are visited, then the error is
     * returned (a walk that stopped at the first record in the index, the
     * tampered one, would have visited none). */
    unsigned walked = 0;
    assert_int_equal(ea_eos_iter(s, NULL, 0, count_walk, &walked), EA_ERR_TAMPERED);
    assert_int_equal(walked, 2);
    /* So does a batched get: the tampered item alone. */
    char mk[3][8];
    uint8_t mb[3][128];
    ea_eos_mget_t it[3];
    for (int i = 0; i < 3; i++) {
        snprintf(mk[i], sizeof mk[i], "key%d", i);
        it[i] = (ea_eos_mget_t){.key = mk[i], .klen = 4, .buf = mb[i], .cap = sizeof mb[i]};
    }
    assert_int_equal(ea_eos_get_many(s, it, 3), EA_OK);
    tampered = fine = 0;
    for (int i = 0; i < 3; i++) {
        tampered += it[i].rc == EA_ERR_TAMPERED;
        if (it[i].rc == EA_OK) {
            fine++;
            memset(v, 'a' + i, sizeof v);
            assert_int_equal(it[i].vlen, sizeof v);
            assert_memory_equal(mb[i], v, sizeof v);
        }
    }
    assert_int_equal(tampered, 1);
    assert_int_equal(fine, 2);
    /* The zero-copy read checks the same: the tampered record gives no
     * view, the others a view of their private plaintext (never of the
     * region the host writes). */
    tampered = fine = 0;
    for (int i = 0; i < 3; i++) {
        snprintf(k, sizeof k, "key%d", i);
        const void *vw = NULL;
        size_t vn = 0;
        int rc = ea_eos_get_view(s, k, 4, &vw, &vn, NULL);
        tampered += rc == EA_ERR_TAMPERED;
        if (rc == EA_OK) {
            fine++;
            memset(v, 'a' + i, sizeof v);
            assert_int_equal(vn, sizeof v);
            assert_memory_equal(vw, v, sizeof v);
            assert_true((const uint8_t *)vw < (const uint8_t *)f->region ||
                        (const uint8_t *)vw >= (const uint8_t *)f->region + REGION);
            assert_int_equal(ea_eos_view_end(s), EA_OK);
        }
    }
    assert_int_equal(tampered, 1);
    assert_int_equal(fine, 2);
    memcpy(r0, save, bs);
    /* An edited version (in the AAD) fails too. */
    r0->version += 1;
    tampered = 0;
    for (int i = 0; i < 3; i++) {
        snprintf(k, sizeof k, "key%d", i);
        tampered += ea_eos_get(s, k, 4, buf, sizeof buf, &n, NULL) == EA_ERR_TAMPERED;
    }
    assert_int_equal(tampered, 1);
    memcpy(r0, save, bs);
    /* Swap two records (same size): both keys report tampering. */
    memcpy(t1, r1, bs);
    memcpy(r1, r0, bs);
    memcpy(r0, t1, bs);
    tampered = 0;
    for (int i = 0; i < 3; i++) {
        snprintf(k, sizeof k, "key%d", i);
        tampered += ea_eos_get(s, k, 4, buf, sizeof buf, &n, NULL) == EA_ERR_TAMPERED;
    }
    assert_int_equal(tampered, 2);
    ea_eos_close(s);
    /* A modified header (the index size) is refused at open. */
    struct eos_hdr *h = f->region;
    h->st.nslots *= 2;
    assert_int_equal(open_shared(f, &f->la, 0, &s), EA_ERR_TAMPERED);
    h->st.nslots /= 2;
    h->st.home_units ^= 4;
    assert_int_equal(open_shared(f, &f->la, 0, &s), EA_ERR_TAMPERED);
    h->st.home_units ^= 4;
    /* The sealed key's blob is the host's to edit too. A raised ISVSVN
     * (as a newer version of the enclave would seal) does not open here:
     * EA_ERR_AUTH, not the EA_ERR_PERM unseal gives it (which
     * ea_eos_open means for "outside an enclave"). Found by fuzz_eos. */
    ea_sealed_data_t *blob = (ea_sealed_data_t *)(void *)h->sealed;
    blob->key_request.isv_svn += 1;
    assert_int_equal(open_shared(f, &f->la, 0, &s), EA_ERR_AUTH);
    blob->key_request.isv_svn -= 1;
    /* A longer encrypted text than the store key (its length moved within
     * the same total): unseal says INVAL (the caller's buffer), the store
     * says the header was modified. */
    blob->plain_text_offset += 16;
    assert_int_equal(open_shared(f, &f->la, 0, &s), EA_ERR_TAMPERED);
    blob->plain_text_offset -= 16;
    /* Control: the untouched header opens. */
    assert_int_equal(open_shared(f, &f->la, 0, &s), EA_OK);
    ea_eos_close(s);
}

static int copy_file(const char *from, const char *to)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    if (eai_file_read_all(from, 64u << 20, &buf, &n) != EA_OK)
        return -1;
    FILE *o = fopen(to, "wb");
    int ok = o != NULL && fwrite(buf, 1, n, o) == n;
    if (o != NULL)
        ok &= fclose(o) == 0;
    free(buf);
    return ok ? 0 : -1;
}

static void test_persist_and_rollback(void **state)
{
    struct fx *f = *state;
    ea_eos_t *s = NULL;
    uint8_t buf[64];
    size_t n;
    unlink(f->path);
    assert_int_equal(open_file(f, 0, &s), EA_ERR_INVAL); /* a new file needs a size */
    assert_int_equal(open_file(f, REGION, &s), EA_OK);
    assert_int_equal(ea_eos_put(s, "k", 1, "v1", 2, NULL), EA_OK);
    assert_int_equal(ea_eos_sync(s), EA_OK);
    ea_eos_close(s);
    assert_int_equal(copy_file(f->path, f->copy), 0);
    assert_int_equal(open_file(f, 0, &s), EA_OK);
    assert_int_equal(ea_eos_get(s, "k", 1, buf, sizeof buf, &n, NULL), EA_OK);
    assert_memory_equal(buf, "v1", 2);
    assert_int_equal(ea_eos_put(s, "k", 1, "v2", 2, NULL), EA_OK);
    assert_int_equal(ea_eos_sync(s), EA_OK);
    ea_eos_stats_t st;
    assert_int_equal(ea_eos_stats(s, &st), EA_OK);
    assert_int_equal(st.sync_counter, 2);
    ea_eos_close(s);
    /* Put the older file back: refused. */
    assert_int_equal(copy_file(f->copy, f->path), 0);
    assert_int_equal(open_file(f, 0, &s), EA_ERR_ROLLBACK);
    /* Another enclave's signer cannot open the file at all. */
    fx_as(&f->lc);
    ea_eos_config_t c = {.kind = EA_EOS_PERSISTENT, .path = f->path};
    assert_int_equal(ea_eos_open("file", &c, &s), EA_ERR_AUTH);
    unlink(f->path);
    unlink(f->copy);
}

/* A file's slot count is the one it was formatted with, whatever `keys`
 * a later opener asks for, so files formatted by an older sizing rule
 * (2 x keys without home blocks at any size) open with their slots.
 * Formatted for 3000 keys (8192 slots), then opened asking for 1500 (4096
 * slots for a new file): 8192, and the keys are there. */
static void test_slots_from_header(void **state)
{
    struct fx *f = *state;
    ea_eos_t *s = NULL;
    ea_eos_stats_t st;
    uint8_t buf[16];
    size_t n;
    uint32_t keys = g_keys;
    unlink(f->path);
    g_keys = 3000;
    assert_int_equal(open_file(f, REGION, &s), EA_OK);
    assert_int_equal(ea_eos_stats(s, &st), EA_OK);
    assert_int_equal(st.slots, 8192);
    assert_int_equal(ea_eos_put(s, "k", 1, "v1", 2, NULL), EA_OK);
    assert_int_equal(ea_eos_sync(s), EA_OK);
    ea_eos_close(s);
    g_keys = 1500;
    assert_int_equal(open_file(f, REGION, &s), EA_OK);
    assert_int_equal(ea_eos_stats(s, &st), EA_OK);
    assert_int_equal(st.slots, 8192);
    assert_int_equal(ea_eos_get(s, "k", 1, buf, sizeof buf, &n, NULL), EA_OK);
    assert_memory_equal(buf, "v1", 2);
    ea_eos_close(s);
    g_keys = keys;
    unlink(f->path);
}

/* A child writes key i = value i and syncs every 8 writes, reporting each
 * synced count on a pipe; the parent kills it with SIGKILL mid-loop and
 * reopens: every synced key is there and every key present is whole. */
static void test_crash(void **state)
{
    struct fx *f = *state;
    unlink(f->path);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        ea_eos_t *s = NULL;
        /* With homes: 8192 slots x 320 B of them, the rest as without. */
        if (open_file(f, g_home != 0 ? 8u << 20 : 4u << 20, &s) != EA_OK)
            _exit(3);
        char v[300];
        for (uint32_t i = 0;; i++) {
            memset(v, (int)(i & 0xff), sizeof v);
            memcpy(v, &i, sizeof i);
            if (ea_eos_put(s, &i, sizeof i, v, 100 + i % 200, NULL) != EA_OK)
                _exit(4);
            if (i % 8 == 7) {
                if (ea_eos_sync(s) != EA_OK)
                    _exit(5);
                uint32_t done = i + 1;
                if (write(fds[1], &done, sizeof done) != sizeof done)
                    _exit(6);
            }
            if (i > 5000)
                i = 0; /* keep rewriting: stays within the store */
        }
    }
    close(fds[1]);
    uint32_t acked = 0, x;
    uint64_t t0 = eai_clock_ns();
    while (eai_clock_ns() - t0 < UINT64_C(300000000) && read(fds[0], &x, sizeof x) == sizeof x)
        acked = x > acked ? x : acked;
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    close(fds[0]);
    assert_true(acked > 0);
    ea_eos_t *s = NULL;
    uint64_t o0 = eai_clock_ns();
    assert_int_equal(open_file(f, 0, &s), EA_OK);
    uint64_t open_ns = eai_clock_ns() - o0;
    char v[300], want[300];
    size_t n;
    uint32_t present = 0;
    for (uint32_t i = 0; i <= 5001; i++) {
        int rc = ea_eos_get(s, &i, sizeof i, v, sizeof v, &n, NULL);
        if (i < acked && acked <= 5001)
            assert_int_equal(rc, EA_OK);
        if (rc == EA_ERR_NOTFOUND)
            continue;
        assert_int_equal(rc, EA_OK); /* no torn record is accepted */
        memset(want, (int)(i & 0xff), sizeof want);
        memcpy(want, &i, sizeof i);
        assert_int_equal(n, 100 + i % 200);
        assert_memory_equal(v, want, n);
        present++;
    }
    print_message("crash: %u writes acknowledged by sync, %u keys present, reopen %.2f ms\n", acked,
                  present, (double)open_ns / 1e6);
    assert_true(open_ns < UINT64_C(1000000000));
    /* The recovered store takes writes (with homes: their states were
     * rebuilt from the index) and reads them back. */
    for (uint32_t i = 0; i < 200; i++) {
        memset(want, (int)(i + 1), 150);
        assert_int_equal(ea_eos_put(s, &i, sizeof i, want, 150, NULL), EA_OK);
    }
    for (uint32_t i = 0; i < 200; i++) {
        memset(want, (int)(i + 1), 150);
        assert_int_equal(ea_eos_get(s, &i, sizeof i, v, sizeof v, &n, NULL), EA_OK);
        assert_int_equal(n, 150);
        assert_memory_equal(v, want, 150);
    }
    ea_eos_close(s);
    unlink(f->path);
}

/* Two enclave processes (A and B, one signer) increment one counter in a
 * shared region with compare-and-swap. */
#define XINC 3000
static void test_two_enclaves(void **state)
{
    struct fx *f = *state;
    memset(f->region, 0, REGION);
    ea_eos_t *s = NULL;
    assert_int_equal(open_shared(f, &f->la, 0, &s), EA_OK);
    pid_t pids[2];
    for (int p = 0; p < 2; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            ea_eos_t *c = NULL;
            if (open_shared(f, p ? &f->lb : &f->la, 0, &c) != EA_OK)
                _exit(3);
            for (int i = 0; i < XINC; i++) {
                for (;;) {
                    uint64_t val = 0, ver = EA_EOS_ABSENT;
                    size_t n;
                    int rc = ea_eos_get(c, "ctr", 3, &val, sizeof val, &n, &ver);
                    if (rc == EA_ERR_NOTFOUND)
                        val = 0, ver = EA_EOS_ABSENT;
                    else if (rc != EA_OK)
                        _exit(4);
                    val++;
                    rc = ea_eos_cas(c, "ctr", 3, ver, &val, sizeof val, NULL);
                    if (rc == EA_OK)
                        break;
                    if (rc != EA_ERR_VERSION)
                        _exit(5);
                }
            }
            ea_eos_close(c);
            _exit(0);
        }
    }
    for (int p = 0; p < 2; p++) {
        int status;
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    uint64_t val = 0;
    size_t n;
    assert_int_equal(ea_eos_get(s, "ctr", 3, &val, sizeof val, &n, NULL), EA_OK);
    assert_int_equal(val, 2 * XINC);
    ea_eos_close(s);
}

/* A host process that rewrites a live untrusted store while the enclave
 * uses it: every ~20 us one write to the allocator's state in the header,
 * an index slot, a reader slot, a record header, record bytes, or a whole
 * block copied over another (THREAT_MODEL.md: "a process that rewrites the
 * public arena at random and on purpose"), racing the enclave's reads of
 * the same bytes. The enclave's operations may fail, with documented codes
 * only; one that succeeds returns a value that was written for its key
 * (the host may point a key back at an older record of its own, and
 * nothing else). Control: the rewrites reach the records (gets fail
 * EA_ERR_TAMPERED, each a value a store without authentication would have
 * returned changed), and before the host starts the same loop is exact. */
#define LIVE_KEYS 64u

static size_t live_len(uint32_t k, uint32_t seq)
{
    return 16 + (k * 37u + seq * 11u) % 300u;
}

static void live_value(uint32_t k, uint32_t seq, uint8_t *v)
{
    size_t n = live_len(k, seq);
    memcpy(v, &k, 4);
    memcpy(v + 4, &seq, 4);
    for (size_t j = 8; j < n; j++)
        v[j] = (uint8_t)(k * 7u + seq * 13u + j);
}

/* Whether v (n bytes) is a value written for key k (seqs below next). */
static int live_ok(uint32_t k, uint32_t next, const uint8_t *v, size_t n)
{
    uint32_t vk, seq;
    if (n < 8)
        return 0;
    memcpy(&vk, v, 4);
    memcpy(&seq, v + 4, 4);
    if (vk != k || seq >= next || n != live_len(k, seq))
        return 0;
    uint8_t want[320];
    live_value(k, seq, want);
    return memcmp(want, v, n) == 0;
}

static uint64_t xs(uint64_t *r)
{
    *r ^= *r << 13;
    *r ^= *r >> 7;
    *r ^= *r << 17;
    return *r;
}

static void host_rewrites(uint8_t *reg, const struct eos_static *st, uint64_t seed, int ms)
{
    uint64_t r = seed | 1, t0 = ea_now_ns();
    struct timespec pause = {0, 20000};
    while (ea_now_ns() - t0 < (uint64_t)ms * 1000000u) {
        uint64_t what = xs(&r) % 9, x = xs(&r), off;
        switch (what) {
        case 0: off = offsetof(struct eos_hdr, bump); break;
        case 1: off = offsetof(struct eos_hdr, limbo); break;
        case 2: off = offsetof(struct eos_hdr, free_head) + 8 * (x % EOS_NCLASS); break;
        case 3:
        case 4: off = st->off_slots + 16 * (x % st->nslots) + 8 * (what == 4); break;
        case 5: off = st->off_readers + 64 * (x % EOS_NREADERS); break;
        case 6: { /* a field of the record a used slot names */
            uint64_t w = 0;
            for (uint64_t j = 0; j < st->nslots && w == 0; j++)
                memcpy(&w, reg + st->off_slots + 16 * ((x + j) % st->nslots), 8);
            off = w == 0 ? REGION : (w & 0xffffffffu) * EOS_UNIT + 8 * (xs(&r) % 8);
            break;
        }
        case 7: /* record bytes: one bit anywhere in the data space */
            off = st->off_data + x % (st->data_end - st->off_data);
            if (off < REGION)
                reg[off] ^= (uint8_t)(1u << xs(&r) % 8);
            nanosleep(&pause, NULL);
            continue;
        default: { /* a block over another */
            uint64_t n = (st->data_end - st->off_data) / EOS_UNIT;
            uint64_t a = st->off_data + EOS_UNIT * (x % n),
                     b = st->off_data + EOS_UNIT * (xs(&r) % n);
            memmove(reg + b, reg + a, EOS_UNIT);
            nanosleep(&pause, NULL);
            continue;
        }
        }
        if (off > REGION - 8)
            continue;
        uint64_t v;
        memcpy(&v, reg + off, 8);
        switch (xs(&r) % 4) {
        case 0: v = xs(&r); break;
        case 1: memcpy(&v, reg + st->off_slots + 16 * (xs(&r) % st->nslots), 8); break;
        case 2: v += xs(&r) % 16 - 8; break;
        default: v ^= UINT64_C(1) << (xs(&r) % 64); break;
        }
        memcpy(reg + off, &v, 8);
        nanosleep(&pause, NULL);
    }
}

struct live_tally {
    unsigned ok, tampered, other_err, bad_code, wrong;
};

static int live_code(int rc)
{
    return rc == EA_OK || rc == EA_ERR_NOTFOUND || rc == EA_ERR_TAMPERED || rc == EA_ERR_CORRUPT ||
           rc == EA_ERR_BUSY || rc == EA_ERR_NOSPACE || rc == EA_ERR_VERSION;
}

struct live_walk {
    const uint32_t *next;
    struct live_tally *t;
};

static int live_iter_fn(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                        uint64_t version)
{
    (void)version;
    struct live_walk *w = arg;
    uint32_t k;
    if (klen != 4) {
        w->t->wrong++;
        return 0;
    }
    memcpy(&k, key, 4);
    if (k >= LIVE_KEYS || !live_ok(k, w->next[k], val, vlen))
        w->t->wrong++;
    return 0;
}

/* Random operations on s for `ms` ms (0: `ops` of them), tallied. */
static void live_ops(ea_eos_t *s, uint32_t *next, uint64_t *r, int ms, unsigned ops,
                     struct live_tally *t)
{
    uint8_t v[320], buf[320];
    uint64_t t0 = ea_now_ns();
    for (unsigned i = 0; ms ? ea_now_ns() - t0 < (uint64_t)ms * 1000000u : i < ops; i++) {
        uint32_t k = (uint32_t)(xs(r) % LIVE_KEYS);
        int rc;
        size_t n = 0;
        switch (xs(r) % 8) {
        case 0:
        case 1:
            live_value(k, next[k], v);
            rc = ea_eos_put(s, &k, 4, v, live_len(k, next[k]), NULL);
            next[k]++; /* written, whatever the store said */
            break;
        case 2:
        case 3:
            rc = ea_eos_get(s, &k, 4, buf, sizeof buf, &n, NULL);
            if (rc == EA_OK && !live_ok(k, next[k], buf, n))
                t->wrong++;
            break;
        case 4: {
            const void *p = NULL;
            rc = ea_eos_get_view(s, &k, 4, &p, &n, NULL);
            if (rc == EA_OK && !live_ok(k, next[k], p, n))
                t->wrong++;
            if (ea_eos_view_end(s) != EA_OK)
                t->bad_code++;
            break;
        }
        case 5: {
            uint32_t keys[4];
            uint8_t bufs[4][320];
            ea_eos_mget_t it[4];
            for (unsigned j = 0; j < 4; j++) {
                keys[j] = (k + j) % LIVE_KEYS;
                it[j] = (ea_eos_mget_t){.key = &keys[j], .klen = 4, .buf = bufs[j], .cap = 320};
            }
            rc = ea_eos_get_many(s, it, 4);
            for (unsigned j = 0; j < 4 && rc == EA_OK; j++) {
                if (it[j].rc == EA_OK && !live_ok(keys[j], next[keys[j]], bufs[j], it[j].vlen))
                    t->wrong++;
                if (!live_code(it[j].rc))
                    t->bad_code++;
                t->tampered += it[j].rc == EA_ERR_TAMPERED;
            }
            break;
        }
        case 6: rc = xs(r) % 8 ? ea_eos_del(s, &k, 4, EA_EOS_ANY) : EA_OK; break;
        default: {
            struct live_walk w = {next, t};
            rc = xs(r) % 16 ? EA_OK : ea_eos_iter(s, NULL, 0, live_iter_fn, &w);
            break;
        }
        }
        t->ok += rc == EA_OK;
        t->tampered += rc == EA_ERR_TAMPERED;
        t->other_err += rc != EA_OK && rc != EA_ERR_TAMPERED && rc != EA_ERR_NOTFOUND;
        if (!live_code(rc))
            t->bad_code++;
    }
}

static void test_host_rewrites_live(void **state)
{
    struct fx *f = *state;
    memset(f->region, 0, REGION);
    fx_as(&f->la);
    ea_eos_config_t c = {.kind = EA_EOS_UNTRUSTED,
                         .size = REGION,
                         .region = f->region,
                         .keys = 256,
                         .reader_lease_ns = 2000000,
                         .home_bytes = g_home};
    ea_eos_t *s = NULL;
    assert_int_equal(ea_eos_open("live", &c, &s), EA_OK);
    uint32_t next[LIVE_KEYS] = {0};
    uint64_t r = 0x9e3779b97f4a7c15u;
    /* Control: the same loop with nobody rewriting is exact. */
    struct live_tally calm = {0};
    live_ops(s, next, &r, 0, 20000, &calm);
    assert_int_equal(calm.wrong, 0);
    assert_int_equal(calm.tampered, 0);
    assert_int_equal(calm.other_err, 0);
    assert_int_equal(calm.bad_code, 0);
    struct eos_static st;
    memcpy(&st, f->region, sizeof st);
    pid_t host = fork();
    assert_true(host >= 0);
    if (host == 0) {
        host_rewrites(f->region, &st, 0x1234567u, 1500);
        _exit(0);
    }
    struct live_tally t = {0};
    for (int running = 1; running;) {
        live_ops(s, next, &r, 50, 0, &t);
        int status;
        pid_t w = waitpid(host, &status, WNOHANG);
        assert_true(w >= 0);
        running = w == 0;
    }
    ea_eos_close(s);
    print_message("    host rewrites: %u ok, %u tampered, %u other errors\n", t.ok, t.tampered,
                  t.other_err);
    assert_int_equal(t.wrong, 0);    /* never bytes nobody wrote for that key */
    assert_int_equal(t.bad_code, 0); /* and only documented failures */
    assert_true(t.tampered > 0);     /* the rewrites reached the records */
    assert_true(t.ok > 0);
}

/* A host that edits a persistent store's file between runs: a synced
 * store (64 keys, some overwritten, some deleted: records, tombstones and
 * retired blocks in the file) is copied, and 300 times the copy gets one
 * to three edits (a bit flipped anywhere, an 8-byte field of the header,
 * an index or reader slot or a record header set to a value the host
 * picks, or a 64-byte block moved) and is opened. The open, recovery
 * included, gives EA_OK or a documented refusal; an open store then
 * answers every get, view and walk with a value written for that key or a
 * documented failure, and takes a put. Control: the unedited copy opens
 * and is exact, and the edits are seen (refused opens, failing records). */
#define FILE_TRIES 300

static void file_edit(uint8_t *m, size_t size, const struct eos_static *st, uint64_t *r)
{
    uint64_t what = xs(r) % 4, x = xs(r), off;
    switch (what) {
    case 0: /* one bit anywhere */ m[x % size] ^= (uint8_t)(1u << xs(r) % 8); return;
    case 1: { /* a block over another, in the data space */
        uint64_t n = (st->data_end - st->off_data) / EOS_UNIT;
        memmove(m + st->off_data + EOS_UNIT * (x % n), m + st->off_data + EOS_UNIT * (xs(r) % n),
                EOS_UNIT);
        return;
    }
    case 2: { /* a field of the header, a slot or a reader */
        static const size_t hf[] = {
            offsetof(struct eos_hdr, state),    offsetof(struct eos_hdr, sync_ctr),
            offsetof(struct eos_hdr, epoch),    offsetof(struct eos_hdr, bump),
            offsetof(struct eos_hdr, limbo),    offsetof(struct eos_hdr, keys),
            offsetof(struct eos_hdr, free_head)};
        uint64_t k = x % 9;
        off = k < 7    ? hf[k] + (k == 6 ? 8 * (xs(r) % EOS_NCLASS) : 0)
              : k == 7 ? st->off_slots + 16 * (xs(r) % st->nslots) + 8 * (xs(r) % 2)
                       : st->off_readers + 64 * (xs(r) % EOS_NREADERS);
        break;
    }
    default: { /* a field of the record a used slot names */
        uint64_t w = 0;
        for (uint64_t j = 0; j < st->nslots && w == 0; j++)
            memcpy(&w, m + st->off_slots + 16 * ((x + j) % st->nslots), 8);
        if (w == 0)
            return;
        off = (w & 0xffffffffu) * EOS_UNIT + 8 * (xs(r) % 8);
        break;
    }
    }
    if (off > size - 8)
        return;
    uint64_t v;
    memcpy(&v, m + off, 8);
    switch (xs(r) % 3) {
    case 0: v = xs(r); break;
    case 1: v += xs(r) % 16 - 8; break;
    default: v ^= UINT64_C(1) << (xs(r) % 64); break;
    }
    memcpy(m + off, &v, 8);
}

static int file_code(int rc)
{
    return rc == EA_OK || rc == EA_ERR_TAMPERED || rc == EA_ERR_CORRUPT || rc == EA_ERR_ROLLBACK ||
           rc == EA_ERR_AUTH || rc == EA_ERR_NOTFOUND;
}

static void test_file_edited(void **state)
{
    struct fx *f = *state;
    unlink(f->path);
    ea_eos_t *s = NULL;
    assert_int_equal(open_file(f, g_home != 0 ? 8u << 20 : REGION, &s), EA_OK);
    uint32_t next[LIVE_KEYS] = {0};
    uint8_t v[320], buf[320];
    for (uint32_t k = 0; k < LIVE_KEYS; k++) {
        unsigned writes = 1 + k % 3; /* some keys replaced: retired records */
        for (unsigned w = 0; w < writes; w++) {
            live_value(k, next[k], v);
            assert_int_equal(ea_eos_put(s, &k, 4, v, live_len(k, next[k]), NULL), EA_OK);
            next[k]++;
        }
        if (k % 7 == 0)
            assert_int_equal(ea_eos_del(s, &k, 4, EA_EOS_ANY), EA_OK);
    }
    assert_int_equal(ea_eos_sync(s), EA_OK);
    ea_eos_close(s);
    uint8_t *pristine = NULL;
    size_t size = 0;
    assert_int_equal(eai_file_read_all(f->path, 64u << 20, &pristine, &size), EA_OK);
    struct eos_static st;
    memcpy(&st, pristine, sizeof st);
    uint8_t *m = malloc(size);
    assert_non_null(m);
    uint64_t r = 0x243f6a8885a308d3u;
    unsigned opened = 0, refused = 0, failed_records = 0, wrong = 0, bad_code = 0;
    for (int t = 0; t <= FILE_TRIES; t++) {
        memcpy(m, pristine, size);
        unsigned edits = t == 0 ? 0 : 1 + (unsigned)(xs(&r) % 3);
        for (unsigned e = 0; e < edits; e++)
            file_edit(m, size, &st, &r);
        FILE *o = fopen(f->path, "wb");
        assert_non_null(o);
        assert_int_equal(fwrite(m, 1, size, o), size);
        assert_int_equal(fclose(o), 0);
        int rc = open_file(f, 0, &s);
        if (!file_code(rc))
            bad_code++;
        if (rc != EA_OK) {
            assert_true(t > 0); /* control: the unedited file opens */
            refused++;
            continue;
        }
        opened++;
        for (uint32_t k = 0; k < LIVE_KEYS; k++) {
            size_t n = 0;
            int g = ea_eos_get(s, &k, 4, buf, sizeof buf, &n, NULL);
            if (t == 0) /* control: exact */
                assert_int_equal(g, k % 7 == 0 ? EA_ERR_NOTFOUND : EA_OK);
            if (g == EA_OK && !live_ok(k, next[k], buf, n))
                wrong++;
            if (t == 0 && g == EA_OK) {
                live_value(k, next[k] - 1, v);
                assert_int_equal(n, live_len(k, next[k] - 1));
                assert_memory_equal(buf, v, n);
            }
            failed_records += g != EA_OK && g != EA_ERR_NOTFOUND;
            bad_code += !file_code(g) && g != EA_ERR_BUSY;
            const void *p = NULL;
            g = ea_eos_get_view(s, &k, 4, &p, &n, NULL);
            if (g == EA_OK && !live_ok(k, next[k], p, n))
                wrong++;
            bad_code += !file_code(g) && g != EA_ERR_BUSY;
            bad_code += ea_eos_view_end(s) != EA_OK;
        }
        struct live_tally lt = {0};
        struct live_walk w = {next, &lt};
        int wr = ea_eos_iter(s, NULL, 0, live_iter_fn, &w);
        wrong += lt.wrong;
        bad_code += !file_code(wr) && wr != EA_ERR_BUSY;
        if (t == 0)
            assert_int_equal(wr, EA_OK);
        uint32_t nk = 1000 + (uint32_t)t;
        int pr = ea_eos_put(s, &nk, 4, "new", 3, NULL);
        bad_code += !file_code(pr) && pr != EA_ERR_NOSPACE && pr != EA_ERR_BUSY;
        if (t == 0)
            assert_int_equal(pr, EA_OK);
        ea_eos_close(s);
    }
    free(m);
    free(pristine);
    unlink(f->path);
    print_message("    edited files: %u opened, %u refused; %u records failed in opened ones\n",
                  opened, refused, failed_records);
    assert_int_equal(wrong, 0);    /* never a value not written for its key */
    assert_int_equal(bad_code, 0); /* only documented failures */
    assert_true(refused > 0);      /* the edits are seen ... */
    assert_true(failed_records > 0);
    assert_true(opened > 1); /* ... and the store opens despite many of them */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_share_by_signer),
        cmocka_unit_test(test_tamper_and_swap),
        cmocka_unit_test(test_word_hint),
        cmocka_unit_test(test_persist_and_rollback),
        cmocka_unit_test(test_slots_from_header),
        cmocka_unit_test(test_crash),
        cmocka_unit_test(test_two_enclaves),
        cmocka_unit_test(test_host_rewrites_live),
        cmocka_unit_test(test_file_edited),
        /* The same with home blocks. */
        cmocka_unit_test_setup_teardown(test_tamper_and_swap, home_on, home_off),
        cmocka_unit_test_setup_teardown(test_crash, home_on, home_off),
        cmocka_unit_test_setup_teardown(test_two_enclaves, home_on, home_off),
        cmocka_unit_test_setup_teardown(test_host_rewrites_live, home_on, home_off),
        cmocka_unit_test_setup_teardown(test_file_edited, home_on, home_off),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
