/*
 * The deployment model: the parsed and validated form of a deployment file
 * (which actor runs in which domain, on which worker, joined by which
 * channels). Plain data, no functions: it sits in the bottom layer so that
 * every layer that runs a deployment (core, sys, runtime) can read it. The
 * parser that builds it is runtime/deploy.c.
 */
#ifndef EAI_MODEL_H
#define EAI_MODEL_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#define EAI_HOST (-1) /* enclave index of host-side workers */

typedef enum eai_backend { EAI_BACKEND_PROC = 0, EAI_BACKEND_NONE = 1 } eai_backend_t;
/* What a worker with an empty ready queue does: spin `spin` polls, then
 * park (park); never park (spin); spin a budget that adapts to how soon
 * work came after earlier parks, then park (adaptive; core/sched.c). */
typedef enum eai_idle { EAI_IDLE_PARK = 0, EAI_IDLE_SPIN = 1, EAI_IDLE_ADAPTIVE = 2 } eai_idle_t;
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
    /* Empty polls of the ready queue before the worker parks (idle="park"):
     * spin="N", else EAI_SPIN_DEFAULT, or 0 for a worker pinned to one CPU
     * that another worker is pinned to as well (its spinning would only
     * delay the thread that has work). Resolved by the parser. */
    uint32_t spin;
    int line;
} eai_dep_worker_t;

#define EAI_SPIN_DEFAULT 200u
#define EAI_SPIN_UNSET UINT32_MAX

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
    /* Directories (realpath at load) files may be used in: files[i] is
     * read-only if files_ro[i] (files-ro=), read-write otherwise (files=).
     * The longest entry that contains a path decides (file.c); no path is
     * listed twice. */
    char **files;
    uint8_t *files_ro;
    int nfiles;
    /* Per-requester limits of the system actor (handles=, timers=,
     * queued=); 0: not given, the system actor's default applies. */
    uint32_t max_handles; /* open handles of every kind, timers included */
    uint32_t max_timers;  /* of which timers */
    uint32_t max_queued;  /* bytes the system actor holds for it */
    int line;
} eai_dep_grant_t;

/* Largest per-requester limits a <grant> may ask for (handles= and timers=
 * up to the system actor's handle table, queued= up to 1G). */
#define EAI_SYS_HANDLES_LIMIT 32768u
#define EAI_SYS_QUEUED_LIMIT (1u << 30)

#define EAI_BUILTIN_NONE 0
#define EAI_BUILTIN_SYS 1 /* a <sys> element: the runtime's system actor */
#define EAI_BUILTIN_COUNT 2

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

/* An EOS store declared by <store> (include/eactors/ea_eos.h): what
 * ea_eos_attach opens for an actor. `kind` holds ea_eos_kind values. */
enum { EAI_STORE_TRUSTED = 0, EAI_STORE_UNTRUSTED = 1, EAI_STORE_PERSISTENT = 2 };
enum { EAI_STORE_MRSIGNER = 0, EAI_STORE_MRENCLAVE = 1 };
typedef struct eai_dep_store {
    char *name;
    int kind;       /* EAI_STORE_* */
    uint64_t size;  /* region bytes */
    uint32_t keys;  /* index keys, 0: the store's default */
    uint32_t home;  /* home block bytes (ea_eos_config_t.home_bytes), 0: none */
    int policy;     /* EAI_STORE_MRSIGNER / _MRENCLAVE (untrusted, persistent) */
    int *users;     /* domains that may attach it: enclave indices, EAI_HOST */
    int nusers;     /* trusted, persistent: 1; untrusted: 1 or more */
    char *path;     /* persistent: as written */
    char *path_abs; /* persistent: absolute (relative paths: from the file's directory) */
    int line;
} eai_dep_store_t;

typedef struct eai_deploy {
    char *path;            /* the deployment file as given */
    char *dir;             /* its directory */
    char *host_image;      /* as written in <host image=...>, or NULL */
    char *host_image_path; /* resolved, or NULL */
    int host_line;
    bool require_system; /* <eactors platform="system">: only with the platform daemon */
    eai_dep_enclave_t *enclaves;
    int nenclaves;
    eai_dep_worker_t *workers;
    int nworkers;
    eai_dep_actor_t *actors;
    int nactors;
    eai_dep_channel_t *channels;
    int nchannels;
    eai_dep_store_t *stores;
    int nstores;
} eai_deploy_t;

#endif
