/*
 * Domains: the host or one enclave, as run inside one process.
 *
 * Design notes. A domain is started in four steps whose order is the security
 * argument of the proc backend: (1) the image is copied into a sealed memfd
 * and loaded from exactly those bytes; (2) actors, states and connectors are
 * built in private memory; (3) the workers start, pinned, and wait at the
 * domain's gate; (4) in an enclave process the seccomp allow-list is
 * installed on all threads, and only then is the gate opened, so no actor
 * code (constructor or body) ever runs unconfined.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt.h"

static size_t round16(size_t n)
{
    return (n + 15u) & ~(size_t)15u;
}

static void *zalloc(size_t size)
{
    size_t n = (size + 63u) & ~(size_t)63u;
    void *p = aligned_alloc(64, n == 0 ? 64 : n);
    if (p != NULL)
        memset(p, 0, n == 0 ? 64 : n);
    return p;
}

static int find_type(struct eai_domain *dom, const char *type, const ea_actor_type_t **out)
{
    char sym[128];
    if (dom->image == NULL || snprintf(sym, sizeof sym, "ea_type_%s", type) >= (int)sizeof sym)
        return EA_ERR_NOTFOUND;
    const ea_actor_type_t *t = eai_dl_sym(dom->image, sym);
    if (t == NULL)
        return EA_ERR_NOTFOUND;
    if (t->abi != EA_TYPE_ABI || t->body == NULL)
        return EA_ERR_INVAL;
    *out = t;
    return EA_OK;
}

static void conn_link(struct eai_rt *rt, ea_conn_t *c, struct ea_actor *self, uint32_t peer,
                      int peer_worker, const char *name, const char *peer_name, uint32_t max)
{
    c->self = self;
    c->peer = peer;
    c->peer_rec = &rt->rec[peer];
    c->peer_wk = &rt->wk[peer_worker];
    c->peer_ready = &rt->ready[peer_worker];
    c->name = name;
    c->peer_name = peer_name;
    c->max = max;
}

/* Private channel storage (eai_chan_layout) in one aligned block. */
static int private_channel(uint32_t nodes, uint32_t max, ea_conn_t *ca, ea_conn_t *cb)
{
    struct eai_chan_layout cl;
    if (eai_chan_layout(nodes, max, &cl) != EA_OK)
        return EA_ERR_INVAL;
    uint8_t *mem = zalloc(cl.size);
    if (mem == NULL)
        return EA_ERR_NOMEM;
    if (ea_pool_init(&ca->pool, mem + cl.off_pool, nodes, cl.node_size) != EA_OK ||
        ea_mbox_init(&ca->in, mem + cl.off_mbox_a, cl.mbox_cap) != EA_OK ||
        ea_mbox_init(&cb->in, mem + cl.off_mbox_b, cl.mbox_cap) != EA_OK) {
        free(mem);
        return EA_ERR_INVAL;
    }
    cb->pool = ca->pool;
    ca->out = cb->in;
    cb->out = ca->in;
    ca->storage = mem;
    ca->storage_size = cl.size;
    return EA_OK;
}

/* Attaches end a or b to a channel in the arena, at the offsets of the
 * layout this process holds privately (never read back from the arena). */
static int public_channel(struct eai_rt *rt, int c, bool end_a, ea_conn_t *conn)
{
    const eai_dep_channel_t *ch = &rt->dep->channels[c];
    const struct eai_chan_layout *cl = &rt->lay.chan[c];
    uint8_t *base = rt->arena + rt->lay.off_chan[c];
    uint8_t *ma = base + cl->off_mbox_a, *mb = base + cl->off_mbox_b;
    if (ea_pool_attach(&conn->pool, base + cl->off_pool, ch->nodes, cl->node_size) != EA_OK ||
        ea_mbox_attach(&conn->in, end_a ? ma : mb, cl->mbox_cap) != EA_OK ||
        ea_mbox_attach(&conn->out, end_a ? mb : ma, cl->mbox_cap) != EA_OK)
        return EA_ERR_INVAL;
    conn->pub = true;
    return EA_OK;
}

