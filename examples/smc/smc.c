/*
 * smc: the secure sum of N mutually distrusting parties, each one enclave
 * instance of this image, arranged in a ring (channel ring<i> joins party i
 * to party i+1 mod N).
 *
 * A round: party 0 draws a fresh random mask m and sends m + x_0 to party 1;
 * party i adds its secret x_i and passes the sum on; when it comes back,
 * party 0 subtracts m and sends the result round the ring again, so that
 * every party gets it; the round ends when the result is back at party 0.
 * Every party sees only masked partial sums and the result; the host sees
 * only AEAD ciphertext (the channels are attested, see the policies at the
 * end). Arithmetic is on uint64_t: mod 2^64.
 *
 * Actor types:
 *   smc_party  one party. Parameters: index, parties, words, rounds,
 *              mode (static | dynamic), input (path of its sealed input),
 *              reveal (1: party 0 prints each round's result digest; only
 *              party 0's value matters), timeout_ms (party 0: a round that
 *              makes no progress for this long fails, naming the party
 *              that holds it; default 10000).
 *              Channels: ring<i> (to the next), ring<i-1> (from the
 *              previous), ack<i> (party 0 <-> party i, probes), and one
 *              to the system actor named by parameter sys (default "io":
 *              the sealed input, party 0's timer).
 *   smc_seal   seals one party's plaintext input once: parameters party,
 *              in, out, force (1: overwrite `out`; otherwise an existing
 *              `out` is an error). Deletes nothing. A channel to the
 *              system actor, as for smc_party.
 *
 * Built with -DSMC_INSECURE_CONTROL (the test-only image smc_control): no
 * mask, plain channels allowed, no peer checks: the scan test's control,
 * showing that the scanner finds inputs where nothing protects them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <eactors/ea_sys.h>
#include <eactors/ea_trust.h>
#include <eactors/eactors.h>

#include "../common/sys_file.h"
#include "smc.h"

/* Every party and the sealer: the channel whose peer is the system actor
 * named by parameter `sys` (default "io"). */
static int io_init(ea_actor_t *self, ea_sys_client_t *cl)
{
    const char *sys = ea_param(self, "sys");
    if (sys == NULL)
        sys = "io";
    for (unsigned i = 0; i < ea_conn_count(self); i++) {
        ea_conn_t *c = ea_conn_at(self, i);
        if (strcmp(ea_conn_peer(c), sys) == 0) {
            ea_sys_client_init(cl, c);
            return EA_OK;
        }
    }
    fprintf(stderr, "smc: %s: no channel to the system actor '%s'\n", ea_name(self), sys);
    return EA_ERR_NOTFOUND;
}

/* ----------------------------------------------------------------- seal */

struct sealer {
    ea_sys_client_t sys;
    struct fio f;
    int phase; /* 0 start, 1 reading, 2 writing */
    char party[SMC_NAME_MAX];
    uint8_t *sealed;
    uint32_t sealed_size;
    uint32_t words;
};

static int seal_ctor(ea_actor_t *self, void *state)
{
    struct sealer *s = state;
    const char *party = ea_param(self, "party");
    if (party == NULL || party[0] == '\0' || strlen(party) >= SMC_NAME_MAX ||
        ea_param(self, "in") == NULL || ea_param(self, "out") == NULL) {
        fprintf(stderr, "smc_seal: needs parameters party (1 to %d bytes), in and out\n",
                SMC_NAME_MAX - 1);
        return EA_ERR_INVAL;
    }
    snprintf(s->party, sizeof s->party, "%s", party);
    return io_init(self, &s->sys);
}

