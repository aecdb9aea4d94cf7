/*
 * SCRAM arithmetic (RFC 5802, RFC 7677) and base64, over libcrypto (which
 * the launcher has loaded; the enclave opens no library), and the enclave's
 * random bytes (getrandom, allowed by the enclave's system-call filter).
 */
#ifndef XMPP_XCRYPTO_H
#define XMPP_XCRYPTO_H
#include <stddef.h>
#include <stdint.h>

#define XC_MAXH 32 /* SHA-256 */

/* hash: 1 = SHA-1, 256 = SHA-256. Length of its digest, or 0. */
size_t xc_hlen(int hash);
int xc_hash(int hash, const void *d, size_t n, uint8_t *out);
int xc_hmac(int hash, const uint8_t *key, size_t klen, const void *d, size_t n, uint8_t *out);
/* StoredKey and ServerKey from a password (PBKDF2 salted password). */
int xc_scram_keys(int hash, const char *pw, size_t pwlen, const uint8_t *salt, size_t slen,
                  uint32_t iter, uint8_t *stored, uint8_t *server);
int xc_random(void *buf, size_t n);
/* Base64 (standard alphabet, padded). Encode: returns the length written
 * (out needs 4*ceil(n/3)+1). Decode: bytes written, or -1 if malformed or
 * over cap. */
size_t xc_b64enc(const void *in, size_t n, char *out);
long xc_b64dec(const char *in, size_t n, uint8_t *out, size_t cap);
int xc_memeq(const void *a, const void *b, size_t n); /* constant time */
#endif
