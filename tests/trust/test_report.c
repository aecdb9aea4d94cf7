/*
 * Reports, local attestation and the trust policy, with several enclaves
 * played in one process by binding local platforms in turn.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "fixture.h"
#include "trust/trust.h"

struct fx {
    struct fx_platforms p;
    eai_identity_t a, a2, b, c;                     /* a, a2 (other image), b: signer S1; c: S2 */
    eai_local_platform_t la, la2, lb, lc, lb_other; /* lb_other: B on pc2 */
    eai_identity_t a_debug;                         /* a as a run that is not isolated */
    eai_local_platform_t la_debug;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    fx_platforms_open(&f->p);
    fx_identity("enclave A", EA_FLAGS_MODE64BIT, 1, 1, fx_s1, &f->a);
    fx_identity("enclave A, version 2", EA_FLAGS_MODE64BIT, 1, 1, fx_s1, &f->a2);
    fx_identity("enclave B", EA_FLAGS_MODE64BIT, 2, 5, fx_s1, &f->b);
    fx_identity("enclave C", EA_FLAGS_MODE64BIT, 1, 1, fx_s2, &f->c);
    eai_local_platform_init(&f->la, &f->p.pc, &f->a, NULL);
    eai_local_platform_init(&f->la2, &f->p.pc, &f->a2, NULL);
    eai_local_platform_init(&f->lb, &f->p.pc, &f->b, NULL);
    eai_local_platform_init(&f->lc, &f->p.pc, &f->c, NULL);
    eai_local_platform_init(&f->lb_other, &f->p.pc2, &f->b, NULL);
    f->a_debug = f->a;
    f->a_debug.attributes.flags |= EA_FLAGS_DEBUG;
    eai_local_platform_init(&f->la_debug, &f->p.pc, &f->a_debug, NULL);
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

/* ---- reports ------------------------------------------------------------ */

static void test_sizes(void **state)
{
    (void)state;
    assert_int_equal(sizeof(ea_report_t), 432);
    assert_int_equal(sizeof(ea_report_body_t), 384);
    assert_int_equal(sizeof(ea_target_info_t), 512);
    assert_int_equal(sizeof(ea_key_request_t), 512);
    assert_int_equal(offsetof(ea_report_body_t, mr_enclave), 64);
    assert_int_equal(offsetof(ea_report_body_t, mr_signer), 128);
    assert_int_equal(offsetof(ea_report_body_t, isv_prod_id), 256);
    assert_int_equal(offsetof(ea_report_body_t, report_data), 320);
}

static void test_host_is_refused(void **state)
{
    (void)state;
    eai_trust_bind(NULL);
    ea_target_info_t ti;
    ea_report_t r;
    ea_key_request_t req;
    uint8_t key[16];
    memset(&r, 0, sizeof r);
    memset(&req, 0, sizeof req);
    assert_int_equal(ea_self_target(&ti), EA_ERR_PERM);
    assert_int_equal(ea_create_report(&ti, NULL, &r), EA_ERR_PERM);
    assert_int_equal(ea_verify_report(&r), EA_ERR_PERM);
    assert_int_equal(ea_get_key(&req, key), EA_ERR_PERM);
    ea_dh_session_t s;
    ea_dh_msg1_t m1;
    assert_int_equal(ea_dh_init_session(EA_DH_ROLE_RESPONDER, &s), EA_OK);
    assert_int_equal(ea_dh_responder_gen_msg1(&m1, &s), EA_ERR_PERM);
}

