#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_pair.h"

int ea_test_pair_build(struct ea_test_pair *p, uint32_t nodes, uint32_t max, const char *name)
{
    memset(p, 0, sizeof *p);
    p->rt.hdr = &p->hdr;
    p->dom.rt = &p->rt;
    p->dom.name = "test";
    p->a.dom = p->b.dom = &p->dom;
    p->a.id = 0;
    p->b.id = 1;
    p->a.rec = &p->rec[0];
    p->b.rec = &p->rec[1];
    p->a.name = "a";
    p->b.name = "b";

    uint32_t cap = ea_mbox_capacity_for(4);
    int rc = EA_ERR_NOMEM;
    p->ready_mem = aligned_alloc(64, ea_mbox_footprint(cap));
    if (p->ready_mem == NULL)
        goto fail;
    rc = EA_ERR_INVAL;
    if (ea_mbox_init(&p->ready, p->ready_mem, cap) != EA_OK)
        goto fail;

    uint32_t ns = ea_node_size_for(max);
    uint32_t mcap = ea_mbox_capacity_for(nodes);
    size_t pb = ea_pool_footprint(nodes, ns), mb = ea_mbox_footprint(mcap);
    if (pb == 0 || mb == 0)
        goto fail;
    uint8_t *mem = aligned_alloc(64, pb + 2 * mb);
    if (mem == NULL) {
        rc = EA_ERR_NOMEM;
        goto fail;
    }
    p->chan_mem = mem;
    p->chan_size = pb + 2 * mb;
    if (ea_pool_init(&p->ca.pool, mem, nodes, ns) != EA_OK ||
        ea_mbox_init(&p->ca.in, mem + pb, mcap) != EA_OK ||
        ea_mbox_init(&p->cb.in, mem + pb + mb, mcap) != EA_OK)
        goto fail;
    p->cb.pool = p->ca.pool;
    p->ca.out = p->cb.in;
    p->cb.out = p->ca.in;
    p->ca.self = &p->a;
    p->cb.self = &p->b;
    p->ca.peer = 1;
    p->cb.peer = 0;
    p->ca.peer_rec = &p->rec[1];
    p->cb.peer_rec = &p->rec[0];
    p->ca.peer_wk = p->cb.peer_wk = &p->wk;
    p->ca.peer_ready = p->cb.peer_ready = &p->ready;
    p->ca.max = p->cb.max = max;
    p->ca.name = p->cb.name = name;
    rc = EA_ERR_NOMEM;
    if (eai_conn_held_init(&p->ca) != EA_OK || eai_conn_held_init(&p->cb) != EA_OK)
        goto fail;
    return EA_OK;
fail:
    ea_test_pair_fini(p);
    return rc;
}

void ea_test_pair_init(struct ea_test_pair *p, uint32_t nodes, uint32_t max, const char *name)
{
    int rc = ea_test_pair_build(p, nodes, max, name);
    if (rc != EA_OK) {
        fprintf(stderr, "ea_test_pair_init: %s\n", ea_strerror(rc));
        abort();
    }
}

int ea_test_pair_record(struct ea_test_pair *p)
{
    p->cshm = aligned_alloc(64, sizeof *p->cshm);
    if (p->cshm == NULL)
        return EA_ERR_NOMEM;
    memset(p->cshm, 0, sizeof *p->cshm);
    p->ca.cshm = p->cb.cshm = p->cshm;
    p->ca.end = 0;
    p->cb.end = 1;
    p->ca.peer_name = "b";
    p->cb.peer_name = "a";
    return EA_OK;
}

/* End c of an AEAD channel: direction `end` is the one it sends in. */
static int aead_end(struct ea_conn *c, int end)
{
    static const uint8_t keys[2][16] = {{"test key a -> b"}, {"test key b -> a"}};
    c->aead = true;
    c->chan = 0;
    c->dir_tx = (uint8_t)end;
    c->slot_size = (c->max + 63u) & ~63u;
    if (c->slot_size == 0)
        c->slot_size = 64;
    c->plain = aligned_alloc(64, (size_t)c->pool.count * c->slot_size);
    if (c->plain == NULL)
        return EA_ERR_NOMEM;
    memset(c->plain, 0, (size_t)c->pool.count * c->slot_size);
    if (eai_aead_init(&c->tx, keys[end], 16) != EA_OK ||
        eai_aead_init(&c->rx, keys[end ^ 1], 16) != EA_OK)
        return EA_ERR_CRYPTO;
    return EA_OK;
}

int ea_test_pair_aead(struct ea_test_pair *p)
{
    if (p->cshm == NULL)
        return EA_ERR_INVAL;
    atomic_store(&p->cshm->aead, 1);
    int rc = aead_end(&p->ca, 0);
    return rc != EA_OK ? rc : aead_end(&p->cb, 1);
}

static void conn_fini(struct ea_conn *c)
{
    eai_conn_held_fini(c);
    if (c->aead) {
        eai_aead_fini(&c->tx);
        eai_aead_fini(&c->rx);
        free(c->plain);
        c->plain = NULL;
        c->aead = false;
    }
}

void ea_test_pair_fini(struct ea_test_pair *p)
{
    conn_fini(&p->ca);
    conn_fini(&p->cb);
    free(p->ready_mem);
    free(p->chan_mem);
    free(p->cshm);
    p->ready_mem = p->chan_mem = NULL;
    p->cshm = NULL;
}