static struct eai_worker *domain_worker(struct eai_domain *dom, int index)
{
    for (int i = 0; i < dom->nworkers; i++)
        if (dom->workers[i].index == index)
            return &dom->workers[i];
    return NULL;
}

static const char *const *copy_params(const eai_dep_param_t *p, int n)
{
    const char **out = calloc((size_t)n * 2 + 1, sizeof *out);
    if (out == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        out[2 * i] = p[i].key;
        out[2 * i + 1] = p[i].value;
    }
    return out;
}

static void actor_free(struct ea_actor *a)
{
    if (a == NULL)
        return;
    for (uint32_t i = 0; i < a->nconns; i++) {
        eai_conn_free_aead(a->conns[i]);
        eai_conn_held_fini(a->conns[i]);
        free(a->conns[i]->storage);
        if (a->conns[i]->owns_name)
            free((char *)a->conns[i]->name);
        free(a->conns[i]);
    }
    if (a->conns_heap)
        free(a->conns);
    if (a->state_heap)
        free(a->state);
    if (a->spawned) {
        free((char *)a->name);
        if (a->params != NULL)
            for (const char *const *p = a->params; *p != NULL; p++)
                free((char *)*p);
    }
    free((void *)a->params);
    free(a);
}

static int build_actors(struct eai_rt *rt, struct eai_domain *dom, int d, char *err, size_t errlen)
{
    const eai_deploy_t *dep = rt->dep;
    /* Connectors per actor, in one pass over the channels. */
    uint32_t *nconn = calloc((size_t)dep->nactors + 1, sizeof *nconn);
    if (nconn == NULL)
        goto nomem;
    for (int c = 0; c < dep->nchannels; c++) {
        nconn[dep->channels[c].a]++;
        nconn[dep->channels[c].b]++;
    }
    for (int i = 0; i < dep->nactors; i++) {
        if (eai_domain_of_actor(dep, i) != d)
            continue;
        const eai_dep_actor_t *da = &dep->actors[i];
        const ea_actor_type_t *type;
        int rc = EA_OK;
        if (da->builtin != EAI_BUILTIN_NONE) {
            type = rt->builtins[da->builtin];
            if (type == NULL)
                rc = EA_ERR_NOTFOUND;
        } else
            rc = find_type(dom, da->type, &type);
        if (rc != EA_OK) {
            snprintf(err, errlen, "actor '%s': type '%s' %s", da->name, da->type,
                     rc == EA_ERR_NOTFOUND ? "is not in the image" : "has a bad descriptor");
            free(nconn);
            return rc;
        }
        uint32_t n = nconn[i];
        /* One block per actor: record, connector table, state. Idle actors
         * are numerous; each allocation costs a header. */
        size_t head = round16(sizeof(struct ea_actor));
        size_t table = round16(n * sizeof(struct ea_conn *));
        struct ea_actor *a = calloc(1, head + table + round16(type->state_size));
        if (a == NULL)
            goto nomem;
        rt->actors[i] = a; /* published to workers by the gate (release) */
        a->id = (uint32_t)i;
        a->dom = dom;
        a->type = type;
        a->name = da->name;
        a->worker = domain_worker(dom, da->worker);
        a->rec = &rt->rec[i];
        a->conns = (struct ea_conn **)(void *)((uint8_t *)a + head);
        a->state = (uint8_t *)a + head + table;
        if (da->nparams > 0 && (a->params = copy_params(da->params, da->nparams)) == NULL)
            goto nomem;
    }
    free(nconn);
    nconn = NULL;
    for (int c = 0; c < dep->nchannels; c++) {
        const eai_dep_channel_t *ch = &dep->channels[c];
        struct ea_actor *aa = eai_domain_of_actor(dep, ch->a) == d ? rt->actors[ch->a] : NULL;
        struct ea_actor *ab = eai_domain_of_actor(dep, ch->b) == d ? rt->actors[ch->b] : NULL;
        if (aa == NULL && ab == NULL)
            continue;
        ea_conn_t *ca = aa ? calloc(1, sizeof *ca) : NULL;
        ea_conn_t *cb = ab ? calloc(1, sizeof *cb) : NULL;
        if ((aa && !ca) || (ab && !cb)) {
            free(ca);
            free(cb);
            goto nomem;
        }
        if (aa)
            aa->conns[aa->nconns++] = ca;
        if (ab)
            ab->conns[ab->nconns++] = cb;
        int rc = EA_OK;
        if (rt->lay.off_chan[c] == SIZE_MAX) {
            rc = private_channel(ch->nodes, ch->max, ca, cb);
        } else {
            if (ca)
                rc = public_channel(rt, c, true, ca);
            if (cb && rc == EA_OK)
                rc = public_channel(rt, c, false, cb);
        }
        if (rc == EA_OK && ca)
            rc = eai_conn_held_init(ca);
        if (rc == EA_OK && cb)
            rc = eai_conn_held_init(cb);
        if (rc != EA_OK) {
            snprintf(err, errlen, "channel '%s': cannot set up storage: %s", ch->name,
                     ea_strerror(rc));
            return rc;
        }
        if (ca)
            conn_link(rt, ca, aa, (uint32_t)ch->b, dep->actors[ch->b].worker, ch->name,
                      dep->actors[ch->b].name, ch->max);
        if (cb)
            conn_link(rt, cb, ab, (uint32_t)ch->a, dep->actors[ch->a].worker, ch->name,
                      dep->actors[ch->a].name, ch->max);
        /* Every deployment channel has a record in the arena (summary,
         * wake-on-free-node); spawned channels do not. */
        if (ca) {
            ca->cshm = &rt->cshm[c];
            ca->end = 0;
        }
        if (cb) {
            cb->cshm = &rt->cshm[c];
            cb->end = 1;
        }
        if (rt->lay.chan_aead[c]) {
            if (ca && (rc = eai_conn_setup_aead(rt, ca, c, 0)) != EA_OK)
                goto nomem;
            if (cb && (rc = eai_conn_setup_aead(rt, cb, c, 1)) != EA_OK)
                goto nomem;
        }
    }
    return EA_OK;
nomem:
    free(nconn);
    snprintf(err, errlen, "out of memory");
    return EA_ERR_NOMEM;
}

