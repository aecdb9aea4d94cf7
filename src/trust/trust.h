/*
 * The trust layer, internal interface (DESIGN.md section 8).
 *
 * Three parts:
 *  - identity: measuring images, the signature file (SIGSTRUCT analog),
 *    signing keys, and the EINIT check the loader runs on the exact bytes it
 *    will load;
 *  - the platform core: what the CPU does in SGX (EREPORT, EGETKEY), as pure
 *    functions of the platform secret and the requesting enclave's identity,
 *    plus monotonic counters kept in files. The platform process (runtime)
 *    wraps these behind a socket per enclave, so an enclave cannot claim an
 *    identity it was not loaded with;
 *  - the enclave side: the public ea_* functions of <eactors/ea_trust.h>,
 *    which reach the platform through an eai_tplat_t bound to the calling
 *    thread.
 */
#ifndef EAI_TRUST_H
#define EAI_TRUST_H

#include <stddef.h>
#include <stdint.h>

#include <eactors/ea_err.h>
#include <eactors/ea_trust.h>

/* ---------------------------------------------------------------- identity */

typedef struct eai_identity {
    uint8_t mr_enclave[32];
    uint8_t mr_signer[32];
    ea_attributes_t attributes;
    uint16_t isv_prod_id;
    uint16_t isv_svn;
    uint32_t misc_select;
} eai_identity_t;

/* MRENCLAVE = SHA-256("EACTORS-MRENCLAVE-1" || attributes.flags (8 bytes LE)
 * || attributes.xfrm (8 bytes LE) || image bytes). */
int eai_measure(const void *image, size_t len, const ea_attributes_t *attr, uint8_t mr_enclave[32]);

/* MRSIGNER = SHA-256(signer's raw Ed25519 public key). */
int eai_mrsigner(const uint8_t pub[32], uint8_t mr_signer[32]);

/* The signature file (SIGSTRUCT analog), stored next to the image as
 * "<image>.sig", exactly EAI_SIGSTRUCT_SIZE bytes, little-endian:
 *   0  magic "EASIG\0\0\1" (8)      8 version u32 = 1     12 size u32 = 208
 *  16  mr_enclave (32)             48 attributes.flags u64  56 attributes.xfrm u64
 *  64  isv_prod_id u16             66 isv_svn u16         68 misc_select u32
 *  72  date u64 (seconds, informational)   80 launch u32 (EAI_SIG_*)   84 reserved (28, zero)
 * 112  signer public key (32)     144 Ed25519 signature over bytes [0,144) (64)
 */
#define EAI_SIGSTRUCT_SIZE 208u
/* The image may only run in system mode: a platform that would start it
 * with the DEBUG attribute (development mode, or an enclave that is not
 * isolated) refuses its EINIT, as SGX refuses a debug launch of an image
 * whose SIGSTRUCT masks the DEBUG bit. */
#define EAI_SIG_SYSTEM_ONLY 0x1u

typedef struct eai_sigstruct {
    uint8_t mr_enclave[32];
    ea_attributes_t attributes;
    uint16_t isv_prod_id;
    uint16_t isv_svn;
    uint32_t misc_select;
    uint64_t date;
    uint32_t launch; /* EAI_SIG_*: how the signer allows the image to be started */
    uint8_t signer_pub[32];
    uint8_t signature[64];
} eai_sigstruct_t;

void eai_sigstruct_encode(const eai_sigstruct_t *s, uint8_t out[EAI_SIGSTRUCT_SIZE]);
/* EA_ERR_PARSE with a reason in err ("wrong size 12 (expected 208)", "bad
 * magic", "unsupported version 7", "reserved bytes not zero"). */
int eai_sigstruct_decode(const uint8_t *buf, size_t len, eai_sigstruct_t *out, char *err,
                         size_t errlen);
/* Fills signer_pub and signature from the private key. */
int eai_sigstruct_sign(eai_sigstruct_t *s, const uint8_t priv[32]);
/* Checks the signature only: EA_OK or EA_ERR_AUTH. */
int eai_sigstruct_verify(const eai_sigstruct_t *s);

/*
 * EINIT: measures `image` with the attributes of the signature file bytes
 * `sig`, and accepts only if the signature file is well formed, its
 * signature verifies, and its MRENCLAVE equals the measurement. On success
 * fills *id (attributes get EA_FLAGS_INITTED added). On failure returns
 * EA_ERR_PARSE / EA_ERR_AUTH and a one-line reason in err that names
 * `sig_name` or `image_name`, e.g.
 *   "signature file 'x.so.sig' is malformed: bad magic"
 *   "signature file 'x.so.sig': the signature does not verify"
 *   "image 'x.so' does not match its signature file: MRENCLAVE 1a2b3c4d...
 *    measured, 5e6f7a8b... signed"
 */
int eai_einit(const void *image, size_t len, const uint8_t *sig, size_t siglen,
              const char *image_name, const char *sig_name, eai_identity_t *id, char *err,
              size_t errlen);

/* Signing keys: Ed25519 private keys in PEM (PKCS#8) files, mode 0600. */
int eai_key_generate(const char *path, char *err, size_t errlen); /* refuses to overwrite */
int eai_key_load(const char *path, uint8_t priv[32], char *err, size_t errlen);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void eai_hex(const uint8_t *in, size_t n, char *out);

/* ---------------------------------------------------- the platform core */

typedef struct eai_pcore {
    uint8_t secret[32];        /* root secret of this platform */
    uint8_t report_key_id[32]; /* random per platform start (SGX: per boot) */
} eai_pcore_t;

