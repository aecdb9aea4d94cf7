/* eactors keygen | sign | measure | inspect: image identities. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "platform/platform.h"
#include "tools/cmds.h"
#include "trust/trust.h"

/* Images up to 1 GiB, like the runtime's image reader. */
#define MAX_INPUT_BYTES (1u << 30)

static int read_all(const char *path, uint8_t **buf, size_t *len)
{
    int rc = eai_file_read_all(path, MAX_INPUT_BYTES, buf, len);
    if (rc == EA_OK)
        return 0;
    if (rc == EA_ERR_NOTFOUND || rc == EA_ERR_SYS)
        fprintf(stderr, "eactors: cannot open '%s': %s\n", path,
                strerror(rc == EA_ERR_NOTFOUND ? ENOENT : errno));
    else
        fprintf(stderr, "eactors: cannot read '%s'\n", path);
    return -1;
}

static int parse_u16(const char *s, uint16_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (errno || end == s || *end != '\0' || v > 0xffff)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

static void print_hex(const char *label, const uint8_t *b, size_t n)
{
    char hex[2 * 64 + 1];
    eai_hex(b, n, hex);
    printf("%-12s %s\n", label, hex);
}

int cmd_keygen(int argc, char **argv)
{
    const char *out = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else {
            fprintf(stderr, "usage: eactors keygen --out KEY.pem\n");
            return 2;
        }
    }
    if (out == NULL) {
        fprintf(stderr, "usage: eactors keygen --out KEY.pem\n");
        return 2;
    }
    char err[256];
    uint8_t priv[32], pub[32], mrs[32];
    if (eai_crypto_init() != EA_OK || eai_key_generate(out, err, sizeof err) != EA_OK) {
        fprintf(stderr, "eactors: keygen: %s\n", err);
        return 1;
    }
    if (eai_key_load(out, priv, err, sizeof err) != EA_OK ||
        eai_ed25519_public(priv, pub) != EA_OK || eai_mrsigner(pub, mrs) != EA_OK) {
        fprintf(stderr, "eactors: keygen: %s\n", err);
        eai_wipe(priv, sizeof priv);
        return 1;
    }
    eai_wipe(priv, sizeof priv);
    printf("wrote %s (Ed25519, mode 0600)\n", out);
    print_hex("MRSIGNER", mrs, 32);
    return 0;
}

int cmd_sign(int argc, char **argv)
{
    const char *key = NULL, *image = NULL, *out = NULL;
    eai_sigstruct_t s;
    memset(&s, 0, sizeof s);
    s.attributes.flags = EA_FLAGS_MODE64BIT;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
            key = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--prodid") == 0 && i + 1 < argc) {
            if (parse_u16(argv[++i], &s.isv_prod_id) != 0) {
                fprintf(stderr, "eactors: sign: bad --prodid '%s' (0..65535)\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--svn") == 0 && i + 1 < argc) {
            if (parse_u16(argv[++i], &s.isv_svn) != 0) {
                fprintf(stderr, "eactors: sign: bad --svn '%s' (0..65535)\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--debug") == 0)
            s.attributes.flags |= EA_FLAGS_DEBUG;
        else if (strcmp(argv[i], "--system-only") == 0)
            s.launch |= EAI_SIG_SYSTEM_ONLY;
        else if (argv[i][0] != '-' && image == NULL)
            image = argv[i];
        else {
            fprintf(stderr, "usage: eactors sign --key KEY.pem [--prodid N] [--svn N] [--debug] "
                            "[--system-only] IMAGE.so [--out IMAGE.so.sig]\n");
            return 2;
        }
    }
    if (key == NULL || image == NULL) {
        fprintf(stderr, "usage: eactors sign --key KEY.pem [--prodid N] [--svn N] [--debug] "
                        "[--system-only] IMAGE.so [--out IMAGE.so.sig]\n");
        return 2;
    }
    char err[256], sigpath[4096];
    snprintf(sigpath, sizeof sigpath, "%s.sig", image);
    uint8_t priv[32], *bytes;
    size_t len;
    if (eai_crypto_init() != EA_OK || eai_key_load(key, priv, err, sizeof err) != EA_OK) {
        fprintf(stderr, "eactors: sign: %s\n", err);
        return 1;
    }
    if (read_all(image, &bytes, &len) != 0) {
        eai_wipe(priv, sizeof priv);
        return 1;
    }
    s.date = (uint64_t)time(NULL);
    int rc = eai_measure(bytes, len, &s.attributes, s.mr_enclave);
    free(bytes);
    if (rc == EA_OK)
        rc = eai_sigstruct_sign(&s, priv);
    eai_wipe(priv, sizeof priv);
    if (rc != EA_OK) {
        fprintf(stderr, "eactors: sign: %s\n", ea_strerror(rc));
        return 1;
    }
    uint8_t enc[EAI_SIGSTRUCT_SIZE];
    eai_sigstruct_encode(&s, enc);
    const char *dst = out ? out : sigpath;
    if (eai_file_write_atomic(EAI_CWD, dst, enc, sizeof enc, 0644, EAI_WRITE_REPLACE, NULL) !=
        EA_OK) {
        fprintf(stderr, "eactors: sign: cannot write '%s'\n", dst);
        return 1;
    }
    uint8_t mrs[32];
    eai_mrsigner(s.signer_pub, mrs);
    printf("signed %s -> %s\n", image, dst);
    print_hex("MRENCLAVE", s.mr_enclave, 32);
    print_hex("MRSIGNER", mrs, 32);
    printf("%-12s %u\n%-12s %u\n%-12s %s\n", "ISVPRODID", s.isv_prod_id, "ISVSVN", s.isv_svn,
           "DEBUG", (s.attributes.flags & EA_FLAGS_DEBUG) ? "yes" : "no");
    if (s.launch & EAI_SIG_SYSTEM_ONLY)
        printf("%-12s %s\n", "launch", "system mode only");
    return 0;
}

