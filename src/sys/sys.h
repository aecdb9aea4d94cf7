/*
 * System actors (DESIGN.md section 9), internal interface.
 *
 * A system actor is a builtin actor type of the runtime, instantiated by a
 * <sys> element of the deployment on a host worker. Its requesters reach it
 * over ordinary channels; the request and completion format is in
 * <eactors/ea_sys.h>.
 */
#ifndef EAI_SYS_H
#define EAI_SYS_H

#include <eactors/ea_actor.h>
#include <eactors/ea_sys.h>

#include "runtime/deploy.h"

/* The builtin type of <sys> actors (implemented in src/sys/sys.c). */
const ea_actor_type_t *eai_sys_type(void);

/* ---- what src/core offers a system actor (implemented in core/sysapi.c) */

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
