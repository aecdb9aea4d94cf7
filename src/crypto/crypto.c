/*
 * Crypto wrappers over OpenSSL 3 libcrypto (see crypto.h).
 *
 * Design notes.
 *
 * No system calls after init. An enclave process installs a seccomp
 * allow-list once its workers run, and only getrandom (plus memory, futex and
 * clock calls) survives it. OpenSSL 3 does its expensive and OS-facing work
 * lazily: it reads openssl.cnf on first use, builds the provider's method
 * store on the first fetch of each algorithm, and opens its entropy source on
 * the first RAND call. eai_crypto_init therefore (1) initialises libcrypto
 * with OPENSSL_INIT_NO_LOAD_CONFIG, so no file is ever read and only the
 * built-in default provider is used (no dlopen), (2) fetches each algorithm
 * explicitly and keeps the handle for the life of the process, so the hot
 * paths skip the name lookup, and (3) runs one operation of every kind,
 * failures included, so every inner algorithm a wrapper fetches implicitly
 * (SHA-512 inside Ed25519, HMAC inside HKDF, AES-128-CBC inside CMAC, the
 * signature and key-exchange methods) sits in the method store's cache and
 * the DRBG chain is seeded. After that the only OS-facing call left is the
 * DRBG's reseed (getrandom) and its fork check (getpid). The confined test in
 * tests/crypto checks this with a real seccomp filter, including the first
 * call from a thread that existed before confinement (OpenSSL's per-thread
 * DRBG and error state are created on first use).
 *
 * The warm-up is partly defence in depth: on OpenSSL 3.0.x with
 * NO_LOAD_CONFIG even a lazy first use made no forbidden call when we
 * measured it, but which paths stay lazy is OpenSSL's internal business and
 * changes between releases, so we do not rely on it.
 *
 * The init runs under pthread_once, so it is idempotent and every wrapper
 * that needs a fetched handle can call ensure_init() cheaply (one acquire
 * load once done; AEAD seal/open do not call it, their contexts already hold
 * the cipher). Its result is sticky: a failure means libcrypto lacks an
 * algorithm or memory at start-up, and the process cannot go on safely.
 *
 * AEAD hot path. eai_aead_init makes two cipher contexts (one for sealing,
 * one for opening) and sets the key once; OpenSSL expands the AES key
 * schedule and the GHASH table there. Seal and open only set the IV with
 * EVP_{En,De}cryptInit_ex(ctx, NULL, NULL, NULL, iv), which in OpenSSL 3
 * goes straight to the provider's gcm_init without touching the key or
 * allocating, then stream AAD and data through Update; the tag is read or
 * set with the provider's own parameter call (gcm_tag), not through
 * EVP_CIPHER_CTX_ctrl. (What stays per message: the IV set-up asks the
 * provider for the IV length, and each parameter call looks its names up
 * with strcmp: together about a third of a 16-byte seal.) EVP takes int
 * lengths, so long inputs are fed in chunks; GCM allows any number of
 * Update calls. Open compares the tag in EVP_DecryptFinal_ex (constant time
 * in OpenSSL) and on failure wipes the output, so a caller that ignores the
 * return value still sees no unauthenticated plaintext.
 *
 * Errors. Every OpenSSL failure is mapped to EA_ERR_CRYPTO, a failed check
 * (tag, signature, small-order X25519 point) to EA_ERR_AUTH, and the
 * thread's OpenSSL error queue is cleared on every error path so no stale
 * entry leaks to the next caller. OpenSSL's X25519 itself refuses an
 * all-zero shared secret (it raises PROV_R_FAILED_DURING_DERIVATION); we map
 * that reason to EA_ERR_AUTH and also check the output ourselves, so the
 * property holds whatever provider answers.
 *
 * Secrets. Private keys are handed to OpenSSL straight from the caller's
 * buffer (no local copies); OpenSSL's ECX and cipher contexts clear their
 * key material on free. Output buffers holding secrets are wiped on error.
 */
#include "crypto/crypto.h"

#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/proverr.h>
#include <openssl/rand.h>