static void test_report_for_target(void **state)
{
    struct fx *f = *state;
    ea_target_info_t tb, ta;
    fx_as(&f->lb);
    assert_int_equal(ea_self_target(&tb), EA_OK);
    assert_memory_equal(tb.mr_enclave, f->b.mr_enclave, 32);
    fx_as(&f->la);
    assert_int_equal(ea_self_target(&ta), EA_OK);

    ea_report_data_t rd;
    for (int i = 0; i < 64; i++)
        rd.d[i] = (uint8_t)i;
    ea_report_t r, ra;
    assert_int_equal(ea_create_report(&tb, &rd, &r), EA_OK);
    assert_int_equal(ea_create_report(&ta, NULL, &ra), EA_OK);

    /* The body is A's identity and the data. */
    assert_memory_equal(r.body.mr_enclave, f->a.mr_enclave, 32);
    assert_memory_equal(r.body.mr_signer, f->a.mr_signer, 32);
    assert_true(r.body.attributes.flags == f->a.attributes.flags);
    assert_int_equal(r.body.isv_prod_id, f->a.isv_prod_id);
    assert_int_equal(r.body.isv_svn, f->a.isv_svn);
    assert_memory_equal(r.body.report_data.d, rd.d, 64);
    assert_memory_equal(r.key_id, f->p.pc.report_key_id, 32);
    ea_report_data_t zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(ra.body.report_data.d, zero.d, 64);

    /* A cannot verify a report made for B; A verifies its own. */
    assert_int_equal(ea_verify_report(&r), EA_ERR_AUTH);
    assert_int_equal(ea_verify_report(&ra), EA_OK);

    fx_as(&f->lb);
    assert_int_equal(ea_verify_report(&r), EA_OK);
    /* B cannot verify the report made for A. */
    assert_int_equal(ea_verify_report(&ra), EA_ERR_AUTH);

    /* Every body byte and every MAC byte counts. */
    for (size_t i = 0; i < sizeof r.body; i++) {
        ea_report_t t = r;
        ((uint8_t *)&t.body)[i] ^= 0x01;
        assert_int_equal(ea_verify_report(&t), EA_ERR_AUTH);
    }
    for (size_t i = 0; i < sizeof r.mac; i++) {
        ea_report_t t = r;
        t.mac[i] ^= 0x80;
        assert_int_equal(ea_verify_report(&t), EA_ERR_AUTH);
    }
    ea_report_t t = r;
    t.key_id[5] ^= 1;
    assert_int_equal(ea_verify_report(&t), EA_ERR_AUTH);

    /* The same enclave B on another platform (another secret) has other
     * report keys. */
    fx_as(&f->lb_other);
    assert_int_equal(ea_verify_report(&r), EA_ERR_AUTH);
    eai_trust_bind(NULL);
}

static void test_get_key(void **state)
{
    struct fx *f = *state;
    fx_as(&f->lb); /* ISVSVN 5 */
    ea_key_request_t req;
    memset(&req, 0, sizeof req);
    req.key_name = EA_KEYSELECT_SEAL;
    req.key_policy = EA_KEYPOLICY_MRSIGNER;
    req.isv_svn = 5;
    uint8_t k1[16], k2[16];
    assert_int_equal(ea_get_key(&req, k1), EA_OK);
    req.isv_svn = 4;
    assert_int_equal(ea_get_key(&req, k2), EA_OK);
    assert_memory_not_equal(k1, k2, 16);
    req.isv_svn = 6;
    assert_int_equal(ea_get_key(&req, k2), EA_ERR_PERM);
    req.isv_svn = 5;
    req.cpu_svn[0] = 1;
    assert_int_equal(ea_get_key(&req, k2), EA_ERR_PERM);
    req.cpu_svn[0] = 0;
    req.key_policy = 0;
    assert_int_equal(ea_get_key(&req, k2), EA_ERR_INVAL);
    req.key_policy = 0x10 | EA_KEYPOLICY_MRSIGNER;
    assert_int_equal(ea_get_key(&req, k2), EA_ERR_INVAL);
    req.key_policy = EA_KEYPOLICY_MRSIGNER;
    req.key_name = 9;
    assert_int_equal(ea_get_key(&req, k2), EA_ERR_INVAL);
    req.key_name = EA_KEYSELECT_SEAL;
    req.reserved2[100] = 1;
    assert_int_equal(ea_get_key(&req, k2), EA_ERR_INVAL);
    req.reserved2[100] = 0;

    /* MRSIGNER keys are shared by enclaves of a signer, MRENCLAVE keys are
     * not. A at ISVSVN 1 asks for ISVSVN 1 keys; so does B. */
    req.isv_svn = 1;
    req.key_id[0] = 42;
    uint8_t kb_s[16], kb_e[16], ka_s[16], ka_e[16];
    assert_int_equal(ea_get_key(&req, kb_s), EA_OK);
    req.key_policy = EA_KEYPOLICY_MRENCLAVE;
    assert_int_equal(ea_get_key(&req, kb_e), EA_OK);
    /* B has ISVPRODID 2, A has 1: the product id separates them too, so
     * compare A with A2 (same product) for the MRSIGNER case. */
    fx_as(&f->la);
    assert_int_equal(ea_get_key(&req, ka_e), EA_OK);
    req.key_policy = EA_KEYPOLICY_MRSIGNER;
    assert_int_equal(ea_get_key(&req, ka_s), EA_OK);
    assert_memory_not_equal(ka_e, kb_e, 16);
    assert_memory_not_equal(ka_s, kb_s, 16);
    fx_as(&f->la2);
    uint8_t k[16];
    assert_int_equal(ea_get_key(&req, k), EA_OK);
    assert_memory_equal(k, ka_s, 16);
    req.key_policy = EA_KEYPOLICY_MRENCLAVE;
    assert_int_equal(ea_get_key(&req, k), EA_OK);
    assert_memory_not_equal(k, ka_e, 16);
    eai_trust_bind(NULL);
}