int cmd_measure(int argc, char **argv)
{
    ea_attributes_t attr = {.flags = EA_FLAGS_MODE64BIT, .xfrm = 0};
    const char *image = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--debug") == 0)
            attr.flags |= EA_FLAGS_DEBUG;
        else if (argv[i][0] != '-' && image == NULL)
            image = argv[i];
        else {
            fprintf(stderr, "usage: eactors measure [--debug] IMAGE.so\n");
            return 2;
        }
    }
    if (image == NULL) {
        fprintf(stderr, "usage: eactors measure [--debug] IMAGE.so\n");
        return 2;
    }
    uint8_t *bytes, m[32];
    size_t len;
    if (eai_crypto_init() != EA_OK || read_all(image, &bytes, &len) != 0)
        return 1;
    int rc = eai_measure(bytes, len, &attr, m);
    free(bytes);
    if (rc != EA_OK) {
        fprintf(stderr, "eactors: measure: %s\n", ea_strerror(rc));
        return 1;
    }
    char hex[65];
    eai_hex(m, 32, hex);
    printf("%s  %s\n", hex, image);
    return 0;
}

int cmd_inspect(int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "usage: eactors inspect IMAGE.so\n");
        return 2;
    }
    const char *image = argv[0];
    char sigpath[4096], err[256];
    snprintf(sigpath, sizeof sigpath, "%s.sig", image);
    uint8_t *bytes, *sig;
    size_t len, siglen;
    if (eai_crypto_init() != EA_OK || read_all(image, &bytes, &len) != 0)
        return 1;
    if (read_all(sigpath, &sig, &siglen) != 0) {
        free(bytes);
        return 1;
    }
    eai_sigstruct_t s;
    if (eai_sigstruct_decode(sig, siglen, &s, err, sizeof err) != EA_OK) {
        fprintf(stderr, "eactors: inspect: signature file '%s' is malformed: %s\n", sigpath, err);
        free(bytes);
        free(sig);
        return 1;
    }
    eai_identity_t id;
    int rc = eai_einit(bytes, len, sig, siglen, image, sigpath, &id, err, sizeof err);
    free(bytes);
    free(sig);
    uint8_t mrs[32];
    eai_mrsigner(s.signer_pub, mrs);
    printf("image        %s\n", image);
    print_hex("MRENCLAVE", s.mr_enclave, 32);
    print_hex("MRSIGNER", mrs, 32);
    print_hex("signer key", s.signer_pub, 32);
    printf("%-12s %u\n%-12s %u\n", "ISVPRODID", s.isv_prod_id, "ISVSVN", s.isv_svn);
    printf("%-12s 0x%llx%s%s\n", "attributes", (unsigned long long)s.attributes.flags,
           (s.attributes.flags & EA_FLAGS_DEBUG) ? " DEBUG" : "",
           (s.attributes.flags & EA_FLAGS_MODE64BIT) ? " MODE64BIT" : "");
    time_t t = (time_t)s.date;
    char when[64];
    struct tm tmv;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tmv));
    printf("%-12s %s\n", "signed", when);
    if (s.launch & EAI_SIG_SYSTEM_ONLY)
        printf("%-12s %s\n", "launch", "system mode only");
    if (rc == EA_OK) {
        printf("%-12s ok: the image matches its signature file\n", "check");
        return 0;
    }
    printf("%-12s FAILED: %s\n", "check", err);
    return 1;
}
