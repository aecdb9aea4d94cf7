/*
 * What the core offers system actors (src/sys, the layer above): read-only
 * views of the deployment and of a connector's peer, and a thread-safe wake.
 * Implemented in core/sysapi.c.
 */
#ifndef EAI_SYSAPI_H
#define EAI_SYSAPI_H

#include <stdbool.h>

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

#endif
