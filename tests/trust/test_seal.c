/*
 * Sealing: round trips, policies, SVN rules, and hostile sealed data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "trust/trust.h"

struct fx {
    struct fx_platforms p;
    /* a2/a3/a4: image A at ISVSVN 2/3/4; b: image B; c: image A, signer S2 */
    eai_identity_t a2, a3, a4, b, c;
    /* a3 as EINIT makes it when the enclave is not isolated: DEBUG set,
     * same MRENCLAVE. */
    eai_identity_t a3_debug;
    eai_local_platform_t la2, la3, la4, lb, lc, la3_other, la3_debug;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    fx_platforms_open(&f->p);
    fx_identity("enclave A", EA_FLAGS_MODE64BIT, 1, 2, fx_s1, &f->a2);
    fx_identity("enclave A", EA_FLAGS_MODE64BIT, 1, 3, fx_s1, &f->a3);
    fx_identity("enclave A", EA_FLAGS_MODE64BIT, 1, 4, fx_s1, &f->a4);
    fx_identity("enclave B", EA_FLAGS_MODE64BIT, 1, 3, fx_s1, &f->b);
    fx_identity("enclave A", EA_FLAGS_MODE64BIT, 1, 3, fx_s2, &f->c);
    eai_local_platform_init(&f->la2, &f->p.pc, &f->a2, NULL);
    eai_local_platform_init(&f->la3, &f->p.pc, &f->a3, NULL);
    eai_local_platform_init(&f->la4, &f->p.pc, &f->a4, NULL);
    eai_local_platform_init(&f->lb, &f->p.pc, &f->b, NULL);
    eai_local_platform_init(&f->lc, &f->p.pc, &f->c, NULL);
    eai_local_platform_init(&f->la3_other, &f->p.pc2, &f->a3, NULL);
    f->a3_debug = f->a3;
    f->a3_debug.attributes.flags |= EA_FLAGS_DEBUG;
    eai_local_platform_init(&f->la3_debug, &f->p.pc, &f->a3_debug, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    fx_platforms_close(&f->p);
    free(f);
    return 0;
}

static const uint8_t secret_text[] = "the launch codes are 0000";
static const uint8_t mac_text[] = "header: version 1";

/* Seals as `lp` with `policy` (0: ea_seal_data); returns a malloc'ed blob of
 * exactly *size bytes, so ASan sees any read past it. */
static ea_sealed_data_t *seal_as(const eai_local_platform_t *lp, uint16_t policy,
                                 const uint8_t *add, uint32_t addlen, const uint8_t *txt,
                                 uint32_t txtlen, uint32_t *size)
{
    uint32_t n = ea_calc_sealed_data_size(addlen, txtlen);
    assert_int_not_equal(n, UINT32_MAX);
    ea_sealed_data_t *s = malloc(n);
    assert_non_null(s);
    fx_as(lp);
    if (policy == 0) {
        assert_int_equal(ea_seal_data(addlen, add, txtlen, txt, n, s), EA_OK);
    } else {
        ea_attributes_t mask = {.flags = EA_FLAGS_INITTED | EA_FLAGS_DEBUG, .xfrm = 0};
        assert_int_equal(ea_seal_data_ex(policy, mask, 0, addlen, add, txtlen, txt, n, s), EA_OK);
    }
    eai_trust_bind(NULL);
    *size = n;
    return s;
}

/* Unseals as `lp` into buffers of exactly the recorded lengths. */
static int unseal_as(const eai_local_platform_t *lp, const ea_sealed_data_t *s, uint8_t *add,
                     uint32_t addcap, uint8_t *txt, uint32_t txtcap, uint32_t *addlen,
                     uint32_t *txtlen)
{
    *addlen = addcap;
    *txtlen = txtcap;
    fx_as(lp);
    int rc = ea_unseal_data(s, add, addlen, txt, txtlen);
    eai_trust_bind(NULL);
    return rc;
}

