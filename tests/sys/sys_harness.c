/*
 * The in-process system actor harness (sys_harness.h). It builds, by hand,
 * the little of the runtime the system actor reads: a deployment model
 * (enclaves, workers, the actors and the <sys> actor's grants), the
 * runtime record that maps actor ids to domains and to live actors, one
 * host domain whose stop latch the harness sets, a worker whose ready mbox
 * absorbs the io thread's wake-ups, and one plain private channel per
 * requester, laid out as the core lays out a channel (one pool, two mboxes).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dirent.h>

#include "core/rt.h"
#include "sys/sys.h"
#include "sys_harness.h"

struct sys_harness {
    unsigned n;
    struct eai_hdr hdr;
    struct eai_rt rt;
    struct eai_domain dom;
    struct eai_worker worker;
    struct eai_wk_shm wk;
    ea_mbox_t ready;
    void *ready_mem;
    eai_deploy_t dep;
    eai_dep_enclave_t enclaves[SYS_H_MAX];
    char enames[SYS_H_MAX][8];
    eai_dep_worker_t workers[SYS_H_MAX + 1];
    eai_dep_actor_t actors[SYS_H_MAX + 1];
    eai_dep_grant_t grants[SYS_H_MAX];
    struct ea_actor sys, req[SYS_H_MAX];
    struct ea_actor *_Atomic ptrs[SYS_H_MAX + 1];
    struct eai_rec rec[SYS_H_MAX + 1];
    struct ea_conn *sys_conns[SYS_H_MAX];
    struct ea_conn sc[SYS_H_MAX], rc[SYS_H_MAX]; /* the sys end, the requester end */
    void *chan_mem[SYS_H_MAX];
    void *state;
    bool started, done;
};

struct sys_harness *sys_h_new(unsigned n, uint32_t nodes, uint32_t max)
{
    if (n == 0 || n > SYS_H_MAX)
        return NULL;
    struct sys_harness *h = aligned_alloc(64, (sizeof *h + 63) / 64 * 64);
    if (h == NULL)
        return NULL;
    memset(h, 0, sizeof *h);
    h->n = n;
    /* The model: actor 0 is the <sys> on host worker 0; requester i is
     * actor 1 + i on worker 1 + i in enclave i. */
    h->dep.enclaves = h->enclaves;
    h->dep.nenclaves = (int)n;
    h->dep.workers = h->workers;
    h->dep.nworkers = (int)n + 1;
    h->dep.actors = h->actors;
    h->dep.nactors = (int)n + 1;
    h->workers[0].enclave = EAI_HOST;
    h->actors[0].name = "io";
    h->actors[0].type = "sys";
    h->actors[0].builtin = EAI_BUILTIN_SYS;
    h->actors[0].grants = h->grants;
    h->actors[0].ngrants = (int)n;
    for (unsigned i = 0; i < n; i++) {
        snprintf(h->enames[i], sizeof h->enames[i], "r%u", i);
        h->enclaves[i].name = h->enames[i];
        h->workers[1 + i].enclave = (int)i;
        h->actors[1 + i].name = h->enames[i];
        h->actors[1 + i].worker = (int)i + 1;
        h->grants[i].enclave = (int)i;
    }
    /* The runtime record. */
    h->rt.dep = &h->dep;
    h->rt.hdr = &h->hdr;
    h->rt.lay.nactors = h->rt.lay.ndep_actors = n + 1;
    h->rt.actors = h->ptrs;
    h->rt.ndomains = (int)n + 1;
    h->dom.rt = &h->rt;
    h->dom.enclave = EAI_HOST;
    h->dom.name = "host";
    uint32_t cap = ea_mbox_capacity_for(4);
    h->ready_mem = aligned_alloc(64, ea_mbox_footprint(cap));
    if (h->ready_mem == NULL || ea_mbox_init(&h->ready, h->ready_mem, cap) != EA_OK)
        goto fail;
    h->worker.rt = &h->rt;
    h->worker.dom = &h->dom;
    h->worker.shm = &h->wk;
    h->worker.ready = &h->ready;
    /* The actors. */
    h->sys.id = 0;
    h->sys.dom = &h->dom;
    h->sys.worker = &h->worker;
    h->sys.name = "io";
    h->sys.rec = &h->rec[0];
    h->sys.conns = h->sys_conns;
    h->sys.nconns = n;
    h->sys.type = eai_sys_type();
    h->ptrs[0] = &h->sys;
    for (unsigned i = 0; i < n; i++) {
        struct ea_actor *a = &h->req[i];
        a->id = 1 + i;
        a->dom = &h->dom;
        a->worker = &h->worker;
        a->name = h->enames[i];
        a->rec = &h->rec[1 + i];
        h->ptrs[1 + i] = a;
    }
    /* The channels: pool and two mboxes, as tests/common/conn_pair.c. */
    uint32_t ns = ea_node_size_for(max), mcap = ea_mbox_capacity_for(nodes);
    size_t pb = ea_pool_footprint(nodes, ns), mb = ea_mbox_footprint(mcap);
    for (unsigned i = 0; i < n; i++) {
        uint8_t *mem = aligned_alloc(64, (pb + 2 * mb + 63) / 64 * 64);
        h->chan_mem[i] = mem;
        struct ea_conn *s = &h->sc[i], *r = &h->rc[i];
        if (mem == NULL || ea_pool_init(&r->pool, mem, nodes, ns) != EA_OK ||
            ea_mbox_init(&r->in, mem + pb, mcap) != EA_OK ||
            ea_mbox_init(&s->in, mem + pb + mb, mcap) != EA_OK)
            goto fail;
        s->pool = r->pool;
        r->out = s->in;
        s->out = r->in;
        r->self = &h->req[i];
        s->self = &h->sys;
        r->peer = 0;
        s->peer = 1 + i;
        r->peer_rec = &h->rec[0];
        s->peer_rec = &h->rec[1 + i];
        r->peer_wk = s->peer_wk = &h->wk;
        r->peer_ready = s->peer_ready = &h->ready;
        r->max = s->max = max;
        r->name = s->name = "sys";
        r->peer_name = "io";
        s->peer_name = h->enames[i];
        /* Each end tracks the nodes it holds (cargo.c), as the runtime's. */
        if (eai_conn_held_init(s) != EA_OK || eai_conn_held_init(r) != EA_OK)
            goto fail;
        h->sys_conns[i] = s;
    }
    h->state = calloc(1, eai_sys_type()->state_size);
    if (h->state == NULL)
        goto fail;
    h->sys.state = h->state;
    return h;
fail:
    for (unsigned i = 0; i < n; i++) {
        eai_conn_held_fini(&h->sc[i]);
        eai_conn_held_fini(&h->rc[i]);
        free(h->chan_mem[i]);
    }
    free(h->ready_mem);
    free(h);
    return NULL;
}

