#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conn_pair.h"

void ea_test_pair_init(struct ea_test_pair *p, uint32_t nodes, uint32_t max, const char *name)
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
    p->ready_mem = aligned_alloc(64, ea_mbox_footprint(cap));
    assert_non_null(p->ready_mem);
    assert_int_equal(ea_mbox_init(&p->ready, p->ready_mem, cap), EA_OK);

    uint32_t ns = ea_node_size_for(max);
    uint32_t mcap = ea_mbox_capacity_for(nodes);
    size_t pb = ea_pool_footprint(nodes, ns), mb = ea_mbox_footprint(mcap);
    uint8_t *mem = aligned_alloc(64, pb + 2 * mb);
    assert_non_null(mem);
    p->chan_mem = mem;
    assert_int_equal(ea_pool_init(&p->ca.pool, mem, nodes, ns), EA_OK);
    assert_int_equal(ea_mbox_init(&p->ca.in, mem + pb, mcap), EA_OK);
    assert_int_equal(ea_mbox_init(&p->cb.in, mem + pb + mb, mcap), EA_OK);
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
}

void ea_test_pair_fini(struct ea_test_pair *p)
{
    free(p->ready_mem);
    free(p->chan_mem);
    p->ready_mem = p->chan_mem = NULL;
}
