/*
 * Identity: measurement, the signature file (SIGSTRUCT analog), EINIT and
 * the signers' key files.
 *
 * Design notes.
 *
 * MRENCLAVE covers the attributes as well as the bytes, so a debug build of
 * the same image is a different enclave, as in SGX where ECREATE's SECS
 * attributes enter the measurement. The signature covers every byte of the
 * signature file before it ([0,144)), including the reserved bytes, which
 * the decoder requires to be zero: there is exactly one encoding of each
 * signed statement, so a verifier never has to reason about fields it
 * ignores.
 *
 * eai_einit is the only place an identity is made. It measures the bytes it
 * was given (the loader passes the sealed memfd it will map, so the bytes
 * checked are the bytes run), checks the signature, and compares the
 * measurement in constant time; MRSIGNER is computed from the key in the
 * file, so whoever signs is who the enclave says signed it.
 *
 * Key files use OpenSSL's PEM PKCS#8 encoding directly (the crypto wrappers
 * deal in raw keys only). A key file is created with O_EXCL and mode 0600,
 * so generating never overwrites a key and the key is never readable by
 * others, not even for a moment.
 */
#include "trust/trust_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "crypto/crypto.h"
#include "platform/platform.h"

static const uint8_t sig_magic[8] = {'E', 'A', 'S', 'I', 'G', 0, 0, 1};
static const char measure_label[] = "EACTORS-MRENCLAVE-1";

enum {
    SIG_VERSION = 1,
    OFF_MAGIC = 0,
    OFF_VERSION = 8,
    OFF_SIZE = 12,
    OFF_MRENCLAVE = 16,
    OFF_FLAGS = 48,
    OFF_XFRM = 56,
    OFF_PRODID = 64,
    OFF_SVN = 66,
    OFF_MISC = 68,
    OFF_DATE = 72,
    OFF_LAUNCH = 80,
    OFF_RESERVED = 84,
    OFF_PUB = 112,
    OFF_SIG = 144,
    SIGNED_LEN = OFF_SIG,
};

void eai_trust_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void eai_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * n] = '\0';
}

eai_short_hex_t eai_trust_short_hex(const uint8_t h[32])
{
    eai_short_hex_t r;
    eai_hex(h, 8, r.s);
    return r;
}

void eai_attr_bytes(const ea_attributes_t *a, uint8_t out[16])
{
    eai_put_le64(out, a->flags);
    eai_put_le64(out + 8, a->xfrm);
}

int eai_measure(const void *image, size_t len, const ea_attributes_t *attr, uint8_t mr_enclave[32])
{
    if ((image == NULL && len > 0) || attr == NULL || mr_enclave == NULL)
        return EA_ERR_INVAL;
    uint8_t ab[16];
    eai_attr_bytes(attr, ab);
    eai_sha256_ctx_t c;
    int rc = eai_sha256_init(&c);
    if (rc != EA_OK)
        return rc;
    if ((rc = eai_sha256_update(&c, measure_label, sizeof measure_label - 1)) != EA_OK ||
        (rc = eai_sha256_update(&c, ab, sizeof ab)) != EA_OK ||
        (rc = eai_sha256_update(&c, image, len)) != EA_OK) {
        eai_sha256_abort(&c);
        return rc;
    }
    return eai_sha256_final(&c, mr_enclave);
}

int eai_mrsigner(const uint8_t pub[32], uint8_t mr_signer[32])
{
    if (pub == NULL || mr_signer == NULL)
        return EA_ERR_INVAL;
    return eai_sha256(pub, 32, mr_signer);
}

void eai_sigstruct_encode(const eai_sigstruct_t *s, uint8_t out[EAI_SIGSTRUCT_SIZE])
{
    memset(out, 0, EAI_SIGSTRUCT_SIZE);
    memcpy(out + OFF_MAGIC, sig_magic, sizeof sig_magic);
    eai_put_le32(out + OFF_VERSION, SIG_VERSION);
    eai_put_le32(out + OFF_SIZE, EAI_SIGSTRUCT_SIZE);
    memcpy(out + OFF_MRENCLAVE, s->mr_enclave, 32);
    eai_put_le64(out + OFF_FLAGS, s->attributes.flags);
    eai_put_le64(out + OFF_XFRM, s->attributes.xfrm);
    eai_put_le16(out + OFF_PRODID, s->isv_prod_id);
    eai_put_le16(out + OFF_SVN, s->isv_svn);
    eai_put_le32(out + OFF_MISC, s->misc_select);
    eai_put_le64(out + OFF_DATE, s->date);
    eai_put_le32(out + OFF_LAUNCH, s->launch);
    memcpy(out + OFF_PUB, s->signer_pub, 32);
    memcpy(out + OFF_SIG, s->signature, 64);
}

