/*
 * Unit tests of the crypto wrappers (src/crypto/crypto.c): known-answer
 * tests against published vectors (the source of each is named beside it),
 * failure paths (tampering gives EA_ERR_AUTH and a zeroed output), a
 * check after each failure that no OpenSSL error was left on the queue, and
 * a check that AEAD seal/open allocate nothing (OpenSSL's allocator is
 * replaced by a counting one before libcrypto starts).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "crypto/crypto.h"

/* Decodes a hex string (spaces allowed) into out; returns the byte count. */
static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (; *s != '\0'; s++) {
        int v = 0;
        if (*s >= '0' && *s <= '9')
            v = *s - '0';
        else if (*s >= 'a' && *s <= 'f')
            v = *s - 'a' + 10;
        else if (*s >= 'A' && *s <= 'F')
            v = *s - 'A' + 10;
        else if (*s == ' ')
            continue;
        else
            fail_msg("bad hex digit '%c'", *s);
        if (hi < 0) {
            hi = v;
        } else {
            assert_true(n < cap);
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    assert_int_equal(hi, -1);
    return n;
}

/* The OpenSSL error queue must be empty after every wrapper call. */
static void assert_no_openssl_error(void)
{
    assert_int_equal(ERR_peek_error(), 0);
}

static int all_zero(const uint8_t *p, size_t len)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < len; i++)
        acc |= p[i];
    return acc == 0;
}

/* Counts libcrypto's allocations; the test is single-threaded. */
static unsigned long g_allocs;

static void *count_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    g_allocs++;
    return malloc(n);
}

static void *count_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    g_allocs++;
    return realloc(p, n);
}

static void count_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}

static int setup(void **state)
{
    (void)state;
    return eai_crypto_init() == EA_OK ? 0 : -1;
}

/* ---- small helpers ------------------------------------------------------ */

static void test_init_idempotent(void **state)
{
    (void)state;
    assert_int_equal(eai_crypto_init(), EA_OK);
    assert_int_equal(eai_crypto_init(), EA_OK);
    assert_no_openssl_error();
}

static void test_ct_equal(void **state)
{
    (void)state;
    uint8_t a[33], b[33];
    for (size_t i = 0; i < sizeof a; i++)
        a[i] = b[i] = (uint8_t)(i * 7);
    assert_int_equal(eai_ct_equal(a, b, sizeof a), 1);
    assert_int_equal(eai_ct_equal(a, b, 0), 1);
    for (size_t i = 0; i < sizeof a; i++) {
        b[i] ^= 0x80;
        assert_int_equal(eai_ct_equal(a, b, sizeof a), 0);
        b[i] ^= 0x80;
    }
}

static void test_random(void **state)
{
    (void)state;
    uint8_t a[32] = {0}, b[32] = {0};
    assert_int_equal(eai_random(a, sizeof a), EA_OK);
    assert_int_equal(eai_random(b, sizeof b), EA_OK);
    /* Two 256-bit draws agree with probability 2^-256. */
    assert_memory_not_equal(a, b, sizeof a);
    assert_false(all_zero(a, sizeof a));
    assert_int_equal(eai_random(NULL, 0), EA_OK);
    assert_int_equal(eai_random(NULL, 1), EA_ERR_INVAL);
}

static void test_wipe(void **state)
{
    (void)state;
    uint8_t buf[77];
    memset(buf, 0xa5, sizeof buf);
    eai_wipe(buf + 1, sizeof buf - 2);
    assert_int_equal(buf[0], 0xa5);
    assert_true(all_zero(buf + 1, sizeof buf - 2));
    assert_int_equal(buf[sizeof buf - 1], 0xa5);
    eai_wipe(NULL, 0);
}

/* ---- SHA-256 ------------------------------------------------------------ */

/* FIPS 180-2, appendix B.1 ("abc"), B.2 (the 448-bit message); the empty
 * string's digest is the well-known value listed in NIST's SHA examples. */
