/* Confinement of the launcher process before host actors run
 * (confine_host.c). */
#ifndef EAI_CONFINE_HOST_H
#define EAI_CONFINE_HOST_H

#include <stddef.h>

#include "base/model.h"

/* Restricts the calling process, and every thread it starts afterwards, to
 * the deployment's granted directories and ports and the images it still
 * loads; call before the first host thread. EA_ERR_SYS (or EA_ERR_CRYPTO)
 * with a reason in err. */
int eai_host_confine(const eai_deploy_t *dep, char *err, size_t errlen);

#endif