/*
 * Loads the platform secret from "<dir>/secret", creating dir (0700) and the
 * file (0600, 32 random bytes, fsync) on first use. Refuses a secret file
 * that is not a regular file of 32 bytes or that others can read. Picks a
 * fresh report_key_id.
 */
int eai_pcore_open(eai_pcore_t *pc, const char *dir, char *err, size_t errlen);
void eai_pcore_close(eai_pcore_t *pc); /* wipes */

/* EREPORT: a report of identity `me` for `target`, MACed with the target's
 * report key. */
int eai_pcore_ereport(const eai_pcore_t *pc, const eai_identity_t *me,
                      const ea_target_info_t *target, const ea_report_data_t *data,
                      ea_report_t *report);

/*
 * EGETKEY for enclave `me`. Key derivation (HKDF-SHA256, ikm = secret):
 *   report key: info = "report" || me.mr_enclave || me.attributes ||
 *               req.key_id
 *   seal key:   info = "seal" || policy || (mr_enclave if MRENCLAVE policy)
 *               || (mr_signer if MRSIGNER policy) || me.isv_prod_id ||
 *               req.isv_svn || req.cpu_svn || (me.attributes & mask) ||
 *               mask || (me.misc_select & misc_mask) || misc_mask ||
 *               req.key_id
 *   (attributes 16 bytes flags then xfrm, integers little-endian; labels
 *   without NUL; no salt). Reserved fields and config_svn must be zero.
 * EA_ERR_PERM if req.isv_svn > me.isv_svn or req.cpu_svn is not zero (the
 * platform's CPUSVN); EA_ERR_INVAL for non-zero reserved fields, an unknown
 * key name or a seal policy without MRENCLAVE/MRSIGNER.
 */
int eai_pcore_egetkey(const eai_pcore_t *pc, const eai_identity_t *me, const ea_key_request_t *req,
                      uint8_t key[16]);

/* Target info of identity `id` (what ea_self_target returns). */
void eai_target_of(const eai_identity_t *id, ea_target_info_t *ti);

/*
 * Monotonic counters, one file per counter in "<dir>/counters/<uuid hex>":
 * owner MRSIGNER, value, and a MAC under a key derived from the platform
 * secret (detects editing, not replacement by an older copy: see the threat
 * model). Updates write a temporary file, fsync it, rename it over the old
 * one and fsync the directory before returning.
 */
typedef struct eai_counters {
    int dirfd; /* the counters directory */
    uint8_t mac_key[32];
} eai_counters_t;

int eai_mc_open(eai_counters_t *mc, const eai_pcore_t *pc, const char *dir, char *err,
                size_t errlen);
void eai_mc_close(eai_counters_t *mc);
int eai_mc_create(eai_counters_t *mc, const uint8_t owner[32], ea_mc_uuid_t *uuid, uint32_t *value);
/* read, increment and destroy: EA_ERR_NOTFOUND (no such counter),
 * EA_ERR_PERM (another owner), EA_ERR_AUTH (file edited), EA_ERR_SYS (lock,
 * file); increment also EA_ERR_LIMIT (value would wrap). */
int eai_mc_read(eai_counters_t *mc, const uint8_t owner[32], const ea_mc_uuid_t *uuid,
                uint32_t *value);
int eai_mc_increment(eai_counters_t *mc, const uint8_t owner[32], const ea_mc_uuid_t *uuid,
                     uint32_t *value);
int eai_mc_destroy(eai_counters_t *mc, const uint8_t owner[32], const ea_mc_uuid_t *uuid);

/* -------------------------------------------------------- enclave side */

enum { EAI_MC_CREATE = 1, EAI_MC_READ, EAI_MC_INCREMENT, EAI_MC_DESTROY };

/* How an enclave reaches its platform: the "instructions". */
typedef struct eai_tplat {
    void *ctx;
    int (*ereport)(void *ctx, const ea_target_info_t *target, const ea_report_data_t *data,
                   ea_report_t *report);
    int (*egetkey)(void *ctx, const ea_key_request_t *req, uint8_t key[16]);
    int (*identity)(void *ctx, eai_identity_t *id);
    int (*mc)(void *ctx, int op, ea_mc_uuid_t *uuid, uint32_t *value);
} eai_tplat_t;

/* Binds the platform used by ea_* trust calls made on this thread (NULL:
 * none, the calls return EA_ERR_PERM). Workers bind their domain's. */
void eai_trust_bind(const eai_tplat_t *p);
const eai_tplat_t *eai_trust_platform(void);

/* A platform in this process, calling the core directly with a fixed
 * identity: for tests and tools. `mc` may be NULL (counters unsupported). */
typedef struct eai_local_platform {
    eai_tplat_t ops;
    const eai_pcore_t *pc;
    eai_identity_t id;
    eai_counters_t *mc;
} eai_local_platform_t;
void eai_local_platform_init(eai_local_platform_t *lp, const eai_pcore_t *pc,
                             const eai_identity_t *id, eai_counters_t *mc);

/*
 * Trust policy check of a peer. `policy` NULL means the default (same
 * MRSIGNER). EA_OK, or EA_ERR_POLICY with a reason naming the value that
 * failed, e.g. "MRSIGNER 1a2b3c4d... is not this enclave's signer 5e6f...",
 * "MRENCLAVE ... is not the required ...", "ISVPRODID 3 is not 7",
 * "ISVSVN 1 is below 2". Policies with an unknown abi are refused.
 */
int eai_policy_check(const ea_trust_policy_t *policy, const eai_identity_t *self,
                     const ea_dh_identity_t *peer, char *why, size_t whylen);

#endif
