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

#include "base/model.h"
#include "core/sysapi.h"

/* The builtin type of <sys> actors (implemented in src/sys/sys.c). */
const ea_actor_type_t *eai_sys_type(void);

#endif