/* Accounts the private memory of the domain's deployment actors and
 * channels (allocator overhead not included). */
static void account(struct eai_rt *rt, int d)
{
    uint64_t actors = 0, chans = 0;
    for (uint32_t id = 0; id < rt->lay.ndep_actors; id++) {
        struct ea_actor *a = rt->actors[id];
        if (a == NULL || eai_domain_of_actor(rt->dep, (int)id) != d)
            continue;
        const eai_dep_actor_t *da = &rt->dep->actors[id];
        actors += round16(sizeof *a) + round16(a->nconns * sizeof *a->conns) +
                  round16(a->type->state_size) +
                  (da->nparams ? ((size_t)da->nparams * 2 + 1) * sizeof(char *) : 0);
        for (uint32_t i = 0; i < a->nconns; i++)
            chans += sizeof(struct ea_conn) + a->conns[i]->storage_size;
    }
    struct eai_encl_shm *shm = eai_domain_shm(rt, d);
    atomic_store_explicit(&shm->mem_actors, actors, memory_order_relaxed);
    atomic_store_explicit(&shm->mem_chans, chans, memory_order_relaxed);
}

/* Attests the domain's peers, then opens the gate: the last step of a start,
 * inline or on the starter thread. */
static int finish_start(struct eai_domain *dom, char *err, size_t errlen)
{
    int rc = eai_domain_attest(dom, err, errlen);
    if (rc != EA_OK)
        return rc;
    /* Publishes the actor table, states and keys to the workers (acquire in
     * eai_worker_main). */
    atomic_store_explicit(&dom->gate, 1, memory_order_release);
    eai_futex_wake(&dom->gate, dom->nworkers);
    return EA_OK;
}