static int seal_now(struct sealer *s)
{
    if (s->f.size % 8 != 0 || s->f.size / 8 < SMC_MIN_WORDS || s->f.size / 8 > SMC_MAX_WORDS) {
        fprintf(stderr, "smc_seal: %s: %llu bytes is not %d to %d 64-bit words\n", s->f.path,
                (unsigned long long)s->f.size, SMC_MIN_WORDS, SMC_MAX_WORDS);
        return EA_ERR_INVAL;
    }
    s->words = (uint32_t)(s->f.size / 8);
    smc_aad_t aad;
    smc_aad_make(&aad, s->party, s->words);
    s->sealed_size = ea_calc_sealed_data_size(sizeof aad, (uint32_t)s->f.size);
    s->sealed = malloc(s->sealed_size);
    if (s->sealed == NULL)
        return EA_ERR_NOMEM;
    /* MRENCLAVE policy: only this exact image on this platform unseals it. */
    ea_attributes_t mask = {.flags = EA_FLAGS_INITTED | EA_FLAGS_DEBUG, .xfrm = 0};
    int rc = ea_seal_data_ex(EA_KEYPOLICY_MRENCLAVE, mask, 0, sizeof aad, (const uint8_t *)&aad,
                             (uint32_t)s->f.size, s->f.buf, s->sealed_size,
                             (ea_sealed_data_t *)(void *)s->sealed);
    memset(s->f.buf, 0, s->f.size); /* the plaintext leaves no copy here */
    free(s->f.buf);
    s->f.buf = NULL;
    if (rc != EA_OK)
        fprintf(stderr, "smc_seal: sealing failed: %s\n", ea_strerror(rc));
    return rc;
}

static int seal_body(ea_actor_t *self, void *state)
{
    struct sealer *s = state;
    if (ea_stopping(self))
        return EA_DONE;
    int rc;
    if (s->phase == 0) {
        s->phase = 1;
        fio_read(&s->f, &s->sys, ea_param(self, "in"), (uint64_t)SMC_MAX_WORDS * 8, 0);
    }
    ea_sys_event_t ev;
    while ((rc = ea_sys_recv(&s->sys, &ev)) != EA_ERR_EMPTY) {
        if (rc != EA_OK)
            return rc;
        fio_event(&s->f, &s->sys, &ev);
        ea_cargo_release(&ev.cargo);
    }
    fio_pending(&s->f, &s->sys);
    if (s->f.step == F_ERROR) {
        fprintf(stderr, "smc_seal: %s%s\n", s->f.err,
                strstr(s->f.err, " exists: ") ? " (force=1 to replace it)" : "");
        if (!s->f.writing)
            free(s->f.buf); /* a write's bytes are s->sealed */
        return EA_ERR_ACTOR;
    }
    if (s->f.step != F_DONE)
        return EA_IDLE;
    if (s->phase == 1) {
        if ((rc = seal_now(s)) != EA_OK)
            return rc;
        s->phase = 2;
        bool ok = true;
        long long force = ea_param_int(self, "force", 0, &ok);
        fio_write(&s->f, &s->sys, ea_param(self, "out"), s->sealed, s->sealed_size, force == 1);
        return EA_BUSY;
    }
    printf("smc-seal: party %s: %u words sealed into %s (%u bytes)\n", s->party, s->words,
           s->f.path, s->sealed_size);
    fflush(stdout);
    free(s->sealed);
    s->sealed = NULL;
    return EA_DONE;
}

EA_ACTOR(smc_seal, struct sealer, seal_ctor, seal_body);

/* ---------------------------------------------------------------- party */

struct party {
    ea_sys_client_t sys;
    struct fio f;
    ea_conn_t *prev, *next;
    ea_conn_t *ack[SMC_MAX_PARTIES]; /* party 0: ack[i] to party i; others: ack[0] */
    uint32_t idx, n, words;
    uint64_t rounds;
    int dynamic, reveal, ready;
    uint64_t *secret, *mask, *result;
    /* the round */
    uint64_t round;
    int phase;       /* SMC_PH_* of this party */
    ea_cargo_t held; /* a received message waiting for a free node */
    int holding;
    int start_pending; /* party 0: the next round is to be started */
    /* party 0: timing and the watch on progress */
    uint64_t t0, t_progress, timeout_ns, t_probe;
    int64_t timer_req;
    int probing;
    uint32_t answered; /* bit i: party i answered the probe */
    struct {
        uint64_t round;
        uint16_t phase;
    } status[SMC_MAX_PARTIES];
};

static const char *phase_name(int ph)
{
    switch (ph) {
    case SMC_PH_LOADING: return "loading its input";
    case SMC_PH_WAIT_SUM: return "waiting for the sum";
    case SMC_PH_WAIT_RESULT: return "waiting for the result";
    case SMC_PH_BLOCKED: return "blocked on a full channel";
    default: return "?";
    }
}