static void test_sizes(void **state)
{
    (void)state;
    assert_int_equal(sizeof(ea_sealed_data_t), 560);
    assert_int_equal(offsetof(ea_sealed_data_t, aes_data), 528);
    assert_int_equal(ea_calc_sealed_data_size(0, 0), 560);
    assert_int_equal(ea_calc_sealed_data_size(10, 20), 590);
    assert_int_equal(ea_calc_sealed_data_size(UINT32_MAX, 1), UINT32_MAX);
    assert_int_equal(ea_calc_sealed_data_size(UINT32_MAX - 600, 100), UINT32_MAX);
    assert_int_equal(ea_get_add_mac_txt_len(NULL), UINT32_MAX);
    assert_int_equal(ea_get_encrypt_txt_len(NULL), UINT32_MAX);
}

static void test_roundtrip(void **state)
{
    struct fx *f = *state;
    uint32_t n, al, tl;
    uint8_t add[64], txt[64];

    ea_sealed_data_t *s =
        seal_as(&f->la3, 0, mac_text, sizeof mac_text, secret_text, sizeof secret_text, &n);
    assert_int_equal(ea_get_add_mac_txt_len(s), sizeof mac_text);
    assert_int_equal(ea_get_encrypt_txt_len(s), sizeof secret_text);
    assert_int_equal(s->key_request.key_name, EA_KEYSELECT_SEAL);
    assert_int_equal(s->key_request.key_policy, EA_KEYPOLICY_MRSIGNER);
    assert_int_equal(s->key_request.isv_svn, 3);
    assert_true(s->key_request.attribute_mask.flags == (EA_FLAGS_INITTED | EA_FLAGS_DEBUG));
    /* The additional MAC text is stored in the clear, the text is not. */
    assert_memory_equal(s->aes_data.payload + sizeof secret_text, mac_text, sizeof mac_text);
    assert_null(memmem(s, n, "launch codes", 12));

    assert_int_equal(unseal_as(&f->la3, s, add, sizeof add, txt, sizeof txt, &al, &tl), EA_OK);
    assert_int_equal(al, sizeof mac_text);
    assert_int_equal(tl, sizeof secret_text);
    assert_memory_equal(add, mac_text, al);
    assert_memory_equal(txt, secret_text, tl);

    /* Buffers too small for the recorded lengths. */
    assert_int_equal(unseal_as(&f->la3, s, add, al - 1, txt, sizeof txt, &al, &tl), EA_ERR_INVAL);
    assert_int_equal(unseal_as(&f->la3, s, add, sizeof add, txt, sizeof secret_text - 1, &al, &tl),
                     EA_ERR_INVAL);
    free(s);

    /* No additional MAC text. */
    s = seal_as(&f->la3, EA_KEYPOLICY_MRENCLAVE, NULL, 0, secret_text, sizeof secret_text, &n);
    assert_int_equal(ea_get_add_mac_txt_len(s), 0);
    tl = sizeof txt;
    fx_as(&f->la3);
    assert_int_equal(ea_unseal_data(s, NULL, NULL, txt, &tl), EA_OK);
    eai_trust_bind(NULL);
    assert_int_equal(tl, sizeof secret_text);
    assert_memory_equal(txt, secret_text, tl);
    free(s);

    /* Only additional MAC text. */
    s = seal_as(&f->la3, 0, mac_text, sizeof mac_text, NULL, 0, &n);
    assert_int_equal(unseal_as(&f->la3, s, add, sizeof add, NULL, 0, &al, &tl), EA_OK);
    assert_int_equal(tl, 0);
    assert_memory_equal(add, mac_text, sizeof mac_text);
    free(s);
}

