/**
 * @file ea_trust.h
 * @brief Identity, reports, local attestation, sealing and monotonic
 * counters, for actors running in an enclave.
 *
 * The names and byte layouts follow the Intel SGX SDK (sgx_report_t,
 * sgx_target_info_t, sgx_key_request_t, sgx_sealed_data_t, sgx_dh_*), so a
 * reader of the SGX documentation feels at home and code carries over to a
 * real SGX backend. `sgx_` becomes `ea_`; functions return an `ea_err`.
 *
 * These functions act for the enclave of the calling actor: call them from a
 * constructor or a body. In the host (no enclave) those that need the
 * platform return EA_ERR_PERM.
 * They talk to the platform (the emulated CPU) and may block for a few
 * microseconds; none is meant for the per-message path.
 */
#ifndef EA_TRUST_H
#define EA_TRUST_H

#include <stdint.h>

#include <eactors/ea_err.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EA_HASH_SIZE 32
#define EA_KEY_SIZE 16
#define EA_MAC_SIZE 16

/** Enclave attributes (SGX: sgx_attributes_t). */
typedef struct ea_attributes {
    uint64_t flags; /**< EA_FLAGS_* */
    uint64_t xfrm;  /**< unused by the software backend, kept for layout */
} ea_attributes_t;

#define EA_FLAGS_INITTED UINT64_C(0x1)
#define EA_FLAGS_DEBUG UINT64_C(0x2)
#define EA_FLAGS_MODE64BIT UINT64_C(0x4)

/** 64 bytes of caller data bound into a report (SGX: sgx_report_data_t). */
typedef struct ea_report_data {
    uint8_t d[64];
} ea_report_data_t;

/** Report body, 384 bytes, SGX layout (sgx_report_body_t). */
typedef struct ea_report_body {
    uint8_t cpu_svn[16];
    uint32_t misc_select;
    uint8_t reserved1[12];
    uint8_t isv_ext_prod_id[16];
    ea_attributes_t attributes;
    uint8_t mr_enclave[32];
    uint8_t reserved2[32];
    uint8_t mr_signer[32];
    uint8_t reserved3[32];
    uint8_t config_id[64];
    uint16_t isv_prod_id;
    uint16_t isv_svn;
    uint16_t config_svn;
    uint8_t reserved4[42];
    uint8_t isv_family_id[16];
    ea_report_data_t report_data;
} ea_report_body_t;

/** Report, 432 bytes (sgx_report_t): body, key id, AES-128-CMAC over body. */
typedef struct ea_report {
    ea_report_body_t body;
    uint8_t key_id[32];
    uint8_t mac[16];
} ea_report_t;

/** Who a report is for, 512 bytes (sgx_target_info_t). */
typedef struct ea_target_info {
    uint8_t mr_enclave[32];
    ea_attributes_t attributes;
    uint8_t reserved1[2];
    uint16_t config_svn;
    uint32_t misc_select;
    uint8_t reserved2[8];
    uint8_t config_id[64];
    uint8_t reserved3[384];
} ea_target_info_t;

#define EA_KEYSELECT_REPORT 0x0003
#define EA_KEYSELECT_SEAL 0x0004
#define EA_KEYPOLICY_MRENCLAVE 0x0001
#define EA_KEYPOLICY_MRSIGNER 0x0002

/** Key request, 512 bytes (sgx_key_request_t). */
typedef struct ea_key_request {
    uint16_t key_name;   /**< EA_KEYSELECT_* */
    uint16_t key_policy; /**< EA_KEYPOLICY_* (seal keys) */
    uint16_t isv_svn;    /**< must not exceed the enclave's own ISVSVN */
    uint16_t reserved1;
    uint8_t cpu_svn[16];
    ea_attributes_t attribute_mask;
    uint8_t key_id[32];
    uint32_t misc_mask;
    uint16_t config_svn;
    uint8_t reserved2[434];
} ea_key_request_t;

