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
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "trust/trust.h"

/* The wire format: each request and each response is one record of exactly
 * its struct's size; the image memfd of an EINIT travels with its record
 * (SCM_RIGHTS, exactly one descriptor). */
enum { EAI_PS_EINIT = 1, EAI_PS_EREPORT, EAI_PS_EGETKEY, EAI_PS_MC };

struct eai_ps_req {
    uint32_t op;  /* EAI_PS_* */
    uint32_t arg; /* EAI_PS_MC: EAI_MC_* */
    union {
        struct {
            char image_name[160];
            uint32_t siglen;
            uint8_t sig[EAI_SIGSTRUCT_SIZE];
        } einit;
        struct {
            ea_target_info_t target;
            ea_report_data_t data;
        } ereport;
        ea_key_request_t keyreq;
        ea_mc_uuid_t uuid;
    } u;
};

struct eai_ps_resp {
    int32_t rc;
    uint32_t pad;
    union {
        struct {
            eai_identity_t id;
            char err[256];
        } einit;
        ea_report_t report;
        uint8_t key[16];
        struct {
            ea_mc_uuid_t uuid;
            uint32_t value;
        } mc;
    } u;
};

/* How a service runs: `development` gives every enclave the DEBUG
 * attribute (a platform its own user controls: the launcher's private one);
 * `control` (or -1) is the daemon's socket that hands over new enclave
 * sockets, one struct eai_ps_add record with the descriptor each. */
typedef struct eai_ps_opts {
    bool development;
    int control;
} eai_ps_opts_t;

struct eai_ps_add {
    int32_t expect; /* the enclave process the daemon started for this socket */
    uint32_t debug; /* 1: an enclave in a launcher (`none`): DEBUG */
};

/* Runs the service in the calling process (forked by the launcher or the
 * daemon) over sockets fds[0..n) and those the control socket adds, until
 * every socket is closed (with a control socket: until it is). Never
 * returns: exits 0, or 1 after writing a one-line reason into msg (msglen
 * bytes, shared memory). */
_Noreturn void eai_pservice_main(const char *dir, const eai_ps_opts_t *o, const int *fds, int n,
                                 char *msg, size_t msglen);

/* What the service holds: the secret, the counters, and /proc to see
 * whether an enclave runs confined. */
typedef struct eai_pservice {
    eai_pcore_t pc;
    eai_counters_t mc;
    int procfd;
    pid_t launcher;   /* the parent: `none` enclaves run inside it */
    bool foreign;     /* the loader's environment may have mapped foreign code */
    bool development; /* every enclave runs with DEBUG (eai_ps_opts_t) */
} eai_pservice_t;

/* One enclave's socket as the service sees it. */
typedef struct eai_ppeer {
    int fd;
    int initted;
    eai_identity_t id; /* set by a successful EINIT on this socket */
    pid_t expect;      /* > 0: only this process is isolated on this socket */
    bool debug;        /* the enclave runs in a launcher: DEBUG */
} eai_ppeer_t;

/* The service's state without the process around it (eai_pservice_main
 * uses these; tests and the fuzz target drive them in-process): open reads
 * the secret and opens the counters and /proc under `dir`, nothing is
 * confined. EA_OK, or an error with a one-line reason in err. */
int eai_pservice_open(eai_pservice_t *sv, const char *dir, char *err, size_t errlen);
void eai_pservice_close(eai_pservice_t *sv); /* wipes the secret */
/* Receives one record on p->fd and answers it. Every descriptor that came
 * with the record is closed before it returns. False when the enclave is
 * cut off: it closed its end or sent a malformed record (the caller closes
 * p->fd). */
bool eai_pservice_serve_one(eai_pservice_t *sv, eai_ppeer_t *p);

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
