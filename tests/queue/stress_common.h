/*
 * Shared part of the queue stress tests: producers take a node from a pool,
 * write (producer id, sequence number) into it and push its index through an
 * mbox; consumers pop it, check it, record it and return the node. The same
 * code runs in threads (stress_threads.c) and in forked processes
 * (stress_procs.c); all state it shares lives in one region that holds no
 * pointers, so the processes may map it anywhere.
 *
 * Options: -p producers -c consumers -n messages per producer -s seed
 * (0: from the clock) -N pool node count -m mbox capacity.
 */
#ifndef STRESS_COMMON_H
#define STRESS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <eactors/ea_queue.h>

struct stress_params {
    uint32_t producers;
    uint32_t consumers;
    uint32_t messages; /* per producer */
    uint32_t pool_count;
    uint32_t mbox_cap;
    uint64_t seed;
};

/* Private view of the shared region, one per thread or process. */
struct stress_ctx {
    struct stress_params prm;
    struct stress_hdr *hdr;
    ea_pool_t pool;
    ea_mbox_t mbox;
    _Atomic unsigned char *seen; /* producers * messages receive counters */
    struct stress_rec *rec;      /* consumers * producers records */
};

/* Parses the options and prints them; returns 0 or -1 (usage printed). */
int stress_parse(int argc, char **argv, struct stress_params *prm);

/* Bytes of the shared region, a multiple of 64. */
size_t stress_region_size(const struct stress_params *prm);

/* Formats `base` (64-aligned, stress_region_size bytes) / attaches to it. */
int stress_init(struct stress_ctx *ctx, void *base, const struct stress_params *prm);
int stress_attach(struct stress_ctx *ctx, void *base, const struct stress_params *prm);

/* Pins the caller to the `n`-th available CPU, round-robin; 0 or -1. */
int stress_pin(uint32_t n);

/* Bodies; return 0 or -1 after printing why and raising the abort flag. */
int stress_produce(struct stress_ctx *ctx, uint32_t id);
int stress_consume(struct stress_ctx *ctx, uint32_t id);

/* Raises the abort flag so every producer and consumer stops soon. */
void stress_abort(struct stress_ctx *ctx);

/* After all producers and consumers ended: checks and prints; 0 or -1. */
int stress_check(struct stress_ctx *ctx);

#endif