static const struct {
    const char *msg;
    const char *md;
} sha_kat[] = {
    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
};

static void test_sha256_kat(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof sha_kat / sizeof sha_kat[0]; k++) {
        uint8_t want[32], got[32];
        unhex(sha_kat[k].md, want, sizeof want);
        const char *m = sha_kat[k].msg;
        size_t len = strlen(m);
        assert_int_equal(eai_sha256(m, len, got), EA_OK);
        assert_memory_equal(got, want, 32);

        /* Incremental: every split point, then one byte at a time. */
        for (size_t cut = 0; cut <= len; cut++) {
            eai_sha256_ctx_t c;
            memset(got, 0, sizeof got);
            assert_int_equal(eai_sha256_init(&c), EA_OK);
            assert_int_equal(eai_sha256_update(&c, m, cut), EA_OK);
            assert_int_equal(eai_sha256_update(&c, m + cut, len - cut), EA_OK);
            assert_int_equal(eai_sha256_final(&c, got), EA_OK);
            assert_null(c.md);
            assert_memory_equal(got, want, 32);
        }
        eai_sha256_ctx_t c;
        assert_int_equal(eai_sha256_init(&c), EA_OK);
        for (size_t i = 0; i < len; i++)
            assert_int_equal(eai_sha256_update(&c, m + i, 1), EA_OK);
        assert_int_equal(eai_sha256_final(&c, got), EA_OK);
        assert_memory_equal(got, want, 32);
    }
    assert_int_equal(eai_sha256(NULL, 0, (uint8_t[32]){0}), EA_OK);
    assert_no_openssl_error();
}

static void test_sha256_abort(void **state)
{
    (void)state;
    eai_sha256_ctx_t c;
    assert_int_equal(eai_sha256_init(&c), EA_OK);
    assert_int_equal(eai_sha256_update(&c, "abc", 3), EA_OK);
    eai_sha256_abort(&c);
    assert_null(c.md);
    eai_sha256_abort(&c); /* harmless twice */
    uint8_t out[32];
    assert_int_equal(eai_sha256_update(&c, "abc", 3), EA_ERR_INVAL);
    assert_int_equal(eai_sha256_final(&c, out), EA_ERR_INVAL);
}

/* ---- HKDF-SHA256 -------------------------------------------------------- */