/* Largest chunk handed to one EVP call that takes an int length. */
#define CHUNK_MAX ((size_t)1 << 30)

/* Algorithms fetched once by do_init and never freed: they live as long as
 * the process, like the default provider that owns them. Written only inside
 * pthread_once; read after it, which orders the reads after the writes. */
static EVP_MD *g_sha256;
static EVP_CIPHER *g_gcm128;
static EVP_CIPHER *g_gcm256;
static EVP_MAC *g_cmac;
static EVP_KDF *g_hkdf;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_init_rc = EA_ERR_CRYPTO;
/* Set only by the thread running do_init, while it exercises the wrappers:
 * their ensure_init would otherwise re-enter pthread_once and deadlock. */
static _Thread_local int t_in_init;

/* Non-NULL address for empty inputs: some EVP calls reject a NULL buffer
 * even when its length is 0. */
static const uint8_t g_empty[1];

/* Every error path ends here: the OpenSSL error queue is per thread and
 * would otherwise grow and be seen by an unrelated later caller. */
static int fail(int err)
{
    ERR_clear_error();
    return err;
}

static int exercise(void);

static void do_init(void)
{
    uint64_t opts = OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ATEXIT;
    if (OPENSSL_init_crypto(opts, NULL) != 1) {
        g_init_rc = fail(EA_ERR_CRYPTO);
        return;
    }
    g_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    g_gcm128 = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    g_gcm256 = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    g_cmac = EVP_MAC_fetch(NULL, "CMAC", NULL);
    g_hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (g_sha256 == NULL || g_gcm128 == NULL || g_gcm256 == NULL || g_cmac == NULL ||
        g_hkdf == NULL) {
        g_init_rc = fail(EA_ERR_CRYPTO);
        return;
    }
    t_in_init = 1;
    g_init_rc = exercise();
    t_in_init = 0;
}

static int ensure_init(void)
{
    if (t_in_init)
        return EA_OK;
    if (pthread_once(&g_once, do_init) != 0)
        return EA_ERR_CRYPTO;
    return g_init_rc;
}

int eai_crypto_init(void)
{
    return ensure_init();
}

int eai_random(void *buf, size_t len)
{
    /* Before init, RAND_bytes would initialise libcrypto itself, config
     * file included. */
    int rc = ensure_init();
    if (rc != EA_OK)
        return rc;
    if (buf == NULL && len > 0)
        return EA_ERR_INVAL;
    uint8_t *p = buf;
    while (len > 0) {
        size_t n = len < CHUNK_MAX ? len : CHUNK_MAX;
        if (RAND_bytes(p, (int)n) != 1)
            return fail(EA_ERR_CRYPTO);
        p += n;
        len -= n;
    }
    return EA_OK;
}

void eai_wipe(void *p, size_t len)
{
    if (p != NULL && len > 0)
        OPENSSL_cleanse(p, len);
}

int eai_ct_equal(const void *a, const void *b, size_t len)
{
    if (len == 0)
        return 1;
    return CRYPTO_memcmp(a, b, len) == 0;
}

/* ---- SHA-256 ------------------------------------------------------------ */

int eai_sha256(const void *data, size_t len, uint8_t out[32])
{
    int rc = ensure_init();
    if (rc != EA_OK)
        return rc;
    if ((data == NULL && len > 0) || out == NULL)
        return EA_ERR_INVAL;
    if (EVP_Digest(len > 0 ? data : g_empty, len, out, NULL, g_sha256, NULL) != 1)
        return fail(EA_ERR_CRYPTO);
    return EA_OK;
}

int eai_sha256_init(eai_sha256_ctx_t *c)
{
    if (c == NULL)
        return EA_ERR_INVAL;
    c->md = NULL;
    int rc = ensure_init();
    if (rc != EA_OK)
        return rc;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL)
        return fail(EA_ERR_NOMEM);
    if (EVP_DigestInit_ex2(md, g_sha256, NULL) != 1) {
        EVP_MD_CTX_free(md);
        return fail(EA_ERR_CRYPTO);
    }
    c->md = md;
    return EA_OK;
}

