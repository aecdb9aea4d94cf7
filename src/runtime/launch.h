#ifndef EAI_LAUNCH_H
#define EAI_LAUNCH_H
#include <stdbool.h>

typedef struct eai_run_opts {
    const char *path;            /* deployment file */
    int backend;                 /* -1: as in the file; else eai_backend_t for every enclave */
    bool quiet;                  /* no summary */
    bool check_only;             /* validate and describe, do not run */
    const char *platform_dir;    /* NULL: $EACTORS_PLATFORM_DIR or the default */
    int platform_mode;           /* EAI_PLATFORM_* */
    const char *platform_socket; /* NULL: $EACTORS_PLATFORM_SOCKET or /run/eactors/... */
} eai_run_opts_t;

/* AUTO: system mode if a platform daemon answers, else development. */
enum { EAI_PLATFORM_AUTO = 0, EAI_PLATFORM_SYSTEM, EAI_PLATFORM_DEVELOPMENT };

/* Runs (or checks) a deployment. Returns the process exit code: 0 all actors
 * done; 1 an actor failed or an enclave died; 2 bad deployment or usage;
 * 128 + signal when stopped by SIGINT/SIGTERM. */
int eai_launch(const eai_run_opts_t *o);

/* The process the platform daemon starts for enclave `e`; never returns. */
_Noreturn int eai_enclave_exec(int e, const char *image_name);
#endif
