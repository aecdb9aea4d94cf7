/*
 * Checks the promise of eai_crypto_init (src/crypto/crypto.h): once it has
 * run, the wrappers make no system call outside the enclave allow-list.
 *
 * The harness (tests/common/confined.h) calls eai_crypto_init in a forked
 * child, installs the enclave's own seccomp filter and runs every wrapper
 * once on the main thread and once on a helper thread; the helper's run is
 * the first crypto call of that thread, as for a worker started before
 * confinement, so OpenSSL's per-thread state (DRBGs, error queue) is built
 * under the filter. The parent names a forbidden system call if there was
 * one.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "confined.h"
#include "crypto/crypto.h"

/* One call of every wrapper, each checked for the right result. */
static void run_all(void)
{
    uint8_t buf[100], out[100], h[32], h2[32], tag[16], key[32], iv[12];
    uint8_t pub[32], priv[32], pub2[32], priv2[32], s1[32], s2[32], sig[64];

    CHECK(eai_random(buf, sizeof buf) == EA_OK);
    CHECK(eai_random(key, sizeof key) == EA_OK);
    CHECK(eai_random(iv, sizeof iv) == EA_OK);
    CHECK(eai_ct_equal(buf, buf, sizeof buf) == 1);

    CHECK(eai_sha256(buf, sizeof buf, h) == EA_OK);
    eai_sha256_ctx_t c;
    CHECK(eai_sha256_init(&c) == EA_OK);
    CHECK(eai_sha256_update(&c, buf, 10) == EA_OK);
    CHECK(eai_sha256_update(&c, buf + 10, sizeof buf - 10) == EA_OK);
    CHECK(eai_sha256_final(&c, h2) == EA_OK);
    CHECK(memcmp(h, h2, 32) == 0);
    CHECK(eai_sha256_init(&c) == EA_OK);
    eai_sha256_abort(&c);

    CHECK(eai_hkdf_sha256(buf, 13, buf, 22, buf, 10, out, 42) == EA_OK);
    CHECK(eai_hkdf_sha256(NULL, 0, buf, 22, NULL, 0, out, 64) == EA_OK);
    CHECK(eai_cmac_aes128(key, buf, 40, tag) == EA_OK);

    for (size_t keylen = 16; keylen <= 32; keylen += 16) {
        eai_aead_t a;
        CHECK(eai_aead_init(&a, key, keylen) == EA_OK);
        CHECK(eai_aead_seal(&a, iv, buf, 20, buf, sizeof buf, out, tag) == EA_OK);
        CHECK(eai_aead_open(&a, iv, buf, 20, out, sizeof buf, out, tag) == EA_OK);
        CHECK(memcmp(out, buf, sizeof buf) == 0);
        CHECK(eai_aead_seal(&a, iv, buf, 20, out, sizeof buf, out, tag) == EA_OK);
        tag[5] ^= 1;
        CHECK(eai_aead_open(&a, iv, buf, 20, out, sizeof buf, out, tag) == EA_ERR_AUTH);
        eai_aead_fini(&a);
    }

    CHECK(eai_ed25519_keygen(pub, priv) == EA_OK);
    CHECK(eai_ed25519_public(priv, pub2) == EA_OK);
    CHECK(memcmp(pub, pub2, 32) == 0);
    CHECK(eai_ed25519_sign(priv, buf, sizeof buf, sig) == EA_OK);
    CHECK(eai_ed25519_verify(pub, buf, sizeof buf, sig) == EA_OK);
    sig[63] ^= 1;
    CHECK(eai_ed25519_verify(pub, buf, sizeof buf, sig) == EA_ERR_AUTH);

    CHECK(eai_x25519_keygen(pub, priv) == EA_OK);
    CHECK(eai_x25519_keygen(pub2, priv2) == EA_OK);
    CHECK(eai_x25519(priv, pub2, s1) == EA_OK);
    CHECK(eai_x25519(priv2, pub, s2) == EA_OK);
    CHECK(memcmp(s1, s2, 32) == 0);
    uint8_t zero[32] = {0};
    CHECK(eai_x25519(priv, zero, s1) == EA_ERR_AUTH);

    eai_wipe(priv, sizeof priv);
    eai_wipe(priv2, sizeof priv2);
}

int main(void)
{
    /* A second round on the main thread, after the helper's, finds
     * everything in place. */
    static const struct ea_test_confined t = {
        .init = eai_crypto_init,
        .init_name = "eai_crypto_init",
        .run_all = run_all,
        .again = true,
        .ok = "every crypto wrapper ran under the seccomp allow-list",
    };
    return ea_test_confined_main(&t);
}