/* ---- local attestation -------------------------------------------------- */

struct run {
    ea_dh_session_t si, sr;
    ea_dh_msg1_t m1;
    ea_dh_msg2_t m2;
    ea_dh_msg3_t m3;
    uint8_t aek_i[16], aek_r[16];
    ea_dh_identity_t id_i, id_r; /* what each side learns of its peer */
};

/* Messages 1 and 2: responder r, initiator i. */
static void dh_start(struct run *x, const eai_local_platform_t *i, const eai_local_platform_t *r)
{
    memset(x, 0, sizeof *x);
    assert_int_equal(ea_dh_init_session(EA_DH_ROLE_INITIATOR, &x->si), EA_OK);
    assert_int_equal(ea_dh_init_session(EA_DH_ROLE_RESPONDER, &x->sr), EA_OK);
    fx_as(r);
    assert_int_equal(ea_dh_responder_gen_msg1(&x->m1, &x->sr), EA_OK);
    fx_as(i);
    assert_int_equal(ea_dh_initiator_proc_msg1(&x->m1, &x->m2, &x->si), EA_OK);
}

static void dh_full(struct run *x, const eai_local_platform_t *i, const eai_local_platform_t *r)
{
    dh_start(x, i, r);
    fx_as(r);
    assert_int_equal(ea_dh_responder_proc_msg2(&x->m2, &x->m3, &x->sr, x->aek_r, &x->id_i), EA_OK);
    fx_as(i);
    assert_int_equal(ea_dh_initiator_proc_msg3(&x->m3, &x->si, x->aek_i, &x->id_r), EA_OK);
    eai_trust_bind(NULL);
}

static void assert_identity(const ea_dh_identity_t *d, const eai_identity_t *id)
{
    assert_memory_equal(d->mr_enclave, id->mr_enclave, 32);
    assert_memory_equal(d->mr_signer, id->mr_signer, 32);
    assert_true(d->attributes.flags == id->attributes.flags);
    assert_int_equal(d->isv_prod_id, id->isv_prod_id);
    assert_int_equal(d->isv_svn, id->isv_svn);
    assert_int_equal(d->misc_select, id->misc_select);
}

static void assert_wiped(const ea_dh_session_t *s)
{
    ea_dh_session_t z;
    memset(&z, 0, sizeof z);
    assert_memory_equal(s, &z, sizeof z);
}

static void test_dh_ok(void **state)
{
    struct fx *f = *state;
    struct run x;
    dh_full(&x, &f->la, &f->lb);
    assert_memory_equal(x.aek_i, x.aek_r, 16);
    assert_identity(&x.id_i, &f->a);
    assert_identity(&x.id_r, &f->b);
    assert_wiped(&x.si);
    assert_wiped(&x.sr);

    /* Fresh keys per session. */
    struct run y;
    dh_full(&y, &f->la, &f->lb);
    assert_memory_not_equal(x.aek_i, y.aek_i, 16);

    /* A session is single use. */
    uint8_t aek[16];
    ea_dh_identity_t id;
    fx_as(&f->la);
    assert_int_equal(ea_dh_initiator_proc_msg3(&x.m3, &x.si, aek, &id), EA_ERR_INVAL);
    assert_int_equal(ea_dh_initiator_proc_msg1(&x.m1, &x.m2, &x.si), EA_ERR_INVAL);
    eai_trust_bind(NULL);
}