static void test_seal_args(void **state)
{
    struct fx *f = *state;
    uint32_t n = ea_calc_sealed_data_size(0, sizeof secret_text);
    ea_sealed_data_t *s = malloc(n);
    ea_attributes_t mask = {.flags = EA_FLAGS_INITTED | EA_FLAGS_DEBUG};
    assert_int_equal(ea_seal_data(0, NULL, sizeof secret_text, secret_text, n, s), EA_ERR_PERM);
    fx_as(&f->la3);
    assert_int_equal(ea_seal_data(0, NULL, sizeof secret_text, secret_text, n - 1, s),
                     EA_ERR_INVAL);
    assert_int_equal(ea_seal_data(0, NULL, sizeof secret_text, NULL, n, s), EA_ERR_INVAL);
    assert_int_equal(ea_seal_data(5, NULL, sizeof secret_text, secret_text, n, s), EA_ERR_INVAL);
    assert_int_equal(ea_seal_data_ex(3, mask, 0, 0, NULL, sizeof secret_text, secret_text, n, s),
                     EA_ERR_INVAL);
    ea_attributes_t weak = {.flags = EA_FLAGS_INITTED};
    assert_int_equal(ea_seal_data_ex(EA_KEYPOLICY_MRSIGNER, weak, 0, 0, NULL, sizeof secret_text,
                                     secret_text, n, s),
                     EA_ERR_INVAL);
    uint32_t tl = 0;
    eai_trust_bind(NULL);
    assert_int_equal(ea_unseal_data(s, NULL, NULL, NULL, &tl), EA_ERR_PERM);
    free(s);
}

static void test_policies(void **state)
{
    struct fx *f = *state;
    uint32_t n, al, tl;
    uint8_t add[64], txt[64];

    /* MRENCLAVE: another image of the same signer cannot unseal. */
    ea_sealed_data_t *s = seal_as(&f->la3, EA_KEYPOLICY_MRENCLAVE, mac_text, sizeof mac_text,
                                  secret_text, sizeof secret_text, &n);
    memset(txt, 0x55, sizeof txt);
    assert_int_equal(unseal_as(&f->lb, s, add, sizeof add, txt, sizeof txt, &al, &tl), EA_ERR_AUTH);
    assert_int_equal(al, sizeof add); /* outputs untouched on failure */
    assert_null(memmem(txt, sizeof txt, "launch", 6));
    assert_int_equal(unseal_as(&f->la4, s, add, sizeof add, txt, sizeof txt, &al, &tl), EA_OK);
    /* The same enclave on another platform. */
    assert_int_equal(unseal_as(&f->la3_other, s, add, sizeof add, txt, sizeof txt, &al, &tl),
                     EA_ERR_AUTH);
    free(s);

    /* MRSIGNER: the same signer's other image can, another signer cannot,
     * even with the same image bytes. */
    s = seal_as(&f->la3, 0, mac_text, sizeof mac_text, secret_text, sizeof secret_text, &n);
    assert_int_equal(unseal_as(&f->lb, s, add, sizeof add, txt, sizeof txt, &al, &tl), EA_OK);
    assert_memory_equal(txt, secret_text, sizeof secret_text);
    assert_int_equal(unseal_as(&f->lc, s, add, sizeof add, txt, sizeof txt, &al, &tl), EA_ERR_AUTH);
    free(s);
}

/* Keys follow isolation: the DEBUG attribute enters every seal key whatever
 * mask is asked for, so a debug (or not isolated) run of an enclave never
 * derives the production enclave's seal key. Control: the same request
 * without DEBUG in the mask is what a build that honoured the mask as given
 * would have answered with the production key. */