_Static_assert(sizeof(ea_report_body_t) == 384, "SGX report body layout");
_Static_assert(sizeof(ea_report_t) == 432, "SGX report layout");
_Static_assert(sizeof(ea_target_info_t) == 512, "SGX target info layout");
_Static_assert(sizeof(ea_key_request_t) == 512, "SGX key request layout");

/**
 * Fills `ti` so that a report made for it can be verified by this enclave
 * (sgx_self_target). Returns EA_OK, or: EA_ERR_PERM outside an enclave,
 * EA_ERR_INVAL if `ti` is NULL.
 */
EA_API int ea_self_target(ea_target_info_t *ti);

/**
 * Creates a report of this enclave's identity for `target`, binding `data`
 * (may be NULL: zeros) (sgx_create_report). Only `target` can verify it.
 * `report` is written only on success. Returns EA_OK, or: EA_ERR_PERM outside
 * an enclave, EA_ERR_INVAL if `target` or `report` is NULL, EA_ERR_SYS if the
 * platform service cannot be reached, EA_ERR_CRYPTO or EA_ERR_NOMEM if the
 * crypto library fails.
 */
EA_API int ea_create_report(const ea_target_info_t *target, const ea_report_data_t *data,
                            ea_report_t *report);

/**
 * Verifies a report made for this enclave (sgx_verify_report). The MAC is
 * compared in constant time. Returns EA_OK, or: EA_ERR_AUTH if the report was
 * made for another target, on another platform or in another run of the
 * platform, or was modified; EA_ERR_PERM outside an enclave; EA_ERR_INVAL if
 * `report` is NULL; EA_ERR_SYS if the platform service cannot be reached;
 * EA_ERR_CRYPTO or EA_ERR_NOMEM if the crypto library fails.
 */
EA_API int ea_verify_report(const ea_report_t *report);

/**
 * Derives a key (sgx_get_key). The key is the caller's; wipe it after use.
 * Returns EA_OK, or: EA_ERR_PERM outside an enclave, if `req->isv_svn` is
 * above this enclave's ISVSVN or if `req->cpu_svn` is not zero (the
 * platform's CPUSVN); EA_ERR_INVAL if `req` or `key` is NULL, a reserved
 * field or `req->config_svn` is not zero, `req->key_name` is not an
 * EA_KEYSELECT_* value, or a seal key's `req->key_policy` has no
 * EA_KEYPOLICY_* bit or an unknown one; EA_ERR_SYS if the platform service
 * cannot be reached; EA_ERR_CRYPTO or EA_ERR_NOMEM if the crypto library
 * fails.
 */
EA_API int ea_get_key(const ea_key_request_t *req, uint8_t key[EA_KEY_SIZE]);

/* ---- sealing (sgx_tseal.h) ---- */

/** AES-GCM payload of sealed data (sgx_aes_gcm_data_t). */
typedef struct ea_aes_gcm_data {
    uint32_t payload_size; /**< encrypted + additional MAC text */
    uint8_t reserved[12];
    uint8_t payload_tag[16];
    uint8_t payload[]; /**< encrypted text, then the additional MAC text */
} ea_aes_gcm_data_t;

/** Sealed data (sgx_sealed_data_t): the key request that recreates the
 * key (with a fresh random key id per seal), then the AES-GCM-128 data. */
typedef struct ea_sealed_data {
    ea_key_request_t key_request;
    uint32_t plain_text_offset; /**< = encrypted text length */
    uint8_t reserved[12];
    ea_aes_gcm_data_t aes_data;
} ea_sealed_data_t;

/** Bytes needed to seal; UINT32_MAX if too large. */
EA_API uint32_t ea_calc_sealed_data_size(uint32_t add_mac_txt_size, uint32_t txt_encrypt_size);
/** Length of the additional MAC text recorded in sealed data; UINT32_MAX if
 * `p_sealed_data` is NULL or its lengths are inconsistent. */
EA_API uint32_t ea_get_add_mac_txt_len(const ea_sealed_data_t *p_sealed_data);
/** Length of the encrypted text recorded in sealed data; UINT32_MAX if
 * `p_sealed_data` is NULL or its lengths are inconsistent. */