/* RFC 5869, appendix A.1, A.2 and A.3 (test cases 1-3, SHA-256). */
static const struct {
    const char *ikm, *salt, *info, *okm;
} hkdf_kat[] = {
    {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c",
     "f0f1f2f3f4f5f6f7f8f9",
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
    {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
     "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
     "404142434445464748494a4b4c4d4e4f",
     "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
     "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
     "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
     "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
     "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
     "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
     "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
     "cc30c58179ec3e87c14c01d5c1f3434f1d87"},
    {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "",
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
};

static void test_hkdf_kat(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof hkdf_kat / sizeof hkdf_kat[0]; k++) {
        uint8_t ikm[80], salt[80], info[80], want[82], got[82];
        size_t ikmlen = unhex(hkdf_kat[k].ikm, ikm, sizeof ikm);
        size_t saltlen = unhex(hkdf_kat[k].salt, salt, sizeof salt);
        size_t infolen = unhex(hkdf_kat[k].info, info, sizeof info);
        size_t len = unhex(hkdf_kat[k].okm, want, sizeof want);
        memset(got, 0, sizeof got);
        assert_int_equal(eai_hkdf_sha256(saltlen ? salt : NULL, saltlen, ikm, ikmlen,
                                         infolen ? info : NULL, infolen, got, len),
                         EA_OK);
        assert_memory_equal(got, want, len);
    }
    /* RFC 5869: an absent salt is HashLen zero bytes. */
    uint8_t ikm[22], zeros[32] = {0}, a[42], b[42];
    memset(ikm, 0x0b, sizeof ikm);
    assert_int_equal(eai_hkdf_sha256(NULL, 0, ikm, sizeof ikm, NULL, 0, a, sizeof a), EA_OK);
    assert_int_equal(eai_hkdf_sha256(zeros, 32, ikm, sizeof ikm, NULL, 0, b, sizeof b), EA_OK);
    assert_memory_equal(a, b, sizeof a);
    assert_no_openssl_error();
}

static void test_hkdf_limits(void **state)
{
    (void)state;
    static uint8_t out[255 * 32 + 1];
    uint8_t ikm[16] = {1};
    assert_int_equal(eai_hkdf_sha256(NULL, 0, ikm, sizeof ikm, NULL, 0, out, 255 * 32), EA_OK);
    assert_int_equal(eai_hkdf_sha256(NULL, 0, ikm, sizeof ikm, NULL, 0, out, 255 * 32 + 1),
                     EA_ERR_INVAL);
    assert_int_equal(eai_hkdf_sha256(NULL, 0, ikm, sizeof ikm, NULL, 0, out, 0), EA_ERR_INVAL);
    assert_int_equal(eai_hkdf_sha256(NULL, 3, ikm, sizeof ikm, NULL, 0, out, 32), EA_ERR_INVAL);
    assert_no_openssl_error();
}

/* ---- AES-128-CMAC ------------------------------------------------------- */

/* RFC 4493, section 4, examples 1-4 (message lengths 0, 16, 40, 64). */
static void test_cmac_kat(void **state)
{
    (void)state;
    static const char *key_hex = "2b7e151628aed2a6abf7158809cf4f3c";
    static const char *msg_hex = "6bc1bee22e409f96e93d7e117393172a"
                                 "ae2d8a571e03ac9c9eb76fac45af8e51"
                                 "30c81c46a35ce411e5fbc1191a0a52ef"
                                 "f69f2445df4f9b17ad2b417be66c3710";
    static const struct {
        size_t len;
        const char *mac;
    } kat[] = {
        {0, "bb1d6929e95937287fa37d129b756746"},
        {16, "070a16b46b4d4144f79bdd9dd04a287c"},
        {40, "dfa66747de9ae63030ca32611497c827"},
        {64, "51f0bebf7e3b9d92fc49741779363cfe"},
    };
    uint8_t key[16], msg[64];
    unhex(key_hex, key, sizeof key);
    unhex(msg_hex, msg, sizeof msg);
    for (size_t k = 0; k < sizeof kat / sizeof kat[0]; k++) {
        uint8_t want[16], got[16] = {0};
        unhex(kat[k].mac, want, sizeof want);
        assert_int_equal(eai_cmac_aes128(key, msg, kat[k].len, got), EA_OK);
        assert_memory_equal(got, want, 16);
    }
    uint8_t got[16];
    assert_int_equal(eai_cmac_aes128(key, NULL, 0, got), EA_OK);
    assert_no_openssl_error();
}

/* ---- AES-GCM ------------------------------------------------------------ */

/* McGrew and Viega, "The Galois/Counter Mode of Operation (GCM)", revised
 * 2005, appendix B: test cases 1-4 (AES-128, 96-bit IV) and 16 (AES-256,
 * with AAD). The last entry is from NIST's CAVP gcmEncryptExtIV128.rsp
 * ([Keylen = 128] [IVlen = 96] [PTlen = 0] [AADlen = 128] [Taglen = 128],
 * Count = 0): an empty message with AAD. */
#define GCM_TC3_PT                                                     \
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" \
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
#define GCM_TC4_PT                                                     \
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" \
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
static const struct {
    const char *name, *key, *iv, *aad, *pt, *ct, *tag;
} gcm_kat[] = {
    {"TC1", "00000000000000000000000000000000", "000000000000000000000000", "", "", "",
     "58e2fccefa7e3061367f1d57a4e7455a"},
    {"TC2", "00000000000000000000000000000000", "000000000000000000000000", "",
     "00000000000000000000000000000000", "0388dace60b6a392f328c2b971b2fe78",
     "ab6e47d42cec13bdf53a67b21257bddf"},
    {"TC3", "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", "", GCM_TC3_PT,
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
     "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
     "4d5c2af327cd64a62cf35abd2ba6fab4"},
    {"TC4", "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2", GCM_TC4_PT,
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
     "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
     "5bc94fbc3221a5db94fae95ae7121a47"},
    {"TC16", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2", GCM_TC4_PT,
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
    {"CAVP-128-PT0-AAD128", "77be63708971c4e240d1cb79e8d77feb", "e0e00f19fed7ba0136a797f3",
     "7a43ec1d9c0a5a78a0b16533a6213cab", "", "", "209fcc8d3675ed938e9c7166709dd946"},
};

struct gcm_vec {
    uint8_t key[32], iv[12], aad[32], pt[64], ct[64], tag[16];
    size_t keylen, aadlen, len;
};

static void load_gcm(size_t k, struct gcm_vec *v)
{
    memset(v, 0, sizeof *v);
    v->keylen = unhex(gcm_kat[k].key, v->key, sizeof v->key);
    assert_int_equal(unhex(gcm_kat[k].iv, v->iv, sizeof v->iv), 12);
    v->aadlen = unhex(gcm_kat[k].aad, v->aad, sizeof v->aad);
    v->len = unhex(gcm_kat[k].pt, v->pt, sizeof v->pt);
    assert_int_equal(unhex(gcm_kat[k].ct, v->ct, sizeof v->ct), v->len);
    assert_int_equal(unhex(gcm_kat[k].tag, v->tag, sizeof v->tag), 16);
}

static void test_gcm_kat(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof gcm_kat / sizeof gcm_kat[0]; k++) {
        struct gcm_vec v;
        load_gcm(k, &v);
        print_message("GCM %s\n", gcm_kat[k].name);
        eai_aead_t a;
        assert_int_equal(eai_aead_init(&a, v.key, v.keylen), EA_OK);
        /* Twice on one context: the per-message IV reset must leave no
         * state behind. */
        for (int round = 0; round < 2; round++) {
            uint8_t ct[64], pt[64], tag[16];
            memset(ct, 0xaa, sizeof ct);
            assert_int_equal(eai_aead_seal(&a, v.iv, v.aad, v.aadlen, v.pt, v.len, ct, tag), EA_OK);
            assert_memory_equal(ct, v.ct, v.len);
            assert_memory_equal(tag, v.tag, 16);
            memset(pt, 0xaa, sizeof pt);
            assert_int_equal(eai_aead_open(&a, v.iv, v.aad, v.aadlen, v.ct, v.len, pt, v.tag),
                             EA_OK);
            assert_memory_equal(pt, v.pt, v.len);
        }
        eai_aead_fini(&a);
        assert_null(a.enc);
        assert_null(a.dec);
        eai_aead_fini(&a); /* harmless twice */
    }
    assert_no_openssl_error();
}

static void test_gcm_in_place(void **state)
{
    (void)state;
    struct gcm_vec v;
    load_gcm(4, &v); /* TC16: AES-256 with AAD */
    eai_aead_t a;
    assert_int_equal(eai_aead_init(&a, v.key, v.keylen), EA_OK);
    uint8_t buf[64], tag[16];
    memcpy(buf, v.pt, v.len);
    assert_int_equal(eai_aead_seal(&a, v.iv, v.aad, v.aadlen, buf, v.len, buf, tag), EA_OK);
    assert_memory_equal(buf, v.ct, v.len);
    assert_memory_equal(tag, v.tag, 16);
    assert_int_equal(eai_aead_open(&a, v.iv, v.aad, v.aadlen, buf, v.len, buf, tag), EA_OK);
    assert_memory_equal(buf, v.pt, v.len);
    eai_aead_fini(&a);
}

/* Opens v with one thing changed and checks EA_ERR_AUTH and a zeroed
 * output. */
static void expect_auth_fail(eai_aead_t *a, const uint8_t *iv, const uint8_t *aad, size_t aadlen,
                             const uint8_t *ct, size_t len, const uint8_t *tag)
{
    uint8_t pt[64 + 1]; /* one guard byte */
    assert_true(len < sizeof pt);
    memset(pt, 0xaa, sizeof pt);
    assert_int_equal(eai_aead_open(a, iv, aad, aadlen, ct, len, pt, tag), EA_ERR_AUTH);
    assert_true(all_zero(pt, len));
    assert_int_equal(pt[len], 0xaa); /* nothing beyond len touched */
    assert_no_openssl_error();
}

static void test_gcm_tamper(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof gcm_kat / sizeof gcm_kat[0]; k++) {
        struct gcm_vec v;
        load_gcm(k, &v);
        eai_aead_t a;
        assert_int_equal(eai_aead_init(&a, v.key, v.keylen), EA_OK);
        /* Ciphertext: first and last byte. */
        if (v.len > 0) {
            v.ct[0] ^= 0x01;
            expect_auth_fail(&a, v.iv, v.aad, v.aadlen, v.ct, v.len, v.tag);
            v.ct[0] ^= 0x01;
            v.ct[v.len - 1] ^= 0x80;
            expect_auth_fail(&a, v.iv, v.aad, v.aadlen, v.ct, v.len, v.tag);
            v.ct[v.len - 1] ^= 0x80;
            /* Truncated message. */
            expect_auth_fail(&a, v.iv, v.aad, v.aadlen, v.ct, v.len - 1, v.tag);
        }
        /* Tag: every byte. */
        for (size_t i = 0; i < 16; i++) {
            v.tag[i] ^= 0x10;
            expect_auth_fail(&a, v.iv, v.aad, v.aadlen, v.ct, v.len, v.tag);
            v.tag[i] ^= 0x10;
        }
        /* AAD: a flipped bit, or AAD added or dropped. */
        if (v.aadlen > 0) {
            v.aad[v.aadlen - 1] ^= 0x02;
            expect_auth_fail(&a, v.iv, v.aad, v.aadlen, v.ct, v.len, v.tag);
            v.aad[v.aadlen - 1] ^= 0x02;
            expect_auth_fail(&a, v.iv, NULL, 0, v.ct, v.len, v.tag);
        } else {
            expect_auth_fail(&a, v.iv, (const uint8_t *)"x", 1, v.ct, v.len, v.tag);
        }
        /* IV: first and last byte. */
        v.iv[0] ^= 0x04;
        expect_auth_fail(&a, v.iv, v.aad, v.aadlen, v.ct, v.len, v.tag);
        v.iv[0] ^= 0x04;
        v.iv[11] ^= 0x04;
        expect_auth_fail(&a, v.iv, v.aad, v.aadlen, v.ct, v.len, v.tag);
        v.iv[11] ^= 0x04;
        /* The context still works after failures. */
        uint8_t pt[64];
        assert_int_equal(eai_aead_open(&a, v.iv, v.aad, v.aadlen, v.ct, v.len, pt, v.tag), EA_OK);
        assert_memory_equal(pt, v.pt, v.len);
        eai_aead_fini(&a);
    }
}

