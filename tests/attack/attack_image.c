/*
 * Victims of the hostile-host test: `talker` sends round after round a
 * message that holds a known marker string, the round number and a filler
 * derived from the round number to `listener`, which checks every byte
 * (it knows the sequence) and answers with the same bytes; the talker checks
 * the answer. Forged, replayed or reordered data that the channel accepted
 * would show up as a bad message. A channel error (authentication failure,
 * sticky failure, corrupt shared memory) is reported and ends the actor with
 * that error, which stops the run.
 *
 * Parameters (both actors): marker (default EACTORS-SECRET-PLAINTEXT-0123456789),
 * size (message bytes, default 256, at least marker + 21). Talker: rounds
 * (default 1000; after the last round it sends an empty message that ends
 * the listener), window (rounds in flight, default 4), retry_full (0: a
 * cargo refused with EA_ERR_FULL is released and allocated again; 1: it is
 * kept and sent again later, as ea_cargo_send's contract allows). The
 * talker prints "talker: running" after its first round trip.
 *
 * Victims of the lifecycle attacks (run_state.sh), which rewrite the
 * arena's actor status and stop words rather than messages:
 *   once      its body must run exactly once: it prints "NAME: run N",
 *             frees the buffer its constructor allocated and returns
 *             EA_DONE (as examples/https/handler.c frees its cache on
 *             stop). A second run prints "NAME: run 2" and then reads and
 *             frees the buffer again: a use after free and a double free.
 *   idler     keeps the run going: idle until ea_stopping(), then
 *             prints "NAME: stopping" and is done.
 *   lingerer  prints "NAME: ready" on its first run and idles; once
 *             ea_stopping() is true it prints "NAME: stop seen" and keeps
 *             running (EA_BUSY) for `linger_ms` (default 200) checking
 *             ea_stopping() at every step. If it ever turns false again it
 *             prints "NAME: stop lost after N steps" and fails; otherwise
 *             it prints "NAME: still stopping after N steps" and is done.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eactors/ea_trust.h>
#include <eactors/eactors.h>

#define DEFAULT_MARKER "EACTORS-SECRET-PLAINTEXT-0123456789"

struct victim {
    ea_conn_t *c;
    const char *marker;
    size_t mlen, size;
    uint64_t rounds, window, sent, done, bad;
    int waiting, reported, retry_full, pending;
    ea_cargo_t pend; /* retry_full: a cargo that met EA_ERR_FULL */
};

/* Message of round r: marker, '#', 20 decimal digits of r, then filler. */
static void fill(const struct victim *s, uint8_t *p, uint64_t r)
{
    memcpy(p, s->marker, s->mlen);
    char num[32];
    snprintf(num, sizeof num, "#%020" PRIu64, r);
    memcpy(p + s->mlen, num, 21);
    for (size_t i = s->mlen + 21; i < s->size; i++)
        p[i] = (uint8_t)(r * 31u + i);
}

static int matches(const struct victim *s, const ea_cargo_t *m, uint64_t r)
{
    uint8_t want[4096];
    if (m->len != s->size)
        return 0;
    fill(s, want, r);
    return memcmp(m->data, want, s->size) == 0;
}

static int setup(ea_actor_t *self, struct victim *s)
{
    s->c = ea_conn_at(self, 0);
    if (s->c == NULL)
        return EA_ERR_NOTFOUND;
    s->marker = ea_param(self, "marker");
    if (s->marker == NULL)
        s->marker = DEFAULT_MARKER;
    s->mlen = strlen(s->marker);
    s->size = (size_t)ea_param_int(self, "size", 256, NULL);
    s->rounds = (uint64_t)ea_param_int(self, "rounds", 1000, NULL);
    s->window = (uint64_t)ea_param_int(self, "window", 4, NULL);
    s->retry_full = (int)ea_param_int(self, "retry_full", 0, NULL);
    if (s->window == 0 || s->mlen == 0 || s->size < s->mlen + 21 || s->size > 4096 ||
        s->size > ea_conn_max(s->c))
        return EA_ERR_INVAL;
    return EA_OK;
}