EA_API uint32_t ea_get_encrypt_txt_len(const ea_sealed_data_t *p_sealed_data);

/**
 * Seals with the MRSIGNER policy (the SDK's default). The texts must not
 * overlap `p_sealed_data`. Returns EA_OK, or: EA_ERR_PERM outside an enclave;
 * EA_ERR_INVAL if a text is NULL with a non-zero length, `p_sealed_data` is
 * NULL, or `sealed_data_size` is not ea_calc_sealed_data_size() of the two
 * lengths (or that is UINT32_MAX); EA_ERR_SYS if the platform service cannot
 * be reached; EA_ERR_CRYPTO or EA_ERR_NOMEM if the crypto library fails. A
 * failure after the arguments were accepted wipes `p_sealed_data`.
 */
EA_API int ea_seal_data(uint32_t additional_mactext_length, const uint8_t *p_additional_mactext,
                        uint32_t text2encrypt_length, const uint8_t *p_text2encrypt,
                        uint32_t sealed_data_size, ea_sealed_data_t *p_sealed_data);

/**
 * Seals with an explicit key policy (EA_KEYPOLICY_MRENCLAVE or _MRSIGNER).
 * Returns what ea_seal_data returns, and EA_ERR_INVAL also if `key_policy` is
 * neither of the two or `attribute_mask` does not keep EA_FLAGS_INITTED and
 * EA_FLAGS_DEBUG.
 */
EA_API int ea_seal_data_ex(uint16_t key_policy, ea_attributes_t attribute_mask, uint32_t misc_mask,
                           uint32_t additional_mactext_length, const uint8_t *p_additional_mactext,
                           uint32_t text2encrypt_length, const uint8_t *p_text2encrypt,
                           uint32_t sealed_data_size, ea_sealed_data_t *p_sealed_data);

/**
 * Unseals. `*p_additional_mactext_length` and `*p_decrypted_text_length` give
 * the buffer sizes and receive the lengths; `p_additional_mactext_length` may
 * be NULL when no additional MAC text is expected. The size of the sealed
 * data is not a parameter: a caller that got it from the host must first
 * check that it holds ea_calc_sealed_data_size(ea_get_add_mac_txt_len(),
 * ea_get_encrypt_txt_len()) bytes, or call ea_unseal_data_ex, which does.
 * Returns EA_OK, or: EA_ERR_AUTH if the data was modified (lengths, reserved
 * fields, key request including its CPUSVN, or tag) or sealed by another
 * enclave (MRENCLAVE policy) or signer (MRSIGNER policy) or on another
 * platform; EA_ERR_PERM outside an enclave, or if sealed at a higher ISVSVN
 * than this enclave's; EA_ERR_INVAL if
 * `p_sealed_data` or `p_decrypted_text_length` is NULL, a buffer is NULL with
 * a non-zero size, or a buffer is smaller than its recorded length;
 * EA_ERR_SYS if the platform service cannot be reached; EA_ERR_CRYPTO or
 * EA_ERR_NOMEM if the crypto library fails. On failure the lengths are
 * unchanged and no unauthenticated text is left in the buffers.
 */
EA_API int ea_unseal_data(const ea_sealed_data_t *p_sealed_data, uint8_t *p_additional_mactext,
                          uint32_t *p_additional_mactext_length, uint8_t *p_decrypted_text,
                          uint32_t *p_decrypted_text_length);

/**
 * Unseals sealed data of which the caller holds exactly `sealed_data_size`
 * bytes at `p_sealed_data` (what it received from the host or read from a
 * file): no byte outside them is read, whatever the blob's header says. Use
 * it for any blob that did not come from this enclave's own memory. Returns
 * what ea_unseal_data returns, and EA_ERR_AUTH also if `sealed_data_size` is
 * smaller than the fixed header or is not the total size the header records
 * (ea_calc_sealed_data_size() of the two lengths): a cut or padded blob is
 * modified data.
 */
