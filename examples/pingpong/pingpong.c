/*
 * pingpong: `ping` sends `rounds` messages of `size` bytes to `pong`, which
 * answers each with a message of the same size. Both sides write every byte
 * of every message they send and read every byte of every message they get,
 * and check it. Ping measures each round trip and prints a summary.
 *
 * Parameters of ping: rounds (default 10000), size (default 16),
 * placement (a label for the output).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eactors/ea_trust.h>
#include <eactors/eactors.h>

struct ping {
    ea_conn_t *c;
    uint64_t rounds, done, errors;
    size_t size;
    uint64_t t_send, t_start;
    uint64_t *rtt;
    int waiting;
};

struct pong {
    ea_conn_t *c;
    uint64_t errors, seen;
};

/* Payload of round r: 8-byte round number, then bytes equal to `fill`. */
static void fill(void *data, size_t len, uint64_t r, uint8_t b)
{
    if (len >= 8) {
        memcpy(data, &r, 8);
        memset((uint8_t *)data + 8, b, len - 8);
    } else {
        memset(data, b, len);
    }
}

static int check(const void *data, size_t len, uint64_t r, uint8_t b)
{
    const uint8_t *p = data;
    size_t i = 0;
    if (len >= 8) {
        uint64_t got;
        memcpy(&got, p, 8);
        if (got != r)
            return 0;
        i = 8;
    }
    uint8_t bad = 0;
    for (; i < len; i++)
        bad |= (uint8_t)(p[i] ^ b);
    return bad == 0;
}

static int ping_ctor(ea_actor_t *self, void *state)
{
    struct ping *s = state;
    s->c = ea_conn_at(self, 0);
    if (s->c == NULL)
        return EA_ERR_NOTFOUND;
    s->rounds = (uint64_t)ea_param_int(self, "rounds", 10000, NULL);
    s->size = (size_t)ea_param_int(self, "size", 16, NULL);
    if (s->rounds == 0 || s->size == 0 || s->size > ea_conn_max(s->c))
        return EA_ERR_INVAL;
    s->rtt = calloc(s->rounds, sizeof *s->rtt);
    return s->rtt ? EA_OK : EA_ERR_NOMEM;
}

static int send_round(struct ping *s)
{
    ea_cargo_t m;
    int rc = ea_cargo_alloc(s->c, s->size, &m);
    if (rc != EA_OK)
        return rc;
    /* The round trip includes writing and, below, checking every byte. */
    s->t_send = ea_now_ns();
    fill(m.data, m.len, s->done, (uint8_t)s->done);
    rc = ea_cargo_send(&m);
    if (rc != EA_OK)
        ea_cargo_release(&m);
    else
        s->waiting = 1;
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int finish(ea_actor_t *self, struct ping *s)
{
    uint64_t elapsed = ea_now_ns() - s->t_start;
    ea_cargo_t m;
    if (ea_cargo_alloc(s->c, 0, &m) == EA_OK && ea_cargo_send(&m) != EA_OK)
        ea_cargo_release(&m);
    qsort(s->rtt, s->done, sizeof *s->rtt, cmp_u64);
    uint64_t med = s->rtt[s->done / 2];
    uint64_t p99 = s->rtt[(s->done * 99) / 100 < s->done ? (s->done * 99) / 100 : s->done - 1];
    double secs = (double)elapsed / 1e9;
    const char *placement = ea_param(self, "placement");
    printf("pingpong: %llu round trips of %zu B in %.3f s: %.0f round trips/s, "
           "rtt median %llu ns, p99 %llu ns, %llu errors\n",
           (unsigned long long)s->done, s->size, secs, (double)s->done / secs,
           (unsigned long long)med, (unsigned long long)p99, (unsigned long long)s->errors);
    printf("pingpong-result placement=%s size=%zu rounds=%llu rtt_ns_median=%llu "
           "rtt_ns_p99=%llu msgs_per_s=%.0f errors=%llu\n",
           placement ? placement : "?", s->size, (unsigned long long)s->done,
           (unsigned long long)med, (unsigned long long)p99, 2.0 * (double)s->done / secs,
           (unsigned long long)s->errors);
    fflush(stdout);
    free(s->rtt);
    s->rtt = NULL;
    return s->errors ? EA_ERR_ACTOR : EA_DONE;
}

static int ping_body(ea_actor_t *self, void *state)
{
    struct ping *s = state;
    if (ea_stopping(self)) {
        free(s->rtt);
        s->rtt = NULL;
        return EA_DONE;
    }
    if (s->t_start == 0) {
        s->t_start = ea_now_ns();
        int rc = send_round(s);
        return rc == EA_OK ? EA_IDLE : rc == EA_ERR_NOBUFS ? EA_BUSY : rc;
    }
    for (;;) {
        if (!s->waiting) {
            int rc = send_round(s);
            if (rc == EA_ERR_NOBUFS || rc == EA_ERR_FULL)
                return EA_BUSY;
            if (rc != EA_OK)
                return rc;
        }
        ea_cargo_t m;
        int rc = ea_cargo_recv(s->c, &m);
        if (rc == EA_ERR_EMPTY)
            return EA_IDLE;
        if (rc != EA_OK)
            return rc;
        if (m.len != s->size || !check(m.data, m.len, s->done, (uint8_t)(s->done ^ 0x5a)))
            s->errors++;
        uint64_t now = ea_now_ns();
        ea_cargo_release(&m);
        s->rtt[s->done++] = now - s->t_send;
        s->waiting = 0;
        if (s->done == s->rounds)
            return finish(self, s);
    }
}

static int pong_ctor(ea_actor_t *self, void *state)
{
    struct pong *s = state;
    s->c = ea_conn_at(self, 0);
    return s->c ? EA_OK : EA_ERR_NOTFOUND;
}

static int pong_body(ea_actor_t *self, void *state)
{
    struct pong *s = state;
    if (ea_stopping(self))
        return EA_DONE;
    for (;;) {
        ea_cargo_t in, out;
        int rc = ea_cargo_recv(s->c, &in);
        if (rc == EA_ERR_EMPTY)
            return EA_IDLE;
        if (rc != EA_OK)
            return rc;
        if (in.len == 0) {
            ea_cargo_release(&in);
            if (s->errors)
                fprintf(stderr, "pong: %llu bad messages\n", (unsigned long long)s->errors);
            return s->errors ? EA_ERR_ACTOR : EA_DONE;
        }
        uint64_t r = 0;
        if (in.len >= 8)
            memcpy(&r, in.data, 8);
        else
            r = s->seen;
        if (!check(in.data, in.len, r, (uint8_t)r))
            s->errors++;
        size_t len = in.len;
        ea_cargo_release(&in);
        rc = ea_cargo_alloc(s->c, len, &out);
        if (rc != EA_OK)
            return rc;
        fill(out.data, out.len, r, (uint8_t)(r ^ 0x5a));
        rc = ea_cargo_send(&out);
        if (rc != EA_OK) {
            ea_cargo_release(&out);
            return rc;
        }
        s->seen++;
    }
}

EA_ACTOR(ping, struct ping, ping_ctor, ping_body);
EA_ACTOR(pong, struct pong, pong_ctor, pong_body);

/* The benchmark measures what protection costs: its channel may be plain
 * between enclaves when the deployment asks (protect="plain"). */
EA_CHANNEL_POLICY(.plain_ok = EA_CHANNELS("pp"));