static void report(ea_actor_t *self, struct victim *s, const char *what)
{
    if (s->reported)
        return;
    s->reported = 1;
    printf("%s: %" PRIu64 " %s, %" PRIu64 " bad\n", ea_name(self), s->done, what, s->bad);
    fflush(stdout);
}

/* A cargo call failed for a reason other than back-pressure: the channel is
 * no longer usable. Report and fail the actor, which stops the run. */
static int channel_error(ea_actor_t *self, struct victim *s, const char *what, int rc)
{
    printf("%s: channel error %s\n", ea_name(self), ea_strerror(rc));
    report(self, s, what);
    return rc;
}

static int victim_ctor(ea_actor_t *self, void *state)
{
    return setup(self, state);
}

static int talker_body(ea_actor_t *self, void *state)
{
    struct victim *s = state;
    if (ea_stopping(self)) {
        if (s->pending)
            ea_cargo_release(&s->pend);
        s->pending = 0;
        report(self, s, "rounds");
        return EA_DONE;
    }
    for (;;) {
        ea_cargo_t m;
        int rc;
        /* Keep up to `window` rounds in flight, so that several nodes and
         * mbox cells are in use. */
        if (s->pending) {
            rc = ea_cargo_send(&s->pend);
            if (rc == EA_ERR_FULL)
                return EA_BUSY;
            if (rc != EA_OK) {
                ea_cargo_release(&s->pend);
                return channel_error(self, s, "rounds", rc);
            }
            s->pending = 0;
            s->sent++;
        }
        while (s->sent < s->rounds && s->sent - s->done < s->window) {
            rc = ea_cargo_alloc(s->c, s->size, &m);
            if (rc == EA_ERR_NOBUFS)
                break;
            if (rc != EA_OK)
                return channel_error(self, s, "rounds", rc);
            fill(s, m.data, s->sent);
            rc = ea_cargo_send(&m);
            if (rc == EA_ERR_FULL && s->retry_full) {
                s->pend = m; /* the API lets the caller keep it and retry */
                s->pending = 1;
                return EA_BUSY;
            }
            if (rc != EA_OK) {
                ea_cargo_release(&m);
                if (rc == EA_ERR_FULL)
                    break;
                return channel_error(self, s, "rounds", rc);
            }
            s->sent++;
        }
        if (s->done == s->rounds) { /* the end: an empty message */
            rc = ea_cargo_alloc(s->c, 0, &m);
            if (rc == EA_ERR_NOBUFS)
                return EA_BUSY;
            if (rc == EA_OK && (rc = ea_cargo_send(&m)) != EA_OK)
                ea_cargo_release(&m);
            if (rc == EA_ERR_FULL)
                return EA_BUSY;
            if (rc != EA_OK)
                return channel_error(self, s, "rounds", rc);
            report(self, s, "rounds");
            return EA_DONE;
        }
        rc = ea_cargo_recv(s->c, &m);
        if (rc == EA_ERR_EMPTY)
            return s->sent - s->done < s->window && s->sent < s->rounds ? EA_BUSY : EA_IDLE;
        if (rc != EA_OK)
            return channel_error(self, s, "rounds", rc);
        if (!matches(s, &m, s->done))
            s->bad++;
        ea_cargo_release(&m);
        if (s->done++ == 0) {
            /* Tells the test that messages flow: the attack can start. */
            printf("%s: running\n", ea_name(self));
            fflush(stdout);
        }
    }
}
EA_ACTOR(talker, struct victim, victim_ctor, talker_body);