static ea_conn_t *conn_n(ea_actor_t *self, const char *kind, uint32_t i)
{
    char name[16];
    snprintf(name, sizeof name, "%s%u", kind, i);
    return ea_conn(self, name);
}

/* The peer at the other end of `c` must be an attested enclave running this
 * very image (MRENCLAVE), beyond what the image's trust policy checks. */
static int check_peer(ea_actor_t *self, ea_conn_t *c)
{
#ifdef SMC_INSECURE_CONTROL
    (void)self, (void)c;
    return EA_OK;
#else
    ea_target_info_t me;
    ea_dh_identity_t peer;
    int rc = ea_self_target(&me);
    if (rc == EA_OK)
        rc = ea_conn_peer_identity(c, &peer);
    if (rc != EA_OK) {
        fprintf(stderr, "smc: %s: channel '%s' to '%s' is not attested (%s): refused\n",
                ea_name(self), ea_conn_name(c), ea_conn_peer(c), ea_strerror(rc));
        return EA_ERR_POLICY;
    }
    if (memcmp(peer.mr_enclave, me.mr_enclave, sizeof me.mr_enclave) != 0) {
        fprintf(stderr,
                "smc: %s: peer '%s' on channel '%s' runs another image (MRENCLAVE "
                "%02x%02x%02x%02x..., mine %02x%02x%02x%02x...): refused\n",
                ea_name(self), ea_conn_peer(c), ea_conn_name(c), peer.mr_enclave[0],
                peer.mr_enclave[1], peer.mr_enclave[2], peer.mr_enclave[3], me.mr_enclave[0],
                me.mr_enclave[1], me.mr_enclave[2], me.mr_enclave[3]);
        return EA_ERR_POLICY;
    }
    return EA_OK;
#endif
}

static int party_ctor(ea_actor_t *self, void *state)
{
    struct party *s = state;
    bool ok1 = true, ok2 = true, ok3 = true, ok4 = true, ok5 = true;
    long long idx = ea_param_int(self, "index", -1, &ok1);
    long long n = ea_param_int(self, "parties", -1, &ok2);
    long long words = ea_param_int(self, "words", -1, &ok3);
    long long rounds = ea_param_int(self, "rounds", 1, &ok4);
    long long tmo = ea_param_int(self, "timeout_ms", 10000, &ok5);
    const char *mode = ea_param(self, "mode");
    if (!ok1 || !ok2 || !ok3 || !ok4 || !ok5 || n < SMC_MIN_PARTIES || n > SMC_MAX_PARTIES ||
        idx < 0 || idx >= n || words < SMC_MIN_WORDS || words > SMC_MAX_WORDS || rounds < 1 ||
        tmo < 1 || ea_param(self, "input") == NULL ||
        (mode != NULL && strcmp(mode, "static") != 0 && strcmp(mode, "dynamic") != 0)) {
        fprintf(stderr,
                "smc: %s: bad parameters: need index (0..parties-1), parties (%d..%d), words "
                "(%d..%d), input, rounds >= 1, mode static|dynamic, timeout_ms >= 1\n",
                ea_name(self), SMC_MIN_PARTIES, SMC_MAX_PARTIES, SMC_MIN_WORDS, SMC_MAX_WORDS);
        return EA_ERR_INVAL;
    }
    s->idx = (uint32_t)idx;
    s->n = (uint32_t)n;
    s->words = (uint32_t)words;
    s->rounds = (uint64_t)rounds;
    s->dynamic = mode != NULL && strcmp(mode, "dynamic") == 0;
    s->reveal = ea_param_int(self, "reveal", 0, NULL) == 1;
    s->timeout_ns = (uint64_t)tmo * 1000000ull;
    s->next = conn_n(self, "ring", s->idx);
    s->prev = conn_n(self, "ring", (s->idx + s->n - 1) % s->n);
    if (s->next == NULL || s->prev == NULL) {
        fprintf(stderr, "smc: %s: needs channels ring%u and ring%u\n", ea_name(self), s->idx,
                (s->idx + s->n - 1) % s->n);
        return EA_ERR_NOTFOUND;
    }
    size_t need = sizeof(smc_msg_t) + (size_t)s->words * 8;
    if (ea_conn_max(s->next) < need || ea_conn_max(s->prev) < need) {
        fprintf(stderr, "smc: %s: ring channels must carry %zu bytes\n", ea_name(self), need);
        return EA_ERR_INVAL;
    }
    int rc;
    if ((rc = check_peer(self, s->next)) != EA_OK || (rc = check_peer(self, s->prev)) != EA_OK)
        return rc;
    for (uint32_t i = s->idx == 0 ? 1 : s->idx; i < (s->idx == 0 ? s->n : s->idx + 1); i++) {
        ea_conn_t *c = conn_n(self, "ack", i);
        if (c == NULL) {
            fprintf(stderr, "smc: %s: needs channel ack%u\n", ea_name(self), i);
            return EA_ERR_NOTFOUND;
        }
        if ((rc = check_peer(self, c)) != EA_OK)
            return rc;
        s->ack[s->idx == 0 ? i : 0] = c;
    }
    s->secret = calloc(s->words, 8);
    s->result = calloc(s->words, 8);
    s->mask = s->idx == 0 ? calloc(s->words, 8) : NULL;
    if (s->secret == NULL || s->result == NULL || (s->idx == 0 && s->mask == NULL))
        return EA_ERR_NOMEM;
    s->phase = SMC_PH_LOADING;
    if ((rc = io_init(self, &s->sys)) != EA_OK)
        return rc;
    fio_read(&s->f, &s->sys, ea_param(self, "input"), (uint64_t)SMC_MAX_WORDS * 8 + 4096, 0);
    return EA_OK;
}

