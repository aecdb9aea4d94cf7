/* SCRAM arithmetic and base64 (see xcrypto.h). */
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "xcrypto.h"

static const EVP_MD *md(int hash)
{
    return hash == 1 ? EVP_sha1() : hash == 256 ? EVP_sha256() : NULL;
}

size_t xc_hlen(int hash)
{
    return hash == 1 ? 20 : hash == 256 ? 32 : 0;
}

int xc_hash(int hash, const void *d, size_t n, uint8_t *out)
{
    unsigned len = 0;
    return md(hash) && EVP_Digest(d, n, out, &len, md(hash), NULL) == 1 ? 0 : -1;
}

int xc_hmac(int hash, const uint8_t *key, size_t klen, const void *d, size_t n, uint8_t *out)
{
    unsigned len = 0;
    return md(hash) && HMAC(md(hash), key, (int)klen, d, n, out, &len) != NULL ? 0 : -1;
}

int xc_scram_keys(int hash, const char *pw, size_t pwlen, const uint8_t *salt, size_t slen,
                  uint32_t iter, uint8_t *stored, uint8_t *server)
{
    uint8_t salted[XC_MAXH], ck[XC_MAXH];
    size_t hl = xc_hlen(hash);
    int rc = -1;
    if (hl == 0 || PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, (int)slen, (int)iter, md(hash), (int)hl,
                                     salted) != 1)
        goto out;
    if (xc_hmac(hash, salted, hl, "Client Key", 10, ck) < 0 || xc_hash(hash, ck, hl, stored) < 0 ||
        xc_hmac(hash, salted, hl, "Server Key", 10, server) < 0)
        goto out;
    rc = 0;
out:
    OPENSSL_cleanse(salted, sizeof salted);
    OPENSSL_cleanse(ck, sizeof ck);
    return rc;
}

int xc_random(void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got <= 0)
            return -1;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t xc_b64enc(const void *in, size_t n, char *out)
{
    const uint8_t *s = in;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = 0;
    return o;
}

static int val(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

long xc_b64dec(const char *in, size_t n, uint8_t *out, size_t cap)
{
    /* XMPP allows no whitespace inside; '=' for an empty payload. */
    if (n == 1 && in[0] == '=')
        return 0;
    if (n % 4 != 0)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int a = val(in[i]), b = val(in[i + 1]);
        int last = i + 4 == n;
        int c = last && in[i + 2] == '=' ? -2 : val(in[i + 2]);
        int d = last && in[i + 3] == '=' ? -2 : val(in[i + 3]);
        if (a < 0 || b < 0 || c == -1 || d == -1 || (c == -2 && d != -2))
            return -1;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)(c < 0 ? 0 : c) << 6 |
                     (uint32_t)(d < 0 ? 0 : d);
        size_t k = c < 0 ? 1 : d < 0 ? 2 : 3;
        if (cap - o < k)
            return -1;
        out[o++] = (uint8_t)(v >> 16);
        if (k > 1)
            out[o++] = (uint8_t)(v >> 8);
        if (k > 2)
            out[o++] = (uint8_t)v;
    }
    return (long)o;
}

int xc_memeq(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}
