/*
 * Host confinement: what the launcher process may still do once it starts
 * running host actors and system actors.
 *
 * Design notes. Host actors and system actors are untrusted code that parses
 * network input; a bug there must not hand over the platform secret (the
 * platform directory), enclave or platform-service memory, or the machine.
 * After the platform service and the `proc` enclaves are forked, and before
 * the first host thread starts (Landlock holds for the calling thread and
 * the threads it creates later), the launcher restricts itself:
 *  - Landlock: files only beneath the directories the deployment's <grant>s
 *    name, plus the image and signature files of domains the launcher still
 *    loads (host image, `none` enclaves) and its own /proc/self; TCP bind only to granted listen
 *    ports, connect only to granted connect ports. No rule names the
 *    platform directory. Landlock also keeps a restricted process from
 *    ptracing processes outside its domain (enclaves, the platform service).
 *  - A deny-list of system calls (eai_denylist_host) against other
 *    processes' memory and the kernel's wider state.
 * libcrypto and libssl are initialised first, as they read their
 * configuration once.
 */
#include "runtime/confine_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eactors/ea_tls.h>

#include "crypto/crypto.h"
#include "platform/platform.h"

struct spec {
    eai_fs_grant_t *fs;
    int nfs, capfs;
    uint16_t *bind, *connect;
    int nbind, nconnect, capbind, capconnect;
    char **owned; /* strings made here (".sig" paths) */
    int nowned;
};

static int push_fs(struct spec *s, const char *path, int access)
{
    if (s->nfs == s->capfs) {
        int cap = s->capfs ? 2 * s->capfs : 16;
        eai_fs_grant_t *g = realloc(s->fs, (size_t)cap * sizeof *g);
        if (g == NULL)
            return EA_ERR_NOMEM;
        s->fs = g;
        s->capfs = cap;
    }
    s->fs[s->nfs++] = (eai_fs_grant_t){path, access};
    return EA_OK;
}

static int push_port(uint16_t **v, int *n, int *cap, uint16_t port)
{
    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 16;
        uint16_t *p = realloc(*v, (size_t)c * sizeof *p);
        if (p == NULL)
            return EA_ERR_NOMEM;
        *v = p;
        *cap = c;
    }
    (*v)[(*n)++] = port;
    return EA_OK;
}

/* An image the launcher still loads, and its signature file if present. */
static int push_image(struct spec *s, const char *path)
{
    if (path == NULL)
        return EA_OK;
    int rc = push_fs(s, path, EAI_FS_READ);
    char *sig = NULL;
    if (rc == EA_OK && asprintf(&sig, "%s.sig", path) < 0)
        return EA_ERR_NOMEM;
    char **o = realloc(s->owned, (size_t)(s->nowned + 1) * sizeof *o);
    if (o == NULL) {
        free(sig);
        return EA_ERR_NOMEM;
    }
    s->owned = o;
    s->owned[s->nowned++] = sig;
    /* A missing signature file is the loader's error to report, later. */
    char *real = NULL;
    if (eai_path_resolve(sig, EAI_PATH_FILE, &real) == EA_OK) {
        free(real);
        rc = push_fs(s, sig, EAI_FS_READ);
    }
    return rc;
}

static int collect(const eai_deploy_t *dep, struct spec *s)
{
    int rc = push_image(s, dep->host_image_path);
    for (int e = 0; rc == EA_OK && e < dep->nenclaves; e++)
        if (dep->enclaves[e].backend == EAI_BACKEND_NONE)
            rc = push_image(s, dep->enclaves[e].image_path);
    for (int a = 0; rc == EA_OK && a < dep->nactors; a++) {
        const eai_dep_actor_t *da = &dep->actors[a];
        for (int g = 0; rc == EA_OK && g < da->ngrants; g++) {
            const eai_dep_grant_t *gr = &da->grants[g];
            for (int i = 0; rc == EA_OK && i < gr->nfiles; i++)
                rc = push_fs(s, gr->files[i], gr->files_ro[i] ? EAI_FS_READ : EAI_FS_WRITE);
            for (int i = 0; rc == EA_OK && i < gr->nlisten; i++)
                rc = push_port(&s->bind, &s->nbind, &s->capbind, gr->listen[i]);
            for (int i = 0; rc == EA_OK && i < gr->nconnect; i++)
                rc = push_port(&s->connect, &s->nconnect, &s->capconnect, gr->connect[i]);
        }
    }
    /* Its own process files: the system actor counts its descriptors in
     * /proc/self/fd (and LeakSanitizer reads /proc/self/maps in test
     * builds). Only this process's own directory. */
    if (rc == EA_OK)
        rc = push_fs(s, "/proc/self", EAI_FS_READ);
    return rc;
}

int eai_host_confine(const eai_deploy_t *dep, char *err, size_t errlen)
{
    if (eai_crypto_init() != EA_OK || ea_tls_init() != EA_OK) {
        snprintf(err, errlen, "cannot initialise the crypto library");
        return EA_ERR_CRYPTO;
    }
    struct spec s = {0};
    int rc = collect(dep, &s);
    if (rc != EA_OK) {
        snprintf(err, errlen, "out of memory");
    } else {
        eai_landlock_t ll = {.fs = s.fs,
                             .nfs = s.nfs,
                             .handle_net = true,
                             .bind = s.bind,
                             .nbind = s.nbind,
                             .connect = s.connect,
                             .nconnect = s.nconnect,
                             .scope_signals = false};
        rc = eai_landlock_apply(&ll, err, errlen);
    }
    if (rc == EA_OK)
        rc = eai_allowlist_install(&eai_denylist_host, NULL, 0, err, errlen);
    for (int i = 0; i < s.nowned; i++)
        free(s.owned[i]);
    free(s.owned);
    free(s.fs);
    free(s.bind);
    free(s.connect);
    return rc;
}