static void *starter_main(void *arg)
{
    struct eai_domain *dom = arg;
    dom->start_rc = finish_start(dom, dom->start_err, sizeof dom->start_err);
    if (dom->start_rc != EA_OK) {
        struct eai_encl_shm *shm = eai_domain_shm(dom->rt, dom->enclave + 1);
        snprintf(shm->msg, sizeof shm->msg, "%.191s", dom->start_err);
        atomic_store_explicit(&shm->ready, -1, memory_order_release);
        eai_request_stop(dom->rt);
    }
    return NULL;
}

int eai_domain_start(struct eai_rt *rt, int d, bool confine, bool async, char *err, size_t errlen)
{
    const eai_deploy_t *dep = rt->dep;
    struct eai_domain *dom = calloc(1, sizeof *dom);
    if (dom == NULL) {
        snprintf(err, errlen, "out of memory");
        return EA_ERR_NOMEM;
    }
    rt->domains[d] = dom;
    dom->rt = rt;
    dom->enclave = d == 0 ? EAI_HOST : d - 1;
    dom->name = d == 0 ? "host" : dep->enclaves[d - 1].name;
    dom->image_fd = -1;

    const char *image = d == 0 ? dep->host_image_path : dep->enclaves[d - 1].image_path;
    if (d > 0) {
        /* Enclave: EINIT by the platform on the sealed bytes, then load. */
        int rc = eai_domain_load_enclave_image(dom, image, confine, err, errlen);
        if (rc == EA_OK)
            rc = eai_domain_check_channels(dom, err, errlen);
        if (rc != EA_OK)
            return rc;
    } else if (image != NULL) {
        size_t size;
        char why[256];
        int rc = eai_memfd_from_file(image, &dom->image_fd, &size, why, sizeof why);
        if (rc == EA_OK) {
            dom->image = eai_dl_open_fd(dom->image_fd, why, sizeof why);
            rc = dom->image ? EA_OK : EA_ERR_SYS;
        }
        if (rc != EA_OK) {
            snprintf(err, errlen, "cannot load image '%s': %s", image, why);
            return rc;
        }
    }

    for (int w = 0; w < dep->nworkers; w++)
        if (eai_domain_of_worker(dep, w) == d)
            dom->nworkers++;
    dom->workers = calloc((size_t)dom->nworkers + 1, sizeof *dom->workers);
    if (dom->workers == NULL) {
        snprintf(err, errlen, "out of memory");
        return EA_ERR_NOMEM;
    }
    for (int w = 0, i = 0; w < dep->nworkers; w++) {
        if (eai_domain_of_worker(dep, w) != d)
            continue;
        struct eai_worker *wk = &dom->workers[i++];
        wk->rt = rt;
        wk->dom = dom;
        wk->index = w;
        wk->shm = &rt->wk[w];
        wk->ready = &rt->ready[w];
        wk->idle = dep->workers[w].idle;
        wk->spin = dep->workers[w].spin;
    }

    int rc = build_actors(rt, dom, d, err, errlen);
    if (rc != EA_OK)
        return rc;
    account(rt, d);

    for (int i = 0; i < dom->nworkers; i++) {
        struct eai_worker *wk = &dom->workers[i];
        const eai_dep_worker_t *dw = &dep->workers[wk->index];
        char why[160];
        rc = eai_thread_start(&wk->thread, dw->cpus, dw->ncpus, eai_worker_main, wk, why,
                              sizeof why);
        if (rc != EA_OK) {
            snprintf(err, errlen, "worker '%s': %s", dw->name, why);
            return rc;
        }
        wk->started = true;
    }
    /* Every worker has set itself up (alternate signal stack) before the
     * filter goes on. */
    for (uint32_t n;
         (n = atomic_load_explicit(&dom->arrived, memory_order_acquire)) < (uint32_t)dom->nworkers;)
        eai_futex_wait(&dom->arrived, n, 0);
    if (confine) {
        rc = eai_seccomp_confine(d > 0 && rt->platform_fds ? rt->platform_fds[d - 1] : -1, err,
                                 errlen);
        if (rc != EA_OK)
            return rc;
    }
    if (async && d > 0 && rt->lay.npairs > 0) {
        char why[160];
        rc = eai_thread_start(&dom->starter, NULL, 0, starter_main, dom, why, sizeof why);
        if (rc != EA_OK) {
            snprintf(err, errlen, "%s", why);
            return rc;
        }
        dom->starter_running = true;
        return EA_OK;
    }
    return finish_start(dom, err, errlen);
}

