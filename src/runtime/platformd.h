/*
 * The platform daemon (`eactors platform run`): the platform service as a
 * system service, under its own user, that starts enclave processes itself.
 * Launchers of any user connect to its socket and ask; docs/ARCHITECTURE.md
 * ("The platform daemon") has the design.
 */
#ifndef EAI_PLATFORMD_H
#define EAI_PLATFORMD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define EAI_PD_SOCKET "/run/eactors/platform.sock"
#define EAI_PD_DIR "/var/lib/eactors/platform"
#define EAI_PD_USER "eactors"
#define EAI_PD_ENCLAVE_USER "eactors-enclave"
#define EAI_PD_VERSION "eactors-platform-1"
/* Bounds on what one launcher may ask for. */
#define EAI_PD_MAX_SESSIONS 256
#define EAI_PD_MAX_ENCLAVES 256
/* ... and what one user may hold at a time: one user cannot take the
 * daemon from the others. */
#define EAI_PD_USER_SESSIONS 16
#define EAI_PD_USER_ENCLAVES 256
/* An enclave process gets the files of its persistent stores (the stores
 * whose one enclave it is, in deployment order) at descriptors
 * EAI_PD_STORE_FD0, EAI_PD_STORE_FD0 + 1, ...: at most EAI_PD_MAX_STORE_FDS
 * of them. The launcher, the daemon and `eactors enclave-exec` all count
 * the same way (the k-th persistent store of the enclave is record k). */
#define EAI_PD_STORE_FD0 8
#define EAI_PD_MAX_STORE_FDS 8

/*
 * The session protocol: fixed-size records over the daemon's SOCK_SEQPACKET
 * socket, each with at most one descriptor. Every request gets one answer
 * (OK, ERR with a reason, or STARTED); EXIT records come on their own
 * whenever an enclave of the session ends. Closing the connection kills the
 * session's enclaves.
 *
 *   (on connection, before any request)        <- OK text = EAI_PD_VERSION, or ERR with
 *                                                 the reason the daemon refuses the session
 *   HELLO  text = EAI_PD_VERSION               -> OK (text: the daemon's description)
 *   ARENA  + the public arena (memfd)          -> OK
 *   DEPLOY + the deployment (sealed memfd)     -> OK
 *   OUTPUT + descriptor 1, ERRPUT + descriptor 2 for the enclaves -> OK
 *   IMAGE enclave + image file, SIG enclave + signature file -> OK
 *   STORE enclave, value = k + the file of the enclave's k-th persistent
 *         store (a regular file; 0 <= k < EAI_PD_MAX_STORE_FDS) -> OK
 *   SPAWN enclave, text = image name           -> STARTED value = pid
 *   LOCAL enclave                              -> OK + a platform socket
 *                                                 (a `none` enclave: DEBUG)
 *   KILL                                       -> every enclave is killed; OK
 *   EXIT enclave, value = wait status          (daemon -> launcher)
 */
enum {
    EAI_PD_HELLO = 1,
    EAI_PD_ARENA,
    EAI_PD_DEPLOY,
    EAI_PD_OUTPUT,
    EAI_PD_ERRPUT,
    EAI_PD_IMAGE,
    EAI_PD_SIG,
    EAI_PD_SPAWN,
    EAI_PD_LOCAL,
    EAI_PD_KILL,
    EAI_PD_STORE,
    EAI_PD_OK = 100,
    EAI_PD_ERR,
    EAI_PD_STARTED,
    EAI_PD_EXIT
};

struct eai_pd_msg {
    uint32_t op;
    int32_t enclave;
    int32_t value;
    uint32_t pad;
    char text[240];
};

typedef struct eai_pd_opts {
    const char *socket;       /* NULL: EAI_PD_SOCKET */
    const char *dir;          /* NULL: EAI_PD_DIR */
    const char *user;         /* as root: the user to become; NULL: EAI_PD_USER */
    const char *enclave_user; /* NULL: EAI_PD_ENCLAVE_USER; "-": the daemon's own */
} eai_pd_opts_t;

/* Runs the daemon until it is killed; returns an exit code on a start-up
 * failure (printed). */
int eai_platformd_main(const eai_pd_opts_t *o);

/* `eactors platform install`: as root, creates the users, the platform
 * directory and the systemd unit. Returns an exit code. */
int eai_platformd_install(const char *unit_dir);

/* The socket a launcher asks: $EACTORS_PLATFORM_SOCKET, else EAI_PD_SOCKET. */
const char *eai_pd_socket_default(void);

#endif
