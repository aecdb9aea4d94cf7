/*
 * Sealing (sgx_tseal.h): AES-GCM-128 under a key the platform derives from
 * the enclave's identity.
 *
 * Design notes.
 *
 * Each seal asks EGETKEY for a key with a fresh random 32-byte key id, so
 * no two seals share a key and the all-zero IV is safe (the SGX SDK does the
 * same). The key request is stored in the clear: it holds no secret, and it
 * is authenticated implicitly, because any change to it derives another key
 * (or is refused by EGETKEY) and the tag no longer verifies. The additional
 * MAC text is the GCM AAD, so it is authenticated but readable. The texts and
 * the sealed buffer must not overlap (the encryption writes straight into
 * the sealed buffer).
 *
 * Unsealing treats the sealed data as hostile (it comes from the host).
 * Every length is checked before any byte past the fixed header is read:
 * plain_text_offset <= payload_size, both lengths fit the caller's buffers,
 * and the total size does not wrap. The bytes read are then bounded by the
 * header plus the caller's two buffer sizes. ea_unseal_data has no
 * parameter for the size of the sealed buffer (SGX's has none either): its
 * caller must check that the bytes it received are
 * ea_calc_sealed_data_size(ea_get_add_mac_txt_len(), ea_get_encrypt_txt_len())
 * before calling, or pass buffer sizes that bound what it received.
 * ea_unseal_data_ex takes the number of bytes received and does that check
 * itself: fewer than the fixed header, or another total than the header
 * records, is modified data, decided before the header (resp. the payload)
 * is read. Reserved fields must be zero and the CPUSVN the platform's
 * (zero), so every byte of the blob is either authenticated or checked. Any
 * inconsistency is EA_ERR_AUTH ("modified"), except lengths beyond the
 * caller's buffers (EA_ERR_INVAL) and an ISVSVN above ours, which EGETKEY
 * reports as EA_ERR_PERM (what a seal by a newer version of the enclave
 * gets).
 */
#include "trust/trust_int.h"

#include <stddef.h>
#include <string.h>

#include "crypto/crypto.h"

static const uint8_t zero_iv[12];

uint32_t ea_calc_sealed_data_size(uint32_t add_mac_txt_size, uint32_t txt_encrypt_size)
{
    uint64_t total = (uint64_t)sizeof(ea_sealed_data_t) + add_mac_txt_size + txt_encrypt_size;
    return total >= UINT32_MAX ? UINT32_MAX : (uint32_t)total;
}

uint32_t ea_get_add_mac_txt_len(const ea_sealed_data_t *p_sealed_data)
{
    if (p_sealed_data == NULL)
        return UINT32_MAX;
    uint32_t total = p_sealed_data->aes_data.payload_size;
    uint32_t off = p_sealed_data->plain_text_offset;
    if (off > total || ea_calc_sealed_data_size(0, total) == UINT32_MAX)
        return UINT32_MAX;
    return total - off;
}

uint32_t ea_get_encrypt_txt_len(const ea_sealed_data_t *p_sealed_data)
{
    if (p_sealed_data == NULL)
        return UINT32_MAX;
    uint32_t total = p_sealed_data->aes_data.payload_size;
    uint32_t off = p_sealed_data->plain_text_offset;
    if (off > total || ea_calc_sealed_data_size(0, total) == UINT32_MAX)
        return UINT32_MAX;
    return off;
}

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

int ea_seal_data(uint32_t additional_mactext_length, const uint8_t *p_additional_mactext,
                 uint32_t text2encrypt_length, const uint8_t *p_text2encrypt,
                 uint32_t sealed_data_size, ea_sealed_data_t *p_sealed_data)
{
    /* The SDK's TSEAL default: the key follows INITTED and DEBUG, so data
     * sealed by a production enclave cannot be unsealed by its debug build. */
    ea_attributes_t mask = {.flags = EA_FLAGS_INITTED | EA_FLAGS_DEBUG, .xfrm = 0};
    return ea_seal_data_ex(EA_KEYPOLICY_MRSIGNER, mask, 0, additional_mactext_length,
                           p_additional_mactext, text2encrypt_length, p_text2encrypt,
                           sealed_data_size, p_sealed_data);
}

