/*
 * The trust policy check of a peer (ea_trust_policy_t).
 *
 * Design notes.
 *
 * Every requirement bit that is set must hold, checked in a fixed order so
 * the reason names the first one that failed. Unknown ABI versions and
 * unknown requirement bits are refused rather than ignored: a policy written
 * for a newer library must not silently mean less here. A policy that
 * requires nothing is refused too, as it would accept any enclave on the
 * platform; it is most likely a policy whose author forgot the .require
 * field. EA_ACCEPT_DEBUG_PEER relaxes, it requires nothing, so it does not
 * count. A production enclave (no DEBUG attribute) refuses a DEBUG peer
 * unless the policy has EA_ACCEPT_DEBUG_PEER, as an SGX enclave would check
 * the peer report's attributes.
 */
#include "trust/trust_int.h"

#include <stdbool.h>
#include <string.h>

#include "crypto/crypto.h"

int eai_policy_check(const ea_trust_policy_t *policy, const eai_identity_t *self,
                     const ea_dh_identity_t *peer, char *why, size_t whylen)
{
    static const ea_trust_policy_t dflt = {.abi = EA_TRUST_ABI, .require = EA_REQUIRE_SAME_SIGNER};
    if (peer == NULL)
        return EA_ERR_INVAL;
    if (policy == NULL)
        policy = &dflt;
    if (policy->abi != EA_TRUST_ABI) {
        eai_trust_errf(why, whylen, "trust policy ABI %u is not supported (expected %u)",
                       policy->abi, EA_TRUST_ABI);
        return EA_ERR_POLICY;
    }
    const uint32_t known = EA_REQUIRE_SAME_SIGNER | EA_REQUIRE_MRENCLAVE | EA_REQUIRE_PRODID |
                           EA_REQUIRE_MIN_SVN | EA_ACCEPT_DEBUG_PEER;
    if ((policy->require & ~known) != 0) {
        eai_trust_errf(why, whylen, "trust policy has unknown requirements 0x%x",
                       policy->require & ~known);
        return EA_ERR_POLICY;
    }
    if ((policy->require & ~EA_ACCEPT_DEBUG_PEER) == 0) {
        eai_trust_errf(why, whylen, "trust policy requires nothing");
        return EA_ERR_POLICY;
    }
    /* A production enclave talks to production enclaves only: a debug peer's
     * memory and keys are open to whoever started it. */
    bool self_debug = self == NULL || (self->attributes.flags & EA_FLAGS_DEBUG) != 0;
    if (!self_debug && (peer->attributes.flags & EA_FLAGS_DEBUG) != 0 &&
        (policy->require & EA_ACCEPT_DEBUG_PEER) == 0) {
        eai_trust_errf(why, whylen,
                       "peer runs with the DEBUG attribute (debug-signed or not isolated) and "
                       "this enclave does not");
        return EA_ERR_POLICY;
    }
    if (policy->require & EA_REQUIRE_SAME_SIGNER) {
        if (self == NULL)
            return EA_ERR_INVAL;
        if (!eai_ct_equal(peer->mr_signer, self->mr_signer, 32)) {
            eai_trust_errf(why, whylen, "MRSIGNER %s... is not this enclave's signer %s...",
                           eai_trust_short_hex(peer->mr_signer).s,
                           eai_trust_short_hex(self->mr_signer).s);
            return EA_ERR_POLICY;
        }
    }
    if ((policy->require & EA_REQUIRE_MRENCLAVE) &&
        !eai_ct_equal(peer->mr_enclave, policy->mr_enclave, 32)) {
        eai_trust_errf(why, whylen, "MRENCLAVE %s... is not the required %s...",
                       eai_trust_short_hex(peer->mr_enclave).s,
                       eai_trust_short_hex(policy->mr_enclave).s);
        return EA_ERR_POLICY;
    }
    if ((policy->require & EA_REQUIRE_PRODID) && peer->isv_prod_id != policy->isv_prod_id) {
        eai_trust_errf(why, whylen, "ISVPRODID %u is not %u", (unsigned)peer->isv_prod_id,
                       (unsigned)policy->isv_prod_id);
        return EA_ERR_POLICY;
    }
    if ((policy->require & EA_REQUIRE_MIN_SVN) && peer->isv_svn < policy->min_isv_svn) {
        eai_trust_errf(why, whylen, "ISVSVN %u is below %u", (unsigned)peer->isv_svn,
                       (unsigned)policy->min_isv_svn);
        return EA_ERR_POLICY;
    }
    return EA_OK;
}
