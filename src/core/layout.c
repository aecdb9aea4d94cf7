/*
 * Public arena layout.
 *
 * Design notes: the launcher computes every offset once, from the deployment
 * alone, before it forks any enclave. Each enclave inherits that computation
 * in its private memory and never reads an offset or a limit back from the
 * arena, so a host that scribbles over the arena can corrupt messages and
 * counters but cannot redirect an enclave's accesses outside the arena or
 * outside the bounds each view holds privately. The storage of one channel
 * ("pool | mbox a | mbox b") is laid out by eai_chan_layout() alone, for
 * arena and private channels alike, so the launcher's offsets, the views an
 * enclave attaches and the reports cannot disagree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt.h"

static size_t align64(size_t n)
{
    return (n + 63u) & ~(size_t)63u;
}

int eai_chan_layout(uint32_t nodes, uint32_t max, struct eai_chan_layout *out)
{
    uint32_t node_size = ea_node_size_for(max);
    uint32_t cap = ea_mbox_capacity_for(nodes);
    size_t pool_bytes = node_size ? ea_pool_footprint(nodes, node_size) : 0;
    size_t mbox_bytes = cap ? ea_mbox_footprint(cap) : 0;
    if (pool_bytes == 0 || mbox_bytes == 0 || (SIZE_MAX - pool_bytes) / 2 < mbox_bytes)
        return EA_ERR_LIMIT;
    out->node_size = node_size;
    out->mbox_cap = cap;
    out->off_pool = 0;
    out->off_mbox_a = pool_bytes;
    out->off_mbox_b = pool_bytes + mbox_bytes;
    out->size = pool_bytes + 2 * mbox_bytes;
    return EA_OK;
}

int eai_layout_compute(struct eai_rt *rt, char *err, size_t errlen)
{
    const eai_deploy_t *d = rt->dep;
    struct eai_layout *l = &rt->lay;
    memset(l, 0, sizeof *l);
    rt->ndomains = 1 + d->nenclaves;

    l->slot_base = calloc((size_t)rt->ndomains, sizeof *l->slot_base);
    l->slot_count = calloc((size_t)rt->ndomains, sizeof *l->slot_count);
    l->off_ready = calloc((size_t)d->nworkers + 1, sizeof *l->off_ready);
    l->ready_cap = calloc((size_t)d->nworkers + 1, sizeof *l->ready_cap);
    l->off_chan = calloc((size_t)d->nchannels + 1, sizeof *l->off_chan);
    l->chan = calloc((size_t)d->nchannels + 1, sizeof *l->chan);
    l->off_store = calloc((size_t)d->nstores + 1, sizeof *l->off_store);
    if (!l->slot_base || !l->slot_count || !l->off_ready || !l->ready_cap || !l->off_chan ||
        !l->chan || !l->off_store) {
        snprintf(err, errlen, "out of memory");
        return EA_ERR_NOMEM;
    }

    /* Actor ids: deployment actors first, then each domain's spawn slots. */
    uint32_t n = (uint32_t)d->nactors;
    l->ndep_actors = n;
    for (int dom = 0; dom < rt->ndomains; dom++) {
        l->slot_base[dom] = n;
        l->slot_count[dom] = dom == 0 ? EAI_HOST_SPAWN : d->enclaves[dom - 1].spawn;
        n += l->slot_count[dom];
    }
    l->nactors = n;

    size_t off = align64(sizeof(struct eai_hdr));
    l->off_encl = off;
    off += align64(sizeof(struct eai_encl_shm) * (size_t)(d->nenclaves + 1));
    l->off_wk = off;
    off += align64(sizeof(struct eai_wk_shm) * (size_t)(d->nworkers + 1));
    l->off_rec = off;
    off += align64(sizeof(struct eai_rec) * (size_t)n);
    l->off_names = off;
    off += align64((size_t)EAI_NAME_MAX * (size_t)(n - l->ndep_actors));

    /* Channel records for the summary, and which channels are protected:
     * AEAD when the two ends are in two different enclaves, unless the
     * deployment asked for plain. */
    l->off_chan_shm = off;
    off += align64(sizeof(struct eai_chan_shm) * (size_t)(d->nchannels + 1));
    l->chan_aead = calloc((size_t)d->nchannels + 1, 1);
    l->pair_lo = calloc((size_t)d->nenclaves * (size_t)d->nenclaves + 1, sizeof(int));
    l->pair_hi = calloc((size_t)d->nenclaves * (size_t)d->nenclaves + 1, sizeof(int));
    if (!l->chan_aead || !l->pair_lo || !l->pair_hi) {
        snprintf(err, errlen, "out of memory");
        return EA_ERR_NOMEM;
    }
    for (int c = 0; c < d->nchannels; c++) {
        const eai_dep_channel_t *ch = &d->channels[c];
        int da = eai_domain_of_actor(d, ch->a), db = eai_domain_of_actor(d, ch->b);
        if (da == 0 || db == 0 || da == db || ch->protect == EAI_PROTECT_PLAIN)
            continue;
        l->chan_aead[c] = 1;
        int lo = da < db ? da - 1 : db - 1, hi = da < db ? db - 1 : da - 1;
        int known = 0;
        for (int p = 0; p < l->npairs; p++)
            known |= l->pair_lo[p] == lo && l->pair_hi[p] == hi;
        if (!known) {
            l->pair_lo[l->npairs] = lo;
            l->pair_hi[l->npairs] = hi;
            l->npairs++;
        }
    }
    /* One attestation per pair, in one global order (lexicographic), so
     * enclaves that attest several peers never wait on each other in a
     * cycle. */
    for (int i = 1; i < l->npairs; i++)
        for (int j = i;
             j > 0 && (l->pair_lo[j] < l->pair_lo[j - 1] ||
                       (l->pair_lo[j] == l->pair_lo[j - 1] && l->pair_hi[j] < l->pair_hi[j - 1]));
             j--) {
            int t = l->pair_lo[j];
            l->pair_lo[j] = l->pair_lo[j - 1];
            l->pair_lo[j - 1] = t;
            t = l->pair_hi[j];
            l->pair_hi[j] = l->pair_hi[j - 1];
            l->pair_hi[j - 1] = t;
        }
    l->off_att = off;
    off += align64(sizeof(struct eai_att_shm) * (size_t)(l->npairs + 1));

    /* Ready mbox per worker: room for every actor that can ever be bound to
     * it, so a push can only fail on a corrupt arena. */
    for (int w = 0; w < d->nworkers; w++) {
        uint32_t cnt = 1;
        for (int a = 0; a < d->nactors; a++)
            if (d->actors[a].worker == w)
                cnt++;
        cnt += l->slot_count[eai_domain_of_worker(d, w)];
        l->ready_cap[w] = ea_mbox_capacity_for(cnt);
        if (l->ready_cap[w] == 0) {
            snprintf(err, errlen, "worker '%s': too many actors", d->workers[w].name);
            return EA_ERR_LIMIT;
        }
        l->off_ready[w] = off;
        off += ea_mbox_footprint(l->ready_cap[w]);
    }

    /* Channels crossing a domain boundary live in the arena. */
    for (int c = 0; c < d->nchannels; c++) {
        const eai_dep_channel_t *ch = &d->channels[c];
        if (eai_chan_layout(ch->nodes, ch->max, &l->chan[c]) != EA_OK) {
            snprintf(err, errlen, "channel '%s': sizes out of range", ch->name);
            return EA_ERR_LIMIT;
        }
        if (eai_domain_of_actor(d, ch->a) == eai_domain_of_actor(d, ch->b)) {
            l->off_chan[c] = SIZE_MAX;
            continue;
        }
        l->off_chan[c] = off;
        off += l->chan[c].size;
    }

    /* Untrusted stores: one region each, zero-filled like the whole
     * arena (the first opener formats it). Page-aligned, as a store
     * region is usually a mapping of its own. */
    for (int s = 0; s < d->nstores; s++) {
        l->off_store[s] = SIZE_MAX;
        if (d->stores[s].kind != EAI_STORE_UNTRUSTED)
            continue;
        off = (off + 4095u) & ~(size_t)4095u;
        if (d->stores[s].size > SIZE_MAX / 2 - off) {
            snprintf(err, errlen, "store '%s': too large for the arena", d->stores[s].name);
            return EA_ERR_LIMIT;
        }
        l->off_store[s] = off;
        off += (size_t)d->stores[s].size;
    }
    l->size = align64(off);
    return EA_OK;
}