static void test_debug_keys(void **state)
{
    struct fx *f = *state;
    ea_key_request_t kr;
    memset(&kr, 0, sizeof kr);
    kr.key_name = EA_KEYSELECT_SEAL;
    kr.key_policy = EA_KEYPOLICY_MRENCLAVE;
    kr.isv_svn = 3;
    kr.attribute_mask.flags = EA_FLAGS_INITTED; /* DEBUG left out on purpose */
    uint8_t prod[16], dbg[16], prod_full[16];
    fx_as(&f->la3);
    assert_int_equal(ea_get_key(&kr, prod), EA_OK);
    kr.attribute_mask.flags = EA_FLAGS_INITTED | EA_FLAGS_DEBUG;
    assert_int_equal(ea_get_key(&kr, prod_full), EA_OK);
    kr.attribute_mask.flags = EA_FLAGS_INITTED;
    fx_as(&f->la3_debug);
    assert_int_equal(ea_get_key(&kr, dbg), EA_OK);
    eai_trust_bind(NULL);
    assert_memory_not_equal(prod, dbg, sizeof prod);
    /* The mask itself still enters the key. */
    assert_memory_not_equal(prod, prod_full, sizeof prod);

    /* Sealed by the production enclave: the debug run cannot open it, and
     * the other way round. */
    uint32_t n, al, tl;
    uint8_t add[64], txt[64];
    ea_sealed_data_t *s =
        seal_as(&f->la3, 0, mac_text, sizeof mac_text, secret_text, sizeof secret_text, &n);
    assert_int_equal(unseal_as(&f->la3_debug, s, add, sizeof add, txt, sizeof txt, &al, &tl),
                     EA_ERR_AUTH);
    assert_int_equal(unseal_as(&f->la3, s, add, sizeof add, txt, sizeof txt, &al, &tl), EA_OK);
    free(s);
    s = seal_as(&f->la3_debug, 0, mac_text, sizeof mac_text, secret_text, sizeof secret_text, &n);
    assert_int_equal(unseal_as(&f->la3, s, add, sizeof add, txt, sizeof txt, &al, &tl),
                     EA_ERR_AUTH);
    free(s);
}

static void test_svn(void **state)
{
    struct fx *f = *state;
    uint32_t n, al, tl;
    uint8_t add[64], txt[64];
    ea_sealed_data_t *s =
        seal_as(&f->la3, 0, mac_text, sizeof mac_text, secret_text, sizeof secret_text, &n);
    assert_int_equal(unseal_as(&f->la2, s, add, sizeof add, txt, sizeof txt, &al, &tl),
                     EA_ERR_PERM);
    assert_int_equal(unseal_as(&f->la3, s, add, sizeof add, txt, sizeof txt, &al, &tl), EA_OK);
    assert_int_equal(unseal_as(&f->la4, s, add, sizeof add, txt, sizeof txt, &al, &tl), EA_OK);
    assert_memory_equal(txt, secret_text, sizeof secret_text);
    free(s);

    /* Lowering the recorded SVN in the blob gives another key. */
    s = seal_as(&f->la3, 0, NULL, 0, secret_text, sizeof secret_text, &n);
    s->key_request.isv_svn = 2;
    assert_int_equal(unseal_as(&f->la3, s, NULL, 0, txt, sizeof txt, &al, &tl), EA_ERR_AUTH);
    free(s);
}

static void test_fresh_key_per_seal(void **state)
{
    struct fx *f = *state;
    uint32_t n1, n2;
    ea_sealed_data_t *s1 =
        seal_as(&f->la3, 0, mac_text, sizeof mac_text, secret_text, sizeof secret_text, &n1);
    ea_sealed_data_t *s2 =
        seal_as(&f->la3, 0, mac_text, sizeof mac_text, secret_text, sizeof secret_text, &n2);
    assert_int_equal(n1, n2);
    assert_memory_not_equal(s1->key_request.key_id, s2->key_request.key_id, 32);
    assert_memory_not_equal(s1->aes_data.payload, s2->aes_data.payload, sizeof secret_text);
    assert_memory_not_equal(s1->aes_data.payload_tag, s2->aes_data.payload_tag, 16);
    free(s1);
    free(s2);
}

