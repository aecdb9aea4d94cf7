/*
 * The platform core: the platform secret, EREPORT and EGETKEY.
 *
 * Design notes.
 *
 * Every key is HKDF-SHA256 of the platform secret with an info string that
 * names the purpose and the identity the key belongs to, so two enclaves
 * (or one enclave on two platforms) never share a key unless the key policy
 * says they should. The report key of an enclave depends on its MRENCLAVE,
 * its attributes and the report key id; EREPORT derives the *target's*
 * report key, EGETKEY(REPORT) the caller's own, so only the target can check
 * a report's MAC. The report key id is random per platform start, like
 * SGX's per-boot value, so reports do not outlive the platform process.
 *
 * The seal key depends on the requested ISVSVN and CPUSVN, and EGETKEY
 * refuses an ISVSVN above the caller's own (and a CPUSVN above the
 * platform's, which is zero): an enclave can derive the keys of its older
 * versions, never of newer ones. Every field of a seal key request either
 * enters the derivation (the attribute and MISCSELECT masks as well as the
 * masked values, beyond what trust.h's list started with) or must be zero
 * (reserved fields, CONFIGSVN), so each key has exactly one request that
 * names it and an edited request in sealed data always fails its tag.
 *
 * The secret file. The first start writes 32 random bytes into a private
 * temporary file, fsyncs it and link()s it to "secret": link fails if the
 * name exists, so concurrent first starts agree on one secret and nobody
 * ever reads a half-written file. Every open checks that the file is a
 * regular file owned by us, 32 bytes long and not accessible to group or
 * others. Both steps are the platform layer's (eai_file_write_atomic with
 * EAI_WRITE_EXCL, eai_file_read_private).
 */
#include "trust/trust_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "platform/platform.h"

/* Creates "<dir>/secret" unless it exists. EA_OK also when another process
 * created it first (the exclusive write then writes nothing). */
static int create_secret(const char *path, char *err, size_t errlen)
{
    uint8_t secret[32];
    int rc = eai_random(secret, sizeof secret);
    if (rc != EA_OK) {
        eai_trust_errf(err, errlen, "cannot make a platform secret: %s", ea_strerror(rc));
        return rc;
    }
    bool existed;
    rc =
        eai_file_write_atomic(EAI_CWD, path, secret, sizeof secret, 0600, EAI_WRITE_EXCL, &existed);
    eai_wipe(secret, sizeof secret);
    if (rc != EA_OK)
        eai_trust_errf(err, errlen, "cannot create platform secret '%s': %s", path,
                       strerror(errno));
    return rc;
}

int eai_pcore_open(eai_pcore_t *pc, const char *dir, char *err, size_t errlen)
{
    if (pc == NULL || dir == NULL)
        return EA_ERR_INVAL;
    memset(pc, 0, sizeof *pc);
    int rc = eai_dir_make_private(dir, "platform directory", err, errlen);
    if (rc != EA_OK)
        return rc;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/secret", dir) >= (int)sizeof path) {
        eai_trust_errf(err, errlen, "platform directory name '%s' is too long", dir);
        return EA_ERR_INVAL;
    }
    rc = eai_file_read_private(path, pc->secret, sizeof pc->secret, "platform secret", err, errlen);
    if (rc == EA_ERR_NOTFOUND) {
        rc = create_secret(path, err, errlen);
        if (rc != EA_OK)
            return rc;
        rc = eai_file_read_private(path, pc->secret, sizeof pc->secret, "platform secret", err,
                                   errlen);
        if (rc == EA_ERR_NOTFOUND)
            eai_trust_errf(err, errlen, "platform secret '%s' vanished after its creation", path);
    }
    if (rc == EA_OK) {
        rc = eai_random(pc->report_key_id, sizeof pc->report_key_id);
        if (rc != EA_OK)
            eai_trust_errf(err, errlen, "cannot make a report key id: %s", ea_strerror(rc));
    }
    if (rc != EA_OK)
        eai_pcore_close(pc);
    return rc;
}

void eai_pcore_close(eai_pcore_t *pc)
{
    if (pc != NULL)
        eai_wipe(pc, sizeof *pc);
}

/* Report key of the enclave (mr_enclave, attributes) for key id `key_id`. */
static int report_key(const eai_pcore_t *pc, const uint8_t mr_enclave[32],
                      const ea_attributes_t *attr, const uint8_t key_id[32], uint8_t key[16])
{
    uint8_t info[6 + 32 + 16 + 32];
    memcpy(info, "report", 6);
    memcpy(info + 6, mr_enclave, 32);
    eai_attr_bytes(attr, info + 38);
    memcpy(info + 54, key_id, 32);
    return eai_hkdf_sha256(NULL, 0, pc->secret, sizeof pc->secret, info, sizeof info, key, 16);
}

