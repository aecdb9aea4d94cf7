/*
 * Actors for the watchdog tests (watchdog.sh). `pacer` sends one small
 * message every `every_ms` milliseconds (default 100) on its connector 0,
 * for as long as the run lasts, and keeps going when the pool is empty.
 * `sink` receives on its connector 0: at most one message per `pause_ms`
 * (default 0: all at once), sleeping in its body between them (a slow but
 * progressing receiver), and, with `stall_after` N > 0, stops receiving
 * after N messages while staying live (a stalled receiver). Both print
 * their count when the run stops. `idler` has a connector and never uses
 * it (an idle channel).
 */
#include <stdio.h>
#include <time.h>

#include <eactors/eactors.h>

struct pacer {
    ea_conn_t *c;
    long long every_ms;
    struct timespec next;
    unsigned long long sent;
};

struct sink {
    ea_conn_t *c;
    long long pause_ms, stall_after;
    unsigned long long got;
};

static long long ms_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

static int pacer_ctor(ea_actor_t *self, void *state)
{
    struct pacer *s = state;
    s->c = ea_conn_at(self, 0);
    s->every_ms = ea_param_int(self, "every_ms", 100, NULL);
    clock_gettime(CLOCK_MONOTONIC, &s->next);
    return s->c ? EA_OK : EA_ERR_NOTFOUND;
}

static int pacer_body(ea_actor_t *self, void *state)
{
    struct pacer *s = state;
    if (ea_stopping(self)) {
        printf("%s: %llu sent\n", ea_name(self), s->sent);
        fflush(stdout);
        return EA_DONE;
    }
    if (ms_since(&s->next) < 0)
        return EA_BUSY;
    ea_cargo_t m;
    if (ea_cargo_alloc(s->c, 8, &m) == EA_OK) {
        if (ea_cargo_send(&m) == EA_OK)
            s->sent++;
        else
            ea_cargo_release(&m);
    }
    s->next.tv_nsec += s->every_ms * 1000000;
    s->next.tv_sec += s->next.tv_nsec / 1000000000;
    s->next.tv_nsec %= 1000000000;
    /* Sleep until the next send: this worker has nothing else to do. */
    struct timespec d = {0, 10 * 1000000};
    nanosleep(&d, NULL);
    return EA_BUSY;
}

static int sink_ctor(ea_actor_t *self, void *state)
{
    struct sink *s = state;
    s->c = ea_conn_at(self, 0);
    s->pause_ms = ea_param_int(self, "pause_ms", 0, NULL);
    s->stall_after = ea_param_int(self, "stall_after", 0, NULL);
    return s->c ? EA_OK : EA_ERR_NOTFOUND;
}

static int sink_body(ea_actor_t *self, void *state)
{
    struct sink *s = state;
    if (ea_stopping(self)) {
        printf("%s: %llu received\n", ea_name(self), s->got);
        fflush(stdout);
        return EA_DONE;
    }
    for (;;) {
        if (s->stall_after > 0 && s->got >= (unsigned long long)s->stall_after)
            return EA_IDLE; /* live, but receives nothing more */
        ea_cargo_t m;
        if (ea_cargo_recv(s->c, &m) != EA_OK)
            return EA_IDLE;
        ea_cargo_release(&m);
        s->got++;
        if (s->pause_ms > 0) {
            struct timespec d = {s->pause_ms / 1000, (s->pause_ms % 1000) * 1000000};
            nanosleep(&d, NULL);
            return EA_BUSY;
        }
    }
}

static int idler_ctor(ea_actor_t *self, void *state)
{
    (void)state;
    return ea_conn_at(self, 0) ? EA_OK : EA_ERR_NOTFOUND;
}

static int idler_body(ea_actor_t *self, void *state)
{
    (void)state;
    return ea_stopping(self) ? EA_DONE : EA_IDLE;
}

EA_ACTOR(pacer, struct pacer, pacer_ctor, pacer_body);
EA_ACTOR(sink, struct sink, sink_ctor, sink_body);
EA_ACTOR(idler, char, idler_ctor, idler_body);