int eai_sha256_update(eai_sha256_ctx_t *c, const void *data, size_t len)
{
    if (c == NULL || c->md == NULL || (data == NULL && len > 0))
        return EA_ERR_INVAL;
    if (len == 0)
        return EA_OK;
    if (EVP_DigestUpdate(c->md, data, len) != 1)
        return fail(EA_ERR_CRYPTO);
    return EA_OK;
}

int eai_sha256_final(eai_sha256_ctx_t *c, uint8_t out[32])
{
    if (c == NULL || c->md == NULL)
        return EA_ERR_INVAL;
    int rc = EA_OK;
    if (out == NULL)
        rc = EA_ERR_INVAL;
    else if (EVP_DigestFinal_ex(c->md, out, NULL) != 1)
        rc = fail(EA_ERR_CRYPTO);
    EVP_MD_CTX_free(c->md);
    c->md = NULL;
    return rc;
}

void eai_sha256_abort(eai_sha256_ctx_t *c)
{
    if (c == NULL)
        return;
    EVP_MD_CTX_free(c->md);
    c->md = NULL;
}

/* ---- HKDF-SHA256 -------------------------------------------------------- */

int eai_hkdf_sha256(const uint8_t *salt, size_t saltlen, const uint8_t *ikm, size_t ikmlen,
                    const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen)
{
    int rc = ensure_init();
    if (rc != EA_OK)
        return rc;
    /* RFC 5869: L <= 255 * HashLen. */
    if ((salt == NULL && saltlen > 0) || (ikm == NULL && ikmlen > 0) ||
        (info == NULL && infolen > 0) || out == NULL || outlen == 0 || outlen > 255 * 32)
        return EA_ERR_INVAL;
    EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(g_hkdf);
    if (kctx == NULL)
        return fail(EA_ERR_NOMEM);
    /* OSSL_PARAM takes non-const pointers but only reads through them. A
     * missing salt means HashLen zero bytes (RFC 5869 section 2.2), which is
     * what HMAC makes of an empty key; salt and info are simply left out
     * when empty. */
    OSSL_PARAM params[5];
    size_t n = 0;
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA2-256", 0);
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                    (void *)(ikmlen > 0 ? ikm : g_empty), ikmlen);
    if (saltlen > 0)
        params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
    if (infolen > 0)
        params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen);
    params[n] = OSSL_PARAM_construct_end();
    rc = EA_OK;
    if (EVP_KDF_derive(kctx, out, outlen, params) != 1) {
        OPENSSL_cleanse(out, outlen);
        rc = fail(EA_ERR_CRYPTO);
    }
    /* Frees and clears the context's copies of the key and the PRK. */
    EVP_KDF_CTX_free(kctx);
    return rc;
}

/* ---- AES-128-CMAC ------------------------------------------------------- */

int eai_cmac_aes128(const uint8_t key[16], const void *data, size_t len, uint8_t mac[16])
{
    int rc = ensure_init();
    if (rc != EA_OK)
        return rc;
    if (key == NULL || (data == NULL && len > 0) || mac == NULL)
        return EA_ERR_INVAL;
    EVP_MAC_CTX *mctx = EVP_MAC_CTX_new(g_cmac);
    if (mctx == NULL)
        return fail(EA_ERR_NOMEM);
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, (char *)"AES-128-CBC", 0);
    params[1] = OSSL_PARAM_construct_end();
    size_t outl = 0;
    if (EVP_MAC_init(mctx, key, 16, params) != 1 ||
        (len > 0 && EVP_MAC_update(mctx, data, len) != 1) ||
        EVP_MAC_final(mctx, mac, &outl, 16) != 1 || outl != 16) {
        OPENSSL_cleanse(mac, 16);
        rc = fail(EA_ERR_CRYPTO);
    }
    /* Clears the expanded key and the subkeys K1, K2. */
    EVP_MAC_CTX_free(mctx);
    return rc;
}

