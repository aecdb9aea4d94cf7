/*
 * smc: what the secure-sum image and its host tool (smc_tool) share: the
 * limits, the wire format of the ring and control messages, the sealed
 * input's additional MAC text, the per-round secret of the dynamic mode and
 * the result digest. Arithmetic is on uint64_t, i.e. mod 2^64.
 */
#ifndef SMC_H
#define SMC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SMC_MIN_PARTIES 2
#define SMC_MAX_PARTIES 16
#define SMC_MIN_WORDS 10
#define SMC_MAX_WORDS 100000
#define SMC_NAME_MAX 32 /* party names: up to 31 bytes */

/* Ring messages (channel ring<i>: party i -> party i+1 mod N) and control
 * messages (channel ack<i>: party 0 <-> party i). 32-byte header, then
 * `words` 64-bit words for SUM and RESULT. */
#define SMC_MAGIC 0x31434d53u /* "SMC1" */
enum smc_kind {
    SMC_SUM = 1,    /* mask + the secrets of parties 0..i */
    SMC_RESULT = 2, /* the sum, on its way round to every party */
    SMC_PROBE = 3,  /* party 0 -> i: where are you? (a round is late) */
    SMC_STATUS = 4, /* party i -> 0: the answer */
};
/* Where a party is (SMC_STATUS.phase). */
enum smc_phase {
    SMC_PH_LOADING = 1,     /* reading or unsealing its input */
    SMC_PH_WAIT_SUM = 2,    /* waiting for the sum of `round` */
    SMC_PH_WAIT_RESULT = 3, /* passed the sum of `round` on, waiting for its result */
    SMC_PH_BLOCKED = 4,     /* holds a message it cannot pass on (no free node) */
};

typedef struct smc_msg {
    uint32_t magic;
    uint16_t kind;
    uint16_t phase; /* SMC_STATUS */
    uint64_t round;
    uint32_t words;
    uint32_t from; /* sender's party index */
    uint64_t reserved;
} smc_msg_t;
_Static_assert(sizeof(smc_msg_t) == 32, "smc header layout");

/* The sealed input's additional MAC text: binds the party name and the
 * vector length, so that a party refuses another party's file. */
#define SMC_AAD_MAGIC "EA-SMC-INPUT-1"
typedef struct smc_aad {
    char magic[16]; /* SMC_AAD_MAGIC, NUL-padded */
    char party[SMC_NAME_MAX];
    uint32_t words;
    uint32_t reserved;
} smc_aad_t;
_Static_assert(sizeof(smc_aad_t) == 56, "smc sealed header layout");

static inline void smc_aad_make(smc_aad_t *a, const char *party, uint32_t words)
{
    memset(a, 0, sizeof *a);
    memcpy(a->magic, SMC_AAD_MAGIC, sizeof SMC_AAD_MAGIC);
    size_t l = strlen(party);
    memcpy(a->party, party, l < SMC_NAME_MAX - 1 ? l : SMC_NAME_MAX - 1);
    a->words = words;
}

/* Dynamic mode: a party's secret in round r is derived from its sealed
 * vector v: x_r[j] = v[j] * (2r + 1) + r (mod 2^64); round 0 is v itself.
 * A stand-in for fresh data every round that a test can check. */
static inline uint64_t smc_dyn_mul(uint64_t r)
{
    return 2 * r + 1;
}

/* Digest of a result vector (FNV-1a over 64-bit words): what a revealing
 * party prints; the tool computes the same from the plaintext inputs. */
static inline uint64_t smc_digest(const uint64_t *v, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t j = 0; j < n; j++) {
        h ^= v[j];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Party names in generated deployments: p0, p1, ... */
#endif