/* The typed views of the arena at `mem`, from the private layout. */
static void set_views(struct eai_rt *rt, void *mem)
{
    const struct eai_layout *l = &rt->lay;
    rt->arena = mem;
    rt->hdr = mem;
    rt->encl = (struct eai_encl_shm *)(rt->arena + l->off_encl);
    rt->wk = (struct eai_wk_shm *)(rt->arena + l->off_wk);
    rt->rec = (struct eai_rec *)(rt->arena + l->off_rec);
    rt->names = (char(*)[EAI_NAME_MAX])(rt->arena + l->off_names);
    rt->cshm = (struct eai_chan_shm *)(rt->arena + l->off_chan_shm);
    rt->att = (struct eai_att_shm *)(rt->arena + l->off_att);
}

static int alloc_private(struct eai_rt *rt)
{
    rt->ready = calloc((size_t)rt->dep->nworkers + 1, sizeof *rt->ready);
    rt->actors = calloc(rt->lay.nactors, sizeof *rt->actors);
    rt->domains = calloc((size_t)rt->ndomains, sizeof *rt->domains);
    return rt->ready && rt->actors && rt->domains ? EA_OK : EA_ERR_NOMEM;
}

int eai_arena_attach(struct eai_rt *rt, int fd, char *err, size_t errlen)
{
    const eai_deploy_t *d = rt->dep;
    struct eai_layout *l = &rt->lay;
    void *mem = NULL;
    if (eai_shm_attach(fd, l->size, &mem) != EA_OK) {
        snprintf(err, errlen, "the public arena is not the %zu bytes the deployment lays out",
                 l->size);
        return EA_ERR_INVAL;
    }
    rt->arena_fd = fd;
    set_views(rt, mem);
    /* The header is the host's: a mismatch means another deployment (or a
     * file changed since the launcher read it). Only a refusal, never a
     * size taken from it. */
    if (rt->hdr->magic != EAI_ARENA_MAGIC || rt->hdr->size != l->size) {
        snprintf(err, errlen, "the public arena was laid out for another deployment");
        return EA_ERR_INVAL;
    }
    if (alloc_private(rt) != EA_OK) {
        snprintf(err, errlen, "out of memory");
        return EA_ERR_NOMEM;
    }
    for (int w = 0; w < d->nworkers; w++)
        if (ea_mbox_attach(&rt->ready[w], rt->arena + l->off_ready[w], l->ready_cap[w]) != EA_OK) {
            snprintf(err, errlen, "worker '%s': cannot attach ready queue", d->workers[w].name);
            return EA_ERR_INVAL;
        }
    return EA_OK;
}