/* ---- AES-GCM ------------------------------------------------------------ */

int eai_aead_init(eai_aead_t *a, const uint8_t *key, size_t keylen)
{
    if (a == NULL)
        return EA_ERR_INVAL;
    a->enc = NULL;
    a->dec = NULL;
    int rc = ensure_init();
    if (rc != EA_OK)
        return rc;
    if (key == NULL || (keylen != 16 && keylen != 32))
        return EA_ERR_INVAL;
    const EVP_CIPHER *cipher = keylen == 16 ? g_gcm128 : g_gcm256;
    EVP_CIPHER_CTX *enc = EVP_CIPHER_CTX_new();
    EVP_CIPHER_CTX *dec = EVP_CIPHER_CTX_new();
    if (enc == NULL || dec == NULL) {
        rc = EA_ERR_NOMEM;
        goto out;
    }
    /* The default GCM IV length is 12 bytes, which is what crypto.h fixes;
     * the IV itself is set per message. */
    if (EVP_EncryptInit_ex2(enc, cipher, key, NULL, NULL) != 1 ||
        EVP_DecryptInit_ex2(dec, cipher, key, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_get_iv_length(enc) != 12) {
        rc = EA_ERR_CRYPTO;
        goto out;
    }
    a->enc = enc;
    a->dec = dec;
    return EA_OK;
out:
    EVP_CIPHER_CTX_free(enc);
    EVP_CIPHER_CTX_free(dec);
    return fail(rc);
}

void eai_aead_fini(eai_aead_t *a)
{
    if (a == NULL)
        return;
    /* EVP_CIPHER_CTX_free has the provider clear its key schedule and
     * GHASH table before freeing them. */
    EVP_CIPHER_CTX_free(a->enc);
    EVP_CIPHER_CTX_free(a->dec);
    a->enc = NULL;
    a->dec = NULL;
}

/* Feeds len bytes of in through EVP_CipherUpdate in int-sized chunks. out
 * NULL means in is AAD. GCM is a stream mode, so each chunk yields exactly
 * as many bytes as it consumed. */
static int gcm_update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len)
{
    while (len > 0) {
        size_t n = len < CHUNK_MAX ? len : CHUNK_MAX;
        int outl = 0;
        if (EVP_CipherUpdate(ctx, out, &outl, in, (int)n) != 1 || (size_t)outl != n)
            return 0;
        in += n;
        if (out != NULL)
            out += n;
        len -= n;
    }
    return 1;
}

/* Gets (set 0) or sets (set 1) the 16-byte GCM tag with the provider's
 * parameter call itself: EVP_CIPHER_CTX_ctrl builds the same parameter on
 * a longer path (its own frame of four parameters and a dispatch over
 * every control); skipping it saved about 10 % of a small message's seal
 * plus open (ea_bench_aead). OpenSSL copies a tag it is given and never
 * writes through the pointer. */
static int gcm_tag(EVP_CIPHER_CTX *ctx, uint8_t tag[16], int set)
{
    OSSL_PARAM p[2] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, 16),
                       OSSL_PARAM_construct_end()};
    return set ? EVP_CIPHER_CTX_set_params(ctx, p) == 1 : EVP_CIPHER_CTX_get_params(ctx, p) == 1;
}

int eai_aead_seal(eai_aead_t *a, const uint8_t iv[12], const void *aad, size_t aadlen,
                  const void *pt, size_t len, void *ct, uint8_t tag[16])
{
    if (a == NULL || a->enc == NULL || iv == NULL || (aad == NULL && aadlen > 0) ||
        (len > 0 && (pt == NULL || ct == NULL)) || tag == NULL)
        return EA_ERR_INVAL;
    EVP_CIPHER_CTX *ctx = a->enc;
    /* GCM's final step writes no data (checked: outl must stay 0); the
     * scratch block only gives it a valid address, as ct may be NULL. */
    uint8_t scratch[16];
    int outl = 0;
    if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) != 1 || !gcm_update(ctx, NULL, aad, aadlen) ||
        !gcm_update(ctx, ct, pt, len) || EVP_EncryptFinal_ex(ctx, scratch, &outl) != 1 ||
        outl != 0 || !gcm_tag(ctx, tag, 0)) {
        /* Nothing half-sealed may go out. */
        if (len > 0)
            OPENSSL_cleanse(ct, len);
        OPENSSL_cleanse(tag, 16);
        return fail(EA_ERR_CRYPTO);
    }
    return EA_OK;
}

