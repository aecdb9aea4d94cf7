/*
 * Identity: measurement, the signature file, EINIT and key files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "crypto/crypto.h"
#include "fixture.h"
#include "tmpdir.h"
#include "trust/trust.h"

static const char image[] = "an enclave image, pretending to be an ELF shared object";

static void short_hex(const uint8_t h[32], char out[17])
{
    eai_hex(h, 8, out);
}

static void test_measure(void **state)
{
    (void)state;
    ea_attributes_t attr = {.flags = EA_FLAGS_MODE64BIT, .xfrm = 0};
    uint8_t m1[32], m2[32], m3[32], m4[32];
    assert_int_equal(eai_measure(image, sizeof image, &attr, m1), EA_OK);
    assert_int_equal(eai_measure(image, sizeof image, &attr, m2), EA_OK);
    assert_memory_equal(m1, m2, 32);

    char copy[sizeof image];
    memcpy(copy, image, sizeof image);
    copy[10] ^= 0x01;
    assert_int_equal(eai_measure(copy, sizeof copy, &attr, m3), EA_OK);
    assert_memory_not_equal(m1, m3, 32);

    ea_attributes_t dbg = {.flags = EA_FLAGS_MODE64BIT | EA_FLAGS_DEBUG, .xfrm = 0};
    assert_int_equal(eai_measure(image, sizeof image, &dbg, m4), EA_OK);
    assert_memory_not_equal(m1, m4, 32);
    ea_attributes_t xf = {.flags = EA_FLAGS_MODE64BIT, .xfrm = 3};
    assert_int_equal(eai_measure(image, sizeof image, &xf, m4), EA_OK);
    assert_memory_not_equal(m1, m4, 32);

    /* The documented construction. */
    uint8_t buf[19 + 16 + sizeof image];
    memcpy(buf, "EACTORS-MRENCLAVE-1", 19);
    memset(buf + 19, 0, 16);
    buf[19] = (uint8_t)EA_FLAGS_MODE64BIT;
    memcpy(buf + 35, image, sizeof image);
    assert_int_equal(eai_sha256(buf, sizeof buf, m4), EA_OK);
    assert_memory_equal(m1, m4, 32);
}

static void sample(eai_sigstruct_t *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < 32; i++)
        s->mr_enclave[i] = (uint8_t)(i * 7 + 1);
    s->attributes.flags = EA_FLAGS_DEBUG | EA_FLAGS_MODE64BIT;
    s->attributes.xfrm = 0x1122334455667788u;
    s->isv_prod_id = 0xbeef;
    s->isv_svn = 0x1234;
    s->misc_select = 0xdeadbeef;
    s->date = 0x0102030405060708u;
}

static void test_sigstruct_roundtrip(void **state)
{
    (void)state;
    eai_sigstruct_t s, d;
    sample(&s);
    assert_int_equal(eai_sigstruct_sign(&s, fx_s1), EA_OK);
    uint8_t buf[EAI_SIGSTRUCT_SIZE];
    eai_sigstruct_encode(&s, buf);
    /* Spot checks of the documented layout. */
    assert_memory_equal(buf, "EASIG\0\0\1", 8);
    assert_int_equal(buf[8], 1);
    assert_int_equal(buf[12], 208);
    assert_memory_equal(buf + 16, s.mr_enclave, 32);
    assert_int_equal(buf[48], (uint8_t)s.attributes.flags);
    assert_int_equal(buf[56], 0x88);
    assert_int_equal(buf[64], 0xef);
    assert_int_equal(buf[66], 0x34);
    assert_int_equal(buf[68], 0xef);
    assert_int_equal(buf[72], 0x08);
    assert_memory_equal(buf + 112, s.signer_pub, 32);
    assert_memory_equal(buf + 144, s.signature, 64);

    char err[128] = "";
    assert_int_equal(eai_sigstruct_decode(buf, sizeof buf, &d, err, sizeof err), EA_OK);
    assert_memory_equal(d.mr_enclave, s.mr_enclave, 32);
    assert_true(d.attributes.flags == s.attributes.flags);
    assert_true(d.attributes.xfrm == s.attributes.xfrm);
    assert_int_equal(d.isv_prod_id, s.isv_prod_id);
    assert_int_equal(d.isv_svn, s.isv_svn);
    assert_int_equal(d.misc_select, s.misc_select);
    assert_true(d.date == s.date);
    assert_memory_equal(d.signer_pub, s.signer_pub, 32);
    assert_memory_equal(d.signature, s.signature, 64);
}

static void expect_decode(const uint8_t *buf, size_t len, const char *msg)
{
    eai_sigstruct_t d;
    char err[128] = "";
    assert_int_equal(eai_sigstruct_decode(buf, len, &d, err, sizeof err), EA_ERR_PARSE);
    assert_string_equal(err, msg);
}