static void test_dh_state_machine(void **state)
{
    struct fx *f = *state;
    ea_dh_session_t s;
    ea_dh_msg1_t m1;
    ea_dh_msg2_t m2;
    ea_dh_msg3_t m3;
    uint8_t aek[16];
    ea_dh_identity_t id;
    fx_as(&f->la);
    assert_int_equal(ea_dh_init_session(3, &s), EA_ERR_INVAL);
    assert_int_equal(ea_dh_init_session(EA_DH_ROLE_INITIATOR, &s), EA_OK);
    assert_int_equal(ea_dh_responder_gen_msg1(&m1, &s), EA_ERR_INVAL);
    assert_wiped(&s);
    assert_int_equal(ea_dh_init_session(EA_DH_ROLE_RESPONDER, &s), EA_OK);
    memset(&m1, 0, sizeof m1);
    assert_int_equal(ea_dh_initiator_proc_msg1(&m1, &m2, &s), EA_ERR_INVAL);
    assert_int_equal(ea_dh_init_session(EA_DH_ROLE_RESPONDER, &s), EA_OK);
    memset(&m2, 0, sizeof m2);
    /* msg2 before msg1. */
    assert_int_equal(ea_dh_responder_proc_msg2(&m2, &m3, &s, aek, &id), EA_ERR_INVAL);
    assert_int_equal(ea_dh_init_session(EA_DH_ROLE_INITIATOR, &s), EA_OK);
    memset(&m3, 0, sizeof m3);
    assert_int_equal(ea_dh_initiator_proc_msg3(&m3, &s, aek, &id), EA_ERR_INVAL);
    eai_trust_bind(NULL);
}

/* Runs message 2 into the responder; expects failure and untouched outputs. */
static void expect_msg2_fails(struct run *x, const eai_local_platform_t *r)
{
    uint8_t aek[16];
    ea_dh_identity_t id;
    memset(aek, 0x77, sizeof aek);
    memset(&id, 0x77, sizeof id);
    fx_as(r);
    assert_int_equal(ea_dh_responder_proc_msg2(&x->m2, &x->m3, &x->sr, aek, &id), EA_ERR_AUTH);
    for (int i = 0; i < 16; i++)
        assert_int_equal(aek[i], 0x77);
    assert_int_equal(id.mr_enclave[0], 0x77);
    assert_wiped(&x->sr);
    eai_trust_bind(NULL);
}

static void test_dh_msg2_modified(void **state)
{
    struct fx *f = *state;
    struct run x;
    size_t report_bytes[] = {0, 64, 100, 200, 300, 383, 384, 420, 431};
    for (size_t k = 0; k < sizeof report_bytes / sizeof report_bytes[0]; k++) {
        dh_start(&x, &f->la, &f->lb);
        ((uint8_t *)&x.m2.report)[report_bytes[k]] ^= 0x10;
        expect_msg2_fails(&x, &f->lb);
    }
    dh_start(&x, &f->la, &f->lb);
    x.m2.g_b[7] ^= 1;
    expect_msg2_fails(&x, &f->lb);
    dh_start(&x, &f->la, &f->lb);
    x.m2.cmac[15] ^= 1;
    expect_msg2_fails(&x, &f->lb);

    /* A report from another platform (B's verification keys differ). */
    dh_start(&x, &f->la, &f->lb_other);
    expect_msg2_fails(&x, &f->lb_other);
}

static void test_dh_msg2_replay(void **state)
{
    struct fx *f = *state;
    struct run x, y;
    dh_full(&x, &f->la, &f->lb);
    /* A fresh responder session has a fresh g_a; the old msg2 binds the old
     * one, and its CMAC is under the old SMK. */
    memset(&y, 0, sizeof y);
    assert_int_equal(ea_dh_init_session(EA_DH_ROLE_RESPONDER, &y.sr), EA_OK);
    fx_as(&f->lb);
    assert_int_equal(ea_dh_responder_gen_msg1(&y.m1, &y.sr), EA_OK);
    y.m2 = x.m2;
    expect_msg2_fails(&y, &f->lb);
}