static void party_free(struct party *s)
{
    if (s->secret)
        memset(s->secret, 0, (size_t)s->words * 8);
    if (s->mask)
        memset(s->mask, 0, (size_t)s->words * 8);
    free(s->secret);
    free(s->mask);
    free(s->result);
    free(s->f.buf);
    s->secret = s->mask = s->result = NULL;
    s->f.buf = NULL;
    if (s->holding)
        ea_cargo_release(&s->held);
    s->holding = 0;
}

/* Unseals the input just read: this image (MRENCLAVE), this party's name,
 * this length, or it is refused. */
static int unseal_input(ea_actor_t *self, struct party *s)
{
    smc_aad_t want, got;
    smc_aad_make(&want, ea_name(self), s->words);
    uint32_t aad_len = sizeof got, txt_len = s->words * 8;
    const ea_sealed_data_t *blob = (const ea_sealed_data_t *)(const void *)s->f.buf;
    int rc = EA_ERR_AUTH;
    if (s->f.size <= UINT32_MAX)
        rc = ea_unseal_data_ex(blob, (uint32_t)s->f.size, (uint8_t *)&got, &aad_len,
                               (uint8_t *)s->secret, &txt_len);
    free(s->f.buf);
    s->f.buf = NULL;
    if (rc == EA_OK &&
        (aad_len != sizeof got || memcmp(&got, &want, sizeof got) != 0 || txt_len != s->words * 8))
        rc = EA_ERR_AUTH;
    if (rc != EA_OK) {
        memset(s->secret, 0, (size_t)s->words * 8);
        fprintf(stderr,
                "smc: %s: sealed input %s refused (%s): it must be sealed by this image for "
                "party '%s' with %u words\n",
                ea_name(self), s->f.path, ea_strerror(rc), ea_name(self), s->words);
        return EA_ERR_AUTH;
    }
    return EA_OK;
}

static void progress(struct party *s)
{
    s->t_progress = ea_now_ns();
    s->probing = 0;
}

/* out = in + x_r (party i > 0), mod 2^64. */
static void add_secret(const struct party *s, uint64_t *restrict out, const uint64_t *restrict in)
{
    const uint64_t *restrict x = s->secret;
    uint32_t n = s->words;
    if (s->dynamic) {
        uint64_t k = smc_dyn_mul(s->round), r = s->round;
        for (uint32_t j = 0; j < n; j++)
            out[j] = in[j] + x[j] * k + r;
    } else {
        for (uint32_t j = 0; j < n; j++)
            out[j] = in[j] + x[j];
    }
}