EA_API int ea_unseal_data_ex(const ea_sealed_data_t *p_sealed_data, uint32_t sealed_data_size,
                             uint8_t *p_additional_mactext, uint32_t *p_additional_mactext_length,
                             uint8_t *p_decrypted_text, uint32_t *p_decrypted_text_length);

/* ---- monotonic counters (sgx_tae_service.h) ---- */

/** Counter identity (sgx_mc_uuid_t). */
typedef struct ea_mc_uuid {
    uint8_t counter_id[3];
    uint8_t nonce[13];
} ea_mc_uuid_t;

/**
 * Creates a counter owned by this enclave's MRSIGNER, value 0. Returns EA_OK,
 * or: EA_ERR_INVAL if an argument is NULL, EA_ERR_PERM outside an enclave or
 * on a platform without counters, EA_ERR_SYS if the platform service cannot
 * be reached or cannot lock or write its counter files, EA_ERR_CRYPTO or
 * EA_ERR_NOMEM if the crypto library fails.
 */
EA_API int ea_create_monotonic_counter(ea_mc_uuid_t *counter_uuid, uint32_t *counter_value);
/**
 * Reads a counter. Returns EA_OK, or: EA_ERR_INVAL if an argument is NULL;
 * EA_ERR_NOTFOUND if there is no such counter; EA_ERR_PERM outside an
 * enclave, on a platform without counters, or if the counter belongs to
 * another MRSIGNER; EA_ERR_AUTH if its file was edited or damaged; EA_ERR_SYS
 * if the platform service cannot be reached or cannot lock or read its
 * counter files; EA_ERR_CRYPTO or EA_ERR_NOMEM if the crypto library fails.
 */
EA_API int ea_read_monotonic_counter(const ea_mc_uuid_t *counter_uuid, uint32_t *counter_value);
/**
 * Increments durably (fsync before it returns) and returns the new value.
 * Returns what ea_read_monotonic_counter returns, and EA_ERR_LIMIT if the
 * value is already UINT32_MAX (it never wraps); EA_ERR_SYS also covers a
 * failed write.
 */
EA_API int ea_increment_monotonic_counter(const ea_mc_uuid_t *counter_uuid,
                                          uint32_t *counter_value);
/**
 * Destroys a counter. Returns what ea_read_monotonic_counter returns
 * (EA_ERR_INVAL if `counter_uuid` is NULL); EA_ERR_SYS also covers a failed
 * removal.
 */
EA_API int ea_destroy_monotonic_counter(const ea_mc_uuid_t *counter_uuid);

/* ---- local attestation (sgx_dh.h) ---- */

/** Identity of the peer of a DH session (sgx_dh_session_enclave_identity_t). */
typedef struct ea_dh_identity {
    uint8_t cpu_svn[16];
    uint32_t misc_select;
    ea_attributes_t attributes;
    uint8_t mr_enclave[32];
    uint8_t mr_signer[32];
    uint16_t isv_prod_id;
    uint16_t isv_svn;
} ea_dh_identity_t;

typedef struct ea_dh_msg1 {
    uint8_t g_a[32];         /**< responder's X25519 public key */
    ea_target_info_t target; /**< the responder, as target of msg2's report */
} ea_dh_msg1_t;

typedef struct ea_dh_msg2 {
    uint8_t g_b[32];    /**< initiator's X25519 public key */
    ea_report_t report; /**< initiator's report for the responder;
                             report_data = SHA-256(g_a || g_b) */
    uint8_t cmac[16];   /**< CMAC under the session MAC key over g_b || report */
} ea_dh_msg2_t;

typedef struct ea_dh_msg3 {
    uint8_t cmac[16];   /**< CMAC under the session MAC key over report */
    ea_report_t report; /**< responder's report for the initiator;
                             report_data = SHA-256(g_b || g_a) */
} ea_dh_msg3_t;

/** Session state; treat as opaque. Wiped when the session ends. A session
 * runs once: success, or any failure other than a NULL argument, ends it, and
 * a later call on it returns EA_ERR_INVAL. */
