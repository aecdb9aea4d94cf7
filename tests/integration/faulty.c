/*
 * Test actors that misbehave on purpose, and a few that exercise the
 * runtime's edges: crash, forbidden system call, failure, stop requests,
 * back-pressure and spawning.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <eactors/eactors.h>

struct empty {
    int unused;
};

/* Dereferences a bad pointer on its first step. */
static int crasher_body(ea_actor_t *self, void *state)
{
    (void)state;
    volatile int *p = (volatile int *)(uintptr_t)ea_param_int(self, "address", 16, NULL);
    *p = 42;
    return EA_DONE;
}
EA_ACTOR(crasher, struct empty, NULL, crasher_body);

/* Opens a file: a system call that the enclave allow-list forbids. */
static int opener_body(ea_actor_t *self, void *state)
{
    (void)state;
    int fd = open("/etc/hostname", O_RDONLY);
    printf("opener in %s: open returned %d\n", ea_domain(self), fd);
    fflush(stdout);
    if (fd >= 0)
        close(fd);
    return EA_DONE;
}
EA_ACTOR(opener, struct empty, NULL, opener_body);

/* Fails with an actor error. */
static int failer_body(ea_actor_t *self, void *state)
{
    (void)self;
    (void)state;
    return EA_ERR_ACTOR;
}
EA_ACTOR(failer, struct empty, NULL, failer_body);

/* Prints "ready" once, then waits for messages that never come. Finishes
 * on a stop request. */
struct waiter {
    int said;
};
static int waiter_body(ea_actor_t *self, void *state)
{
    struct waiter *s = state;
    if (ea_stopping(self)) {
        printf("%s: stop seen\n", ea_name(self));
        fflush(stdout);
        return EA_DONE;
    }
    if (!s->said) {
        s->said = 1;
        printf("%s: ready in %s\n", ea_name(self), ea_domain(self));
        fflush(stdout);
    }
    return EA_IDLE;
}
EA_ACTOR(waiter, struct waiter, NULL, waiter_body);

/* Busy until stopped. */
static int spinner_body(ea_actor_t *self, void *state)
{
    (void)state;
    return ea_stopping(self) ? EA_DONE : EA_BUSY;
}
EA_ACTOR(spinner, struct empty, NULL, spinner_body);

/*
 * Back-pressure: `flood` sends `count` numbered messages as fast as the
 * channel takes them; `sink` takes one message per step and checks the
 * numbers arrive complete and in order. The sender counts how often it was
 * pushed back.
 */
struct flood {
    uint64_t next, count, pushed_back;
};
static int flood_body(ea_actor_t *self, void *state)
{
    struct flood *s = state;
    ea_conn_t *c = ea_conn_at(self, 0);
    if (s->count == 0)
        s->count = (uint64_t)ea_param_int(self, "count", 100000, NULL);
    while (s->next < s->count) {
        ea_cargo_t m;
        int rc = ea_cargo_alloc(c, 8, &m);
        if (rc == EA_ERR_NOBUFS) {
            s->pushed_back++;
            /* With wait=1 the sender goes idle: the receiver's next release
             * of a node must wake it (no polling). */
            return ea_param_int(self, "wait", 0, NULL) ? EA_IDLE : EA_BUSY;
        }
        if (rc != EA_OK)
            return rc;
        memcpy(m.data, &s->next, 8);
        rc = ea_cargo_send(&m);
        if (rc == EA_ERR_FULL) {
            ea_cargo_release(&m);
            s->pushed_back++;
            return EA_BUSY;
        }
        if (rc != EA_OK)
            return rc;
        s->next++;
    }
    printf("flood: sent %llu messages, pushed back %llu times\n", (unsigned long long)s->next,
           (unsigned long long)s->pushed_back);
    fflush(stdout);
    return EA_DONE;
}
EA_ACTOR(flood, struct flood, NULL, flood_body);