int eai_sigstruct_decode(const uint8_t *buf, size_t len, eai_sigstruct_t *out, char *err,
                         size_t errlen)
{
    if (out == NULL || (buf == NULL && len > 0))
        return EA_ERR_INVAL;
    if (len != EAI_SIGSTRUCT_SIZE) {
        eai_trust_errf(err, errlen, "wrong size %zu (expected %u)", len, EAI_SIGSTRUCT_SIZE);
        return EA_ERR_PARSE;
    }
    if (memcmp(buf + OFF_MAGIC, sig_magic, sizeof sig_magic) != 0) {
        eai_trust_errf(err, errlen, "bad magic");
        return EA_ERR_PARSE;
    }
    uint32_t version = eai_get_le32(buf + OFF_VERSION);
    if (version != SIG_VERSION) {
        eai_trust_errf(err, errlen, "unsupported version %u", version);
        return EA_ERR_PARSE;
    }
    uint32_t size = eai_get_le32(buf + OFF_SIZE);
    if (size != EAI_SIGSTRUCT_SIZE) {
        eai_trust_errf(err, errlen, "wrong size field %u (expected %u)", size, EAI_SIGSTRUCT_SIZE);
        return EA_ERR_PARSE;
    }
    uint32_t launch = eai_get_le32(buf + OFF_LAUNCH);
    if ((launch & ~(uint32_t)EAI_SIG_SYSTEM_ONLY) != 0) {
        eai_trust_errf(err, errlen, "unknown launch flags 0x%x", launch);
        return EA_ERR_PARSE;
    }
    for (size_t i = OFF_RESERVED; i < OFF_PUB; i++) {
        if (buf[i] != 0) {
            eai_trust_errf(err, errlen, "reserved bytes not zero");
            return EA_ERR_PARSE;
        }
    }
    memset(out, 0, sizeof *out);
    memcpy(out->mr_enclave, buf + OFF_MRENCLAVE, 32);
    out->attributes.flags = eai_get_le64(buf + OFF_FLAGS);
    out->attributes.xfrm = eai_get_le64(buf + OFF_XFRM);
    out->isv_prod_id = eai_get_le16(buf + OFF_PRODID);
    out->isv_svn = eai_get_le16(buf + OFF_SVN);
    out->misc_select = eai_get_le32(buf + OFF_MISC);
    out->date = eai_get_le64(buf + OFF_DATE);
    out->launch = launch;
    memcpy(out->signer_pub, buf + OFF_PUB, 32);
    memcpy(out->signature, buf + OFF_SIG, 64);
    return EA_OK;
}

int eai_sigstruct_sign(eai_sigstruct_t *s, const uint8_t priv[32])
{
    if (s == NULL || priv == NULL)
        return EA_ERR_INVAL;
    int rc = eai_ed25519_public(priv, s->signer_pub);
    if (rc != EA_OK)
        return rc;
    uint8_t buf[EAI_SIGSTRUCT_SIZE];
    eai_sigstruct_encode(s, buf);
    return eai_ed25519_sign(priv, buf, SIGNED_LEN, s->signature);
}

int eai_sigstruct_verify(const eai_sigstruct_t *s)
{
    if (s == NULL)
        return EA_ERR_INVAL;
    uint8_t buf[EAI_SIGSTRUCT_SIZE];
    eai_sigstruct_encode(s, buf);
    /* Fail closed: a library failure is reported as a signature that does
     * not verify, as the contract promises only EA_OK or EA_ERR_AUTH. */
    if (eai_ed25519_verify(s->signer_pub, buf, SIGNED_LEN, s->signature) != EA_OK)
        return EA_ERR_AUTH;
    return EA_OK;
}

