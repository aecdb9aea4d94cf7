/*
 * Producer, consumer and checks of the queue stress tests (see
 * stress_common.h).
 *
 * What is checked. Each message is (producer id, sequence number). A
 * consumer increments seen[producer][seq] atomically and fails if it was not
 * zero (duplicate); at the end every counter must be exactly one (nothing
 * lost). Each consumer also checks that every producer's sequence numbers it
 * receives strictly increase: a producer's pushes take increasing mbox
 * positions and one consumer's pops take increasing positions, so the mbox
 * promises this. The pool must be full and the mbox empty at the end.
 *
 * The payload is written and read with plain accesses on purpose: the only
 * thing ordering the producer's writes before the consumer's reads, and the
 * consumer's reads before the next producer's writes, is the queue layer's
 * own synchronisation, which ThreadSanitizer then checks. The consumer
 * poisons the payload before returning the node, so a node owned twice
 * shows up as a bad payload.
 *
 * Nothing depends on timing: back-pressure (NOBUFS, FULL) and the contention
 * bound (BUSY) only make the caller yield and retry, and consumers stop when
 * the shared count of consumed messages reaches the total.
 */
#include "stress_common.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef EA_SANITIZED
#define DEFAULT_MESSAGES 100000u
#else
#define DEFAULT_MESSAGES 200000u
#endif

#define POISON 0xdeaddeadu

/* Start of the shared region: counters every party updates. */
struct stress_hdr {
    atomic_int abort;     /* set once by whoever fails first */
    atomic_uint consumed; /* messages popped so far, all consumers */
    atomic_ulong nobufs;  /* producer retries because the pool was empty */
    atomic_ulong full;    /* producer retries because the mbox was full */
    atomic_ulong busy;    /* any party's retries after EA_ERR_BUSY */
};

/* What one consumer saw of one producer. Written only by that consumer,
 * read by the checker after join or waitpid. */
struct stress_rec {
    uint32_t count;
    uint32_t next_min; /* smallest sequence number still allowed */
};

/* Message layout in the node payload. */
struct stress_msg {
    uint32_t producer;
    uint32_t seq;
    uint32_t check;
};

static size_t round64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

struct layout {
    size_t pool, mbox, seen, rec, total;
};

static struct layout layout_of(const struct stress_params *prm)
{
    struct layout l;
    l.pool = round64(sizeof(struct stress_hdr));
    l.mbox =
        l.pool + ea_pool_footprint(prm->pool_count, ea_node_size_for(sizeof(struct stress_msg)));
    l.seen = l.mbox + ea_mbox_footprint(prm->mbox_cap);
    l.rec = l.seen + round64((size_t)prm->producers * prm->messages);
    l.total = l.rec + round64((size_t)prm->consumers * prm->producers * sizeof(struct stress_rec));
    return l;
}