typedef struct ea_dh_session {
    uint32_t role; /**< 1 initiator, 2 responder */
    uint32_t state;
    uint8_t priv[32];
    uint8_t pub[32];
    uint8_t peer_pub[32];
    uint8_t smk[16]; /**< session MAC key */
    uint8_t aek[16]; /**< the agreed key */
} ea_dh_session_t;

#define EA_DH_ROLE_INITIATOR 1u
#define EA_DH_ROLE_RESPONDER 2u

/** Starts a session in `role` (EA_DH_ROLE_*); needs no platform. Returns
 * EA_OK, or EA_ERR_INVAL if `session` is NULL or `role` is unknown. */
EA_API int ea_dh_init_session(uint32_t role, ea_dh_session_t *session);
/**
 * Responder: makes message 1. Returns EA_OK, or: EA_ERR_INVAL if an argument
 * is NULL or `session` is not a new responder session, EA_ERR_PERM outside an
 * enclave, EA_ERR_CRYPTO or EA_ERR_NOMEM if the crypto library fails.
 */
EA_API int ea_dh_responder_gen_msg1(ea_dh_msg1_t *msg1, ea_dh_session_t *session);
/**
 * Initiator: checks message 1, makes message 2. Returns EA_OK, or:
 * EA_ERR_INVAL if an argument is NULL or `session` is not a new initiator
 * session, EA_ERR_PERM outside an enclave, EA_ERR_AUTH if `g_a` is a
 * small-order key, EA_ERR_SYS if the platform service cannot be reached,
 * EA_ERR_CRYPTO or EA_ERR_NOMEM if the crypto library fails.
 */
EA_API int ea_dh_initiator_proc_msg1(const ea_dh_msg1_t *msg1, ea_dh_msg2_t *msg2,
                                     ea_dh_session_t *session);
/**
 * Responder: verifies message 2 (report, binding, MAC), makes message 3, and
 * returns the AEK and the initiator's identity (written only on success; no
 * trust policy is applied here). Returns EA_OK, or: EA_ERR_INVAL if an
 * argument is NULL or `session` is not a responder waiting for message 2;
 * EA_ERR_PERM outside an enclave; EA_ERR_AUTH if `g_b` is a small-order key
 * or the MAC, the report or its binding of both keys does not verify;
 * EA_ERR_SYS if the platform service cannot be reached (to check message
 * 2's report or to make message 3's: an outage, not a verdict on the peer);
 * EA_ERR_CRYPTO or EA_ERR_NOMEM if the crypto library fails.
 */
EA_API int ea_dh_responder_proc_msg2(const ea_dh_msg2_t *msg2, ea_dh_msg3_t *msg3,
                                     ea_dh_session_t *session, uint8_t aek[16],
                                     ea_dh_identity_t *initiator_identity);
/**
 * Initiator: verifies message 3 (MAC, report, binding), returns the AEK and
 * the responder's identity (written only on success; no trust policy is
 * applied here). Returns EA_OK, or: EA_ERR_INVAL if an argument is NULL or
 * `session` is not an initiator waiting for message 3; EA_ERR_PERM outside an
 * enclave; EA_ERR_AUTH if the MAC, the report or its binding of both keys
 * does not verify; EA_ERR_SYS if the platform service cannot be reached to
 * check the report (an outage, not a verdict on the peer); EA_ERR_CRYPTO or
 * EA_ERR_NOMEM if the crypto library fails.
 */
EA_API int ea_dh_initiator_proc_msg3(const ea_dh_msg3_t *msg3, ea_dh_session_t *session,
                                     uint8_t aek[16], ea_dh_identity_t *responder_identity);

/* ---- trust policy, compiled into a signed image ---- */

#define EA_TRUST_ABI 1u
#define EA_REQUIRE_SAME_SIGNER 0x1u /**< peer MRSIGNER == mine (the default) */
#define EA_REQUIRE_MRENCLAVE 0x2u   /**< peer MRENCLAVE == policy.mr_enclave */
#define EA_REQUIRE_PRODID 0x4u      /**< peer ISVPRODID == policy.isv_prod_id */
#define EA_REQUIRE_MIN_SVN 0x8u     /**< peer ISVSVN >= policy.min_isv_svn */
/** Accept peers with the DEBUG attribute although this enclave runs without
 *  it. Without this bit a production enclave refuses debug peers (images
 *  signed --debug, and any enclave the platform did not see isolated, such
 *  as one run with the `none` backend). A debug enclave accepts debug peers. */