static int fill_random(uint64_t *v, size_t words)
{
#ifdef SMC_INSECURE_CONTROL
    memset(v, 0, words * 8); /* the control has no mask */
    return EA_OK;
#else
    uint8_t *p = (uint8_t *)v;
    size_t left = words * 8;
    while (left > 0) {
        ssize_t got = getrandom(p, left, 0);
        if (got <= 0)
            return EA_ERR_SYS;
        p += got;
        left -= (size_t)got;
    }
    return EA_OK;
#endif
}

static void hdr(void *data, uint16_t kind, uint64_t round, uint32_t words, uint32_t from)
{
    smc_msg_t h = {.magic = SMC_MAGIC, .kind = kind, .round = round, .words = words, .from = from};
    memcpy(data, &h, sizeof h);
}

/* Party 0 starts round s->round: m + x_0. */
static int start_round(struct party *s)
{
    ea_cargo_t out;
    int rc = ea_cargo_alloc(s->next, sizeof(smc_msg_t) + (size_t)s->words * 8, &out);
    if (rc != EA_OK)
        return rc;
    if ((rc = fill_random(s->mask, s->words)) != EA_OK) {
        ea_cargo_release(&out);
        return rc;
    }
    hdr(out.data, SMC_SUM, s->round, s->words, 0);
    add_secret(s, (uint64_t *)(void *)((uint8_t *)out.data + sizeof(smc_msg_t)), s->mask);
    if ((rc = ea_cargo_send(&out)) != EA_OK) {
        ea_cargo_release(&out);
        return rc;
    }
    s->phase = SMC_PH_WAIT_SUM; /* party 0: waiting for the sum to come back */
    return EA_OK;
}

/* Checks a ring message; fills *h. */
static int ring_msg_ok(const struct party *s, const ea_cargo_t *m, smc_msg_t *h)
{
    if (m->len < sizeof *h)
        return 0;
    memcpy(h, m->data, sizeof *h);
    return h->magic == SMC_MAGIC && h->words == s->words &&
           m->len == sizeof *h + (size_t)s->words * 8 && h->round == s->round &&
           (h->kind == SMC_SUM || h->kind == SMC_RESULT);
}

static void print_result(ea_actor_t *self, const struct party *s)
{
    printf("smc-result party=%s round=%llu parties=%u words=%u mode=%s digest=%016llx "
           "first=%llu last=%llu\n",
           ea_name(self), (unsigned long long)s->round, s->n, s->words,
           s->dynamic ? "dynamic" : "static", (unsigned long long)smc_digest(s->result, s->words),
           (unsigned long long)s->result[0], (unsigned long long)s->result[s->words - 1]);
}

/* Handles one ring message (party 0 or another); takes the cargo. Returns
 * EA_OK, EA_DONE (this party has finished), EA_ERR_NOBUFS (the cargo is
 * held for later) or an error. */