static void test_gcm_empty_with_aad(void **state)
{
    (void)state;
    struct gcm_vec v;
    load_gcm(5, &v); /* CAVP: PTlen 0, AADlen 128 */
    eai_aead_t a;
    assert_int_equal(eai_aead_init(&a, v.key, v.keylen), EA_OK);
    uint8_t tag[16];
    /* NULL buffers are fine when len is 0. */
    assert_int_equal(eai_aead_seal(&a, v.iv, v.aad, v.aadlen, NULL, 0, NULL, tag), EA_OK);
    assert_memory_equal(tag, v.tag, 16);
    assert_int_equal(eai_aead_open(&a, v.iv, v.aad, v.aadlen, NULL, 0, NULL, tag), EA_OK);
    tag[3] ^= 1;
    assert_int_equal(eai_aead_open(&a, v.iv, v.aad, v.aadlen, NULL, 0, NULL, tag), EA_ERR_AUTH);
    assert_no_openssl_error();
    eai_aead_fini(&a);
}

static void test_gcm_args(void **state)
{
    (void)state;
    uint8_t key[32] = {0}, iv[12] = {0}, buf[16] = {0}, tag[16];
    eai_aead_t a;
    assert_int_equal(eai_aead_init(&a, key, 24), EA_ERR_INVAL);
    assert_null(a.enc);
    assert_int_equal(eai_aead_init(&a, key, 0), EA_ERR_INVAL);
    assert_int_equal(eai_aead_init(&a, NULL, 16), EA_ERR_INVAL);
    assert_int_equal(eai_aead_seal(&a, iv, NULL, 0, buf, sizeof buf, buf, tag), EA_ERR_INVAL);
    assert_int_equal(eai_aead_init(&a, key, 16), EA_OK);
    assert_int_equal(eai_aead_seal(&a, iv, NULL, 1, buf, sizeof buf, buf, tag), EA_ERR_INVAL);
    assert_int_equal(eai_aead_open(&a, iv, NULL, 0, NULL, sizeof buf, buf, tag), EA_ERR_INVAL);
    eai_aead_fini(&a);
    assert_no_openssl_error();
}