static uint32_t check_of(uint32_t producer, uint32_t seq)
{
    return (producer * 0x9e3779b9u) ^ seq ^ 0x5bd1e995u;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

/* Varies the interleavings: now and then a short spin or a yield. */
static void jitter(uint64_t *s)
{
    uint64_t r = rng_next(s);
    if ((r & 255) == 0) {
        sched_yield();
    } else if ((r & 15) == 0) {
        for (volatile uint32_t i = 0; i < (uint32_t)(r >> 59); i++)
            continue;
    }
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0' || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int stress_parse(int argc, char **argv, struct stress_params *prm)
{
    uint32_t seed = 0;
    prm->producers = 4;
    prm->consumers = 4;
    prm->messages = DEFAULT_MESSAGES;
    prm->pool_count = 64;
    prm->mbox_cap = 64;
    int opt, bad = 0;
    while ((opt = getopt(argc, argv, "p:c:n:s:N:m:")) != -1) {
        switch (opt) {
        case 'p': bad |= parse_u32(optarg, &prm->producers); break;
        case 'c': bad |= parse_u32(optarg, &prm->consumers); break;
        case 'n': bad |= parse_u32(optarg, &prm->messages); break;
        case 's': bad |= parse_u32(optarg, &seed); break;
        case 'N': bad |= parse_u32(optarg, &prm->pool_count); break;
        case 'm': bad |= parse_u32(optarg, &prm->mbox_cap); break;
        default: bad = -1; break;
        }
    }
    if (bad || optind != argc || prm->producers == 0 || prm->consumers == 0 ||
        prm->producers > 256 || prm->consumers > 256 || prm->messages == 0 ||
        (uint64_t)prm->producers * prm->messages > UINT32_MAX ||
        ea_pool_footprint(prm->pool_count, 64) == 0 || ea_mbox_footprint(prm->mbox_cap) == 0) {
        fprintf(stderr,
                "usage: %s [-p producers] [-c consumers] [-n messages per producer] "
                "[-s seed] [-N pool nodes] [-m mbox capacity (power of two)]\n",
                argv[0]);
        return -1;
    }
    prm->seed = seed != 0 ? seed : (uint64_t)time(NULL);
    printf("%s: producers=%" PRIu32 " consumers=%" PRIu32 " messages/producer=%" PRIu32
           " seed=%" PRIu64 " pool=%" PRIu32 " mbox=%" PRIu32 "\n",
           argv[0], prm->producers, prm->consumers, prm->messages, prm->seed, prm->pool_count,
           prm->mbox_cap);
    fflush(stdout);
    return 0;
}

size_t stress_region_size(const struct stress_params *prm)
{
    return layout_of(prm).total;
}

int stress_attach(struct stress_ctx *ctx, void *base, const struct stress_params *prm)
{
    struct layout l = layout_of(prm);
    uint8_t *b = base;
    ctx->prm = *prm;
    ctx->hdr = base;
    ctx->seen = (_Atomic unsigned char *)(b + l.seen);
    ctx->rec = (struct stress_rec *)(b + l.rec);
    if (ea_pool_attach(&ctx->pool, b + l.pool, prm->pool_count,
                       ea_node_size_for(sizeof(struct stress_msg))) != EA_OK ||
        ea_mbox_attach(&ctx->mbox, b + l.mbox, prm->mbox_cap) != EA_OK) {
        fprintf(stderr, "attach failed\n");
        return -1;
    }
    return 0;
}

int stress_init(struct stress_ctx *ctx, void *base, const struct stress_params *prm)
{
    struct layout l = layout_of(prm);
    memset(base, 0, l.total);
    if (stress_attach(ctx, base, prm) != 0)
        return -1;
    atomic_init(&ctx->hdr->abort, 0);
    atomic_init(&ctx->hdr->consumed, 0);
    atomic_init(&ctx->hdr->nobufs, 0);
    atomic_init(&ctx->hdr->full, 0);
    atomic_init(&ctx->hdr->busy, 0);
    for (size_t i = 0; i < (size_t)prm->producers * prm->messages; i++)
        atomic_init(&ctx->seen[i], 0);
    if (ea_pool_init(&ctx->pool, (uint8_t *)base + l.pool, prm->pool_count,
                     ea_node_size_for(sizeof(struct stress_msg))) != EA_OK ||
        ea_mbox_init(&ctx->mbox, (uint8_t *)base + l.mbox, prm->mbox_cap) != EA_OK) {
        fprintf(stderr, "init failed\n");
        return -1;
    }
    return 0;
}

int stress_pin(uint32_t n)
{
    cpu_set_t avail, one;
    if (sched_getaffinity(0, sizeof avail, &avail) != 0) {
        perror("sched_getaffinity");
        return -1;
    }
    int ncpu = CPU_COUNT(&avail);
    if (ncpu <= 0)
        return -1;
    int want = (int)(n % (uint32_t)ncpu), cpu = 0;
    for (int seen = -1; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &avail) && ++seen == want)
            break;
    }
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof one, &one);
    /* EINVAL: the CPU went away since sched_getaffinity; run unpinned. */
    if (rc != 0 && rc != EINVAL) {
        fprintf(stderr, "pthread_setaffinity_np(cpu %d): %s\n", cpu, strerror(rc));
        return -1;
    }
    return 0;
}