struct sink {
    uint64_t expect, count, bad;
};
static int sink_body(ea_actor_t *self, void *state)
{
    struct sink *s = state;
    if (s->count == 0)
        s->count = (uint64_t)ea_param_int(self, "count", 100000, NULL);
    ea_cargo_t m;
    int rc = ea_cargo_recv(ea_conn_at(self, 0), &m);
    if (rc == EA_ERR_EMPTY)
        return ea_stopping(self) ? EA_DONE : EA_IDLE;
    if (rc != EA_OK)
        return rc;
    uint64_t v = UINT64_MAX;
    if (m.len == 8)
        memcpy(&v, m.data, 8);
    ea_cargo_release(&m);
    if (v != s->expect)
        s->bad++;
    s->expect++;
    if (s->expect == s->count) {
        printf("sink: received %llu messages, %llu out of order or lost\n",
               (unsigned long long)s->expect, (unsigned long long)s->bad);
        fflush(stdout);
        return s->bad ? EA_ERR_ACTOR : EA_DONE;
    }
    return EA_BUSY; /* one message per step: slower than the sender */
}
EA_ACTOR(sink, struct sink, NULL, sink_body);

/*
 * Spawning: `spawner` creates `children` actors of type `child` at run time,
 * sends each a number, and expects it back doubled.
 */
#define MAX_CHILDREN 8
struct spawner {
    ea_conn_t *kids[MAX_CHILDREN];
    int n, replies, started;
};
static int spawner_body(ea_actor_t *self, void *state)
{
    struct spawner *s = state;
    if (ea_stopping(self))
        return EA_DONE;
    if (!s->started) {
        s->started = 1;
        s->n = (int)ea_param_int(self, "children", 3, NULL);
        if (s->n < 1 || s->n > MAX_CHILDREN)
            return EA_ERR_INVAL;
        for (int i = 0; i < s->n; i++) {
            const char *params[] = {"index", i == 0 ? "0" : i == 1 ? "1" : "2", NULL};
            ea_spawn_opts_t o = {.nodes = 4, .max = 64, .params = params};
            int rc = ea_spawn(self, "child", &o, &s->kids[i]);
            if (rc != EA_OK)
                return rc;
            ea_cargo_t m;
            if ((rc = ea_cargo_alloc(s->kids[i], 8, &m)) != EA_OK)
                return rc;
            uint64_t v = (uint64_t)i + 100;
            memcpy(m.data, &v, 8);
            if ((rc = ea_cargo_send(&m)) != EA_OK)
                return rc;
        }
        return EA_IDLE;
    }
    for (int i = 0; i < s->n; i++) {
        ea_cargo_t m;
        if (ea_cargo_recv(s->kids[i], &m) != EA_OK)
            continue;
        uint64_t v = 0;
        memcpy(&v, m.data, 8);
        ea_cargo_release(&m);
        if (v != 2 * ((uint64_t)i + 100))
            return EA_ERR_ACTOR;
        printf("spawner: child %d (%s) answered %llu\n", i, ea_conn_peer(s->kids[i]),
               (unsigned long long)v);
        fflush(stdout);
        s->replies++;
    }
    return s->replies == s->n ? EA_DONE : EA_IDLE;
}
EA_ACTOR(spawner, struct spawner, NULL, spawner_body);

static int child_body(ea_actor_t *self, void *state)
{
    (void)state;
    ea_conn_t *c = ea_conn(self, "parent");
    if (c == NULL)
        return EA_ERR_NOTFOUND;
    ea_cargo_t in, out;
    int rc = ea_cargo_recv(c, &in);
    if (rc == EA_ERR_EMPTY)
        return ea_stopping(self) ? EA_DONE : EA_IDLE;
    if (rc != EA_OK)
        return rc;
    uint64_t v;
    memcpy(&v, in.data, 8);
    ea_cargo_release(&in);
    if ((rc = ea_cargo_alloc(c, 8, &out)) != EA_OK)
        return rc;
    v *= 2;
    memcpy(out.data, &v, 8);
    if ((rc = ea_cargo_send(&out)) != EA_OK)
        return rc;
    return EA_DONE;
}
EA_ACTOR(child, struct empty, NULL, child_body);

/* A constructor that asks to be called again three times. */
struct multi {
    int calls;
};
static int multi_ctor(ea_actor_t *self, void *state)
{
    (void)self;
    struct multi *s = state;
    return ++s->calls < 4 ? EA_AGAIN : EA_OK;
}
static int multi_body(ea_actor_t *self, void *state)
{
    struct multi *s = state;
    printf("%s: constructor ran %d times\n", ea_name(self), s->calls);
    fflush(stdout);
    return EA_DONE;
}
EA_ACTOR(multi, struct multi, multi_ctor, multi_body);
