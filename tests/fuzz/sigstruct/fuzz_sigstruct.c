/*
 * Fuzz target: signature files (src/trust/identity.c). Input: the bytes of
 * a `<image>.sig` file. Each input is decoded, its signature verified, and
 * given to EINIT against one fixed image.
 *
 * Oracles beyond the sanitizers: a decoded file re-encodes to exactly its
 * bytes (one encoding per signed statement); EINIT accepts only a file that
 * decodes, verifies and names the fixed image's measurement; every refusal
 * leaves a terminated reason.
 *
 * Seeds are made by the real code: `EA_FUZZ_SEEDS=<dir> fuzz_sigstruct`
 * writes them and exits (tests/fuzz/sigstruct/corpus holds its output).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "trust/trust.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char image[] = "the fixed enclave image of the sigstruct fuzz target";
static const uint8_t key1[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t key2[32] = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
                                 0xac, 0xad, 0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6,
                                 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf, 0xc0};

static void sign(const char *img, uint64_t flags, uint16_t prod, uint16_t svn,
                 const uint8_t key[32], uint8_t out[EAI_SIGSTRUCT_SIZE])
{
    eai_sigstruct_t s;
    memset(&s, 0, sizeof s);
    s.attributes.flags = flags;
    s.isv_prod_id = prod;
    s.isv_svn = svn;
    s.date = 1700000000;
    if (eai_measure(img, strlen(img), &s.attributes, s.mr_enclave) != EA_OK ||
        eai_sigstruct_sign(&s, key) != EA_OK)
        abort();
    eai_sigstruct_encode(&s, out);
}

static void write_seed(const char *dir, const char *name, const void *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (eai_crypto_init() != EA_OK)
        abort();
    const char *dir = getenv("EA_FUZZ_SEEDS");
    if (dir == NULL)
        return 0;
    uint8_t sig[EAI_SIGSTRUCT_SIZE];
    sign(image, EA_FLAGS_MODE64BIT, 1, 1, key1, sig);
    write_seed(dir, "valid", sig, sizeof sig);
    sign(image, EA_FLAGS_MODE64BIT | EA_FLAGS_DEBUG, 7, 65535, key2, sig);
    write_seed(dir, "valid-debug", sig, sizeof sig);
    sign("another image", EA_FLAGS_MODE64BIT, 1, 1, key1, sig);
    write_seed(dir, "other-image", sig, sizeof sig);
    sign(image, EA_FLAGS_MODE64BIT, 1, 1, key1, sig);
    write_seed(dir, "truncated", sig, 100);
    exit(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    eai_sigstruct_t s;
    memset(err, 'x', sizeof err);
    int decoded = eai_sigstruct_decode(data, size, &s, err, sizeof err);
    if (decoded == EA_OK) {
        uint8_t again[EAI_SIGSTRUCT_SIZE];
        eai_sigstruct_encode(&s, again);
        if (size != EAI_SIGSTRUCT_SIZE || memcmp(again, data, size) != 0)
            abort(); /* two encodings of one statement */
    } else if (memchr(err, '\0', sizeof err) == NULL) {
        abort();
    }
    int verified = decoded == EA_OK ? eai_sigstruct_verify(&s) : EA_ERR_PARSE;
    if (verified != EA_OK && verified != EA_ERR_AUTH && verified != EA_ERR_PARSE)
        abort();

    eai_identity_t id;
    memset(err, 'x', sizeof err);
    int rc = eai_einit(image, sizeof image - 1, data, size, "img", "img.sig", &id, err, sizeof err);
    if (rc == EA_OK) {
        uint8_t mr[32];
        if (verified != EA_OK || eai_measure(image, sizeof image - 1, &s.attributes, mr) != EA_OK ||
            memcmp(mr, id.mr_enclave, 32) != 0 || memcmp(mr, s.mr_enclave, 32) != 0 ||
            !(id.attributes.flags & EA_FLAGS_INITTED))
            abort();
    } else if (memchr(err, '\0', sizeof err) == NULL || err[0] == '\0') {
        abort();
    }
    return 0;
}
