#include <stdio.h>

#include <eactors/eactors.h>

struct none {
    int unused;
};

static int greet(ea_actor_t *self, void *state)
{
    (void)state;
    printf("installed greeter '%s' in %s\n", ea_name(self), ea_domain(self));
    fflush(stdout);
    return EA_DONE;
}

EA_ACTOR(greeter, struct none, NULL, greet);
