/*
 * Local attestation: SGX's 3-message Diffie-Hellman exchange (sgx_dh.h),
 * with X25519 for the key agreement.
 *
 * Design notes.
 *
 *   responder -> initiator  msg1: g_a, responder's target info
 *   initiator -> responder  msg2: g_b, report(initiator -> responder,
 *                                 data = H(g_a || g_b)), CMAC_smk(g_b || report)
 *   responder -> initiator  msg3: report(responder -> initiator,
 *                                 data = H(g_b || g_a)), CMAC_smk(report)
 *
 * shared = X25519(priv, peer_pub); SMK and AEK = HKDF-SHA256(shared, salt
 * H(g_a || g_b), info "eactors-dh-smk" / "eactors-dh-aek"), 16 bytes each.
 *
 * Why it is sound: a report can only be checked by its target and only be
 * made by the platform for the real caller, so a verified report names the
 * enclave that made it. Its report data binds both public keys, in an order
 * that differs per direction (a report cannot be reflected), so the key
 * pair that enters the AEK belongs to that enclave: a man in the middle
 * would need its own g in a report of the peer. The CMACs under SMK prove
 * the sender holds the shared secret. msg1 is unauthenticated, as in SGX: a
 * forged target only yields a report that the real responder rejects or
 * that binds the forger's g_a, which the initiator then rejects at msg3.
 *
 * State machine: INIT -> (responder) WAIT_MSG2 -> ended, or INIT ->
 * (initiator) WAIT_MSG3 -> ended. Any failure or success ends the session
 * and wipes it (role 0), so a session runs once and a later call on it is
 * EA_ERR_INVAL. Outputs (AEK, identity) are written only on success.
 */
#include "trust/trust_int.h"

#include <string.h>

#include "crypto/crypto.h"

enum { ST_INIT = 1, ST_WAIT_MSG2, ST_WAIT_MSG3 };

static void end_session(ea_dh_session_t *s)
{
    eai_wipe(s, sizeof *s);
}

/* H(x || y). */
static int hash2(const uint8_t x[32], const uint8_t y[32], uint8_t out[32])
{
    uint8_t buf[64];
    memcpy(buf, x, 32);
    memcpy(buf + 32, y, 32);
    return eai_sha256(buf, sizeof buf, out);
}

/* Shared secret, then SMK and AEK into the session. g_a is the responder's
 * key, g_b the initiator's. */
static int derive(ea_dh_session_t *s, const uint8_t g_a[32], const uint8_t g_b[32])
{
    static const char smk_info[] = "eactors-dh-smk";
    static const char aek_info[] = "eactors-dh-aek";
    uint8_t shared[32], salt[32];
    int rc = eai_x25519(s->priv, s->peer_pub, shared);
    if (rc == EA_OK)
        rc = hash2(g_a, g_b, salt);
    if (rc == EA_OK)
        rc = eai_hkdf_sha256(salt, sizeof salt, shared, sizeof shared, (const uint8_t *)smk_info,
                             sizeof smk_info - 1, s->smk, sizeof s->smk);
    if (rc == EA_OK)
        rc = eai_hkdf_sha256(salt, sizeof salt, shared, sizeof shared, (const uint8_t *)aek_info,
                             sizeof aek_info - 1, s->aek, sizeof s->aek);
    eai_wipe(shared, sizeof shared);
    /* A small-order peer key (EA_ERR_AUTH from X25519) is a failed
     * authentication like any other; library failures stay what they are. */
    return rc;
}

/* Checks a peer's report: made for us, binding `expect` in its first 32
 * bytes of report data (the rest zero). */