#define EA_ACCEPT_DEBUG_PEER 0x100u

/** Which peers an enclave accepts on protected channels. */
typedef struct ea_trust_policy {
    uint32_t abi;     /**< EA_TRUST_ABI */
    uint32_t require; /**< EA_REQUIRE_* bits, all must hold */
    uint8_t mr_enclave[32];
    uint16_t isv_prod_id;
    uint16_t min_isv_svn;
} ea_trust_policy_t;

/**
 * Declares this image's trust policy, e.g.
 * `EA_TRUST_POLICY(.require = EA_REQUIRE_SAME_SIGNER | EA_REQUIRE_MIN_SVN,
 *                  .min_isv_svn = 2);`
 * Without it an image accepts peers signed by its own signer. The policy is
 * part of the measured image; the deployment file cannot change it. A peer
 * that fails it is refused when the protected channels are set up, and the
 * enclave's start fails with EA_ERR_POLICY. A policy that requires nothing
 * or has unknown bits refuses every peer; one with another `abi` is refused
 * when the image is loaded, also with EA_ERR_POLICY.
 */
#define EA_TRUST_POLICY(...)               \
    __attribute__((visibility("default"))) \
    const ea_trust_policy_t ea_trust_policy = {.abi = EA_TRUST_ABI, __VA_ARGS__}

/* ---- channel protection, compiled into a signed image ---- */

/** Which of this image's channels need protection the deployment cannot
 *  take away. Channel names are the deployment's `<channel name=...>`. */
typedef struct ea_channel_policy {
    uint32_t abi; /**< EA_TRUST_ABI */
    /** NULL-terminated names of channels that must be AEAD-protected with
     *  an attested enclave at the other end, wherever the deployment puts
     *  that end: a plain channel, or one whose peer runs in the host, is
     *  refused. */
    const char *const *attested;
    /** NULL-terminated names of channels that may be plain although both
     *  ends are enclaves (`protect="plain"`, e.g. for a benchmark). */
    const char *const *plain_ok;
} ea_channel_policy_t;

/** A NULL-terminated list of channel names, for ea_channel_policy_t. */
#define EA_CHANNELS(...) ((const char *const[]){__VA_ARGS__, NULL})

/**
 * Declares this image's channel protection, e.g.
 * `EA_CHANNEL_POLICY(.attested = EA_CHANNELS("app"));`
 * Rules, checked by the enclave itself when it starts, before any actor
 * runs: a channel between two enclaves must be AEAD (`protect` "auto" or
 * "aead") unless it is listed in `plain_ok`; a channel listed in `attested`
 * must be AEAD with an enclave peer, never plain and never to the host.
 * Without this declaration the first rule applies to every channel. A
 * deployment that asks for less makes the enclave's start fail, and the
 * launcher prints the deployment's `file:line` of the channel with the
 * enclave's reason. Part of the measured image.
 */
#define EA_CHANNEL_POLICY(...)             \
    __attribute__((visibility("default"))) \
    const ea_channel_policy_t ea_channel_policy = {.abi = EA_TRUST_ABI, __VA_ARGS__}

struct ea_conn;
/**
 * The identity of the enclave at the other end of connector `c`, as local
 * attestation established it and this enclave's policy accepted it (the
 * enclave's private copy; nothing from the public arena). Returns EA_OK and
 * fills *peer; EA_ERR_PERM if the connector is not AEAD-protected with an
 * attested enclave (a plain channel, a peer in the host, or an actor not in
 * an enclave); EA_ERR_INVAL if an argument is NULL. Any thread of the
 * connector's actor.
 */
EA_API int ea_conn_peer_identity(const struct ea_conn *c, ea_dh_identity_t *peer);

#ifdef __cplusplus
}
#endif
#endif
