/*
 * What the core offers system actors (src/sys, the layer above): read-only
 * views of the deployment and of a connector's peer, and a thread-safe wake.
 * Implemented in core/sysapi.c.
 */
#ifndef EAI_SYSAPI_H
#define EAI_SYSAPI_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <eactors/ea_actor.h>

#include "base/model.h"

/* Domain of the actor at the other end of `c`: 0 = host, 1 + e = enclave e. */
int eai_conn_peer_domain(const ea_conn_t *c);
/* Name of domain d ("host" or the enclave's name). */
const char *eai_domain_name(const ea_actor_t *self, int d);
/* The deployment entry of `self` (grants of a <sys> actor). */
const eai_dep_actor_t *eai_actor_dep(const ea_actor_t *self);
/* True while the actor at the other end of `c` is live (not done/failed). */
bool eai_conn_peer_live(const ea_conn_t *c);
/* Marks `a` runnable and wakes its worker. Safe from any thread of this
 * process (the system actor's epoll thread uses it). */
void eai_actor_wake(ea_actor_t *a);

/*
 * A worker's wait for I/O, supplied by a system actor bound to it, so that
 * its worker sleeps in one place for both its descriptors and the wake-ups
 * of the other actors (no thread in between). Both run on the worker's own
 * thread, between steps:
 *  - poll: called after every step and on every empty poll of the ready
 *    queue before the worker parks; must not block and should not enter
 *    the kernel (it checks memory the kernel writes); wakes the actor if
 *    I/O is ready.
 *  - wait: called by the worker instead of its futex wait, after it stored
 *    `parked` in *state and found nothing to run. Returns when I/O is ready
 *    (the actor then woken) or when *state no longer holds `parked` (a
 *    waker's futex wake on `state`), or spuriously.
 */
typedef struct eai_io_park {
    void (*poll)(void *arg);
    void (*wait)(void *arg, _Atomic uint32_t *state, uint32_t parked);
    void *arg;
} eai_io_park_t;

/* Installs `p` (which must outlive its use) as the wait of self's worker,
 * or removes it (NULL). Called by `self` on its worker thread (from its
 * constructor or body). Returns false if the worker is a different actor's
 * already (only one per worker) or `self` is not in the host. */
bool eai_worker_io_park(ea_actor_t *self, const eai_io_park_t *p);

#endif