static void test_every_byte_counts(void **state)
{
    struct fx *f = *state;
    uint32_t n, al, tl;
    ea_sealed_data_t *s =
        seal_as(&f->la3, 0, mac_text, sizeof mac_text, secret_text, sizeof secret_text, &n);
    ea_sealed_data_t *t = malloc(n);
    /* Buffers of exactly the true lengths: the blob has no size field of
     * its own, so the caller's sizes are what bound the bytes read (see
     * seal.c), and ASan checks that bound here. */
    uint8_t add[sizeof mac_text], txt[sizeof secret_text];
    for (uint32_t i = 0; i < n; i++) {
        memcpy(t, s, n);
        ((uint8_t *)t)[i] ^= 0x01;
        int rc = unseal_as(&f->la3, t, add, sizeof add, txt, sizeof txt, &al, &tl);
        if (rc == EA_OK)
            fail_msg("flipping byte %u of the sealed data went unnoticed", i);
        /* ISVSVN 3 -> 2 is a valid older key (AUTH), 3 -> other values are
         * above ours (PERM); the length fields may exceed the buffers
         * (INVAL); everything else is AUTH. */
        assert_true(rc == EA_ERR_AUTH || rc == EA_ERR_PERM || rc == EA_ERR_INVAL);
    }
    free(t);
    free(s);
}

static void test_bogus_lengths(void **state)
{
    struct fx *f = *state;
    uint32_t n, al, tl;
    ea_sealed_data_t *s =
        seal_as(&f->la3, 0, mac_text, sizeof mac_text, secret_text, sizeof secret_text, &n);
    /* Buffers exactly as large as the true lengths, so that any read the
     * bogus lengths could cause past the blob would also run past them. */
    uint8_t add[sizeof mac_text], txt[sizeof secret_text];
    ea_sealed_data_t *t = malloc(n);
    const uint32_t real_payload = sizeof mac_text + sizeof secret_text;
    struct {
        uint32_t payload_size, offset;
        int rc;
    } cases[] = {
        {UINT32_MAX, sizeof secret_text, EA_ERR_AUTH},
        {UINT32_MAX - 559, sizeof secret_text, EA_ERR_AUTH},
        {UINT32_MAX - 560, sizeof secret_text, EA_ERR_AUTH},
        {UINT32_MAX - 561, sizeof secret_text, EA_ERR_INVAL},
        {real_payload + 1, sizeof secret_text, EA_ERR_INVAL},
        {real_payload, real_payload + 1, EA_ERR_AUTH},
        {real_payload, UINT32_MAX, EA_ERR_AUTH},
        {0, 1, EA_ERR_AUTH},
        {real_payload - 1, sizeof secret_text, EA_ERR_AUTH},
        {real_payload, sizeof secret_text - 1, EA_ERR_INVAL},
        {real_payload - 2, sizeof secret_text - 1, EA_ERR_AUTH},
        {real_payload, sizeof secret_text + 1, EA_ERR_INVAL},
        {0, 0, EA_ERR_AUTH},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(t, s, n);
        t->aes_data.payload_size = cases[i].payload_size;
        t->plain_text_offset = cases[i].offset;
        int rc = unseal_as(&f->la3, t, add, sizeof add, txt, sizeof txt, &al, &tl);
        if (rc != cases[i].rc)
            fail_msg("case %zu: payload_size %u, offset %u: %s", i, cases[i].payload_size,
                     cases[i].offset, ea_strerror(rc));
    }
    /* Reserved fields are not ignored. */
    memcpy(t, s, n);
    t->reserved[3] = 1;
    assert_int_equal(unseal_as(&f->la3, t, add, sizeof add, txt, sizeof txt, &al, &tl),
                     EA_ERR_AUTH);
    memcpy(t, s, n);
    t->aes_data.reserved[11] = 1;
    assert_int_equal(unseal_as(&f->la3, t, add, sizeof add, txt, sizeof txt, &al, &tl),
                     EA_ERR_AUTH);
    memcpy(t, s, n);
    t->key_request.key_name = EA_KEYSELECT_REPORT;
    assert_int_equal(unseal_as(&f->la3, t, add, sizeof add, txt, sizeof txt, &al, &tl),
                     EA_ERR_AUTH);
    free(t);
    free(s);
}