void eai_domain_wait(struct eai_rt *rt, int d)
{
    struct eai_domain *dom = rt->domains[d];
    if (dom == NULL)
        return;
    if (dom->starter_running) {
        eai_thread_join(&dom->starter);
        dom->starter_running = false;
    }
    /* A domain that failed to start may have workers waiting at the gate. */
    if (atomic_load_explicit(&dom->gate, memory_order_acquire) == 0) {
        atomic_store_explicit(&rt->hdr->shutdown, 1, memory_order_seq_cst);
        atomic_store_explicit(&dom->gate, 1, memory_order_release);
        eai_futex_wake(&dom->gate, dom->nworkers);
    }
    for (int i = 0; i < dom->nworkers; i++)
        if (dom->workers[i].started) {
            eai_thread_join(&dom->workers[i].thread);
            dom->workers[i].started = false;
        }
}

int eai_domain_wait_until(struct eai_rt *rt, int d, uint64_t deadline_ns)
{
    struct eai_domain *dom = rt->domains[d];
    int rc = EA_OK;
    for (int i = 0; dom != NULL && i < dom->nworkers; i++)
        if (dom->workers[i].started) {
            if (eai_thread_join_until(&dom->workers[i].thread, deadline_ns) == EA_OK)
                dom->workers[i].started = false;
            else
                rc = EA_ERR_BUSY;
        }
    return rc;
}

void eai_domain_join(struct eai_rt *rt, int d)
{
    struct eai_domain *dom = rt->domains[d];
    if (dom == NULL)
        return;
    eai_domain_wait(rt, d);
    for (uint32_t id = 0; id < rt->lay.nactors; id++) {
        struct ea_actor *a = atomic_load_explicit(&rt->actors[id], memory_order_acquire);
        if (a != NULL && a->dom == dom) {
            actor_free(a);
            atomic_store_explicit(&rt->actors[id], NULL, memory_order_relaxed);
        }
    }
    free(dom->workers);
    eai_dl_close(dom->image);
    eai_domain_free_secure(dom);
    if (dom->image_fd >= 0)
        eai_shm_destroy(dom->image_fd, NULL, 0);
    free(dom);
    rt->domains[d] = NULL;
}

static int set_spawn_name(struct ea_actor *a, const ea_spawn_opts_t *o, const char *type,
                          uint32_t slot)
{
    char buf[EAI_NAME_MAX];
    if (o->name != NULL)
        snprintf(buf, sizeof buf, "%s", o->name);
    else
        snprintf(buf, sizeof buf, "%s.%s#%u", eai_current ? eai_current->name : "?", type, slot);
    a->name = strdup(buf);
    return a->name ? EA_OK : EA_ERR_NOMEM;
}

