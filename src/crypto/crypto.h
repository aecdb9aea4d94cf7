/*
 * Thin wrappers over OpenSSL libcrypto (3.x). No cipher is written by hand.
 * Every function returns EA_OK or a negative ea_err; OpenSSL errors are
 * mapped to EA_ERR_CRYPTO (and EA_ERR_AUTH where a check failed), and the
 * OpenSSL error queue is cleared, never leaked to callers.
 *
 * Thread-safety: all functions are thread-safe; an eai_aead_t must not be
 * used by two threads at once.
 */
#ifndef EAI_CRYPTO_H
#define EAI_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <eactors/ea_err.h>

/* Initialises libcrypto without reading any configuration file and fetches
 * every algorithm used below, so that later calls make no system call other
 * than getrandom. Call once per process before seccomp confinement.
 * Idempotent. */
int eai_crypto_init(void);

/* Cryptographically secure random bytes (RAND_bytes). */
int eai_random(void *buf, size_t len);

/* Wipes memory so the compiler cannot drop it (OPENSSL_cleanse). */
void eai_wipe(void *p, size_t len);

/* Constant-time comparison: 1 if equal, 0 if not (CRYPTO_memcmp). */
int eai_ct_equal(const void *a, const void *b, size_t len);

/* SHA-256, one shot and incremental. */
int eai_sha256(const void *data, size_t len, uint8_t out[32]);
typedef struct eai_sha256_ctx {
    void *md; /* EVP_MD_CTX */
} eai_sha256_ctx_t;
int eai_sha256_init(eai_sha256_ctx_t *c);
int eai_sha256_update(eai_sha256_ctx_t *c, const void *data, size_t len);
int eai_sha256_final(eai_sha256_ctx_t *c, uint8_t out[32]); /* also frees */
void eai_sha256_abort(eai_sha256_ctx_t *c);                 /* frees without output */

/* HKDF-SHA256 (RFC 5869), extract and expand. salt may be NULL/0. */
int eai_hkdf_sha256(const uint8_t *salt, size_t saltlen, const uint8_t *ikm, size_t ikmlen,
                    const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen);

/* SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit hash, a PRF
 * for short inputs; used to look keys up without showing them. */
uint64_t eai_siphash24(const uint8_t key[16], const void *data, size_t len);
/* SipHash-1-3: the same keyed function with one compression and three
 * finalisation rounds, about 40% fewer rounds for a short key. Still a
 * keyed hash an attacker cannot predict without the key (no published
 * key recovery or collision attack; the default of hash tables that must
 * resist flooding, e.g. CPython's and Rust's), but a thinner margin than
 * 2-4: for index lookups in private memory only (EOS trusted stores); the
 * encrypted stores, whose hashes the host sees, keep SipHash-2-4. */
uint64_t eai_siphash13(const uint8_t key[16], const void *data, size_t len);

/* AES-128-CMAC (RFC 4493 / NIST SP 800-38B). */
int eai_cmac_aes128(const uint8_t key[16], const void *data, size_t len, uint8_t mac[16]);

/* AES-GCM with 12-byte IVs and 16-byte tags; key of 16 (AES-128) or 32
 * (AES-256) bytes. A context is made once per key and reused for every
 * message: seal/open allocate nothing. */
typedef struct eai_aead {
    void *enc; /* EVP_CIPHER_CTX, key set, for sealing */
    void *dec; /* EVP_CIPHER_CTX, key set, for opening */
} eai_aead_t;
int eai_aead_init(eai_aead_t *a, const uint8_t *key, size_t keylen);
void eai_aead_fini(eai_aead_t *a); /* frees and wipes the key schedule */
/* Encrypts len bytes of pt into ct (may be the same buffer), authenticates
 * aad too, writes the tag. len may be 0. */
int eai_aead_seal(eai_aead_t *a, const uint8_t iv[12], const void *aad, size_t aadlen,
                  const void *pt, size_t len, void *ct, uint8_t tag[16]);
/* Decrypts and verifies; on EA_ERR_AUTH the output must not be used (it is
 * zeroed). */
int eai_aead_open(eai_aead_t *a, const uint8_t iv[12], const void *aad, size_t aadlen,
                  const void *ct, size_t len, void *pt, const uint8_t tag[16]);

/* Ed25519 (RFC 8032). Keys are raw 32-byte values. */
int eai_ed25519_keygen(uint8_t pub[32], uint8_t priv[32]);
int eai_ed25519_public(const uint8_t priv[32], uint8_t pub[32]);
int eai_ed25519_sign(const uint8_t priv[32], const void *msg, size_t len, uint8_t sig[64]);
/* EA_OK if valid, EA_ERR_AUTH if not. */
int eai_ed25519_verify(const uint8_t pub[32], const void *msg, size_t len, const uint8_t sig[64]);

/* X25519 (RFC 7748) key agreement. Raw 32-byte keys. eai_x25519 refuses an
 * all-zero shared secret (small-order peer key) with EA_ERR_AUTH. */
int eai_x25519_keygen(uint8_t pub[32], uint8_t priv[32]);
int eai_x25519(const uint8_t priv[32], const uint8_t peer_pub[32], uint8_t shared[32]);

#endif