static int listener_body(ea_actor_t *self, void *state)
{
    struct victim *s = state;
    if (ea_stopping(self)) {
        report(self, s, "messages");
        return EA_DONE;
    }
    for (;;) {
        ea_cargo_t in, out;
        int rc;
        if (s->waiting) { /* an answer could not be sent yet */
            rc = ea_cargo_alloc(s->c, s->size, &out);
            if (rc == EA_ERR_NOBUFS)
                return EA_BUSY;
            if (rc != EA_OK)
                return channel_error(self, s, "messages", rc);
            fill(s, out.data, s->done);
            rc = ea_cargo_send(&out);
            if (rc != EA_OK) {
                ea_cargo_release(&out);
                if (rc == EA_ERR_FULL)
                    return EA_BUSY;
                return channel_error(self, s, "messages", rc);
            }
            s->waiting = 0;
            s->done++;
        }
        rc = ea_cargo_recv(s->c, &in);
        if (rc == EA_ERR_EMPTY)
            return EA_IDLE;
        if (rc != EA_OK)
            return channel_error(self, s, "messages", rc);
        if (in.len == 0) {
            ea_cargo_release(&in);
            report(self, s, "messages");
            return EA_DONE;
        }
        if (!matches(s, &in, s->done))
            s->bad++;
        ea_cargo_release(&in);
        s->waiting = 1;
    }
}
EA_ACTOR(listener, struct victim, victim_ctor, listener_body);

struct once {
    unsigned runs;
    char *buf;
};

static int once_ctor(ea_actor_t *self, void *state)
{
    struct once *s = state;
    (void)self;
    s->buf = malloc(64);
    if (s->buf == NULL)
        return EA_ERR_NOMEM;
    snprintf(s->buf, 64, "buffer of the one run");
    return EA_OK;
}

static int once_body(ea_actor_t *self, void *state)
{
    struct once *s = state;
    s->runs++;
    /* Printed before the buffer is touched: a forbidden run shows even if
     * what follows crashes. */
    printf("%s: run %u\n", ea_name(self), s->runs);
    fflush(stdout);
    printf("%s: %s\n", ea_name(self), s->buf);
    fflush(stdout);
    free(s->buf); /* deliberately not cleared: this body must not run again */
    return EA_DONE;
}
EA_ACTOR(once, struct once, once_ctor, once_body);

struct idler {
    int unused;
};

static int idler_body(ea_actor_t *self, void *state)
{
    (void)state;
    if (!ea_stopping(self))
        return EA_IDLE;
    printf("%s: stopping\n", ea_name(self));
    fflush(stdout);
    return EA_DONE;
}
EA_ACTOR(idler, struct idler, NULL, idler_body);

struct lingerer {
    int ready, seen;
    uint64_t since, linger_ns, steps;
};

static int lingerer_body(ea_actor_t *self, void *state)
{
    struct lingerer *s = state;
    if (!s->ready) {
        s->ready = 1;
        s->linger_ns = (uint64_t)ea_param_int(self, "linger_ms", 200, NULL) * 1000000u;
        printf("%s: ready\n", ea_name(self));
        fflush(stdout);
    }
    bool stopping = ea_stopping(self);
    if (!s->seen) {
        if (!stopping)
            return EA_IDLE;
        s->seen = 1;
        s->since = ea_now_ns();
        printf("%s: stop seen\n", ea_name(self));
        fflush(stdout);
        return EA_BUSY;
    }
    s->steps++;
    if (!stopping) {
        printf("%s: stop lost after %" PRIu64 " steps\n", ea_name(self), s->steps);
        fflush(stdout);
        return EA_ERR_ACTOR;
    }
    if (ea_now_ns() - s->since < s->linger_ns)
        return EA_BUSY;
    printf("%s: still stopping after %" PRIu64 " steps\n", ea_name(self), s->steps);
    fflush(stdout);
    return EA_DONE;
}
EA_ACTOR(lingerer, struct lingerer, NULL, lingerer_body);

/* The attack's control runs the channel plain (attack-plain.xml). */
EA_CHANNEL_POLICY(.plain_ok = EA_CHANNELS("tl"));