int ea_spawn(ea_actor_t *self, const char *type, const ea_spawn_opts_t *opts, ea_conn_t **conn)
{
    static const ea_spawn_opts_t defaults;
    if (self == NULL || type == NULL || conn == NULL)
        return EA_ERR_INVAL;
    const ea_spawn_opts_t *o = opts ? opts : &defaults;
    struct eai_domain *dom = self->dom;
    struct eai_rt *rt = dom->rt;
    int d = dom->enclave == EAI_HOST ? 0 : dom->enclave + 1;
    if (ea_stopping(self))
        return EA_ERR_STOPPED;

    const ea_actor_type_t *t;
    if (find_type(dom, type, &t) != EA_OK)
        return EA_ERR_NOTFOUND;
    struct eai_worker *w = self->worker;
    if (o->worker != NULL) {
        w = NULL;
        for (int i = 0; i < dom->nworkers; i++)
            if (strcmp(rt->dep->workers[dom->workers[i].index].name, o->worker) == 0)
                w = &dom->workers[i];
        if (w == NULL)
            return EA_ERR_NOTFOUND;
    }
    uint32_t nodes = o->nodes ? o->nodes : 16;
    uint32_t max = o->max ? o->max : 4096;
    if (nodes > (1u << 20) || max > (64u << 20))
        return EA_ERR_INVAL;
    uint32_t slot = atomic_fetch_add_explicit(&dom->spawn_next, 1, memory_order_relaxed);
    if (slot >= rt->lay.slot_count[d])
        return EA_ERR_LIMIT;
    uint32_t id = rt->lay.slot_base[d] + slot;

    struct ea_conn **grown = self->conns_heap
                                 ? realloc(self->conns, (self->nconns + 1) * sizeof *grown)
                                 : malloc((self->nconns + 1) * sizeof *grown);
    if (grown == NULL)
        return EA_ERR_NOMEM;
    if (!self->conns_heap)
        memcpy(grown, self->conns, self->nconns * sizeof *grown);
    self->conns = grown;
    self->conns_heap = true;

    int rc = EA_ERR_NOMEM;
    struct ea_actor *a = calloc(1, sizeof *a);
    ea_conn_t *mine = calloc(1, sizeof *mine);
    ea_conn_t *theirs = calloc(1, sizeof *theirs);
    if (a == NULL || mine == NULL || theirs == NULL)
        goto fail;
    a->id = id;
    a->spawned = true;
    a->dom = dom;
    a->worker = w;
    a->type = t;
    a->rec = &rt->rec[id];
    a->conns = calloc(2, sizeof *a->conns);
    a->state = zalloc(t->state_size);
    a->conns_heap = a->state_heap = true;
    if (a->conns == NULL || a->state == NULL || set_spawn_name(a, o, type, slot) != EA_OK)
        goto fail;
    if (o->params != NULL) {
        size_t n = 0;
        while (o->params[n] != NULL && o->params[n + 1] != NULL)
            n += 2;
        const char **p = calloc(n + 1, sizeof *p);
        if (p == NULL)
            goto fail;
        a->params = p;
        for (size_t i = 0; i < n; i++)
            if ((p[i] = strdup(o->params[i])) == NULL)
                goto fail;
    }
    rc = private_channel(nodes, max, mine, theirs);
    if (rc == EA_OK && (rc = eai_conn_held_init(mine)) == EA_OK)
        rc = eai_conn_held_init(theirs);
    if (rc != EA_OK)
        goto fail;
    const char *chname = o->channel ? o->channel : "parent";
    /* The channel name is owned by the spawned actor's end. */
    char *owned = strdup(chname);
    if (owned == NULL) {
        rc = EA_ERR_NOMEM;
        goto fail;
    }
    theirs->storage = mine->storage, theirs->storage_size = mine->storage_size;
    mine->storage = NULL;
    conn_link(rt, mine, self, id, w->index, owned, a->name, max);
    conn_link(rt, theirs, a, self->id, self->worker->index, owned, self->name, max);
    theirs->owns_name = true;
    a->conns[a->nconns++] = theirs;
    self->conns[self->nconns++] = mine;
    snprintf(rt->names[id - rt->lay.ndep_actors], EAI_NAME_MAX, "%s", a->name);
    atomic_store_explicit(&a->rec->status, EAI_A_LIVE, memory_order_relaxed);
    atomic_fetch_add_explicit(&rt->hdr->live, 1, memory_order_relaxed);
    /* Publish the actor, then queue it on its worker. */
    atomic_store_explicit(&rt->actors[id], a, memory_order_release);
    eai_wake(a->rec, w->ready, w->shm, id);
    *conn = mine;
    return EA_OK;
fail:
    if (a != NULL) {
        a->spawned = true;
        actor_free(a);
    }
    if (mine != NULL) {
        free(mine->storage);
        eai_conn_held_fini(mine);
    }
    if (theirs != NULL)
        eai_conn_held_fini(theirs);
    free(mine);
    free(theirs);
    return rc;
}
