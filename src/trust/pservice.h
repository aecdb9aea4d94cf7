/*
 * The platform service: the software stand-in for the CPU's enclave
 * instructions (EINIT, EREPORT, EGETKEY) and the platform's monotonic
 * counters. It runs in its own process, holds the platform secret, and talks
 * to each enclave over a private SOCK_SEQPACKET socket created before the
 * enclave was forked. Because the service measures the exact sealed bytes an
 * enclave loads (EINIT) and answers each socket only with the identity bound
 * to it, an enclave cannot obtain reports or keys for another identity, even
 * if its own code is hostile.
 */
#ifndef EAI_PSERVICE_H
#define EAI_PSERVICE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "trust/trust.h"

/* Runs the service in the calling process (forked by the launcher) over
 * sockets fds[0..n), until every socket is closed. Never returns: exits 0, or
 * 1 after writing a one-line reason into msg (msglen bytes, shared memory). */
_Noreturn void eai_pservice_main(const char *dir, const int *fds, int n, char *msg, size_t msglen);

/* Enclave side of one socket. */
typedef struct eai_pclient {
    int fd;
    pthread_mutex_t lock; /* one request at a time per socket */
    eai_identity_t id;    /* set by a successful EINIT */
    int initted;
    eai_tplat_t ops; /* bound to worker threads */
} eai_pclient_t;

void eai_pclient_init(eai_pclient_t *c, int fd);
void eai_pclient_fini(eai_pclient_t *c);
/* EINIT: sends the sealed image memfd and the signature file bytes. On
 * success c->id holds the identity and c->ops is usable. On refusal returns
 * the error with the service's one-line reason in err. */
int eai_pclient_einit(eai_pclient_t *c, int image_fd, const char *image_name, const uint8_t *sig,
                      size_t siglen, char *err, size_t errlen);

/* Default platform directory: $EACTORS_PLATFORM_DIR, else
 * ${XDG_DATA_HOME:-$HOME/.local/share}/eactors/platform. Returns a malloc'd
 * string (caller frees) or NULL. */
char *eai_platform_dir_default(void);

#endif