static int ring_step(ea_actor_t *self, struct party *s, ea_cargo_t *in)
{
    smc_msg_t h;
    if (!ring_msg_ok(s, in, &h)) {
        fprintf(stderr, "smc: %s: unexpected message on '%s' in round %llu: refused\n",
                ea_name(self), ea_conn_name(s->prev), (unsigned long long)s->round);
        ea_cargo_release(in);
        return EA_ERR_ACTOR;
    }
    const uint64_t *v = (const uint64_t *)(const void *)((const uint8_t *)in->data + sizeof h);
    if (s->idx == 0 && h.kind == SMC_SUM && s->phase == SMC_PH_WAIT_SUM) {
        /* The sum is back: remove the mask, send the result round. */
        ea_cargo_t out;
        int rc = ea_cargo_alloc(s->next, sizeof h + (size_t)s->words * 8, &out);
        if (rc != EA_OK)
            return rc; /* keep `in`; try again when a node is free */
        hdr(out.data, SMC_RESULT, s->round, s->words, 0);
        uint64_t *o = (uint64_t *)(void *)((uint8_t *)out.data + sizeof h);
        for (uint32_t j = 0; j < s->words; j++)
            o[j] = s->result[j] = v[j] - s->mask[j];
        ea_cargo_release(in);
        if ((rc = ea_cargo_send(&out)) != EA_OK) {
            ea_cargo_release(&out);
            return rc;
        }
        s->phase = SMC_PH_WAIT_RESULT;
        return EA_OK;
    }
    if (s->idx == 0 && h.kind == SMC_RESULT && s->phase == SMC_PH_WAIT_RESULT) {
        /* Every party has the result: the round is over. */
        ea_cargo_release(in);
        if (s->reveal)
            print_result(self, s);
        else if (s->round == 0)
            printf("smc-running: %s: round 0 done (%u parties, %u words)\n", ea_name(self), s->n,
                   s->words);
        if (s->reveal || s->round == 0)
            fflush(stdout);
        s->round++;
        if (s->round == s->rounds)
            return EA_DONE;
        s->start_pending = 1;
        return EA_OK;
    }
    if (s->idx != 0 && ((h.kind == SMC_SUM && s->phase == SMC_PH_WAIT_SUM) ||
                        (h.kind == SMC_RESULT && s->phase == SMC_PH_WAIT_RESULT))) {
        ea_cargo_t out;
        int rc = ea_cargo_alloc(s->next, in->len, &out);
        if (rc != EA_OK)
            return rc; /* keep `in`; try again when a node is free */
        hdr(out.data, h.kind, s->round, s->words, s->idx);
        uint64_t *o = (uint64_t *)(void *)((uint8_t *)out.data + sizeof h);
        if (h.kind == SMC_SUM) {
            add_secret(s, o, v);
        } else {
            memcpy(s->result, v, (size_t)s->words * 8);
            memcpy(o, v, (size_t)s->words * 8);
        }
        ea_cargo_release(in);
        if ((rc = ea_cargo_send(&out)) != EA_OK) {
            ea_cargo_release(&out);
            return rc;
        }
        if (h.kind == SMC_SUM) {
            s->phase = SMC_PH_WAIT_RESULT;
            return EA_OK;
        }
        s->round++;
        s->phase = SMC_PH_WAIT_SUM;
        return s->round == s->rounds ? EA_DONE : EA_OK;
    }
    fprintf(stderr, "smc: %s: %s of round %llu out of turn (%s): refused\n", ea_name(self),
            h.kind == SMC_SUM ? "sum" : "result", (unsigned long long)h.round,
            phase_name(s->phase));
    ea_cargo_release(in);
    return EA_ERR_ACTOR;
}

/* Control messages on the ack channels: party 0 reads answers, the others
 * answer probes. */
static int ctl_step(ea_actor_t *self, struct party *s)
{
    uint32_t lo = s->idx == 0 ? 1 : 0, hi = s->idx == 0 ? s->n : 1;
    for (uint32_t i = lo; i < hi; i++) {
        ea_cargo_t m;
        int rc;
        while ((rc = ea_cargo_recv(s->ack[i], &m)) == EA_OK) {
            smc_msg_t h;
            int good = m.len == sizeof h;
            if (good)
                memcpy(&h, m.data, sizeof h);
            ea_cargo_release(&m);
            if (!good || h.magic != SMC_MAGIC) {
                fprintf(stderr, "smc: %s: bad message on '%s'\n", ea_name(self),
                        ea_conn_name(s->ack[i]));
                return EA_ERR_ACTOR;
            }
            if (s->idx == 0 && h.kind == SMC_STATUS && h.from == i && s->probing) {
                s->answered |= 1u << i;
                s->status[i].round = h.round;
                s->status[i].phase = h.phase;
            } else if (s->idx != 0 && h.kind == SMC_PROBE) {
                ea_cargo_t a;
                if (ea_cargo_alloc(s->ack[0], sizeof h, &a) == EA_OK) {
                    smc_msg_t r = {.magic = SMC_MAGIC,
                                   .kind = SMC_STATUS,
                                   .phase = (uint16_t)(s->holding ? SMC_PH_BLOCKED : s->phase),
                                   .round = s->round,
                                   .from = s->idx};
                    memcpy(a.data, &r, sizeof r);
                    if (ea_cargo_send(&a) != EA_OK)
                        ea_cargo_release(&a);
                }
            }
        }
        if (rc != EA_ERR_EMPTY)
            return rc;
    }
    return EA_OK;
}