int eai_aead_open(eai_aead_t *a, const uint8_t iv[12], const void *aad, size_t aadlen,
                  const void *ct, size_t len, void *pt, const uint8_t tag[16])
{
    if (a == NULL || a->dec == NULL || iv == NULL || (aad == NULL && aadlen > 0) ||
        (len > 0 && (pt == NULL || ct == NULL)) || tag == NULL)
        return EA_ERR_INVAL;
    EVP_CIPHER_CTX *ctx = a->dec;
    uint8_t scratch[16]; /* see eai_aead_seal */
    int outl = 0;
    /* The tag is set before the data so that Final only compares; OpenSSL
     * copies it and never writes through the pointer. */
    if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, iv) != 1 || !gcm_tag(ctx, (uint8_t *)tag, 1) ||
        !gcm_update(ctx, NULL, aad, aadlen) || !gcm_update(ctx, pt, ct, len)) {
        if (len > 0)
            OPENSSL_cleanse(pt, len);
        return fail(EA_ERR_CRYPTO);
    }
    if (EVP_DecryptFinal_ex(ctx, scratch, &outl) != 1 || outl != 0) {
        /* The only way GCM's Final fails once Update succeeded is a tag
         * mismatch. The plaintext is unauthenticated: destroy it. */
        if (len > 0)
            OPENSSL_cleanse(pt, len);
        return fail(EA_ERR_AUTH);
    }
    return EA_OK;
}

/* ---- Ed25519 ------------------------------------------------------------ */

int eai_ed25519_public(const uint8_t priv[32], uint8_t pub[32])
{
    if (priv == NULL || pub == NULL)
        return EA_ERR_INVAL;
    int rc = ensure_init();
    if (rc != EA_OK)
        return rc;
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, priv, 32);
    if (pk == NULL)
        return fail(EA_ERR_CRYPTO);
    size_t publen = 32;
    if (EVP_PKEY_get_raw_public_key(pk, pub, &publen) != 1 || publen != 32)
        rc = fail(EA_ERR_CRYPTO);
    /* Frees and clears OpenSSL's copy of the private key. */
    EVP_PKEY_free(pk);
    return rc;
}

int eai_ed25519_keygen(uint8_t pub[32], uint8_t priv[32])
{
    if (pub == NULL || priv == NULL)
        return EA_ERR_INVAL;
    int rc = ensure_init();
    if (rc != EA_OK)
        return rc;
    /* RFC 8032 section 5.1.5: the private key is 32 random bytes. The
     * private DRBG keeps long-term secrets apart from public nonces. */
    if (RAND_priv_bytes(priv, 32) != 1) {
        OPENSSL_cleanse(priv, 32);
        return fail(EA_ERR_CRYPTO);
    }
    rc = eai_ed25519_public(priv, pub);
    if (rc != EA_OK)
        OPENSSL_cleanse(priv, 32);
    return rc;
}

int eai_ed25519_sign(const uint8_t priv[32], const void *msg, size_t len, uint8_t sig[64])
{
    if (priv == NULL || (msg == NULL && len > 0) || sig == NULL)
        return EA_ERR_INVAL;
    int rc = ensure_init();
    if (rc != EA_OK)
        return rc;
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, priv, 32);
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    size_t siglen = 64;
    /* Ed25519 is "pure": no digest is named and the message goes through
     * the one-shot EVP_DigestSign. */
    if (pk == NULL || mctx == NULL ||
        EVP_DigestSignInit_ex(mctx, NULL, NULL, NULL, NULL, pk, NULL) != 1 ||
        EVP_DigestSign(mctx, sig, &siglen, len > 0 ? msg : g_empty, len) != 1 || siglen != 64) {
        OPENSSL_cleanse(sig, 64);
        rc = fail(EA_ERR_CRYPTO);
    }
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_free(pk);
    return rc;
}

