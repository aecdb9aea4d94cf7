/*
 * Which platform the ea_* trust calls of a thread talk to, and the
 * in-process platform used by tests and tools.
 *
 * Design notes.
 *
 * The binding is a _Thread_local pointer: a worker binds its domain's
 * platform once, and an actor body calling ea_create_report reaches exactly
 * that platform without any argument naming it. An unbound thread is the
 * host, and the calls return EA_ERR_PERM. The local platform holds a fixed
 * identity chosen by its creator, so it is only as trustworthy as that
 * creator: it exists so tests can play several enclaves in one process.
 */
#include "trust/trust_int.h"

#include <string.h>

static _Thread_local const eai_tplat_t *bound;

void eai_trust_bind(const eai_tplat_t *p)
{
    bound = p;
}

const eai_tplat_t *eai_trust_platform(void)
{
    return bound;
}

static int local_ereport(void *ctx, const ea_target_info_t *target, const ea_report_data_t *data,
                         ea_report_t *report)
{
    eai_local_platform_t *lp = ctx;
    return eai_pcore_ereport(lp->pc, &lp->id, target, data, report);
}

static int local_egetkey(void *ctx, const ea_key_request_t *req, uint8_t key[16])
{
    eai_local_platform_t *lp = ctx;
    return eai_pcore_egetkey(lp->pc, &lp->id, req, key);
}

static int local_identity(void *ctx, eai_identity_t *id)
{
    eai_local_platform_t *lp = ctx;
    *id = lp->id;
    return EA_OK;
}

static int local_mc(void *ctx, int op, ea_mc_uuid_t *uuid, uint32_t *value)
{
    eai_local_platform_t *lp = ctx;
    /* No counter service on this platform: like a host without one. */
    if (lp->mc == NULL)
        return EA_ERR_PERM;
    const uint8_t *owner = lp->id.mr_signer;
    switch (op) {
    case EAI_MC_CREATE: return eai_mc_create(lp->mc, owner, uuid, value);
    case EAI_MC_READ: return eai_mc_read(lp->mc, owner, uuid, value);
    case EAI_MC_INCREMENT: return eai_mc_increment(lp->mc, owner, uuid, value);
    case EAI_MC_DESTROY: return eai_mc_destroy(lp->mc, owner, uuid);
    default: return EA_ERR_INVAL;
    }
}

void eai_local_platform_init(eai_local_platform_t *lp, const eai_pcore_t *pc,
                             const eai_identity_t *id, eai_counters_t *mc)
{
    memset(lp, 0, sizeof *lp);
    lp->pc = pc;
    lp->id = *id;
    lp->mc = mc;
    lp->ops.ctx = lp;
    lp->ops.ereport = local_ereport;
    lp->ops.egetkey = local_egetkey;
    lp->ops.identity = local_identity;
    lp->ops.mc = local_mc;
}