int eai_arena_create(struct eai_rt *rt, char *err, size_t errlen)
{
    const eai_deploy_t *d = rt->dep;
    struct eai_layout *l = &rt->lay;
    void *mem = NULL;
    int rc = eai_shm_create("eactors-arena", l->size, &rt->arena_fd, &mem);
    if (rc != EA_OK) {
        snprintf(err, errlen, "cannot create public arena of %zu bytes", l->size);
        return rc;
    }
    set_views(rt, mem);
    rt->hdr->magic = EAI_ARENA_MAGIC;
    rt->hdr->size = l->size;
    for (int c = 0; c < d->nchannels; c++)
        atomic_store_explicit(&rt->cshm[c].aead, l->chan_aead[c], memory_order_relaxed);
    atomic_store_explicit(&rt->hdr->live, (uint32_t)d->nactors, memory_order_relaxed);
    for (int e = 0; e < d->nenclaves; e++)
        atomic_store_explicit(&rt->encl[e].death_syscall, -1, memory_order_relaxed);
    for (int a = 0; a < d->nactors; a++)
        atomic_store_explicit(&rt->rec[a].status, EAI_A_LIVE, memory_order_relaxed);

    if (alloc_private(rt) != EA_OK) {
        snprintf(err, errlen, "out of memory");
        return EA_ERR_NOMEM;
    }
    for (int w = 0; w < d->nworkers; w++)
        if (ea_mbox_init(&rt->ready[w], rt->arena + l->off_ready[w], l->ready_cap[w]) != EA_OK) {
            snprintf(err, errlen, "worker '%s': cannot format ready queue", d->workers[w].name);
            return EA_ERR_INVAL;
        }
    for (int c = 0; c < d->nchannels; c++) {
        if (l->off_chan[c] == SIZE_MAX)
            continue;
        const eai_dep_channel_t *ch = &d->channels[c];
        const struct eai_chan_layout *cl = &l->chan[c];
        uint8_t *base = rt->arena + l->off_chan[c];
        ea_pool_t p;
        ea_mbox_t m;
        if (ea_pool_init(&p, base + cl->off_pool, ch->nodes, cl->node_size) != EA_OK ||
            ea_mbox_init(&m, base + cl->off_mbox_a, cl->mbox_cap) != EA_OK ||
            ea_mbox_init(&m, base + cl->off_mbox_b, cl->mbox_cap) != EA_OK) {
            snprintf(err, errlen, "channel '%s': cannot format storage", ch->name);
            return EA_ERR_INVAL;
        }
    }
    return EA_OK;
}

void eai_rt_fini(struct eai_rt *rt)
{
    struct eai_layout *l = &rt->lay;
    if (rt->arena != NULL)
        eai_shm_destroy(rt->arena_fd, rt->arena, l->size);
    rt->arena = NULL;
    free(l->slot_base);
    free(l->slot_count);
    free(l->off_ready);
    free(l->ready_cap);
    free(l->off_chan);
    free(l->chan);
    free(l->chan_aead);
    free(l->pair_lo);
    free(l->pair_hi);
    free(l->off_store);
    free(rt->platform_fds);
    free(rt->ready);
    free(rt->actors);
    free(rt->domains);
    memset(rt, 0, sizeof *rt);
}