int ea_seal_data_ex(uint16_t key_policy, ea_attributes_t attribute_mask, uint32_t misc_mask,
                    uint32_t additional_mactext_length, const uint8_t *p_additional_mactext,
                    uint32_t text2encrypt_length, const uint8_t *p_text2encrypt,
                    uint32_t sealed_data_size, ea_sealed_data_t *p_sealed_data)
{
    const eai_tplat_t *p = eai_trust_platform();
    if (p == NULL)
        return EA_ERR_PERM;
    if (key_policy != EA_KEYPOLICY_MRENCLAVE && key_policy != EA_KEYPOLICY_MRSIGNER)
        return EA_ERR_INVAL;
    /* As the SDK: the mask must keep INITTED and DEBUG. */
    if ((attribute_mask.flags & (EA_FLAGS_INITTED | EA_FLAGS_DEBUG)) !=
        (EA_FLAGS_INITTED | EA_FLAGS_DEBUG))
        return EA_ERR_INVAL;
    if ((additional_mactext_length > 0 && p_additional_mactext == NULL) ||
        (text2encrypt_length > 0 && p_text2encrypt == NULL) || p_sealed_data == NULL)
        return EA_ERR_INVAL;
    uint32_t need = ea_calc_sealed_data_size(additional_mactext_length, text2encrypt_length);
    if (need == UINT32_MAX || sealed_data_size != need)
        return EA_ERR_INVAL;

    eai_identity_t id;
    int rc = p->identity(p->ctx, &id);
    if (rc != EA_OK)
        return rc;

    ea_sealed_data_t *s = p_sealed_data;
    memset(s, 0, sizeof *s);
    ea_key_request_t *req = &s->key_request;
    req->key_name = EA_KEYSELECT_SEAL;
    req->key_policy = key_policy;
    req->isv_svn = id.isv_svn;
    req->attribute_mask = attribute_mask;
    req->misc_mask = misc_mask;
    rc = eai_random(req->key_id, sizeof req->key_id);
    if (rc != EA_OK)
        goto fail;

    uint8_t key[16];
    rc = p->egetkey(p->ctx, req, key);
    if (rc != EA_OK) {
        eai_wipe(key, sizeof key);
        goto fail;
    }
    eai_aead_t aead;
    rc = eai_aead_init(&aead, key, sizeof key);
    eai_wipe(key, sizeof key);
    if (rc != EA_OK)
        goto fail;
    uint8_t *payload = s->aes_data.payload;
    rc = eai_aead_seal(&aead, zero_iv, p_additional_mactext, additional_mactext_length,
                       p_text2encrypt, text2encrypt_length, payload, s->aes_data.payload_tag);
    eai_aead_fini(&aead);
    if (rc != EA_OK)
        goto fail;
    if (additional_mactext_length > 0)
        memcpy(payload + text2encrypt_length, p_additional_mactext, additional_mactext_length);
    s->plain_text_offset = text2encrypt_length;
    s->aes_data.payload_size = text2encrypt_length + additional_mactext_length;
    return EA_OK;
fail:
    eai_wipe(p_sealed_data, sealed_data_size);
    return rc;
}

/* Unseals `s`; `blob_size` is the number of bytes the caller holds, or
 * NULL when it does not say (ea_unseal_data). */
