/*
 * ring: N actors in a ring pass a token. `ring_head` starts it and counts
 * hops; every `ring_node` forwards what it receives on one connector out of
 * the other. After `hops` hops the head sends a zero-length stop token round
 * the ring; each node forwards it and finishes.
 *
 * Parameters of ring_head: hops (default 100000).
 */
#include <stdio.h>
#include <string.h>

#include <eactors/eactors.h>

struct node {
    int unused;
};

struct head {
    uint64_t hops, seen;
    uint64_t t0;
    int stopping;
};

/* Forwards every message that arrives on one connector out of the other. */
static int forward(ea_actor_t *self, int *saw_stop)
{
    for (unsigned i = 0; i < ea_conn_count(self); i++) {
        ea_conn_t *in = ea_conn_at(self, i);
        ea_conn_t *out = ea_conn_at(self, i ^ 1u);
        ea_cargo_t m, f;
        int rc;
        while ((rc = ea_cargo_recv(in, &m)) == EA_OK) {
            uint64_t v = 0;
            if (m.len == 8)
                memcpy(&v, m.data, 8);
            size_t len = m.len;
            ea_cargo_release(&m);
            if (len == 0)
                *saw_stop = 1;
            rc = ea_cargo_alloc(out, len, &f);
            if (rc != EA_OK)
                return rc;
            v++;
            if (len == 8)
                memcpy(f.data, &v, 8);
            rc = ea_cargo_send(&f);
            if (rc != EA_OK) {
                ea_cargo_release(&f);
                return rc;
            }
            return EA_OK;
        }
        if (rc != EA_ERR_EMPTY)
            return rc;
    }
    return 0;
}

static int node_body(ea_actor_t *self, void *state)
{
    (void)state;
    if (ea_conn_count(self) != 2)
        return EA_ERR_INVAL;
    int stop = 0;
    int rc = forward(self, &stop);
    if (rc < 0)
        return rc;
    if (stop || ea_stopping(self))
        return EA_DONE;
    return EA_IDLE;
}

static int head_ctor(ea_actor_t *self, void *state)
{
    struct head *s = state;
    s->hops = (uint64_t)ea_param_int(self, "hops", 100000, NULL);
    return ea_conn_count(self) == 2 ? EA_OK : EA_ERR_INVAL;
}

static int head_body(ea_actor_t *self, void *state)
{
    struct head *s = state;
    if (ea_stopping(self))
        return EA_DONE;
    ea_conn_t *next = ea_conn_at(self, 0);
    ea_conn_t *prev = ea_conn_at(self, 1);
    ea_cargo_t m;
    int rc;
    if (s->t0 == 0) {
        s->t0 = ea_now_ns();
        if ((rc = ea_cargo_alloc(next, 8, &m)) != EA_OK)
            return rc;
        uint64_t v = 1;
        memcpy(m.data, &v, 8);
        if ((rc = ea_cargo_send(&m)) != EA_OK)
            return rc;
        return EA_IDLE;
    }
    while ((rc = ea_cargo_recv(prev, &m)) == EA_OK) {
        size_t len = m.len;
        uint64_t v = 0;
        if (len == 8)
            memcpy(&v, m.data, 8);
        ea_cargo_release(&m);
        if (len == 0)
            return EA_DONE; /* the stop token came round */
        s->seen = v;
        if (v >= s->hops) {
            uint64_t ns = ea_now_ns() - s->t0;
            const char *np = ea_param(self, "actors");
            printf("ring: %s actors, %llu hops in %.3f s: %.1f ns per hop\n", np ? np : "?",
                   (unsigned long long)v, (double)ns / 1e9, (double)ns / (double)v);
            printf("ring-result actors=%s hops=%llu ns_per_hop=%.1f\n", np ? np : "?",
                   (unsigned long long)v, (double)ns / (double)v);
            fflush(stdout);
            if ((rc = ea_cargo_alloc(next, 0, &m)) != EA_OK)
                return rc;
            if ((rc = ea_cargo_send(&m)) != EA_OK)
                return rc;
            return EA_IDLE;
        }
        if ((rc = ea_cargo_alloc(next, 8, &m)) != EA_OK)
            return rc;
        v++;
        memcpy(m.data, &v, 8);
        if ((rc = ea_cargo_send(&m)) != EA_OK)
            return rc;
    }
    return rc == EA_ERR_EMPTY ? EA_IDLE : rc;
}

EA_ACTOR(ring_node, struct node, NULL, node_body);
EA_ACTOR(ring_head, struct head, head_ctor, head_body);