static void test_dh_msg3_modified(void **state)
{
    struct fx *f = *state;
    size_t where[] = {0, 16, 17, 100, 16 + 64, 16 + 300, 16 + 383, 16 + 400, 16 + 431};
    for (size_t k = 0; k < sizeof where / sizeof where[0]; k++) {
        struct run x;
        dh_start(&x, &f->la, &f->lb);
        fx_as(&f->lb);
        assert_int_equal(ea_dh_responder_proc_msg2(&x.m2, &x.m3, &x.sr, x.aek_r, &x.id_i), EA_OK);
        ((uint8_t *)&x.m3)[where[k]] ^= 0x02;
        uint8_t aek[16];
        ea_dh_identity_t id;
        memset(aek, 0x77, sizeof aek);
        memset(&id, 0x77, sizeof id);
        fx_as(&f->la);
        assert_int_equal(ea_dh_initiator_proc_msg3(&x.m3, &x.si, aek, &id), EA_ERR_AUTH);
        assert_int_equal(aek[0], 0x77);
        assert_int_equal(id.isv_svn, 0x7777);
        assert_wiped(&x.si);
    }

    /* A responder that answers with a report made for someone else. */
    struct run x;
    dh_start(&x, &f->la, &f->lb);
    fx_as(&f->lb);
    assert_int_equal(ea_dh_responder_proc_msg2(&x.m2, &x.m3, &x.sr, x.aek_r, &x.id_i), EA_OK);
    ea_target_info_t tb;
    assert_int_equal(ea_self_target(&tb), EA_OK);
    ea_report_data_t rd;
    memcpy(&rd, &x.m3.report.body.report_data, sizeof rd);
    assert_int_equal(ea_create_report(&tb, &rd, &x.m3.report), EA_OK);
    uint8_t aek[16];
    ea_dh_identity_t id;
    fx_as(&f->la);
    assert_int_equal(ea_dh_initiator_proc_msg3(&x.m3, &x.si, aek, &id), EA_ERR_AUTH);
    eai_trust_bind(NULL);
}

/* A platform that answers EREPORT but cannot be reached for EGETKEY, as
 * when the platform service has gone away between two calls. */
struct outage {
    eai_tplat_t ops;
    const eai_local_platform_t *inner;
};

static int outage_ereport(void *ctx, const ea_target_info_t *t, const ea_report_data_t *d,
                          ea_report_t *r)
{
    const struct outage *o = ctx;
    return o->inner->ops.ereport(o->inner->ops.ctx, t, d, r);
}

static int outage_egetkey(void *ctx, const ea_key_request_t *req, uint8_t key[16])
{
    (void)ctx;
    (void)req;
    (void)key;
    return EA_ERR_SYS;
}

static int outage_identity(void *ctx, eai_identity_t *id)
{
    const struct outage *o = ctx;
    return o->inner->ops.identity(o->inner->ops.ctx, id);
}

static void outage_init(struct outage *o, const eai_local_platform_t *inner)
{
    memset(o, 0, sizeof *o);
    o->inner = inner;
    o->ops.ctx = o;
    o->ops.ereport = outage_ereport;
    o->ops.egetkey = outage_egetkey;
    o->ops.identity = outage_identity;
}

/* An unreachable platform is EA_ERR_SYS, not a verdict on the peer
 * (EA_ERR_AUTH): for verifying message 2's report and message 3's. */
