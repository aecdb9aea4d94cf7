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

#include "base/base.h"
#include "base/model.h"

/*
 * Callback: does image file `image_path` declare actor type `type`?
 * Returns 1 yes, 0 no, or a negative ea_err if the image cannot be loaded
 * (then `err` holds a reason).
 */
typedef int (*eai_type_probe_fn)(void *ctx, const char *image_path, const char *type, char *err,
                                 size_t errlen);

/* At most this many errors of one file are reported; then one more line
 * says how many were left out. */
#define EAI_DEPLOY_MAX_ERRORS 20
/* Longest reported line, NUL included (longer ones are cut). */
#define EAI_DEPLOY_LINE_MAX 1024
/* An err buffer of this size holds every line eai_deploy_load writes. */
#define EAI_DEPLOY_ERRLEN ((EAI_DEPLOY_MAX_ERRORS + 1) * EAI_DEPLOY_LINE_MAX)

/*
 * Parses and validates the deployment file `path`. `ncpus` is the number of
 * CPUs that exist (CPU numbers >= ncpus are refused). `probe` (may be NULL to
 * skip the check) checks that each actor's type is in its domain's image.
 * On success returns EA_OK and *out (caller frees with eai_deploy_free).
 * On failure returns EA_ERR_PARSE (EA_ERR_NOMEM, or EA_ERR_INVAL for a NULL
 * path or out or ncpus < 1) and writes every error
 * of the file into err as lines "file:line: message", sorted by line and
 * separated by '\n' (no trailing newline): at most EAI_DEPLOY_MAX_ERRORS of
 * them, then, if there were more, one line "file: N more errors not shown".
 * A buffer of EAI_DEPLOY_ERRLEN bytes holds them all; a shorter one gets the
 * text cut short, always NUL-terminated.
 */
int eai_deploy_load(const char *path, int ncpus, eai_type_probe_fn probe, void *probe_ctx,
                    eai_deploy_t **out, char *err, size_t errlen);

/* As eai_deploy_load; flags EAI_DEPLOY_OFFLINE: no file-system lookups
 * (an enclave process started by the platform daemon reads the host's
 * deployment without access to the host's files): images are kept as
 * written, grant directories unresolved (still absolute). */
#define EAI_DEPLOY_OFFLINE 0x1u
int eai_deploy_load_ex(const char *path, int ncpus, eai_type_probe_fn probe, void *probe_ctx,
                       unsigned flags, eai_deploy_t **out, char *err, size_t errlen);

void eai_deploy_free(eai_deploy_t *d);

/* Index of the named element, or -1. */
int eai_deploy_find_actor(const eai_deploy_t *d, const char *name);
int eai_deploy_find_worker(const eai_deploy_t *d, const char *name);
int eai_deploy_find_enclave(const eai_deploy_t *d, const char *name);

#endif
