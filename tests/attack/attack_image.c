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
 */
#include <inttypes.h>
#include <stdio.h>
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

/* The attack's control runs the channel plain (attack-plain.xml). */
EA_CHANNEL_POLICY(.plain_ok = EA_CHANNELS("tl"));