static void test_dh_platform_outage(void **state)
{
    struct fx *f = *state;
    struct outage o;
    uint8_t aek[16];
    ea_dh_identity_t id;
    struct run x;
    dh_start(&x, &f->la, &f->lb);
    outage_init(&o, &f->lb);
    eai_trust_bind(&o.ops);
    memset(aek, 0x77, sizeof aek);
    assert_int_equal(ea_dh_responder_proc_msg2(&x.m2, &x.m3, &x.sr, aek, &id), EA_ERR_SYS);
    assert_int_equal(aek[0], 0x77);
    assert_wiped(&x.sr);

    dh_start(&x, &f->la, &f->lb);
    fx_as(&f->lb);
    assert_int_equal(ea_dh_responder_proc_msg2(&x.m2, &x.m3, &x.sr, x.aek_r, &x.id_i), EA_OK);
    outage_init(&o, &f->la);
    eai_trust_bind(&o.ops);
    assert_int_equal(ea_dh_initiator_proc_msg3(&x.m3, &x.si, aek, &id), EA_ERR_SYS);
    assert_int_equal(aek[0], 0x77);
    assert_wiped(&x.si);
    /* A forged report is still EA_ERR_AUTH with the platform up. */
    dh_start(&x, &f->la, &f->lb);
    x.m2.report.mac[0] ^= 1;
    expect_msg2_fails(&x, &f->lb);
    eai_trust_bind(NULL);
}

/* ---- policy ------------------------------------------------------------- */

static void hex8(const uint8_t h[32], char out[17])
{
    eai_hex(h, 8, out);
}

static void test_policy_signer(void **state)
{
    struct fx *f = *state;
    struct run x;
    /* C (signer S2) and A (S1) attest each other fine; the policy says no. */
    dh_full(&x, &f->lc, &f->la);
    assert_memory_equal(x.aek_i, x.aek_r, 16);
    char why[256] = "", expect[256], hp[17], hs[17];
    assert_int_equal(eai_policy_check(NULL, &f->a, &x.id_i, why, sizeof why), EA_ERR_POLICY);
    hex8(f->c.mr_signer, hp);
    hex8(f->a.mr_signer, hs);
    snprintf(expect, sizeof expect, "MRSIGNER %s... is not this enclave's signer %s...", hp, hs);
    assert_string_equal(why, expect);
    assert_int_equal(eai_policy_check(NULL, &f->c, &x.id_r, why, sizeof why), EA_ERR_POLICY);

    /* Same signer: accepted by default. */
    dh_full(&x, &f->lb, &f->la);
    assert_int_equal(eai_policy_check(NULL, &f->a, &x.id_i, why, sizeof why), EA_OK);
    assert_int_equal(eai_policy_check(NULL, &f->b, &x.id_r, why, sizeof why), EA_OK);
}

/* A production enclave refuses a DEBUG peer (a debug-signed image, or an
 * enclave the platform did not see isolated) unless its policy says
 * EA_ACCEPT_DEBUG_PEER; debug enclaves accept each other. The attestation
 * itself succeeds: the control shows that without the policy check the
 * debug peer would have been accepted with a valid key. */
static void test_policy_debug_peer(void **state)
{
    struct fx *f = *state;
    struct run x;
    char why[256] = "";
    dh_full(&x, &f->la_debug, &f->lb);
    assert_memory_equal(x.aek_i, x.aek_r, 16); /* control: attested fine */
    assert_true(x.id_i.attributes.flags & EA_FLAGS_DEBUG);
    assert_int_equal(eai_policy_check(NULL, &f->b, &x.id_i, why, sizeof why), EA_ERR_POLICY);
    assert_string_equal(why, "peer runs with the DEBUG attribute (debug-signed or not isolated) "
                             "and this enclave does not");
    ea_trust_policy_t pol = {.abi = EA_TRUST_ABI,
                             .require = EA_REQUIRE_SAME_SIGNER | EA_ACCEPT_DEBUG_PEER};
    assert_int_equal(eai_policy_check(&pol, &f->b, &x.id_i, why, sizeof why), EA_OK);
    /* The debug side accepts the production peer. */
    assert_int_equal(eai_policy_check(NULL, &f->a_debug, &x.id_r, why, sizeof why), EA_OK);
    /* EA_ACCEPT_DEBUG_PEER alone requires nothing: refused. */
    pol.require = EA_ACCEPT_DEBUG_PEER;
    assert_int_equal(eai_policy_check(&pol, &f->b, &x.id_i, why, sizeof why), EA_ERR_POLICY);
    assert_string_equal(why, "trust policy requires nothing");
}