/* The platform's CPUSVN is zero on this backend and every seal records
 * it: a blob with another CPUSVN was edited, and says so (EA_ERR_AUTH), not
 * "sealed on a newer platform" (EA_ERR_PERM). */
static void test_cpusvn_edited(void **state)
{
    struct fx *f = *state;
    uint32_t n, al, tl;
    ea_sealed_data_t *s =
        seal_as(&f->la3, 0, mac_text, sizeof mac_text, secret_text, sizeof secret_text, &n);
    ea_sealed_data_t *t = malloc(n);
    uint8_t add[sizeof mac_text], txt[sizeof secret_text];
    for (size_t i = 0; i < sizeof t->key_request.cpu_svn; i++) {
        memcpy(t, s, n);
        t->key_request.cpu_svn[i] = 1;
        assert_int_equal(unseal_as(&f->la3, t, add, sizeof add, txt, sizeof txt, &al, &tl),
                         EA_ERR_AUTH);
        assert_int_equal(al, sizeof add);
        assert_int_equal(tl, sizeof txt);
    }
    /* An ISVSVN above ours stays EA_ERR_PERM: a newer version sealed it. */
    memcpy(t, s, n);
    t->key_request.isv_svn = 4;
    assert_int_equal(unseal_as(&f->la3, t, add, sizeof add, txt, sizeof txt, &al, &tl),
                     EA_ERR_PERM);
    free(t);
    free(s);
}

/* ea_unseal_data_ex with the bytes received: buffers far larger than the
 * recorded lengths, so only the blob's size bounds what is read (ASan
 * checks that bound); a cut or padded blob is modified data. */
static void test_unseal_ex(void **state)
{
    struct fx *f = *state;
    uint32_t n;
    ea_sealed_data_t *s =
        seal_as(&f->la3, 0, mac_text, sizeof mac_text, secret_text, sizeof secret_text, &n);
    static uint8_t add[65536], txt[65536];
    uint32_t al = sizeof add, tl = sizeof txt;
    fx_as(&f->la3);
    assert_int_equal(ea_unseal_data_ex(s, n, add, &al, txt, &tl), EA_OK);
    assert_int_equal(al, sizeof mac_text);
    assert_int_equal(tl, sizeof secret_text);
    assert_memory_equal(txt, secret_text, sizeof secret_text);
    assert_memory_equal(add, mac_text, sizeof mac_text);
    /* Every size but the true one, down to none at all. */
    const uint32_t sizes[] = {0,
                              1,
                              (uint32_t)sizeof(ea_sealed_data_t) - 1,
                              (uint32_t)sizeof(ea_sealed_data_t),
                              n - 1,
                              n + 1,
                              UINT32_MAX};
    ea_sealed_data_t *t = malloc(n + 1);
    memcpy(t, s, n);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        al = sizeof add;
        tl = sizeof txt;
        assert_int_equal(ea_unseal_data_ex(t, sizes[i], add, &al, txt, &tl), EA_ERR_AUTH);
        assert_int_equal(tl, sizeof txt);
    }
    /* A header that claims a longer payload than the blob holds. */
    for (uint32_t i = 0; i < n; i++) {
        ea_sealed_data_t *u = malloc(n);
        memcpy(u, s, n);
        ((uint8_t *)u)[i] ^= 0x40;
        al = sizeof add;
        tl = sizeof txt;
        int rc = ea_unseal_data_ex(u, n, add, &al, txt, &tl);
        assert_true(rc == EA_ERR_AUTH || rc == EA_ERR_PERM);
        free(u);
    }
    eai_trust_bind(NULL);
    free(t);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_seal_args),
        cmocka_unit_test(test_policies),
        cmocka_unit_test(test_debug_keys),
        cmocka_unit_test(test_svn),
        cmocka_unit_test(test_fresh_key_per_seal),
        cmocka_unit_test(test_every_byte_counts),
        cmocka_unit_test(test_bogus_lengths),
        cmocka_unit_test(test_cpusvn_edited),
        cmocka_unit_test(test_unseal_ex),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