static void test_sigstruct_decode_refuses(void **state)
{
    (void)state;
    eai_sigstruct_t s;
    sample(&s);
    assert_int_equal(eai_sigstruct_sign(&s, fx_s1), EA_OK);
    uint8_t good[EAI_SIGSTRUCT_SIZE], buf[EAI_SIGSTRUCT_SIZE + 1];
    eai_sigstruct_encode(&s, good);

    expect_decode(good, 12, "wrong size 12 (expected 208)");
    memcpy(buf, good, sizeof good);
    buf[208] = 0;
    expect_decode(buf, 209, "wrong size 209 (expected 208)");
    expect_decode(NULL, 0, "wrong size 0 (expected 208)");

    memcpy(buf, good, sizeof good);
    buf[0] = 'X';
    expect_decode(buf, 208, "bad magic");
    memcpy(buf, good, sizeof good);
    buf[7] = 2;
    expect_decode(buf, 208, "bad magic");

    memcpy(buf, good, sizeof good);
    buf[8] = 7;
    expect_decode(buf, 208, "unsupported version 7");

    memcpy(buf, good, sizeof good);
    buf[12] = 200;
    expect_decode(buf, 208, "wrong size field 200 (expected 208)");

    for (int off = 84; off < 112; off += 27) {
        memcpy(buf, good, sizeof good);
        buf[off] = 1;
        expect_decode(buf, 208, "reserved bytes not zero");
    }
    /* The launch flags: only EAI_SIG_SYSTEM_ONLY is known. */
    memcpy(buf, good, sizeof good);
    buf[80] = 2;
    expect_decode(buf, 208, "unknown launch flags 0x2");
    memcpy(buf, good, sizeof good);
    buf[80] = EAI_SIG_SYSTEM_ONLY;
    eai_sigstruct_t d;
    char err[64];
    assert_int_equal(eai_sigstruct_decode(buf, 208, &d, err, sizeof err), EA_OK);
    assert_int_equal(d.launch, EAI_SIG_SYSTEM_ONLY);
}

static void test_sigstruct_sign_verify(void **state)
{
    (void)state;
    eai_sigstruct_t s;
    sample(&s);
    assert_int_equal(eai_sigstruct_sign(&s, fx_s1), EA_OK);
    uint8_t pub[32];
    assert_int_equal(eai_ed25519_public(fx_s1, pub), EA_OK);
    assert_memory_equal(s.signer_pub, pub, 32);
    assert_int_equal(eai_sigstruct_verify(&s), EA_OK);

    eai_sigstruct_t t = s;
    t.isv_svn++;
    assert_int_equal(eai_sigstruct_verify(&t), EA_ERR_AUTH);
    t = s;
    t.mr_enclave[31] ^= 0x80;
    assert_int_equal(eai_sigstruct_verify(&t), EA_ERR_AUTH);
    t = s;
    t.date++; /* the date is informational but signed */
    assert_int_equal(eai_sigstruct_verify(&t), EA_ERR_AUTH);
    t = s;
    t.signature[0] ^= 1;
    assert_int_equal(eai_sigstruct_verify(&t), EA_ERR_AUTH);
    t = s;
    t.signer_pub[0] ^= 1;
    assert_int_equal(eai_sigstruct_verify(&t), EA_ERR_AUTH);
}

static void test_einit_good(void **state)
{
    (void)state;
    uint8_t sig[EAI_SIGSTRUCT_SIZE];
    fx_sign(image, sizeof image, EA_FLAGS_MODE64BIT, 7, 3, fx_s1, sig);
    eai_identity_t id;
    char err[256] = "";
    assert_int_equal(
        eai_einit(image, sizeof image, sig, sizeof sig, "x.so", "x.so.sig", &id, err, sizeof err),
        EA_OK);
    ea_attributes_t attr = {.flags = EA_FLAGS_MODE64BIT};
    uint8_t m[32], pub[32], signer[32];
    assert_int_equal(eai_measure(image, sizeof image, &attr, m), EA_OK);
    assert_memory_equal(id.mr_enclave, m, 32);
    assert_int_equal(eai_ed25519_public(fx_s1, pub), EA_OK);
    assert_int_equal(eai_sha256(pub, 32, signer), EA_OK);
    assert_memory_equal(id.mr_signer, signer, 32);
    assert_true(id.attributes.flags == (EA_FLAGS_MODE64BIT | EA_FLAGS_INITTED));
    assert_int_equal(id.isv_prod_id, 7);
    assert_int_equal(id.isv_svn, 3);
}