int eai_ed25519_verify(const uint8_t pub[32], const void *msg, size_t len, const uint8_t sig[64])
{
    if (pub == NULL || (msg == NULL && len > 0) || sig == NULL)
        return EA_ERR_INVAL;
    int rc = ensure_init();
    if (rc != EA_OK)
        return rc;
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, pub, 32);
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    if (pk == NULL || mctx == NULL ||
        EVP_DigestVerifyInit_ex(mctx, NULL, NULL, NULL, NULL, pk, NULL) != 1) {
        rc = fail(EA_ERR_CRYPTO);
    } else {
        /* 1 = valid, 0 = invalid signature (including a public key that is
         * not a curve point or a non-canonical S), < 0 = library failure. */
        int v = EVP_DigestVerify(mctx, sig, 64, len > 0 ? msg : g_empty, len);
        if (v == 0)
            rc = fail(EA_ERR_AUTH);
        else if (v != 1)
            rc = fail(EA_ERR_CRYPTO);
    }
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_free(pk);
    return rc;
}

/* ---- X25519 ------------------------------------------------------------- */

static int x25519_public(const uint8_t priv[32], uint8_t pub[32])
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key_ex(NULL, "X25519", NULL, priv, 32);
    if (pk == NULL)
        return fail(EA_ERR_CRYPTO);
    int rc = EA_OK;
    size_t publen = 32;
    if (EVP_PKEY_get_raw_public_key(pk, pub, &publen) != 1 || publen != 32)
        rc = fail(EA_ERR_CRYPTO);
    EVP_PKEY_free(pk);
    return rc;
}

int eai_x25519_keygen(uint8_t pub[32], uint8_t priv[32])
{
    if (pub == NULL || priv == NULL)
        return EA_ERR_INVAL;
    int rc = ensure_init();
    if (rc != EA_OK)
        return rc;
    /* RFC 7748 section 6.1: 32 random bytes; clamping is part of the
     * scalar multiplication, so the stored key needs none. */
    if (RAND_priv_bytes(priv, 32) != 1) {
        OPENSSL_cleanse(priv, 32);
        return fail(EA_ERR_CRYPTO);
    }
    rc = x25519_public(priv, pub);
    if (rc != EA_OK)
        OPENSSL_cleanse(priv, 32);
    return rc;
}

int eai_x25519(const uint8_t priv[32], const uint8_t peer_pub[32], uint8_t shared[32])
{
    if (priv == NULL || peer_pub == NULL || shared == NULL)
        return EA_ERR_INVAL;
    int rc = ensure_init();
    if (rc != EA_OK)
        return rc;
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key_ex(NULL, "X25519", NULL, priv, 32);
    EVP_PKEY *peer = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, peer_pub, 32);
    EVP_PKEY_CTX *pctx = pk != NULL ? EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL) : NULL;
    size_t outlen = 32;
    if (pk == NULL || peer == NULL || pctx == NULL || EVP_PKEY_derive_init(pctx) != 1 ||
        EVP_PKEY_derive_set_peer_ex(pctx, peer, 0) != 1) {
        rc = EA_ERR_CRYPTO;
    } else if (EVP_PKEY_derive(pctx, shared, &outlen) != 1 || outlen != 32) {
        /* The default provider refuses an all-zero result with this
         * reason; anything else is a library failure. */
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_LIB(e) == ERR_LIB_PROV && ERR_GET_REASON(e) == PROV_R_FAILED_DURING_DERIVATION)
            rc = EA_ERR_AUTH;
        else
            rc = EA_ERR_CRYPTO;
    } else {
        /* RFC 7748 section 6.1: a small-order peer point yields zero; the
         * check is constant time like the rest of the exchange. */
        uint8_t acc = 0;
        for (size_t i = 0; i < 32; i++)
            acc |= shared[i];
        if (acc == 0)
            rc = EA_ERR_AUTH;
    }
    if (rc != EA_OK) {
        OPENSSL_cleanse(shared, 32);
        ERR_clear_error();
    }
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(peer);
    EVP_PKEY_free(pk);
    return rc;
}

