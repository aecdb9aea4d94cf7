/*
 * Test helper: two actors joined by one channel, built by hand around
 * private storage (no launcher, no threads). End a is `ca`, end b is `cb`;
 * sends wake the peer into `ready`, with `wk` as the peer worker's word.
 */
#ifndef EA_TEST_CONN_PAIR_H
#define EA_TEST_CONN_PAIR_H

#include "core/rt.h"

struct ea_test_pair {
    struct eai_hdr hdr;
    struct eai_rt rt;
    struct eai_domain dom;
    struct ea_actor a, b;
    struct eai_rec rec[2];
    struct eai_wk_shm wk;
    ea_mbox_t ready;
    void *ready_mem;
    struct ea_conn ca, cb;
    void *chan_mem;
};

/* Builds the pair with a channel of `nodes` nodes of `max` bytes named
 * `name`. Aborts the test (cmocka assertion) on failure. */
void ea_test_pair_init(struct ea_test_pair *p, uint32_t nodes, uint32_t max, const char *name);
/* Frees the storage init allocated (not `p` itself). */
void ea_test_pair_fini(struct ea_test_pair *p);

#endif