void stress_abort(struct stress_ctx *ctx)
{
    /* Relaxed: a stop hint; results are read after join or waitpid. */
    atomic_store_explicit(&ctx->hdr->abort, 1, memory_order_relaxed);
}

static int aborted(struct stress_ctx *ctx)
{
    return atomic_load_explicit(&ctx->hdr->abort, memory_order_relaxed);
}

static int fail(struct stress_ctx *ctx, const char *who, uint32_t id, const char *what, int rc)
{
    fprintf(stderr, "%s %" PRIu32 ": %s (%s)\n", who, id, what, ea_strerror(rc));
    stress_abort(ctx);
    return -1;
}

int stress_produce(struct stress_ctx *ctx, uint32_t id)
{
    uint64_t rng = ctx->prm.seed * 2 + id + 1;
    for (uint32_t seq = 0; seq < ctx->prm.messages; seq++) {
        uint32_t idx;
        int rc;
        while ((rc = ea_pool_get(&ctx->pool, &idx)) != EA_OK) {
            if (rc != EA_ERR_NOBUFS && rc != EA_ERR_BUSY)
                return fail(ctx, "producer", id, "pool get", rc);
            if (aborted(ctx))
                return -1;
            /* Relaxed: statistics only. */
            atomic_fetch_add_explicit(rc == EA_ERR_BUSY ? &ctx->hdr->busy : &ctx->hdr->nobufs, 1,
                                      memory_order_relaxed);
            sched_yield();
        }
        if (idx >= ctx->prm.pool_count)
            return fail(ctx, "producer", id, "pool index out of range", EA_ERR_CORRUPT);
        ea_node_hdr_t *node = ea_pool_node(&ctx->pool, idx);
        struct stress_msg *msg = (struct stress_msg *)((uint8_t *)node + EA_NODE_HDR_SIZE);
        node->len = sizeof *msg;
        msg->producer = id;
        msg->seq = seq;
        msg->check = check_of(id, seq);
        jitter(&rng);
        while ((rc = ea_mbox_try_push(&ctx->mbox, idx)) != EA_OK) {
            if (rc != EA_ERR_FULL && rc != EA_ERR_BUSY)
                return fail(ctx, "producer", id, "mbox push", rc);
            if (aborted(ctx))
                return -1;
            /* Relaxed: statistics only. */
            atomic_fetch_add_explicit(rc == EA_ERR_BUSY ? &ctx->hdr->busy : &ctx->hdr->full, 1,
                                      memory_order_relaxed);
            sched_yield();
        }
        jitter(&rng);
    }
    return 0;
}

