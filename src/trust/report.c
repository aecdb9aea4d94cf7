/*
 * Reports and keys on the enclave side (sgx_utils.h), and the counters'
 * enclave-side calls.
 *
 * Design notes.
 *
 * These functions only forward to the platform bound to the calling thread;
 * the platform fills in the caller's identity, so an enclave can neither
 * claim another identity in a report nor derive another enclave's keys.
 * ea_verify_report derives its own report key with the key id recorded in
 * the report, recomputes the CMAC over the body and compares in constant
 * time: a report made for another target, on another platform (secret) or
 * in another platform run (key id) fails, as does any changed byte.
 */
#include "trust/trust_int.h"

#include <string.h>

#include "crypto/crypto.h"

int ea_self_target(ea_target_info_t *ti)
{
    const eai_tplat_t *p = eai_trust_platform();
    if (p == NULL)
        return EA_ERR_PERM;
    if (ti == NULL)
        return EA_ERR_INVAL;
    eai_identity_t id;
    int rc = p->identity(p->ctx, &id);
    if (rc != EA_OK)
        return rc;
    eai_target_of(&id, ti);
    return EA_OK;
}

int ea_create_report(const ea_target_info_t *target, const ea_report_data_t *data,
                     ea_report_t *report)
{
    const eai_tplat_t *p = eai_trust_platform();
    if (p == NULL)
        return EA_ERR_PERM;
    if (target == NULL || report == NULL)
        return EA_ERR_INVAL;
    return p->ereport(p->ctx, target, data, report);
}

int ea_verify_report(const ea_report_t *report)
{
    const eai_tplat_t *p = eai_trust_platform();
    if (p == NULL)
        return EA_ERR_PERM;
    if (report == NULL)
        return EA_ERR_INVAL;
    ea_key_request_t req;
    memset(&req, 0, sizeof req);
    req.key_name = EA_KEYSELECT_REPORT;
    memcpy(req.key_id, report->key_id, sizeof req.key_id);
    uint8_t key[16], mac[16];
    int rc = p->egetkey(p->ctx, &req, key);
    if (rc == EA_OK)
        rc = eai_cmac_aes128(key, &report->body, sizeof report->body, mac);
    eai_wipe(key, sizeof key);
    if (rc != EA_OK)
        return rc;
    return eai_ct_equal(mac, report->mac, sizeof mac) ? EA_OK : EA_ERR_AUTH;
}

int ea_get_key(const ea_key_request_t *req, uint8_t key[EA_KEY_SIZE])
{
    const eai_tplat_t *p = eai_trust_platform();
    if (p == NULL)
        return EA_ERR_PERM;
    if (req == NULL || key == NULL)
        return EA_ERR_INVAL;
    return p->egetkey(p->ctx, req, key);
}

/* ---- monotonic counters --------------------------------------------------- */

static int mc_call(int op, ea_mc_uuid_t *uuid, uint32_t *value)
{
    const eai_tplat_t *p = eai_trust_platform();
    if (p == NULL || p->mc == NULL)
        return EA_ERR_PERM;
    return p->mc(p->ctx, op, uuid, value);
}

int ea_create_monotonic_counter(ea_mc_uuid_t *counter_uuid, uint32_t *counter_value)
{
    if (counter_uuid == NULL || counter_value == NULL)
        return EA_ERR_INVAL;
    return mc_call(EAI_MC_CREATE, counter_uuid, counter_value);
}

int ea_read_monotonic_counter(const ea_mc_uuid_t *counter_uuid, uint32_t *counter_value)
{
    if (counter_uuid == NULL || counter_value == NULL)
        return EA_ERR_INVAL;
    ea_mc_uuid_t u = *counter_uuid;
    return mc_call(EAI_MC_READ, &u, counter_value);
}

int ea_increment_monotonic_counter(const ea_mc_uuid_t *counter_uuid, uint32_t *counter_value)
{
    if (counter_uuid == NULL || counter_value == NULL)
        return EA_ERR_INVAL;
    ea_mc_uuid_t u = *counter_uuid;
    return mc_call(EAI_MC_INCREMENT, &u, counter_value);
}

int ea_destroy_monotonic_counter(const ea_mc_uuid_t *counter_uuid)
{
    if (counter_uuid == NULL)
        return EA_ERR_INVAL;
    ea_mc_uuid_t u = *counter_uuid;
    uint32_t unused = 0;
    return mc_call(EAI_MC_DESTROY, &u, &unused);
}