/* A message longer than any internal chunk would take too long here; this
 * checks a size that is not a multiple of the block size, with a random key,
 * round trip only. */
/* The message hot path: once the context exists, sealing and opening
 * (including a failed open) make no allocation in libcrypto. */
static void test_gcm_no_alloc(void **state)
{
    (void)state;
    uint8_t key[16] = {1}, iv[12] = {2}, aad[20] = {3}, buf[300] = {4}, tag[16];
    eai_aead_t a;
    assert_int_equal(eai_aead_init(&a, key, sizeof key), EA_OK);
    /* The counter is live (init allocated), so zero below means zero. */
    assert_true(g_allocs > 0);
    unsigned long before = g_allocs;
    for (int i = 0; i < 10; i++) {
        iv[0] = (uint8_t)i;
        assert_int_equal(eai_aead_seal(&a, iv, aad, sizeof aad, buf, sizeof buf, buf, tag), EA_OK);
        assert_int_equal(eai_aead_open(&a, iv, aad, sizeof aad, buf, sizeof buf, buf, tag), EA_OK);
        assert_int_equal(eai_aead_seal(&a, iv, aad, sizeof aad, NULL, 0, NULL, tag), EA_OK);
    }
    tag[0] ^= 1;
    assert_int_equal(eai_aead_open(&a, iv, aad, sizeof aad, buf, sizeof buf, buf, tag),
                     EA_ERR_AUTH);
    assert_int_equal(g_allocs, before);
    eai_aead_fini(&a);
}