static void test_einit_refuses(void **state)
{
    (void)state;
    uint8_t sig[EAI_SIGSTRUCT_SIZE];
    fx_sign(image, sizeof image, EA_FLAGS_MODE64BIT, 7, 3, fx_s1, sig);
    eai_identity_t id;
    memset(&id, 0x5a, sizeof id);
    eai_identity_t untouched = id;
    char err[256] = "", expect[256];

    /* One flipped image byte. */
    char copy[sizeof image];
    memcpy(copy, image, sizeof image);
    copy[3] ^= 0x04;
    ea_attributes_t attr = {.flags = EA_FLAGS_MODE64BIT};
    uint8_t measured[32];
    assert_int_equal(eai_measure(copy, sizeof copy, &attr, measured), EA_OK);
    eai_sigstruct_t s;
    assert_int_equal(eai_sigstruct_decode(sig, sizeof sig, &s, NULL, 0), EA_OK);
    char hm[17], hs[17];
    short_hex(measured, hm);
    short_hex(s.mr_enclave, hs);
    snprintf(expect, sizeof expect,
             "image 'x.so' does not match its signature file: MRENCLAVE %s... measured, %s... "
             "signed",
             hm, hs);
    assert_int_equal(
        eai_einit(copy, sizeof copy, sig, sizeof sig, "x.so", "x.so.sig", &id, err, sizeof err),
        EA_ERR_AUTH);
    assert_string_equal(err, expect);
    assert_memory_equal(&id, &untouched, sizeof id);

    /* Fields edited after signing: the old signature no longer verifies,
     * and neither does one made with another key under the old signer's
     * public key. */
    uint8_t bad[EAI_SIGSTRUCT_SIZE];
    eai_sigstruct_t e = s;
    e.isv_svn = 9;
    eai_sigstruct_encode(&e, bad);
    assert_int_equal(
        eai_einit(image, sizeof image, bad, sizeof bad, "x.so", "x.so.sig", &id, err, sizeof err),
        EA_ERR_AUTH);
    assert_string_equal(err, "signature file 'x.so.sig': the signature does not verify");

    e = s;
    assert_int_equal(eai_measure(copy, sizeof copy, &attr, e.mr_enclave), EA_OK);
    assert_int_equal(eai_sigstruct_sign(&e, fx_s2), EA_OK);
    memcpy(e.signer_pub, s.signer_pub, 32); /* claim to be S1 */
    eai_sigstruct_encode(&e, bad);
    assert_int_equal(
        eai_einit(copy, sizeof copy, bad, sizeof bad, "x.so", "x.so.sig", &id, err, sizeof err),
        EA_ERR_AUTH);
    assert_string_equal(err, "signature file 'x.so.sig': the signature does not verify");

    e = s;
    e.isv_svn = 9;
    assert_int_equal(eai_sigstruct_sign(&e, fx_s2), EA_OK);
    memcpy(e.signer_pub, s.signer_pub, 32);
    eai_sigstruct_encode(&e, bad);
    assert_int_equal(
        eai_einit(image, sizeof image, bad, sizeof bad, "x.so", "x.so.sig", &id, err, sizeof err),
        EA_ERR_AUTH);
    assert_string_equal(err, "signature file 'x.so.sig': the signature does not verify");
    assert_memory_equal(&id, &untouched, sizeof id);

    /* Re-signed honestly with another key: accepted, but as another
     * signer, which is what MRSIGNER is for. */
    assert_int_equal(eai_sigstruct_sign(&e, fx_s2), EA_OK);
    eai_sigstruct_encode(&e, bad);
    assert_int_equal(
        eai_einit(image, sizeof image, bad, sizeof bad, "x.so", "x.so.sig", &id, err, sizeof err),
        EA_OK);
    eai_identity_t good;
    assert_int_equal(
        eai_einit(image, sizeof image, sig, sizeof sig, "x.so", "x.so.sig", &good, err, sizeof err),
        EA_OK);
    assert_memory_not_equal(id.mr_signer, good.mr_signer, 32);
    assert_memory_equal(id.mr_enclave, good.mr_enclave, 32);

    /* Malformed files. */
    assert_int_equal(
        eai_einit(image, sizeof image, sig, 100, "x.so", "x.so.sig", &id, err, sizeof err),
        EA_ERR_PARSE);
    assert_string_equal(err,
                        "signature file 'x.so.sig' is malformed: wrong size 100 (expected 208)");
    memcpy(bad, sig, sizeof sig);
    bad[1] = 'B';
    assert_int_equal(
        eai_einit(image, sizeof image, bad, sizeof bad, "x.so", "x.so.sig", &id, err, sizeof err),
        EA_ERR_PARSE);
    assert_string_equal(err, "signature file 'x.so.sig' is malformed: bad magic");
    memcpy(bad, sig, sizeof sig);
    bad[100] = 1;
    assert_int_equal(
        eai_einit(image, sizeof image, bad, sizeof bad, "x.so", "x.so.sig", &id, err, sizeof err),
        EA_ERR_PARSE);
    assert_string_equal(err, "signature file 'x.so.sig' is malformed: reserved bytes not zero");

    /* Attributes are in the signature file: changing them there changes
     * the measurement and breaks the signature. */
    memcpy(bad, sig, sizeof sig);
    bad[48] |= (uint8_t)EA_FLAGS_DEBUG;
    assert_int_equal(
        eai_einit(image, sizeof image, bad, sizeof bad, "x.so", "x.so.sig", &id, err, sizeof err),
        EA_ERR_AUTH);
}

