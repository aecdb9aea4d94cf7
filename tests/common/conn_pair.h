/*
 * Test helper: two actors joined by one channel, built by hand around
 * private storage (no launcher, no threads). End a is `ca`, end b is `cb`;
 * sends wake the peer into `ready`, with `wk` as the peer worker's word.
 * No test framework here: the fuzz targets use it too.
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
    void *chan_mem;            /* pool | mbox to a | mbox to b */
    size_t chan_size;          /* bytes of chan_mem */
    struct eai_chan_shm *cshm; /* the channel's arena record, if made */
};

/* Builds the pair with a channel of `nodes` nodes of `max` bytes named
 * `name`. Returns EA_OK, EA_ERR_NOMEM or EA_ERR_INVAL; on failure nothing
 * is left allocated. */
int ea_test_pair_build(struct ea_test_pair *p, uint32_t nodes, uint32_t max, const char *name);
/* As ea_test_pair_build, and aborts the test run on failure. */
void ea_test_pair_init(struct ea_test_pair *p, uint32_t nodes, uint32_t max, const char *name);
/* Gives the channel an arena record, as deployment channels have (failure
 * reasons, progress counters, pool accounting, want_node); end a is end 0.
 * Returns EA_OK or EA_ERR_NOMEM. */
int ea_test_pair_record(struct ea_test_pair *p);
/* Makes the channel AEAD-protected as between two enclaves: fixed test
 * keys, one per direction, channel index 0, private plaintext slots for
 * each end. Needs the record. Returns EA_OK, EA_ERR_NOMEM or EA_ERR_CRYPTO. */
int ea_test_pair_aead(struct ea_test_pair *p);
/* Frees what build, record and aead allocated (not `p` itself). */
void ea_test_pair_fini(struct ea_test_pair *p);

#endif
