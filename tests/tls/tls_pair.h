/* A TLS server and client joined in memory, for tests: ciphertext moves
 * between them only when a test says so. No cmocka here: the confined test
 * runs these under a seccomp filter where cmocka cannot run. */
#ifndef TLS_PAIR_H
#define TLS_PAIR_H

#include <stddef.h>

#include <eactors/ea_tls.h>

struct tls_pair {
    ea_tls_ctx_t *sctx, *cctx;
    ea_tls_t *s, *c;
};

/* Contexts from the test PKI: the server with the CA-signed "localhost"
 * certificate (or the rogue self-signed one), the client trusting the CA
 * and expecting `name`; versions limited to [min, max] on the client.
 * Returns EA_OK or the first error. */
int pair_new(struct tls_pair *p, int rogue, const char *name, int min, int max);
void pair_free(struct tls_pair *p);

/* Moves every waiting byte of ciphertext from `from` to `to`, in pieces of
 * at most `piece` bytes (0: 1500, like a network packet). */
int pair_move(ea_tls_t *from, ea_tls_t *to, size_t piece);

/* Runs the handshake to the end. Returns EA_OK, or the first error either
 * side reported (*who = 's' or 'c'). */
int pair_handshake(struct tls_pair *p, char *who);

/* Sends `len` bytes of a pattern from `from` to `to`, written in pieces of
 * `wpiece`, carried in pieces of `npiece`, read into a buffer of `rpiece`;
 * checks every byte. EA_OK or an error. */
int pair_stream(ea_tls_t *from, ea_tls_t *to, size_t len, size_t wpiece, size_t npiece,
                size_t rpiece);

#endif