int eai_einit(const void *image, size_t len, const uint8_t *sig, size_t siglen,
              const char *image_name, const char *sig_name, eai_identity_t *id, char *err,
              size_t errlen)
{
    if ((image == NULL && len > 0) || (sig == NULL && siglen > 0) || id == NULL)
        return EA_ERR_INVAL;
    if (image_name == NULL)
        image_name = "(image)";
    if (sig_name == NULL)
        sig_name = "(signature)";

    eai_sigstruct_t s;
    char why[96];
    int rc = eai_sigstruct_decode(sig, siglen, &s, why, sizeof why);
    if (rc != EA_OK) {
        eai_trust_errf(err, errlen, "signature file '%s' is malformed: %s", sig_name, why);
        return rc;
    }
    if (eai_sigstruct_verify(&s) != EA_OK) {
        eai_trust_errf(err, errlen, "signature file '%s': the signature does not verify", sig_name);
        return EA_ERR_AUTH;
    }
    uint8_t measured[32];
    rc = eai_measure(image, len, &s.attributes, measured);
    if (rc != EA_OK) {
        eai_trust_errf(err, errlen, "cannot measure image '%s': %s", image_name, ea_strerror(rc));
        return rc;
    }
    if (!eai_ct_equal(measured, s.mr_enclave, 32)) {
        eai_trust_errf(err, errlen,
                       "image '%s' does not match its signature file: MRENCLAVE %s... "
                       "measured, %s... signed",
                       image_name, eai_trust_short_hex(measured).s,
                       eai_trust_short_hex(s.mr_enclave).s);
        return EA_ERR_AUTH;
    }
    eai_identity_t out;
    memset(&out, 0, sizeof out);
    rc = eai_mrsigner(s.signer_pub, out.mr_signer);
    if (rc != EA_OK) {
        eai_trust_errf(err, errlen, "cannot compute MRSIGNER: %s", ea_strerror(rc));
        return rc;
    }
    memcpy(out.mr_enclave, measured, 32);
    out.attributes = s.attributes;
    out.attributes.flags |= EA_FLAGS_INITTED;
    out.isv_prod_id = s.isv_prod_id;
    out.isv_svn = s.isv_svn;
    out.misc_select = s.misc_select;
    *id = out;
    return EA_OK;
}

/* ---- key files ---------------------------------------------------------- */

int eai_key_generate(const char *path, char *err, size_t errlen)
{
    if (path == NULL)
        return EA_ERR_INVAL;
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (pk == NULL) {
        ERR_clear_error();
        eai_trust_errf(err, errlen, "cannot generate an Ed25519 key");
        return EA_ERR_CRYPTO;
    }
    /* The PEM text is made in OpenSSL's secure heap (cleared when freed) and
     * written by the platform layer's atomic write, which never replaces an
     * existing file: a crash leaves no half-written key. */
    int rc = EA_OK;
    BIO *mem = BIO_new(BIO_s_secmem());
    char *pem = NULL;
    long n = 0;
    if (mem == NULL || PEM_write_bio_PrivateKey(mem, pk, NULL, NULL, 0, NULL, NULL) != 1 ||
        (n = BIO_get_mem_data(mem, &pem)) <= 0) {
        ERR_clear_error();
        eai_trust_errf(err, errlen, "cannot encode key file '%s'", path);
        rc = EA_ERR_CRYPTO;
        goto out;
    }
    bool existed;
    rc = eai_file_write_atomic(EAI_CWD, path, pem, (size_t)n, 0600, EAI_WRITE_EXCL, &existed);
    if (rc != EA_OK)
        eai_trust_errf(err, errlen, "cannot create key file '%s': %s", path, strerror(errno));
    else if (existed) {
        eai_trust_errf(err, errlen, "key file '%s' already exists; not overwriting it", path);
        rc = EA_ERR_SYS;
    }
out:
    BIO_free(mem);
    EVP_PKEY_free(pk);
    return rc;
}

int eai_key_load(const char *path, uint8_t priv[32], char *err, size_t errlen)
{
    if (path == NULL || priv == NULL)
        return EA_ERR_INVAL;
    errno = 0;
    BIO *f = BIO_new_file(path, "r");
    if (f == NULL) {
        int e = errno != 0 ? errno : EIO;
        ERR_clear_error();
        eai_trust_errf(err, errlen, "cannot open key file '%s': %s", path, strerror(e));
        return e == ENOENT ? EA_ERR_NOTFOUND : EA_ERR_SYS;
    }
    EVP_PKEY *pk = PEM_read_bio_PrivateKey(f, NULL, NULL, NULL);
    BIO_free(f);
    if (pk == NULL) {
        ERR_clear_error();
        eai_trust_errf(err, errlen, "key file '%s' does not hold a PEM private key", path);
        return EA_ERR_PARSE;
    }
    int rc = EA_OK;
    size_t n = 32;
    if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_ED25519) {
        eai_trust_errf(err, errlen, "key file '%s' does not hold an Ed25519 key", path);
        rc = EA_ERR_PARSE;
    } else if (EVP_PKEY_get_raw_private_key(pk, priv, &n) != 1 || n != 32) {
        ERR_clear_error();
        eai_wipe(priv, 32);
        eai_trust_errf(err, errlen, "cannot read the key in key file '%s'", path);
        rc = EA_ERR_CRYPTO;
    }
    /* Frees and clears OpenSSL's copy of the key. */
    EVP_PKEY_free(pk);
    return rc;
}