static int check_report(const ea_report_t *r, const uint8_t expect[32])
{
    /* EA_ERR_AUTH from the check itself; anything else (the platform
     * service unreachable, the crypto library failing) says nothing about
     * the peer and is returned as it is, so a caller can tell an outage
     * from a forgery. */
    int rc = ea_verify_report(r);
    if (rc != EA_OK)
        return rc;
    uint8_t acc = 0;
    for (size_t i = 32; i < sizeof r->body.report_data.d; i++)
        acc |= r->body.report_data.d[i];
    if (!eai_ct_equal(r->body.report_data.d, expect, 32) || acc != 0)
        return EA_ERR_AUTH;
    return EA_OK;
}

static void identity_of(const ea_report_body_t *b, ea_dh_identity_t *id)
{
    memset(id, 0, sizeof *id);
    memcpy(id->cpu_svn, b->cpu_svn, sizeof id->cpu_svn);
    id->misc_select = b->misc_select;
    id->attributes = b->attributes;
    memcpy(id->mr_enclave, b->mr_enclave, 32);
    memcpy(id->mr_signer, b->mr_signer, 32);
    id->isv_prod_id = b->isv_prod_id;
    id->isv_svn = b->isv_svn;
}

int ea_dh_init_session(uint32_t role, ea_dh_session_t *session)
{
    if (session == NULL || (role != EA_DH_ROLE_INITIATOR && role != EA_DH_ROLE_RESPONDER))
        return EA_ERR_INVAL;
    eai_wipe(session, sizeof *session);
    session->role = role;
    session->state = ST_INIT;
    return EA_OK;
}

/* Checks that `session` is at step `state` of role `role` and that a
 * platform is bound; on failure the session ends (single use). */
static int enter(ea_dh_session_t *session, uint32_t role, uint32_t state)
{
    if (session->role != role || session->state != state) {
        end_session(session);
        return EA_ERR_INVAL;
    }
    if (eai_trust_platform() == NULL) {
        end_session(session);
        return EA_ERR_PERM;
    }
    return EA_OK;
}

int ea_dh_responder_gen_msg1(ea_dh_msg1_t *msg1, ea_dh_session_t *session)
{
    if (msg1 == NULL || session == NULL)
        return EA_ERR_INVAL;
    int rc = enter(session, EA_DH_ROLE_RESPONDER, ST_INIT);
    if (rc != EA_OK)
        return rc;
    ea_dh_msg1_t m;
    memset(&m, 0, sizeof m);
    rc = eai_x25519_keygen(session->pub, session->priv);
    if (rc == EA_OK)
        rc = ea_self_target(&m.target);
    if (rc != EA_OK) {
        end_session(session);
        return rc;
    }
    memcpy(m.g_a, session->pub, 32);
    *msg1 = m;
    session->state = ST_WAIT_MSG2;
    return EA_OK;
}

int ea_dh_initiator_proc_msg1(const ea_dh_msg1_t *msg1, ea_dh_msg2_t *msg2,
                              ea_dh_session_t *session)
{
    if (msg1 == NULL || msg2 == NULL || session == NULL)
        return EA_ERR_INVAL;
    int rc = enter(session, EA_DH_ROLE_INITIATOR, ST_INIT);
    if (rc != EA_OK)
        return rc;
    ea_dh_msg2_t m;
    memset(&m, 0, sizeof m);
    ea_report_data_t rd;
    memset(&rd, 0, sizeof rd);
    uint8_t mac_in[32 + sizeof(ea_report_t)];
    memcpy(session->peer_pub, msg1->g_a, 32);
    rc = eai_x25519_keygen(session->pub, session->priv);
    if (rc == EA_OK)
        rc = derive(session, session->peer_pub, session->pub);
    if (rc == EA_OK)
        rc = hash2(session->peer_pub, session->pub, rd.d);
    if (rc == EA_OK)
        rc = ea_create_report(&msg1->target, &rd, &m.report);
    if (rc == EA_OK) {
        memcpy(m.g_b, session->pub, 32);
        memcpy(mac_in, m.g_b, 32);
        memcpy(mac_in + 32, &m.report, sizeof m.report);
        rc = eai_cmac_aes128(session->smk, mac_in, sizeof mac_in, m.cmac);
    }
    if (rc != EA_OK) {
        end_session(session);
        return rc;
    }
    *msg2 = m;
    session->state = ST_WAIT_MSG3;
    return EA_OK;
}

