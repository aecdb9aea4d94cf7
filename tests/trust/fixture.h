/*
 * Shared set-up of the trust tests: a temporary platform directory and
 * enclave identities made the way the loader makes them (measure, sign,
 * EINIT), to be played one at a time by binding a local platform.
 */
#ifndef TRUST_FIXTURE_H
#define TRUST_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "trust/trust.h"

/* Signs `image` with `priv` and runs EINIT on it; asserts success. */
void fx_identity(const char *image, uint64_t flags, uint16_t prod_id, uint16_t svn,
                 const uint8_t priv[32], eai_identity_t *id);
/* The signature file bytes for `image`. */
void fx_sign(const void *image, size_t len, uint64_t flags, uint16_t prod_id, uint16_t svn,
             const uint8_t priv[32], uint8_t sig[EAI_SIGSTRUCT_SIZE]);

/* Two platforms, each a fresh platform directory with its core open: the
 * same enclave played on both is one image on two machines. */
struct fx_platforms {
    char dir[64], dir2[64];
    eai_pcore_t pc, pc2;
};
/* Makes both directories and opens both cores; asserts success. */
void fx_platforms_open(struct fx_platforms *p);
/* Unbinds the enclave being played, closes both cores and removes both
 * directories. */
void fx_platforms_close(struct fx_platforms *p);
/* Plays the enclave of `lp` from now on (binds its local platform). */
void fx_as(const eai_local_platform_t *lp);

/* Two fixed signing keys. */
extern const uint8_t fx_s1[32];
extern const uint8_t fx_s2[32];

/* Number of open file descriptors of this process. */
int fx_open_fds(void);

#endif