/* Party 0, on each timer tick: a round without progress for timeout_ms is
 * probed; the probe's answers (or their absence) name who holds it. */
static int watch(ea_actor_t *self, struct party *s)
{
    uint64_t now = ea_now_ns();
    if (!s->probing) {
        if (now - s->t_progress < s->timeout_ns)
            return EA_OK;
        s->probing = 1;
        s->t_probe = now;
        s->answered = 0;
        for (uint32_t i = 1; i < s->n; i++) {
            ea_cargo_t m;
            if (ea_cargo_alloc(s->ack[i], sizeof(smc_msg_t), &m) != EA_OK)
                continue; /* no answer will come: it is named below */
            hdr(m.data, SMC_PROBE, s->round, 0, 0);
            if (ea_cargo_send(&m) != EA_OK)
                ea_cargo_release(&m);
        }
        return EA_OK;
    }
    uint64_t wait = s->timeout_ns / 4 < 500000000ull ? s->timeout_ns / 4 : 500000000ull;
    if (now - s->t_probe < wait)
        return EA_OK;
    /* The first party in ring order that did not answer, or that answered
     * but still holds the round, is the one to name. */
    char names[SMC_MAX_PARTIES * 40] = "";
    const char *why = NULL;
    uint32_t culprit = 0;
    for (uint32_t i = 1; i < s->n; i++) {
        if (!(s->answered & (1u << i))) {
            size_t l = strlen(names);
            snprintf(names + l, sizeof names - l, "%s'%s'", l ? ", " : "", ea_conn_peer(s->ack[i]));
            if (culprit == 0) {
                culprit = i;
                why = "did not answer (stopped, ended or stuck)";
            }
        }
    }
    if (culprit == 0) {
        /* All alive: the round is held by the first party still waiting for
         * the sum (the one before it never sent it), or one that is
         * loading or blocked. */
        for (uint32_t i = 1; i < s->n && culprit == 0; i++)
            if (s->status[i].round == s->round && s->status[i].phase != SMC_PH_WAIT_RESULT &&
                s->status[i].phase != SMC_PH_WAIT_SUM) {
                culprit = i;
                why = phase_name(s->status[i].phase);
            }
        if (culprit == 0) {
            fprintf(stderr,
                    "smc: %s: round %llu made no progress for %llu ms although every party "
                    "answered: a message was lost in the host\n",
                    ea_name(self), (unsigned long long)s->round,
                    (unsigned long long)((now - s->t_progress) / 1000000ull));
            return EA_ERR_ACTOR;
        }
        snprintf(names, sizeof names, "'%s'", ea_conn_peer(s->ack[culprit]));
    }
    fprintf(stderr,
            "smc: %s: round %llu failed: no progress for %llu ms; party '%s' %s "
            "(%s: %s)\n",
            ea_name(self), (unsigned long long)s->round,
            (unsigned long long)((now - s->t_progress) / 1000000ull), ea_conn_peer(s->ack[culprit]),
            why, s->answered == ((1u << s->n) - 2u) ? "every party answered" : "no answer from",
            s->answered == ((1u << s->n) - 2u) ? "yes" : names);
    return EA_ERR_ACTOR;
}

static int finish0(ea_actor_t *self, struct party *s)
{
    double secs = (double)(ea_now_ns() - s->t0) / 1e9;
    double rps = secs > 0 ? (double)s->rounds / secs : 0;
    printf("smc-done parties=%u words=%u rounds=%llu mode=%s secs=%.4f rounds_per_s=%.1f "
           "mb_per_s=%.2f\n",
           s->n, s->words, (unsigned long long)s->rounds, s->dynamic ? "dynamic" : "static", secs,
           rps, rps * s->n * s->words * 8.0 / 1e6);
    fflush(stdout);
    (void)self;
    return EA_DONE;
}

