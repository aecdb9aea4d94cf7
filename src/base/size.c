/*
 * The one parser of sizes and counts ("64", "16K", "1M"). Both entry points
 * share digits_suffix(), which accumulates the magnitude in uint64_t with an
 * overflow check at each digit and at the shift, so no input can overflow.
 */
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* Magnitude of s (digits, then at most one of K, M, G, then the end). */
static int digits_suffix(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        uint64_t digit = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return EA_ERR_PARSE;
        v = v * 10 + digit;
    }
    if (i == 0)
        return EA_ERR_PARSE;
    unsigned shift = 0;
    switch (s[i]) {
    case '\0': break;
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    default: return EA_ERR_PARSE;
    }
    if (shift != 0) {
        if (s[i + 1] != '\0')
            return EA_ERR_PARSE;
        if (v > (UINT64_MAX >> shift))
            return EA_ERR_PARSE;
        v <<= shift;
    }
    *out = v;
    return EA_OK;
}

int eai_parse_size(const char *s, uint64_t *out)
{
    if (s == NULL || out == NULL)
        return EA_ERR_INVAL;
    return digits_suffix(s, out);
}

int eai_parse_int(const char *s, int64_t *out)
{
    if (s == NULL || out == NULL)
        return EA_ERR_INVAL;
    int neg = s[0] == '-';
    uint64_t m;
    int rc = digits_suffix(s + neg, &m);
    if (rc != EA_OK)
        return rc;
    if (m > (uint64_t)INT64_MAX)
        return EA_ERR_PARSE;
    *out = neg ? -(int64_t)m : (int64_t)m;
    return EA_OK;
}
