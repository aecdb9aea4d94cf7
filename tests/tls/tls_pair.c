/* In-memory TLS pairs for the tests (see tls_pair.h). */
#include "tls_pair.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"

int pair_new(struct tls_pair *p, int rogue, const char *name, int min, int max)
{
    memset(p, 0, sizeof *p);
    const char *cert = rogue ? test_rogue_pem : test_server_pem;
    size_t cert_len = rogue ? test_rogue_pem_len : test_server_pem_len;
    const char *key = rogue ? test_rogue_key : test_server_key;
    size_t key_len = rogue ? test_rogue_key_len : test_server_key_len;
    int rc = ea_tls_ctx_new_server(&p->sctx, cert, cert_len, key, key_len, NULL, 0);
    if (rc == EA_OK)
        rc = ea_tls_ctx_new_client(&p->cctx, test_ca_pem, test_ca_pem_len, name, NULL, 0);
    if (rc == EA_OK)
        rc = ea_tls_ctx_set_versions(p->cctx, min, max);
    if (rc == EA_OK)
        rc = ea_tls_new(p->sctx, &p->s);
    if (rc == EA_OK)
        rc = ea_tls_new(p->cctx, &p->c);
    if (rc != EA_OK)
        pair_free(p);
    return rc;
}

void pair_free(struct tls_pair *p)
{
    ea_tls_free(p->s);
    ea_tls_free(p->c);
    ea_tls_ctx_free(p->sctx);
    ea_tls_ctx_free(p->cctx);
    memset(p, 0, sizeof *p);
}

int pair_move(ea_tls_t *from, ea_tls_t *to, size_t piece)
{
    uint8_t buf[16384];
    if (piece == 0)
        piece = 1500;
    if (piece > sizeof buf)
        piece = sizeof buf;
    int n;
    while ((n = ea_tls_take(from, buf, piece)) > 0) {
        int rc = ea_tls_feed(to, buf, (size_t)n);
        if (rc != EA_OK)
            return rc;
    }
    return n;
}

int pair_handshake(struct tls_pair *p, char *who)
{
    *who = 0;
    for (int round = 0; round < 10; round++) {
        if (ea_tls_handshake_done(p->c) && ea_tls_handshake_done(p->s))
            return EA_OK;
        int rc = ea_tls_handshake(p->c);
        if (rc != EA_OK && rc != EA_ERR_EMPTY) {
            *who = 'c';
            return rc;
        }
        if ((rc = pair_move(p->c, p->s, 0)) != EA_OK)
            return rc;
        rc = ea_tls_handshake(p->s);
        if (rc != EA_OK && rc != EA_ERR_EMPTY) {
            *who = 's';
            return rc;
        }
        if ((rc = pair_move(p->s, p->c, 0)) != EA_OK)
            return rc;
    }
    return EA_ERR_BUSY;
}

static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 131u + (i >> 12));
}

int pair_stream(ea_tls_t *from, ea_tls_t *to, size_t len, size_t wpiece, size_t npiece,
                size_t rpiece)
{
    uint8_t *w = malloc(wpiece), *r = malloc(rpiece);
    int rc = w != NULL && r != NULL ? EA_OK : EA_ERR_NOMEM;
    size_t sent = 0, got = 0;
    while (rc == EA_OK && got < len) {
        if (sent < len) {
            size_t n = len - sent < wpiece ? len - sent : wpiece;
            for (size_t i = 0; i < n; i++)
                w[i] = pattern(sent + i);
            int wr = ea_tls_write(from, w, n);
            if (wr != (int)n) {
                rc = wr < 0 ? wr : EA_ERR_CORRUPT;
                break;
            }
            sent += n;
        }
        rc = pair_move(from, to, npiece);
        for (;;) {
            if (rc != EA_OK)
                break;
            int rd = ea_tls_read(to, r, rpiece);
            if (rd == EA_ERR_EMPTY)
                break;
            if (rd <= 0) {
                rc = rd < 0 ? rd : EA_ERR_CORRUPT;
                break;
            }
            for (int i = 0; i < rd; i++)
                if (r[i] != pattern(got + (size_t)i))
                    rc = EA_ERR_CORRUPT;
            got += (size_t)rd;
        }
        /* Everything written and carried, and still short: data was lost. */
        if (rc == EA_OK && sent == len && got < len && ea_tls_pending(from) == 0)
            rc = EA_ERR_CORRUPT;
    }
    if (rc == EA_OK && got != len)
        rc = EA_ERR_CORRUPT;
    free(w);
    free(r);
    return rc;
}