static void test_key_files(void **state)
{
    (void)state;
    char dir[64], path[128], err[256] = "";
    ea_test_mkdtemp(dir, sizeof dir, "ea-trust-");
    snprintf(path, sizeof path, "%s/signer.pem", dir);
    assert_int_equal(eai_key_generate(path, err, sizeof err), EA_OK);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    uint8_t priv[32], pub[32];
    assert_int_equal(eai_key_load(path, priv, err, sizeof err), EA_OK);
    assert_int_equal(eai_ed25519_public(priv, pub), EA_OK);

    /* The public key OpenSSL reads from the PEM file is the one derived. */
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    EVP_PKEY *pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(pk);
    uint8_t pub2[32];
    size_t n = sizeof pub2;
    assert_int_equal(EVP_PKEY_get_raw_public_key(pk, pub2, &n), 1);
    EVP_PKEY_free(pk);
    assert_int_equal(n, 32);
    assert_memory_equal(pub, pub2, 32);

    /* A loaded key signs. */
    eai_sigstruct_t s;
    sample(&s);
    assert_int_equal(eai_sigstruct_sign(&s, priv), EA_OK);
    assert_memory_equal(s.signer_pub, pub, 32);
    assert_int_equal(eai_sigstruct_verify(&s), EA_OK);
    eai_wipe(priv, sizeof priv);

    /* Never overwrites. */
    uint8_t before[512], after[512];
    f = fopen(path, "r");
    size_t nb = fread(before, 1, sizeof before, f);
    fclose(f);
    assert_int_equal(eai_key_generate(path, err, sizeof err), EA_ERR_SYS);
    char expect[256];
    snprintf(expect, sizeof expect, "key file '%s' already exists; not overwriting it", path);
    assert_string_equal(err, expect);
    f = fopen(path, "r");
    size_t na = fread(after, 1, sizeof after, f);
    fclose(f);
    assert_int_equal(na, nb);
    assert_memory_equal(before, after, na);

    /* Garbage and missing files. */
    char junk[128];
    snprintf(junk, sizeof junk, "%s/junk.pem", dir);
    f = fopen(junk, "w");
    fputs("-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n-----END PRIVATE KEY-----\n", f);
    fclose(f);
    assert_int_equal(eai_key_load(junk, priv, err, sizeof err), EA_ERR_PARSE);
    snprintf(expect, sizeof expect, "key file '%s' does not hold a PEM private key", junk);
    assert_string_equal(err, expect);

    snprintf(junk, sizeof junk, "%s/missing.pem", dir);
    assert_int_equal(eai_key_load(junk, priv, err, sizeof err), EA_ERR_NOTFOUND);
    assert_non_null(strstr(err, "cannot open key file"));

    /* A PEM key of another type. */
    EVP_PKEY *x = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    assert_non_null(x);
    snprintf(junk, sizeof junk, "%s/x25519.pem", dir);
    f = fopen(junk, "w");
    assert_int_equal(PEM_write_PrivateKey(f, x, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    EVP_PKEY_free(x);
    assert_int_equal(eai_key_load(junk, priv, err, sizeof err), EA_ERR_PARSE);
    snprintf(expect, sizeof expect, "key file '%s' does not hold an Ed25519 key", junk);
    assert_string_equal(err, expect);

    ea_test_rmtree(dir);
}

static void test_hex(void **state)
{
    (void)state;
    const uint8_t in[3] = {0x00, 0xab, 0x5f};
    char out[7];
    eai_hex(in, 3, out);
    assert_string_equal(out, "00ab5f");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_measure),
        cmocka_unit_test(test_sigstruct_roundtrip),
        cmocka_unit_test(test_sigstruct_decode_refuses),
        cmocka_unit_test(test_sigstruct_sign_verify),
        cmocka_unit_test(test_einit_good),
        cmocka_unit_test(test_einit_refuses),
        cmocka_unit_test(test_key_files),
        cmocka_unit_test(test_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