static void test_policy_mrenclave(void **state)
{
    struct fx *f = *state;
    ea_trust_policy_t pol = {.abi = EA_TRUST_ABI,
                             .require = EA_REQUIRE_SAME_SIGNER | EA_REQUIRE_MRENCLAVE};
    memcpy(pol.mr_enclave, f->a.mr_enclave, 32);

    struct run x;
    char why[256] = "", expect[256], hp[17], hr[17];
    /* A2: same signer, other image. B is the verifier. */
    dh_full(&x, &f->la2, &f->lb);
    assert_int_equal(eai_policy_check(&pol, &f->b, &x.id_i, why, sizeof why), EA_ERR_POLICY);
    hex8(f->a2.mr_enclave, hp);
    hex8(f->a.mr_enclave, hr);
    snprintf(expect, sizeof expect, "MRENCLAVE %s... is not the required %s...", hp, hr);
    assert_string_equal(why, expect);

    dh_full(&x, &f->la, &f->lb);
    assert_int_equal(eai_policy_check(&pol, &f->b, &x.id_i, why, sizeof why), EA_OK);
}

static void test_policy_prodid_svn(void **state)
{
    struct fx *f = *state;
    struct run x;
    dh_full(&x, &f->la, &f->lb); /* A: ISVPRODID 1, ISVSVN 1 */
    char why[256] = "";
    ea_trust_policy_t pol = {.abi = EA_TRUST_ABI,
                             .require = EA_REQUIRE_SAME_SIGNER | EA_REQUIRE_PRODID,
                             .isv_prod_id = 7};
    assert_int_equal(eai_policy_check(&pol, &f->b, &x.id_i, why, sizeof why), EA_ERR_POLICY);
    assert_string_equal(why, "ISVPRODID 1 is not 7");
    pol.isv_prod_id = 1;
    assert_int_equal(eai_policy_check(&pol, &f->b, &x.id_i, why, sizeof why), EA_OK);

    pol.require = EA_REQUIRE_MIN_SVN;
    pol.min_isv_svn = 2;
    assert_int_equal(eai_policy_check(&pol, &f->b, &x.id_i, why, sizeof why), EA_ERR_POLICY);
    assert_string_equal(why, "ISVSVN 1 is below 2");
    pol.min_isv_svn = 1;
    assert_int_equal(eai_policy_check(&pol, &f->b, &x.id_i, why, sizeof why), EA_OK);
    /* B (ISVSVN 5) as the peer. */
    pol.min_isv_svn = 5;
    assert_int_equal(eai_policy_check(&pol, &f->a, &x.id_r, why, sizeof why), EA_OK);

    /* Policies this library does not understand are refused. */
    pol.abi = 2;
    assert_int_equal(eai_policy_check(&pol, &f->b, &x.id_i, why, sizeof why), EA_ERR_POLICY);
    assert_string_equal(why, "trust policy ABI 2 is not supported (expected 1)");
    pol.abi = EA_TRUST_ABI;
    pol.require = 0x1000 | EA_REQUIRE_SAME_SIGNER;
    assert_int_equal(eai_policy_check(&pol, &f->b, &x.id_i, why, sizeof why), EA_ERR_POLICY);
    assert_string_equal(why, "trust policy has unknown requirements 0x1000");
    pol.require = 0;
    assert_int_equal(eai_policy_check(&pol, &f->b, &x.id_i, why, sizeof why), EA_ERR_POLICY);
    assert_string_equal(why, "trust policy requires nothing");
    /* No buffer for the reason is fine. */
    assert_int_equal(eai_policy_check(NULL, &f->c, &x.id_i, NULL, 0), EA_ERR_POLICY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_host_is_refused),
        cmocka_unit_test(test_report_for_target),
        cmocka_unit_test(test_get_key),
        cmocka_unit_test(test_dh_ok),
        cmocka_unit_test(test_dh_state_machine),
        cmocka_unit_test(test_dh_msg2_modified),
        cmocka_unit_test(test_dh_msg2_replay),
        cmocka_unit_test(test_dh_msg3_modified),
        cmocka_unit_test(test_dh_platform_outage),
        cmocka_unit_test(test_policy_signer),
        cmocka_unit_test(test_policy_debug_peer),
        cmocka_unit_test(test_policy_mrenclave),
        cmocka_unit_test(test_policy_prodid_svn),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