static void test_gcm_roundtrip_random(void **state)
{
    (void)state;
    enum { N = 100003 };
    uint8_t key[32], iv[12], tag[16], aad[13];
    uint8_t *pt = malloc(N), *ct = malloc(N), *back = malloc(N);
    assert_non_null(pt);
    assert_non_null(ct);
    assert_non_null(back);
    assert_int_equal(eai_random(key, sizeof key), EA_OK);
    assert_int_equal(eai_random(iv, sizeof iv), EA_OK);
    assert_int_equal(eai_random(aad, sizeof aad), EA_OK);
    assert_int_equal(eai_random(pt, N), EA_OK);
    eai_aead_t a;
    assert_int_equal(eai_aead_init(&a, key, 32), EA_OK);
    assert_int_equal(eai_aead_seal(&a, iv, aad, sizeof aad, pt, N, ct, tag), EA_OK);
    assert_memory_not_equal(pt, ct, N);
    assert_int_equal(eai_aead_open(&a, iv, aad, sizeof aad, ct, N, back, tag), EA_OK);
    assert_memory_equal(pt, back, N);
    eai_aead_fini(&a);
    eai_wipe(key, sizeof key);
    free(pt);
    free(ct);
    free(back);
}

/* ---- Ed25519 ------------------------------------------------------------ */

