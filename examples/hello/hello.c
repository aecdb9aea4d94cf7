/* hello: one actor that prints where it runs and finishes. */
#include <stdio.h>

#include <eactors/eactors.h>

struct hello {
    int unused;
};

static int hello_body(ea_actor_t *self, void *state)
{
    (void)state;
    const char *who = ea_param(self, "greeting");
    printf("%s from actor '%s' in %s\n", who ? who : "hello", ea_name(self), ea_domain(self));
    fflush(stdout);
    return EA_DONE;
}

EA_ACTOR(hello, struct hello, NULL, hello_body);