static int party_body(ea_actor_t *self, void *state)
{
    struct party *s = state;
    if (ea_stopping(self)) {
        if (s->idx == 0 && s->round < s->rounds && s->ready)
            fprintf(stderr, "smc: %s: round %llu of %llu not finished: the run stopped\n",
                    ea_name(self), (unsigned long long)s->round, (unsigned long long)s->rounds);
        party_free(s);
        return EA_DONE;
    }
    int rc;
    /* The system actor: our input, party 0's timer. */
    ea_sys_event_t ev;
    int tick = 0;
    while ((rc = ea_sys_recv(&s->sys, &ev)) != EA_ERR_EMPTY) {
        if (rc != EA_OK)
            return rc;
        if (ev.msg.op == EA_TIMER_FIRE)
            tick = 1;
        else if (s->timer_req != 0 && (int64_t)ev.msg.req_id == s->timer_req && ev.msg.status < 0)
            fprintf(stderr, "smc: %s: no timer (%s): rounds are not watched\n", ea_name(self),
                    ea_sys_strstatus(ev.msg.status));
        else
            fio_event(&s->f, &s->sys, &ev);
        ea_cargo_release(&ev.cargo);
    }
    if ((rc = ctl_step(self, s)) != EA_OK)
        return rc;
    if (tick && s->idx == 0 && (rc = watch(self, s)) != EA_OK) {
        party_free(s);
        return rc;
    }
    if (!s->ready) {
        fio_pending(&s->f, &s->sys);
        if (s->f.step == F_ERROR) {
            fprintf(stderr, "smc: %s: input: %s\n", ea_name(self), s->f.err);
            return EA_ERR_ACTOR;
        }
        if (s->f.step != F_DONE)
            return EA_IDLE;
        if ((rc = unseal_input(self, s)) != EA_OK)
            return rc;
        s->ready = 1;
        s->phase = SMC_PH_WAIT_SUM;
        if (s->idx == 0) {
            s->timer_req = ea_timer_set(&s->sys, 100000000ull, 100);
            if (s->timer_req < 0)
                fprintf(stderr, "smc: %s: no timer: rounds are not watched\n", ea_name(self));
            s->t0 = ea_now_ns();
            progress(s);
            s->start_pending = 1;
        }
    }
    for (;;) {
        if (s->start_pending) {
            rc = start_round(s);
            if (rc == EA_ERR_NOBUFS)
                return EA_IDLE; /* the peer's release wakes us */
            if (rc != EA_OK)
                return rc;
            s->start_pending = 0;
        }
        ea_cargo_t in;
        if (s->holding) {
            in = s->held;
            s->holding = 0;
        } else {
            rc = ea_cargo_recv(s->prev, &in);
            if (rc == EA_ERR_EMPTY)
                return EA_IDLE;
            if (rc != EA_OK)
                return rc;
        }
        progress(s);
        rc = ring_step(self, s, &in);
        if (rc == EA_ERR_NOBUFS) {
            s->held = in;
            s->holding = 1;
            return EA_IDLE; /* the peer's release wakes us */
        }
        if (rc == EA_DONE) {
            if (s->idx == 0)
                finish0(self, s);
            party_free(s);
            return EA_DONE;
        }
        if (rc != EA_OK)
            return rc;
    }
}

EA_ACTOR(smc_party, struct party, party_ctor, party_body);

/* ------------------------------------------------------------- policies */

/* Peers: signed by our signer, with our product id (the CMake function
 * signs with PRODID 14); party_ctor also demands our exact MRENCLAVE. */
EA_TRUST_POLICY(.require = EA_REQUIRE_SAME_SIGNER | EA_REQUIRE_PRODID, .isv_prod_id = 14);

#define SMC_RING_NAMES                                                                        \
    "ring0", "ring1", "ring2", "ring3", "ring4", "ring5", "ring6", "ring7", "ring8", "ring9", \
        "ring10", "ring11", "ring12", "ring13", "ring14", "ring15"
#define SMC_ACK_NAMES                                                                         \
    "ack1", "ack2", "ack3", "ack4", "ack5", "ack6", "ack7", "ack8", "ack9", "ack10", "ack11", \
        "ack12", "ack13", "ack14", "ack15"
#ifdef SMC_INSECURE_CONTROL
EA_CHANNEL_POLICY(.plain_ok = EA_CHANNELS(SMC_RING_NAMES, SMC_ACK_NAMES));
#else
/* Never plain, never to the host, whatever the deployment says. */
EA_CHANNEL_POLICY(.attested = EA_CHANNELS(SMC_RING_NAMES, SMC_ACK_NAMES));
#endif