eai_dep_grant_t *sys_h_grant(struct sys_harness *h, unsigned i)
{
    return i < h->n ? &h->grants[i] : NULL;
}

int sys_h_start(struct sys_harness *h)
{
    int rc = h->sys.type->ctor(&h->sys, h->state);
    h->started = rc == EA_OK;
    return rc;
}

ea_conn_t *sys_h_conn(struct sys_harness *h, unsigned i)
{
    return i < h->n ? &h->rc[i] : NULL;
}

ea_conn_t *sys_h_sys_conn(struct sys_harness *h, unsigned i)
{
    return i < h->n ? &h->sc[i] : NULL;
}

int sys_h_step(struct sys_harness *h)
{
    /* The worker would clear `queued` before the body; so do we, so that
     * wake-ups keep working (their mbox pushes are drained here). */
    atomic_store(&h->rec[0].queued, 0);
    uint32_t id;
    while (ea_mbox_try_pop(&h->ready, &id) == EA_OK)
        ;
    if (h->done)
        return EA_DONE;
    int rc = h->sys.type->body(&h->sys, h->state);
    h->done = rc == EA_DONE || rc < 0;
    return rc;
}

void sys_h_end(struct sys_harness *h, unsigned i)
{
    if (i < h->n)
        atomic_store(&h->req[i].status, EAI_S_DONE);
}

int sys_h_send(struct sys_harness *h, unsigned i, ea_sys_msg_t m, const void *payload, uint32_t len)
{
    ea_cargo_t cg;
    int rc = ea_cargo_alloc(&h->rc[i], sizeof m + len, &cg);
    if (rc != EA_OK)
        return rc;
    m.magic = EA_SYS_MAGIC;
    m.len = len;
    memcpy(cg.data, &m, sizeof m);
    if (len > 0)
        memcpy((uint8_t *)cg.data + sizeof m, payload, len);
    rc = ea_cargo_send(&cg);
    if (rc != EA_OK)
        ea_cargo_release(&cg);
    return rc;
}

bool sys_h_recv(struct sys_harness *h, unsigned i, ea_sys_msg_t *m, char *buf, size_t cap,
                int steps)
{
    for (int k = 0; k <= steps; k++) {
        ea_cargo_t cg;
        if (ea_cargo_recv(&h->rc[i], &cg) == EA_OK) {
            memset(m, 0, sizeof *m);
            memcpy(m, cg.data, cg.len < sizeof *m ? cg.len : sizeof *m);
            size_t n = cg.len > sizeof *m ? cg.len - sizeof *m : 0;
            if (buf != NULL && cap > 0) {
                size_t c = n < cap - 1 ? n : cap - 1;
                memcpy(buf, (uint8_t *)cg.data + sizeof *m, c);
                buf[c] = '\0';
            }
            ea_cargo_release(&cg);
            return true;
        }
        if (k == steps)
            break;
        if (sys_h_step(h) == EA_IDLE && k > 0) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return false;
}

int sys_h_free(struct sys_harness *h)
{
    int rc = EA_DONE;
    if (h->started && !h->done) {
        atomic_store(&h->dom.stopping, 1);
        rc = sys_h_step(h);
    }
    for (unsigned i = 0; i < h->n; i++) {
        ea_cargo_t cg;
        while (ea_cargo_recv(&h->rc[i], &cg) == EA_OK)
            ea_cargo_release(&cg);
        eai_conn_held_fini(&h->sc[i]);
        eai_conn_held_fini(&h->rc[i]);
        free(h->chan_mem[i]);
    }
    free(h->state);
    free(h->ready_mem);
    free(h);
    return rc;
}

int sys_h_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1;
}
