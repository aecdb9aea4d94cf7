/*
 * Fuzz target: sealed blobs (src/trust/seal.c). Input: the bytes of a
 * sealed blob as the host hands it back, copied into a buffer of exactly
 * that size. An enclave of a fixed identity on a platform with a fixed
 * secret unseals it with ea_unseal_data_ex (the blob's size known) into
 * large buffers, so only the blob's size bounds what may be read; and with
 * ea_unseal_data, called only as its contract says (after checking that the
 * blob holds what its header records).
 *
 * Oracles beyond the sanitizers: both calls agree; success means the
 * lengths add up to the blob's size; a failure leaves the lengths as given.
 *
 * Seeds are made by the real code (ea_seal_data on the same platform):
 * `EA_FUZZ_SEEDS=<dir> fuzz_sealed` writes them and exits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "fuzz_platform.h"
#include "trust/trust.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char image[] = "the fixed enclave image of the sealed fuzz target";
static const uint8_t signer[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static eai_pcore_t pc;
static eai_local_platform_t lp;
static uint8_t add[1 << 16], txt[1 << 16];

/* A platform whose secret never changes, so seeds stay valid. */
static void platform_init(void)
{
    fuzz_platform(&pc, &lp, image, signer, 3);
}

static void seed(const char *dir, const char *name, uint16_t policy, const char *mac,
                 const char *text)
{
    uint32_t al = (uint32_t)strlen(mac), tl = (uint32_t)strlen(text);
    uint32_t n = ea_calc_sealed_data_size(al, tl);
    ea_sealed_data_t *s = malloc(n);
    ea_attributes_t mask = {.flags = EA_FLAGS_INITTED | EA_FLAGS_DEBUG, .xfrm = 0};
    if (s == NULL || ea_seal_data_ex(policy, mask, 0, al, (const uint8_t *)mac, tl,
                                     (const uint8_t *)text, n, s) != EA_OK)
        abort();
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(s, 1, n, f) != n || fclose(f) != 0)
        abort();
    free(s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (eai_crypto_init() != EA_OK)
        abort();
    platform_init();
    const char *dir = getenv("EA_FUZZ_SEEDS");
    if (dir == NULL)
        return 0;
    seed(dir, "signer-both", EA_KEYPOLICY_MRSIGNER, "additional text", "secret text");
    seed(dir, "enclave-both", EA_KEYPOLICY_MRENCLAVE, "mac", "a longer secret text to unseal");
    seed(dir, "text-only", EA_KEYPOLICY_MRSIGNER, "", "only secret");
    seed(dir, "mac-only", EA_KEYPOLICY_MRSIGNER, "only additional", "");
    seed(dir, "empty", EA_KEYPOLICY_MRSIGNER, "", "");
    exit(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > UINT32_MAX)
        return 0;
    /* Exactly `size` bytes, aligned as a blob in memory is. */
    ea_sealed_data_t *blob = malloc(size > 0 ? size : 1);
    if (blob == NULL)
        return 0;
    memcpy(blob, data, size);
    uint32_t al = sizeof add, tl = sizeof txt;
    int rc = ea_unseal_data_ex(blob, (uint32_t)size, add, &al, txt, &tl);
    if (rc == EA_OK) {
        if ((uint64_t)sizeof(ea_sealed_data_t) + al + tl != size)
            abort();
    } else if (al != sizeof add || tl != sizeof txt) {
        abort();
    }
    /* The size-less call, used as documented: only when the blob holds at
     * least its header and exactly what the header records. */
    if (size >= sizeof(ea_sealed_data_t)) {
        uint32_t need =
            ea_calc_sealed_data_size(ea_get_add_mac_txt_len(blob), ea_get_encrypt_txt_len(blob));
        if (need == size) {
            uint32_t al2 = sizeof add, tl2 = sizeof txt;
            int rc2 = ea_unseal_data(blob, add, &al2, txt, &tl2);
            if (rc2 != rc || (rc == EA_OK && (al2 != al || tl2 != tl)))
                abort();
        }
    }
    free(blob);
    return 0;
}
