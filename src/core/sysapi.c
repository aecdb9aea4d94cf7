/* Accessors src/sys needs from the core (see core/sysapi.h). */
#include "core/rt.h"
#include "core/sysapi.h"

static int domain_of_id(struct eai_rt *rt, uint32_t id)
{
    if (id < rt->lay.ndep_actors)
        return eai_domain_of_actor(rt->dep, (int)id);
    for (int d = 0; d < rt->ndomains; d++)
        if (id >= rt->lay.slot_base[d] && id < rt->lay.slot_base[d] + rt->lay.slot_count[d])
            return d;
    return -1;
}

int eai_conn_peer_domain(const ea_conn_t *c)
{
    return domain_of_id(c->self->dom->rt, c->peer);
}

const char *eai_domain_name(const ea_actor_t *self, int d)
{
    const eai_deploy_t *dep = self->dom->rt->dep;
    if (d == 0)
        return "host";
    return d > 0 && d <= dep->nenclaves ? dep->enclaves[d - 1].name : "?";
}

const eai_dep_actor_t *eai_actor_dep(const ea_actor_t *self)
{
    const struct eai_rt *rt = self->dom->rt;
    return self->id < rt->lay.ndep_actors ? &rt->dep->actors[self->id] : NULL;
}

/* A peer in this process: its private status. A peer in another process
 * (the system actor runs in the host, its requesters mostly in enclaves):
 * only the arena's report can be seen, and the host may falsify it. That
 * is a hint the host could act on anyway: its system actor ends a
 * requester too early (its handles are closed: DoS) or too late (they stay
 * open until the run stops). */
bool eai_conn_peer_live(const ea_conn_t *c)
{
    struct eai_rt *rt = c->self->dom->rt;
    struct ea_actor *p = c->peer < rt->lay.nactors
                             ? atomic_load_explicit(&rt->actors[c->peer], memory_order_acquire)
                             : NULL;
    if (p != NULL) /* pairs with the release in actor_end() */
        return atomic_load_explicit(&p->status, memory_order_acquire) == EAI_S_LIVE;
    return atomic_load_explicit(&c->peer_rec->status, memory_order_acquire) == EAI_A_LIVE;
}

void eai_actor_wake(ea_actor_t *a)
{
    eai_wake(a->rec, a->worker->ready, a->worker->shm, a->id);
}

bool eai_worker_io_park(ea_actor_t *self, const eai_io_park_t *p)
{
    struct eai_worker *w = self->worker;
    if (self->dom->enclave != EAI_HOST)
        return false;
    if (p != NULL && w->io != NULL && w->io != p)
        return false;
    w->io = p;
    return true;
}
