/*
 * Helpers shared by the files of the trust layer; not part of trust.h.
 */
#ifndef EAI_TRUST_INT_H
#define EAI_TRUST_INT_H

#include <stddef.h>
#include <stdint.h>

#include "trust/trust.h"

/* Writes a one-line reason into err (NULL or errlen 0: nothing). */
void eai_trust_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* First 8 bytes of a hash as 16 hex digits, for messages: "1a2b...". */
typedef struct eai_short_hex {
    char s[17];
} eai_short_hex_t;
eai_short_hex_t eai_trust_short_hex(const uint8_t h[32]);

/* Attributes as the 16 bytes that go into measurements and key
 * derivation: flags then xfrm, little-endian. */
void eai_attr_bytes(const ea_attributes_t *a, uint8_t out[16]);

static inline void eai_put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void eai_put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void eai_put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t eai_get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t eai_get_le32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline uint64_t eai_get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#endif
