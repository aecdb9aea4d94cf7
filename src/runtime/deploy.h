/*
 * Deployment files: parsed and validated model of an eactors application.
 * Internal header (eai_ prefix). The parser uses libxml2; every validation
 * error is reported as "file:line: message" naming the element.
 */
#ifndef EAI_DEPLOY_H
#define EAI_DEPLOY_H

#include <stddef.h>
#include <stdint.h>

#include <eactors/ea_err.h>

#define EAI_HOST (-1) /* enclave index of host-side workers */

typedef enum eai_backend { EAI_BACKEND_PROC = 0, EAI_BACKEND_NONE = 1 } eai_backend_t;
typedef enum eai_idle { EAI_IDLE_PARK = 0, EAI_IDLE_SPIN = 1 } eai_idle_t;
typedef enum eai_protect {
    EAI_PROTECT_AUTO = 0,
    EAI_PROTECT_AEAD = 1,
    EAI_PROTECT_PLAIN = 2
} eai_protect_t;

typedef struct eai_dep_enclave {
    char *name;
    char *image;      /* as written in the file */
    char *image_path; /* resolved path of an existing file */
    eai_backend_t backend;
    uint32_t spawn; /* actor slots reserved for ea_spawn (default 16) */
    int line;
} eai_dep_enclave_t;

typedef struct eai_dep_worker {
    char *name;
    int enclave; /* index into enclaves, or EAI_HOST */
    int ncpus;
    int cpus[64]; /* CPU numbers, ascending, no duplicates */
    eai_idle_t idle;
    int line;
} eai_dep_worker_t;

typedef struct eai_dep_param {
    char *key;
    char *value;
} eai_dep_param_t;

/* Rights a <sys> system actor grants one domain (<grant> child of <sys>). */
typedef struct eai_dep_grant {
    int enclave;      /* enclave index, or EAI_HOST for host actors */
    uint16_t *listen; /* ports that may be listened on */
    int nlisten;
    uint16_t *connect; /* ports that may be connected to (loopback and any address) */
    int nconnect;
    char **files; /* directories (realpath at load) files may be opened in */
    int nfiles;
    int line;
} eai_dep_grant_t;

#define EAI_BUILTIN_NONE 0
#define EAI_BUILTIN_SYS 1 /* a <sys> element: the runtime's system actor */

typedef struct eai_dep_actor {
    char *name;
    char *type;              /* "sys" for builtin system actors */
    int builtin;             /* EAI_BUILTIN_* */
    eai_dep_grant_t *grants; /* builtin sys only */
    int ngrants;
    int worker; /* index into workers */
    eai_dep_param_t *params;
    int nparams;
    int line;
} eai_dep_actor_t;

typedef struct eai_dep_channel {
    char *name;
    int a, b;       /* actor indices, a != b */
    uint32_t nodes; /* node count */
    uint32_t max;   /* largest message in bytes */
    eai_protect_t protect;
    int line;
} eai_dep_channel_t;

typedef struct eai_deploy {
    char *path;            /* the deployment file as given */
    char *dir;             /* its directory */
    char *host_image;      /* as written in <host image=...>, or NULL */
    char *host_image_path; /* resolved, or NULL */
    int host_line;
    eai_dep_enclave_t *enclaves;
    int nenclaves;
    eai_dep_worker_t *workers;
    int nworkers;
    eai_dep_actor_t *actors;
    int nactors;
    eai_dep_channel_t *channels;
    int nchannels;
} eai_deploy_t;

/*
 * Callback: does image file `image_path` declare actor type `type`?
 * Returns 1 yes, 0 no, or a negative ea_err if the image cannot be loaded
 * (then `err` holds a reason).
 */
typedef int (*eai_type_probe_fn)(void *ctx, const char *image_path, const char *type, char *err,
                                 size_t errlen);

/*
 * Parses and validates the deployment file `path`. `ncpus` is the number of
 * CPUs that exist (CPU numbers >= ncpus are refused). `probe` (may be NULL to
 * skip the check) checks that each actor's type is in its domain's image.
 * On success returns EA_OK and *out (caller frees with eai_deploy_free).
 * On failure returns EA_ERR_PARSE (or EA_ERR_NOMEM) and writes one line
 * "file:line: message" (no trailing newline) into err.
 */
int eai_deploy_load(const char *path, int ncpus, eai_type_probe_fn probe, void *probe_ctx,
                    eai_deploy_t **out, char *err, size_t errlen);

void eai_deploy_free(eai_deploy_t *d);

/* Index of the named element, or -1. */
int eai_deploy_find_actor(const eai_deploy_t *d, const char *name);
int eai_deploy_find_worker(const eai_deploy_t *d, const char *name);
int eai_deploy_find_enclave(const eai_deploy_t *d, const char *name);

/* Parses "64", "16K", "1M" (binary units) into *out; EA_ERR_PARSE if bad. */
int eai_parse_size(const char *s, uint64_t *out);

#endif