/* RFC 8032, section 7.1, TEST 1, TEST 2 and TEST 3. */
static const struct {
    const char *name, *sk, *pk, *msg, *sig;
} ed_kat[] = {
    {"TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
};

static void test_ed25519_kat(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof ed_kat / sizeof ed_kat[0]; k++) {
        uint8_t sk[32], pk[32], msg[8], sig[64], got_pk[32], got_sig[64];
        print_message("Ed25519 %s\n", ed_kat[k].name);
        unhex(ed_kat[k].sk, sk, sizeof sk);
        unhex(ed_kat[k].pk, pk, sizeof pk);
        size_t len = unhex(ed_kat[k].msg, msg, sizeof msg - 1);
        unhex(ed_kat[k].sig, sig, sizeof sig);

        assert_int_equal(eai_ed25519_public(sk, got_pk), EA_OK);
        assert_memory_equal(got_pk, pk, 32);
        assert_int_equal(eai_ed25519_sign(sk, len ? msg : NULL, len, got_sig), EA_OK);
        assert_memory_equal(got_sig, sig, 64);
        assert_int_equal(eai_ed25519_verify(pk, len ? msg : NULL, len, sig), EA_OK);

        /* A flipped bit in R, in S, in the message; a longer message. */
        sig[0] ^= 0x01;
        assert_int_equal(eai_ed25519_verify(pk, msg, len, sig), EA_ERR_AUTH);
        sig[0] ^= 0x01;
        sig[40] ^= 0x20;
        assert_int_equal(eai_ed25519_verify(pk, msg, len, sig), EA_ERR_AUTH);
        sig[40] ^= 0x20;
        if (len > 0) {
            msg[len - 1] ^= 0x01;
            assert_int_equal(eai_ed25519_verify(pk, msg, len, sig), EA_ERR_AUTH);
            msg[len - 1] ^= 0x01;
        }
        msg[len] = 0;
        assert_int_equal(eai_ed25519_verify(pk, msg, len + 1, sig), EA_ERR_AUTH);
        /* Another test's public key. */
        uint8_t other[32];
        unhex(ed_kat[(k + 1) % 3].pk, other, sizeof other);
        assert_int_equal(eai_ed25519_verify(other, msg, len, sig), EA_ERR_AUTH);
        assert_no_openssl_error();
    }
}

static void test_ed25519_keygen(void **state)
{
    (void)state;
    uint8_t pub[32], priv[32], pub2[32], priv2[32], again[32], sig[64];
    assert_int_equal(eai_ed25519_keygen(pub, priv), EA_OK);
    assert_int_equal(eai_ed25519_keygen(pub2, priv2), EA_OK);
    assert_memory_not_equal(priv, priv2, 32);
    assert_memory_not_equal(pub, pub2, 32);
    assert_int_equal(eai_ed25519_public(priv, again), EA_OK);
    assert_memory_equal(pub, again, 32);
    static const char m[] = "eactors";
    assert_int_equal(eai_ed25519_sign(priv, m, sizeof m, sig), EA_OK);
    assert_int_equal(eai_ed25519_verify(pub, m, sizeof m, sig), EA_OK);
    assert_int_equal(eai_ed25519_verify(pub2, m, sizeof m, sig), EA_ERR_AUTH);
    assert_no_openssl_error();
    eai_wipe(priv, sizeof priv);
    eai_wipe(priv2, sizeof priv2);
}

/* ---- X25519 ------------------------------------------------------------- */

/* RFC 7748, section 6.1. */
static const char *x_alice_sk = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
static const char *x_alice_pk = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
static const char *x_bob_sk = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
static const char *x_bob_pk = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
static const char *x_shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

