/* The launcher's session with the platform daemon (system mode); see
 * pdclient.c. Every function returns EA_OK or an error with a one-line
 * reason in pd->err. */
#ifndef EAI_PDCLIENT_H
#define EAI_PDCLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "platform/platform.h"

typedef struct eai_pd {
    int fd;
    char socket[256];
    uint32_t daemon_uid;
    char err[512];
    eai_thread_t listener;
    bool listening;
    _Atomic int lost; /* the daemon closed the session */
    void (*on_exit)(void *ctx, int enclave, int status);
    void *ctx;
} eai_pd_t;

/* EA_ERR_NOTFOUND: no daemon there (development mode is the alternative). */
int eai_pd_connect(eai_pd_t *pd, const char *socket);
/* Hands over the arena, a sealed copy of the deployment file and the
 * launcher's standard output and error. */
int eai_pd_setup(eai_pd_t *pd, int arena_fd, const char *deployment);
/* A platform socket for a `none` enclave of this launcher (DEBUG). */
int eai_pd_local(eai_pd_t *pd, int enclave, int *platform_fd);
/* Passes the file of enclave `enclave`'s k-th persistent store (the
 * descriptor stays the caller's); the daemon hands it to the enclave process
 * at descriptor EAI_PD_STORE_FD0 + k (platformd.h). Before eai_pd_spawn. */
int eai_pd_store(eai_pd_t *pd, int enclave, int k, int fd);
/* Starts enclave `enclave` from the image file and its signature file. */
int eai_pd_spawn(eai_pd_t *pd, int enclave, const char *image_path, const char *image_name,
                 pid_t *pid);
/* From now on a thread receives: on_exit(ctx, enclave, wait status) for
 * each enclave that ends, on_exit(ctx, -1, 0) once if the daemon goes. */
int eai_pd_listen(eai_pd_t *pd, void (*on_exit)(void *ctx, int enclave, int status), void *ctx);
/* Asks the daemon to kill every enclave of the session. */
void eai_pd_kill(eai_pd_t *pd);
void eai_pd_close(eai_pd_t *pd);

#endif