int stress_consume(struct stress_ctx *ctx, uint32_t id)
{
    const struct stress_params *prm = &ctx->prm;
    const uint32_t total = prm->producers * prm->messages;
    struct stress_rec *rec = &ctx->rec[(size_t)id * prm->producers];
    uint64_t rng = ctx->prm.seed * 2 + 1000003u * (id + 1);
    for (;;) {
        uint32_t idx;
        int rc = ea_mbox_try_pop(&ctx->mbox, &idx);
        if (rc == EA_ERR_EMPTY || rc == EA_ERR_BUSY) {
            /* Relaxed: every message was popped once the count reaches the
             * total; the data itself came through the mbox. */
            if (atomic_load_explicit(&ctx->hdr->consumed, memory_order_relaxed) == total)
                return 0;
            if (aborted(ctx))
                return -1;
            if (rc == EA_ERR_BUSY)
                atomic_fetch_add_explicit(&ctx->hdr->busy, 1, memory_order_relaxed);
            sched_yield();
            continue;
        }
        if (rc != EA_OK)
            return fail(ctx, "consumer", id, "mbox pop", rc);
        ea_node_hdr_t *node = ea_pool_node(&ctx->pool, idx);
        if (node == NULL)
            return fail(ctx, "consumer", id, "popped index out of range", EA_ERR_CORRUPT);
        struct stress_msg *msg = (struct stress_msg *)((uint8_t *)node + EA_NODE_HDR_SIZE);
        uint32_t p = msg->producer, seq = msg->seq;
        if (node->len != sizeof *msg || p >= prm->producers || seq >= prm->messages ||
            msg->check != check_of(p, seq))
            return fail(ctx, "consumer", id, "bad payload (node owned twice?)", EA_ERR_CORRUPT);
        if (seq < rec[p].next_min) {
            fprintf(stderr,
                    "consumer %" PRIu32 ": producer %" PRIu32 " seq %" PRIu32 " after %" PRIu32
                    ": FIFO order broken\n",
                    id, p, seq, rec[p].next_min - 1);
            stress_abort(ctx);
            return -1;
        }
        rec[p].next_min = seq + 1;
        rec[p].count++;
        /* Relaxed: the counter is checked after join or waitpid, which
         * order it; atomicity alone detects a duplicate here. */
        if (atomic_fetch_add_explicit(&ctx->seen[(size_t)p * prm->messages + seq], 1,
                                      memory_order_relaxed) != 0) {
            fprintf(stderr,
                    "consumer %" PRIu32 ": producer %" PRIu32 " seq %" PRIu32 " duplicated\n", id,
                    p, seq);
            stress_abort(ctx);
            return -1;
        }
        node->len = 0;
        msg->producer = POISON;
        msg->seq = POISON;
        msg->check = POISON;
        jitter(&rng);
        while ((rc = ea_pool_put(&ctx->pool, idx)) != EA_OK) {
            if (rc != EA_ERR_BUSY)
                return fail(ctx, "consumer", id, "pool put", rc);
            atomic_fetch_add_explicit(&ctx->hdr->busy, 1, memory_order_relaxed);
            sched_yield();
        }
        /* Relaxed: see the load above. */
        atomic_fetch_add_explicit(&ctx->hdr->consumed, 1, memory_order_relaxed);
    }
}

int stress_check(struct stress_ctx *ctx)
{
    const struct stress_params *prm = &ctx->prm;
    int ok = 1;
    if (aborted(ctx)) {
        fprintf(stderr, "FAIL: a producer or consumer failed\n");
        return -1;
    }
    for (uint32_t p = 0; p < prm->producers; p++) {
        uint64_t sum = 0;
        for (uint32_t c = 0; c < prm->consumers; c++)
            sum += ctx->rec[(size_t)c * prm->producers + p].count;
        if (sum != prm->messages) {
            fprintf(stderr, "FAIL: producer %" PRIu32 ": %" PRIu64 " of %" PRIu32 " received\n", p,
                    sum, prm->messages);
            ok = 0;
        }
        for (uint32_t s = 0; s < prm->messages; s++) {
            unsigned n = atomic_load_explicit(&ctx->seen[(size_t)p * prm->messages + s],
                                              memory_order_relaxed);
            if (n != 1) {
                fprintf(stderr, "FAIL: producer %" PRIu32 " seq %" PRIu32 " received %u times\n", p,
                        s, n);
                ok = 0;
                break;
            }
        }
    }
    uint32_t free_nodes = ea_pool_free_count(&ctx->pool);
    if (free_nodes != prm->pool_count) {
        fprintf(stderr, "FAIL: pool has %" PRIu32 " of %" PRIu32 " nodes free\n", free_nodes,
                prm->pool_count);
        ok = 0;
    }
    if (ea_mbox_nonempty(&ctx->mbox)) {
        fprintf(stderr, "FAIL: mbox not empty at the end\n");
        ok = 0;
    }
    printf("%s: %" PRIu64 " messages; retries: nobufs=%lu full=%lu busy=%lu\n",
           ok ? "ok" : "FAILED", (uint64_t)prm->producers * prm->messages,
           atomic_load_explicit(&ctx->hdr->nobufs, memory_order_relaxed),
           atomic_load_explicit(&ctx->hdr->full, memory_order_relaxed),
           atomic_load_explicit(&ctx->hdr->busy, memory_order_relaxed));
    return ok ? 0 : -1;
}