/* ---- Warm-up ------------------------------------------------------------ */

/* One operation of every kind, failures included, so that every lazily
 * built piece of OpenSSL state exists before confinement (see the design
 * notes). Runs inside do_init with t_in_init set. Returns EA_OK
 * or the first unexpected result. */
static int exercise(void)
{
    uint8_t buf[64], out[64], tag[16], pub[32], priv[32], pub2[32], priv2[32];
    uint8_t key[32] = {0}, iv[12] = {0};
    int rc;

    if ((rc = eai_random(buf, sizeof buf)) != EA_OK)
        return rc;
    if (RAND_priv_bytes(buf, 1) != 1)
        return fail(EA_ERR_CRYPTO);
    if ((rc = eai_sha256(buf, sizeof buf, out)) != EA_OK)
        return rc;
    eai_sha256_ctx_t sc;
    if ((rc = eai_sha256_init(&sc)) != EA_OK)
        return rc;
    if ((rc = eai_sha256_update(&sc, buf, sizeof buf)) != EA_OK) {
        eai_sha256_abort(&sc);
        return rc;
    }
    if ((rc = eai_sha256_final(&sc, out)) != EA_OK)
        return rc;
    if ((rc = eai_hkdf_sha256(buf, 16, buf, 32, buf, 8, out, 42)) != EA_OK)
        return rc;
    if ((rc = eai_hkdf_sha256(NULL, 0, buf, 32, NULL, 0, out, 32)) != EA_OK)
        return rc;
    if ((rc = eai_cmac_aes128(key, buf, sizeof buf, tag)) != EA_OK)
        return rc;

    for (size_t keylen = 16; keylen <= 32; keylen += 16) {
        eai_aead_t a;
        if ((rc = eai_aead_init(&a, key, keylen)) != EA_OK)
            return rc;
        rc = eai_aead_seal(&a, iv, buf, 8, buf, sizeof buf, out, tag);
        if (rc == EA_OK)
            rc = eai_aead_open(&a, iv, buf, 8, out, sizeof buf, out, tag);
        if (rc == EA_OK) {
            /* The failure path too: a wrong tag must say EA_ERR_AUTH. */
            tag[0] ^= 1;
            rc = eai_aead_open(&a, iv, buf, 8, out, sizeof buf, out, tag) == EA_ERR_AUTH
                     ? EA_OK
                     : EA_ERR_CRYPTO;
        }
        eai_aead_fini(&a);
        if (rc != EA_OK)
            return rc;
    }

    if ((rc = eai_ed25519_keygen(pub, priv)) != EA_OK)
        return rc;
    rc = eai_ed25519_sign(priv, buf, 16, out);
    if (rc == EA_OK)
        rc = eai_ed25519_verify(pub, buf, 16, out);
    if (rc == EA_OK) {
        out[0] ^= 1;
        rc = eai_ed25519_verify(pub, buf, 16, out) == EA_ERR_AUTH ? EA_OK : EA_ERR_CRYPTO;
    }
    if (rc == EA_OK)
        rc = eai_x25519_keygen(pub, priv);
    if (rc == EA_OK)
        rc = eai_x25519_keygen(pub2, priv2);
    if (rc == EA_OK)
        rc = eai_x25519(priv, pub2, out);
    if (rc == EA_OK) {
        /* The all-zero u-coordinate is of small order. */
        uint8_t zero[32] = {0};
        rc = eai_x25519(priv, zero, out) == EA_ERR_AUTH ? EA_OK : EA_ERR_CRYPTO;
    }
    OPENSSL_cleanse(priv, sizeof priv);
    OPENSSL_cleanse(priv2, sizeof priv2);
    OPENSSL_cleanse(out, sizeof out);
    ERR_clear_error();
    return rc;
}