int ea_dh_responder_proc_msg2(const ea_dh_msg2_t *msg2, ea_dh_msg3_t *msg3,
                              ea_dh_session_t *session, uint8_t aek[16],
                              ea_dh_identity_t *initiator_identity)
{
    if (msg2 == NULL || msg3 == NULL || session == NULL || aek == NULL ||
        initiator_identity == NULL)
        return EA_ERR_INVAL;
    int rc = enter(session, EA_DH_ROLE_RESPONDER, ST_WAIT_MSG2);
    if (rc != EA_OK)
        return rc;
    /* Copy first: msg2 may live in memory the host can still change. */
    ea_dh_msg2_t in = *msg2;
    ea_dh_msg3_t m;
    memset(&m, 0, sizeof m);
    uint8_t mac_in[32 + sizeof(ea_report_t)], mac[16], expect[32];
    memcpy(session->peer_pub, in.g_b, 32);
    rc = derive(session, session->pub, session->peer_pub);
    if (rc == EA_OK) {
        memcpy(mac_in, in.g_b, 32);
        memcpy(mac_in + 32, &in.report, sizeof in.report);
        rc = eai_cmac_aes128(session->smk, mac_in, sizeof mac_in, mac);
    }
    if (rc == EA_OK && !eai_ct_equal(mac, in.cmac, sizeof mac))
        rc = EA_ERR_AUTH;
    if (rc == EA_OK)
        rc = hash2(session->pub, session->peer_pub, expect);
    if (rc == EA_OK)
        rc = check_report(&in.report, expect);
    if (rc == EA_OK) {
        ea_target_info_t ti;
        memset(&ti, 0, sizeof ti);
        memcpy(ti.mr_enclave, in.report.body.mr_enclave, 32);
        ti.attributes = in.report.body.attributes;
        ti.misc_select = in.report.body.misc_select;
        ea_report_data_t rd;
        memset(&rd, 0, sizeof rd);
        rc = hash2(session->peer_pub, session->pub, rd.d);
        if (rc == EA_OK)
            rc = ea_create_report(&ti, &rd, &m.report);
    }
    if (rc == EA_OK)
        rc = eai_cmac_aes128(session->smk, &m.report, sizeof m.report, m.cmac);
    if (rc == EA_OK) {
        *msg3 = m;
        memcpy(aek, session->aek, 16);
        identity_of(&in.report.body, initiator_identity);
    }
    end_session(session);
    return rc;
}

int ea_dh_initiator_proc_msg3(const ea_dh_msg3_t *msg3, ea_dh_session_t *session, uint8_t aek[16],
                              ea_dh_identity_t *responder_identity)
{
    if (msg3 == NULL || session == NULL || aek == NULL || responder_identity == NULL)
        return EA_ERR_INVAL;
    int rc = enter(session, EA_DH_ROLE_INITIATOR, ST_WAIT_MSG3);
    if (rc != EA_OK)
        return rc;
    ea_dh_msg3_t in = *msg3;
    uint8_t mac[16], expect[32];
    rc = eai_cmac_aes128(session->smk, &in.report, sizeof in.report, mac);
    if (rc == EA_OK && !eai_ct_equal(mac, in.cmac, sizeof mac))
        rc = EA_ERR_AUTH;
    if (rc == EA_OK)
        rc = hash2(session->pub, session->peer_pub, expect);
    if (rc == EA_OK)
        rc = check_report(&in.report, expect);
    if (rc == EA_OK) {
        memcpy(aek, session->aek, 16);
        identity_of(&in.report.body, responder_identity);
    }
    end_session(session);
    return rc;
}
