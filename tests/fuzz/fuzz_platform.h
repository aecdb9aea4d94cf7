/*
 * A local platform whose secret never changes (so seeds made by the real
 * code stay valid across runs) and one enclave on it, bound to the calling
 * thread: what a fuzz target needs to call code that seals, unseals or
 * asks for reports as an enclave.
 */
#ifndef EA_FUZZ_PLATFORM_H
#define EA_FUZZ_PLATFORM_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trust/trust.h"

/* Fills *pc (secret 0x5a ^ i, report key id 0x11 bytes) and *lp with the
 * enclave whose image is `image` signed by `signer` at ISVSVN `svn`, and
 * binds it; aborts if that fails. */
static inline void fuzz_platform(eai_pcore_t *pc, eai_local_platform_t *lp, const char *image,
                                 const uint8_t signer[32], uint16_t svn)
{
    memset(pc, 0, sizeof *pc);
    for (size_t i = 0; i < sizeof pc->secret; i++)
        pc->secret[i] = (uint8_t)(0x5a ^ i);
    memset(pc->report_key_id, 0x11, sizeof pc->report_key_id);
    eai_sigstruct_t s;
    memset(&s, 0, sizeof s);
    s.attributes.flags = EA_FLAGS_MODE64BIT;
    s.isv_prod_id = 1;
    s.isv_svn = svn;
    uint8_t sig[EAI_SIGSTRUCT_SIZE];
    eai_identity_t id;
    char err[256];
    size_t n = strlen(image);
    if (eai_measure(image, n, &s.attributes, s.mr_enclave) != EA_OK ||
        eai_sigstruct_sign(&s, signer) != EA_OK)
        abort();
    eai_sigstruct_encode(&s, sig);
    if (eai_einit(image, n, sig, sizeof sig, "img", "img.sig", &id, err, sizeof err) != EA_OK)
        abort();
    eai_local_platform_init(lp, pc, &id, NULL);
    eai_trust_bind(&lp->ops);
}

#endif
