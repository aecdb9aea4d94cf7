/* The actor-facing API: names, parameters, connectors, the clock. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "core/rt.h"

const char *ea_name(const ea_actor_t *self)
{
    return self->name;
}

const char *ea_domain(const ea_actor_t *self)
{
    return self->dom->name;
}

const char *ea_param(const ea_actor_t *self, const char *key)
{
    if (self->params == NULL || key == NULL)
        return NULL;
    for (const char *const *p = self->params; p[0] != NULL; p += 2)
        if (strcmp(p[0], key) == 0)
            return p[1];
    return NULL;
}

long long ea_param_int(const ea_actor_t *self, const char *key, long long dflt, bool *ok)
{
    const char *v = ea_param(self, key);
    if (ok != NULL)
        *ok = true;
    if (v == NULL)
        return dflt;
    int64_t n;
    if (eai_parse_int(v, &n) != EA_OK) {
        if (ok != NULL)
            *ok = false;
        return dflt;
    }
    return (long long)n;
}

/* The domain's private latch, not the arena's flag: a host that clears the
 * flag cannot make an actor that saw the stop see it undone. */
bool ea_stopping(const ea_actor_t *self)
{
    return eai_domain_stopping(self->dom);
}

uint64_t ea_now_ns(void)
{
    return eai_clock_ns();
}

ea_conn_t *ea_conn(ea_actor_t *self, const char *channel)
{
    for (uint32_t i = 0; i < self->nconns; i++)
        if (strcmp(self->conns[i]->name, channel) == 0)
            return self->conns[i];
    return NULL;
}

unsigned ea_conn_count(const ea_actor_t *self)
{
    return self->nconns;
}

ea_conn_t *ea_conn_at(ea_actor_t *self, unsigned i)
{
    return i < self->nconns ? self->conns[i] : NULL;
}

const char *ea_conn_name(const ea_conn_t *c)
{
    return c->name;
}

const char *ea_conn_peer(const ea_conn_t *c)
{
    return c->peer_name;
}

size_t ea_conn_max(const ea_conn_t *c)
{
    return c->max;
}

bool ea_conn_is_public(const ea_conn_t *c)
{
    return c->pub;
}