static int unseal(const ea_sealed_data_t *s, const uint32_t *blob_size,
                  uint8_t *p_additional_mactext, uint32_t *p_additional_mactext_length,
                  uint8_t *p_decrypted_text, uint32_t *p_decrypted_text_length)
{
    const eai_tplat_t *p = eai_trust_platform();
    if (p == NULL)
        return EA_ERR_PERM;
    if (s == NULL || p_decrypted_text_length == NULL)
        return EA_ERR_INVAL;
    uint32_t add_cap = p_additional_mactext_length != NULL ? *p_additional_mactext_length : 0;
    uint32_t dec_cap = *p_decrypted_text_length;
    if ((add_cap > 0 && p_additional_mactext == NULL) || (dec_cap > 0 && p_decrypted_text == NULL))
        return EA_ERR_INVAL;
    /* Not even the fixed header is read unless the blob holds it. */
    if (blob_size != NULL && *blob_size < sizeof(ea_sealed_data_t))
        return EA_ERR_AUTH;

    /* Only the fixed header is read until the lengths are known to be
     * consistent and within the caller's sizes. */
    uint32_t enc_len = ea_get_encrypt_txt_len(s);
    uint32_t add_len = ea_get_add_mac_txt_len(s);
    uint32_t need = ea_calc_sealed_data_size(add_len, enc_len);
    if (enc_len == UINT32_MAX || add_len == UINT32_MAX || need == UINT32_MAX)
        return EA_ERR_AUTH;
    /* A blob of another size than its header records was cut short or has
     * bytes that nothing authenticates: modified. */
    if (blob_size != NULL && *blob_size != need)
        return EA_ERR_AUTH;
    /* Buffers too small: as the SDK, a parameter error (the caller may ask
     * the lengths with ea_get_*_len and retry). */
    if (enc_len > dec_cap || add_len > add_cap)
        return EA_ERR_INVAL;
    if (!all_zero(s->reserved, sizeof s->reserved) ||
        !all_zero(s->aes_data.reserved, sizeof s->aes_data.reserved) ||
        s->key_request.key_name != EA_KEYSELECT_SEAL)
        return EA_ERR_AUTH;
    /* Seals are made at the platform's CPUSVN, which is zero and never
     * changes on this backend: any other value was written by someone
     * else. (EGETKEY would refuse it with EA_ERR_PERM, the answer meant for
     * a seal from a newer platform, which this cannot be.) */
    if (!all_zero(s->key_request.cpu_svn, sizeof s->key_request.cpu_svn))
        return EA_ERR_AUTH;

    uint8_t key[16];
    int rc = p->egetkey(p->ctx, &s->key_request, key);
    if (rc != EA_OK) {
        eai_wipe(key, sizeof key);
        /* A malformed request is modified data; a newer ISVSVN is PERM. */
        return rc == EA_ERR_INVAL ? EA_ERR_AUTH : rc;
    }
    eai_aead_t aead;
    rc = eai_aead_init(&aead, key, sizeof key);
    eai_wipe(key, sizeof key);
    if (rc != EA_OK)
        return rc;
    const uint8_t *payload = s->aes_data.payload;
    rc = eai_aead_open(&aead, zero_iv, payload + enc_len, add_len, payload, enc_len,
                       p_decrypted_text, s->aes_data.payload_tag);
    eai_aead_fini(&aead);
    if (rc != EA_OK) {
        eai_wipe(p_decrypted_text, dec_cap);
        return rc;
    }
    if (add_len > 0)
        memcpy(p_additional_mactext, payload + enc_len, add_len);
    if (p_additional_mactext_length != NULL)
        *p_additional_mactext_length = add_len;
    *p_decrypted_text_length = enc_len;
    return EA_OK;
}

int ea_unseal_data(const ea_sealed_data_t *p_sealed_data, uint8_t *p_additional_mactext,
                   uint32_t *p_additional_mactext_length, uint8_t *p_decrypted_text,
                   uint32_t *p_decrypted_text_length)
{
    return unseal(p_sealed_data, NULL, p_additional_mactext, p_additional_mactext_length,
                  p_decrypted_text, p_decrypted_text_length);
}

int ea_unseal_data_ex(const ea_sealed_data_t *p_sealed_data, uint32_t sealed_data_size,
                      uint8_t *p_additional_mactext, uint32_t *p_additional_mactext_length,
                      uint8_t *p_decrypted_text, uint32_t *p_decrypted_text_length)
{
    return unseal(p_sealed_data, &sealed_data_size, p_additional_mactext,
                  p_additional_mactext_length, p_decrypted_text, p_decrypted_text_length);
}