void eai_target_of(const eai_identity_t *id, ea_target_info_t *ti)
{
    memset(ti, 0, sizeof *ti);
    memcpy(ti->mr_enclave, id->mr_enclave, 32);
    ti->attributes = id->attributes;
    ti->misc_select = id->misc_select;
}

int eai_pcore_ereport(const eai_pcore_t *pc, const eai_identity_t *me,
                      const ea_target_info_t *target, const ea_report_data_t *data,
                      ea_report_t *report)
{
    if (pc == NULL || me == NULL || target == NULL || report == NULL)
        return EA_ERR_INVAL;
    ea_report_t r;
    memset(&r, 0, sizeof r);
    r.body.misc_select = me->misc_select;
    r.body.attributes = me->attributes;
    memcpy(r.body.mr_enclave, me->mr_enclave, 32);
    memcpy(r.body.mr_signer, me->mr_signer, 32);
    r.body.isv_prod_id = me->isv_prod_id;
    r.body.isv_svn = me->isv_svn;
    if (data != NULL)
        r.body.report_data = *data;
    memcpy(r.key_id, pc->report_key_id, 32);
    uint8_t key[16];
    int rc = report_key(pc, target->mr_enclave, &target->attributes, r.key_id, key);
    if (rc == EA_OK)
        rc = eai_cmac_aes128(key, &r.body, sizeof r.body, r.mac);
    eai_wipe(key, sizeof key);
    if (rc == EA_OK)
        *report = r;
    return rc;
}

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

int eai_pcore_egetkey(const eai_pcore_t *pc, const eai_identity_t *me, const ea_key_request_t *req,
                      uint8_t key[16])
{
    if (pc == NULL || me == NULL || req == NULL || key == NULL)
        return EA_ERR_INVAL;
    /* CONFIGSVN belongs to SGX's key separation and sharing, which the
     * software platform does not have: it must be zero like the reserved
     * fields. */
    if (req->reserved1 != 0 || !all_zero(req->reserved2, sizeof req->reserved2) ||
        req->config_svn != 0)
        return EA_ERR_INVAL;
    if (req->isv_svn > me->isv_svn || !all_zero(req->cpu_svn, sizeof req->cpu_svn))
        return EA_ERR_PERM;
    if (req->key_name == EA_KEYSELECT_REPORT)
        return report_key(pc, me->mr_enclave, &me->attributes, req->key_id, key);
    if (req->key_name != EA_KEYSELECT_SEAL)
        return EA_ERR_INVAL;

    const uint16_t known = EA_KEYPOLICY_MRENCLAVE | EA_KEYPOLICY_MRSIGNER;
    if ((req->key_policy & known) == 0 || (req->key_policy & ~known) != 0)
        return EA_ERR_INVAL;
    uint8_t info[4 + 2 + 32 + 32 + 2 + 2 + 16 + 16 + 16 + 4 + 4 + 32];
    size_t n = 0;
    memcpy(info, "seal", 4);
    n += 4;
    eai_put_le16(info + n, req->key_policy);
    n += 2;
    if (req->key_policy & EA_KEYPOLICY_MRENCLAVE) {
        memcpy(info + n, me->mr_enclave, 32);
        n += 32;
    }
    if (req->key_policy & EA_KEYPOLICY_MRSIGNER) {
        memcpy(info + n, me->mr_signer, 32);
        n += 32;
    }
    eai_put_le16(info + n, me->isv_prod_id);
    n += 2;
    eai_put_le16(info + n, req->isv_svn);
    n += 2;
    memcpy(info + n, req->cpu_svn, 16);
    n += 16;
    /* As on SGX, INITTED and DEBUG are forced into the mask: a debug
     * enclave (or one that is not isolated, which EINIT marks DEBUG) never
     * derives a production enclave's seal key, whatever mask it asks for. */
    ea_attributes_t masked = {
        .flags =
            me->attributes.flags & (req->attribute_mask.flags | EA_FLAGS_INITTED | EA_FLAGS_DEBUG),
        .xfrm = me->attributes.xfrm & req->attribute_mask.xfrm,
    };
    eai_attr_bytes(&masked, info + n);
    n += 16;
    /* The masks themselves too: every field of the request then either
     * changes the key or is refused, so sealed data has one valid key
     * request and any edit to it fails the tag. */
    eai_attr_bytes(&req->attribute_mask, info + n);
    n += 16;
    eai_put_le32(info + n, me->misc_select & req->misc_mask);
    n += 4;
    eai_put_le32(info + n, req->misc_mask);
    n += 4;
    memcpy(info + n, req->key_id, 32);
    n += 32;
    return eai_hkdf_sha256(NULL, 0, pc->secret, sizeof pc->secret, info, n, key, 16);
}