static void test_x25519_kat(void **state)
{
    (void)state;
    uint8_t ask[32], apk[32], bsk[32], bpk[32], want[32], got[32], base[32] = {9};
    unhex(x_alice_sk, ask, sizeof ask);
    unhex(x_alice_pk, apk, sizeof apk);
    unhex(x_bob_sk, bsk, sizeof bsk);
    unhex(x_bob_pk, bpk, sizeof bpk);
    unhex(x_shared, want, sizeof want);
    /* Public keys are X25519(sk, 9). */
    assert_int_equal(eai_x25519(ask, base, got), EA_OK);
    assert_memory_equal(got, apk, 32);
    assert_int_equal(eai_x25519(bsk, base, got), EA_OK);
    assert_memory_equal(got, bpk, 32);
    assert_int_equal(eai_x25519(ask, bpk, got), EA_OK);
    assert_memory_equal(got, want, 32);
    memset(got, 0, sizeof got);
    assert_int_equal(eai_x25519(bsk, apk, got), EA_OK);
    assert_memory_equal(got, want, 32);
    assert_no_openssl_error();
}

static void test_x25519_small_order(void **state)
{
    (void)state;
    uint8_t ask[32], peer[32], got[32];
    unhex(x_alice_sk, ask, sizeof ask);
    /* u = 0 and u = 1 are points of small order (see the list in RFC 7748
     * section 7 and the "cr.yp.to/ecdh.html" note it cites): the shared
     * secret is all zero whatever the private key. */
    for (int u = 0; u <= 1; u++) {
        memset(peer, 0, sizeof peer);
        peer[0] = (uint8_t)u;
        memset(got, 0xaa, sizeof got);
        assert_int_equal(eai_x25519(ask, peer, got), EA_ERR_AUTH);
        assert_true(all_zero(got, sizeof got));
        assert_no_openssl_error();
    }
}

static void test_x25519_keygen(void **state)
{
    (void)state;
    uint8_t apk[32], ask[32], bpk[32], bsk[32], s1[32], s2[32], base[32] = {9}, pk[32];
    assert_int_equal(eai_x25519_keygen(apk, ask), EA_OK);
    assert_int_equal(eai_x25519_keygen(bpk, bsk), EA_OK);
    assert_memory_not_equal(ask, bsk, 32);
    assert_int_equal(eai_x25519(ask, base, pk), EA_OK);
    assert_memory_equal(pk, apk, 32);
    assert_int_equal(eai_x25519(ask, bpk, s1), EA_OK);
    assert_int_equal(eai_x25519(bsk, apk, s2), EA_OK);
    assert_memory_equal(s1, s2, 32);
    assert_no_openssl_error();
    eai_wipe(ask, sizeof ask);
    eai_wipe(bsk, sizeof bsk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_idempotent),
        cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_wipe),
        cmocka_unit_test(test_sha256_kat),
        cmocka_unit_test(test_sha256_abort),
        cmocka_unit_test(test_hkdf_kat),
        cmocka_unit_test(test_hkdf_limits),
        cmocka_unit_test(test_cmac_kat),
        cmocka_unit_test(test_gcm_kat),
        cmocka_unit_test(test_gcm_in_place),
        cmocka_unit_test(test_gcm_tamper),
        cmocka_unit_test(test_gcm_empty_with_aad),
        cmocka_unit_test(test_gcm_args),
        cmocka_unit_test(test_gcm_no_alloc),
        cmocka_unit_test(test_gcm_roundtrip_random),
        cmocka_unit_test(test_ed25519_kat),
        cmocka_unit_test(test_ed25519_keygen),
        cmocka_unit_test(test_x25519_kat),
        cmocka_unit_test(test_x25519_small_order),
        cmocka_unit_test(test_x25519_keygen),
    };
    /* Must come before libcrypto's first allocation. */
    if (CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free) != 1)
        return 1;
    return cmocka_run_group_tests(tests, setup, NULL);
}
