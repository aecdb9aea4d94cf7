/*
 * Stores declared in the deployment file (<store>), opened for actors by
 * name: ea_eos_attach (include/eactors/ea_eos.h).
 *
 * Design notes. The deployment (parsed by the runtime, private to each
 * process) says which domains may use a store; the region comes from the
 * kind:
 *  - trusted: private memory of the one domain that declares it, allocated
 *    by the store at the first attach in that domain;
 *  - untrusted: a region of the public arena the launcher laid out
 *    (core/layout.c, lay.off_store), zero until the first opener formats
 *    it; every listed enclave attaches the same bytes;
 *  - persistent: the file the launcher opened and sized before it forked
 *    the enclave (rt->store_fds, launch.c): a confined enclave cannot open
 *    files, it only maps the descriptor it inherited.
 * The first attach in a domain opens the store (for an encrypted store the
 * calling worker's bound platform unseals the store key: the domain's
 * enclave identity) and keeps that handle for the run; each attach returns
 * a duplicate the actor owns. A per-runtime spin lock orders first opens;
 * it is held across one open (a platform round trip), never on the data
 * path.
 */
#include <stdlib.h>
#include <string.h>

#include <eactors/ea_eos.h>
#include <eactors/ea_trust.h>

#include "core/rt.h"
#include "eos/eos_int.h"
#include "platform/platform.h"

static void lock(struct eai_rt *rt)
{
    uint32_t zero = 0;
    while (!atomic_compare_exchange_weak_explicit(&rt->eos_lock, &zero, 1, memory_order_acquire,
                                                  memory_order_relaxed)) {
        zero = 0;
        eai_sleep_ns(50000);
    }
}

static void unlock(struct eai_rt *rt)
{
    atomic_store_explicit(&rt->eos_lock, 0, memory_order_release);
}

/* Opens store `si` for domain `d` (lock held). */
static int open_declared(struct eai_rt *rt, int si, ea_eos_t **out)
{
    const eai_dep_store_t *ds = &rt->dep->stores[si];
    ea_eos_config_t c = {.kind = (ea_eos_kind)ds->kind,
                         .size = (size_t)ds->size,
                         .keys = ds->keys,
                         .home_bytes = ds->home,
                         .key_policy = ds->policy == EAI_STORE_MRENCLAVE ? EA_KEYPOLICY_MRENCLAVE
                                                                         : EA_KEYPOLICY_MRSIGNER};
    switch (ds->kind) {
    case EAI_STORE_TRUSTED: return ea_eos_open(ds->name, &c, out);
    case EAI_STORE_UNTRUSTED:
        if (rt->arena == NULL || rt->lay.off_store == NULL || rt->lay.off_store[si] == SIZE_MAX)
            return EA_ERR_NOTFOUND;
        c.region = rt->arena + rt->lay.off_store[si];
        return ea_eos_open(ds->name, &c, out);
    case EAI_STORE_PERSISTENT:
        /* No descriptor: this process is not the one the file was opened
         * for (an enclave the platform daemon started: see ARCHITECTURE). */
        if (rt->store_fds == NULL || rt->store_fds[si] < 0)
            return EA_ERR_SYS;
        return eai_eos_open_fd(ds->name, &c, rt->store_fds[si], out);
    default: return EA_ERR_INVAL;
    }
}

int ea_eos_attach(ea_actor_t *self, const char *name, ea_eos_t **out)
{
    if (self == NULL || name == NULL || out == NULL)
        return EA_ERR_INVAL;
    /* Only from the actor's own constructor or body: the worker's thread
     * is bound to the actor's domain (its seal keys). */
    if (self != eai_current || self->dom == NULL || self->dom->rt == NULL)
        return EA_ERR_PERM;
    struct eai_rt *rt = self->dom->rt;
    const eai_deploy_t *dep = rt->dep;
    int si = -1;
    for (int i = 0; i < dep->nstores; i++)
        if (strcmp(dep->stores[i].name, name) == 0)
            si = i;
    if (si < 0)
        return EA_ERR_NOTFOUND;
    int e = self->dom->enclave, d = e == EAI_HOST ? 0 : 1 + e;
    bool user = false;
    for (int j = 0; j < dep->stores[si].nusers; j++)
        user |= dep->stores[si].users[j] == e;
    if (!user || d >= rt->ndomains)
        return EA_ERR_PERM;
    lock(rt);
    int rc = EA_OK;
    if (rt->eos == NULL) {
        rt->eos = calloc((size_t)rt->ndomains * (size_t)dep->nstores, sizeof *rt->eos);
        if (rt->eos == NULL)
            rc = EA_ERR_NOMEM;
    }
    ea_eos_t **root = rt->eos != NULL ? (ea_eos_t **)&rt->eos[d * dep->nstores + si] : NULL;
    if (rc == EA_OK && *root == NULL)
        rc = open_declared(rt, si, root);
    if (rc == EA_OK)
        rc = ea_eos_dup(*root, out);
    unlock(rt);
    return rc;
}

void eai_eos_rt_fini(struct eai_rt *rt)
{
    if (rt == NULL)
        return;
    for (int i = 0; rt->eos != NULL && rt->dep != NULL && i < rt->ndomains * rt->dep->nstores; i++)
        ea_eos_close(rt->eos[i]);
    free(rt->eos);
    rt->eos = NULL;
    for (int i = 0; rt->store_fds != NULL && rt->dep != NULL && i < rt->dep->nstores; i++)
        if (rt->store_fds[i] >= 0)
            eai_close(rt->store_fds[i]);
    free(rt->store_fds);
    rt->store_fds = NULL;
}
